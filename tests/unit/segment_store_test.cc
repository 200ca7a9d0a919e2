// The packet store's files: segment names, SegmentWriter (offsets, rotation,
// durability bookkeeping, permissions) and recovery after a crash.
#include "store/packets/segment_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "capdb/source_file.h"
#include "testutil.h"

namespace capdb::store {
namespace {

using capdb::testing::TempDir;

std::uint64_t file_size(const std::string& path) { return std::filesystem::file_size(path); }
unsigned mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
}

TEST(SegmentName, RoundTripsEveryName) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        SegmentName n;
        n.capture = static_cast<CaptureId>(rng() % (i % 2 ? 1000 : INT64_MAX) + 1);
        n.n = static_cast<std::uint32_t>(rng() % (i % 3 ? 100 : UINT32_MAX) + 1);
        n.format = i % 5 ? SegmentFormat::pcap : SegmentFormat::pcapng;
        const auto back = parse_segment_name(segment_file_name(n));
        ASSERT_TRUE(back) << segment_file_name(n);
        EXPECT_EQ(back->capture, n.capture);
        EXPECT_EQ(back->n, n.n);
        EXPECT_EQ(back->format, n.format);
    }
}

// Whatever a directory holds, a name is a segment's only in its one
// canonical form: recovery never touches another file.
TEST(SegmentName, AcceptsOnlyCanonicalNames) {
    for (const char* bad : {"lock",
                            "",
                            "-",
                            "1-1",
                            "1-1.",
                            "1-1.pcapx",
                            "1-1.pcap.tmp",
                            "01-1.pcap",
                            "1-01.pcap",
                            "0-1.pcap",
                            "1-0.pcap",
                            "+1-1.pcap",
                            "-1-1.pcap",
                            "1--1.pcap",
                            "1-1-1.pcap",
                            "1-4294967296.pcap",
                            "9223372036854775808-1.pcap",
                            "a-1.pcap",
                            "1-1.PCAP",
                            "1.1-1.pcap",
                            " 1-1.pcap",
                            "1-1.pcap "})
        EXPECT_FALSE(parse_segment_name(bad)) << bad;
    std::mt19937 rng(3);
    const std::string alphabet = "0123456789-.pcapng+ x";
    for (int i = 0; i < 200000; ++i) {
        std::string s(rng() % 14, ' ');
        for (char& c : s) c = alphabet[rng() % alphabet.size()];
        if (const auto parsed = parse_segment_name(s)) {
            EXPECT_EQ(segment_file_name(*parsed), s);
        }
    }
    EXPECT_TRUE(parse_segment_name("9223372036854775807-4294967295.pcapng"));
}

// A block of n packets whose bytes are kept (caplen 1 + 7i, wire length 4
// more), in two batches.
std::vector<PacketBatch> block_of(std::uint32_t n, std::int64_t t0, std::uint8_t fill) {
    std::vector<PacketBatch> block(2);
    for (std::uint32_t i = 0; i < n; ++i) {
        std::vector<std::uint8_t> data(1 + i * 7, static_cast<std::uint8_t>(fill + i));
        block[i < n / 2 ? 0 : 1].add_with_data(t0 + i * 1000, static_cast<std::uint32_t>(data.size() + 4), -1, {}, data,
                                               16, false, 1);
    }
    return block;
}

