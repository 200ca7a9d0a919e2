// Packet conditions as an expression tree: what `capdb query`'s flags and
// its tcpdump-syntax expression (README.md, "Query expressions") compile to.
// One tree, one evaluation: the store's planner reads the tree to choose
// pages, its page decoder evaluates it per row, and matches() is the
// definition of a match. The parser is parse_expression (expr_parser.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "capdb/address.h"
#include "capdb/decode.h"
#include "capdb/packet.h"

namespace capdb {

// What a row's addresses are, as bits of an address term's `kinds`.
namespace net_kind {
inline constexpr std::uint8_t ipv4 = 1;
inline constexpr std::uint8_t ipv6 = 2;
inline constexpr std::uint8_t arp = 4;  // ARP's sender and target IPv4 addresses
inline constexpr std::uint8_t ip = ipv4 | ipv6;
}  // namespace net_kind

// Which of a row's addresses or ports a term looks at.
enum class Dir : std::uint8_t { either, src, dst, both };
// Which IP header an address term looks at: the innermost (the summary's
// src and dst), the outermost of a tunnelled packet (outer_src, outer_dst),
// or either.
enum class Side : std::uint8_t { either, inner, outer };
// The address holds(node, field) is asked about.
enum class AddressField : std::uint8_t { src, dst, outer_src, outer_dst };

struct ExprNode {
    enum class Kind : std::uint8_t {
        all_of,     // AND of the children (none: true)
        any_of,     // OR of the children (none: false)
        negate,     // NOT of the one child
        address,    // prefix holds the address(es) dir names, on a row whose kind is in kinds
        port,       // a port in [lo, hi] as dir says, on TCP/UDP/SCTP (proto 0) or on proto
        ip_proto,   // an IP row (of kinds) whose upper-layer protocol is proto
        ethertype,  // the summary's EtherType is lo
        wire_max,   // wire length <= length (tcpdump's "less")
        wire_min,   // wire length >= length (tcpdump's "greater")
        tunnel,     // the outermost tunnel is proto (a Tunnel; 0: any tunnel)
        tunnel_id,  // the outermost tunnel (of type proto; 0: any) has id length
    };
    Kind kind = Kind::all_of;
    Dir dir = Dir::either;
    Side side = Side::either;  // address
    std::uint8_t kinds = 0;    // address, ip_proto: net_kind bits
    std::uint8_t proto = 0;    // ip_proto: the protocol; port: 0 for TCP, UDP or SCTP, else the one protocol
    std::uint16_t lo = 0, hi = 0;
    std::uint32_t length = 0;
    std::uint32_t first = 0, count = 0;  // all_of, any_of, negate: Expr::children()[first, first + count)
    std::uint32_t slot = 0;              // address: its number among the expression's address terms
    Prefix prefix{};
};

// A tree of ExprNodes in one vector, children before their parents, the
// root last. An empty Expr holds for every packet.
class Expr {
public:
    Expr() = default;

    // Leaves. address's kinds default (0) to tcpdump's for a term without
    // ip/ip6/arp: IPv4 and ARP rows for an IPv4 prefix, IPv6 rows otherwise.
    static Expr address(const Prefix& p, Dir d, std::uint8_t kinds = 0, Side side = Side::either);
    static Expr port(std::uint16_t lo, std::uint16_t hi, Dir d, std::uint8_t proto = 0);
    static Expr ip_proto(std::uint8_t proto, std::uint8_t kinds = net_kind::ip);
    static Expr ethertype(std::uint16_t type);
    static Expr wire_max(std::uint32_t n);
    static Expr wire_min(std::uint32_t n);
    static Expr tunnel(Tunnel t);  // Tunnel::none: any tunnel
    static Expr tunnel_id(Tunnel t, std::uint32_t id);
    // AND and OR of parts; an empty Expr among AND's parts is left out. A
    // part of the same kind is flattened into the result.
    static Expr all_of(std::vector<Expr> parts);
    static Expr any_of(std::vector<Expr> parts);
    static Expr negate(Expr e);

    // No condition: every packet matches.
    [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }
    [[nodiscard]] std::uint32_t root() const noexcept { return static_cast<std::uint32_t>(nodes_.size() - 1); }
    [[nodiscard]] const std::vector<ExprNode>& nodes() const noexcept { return nodes_; }
    [[nodiscard]] const std::vector<std::uint32_t>& children() const noexcept { return children_; }
    // The address terms' node indexes, by slot.
    [[nodiscard]] const std::vector<std::uint32_t>& address_terms() const noexcept { return addresses_; }

    // Whether the condition holds for a row with this summary and wire
    // length. holds(node, field) says whether an address term's prefix
    // holds the row's address `field` (an AddressField); it is asked only of
    // a row whose kind (or outer header's kind) the term looks at.
    template <class Holds>
    [[nodiscard]] bool eval(const Summary& s, std::uint32_t wirelen, Holds&& holds) const {
        return empty() || eval_node(root(), s, wirelen, holds);
    }

    // The condition in tcpdump's syntax, fully parenthesised and qualified;
    // parse_expression reads it back to the same tree.
    [[nodiscard]] std::string to_string() const;

private:
    template <class Holds>
    bool eval_node(std::uint32_t i, const Summary& s, std::uint32_t wirelen, Holds& holds) const;
    template <class Holds>
    static bool leaf_holds(const ExprNode& n, const Summary& s, std::uint32_t wirelen, Holds& holds) noexcept;
    template <class Holds>
    static bool address_holds(const ExprNode& n, Holds& holds, AddressField src, AddressField dst) noexcept;
    static Expr leaf(const ExprNode& n);
    static Expr combine(ExprNode::Kind kind, std::vector<Expr> parts);
    // Appends e's nodes; returns the index of e's root among them.
    std::uint32_t splice(const Expr& e);
    void to_string(std::uint32_t i, std::string& out) const;

