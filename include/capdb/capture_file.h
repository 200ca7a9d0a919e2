// The pcap and pcapng file formats, read: capdb's own block reader, used by
// file ingest (OfflineReader), by query -w's record checks (SourceFile) and
// by the fuzz target. Pure byte parsing through ByteCursor: no libpcap, no
// file descriptors. See DESIGN.md, "Reading capture files".
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "capdb/cursor.h"
#include "capdb/pcap_format.h"

namespace capdb {

struct RawPacket;

// The DLT_ value libpcap reports for a LINKTYPE_ value a file holds (the
// inverse of linktype_of_dlt(), Linux numbering).
std::uint32_t dlt_of_linktype(std::uint32_t linktype) noexcept;

// Largest captured length a record may claim (libpcap's MAXIMUM_SNAPLEN);
// a file's snaplen of 0 or above it means this.
inline constexpr std::uint32_t kMaxCaplen = 262144;  // = live.h kMaxSnaplen
// Largest pcapng block capdb reads (anything longer is damage).
inline constexpr std::uint32_t kMaxBlockBytes = 16u << 20;

namespace pcapng {
// How an interface's timestamps count (if_tsresol, if_tsoffset).
struct TsUnit {
    bool binary = false;  // 2^-exp s, else 10^-exp s
    std::uint32_t exp = 6;
    std::int64_t offset_s = 0;
};

// A packet block's timestamp (units since the epoch minus if_tsoffset) in
// ns as capdb stores it: whole seconds by the resolution plus if_tsoffset,
// the fraction scaled to ns (as libpcap does at nanosecond precision),
// saturating beyond int64 ns; nullopt for a resolution finer than 10^-19 s
// or 2^-63 s.
std::optional<std::int64_t> timestamp_ns(const TsUnit& unit, std::uint64_t units) noexcept;

// Calls on_option(code, value) for each option of a block, from c (at the
// first option) to opt_endofopt, the end of c, or an option that does not fit.
template <class F>
void for_each_option(ByteCursor c, bool big_endian, F&& on_option) noexcept {
    while (c.remaining() >= 4) {
        const auto code = big_endian ? c.be16() : c.le16();
        const auto len = big_endian ? c.be16() : c.le16();
        if (!code || !len || *code == 0) break;
        auto value = c.take(*len);
        if (!value || !c.skip((4u - *len % 4u) % 4u)) break;
        on_option(*code, *value);
    }
}
}  // namespace pcapng

// One interface of a capture: pcapng's interface description blocks, in
// file order across sections (as tshark numbers frame.interface_id); a pcap
// file has one.
struct CaptureInterface {
    std::uint32_t index = 0;
    std::uint32_t linktype = 0;  // DLT
    std::uint32_t snaplen = 0;   // as in the file (0: none)
    std::string name;            // if_name, if any
    std::string description;     // if_description, if any
    pcapng::TsUnit unit;
    // Decimal digits of its timestamps: if_tsresol's, at most 9 (binary
    // resolutions: 9).
    [[nodiscard]] std::uint32_t ts_precision() const noexcept { return unit.binary || unit.exp > 9 ? 9 : unit.exp; }
    // The snaplen records are cut to (libpcap's rule: 0 or too large means
    // kMaxCaplen).
    [[nodiscard]] std::uint32_t effective_snaplen() const noexcept {
        return snaplen == 0 || snaplen > kMaxCaplen ? kMaxCaplen : snaplen;
    }
};

// The file's bytes do not follow the format; what says why (no file name).
struct CaptureFormatError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Reads a pcap or pcapng byte stream record by record. It holds no bytes:
// the caller offers the unread input and consumes what a step says.
class CaptureParser {
public:
    struct Step {
        enum Kind {
            need,    // size: bytes wanted at the start of the input (more than offered)
            block,   // size: bytes consumed, no packet (a header, an interface, a skipped block)
            packet,  // size: bytes consumed; out holds a packet (data points into the input)
        } kind;
        std::size_t size;
    };

    // input: the unread bytes, which begin at file offset `offset`.
    // Throws CaptureFormatError when they cannot be a valid continuation.
    Step next(std::span<const std::uint8_t> input, std::int64_t offset, RawPacket& out);

    // The header is read (pcap: the file header; pcapng: through the first
    // interface description), so linktype() and snaplen() are known.
    [[nodiscard]] bool ready() const noexcept { return ready_; }
    [[nodiscard]] bool is_pcapng() const noexcept { return pcapng_; }
    [[nodiscard]] bool nanosecond_pcap() const noexcept { return !pcapng_ && nano_; }
    // Of the first interface.
    [[nodiscard]] std::uint32_t linktype() const noexcept;
    [[nodiscard]] std::uint32_t snaplen() const noexcept;
    // Every interface described so far, by index.
    [[nodiscard]] const std::vector<CaptureInterface>& interfaces() const noexcept { return interfaces_; }

private:
    Step start(std::span<const std::uint8_t> input);
    Step pcap_record(std::span<const std::uint8_t> input, std::int64_t offset, RawPacket& out);
    Step pcapng_block(std::span<const std::uint8_t> input, std::int64_t offset, RawPacket& out);
    void section_header(ByteCursor body);
    void interface_description(ByteCursor body);
    const CaptureInterface& section_interface(std::uint32_t id) const;

    bool started_ = false;
    bool ready_ = false;
    bool pcapng_ = false;
    bool big_endian_ = false;  // pcap: the file; pcapng: the current section
    bool nano_ = false;
    bool in_section_ = false;
    std::vector<CaptureInterface> interfaces_;
    std::vector<std::uint32_t> section_;  // the current section's interfaces (indexes into interfaces_)
};

}  // namespace capdb
