// Shared by the command-line translation units: the parsed ingest options,
// signal handling, and the two commands that read captures
// (capture_commands.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capdb/live.h"

namespace capdb::cli {

struct IngestArgs {
    std::vector<std::string> files;  // with --live: the words of the capture filter
    std::string db;
    std::uint32_t batch = 65536;
    std::uint32_t preview_bytes = 16;
    // Live capture.
    std::optional<std::string> live;  // interface
    std::string filter;
    std::optional<double> duration;   // seconds
    std::optional<std::int64_t> count;  // signed: CLI11 would wrap "-3" into a huge unsigned
    std::int64_t snaplen = kDefaultSnaplen;
    bool no_promisc = false;
    std::optional<std::uint64_t> buffer_size;  // bytes
};

// Set by the first SIGINT/SIGTERM; read by other threads too (live capture),
// hence a lock-free atomic rather than volatile sig_atomic_t.
extern std::atomic<int> g_stop;

// The first SIGINT/SIGTERM sets g_stop; a second one ends the process.
void install_signal_handlers();

// --db, else $CAPDB_DB, else ./capdb.db.
std::string database_path(const std::string& flag);

// 'capdb ingest' and 'capdb interfaces'. Return the exit status.
int run_ingest(const IngestArgs& args);
int run_interfaces();

}  // namespace capdb::cli
