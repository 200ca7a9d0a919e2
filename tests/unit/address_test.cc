// Address parsing and printing: strict parsing, RFC 5952 output identical to
// tcpdump/tshark (glibc inet_ntop), CIDR prefixes.
#include "capdb/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace capdb {
namespace {

Address v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    const std::array<std::uint8_t, 4> bytes{a, b, c, d};
    return Address::from_v4(bytes.data());
}

Address v6(std::array<std::uint16_t, 8> words) {
    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < words.size(); ++i) {
        bytes[2 * i] = static_cast<std::uint8_t>(words[i] >> 8);
        bytes[2 * i + 1] = static_cast<std::uint8_t>(words[i] & 0xff);
    }
    return Address::from_v6(bytes.data());
}

// What glibc (and so tcpdump and tshark) prints for 16 bytes.
std::string ntop6(const Address& a) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    EXPECT_NE(inet_ntop(AF_INET6, a.bytes.data(), buf.data(), buf.size()), nullptr);
    return buf.data();
}

std::string round_trip(std::string_view text) {
    const auto a = parse_address(text);
    return a ? a->to_string() : std::string("<nullopt>");
}

// ---- construction ----

TEST(Address, FromV4IsMapped) {
    const Address a = v4(192, 0, 2, 1);
    const std::array<std::uint8_t, 16> expected{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    EXPECT_EQ(a.bytes, expected);
    EXPECT_TRUE(a.is_v4());
    EXPECT_EQ(a.to_string(), "192.0.2.1");
}

TEST(Address, FromV6CopiesBytes) {
    std::array<std::uint8_t, 16> raw{};
    for (std::size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<std::uint8_t>(i * 17);
    const Address a = Address::from_v6(raw.data());
    EXPECT_EQ(a.bytes, raw);
    EXPECT_FALSE(a.is_v4());
}

TEST(Address, IsV4OnlyForTheMappedPrefix) {
    EXPECT_TRUE(v6({0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304}).is_v4());
    EXPECT_TRUE(v6({0, 0, 0, 0, 0, 0xffff, 0, 0}).is_v4());
    EXPECT_FALSE(v6({0, 0, 0, 0, 0, 0, 0x0102, 0x0304}).is_v4());       // IPv4-compatible
    EXPECT_FALSE(v6({0, 0, 0, 0, 0xffff, 0, 0x0102, 0x0304}).is_v4());  // IPv4-translated
    EXPECT_FALSE(v6({0, 0, 0, 0, 0, 0xfffe, 0x0102, 0x0304}).is_v4());
    EXPECT_FALSE(v6({0, 0, 0, 0, 1, 0xffff, 0x0102, 0x0304}).is_v4());
    EXPECT_FALSE(v6({0x0100, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304}).is_v4());
    EXPECT_FALSE(Address{}.is_v4());
}

TEST(Address, OrderingPutsV4BeforeMostV6) {
    EXPECT_LT(v4(1, 2, 3, 4), v4(1, 2, 3, 5));
    EXPECT_LT(v4(9, 255, 255, 255), v4(10, 0, 0, 0));
    EXPECT_LT(v4(255, 255, 255, 255), *parse_address("2001:db8::"));
    EXPECT_LT(*parse_address("::1"), v4(0, 0, 0, 0));
    EXPECT_EQ(v4(1, 2, 3, 4), *parse_address("::ffff:1.2.3.4"));
}

// ---- printing ----

TEST(AddressToString, V4) {
    EXPECT_EQ(v4(0, 0, 0, 0).to_string(), "0.0.0.0");
    EXPECT_EQ(v4(255, 255, 255, 255).to_string(), "255.255.255.255");
    EXPECT_EQ(v4(10, 0, 100, 9).to_string(), "10.0.100.9");
    EXPECT_EQ(v4(127, 0, 0, 1).to_string(), "127.0.0.1");
}

TEST(AddressToString, Rfc5952) {
    struct Case {
        std::array<std::uint16_t, 8> words;
        const char* text;
    };
    const Case cases[] = {
        {{0, 0, 0, 0, 0, 0, 0, 0}, "::"},
        {{0, 0, 0, 0, 0, 0, 0, 1}, "::1"},
        {{1, 0, 0, 0, 0, 0, 0, 0}, "1::"},
        {{0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}, "2001:db8::1"},
        // 4.1 no leading zeros
        {{0x2001, 0x0db8, 0x00aa, 0x000b, 0x0c00, 0, 0, 1}, "2001:db8:aa:b:c00::1"},
        // 4.2.2 a single zero group is not compressed
        {{0x2001, 0xdb8, 0, 1, 1, 1, 1, 1}, "2001:db8:0:1:1:1:1:1"},
        {{1, 2, 3, 4, 5, 6, 7, 0}, "1:2:3:4:5:6:7:0"},
        {{0, 1, 2, 3, 4, 5, 6, 7}, "0:1:2:3:4:5:6:7"},
        // 4.2.3 the longest run wins; the first on a tie
        {{0x2001, 0, 0, 1, 0, 0, 0, 1}, "2001:0:0:1::1"},
        {{0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}, "2001:db8::1:0:0:1"},
        {{1, 0, 0, 1, 0, 0, 0, 1}, "1:0:0:1::1"},
        {{1, 0, 0, 1, 0, 0, 1, 1}, "1::1:0:0:1:1"},
        {{0, 0, 1, 0, 0, 0, 0, 0}, "0:0:1::"},
        {{0, 0, 1, 0, 0, 1, 0, 0}, "::1:0:0:1:0:0"},
        {{0, 2, 3, 4, 5, 6, 7, 8}, "0:2:3:4:5:6:7:8"},
        {{0, 0, 3, 4, 5, 6, 7, 8}, "::3:4:5:6:7:8"},
        {{1, 2, 3, 4, 5, 6, 0, 0}, "1:2:3:4:5:6::"},
        // 4.3 lowercase
        {{0x2001, 0xDB8, 0, 0, 0, 0, 0xABCD, 0xEF01}, "2001:db8::abcd:ef01"},
        {{0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a}, "fe80::1ff:fe23:4567:890a"},
        {{0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        // Embedded IPv4: only the mapped form prints as IPv4 (as capdb's v4);
        // IPv4-compatible prints ::a.b.c.d like inet_ntop, tcpdump and tshark;
        // NAT64 and IPv4-translated stay hex, like them too.
        {{0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304}, "1.2.3.4"},
        {{0, 0, 0, 0, 0, 0xffff, 0, 0}, "0.0.0.0"},
        {{0, 0, 0, 0, 0, 0, 0x0102, 0x0304}, "::1.2.3.4"},
        {{0, 0, 0, 0, 0, 0, 1, 0}, "::0.1.0.0"},
        {{0, 0, 0, 0, 0xffff, 0, 0x0102, 0x0304}, "::ffff:0:102:304"},
        {{0x64, 0xff9b, 0, 0, 0, 0, 0x0102, 0x0304}, "64:ff9b::102:304"},
        {{0, 0, 0, 0, 0, 0, 0, 2}, "::2"},
        {{0, 0, 0, 0, 0, 0, 0xffff, 0xffff}, "::255.255.255.255"},
    };
    for (const auto& c : cases) {
        const Address a = v6(c.words);
        EXPECT_EQ(a.to_string(), c.text);
        if (!a.is_v4()) {
            EXPECT_EQ(a.to_string(), ntop6(a)) << c.text;
        }
    }
}

// Against glibc's inet_ntop (what tcpdump and tshark print) on addresses
// built to exercise zero runs: each group is 0, 1, 0xffff or random.
TEST(AddressToString, MatchesInetNtop) {
    std::mt19937 rng(5952);
    std::uniform_int_distribution<int> kind(0, 3);
    std::uniform_int_distribution<int> any(0, 0xffff);
    for (int i = 0; i < 20000; ++i) {
        std::array<std::uint16_t, 8> words{};
        for (auto& w : words) {
            switch (kind(rng)) {
                case 0:
                case 1: w = 0; break;
                case 2: w = 1; break;
                default: w = static_cast<std::uint16_t>(any(rng)); break;
            }
        }
        const Address a = v6(words);
        if (a.is_v4()) continue;
        ASSERT_EQ(a.to_string(), ntop6(a));
        ASSERT_EQ(parse_address(a.to_string()), a) << a.to_string();
    }
}

// ---- parsing ----

TEST(ParseAddress, V4) {
    EXPECT_EQ(parse_address("192.0.2.1"), v4(192, 0, 2, 1));
    EXPECT_EQ(parse_address("0.0.0.0"), v4(0, 0, 0, 0));
    EXPECT_EQ(parse_address("255.255.255.255"), v4(255, 255, 255, 255));
    EXPECT_EQ(parse_address("10.0.100.9"), v4(10, 0, 100, 9));
}

TEST(ParseAddress, V6) {
    EXPECT_EQ(parse_address("::"), Address{});
    EXPECT_EQ(parse_address("::1"), v6({0, 0, 0, 0, 0, 0, 0, 1}));
    EXPECT_EQ(parse_address("1::"), v6({1, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(parse_address("2001:db8::1"), v6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}));
    EXPECT_EQ(parse_address("2001:DB8::ABCD"), v6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xabcd}));
    EXPECT_EQ(parse_address("2001:0db8:0000:0000:0000:0000:0000:0001"), v6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}));
    EXPECT_EQ(parse_address("1:2:3:4:5:6:7:8"), v6({1, 2, 3, 4, 5, 6, 7, 8}));
    // "::" standing for exactly one group, at either end or inside
    EXPECT_EQ(parse_address("1:2:3:4:5:6:7::"), v6({1, 2, 3, 4, 5, 6, 7, 0}));
    EXPECT_EQ(parse_address("::2:3:4:5:6:7:8"), v6({0, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(parse_address("1:2:3::5:6:7:8"), v6({1, 2, 3, 0, 5, 6, 7, 8}));
    EXPECT_EQ(parse_address("fe80::1ff:fe23:4567:890a"), v6({0xfe80, 0, 0, 0, 0x1ff, 0xfe23, 0x4567, 0x890a}));
}

TEST(ParseAddress, V6WithEmbeddedV4) {
    EXPECT_EQ(parse_address("::ffff:1.2.3.4"), v4(1, 2, 3, 4));
    EXPECT_EQ(parse_address("::FFFF:1.2.3.4"), v4(1, 2, 3, 4));
    EXPECT_EQ(parse_address("0:0:0:0:0:ffff:1.2.3.4"), v4(1, 2, 3, 4));
    EXPECT_TRUE(parse_address("::ffff:1.2.3.4")->is_v4());
    EXPECT_EQ(parse_address("::1.2.3.4"), v6({0, 0, 0, 0, 0, 0, 0x0102, 0x0304}));
    EXPECT_EQ(parse_address("64:ff9b::192.0.2.33"), v6({0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221}));
    EXPECT_EQ(parse_address("1:2:3:4:5:6:1.2.3.4"), v6({1, 2, 3, 4, 5, 6, 0x0102, 0x0304}));
    EXPECT_EQ(parse_address("1:2:3:4:5::1.2.3.4"), v6({1, 2, 3, 4, 5, 0, 0x0102, 0x0304}));
}

TEST(ParseAddress, RoundTripsToCanonicalForm) {
    EXPECT_EQ(round_trip("2001:0DB8:0:0:0:0:0:0001"), "2001:db8::1");
    EXPECT_EQ(round_trip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    EXPECT_EQ(round_trip("0:0:0:0:0:ffff:0a00:0001"), "10.0.0.1");
    EXPECT_EQ(round_trip("::ffff:10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(round_trip("::0.0.0.1"), "::1");
    EXPECT_EQ(round_trip("1:2:3:4:5:6:7::"), "1:2:3:4:5:6:7:0");
}

// Leading zeros in dotted quads are rejected, consistently in IPv4 text and
// in an IPv6 tail ("010" would mean 8 to inet_aton).
TEST(ParseAddress, RejectsLeadingZerosInDottedQuads) {
    EXPECT_FALSE(parse_address("01.2.3.4"));
    EXPECT_FALSE(parse_address("1.2.3.04"));
    EXPECT_FALSE(parse_address("1.2.3.00"));
    EXPECT_FALSE(parse_address("010.0.0.1"));
    EXPECT_FALSE(parse_address("::ffff:1.2.3.04"));
    EXPECT_TRUE(parse_address("1.0.0.0"));
}

TEST(ParseAddress, Rejects) {
    const char* bad[] = {
        "",
        " ",
        "abc",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.256",
        "256.1.1.1",
        "1.2.3.999",
        "1.2.3.1000",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4\n",
        "+1.2.3.4",
        "1.+2.3.4",
        "-1.2.3.4",
        "1..3.4",
        ".1.2.3",
        "1.2.3.",
        "1.2.3.4.",
        "1.2.3.a",
        "0x1.2.3.4",
        "1.2.3.4/8",  // a prefix, not an address
        "1",
        "16909060",
        ":",
        ":::",
        ":1",
        "1:",
        "1::2::3",
        "::1::",
        "1:::2",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        "::1:2:3:4:5:6:7:8",
        "1:2:3:4::5:6:7:8",
        "12345::",
        "::12345",
        "g::1",
        "2001:db8::1 ",
        " ::1",
        "[::1]",
        "fe80::1%eth0",
        "::1/128",
        "::ffff:1.2.3",
        "::ffff:1.2.3.4.5",
        "::ffff:1.2.3.256",
        "::1.2.3.4:5",
        "1.2.3.4::",
        "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5:6:7:8:1.2.3.4",
        "::ffff:1.2.3.4:1",
        "1:2:3:4:5:6:1.2.3.4:1",
        ":ffff:1.2.3.4",
        "::-1",
        "::+1",
    };
    for (const char* text : bad) {
        EXPECT_FALSE(parse_address(text)) << '"' << text << '"';
    }
}

TEST(ParseAddress, RejectsEmbeddedNul) {
    using namespace std::string_view_literals;
    EXPECT_FALSE(parse_address("1.2.3.4\0"sv));
    EXPECT_FALSE(parse_address("::1\0"sv));
}

// Our parser against glibc's inet_pton on every well-formed text inet_ntop
// produces, and on random short strings made of address characters: they
// must agree except where capdb is documented as stricter (leading zeros in
// a dotted quad, which glibc rejects too).
TEST(ParseAddress, AgreesWithInetPton) {
    std::mt19937 rng(4291);
    const std::string alphabet = "0123456789abcdefABCDEF:.";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<std::size_t> length(0, 20);
    int accepted = 0;
    for (int i = 0; i < 200000; ++i) {
        std::string text;
        const std::size_t n = length(rng);
        for (std::size_t j = 0; j < n; ++j) text.push_back(alphabet[pick(rng)]);
        const bool has_colon = text.find(':') != std::string::npos;
        std::array<std::uint8_t, 16> buf{};
        const bool glibc = inet_pton(has_colon ? AF_INET6 : AF_INET, text.c_str(), buf.data()) == 1;
        const auto ours = parse_address(text);
        ASSERT_EQ(ours.has_value(), glibc) << '"' << text << '"';
        if (ours) {
            ++accepted;
            const Address expected = has_colon ? Address::from_v6(buf.data()) : Address::from_v4(buf.data());
            ASSERT_EQ(*ours, expected) << text;
        }
    }
    EXPECT_GT(accepted, 100);
}

// ---- prefixes ----

TEST(ParsePrefix, PlainAddressIsSingle) {
    const auto p = parse_prefix("192.0.2.1");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->is_single());
    EXPECT_EQ(p->first, v4(192, 0, 2, 1));
    EXPECT_TRUE(p->contains(v4(192, 0, 2, 1)));
    EXPECT_FALSE(p->contains(v4(192, 0, 2, 2)));

    const auto q = parse_prefix("2001:db8::1");
    ASSERT_TRUE(q);
    EXPECT_TRUE(q->is_single());
    EXPECT_EQ(q->first, *parse_address("2001:db8::1"));
}

TEST(ParsePrefix, V4) {
    const auto p = parse_prefix("10.0.0.0/8");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->first, v4(10, 0, 0, 0));
    EXPECT_EQ(p->last, v4(10, 255, 255, 255));
    EXPECT_TRUE(p->first.is_v4());
    EXPECT_TRUE(p->last.is_v4());
    EXPECT_TRUE(p->contains(v4(10, 1, 2, 3)));
    EXPECT_FALSE(p->contains(v4(11, 0, 0, 0)));
    EXPECT_FALSE(p->contains(v4(9, 255, 255, 255)));
    EXPECT_FALSE(p->contains(*parse_address("::a00:1")));

    EXPECT_EQ(parse_prefix("192.168.1.77/24")->first, v4(192, 168, 1, 0));
    EXPECT_EQ(parse_prefix("192.168.1.77/24")->last, v4(192, 168, 1, 255));
    EXPECT_EQ(parse_prefix("172.16.0.0/12")->last, v4(172, 31, 255, 255));
    EXPECT_EQ(parse_prefix("1.2.3.4/31")->first, v4(1, 2, 3, 4));
    EXPECT_EQ(parse_prefix("1.2.3.4/31")->last, v4(1, 2, 3, 5));
    EXPECT_EQ(parse_prefix("1.2.3.5/30")->first, v4(1, 2, 3, 4));
    EXPECT_EQ(parse_prefix("1.2.3.5/30")->last, v4(1, 2, 3, 7));
}

TEST(ParsePrefix, HostBitsAreIgnored) {
    const auto p = parse_prefix("10.1.2.3/8");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->first, v4(10, 0, 0, 0));
    EXPECT_EQ(p->last, v4(10, 255, 255, 255));
    const auto q = parse_prefix("2001:db8::1/32");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->first, *parse_address("2001:db8::"));
    EXPECT_EQ(q->last, *parse_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
}

TEST(ParsePrefix, V4Extremes) {
    const auto all = parse_prefix("1.2.3.4/0");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->first, v4(0, 0, 0, 0));
    EXPECT_EQ(all->last, v4(255, 255, 255, 255));
    // /0 in IPv4 text covers all of IPv4 and nothing of IPv6.
    EXPECT_TRUE(all->contains(v4(8, 8, 8, 8)));
    EXPECT_FALSE(all->contains(*parse_address("::1")));
    EXPECT_FALSE(all->contains(*parse_address("2001:db8::1")));

    const auto one = parse_prefix("1.2.3.4/32");
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->is_single());
    EXPECT_EQ(one->first, v4(1, 2, 3, 4));
}

TEST(ParsePrefix, V6) {
    const auto p = parse_prefix("2001:db8::/32");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->first, *parse_address("2001:db8::"));
    EXPECT_EQ(p->last, *parse_address("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_TRUE(p->contains(*parse_address("2001:db8:1::5")));
    EXPECT_FALSE(p->contains(*parse_address("2001:db9::")));

    const auto odd = parse_prefix("fe80::/10");
    ASSERT_TRUE(odd);
    EXPECT_EQ(odd->last, *parse_address("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    const auto bit = parse_prefix("2001:db8::/127");
    ASSERT_TRUE(bit);
    EXPECT_EQ(bit->last, *parse_address("2001:db8::1"));

    const auto all = parse_prefix("::/0");
    ASSERT_TRUE(all);
    EXPECT_EQ(all->first, Address{});
    EXPECT_EQ(all->last, *parse_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_TRUE(all->contains(v4(1, 2, 3, 4)));

    const auto one = parse_prefix("::1/128");
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->is_single());
}

// IPv6 text means an IPv6 prefix length even for a mapped address.
TEST(ParsePrefix, MappedTextUsesV6Lengths) {
    const auto p = parse_prefix("::ffff:0.0.0.0/96");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->first, v4(0, 0, 0, 0));
    EXPECT_EQ(p->last, v4(255, 255, 255, 255));
    const auto q = parse_prefix("::ffff:10.0.0.0/104");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->last, v4(10, 255, 255, 255));
    EXPECT_TRUE(parse_prefix("::ffff:1.2.3.4/128"));
}

TEST(ParsePrefix, Rejects) {
    const char* bad[] = {
        "",
        "/",
        "/8",
        "abc",
        "1.2.3",
        "1.2.3/8",
        "1.2.3.4/",
        "1.2.3.4/33",
        "1.2.3.4/100",
        "1.2.3.4/-1",
        "1.2.3.4/+8",
        "1.2.3.4/08",
        "1.2.3.4/00",
        "1.2.3.4/8 ",
        "1.2.3.4 /8",
        "1.2.3.4/ 8",
        "1.2.3.4/8/8",
        "1.2.3.4/0x8",
        "1.2.3.4/a",
        "1.2.3.4/4294967304",
        "1.2.3.256/8",
        "::1/129",
        "::/1000",
        "::1/",
        "::1/-0",
        "::/0128",
        "2001:db8::/32/1",
        "fe80::1%eth0/64",
    };
    for (const char* text : bad) {
        EXPECT_FALSE(parse_prefix(text)) << '"' << text << '"';
    }
}

// Every length for both families: first/last bracket exactly the covered
// range, and prefix lengths nest.
TEST(ParsePrefix, EveryLength) {
    for (unsigned len = 0; len <= 32; ++len) {
        const auto p = parse_prefix("255.255.255.255/" + std::to_string(len));
        ASSERT_TRUE(p) << len;
        const std::uint32_t mask = len == 0 ? 0 : ~0u << (32 - len);
        const auto to_addr = [](std::uint32_t v) {
            return v4(static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                      static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v));
        };
        EXPECT_EQ(p->first, to_addr(mask)) << len;
        EXPECT_EQ(p->last, v4(255, 255, 255, 255)) << len;
        EXPECT_EQ(p->is_single(), len == 32);
    }
    for (unsigned len = 0; len <= 128; ++len) {
        const auto p = parse_prefix("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/" + std::to_string(len));
        ASSERT_TRUE(p) << len;
        int ones = 0;
        for (auto b : p->first.bytes) ones += std::popcount(b);
        EXPECT_EQ(ones, static_cast<int>(len));
        for (auto b : p->last.bytes) EXPECT_EQ(b, 0xff);
        const auto zero = parse_prefix("::/" + std::to_string(len));
        ASSERT_TRUE(zero);
        EXPECT_EQ(zero->first, Address{});
        int last_ones = 0;
        for (auto b : zero->last.bytes) last_ones += std::popcount(b);
        EXPECT_EQ(last_ones, static_cast<int>(128 - len));
    }
}

}  // namespace
}  // namespace capdb
