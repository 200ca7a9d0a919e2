// decode(): frames are written out byte by byte below. Each header is a
// small function returning its bytes so a frame reads as a stack of headers.
#include "capdb/decode.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

// decode() must never allocate. Under AddressSanitizer the allocator's hooks
// count every allocation; without it the check is skipped.
#if defined(__SANITIZE_ADDRESS__)  // GCC
#define CAPDB_COUNT_ALLOCATIONS 1
#elif defined(__has_feature)  // Clang
#if __has_feature(address_sanitizer)
#define CAPDB_COUNT_ALLOCATIONS 1
#endif
#endif

#if defined(CAPDB_COUNT_ALLOCATIONS)
// From <sanitizer/allocator_interface.h>, which GCC does not install.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, std::size_t),
                                                         void (*free_hook)(const volatile void*));
namespace {
thread_local long g_allocations = 0;
void count_malloc(const volatile void*, std::size_t) { ++g_allocations; }
void ignore_free(const volatile void*) {}
}  // namespace
#endif

namespace capdb {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::uint8_t hi(unsigned v) { return static_cast<std::uint8_t>((v >> 8) & 0xff); }
std::uint8_t lo(unsigned v) { return static_cast<std::uint8_t>(v & 0xff); }

// Decodes a copy of the bytes in a buffer of exactly their size, so that
// AddressSanitizer reports any read past caplen.
Summary run(std::uint32_t linktype, const Bytes& frame) {
    const Bytes exact(frame.begin(), frame.end());
    return decode(linktype, std::span<const std::uint8_t>(exact.data(), exact.size()));
}

// ---- link-layer headers ----

Bytes ether(unsigned type) {
    return {0x00,     0x11,    0x22, 0x33, 0x44, 0x55,  // destination
            0x66,     0x77,    0x88, 0x99, 0xaa, 0xbb,  // source
            hi(type), lo(type)};
}
// One 802.1Q-style tag: TCI then the next EtherType.
Bytes tag(unsigned vlan_id, unsigned next_type) { return {hi(vlan_id), lo(vlan_id), hi(next_type), lo(next_type)}; }

Bytes sll(unsigned protocol) {
    return {0x00,         0x00,                                             // packet type: to us
            0x00,         0x01,                                             // ARPHRD_ETHER
            0x00,         0x06,                                             // address length
            0x66,         0x77,        0x88, 0x99, 0xaa, 0xbb, 0x00, 0x00,  // address, padded to 8
            hi(protocol), lo(protocol)};
}
Bytes sll2(unsigned protocol) {
    return {hi(protocol), lo(protocol), 0x00, 0x00,  // reserved
            0x00,         0x00,         0x00, 0x02,  // interface index
            0x00,         0x01,                      // ARPHRD_ETHER
            0x04,                                    // packet type: outgoing
            0x06,                                    // address length
            0x66,         0x77,         0x88, 0x99, 0xaa, 0xbb, 0x00, 0x00};
}
Bytes null_le(std::uint8_t af) { return {af, 0x00, 0x00, 0x00}; }
Bytes null_be(std::uint8_t af) { return {0x00, 0x00, 0x00, af}; }

// ---- network-layer headers ----

// 192.168.1.2 → 192.168.1.3 with the given protocol, total length and
// flags/fragment offset word; options (a multiple of 4 bytes) grow IHL.
Bytes ipv4(std::uint8_t proto, unsigned total_len, unsigned flags_offset = 0x4000, const Bytes& options = {}) {
    const auto ihl = static_cast<std::uint8_t>(5 + options.size() / 4);
    Bytes h{static_cast<std::uint8_t>(0x40 | ihl),
            0x00,
            hi(total_len),
            lo(total_len),
            0x12,
            0x34,  // identification
            hi(flags_offset),
            lo(flags_offset),
            0x40,
            proto,  // TTL, protocol
            0x00,
            0x00,  // checksum (not checked)
            192,
            168,
            1,
            2,
            192,
            168,
            1,
            3};
    // Appended one by one: a range insert here trips a false -Warray-bounds in GCC 12.
    for (std::uint8_t b : options) h.push_back(b);
    return h;
}

// 2001:db8::1 → 2001:db8::2.
Bytes ipv6(std::uint8_t next, unsigned payload_len) {
    return {0x60,
            0x00,
            0x00,
            0x00,
            hi(payload_len),
            lo(payload_len),
            next,
            0x40,
            0x20,
            0x01,
            0x0d,
            0xb8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0x01,
            0x20,
            0x01,
            0x0d,
            0xb8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0x02};
}

// IPv6 extension headers (8 bytes each unless noted).
Bytes hop_by_hop(std::uint8_t next) { return {next, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00}; }  // PadN
Bytes dest_opts(std::uint8_t next) { return {next, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00}; }
Bytes routing(std::uint8_t next) {  // 24 bytes: length field 2
    return {next, 0x02, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
}
Bytes fragment6(std::uint8_t next, unsigned offset_units, bool more) {
    const unsigned word = (offset_units << 3) | (more ? 1u : 0u);
    return {next, 0x00, hi(word), lo(word), 0xde, 0xad, 0xbe, 0xef};
}
Bytes auth_header(std::uint8_t next) {                       // 24 bytes: payload length 4 → (4 + 2) * 4
    return {next, 0x04, 0x00, 0x00, 0x00, 0x00, 0x10, 0x01,  // SPI
            0x00, 0x00, 0x00, 0x07,                          // sequence
            1,    2,    3,    4,    5,    6,    7,    8,    9, 10, 11, 12};  // ICV
}

// ---- transport headers ----

Bytes udp(unsigned sport, unsigned dport, unsigned length = 12) {
    return {hi(sport), lo(sport), hi(dport), lo(dport), hi(length), lo(length), 0x00, 0x00, 0xca, 0xfe, 0xba, 0xbe};
}
Bytes tcp(unsigned sport, unsigned dport) {
    return {hi(sport), lo(sport), hi(dport), lo(dport), 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,  // seq, ack
            0x50,      0x02,      0xff,      0xff,      0x00, 0x00, 0x00, 0x00};                         // SYN
}
Bytes sctp(unsigned sport, unsigned dport) {
    return {hi(sport), lo(sport), hi(dport), lo(dport), 0x11, 0x22, 0x33, 0x44, 0x00, 0x00, 0x00, 0x00};
}
Bytes dccp(unsigned sport, unsigned dport) {
    return {hi(sport), lo(sport), hi(dport), lo(dport), 0x04, 0x00, 0x00, 0x00,
            0x03,      0x00,      0x00,      0x01,      0x00, 0x00, 0x00, 0x02};
}
Bytes icmp_echo() { return {0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x01}; }
Bytes icmp6_echo() { return {0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}; }

Bytes arp_body() {
    return {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
            192,  168,  1,    2,    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192,  168,  1,    3};
}
// An 802.11 header (fc0: type and subtype, fc1: flags), with address 4
// when both ToDS and FromDS are set; fragment number 0.
Bytes wlan(std::uint8_t fc0, std::uint8_t fc1) {
    Bytes b = {fc0, fc1, 0x2c, 0x00};
    for (int i = 0; i < 18; ++i) b.push_back(static_cast<std::uint8_t>(0x10 + i));
    b.push_back(0x20);  // sequence control: fragment 0, sequence 2
    b.push_back(0x00);
    if ((fc1 & 3) == 3)
        for (int i = 0; i < 6; ++i) b.push_back(0x40);
    return b;
}
Bytes snap(std::uint16_t ethertype) { return {0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, hi(ethertype), lo(ethertype)}; }
// The smallest radiotap header: version 0, length 8, no fields.
Bytes radiotap_plain() { return {0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00}; }
// An NFLOG frame: header, a 4-byte prefix TLV, then the payload TLV, in
// either byte order.
Bytes nflog(std::uint8_t family, const Bytes& packet, bool big_endian) {
    auto u16 = [&](std::size_t v) {
        const auto h = static_cast<std::uint8_t>(v >> 8), l = static_cast<std::uint8_t>(v);
        return big_endian ? Bytes{h, l} : Bytes{l, h};
    };
    Bytes padding((4 - packet.size() % 4) % 4, 0);
    return cat(
        {{family, 0, 0, 1}, u16(8), u16(10), {'a', 'b', 'c', 0}, u16(4 + packet.size()), u16(9), packet, padding});
}

Bytes lldp_body() {
    return {0x02, 0x07, 0x04, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,  // chassis ID
            0x04, 0x03, 0x05, 0x31, 0x30,                          // port ID
            0x06, 0x02, 0x00, 0x78,                                // TTL
            0x00, 0x00};                                           // end
}

constexpr std::uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kDccp = 33, kIcmp6 = 58, kNoNext = 59, kSctp = 132,
                       kUdpLite = 136;

const Address kV4Src = *parse_address("192.168.1.2");
const Address kV4Dst = *parse_address("192.168.1.3");
const Address kV6Src = *parse_address("2001:db8::1");
const Address kV6Dst = *parse_address("2001:db8::2");

// The IPv6 chain used in several tests: hop-by-hop, routing, destination
// options, fragment (first, M set), UDP. 48 bytes of extension headers.
Bytes ipv6_chain_udp() {
    return cat(
        {ipv6(0, 48 + 12), hop_by_hop(43), routing(60), dest_opts(44), fragment6(kUdp, 0, true), udp(5353, 5353)});
}

bool carries_ports(std::uint8_t p) { return p == kTcp || p == kUdp || p == kSctp || p == kUdpLite || p == kDccp; }

// What must hold for any input.
void check_invariants(std::uint32_t linktype, const Summary& s, const std::string& what) {
    SCOPED_TRACE(what);
    if (!link_type_supported(linktype)) {
        EXPECT_EQ(s.status, Status::unsupported);
    } else {
        EXPECT_NE(s.status, Status::unsupported);
    }
    if (s.has_ports) {
        EXPECT_NE(s.network, Network::none);
        EXPECT_TRUE(carries_ports(s.ip_proto));
        EXPECT_TRUE(s.status == Status::ok || s.status == Status::too_deep);
    } else {
        EXPECT_EQ(s.src_port, 0);
        EXPECT_EQ(s.dst_port, 0);
    }
    if (s.fragment) {
        EXPECT_NE(s.network, Network::none);
    }
    if (s.arp) {  // ARP's own addresses: IPv4, on a non-IP row
        EXPECT_EQ(s.network, Network::none);
        EXPECT_EQ(s.status, Status::non_ip);
        EXPECT_TRUE(s.ethertype == 0x0806 || s.ethertype == 0x8035);
        EXPECT_TRUE(s.src.is_v4());
        EXPECT_TRUE(s.dst.is_v4());
    }
    switch (s.network) {
        case Network::none:
            if (!s.arp) {
                EXPECT_EQ(s.src, Address{});
                EXPECT_EQ(s.dst, Address{});
            }
            EXPECT_EQ(s.ip_proto, 0);
            EXPECT_NE(s.status, Status::ok);  // every supported link layer leads to IP or non_ip
            break;
        case Network::ipv4:
            EXPECT_EQ(s.ethertype, 0x0800);
            EXPECT_TRUE(s.src.is_v4());
            EXPECT_TRUE(s.dst.is_v4());
            EXPECT_NE(s.status, Status::non_ip);
            break;
        case Network::ipv6:
            EXPECT_EQ(s.ethertype, 0x86dd);
            EXPECT_NE(s.status, Status::non_ip);
            break;
    }
}

// ---- names ----

TEST(DecodeNames, LinkTypes) {
    EXPECT_EQ(link_type_name(dlt::en10mb), "EN10MB");
    EXPECT_EQ(link_type_name(dlt::raw), "RAW");
    EXPECT_EQ(link_type_name(dlt::raw_openbsd), "RAW");
    EXPECT_EQ(link_type_name(dlt::linktype_raw), "RAW");
    EXPECT_EQ(link_type_name(dlt::null), "NULL");
    EXPECT_EQ(link_type_name(dlt::loop), "LOOP");
    EXPECT_EQ(link_type_name(dlt::linux_sll), "LINUX_SLL");
    EXPECT_EQ(link_type_name(dlt::linux_sll2), "LINUX_SLL2");
    EXPECT_EQ(link_type_name(dlt::ipv4), "IPV4");
    EXPECT_EQ(link_type_name(dlt::ipv6), "IPV6");
    EXPECT_EQ(link_type_name(dlt::ppp), "PPP");
    EXPECT_EQ(link_type_name(dlt::ppp_serial), "PPP_SERIAL");
    EXPECT_EQ(link_type_name(dlt::c_hdlc), "C_HDLC");
    EXPECT_EQ(link_type_name(dlt::ieee802_11), "IEEE802_11");
    EXPECT_EQ(link_type_name(dlt::ieee802_11_radio), "IEEE802_11_RADIO");
    EXPECT_EQ(link_type_name(dlt::nflog), "NFLOG");
    EXPECT_EQ(link_type_name(195), "DLT 195");
    EXPECT_EQ(link_type_name(4294967295u), "DLT 4294967295");

    for (std::uint32_t t : {dlt::null, dlt::en10mb, dlt::raw, dlt::raw_openbsd, dlt::linktype_raw, dlt::loop,
                            dlt::linux_sll, dlt::ipv4, dlt::ipv6, dlt::linux_sll2, dlt::ppp, dlt::ppp_serial,
                            dlt::c_hdlc, dlt::ieee802_11, dlt::ieee802_11_radio, dlt::nflog}) {
        EXPECT_TRUE(link_type_supported(t)) << t;
    }
    // 802.15.4 (195), AVS and PPI radio headers (163, 192), USER0 (147), ...
    for (std::uint32_t t : {2u, 13u, 147u, 163u, 192u, 195u, 4294967295u}) EXPECT_FALSE(link_type_supported(t)) << t;
}

TEST(DecodeNames, Statuses) {
    EXPECT_STREQ(status_name(Status::ok), "ok");
    EXPECT_STREQ(status_name(Status::non_ip), "non_ip");
    EXPECT_STREQ(status_name(Status::truncated), "truncated");
    EXPECT_STREQ(status_name(Status::malformed), "malformed");
    EXPECT_STREQ(status_name(Status::unsupported), "unsupported");
    // Stored values are stable.
    EXPECT_EQ(static_cast<int>(Status::ok), 0);
    EXPECT_EQ(static_cast<int>(Status::unsupported), 4);
}

TEST(DecodeNames, EtherTypes) {
    EXPECT_EQ(ethertype_name(0x0806), "ARP");
    EXPECT_EQ(ethertype_name(0x8035), "RARP");
    EXPECT_EQ(ethertype_name(0x88cc), "LLDP");
    EXPECT_EQ(ethertype_name(0x0800), "IPv4");
    EXPECT_EQ(ethertype_name(0x86dd), "IPv6");
    EXPECT_EQ(ethertype_name(0x8100), "VLAN");
    EXPECT_EQ(ethertype_name(0x88a8), "802.1ad");
    EXPECT_EQ(ethertype_name(0x888e), "EAPOL");
    EXPECT_EQ(ethertype_name(0x8863), "PPPoE-D");
    EXPECT_EQ(ethertype_name(0x8864), "PPPoE-S");
    EXPECT_EQ(ethertype_name(0x8847), "MPLS");
    EXPECT_EQ(ethertype_name(0x9000), "Loopback");
    EXPECT_EQ(ethertype_name(0), "LLC");
    EXPECT_EQ(ethertype_name(0x88b5), "ethertype 0x88b5");
    EXPECT_EQ(ethertype_name(0x0004), "ethertype 0x0004");
    EXPECT_EQ(ethertype_name(0xffff), "ethertype 0xffff");
}

// ---- Ethernet ----

TEST(DecodeEthernet, Ipv4Udp) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32), udp(1234, 53)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.network, Network::ipv4);
    EXPECT_EQ(s.ethertype, 0x0800);
    EXPECT_EQ(s.ip_proto, kUdp);
    EXPECT_TRUE(s.has_ports);
    EXPECT_FALSE(s.fragment);
    EXPECT_EQ(s.src_port, 1234);
    EXPECT_EQ(s.dst_port, 53);
    EXPECT_EQ(s.src, kV4Src);
    EXPECT_EQ(s.dst, kV4Dst);
    EXPECT_EQ(s.src.to_string(), "192.168.1.2");
}

