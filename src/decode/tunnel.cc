// Tunnels: the encapsulations that lead from IP, UDP or an EtherType back
// to a link layer or to IP. GTP-U, VXLAN, Geneve and MPLS over UDP by their
// UDP destination port; GRE (with ERSPAN types I, II and III) and IP in IP
// by their IP protocol; MPLS, PPPoE sessions and NSH by their EtherType.
//
// A tunnel is entered (enter_tunnel) as soon as its port, protocol number
// or EtherType names it, except for a UDP port whose header is there but is
// not the tunnel's (then the packet is plain UDP): from then on the
// summary's fields describe what the tunnel carries, so a cut or damaged
// inner packet never shows the outer header's addresses as its own. The
// outermost IP header and the outermost tunnel are kept in the outer_ and
// tunnel fields. Every layer counts towards kMaxTunnelLayers, which bounds
// the recursion whatever the nesting (a loop of IP in IP, NSH in NSH).
#include <optional>

#include "decode/decode_layers.h"

namespace capdb::decoding {
namespace {

constexpr std::uint16_t kGtpUPort = 2152;
constexpr std::uint16_t kVxlanPort = 4789;
constexpr std::uint16_t kGenevePort = 6081;
constexpr std::uint16_t kMplsUdpPort = 6635;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kGtpHeader = 8;         // flags, type, length, TEID
constexpr std::size_t kGtpOptional = 4;       // sequence, N-PDU number, next extension type
constexpr std::uint8_t kGtpGpdu = 0xff;       // G-PDU: a user packet follows
constexpr std::size_t kVxlanHeader = 8;       // flags, reserved, VNI, reserved
constexpr std::size_t kGeneveHeader = 8;      // version and option length, flags, protocol, VNI, reserved
constexpr std::size_t kGreHeader = 4;         // flags and version, protocol
constexpr std::uint16_t kGrePpp = 0x880b;     // enhanced GRE (version 1, PPTP) carries PPP
constexpr std::size_t kErspan2Header = 8;     // ERSPAN type II
constexpr std::size_t kErspan3Header = 12;    // ERSPAN type III, before its optional subheader
constexpr std::size_t kErspan3Subheader = 8;  // platform-specific, when the O bit is set
constexpr std::size_t kMplsEntry = 4;         // label, traffic class, bottom of stack, TTL
constexpr std::size_t kPwControlWord = 4;     // pseudowire control word before Ethernet
constexpr std::size_t kPppoeHeader = 6;       // version and type, code, session ID, length
constexpr std::size_t kNshFixed = 8;          // base header and service path header

// Enters a tunnel layer whose id (if any) is known: keeps the outermost IP
// header and tunnel, then clears the fields that describe the packet, which
// the inner layers set again. Past kMaxTunnelLayers nothing is entered, the
// fields keep the last layer, and the status says so.
bool enter_tunnel(Summary& s, Tunnel type, std::optional<std::uint32_t> id) noexcept {
    if (s.tunnel_layers >= kMaxTunnelLayers) {
        s.status = Status::too_deep;
        return false;
    }
    ++s.tunnel_layers;
    if (s.tunnel == Tunnel::none) {
        s.tunnel = type;
        s.has_tunnel_id = id.has_value();
        s.tunnel_id = id.value_or(0);
    }
    if (s.outer_network == Network::none && s.network != Network::none) {
        s.outer_network = s.network;
        s.outer_src = s.src;
        s.outer_dst = s.dst;
    }
    s.network = Network::none;
    s.ethertype = 0;
    s.ip_proto = 0;
    s.has_ports = false;
    s.fragment = false;
    s.arp = false;
    s.tcp_flags = 0;
    s.src_port = 0;
    s.dst_port = 0;
    s.src = Address{};
    s.dst = Address{};
    return true;
}

// A tunnel named by its number whose own header is cut.
void enter_truncated(Summary& s, Tunnel type) noexcept {
    if (enter_tunnel(s, type, std::nullopt)) s.status = Status::truncated;
}

// An IP packet by its version nibble; anything else is non-IP (GTP-U's
// non-IP PDU sessions, an MPLS payload that is neither).
void decode_inner_ip(Summary& s, ByteCursor cur) noexcept {
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
        default: s.status = Status::non_ip; return;
    }
}

std::uint32_t be24(std::span<const std::uint8_t> b, std::size_t at) noexcept {
    ByteCursor c{b};
    if (!c.skip(at)) return 0;
    const auto x = c.u8(), y = c.u8(), z = c.u8();
    return static_cast<std::uint32_t>(x.value_or(0)) << 16 | static_cast<std::uint32_t>(y.value_or(0)) << 8 |
           z.value_or(0);
}

// GTP-U (3GPP TS 29.281), cur at its header. Only a G-PDU (version 1,
// protocol type GTP) is a tunnel; echo, error indication and end marker
// messages stay plain UDP.
void decode_gtp_u(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kGtpHeader);
    if (!header) {
        enter_truncated(s, Tunnel::gtp);
        return;
    }
    ByteCursor h{*header};
    const std::uint8_t flags = h.u8().value_or(0);
    const std::uint8_t type = h.u8().value_or(0);
    const std::uint16_t length = h.be16().value_or(0);
    const std::uint32_t teid = h.be32().value_or(0);
    if ((flags >> 5) != 1 || (flags & 0x10u) == 0 || type != kGtpGpdu) return;
    if (!enter_tunnel(s, Tunnel::gtp, teid)) return;
    ByteCursor payload = limited(cur, length);
    if ((flags & 0x07u) != 0) {  // E, S or PN: sequence, N-PDU number and next extension type are there
        const auto optional = payload.take(kGtpOptional);
        if (!optional) {
            s.status = Status::truncated;
            return;
        }
        std::uint8_t next = (*optional)[3];
        // Extension headers: a length in 4-byte units (itself included),
        // the content, and the next type last. Each is at least 4 bytes.
        while (next != 0) {
            const auto units = payload.u8();
            if (!units) {
                s.status = Status::truncated;
                return;
            }
            if (*units == 0) {
                s.status = Status::malformed;
                return;
            }
            if (!payload.skip(std::size_t{*units} * 4 - 2)) {
                s.status = Status::truncated;
                return;
            }
            const auto following = payload.u8();
            if (!following) {
                s.status = Status::truncated;
                return;
            }
            next = *following;
        }
    }
    decode_inner_ip(s, payload);
}

