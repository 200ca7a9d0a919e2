// decode() through tunnels: each encapsulation written out as bytes, then
// the inner and outer fields checked; every cut of every sample, malformed
// headers, and nesting past kMaxTunnelLayers.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "capdb/decode.h"

namespace capdb {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
std::uint8_t b(unsigned v, unsigned shift = 0) { return static_cast<std::uint8_t>((v >> shift) & 0xff); }
Bytes be16(unsigned v) { return {b(v, 8), b(v)}; }
Bytes be32(unsigned v) { return {b(v, 24), b(v, 16), b(v, 8), b(v)}; }

// Decodes a copy of exactly the frame's bytes, so that AddressSanitizer
// reports any read past it.
Summary run(std::uint32_t linktype, const Bytes& frame) {
    const Bytes exact(frame.begin(), frame.end());
    return decode(linktype, std::span<const std::uint8_t>(exact.data(), exact.size()));
}

constexpr std::uint8_t kTcp = 6, kUdp = 17;

Bytes ether(unsigned type) { return cat({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, be16(type)}); }
// IPv4 header a.b.c.d → a.b.c.(d+1), total length covering `payload` bytes.
Bytes ipv4(std::uint8_t proto, std::uint8_t last, std::size_t payload) {
    const auto total = static_cast<unsigned>(20 + payload);
    return cat({{0x45, 0x00},
                be16(total),
                {0x12, 0x34, 0x40, 0x00, 0x40, proto, 0x00, 0x00},
                {10, 0, 0, last},
                {10, 0, 0, static_cast<std::uint8_t>(last + 1)}});
}
// IPv6 header 2001:db8::last → 2001:db8::(last+1).
Bytes ipv6(std::uint8_t next, std::uint8_t last, std::size_t payload) {
    Bytes h = cat({{0x60, 0, 0, 0}, be16(static_cast<unsigned>(payload)), {next, 64}});
    for (std::uint8_t end : {last, static_cast<std::uint8_t>(last + 1)}) {
        h.insert(h.end(), {0x20, 0x01, 0x0d, 0xb8});
        h.insert(h.end(), 11, 0);
        h.push_back(end);
    }
    return h;
}
Bytes udp(unsigned sport, unsigned dport, std::size_t payload) {
    return cat({be16(sport), be16(dport), be16(static_cast<unsigned>(8 + payload)), {0, 0}});
}
Bytes tcp(unsigned sport, unsigned dport) {
    return cat({be16(sport), be16(dport), be32(1), be32(0), {0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}});
}

// The packet every tunnel carries: 10.9.9.1 → 10.9.9.2 TCP 1234 → 80.
Bytes inner_v4() {
    return cat({{0x45, 0x00, 0x00, 40, 0, 1, 0x40, 0x00, 64, kTcp, 0, 0, 10, 9, 9, 1, 10, 9, 9, 2}, tcp(1234, 80)});
}
// 2001:db8:9::1 → 2001:db8:9::2 UDP 53 → 5353.
Bytes inner_v6() {
    Bytes h = {0x60, 0, 0, 0, 0, 12, kUdp, 64};
    for (const std::uint8_t end : {std::uint8_t{1}, std::uint8_t{2}}) {
        h.insert(h.end(), {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x09});
        h.insert(h.end(), 9, 0);
        h.push_back(end);
    }
    return cat({h, be16(53), be16(5353), be16(12), {0, 0, 1, 2, 3, 4}});
}

// Outer IPv4 10.0.0.1 → 10.0.0.2 over Ethernet, UDP to the port, payload.
Bytes over_udp(unsigned port, const Bytes& payload) {
    return cat({ether(0x0800), ipv4(kUdp, 1, 8 + payload.size()), udp(40000, port, payload.size()), payload});
}
Bytes over_ip(std::uint8_t proto, const Bytes& payload) {
    return cat({ether(0x0800), ipv4(proto, 1, payload.size()), payload});
}

Bytes gtp(unsigned teid, const Bytes& pdu, const Bytes& ext = {}) {
    const std::uint8_t flags = ext.empty() ? 0x30 : 0x34;  // version 1, GTP, (E)
    return cat({{flags, 0xff}, be16(static_cast<unsigned>(pdu.size() + ext.size())), be32(teid), ext, pdu});
}
Bytes vxlan(unsigned vni) { return cat({{0x08, 0, 0, 0}, be32(vni << 8)}); }
Bytes geneve(unsigned vni, unsigned protocol, const Bytes& options = {}) {
    return cat({{static_cast<std::uint8_t>(options.size() / 4), 0}, be16(protocol), be32(vni << 8), options});
}
Bytes mpls(unsigned label, bool bottom) { return be32(label << 12 | (bottom ? 0x100u : 0u) | 64u); }
Bytes inner_frame(const Bytes& packet, unsigned type = 0x0800) { return cat({ether(type), packet}); }

const Address kOuterSrc = *parse_address("10.0.0.1");
const Address kOuterDst = *parse_address("10.0.0.2");
const Address kInnerSrc = *parse_address("10.9.9.1");
const Address kInnerDst = *parse_address("10.9.9.2");
const Address kInner6Src = *parse_address("2001:db8:9::1");

void expect_inner_v4(const Summary& s) {
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.network, Network::ipv4);
    EXPECT_EQ(s.ethertype, 0x0800);
    EXPECT_EQ(s.src, kInnerSrc);
    EXPECT_EQ(s.dst, kInnerDst);
    EXPECT_EQ(s.ip_proto, kTcp);
    EXPECT_TRUE(s.has_ports);
    EXPECT_EQ(s.src_port, 1234);
    EXPECT_EQ(s.dst_port, 80);
}
void expect_outer_v4(const Summary& s) {
    EXPECT_EQ(s.outer_network, Network::ipv4);
    EXPECT_EQ(s.outer_src, kOuterSrc);
    EXPECT_EQ(s.outer_dst, kOuterDst);
}

