#include "store/format/aggregates.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <tuple>

#include <fmt/format.h>

#include "capdb/error.h"
#include "util/bytes.h"

namespace capdb::store {

namespace {

constexpr int kZstdLevel = 1;
constexpr std::size_t kMaxFrameBytes = std::size_t{16} << 20;

// x / d rounded towards negative infinity (d > 0).
std::int64_t floor_div(std::int64_t x, std::int64_t d) noexcept {
    const std::int64_t q = x / d;
    return (x % d != 0 && x < 0) ? q - 1 : q;
}

void put_varint(std::vector<std::uint8_t>& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<std::uint8_t>(v | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<std::uint8_t>(v));
}

void put_tally(std::vector<std::uint8_t>& out, const Tally& t) {
    put_varint(out, t.packets);
    put_varint(out, t.bytes);
}

Tally get_tally(StoredReader& in) {
    Tally t;
    t.packets = in.varint();
    t.bytes = in.varint();
    return t;
}

}  // namespace

std::size_t AggregateBuilder::AddressHash::operator()(const Address& a) const noexcept {
    std::uint64_t w[2];
    std::memcpy(w, a.bytes.data(), sizeof w);
    std::uint64_t h = (w[0] ^ 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    h = (h ^ w[1]) * 0xff51afd7ed558ccdull;
    return static_cast<std::size_t>(h ^ (h >> 32));
}

void AggregateBuilder::reset(CaptureId capture, std::int64_t anchor_ns) {
    capture_ = capture;
    anchor_ = anchor_ns;
    total_ = {};
    mix_.clear();
    times_.clear();
    address_ids_.clear();
    endpoints_.clear();
    pairs_.clear();
    ports_.clear();
    last_src_id_ = last_dst_id_ = UINT32_MAX;
}

std::uint32_t AggregateBuilder::id_of(const Address& a) {
    const auto [it, fresh] = address_ids_.try_emplace(a, static_cast<std::uint32_t>(endpoints_.size()));
    if (fresh) endpoints_.emplace_back(a, Tally{});
    return it->second;
}

void AggregateBuilder::add(const Summary& s, std::uint32_t wirelen, std::int64_t ts_ns) {
    if (total_.packets == 0) ts_min_ = ts_max_ = ts_ns;
    ts_min_ = std::min(ts_min_, ts_ns);
    ts_max_ = std::max(ts_max_, ts_ns);
    total_.add(wirelen);
    times_.emplace_back(ts_ns, wirelen);

    const std::uint8_t network = s.network == Network::ipv4 ? 4 : s.network == Network::ipv6 ? 6 : 0;
    const std::uint16_t code = network != 0 ? s.ip_proto : s.ethertype;
    const MixGroup key{s.status, network, s.fragment, code, {}};
    auto same = [&](const MixGroup& g) {
        return g.status == key.status && g.network == key.network && g.fragment == key.fragment && g.code == key.code;
    };
    // Few groups per block (a handful of protocols): a linear search.
    auto g = std::find_if(mix_.begin(), mix_.end(), same);
    if (g == mix_.end()) g = mix_.insert(mix_.end(), key);
    g->tally.add(wirelen);

    if (network == 0) return;
    if (last_src_id_ == UINT32_MAX || !(s.src == last_src_)) {
        last_src_ = s.src;
        last_src_id_ = id_of(s.src);
    }
    if (last_dst_id_ == UINT32_MAX || !(s.dst == last_dst_)) {
        last_dst_ = s.dst;
        last_dst_id_ = id_of(s.dst);
    }
    endpoints_[last_src_id_].second.add(wirelen);
    endpoints_[last_dst_id_].second.add(wirelen);
    const bool ordered = s.src < s.dst;
    const std::uint32_t a = ordered ? last_src_id_ : last_dst_id_, b = ordered ? last_dst_id_ : last_src_id_;
    pairs_[std::uint64_t{a} << 32 | b].add(wirelen);
    if (s.has_ports) {
        ports_[std::uint32_t{s.ip_proto} << 16 | s.src_port].add(wirelen);
        if (s.dst_port != s.src_port) ports_[std::uint32_t{s.ip_proto} << 16 | s.dst_port].add(wirelen);
    }
}

void AggregateBuilder::finish(BlockAggregates& out) {
    out = BlockAggregates{};
    out.capture = capture_;
    out.ts_min = ts_min_;
    out.ts_max = ts_max_;
    out.total = total_;
    out.mix = mix_;
    std::sort(out.mix.begin(), out.mix.end(), [](const MixGroup& x, const MixGroup& y) {
        return std::tie(x.status, x.network, x.fragment, x.code) < std::tie(y.status, y.network, y.fragment, y.code);
    });

    // The timeline: the finest resolution whose buckets fit the budget.
    std::sort(times_.begin(), times_.end());
    const std::uint64_t budget = std::max<std::uint64_t>(16, total_.packets / 16);
    out.anchor_ns = anchor_;
    for (const std::int64_t r : kTimelineResolutions) {
        std::uint64_t buckets = 0;
        std::int64_t last = 0;
        for (const auto& [ts, wire] : times_) {
            const std::int64_t k = floor_div(wrapping_sub(ts, anchor_), r);
            if (buckets == 0 || k != last) ++buckets;
            last = k;
            if (buckets > budget) break;
        }
        if (buckets > budget) continue;
        out.resolution_ns = r;
        for (const auto& [ts, wire] : times_) {
            const std::int64_t k = floor_div(wrapping_sub(ts, anchor_), r);
            if (out.timeline.empty() || out.timeline.back().index != k) out.timeline.push_back({k, {}});
            out.timeline.back().tally.add(wire);
        }
        break;
    }

    // The tables, within their budget.
    const std::uint64_t entries = endpoints_.size() + pairs_.size() + ports_.size();
    if (entries > total_.packets / 4) return;
    out.has_tables = true;
    // Endpoints in address order; pairs renumbered to match.
    std::vector<std::uint32_t> order(endpoints_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t x, std::uint32_t y) { return endpoints_[x].first < endpoints_[y].first; });
    std::vector<std::uint32_t> rank(order.size());
    out.endpoints.reserve(order.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        rank[order[i]] = i;
        out.endpoints.push_back(endpoints_[order[i]]);
    }
    out.pairs.reserve(pairs_.size());
    for (const auto& [key, tally] : pairs_)
        out.pairs.push_back(
            {rank[static_cast<std::uint32_t>(key >> 32)], rank[static_cast<std::uint32_t>(key)], tally});
    std::sort(out.pairs.begin(), out.pairs.end(),
              [](const AggregatePair& x, const AggregatePair& y) { return std::tie(x.a, x.b) < std::tie(y.a, y.b); });
    out.ports.reserve(ports_.size());
    for (const auto& [key, tally] : ports_)
        out.ports.push_back({static_cast<std::uint8_t>(key >> 16), static_cast<std::uint16_t>(key), tally});
    std::sort(out.ports.begin(), out.ports.end(), [](const AggregatePort& x, const AggregatePort& y) {
        return std::tie(x.proto, x.port) < std::tie(y.proto, y.port);
    });
}

// Uncompressed layout (varints unless said):
//   u8 version = 1; total packets, bytes;
//   mix: n, then n x (u8 status, u8 network, u8 fragment, code, packets, bytes);
//   timeline: resolution (0: none), zigzag(anchor), n, then n x
//     (zigzag(index - previous index; the first: index), packets, bytes);
//   u8 tables (0 or 1); when 1: endpoints n, n x (u8 length 4 or 16, address
//     bytes, packets, bytes); pairs n, n x (a, b - a, packets, bytes);
//     ports n, n x (u8 proto, u16 port big-endian, packets, bytes).
std::vector<std::uint8_t> encode_aggregates(const BlockAggregates& a) {
    std::vector<std::uint8_t> raw;
    raw.reserve(64 + a.timeline.size() * 6 + a.endpoints.size() * 12 + a.pairs.size() * 6 + a.ports.size() * 7);
    raw.push_back(kAggregatesVersion);
    put_tally(raw, a.total);
    put_varint(raw, a.mix.size());
    for (const MixGroup& g : a.mix) {
        raw.push_back(static_cast<std::uint8_t>(g.status));
        raw.push_back(g.network);
        raw.push_back(g.fragment ? 1 : 0);
        put_varint(raw, g.code);
        put_tally(raw, g.tally);
    }
    put_varint(raw, static_cast<std::uint64_t>(a.resolution_ns));
    put_varint(raw, zigzag(a.anchor_ns));
    put_varint(raw, a.timeline.size());
    std::int64_t prev = 0;
    for (const TimelineBucket& b : a.timeline) {
        put_varint(raw, zigzag(wrapping_sub(b.index, prev)));
        prev = b.index;
        put_tally(raw, b.tally);
    }
    raw.push_back(a.has_tables ? 1 : 0);
    // The tables go into a second frame, which a report without them
    // (stats --no-top) never decompresses.
    const std::size_t head = raw.size();
    if (a.has_tables) {
        put_varint(raw, a.endpoints.size());
        for (const auto& [addr, tally] : a.endpoints) {
            const std::size_t len = addr.is_v4() ? 4 : 16;
            raw.push_back(static_cast<std::uint8_t>(len));
            const std::uint8_t* b = addr.bytes.data() + (addr.is_v4() ? 12 : 0);
            raw.insert(raw.end(), b, b + len);
            put_tally(raw, tally);
        }
        put_varint(raw, a.pairs.size());
        for (const AggregatePair& p : a.pairs) {
            put_varint(raw, p.a);
            put_varint(raw, p.b - p.a);
            put_tally(raw, p.tally);
        }
        put_varint(raw, a.ports.size());
        for (const AggregatePort& p : a.ports) {
            raw.push_back(p.proto);
            raw.push_back(static_cast<std::uint8_t>(p.port >> 8));
            raw.push_back(static_cast<std::uint8_t>(p.port));
            put_tally(raw, p.tally);
        }
    }
    const std::size_t tail = raw.size() - head;
    std::vector<std::uint8_t> out(ZSTD_compressBound(head) + (a.has_tables ? ZSTD_compressBound(tail) : 0));
    const std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), head, kZstdLevel);
    if (ZSTD_isError(n)) throw Error(Exit::internal, fmt::format("zstd: {}", ZSTD_getErrorName(n)));
    std::size_t m = 0;
    if (a.has_tables) {
        m = ZSTD_compress(out.data() + n, out.size() - n, raw.data() + head, tail, kZstdLevel);
        if (ZSTD_isError(m)) throw Error(Exit::internal, fmt::format("zstd: {}", ZSTD_getErrorName(m)));
    }
    out.resize(n + m);
    return out;
}

