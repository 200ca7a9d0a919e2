#include "store/sqlite/retention.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/format/block_layout.h"
#include "store/format/page_codec.h"
#include "store/format/postings.h"
#include "store/sqlite/catalog.h"

namespace capdb::store {

namespace {

// As every capdb connection (schema.cc).
constexpr int kBusyTimeoutMs = 30000;

std::uint64_t file_size_or_zero(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    return static_cast<std::uint64_t>(st.st_size);
}

// The bytes of the regular files in a directory (the packet store); 0 when
// there is none.
std::uint64_t directory_bytes(const std::string& dir) {
    std::error_code ec;
    std::uint64_t total = 0;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code ec2;
        if (it->is_regular_file(ec2)) {
            const auto n = it->file_size(ec2);
            if (!ec2) total += n;
        }
    }
    return total;
}

std::int64_t pragma_value(sqlite::Database& db, const char* sql) {
    sqlite::Statement st(db, sql);
    return st.step() ? st.i64(0) : 0;
}

// A block that may be pruned.
struct BlockRow {
    std::int64_t id = 0;
    CaptureId capture = 0;
    std::int64_t ts_max = 0;
    std::uint64_t packets = 0;
};

// One prune's work inside its transaction.
class Pruner {
public:
    Pruner(sqlite::Database& db, PruneResult& result) : db_(db), result_(result) {}

    // The blocks in the order they go: oldest newest packet first.
    std::vector<BlockRow> blocks(const std::optional<CaptureId>& capture) {
        std::vector<BlockRow> out;
        sqlite::Statement st(db_, capture ? "SELECT id, capture_id, ts_max, packets FROM blocks WHERE capture_id=?1"
                                          : "SELECT id, capture_id, ts_max, packets FROM blocks");
        if (capture) st.bind(1, *capture);
        while (st.step()) out.push_back({st.i64(0), st.i64(1), st.i64(2), static_cast<std::uint64_t>(st.i64(3))});
        std::sort(out.begin(), out.end(), [](const BlockRow& a, const BlockRow& b) {
            return std::tie(a.ts_max, a.id) < std::tie(b.ts_max, b.id);
        });
        return out;
    }

    // The bytes of a block's pages and page index.
    std::uint64_t estimate(const BlockRow& b) {
        if (!estimate_.get()) {
            estimate_ =
                sqlite::Statement(db_,
                                  "SELECT (SELECT coalesce(sum(length(data)), 0) FROM pages WHERE id BETWEEN ?1 AND ?2)"
                                  " + (SELECT length(page_index) FROM blocks WHERE id = ?3)");
        }
        estimate_.reset()
            .bind(1, b.id * kMaxPagesPerBlock)
            .bind(2, b.id * kMaxPagesPerBlock + kMaxPagesPerBlock - 1)
            .bind(3, b.id);
        return estimate_.step() ? static_cast<std::uint64_t>(estimate_.i64(0)) : 0;
    }

    // The bytes of every page's data.
    std::uint64_t page_bytes() {
        sqlite::Statement st(db_, "SELECT coalesce(sum(length(data)), 0) FROM pages");
        return st.step() ? static_cast<std::uint64_t>(st.i64(0)) : 0;
    }

    // Deletes the blocks with their pages and postings, and takes their
    // packets off their captures' counts.
    void remove(const std::vector<BlockRow>& doomed) {
        if (doomed.empty()) return;
        std::map<CaptureId, std::vector<const BlockRow*>> by_capture;
        for (const BlockRow& b : doomed) by_capture[b.capture].push_back(&b);
        db_.exec("DELETE FROM temp.pruned");
        sqlite::Statement mark(db_, "INSERT INTO temp.pruned(id) VALUES(?1)");
        sqlite::Statement left(db_, "SELECT count(*) FROM blocks WHERE capture_id=?1");
        for (const auto& [capture, rows] : by_capture) {
            left.reset().bind(1, capture);
            const bool all = left.step() && static_cast<std::size_t>(left.i64(0)) <= rows.size();
            PacketCounts gone;
            for (const BlockRow* b : rows) {
                mark.reset().bind(1, b->id);
                mark.run();
                // A capture that loses every block is emptied, not counted down.
                if (!all) count_block(*b, gone);
                ++result_.blocks;
                result_.packets += b->packets;
                kept_from_ = std::max(kept_from_.value_or(b->ts_max), b->ts_max);
                PrunedCapture& pc = touched_[capture];
                pc.id = capture;
                ++pc.blocks;
                pc.packets += b->packets;
            }
            if (all)
                emptied_.insert(capture);
            else
                subtract_[capture] += gone;
        }
        sqlite::Statement del_pages(db_, "DELETE FROM pages WHERE id BETWEEN ?1 AND ?2");
        for (const BlockRow& b : doomed) {
            del_pages.reset()
                .bind(1, b.id * kMaxPagesPerBlock)
                .bind(2, b.id * kMaxPagesPerBlock + kMaxPagesPerBlock - 1);
            del_pages.run();
        }
        db_.exec("DELETE FROM blocks WHERE id IN (SELECT id FROM temp.pruned)");
        rewrite_postings();
        update_counts();
    }