TEST(DecodeEthernet, OneTag) {
    const Summary s = run(dlt::en10mb, cat({ether(0x8100), tag(100, 0x0800), ipv4(kTcp, 40), tcp(50000, 80)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ethertype, 0x0800);
    EXPECT_EQ(s.ip_proto, kTcp);
    EXPECT_EQ(s.src_port, 50000);
    EXPECT_EQ(s.dst_port, 80);
}

TEST(DecodeEthernet, TwoTags) {
    const Summary s =
        run(dlt::en10mb, cat({ether(0x88a8), tag(10, 0x8100), tag(20, 0x86dd), ipv6(kUdp, 12), udp(546, 547)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.network, Network::ipv6);
    EXPECT_EQ(s.ethertype, 0x86dd);
    EXPECT_EQ(s.src, kV6Src);
    EXPECT_EQ(s.dst, kV6Dst);
    EXPECT_EQ(s.src_port, 546);
    EXPECT_EQ(s.dst_port, 547);
}

TEST(DecodeEthernet, ThreeTags) {
    const Summary s =
        run(dlt::en10mb,
            cat({ether(0x9100), tag(1, 0x88a8), tag(2, 0x8100), tag(3, 0x0800), ipv4(kIcmp, 28), icmp_echo()}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.network, Network::ipv4);
    EXPECT_EQ(s.ethertype, 0x0800);
    EXPECT_EQ(s.ip_proto, kIcmp);
    EXPECT_FALSE(s.has_ports);
}

TEST(DecodeEthernet, Arp) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0806), arp_body()}));
    EXPECT_EQ(s.status, Status::non_ip);
    EXPECT_EQ(s.network, Network::none);
    EXPECT_EQ(s.ethertype, 0x0806);
    EXPECT_EQ(ethertype_name(s.ethertype), "ARP");
}

