// 'capdb captures': the captures of a database, as a listing that fits 100
// columns, the full listing (--long), or JSON lines (--format json).
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/format.h"
#include "capdb/store.h"
#include "cli/cli.h"

namespace capdb::cli {
namespace {

// Width the default listing keeps within.
constexpr std::size_t kColumns = 100;
// Fewest columns the source is cut to, even when the others are wide.
constexpr std::size_t kMinSourceWidth = 24;

std::string time_or_dash(const std::optional<std::int64_t>& ns) { return ns ? format_rfc3339(*ns) : "-"; }

// "2017-03-26T01:40:02Z": whole seconds, for the short listing.
std::string time_to_second(const std::optional<std::int64_t>& ns) {
    if (!ns) return "-";
    std::string t = format_rfc3339(*ns);
    const auto dot = t.find('.');
    if (dot != std::string::npos) t = t.substr(0, dot) + "Z";
    return t;
}

// "0.250s", "59.999s", "12m05s", "3h02m09s", "12d04h30m".
std::string duration_text(const std::optional<std::int64_t>& first, const std::optional<std::int64_t>& last) {
    if (!first || !last || *last < *first) return "-";
    const std::uint64_t ns = static_cast<std::uint64_t>(*last) - static_cast<std::uint64_t>(*first);
    if (ns < 60'000'000'000ULL) return fmt::format("{:.3f}s", static_cast<double>(ns) / 1e9);
    const std::uint64_t s = ns / 1'000'000'000ULL;
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60);
    return fmt::format("{}d{:02}h{:02}m", s / 86400, s / 3600 % 24, s / 60 % 60);
}

// The source as both listings show it: the path, or live:IFACE with its filter.
std::string source_text(const CaptureInfo& c) {
    std::string source = printable(c.meta.source);
    if (c.meta.live) source = "live:" + source;
    if (!c.meta.filter.empty()) source += " filter '" + printable(c.meta.filter) + "'";
    return source;
}

// text cut to width by replacing part of its middle with "...", keeping
// head_share of what stays from the start: a path keeps more of its end (the
// file name), a live source more of its start (live:IFACE and the filter).
std::string elide(const std::string& text, std::size_t width, double head_share) {
    if (text.size() <= width) return text;
    if (width <= 3) return text.substr(0, width);
    const std::size_t keep = width - 3;
    const auto head = static_cast<std::size_t>(static_cast<double>(keep) * head_share);
    return text.substr(0, head) + "..." + text.substr(text.size() - (keep - head));
}

// Where a capture's packets can be read back from (query -w): its original
// file, the packet store, or nowhere (summaries only).
struct Retrieval {
    const char* packets_at = "none";  // file, store, none (packets_at_name)
    std::optional<bool> file_ok;      // for file: the file is there with its recorded size and mtime
    bool file_missing = false;
    std::uint64_t store_bytes = 0;  // the capture's segments in the packet store
    // file, file:missing, file:changed, store or none.
    [[nodiscard]] std::string text() const {
        if (file_missing) return "file:missing";
        if (file_ok && !*file_ok) return "file:changed";
        return packets_at;
    }
};

Retrieval retrieval(const CaptureInfo& c) {
    Retrieval r;
    r.packets_at = packets_at_name(c.meta.packets_at);
    r.store_bytes = c.store_bytes;
    if (c.meta.packets_at == PacketsAt::file && c.meta.file_size) {
        struct stat st {};
        r.file_missing = ::stat(c.meta.source.c_str(), &st) != 0;
        r.file_ok = !r.file_missing && S_ISREG(st.st_mode) &&
                    static_cast<std::uint64_t>(st.st_size) == *c.meta.file_size &&
                    (!c.meta.file_mtime_ns ||
                     st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec == *c.meta.file_mtime_ns);
    }
    return r;
}

// "-", "512", "12.3K", "4.0M", "1.2G": bytes in powers of 1024.
std::string bytes_text(std::uint64_t n) {
    if (n == 0) return "-";
    if (n < 1024) return std::to_string(n);
    const char* units = "KMGTPE";
    double v = static_cast<double>(n) / 1024;
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < 6) {
        v /= 1024;
        ++u;
    }
    return fmt::format("{:.1f}{}", v, units[u]);
}

void print_short(const std::vector<CaptureInfo>& caps) {
    struct Row {
        std::string id, state, packets, first, duration, store, from, source;
        bool live = false;
    };
    std::vector<Row> rows;
    Row header{"ID", "STATE", "PACKETS", "FIRST", "DURATION", "STORE", "FROM", "SOURCE"};
    std::size_t w_id = header.id.size(), w_state = header.state.size(), w_packets = header.packets.size();
    std::size_t w_first = header.first.size(), w_duration = header.duration.size();
    std::size_t w_store = header.store.size(), w_from = header.from.size();
    for (const CaptureInfo& c : caps) {
        const Retrieval where = retrieval(c);
        Row r{std::to_string(c.id),
              capture_state_name(c.state),
              std::to_string(c.counts.packets),
              time_to_second(c.first_ts_ns),
              duration_text(c.first_ts_ns, c.last_ts_ns),
              bytes_text(where.store_bytes),
              where.text(),
              source_text(c),
              c.meta.live};
        w_store = std::max(w_store, r.store.size());
        w_from = std::max(w_from, r.from.size());
        w_id = std::max(w_id, r.id.size());
        w_state = std::max(w_state, r.state.size());
        w_packets = std::max(w_packets, r.packets.size());
        w_first = std::max(w_first, r.first.size());
        w_duration = std::max(w_duration, r.duration.size());
        rows.push_back(std::move(r));
    }
    // Columns are separated by two spaces.
    const std::size_t used = w_id + w_state + w_packets + w_first + w_duration + w_store + w_from + 7 * 2;
    const std::size_t w_source = used + kMinSourceWidth < kColumns ? kColumns - used : kMinSourceWidth;
    auto print = [&](const Row& r) {
        std::string line =
            fmt::format("{:<{}}  {:<{}}  {:>{}}  {:<{}}  {:>{}}  {:>{}}  {:<{}}  {}", r.id, w_id, r.state, w_state,
                        r.packets, w_packets, r.first, w_first, r.duration, w_duration, r.store, w_store, r.from,
                        w_from, elide(r.source, w_source, r.live ? 2.0 / 3 : 1.0 / 3));
        std::printf("%s\n", line.c_str());
    };
    print(header);
    for (const Row& r : rows) print(r);
}

// Every column there is, one capture a line (the listing before --long was
// an option; scripts that split it on spaces keep working).
void print_long(const std::vector<CaptureInfo>& caps) {
    std::printf("%-4s %-11s %10s %9s %9s %7s %9s  %-30s  %-30s  %12s  %-12s  %s\n", "ID", "STATE", "PACKETS", "IPV4",
                "IPV6", "OTHER", "MALFORMED", "FIRST", "LAST", "STORE_BYTES", "FROM", "SOURCE");
    for (const CaptureInfo& c : caps) {
        const Retrieval where = retrieval(c);
        std::printf("%-4lld %-11s %10llu %9llu %9llu %7llu %9llu  %-30s  %-30s  %12llu  %-12s  %s",
                    static_cast<long long>(c.id), capture_state_name(c.state),
                    static_cast<unsigned long long>(c.counts.packets), static_cast<unsigned long long>(c.counts.ipv4),
                    static_cast<unsigned long long>(c.counts.ipv6),
                    static_cast<unsigned long long>(c.counts.other + c.counts.unsupported),
                    static_cast<unsigned long long>(c.counts.malformed), time_or_dash(c.first_ts_ns).c_str(),
                    time_or_dash(c.last_ts_ns).c_str(), static_cast<unsigned long long>(where.store_bytes),
                    where.text().c_str(), source_text(c).c_str());
        if (c.live_stats)
            std::printf("  received %llu, dropped by kernel %llu, dropped by interface %llu",
                        static_cast<unsigned long long>(c.live_stats->received),
                        static_cast<unsigned long long>(c.live_stats->dropped_kernel),
                        static_cast<unsigned long long>(c.live_stats->dropped_iface));
        if (c.meta.packets_at == PacketsAt::store)
            std::printf("  packets in the store (%llu bytes)", static_cast<unsigned long long>(c.store_bytes));
        else if (c.meta.packets_at == PacketsAt::none)
            std::printf("  packets not kept");
        if (!c.sensor.empty()) std::printf("  sensor %s", printable(c.sensor).c_str());
        if (!c.error.empty()) std::printf("  (%s)", printable(c.error).c_str());
        std::printf("\n");
    }
}

// A JSON string of text as capdb prints it elsewhere: printable() first
// (so non-ASCII and control bytes read \xNN), then JSON's own escapes.
void json_string(fmt::memory_buffer& out, std::string_view text) {
    out.push_back('"');
    for (char c : printable(text)) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
}

template <typename... Args>
void put_to(fmt::memory_buffer& out, fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

template <typename T>
void json_optional(fmt::memory_buffer& out, const std::optional<T>& v) {
    if (v)
        fmt::format_to(std::back_inserter(out), "{}", *v);
    else
        fmt::format_to(std::back_inserter(out), "null");
}

void json_optional_string(fmt::memory_buffer& out, const std::string& s) {
    if (s.empty())
        fmt::format_to(std::back_inserter(out), "null");
    else
        json_string(out, s);
}

// One object per capture: every field of CaptureInfo, null when absent.
void print_json(const std::vector<CaptureInfo>& caps) {
    for (const CaptureInfo& c : caps) {
        fmt::memory_buffer out;
        auto put = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
            put_to(out, format, std::forward<Args>(args)...);
        };
        put("{{\"id\":{},\"state\":\"{}\",\"source\":", c.id, capture_state_name(c.state));
        json_string(out, c.meta.source);
        put(",\"live\":{},\"filter\":", c.meta.live ? "true" : "false");
        json_optional_string(out, c.meta.filter);
        put(",\"linktype\":{},\"snaplen\":{},\"preview_bytes\":{},\"file_size\":", c.meta.linktype, c.meta.snaplen,
            c.meta.preview_bytes);
        json_optional(out, c.meta.file_size);
        put(",\"sha256\":");
        json_optional_string(out, c.sha256);
        put(",\"first_ts_ns\":");
        json_optional(out, c.first_ts_ns);
        put(",\"last_ts_ns\":");
        json_optional(out, c.last_ts_ns);
        put(",\"first_time\":");
        if (c.first_ts_ns)
            json_string(out, format_rfc3339(*c.first_ts_ns));
        else
            put("null");
        put(",\"last_time\":");
        if (c.last_ts_ns)
            json_string(out, format_rfc3339(*c.last_ts_ns));
        else
            put("null");
        const PacketCounts& n = c.counts;
        put(",\"packets\":{},\"ipv4\":{},\"ipv6\":{},\"other\":{},\"malformed\":{},\"unsupported\":{},\"bytes\":{}",
            n.packets, n.ipv4, n.ipv6, n.other, n.malformed, n.unsupported, n.bytes);
        if (c.live_stats)
            put(",\"received\":{},\"dropped_kernel\":{},\"dropped_iface\":{}", c.live_stats->received,
                c.live_stats->dropped_kernel, c.live_stats->dropped_iface);
        else
            put(",\"received\":null,\"dropped_kernel\":null,\"dropped_iface\":null");
        const Retrieval where = retrieval(c);
        put(",\"packets_at\":\"{}\",\"file_present\":", where.packets_at);
        json_optional(out, where.file_ok);
        put(",\"store_bytes\":{}", where.store_bytes);
        put(",\"started_at_ns\":{},\"error\":", c.started_at_ns);
        json_optional_string(out, c.error);
        // Only a ClickHouse store's captures name their sensor.
        if (!c.sensor.empty()) {
            put(",\"sensor\":");
            json_string(out, c.sensor);
        }
        put("}}\n");
        std::fwrite(out.data(), 1, out.size(), stdout);
    }
}

}  // namespace

int run_captures(const CapturesArgs& a) {
    if (a.format != "text" && a.format != "json")
        throw UsageError(fmt::format("--format: unknown format '{}' (text, json)", printable(a.format)));
    auto store =
        open_store(database_path(a.db), {.read_only = true, .create = false, .timeout_ms = timeout_ms(a.timeout)});
    const std::vector<CaptureInfo> caps = store->captures();
    if (a.format == "json")
        print_json(caps);
    else if (a.long_form)
        print_long(caps);
    else
        print_short(caps);
    std::fflush(stdout);
    return 0;
}

}  // namespace capdb::cli
