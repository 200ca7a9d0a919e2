#include "store/sqlite/schema.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb::store {

namespace {

const char* const kSchema = R"sql(
CREATE TABLE captures(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    live INTEGER NOT NULL,
    filter TEXT,
    file_size INTEGER,
    file_mtime INTEGER,
    ts_precision INTEGER,
    sha256 TEXT,
    linktype INTEGER NOT NULL,
    snaplen INTEGER NOT NULL,
    preview_bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    started_at INTEGER NOT NULL,
    writer_pid INTEGER,
    finished_at INTEGER,
    first_ts INTEGER,
    last_ts INTEGER,
    packets INTEGER NOT NULL DEFAULT 0,
    ipv4 INTEGER NOT NULL DEFAULT 0,
    ipv6 INTEGER NOT NULL DEFAULT 0,
    other INTEGER NOT NULL DEFAULT 0,
    malformed INTEGER NOT NULL DEFAULT 0,
    unsupported INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    received INTEGER,
    dropped_kernel INTEGER,
    dropped_iface INTEGER,
    packets_at TEXT,
    committed_bytes INTEGER,
    prefix_sha256 TEXT,
    checksum INTEGER
);
CREATE INDEX captures_sha256 ON captures(sha256);
CREATE TABLE blocks(
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL REFERENCES captures(id),
    first_seq INTEGER NOT NULL,
    packets INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    ts_min INTEGER NOT NULL,
    ts_max INTEGER NOT NULL,
    indexed INTEGER NOT NULL DEFAULT 0,
    page_index BLOB NOT NULL,
    checksum INTEGER,
    aggregates BLOB,
    aggregate_tables BLOB
);
CREATE INDEX blocks_unindexed ON blocks(id) WHERE indexed = 0;
CREATE INDEX blocks_ts_min ON blocks(ts_min, ts_max, capture_id, packets);
CREATE INDEX blocks_ts_max ON blocks(ts_max);
CREATE INDEX blocks_capture ON blocks(capture_id, first_seq);
CREATE TABLE pages(
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE postings(
    addr BLOB NOT NULL,
    first_block INTEGER NOT NULL,
    blocks BLOB NOT NULL,
    PRIMARY KEY(addr, first_block)
) WITHOUT ROWID;
)sql";

// Schema 4's tables, created by a new database and by the migration from 3:
// the packet store's segments (captures.packets_at says where each
// capture's packets are kept).
const char* const kSegmentsTable = R"sql(
CREATE TABLE segments(
    id INTEGER PRIMARY KEY,
    capture_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    packets INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    ts_min INTEGER,
    ts_max INTEGER
);
CREATE INDEX segments_capture ON segments(capture_id, first_seq);
)sql";

// The largest block and capture ids ever given (schema 4),
// recorded when blocks are deleted, so that ids are never reused.
const char* const kHighWaterTable =
    "CREATE TABLE IF NOT EXISTS high_water(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID";

const char* const kInterfacesTable = R"sql(
CREATE TABLE IF NOT EXISTS interfaces(
    capture_id INTEGER NOT NULL,
    if_index INTEGER NOT NULL,
    name TEXT,
    description TEXT,
    linktype INTEGER NOT NULL,
    snaplen INTEGER,
    ts_precision INTEGER,
    checksum INTEGER,
    PRIMARY KEY(capture_id, if_index)
) WITHOUT ROWID;
)sql";

// Schema 7: a live capture's pcap_stats samples (stats' drop windows).
const char* const kLiveStatsTable = R"sql(
CREATE TABLE IF NOT EXISTS live_stats(
    capture_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    received INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    checksum INTEGER,
    PRIMARY KEY(capture_id, ts)
) WITHOUT ROWID;
)sql";

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// "file:PATH?immutable=1" with PATH percent-encoded (RFC 3986, as SQLite
// decodes URI filenames).
std::string immutable_uri(const std::string& path) {
    std::string uri = "file:";
    for (const char ch : path) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~')
            uri += static_cast<char>(c);
        else
            uri += fmt::format("%{:02X}", c);
    }
    return uri + "?immutable=1";
}

}  // namespace

