// capdb push: copies finished captures from one store (a sensor's local
// SQLite database) to another (a ClickHouse database), through the Store
// interface alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "capdb/store.h"

namespace capdb {

struct PushOutcome {
    CaptureId from = 0;            // the capture in the source store
    CaptureId to = 0;              // its id in the destination
    std::uint64_t packets = 0;     // packets copied (0 when it was there already)
    bool already_there = false;    // the destination held it (same identity): nothing copied
    bool skipped_running = false;  // still being written: not copied
    bool deleted = false;          // removed from the source afterwards (delete_after)
};

// Copies capture c of `from` to `to`, unless `to` holds it already: the same
// SHA-256 (a file read to its end), or, for a capture without one (live,
// interrupted), the same source, sensor-independent time span and packet
// count. Each packet keeps its number; counts, times, state, SHA-256 and
// interfaces are c's. With delete_after, c is removed from `from` once `to`
// holds as many of its packets (also when it was there already).
// should_stop is asked between batches; a stop leaves the copy unfinished,
// and the next push replaces it.
PushOutcome push_capture(Store& from, Store& to, const CaptureInfo& c, bool delete_after,
                         const std::function<bool()>& should_stop = nullptr);

}  // namespace capdb
