// The SQLite store's reader (see DESIGN.md, "Threads and queues"): finds candidate
// blocks and pages through the postings or the block time indexes, decodes
// the pages with a RowPredicate and merges the rows in time order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "capdb/filter.h"
#include "capdb/store.h"
#include "store/format/page_codec.h"
#include "store/format/postings.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// What the engine's last query or count read.
struct QueryStats {
    std::uint64_t blocks = 0;  // candidate blocks
    std::uint64_t pages = 0;   // pages read and decoded
};

// The part of a filter that a page decode answers per row. It refers to
// f's expression: f must outlive it.
RowPredicate row_predicate(const Filter& f);

// Candidate pages: block id -> the pages of it to read.
using PageMap = std::map<std::int64_t, PageSet>;

struct BlockHit;
struct BlockConditions;

// A damaged structure a query skipped, described in one line (capture,
// table, block, page); see StoreOptions::on_damaged.
using DamageHandler = std::function<void(const std::string&)>;

class QueryEngine {
public:
    // Without on_damaged, damage (a stored structure that does not match its
    // checksum or does not decode) is a DatabaseError naming it; with it, the
    // structure is skipped and reported.
    explicit QueryEngine(sqlite::Database& db, DamageHandler on_damaged = {});

    // Store::query and Store::query_blocks (range: the blocks to read; all
    // when absent).
    void query(const Filter& filter, const std::optional<BlockRange>& range, const RowCallback& on_row);
    [[nodiscard]] std::uint64_t count(const Filter& filter);
    // Store::scan: the candidate blocks of query(), each page handed over as
    // it is decoded, in no particular order.
    void scan(const Filter& filter, const RowCallback& on_row);
    // Store::scan_aggregates.
    void scan_aggregates(const Filter& filter, bool tables, const AggregatesCallback& on_block,
                         const RowCallback& on_row);
    [[nodiscard]] std::int64_t max_block_id();

    [[nodiscard]] const QueryStats& last_stats() const noexcept { return stats_; }

private:
    template <class F, class Where>
    bool guarded(F&& f, Where&& where);
    void damaged(const std::string& what);
    [[nodiscard]] std::string sql(const char* base) const;
    [[nodiscard]] std::string capture_of(std::int64_t block);
    std::optional<BlockHit> read_hit(std::int64_t id, const sqlite::Statement& st, int col, const PageSet& pages);
    std::map<std::int64_t, BlockHit> scan_blocks(const BlockConditions& cond, const char* base);
    // The pages of the blocks whose postings hold an address in prefix.
    PageMap postings_pages(const Prefix& prefix);
    std::optional<PageMap> anchored_pages(const Expr& e, std::uint32_t node);
    std::map<std::int64_t, BlockHit> candidate_blocks(const Filter& f, const RowPredicate& pred,
                                                      const std::optional<BlockRange>& range);
    // Reads, checks and decodes a page into page; nullptr when it is damaged
    // (and skipped). With matched, only counts its matching rows into it.
    // Hands a block's matching rows to on_row, page by page; false when
    // on_row stopped.
    bool scan_block(sqlite::Statement& data, std::int64_t block_id, const BlockHit& hit, const RowPredicate& predicate,
                    DecodedPage& page, const RowCallback& on_row);
    const DecodedPage* read_page(sqlite::Statement& data, std::int64_t block_id, const BlockHit& hit, std::uint16_t n,
                                 const RowPredicate& predicate, DecodedPage& page, std::size_t* matched = nullptr);

    sqlite::Database& db_;
    DamageHandler on_damaged_;
    bool checksums_ = true;    // schema 5
    bool aggregates_ = false;  // schema 7: blocks.aggregates
    QueryStats stats_;
    std::optional<bool> high_water_;  // the database has the high_water table
};

}  // namespace capdb::store