TEST(DecodeEthernet, TaggedArp) {
    const Summary s = run(dlt::en10mb, cat({ether(0x8100), tag(7, 0x0806), arp_body()}));
    EXPECT_EQ(s.status, Status::non_ip);
    EXPECT_EQ(s.ethertype, 0x0806);
    EXPECT_TRUE(s.arp);
    EXPECT_EQ(s.src.to_string(), "192.168.1.2");
}

// ARP's sender and target protocol addresses become src and dst (the row
// stays non-IP); RARP too. An ARP for another protocol, or with other
// address lengths, or cut short, keeps none.
TEST(DecodeEthernet, ArpAddresses) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0806), arp_body()}));
    EXPECT_TRUE(s.arp);
    EXPECT_EQ(s.src.to_string(), "192.168.1.2");
    EXPECT_EQ(s.dst.to_string(), "192.168.1.3");
    EXPECT_TRUE(run(dlt::en10mb, cat({ether(0x8035), arp_body()})).arp);
    EXPECT_TRUE(run(dlt::linux_sll, cat({sll(0x0806), arp_body()})).arp);

    Bytes other_protocol = arp_body();
    other_protocol[2] = 0x86;  // ptype 0x86dd
    other_protocol[3] = 0xdd;
    Bytes long_addresses = arp_body();
    long_addresses[5] = 16;  // plen 16
    Bytes token_ring = arp_body();
    token_ring[1] = 6;  // htype 6
    Bytes cut = arp_body();
    cut.pop_back();
    for (const Bytes& body : {other_protocol, long_addresses, token_ring, cut}) {
        const Summary o = run(dlt::en10mb, cat({ether(0x0806), body}));
        EXPECT_EQ(o.status, Status::non_ip);
        EXPECT_EQ(o.ethertype, 0x0806);
        EXPECT_FALSE(o.arp);
        EXPECT_EQ(o.src, Address{});
        EXPECT_EQ(o.dst, Address{});
    }
}

// 802.11: radiotap's data-pad flag (after a TSFT field) pads the header
// to 4 bytes; the first A-MSDU subframe's header is skipped; a later
// fragment and a null frame are non-IP.
TEST(DecodeWlan, PaddingAmsduFragments) {
    // QoS data (26 bytes) padded to 28 under a radiotap header with TSFT
    // (at offset 8) and flags 0x20.
    Bytes rt = {0x00, 0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00};
    rt.insert(rt.end(), 8, 0x11);       // TSFT
    rt.insert(rt.end(), {0x20, 0x00});  // flags: data pad; padding
    const Bytes padded = cat({rt, wlan(0x88, 0x01), {0x00, 0x00, 0xee, 0xee}, snap(0x0800), ipv4(kUdp, 32), udp(7, 9)});
    const Summary s = run(dlt::ieee802_11_radio, padded);
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.dst_port, 9);
    const Summary amsdu =
        run(dlt::ieee802_11,
            cat({wlan(0x88, 0x01), {0x80, 0x00}, Bytes(14, 0x33), snap(0x86dd), ipv6(kUdp, 12), udp(3, 4)}));
    EXPECT_EQ(amsdu.status, Status::ok);
    EXPECT_EQ(amsdu.network, Network::ipv6);
    EXPECT_EQ(amsdu.src_port, 3);
    Bytes fragment = cat({wlan(0x08, 0x01), snap(0x0800), ipv4(kUdp, 32), udp(1, 2)});
    fragment[22] = 0x21;  // fragment number 1
    EXPECT_EQ(run(dlt::ieee802_11, fragment).status, Status::non_ip);
    EXPECT_EQ(run(dlt::ieee802_11, cat({wlan(0x48, 0x01)})).status, Status::non_ip);
    // Not SNAP: LLC alone (spanning tree) is non-IP.
    EXPECT_EQ(run(dlt::ieee802_11, cat({wlan(0x08, 0x01), {0x42, 0x42, 0x03, 0, 0}})).status, Status::non_ip);
    // A radiotap header of another version, or shorter than its fixed part.
    EXPECT_EQ(run(dlt::ieee802_11_radio, cat({{0x01, 0x00, 0x08, 0x00, 0, 0, 0, 0}, wlan(0x08, 0x01)})).status,
              Status::malformed);
    EXPECT_EQ(run(dlt::ieee802_11_radio, cat({{0x00, 0x00, 0x04, 0x00, 0, 0, 0, 0}, wlan(0x08, 0x01)})).status,
              Status::malformed);
}

// PPP over serial: an address other than PPP's or Cisco's is malformed;
// NFLOG without a payload TLV in the captured bytes is truncated.
TEST(DecodeSerial, MalformedFraming) {
    EXPECT_EQ(run(dlt::ppp_serial, {0x42, 0x03, 0x00, 0x21}).status, Status::malformed);
    EXPECT_EQ(run(dlt::ppp, {0xff, 0x07, 0x00, 0x21}).status, Status::malformed);
    EXPECT_EQ(run(dlt::nflog, {2, 0, 0, 1, 8, 0, 10, 0, 'a', 'b', 'c', 0}).status, Status::truncated);
    EXPECT_EQ(run(dlt::nflog, {2, 0, 0, 1, 2, 0, 10, 0}).status, Status::malformed);
    const Summary other_family = run(dlt::nflog, nflog(7, Bytes(20, 0x45), false));
    EXPECT_EQ(other_family.status, Status::non_ip);
}

TEST(DecodeEthernet, Lldp) {
    const Summary s = run(dlt::en10mb, cat({ether(0x88cc), lldp_body()}));
    EXPECT_EQ(s.status, Status::non_ip);
    EXPECT_EQ(s.ethertype, 0x88cc);
    EXPECT_EQ(ethertype_name(s.ethertype), "LLDP");
}

