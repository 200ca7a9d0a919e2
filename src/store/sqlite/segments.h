// The segments table (see DESIGN.md, "Packet store"): reading a capture's
// segments, removing a capture's segment files, and recovering the store
// directory after a crash. The files themselves are store/packets'.
#pragma once

#include <string>
#include <vector>

#include "capdb/store.h"
#include "store/packets/segment_store.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// Whether the database has the segments table (schema 4; a version-2 or -3
// database opened read-only has none).
bool has_segments_table(sqlite::Database& db);

// A capture's segments, by first_seq, with their paths in dir.
std::vector<SegmentInfo> capture_segments(sqlite::Database& db, const std::string& dir, CaptureId capture);

// The file names of a capture's segments.
std::vector<std::string> segment_names(sqlite::Database& db, CaptureId capture);

// Unlinks files of the store (after the commit that removed their rows),
// holding the store's lock exclusively, so that no export reading them is
// under way (it holds the lock shared).
void unlink_segments(const std::string& dir, const std::vector<std::string>& names);

// When the database is opened for writing: cuts each segment file back to
// its row's committed bytes and removes files without a row, except those
// of captures still written by a live process. Returns what it did.
RecoveryResult recover_packet_store(sqlite::Database& db, const std::string& dir);

}  // namespace capdb::store
