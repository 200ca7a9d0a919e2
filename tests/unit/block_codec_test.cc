#include "store/format/host_grouping.h"
#include "store/format/page_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "capdb/error.h"
#include "testutil.h"

namespace capdb::store {
namespace {

void expect_same(const PacketView& a, const PacketView& b) {
    EXPECT_EQ(a.ts_ns, b.ts_ns);
    EXPECT_EQ(a.caplen, b.caplen);
    EXPECT_EQ(a.wirelen, b.wirelen);
    EXPECT_EQ(a.file_offset, b.file_offset);
    EXPECT_EQ(a.linktype, b.linktype);
    EXPECT_EQ(a.summary.status, b.summary.status);
    EXPECT_EQ(a.summary.network, b.summary.network);
    EXPECT_EQ(a.summary.ethertype, b.summary.ethertype);
    EXPECT_EQ(a.summary.has_ports, b.summary.has_ports);
    EXPECT_EQ(a.summary.fragment, b.summary.fragment);
    if (a.summary.network != Network::none) {
        EXPECT_EQ(a.summary.ip_proto, b.summary.ip_proto);
        EXPECT_EQ(a.summary.src, b.summary.src);
        EXPECT_EQ(a.summary.dst, b.summary.dst);
    }
    if (a.summary.has_ports) {
        EXPECT_EQ(a.summary.src_port, b.summary.src_port);
        EXPECT_EQ(a.summary.dst_port, b.summary.dst_port);
    }
    EXPECT_TRUE(std::equal(a.preview.begin(), a.preview.end(), b.preview.begin(), b.preview.end()));
}

// Rows in batch order, addresses not numbered yet.
std::vector<RowRef> rows_of(const PendingBatch& batch) {
    std::vector<RowRef> rows;
    std::uint32_t i = 0;
    for (const auto& p : batch.packets) rows.push_back({&p, batch.arena.data() + p.preview_off, i++});
    return rows;
}

// Rows in batch order, addresses numbered.
std::vector<RowRef> refs(const PendingBatch& batch, AddressTable& table) {
    auto rows = rows_of(batch);
    number_addresses(rows, table);
    return rows;
}
std::vector<RowRef> refs(const PendingBatch& batch) {
    AddressTable table;
    return refs(batch, table);
}

void encode_all(const PendingBatch& batch, EncodedPage& page) {
    PageEncoder enc;
    enc.encode(refs(batch), 1, page);
}

TEST(BlockCodec, RoundTripsEveryField) {
    auto packets = testing::random_packets(kPageRows, 7);
    packets[3].view.file_offset = -1;  // unknown offsets survive too
    packets[4].view.ts_ns = -5;        // before 1970
    packets[5].view.wirelen = 0;       // caplen > wirelen
    PendingBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    EncodedPage page;
    encode_all(batch, page);
    EXPECT_EQ(page.packets, kPageRows);
    EXPECT_LT(page.data.size(), kPageRows * 40);  // compressed well below the raw fields

    DecodedPage dec;
    dec.decode(page.data, 42, 1000);
    ASSERT_EQ(dec.packets().size(), packets.size());
    std::int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (std::size_t i = 0; i < packets.size(); ++i) {
        SCOPED_TRACE(i);
        expect_same(packets[i].get(), dec.packets()[i]);
        EXPECT_EQ(dec.packets()[i].capture, 42);
        EXPECT_EQ(dec.packets()[i].seq, 1000 + i);
        lo = std::min(lo, packets[i].view.ts_ns);
        hi = std::max(hi, packets[i].view.ts_ns);
    }
    EXPECT_EQ(page.ts_min, lo);
    EXPECT_EQ(page.ts_max, hi);
}

// Packets stored with --preview-bytes 0: the batch's preview arena stays
// empty (its data() may be null) and every preview comes back empty.
TEST(BlockCodec, PagesWithoutPreviews) {
    auto packets = testing::random_packets(40, 8);
    PendingBatch batch;
    for (auto& p : packets) {
        p.preview.clear();
        batch.add(p.get());
    }
    ASSERT_TRUE(batch.arena.empty());
    EncodedPage page;
    encode_all(batch, page);
    DecodedPage dec;
    dec.decode(page.data, 1, 0);
    ASSERT_EQ(dec.packets().size(), packets.size());
    for (std::size_t i = 0; i < packets.size(); ++i) {
        EXPECT_TRUE(dec.packets()[i].preview.empty());
        expect_same(packets[i].get(), dec.packets()[i]);
    }
}

TEST(BlockCodec, DictionaryHoldsDistinctAddresses) {
    auto packets = testing::random_packets(kPageRows, 3);
    PendingBatch batch;
    std::set<Address> expected;
    for (const auto& p : packets) {
        batch.add(p.get());
        if (p.view.summary.network != Network::none) {
            expected.insert(p.view.summary.src);
            expected.insert(p.view.summary.dst);
        }
    }
    EncodedPage page;
    encode_all(batch, page);
    std::set<Address> got(page.addresses.begin(), page.addresses.end());
    EXPECT_EQ(got, expected);
    EXPECT_EQ(got.size(), page.addresses.size());
}

TEST(BlockCodec, CorruptPagesFailCleanly) {
    auto packets = testing::random_packets(kPageRows, 11);
    PendingBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    EncodedPage page;
    encode_all(batch, page);
    std::mt19937 rng(5);
    int failures = 0;
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::uint8_t> bad = page.data;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) bad[rng() % bad.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
        if (round % 7 == 0) bad.resize(rng() % bad.size());
        DecodedPage dec;
        try {
            dec.decode(bad, 1, 0);
        } catch (const DatabaseError&) {
            ++failures;
        }
    }
    EXPECT_GT(failures, 0);
}

// Checks the grouping contract of group_by_host on rows (already grouped):
// numbers match addresses, each group (rarer endpoint) and each conversation
// within it is contiguous, a conversation keeps file order, groups come in
// depth-first order of the forest of dominant peers, and a group starts
// with its conversation with its parent, the others in order of first
// appearance.
void expect_grouped(const std::vector<RowRef>& rows, const AddressTable& table) {
    constexpr std::uint32_t non_ip = kNoAddress;  // the non-IP group's anchor here
    std::map<std::uint32_t, std::uint32_t> packets_of;
    for (const RowRef& r : rows) {
        const Summary& s = r.packet->summary;
        if (s.network == Network::none) {
            EXPECT_EQ(r.src_id, kNoAddress);
            continue;
        }
        ASSERT_LT(r.src_id, table.size());
        ASSERT_LT(r.dst_id, table.size());
        EXPECT_EQ(table[r.src_id], s.src);
        EXPECT_EQ(table[r.dst_id], s.dst);
        ++packets_of[r.src_id];
        if (r.dst_id != r.src_id) ++packets_of[r.dst_id];
    }
    using Conversation = std::pair<std::uint32_t, std::uint32_t>;  // anchor, other
    auto anchor_of = [&](const RowRef& r) -> Conversation {
        if (r.src_id == kNoAddress) return {non_ip, kNoAddress};
        const auto ns = packets_of[r.src_id], nd = packets_of[r.dst_id];
        const bool src = ns < nd || (ns == nd && r.src_id < r.dst_id);
        return src ? std::pair{r.src_id, r.dst_id} : std::pair{r.dst_id, r.src_id};
    };
    // The expected layout, from the rows in file order: conversations in
    // order of first appearance with their rows, each group's parent.
    std::vector<const RowRef*> file_order;
    for (const RowRef& r : rows) file_order.push_back(&r);
    std::sort(file_order.begin(), file_order.end(), [](const RowRef* a, const RowRef* b) { return a->index < b->index; });
    std::vector<Conversation> conversations;  // in order of first appearance
    std::map<Conversation, std::uint32_t> rows_in;
    std::vector<std::uint32_t> anchors;  // in order of first appearance of a conversation
    for (const RowRef* r : file_order) {
        const auto conv = anchor_of(*r);
        if (rows_in[conv]++ == 0) {
            if (std::none_of(conversations.begin(), conversations.end(), [&](const Conversation& c) { return c.first == conv.first; }))
                anchors.push_back(conv.first);
            conversations.push_back(conv);
        }
    }
    std::map<std::uint32_t, Conversation> parent_conversation;
    for (const auto& conv : conversations) {
        if (conv.first == non_ip || conv.first == conv.second) continue;
        const auto it = parent_conversation.find(conv.first);
        if (it == parent_conversation.end() || rows_in[conv] > rows_in[it->second]) parent_conversation[conv.first] = conv;
    }
    std::map<std::uint32_t, std::vector<std::uint32_t>> children;
    for (std::uint32_t a : anchors)
        if (parent_conversation.count(a)) children[parent_conversation[a].second].push_back(a);
    std::vector<std::uint32_t> roots;
    for (std::uint32_t id = 0; id < table.size(); ++id) {
        if (parent_conversation.count(id)) continue;
        if (children.count(id) || std::count(anchors.begin(), anchors.end(), id)) roots.push_back(id);
    }
    if (std::count(anchors.begin(), anchors.end(), non_ip)) roots.push_back(non_ip);
    std::vector<Conversation> expected;
    std::function<void(std::uint32_t)> lay_out = [&](std::uint32_t node) {
        const auto parent = parent_conversation.find(node);
        if (parent != parent_conversation.end()) expected.push_back(parent->second);
        for (const auto& conv : conversations)
            if (conv.first == node && (parent == parent_conversation.end() || conv != parent->second))
                expected.push_back(conv);
        for (std::uint32_t child : children[node]) lay_out(child);
    };
    for (std::uint32_t root : roots) lay_out(root);
    ASSERT_EQ(expected.size(), conversations.size());

    std::size_t next = 0;  // in expected
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto conv = anchor_of(rows[i]);
        if (i > 0 && anchor_of(rows[i - 1]) == conv) {
            EXPECT_LT(rows[i - 1].index, rows[i].index) << "file order within a conversation";
            continue;
        }
        ASSERT_LT(next, expected.size()) << "conversation split at row " << i;
        ASSERT_EQ(conv, expected[next]) << "conversation out of place at row " << i;
        ++next;
    }
    EXPECT_EQ(next, expected.size());
}

