#include "store/clickhouse/plan.h"

#include <fmt/format.h>

namespace capdb::clickhouse {

namespace {

// More ranges than this are read as a time scan instead.
constexpr std::size_t kMaxRanges = 64;

std::optional<std::vector<Prefix>> ranges_of(const Expr& e, std::uint32_t i) {
    const ExprNode& n = e.nodes()[i];
    switch (n.kind) {
        case ExprNode::Kind::address: return std::vector<Prefix>{n.prefix};
        case ExprNode::Kind::all_of: {
            // Any one child's ranges will do: the fewest.
            std::optional<std::vector<Prefix>> best;
            for (std::uint32_t k = 0; k < n.count; ++k) {
                auto r = ranges_of(e, e.children()[n.first + k]);
                if (r && (!best || r->size() < best->size())) best = std::move(r);
            }
            return best;
        }
        case ExprNode::Kind::any_of: {
            // Every alternative must require an address.
            std::vector<Prefix> all;
            for (std::uint32_t k = 0; k < n.count; ++k) {
                auto r = ranges_of(e, e.children()[n.first + k]);
                if (!r) return std::nullopt;
                all.insert(all.end(), r->begin(), r->end());
                if (all.size() > kMaxRanges) return std::nullopt;
            }
            if (all.empty()) return std::nullopt;
            return all;
        }
        default: return std::nullopt;
    }
}

std::string hex(const Address& a) {
    std::string out;
    out.reserve(32);
    for (const std::uint8_t b : a.bytes) out += fmt::format("{:02x}", b);
    return out;
}

// column within any of the ranges.
std::string in_ranges(const char* column, const std::vector<Prefix>& ranges) {
    std::string out = "(";
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        if (i != 0) out += " OR ";
        const Prefix& p = ranges[i];
        if (p.is_single())
            out += fmt::format("{} = unhex('{}')", column, hex(p.first));
        else
            out += fmt::format("({0} >= unhex('{1}') AND {0} <= unhex('{2}'))", column, hex(p.first), hex(p.last));
    }
    return out + ")";
}

}  // namespace

std::optional<std::vector<Prefix>> required_ranges(const Expr& expr) {
    if (expr.empty()) return std::nullopt;
    return ranges_of(expr, expr.root());
}

std::string where_clause(const Filter& f, const std::optional<BlockRange>& blocks,
                         const std::optional<std::vector<Prefix>>& ranges) {
    std::string w = "1";
    if (f.from_ns) w += fmt::format(" AND ts_ns >= {}", *f.from_ns);
    if (f.to_ns) w += fmt::format(" AND ts_ns <= {}", *f.to_ns);
    if (f.capture) w += fmt::format(" AND capture = {}", *f.capture);
    if (blocks) w += fmt::format(" AND block > {} AND block <= {}", blocks->after, blocks->through);
    if (ranges) {
        // A packet's rows: one per distinct address, in the order source
        // (role 0), destination (1), outer source (2), outer destination
        // (3); a row is read only when no earlier address of the packet is
        // in the ranges (whose row is read instead).
        w += " AND " + in_ranges("addr", *ranges);
        // (src and dst are addresses only for IP and ARP rows.)
        const std::string inner = "(network != 0 OR bitAnd(flags, 4) != 0)";
        w += " AND (role = 0 OR NOT (" + inner + " AND " + in_ranges("src", *ranges) + "))";
        w += " AND (role <= 1 OR NOT (" + inner + " AND " + in_ranges("dst", *ranges) + "))";
        w += " AND (role <= 2 OR NOT " + in_ranges("outer_src", *ranges) + ")";
    }
    return w;
}

}  // namespace capdb::clickhouse