TEST(DecodeEthernet, Ieee8023LengthIsLlc) {
    // Spanning tree: 802.3 length 0x0026, LLC 42 42 03.
    const Summary s = run(dlt::en10mb, cat({ether(0x0026), {0x42, 0x42, 0x03, 0x00, 0x00, 0x00}}));
    EXPECT_EQ(s.status, Status::non_ip);
    EXPECT_EQ(s.network, Network::none);
    EXPECT_EQ(s.ethertype, 0);
    EXPECT_EQ(ethertype_name(s.ethertype), "LLC");
    EXPECT_EQ(run(dlt::en10mb, ether(1500)).ethertype, 0);
    EXPECT_EQ(run(dlt::en10mb, ether(1536)).ethertype, 0x0600);
}

TEST(DecodeEthernet, EthernetPaddingIsNotReadAsHeaders) {
    // IPv4 total length 20 + 2: the UDP header is cut by the datagram's own
    // length even though padding follows in the frame.
    Bytes frame = cat({ether(0x0800), ipv4(kUdp, 22), {0x04, 0xd2}});
    frame.resize(60, 0x00);
    const Summary s = run(dlt::en10mb, frame);
    EXPECT_EQ(s.status, Status::truncated);
    EXPECT_EQ(s.network, Network::ipv4);
    EXPECT_EQ(s.src, kV4Src);
    EXPECT_FALSE(s.has_ports);

    // A short datagram padded to 60 bytes decodes normally.
    Bytes padded = cat({ether(0x0800), ipv4(kUdp, 28), udp(7, 9, 8)});
    padded.resize(60, 0x00);
    const Summary p = run(dlt::en10mb, padded);
    EXPECT_EQ(p.status, Status::ok);
    EXPECT_EQ(p.src_port, 7);
}

// ---- IPv4 ----

TEST(DecodeIpv4, OptionsAreSkipped) {
    const Bytes router_alert{0x94, 0x04, 0x00, 0x00};
    const Bytes nops_and_eol{0x01, 0x01, 0x01, 0x00, 0x01, 0x01, 0x01, 0x00};
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 24 + 12, 0, router_alert), udp(5000, 6000)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.src_port, 5000);
    EXPECT_EQ(s.dst_port, 6000);
    const Summary t = run(dlt::en10mb, cat({ether(0x0800), ipv4(kTcp, 28 + 20, 0, nops_and_eol), tcp(22, 40000)}));
    EXPECT_EQ(t.status, Status::ok);
    EXPECT_EQ(t.src_port, 22);
    EXPECT_EQ(t.dst_port, 40000);
    // The largest header: IHL 15, 40 bytes of options.
    const Summary m = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 60 + 12, 0, Bytes(40, 0x01)), udp(1, 2)}));
    EXPECT_EQ(m.status, Status::ok);
    EXPECT_EQ(m.src_port, 1);
}

TEST(DecodeIpv4, FirstFragmentHasPorts) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32, 0x2000), udp(4000, 4001, 3000)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_TRUE(s.fragment);
    EXPECT_TRUE(s.has_ports);
    EXPECT_EQ(s.src_port, 4000);
}

TEST(DecodeIpv4, LaterFragmentsHaveNoPorts) {
    // Offset 185 * 8 = 1480, MF set (middle) and clear (last).
    for (unsigned flags_offset : {0x2000u | 185u, 185u, 0x1fffu}) {
        const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32, flags_offset), udp(4000, 4001)}));
        EXPECT_EQ(s.status, Status::ok) << flags_offset;
        EXPECT_TRUE(s.fragment);
        EXPECT_FALSE(s.has_ports);
        EXPECT_EQ(s.ip_proto, kUdp);
        EXPECT_EQ(s.src, kV4Src);
        EXPECT_EQ(s.dst, kV4Dst);
    }
    // A later fragment needs no transport bytes at all.
    const Summary bare = run(dlt::en10mb, cat({ether(0x0800), ipv4(kTcp, 20, 100)}));
    EXPECT_EQ(bare.status, Status::ok);
    EXPECT_TRUE(bare.fragment);
}

TEST(DecodeIpv4, DontFragmentIsNotAFragment) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32, 0x4000), udp(1, 2)}));
    EXPECT_FALSE(s.fragment);
    const Summary t = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32, 0x0000), udp(1, 2)}));
    EXPECT_FALSE(t.fragment);
}

TEST(DecodeIpv4, TransportProtocols) {
    struct Case {
        std::uint8_t proto;
        Bytes transport;
        bool ports;
    };
    const Case cases[] = {
        {kTcp, tcp(443, 51000), true},
        {kUdp, udp(443, 51000), true},
        {kSctp, sctp(443, 51000), true},
        {kUdpLite, udp(443, 51000), true},
        {kDccp, dccp(443, 51000), true},
        {kIcmp, icmp_echo(), false},
        {2, {0x11, 0x64, 0xee, 0x9b, 224, 0, 0, 1}, false},             // IGMP
        {89, {0x02, 0x01, 0x00, 0x2c, 1, 1, 1, 1}, false},              // OSPF (GRE: tunnel_test.cc)
        {50, {0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01}, false},  // ESP
    };
    for (const auto& c : cases) {
        const auto total = static_cast<unsigned>(20 + c.transport.size());
        const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(c.proto, total), c.transport}));
        EXPECT_EQ(s.status, Status::ok) << int{c.proto};
        EXPECT_EQ(s.ip_proto, c.proto);
        EXPECT_EQ(s.has_ports, c.ports) << int{c.proto};
        if (c.ports) {
            EXPECT_EQ(s.src_port, 443);
            EXPECT_EQ(s.dst_port, 51000);
        }
    }
}

TEST(DecodeIpv4, Malformed) {
    // IHL below 5.
    for (std::uint8_t first : {std::uint8_t{0x40}, std::uint8_t{0x41}, std::uint8_t{0x44}}) {
        Bytes ip = ipv4(kUdp, 32);
        ip[0] = first;
        const Summary s = run(dlt::en10mb, cat({ether(0x0800), ip, udp(1, 2)}));
        EXPECT_EQ(s.status, Status::malformed) << int{first};
        EXPECT_EQ(s.network, Network::none);
    }
    // Wrong version for the EtherType.
    for (std::uint8_t first : {std::uint8_t{0x65}, std::uint8_t{0x05}, std::uint8_t{0x55}, std::uint8_t{0xf5}}) {
        Bytes ip = ipv4(kUdp, 32);
        ip[0] = first;
        const Summary s = run(dlt::en10mb, cat({ether(0x0800), ip, udp(1, 2)}));
        EXPECT_EQ(s.status, Status::malformed) << int{first};
        EXPECT_EQ(s.network, Network::none);
        EXPECT_EQ(s.ethertype, 0x0800);
    }
    // An IPv6 packet under EtherType IPv4 and the reverse.
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x0800), ipv6(kUdp, 12), udp(1, 2)})).status, Status::malformed);
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x86dd), ipv4(kUdp, 32), udp(1, 2)})).status, Status::malformed);
    // Even one byte is enough to see the version is wrong.
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x0800), {0x60}})).status, Status::malformed);
}

TEST(DecodeIpv4, TotalLengthBelowHeaderLengthKeepsAddresses) {
    for (unsigned total : {0u, 19u}) {
        const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, total), udp(1, 2)}));
        EXPECT_EQ(s.status, Status::malformed) << total;
        EXPECT_EQ(s.network, Network::ipv4);
        EXPECT_EQ(s.src, kV4Src);
        EXPECT_EQ(s.dst, kV4Dst);
        EXPECT_FALSE(s.has_ports);
    }
    const Bytes option{0x94, 0x04, 0x00, 0x00};
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 20, 0, option), udp(1, 2)}));
    EXPECT_EQ(s.status, Status::malformed);
}

TEST(DecodeIpv4, TruncatedPortsKeepAddresses) {
    const Summary s = run(dlt::en10mb, cat({ether(0x0800), ipv4(kTcp, 40), {0x01, 0xbb, 0xc3}}));
    EXPECT_EQ(s.status, Status::truncated);
    EXPECT_EQ(s.network, Network::ipv4);
    EXPECT_EQ(s.ip_proto, kTcp);
    EXPECT_EQ(s.src, kV4Src);
    EXPECT_EQ(s.dst, kV4Dst);
    EXPECT_FALSE(s.has_ports);
    EXPECT_EQ(s.src_port, 0);
}

