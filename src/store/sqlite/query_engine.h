// The SQLite store's reader (see DESIGN.md, "Threads and queues"): finds candidate
// blocks and pages through the postings or the block time indexes, decodes
// the pages with a RowPredicate and merges the rows in time order.
#pragma once

#include <cstdint>
#include <optional>

#include "capdb/filter.h"
#include "capdb/store.h"
#include "store/format/page_codec.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// What the engine's last query or count read.
struct QueryStats {
    std::uint64_t blocks = 0;  // candidate blocks
    std::uint64_t pages = 0;   // pages read and decoded
};

// The part of a filter that a page decode answers per row.
RowPredicate row_predicate(const Filter& f);

class QueryEngine {
public:
    explicit QueryEngine(sqlite::Database& db) noexcept : db_(db) {}

    // Store::query and Store::query_blocks (range: the blocks to read; all
    // when absent).
    void query(const Filter& filter, const std::optional<BlockRange>& range, const RowCallback& on_row);
    [[nodiscard]] std::uint64_t count(const Filter& filter);
    [[nodiscard]] std::int64_t max_block_id();

    [[nodiscard]] const QueryStats& last_stats() const noexcept { return stats_; }

private:
    sqlite::Database& db_;
    QueryStats stats_;
    std::optional<bool> high_water_;  // the database has the high_water table
};

}  // namespace capdb::store
