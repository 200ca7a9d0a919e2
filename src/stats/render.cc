// The stats report as text (block-bar charts and tables), JSON and SVG,
// and flow rows.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "capdb/decode.h"
#include "capdb/filter.h"
#include "capdb/format.h"
#include "capdb/stats_output.h"

namespace capdb {

namespace {

constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::size_t kScale = 9;  // the chart's left-hand scale: 7 digits, a space, the axis
// Eighths of a cell, from one eighth to full.
constexpr const char* kBlocks[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
// Eighths of a cell, from the left.
constexpr const char* kLeftBlocks[] = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"};
constexpr const char* kCyan = "\x1b[36m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kReset = "\x1b[0m";

// 999, 1.2k, 12.3M, 1.0G: at most 6 characters.
std::string compact(std::uint64_t v) {
    if (v < 1000) return fmt::format("{}", v);
    static constexpr const char* kUnits[] = {"k", "M", "G", "T", "P", "E"};
    double d = static_cast<double>(v);
    std::size_t u = 0;
    d /= 1000;
    while (d >= 999.95 && u + 1 < std::size(kUnits)) {
        d /= 1000;
        ++u;
    }
    return d < 9.995   ? fmt::format("{:.2f}{}", d, kUnits[u])
           : d < 99.95 ? fmt::format("{:.1f}{}", d, kUnits[u])
                       : fmt::format("{:.0f}{}", d, kUnits[u]);
}

// RFC 3339 in UTC to the second, or to the millisecond when sub-second
// detail matters.
std::string time_label(std::int64_t ts_ns, bool millis) {
    const std::string full = format_rfc3339(ts_ns);  // ...:SS.nnnnnnnnnZ
    return millis ? full.substr(0, 23) + "Z" : full.substr(0, 19) + "Z";
}

std::string time_of_day(std::int64_t ts_ns, bool millis) {
    const std::string full = time_label(ts_ns, millis);
    return full.substr(11);
}

struct Columns {
    std::size_t per = 1;  // intervals per column
    std::vector<std::uint64_t> values;
};

Columns columns_of(const Histogram& h, bool bytes, std::size_t max_columns) {
    Columns c;
    const std::size_t n = h.buckets.size();
    max_columns = std::max<std::size_t>(max_columns, 1);
    c.per = n == 0 ? 1 : (n + max_columns - 1) / max_columns;
    c.values.assign(n == 0 ? 0 : (n + c.per - 1) / c.per, 0);
    for (std::size_t i = 0; i < n; ++i) c.values[i / c.per] += bytes ? h.buckets[i].bytes : h.buckets[i].packets;
    return c;
}

void trim_right(std::string& line) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
}

double share(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// A bar of `cells` columns at most, for a share in percent.
std::string share_bar(double percent, std::size_t cells) {
    const auto eighths = static_cast<std::size_t>(percent / 100.0 * static_cast<double>(cells * 8) + 0.5);
    std::string bar;
    for (std::size_t i = 0; i < eighths / 8; ++i) bar += kBlocks[8];
    bar += kLeftBlocks[eighths % 8];
    return bar;
}

struct TableRow {
    std::string label;
    Tally tally;
};

// Rows of label, packets, bytes, share and a bar. by_bytes: the share and
// bar are of bytes (else of packets) in total.
void append_table(std::string& out, const std::string& title, const std::vector<TableRow>& rows, const Tally& total,
                  bool by_bytes, const TextOptions& o) {
    if (rows.empty()) return;
    out += '\n';
    out += o.color ? fmt::format("{}{}{}\n", kBold, title, kReset) : title + "\n";
    std::size_t label = 8;
    for (const TableRow& r : rows) label = std::max(label, r.label.size());
    const std::size_t used = 2 + label + 2 + 12 + 2 + 14 + 2 + 6 + 2;
    const std::size_t width = std::max<std::size_t>(o.width, 40);
    const std::size_t bar = width > used ? std::min<std::size_t>(width - used, 30) : 0;
    for (const TableRow& r : rows) {
        const double pct = share(by_bytes ? r.tally.bytes : r.tally.packets, by_bytes ? total.bytes : total.packets);
        std::string line =
            fmt::format("  {:<{}}  {:>12}  {:>14}  {:>5.1f}%  ", r.label, label, r.tally.packets, r.tally.bytes, pct);
        if (bar > 0) line += o.color ? kCyan + share_bar(pct, bar) + kReset : share_bar(pct, bar);
        trim_right(line);
        out += line + "\n";
    }
}

template <class... Args>
void put(fmt::memory_buffer& out, fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

std::string proto_label(std::uint8_t proto) {
    if (const char* n = proto_name(proto)) return n;
    return fmt::format("proto {}", proto);
}

}  // namespace

std::size_t chart_columns(std::size_t width) noexcept { return std::max<std::size_t>(width, 40) - kScale; }

std::string render_chart(const Histogram& h, bool bytes, const TextOptions& o) {
    const std::size_t width = std::max<std::size_t>(o.width, 40);
    const Columns c = columns_of(h, bytes, chart_columns(width));
    const std::int64_t step = h.interval_ns * static_cast<std::int64_t>(c.per);
    const bool millis = step < kSec || h.origin_ns % kSec != 0;
    std::string out;
    std::uint64_t peak = 0;
    std::size_t peak_at = 0;
    for (std::size_t i = 0; i < c.values.size(); ++i)
        if (c.values[i] > peak) {
            peak = c.values[i];
            peak_at = i;
        }
    // Title, split in two when it does not fit.
    const std::string what = fmt::format("{} per {}", bytes ? "Bytes" : "Packets", format_interval(step));
    const std::string peak_text =
        peak == 0 ? std::string("no packets")
                  : fmt::format("peak {} at {}", peak,
                                time_label(h.origin_ns + static_cast<std::int64_t>(peak_at) * step, millis));
    const std::string title = what + ", " + peak_text;
    if (o.color) out += kBold;
    out += title.size() <= width ? title + "\n" : what + "\n" + peak_text + "\n";
    if (o.color) out += kReset;
    if (c.values.empty()) return out;
    // The peak's marker.
    std::string marker(kScale + peak_at, ' ');
    if (peak > 0) out += marker + (o.color ? fmt::format("{}▼{}", kRed, kReset) : std::string("▼")) + "\n";
    const std::size_t rows = std::max<std::size_t>(o.chart_rows, 1);
    const std::uint64_t levels = rows * 8;
    std::vector<std::uint64_t> level(c.values.size(), 0);
    for (std::size_t i = 0; i < c.values.size(); ++i)
        if (c.values[i] > 0)  // a non-empty interval shows at least one eighth; an empty one is a gap
            level[i] = std::max<std::uint64_t>(
                1, static_cast<std::uint64_t>((static_cast<double>(c.values[i]) * static_cast<double>(levels)) /
                                                  static_cast<double>(peak) +
                                              0.5));
    for (std::size_t row = rows; row-- > 0;) {
        std::string line = row + 1 == rows ? fmt::format("{:>7} ┤", compact(peak)) : std::string(kScale - 1, ' ') + "│";
        if (o.color) line += kCyan;
        for (std::uint64_t l : level) {
            const std::uint64_t base = row * 8;
            line += kBlocks[l <= base ? 0 : std::min<std::uint64_t>(l - base, 8)];
        }
        if (o.color) line += kReset;
        trim_right(line);
        out += line + "\n";
    }
    std::string axis = fmt::format("{:>7} └", 0);
    for (std::size_t i = 0; i < c.values.size(); ++i) axis += "─";
    out += axis + "\n";
    // Times at the left and right ends of the axis.
    const std::string left = time_label(h.origin_ns, millis);
    const std::int64_t end_ns = h.origin_ns + static_cast<std::int64_t>(c.values.size()) * step;
    std::string right = time_label(end_ns, millis);
    if (right.substr(0, 10) == left.substr(0, 10)) right = time_of_day(end_ns, millis);
    std::string labels = std::string(kScale, ' ') + left;
    const std::size_t right_at = kScale + c.values.size();
    if (right_at >= labels.size() + 2 + right.size())
        labels += std::string(right_at - labels.size() - right.size(), ' ') + right;
    out += labels + "\n";
    // Drop windows of live captures: ▲ under each column they overlap.
    std::string drops = fmt::format("{:>7}  ", "drops");
    bool any = false;
    for (std::size_t i = 0; i < c.values.size(); ++i) {
        const std::int64_t lo = h.origin_ns + static_cast<std::int64_t>(i) * step, hi = lo + step;
        const bool hit = std::any_of(h.drops.begin(), h.drops.end(),
                                     [&](const DropWindow& d) { return d.from_ns < hi && d.to_ns > lo; });
        drops += hit ? (o.color ? fmt::format("{}▲{}", kRed, kReset) : std::string("▲")) : std::string(" ");
        any = any || hit;
    }
    if (any) {
        trim_right(drops);
        out += drops + "\n";
    }
    return out;
}

std::string render_stats_text(const StatsReport& r, const TextOptions& o) {
    std::string out;
    out += fmt::format("{}capdb stats{}: {} capture{}, {} packets, {} bytes\n", o.color ? kBold : "",
                       o.color ? kReset : "", r.captures, r.captures == 1 ? "" : "s", r.total.packets, r.total.bytes);
    if (r.first_ns && r.last_ns) {
        const std::int64_t dur = *r.last_ns - *r.first_ns;
        const double secs = static_cast<double>(dur) / 1e9;
        out += fmt::format("  First packet  {}\n", format_rfc3339(*r.first_ns));
        out += fmt::format("  Last packet   {}\n", format_rfc3339(*r.last_ns));
        out += fmt::format("  Duration      {}.{:09} s\n", dur / kSec, dur % kSec);
        if (dur > 0)
            out +=
                fmt::format("  Average rate  {:.1f} packets/s, {:.0f} bit/s, {:.1f} bytes/packet\n",
                            static_cast<double>(r.total.packets) / secs, static_cast<double>(r.total.bytes) * 8 / secs,
                            static_cast<double>(r.total.bytes) / static_cast<double>(r.total.packets));
    }
    if (r.live_captures > 0)
        out += fmt::format("  Dropped       {} (by the kernel and interfaces of {} live capture{})\n", r.dropped,
                           r.live_captures, r.live_captures == 1 ? "" : "s");
    if (r.total.packets == 0) {
        out += "\nNo packets match.\n";
        return out;
    }
    for (const bool bytes : {false, true}) {
        out += '\n';
        out += render_chart(r.histogram, bytes, o);
    }
    out += '\n';

    const ProtocolMix& m = r.mix;
    out += o.color ? fmt::format("{}Network layer{}          packets\n", kBold, kReset)
                   : "Network layer          packets\n";
    for (const auto& [label, n] : {std::pair{"IPv4", m.ipv4}, std::pair{"IPv6", m.ipv6}, std::pair{"non-IP", m.non_ip}})
        if (n > 0) out += fmt::format("  {:<8}  {:>12}  {:>5.1f}%\n", label, n, share(n, r.total.packets));
    std::vector<TableRow> ip;
    for (std::size_t p = 0; p < m.ip_proto.size(); ++p)
        if (m.ip_proto[p].packets > 0) ip.push_back({proto_label(static_cast<std::uint8_t>(p)), m.ip_proto[p]});
    for (const auto& [type, tally] : m.ethertypes) ip.push_back({ethertype_name(type), tally});
    std::stable_sort(ip.begin(), ip.end(),
                     [](const TableRow& a, const TableRow& b) { return a.tally.packets > b.tally.packets; });
    append_table(out, "Protocols (IP protocol; EtherType of non-IP)", ip, r.total, false, o);
    out += fmt::format("  malformed {}, truncated {}, unsupported link {}, IP fragments {}\n", m.malformed, m.truncated,
                       m.unsupported, m.fragments);
    if (!r.tables) return out;

    auto endpoint_rows = [](const std::vector<EndpointStat>& v) {
        std::vector<TableRow> t;
        for (const EndpointStat& e : v) t.push_back({e.address.to_string(), e.tally});
        return t;
    };
    append_table(out, fmt::format("Top talkers by packets ({} addresses)", r.endpoints),
                 endpoint_rows(r.top_by_packets), r.total, false, o);
    append_table(out, fmt::format("Top talkers by bytes ({} addresses)", r.endpoints), endpoint_rows(r.top_by_bytes),
                 r.total, true, o);
    std::vector<TableRow> pairs;
    for (const PairStat& p : r.top_pairs) pairs.push_back({p.a.to_string() + " <-> " + p.b.to_string(), p.tally});
    append_table(out, fmt::format("Top conversations by bytes ({} address pairs)", r.pairs), pairs, r.total, true, o);
    std::vector<TableRow> ports;
    for (const PortStat& p : r.top_ports)
        ports.push_back({fmt::format("{}/{}", proto_label(p.proto), p.port), p.tally});
    append_table(out, fmt::format("Top ports by packets ({} ports)", r.ports), ports, r.total, false, o);
    return out;
}

namespace {

void json_tally(fmt::memory_buffer& out, const Tally& t) {
    fmt::format_to(std::back_inserter(out), "\"packets\":{},\"bytes\":{}", t.packets, t.bytes);
}

void json_time(fmt::memory_buffer& out, const char* name, const std::optional<std::int64_t>& ts) {
    if (ts)
        fmt::format_to(std::back_inserter(out), "\"{}\":\"{}\",\"{}_ns\":{}", name, format_rfc3339(*ts), name, *ts);
    else
        fmt::format_to(std::back_inserter(out), "\"{}\":null,\"{}_ns\":null", name, name);
}

}  // namespace

std::string render_stats_json(const StatsReport& r) {
    fmt::memory_buffer out;
    put(out, "{{\"captures\":{},", r.captures);
    json_tally(out, r.total);
    put(out, ",");
    json_time(out, "first", r.first_ns);
    put(out, ",");
    json_time(out, "last", r.last_ns);
    const std::int64_t dur = r.first_ns ? *r.last_ns - *r.first_ns : 0;
    put(out, ",\"duration_ns\":{},\"live_captures\":{},\"dropped\":{},\"drop_windows\":[", dur, r.live_captures,
        r.dropped);
    for (std::size_t i = 0; i < r.histogram.drops.size(); ++i) {
        const DropWindow& d = r.histogram.drops[i];
        put(out, "{}{{", i == 0 ? "" : ",");
        json_time(out, "from", d.from_ns);
        put(out, ",");
        json_time(out, "to", d.to_ns);
        put(out, ",\"dropped\":{}}}", d.dropped);
    }
    put(out, "]");
    const ProtocolMix& m = r.mix;
    put(out,
        ",\"protocols\":{{\"ipv4\":{},\"ipv6\":{},\"non_ip\":{},\"malformed\":{},\"truncated\":{},\"unsupported\":{},"
        "\"fragments\":{},\"ip\":[",
        m.ipv4, m.ipv6, m.non_ip, m.malformed, m.truncated, m.unsupported, m.fragments);
    bool first = true;
    for (std::size_t p = 0; p < m.ip_proto.size(); ++p) {
        if (m.ip_proto[p].packets == 0) continue;
        put(out, "{}{{\"proto\":{},\"name\":\"{}\",", first ? "" : ",", p, proto_label(static_cast<std::uint8_t>(p)));
        json_tally(out, m.ip_proto[p]);
        put(out, "}}");
        first = false;
    }
    put(out, "],\"ethertypes\":[");
    first = true;
    for (const auto& [type, tally] : m.ethertypes) {
        put(out, "{}{{\"ethertype\":{},\"name\":\"{}\",", first ? "" : ",", type, ethertype_name(type));
        json_tally(out, tally);
        put(out, "}}");
        first = false;
    }
    const Histogram& h = r.histogram;
    put(out, "]}},\"histogram\":{{\"origin\":\"{}\",\"origin_ns\":{},\"interval_ns\":{},\"packets\":[",
        format_rfc3339(h.origin_ns), h.origin_ns, h.interval_ns);
    for (std::size_t i = 0; i < h.buckets.size(); ++i) put(out, "{}{}", i ? "," : "", h.buckets[i].packets);
    put(out, "],\"bytes\":[");
    for (std::size_t i = 0; i < h.buckets.size(); ++i) put(out, "{}{}", i ? "," : "", h.buckets[i].bytes);
    put(out, "]}}");
    if (r.tables) {
        auto endpoints = [&](const char* name, const std::vector<EndpointStat>& v) {
            put(out, ",\"{}\":[", name);
            for (std::size_t i = 0; i < v.size(); ++i) {
                put(out, "{}{{\"address\":\"{}\",", i ? "," : "", v[i].address.to_string());
                json_tally(out, v[i].tally);
                put(out, "}}");
            }
            put(out, "]");
        };
        put(out, ",\"endpoints\":{}", r.endpoints);
        endpoints("top_talkers_by_packets", r.top_by_packets);
        endpoints("top_talkers_by_bytes", r.top_by_bytes);
        put(out, ",\"conversations\":{},\"top_conversations\":[", r.pairs);
        for (std::size_t i = 0; i < r.top_pairs.size(); ++i) {
            put(out, "{}{{\"a\":\"{}\",\"b\":\"{}\",", i ? "," : "", r.top_pairs[i].a.to_string(),
                r.top_pairs[i].b.to_string());
            json_tally(out, r.top_pairs[i].tally);
            put(out, "}}");
        }
        put(out, "],\"ports\":{},\"top_ports\":[", r.ports);
        for (std::size_t i = 0; i < r.top_ports.size(); ++i) {
            put(out, "{}{{\"proto\":\"{}\",\"port\":{},", i ? "," : "", proto_label(r.top_ports[i].proto),
                r.top_ports[i].port);
            json_tally(out, r.top_ports[i].tally);
            put(out, "}}");
        }
        put(out, "]");
    }
    put(out, "}}\n");
    return fmt::to_string(out);
}

std::string render_stats_svg(const StatsReport& r) {
    constexpr int kWidth = 960, kHeight = 560, kLeft = 90, kRight = 20, kPlotH = 180;
    constexpr int kPlotW = kWidth - kLeft - kRight;
    const Histogram& h = r.histogram;
    fmt::memory_buffer out;
    put(out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\" font-size=\"12\">\n"
        "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n",
        kWidth, kHeight);
    put(out,
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">capdb stats: {} packets, {} bytes{}</text>\n",
        kWidth / 2, r.total.packets, r.total.bytes,
        r.first_ns ? fmt::format(", {} to {} (UTC)", time_label(*r.first_ns, false), time_label(*r.last_ns, false))
                   : std::string());
    for (int panel = 0; panel < 2; ++panel) {
        const bool bytes = panel == 1;
        const int top = 60 + panel * (kPlotH + 80);
        const int base = top + kPlotH;
        const Columns c = columns_of(h, bytes, kPlotW);
        const std::int64_t step = h.interval_ns * static_cast<std::int64_t>(c.per);
        const bool millis = step < kSec || h.origin_ns % kSec != 0;
        std::uint64_t peak = 0;
        for (std::uint64_t v : c.values) peak = std::max(peak, v);
        put(out, "<text x=\"{}\" y=\"{}\" font-size=\"14\">{} per {}</text>\n", kLeft, top - 10,
            bytes ? "Bytes" : "Packets", format_interval(step));
        // Axes and the scale.
        put(out, "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#000000\"/>\n", kLeft, top, base);
        put(out, "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#000000\"/>\n", kLeft, base,
            kLeft + kPlotW);
        for (int t = 0; t <= 4; ++t) {
            const int y = base - kPlotH * t / 4;
            const std::uint64_t v = peak * static_cast<std::uint64_t>(t) / 4;
            put(out, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#dddddd\"/>\n", kLeft + 1, y,
                kLeft + kPlotW, y);
            put(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", kLeft - 6, y + 4, compact(v));
        }
        const double col_w =
            c.values.empty() ? 0.0 : static_cast<double>(kPlotW) / static_cast<double>(c.values.size());
        for (std::size_t i = 0; i < c.values.size(); ++i) {
            if (c.values[i] == 0 || peak == 0) continue;
            const double bh =
                static_cast<double>(kPlotH) * static_cast<double>(c.values[i]) / static_cast<double>(peak);
            put(out, "<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\"/>\n",
                kLeft + col_w * static_cast<double>(i), base - std::max(bh, 1.0), std::max(col_w - 0.5, 0.5),
                std::max(bh, 1.0), bytes ? "#ff7f0e" : "#1f77b4");
        }
        // Six UTC time labels along the axis.
        for (int t = 0; t <= 5; ++t) {
            const double x = kLeft + kPlotW * t / 5.0;
            const std::int64_t ts = h.origin_ns + static_cast<std::int64_t>(static_cast<double>(c.values.size()) * t /
                                                                            5.0 * static_cast<double>(step));
            put(out, "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#000000\"/>\n", x, base,
                base + 5);
            put(out, "<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", x, base + 18,
                t == 0 ? time_label(ts, millis) : time_of_day(ts, millis));
        }
    }
    put(out, "</svg>\n");
    return fmt::to_string(out);
}

std::optional<FlowFormat> parse_flow_format(std::string_view name) noexcept {
    if (name == "line") return FlowFormat::line;
    if (name == "json") return FlowFormat::json;
    if (name == "csv") return FlowFormat::csv;
    return std::nullopt;
}

namespace {

std::string flow_proto(const Flow& f) {
    if (!f.is_ip()) return ethertype_name(f.key.ethertype);
    return proto_label(f.key.proto);
}

std::string endpoint(const Address& a, bool ports, std::uint16_t port) {
    if (!ports) return a.to_string();
    return a.is_v4() ? fmt::format("{}:{}", a.to_string(), port) : fmt::format("[{}]:{}", a.to_string(), port);
}

std::string seconds(std::int64_t ns) { return fmt::format("{}.{:09}", ns / kSec, ns % kSec); }

}  // namespace

namespace {

// The TCP flags a flow's packets carried that open and close connections:
// S (SYN), F (FIN), R (RST), in that order; "-" when none or not TCP.
std::string flow_flags(const Flow& f) {
    std::string s;
    if (f.key.proto == 6 && f.is_ip()) {
        if (f.value.tcp_flags & 0x02) s += 'S';
        if (f.value.tcp_flags & 0x01) s += 'F';
        if (f.value.tcp_flags & 0x04) s += 'R';
    }
    return s.empty() ? "-" : s;
}

}  // namespace

std::string flow_header(FlowFormat format) {
    switch (format) {
        case FlowFormat::line:
            return fmt::format("{:<30} {:>20} {:<6} {:<47} {:<47} {:>10} {:>12} {:>10} {:>12} {}\n", "START",
                               "DURATION", "PROTO", "SRC", "DST", "SRC PKTS", "SRC BYTES", "DST PKTS", "DST BYTES",
                               "FLAGS");
        case FlowFormat::csv:
            return "start,end,duration,proto,src,sport,dst,dport,packets,bytes,src_packets,src_bytes,dst_packets,"
                   "dst_bytes,tcp_flags\n";
        case FlowFormat::json: break;
    }
    return {};
}

void format_flow(fmt::memory_buffer& out, FlowFormat format, const Flow& f) {
    const bool ip = f.has_addresses();  // IP, or ARP's sender and target
    const Tally& fw = f.forward();
    const Tally& bw = f.backward();
    const std::int64_t dur = f.value.last_ns - f.value.first_ns;
    switch (format) {
        case FlowFormat::line:
            put(out, "{:<30} {:>20} {:<6} {:<47} {:<47} {:>10} {:>12} {:>10} {:>12} {}\n",
                format_rfc3339(f.value.first_ns), seconds(dur), flow_proto(f),
                ip ? endpoint(f.src(), f.has_ports(), f.sport()) : "-",
                ip ? endpoint(f.dst(), f.has_ports(), f.dport()) : "-", fw.packets, fw.bytes, bw.packets, bw.bytes,
                flow_flags(f));
            break;
        case FlowFormat::csv:
            put(out, "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", format_rfc3339(f.value.first_ns),
                format_rfc3339(f.value.last_ns), seconds(dur), flow_proto(f), ip ? f.src().to_string() : "",
                f.has_ports() ? fmt::format("{}", f.sport()) : "", ip ? f.dst().to_string() : "",
                f.has_ports() ? fmt::format("{}", f.dport()) : "", fw.packets + bw.packets, fw.bytes + bw.bytes,
                fw.packets, fw.bytes, bw.packets, bw.bytes, f.key.proto == 6 && f.is_ip() ? flow_flags(f) : "");
            break;
        case FlowFormat::json:
            put(out,
                "{{\"start\":\"{}\",\"start_ns\":{},\"end\":\"{}\",\"end_ns\":{},\"duration_ns\":{},\"proto\":\"{}\"",
                format_rfc3339(f.value.first_ns), f.value.first_ns, format_rfc3339(f.value.last_ns), f.value.last_ns,
                dur, flow_proto(f));
            if (f.is_ip())
                put(out, ",\"ip_proto\":{}", f.key.proto);
            else
                put(out, ",\"ethertype\":{}", f.key.ethertype);
            if (ip)
                put(out, ",\"src\":\"{}\",\"dst\":\"{}\"", f.src().to_string(), f.dst().to_string());
            else
                put(out, ",\"src\":null,\"dst\":null");
            if (f.has_ports())
                put(out, ",\"sport\":{},\"dport\":{}", f.sport(), f.dport());
            else
                put(out, ",\"sport\":null,\"dport\":null");
            put(out,
                ",\"packets\":{},\"bytes\":{},\"src_packets\":{},\"src_bytes\":{},\"dst_packets\":{},\"dst_bytes\":{}",
                fw.packets + bw.packets, fw.bytes + bw.bytes, fw.packets, fw.bytes, bw.packets, bw.bytes);
            if (f.key.proto == 6 && f.is_ip())
                put(out, ",\"syn\":{},\"fin\":{},\"rst\":{}", (f.value.tcp_flags & 0x02) != 0,
                    (f.value.tcp_flags & 0x01) != 0, (f.value.tcp_flags & 0x04) != 0);
            put(out, "}}\n");
            break;
    }
}

}  // namespace capdb
