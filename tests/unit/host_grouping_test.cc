#include "store/format/host_grouping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "testutil.h"

namespace capdb::store {
namespace {

// Rows in batch order, addresses not numbered yet.
std::vector<RowRef> rows_of(const PacketBatch& batch) {
    std::vector<RowRef> rows;
    std::uint32_t i = 0;
    for (const auto& p : batch.packets) rows.push_back({&p, batch.arena.data() + p.preview_off, i++});
    return rows;
}

// What group_by_host promises, checked on its output without redoing it:
// the rows are a permutation of the block with their addresses numbered,
// the rows of each anchor (a row's endpoint with fewer rows in the block)
// are one contiguous run, and within it the rows with one other endpoint
// are one run in file order.
void expect_grouped(const std::vector<RowRef>& rows, const PacketBatch& batch, const AddressTable& table) {
    ASSERT_EQ(rows.size(), batch.packets.size());
    std::vector<bool> seen(rows.size());
    std::map<Address, std::uint32_t> packets_of;
    for (const RowRef& r : rows) {
        ASSERT_LT(r.index, rows.size());
        EXPECT_FALSE(seen[r.index]) << "row " << r.index << " twice";
        seen[r.index] = true;
        EXPECT_EQ(r.packet, &batch.packets[r.index]);
        const Summary& s = r.packet->summary;
        if (s.network == Network::none && !s.arp) {
            EXPECT_EQ(r.src_id, kNoAddress);
            continue;
        }
        ASSERT_LT(r.src_id, table.size());
        ASSERT_LT(r.dst_id, table.size());
        EXPECT_EQ(table[r.src_id], s.src);
        EXPECT_EQ(table[r.dst_id], s.dst);
        ++packets_of[s.src];
        if (!(s.dst == s.src)) ++packets_of[s.dst];
    }
    // (anchor, other) of a row; non-IP rows share one key.
    auto key_of = [&](const RowRef& r) -> std::pair<std::optional<Address>, std::optional<Address>> {
        const Summary& s = r.packet->summary;
        if (s.network == Network::none && !s.arp) return {};
        const auto ns = packets_of[s.src], nd = packets_of[s.dst];
        const bool src_rarer = ns < nd || (ns == nd && r.src_id <= r.dst_id);
        return src_rarer ? std::pair{std::optional{s.src}, std::optional{s.dst}}
                         : std::pair{std::optional{s.dst}, std::optional{s.src}};
    };
    std::set<std::optional<Address>> finished_anchors;
    std::set<std::pair<std::optional<Address>, std::optional<Address>>> finished_conversations;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto key = key_of(rows[i]);
        if (i > 0) {
            const auto prev = key_of(rows[i - 1]);
            if (prev == key) {
                EXPECT_LT(rows[i - 1].index, rows[i].index) << "file order within a conversation, row " << i;
                continue;
            }
            finished_conversations.insert(prev);
            if (prev.first != key.first) finished_anchors.insert(prev.first);
        }
        EXPECT_FALSE(finished_anchors.count(key.first)) << "an anchor's rows split at row " << i;
        EXPECT_FALSE(finished_conversations.count(key)) << "a conversation split at row " << i;
    }
}

// packets added to batch, as rows grouped by group_by_host (checked).
std::vector<RowRef> grouped(const std::vector<testing::OwnedPacket>& packets, PacketBatch& batch, AddressTable& table) {
    for (const auto& p : packets) batch.add(p.get());
    auto rows = rows_of(batch);
    group_by_host(rows, table);
    expect_grouped(rows, batch, table);
    return rows;
}

TEST(HostGrouping, RandomBlocksKeepTheContract) {
    for (std::uint32_t seed = 1; seed <= 20; ++seed) {
        SCOPED_TRACE(seed);
        auto packets = testing::random_packets(200 + 300 * seed, seed);
        PacketBatch batch;
        AddressTable table;
        grouped(packets, batch, table);
    }
}

// 10.0.a.b
Address ten_zero(std::uint8_t a, std::uint32_t b) {
    const std::uint8_t bytes[4] = {10, 0, a, static_cast<std::uint8_t>(b)};
    return Address::from_v4(bytes);
}

// The i-th packet of a test block: 60 bytes of IPv4 protocol proto from src
// to dst.
testing::OwnedPacket ipv4_packet(std::uint32_t i, std::uint8_t proto, const Address& src, const Address& dst) {
    testing::OwnedPacket p;
    p.view.ts_ns = 1'000'000'000 + i;
    p.view.caplen = p.view.wirelen = 60;
    p.view.linktype = 1;
    Summary& s = p.view.summary;
    s.network = Network::ipv4;
    s.ethertype = 0x0800;
    s.ip_proto = proto;
    s.src = src;
    s.dst = dst;
    return p;
}

// Where the rows with host are in a block grouped by group_by_host.
std::vector<std::size_t> rows_with(const std::vector<testing::OwnedPacket>& packets, const Address& host) {
    PacketBatch batch;
    AddressTable table;
    const auto rows = grouped(packets, batch, table);
    std::vector<std::size_t> at;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Summary& s = rows[i].packet->summary;
        if (s.src == host || s.dst == host) at.push_back(i);
    }
    return at;
}

