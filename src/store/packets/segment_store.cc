#include "store/packets/segment_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb {

namespace store {

namespace {

constexpr std::uint64_t kPcapRecordHeader = 16;
constexpr std::uint64_t kPcapngPacketOverhead = 32;  // EPB header (28) and trailing length (4)

std::uint64_t record_size(SegmentFormat f, std::uint32_t caplen) noexcept {
    if (f == SegmentFormat::pcap) return kPcapRecordHeader + caplen;
    return kPcapngPacketOverhead + ((std::uint64_t{caplen} + 3) & ~std::uint64_t{3});
}

// A decimal number without sign or leading zero, at least 1.
std::optional<std::uint64_t> parse_positive(std::string_view s) noexcept {
    if (s.empty() || s.size() > 19 || s[0] == '0') return std::nullopt;
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

void fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

}  // namespace

std::string packet_dir_of(const std::string& db_path) { return db_path + ".packets"; }
std::string packet_lock_of(const std::string& dir) { return dir + "/lock"; }

const char* segment_format_name(SegmentFormat f) noexcept { return f == SegmentFormat::pcap ? "pcap" : "pcapng"; }

std::string segment_file_name(const SegmentName& name) {
    return fmt::format("{}-{}.{}", name.capture, name.n, segment_format_name(name.format));
}

std::optional<SegmentName> parse_segment_name(std::string_view s) noexcept {
    const auto dash = s.find('-');
    const auto dot = s.find('.');
    if (dash == std::string_view::npos || dot == std::string_view::npos || dot < dash) return std::nullopt;
    const auto capture = parse_positive(s.substr(0, dash));
    const auto n = parse_positive(s.substr(dash + 1, dot - dash - 1));
    const auto ext = s.substr(dot + 1);
    if (!capture || !n || *capture > static_cast<std::uint64_t>(INT64_MAX) || *n > UINT32_MAX) return std::nullopt;
    SegmentName out;
    out.capture = static_cast<CaptureId>(*capture);
    out.n = static_cast<std::uint32_t>(*n);
    if (ext == "pcap")
        out.format = SegmentFormat::pcap;
    else if (ext == "pcapng")
        out.format = SegmentFormat::pcapng;
    else
        return std::nullopt;
    return out;
}

void ensure_packet_dir(const std::string& dir) {
    // Packets hold payloads: the directory is its owner's only.
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        throw DatabaseError(
            fmt::format("cannot create the packet store '{}': {}", printable(dir), std::strerror(errno)));
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw DatabaseError(fmt::format("packet store '{}' is not a directory", printable(dir)));
    const std::string lock = packet_lock_of(dir);
    const int fd = ::open(lock.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        throw DatabaseError(
            fmt::format("cannot create the packet store's lock '{}': {}", printable(lock), std::strerror(errno)));
    ::close(fd);
}

std::unique_ptr<PacketLock> PacketLock::acquire(const std::string& dir, Mode mode) {
    const std::string lock = packet_lock_of(dir);
    const int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return nullptr;
        throw DatabaseError(
            fmt::format("cannot open the packet store's lock '{}': {}", printable(lock), std::strerror(errno)));
    }
    int rc = 0;
    do {
        rc = ::flock(fd, mode == Mode::shared ? LOCK_SH : LOCK_EX);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        const int err = errno;
        ::close(fd);
        throw DatabaseError(fmt::format("cannot lock the packet store '{}': {}", printable(lock), std::strerror(err)));
    }
    return std::unique_ptr<PacketLock>(new PacketLock(fd));
}

std::unique_ptr<PacketLock> PacketLock::try_exclusive(const std::string& dir) {
    const int fd = ::open(packet_lock_of(dir).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return nullptr;
    }
    return std::unique_ptr<PacketLock>(new PacketLock(fd));
}

PacketLock::~PacketLock() { ::close(fd_); }

SegmentWriter::SegmentWriter(std::string dir, CaptureId capture, const SegmentSpec& spec, std::uint64_t rotate_bytes)
    : dir_(std::move(dir)), capture_(capture), spec_(spec), rotate_bytes_(std::max<std::uint64_t>(rotate_bytes, 1)) {}

SegmentWriter::~SegmentWriter() {
    if (file_) std::fclose(file_);
}

void SegmentWriter::fail_write(int err, const std::string& what) {
    const bool full = err == ENOSPC || err == EDQUOT;
    const std::string message = fmt::format("packet store '{}': cannot write segment '{}' of capture {}: {}{}",
                                            printable(dir_), printable(path_), capture_, what,
                                            full ? " (the disk is full; every packet committed before is kept)" : "");
    if (full) throw DiskFullError(message);
    throw DatabaseError(message);
}

void SegmentWriter::close_current() {
    if (!file_) return;
    writer_.reset();
    std::fclose(file_);
    file_ = nullptr;
}

void SegmentWriter::open_next() {
    if (file_) {
        // The finished segment's last blocks may not be committed yet: make
        // them durable now, as sync() would have.
        if (::fdatasync(::fileno(file_)) != 0) fail_write(errno, std::strerror(errno));
        close_current();
    }
    if (n_ == 0) ensure_packet_dir(dir_);
    ++n_;
    path_ = dir_ + "/" + segment_file_name({capture_, n_, spec_.format});
    // A file of this name can only be a leftover of a removed capture whose
    // id was reused: it is this capture's now.
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) fail_write(errno, fmt::format("cannot create it: {}", std::strerror(errno)));
    ::fchmod(fd, 0600);
    file_ = ::fdopen(fd, "wb");
    if (!file_) {
        const int err = errno;
        ::close(fd);
        fail_write(err, std::strerror(err));
    }
    std::setvbuf(file_, nullptr, _IONBF, 0);  // PcapWriter buffers
    sync_dir_ = true;
    WritePlan plan;
    plan.format = spec_.format == SegmentFormat::pcap ? WriteFormat::pcap : WriteFormat::pcapng;
    plan.linktype = spec_.linktype;
    plan.snaplen = spec_.snaplen;
    plan.nanosecond = spec_.ts_precision > 6;
    plan.interfaces = {{spec_.linktype, spec_.snaplen, spec_.ts_precision > 6 ? 9u : 6u}};
    writer_ = std::make_unique<PcapWriter>(file_, path_, plan);
    size_ = 0;
    committed_ = 0;
    placed_ = false;
    try {
        writer_->flush();
    } catch (const Error& e) {
        const int err = errno;
        if (err == ENOSPC || err == EDQUOT) {
            // No room for the header: as if it had not been opened, so
            // that the next write() tries again.
            close_current();
            ::unlink(path_.c_str());
            --n_;
        } else {
            discard_uncommitted();
        }
        fail_write(err, e.what());
    }
    header_ = size_ = writer_->bytes();
}

SegmentWriter::Placement SegmentWriter::write(std::vector<PacketBatch>& block) {
    Placement out;
    if (failed_)
        throw DatabaseError(fmt::format("packet store '{}': capture {} cannot be written after an earlier failure",
                                        printable(dir_), capture_));
    if (!file_ || (size_ >= rotate_bytes_ && size_ > header_)) open_next();
    out.new_segment = !placed_;  // the block opens the segment's row
    out.name = segment_file_name({capture_, n_, spec_.format});
    const std::uint64_t before = size_;
    std::uint64_t offset = size_;
    const std::uint32_t precision = spec_.ts_precision > 6 ? 9u : 6u;
    try {
        for (PacketBatch& b : block) {
            for (PacketBatch::Packet& p : b.packets) {
                if (p.data_len != p.caplen)
                    throw DatabaseError(fmt::format("packet store: capture {}: a packet of {} bytes came without them",
                                                    capture_, p.caplen));
                p.file_offset = static_cast<std::int64_t>(offset);
                PacketOut po;
                po.ts_ns = p.ts_ns;
                po.wirelen = p.wirelen;
                po.linktype = spec_.linktype;
                po.snaplen = spec_.snaplen;
                po.ts_precision = precision;
                po.data = b.data(p);
                writer_->write(po);
                offset += record_size(spec_.format, p.data_len);
            }
        }
        writer_->flush();
    } catch (const Error& e) {
        const int err = errno;
        if (e.code() != Exit::usage && (err == ENOSPC || err == EDQUOT) && cut_back(before))
            fail_write(err, std::strerror(err));
        size_ = std::max(size_, before + 1);  // cut back whatever was written
        discard_uncommitted();
        if (e.code() == Exit::usage)
            throw DatabaseError(fmt::format("packet store '{}': capture {}: {}", printable(dir_), capture_, e.what()));
        fail_write(err, std::strerror(err));
    }
    size_ = offset;
    if (writer_->bytes() != size_)
        throw DatabaseError(fmt::format("packet store: segment '{}' holds {} bytes, {} expected", printable(path_),
                                        writer_->bytes(), size_));
    out.bytes = size_;
    placed_ = true;
    return out;
}

bool SegmentWriter::cut_back(std::uint64_t length) noexcept {
    if (!file_ || ::ftruncate(::fileno(file_), static_cast<off_t>(length)) != 0 ||
        std::fseek(file_, static_cast<long>(length), SEEK_SET) != 0)
        return false;
    std::clearerr(file_);
    writer_->discard(length);
    size_ = length;
    return true;
}

void SegmentWriter::sync() {
    if (!file_) return;
    if (::fdatasync(::fileno(file_)) != 0) fail_write(errno, std::strerror(errno));
    if (sync_dir_) {
        fsync_dir(dir_);
        sync_dir_ = false;
    }
}

void SegmentWriter::committed() noexcept { committed_ = size_; }

void SegmentWriter::discard_uncommitted() noexcept {
    if (!file_) return;
    close_current();
    failed_ = true;
    if (committed_ == 0) {
        // Nothing of it is in the index: it was never there.
        ::unlink(path_.c_str());
    } else if (size_ > committed_) {
        (void)::truncate(path_.c_str(), static_cast<off_t>(committed_));
    }
}

RecoveryResult recover_segments(const std::string& dir,
                                const std::function<SegmentVerdict(const SegmentName&, const std::string&)>& verdict) {
    RecoveryResult result;
    std::vector<std::pair<SegmentName, std::string>> files;
    {
        DIR* d = ::opendir(dir.c_str());
        if (!d) return result;
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (auto parsed = parse_segment_name(name)) files.emplace_back(*parsed, name);
        }
        ::closedir(d);
    }
    for (const auto& [parsed, name] : files) {
        const SegmentVerdict v = verdict(parsed, name);
        const std::string path = dir + "/" + name;
        if (v.action == SegmentAction::remove) {
            if (::unlink(path.c_str()) == 0) ++result.removed;
        } else if (v.action == SegmentAction::truncate) {
            struct stat st {};
            if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
                static_cast<std::uint64_t>(st.st_size) > v.bytes &&
                ::truncate(path.c_str(), static_cast<off_t>(v.bytes)) == 0)
                ++result.truncated;
        }
    }
    return result;
}

}  // namespace store
}  // namespace capdb
