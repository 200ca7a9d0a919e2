// Per-block aggregates (see DESIGN.md, "Block aggregates"): what `capdb
// stats` needs of a block's packets, computed when the block is written, so
// that a report over whole blocks decompresses none of their pages.
#pragma once

#include <cstdint>
#include <vector>

#include "capdb/address.h"
#include "capdb/decode.h"
#include "capdb/packet.h"

namespace capdb {

struct Tally {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // wire lengths

    void add(std::uint32_t wirelen) noexcept {
        ++packets;
        bytes += wirelen;
    }
    Tally& operator+=(const Tally& o) noexcept {
        packets += o.packets;
        bytes += o.bytes;
        return *this;
    }
    void merge(const Tally& o) noexcept { *this += o; }
    bool operator==(const Tally&) const = default;
};

// Packets by the fields of the protocol mix: decoding status, network
// (0 none, 4, 6), fragment, and the IP protocol (IP) or EtherType (not IP).
struct MixGroup {
    Status status = Status::ok;
    std::uint8_t network = 0;
    bool fragment = false;
    std::uint16_t code = 0;
    Tally tally;
    bool operator==(const MixGroup&) const = default;
};

// Packets by time: bucket `index` holds
// anchor + index * resolution <= ts < anchor + (index + 1) * resolution.
struct TimelineBucket {
    std::int64_t index = 0;
    Tally tally;
    bool operator==(const TimelineBucket&) const = default;
};

struct AggregatePair {
    std::uint32_t a = 0, b = 0;  // indexes into endpoints
    Tally tally;
    bool operator==(const AggregatePair&) const = default;
};

struct AggregatePort {
    std::uint8_t proto = 0;
    std::uint16_t port = 0;
    Tally tally;  // packets with this port as source or destination (once each)
    bool operator==(const AggregatePort&) const = default;
};

struct BlockAggregates {
    CaptureId capture = 0;
    std::int64_t ts_min = 0, ts_max = 0;  // of the block's packets
    Tally total;
    std::vector<MixGroup> mix;  // ordered by (status, network, fragment, code)
    // The timeline: resolution 0 when the block keeps none (too many
    // distinct buckets at every resolution).
    std::int64_t anchor_ns = 0;
    std::int64_t resolution_ns = 0;
    std::vector<TimelineBucket> timeline;  // increasing index, none empty
    // The tables (absent when the block holds too many distinct keys):
    // IP packets by address (a packet counts for its source and its
    // destination, twice for one address to itself), by address pair (a
    // smaller than b, by address), by (IP protocol, port).
    bool has_tables = false;
    std::vector<std::pair<Address, Tally>> endpoints;  // ascending address
    std::vector<AggregatePair> pairs;                  // ascending (a, b)
    std::vector<AggregatePort> ports;                  // ascending (proto, port)

    bool operator==(const BlockAggregates&) const = default;
};

}  // namespace capdb
