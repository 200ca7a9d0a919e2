// Query expressions: the parser's grouping rules, the tree's meaning, and
// the planner (postings pages for anchored expressions, results equal to a
// scan's).
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "capdb/error.h"
#include "capdb/expr.h"
#include "capdb/filter.h"
#include "capdb/store.h"
#include "store/format/block_layout.h"
#include "store/format/checksum.h"
#include "store/format/postings.h"
#include "store/sqlite/sqlite.h"
#include "store/sqlite/sqlite_store.h"
#include "testutil.h"

namespace capdb {
namespace {

Expr parse(const std::string& text) { return parse_expression({text}); }

std::string canon(const std::string& text) { return parse(text).to_string(); }

PacketView packet(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sp, std::uint16_t dp,
                  std::uint32_t wirelen = 100) {
    PacketView p;
    Summary& s = p.summary;
    s.src = *parse_address(src);
    s.dst = *parse_address(dst);
    s.network = s.src.is_v4() ? Network::ipv4 : Network::ipv6;
    s.ethertype = s.src.is_v4() ? 0x0800 : 0x86dd;
    s.ip_proto = proto;
    s.has_ports = proto == 6 || proto == 17 || proto == 132 || proto == 136;
    s.src_port = sp;
    s.dst_port = dp;
    p.wirelen = wirelen;
    return p;
}

TEST(ExprParser, AndOrHaveOnePrecedenceFromTheLeft) {
    // tcpdump: "a or b and c" is "(a or b) and c".
    EXPECT_EQ(canon("tcp or udp and port 53"), "((proto 6 or proto 17) and port 53)");
    EXPECT_EQ(canon("port 53 and tcp or udp"), "((port 53 and proto 6) or proto 17)");
    EXPECT_EQ(canon("not tcp and udp"), "(not proto 6 and proto 17)");
    EXPECT_EQ(canon("!(tcp || udp) && icmp"), "(not (proto 6 or proto 17) and ip proto 1)");
    EXPECT_EQ(canon("tcp and udp and sctp"), "(proto 6 and proto 17 and proto 132)");
}

TEST(ExprParser, QualifiersCarryOver) {
    EXPECT_EQ(canon("host 10.0.0.1 or 10.0.0.2"), "(host 10.0.0.1 or host 10.0.0.2)");
    EXPECT_EQ(canon("tcp dst port 80 or 443"), "(tcp dst port 80 or tcp dst port 443)");
    EXPECT_EQ(canon("src net 10.0.0.0/8 and not 10.1.0.0/16"), "(src net 10.0.0.0/8 and not src net 10.1.0.0/16)");
    EXPECT_EQ(canon("ip proto 6 or 17"), "(ip proto 6 or ip proto 17)");
    EXPECT_EQ(canon("port 80 or (443)"), "(port 80 or port 443)");
    EXPECT_EQ(canon("src 10.0.0.1"), "src host 10.0.0.1");
    EXPECT_EQ(canon("src or dst 10.0.0.1"), "host 10.0.0.1");
    EXPECT_EQ(canon("src and dst 10.0.0.1"), "src and dst host 10.0.0.1");
    // As in tcpdump, the first term has none to take.
    EXPECT_THROW((void)canon("10.0.0.0/8 or host 10.0.0.1"), UsageError);
}

TEST(ExprParser, NetForms) {
    EXPECT_EQ(canon("net 10"), "net 10.0.0.0/8");
    EXPECT_EQ(canon("net 172.16"), "net 172.16.0.0/16");
    EXPECT_EQ(canon("net 192.168.1.0 mask 255.255.255.0"), "net 192.168.1.0/24");
    EXPECT_EQ(canon("net 10.1.2.3"), "host 10.1.2.3");
    EXPECT_EQ(canon("net 2001:db8::/32"), "net 2001:db8::/32");
    EXPECT_EQ(canon("portrange 90-80"), "portrange 80-90");
    EXPECT_EQ(canon("ip proto \\udp"), "ip proto 17");
    EXPECT_EQ(canon("arp src host 10.0.0.1"), "arp src host 10.0.0.1");
}

TEST(ExprParser, PrintedFormReadsBackTheSame) {
    for (const char* text :
         {"host 10.0.0.1 or 10.0.0.2 and not (tcp port 80 or 443)", "ip6 src net 2001:db8::/48 or icmp6",
          "less 100 or greater 1000 and arp", "udp src portrange 1-1023 || ip host 192.0.2.1 && !ip6 proto 58",
          "not not not tcp", "src and dst net 10.0.0.0/8"}) {
        const std::string once = canon(text);
        EXPECT_EQ(canon(once), once) << text;
    }
}

TEST(ExprParser, ErrorsNameTheWordAndItsPosition) {
    try {
        (void)parse_expression({"host", "10.0.0.1", "and", "bogus"});
        FAIL();
    } catch (const UsageError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("'bogus'"), std::string::npos) << m;
        EXPECT_NE(m.find("README.md"), std::string::npos) << m;
        EXPECT_NE(m.find("\n  host 10.0.0.1 and bogus\n                    ^^^^^"), std::string::npos) << m;
        EXPECT_EQ(e.code(), Exit::usage);
    }
    // Nesting is bounded (the parser and the evaluation recurse).
    std::string deep(100, '(');
    deep += "tcp" + std::string(100, ')');
    EXPECT_THROW((void)parse(deep), UsageError);
    EXPECT_THROW((void)parse(std::string(100, '!') + "tcp"), UsageError);
    EXPECT_NO_THROW((void)parse(std::string(30, '(') + "tcp" + std::string(30, ')')));
    EXPECT_TRUE(parse("").empty());
}

TEST(Expr, TcpdumpMeaning) {
    const PacketView tcp = packet("10.0.0.1", "192.0.2.9", 6, 40000, 443);
    EXPECT_TRUE(matches(parse("host 10.0.0.1"), tcp));
    EXPECT_TRUE(matches(parse("src 10.0.0.1 and dst net 192.0.2.0/24"), tcp));
    EXPECT_FALSE(matches(parse("src and dst net 10.0.0.0/8"), tcp));
    EXPECT_FALSE(matches(parse("ip6"), tcp));
    EXPECT_TRUE(matches(parse("ip and tcp and not udp"), tcp));
    EXPECT_TRUE(matches(parse("tcp dst port 443 and src portrange 40000-40010"), tcp));
    EXPECT_FALSE(matches(parse("udp port 443"), tcp));
    EXPECT_TRUE(matches(parse("less 100 and greater 100"), tcp));
    EXPECT_FALSE(matches(parse("less 99"), tcp));
    // BPF's "port" is TCP, UDP and SCTP only; capdb also decodes UDP-Lite's ports.
    const PacketView lite = packet("10.0.0.1", "10.0.0.2", 136, 53, 53);
    EXPECT_FALSE(matches(parse("port 53"), lite));
    EXPECT_TRUE(matches(parse("proto 136"), lite));
    // icmp is IPv4's, icmp6 IPv6's; "proto N" both.
    EXPECT_FALSE(matches(parse("icmp"), packet("2001:db8::1", "2001:db8::2", 1, 0, 0)));
    EXPECT_TRUE(matches(parse("proto 1"), packet("2001:db8::1", "2001:db8::2", 1, 0, 0)));
    // An IPv6 prefix holds no IPv4 row, even ::/0 (IPv4 is stored IPv4-mapped).
    EXPECT_FALSE(matches(parse("net ::/0"), tcp));
    // The family is the text's: an IPv4-mapped address is an IPv6 term.
    EXPECT_FALSE(matches(parse("host ::ffff:10.0.0.1"), tcp));
    PacketView mapped = packet("::ffff:10.0.0.1", "2001:db8::2", 6, 1, 2);
    mapped.summary.network = Network::ipv6;  // an IPv6 packet with an IPv4-mapped source
    EXPECT_TRUE(matches(parse("host ::ffff:10.0.0.1"), mapped));
    EXPECT_EQ(canon("host ::ffff:10.0.0.1"), "host ::ffff:10.0.0.1");
    EXPECT_EQ(canon("net ::ffff:0:0/96"), "net ::ffff:0.0.0.0/96");
    EXPECT_THROW((void)parse("ip host ::ffff:10.0.0.1"), UsageError);
    EXPECT_TRUE(matches(parse("net 0.0.0.0/0"), tcp));
}

TEST(Expr, HostAndNetMatchArpAddresses) {
    PacketView arp;
    arp.summary.status = Status::non_ip;
    arp.summary.ethertype = 0x0806;
    arp.summary.arp = true;
    arp.summary.src = *parse_address("10.0.0.1");
    arp.summary.dst = *parse_address("10.0.0.2");
    EXPECT_TRUE(matches(parse("arp"), arp));
    EXPECT_TRUE(matches(parse("host 10.0.0.1"), arp));
    EXPECT_TRUE(matches(parse("src 10.0.0.1 and dst 10.0.0.2"), arp));
    EXPECT_TRUE(matches(parse("net 10.0.0.0/24"), arp));
    EXPECT_TRUE(matches(parse("arp host 10.0.0.2"), arp));
    EXPECT_FALSE(matches(parse("ip host 10.0.0.1"), arp));
    EXPECT_FALSE(matches(parse("ip or ip6 or tcp or port 0 or proto 0"), arp));
    // Without the flag, the addresses are not ARP's: nothing but "arp" holds.
    arp.summary.arp = false;
    EXPECT_FALSE(matches(parse("host 10.0.0.1"), arp));
    EXPECT_TRUE(matches(parse("arp"), arp));
    // An IP row is not ARP's.
    EXPECT_FALSE(matches(parse("arp host 10.0.0.1"), packet("10.0.0.1", "10.0.0.2", 6, 1, 2)));
}

// A VXLAN-tunnelled TCP packet 10.9.9.1 -> 10.9.9.2 between the tunnel
// endpoints 198.51.100.1 -> 198.51.100.2.
PacketView tunnelled() {
    PacketView p = packet("10.9.9.1", "10.9.9.2", 6, 1234, 80);
    Summary& s = p.summary;
    s.tunnel = Tunnel::vxlan;
    s.tunnel_layers = 1;
    s.has_tunnel_id = true;
    s.tunnel_id = 42;
    s.outer_network = Network::ipv4;
    s.outer_src = *parse_address("198.51.100.1");
    s.outer_dst = *parse_address("198.51.100.2");
    return p;
}

TEST(Expr, InnerAndOuterAddresses) {
    const PacketView p = tunnelled();
    // Unqualified: either header.
    EXPECT_TRUE(matches(parse("host 10.9.9.1"), p));
    EXPECT_TRUE(matches(parse("host 198.51.100.1"), p));
    EXPECT_TRUE(matches(parse("src 198.51.100.1 and dst 10.9.9.2"), p));
    EXPECT_FALSE(matches(parse("src 198.51.100.2"), p));
    // "src and dst" within one header.
    EXPECT_TRUE(matches(parse("src and dst net 198.51.100.0/24"), p));
    EXPECT_FALSE(matches(parse("src 10.9.9.1 and dst 10.9.9.1"), p));
    // inner / outer.
    EXPECT_TRUE(matches(parse("inner host 10.9.9.1"), p));
    EXPECT_FALSE(matches(parse("inner host 198.51.100.1"), p));
    EXPECT_TRUE(matches(parse("outer src 198.51.100.1"), p));
    EXPECT_FALSE(matches(parse("outer host 10.9.9.1"), p));
    EXPECT_FALSE(matches(parse("outer dst 198.51.100.1"), p));
    EXPECT_TRUE(matches(parse("outer ip host 198.51.100.2"), p));
    EXPECT_TRUE(matches(parse("inner host 10.0.0.1 or 10.9.9.2"), p));  // the qualifiers carry over
    // An untunnelled packet has no outer header.
    const PacketView plain = packet("198.51.100.1", "198.51.100.2", 6, 1, 2);
    EXPECT_FALSE(matches(parse("outer host 198.51.100.1"), plain));
    EXPECT_TRUE(matches(parse("inner host 198.51.100.1"), plain));
    // The flags' form.
    EXPECT_TRUE(matches(Expr::address(*parse_prefix("198.51.100.1"), Dir::src, net_kind::ip, Side::outer), p));
    EXPECT_FALSE(matches(Expr::address(*parse_prefix("198.51.100.1"), Dir::src, net_kind::ip, Side::inner), p));
}

TEST(Expr, TunnelTypesAndIds) {
    const PacketView p = tunnelled();
    EXPECT_TRUE(matches(parse("vxlan"), p));
    EXPECT_TRUE(matches(parse("tunnel"), p));
    EXPECT_FALSE(matches(parse("gtp or geneve or gre or mpls or pppoe or ipip or erspan or nsh"), p));
    EXPECT_TRUE(matches(parse("vni 42"), p));
    EXPECT_FALSE(matches(parse("vni 43"), p));
    EXPECT_TRUE(matches(parse("vxlan id 42 and tunnel id 42"), p));
    EXPECT_FALSE(matches(parse("teid 42"), p));
    EXPECT_FALSE(matches(parse("gre id 42"), p));
    const PacketView plain = packet("10.0.0.1", "10.0.0.2", 6, 1, 2);
    EXPECT_FALSE(matches(parse("tunnel"), plain));
    EXPECT_FALSE(matches(parse("tunnel id 0"), plain));
    EXPECT_TRUE(matches(parse("not tunnel"), plain));
}

TEST(ExprParser, TunnelTermsReadBack) {
    EXPECT_EQ(canon("inner host 10.0.0.1 or 10.0.0.2"), "(inner host 10.0.0.1 or inner host 10.0.0.2)");
    EXPECT_EQ(canon("outer src net 10.0.0.0/8"), "outer src net 10.0.0.0/8");
    EXPECT_EQ(canon("outer ip6 dst host 2001:db8::1"), "outer dst host 2001:db8::1");
    EXPECT_EQ(canon("vni 7"), "(vxlan id 7 or geneve id 7)");
    EXPECT_EQ(canon("teid 4294967295"), "gtp id 4294967295");
    EXPECT_EQ(canon("gtp and not mpls"), "(gtp and not mpls)");
    EXPECT_EQ(canon("tunnel id 5"), "tunnel id 5");
    for (const char* t : {"inner host 10.0.0.1 or 10.0.0.2", "vni 7", "outer ip6 dst host 2001:db8::1", "pppoe id 3",
                          "not (erspan or nsh or ipip)"})
        EXPECT_EQ(canon(canon(t)), canon(t)) << t;
    EXPECT_THROW((void)parse("inner port 80"), UsageError);
    EXPECT_THROW((void)parse("outer tcp"), UsageError);
    EXPECT_THROW((void)parse("outer vxlan"), UsageError);
    EXPECT_THROW((void)parse("inner"), UsageError);
    EXPECT_THROW((void)parse("vni 16777216"), UsageError);
    EXPECT_THROW((void)parse("teid x"), UsageError);
    EXPECT_THROW((void)parse("gre id"), UsageError);
}

// --- the planner -------------------------------------------------------------

struct Row {
    CaptureId capture;
    std::uint64_t seq;
    bool operator==(const Row&) const = default;
};

struct Planned {
    testing::TempDir dir;
    std::string path = dir.file("p.db");
    std::vector<testing::OwnedPacket> packets;
    std::unique_ptr<Store> store;

