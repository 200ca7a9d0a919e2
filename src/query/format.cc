#include "capdb/format.h"

#include <cerrno>

#include "capdb/filter.h"

namespace capdb {

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;

void append(fmt::memory_buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void append_hex(fmt::memory_buffer& out, std::span<const std::uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::uint8_t b : bytes) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0xf]);
    }
}

// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

void append_rfc3339(fmt::memory_buffer& out, std::int64_t ts_ns) {
    const std::int64_t secs = epoch_seconds(ts_ns);
    // Not ts_ns - secs * kNsPerSec: that overflows near INT64_MIN.
    const std::int64_t frac = (ts_ns % kNsPerSec + kNsPerSec) % kNsPerSec;
    std::int64_t days = secs / 86400;
    std::int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        --days;
    }
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", y, m, d, rem / 3600,
                   (rem / 60) % 60, rem % 60, frac);
}

bool is_ip(const PacketView& p) noexcept { return p.summary.network != Network::none; }

// What the line format prints in place of the addresses for a non-IP row.
std::string link_label(const PacketView& p) {
    if (p.summary.status == Status::non_ip) return ethertype_name(p.summary.ethertype);
    return link_type_name(p.linktype);
}

void append_proto(fmt::memory_buffer& out, std::uint8_t proto) {
    if (const char* n = proto_name(proto)) append(out, n);
    else fmt::format_to(std::back_inserter(out), "proto {}", proto);
}

void append_endpoint(fmt::memory_buffer& out, const Address& a, bool ports, std::uint16_t port) {
    if (!ports) {
        append(out, a.to_string());
    } else if (a.is_v4()) {
        fmt::format_to(std::back_inserter(out), "{}:{}", a.to_string(), port);
    } else {
        fmt::format_to(std::back_inserter(out), "[{}]:{}", a.to_string(), port);
    }
}

void append_json_string(fmt::memory_buffer& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u >= 0x7f) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

void format_line(fmt::memory_buffer& out, const PacketView& p) {
    fmt::format_to(std::back_inserter(out), "Time: {}, ", epoch_seconds(p.ts_ns));
    if (is_ip(p)) {
        append(out, p.summary.src.to_string());
        append(out, " --> ");
        append(out, p.summary.dst.to_string());
    } else {
        append(out, link_label(p));
    }
    fmt::format_to(std::back_inserter(out), ", {} bytes: [", p.wirelen);
    append_hex(out, p.preview);
    append(out, "...]");
}

void format_long(fmt::memory_buffer& out, const PacketView& p) {
    append_rfc3339(out, p.ts_ns);
    fmt::format_to(std::back_inserter(out), " {}:{} ", p.capture, p.seq + 1);
    const Summary& s = p.summary;
    if (is_ip(p)) {
        append_proto(out, s.ip_proto);
        out.push_back(' ');
        append_endpoint(out, s.src, s.has_ports, s.src_port);
        append(out, " --> ");
        append_endpoint(out, s.dst, s.has_ports, s.dst_port);
    } else {
        append(out, link_label(p));
    }
    fmt::format_to(std::back_inserter(out), " caplen {} len {}", p.caplen, p.wirelen);
    if (s.fragment) append(out, " fragment");
    if (s.status != Status::ok && s.status != Status::non_ip) {
        append(out, " [");
        append(out, status_name(s.status));
        out.push_back(']');
    }
}

template <class T>
void append_opt(fmt::memory_buffer& out, bool present, T value, std::string_view absent) {
    if (present) fmt::format_to(std::back_inserter(out), "{}", value);
    else append(out, absent);
}

