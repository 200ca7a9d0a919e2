#include "capdb/capture_file.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "capdb/capture.h"

namespace capdb {

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;
constexpr std::size_t kPcapFileHeader = pcap::kFileHeaderBytes;
constexpr std::size_t kPcapRecordHeader = pcap::kRecordHeaderBytes;
constexpr std::size_t kMinBlock = pcapng::kMinBlockBytes;

[[gnu::always_inline]] inline std::optional<std::uint32_t> u32(ByteCursor& c, bool big_endian) noexcept {
    return big_endian ? c.be32() : c.le32();
}
[[gnu::always_inline]] inline std::optional<std::uint16_t> u16(ByteCursor& c, bool big_endian) noexcept {
    return big_endian ? c.be16() : c.le16();
}

// A value a cursor was checked to hold (the block's length was checked first).
template <class T>
[[gnu::always_inline]] inline T must(std::optional<T> v) {
    if (!v) throw CaptureFormatError("a block is shorter than its fields");
    return *v;
}

}  // namespace

std::uint32_t dlt_of_linktype(std::uint32_t linktype) noexcept {
    // libpcap's linktype_to_dlt() for the LINKTYPE_ values that are not
    // their DLT_ (Linux numbering).
    switch (linktype) {
        case 100: return 11;  // LINKTYPE_ATM_RFC1483
        case 101: return 12;  // LINKTYPE_RAW
        case 102: return 15;  // LINKTYPE_SLIP_BSDOS
        case 103: return 16;  // LINKTYPE_PPP_BSDOS
        case 106: return 19;  // LINKTYPE_ATM_CLIP
        default: return linktype;
    }
}

namespace pcapng {

std::optional<std::int64_t> timestamp_ns(const TsUnit& unit, std::uint64_t units) noexcept {
    if (unit.binary ? unit.exp > 63 : unit.exp > 19) return std::nullopt;
    std::uint64_t per_sec = 1;
    for (std::uint32_t i = 0; i < unit.exp; ++i) per_sec *= unit.binary ? 2 : 10;
    // libpcap's arithmetic, wrapping where it wraps (u_int64_t).
    std::uint64_t frac = units % per_sec;
    if (unit.binary) {
        frac = frac * 1'000'000'000u / per_sec;
    } else if (unit.exp < 9) {
        for (std::uint32_t i = unit.exp; i < 9; ++i) frac *= 10;
    } else {
        for (std::uint32_t i = 9; i < unit.exp; ++i) frac /= 10;
    }
    const auto sec = static_cast<std::int64_t>(units / per_sec + static_cast<std::uint64_t>(unit.offset_s));
    std::int64_t ns = 0;
    if (__builtin_mul_overflow(sec, kNsPerSec, &ns) || __builtin_add_overflow(ns, static_cast<std::int64_t>(frac), &ns))
        return sec < 0 ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
    return ns;
}

}  // namespace pcapng

std::uint32_t CaptureParser::linktype() const noexcept {
    return interfaces_.empty() ? 0 : interfaces_.front().linktype;
}

std::uint32_t CaptureParser::snaplen() const noexcept {
    return interfaces_.empty() ? 0 : interfaces_.front().effective_snaplen();
}

CaptureParser::Step CaptureParser::next(std::span<const std::uint8_t> input, std::int64_t offset, RawPacket& out) {
    if (!started_) return start(input);
    return pcapng_ ? pcapng_block(input, offset, out) : pcap_record(input, offset, out);
}

CaptureParser::Step CaptureParser::start(std::span<const std::uint8_t> input) {
    ByteCursor c(input);
    const auto magic = c.be32();
    if (!magic) return {Step::need, 4};
    if (*magic == pcapng::kSectionHeader) {
        pcapng_ = true;
        started_ = true;
        return {Step::block, 0};
    }
    switch (*magic) {
        case pcap::kMagicMicro: big_endian_ = true; break;
        case pcap::kMagicMicroSwapped: break;
        case pcap::kMagicNano:
            big_endian_ = true;
            nano_ = true;
            break;
        case pcap::kMagicNanoSwapped: nano_ = true; break;
        default: throw CaptureFormatError("not a pcap or pcapng capture (unknown magic number)");
    }
    if (input.size() < kPcapFileHeader) return {Step::need, kPcapFileHeader};
    const std::uint16_t major = must(u16(c, big_endian_));
    if (major < 2) throw CaptureFormatError(fmt::format("pcap version {} is too old to read", major));
    (void)c.skip(10);  // minor version, thiszone, sigfigs
    CaptureInterface i;
    i.snaplen = must(u32(c, big_endian_));
    // The upper bits of the link type field hold FCS information.
    i.linktype = dlt_of_linktype(must(u32(c, big_endian_)) & 0x03ffffffu);
    i.unit.exp = nano_ ? 9 : 6;
    interfaces_.push_back(std::move(i));
    started_ = true;
    ready_ = true;
    return {Step::block, kPcapFileHeader};
}

