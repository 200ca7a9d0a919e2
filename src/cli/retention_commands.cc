// 'capdb prune' and 'capdb vacuum': what a prune removed (or would remove)
// and what the database measures before and after.
#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/format.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {
namespace {

std::string size_line(const StoreSize& s) {
    return fmt::format("{} bytes (database {} in use + {} free, WAL {}, packet store {})", s.total(), s.database,
                       s.free, s.wal, s.packets);
}

}  // namespace

int run_prune(const PruneArgs& a) {
    PruneRequest request;
    if (const auto before = time_arg("--before", a.before, wall_clock_ns())) request.before_ns = before->first_ns;
    if (a.capture) {
        if (*a.capture <= 0) throw UsageError(fmt::format("--capture: no capture has id {}", *a.capture));
        request.capture = *a.capture;
    }
    request.keep_bytes = a.keep_size;
    request.dry_run = a.dry_run;
    if (!request.before_ns && !request.capture && !request.keep_bytes)
        throw UsageError("say what to prune: --before TIME, --capture ID or --keep-size SIZE");
    auto store =
        open_store(database_path(a.db), {.read_only = false, .create = false, .timeout_ms = timeout_ms(a.timeout)});
    const PruneResult r = store->prune(request);
    const char* verb = r.dry_run ? "would remove" : "removed";
    if (r.blocks == 0 && r.captures.empty()) {
        std::printf("nothing to prune%s\n", r.dry_run ? " (dry run)" : "");
    } else {
        std::printf("%s %llu packets in %llu blocks, %llu packet store files\n", verb,
                    static_cast<unsigned long long>(r.packets), static_cast<unsigned long long>(r.blocks),
                    static_cast<unsigned long long>(r.segments));
        for (const PrunedCapture& c : r.captures) {
            if (c.removed)
                std::printf("capture %lld: %s %llu packets and the capture\n", static_cast<long long>(c.id), verb,
                            static_cast<unsigned long long>(c.packets));
            else
                std::printf("capture %lld: %s %llu packets, %llu kept\n", static_cast<long long>(c.id), verb,
                            static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.kept));
        }
        if (r.kept_from_ns) std::printf("every packet from %s on is kept\n", format_rfc3339(*r.kept_from_ns).c_str());
    }
    std::printf("size before: %s\n", size_line(r.before).c_str());
    std::printf("size after:  %s%s\n", size_line(r.after).c_str(), r.dry_run ? " (dry run: nothing changed)" : "");
    std::fflush(stdout);
    return 0;
}

int run_vacuum(const VacuumArgs& a) {
    auto store = open_store(database_path(a.db), {.read_only = false, .create = false});
    const VacuumResult r = store->vacuum();
    std::printf("database file: %llu -> %llu bytes\n", static_cast<unsigned long long>(r.file_before),
                static_cast<unsigned long long>(r.file_after));
    std::printf("size before: %s\n", size_line(r.before).c_str());
    std::printf("size after:  %s\n", size_line(r.after).c_str());
    if (!r.wal_truncated)
        std::printf("the WAL was not emptied (a reader still had it open): the next checkpoint does it\n");
    std::fflush(stdout);
    return 0;
}

}  // namespace capdb::cli
