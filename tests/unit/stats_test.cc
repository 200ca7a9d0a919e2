#include "capdb/stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include <fmt/format.h>

#include "capdb/stats_output.h"
#include "stats/spill.h"
#include "testutil.h"

namespace capdb {
namespace {

using testing::TempDir;

struct IntHash {
    std::size_t operator()(std::uint32_t k) const noexcept { return k * 2654435761u; }
};

// The aggregator spills when its table is full, and drain() still gives
// each key once with every value merged.
TEST(SpillingAggregator, SpilledRunsMergeToTheSameSums) {
    for (const std::size_t limit : {std::size_t{1}, std::size_t{7}, std::size_t{100}, std::size_t{100000}}) {
        stats::SpillingAggregator<std::uint32_t, Tally, IntHash> agg(limit);
        std::map<std::uint32_t, Tally> want;
        std::mt19937 rng(5);  // 32-bit results
        for (int i = 0; i < 20000; ++i) {
            const auto k = static_cast<std::uint32_t>(rng() % 3000);
            const auto len = static_cast<std::uint32_t>(rng() % 1500);
            agg.at(k).add(len);
            want[k].add(len);
        }
        if (limit < 3000) {
            EXPECT_GT(agg.runs(), 0u) << limit;
        } else {
            EXPECT_EQ(agg.runs(), 0u);
        }
        std::map<std::uint32_t, Tally> got;
        agg.drain([&](std::uint32_t k, const Tally& t) {
            EXPECT_EQ(got.count(k), 0u) << "key given twice: " << k;
            got[k] = t;
        });
        EXPECT_EQ(got, want) << limit;
    }
}

TEST(ExternalSorter, SortsAcrossRunsAndStops) {
    auto less = [](std::uint64_t a, std::uint64_t b) { return a > b; };  // descending
    stats::ExternalSorter<std::uint64_t, decltype(less)> sorter(64, less);
    std::vector<std::uint64_t> all;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 5000; ++i) {
        all.push_back(rng() % 100000);
        sorter.push(all.back());
    }
    EXPECT_GE(sorter.runs(), 5000u / 64);
    std::sort(all.begin(), all.end(), less);
    std::vector<std::uint64_t> got;
    sorter.drain([&](std::uint64_t v) {
        got.push_back(v);
        return got.size() < 4000;
    });
    all.resize(4000);
    EXPECT_EQ(got, all);
}

TEST(TopN, KeepsTheLargest) {
    auto less = [](int a, int b) { return a < b; };
    stats::TopN<int, decltype(less)> top(3, less);
    for (int v : {5, 1, 9, 7, 3, 9, 2}) top.offer(v);
    EXPECT_EQ(top.take(), (std::vector<int>{9, 9, 7}));
    stats::TopN<int, decltype(less)> none(0, less);
    none.offer(1);
    EXPECT_TRUE(none.take().empty());
}

TEST(Interval, ParseFormatAndAuto) {
    EXPECT_EQ(parse_interval("1s"), 1'000'000'000);
    EXPECT_EQ(parse_interval("1"), 1'000'000'000);
    EXPECT_EQ(parse_interval("0.25"), 250'000'000);
    EXPECT_EQ(parse_interval("250ms"), 250'000'000);
    EXPECT_EQ(parse_interval("5m"), 300'000'000'000);
    EXPECT_EQ(parse_interval("1h"), 3'600'000'000'000);
    EXPECT_EQ(parse_interval("2d"), 172'800'000'000'000);
    EXPECT_EQ(parse_interval("100us"), 100'000);
    for (const char* bad : {"", "0", "0s", "s", "1x", "-1s", "1.2.3", ".", "1e3", "99999999999d", "0.0000000001"})
        EXPECT_FALSE(parse_interval(bad)) << bad;
    EXPECT_EQ(format_interval(1'000'000'000), "1s");
    EXPECT_EQ(format_interval(1'500'000'000), "1500ms");
    EXPECT_EQ(format_interval(300'000'000'000), "5m");
    EXPECT_EQ(format_interval(86'400'000'000'000), "1d");
    // The smallest nice step giving at most the buckets asked for.
    EXPECT_EQ(auto_interval(10'000'000'000, 71), 200'000'000);  // 51 buckets of 200 ms
    EXPECT_EQ(auto_interval(10'000'000'000, 11), 1'000'000'000);
    EXPECT_EQ(auto_interval(0, 10), 1'000);
    for (std::int64_t span : {std::int64_t{1}, std::int64_t{999'999'999}, std::int64_t{3'600'000'000'000},
                              std::int64_t{86'400'000'000'000} * 4000})
        for (const std::size_t buckets : {std::size_t{1}, std::size_t{31}, std::size_t{191}})
            EXPECT_LE(span / auto_interval(span, buckets) + 1, static_cast<std::int64_t>(buckets)) << span;
}

// The histogram's edges: bucket k holds origin + k*I <= ts < origin + (k+1)*I.
TEST(Chart, BucketEdgesAndGaps) {
    TempDir dir;
    auto store = open_sqlite_store(dir.file("t.db"), {.read_only = false, .create = true});
    CaptureMeta meta;
    meta.source = "x";
    meta.linktype = 1;
    auto w = store->begin_capture(meta, 100);
    const std::int64_t t0 = 1'700'000'000'000'000'000;
    for (std::int64_t off :
         {std::int64_t{0}, std::int64_t{999'999'999}, std::int64_t{1'000'000'000}, std::int64_t{5'000'000'000}}) {
        PacketView p;
        p.ts_ns = t0 + off;
        p.caplen = p.wirelen = 100;
        p.linktype = 1;
        p.summary.status = Status::non_ip;
        w->append(p);
    }
    w->finish(CaptureState::complete, "sha", std::nullopt);
    StatsOptions o;
    o.interval_ns = 1'000'000'000;
    const StatsReport r = compute_stats(*store, Filter{}, o);
    ASSERT_EQ(r.histogram.buckets.size(), 6u);
    EXPECT_EQ(r.histogram.origin_ns, t0);
    std::vector<std::uint64_t> packets;
    for (const Tally& t : r.histogram.buckets) packets.push_back(t.packets);
    EXPECT_EQ(packets, (std::vector<std::uint64_t>{2, 1, 0, 0, 0, 1}));
    // The chart: three empty intervals are blank columns; the bars do not.
    TextOptions text;
    text.width = 40;
    text.chart_rows = 2;
    const std::string chart = render_chart(r.histogram, false, text);
    EXPECT_NE(chart.find("│██   █\n"), std::string::npos) << chart;  // bottom row: half of the peak of 2
    EXPECT_NE(chart.find("2 ┤█"), std::string::npos) << chart;
    EXPECT_EQ(chart.find('\x1b'), std::string::npos);
    text.color = true;
    EXPECT_NE(render_chart(r.histogram, false, text).find('\x1b'), std::string::npos);
}

// Packets for the aggregates test: a few hosts and ports (so that blocks
// keep their tables), IPv4 and IPv6, fragments, truncated and non-IP
// packets, times a few ms apart with some out of order.
std::vector<testing::OwnedPacket> few_hosts_packets(std::size_t n, std::uint32_t seed, std::int64_t t0) {
    std::mt19937 engine(seed);
    auto rng = [&engine] { return static_cast<std::uint32_t>(engine()); };
    std::vector<testing::OwnedPacket> out(n);
    std::int64_t ts = t0;
    for (std::size_t i = 0; i < n; ++i) {
        PacketView& p = out[i].view;
        ts += static_cast<std::int64_t>(rng() % 3'000'000);
        p.ts_ns = ts - (rng() % 10 == 0 ? static_cast<std::int64_t>(rng() % 4'000'000) : 0);
        p.caplen = 60 + rng() % 1000;
        p.wirelen = p.caplen + (rng() % 7 == 0 ? rng() % 50 : 0u);
        p.linktype = 1;
        Summary& s = p.summary;
        const auto kind = rng() % 12;
        if (kind == 0) {
            s.status = Status::non_ip;
            s.ethertype = rng() % 2 == 0 ? 0x0806 : 0x88cc;
            continue;
        }
        const bool v6 = kind == 1;
        s.network = v6 ? Network::ipv6 : Network::ipv4;
        s.ethertype = v6 ? 0x86dd : 0x0800;
        auto host = [&](std::uint32_t h) {
            Address a;
            if (v6) {
                a.bytes = {0x20, 0x01, 0x0d, 0xb8};
                a.bytes[15] = static_cast<std::uint8_t>(h);
                return a;
            }
            const std::uint8_t b[4] = {192, 168, 1, static_cast<std::uint8_t>(h)};
            return Address::from_v4(b);
        };
        s.src = host(rng() % 6);
        s.dst = host(rng() % 12);
        const auto proto = rng() % 4;
        s.ip_proto = proto <= 1 ? 6 : proto == 2 ? 17 : 1;
        s.has_ports = proto != 3;
        if (s.has_ports) {
            static constexpr std::uint16_t kPorts[] = {80, 443, 53, 22, 50000, 50001};
            s.src_port = kPorts[rng() % 6];
            s.dst_port = kPorts[rng() % 6];
        }
        s.fragment = rng() % 40 == 0;
        if (rng() % 30 == 0) s.status = Status::truncated;
    }
    return out;
}

// A report from block aggregates equals the same report from the packets
// (a filter with a per-packet condition that every packet meets makes
// compute_stats read the rows), at intervals that the blocks' timelines
// serve and at ones they do not, with and without the tables.
TEST(Stats, AggregatesEqualRows) {
    TempDir dir;
    auto store = open_sqlite_store(dir.file("t.db"), {.read_only = false, .create = true});
    const std::int64_t t0 = 1'700'000'000'123'456'789;
    for (std::uint32_t c = 0; c < 2; ++c) {
        CaptureMeta meta;
        meta.source = fmt::format("c{}", c);
        meta.linktype = 1;
        auto w = store->begin_capture(meta, 4000);
        // The second capture starts 2.5 ms after the first: its timeline's
        // anchor is not on the first one's 1 ms grid.
        for (const auto& p : few_hosts_packets(20000, 5 + c, t0 + c * 2'500'000)) w->append(p.get());
        w->finish(CaptureState::complete, fmt::format("sha{}", c), std::nullopt);
    }
    std::uint64_t offered = 0;
    store->scan_aggregates(
        Filter{}, [&](const BlockAggregates& a) { return offered += a.has_tables ? 1 : 0, false; },
        [](const PacketView&) { return true; });
    ASSERT_GT(offered, 5u) << "the blocks keep no tables: the test would compare rows with rows";
    Filter rows;
    rows.also(Expr::wire_min(0));
    for (const std::optional<std::int64_t> interval :
         {std::optional<std::int64_t>{}, std::optional<std::int64_t>{1'000'000},
          std::optional<std::int64_t>{7'000'000}, std::optional<std::int64_t>{1'000'000'000}})
        for (const bool tables : {true, false})
            for (const std::optional<CaptureId> capture : {std::optional<CaptureId>{}, std::optional<CaptureId>{2}}) {
                StatsOptions o;
                o.interval_ns = interval;
                o.tables = tables;
                Filter f;
                f.capture = capture;
                Filter r = rows;
                r.capture = capture;
                EXPECT_EQ(render_stats_json(compute_stats(*store, f, o)), render_stats_json(compute_stats(*store, r, o)))
                    << "interval " << interval.value_or(0) << " tables " << tables;
            }
}

// Flows with a table of a few entries (spilling) equal flows with room for
// all, and both equal a reference computed here.
TEST(Flows, SpilledEqualsInMemoryAndReference) {
    TempDir dir;
    auto store = open_sqlite_store(dir.file("t.db"), {.read_only = false, .create = true});
    CaptureMeta meta;
    meta.source = "x";
    meta.linktype = 1;
    auto w = store->begin_capture(meta, 1000);
    const auto packets = testing::random_packets(20000, 11);
    using Key = std::tuple<Address, std::uint16_t, Address, std::uint16_t, int, int>;
    std::map<Key, std::uint64_t> want;  // bytes by (lesser end, greater end, proto, ethertype)
    for (const auto& p : packets) {
        w->append(p.get());
        const Summary& s = p.view.summary;
        if (s.network == Network::none) {
            // ARP by its sender and target addresses, other non-IP by EtherType.
            const Address a = s.arp ? std::min(s.src, s.dst) : Address{},
                          b = s.arp ? std::max(s.src, s.dst) : Address{};
            want[{a, 0, b, 0, 0, s.ethertype}] += p.view.wirelen;
            continue;
        }
        const std::uint16_t sp = s.has_ports ? s.src_port : 0, dp = s.has_ports ? s.dst_port : 0;
        auto a = std::tie(s.src, sp), b = std::tie(s.dst, dp);
        const Key k = a <= b ? Key{s.src, sp, s.dst, dp, s.ip_proto, 0} : Key{s.dst, dp, s.src, sp, s.ip_proto, 0};
        want[k] += p.view.wirelen;
    }
    w->finish(CaptureState::complete, "sha", std::nullopt);

    auto run = [&](std::size_t entries, std::optional<std::uint64_t> limit, FlowSort sort) {
        FlowOptions o;
        o.max_entries = entries;
        o.limit = limit;
        o.sort = sort;
        std::vector<Flow> out;
        const FlowResult r = compute_flows(*store, Filter{}, o, [&](const Flow& f) {
            out.push_back(f);
            return true;
        });
        EXPECT_EQ(r.flows, want.size());
        if (entries < want.size()) {
            EXPECT_GT(r.spilled_runs, 0u);
        }
        return out;
    };
    const auto all = run(1 << 20, std::nullopt, FlowSort::bytes);
    ASSERT_EQ(all.size(), want.size());
    std::map<Key, std::uint64_t> got;
    for (const Flow& f : all)
        got[{f.key.a, f.key.port_a, f.key.b, f.key.port_b, f.key.proto, f.key.ethertype}] =
            f.value.a_to_b.bytes + f.value.b_to_a.bytes;
    EXPECT_EQ(got, want);
    for (std::size_t i = 1; i < all.size(); ++i)
        EXPECT_GE(all[i - 1].value.a_to_b.bytes + all[i - 1].value.b_to_a.bytes,
                  all[i].value.a_to_b.bytes + all[i].value.b_to_a.bytes);
    auto same = [](const std::vector<Flow>& x, const std::vector<Flow>& y) {
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i)
            if (!(x[i].key == y[i].key) || x[i].value.first_ns != y[i].value.first_ns ||
                !(x[i].value.a_to_b == y[i].value.a_to_b) || !(x[i].value.b_to_a == y[i].value.b_to_a))
                return false;
        return true;
    };
    for (const FlowSort sort : {FlowSort::bytes, FlowSort::packets, FlowSort::start, FlowSort::duration}) {
        const auto big = run(1 << 20, std::nullopt, sort);
        EXPECT_TRUE(same(run(50, std::nullopt, sort), big));  // spilled table and spilled sort
        const auto first = run(1 << 20, 25, sort);
        EXPECT_TRUE(same(first, std::vector<Flow>(big.begin(), big.begin() + 25)));
        EXPECT_TRUE(same(run(50, 25, sort), first));
    }
}

}  // namespace
}  // namespace capdb
