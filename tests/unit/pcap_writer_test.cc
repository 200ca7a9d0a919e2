#include "capdb/pcap_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "capdb/error.h"

namespace capdb {
namespace {

using Bytes = std::vector<std::uint8_t>;

TEST(PcapLayout, FileHeaderMicroAndNano) {
    Bytes b;
    pcap_layout::file_header(b, false, 65535, 1);
    EXPECT_EQ(b, (Bytes{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}));
    b.clear();
    pcap_layout::file_header(b, true, 262144, 113);
    EXPECT_EQ(b, (Bytes{0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 113, 0, 0, 0}));
}

TEST(PcapLayout, RecordHeaderSplitsNanoseconds) {
    Bytes b;
    // 1490492402.001234567 s
    pcap_layout::record_header(b, true, 1490492402001234567, 60, 1514);
    EXPECT_EQ(b, (Bytes{0xf2, 0x1b, 0xd7, 0x58, 0x87, 0xd6, 0x12, 0x00, 60, 0, 0, 0, 0xea, 0x05, 0, 0}));
    b.clear();
    pcap_layout::record_header(b, false, 1490492402001234000, 60, 60);
    EXPECT_EQ(b, (Bytes{0xf2, 0x1b, 0xd7, 0x58, 0xd2, 0x04, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0}));
}

TEST(PcapLayout, PcapngBlocks) {
    Bytes b;
    pcap_layout::section_header(b);
    EXPECT_EQ(b, (Bytes{0x0a, 0x0d, 0x0d, 0x0a, 28,   0,    0,    0,    0x4d, 0x3c, 0x2b, 0x1a, 1, 0,
                        0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28,   0,    0, 0}));
    b.clear();
    pcap_layout::interface_description(b, 276, 1000, 9);
    EXPECT_EQ(b, (Bytes{1, 0, 0, 0, 32, 0, 0, 0, 0x14, 0x01, 0, 0, 0xe8, 0x03, 0, 0,
                        9, 0, 1, 0, 9,  0, 0, 0, 0,    0,    0, 0, 32,   0,    0, 0}));
    b.clear();
    const Bytes data{0xaa, 0xbb, 0xcc, 0xdd, 0xee};
    pcap_layout::enhanced_packet(b, 2, 0x0000000100000002ULL, 9, data);
    EXPECT_EQ(b, (Bytes{6, 0, 0, 0, 40, 0, 0, 0, 2,    0,    0,    0,    1,    0, 0, 0, 2,  0, 0, 0,
                        5, 0, 0, 0, 9,  0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0, 0, 0, 40, 0, 0, 0}));
}

TEST(PcapLayout, DltToLinktype) {
    EXPECT_EQ(linktype_of_dlt(1), 1u);
    EXPECT_EQ(linktype_of_dlt(12), 101u);  // DLT_RAW
    EXPECT_EQ(linktype_of_dlt(113), 113u);
    EXPECT_EQ(linktype_of_dlt(276), 276u);
}

// The writer's whole output, through a memory stream.
struct MemoryOut {
    char* data = nullptr;
    std::size_t size = 0;
    std::FILE* f = open_memstream(&data, &size);
    ~MemoryOut() {
        if (f) std::fclose(f);
        std::free(data);
    }
    Bytes bytes() {
        std::fflush(f);
        return Bytes(data, data + size);
    }
};

TEST(PcapWriter, PcapStreamIsHeaderThenRecords) {
    MemoryOut m;
    WritePlan plan;
    plan.linktype = 1;
    plan.snaplen = 100;
    PcapWriter w(m.f, "mem", plan);
    const Bytes data{1, 2, 3};
    w.write({.ts_ns = 5'000'000'000, .wirelen = 10, .linktype = 1, .snaplen = 100, .ts_precision = 6, .data = data});
    w.flush();
    Bytes want;
    pcap_layout::file_header(want, false, 100, 1);
    pcap_layout::record_header(want, false, 5'000'000'000, 3, 10);
    want.insert(want.end(), data.begin(), data.end());
    EXPECT_EQ(m.bytes(), want);
    EXPECT_EQ(w.packets(), 1u);
    EXPECT_EQ(w.bytes(), want.size());
    // Another link type, a time before 1970 or after 2106: refused.
    EXPECT_THROW(w.write({.ts_ns = 1, .wirelen = 3, .linktype = 113, .data = data}), UsageError);
    EXPECT_THROW(w.write({.ts_ns = -1, .wirelen = 3, .linktype = 1, .data = data}), UsageError);
    EXPECT_THROW(w.write({.ts_ns = 4294967296LL * 1'000'000'000, .wirelen = 3, .linktype = 1, .data = data}),
                 UsageError);
}

TEST(PcapWriter, PcapngInterfacePerLinktypeSnaplenAndPrecision) {
    MemoryOut m;
    WritePlan plan;
    plan.format = WriteFormat::pcapng;
    plan.interfaces = {{1, 65535, 6}, {113, 65535, 9}};
    PcapWriter w(m.f, "mem", plan);
    const Bytes data{1, 2, 3, 4};
    w.write({.ts_ns = 3'000'001'000, .wirelen = 4, .linktype = 113, .snaplen = 65535, .ts_precision = 9, .data = data});
    w.write({.ts_ns = 3'000'001'000, .wirelen = 4, .linktype = 1, .snaplen = 65535, .ts_precision = 6, .data = data});
    w.flush();
    Bytes want;
    pcap_layout::section_header(want);
    pcap_layout::interface_description(want, 1, 65535, 6);
    pcap_layout::interface_description(want, 113, 65535, 9);
    pcap_layout::enhanced_packet(want, 1, 3'000'001'000, 4, data);
    pcap_layout::enhanced_packet(want, 0, 3'000'001, 4, data);
    EXPECT_EQ(m.bytes(), want);
    EXPECT_THROW(w.write({.ts_ns = 1, .wirelen = 4, .linktype = 1, .snaplen = 1, .ts_precision = 6, .data = data}),
                 UsageError);
}

TEST(PcapWriter, OpenEndedPcapTakesTheFirstPacketsLinkType) {
    MemoryOut m;
    WritePlan plan;
    plan.open_ended = true;
    plan.nanosecond = true;
    plan.snaplen = 262144;
    PcapWriter w(m.f, "mem", plan);
    w.flush();
    EXPECT_TRUE(m.bytes().empty());  // no header before the first packet
    const Bytes data{1, 2, 3};
    w.write({.ts_ns = 5'000'000'001, .wirelen = 3, .linktype = 113, .data = data});
    w.flush();
    Bytes want;
    pcap_layout::file_header(want, true, 262144, 113);
    pcap_layout::record_header(want, true, 5'000'000'001, 3, 3);
    want.insert(want.end(), data.begin(), data.end());
    EXPECT_EQ(m.bytes(), want);
    EXPECT_THROW(w.write({.ts_ns = 6'000'000'000, .wirelen = 3, .linktype = 1, .data = data}), UsageError);
    w.finish();
    EXPECT_EQ(m.bytes(), want);
}

TEST(PcapWriter, OpenEndedPcapWithoutPacketsIsEthernet) {
    MemoryOut m;
    WritePlan plan;
    plan.open_ended = true;
    plan.snaplen = 262144;
    PcapWriter w(m.f, "mem", plan);
    w.finish();
    Bytes want;
    pcap_layout::file_header(want, false, 262144, 1);
    EXPECT_EQ(m.bytes(), want);
}

TEST(PcapWriter, OpenEndedPcapngAddsInterfacesAsTheyCome) {
    MemoryOut m;
    WritePlan plan;
    plan.format = WriteFormat::pcapng;
    plan.open_ended = true;
    PcapWriter w(m.f, "mem", plan);
    const Bytes data{1, 2, 3, 4};
    w.write({.ts_ns = 3'000'001'000, .wirelen = 4, .linktype = 1, .snaplen = 65535, .ts_precision = 6, .data = data});
    w.write({.ts_ns = 3'000'001'001, .wirelen = 4, .linktype = 113, .snaplen = 100, .ts_precision = 9, .data = data});
    w.write({.ts_ns = 3'000'002'000, .wirelen = 4, .linktype = 1, .snaplen = 65535, .ts_precision = 6, .data = data});
    w.finish();
    Bytes want;
    pcap_layout::section_header(want);
    pcap_layout::interface_description(want, 1, 65535, 6);
    pcap_layout::enhanced_packet(want, 0, 3'000'001, 4, data);
    pcap_layout::interface_description(want, 113, 100, 9);
    pcap_layout::enhanced_packet(want, 1, 3'000'001'001, 4, data);
    pcap_layout::enhanced_packet(want, 0, 3'000'002, 4, data);
    EXPECT_EQ(m.bytes(), want);
}

}  // namespace
}  // namespace capdb
