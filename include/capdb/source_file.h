// An original capture file read again: its header, and the records at the
// offsets ingest stored, each checked against what was stored before its
// bytes are trusted (query -w; see DESIGN.md, "Export"). Pure file reading:
// no libpcap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capdb/capture_file.h"
#include "capdb/error.h"

namespace capdb {

// A capture's original file is missing, changed or was never kept.
struct SourceError : Error {
    explicit SourceError(const std::string& m) : Error(Exit::source, m) {}
};

enum class SourceFormat { pcap, pcapng };

struct SourceHeader {
    SourceFormat format = SourceFormat::pcap;
    bool big_endian = false;  // of the file (pcap) or its first section (pcapng)
    // Decimal digits of the timestamps: pcap 6 or 9 by its magic; pcapng
    // the finest if_tsresol of the interfaces described before its first
    // packet (6 when none says; 9 for binary resolutions).
    std::uint32_t ts_precision = 6;
    std::uint32_t snaplen = 0;  // pcap's header; pcapng: the first interface's
};

// Parses the start of a pcap or pcapng file (its first bytes, as many as
// are at hand). nullopt when it is neither.
std::optional<SourceHeader> parse_source_header(std::span<const std::uint8_t> start) noexcept;

// What the database holds for one packet.
struct StoredRecord {
    std::int64_t ts_ns = 0;
    std::uint32_t caplen = 0;
    std::uint32_t wirelen = 0;
    bool time_invalid = false;  // ts_ns holds whole seconds only
};

// Bytes to read at a record's offset to hold its header and caplen bytes.
std::size_t record_read_size(const SourceHeader& header, std::uint32_t caplen) noexcept;

// Checks the record at the start of bytes against the stored one. pcap:
// seconds and fraction (seconds only when time_invalid), caplen and wire
// length. pcapng: an enhanced, simple or obsolete packet block whose lengths
// agree (its time needs the interface: SourceFile::read checks it). Returns
// the packet's caplen bytes
// (a view into bytes), or nullopt with why in problem.
std::optional<std::span<const std::uint8_t>> check_record(const SourceHeader& header,
                                                          std::span<const std::uint8_t> bytes,
                                                          const StoredRecord& stored, std::string& problem);

// What ingest recorded about a capture's file.
struct RecordedFile {
    std::int64_t capture = 0;
    std::string path;
    std::optional<std::uint64_t> size;
    std::optional<std::int64_t> mtime_ns;
    std::optional<std::uint32_t> ts_precision;
};

// The modification time of an open file, ns since the epoch.
std::int64_t file_mtime_ns(int fd);

// An original file opened again. The constructor checks that it is still
// the one ingested (regular file, same size and mtime when recorded, a
// capture header of the same precision); read() checks each record, for
// pcapng also its time by its interface.
// Throws SourceError naming the capture and the path.
class SourceFile {
public:
    // kind names the file in errors: "original file", or "store segment" (a
    // packet-store segment, which must hold at least min_size bytes: those
    // committed; a live writer may have written more).
    explicit SourceFile(RecordedFile recorded, std::string kind = "original file",
                        std::optional<std::uint64_t> min_size = std::nullopt);
    ~SourceFile();
    SourceFile(const SourceFile&) = delete;
    SourceFile& operator=(const SourceFile&) = delete;

    [[nodiscard]] const SourceHeader& header() const noexcept { return header_; }

    // The caplen bytes of packet seq (0-based) whose record is at offset;
    // valid until the next call.
    std::span<const std::uint8_t> read(std::uint64_t seq, std::int64_t offset, const StoredRecord& stored);

private:
    [[noreturn]] void fail(const std::string& what) const;
    // Up to n bytes at offset (fewer at the end of the file), valid until
    // the next call. A read that starts where the previous one ended (or a
    // few bytes later), or any read with ahead, fills a window of
    // kWindowBytes, so that reading a whole file costs a pread per window
    // rather than per packet.
    std::span<const std::uint8_t> bytes_at(std::uint64_t seq, std::int64_t offset, std::size_t n, bool ahead);

    // pcapng: how an interface's timestamps count (if_tsresol, if_tsoffset).
    using TsUnit = pcapng::TsUnit;
    struct Section {
        std::int64_t start = 0;
        std::vector<TsUnit> interfaces;
    };
    // The time a pcapng packet block stores, in ns as ingest stored it;
    // nullopt when its resolution is beyond what capdb can compare.
    static std::optional<std::int64_t> pcapng_ns(const TsUnit& unit, std::uint64_t units) noexcept;
    // An interface description block's body (after type and length): its
    // if_tsresol and if_tsoffset.
    static std::optional<TsUnit> interface_unit(std::span<const std::uint8_t> body, bool big_endian) noexcept;
    // The interfaces of the section that holds offset, by walking the
    // file's blocks up to it (once: sections_ remembers them). Only used
    // when the first section's interfaces do not explain a packet's time.
    const std::vector<TsUnit>* interfaces_at(std::int64_t offset);
    // Walks blocks from walked_ until past offset (or, with first_packet, to
    // the first packet block), recording sections and interfaces.
    void walk(std::int64_t offset, bool first_packet);
    void check_pcapng_time(std::uint64_t seq, std::int64_t offset, std::span<const std::uint8_t> block,
                           const StoredRecord& stored);

    static constexpr std::size_t kWindowBytes = 1 << 20;

    RecordedFile recorded_;
    std::string kind_;
    int fd_ = -1;
    SourceHeader header_;
    std::vector<std::uint8_t> window_;
    std::int64_t window_offset_ = 0;
    std::int64_t next_offset_ = -1;  // where the previous read ended
    std::vector<TsUnit> leading_;    // the first section's interfaces before its first packet
    std::vector<Section> sections_;  // walked so far, in file order
    std::int64_t walked_ = 0;        // blocks before this offset are in sections_
    bool walk_failed_ = false;
};

}  // namespace capdb
