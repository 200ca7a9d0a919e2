// Column encoding of packet pages, the unit of compression in the SQLite store.
//
// A block (one commit's worth of a capture's packets, in file order) is
// grouped by host (group_by_host: each packet with its rarer endpoint, the
// groups of rare hosts after that of the host they mostly talk to, then by
// conversation, then file order) and cut into pages of up to kPageRows
// packets, so that one host's packets sit in few pages. A page's fields are
// laid out as separate streams (packet numbers and timestamps as zig-zag
// varint deltas, lengths as varints, addresses as indexes into a per-page
// dictionary, ports, previews...) and the whole is compressed with zstd.
// See README "Storage".
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "capdb/address.h"
#include "capdb/filter.h"
#include "capdb/packet.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace capdb::store {

inline constexpr std::uint32_t kPageRows = 256;

// A packet waiting to be encoded; its preview lives in the owning batch's arena.
struct PendingPacket {
    std::int64_t ts_ns;
    std::uint32_t caplen;
    std::uint32_t wirelen;
    std::int64_t file_offset;
    Summary summary;
    std::uint32_t preview_off;
    std::uint32_t preview_len;
};

// Packets handed from the reading thread to the storage thread.
struct PendingBatch {
    std::vector<PendingPacket> packets;
    std::vector<std::uint8_t> arena;

    void clear() noexcept {
        packets.clear();
        arena.clear();
    }
    void add(const PacketView& p);
    [[nodiscard]] std::span<const std::uint8_t> preview(const PendingPacket& p) const noexcept {
        return {arena.data() + p.preview_off, p.preview_len};
    }
};

struct EncodedPage {
    std::vector<std::uint8_t> data;       // zstd-compressed page
    std::vector<Address> addresses;       // distinct addresses in the page
    std::vector<std::uint32_t> address_ids;  // the same, as numbers in the block's AddressTable
    std::int64_t ts_min = 0;
    std::int64_t ts_max = 0;
    std::uint32_t packets = 0;
};

inline constexpr std::uint32_t kNoAddress = UINT32_MAX;

// A packet of a block being encoded: its fields, preview, offset (in file
// order) from the block's first packet, and the numbers of its addresses in
// the block's AddressTable (kNoAddress for a row without IP addresses).
struct RowRef {
    const PendingPacket* packet;
    const std::uint8_t* preview;
    std::uint32_t index;
    std::uint32_t src_id = kNoAddress;
    std::uint32_t dst_id = kNoAddress;
};

// The distinct addresses of one block, numbered from 0 in order of first
// appearance. Open addressing; clear() keeps the capacity for the next block.
class AddressTable {
public:
    void clear() noexcept;
    std::uint32_t intern(const Address& a);
    [[nodiscard]] const Address& operator[](std::uint32_t id) const noexcept { return addresses_[id]; }
    [[nodiscard]] std::uint32_t size() const noexcept { return static_cast<std::uint32_t>(addresses_.size()); }

private:
    void grow();
    std::vector<std::uint32_t> slots_;  // id + 1; 0 is empty
    std::vector<Address> addresses_;
};

// Numbers the addresses of rows in table (src_id, dst_id), keeping the order.
void number_addresses(std::vector<RowRef>& rows, AddressTable& table);

// Numbers the addresses (as number_addresses) and orders a block's rows so
// that each host's packets sit together. Every IP row goes to the group of
// its rarer endpoint in this block (the anchor: the one with fewer packets;
// ties to the lower address number, i.e. the first seen); non-IP rows form
// one group. A group's parent is its dominant peer: the other endpoint it
// has most rows with (ties to the conversation seen first), ignoring rows
// from a host to itself. A parent is always more common than its child, so
// the groups form a forest, which is laid out depth first: a group, then
// the groups whose parent it is (recursively, in order of first appearance
// of a conversation of theirs). Roots come in order of their address
// numbers (a root may be a host with no group of its own, only children),
// the non-IP group last. Within a group come first the conversation with
// the parent, then the other conversations (by other endpoint) in order of
// first appearance; within a conversation, file order. Linear time.
//
// A selective query asks for a rare host X. Its rows sit in its own group
// (with hosts more common than X) and in the groups of hosts rarer than X;
// those of the rarer hosts that mostly talk to X follow X's group, so that
// X's packets in a block fill few adjacent pages, which is what the query
// reads.
void group_by_host(std::vector<RowRef>& rows, AddressTable& table);

