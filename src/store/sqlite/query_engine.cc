#include "store/sqlite/query_engine.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/format/aggregates.h"
#include "store/format/checksum.h"
#include "store/format/postings.h"
#include "store/sqlite/retention.h"
#include "store/sqlite/schema.h"

namespace capdb::store {

namespace {

constexpr std::int64_t kMinTs = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxTs = std::numeric_limits<std::int64_t>::max();

// Candidate blocks are found through the postings when the expression is
// anchored by addresses (plus the blocks not yet covered by postings), or
// through the block time indexes. Every row is checked against the whole
// expression.
constexpr const char* kPostingsSql =
    "SELECT p.addr, p.first_block, p.blocks FROM postings p WHERE p.addr BETWEEN ?1 AND ?2";
// Block rows end with {ok}: 1 when the row matches its checksum.
constexpr const char* kBlockByIdSql =
    "SELECT b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets, {ok} FROM blocks b WHERE b.id = ?1";
constexpr const char* kUnindexedSql =
    "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets, {ok}"
    " FROM blocks b INDEXED BY blocks_unindexed"
    " WHERE b.indexed = 0 AND b.ts_max >= ?1 AND b.ts_min <= ?2";
constexpr const char* kBlocksByTimeSql =
    "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets, {ok} FROM blocks b"
    " WHERE b.ts_max >= ?1 AND b.ts_min <= ?2";
// For counts: the blocks inside [?1, ?2] (their rows, each checked: not the
// covering index, which has no checksum), and the blocks that overlap it
// without being inside.
constexpr const char* kInsideSql =
    "SELECT b.id, b.capture_id, b.packets, {ok} FROM blocks b WHERE b.ts_min >= ?1 AND b.ts_max <= ?2";
constexpr const char* kStraddlingSql =
    "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets, {ok} FROM blocks b"
    " WHERE b.ts_max >= ?1 AND b.ts_min <= ?2 AND NOT (b.ts_min >= ?1 AND b.ts_max <= ?2)";

// 1 when a blocks row (alias b) matches its checksum (schema.h's kBlockSealed).
constexpr const char* kBlockIntact =
    "capdb_check(b.id, b.capture_id, b.first_seq, b.packets, b.pages, b.ts_min, b.ts_max, b.page_index) IS b.checksum";

}  // namespace

// Time, capture and block-range conditions on blocks, as SQL and values.
struct BlockConditions {
    std::int64_t from, to;
    std::optional<CaptureId> capture;
    std::optional<BlockRange> range;
    BlockConditions(const Filter& f, const std::optional<BlockRange>& r)
        : from(f.from_ns.value_or(kMinTs)), to(f.to_ns.value_or(kMaxTs)), capture(f.capture), range(r) {}
    [[nodiscard]] std::string sql(std::string s) const {
        if (capture) s += " AND b.capture_id = ?3";
        if (range) s += " AND b.id > ?4 AND b.id <= ?5";
        return s;
    }
    void bind(sqlite::Statement& st) const {
        st.bind(1, from).bind(2, to);
        if (capture) st.bind(3, *capture);
        if (range) st.bind(4, range->after).bind(5, range->through);
    }
    [[nodiscard]] bool admits(std::int64_t id, CaptureId cap, std::int64_t ts_min, std::int64_t ts_max) const {
        return ts_max >= from && ts_min <= to && (!capture || cap == *capture) &&
               (!range || (id > range->after && id <= range->through));
    }
};

// Runs f; a DatabaseError from it (a corrupt stored structure) is damage at
// where (called only then): thrown again naming the database and where, or
// reported and skipped. Returns whether f succeeded.
template <class F, class Where>
bool QueryEngine::guarded(F&& f, Where&& where) {
    try {
        f();
        return true;
    } catch (const DatabaseError& e) {
        damaged(fmt::format("{}: {}", where(), e.what()));
        return false;
    }
}

void QueryEngine::damaged(const std::string& what) {
    if (!on_damaged_) throw DatabaseError(fmt::format("database '{}': {}", printable(db_.path()), what));
    on_damaged_(what);
}

std::string QueryEngine::sql(const char* base) const {
    return fmt::format(fmt::runtime(base), fmt::arg("ok", checksums_ ? kBlockIntact : "1"));
}

std::string QueryEngine::capture_of(std::int64_t block) {
    sqlite::Statement st(db_, "SELECT capture_id FROM blocks WHERE id=?1");
    st.bind(1, block);
    return st.step() ? fmt::format("capture {}", st.i64(0)) : std::string("capture unknown");
}

namespace {

// The posting key of an address as it prints: IPv4 or IPv6.
std::string key_text(std::span<const std::uint8_t> key) {
    if (key.size() == 4) return Address::from_v4(key.data()).to_string();
    if (key.size() == 16) return Address::from_v6(key.data()).to_string();
    return fmt::format("a {}-byte key", key.size());
}

// Intersection and union of candidate pages.
void intersect(PageMap& into, const PageMap& other) {
    for (auto it = into.begin(); it != into.end();) {
        const auto o = other.find(it->first);
        if (o != other.end()) it->second &= o->second;
        if (o == other.end() || it->second.none())
            it = into.erase(it);
        else
            ++it;
    }
}

void unite(PageMap& into, const PageMap& other) {
    for (const auto& [block, pages] : other) into[block] |= pages;
}

}  // namespace

// A block chosen for a query, with the pages of it to read.
struct BlockHit {
    CaptureId capture = 0;
    std::uint64_t first_seq = 0;
    std::int64_t ts_min = 0, ts_max = 0;
    std::uint64_t packets = 0;
    std::vector<PageHit> pages;  // in page order
};

std::optional<BlockHit> QueryEngine::read_hit(std::int64_t id, const sqlite::Statement& st, int col,
                                              const PageSet& pages) {
    BlockHit h;
    h.capture = st.i64(col);
    if (st.i64(col + 6) == 0) {
        damaged(fmt::format("capture {}: block {}: its blocks row does not match its checksum", h.capture, id));
        return std::nullopt;
    }
    h.first_seq = static_cast<std::uint64_t>(st.i64(col + 1));
    h.ts_min = st.i64(col + 2);
    h.ts_max = st.i64(col + 3);
    if (!guarded([&] { decode_page_index(st.blob(col + 4), h.ts_min, pages, h.pages); },
                 [&] { return fmt::format("capture {}: page index of block {}", h.capture, id); }))
        return std::nullopt;
    h.packets = static_cast<std::uint64_t>(st.i64(col + 5));
    return h;
}

std::map<std::int64_t, BlockHit> QueryEngine::scan_blocks(const BlockConditions& cond, const char* base) {
    const PageSet all = PageSet{}.set();
    std::map<std::int64_t, BlockHit> blocks;
    sqlite::Statement st(db_, cond.sql(sql(base)));
    cond.bind(st);
    while (st.step())
        if (auto hit = read_hit(st.i64(0), st, 1, all)) blocks[st.i64(0)] = std::move(*hit);
    return blocks;
}

PageMap QueryEngine::postings_pages(const Prefix& prefix) {
    PageMap masks;
    sqlite::Statement postings(db_, kPostingsSql);
    for (const auto& r : key_ranges(prefix)) {
        postings.reset().bind_blob(1, r.lo).bind_blob(2, r.hi);
        while (postings.step()) {
            const std::int64_t first = postings.i64(1);
            auto where = [&] {
                return fmt::format("{}: posting list of {} from block {}", capture_of(first),
                                   key_text(postings.blob(0)), first);
            };
            guarded(
                [&] {
                    auto list = postings.blob(2);
                    if (checksums_) {
                        const auto body = checked_postings(postings.blob(0), first, list);
                        if (!body) throw DatabaseError("its postings row does not match its checksum");
                        list = *body;
                    }
                    // Decoded whole before it is used: a damaged list adds nothing.
                    std::vector<std::pair<std::int64_t, std::size_t>> entries;
                    read_postings(list, first,
                                  [&](std::int64_t block, std::size_t page) { entries.emplace_back(block, page); });
                    for (const auto& [block, page] : entries) masks[block].set(page);
                },
                where);
        }
    }
    return masks;
}

// The pages that can hold a match of node i, when its every branch is
// anchored by an address: an address term's postings; AND the intersection
// of its anchored parts' pages (when it has any); OR the union when all of
// its parts are anchored. nullopt: not anchored (a scan).
std::optional<PageMap> QueryEngine::anchored_pages(const Expr& e, std::uint32_t i) {
    const ExprNode& n = e.nodes()[i];
    switch (n.kind) {
        case ExprNode::Kind::address: return postings_pages(n.prefix);
        case ExprNode::Kind::all_of: {
            std::optional<PageMap> out;
            for (std::uint32_t k = 0; k < n.count; ++k) {
                auto part = anchored_pages(e, e.children()[n.first + k]);
                if (!part) continue;
                if (!out)
                    out = std::move(part);
                else
                    intersect(*out, *part);
            }
            return out;
        }
        case ExprNode::Kind::any_of: {
            PageMap out;
            for (std::uint32_t k = 0; k < n.count; ++k) {
                auto part = anchored_pages(e, e.children()[n.first + k]);
                if (!part) return std::nullopt;
                unite(out, *part);
            }
            return out;
        }
        default: return std::nullopt;
    }
}

std::map<std::int64_t, BlockHit> QueryEngine::candidate_blocks(const Filter& f, const RowPredicate& pred,
                                                               const std::optional<BlockRange>& range) {
    std::map<std::int64_t, BlockHit> blocks;
    const BlockConditions cond(f, range);
    auto add_scanned = [&](const char* base) {
        for (auto& [id, hit] : scan_blocks(cond, base)) blocks.insert_or_assign(id, std::move(hit));
    };
    std::optional<PageMap> anchored;
    if (pred.has_row_conditions()) anchored = anchored_pages(*pred.expr, pred.expr->root());
    if (anchored) {
        sqlite::Statement block(db_, sql(kBlockByIdSql));
        for (const auto& [id, mask] : *anchored) {
            block.reset().bind(1, id);
            if (block.step() && cond.admits(id, block.i64(0), block.i64(2), block.i64(3)))
                if (auto hit = read_hit(id, block, 0, mask)) blocks[id] = std::move(*hit);
        }
        add_scanned(kUnindexedSql);
    } else {
        add_scanned(kBlocksByTimeSql);
    }
    return blocks;
}

const DecodedPage* QueryEngine::read_page(sqlite::Statement& data, std::int64_t block_id, const BlockHit& hit,
                                          std::uint16_t n, const RowPredicate& predicate, DecodedPage& page,
                                          std::size_t* matched) {
    const std::int64_t page_id = block_id * kMaxPagesPerBlock + n;
    auto where = [&] {
        return fmt::format("capture {}: page {} of block {} (pages.id {})", hit.capture, n, block_id, page_id);
    };
    data.reset().bind(1, page_id);
    const bool found = data.step();
    const bool ok = guarded(
        [&] {
            if (!found) throw DatabaseError("its pages row is missing");
            auto frame = data.blob(0);
            if (checksums_) {
                const auto body = checked_page(page_id, frame);
                if (!body) throw DatabaseError("its pages row does not match its checksum");
                frame = *body;
            }
            if (matched)
                *matched = page.count(frame, predicate);
            else
                page.decode(frame, hit.capture, hit.first_seq, &predicate);
        },
        where);
    data.reset();
    ++stats_.pages;
    return ok ? &page : nullptr;
}

namespace {

// Puts a block's matching rows in (ts, seq) order. Rows come out of the
// pages grouped by host; placed back in file order they are usually in time
// order already (captures are written as packets arrive).
void order_rows(std::vector<const PacketView*>& rows, std::uint64_t first_seq, std::uint64_t packets,
                std::vector<const PacketView*>& slots) {
    auto by_time = [](const PacketView* a, const PacketView* b) {
        return std::tie(a->ts_ns, a->seq) < std::tie(b->ts_ns, b->seq);
    };
    if (rows.size() < 2) return;
    if (rows.size() * 16 < packets || packets > kMaxBlockRows) {
        std::sort(rows.begin(), rows.end(), by_time);
        return;
    }
    slots.assign(packets, nullptr);
    for (const PacketView* p : rows) {
        const std::uint64_t k = p->seq - first_seq;
        if (k >= slots.size() || slots[k]) {  // a corrupt page; still answer in order
            std::sort(rows.begin(), rows.end(), by_time);
            return;
        }
        slots[k] = p;
    }
    std::size_t n = 0;
    for (const PacketView* p : slots)
        if (p) rows[n++] = p;
    if (!std::is_sorted(rows.begin(), rows.end(), by_time)) std::stable_sort(rows.begin(), rows.end(), by_time);
}

}  // namespace

RowPredicate row_predicate(const Filter& f) {
    RowPredicate p;
    p.from_ns = f.from_ns.value_or(kMinTs);
    p.to_ns = f.to_ns.value_or(kMaxTs);
    p.expr = &f.expr;
    return p;
}

QueryEngine::QueryEngine(sqlite::Database& db, DamageHandler on_damaged)
    : db_(db), on_damaged_(std::move(on_damaged)), checksums_(has_checksums(db)), aggregates_(has_aggregates(db)) {}

std::int64_t QueryEngine::max_block_id() {
    if (!high_water_) high_water_ = has_high_water(db_);
    sqlite::Statement st(db_, max_block_id_sql(*high_water_));
    return st.step() ? st.i64(0) : 0;
}

// Blocks are read in order of their first timestamp. A block's matching rows
// (from its candidate pages) are put in (ts, seq) order; rows go out through
// a merge across the blocks read so far, each row as soon as it is earlier
// than every row of the blocks not yet read. Blocks of one capture rarely
// overlap in time, so one or two are held at once.
void QueryEngine::query(const Filter& filter, const std::optional<BlockRange>& range, const RowCallback& on_row) {
    stats_ = {};
    sqlite::ReadTransaction snapshot(db_);
    const std::uint64_t limit = filter.limit.value_or(std::numeric_limits<std::uint64_t>::max());
    if (limit == 0) return;
    const RowPredicate predicate = row_predicate(filter);
    const auto hits = candidate_blocks(filter, predicate, range);
    stats_.blocks = hits.size();
    std::vector<const std::pair<const std::int64_t, BlockHit>*> order;
    order.reserve(hits.size());
    for (const auto& entry : hits) order.push_back(&entry);
    std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        return std::tie(a->second.ts_min, a->second.capture, a->first) <
               std::tie(b->second.ts_min, b->second.capture, b->first);
    });

    struct LiveBlock {
        std::vector<std::unique_ptr<DecodedPage>> pages;  // the rows point into them
        std::vector<const PacketView*> rows;              // (ts, seq) order
        std::size_t next = 0;
    };
    struct Cursor {
        std::int64_t ts;
        CaptureId capture;
        std::uint64_t seq;
        LiveBlock* block;
    };
    auto later = [](const Cursor& a, const Cursor& b) {
        return std::tie(a.ts, a.capture, a.seq) > std::tie(b.ts, b.capture, b.seq);
    };
    std::priority_queue<Cursor, std::vector<Cursor>, decltype(later)> heap(later);
    std::deque<LiveBlock> live;  // stable addresses; spent blocks are recycled
    std::vector<LiveBlock*> spare;
    std::vector<std::unique_ptr<DecodedPage>> spare_pages;
    std::vector<const PacketView*> slots;  // file-order placement scratch
    std::uint64_t emitted = 0;
    bool stop = false;

    auto push_next = [&](LiveBlock* b) {
        if (b->next < b->rows.size()) {
            const PacketView* p = b->rows[b->next];
            heap.push({p->ts_ns, p->capture, p->seq, b});
            return;
        }
        for (auto& page : b->pages) spare_pages.push_back(std::move(page));
        b->pages.clear();
        b->rows.clear();
        b->next = 0;
        spare.push_back(b);
    };
    auto emit_top = [&] {
        const Cursor top = heap.top();
        heap.pop();
        if (!on_row(*top.block->rows[top.block->next++]) || ++emitted >= limit) stop = true;
        push_next(top.block);
    };
    auto emit_before = [&](std::int64_t bound) {
        while (!stop && !heap.empty() && heap.top().ts < bound) emit_top();
    };

    sqlite::Statement data(db_, "SELECT data FROM pages WHERE id=?1");
    for (const auto* entry : order) {
        if (stop) break;
        const std::int64_t block_id = entry->first;
        const BlockHit& hit = entry->second;
        emit_before(hit.ts_min);
        if (stop) break;
        LiveBlock* b = nullptr;
        if (spare.empty()) {
            b = &live.emplace_back();
        } else {
            b = spare.back();
            spare.pop_back();
        }
        for (const PageHit& page_hit : hit.pages) {
            const std::uint16_t n = page_hit.number;
            const PageMeta& m = page_hit.meta;
            if (m.ts_max < predicate.from_ns || m.ts_min > predicate.to_ns) continue;
            std::unique_ptr<DecodedPage> page;
            if (spare_pages.empty()) {
                page = std::make_unique<DecodedPage>();
            } else {
                page = std::move(spare_pages.back());
                spare_pages.pop_back();
            }
            if (!read_page(data, block_id, hit, n, predicate, *page) || page->packets().empty()) {
                spare_pages.push_back(std::move(page));
                continue;
            }
            for (const PacketView& p : page->packets()) b->rows.push_back(&p);
            b->pages.push_back(std::move(page));
        }
        order_rows(b->rows, hit.first_seq, hit.packets, slots);
        push_next(b);
    }
    while (!stop && !heap.empty()) emit_top();
}

