#include "capdb/capture.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>

#include "capdb/error.h"
#include "testutil.h"

namespace capdb {
namespace {

using testing::TempDir;

const std::string kData = CAPDB_TESTDATA;

// One pcap record header's fields as the file stores them.
struct Record {
    std::uint32_t sec;
    std::uint32_t frac;  // microseconds or nanoseconds
};

void put32(std::string& out, std::uint32_t v, bool big_endian) {
    for (int i = 0; i < 4; ++i) {
        const int shift = big_endian ? 24 - 8 * i : 8 * i;
        out.push_back(static_cast<char>((v >> shift) & 0xff));
    }
}

// A pcap file (Ethernet, 60-byte frames) whose records carry these times.
std::string pcap_bytes(const std::vector<Record>& records, bool nsec, bool big_endian) {
    std::string out;
    put32(out, nsec ? 0xa1b23c4d : 0xa1b2c3d4, big_endian);
    // version 2.4, two 16-bit fields
    if (big_endian)
        out.append("\x00\x02\x00\x04", 4);
    else
        out.append("\x02\x00\x04\x00", 4);
    put32(out, 0, big_endian);      // thiszone
    put32(out, 0, big_endian);      // sigfigs
    put32(out, 65535, big_endian);  // snaplen
    put32(out, 1, big_endian);      // linktype EN10MB
    for (const Record& r : records) {
        put32(out, r.sec, big_endian);
        put32(out, r.frac, big_endian);
        put32(out, 60, big_endian);
        put32(out, 60, big_endian);
        out.append(60, '\x42');
    }
    return out;
}

std::string write_file(const TempDir& dir, const std::string& name, const std::string& bytes) {
    const std::string path = dir.file(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

constexpr std::int64_t kSec = 1'000'000'000;

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

// pcap stores seconds as an unsigned 32-bit number: records stamped from
// 2038-01-19T03:14:08Z to 2106-02-07T06:28:15Z must not come back in
// 1901-1969 (libpcap 1.10 hands them over sign-extended).
TEST(OfflineReader, PcapSecondsAreUnsigned) {
    const std::vector<Record> records = {
        {0x7fffffffu, 999'999}, {0x80000000u, 0}, {0x80000000u + 86'400, 500'000}, {0xffffffffu, 999'999}};
    TempDir dir;
    for (const bool big_endian : {false, true}) {
        for (const bool nsec : {false, true}) {
            std::vector<Record> recs = records;
            if (nsec)
                for (Record& r : recs) r.frac *= 1000;
            const std::string path = write_file(dir, "y2038.pcap", pcap_bytes(recs, nsec, big_endian));
            OfflineReader r(path);
            RawPacket p;
            for (const Record& want : recs) {
                ASSERT_TRUE(r.next(p));
                EXPECT_EQ(p.ts_ns, static_cast<std::int64_t>(want.sec) * kSec + want.frac * (nsec ? 1 : 1000))
                    << "seconds " << want.sec << (nsec ? " ns" : " us") << (big_endian ? " big-endian" : "");
                EXPECT_FALSE(p.time_invalid);
            }
            EXPECT_FALSE(r.next(p));
        }
    }
}

// The committed capture of the same times, and its pcapng twin, whose
// 64-bit timestamps libpcap converts without the 32-bit limit.
TEST(OfflineReader, Y2038Captures) {
    const std::vector<std::int64_t> want = {0x7fffffffLL * kSec + 999'999'000, 0x80000000LL * kSec,
                                            (0x80000000LL + 86'400) * kSec + 500'000'000,
                                            0xffffffffLL * kSec + 999'999'000};
    for (const char* name : {"y2038.pcap", "y2038.pcapng"}) {
        OfflineReader r(kData + "/" + name);
        RawPacket p;
        std::vector<std::int64_t> got;
        while (r.next(p)) got.push_back(p.ts_ns);
        if (std::string(name) == "y2038.pcapng") {
            // Past pcap's range: 2^33 s (2242-03-16T12:56:32Z), in ns units.
            ASSERT_EQ(got.size(), want.size() + 1) << name;
            EXPECT_EQ(got.back(), (std::int64_t{1} << 33) * kSec + 123'456'789);
            got.pop_back();
        }
        EXPECT_EQ(got, want) << name;
    }
}

// A sub-second field out of range (us >= 10^6, ns >= 10^9) is not carried
// into the seconds: the seconds stay, and the record is flagged.
TEST(OfflineReader, OutOfRangeSubsecondKeepsSeconds) {
    TempDir dir;
    constexpr std::uint32_t t = 1'600'000'000;
    for (const bool big_endian : {false, true}) {
        {
            const std::string path =
                write_file(dir, "us.pcap",
                           pcap_bytes({{t, 0x80000000u}, {t, 1'000'000}, {t, 0xffffffffu}, {t, 999'999}, {t, 0}}, false,
                                      big_endian));
            OfflineReader r(path);
            RawPacket p;
            for (int i = 0; i < 3; ++i) {
                ASSERT_TRUE(r.next(p));
                EXPECT_EQ(p.ts_ns, t * kSec) << "us record " << i + 1;
                EXPECT_TRUE(p.time_invalid) << "us record " << i + 1;
            }
            ASSERT_TRUE(r.next(p));
            EXPECT_EQ(p.ts_ns, t * kSec + 999'999'000);
            EXPECT_FALSE(p.time_invalid);
            ASSERT_TRUE(r.next(p));
            EXPECT_EQ(p.ts_ns, t * kSec);
            EXPECT_FALSE(p.time_invalid);
        }
        {
            const std::string path =
                write_file(dir, "ns.pcap",
                           pcap_bytes({{t, 0x80000000u}, {t, 1'000'000'000}, {t, 0xffffffffu}, {t, 999'999'999}}, true,
                                      big_endian));
            OfflineReader r(path);
            RawPacket p;
            for (int i = 0; i < 3; ++i) {
                ASSERT_TRUE(r.next(p));
                EXPECT_EQ(p.ts_ns, t * kSec) << "ns record " << i + 1;
                EXPECT_TRUE(p.time_invalid) << "ns record " << i + 1;
            }
            ASSERT_TRUE(r.next(p));
            EXPECT_EQ(p.ts_ns, t * kSec + 999'999'999);
            EXPECT_FALSE(p.time_invalid);
        }
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

// A pipe that delivered a header and two packets and then stays open: once
// should_stop says so, next() returns false (interrupted) instead of
// waiting for the writer. If the reader does block, the watchdog closes
// the pipe after 20 s so that the test fails instead of hanging.
TEST(OfflineReader, StopsWhileWaitingOnAQuietPipe) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const std::string bytes = pcap_bytes({{1'600'000'000, 0}, {1'600'000'001, 0}}, false, false);
    ASSERT_EQ(::write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));

    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return done; });
        ::close(fds[1]);
    });

    std::atomic<int> packets{0};
    const std::string path = "/dev/fd/" + std::to_string(fds[0]);
    {
        OfflineReader r(path, [&] { return packets.load() >= 2; });
        RawPacket p;
        while (r.next(p)) ++packets;
        EXPECT_EQ(packets.load(), 2);
        EXPECT_TRUE(r.interrupted());
    }
    {
        std::lock_guard lock(mu);
        done = true;
    }
    cv.notify_one();
    watchdog.join();
    ::close(fds[0]);
}

// Stopped before the capture header arrived: an error with exit code 130.
TEST(OfflineReader, StopsWhileWaitingForTheHeader) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return done; });
        ::close(fds[1]);
    });
    const std::string path = "/dev/fd/" + std::to_string(fds[0]);
    try {
        OfflineReader r(path, [] { return true; });
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Exit::interrupted) << e.what();
    }
    {
        std::lock_guard lock(mu);
        done = true;
    }
    cv.notify_one();
    watchdog.join();
    ::close(fds[0]);
}

}  // namespace
}  // namespace capdb
