// Fuzz target: what `capdb query` parses from its command line, and how
// results are formatted.
//
// The input is split at NUL bytes; every piece goes through parse_address,
// parse_prefix, parse_time, parse_proto, parse_port, parse_format and
// printable, with round-trip checks (what capdb prints, it parses back to
// the same value). The first 64 bytes, read as integers, also make a
// PacketView (any timestamp, lengths, addresses, ports, status) that is
// formatted in every output format and matched against a filter built from
// the parsed pieces.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "capdb/address.h"
#include "capdb/error.h"
#include "capdb/filter.h"
#include "capdb/format.h"
#include "fuzz_check.h"

namespace {

using namespace capdb;
using fuzz::check;

bool only(std::string_view s, std::string_view allowed) {
    return s.find_first_not_of(allowed) == std::string_view::npos;
}

bool printable_ascii(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
    return true;
}

// Bytes of the input as little-endian integers, zero past the end.
struct Bytes {
    const std::uint8_t* data;
    std::size_t size;
    std::size_t pos = 0;
    std::uint64_t take(std::size_t n) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i, ++pos) v |= std::uint64_t{pos < size ? data[pos] : 0u} << (8 * i);
        return v;
    }
};

void check_piece(std::string_view s, Filter& f) {
    if (auto a = parse_address(s)) {
        const std::string text = a->to_string();
        check(only(text, "0123456789abcdef:."), "address text has unexpected characters");
        auto back = parse_address(text);
        check(back && *back == *a, "address does not round-trip through to_string");
    }
    if (auto p = parse_prefix(s)) {
        check(p->first <= p->last, "prefix first > last");
        check(p->contains(p->first) && p->contains(p->last), "prefix does not contain its bounds");
        if (s.find('/') == std::string_view::npos) check(p->is_single(), "plain address is not a single prefix");
        f.also(Expr::address(*p, Dir::either));
    }
    if (auto t = parse_time(s)) {
        const std::string text = format_rfc3339(*t);
        check(printable_ascii(text), "formatted time is not printable");
        auto back = parse_time(text);
        check(back && *back == *t, "time does not round-trip through format_rfc3339");
        (void)epoch_seconds(*t);
        f.from_ns = *t;
    }
    if (auto n = parse_proto(s)) {
        auto back = parse_proto(std::to_string(*n));
        check(back && *back == *n, "protocol number does not round-trip");
        f.also(Expr::ip_proto(*n));
    }
    if (auto n = parse_port(s)) {
        auto back = parse_port(std::to_string(*n));
        check(back && *back == *n, "port does not round-trip");
        f.also(Expr::port(*n, *n, Dir::either));
    }
    (void)parse_format(s);
    const std::string shown = printable(s);
    check(printable_ascii(shown), "printable() let a control or non-ASCII byte through");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    Filter filter;
    std::size_t start = 0;
    for (;;) {
        const std::size_t nul = all.find('\0', start);
        check_piece(all.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start), filter);
        if (nul == std::string_view::npos) break;
        start = nul + 1;
    }

    Bytes b{data, size};
    PacketView p;
    p.capture = static_cast<CaptureId>(b.take(8));
    p.seq = b.take(8);
    p.ts_ns = static_cast<std::int64_t>(b.take(8));
    p.caplen = static_cast<std::uint32_t>(b.take(4));
    p.wirelen = static_cast<std::uint32_t>(b.take(4));
    p.file_offset = static_cast<std::int64_t>(b.take(8));
    p.linktype = static_cast<std::uint32_t>(b.take(4));
    const auto flags = b.take(1);
    p.summary.status = static_cast<Status>(flags & 7);  // as a corrupt page could hold
    p.summary.network = (flags >> 3 & 3) == 1 ? Network::ipv4 : (flags >> 3 & 3) == 2 ? Network::ipv6 : Network::none;
    p.summary.has_ports = flags >> 5 & 1;
    p.summary.fragment = flags >> 6 & 1;
    p.summary.arp = (flags >> 3 & 3) == 3;  // the printers show ARP's addresses too
    p.summary.ethertype = static_cast<std::uint16_t>(b.take(2));
    p.summary.ip_proto = static_cast<std::uint8_t>(b.take(1));
    p.summary.src_port = static_cast<std::uint16_t>(b.take(2));
    p.summary.dst_port = static_cast<std::uint16_t>(b.take(2));
    std::uint8_t addr[16] = {};
    const std::size_t n = std::min<std::size_t>(size, sizeof addr);
    if (n != 0) std::memcpy(addr, data, n);
    p.summary.src = p.summary.network == Network::ipv4 ? Address::from_v4(addr) : Address::from_v6(addr);
    p.summary.dst = Address::from_v6(addr);
    p.preview = std::span<const std::uint8_t>(data, std::min<std::size_t>(size, 256));

    const std::string t = format_rfc3339(p.ts_ns);
    check(printable_ascii(t), "formatted time is not printable");
    for (auto format : {OutputFormat::line, OutputFormat::long_form, OutputFormat::json, OutputFormat::csv}) {
        fmt::memory_buffer out;
        format_row(out, format, p);
        check(printable_ascii(std::string_view(out.data(), out.size())), "formatted row is not printable ASCII");
    }
    (void)matches(filter, p);
    (void)proto_name(p.summary.ip_proto);
    return 0;
}