CaptureParser::Step CaptureParser::pcap_record(std::span<const std::uint8_t> input, std::int64_t offset,
                                               RawPacket& out) {
    ByteCursor c(input);
    if (input.size() < kPcapRecordHeader) return {Step::need, kPcapRecordHeader};
    const std::uint32_t sec = must(u32(c, big_endian_));
    const std::uint32_t frac = must(u32(c, big_endian_));
    const std::uint32_t incl = must(u32(c, big_endian_));
    const std::uint32_t orig = must(u32(c, big_endian_));
    if (incl > kMaxCaplen)
        throw CaptureFormatError(fmt::format("captured length {} is more than the maximum of {}", incl, kMaxCaplen));
    const std::size_t size = kPcapRecordHeader + incl;
    if (input.size() < size) return {Step::need, size};
    const CaptureInterface& iface = interfaces_.front();
    // A record longer than the snaplen is cut to it, as libpcap does.
    const std::uint32_t caplen = std::min(incl, iface.effective_snaplen());
    // Seconds are unsigned (to 2106); a sub-second field out of range is
    // flagged and not carried into the seconds, as tcpdump's "(invalid us)".
    const std::int64_t unit = nano_ ? 1 : 1000;
    const bool invalid = std::int64_t{frac} * unit >= kNsPerSec;
    out.ts_ns = std::int64_t{sec} * kNsPerSec + (invalid ? 0 : std::int64_t{frac} * unit);
    out.time_invalid = invalid;
    out.caplen = caplen;
    out.wirelen = orig;
    out.file_offset = offset;
    out.if_index = 0;
    out.linktype = iface.linktype;
    out.data = must(c.take(caplen));
    return {Step::packet, size};
}

CaptureParser::Step CaptureParser::pcapng_block(std::span<const std::uint8_t> input, std::int64_t offset,
                                                RawPacket& out) {
    if (input.size() < kMinBlock) return {Step::need, kMinBlock};
    ByteCursor head(input);
    const std::uint32_t type_be = must(head.be32());
    const bool shb = type_be == pcapng::kSectionHeader;
    if (shb) {
        ByteCursor bom_cursor(input.subspan(8));
        const std::uint32_t bom = must(bom_cursor.be32());
        if (bom != pcapng::kByteOrderMagic && bom != pcapng::kByteOrderMagicSwapped)
            throw CaptureFormatError(fmt::format("a section header with an unknown byte-order magic {:#010x}", bom));
        big_endian_ = bom == pcapng::kByteOrderMagic;
    } else if (!in_section_) {
        throw CaptureFormatError("a block before the first section header");
    }
    ByteCursor c(input);
    const std::uint32_t type = must(u32(c, big_endian_));
    const std::uint32_t len = must(u32(c, big_endian_));
    if (len < kMinBlock || len % 4 != 0 || (shb && len < pcapng::kSectionHeaderBytes))
        throw CaptureFormatError(fmt::format("a block (type {:#x}) of impossible length {}", type, len));
    if (len > kMaxBlockBytes)
        throw CaptureFormatError(
            fmt::format("a block (type {:#x}) of length {}, more than the maximum of {}", type, len, kMaxBlockBytes));
    if (input.size() < len) return {Step::need, len};
    ByteCursor tail(input.subspan(len - 4, 4));
    const std::uint32_t trailing = must(u32(tail, big_endian_));
    if (trailing != len)
        throw CaptureFormatError(
            fmt::format("a block (type {:#x}) says length {} at its start and {} at its end", type, len, trailing));
    ByteCursor body(input.subspan(8, len - kMinBlock));

    if (shb) {
        section_header(body);
        return {Step::block, len};
    }
    if (type == pcapng::kInterface) {
        interface_description(body);
        ready_ = true;
        return {Step::block, len};
    }
    if (type != pcapng::kEnhancedPacket && type != pcapng::kObsoletePacket && type != pcapng::kSimplePacket)
        return {Step::block, len};  // name resolution, statistics, decryption secrets, custom, unknown
    if (!ready_) throw CaptureFormatError("a packet block before any interface description block");

    std::uint32_t interface = 0, caplen = 0, wirelen = 0;
    std::uint64_t units = 0;
    if (type == pcapng::kSimplePacket) {
        wirelen = must(u32(body, big_endian_));
        caplen = std::min<std::uint32_t>(wirelen, static_cast<std::uint32_t>(body.remaining()));
    } else {
        if (type == pcapng::kObsoletePacket) {
            interface = must(u16(body, big_endian_));
            (void)must(u16(body, big_endian_));  // drops count
        } else {
            interface = must(u32(body, big_endian_));
        }
        const std::uint32_t hi = must(u32(body, big_endian_));
        const std::uint32_t lo = must(u32(body, big_endian_));
        units = std::uint64_t{hi} << 32 | lo;
        caplen = must(u32(body, big_endian_));
        wirelen = must(u32(body, big_endian_));
        if (caplen > body.remaining())
            throw CaptureFormatError(fmt::format("a packet block's captured length {} runs past its block", caplen));
    }
    const CaptureInterface& iface = section_interface(interface);
    std::int64_t ts = 0;
    if (type != pcapng::kSimplePacket) {
        const auto ns = pcapng::timestamp_ns(iface.unit, units);
        if (!ns)
            throw CaptureFormatError(
                fmt::format("interface {} has a timestamp resolution capdb cannot read", interface));
        ts = *ns;
    }
    out.ts_ns = ts;
    out.time_invalid = false;
    out.caplen = std::min(caplen, iface.effective_snaplen());
    out.wirelen = wirelen;
    out.file_offset = offset;
    out.if_index = iface.index;
    out.linktype = iface.linktype;
    out.data = must(body.take(out.caplen));
    return {Step::packet, len};
}

