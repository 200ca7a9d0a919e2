#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "capdb/capture.h"
#include "capdb/capture_file.h"
#include "capdb/error.h"
#include "capdb/source_file.h"
#include "capture/sha256.h"

namespace capdb {

namespace {

// How long a wait for input on a pipe lasts before should_stop is asked
// again. A signal ends the wait at once (poll() is never restarted); this
// bounds the wait when the signal lands between the question and poll().
constexpr int kStopCheckMs = 200;

// Waits until fd has input (or an error or hang-up to report), or until
// should_stop says to give up. Returns false in that case.
bool wait_readable(int fd, const std::function<bool()>& should_stop) {
    for (;;) {
        if (should_stop && should_stop()) return false;
        pollfd p{fd, POLLIN, 0};
        const int rc = ::poll(&p, 1, should_stop ? kStopCheckMs : -1);
        if (rc > 0 || (rc < 0 && errno != EINTR)) return true;  // read() reports an error
    }
}

// A named pipe opened (non-blocking) before any writer has: wait for one, as
// cat or tcpdump -r would, rather than read the writer's absence as an
// empty file. A writer that connects and closes without writing ends the
// wait. Returns false when should_stop ended it.
bool wait_for_writer(int fd, const std::function<bool()>& should_stop) { return wait_readable(fd, should_stop); }

// Bytes read from the input at a time, and the buffer's starting size (it
// grows to hold the largest block).
constexpr std::size_t kReadBytes = 256 * 1024;
// A followed file is looked at again after this long at its end.
constexpr auto kFollowPoll = std::chrono::milliseconds(50);
constexpr auto kFollowIdle = std::chrono::milliseconds(200);

}  // namespace

struct OfflineReader::Impl {
    std::string path;
    bool is_stdin = false;
    bool regular = false;
    bool follow = false;
    int fd = -1;             // owned unless stdin
    std::uint64_t size = 0;  // regular files only
    std::int64_t mtime_ns = 0;
    std::uint32_t ts_precision = 0;
    std::function<bool()> should_stop;

    CaptureParser parser;
    // The unread input: buffer[begin, end) starts at file offset `offset`.
    std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(kReadBytes);
    std::size_t begin = 0, end = 0;
    std::int64_t offset = 0;
    std::uint64_t consumed = 0;  // bytes read from fd
    bool at_eof = false;
    bool stopped = false;
    bool idle = false;
    std::unique_ptr<Sha256> hash;  // hashing as the bytes stream in (pipes, followed files)

    // Hashing of regular files runs on its own thread, with pread on fd.
    std::thread hasher;
    std::atomic<bool> stop_hashing{false};
    std::string digest;
    std::string hash_error;

    std::uint64_t packets = 0;

    ~Impl() {
        stop_hashing = true;
        if (hasher.joinable()) hasher.join();
        if (fd >= 0 && !is_stdin) ::close(fd);
    }

    [[noreturn]] void input_error(std::string_view what) const {
        throw InputError(fmt::format("'{}': {}", printable(path), what));
    }
    [[noreturn]] void interrupted_error() const {
        throw InterruptedError(fmt::format("'{}': interrupted before the capture header was read", printable(path)));
    }
    [[noreturn]] void damaged(std::string_view what) const {
        throw DamagedError(fmt::format("'{}': packet {}: {}", printable(path), packets + 1, what));
    }

    void start_hasher() {
        hasher = std::thread([this] {
            try {
                Sha256 h;
                std::vector<unsigned char> buf(1 << 20);
                off_t off = 0;
                while (!stop_hashing) {
                    ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
                    if (n < 0 && errno == EINTR) continue;
                    if (n < 0) {
                        hash_error = std::strerror(errno);
                        return;
                    }
                    if (n == 0) break;
                    h.update(buf.data(), static_cast<std::size_t>(n));
                    off += n;
                }
                digest = h.hex();
            } catch (const std::exception& e) {
                hash_error = e.what();
            }
        });
    }

