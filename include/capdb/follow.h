// `capdb query --follow`: the matching packets already stored, then those of
// every block committed later, poll by poll, like `tail -f`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "capdb/filter.h"
#include "capdb/store.h"

namespace capdb {

struct FollowOptions {
    // How long to wait between two looks at the store for new blocks.
    std::chrono::milliseconds poll_interval{200};
    // Waits up to the given time before the next look. The default sleeps,
    // and returns early when a signal arrives. Tests pass their own (one
    // that commits a block, say) so that nothing depends on timing.
    std::function<void(std::chrono::milliseconds)> wait;
    // Asked before each wait and after it; true ends follow() (Ctrl-C).
    std::function<bool()> should_stop;
    // Called when the rows of one look have all been delivered (to flush
    // buffered output); false ends follow() (output closed).
    std::function<bool()> caught_up;
};

enum class FollowEnd {
    limit,    // filter.limit rows delivered
    stopped,  // should_stop() said so
    refused,  // on_row or caught_up returned false
};

// One look at the store: delivers the matches of filter (its limit set to
// what is still wanted) among the blocks of range, in (ts_ns, capture, seq)
// order, and says how many it delivered; nullopt ends follow_looks()
// (output closed).
using FollowLook = std::function<std::optional<std::uint64_t>(const Filter& filter, const BlockRange& range)>;

// The polling of follow(), with the delivery of each look left to look:
// first the blocks stored now (range.after 0), then, look by look, those
// committed since the previous look. `query --follow -w` writes a look's
// packets in two passes of its own (see DESIGN.md, "Export").
FollowEnd follow_looks(Store& store, const Filter& filter, const FollowLook& look, const FollowOptions& options);

// Calls on_row for every packet matching filter: first those stored now, in
// (ts_ns, capture, seq) order, then, look by look, those of the blocks
// committed since the previous look, each look's rows in that order. A
// packet is delivered once. filter.limit caps the total across all looks;
// follow() returns as soon as it is reached, without waiting.
FollowEnd follow(Store& store, const Filter& filter, const RowCallback& on_row, const FollowOptions& options);

}  // namespace capdb