TEST(Tunnel, Names) {
    EXPECT_STREQ(tunnel_name(Tunnel::none), "");
    EXPECT_STREQ(tunnel_name(Tunnel::gtp), "gtp");
    EXPECT_STREQ(tunnel_name(Tunnel::nsh), "nsh");
    EXPECT_STREQ(status_name(Status::too_deep), "too_deep");
}

TEST(Tunnel, PlainPacketsHaveNone) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), inner_v4()}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.tunnel, Tunnel::none);
    EXPECT_EQ(s.tunnel_layers, 0);
    EXPECT_EQ(s.outer_network, Network::none);
    EXPECT_FALSE(s.has_tunnel_id);
}

TEST(Tunnel, GtpU) {
    const Summary s = run(dlt::en10mb, over_udp(2152, gtp(0xdeadbeef, inner_v4())));
    expect_inner_v4(s);
    expect_outer_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::gtp);
    EXPECT_TRUE(s.has_tunnel_id);
    EXPECT_EQ(s.tunnel_id, 0xdeadbeefu);
    EXPECT_EQ(s.tunnel_layers, 1);

    const Summary v6 = run(dlt::en10mb, over_udp(2152, gtp(7, inner_v6())));
    EXPECT_EQ(v6.status, Status::ok);
    EXPECT_EQ(v6.network, Network::ipv6);
    EXPECT_EQ(v6.ethertype, 0x86dd);
    EXPECT_EQ(v6.src, kInner6Src);
    EXPECT_EQ(v6.dst_port, 5353);
    expect_outer_v4(v6);
}

