#include "capdb/format.h"

#include <time.h>

#include <cerrno>

#include "capdb/error.h"
#include "capdb/filter.h"

namespace capdb {

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;

void append(fmt::memory_buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

// Makes room for n more bytes at the end of out and returns where they start;
// the caller writes all n.
char* grow(fmt::memory_buffer& out, std::size_t n) {
    const std::size_t size = out.size();
    out.resize(size + n);
    return out.data() + size;
}

// Decimal, as "{}" would print it.
template <class Int>
void append_int(fmt::memory_buffer& out, Int value) {
    const fmt::format_int text(value);
    out.append(text.data(), text.data() + text.size());
}

// value (< 10^width) as exactly width digits.
char* write_fixed(char* out, std::uint64_t value, std::size_t width) noexcept {
    for (std::size_t i = width; i-- > 0;) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return out + width;
}

void append_hex(fmt::memory_buffer& out, std::span<const std::uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    char* p = grow(out, 2 * bytes.size());
    for (std::uint8_t b : bytes) {
        *p++ = kHex[b >> 4];
        *p++ = kHex[b & 0xf];
    }
}

void append_address(fmt::memory_buffer& out, const Address& a) {
    const std::size_t size = out.size();
    out.resize(size + kMaxAddressText);
    const char* end = a.write(out.data() + size);
    out.resize(static_cast<std::size_t>(end - out.data()));
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
    // int64 nanoseconds span 1677-09-21 to 2262-04-11: the year always has
    // four digits.
    char* p = grow(out, 30);
    p = write_fixed(p, static_cast<std::uint64_t>(y), 4);
    *p++ = '-';
    p = write_fixed(p, m, 2);
    *p++ = '-';
    p = write_fixed(p, d, 2);
    *p++ = 'T';
    p = write_fixed(p, static_cast<std::uint64_t>(rem / 3600), 2);
    *p++ = ':';
    p = write_fixed(p, static_cast<std::uint64_t>(rem / 60 % 60), 2);
    *p++ = ':';
    p = write_fixed(p, static_cast<std::uint64_t>(rem % 60), 2);
    *p++ = '.';
    p = write_fixed(p, static_cast<std::uint64_t>(frac), 9);
    *p = 'Z';
}

// As append_rfc3339, in this machine's time zone (TZ, else /etc/localtime)
// with its offset at that instant: "2017-03-26T03:40:02.000000000+02:00".
void append_local_rfc3339(fmt::memory_buffer& out, std::int64_t ts_ns) {
    const auto t = static_cast<time_t>(epoch_seconds(ts_ns));
    tm local{};
    std::int64_t offset_ns = 0;
    if (::localtime_r(&t, &local)) offset_ns = static_cast<std::int64_t>(local.tm_gmtoff) * kNsPerSec;
    std::int64_t shifted = 0;
    if (__builtin_add_overflow(ts_ns, offset_ns, &shifted)) {  // at the ends of int64 time: UTC
        append_rfc3339(out, ts_ns);
        return;
    }
    append_rfc3339(out, shifted);
    out.resize(out.size() - 1);  // the 'Z'
    const std::int64_t minutes = (offset_ns < 0 ? -offset_ns : offset_ns) / kNsPerSec / 60;
    char* p = grow(out, 6);
    *p++ = offset_ns < 0 ? '-' : '+';
    p = write_fixed(p, static_cast<std::uint64_t>(minutes / 60), 2);
    *p++ = ':';
    write_fixed(p, static_cast<std::uint64_t>(minutes % 60), 2);
}

bool is_ip(const PacketView& p) noexcept { return p.summary.network != Network::none; }

// What the line format prints in place of the addresses for a non-IP row.
std::string link_label(const PacketView& p) {
    if (p.summary.status != Status::non_ip) return link_type_name(p.linktype);
    // A payload without an EtherType is LLC on Ethernet; elsewhere (802.11
    // management and encrypted frames, PPP's control protocols) the link
    // type says more.
    if (p.summary.ethertype == 0 && p.linktype != dlt::en10mb) return link_type_name(p.linktype);
    return ethertype_name(p.summary.ethertype);
}

void append_proto(fmt::memory_buffer& out, std::uint8_t proto) {
    if (const char* n = proto_name(proto)) {
        append(out, n);
    } else {
        append(out, "proto ");
        append_int(out, proto);
    }
}

void append_endpoint(fmt::memory_buffer& out, const Address& a, bool ports, std::uint16_t port) {
    if (!ports) {
        append_address(out, a);
    } else if (a.is_v4()) {
        append_address(out, a);
        out.push_back(':');
        append_int(out, port);
    } else {
        out.push_back('[');
        append_address(out, a);
        append(out, "]:");
        append_int(out, port);
    }
}

// An address as a JSON string: its text never needs escaping.
void append_json_address(fmt::memory_buffer& out, const Address& a) {
    out.push_back('"');
    append_address(out, a);
    out.push_back('"');
}

void format_line(fmt::memory_buffer& out, const PacketView& p) {
    append(out, "Time: ");
    append_int(out, epoch_seconds(p.ts_ns));
    append(out, ", ");
    if (is_ip(p)) {
        append_address(out, p.summary.src);
        append(out, " --> ");
        append_address(out, p.summary.dst);
    } else {
        append(out, link_label(p));
    }
    append(out, ", ");
    append_int(out, p.wirelen);
    append(out, " bytes: [");
    append_hex(out, p.preview);
    append(out, "...]");
}

// The interface as long and json show it: its name (escaped as capdb
// prints names), else "#" and its index.
std::string interface_label(const PacketView& p, std::string_view if_name) {
    if (if_name.empty()) return fmt::format("#{}", p.if_index);
    return printable(if_name);
}

void format_long(fmt::memory_buffer& out, const PacketView& p, std::string_view if_name, bool local_time) {
    if (local_time)
        append_local_rfc3339(out, p.ts_ns);
    else
        append_rfc3339(out, p.ts_ns);
    out.push_back(' ');
    append_int(out, p.capture);
    out.push_back(':');
    append_int(out, p.seq + 1);
    out.push_back(' ');
    const Summary& s = p.summary;
    if (is_ip(p)) {
        append_proto(out, s.ip_proto);
        out.push_back(' ');
        append_endpoint(out, s.src, s.has_ports, s.src_port);
        append(out, " --> ");
        append_endpoint(out, s.dst, s.has_ports, s.dst_port);
    } else {
        append(out, link_label(p));
        if (s.arp) {  // the sender and target protocol addresses
            out.push_back(' ');
            append_address(out, s.src);
            append(out, " --> ");
            append_address(out, s.dst);
        }
    }
    append(out, " caplen ");
    append_int(out, p.caplen);
    append(out, " len ");
    append_int(out, p.wirelen);
    append(out, " on ");
    append(out, interface_label(p, if_name));
    append(out, " (");
    append(out, link_type_name(p.linktype));
    out.push_back(')');
    if (s.tunnel != Tunnel::none) {  // the outermost tunnel, its id and endpoints
        append(out, " tunnel ");
        append(out, tunnel_name(s.tunnel));
        if (s.has_tunnel_id) {
            out.push_back(' ');
            append_int(out, s.tunnel_id);
        }
        if (s.outer_network != Network::none) {
            out.push_back(' ');
            append_address(out, s.outer_src);
            append(out, " --> ");
            append_address(out, s.outer_dst);
        }
    }
    if (s.fragment) append(out, " fragment");
    // The status column: the decoding status when it is not plain, and
    // invalid-time for a record whose sub-second field was out of range.
    const bool show_status = s.status != Status::ok && s.status != Status::non_ip;
    if (show_status || p.time_invalid) {
        append(out, " [");
        if (show_status) append(out, status_name(s.status));
        if (show_status && p.time_invalid) out.push_back(',');
        if (p.time_invalid) append(out, "invalid-time");
        out.push_back(']');
    }
}

template <class Int>
void append_opt(fmt::memory_buffer& out, bool present, Int value, std::string_view absent) {
    if (present)
        append_int(out, value);
    else
        append(out, absent);
}

void format_json(fmt::memory_buffer& out, const PacketView& p, std::string_view if_name) {
    const Summary& s = p.summary;
    const bool ip = is_ip(p);
    append(out, "{\"time\":\"");
    append_rfc3339(out, p.ts_ns);
    append(out, "\",\"ts_ns\":");
    append_int(out, p.ts_ns);
    // Only on the rare row it concerns, so that every other row keeps the
    // same fields as the csv format.
    if (p.time_invalid) append(out, ",\"time_invalid\":true");
    append(out, ",\"capture\":");
    append_int(out, p.capture);
    append(out, ",\"packet\":");
    append_int(out, p.seq + 1);
    append(out, ",\"status\":\"");
    append(out, status_name(s.status));
    append(out, "\",\"src\":");
    if (ip)
        append_json_address(out, s.src);
    else
        append(out, "null");
    append(out, ",\"dst\":");
    if (ip)
        append_json_address(out, s.dst);
    else
        append(out, "null");
    append(out, ",\"proto\":");
    append_opt(out, ip, s.ip_proto, "null");
    append(out, ",\"sport\":");
    append_opt(out, s.has_ports, s.src_port, "null");
    append(out, ",\"dport\":");
    append_opt(out, s.has_ports, s.dst_port, "null");
    append(out, ",\"caplen\":");
    append_int(out, p.caplen);
    append(out, ",\"wirelen\":");
    append_int(out, p.wirelen);
    append(out, ",\"linktype\":");
    append_int(out, p.linktype);
    append(out, ",\"ethertype\":");
    append_opt(out, s.ethertype != 0, s.ethertype, "null");
    append(out, ",\"offset\":");
    append_opt(out, p.file_offset >= 0, p.file_offset, "null");
    const bool tunnelled = s.tunnel != Tunnel::none, outer = s.outer_network != Network::none;
    append(out, ",\"tunnel\":");
    if (tunnelled) {
        out.push_back('"');
        append(out, tunnel_name(s.tunnel));
        out.push_back('"');
    } else {
        append(out, "null");
    }
    append(out, ",\"tunnel_id\":");
    append_opt(out, s.has_tunnel_id, s.tunnel_id, "null");
    append(out, ",\"outer_src\":");
    if (outer)
        append_json_address(out, s.outer_src);
    else
        append(out, "null");
    append(out, ",\"outer_dst\":");
    if (outer)
        append_json_address(out, s.outer_dst);
    else
        append(out, "null");
    append(out, ",\"interface\":");
    append_int(out, p.if_index);
    append(out, ",\"interface_name\":");
    if (if_name.empty()) {
        append(out, "null");
    } else {
        // As printable() shows it, then JSON's own escapes.
        out.push_back('"');
        for (char c : printable(if_name)) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out.push_back('"');
    }
    append(out, ",\"link\":\"");
    append(out, link_type_name(p.linktype));
    append(out, "\",\"preview\":\"");
    append_hex(out, p.preview);
    append(out, "\"}");
}

void format_csv(fmt::memory_buffer& out, const PacketView& p) {
    const Summary& s = p.summary;
    const bool ip = is_ip(p);
    append_rfc3339(out, p.ts_ns);
    out.push_back(',');
    append_int(out, p.ts_ns);
    out.push_back(',');
    append_int(out, p.capture);
    out.push_back(',');
    append_int(out, p.seq + 1);
    out.push_back(',');
    append(out, status_name(s.status));
    out.push_back(',');
    if (ip) append_address(out, s.src);
    out.push_back(',');
    if (ip) append_address(out, s.dst);
    out.push_back(',');
    append_opt(out, ip, s.ip_proto, "");
    out.push_back(',');
    append_opt(out, s.has_ports, s.src_port, "");
    out.push_back(',');
    append_opt(out, s.has_ports, s.dst_port, "");
    out.push_back(',');
    append_int(out, p.caplen);
    out.push_back(',');
    append_int(out, p.wirelen);
    out.push_back(',');
    append_int(out, p.linktype);
    out.push_back(',');
    append_opt(out, s.ethertype != 0, s.ethertype, "");
    out.push_back(',');
    append_opt(out, p.file_offset >= 0, p.file_offset, "");
    out.push_back(',');
    append(out, tunnel_name(s.tunnel));
    out.push_back(',');
    append_opt(out, s.has_tunnel_id, s.tunnel_id, "");
    out.push_back(',');
    if (s.outer_network != Network::none) append_address(out, s.outer_src);
    out.push_back(',');
    if (s.outer_network != Network::none) append_address(out, s.outer_dst);
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

void format_row(fmt::memory_buffer& out, OutputFormat format, const PacketView& p, std::string_view if_name,
                bool local_time) {
    switch (format) {
        case OutputFormat::line: format_line(out, p); break;
        case OutputFormat::long_form: format_long(out, p, if_name, local_time); break;
        case OutputFormat::json: format_json(out, p, if_name); break;
        case OutputFormat::csv: format_csv(out, p); break;
    }
}

namespace {
// Rows are gathered into blocks of about this size before they are written:
// large enough to amortise the write, small enough that the buffer is set up
// once and stays in cache.
constexpr std::size_t kFlushBytes = 32 * 1024;
}  // namespace

Printer::Printer(OutputFormat format, std::FILE* out) : format_(format), out_(out) { buf_.reserve(kFlushBytes + 4096); }

Printer::~Printer() { flush(); }

void Printer::begin() {
    if (format_ == OutputFormat::csv)
        append(buf_,
               "time,ts_ns,capture,packet,status,src,dst,proto,sport,dport,caplen,wirelen,linktype,ethertype,"
               "offset,tunnel,tunnel_id,outer_src,outer_dst,preview\n");
}

bool Printer::row(const PacketView& p) {
    if (!ok_) return false;
    const bool named = names_ && (format_ == OutputFormat::long_form || format_ == OutputFormat::json);
    format_row(buf_, format_, p, named ? names_(p.capture, p.if_index) : std::string_view{}, local_time_);
    buf_.push_back('\n');
    if (buf_.size() >= kFlushBytes) return flush();
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