void format_json(fmt::memory_buffer& out, const PacketView& p) {
    const Summary& s = p.summary;
    const bool ip = is_ip(p);
    append(out, "{\"time\":\"");
    append_rfc3339(out, p.ts_ns);
    fmt::format_to(std::back_inserter(out), "\",\"ts_ns\":{},\"capture\":{},\"packet\":{},\"status\":\"{}\",\"src\":",
                   p.ts_ns, p.capture, p.seq + 1, status_name(s.status));
    if (ip) append_json_string(out, s.src.to_string());
    else append(out, "null");
    append(out, ",\"dst\":");
    if (ip) append_json_string(out, s.dst.to_string());
    else append(out, "null");
    append(out, ",\"proto\":");
    append_opt(out, ip, unsigned{s.ip_proto}, "null");
    append(out, ",\"sport\":");
    append_opt(out, s.has_ports, s.src_port, "null");
    append(out, ",\"dport\":");
    append_opt(out, s.has_ports, s.dst_port, "null");
    fmt::format_to(std::back_inserter(out), ",\"caplen\":{},\"wirelen\":{},\"linktype\":{},\"ethertype\":",
                   p.caplen, p.wirelen, p.linktype);
    append_opt(out, s.ethertype != 0, s.ethertype, "null");
    append(out, ",\"offset\":");
    append_opt(out, p.file_offset >= 0, p.file_offset, "null");
    append(out, ",\"preview\":\"");
    append_hex(out, p.preview);
    append(out, "\"}");
}

void format_csv(fmt::memory_buffer& out, const PacketView& p) {
    const Summary& s = p.summary;
    const bool ip = is_ip(p);
    append_rfc3339(out, p.ts_ns);
    fmt::format_to(std::back_inserter(out), ",{},{},{},{},", p.ts_ns, p.capture, p.seq + 1, status_name(s.status));
    if (ip) append(out, s.src.to_string());
    out.push_back(',');
    if (ip) append(out, s.dst.to_string());
    out.push_back(',');
    append_opt(out, ip, unsigned{s.ip_proto}, "");
    out.push_back(',');
    append_opt(out, s.has_ports, s.src_port, "");
    out.push_back(',');
    append_opt(out, s.has_ports, s.dst_port, "");
    fmt::format_to(std::back_inserter(out), ",{},{},{},", p.caplen, p.wirelen, p.linktype);
    append_opt(out, s.ethertype != 0, s.ethertype, "");
    out.push_back(',');
    append_opt(out, p.file_offset >= 0, p.file_offset, "");
    out.push_back(',');
    append_hex(out, p.preview);
}

}  // namespace

std::optional<OutputFormat> parse_format(std::string_view name) noexcept {
    if (name == "line") return OutputFormat::line;
    if (name == "long") return OutputFormat::long_form;
    if (name == "json") return OutputFormat::json;
    if (name == "csv") return OutputFormat::csv;
    return std::nullopt;
}

std::int64_t epoch_seconds(std::int64_t ts_ns) noexcept {
    std::int64_t s = ts_ns / kNsPerSec;
    if (ts_ns % kNsPerSec < 0) --s;
    return s;
}

std::string format_rfc3339(std::int64_t ts_ns) {
    fmt::memory_buffer b;
    append_rfc3339(b, ts_ns);
    return fmt::to_string(b);
}

void format_row(fmt::memory_buffer& out, OutputFormat format, const PacketView& p) {
    switch (format) {
        case OutputFormat::line: format_line(out, p); break;
        case OutputFormat::long_form: format_long(out, p); break;
        case OutputFormat::json: format_json(out, p); break;
        case OutputFormat::csv: format_csv(out, p); break;
    }
}

Printer::Printer(OutputFormat format, std::FILE* out) : format_(format), out_(out) {}

Printer::~Printer() { flush(); }

void Printer::begin() {
    if (format_ == OutputFormat::csv)
        append(buf_, "time,ts_ns,capture,packet,status,src,dst,proto,sport,dport,caplen,wirelen,linktype,ethertype,"
                     "offset,preview\n");
}

bool Printer::row(const PacketView& p) {
    if (!ok_) return false;
    format_row(buf_, format_, p);
    buf_.push_back('\n');
    if (buf_.size() >= (1u << 16)) return flush();
    return true;
}

bool Printer::flush() {
    if (!ok_) return false;
    if (buf_.size() != 0) {
        if (std::fwrite(buf_.data(), 1, buf_.size(), out_) != buf_.size()) ok_ = false;
        buf_.clear();
    }
    if (std::fflush(out_) != 0) ok_ = false;
    return ok_;
}

}  // namespace capdb