    // One read() into buf: bytes read, 0 at the end of the input, -1 when
    // should_stop ended the wait (stopped is set). Waits on a pipe in poll(),
    // so that a quiet writer cannot hold it.
    ssize_t read_some(std::uint8_t* buf, std::size_t n) {
        for (;;) {
            if (regular ? should_stop && should_stop() : !wait_readable(fd, should_stop)) {
                stopped = true;
                return -1;
            }
            const ssize_t got = ::read(fd, buf, n);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) damaged(fmt::format("cannot read: {}", std::strerror(errno)));
            // The end of a pipe that came with a stop: Ctrl-C ends the writer
            // of `sleep 100 | capdb ingest -` as well, and the signal is
            // handled before read() returns here. That is an interruption.
            if (got == 0 && should_stop && should_stop()) {
                stopped = true;
                return -1;
            }
            if (got > 0) {
                if (hash) hash->update(buf, static_cast<std::size_t>(got));
                consumed += static_cast<std::uint64_t>(got);
            }
            return got;
        }
    }

    // Makes at least `want` unread bytes available. False at the end of the
    // input (or, following, after a quiet wait: idle is set), or on a stop.
    bool fill(std::size_t want) {
        if (begin > 0 && (begin == end || buffer.size() - begin < want)) {
            std::memmove(buffer.data(), buffer.data() + begin, end - begin);
            end -= begin;
            begin = 0;
        }
        if (buffer.size() < want) buffer.resize(std::max(want, buffer.size() * 2));
        const auto quiet_since = std::chrono::steady_clock::now();
        while (end - begin < want) {
            if (at_eof && !follow) return false;
            const ssize_t got = read_some(buffer.data() + end, buffer.size() - end);
            if (got < 0) return false;
            if (got > 0) {
                end += static_cast<std::size_t>(got);
                continue;
            }
            at_eof = true;
            if (!follow) return false;
            // A file still being written: look again shortly, and hand
            // control back now and then so that the caller can commit.
            if (std::chrono::steady_clock::now() - quiet_since >= kFollowIdle) {
                idle = true;
                return false;
            }
            std::this_thread::sleep_for(kFollowPoll);
        }
        return true;
    }

    // Runs the parser over the input until a packet (true) or the end, a
    // stop or, following, an idle wait (false); with header_only, until
    // the capture header is read (false).
    bool step(RawPacket& out, bool header_only = false) {
        for (;;) {
            CaptureParser::Step s{CaptureParser::Step::need, 0};
            try {
                s = parser.next(std::span<const std::uint8_t>(buffer).subspan(begin, end - begin), offset, out);
            } catch (const CaptureFormatError& e) {
                if (!parser.ready()) input_error(e.what());
                damaged(e.what());
            }
            if (s.kind == CaptureParser::Step::need) {
                if (fill(s.size)) continue;
                if (stopped || idle) return false;
                if (end == begin && parser.ready()) return false;  // the end, between records
                if (!parser.ready()) {
                    if (consumed == 0)
                        input_error(regular ? "empty file, not a capture" : "empty input, not a capture");
                    if (parser.is_pcapng() && end == begin)
                        input_error("no interface description block, so no packets");
                    input_error("too short to be a capture (its header is cut short)");
                }
                damaged(fmt::format("the file ends inside a {} ({} of its {} bytes present)",
                                    parser.is_pcapng() ? "block" : "record", end - begin, s.size));
            }
            begin += s.size;
            offset += static_cast<std::int64_t>(s.size);
            if (s.kind == CaptureParser::Step::packet) return true;
            if (header_only && parser.ready()) return false;
        }
    }
};

