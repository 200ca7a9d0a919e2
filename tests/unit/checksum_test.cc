// CRC32C against published vectors, the SSE4.2 and table implementations
// against each other, and the trailers and row checksums built on it.
#include "store/format/checksum.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "store/sqlite/sqlite.h"
#include "testutil.h"
#include "util/crc32c.h"

namespace capdb {
namespace {

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// RFC 3720 (iSCSI), appendix B.4, and the common "123456789" check value.
TEST(Crc32c, KnownVectors) {
    std::vector<std::uint8_t> v(32, 0);
    for (auto f : {crc32c, crc32c_portable}) {
        EXPECT_EQ(f(bytes_of("123456789"), 0), 0xE3069283u);
        std::fill(v.begin(), v.end(), 0);
        EXPECT_EQ(f(v, 0), 0x8A9136AAu);
        std::fill(v.begin(), v.end(), 0xff);
        EXPECT_EQ(f(v, 0), 0x62A8AB43u);
        std::iota(v.begin(), v.end(), 0);
        EXPECT_EQ(f(v, 0), 0x46DD794Eu);
        for (std::size_t i = 0; i < 32; ++i) v[i] = static_cast<std::uint8_t>(31 - i);
        EXPECT_EQ(f(v, 0), 0x113FDB5Cu);
        EXPECT_EQ(f({}, 0), 0u);
    }
}

// Every length and alignment (the 8-byte loops and their tails), and
// continuation: crc(a + b) == crc(b, crc(a)).
TEST(Crc32c, ImplementationsAgreeAndContinue) {
    std::mt19937 rng(7);
    std::vector<std::uint8_t> buf(600);
    for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
    for (std::size_t start = 0; start < 9; ++start)
        for (std::size_t n = 0; start + n <= buf.size(); n += 1 + n / 8) {
            const auto s = std::span<const std::uint8_t>(buf).subspan(start, n);
            const std::uint32_t whole = crc32c(s);
            ASSERT_EQ(whole, crc32c_portable(s)) << start << " " << n;
            const std::size_t cut = n / 3;
            ASSERT_EQ(whole, crc32c(s.subspan(cut), crc32c(s.first(cut))));
            ASSERT_EQ(whole, crc32c_portable(s.subspan(cut), crc32c_portable(s.first(cut))));
        }
}

// A page's trailer covers its id and every bit of its bytes.
TEST(Checksum, PageTrailerDetectsEveryBitAndAnotherId) {
    std::vector<std::uint8_t> blob = bytes_of("a zstd frame stands here");
    const std::size_t body = blob.size();
    store::append_trailer(blob, store::page_crc(513, std::span(blob.data(), body)));
    ASSERT_EQ(blob.size(), body + store::kTrailerBytes);
    const auto ok = store::checked_page(513, blob);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->size(), body);
    EXPECT_FALSE(store::checked_page(514, blob)) << "a page found under another id";
    for (std::size_t i = 0; i < blob.size(); ++i)
        for (int bit = 0; bit < 8; ++bit) {
            auto flipped = blob;
            flipped[i] ^= static_cast<std::uint8_t>(1 << bit);
            EXPECT_FALSE(store::checked_page(513, flipped)) << i << ":" << bit;
        }
    EXPECT_FALSE(store::checked_page(513, std::span(blob.data(), 3)));
    EXPECT_FALSE(store::checked_page(513, {}));
}

TEST(Checksum, PostingTrailerCoversAddressAndFirstBlock) {
    const std::vector<std::uint8_t> addr{10, 0, 0, 5}, other{10, 0, 0, 6};
    std::vector<std::uint8_t> blob{1, 2, 0, 3};
    store::append_trailer(blob, store::postings_crc(addr, 7, std::span(blob.data(), 4)));
    EXPECT_TRUE(store::checked_postings(addr, 7, blob));
    EXPECT_FALSE(store::checked_postings(other, 7, blob));
    EXPECT_FALSE(store::checked_postings(addr, 8, blob));
    blob[1] ^= 0x10;
    EXPECT_FALSE(store::checked_postings(addr, 7, blob));
}

// The SQL functions compute what the C++ side checks: capdb_trailer()
// the page trailer; capdb_check() changes with any value or its type.
TEST(Checksum, SqlFunctions) {
    testing::TempDir dir;
    sqlite::Database db(dir.file("f.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::Statement t(db, "SELECT capdb_trailer(513, x'0102030405')");
    ASSERT_TRUE(t.step());
    std::vector<std::uint8_t> blob{1, 2, 3, 4, 5};
    const auto trailer = t.blob(0);
    blob.insert(blob.end(), trailer.begin(), trailer.end());
    EXPECT_TRUE(store::checked_page(513, blob));
    auto check = [&](const char* args) {
        sqlite::Statement st(db, std::string("SELECT capdb_check(") + args + ")");
        EXPECT_TRUE(st.step());
        return st.i64(0);
    };
    const std::int64_t base = check("1, 'a', x'61', NULL, 2.5");
    EXPECT_EQ(base, check("1, 'a', x'61', NULL, 2.5"));
    EXPECT_NE(base, check("1, x'61', 'a', NULL, 2.5")) << "text and blob of the same bytes differ";
    EXPECT_NE(base, check("1, 'a', x'61', 0, 2.5")) << "NULL is not 0";
    EXPECT_NE(base, check("2, 'a', x'61', NULL, 2.5"));
    EXPECT_NE(base, check("1, 'ab', x'', NULL, 2.5")) << "lengths separate the values";
    EXPECT_NE(base, check("'1', 'a', x'61', NULL, 2.5")) << "an integer is not its text";
}

}  // namespace
}  // namespace capdb
