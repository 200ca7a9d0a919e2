#include "store/format/postings.h"

#include <algorithm>

namespace capdb::store {

void PostingList::add(std::int64_t block, std::int64_t segment_first, const std::vector<std::uint16_t>& pages) {
    if (bytes.empty()) last = segment_first;
    put_varint(bytes, static_cast<std::uint64_t>(block - last));
    put_varint(bytes, pages.size());
    std::uint16_t prev = 0;
    for (std::uint16_t n : pages) {
        put_varint(bytes, static_cast<std::uint64_t>(n - prev));
        prev = n;
    }
    last = block;
}

std::vector<std::uint8_t> encode_page_index(const std::vector<PageMeta>& pages, std::int64_t block_ts_min) {
    std::vector<std::uint8_t> out;
    for (const PageMeta& p : pages) {
        put_varint(out, p.packets);
        put_varint(out, zigzag(wrapping_sub(p.ts_min, block_ts_min)));
        put_varint(out, static_cast<std::uint64_t>(p.ts_max) - static_cast<std::uint64_t>(p.ts_min));
    }
    return out;
}

void decode_page_index(std::span<const std::uint8_t> b, std::int64_t block_ts_min, const PageSet& wanted,
                       std::vector<PageHit>& out) {
    out.clear();
    StoredReader in(b, "page index");
    for (std::uint16_t n = 0; !in.done() && n < kMaxPagesPerBlock; ++n) {
        PageMeta m{};
        m.packets = static_cast<std::uint32_t>(in.varint());
        m.ts_min = wrapping_add(block_ts_min, unzigzag(in.varint()));
        m.ts_max = static_cast<std::int64_t>(static_cast<std::uint64_t>(m.ts_min) + in.varint());
        if (wanted.test(n)) out.push_back({n, m});
    }
}

std::vector<KeyRange> key_ranges(const Prefix& p) {
    std::vector<KeyRange> out;
    Address v4lo{}, v4hi{};
    v4lo.bytes[10] = v4lo.bytes[11] = 0xff;
    v4hi = v4lo;
    for (std::size_t i = 12; i < 16; ++i) v4hi.bytes[i] = 0xff;
    const Address lo = std::max(p.first, v4lo), hi = std::min(p.last, v4hi);
    if (lo <= hi) {
        auto a = address_key(lo), b = address_key(hi);
        out.push_back({{a.begin(), a.end()}, {b.begin(), b.end()}});
    }
    if (!(p.first.is_v4() && p.last.is_v4()))
        out.push_back({{p.first.bytes.begin(), p.first.bytes.end()}, {p.last.bytes.begin(), p.last.bytes.end()}});
    return out;
}

}  // namespace capdb::store
