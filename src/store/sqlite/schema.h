// The SQLite store's schema (see DESIGN.md, "Schema"), and the checks that
// open a database file as capdb's.
#pragma once

#include <memory>
#include <string>

#include "capdb/store.h"
#include "store/sqlite/sqlite.h"

namespace capdb::store {

// The schema version (PRAGMA user_version) this capdb writes and reads.
// 2: pages of version 3 (with time_invalid). Version 1 databases may hold
// pages of versions 1 and 2 and are refused (re-ingest their captures).
// 3: captures gain file_mtime and ts_precision (query -w checks the original
// file with them). A version-2 database opened for writing is migrated (the
// new columns added, NULL for its captures); opened read-only it is read as
// it is, without them.
// 4: the packet store: a segments table, and captures.packets_at ('file',
// 'store', 'none'; NULL in migrated rows: 'file' for a file capture with a
// file_size, else 'none'). Versions 2 and 3 opened for writing are migrated
// in one transaction; read-only, they are read without them.
// 4 also: high_water ('block_id': the largest block id ever committed, raised
// when blocks are deleted, so that a pruned id is never given again). A
// read-only open of a version 2 or 3 database reads it without the table.
// 4 also: captures gain committed_bytes and prefix_sha256 (a failed or
// interrupted file ingest's committed prefix, from which a grown file
// resumes; only ingest reads them).
// 4 also: the interfaces table (a capture's interfaces: pcapng may hold several,
// of different link types); pages of version 4 name each row's interface.
// Versions 2 and 3 are migrated when opened for writing; read-only, the
// missing table reads as no interfaces.
// 5: checksums (DESIGN.md, "Checksums"): captures, blocks and interfaces
// gain a checksum column (capdb_check() of the sealed columns below), and
// every pages.data and postings.blocks blob a 4-byte CRC32C trailer.
// Versions 2 to 4 opened for writing are migrated (checksums computed from
// what is stored); read-only, they are read as before, without checksums.
// 6: pages of version 5 (ARP rows with their addresses, which the postings
// index). A version-5 database opened for writing becomes version 6 as it
// is (its ARP rows keep no addresses); read-only, it is read as it is.
// 7: pages of version 6 (TCP flags), and blocks.aggregates (DESIGN.md,
// "Block aggregates": what stats needs of a block, with its own checksum
// trailer; NULL in blocks from before). A version-6 database opened for
// writing gains the column; read-only, it is read without it.
// 8: pages of version 7 (a tunnelled row's outer addresses, tunnel type and
// id; the outer addresses are in the page's dictionary and the postings).
// A version-7 database opened for writing becomes version 8 as it is (its
// rows have no tunnel fields); read-only, it is read as it is.
inline constexpr int kSchemaVersion = 8;
inline constexpr int kOldestMigratedVersion = 2;
inline constexpr int kApplicationId = 0x63617064;  // "capd"

// The columns each row checksum covers, in order.
inline constexpr const char* kCaptureSealed =
    "id, source, live, filter, file_size, file_mtime, ts_precision, sha256, linktype, snaplen, preview_bytes, state,"
    " error, started_at, writer_pid, finished_at, first_ts, last_ts, packets, ipv4, ipv6, other, malformed,"
    " unsupported, bytes, received, dropped_kernel, dropped_iface, packets_at, committed_bytes, prefix_sha256";
inline constexpr const char* kBlockSealed = "id, capture_id, first_seq, packets, pages, ts_min, ts_max, page_index";
inline constexpr const char* kInterfaceSealed =
    "capture_id, if_index, name, description, linktype, snaplen, ts_precision";

// Creates this version's tables and indexes (a new database; verify
// compares a database's with them).
void create_tables(sqlite::Database& db);

// Whether the database has checksums (schema 5 and later; an older one opened
// read-only has none).
bool has_checksums(sqlite::Database& db);

// Whether blocks have the aggregates column (schema 7 and later).
bool has_aggregates(sqlite::Database& db);
// Whether the live_stats table exists (schema 7 and later).
bool has_live_stats(sqlite::Database& db);
inline constexpr const char* kLiveStatsSealed = "capture_id, ts, received, dropped";

// Recomputes a captures row's checksum: every statement that changes a
// captures row is followed by this one, in its transaction.
std::string seal_capture_sql();
void seal_capture(sqlite::Database& db, CaptureId id);

// Opens the database at path as capdb's: creates it (mode 0600, with the
// schema) when missing and options.create, else checks that it is a capdb
// database of this schema version. Throws DatabaseError naming the path.
std::unique_ptr<sqlite::Database> open_database(const std::string& path, const StoreOptions& options);

}  // namespace capdb::store