void CaptureParser::section_header(ByteCursor body) {
    (void)body.skip(4);  // byte-order magic, read already
    const std::uint16_t major = must(u16(body, big_endian_));
    if (major != 1) throw CaptureFormatError(fmt::format("pcapng version {} is not supported", major));
    in_section_ = true;
    section_.clear();
}

void CaptureParser::interface_description(ByteCursor body) {
    CaptureInterface i;
    i.index = static_cast<std::uint32_t>(interfaces_.size());
    i.linktype = dlt_of_linktype(must(u16(body, big_endian_)));
    (void)must(u16(body, big_endian_));  // reserved
    i.snaplen = must(u32(body, big_endian_));
    const bool be = big_endian_;
    pcapng::for_each_option(body, be, [&](std::uint16_t code, std::span<const std::uint8_t> value) {
        switch (code) {
            case 2: i.name.assign(value.begin(), value.end()); break;
            case 3: i.description.assign(value.begin(), value.end()); break;
            case 9:
                if (!value.empty()) {
                    i.unit.binary = (value[0] & 0x80) != 0;
                    i.unit.exp = value[0] & 0x7fu;
                }
                break;
            case 14:
                if (value.size() == 8) {
                    ByteCursor v(value);
                    const std::uint64_t first = u32(v, be).value_or(0), second = u32(v, be).value_or(0);
                    i.unit.offset_s = static_cast<std::int64_t>(be ? (first << 32 | second) : (second << 32 | first));
                }
                break;
            default: break;
        }
    });
    // Text options may end in NULs (some writers pad with them).
    while (!i.name.empty() && i.name.back() == '\0') i.name.pop_back();
    while (!i.description.empty() && i.description.back() == '\0') i.description.pop_back();
    if (i.unit.binary ? i.unit.exp > 63 : i.unit.exp > 19)
        throw CaptureFormatError(fmt::format("interface {} has an if_tsresol ({}{}) capdb cannot read", i.index,
                                             i.unit.binary ? "2^-" : "10^-", i.unit.exp));
    section_.push_back(i.index);
    interfaces_.push_back(std::move(i));
}

const CaptureInterface& CaptureParser::section_interface(std::uint32_t id) const {
    if (id >= section_.size())
        throw CaptureFormatError(fmt::format(
            "a packet on interface {}, which its section does not describe ({} described)", id, section_.size()));
    return interfaces_[section_[id]];
}

}  // namespace capdb
