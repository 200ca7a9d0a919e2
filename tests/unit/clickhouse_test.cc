// The ClickHouse store's pure parts: URL parsing, RowBinary rows, and the
// planner's address ranges (a superset of every match).
#include <cstdlib>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "capdb/error.h"
#include "capdb/filter.h"
#include "store/clickhouse/plan.h"
#include "store/clickhouse/rows.h"
#include "store/clickhouse/url.h"

namespace capdb::clickhouse {
namespace {

TEST(ClickHouseUrl, Parses) {
    ::unsetenv("CAPDB_CLICKHOUSE_PASSWORD");
    const Location a = parse_location("clickhouse://ch1.example:8123/capdb");
    EXPECT_EQ(a.host, "ch1.example");
    EXPECT_EQ(a.port, 8123);
    EXPECT_EQ(a.database, "capdb");
    EXPECT_EQ(a.user, "");
    EXPECT_EQ(a.cluster, "");
    const Location b = parse_location("clickhouse://sensor_7@10.0.0.1:18123/cap_db2?cluster=c1");
    EXPECT_EQ(b.user, "sensor_7");
    EXPECT_EQ(b.host, "10.0.0.1");
    EXPECT_EQ(b.database, "cap_db2");
    EXPECT_EQ(b.cluster, "c1");
    ::setenv("CAPDB_CLICKHOUSE_PASSWORD", "p'w", 1);
    EXPECT_EQ(parse_location("clickhouse://h:1/d").password, "p'w");
    ::unsetenv("CAPDB_CLICKHOUSE_PASSWORD");
    EXPECT_TRUE(is_clickhouse_url("clickhouse://x"));
    EXPECT_FALSE(is_clickhouse_url("capdb.db"));
}

TEST(ClickHouseUrl, RefusesWhatCannotBeWrittenIntoSql) {
    for (const char* bad : {"clickhouse://h/d", "clickhouse://h:0/d", "clickhouse://h:65536/d", "clickhouse://h:1x/d",
                            "clickhouse://h:1/", "clickhouse://h:1/d;drop", "clickhouse://h:1/d'",
                            "clickhouse://h:1/1d", "clickhouse://u:pw@h:1/d", "clickhouse://@h:1/d",
                            "clickhouse://h h:1/d", "clickhouse://h:1/d?cluster=", "clickhouse://h:1/d?cluster=a-b",
                            "clickhouse://h:1/d?db=x", "clickhouse://:1/d", "http://h:1/d"})
        EXPECT_THROW(parse_location(bad), UsageError) << bad;
    EXPECT_TRUE(is_identifier("a_1"));
    EXPECT_FALSE(is_identifier(""));
    EXPECT_FALSE(is_identifier("a b"));
    EXPECT_FALSE(is_identifier("a`b"));
}

PacketBatch sample_batch() {
    PacketBatch b;
    Summary s;
    s.network = Network::ipv6;
    s.ip_proto = 17;
    s.has_ports = true;
    s.fragment = true;
    s.src_port = 53;
    s.dst_port = 40000;
    s.ethertype = 0x86dd;
    s.src = *parse_address("2001:db8::1");
    s.dst = *parse_address("192.0.2.7");
    const std::uint8_t preview[] = {1, 2, 3, 0, 255};
    b.add(-5, 70, 1500, 1234567, s, preview, true, 228, 3);
    Summary arp;
    arp.arp = true;
    arp.status = Status::non_ip;
    b.add(1'700'000'000'000'000'001, 60, 60, -1, arp, {}, false, 1, 0);
    return b;
}

TEST(ClickHouseRows, PacketRoundTrip) {
    const PacketBatch b = sample_batch();
    std::vector<std::uint8_t> bytes;
    RowWriter w(bytes);
    for (std::size_t i = 0; i < b.size(); ++i) write_packet(w, 9, 100 + i, 77, b, b.packets[i]);
    RowReader r(bytes);
    for (std::size_t i = 0; i < b.size(); ++i) {
        PacketView v;
        ASSERT_TRUE(read_packet(r, v));
        const PacketBatch::Packet& p = b.packets[i];
        EXPECT_EQ(v.capture, 9);
        EXPECT_EQ(v.seq, 100 + i);
        EXPECT_EQ(v.ts_ns, p.ts_ns);
        EXPECT_EQ(v.caplen, p.caplen);
        EXPECT_EQ(v.wirelen, p.wirelen);
        EXPECT_EQ(v.file_offset, p.file_offset);
        EXPECT_EQ(v.linktype, p.linktype);
        EXPECT_EQ(v.if_index, p.if_index);
        EXPECT_EQ(v.time_invalid, p.time_invalid);
        const Summary& s = p.summary;
        EXPECT_EQ(v.summary.network, s.network);
        EXPECT_EQ(v.summary.status, s.status);
        EXPECT_EQ(v.summary.ethertype, s.ethertype);
        EXPECT_EQ(v.summary.ip_proto, s.ip_proto);
        EXPECT_EQ(v.summary.has_ports, s.has_ports);
        EXPECT_EQ(v.summary.fragment, s.fragment);
        EXPECT_EQ(v.summary.arp, s.arp);
        EXPECT_EQ(v.summary.src_port, s.src_port);
        EXPECT_EQ(v.summary.dst_port, s.dst_port);
        EXPECT_EQ(v.summary.src, s.src);
        EXPECT_EQ(v.summary.dst, s.dst);
        const auto want = b.preview(p);
        EXPECT_EQ(std::vector<std::uint8_t>(v.preview.begin(), v.preview.end()),
                  std::vector<std::uint8_t>(want.begin(), want.end()));
    }
    EXPECT_EQ(r.remaining(), 0u);
    // Cut anywhere inside the first row: not read.
    for (std::size_t cut = 0; cut + 1 < bytes.size() / 2; ++cut) {
        RowReader part(std::span<const std::uint8_t>(bytes).first(cut));
        PacketView v;
        EXPECT_FALSE(read_packet(part, v)) << cut;
    }
}

TEST(ClickHouseRows, CaptureRoundTrip) {
    CaptureRow row;
    row.info.id = 42;
    row.info.meta.source = "/tmp/a'b\n.pcap";
    row.info.meta.file_size = 99;
    row.info.meta.ts_precision = 9;
    row.info.meta.packets_at = PacketsAt::none;
    row.info.state = CaptureState::interrupted;
    row.info.sha256 = "ab";
    row.info.first_ts_ns = -3;
    row.info.last_ts_ns = 8;
    row.info.counts.packets = 5;
    row.info.counts.bytes = 500;
    row.info.live_stats = LiveStats{1, 2, 3};
    row.info.error = std::string(300, 'e');
    row.sensor = "s\x1b";
    row.writer_pid = 1234;
    row.version = 7;
    std::vector<std::uint8_t> bytes;
    RowWriter w(bytes);
    write_capture(w, row);
    RowReader r(bytes);
    CaptureRow back;
    ASSERT_TRUE(read_capture(r, back));
    EXPECT_EQ(back.info.id, 42);
    EXPECT_EQ(back.info.meta.source, row.info.meta.source);
    EXPECT_EQ(back.info.meta.file_size, 99u);
    EXPECT_FALSE(back.info.meta.file_mtime_ns);
    EXPECT_EQ(back.info.meta.ts_precision, 9u);
    EXPECT_EQ(back.info.meta.packets_at, PacketsAt::none);
    EXPECT_EQ(back.info.state, CaptureState::interrupted);
    EXPECT_EQ(back.info.sha256, "ab");
    EXPECT_EQ(back.info.first_ts_ns, -3);
    EXPECT_EQ(back.info.last_ts_ns, 8);
    EXPECT_EQ(back.info.counts.packets, 5u);
    EXPECT_EQ(back.info.counts.bytes, 500u);
    ASSERT_TRUE(back.info.live_stats);
    EXPECT_EQ(back.info.live_stats->dropped_iface, 3u);
    EXPECT_EQ(back.info.error, row.info.error);
    EXPECT_EQ(back.sensor, row.sensor);
    EXPECT_EQ(back.writer_pid, 1234);
    EXPECT_EQ(back.version, 7u);
    EXPECT_EQ(r.remaining(), 0u);
}

Expr parse(const std::string& text) { return parse_expression({text}); }

TEST(ClickHousePlan, RequiredRanges) {
    EXPECT_FALSE(required_ranges(Expr{}));
    EXPECT_FALSE(required_ranges(parse("tcp")));
    EXPECT_FALSE(required_ranges(parse("not host 10.0.0.1")));
    EXPECT_FALSE(required_ranges(parse("host 10.0.0.1 or tcp")));
    ASSERT_TRUE(required_ranges(parse("host 10.0.0.1")));
    EXPECT_EQ(required_ranges(parse("host 10.0.0.1"))->size(), 1u);
    EXPECT_EQ(required_ranges(parse("tcp and src net 10.0.0.0/8"))->size(), 1u);
    EXPECT_EQ(required_ranges(parse("host 10.0.0.1 or dst host 2001:db8::1"))->size(), 2u);
    // AND: the child with the fewest ranges.
    EXPECT_EQ(required_ranges(parse("(host 10.0.0.1 or host 10.0.0.2) and host 10.0.0.3"))->size(), 1u);
}

// Every packet an expression matches has an address in its ranges.
TEST(ClickHousePlan, RangesHoldEveryMatch) {
    std::mt19937 rng(7);
    const char* hosts[] = {"10.0.0.1", "10.0.0.2", "10.0.1.9", "2001:db8::1", "::ffff:10.0.0.1"};
    const char* terms[] = {"host 10.0.0.1", "src net 10.0.0.0/24", "dst host 2001:db8::1", "tcp",
                           "port 53",       "not host 10.0.0.2",   "arp host 10.0.1.9",    "ip6",
                           "less 100"};
    for (int round = 0; round < 2000; ++round) {
        std::string text = terms[rng() % 9];
        for (int k = 0; k < 2; ++k) text = "(" + text + (rng() % 2 ? ") and (" : ") or (") + terms[rng() % 9] + ")";
        const Expr e = parse(text);
        const auto ranges = required_ranges(e);
        if (!ranges) continue;
        for (int n = 0; n < 20; ++n) {
            PacketView p;
            Summary& s = p.summary;
            s.src = *parse_address(hosts[rng() % 5]);
            s.dst = *parse_address(hosts[rng() % 5]);
            s.arp = rng() % 4 == 0;
            s.network = s.arp ? Network::none : (s.src.is_v4() ? Network::ipv4 : Network::ipv6);
            s.ip_proto = rng() % 2 ? std::uint8_t{6} : std::uint8_t{17};
            s.has_ports = true;
            s.src_port = rng() % 2 ? std::uint16_t{53} : std::uint16_t{80};
            p.wirelen = static_cast<std::uint32_t>(rng() % 200);
            if (!matches(e, p)) continue;
            bool held = false;
            for (const Prefix& r : *ranges) held |= r.contains(s.src) || r.contains(s.dst);
            EXPECT_TRUE(held) << text;
        }
    }
}

TEST(ClickHousePlan, WhereClauseHoldsOnlyNumbersAndHex) {
    Filter f;
    f.from_ns = -5;
    f.to_ns = 9;
    f.capture = 3;
    const auto ranges = required_ranges(parse("net 10.0.0.0/8 or host 2001:db8::1"));
    const std::string w = where_clause(f, BlockRange{1, 2}, ranges);
    EXPECT_NE(w.find("ts_ns >= -5 AND ts_ns <= 9 AND capture = 3 AND block > 1 AND block <= 2"), std::string::npos);
    // Every quoted literal is hex digits.
    for (std::size_t q = w.find('\''); q != std::string::npos; q = w.find('\'', q + 1)) {
        const std::size_t end = w.find('\'', q + 1);
        ASSERT_NE(end, std::string::npos);
        EXPECT_EQ(w.substr(q + 1, end - q - 1).find_first_not_of("0123456789abcdef"), std::string::npos);
        q = end;
    }
}

}  // namespace
}  // namespace capdb::clickhouse
