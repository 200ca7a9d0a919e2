// compute_stats and compute_flows: one Store::scan each, folding every
// matching packet into fixed-size counters and spilling tables.
#include "capdb/stats.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "capdb/error.h"
#include "stats/spill.h"

namespace capdb {

namespace {

constexpr std::int64_t kUs = 1'000;
constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSec = 1'000'000'000;
constexpr std::int64_t kMin = 60 * kSec;
constexpr std::int64_t kHour = 60 * kMin;
constexpr std::int64_t kDay = 24 * kHour;

// A multiplicative hash over 64-bit words (read with memcpy).
struct Mix {
    std::uint64_t h = 0x9e3779b97f4a7c15ull;
    void add(std::uint64_t v) noexcept {
        h ^= v;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    void add(const Address& a) noexcept {
        std::uint64_t w[2];
        std::memcpy(w, a.bytes.data(), sizeof w);
        add(w[0]);
        add(w[1]);
    }
};

struct AddressHash {
    std::size_t operator()(const Address& a) const noexcept {
        Mix m;
        m.add(a);
        return static_cast<std::size_t>(m.h);
    }
};

struct PairKey {
    Address a, b;
    bool operator==(const PairKey&) const = default;
    auto operator<=>(const PairKey&) const = default;
};
struct PairHash {
    std::size_t operator()(const PairKey& k) const noexcept {
        Mix m;
        m.add(k.a);
        m.add(k.b);
        return static_cast<std::size_t>(m.h);
    }
};

struct PortKey {
    std::uint16_t port = 0;
    std::uint8_t proto = 0;
    std::uint8_t reserved = 0;
    bool operator==(const PortKey&) const = default;
    auto operator<=>(const PortKey&) const = default;
};
struct PortHash {
    std::size_t operator()(const PortKey& k) const noexcept {
        return (std::size_t{k.proto} << 16) | std::size_t{k.port};
    }
};

struct FlowKeyHash {
    std::size_t operator()(const FlowKey& k) const noexcept {
        Mix m;
        m.add(k.a);
        m.add(k.b);
        m.add(std::uint64_t{k.port_a} | std::uint64_t{k.port_b} << 16 | std::uint64_t{k.ethertype} << 32 |
              std::uint64_t{k.proto} << 48 | std::uint64_t{k.network} << 56);
        m.add(k.ports);
        return static_cast<std::size_t>(m.h);
    }
};

// Orders by tally (packets or bytes first), largest first, then by key.
template <class T, class KeyOf>
auto by_tally(bool bytes_first, KeyOf key_of) {
    return [bytes_first, key_of](const T& x, const T& y) {
        const auto kx =
            bytes_first ? std::tie(x.tally.bytes, x.tally.packets) : std::tie(x.tally.packets, x.tally.bytes);
        const auto ky =
            bytes_first ? std::tie(y.tally.bytes, y.tally.packets) : std::tie(y.tally.packets, y.tally.bytes);
        if (kx != ky) return kx < ky;
        return key_of(x) > key_of(y);  // "smaller" = later: the lesser key wins a tie
    };
}

// Where timeline bucket `index` of a block starts; nullopt when it (or its
// end) is out of range.
std::optional<std::int64_t> bucket_start(const BlockAggregates& a, std::int64_t index) noexcept {
    std::int64_t offset = 0, start = 0;
    if (__builtin_mul_overflow(index, a.resolution_ns, &offset) ||
        __builtin_add_overflow(a.anchor_ns, offset, &start) ||
        start > std::numeric_limits<std::int64_t>::max() - a.resolution_ns)
        return std::nullopt;
    return start;
}

}  // namespace

std::int64_t auto_interval(std::int64_t span_ns, std::size_t buckets) noexcept {
    static constexpr std::int64_t kSteps[] = {
        1 * kUs,   2 * kUs,   5 * kUs,   10 * kUs,  20 * kUs,   50 * kUs,  100 * kUs, 200 * kUs, 500 * kUs, 1 * kMs,
        2 * kMs,   5 * kMs,   10 * kMs,  20 * kMs,  50 * kMs,   100 * kMs, 200 * kMs, 500 * kMs, 1 * kSec,  2 * kSec,
        5 * kSec,  10 * kSec, 15 * kSec, 30 * kSec, 1 * kMin,   2 * kMin,  5 * kMin,  10 * kMin, 15 * kMin, 30 * kMin,
        1 * kHour, 2 * kHour, 3 * kHour, 6 * kHour, 12 * kHour, 1 * kDay,  2 * kDay,  7 * kDay,  30 * kDay, 365 * kDay};
    if (buckets == 0) buckets = 1;
    span_ns = std::max<std::int64_t>(span_ns, 0);
    for (std::int64_t step : kSteps)
        if (static_cast<std::uint64_t>(span_ns / step) + 1 <= buckets) return step;
    // Longer than a year per bucket: whole years.
    const std::int64_t years = span_ns / (365 * kDay) / static_cast<std::int64_t>(buckets) + 1;
    return years * 365 * kDay;
}

std::optional<std::int64_t> parse_interval(std::string_view text) noexcept {
    std::size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    const std::string_view number = text.substr(0, i), unit = text.substr(i);
    if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1) return std::nullopt;
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s")
        scale = kSec;
    else if (unit == "ms")
        scale = kMs;
    else if (unit == "us")
        scale = kUs;
    else if (unit == "ns")
        scale = 1;
    else if (unit == "m" || unit == "min")
        scale = kMin;
    else if (unit == "h")
        scale = kHour;
    else if (unit == "d")
        scale = kDay;
    else
        return std::nullopt;
    // Whole part and up to 9 fraction digits, exactly.
    const std::size_t dot = number.find('.');
    const std::string_view whole = number.substr(0, dot);
    const std::string_view frac = dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
    std::uint64_t w = 0;
    if (!whole.empty()) {
        const auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), w);
        if (ec != std::errc() || p != whole.data() + whole.size()) return std::nullopt;
    }
    if (frac.size() > 9) return std::nullopt;
    std::uint64_t f = 0;
    for (char c : frac) f = f * 10 + static_cast<std::uint64_t>(c - '0');
    std::uint64_t f_scale = 1;
    for (std::size_t k = 0; k < frac.size(); ++k) f_scale *= 10;
    constexpr std::uint64_t kMaxNs = 100ull * 365 * kDay;  // a century
    const auto s = static_cast<std::uint64_t>(scale);
    if (w > kMaxNs / s) return std::nullopt;
    const std::uint64_t ns = w * s + f * s / f_scale;
    if (ns == 0 || ns > kMaxNs) return std::nullopt;
    return static_cast<std::int64_t>(ns);
}

