// The SQLite capture writer (see DESIGN.md, "Threads"): the thread that
// appends hands batches of packets to a storage thread of its own, which
// encodes blocks and commits them on its own connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "capdb/store.h"

namespace capdb::store {

// A writer for capture id (already in the catalogue) of the database at path.
std::unique_ptr<CaptureWriter> make_capture_writer(const std::string& path, CaptureId id, const CaptureMeta& meta,
                                                   std::uint32_t batch);

}  // namespace capdb::store
