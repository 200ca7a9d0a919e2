#include "capdb/expr.h"

#include <fmt/format.h>

namespace capdb {

namespace {

// The number of leading bits first and last share (for a CIDR prefix: its
// length in the 128-bit keyspace).
unsigned common_bits(const Address& a, const Address& b) noexcept {
    unsigned n = 0;
    for (std::size_t i = 0; i < a.bytes.size(); ++i) {
        const unsigned x = static_cast<unsigned>(a.bytes[i] ^ b.bytes[i]);
        if (x == 0) {
            n += 8;
            continue;
        }
        for (unsigned bit = 0x80; (x & bit) == 0; bit >>= 1) ++n;
        break;
    }
    return n;
}

std::uint8_t default_kinds(const Prefix& p) noexcept {
    return p.first.is_v4() ? static_cast<std::uint8_t>(net_kind::ipv4 | net_kind::arp) : net_kind::ipv6;
}

const char* dir_text(Dir d) noexcept {
    switch (d) {
        case Dir::either: return "";
        case Dir::src: return "src ";
        case Dir::dst: return "dst ";
        case Dir::both: return "src and dst ";
    }
    return "";
}

const char* port_proto_text(std::uint8_t proto) noexcept {
    switch (proto) {
        case 6: return "tcp ";
        case 17: return "udp ";
        case 132: return "sctp ";
        default: return "";
    }
}

}  // namespace

Expr Expr::leaf(const ExprNode& n) {
    Expr e;
    e.nodes_.push_back(n);
    if (n.kind == ExprNode::Kind::address) e.addresses_.push_back(0);
    return e;
}

Expr Expr::address(const Prefix& p, Dir d, std::uint8_t kinds, Side side) {
    ExprNode n;
    n.kind = ExprNode::Kind::address;
    n.dir = d;
    n.side = side;
    n.kinds = kinds != 0 ? kinds : default_kinds(p);
    n.prefix = p;
    return leaf(n);
}

Expr Expr::port(std::uint16_t lo, std::uint16_t hi, Dir d, std::uint8_t proto) {
    ExprNode n;
    n.kind = ExprNode::Kind::port;
    n.dir = d;
    n.lo = lo;
    n.hi = hi;
    n.proto = proto;
    return leaf(n);
}

Expr Expr::ip_proto(std::uint8_t proto, std::uint8_t kinds) {
    ExprNode n;
    n.kind = ExprNode::Kind::ip_proto;
    n.proto = proto;
    n.kinds = kinds;
    return leaf(n);
}

Expr Expr::ethertype(std::uint16_t type) {
    ExprNode n;
    n.kind = ExprNode::Kind::ethertype;
    n.lo = type;
    return leaf(n);
}

Expr Expr::wire_max(std::uint32_t len) {
    ExprNode n;
    n.kind = ExprNode::Kind::wire_max;
    n.length = len;
    return leaf(n);
}

Expr Expr::wire_min(std::uint32_t len) {
    ExprNode n;
    n.kind = ExprNode::Kind::wire_min;
    n.length = len;
    return leaf(n);
}

Expr Expr::tunnel(Tunnel t) {
    ExprNode n;
    n.kind = ExprNode::Kind::tunnel;
    n.proto = static_cast<std::uint8_t>(t);
    return leaf(n);
}

Expr Expr::tunnel_id(Tunnel t, std::uint32_t id) {
    ExprNode n;
    n.kind = ExprNode::Kind::tunnel_id;
    n.proto = static_cast<std::uint8_t>(t);
    n.length = id;
    return leaf(n);
}

std::uint32_t Expr::splice(const Expr& e) {
    const auto node_base = static_cast<std::uint32_t>(nodes_.size());
    const auto child_base = static_cast<std::uint32_t>(children_.size());
    for (std::uint32_t c : e.children_) children_.push_back(c + node_base);
    for (ExprNode n : e.nodes_) {
        if (n.kind == ExprNode::Kind::all_of || n.kind == ExprNode::Kind::any_of || n.kind == ExprNode::Kind::negate)
            n.first += child_base;
        if (n.kind == ExprNode::Kind::address) {
            n.slot = static_cast<std::uint32_t>(addresses_.size());
            addresses_.push_back(static_cast<std::uint32_t>(nodes_.size()));
        }
        nodes_.push_back(n);
    }
    return static_cast<std::uint32_t>(nodes_.size() - 1);
}

Expr Expr::combine(ExprNode::Kind kind, std::vector<Expr> parts) {
    Expr out;
    std::vector<std::uint32_t> roots;
    for (const Expr& p : parts) {
        if (p.empty()) {
            if (kind == ExprNode::Kind::all_of) continue;
            // Every packet: an OR with it holds for every packet too.
            return Expr{};
        }
        const ExprNode& r = p.nodes_.back();
        if (r.kind == kind) {
            // Flattened: the part's children become the result's.
            const std::uint32_t base = static_cast<std::uint32_t>(out.nodes_.size());
            out.splice(p);
            const ExprNode spliced = out.nodes_.back();
            out.nodes_.pop_back();  // its root, the same kind as ours
            for (std::uint32_t k = 0; k < spliced.count; ++k) roots.push_back(out.children_[spliced.first + k]);
            (void)base;
        } else {
            roots.push_back(out.splice(p));
        }
    }
    if (kind == ExprNode::Kind::all_of && roots.empty()) return Expr{};
    if (roots.size() == 1) {
        // One part: itself (its nodes are already in place, root last).
        return out;
    }
    ExprNode n;
    n.kind = kind;
    n.first = static_cast<std::uint32_t>(out.children_.size());
    n.count = static_cast<std::uint32_t>(roots.size());
    for (std::uint32_t r : roots) out.children_.push_back(r);
    out.nodes_.push_back(n);
    return out;
}

Expr Expr::all_of(std::vector<Expr> parts) { return combine(ExprNode::Kind::all_of, std::move(parts)); }

Expr Expr::any_of(std::vector<Expr> parts) { return combine(ExprNode::Kind::any_of, std::move(parts)); }

Expr Expr::negate(Expr e) {
    Expr out;
    const std::uint32_t child = out.splice(e.empty() ? Expr::any_of({}) : e);
    ExprNode n;
    n.kind = ExprNode::Kind::negate;
    n.first = static_cast<std::uint32_t>(out.children_.size());
    n.count = 1;
    out.children_.push_back(child);
    out.nodes_.push_back(n);
    return out;
}

void Expr::to_string(std::uint32_t i, std::string& out) const {
    const ExprNode& n = nodes_[i];
    switch (n.kind) {
        case ExprNode::Kind::all_of:
        case ExprNode::Kind::any_of:
            if (n.count == 0) {
                // No tcpdump word for these: an always-true and an always-false test.
                out += n.kind == ExprNode::Kind::all_of ? "(greater 0)" : "(not greater 0)";
                return;
            }
            out += '(';
            for (std::uint32_t k = 0; k < n.count; ++k) {
                if (k > 0) out += n.kind == ExprNode::Kind::all_of ? " and " : " or ";
                to_string(children_[n.first + k], out);
            }
            out += ')';
            return;
        case ExprNode::Kind::negate:
            out += "not ";
            to_string(children_[n.first], out);
            return;
        case ExprNode::Kind::address: {
            // An IPv6 term on an IPv4-mapped prefix prints as IPv6 text.
            const bool v4 = n.prefix.first.is_v4() && (n.kinds & net_kind::ipv6) == 0;
            const auto text = [v4](const Address& a) {
                return !v4 && a.is_v4() ? "::ffff:" + a.to_string() : a.to_string();
            };
            if (n.side == Side::inner)
                out += "inner ";
            else if (n.side == Side::outer)
                out += "outer ";
            if (n.kinds == net_kind::ipv4)
                out += "ip ";
            else if (n.kinds == net_kind::arp)
                out += "arp ";
            out += dir_text(n.dir);
            if (n.prefix.is_single()) {
                out += "host " + text(n.prefix.first);
            } else {
                const unsigned bits = common_bits(n.prefix.first, n.prefix.last);
                out += fmt::format("net {}/{}", text(n.prefix.first), v4 ? bits - 96 : bits);
            }
            return;
        }
        case ExprNode::Kind::port:
            out += port_proto_text(n.proto);
            out += dir_text(n.dir);
            if (n.lo == n.hi)
                out += fmt::format("port {}", n.lo);
            else
                out += fmt::format("portrange {}-{}", n.lo, n.hi);
            return;
        case ExprNode::Kind::ip_proto:
            if (n.kinds == net_kind::ipv4)
                out += "ip ";
            else if (n.kinds == net_kind::ipv6)
                out += "ip6 ";
            out += fmt::format("proto {}", n.proto);
            return;
        case ExprNode::Kind::ethertype:
            out += n.lo == 0x0800 ? "ip" : n.lo == 0x86dd ? "ip6" : n.lo == 0x0806 ? "arp" : "(ether proto ?)";
            return;
        case ExprNode::Kind::wire_max: out += fmt::format("less {}", n.length); return;
        case ExprNode::Kind::wire_min: out += fmt::format("greater {}", n.length); return;
        case ExprNode::Kind::tunnel: out += n.proto == 0 ? "tunnel" : tunnel_name(static_cast<Tunnel>(n.proto)); return;
        case ExprNode::Kind::tunnel_id:
            out +=
                fmt::format("{} id {}", n.proto == 0 ? "tunnel" : tunnel_name(static_cast<Tunnel>(n.proto)), n.length);
            return;
    }
}

std::string Expr::to_string() const {
    if (empty()) return {};
    std::string out;
    to_string(root(), out);
    return out;
}

}  // namespace capdb
