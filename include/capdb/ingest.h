// Offline ingest: read a capture file, decode every packet, store it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capdb/batch.h"
#include "capdb/error.h"
#include "capdb/store.h"

namespace capdb {

struct IngestOptions {
    std::uint32_t batch = kDefaultCommitPackets;  // packets per committed batch
    std::size_t queue_bytes = kFileQueueBytes;    // bound of the queue of batches to the storage thread
    std::uint32_t preview_bytes = 16;             // bytes of each frame kept as preview
    std::FILE* progress = nullptr;                // where to draw a progress bar (a terminal), or null
    // Asked before each read of the input (and every 200 ms while a pipe is
    // quiet); true stops the ingest, which keeps what it read and marks the
    // capture interrupted (SIGINT, SIGTERM).
    std::function<bool()> should_stop;
    // --copy: a file's packets also go into the packet store (beside the
    // database), so that the original may be deleted. Standard input's
    // always do, unless no_packets (--no-packets: summaries only).
    bool copy = false;
    bool no_packets = false;
    // Follow a regular file still being written (tail -f): its end is a
    // wait for more; packets commit at least every second while they come;
    // only should_stop (or duration) ends the ingest, which is then
    // complete, or interrupted when it stopped inside a record.
    bool follow = false;
    std::optional<std::chrono::nanoseconds> duration;  // follow: stop after this long
};

struct IngestOutcome {
    CaptureId capture = 0;
    bool duplicate = false;    // already ingested: nothing stored
    bool interrupted = false;  // stopped by should_stop
    // Packets already stored when the file resumed a stopped capture of the
    // same path (DESIGN.md, "Resuming a grown file"); counts are the ones
    // added after them. 0 for a new capture.
    std::uint64_t resumed = 0;
    // Damaged captures of the same file, removed before it was ingested
    // again (Store::remove_damaged).
    std::vector<CaptureId> replaced_damaged;
    PacketCounts counts;
    std::uint32_t linktype = 0;
};

// A capture file damaged mid-way: the packets before the damage are
// committed (counts) as capture `capture`, which is marked failed.
struct DamagedCaptureError : DamagedError {
    DamagedCaptureError(const std::string& m, CaptureId id, const PacketCounts& c)
        : DamagedError(m), capture(id), counts(c) {}
    CaptureId capture;
    PacketCounts counts;
};

// Ingests one file ("-" for standard input) into store. Throws InputError
// for a file that cannot be read as a capture (nothing stored),
// DamagedCaptureError for a file damaged mid-way, and DatabaseError for
// storage failures.
// An unsupported link type is not an error here: its packets are stored with
// status unsupported, and outcome.counts.unsupported says how many.
IngestOutcome ingest_file(Store& store, const std::string& path, const IngestOptions& options);

}  // namespace capdb
