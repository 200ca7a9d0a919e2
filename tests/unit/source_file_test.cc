#include "capdb/source_file.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "capdb/pcap_writer.h"
#include "testutil.h"

namespace capdb {
namespace {

using Bytes = std::vector<std::uint8_t>;

SourceHeader pcap_header(bool nanosecond, std::uint32_t snaplen = 65535) {
    Bytes b;
    pcap_layout::file_header(b, nanosecond, snaplen, 1);
    auto h = parse_source_header(b);
    EXPECT_TRUE(h);
    return *h;
}

TEST(SourceHeader, PcapMagicGivesOrderAndPrecision) {
    const SourceHeader us = pcap_header(false, 1000);
    EXPECT_EQ(us.format, SourceFormat::pcap);
    EXPECT_FALSE(us.big_endian);
    EXPECT_EQ(us.ts_precision, 6u);
    EXPECT_EQ(us.snaplen, 1000u);
    EXPECT_EQ(pcap_header(true).ts_precision, 9u);
    const Bytes be{0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1};
    const auto h = parse_source_header(be);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->big_endian);
    EXPECT_EQ(h->ts_precision, 9u);
    EXPECT_EQ(h->snaplen, 65535u);
    EXPECT_FALSE(parse_source_header(Bytes{1, 2, 3, 4, 5}));
    EXPECT_FALSE(parse_source_header(Bytes{0xd4, 0xc3}));
}

TEST(SourceHeader, PcapngTakesTheFinestInterfaceResolution) {
    Bytes b;
    pcap_layout::section_header(b);
    EXPECT_EQ(parse_source_header(b)->ts_precision, 6u);  // no interface: the default
    pcap_layout::interface_description(b, 1, 1500, 6);
    pcap_layout::interface_description(b, 113, 2000, 9);
    const auto h = parse_source_header(b);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->format, SourceFormat::pcapng);
    EXPECT_EQ(h->ts_precision, 9u);
    EXPECT_EQ(h->snaplen, 1500u);
    // Cut anywhere: still no overrun.
    for (std::size_t n = 0; n < b.size(); ++n) (void)parse_source_header(std::span<const std::uint8_t>(b).first(n));
}

TEST(CheckRecord, PcapRecordMustMatchTheStoredRow) {
    const SourceHeader h = pcap_header(false);
    Bytes rec;
    pcap_layout::record_header(rec, false, 1'000'000'123'000, 4, 60);
    rec.insert(rec.end(), {9, 8, 7, 6});
    std::string why;
    auto data = check_record(h, rec, {1'000'000'123'000, 4, 60, false}, why);
    ASSERT_TRUE(data) << why;
    EXPECT_EQ(Bytes(data->begin(), data->end()), (Bytes{9, 8, 7, 6}));
    EXPECT_FALSE(check_record(h, rec, {1'000'000'124'000, 4, 60, false}, why));
    EXPECT_NE(why.find("not the stored packet's"), std::string::npos) << why;
    EXPECT_FALSE(check_record(h, rec, {1'000'000'123'000, 5, 60, false}, why));
    EXPECT_FALSE(check_record(h, rec, {1'000'000'123'000, 4, 61, false}, why));
    // A time stored as invalid keeps its seconds only.
    EXPECT_TRUE(check_record(h, rec, {1'000'000'000'000, 4, 60, true}, why));
    // Cut anywhere: an error, never an overrun.
    for (std::size_t n = 0; n < rec.size(); ++n)
        EXPECT_FALSE(
            check_record(h, std::span<const std::uint8_t>(rec).first(n), {1'000'000'123'000, 4, 60, false}, why));
}

TEST(CheckRecord, PcapngPacketBlockMustMatchTheStoredLengths) {
    Bytes b;
    pcap_layout::section_header(b);
    const SourceHeader h = *parse_source_header(b);
    Bytes epb;
    pcap_layout::enhanced_packet(epb, 0, 77, 100, Bytes{1, 2, 3});
    std::string why;
    auto data = check_record(h, epb, {77, 3, 100, false}, why);
    ASSERT_TRUE(data) << why;
    EXPECT_EQ(Bytes(data->begin(), data->end()), (Bytes{1, 2, 3}));
    EXPECT_FALSE(check_record(h, epb, {77, 3, 99, false}, why));
    EXPECT_FALSE(check_record(h, epb, {77, 2, 100, false}, why));
    Bytes idb;
    pcap_layout::interface_description(idb, 1, 100, 6);
    EXPECT_FALSE(check_record(h, idb, {77, 3, 100, false}, why));
    EXPECT_NE(why.find("no packet block"), std::string::npos) << why;
    for (std::size_t n = 0; n < 31; ++n)
        EXPECT_FALSE(check_record(h, std::span<const std::uint8_t>(epb).first(n), {77, 3, 100, false}, why));
}

void write_file(const std::string& path, const Bytes& b) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_TRUE(f);
    std::fwrite(b.data(), 1, b.size(), f);
    std::fclose(f);
}

