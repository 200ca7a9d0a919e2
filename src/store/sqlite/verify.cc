#include "capdb/verify.h"

#include <sys/stat.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "capdb/store.h"
#include "store/format/aggregates.h"
#include "store/format/block_layout.h"
#include "store/format/checksum.h"
#include "store/format/host_grouping.h"
#include "store/format/page_codec.h"
#include "store/format/postings.h"
#include "store/packets/segment_store.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/segments.h"
#include "store/sqlite/sqlite.h"

namespace capdb {

namespace {

using store::kMaxPagesPerBlock;

// A posting entry: (block id, page number).
using PageRef = std::pair<std::int64_t, std::uint32_t>;

struct CaptureTally {
    PacketCounts counts;
    std::optional<std::int64_t> first_ts, last_ts;
    bool damaged = false;  // something of it could not be read: its counts are not compared
};

class Verifier {
public:
    Verifier(sqlite::Database& db, const std::string& path, const VerifyRequest& request,
             const std::function<void(const VerifyProblem&)>& on_problem)
        : db_(db), path_(path), request_(request), on_problem_(on_problem), checksums_(store::has_checksums(db)) {}

    VerifySummary run() {
        {
            sqlite::ReadTransaction snapshot(db_);
            check_schema();
            if (request_.sqlite_check) check_sqlite();
            if (checksums_ && !request_.capture) check_definitions();
            // SQLite failing to read a table (a damaged b-tree) is a problem
            // of that table; the other checks go on.
            stage("captures", [&] { check_captures(); });
            stage("blocks", [&] { check_blocks(); });
            stage("postings", [&] { check_postings(); });
            check_counts();
            stage("segments", [&] { check_segments(); });
        }
        if (request_.files) check_files();
        return summary_;
    }

private:
    template <class F>
    void stage(const char* table, F&& f) {
        try {
            f();
        } catch (const DatabaseError& e) {
            problem(std::nullopt, table, std::nullopt, std::nullopt, e.what());
        }
    }

    void problem(std::optional<CaptureId> capture, const char* table, std::optional<std::int64_t> block,
                 std::optional<std::uint32_t> page, std::string what) {
        ++summary_.problems;
        if (capture) tally_[*capture].damaged = true;
        on_problem_(VerifyProblem{capture, table, block, page, std::move(what)});
    }

    [[nodiscard]] bool wanted(CaptureId id) const { return !request_.capture || *request_.capture == id; }
    [[nodiscard]] std::string intact(const char* columns) const {
        return checksums_ ? fmt::format("capdb_check({}) IS checksum", columns) : std::string("1");
    }

    void check_schema() {
        if (!checksums_) {
            sqlite::Statement v(db_, "PRAGMA user_version");
            problem(std::nullopt, "schema", std::nullopt, std::nullopt,
                    fmt::format("schema version {} has no checksums: open the database for writing once "
                                "(e.g. capdb ingest) to migrate it to version {}",
                                v.step() ? v.i64(0) : 0, store::kSchemaVersion));
        }
    }

    void check_sqlite() {
        try {
            sqlite::Statement st(db_, "PRAGMA integrity_check");
            while (st.step()) {
                const std::string line = st.text(0);
                if (line != "ok") problem(std::nullopt, "sqlite", std::nullopt, std::nullopt, printable(line));
            }
        } catch (const DatabaseError& e) {
            problem(std::nullopt, "sqlite", std::nullopt, std::nullopt, e.what());
        }
    }

