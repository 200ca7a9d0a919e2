// ByteCursor: every read is bounds-checked, fails softly at the end and
// leaves the cursor where it was on failure.
#include "capdb/cursor.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace capdb {
namespace {

constexpr std::array<std::uint8_t, 8> kBytes{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

TEST(ByteCursor, DefaultIsEmpty) {
    ByteCursor c;
    EXPECT_EQ(c.remaining(), 0u);
    EXPECT_EQ(c.position(), 0u);
    EXPECT_TRUE(c.can_read(0));
    EXPECT_FALSE(c.can_read(1));
    EXPECT_FALSE(c.u8());
    EXPECT_FALSE(c.be16());
    EXPECT_FALSE(c.le16());
    EXPECT_FALSE(c.be32());
    EXPECT_FALSE(c.le32());
    EXPECT_FALSE(c.skip(1));
    EXPECT_TRUE(c.skip(0));
    EXPECT_FALSE(c.take(1));
    ASSERT_TRUE(c.take(0));
    EXPECT_TRUE(c.rest().empty());
    EXPECT_EQ(c.position(), 0u);
}

TEST(ByteCursor, ReadsInOrderAndByteOrder) {
    ByteCursor c{kBytes};
    EXPECT_EQ(c.u8(), 0x01);
    EXPECT_EQ(c.be16(), 0x0203);
    EXPECT_EQ(c.position(), 3u);
    EXPECT_EQ(c.remaining(), 5u);
    EXPECT_EQ(c.le16(), 0x0504);
    EXPECT_EQ(c.position(), 5u);
    EXPECT_EQ(c.u8(), 0x06);
    EXPECT_EQ(c.be16(), 0x0708);
    EXPECT_EQ(c.remaining(), 0u);
}

TEST(ByteCursor, Reads32) {
    ByteCursor big{kBytes};
    EXPECT_EQ(big.be32(), 0x01020304u);
    EXPECT_EQ(big.be32(), 0x05060708u);
    EXPECT_FALSE(big.be32());

    ByteCursor little{kBytes};
    EXPECT_EQ(little.le32(), 0x04030201u);
    EXPECT_EQ(little.le32(), 0x08070605u);
    EXPECT_FALSE(little.le32());
}

TEST(ByteCursor, HighBitsAreNotSignExtended) {
    constexpr std::array<std::uint8_t, 4> ff{0xff, 0xfe, 0x80, 0x81};
    ByteCursor c{ff};
    EXPECT_EQ(c.be16(), 0xfffe);
    EXPECT_EQ(c.le16(), 0x8180);
    ByteCursor d{ff};
    EXPECT_EQ(d.be32(), 0xfffe8081u);
    ByteCursor e{ff};
    EXPECT_EQ(e.le32(), 0x8180feffu);
    ByteCursor f{ff};
    EXPECT_EQ(f.u8(), 0xff);
}

// At every position, every read that needs more than what is left fails and
// leaves position and remaining untouched; one that fits succeeds.
TEST(ByteCursor, FailureNeverMovesTheCursor) {
    for (std::size_t start = 0; start <= kBytes.size(); ++start) {
        ByteCursor c{kBytes};
        ASSERT_TRUE(c.skip(start));
        const std::size_t left = kBytes.size() - start;
        const auto unchanged = [&] {
            EXPECT_EQ(c.position(), start);
            EXPECT_EQ(c.remaining(), left);
        };
        {
            ByteCursor t = c;
            EXPECT_EQ(t.u8().has_value(), left >= 1) << start;
        }
        {
            ByteCursor t = c;
            EXPECT_EQ(t.be16().has_value(), left >= 2) << start;
            ByteCursor u = c;
            EXPECT_EQ(u.le16().has_value(), left >= 2) << start;
        }
        {
            ByteCursor t = c;
            EXPECT_EQ(t.be32().has_value(), left >= 4) << start;
            ByteCursor u = c;
            EXPECT_EQ(u.le32().has_value(), left >= 4) << start;
        }
        if (left < 1) {
            EXPECT_FALSE(c.u8());
        }
        unchanged();
        if (left < 2) {
            EXPECT_FALSE(c.be16());
            EXPECT_FALSE(c.le16());
        }
        unchanged();
        if (left < 4) {
            EXPECT_FALSE(c.be32());
            EXPECT_FALSE(c.le32());
        }
        unchanged();
        EXPECT_FALSE(c.skip(left + 1));
        unchanged();
        EXPECT_FALSE(c.take(left + 1));
        unchanged();
        std::array<std::uint8_t, 16> out{};
        out.fill(0xaa);
        EXPECT_FALSE(c.copy_to(out.data(), left + 1));
        unchanged();
        for (auto b : out) EXPECT_EQ(b, 0xaa);  // nothing copied on failure
        EXPECT_EQ(c.rest().size(), left);
    }
}

TEST(ByteCursor, HugeLengthsFailWithoutOverflow) {
    ByteCursor c{kBytes};
    ASSERT_TRUE(c.skip(3));
    const std::size_t huge = static_cast<std::size_t>(-1);
    EXPECT_FALSE(c.can_read(huge));
    EXPECT_FALSE(c.skip(huge));
    EXPECT_FALSE(c.take(huge));
    EXPECT_FALSE(c.skip(huge - 2));
    EXPECT_EQ(c.position(), 3u);
}

TEST(ByteCursor, SkipAndTake) {
    ByteCursor c{kBytes};
    EXPECT_TRUE(c.skip(2));
    const auto view = c.take(3);
    ASSERT_TRUE(view);
    ASSERT_EQ(view->size(), 3u);
    EXPECT_EQ((*view)[0], 0x03);
    EXPECT_EQ((*view)[2], 0x05);
    EXPECT_EQ(view->data(), kBytes.data() + 2);  // a view, not a copy
    EXPECT_EQ(c.position(), 5u);
    EXPECT_TRUE(c.skip(3));
    EXPECT_EQ(c.remaining(), 0u);
    EXPECT_TRUE(c.skip(0));
    EXPECT_FALSE(c.skip(1));
}

TEST(ByteCursor, TakeExactlyTheRest) {
    ByteCursor c{kBytes};
    ASSERT_TRUE(c.skip(5));
    const auto view = c.take(3);
    ASSERT_TRUE(view);
    EXPECT_EQ(view->size(), 3u);
    EXPECT_EQ(c.remaining(), 0u);
}

TEST(ByteCursor, CopyTo) {
    ByteCursor c{kBytes};
    std::array<std::uint8_t, 4> out{};
    ASSERT_TRUE(c.copy_to(out.data(), out.size()));
    EXPECT_EQ(out, (std::array<std::uint8_t, 4>{1, 2, 3, 4}));
    EXPECT_EQ(c.position(), 4u);
    EXPECT_TRUE(c.copy_to(nullptr, 0));
    EXPECT_EQ(c.position(), 4u);
    ASSERT_TRUE(c.copy_to(out.data(), out.size()));
    EXPECT_EQ(out, (std::array<std::uint8_t, 4>{5, 6, 7, 8}));
    EXPECT_FALSE(c.copy_to(out.data(), 1));
}

TEST(ByteCursor, RestDoesNotAdvance) {
    ByteCursor c{kBytes};
    ASSERT_TRUE(c.skip(6));
    const auto rest = c.rest();
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(rest[0], 0x07);
    EXPECT_EQ(c.position(), 6u);
    EXPECT_EQ(c.u8(), 0x07);
}

TEST(ByteCursor, CopiesAreIndependent) {
    ByteCursor a{kBytes};
    ByteCursor b = a;
    EXPECT_EQ(a.be16(), 0x0102);
    EXPECT_EQ(b.position(), 0u);
    EXPECT_EQ(b.u8(), 0x01);
    EXPECT_EQ(a.position(), 2u);
}

// The cursor never reads beyond its span even when the span is a window into
// a larger buffer (what decode relies on to stay inside caplen).
TEST(ByteCursor, StaysInsideASubspan) {
    std::vector<std::uint8_t> buffer{0x10, 0x20, 0x30, 0x40, 0x50};
    ByteCursor c{std::span<const std::uint8_t>(buffer).subspan(1, 2)};
    EXPECT_FALSE(c.be32());
    EXPECT_FALSE(c.copy_to(buffer.data(), 3));
    EXPECT_EQ(c.be16(), 0x2030);
    EXPECT_FALSE(c.u8());
}

TEST(ByteCursor, UsableInConstantExpressions) {
    static constexpr std::array<std::uint8_t, 3> bytes{1, 2, 3};
    constexpr ByteCursor c{bytes};
    static_assert(c.remaining() == 3);
    static_assert(c.position() == 0);
    static_assert(c.can_read(3) && !c.can_read(4));
    SUCCEED();
}

}  // namespace
}  // namespace capdb