std::string format_interval(std::int64_t ns) {
    static constexpr std::pair<std::int64_t, const char*> kUnits[] = {
        {kDay, "d"}, {kHour, "h"}, {kMin, "m"}, {kSec, "s"}, {kMs, "ms"}, {kUs, "us"}, {1, "ns"}};
    for (const auto& [unit, name] : kUnits)
        if (ns % unit == 0) return fmt::format("{}{}", ns / unit, name);
    return fmt::format("{}ns", ns);
}

StatsReport compute_stats(Store& store, const Filter& filter, const StatsOptions& options) {
    StatsReport r;
    r.tables = options.tables;
    // The captures in view: their time span places the histogram, and their
    // live statistics give the drops.
    std::optional<std::int64_t> cap_first, cap_last;
    for (const CaptureInfo& c : store.captures()) {
        if (filter.capture && c.id != *filter.capture) continue;
        ++r.captures;
        if (c.first_ts_ns) cap_first = std::min(cap_first.value_or(*c.first_ts_ns), *c.first_ts_ns);
        if (c.last_ts_ns) cap_last = std::max(cap_last.value_or(*c.last_ts_ns), *c.last_ts_ns);
        if (c.meta.live) {
            ++r.live_captures;
            if (c.live_stats) r.dropped += c.live_stats->dropped_kernel + c.live_stats->dropped_iface;
            // Drops between consecutive samples (the first from the start,
            // the last up to the final statistics) make a window.
            LiveSample prev{std::min(c.started_at_ns, c.first_ts_ns.value_or(c.started_at_ns)), 0, 0};
            auto window = [&](const LiveSample& s) {
                if (s.dropped > prev.dropped && s.ts_ns > prev.ts_ns)
                    r.histogram.drops.push_back({prev.ts_ns, s.ts_ns, s.dropped - prev.dropped});
                if (s.ts_ns > prev.ts_ns) prev = s;
            };
            for (const LiveSample& s : store.live_samples(c.id)) window(s);
            if (c.live_stats && c.last_ts_ns)
                window({std::max(*c.last_ts_ns, prev.ts_ns + 1), c.live_stats->received,
                        c.live_stats->dropped_kernel + c.live_stats->dropped_iface});
        }
    }
    Histogram& h = r.histogram;
    std::sort(h.drops.begin(), h.drops.end(),
              [](const DropWindow& a, const DropWindow& b) { return a.from_ns < b.from_ns; });
    h.origin_ns = filter.from_ns.value_or(cap_first.value_or(0));
    std::int64_t end = cap_last.value_or(h.origin_ns);
    if (filter.to_ns) end = std::min(end, *filter.to_ns);
    const std::int64_t span = std::max<std::int64_t>(end - h.origin_ns, 0);
    h.interval_ns = options.interval_ns.value_or(auto_interval(span, options.auto_buckets));
    const std::uint64_t wanted = static_cast<std::uint64_t>(span / h.interval_ns) + 1;
    if (wanted > kMaxBuckets)
        throw UsageError(fmt::format("--interval {}: {} intervals over {} (at most {})", format_interval(h.interval_ns),
                                     wanted, format_interval(std::max<std::int64_t>(span, 1)), kMaxBuckets));
    h.buckets.assign(static_cast<std::size_t>(wanted), Tally{});

    using stats::SpillingAggregator;
    SpillingAggregator<Address, Tally, AddressHash> endpoints(options.max_entries);
    SpillingAggregator<PairKey, Tally, PairHash> pairs(options.max_entries);
    SpillingAggregator<PortKey, Tally, PortHash> ports(options.max_entries);
    std::map<std::uint16_t, Tally> ethertypes;  // at most 65536 entries

    // The histogram bucket of a time: out-of-order packets before the
    // origin go to bucket 0.
    auto bucket_of = [&h](std::int64_t ts) {
        const std::int64_t rel = ts < h.origin_ns ? 0 : (ts - h.origin_ns) / h.interval_ns;
        return static_cast<std::size_t>(std::min<std::int64_t>(rel, kMaxBuckets - 1));
    };
    auto add_to_bucket = [&h](std::size_t k, const Tally& t) {
        // Packets past the last bucket (a capture still growing) extend it.
        if (k >= h.buckets.size()) h.buckets.resize(k + 1);
        h.buckets[k] += t;
    };
    // The protocol mix of packets with these fields.
    auto add_to_mix = [&](Status status, Network network, bool fragment, std::uint16_t code, const Tally& t) {
        ProtocolMix& m = r.mix;
        switch (status) {
            case Status::malformed:
            case Status::too_deep: m.malformed += t.packets; break;
            case Status::truncated: m.truncated += t.packets; break;
            case Status::unsupported: m.unsupported += t.packets; break;
            default: break;
        }
        if (network == Network::none) {
            m.non_ip += t.packets;
            if (status != Status::unsupported) ethertypes[code] += t;
            return;
        }
        (network == Network::ipv4 ? m.ipv4 : m.ipv6) += t.packets;
        m.ip_proto[code & 0xff] += t;
        if (fragment) m.fragments += t.packets;
    };

    // A block the filter takes whole adds its aggregates when its timeline
    // falls into the histogram's buckets without crossing an edge and it
    // keeps the tables the report needs; else its rows are read.
    auto on_block = [&](const BlockAggregates& a) {
        if (options.tables && !a.has_tables) return false;
        if (a.resolution_ns == 0 || h.interval_ns % a.resolution_ns != 0) return false;
        for (const TimelineBucket& b : a.timeline) {
            const auto start = bucket_start(a, b.index);
            if (!start || bucket_of(*start) != bucket_of(*start + (a.resolution_ns - 1))) return false;
        }
        r.total += a.total;
        r.first_ns = std::min(r.first_ns.value_or(a.ts_min), a.ts_min);
        r.last_ns = std::max(r.last_ns.value_or(a.ts_max), a.ts_max);
        for (const TimelineBucket& b : a.timeline) add_to_bucket(bucket_of(*bucket_start(a, b.index)), b.tally);
        for (const MixGroup& g : a.mix)
            add_to_mix(g.status,
                       g.network == 4   ? Network::ipv4
                       : g.network == 6 ? Network::ipv6
                                        : Network::none,
                       g.fragment, g.code, g.tally);
        if (!options.tables) return true;
        for (const auto& [address, tally] : a.endpoints) endpoints.at(address) += tally;
        for (const AggregatePair& p : a.pairs)
            pairs.at(PairKey{a.endpoints[p.a].first, a.endpoints[p.b].first}) += p.tally;
        for (const AggregatePort& p : a.ports) ports.at({p.port, p.proto, 0}) += p.tally;
        return true;
    };

    store.scan_aggregates(filter, options.tables, on_block, [&](const PacketView& p) {
        const Summary& s = p.summary;
        Tally one;
        one.add(p.wirelen);
        r.total += one;
        r.first_ns = std::min(r.first_ns.value_or(p.ts_ns), p.ts_ns);
        r.last_ns = std::max(r.last_ns.value_or(p.ts_ns), p.ts_ns);
        add_to_bucket(bucket_of(p.ts_ns), one);
        add_to_mix(s.status, s.network, s.fragment, s.network == Network::none ? s.ethertype : s.ip_proto, one);
        if (s.network == Network::none || !options.tables) return true;
        // A packet counts for both of its addresses, twice for one address
        // talking to itself (as tshark's endpoints do).
        endpoints.at(s.src).add(p.wirelen);
        endpoints.at(s.dst).add(p.wirelen);
        pairs.at(s.src < s.dst ? PairKey{s.src, s.dst} : PairKey{s.dst, s.src}).add(p.wirelen);
        if (s.has_ports) {
            ports.at({s.src_port, s.ip_proto, 0}).add(p.wirelen);
            if (s.dst_port != s.src_port) ports.at({s.dst_port, s.ip_proto, 0}).add(p.wirelen);
        }
        return true;
    });
    for (const auto& [type, tally] : ethertypes) r.mix.ethertypes.emplace_back(type, tally);
    if (!options.tables) return r;
    r.spilled_runs = endpoints.runs() + pairs.runs() + ports.runs();  // before drain() empties them

    auto address_of = [](const EndpointStat& e) { return e.address; };
    stats::TopN<EndpointStat, decltype(by_tally<EndpointStat>(false, address_of))> top_packets(
        options.top, by_tally<EndpointStat>(false, address_of));
    stats::TopN<EndpointStat, decltype(by_tally<EndpointStat>(true, address_of))> top_bytes(
        options.top, by_tally<EndpointStat>(true, address_of));
    endpoints.drain([&](const Address& a, const Tally& t) {
        ++r.endpoints;
        top_packets.offer({a, t});
        top_bytes.offer({a, t});
    });
    r.top_by_packets = top_packets.take();
    r.top_by_bytes = top_bytes.take();

    auto pair_of = [](const PairStat& p) { return std::tie(p.a, p.b); };
    stats::TopN<PairStat, decltype(by_tally<PairStat>(true, pair_of))> top_pairs(options.top,
                                                                                 by_tally<PairStat>(true, pair_of));
    pairs.drain([&](const PairKey& k, const Tally& t) {
        ++r.pairs;
        top_pairs.offer({k.a, k.b, t});
    });
    r.top_pairs = top_pairs.take();

    auto port_of = [](const PortStat& p) { return std::tie(p.port, p.proto); };
    stats::TopN<PortStat, decltype(by_tally<PortStat>(false, port_of))> top_ports(options.top,
                                                                                  by_tally<PortStat>(false, port_of));
    ports.drain([&](const PortKey& k, const Tally& t) {
        ++r.ports;
        top_ports.offer({k.proto, k.port, t});
    });
    r.top_ports = top_ports.take();
    return r;
}