    // The schema's tables and indexes as SQLite reads them (column names,
    // types, NOT NULL, defaults, keys; indexed columns) against this
    // version's: a damaged definition SQLite still accepts changes nothing
    // stored, but would change what later writes store.
    void check_definitions() {
        sqlite::Database expected(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY);
        store::create_tables(expected);
        auto shape = [](sqlite::Database& db) {
            std::set<std::string> out;
            sqlite::Statement objects(db,
                                      "SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'");
            sqlite::Statement columns(db, "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)");
            sqlite::Statement indexed(db, "SELECT seqno, name FROM pragma_index_info(?1)");
            while (objects.step()) {
                const std::string type = objects.text(0), name = objects.text(1);
                out.insert(fmt::format("{} {} on {}", type, name, objects.text(2)));
                if (type == "table") {
                    columns.reset().bind(1, std::string_view(name));
                    while (columns.step())
                        out.insert(fmt::format("table {} column {} {} notnull={} default={} pk={}", name,
                                               columns.text(0), columns.text(1), columns.i64(2), columns.text(3),
                                               columns.i64(4)));
                } else if (type == "index") {
                    indexed.reset().bind(1, std::string_view(name));
                    while (indexed.step())
                        out.insert(fmt::format("index {} column {} {}", name, indexed.i64(0), indexed.text(1)));
                }
            }
            return out;
        };
        try {
            const auto want = shape(expected);
            const auto got = shape(db_);
            for (const std::string& w : want)
                if (!got.count(w))
                    problem(std::nullopt, "schema", std::nullopt, std::nullopt, "missing or changed: " + w);
            for (const std::string& g : got)
                if (!want.count(g))
                    problem(std::nullopt, "schema", std::nullopt, std::nullopt, "unexpected: " + printable(g));
        } catch (const DatabaseError& e) {
            problem(std::nullopt, "schema", std::nullopt, std::nullopt, e.what());
        }
    }

    void check_captures() {
        sqlite::Statement st(
            db_,
            fmt::format("SELECT id, packets, ipv4, ipv6, other, malformed, unsupported, bytes, first_ts, last_ts,"
                        " {}, live, source, sha256, coalesce({}, 'file'), file_size FROM captures ORDER BY id",
                        intact(store::kCaptureSealed), has_column("captures", "packets_at") ? "packets_at" : "NULL"));
        bool found = false;
        while (st.step()) {
            const CaptureId id = st.i64(0);
            if (!wanted(id)) continue;
            found = true;
            ++summary_.captures;
            tally_[id];
            if (st.i64(10) == 0) {
                problem(id, "captures", std::nullopt, std::nullopt, "the row does not match its checksum");
                continue;
            }
            Row r;
            auto u = [&](int c) { return static_cast<std::uint64_t>(st.i64(c)); };
            r.counts = {u(1), u(2), u(3), u(4), u(5), u(6), u(7)};
            r.first_ts = st.opt_i64(8);
            r.last_ts = st.opt_i64(9);
            if (st.i64(11) == 0 && st.text(14) == "file" && !st.is_null(13) && !st.is_null(15))
                files_.push_back({id, st.text(12), st.text(13)});
            rows_[id] = r;
        }
        if (request_.capture && !found)
            throw UsageError(fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')",
                                         *request_.capture, printable(path_)));
        if (!has_table("interfaces")) return;
        sqlite::Statement ifs(
            db_, fmt::format("SELECT capture_id, if_index, {} FROM interfaces", intact(store::kInterfaceSealed)));
        while (ifs.step())
            if (wanted(ifs.i64(0)) && ifs.i64(2) == 0)
                problem(ifs.i64(0), "interfaces", std::nullopt, std::nullopt,
                        fmt::format("interface {}: the row does not match its checksum", ifs.i64(1)));
        if (!has_table("live_stats")) return;
        sqlite::Statement samples(
            db_, fmt::format("SELECT capture_id, ts, {} FROM live_stats", intact(store::kLiveStatsSealed)));
        while (samples.step())
            if (wanted(samples.i64(0)) && samples.i64(2) == 0)
                problem(samples.i64(0), "live_stats", std::nullopt, std::nullopt,
                        fmt::format("the sample at {} does not match its checksum", samples.i64(1)));
    }