TEST(DecodeIpv4, TruncatedOptionsKeepAddresses) {
    const Bytes frame = cat({ether(0x0800), ipv4(kUdp, 36, 0, Bytes(8, 0x01)), udp(1, 2)});
    // Cut after the fixed header and 5 of the 8 option bytes.
    const Summary cut = run(dlt::en10mb, Bytes(frame.begin(), frame.begin() + 14 + 20 + 5));
    EXPECT_EQ(cut.status, Status::truncated);
    EXPECT_EQ(cut.network, Network::ipv4);
    EXPECT_EQ(cut.ip_proto, kUdp);
    EXPECT_EQ(cut.src, kV4Src);
    EXPECT_EQ(cut.dst, kV4Dst);
    EXPECT_FALSE(cut.has_ports);
}

// ---- IPv6 ----

TEST(DecodeIpv6, Plain) {
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kTcp, 20), tcp(40000, 443)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.network, Network::ipv6);
    EXPECT_EQ(s.ip_proto, kTcp);
    EXPECT_EQ(s.src, kV6Src);
    EXPECT_EQ(s.dst, kV6Dst);
    EXPECT_EQ(s.src.to_string(), "2001:db8::1");
    EXPECT_EQ(s.src_port, 40000);
    EXPECT_EQ(s.dst_port, 443);
}

TEST(DecodeIpv6, ExtensionHeaderChain) {
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6_chain_udp()}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ip_proto, kUdp);
    EXPECT_TRUE(s.fragment);
    EXPECT_TRUE(s.has_ports);
    EXPECT_EQ(s.src_port, 5353);
    EXPECT_EQ(s.dst_port, 5353);
}

TEST(DecodeIpv6, EachExtensionHeaderAlone) {
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x86dd), ipv6(0, 28), hop_by_hop(kTcp), tcp(1, 2)})).src_port, 1);
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x86dd), ipv6(43, 44), routing(kTcp), tcp(3, 2)})).src_port, 3);
    EXPECT_EQ(run(dlt::en10mb, cat({ether(0x86dd), ipv6(60, 28), dest_opts(kTcp), tcp(5, 2)})).src_port, 5);
    const Summary ah = run(dlt::en10mb, cat({ether(0x86dd), ipv6(51, 44), auth_header(kTcp), tcp(7, 8)}));
    EXPECT_EQ(ah.status, Status::ok);
    EXPECT_EQ(ah.ip_proto, kTcp);
    EXPECT_EQ(ah.src_port, 7);
    EXPECT_EQ(ah.dst_port, 8);
}

TEST(DecodeIpv6, AuthHeaderUsesFourByteUnits) {
    // AH then destination options then UDP: a wrong AH size would land the
    // walk in the middle of the ICV.
    const Summary s =
        run(dlt::en10mb, cat({ether(0x86dd), ipv6(51, 24 + 8 + 12), auth_header(60), dest_opts(kUdp), udp(500, 4500)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ip_proto, kUdp);
    EXPECT_EQ(s.src_port, 500);
    EXPECT_EQ(s.dst_port, 4500);
}

TEST(DecodeIpv6, LaterFragment) {
    const Summary s = run(
        dlt::en10mb, cat({ether(0x86dd), ipv6(0, 8 + 8 + 12), hop_by_hop(44), fragment6(kUdp, 181, true), udp(1, 2)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_TRUE(s.fragment);
    EXPECT_FALSE(s.has_ports);
    EXPECT_EQ(s.ip_proto, kUdp);
    EXPECT_EQ(s.src, kV6Src);
    // Last fragment (M clear), nothing after the fragment header.
    const Summary last = run(dlt::en10mb, cat({ether(0x86dd), ipv6(44, 8), fragment6(kTcp, 3, false)}));
    EXPECT_EQ(last.status, Status::ok);
    EXPECT_TRUE(last.fragment);
    EXPECT_EQ(last.ip_proto, kTcp);
}

TEST(DecodeIpv6, AtomicFragmentIsWhole) {
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(44, 8 + 12), fragment6(kUdp, 0, false), udp(9, 10)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_FALSE(s.fragment);
    EXPECT_TRUE(s.has_ports);
    EXPECT_EQ(s.src_port, 9);
}

TEST(DecodeIpv6, NoNextHeader) {
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kNoNext, 0)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ip_proto, kNoNext);
    EXPECT_FALSE(s.has_ports);
    const Summary t = run(dlt::en10mb, cat({ether(0x86dd), ipv6(60, 8), dest_opts(kNoNext)}));
    EXPECT_EQ(t.status, Status::ok);
    EXPECT_EQ(t.ip_proto, kNoNext);
}

TEST(DecodeIpv6, Icmp6) {
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kIcmp6, 8), icmp6_echo()}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ip_proto, kIcmp6);
    EXPECT_FALSE(s.has_ports);
    // MLD behind hop-by-hop (router alert), as hosts send it.
    const Summary mld = run(dlt::en10mb, cat({ether(0x86dd), ipv6(0, 8 + 8), hop_by_hop(kIcmp6), icmp6_echo()}));
    EXPECT_EQ(mld.status, Status::ok);
    EXPECT_EQ(mld.ip_proto, kIcmp6);
}

TEST(DecodeIpv6, SctpAndDccp) {
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kSctp, 12), sctp(36412, 36412)}));
    EXPECT_EQ(s.ip_proto, kSctp);
    EXPECT_EQ(s.src_port, 36412);
    const Summary d = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kDccp, 16), dccp(5004, 5005)}));
    EXPECT_EQ(d.dst_port, 5005);
    const Summary u = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kUdpLite, 12), udp(5, 6)}));
    EXPECT_EQ(u.src_port, 5);
}

TEST(DecodeIpv6, ExtensionHeaderOverrunIsTruncated) {
    // The routing header says 24 bytes; only 16 follow.
    Bytes r = routing(kTcp);
    r.resize(16);
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(43, 16), r}));
    EXPECT_EQ(s.status, Status::truncated);
    EXPECT_EQ(s.network, Network::ipv6);
    EXPECT_EQ(s.src, kV6Src);
    // Also when more bytes are captured but the payload length ends first.
    const Summary p = run(dlt::en10mb, cat({ether(0x86dd), ipv6(43, 16), routing(kTcp), tcp(1, 2)}));
    EXPECT_EQ(p.status, Status::truncated);
    EXPECT_FALSE(p.has_ports);
    // A huge length field.
    const Summary h = run(dlt::en10mb, cat({ether(0x86dd), ipv6(60, 8), {kTcp, 0xff, 0, 0, 0, 0, 0, 0}}));
    EXPECT_EQ(h.status, Status::truncated);
}

TEST(DecodeIpv6, ZeroPayloadLength) {
    // Without a hop-by-hop header, 0 means an empty payload (tcpdump: [|tcp]).
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ipv6(kTcp, 0), tcp(80, 1024)}));
    EXPECT_EQ(s.status, Status::truncated);
    EXPECT_EQ(s.network, Network::ipv6);
    EXPECT_EQ(s.src, kV6Src);
    EXPECT_EQ(s.ip_proto, kTcp);
    EXPECT_FALSE(s.has_ports);
    // A jumbogram: hop-by-hop with the Jumbo Payload option; the capture decides.
    const Bytes jumbo_option{kTcp, 0x00, 0xc2, 0x04, 0x00, 0x01, 0x00, 0x00};
    const Summary j = run(dlt::en10mb, cat({ether(0x86dd), ipv6(0, 0), jumbo_option, tcp(80, 1024)}));
    EXPECT_EQ(j.status, Status::ok);
    EXPECT_EQ(j.ip_proto, kTcp);
    EXPECT_EQ(j.src_port, 80);
    EXPECT_EQ(j.dst_port, 1024);
}

