#include "store/sqlite/sqlite_store.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <random>

#include <sqlite3.h>

#include "capdb/batch.h"
#include "capdb/error.h"
#include "capdb/store.h"
#include "store/sqlite/sqlite.h"
#include "testutil.h"

namespace capdb {
namespace {

using testing::OwnedPacket;
using testing::TempDir;

struct Row {
    CaptureId capture;
    std::uint64_t seq;
    std::int64_t ts;
    bool operator==(const Row&) const = default;
};

struct Fixture {
    TempDir dir;
    std::string path = dir.file("t.db");
    std::vector<std::vector<OwnedPacket>> captures;  // index = capture id - 1
    std::unique_ptr<Store> store;

    // Writes `count` captures of `n` packets, committed in batches of `batch`.
    void fill(int count, std::size_t n, std::uint32_t batch, std::uint32_t seed) {
        store = open_sqlite_store(path, {.read_only = false, .create = true});
        for (int c = 0; c < count; ++c) {
            // Captures overlap in time so that ordering across captures matters.
            auto packets = testing::random_packets(n, seed + static_cast<std::uint32_t>(c),
                                                   1'600'000'000'000'000'000 + c * 3'000'000);
            for (std::size_t i = 0; i < packets.size(); i += 97) packets[i].view.time_invalid = true;
            CaptureMeta meta;
            meta.source = "cap" + std::to_string(c);
            meta.linktype = 1;
            auto w = store->begin_capture(meta, batch);
            EXPECT_EQ(w->id(), c + 1);
            for (const auto& p : packets) w->append(p.get());
            w->finish(CaptureState::complete, "sha" + std::to_string(c), std::nullopt);
            captures.push_back(std::move(packets));
        }
    }

    // The reference answer: a scan of everything written, sorted.
    std::vector<Row> reference(const Filter& f) const {
        std::vector<Row> out;
        for (std::size_t c = 0; c < captures.size(); ++c)
            for (std::size_t i = 0; i < captures[c].size(); ++i) {
                PacketView v = captures[c][i].get();
                v.capture = static_cast<CaptureId>(c + 1);
                v.seq = i;
                if (matches(f, v)) out.push_back({v.capture, v.seq, v.ts_ns});
            }
        std::sort(out.begin(), out.end(), [](const Row& a, const Row& b) {
            return std::tie(a.ts, a.capture, a.seq) < std::tie(b.ts, b.capture, b.seq);
        });
        if (f.limit && out.size() > *f.limit) out.resize(*f.limit);
        return out;
    }