// packets added to batch, as rows grouped by group_by_host (checked).
std::vector<RowRef> grouped(const std::vector<testing::OwnedPacket>& packets, PendingBatch& batch,
                            AddressTable& table) {
    for (const auto& p : packets) batch.add(p.get());
    auto rows = rows_of(batch);
    group_by_host(rows, table);
    expect_grouped(rows, table);
    return rows;
}

// Grouping keeps every packet's number in the block, and pages round-trip.
TEST(BlockCodec, HostGroupingKeepsPacketNumbers) {
    auto packets = testing::random_packets(3 * kPageRows, 17);
    PendingBatch batch;
    AddressTable table;
    const auto rows = grouped(packets, batch, table);
    PageEncoder enc;
    std::vector<bool> seen(rows.size());
    for (std::size_t start = 0; start < rows.size(); start += kPageRows) {
        const auto page_rows = std::span<const RowRef>(rows).subspan(start, kPageRows);
        EncodedPage page;
        enc.encode(page_rows, 1, page);
        ASSERT_EQ(page.addresses.size(), page.address_ids.size());
        for (std::size_t k = 0; k < page.addresses.size(); ++k) EXPECT_EQ(table[page.address_ids[k]], page.addresses[k]);
        DecodedPage dec;
        dec.decode(page.data, 1, 500);
        ASSERT_EQ(dec.packets().size(), page_rows.size());
        for (std::size_t i = 0; i < page_rows.size(); ++i) {
            const PacketView& p = dec.packets()[i];
            ASSERT_GE(p.seq, 500u);
            const std::size_t k = p.seq - 500;
            ASSERT_LT(k, rows.size());
            EXPECT_FALSE(seen[k]);
            seen[k] = true;
            EXPECT_EQ(k, page_rows[i].index);
            expect_same(packets[k].get(), p);
        }
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
    PendingBatch batch;
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
TEST(BlockCodec, RareHostPacketsSitTogether) {
    std::vector<testing::OwnedPacket> packets;
    const Address rare = ten_zero(9, 9);
    for (std::uint32_t i = 0; i < 2000; ++i) {
        // The rare host's packets go to each of the busy hosts in turn.
        const Address busy = ten_zero(1, i % 40 == 0 ? (i / 40) % 4 : i % 4);
        const Address peer = ten_zero(2, i % 50);
        const bool with_rare = i % 40 == 0;  // 50 packets, each with a busy host
        packets.push_back(ipv4_packet(i, 17, with_rare && i % 80 == 0 ? rare : busy,
                                      with_rare ? (i % 80 == 0 ? busy : rare) : peer));
    }
    const auto at = rows_with(packets, rare);
    ASSERT_EQ(at.size(), 50u);
    EXPECT_EQ(at.back() - at.front(), 49u) << "the rare host's packets are not contiguous";
}

// A host's packets with hosts rarer than it sit in those hosts' groups; the
// groups of rare hosts that mostly talk to it follow its own, so all its
// packets end up in one run of rows, though those hosts first appear all
// over the block.
TEST(BlockCodec, RareHostsFollowTheHostTheyTalkTo) {
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

TEST(BlockCodec, AddressTableNumbersInOrderOfFirstAppearance) {
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

TEST(BlockCodec, AddressKeys) {
    const std::uint8_t v4[4] = {192, 0, 2, 1};
    const Address a4 = Address::from_v4(v4);  // address_key views into its argument
    auto k = address_key(a4);
    ASSERT_EQ(k.size(), 4u);
    EXPECT_EQ(k[0], 192);
    std::uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8};
    const Address a6 = Address::from_v6(v6);
    EXPECT_EQ(address_key(a6).size(), 16u);
}

}  // namespace
}  // namespace capdb::store