TEST(DecodeIpv6, CutExtensionHeaderKeepsTheNextHeaderItNames) {
    const Bytes frame = cat({ether(0x86dd), ipv6(0, 8 + 24 + 20), hop_by_hop(43), routing(kTcp), tcp(1, 2)});
    // Cut after the routing header's next-header and length bytes.
    const Summary s = run(dlt::en10mb, Bytes(frame.begin(), frame.begin() + 14 + 40 + 8 + 2));
    EXPECT_EQ(s.status, Status::truncated);
    EXPECT_EQ(s.network, Network::ipv6);
    EXPECT_EQ(s.ip_proto, kTcp);
    // One byte of it is not enough: the routing header itself is named.
    for (std::ptrdiff_t extra : {0, 1}) {
        const Summary t = run(dlt::en10mb, Bytes(frame.begin(), frame.begin() + 14 + 40 + 8 + extra));
        EXPECT_EQ(t.status, Status::truncated);
        EXPECT_EQ(t.ip_proto, 43);
    }
    // A fragment header counts only when all 8 bytes are there.
    const Bytes frag = cat({ether(0x86dd), ipv6(44, 8 + 12), fragment6(kUdp, 0, true), udp(1, 2)});
    const Summary f = run(dlt::en10mb, Bytes(frag.begin(), frag.begin() + 14 + 40 + 7));
    EXPECT_EQ(f.status, Status::truncated);
    EXPECT_EQ(f.ip_proto, 44);
    EXPECT_FALSE(f.fragment);
    const Summary g = run(dlt::en10mb, Bytes(frag.begin(), frag.begin() + 14 + 40 + 8));
    EXPECT_EQ(g.status, Status::truncated);
    EXPECT_EQ(g.ip_proto, kUdp);
    EXPECT_TRUE(g.fragment);
}

TEST(DecodeIpv6, WrongVersion) {
    Bytes ip = ipv6(kUdp, 12);
    ip[0] = 0x70;
    const Summary s = run(dlt::en10mb, cat({ether(0x86dd), ip, udp(1, 2)}));
    EXPECT_EQ(s.status, Status::malformed);
    EXPECT_EQ(s.network, Network::none);
    EXPECT_EQ(s.ethertype, 0x86dd);
}

// ---- other link types ----

