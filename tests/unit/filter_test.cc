#include "capdb/filter.h"

#include <gtest/gtest.h>

#include "capdb/format.h"

namespace capdb {
namespace {

constexpr std::int64_t kSec = 1'000'000'000;

TEST(ParseTime, EpochSeconds) {
    EXPECT_EQ(parse_time("0"), 0);
    EXPECT_EQ(parse_time("1490492402"), 1490492402 * kSec);
    EXPECT_EQ(parse_time("1490492402.5"), 1490492402 * kSec + 500'000'000);
    EXPECT_EQ(parse_time("1490492402.000000001"), 1490492402 * kSec + 1);
    EXPECT_EQ(parse_time("1490492402.1234567899"), 1490492402 * kSec + 123456789);  // truncated past ns
}

TEST(ParseTime, Rfc3339) {
    EXPECT_EQ(parse_time("2017-03-26T01:40:02Z"), 1490492402 * kSec);
    EXPECT_EQ(parse_time("2017-03-26T01:40:02"), 1490492402 * kSec);  // no zone: UTC
    EXPECT_EQ(parse_time("2017-03-26 01:40:02"), 1490492402 * kSec);
    EXPECT_EQ(parse_time("2017-03-26t01:40:02z"), 1490492402 * kSec);
    EXPECT_EQ(parse_time("2017-03-26T03:40:02+02:00"), 1490492402 * kSec);
    EXPECT_EQ(parse_time("2017-03-25T20:40:02-0500"), 1490492402 * kSec);
    EXPECT_EQ(parse_time("2017-03-26T01:40:02.25Z"), 1490492402 * kSec + 250'000'000);
    EXPECT_EQ(parse_time("2017-03-26T01:40Z"), 1490492400 * kSec);
    EXPECT_EQ(parse_time("2017-03-26"), 1490486400 * kSec);
    EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(parse_time("1969-12-31T23:59:59Z"), -kSec);
    EXPECT_EQ(parse_time("2000-02-29T00:00:00Z"), 951782400 * kSec);
    EXPECT_EQ(parse_time("2262-04-11T23:47:15Z"), 9223372035 * kSec);
    EXPECT_FALSE(parse_time("2262-04-11T23:47:17Z"));
}

TEST(ParseTime, Rejects) {
    for (const char* bad :
         {"", " ", "abc", "1490492402.", ".5", "-1", "1e9", "1490492402 ", "2017-13-01", "2017-02-29",
          "2017-03-26T24:00:00Z", "2017-03-26T01:60:00Z", "2017-03-26T01:40:02+25:00", "2017-03-26T01:40:02Zjunk",
          "2017-3-26", "2017-03-26T", "99999999999999999999", "9999-12-31T00:00:00Z", "2017-03-26T01:40:02.Z"}) {
        EXPECT_FALSE(parse_time(bad).has_value()) << "'" << bad << "'";
    }
}

// A time covers the unit of its last written digit.
TEST(ParseTimeSpan, CoversItsUnit) {
    constexpr std::int64_t kNow = 1'800'000'000 * kSec + 123;
    auto span = [&](const char* text) {
        const auto s = parse_time_span(text, kNow);
        EXPECT_TRUE(s.has_value()) << text;
        return s ? std::pair{s->first_ns, s->last_ns} : std::pair{std::int64_t{-1}, std::int64_t{-1}};
    };
    const std::int64_t t = 1490492402 * kSec;
    EXPECT_EQ(span("1490492402"), std::pair(t, t + kSec - 1));
    EXPECT_EQ(span("1490492402.5"), std::pair(t + 500'000'000, t + 599'999'999));
    EXPECT_EQ(span("1490492402.25"), std::pair(t + 250'000'000, t + 259'999'999));
    EXPECT_EQ(span("1490492402.000000001"), std::pair(t + 1, t + 1));
    EXPECT_EQ(span("1490492402.0000000019"), std::pair(t + 1, t + 1));  // past ns: one ns
    EXPECT_EQ(span("2017-03-26T01:40:02Z"), std::pair(t, t + kSec - 1));
    EXPECT_EQ(span("2017-03-26T01:40:02.5Z"), std::pair(t + 500'000'000, t + 599'999'999));
    EXPECT_EQ(span("2017-03-26T01:40Z"), std::pair(t - 2 * kSec, t + 58 * kSec - 1));
    EXPECT_EQ(span("2017-03-26T03:40+02:00"), std::pair(t - 2 * kSec, t + 58 * kSec - 1));
    EXPECT_EQ(span("2017-03-26"), std::pair(1490486400 * kSec, 1490572800 * kSec - 1));
    EXPECT_EQ(span("1969-12-31"), std::pair(-86400 * kSec, std::int64_t{-1}));
    EXPECT_EQ(span("now"), std::pair(kNow, kNow));
    EXPECT_EQ(span("now-90s"), std::pair(kNow - 90 * kSec, kNow - 90 * kSec));
    EXPECT_EQ(span("now-1h30m"), std::pair(kNow - 5400 * kSec, kNow - 5400 * kSec));
    // The last second int64 ns can hold ends at the largest value, not past it.
    EXPECT_EQ(span("2262-04-11T23:47:15Z").second, 9223372035 * kSec + kSec - 1);
    for (const char* bad : {"now-", "now+5m", "now-5", "now-1y", "Now", "now-5m-1m", "now -5m", "yesterday"})
        EXPECT_FALSE(parse_time_span(bad, kNow).has_value()) << bad;
}

TEST(ParseDuration, UnitsAndSums) {
    EXPECT_EQ(parse_duration("90s"), 90 * kSec);
    EXPECT_EQ(parse_duration("15m"), 900 * kSec);
    EXPECT_EQ(parse_duration("2h"), 7200 * kSec);
    EXPECT_EQ(parse_duration("7d"), 7 * 86400 * kSec);
    EXPECT_EQ(parse_duration("1w"), 7 * 86400 * kSec);
    EXPECT_EQ(parse_duration("1h30m"), 5400 * kSec);
    EXPECT_EQ(parse_duration("0s"), 0);
    for (const char* bad : {"", "5", "m", "5x", "-5m", "5 m", "1.5h", "5M", "99999999999999999999s", "100000d", "5m "})
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
}

TEST(ParseProto, NamesAndNumbers) {
    EXPECT_EQ(parse_proto("tcp"), 6);
    EXPECT_EQ(parse_proto("TCP"), 6);
    EXPECT_EQ(parse_proto("udp"), 17);
    EXPECT_EQ(parse_proto("icmp"), 1);
    EXPECT_EQ(parse_proto("icmp6"), 58);
    EXPECT_EQ(parse_proto("sctp"), 132);
    EXPECT_EQ(parse_proto("0"), 0);
    EXPECT_EQ(parse_proto("255"), 255);
    EXPECT_FALSE(parse_proto("256"));
    EXPECT_FALSE(parse_proto("tcpx"));
    EXPECT_FALSE(parse_proto(""));
    EXPECT_FALSE(parse_proto("-1"));
    EXPECT_FALSE(parse_proto("'; DROP TABLE captures; --"));
}

TEST(ParsePort, Range) {
    EXPECT_EQ(parse_port("0"), 0);
    EXPECT_EQ(parse_port("443"), 443);
    EXPECT_EQ(parse_port("65535"), 65535);
    EXPECT_FALSE(parse_port("65536"));
    EXPECT_FALSE(parse_port("http"));
    EXPECT_FALSE(parse_port("1 "));
    EXPECT_FALSE(parse_port(""));
}

PacketView tcp_packet(const char* src, const char* dst, std::uint16_t sp, std::uint16_t dp, std::int64_t ts) {
    PacketView p;
    p.ts_ns = ts;
    p.capture = 1;
    p.summary.network = Network::ipv4;
    p.summary.ip_proto = 6;
    p.summary.has_ports = true;
    p.summary.src = *parse_address(src);
    p.summary.dst = *parse_address(dst);
    p.summary.src_port = sp;
    p.summary.dst_port = dp;
    return p;
}

TEST(Matches, EachCondition) {
    const PacketView p = tcp_packet("10.1.2.3", "192.0.2.9", 40000, 443, 100 * kSec);
    Filter f;
    EXPECT_TRUE(matches(f, p));
    f.also(Expr::address(*parse_prefix("10.0.0.0/8"), Dir::src));
    EXPECT_TRUE(matches(f, p));
    f.also(Expr::address(*parse_prefix("192.0.2.0/24"), Dir::dst));
    EXPECT_TRUE(matches(f, p));
    f.also(Expr::port(443, 443, Dir::either));
    EXPECT_TRUE(matches(f, p));
    f.also(Expr::port(40000, 40000, Dir::src));
    f.also(Expr::port(443, 443, Dir::dst));
    f.also(Expr::ip_proto(6));
    f.from_ns = 100 * kSec;
    f.to_ns = 100 * kSec;
    f.capture = 1;
    EXPECT_TRUE(matches(f, p));

    auto fails = [&](auto change) {
        Filter g = f;
        change(g);
        return !matches(g, p);
    };
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::address(*parse_prefix("10.1.2.4"), Dir::src)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::address(*parse_prefix("192.0.3.0/24"), Dir::dst)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::address(*parse_prefix("2001:db8::1"), Dir::either)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::port(80, 80, Dir::either)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::port(443, 443, Dir::src)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::port(40000, 40000, Dir::dst)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.also(Expr::ip_proto(17)); }));
    EXPECT_TRUE(fails([](Filter& g) { g.from_ns = 100 * kSec + 1; }));
    EXPECT_TRUE(fails([](Filter& g) { g.to_ns = 100 * kSec - 1; }));
    EXPECT_TRUE(fails([](Filter& g) { g.capture = 2; }));
}

