// Query filters: what `capdb query` accepts, parsed and checked before any
// database is touched. Time bounds, capture and the packet conditions
// combine with AND.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capdb/address.h"
#include "capdb/expr.h"
#include "capdb/packet.h"

namespace capdb {

struct Filter {
    std::optional<std::int64_t> from_ns;  // inclusive, ns since the epoch
    std::optional<std::int64_t> to_ns;    // inclusive
    // The conditions on a packet's own fields (addresses, ports, protocols,
    // length): the flags and the expression, in one tree. Empty: none.
    Expr expr;
    std::optional<CaptureId> capture;
    std::optional<std::uint64_t> limit;

    // True when the filter has conditions other than time and capture
    // (address, port, protocol), which only a packet's own fields answer.
    [[nodiscard]] bool has_packet_conditions() const noexcept { return !expr.empty(); }
    // ANDs e into the packet conditions.
    void also(Expr e);
};

// The exact per-packet predicate. Every store answers with precisely the
// packets for which this is true, in (ts_ns, capture, seq) order.
[[nodiscard]] bool matches(const Filter& f, const PacketView& p) noexcept;

// The instants a written time stands for, both inclusive, in ns since the
// epoch: a time covers the whole unit of its last written digit.
struct TimeSpan {
    std::int64_t first_ns = 0;
    std::int64_t last_ns = 0;
};
// Parses a query expression in tcpdump's filter language (README.md, "Query
// expressions"), given as the command line's words. Throws UsageError naming
// the word it cannot read, with the expression and a caret under the word.
// No words: an empty Expr.
[[nodiscard]] Expr parse_expression(const std::vector<std::string>& words);

// Parses a time: epoch seconds with an optional fraction ("1490492402",
// "1490492402.5"), RFC 3339 / ISO 8601 ("2017-03-26T01:40:02Z",
// "2017-03-26 01:40:02.25+02:00", "2017-03-26T01:40", "2017-03-26"; no zone
// means UTC), "now" or "now-DURATION" (now_ns: the clock's reading). The span
// is what its precision covers: "2017-03-26" the whole day, "1490492402" a
// second, "1490492402.5" a tenth of one, "now" one instant. std::nullopt if
// malformed.
std::optional<TimeSpan> parse_time_span(std::string_view text, std::int64_t now_ns) noexcept;

// The start of parse_time_span(text, the clock's time now).
std::optional<std::int64_t> parse_time(std::string_view text) noexcept;

// A duration as ns: one or more <number><unit> parts with units s, m, h, d
// and w ("90s", "15m", "2h", "7d", "1h30m"). std::nullopt if malformed or
// over about 146 years.
std::optional<std::int64_t> parse_duration(std::string_view text) noexcept;

// CLOCK_REALTIME in ns since the epoch.
std::int64_t wall_clock_ns() noexcept;

// "tcp", "udp", "icmp", "icmp6", "sctp", ... or a number 0-255.
std::optional<std::uint8_t> parse_proto(std::string_view text) noexcept;

// A port number 0-65535.
std::optional<std::uint16_t> parse_port(std::string_view text) noexcept;

// Name of an IP protocol for display ("TCP", "UDP", "ICMP", ...); nullptr if unnamed.
const char* proto_name(std::uint8_t proto) noexcept;

}  // namespace capdb
