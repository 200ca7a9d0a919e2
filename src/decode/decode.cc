// Packet summary decoding: link layer → IPv4/IPv6 (+ IPv6 extension headers)
// → the first four bytes of the transport header.
//
// Every read of packet bytes goes through a ByteCursor over the captured
// bytes; nothing here allocates, throws, or looks past caplen.
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
#include "capdb/decode.h"

#include <algorithm>
#include <array>
#include <cstddef>

#include "capdb/cursor.h"

namespace capdb {
namespace {

namespace ethertype {
inline constexpr std::uint16_t ipv4 = 0x0800;
inline constexpr std::uint16_t arp = 0x0806;
inline constexpr std::uint16_t rarp = 0x8035;
inline constexpr std::uint16_t vlan = 0x8100;
inline constexpr std::uint16_t ipv6 = 0x86dd;
inline constexpr std::uint16_t mpls = 0x8847;
inline constexpr std::uint16_t pppoe_discovery = 0x8863;
inline constexpr std::uint16_t pppoe_session = 0x8864;
inline constexpr std::uint16_t eapol = 0x888e;
inline constexpr std::uint16_t qinq = 0x88a8;  // 802.1ad service tag
inline constexpr std::uint16_t lldp = 0x88cc;
inline constexpr std::uint16_t loopback = 0x9000;
inline constexpr std::uint16_t qinq_old = 0x9100;  // pre-standard double tag
// Values up to this are an 802.3 length field, not an EtherType.
inline constexpr std::uint16_t max_8023_length = 1500;
}  // namespace ethertype

namespace ipproto {
inline constexpr std::uint8_t hopopts = 0;
inline constexpr std::uint8_t tcp = 6;
inline constexpr std::uint8_t udp = 17;
inline constexpr std::uint8_t dccp = 33;
inline constexpr std::uint8_t routing = 43;
inline constexpr std::uint8_t fragment = 44;
inline constexpr std::uint8_t ah = 51;
inline constexpr std::uint8_t dstopts = 60;
inline constexpr std::uint8_t sctp = 132;
inline constexpr std::uint8_t udplite = 136;
}  // namespace ipproto

// Address families found in DLT_NULL / DLT_LOOP headers.
bool is_af_inet(std::uint32_t af) noexcept { return af == 2; }
bool is_af_inet6(std::uint32_t af) noexcept { return af == 10 || af == 24 || af == 28 || af == 30; }

constexpr std::size_t kEthernetHeader = 14;
constexpr std::size_t kVlanTag = 4;
constexpr std::uint8_t kMacLength = 6;  // ARP's hardware address length over Ethernet
constexpr std::size_t kSllHeader = 16;
constexpr std::size_t kSllProtocolOffset = 14;
constexpr std::size_t kSll2Header = 20;
constexpr std::size_t kNullHeader = 4;
constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kIpv6FragmentHeader = 8;
constexpr std::size_t kPortBytes = 4;

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

bool is_vlan_tag(std::uint16_t type) noexcept {
    return type == ethertype::vlan || type == ethertype::qinq || type == ethertype::qinq_old;
}

// A cursor over at most `length` of the bytes left in cur.
ByteCursor limited(const ByteCursor& cur, std::size_t length) noexcept {
    const auto rest = cur.rest();
    return ByteCursor{rest.first(std::min(rest.size(), length))};
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
}

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
    decode_ports(s, packet);
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
            default: decode_ports(s, payload); return;
        }
    }
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

// ARP or RARP over Ethernet for IPv4 (RFC 826: hardware type 1, protocol
// 0x0800, lengths 6 and 4): the sender and target protocol addresses become
// the row's src and dst, so that `host` finds them as BPF's does. Any other
// ARP, or one cut short, keeps no addresses.
void decode_arp_addresses(Summary& s, ByteCursor cur) noexcept {
    const auto htype = cur.be16(), ptype = cur.be16();
    const auto hlen = cur.u8(), plen = cur.u8();
    if (htype != 1 || ptype != ethertype::ipv4 || hlen != kMacLength || plen != 4 || !cur.skip(2 + kMacLength)) return;
    const auto spa = cur.take(4);
    if (!spa || !cur.skip(kMacLength)) return;
    const auto tpa = cur.take(4);
    if (!tpa) return;
    s.src = Address::from_v4(spa->data());
    s.dst = Address::from_v4(tpa->data());
    s.arp = true;
}

