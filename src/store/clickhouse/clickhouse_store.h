// The ClickHouse store (DESIGN.md, "ClickHouse store"): the Store interface
// over ClickHouse's HTTP interface, for many sensors sharing one database.
#pragma once

#include <memory>
#include <string>

#include "capdb/store.h"

namespace capdb {

// Opens the ClickHouse database named by url (clickhouse://...). With
// options.create the database and its tables are made when missing (ingest);
// otherwise a database without capdb's tables is an error. Throws
// DatabaseError naming the URL when the server cannot be reached, refuses
// the credentials, or holds a newer schema; UsageError for a malformed URL.
std::unique_ptr<Store> open_clickhouse_store(const std::string& url, const StoreOptions& options);

}  // namespace capdb