    Planned() {
        store = open_sqlite_store(path, {.read_only = false, .create = true});
        packets = testing::random_packets(60000, 5);
        CaptureMeta meta;
        meta.source = "p";
        meta.linktype = 1;
        auto w = store->begin_capture(meta, 2000);  // 30 blocks of 8 pages
        for (const auto& p : packets) w->append(p.get());
        w->finish(CaptureState::complete, "x", std::nullopt);
    }

    std::vector<Row> run(const Filter& f) const {
        std::vector<Row> out;
        store->query(f, [&](const PacketView& p) {
            out.push_back({p.capture, p.seq});
            return true;
        });
        return out;
    }

    // The packets that match, by a scan of what was written.
    std::vector<Row> reference(const Filter& f) const {
        std::vector<std::pair<std::int64_t, Row>> rows;
        for (std::size_t i = 0; i < packets.size(); ++i) {
            PacketView v = packets[i].get();
            v.capture = 1;
            v.seq = i;
            if (matches(f, v)) rows.push_back({v.ts_ns, Row{1, i}});
        }
        std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
            return std::tie(a.first, a.second.seq) < std::tie(b.first, b.second.seq);
        });
        std::vector<Row> out;
        for (const auto& r : rows) out.push_back(r.second);
        return out;
    }

    // (block, page) pairs the postings name for an address, read from the
    // postings table itself.
    std::set<std::pair<std::int64_t, std::size_t>> postings_of(const char* address) const {
        sqlite::Database db(path, SQLITE_OPEN_READONLY);
        const auto a = *parse_address(address);
        const auto key = store::address_key(a);
        std::set<std::pair<std::int64_t, std::size_t>> out;
        sqlite::Statement st(db, "SELECT first_block, blocks FROM postings WHERE addr = ?1");
        st.bind_blob(1, key);
        while (st.step()) {
            const auto body = store::checked_postings(key, st.i64(0), st.blob(1));
            EXPECT_TRUE(body);
            if (!body) continue;
            store::read_postings(*body, st.i64(0), [&](std::int64_t block, std::size_t page) {
                out.insert({block, page});
            });
        }
        return out;
    }

    std::uint64_t pages_read(const std::string& expr) {
        Filter f;
        f.expr = parse(expr);
        const auto rows = run(f);
        const std::uint64_t pages = store::last_query_stats(*store).pages;
        EXPECT_EQ(rows, reference(f)) << expr;
        // A scan (an unanchored branch that holds for no packet) finds the same.
        if (!expr.empty()) {
            Filter scan;
            scan.expr = parse("(" + expr + ") or (less 0 and greater 1)");
            EXPECT_EQ(run(scan), rows) << expr;
        }
        EXPECT_EQ(store->count(f), rows.size()) << expr;
        return pages;
    }
};

