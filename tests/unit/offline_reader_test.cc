#include "capdb/capture.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "capdb/error.h"
#include "testutil.h"

namespace capdb {
namespace {

const std::string kData = CAPDB_TESTDATA;

TEST(OfflineReader, ReadsPcapWithOffsetsAndHash) {
    OfflineReader r(kData + "/eth_ipv4.pcap");
    EXPECT_EQ(r.linktype(), 1u);
    EXPECT_FALSE(r.is_pcapng());
    RawPacket p;
    std::int64_t expected_offset = 24;
    std::uint64_t n = 0;
    while (r.next(p)) {
        EXPECT_EQ(p.file_offset, expected_offset);
        EXPECT_EQ(p.data.size(), p.caplen);
        expected_offset += 16 + p.caplen;
        ++n;
    }
    EXPECT_GT(n, 0u);
    EXPECT_EQ(static_cast<std::uint64_t>(expected_offset), r.file_size());
    EXPECT_EQ(r.sha256(), sha256_file(kData + "/eth_ipv4.pcap"));
}

TEST(OfflineReader, PcapngOffsetsPointAtBlocks) {
    const std::string path = kData + "/two_if.pcapng";
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    OfflineReader r(path);
    EXPECT_TRUE(r.is_pcapng());
    RawPacket p;
    int n = 0;
    while (r.next(p)) {
        ASSERT_GE(p.file_offset, 0);
        ASSERT_LT(static_cast<std::size_t>(p.file_offset) + 8, bytes.size());
        ++n;
    }
    EXPECT_GT(n, 0);
}

TEST(OfflineReader, NanosecondTimestamps) {
    OfflineReader r(kData + "/nanosecond.pcap");
    RawPacket p;
    ASSERT_TRUE(r.next(p));
    EXPECT_NE(p.ts_ns % 1000, 0) << "nanosecond digits lost";
}

TEST(OfflineReader, ErrorsNameTheFile) {
    try {
        OfflineReader r(kData + "/not_a_capture.txt");
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("not_a_capture.txt"), std::string::npos);
    }
    EXPECT_THROW(OfflineReader{kData + "/does-not-exist.pcap"}, InputError);
    EXPECT_THROW(OfflineReader{kData}, InputError);  // a directory
}

TEST(OfflineReader, TruncatedRecordNamesPacket) {
    OfflineReader r(kData + "/truncated.pcap");
    RawPacket p;
    int n = 0;
    try {
        while (r.next(p)) ++n;
        FAIL() << "no error for a truncated file";
    } catch (const DamagedError& e) {
        EXPECT_EQ(n, 5);
        EXPECT_NE(std::string(e.what()).find("packet 6"), std::string::npos) << e.what();
    }
}

// A regular file that reads shorter than fstat says (sysfs reports 4096
// bytes for a two-byte attribute; a file truncated under capdb does the
// same) is "too short", not whatever errno an earlier call left behind.
TEST(OfflineReader, ShortReadIsNotAStaleErrno) {
    const std::string path = "/sys/class/net/lo/addr_len";
    if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << path << " is not readable here";
    errno = EXDEV;
    try {
        OfflineReader r(path);
        FAIL() << "no error for " << path;
    } catch (const InputError& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.find(std::strerror(EXDEV)), std::string::npos) << what;
        EXPECT_NE(what.find("too short"), std::string::npos) << what;
        EXPECT_NE(what.find(path), std::string::npos) << what;
    }
}

}  // namespace
}  // namespace capdb