std::uint64_t QueryEngine::count(const Filter& filter) {
    stats_ = {};
    sqlite::ReadTransaction snapshot(db_);
    const RowPredicate predicate = row_predicate(filter);
    const std::int64_t from = predicate.from_ns, to = predicate.to_ns;
    // Without per-packet conditions, blocks wholly inside the time range
    // count from their rows alone (one SUM over the blocks table), and so do
    // the pages of the others that are wholly inside it.
    const bool per_packet = predicate.has_row_conditions();
    std::uint64_t total = 0;
    std::map<std::int64_t, BlockHit> blocks;
    if (per_packet) {
        blocks = candidate_blocks(filter, predicate, std::nullopt);
    } else {
        const BlockConditions cond(filter, std::nullopt);
        sqlite::Statement inside(db_, cond.sql(sql(kInsideSql)));
        cond.bind(inside);
        while (inside.step()) {
            if (inside.i64(3) == 0)
                damaged(fmt::format("capture {}: block {}: its blocks row does not match its checksum", inside.i64(1),
                                    inside.i64(0)));
            else
                total += static_cast<std::uint64_t>(inside.i64(2));
        }
        blocks = scan_blocks(cond, kStraddlingSql);
    }
    stats_.blocks = blocks.size();
    sqlite::Statement data(db_, "SELECT data FROM pages WHERE id=?1");
    DecodedPage page;  // reused: its buffers keep their capacity
    for (const auto& entry : blocks) {
        const std::int64_t block_id = entry.first;
        const BlockHit& hit = entry.second;
        for (const PageHit& page_hit : hit.pages) {
            const std::uint16_t n = page_hit.number;
            const PageMeta& m = page_hit.meta;
            if (m.ts_max < from || m.ts_min > to) continue;
            if (!per_packet && m.ts_min >= from && m.ts_max <= to) {
                total += m.packets;
                continue;
            }
            std::size_t matched = 0;
            if (read_page(data, block_id, hit, n, predicate, page, &matched)) total += matched;
        }
    }
    if (filter.limit) total = std::min(total, *filter.limit);
    return total;
}

