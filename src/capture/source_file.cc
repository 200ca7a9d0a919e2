#include "capdb/source_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "capdb/capture_file.h"
#include "capdb/cursor.h"

namespace capdb {

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;
constexpr std::size_t kPcapRecordHeader = pcap::kRecordHeaderBytes;
constexpr std::size_t kPcapngPacketHeader = pcapng::kEnhancedPacketHeader;
constexpr std::uint32_t kBlockSection = pcapng::kSectionHeader;
constexpr std::uint32_t kBlockInterface = pcapng::kInterface;
constexpr std::uint32_t kBlockPacket = pcapng::kObsoletePacket;
constexpr std::uint32_t kBlockSimple = pcapng::kSimplePacket;
constexpr std::uint32_t kBlockEnhanced = pcapng::kEnhancedPacket;
// How much of a file's start is read for its header (and pcapng's first
// interface descriptions).
constexpr std::size_t kHeaderProbe = 64 * 1024;

std::optional<std::uint32_t> u32(ByteCursor& c, bool big_endian) noexcept { return big_endian ? c.be32() : c.le32(); }
std::optional<std::uint16_t> u16(ByteCursor& c, bool big_endian) noexcept { return big_endian ? c.be16() : c.le16(); }

// The decimal digits of a pcapng if_tsresol value.
std::uint32_t tsresol_digits(std::uint8_t v) noexcept {
    if (v & 0x80) return 9;  // 2^-n: kept as nanoseconds
    return std::min<std::uint32_t>(v, 9);
}

using pcapng::for_each_option;

// The options of an interface description block: the finest if_tsresol.
std::uint32_t interface_precision(ByteCursor c, bool be) noexcept {
    std::uint32_t digits = 6;
    for_each_option(c, be, [&](std::uint16_t code, std::span<const std::uint8_t> value) {
        if (code == 9 && !value.empty()) digits = tsresol_digits(value[0]);
    });
    return digits;
}

std::optional<SourceHeader> parse_pcapng(std::span<const std::uint8_t> start) noexcept {
    ByteCursor c(start);
    SourceHeader h;
    h.format = SourceFormat::pcapng;
    if (!c.skip(8)) return std::nullopt;
    const auto bom = c.be32();
    if (!bom || (*bom != pcapng::kByteOrderMagic && *bom != pcapng::kByteOrderMagicSwapped)) return std::nullopt;
    h.big_endian = *bom == pcapng::kByteOrderMagic;
    ByteCursor len_cursor(start.subspan(4));
    const auto shb_len = u32(len_cursor, h.big_endian);
    if (!shb_len || *shb_len < pcapng::kSectionHeaderBytes || *shb_len % 4 != 0) return std::nullopt;
    ByteCursor blocks(start);
    if (!blocks.skip(*shb_len)) return h;
    // The interface descriptions before the first packet.
    bool first = true;
    std::uint32_t digits = 0;
    while (blocks.remaining() >= 12) {
        ByteCursor b(blocks.rest());
        const auto type = u32(b, h.big_endian);
        const auto len = u32(b, h.big_endian);
        if (!type || !len || *len < 12 || *len % 4 != 0 || !blocks.can_read(*len)) break;
        if (*type == kBlockPacket || *type == kBlockSimple || *type == kBlockEnhanced || *type == kBlockSection) break;
        if (*type == kBlockInterface && *len >= 20) {
            ByteCursor idb(blocks.rest().subspan(8, *len - 12));
            (void)idb.skip(4);  // link type, reserved
            const auto snaplen = u32(idb, h.big_endian);
            if (first && snaplen) h.snaplen = *snaplen;
            first = false;
            digits = std::max(digits, interface_precision(idb, h.big_endian));
        }
        (void)blocks.skip(*len);
    }
    if (digits != 0) h.ts_precision = digits;
    return h;
}

}  // namespace

