// capdb's exceptions: failures of the outside world (files, devices, the
// database, the command line). Each carries the process exit code that
// main() uses; the codes are documented in README.md.
#pragma once

#include <stdexcept>
#include <string>

namespace capdb {

enum class Exit : int {
    ok = 0,
    internal = 1,      // unexpected failure (a bug)
    usage = 2,         // bad command line: malformed address, time, protocol, ...
    input = 3,         // a capture file is missing, unreadable or not a capture
    damaged = 4,       // a capture is truncated or corrupt mid-file; packets before it are committed
    unsupported = 5,   // a link type capdb cannot decode; packets stored undecoded
    database = 6,      // database missing, corrupt, newer schema, read-only, disk full
    device = 7,        // live capture: no such interface, interface down, bad filter
    permission = 8,    // live capture: not permitted
    interrupted = 130, // stopped by SIGINT or SIGTERM; what was committed is kept (128 + SIGINT, as shells report)
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
