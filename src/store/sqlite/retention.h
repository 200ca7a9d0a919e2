// Retention (see DESIGN.md, "Retention"): prune removes blocks with their
// pages and postings, and captures left with nothing; vacuum returns the
// freed pages to the file system. Block and capture ids are never given
// twice: the largest ids ever committed are kept in high_water before
// blocks or captures go.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "capdb/store.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// Whether the database has the high_water table (schema 4; a version 2 or
// 3 database opened read-only has none).
[[nodiscard]] bool has_high_water(sqlite::Database& db);

// SQL of one value: the largest block id ever committed (0 when none).
[[nodiscard]] std::string max_block_id_sql(bool high_water);
// SQL of one value: the id for a new capture, larger than any ever given.
[[nodiscard]] std::string next_capture_id_sql(bool high_water);

// Records the largest block and capture ids in high_water. Call inside the
// transaction that deletes blocks or captures, before it deletes them.
void raise_high_water(sqlite::Database& db);

// The prune and vacuum of the database at path, through db (opened for
// writing).
class Retention {
public:
    Retention(sqlite::Database& db, std::string path) : db_(db), path_(std::move(path)) {}

    // Removes the rows in one transaction, then unlinks the segment files
    // whose rows went, holding the packet store's lock exclusively
    // (waiting for exports that read segments).
    PruneResult prune(const PruneRequest& request);
    // The transaction alone: the segment files to unlink go to names.
    // unlinked_later: bytes of the packet store already due to go (not
    // counted in the measure).
    PruneResult prune_rows(const PruneRequest& request, std::uint64_t unlinked_later, std::vector<std::string>& names);
    // The oldest unit that has a segment file (a full disk frees nothing
    // else), removed in one transaction as prune_rows() removes units; its
    // file goes to names. False when there is none.
    bool prune_oldest_segment(PruneResult& result, std::vector<std::string>& names);
    [[nodiscard]] StoreSize size();
    VacuumResult vacuum();

private:
    sqlite::Database& db_;
    std::string path_;
};

// A capture's ring buffer (ingest --max-size): after each commit, on the
// storage thread's connection, the oldest units go while the database, WAL
// and packet store measure more than max_bytes (the segment being written
// stays), then the oldest segments while the store's file system has less
// than reserve_bytes free. Their files are unlinked only under the store's
// lock taken without waiting: when an export holds it, they go after a
// later commit.
class RingBuffer {
public:
    RingBuffer(sqlite::Database& db, std::string path, std::uint64_t max_bytes, std::uint64_t reserve_bytes);
    void after_commit();
    // The packet store's disk is full: drops the oldest segment with its
    // index rows and unlinks its file (and any whose rows went before),
    // waiting for exports that hold the store's lock. False when no segment
    // is left to drop (the ones being written never are).
    bool make_room();
    [[nodiscard]] std::uint64_t pruned_packets() const noexcept { return pruned_packets_; }

private:
    // Unlinks the pending files, under the store's lock: taken without
    // waiting (false when an export holds it), or, with wait, waiting.
    bool unlink_pending(bool wait);
    // Drops the oldest segments while the store's file system has less
    // than reserve_ bytes free (counting the pending files as free).
    void keep_free();

    Retention retention_;
    std::string dir_;
    std::uint64_t max_bytes_;
    std::uint64_t reserve_;
    std::vector<std::string> pending_;  // segment files whose rows are gone
    std::uint64_t pending_bytes_ = 0;
    std::uint64_t pruned_packets_ = 0;
};

}  // namespace capdb::store
