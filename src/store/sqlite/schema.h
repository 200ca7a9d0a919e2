// The SQLite store's schema (see DESIGN.md, "Schema"), and the checks that
// open a database file as capdb's.
#pragma once

#include <memory>
#include <string>

#include "capdb/store.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// The schema version (PRAGMA user_version) this capdb writes and reads.
// 2: pages of version 3 (with time_invalid). Version 1 databases may hold
// pages of versions 1 and 2 and are refused (re-ingest their captures).
inline constexpr int kSchemaVersion = 2;
inline constexpr int kApplicationId = 0x63617064;  // "capd"

// Opens the database at path as capdb's: creates it (mode 0600, with the
// schema) when missing and options.create, else checks that it is a capdb
// database of this schema version. Throws DatabaseError naming the path.
std::unique_ptr<sqlite::Database> open_database(const std::string& path, const StoreOptions& options);

}  // namespace capdb::store
