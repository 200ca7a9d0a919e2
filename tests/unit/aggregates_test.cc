#include "store/format/aggregates.h"

#include <gtest/gtest.h>

#include <random>

#include "capdb/error.h"
#include "testutil.h"

namespace capdb {
namespace {

BlockAggregates build(const std::vector<testing::OwnedPacket>& packets, std::int64_t anchor) {
    store::AggregateBuilder b;
    b.reset(7, anchor);
    for (const auto& p : packets) b.add(p.view.summary, p.view.wirelen, p.view.ts_ns);
    BlockAggregates a;
    b.finish(a);
    return a;
}

// What the builder counts, checked against sums taken here; the encoding
// decodes to the same aggregates, and without the tables to all but them.
TEST(Aggregates, BuildEncodeDecode) {
    const auto packets = testing::random_packets(3000, 21);
    const std::int64_t anchor = packets.front().view.ts_ns;
    const BlockAggregates a = build(packets, anchor);
    Tally total, ipv6, arp;
    std::int64_t lo = packets.front().view.ts_ns, hi = lo;
    for (const auto& p : packets) {
        total.add(p.view.wirelen);
        if (p.view.summary.network == Network::ipv6) ipv6.add(p.view.wirelen);
        if (p.view.summary.network == Network::none) arp.add(p.view.wirelen);
        lo = std::min(lo, p.view.ts_ns);
        hi = std::max(hi, p.view.ts_ns);
    }
    EXPECT_EQ(a.total, total);
    EXPECT_EQ(a.ts_min, lo);
    EXPECT_EQ(a.ts_max, hi);
    Tally mix_total, mix_ipv6, mix_none, timeline_total;
    for (const MixGroup& g : a.mix) {
        mix_total += g.tally;
        if (g.network == 6) mix_ipv6 += g.tally;
        if (g.network == 0) mix_none += g.tally;
    }
    EXPECT_EQ(mix_total, total);
    EXPECT_EQ(mix_ipv6, ipv6);
    EXPECT_EQ(mix_none, arp);
    // 3000 packets about 1 ms apart over ~3 s: 1 ms buckets would be too
    // many for a budget of 187, 10 ms ones are not.
    EXPECT_EQ(a.resolution_ns, 100'000'000);
    for (const TimelineBucket& b : a.timeline) timeline_total += b.tally;
    EXPECT_EQ(timeline_total, total);
    // Out-of-order packets before the anchor fall in negative buckets.
    EXPECT_LT(build(packets, hi).timeline.front().index, 0);
    // random_packets draws ports from 65536: far too many for the tables.
    EXPECT_FALSE(a.has_tables);

    // Few keys: the tables are kept.
    std::vector<testing::OwnedPacket> few(packets.begin(), packets.begin() + 2000);
    for (std::size_t i = 0; i < few.size(); ++i) {
        Summary& s = few[i].view.summary;
        if (s.has_ports) s.src_port = s.dst_port = 443;
        const std::uint8_t host[4] = {10, 0, 0, static_cast<std::uint8_t>(i % 10)};
        if (s.network == Network::ipv4) s.src = s.dst = Address::from_v4(host);
        if (s.network == Network::ipv6) s.src = s.dst;
    }
    const BlockAggregates t = build(few, anchor);
    ASSERT_TRUE(t.has_tables);
    Tally endpoint_sum;
    for (const auto& [addr, tally] : t.endpoints) endpoint_sum += tally;
    Tally ip;
    for (const auto& p : few)
        if (p.view.summary.network != Network::none) ip.add(p.view.wirelen);
    EXPECT_EQ(endpoint_sum.packets, 2 * ip.packets);                // each packet for its source and its destination
    for (const AggregatePair& pr : t.pairs) EXPECT_EQ(pr.a, pr.b);  // every packet to itself

    for (const BlockAggregates& x : {a, t}) {
        const auto blob = store::encode_aggregates(x);
        BlockAggregates back;
        store::decode_aggregates(blob, back);
        back.capture = x.capture;
        back.ts_min = x.ts_min;
        back.ts_max = x.ts_max;
        EXPECT_EQ(back, x);
        BlockAggregates head;
        store::decode_aggregates(blob, head, false);
        EXPECT_EQ(head.has_tables, x.has_tables);
        EXPECT_TRUE(head.endpoints.empty() && head.pairs.empty() && head.ports.empty());
        EXPECT_EQ(head.timeline, x.timeline);
        EXPECT_EQ(head.mix, x.mix);
    }
}

// Damaged blobs (past their checksum: a bug or a fuzzer) are errors or
// bounded results, never a read outside them.
TEST(Aggregates, DamageIsAnError) {
    const auto packets = testing::random_packets(500, 4);
    std::vector<testing::OwnedPacket> few(packets.begin(), packets.end());
    for (auto& p : few)
        if (p.view.summary.has_ports) p.view.summary.src_port = p.view.summary.dst_port = 80;
    for (std::size_t i = 0; i < few.size(); ++i) {
        const std::uint8_t host[4] = {10, 0, 0, static_cast<std::uint8_t>(i % 4)};
        if (few[i].view.summary.network == Network::ipv4) few[i].view.summary.src = Address::from_v4(host);
        if (few[i].view.summary.network == Network::ipv4) few[i].view.summary.dst = Address::from_v4(host);
    }
    const BlockAggregates a = build(few, 0);
    const auto blob = store::encode_aggregates(a);
    std::mt19937 rng(9);
    std::size_t errors = 0;
    for (int i = 0; i < 3000; ++i) {
        auto b = blob;
        if (i % 3 == 0)
            b.resize(rng() % b.size());
        else
            b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        BlockAggregates out;
        try {
            store::decode_aggregates(b, out);
        } catch (const DatabaseError& e) {
            ++errors;
            EXPECT_NE(std::string(e.what()).find("block aggregates"), std::string::npos) << e.what();
        }
    }
    EXPECT_GT(errors, 1000u);
    EXPECT_TRUE(a.has_tables) << "the damage should reach the tables' frame too";
}

}  // namespace
}  // namespace capdb
