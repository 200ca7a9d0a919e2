#include "store/block_codec.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "capdb/error.h"

namespace capdb::store {

namespace {

// Page format version, first byte of every uncompressed page.
constexpr std::uint8_t kPageVersion = 2;
constexpr int kZstdLevel = 1;

enum StreamId : std::size_t {
    kSeq = 0,       // zig-zag varint: index in block - previous index (first: index)
    kTs,            // zig-zag varint: ts - previous ts (first: ts - page ts_min)
    kCaplen,        // varint
    kWireDelta,     // zig-zag varint: wirelen - caplen
    kOffset,        // zig-zag varint: offset - (previous offset + previous caplen); first: offset
    kFlags,         // 1 byte: status(3) | network(2) << 3 | has_ports << 5 | fragment << 6
    kEthertype,     // 2 bytes big-endian
    kIp,            // IP rows: proto byte, src index varint, dst index varint
    kPorts,         // rows with ports: 2+2 bytes big-endian
    kPreview,       // per row: length varint, then that many bytes
    kStreamCount
};

// Readers of a decoded page: any overrun means the page is corrupt.
StoredReader page_reader(std::span<const std::uint8_t> b) { return StoredReader(b, "packet page"); }

[[noreturn]] void corrupt(const char* why) { page_reader({}).corrupt(why); }

// Two's-complement addition for values read from a page: a corrupt page may
// hold any deltas, and signed overflow must not be undefined behaviour.
constexpr std::int64_t wrapping_add(std::int64_t a, std::int64_t b) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + static_cast<std::uint64_t>(b));
}

}  // namespace


void StoredReader::corrupt(const char* why) const {
    throw DatabaseError(fmt::format("corrupt {} in database ({})", what_, why));
}

void ZstdCCtxFree::operator()(ZSTD_CCtx_s* c) const noexcept { ZSTD_freeCCtx(c); }
void ZstdDCtxFree::operator()(ZSTD_DCtx_s* c) const noexcept { ZSTD_freeDCtx(c); }

void PendingBatch::add(const PacketView& p) {
    PendingPacket pp{p.ts_ns, p.caplen, p.wirelen, p.file_offset, p.summary,
                     static_cast<std::uint32_t>(arena.size()), static_cast<std::uint32_t>(p.preview.size())};
    arena.insert(arena.end(), p.preview.begin(), p.preview.end());
    packets.push_back(pp);
}

std::span<const std::uint8_t> address_key(const Address& a) noexcept {
    if (a.is_v4()) return std::span<const std::uint8_t>(a.bytes).subspan(12, 4);
    return std::span<const std::uint8_t>(a.bytes);
}

namespace {

std::uint64_t load64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::uint64_t mix(std::uint64_t h) noexcept {  // murmur3's 64-bit finaliser
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

// Numbers 64-bit keys from 0 in order of first appearance (open addressing).
class KeyNumbers {
public:
    void clear() noexcept {
        std::fill(slots_.begin(), slots_.end(), Slot{});
        size_ = 0;
    }
    // The key's number, and whether it is new.
    std::pair<std::uint32_t, bool> intern(std::uint64_t key) {
        if (2 * (size_ + 1) > slots_.size()) grow();
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
            Slot& s = slots_[i];
            if (s.id == 0) {
                s = {key, ++size_};
                return {size_ - 1, true};
            }
            if (s.key == key) return {s.id - 1, false};
        }
    }

private:
    struct Slot {
        std::uint64_t key = 0;
        std::uint32_t id = 0;  // number + 1; 0 is empty
    };
    void grow() {
        std::vector<Slot> old(std::max<std::size_t>(64, 2 * slots_.size()));
        old.swap(slots_);
        const std::size_t mask = slots_.size() - 1;
        for (const Slot& s : old) {
            if (s.id == 0) continue;
            std::size_t i = mix(s.key) & mask;
            while (slots_[i].id != 0) i = (i + 1) & mask;
            slots_[i] = s;
        }
    }
    std::vector<Slot> slots_;
    std::uint32_t size_ = 0;
};

}  // namespace

std::uint64_t address_hash(const Address& a) noexcept {
    return mix(load64(a.bytes.data()) * 0x9e3779b97f4a7c15ull ^ load64(a.bytes.data() + 8));
}

void AddressTable::clear() noexcept {
    std::fill(slots_.begin(), slots_.end(), 0u);
    addresses_.clear();
}