std::optional<SourceHeader> parse_source_header(std::span<const std::uint8_t> start) noexcept {
    ByteCursor c(start);
    const auto magic = c.be32();
    if (!magic) return std::nullopt;
    if (*magic == kBlockSection) return parse_pcapng(start);
    SourceHeader h;
    switch (*magic) {
        case pcap::kMagicMicro: h.big_endian = true; break;
        case pcap::kMagicMicroSwapped: h.big_endian = false; break;
        case pcap::kMagicNano:
            h.big_endian = true;
            h.ts_precision = 9;
            break;
        case pcap::kMagicNanoSwapped:
            h.big_endian = false;
            h.ts_precision = 9;
            break;
        default: return std::nullopt;
    }
    // version, thiszone, sigfigs, then the snaplen
    if (!c.skip(12)) return std::nullopt;
    const auto snaplen = u32(c, h.big_endian);
    if (!snaplen) return std::nullopt;
    h.snaplen = *snaplen;
    return h;
}

std::size_t record_read_size(const SourceHeader& header, std::uint32_t caplen) noexcept {
    return (header.format == SourceFormat::pcap ? kPcapRecordHeader : kPcapngPacketHeader) + caplen;
}

std::optional<std::span<const std::uint8_t>> check_record(const SourceHeader& header,
                                                          std::span<const std::uint8_t> bytes,
                                                          const StoredRecord& stored, std::string& problem) {
    ByteCursor c(bytes);
    const bool be = header.big_endian;
    // libpcap cuts a record longer than the snaplen (or its own maximum) to
    // that length: the file holds more than was stored.
    auto caplen_ok = [&](std::uint32_t in_file) {
        return in_file == stored.caplen ||
               (in_file > stored.caplen && (stored.caplen == header.snaplen || stored.caplen == kMaxCaplen));
    };
    if (header.format == SourceFormat::pcap) {
        const auto sec = u32(c, be), frac = u32(c, be), incl = u32(c, be), orig = u32(c, be);
        if (!orig) {
            problem = "the record header is cut short (the file ends)";
            return std::nullopt;
        }
        const std::int64_t unit = header.ts_precision == 9 ? 1 : 1000;
        const std::int64_t stored_sec = stored.ts_ns >= 0 ? stored.ts_ns / kNsPerSec : -1;
        const bool time_ok = stored.time_invalid
                                 ? std::int64_t{*sec} == stored_sec
                                 : std::int64_t{*sec} * kNsPerSec + std::int64_t{*frac} * unit == stored.ts_ns;
        if (!time_ok || !caplen_ok(*incl) || *orig != stored.wirelen) {
            problem = fmt::format(
                "the record header (time {}.{}, {} of {} bytes) is not the stored packet's (time {} ns, {} of {} "
                "bytes)",
                *sec, *frac, *incl, *orig, stored.ts_ns, stored.caplen, stored.wirelen);
            return std::nullopt;
        }
    } else {
        const auto type = u32(c, be), len = u32(c, be);
        if (!len) {
            problem = "the block header is cut short (the file ends)";
            return std::nullopt;
        }
        std::uint32_t in_file = 0, orig = 0;
        if (*type == kBlockEnhanced || *type == kBlockPacket) {
            const auto skip = c.skip(12);  // interface (and drops), timestamp
            const auto cl = u32(c, be), ol = u32(c, be);
            if (!skip || !ol) {
                problem = "the packet block is cut short (the file ends)";
                return std::nullopt;
            }
            in_file = *cl;
            orig = *ol;
            if (std::uint64_t{*len} < kPcapngPacketHeader + 4 + std::uint64_t{in_file}) in_file = UINT32_MAX;
        } else if (*type == kBlockSimple) {
            const auto ol = u32(c, be);
            if (!ol) {
                problem = "the packet block is cut short (the file ends)";
                return std::nullopt;
            }
            orig = *ol;
            in_file = *len >= 16 ? std::min(*ol, *len - 16) : UINT32_MAX;
        } else {
            problem = fmt::format("no packet block there (block type {:#x})", *type);
            return std::nullopt;
        }
        if (!caplen_ok(in_file) || orig != stored.wirelen) {
            problem = fmt::format("the packet block ({} of {} bytes) is not the stored packet's ({} of {} bytes)",
                                  in_file, orig, stored.caplen, stored.wirelen);
            return std::nullopt;
        }
    }
    auto data = c.take(stored.caplen);
    if (!data) problem = "the packet's bytes are cut short (the file ends)";
    return data;
}

std::int64_t file_mtime_ns(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return 0;
    return std::int64_t{st.st_mtim.tv_sec} * kNsPerSec + st.st_mtim.tv_nsec;
}

