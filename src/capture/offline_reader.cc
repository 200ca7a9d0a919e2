#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <pcap/pcap.h>

#include "capdb/capture.h"
#include "capdb/error.h"
#include "capdb/source_file.h"
#include "capture/sha256.h"

namespace capdb {

namespace {

struct PcapCloser {
    void operator()(pcap_t* p) const noexcept { pcap_close(p); }
};

constexpr std::int64_t kNsPerSec = 1'000'000'000;

// Nanoseconds since the epoch of a pcapng record, saturating instead of
// overflowing for timestamps beyond what int64 nanoseconds hold (year
// 2262). libpcap splits pcapng's 64-bit timestamps itself, into a 64-bit
// tv_sec and a fraction below one second.
std::int64_t to_ns(const timeval& tv) noexcept {
    std::int64_t ns = 0;
    if (__builtin_mul_overflow(static_cast<std::int64_t>(tv.tv_sec), kNsPerSec, &ns) ||
        __builtin_add_overflow(ns, static_cast<std::int64_t>(tv.tv_usec), &ns))
        return tv.tv_sec < 0 ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
    return ns;
}

// The time of a classic pcap record, and whether its sub-second field is
// out of range.
//
// A pcap record header stores two 32-bit fields: the seconds, unsigned
// (the format runs to 2106-02-07T06:28:15Z), and the microseconds or
// nanoseconds. libpcap 1.10 declares both as bpf_int32 and copies them into
// the timeval with sign extension, so that it hands over seconds from
// 2038-01-19T03:14:08Z on as 1901-1969; for a microsecond file opened at
// nanosecond precision it then multiplies tv_usec by 1000. Rather than
// read the record header a second time (by its file offset, which a pipe
// does not allow), the stored fields are recovered from the timeval:
//  - the stored seconds are the low 32 bits of tv_sec, whether libpcap
//    extended them with the sign or (as a later libpcap may) with zeros;
//  - tv_usec, then in nanoseconds, lies in [0, 10^9) exactly when the
//    stored field is in range: a field >= 2^31 comes back negative (or, if
//    zero-extended, >= 2^31 > 10^9), and a microsecond field in
//    [10^6, 2^31) comes back >= 10^9 ns. This needs a 64-bit tv_usec, or
//    libpcap's multiplication by 1000 would overflow.
// Like tcpdump, which prints such a time with "(invalid us)", an
// out-of-range field is not carried into the seconds: the time keeps its
// seconds and is flagged.
static_assert(sizeof(timeval::tv_usec) >= 8, "libpcap scales tv_usec by 1000: it must not overflow");

struct PcapTime {
    std::int64_t ns;
    bool invalid;
};

PcapTime pcap_record_time(const timeval& tv) noexcept {
    const auto seconds = static_cast<std::int64_t>(static_cast<std::uint32_t>(tv.tv_sec));
    const bool invalid = tv.tv_usec < 0 || tv.tv_usec >= kNsPerSec;
    // At most (2^32 - 1) * 10^9 + 10^9 - 1 < 2^63: no overflow.
    return {seconds * kNsPerSec + (invalid ? 0 : static_cast<std::int64_t>(tv.tv_usec)), invalid};
}

enum class Magic { pcap, pcapng, other };

Magic classify(const std::array<unsigned char, 4>& m) noexcept {
    const std::uint32_t be =
        (std::uint32_t{m[0]} << 24) | (std::uint32_t{m[1]} << 16) | (std::uint32_t{m[2]} << 8) | m[3];
    switch (be) {
        case 0xa1b2c3d4:
        case 0xd4c3b2a1:  // microsecond
        case 0xa1b23c4d:
        case 0x4d3cb2a1:  // nanosecond
            return Magic::pcap;
        case 0x0a0d0d0a: return Magic::pcapng;
        default: return Magic::other;
    }
}

bool is_nanosecond_pcap(const std::array<unsigned char, 4>& m) noexcept {
    const std::array<unsigned char, 4> be{0xa1, 0xb2, 0x3c, 0x4d}, le{0x4d, 0x3c, 0xb2, 0xa1};
    return m == be || m == le;
}

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

// libpcap reads every input through this stdio cookie. It counts the bytes
// consumed, so that ftell() answers without a system call, and for inputs
// that cannot be read twice (standard input, FIFOs) it hashes them as they
// stream in. Before each read it asks should_stop; on a pipe it waits in
// poll() rather than read(), so that a quiet writer cannot hold it: when
// should_stop says so, the read fails (EINTR) and stopped is set.
struct StreamCookie {
    int fd = 0;
    bool regular = false;  // a regular file: a read never waits
    std::function<bool()> should_stop;
    bool stopped = false;
    std::unique_ptr<Sha256> hash;  // null when the file is hashed separately
    std::uint64_t consumed = 0;
    std::array<unsigned char, 4> magic{};
};

ssize_t cookie_read(void* c, char* buf, size_t size) {
    auto* s = static_cast<StreamCookie*>(c);
    const auto stop = [s] {
        s->stopped = true;
        errno = EINTR;
        return ssize_t{-1};
    };
    for (;;) {
        if (s->regular ? s->should_stop && s->should_stop() : !wait_readable(s->fd, s->should_stop)) return stop();
        ssize_t n = ::read(s->fd, buf, size);
        if (n < 0 && errno == EINTR) continue;
        // The end of a pipe that came with a stop: Ctrl-C ends the writer of
        // `sleep 100 | capdb ingest -` as well, and the signal is handled
        // before read() returns here. That is an interruption, not the end.
        if (n == 0 && s->should_stop && s->should_stop()) return stop();
        if (n > 0) {
            for (ssize_t i = 0; i < n && s->consumed + static_cast<std::uint64_t>(i) < 4; ++i)
                s->magic[s->consumed + static_cast<std::uint64_t>(i)] = static_cast<unsigned char>(buf[i]);
            if (s->hash) s->hash->update(buf, static_cast<std::size_t>(n));
            s->consumed += static_cast<std::uint64_t>(n);
        }
        return n;
    }
}

// Only ftell's question (where are we?) is answered: the stream cannot seek.
int cookie_seek(void* c, off64_t* offset, int whence) {
    if (*offset != 0 || whence != SEEK_CUR) return -1;
    *offset = static_cast<off64_t>(static_cast<StreamCookie*>(c)->consumed);
    return 0;
}

int cookie_close(void*) { return 0; }

// A named pipe opened (non-blocking) before any writer has: wait for one, as
// cat or tcpdump -r would, rather than read the writer's absence as an
// empty file. A writer that connects and closes without writing ends the
// wait. Returns false when should_stop ended it.
bool wait_for_writer(int fd, const std::function<bool()>& should_stop) { return wait_readable(fd, should_stop); }

}  // namespace

struct OfflineReader::Impl {
    std::string path;
    bool is_stdin = false;
    int fd = -1;             // owned unless stdin
    std::uint64_t size = 0;  // regular files only
    std::int64_t mtime_ns = 0;
    std::uint32_t ts_precision = 0;
    Magic magic = Magic::other;
    // stdio buffer for the FILE libpcap reads (glibc ignores a size given
    // without a buffer); declared before pcap so that it outlives it.
    std::vector<char> stdio_buffer = std::vector<char>(1 << 18);
    std::unique_ptr<pcap_t, PcapCloser> pcap;
    std::unique_ptr<StreamCookie> cookie;
    bool regular = false;

