// Signal handling and the database path, shared by all commands.
#include <cerrno>
#include <csignal>
#include <cstdlib>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/filter.h"
#include "cli/cli.h"

namespace capdb::cli {

std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "g_stop is written in a signal handler");

namespace {

extern "C" void on_signal(int sig) {
    const int saved_errno = errno;
    if (g_stop) {
        // A second signal: stop at once. SQLite discards the open transaction,
        // so the database keeps exactly what was committed.
        std::signal(sig, SIG_DFL);
        std::raise(sig);
    }
    g_stop = 1;
    errno = saved_errno;
}

}  // namespace

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

std::string database_path(const std::string& flag) {
    if (!flag.empty()) return flag;
    if (const char* env = std::getenv("CAPDB_DB"); env && *env) return env;
    return "capdb.db";
}

std::optional<TimeSpan> time_arg(const std::string& flag, const std::optional<std::string>& arg, std::int64_t now_ns) {
    if (!arg) return std::nullopt;
    const std::string& text = *arg;
    auto t = parse_time_span(text, now_ns);
    if (!t)
        throw UsageError(
            fmt::format("{}: '{}' is not a time (epoch seconds such as 1490492402.5, RFC 3339 such as "
                        "2017-03-26T01:40:02Z, now, or now-DURATION such as now-15m)",
                        flag, printable(text)));
    return t;
}

}  // namespace capdb::cli
