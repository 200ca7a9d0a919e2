// Packet summary decoding: the entry point, which picks the link layer
// (link.cc) that leads to IP (ip.cc) and through tunnels (tunnel.cc), and
// the names of link types, statuses, tunnels and EtherTypes.
#include "capdb/decode.h"

#include <string>

#include "decode/decode_layers.h"

namespace capdb {

namespace ethertype = decoding::ethertype;

namespace {

void append_hex16(std::string& out, std::uint16_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    for (int shift = 12; shift >= 0; shift -= 4) {
        out.push_back(kDigits[static_cast<std::size_t>((v >> shift) & 0xf)]);
    }
}

}  // namespace

bool link_type_supported(std::uint32_t linktype) noexcept {
    switch (linktype) {
        case dlt::null:
        case dlt::en10mb:
        case dlt::raw:
        case dlt::raw_openbsd:
        case dlt::linktype_raw:
        case dlt::loop:
        case dlt::linux_sll:
        case dlt::ipv4:
        case dlt::ipv6:
        case dlt::linux_sll2:
        case dlt::ppp:
        case dlt::ppp_serial:
        case dlt::c_hdlc:
        case dlt::ieee802_11:
        case dlt::ieee802_11_radio:
        case dlt::nflog: return true;
        default: return false;
    }
}

std::string link_type_name(std::uint32_t linktype) {
    switch (linktype) {
        case dlt::null: return "NULL";
        case dlt::en10mb: return "EN10MB";
        case dlt::raw:
        case dlt::raw_openbsd:
        case dlt::linktype_raw: return "RAW";
        case dlt::loop: return "LOOP";
        case dlt::linux_sll: return "LINUX_SLL";
        case dlt::ipv4: return "IPV4";
        case dlt::ipv6: return "IPV6";
        case dlt::linux_sll2: return "LINUX_SLL2";
        case dlt::ppp: return "PPP";
        case dlt::ppp_serial: return "PPP_SERIAL";
        case dlt::c_hdlc: return "C_HDLC";
        case dlt::ieee802_11: return "IEEE802_11";
        case dlt::ieee802_11_radio: return "IEEE802_11_RADIO";
        case dlt::nflog: return "NFLOG";
        default: return "DLT " + std::to_string(linktype);
    }
}

const char* status_name(Status s) noexcept {
    switch (s) {
        case Status::ok: return "ok";
        case Status::non_ip: return "non_ip";
        case Status::truncated: return "truncated";
        case Status::malformed: return "malformed";
        case Status::unsupported: return "unsupported";
        case Status::too_deep: return "too_deep";
    }
    return "unknown";
}

const char* tunnel_name(Tunnel t) noexcept {
    switch (t) {
        case Tunnel::none: return "";
        case Tunnel::gtp: return "gtp";
        case Tunnel::vxlan: return "vxlan";
        case Tunnel::geneve: return "geneve";
        case Tunnel::gre: return "gre";
        case Tunnel::erspan: return "erspan";
        case Tunnel::mpls: return "mpls";
        case Tunnel::pppoe: return "pppoe";
        case Tunnel::ipip: return "ipip";
        case Tunnel::nsh: return "nsh";
    }
    return "unknown";
}

Summary decode(std::uint32_t linktype, std::span<const std::uint8_t> frame) noexcept {
    Summary s;
    const ByteCursor cur{frame};
    switch (linktype) {
        case dlt::en10mb: decoding::decode_ethernet(s, cur); break;
        case dlt::linux_sll: decoding::decode_sll(s, cur); break;
        case dlt::linux_sll2: decoding::decode_sll2(s, cur); break;
        case dlt::raw:
        case dlt::raw_openbsd:
        case dlt::linktype_raw: decoding::decode_ip_by_version(s, cur); break;
        case dlt::ipv4:
            s.ethertype = ethertype::ipv4;
            decoding::decode_ipv4(s, cur);
            break;
        case dlt::ipv6:
            s.ethertype = ethertype::ipv6;
            decoding::decode_ipv6(s, cur);
            break;
        case dlt::null: decoding::decode_null(s, cur, true); break;
        case dlt::loop: decoding::decode_null(s, cur, false); break;
        case dlt::ppp: decoding::decode_ppp(s, cur); break;
        case dlt::ppp_serial: decoding::decode_ppp_serial(s, cur); break;
        case dlt::c_hdlc: decoding::decode_c_hdlc(s, cur); break;
        case dlt::ieee802_11: decoding::decode_ieee802_11(s, cur, false); break;
        case dlt::ieee802_11_radio: decoding::decode_radiotap(s, cur); break;
        case dlt::nflog: decoding::decode_nflog(s, cur); break;
        default: s.status = Status::unsupported; break;
    }
    return s;
}

std::string ethertype_name(std::uint16_t type) {
    switch (type) {
        case 0: return "LLC";
        case ethertype::ipv4: return "IPv4";
        case ethertype::arp: return "ARP";
        case ethertype::rarp: return "RARP";
        case ethertype::vlan: return "VLAN";
        case ethertype::ipv6: return "IPv6";
        case ethertype::mpls: return "MPLS";
        case ethertype::pppoe_discovery: return "PPPoE-D";
        case ethertype::pppoe_session: return "PPPoE-S";
        case ethertype::eapol: return "EAPOL";
        case ethertype::qinq: return "802.1ad";
        case ethertype::lldp: return "LLDP";
        case ethertype::macsec: return "MACsec";
        case ethertype::nsh: return "NSH";
        case ethertype::transparent_ethernet: return "TEB";
        case ethertype::loopback: return "Loopback";
        default: {
            std::string out = "ethertype 0x";
            append_hex16(out, type);
            return out;
        }
    }
}

}  // namespace capdb