TEST(DecodeLinux, Sll) {
    const Summary s = run(dlt::linux_sll, cat({sll(0x0800), ipv4(kUdp, 32), udp(68, 67)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ethertype, 0x0800);
    EXPECT_EQ(s.src_port, 68);
    EXPECT_EQ(run(dlt::linux_sll, cat({sll(0x86dd), ipv6(kUdp, 12), udp(1, 2)})).network, Network::ipv6);
    const Summary arp = run(dlt::linux_sll, cat({sll(0x0806), arp_body()}));
    EXPECT_EQ(arp.status, Status::non_ip);
    EXPECT_EQ(arp.ethertype, 0x0806);
    // Linux pseudo-protocols below 1536 (here ETH_P_802_2) are kept as is.
    const Summary llc = run(dlt::linux_sll, cat({sll(0x0004), {0x42, 0x42, 0x03}}));
    EXPECT_EQ(llc.status, Status::non_ip);
    EXPECT_EQ(llc.ethertype, 0x0004);
    // libpcap re-inserts stripped VLAN tags after the protocol field.
    const Summary tagged = run(dlt::linux_sll, cat({sll(0x8100), tag(5, 0x0800), ipv4(kTcp, 40), tcp(1, 2)}));
    EXPECT_EQ(tagged.status, Status::ok);
    EXPECT_EQ(tagged.ethertype, 0x0800);
    EXPECT_EQ(tagged.src_port, 1);
}

TEST(DecodeLinux, Sll2) {
    const Summary s = run(dlt::linux_sll2, cat({sll2(0x86dd), ipv6(kTcp, 20), tcp(443, 60000)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.network, Network::ipv6);
    EXPECT_EQ(s.ethertype, 0x86dd);
    EXPECT_EQ(s.src_port, 443);
    EXPECT_EQ(run(dlt::linux_sll2, cat({sll2(0x0800), ipv4(kIcmp, 28), icmp_echo()})).status, Status::ok);
    const Summary lldp = run(dlt::linux_sll2, cat({sll2(0x88cc), lldp_body()}));
    EXPECT_EQ(lldp.status, Status::non_ip);
    EXPECT_EQ(lldp.ethertype, 0x88cc);
}

TEST(DecodeRaw, AllRawLinkTypes) {
    for (std::uint32_t lt : {dlt::raw, dlt::raw_openbsd, dlt::linktype_raw}) {
        const Summary four = run(lt, cat({ipv4(kUdp, 32), udp(1, 2)}));
        EXPECT_EQ(four.status, Status::ok) << lt;
        EXPECT_EQ(four.network, Network::ipv4);
        EXPECT_EQ(four.ethertype, 0x0800);
        EXPECT_EQ(four.src_port, 1);
        const Summary six = run(lt, cat({ipv6(kTcp, 20), tcp(3, 4)}));
        EXPECT_EQ(six.status, Status::ok) << lt;
        EXPECT_EQ(six.network, Network::ipv6);
        EXPECT_EQ(six.ethertype, 0x86dd);
        EXPECT_EQ(six.dst_port, 4);
        const Summary bad = run(lt, {0x50, 0x00, 0x00, 0x14});
        EXPECT_EQ(bad.status, Status::malformed);
        EXPECT_EQ(bad.network, Network::none);
        EXPECT_EQ(bad.ethertype, 0);
        EXPECT_EQ(run(lt, {}).status, Status::truncated);
    }
}

TEST(DecodeRaw, Ipv4AndIpv6LinkTypes) {
    const Summary four = run(dlt::ipv4, cat({ipv4(kSctp, 32), sctp(9, 10)}));
    EXPECT_EQ(four.status, Status::ok);
    EXPECT_EQ(four.ethertype, 0x0800);
    EXPECT_EQ(four.src_port, 9);
    const Summary six = run(dlt::ipv6, cat({ipv6(kUdp, 12), udp(11, 12)}));
    EXPECT_EQ(six.status, Status::ok);
    EXPECT_EQ(six.ethertype, 0x86dd);
    EXPECT_EQ(six.src_port, 11);
    // The link type fixes the version.
    EXPECT_EQ(run(dlt::ipv4, cat({ipv6(kUdp, 12), udp(11, 12)})).status, Status::malformed);
    EXPECT_EQ(run(dlt::ipv6, cat({ipv4(kUdp, 32), udp(11, 12)})).status, Status::malformed);
    EXPECT_EQ(run(dlt::ipv4, {}).status, Status::truncated);
    EXPECT_EQ(run(dlt::ipv6, {}).status, Status::truncated);
}

TEST(DecodeNull, BothByteOrders) {
    for (const Bytes& header : {null_le(2), null_be(2)}) {
        const Summary s = run(dlt::null, cat({header, ipv4(kUdp, 32), udp(1, 2)}));
        EXPECT_EQ(s.status, Status::ok);
        EXPECT_EQ(s.network, Network::ipv4);
        EXPECT_EQ(s.ethertype, 0x0800);
        EXPECT_EQ(s.src_port, 1);
    }
    for (std::uint8_t af : {std::uint8_t{10}, std::uint8_t{24}, std::uint8_t{28}, std::uint8_t{30}}) {
        for (const Bytes& header : {null_le(af), null_be(af)}) {
            const Summary s = run(dlt::null, cat({header, ipv6(kTcp, 20), tcp(1, 2)}));
            EXPECT_EQ(s.status, Status::ok) << int{af};
            EXPECT_EQ(s.network, Network::ipv6);
            EXPECT_EQ(s.ethertype, 0x86dd);
        }
    }
    const Summary other = run(dlt::null, cat({null_le(7), {0x01, 0x02, 0x03, 0x04}}));
    EXPECT_EQ(other.status, Status::non_ip);
    EXPECT_EQ(other.network, Network::none);
    // The AF decides the version.
    EXPECT_EQ(run(dlt::null, cat({null_le(2), ipv6(kTcp, 20), tcp(1, 2)})).status, Status::malformed);
    EXPECT_EQ(run(dlt::null, cat({null_le(30), ipv4(kTcp, 40), tcp(1, 2)})).status, Status::malformed);
}

TEST(DecodeNull, LoopIsNetworkOrderOnly) {
    const Summary s = run(dlt::loop, cat({null_be(2), ipv4(kUdp, 32), udp(1, 2)}));
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_EQ(s.ethertype, 0x0800);
    const Summary six = run(dlt::loop, cat({null_be(24), ipv6(kUdp, 12), udp(1, 2)}));
    EXPECT_EQ(six.status, Status::ok);
    EXPECT_EQ(six.network, Network::ipv6);
    const Summary swapped = run(dlt::loop, cat({null_le(2), ipv4(kUdp, 32), udp(1, 2)}));
    EXPECT_EQ(swapped.status, Status::non_ip);
    EXPECT_EQ(swapped.network, Network::none);
}

TEST(DecodeUnsupported, UnknownLinkType) {
    const Bytes frame = cat({ether(0x0800), ipv4(kUdp, 32), udp(1, 2)});
    for (std::uint32_t lt : {2u, 147u, 163u, 195u, 4294967295u}) {
        const Summary s = run(lt, frame);
        EXPECT_EQ(s.status, Status::unsupported);
        EXPECT_EQ(s.network, Network::none);
        EXPECT_FALSE(s.has_ports);
        EXPECT_EQ(run(lt, {}).status, Status::unsupported);
    }
}

TEST(Decode, NeverAllocates) {
    static_assert(noexcept(decode(0, std::span<const std::uint8_t>{})));
#if defined(CAPDB_COUNT_ALLOCATIONS)
    const Bytes frame = cat({ether(0x8100), tag(1, 0x86dd), ipv6_chain_udp()});
    ASSERT_NE(__sanitizer_install_malloc_and_free_hooks(count_malloc, ignore_free), 0);
    const long before = g_allocations;
    const Summary s = decode(dlt::en10mb, frame);
    const Summary t = decode(dlt::linux_sll2, frame);
    const Summary u = decode(99, frame);
    const long after = g_allocations;
    EXPECT_EQ(after, before);
    EXPECT_EQ(s.status, Status::ok);
    EXPECT_NE(t.status, Status::unsupported);
    EXPECT_EQ(u.status, Status::unsupported);
    // The counter itself works.
    const auto* probe = new int(7);
    EXPECT_GT(g_allocations, after);
    delete probe;
#else
    GTEST_SKIP() << "allocation counting needs -fsanitize=address";
#endif
}

// ---- every cut of a valid frame ----

struct Sample {
    const char* name;
    std::uint32_t linktype;
    Bytes frame;
    std::size_t needed;  // bytes needed for the full result; fewer → truncated
    Status full;         // status of the complete frame
};

std::vector<Sample> samples() {
    std::vector<Sample> v;
    const auto add = [&](const char* name, std::uint32_t lt, Bytes frame, std::size_t needed, Status full) {
        v.push_back(Sample{name, lt, std::move(frame), needed, full});
    };
    add("eth ipv4 udp", dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32), udp(1234, 53)}), 14 + 20 + 4, Status::ok);
    add("eth ipv4 options tcp", dlt::en10mb, cat({ether(0x0800), ipv4(kTcp, 28 + 20, 0, Bytes(8, 1)), tcp(1, 2)}),
        14 + 28 + 4, Status::ok);
    add("eth ipv4 icmp", dlt::en10mb, cat({ether(0x0800), ipv4(kIcmp, 28), icmp_echo()}), 14 + 20, Status::ok);
    add("eth ipv4 later fragment", dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32, 0x2000 | 10), udp(1, 2)}), 14 + 20,
        Status::ok);
    add("eth ipv4 first fragment", dlt::en10mb, cat({ether(0x0800), ipv4(kUdp, 32, 0x2000), udp(1, 2)}), 14 + 24,
        Status::ok);
    add("eth 1 tag ipv4 tcp", dlt::en10mb, cat({ether(0x8100), tag(1, 0x0800), ipv4(kTcp, 40), tcp(1, 2)}), 18 + 24,
        Status::ok);
    add("eth 2 tags ipv6 udp", dlt::en10mb,
        cat({ether(0x88a8), tag(1, 0x8100), tag(2, 0x86dd), ipv6(kUdp, 12), udp(1, 2)}), 22 + 44, Status::ok);
    add("eth 3 tags ipv4 sctp", dlt::en10mb,
        cat({ether(0x9100), tag(1, 0x88a8), tag(2, 0x8100), tag(3, 0x0800), ipv4(kSctp, 32), sctp(1, 2)}), 26 + 24,
        Status::ok);
    add("eth ipv6 chain", dlt::en10mb, cat({ether(0x86dd), ipv6_chain_udp()}), 14 + 40 + 48 + 4, Status::ok);
    add("eth ipv6 ah tcp", dlt::en10mb, cat({ether(0x86dd), ipv6(51, 44), auth_header(kTcp), tcp(7, 8)}),
        14 + 40 + 24 + 4, Status::ok);
    add("eth ipv6 later fragment", dlt::en10mb,
        cat({ether(0x86dd), ipv6(0, 28), hop_by_hop(44), fragment6(kUdp, 5, false), udp(1, 2)}), 14 + 40 + 16,
        Status::ok);
    add("eth ipv6 jumbo", dlt::en10mb,
        cat({ether(0x86dd), ipv6(0, 0), {kTcp, 0x00, 0xc2, 0x04, 0x00, 0x01, 0x00, 0x00}, tcp(1, 2)}), 14 + 40 + 8 + 4,
        Status::ok);
    add("eth ipv6 icmp6", dlt::en10mb, cat({ether(0x86dd), ipv6(kIcmp6, 8), icmp6_echo()}), 14 + 40, Status::ok);
    add("eth ipv6 dccp", dlt::en10mb, cat({ether(0x86dd), ipv6(kDccp, 16), dccp(1, 2)}), 14 + 44, Status::ok);
    add("eth arp", dlt::en10mb, cat({ether(0x0806), arp_body()}), 14, Status::non_ip);
    add("eth lldp", dlt::en10mb, cat({ether(0x88cc), lldp_body()}), 14, Status::non_ip);
    add("eth tagged arp", dlt::en10mb, cat({ether(0x8100), tag(9, 0x0806), arp_body()}), 18, Status::non_ip);
    add("eth llc", dlt::en10mb, cat({ether(0x0026), {0x42, 0x42, 0x03}}), 14, Status::non_ip);
    add("sll ipv4 udp", dlt::linux_sll, cat({sll(0x0800), ipv4(kUdp, 32), udp(1, 2)}), 16 + 24, Status::ok);
    add("sll tagged ipv4 tcp", dlt::linux_sll, cat({sll(0x8100), tag(5, 0x0800), ipv4(kTcp, 40), tcp(1, 2)}), 20 + 24,
        Status::ok);
    add("sll arp", dlt::linux_sll, cat({sll(0x0806), arp_body()}), 16, Status::non_ip);
    add("sll2 ipv6 tcp", dlt::linux_sll2, cat({sll2(0x86dd), ipv6(kTcp, 20), tcp(1, 2)}), 20 + 44, Status::ok);
    add("sll2 lldp", dlt::linux_sll2, cat({sll2(0x88cc), lldp_body()}), 20, Status::non_ip);
    add("raw ipv4", dlt::raw, cat({ipv4(kUdp, 32), udp(1, 2)}), 24, Status::ok);
    add("raw ipv6", dlt::raw, cat({ipv6(kTcp, 20), tcp(1, 2)}), 44, Status::ok);
    add("raw openbsd ipv4", dlt::raw_openbsd, cat({ipv4(kTcp, 40), tcp(1, 2)}), 24, Status::ok);
    add("linktype raw ipv6", dlt::linktype_raw, cat({ipv6(kUdp, 12), udp(1, 2)}), 44, Status::ok);
    add("ipv4", dlt::ipv4, cat({ipv4(kUdpLite, 32), udp(1, 2)}), 24, Status::ok);
    add("ipv6", dlt::ipv6, cat({ipv6(0, 20), hop_by_hop(kUdp), udp(1, 2)}), 52, Status::ok);
    add("null le ipv4", dlt::null, cat({null_le(2), ipv4(kUdp, 32), udp(1, 2)}), 28, Status::ok);
    add("null be ipv6", dlt::null, cat({null_be(30), ipv6(kUdp, 12), udp(1, 2)}), 48, Status::ok);
    add("null le ipv6", dlt::null, cat({null_le(24), ipv6(kIcmp6, 8), icmp6_echo()}), 44, Status::ok);
    add("null other", dlt::null, cat({null_le(7), {1, 2, 3}}), 4, Status::non_ip);
    add("loop ipv4", dlt::loop, cat({null_be(2), ipv4(kTcp, 40), tcp(1, 2)}), 28, Status::ok);
    add("loop ipv6", dlt::loop, cat({null_be(28), ipv6(kUdp, 12), udp(1, 2)}), 48, Status::ok);
    add("wlan ipv4 udp", dlt::ieee802_11, cat({wlan(0x08, 0x01), snap(0x0800), ipv4(kUdp, 32), udp(1, 2)}), 24 + 8 + 24,
        Status::ok);
    add("wlan qos wds ipv6 tcp", dlt::ieee802_11,
        cat({wlan(0x88, 0x03), {0x05, 0x00}, snap(0x86dd), ipv6(kTcp, 20), tcp(1, 2)}), 30 + 2 + 8 + 44, Status::ok);
    add("wlan beacon", dlt::ieee802_11, cat({wlan(0x80, 0x00), Bytes(12, 0)}), 2, Status::non_ip);
    add("wlan protected", dlt::ieee802_11, cat({wlan(0x08, 0x41), Bytes(40, 0x5a)}), 24, Status::non_ip);
    add("radiotap wlan ipv4 tcp", dlt::ieee802_11_radio,
        cat({radiotap_plain(), wlan(0x08, 0x02), snap(0x0800), ipv4(kTcp, 40), tcp(1, 2)}), 8 + 24 + 8 + 24,
        Status::ok);
    add("ppp hdlc ipv4 udp", dlt::ppp, cat({{0xff, 0x03, 0x00, 0x21}, ipv4(kUdp, 32), udp(1, 2)}), 4 + 24, Status::ok);
    add("ppp compressed ipv4 tcp", dlt::ppp, cat({{0x21}, ipv4(kTcp, 40), tcp(1, 2)}), 1 + 24, Status::ok);
    add("ppp ipv6 udp", dlt::ppp, cat({{0x00, 0x57}, ipv6(kUdp, 12), udp(1, 2)}), 2 + 44, Status::ok);
    add("ppp lcp", dlt::ppp, cat({{0xff, 0x03, 0xc0, 0x21}, {1, 1, 0, 4}}), 4, Status::non_ip);
    add("ppp serial ipv4", dlt::ppp_serial, cat({{0xff, 0x03, 0x00, 0x21}, ipv4(kUdp, 32), udp(1, 2)}), 4 + 24,
        Status::ok);
    add("ppp serial cisco ipv6", dlt::ppp_serial, cat({{0x0f, 0x00, 0x86, 0xdd}, ipv6(kTcp, 20), tcp(1, 2)}), 4 + 44,
        Status::ok);
    add("c hdlc ipv4", dlt::c_hdlc, cat({{0x8f, 0x00, 0x08, 0x00}, ipv4(kTcp, 40), tcp(1, 2)}), 4 + 24, Status::ok);
    add("nflog ipv4 udp", dlt::nflog, nflog(2, cat({ipv4(kUdp, 32), udp(1, 2)}), false), 4 + 8 + 4 + 24, Status::ok);
    add("nflog be ipv6 tcp", dlt::nflog, nflog(10, cat({ipv6(kTcp, 20), tcp(1, 2)}), true), 4 + 8 + 4 + 44, Status::ok);
    return v;
}

