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
#include "store/format/postings.h"
#include "store/sqlite/retention.h"

namespace capdb::store {

namespace {

constexpr std::int64_t kMinTs = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxTs = std::numeric_limits<std::int64_t>::max();

// Candidate blocks are found by one address condition through the postings
// (plus the blocks not yet covered by postings), or through the block time
// indexes. Other conditions are checked per packet.
constexpr const char* kPostingsSql =
    "SELECT p.addr, p.first_block, p.blocks FROM postings p WHERE p.addr BETWEEN ?1 AND ?2";
constexpr const char* kBlockByIdSql =
    "SELECT b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets FROM blocks b WHERE b.id = ?1";
constexpr const char* kUnindexedSql =
    "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets"
    " FROM blocks b INDEXED BY blocks_unindexed"
    " WHERE b.indexed = 0 AND b.ts_max >= ?1 AND b.ts_min <= ?2";
constexpr const char* kBlocksByTimeSql =
    "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets FROM blocks b"
    " WHERE b.ts_max >= ?1 AND b.ts_min <= ?2";
// For counts: the packets of the blocks inside [?1, ?2], and the blocks that
// overlap it without being inside.
constexpr const char* kInsideSumSql =
    "SELECT coalesce(sum(b.packets), 0) FROM blocks b WHERE b.ts_min >= ?1 AND b.ts_max <= ?2";
constexpr const char* kStraddlingSql =
    "SELECT b.id, b.capture_id, b.first_seq, b.ts_min, b.ts_max, b.page_index, b.packets FROM blocks b"
    " WHERE b.ts_max >= ?1 AND b.ts_min <= ?2 AND NOT (b.ts_min >= ?1 AND b.ts_max <= ?2)";

// Time, capture and block-range conditions on blocks, as SQL and values.
struct BlockConditions {
    std::int64_t from, to;
    std::optional<CaptureId> capture;
    std::optional<BlockRange> range;
    BlockConditions(const Filter& f, const std::optional<BlockRange>& r)
        : from(f.from_ns.value_or(kMinTs)), to(f.to_ns.value_or(kMaxTs)), capture(f.capture), range(r) {}
    [[nodiscard]] std::string sql(const char* base) const {
        std::string s = base;
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

// Runs f; a DatabaseError from it (a corrupt stored structure) is thrown
// again naming the database and where (called only then) in it.
template <class F, class Where>
void naming(const sqlite::Database& db, F&& f, Where&& where) {
    try {
        f();
    } catch (const DatabaseError& e) {
        throw DatabaseError(fmt::format("database '{}': {}: {}", printable(db.path()), where(), e.what()));
    }
}

// The posting key of an address as it prints: IPv4 or IPv6.
std::string key_text(std::span<const std::uint8_t> key) {
    if (key.size() == 4) return Address::from_v4(key.data()).to_string();
    if (key.size() == 16) return Address::from_v6(key.data()).to_string();
    return fmt::format("a {}-byte key", key.size());
}

// The address condition that chooses blocks through the postings, if any.
const Prefix* address_condition(const RowPredicate& p) {
    for (const auto* prefix : {&p.src, &p.dst, &p.host})
        if (*prefix) return &**prefix;
    return nullptr;
}

// A block chosen for a query, with the pages of it to read.
struct BlockHit {
    CaptureId capture = 0;
    std::uint64_t first_seq = 0;
    std::int64_t ts_min = 0, ts_max = 0;
    std::uint64_t packets = 0;
    std::vector<PageHit> pages;  // in page order
};

// Candidate blocks: columns col..col+5 of a row are capture, first_seq,
// ts_min, ts_max, page_index, packets.
BlockHit read_hit(const sqlite::Database& db, std::int64_t id, const sqlite::Statement& st, int col,
                  const PageSet& pages) {
    BlockHit h;
    h.capture = st.i64(col);
    h.first_seq = static_cast<std::uint64_t>(st.i64(col + 1));
    h.ts_min = st.i64(col + 2);
    h.ts_max = st.i64(col + 3);
    naming(
        db, [&] { decode_page_index(st.blob(col + 4), h.ts_min, pages, h.pages); },
        [&] { return fmt::format("page index of block {}", id); });
    h.packets = static_cast<std::uint64_t>(st.i64(col + 5));
    return h;
}

// The blocks a statement (base plus cond) selects, with all their pages.
std::map<std::int64_t, BlockHit> scan_blocks(sqlite::Database& db, const BlockConditions& cond, const char* base) {
    const PageSet all = PageSet{}.set();
    std::map<std::int64_t, BlockHit> blocks;
    sqlite::Statement st(db, cond.sql(base));
    cond.bind(st);
    while (st.step()) blocks[st.i64(0)] = read_hit(db, st.i64(0), st, 1, all);
    return blocks;
}

std::map<std::int64_t, BlockHit> candidate_blocks(sqlite::Database& db, const Filter& f, const RowPredicate& pred,
                                                  const std::optional<BlockRange>& range) {
    std::map<std::int64_t, BlockHit> blocks;
    const BlockConditions cond(f, range);
    auto add_scanned = [&](const char* base) {
        for (auto& [id, hit] : scan_blocks(db, cond, base)) blocks.insert_or_assign(id, std::move(hit));
    };
    if (const Prefix* addr = address_condition(pred)) {
        std::map<std::int64_t, PageSet> masks;
        sqlite::Statement postings(db, kPostingsSql);
        for (const auto& r : key_ranges(*addr)) {
            postings.reset().bind_blob(1, r.lo).bind_blob(2, r.hi);
            while (postings.step()) {
                naming(
                    db,
                    [&] {
                        read_postings(postings.blob(2), postings.i64(1),
                                      [&](std::int64_t block, std::size_t page) { masks[block].set(page); });
                    },
                    [&] {
                        return fmt::format("posting list of {} from block {}", key_text(postings.blob(0)),
                                           postings.i64(1));
                    });
            }
        }
        sqlite::Statement block(db, kBlockByIdSql);
        for (const auto& [id, mask] : masks) {
            block.reset().bind(1, id);
            if (block.step() && cond.admits(id, block.i64(0), block.i64(2), block.i64(3)))
                blocks[id] = read_hit(db, id, block, 0, mask);
        }
        add_scanned(kUnindexedSql);
    } else {
        add_scanned(kBlocksByTimeSql);
    }
    return blocks;
}

std::string page_name(std::int64_t block, std::uint16_t page) {
    return fmt::format("page {} of block {} (pages.id {})", page, block, block * kMaxPagesPerBlock + page);
}

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
    p.src = f.src;
    p.dst = f.dst;
    p.host = f.host;
    p.port = f.port;
    p.sport = f.sport;
    p.dport = f.dport;
    p.proto = f.proto;
    return p;
}

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
    const auto hits = candidate_blocks(db_, filter, predicate, range);
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
            data.reset().bind(1, block_id * kMaxPagesPerBlock + n);
            if (!data.step()) continue;
            std::unique_ptr<DecodedPage> page;
            if (spare_pages.empty()) {
                page = std::make_unique<DecodedPage>();
            } else {
                page = std::move(spare_pages.back());
                spare_pages.pop_back();
            }
            naming(
                db_, [&] { page->decode(data.blob(0), hit.capture, hit.first_seq, &predicate); },
                [&] { return page_name(block_id, n); });
            ++stats_.pages;
            data.reset();
            if (page->packets().empty()) {
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
        blocks = candidate_blocks(db_, filter, predicate, std::nullopt);
    } else {
        const BlockConditions cond(filter, std::nullopt);
        sqlite::Statement inside(db_, cond.sql(kInsideSumSql));
        cond.bind(inside);
        if (inside.step()) total = static_cast<std::uint64_t>(inside.i64(0));
        blocks = scan_blocks(db_, cond, kStraddlingSql);
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
            data.reset().bind(1, block_id * kMaxPagesPerBlock + n);
            if (!data.step()) continue;
            naming(
                db_, [&] { page.decode(data.blob(0), hit.capture, hit.first_seq, &predicate); },
                [&] { return page_name(block_id, n); });
            ++stats_.pages;
            data.reset();
            total += page.packets().size();
        }
    }
    if (filter.limit) total = std::min(total, *filter.limit);
    return total;
}

}  // namespace capdb::store
