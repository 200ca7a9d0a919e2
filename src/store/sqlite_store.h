// The SQLite block store: schema, writer and query engine. Exposed (privately,
// to tests) for query-plan checks.
#pragma once

#include <string>
#include <vector>

#include "capdb/store.h"

namespace capdb::store {

inline constexpr int kSchemaVersion = 1;
inline constexpr int kApplicationId = 0x63617064;  // "capd"

// EXPLAIN QUERY PLAN detail lines of the statements a query with this filter
// runs to find candidate blocks (and, for a filter without per-packet
// conditions, those --count runs instead).
std::vector<std::string> explain_candidates(Store& store, const Filter& filter);

}  // namespace capdb::store
