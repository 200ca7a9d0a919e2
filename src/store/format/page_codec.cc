#include "store/format/page_codec.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "capdb/error.h"
#include "util/bytes.h"

namespace capdb::store {

namespace {

constexpr int kZstdLevel = 1;
constexpr std::uint8_t ipproto_tcp = 6;

enum StreamId : std::size_t {
    kSeq = 0,    // zig-zag varint: index in block - previous index (first: index)
    kTs,         // zig-zag varint: ts - previous ts (first: ts - page ts_min)
    kCaplen,     // varint
    kWireDelta,  // zig-zag varint: wirelen - caplen
    kOffset,     // zig-zag varint: offset - (previous offset + previous caplen); first: offset
    kFlags,      // 1 byte: status(3) | network(2) << 3 | has_ports << 5 | fragment << 6 | time_invalid << 7
                 // network: 0 none, 1 IPv4, 2 IPv6, 3 (version 5) ARP with its IPv4 addresses
    kEthertype,  // 2 bytes big-endian
    kIp,         // IP rows: proto byte, src index varint, dst index varint; ARP rows: the two indexes
    kPorts,      // rows with ports: 2+2 bytes big-endian
    kPreview,    // per row: length varint, then that many bytes
    kInterface,  // version 4, pages with several interfaces: per row, varint index into the interface dictionary
    kTcpFlags,   // version 6: per TCP row with ports, its flags byte
    kTunnel,     // version 7: per row, u8 tunnel (0: none; else type | has_id << 4 | outer << 5, then u8
                 // layers, varint id when has_id, outer src and dst dictionary indexes when outer (1 IPv4, 2 IPv6))
    kStreamCount
};
constexpr std::size_t kStreamsV3 = kInterface;
constexpr std::size_t kStreamsV4 = kTcpFlags;
constexpr std::size_t kStreamsV6 = kTunnel;
// The first page version with the tunnel stream.
constexpr std::uint8_t kTunnelVersion = 7;

// Most bytes one row can add to each stream.
constexpr std::array<std::size_t, kStreamCount> kRowBound{
    10,             // kSeq
    10,             // kTs
    5,              // kCaplen
    10,             // kWireDelta
    10,             // kOffset
    1,              // kFlags
    2,              // kEthertype
    1 + 5 + 5,      // kIp
    4,              // kPorts
    5,              // kPreview (plus the bytes themselves)
    5,              // kInterface
    1,              // kTcpFlags
    2 + 5 + 5 + 5,  // kTunnel
};

// Readers of a decoded page: any overrun means the page is corrupt.
StoredReader page_reader(std::span<const std::uint8_t> b) { return StoredReader(b, "packet page"); }

[[noreturn]] void corrupt(const char* why) { page_reader({}).corrupt(why); }

}  // namespace

std::span<const std::uint8_t> address_key(const Address& a) noexcept {
    if (a.is_v4()) return std::span<const std::uint8_t>(a.bytes).subspan(12, 4);
    return std::span<const std::uint8_t>(a.bytes);
}

void ZstdCCtxFree::operator()(ZSTD_CCtx_s* c) const noexcept { ZSTD_freeCCtx(c); }
void ZstdDCtxFree::operator()(ZSTD_DCtx_s* c) const noexcept { ZSTD_freeDCtx(c); }

bool RowPredicate::matches(const PacketView& p) const noexcept {
    if (p.ts_ns < from_ns || p.ts_ns > to_ns) return false;
    return !expr || capdb::matches(*expr, p);
}

std::uint32_t PageEncoder::intern(std::uint32_t id, const Address& a, EncodedPage& out) {
    if (id >= page_index_.size()) page_index_.resize(std::size_t{id} + 1, kNoAddress);
    std::uint32_t& slot = page_index_[id];
    if (slot == kNoAddress) {
        slot = static_cast<std::uint32_t>(out.addresses.size());
        out.addresses.push_back(a);
        out.address_ids.push_back(id);
    }
    return slot;
}

void PageEncoder::encode(std::span<const RowRef> rows, EncodedPage& out) {
    out.addresses.clear();
    out.address_ids.clear();
    interfaces_.clear();
    for (const RowRef& r : rows) {
        const std::pair<std::uint32_t, std::uint32_t> key{r.packet->if_index, r.packet->linktype};
        if (std::find(interfaces_.begin(), interfaces_.end(), key) == interfaces_.end()) interfaces_.push_back(key);
    }
    const bool several = interfaces_.size() > 1;

    std::int64_t ts_min = rows.front().packet->ts_ns, ts_max = ts_min;
    std::size_t preview_bytes = 0;
    for (const RowRef& r : rows) {
        ts_min = std::min(ts_min, r.packet->ts_ns);
        ts_max = std::max(ts_max, r.packet->ts_ns);
        preview_bytes += r.packet->preview_len;
    }
    // Stream k is written at begin[k] of scratch_.
    std::array<std::size_t, kStreamCount + 1> begin{};
    for (std::size_t k = 0; k < kStreamCount; ++k)
        begin[k + 1] = begin[k] + kRowBound[k] * rows.size() + (k == kPreview ? preview_bytes : 0);
    if (scratch_.size() < begin[kStreamCount]) scratch_.resize(begin[kStreamCount]);
    std::array<ByteWriter, kStreamCount> w{};
    for (std::size_t k = 0; k < kStreamCount; ++k) w[k].p = scratch_.data() + begin[k];

    std::int64_t prev_ts = ts_min;
    std::int64_t prev_index = 0;
    std::int64_t prev_end = 0;  // previous offset + caplen
    for (const RowRef& r : rows) {
        const PacketBatch::Packet& p = *r.packet;
        const Summary& s = p.summary;
        w[kSeq].varint(zigzag(std::int64_t{r.index} - prev_index));
        prev_index = r.index;
        w[kTs].varint(zigzag(wrapping_sub(p.ts_ns, prev_ts)));
        prev_ts = p.ts_ns;
        w[kCaplen].varint(p.caplen);
        w[kWireDelta].varint(zigzag(std::int64_t{p.wirelen} - std::int64_t{p.caplen}));
        w[kOffset].varint(zigzag(p.file_offset - prev_end));
        prev_end = p.file_offset + p.caplen;
        const unsigned network = s.network == Network::ipv4 ? 1 : s.network == Network::ipv6 ? 2 : s.arp ? 3 : 0;
        w[kFlags].byte(static_cast<std::uint8_t>(static_cast<unsigned>(s.status) | network << 3 |
                                                 (s.has_ports ? 1u << 5 : 0u) | (s.fragment ? 1u << 6 : 0u) |
                                                 (p.time_invalid ? 1u << 7 : 0u)));
        w[kEthertype].be16(s.ethertype);
        if (s.network != Network::none || s.arp) {
            if (r.src_id == kNoAddress || r.dst_id == kNoAddress)
                throw Error(Exit::internal, "page encoder: addresses not numbered");
            if (s.network != Network::none) w[kIp].byte(s.ip_proto);
            w[kIp].varint(intern(r.src_id, s.src, out));
            w[kIp].varint(intern(r.dst_id, s.dst, out));
        }
        if (s.has_ports) {
            w[kPorts].be16(s.src_port);
            w[kPorts].be16(s.dst_port);
            if (s.ip_proto == ipproto_tcp) w[kTcpFlags].byte(s.tcp_flags);
        }
        if (s.tunnel == Tunnel::none) {
            w[kTunnel].byte(0);
        } else {
            const unsigned outer = s.outer_network == Network::ipv4 ? 1 : s.outer_network == Network::ipv6 ? 2 : 0;
            w[kTunnel].byte(static_cast<std::uint8_t>(static_cast<unsigned>(s.tunnel) |
                                                      (s.has_tunnel_id ? 1u << 4 : 0u) | outer << 5));
            w[kTunnel].byte(s.tunnel_layers);
            if (s.has_tunnel_id) w[kTunnel].varint(s.tunnel_id);
            if (outer != 0) {
                if (r.outer_src_id == kNoAddress || r.outer_dst_id == kNoAddress)
                    throw Error(Exit::internal, "page encoder: outer addresses not numbered");
                w[kTunnel].varint(intern(r.outer_src_id, s.outer_src, out));
                w[kTunnel].varint(intern(r.outer_dst_id, s.outer_dst, out));
            }
        }
        w[kPreview].varint(p.preview_len);
        w[kPreview].bytes(r.preview, p.preview_len);
        if (several) {
            const std::pair<std::uint32_t, std::uint32_t> key{p.if_index, p.linktype};
            w[kInterface].varint(static_cast<std::uint64_t>(std::find(interfaces_.begin(), interfaces_.end(), key) -
                                                            interfaces_.begin()));
        }
    }
    // The page's dictionary is complete: reset the map for the next page.
    for (std::uint32_t id : out.address_ids) page_index_[id] = kNoAddress;

    std::array<std::size_t, kStreamCount> size{};
    std::size_t streams_total = 0;
    for (std::size_t k = 0; k < kStreamCount; ++k) {
        size[k] = static_cast<std::size_t>(w[k].p - (scratch_.data() + begin[k]));
        streams_total += size[k];
    }
    // Header, dictionary, stream sizes, then the streams back to back.
    const std::size_t bound =
        1 + 4 * 10 + interfaces_.size() * 10 + out.addresses.size() * 17 + kStreamCount * 10 + streams_total;
    if (raw_.size() < bound) raw_.resize(bound);
    ByteWriter h{raw_.data()};
    h.byte(kPageVersion);
    h.varint(rows.size());
    h.varint(interfaces_.size());
    for (const auto& [if_index, linktype] : interfaces_) {
        h.varint(if_index);
        h.varint(linktype);
    }
    h.varint(zigzag(ts_min));
    h.varint(out.addresses.size());
    for (const Address& a : out.addresses) {
        const auto key = address_key(a);
        h.byte(static_cast<std::uint8_t>(key.size()));
        h.bytes(key.data(), key.size());
    }
    for (std::size_t k = 0; k < kStreamCount; ++k) h.varint(size[k]);
    // The previews go into a frame of their own, which a count never
    // decompresses.
    for (std::size_t k = 0; k < kStreamCount; ++k)
        if (k != kPreview) h.bytes(scratch_.data() + begin[k], size[k]);
    const auto raw_size = static_cast<std::size_t>(h.p - raw_.data());

    if (!zstd_) zstd_.reset(ZSTD_createCCtx());
    if (!zstd_) throw Error(Exit::internal, "zstd: cannot create a compression context");
    const std::size_t preview_bound = ZSTD_compressBound(size[kPreview]);
    out.data.resize(ZSTD_compressBound(raw_size) + preview_bound);
    // The preview frame carries zstd's content checksum: its bytes have no
    // structure that would show damage (the store's trailer covers both).
    auto compress = [&](std::size_t at, const std::uint8_t* src, std::size_t len, int checksum) {
        ZSTD_CCtx_setParameter(zstd_.get(), ZSTD_c_compressionLevel, kZstdLevel);
        ZSTD_CCtx_setParameter(zstd_.get(), ZSTD_c_checksumFlag, checksum);
        const std::size_t k = ZSTD_compress2(zstd_.get(), out.data.data() + at, out.data.size() - at, src, len);
        if (ZSTD_isError(k)) throw Error(Exit::internal, fmt::format("zstd: {}", ZSTD_getErrorName(k)));
        return k;
    };
    const std::size_t n = compress(0, raw_.data(), raw_size, 0);
    const std::size_t m = compress(n, scratch_.data() + begin[kPreview], size[kPreview], 1);
    out.data.resize(n + m);
    out.ts_min = ts_min;
    out.ts_max = ts_max;
    out.packets = static_cast<std::uint32_t>(rows.size());
}

namespace {

// Decompresses exactly one zstd frame (the whole of `frame`) into out.
void inflate(ZSTD_DCtx_s& zstd, std::span<const std::uint8_t> frame, std::vector<std::uint8_t>& out) {
    const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (64u << 20))
        corrupt("bad compressed frame");
    out.resize(static_cast<std::size_t>(size));
    const std::size_t n = ZSTD_decompressDCtx(&zstd, out.data(), out.size(), frame.data(), frame.size());
    if (ZSTD_isError(n) || n != size) corrupt("cannot decompress");
}

}  // namespace

