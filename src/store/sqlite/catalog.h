// The captures catalogue: one row per capture in the captures table, with
// its source, state, counts and identity (see DESIGN.md, "Schema").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capdb/store.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// Nanoseconds since the epoch, by the wall clock.
std::int64_t now_ns();

// Reads and changes the captures table through one connection. Packets of a
// capture live in blocks; remove_capture() deletes them with it.
class Catalog {
public:
    // A version-2 captures table (read-only, not migrated) has no
    // file_mtime or ts_precision: its captures read without them.
    explicit Catalog(sqlite::Database& db);

    [[nodiscard]] std::vector<CaptureInfo> captures();
    [[nodiscard]] std::optional<CaptureInfo> capture(CaptureId id);
    [[nodiscard]] std::optional<CaptureInfo> find_by_sha256(const std::string& sha256);
    [[nodiscard]] bool has_file_of_size(std::uint64_t size);
    std::uint64_t remove_unfinished(const std::string& source);
    void remove_capture(CaptureId id);
    // The capture's interfaces (none in a read-only schema 2 or 3 database).
    [[nodiscard]] std::vector<InterfaceRecord> interfaces(CaptureId id);

    // Adds a running capture written by this process; returns its id.
    CaptureId add(const CaptureMeta& meta);
    // Marks a capture finished (complete or interrupted) or failed, in a
    // transaction of its own.
    void mark_finished(CaptureId id, CaptureState state, const std::string& sha256,
                       const std::optional<LiveStats>& stats);
    void mark_failed(CaptureId id, const std::string& reason, const std::string& sha256);

private:
    [[nodiscard]] std::string select_captures() const;

    sqlite::Database& db_;
    bool has_file_identity_ = true;  // file_mtime and ts_precision columns
    bool has_interfaces_ = true;     // the interfaces table (schema 4)
};

}  // namespace capdb::store
