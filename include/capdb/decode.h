// Packet summary decoding. Pure: no libpcap, no SQLite, no allocation, never
// throws. A malformed frame is data: it yields a summary with a status.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "capdb/address.h"

namespace capdb {

// Link-layer types as libpcap's pcap_datalink() reports them (DLT_ values).
namespace dlt {
inline constexpr std::uint32_t null = 0;    // BSD loopback, host-order AF
inline constexpr std::uint32_t en10mb = 1;  // Ethernet
inline constexpr std::uint32_t ppp = 9;     // PPP, optionally with HDLC-like address and control
inline constexpr std::uint32_t raw = 12;    // raw IP (LINKTYPE_RAW 101 maps here)
inline constexpr std::uint32_t raw_openbsd = 14;
inline constexpr std::uint32_t linktype_raw = 101;
inline constexpr std::uint32_t loop = 108;        // OpenBSD loopback, network-order AF
inline constexpr std::uint32_t ppp_serial = 50;   // PPP in HDLC-like framing, or Cisco HDLC (LINKTYPE_PPP_HDLC)
inline constexpr std::uint32_t c_hdlc = 104;      // Cisco HDLC
inline constexpr std::uint32_t ieee802_11 = 105;  // Wi-Fi, 802.11 header first
inline constexpr std::uint32_t linux_sll = 113;
inline constexpr std::uint32_t ieee802_11_radio = 127;  // radiotap header, then 802.11
inline constexpr std::uint32_t ipv4 = 228;
inline constexpr std::uint32_t ipv6 = 229;
inline constexpr std::uint32_t nflog = 239;  // Linux netfilter log: TLVs, one holding the IP packet
inline constexpr std::uint32_t linux_sll2 = 276;
}  // namespace dlt

[[nodiscard]] bool link_type_supported(std::uint32_t linktype) noexcept;
// "EN10MB", "LINUX_SLL", ... or "DLT n" for an unknown one.
[[nodiscard]] std::string link_type_name(std::uint32_t linktype);

enum class Network : std::uint8_t { none = 0, ipv4 = 4, ipv6 = 6 };

// Decoding outcome. Stored in the database; values are stable.
enum class Status : std::uint8_t {
    ok = 0,           // everything expected was decoded
    non_ip = 1,       // link layer decoded; the payload is not IP (ARP, LLDP, ...)
    truncated = 2,    // captured bytes end inside a header we needed
    malformed = 3,    // a header field is impossible (bad version, IHL < 5, ...)
    unsupported = 4,  // link type capdb cannot decode; stored undecoded
    too_deep = 5,     // more nested tunnels than kMaxTunnelLayers: the fields hold the last layer decoded
};
[[nodiscard]] const char* status_name(Status s) noexcept;

// Tunnels the decoder enters. Stored in the database; values are stable.
enum class Tunnel : std::uint8_t {
    none = 0,
    gtp = 1,     // GTP-U G-PDU (UDP 2152); id: TEID
    vxlan = 2,   // UDP 4789; id: VNI
    geneve = 3,  // UDP 6081; id: VNI
    gre = 4,     // IP protocol 47; id: the key, when present
    erspan = 5,  // GRE carrying ERSPAN type I, II or III; id: the session ID (types II and III)
    mpls = 6,    // MPLS label stack (EtherType 0x8847/0x8848, UDP 6635); id: the top label
    pppoe = 7,   // PPPoE session (EtherType 0x8864); id: the session ID
    ipip = 8,    // IP in IP: IP protocol 4 or 41, either IP version outside; no id
    nsh = 9,     // Network Service Header (EtherType 0x894F); id: the service path identifier
};
inline constexpr std::uint8_t kMaxTunnelKind = 9;
// "gtp", "vxlan", ... ("" for none).
[[nodiscard]] const char* tunnel_name(Tunnel t) noexcept;

// Tunnel layers decode() enters; one more is Status::too_deep.
inline constexpr unsigned kMaxTunnelLayers = 4;

struct Summary {
    Network network = Network::none;
    Status status = Status::ok;
    // Link-layer protocol of the payload: the EtherType (after any VLAN tags),
    // or its equivalent for SLL/NULL/raw. 0 when unknown.
    std::uint16_t ethertype = 0;
    std::uint8_t ip_proto = 0;  // upper-layer protocol (after IPv6 extension headers); valid when network != none
    bool has_ports = false;     // TCP/UDP/SCTP/UDP-Lite ports decoded (first fragment only)
    bool fragment = false;      // IPv4/IPv6 fragment (first or later)
    bool arp = false;           // src/dst hold ARP's sender and target IPv4 addresses (network is none)
    std::uint16_t src_port = 0;
    std::uint16_t dst_port = 0;
    // TCP only (ip_proto 6 with ports): the header's flags byte (FIN 0x01,
    // SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80);
    // 0 when the capture ends before it.
    std::uint8_t tcp_flags = 0;
    Address src{};  // valid when network != none, or arp
    Address dst{};
    // Tunnels. The fields above describe the innermost layer decoded (its IP
    // header, or what the innermost link layer carries); these the way in.
    Tunnel tunnel = Tunnel::none;           // the outermost tunnel entered
    bool has_tunnel_id = false;             // tunnel_id is set (a GRE key is optional; IP in IP has none)
    std::uint8_t tunnel_layers = 0;         // tunnels entered (at most kMaxTunnelLayers)
    std::uint32_t tunnel_id = 0;            // the outermost tunnel's id (see Tunnel)
    Network outer_network = Network::none;  // the outermost IP header, when a tunnel led past it
    Address outer_src{};                    // valid when outer_network != none: the tunnel's endpoints
    Address outer_dst{};
};

// Decodes the frame captured with the given link type. frame holds the
// captured bytes only (caplen); nothing beyond it is ever read.
[[nodiscard]] Summary decode(std::uint32_t linktype, std::span<const std::uint8_t> frame) noexcept;

// Name of a non-IP payload for display: "ARP", "LLDP", "ethertype 0x88b5", ...
[[nodiscard]] std::string ethertype_name(std::uint16_t ethertype);

}  // namespace capdb