void AddressTable::grow() {
    std::vector<std::uint32_t> old(std::max<std::size_t>(64, 2 * slots_.size()));
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t id : old) {
        if (id == 0) continue;
        std::size_t i = address_hash(addresses_[id - 1]) & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = id;
    }
}

std::uint32_t AddressTable::intern(const Address& a) {
    if (2 * (addresses_.size() + 1) > slots_.size()) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = address_hash(a) & mask;; i = (i + 1) & mask) {
        const std::uint32_t id = slots_[i];
        if (id == 0) {
            addresses_.push_back(a);
            slots_[i] = static_cast<std::uint32_t>(addresses_.size());
            return slots_[i] - 1;
        }
        if (addresses_[id - 1] == a) return id - 1;
    }
}

void number_addresses(std::vector<RowRef>& rows, AddressTable& table) {
    table.clear();
    // Consecutive packets of a flow repeat the same pair: remember the last.
    Address last_src{}, last_dst{};
    std::uint32_t src_id = kNoAddress, dst_id = kNoAddress;
    for (RowRef& r : rows) {
        const Summary& s = r.packet->summary;
        if (s.network == Network::none) continue;
        if (src_id == kNoAddress || !(s.src == last_src)) {
            src_id = table.intern(s.src);
            last_src = s.src;
        }
        if (dst_id == kNoAddress || !(s.dst == last_dst)) {
            dst_id = table.intern(s.dst);
            last_dst = s.dst;
        }
        r.src_id = src_id;
        r.dst_id = dst_id;
    }
}