    // Removes the rows of the captures left with no block (a capture still
    // being written keeps its row); with also, that capture even when it had
    // no block.
    void finish(const std::optional<CaptureId>& also) {
        if (also && !touched_.count(*also)) {
            touched_[*also].id = *also;
            emptied_.insert(*also);
        }
        Catalog catalog(db_);
        sqlite::Statement del(db_, "DELETE FROM captures WHERE id=?1");
        for (CaptureId id : emptied_) {
            const auto info = catalog.capture(id);
            if (!info) continue;
            if (info->state == CaptureState::running) {
                sqlite::Statement zero(db_,
                                       "UPDATE captures SET packets=0, ipv4=0, ipv6=0, other=0, malformed=0,"
                                       " unsupported=0, bytes=0, first_ts=NULL, last_ts=NULL WHERE id=?1");
                zero.bind(1, id);
                zero.run();
                continue;
            }
            del.reset().bind(1, id);
            del.run();
            touched_[id].removed = true;
        }
        sqlite::Statement kept(db_, "SELECT packets FROM captures WHERE id=?1");
        for (auto& [id, pc] : touched_) {
            kept.reset().bind(1, id);
            if (kept.step()) pc.kept = static_cast<std::uint64_t>(kept.i64(0));
            result_.captures.push_back(pc);
        }
        if (kept_from_ && *kept_from_ < std::numeric_limits<std::int64_t>::max())
            result_.kept_from_ns = *kept_from_ + 1;
    }

private:
    // Adds the packets of a block's pages to counts, by kind, as ingest
    // counted them.
    void count_block(const BlockRow& b, PacketCounts& counts) {
        if (!page_data_.get())
            page_data_ = sqlite::Statement(db_, "SELECT id, data FROM pages WHERE id BETWEEN ?1 AND ?2");
        page_data_.reset().bind(1, b.id * kMaxPagesPerBlock).bind(2, b.id * kMaxPagesPerBlock + kMaxPagesPerBlock - 1);
        while (page_data_.step()) {
            try {
                page_.decode(page_data_.blob(1), b.capture, 0, nullptr);
            } catch (const DatabaseError& e) {
                throw DatabaseError(fmt::format("database '{}': page {} of block {}: {}", printable(db_.path()),
                                                page_data_.i64(0) - b.id * kMaxPagesPerBlock, b.id, e.what()));
            }
            for (const PacketView& p : page_.packets()) counts.add(p.summary, p.wirelen);
        }
    }