template <class S>
S unite(S a, const S& b) {
    a.insert(b.begin(), b.end());
    return a;
}

TEST(Planner, AnchoredExpressionsReadOnlyThePostingsPages) {
    Planned p;
    EXPECT_EQ(p.pages_read(""), 30u * 8);
    const std::uint64_t all = p.pages_read("not host 10.0.0.5");
    EXPECT_EQ(all, 30u * 8);  // NOT narrows nothing

    const auto a = p.postings_of("10.0.1.20");
    const auto b = p.postings_of("10.0.0.250");
    const auto c = p.postings_of("10.0.0.7");
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    ASSERT_LT(unite(a, b).size() * 3, all) << "rare enough that reading only their pages shows";

    EXPECT_EQ(p.pages_read("host 10.0.1.20"), a.size());
    EXPECT_EQ(p.pages_read("host 10.0.1.20 or host 10.0.0.250"), unite(a, b).size());
    EXPECT_EQ(p.pages_read("host 10.0.1.20 or 10.0.0.250 or 10.0.0.7"), unite(unite(a, b), c).size());
    EXPECT_EQ(p.pages_read("(host 10.0.1.20 or host 10.0.0.250) and not port 443"), unite(a, b).size());
    EXPECT_EQ(p.pages_read("dst 10.0.1.20 and udp and not (port 53 or less 200)"), a.size());
    std::set<std::pair<std::int64_t, std::size_t>> both;
    std::set_intersection(a.begin(), a.end(), c.begin(), c.end(), std::inserter(both, both.end()));
    EXPECT_EQ(p.pages_read("host 10.0.1.20 and host 10.0.0.7"), both.size());
    EXPECT_EQ(p.pages_read("host 10.0.1.20 and (tcp or host 10.0.0.7)"), a.size());
    // A branch without an address: a scan.
    EXPECT_EQ(p.pages_read("host 10.0.1.20 or port 53"), all);
    EXPECT_EQ(p.pages_read("not port 443"), all);
    // The flags are the same tree.
    Filter flags;
    flags.also(Expr::address(*parse_prefix("10.0.1.20"), Dir::either));
    flags.also(Expr::port(53, 53, Dir::dst));
    EXPECT_EQ(p.run(flags), p.reference(flags));
    EXPECT_EQ(store::last_query_stats(*p.store).pages, a.size());
}

