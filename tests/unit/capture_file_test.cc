#include "capdb/capture_file.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "testutil.h"

namespace capdb {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Byte-order aware writers for crafted files.
struct Out {
    bool be = false;
    Bytes b;
    void u8(std::uint8_t v) { b.push_back(v); }
    void u16(std::uint16_t v) {
        for (int i = 0; i < 2; ++i) b.push_back(static_cast<std::uint8_t>(v >> (be ? 8 - 8 * i : 8 * i)));
    }
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (be ? 24 - 8 * i : 8 * i)));
    }
    void bytes(const Bytes& v) { b.insert(b.end(), v.begin(), v.end()); }
    void pad() {
        while (b.size() % 4) b.push_back(0);
    }
};

// A pcapng block: type, length, body (padded), length.
void block(Out& o, std::uint32_t type, const Bytes& body) {
    Out inner{o.be, body};
    inner.pad();
    const auto len = static_cast<std::uint32_t>(12 + inner.b.size());
    o.u32(type);
    o.u32(len);
    o.bytes(inner.b);
    o.u32(len);
}

Bytes shb(bool be) {
    Out o{be, {}};
    o.u32(0x1a2b3c4d);
    o.u16(1);
    o.u16(0);
    o.u32(0xffffffff);
    o.u32(0xffffffff);
    Out blk{be, {}};
    block(blk, pcapng::kSectionHeader, o.b);
    return blk.b;
}

struct Option {
    std::uint16_t code;
    Bytes value;
};

Bytes idb(bool be, std::uint16_t linktype, std::uint32_t snaplen, const std::vector<Option>& options = {}) {
    Out o{be, {}};
    o.u16(linktype);
    o.u16(0);
    o.u32(snaplen);
    for (const auto& opt : options) {
        o.u16(opt.code);
        o.u16(static_cast<std::uint16_t>(opt.value.size()));
        o.bytes(opt.value);
        o.pad();
    }
    if (!options.empty()) o.u32(0);
    Out blk{be, {}};
    block(blk, pcapng::kInterface, o.b);
    return blk.b;
}