// cur is just past an EtherType (or SLL protocol) field whose value is `type`:
// walks VLAN tags, then decodes IP or reports non_ip.
void decode_ethertype_payload(Summary& s, ByteCursor cur, std::uint16_t type) noexcept {
    s.ethertype = type;
    while (is_vlan_tag(type)) {
        const auto tag = cur.take(kVlanTag);
        if (!tag) {
            s.status = Status::truncated;
            return;
        }
        ByteCursor t{*tag};
        (void)t.skip(2);  // TCI: priority, DEI, VLAN ID
        type = t.be16().value_or(0);
        s.ethertype = type;
    }
    switch (type) {
        case ethertype::ipv4: decode_ipv4(s, cur); return;
        case ethertype::ipv6: decode_ipv6(s, cur); return;
        case ethertype::arp:
        case ethertype::rarp:
            s.status = Status::non_ip;
            decode_arp_addresses(s, cur);
            return;
        default: s.status = Status::non_ip; return;
    }
}

void decode_ethernet(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kEthernetHeader);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor h{*header};
    (void)h.skip(12);  // destination and source MAC
    const std::uint16_t type = h.be16().value_or(0);
    if (type <= ethertype::max_8023_length) {  // 802.3 length: LLC follows
        s.ethertype = 0;
        s.status = Status::non_ip;
        return;
    }
    decode_ethertype_payload(s, cur, type);
}

void decode_sll(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kSllHeader);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor h{*header};
    (void)h.skip(kSllProtocolOffset);
    decode_ethertype_payload(s, cur, h.be16().value_or(0));
}

void decode_sll2(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kSll2Header);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor h{*header};
    decode_ethertype_payload(s, cur, h.be16().value_or(0));
}

// DLT_NULL (host byte order of the capturing machine: either is accepted)
// and DLT_LOOP (network byte order).
void decode_null(Summary& s, ByteCursor cur, bool either_order) noexcept {
    ByteCursor big = cur;
    ByteCursor little = cur;
    const auto af_big = big.be32();
    const auto af_little = little.le32();
    if (!af_big || !af_little || !cur.skip(kNullHeader)) {
        s.status = Status::truncated;
        return;
    }
    const auto family_is = [&](bool (*family)(std::uint32_t) noexcept) {
        return family(*af_big) || (either_order && family(*af_little));
    };
    if (family_is(is_af_inet)) {
        s.ethertype = ethertype::ipv4;
        decode_ipv4(s, cur);
    } else if (family_is(is_af_inet6)) {
        s.ethertype = ethertype::ipv6;
        decode_ipv6(s, cur);
    } else {
        s.status = Status::non_ip;  // ethertype stays 0: no EtherType equivalent
    }
}

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
        case dlt::linux_sll2: return true;
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
    }
    return "unknown";
}

Summary decode(std::uint32_t linktype, std::span<const std::uint8_t> frame) noexcept {
    Summary s;
    const ByteCursor cur{frame};
    switch (linktype) {
        case dlt::en10mb: decode_ethernet(s, cur); break;
        case dlt::linux_sll: decode_sll(s, cur); break;
        case dlt::linux_sll2: decode_sll2(s, cur); break;
        case dlt::raw:
        case dlt::raw_openbsd:
        case dlt::linktype_raw: decode_ip_by_version(s, cur); break;
        case dlt::ipv4:
            s.ethertype = ethertype::ipv4;
            decode_ipv4(s, cur);
            break;
        case dlt::ipv6:
            s.ethertype = ethertype::ipv6;
            decode_ipv6(s, cur);
            break;
        case dlt::null: decode_null(s, cur, true); break;
        case dlt::loop: decode_null(s, cur, false); break;
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
        case ethertype::loopback: return "Loopback";
        default: {
            std::string out = "ethertype 0x";
            append_hex16(out, type);
            return out;
        }
    }
}

}  // namespace capdb