TEST(Matches, HostEitherDirectionAndNonIp) {
    const PacketView p = tcp_packet("10.1.2.3", "192.0.2.9", 40000, 443, 0);
    Filter f;
    f.also(Expr::address(*parse_prefix("192.0.2.9"), Dir::either));
    EXPECT_TRUE(matches(f, p));
    f.also(Expr::address(*parse_prefix("10.1.2.3"), Dir::either));
    EXPECT_TRUE(matches(f, p));

    PacketView arp;  // non-IP: no address, port or protocol condition can match
    arp.summary.status = Status::non_ip;
    for (auto set :
         {+[](Filter& g) { g.also(Expr::address(*parse_prefix("0.0.0.0/0"), Dir::either)); },
          +[](Filter& g) { g.also(Expr::ip_proto(0)); }, +[](Filter& g) { g.also(Expr::port(0, 0, Dir::either)); }}) {
        Filter g;
        set(g);
        EXPECT_FALSE(matches(g, arp));
    }
}

TEST(Format, LineIsClassic) {
    PacketView p = tcp_packet("192.168.1.53", "74.125.68.149", 1, 2, 1490492402 * kSec + 999'999'999);
    p.wirelen = 790;
    const std::uint8_t bytes[] = {0x1c, 0x87, 0x2c, 0x5a, 0x00, 0x01, 0x38, 0xc9};
    p.preview = bytes;
    fmt::memory_buffer b;
    format_row(b, OutputFormat::line, p);
    EXPECT_EQ(fmt::to_string(b), "Time: 1490492402, 192.168.1.53 --> 74.125.68.149, 790 bytes: [1C872C5A000138C9...]");
}