// Random expressions: the store's answer (through the planner and the page
// decoder's dictionary masks) equals a scan with matches().
TEST(Planner, RandomExpressionsEqualAScan) {
    Planned p;
    std::mt19937 rng(77);
    const char* atoms[] = {"host 10.0.0.5",
                           "src 10.0.0.7",
                           "dst net 10.0.1.0/24",
                           "net 10.0.0.0/26",
                           "host 2001:db8::7",
                           "net 2001:db8::/120",
                           "src and dst net 10.0.0.0/16",
                           "port 53",
                           "src port 443",
                           "tcp dst portrange 1000-30000",
                           "udp",
                           "icmp",
                           "ip6",
                           "arp",
                           "less 300",
                           "greater 1200",
                           "host 10.0.0.5 or 10.0.1.9",
                           "ip host 10.0.0.33",
                           "host 10.0.0.99 and host 10.0.1.99"};
    std::function<std::string(int)> gen = [&](int depth) -> std::string {
        if (depth > 2 || rng() % 3 == 0) return atoms[rng() % std::size(atoms)];
        std::string out = "(" + gen(depth + 1);
        const int n = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < n; ++k) out += (rng() % 2 ? " and " : " or ") + gen(depth + 1);
        out += ")";
        return rng() % 5 == 0 ? "not " + out : out;
    };
    for (int round = 0; round < 60; ++round) {
        const std::string text = gen(0);
        Filter f;
        f.expr = parse(text);
        if (rng() % 3 == 0)
            f.from_ns = 1'600'000'000'000'000'000 + static_cast<std::int64_t>(rng() % 60) * 1'000'000'000;
        if (rng() % 4 == 0) f.limit = rng() % 40;
        auto want = p.reference(f);
        if (f.limit && want.size() > *f.limit) want.resize(*f.limit);
        EXPECT_EQ(p.run(f), want) << text;
        EXPECT_EQ(p.store->count(f), want.size()) << text;
    }
}

}  // namespace
}  // namespace capdb