// The candidate blocks of query(), read in block id order, each page's
// matching rows handed over as it is decoded: no ordering and no merge, so
// one decoded page is held at a time.
void QueryEngine::scan(const Filter& filter, const RowCallback& on_row) {
    stats_ = {};
    sqlite::ReadTransaction snapshot(db_);
    const RowPredicate predicate = row_predicate(filter);
    const auto hits = candidate_blocks(filter, predicate, std::nullopt);
    stats_.blocks = hits.size();
    sqlite::Statement data(db_, "SELECT data FROM pages WHERE id=?1");
    DecodedPage page;  // reused: its buffers keep their capacity
    for (const auto& [block_id, hit] : hits)
        if (!scan_block(data, block_id, hit, predicate, page, on_row)) return;
}

bool QueryEngine::scan_block(sqlite::Statement& data, std::int64_t block_id, const BlockHit& hit,
                             const RowPredicate& predicate, DecodedPage& page, const RowCallback& on_row) {
    for (const PageHit& page_hit : hit.pages) {
        const PageMeta& m = page_hit.meta;
        if (m.ts_max < predicate.from_ns || m.ts_min > predicate.to_ns) continue;
        if (!read_page(data, block_id, hit, page_hit.number, predicate, page)) continue;
        for (const PacketView& p : page.packets())
            if (!on_row(p)) return false;
    }
    return true;
}