TEST(Format, NegativeTimeFloors) {
    EXPECT_EQ(epoch_seconds(-1), -1);
    EXPECT_EQ(epoch_seconds(-kSec), -1);
    EXPECT_EQ(epoch_seconds(-kSec - 1), -2);
    EXPECT_EQ(format_rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
    EXPECT_EQ(format_rfc3339(1490492402 * kSec + 5), "2017-03-26T01:40:02.000000005Z");
}

TEST(Format, JsonAndCsvFields) {
    PacketView p = tcp_packet("2001:db8::1", "2001:db8::2", 53, 5353, 0);
    p.summary.network = Network::ipv6;
    p.summary.ip_proto = 17;
    p.seq = 4;
    p.caplen = 60;
    p.wirelen = 70;
    p.file_offset = 24;
    fmt::memory_buffer j, c;
    format_row(j, OutputFormat::json, p);
    EXPECT_EQ(
        fmt::to_string(j),
        R"({"time":"1970-01-01T00:00:00.000000000Z","ts_ns":0,"capture":1,"packet":5,"status":"ok",)"
        R"("src":"2001:db8::1","dst":"2001:db8::2","proto":17,"sport":53,"dport":5353,"caplen":60,)"
        R"("wirelen":70,"linktype":0,"ethertype":null,"offset":24,"tunnel":null,"tunnel_id":null,"outer_src":null,)"
        R"("outer_dst":null,"interface":0,"interface_name":null,"link":"NULL",)"
        R"("preview":""})");
    format_row(c, OutputFormat::csv, p);
    EXPECT_EQ(fmt::to_string(c),
              "1970-01-01T00:00:00.000000000Z,0,1,5,ok,2001:db8::1,2001:db8::2,17,53,5353,60,70,0,,24,,,,,");
}

}  // namespace
}  // namespace capdb