void DecodedPage::decode(std::span<const std::uint8_t> compressed, CaptureId capture, std::uint64_t first_seq,
                         const RowPredicate* predicate) {
    (void)decode_rows(compressed, capture, first_seq, predicate, true);
}

std::size_t DecodedPage::count(std::span<const std::uint8_t> compressed, const RowPredicate& predicate) {
    return decode_rows(compressed, 0, 0, &predicate, false);
}

std::size_t DecodedPage::decode_rows(std::span<const std::uint8_t> compressed, CaptureId capture,
                                     std::uint64_t first_seq, const RowPredicate* predicate, bool keep) {
    // The first frame: the header and every stream but (from version 5 on)
    // the previews, which follow in a second frame.
    const std::size_t first = ZSTD_findFrameCompressedSize(compressed.data(), compressed.size());
    if (ZSTD_isError(first)) corrupt("bad compressed frame");
    thread_local std::unique_ptr<ZSTD_DCtx_s, ZstdDCtxFree> zstd;
    if (!zstd) zstd.reset(ZSTD_createDCtx());
    if (!zstd) throw Error(Exit::internal, "zstd: cannot create a decompression context");
    inflate(*zstd, compressed.first(first), raw_);
    const std::span<const std::uint8_t> preview_frame = compressed.subspan(first);

    StoredReader hdr = page_reader(raw_);
    const std::uint8_t version = hdr.u8();
    if (version < 3 || version > kPageVersion) corrupt("unknown page version");
    const bool preview_apart = version >= 5;
    if (!preview_apart && !preview_frame.empty()) corrupt("bytes after the page's frame");
    const std::uint64_t count = hdr.varint();
    if (count > kPageRows) corrupt("row count");
    interfaces_.clear();
    if (version == 3) {
        interfaces_.emplace_back(0, static_cast<std::uint32_t>(hdr.varint()));
    } else {
        const std::uint64_t nifaces = hdr.varint();
        if (nifaces == 0 || nifaces > std::max<std::uint64_t>(count, 1)) corrupt("interface count");
        for (std::uint64_t k = 0; k < nifaces; ++k) {
            const std::uint64_t if_index = hdr.varint();
            const std::uint64_t linktype = hdr.varint();
            if (if_index > UINT32_MAX || linktype > UINT32_MAX) corrupt("interface");
            interfaces_.emplace_back(static_cast<std::uint32_t>(if_index), static_cast<std::uint32_t>(linktype));
        }
    }
    const bool tunnels = version >= kTunnelVersion;
    const std::size_t nstreams = version == 3  ? kStreamsV3
                                 : version < 6 ? kStreamsV4
                                 : tunnels     ? kStreamCount
                                               : kStreamsV6;
    std::int64_t ts = unzigzag(hdr.varint());
    const std::uint64_t ndict = hdr.varint();
    if (ndict > (tunnels ? 4 : 2) * count) corrupt("dictionary size");
    std::vector<Address>& dict = dict_;
    dict.resize(static_cast<std::size_t>(ndict));
    for (auto& a : dict) {
        std::uint8_t len = hdr.u8();
        auto key = hdr.take(len);
        if (len == 4)
            a = Address::from_v4(key.data());
        else if (len == 16)
            a = Address::from_v6(key.data());
        else
            corrupt("address length");
    }
    std::array<std::uint64_t, kStreamCount> sizes{};
    for (std::size_t k = 0; k < nstreams; ++k) sizes[k] = hdr.varint();
    std::array<StoredReader, kStreamCount> streams{page_reader({}), page_reader({}), page_reader({}), page_reader({}),
                                                   page_reader({}), page_reader({}), page_reader({}), page_reader({}),
                                                   page_reader({}), page_reader({}), page_reader({}), page_reader({}),
                                                   page_reader({})};
    // The streams follow the header back to back, up to the page's end
    // (from version 5 on, the previews are the second frame's content).
    std::size_t pos = raw_.size();
    {
        // Each size is checked before it is added: a sum that wraps around
        // would otherwise pass and place streams outside the page.
        std::uint64_t total = 0;
        for (std::size_t k = 0; k < kStreamCount; ++k) {
            if (preview_apart && k == kPreview) continue;
            if (sizes[k] > raw_.size() - total) corrupt("stream sizes");
            total += sizes[k];
        }
        pos = raw_.size() - static_cast<std::size_t>(total);
    }
    for (std::size_t k = 0; k < kStreamCount; ++k) {
        if (preview_apart && k == kPreview) continue;
        streams[k] = page_reader(std::span<const std::uint8_t>(raw_).subspan(pos, static_cast<std::size_t>(sizes[k])));
        pos += static_cast<std::size_t>(sizes[k]);
    }
    if (preview_apart && keep) {
        inflate(*zstd, preview_frame, previews_);
        if (previews_.size() != sizes[kPreview]) corrupt("preview frame size");
        streams[kPreview] = page_reader(previews_);
    }

    // Address terms, answered once per dictionary entry: bit k of an
    // entry's mask says whether address term k's prefix holds it (terms
    // beyond the 64th ask their prefix per row).
    const Expr* expr = predicate && predicate->has_row_conditions() ? predicate->expr : nullptr;
    const std::int64_t from = predicate ? predicate->from_ns : std::numeric_limits<std::int64_t>::min();
    const std::int64_t to = predicate ? predicate->to_ns : std::numeric_limits<std::int64_t>::max();
    if (expr && !expr->address_terms().empty()) {
        const auto& terms = expr->address_terms();
        const std::size_t nbits = std::min<std::size_t>(terms.size(), 64);
        dict_match_.resize(dict.size());
        for (std::size_t k = 0; k < dict.size(); ++k) {
            std::uint64_t m = 0;
            for (std::size_t t = 0; t < nbits; ++t)
                if (expr->nodes()[terms[t]].prefix.contains(dict[k])) m |= std::uint64_t{1} << t;
            dict_match_[k] = m;
        }
    }

    // Each row's fields are read into locals and its summary, and the
    // expression is evaluated on them; a PacketView is built only for a row
    // that matches (most rows of a selective query do not), in place in
    // packets_, whose capacity is reserved so that it never moves.
    packets_.clear();
    if (keep) packets_.reserve(static_cast<std::size_t>(count));
    std::size_t matched = 0;
    Summary s;
    std::int64_t prev_end = 0;
    std::int64_t index = 0;
    // A count (keep false) reads only the streams the expression and the
    // time bounds look at: not the packet numbers, offsets, previews or
    // interfaces.
    std::int64_t file_offset = 0;
    std::span<const std::uint8_t> preview;
    std::size_t iface = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        if (keep) {
            index = wrapping_add(index, unzigzag(streams[kSeq].varint()));
            if (index < 0) corrupt("packet number");
        }
        ts = wrapping_add(ts, unzigzag(streams[kTs].varint()));
        const std::uint64_t caplen = streams[kCaplen].varint();
        if (caplen > UINT32_MAX) corrupt("length");
        const std::int64_t wire =
            wrapping_add(static_cast<std::int64_t>(caplen), unzigzag(streams[kWireDelta].varint()));
        if (wire < 0 || wire > UINT32_MAX) corrupt("length");
        if (keep) {
            file_offset = wrapping_add(prev_end, unzigzag(streams[kOffset].varint()));
            prev_end = wrapping_add(file_offset, static_cast<std::int64_t>(caplen));
        }
        const std::uint8_t flags = streams[kFlags].u8();
        // Every field is set: a fresh Summary per row costs a zeroing loop.
        s.ethertype = streams[kEthertype].be16();
        s.status = static_cast<Status>(flags & 7);
        const unsigned net = (flags >> 3) & 3;
        s.network = net == 1 ? Network::ipv4 : net == 2 ? Network::ipv6 : Network::none;
        s.has_ports = (flags >> 5) & 1;
        s.fragment = (flags >> 6) & 1;
        s.arp = false;
        s.ip_proto = 0;
        s.src_port = 0;
        s.dst_port = 0;
        s.src = Address{};
        s.dst = Address{};
        std::size_t si = 0, di = 0;  // dictionary entries of src and dst
        bool in_dict = false;        // src and dst are dict[si] and dict[di]
        if (net == 3 && version < 5) corrupt("network");
        if (net != 0) {  // IP, or ARP's two addresses (no protocol byte)
            in_dict = true;
            s.arp = net == 3;
            if (net != 3) s.ip_proto = streams[kIp].u8();
            const std::uint64_t sk = streams[kIp].varint();
            const std::uint64_t dk = streams[kIp].varint();
            if (sk >= dict.size() || dk >= dict.size()) corrupt("address index");
            si = static_cast<std::size_t>(sk);
            di = static_cast<std::size_t>(dk);
            s.src = dict[si];
            s.dst = dict[di];
        }
        s.tcp_flags = 0;
        if (s.has_ports) {
            s.src_port = streams[kPorts].be16();
            s.dst_port = streams[kPorts].be16();
            if (keep && s.ip_proto == ipproto_tcp && version >= 6) s.tcp_flags = streams[kTcpFlags].u8();
        }
        s.tunnel = Tunnel::none;
        s.has_tunnel_id = false;
        s.tunnel_layers = 0;
        s.tunnel_id = 0;
        s.outer_network = Network::none;
        s.outer_src = Address{};
        s.outer_dst = Address{};
        std::size_t osi = 0, odi = 0;  // dictionary entries of the outer addresses
        if (tunnels) {
            const std::uint8_t t = streams[kTunnel].u8();
            const unsigned type = t & 0x0fu, outer = (t >> 5) & 3u;
            if (type > kMaxTunnelKind || (type == 0 && t != 0) || outer == 3 || (t & 0x80u) != 0) corrupt("tunnel");
            if (type != 0) {
                s.tunnel = static_cast<Tunnel>(type);
                s.tunnel_layers = streams[kTunnel].u8();
                if (s.tunnel_layers == 0 || s.tunnel_layers > kMaxTunnelLayers) corrupt("tunnel layers");
                s.has_tunnel_id = ((t >> 4) & 1u) != 0;
                if (s.has_tunnel_id) {
                    const std::uint64_t id = streams[kTunnel].varint();
                    if (id > UINT32_MAX) corrupt("tunnel id");
                    s.tunnel_id = static_cast<std::uint32_t>(id);
                }
                if (outer != 0) {
                    const std::uint64_t sk = streams[kTunnel].varint();
                    const std::uint64_t dk = streams[kTunnel].varint();
                    if (sk >= dict.size() || dk >= dict.size()) corrupt("address index");
                    osi = static_cast<std::size_t>(sk);
                    odi = static_cast<std::size_t>(dk);
                    s.outer_network = outer == 1 ? Network::ipv4 : Network::ipv6;
                    s.outer_src = dict[osi];
                    s.outer_dst = dict[odi];
                    if (s.outer_src.is_v4() != (outer == 1) || s.outer_dst.is_v4() != (outer == 1))
                        corrupt("outer address family");
                }
            }
        }
        if (keep) {
            const std::uint64_t plen = streams[kPreview].varint();
            if (plen > kMaxPreviewBytes) corrupt("preview length");
            preview = streams[kPreview].take(static_cast<std::size_t>(plen));
            if (interfaces_.size() > 1) {
                const std::uint64_t k = streams[kInterface].varint();
                if (k >= interfaces_.size()) corrupt("interface index");
                iface = static_cast<std::size_t>(k);
            }
        }
        if (ts < from || ts > to) continue;
        // The same evaluation as capdb::matches (RowPredicate::matches), its
        // address terms answered from the dictionary masks.
        if (expr && !expr->eval(s, static_cast<std::uint32_t>(wire), [&](const ExprNode& term, AddressField f) {
                if (term.slot < 64) {
                    // Outer addresses are dictionary entries whenever they are set.
                    if (in_dict && (f == AddressField::src || f == AddressField::dst))
                        return ((dict_match_[f == AddressField::dst ? di : si] >> term.slot) & 1) != 0;
                    if (s.outer_network != Network::none &&
                        (f == AddressField::outer_src || f == AddressField::outer_dst))
                        return ((dict_match_[f == AddressField::outer_dst ? odi : osi] >> term.slot) & 1) != 0;
                }
                return term.prefix.contains(address_of(s, f));
            }))
            continue;
        ++matched;
        if (!keep) continue;

        PacketView& p = packets_.emplace_back();
        p.capture = capture;
        p.seq = first_seq + static_cast<std::uint64_t>(index);
        p.if_index = interfaces_[iface].first;
        p.linktype = interfaces_[iface].second;
        p.ts_ns = ts;
        p.caplen = static_cast<std::uint32_t>(caplen);
        p.wirelen = static_cast<std::uint32_t>(wire);
        p.file_offset = file_offset;
        p.time_invalid = (flags >> 7) & 1;
        p.summary = s;
        p.preview = preview;
    }
    return matched;
}

}  // namespace capdb::store