// A rare host talking to busy hosts, its packets interleaved with theirs in
// the file, ends up in one run of rows: one page for a query about it.
TEST(HostGrouping, RareHostPacketsSitTogether) {
    std::vector<testing::OwnedPacket> packets;
    const Address rare = ten_zero(9, 9);
    for (std::uint32_t i = 0; i < 2000; ++i) {
        // The rare host's packets go to each of the busy hosts in turn.
        const Address busy = ten_zero(1, i % 40 == 0 ? (i / 40) % 4 : i % 4);
        const Address peer = ten_zero(2, i % 50);
        const bool with_rare = i % 40 == 0;  // 50 packets, each with a busy host
        packets.push_back(
            ipv4_packet(i, 17, with_rare && i % 80 == 0 ? rare : busy, with_rare ? (i % 80 == 0 ? busy : rare) : peer));
    }
    const auto at = rows_with(packets, rare);
    ASSERT_EQ(at.size(), 50u);
    EXPECT_EQ(at.back() - at.front(), 49u) << "the rare host's packets are not contiguous";
}

// A host's packets with hosts rarer than it sit in those hosts' groups; the
// groups of rare hosts that mostly talk to it follow its own, so all its
// packets end up in one run of rows, though those hosts first appear all
// over the block.
TEST(HostGrouping, RareHostsFollowTheHostTheyTalkTo) {
    std::vector<testing::OwnedPacket> packets;
    const Address host = ten_zero(9, 9);
    for (std::uint32_t i = 0; i < 3000; ++i) {
        // Four busy hosts talk to 60 others; host talks to the busy hosts
        // (60 packets) and to 20 rare hosts (3 packets each, only with it),
        // the rare ones first seen one by one through the block.
        Address src = ten_zero(1, i % 4), dst = ten_zero(2, (i / 4) % 60);
        if (i % 50 == 7) {
            src = host;
            dst = ten_zero(1, (i / 50) % 4);
        } else if (i % 50 == 25) {
            src = ten_zero(3, (i / 50) % 20);
            dst = host;
        }
        if (i % 2) std::swap(src, dst);
        packets.push_back(ipv4_packet(i, 6, src, dst));
    }
    const auto at = rows_with(packets, host);
    ASSERT_EQ(at.size(), 120u);
    EXPECT_EQ(at.back() - at.front(), 119u) << "the host's packets are not contiguous";
}

TEST(HostGrouping, AddressTableNumbersInOrderOfFirstAppearance) {
    AddressTable table;
    std::vector<Address> seen;
    std::mt19937 rng(9);
    for (int round = 0; round < 2; ++round) {
        table.clear();
        seen.clear();
        for (int i = 0; i < 5000; ++i) {
            Address a;
            a.bytes[15] = static_cast<std::uint8_t>(rng() % 64);
            a.bytes[3] = static_cast<std::uint8_t>(rng() % 64);
            const auto it = std::find(seen.begin(), seen.end(), a);
            const auto expected = static_cast<std::uint32_t>(it - seen.begin());
            if (it == seen.end()) seen.push_back(a);
            ASSERT_EQ(table.intern(a), expected);
        }
        ASSERT_EQ(table.size(), seen.size());
        for (std::uint32_t id = 0; id < table.size(); ++id) EXPECT_EQ(table[id], seen[id]);
    }
}

// In a realistic block, a rare host (one with fewer rows than each of its
// peers) has all its rows in its own group: they fill as few pages as they
// can, plus at most one where the group straddles a page boundary.
TEST(HostGrouping, RareHostsTouchFewPages) {
    auto packets = testing::random_packets(kMaxBlockRows / 4, 31);
    PacketBatch batch;
    AddressTable table;
    const auto rows = grouped(packets, batch, table);
    std::map<Address, std::set<std::size_t>> pages_of;
    std::map<Address, std::size_t> rows_of_host;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Summary& s = rows[i].packet->summary;
        if (s.network == Network::none) continue;
        pages_of[s.src].insert(i / kPageRows);
        pages_of[s.dst].insert(i / kPageRows);
        ++rows_of_host[s.src];
        if (!(s.src == s.dst)) ++rows_of_host[s.dst];
    }
    std::map<Address, bool> rare;  // fewer rows than every peer
    for (const auto& [a, n] : rows_of_host) rare[a] = true;
    for (const RowRef& r : rows) {
        const Summary& s = r.packet->summary;
        if (s.network == Network::none) continue;
        if (rows_of_host[s.src] >= rows_of_host[s.dst]) rare[s.src] = false;
        if (rows_of_host[s.dst] >= rows_of_host[s.src]) rare[s.dst] = false;
    }
    std::size_t checked = 0;
    for (const auto& [a, n] : rows_of_host) {
        if (!rare[a]) continue;
        ++checked;
        EXPECT_LE(pages_of[a].size(), (n + kPageRows - 1) / kPageRows + 1) << n << " rows";
    }
    EXPECT_GT(checked, 200u);
    EXPECT_GT(rows.size() / kPageRows, 50u);
}

}  // namespace
}  // namespace capdb::store