    // The posting lists that start at a pruned block are rewritten without
    // the blocks that are gone, from their first remaining block (or
    // dropped). Every posting row's first block thus exists; a later block
    // of a list may be gone (pruned by an earlier prune from inside the
    // list), which the query engine skips: ids are never reused.
    void rewrite_postings() {
        struct Rewrite {
            std::vector<std::uint8_t> addr;
            std::int64_t first;
            std::vector<std::uint8_t> bytes;
        };
        std::vector<Rewrite> rewrites;
        std::unordered_map<std::int64_t, bool> exists;
        sqlite::Statement block_exists(db_, "SELECT 1 FROM blocks WHERE id=?1");
        auto alive = [&](std::int64_t id) {
            auto [it, fresh] = exists.try_emplace(id, false);
            if (fresh) {
                block_exists.reset().bind(1, id);
                it->second = block_exists.step();
            }
            return it->second;
        };
        sqlite::Statement st(db_,
                             "SELECT addr, first_block, blocks FROM postings"
                             " WHERE first_block IN (SELECT id FROM temp.pruned)");
        std::vector<std::uint16_t> pages;
        while (st.step()) {
            PostingList list;
            std::int64_t first = 0, current = 0;
            pages.clear();
            auto flush = [&] {
                if (current == 0 || pages.empty()) return;
                if (first == 0) first = current;
                list.add(current, first, pages);
                pages.clear();
            };
            try {
                read_postings(st.blob(2), st.i64(1), [&](std::int64_t block, std::size_t page) {
                    if (block != current) {
                        flush();
                        current = block;
                    }
                    if (alive(block)) pages.push_back(static_cast<std::uint16_t>(page));
                });
            } catch (const DatabaseError& e) {
                throw DatabaseError(fmt::format("database '{}': posting list from block {}: {}", printable(db_.path()),
                                                st.i64(1), e.what()));
            }
            flush();
            if (!list.bytes.empty()) {
                const auto addr = st.blob(0);
                rewrites.push_back({{addr.begin(), addr.end()}, first, std::move(list.bytes)});
            }
        }
        st.reset();
        db_.exec("DELETE FROM postings WHERE first_block IN (SELECT id FROM temp.pruned)");
        sqlite::Statement insert(db_, "INSERT INTO postings(addr, first_block, blocks) VALUES(?1, ?2, ?3)");
        for (const Rewrite& r : rewrites) {
            insert.reset().bind_blob(1, r.addr).bind(2, r.first).bind_blob(3, r.bytes);
            insert.run();
        }
    }

    // The captures that keep blocks count only those.
    void update_counts() {
        sqlite::Statement st(db_,
                             "UPDATE captures SET packets=packets-?1, ipv4=ipv4-?2, ipv6=ipv6-?3, other=other-?4,"
                             " malformed=malformed-?5, unsupported=unsupported-?6, bytes=bytes-?7,"
                             " first_ts=(SELECT min(ts_min) FROM blocks WHERE capture_id=?8),"
                             " last_ts=(SELECT max(ts_max) FROM blocks WHERE capture_id=?8) WHERE id=?8");
        for (const auto& [id, n] : subtract_) {
            auto v = [](std::uint64_t x) { return static_cast<std::int64_t>(x); };
            st.reset()
                .bind(1, v(n.packets))
                .bind(2, v(n.ipv4))
                .bind(3, v(n.ipv6))
                .bind(4, v(n.other))
                .bind(5, v(n.malformed))
                .bind(6, v(n.unsupported))
                .bind(7, v(n.bytes))
                .bind(8, id);
            st.run();
        }
        subtract_.clear();
    }