void FlowValue::merge(const FlowValue& o) noexcept {
    if (o.first_ns < first_ns) {
        first_ns = o.first_ns;
        a_first = o.a_first;
    }
    last_ns = std::max(last_ns, o.last_ns);
    tcp_flags |= o.tcp_flags;
    a_to_b += o.a_to_b;
    b_to_a += o.b_to_a;
}

std::optional<FlowSort> parse_flow_sort(std::string_view name) noexcept {
    if (name == "bytes") return FlowSort::bytes;
    if (name == "packets") return FlowSort::packets;
    if (name == "start") return FlowSort::start;
    if (name == "duration") return FlowSort::duration;
    return std::nullopt;
}

namespace {

// Whether flow x comes before flow y in the output.
struct FlowBefore {
    FlowSort sort;
    bool operator()(const Flow& x, const Flow& y) const noexcept {
        const std::uint64_t px = x.value.a_to_b.packets + x.value.b_to_a.packets;
        const std::uint64_t py = y.value.a_to_b.packets + y.value.b_to_a.packets;
        const std::uint64_t bx = x.value.a_to_b.bytes + x.value.b_to_a.bytes;
        const std::uint64_t by = y.value.a_to_b.bytes + y.value.b_to_a.bytes;
        const std::int64_t dx = x.value.last_ns - x.value.first_ns;
        const std::int64_t dy = y.value.last_ns - y.value.first_ns;
        switch (sort) {
            case FlowSort::bytes:
                if (bx != by) return bx > by;
                if (px != py) return px > py;
                break;
            case FlowSort::packets:
                if (px != py) return px > py;
                if (bx != by) return bx > by;
                break;
            case FlowSort::duration:
                if (dx != dy) return dx > dy;
                break;
            case FlowSort::start: break;
        }
        return std::tie(x.value.first_ns, x.key) < std::tie(y.value.first_ns, y.key);
    }
};

}  // namespace

