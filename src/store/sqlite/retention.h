// Retention (see DESIGN.md, "Retention"): prune removes blocks with their
// pages and postings, and captures left with nothing; vacuum returns the
// freed pages to the file system. Block and capture ids are never given
// twice: the largest ids ever committed are kept in high_water before
// blocks or captures go.
#pragma once

#include <cstdint>
#include <string>

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

    PruneResult prune(const PruneRequest& request);
    [[nodiscard]] StoreSize size();
    VacuumResult vacuum();

private:
    sqlite::Database& db_;
    std::string path_;
};

}  // namespace capdb::store