void group_by_host(std::vector<RowRef>& rows, AddressTable& table) {
    number_addresses(rows, table);
    const std::uint32_t hosts = table.size();
    const std::uint32_t non_ip = hosts;  // the node of non-IP rows
    std::vector<std::uint32_t> packets_of(hosts);
    for (const RowRef& r : rows) {
        if (r.src_id == kNoAddress) continue;
        ++packets_of[r.src_id];
        if (r.dst_id != r.src_id) ++packets_of[r.dst_id];
    }
    // Conversations (anchor, other) numbered in order of first appearance,
    // with their rows; anchors numbered by the first appearance of a
    // conversation of theirs. Non-IP rows are the conversation
    // (non_ip, kNoAddress).
    KeyNumbers conversations;
    std::vector<std::uint32_t> conversation_of(rows.size());
    std::vector<std::uint32_t> anchor_of_conversation, other_of_conversation, rows_of_conversation;
    std::vector<std::uint32_t> anchors;  // in order of first appearance
    std::vector<std::uint8_t> is_anchor(std::size_t{hosts} + 1);
    std::uint64_t last_key = 0;
    std::uint32_t last_conversation = kNoAddress;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const RowRef& r = rows[i];
        std::uint32_t anchor = non_ip, other = kNoAddress;
        if (r.src_id != kNoAddress) {
            const bool src_rarer = packets_of[r.src_id] < packets_of[r.dst_id] ||
                                   (packets_of[r.src_id] == packets_of[r.dst_id] && r.src_id < r.dst_id);
            anchor = src_rarer ? r.src_id : r.dst_id;
            other = src_rarer ? r.dst_id : r.src_id;
        }
        const std::uint64_t key = (std::uint64_t{anchor} << 32) | other;
        if (last_conversation == kNoAddress || key != last_key) {
            const auto [number, added] = conversations.intern(key);
            if (added) {
                if (!is_anchor[anchor]) {
                    is_anchor[anchor] = 1;
                    anchors.push_back(anchor);
                }
                anchor_of_conversation.push_back(anchor);
                other_of_conversation.push_back(other);
                rows_of_conversation.push_back(0);
            }
            last_key = key;
            last_conversation = number;
        }
        ++rows_of_conversation[last_conversation];
        conversation_of[i] = last_conversation;
    }
    const auto nconv = anchor_of_conversation.size();
    // Each group's parent: the peer it has most rows with (the first such),
    // always more common than the anchor, so parents form a forest. A group
    // keeps its conversation with the parent; the parent is its other end.
    std::vector<std::uint32_t> parent_conversation(std::size_t{hosts} + 1, kNoAddress);
    for (std::uint32_t c = 0; c < nconv; ++c) {
        const std::uint32_t a = anchor_of_conversation[c];
        if (a == non_ip || other_of_conversation[c] == a) continue;
        const std::uint32_t best = parent_conversation[a];
        if (best == kNoAddress || rows_of_conversation[c] > rows_of_conversation[best]) parent_conversation[a] = c;
    }
    auto parent = [&](std::uint32_t node) {
        const std::uint32_t c = parent_conversation[node];
        return c == kNoAddress ? kNoAddress : other_of_conversation[c];
    };
    // Children of each node, in order of first appearance.
    std::vector<std::uint32_t> child_start(std::size_t{hosts} + 2);
    for (std::uint32_t a : anchors)
        if (parent(a) != kNoAddress) ++child_start[parent(a) + 1];
    for (std::size_t k = 1; k < child_start.size(); ++k) child_start[k] += child_start[k - 1];
    std::vector<std::uint32_t> children(child_start.back());
    {
        std::vector<std::uint32_t> fill(child_start.begin(), child_start.end() - 1);
        for (std::uint32_t a : anchors)
            if (parent(a) != kNoAddress) children[fill[parent(a)]++] = a;
    }
    // Groups in depth-first order of the forest: roots by first appearance
    // of their address (non-IP rows last), children after their parent.
    std::vector<std::uint32_t> rank_of_anchor(std::size_t{hosts} + 1, kNoAddress);
    std::uint32_t ranks = 0;
    std::vector<std::uint32_t> stack;
    for (std::uint32_t root = 0; root <= hosts; ++root) {
        if (parent(root) != kNoAddress) continue;
        if (!is_anchor[root] && child_start[root] == child_start[root + 1]) continue;
        stack.push_back(root);
        while (!stack.empty()) {
            const std::uint32_t node = stack.back();
            stack.pop_back();
            if (is_anchor[node]) rank_of_anchor[node] = ranks++;
            for (std::uint32_t k = child_start[node + 1]; k > child_start[node]; --k) stack.push_back(children[k - 1]);
        }
    }
    // Order of conversations: by group, the one with the parent first, then
    // first appearance; then rows by conversation, then file order.
    std::vector<std::uint32_t> start(std::size_t{ranks} + 1);
    for (std::uint32_t c = 0; c < nconv; ++c) ++start[rank_of_anchor[anchor_of_conversation[c]] + 1];
    for (std::size_t k = 1; k < start.size(); ++k) start[k] += start[k - 1];
    std::vector<std::uint32_t> position(nconv);  // conversation -> its place in the order
    for (std::uint32_t a : anchors) {
        const std::uint32_t c = parent_conversation[a];
        if (c != kNoAddress) position[c] = start[rank_of_anchor[a]]++;
    }
    for (std::uint32_t c = 0; c < nconv; ++c) {
        const std::uint32_t a = anchor_of_conversation[c];
        if (c != parent_conversation[a]) position[c] = start[rank_of_anchor[a]]++;
    }
    std::vector<std::uint32_t> first_row(nconv + 1);
    for (std::uint32_t c : conversation_of) ++first_row[position[c] + 1];
    for (std::size_t k = 1; k < first_row.size(); ++k) first_row[k] += first_row[k - 1];
    std::vector<RowRef> sorted(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) sorted[first_row[position[conversation_of[i]]]++] = rows[i];
    rows.swap(sorted);
}

std::uint32_t PageEncoder::intern(std::uint32_t id, const Address& a, EncodedPage& out) {
    if (id >= page_index_.size()) page_index_.resize(std::size_t{id} + 1, kNoAddress);
    std::uint32_t& slot = page_index_[id];
    if (slot == kNoAddress) {
        slot = static_cast<std::uint32_t>(out.addresses.size());
        out.addresses.push_back(a);
        out.address_ids.push_back(id);
    }
    return slot;
}

