#include "store/format/page_codec.h"

#include <gtest/gtest.h>

#include <zstd.h>

#include <algorithm>
#include <random>
#include <set>

#include "capdb/error.h"
#include "capdb/filter.h"
#include "store/format/host_grouping.h"
#include "testutil.h"

namespace capdb::store {
namespace {

void expect_same(const PacketView& a, const PacketView& b) {
    EXPECT_EQ(a.ts_ns, b.ts_ns);
    EXPECT_EQ(a.caplen, b.caplen);
    EXPECT_EQ(a.wirelen, b.wirelen);
    EXPECT_EQ(a.file_offset, b.file_offset);
    EXPECT_EQ(a.linktype, b.linktype);
    EXPECT_EQ(a.if_index, b.if_index);
    EXPECT_EQ(a.time_invalid, b.time_invalid);
    EXPECT_EQ(a.summary.status, b.summary.status);
    EXPECT_EQ(a.summary.network, b.summary.network);
    EXPECT_EQ(a.summary.ethertype, b.summary.ethertype);
    EXPECT_EQ(a.summary.has_ports, b.summary.has_ports);
    EXPECT_EQ(a.summary.fragment, b.summary.fragment);
    EXPECT_EQ(a.summary.arp, b.summary.arp);
    if (a.summary.arp) {
        EXPECT_EQ(a.summary.src, b.summary.src);
        EXPECT_EQ(a.summary.dst, b.summary.dst);
    }
    if (a.summary.network != Network::none) {
        EXPECT_EQ(a.summary.ip_proto, b.summary.ip_proto);
        EXPECT_EQ(a.summary.src, b.summary.src);
        EXPECT_EQ(a.summary.dst, b.summary.dst);
    }
    if (a.summary.has_ports) {
        EXPECT_EQ(a.summary.src_port, b.summary.src_port);
        EXPECT_EQ(a.summary.dst_port, b.summary.dst_port);
    }
    EXPECT_EQ(a.summary.tunnel, b.summary.tunnel);
    EXPECT_EQ(a.summary.tunnel_layers, b.summary.tunnel_layers);
    EXPECT_EQ(a.summary.has_tunnel_id, b.summary.has_tunnel_id);
    EXPECT_EQ(a.summary.tunnel_id, b.summary.tunnel_id);
    EXPECT_EQ(a.summary.outer_network, b.summary.outer_network);
    EXPECT_EQ(a.summary.outer_src, b.summary.outer_src);
    EXPECT_EQ(a.summary.outer_dst, b.summary.outer_dst);
    EXPECT_TRUE(std::equal(a.preview.begin(), a.preview.end(), b.preview.begin(), b.preview.end()));
}

// Rows in batch order, addresses not numbered yet.
std::vector<RowRef> rows_of(const PacketBatch& batch) {
    std::vector<RowRef> rows;
    std::uint32_t i = 0;
    for (const auto& p : batch.packets) rows.push_back({&p, batch.arena.data() + p.preview_off, i++});
    return rows;
}

// Rows in batch order, addresses numbered.
std::vector<RowRef> refs(const PacketBatch& batch, AddressTable& table) {
    auto rows = rows_of(batch);
    number_addresses(rows, table);
    return rows;
}
std::vector<RowRef> refs(const PacketBatch& batch) {
    AddressTable table;
    return refs(batch, table);
}

void encode_all(const PacketBatch& batch, EncodedPage& page) {
    PageEncoder enc;
    enc.encode(refs(batch), page);
}

TEST(PageCodec, RoundTripsEveryField) {
    auto packets = testing::random_packets(kPageRows, 7);
    packets[3].view.file_offset = -1;  // unknown offsets survive too
    packets[4].view.ts_ns = -5;        // before 1970
    packets[5].view.wirelen = 0;       // caplen > wirelen
    packets[6].view.time_invalid = true;
    packets[7].view.time_invalid = true;
    packets[7].view.summary.status = Status::malformed;  // the flag beside every status
    PacketBatch batch;
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

// Puts some of the packets in tunnels: every third in one of each type,
// with or without an id and an IPv4 or IPv6 outer header (or none).
void tunnel_some(std::vector<testing::OwnedPacket>& packets) {
    for (std::size_t i = 0; i < packets.size(); i += 3) {
        Summary& s = packets[i].view.summary;
        s.tunnel = static_cast<Tunnel>(1 + (i / 3) % kMaxTunnelKind);
        s.tunnel_layers = static_cast<std::uint8_t>(1 + i % kMaxTunnelLayers);
        s.has_tunnel_id = i % 2 == 0;
        s.tunnel_id = s.has_tunnel_id ? static_cast<std::uint32_t>(i * 2654435761u) : 0;
        const auto k = (i / 3) % 3;
        if (k == 0) continue;
        s.outer_network = k == 1 ? Network::ipv4 : Network::ipv6;
        s.outer_src = *parse_address(k == 1 ? "198.51.100.1" : "2001:db8:f0::1");
        s.outer_dst = *parse_address(k == 1 ? (i % 2 ? "198.51.100.2" : "198.51.100.3") : "2001:db8:f0::2");
    }
}

TEST(PageCodec, TunnelFieldsRoundTrip) {
    auto packets = testing::random_packets(kPageRows, 9);
    tunnel_some(packets);
    PacketBatch batch;
    std::set<Address> expected;
    for (const auto& p : packets) {
        batch.add(p.get());
        const Summary& s = p.view.summary;
        if (s.network != Network::none || s.arp) {
            expected.insert(s.src);
            expected.insert(s.dst);
        }
        if (s.outer_network != Network::none) {
            expected.insert(s.outer_src);
            expected.insert(s.outer_dst);
        }
    }
    EncodedPage page;
    encode_all(batch, page);
    // The outer addresses are dictionary entries, so the postings name them.
    const std::set<Address> got(page.addresses.begin(), page.addresses.end());
    EXPECT_EQ(got, expected);
    DecodedPage dec;
    dec.decode(page.data, 1, 0);
    ASSERT_EQ(dec.packets().size(), packets.size());
    for (std::size_t i = 0; i < packets.size(); ++i) {
        SCOPED_TRACE(i);
        expect_same(packets[i].get(), dec.packets()[i]);
    }
    // The page decoder answers outer address terms from the dictionary masks
    // as matches() does from the prefixes.
    for (const char* text : {"outer host 198.51.100.2", "outer src net 2001:db8:f0::/64",
                             "inner net 10.0.0.0/16 and outer net 198.51.100.0/24", "host 198.51.100.3 or vni 7",
                             "not outer host 198.51.100.1 and tunnel", "gtp or erspan"}) {
        SCOPED_TRACE(text);
        const Expr e = parse_expression({text});
        RowPredicate pred;
        pred.expr = &e;
        std::size_t want = 0;
        for (const auto& p : packets) want += matches(e, p.get()) ? 1u : 0u;
        EXPECT_GT(want, 0u);
        EXPECT_EQ(dec.count(page.data, pred), want);
    }
}

// Untunnelled rows cost the tunnel stream one zero byte each before
// compression: measured here after it.
TEST(PageCodec, UntunnelledRowsCostLittle) {
    auto packets = testing::random_packets(kPageRows, 7);
    PacketBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    EncodedPage page;
    encode_all(batch, page);
    std::vector<std::uint8_t> raw(ZSTD_getFrameContentSize(page.data.data(), page.data.size()));
    ASSERT_FALSE(ZSTD_isError(ZSTD_decompress(raw.data(), raw.size(), page.data.data(),
                                              ZSTD_findFrameCompressedSize(page.data.data(), page.data.size()))));
    // 256 zero bytes in the raw page, which zstd takes in a few bytes.
    EXPECT_EQ(std::count(raw.end() - kPageRows, raw.end(), 0), static_cast<std::ptrdiff_t>(kPageRows));
}

// Rows of several interfaces and link types (a pcapng file) keep each its
// own; a page of one interface writes no per-row interface stream.
TEST(PageCodec, EachRowKeepsItsInterface) {
    auto packets = testing::random_packets(kPageRows, 9);
    for (std::size_t i = 0; i < packets.size(); ++i) {
        packets[i].view.if_index = static_cast<std::uint32_t>(i % 3);
        packets[i].view.linktype = i % 3 == 0 ? 1u : i % 3 == 1 ? 113u : 12u;
    }
    PacketBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    EncodedPage page;
    encode_all(batch, page);
    DecodedPage dec;
    dec.decode(page.data, 1, 0);
    ASSERT_EQ(dec.packets().size(), packets.size());
    for (std::size_t i = 0; i < packets.size(); ++i) {
        SCOPED_TRACE(i);
        expect_same(packets[i].get(), dec.packets()[i]);
    }
    // One interface: the same page but for the stream.
    PacketBatch one;
    for (auto& p : packets) {
        p.view.if_index = 4;
        p.view.linktype = 276;
        one.add(p.get());
    }
    EncodedPage single;
    encode_all(one, single);
    dec.decode(single.data, 1, 0);
    for (const auto& p : dec.packets()) {
        EXPECT_EQ(p.if_index, 4u);
        EXPECT_EQ(p.linktype, 276u);
    }
}

// A version-3 page (schema 2 and 3 databases hold only those) still
// decodes: every row on interface 0 with the page's link type.
TEST(PageCodec, Version3PagesStillDecode) {
    const std::vector<std::uint8_t> raw = {
        3,                                      // version
        1,                                      // rows
        113,                                    // link type (varint)
        0x80, 0x01,                             // zigzag(ts_min) = zigzag(64)
        0,                                      // dictionary size
        1,    1,    1,    1, 1, 1, 2, 0, 0, 3,  // the ten stream sizes
        0,                                      // seq
        0,                                      // ts - ts_min
        60,                                     // caplen
        0,                                      // wire - caplen
        48,                                     // zigzag(offset 24)
        1,                                      // flags: non_ip, no network
        0x08, 0x06,                             // ethertype
        2,    0xaa, 0xbb,                       // preview
    };
    std::vector<std::uint8_t> compressed(ZSTD_compressBound(raw.size()));
    compressed.resize(ZSTD_compress(compressed.data(), compressed.size(), raw.data(), raw.size(), 1));
    DecodedPage dec;
    dec.decode(compressed, 7, 100);
    ASSERT_EQ(dec.packets().size(), 1u);
    const PacketView& p = dec.packets()[0];
    EXPECT_EQ(p.linktype, 113u);
    EXPECT_EQ(p.if_index, 0u);
    EXPECT_EQ(p.ts_ns, 64);
    EXPECT_EQ(p.caplen, 60u);
    EXPECT_EQ(p.wirelen, 60u);
    EXPECT_EQ(p.file_offset, 24);
    EXPECT_EQ(p.summary.status, Status::non_ip);
    EXPECT_EQ(p.summary.ethertype, 0x0806);
    EXPECT_EQ(p.preview.size(), 2u);
    EXPECT_EQ(p.seq, 100u);
}

// An ARP row's addresses (network 3) are a version-5 page's: a page that
// says version 4 and holds one is corrupt, not read with shifted streams.
// Version 5 keeps the previews in a second frame; a version-4 page has one.
TEST(PageCodec, ArpAddressesNeedVersion5) {
    std::vector<std::uint8_t> raw = {
        5,                                              // version
        1,                                              // rows
        1,          0,    1,                            // one interface: index 0, link type 1
        0,                                              // zigzag(ts_min) = 0
        2,          4,    10, 0, 0, 1, 4, 10, 0, 0, 2,  // dictionary: 10.0.0.1, 10.0.0.2
        1,          1,    1,  1, 1, 1, 2, 2,  0, 1, 0,  // the eleven stream sizes
        0,                                              // seq
        0,                                              // ts - ts_min
        60,                                             // caplen
        0,                                              // wire - caplen
        48,                                             // zigzag(offset 24)
        1 | 3 << 3,                                     // flags: non_ip, network 3 (ARP)
        0x08,       0x06,                               // ethertype
        0,          1,                                  // sender, target
    };
    const std::vector<std::uint8_t> previews = {0};  // one row, no preview
    auto frame = [](const std::vector<std::uint8_t>& content) {
        std::vector<std::uint8_t> out(ZSTD_compressBound(content.size()));
        out.resize(ZSTD_compress(out.data(), out.size(), content.data(), content.size(), 1));
        return out;
    };
    auto decode = [&](bool second_frame) {
        std::vector<std::uint8_t> page = frame(raw);
        if (second_frame) {
            const auto p = frame(previews);
            page.insert(page.end(), p.begin(), p.end());
        }
        DecodedPage dec;
        dec.decode(page, 7, 100);
        return dec.packets();
    };
    const auto rows = decode(true);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_TRUE(rows[0].summary.arp);
    EXPECT_EQ(rows[0].summary.network, Network::none);
    EXPECT_EQ(rows[0].summary.src.to_string(), "10.0.0.1");
    EXPECT_EQ(rows[0].summary.dst.to_string(), "10.0.0.2");
    EXPECT_TRUE(rows[0].preview.empty());
    EXPECT_THROW(decode(false), DatabaseError);  // no preview frame
    raw[0] = 4;
    raw.push_back(0);  // version 4: the preview stream in the one frame
    EXPECT_THROW(decode(false), DatabaseError);
    EXPECT_THROW(decode(true), DatabaseError);  // and nothing after it
}

// A count reads no preview: it does not need the second frame, while a
// decode does, and notices a damaged one.
TEST(PageCodec, CountSkipsThePreviewFrame) {
    auto packets = testing::random_packets(kPageRows, 23);
    PacketBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    EncodedPage page;
    encode_all(batch, page);
    const std::size_t first = ZSTD_findFrameCompressedSize(page.data.data(), page.data.size());
    ASSERT_LT(first, page.data.size());
    RowPredicate all;
    DecodedPage dec;
    EXPECT_EQ(dec.count(std::span<const std::uint8_t>(page.data).first(first), all), kPageRows);
    auto bad = page.data;
    bad.back() ^= 0x40;  // the preview frame's checksum
    EXPECT_EQ(dec.count(bad, all), kPageRows);
    EXPECT_THROW(dec.decode(bad, 1, 0), DatabaseError);
}

// Packets stored with --preview-bytes 0: the batch's preview arena stays
// empty (its data() may be null) and every preview comes back empty.
TEST(PageCodec, PagesWithoutPreviews) {
    auto packets = testing::random_packets(40, 8);
    PacketBatch batch;
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

TEST(PageCodec, DictionaryHoldsDistinctAddresses) {
    auto packets = testing::random_packets(kPageRows, 3);
    PacketBatch batch;
    std::set<Address> expected;
    for (const auto& p : packets) {
        batch.add(p.get());
        if (p.view.summary.network != Network::none || p.view.summary.arp) {  // ARP's addresses too
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

// A damaged page either throws DatabaseError saying the page is corrupt or,
// where the damage is undetectable (zstd frames carry no checksum, and a
// changed byte in a stream may still be a valid value), decodes to rows
// that respect the format's bounds. It never crashes or reads outside the
// page (the sanitizer build checks that).
TEST(PageCodec, CorruptPagesFailCleanly) {
    auto packets = testing::random_packets(kPageRows, 11);
    PacketBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    EncodedPage page;
    encode_all(batch, page);
    std::mt19937 rng(5);
    int rounds = 0, thrown = 0, truncated = 0, truncated_thrown = 0;
    for (int round = 0; round < 2000; ++round, ++rounds) {
        std::vector<std::uint8_t> bad = page.data;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) bad[rng() % bad.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
        const bool cut = round % 7 == 0;
        if (cut) bad.resize(rng() % bad.size());
        truncated += cut;
        DecodedPage dec;
        try {
            dec.decode(bad, 1, 1000);
        } catch (const DatabaseError& e) {
            EXPECT_NE(std::string(e.what()).find("corrupt packet page"), std::string::npos) << e.what();
            ++thrown;
            truncated_thrown += cut;
            continue;
        }
        EXPECT_LE(dec.packets().size(), kPageRows);
        for (const PacketView& p : dec.packets()) {
            EXPECT_GE(p.seq, 1000u);
            EXPECT_EQ(p.capture, 1);
            EXPECT_LE(p.preview.size(), kMaxPreviewBytes);
        }
    }
    // A cut frame is always detected; most flipped bytes are.
    EXPECT_EQ(truncated_thrown, truncated);
    EXPECT_GT(truncated, 250);
    EXPECT_GT(thrown, rounds * 3 / 4) << thrown << " of " << rounds;
}

// Pages of grouped rows round-trip, each packet with its number in the block.
TEST(PageCodec, GroupedRowsKeepTheirPacketNumbers) {
    auto packets = testing::random_packets(3 * kPageRows, 17);
    PacketBatch batch;
    for (const auto& p : packets) batch.add(p.get());
    auto rows = rows_of(batch);
    AddressTable table;
    group_by_host(rows, table);
    PageEncoder enc;
    std::vector<bool> seen(rows.size());
    for (std::size_t start = 0; start < rows.size(); start += kPageRows) {
        const auto page_rows = std::span<const RowRef>(rows).subspan(start, kPageRows);
        EncodedPage page;
        enc.encode(page_rows, page);
        ASSERT_EQ(page.addresses.size(), page.address_ids.size());
        for (std::size_t k = 0; k < page.addresses.size(); ++k)
            EXPECT_EQ(table[page.address_ids[k]], page.addresses[k]);
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

TEST(PageCodec, AddressKeys) {
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
