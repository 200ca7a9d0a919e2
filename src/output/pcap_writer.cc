#include "capdb/pcap_writer.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "capdb/error.h"
#include "capdb/pcap_format.h"

namespace capdb {

namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;
// Bytes gathered before each write(). Small enough to stay in the CPU's
// cache while the kernel copies them into the page cache: copying a 1.3 GB
// capture through 64 KiB buffers took 2.1-4.2 s on a 2-core VM, through
// 1 MiB buffers 3.9-7.5 s.
constexpr std::size_t kFlushBytes = 1 << 16;

void le16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void le32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint32_t padded(std::size_t n) noexcept { return static_cast<std::uint32_t>((n + 3) & ~std::size_t{3}); }

}  // namespace

std::uint32_t linktype_of_dlt(std::uint32_t dlt) noexcept {
    // libpcap's dlt_to_linktype() for the DLT_ values that are not their
    // LINKTYPE_ (Linux numbering).
    switch (dlt) {
        case 11: return 100;  // DLT_ATM_RFC1483
        case 12: return 101;  // DLT_RAW
        case 15: return 102;  // DLT_SLIP_BSDOS
        case 16: return 103;  // DLT_PPP_BSDOS
        case 18: return 246;  // DLT_PFSYNC
        case 19: return 106;  // DLT_ATM_CLIP
        default: return dlt;
    }
}

namespace pcap_layout {

void file_header(std::vector<std::uint8_t>& out, bool nanosecond, std::uint32_t snaplen, std::uint32_t linktype) {
    le32(out, nanosecond ? pcap::kMagicNano : pcap::kMagicMicro);
    le16(out, 2);
    le16(out, 4);
    le32(out, 0);  // thiszone
    le32(out, 0);  // sigfigs
    le32(out, snaplen);
    le32(out, linktype);
}

void record_header(std::vector<std::uint8_t>& out, bool nanosecond, std::int64_t ts_ns, std::uint32_t caplen,
                   std::uint32_t wirelen) {
    le32(out, static_cast<std::uint32_t>(ts_ns / kNsPerSec));
    const std::int64_t frac = ts_ns % kNsPerSec;
    le32(out, static_cast<std::uint32_t>(nanosecond ? frac : frac / 1000));
    le32(out, caplen);
    le32(out, wirelen);
}

void section_header(std::vector<std::uint8_t>& out) {
    le32(out, pcapng::kSectionHeader);
    le32(out, pcapng::kSectionHeaderBytes);
    le32(out, pcapng::kByteOrderMagic);
    le16(out, 1);
    le16(out, 0);
    le32(out, 0xffffffff);  // section length: not given
    le32(out, 0xffffffff);
    le32(out, pcapng::kSectionHeaderBytes);
}

void interface_description(std::vector<std::uint8_t>& out, std::uint32_t linktype, std::uint32_t snaplen,
                           std::uint32_t ts_precision) {
    le32(out, pcapng::kInterface);
    le32(out, 32);
    le16(out, static_cast<std::uint16_t>(linktype));
    le16(out, 0);
    le32(out, snaplen);
    le16(out, 9);  // if_tsresol: 10^-precision
    le16(out, 1);
    le32(out, ts_precision);  // the value byte and three bytes of padding
    le32(out, 0);             // opt_endofopt
    le32(out, 32);
}

void enhanced_packet(std::vector<std::uint8_t>& out, std::uint32_t interface, std::uint64_t ts_units,
                     std::uint32_t wirelen, std::span<const std::uint8_t> data) {
    const std::uint32_t len = pcapng::kEnhancedPacketHeader + 4 + padded(data.size());
    le32(out, pcapng::kEnhancedPacket);
    le32(out, len);
    le32(out, interface);
    le32(out, static_cast<std::uint32_t>(ts_units >> 32));
    le32(out, static_cast<std::uint32_t>(ts_units));
    le32(out, static_cast<std::uint32_t>(data.size()));
    le32(out, wirelen);
    out.insert(out.end(), data.begin(), data.end());
    out.resize(out.size() + (padded(data.size()) - data.size()), 0);
    le32(out, len);
}

}  // namespace pcap_layout