namespace {

// Writes into memory the caller has sized for the worst case: no capacity
// check per byte (a page's bounds are known before it is encoded).
struct StreamWriter {
    std::uint8_t* p;
    void byte(std::uint8_t b) noexcept { *p++ = b; }
    void be16(std::uint16_t v) noexcept {
        p[0] = static_cast<std::uint8_t>(v >> 8);
        p[1] = static_cast<std::uint8_t>(v);
        p += 2;
    }
    void varint(std::uint64_t v) noexcept {
        while (v >= 0x80) {
            *p++ = static_cast<std::uint8_t>(v | 0x80);
            v >>= 7;
        }
        *p++ = static_cast<std::uint8_t>(v);
    }
    void bytes(const std::uint8_t* src, std::size_t n) noexcept {
        if (n == 0) return;  // src may be null then, which memcpy does not allow
        std::memcpy(p, src, n);
        p += n;
    }
};

// Most bytes one row can add to each stream.
constexpr std::array<std::size_t, kStreamCount> kRowBound{
    10,      // kSeq
    10,      // kTs
    5,       // kCaplen
    10,      // kWireDelta
    10,      // kOffset
    1,       // kFlags
    2,       // kEthertype
    1 + 5 + 5,  // kIp
    4,       // kPorts
    5,       // kPreview (plus the bytes themselves)
};

}  // namespace

void PageEncoder::encode(std::span<const RowRef> rows, std::uint32_t linktype, EncodedPage& out) {
    out.addresses.clear();
    out.address_ids.clear();

    std::int64_t ts_min = rows.front().packet->ts_ns, ts_max = ts_min;
    std::size_t preview_bytes = 0;
    for (const RowRef& r : rows) {
        ts_min = std::min(ts_min, r.packet->ts_ns);
        ts_max = std::max(ts_max, r.packet->ts_ns);
        preview_bytes += r.packet->preview_len;
    }
    // Stream k is written at begin[k] of scratch_.
    std::array<std::size_t, kStreamCount + 1> begin{};
    for (std::size_t k = 0; k < kStreamCount; ++k)
        begin[k + 1] = begin[k] + kRowBound[k] * rows.size() + (k == kPreview ? preview_bytes : 0);
    if (scratch_.size() < begin[kStreamCount]) scratch_.resize(begin[kStreamCount]);
    std::array<StreamWriter, kStreamCount> w{};
    for (std::size_t k = 0; k < kStreamCount; ++k) w[k].p = scratch_.data() + begin[k];

    std::int64_t prev_ts = ts_min;
    std::int64_t prev_index = 0;
    std::int64_t prev_end = 0;  // previous offset + caplen
    for (const RowRef& r : rows) {
        const PendingPacket& p = *r.packet;
        const Summary& s = p.summary;
        w[kSeq].varint(zigzag(std::int64_t{r.index} - prev_index));
        prev_index = r.index;
        w[kTs].varint(zigzag(static_cast<std::int64_t>(static_cast<std::uint64_t>(p.ts_ns) -
                                                      static_cast<std::uint64_t>(prev_ts))));
        prev_ts = p.ts_ns;
        w[kCaplen].varint(p.caplen);
        w[kWireDelta].varint(zigzag(std::int64_t{p.wirelen} - std::int64_t{p.caplen}));
        w[kOffset].varint(zigzag(p.file_offset - prev_end));
        prev_end = p.file_offset + p.caplen;
        const unsigned network = s.network == Network::ipv4 ? 1 : s.network == Network::ipv6 ? 2 : 0;
        w[kFlags].byte(static_cast<std::uint8_t>(static_cast<unsigned>(s.status) | network << 3 |
                                                 (s.has_ports ? 1u << 5 : 0u) | (s.fragment ? 1u << 6 : 0u)));
        w[kEthertype].be16(s.ethertype);
        if (s.network != Network::none) {
            if (r.src_id == kNoAddress || r.dst_id == kNoAddress)
                throw Error(Exit::internal, "page encoder: addresses not numbered");
            w[kIp].byte(s.ip_proto);
            w[kIp].varint(intern(r.src_id, s.src, out));
            w[kIp].varint(intern(r.dst_id, s.dst, out));
        }
        if (s.has_ports) {
            w[kPorts].be16(s.src_port);
            w[kPorts].be16(s.dst_port);
        }
        w[kPreview].varint(p.preview_len);
        w[kPreview].bytes(r.preview, p.preview_len);
    }
    // The page's dictionary is complete: reset the map for the next page.
    for (std::uint32_t id : out.address_ids) page_index_[id] = kNoAddress;

    std::array<std::size_t, kStreamCount> size{};
    std::size_t streams_total = 0;
    for (std::size_t k = 0; k < kStreamCount; ++k) {
        size[k] = static_cast<std::size_t>(w[k].p - (scratch_.data() + begin[k]));
        streams_total += size[k];
    }
    // Header, dictionary, stream sizes, then the streams back to back.
    const std::size_t bound = 1 + 4 * 10 + out.addresses.size() * 17 + kStreamCount * 10 + streams_total;
    if (raw_.size() < bound) raw_.resize(bound);
    StreamWriter h{raw_.data()};
    h.byte(kPageVersion);
    h.varint(rows.size());
    h.varint(linktype);
    h.varint(zigzag(ts_min));
    h.varint(out.addresses.size());
    for (const Address& a : out.addresses) {
        const auto key = address_key(a);
        h.byte(static_cast<std::uint8_t>(key.size()));
        h.bytes(key.data(), key.size());
    }
    for (std::size_t k = 0; k < kStreamCount; ++k) h.varint(size[k]);
    for (std::size_t k = 0; k < kStreamCount; ++k) h.bytes(scratch_.data() + begin[k], size[k]);
    const auto raw_size = static_cast<std::size_t>(h.p - raw_.data());

    if (!zstd_) zstd_.reset(ZSTD_createCCtx());
    if (!zstd_) throw Error(Exit::internal, "zstd: cannot create a compression context");
    out.data.resize(ZSTD_compressBound(raw_size));
    std::size_t n = ZSTD_compressCCtx(zstd_.get(), out.data.data(), out.data.size(), raw_.data(), raw_size, kZstdLevel);
    if (ZSTD_isError(n)) throw Error(Exit::internal, fmt::format("zstd: {}", ZSTD_getErrorName(n)));
    out.data.resize(n);
    out.ts_min = ts_min;
    out.ts_max = ts_max;
    out.packets = static_cast<std::uint32_t>(rows.size());
}

