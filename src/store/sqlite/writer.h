// The SQLite capture writer (see DESIGN.md, "Threads and queues"): the
// thread that appends hands PacketBatches through one byte-bounded queue to a
// storage thread of the writer's own, which encodes blocks and commits them
// on its own connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "capdb/store.h"

namespace capdb::store {

// What a capture holds when its writer starts: nothing for a new capture;
// for a resumed one its committed packets (counts.packets of them, numbered
// from 0) and their times, after which the writer appends.
struct WriterStart {
    PacketCounts counts;
    std::optional<std::int64_t> first_ts, last_ts;
};

// A writer for capture id (already in the catalogue) of the database at path.
// batch: packets per commit; queue_bytes: the bound of the queue of batches
// waiting for the storage thread. With meta.packets_at == PacketsAt::store
// the packets go into segments in packet_dir_of(path), which rotate past
// segment_bytes. With max_bytes, the writer prunes the oldest packets after
// its commits while the store measures more (see RingBuffer, retention.h).
std::unique_ptr<CaptureWriter> make_capture_writer(const std::string& path, CaptureId id, const CaptureMeta& meta,
                                                   std::uint32_t batch, std::size_t queue_bytes,
                                                   std::uint64_t segment_bytes,
                                                   std::optional<std::uint64_t> max_bytes = std::nullopt,
                                                   const WriterStart& start = {});

}  // namespace capdb::store
