#include "store/format/postings.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "capdb/error.h"

namespace capdb::store {
namespace {

using Entry = std::pair<std::int64_t, std::size_t>;  // block, page

std::vector<Entry> entries(std::span<const std::uint8_t> bytes, std::int64_t first_block) {
    std::vector<Entry> out;
    read_postings(bytes, first_block, [&](std::int64_t b, std::size_t p) { out.emplace_back(b, p); });
    return out;
}

// The message of the DatabaseError that decoding bytes throws ("" if none).
std::string postings_error(const std::vector<std::uint8_t>& bytes, std::int64_t first_block) {
    try {
        entries(bytes, first_block);
    } catch (const DatabaseError& e) {
        return e.what();
    }
    return {};
}

TEST(Postings, RoundTrip) {
    PostingList list;
    list.add(100, 100, {0, 3, 255});
    list.add(101, 100, {7});
    list.add(140, 100, {});
    list.add(141, 100, {1, 2});
    const std::vector<Entry> want{{100, 0}, {100, 3}, {100, 255}, {101, 7}, {141, 1}, {141, 2}};
    EXPECT_EQ(entries(list.bytes, 100), want);
}

TEST(Postings, PageBeyondTheBlockIsCorrupt) {
    std::vector<std::uint8_t> b;
    put_varint(b, 0);
    put_varint(b, 1);
    put_varint(b, kMaxPagesPerBlock);
    EXPECT_NE(postings_error(b, 1).find("corrupt posting list"), std::string::npos);
}

// A block delta that takes the block id past INT64_MAX is corrupt, not
// undefined behaviour (UBSan in the sanitizer build).
TEST(Postings, BlockNumberOverflowIsCorrupt) {
    std::vector<std::uint8_t> b;
    put_varint(b, std::numeric_limits<std::uint64_t>::max());
    put_varint(b, 1);
    put_varint(b, 0);
    const std::string e = postings_error(b, 5);
    EXPECT_NE(e.find("corrupt posting list"), std::string::npos) << e;
    std::vector<std::uint8_t> c;
    for (int i = 0; i < 2; ++i) {
        put_varint(c, std::uint64_t{1} << 62);
        put_varint(c, 1);
        put_varint(c, 0);
    }
    EXPECT_NE(postings_error(c, std::int64_t{1} << 62).find("corrupt posting list"), std::string::npos);
    // Block ids are positive.
    std::vector<std::uint8_t> d{0, 1, 0};
    EXPECT_NE(postings_error(d, -3).find("corrupt posting list"), std::string::npos);
}

TEST(Postings, TruncatedListsAreCorrupt) {
    PostingList list;
    list.add(7, 7, {1, 2, 3});
    for (std::size_t n = 1; n < list.bytes.size(); ++n) {
        std::vector<std::uint8_t> cut(list.bytes.begin(), list.bytes.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_NE(postings_error(cut, 7), "") << n;
    }
}

TEST(PageIndex, RoundTripKeepsTheWantedPages) {
    std::vector<PageMeta> pages{{256, -5, 10}, {3, 100, 100}, {17, std::numeric_limits<std::int64_t>::min(), 0}};
    const std::int64_t block_ts_min = 0;
    const auto bytes = encode_page_index(pages, block_ts_min);
    PageSet wanted;
    wanted.set(0).set(2);
    std::vector<PageHit> got;
    decode_page_index(bytes, block_ts_min, wanted, got);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].number, 0);
    EXPECT_EQ(got[0].meta.packets, 256u);
    EXPECT_EQ(got[0].meta.ts_min, -5);
    EXPECT_EQ(got[0].meta.ts_max, 10);
    EXPECT_EQ(got[1].number, 2);
    EXPECT_EQ(got[1].meta.ts_min, std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(got[1].meta.ts_max, 0);
}

TEST(PageIndex, GarbageFailsCleanly) {
    std::mt19937 rng(3);
    const PageSet all = PageSet{}.set();
    int corrupt = 0;
    for (int round = 0; round < 500; ++round) {
        std::vector<std::uint8_t> b(rng() % 40);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        std::vector<PageHit> got;
        try {
            decode_page_index(b, static_cast<std::int64_t>(rng()), all, got);
            EXPECT_LE(got.size(), kMaxPagesPerBlock);
        } catch (const DatabaseError& e) {
            EXPECT_NE(std::string(e.what()).find("corrupt page index"), std::string::npos);
            ++corrupt;
        }
    }
    EXPECT_GT(corrupt, 100);
}

TEST(KeyRanges, CoverPrefixesOfEitherFamily) {
    const auto v4 = key_ranges(*parse_prefix("10.0.0.0/8"));
    ASSERT_EQ(v4.size(), 1u);
    EXPECT_EQ(v4[0].lo, (std::vector<std::uint8_t>{10, 0, 0, 0}));
    EXPECT_EQ(v4[0].hi, (std::vector<std::uint8_t>{10, 255, 255, 255}));
    const auto v6 = key_ranges(*parse_prefix("2001:db8::/32"));
    ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0].lo.size(), 16u);
    // ::/0 holds the IPv4-mapped addresses too: both key kinds.
    EXPECT_EQ(key_ranges(*parse_prefix("::/0")).size(), 2u);
}

}  // namespace
}  // namespace capdb::store