TEST(Tunnel, GtpUExtensionHeaders) {
    // Sequence, N-PDU, next type 0x85 (PDU session container, 1 unit),
    // then 0x40 (UDP port, 1 unit), then none.
    const Bytes ext = {0x00, 0x01, 0x00, 0x85, 0x01, 0x10, 0x05, 0x40, 0x01, 0x12, 0x34, 0x00};
    const Summary s = run(dlt::en10mb, over_udp(2152, gtp(42, inner_v4(), ext)));
    expect_inner_v4(s);
    EXPECT_EQ(s.tunnel_id, 42u);
    // An extension header of length 0 cannot end.
    Bytes bad = ext;
    bad[4] = 0;
    EXPECT_EQ(run(dlt::en10mb, over_udp(2152, gtp(42, inner_v4(), bad))).status, Status::malformed);
}

TEST(Tunnel, GtpUSignallingAndOtherVersionsStayUdp) {
    Bytes echo = gtp(0, {0, 0, 0, 0});
    echo[1] = 1;  // echo request
    const Summary s = run(dlt::en10mb, over_udp(2152, echo));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.tunnel, Tunnel::none);
    EXPECT_EQ(s.src, kOuterSrc);
    EXPECT_EQ(s.dst_port, 2152);
    Bytes v2 = gtp(1, inner_v4());
    v2[0] = 0x48;  // GTPv2-C header on the GTP-U port
    EXPECT_EQ(run(dlt::en10mb, over_udp(2152, v2)).tunnel, Tunnel::none);
    // Only the destination port names the tunnel.
    const Bytes reply = cat({ether(0x0800), ipv4(kUdp, 1, 8 + 40), udp(2152, 40000, 40), inner_v4()});
    EXPECT_EQ(run(dlt::en10mb, reply).tunnel, Tunnel::none);
    // A non-IP PDU is non-IP inside the tunnel.
    const Summary non_ip = run(dlt::en10mb, over_udp(2152, gtp(9, {0x11, 0x22, 0x33})));
    EXPECT_EQ(non_ip.status, Status::non_ip);
    EXPECT_EQ(non_ip.network, Network::none);
    EXPECT_EQ(non_ip.tunnel, Tunnel::gtp);
    expect_outer_v4(non_ip);
}

TEST(Tunnel, Vxlan) {
    const Summary s = run(dlt::en10mb, over_udp(4789, cat({vxlan(0x123456), inner_frame(inner_v4())})));
    expect_inner_v4(s);
    expect_outer_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::vxlan);
    EXPECT_EQ(s.tunnel_id, 0x123456u);
    // Without the I flag it is not VXLAN.
    Bytes bad = vxlan(5);
    bad[0] = 0;
    const Summary u = run(dlt::en10mb, over_udp(4789, cat({bad, inner_frame(inner_v4())})));
    EXPECT_EQ(u.tunnel, Tunnel::none);
    EXPECT_EQ(u.src, kOuterSrc);
    // ARP inside: the tunnel's endpoints outside, ARP's addresses inside.
    const Bytes arp = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 1, 2, 3,  4, 5, 6,
                       10,   9,    9,    1,    0,    0,    0,    0,    0, 0, 10, 9, 9, 2};
    const Summary a = run(dlt::en10mb, over_udp(4789, cat({vxlan(7), inner_frame(arp, 0x0806)})));
    EXPECT_EQ(a.status, Status::non_ip);
    EXPECT_TRUE(a.arp);
    EXPECT_EQ(a.src, kInnerSrc);
    expect_outer_v4(a);
}

TEST(Tunnel, Geneve) {
    const Bytes option = {0x01, 0x02, 0x80, 0x01, 0xaa, 0xbb, 0xcc, 0xdd};  // class, type, length 1 word
    const Summary s = run(dlt::en10mb, over_udp(6081, cat({geneve(99, 0x6558, option), inner_frame(inner_v4())})));
    expect_inner_v4(s);
    expect_outer_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::geneve);
    EXPECT_EQ(s.tunnel_id, 99u);
    // Geneve may carry IP directly.
    const Summary ip = run(dlt::en10mb, over_udp(6081, cat({geneve(3, 0x86dd), inner_v6()})));
    EXPECT_EQ(ip.network, Network::ipv6);
    EXPECT_EQ(ip.src, kInner6Src);
    // Version 1 is not Geneve as capdb knows it.
    Bytes v1 = geneve(3, 0x6558);
    v1[0] = 0x40;
    EXPECT_EQ(run(dlt::en10mb, over_udp(6081, cat({v1, inner_frame(inner_v4())}))).tunnel, Tunnel::none);
}