    std::vector<ExprNode> nodes_;
    std::vector<std::uint32_t> children_;
    std::vector<std::uint32_t> addresses_;
};

// The kind of a row's addresses (net_kind bits; 0 when it has none).
[[nodiscard]] inline std::uint8_t row_kind(const Summary& s) noexcept {
    if (s.network == Network::ipv4) return net_kind::ipv4;
    if (s.network == Network::ipv6) return net_kind::ipv6;
    return s.arp ? net_kind::arp : 0;
}

// The kind of a row's outermost IP header, when a tunnel led past it.
[[nodiscard]] inline std::uint8_t outer_kind(const Summary& s) noexcept {
    if (s.outer_network == Network::ipv4) return net_kind::ipv4;
    if (s.outer_network == Network::ipv6) return net_kind::ipv6;
    return 0;
}

template <class Holds>
bool Expr::address_holds(const ExprNode& n, Holds& holds, AddressField src, AddressField dst) noexcept {
    switch (n.dir) {
        case Dir::either: return holds(n, src) || holds(n, dst);
        case Dir::src: return holds(n, src);
        case Dir::dst: return holds(n, dst);
        case Dir::both: return holds(n, src) && holds(n, dst);
    }
    return false;
}

template <class Holds>
bool Expr::leaf_holds(const ExprNode& n, const Summary& s, std::uint32_t wirelen, Holds& holds) noexcept {
    switch (n.kind) {
        case ExprNode::Kind::address:
            if (n.side != Side::outer && (row_kind(s) & n.kinds) != 0 &&
                address_holds(n, holds, AddressField::src, AddressField::dst))
                return true;
            return n.side != Side::inner && (outer_kind(s) & n.kinds) != 0 &&
                   address_holds(n, holds, AddressField::outer_src, AddressField::outer_dst);
        case ExprNode::Kind::port: {
            if (!s.has_ports) return false;
            if (n.proto != 0 ? s.ip_proto != n.proto : (s.ip_proto != 6 && s.ip_proto != 17 && s.ip_proto != 132))
                return false;
            const bool sp = s.src_port >= n.lo && s.src_port <= n.hi;
            const bool dp = s.dst_port >= n.lo && s.dst_port <= n.hi;
            switch (n.dir) {
                case Dir::either: return sp || dp;
                case Dir::src: return sp;
                case Dir::dst: return dp;
                case Dir::both: return sp && dp;
            }
            return false;
        }
        case ExprNode::Kind::ip_proto: return (row_kind(s) & n.kinds & net_kind::ip) != 0 && s.ip_proto == n.proto;
        case ExprNode::Kind::ethertype: return s.ethertype == n.lo;
        case ExprNode::Kind::wire_max: return wirelen <= n.length;
        case ExprNode::Kind::wire_min: return wirelen >= n.length;
        case ExprNode::Kind::tunnel:
            return s.tunnel != Tunnel::none && (n.proto == 0 || static_cast<std::uint8_t>(s.tunnel) == n.proto);
        case ExprNode::Kind::tunnel_id:
            return s.has_tunnel_id && s.tunnel_id == n.length &&
                   (n.proto == 0 || static_cast<std::uint8_t>(s.tunnel) == n.proto);
        default: return false;  // not a leaf
    }
}

// NOTs are followed in a loop and leaves answered inline: a scan evaluates
// this for every row, and "not port 443" then costs no recursive call.
template <class Holds>
bool Expr::eval_node(std::uint32_t i, const Summary& s, std::uint32_t wirelen, Holds& holds) const {
    bool negated = false;
    const ExprNode* n = &nodes_[i];
    while (n->kind == ExprNode::Kind::negate) {
        negated = !negated;
        n = &nodes_[children_[n->first]];
    }
    bool result = false;
    if (n->kind == ExprNode::Kind::all_of) {
        result = true;
        for (std::uint32_t k = 0; k < n->count && result; ++k)
            result = eval_node(children_[n->first + k], s, wirelen, holds);
    } else if (n->kind == ExprNode::Kind::any_of) {
        for (std::uint32_t k = 0; k < n->count && !result; ++k)
            result = eval_node(children_[n->first + k], s, wirelen, holds);
    } else {
        result = leaf_holds(*n, s, wirelen, holds);
    }
    return result != negated;
}

// The address of a summary that an AddressField names.
[[nodiscard]] inline const Address& address_of(const Summary& s, AddressField f) noexcept {
    switch (f) {
        case AddressField::src: return s.src;
        case AddressField::dst: return s.dst;
        case AddressField::outer_src: return s.outer_src;
        case AddressField::outer_dst: return s.outer_dst;
    }
    return s.src;
}

// The definition of a match of the packet conditions: e's verdict on p's
// summary and wire length, each address term testing its prefix.
[[nodiscard]] inline bool matches(const Expr& e, const PacketView& p) noexcept {
    const Summary& s = p.summary;
    return e.eval(s, p.wirelen, [&](const ExprNode& n, AddressField f) { return n.prefix.contains(address_of(s, f)); });
}

}  // namespace capdb
