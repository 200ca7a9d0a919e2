// open_store: the store a --db value names.
#include "capdb/store.h"
#include "store/clickhouse/clickhouse_store.h"
#include "store/clickhouse/url.h"

namespace capdb {

bool is_clickhouse_location(const std::string& location) noexcept { return clickhouse::is_clickhouse_url(location); }

std::unique_ptr<Store> open_store(const std::string& location, const StoreOptions& options) {
    if (is_clickhouse_location(location)) return open_clickhouse_store(location, options);
    return open_sqlite_store(location, options);
}

}  // namespace capdb