TEST(Tunnel, GreOptions) {
    // Checksum, key and sequence; IPv4 inside.
    const Bytes gre = cat({{0xb0, 0x00, 0x08, 0x00}, {0, 0, 0, 0}, be32(0x01020304), be32(17)});
    const Summary s = run(dlt::en10mb, over_ip(47, cat({gre, inner_v4()})));
    expect_inner_v4(s);
    expect_outer_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::gre);
    EXPECT_TRUE(s.has_tunnel_id);
    EXPECT_EQ(s.tunnel_id, 0x01020304u);
    // No key: no id.
    const Summary plain = run(dlt::en10mb, over_ip(47, cat({{0x00, 0x00, 0x86, 0xdd}, inner_v6()})));
    EXPECT_EQ(plain.tunnel, Tunnel::gre);
    EXPECT_FALSE(plain.has_tunnel_id);
    EXPECT_EQ(plain.src, kInner6Src);
    // Transparent Ethernet bridging (gretap).
    const Summary teb =
        run(dlt::en10mb, over_ip(47, cat({{0x20, 0x00, 0x65, 0x58}, be32(5), inner_frame(inner_v4())})));
    expect_inner_v4(teb);
    EXPECT_EQ(teb.tunnel_id, 5u);
    // Versions other than 0 and 1 are malformed.
    EXPECT_EQ(run(dlt::en10mb, over_ip(47, cat({{0x00, 0x02, 0x08, 0x00}, inner_v4()}))).status, Status::malformed);
}

TEST(Tunnel, GreOverIpv6) {
    const Bytes payload = cat({{0x00, 0x00, 0x08, 0x00}, inner_v4()});
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(47, 1, payload.size()), payload}));
    expect_inner_v4(s);
    EXPECT_EQ(s.outer_network, Network::ipv6);
    EXPECT_EQ(s.outer_src, *parse_address("2001:db8::1"));
}

TEST(Tunnel, Erspan) {
    // Type I: GRE 0x88be without a sequence number, the frame at once.
    const Summary one = run(dlt::en10mb, over_ip(47, cat({{0x00, 0x00, 0x88, 0xbe}, inner_frame(inner_v4())})));
    expect_inner_v4(one);
    EXPECT_EQ(one.tunnel, Tunnel::erspan);
    EXPECT_FALSE(one.has_tunnel_id);
    // Type II: a sequence number, then version 1 and session 0x2aa.
    const Bytes two = cat({{0x10, 0x00, 0x88, 0xbe}, be32(1), {0x10, 0x05, 0x02, 0xaa, 0, 0, 0, 0}});
    const Summary s2 = run(dlt::en10mb, over_ip(47, cat({two, inner_frame(inner_v4())})));
    expect_inner_v4(s2);
    expect_outer_v4(s2);
    EXPECT_EQ(s2.tunnel, Tunnel::erspan);
    EXPECT_EQ(s2.tunnel_id, 0x2aau);
    // Type III: version 2, session 3, frame type 0, with the subheader (O).
    const Bytes three =
        cat({{0x10, 0x00, 0x22, 0xeb}, be32(1), {0x20, 0x00, 0x00, 0x03}, be32(0), {0, 0, 0x00, 0x01}, Bytes(8, 0xee)});
    const Summary s3 = run(dlt::en10mb, over_ip(47, cat({three, inner_frame(inner_v4())})));
    expect_inner_v4(s3);
    EXPECT_EQ(s3.tunnel_id, 3u);
    // A type II header claiming another version.
    Bytes wrong = two;
    wrong[8] = 0x20;
    EXPECT_EQ(run(dlt::en10mb, over_ip(47, cat({wrong, inner_frame(inner_v4())}))).status, Status::malformed);
}

