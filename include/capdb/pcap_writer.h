// Writing packets as pcap or pcapng (query -w): the byte layouts, and a
// writer that puts them on a FILE. No libpcap. See DESIGN.md, "Export".
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "capdb/error.h"

namespace capdb {

enum class WriteFormat { pcap, pcapng };

// The LINKTYPE_ value a file holds for a DLT_ value libpcap reports (they
// differ for a few link types, such as DLT_RAW 12 = LINKTYPE_RAW 101).
std::uint32_t linktype_of_dlt(std::uint32_t dlt) noexcept;

// Byte layouts, little-endian. Each appends to out.
namespace pcap_layout {
// The 24-byte pcap file header; nanosecond: magic a1b23c4d, else a1b2c3d4.
void file_header(std::vector<std::uint8_t>& out, bool nanosecond, std::uint32_t snaplen, std::uint32_t linktype);
// A 16-byte record header; ts_ns >= 0 and below 2^32 s.
void record_header(std::vector<std::uint8_t>& out, bool nanosecond, std::int64_t ts_ns, std::uint32_t caplen,
                   std::uint32_t wirelen);
// pcapng: a section header block (no options, section length unknown).
void section_header(std::vector<std::uint8_t>& out);
// pcapng: an interface description block with if_tsresol 6 or 9.
void interface_description(std::vector<std::uint8_t>& out, std::uint32_t linktype, std::uint32_t snaplen,
                           std::uint32_t ts_precision);
// pcapng: an enhanced packet block; the timestamp in units of the
// interface's resolution.
void enhanced_packet(std::vector<std::uint8_t>& out, std::uint32_t interface, std::uint64_t ts_units,
                     std::uint32_t wirelen, std::span<const std::uint8_t> data);
}  // namespace pcap_layout

// One packet to write: its stored fields and its bytes.
struct PacketOut {
    std::int64_t ts_ns = 0;
    std::uint32_t wirelen = 0;
    std::uint32_t linktype = 0;      // DLT
    std::uint32_t snaplen = 0;       // of its capture
    std::uint32_t ts_precision = 9;  // of its capture: 6 or 9
    std::span<const std::uint8_t> data{};
};

// What the file's header depends on: known before the first packet, or,
// open-ended (query --follow -w), learned from the packets as they come.
struct WritePlan {
    WriteFormat format = WriteFormat::pcap;
    // pcap: the one DLT, the largest snaplen (at least the largest caplen),
    // and whether any packet came from a nanosecond source.
    std::uint32_t linktype = 0;
    std::uint32_t snaplen = 0;
    bool nanosecond = false;
    // pcapng: one interface per (DLT, snaplen, precision), in this order.
    std::vector<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>> interfaces;
    // Open-ended: pcap's header is written before the first packet, with
    // that packet's link type (Ethernet when finish() comes first), and
    // snaplen and nanosecond as given; a packet of another link type is a
    // UsageError that suggests pcapng. pcapng adds an interface block the
    // first time a (DLT, snaplen, precision) comes.
    bool open_ended = false;
};

// The reader of the output went away (EPIPE: a pipe whose reader exited).
struct OutputClosedError : Error {
    explicit OutputClosedError(const std::string& m) : Error(Exit::input, m) {}
};

// Writes a pcap or pcapng stream to out (not owned), buffered. Throws
// Error naming `name` when writing fails (OutputClosedError on EPIPE), and
// UsageError for a packet the format cannot hold (a time before 1970, or
// from 2106 on in pcap, or a link type or interface not in the plan).
class PcapWriter {
public:
    PcapWriter(std::FILE* out, std::string name, const WritePlan& plan);
    void write(const PacketOut& p);
    // Writes what is buffered and flushes out.
    void flush();
    // flush(), after an open-ended pcap's header if no packet wrote it.
    void finish();
    // Forgets what is buffered: the caller has cut the output back to
    // `bytes` bytes (after a failed write), where writing goes on.
    void discard(std::uint64_t bytes) noexcept {
        buffer_.clear();
        bytes_ = bytes;
    }
    [[nodiscard]] std::uint64_t packets() const noexcept { return packets_; }
    [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }

private:
    void drain();
    void pcap_header(std::uint32_t dlt);

    std::FILE* out_;
    std::string name_;
    WritePlan plan_;
    std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint32_t>, std::uint32_t> interface_ids_;
    std::vector<std::uint8_t> buffer_;
    bool header_ = false;  // pcap: the file header is written (or buffered)
    std::uint64_t packets_ = 0;
    std::uint64_t bytes_ = 0;  // written to out, headers included
};

}  // namespace capdb
