// Link layers, up to the network protocol: Ethernet with VLAN tags, MACsec
// and Arista timestamp headers, Linux cooked capture (SLL, SLL2), BSD
// loopback (NULL, LOOP), PPP and Cisco HDLC, IEEE 802.11 with or without
// radiotap, and Linux NFLOG.
#include "decode/decode_layers.h"

namespace capdb::decoding {
namespace {

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
constexpr std::size_t kLlcHeader = 3;   // DSAP, SSAP, control
constexpr std::size_t kSnapHeader = 5;  // OUI, EtherType
constexpr std::uint8_t kSnapSap = 0xaa;
constexpr std::uint8_t kLlcUi = 0x03;
constexpr std::uint8_t kHdlcAllStations = 0xff;  // PPP in HDLC-like framing: address, then control 0x03
constexpr std::uint8_t kHdlcUi = 0x03;
constexpr std::uint8_t kCiscoUnicast = 0x0f;  // Cisco HDLC addresses
constexpr std::uint8_t kCiscoBroadcast = 0x8f;
constexpr std::uint16_t kPppIpv4 = 0x0021;
constexpr std::uint16_t kPppIpv6 = 0x0057;
constexpr std::size_t kWlanHeader = 24;     // frame control to sequence control
constexpr std::size_t kWlanAddress4 = 6;    // present when both ToDS and FromDS are set
constexpr std::size_t kWlanQos = 2;         // QoS data subtypes
constexpr std::size_t kWlanHtControl = 4;   // QoS data with the Order bit
constexpr std::size_t kAmsduSubframe = 14;  // DA, SA, length
constexpr std::size_t kRadiotapMin = 8;     // version, pad, length, first present word
constexpr std::size_t kNflogHeader = 4;     // family, version, resource id
constexpr std::size_t kNflogTlv = 4;        // length, type (the capturing host's byte order)
constexpr std::uint16_t kNflogPayload = 9;  // NFULA_PAYLOAD
constexpr std::size_t kMacsecSecTag = 6;    // TCI/AN, short length, packet number
constexpr std::size_t kMacsecSci = 8;

bool is_vlan_tag(std::uint16_t type) noexcept {
    return type == ethertype::vlan || type == ethertype::qinq || type == ethertype::qinq_old;
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

}  // namespace

// VLAN tags, MACsec SecTAGs (integrity only: the EtherType and payload are
// in the clear) and Arista's timestamp header sit between the MAC addresses
// and the EtherType of what they carry.
void decode_ethertype_payload(Summary& s, ByteCursor cur, std::uint16_t type) noexcept {
    s.ethertype = type;
    for (;;) {
        if (is_vlan_tag(type)) {
            const auto tag = cur.take(kVlanTag);
            if (!tag) {
                s.status = Status::truncated;
                return;
            }
            ByteCursor t{*tag};
            (void)t.skip(2);  // TCI: priority, DEI, VLAN ID
            type = t.be16().value_or(0);
        } else if (type == ethertype::macsec) {
            // SecTAG (IEEE 802.1AE): TCI/AN, short length, packet number,
            // then the SCI when the SC bit says so. E (encrypted) or C
            // (changed text) leaves nothing readable.
            const auto tci = cur.u8();
            if (!tci || !cur.skip(kMacsecSecTag - 1)) {
                s.status = Status::truncated;
                return;
            }
            if ((*tci & 0x80u) != 0) {  // version bit
                s.status = Status::malformed;
                return;
            }
            if ((*tci & 0x0cu) != 0) {
                s.status = Status::non_ip;
                return;
            }
            if ((*tci & 0x20u) != 0 && !cur.skip(kMacsecSci)) {
                s.status = Status::truncated;
                return;
            }
            const auto next = cur.be16();
            if (!next) {
                s.status = Status::truncated;
                return;
            }
            type = *next;
        } else if (type == ethertype::arista) {
            // Subtype 1 (timestamp), then a version whose low byte gives
            // the timestamp's size (0x10: 64 bits, 0x20: 48 bits).
            const auto subtype = cur.be16();
            const auto version = cur.be16();
            if (!subtype || !version) {
                s.status = Status::truncated;
                return;
            }
            const unsigned size = (*version & 0xffu) == 0x10 ? 8 : (*version & 0xffu) == 0x20 ? 6 : 0;
            if (*subtype != 1 || size == 0) {
                s.status = Status::non_ip;
                return;
            }
            if (!cur.skip(size)) {
                s.status = Status::truncated;
                return;
            }
            const auto next = cur.be16();
            if (!next) {
                s.status = Status::truncated;
                return;
            }
            type = *next;
        } else {
            break;
        }
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
        case ethertype::mpls:
        case ethertype::mpls_multicast: decode_mpls(s, cur); return;
        case ethertype::pppoe_session: decode_pppoe_session(s, cur); return;
        case ethertype::nsh: decode_nsh(s, cur); return;
        default: s.status = Status::non_ip; return;
    }
}

namespace {

// The EtherType of an address family (NULL, LOOP, NFLOG headers), read in
// either of two byte orders (the same value twice for one order): IPv4 or
// IPv6, else 0 (not IP).
std::uint16_t ethertype_of_family(std::uint32_t af, std::uint32_t af_other_order) noexcept {
    if (is_af_inet(af) || is_af_inet(af_other_order)) return ethertype::ipv4;
    if (is_af_inet6(af) || is_af_inet6(af_other_order)) return ethertype::ipv6;
    return 0;
}

// 802.2 LLC, then (for SNAP with any OUI) an EtherType: how 802.11 carries
// IP. Other LLC payloads (spanning tree, ...) are non-IP with EtherType 0.
void decode_llc(Summary& s, ByteCursor cur) noexcept {
    const auto llc = cur.take(kLlcHeader);
    if (!llc) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor l{*llc};
    const auto dsap = l.u8(), ssap = l.u8(), control = l.u8();
    if (dsap != kSnapSap || ssap != kSnapSap || control != kLlcUi) {
        s.status = Status::non_ip;
        return;
    }
    const auto snap = cur.take(kSnapHeader);
    if (!snap) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor h{*snap};
    (void)h.skip(3);  // OUI
    decode_ethertype_payload(s, cur, h.be16().value_or(0));
}

}  // namespace

// The network protocol a PPP protocol number names (RFC 1661; 1 byte when
// its low bit is set: protocol-field compression).
void decode_ppp_protocol(Summary& s, ByteCursor cur) noexcept {
    const auto first = cur.u8();
    if (!first) {
        s.status = Status::truncated;
        return;
    }
    std::uint16_t protocol = *first;
    if ((*first & 1) == 0) {
        const auto second = cur.u8();
        if (!second) {
            s.status = Status::truncated;
            return;
        }
        protocol = static_cast<std::uint16_t>(protocol << 8 | *second);
    }
    // LCP, IPCP, CHAP, ...: non-IP, no EtherType.
    const std::uint16_t type = protocol == kPppIpv4 ? ethertype::ipv4 : protocol == kPppIpv6 ? ethertype::ipv6 : 0;
    decode_ethertype_payload(s, cur, type);
}

namespace {

// A little-endian field of a radiotap header.
std::uint32_t le32_at(std::span<const std::uint8_t> b, std::size_t at) noexcept {
    ByteCursor c{b};
    if (!c.skip(at)) return 0;
    return c.le32().value_or(0);
}

}  // namespace

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
    // Another family is non-IP, with no EtherType equivalent (0).
    decode_ethertype_payload(s, cur, ethertype_of_family(*af_big, either_order ? *af_little : *af_big));
}

// RFC 1661's PPP, with the HDLC-like address and control bytes (RFC 1662)
// when the capture kept them.
// (0xff is no protocol number's first byte: it is the address field.)
void decode_ppp(Summary& s, ByteCursor cur) noexcept {
    ByteCursor peek = cur;
    if (peek.u8() == kHdlcAllStations) {
        const auto control = peek.u8();
        if (!control) {
            s.status = Status::truncated;
            return;
        }
        if (*control != kHdlcUi) {
            s.status = Status::malformed;
            return;
        }
        cur = peek;
    }
    decode_ppp_protocol(s, cur);
}

// PPP in HDLC-like framing, or Cisco HDLC (both use this link type).
void decode_ppp_serial(Summary& s, ByteCursor cur) noexcept {
    ByteCursor peek = cur;
    const auto address = peek.u8();
    if (!address) {
        s.status = Status::truncated;
        return;
    }
    if (*address == kCiscoUnicast || *address == kCiscoBroadcast) {
        decode_c_hdlc(s, cur);
        return;
    }
    const auto control = peek.u8();
    if (!control) {
        s.status = Status::truncated;
        return;
    }
    if (*address != kHdlcAllStations || *control != kHdlcUi) {
        s.status = Status::malformed;
        return;
    }
    decode_ppp_protocol(s, peek);
}

// Cisco HDLC: address, control, then an EtherType.
void decode_c_hdlc(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(4);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor h{*header};
    (void)h.skip(2);  // address, control
    decode_ethertype_payload(s, cur, h.be16().value_or(0));
}

// IEEE 802.11: data frames (not protected, not null, first fragments)
// through LLC/SNAP to their EtherType; management, control and other
// frames, encrypted payloads and later fragments are non-IP with EtherType 0.
void decode_ieee802_11(Summary& s, ByteCursor cur, bool data_pad) noexcept {
    ByteCursor h = cur;
    const auto fc0 = h.u8(), fc1 = h.u8();
    if (!fc0 || !fc1) {
        s.status = Status::truncated;
        return;
    }
    const unsigned type = (*fc0 >> 2) & 3u;
    const unsigned subtype = *fc0 >> 4;
    const bool to_ds = (*fc1 & 0x01u) != 0, from_ds = (*fc1 & 0x02u) != 0;
    const bool is_protected = (*fc1 & 0x40u) != 0, order = (*fc1 & 0x80u) != 0;
    if (type != 2) {  // management, control, extension
        s.status = Status::non_ip;
        return;
    }
    const bool qos = (subtype & 0x8u) != 0;
    std::size_t size = kWlanHeader + (to_ds && from_ds ? kWlanAddress4 : 0);
    const std::size_t qos_at = size;
    if (qos) size += kWlanQos + (order ? kWlanHtControl : 0);
    if (data_pad) size = (size + 3) & ~std::size_t{3};
    const auto header = cur.take(size);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    ByteCursor fields{*header};
    (void)fields.skip(kWlanHeader - 2);
    const std::uint16_t sequence = fields.le16().value_or(0);
    bool amsdu = false;
    if (qos) {
        ByteCursor q{*header};
        (void)q.skip(qos_at);
        amsdu = (q.u8().value_or(0) & 0x80u) != 0;
    }
    // No data (null function subtypes), an encrypted body, or a fragment
    // after the first: nothing readable to decode.
    if ((subtype & 0x4u) != 0 || is_protected || (sequence & 0x0fu) != 0) {
        s.status = Status::non_ip;
        return;
    }
    if (amsdu && !cur.skip(kAmsduSubframe)) {  // the first A-MSDU subframe's header
        s.status = Status::truncated;
        return;
    }
    decode_llc(s, cur);
}

// Radiotap: a little-endian header of its own length, whose flags field
// (present bit 1, after the 8-byte-aligned TSFT when present) may say that
// the 802.11 header is padded.
void decode_radiotap(Summary& s, ByteCursor cur) noexcept {
    ByteCursor h = cur;
    const auto version = h.u8();
    (void)h.skip(1);  // pad
    const auto length = h.le16();
    if (!version || !length) {
        s.status = Status::truncated;
        return;
    }
    if (*version != 0 || *length < kRadiotapMin) {
        s.status = Status::malformed;
        return;
    }
    const auto header = cur.take(*length);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    const std::uint32_t present = le32_at(*header, 4);
    // The present words: each with bit 31 set has another after it.
    std::size_t at = 4;
    while (le32_at(*header, at) & 0x80000000u) {
        at += 4;
        if (at + 4 > header->size()) {
            s.status = Status::malformed;
            return;
        }
    }
    at += 4;  // the fields start after the last present word
    bool data_pad = false;
    if (present & 0x2u) {                                           // flags
        if (present & 0x1u) at = ((at + 7) & ~std::size_t{7}) + 8;  // TSFT: 8 bytes, 8-aligned
        ByteCursor f{*header};
        if (!f.skip(at)) {
            s.status = Status::malformed;
            return;
        }
        data_pad = (f.u8().value_or(0) & 0x20u) != 0;
    }
    decode_ieee802_11(s, cur, data_pad);
}

// NFLOG: a 4-byte header (the address family first), then TLVs whose length
// (header included) and type are in the capturing host's byte order, each
// padded to 4 bytes; NFULA_PAYLOAD holds the packet from its IP header.
// The byte order is the one in which the first TLV's length fits.
void decode_nflog(Summary& s, ByteCursor cur) noexcept {
    const auto header = cur.take(kNflogHeader);
    if (!header) {
        s.status = Status::truncated;
        return;
    }
    const std::uint8_t family = (*header)[0];
    // Little-endian (nearly every Linux host) unless only big-endian fits.
    bool little = true;
    {
        ByteCursor le = cur, be = cur;
        const auto fits = [&](std::optional<std::uint16_t> n) { return n && *n >= kNflogTlv && *n <= cur.remaining(); };
        little = fits(le.le16()) || !fits(be.be16());
    }
    for (;;) {
        ByteCursor tlv = cur;
        const auto length = little ? tlv.le16() : tlv.be16();
        const auto type = little ? tlv.le16() : tlv.be16();
        if (!length || !type) {
            s.status = Status::truncated;  // no payload TLV in what was captured
            return;
        }
        if (*length < kNflogTlv) {
            s.status = Status::malformed;
            return;
        }
        if (*type == kNflogPayload) {
            decode_ethertype_payload(s, limited(tlv, *length - kNflogTlv), ethertype_of_family(family, family));
            return;
        }
        if (!cur.skip((std::size_t{*length} + 3) & ~std::size_t{3})) {
            s.status = Status::truncated;
            return;
        }
    }
}

}  // namespace capdb::decoding