TEST(Tunnel, MplsStacks) {
    const Summary s = run(dlt::en10mb, cat({ether(0x8847), mpls(1000, false), mpls(2000, true), inner_v4()}));
    expect_inner_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::mpls);
    EXPECT_EQ(s.tunnel_id, 1000u);  // the top label
    EXPECT_EQ(s.outer_network, Network::none);
    // A pseudowire: control word, then Ethernet.
    const Summary pw = run(dlt::en10mb, cat({ether(0x8847), mpls(16, true), be32(0), inner_frame(inner_v6(), 0x86dd)}));
    EXPECT_EQ(pw.network, Network::ipv6);
    EXPECT_EQ(pw.src, kInner6Src);
    // MPLS over UDP.
    const Summary udp = run(dlt::en10mb, over_udp(6635, cat({mpls(77, true), inner_v4()})));
    expect_inner_v4(udp);
    expect_outer_v4(udp);
    EXPECT_EQ(udp.tunnel_id, 77u);
    // A stack that never ends is cut.
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x8847), mpls(1, false), mpls(2, false)})).status, Status::truncated);
}

TEST(Tunnel, PppoeSession) {
    const Bytes v4 = inner_v4();
    const Summary s = run(
        dlt::en10mb,
        cat({ether(0x8864), {0x11, 0x00}, be16(0x1234), be16(static_cast<unsigned>(v4.size() + 2)), {0x00, 0x21}, v4}));
    expect_inner_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::pppoe);
    EXPECT_EQ(s.tunnel_id, 0x1234u);
    const Bytes v6 = inner_v6();
    const Summary six = run(
        dlt::en10mb,
        cat({ether(0x8864), {0x11, 0x00, 0x00, 0x01}, be16(static_cast<unsigned>(v6.size() + 2)), {0x00, 0x57}, v6}));
    EXPECT_EQ(six.network, Network::ipv6);
    // LCP is non-IP; a bad version is malformed.
    EXPECT_EQ(
        run(dlt::en10mb, cat({ether(0x8864), {0x11, 0x00, 0x00, 0x01, 0x00, 0x06, 0xc0, 0x21, 1, 1, 0, 4}})).status,
        Status::non_ip);
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x8864), {0x21, 0x00, 0x00, 0x01}, be16(42), {0x00, 0x21}, v4})).status,
              Status::malformed);
}

TEST(Tunnel, IpInIpBothWays) {
    const Summary four = run(dlt::en10mb, over_ip(4, inner_v4()));
    expect_inner_v4(four);
    expect_outer_v4(four);
    EXPECT_EQ(four.tunnel, Tunnel::ipip);
    EXPECT_FALSE(four.has_tunnel_id);
    const Summary six_in_four = run(dlt::en10mb, over_ip(41, inner_v6()));
    EXPECT_EQ(six_in_four.network, Network::ipv6);
    EXPECT_EQ(six_in_four.ethertype, 0x86dd);
    EXPECT_EQ(six_in_four.src, kInner6Src);
    expect_outer_v4(six_in_four);
    const Bytes v4 = inner_v4();
    const Summary four_in_six = run(dlt::en10mb, cat({ether(0x86dd), ipv6(4, 1, v4.size()), v4}));
    expect_inner_v4(four_in_six);
    EXPECT_EQ(four_in_six.outer_network, Network::ipv6);
    EXPECT_EQ(four_in_six.tunnel, Tunnel::ipip);
}

TEST(Tunnel, MacsecIntegrityOnly) {
    // TCI: SC (SCI present), AN 0; short length 0; PN; SCI; then the EtherType.
    const Bytes sectag = cat({{0x20, 0x00}, be32(1), Bytes(8, 0x5c)});
    const Summary s = run(dlt::en10mb, cat({ether(0x88e5), sectag, be16(0x0800), inner_v4(), Bytes(16, 0x1c)}));
    expect_inner_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::none);
    // Without the SCI.
    const Summary short_tag = run(dlt::en10mb, cat({ether(0x88e5), {0x00, 0x00}, be32(1), be16(0x0800), inner_v4()}));
    expect_inner_v4(short_tag);
    // Encrypted: nothing to read.
    const Summary e = run(dlt::en10mb, cat({ether(0x88e5), {0x2c, 0x00}, be32(1), Bytes(8, 0x5c), Bytes(60, 0x77)}));
    EXPECT_EQ(e.status, Status::non_ip);
    EXPECT_EQ(e.ethertype, 0x88e5);
}

