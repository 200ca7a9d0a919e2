// How `capdb stats` and `capdb flows` print: the terminal report with its
// block-bar time charts, one JSON document, the SVG chart, and flow rows
// (line, JSON lines, CSV).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "capdb/stats.h"

namespace capdb {

struct TextOptions {
    std::size_t width = 80;  // columns; at least 40 is used
    bool color = false;      // ANSI colours (only for a terminal)
    std::size_t chart_rows = 8;
};

// Columns a chart of this width gives to its bars (the rest is its
// left-hand scale): what StatsOptions::auto_buckets should be.
std::size_t chart_columns(std::size_t width) noexcept;

// One time chart: a title line naming the interval and the peak, a peak
// marker row, chart_rows rows of block bars (a column per interval, or per
// run of intervals when there are more than columns), an axis and UTC time
// labels. bytes: chart the bytes instead of the packets. Newline-terminated
// lines, each at most width display columns.
std::string render_chart(const Histogram& h, bool bytes, const TextOptions& options);

// The whole report: header, both charts, protocol mix and, when computed,
// the tables.
std::string render_stats_text(const StatsReport& r, const TextOptions& options);

// The report as one JSON document (newline-terminated).
std::string render_stats_json(const StatsReport& r);

// The time charts (packets above, bytes below) as a standalone SVG document.
std::string render_stats_svg(const StatsReport& r);

enum class FlowFormat { line, json, csv };
std::optional<FlowFormat> parse_flow_format(std::string_view name) noexcept;
// The header line of a format (line and csv), empty for json.
std::string flow_header(FlowFormat format);
// Appends one flow, newline-terminated.
void format_flow(fmt::memory_buffer& out, FlowFormat format, const Flow& f);

}  // namespace capdb
