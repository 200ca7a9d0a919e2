#include "store/clickhouse/rows.h"

#include <cstring>

namespace capdb::clickhouse {

void RowWriter::string(std::string_view text) {
    std::uint64_t n = text.size();
    do {
        auto byte = static_cast<std::uint8_t>(n & 0x7f);
        n >>= 7;
        if (n != 0) byte |= 0x80;
        out_.push_back(byte);
    } while (n != 0);
    out_.insert(out_.end(), text.begin(), text.end());
}

std::optional<std::uint64_t> RowReader::u64() noexcept {
    if (!cur_.can_read(8)) return std::nullopt;
    const auto lo = cur_.le32();
    const auto hi = cur_.le32();
    return (std::uint64_t{*hi} << 32) | *lo;
}

std::optional<std::int64_t> RowReader::i64() noexcept {
    const auto v = u64();
    if (!v) return std::nullopt;
    return static_cast<std::int64_t>(*v);
}

std::optional<std::span<const std::uint8_t>> RowReader::string() noexcept {
    std::uint64_t n = 0;
    for (int shift = 0;; shift += 7) {
        const auto b = cur_.u8();
        if (!b || shift > 56) return std::nullopt;
        n |= std::uint64_t{*b & 0x7fu} << shift;
        if ((*b & 0x80) == 0) break;
    }
    return cur_.take(static_cast<std::size_t>(n));
}

const char* const kPacketColumns =
    "capture, seq, ts_ns, block, caplen, wirelen, file_offset, linktype, if_index, time_invalid, network, status, "
    "ethertype, ip_proto, flags, src_port, dst_port, src, dst, preview, tcp_flags, tunnel, tunnel_info, tunnel_id, "
    "outer_network, outer_src, outer_dst";
const char* const kAddressColumns =
    "addr, role, capture, seq, ts_ns, block, caplen, wirelen, file_offset, linktype, if_index, time_invalid, network, "
    "status, ethertype, ip_proto, flags, src_port, dst_port, src, dst, preview, tcp_flags, tunnel, tunnel_info, "
    "tunnel_id, outer_network, outer_src, outer_dst";

namespace {

// Summary's booleans in one column.
constexpr std::uint8_t kHasPorts = 1, kFragment = 2, kArp = 4;
// tunnel_info: the tunnel layers, and whether the tunnel id is set.
constexpr std::uint8_t kLayersMask = 0x0f, kHasTunnelId = 0x80;

}  // namespace

void write_packet(RowWriter& w, CaptureId capture, std::uint64_t seq, std::int64_t block, const PacketBatch& batch,
                  const PacketBatch::Packet& p) {
    const Summary& s = p.summary;
    w.i64(capture);
    w.u64(seq);
    w.i64(p.ts_ns);
    w.i64(block);
    w.u32(p.caplen);
    w.u32(p.wirelen);
    w.i64(p.file_offset);
    w.u32(p.linktype);
    w.u32(p.if_index);
    w.u8(p.time_invalid ? 1 : 0);
    w.u8(static_cast<std::uint8_t>(s.network));
    w.u8(static_cast<std::uint8_t>(s.status));
    w.u16(s.ethertype);
    w.u8(s.ip_proto);
    w.u8(static_cast<std::uint8_t>((s.has_ports ? kHasPorts : 0) | (s.fragment ? kFragment : 0) | (s.arp ? kArp : 0)));
    w.u16(s.src_port);
    w.u16(s.dst_port);
    w.fixed(s.src.bytes);
    w.fixed(s.dst.bytes);
    const auto preview = batch.preview(p);
    w.string({reinterpret_cast<const char*>(preview.data()), preview.size()});
    w.u8(s.tcp_flags);
    w.u8(static_cast<std::uint8_t>(s.tunnel));
    w.u8(static_cast<std::uint8_t>((s.has_tunnel_id ? kHasTunnelId : 0) | (s.tunnel_layers & kLayersMask)));
    w.u32(s.tunnel_id);
    w.u8(static_cast<std::uint8_t>(s.outer_network));
    w.fixed(s.outer_src.bytes);
    w.fixed(s.outer_dst.bytes);
}

bool read_packet(RowReader& r, PacketView& v) noexcept {
    const auto capture = r.i64();
    const auto seq = r.u64();
    const auto ts = r.i64();
    const auto block = r.i64();
    const auto caplen = r.u32();
    const auto wirelen = r.u32();
    const auto offset = r.i64();
    const auto linktype = r.u32();
    const auto if_index = r.u32();
    const auto invalid = r.u8();
    const auto network = r.u8();
    const auto status = r.u8();
    const auto ethertype = r.u16();
    const auto proto = r.u8();
    const auto flags = r.u8();
    const auto sport = r.u16();
    const auto dport = r.u16();
    const auto src = r.fixed(16);
    const auto dst = r.fixed(16);
    const auto preview = r.string();
    const auto tcp_flags = r.u8();
    const auto tunnel = r.u8();
    const auto tunnel_info = r.u8();
    const auto tunnel_id = r.u32();
    const auto outer_network = r.u8();
    const auto outer_src = r.fixed(16);
    const auto outer_dst = r.fixed(16);
    if (!capture || !seq || !ts || !block || !caplen || !wirelen || !offset || !linktype || !if_index || !invalid ||
        !network || !status || !ethertype || !proto || !flags || !sport || !dport || !src || !dst || !preview ||
        !tcp_flags || !tunnel || !tunnel_info || !tunnel_id || !outer_network || !outer_src || !outer_dst)
        return false;
    v.capture = *capture;
    v.seq = *seq;
    v.ts_ns = *ts;
    v.caplen = *caplen;
    v.wirelen = *wirelen;
    v.file_offset = *offset;
    v.linktype = *linktype;
    v.if_index = *if_index;
    v.time_invalid = *invalid != 0;
    Summary& s = v.summary;
    s = Summary{};
    s.network = static_cast<Network>(*network);
    s.status = static_cast<Status>(*status);
    s.ethertype = *ethertype;
    s.ip_proto = *proto;
    s.has_ports = (*flags & kHasPorts) != 0;
    s.fragment = (*flags & kFragment) != 0;
    s.arp = (*flags & kArp) != 0;
    s.src_port = *sport;
    s.dst_port = *dport;
    s.tcp_flags = *tcp_flags;
    s.tunnel = static_cast<Tunnel>(*tunnel);
    s.has_tunnel_id = (*tunnel_info & kHasTunnelId) != 0;
    s.tunnel_layers = static_cast<std::uint8_t>(*tunnel_info & kLayersMask);
    s.tunnel_id = *tunnel_id;
    s.outer_network = static_cast<Network>(*outer_network);
    std::memcpy(s.outer_src.bytes.data(), outer_src->data(), 16);
    std::memcpy(s.outer_dst.bytes.data(), outer_dst->data(), 16);
    std::memcpy(s.src.bytes.data(), src->data(), 16);
    std::memcpy(s.dst.bytes.data(), dst->data(), 16);
    v.preview = *preview;
    return true;
}

const char* const kCaptureColumns =
    "id, version, deleted, sensor, writer_pid, source, live, filter, linktype, snaplen, preview_bytes, "
    "has_file_size, file_size, has_mtime, file_mtime_ns, ts_precision, packets_at, segment_format, "
    "segment_ts_precision, state, sha256, has_ts, first_ts_ns, last_ts_ns, packets, ipv4, ipv6, other, malformed, "
    "unsupported, bytes, has_live_stats, received, dropped_kernel, dropped_iface, started_at_ns, error";

void write_capture(RowWriter& w, const CaptureRow& row) {
    const CaptureInfo& c = row.info;
    w.i64(c.id);
    w.u64(row.version);
    w.u8(row.deleted ? 1 : 0);
    w.string(row.sensor);
    w.i64(row.writer_pid);
    w.string(c.meta.source);
    w.u8(c.meta.live ? 1 : 0);
    w.string(c.meta.filter);
    w.u32(c.meta.linktype);
    w.u32(c.meta.snaplen);
    w.u32(c.meta.preview_bytes);
    w.u8(c.meta.file_size ? 1 : 0);
    w.u64(c.meta.file_size.value_or(0));
    w.u8(c.meta.file_mtime_ns ? 1 : 0);
    w.i64(c.meta.file_mtime_ns.value_or(0));
    w.u32(c.meta.ts_precision.value_or(0));
    w.u8(static_cast<std::uint8_t>(c.meta.packets_at));
    w.u8(static_cast<std::uint8_t>(c.meta.segment_format));
    w.u32(c.meta.segment_ts_precision);
    w.u8(static_cast<std::uint8_t>(c.state));
    w.string(c.sha256);
    w.u8(c.first_ts_ns ? 1 : 0);
    w.i64(c.first_ts_ns.value_or(0));
    w.i64(c.last_ts_ns.value_or(0));
    w.u64(c.counts.packets);
    w.u64(c.counts.ipv4);
    w.u64(c.counts.ipv6);
    w.u64(c.counts.other);
    w.u64(c.counts.malformed);
    w.u64(c.counts.unsupported);
    w.u64(c.counts.bytes);
    w.u8(c.live_stats ? 1 : 0);
    const LiveStats ls = c.live_stats.value_or(LiveStats{});
    w.u64(ls.received);
    w.u64(ls.dropped_kernel);
    w.u64(ls.dropped_iface);
    w.i64(c.started_at_ns);
    w.string(c.error);
}

namespace {

std::string text(std::span<const std::uint8_t> s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

}  // namespace

bool read_capture(RowReader& r, CaptureRow& row) {
    CaptureInfo& c = row.info;
    const auto id = r.i64();
    const auto version = r.u64();
    const auto deleted = r.u8();
    const auto sensor = r.string();
    const auto pid = r.i64();
    const auto source = r.string();
    const auto live = r.u8();
    const auto filter = r.string();
    const auto linktype = r.u32();
    const auto snaplen = r.u32();
    const auto preview_bytes = r.u32();
    const auto has_size = r.u8();
    const auto size = r.u64();
    const auto has_mtime = r.u8();
    const auto mtime = r.i64();
    const auto precision = r.u32();
    const auto packets_at = r.u8();
    const auto segment_format = r.u8();
    const auto segment_precision = r.u32();
    const auto state = r.u8();
    const auto sha = r.string();
    const auto has_ts = r.u8();
    const auto first = r.i64();
    const auto last = r.i64();
    std::optional<std::uint64_t> counts[7];
    for (auto& n : counts) n = r.u64();
    const auto has_live = r.u8();
    const auto received = r.u64();
    const auto dropped_kernel = r.u64();
    const auto dropped_iface = r.u64();
    const auto started = r.i64();
    const auto error = r.string();
    if (!error || !started || !dropped_iface || !dropped_kernel || !received || !has_live || !counts[6] || !last ||
        !first || !has_ts || !sha || !state || !segment_precision || !segment_format || !packets_at || !precision ||
        !mtime || !has_mtime || !size || !has_size || !preview_bytes || !snaplen || !linktype || !filter || !live ||
        !source || !pid || !sensor || !deleted || !version || !id)
        return false;
    for (const auto& n : counts)
        if (!n) return false;
    c = CaptureInfo{};
    c.id = *id;
    row.version = *version;
    row.deleted = *deleted != 0;
    row.sensor = text(*sensor);
    row.writer_pid = *pid;
    c.meta.source = text(*source);
    c.meta.live = *live != 0;
    c.meta.filter = text(*filter);
    c.meta.linktype = *linktype;
    c.meta.snaplen = *snaplen;
    c.meta.preview_bytes = *preview_bytes;
    if (*has_size) c.meta.file_size = *size;
    if (*has_mtime) c.meta.file_mtime_ns = *mtime;
    if (*precision != 0) c.meta.ts_precision = *precision;
    c.meta.packets_at = *packets_at <= 2 ? static_cast<PacketsAt>(*packets_at) : PacketsAt::none;
    c.meta.segment_format = *segment_format == 1 ? SegmentFormat::pcapng : SegmentFormat::pcap;
    c.meta.segment_ts_precision = *segment_precision;
    c.state = *state <= 3 ? static_cast<CaptureState>(*state) : CaptureState::failed;
    c.sha256 = text(*sha);
    if (*has_ts) {
        c.first_ts_ns = *first;
        c.last_ts_ns = *last;
    }
    c.counts.packets = *counts[0];
    c.counts.ipv4 = *counts[1];
    c.counts.ipv6 = *counts[2];
    c.counts.other = *counts[3];
    c.counts.malformed = *counts[4];
    c.counts.unsupported = *counts[5];
    c.counts.bytes = *counts[6];
    if (*has_live) c.live_stats = LiveStats{*received, *dropped_kernel, *dropped_iface};
    c.started_at_ns = *started;
    c.error = text(*error);
    return true;
}

}  // namespace capdb::clickhouse