// scan(), with the blocks wholly inside the time range offered as their
// aggregates first when the filter has no per-packet condition. Damaged
// aggregates (checksum, decoding, a packet count other than the block's)
// are damage; when it is skipped, the block's pages are read instead.
void QueryEngine::scan_aggregates(const Filter& filter, bool tables, const AggregatesCallback& on_block,
                                  const RowCallback& on_row) {
    const RowPredicate predicate = row_predicate(filter);
    if (predicate.has_row_conditions() || !aggregates_) {
        scan(filter, on_row);
        return;
    }
    stats_ = {};
    sqlite::ReadTransaction snapshot(db_);
    const auto hits = candidate_blocks(filter, predicate, std::nullopt);
    stats_.blocks = hits.size();
    sqlite::Statement aggregates(db_, tables ? "SELECT aggregates, aggregate_tables FROM blocks WHERE id=?1"
                                             : "SELECT aggregates, NULL FROM blocks WHERE id=?1");
    sqlite::Statement data(db_, "SELECT data FROM pages WHERE id=?1");
    DecodedPage page;
    BlockAggregates a;
    for (const auto& entry : hits) {
        const std::int64_t block_id = entry.first;  // named: lambdas below capture them
        const BlockHit& hit = entry.second;
        if (hit.ts_min >= predicate.from_ns && hit.ts_max <= predicate.to_ns) {
            aggregates.reset().bind(1, block_id);
            bool served = false;
            if (aggregates.step() && !aggregates.is_null(0))
                guarded(
                    [&] {
                        const auto body = checked_aggregates(block_id, aggregates.blob(0));
                        if (!body) throw DatabaseError("its aggregates do not match their checksum");
                        std::span<const std::uint8_t> table_frame;
                        if (!aggregates.is_null(1)) {
                            const auto t = checked_aggregates(block_id, aggregates.blob(1), true);
                            if (!t) throw DatabaseError("its aggregate tables do not match their checksum");
                            table_frame = *t;
                        }
                        decode_aggregates(*body, table_frame, a, tables);
                        if (a.total.packets != hit.packets)
                            throw DatabaseError(fmt::format("its aggregates count {} packets, its row {}",
                                                            a.total.packets, hit.packets));
                        a.capture = hit.capture;
                        a.ts_min = hit.ts_min;
                        a.ts_max = hit.ts_max;
                        served = on_block(a);
                    },
                    [&] { return fmt::format("capture {}: aggregates of block {}", hit.capture, block_id); });
            if (served) continue;
        }
        if (!scan_block(data, block_id, hit, predicate, page, on_row)) return;
    }
}

}  // namespace capdb::store
