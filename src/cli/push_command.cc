// 'capdb push': copies the captures of a local database to a ClickHouse
// database (the usual way to run a sensor: capture locally at full speed,
// ship when the link allows).
#include <cstdio>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/push.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {

int run_push(const PushArgs& a) {
    if (!is_clickhouse_location(a.to))
        throw UsageError(fmt::format("--to: '{}' is not a clickhouse:// URL", printable(a.to)));
    const std::string db = database_path(a.db);
    if (is_clickhouse_location(db)) throw UsageError("push copies from a local database: --db names a ClickHouse one");
    if (a.capture && *a.capture <= 0) throw UsageError(fmt::format("--capture: no capture has id {}", *a.capture));
    auto from = open_store(db, {.read_only = !a.delete_after, .create = false});
    std::vector<CaptureInfo> captures;
    if (a.capture) {
        auto c = from->capture(*a.capture);
        if (!c)
            throw UsageError(
                fmt::format("--capture {}: no such capture in '{}' (see 'capdb captures')", *a.capture, printable(db)));
        captures.push_back(std::move(*c));
    } else {
        captures = from->captures();
    }
    StoreOptions to_opts{.read_only = false, .create = true};
    if (a.sensor) to_opts.sensor = *a.sensor;
    to_opts.timeout_ms = timeout_ms(a.timeout);
    auto to = open_store(a.to, to_opts);
    install_signal_handlers();
    std::uint64_t copied = 0;
    for (const CaptureInfo& c : captures) {
        if (g_stop) throw InterruptedError("push interrupted");
        const PushOutcome r = push_capture(*from, *to, c, a.delete_after, [] { return g_stop != 0; });
        const char* deleted = r.deleted ? "; deleted here" : "";
        if (r.skipped_running)
            std::printf("capture %lld: still being written; not pushed\n", static_cast<long long>(c.id));
        else if (r.already_there)
            std::printf("capture %lld: already there (capture %lld)%s\n", static_cast<long long>(c.id),
                        static_cast<long long>(r.to), deleted);
        else
            std::printf("capture %lld: %llu packets pushed (capture %lld)%s\n", static_cast<long long>(c.id),
                        static_cast<unsigned long long>(r.packets), static_cast<long long>(r.to), deleted);
        std::fflush(stdout);
        copied += r.packets;
    }
    std::fprintf(stderr, "capdb: %llu packets pushed to %s\n", static_cast<unsigned long long>(copied),
                 printable(a.to).c_str());
    return 0;
}

}  // namespace capdb::cli
