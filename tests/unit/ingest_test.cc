#include "capdb/ingest.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "capdb/capture.h"
#include "capdb/store.h"
#include "testutil.h"

namespace capdb {
namespace {

using testing::TempDir;

const std::string kData = CAPDB_TESTDATA;

// What ingest_file did to a store: the packets it appended and how it ended.
struct Record {
    std::vector<PacketView> packets;  // previews not kept
    std::optional<CaptureState> final_state;
    std::string failure;
    std::vector<std::string> sha256_lookups;
};

class RecordingWriter : public CaptureWriter {
public:
    explicit RecordingWriter(Record& r) : r_(r) {}
    [[nodiscard]] CaptureId id() const noexcept override { return 1; }
    void append(PacketBatch&& batch) override {
        for (const PacketBatch::Packet& p : batch.packets) {
            PacketView v;
            v.ts_ns = p.ts_ns;
            v.caplen = p.caplen;
            v.wirelen = p.wirelen;
            v.file_offset = p.file_offset;
            v.summary = p.summary;
            v.time_invalid = p.time_invalid;
            r_.packets.push_back(v);
        }
    }
    [[nodiscard]] PacketBatch spare_batch() override { return {}; }
    [[nodiscard]] std::uint32_t batch_room() const noexcept override { return kBatchPackets; }
    void append(const PacketView& p) override {
        PacketView v = p;
        v.preview = {};
        r_.packets.push_back(v);
    }
    void request_commit() override {}
    void finish(CaptureState s, const std::string&, const std::optional<LiveStats>&) override { r_.final_state = s; }
    void fail(const std::string& reason, const std::string&) override {
        r_.final_state = CaptureState::failed;
        r_.failure = reason;
    }

private:
    Record& r_;
};

// A store that records what ingest asks of it. known_size: the file size
// it claims to have seen; duplicate: whether every SHA-256 is known.
class RecordingStore : public Store {
public:
    Record record;
    std::uint64_t known_size = 0;
    bool duplicate = false;

