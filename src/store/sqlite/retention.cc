#include "store/sqlite/retention.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/format/block_layout.h"
#include "store/format/checksum.h"
#include "store/format/page_codec.h"
#include "store/format/postings.h"
#include "store/packets/segment_store.h"
#include "store/sqlite/catalog.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/segments.h"

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

// A packet-store segment.
struct SegmentRow {
    std::int64_t id = 0;
    std::string name;
    std::uint64_t first_seq = 0, packets = 0, bytes = 0;
    std::optional<std::int64_t> ts_max;
};

// What a prune removes together: a block, or a segment with its blocks.
struct Unit {
    CaptureId capture = 0;
    std::int64_t ts_max = 0;  // its newest packet
    std::vector<BlockRow> blocks;
    std::optional<SegmentRow> segment;
};

// One prune's work inside its transaction.
class Pruner {
public:
    Pruner(sqlite::Database& db, PruneResult& result) : db_(db), result_(result) {}

    // What may go, in the order it goes: oldest newest packet first. A
    // capture in the packet store goes a segment at a time (a block lies
    // wholly in one segment), except the segment its live writer is
    // writing; other captures go a block at a time.
    std::vector<Unit> units(const std::optional<CaptureId>& capture) {
        // Segments by capture, in first_seq order.
        std::map<CaptureId, std::vector<SegmentRow>> segments;
        if (has_segments_table(db_)) {
            sqlite::Statement st(db_, capture ? "SELECT id, capture_id, name, first_seq, packets, bytes, ts_max"
                                                " FROM segments WHERE capture_id=?1"
                                              : "SELECT id, capture_id, name, first_seq, packets, bytes, ts_max"
                                                " FROM segments");
            if (capture) st.bind(1, *capture);
            while (st.step())
                segments[st.i64(1)].push_back({st.i64(0), st.text(2), static_cast<std::uint64_t>(st.i64(3)),
                                               static_cast<std::uint64_t>(st.i64(4)),
                                               static_cast<std::uint64_t>(st.i64(5)), st.opt_i64(6)});
        }
        Catalog catalog(db_);
        std::set<std::pair<CaptureId, std::int64_t>> open;  // (capture, segment id) being written
        for (auto& [id, list] : segments) {
            std::sort(list.begin(), list.end(),
                      [](const SegmentRow& a, const SegmentRow& b) { return a.first_seq < b.first_seq; });
            const auto info = catalog.capture(id);
            if (info && info->state == CaptureState::running && !list.empty()) open.insert({id, list.back().id});
        }
        std::vector<Unit> out;
        std::map<std::pair<CaptureId, std::int64_t>, std::size_t> unit_of;  // (capture, segment id) -> out index
        sqlite::Statement st(db_, capture ? "SELECT id, capture_id, ts_max, packets, first_seq FROM blocks"
                                            " WHERE capture_id=?1"
                                          : "SELECT id, capture_id, ts_max, packets, first_seq FROM blocks");
        if (capture) st.bind(1, *capture);
        while (st.step()) {
            const BlockRow row{st.i64(0), st.i64(1), st.i64(2), static_cast<std::uint64_t>(st.i64(3))};
            const auto first_seq = static_cast<std::uint64_t>(st.i64(4));
            const SegmentRow* seg = nullptr;
            if (auto it = segments.find(row.capture); it != segments.end()) {
                auto& list = it->second;
                auto after = std::upper_bound(list.begin(), list.end(), first_seq,
                                              [](std::uint64_t seq, const SegmentRow& r) { return seq < r.first_seq; });
                if (after != list.begin() && first_seq < std::prev(after)->first_seq + std::prev(after)->packets)
                    seg = &*std::prev(after);
            }
            if (!seg) {
                out.push_back({row.capture, row.ts_max, {row}, std::nullopt});
                continue;
            }
            if (open.count({row.capture, seg->id})) continue;
            auto [it, fresh] = unit_of.try_emplace({row.capture, seg->id}, out.size());
            if (fresh) out.push_back({row.capture, row.ts_max, {}, *seg});
            Unit& u = out[it->second];
            u.blocks.push_back(row);
            u.ts_max = std::max(u.ts_max, row.ts_max);
        }
        // Segments without blocks (none are left of them) go with the oldest.
        for (const auto& [id, list] : segments)
            for (const SegmentRow& seg : list)
                if (!unit_of.count({id, seg.id}) && !open.count({id, seg.id}))
                    out.push_back({id, seg.ts_max.value_or(std::numeric_limits<std::int64_t>::min()), {}, seg});
        std::sort(out.begin(), out.end(), [](const Unit& a, const Unit& b) {
            const std::int64_t ida = a.blocks.empty() ? 0 : a.blocks.front().id;
            const std::int64_t idb = b.blocks.empty() ? 0 : b.blocks.front().id;
            return std::tie(a.ts_max, ida) < std::tie(b.ts_max, idb);
        });
        return out;
    }