namespace {

// Decompresses one zstd frame (the whole of `frame`) into raw.
void inflate(std::span<const std::uint8_t> frame, std::vector<std::uint8_t>& raw) {
    StoredReader fail({}, "block aggregates");
    const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > kMaxFrameBytes)
        fail.corrupt("bad compressed frame");
    raw.resize(static_cast<std::size_t>(size));
    const std::size_t n = ZSTD_decompress(raw.data(), raw.size(), frame.data(), frame.size());
    if (ZSTD_isError(n) || n != size) fail.corrupt("cannot decompress");
}

}  // namespace

std::pair<std::span<const std::uint8_t>, std::span<const std::uint8_t>> split_aggregates(
    std::span<const std::uint8_t> blob) {
    const std::size_t first = ZSTD_findFrameCompressedSize(blob.data(), blob.size());
    if (ZSTD_isError(first)) StoredReader({}, "block aggregates").corrupt("bad compressed frame");
    return {blob.first(first), blob.subspan(first)};
}

void decode_aggregates(std::span<const std::uint8_t> blob, BlockAggregates& out, bool tables) {
    const auto [head, rest] = split_aggregates(blob);
    decode_aggregates(head, rest, out, tables);
}

void decode_aggregates(std::span<const std::uint8_t> head, std::span<const std::uint8_t> second, BlockAggregates& out,
                       bool tables) {
    std::vector<std::uint8_t> raw;
    inflate(head, raw);

    StoredReader in(raw, "block aggregates");
    if (in.u8() != kAggregatesVersion) in.corrupt("unknown version");
    out.total = get_tally(in);
    // Counts are bounded by what the bytes can hold: every entry takes at
    // least 3 bytes, so a count past the frame's size is corruption (and
    // would make a huge allocation).
    auto count = [&](std::size_t min_bytes) {
        const std::uint64_t k = in.varint();
        if (k > raw.size() / min_bytes) in.corrupt("count");
        return static_cast<std::size_t>(k);
    };
    out.mix.resize(count(6));
    for (MixGroup& g : out.mix) {
        const std::uint8_t status = in.u8();
        if (status > static_cast<std::uint8_t>(Status::too_deep)) in.corrupt("status");
        g.status = static_cast<Status>(status);
        g.network = in.u8();
        if (g.network != 0 && g.network != 4 && g.network != 6) in.corrupt("network");
        const std::uint8_t fragment = in.u8();
        if (fragment > 1) in.corrupt("fragment");
        g.fragment = fragment != 0;
        const std::uint64_t code = in.varint();
        if (code > UINT16_MAX) in.corrupt("protocol");
        g.code = static_cast<std::uint16_t>(code);
        g.tally = get_tally(in);
    }
    const std::uint64_t resolution = in.varint();
    if (resolution != 0 && std::find(std::begin(kTimelineResolutions), std::end(kTimelineResolutions),
                                     static_cast<std::int64_t>(resolution)) == std::end(kTimelineResolutions))
        in.corrupt("resolution");
    out.resolution_ns = static_cast<std::int64_t>(resolution);
    out.anchor_ns = unzigzag(in.varint());
    out.timeline.resize(count(3));
    if (resolution == 0 && !out.timeline.empty()) in.corrupt("timeline");
    std::int64_t index = 0;
    for (std::size_t k = 0; k < out.timeline.size(); ++k) {
        const std::int64_t delta = unzigzag(in.varint());
        if (k > 0 && delta <= 0) in.corrupt("timeline order");
        index = wrapping_add(index, delta);
        out.timeline[k].index = index;
        out.timeline[k].tally = get_tally(in);
    }
    const std::uint8_t has_tables = in.u8();
    if (has_tables > 1) in.corrupt("tables");
    if (!in.done()) in.corrupt("bytes after the end");
    out.has_tables = has_tables == 1;
    out.endpoints.clear();
    out.pairs.clear();
    out.ports.clear();
    if (!out.has_tables && !second.empty()) in.corrupt("tables for a block that has none");
    if (out.has_tables && tables) {
        if (second.empty()) in.corrupt("the tables' frame is missing");
        inflate(second, raw);
        in = StoredReader(raw, "block aggregates");
        out.endpoints.resize(count(7));
        for (auto& [addr, tally] : out.endpoints) {
            const std::uint8_t len = in.u8();
            const auto key = in.take(len);
            if (len == 4)
                addr = Address::from_v4(key.data());
            else if (len == 16)
                addr = Address::from_v6(key.data());
            else
                in.corrupt("address length");
            tally = get_tally(in);
        }
        out.pairs.resize(count(4));
        for (AggregatePair& p : out.pairs) {
            const std::uint64_t a = in.varint();
            const std::uint64_t d = in.varint();
            if (a >= out.endpoints.size() || d >= out.endpoints.size() - a) in.corrupt("pair");
            p.a = static_cast<std::uint32_t>(a);
            p.b = static_cast<std::uint32_t>(a + d);
            p.tally = get_tally(in);
        }
        out.ports.resize(count(5));
        for (AggregatePort& p : out.ports) {
            p.proto = in.u8();
            p.port = in.be16();
            p.tally = get_tally(in);
        }
    }
    if (!in.done()) in.corrupt("bytes after the end");
}

}  // namespace capdb::store