    void check_blocks() {
        sqlite::Statement st(db_,
                             fmt::format("SELECT id, capture_id, first_seq, packets, pages, ts_min, ts_max, page_index,"
                                         " indexed, {}, {} FROM blocks b ORDER BY capture_id, first_seq",
                                         intact(store::kBlockSealed),
                                         store::has_aggregates(db_) ? "aggregates, aggregate_tables" : "NULL, NULL"));
        sqlite::Statement data(db_, "SELECT data FROM pages WHERE id=?1");
        store::DecodedPage page;
        std::vector<store::PageHit> hits;
        store::AggregateBuilder rebuilt;
        std::vector<bool> seen;
        std::map<CaptureId, std::uint64_t> next_seq;
        while (st.step()) {
            const std::int64_t id = st.i64(0);
            const CaptureId cap = st.i64(1);
            if (!wanted(cap)) continue;
            ++summary_.blocks;
            blocks_.insert(id);
            if (!rows_.count(cap) && !tally_.count(cap))
                problem(cap, "blocks", id, std::nullopt, "its capture has no captures row");
            if (st.i64(9) == 0) {
                problem(cap, "blocks", id, std::nullopt, "the row does not match its checksum");
                unreadable_blocks_.insert(id);
                continue;
            }
            const auto first_seq = static_cast<std::uint64_t>(st.i64(2));
            const auto packets = static_cast<std::uint64_t>(st.i64(3));
            const std::int64_t npages = st.i64(4), ts_min = st.i64(5), ts_max = st.i64(6);
            const bool indexed = st.i64(8) != 0;
            if (auto it = next_seq.find(cap); it != next_seq.end() && first_seq < it->second)
                problem(
                    cap, "blocks", id, std::nullopt,
                    fmt::format("first_seq {} overlaps the previous block (which ends at {})", first_seq, it->second));
            next_seq[cap] = first_seq + packets;
            try {
                store::decode_page_index(st.blob(7), ts_min, store::PageSet{}.set(), hits);
            } catch (const DatabaseError& e) {
                problem(cap, "blocks", id, std::nullopt, fmt::format("page index: {}", e.what()));
                unreadable_blocks_.insert(id);
                continue;
            }
            std::uint64_t indexed_packets = 0;
            for (const auto& h : hits) indexed_packets += h.meta.packets;
            if (static_cast<std::int64_t>(hits.size()) != npages || indexed_packets != packets ||
                packets > store::kMaxBlockRows)
                problem(cap, "blocks", id, std::nullopt,
                        fmt::format("the page index ({} pages, {} packets) disagrees with the row ({} pages, {}"
                                    " packets)",
                                    hits.size(), indexed_packets, npages, packets));
            seen.assign(static_cast<std::size_t>(std::min<std::uint64_t>(packets, store::kMaxBlockRows)), false);
            std::int64_t seen_min = std::numeric_limits<std::int64_t>::max();
            std::int64_t seen_max = std::numeric_limits<std::int64_t>::min();
            CaptureTally& tally = tally_[cap];
            // The block's aggregates (schema 7): checked, decoded, and built
            // again from its pages below.
            std::optional<BlockAggregates> stored;
            bool pages_whole = true;
            if (!st.is_null(10)) {
                const auto body = store::checked_aggregates(id, st.blob(10));
                try {
                    if (!body) throw DatabaseError("they do not match their checksum");
                    std::span<const std::uint8_t> table_frame;
                    if (!st.is_null(11)) {
                        const auto t = store::checked_aggregates(id, st.blob(11), true);
                        if (!t) throw DatabaseError("their tables do not match their checksum");
                        table_frame = *t;
                    }
                    store::decode_aggregates(*body, table_frame, stored.emplace(), true);
                    rebuilt.reset(cap, stored->anchor_ns);
                } catch (const DatabaseError& e) {
                    problem(cap, "blocks", id, std::nullopt, fmt::format("aggregates: {}", e.what()));
                    stored.reset();
                }
            }
            for (const auto& h : hits) {
                ++summary_.pages;
                const std::int64_t page_id = id * kMaxPagesPerBlock + h.number;
                const auto n = std::uint32_t{h.number};
                data.reset().bind(1, page_id);
                if (!data.step()) {
                    problem(cap, "pages", id, n, fmt::format("pages.id {} is missing", page_id));
                    unreadable_pages_.insert({id, n});
                    pages_whole = false;
                    continue;
                }
                auto frame = data.blob(0);
                if (checksums_) {
                    const auto body = store::checked_page(page_id, frame);
                    if (!body) {
                        problem(cap, "pages", id, n, fmt::format("pages.id {} does not match its checksum", page_id));
                        unreadable_pages_.insert({id, n});
                        pages_whole = false;
                        continue;
                    }
                    frame = *body;
                }
                try {
                    page.decode(frame, cap, first_seq);
                } catch (const DatabaseError& e) {
                    problem(cap, "pages", id, n, fmt::format("pages.id {}: {}", page_id, e.what()));
                    unreadable_pages_.insert({id, n});
                    pages_whole = false;
                    continue;
                }
                const auto& rows = page.packets();
                std::int64_t lo = std::numeric_limits<std::int64_t>::max();
                std::int64_t hi = std::numeric_limits<std::int64_t>::min();
                bool bad_seq = false;
                for (const PacketView& p : rows) {
                    lo = std::min(lo, p.ts_ns);
                    hi = std::max(hi, p.ts_ns);
                    const std::uint64_t k = p.seq - first_seq;
                    if (k >= seen.size() || seen[static_cast<std::size_t>(k)])
                        bad_seq = true;
                    else
                        seen[static_cast<std::size_t>(k)] = true;
                    tally.counts.add(p.summary, p.wirelen);
                    if (indexed && p.summary.outer_network != Network::none) {
                        expected_[p.summary.outer_src].insert({id, n});
                        expected_[p.summary.outer_dst].insert({id, n});
                    }
                    if (stored) rebuilt.add(p.summary, p.wirelen, p.ts_ns);
                    if (indexed && (p.summary.network != Network::none || p.summary.arp)) {
                        expected_[p.summary.src].insert({id, n});
                        expected_[p.summary.dst].insert({id, n});
                    }
                }
                if (rows.size() != h.meta.packets || (!rows.empty() && (lo != h.meta.ts_min || hi != h.meta.ts_max)))
                    problem(cap, "pages", id, n,
                            fmt::format("pages.id {}: its {} packets do not match the page index ({} packets)", page_id,
                                        rows.size(), h.meta.packets));
                if (bad_seq)
                    problem(cap, "pages", id, n,
                            fmt::format("pages.id {}: a packet number is outside the block or repeated", page_id));
                seen_min = std::min(seen_min, lo);
                seen_max = std::max(seen_max, hi);
            }
            if (stored && pages_whole) {
                BlockAggregates built;
                rebuilt.finish(built);
                stored->capture = built.capture;
                stored->ts_min = built.ts_min;
                stored->ts_max = built.ts_max;
                if (!(built == *stored))
                    problem(cap, "blocks", id, std::nullopt, "its aggregates do not match its packets");
            }
            if (packets > 0 && (seen_min != ts_min || seen_max != ts_max) && !tally.damaged)
                problem(cap, "blocks", id, std::nullopt, fmt::format("its packets' times do not match ts_min/ts_max"));
            if (!tally.first_ts || ts_min < *tally.first_ts) tally.first_ts = ts_min;
            if (!tally.last_ts || ts_max > *tally.last_ts) tally.last_ts = ts_max;
        }
        if (request_.capture) return;
        // Pages that no block names.
        sqlite::Statement orphans(db_,
                                  "SELECT p.id FROM pages p LEFT JOIN blocks b ON b.id = p.id / 256"
                                  " WHERE b.id IS NULL OR p.id % 256 >= b.pages LIMIT 100");
        while (orphans.step())
            problem(std::nullopt, "pages", orphans.i64(0) / 256, static_cast<std::uint32_t>(orphans.i64(0) % 256),
                    fmt::format("pages.id {} belongs to no block", orphans.i64(0)));
    }

