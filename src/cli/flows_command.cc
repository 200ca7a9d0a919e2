// 'capdb flows': one row per conversation of the matching packets.
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/stats.h"
#include "capdb/stats_output.h"
#include "cli/cli.h"

namespace capdb::cli {

int run_flows(const FlowsArgs& a) {
    // All checks before the database is touched.
    const Filter filter = build_filter(a.filter);
    FlowOptions options;
    const auto sort = parse_flow_sort(a.sort);
    if (!sort)
        throw UsageError(fmt::format("--sort: unknown key '{}' (bytes, packets, start, duration)", printable(a.sort)));
    options.sort = *sort;
    const auto format = parse_flow_format(a.format);
    if (!format) throw UsageError(fmt::format("--format: unknown format '{}' (line, json, csv)", printable(a.format)));
    if (a.limit) {
        if (*a.limit < 0) throw UsageError(fmt::format("--limit must be 0 or more, not {}", *a.limit));
        options.limit = static_cast<std::uint64_t>(*a.limit);
    }

    auto store = open_store_for_reading(a.filter.db, filter, nullptr, timeout_ms(a.filter.timeout));
    fmt::memory_buffer out;
    const std::string header = flow_header(*format);
    out.append(header.data(), header.data() + header.size());
    bool ok = true;
    compute_flows(*store, filter, options, [&](const Flow& f) {
        format_flow(out, *format, f);
        if (out.size() >= 64 * 1024) {
            ok = write_stdout({out.data(), out.size()});
            out.clear();
        }
        return ok;
    });
    if (ok) write_stdout({out.data(), out.size()});
    return 0;
}

}  // namespace capdb::cli
