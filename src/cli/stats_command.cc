// 'capdb stats': what the matching packets are, as a text report with time
// charts, as JSON, and optionally as an SVG chart.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/stats.h"
#include "capdb/stats_output.h"
#include "cli/cli.h"

namespace capdb::cli {
namespace {

constexpr std::int64_t kMinWidth = 40;

// The terminal's width when stdout is one, else 80.
std::size_t output_width() {
    winsize ws{};
    if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= kMinWidth)
        return ws.ws_col;
    return 80;
}

// Writes the SVG whole; InputError naming the file when it cannot.
void write_plot(const std::string& path, const std::string& svg) {
    struct Closer {
        void operator()(std::FILE* f) const noexcept { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, Closer> f(std::fopen(path.c_str(), "wb"));
    if (!f) throw InputError(fmt::format("--plot: cannot write '{}': {}", printable(path), std::strerror(errno)));
    const bool written = std::fwrite(svg.data(), 1, svg.size(), f.get()) == svg.size();
    const int saved = errno;
    if (!written || std::fclose(f.release()) != 0)
        throw InputError(
            fmt::format("--plot: cannot write '{}': {}", printable(path), std::strerror(written ? errno : saved)));
}

}  // namespace

int run_stats(const StatsArgs& a) {
    // All checks before the database is touched.
    const Filter filter = build_filter(a.filter);
    StatsOptions options;
    if (a.interval) {
        options.interval_ns = parse_interval(*a.interval);
        if (!options.interval_ns)
            throw UsageError(fmt::format("--interval: '{}' is not an interval (such as 1s, 250ms, 5m, 1h, 1d)",
                                         printable(*a.interval)));
    }
    if (a.top < 0) throw UsageError(fmt::format("--top must be 0 or more, not {}", a.top));
    options.top = static_cast<std::size_t>(a.top);
    options.tables = !a.no_top;
    if (a.format != "text" && a.format != "json")
        throw UsageError(fmt::format("--format: unknown format '{}' (text, json)", printable(a.format)));
    if (a.width && *a.width < kMinWidth)
        throw UsageError(fmt::format("--width must be at least {}, not {}", kMinWidth, *a.width));
    if (a.plot && a.plot->empty()) throw UsageError("--plot: the file name is empty");
    TextOptions text;
    text.width = a.width ? static_cast<std::size_t>(*a.width) : output_width();
    const char* no_color = std::getenv("NO_COLOR");
    text.color = !a.plain && ::isatty(STDOUT_FILENO) && !(no_color && *no_color);
    options.auto_buckets = chart_columns(text.width);

    auto store = open_store_for_reading(a.filter.db, filter, nullptr, timeout_ms(a.filter.timeout));
    const StatsReport report = compute_stats(*store, filter, options);
    if (a.plot) write_plot(*a.plot, render_stats_svg(report));
    write_stdout(a.format == "json" ? render_stats_json(report) : render_stats_text(report, text));
    return 0;
}

}  // namespace capdb::cli