    std::vector<CaptureInfo> captures() override { return {}; }
    std::optional<CaptureInfo> capture(CaptureId) override { return std::nullopt; }
    std::optional<CaptureInfo> find_by_sha256(const std::string& sha) override {
        record.sha256_lookups.push_back(sha);
        if (!duplicate) return std::nullopt;
        CaptureInfo c;
        c.id = 7;
        return c;
    }
    bool has_file_of_size(std::uint64_t size) override { return size == known_size; }
    std::uint64_t remove_unfinished(const std::string&) override { return 0; }
    void remove_capture(CaptureId) override {}
    std::unique_ptr<CaptureWriter> begin_capture(const CaptureMeta&, std::uint32_t, std::size_t) override {
        return std::make_unique<RecordingWriter>(record);
    }
    std::optional<ResumePoint> resume_point(const std::string&) override { return std::nullopt; }
    void set_resume_point(CaptureId, std::uint64_t, const std::string&) override {}
    std::unique_ptr<CaptureWriter> resume_capture(const CaptureInfo&, const CaptureMeta&, std::uint32_t,
                                                  std::size_t) override {
        return std::make_unique<RecordingWriter>(record);
    }
    void relocate_capture(CaptureId, const std::string&, std::int64_t) override {}
    void query(const Filter&, const RowCallback&) override {}
    std::uint64_t count(const Filter&) override { return 0; }
    std::int64_t max_block_id() override { return 0; }
    void query_blocks(const Filter&, const BlockRange&, const RowCallback&) override {}
    PruneResult prune(const PruneRequest&) override { return {}; }
    StoreSize size() override { return {}; }
    VacuumResult vacuum() override { return {}; }
    std::unique_ptr<PacketReadHold> hold_packets() override { return nullptr; }
    std::vector<SegmentInfo> segments(CaptureId) override { return {}; }
};

// Counts the times a file is opened, with inotify. Reads are watched too:
// inotify merges an event into an identical one still unread just before
// it, so two opens count as two only with some other event between them
// (the reader always reads the file's magic before anything else opens it).
class OpenCounter {
public:
    explicit OpenCounter(const std::string& path) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        if (fd_ >= 0) ::inotify_add_watch(fd_, path.c_str(), IN_OPEN | IN_ACCESS);
    }
    ~OpenCounter() {
        if (fd_ >= 0) ::close(fd_);
    }
    OpenCounter(const OpenCounter&) = delete;
    OpenCounter& operator=(const OpenCounter&) = delete;
    [[nodiscard]] bool ok() const { return fd_ >= 0; }
    int count() {
        int n = 0;
        alignas(inotify_event) char buf[4096];
        for (ssize_t got; (got = ::read(fd_, buf, sizeof buf)) > 0;) {
            for (ssize_t off = 0; off < got;) {
                inotify_event e;
                std::memcpy(&e, buf + off, sizeof e);
                if (e.mask & IN_OPEN) ++n;
                off += static_cast<ssize_t>(sizeof e + e.len);
            }
        }
        return n;
    }

private:
    int fd_;
};

// A file of a size seen before is checked for being a duplicate by its
// SHA-256, computed once: the file is opened (and read) a single time.
TEST(Ingest, DuplicateCheckHashesOnce) {
    TempDir dir;
    const std::string path = dir.file("copy.pcap");
    std::filesystem::copy_file(kData + "/eth_ipv4.pcap", path);
    RecordingStore store;
    store.known_size = std::filesystem::file_size(path);
    store.duplicate = true;
    OpenCounter opens(path);
    ASSERT_TRUE(opens.ok());
    const IngestOutcome out = ingest_file(store, path, {});
    EXPECT_TRUE(out.duplicate);
    EXPECT_EQ(out.capture, 7);
    ASSERT_EQ(store.record.sha256_lookups.size(), 1u);
    EXPECT_EQ(store.record.sha256_lookups[0], sha256_file(kData + "/eth_ipv4.pcap"));
    EXPECT_EQ(opens.count(), 1);
}

// Not a duplicate after all: the hash taken for the check is the capture's.
TEST(Ingest, SameSizeNotDuplicateIsIngested) {
    RecordingStore store;
    store.known_size = std::filesystem::file_size(kData + "/eth_ipv4.pcap");
    const IngestOutcome out = ingest_file(store, kData + "/eth_ipv4.pcap", {});
    EXPECT_FALSE(out.duplicate);
    EXPECT_EQ(out.counts.packets, 21u);
    EXPECT_EQ(store.record.packets.size(), 21u);
    EXPECT_EQ(store.record.final_state, CaptureState::complete);
}

void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A little-endian microsecond pcap of 60-byte Ethernet frames.
std::string pcap_bytes(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& times) {
    std::string out;
    for (std::uint32_t v : {0xa1b2c3d4u, 0x00040002u, 0u, 0u, 65535u, 1u}) put32(out, v);
    for (const auto& [sec, usec] : times) {
        for (std::uint32_t v : {sec, usec, 60u, 60u}) put32(out, v);
        out.append(60, '\x42');
    }
    return out;
}

// The reader's flag reaches the stored packet.
TEST(Ingest, CopiesTheInvalidTimeFlag) {
    TempDir dir;
    const std::string path = dir.file("bad_us.pcap");
    std::ofstream(path, std::ios::binary) << pcap_bytes({{1'600'000'000, 0x80000000u}, {1'600'000'000, 5}});
    RecordingStore store;
    ingest_file(store, path, {});
    ASSERT_EQ(store.record.packets.size(), 2u);
    EXPECT_TRUE(store.record.packets[0].time_invalid);
    EXPECT_EQ(store.record.packets[0].ts_ns, 1'600'000'000'000'000'000);
    EXPECT_FALSE(store.record.packets[1].time_invalid);
    EXPECT_EQ(store.record.packets[1].ts_ns, 1'600'000'000'000'005'000);
}

// Stopped while the input is quiet (a pipe whose writer stays): the
// packets read are kept and the capture is marked interrupted, not
// complete. The watchdog closes the pipe after 20 s so that a reader that
// blocks makes the test fail rather than hang.
TEST(Ingest, StopOnAQuietPipeMarksInterrupted) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const std::string bytes = pcap_bytes({{1'600'000'000, 0}, {1'600'000'001, 0}, {1'600'000'002, 0}});
    ASSERT_EQ(::write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread watchdog([&] {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::seconds(20), [&] { return done; });
        ::close(fds[1]);
    });

    RecordingStore store;
    IngestOptions options;
    // The reader asks before each read of the input: once the pipe holds no
    // more bytes, it has every packet and would wait for more.
    const int read_end = fds[0];
    options.should_stop = [read_end] {
        int unread = 0;
        return ::ioctl(read_end, FIONREAD, &unread) == 0 && unread == 0;
    };
    const IngestOutcome out = ingest_file(store, "/dev/fd/" + std::to_string(fds[0]), options);
    {
        std::lock_guard lock(mu);
        done = true;
    }
    cv.notify_one();
    watchdog.join();
    ::close(fds[0]);
    EXPECT_TRUE(out.interrupted);
    EXPECT_EQ(out.counts.packets, 3u);
    EXPECT_EQ(store.record.packets.size(), 3u);
    EXPECT_EQ(store.record.final_state, CaptureState::interrupted) << store.record.failure;
}

}  // namespace
}  // namespace capdb
