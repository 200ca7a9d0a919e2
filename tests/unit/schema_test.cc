#include "store/sqlite/schema.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>

#include <fmt/format.h>
#include <sqlite3.h>

#include "capdb/error.h"
#include "capdb/store.h"
#include "capdb/verify.h"
#include "testutil.h"

namespace capdb {
namespace {

using testing::TempDir;

TEST(Schema, MissingDatabaseIsNotCreated) {
    TempDir dir;
    const std::string path = dir.file("none.db");
    EXPECT_THROW(open_sqlite_store(path, {.read_only = true, .create = false}), DatabaseError);
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Schema, CreatedPrivate) {
    TempDir dir;
    const std::string path = dir.file("p.db");
    open_sqlite_store(path, {.read_only = false, .create = true});
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

void set_pragma(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
}

std::string file_bytes(const std::string& path) {
    std::string out;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    std::fclose(f);
    return out;
}

std::string journal_mode(const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
    std::string mode;
    if (sqlite3_step(st) == SQLITE_ROW) mode = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return mode;
}

// Opening a database that capdb refuses must leave it exactly as it was:
// not a byte changed, and its journal mode kept.
void expect_refused_untouched(const std::string& path, const std::string& message) {
    ASSERT_EQ(journal_mode(path), "delete");
    const std::string before = file_bytes(path);
    for (bool read_only : {false, true}) {
        try {
            open_sqlite_store(path, {.read_only = read_only, .create = !read_only});
            ADD_FAILURE() << path << " opened";
        } catch (const DatabaseError& e) {
            EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
            EXPECT_EQ(e.code(), Exit::database);
        }
    }
    EXPECT_TRUE(file_bytes(path) == before) << path << " changed";
    EXPECT_EQ(journal_mode(path), "delete");
    EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

// A capdb database in rollback-journal mode (as a copy made by another
// tool may be) with user_version set.
// Takes a current database back to version 3's tables and columns.
constexpr const char* kDropVersion4 =
    "ALTER TABLE captures DROP COLUMN packets_at; DROP TABLE segments; DROP TABLE high_water;"
    " ALTER TABLE captures DROP COLUMN committed_bytes; ALTER TABLE captures DROP COLUMN prefix_sha256;"
    " DROP TABLE interfaces";

// Takes a current database back to version 4's tables, columns and blobs
// (no checksums: no checksum columns, no trailers).
constexpr const char* kDropVersion5 =
    "ALTER TABLE captures DROP COLUMN checksum; ALTER TABLE blocks DROP COLUMN checksum;"
    " ALTER TABLE interfaces DROP COLUMN checksum; UPDATE pages SET data = substr(data, 1, length(data) - 4);"
    " UPDATE postings SET blocks = substr(blocks, 1, length(blocks) - 4)";

std::string capdb_database_of_version(const TempDir& dir, const std::string& name, int version) {
    const std::string path = dir.file(name);
    {
        auto s = open_sqlite_store(path, {.read_only = false, .create = true});
        CaptureMeta meta;
        meta.source = "x";
        auto w = s->begin_capture(meta, 10);
        for (const auto& p : testing::random_packets(30, 2)) w->append(p.get());
        w->finish(CaptureState::complete, "x", std::nullopt);
    }
    set_pragma(path, "PRAGMA journal_mode=DELETE");
    if (version < 7)
        set_pragma(path, "ALTER TABLE blocks DROP COLUMN aggregates; ALTER TABLE blocks DROP COLUMN aggregate_tables");
    if (version < 5) set_pragma(path, kDropVersion5);
    set_pragma(path, fmt::format("PRAGMA user_version={}", version).c_str());
    return path;
}

TEST(Schema, RefusesNewerSchemaAndForeignDatabasesWithoutWriting) {
    TempDir dir;
    expect_refused_untouched(capdb_database_of_version(dir, "n.db", store::kSchemaVersion + 1), "newer capdb");
    const std::string other = dir.file("other.db");
    set_pragma(other, "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
    expect_refused_untouched(other, "not a capdb database");
}

// Schema version 1 databases may hold pages of formats that this capdb
// does not read: they are refused with what to do, and left alone.
TEST(Schema, RefusesOlderSchemaWithoutWriting) {
    TempDir dir;
    const std::string path = capdb_database_of_version(dir, "v1.db", 1);
    expect_refused_untouched(path, "has schema version 1, written by an older capdb; re-ingest its captures");
}

std::int64_t user_version(const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
    std::int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

// A version-2 database: read as it is by a read-only open (never written),
// migrated to version 3 by a writing one, its captures kept.
TEST(Schema, Version2IsReadAsItIsAndMigratedOnlyWhenWritten) {
    TempDir dir;
    const std::string path = capdb_database_of_version(dir, "v2.db", 2);
    set_pragma(path,
               "ALTER TABLE captures DROP COLUMN file_mtime; ALTER TABLE captures DROP COLUMN ts_precision;"
               " ALTER TABLE captures DROP COLUMN packets_at; DROP TABLE segments; DROP TABLE high_water;"
               " ALTER TABLE captures DROP COLUMN committed_bytes; ALTER TABLE captures DROP COLUMN prefix_sha256");
    const std::string before = file_bytes(path);
    {
        auto s = open_sqlite_store(path, {.read_only = true, .create = false});
        const auto caps = s->captures();
        ASSERT_EQ(caps.size(), 1u);
        EXPECT_FALSE(caps[0].meta.file_mtime_ns);
        EXPECT_FALSE(caps[0].meta.ts_precision);
        EXPECT_EQ(caps[0].counts.packets, 30u);
    }
    EXPECT_TRUE(file_bytes(path) == before) << "a read-only open changed the version-2 database";
    EXPECT_EQ(user_version(path), 2);
    {
        auto s = open_sqlite_store(path, {.read_only = false, .create = true});
        CaptureMeta meta;
        meta.source = "y";
        meta.file_mtime_ns = 1234;
        meta.ts_precision = 9;
        auto w = s->begin_capture(meta, 10);
        w->finish(CaptureState::complete, "y", std::nullopt);
    }
    EXPECT_EQ(user_version(path), store::kSchemaVersion);
    auto s = open_sqlite_store(path, {.read_only = true, .create = false});
    const auto caps = s->captures();
    ASSERT_EQ(caps.size(), 2u);
    EXPECT_FALSE(caps[0].meta.file_mtime_ns);
    EXPECT_EQ(caps[0].counts.packets, 30u);
    EXPECT_EQ(caps[1].meta.file_mtime_ns, 1234);
    EXPECT_EQ(caps[1].meta.ts_precision, 9u);
}

// A version-3 database in dir, opened read-only for check, which must leave
// its bytes as they were; returns its path.
std::string version3_read_as_it_is(TempDir& dir, const std::function<void(Store&)>& check) {
    const std::string path = capdb_database_of_version(dir, "v3.db", 3);
    set_pragma(path, kDropVersion4);
    const std::string before = file_bytes(path);
    {
        auto s = open_sqlite_store(path, {.read_only = true, .create = false});
        check(*s);
    }
    EXPECT_TRUE(file_bytes(path) == before) << "a read-only open changed the version-3 database";
    EXPECT_EQ(user_version(path), 3);
    return path;
}

// A version-3 database (no packet store): read as it is, its captures'
// packets where they were ('none' without a file size), and migrated to 4
// (segments, packets_at) only by a writing open.
TEST(Schema, Version3IsReadWithoutPacketStoreAndMigratedWhenWritten) {
    TempDir dir;
    const std::string path = version3_read_as_it_is(dir, [](Store& s) {
        const auto caps = s.captures();
        ASSERT_EQ(caps.size(), 1u);
        EXPECT_EQ(caps[0].meta.packets_at, PacketsAt::none);  // no file size
        EXPECT_EQ(caps[0].store_bytes, 0u);
        EXPECT_TRUE(s.segments(caps[0].id).empty());
    });
    {
        auto s = open_sqlite_store(path, {.read_only = false, .create = true});
        CaptureMeta meta;
        meta.source = "y";
        meta.packets_at = PacketsAt::none;
        auto w = s->begin_capture(meta, 10);
        w->finish(CaptureState::complete, "y", std::nullopt);
    }
    EXPECT_EQ(user_version(path), store::kSchemaVersion);
    auto s = open_sqlite_store(path, {.read_only = true, .create = false});
    const auto caps = s->captures();
    ASSERT_EQ(caps.size(), 2u);
    EXPECT_EQ(caps[0].meta.packets_at, PacketsAt::none);
    EXPECT_EQ(caps[1].meta.packets_at, PacketsAt::none);
}

// A version-3 database (no committed prefix columns): read as it is by a
// read-only open, migrated to version 4 by a writing one.
TEST(Schema, Version3WithoutResumeColumnsIsReadAsItIsAndMigratedOnlyWhenWritten) {
    TempDir dir;
    const std::string path = version3_read_as_it_is(dir, [](Store& s) {
        const auto caps = s.captures();
        ASSERT_EQ(caps.size(), 1u);
        EXPECT_EQ(caps[0].counts.packets, 30u);
    });
    {
        auto s = open_sqlite_store(path, {.read_only = false, .create = true});
        EXPECT_EQ(user_version(path), store::kSchemaVersion);
        s->set_resume_point(1, 10, "ab");  // the new columns exist
        EXPECT_FALSE(s->resume_point("x")) << "a complete capture does not resume";
        EXPECT_EQ(s->captures().at(0).counts.packets, 30u);
    }
}

}  // namespace
}  // namespace capdb

namespace capdb {
namespace {

// A version-3 database (no interfaces table) reads as it is, its captures
// without interfaces, and gains the table when opened for writing.
TEST(Schema, Version3IsReadAsItIsAndMigratedOnlyWhenWritten) {
    TempDir dir;
    const std::string path = version3_read_as_it_is(dir, [](Store& s) {
        EXPECT_TRUE(s.interfaces(1).empty());
        EXPECT_EQ(s.captures().size(), 1u);
    });
    {
        auto s = open_sqlite_store(path, {.read_only = false, .create = true});
        CaptureMeta meta;
        meta.source = "y";
        auto w = s->begin_capture(meta, 10);
        PacketBatch batch;
        batch.interfaces.push_back({0, "eth0", "uplink", 1, 1500, 9});
        for (const auto& p : testing::random_packets(3, 4)) batch.add(p.get());
        w->append(std::move(batch));
        w->finish(CaptureState::complete, "y", std::nullopt);
    }
    EXPECT_EQ(user_version(path), store::kSchemaVersion);
    auto s = open_sqlite_store(path, {.read_only = true, .create = false});
    EXPECT_TRUE(s->interfaces(1).empty());
    const auto ifaces = s->interfaces(2);
    ASSERT_EQ(ifaces.size(), 1u);
    EXPECT_EQ(ifaces[0].name, "eth0");
    EXPECT_EQ(ifaces[0].description, "uplink");
    EXPECT_EQ(ifaces[0].linktype, 1u);
    EXPECT_EQ(ifaces[0].snaplen, 1500u);
    EXPECT_EQ(ifaces[0].ts_precision, 9u);
}

}  // namespace
}  // namespace capdb

namespace capdb {
namespace {

std::uint64_t count_all(Store& s) {
    std::uint64_t n = 0;
    s.query(Filter{}, [&](const PacketView&) { return ++n, true; });
    return n;
}

// A version-4 database (no checksums) reads as it is, unverified, by a
// read-only open, which verify reports; a writing open migrates it to 5,
// computing every checksum from what is stored, after which verify is clean
// and damage is detected.
TEST(Schema, Version4IsMigratedToChecksums) {
    TempDir dir;
    const std::string path = capdb_database_of_version(dir, "v4.db", 4);
    const std::string before = file_bytes(path);
    {
        auto s = open_sqlite_store(path, {.read_only = true, .create = false});
        EXPECT_EQ(count_all(*s), 30u);
        Filter f;
        f.also(Expr::address(*parse_prefix("0.0.0.0/0"), Dir::either));
        std::uint64_t n = 0;
        s->query(f, [&](const PacketView&) { return ++n, true; });
        EXPECT_GT(n, 0u);
        EXPECT_EQ(s->count(f), n);
        std::vector<std::string> problems;
        verify_database(path, {}, [&](const VerifyProblem& p) { problems.push_back(p.table + ": " + p.what); });
        ASSERT_EQ(problems.size(), 1u);
        EXPECT_NE(problems[0].find("schema: schema version 4 has no checksums"), std::string::npos) << problems[0];
    }
    EXPECT_TRUE(file_bytes(path) == before) << "a read-only open changed the version-4 database";
    open_sqlite_store(path, {.read_only = false, .create = true});
    EXPECT_EQ(user_version(path), store::kSchemaVersion);
    {
        auto s = open_sqlite_store(path, {.read_only = true, .create = false});
        EXPECT_EQ(count_all(*s), 30u);
        EXPECT_EQ(s->captures().at(0).counts.packets, 30u);
        std::vector<std::string> problems;
        const auto summary =
            verify_database(path, {}, [&](const VerifyProblem& p) { problems.push_back(p.table + ": " + p.what); });
        EXPECT_TRUE(problems.empty()) << problems.front();
        EXPECT_EQ(summary.captures, 1u);
        EXPECT_GT(summary.postings, 0u);
    }
    set_pragma(path, "UPDATE captures SET packets = 31");
    auto s = open_sqlite_store(path, {.read_only = true, .create = false});
    EXPECT_THROW((void)s->captures(), DatabaseError);
}

// Blocks offered as aggregates and rows read, by Store::scan_aggregates.
std::pair<std::uint64_t, std::uint64_t> aggregates_and_rows(Store& s) {
    std::uint64_t blocks = 0, rows = 0;
    s.scan_aggregates(
        Filter{}, true, [&](const BlockAggregates& a) { return blocks += a.total.packets > 0 ? 1 : 0, true; },
        [&](const PacketView&) { return ++rows, true; });
    return {blocks, rows};
}

// A version-6 database (blocks without aggregates) reads its rows as they
// are, read-only; a writing open adds the column, its old blocks still
// read as rows and the new ones keep aggregates.
TEST(Schema, Version6IsReadWithoutAggregatesAndMigratedWhenWritten) {
    TempDir dir;
    const std::string path = capdb_database_of_version(dir, "v6.db", 6);
    const std::string before = file_bytes(path);
    {
        auto s = open_sqlite_store(path, {.read_only = true, .create = false});
        EXPECT_EQ(aggregates_and_rows(*s), (std::pair<std::uint64_t, std::uint64_t>{0, 30}));
    }
    EXPECT_TRUE(file_bytes(path) == before) << "a read-only open changed the version-6 database";
    {
        auto s = open_sqlite_store(path, {.read_only = false, .create = true});
        EXPECT_EQ(user_version(path), store::kSchemaVersion);
        CaptureMeta meta;
        meta.source = "y";
        auto w = s->begin_capture(meta, 10);
        for (const auto& p : testing::random_packets(20, 3)) w->append(p.get());
        w->finish(CaptureState::complete, "y", std::nullopt);
    }
    auto s = open_sqlite_store(path, {.read_only = true, .create = false});
    // The new capture's two blocks of 10 as aggregates, the old 30 as rows.
    EXPECT_EQ(aggregates_and_rows(*s), (std::pair<std::uint64_t, std::uint64_t>{2, 30}));
    std::vector<std::string> problems;
    verify_database(path, {}, [&](const VerifyProblem& p) { problems.push_back(p.table + ": " + p.what); });
    EXPECT_TRUE(problems.empty()) << problems.front();
}

}  // namespace
}  // namespace capdb
