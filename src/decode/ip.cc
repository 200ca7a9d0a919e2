// IPv4 and IPv6 (with IPv6 extension headers) up to the first four bytes
// of the transport header.
//
// What counts as "there": the captured bytes, further limited to the length
// the IP header declares (IPv4 total length; IPv6 payload length, unless it is
// 0 before a hop-by-hop header, i.e. a jumbogram) so that Ethernet padding is
// never read as a header. A needed header that does not fit in what is there
// makes the summary truncated, whichever of the two limits cut it: decode()
// sees caplen only, so it cannot tell a snaplen cut from a lying length field.
// Fields decoded before the cut stay set; in particular a cut IPv6 extension
// header whose first two bytes are there leaves ip_proto at the header it
// names (what tshark shows), otherwise at the extension header's own number.
#include <array>

#include "decode/decode_layers.h"

namespace capdb::decoding {
namespace {

constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kIpv6FragmentHeader = 8;
constexpr std::size_t kPortBytes = 4;
constexpr std::size_t kTcpFlagsAfterPorts = 9;  // the flags byte is at offset 13 of the TCP header

bool carries_ports(std::uint8_t proto) noexcept {
    switch (proto) {
        case ipproto::tcp:
        case ipproto::udp:
        case ipproto::sctp:
        case ipproto::udplite:
        case ipproto::dccp: return true;
        default: return false;
    }
}

// Reads a 4- or 16-byte address at the cursor. The caller has checked the
// bytes are there.
template <std::size_t N>
std::array<std::uint8_t, N> read_address(ByteCursor& cur) noexcept {
    std::array<std::uint8_t, N> out{};
    if (!cur.copy_to(out.data(), N)) out.fill(0);
    return out;
}

// cur is at the transport header; s.ip_proto is set.
void decode_ports(Summary& s, ByteCursor cur) noexcept {
    if (!carries_ports(s.ip_proto)) return;
    if (!cur.can_read(kPortBytes)) {
        s.status = Status::truncated;
        return;
    }
    s.src_port = cur.be16().value_or(0);
    s.dst_port = cur.be16().value_or(0);
    s.has_ports = true;
    // TCP: sequence and acknowledgment numbers (8 bytes), data offset, flags.
    if (s.ip_proto == ipproto::tcp && cur.skip(kTcpFlagsAfterPorts)) s.tcp_flags = cur.u8().value_or(0);
}

}  // namespace

// cur is at the IPv4 header.
void decode_ipv4(Summary& s, ByteCursor cur) noexcept {
    ByteCursor header = cur;
    const auto version_ihl = header.u8();
    if (!version_ihl) {
        s.status = Status::truncated;
        return;
    }
    const auto version = static_cast<unsigned>(*version_ihl >> 4);
    const std::size_t header_len = (*version_ihl & 0x0fu) * 4u;
    if (version != 4 || header_len < kIpv4MinHeader) {
        s.status = Status::malformed;
        return;
    }
    if (!cur.can_read(kIpv4MinHeader)) {
        s.status = Status::truncated;
        return;
    }

    // The fixed 20 bytes are there, so none of these reads can fail.
    (void)header.skip(1);  // DSCP/ECN
    const std::size_t total_len = header.be16().value_or(0);
    (void)header.skip(2);  // identification
    const std::uint16_t flags_offset = header.be16().value_or(0);
    (void)header.skip(1);  // TTL
    const std::uint8_t proto = header.u8().value_or(0);
    (void)header.skip(2);  // header checksum
    const auto src = read_address<4>(header);
    const auto dst = read_address<4>(header);

    s.network = Network::ipv4;
    s.src = Address::from_v4(src.data());
    s.dst = Address::from_v4(dst.data());
    s.ip_proto = proto;
    const bool more_fragments = (flags_offset & 0x2000u) != 0;
    const unsigned fragment_offset = flags_offset & 0x1fffu;
    s.fragment = more_fragments || fragment_offset != 0;

    if (total_len < header_len) {
        s.status = Status::malformed;
        return;
    }
    ByteCursor packet = limited(cur, total_len);
    if (!packet.skip(header_len)) {  // options cut off
        s.status = Status::truncated;
        return;
    }
    if (fragment_offset != 0) return;  // a later fragment: no transport header
    decode_transport(s, packet);
}

// cur is at the IPv6 header.
void decode_ipv6(Summary& s, ByteCursor cur) noexcept {
    ByteCursor header = cur;
    const auto first = header.u8();
    if (!first) {
        s.status = Status::truncated;
        return;
    }
    if ((*first >> 4) != 6) {
        s.status = Status::malformed;
        return;
    }
    if (!cur.can_read(kIpv6Header)) {
        s.status = Status::truncated;
        return;
    }

    // The fixed 40 bytes are there, so none of these reads can fail.
    (void)header.skip(3);  // rest of version / traffic class / flow label
    const std::size_t payload_len = header.be16().value_or(0);
    std::uint8_t next = header.u8().value_or(0);
    (void)header.skip(1);  // hop limit
    const auto src = read_address<16>(header);
    const auto dst = read_address<16>(header);

    s.network = Network::ipv6;
    s.src = Address::from_v6(src.data());
    s.dst = Address::from_v6(dst.data());
    s.ip_proto = next;

    // Payload length 0 is a jumbogram only when a hop-by-hop header (with
    // the Jumbo Payload option) follows: then the capture decides. Otherwise
    // it means what it says, as in tcpdump and tshark.
    const bool jumbo = payload_len == 0 && next == ipproto::hopopts;
    ByteCursor payload = limited(header, jumbo ? header.remaining() : payload_len);

    // Every extension header is at least 8 bytes, so this ends.
    for (;;) {
        switch (next) {
            case ipproto::hopopts:
            case ipproto::routing:
            case ipproto::dstopts:
            case ipproto::ah: {
                ByteCursor ext = payload;
                const auto ext_next = ext.u8();
                const auto ext_len = ext.u8();
                if (!ext_next || !ext_len) {
                    s.status = Status::truncated;
                    return;
                }
                // The header names its successor even if its body is cut
                // short (as tshark reports it).
                s.ip_proto = *ext_next;
                // AH counts 4-byte units minus 2; the others 8-byte units minus 1.
                const std::size_t size = next == ipproto::ah ? (*ext_len + 2u) * 4u : (*ext_len + 1u) * 8u;
                if (!payload.skip(size)) {
                    s.status = Status::truncated;
                    return;
                }
                next = *ext_next;
                break;
            }
            case ipproto::fragment: {
                const auto frag = payload.take(kIpv6FragmentHeader);
                if (!frag) {
                    s.status = Status::truncated;
                    return;
                }
                ByteCursor f{*frag};
                next = f.u8().value_or(0);
                (void)f.skip(1);  // reserved
                const std::uint16_t offset_flags = f.be16().value_or(0);
                const unsigned fragment_offset = offset_flags >> 3;
                const bool more_fragments = (offset_flags & 1u) != 0;
                s.ip_proto = next;
                // An atomic fragment (offset 0, M clear) is a whole packet.
                s.fragment = s.fragment || more_fragments || fragment_offset != 0;
                if (fragment_offset != 0) return;  // no transport header here
                break;
            }
            default: decode_transport(s, payload); return;
        }
    }
}

void decode_transport(Summary& s, ByteCursor cur) noexcept {
    switch (s.ip_proto) {
        case ipproto::ipip:
        case ipproto::ipv6: decode_ip_in_ip(s, cur); return;
        case ipproto::gre: decode_gre(s, cur); return;
        default: break;
    }
    decode_ports(s, cur);
    if (s.has_ports && s.ip_proto == ipproto::udp) decode_udp_tunnel(s, cur);
}

// IP chosen by the first nibble (raw IP link types).
void decode_ip_by_version(Summary& s, ByteCursor cur) noexcept {
    ByteCursor peek = cur;
    const auto first = peek.u8();
    if (!first) {
        s.status = Status::truncated;
        return;
    }
    switch (*first >> 4) {
        case 4:
            s.ethertype = ethertype::ipv4;
            decode_ipv4(s, cur);
            return;
        case 6:
            s.ethertype = ethertype::ipv6;
            decode_ipv6(s, cur);
            return;
        default: s.status = Status::malformed; return;
    }
}

}  // namespace capdb::decoding
