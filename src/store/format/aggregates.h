// A block's aggregates as stored in blocks.aggregates (see DESIGN.md,
// "Block aggregates"): built from the block's packets when it is written,
// encoded as one zstd frame, decoded by stats' readers and checked by
// verify against the block's pages.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "capdb/aggregates.h"

namespace capdb::store {

// Version of the aggregates layout, the first byte of the uncompressed frame.
inline constexpr std::uint8_t kAggregatesVersion = 1;

// Timeline resolutions, finest first; each divides the next, and every
// automatic interval of capdb stats from 1 ms up is a multiple of the
// finest one a block can keep.
inline constexpr std::int64_t kTimelineResolutions[] = {1'000'000,       10'000'000,       100'000'000,
                                                        1'000'000'000,   5'000'000'000,    60'000'000'000,
                                                        300'000'000'000, 3'600'000'000'000};

// Builds a block's aggregates from its packets, in any order.
class AggregateBuilder {
public:
    // anchor: the time the capture's timeline counts from (its first
    // packet's, in file order).
    void reset(CaptureId capture, std::int64_t anchor_ns);
    void add(const Summary& s, std::uint32_t wirelen, std::int64_t ts_ns);
    // The block's aggregates: the finest timeline resolution with at most
    // max(16, packets / 16) buckets, and the tables when they hold at most
    // packets / 4 entries together.
    void finish(BlockAggregates& out);

private:
    struct AddressHash {
        std::size_t operator()(const Address& a) const noexcept;
    };
    CaptureId capture_ = 0;
    std::int64_t anchor_ = 0;
    Tally total_;
    std::int64_t ts_min_ = 0, ts_max_ = 0;
    std::vector<MixGroup> mix_;
    std::vector<std::pair<std::int64_t, std::uint32_t>> times_;  // (ts, wirelen)
    std::unordered_map<Address, std::uint32_t, AddressHash> address_ids_;
    std::vector<std::pair<Address, Tally>> endpoints_;
    std::unordered_map<std::uint64_t, Tally> pairs_;  // (id a, id b) with a < b by address
    std::unordered_map<std::uint32_t, Tally> ports_;  // proto << 16 | port
    // The previous row's addresses and ids: rows grouped by host repeat them.
    Address last_src_{}, last_dst_{};
    std::uint32_t last_src_id_ = UINT32_MAX, last_dst_id_ = UINT32_MAX;
    std::uint32_t id_of(const Address& a);
};

// The stored blob before its checksum trailer: a zstd frame with all but
// the tables, then (when it has them) one with the tables.
std::vector<std::uint8_t> encode_aggregates(const BlockAggregates& a);
// Decodes a stored blob (without its trailer): the first frame, and the
// tables' frame when `tables` (else has_tables says only that they are
// there). capture, ts_min and ts_max are left as they are (the block row
// says them). Throws DatabaseError ("corrupt block aggregates ...") when it
// is malformed.
void decode_aggregates(std::span<const std::uint8_t> blob, BlockAggregates& out, bool tables = true);
// The same with the two frames apart (as blocks.aggregates and
// blocks.aggregate_tables keep them); tables is read only when wanted.
void decode_aggregates(std::span<const std::uint8_t> head, std::span<const std::uint8_t> tables, BlockAggregates& out,
                       bool want_tables);
// An encoded blob's two frames (the second empty without tables). Throws
// DatabaseError when the first is not a zstd frame.
std::pair<std::span<const std::uint8_t>, std::span<const std::uint8_t>> split_aggregates(
    std::span<const std::uint8_t> blob);

}  // namespace capdb::store