TEST(SourceFile, ReadsCheckedRecordsAndRefusesAChangedFile) {
    testing::TempDir dir;
    const std::string path = dir.file("a.pcap");
    Bytes b;
    pcap_layout::file_header(b, true, 65535, 1);
    pcap_layout::record_header(b, true, 5'000'000'001, 2, 2);
    b.insert(b.end(), {0xab, 0xcd});
    write_file(path, b);
    {
        SourceFile f({7, path, b.size(), std::nullopt, 9});
        const auto data = f.read(0, 24, {5'000'000'001, 2, 2, false});
        EXPECT_EQ(Bytes(data.begin(), data.end()), (Bytes{0xab, 0xcd}));
        try {
            (void)f.read(3, 24, {5'000'000'002, 2, 2, false});
            ADD_FAILURE() << "a mismatched record was accepted";
        } catch (const SourceError& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("capture 7"), std::string::npos) << what;
            EXPECT_NE(what.find("packet 4"), std::string::npos) << what;
            EXPECT_EQ(e.code(), Exit::source);
        }
        EXPECT_THROW((void)f.read(0, -1, {5'000'000'001, 2, 2, false}), SourceError);
        EXPECT_THROW((void)f.read(0, 30, {5'000'000'001, 2, 2, false}), SourceError);
    }
    EXPECT_THROW(SourceFile({7, path, b.size() + 1, std::nullopt, 9}), SourceError);
    EXPECT_THROW(SourceFile({7, path, b.size(), std::int64_t{1}, 9}), SourceError);
    EXPECT_THROW(SourceFile({7, path, b.size(), std::nullopt, 6}), SourceError);
    EXPECT_THROW(SourceFile({7, dir.file("missing.pcap"), b.size(), std::nullopt, 9}), SourceError);
}

// Records read in file order come through a read-ahead window; the window
// must give the same bytes as reads out of order, across its edges.
TEST(SourceFile, SequentialAndScatteredReadsAgree) {
    testing::TempDir dir;
    const std::string path = dir.file("big.pcap");
    Bytes b;
    pcap_layout::file_header(b, false, 65535, 1);
    std::vector<std::int64_t> offsets;
    constexpr int kRecords = 3000;  // 1.5 MB: more than one window
    for (int i = 0; i < kRecords; ++i) {
        offsets.push_back(static_cast<std::int64_t>(b.size()));
        pcap_layout::record_header(b, false, std::int64_t{i} * 1000, 500, 500);
        for (int j = 0; j < 500; ++j) b.push_back(static_cast<std::uint8_t>(i + j));
    }
    write_file(path, b);
    SourceFile f({1, path, b.size(), std::nullopt, 6});
    auto expect_record = [&](int i) {
        const auto data = f.read(static_cast<std::uint64_t>(i), offsets[static_cast<std::size_t>(i)],
                                 {std::int64_t{i} * 1000, 500, 500, false});
        ASSERT_EQ(data.size(), 500u);
        for (int j = 0; j < 500; ++j) ASSERT_EQ(data[static_cast<std::size_t>(j)], static_cast<std::uint8_t>(i + j));
    };
    for (int i = 0; i < kRecords; ++i) expect_record(i);
    for (int i = kRecords - 1; i >= 0; i -= 7) expect_record(i);
}

void put32(Bytes& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// An interface description with if_tsresol and if_tsoffset (seconds).
void interface_with_offset(Bytes& b, std::uint8_t tsresol, std::uint64_t offset_s) {
    put32(b, 1);
    put32(b, 44);
    put32(b, 1);  // Ethernet, reserved
    put32(b, 65535);
    put32(b, 9 | 1u << 16);  // if_tsresol, length 1
    put32(b, tsresol);
    put32(b, 14 | 8u << 16);  // if_tsoffset, length 8
    put32(b, static_cast<std::uint32_t>(offset_s));
    put32(b, static_cast<std::uint32_t>(offset_s >> 32));
    put32(b, 0);
    put32(b, 44);
}

// pcapng timestamps are checked by the interface of the packet's own
// section: its if_tsresol (decimal or binary) and if_tsoffset, also for
// interfaces described after the first packet and in a second section.
TEST(SourceFile, PcapngTimesByTheirSectionsInterfaces) {
    testing::TempDir dir;
    const std::string path = dir.file("s.pcapng");
    const Bytes data{1, 2, 3, 4};
    Bytes b;
    struct Packet {
        std::int64_t offset;
        std::int64_t ts_ns;
    };
    std::vector<Packet> packets;
    auto packet = [&](std::uint32_t interface, std::uint64_t units, std::int64_t ts_ns) {
        packets.push_back({static_cast<std::int64_t>(b.size()), ts_ns});
        pcap_layout::enhanced_packet(b, interface, units, 4, data);
    };
    pcap_layout::section_header(b);
    pcap_layout::interface_description(b, 1, 65535, 6);
    packet(0, 1'000'000'500'000, 1'000'000'500'000'000);  // microseconds
    interface_with_offset(b, 0x80 | 10, 100);             // 2^-10 s, +100 s
    packet(1, 5 * 1024 + 512, 105'500'000'000);
    pcap_layout::section_header(b);
    interface_with_offset(b, 3, 0);  // milliseconds
    packet(0, 7'001, 7'001'000'000);
    write_file(path, b);

    SourceFile f({1, path, b.size(), std::nullopt, std::nullopt});
    for (std::size_t i = 0; i < packets.size(); ++i) {
        const auto got = f.read(i, packets[i].offset, {packets[i].ts_ns, 4, 4, false});
        EXPECT_EQ(Bytes(got.begin(), got.end()), data) << i;
    }
    for (std::size_t i = 0; i < packets.size(); ++i) {
        SourceFile fresh({1, path, b.size(), std::nullopt, std::nullopt});
        try {
            (void)fresh.read(i, packets[i].offset, {packets[i].ts_ns + 1, 4, 4, false});
            ADD_FAILURE() << "packet " << i << ": a wrong time was accepted";
        } catch (const SourceError& e) {
            EXPECT_NE(std::string(e.what()).find("time"), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace capdb
