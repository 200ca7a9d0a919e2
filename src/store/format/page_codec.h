// The packet page: the unit of compression of a block (see DESIGN.md, "Page").
//
// A block (one commit's worth of a capture's packets, in file order) is
// ordered by host (host_grouping.h) and cut into pages of up to kPageRows
// packets. A page's fields are laid out as separate streams (packet numbers
// and timestamps as zig-zag varint deltas, lengths as varints, addresses as
// indexes into a per-page dictionary, ports, previews...) and the whole is
// compressed with zstd.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "capdb/address.h"
#include "capdb/batch.h"
#include "capdb/expr.h"
#include "capdb/packet.h"
#include "store/format/block_layout.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace capdb::store {

// Version of the page layout, the first byte of every uncompressed page.
// 3: bit 7 of a row's flags byte holds PacketView::time_invalid. Schema
// version 2 and 3 databases hold only version 3 pages.
// 4: a dictionary of the page's (interface, link type) pairs replaces the
// one link type, and a stream gives each row's entry when there are
// several. Version 3 pages still decode (interface 0, the page's link type).
// 5: the network field's fourth value: an ARP row (over Ethernet, for
// IPv4) with its sender and target protocol addresses in the dictionary;
// and the preview stream in a second zstd frame after the page's first,
// so that a count (which reads no preview) does not decompress it.
// 6: a stream of TCP flags bytes, one per TCP row with ports (flows say
// whether SYN, FIN or RST were seen). Versions 3 to 5 still decode (flags 0).
// 7: per row a tunnel stream (the outermost tunnel's type and id, the
// outermost IP header's addresses as dictionary entries). Versions 3 to 6
// still decode (no tunnel).
inline constexpr std::uint8_t kPageVersion = 7;

inline constexpr std::uint32_t kNoAddress = UINT32_MAX;

// A packet of a block being encoded: its fields, preview, offset (in file
// order) from the block's first packet, and the numbers of its addresses in
// the block's AddressTable (kNoAddress for a row without IP addresses, or
// without an outer IP header).
struct RowRef {
    const PacketBatch::Packet* packet;
    const std::uint8_t* preview;
    std::uint32_t index;
    std::uint32_t src_id = kNoAddress;
    std::uint32_t dst_id = kNoAddress;
    std::uint32_t outer_src_id = kNoAddress;
    std::uint32_t outer_dst_id = kNoAddress;
};

struct EncodedPage {
    std::vector<std::uint8_t> data;          // zstd-compressed page
    std::vector<Address> addresses;          // distinct addresses in the page
    std::vector<std::uint32_t> address_ids;  // the same, as numbers in the block's AddressTable
    std::int64_t ts_min = 0;
    std::int64_t ts_max = 0;
    std::uint32_t packets = 0;
};

struct ZstdCCtxFree {
    void operator()(ZSTD_CCtx_s* c) const noexcept;
};
struct ZstdDCtxFree {
    void operator()(ZSTD_DCtx_s* c) const noexcept;
};

// Encodes rows (at most kPageRows of one block) as one page. rows must have
// their addresses numbered (number_addresses or group_by_host). Scratch
// buffers are reused from call to call.
class PageEncoder {
public:
    // Each row's link type and interface come from its packet.
    void encode(std::span<const RowRef> rows, EncodedPage& out);

private:
    std::uint32_t intern(std::uint32_t id, const Address& a, EncodedPage& out);
    std::unique_ptr<ZSTD_CCtx_s, ZstdCCtxFree> zstd_;
    std::vector<std::uint8_t> scratch_;      // the streams, each in its own region
    std::vector<std::uint8_t> raw_;          // the uncompressed page
    std::vector<std::uint32_t> page_index_;  // block address number -> page dictionary index, or kNoAddress
    std::vector<std::pair<std::uint32_t, std::uint32_t>> interfaces_;  // the page's (if_index, linktype)
};

// What a page decode keeps: the rows in the time range for which the
// expression (the query's packet conditions; null: none) holds. The query
// layer translates its filter into this; the store knows nothing else of
// queries.
struct RowPredicate {
    std::int64_t from_ns = std::numeric_limits<std::int64_t>::min();  // inclusive
    std::int64_t to_ns = std::numeric_limits<std::int64_t>::max();    // inclusive
    const Expr* expr = nullptr;                                       // not owned; outlives the decode

    // Conditions other than time: only a packet's own fields answer them.
    [[nodiscard]] bool has_row_conditions() const noexcept { return expr && !expr->empty(); }
    [[nodiscard]] bool matches(const PacketView& p) const noexcept;
};

// A decoded page: packets in page order with previews pointing into it.
// Pages decoded on one thread share one zstd context (a query keeps many
// pages alive at once; each context costs over 100 KiB of fresh memory).
// capture is filled in from the argument, seq from the block's first_seq.
class DecodedPage {
public:
    // Decodes the page, keeping only the packets that match (all when
    // predicate is null). Throws DatabaseError if the page is corrupt.
    void decode(std::span<const std::uint8_t> compressed, CaptureId capture, std::uint64_t first_seq,
                const RowPredicate* predicate = nullptr);
    // As decode, but only counts the rows that match (packets() is left
    // empty): no PacketView is built.
    [[nodiscard]] std::size_t count(std::span<const std::uint8_t> compressed, const RowPredicate& predicate);
    [[nodiscard]] const std::vector<PacketView>& packets() const noexcept { return packets_; }

private:
    std::size_t decode_rows(std::span<const std::uint8_t> compressed, CaptureId capture, std::uint64_t first_seq,
                            const RowPredicate* predicate, bool keep);
    std::vector<std::uint8_t> raw_;
    std::vector<std::uint8_t> previews_;  // version 5: the preview stream, from its own frame
    std::vector<Address> dict_;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> interfaces_;  // (if_index, linktype)
    std::vector<std::uint64_t> dict_match_;  // per dictionary entry: bit k, address term k holds it
    std::vector<PacketView> packets_;
};

}  // namespace capdb::store
