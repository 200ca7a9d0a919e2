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
    [[nodiscard]] std::vector<LiveSample> live_samples(CaptureId id);

    // Adds a running capture written by this process; returns its id.
    CaptureId add(const CaptureMeta& meta);
    // Marks a capture finished (complete or interrupted) or failed, in a
    // transaction of its own.
    void mark_finished(CaptureId id, CaptureState state, const std::string& sha256,
                       const std::optional<LiveStats>& stats);
    void mark_failed(CaptureId id, const std::string& reason, const std::string& sha256);

    // Resuming a grown file (schema 4's committed_bytes and prefix_sha256;
    // only ingest, on a migrated database, uses them).
    [[nodiscard]] std::optional<ResumePoint> resume_point(const std::string& source);
    void set_resume_point(CaptureId id, std::uint64_t bytes, const std::string& sha256);
    // Marks a stopped capture running again in this process, with meta's
    // file identity, its error, SHA-256 and resume point cleared. Throws
    // DatabaseError if it is no longer stopped with a resume point (another
    // ingest took it).
    void reopen(CaptureId id, const CaptureMeta& meta);
    // Sets a capture's source path and file_mtime (capdb relocate).
    void relocate(CaptureId id, const std::string& source, std::int64_t file_mtime_ns);

private:
    [[nodiscard]] std::string select_captures() const;
    // Recomputes a changed row's checksum (schema 5).
    void seal(CaptureId id);

    sqlite::Database& db_;
    bool has_file_identity_ = true;  // file_mtime and ts_precision columns
    bool has_packets_at_ = true;     // schema 4: captures.packets_at
    bool has_segments_ = true;       // schema 4: the segments table
    bool has_interfaces_ = true;     // the interfaces table (schema 4)
    bool has_checksums_ = true;      // schema 5: row checksums
};

}  // namespace capdb::store
