#include "capdb/follow.h"

#include <poll.h>

#include <algorithm>
#include <limits>
#include <optional>

namespace capdb {
namespace {

// A signal (SIGINT) interrupts poll() with EINTR and so ends the wait early.
void sleep_interruptibly(std::chrono::milliseconds ms) { ::poll(nullptr, 0, static_cast<int>(ms.count())); }

}  // namespace

FollowEnd follow_looks(Store& store, const Filter& filter, const FollowLook& look, const FollowOptions& options) {
    const auto& wait = options.wait ? options.wait : sleep_interruptibly;
    auto stop = [&] { return options.should_stop && options.should_stop(); };
    std::uint64_t left = filter.limit.value_or(std::numeric_limits<std::uint64_t>::max());
    if (left == 0) return FollowEnd::limit;

    Filter f = filter;
    BlockRange range{0, store.max_block_id()};
    for (;;) {
        f.limit = left;
        const std::optional<std::uint64_t> delivered = look(f, range);
        if (!delivered) return FollowEnd::refused;
        left -= std::min(left, *delivered);
        if (options.caught_up && !options.caught_up()) return FollowEnd::refused;
        if (left == 0) return FollowEnd::limit;

        std::int64_t newest = range.through;
        while (newest <= range.through) {
            if (stop()) return FollowEnd::stopped;
            wait(options.poll_interval);
            if (stop()) return FollowEnd::stopped;
            newest = store.max_block_id();
            // Only a database without high_water (schema 2 or 3, opened
            // read-only) shows its newest id going down after a removal.
            if (newest < range.through) range.through = newest;
        }
        range = {range.through, newest};
    }
}

FollowEnd follow(Store& store, const Filter& filter, const RowCallback& on_row, const FollowOptions& options) {
    return follow_looks(
        store, filter,
        [&](const Filter& f, const BlockRange& range) -> std::optional<std::uint64_t> {
            std::uint64_t n = 0;
            bool accepted = true;
            const std::uint64_t want = f.limit.value_or(std::numeric_limits<std::uint64_t>::max());
            store.query_blocks(f, range, [&](const PacketView& p) {
                accepted = on_row(p);
                ++n;
                return accepted && n < want;
            });
            if (!accepted) return std::nullopt;
            return n;
        },
        options);
}

}  // namespace capdb