// VXLAN (RFC 7348): the I flag says the VNI is valid; Ethernet follows.
void decode_vxlan(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kVxlanHeader);
    if (!header) {
        enter_truncated(s, Tunnel::vxlan);
        return;
    }
    if (((*header)[0] & 0x08u) == 0) return;
    if (!enter_tunnel(s, Tunnel::vxlan, be24(*header, 4))) return;
    decode_ethernet(s, cur);
}

// Geneve (RFC 8926): version 0, options, then the protocol its EtherType
// names (0x6558: Ethernet).
void decode_geneve(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kGeneveHeader);
    if (!header) {
        enter_truncated(s, Tunnel::geneve);
        return;
    }
    ByteCursor h{*header};
    const std::uint8_t first = h.u8().value_or(0);
    (void)h.skip(1);  // O and C flags
    const std::uint16_t protocol = h.be16().value_or(0);
    if ((first >> 6) != 0) return;
    if (!enter_tunnel(s, Tunnel::geneve, be24(*header, 4))) return;
    if (!cur.skip(std::size_t{first & 0x3fu} * 4)) {
        s.status = Status::truncated;
        return;
    }
    if (protocol == ethertype::transparent_ethernet)
        decode_ethernet(s, cur);
    else
        decode_ethertype_payload(s, cur, protocol);
}