    // Hashing of regular files runs on its own thread, with pread on fd.
    std::thread hasher;
    std::atomic<bool> stop_hashing{false};
    std::string digest;
    std::string hash_error;

    std::uint64_t packets = 0;

    // libpcap has just read a whole pcapng block ending at end: its start is
    // end minus the block's total length, which the block repeats in its
    // last four bytes. -1 if that cannot be read.
    std::int64_t pcapng_block_start(long end) const {
        std::uint8_t b[4];
        if (end < 12 || ::pread(fd, b, 4, end - 4) != 4) return -1;
        std::uint32_t len =
            pcap_is_swapped(pcap.get())
                ? (std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3])
                : (std::uint32_t{b[3]} << 24 | std::uint32_t{b[2]} << 16 | std::uint32_t{b[1]} << 8 | b[0]);
        if (len < 12 || len > end) return -1;
        return end - len;
    }

    ~Impl() {
        stop_hashing = true;
        if (hasher.joinable()) hasher.join();
        pcap.reset();
        if (fd >= 0 && !is_stdin) ::close(fd);
    }

    [[noreturn]] void input_error(std::string_view what) const {
        throw InputError(fmt::format("'{}': {}", printable(path), what));
    }
    [[noreturn]] void interrupted_error() const {
        throw InterruptedError(fmt::format("'{}': interrupted before the capture header was read", printable(path)));
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
};

OfflineReader::OfflineReader(const std::string& path, std::function<bool()> should_stop)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.path = path;
    m.is_stdin = path == "-";
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
    if (S_ISFIFO(st.st_mode) && !m.is_stdin && !wait_for_writer(m.fd, should_stop)) m.interrupted_error();
    const bool regular = S_ISREG(st.st_mode);