TEST(SegmentWriter, OffsetsPointAtRecordsAndSegmentsRotateAtBlocks) {
    for (SegmentFormat format : {SegmentFormat::pcap, SegmentFormat::pcapng}) {
        TempDir tmp;
        const std::string dir = tmp.file("db.packets");
        SegmentWriter w(dir, 5, {format, 1, 65535, 9}, 2000);
        std::vector<std::string> names;
        std::vector<std::vector<PacketBatch>> blocks;
        for (int b = 0; b < 6; ++b) {
            blocks.push_back(block_of(10, 1'700'000'000'000'000'000 + b * 100'000, static_cast<std::uint8_t>(b * 16)));
            const auto placed = w.write(blocks.back());
            EXPECT_EQ(placed.new_segment, names.empty() || names.back() != placed.name);
            names.push_back(placed.name);
            EXPECT_EQ(file_size(dir + "/" + placed.name), placed.bytes);
            w.sync();
            w.committed();
        }
        EXPECT_GT(std::set<std::string>(names.begin(), names.end()).size(), 1u) << "no rotation";
        EXPECT_EQ(mode_of(dir), 0700u);
        EXPECT_EQ(mode_of(packet_lock_of(dir)), 0600u);
        for (std::size_t b = 0; b < blocks.size(); ++b) {
            const std::string path = dir + "/" + names[b];
            EXPECT_EQ(mode_of(path), 0600u);
            SourceFile f(RecordedFile{5, path, std::nullopt, std::nullopt, 9}, "store segment");
            for (const PacketBatch& batch : blocks[b])
                for (const auto& p : batch.packets) {
                    const auto got = f.read(0, p.file_offset, {p.ts_ns, p.caplen, p.wirelen, false});
                    const auto want = batch.data(p);
                    ASSERT_TRUE(std::equal(got.begin(), got.end(), want.begin(), want.end()));
                }
        }
    }
}

TEST(SegmentWriter, DiscardCutsBackToTheCommittedLength) {
    TempDir tmp;
    const std::string dir = tmp.file("db.packets");
    {
        SegmentWriter w(dir, 1, {}, 1 << 20);
        auto b1 = block_of(5, 1'000'000'000, 1);
        const auto p1 = w.write(b1);
        w.sync();
        w.committed();
        auto b2 = block_of(5, 2'000'000'000, 2);
        const auto p2 = w.write(b2);
        EXPECT_GT(p2.bytes, p1.bytes);
        w.discard_uncommitted();
        EXPECT_EQ(file_size(dir + "/" + p1.name), p1.bytes);
        EXPECT_THROW(w.write(b2), DatabaseError);
    }
    {
        // A segment with nothing committed is removed.
        SegmentWriter w(dir, 2, {}, 1 << 20);
        auto b = block_of(5, 1'000'000'000, 1);
        const auto p = w.write(b);
        w.discard_uncommitted();
        EXPECT_FALSE(std::filesystem::exists(dir + "/" + p.name));
    }
}

TEST(Recovery, ActsOnlyOnSegmentFilesAsTheVerdictSays) {
    TempDir tmp;
    const std::string dir = tmp.file("s");
    ensure_packet_dir(dir);
    auto put = [&](const std::string& name, std::size_t n) { std::ofstream(dir + "/" + name) << std::string(n, 'x'); };
    put("1-1.pcap", 100);   // row: 60 committed
    put("1-2.pcap", 50);    // row: 80 (longer than the file): left alone
    put("2-1.pcapng", 70);  // no row: removed
    put("3-1.pcap", 90);    // running: kept
    put("notes.txt", 10);   // not a segment
    put("01-1.pcap", 10);   // not canonical
    std::vector<std::string> asked;
    const auto r = recover_segments(dir, [&](const SegmentName& n, const std::string& name) {
        asked.push_back(name);
        if (n.capture == 1) return SegmentVerdict{SegmentAction::truncate, n.n == 1 ? 60u : 80u};
        if (n.capture == 3) return SegmentVerdict{SegmentAction::keep, 0};
        return SegmentVerdict{SegmentAction::remove, 0};
    });
    EXPECT_EQ(asked.size(), 4u);
    EXPECT_EQ(r.truncated, 1u);
    EXPECT_EQ(r.removed, 1u);
    EXPECT_EQ(file_size(dir + "/1-1.pcap"), 60u);
    EXPECT_EQ(file_size(dir + "/1-2.pcap"), 50u);
    EXPECT_FALSE(std::filesystem::exists(dir + "/2-1.pcapng"));
    EXPECT_EQ(file_size(dir + "/3-1.pcap"), 90u);
    EXPECT_TRUE(std::filesystem::exists(dir + "/notes.txt"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/01-1.pcap"));
    EXPECT_TRUE(std::filesystem::exists(packet_lock_of(dir)));
}

TEST(PacketLock, SharedHoldsKeepExclusiveOut) {
    TempDir tmp;
    const std::string dir = tmp.file("s");
    EXPECT_EQ(PacketLock::acquire(dir, PacketLock::Mode::shared), nullptr);  // no store yet
    ensure_packet_dir(dir);
    {
        auto shared = PacketLock::acquire(dir, PacketLock::Mode::shared);
        ASSERT_NE(shared, nullptr);
        EXPECT_EQ(PacketLock::try_exclusive(dir), nullptr);
    }
    EXPECT_NE(PacketLock::try_exclusive(dir), nullptr);
}

}  // namespace
}  // namespace capdb::store