void DecodedPage::decode(std::span<const std::uint8_t> compressed, CaptureId capture, std::uint64_t first_seq,
                         const Filter* filter) {
    unsigned long long size = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (64u << 20))
        corrupt("bad compressed frame");
    raw_.resize(static_cast<std::size_t>(size));
    thread_local std::unique_ptr<ZSTD_DCtx_s, ZstdDCtxFree> zstd;
    if (!zstd) zstd.reset(ZSTD_createDCtx());
    if (!zstd) throw Error(Exit::internal, "zstd: cannot create a decompression context");
    std::size_t n = ZSTD_decompressDCtx(zstd.get(), raw_.data(), raw_.size(), compressed.data(), compressed.size());
    if (ZSTD_isError(n) || n != size) corrupt("cannot decompress");

    StoredReader hdr = page_reader(raw_);
    if (hdr.u8() != kPageVersion) corrupt("unknown page version");
    const std::uint64_t count = hdr.varint();
    if (count > kPageRows) corrupt("row count");
    const auto linktype = static_cast<std::uint32_t>(hdr.varint());
    std::int64_t ts = unzigzag(hdr.varint());
    const std::uint64_t ndict = hdr.varint();
    if (ndict > 2 * count) corrupt("dictionary size");
    std::vector<Address>& dict = dict_;
    dict.resize(static_cast<std::size_t>(ndict));
    for (auto& a : dict) {
        std::uint8_t len = hdr.u8();
        auto key = hdr.take(len);
        if (len == 4) a = Address::from_v4(key.data());
        else if (len == 16) a = Address::from_v6(key.data());
        else corrupt("address length");
    }
    std::array<std::uint64_t, kStreamCount> sizes{};
    for (auto& s : sizes) s = hdr.varint();
    std::array<StoredReader, kStreamCount> streams{
        page_reader({}), page_reader({}), page_reader({}), page_reader({}), page_reader({}),
        page_reader({}), page_reader({}), page_reader({}), page_reader({}), page_reader({})};
    // The streams follow the header back to back.
    std::size_t pos = raw_.size();
    {
        // Each size is checked before it is added: a sum that wraps around
        // would otherwise pass and place streams outside the page.
        std::uint64_t total = 0;
        for (auto s : sizes) {
            if (s > raw_.size() - total) corrupt("stream sizes");
            total += s;
        }
        pos = raw_.size() - static_cast<std::size_t>(total);
    }
    for (std::size_t k = 0; k < kStreamCount; ++k) {
        streams[k] = page_reader(std::span<const std::uint8_t>(raw_).subspan(pos, static_cast<std::size_t>(sizes[k])));
        pos += static_cast<std::size_t>(sizes[k]);
    }

    // Address conditions, answered once per dictionary entry: bit 0 the
    // source prefix holds it, bit 1 the destination prefix, bit 2 the host
    // prefix (a bit is set when its condition is absent).
    const bool by_address = filter && (filter->src || filter->dst || filter->host);
    if (by_address) {
        dict_match_.resize(dict.size());
        for (std::size_t k = 0; k < dict.size(); ++k) {
            const Address& a = dict[k];
            dict_match_[k] = static_cast<std::uint8_t>((!filter->src || filter->src->contains(a) ? 1 : 0) |
                                                      (!filter->dst || filter->dst->contains(a) ? 2 : 0) |
                                                      (!filter->host || filter->host->contains(a) ? 4 : 0));
        }
    }

    // Each row's fields are read into locals; a PacketView is built only for
    // a row that passes the address test (the test a selective query fails
    // for most rows), in place in packets_, whose capacity is reserved so
    // that it never moves.
    packets_.clear();
    packets_.reserve(static_cast<std::size_t>(count));
    std::int64_t prev_end = 0;
    std::int64_t index = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        index = wrapping_add(index, unzigzag(streams[kSeq].varint()));
        if (index < 0) corrupt("packet number");
        ts = static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) +
                                       static_cast<std::uint64_t>(unzigzag(streams[kTs].varint())));
        const std::uint64_t caplen = streams[kCaplen].varint();
        if (caplen > UINT32_MAX) corrupt("length");
        const std::int64_t wire = wrapping_add(static_cast<std::int64_t>(caplen), unzigzag(streams[kWireDelta].varint()));
        if (wire < 0 || wire > UINT32_MAX) corrupt("length");
        const std::int64_t file_offset = wrapping_add(prev_end, unzigzag(streams[kOffset].varint()));
        prev_end = wrapping_add(file_offset, static_cast<std::int64_t>(caplen));
        const std::uint8_t flags = streams[kFlags].u8();
        const std::uint16_t ethertype = streams[kEthertype].be16();
        const unsigned net = (flags >> 3) & 3;
        std::uint8_t ip_proto = 0;
        std::size_t si = 0, di = 0;
        bool address_ok = !by_address;
        if (net == 1 || net == 2) {
            ip_proto = streams[kIp].u8();
            const std::uint64_t s = streams[kIp].varint();
            const std::uint64_t d = streams[kIp].varint();
            if (s >= dict.size() || d >= dict.size()) corrupt("address index");
            si = static_cast<std::size_t>(s);
            di = static_cast<std::size_t>(d);
            if (by_address) {
                const unsigned ms = dict_match_[si];
                const unsigned md = dict_match_[di];
                address_ok = (ms & 1) && (md & 2) && ((ms | md) & 4);
            }
        }
        const bool has_ports = (flags >> 5) & 1;
        std::uint16_t src_port = 0, dst_port = 0;
        if (has_ports) {
            src_port = streams[kPorts].be16();
            dst_port = streams[kPorts].be16();
        }
        const std::uint64_t plen = streams[kPreview].varint();
        if (plen > kMaxPreviewBytes) corrupt("preview length");
        const auto preview = streams[kPreview].take(static_cast<std::size_t>(plen));
        if (!address_ok) continue;

        PacketView& p = packets_.emplace_back();
        p.capture = capture;
        p.seq = first_seq + static_cast<std::uint64_t>(index);
        p.linktype = linktype;
        p.ts_ns = ts;
        p.caplen = static_cast<std::uint32_t>(caplen);
        p.wirelen = static_cast<std::uint32_t>(wire);
        p.file_offset = file_offset;
        Summary& s = p.summary;
        s.status = static_cast<Status>(flags & 7);
        s.network = net == 1 ? Network::ipv4 : net == 2 ? Network::ipv6 : Network::none;
        s.has_ports = has_ports;
        s.fragment = (flags >> 6) & 1;
        s.ethertype = ethertype;
        if (s.network != Network::none) {
            s.ip_proto = ip_proto;
            s.src = dict[si];
            s.dst = dict[di];
        }
        s.src_port = src_port;
        s.dst_port = dst_port;
        p.preview = preview;
        // matches() is the one definition of a match; the dictionary test
        // only spares it the rows whose addresses already fail.
        if (filter && !matches(*filter, p)) packets_.pop_back();
    }
}

}  // namespace capdb::store