    std::vector<Row> run(const Filter& f) const {
        std::vector<Row> out;
        store->query(f, [&](const PacketView& p) {
            out.push_back({p.capture, p.seq, p.ts_ns});
            // Every field must be what was written.
            const PacketView& w = captures.at(static_cast<std::size_t>(p.capture - 1)).at(p.seq).view;
            EXPECT_EQ(p.wirelen, w.wirelen);
            EXPECT_EQ(p.file_offset, w.file_offset);
            EXPECT_EQ(p.summary.src_port, w.summary.src_port);
            EXPECT_EQ(p.time_invalid, w.time_invalid);
            return true;
        });
        return out;
    }
};

TEST(SqliteStore, RoundTripInTimeOrder) {
    Fixture fx;
    fx.fill(3, 5000, 700, 1);
    Filter all;
    const auto got = fx.run(all);
    EXPECT_EQ(got.size(), 15000u);
    EXPECT_EQ(got, fx.reference(all));
    EXPECT_EQ(fx.store->count(all), 15000u);
    auto caps = fx.store->captures();
    ASSERT_EQ(caps.size(), 3u);
    EXPECT_EQ(caps[0].state, CaptureState::complete);
    EXPECT_EQ(caps[0].counts.packets, 5000u);
    EXPECT_EQ(caps[0].sha256, "sha0");
    const auto& c = caps[0].counts;  // every packet in exactly one kind
    EXPECT_EQ(c.ipv4 + c.ipv6 + c.other + c.malformed + c.unsupported, 5000u);
    EXPECT_GT(c.malformed, 0u);
}

// Differential test: random filters against a scan of the same packets.
TEST(SqliteStore, RandomFiltersMatchReference) {
    Fixture fx;
    fx.fill(2, 6000, 1500, 9);
    std::mt19937 rng(1234);
    const std::int64_t t0 = 1'600'000'000'000'000'000;
    const char* prefixes[] = {"10.0.0.5",      "10.0.0.0/24", "10.0.1.0/24", "10.0.0.0/8", "2001:db8::7",
                              "2001:db8::/32", "0.0.0.0/0",   "::/0",        "192.0.2.1",  "10.0.0.17/32"};
    for (int round = 0; round < 300; ++round) {
        Filter f;
        if (rng() % 3 == 0) f.from_ns = t0 + static_cast<std::int64_t>(rng() % 6'000'000'000ull);
        if (rng() % 3 == 0) f.to_ns = f.from_ns.value_or(t0) + static_cast<std::int64_t>(rng() % 2'000'000'000ull);
        if (rng() % 3 == 0) f.also(Expr::address(*parse_prefix(prefixes[rng() % std::size(prefixes)]), Dir::src));
        if (rng() % 4 == 0) f.also(Expr::address(*parse_prefix(prefixes[rng() % std::size(prefixes)]), Dir::dst));
        if (rng() % 4 == 0) f.also(Expr::address(*parse_prefix(prefixes[rng() % std::size(prefixes)]), Dir::either));
        if (rng() % 5 == 0) {
            const std::uint16_t port = rng() % 2 ? 443 : 53;
            f.also(Expr::port(port, port, Dir::either));
        }
        if (rng() % 8 == 0) f.also(Expr::port(443, 443, Dir::src));
        if (rng() % 8 == 0) f.also(Expr::port(53, 53, Dir::dst));
        if (rng() % 5 == 0) f.also(Expr::ip_proto(rng() % 2 ? 6 : 1));
        if (rng() % 6 == 0) f.capture = 1 + rng() % 2;
        if (rng() % 5 == 0) f.limit = rng() % 50;
        SCOPED_TRACE(round);
        const auto expected = fx.reference(f);
        EXPECT_EQ(fx.run(f), expected);
        EXPECT_EQ(fx.store->count(f), expected.size());
        // scan(): the same packets (all of them: it ignores the limit), in
        // its own order.
        Filter unlimited = f;
        unlimited.limit.reset();
        auto all = fx.reference(unlimited);
        std::vector<Row> scanned;
        fx.store->scan(f, [&](const PacketView& p) {
            scanned.push_back({p.capture, p.seq, p.ts_ns});
            return true;
        });
        std::sort(scanned.begin(), scanned.end(), [](const Row& a, const Row& b) {
            return std::tie(a.ts, a.capture, a.seq) < std::tie(b.ts, b.capture, b.seq);
        });
        EXPECT_EQ(scanned, all);
    }
}

// While a capture is being written, its newest blocks are committed before
// their postings; address queries must still find their packets.
TEST(SqliteStore, ExactWhilePostingsLag) {
    Fixture fx;
    fx.store = open_sqlite_store(fx.path, {.read_only = false, .create = true});
    auto packets = testing::random_packets(1000, 21);
    CaptureMeta meta;
    meta.source = "live";
    auto w = fx.store->begin_capture(meta, 10);  // 100 blocks: more than one postings segment
    for (const auto& p : packets) w->append(p.get());
    w->request_commit();
    fx.captures.push_back(packets);
    auto reader = open_sqlite_store(fx.path, {.read_only = true, .create = false});
    for (int i = 0; i < 400 && reader->count(Filter{}) < 1000; ++i) ::usleep(5000);
    ASSERT_EQ(reader->count(Filter{}), 1000u);
    std::swap(fx.store, reader);
    for (const char* a : {"10.0.0.5", "10.0.0.0/24", "2001:db8::/32"}) {
        Filter f;
        f.also(Expr::address(*parse_prefix(a), Dir::either));
        EXPECT_EQ(fx.run(f), fx.reference(f)) << a;
    }
    std::swap(fx.store, reader);
    w->finish(CaptureState::complete, "x", std::nullopt);
    Filter f;
    f.also(Expr::address(*parse_prefix("10.0.0.0/24"), Dir::src));
    EXPECT_EQ(fx.run(f), fx.reference(f));
}

// An address query reads the pages the postings name, a time query the
// pages of the blocks in its range: both far fewer than the store holds.
TEST(SqliteStore, AddressAndTimeQueriesReadFewPages) {
    Fixture fx;
    fx.fill(1, 100000, 2000, 2);  // 50 blocks of 8 pages
    Filter after_epoch;           // time only, before every packet: the block sums answer
    after_epoch.from_ns = 0;
    EXPECT_EQ(fx.store->count(after_epoch), 100000u);
    EXPECT_EQ(store::last_query_stats(*fx.store).pages, 0u);
    EXPECT_EQ(fx.run(Filter{}).size(), 100000u);
    const std::uint64_t total = store::last_query_stats(*fx.store).pages;
    ASSERT_GE(total, 50u * 7);

    Filter by_addr;
    by_addr.also(Expr::address(*parse_prefix("10.0.1.20"), Dir::either));  // a destination in about 1 packet of 375
    const auto rows = fx.run(by_addr);
    EXPECT_EQ(rows, fx.reference(by_addr));
    ASSERT_GT(rows.size(), 100u);
    const auto addr_stats = store::last_query_stats(*fx.store);
    EXPECT_LT(addr_stats.pages * 4, total) << addr_stats.pages << " of " << total;
    EXPECT_EQ(fx.store->count(by_addr), rows.size());
    EXPECT_LT(store::last_query_stats(*fx.store).pages * 4, total);

    Filter by_time;
    by_time.from_ns = 1'600'000'020'000'000'000;
    by_time.to_ns = 1'600'000'021'000'000'000;
    const auto in_time = fx.run(by_time);
    EXPECT_EQ(in_time, fx.reference(by_time));
    ASSERT_GT(in_time.size(), 100u);
    const auto time_stats = store::last_query_stats(*fx.store);
    EXPECT_LE(time_stats.blocks, 3u);
    EXPECT_LT(time_stats.pages * 10, total) << time_stats.pages << " of " << total;
    // --count reads only the pages that straddle the range's ends.
    EXPECT_EQ(fx.store->count(by_time), in_time.size());
    EXPECT_LT(store::last_query_stats(*fx.store).pages * 10, total);
}

void set_pragma(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
}

// The message of the DatabaseError a count of store throws ("" if none).
std::string count_error(Store& store, const Filter& f) {
    try {
        (void)store.count(f);
    } catch (const DatabaseError& e) {
        return e.what();
    }
    return {};
}

// The message of the DatabaseError a query of store throws ("" if none).
std::string query_error(Store& store, const Filter& f) {
    try {
        store.query(f, [](const PacketView&) { return true; });
    } catch (const DatabaseError& e) {
        return e.what();
    }
    return {};
}

// Runs sql on the database through capdb's own connection, which has the
// checksum functions (capdb_check, capdb_trailer): to reseal what it changes.
void exec_sealed(const std::string& path, const std::string& sql) {
    sqlite::Database db(path, SQLITE_OPEN_READWRITE);
    db.exec(sql);
}

// A damaged stored structure (its bytes no longer match its checksum) is an
// error that names the database, the capture and the structure: the page
// (its block and number), the block row, the posting list (its address and
// segment).
TEST(SqliteStore, DamagedStructuresAreNamed) {
    Fixture fx;
    fx.fill(1, 3000, 1000, 4);
    fx.store.reset();
    const std::string clean = fx.path + ".clean";
    std::filesystem::copy_file(fx.path, clean);
    auto reopen_after = [&](const std::string& sql) {
        fx.store.reset();
        std::filesystem::copy_file(clean, fx.path, std::filesystem::copy_options::overwrite_existing);
        set_pragma(fx.path, sql.c_str());
        fx.store = open_sqlite_store(fx.path, {.read_only = true, .create = false});
    };
    // One byte of a page's first zstd frame (changed, whatever it was).
    reopen_after(
        "UPDATE pages SET data = substr(data, 1, 9) || iif(substr(data, 10, 1) = x'00', x'ff', x'00') ||"
        " substr(data, 11) WHERE id = 2 * 256 + 1");
    const std::string page = query_error(*fx.store, Filter{});
    EXPECT_NE(page.find("'" + fx.path + "'"), std::string::npos) << page;
    EXPECT_NE(page.find("capture 1: page 1 of block 2 (pages.id 513)"), std::string::npos) << page;
    EXPECT_NE(page.find("does not match its checksum"), std::string::npos) << page;
    Filter wide;
    wide.also(Expr::address(*parse_prefix("0.0.0.0/0"), Dir::either));
    EXPECT_NE(count_error(*fx.store, wide), "");
    // A block row's time range.
    reopen_after("UPDATE blocks SET ts_max = ts_max + 1 WHERE id = 3");
    const std::string block = query_error(*fx.store, Filter{});
    EXPECT_NE(block.find("capture 1: block 3: its blocks row does not match its checksum"), std::string::npos) << block;
    EXPECT_NE(count_error(*fx.store, Filter{}), "") << "a count reads the rows it sums";
    // A posting list.
    reopen_after("UPDATE postings SET blocks = x'01' || blocks WHERE addr = x'0a000005'");
    Filter by_host;
    by_host.also(Expr::address(*parse_prefix("10.0.0.5"), Dir::either));
    const std::string postings = query_error(*fx.store, by_host);
    EXPECT_NE(postings.find("capture 1: posting list of 10.0.0.5 from block 1"), std::string::npos) << postings;
    EXPECT_NE(postings.find("does not match its checksum"), std::string::npos) << postings;
    // A page the block names is gone.
    reopen_after("DELETE FROM pages WHERE id = 2 * 256");
    EXPECT_NE(query_error(*fx.store, Filter{}).find("page 0 of block 2 (pages.id 512): its pages row is missing"),
              std::string::npos);
    // A query that reads none of them still answers.
    Filter other;
    other.also(Expr::address(*parse_prefix("10.0.1.20"), Dir::either));
    other.to_ns = 1'600'000'000'500'000'000;
    EXPECT_EQ(query_error(*fx.store, other), "");
}

// Behind the checksums, the decoders still check what they read: damage
// resealed with a valid checksum (as a bug could write it) is named too.
TEST(SqliteStore, CorruptStructuresBehindValidChecksumsAreNamed) {
    Fixture fx;
    fx.fill(1, 3000, 1000, 4);
    fx.store.reset();
    auto reopen_after = [&](const std::string& sql) {
        fx.store.reset();
        exec_sealed(fx.path, sql);
        fx.store = open_sqlite_store(fx.path, {.read_only = true, .create = false});
    };
    reopen_after("UPDATE pages SET data = x'28b52ffd00' || capdb_trailer(id, x'28b52ffd00') WHERE id = 2 * 256 + 1");
    const std::string page = query_error(*fx.store, Filter{});
    EXPECT_NE(page.find("page 1 of block 2"), std::string::npos) << page;
    EXPECT_NE(page.find("corrupt packet page"), std::string::npos) << page;
    reopen_after(
        "UPDATE blocks SET page_index = x'ff', checksum = capdb_check(id, capture_id, first_seq, packets, pages,"
        " ts_min, ts_max, x'ff') WHERE id = 3");
    const std::string index = query_error(*fx.store, Filter{});
    EXPECT_NE(index.find("page index of block 3"), std::string::npos) << index;
    reopen_after(
        "UPDATE postings SET blocks = x'ffffffffffffffffff01' || substr(blocks, 1, length(blocks) - 4) WHERE addr ="
        " x'0a000005'; UPDATE postings SET blocks = blocks || capdb_trailer(addr, first_block, blocks) WHERE addr ="
        " x'0a000005'");
    Filter by_host;
    by_host.also(Expr::address(*parse_prefix("10.0.0.5"), Dir::either));
    const std::string postings = query_error(*fx.store, by_host);
    EXPECT_NE(postings.find("posting list of 10.0.0.5 from block 1"), std::string::npos) << postings;
    EXPECT_NE(postings.find("block number out of range"), std::string::npos) << postings;
}

// With a damage handler (query --skip-damaged) a query goes on without the
// damaged structure, names it, and returns every other row.
TEST(SqliteStore, SkipDamagedLeavesOutOnlyTheDamagedPage) {
    Fixture fx;
    fx.fill(1, 3000, 1000, 4);
    fx.store.reset();
    set_pragma(fx.path,
               "UPDATE pages SET data = substr(data, 1, 9) || iif(substr(data, 10, 1) = x'00', x'ff', x'00') ||"
               " substr(data, 11) WHERE id = 513");
    std::vector<std::string> skipped;
    auto s = open_sqlite_store(fx.path, {.read_only = true, .create = false, .on_damaged = [&](const std::string& w) {
                                             skipped.push_back(w);
                                         }});
    std::vector<Row> got;
    s->query(Filter{}, [&](const PacketView& p) {
        got.push_back({p.capture, p.seq, p.ts_ns});
        return true;
    });
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_NE(skipped[0].find("capture 1: page 1 of block 2 (pages.id 513)"), std::string::npos) << skipped[0];
    // Everything else is there: the reference less the rows of one page.
    const auto all = fx.reference(Filter{});
    EXPECT_EQ(got.size(), all.size() - 256);
    EXPECT_TRUE(std::includes(all.begin(), all.end(), got.begin(), got.end(), [](const Row& a, const Row& b) {
        return std::tie(a.ts, a.capture, a.seq) < std::tie(b.ts, b.capture, b.seq);
    }));
}

TEST(SqliteStore, DuplicatesAndUnfinishedCaptures) {
    Fixture fx;
    fx.fill(1, 100, 10, 3);
    EXPECT_TRUE(fx.store->find_by_sha256("sha0").has_value());
    EXPECT_FALSE(fx.store->find_by_sha256("nope").has_value());

    // A capture abandoned mid-way (as after a crash) keeps its committed
    // prefix until the same source is ingested again.
    CaptureMeta meta;
    meta.source = "/x.pcap";
    {
        auto w = fx.store->begin_capture(meta, 10);
        auto packets = testing::random_packets(35, 4);
        for (const auto& p : packets) w->append(p.get());
        w->request_commit();
        w->fail("interrupted");
    }
    Filter second;
    second.capture = 2;
    EXPECT_EQ(fx.store->count(second), 35u);
    EXPECT_EQ(fx.store->remove_unfinished("/x.pcap"), 1u);
    EXPECT_EQ(fx.store->count(second), 0u);
    EXPECT_EQ(fx.store->count(Filter{}), 100u);
    EXPECT_EQ(fx.store->captures().size(), 1u);
}

// A stopped capture with a recorded committed prefix is offered for
// resuming; resumed, it continues after its committed packets, with its
// counts, and ends as one capture.
TEST(SqliteStore, ResumedCaptureContinuesAfterItsCommittedPackets) {
    Fixture fx;
    fx.store = open_sqlite_store(fx.path, {.read_only = false, .create = true});
    const auto packets = testing::random_packets(50, 8);
    CaptureMeta meta;
    meta.source = "/grow.pcap";
    meta.linktype = 1;
    meta.file_size = 1000;
    {
        auto w = fx.store->begin_capture(meta, 7);
        for (std::size_t i = 0; i < 30; ++i) w->append(packets[i].get());
        w->fail("truncated", "aa");
    }
    EXPECT_FALSE(fx.store->resume_point("/grow.pcap")) << "no committed prefix recorded yet";
    fx.store->set_resume_point(1, 900, "bb");
    EXPECT_FALSE(fx.store->resume_point("/other.pcap"));
    auto point = fx.store->resume_point("/grow.pcap");
    ASSERT_TRUE(point);
    EXPECT_EQ(point->capture.id, 1);
    EXPECT_EQ(point->bytes, 900u);
    EXPECT_EQ(point->sha256, "bb");
    EXPECT_EQ(point->capture.counts.packets, 30u);
    // A damaged row resumes nothing (and does not fail the ingest): the
    // capture is then removed as an unfinished one.
    fx.store.reset();
    const std::string intact = fx.path + ".intact";
    std::filesystem::copy_file(fx.path, intact);
    set_pragma(fx.path, "UPDATE captures SET prefix_sha256 = 'bc' WHERE id = 1");
    fx.store = open_sqlite_store(fx.path, {.read_only = false, .create = true});
    EXPECT_FALSE(fx.store->resume_point("/grow.pcap"));
    fx.store.reset();
    std::filesystem::copy_file(intact, fx.path, std::filesystem::copy_options::overwrite_existing);
    fx.store = open_sqlite_store(fx.path, {.read_only = false, .create = true});

    meta.file_size = 2000;
    meta.file_mtime_ns = 42;
    {
        auto w = fx.store->resume_capture(point->capture, meta, 7, kFileQueueBytes);
        EXPECT_EQ(w->id(), 1);
        EXPECT_FALSE(fx.store->resume_point("/grow.pcap")) << "a resumed capture is running, its prefix cleared";
        EXPECT_EQ(fx.store->remove_unfinished("/grow.pcap"), 0u) << "the resumed capture is not a leftover";
        for (std::size_t i = 30; i < 50; ++i) w->append(packets[i].get());
        w->finish(CaptureState::complete, "cc", std::nullopt);
    }
    const auto caps = fx.store->captures();
    ASSERT_EQ(caps.size(), 1u);
    EXPECT_EQ(caps[0].state, CaptureState::complete);
    EXPECT_EQ(caps[0].counts.packets, 50u);
    EXPECT_EQ(caps[0].sha256, "cc");
    EXPECT_TRUE(caps[0].error.empty());
    EXPECT_EQ(caps[0].meta.file_size, 2000u);
    EXPECT_EQ(caps[0].meta.file_mtime_ns, 42);
    std::int64_t first = std::numeric_limits<std::int64_t>::max(), last = std::numeric_limits<std::int64_t>::min();
    for (const auto& p : packets) {
        first = std::min(first, p.view.ts_ns);
        last = std::max(last, p.view.ts_ns);
    }
    EXPECT_EQ(caps[0].first_ts_ns, first);
    EXPECT_EQ(caps[0].last_ts_ns, last);
    std::vector<std::uint64_t> seqs;
    fx.store->query(Filter{}, [&](const PacketView& p) {
        EXPECT_EQ(p.capture, 1);
        EXPECT_EQ(p.ts_ns, packets.at(p.seq).view.ts_ns);
        seqs.push_back(p.seq);
        return true;
    });
    std::sort(seqs.begin(), seqs.end());
    std::vector<std::uint64_t> want(50);
    for (std::uint64_t i = 0; i < 50; ++i) want[i] = i;
    EXPECT_EQ(seqs, want);
}

TEST(SqliteStore, RelocateSetsSourceAndMtime) {
    Fixture fx;
    fx.fill(1, 10, 10, 3);
    fx.store->relocate_capture(1, "/new/place.pcap", 77);
    const auto c = fx.store->capture(1);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->meta.source, "/new/place.pcap");
    EXPECT_EQ(c->meta.file_mtime_ns, 77);
    EXPECT_EQ(c->counts.packets, 10u);
}

TEST(SqliteStore, RequestedCommitMakesPacketsVisibleBeforeFinish) {
    Fixture fx;
    fx.store = open_sqlite_store(fx.path, {.read_only = false, .create = true});
    CaptureMeta meta;
    meta.source = "lo";
    meta.live = true;
    auto w = fx.store->begin_capture(meta, 100000);
    auto packets = testing::random_packets(10, 5);
    for (const auto& p : packets) w->append(p.get());
    w->request_commit();
    auto reader = open_sqlite_store(fx.path, {.read_only = true, .create = false});
    std::uint64_t seen = 0;
    for (int i = 0; i < 200 && seen < 10; ++i) {
        seen = reader->count(Filter{});
        if (seen < 10) ::usleep(5000);
    }
    EXPECT_EQ(seen, 10u);
    w->finish(CaptureState::complete, "", LiveStats{10, 0, 0});
    auto info = reader->capture(1);
    ASSERT_TRUE(info);
    ASSERT_TRUE(info->live_stats);
    EXPECT_EQ(info->live_stats->received, 10u);
}

// While the storage thread is stuck in a commit (here: another connection
// holds the write lock), appending within the queue's bound and asking for
// commits return at once: a live capture never waits for a commit.
TEST(SqliteStore, AppendAndCommitRequestsDoNotWaitForACommit) {
    Fixture fx;
    fx.store = open_sqlite_store(fx.path, {.read_only = false, .create = true});
    CaptureMeta meta;
    meta.source = "lo";
    meta.live = true;
    auto w = fx.store->begin_capture(meta, 100000, std::size_t{64} << 20);
    sqlite3* blocker = nullptr;
    ASSERT_EQ(sqlite3_open(fx.path.c_str(), &blocker), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    const auto packets = testing::random_packets(20 * kBatchPackets, 6);
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < packets.size(); i += kBatchPackets) {
        PacketBatch batch = w->spare_batch();
        for (std::size_t k = i; k < i + kBatchPackets; ++k) batch.add(packets[k].get());
        w->append(std::move(batch));
        w->request_commit();
    }
    // The storage thread waits for the lock (up to its 30 s busy timeout):
    // had append() or request_commit() waited for it, this took that long.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_EQ(fx.store->count(Filter{}), 0u);  // nothing could commit meanwhile
    ASSERT_EQ(sqlite3_exec(blocker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(blocker);
    w->finish(CaptureState::complete, "", LiveStats{});
    EXPECT_EQ(fx.store->count(Filter{}), packets.size());
}

}  // namespace
}  // namespace capdb
