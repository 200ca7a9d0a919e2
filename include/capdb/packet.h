// One packet as capdb stores and returns it.
#pragma once

#include <cstdint>
#include <span>

#include "capdb/decode.h"

namespace capdb {

using CaptureId = std::int64_t;

// Largest preview capdb keeps (--preview-bytes).
inline constexpr std::uint32_t kMaxPreviewBytes = 256;

// A stored packet. preview is a view valid until the callback that received
// it returns (query) or until append() returns (ingest).
struct PacketView {
    CaptureId capture = 0;
    std::uint64_t seq = 0;          // 0-based packet number within its capture
    std::int64_t ts_ns = 0;         // nanoseconds since the Unix epoch (may be negative)
    std::uint32_t caplen = 0;       // bytes captured
    std::uint32_t wirelen = 0;      // bytes on the wire
    std::int64_t file_offset = -1;  // byte offset of the record in the source file; -1 unknown (stdin, live)
    std::uint32_t linktype = 0;     // DLT (libpcap's numbering) of its interface
    std::uint32_t if_index = 0;     // its interface in the capture (pcapng: in file order; else 0)
    // The record's sub-second field was out of range (us >= 10^6 or
    // ns >= 10^9): ts_ns holds its whole seconds only, as tcpdump prints
    // them with "(invalid us)".
    bool time_invalid = false;
    Summary summary{};
    std::span<const std::uint8_t> preview{};  // first min(caplen, preview_bytes) captured bytes
};

}  // namespace capdb
