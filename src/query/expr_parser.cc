// tcpdump's filter language (pcap-filter(7)), the part capdb answers from its
// index: README.md, "Query expressions". The grammar is libpcap's: `and`
// and `or` have the same precedence and group from the left, `not` binds
// tightest, and a bare address or number takes the qualifiers of the term
// before it ("host A or B", "port 80 or 443").
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/filter.h"

namespace capdb {

namespace {

constexpr const char* kSeeReadme = "supported syntax: README.md, \"Query expressions\"";
constexpr int kMaxDepth = 64;  // nested parentheses and nots
constexpr std::size_t kMaxTerms = 4096;

enum class Tok : std::uint8_t { word, lparen, rparen, bang, and_, or_, end };

struct Token {
    Tok kind = Tok::end;
    std::string_view text;
    std::size_t pos = 0;  // offset in the expression text
};

// Protocol qualifier (pcap-filter's "proto").
enum class PQual : std::uint8_t { none, ip, ip6, arp, tcp, udp, sctp };
// Type qualifier; none is tcpdump's default (host, or net for a prefix).
enum class AQual : std::uint8_t { none, host, net, port, portrange, proto };

// The qualifiers a bare id takes from the term before it; valid is false
// where tcpdump has none to give (at the start, after `tcp`, `less N`...).
struct Qual {
    bool valid = false;
    PQual pq = PQual::none;
    Dir dir = Dir::either;
    AQual aq = AQual::none;
    Side side = Side::either;
};

// A tunnel word: "tunnel" (any), or a Tunnel's name.
std::optional<Tunnel> tunnel_of(std::string_view w) noexcept {
    if (w == "tunnel") return Tunnel::none;
    for (unsigned k = 1; k <= kMaxTunnelKind; ++k)
        if (w == tunnel_name(static_cast<Tunnel>(k))) return static_cast<Tunnel>(k);
    return std::nullopt;
}

bool is_word_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == ':' ||
           c == '/' || c == '-' || c == '_' || c == '\\';
}

const char* pqual_name(PQual q) noexcept {
    switch (q) {
        case PQual::none: return "";
        case PQual::ip: return "ip";
        case PQual::ip6: return "ip6";
        case PQual::arp: return "arp";
        case PQual::tcp: return "tcp";
        case PQual::udp: return "udp";
        case PQual::sctp: return "sctp";
    }
    return "";
}

std::optional<PQual> pqual_of(std::string_view w) noexcept {
    if (w == "ip") return PQual::ip;
    if (w == "ip6") return PQual::ip6;
    if (w == "arp") return PQual::arp;
    if (w == "tcp") return PQual::tcp;
    if (w == "udp") return PQual::udp;
    if (w == "sctp") return PQual::sctp;
    return std::nullopt;
}

std::optional<AQual> aqual_of(std::string_view w) noexcept {
    if (w == "host") return AQual::host;
    if (w == "net") return AQual::net;
    if (w == "port") return AQual::port;
    if (w == "portrange") return AQual::portrange;
    if (w == "proto") return AQual::proto;
    return std::nullopt;
}

// tcpdump words capdb does not answer: named, so that the error says so.
bool tcpdump_only(std::string_view w) noexcept {
    static constexpr std::string_view kWords[] = {
        "ether",    "vlan",    "pppoed", "pppoes",   "gateway",  "broadcast", "multicast", "len",        "inbound",
        "outbound", "ifname",  "on",     "rnr",      "rulenum",  "reason",    "rset",      "srnr",       "subrule",
        "action",   "igmp",    "igrp",   "pim",      "vrrp",     "carp",      "rarp",      "atalk",      "aarp",
        "decnet",   "iso",     "stp",    "ipx",      "netbeui",  "lat",       "sca",       "moprc",      "mopdl",
        "esis",     "isis",    "clnp",   "ah",       "esp",      "radio",     "link",      "protochain", "wlan",
        "type",     "subtype", "dir",    "addr1",    "addr2",    "addr3",     "addr4",     "ra",         "ta",
        "fddi",     "tr",      "llc",    "icmptype", "icmpcode", "tcpflags",  "ip6proto",  "hdrlen",
    };
    for (std::string_view k : kWords)
        if (k == w) return true;
    return false;
}

std::optional<std::uint32_t> decimal(std::string_view w, std::uint32_t max) noexcept {
    if (w.empty() || w.size() > 10 || (w.size() > 1 && w[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : w) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > max) return std::nullopt;
    return static_cast<std::uint32_t>(v);
}

// Length of a contiguous IPv4 netmask, or nullopt.
std::optional<unsigned> mask_length(const Address& m) noexcept {
    std::uint32_t v = 0;
    for (std::size_t i = 12; i < 16; ++i) v = v << 8 | m.bytes[i];
    unsigned n = 0;
    while (n < 32 && (v & (0x80000000u >> n))) ++n;
    const std::uint32_t expect = n == 0 ? 0 : ~std::uint32_t{0} << (32 - n);
    if (v != expect) return std::nullopt;
    return n;
}

class Parser {
public:
    explicit Parser(std::string text) : text_(std::move(text)) { lex(); }

    Expr parse() {
        if (toks_.front().kind == Tok::end) return Expr{};
        auto [e, q] = expr(Qual{});
        (void)q;
        if (peek().kind == Tok::rparen) fail(peek(), "')' without its '('");
        if (peek().kind != Tok::end) fail(peek(), fmt::format("expected 'and' or 'or' before '{}'", peek().text));
        return e;
    }

private:
    struct Result {
        Expr e;
        Qual q;
    };

    [[noreturn]] void fail(const Token& t, const std::string& what) const {
        const std::size_t width = t.kind == Tok::end ? 1 : std::max<std::size_t>(t.text.size(), 1);
        throw UsageError(fmt::format("expression: {} ({})\n  {}\n  {}{}", what, kSeeReadme, printable(text_),
                                     std::string(t.pos, ' '), std::string(width, '^')));
    }

    void lex() {
        std::size_t i = 0;
        const std::string_view s = text_;
        while (i < s.size()) {
            const char c = s[i];
            if (c == ' ' || c == '\t' || c == '\n') {
                ++i;
                continue;
            }
            Token t;
            t.pos = i;
            if (c == '(' || c == ')' || c == '!') {
                t.kind = c == '(' ? Tok::lparen : c == ')' ? Tok::rparen : Tok::bang;
                t.text = s.substr(i, 1);
                ++i;
            } else if ((c == '&' || c == '|') && i + 1 < s.size() && s[i + 1] == c) {
                t.kind = c == '&' ? Tok::and_ : Tok::or_;
                t.text = s.substr(i, 2);
                i += 2;
            } else if (is_word_char(c)) {
                std::size_t j = i;
                while (j < s.size() && is_word_char(s[j])) ++j;
                t.text = s.substr(i, j - i);
                t.kind = t.text == "and"   ? Tok::and_
                         : t.text == "or"  ? Tok::or_
                         : t.text == "not" ? Tok::bang
                                           : Tok::word;
                i = j;
            } else {
                t.text = s.substr(i, 1);
                fail(t, fmt::format("unexpected character '{}'", printable(t.text)));
            }
            toks_.push_back(t);
            if (toks_.size() > kMaxTerms) fail(t, fmt::format("more than {} words", kMaxTerms));
        }
        Token end;
        end.pos = text_.size();
        toks_.push_back(end);
    }

    [[nodiscard]] const Token& peek(std::size_t ahead = 0) const {
        return toks_[std::min(pos_ + ahead, toks_.size() - 1)];
    }
    const Token& next() {
        const Token& t = peek();
        if (pos_ < toks_.size() - 1) ++pos_;
        return t;
    }
    [[nodiscard]] bool at_word(std::string_view w) const { return peek().kind == Tok::word && peek().text == w; }

    // The word after `after`, which needs one.
    const Token& operand(const Token& after, const char* what) {
        const Token& t = peek();
        if (t.kind != Tok::word) {
            if (t.kind == Tok::end) fail(t, fmt::format("'{}' needs {}; the expression ends", after.text, what));
            fail(t, fmt::format("'{}' needs {}, not '{}'", after.text, what, t.text));
        }
        return next();
    }

    // expr := term { (and | or) term }, grouped from the left.
    Result expr(Qual carried) {
        if (++depth_ > kMaxDepth) fail(peek(), fmt::format("more than {} nested parentheses or nots", kMaxDepth));
        Result r = term(carried);
        while (peek().kind == Tok::and_ || peek().kind == Tok::or_) {
            const Token& op = next();
            if (peek().kind == Tok::end || peek().kind == Tok::rparen)
                fail(peek(), fmt::format("'{}' needs a term after it", op.text));
            Result t = term(r.q);
            std::vector<Expr> parts;
            parts.push_back(std::move(r.e));
            parts.push_back(std::move(t.e));
            r.e = op.kind == Tok::and_ ? Expr::all_of(std::move(parts)) : Expr::any_of(std::move(parts));
            r.q = t.q;
        }
        --depth_;
        return r;
    }

    // term := not term | '(' expr ')' | primitive | id (with the carried qualifiers)
    Result term(Qual carried) {
        const Token& t = peek();
        switch (t.kind) {
            case Tok::bang: {
                next();
                if (++depth_ > kMaxDepth) fail(t, fmt::format("more than {} nested parentheses or nots", kMaxDepth));
                if (peek().kind == Tok::end) fail(peek(), fmt::format("'{}' needs a term after it", t.text));
                Result r = term(carried);
                --depth_;
                r.e = Expr::negate(std::move(r.e));
                return r;
            }
            case Tok::lparen: {
                next();
                if (peek().kind == Tok::rparen) fail(peek(), "empty parentheses");
                Result r = expr(carried);
                if (peek().kind != Tok::rparen) {
                    if (peek().kind == Tok::end) fail(t, "'(' without its ')'");
                    fail(peek(), fmt::format("expected 'and', 'or' or ')' before '{}'", peek().text));
                }
                next();
                r.q = carried;  // as in tcpdump: after ')', the qualifiers from before '('
                return r;
            }
            case Tok::word: return primitive(carried);
            case Tok::end: fail(t, "the expression ends where a term was expected");
            default: fail(t, fmt::format("expected a term, not '{}'", t.text));
        }
    }

    Result primitive(Qual carried) {
        // "inner" / "outer": which IP header an address term looks at.
        const Token* side_tok = nullptr;
        Side side = Side::either;
        if (at_word("inner") || at_word("outer")) {
            side_tok = &next();
            side = side_tok->text == "inner" ? Side::inner : Side::outer;
            if (peek().kind != Tok::word)
                fail(peek(), fmt::format("'{}' needs an address term after it", side_tok->text));
        }
        const Token& first = peek();
        const std::string_view w = first.text;
        const auto not_after_side = [&] {
            if (side_tok)
                fail(first,
                     fmt::format("'{}' qualifies an address term (host, net, src, dst), not '{}'", side_tok->text, w));
        };
        if (const auto t = tunnel_of(w)) {
            not_after_side();
            next();
            if (!at_word("id")) return {Expr::tunnel(*t), Qual{}};
            const Token& id_tok = next();
            const Token& n = operand(id_tok, "a tunnel id");
            const auto v = decimal(n.text, UINT32_MAX);
            if (!v) fail(n, fmt::format("'{}' is not a tunnel id (0-4294967295)", n.text));
            return {Expr::tunnel_id(*t, *v), Qual{}};
        }
        if (w == "vni" || w == "teid") {
            not_after_side();
            next();
            const bool vni = w == "vni";
            const Token& n = operand(first, vni ? "a VNI (0-16777215)" : "a TEID (0-4294967295)");
            const auto v = decimal(n.text, vni ? 0xffffffu : UINT32_MAX);
            if (!v) fail(n, fmt::format("'{}' is not a {}", n.text, vni ? "VNI (0-16777215)" : "TEID (0-4294967295)"));
            if (!vni) return {Expr::tunnel_id(Tunnel::gtp, *v), Qual{}};
            std::vector<Expr> parts;
            parts.push_back(Expr::tunnel_id(Tunnel::vxlan, *v));
            parts.push_back(Expr::tunnel_id(Tunnel::geneve, *v));
            return {Expr::any_of(std::move(parts)), Qual{}};
        }
        if (w == "less" || w == "greater") {
            next();
            const Token& n = operand(first, "a length in bytes");
            const auto len = decimal(n.text, UINT32_MAX);
            if (!len) fail(n, fmt::format("'{}' needs a length in bytes, not '{}'", w, n.text));
            return {w == "less" ? Expr::wire_max(*len) : Expr::wire_min(*len), Qual{}};
        }
        if (w == "icmp" || w == "icmp6") {
            next();
            if (peek().kind == Tok::word && (aqual_of(peek().text) || peek().text == "src" || peek().text == "dst"))
                fail(peek(), fmt::format("'{}' cannot qualify '{}'", w, peek().text));
            return {w == "icmp" ? Expr::ip_proto(1, net_kind::ipv4) : Expr::ip_proto(58, net_kind::ipv6), Qual{}};
        }
        const auto pq = pqual_of(w);
        const bool dq = w == "src" || w == "dst";
        const auto aq = aqual_of(w);
        if (!pq && !dq && !aq) {
            not_after_side();
            if (!carried.valid) {
                if (tcpdump_only(w)) fail(first, fmt::format("'{}' is tcpdump syntax that capdb does not support", w));
                if (!w.empty() && ((w[0] >= '0' && w[0] <= '9') || w.find(':') != std::string_view::npos))
                    fail(first, fmt::format("'{}' needs a qualifier before it (host, net, port...)", w));
                fail(first, fmt::format("unknown word '{}'", printable(w)));
            }
            next();
            return {id(first, carried), carried};
        }
        Qual q;
        q.valid = true;
        q.side = side;
        const Token* pq_tok = nullptr;
        if (pq) {
            pq_tok = &next();
            q.pq = *pq;
        }
        const Token* dir_tok = nullptr;
        if (at_word("src") || at_word("dst")) {
            dir_tok = &next();
            const bool src = dir_tok->text == "src";
            q.dir = src ? Dir::src : Dir::dst;
            // "src or dst", "src and dst" (either order).
            if ((peek().kind == Tok::or_ || peek().kind == Tok::and_) && peek(1).kind == Tok::word &&
                peek(1).text == (src ? "dst" : "src")) {
                q.dir = peek().kind == Tok::or_ ? Dir::either : Dir::both;
                next();
                next();
            }
        }
        const Token* aq_tok = nullptr;
        if (peek().kind == Tok::word && aqual_of(peek().text)) {
            aq_tok = &next();
            q.aq = *aqual_of(aq_tok->text);
        }
        if (side_tok &&
            (q.aq == AQual::port || q.aq == AQual::portrange || q.aq == AQual::proto || (!dir_tok && !aq_tok)))
            fail(*side_tok, fmt::format("'{}' qualifies an address term (host, net, src, dst)", side_tok->text));
        if (!dir_tok && !aq_tok) {
            // A protocol alone: tcpdump's "ip", "tcp"... (no qualifiers to carry).
            Expr e;
            switch (q.pq) {
                case PQual::ip: e = Expr::ethertype(0x0800); break;
                case PQual::ip6: e = Expr::ethertype(0x86dd); break;
                case PQual::arp: e = Expr::ethertype(0x0806); break;
                case PQual::tcp: e = Expr::ip_proto(6); break;
                case PQual::udp: e = Expr::ip_proto(17); break;
                case PQual::sctp: e = Expr::ip_proto(132); break;
                case PQual::none: break;
            }
            return {std::move(e), Qual{}};
        }
        if (q.aq == AQual::proto) {
            if (dir_tok) fail(*dir_tok, "'proto' takes no direction");
            if (q.pq != PQual::none && q.pq != PQual::ip && q.pq != PQual::ip6)
                fail(*pq_tok, fmt::format("'{}' cannot qualify 'proto' (ip, ip6 or none)", pqual_name(q.pq)));
        }
        if (q.aq == AQual::port || q.aq == AQual::portrange) {
            if (q.pq != PQual::none && q.pq != PQual::tcp && q.pq != PQual::udp && q.pq != PQual::sctp)
                fail(*pq_tok,
                     fmt::format("'{}' cannot qualify '{}' (tcp, udp, sctp or none)", pqual_name(q.pq), aq_tok->text));
        }
        if ((q.aq == AQual::host || q.aq == AQual::net || q.aq == AQual::none) &&
            (q.pq == PQual::tcp || q.pq == PQual::udp || q.pq == PQual::sctp))
            fail(*pq_tok, fmt::format("'{}' cannot qualify '{}'", pqual_name(q.pq),
                                      aq_tok ? aq_tok->text : std::string_view("an address")));
        const Token& after = aq_tok ? *aq_tok : dir_tok ? *dir_tok : *pq_tok;
        const Token& value = operand(after, q.aq == AQual::port        ? "a port number"
                                            : q.aq == AQual::portrange ? "a port range (N-M)"
                                            : q.aq == AQual::proto     ? "a protocol number"
                                                                       : "an address");
        return {id(value, q), q};
    }

    // The value of a term: an address or prefix, a port or range, a protocol.
    Expr id(const Token& t, const Qual& q) {
        const std::string_view w = t.text;
        switch (q.aq) {
            case AQual::proto: {
                std::optional<std::uint32_t> n;
                if (!w.empty() && w[0] == '\\') {
                    if (auto p = parse_proto(w.substr(1))) n = *p;
                } else {
                    n = decimal(w, 255);
                }
                if (!n) fail(t, fmt::format("'{}' is not a protocol number (0-255, or a name as \\tcp)", w));
                const std::uint8_t kinds = q.pq == PQual::ip    ? net_kind::ipv4
                                           : q.pq == PQual::ip6 ? net_kind::ipv6
                                                                : net_kind::ip;
                return Expr::ip_proto(static_cast<std::uint8_t>(*n), kinds);
            }
            case AQual::port: {
                const auto n = decimal(w, 65535);
                if (!n) {
                    if (w.find('-') != std::string_view::npos)
                        fail(t, fmt::format("'{}' is a range: write 'portrange {}'", w, w));
                    fail(t, fmt::format("'{}' is not a port number (0-65535; names are not looked up)", w));
                }
                return Expr::port(static_cast<std::uint16_t>(*n), static_cast<std::uint16_t>(*n), q.dir,
                                  port_proto(q.pq));
            }
            case AQual::portrange: {
                const std::size_t dash = w.find('-');
                std::optional<std::uint32_t> lo, hi;
                if (dash != std::string_view::npos) {
                    lo = decimal(w.substr(0, dash), 65535);
                    hi = decimal(w.substr(dash + 1), 65535);
                }
                if (!lo || !hi) fail(t, fmt::format("'{}' is not a port range (N-M, each 0-65535)", w));
                if (*lo > *hi) std::swap(lo, hi);  // as tcpdump
                return Expr::port(static_cast<std::uint16_t>(*lo), static_cast<std::uint16_t>(*hi), q.dir,
                                  port_proto(q.pq));
            }
            case AQual::none:
            case AQual::host:
            case AQual::net: return address(t, q);
        }
        return Expr{};
    }

    static std::uint8_t port_proto(PQual pq) noexcept {
        return pq == PQual::tcp ? 6 : pq == PQual::udp ? 17 : pq == PQual::sctp ? 132 : 0;
    }

    Expr address(const Token& t, const Qual& q) {
        const std::string_view w = t.text;
        std::optional<Prefix> prefix;
        const std::size_t slash = w.find('/');
        bool is_net = q.aq == AQual::net;
        if (slash != std::string_view::npos) {
            if (q.aq == AQual::host) fail(t, fmt::format("'host' takes an address, not the prefix '{}' (use net)", w));
            is_net = true;
            prefix = parse_prefix(w);
            const auto base = parse_address(w.substr(0, slash));
            if (!prefix || !base) fail(t, fmt::format("'{}' is not an IPv4 or IPv6 prefix", w));
            if (!(prefix->first == *base)) fail(t, fmt::format("'{}' has bits set beyond its prefix length", w));
        } else if (at_word("mask")) {
            const Token& m = next();
            const Token& mt = operand(m, "a netmask");
            if (!is_net) fail(m, "'mask' follows 'net' only");
            const auto base = parse_address(w);
            const auto mask = parse_address(mt.text);
            if (!base || !base->is_v4()) fail(t, fmt::format("'{}' is not an IPv4 address (mask is IPv4 only)", w));
            if (!mask || !mask->is_v4()) fail(mt, fmt::format("'{}' is not an IPv4 netmask", mt.text));
            const auto len = mask_length(*mask);
            if (!len) fail(mt, fmt::format("'{}' is not a contiguous netmask", mt.text));
            prefix = parse_prefix(fmt::format("{}/{}", w, *len));
            if (!prefix || !(prefix->first == *base))
                fail(t, fmt::format("'{}' has bits set beyond the mask {}", w, mt.text));
        } else if (auto a = parse_address(w)) {
            prefix = Prefix{*a, *a};
        } else if (is_net) {
            // tcpdump's short IPv4 networks: "net 10" is 10.0.0.0/8, "net 10.1" 10.1.0.0/16.
            const auto dots = static_cast<std::size_t>(std::count(w.begin(), w.end(), '.'));
            if (dots < 3 && !w.empty() && w.back() != '.') {
                std::string full(w);
                for (std::size_t k = dots; k < 3; ++k) full += ".0";
                if (parse_address(full)) prefix = parse_prefix(fmt::format("{}/{}", full, 8 * (dots + 1)));
            }
            if (!prefix) fail(t, fmt::format("'{}' is not an IPv4 or IPv6 network", w));
        }
        if (!prefix) {
            if (q.aq == AQual::none && !q.valid) fail(t, fmt::format("unknown word '{}'", printable(w)));
            const bool looks_numeric = !w.empty() && w[0] >= '0' && w[0] <= '9';
            fail(t, looks_numeric ? fmt::format("'{}' is not an IPv4 or IPv6 address", w)
                                  : fmt::format("'{}' is not an address (host names are not looked up)", w));
        }
        // The family is the text's: "::ffff:192.0.2.1" is an IPv6 address,
        // though capdb keeps IPv4 addresses in that form.
        const bool v4 = prefix->first.is_v4() && w.find(':') == std::string_view::npos;
        std::uint8_t kinds = v4 ? 0 : net_kind::ipv6;
        switch (q.pq) {
            case PQual::ip:
                if (!v4) fail(t, fmt::format("'ip' qualifies an IPv4 address, not '{}'", w));
                kinds = net_kind::ipv4;
                break;
            case PQual::ip6:
                if (v4) fail(t, fmt::format("'ip6' qualifies an IPv6 address, not '{}'", w));
                kinds = net_kind::ipv6;
                break;
            case PQual::arp:
                if (!v4) fail(t, fmt::format("'arp' qualifies an IPv4 address, not '{}'", w));
                kinds = net_kind::arp;
                break;
            default: break;
        }
        return Expr::address(*prefix, q.dir, kinds, q.side);
    }

    std::string text_;
    std::vector<Token> toks_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace

Expr parse_expression(const std::vector<std::string>& words) {
    std::string text;
    for (const std::string& w : words) {
        if (!text.empty()) text += ' ';
        text += w;
    }
    return Parser(std::move(text)).parse();
}

}  // namespace capdb
