// The SQLite block store: the Store that wires the schema checks, the
// captures catalogue, the capture writer and the query engine together.
// Exposed (privately, to tests) for what a query read.
#pragma once

#include "capdb/store.h"
#include "store/sqlite/query_engine.h"

namespace capdb::store {

// What the last query() or count() of store (opened by open_sqlite_store)
// read.
QueryStats last_query_stats(Store& store);

}  // namespace capdb::store
