// Fuzz target: the query expression parser (tcpdump's filter language).
//
// The input, split at NUL bytes, is the command line's words. Whatever it
// is, parse_expression either returns a tree or throws UsageError (never
// another exception, never a crash). A tree prints in tcpdump's syntax
// (to_string) and that text parses back to a tree that prints the same.
// The tree is also evaluated on a PacketView made from the input's first
// bytes, directly and through the page decoder's way of answering address
// terms (one bitmask per address), which must agree.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "capdb/error.h"
#include "capdb/expr.h"
#include "capdb/filter.h"
#include "fuzz_check.h"

namespace {

using namespace capdb;
using fuzz::check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 4096) return 0;  // a longer command line adds nothing the parser has not seen
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> words;
    std::size_t start = 0;
    for (;;) {
        const std::size_t nul = all.find('\0', start);
        words.emplace_back(all.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
        if (nul == std::string_view::npos) break;
        start = nul + 1;
    }
    Expr e;
    try {
        e = parse_expression(words);
    } catch (const UsageError& err) {
        const std::string_view m = err.what();
        check(m.starts_with("expression: "), "a parse error does not start with 'expression: '");
        check(m.find('\n') != std::string_view::npos, "a parse error shows no caret line");
        return 0;
    }
    const std::string text = e.to_string();
    Expr back;
    try {
        back = parse_expression({text});
    } catch (const UsageError& err) {
        // The printed form parenthesises every group that tcpdump's grouping
        // left implicit ("a or b and c" prints "((a or b) and c)"), so a tree
        // at the nesting limit may print beyond it; nothing else may fail.
        check(std::string_view(err.what()).find("nested parentheses or nots") != std::string_view::npos,
              "to_string's text does not parse");
        return 0;
    }
    check(back.to_string() == text, "to_string does not round-trip");

    // A packet from the input's first bytes.
    auto byte = [&](std::size_t i) { return i < size ? data[i] : std::uint8_t{0}; };
    PacketView p;
    Summary& s = p.summary;
    const unsigned kind = byte(0) % 4;
    s.network = kind == 1 ? Network::ipv4 : kind == 2 ? Network::ipv6 : Network::none;
    s.arp = kind == 3;
    s.ethertype = kind == 1 ? 0x0800 : kind == 2 ? 0x86dd : kind == 3 ? 0x0806 : 0x88cc;
    std::uint8_t a[16], b[16];
    for (std::size_t i = 0; i < 16; ++i) {
        a[i] = byte(1 + i % 4);
        b[i] = byte(5 + i % 4);
    }
    s.src = kind == 2 ? Address::from_v6(a) : Address::from_v4(a);
    s.dst = kind == 2 ? Address::from_v6(b) : Address::from_v4(b);
    s.ip_proto = byte(9);
    s.has_ports = (byte(10) & 1) != 0 && s.network != Network::none;
    s.src_port = static_cast<std::uint16_t>(byte(11) << 8 | byte(12));
    s.dst_port = static_cast<std::uint16_t>(byte(13) << 8 | byte(14));
    p.wirelen = static_cast<std::uint32_t>(byte(15)) * 8;
    // A tunnel around it, by byte 16: its type, an id from bytes 17-18, the
    // outer addresses from bytes 19-22 (IPv4) when byte 16 is odd.
    s.tunnel = static_cast<Tunnel>(byte(16) % (kMaxTunnelKind + 1));
    if (s.tunnel != Tunnel::none) {
        s.tunnel_layers = 1;
        s.has_tunnel_id = (byte(17) & 1) != 0;
        s.tunnel_id = s.has_tunnel_id ? byte(18) : 0;
        if ((byte(16) & 1) != 0) {
            std::uint8_t o[4] = {byte(19), byte(20), byte(21), byte(22)};
            s.outer_network = Network::ipv4;
            s.outer_src = Address::from_v4(o);
            o[3] = static_cast<std::uint8_t>(o[3] + 1);
            s.outer_dst = Address::from_v4(o);
        }
    }
    const bool direct = matches(e, p);
    const auto& terms = e.address_terms();
    std::uint64_t mask[4] = {};
    for (std::size_t t = 0; t < terms.size() && t < 64; ++t)
        for (std::size_t f = 0; f < 4; ++f)
            if (e.nodes()[terms[t]].prefix.contains(address_of(s, static_cast<AddressField>(f))))
                mask[f] |= std::uint64_t{1} << t;
    const bool masked = e.eval(s, p.wirelen, [&](const ExprNode& n, AddressField f) {
        if (n.slot >= 64) return n.prefix.contains(address_of(s, f));
        return ((mask[static_cast<std::size_t>(f)] >> n.slot) & 1) != 0;
    });
    check(direct == masked, "the dictionary masks and the prefixes disagree");
    check(matches(back, p) == direct, "the reparsed tree matches differently");
    return 0;
}