SourceFile::SourceFile(RecordedFile recorded, std::string kind, std::optional<std::uint64_t> min_size)
    : recorded_(std::move(recorded)), kind_(std::move(kind)) {
    fd_ = ::open(recorded_.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd_ < 0) fail(fmt::format("cannot open it: {}", std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("it is no longer a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (recorded_.size && size != *recorded_.size)
        fail(fmt::format("it has changed since it was ingested (size {} bytes, was {})", size, *recorded_.size));
    if (min_size && size < *min_size)
        fail(fmt::format("it is shorter ({} bytes) than its {} committed bytes: it was cut or damaged", size,
                         *min_size));
    if (recorded_.mtime_ns && file_mtime_ns(fd_) != *recorded_.mtime_ns)
        fail("it has changed since it was ingested (modification time)");
    std::vector<std::uint8_t> start(std::min<std::uint64_t>(size, kHeaderProbe));
    const ssize_t got = ::pread(fd_, start.data(), start.size(), 0);
    if (got < 0) fail(std::strerror(errno));
    start.resize(static_cast<std::size_t>(got));
    auto header = parse_source_header(start);
    if (!header) fail("it is no longer a pcap or pcapng capture");
    if (recorded_.ts_precision && header->ts_precision != *recorded_.ts_precision)
        fail("it has been replaced (its timestamp precision differs)");
    header_ = *header;
}

SourceFile::~SourceFile() {
    if (fd_ >= 0) ::close(fd_);
}

void SourceFile::fail(const std::string& what) const {
    throw SourceError(fmt::format("capture {}: {} '{}': {}; its packets cannot be written", recorded_.capture, kind_,
                                  printable(recorded_.path), what));
}

std::span<const std::uint8_t> SourceFile::bytes_at(std::uint64_t seq, std::int64_t offset, std::size_t n, bool ahead) {
    const auto in_window = [&] {
        return offset >= window_offset_ && static_cast<std::uint64_t>(offset - window_offset_) + n <= window_.size();
    };
    // pcapng blocks end a few bytes after the part read (padding, the
    // trailing length): a read starting just past the previous one is
    // sequential too.
    const bool sequential = ahead || (next_offset_ >= 0 && offset >= next_offset_ && offset - next_offset_ <= 64);
    next_offset_ = offset + static_cast<std::int64_t>(n);
    if (!in_window()) {
        window_.resize(sequential ? std::max(n, kWindowBytes) : n);
        std::size_t have = 0;
        while (have < window_.size()) {
            const ssize_t got = ::pread(fd_, window_.data() + have, window_.size() - have,
                                        static_cast<off_t>(offset + static_cast<std::int64_t>(have)));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) fail(fmt::format("packet {}: {}", seq + 1, std::strerror(errno)));
            if (got == 0) break;
            have += static_cast<std::size_t>(got);
        }
        window_.resize(have);
        window_offset_ = offset;
    }
    const auto start = static_cast<std::size_t>(offset - window_offset_);
    return std::span<const std::uint8_t>(window_).subspan(start, std::min(n, window_.size() - start));
}

std::span<const std::uint8_t> SourceFile::read(std::uint64_t seq, std::int64_t offset, const StoredRecord& stored) {
    if (offset < 0) fail(fmt::format("packet {} has no recorded file offset", seq + 1));
    const auto bytes = bytes_at(seq, offset, record_read_size(header_, stored.caplen), false);
    std::string problem;
    auto data = check_record(header_, bytes, stored, problem);
    if (!data) fail(fmt::format("packet {} (offset {}): {}", seq + 1, offset, problem));
    if (header_.format != SourceFormat::pcapng) return *data;
    const auto start = static_cast<std::size_t>(data->data() - bytes.data());
    // May walk the file, and so move the window that bytes points into.
    check_pcapng_time(seq, offset, bytes, stored);
    return bytes_at(seq, offset, record_read_size(header_, stored.caplen), false).subspan(start, stored.caplen);
}

std::optional<std::int64_t> SourceFile::pcapng_ns(const TsUnit& unit, std::uint64_t units) noexcept {
    return pcapng::timestamp_ns(unit, units);
}

std::optional<SourceFile::TsUnit> SourceFile::interface_unit(std::span<const std::uint8_t> body, bool be) noexcept {
    ByteCursor c(body);
    if (!c.skip(8)) return std::nullopt;  // link type, reserved, snaplen
    SourceFile::TsUnit unit;
    for_each_option(c, be, [&](std::uint16_t code, std::span<const std::uint8_t> value) {
        if (code == 9 && !value.empty()) {
            unit.binary = (value[0] & 0x80) != 0;
            unit.exp = value[0] & 0x7fu;
        } else if (code == 14 && value.size() == 8) {
            ByteCursor v(value);
            const auto first = u32(v, be), second = u32(v, be);
            const std::uint64_t raw =
                be ? (std::uint64_t{*first} << 32 | *second) : (std::uint64_t{*second} << 32 | *first);
            unit.offset_s = static_cast<std::int64_t>(raw);
        }
    });
    return unit;
}

void SourceFile::walk(std::int64_t offset, bool first_packet) {
    while (!walk_failed_ && walked_ <= offset) {
        const auto head = bytes_at(0, walked_, 12, true);
        if (head.size() < 12) break;  // the end of the file
        const bool be = header_.big_endian;
        ByteCursor c(head);
        auto type = u32(c, be);
        auto len = u32(c, be);
        if (*type == kBlockSection) {
            // Each section says its own byte order.
            ByteCursor bom_cursor(head.subspan(8));
            const auto bom = bom_cursor.be32();
            if (!bom || (*bom != pcapng::kByteOrderMagic && *bom != pcapng::kByteOrderMagicSwapped) ||
                (*bom == pcapng::kByteOrderMagic) != header_.big_endian) {
                walk_failed_ = true;  // another byte order: not followed
                break;
            }
            sections_.push_back({walked_, {}});
        }
        if (!len || *len < 12 || *len % 4 != 0 || sections_.empty()) {
            walk_failed_ = true;
            break;
        }
        if (first_packet && (*type == kBlockEnhanced || *type == kBlockPacket || *type == kBlockSimple)) break;
        if (*type == kBlockInterface) {
            const auto block = bytes_at(0, walked_, *len, true);
            auto unit = block.size() == *len ? interface_unit(block.subspan(8, *len - 12), be) : std::nullopt;
            if (!unit) {
                walk_failed_ = true;
                break;
            }
            sections_.back().interfaces.push_back(*unit);
        }
        walked_ += *len;
    }
}

const std::vector<SourceFile::TsUnit>* SourceFile::interfaces_at(std::int64_t offset) {
    walk(offset, false);
    const Section* found = nullptr;
    for (const auto& section : sections_)
        if (section.start <= offset) found = &section;
    return found ? &found->interfaces : nullptr;
}

void SourceFile::check_pcapng_time(std::uint64_t seq, std::int64_t offset, std::span<const std::uint8_t> block,
                                   const StoredRecord& stored) {
    const bool be = header_.big_endian;
    ByteCursor c(block);
    const auto type = u32(c, be);
    if (!type || (*type != kBlockEnhanced && *type != kBlockPacket) || stored.time_invalid) return;
    (void)c.skip(4);
    std::optional<std::uint32_t> interface;
    if (*type == kBlockPacket) {
        interface = u16(c, be);
        (void)c.skip(2);
    } else {
        interface = u32(c, be);
    }
    const auto hi = u32(c, be), lo = u32(c, be);
    if (!interface || !hi || !lo) return;  // check_record has seen the whole header
    const std::uint64_t units = std::uint64_t{*hi} << 32 | *lo;
    auto explains = [&](const std::vector<TsUnit>& interfaces) {
        if (*interface >= interfaces.size()) return false;
        const auto ns = pcapng_ns(interfaces[*interface], units);
        return !ns || *ns == stored.ts_ns;
    };
    if (leading_.empty() && sections_.empty()) {
        walk(std::numeric_limits<std::int64_t>::max(), true);
        if (!sections_.empty()) leading_ = sections_.front().interfaces;
    }
    if (explains(leading_)) return;
    // A later section, or an interface described after the first packet.
    const auto* interfaces = interfaces_at(offset);
    if (interfaces && explains(*interfaces)) return;
    fail(fmt::format("packet {} (offset {}): the packet block's time is not the stored packet's ({} ns)", seq + 1,
                     offset, stored.ts_ns));
}

}  // namespace capdb