// ERSPAN type II or III header (GRE protocol 0x88be with a sequence
// number, or 0x22eb), then the mirrored frame. The session ID is the
// tunnel's id.
void decode_erspan(Summary& s, ByteCursor cur, bool type3) noexcept {
    const auto header = cur.take(type3 ? kErspan3Header : kErspan2Header);
    if (!header) {
        enter_truncated(s, Tunnel::erspan);
        return;
    }
    ByteCursor h{*header};
    const std::uint16_t version_vlan = h.be16().value_or(0);
    const std::uint16_t session = h.be16().value_or(0) & 0x03ffu;
    if (!enter_tunnel(s, Tunnel::erspan, session)) return;
    if ((version_vlan >> 12) != (type3 ? 2u : 1u)) {
        s.status = Status::malformed;
        return;
    }
    if (type3) {
        const std::uint8_t b10 = (*header)[10], b11 = (*header)[11];
        if ((b11 & 0x01u) != 0 && !cur.skip(kErspan3Subheader)) {
            s.status = Status::truncated;
            return;
        }
        const unsigned frame_type = (b10 >> 2) & 0x1fu;
        if (frame_type == 2) {  // an IP packet
            decode_inner_ip(s, cur);
            return;
        }
        if (frame_type != 0) {  // not Ethernet
            s.status = Status::non_ip;
            return;
        }
    }
    decode_ethernet(s, cur);
}

}  // namespace

void decode_ip_in_ip(Summary& s, ByteCursor cur) noexcept {
    const bool v4 = s.ip_proto == ipproto::ipip;
    if (!enter_tunnel(s, Tunnel::ipip, std::nullopt)) return;
    s.ethertype = v4 ? ethertype::ipv4 : ethertype::ipv6;
    if (v4)
        decode_ipv4(s, cur);
    else
        decode_ipv6(s, cur);
}

// GRE (RFC 2784, 2890; RFC 1701's routing; version 1: PPTP's enhanced GRE).
void decode_gre(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kGreHeader);
    if (!header) {
        enter_truncated(s, Tunnel::gre);
        return;
    }
    ByteCursor h{*header};
    const std::uint16_t flags = h.be16().value_or(0);
    const std::uint16_t protocol = h.be16().value_or(0);
    const bool checksum = (flags & 0x8000u) != 0, routing = (flags & 0x4000u) != 0;
    const bool has_key = (flags & 0x2000u) != 0, has_sequence = (flags & 0x1000u) != 0;
    const unsigned version = flags & 0x7u;
    // The optional fields, in order: checksum and offset, key, sequence.
    ByteCursor options = cur;
    std::optional<std::uint32_t> key;
    bool cut = (checksum || routing) && !options.skip(4);
    if (!cut && has_key) {
        key = options.be32();
        cut = !key;
    }
    cut = cut || (has_sequence && !options.skip(4));
    if (version == 1 && !cut && (flags & 0x0080u) != 0) cut = !options.skip(4);  // acknowledgment number
    if (cut) {
        enter_truncated(
            s, protocol == ethertype::erspan_2 || protocol == ethertype::erspan_3 ? Tunnel::erspan : Tunnel::gre);
        return;
    }
    cur = options;
    if (version == 1) {  // PPTP: the key's low half is the call ID
        if (!enter_tunnel(s, Tunnel::gre, key ? std::optional<std::uint32_t>(*key & 0xffffu) : std::nullopt)) return;
        if (protocol != kGrePpp || !has_key) {
            s.status = Status::malformed;
            return;
        }
        decode_ppp(s, cur);
        return;
    }
    if (version != 0) {
        if (enter_tunnel(s, Tunnel::gre, key)) s.status = Status::malformed;
        return;
    }
    if (routing) {
        // Source route entries: family, offset, length, then length bytes;
        // the last has family 0 and length 0.
        for (;;) {
            const auto family = cur.be16();
            const auto offset = cur.u8();
            const auto length = cur.u8();
            if (!family || !offset || !length) {
                enter_truncated(s, Tunnel::gre);
                return;
            }
            if (*family == 0 && *length == 0) break;
            if (!cur.skip(*length)) {
                enter_truncated(s, Tunnel::gre);
                return;
            }
        }
    }
    switch (protocol) {
        case ethertype::erspan_2:
            if (has_sequence) {
                decode_erspan(s, cur, false);
            } else if (enter_tunnel(s, Tunnel::erspan, key)) {  // type I: the frame, no header
                decode_ethernet(s, cur);
            }
            return;
        case ethertype::erspan_3: decode_erspan(s, cur, true); return;
        case ethertype::transparent_ethernet:
            if (enter_tunnel(s, Tunnel::gre, key)) decode_ethernet(s, cur);
            return;
        default:
            if (enter_tunnel(s, Tunnel::gre, key)) decode_ethertype_payload(s, cur, protocol);
            return;
    }
}

