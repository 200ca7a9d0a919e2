// Where a ClickHouse store is: clickhouse://[USER@]HOST:PORT/DATABASE[?cluster=NAME],
// PORT being the server's HTTP port. Checked strictly, as the database and
// cluster names are written into SQL: letters, digits and '_' only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace capdb::clickhouse {

struct Location {
    std::string user;      // empty: ClickHouse's "default"
    std::string password;  // from CAPDB_CLICKHOUSE_PASSWORD only; never printed
    std::string host;
    std::uint16_t port = 0;
    std::string database;
    std::string cluster;  // empty: a single server
    // The URL as given, less nothing secret (it holds no password): for messages.
    std::string url;
};

// True for a --db value that names a ClickHouse store.
[[nodiscard]] bool is_clickhouse_url(std::string_view text) noexcept;

// Parses the URL. Throws UsageError naming what is wrong.
Location parse_location(std::string_view text);

// Whether a name may be written into SQL as an identifier.
[[nodiscard]] bool is_identifier(std::string_view name) noexcept;

}  // namespace capdb::clickhouse