OfflineReader::OfflineReader(const std::string& path, std::function<bool()> should_stop, bool follow)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.path = path;
    m.is_stdin = path == "-";
    m.should_stop = std::move(should_stop);
    if (m.is_stdin) {
        m.fd = STDIN_FILENO;
    } else {
        m.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (m.fd < 0) m.input_error(std::strerror(errno));
        // The non-blocking open only keeps a FIFO without writer from hanging here.
        int flags = fcntl(m.fd, F_GETFL);
        if (flags >= 0) fcntl(m.fd, F_SETFL, flags & ~O_NONBLOCK);
    }
    struct stat st {};
    if (fstat(m.fd, &st) != 0) m.input_error(std::strerror(errno));
    if (S_ISDIR(st.st_mode)) m.input_error("is a directory, not a capture file");
    if (S_ISFIFO(st.st_mode) && !m.is_stdin && !wait_for_writer(m.fd, m.should_stop)) m.interrupted_error();
    m.regular = S_ISREG(st.st_mode);
    m.follow = follow && m.regular;

    if (m.regular) {
        m.size = static_cast<std::uint64_t>(st.st_size);
        std::array<unsigned char, 4> magic{};
        if (m.size < 4 && !m.follow)
            m.input_error(m.size == 0 ? "empty file, not a capture" : "too short to be a capture");
        // errno means something only when pread fails; a short read is a
        // file that shrank after fstat, or one (in sysfs) that is shorter
        // than its size says.
        if (m.size >= 4) {
            const ssize_t got = ::pread(m.fd, magic.data(), 4, 0);
            if (got < 0) m.input_error(std::strerror(errno));
            if (got < 4) m.input_error("too short to be a capture");
            if (magic[0] == 0x1f && magic[1] == 0x8b)
                m.input_error("is gzip-compressed; decompress it first (zcat FILE | capdb ingest -)");
        }
        m.mtime_ns = capdb::file_mtime_ns(m.fd);
        std::vector<std::uint8_t> start(std::min<std::uint64_t>(m.size, 64 * 1024));
        const ssize_t n = start.empty() ? 0 : ::pread(m.fd, start.data(), start.size(), 0);
        // A followed file may not yet hold every interface described before
        // its first packet: its precision stays unknown (pcap: its magic).
        if (n > 0 && !m.follow) {
            start.resize(static_cast<std::size_t>(n));
            if (auto h = parse_source_header(start)) m.ts_precision = h->ts_precision;
        }
    }
    if (!m.regular || m.follow) m.hash = std::make_unique<Sha256>();

    // The header (pcapng: through the first interface description).
    RawPacket none;
    while (!m.parser.ready()) {
        if (m.step(none, true)) m.input_error("a packet before the capture header");  // the parser refuses it first
        if (m.stopped) m.interrupted_error();
        if (m.idle) {
            m.idle = false;
            continue;
        }
        if (!m.parser.ready()) m.input_error("no interface description block, so no packets");
    }
    if ((!m.regular || m.ts_precision == 0) && !m.parser.is_pcapng())
        m.ts_precision = m.parser.nanosecond_pcap() ? 9 : 6;
    if (m.regular && !m.follow) m.start_hasher();
}

OfflineReader::~OfflineReader() = default;

bool OfflineReader::next(RawPacket& out) {
    Impl& m = *impl_;
    m.idle = false;
    if (m.stopped) return false;
    if (!m.step(out)) return false;
    ++m.packets;
    return true;
}

std::uint32_t OfflineReader::linktype() const noexcept { return impl_->parser.linktype(); }
std::uint32_t OfflineReader::snaplen() const noexcept { return impl_->parser.snaplen(); }
const std::vector<CaptureInterface>& OfflineReader::interfaces() const noexcept { return impl_->parser.interfaces(); }
bool OfflineReader::idle() const noexcept { return impl_->idle; }
bool OfflineReader::partial_record() const noexcept { return impl_->end != impl_->begin; }
bool OfflineReader::is_pcapng() const noexcept { return impl_->parser.is_pcapng(); }
bool OfflineReader::is_stdin() const noexcept { return impl_->is_stdin; }
bool OfflineReader::interrupted() const noexcept { return impl_->stopped; }
std::uint64_t OfflineReader::file_size() const noexcept { return impl_->size; }
std::int64_t OfflineReader::file_mtime_ns() const noexcept { return impl_->mtime_ns; }
std::uint32_t OfflineReader::ts_precision() const noexcept { return impl_->ts_precision; }
std::uint64_t OfflineReader::bytes_read() const noexcept { return impl_->consumed; }

std::string OfflineReader::sha256() {
    Impl& m = *impl_;
    if (m.hash) {
        // Drain what was not read (trailing bytes still belong to the file).
        if (!m.follow) {
            std::vector<std::uint8_t> buf(1 << 16);
            while (!m.stopped && m.read_some(buf.data(), buf.size()) > 0) {}
        }
        // Stopped while draining: the digest covers only part of the input.
        if (m.stopped && !m.follow) return {};
        return m.hash->hex();
    }
    if (m.hasher.joinable()) m.hasher.join();
    if (!m.hash_error.empty()) m.input_error(fmt::format("cannot read for hashing: {}", m.hash_error));
    return m.digest;
}

}  // namespace capdb
