// Shared by the command-line translation units: each command's parsed
// options, signal handling and the database path. main.cc wires CLI11 to
// these; each run_* function is one command and returns its exit status.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
};

struct QueryArgs {
    std::string db;
    // Unset when the flag is absent; an empty value given is an error.
    std::optional<std::string> from, to, src, dst, host, port, sport, dport, proto;
    std::optional<std::int64_t> capture;
    std::optional<std::int64_t> limit;
    std::vector<std::string> expression;  // trailing words: tcpdump filter syntax
    std::string format = "line";
    bool count = false;
    bool follow = false;
    std::optional<std::string> write;         // -w FILE
    std::optional<std::string> write_format;  // pcap, pcapng
    bool skip_damaged = false;
};

struct VerifyArgs {
    std::string db;
    std::optional<std::int64_t> capture;
    bool files = false;
    std::string format = "text";
};

struct CapturesArgs {
    std::string db;
    bool long_form = false;
    std::string format = "text";
};

struct PruneArgs {
    std::string db;
    std::optional<std::string> before;
    std::optional<std::int64_t> capture;
    std::optional<std::uint64_t> keep_size;  // bytes
    bool dry_run = false;
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

// A time option's value (see parse_time): unset when absent; UsageError
// naming the flag when malformed.
std::optional<std::int64_t> time_arg(const std::string& flag, const std::optional<std::string>& arg);

int run_ingest(const IngestArgs& args);
int run_interfaces();
int run_query(const QueryArgs& args);
int run_captures(const CapturesArgs& args);
int run_prune(const PruneArgs& args);
int run_vacuum(const VacuumArgs& args);
int run_relocate(const RelocateArgs& args);
int run_verify(const VerifyArgs& args);

}  // namespace capdb::cli
