// Live ingest: the calling thread captures, the writer's storage thread
// stores.
//
//   calling thread   polls libpcap and decodes each packet into a PacketBatch;
//                    moves the batch into the CaptureWriter once it is full
//                    (batch_room() packets, or kHandOverBytes of packet
//                    bytes), when no packet came within a poll, and before
//                    each commit request; asks for a commit every
//                    flush_interval while packets arrive. It wakes at least
//                    every 100 ms whether or not packets arrive, and owns the
//                    stop conditions.
//   storage thread   the writer's: takes batches from its queue (bounded in
//                    bytes, queue_bytes), encodes and commits them.
//
// Whole batches, not one per dispatch: a dispatch yields one kernel block's
// packets (a few hundred under load), and a batch per dispatch costs the
// storage thread a queue round trip each and the capture thread a fresh
// batch's memory each, where spent full batches are handed back for reuse.
// The capture never waits for a commit: a slow one (a WAL checkpoint's
// fsync) costs queue space, not packets. Only when the queue is full does
// append() wait, and then the kernel buffer fills and the kernel drops
// (which pcap_stats reports).
#include <algorithm>
#include <chrono>
#include <optional>

#include "capdb/decode.h"
#include "capdb/error.h"
#include "capdb/live.h"

namespace capdb {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Longest wait in one poll: bounds the reaction to a signal.
constexpr milliseconds kMaxWait{100};
// Most packets taken per dispatch: bounds the time between checks of the
// stop conditions under a flood.
constexpr std::uint32_t kMaxPerDispatch = 4096;
// Packet bytes (the packet store's copies) at which a batch is handed over
// before it holds batch_room() packets: bounds the capture thread's memory
// when packets are large.
constexpr std::size_t kHandOverBytes = std::size_t{8} << 20;

milliseconds until(Clock::time_point t, Clock::time_point now) {
    return std::max(milliseconds{0}, std::chrono::ceil<milliseconds>(t - now));
}

// Captures until a stop condition, moving full batches into writer (see
// the top of this file). Returns how many packets it took.
std::uint64_t capture_loop(LiveCapture& capture, const LiveIngestOptions& options, std::uint32_t preview_bytes,
                           CaptureWriter& writer, PacketCounts& counts) {
    const bool keep = options.keep_packets;
    const std::uint32_t linktype = capture.linktype();
    const Clock::time_point start = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (options.duration) deadline = start + std::chrono::ceil<Clock::duration>(*options.duration);
    std::uint64_t taken = 0;
    Clock::time_point last_request = start;
    bool uncommitted = false;  // packets taken since the last commit request
    PacketBatch batch = writer.spare_batch();
    // The one interface, stored with the first block.
    batch.interfaces.push_back({0, capture.device(), {}, linktype, capture.snaplen(), 9});
    const auto hand_over = [&] {
        if (batch.empty() && batch.live_samples.empty()) return;
        writer.append(std::move(batch));
        batch = writer.spare_batch();
    };
    const LiveCapture::PacketHandler on_packet = [&](const RawPacket& raw) {
        const Summary summary = decode(linktype, raw.data);
        if (keep)
            batch.add_with_data(raw.ts_ns, raw.wirelen, -1, summary, raw.data, preview_bytes, raw.time_invalid,
                                linktype);
        else
            batch.add(raw.ts_ns, raw.caplen, raw.wirelen, -1, summary,
                      raw.data.first(std::min<std::size_t>(raw.data.size(), preview_bytes)), raw.time_invalid,
                      linktype);
        counts.add(summary, raw.wirelen);
    };
    try {
        for (;;) {
            if (options.should_stop && options.should_stop()) break;
            if (options.count && taken >= *options.count) break;
            Clock::time_point now = Clock::now();
            if (deadline && now >= *deadline) break;
            if (uncommitted && now - last_request >= options.flush_interval) {
                // pcap_stats with each commit: stats marks when drops happened.
                const LiveStats st = capture.stats();
                const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch());
                batch.live_samples.push_back(
                    {static_cast<std::int64_t>(wall.count()), st.received, st.dropped_kernel + st.dropped_iface});
                hand_over();
                writer.request_commit();
                uncommitted = false;
                last_request = now;
            }
            milliseconds timeout = kMaxWait;
            if (deadline) timeout = std::min(timeout, until(*deadline, now));
            if (uncommitted) timeout = std::min(timeout, until(last_request + options.flush_interval, now));
            if (!capture.wait(timeout)) {
                hand_over();  // a lull: let the storage thread catch up
                continue;
            }
            std::uint32_t room = writer.batch_room();
            if (batch.size() >= room) {
                hand_over();
                room = writer.batch_room();
            }
            std::uint32_t max = std::min(kMaxPerDispatch, room - static_cast<std::uint32_t>(batch.size()));
            if (options.count) max = static_cast<std::uint32_t>(std::min<std::uint64_t>(max, *options.count - taken));
            const std::uint32_t got = capture.dispatch(max, on_packet);
            taken += got;
            if (got > 0) uncommitted = true;
            if (batch.size() >= room || batch.payload.size() >= kHandOverBytes) hand_over();
        }
    } catch (...) {
        writer.append(std::move(batch));  // what was captured before the failure
        throw;
    }
    hand_over();
    return taken;
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
    // Whole packets (up to the snaplen) go into the packet store, as
    // nanosecond pcap.
    meta.packets_at = options.keep_packets ? PacketsAt::store : PacketsAt::none;
    meta.segment_format = SegmentFormat::pcap;
    meta.segment_ts_precision = 9;
    auto writer = store.begin_capture(meta, options.batch, options.queue_bytes);

    LiveOutcome out;
    out.capture = writer->id();
    try {
        capture_loop(capture, options, meta.preview_bytes, *writer, out.counts);
    } catch (const DeviceError& d) {
        writer->fail(d.what());
        throw;
    } catch (const DatabaseError& e) {
        // The storage thread stopped (the disk is full): what was committed
        // stays; the capture is marked failed when the database still can be.
        try {
            writer->fail(e.what());
        } catch (const Error&) {}
        throw;
    }
    out.stats = capture.stats();
    writer->finish(CaptureState::complete, "", out.stats);
    return out;
}

}  // namespace capdb
