// The numbers of the pcap and pcapng formats that capdb's reader
// (capture_file, source_file) and writer (pcap_writer) share: magic
// numbers, header and block sizes, block types. See DESIGN.md, "Reading
// capture files" and "Export".
#pragma once

#include <cstddef>
#include <cstdint>

namespace capdb {

namespace pcap {
// The file's first four bytes, read in the file's byte order; read in the
// other byte order they are the swapped values.
inline constexpr std::uint32_t kMagicMicro = 0xa1b2c3d4;
inline constexpr std::uint32_t kMagicNano = 0xa1b23c4d;
inline constexpr std::uint32_t kMagicMicroSwapped = 0xd4c3b2a1;
inline constexpr std::uint32_t kMagicNanoSwapped = 0x4d3cb2a1;
inline constexpr std::size_t kFileHeaderBytes = 24;
inline constexpr std::size_t kRecordHeaderBytes = 16;  // seconds, fraction, caplen, wire length
}  // namespace pcap

namespace pcapng {
// Block types.
inline constexpr std::uint32_t kSectionHeader = 0x0a0d0d0a;
inline constexpr std::uint32_t kInterface = 1;
inline constexpr std::uint32_t kObsoletePacket = 2;
inline constexpr std::uint32_t kSimplePacket = 3;
inline constexpr std::uint32_t kEnhancedPacket = 6;
// A section header's byte-order magic, read in the section's byte order
// (swapped: read in the other).
inline constexpr std::uint32_t kByteOrderMagic = 0x1a2b3c4d;
inline constexpr std::uint32_t kByteOrderMagicSwapped = 0x4d3c2b1a;
inline constexpr std::size_t kMinBlockBytes = 12;         // type, length, trailing length
inline constexpr std::size_t kSectionHeaderBytes = 28;    // without options
inline constexpr std::size_t kEnhancedPacketHeader = 28;  // type, length, interface, ts x2, caplen, wire length
}  // namespace pcapng

}  // namespace capdb
