// Row formatting and the non-allocating address writer it uses. Expected
// rows were produced by the fmt::format_to implementation this replaced.
#include "capdb/format.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

#include "capdb/address.h"

namespace capdb {
namespace {

// ---- Address::write ----

std::string ntop(int family, const std::uint8_t* bytes) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    EXPECT_NE(inet_ntop(family, bytes, buf.data(), buf.size()), nullptr);
    return buf.data();
}

// What capdb documents: a mapped address as a plain dotted quad, anything
// else as glibc's inet_ntop (so tcpdump and tshark) prints it.
std::string expected_text(const Address& a) {
    return a.is_v4() ? ntop(AF_INET, a.bytes.data() + 12) : ntop(AF_INET6, a.bytes.data());
}

// Writes a into a buffer filled with a sentinel and checks that nothing
// past kMaxAddressText was touched.
std::string written(const Address& a) {
    constexpr char kSentinel = '\x7f';
    std::array<char, kMaxAddressText + 16> buf;
    buf.fill(kSentinel);
    const char* end = a.write(buf.data());
    const auto size = static_cast<std::size_t>(end - buf.data());
    EXPECT_LE(size, 39u);
    for (std::size_t i = kMaxAddressText; i < buf.size(); ++i) EXPECT_EQ(buf[i], kSentinel) << i;
    return std::string(buf.data(), size);
}

void expect_writes(const Address& a) {
    const std::string text = written(a);
    ASSERT_EQ(text, expected_text(a));
    ASSERT_EQ(text, a.to_string());
}

TEST(AddressWrite, EveryOctetInEveryPosition) {
    for (std::size_t pos = 0; pos < 4; ++pos) {
        for (unsigned v = 0; v < 256; ++v) {
            std::array<std::uint8_t, 4> four{1, 22, 133, 4};
            four[pos] = static_cast<std::uint8_t>(v);
            expect_writes(Address::from_v4(four.data()));
        }
    }
}

TEST(AddressWrite, RandomV4MatchesInetNtop) {
    std::mt19937 rng(1234);
    for (int i = 0; i < 200000; ++i) {
        const auto r = static_cast<std::uint32_t>(rng());
        const std::array<std::uint8_t, 4> four{static_cast<std::uint8_t>(r >> 24), static_cast<std::uint8_t>(r >> 16),
                                               static_cast<std::uint8_t>(r >> 8), static_cast<std::uint8_t>(r)};
        expect_writes(Address::from_v4(four.data()));
    }
}

// Groups are 0, 1, 0xffff or random so that zero runs of every length and
// position, IPv4-compatible (::a.b.c.d) and mapped addresses all occur.
TEST(AddressWrite, RandomV6MatchesInetNtop) {
    std::mt19937 rng(5952);
    std::uniform_int_distribution<int> kind(0, 4);
    std::uniform_int_distribution<int> any(0, 0xffff);
    int mapped = 0, compatible = 0;
    for (int i = 0; i < 200000; ++i) {
        std::array<std::uint8_t, 16> bytes{};
        const bool v4_like = i % 4 == 0;  // first five groups zero
        for (std::size_t g = v4_like ? 5 : 0; g < 8; ++g) {
            int w = 0;
            switch (kind(rng)) {
                case 0:
                case 1: w = 0; break;
                case 2: w = 1; break;
                case 3: w = 0xffff; break;
                default: w = any(rng); break;
            }
            bytes[2 * g] = static_cast<std::uint8_t>(w >> 8);
            bytes[2 * g + 1] = static_cast<std::uint8_t>(w & 0xff);
        }
        const Address a = Address::from_v6(bytes.data());
        if (a.is_v4())
            ++mapped;
        else if (written(a).starts_with("::") && written(a).find('.') != std::string::npos)
            ++compatible;
        expect_writes(a);
    }
    EXPECT_GT(mapped, 1000);
    EXPECT_GT(compatible, 1000);
}

TEST(AddressWrite, Extremes) {
    std::array<std::uint8_t, 16> ones{};
    ones.fill(0xff);
    expect_writes(Address::from_v6(ones.data()));
    EXPECT_EQ(written(Address::from_v6(ones.data())), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    expect_writes(Address{});
    EXPECT_EQ(written(Address{}), "::");
    EXPECT_EQ(written(*parse_address("255.255.255.255")), "255.255.255.255");
    EXPECT_EQ(written(*parse_address("::255.255.255.255")), "::255.255.255.255");
}

// ---- rows ----

std::string row(OutputFormat format, const PacketView& p) {
    fmt::memory_buffer b;
    b.append(std::string_view("prefix|"));  // rows are appended, not written at the start
    format_row(b, format, p);
    const std::string s = fmt::to_string(b);
    EXPECT_TRUE(s.starts_with("prefix|"));
    return s.substr(7);
}

constexpr std::uint8_t kPreview[] = {0x00, 0x1b, 0xa0, 0xff, 0x7e};

PacketView ip_packet() {
    PacketView p;
    p.capture = 12;
    p.seq = 41;
    p.ts_ns = 1490492402123456789;
    p.caplen = 5;
    p.wirelen = 1514;
    p.file_offset = 9000;
    p.linktype = 1;
    p.preview = kPreview;
    return p;
}

TEST(FormatRow, V6WithPortsFragmentAndStatus) {
    PacketView p = ip_packet();
    Summary& s = p.summary;
    s.network = Network::ipv6;
    s.ethertype = 0x86dd;
    s.ip_proto = 6;
    s.has_ports = true;
    s.src_port = 65535;
    s.dst_port = 0;
    s.status = Status::truncated;
    s.fragment = true;
    s.src = *parse_address("fe80::1ff:fe23:4567:890a");
    s.dst = *parse_address("::102:304");
    EXPECT_EQ(row(OutputFormat::line, p),
              "Time: 1490492402, fe80::1ff:fe23:4567:890a --> ::1.2.3.4, 1514 bytes: [001BA0FF7E...]");
    EXPECT_EQ(row(OutputFormat::long_form, p),
              "2017-03-26T01:40:02.123456789Z 12:42 TCP [fe80::1ff:fe23:4567:890a]:65535 --> [::1.2.3.4]:0 caplen 5 "
              "len 1514 on #0 (EN10MB) fragment [truncated]");
    EXPECT_EQ(row(OutputFormat::json, p),
              R"({"time":"2017-03-26T01:40:02.123456789Z","ts_ns":1490492402123456789,"capture":12,"packet":42,)"
              R"("status":"truncated","src":"fe80::1ff:fe23:4567:890a","dst":"::1.2.3.4","proto":6,"sport":65535,)"
              R"("dport":0,"caplen":5,"wirelen":1514,"linktype":1,"ethertype":34525,"offset":9000,)"
              R"("tunnel":null,"tunnel_id":null,"outer_src":null,"outer_dst":null,)"
              R"("interface":0,"interface_name":null,"link":"EN10MB","preview":"001BA0FF7E"})");
    EXPECT_EQ(row(OutputFormat::csv, p),
              "2017-03-26T01:40:02.123456789Z,1490492402123456789,12,42,truncated,fe80::1ff:fe23:4567:890a,"
              "::1.2.3.4,6,65535,0,5,1514,1,34525,9000,,,,,001BA0FF7E");
}

TEST(FormatRow, TunnelledShowsInnerOnItsLineAndOuterElsewhere) {
    PacketView p = ip_packet();
    Summary& s = p.summary;
    s.network = Network::ipv4;
    s.ethertype = 0x0800;
    s.ip_proto = 6;
    s.has_ports = true;
    s.src_port = 40000;
    s.dst_port = 80;
    s.src = *parse_address("192.0.2.1");
    s.dst = *parse_address("192.0.2.2");
    s.tunnel = Tunnel::vxlan;
    s.tunnel_layers = 1;
    s.has_tunnel_id = true;
    s.tunnel_id = 4242;
    s.outer_network = Network::ipv6;
    s.outer_src = *parse_address("2001:db8::1");
    s.outer_dst = *parse_address("2001:db8::2");
    EXPECT_EQ(row(OutputFormat::line, p), "Time: 1490492402, 192.0.2.1 --> 192.0.2.2, 1514 bytes: [001BA0FF7E...]");
    EXPECT_EQ(row(OutputFormat::long_form, p),
              "2017-03-26T01:40:02.123456789Z 12:42 TCP 192.0.2.1:40000 --> 192.0.2.2:80 caplen 5 len 1514 on #0 "
              "(EN10MB) tunnel vxlan 4242 2001:db8::1 --> 2001:db8::2");
    EXPECT_EQ(row(OutputFormat::json, p),
              R"({"time":"2017-03-26T01:40:02.123456789Z","ts_ns":1490492402123456789,"capture":12,"packet":42,)"
              R"("status":"ok","src":"192.0.2.1","dst":"192.0.2.2","proto":6,"sport":40000,)"
              R"("dport":80,"caplen":5,"wirelen":1514,"linktype":1,"ethertype":2048,"offset":9000,)"
              R"("tunnel":"vxlan","tunnel_id":4242,"outer_src":"2001:db8::1","outer_dst":"2001:db8::2",)"
              R"("interface":0,"interface_name":null,"link":"EN10MB","preview":"001BA0FF7E"})");
    EXPECT_EQ(row(OutputFormat::csv, p),
              "2017-03-26T01:40:02.123456789Z,1490492402123456789,12,42,ok,192.0.2.1,192.0.2.2,6,40000,80,5,1514,1,"
              "2048,9000,vxlan,4242,2001:db8::1,2001:db8::2,001BA0FF7E");
    // MPLS over Ethernet: a tunnel with no outer IP header; IP in IP: no id.
    s.tunnel = Tunnel::mpls;
    s.tunnel_id = 16;
    s.outer_network = Network::none;
    s.outer_src = Address{};
    s.outer_dst = Address{};
    EXPECT_EQ(row(OutputFormat::csv, p),
              "2017-03-26T01:40:02.123456789Z,1490492402123456789,12,42,ok,192.0.2.1,192.0.2.2,6,40000,80,5,1514,1,"
              "2048,9000,mpls,16,,,001BA0FF7E");
    s.tunnel = Tunnel::ipip;
    s.has_tunnel_id = false;
    EXPECT_EQ(row(OutputFormat::long_form, p),
              "2017-03-26T01:40:02.123456789Z 12:42 TCP 192.0.2.1:40000 --> 192.0.2.2:80 caplen 5 len 1514 on #0 "
              "(EN10MB) tunnel ipip");
}

TEST(FormatRow, V4UnknownProtoNoPortsNoOffset) {
    PacketView p = ip_packet();
    Summary& s = p.summary;
    s.network = Network::ipv4;
    s.ethertype = 0x0800;
    s.ip_proto = 200;
    s.src = *parse_address("255.255.255.255");
    s.dst = *parse_address("0.0.0.0");
    p.ts_ns = -1;
    p.file_offset = -1;
    EXPECT_EQ(row(OutputFormat::line, p), "Time: -1, 255.255.255.255 --> 0.0.0.0, 1514 bytes: [001BA0FF7E...]");
    EXPECT_EQ(
        row(OutputFormat::long_form, p),
        "1969-12-31T23:59:59.999999999Z 12:42 proto 200 255.255.255.255 --> 0.0.0.0 caplen 5 len 1514 on #0 (EN10MB)");
    EXPECT_EQ(row(OutputFormat::json, p),
              R"({"time":"1969-12-31T23:59:59.999999999Z","ts_ns":-1,"capture":12,"packet":42,"status":"ok",)"
              R"("src":"255.255.255.255","dst":"0.0.0.0","proto":200,"sport":null,"dport":null,"caplen":5,)"
              R"("wirelen":1514,"linktype":1,"ethertype":2048,"offset":null,)"
              R"("tunnel":null,"tunnel_id":null,"outer_src":null,"outer_dst":null,)"
              R"("interface":0,"interface_name":null,"link":"EN10MB","preview":"001BA0FF7E"})");
    EXPECT_EQ(row(OutputFormat::csv, p),
              "1969-12-31T23:59:59.999999999Z,-1,12,42,ok,255.255.255.255,0.0.0.0,200,,,5,1514,1,2048,,,,,,001BA0FF7E");

    s.has_ports = true;
    s.ip_proto = 17;
    s.src_port = 53;
    s.dst_port = 5353;
    s.src = *parse_address("10.0.100.9");
    EXPECT_EQ(
        row(OutputFormat::long_form, p),
        "1969-12-31T23:59:59.999999999Z 12:42 UDP 10.0.100.9:53 --> 0.0.0.0:5353 caplen 5 len 1514 on #0 (EN10MB)");
    EXPECT_EQ(row(OutputFormat::csv, p),
              "1969-12-31T23:59:59.999999999Z,-1,12,42,ok,10.0.100.9,0.0.0.0,17,53,5353,5,1514,1,2048,,,,,,001BA0FF7E");
}

TEST(FormatRow, NonIpAtTheEndsOfTime) {
    PacketView q;
    q.capture = 3;
    q.ts_ns = std::numeric_limits<std::int64_t>::min();
    q.caplen = 42;
    q.wirelen = 60;
    q.linktype = 1;
    q.summary.status = Status::non_ip;
    q.summary.ethertype = 0x0806;
    q.preview = kPreview;
    EXPECT_EQ(row(OutputFormat::line, q), "Time: -9223372037, ARP, 60 bytes: [001BA0FF7E...]");
    EXPECT_EQ(row(OutputFormat::long_form, q),
              "1677-09-21T00:12:43.145224192Z 3:1 ARP caplen 42 len 60 on #0 (EN10MB)");
    EXPECT_EQ(row(OutputFormat::json, q),
              R"({"time":"1677-09-21T00:12:43.145224192Z","ts_ns":-9223372036854775808,"capture":3,"packet":1,)"
              R"("status":"non_ip","src":null,"dst":null,"proto":null,"sport":null,"dport":null,"caplen":42,)"
              R"("wirelen":60,"linktype":1,"ethertype":2054,"offset":null,)"
              R"("tunnel":null,"tunnel_id":null,"outer_src":null,"outer_dst":null,)"
              R"("interface":0,"interface_name":null,"link":"EN10MB","preview":"001BA0FF7E"})");
    EXPECT_EQ(row(OutputFormat::csv, q),
              "1677-09-21T00:12:43.145224192Z,-9223372036854775808,3,1,non_ip,,,,,,42,60,1,2054,,,,,,001BA0FF7E");

    q.linktype = 147;
    q.summary.status = Status::unsupported;
    q.summary.ethertype = 0;
    q.ts_ns = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(row(OutputFormat::line, q), "Time: 9223372036, DLT 147, 60 bytes: [001BA0FF7E...]");
    EXPECT_EQ(row(OutputFormat::long_form, q),
              "2262-04-11T23:47:16.854775807Z 3:1 DLT 147 caplen 42 len 60 on #0 (DLT 147) [unsupported]");
    EXPECT_EQ(row(OutputFormat::csv, q),
              "2262-04-11T23:47:16.854775807Z,9223372036854775807,3,1,unsupported,,,,,,42,60,147,,,,,,,001BA0FF7E");
}

// A record whose sub-second field was out of range: long and json say so,
// line and csv are unchanged.
TEST(FormatRow, InvalidTime) {
    PacketView p = ip_packet();
    Summary& s = p.summary;
    s.network = Network::ipv4;
    s.ethertype = 0x0800;
    s.ip_proto = 17;
    s.src = *parse_address("192.0.2.1");
    s.dst = *parse_address("192.0.2.2");
    p.ts_ns = 1'600'000'000'000'000'000;
    p.time_invalid = true;
    EXPECT_EQ(row(OutputFormat::line, p), "Time: 1600000000, 192.0.2.1 --> 192.0.2.2, 1514 bytes: [001BA0FF7E...]");
    EXPECT_EQ(row(OutputFormat::long_form, p),
              "2020-09-13T12:26:40.000000000Z 12:42 UDP 192.0.2.1 --> 192.0.2.2 caplen 5 len 1514 on #0 (EN10MB) "
              "[invalid-time]");
    EXPECT_EQ(row(OutputFormat::json, p),
              R"({"time":"2020-09-13T12:26:40.000000000Z","ts_ns":1600000000000000000,"time_invalid":true,)"
              R"("capture":12,"packet":42,"status":"ok","src":"192.0.2.1","dst":"192.0.2.2","proto":17,)"
              R"("sport":null,"dport":null,"caplen":5,"wirelen":1514,"linktype":1,"ethertype":2048,"offset":9000,)"
              R"("tunnel":null,"tunnel_id":null,"outer_src":null,"outer_dst":null,)"
              R"("interface":0,"interface_name":null,"link":"EN10MB","preview":"001BA0FF7E"})");
    EXPECT_EQ(row(OutputFormat::csv, p),
              "2020-09-13T12:26:40.000000000Z,1600000000000000000,12,42,ok,192.0.2.1,192.0.2.2,17,,,5,1514,1,2048,"
              "9000,,,,,001BA0FF7E");
    s.status = Status::truncated;
    EXPECT_EQ(row(OutputFormat::long_form, p),
              "2020-09-13T12:26:40.000000000Z 12:42 UDP 192.0.2.1 --> 192.0.2.2 caplen 5 len 1514 on #0 "
              "(EN10MB) [truncated,invalid-time]");
}

// A packet's interface by name when it has one (escaped: names come from
// files), by number otherwise; the line and csv formats do not show it.
TEST(FormatRow, InterfaceNameAndLinkType) {
    PacketView p;
    p.capture = 1;
    p.seq = 0;
    p.linktype = 113;
    p.if_index = 2;
    p.caplen = p.wirelen = 60;
    p.summary.status = Status::non_ip;
    p.summary.ethertype = 0x0806;
    fmt::memory_buffer b;
    format_row(b, OutputFormat::long_form, p, "any\x1b\"\\");
    EXPECT_TRUE(fmt::to_string(b).ends_with(R"(caplen 60 len 60 on any\x1b"\\ (LINUX_SLL))")) << fmt::to_string(b);
    b.clear();
    format_row(b, OutputFormat::json, p, "any\x1b\"\\");
    EXPECT_NE(fmt::to_string(b).find(R"("interface":2,"interface_name":"any\\x1b\"\\\\","link":"LINUX_SLL")"),
              std::string::npos)
        << fmt::to_string(b);
    b.clear();
    format_row(b, OutputFormat::line, p, "any");
    EXPECT_EQ(fmt::to_string(b).find("any"), std::string::npos);
    b.clear();
    format_row(b, OutputFormat::long_form, p);
    EXPECT_TRUE(fmt::to_string(b).ends_with(" on #2 (LINUX_SLL)")) << fmt::to_string(b);
}

TEST(FormatRfc3339, Extremes) {
    EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::min()), "1677-09-21T00:12:43.145224192Z");
    EXPECT_EQ(format_rfc3339(std::numeric_limits<std::int64_t>::max()), "2262-04-11T23:47:16.854775807Z");
    EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000000000Z");
    EXPECT_EQ(format_rfc3339(951782400LL * 1'000'000'000), "2000-02-29T00:00:00.000000000Z");
}

}  // namespace
}  // namespace capdb