TEST(Tunnel, AristaTimestamp) {
    const Summary s64 =
        run(dlt::en10mb, cat({ether(0xd28b), {0x00, 0x01, 0x00, 0x10}, Bytes(8, 0x33), be16(0x0800), inner_v4()}));
    expect_inner_v4(s64);
    const Summary s48 = run(dlt::en10mb, cat({ether(0xd28b),
                                              {0x00, 0x01, 0x01, 0x20},
                                              Bytes(6, 0x33),
                                              be16(0x8100),
                                              {0x00, 0x05},
                                              be16(0x0800),
                                              inner_v4()}));
    expect_inner_v4(s48);
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0xd28b), {0x00, 0x02, 0x00, 0x10}, Bytes(20, 0)})).status, Status::non_ip);
}

TEST(Tunnel, Nsh) {
    // Version 0, length 6 words (MD type 1), next protocol 3 (Ethernet), SPI 0x00abcd, SI 255.
    const Bytes nsh = cat({{0x0f, 0xc6, 0x01, 0x03}, be32(0xabcdu << 8 | 0xff), Bytes(16, 0)});
    const Summary s = run(dlt::en10mb, cat({ether(0x894f), nsh, inner_frame(inner_v4())}));
    expect_inner_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::nsh);
    EXPECT_EQ(s.tunnel_id, 0xabcdu);
    // Next protocol 1: IPv4 at once; length 2 (MD type 2, no context).
    const Summary ip = run(dlt::en10mb, cat({ether(0x894f), {0x0f, 0xc2, 0x02, 0x01}, be32(0x100ff), inner_v4()}));
    expect_inner_v4(ip);
    // A length shorter than the fixed header.
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x894f), {0x0f, 0xc1, 0x02, 0x01}, be32(1), inner_v4()})).status,
              Status::malformed);
}

TEST(Tunnel, NestedKeepsOutermost) {
    // VXLAN (VNI 10) over IPv4, carrying GTP-U (TEID 20) over IPv6.
    const Bytes gtp_packet = cat({udp(2152, 2152, 8 + 40), gtp(20, inner_v4())});
    const Bytes inner = cat({ether(0x86dd), ipv6(kUdp, 7, gtp_packet.size()), gtp_packet});
    const Summary s = run(dlt::en10mb, over_udp(4789, cat({vxlan(10), inner})));
    expect_inner_v4(s);
    expect_outer_v4(s);
    EXPECT_EQ(s.tunnel, Tunnel::vxlan);
    EXPECT_EQ(s.tunnel_id, 10u);
    EXPECT_EQ(s.tunnel_layers, 2);
}

// n tunnels of IP in IP around the inner packet.
Bytes ipip_nest(unsigned n) {
    Bytes p = inner_v4();
    for (unsigned i = 0; i < n; ++i) p = cat({ipv4(4, static_cast<std::uint8_t>(100 + 2 * i), p.size()), p});
    return cat({ether(0x0800), p});
}

