// Fuzz target: the index formats of the SQLite store, posting lists and
// block page indexes, i.e. what a damaged or hostile database hands to the
// query engine before any page is read.
//
// Byte 0 (mod 3) picks a mode:
//   0  bytes 1-8 are the segment's first block id (little-endian int64), the
//      rest a stored posting list blob of kFuzzAddress (the list and its
//      4-byte checksum trailer) → checked_postings, then read_postings of the
//      list; when the checksum does not match, the whole rest is read
//      anyway (the checksum bypassed, so that the decoder stays fuzzed)
//   1  bytes 1-8 are the block's ts_min, bytes 9-40 the wanted pages (a
//      256-bit mask), the rest a stored page index → decode_page_index
//   2  the rest describes blocks and their pages, 3 bytes a block (id
//      delta, first page, page count); they are encoded with PostingList and
//      encode_page_index and must decode to exactly what went in
// DatabaseError ("corrupt posting list", "corrupt page index") is the
// expected outcome of 0 and 1.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "capdb/error.h"
#include "fuzz_check.h"
#include "store/format/checksum.h"
#include "store/format/postings.h"

namespace {

using namespace capdb;
using fuzz::check;

std::uint64_t le64(std::span<const std::uint8_t> b) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < 8 && k < b.size(); ++k) v |= std::uint64_t{b[k]} << (8 * k);
    return v;
}

// The address the seeds' trailers are computed for (make_corpus.py).
constexpr std::uint8_t kFuzzAddress[4] = {10, 0, 0, 5};

void decode_postings(std::span<const std::uint8_t> rest) {
    if (rest.size() < 8) return;
    const auto first = static_cast<std::int64_t>(le64(rest));
    if (const auto list = store::checked_postings(kFuzzAddress, first, rest.subspan(8)))
        rest = rest.first(8 + list->size());
    std::int64_t prev = 0;
    try {
        store::read_postings(rest.subspan(8), first, [&](std::int64_t block, std::size_t page) {
            check(block > 0 && block >= first && block >= prev, "posting block ids grow from the first");
            check(page < store::kMaxPagesPerBlock, "posting page number in range");
            prev = block;
        });
    } catch (const DatabaseError&) {}
}

void decode_index(std::span<const std::uint8_t> rest) {
    if (rest.size() < 40) return;
    const auto ts_min = static_cast<std::int64_t>(le64(rest));
    store::PageSet wanted;
    for (std::size_t k = 0; k < store::kMaxPagesPerBlock; ++k)
        if (rest[8 + k / 8] >> (k % 8) & 1) wanted.set(k);
    std::vector<store::PageHit> hits;
    try {
        store::decode_page_index(rest.subspan(40), ts_min, wanted, hits);
    } catch (const DatabaseError&) {
        return;
    }
    int prev = -1;
    for (const auto& h : hits) {
        check(wanted.test(h.number), "page index: an unwanted page");
        check(int{h.number} > prev, "page index: pages in order");
        prev = h.number;
    }
}

void round_trip(std::span<const std::uint8_t> rest) {
    std::vector<std::pair<std::int64_t, std::size_t>> want;
    std::vector<store::PageMeta> index;
    store::PostingList list;
    const std::int64_t first = 1 + (rest.empty() ? 0 : rest[0]);
    std::int64_t block = first - 1;
    for (std::size_t off = 0; off + 3 <= rest.size(); off += 3) {
        block += 1 + rest[off] % 4;
        std::vector<std::uint16_t> pages;
        for (unsigned k = 0; k < rest[off + 2] % 8u; ++k) {
            const unsigned page = rest[off + 1] + 37u * k;
            if (page >= store::kMaxPagesPerBlock) break;
            pages.push_back(static_cast<std::uint16_t>(page));
            want.emplace_back(block, page);
        }
        list.add(block, first, pages);
        const auto ts = static_cast<std::int64_t>(le64(rest.subspan(off)));
        index.push_back({rest[off + 1], ts, static_cast<std::int64_t>(static_cast<std::uint64_t>(ts) + rest[off + 2])});
    }
    std::vector<std::pair<std::int64_t, std::size_t>> got;
    store::read_postings(list.bytes, first, [&](std::int64_t b, std::size_t p) { got.emplace_back(b, p); });
    check(got == want, "postings round trip");
    if (index.empty()) return;
    const std::int64_t ts_min = index.front().ts_min;
    const auto bytes = store::encode_page_index(index, ts_min);
    std::vector<store::PageHit> hits;
    store::decode_page_index(bytes, ts_min, store::PageSet{}.set(), hits);
    check(hits.size() == std::min<std::size_t>(index.size(), store::kMaxPagesPerBlock), "page index round trip: count");
    for (std::size_t k = 0; k < hits.size(); ++k)
        check(hits[k].meta.packets == index[k].packets && hits[k].meta.ts_min == index[k].ts_min &&
                  hits[k].meta.ts_max == index[k].ts_max,
              "page index round trip: fields");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::span<const std::uint8_t> rest(data + 1, size - 1);
    switch (data[0] % 3) {
        case 0: decode_postings(rest); break;
        case 1: decode_index(rest); break;
        default: round_trip(rest); break;
    }
    return 0;
}