    void check_postings() {
        sqlite::Statement st(db_, "SELECT addr, first_block, blocks FROM postings");
        sqlite::Statement owner(db_, "SELECT capture_id FROM blocks WHERE id=?1");
        std::set<std::pair<Address, PageRef>> found;
        while (st.step()) {
            const std::int64_t first = st.i64(1);
            const auto key = st.blob(0);
            owner.reset().bind(1, first);
            const std::optional<CaptureId> cap = owner.step() ? std::optional<CaptureId>(owner.i64(0)) : std::nullopt;
            if (cap && !wanted(*cap)) continue;
            if (!cap && request_.capture) continue;
            ++summary_.postings;
            Address addr{};
            std::string name;
            if (key.size() == 4) {
                addr = Address::from_v4(key.data());
            } else if (key.size() == 16) {
                addr = Address::from_v6(key.data());
            } else {
                problem(cap, "postings", first, std::nullopt, fmt::format("a {}-byte address key", key.size()));
                continue;
            }
            name = addr.to_string();
            auto list = st.blob(2);
            if (checksums_) {
                const auto body = store::checked_postings(key, first, list);
                if (!body) {
                    problem(cap, "postings", first, std::nullopt,
                            fmt::format("posting list of {} from block {} does not match its checksum", name, first));
                    continue;
                }
                list = *body;
            }
            if (!cap)
                problem(std::nullopt, "postings", first, std::nullopt,
                        fmt::format("posting list of {} starts at block {}, which does not exist", name, first));
            std::vector<PageRef> entries;
            try {
                store::read_postings(list, first, [&](std::int64_t b, std::size_t p) {
                    entries.emplace_back(b, static_cast<std::uint32_t>(p));
                });
            } catch (const DatabaseError& e) {
                problem(cap, "postings", first, std::nullopt,
                        fmt::format("posting list of {} from block {}: {}", name, first, e.what()));
                continue;
            }
            for (const PageRef& e : entries) {
                if (!blocks_.count(e.first)) continue;  // pruned since (ids are never reused)
                // Already reported: what they hold is unknown.
                if (unreadable_blocks_.count(e.first) || unreadable_pages_.count(e)) continue;
                const auto it = expected_.find(addr);
                if (it == expected_.end() || !it->second.count(e)) {
                    problem(cap, "postings", e.first, e.second,
                            fmt::format("posting list of {} from block {} names page {} of block {}, which does not"
                                        " hold {}",
                                        name, first, e.second, e.first, name));
                    continue;
                }
                found.insert({addr, e});
            }
        }
        // Every indexed page of an address is in its postings: else a query by
        // address would miss it.
        std::uint64_t missing = 0;
        for (const auto& [addr, refs] : expected_)
            for (const PageRef& r : refs)
                if (!found.count(std::pair(addr, r)) && ++missing <= 100)
                    problem(block_capture(r.first), "postings", r.first, r.second,
                            fmt::format("no posting list names page {} of block {} for {}", r.second, r.first,
                                        addr.to_string()));
    }