TEST(Tunnel, DepthLimit) {
    for (unsigned n = 1; n <= kMaxTunnelLayers; ++n) {
        const Summary s = run(dlt::en10mb, ipip_nest(n));
        expect_inner_v4(s);
        EXPECT_EQ(s.tunnel_layers, n);
    }
    const Summary deep = run(dlt::en10mb, ipip_nest(kMaxTunnelLayers + 1));
    EXPECT_EQ(deep.status, Status::too_deep);
    EXPECT_EQ(deep.tunnel_layers, kMaxTunnelLayers);
    EXPECT_EQ(deep.network, Network::ipv4);  // the last header decoded
    EXPECT_EQ(deep.ip_proto, 4);
    EXPECT_EQ(deep.outer_src, *parse_address("10.0.0.108"));  // the outermost (last wrapped)
    // NSH naming NSH forever ends at the limit too.
    Bytes loop = ether(0x894f);
    for (int i = 0; i < 10; ++i) {
        const Bytes nsh = cat({{0x0f, 0xc2, 0x02, 0x04}, be32(1)});
        loop.insert(loop.end(), nsh.begin(), nsh.end());
    }
    EXPECT_EQ(run(dlt::en10mb, loop).status, Status::too_deep);
}

// ---- every cut of every sample; mutations ----

struct Sample {
    const char* name;
    Bytes frame;
    Tunnel tunnel;
};

std::vector<Sample> samples() {
    const Bytes v4 = inner_v4();
    return {
        {"gtp", over_udp(2152, gtp(1, v4)), Tunnel::gtp},
        {"gtp ext", over_udp(2152, gtp(1, v4, {0, 1, 0, 0x85, 0x01, 0x10, 0x05, 0x00})), Tunnel::gtp},
        {"vxlan", over_udp(4789, cat({vxlan(2), inner_frame(v4)})), Tunnel::vxlan},
        {"geneve", over_udp(6081, cat({geneve(3, 0x6558, Bytes(4, 0)), inner_frame(v4)})), Tunnel::geneve},
        {"gre key seq", over_ip(47, cat({{0x30, 0x00, 0x08, 0x00}, be32(4), be32(5), v4})), Tunnel::gre},
        {"gretap", over_ip(47, cat({{0x00, 0x00, 0x65, 0x58}, inner_frame(v4)})), Tunnel::gre},
        {"erspan 2",
         over_ip(47, cat({{0x10, 0x00, 0x88, 0xbe}, be32(1), {0x10, 0x05, 0x02, 0xaa, 0, 0, 0, 0}, inner_frame(v4)})),
         Tunnel::erspan},
        {"erspan 3",
         over_ip(47, cat({{0x10, 0x00, 0x22, 0xeb},
                          be32(1),
                          {0x20, 0, 0, 3},
                          be32(0),
                          {0, 0, 0, 1},
                          Bytes(8, 0),
                          inner_frame(v4)})),
         Tunnel::erspan},
        {"mpls", cat({ether(0x8847), mpls(1, false), mpls(2, true), v4}), Tunnel::mpls},
        {"mpls udp", over_udp(6635, cat({mpls(1, true), v4})), Tunnel::mpls},
        {"pppoe", cat({ether(0x8864), {0x11, 0, 0, 1}, be16(static_cast<unsigned>(v4.size() + 2)), {0x00, 0x21}, v4}),
         Tunnel::pppoe},
        {"ipip", over_ip(4, v4), Tunnel::ipip},
        {"6in4", over_ip(41, inner_v6()), Tunnel::ipip},
        {"nsh", cat({ether(0x894f), {0x0f, 0xc2, 0x02, 0x01}, be32(0x100ff), v4}), Tunnel::nsh},
        {"macsec", cat({ether(0x88e5), {0x20, 0x00}, be32(1), Bytes(8, 0x5c), be16(0x0800), v4}), Tunnel::none},
        {"arista", cat({ether(0xd28b), {0x00, 0x01, 0x00, 0x10}, Bytes(8, 0x33), be16(0x0800), v4}), Tunnel::none},
        {"nested", over_udp(4789, cat({vxlan(10), over_ip(4, v4)})), Tunnel::vxlan},
    };
}

