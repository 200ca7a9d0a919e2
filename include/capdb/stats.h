// What is in the store: `capdb stats` (totals, a time histogram, top
// talkers, conversations, ports, protocol mix) and `capdb flows` (one record
// per conversation, both directions merged). Both read the packets a Filter
// selects through Store::scan, with bounded memory: the per-address,
// per-pair, per-port and per-flow tables spill sorted runs to a temporary
// file past their entry limits (see DESIGN.md, "Stats and flows").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capdb/address.h"
#include "capdb/aggregates.h"
#include "capdb/filter.h"
#include "capdb/store.h"

namespace capdb {


// Packets by time: bucket k counts the packets with
// origin_ns + k * interval_ns <= ts < origin_ns + (k + 1) * interval_ns,
// as tshark -z io,stat does with its origin at the first packet. Packets
// before the origin (out of order) count in bucket 0.
struct Histogram {
    std::int64_t origin_ns = 0;
    std::int64_t interval_ns = 1'000'000'000;
    std::vector<Tally> buckets;
};

struct EndpointStat {
    Address address;
    Tally tally;  // sent and received
};
struct PairStat {
    Address a, b;  // a < b
    Tally tally;   // both directions
};
struct PortStat {
    std::uint8_t proto = 0;  // IP protocol
    std::uint16_t port = 0;
    Tally tally;  // packets with this port as source or destination
};

struct ProtocolMix {
    std::uint64_t ipv4 = 0, ipv6 = 0, non_ip = 0;  // by network layer
    std::uint64_t malformed = 0, truncated = 0, unsupported = 0;
    std::uint64_t fragments = 0;
    std::array<Tally, 256> ip_proto{};                        // IP packets by upper-layer protocol
    std::vector<std::pair<std::uint16_t, Tally>> ethertypes;  // non-IP packets by EtherType, ascending
};

struct StatsOptions {
    std::size_t top = 10;
    bool tables = true;                       // top talkers, conversations, ports
    std::optional<std::int64_t> interval_ns;  // unset: chosen for at most auto_buckets
    std::size_t auto_buckets = 60;
    // Entries each of the address, pair and port tables keeps in memory
    // before spilling.
    std::size_t max_entries = std::size_t{1} << 18;
};

// Most buckets a histogram may have (--interval too small for the span).
inline constexpr std::size_t kMaxBuckets = 1'000'000;

struct StatsReport {
    std::uint64_t captures = 0;  // captures in view
    Tally total;
    std::optional<std::int64_t> first_ns, last_ns;  // of the matching packets
    // Live captures in view: packets dropped (kernel + interface), for the
    // whole capture (libpcap does not say when).
    std::uint64_t live_captures = 0;
    std::uint64_t dropped = 0;
    ProtocolMix mix;
    Histogram histogram;
    bool tables = false;
    std::uint64_t endpoints = 0, pairs = 0, ports = 0;  // distinct counts
    std::vector<EndpointStat> top_by_packets, top_by_bytes;
    std::vector<PairStat> top_pairs;  // by bytes
    std::vector<PortStat> top_ports;  // by packets
    std::size_t spilled_runs = 0;
};

// A "nice" interval (1 ms, 2 ms, 5 ms, ... 1 s, 2 s, 5 s, 10 s, 15 s, 30 s,
// 1 min, ... 1 d, 7 d) giving at most `buckets` buckets over span_ns.
std::int64_t auto_interval(std::int64_t span_ns, std::size_t buckets) noexcept;
// "1s", "250ms", "5m", "1h", "1d", "100us": ns, or nullopt when malformed or
// not positive.
std::optional<std::int64_t> parse_interval(std::string_view text) noexcept;
// The shortest of those spellings for ns ("1m", "1.5s" as "1500ms").
std::string format_interval(std::int64_t ns);

// Computes the report for the packets matching filter (its limit ignored).
// Throws UsageError when an explicit interval would make more than
// kMaxBuckets buckets.
StatsReport compute_stats(Store& store, const Filter& filter, const StatsOptions& options);

// A conversation: IP packets by (protocol, address and port of each end),
// both directions together; IP packets without ports (ICMP, later
// fragments) by (protocol, address pair); ARP by (sender, target) address
// pair; other non-IP packets by EtherType.
// Endpoint a is the lesser (address, port); the record says which end sent
// the first packet.
struct FlowKey {
    Address a, b;
    std::uint16_t port_a = 0, port_b = 0;
    std::uint16_t ethertype = 0;  // non-IP only
    std::uint8_t proto = 0;       // IP protocol; 0 for non-IP
    std::uint8_t network = 0;     // 0 non-IP (EtherType only), 1 ARP (a, b: IPv4 addresses), 4, 6
    std::uint8_t ports = 0;       // 1: port_a and port_b hold TCP/UDP/SCTP ports
    std::array<std::uint8_t, 3> reserved{};
    bool operator==(const FlowKey&) const = default;
    auto operator<=>(const FlowKey&) const = default;
};

struct FlowValue {
    std::int64_t first_ns = 0, last_ns = 0;
    Tally a_to_b, b_to_a;
    bool a_first = true;  // the first packet went from a to b
    void merge(const FlowValue& o) noexcept;
};

struct Flow {
    FlowKey key;
    FlowValue value;
    // The end that sent first, and the other.
    [[nodiscard]] const Address& src() const noexcept { return value.a_first ? key.a : key.b; }
    [[nodiscard]] const Address& dst() const noexcept { return value.a_first ? key.b : key.a; }
    [[nodiscard]] std::uint16_t sport() const noexcept { return value.a_first ? key.port_a : key.port_b; }
    [[nodiscard]] std::uint16_t dport() const noexcept { return value.a_first ? key.port_b : key.port_a; }
    [[nodiscard]] const Tally& forward() const noexcept { return value.a_first ? value.a_to_b : value.b_to_a; }
    [[nodiscard]] const Tally& backward() const noexcept { return value.a_first ? value.b_to_a : value.a_to_b; }
    [[nodiscard]] bool has_ports() const noexcept { return key.ports != 0; }
    [[nodiscard]] bool has_addresses() const noexcept { return key.network != 0; }
    [[nodiscard]] bool is_ip() const noexcept { return key.network == 4 || key.network == 6; }
};

enum class FlowSort { bytes, packets, start, duration };
std::optional<FlowSort> parse_flow_sort(std::string_view name) noexcept;

struct FlowOptions {
    FlowSort sort = FlowSort::bytes;                 // bytes, packets, duration: largest first; start: earliest first
    std::optional<std::uint64_t> limit;              // at most this many flows
    std::size_t max_entries = std::size_t{1} << 19;  // flow table entries in memory before spilling
};

struct FlowResult {
    std::uint64_t flows = 0;  // distinct conversations
    std::size_t spilled_runs = 0;
};

// Calls each(flow) for the conversations of the matching packets, in
// options.sort order, until it returns false.
FlowResult compute_flows(Store& store, const Filter& filter, const FlowOptions& options,
                         const std::function<bool(const Flow&)>& each);

}  // namespace capdb