    std::FILE* fp = nullptr;
    if (regular) {
        m.size = static_cast<std::uint64_t>(st.st_size);
        std::array<unsigned char, 4> magic{};
        if (m.size < 4) m.input_error(m.size == 0 ? "empty file, not a capture" : "too short to be a capture");
        // errno means something only when pread fails; a short read is a
        // file that shrank after fstat, or one (in sysfs) that is shorter
        // than its size says.
        const ssize_t got = ::pread(m.fd, magic.data(), 4, 0);
        if (got < 0) m.input_error(std::strerror(errno));
        if (got < 4) m.input_error("too short to be a capture");
        if (magic[0] == 0x1f && magic[1] == 0x8b)
            m.input_error("is gzip-compressed; decompress it first (zcat FILE | capdb ingest -)");
        m.magic = classify(magic);
        if (m.magic == Magic::other) m.input_error("not a pcap or pcapng capture (unknown magic number)");
        m.mtime_ns = capdb::file_mtime_ns(m.fd);
        std::vector<std::uint8_t> start(std::min<std::uint64_t>(m.size, 64 * 1024));
        const ssize_t n = ::pread(m.fd, start.data(), start.size(), 0);
        if (n > 0) {
            start.resize(static_cast<std::size_t>(n));
            if (auto h = parse_source_header(start)) m.ts_precision = h->ts_precision;
        }
    }
    m.cookie = std::make_unique<StreamCookie>();
    m.cookie->fd = m.fd;
    m.cookie->regular = regular;
    m.cookie->should_stop = std::move(should_stop);
    if (!regular) m.cookie->hash = std::make_unique<Sha256>();
    cookie_io_functions_t io{cookie_read, nullptr, cookie_seek, cookie_close};
    fp = fopencookie(m.cookie.get(), "rb", io);
    if (!fp) m.input_error(std::strerror(errno));
    std::setvbuf(fp, m.stdio_buffer.data(), _IOFBF, m.stdio_buffer.size());

    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
    if (!p) {
        std::fclose(fp);
        if (m.cookie->stopped) m.interrupted_error();
        if (m.cookie->consumed == 0) m.input_error("empty input, not a capture");
        m.input_error(fmt::format("not a readable pcap or pcapng capture ({})", errbuf));
    }
    m.pcap.reset(p);
    m.magic = classify(m.cookie->magic);
    m.regular = regular;
    if (!regular && m.magic == Magic::pcap) m.ts_precision = is_nanosecond_pcap(m.cookie->magic) ? 9 : 6;
    if (regular) m.start_hasher();
}

OfflineReader::~OfflineReader() = default;

bool OfflineReader::next(RawPacket& out) {
    Impl& m = *impl_;
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    std::int64_t offset = -1;
    std::FILE* fp = pcap_file(m.pcap.get());
    // The stream position, not a sum of caplens: libpcap cuts the caplen of
    // a record longer than the snaplen after reading past all of it.
    if (m.magic == Magic::pcap) offset = std::ftell(fp);
    int rc = pcap_next_ex(m.pcap.get(), &hdr, &data);
    if (rc != 1 && m.cookie->stopped) {
        // The read was abandoned on should_stop's word: neither the end of
        // the input nor damage.
        return false;
    }
    if (rc == PCAP_ERROR_BREAK) return false;  // end of file
    if (rc != 1) {
        std::string why = rc == PCAP_ERROR ? pcap_geterr(m.pcap.get()) : fmt::format("libpcap error {}", rc);
        throw DamagedError(fmt::format("'{}': packet {}: {}", printable(m.path), m.packets + 1, why));
    }
    ++m.packets;
    if (m.magic == Magic::pcapng && m.regular) offset = m.pcapng_block_start(std::ftell(fp));
    if (m.magic != Magic::pcapng) {
        const PcapTime t = pcap_record_time(hdr->ts);
        out.ts_ns = t.ns;
        out.time_invalid = t.invalid;
    } else {
        out.ts_ns = to_ns(hdr->ts);
        out.time_invalid = false;
    }
    out.caplen = hdr->caplen;
    out.wirelen = hdr->len;
    out.file_offset = offset;
    out.data = {data, hdr->caplen};
    return true;
}

std::uint32_t OfflineReader::linktype() const noexcept {
    return static_cast<std::uint32_t>(pcap_datalink(impl_->pcap.get()));
}
std::uint32_t OfflineReader::snaplen() const noexcept {
    return static_cast<std::uint32_t>(pcap_snapshot(impl_->pcap.get()));
}
bool OfflineReader::is_pcapng() const noexcept { return impl_->magic == Magic::pcapng; }
bool OfflineReader::is_stdin() const noexcept { return impl_->is_stdin; }
bool OfflineReader::interrupted() const noexcept { return impl_->cookie->stopped; }
std::uint64_t OfflineReader::file_size() const noexcept { return impl_->size; }
std::int64_t OfflineReader::file_mtime_ns() const noexcept { return impl_->mtime_ns; }
std::uint32_t OfflineReader::ts_precision() const noexcept { return impl_->ts_precision; }
std::uint64_t OfflineReader::bytes_read() const noexcept { return impl_->cookie->consumed; }

std::string OfflineReader::sha256() {
    Impl& m = *impl_;
    if (m.cookie->hash) {
        // Drain what libpcap has not read (trailing bytes still belong to the file).
        std::FILE* fp = pcap_file(m.pcap.get());
        char buf[1 << 16];
        while (fp && std::fread(buf, 1, sizeof buf, fp) > 0) {}
        // Stopped while draining: the digest covers only part of the input.
        if (m.cookie->stopped) return {};
        return m.cookie->hash->hex();
    }
    if (m.hasher.joinable()) m.hasher.join();
    if (!m.hash_error.empty()) m.input_error(fmt::format("cannot read for hashing: {}", m.hash_error));
    return m.digest;
}

}  // namespace capdb