// Encodes rows (at most kPageRows of one block) as one page.
// Scratch buffers are reused from call to call.
struct ZstdCCtxFree {
    void operator()(ZSTD_CCtx_s* c) const noexcept;
};
struct ZstdDCtxFree {
    void operator()(ZSTD_DCtx_s* c) const noexcept;
};

// rows must have their addresses numbered (number_addresses or
// group_by_host).
class PageEncoder {
public:
    void encode(std::span<const RowRef> rows, std::uint32_t linktype, EncodedPage& out);

private:
    std::uint32_t intern(std::uint32_t id, const Address& a, EncodedPage& out);
    std::unique_ptr<ZSTD_CCtx_s, ZstdCCtxFree> zstd_;
    std::vector<std::uint8_t> scratch_;  // the streams, each in its own region
    std::vector<std::uint8_t> raw_;      // the uncompressed page
    std::vector<std::uint32_t> page_index_;  // block address number -> page dictionary index, or kNoAddress
};

// A decoded page: packets in page order with previews pointing into it.
// Pages decoded on one thread share one zstd context (a query keeps many
// pages alive at once; each context costs over 100 KiB of fresh memory).
// capture is filled in from the argument, seq from the block's first_seq.
class DecodedPage {
public:
    // Decodes the page, keeping only the packets that match filter (all when
    // filter is null). Throws DatabaseError if the page is corrupt.
    void decode(std::span<const std::uint8_t> compressed, CaptureId capture, std::uint64_t first_seq,
                const Filter* filter = nullptr);
    [[nodiscard]] const std::vector<PacketView>& packets() const noexcept { return packets_; }

private:
    std::vector<std::uint8_t> raw_;
    std::vector<Address> dict_;
    std::vector<std::uint8_t> dict_match_;  // per dictionary entry: which address conditions it meets
    std::vector<PacketView> packets_;
};

// Appends v as a little-endian base-128 varint.
inline void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
}

constexpr std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
constexpr std::int64_t unzigzag(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Bounds-checked reader over bytes read back from the database (pages, page
// indexes, posting lists). An overrun means the database is corrupt: it
// throws DatabaseError naming what was being read.
class StoredReader {
public:
    StoredReader(std::span<const std::uint8_t> b, const char* what) : b_(b), what_(what) {}
    [[nodiscard]] bool done() const noexcept { return pos_ == b_.size(); }
    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            if (pos_ >= b_.size()) corrupt("varint past end");
            const std::uint8_t c = b_[pos_++];
            v |= std::uint64_t{c & 0x7fu} << shift;
            if (!(c & 0x80)) return v;
        }
        corrupt("varint too long");
    }
    std::uint8_t u8() {
        if (pos_ >= b_.size()) corrupt("byte past end");
        return b_[pos_++];
    }
    std::uint16_t be16() {
        if (b_.size() - pos_ < 2) corrupt("u16 past end");
        auto v = static_cast<std::uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
        pos_ += 2;
        return v;
    }
    std::span<const std::uint8_t> take(std::size_t n) {
        if (b_.size() - pos_ < n) corrupt("field past end");
        auto s = b_.subspan(pos_, n);
        pos_ += n;
        return s;
    }
    [[noreturn]] void corrupt(const char* why) const;

private:
    std::span<const std::uint8_t> b_;
    std::size_t pos_ = 0;
    const char* what_;
};

std::uint64_t address_hash(const Address& a) noexcept;

struct AddressHash {
    std::size_t operator()(const Address& a) const noexcept { return static_cast<std::size_t>(address_hash(a)); }
};

// Posting-list key of an address: 4 bytes for IPv4, 16 for IPv6. A view into
// a, valid as long as a is.
std::span<const std::uint8_t> address_key(const Address& a) noexcept;

}  // namespace capdb::store