void decode_udp_tunnel(Summary& s, ByteCursor cur) noexcept {
    Tunnel type = Tunnel::none;
    switch (s.dst_port) {
        case kGtpUPort: type = Tunnel::gtp; break;
        case kVxlanPort: type = Tunnel::vxlan; break;
        case kGenevePort: type = Tunnel::geneve; break;
        case kMplsUdpPort: type = Tunnel::mpls; break;
        default: return;
    }
    const auto udp = cur.take(kUdpHeader);
    if (!udp) {
        enter_truncated(s, type);
        return;
    }
    // The UDP length bounds the payload when it is sane.
    ByteCursor u{*udp};
    (void)u.skip(4);
    const std::uint16_t length = u.be16().value_or(0);
    if (length >= kUdpHeader) cur = limited(cur, length - kUdpHeader);
    switch (type) {
        case Tunnel::gtp: decode_gtp_u(s, cur); return;
        case Tunnel::vxlan: decode_vxlan(s, cur); return;
        case Tunnel::geneve: decode_geneve(s, cur); return;
        default: decode_mpls(s, cur); return;
    }
}

// An MPLS label stack (RFC 3032) to its bottom entry, then IPv4 or IPv6 by
// the first nibble, or (nibble 0) a pseudowire control word and Ethernet.
void decode_mpls(Summary& s, ByteCursor cur) noexcept {
    ByteCursor peek = cur;
    const auto top = peek.be32();
    if (!top) {
        enter_truncated(s, Tunnel::mpls);
        return;
    }
    if (!enter_tunnel(s, Tunnel::mpls, *top >> 12)) return;
    for (;;) {
        const auto entry = cur.take(kMplsEntry);
        if (!entry) {
            s.status = Status::truncated;
            return;
        }
        if (((*entry)[2] & 0x01u) != 0) break;  // bottom of stack
    }
    ByteCursor payload = cur;
    const auto first = payload.u8();
    if (!first) {
        s.status = Status::truncated;
        return;
    }
    if ((*first >> 4) == 0) {
        if (!cur.skip(kPwControlWord)) {
            s.status = Status::truncated;
            return;
        }
        decode_ethernet(s, cur);
        return;
    }
    decode_inner_ip(s, cur);
}

// PPPoE session stage (RFC 2516): version and type 0x11, code 0, then PPP
// within the header's length.
void decode_pppoe_session(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kPppoeHeader);
    if (!header) {
        enter_truncated(s, Tunnel::pppoe);
        return;
    }
    ByteCursor h{*header};
    const std::uint8_t version_type = h.u8().value_or(0);
    const std::uint8_t code = h.u8().value_or(0);
    const std::uint16_t session = h.be16().value_or(0);
    const std::uint16_t length = h.be16().value_or(0);
    if (!enter_tunnel(s, Tunnel::pppoe, session)) return;
    if (version_type != 0x11 || code != 0) {
        s.status = Status::malformed;
        return;
    }
    decode_ppp_protocol(s, limited(cur, length));
}

// NSH (RFC 8300): version 0, a length in 4-byte words covering the whole
// header, then what the next protocol field names.
void decode_nsh(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kNshFixed);
    if (!header) {
        enter_truncated(s, Tunnel::nsh);
        return;
    }
    const std::span<const std::uint8_t> b = *header;
    if (!enter_tunnel(s, Tunnel::nsh, be24(b, 4))) return;
    const std::size_t length = std::size_t{b[1] & 0x3fu} * 4;
    if ((b[0] >> 6) != 0 || length < kNshFixed) {
        s.status = Status::malformed;
        return;
    }
    if (!cur.skip(length - kNshFixed)) {
        s.status = Status::truncated;
        return;
    }
    switch (b[3]) {
        case 1:
            s.ethertype = ethertype::ipv4;
            decode_ipv4(s, cur);
            return;
        case 2:
            s.ethertype = ethertype::ipv6;
            decode_ipv6(s, cur);
            return;
        case 3: decode_ethernet(s, cur); return;
        case 4: decode_nsh(s, cur); return;
        case 5: decode_mpls(s, cur); return;
        default: s.status = Status::non_ip; return;
    }
}

}  // namespace capdb::decoding
