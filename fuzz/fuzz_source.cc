// Fuzz target: an original capture file read back for query -w, i.e. what a
// file changed or replaced since ingest hands to the record check.
//
// Byte 0 (mod 2) picks a mode:
//   0  the rest is the start of a file → parse_source_header
//   1  byte 1 (mod 4) picks a header (pcap microseconds little-endian, pcap
//      nanoseconds big-endian, pcapng little-endian, pcapng big-endian),
//      bytes 2-18 the stored row (ts_ns, caplen, wirelen little-endian,
//      time_invalid), the rest the bytes read at the record's offset →
//      check_record
// Oracle: the precision stays within 0-9 digits; an accepted record gives
// exactly caplen bytes from inside the input; a refused one says why.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "capdb/source_file.h"
#include "fuzz_check.h"

namespace {

using namespace capdb;
using fuzz::check;

std::uint64_t le(std::span<const std::uint8_t> b, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n && k < b.size(); ++k) v |= std::uint64_t{b[k]} << (8 * k);
    return v;
}

void record(std::span<const std::uint8_t> in) {
    if (in.size() < 18) return;
    SourceHeader h;
    switch (in[0] % 4) {
        case 0: break;
        case 1:
            h.big_endian = true;
            h.ts_precision = 9;
            break;
        case 2: h.format = SourceFormat::pcapng; break;
        default:
            h.format = SourceFormat::pcapng;
            h.big_endian = true;
            break;
    }
    h.snaplen = 64;
    StoredRecord stored;
    stored.ts_ns = static_cast<std::int64_t>(le(in.subspan(1), 8));
    stored.caplen = static_cast<std::uint32_t>(le(in.subspan(9), 4) % 4096);
    stored.wirelen = static_cast<std::uint32_t>(le(in.subspan(13), 4));
    stored.time_invalid = (in[17] & 1) != 0;
    const auto bytes = in.subspan(18);
    std::string problem;
    const auto data = check_record(h, bytes, stored, problem);
    if (data) {
        check(data->size() == stored.caplen, "an accepted record gives caplen bytes");
        check(data->data() >= bytes.data() && data->data() + data->size() <= bytes.data() + bytes.size(),
              "an accepted record's bytes lie inside what was read");
    } else {
        check(!problem.empty(), "a refused record says why");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::uint8_t> in(data, size);
    if (in[0] % 2 == 0) {
        if (const auto h = parse_source_header(in.subspan(1))) check(h->ts_precision <= 9, "precision of 0-9 digits");
    } else {
        record(in.subspan(1));
    }
    return 0;
}
