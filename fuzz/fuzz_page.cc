// Fuzz target: the packet-page codec of the SQLite store, i.e. what a
// damaged or hostile database hands to the query engine.
//
// Byte 0 (mod 3) picks a mode:
//   0  the rest is a stored page blob (zstd frames and 4-byte checksum
//      trailer, as pages.id kFuzzPageId) → checked_page, then
//      DecodedPage::decode of the frame; when the checksum does not match
//      (nearly every mutation), the whole rest is decoded anyway: the
//      checksum is bypassed so that the decoder behind it stays fuzzed
//   1  the rest is an uncompressed page, compressed here first, so that the
//      fuzzer explores the page layout rather than zstd (a version-5 page
//      gets an empty preview frame after it)
//   2  the rest describes packets; they are encoded with PageEncoder and
//      must decode to exactly what went in (round trip)
// DatabaseError ("corrupt packet page") is the expected outcome of 0 and 1.
#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "capdb/error.h"
#include "fuzz_check.h"
#include "store/format/checksum.h"
#include "store/format/host_grouping.h"
#include "store/format/page_codec.h"

namespace {

using namespace capdb;
using fuzz::check;

// The page id the seeds' trailers are computed for (make_corpus.py).
constexpr std::int64_t kFuzzPageId = 7 * 256 + 1;

void decode_page(std::span<const std::uint8_t> compressed) {
    store::DecodedPage page;
    try {
        page.decode(compressed, 7, 1000);
    } catch (const DatabaseError&) {
        return;
    }
    for (const PacketView& p : page.packets()) {
        check(p.seq >= 1000 && p.capture == 7, "decoded seq/capture");
        check(p.preview.size() <= kMaxPreviewBytes, "decoded preview too long");
    }
}

// Packets from bytes: 24 bytes each.
void round_trip(const std::uint8_t* data, std::size_t size) {
    PacketBatch batch;
    std::size_t n = 0;
    for (std::size_t off = 0; off + 24 <= size && n < store::kPageRows; off += 24, ++n) {
        const std::uint8_t* d = data + off;
        auto u = [&](std::size_t i, std::size_t len) {
            std::uint64_t v = 0;
            for (std::size_t k = 0; k < len; ++k) v |= std::uint64_t{d[i + k]} << (8 * k);
            return v;
        };
        PacketView p;
        p.ts_ns = static_cast<std::int64_t>(u(0, 8));
        p.caplen = static_cast<std::uint32_t>(u(8, 4));
        p.wirelen = static_cast<std::uint32_t>(u(12, 4));
        p.file_offset = static_cast<std::int64_t>(u(16, 3)) - 1;  // offsets as a reader reports them
        const std::uint8_t flags = d[19];
        p.summary.status = static_cast<Status>(flags % 5);
        p.time_invalid = flags >> 7 & 1;
        p.summary.network = (flags >> 3 & 3) == 1   ? Network::ipv4
                            : (flags >> 3 & 3) == 2 ? Network::ipv6
                                                    : Network::none;
        p.summary.has_ports = p.summary.network != Network::none && (flags >> 5 & 1);
        p.summary.fragment = p.summary.network != Network::none && (flags >> 6 & 1);
        p.summary.ethertype = static_cast<std::uint16_t>(u(20, 2));
        p.summary.arp = (flags >> 3 & 3) == 3;  // an ARP row with its addresses
        if (p.summary.arp) {
            p.summary.src = Address::from_v4(d + 12);
            p.summary.dst = Address::from_v4(d + 8);
        }
        if (p.summary.network != Network::none) {
            p.summary.ip_proto = d[22];
            std::uint8_t a[16] = {};
            a[15] = d[23];
            a[0] = d[0];
            p.summary.src = p.summary.network == Network::ipv4 ? Address::from_v4(a + 12) : Address::from_v6(a);
            p.summary.dst = p.summary.network == Network::ipv4 ? Address::from_v4(d + 8) : Address::from_v6(d + 4);
        }
        if (p.summary.has_ports) {
            p.summary.src_port = static_cast<std::uint16_t>(u(2, 2));
            p.summary.dst_port = static_cast<std::uint16_t>(u(6, 2));
        }
        p.preview = std::span<const std::uint8_t>(d, std::min<std::size_t>(d[21] % 25, p.caplen));
        batch.add(p);
    }
    if (batch.packets.empty()) return;
    // Rows as the writer hands them over: grouped by host.
    std::vector<store::RowRef> rows;
    for (std::size_t i = 0; i < batch.packets.size(); ++i)
        rows.push_back(
            {&batch.packets[i], batch.arena.data() + batch.packets[i].preview_off, static_cast<std::uint32_t>(i)});
    store::AddressTable table;
    store::group_by_host(rows, table);
    store::PageEncoder encoder;
    store::EncodedPage encoded;
    encoder.encode(rows, encoded);
    store::DecodedPage page;
    page.decode(encoded.data, 3, 100);
    check(page.packets().size() == batch.packets.size(), "round trip: packet count");
    std::vector<bool> seen(batch.packets.size());
    for (const PacketView& got : page.packets()) {
        check(got.seq >= 100 && got.seq - 100 < batch.packets.size(), "round trip: packet number");
        const std::size_t i = static_cast<std::size_t>(got.seq - 100);
        check(!seen[i], "round trip: packet number twice");
        seen[i] = true;
        const auto& want = batch.packets[i];
        check(got.capture == 3, "round trip: capture");
        check(got.ts_ns == want.ts_ns && got.caplen == want.caplen && got.wirelen == want.wirelen,
              "round trip: time or lengths");
        check(got.file_offset == want.file_offset, "round trip: file offset");
        check(got.time_invalid == want.time_invalid, "round trip: time_invalid");
        const Summary& a = got.summary;
        const Summary& b = want.summary;
        check(a.status == b.status && a.network == b.network && a.ethertype == b.ethertype &&
                  a.has_ports == b.has_ports && a.fragment == b.fragment && a.arp == b.arp,
              "round trip: flags");
        if (b.arp) check(a.src == b.src && a.dst == b.dst, "round trip: ARP addresses");
        if (b.network != Network::none)
            check(a.ip_proto == b.ip_proto && a.src == b.src && a.dst == b.dst, "round trip: addresses");
        if (b.has_ports) check(a.src_port == b.src_port && a.dst_port == b.dst_port, "round trip: ports");
        auto pv = batch.preview(want);
        check(std::equal(pv.begin(), pv.end(), got.preview.begin(), got.preview.end()), "round trip: preview");
        check(got.ts_ns >= encoded.ts_min && got.ts_ns <= encoded.ts_max, "round trip: page time bounds");
    }
    // The filtered decode keeps exactly the matching rows.
    store::RowPredicate f;
    f.from_ns = batch.packets[batch.packets.size() / 2].ts_ns;
    store::DecodedPage filtered;
    filtered.decode(encoded.data, 3, 100, &f);
    std::size_t want = 0;
    for (const auto& p : batch.packets) want += p.ts_ns >= f.from_ns;
    check(filtered.packets().size() == want, "filtered decode");
    store::DecodedPage counted;
    check(counted.count(encoded.data, f) == want, "counted decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::span<const std::uint8_t> rest(data + 1, size - 1);
    switch (data[0] % 3) {
        case 0: {
            const auto frame = store::checked_page(kFuzzPageId, rest);
            if (frame) check(frame->size() + store::kTrailerBytes == rest.size(), "checked page: the trailer");
            decode_page(frame ? *frame : rest);
            break;
        }
        case 1: {
            // A version-5 page's previews are a second frame: here an empty
            // one (a page whose preview stream is empty decodes).
            std::vector<std::uint8_t> z(ZSTD_compressBound(rest.size()) + ZSTD_compressBound(0));
            const std::size_t n = ZSTD_compress(z.data(), z.size(), rest.data(), rest.size(), 1);
            check(!ZSTD_isError(n), "zstd compress");
            std::size_t m = 0;
            if (!rest.empty() && rest[0] >= 5) {
                m = ZSTD_compress(z.data() + n, z.size() - n, nullptr, 0, 1);
                check(!ZSTD_isError(m), "zstd compress");
            }
            z.resize(n + m);
            decode_page(z);
            break;
        }
        default: round_trip(rest.data(), rest.size()); break;
    }
    return 0;
}