    std::optional<CaptureId> block_capture(std::int64_t block) {
        sqlite::Statement st(db_, "SELECT capture_id FROM blocks WHERE id=?1");
        st.bind(1, block);
        if (st.step()) return st.i64(0);
        return std::nullopt;
    }

    void check_counts() {
        for (const auto& [id, row] : rows_) {
            const CaptureTally& t = tally_[id];
            if (t.damaged) continue;
            const PacketCounts& a = row.counts;
            const PacketCounts& b = t.counts;
            if (std::tie(a.packets, a.ipv4, a.ipv6, a.other, a.malformed, a.unsupported, a.bytes) !=
                std::tie(b.packets, b.ipv4, b.ipv6, b.other, b.malformed, b.unsupported, b.bytes))
                problem(id, "captures", std::nullopt, std::nullopt,
                        fmt::format("the row counts {} packets ({} IPv4, {} IPv6, {} other, {} malformed, {}"
                                    " unsupported, {} bytes); its blocks hold {} ({}, {}, {}, {}, {}, {} bytes)",
                                    a.packets, a.ipv4, a.ipv6, a.other, a.malformed, a.unsupported, a.bytes, b.packets,
                                    b.ipv4, b.ipv6, b.other, b.malformed, b.unsupported, b.bytes));
            if (b.packets > 0 && (row.first_ts != t.first_ts || row.last_ts != t.last_ts))
                problem(id, "captures", std::nullopt, std::nullopt, "first_ts/last_ts do not match its blocks' times");
        }
    }

