// capdb's rows in ClickHouse's RowBinary format (little-endian integers,
// FixedString as raw bytes, String as a LEB128 length and its bytes): the
// packet rows of the packets and packets_by_addr tables, and the captures
// rows. The column lists here and the DDL in schema.cc go together.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "capdb/batch.h"
#include "capdb/cursor.h"
#include "capdb/packet.h"
#include "capdb/store.h"

namespace capdb::clickhouse {

// Appends RowBinary values to a byte vector.
class RowWriter {
public:
    explicit RowWriter(std::vector<std::uint8_t>& out) noexcept : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v) { le(v, 2); }
    void u32(std::uint32_t v) { le(v, 4); }
    void u64(std::uint64_t v) { le(v, 8); }
    void i64(std::int64_t v) { le(static_cast<std::uint64_t>(v), 8); }
    void fixed(std::span<const std::uint8_t> bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
    void string(std::string_view text);

private:
    void le(std::uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    std::vector<std::uint8_t>& out_;
};

// Reads RowBinary values through a ByteCursor; each read fails softly
// (std::nullopt) at the end of the bytes, so that a row cut by the end of a
// chunk is read again when more has arrived.
class RowReader {
public:
    explicit RowReader(std::span<const std::uint8_t> bytes) noexcept : cur_(bytes) {}
    std::optional<std::uint8_t> u8() noexcept { return cur_.u8(); }
    std::optional<std::uint16_t> u16() noexcept { return cur_.le16(); }
    std::optional<std::uint32_t> u32() noexcept { return cur_.le32(); }
    std::optional<std::uint64_t> u64() noexcept;
    std::optional<std::int64_t> i64() noexcept;
    std::optional<std::span<const std::uint8_t>> fixed(std::size_t n) noexcept { return cur_.take(n); }
    std::optional<std::span<const std::uint8_t>> string() noexcept;
    [[nodiscard]] std::size_t position() const noexcept { return cur_.position(); }
    [[nodiscard]] std::size_t remaining() const noexcept { return cur_.remaining(); }

private:
    ByteCursor cur_;
};

// The packet columns, in RowBinary order, for SELECT and INSERT.
extern const char* const kPacketColumns;
// packets_by_addr: the address and its role (0: the source, 1: the
// destination when it differs), then kPacketColumns.
extern const char* const kAddressColumns;

// A packet row of capture `capture`, number seq, committed in block `block`.
void write_packet(RowWriter& w, CaptureId capture, std::uint64_t seq, std::int64_t block, const PacketBatch& batch,
                  const PacketBatch::Packet& p);

// Reads one packet row into view (its preview a view of the bytes read);
// false when the bytes end inside it.
bool read_packet(RowReader& r, PacketView& view) noexcept;

// The captures table's columns, in RowBinary order.
extern const char* const kCaptureColumns;

// What the captures table keeps beside CaptureInfo.
struct CaptureRow {
    CaptureInfo info;
    std::string sensor;
    std::int64_t writer_pid = 0;
    std::uint64_t version = 0;  // ReplacingMergeTree: the newest row of an id wins
    bool deleted = false;
};

void write_capture(RowWriter& w, const CaptureRow& row);
bool read_capture(RowReader& r, CaptureRow& row);

}  // namespace capdb::clickhouse