    sqlite::Database& db_;
    PruneResult& result_;
    sqlite::Statement estimate_, page_data_;
    DecodedPage page_;
    std::map<CaptureId, PrunedCapture> touched_;
    std::map<CaptureId, PacketCounts> subtract_;
    std::set<CaptureId> emptied_;
    std::optional<std::int64_t> kept_from_;  // the newest removed packet's time
};

// Copies the WAL into the database and empties it, if no other connection
// is reading or writing just now; never waits (a live capture's commits
// must not queue behind it). The WAL is otherwise reused from its start
// once a later checkpoint completes.
void checkpoint_without_waiting(sqlite::Database& db) {
    sqlite3_busy_timeout(db.get(), 0);
    int log = 0, done = 0;
    sqlite3_wal_checkpoint_v2(db.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
}

}  // namespace

bool has_high_water(sqlite::Database& db) {
    sqlite::Statement st(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='high_water'");
    return st.step();
}

std::string max_block_id_sql(bool high_water) {
    if (!high_water) return "SELECT coalesce(max(id), 0) FROM blocks";
    return "SELECT max((SELECT coalesce(max(id), 0) FROM blocks),"
           " (SELECT coalesce(max(value), 0) FROM high_water WHERE name='block_id'))";
}

std::string next_capture_id_sql(bool high_water) {
    if (!high_water) return "SELECT coalesce(max(id), 0) + 1 FROM captures";
    return "SELECT max((SELECT coalesce(max(id), 0) FROM captures),"
           " (SELECT coalesce(max(value), 0) FROM high_water WHERE name='capture_id')) + 1";
}

void raise_high_water(sqlite::Database& db) {
    if (!has_high_water(db)) return;
    db.exec(
        "INSERT INTO high_water(name, value) SELECT 'block_id', coalesce(max(id), 0) FROM blocks WHERE true"
        " ON CONFLICT(name) DO UPDATE SET value=max(value, excluded.value);"
        "INSERT INTO high_water(name, value) SELECT 'capture_id', coalesce(max(id), 0) FROM captures WHERE true"
        " ON CONFLICT(name) DO UPDATE SET value=max(value, excluded.value)");
}

StoreSize Retention::size() {
    StoreSize s;
    const auto page_size = pragma_value(db_, "PRAGMA page_size");
    const auto pages = pragma_value(db_, "PRAGMA page_count");
    const auto free = pragma_value(db_, "PRAGMA freelist_count");
    s.database = static_cast<std::uint64_t>((pages - free) * page_size);
    s.free = static_cast<std::uint64_t>(free * page_size);
    s.wal = file_size_or_zero(path_ + "-wal");
    s.packets = directory_bytes(path_ + ".packets");
    return s;
}

PruneResult Retention::prune(const PruneRequest& request) {
    PruneResult result;
    result.dry_run = request.dry_run;
    if (request.capture && !Catalog(db_).capture(*request.capture))
        throw UsageError(fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')", *request.capture,
                                     printable(path_)));
    result.before = size();
    db_.exec("CREATE TEMP TABLE IF NOT EXISTS pruned(id INTEGER PRIMARY KEY)");
    sqlite::Transaction tx(db_);
    raise_high_water(db_);
    {
        // In a scope of its own: its statements end before the commit and
        // the checkpoint.
        Pruner pruner(db_, result);
        std::vector<BlockRow> blocks = pruner.blocks(request.capture);
        const bool whole_capture = request.capture && !request.before_ns && !request.keep_bytes;
        std::size_t next = 0;  // blocks[0, next) are gone
        if (whole_capture) {
            next = blocks.size();
        } else if (request.before_ns) {
            // blocks are in ts_max order: the ones older than before_ns lead.
            while (next < blocks.size() && blocks[next].ts_max < *request.before_ns) ++next;
        }
        pruner.remove({blocks.begin(), blocks.begin() + static_cast<std::ptrdiff_t>(next)});
        if (request.keep_bytes) {
            // Oldest first until the measure fits: each round removes the blocks
            // whose estimated share of the database covers the excess, then
            // measures again. A block's share is its pages' bytes scaled by the
            // database's bytes per page byte (postings and indexes included).
            for (;;) {
                const StoreSize now = size();
                if (now.total() <= *request.keep_bytes || next == blocks.size()) break;
                const std::uint64_t excess = now.total() - *request.keep_bytes;
                const double scale =
                    std::max(1.0, static_cast<double>(now.database) /
                                      static_cast<double>(std::max<std::uint64_t>(pruner.page_bytes(), 1)));
                double freed = 0;
                const std::size_t from = next;
                while (next < blocks.size() && freed < static_cast<double>(excess))
                    freed += scale * static_cast<double>(pruner.estimate(blocks[next++]));
                pruner.remove({blocks.begin() + static_cast<std::ptrdiff_t>(from),
                               blocks.begin() + static_cast<std::ptrdiff_t>(next)});
            }
        }
        pruner.finish(whole_capture ? request.capture : std::nullopt);
    }
    if (request.dry_run) {
        result.after = size();
        return result;  // the transaction rolls back
    }
    tx.commit();
    checkpoint_without_waiting(db_);
    result.after = size();
    return result;
}

VacuumResult Retention::vacuum() {
    for (const CaptureInfo& c : Catalog(db_).captures())
        if (c.state == CaptureState::running)
            throw DatabaseError(fmt::format(
                "database '{}': capture {} ({}) is still being written; vacuum rewrites the whole database and "
                "would hold its commits back: stop the capture first",
                printable(path_), c.id, printable(c.meta.source)));
    VacuumResult r;
    r.before = size();
    r.file_before = file_size_or_zero(path_);
    db_.exec("VACUUM");
    int log = 0, done = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    r.wal_truncated = rc == SQLITE_OK;
    r.after = size();
    r.file_after = file_size_or_zero(path_);
    return r;
}

}  // namespace capdb::store