    void check_segments() {
        if (!store::has_segments_table(db_)) return;
        const std::string dir = store::packet_dir_of(path_);
        for (const auto& [id, row] : rows_) {
            for (const SegmentInfo& s : store::capture_segments(db_, dir, id)) {
                ++summary_.segments;
                struct stat st {};
                if (::stat(s.path.c_str(), &st) != 0)
                    problem(id, "segments", std::nullopt, std::nullopt,
                            fmt::format("segment '{}' is missing", printable(s.path)));
                else if (static_cast<std::uint64_t>(st.st_size) < s.bytes)
                    problem(id, "segments", std::nullopt, std::nullopt,
                            fmt::format("segment '{}' holds {} bytes, less than its {} committed", printable(s.path),
                                        st.st_size, s.bytes));
                else
                    check_segment_records(id, s);
            }
        }
    }

    // The segment's first `packets` records read back, all inside its
    // committed bytes (bytes past them belong to a writer's next commit).
    void check_segment_records(CaptureId id, const SegmentInfo& s) {
        try {
            OfflineReader reader(s.path);
            RawPacket p;
            std::uint64_t n = 0;
            std::int64_t last = -1;
            while (n < s.packets && reader.next(p)) {
                ++n;
                last = p.file_offset;
            }
            if (n < s.packets)
                problem(id, "segments", std::nullopt, std::nullopt,
                        fmt::format("segment '{}' holds {} packets, not the {} committed", printable(s.path), n,
                                    s.packets));
            else if (last >= 0 && static_cast<std::uint64_t>(last) >= s.bytes)
                problem(id, "segments", std::nullopt, std::nullopt,
                        fmt::format("segment '{}': packet {} lies past its {} committed bytes", printable(s.path),
                                    s.first_seq + n - 1, s.bytes));
        } catch (const Error& e) {
            problem(id, "segments", std::nullopt, std::nullopt, e.what());
        }
    }

    void check_files() {
        for (const FileRef& f : files_) {
            ++summary_.files;
            try {
                const std::string got = sha256_file(f.path);
                if (got != f.sha256)
                    problem(f.capture, "file", std::nullopt, std::nullopt,
                            fmt::format("'{}' has SHA-256 {}, not the {} recorded at ingest", printable(f.path), got,
                                        f.sha256));
            } catch (const Error& e) {
                problem(f.capture, "file", std::nullopt, std::nullopt, e.what());
            }
        }
    }

    bool has_table(const char* name) {
        sqlite::Statement st(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?1");
        st.bind(1, std::string_view(name));
        return st.step();
    }
    bool has_column(const char* table, const char* column) {
        sqlite::Statement st(db_, fmt::format("SELECT 1 FROM pragma_table_info('{}') WHERE name=?1", table));
        st.bind(1, std::string_view(column));
        return st.step();
    }

    struct Row {
        PacketCounts counts;
        std::optional<std::int64_t> first_ts, last_ts;
    };
    struct FileRef {
        CaptureId capture;
        std::string path, sha256;
    };

    sqlite::Database& db_;
    std::string path_;
    const VerifyRequest& request_;
    const std::function<void(const VerifyProblem&)>& on_problem_;
    bool checksums_;
    VerifySummary summary_;
    std::map<CaptureId, Row> rows_;  // intact captures rows
    std::map<CaptureId, CaptureTally> tally_;
    std::set<std::int64_t> blocks_;  // the blocks read
    std::set<std::int64_t> unreadable_blocks_;
    std::set<PageRef> unreadable_pages_;
    std::unordered_map<Address, std::set<PageRef>, store::AddressHash> expected_;  // indexed pages by address
    std::vector<FileRef> files_;
};

}  // namespace

VerifySummary verify_database(const std::string& path, const VerifyRequest& request,
                              const std::function<void(const VerifyProblem&)>& on_problem) {
    auto db = store::open_database(path, {.read_only = true, .create = false});
    return Verifier(*db, path, request, on_problem).run();
}

}  // namespace capdb
