// capdb's exceptions: failures of the outside world (files, devices, the
// database, the command line). Each carries the process exit code that
// main() uses; the codes are documented in README.md.
#pragma once

#include <stdexcept>
#include <string>

namespace capdb {

enum class Exit : int {
    ok = 0,
    internal = 1,
    usage = 2,
    input = 3,
    damaged = 4,
    unsupported = 5,
    database = 6,
    device = 7,
    permission = 8,
    source = 9,
    interrupted = 130,
};

// The one list of exit codes: `capdb --help` prints it, and a test checks
// that README.md's "Exit codes" table says the same.
struct ExitCodeInfo {
    Exit code;
    const char* name;
    const char* meaning;
};

inline constexpr ExitCodeInfo kExitCodes[] = {
    {Exit::ok, "ok", "success (also: a file already ingested)"},
    {Exit::internal, "internal", "internal error (a bug; please report it)"},
    {Exit::usage, "usage", "unknown option, malformed value, inverted time range, no such capture"},
    {Exit::input, "input",
     "a file is missing, unreadable, a directory, empty or not a pcap/pcapng capture; stats --plot: the SVG file "
     "cannot be written; stats, flows: a temporary file (in $TMPDIR) cannot be made or written"},
    {Exit::damaged, "damaged", "a capture is truncated or corrupt mid-file; the packets before it are stored"},
    {Exit::unsupported, "unsupported", "a link type capdb cannot decode; its packets are stored undecoded"},
    {Exit::database, "database",
     "database missing, not capdb's, corrupt or damaged (a checksum mismatch; see capdb verify), from an older or "
     "newer capdb, read-only or full (also the packet store's disk); vacuum while a capture is being written; "
     "verify found a problem"},
    {Exit::device, "device", "live capture: no such interface, interface down, bad filter"},
    {Exit::permission, "permission", "live capture: not permitted (see setcap in the README)"},
    {Exit::source, "source",
     "query -w: a capture's original file or packet-store segment is missing, changed, damaged or replaced, or its "
     "packets were never kept (--no-packets); relocate: the file is not the capture's (size or SHA-256)"},
    {Exit::interrupted, "interrupted",
     "stopped by SIGINT or SIGTERM before the input was finished; what was read is committed and the capture is marked "
     "interrupted"},
};

class Error : public std::runtime_error {
public:
    Error(Exit code, const std::string& message) : std::runtime_error(message), code_(code) {}
    [[nodiscard]] Exit code() const noexcept { return code_; }

private:
    Exit code_;
};

struct UsageError : Error {
    explicit UsageError(const std::string& m) : Error(Exit::usage, m) {}
};
struct InputError : Error {
    explicit InputError(const std::string& m) : Error(Exit::input, m) {}
};
struct DamagedError : Error {
    explicit DamagedError(const std::string& m) : Error(Exit::damaged, m) {}
};
struct DatabaseError : Error {
    explicit DatabaseError(const std::string& m) : Error(Exit::database, m) {}
};
struct InterruptedError : Error {
    explicit InterruptedError(const std::string& m) : Error(Exit::interrupted, m) {}
};
struct DeviceError : Error {
    explicit DeviceError(const std::string& m, Exit code = Exit::device) : Error(code, m) {}
};

// Escapes non-printable bytes in text that capdb prints (paths, interface
// names) as \xNN so that no input can send control sequences to a terminal.
std::string printable(std::string_view text);

}  // namespace capdb