FlowResult compute_flows(Store& store, const Filter& filter, const FlowOptions& options,
                         const std::function<bool(const Flow&)>& each) {
    FlowResult result;
    stats::SpillingAggregator<FlowKey, FlowValue, FlowKeyHash> table(options.max_entries);
    store.scan(filter, [&](const PacketView& p) {
        const Summary& s = p.summary;
        FlowKey k;
        bool forward = true;
        if (s.network != Network::none) {
            k.network = s.network == Network::ipv4 ? 4 : 6;
            k.proto = s.ip_proto;
            k.ports = s.has_ports ? 1 : 0;
            const std::uint16_t sp = s.has_ports ? s.src_port : 0, dp = s.has_ports ? s.dst_port : 0;
            forward = std::tie(s.src, sp) <= std::tie(s.dst, dp);
            k.a = forward ? s.src : s.dst;
            k.b = forward ? s.dst : s.src;
            k.port_a = forward ? sp : dp;
            k.port_b = forward ? dp : sp;
        } else {
            k.ethertype = s.ethertype;
            if (s.arp) {  // sender and target, as an address pair
                k.network = 1;
                forward = s.src <= s.dst;
                k.a = forward ? s.src : s.dst;
                k.b = forward ? s.dst : s.src;
            }
        }
        FlowValue& v = table.at(k);
        if (v.a_to_b.packets == 0 && v.b_to_a.packets == 0) {
            v.first_ns = v.last_ns = p.ts_ns;
            v.a_first = forward;
        } else if (p.ts_ns < v.first_ns) {
            v.first_ns = p.ts_ns;
            v.a_first = forward;
        } else if (p.ts_ns > v.last_ns) {
            v.last_ns = p.ts_ns;
        }
        (forward ? v.a_to_b : v.b_to_a).add(p.wirelen);
        v.tcp_flags |= s.tcp_flags;
        return true;
    });
    result.spilled_runs = table.runs();  // before drain() empties it
    const FlowBefore before{options.sort};
    const std::uint64_t limit = options.limit.value_or(std::numeric_limits<std::uint64_t>::max());
    if (limit <= options.max_entries) {
        // The first `limit` flows: a heap of at most limit.
        auto worse = [before](const Flow& x, const Flow& y) { return before(y, x); };
        stats::TopN<Flow, decltype(worse)> top(static_cast<std::size_t>(limit), worse);
        table.drain([&](const FlowKey& k, const FlowValue& v) {
            ++result.flows;
            top.offer({k, v});
        });
        for (const Flow& f : top.take())
            if (!each(f)) break;
        return result;
    }
    stats::ExternalSorter<Flow, FlowBefore> sorter(options.max_entries, before);
    table.drain([&](const FlowKey& k, const FlowValue& v) {
        ++result.flows;
        sorter.push({k, v});
    });
    result.spilled_runs += sorter.runs();
    std::uint64_t n = 0;
    sorter.drain([&](const Flow& f) { return n++ < limit && each(f); });
    return result;
}

}  // namespace capdb