    // Bytes the unit frees: its blocks' pages and page indexes, scaled
    // (postings and indexes), and its segment file.
    double estimate(const Unit& u, double scale) {
        double n = u.segment ? static_cast<double>(u.segment->bytes) : 0.0;
        for (const BlockRow& b : u.blocks) n += scale * static_cast<double>(estimate(b));
        return n;
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

    // Removes units: their segments' rows (the files are unlinked after the
    // commit), their blocks with pages and postings.
    void remove(std::span<const Unit> units) {
        std::vector<BlockRow> doomed;
        sqlite::Statement del_segment(db_, "DELETE FROM segments WHERE id=?1");
        for (const Unit& u : units) {
            doomed.insert(doomed.end(), u.blocks.begin(), u.blocks.end());
            if (u.segment) {
                del_segment.reset().bind(1, u.segment->id);
                del_segment.run();
                unlink_.push_back(u.segment->name);
                unlink_bytes_ += u.segment->bytes;
            }
        }
        remove_blocks(doomed);
    }

    // Segment files whose rows are gone, and their bytes.
    [[nodiscard]] const std::vector<std::string>& unlink() const noexcept { return unlink_; }
    [[nodiscard]] std::uint64_t unlink_bytes() const noexcept { return unlink_bytes_; }

    // Deletes the blocks with their pages and postings, and takes their
    // packets off their captures' counts.
    void remove_blocks(const std::vector<BlockRow>& doomed) {
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
            std::optional<CaptureInfo> info;
            try {
                info = catalog.capture(id);
                if (!info) continue;
            } catch (const DatabaseError&) {
                // A damaged row cannot say that its capture is running: it
                // goes with its blocks (prune --capture is a repair).
            }
            if (info && info->state == CaptureState::running) {
                sqlite::Statement zero(db_,
                                       "UPDATE captures SET packets=0, ipv4=0, ipv6=0, other=0, malformed=0,"
                                       " unsupported=0, bytes=0, first_ts=NULL, last_ts=NULL WHERE id=?1");
                zero.bind(1, id);
                zero.run();
                seal_capture(db_, id);
                continue;
            }
            for (std::string& name : segment_names(db_, id)) unlink_.push_back(std::move(name));
            if (has_segments_table(db_)) {
                sqlite::Statement segs(db_, "DELETE FROM segments WHERE capture_id=?1");
                segs.bind(1, id);
                segs.run();
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
                const auto frame = checked_page(page_data_.i64(0), page_data_.blob(1));
                if (!frame) throw DatabaseError("checksum mismatch");
                page_.decode(*frame, b.capture, 0, nullptr);
            } catch (const DatabaseError& e) {
                throw DatabaseError(fmt::format("database '{}': capture {}: page {} of block {}: {}",
                                                printable(db_.path()), b.capture,
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
                const auto body = checked_postings(st.blob(0), st.i64(1), st.blob(2));
                if (!body) throw DatabaseError("checksum mismatch");
                read_postings(*body, st.i64(1), [&](std::int64_t block, std::size_t page) {
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
                append_trailer(list.bytes, postings_crc(addr, first, list.bytes));
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
                             " last_ts=(SELECT max(ts_max) FROM blocks WHERE capture_id=?8),"
                             // A pruned capture no longer holds the prefix a
                             // grown file would resume from.
                             " committed_bytes=NULL, prefix_sha256=NULL WHERE id=?8");
        sqlite::Statement seal(db_, seal_capture_sql());
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
            seal.reset().bind(1, id);
            seal.run();
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
    std::vector<std::string> unlink_;
    std::uint64_t unlink_bytes_ = 0;
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
    std::vector<std::string> names;
    PruneResult result = prune_rows(request, 0, names);
    if (!request.dry_run) {
        // The rows are gone: no query can find these packets any more. An
        // export that found them before holds the lock shared until it has
        // read them; wait for it.
        unlink_segments(packet_dir_of(path_), names);
        checkpoint_without_waiting(db_);
        result.after = size();
    }
    return result;
}

PruneResult Retention::prune_rows(const PruneRequest& request, std::uint64_t unlinked_later,
                                  std::vector<std::string>& names) {
    PruneResult result;
    result.dry_run = request.dry_run;
    if (request.capture && !Catalog(db_).capture(*request.capture))
        throw UsageError(fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')", *request.capture,
                                     printable(path_)));
    result.before = size();
    result.before.packets -= std::min(result.before.packets, unlinked_later);
    db_.exec("CREATE TEMP TABLE IF NOT EXISTS pruned(id INTEGER PRIMARY KEY)");
    sqlite::Transaction tx(db_);
    raise_high_water(db_);
    {
        // In a scope of its own: its statements end before the commit and
        // the checkpoint.
        Pruner pruner(db_, result);
        const std::vector<Unit> units = pruner.units(request.capture);
        const bool whole_capture = request.capture && !request.before_ns && !request.keep_bytes;
        std::size_t next = 0;  // units[0, next) are gone
        if (whole_capture) {
            next = units.size();
        } else if (request.before_ns) {
            // units are in ts_max order: the ones older than before_ns lead.
            while (next < units.size() && units[next].ts_max < *request.before_ns) ++next;
        }
        pruner.remove(std::span(units).first(next));
        if (request.keep_bytes) {
            // Oldest first until the measure fits: each round removes the
            // units whose estimated bytes cover the excess, then measures
            // again. A block's share of the database is its pages' bytes
            // scaled by the database's bytes per page byte (postings and
            // indexes included).
            for (;;) {
                StoreSize now = size();
                now.packets -= std::min(now.packets, unlinked_later + pruner.unlink_bytes());
                if (now.total() <= *request.keep_bytes || next == units.size()) break;
                const std::uint64_t excess = now.total() - *request.keep_bytes;
                const double scale =
                    std::max(1.0, static_cast<double>(now.database) /
                                      static_cast<double>(std::max<std::uint64_t>(pruner.page_bytes(), 1)));
                double freed = 0;
                const std::size_t from = next;
                while (next < units.size() && freed < static_cast<double>(excess))
                    freed += pruner.estimate(units[next++], scale);
                pruner.remove(std::span(units).subspan(from, next - from));
            }
        }
        pruner.finish(whole_capture ? request.capture : std::nullopt);
        names = pruner.unlink();
        result.segments = names.size();
        result.after = size();
        result.after.packets -= std::min(result.after.packets, unlinked_later + pruner.unlink_bytes());
    }
    if (!request.dry_run) tx.commit();  // else it rolls back
    return result;
}

bool Retention::prune_oldest_segment(PruneResult& result, std::vector<std::string>& names) {
    db_.exec("CREATE TEMP TABLE IF NOT EXISTS pruned(id INTEGER PRIMARY KEY)");
    sqlite::Transaction tx(db_);
    raise_high_water(db_);
    {
        Pruner pruner(db_, result);
        const std::vector<Unit> units = pruner.units(std::nullopt);
        const auto oldest =
            std::find_if(units.begin(), units.end(), [](const Unit& u) { return u.segment.has_value(); });
        if (oldest == units.end()) return false;
        pruner.remove(std::span(&*oldest, 1));
        pruner.finish(std::nullopt);
        names = pruner.unlink();
        result.segments = names.size();
    }
    tx.commit();
    return true;
}

RingBuffer::RingBuffer(sqlite::Database& db, std::string path, std::uint64_t max_bytes, std::uint64_t reserve_bytes)
    : retention_(db, path), dir_(packet_dir_of(path)), max_bytes_(max_bytes), reserve_(reserve_bytes) {}

void RingBuffer::after_commit() {
    const StoreSize now = retention_.size();
    if (now.total() > max_bytes_ + pending_bytes_) {
        std::vector<std::string> names;
        PruneRequest request;
        request.keep_bytes = max_bytes_;
        const PruneResult r = retention_.prune_rows(request, pending_bytes_, names);
        for (std::string& name : names) {
            struct stat st {};
            if (::stat((dir_ + "/" + name).c_str(), &st) == 0) pending_bytes_ += static_cast<std::uint64_t>(st.st_size);
            pending_.push_back(std::move(name));
        }
        pruned_packets_ += r.packets;
    }
    keep_free();
    // Never waits: an export reading segments holds the lock shared; the
    // files go at a later commit.
    unlink_pending(false);
}

void RingBuffer::keep_free() {
    for (;;) {
        struct statvfs fs {};
        if (::statvfs(dir_.c_str(), &fs) != 0) return;  // no store yet
        const std::uint64_t free = std::uint64_t{fs.f_bavail} * fs.f_frsize;
        if (free + pending_bytes_ >= reserve_) return;
        std::vector<std::string> names;
        PruneResult r;
        if (!retention_.prune_oldest_segment(r, names)) return;
        pruned_packets_ += r.packets;
        for (std::string& name : names) {
            struct stat st {};
            if (::stat((dir_ + "/" + name).c_str(), &st) == 0) pending_bytes_ += static_cast<std::uint64_t>(st.st_size);
            pending_.push_back(std::move(name));
        }
        unlink_pending(false);
    }
}

bool RingBuffer::make_room() {
    // Files whose rows went already free their space once unlinked.
    if (!pending_.empty()) return unlink_pending(true);
    std::vector<std::string> names;
    PruneResult r;
    if (!retention_.prune_oldest_segment(r, names)) return false;
    pruned_packets_ += r.packets;
    pending_ = std::move(names);
    // A full disk cannot wait for a later commit: wait for the exports
    // that hold the lock (each holds it for one export, or one look of
    // query --follow -w).
    unlink_pending(true);
    return true;
}

bool RingBuffer::unlink_pending(bool wait) {
    if (pending_.empty()) return true;
    const auto lock = wait ? PacketLock::acquire(dir_, PacketLock::Mode::exclusive) : PacketLock::try_exclusive(dir_);
    if (!lock && !wait) return false;
    for (const std::string& name : pending_) ::unlink((dir_ + "/" + name).c_str());
    pending_.clear();
    pending_bytes_ = 0;
    return true;
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