Bytes epb(bool be, std::uint32_t iface, std::uint64_t units, const Bytes& data, std::uint32_t wirelen = 0) {
    Out o{be, {}};
    o.u32(iface);
    o.u32(static_cast<std::uint32_t>(units >> 32));
    o.u32(static_cast<std::uint32_t>(units));
    o.u32(static_cast<std::uint32_t>(data.size()));
    o.u32(wirelen ? wirelen : static_cast<std::uint32_t>(data.size()));
    o.bytes(data);
    Out blk{be, {}};
    block(blk, pcapng::kEnhancedPacket, o.b);
    return blk.b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

struct Parsed {
    std::vector<RawPacket> packets;
    std::vector<Bytes> data;
    std::vector<CaptureInterface> interfaces;
    std::string error;
    bool complete = false;  // every byte consumed
};

// Parses bytes, offering `piece` more at a time (0: all at once).
Parsed parse(const Bytes& in, std::size_t piece = 0) {
    Parsed out;
    CaptureParser p;
    std::size_t used = 0, avail = piece ? std::min(piece, in.size()) : in.size();
    try {
        for (;;) {
            RawPacket raw;
            const auto s = p.next(std::span<const std::uint8_t>(in).subspan(used, avail - used),
                                  static_cast<std::int64_t>(used), raw);
            if (s.kind == CaptureParser::Step::need) {
                if (avail == in.size()) break;
                avail = std::min(in.size(), avail + piece);
                continue;
            }
            if (s.kind == CaptureParser::Step::packet) {
                out.packets.push_back(raw);
                out.data.emplace_back(raw.data.begin(), raw.data.end());
            }
            used += s.size;
        }
    } catch (const CaptureFormatError& e) {
        out.error = e.what();
    }
    out.interfaces = p.interfaces();
    out.complete = used == in.size();
    return out;
}

const Bytes kFrame(60, 0xab);

TEST(CaptureFile, PcapBothByteOrdersAndPrecisions) {
    for (bool be : {false, true}) {
        for (bool nano : {false, true}) {
            Out o{be, {}};
            o.u32(nano ? 0xa1b23c4d : 0xa1b2c3d4);
            o.u16(2);
            o.u16(4);
            o.u32(0);
            o.u32(0);
            o.u32(65535);
            o.u32(101);  // LINKTYPE_RAW: DLT_RAW 12
            o.u32(1'500'000'000);
            o.u32(nano ? 123'456'789 : 123'456);
            o.u32(60);
            o.u32(80);
            o.bytes(kFrame);
            o.u32(1'500'000'001);
            o.u32(nano ? 1'000'000'000 : 1'000'000);  // out of range: flagged, seconds kept
            o.u32(0);
            o.u32(0);
            const Parsed r = parse(o.b);
            ASSERT_TRUE(r.error.empty()) << r.error;
            ASSERT_EQ(r.packets.size(), 2u);
            EXPECT_EQ(r.packets[0].ts_ns, 1'500'000'000'000'000'000 + (nano ? 123'456'789 : 123'456'000));
            EXPECT_EQ(r.packets[0].caplen, 60u);
            EXPECT_EQ(r.packets[0].wirelen, 80u);
            EXPECT_EQ(r.packets[0].file_offset, 24);
            EXPECT_EQ(r.packets[0].linktype, 12u);
            EXPECT_EQ(r.data[0], kFrame);
            EXPECT_TRUE(r.packets[1].time_invalid);
            EXPECT_EQ(r.packets[1].ts_ns, 1'500'000'001'000'000'000);
            EXPECT_EQ(r.packets[1].file_offset, 24 + 16 + 60);
            EXPECT_TRUE(r.complete);
        }
    }
}

TEST(CaptureFile, PcapRecordBeyondSnaplenIsCut) {
    Out o{false, {}};
    for (std::uint32_t v : {0xa1b2c3d4u, 0x00040002u, 0u, 0u, 32u, 1u}) o.u32(v);
    for (std::uint32_t v : {1u, 0u, 60u, 60u}) o.u32(v);
    o.bytes(kFrame);
    const Parsed r = parse(o.b);
    ASSERT_EQ(r.packets.size(), 1u);
    EXPECT_EQ(r.packets[0].caplen, 32u);
    EXPECT_EQ(r.packets[0].wirelen, 60u);
    EXPECT_TRUE(r.complete);
}

TEST(CaptureFile, PcapngInterfacesOfSeveralLinkTypes) {
    const Bytes file = cat({shb(false), idb(false, 1, 0, {{2, {'e', 't', 'h', '0'}}, {3, {'w', 'i', 'r', 'e', 0}}}),
                            idb(false, 113, 128, {{9, {9}}}), epb(false, 1, 1'500'000'000'000'000'007ull, kFrame),
                            epb(false, 0, 1'500'000'000'000'001ull, kFrame, 100)});
    const Parsed r = parse(file);
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.packets.size(), 2u);
    EXPECT_EQ(r.packets[0].if_index, 1u);
    EXPECT_EQ(r.packets[0].linktype, 113u);
    EXPECT_EQ(r.packets[0].ts_ns, 1'500'000'000'000'000'007);
    EXPECT_EQ(r.packets[1].if_index, 0u);
    EXPECT_EQ(r.packets[1].linktype, 1u);
    EXPECT_EQ(r.packets[1].ts_ns, 1'500'000'000'000'001'000);
    EXPECT_EQ(r.packets[1].wirelen, 100u);
    ASSERT_EQ(r.interfaces.size(), 2u);
    EXPECT_EQ(r.interfaces[0].name, "eth0");
    EXPECT_EQ(r.interfaces[0].description, "wire");  // trailing NUL dropped
    EXPECT_EQ(r.interfaces[0].effective_snaplen(), kMaxCaplen);
    EXPECT_EQ(r.interfaces[1].ts_precision(), 9u);
    EXPECT_EQ(
        r.packets[0].file_offset,
        static_cast<std::int64_t>(shb(false).size() +
                                  idb(false, 1, 0, {{2, {'e', 't', 'h', '0'}}, {3, {'w', 'i', 'r', 'e', 0}}}).size() +
                                  idb(false, 113, 128, {{9, {9}}}).size()));
}

TEST(CaptureFile, SectionsInBothByteOrdersNumberInterfacesAcrossTheFile) {
    const Bytes file = cat({shb(false), idb(false, 1, 0), epb(false, 0, 1, kFrame), shb(true), idb(true, 276, 0),
                            idb(true, 101, 0, {{9, {0x80 | 20}}, {14, {0, 0, 0, 0, 0, 0, 0, 10}}}),
                            epb(true, 1, (std::uint64_t{5} << 20) + 1, kFrame), epb(true, 0, 2'000'000, kFrame)});
    const Parsed r = parse(file);
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.packets.size(), 3u);
    EXPECT_EQ(r.packets[1].if_index, 2u);
    EXPECT_EQ(r.packets[1].linktype, 12u);                            // LINKTYPE_RAW
    EXPECT_EQ(r.packets[1].ts_ns, (5 + 10) * 1'000'000'000ll + 953);  // 2^-20 s, floor; if_tsoffset 10 s
    EXPECT_EQ(r.packets[2].if_index, 1u);
    EXPECT_EQ(r.packets[2].linktype, 276u);
    EXPECT_EQ(r.packets[2].ts_ns, 2'000'000'000);
}

TEST(CaptureFile, SimpleAndObsoletePacketBlocks) {
    Out spb{false, {}};
    spb.u32(100);  // original length beyond the bytes present: caplen is what the block holds
    spb.bytes(kFrame);
    Out spb_block{false, {}};
    block(spb_block, pcapng::kSimplePacket, spb.b);
    Out opb{false, {}};
    opb.u16(1);
    opb.u16(0);
    opb.u32(0);
    opb.u32(3'000'000);
    opb.u32(60);
    opb.u32(60);
    opb.bytes(kFrame);
    Out opb_block{false, {}};
    block(opb_block, pcapng::kObsoletePacket, opb.b);
    const Parsed r = parse(cat({shb(false), idb(false, 1, 0), idb(false, 113, 0), spb_block.b, opb_block.b}));
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.packets.size(), 2u);
    EXPECT_EQ(r.packets[0].caplen, 60u);
    EXPECT_EQ(r.packets[0].wirelen, 100u);
    EXPECT_EQ(r.packets[0].ts_ns, 0);
    EXPECT_EQ(r.packets[0].if_index, 0u);
    EXPECT_EQ(r.packets[1].if_index, 1u);
    EXPECT_EQ(r.packets[1].linktype, 113u);
    EXPECT_EQ(r.packets[1].ts_ns, 3'000'000'000);
}

TEST(CaptureFile, SkipsOtherBlocks) {
    Out nrb{false, {}};
    block(nrb, 4, {0, 0, 0, 0});
    Out custom{false, {}};
    block(custom, 0x00000bad, {1, 2, 3, 4, 5});
    const Parsed r = parse(cat({shb(false), nrb.b, idb(false, 1, 0), custom.b, epb(false, 0, 1, kFrame)}));
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.packets.size(), 1u);
}

TEST(CaptureFile, BadBlocksAreErrors) {
    const Bytes head = cat({shb(false), idb(false, 1, 0)});
    Bytes mismatch = cat({head, epb(false, 0, 1, kFrame)});
    mismatch.back() ^= 0x01;  // the trailing length's high byte
    EXPECT_NE(parse(mismatch).error.find("at its end"), std::string::npos);
    EXPECT_NE(parse(cat({head, epb(false, 3, 1, kFrame)})).error.find("interface 3"), std::string::npos);
    EXPECT_NE(parse(cat({shb(false), epb(false, 0, 1, kFrame)})).error.find("before any interface"), std::string::npos);
    Bytes beyond = cat({head, epb(false, 0, 1, kFrame)});
    beyond[head.size() + 20] = 200;  // caplen past the block
    EXPECT_NE(parse(beyond).error.find("runs past"), std::string::npos);
    EXPECT_NE(parse(Bytes{'G', 'E', 'T', ' '}).error.find("unknown magic"), std::string::npos);
}

TEST(CaptureFile, PiecesGiveWhatTheWholeGives) {
    const Bytes file = cat({shb(false), idb(false, 1, 0), epb(false, 0, 1, kFrame), shb(true), idb(true, 113, 0),
                            epb(true, 0, 2, kFrame)});
    const Parsed whole = parse(file);
    ASSERT_EQ(whole.packets.size(), 2u);
    for (std::size_t piece : {1u, 3u, 7u, 64u}) {
        const Parsed r = parse(file, piece);
        ASSERT_EQ(r.packets.size(), 2u) << piece;
        for (std::size_t i = 0; i < 2; ++i) {
            EXPECT_EQ(r.packets[i].file_offset, whole.packets[i].file_offset);
            EXPECT_EQ(r.packets[i].ts_ns, whole.packets[i].ts_ns);
            EXPECT_EQ(r.data[i], whole.data[i]);
        }
        EXPECT_TRUE(r.complete);
    }
    // A cut block is not an error to the parser: it waits for more.
    const Bytes cut(file.begin(), file.end() - 5);
    const Parsed r = parse(cut);
    EXPECT_TRUE(r.error.empty());
    EXPECT_EQ(r.packets.size(), 1u);
    EXPECT_FALSE(r.complete);
}

// OfflineReader over a file: a truncated last block is DamagedError after
// the packets before it.
TEST(CaptureFile, ReaderTruncatedPcapngKeepsThePacketsBefore) {
    testing::TempDir dir;
    const Bytes file = cat({shb(false), idb(false, 1, 0), idb(false, 113, 0), epb(false, 0, 1, kFrame),
                            epb(false, 1, 2, kFrame), epb(false, 0, 3, kFrame)});
    const std::string path = dir.file("cut.pcapng");
    {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, file.data(), file.size() - 10), static_cast<ssize_t>(file.size() - 10));
        ::close(fd);
    }
    OfflineReader reader(path);
    RawPacket raw;
    ASSERT_TRUE(reader.next(raw));
    ASSERT_TRUE(reader.next(raw));
    EXPECT_EQ(raw.linktype, 113u);
    EXPECT_THROW(reader.next(raw), DamagedError);
    EXPECT_EQ(reader.interfaces().size(), 2u);
}

}  // namespace
}  // namespace capdb
