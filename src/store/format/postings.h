// The store's index formats (see DESIGN.md, "Page index and postings"):
// a block's page index (what each of its pages holds in time and packets)
// and the posting lists that name, per address, the pages holding it.
// Decoders throw DatabaseError for malformed bytes, never read outside them
// and never overflow.
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "capdb/address.h"
#include "store/format/block_layout.h"
#include "util/bytes.h"

namespace capdb::store {

// One address's postings within a segment of blocks, as varints: for each
// block, its id delta (the first from the segment's first block), the number
// of its pages holding the address, and their page-number deltas.
struct PostingList {
    std::vector<std::uint8_t> bytes;
    std::int64_t last = 0;
    // Blocks are added in increasing id order, pages in increasing order.
    void add(std::int64_t block, std::int64_t segment_first, const std::vector<std::uint16_t>& pages);
};

// Decodes a posting list whose segment starts at first_block; calls
// on_page(block id, page number) for each entry. Throws DatabaseError
// ("corrupt posting list ...") if it is malformed.
template <class F>
void read_postings(std::span<const std::uint8_t> b, std::int64_t first_block, F&& on_page) {
    StoredReader in(b, "posting list");
    std::int64_t block = first_block;
    while (!in.done()) {
        // Block ids are positive and fit in int64: a delta that leaves that
        // range is corruption (and adding it would overflow).
        const std::uint64_t delta = in.varint();
        if (block < 0 || delta > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() - block))
            in.corrupt("block number out of range");
        block += static_cast<std::int64_t>(delta);
        if (block <= 0) in.corrupt("block number out of range");
        const std::uint64_t n = in.varint();
        std::uint64_t page = 0;
        for (std::uint64_t k = 0; k < n; ++k) {
            page += in.varint();
            if (page >= kMaxPagesPerBlock) in.corrupt("page number");
            on_page(block, static_cast<std::size_t>(page));
        }
    }
}

using PageSet = std::bitset<kMaxPagesPerBlock>;

// What a block records of each of its pages (blocks.page_index), so that
// pages are chosen without reading them.
struct PageMeta {
    std::uint32_t packets;
    std::int64_t ts_min;
    std::int64_t ts_max;
};

// Varints per page: packets, zig-zag ts_min - block ts_min, ts_max - ts_min.
std::vector<std::uint8_t> encode_page_index(const std::vector<PageMeta>& pages, std::int64_t block_ts_min);

// A page of a block that a query reads: its number and what the block
// records of it.
struct PageHit {
    std::uint16_t number;
    PageMeta meta;
};

// Decodes a block's page index into out, keeping the pages in wanted.
// Throws DatabaseError if it is malformed.
void decode_page_index(std::span<const std::uint8_t> b, std::int64_t block_ts_min, const PageSet& wanted,
                       std::vector<PageHit>& out);

// A range of posting keys, both ends inclusive.
struct KeyRange {
    std::vector<std::uint8_t> lo, hi;
};

// Posting-key ranges covering a prefix: IPv4 keys are 4 bytes, IPv6 16.
std::vector<KeyRange> key_ranges(const Prefix& p);

}  // namespace capdb::store