TEST(DecodeCut, EveryOffsetOfEveryLinkType) {
    for (const auto& sample : samples()) {
        SCOPED_TRACE(sample.name);
        ASSERT_LE(sample.needed, sample.frame.size());
        const Summary full = run(sample.linktype, sample.frame);
        ASSERT_EQ(full.status, sample.full);
        check_invariants(sample.linktype, full, sample.name);
        for (std::size_t len = 0; len <= sample.frame.size(); ++len) {
            const Bytes cut(sample.frame.begin(), sample.frame.begin() + static_cast<std::ptrdiff_t>(len));
            const Summary s = run(sample.linktype, cut);
            const std::string where = std::string(sample.name) + " cut at " + std::to_string(len);
            check_invariants(sample.linktype, s, where);
            if (len < sample.needed) {
                EXPECT_EQ(s.status, Status::truncated) << where;
            } else {
                // Once everything needed is there, extra bytes change nothing.
                EXPECT_EQ(s.status, full.status) << where;
                EXPECT_EQ(s.network, full.network) << where;
                EXPECT_EQ(s.ethertype, full.ethertype) << where;
                EXPECT_EQ(s.ip_proto, full.ip_proto) << where;
                EXPECT_EQ(s.has_ports, full.has_ports) << where;
                EXPECT_EQ(s.fragment, full.fragment) << where;
                EXPECT_EQ(s.src_port, full.src_port) << where;
                EXPECT_EQ(s.dst_port, full.dst_port) << where;
            }
            // Whatever is decoded from a prefix agrees with the full frame.
            if (s.network != Network::none) {
                EXPECT_EQ(s.network, full.network) << where;
                EXPECT_EQ(s.src, full.src) << where;
                EXPECT_EQ(s.dst, full.dst) << where;
            }
        }
    }
}

// ---- random input ----

constexpr std::uint32_t kAllLinkTypes[] = {dlt::null,
                                           dlt::en10mb,
                                           dlt::raw,
                                           dlt::raw_openbsd,
                                           dlt::linktype_raw,
                                           dlt::loop,
                                           dlt::linux_sll,
                                           dlt::ipv4,
                                           dlt::ipv6,
                                           dlt::linux_sll2,
                                           105,
                                           127};

TEST(DecodeRandom, RandomBytes) {
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(0, 160);
    for (std::uint32_t lt : kAllLinkTypes) {
        for (int i = 0; i < 20000; ++i) {
            Bytes frame(length(rng));
            for (auto& b : frame) b = static_cast<std::uint8_t>(byte(rng));
            const Summary s = run(lt, frame);
            check_invariants(lt, s, "random lt " + std::to_string(lt));
            if (::testing::Test::HasFailure()) return;
        }
    }
}

// Random bytes rarely get past the link layer, so also mutate the valid
// samples: flip bytes, cut, and decode under every link type.
TEST(DecodeRandom, MutatedSamples) {
    std::mt19937 rng(5);
    const auto all = samples();
    std::uniform_int_distribution<std::size_t> pick(0, all.size() - 1);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> flips(1, 4);
    std::uniform_int_distribution<int> coin(0, 3);
    int decoded_ports = 0;
    for (int i = 0; i < 100000; ++i) {
        const Sample& base = all[pick(rng)];
        Bytes frame = base.frame;
        const int n = flips(rng);
        for (int f = 0; f < n; ++f) {
            std::uniform_int_distribution<std::size_t> at(0, frame.size() - 1);
            frame[at(rng)] = static_cast<std::uint8_t>(byte(rng));
        }
        if (coin(rng) == 0) {
            std::uniform_int_distribution<std::size_t> cut(0, frame.size());
            frame.resize(cut(rng));
        }
        const std::uint32_t lt =
            coin(rng) == 0 ? kAllLinkTypes[static_cast<std::size_t>(i) % std::size(kAllLinkTypes)] : base.linktype;
        const Summary s = run(lt, frame);
        check_invariants(lt, s, std::string("mutated ") + base.name);
        if (s.has_ports) ++decoded_ports;
        if (::testing::Test::HasFailure()) return;
    }
    EXPECT_GT(decoded_ports, 1000);  // the mutations do reach the transport layer
}

}  // namespace
}  // namespace capdb
