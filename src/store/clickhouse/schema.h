// The ClickHouse store's tables (DESIGN.md, "ClickHouse store"), created on
// first ingest and checked on every open.
#pragma once

#include <cstdint>

#include "store/clickhouse/http.h"

namespace capdb::clickhouse {

// The schema this capdb writes and reads.
inline constexpr std::uint32_t kSchemaVersion = 1;

// Checks the database's schema version, creating the database and its
// tables first when create is set. Throws DatabaseError naming the URL for
// a missing database (without create) or a newer schema.
void open_schema(Http& http, bool create);

}  // namespace capdb::clickhouse
