// Live ingest: two threads of ours plus the writer's storage thread.
//
//   capture thread   polls libpcap, decodes each packet and copies its summary
//                    and preview into a chunk; hands chunks over through a
//                    queue bounded in bytes. It never waits for storage, so a
//                    slow commit (a WAL checkpoint's fsync) costs queue space,
//                    not packets. It wakes at least every 100 ms whether or not
//                    packets arrive, and owns the stop conditions.
//   calling thread   appends the chunks to the CaptureWriter and asks for a
//                    commit every flush_interval while packets arrive.
//
// Only when the queue is full does the capture thread wait, and then the
// kernel buffer fills and the kernel drops (which pcap_stats reports).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "capdb/decode.h"
#include "capdb/error.h"
#include "capdb/live.h"

namespace capdb {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Longest wait in one poll: bounds the reaction to a signal.
constexpr milliseconds kMaxWait{100};
// Most packets handed over per dispatch: bounds the time between checks of
// the stop conditions under a flood.
constexpr std::uint32_t kMaxPerDispatch = 4096;

milliseconds until(Clock::time_point t, Clock::time_point now) {
    return std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(t - now));
}

// Decoded packets on their way from the capture thread to the writer.
struct Chunk {
    struct Entry {
        std::int64_t ts_ns;
        std::uint32_t caplen;
        std::uint32_t wirelen;
        Summary summary;
        std::uint32_t preview_off;
        std::uint32_t preview_len;
        bool time_invalid;
    };
    std::vector<Entry> packets;
    std::vector<std::uint8_t> arena;  // previews

    [[nodiscard]] std::size_t bytes() const noexcept {
        return packets.capacity() * sizeof(Entry) + arena.capacity() + sizeof(Chunk);
    }
};

// A byte-bounded queue of chunks with one producer (the capture thread) and
// one consumer. Used chunks go back to the producer to keep their capacity.
class ChunkQueue {
public:
    explicit ChunkQueue(std::size_t limit) : limit_(limit) {}

    // Waits while the queue is over its limit (unless it is empty); returns
    // false if stop was requested meanwhile.
    bool push(Chunk&& c, std::stop_token stop) {
        std::unique_lock lock(mu_);
        if (!space_.wait(lock, stop, [&] { return bytes_ < limit_ || queue_.empty(); })) return false;
        bytes_ += c.bytes();
        queue_.push_back(std::move(c));
        ready_.notify_one();
        return true;
    }

    // The producer is done (error: why it stopped early, or null).
    void close(std::exception_ptr error) {
        std::lock_guard lock(mu_);
        closed_ = true;
        error_ = std::move(error);
        ready_.notify_one();
    }

    enum class Pop { chunk, timeout, closed };
    // Waits up to timeout for a chunk; closed once the producer is done and
    // everything it pushed was taken.
    Pop pop(Chunk& out, milliseconds timeout) {
        std::unique_lock lock(mu_);
        ready_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return closed_ ? Pop::closed : Pop::timeout;
        recycle_locked(std::move(out));
        out = std::move(queue_.front());
        queue_.pop_front();
        bytes_ -= out.bytes();
        space_.notify_one();
        return Pop::chunk;
    }

    // An empty chunk for the producer, with capacity when one is spare.
    Chunk fresh() {
        std::lock_guard lock(mu_);
        if (spare_.empty()) return {};
        Chunk c = std::move(spare_.back());
        spare_.pop_back();
        return c;
    }

    [[nodiscard]] std::exception_ptr error() {
        std::lock_guard lock(mu_);
        return error_;
    }

private:
    void recycle_locked(Chunk&& c) {
        if (c.packets.capacity() == 0 || spare_.size() >= 4) return;
        c.packets.clear();
        c.arena.clear();
        spare_.push_back(std::move(c));
    }

    std::mutex mu_;
    std::condition_variable ready_;
    std::condition_variable_any space_;
    std::deque<Chunk> queue_;
    std::vector<Chunk> spare_;
    std::size_t bytes_ = 0;
    const std::size_t limit_;
    bool closed_ = false;
    std::exception_ptr error_;
};