std::unique_ptr<sqlite::Database> open_database(const std::string& path, const StoreOptions& options) {
    const bool exists = file_exists(path);
    if (struct stat st{}; exists && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw DatabaseError(fmt::format("database '{}' is not a regular file", printable(path)));
    if (!exists && !options.create)
        throw DatabaseError(
            fmt::format("database '{}' does not exist (create it with 'capdb ingest')", printable(path)));
    if (!exists) {
        // Previews hold payload bytes: the database is private to its owner.
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            throw DatabaseError(fmt::format("cannot create database '{}': {}", printable(path), std::strerror(errno)));
        if (fd >= 0) ::close(fd);
    }
    const int flags = options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    auto db = std::make_unique<sqlite::Database>(path, flags | SQLITE_OPEN_NOMUTEX);
    sqlite3_busy_timeout(db->get(), 30000);

    // Identify the file before changing anything in it.
    auto pragma = [&](const char* sql) {
        sqlite::Statement st(*db, sql);
        return st.step() ? st.i64(0) : 0;
    };
    std::int64_t app_id = 0, version = 0, tables = 0;
    auto identify = [&] {
        app_id = pragma("PRAGMA application_id");
        version = pragma("PRAGMA user_version");
        // A capdb database got its application id with its tables: count
        // them only to tell an empty file from another application's.
        tables = app_id == kApplicationId ? 1 : pragma("SELECT count(*) FROM sqlite_schema");
    };
    try {
        identify();
    } catch (const DatabaseError& e) {
        // A WAL database in a directory this user cannot write, without its
        // -shm (a clean close removes -wal and -shm): SQLite cannot create
        // the shared-memory index. With no -wal file every commit is in the
        // database file itself, so it can be read as immutable.
        const int code = sqlite3_extended_errcode(db->get());
        const bool no_shm =
            code == SQLITE_READONLY_DIRECTORY || code == SQLITE_READONLY_CANTINIT || code == SQLITE_CANTOPEN;
        if (!options.read_only && (code & 0xff) == SQLITE_READONLY)
            throw DatabaseError(
                fmt::format("database '{}' is read-only: its file or directory is not writable", printable(path)));
        if (!(options.read_only && no_shm && !file_exists(path + "-wal")))
            throw DatabaseError(fmt::format("'{}' is not a usable capdb database ({})", printable(path), e.what()));
        db = std::make_unique<sqlite::Database>(immutable_uri(path),
                                                SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX);
        try {
            identify();
        } catch (const DatabaseError& e2) {
            throw DatabaseError(fmt::format("'{}' is not a usable capdb database ({})", printable(path), e2.what()));
        }
    }
    // SQLite opens a file it may not write read-only without saying so.
    if (!options.read_only && sqlite3_db_readonly(db->get(), "main") == 1)
        throw DatabaseError(
            fmt::format("database '{}' is read-only: its file or directory is not writable", printable(path)));
    // Every check passes before anything is written: a database this capdb
    // refuses (another application's, newer, older) keeps every byte and
    // its journal mode.
    if (tables > 0 && app_id != kApplicationId)
        throw DatabaseError(fmt::format("'{}' is an SQLite database but not a capdb database", printable(path)));
    if (tables > 0 && version > kSchemaVersion)
        throw DatabaseError(
            fmt::format("database '{}' has schema version {}, written by a newer capdb; this capdb reads "
                        "version {}",
                        printable(path), version, kSchemaVersion));
    const bool migrate = tables > 0 && version >= kOldestMigratedVersion && version < kSchemaVersion;
    if (tables > 0 && version < kSchemaVersion && !migrate)
        throw DatabaseError(
            fmt::format("database '{}' has schema version {}, written by an older capdb; re-ingest its "
                        "captures into a new database (this capdb reads version {})",
                        printable(path), version, kSchemaVersion));
    if (tables == 0 && (options.read_only || !options.create))
        throw DatabaseError(fmt::format("database '{}' is empty, not a capdb database", printable(path)));

    if (!options.read_only) db->exec("PRAGMA journal_mode=WAL");
    if (tables == 0) {
        sqlite::Transaction tx(*db);
        create_tables(*db);
        db->exec(fmt::format("PRAGMA application_id={}; PRAGMA user_version={}", kApplicationId, kSchemaVersion));
        tx.commit();
    }
    if (migrate && !options.read_only) {
        // Version 2 to 3: the columns query -w checks an original file with.
        // A read-only open (a query) never migrates: the catalogue reads a
        // version-2 or 3 captures table without the newer columns.
        sqlite::Transaction tx(*db);
        if (version < 3)
            db->exec(
                "ALTER TABLE captures ADD COLUMN file_mtime INTEGER; ALTER TABLE captures ADD COLUMN ts_precision "
                "INTEGER");
        if (version < 4) {
            db->exec("ALTER TABLE captures ADD COLUMN packets_at TEXT");
            db->exec(kSegmentsTable);
            db->exec(kHighWaterTable);
            // The committed prefix a failed or interrupted ingest leaves, from
            // which a grown file resumes.
            db->exec(
                "ALTER TABLE captures ADD COLUMN committed_bytes INTEGER; ALTER TABLE captures ADD COLUMN "
                "prefix_sha256 TEXT");
            // The interfaces table (older captures have none: their pages
            // say interface 0 and the capture's link type).
            db->exec(kInterfacesTable);
        }
        if (version < 5) {
            // Checksums: a column for each sealed row, a trailer for each page
            // and posting list, computed from what is stored now.
            // (An interfaces table created by the step to 4 just now has it.)
            if (sqlite::Statement col(*db, "SELECT 1 FROM pragma_table_info('interfaces') WHERE name='checksum'");
                !col.step())
                db->exec("ALTER TABLE interfaces ADD COLUMN checksum INTEGER");
            db->exec(
                "ALTER TABLE captures ADD COLUMN checksum INTEGER; ALTER TABLE blocks ADD COLUMN checksum INTEGER");
            db->exec(fmt::format("UPDATE captures SET checksum = capdb_check({})", kCaptureSealed));
            db->exec(fmt::format("UPDATE blocks SET checksum = capdb_check({})", kBlockSealed));
            db->exec(fmt::format("UPDATE interfaces SET checksum = capdb_check({})", kInterfaceSealed));
            db->exec("UPDATE pages SET data = data || capdb_trailer(id, data)");
            db->exec("UPDATE postings SET blocks = blocks || capdb_trailer(addr, first_block, blocks)");
        }
        // Version 6 to 7: block aggregates (NULL for the blocks already
        // stored: stats decodes their pages), and pages of version 6.
        if (version < 7)
            for (const char* column : {"aggregates", "aggregate_tables"})
                if (sqlite::Statement col(
                        *db, fmt::format("SELECT 1 FROM pragma_table_info('blocks') WHERE name='{}'", column));
                    !col.step())
                    db->exec(fmt::format("ALTER TABLE blocks ADD COLUMN {} BLOB", column));
        if (version < 7) db->exec(kLiveStatsTable);
        db->exec(fmt::format("PRAGMA user_version={}", kSchemaVersion));
        tx.commit();
    }
    if (!options.read_only) db->exec("PRAGMA synchronous=NORMAL");
    if (options.read_only) {
        // A query reads each packet page once and re-reads only the upper
        // levels of the b-trees: a small page cache recycles its buffers
        // instead of touching fresh memory for every page read (each new
        // page of memory is a page fault, ~13 us on the VM this was measured
        // on; 2 MB of cache is 500 of them).
        db->exec("PRAGMA cache_size=32");
        // A quick structural check so that a damaged file fails here, clearly.
        pragma("SELECT count(*) FROM captures");
    }
    return db;
}

void create_tables(sqlite::Database& db) {
    db.exec(kSchema);
    db.exec(kSegmentsTable);
    db.exec(kHighWaterTable);
    db.exec(kInterfacesTable);
    db.exec(kLiveStatsTable);
}

bool has_checksums(sqlite::Database& db) {
    sqlite::Statement st(db, "PRAGMA user_version");
    return st.step() && st.i64(0) >= 5;
}

bool has_aggregates(sqlite::Database& db) {
    sqlite::Statement st(db, "SELECT 1 FROM pragma_table_info('blocks') WHERE name='aggregates'");
    return st.step();
}

bool has_live_stats(sqlite::Database& db) {
    sqlite::Statement st(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='live_stats'");
    return st.step();
}

std::string seal_capture_sql() {
    return fmt::format("UPDATE captures SET checksum = capdb_check({}) WHERE id = ?1", kCaptureSealed);
}

void seal_capture(sqlite::Database& db, CaptureId id) {
    sqlite::Statement st(db, seal_capture_sql());
    st.bind(1, id);
    st.run();
}

}  // namespace capdb::store