void check_invariants(const Summary& s) {
    EXPECT_LE(s.tunnel_layers, kMaxTunnelLayers);
    EXPECT_LE(static_cast<unsigned>(s.tunnel), kMaxTunnelKind);
    EXPECT_EQ(s.tunnel == Tunnel::none, s.tunnel_layers == 0);
    if (s.tunnel == Tunnel::none) {
        EXPECT_EQ(s.outer_network, Network::none);
        EXPECT_FALSE(s.has_tunnel_id);
    }
    if (s.outer_network == Network::none) {
        EXPECT_EQ(s.outer_src, Address{});
        EXPECT_EQ(s.outer_dst, Address{});
    } else {
        EXPECT_EQ(s.outer_src.is_v4(), s.outer_network == Network::ipv4);
    }
    if (s.has_ports) {
        EXPECT_TRUE(s.status == Status::ok || s.status == Status::too_deep);
    }
    if (s.network == Network::none && !s.arp) {
        EXPECT_EQ(s.src, Address{});
        EXPECT_NE(s.status, Status::ok);
    }
    if (s.network == Network::ipv4) {
        EXPECT_EQ(s.ethertype, 0x0800);
    }
    if (s.network == Network::ipv6) {
        EXPECT_EQ(s.ethertype, 0x86dd);
    }
}

TEST(TunnelCut, EveryOffset) {
    for (const auto& sample : samples()) {
        SCOPED_TRACE(sample.name);
        const Summary full = run(dlt::en10mb, sample.frame);
        ASSERT_EQ(full.status, Status::ok);
        ASSERT_EQ(full.tunnel, sample.tunnel);
        ASSERT_NE(full.network, Network::none);
        check_invariants(full);
        for (std::size_t len = 0; len < sample.frame.size(); ++len) {
            const Bytes cut(sample.frame.begin(), sample.frame.begin() + static_cast<std::ptrdiff_t>(len));
            const Summary s = run(dlt::en10mb, cut);
            SCOPED_TRACE(len);
            check_invariants(s);
            // The inner packet's ports are within its last 16 bytes: every
            // cut before them is short of something needed...
            if (len + 16 < sample.frame.size()) {
                EXPECT_NE(s.status, Status::ok);
            }
            // ...and what a cut frame shows agrees with the whole frame.
            // (A GRE header too short to name its protocol is GRE's.)
            if (s.tunnel != Tunnel::none && !(s.tunnel == Tunnel::gre && full.tunnel == Tunnel::erspan)) {
                EXPECT_EQ(s.tunnel, full.tunnel);
            }
            if (s.has_tunnel_id) {
                EXPECT_EQ(s.tunnel_id, full.tunnel_id);
            }
            if (s.outer_network != Network::none) {
                EXPECT_EQ(s.outer_src, full.outer_src);
                EXPECT_EQ(s.outer_dst, full.outer_dst);
            }
            if (s.network != Network::none && s.tunnel_layers == full.tunnel_layers) {
                EXPECT_EQ(s.src, full.src);
                EXPECT_EQ(s.dst, full.dst);
            }
            if (::testing::Test::HasFailure()) return;
        }
    }
}

TEST(TunnelRandom, MutatedSamples) {
    std::mt19937 rng(15);
    const auto all = samples();
    std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> flips(1, 4);
    std::uniform_int_distribution<int> coin(0, 3);
    int inside = 0;
    for (int i = 0; i < 100000; ++i) {
        Bytes frame = all[pick(rng)].frame;
        const int n = flips(rng);
        for (int f = 0; f < n; ++f) {
            std::uniform_int_distribution<std::size_t> at(0, frame.size() - 1);
            frame[at(rng)] = static_cast<std::uint8_t>(byte(rng));
        }
        if (coin(rng) == 0) {
            std::uniform_int_distribution<std::size_t> cut(0, frame.size());
            frame.resize(cut(rng));
        }
        const Summary s = run(dlt::en10mb, frame);
        check_invariants(s);
        if (s.tunnel != Tunnel::none && s.has_ports) ++inside;
        if (::testing::Test::HasFailure()) return;
    }
    EXPECT_GT(inside, 10000);  // the mutations do reach the inner transport header
}

}  // namespace
}  // namespace capdb