// The capture thread's loop: runs until a stop condition, pushing a chunk
// after each dispatch that yielded packets.
void capture_loop(LiveCapture& capture, const LiveIngestOptions& options, std::uint32_t preview_bytes,
                  ChunkQueue& queue, std::stop_token stop) {
    const std::uint32_t linktype = capture.linktype();
    const Clock::time_point start = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (options.duration) deadline = start + std::chrono::ceil<Clock::duration>(*options.duration);
    std::uint64_t taken = 0;
    Chunk chunk = queue.fresh();
    const LiveCapture::PacketHandler on_packet = [&](const RawPacket& raw) {
        const auto keep = static_cast<std::uint32_t>(std::min<std::size_t>(raw.data.size(), preview_bytes));
        chunk.packets.push_back({raw.ts_ns, raw.caplen, raw.wirelen, decode(linktype, raw.data),
                                 static_cast<std::uint32_t>(chunk.arena.size()), keep, raw.time_invalid});
        chunk.arena.insert(chunk.arena.end(), raw.data.begin(), raw.data.begin() + keep);
    };
    for (;;) {
        if (stop.stop_requested() || (options.should_stop && options.should_stop())) break;
        if (options.count && taken >= *options.count) break;
        const Clock::time_point now = Clock::now();
        if (deadline && now >= *deadline) break;
        milliseconds timeout = kMaxWait;
        if (deadline) timeout = std::min(timeout, until(*deadline, now));
        if (!capture.wait(timeout)) continue;
        std::uint32_t max = kMaxPerDispatch;
        if (options.count) max = static_cast<std::uint32_t>(std::min<std::uint64_t>(max, *options.count - taken));
        taken += capture.dispatch(max, on_packet);
        if (!chunk.packets.empty()) {
            if (!queue.push(std::move(chunk), stop)) break;
            chunk = queue.fresh();
        }
    }
}

}  // namespace

LiveOutcome ingest_live(Store& store, LiveCapture& capture, const LiveIngestOptions& options) {
    CaptureMeta meta;
    meta.source = capture.device();
    meta.live = true;
    meta.filter = capture.filter();
    meta.linktype = capture.linktype();
    meta.snaplen = capture.snaplen();
    meta.preview_bytes = std::min(options.preview_bytes, kMaxPreviewBytes);
    auto writer = store.begin_capture(meta, options.batch);

    LiveOutcome out;
    out.capture = writer->id();
    ChunkQueue queue(std::max<std::size_t>(options.queue_bytes, 1));
    // Joined (after a stop request) on every way out of this function.
    std::jthread reader([&](std::stop_token stop) {
        std::exception_ptr error;
        try {
            capture_loop(capture, options, meta.preview_bytes, queue, stop);
        } catch (...) {
            error = std::current_exception();
        }
        queue.close(error);
    });

    PacketView view;
    view.linktype = meta.linktype;
    view.file_offset = -1;
    Clock::time_point last_request = Clock::now();
    bool uncommitted = false;  // packets appended since the last commit request
    Chunk chunk;
    for (;;) {
        milliseconds timeout = kMaxWait;
        if (uncommitted) timeout = std::min(timeout, until(last_request + options.flush_interval, Clock::now()));
        const ChunkQueue::Pop got = queue.pop(chunk, timeout);
        if (got == ChunkQueue::Pop::closed) break;
        if (got == ChunkQueue::Pop::chunk) {
            for (const Chunk::Entry& e : chunk.packets) {
                view.ts_ns = e.ts_ns;
                view.caplen = e.caplen;
                view.wirelen = e.wirelen;
                view.summary = e.summary;
                view.time_invalid = e.time_invalid;
                view.preview = std::span(chunk.arena).subspan(e.preview_off, e.preview_len);
                writer->append(view);
                out.counts.add(e.summary, e.wirelen);
            }
            uncommitted = uncommitted || !chunk.packets.empty();
        }
        const Clock::time_point now = Clock::now();
        if (uncommitted && now - last_request >= options.flush_interval) {
            writer->request_commit();
            uncommitted = false;
            last_request = now;
        }
    }
    reader.join();
    if (std::exception_ptr e = queue.error()) {
        try {
            std::rethrow_exception(e);
        } catch (const DeviceError& d) {
            writer->fail(d.what());
            throw;
        }
    }
    out.stats = capture.stats();
    writer->finish(CaptureState::complete, "", out.stats);
    return out;
}

}  // namespace capdb
