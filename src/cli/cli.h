// Shared by the command-line translation units: each command's parsed
// options, signal handling and the database path. main.cc wires CLI11 to
// these; each run_* function is one command and returns its exit status.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capdb/filter.h"
#include "capdb/store.h"

namespace capdb::cli {

struct IngestArgs {
    std::vector<std::string> files;  // with --live: the words of the capture filter
    std::string db;
    std::optional<std::uint32_t> batch;  // unset: the library's default for files or live capture
    std::optional<std::uint32_t> preview_bytes;
    // Live capture.
    std::optional<std::string> live;  // interface
    std::string filter;
    std::optional<double> duration;     // seconds
    std::optional<std::int64_t> count;  // signed: CLI11 would wrap "-3" into a huge unsigned
    std::optional<std::int64_t> snaplen;
    bool no_promisc = false;
    std::optional<std::uint64_t> buffer_size;  // bytes
    // The packet store.
    bool copy = false;
    bool no_packets = false;
    std::optional<std::uint64_t> segment_size;  // bytes
    std::optional<std::uint64_t> max_size;      // live ring buffer, bytes
    bool follow = false;                        // ingest --follow FILE
    // ClickHouse: this sensor's name (default: the host name).
    std::optional<std::string> sensor;
    std::optional<double> timeout;  // ClickHouse: seconds per request (--timeout)
};

struct QueryArgs {
    std::string db;
    // Unset when the flag is absent; an empty value given is an error.
    std::optional<std::string> from, to, src, dst, host, port, sport, dport, proto;
    std::optional<std::string> last;    // --last DURATION
    bool inner = false, outer = false;  // --inner, --outer: which IP header --src/--dst/--host look at
    std::optional<std::string> tunnel;  // --tunnel TYPE
    std::optional<std::int64_t> teid, vni;
    bool localtime = false;  // --localtime (--format long)
    std::optional<std::int64_t> capture;
    std::optional<std::int64_t> limit;
    std::vector<std::string> expression;  // trailing words: tcpdump filter syntax
    std::string format = "line";
    bool count = false;
    bool follow = false;
    std::optional<std::string> write;         // -w FILE
    std::optional<std::string> write_format;  // pcap, pcapng
    bool skip_damaged = false;
    std::optional<double> timeout;  // ClickHouse: seconds per request (--timeout)
};

// stats and flows: query's filter options (and trailing expression words)
// in filter, without its limit.
struct StatsArgs {
    QueryArgs filter;
    std::optional<std::string> interval;
    std::int64_t top = 10;
    bool no_top = false;
    std::string format = "text";
    bool plain = false;
    std::optional<std::string> plot;  // --plot FILE.svg
    std::optional<std::int64_t> width;
};

struct FlowsArgs {
    QueryArgs filter;
    std::string sort = "bytes";
    std::optional<std::int64_t> limit;
    std::string format = "line";
};

struct VerifyArgs {
    std::string db;
    std::optional<std::int64_t> capture;
    bool files = false;
    std::string format = "text";
};

struct CapturesArgs {
    std::string db;
    std::optional<double> timeout;  // ClickHouse: seconds per request (--timeout)
    bool long_form = false;
    std::string format = "text";
};

struct PruneArgs {
    std::string db;
    std::optional<double> timeout;  // ClickHouse: seconds per request (--timeout)
    std::optional<std::string> before;
    std::optional<std::int64_t> capture;
    std::optional<std::uint64_t> keep_size;  // bytes
    bool dry_run = false;
};

struct PushArgs {
    std::string db;  // the local database
    std::string to;  // clickhouse://...
    std::optional<std::int64_t> capture;
    bool delete_after = false;
    std::optional<std::string> sensor;
    std::optional<double> timeout;
};

struct VacuumArgs {
    std::string db;
};

struct RelocateArgs {
    std::string db;
    std::int64_t id = 0;
    std::string path;
};

// Set by the first SIGINT/SIGTERM; read by other threads too (live capture),
// hence a lock-free atomic rather than volatile sig_atomic_t.
extern std::atomic<int> g_stop;

// The first SIGINT/SIGTERM sets g_stop; a second one ends the process.
void install_signal_handlers();

// --db, else $CAPDB_DB, else ./capdb.db.
std::string database_path(const std::string& flag);

// --timeout's seconds as StoreOptions::timeout_ms (0: unset); UsageError
// unless between 0.001 and 86400.
std::uint32_t timeout_ms(const std::optional<double>& seconds);

// A time option's value as the span it covers (see parse_time_span; now_ns:
// the command's one reading of the clock): unset when absent; UsageError
// naming the flag when malformed.
std::optional<TimeSpan> time_arg(const std::string& flag, const std::optional<std::string>& arg, std::int64_t now_ns);

// The filter of query's options (and the commands that share them),
// checked before any database is touched: UsageError naming the option.
Filter build_filter(const QueryArgs& a);

// Opens the database at --db (database_path) read-only for a command that
// reads packets, after checking that filter's --capture names a capture of
// it (UsageError otherwise). on_damaged: StoreOptions::on_damaged (query
// --skip-damaged).
std::unique_ptr<Store> open_store_for_reading(const std::string& db_flag, const Filter& filter,
                                              std::function<void(const std::string&)> on_damaged = nullptr,
                                              std::uint32_t timeout = 0);

// Writes text to stdout; false when it cannot be written (a closed pipe).
bool write_stdout(std::string_view text);

int run_ingest(const IngestArgs& args);
int run_interfaces();
int run_query(const QueryArgs& args);
int run_stats(const StatsArgs& args);
int run_flows(const FlowsArgs& args);
int run_captures(const CapturesArgs& args);
int run_prune(const PruneArgs& args);
int run_vacuum(const VacuumArgs& args);
int run_push(const PushArgs& args);
int run_relocate(const RelocateArgs& args);
int run_verify(const VerifyArgs& args);

}  // namespace capdb::cli
