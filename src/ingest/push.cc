#include "capdb/push.h"

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb {

namespace {

// The destination's copy of c, if it has one.
std::optional<CaptureInfo> find_copy(Store& to, const CaptureInfo& c) {
    if (!c.sha256.empty()) return to.find_by_sha256(c.sha256);
    for (CaptureInfo& d : to.captures())
        if (d.sha256.empty() && d.state != CaptureState::running && d.meta.source == c.meta.source &&
            d.first_ts_ns == c.first_ts_ns && d.last_ts_ns == c.last_ts_ns && d.counts.packets == c.counts.packets)
            return std::move(d);
    return std::nullopt;
}

void delete_source(Store& from, Store& to, const CaptureInfo& c, CaptureId copy, PushOutcome& out) {
    Filter f;
    f.capture = copy;
    const std::uint64_t there = to.count(f);
    if (there != c.counts.packets)
        throw DatabaseError(fmt::format("capture {}: the destination holds {} of its {} packets; not deleted", c.id,
                                        there, c.counts.packets));
    from.remove_capture(c.id);
    out.deleted = true;
}

}  // namespace

PushOutcome push_capture(Store& from, Store& to, const CaptureInfo& c, bool delete_after,
                         const std::function<bool()>& should_stop) {
    PushOutcome out;
    out.from = c.id;
    if (c.state == CaptureState::running) {
        out.skipped_running = true;
        return out;
    }
    if (auto copy = find_copy(to, c)) {
        out.already_there = true;
        out.to = copy->id;
        if (delete_after) delete_source(from, to, c, copy->id, out);
        return out;
    }
    // A copy that stopped half-way (a lost server, Ctrl-C) is replaced.
    to.remove_unfinished(c.meta.source);
    CaptureMeta meta = c.meta;
    auto writer = to.begin_capture(meta, kDefaultCommitPackets, kFileQueueBytes);
    out.to = writer->id();
    PacketBatch batch = writer->spare_batch();
    batch.interfaces = from.interfaces(c.id);
    Filter f;
    f.capture = c.id;
    bool stopped = false;
    from.scan(f, [&](const PacketView& p) {
        batch.add(p);
        batch.seqs.push_back(p.seq);
        ++out.packets;
        if (batch.size() >= writer->batch_room()) {
            writer->append(std::move(batch));
            batch = writer->spare_batch();
            if (should_stop && should_stop()) {
                stopped = true;
                return false;
            }
        }
        return true;
    });
    writer->append(std::move(batch));
    if (stopped) {
        writer->fail("push interrupted");
        throw InterruptedError(fmt::format("push of capture {} interrupted; pushing again replaces its copy", c.id));
    }
    if (c.state == CaptureState::complete || c.state == CaptureState::interrupted)
        writer->finish(c.state, c.sha256, c.live_stats);
    else
        writer->fail(c.error, c.sha256);
    if (delete_after) delete_source(from, to, c, out.to, out);
    return out;
}

}  // namespace capdb
