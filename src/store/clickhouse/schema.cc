#include "store/clickhouse/schema.h"

#include <charconv>
#include <string>

#include <fmt/format.h>

#include "capdb/error.h"
#include "store/clickhouse/rows.h"

namespace capdb::clickhouse {

namespace {

// The columns shared by packets and packets_by_addr, as in kPacketColumns.
constexpr const char* kPacketDdl =
    "capture Int64, seq UInt64, ts_ns Int64, block Int64, caplen UInt32, wirelen UInt32, file_offset Int64, "
    "linktype UInt32, if_index UInt32, time_invalid UInt8, network UInt8, status UInt8, ethertype UInt16, "
    "ip_proto UInt8, flags UInt8, src_port UInt16, dst_port UInt16, src FixedString(16), dst FixedString(16), "
    "preview String, tcp_flags UInt8, tunnel UInt8, tunnel_info UInt8, tunnel_id UInt32, outer_network UInt8, "
    "outer_src FixedString(16), outer_dst FixedString(16)";

std::uint64_t number(const std::string& text, const Location& where) {
    std::uint64_t v = 0;
    const char* end = text.data() + text.size();
    while (end > text.data() && (end[-1] == '\n' || end[-1] == ' ')) --end;
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end)
        throw DatabaseError(fmt::format("{}: unexpected answer '{}'", printable(where.url), printable(text)));
    return v;
}

}  // namespace

void open_schema(Http& http, bool create) {
    const Location& where = http.location();
    const std::string& db = where.database;  // an identifier (parse_location)
    if (create) {
        http.post(fmt::format("CREATE DATABASE IF NOT EXISTS {}", db));
        // MergeTree, not TinyLog: sensors that start together create the schema
        // at once, and TinyLog fails a read that overlaps a write. Two of them
        // may both record the version; readers take the maximum.
        http.post(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.schema_version (version UInt32) ENGINE = MergeTree ORDER BY version", db));
        http.post(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.captures (id Int64, version UInt64, deleted UInt8, sensor String, "
            "writer_pid Int64, source String, live UInt8, filter String, linktype UInt32, snaplen UInt32, "
            "preview_bytes UInt32, has_file_size UInt8, file_size UInt64, has_mtime UInt8, file_mtime_ns Int64, "
            "ts_precision UInt32, packets_at UInt8, segment_format UInt8, segment_ts_precision UInt32, state UInt8, "
            "sha256 String, has_ts UInt8, first_ts_ns Int64, last_ts_ns Int64, packets UInt64, ipv4 UInt64, "
            "ipv6 UInt64, other UInt64, malformed UInt64, unsupported UInt64, bytes UInt64, has_live_stats UInt8, "
            "received UInt64, dropped_kernel UInt64, dropped_iface UInt64, started_at_ns Int64, error String) "
            "ENGINE = ReplacingMergeTree(version) ORDER BY id",
            db));
        http.post(fmt::format(
            "CREATE TABLE IF NOT EXISTS {}.capture_ids (id Int64, claim String, at Int64) ENGINE = MergeTree "
            "ORDER BY id",
            db));
        http.post(
            fmt::format("CREATE TABLE IF NOT EXISTS {}.interfaces (capture Int64, if_index UInt32, name String, "
                        "description String, linktype UInt32, snaplen UInt32, ts_precision UInt32) ENGINE = MergeTree "
                        "PARTITION BY capture ORDER BY if_index",
                        db));
        http.post(
            fmt::format("CREATE TABLE IF NOT EXISTS {}.packets ({}) ENGINE = MergeTree PARTITION BY capture "
                        "ORDER BY (ts_ns, capture, seq)",
                        db, kPacketDdl));
        http.post(
            fmt::format("CREATE TABLE IF NOT EXISTS {}.packets_by_addr (addr FixedString(16), role UInt8, {}) "
                        "ENGINE = MergeTree PARTITION BY capture ORDER BY (addr, ts_ns, capture, seq)",
                        db, kPacketDdl));
        if (number(http.post(fmt::format("SELECT count() FROM {}.schema_version", db)), where) == 0) {
            std::vector<std::uint8_t> row;
            RowWriter(row).u32(kSchemaVersion);
            http.post(fmt::format("INSERT INTO {}.schema_version FORMAT RowBinary", db), row);
        }
    }
    const std::string shown = printable(where.url);
    if (number(http.post(fmt::format(
                   "SELECT count() FROM system.tables WHERE database = '{}' AND name = 'schema_version'", db)),
               where) == 0)
        throw DatabaseError(fmt::format("{}: no capdb database there ('capdb ingest' creates it)", shown));
    const std::uint64_t version =
        number(http.post(fmt::format("SELECT max(version) FROM {}.schema_version", db)), where);
    if (version > kSchemaVersion)
        throw DatabaseError(fmt::format("{}: the database has schema {}, newer than this capdb's {}; use a newer capdb",
                                        shown, version, kSchemaVersion));
    if (version < 1) throw DatabaseError(fmt::format("{}: the database has no schema version; not capdb's", shown));
}

}  // namespace capdb::clickhouse