PcapWriter::PcapWriter(std::FILE* out, std::string name, const WritePlan& plan)
    : out_(out), name_(std::move(name)), plan_(plan) {
    if (plan_.format == WriteFormat::pcap) {
        if (!plan_.open_ended) pcap_header(plan_.linktype);
    } else {
        pcap_layout::section_header(buffer_);
        for (const auto& key : plan_.interfaces) {
            const auto [dlt, snaplen, precision] = key;
            interface_ids_.emplace(key, static_cast<std::uint32_t>(interface_ids_.size()));
            pcap_layout::interface_description(buffer_, linktype_of_dlt(dlt), snaplen, precision);
        }
    }
}

void PcapWriter::pcap_header(std::uint32_t dlt) {
    plan_.linktype = dlt;
    pcap_layout::file_header(buffer_, plan_.nanosecond, plan_.snaplen, linktype_of_dlt(dlt));
    header_ = true;
}

void PcapWriter::write(const PacketOut& p) {
    const auto caplen = static_cast<std::uint32_t>(p.data.size());
    if (p.ts_ns < 0)
        throw UsageError(fmt::format("{}: a packet's time ({} ns) is before 1970, which {} cannot hold", name_, p.ts_ns,
                                     plan_.format == WriteFormat::pcap ? "pcap" : "pcapng"));
    if (plan_.format == WriteFormat::pcap) {
        if (p.ts_ns / kNsPerSec > 0xffffffffLL)
            throw UsageError(fmt::format(
                "{}: a packet's time ({} ns) is after 2106, which pcap cannot hold (use --write-format pcapng)", name_,
                p.ts_ns));
        if (!header_) pcap_header(p.linktype);
        if (p.linktype != plan_.linktype)
            throw UsageError(
                fmt::format("{}: a packet of link type {} in a pcap file of link type {}; a pcap file holds one: use "
                            "--write-format pcapng",
                            name_, p.linktype, plan_.linktype));
        pcap_layout::record_header(buffer_, plan_.nanosecond, p.ts_ns, caplen, p.wirelen);
        buffer_.insert(buffer_.end(), p.data.begin(), p.data.end());
    } else {
        auto it = interface_ids_.find({p.linktype, p.snaplen, p.ts_precision});
        if (it == interface_ids_.end() && plan_.open_ended) {
            it = interface_ids_
                     .emplace(std::tuple{p.linktype, p.snaplen, p.ts_precision},
                              static_cast<std::uint32_t>(interface_ids_.size()))
                     .first;
            pcap_layout::interface_description(buffer_, linktype_of_dlt(p.linktype), p.snaplen, p.ts_precision);
        }
        if (it == interface_ids_.end())
            throw UsageError(
                fmt::format("{}: a packet of link type {} that no interface describes", name_, p.linktype));
        const auto units = static_cast<std::uint64_t>(p.ts_precision >= 9 ? p.ts_ns : p.ts_ns / 1000);
        pcap_layout::enhanced_packet(buffer_, it->second, units, p.wirelen, p.data);
    }
    ++packets_;
    if (buffer_.size() >= kFlushBytes) drain();
}

void PcapWriter::drain() {
    if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), out_) != buffer_.size()) {
        if (errno == EPIPE) throw OutputClosedError(fmt::format("'{}': its reader closed it", name_));
        throw Error(Exit::input, fmt::format("cannot write '{}': {}", name_, std::strerror(errno)));
    }
    bytes_ += buffer_.size();
    buffer_.clear();
}

void PcapWriter::flush() {
    drain();
    if (std::fflush(out_) != 0) {
        if (errno == EPIPE) throw OutputClosedError(fmt::format("'{}': its reader closed it", name_));
        throw Error(Exit::input, fmt::format("cannot write '{}': {}", name_, std::strerror(errno)));
    }
}

void PcapWriter::finish() {
    if (plan_.format == WriteFormat::pcap && !header_) pcap_header(plan_.linktype == 0 ? 1 : plan_.linktype);
    flush();
}

}  // namespace capdb
