// Fuzz target: capdb's pcap/pcapng reader (CaptureParser) on arbitrary
// bytes, as a file or a pipe hands them over.
//
// Byte 0 picks how the input arrives: the rest of the input is offered to
// the parser in pieces of (byte 0 % 64) + 1 bytes (0: at once), growing by
// one piece whenever the parser asks for more, as OfflineReader's buffer
// does on a pipe or a followed file. Every input is also parsed at once.
// Oracle: both ways give the same steps, packets and error; a packet's bytes
// lie inside its record, inside the input; caplen never exceeds the
// maximum; offsets grow; a packet names an interface the parser has described.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capdb/capture.h"
#include "capdb/capture_file.h"
#include "fuzz_check.h"

namespace {

using namespace capdb;
using fuzz::check;

struct Seen {
    std::int64_t offset;
    std::int64_t ts_ns;
    std::uint32_t caplen, wirelen, if_index, linktype;
    bool time_invalid;
    std::vector<std::uint8_t> data;
    bool operator==(const Seen&) const = default;
};

struct Outcome {
    std::vector<Seen> packets;
    std::optional<std::string> error;
    bool ready = false;
    std::size_t consumed = 0;
};

// Parses input, offering `piece` more bytes each time the parser needs them
// (0: everything at once).
Outcome parse(std::span<const std::uint8_t> input, std::size_t piece) {
    Outcome o;
    CaptureParser parser;
    std::size_t avail = piece == 0 ? input.size() : std::min(piece, input.size());
    std::int64_t last_offset = -1;
    for (int guard = 0; guard < 1'000'000; ++guard) {
        const auto offered = input.subspan(o.consumed, avail - o.consumed);
        RawPacket raw;
        CaptureParser::Step s{CaptureParser::Step::need, 0};
        try {
            s = parser.next(offered, static_cast<std::int64_t>(o.consumed), raw);
        } catch (const CaptureFormatError& e) {
            o.error = e.what();
            check(!o.error->empty(), "an error says why");
            break;
        }
        if (s.kind == CaptureParser::Step::need) {
            check(s.size > offered.size(), "the parser asks for more than it was offered");
            if (avail == input.size()) break;
            avail = std::min(input.size(), avail + (piece == 0 ? input.size() : piece));
            continue;
        }
        check(s.size <= offered.size(), "a step consumes only what was offered");
        if (s.kind == CaptureParser::Step::packet) {
            check(parser.ready(), "a packet only after the capture header");
            check(raw.file_offset == static_cast<std::int64_t>(o.consumed), "a packet's offset is its record's");
            check(raw.file_offset > last_offset, "offsets grow");
            last_offset = raw.file_offset;
            check(raw.caplen <= kMaxCaplen, "caplen within the maximum");
            check(raw.data.size() == raw.caplen, "caplen bytes of data");
            check(raw.data.empty() || (raw.data.data() >= offered.data() &&
                                       raw.data.data() + raw.data.size() <= offered.data() + s.size),
                  "a packet's bytes lie inside its record");
            check(raw.if_index < parser.interfaces().size(), "a packet's interface is described");
            check(parser.interfaces()[raw.if_index].linktype == raw.linktype, "the interface's link type");
            o.packets.push_back({raw.file_offset, raw.ts_ns, raw.caplen, raw.wirelen, raw.if_index, raw.linktype,
                                 raw.time_invalid, std::vector<std::uint8_t>(raw.data.begin(), raw.data.end())});
        }
        o.consumed += s.size;
    }
    o.ready = parser.ready();
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::span<const std::uint8_t> input(data + 1, size - 1);
    const Outcome whole = parse(input, 0);
    const Outcome pieces = parse(input, data[0] % 64);
    check(whole.packets == pieces.packets, "the same packets however the bytes arrive");
    check(whole.error == pieces.error, "the same error however the bytes arrive");
    check(whole.ready == pieces.ready && whole.consumed == pieces.consumed, "the same end however the bytes arrive");
    return 0;
}
