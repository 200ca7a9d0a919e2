// The decoder's layers, shared by its translation units: link.cc (link
// layers up to the network protocol), ip.cc (IPv4, IPv6 and the transport
// ports), tunnel.cc (the encapsulations that lead back to a link layer or
// to IP) and decode.cc (the entry point and names). Internal: not part of
// the library's API.
//
// Every read of packet bytes goes through a ByteCursor over the captured
// bytes; nothing here allocates, throws, or looks past caplen.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "capdb/cursor.h"
#include "capdb/decode.h"

namespace capdb::decoding {

namespace ethertype {
inline constexpr std::uint16_t ipv4 = 0x0800;
inline constexpr std::uint16_t arp = 0x0806;
inline constexpr std::uint16_t rarp = 0x8035;
inline constexpr std::uint16_t vlan = 0x8100;
inline constexpr std::uint16_t ipv6 = 0x86dd;
inline constexpr std::uint16_t erspan_3 = 0x22eb;
inline constexpr std::uint16_t transparent_ethernet = 0x6558;  // GRE, Geneve: an Ethernet frame follows
inline constexpr std::uint16_t mpls = 0x8847;
inline constexpr std::uint16_t mpls_multicast = 0x8848;
inline constexpr std::uint16_t pppoe_discovery = 0x8863;
inline constexpr std::uint16_t pppoe_session = 0x8864;
inline constexpr std::uint16_t eapol = 0x888e;
inline constexpr std::uint16_t qinq = 0x88a8;      // 802.1ad service tag
inline constexpr std::uint16_t erspan_2 = 0x88be;  // also type I (GRE without a sequence number)
inline constexpr std::uint16_t macsec = 0x88e5;
inline constexpr std::uint16_t nsh = 0x894f;
inline constexpr std::uint16_t arista = 0xd28b;  // Arista's vendor EtherType (timestamp header)
inline constexpr std::uint16_t lldp = 0x88cc;
inline constexpr std::uint16_t loopback = 0x9000;
inline constexpr std::uint16_t qinq_old = 0x9100;  // pre-standard double tag
// Values up to this are an 802.3 length field, not an EtherType.
inline constexpr std::uint16_t max_8023_length = 1500;
}  // namespace ethertype

namespace ipproto {
inline constexpr std::uint8_t hopopts = 0;
inline constexpr std::uint8_t ipip = 4;
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t dccp = 33;
inline constexpr std::uint8_t ipv6 = 41;
inline constexpr std::uint8_t routing = 43;
inline constexpr std::uint8_t fragment = 44;
inline constexpr std::uint8_t gre = 47;
inline constexpr std::uint8_t ah = 51;
inline constexpr std::uint8_t dstopts = 60;
inline constexpr std::uint8_t sctp = 132;
inline constexpr std::uint8_t udplite = 136;
}  // namespace ipproto

// A cursor over at most `length` of the bytes left in cur.
inline ByteCursor limited(const ByteCursor& cur, std::size_t length) noexcept {
    const auto rest = cur.rest();
    return ByteCursor{rest.first(std::min(rest.size(), length))};
}

// cur is at the IPv4 header, the IPv6 header, or an IP header of either
// version (raw IP link types).
void decode_ipv4(Summary& s, ByteCursor cur) noexcept;
void decode_ipv6(Summary& s, ByteCursor cur) noexcept;
void decode_ip_by_version(Summary& s, ByteCursor cur) noexcept;
// cur is at an IP packet's payload (transport header), s.ip_proto set:
// the ports, or a tunnel (IP in IP, GRE, a UDP port of a tunnel).
void decode_transport(Summary& s, ByteCursor cur) noexcept;

// cur is just past an EtherType (or an equivalent protocol field) whose
// value is `type`: VLAN tags, MACsec and Arista headers, then IP, ARP, MPLS,
// PPPoE or NSH, or non_ip.
void decode_ethertype_payload(Summary& s, ByteCursor cur, std::uint16_t type) noexcept;

// The link layers (cur at the frame's first byte).
void decode_ethernet(Summary& s, ByteCursor cur) noexcept;
void decode_sll(Summary& s, ByteCursor cur) noexcept;
void decode_sll2(Summary& s, ByteCursor cur) noexcept;
// DLT_NULL (either byte order when either_order) and DLT_LOOP.
void decode_null(Summary& s, ByteCursor cur, bool either_order) noexcept;
// PPP (DLT_PPP), PPP in HDLC-like or Cisco HDLC framing (DLT_PPP_SERIAL),
// Cisco HDLC (DLT_C_HDLC).
void decode_ppp(Summary& s, ByteCursor cur) noexcept;
void decode_ppp_serial(Summary& s, ByteCursor cur) noexcept;
void decode_c_hdlc(Summary& s, ByteCursor cur) noexcept;
// IEEE 802.11 (data_pad: the header is padded to 4 bytes, as radiotap's
// flags may say) and radiotap before it.
void decode_ieee802_11(Summary& s, ByteCursor cur, bool data_pad) noexcept;
void decode_radiotap(Summary& s, ByteCursor cur) noexcept;
// Linux NFLOG: the IP packet in its payload TLV.
void decode_nflog(Summary& s, ByteCursor cur) noexcept;

// Tunnels (tunnel.cc). Each enters its layer through enter_tunnel, which
// keeps the outermost IP header and tunnel and counts the layers.
// IP in IP (IP protocols 4 and 41): cur at the inner header.
void decode_ip_in_ip(Summary& s, ByteCursor cur) noexcept;
// GRE (IP protocol 47): cur at the GRE header.
void decode_gre(Summary& s, ByteCursor cur) noexcept;
// cur at a UDP header whose ports s holds: when a port names a tunnel
// (destination first) and its header is valid, the tunnel; a cut header is
// truncated; anything else leaves s as plain UDP.
void decode_udp_tunnel(Summary& s, ByteCursor cur) noexcept;
// MPLS label stack, PPPoE session, NSH: cur past the EtherType.
void decode_mpls(Summary& s, ByteCursor cur) noexcept;
void decode_pppoe_session(Summary& s, ByteCursor cur) noexcept;
void decode_nsh(Summary& s, ByteCursor cur) noexcept;
// The PPP protocol field, then IP (PPP links, PPPoE).
void decode_ppp_protocol(Summary& s, ByteCursor cur) noexcept;

}  // namespace capdb::decoding
