#!/usr/bin/env python3
"""Generate capdb's synthetic test captures.

Deterministic: running it twice writes byte-identical files. It uses only the
Python standard library (struct) and writes pcap / pcapng directly, so no
capture tool is needed to regenerate the files. The generated files are
committed; after changing this script, run it and review the result with
tshark (see README.md):

    python3 testdata/make_testdata.py            # writes next to this script
    python3 testdata/make_testdata.py --out DIR  # writes elsewhere
    python3 testdata/make_testdata.py --check    # verify committed files match

lo_real.pcap, any_real.pcap and any_real_sll.pcap are real tcpdump captures and
are NOT produced here (README.md says how they were made).

All addresses are documentation ranges (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32) or link-local / multicast ones.
"""

import argparse
import ipaddress
import os
import struct
import sys

# --------------------------------------------------------------------------
# Checksums

def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# --------------------------------------------------------------------------
# Addresses

def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def pseudo_header(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


# --------------------------------------------------------------------------
# Transport layers. src/dst are the packed IP addresses used in the pseudo
# header (for an IPv6 routing header: the final destination).

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", window=65535, options=b""):
    assert len(options) % 4 == 0
    off = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0) + options
    seg = hdr + payload
    c = inet_checksum(pseudo_header(src, dst, 6, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = inet_checksum(pseudo_header(src, dst, 17, length) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp(type_, code, rest: bytes) -> bytes:
    msg = struct.pack("!BBH", type_, code, 0) + rest
    return msg[:2] + struct.pack("!H", inet_checksum(msg)) + msg[4:]


def icmp_echo(request: bool, ident: int, seq: int, payload: bytes) -> bytes:
    return icmp(8 if request else 0, 0, struct.pack("!HH", ident, seq) + payload)


def icmp6(src, dst, type_, code, body: bytes) -> bytes:
    msg = struct.pack("!BBH", type_, code, 0) + body
    c = inet_checksum(pseudo_header(src, dst, 58, len(msg)) + msg)
    return msg[:2] + struct.pack("!H", c) + msg[4:]


def sctp_init(sport, dport):
    # SCTP common header + INIT chunk; CRC32c checksum.
    init = struct.pack("!IIHHI", 0x11223344, 65535, 10, 10, 0x01020304)
    chunk = struct.pack("!BBH", 1, 0, 4 + len(init)) + init
    pkt = struct.pack("!HHII", sport, dport, 0, 0) + chunk
    c = crc32c(pkt)
    return pkt[:8] + struct.pack("<I", c) + pkt[12:]


def dns_name(name: str) -> bytes:
    out = b""
    for label in name.split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(ident: int, name: str) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", 1, 1)


def dns_answer_a(ident: int, name: str, addr: str) -> bytes:
    q = dns_name(name) + struct.pack("!HH", 1, 1)
    a = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + ip(addr)
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + q + a


# --------------------------------------------------------------------------
# Network layers

def ipv4(src, dst, proto, payload, ident=0x1000, ttl=64, df=False, mf=False, frag_off=0,
         options=b"", tos=0, total_len=None, ihl=None, version=4):
    """An IPv4 packet; src/dst are text. frag_off is in 8-byte units."""
    assert len(options) % 4 == 0
    if ihl is None:
        ihl = 5 + len(options) // 4
    if total_len is None:
        total_len = 20 + len(options) + len(payload)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | frag_off
    hdr = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, tos, total_len, ident, flags,
                      ttl, proto, 0, ip(src), ip(dst)) + options
    c = inet_checksum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def ipv6(src, dst, nxt, payload, hlim=64, plen=None, flow=0, version=6):
    if plen is None:
        plen = len(payload)
    return struct.pack("!IHBB16s16s", (version << 28) | flow, plen, nxt, hlim, ip(src), ip(dst)) + payload


# IPv6 extension headers: each returns the header bytes, given its next header.
def ext_hbh(nxt, options=b"\x05\x02\x00\x00\x01\x00"):  # Router Alert + PadN(0)
    body = bytes([nxt, 0]) + options
    assert len(body) % 8 == 0
    return bytes([nxt, len(body) // 8 - 1]) + options


def ext_dstopts(nxt, options=b"\x01\x04\x00\x00\x00\x00"):  # PadN(4)
    body = bytes([nxt, 0]) + options
    assert len(body) % 8 == 0
    return bytes([nxt, len(body) // 8 - 1]) + options


def ext_srh(nxt, segments, segments_left):
    """Segment Routing Header (routing type 4). segments[0] is the last segment."""
    hdr_ext_len = 2 * len(segments)
    return (struct.pack("!BBBBBBH", nxt, hdr_ext_len, 4, segments_left, len(segments) - 1, 0, 0)
            + b"".join(ip(s) for s in segments))


def ext_frag(nxt, offset_units, more, ident):
    return struct.pack("!BBHI", nxt, 0, (offset_units << 3) | (1 if more else 0), ident)


# --------------------------------------------------------------------------
# Link layers

MAC_A = mac("00:00:5e:00:53:01")  # documentation MACs (RFC 7042)
MAC_B = mac("00:00:5e:00:53:02")
MAC_C = mac("00:00:5e:00:53:03")
BCAST = mac("ff:ff:ff:ff:ff:ff")


def eth(dst, src, ethertype, payload, tags=(), pad=True):
    """Ethernet II frame (no FCS). tags: sequence of (tpid, vid) outermost first."""
    out = dst + src
    for tpid, vid in tags:
        out += struct.pack("!HH", tpid, vid & 0x0FFF)
    out += struct.pack("!H", ethertype) + payload
    if pad and len(out) < 60:
        out += b"\0" * (60 - len(out))
    return out


def eth_mcast6(group: str) -> bytes:
    return b"\x33\x33" + ip(group)[12:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ip(spa), tha, ip(tpa))


def lldp_frame(src):
    def tlv(t, value):
        return struct.pack("!H", (t << 9) | len(value)) + value
    body = (tlv(1, b"\x04" + src)            # chassis ID: MAC address
            + tlv(2, b"\x05" + b"eth0")      # port ID: interface name
            + tlv(3, struct.pack("!H", 120)) # TTL
            + tlv(5, b"capdb-test")          # system name
            + tlv(0, b""))                   # end of LLDPDU
    return eth(mac("01:80:c2:00:00:0e"), src, 0x88CC, body)


def stp_frame(src):
    # IEEE 802.3 frame (length field, not an EtherType) with LLC + STP config BPDU.
    bpdu = (struct.pack("!HBB", 0, 0, 0) + b"\x00" + struct.pack("!H", 0x8000) + src
            + struct.pack("!I", 0) + struct.pack("!H", 0x8000) + src
            + struct.pack("!HHHHH", 0x8001, 0, 20 * 256, 2 * 256, 15 * 256))
    llc = b"\x42\x42\x03" + bpdu
    return eth(mac("01:80:c2:00:00:00"), src, len(llc), llc)


def sll(pkttype, arphrd, addr, proto, payload):
    return struct.pack("!HHH8sH", pkttype, arphrd, len(addr), addr.ljust(8, b"\0"), proto) + payload


def sll2(proto, ifindex, arphrd, pkttype, addr, payload):
    return struct.pack("!HHIHBB8s", proto, 0, ifindex, arphrd, pkttype, len(addr),
                       addr.ljust(8, b"\0")) + payload


# --------------------------------------------------------------------------
# File writers. A record is (ts_ns, data) or (ts_ns, data, wirelen).

def pcap_bytes(linktype, records, nsec=False, big_endian=False, snaplen=262144):
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nsec else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for rec in records:
        ts, data = rec[0], rec[1]
        wirelen = rec[2] if len(rec) > 2 else len(data)
        sec, frac = divmod(ts, 10**9)
        if not nsec:
            assert frac % 1000 == 0, "microsecond file with a nanosecond timestamp"
            frac //= 1000
        out += struct.pack(e + "IIII", sec, frac, len(data), wirelen) + data
    return out


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def ng_options(opts):
    """opts: list of (code, value bytes). Adds opt_endofopt when non-empty."""
    if not opts:
        return b""
    out = b""
    for code, value in opts:
        out += struct.pack("<HH", code, len(value)) + _pad4(value)
    return out + struct.pack("<HH", 0, 0)


def ng_block(btype, body):
    body = _pad4(body)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def ng_shb(opts):
    return ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + ng_options(opts))


def ng_idb(linktype, snaplen, opts):
    return ng_block(1, struct.pack("<HHI", linktype, 0, snaplen) + ng_options(opts))


def ng_epb(iface, ts_units, data, wirelen=None, opts=()):
    if wirelen is None:
        wirelen = len(data)
    body = struct.pack("<IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), wirelen)
    return ng_block(6, body + _pad4(data) + ng_options(list(opts)))


def ng_spb(data, wirelen=None):
    if wirelen is None:
        wirelen = len(data)
    return ng_block(3, struct.pack("<I", wirelen) + _pad4(data))


def ng_nrb(v4_records):
    body = b""
    for addr, names in v4_records:
        value = ip(addr) + b"".join(n.encode() + b"\0" for n in names)
        body += struct.pack("<HH", 1, len(value)) + _pad4(value)
    body += struct.pack("<HH", 0, 0)
    return ng_block(4, body)


def ng_isb(iface, ts_units, opts):
    return ng_block(5, struct.pack("<III", iface, ts_units >> 32, ts_units & 0xFFFFFFFF) + ng_options(opts))


# --------------------------------------------------------------------------
# Timestamps

SEC = 10**9
MS = 10**6
US = 10**3


# --------------------------------------------------------------------------
# The captures. Each function returns the file's bytes.

def make_eth_ipv4():
    """Ethernet: ARP, TCP handshake + HTTP-ish data + close, DNS over UDP,
    ICMP echo, an ICMP port-unreachable quoting a UDP packet, LLDP, an
    IEEE 802.3/LLC (STP) frame and a local-experimental EtherType 0x88b5."""
    t = 1490492402 * SEC  # 2017-03-26T01:40:02Z
    A, B = "192.0.2.1", "192.0.2.2"
    a, b = ip(A), ip(B)
    recs = []

    def add(dt_us, frame):
        recs.append((t + dt_us * US, frame))

    add(0, eth(BCAST, MAC_A, 0x0806, arp(1, MAC_A, A, b"\0" * 6, B)))
    add(150, eth(MAC_A, MAC_B, 0x0806, arp(2, MAC_B, B, MAC_A, A)))
    mss = b"\x02\x04\x05\xb4\x01\x03\x03\x07"  # MSS 1460, NOP, window scale 7
    c_isn, s_isn = 1000, 5000
    add(1000, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 49152, 80, c_isn, 0, TCP_SYN, options=mss), ident=1, df=True)))
    add(1200, eth(MAC_A, MAC_B, 0x0800, ipv4(B, A, 6, tcp(b, a, 80, 49152, s_isn, c_isn + 1, TCP_SYN | TCP_ACK, options=mss), ident=0, df=True)))
    add(1300, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 49152, 80, c_isn + 1, s_isn + 1, TCP_ACK), ident=2, df=True)))
    req = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
    add(1400, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 49152, 80, c_isn + 1, s_isn + 1, TCP_PSH | TCP_ACK, req), ident=3, df=True)))
    add(1600, eth(MAC_A, MAC_B, 0x0800, ipv4(B, A, 6, tcp(b, a, 80, 49152, s_isn + 1, c_isn + 1 + len(req), TCP_ACK), ident=1, df=True)))
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n"
    add(2100, eth(MAC_A, MAC_B, 0x0800, ipv4(B, A, 6, tcp(b, a, 80, 49152, s_isn + 1, c_isn + 1 + len(req), TCP_PSH | TCP_ACK, resp), ident=2, df=True)))
    add(2200, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 49152, 80, c_isn + 1 + len(req), s_isn + 1 + len(resp), TCP_ACK), ident=4, df=True)))
    add(3000, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 49152, 80, c_isn + 1 + len(req), s_isn + 1 + len(resp), TCP_FIN | TCP_ACK), ident=5, df=True)))
    add(3100, eth(MAC_A, MAC_B, 0x0800, ipv4(B, A, 6, tcp(b, a, 80, 49152, s_isn + 1 + len(resp), c_isn + 2 + len(req), TCP_FIN | TCP_ACK), ident=3, df=True)))
    add(3200, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 49152, 80, c_isn + 2 + len(req), s_isn + 2 + len(resp), TCP_ACK), ident=6, df=True)))
    # DNS over UDP to a resolver on another network (via the router MAC_C).
    R = "198.51.100.53"
    add(500_000, eth(MAC_C, MAC_A, 0x0800, ipv4(A, R, 17, udp(a, ip(R), 53000, 53, dns_query(0x1234, "www.example.com")), ident=7)))
    add(512_345, eth(MAC_A, MAC_C, 0x0800, ipv4(R, A, 17, udp(ip(R), a, 53, 53000, dns_answer_a(0x1234, "www.example.com", "203.0.113.80")), ident=0x4321, ttl=57)))
    # ICMP echo to a remote host.
    P = "203.0.113.5"
    payload = bytes(range(0x10, 0x10 + 48))
    add(1_000_000, eth(MAC_C, MAC_A, 0x0800, ipv4(A, P, 1, icmp_echo(True, 0x77, 1, payload), ident=8, df=True)))
    add(1_020_000, eth(MAC_A, MAC_C, 0x0800, ipv4(P, A, 1, icmp_echo(False, 0x77, 1, payload), ident=0x9999, ttl=52)))
    # ICMP port unreachable quoting a UDP datagram: capdb must report the
    # outer ICMP packet (proto 1, no ports), not the quoted UDP header.
    quoted = ipv4(A, B, 17, udp(a, b, 40000, 33434, b"probe"), ident=9)
    add(1_500_000, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(a, b, 40000, 33434, b"probe"), ident=9)))
    add(1_500_300, eth(MAC_A, MAC_B, 0x0800, ipv4(B, A, 1, icmp(3, 3, b"\0\0\0\0" + quoted), ident=4, tos=0xC0)))
    # Non-IP frames.
    add(2_000_000, lldp_frame(MAC_B))
    add(2_100_000, stp_frame(MAC_C))
    add(2_200_000, eth(BCAST, MAC_A, 0x88B5, b"capdb local experimental ethertype"))
    return pcap_bytes(1, recs)


def make_eth_vlan():
    """VLAN-tagged Ethernet: single 802.1Q, QinQ (802.1ad outer + 802.1Q
    inner), triple tags; IPv4 and IPv6 inside; ARP inside a tag."""
    t = 1500000000 * SEC  # 2017-07-14T02:40:00Z
    A4, B4 = "192.0.2.11", "192.0.2.12"
    A6, B6 = "2001:db8:10::11", "2001:db8:10::12"
    Q, AD = 0x8100, 0x88A8
    recs = []

    def add(dt_ms, frame):
        recs.append((t + dt_ms * MS, frame))

    add(0, eth(MAC_B, MAC_A, 0x0800, ipv4(A4, B4, 17, udp(ip(A4), ip(B4), 5000, 5001, b"vlan100 udp")), tags=[(Q, 100)]))
    add(10, eth(MAC_B, MAC_A, 0x86DD, ipv6(A6, B6, 6, tcp(ip(A6), ip(B6), 50000, 22, 1, 0, TCP_SYN)), tags=[(Q, 100)]))
    add(20, eth(BCAST, MAC_A, 0x0806, arp(1, MAC_A, A4, b"\0" * 6, B4), tags=[(Q, 100)]))
    add(30, eth(MAC_B, MAC_A, 0x0800, ipv4(A4, B4, 6, tcp(ip(A4), ip(B4), 50001, 443, 7, 0, TCP_SYN)), tags=[(AD, 10), (Q, 20)]))
    add(40, eth(MAC_B, MAC_A, 0x86DD, ipv6(A6, B6, 17, udp(ip(A6), ip(B6), 5004, 5005, b"qinq v6 udp")), tags=[(AD, 10), (Q, 20)]))
    add(50, eth(MAC_B, MAC_A, 0x0800, ipv4(A4, B4, 1, icmp_echo(True, 1, 1, b"triple")), tags=[(AD, 10), (Q, 20), (Q, 30)]))
    add(60, eth(MAC_B, MAC_A, 0x86DD, ipv6(A6, B6, 58, icmp6(ip(A6), ip(B6), 128, 0, struct.pack("!HH", 2, 1) + b"triple6")), tags=[(AD, 10), (Q, 20), (Q, 30)]))
    # Priority-tagged frame (VID 0, PCP 5 written in the TCI by hand).
    frame = MAC_B + MAC_A + struct.pack("!HH", Q, (5 << 13) | 0) + struct.pack("!H", 0x0800) + ipv4(B4, A4, 17, udp(ip(B4), ip(A4), 5001, 5000, b"priority tagged"))
    add(70, frame.ljust(60, b"\0"))
    return pcap_bytes(1, recs)


def make_ipv6_ext():
    """IPv6 extension headers before TCP/UDP/ICMPv6/SCTP, fragments, no next
    header, and IPv6-in-IPv6."""
    t = 1510000000 * SEC  # 2017-11-06T20:26:40Z
    A, B = "2001:db8::1", "2001:db8::2"
    a, b = ip(A), ip(B)
    LL, MLD = "fe80::1", "ff02::16"
    recs = []

    def add(dt_ms, frame):
        recs.append((t + dt_ms * MS, frame))

    def e6(pkt, dst=MAC_B, src=MAC_A):
        return eth(dst, src, 0x86DD, pkt)

    # 1. HBH (router alert) -> ICMPv6 MLDv2 report, as hosts send them.
    mld = icmp6(ip(LL), ip(MLD), 143, 0, struct.pack("!HH", 0, 1) + struct.pack("!BBH", 4, 0, 0) + ip("ff02::fb"))
    add(0, e6(ipv6(LL, MLD, 0, ext_hbh(58) + mld, hlim=1), dst=eth_mcast6(MLD)))
    # 2. HBH -> UDP.
    add(10, e6(ipv6(A, B, 0, ext_hbh(17) + udp(a, b, 5000, 6000, b"hbh udp"))))
    # 3. Destination options -> TCP SYN.
    add(20, e6(ipv6(A, B, 60, ext_dstopts(6) + tcp(a, b, 40000, 443, 100, 0, TCP_SYN))))
    # 4. Segment routing header (2 segments, 1 left) -> TCP. The IPv6
    #    destination is the active segment; the final one is in the SRH.
    final = "2001:db8::99"
    add(30, e6(ipv6(A, B, 43, ext_srh(6, [final, B], 1) + tcp(a, ip(final), 40001, 8080, 200, 0, TCP_SYN))))
    # 5-6. UDP fragmented in two: the first fragment carries the UDP header
    #      (ports), the second one does not.
    dgram = udp(a, b, 40053, 9999, bytes(range(100)))  # 108 bytes
    add(40, e6(ipv6(A, B, 44, ext_frag(17, 0, True, 0xCAFE0001) + dgram[:64])))
    add(41, e6(ipv6(A, B, 44, ext_frag(17, 8, False, 0xCAFE0001) + dgram[64:])))
    # 7. The full chain: HBH, DstOpts, Routing (SRH, 0 left), atomic Fragment,
    #    DstOpts, then TCP.
    seg = tcp(a, b, 40002, 25, 300, 0, TCP_SYN)
    chain = (ext_hbh(60) + ext_dstopts(43) + ext_srh(44, [B], 0) + ext_frag(60, 0, False, 0xCAFE0002)
             + ext_dstopts(6) + seg)
    add(50, e6(ipv6(A, B, 0, chain)))
    # 8-9. ICMPv6 echo.
    add(60, e6(ipv6(A, B, 58, icmp6(a, b, 128, 0, struct.pack("!HH", 7, 1) + b"ping6 payload"))))
    add(61, e6(ipv6(B, A, 58, icmp6(b, a, 129, 0, struct.pack("!HH", 7, 1) + b"ping6 payload")), dst=MAC_A, src=MAC_B))
    # 10. Neighbor solicitation with a source link-layer address option.
    sn = "ff02::1:ff00:2"
    ns = icmp6(a, ip(sn), 135, 0, b"\0\0\0\0" + b + b"\x01\x01" + MAC_A)
    add(70, e6(ipv6(A, sn, 58, ns, hlim=255), dst=eth_mcast6(sn)))
    # 11. Destination options followed by No Next Header (59).
    add(80, e6(ipv6(A, B, 60, ext_dstopts(59))))
    # 12. SCTP INIT.
    add(90, e6(ipv6(A, B, 132, sctp_init(36412, 36412))))
    # 13. IPv6-in-IPv6 (next header 41): capdb reports the outer header.
    OA, OB = "2001:db8:ffff::1", "2001:db8:ffff::2"
    inner = ipv6(A, B, 17, udp(a, b, 7000, 7001, b"tunnelled"))
    add(100, e6(ipv6(OA, OB, 41, inner)))
    # 14. Fragment (later fragment) of TCP behind a hop-by-hop header.
    add(110, e6(ipv6(A, B, 0, ext_hbh(44) + ext_frag(6, 3, False, 0xCAFE0003) + b"x" * 16)))
    return pcap_bytes(1, recs)


def make_ipv4_frag():
    """IPv4 fragments (first with ports, later without; one set out of
    order) and IPv4 options (IHL 6, 8 and 15)."""
    t = 1520000000 * SEC  # 2018-03-02T14:13:20Z
    A, B = "192.0.2.10", "192.0.2.20"
    a, b = ip(A), ip(B)
    recs = []

    def add(dt_ms, frame):
        recs.append((t + dt_ms * MS, frame))

    def e4(pkt, dst=MAC_B, src=MAC_A):
        return eth(dst, src, 0x0800, pkt)

    # 1-3. 3008-byte UDP datagram over a 1500-byte MTU.
    dgram = udp(a, b, 40000, 5001, bytes(i & 0xFF for i in range(3000)))
    add(0, e4(ipv4(A, B, 17, dgram[:1480], ident=0x0101, mf=True, frag_off=0)))
    add(1, e4(ipv4(A, B, 17, dgram[1480:2960], ident=0x0101, mf=True, frag_off=185)))
    add(2, e4(ipv4(A, B, 17, dgram[2960:], ident=0x0101, mf=False, frag_off=370)))
    # 4-5. A 2000-byte ICMP echo request in two fragments.
    echo = icmp_echo(True, 0x42, 1, bytes((i * 7) & 0xFF for i in range(1992)))
    add(10, e4(ipv4(A, B, 1, echo[:1480], ident=0x0202, mf=True)))
    add(11, e4(ipv4(A, B, 1, echo[1480:], ident=0x0202, frag_off=185)))
    # 6-7. Fragments arriving last-first: the later fragment has no ports.
    dgram2 = udp(a, b, 40001, 5002, b"out of order fragment payload" * 4)  # 124 bytes
    add(20, e4(ipv4(A, B, 17, dgram2[64:], ident=0x0303, frag_off=8)))
    add(21, e4(ipv4(A, B, 17, dgram2[:64], ident=0x0303, mf=True)))
    # 8. IHL 6: IGMPv2 membership report with the Router Alert option.
    igmp = struct.pack("!BBH4s", 0x16, 0, 0, ip("224.0.0.251"))
    igmp = igmp[:2] + struct.pack("!H", inet_checksum(igmp)) + igmp[4:]
    add(30, e4(ipv4(A, "224.0.0.251", 2, igmp, ttl=1, options=b"\x94\x04\x00\x00", tos=0xC0),
               dst=mac("01:00:5e:00:00:fb")))
    # 9. IHL 8: Record Route option before TCP.
    rr = b"\x07\x0b\x0c" + ip("192.0.2.254") + b"\0\0\0\0" + b"\x00"
    add(40, e4(ipv4(A, B, 6, tcp(a, b, 12345, 80, 1, 0, TCP_SYN), options=rr)))
    # 10. IHL 8: Timestamp option before UDP.
    ts_opt = b"\x44\x0c\x0d\x00" + struct.pack("!I", 12345678) + b"\0\0\0\0"
    add(50, e4(ipv4(A, B, 17, udp(a, b, 12346, 53, dns_query(0x55, "example.org")), options=ts_opt)))
    # 11. IHL 15 (40 bytes of NOP options + EOL) before UDP.
    add(60, e4(ipv4(B, A, 17, udp(b, a, 9, 12347, b"max ihl"), options=b"\x01" * 39 + b"\x00"), dst=MAC_A, src=MAC_B))
    # 12. DF set, not a fragment: ports present.
    add(70, e4(ipv4(A, B, 17, udp(a, b, 40002, 5003, b"dont fragment"), df=True)))
    # 13. A later fragment of TCP (offset 1480 bytes): proto 6, no ports.
    add(80, e4(ipv4(A, B, 6, b"y" * 40, ident=0x0404, frag_off=185)))
    return pcap_bytes(1, recs)


def _mixed_ip_payloads(base_v4, base_v6):
    """A few IPv4 and IPv6 packets for the link-type files."""
    A4, B4 = base_v4
    A6, B6 = base_v6
    return {
        "v4_tcp": ipv4(A4, B4, 6, tcp(ip(A4), ip(B4), 33000, 80, 1, 0, TCP_SYN), df=True),
        "v4_tcp_back": ipv4(B4, A4, 6, tcp(ip(B4), ip(A4), 80, 33000, 9, 2, TCP_SYN | TCP_ACK), df=True),
        "v4_udp": ipv4(A4, B4, 17, udp(ip(A4), ip(B4), 33001, 53, dns_query(7, "example.net"))),
        "v4_icmp": ipv4(A4, B4, 1, icmp_echo(True, 3, 1, b"abcdefgh")),
        "v6_tcp": ipv6(A6, B6, 6, tcp(ip(A6), ip(B6), 33002, 443, 1, 0, TCP_SYN)),
        "v6_udp": ipv6(A6, B6, 17, udp(ip(A6), ip(B6), 33003, 123, b"\x23" + b"\0" * 47)),
        "v6_icmp": ipv6(A6, B6, 58, icmp6(ip(A6), ip(B6), 128, 0, struct.pack("!HH", 5, 1) + b"abcdefgh")),
    }


def make_sll():
    """LINUX_SLL (113): incoming/outgoing IPv4, IPv6, ARP and an 802.1Q
    tagged IPv4 packet (SLL protocol 0x8100)."""
    t = 1530000000 * SEC
    p = _mixed_ip_payloads(("192.0.2.31", "192.0.2.32"), ("2001:db8:31::1", "2001:db8:31::2"))
    recs = [
        (t + 0 * MS, sll(4, 1, MAC_A, 0x0800, p["v4_tcp"])),
        (t + 1 * MS, sll(0, 1, MAC_B, 0x0800, p["v4_tcp_back"])),
        (t + 2 * MS, sll(4, 1, MAC_A, 0x86DD, p["v6_udp"])),
        (t + 3 * MS, sll(1, 1, MAC_B, 0x0806, arp(1, MAC_B, "192.0.2.32", b"\0" * 6, "192.0.2.31"))),
        (t + 4 * MS, sll(0, 772, b"\0" * 6, 0x0800, p["v4_icmp"])),
        (t + 5 * MS, sll(4, 1, MAC_A, 0x8100, struct.pack("!HH", 42, 0x0800) + p["v4_udp"])),
    ]
    return pcap_bytes(113, recs)


def make_sll2():
    """LINUX_SLL2 (276): IPv4, IPv6, ICMPv6 and ARP."""
    t = 1530001000 * SEC
    p = _mixed_ip_payloads(("192.0.2.41", "192.0.2.42"), ("2001:db8:41::1", "2001:db8:41::2"))
    recs = [
        (t + 0 * MS, sll2(0x0800, 2, 1, 4, MAC_A, p["v4_tcp"])),
        (t + 1 * MS, sll2(0x0800, 2, 1, 0, MAC_B, p["v4_tcp_back"])),
        (t + 2 * MS, sll2(0x86DD, 2, 1, 4, MAC_A, p["v6_udp"])),
        (t + 3 * MS, sll2(0x86DD, 1, 772, 0, b"\0" * 6, p["v6_icmp"])),
        (t + 4 * MS, sll2(0x0806, 2, 1, 1, MAC_B, arp(1, MAC_B, "192.0.2.42", b"\0" * 6, "192.0.2.41"))),
    ]
    return pcap_bytes(276, recs)


def make_raw():
    """LINKTYPE_RAW (101; libpcap reports DLT_RAW 12): IPv4 and IPv6, told
    apart by the version nibble."""
    t = 1530002000 * SEC
    p = _mixed_ip_payloads(("192.0.2.51", "192.0.2.52"), ("2001:db8:51::1", "2001:db8:51::2"))
    recs = [(t + i * MS, p[k]) for i, k in enumerate(["v4_udp", "v6_tcp", "v4_icmp", "v6_icmp", "v4_tcp"])]
    return pcap_bytes(101, recs)


def _llc_snap(ethertype, payload):
    return b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", ethertype) + payload


def _wlan_data(payload, ethertype=0x0800, flags=0x01, qos=None, subtype=0, seq=0x0010, pad=False):
    """An 802.11 data frame (type 2): to the AP (ToDS) unless flags say
    otherwise; QoS data (subtype 8) when qos is a QoS control value; pad:
    the header padded to 4 bytes (radiotap's data-pad flag)."""
    st = subtype | (8 if qos is not None else 0)
    fc = bytes([(st << 4) | (2 << 2), flags])
    hdr = fc + b"\x2c\x00" + MAC_B + MAC_A + MAC_B + struct.pack("<H", seq)
    if flags & 3 == 3:
        hdr += MAC_A  # address 4 (WDS)
    if qos is not None:
        hdr += struct.pack("<H", qos)
    if pad:
        hdr += b"\0" * (-len(hdr) % 4)
    return hdr + _llc_snap(ethertype, payload)


def _radiotap(frame, flags=None, tsft=None):
    """A radiotap header (little-endian) with TSFT and flags when given,
    and a channel field, then the 802.11 frame."""
    present = 0x8  # channel
    fields = b""
    if tsft is not None:
        present |= 0x1
    if flags is not None:
        present |= 0x2
    length = 8
    if tsft is not None:
        fields += struct.pack("<Q", tsft)  # offset 8: already 8-aligned
    if flags is not None:
        fields += bytes([flags]) + b"\0"  # flags, then the rate field's byte
        present |= 0x4
    fields += b"\0" * (-(length + len(fields)) % 2)
    fields += struct.pack("<HH", 2437, 0x00a0)  # channel 6, 2.4 GHz OFDM
    length += len(fields)
    return struct.pack("<BBHI", 0, 0, length, present) + fields + frame


def make_wifi():
    """IEEE802_11 (105): data frames to and from the AP, QoS data, a WDS
    frame, a beacon, a protected (encrypted) frame, a null frame and a later
    fragment (the last four non-IP)."""
    t = 1531000000 * SEC
    p = _mixed_ip_payloads(("192.0.2.61", "192.0.2.62"), ("2001:db8:61::1", "2001:db8:61::2"))
    beacon = bytes([0x80, 0x00]) + b"\0\0" + b"\xff" * 6 + MAC_B + MAC_B + b"\x20\x00" + b"\0" * 12
    recs = [
        (t + 0 * MS, _wlan_data(p["v4_tcp"])),
        (t + 1 * MS, _wlan_data(p["v4_tcp_back"], flags=0x02)),
        (t + 2 * MS, _wlan_data(p["v6_udp"], ethertype=0x86DD, qos=0x0005)),
        (t + 3 * MS, _wlan_data(p["v4_udp"], flags=0x03)),
        (t + 4 * MS, beacon),
        (t + 5 * MS, _wlan_data(p["v4_icmp"], flags=0x41)),
        (t + 6 * MS, bytes([0x48, 0x01]) + b"\0\0" + MAC_B + MAC_A + MAC_B + b"\x30\x00"),
        (t + 7 * MS, _wlan_data(b"x" * 40, seq=0x0011)[:24] + b"x" * 40),
        (t + 8 * MS, _wlan_data(p["v6_icmp"], ethertype=0x86DD, qos=0x0000, flags=0x02)),
    ]
    return pcap_bytes(105, recs)


def make_wifi_radiotap():
    """IEEE802_11_RADIO (127): radiotap headers with and without TSFT and
    flags, one with the data-pad flag (the 802.11 header padded to 4
    bytes), before 802.11 data frames; a beacon."""
    t = 1531001000 * SEC
    p = _mixed_ip_payloads(("192.0.2.71", "192.0.2.72"), ("2001:db8:71::1", "2001:db8:71::2"))
    beacon = bytes([0x80, 0x00]) + b"\0\0" + b"\xff" * 6 + MAC_B + MAC_B + b"\x20\x00" + b"\0" * 12
    recs = [
        (t + 0 * MS, _radiotap(_wlan_data(p["v4_tcp"]))),
        (t + 1 * MS, _radiotap(_wlan_data(p["v4_udp"], flags=0x02), flags=0x00, tsft=123456789)),
        (t + 2 * MS, _radiotap(_wlan_data(p["v6_tcp"], ethertype=0x86DD, qos=0x0006, pad=True), flags=0x20)),
        (t + 3 * MS, _radiotap(beacon, flags=0x00)),
        (t + 4 * MS, _radiotap(_wlan_data(p["v4_icmp"]), flags=0x10) + b"\x01\x02\x03\x04"),  # FCS at the end
    ]
    return pcap_bytes(127, recs)


def make_ppp():
    """PPP (9): with and without the HDLC-like address and control bytes,
    IPv4, IPv6, a compressed protocol field, and LCP (non-IP)."""
    t = 1531002000 * SEC
    p = _mixed_ip_payloads(("192.0.2.81", "192.0.2.82"), ("2001:db8:81::1", "2001:db8:81::2"))
    lcp = b"\x01\x01\x00\x0a\x05\x06\x12\x34\x56\x78"
    recs = [
        (t + 0 * MS, b"\xff\x03\x00\x21" + p["v4_tcp"]),
        (t + 1 * MS, b"\x00\x21" + p["v4_tcp_back"]),
        (t + 2 * MS, b"\xff\x03\x00\x57" + p["v6_udp"]),
        (t + 3 * MS, b"\x21" + p["v4_udp"]),
        (t + 4 * MS, b"\xff\x03\xc0\x21" + lcp),
    ]
    return pcap_bytes(9, recs)


def make_ppp_serial():
    """PPP_HDLC (50): PPP in HDLC-like framing and Cisco HDLC frames."""
    t = 1531003000 * SEC
    p = _mixed_ip_payloads(("192.0.2.91", "192.0.2.92"), ("2001:db8:91::1", "2001:db8:91::2"))
    recs = [
        (t + 0 * MS, b"\xff\x03\x00\x21" + p["v4_tcp"]),
        (t + 1 * MS, b"\x0f\x00\x08\x00" + p["v4_tcp_back"]),
        (t + 2 * MS, b"\x0f\x00\x86\xdd" + p["v6_tcp"]),
        (t + 3 * MS, b"\xff\x03\x00\x57" + p["v6_icmp"]),
    ]
    return pcap_bytes(50, recs)


def make_c_hdlc():
    """C_HDLC (104): Cisco HDLC with IPv4, IPv6 and SLARP (non-IP)."""
    t = 1531004000 * SEC
    p = _mixed_ip_payloads(("192.0.2.101", "192.0.2.102"), ("2001:db8:101::1", "2001:db8:101::2"))
    slarp = struct.pack("!I", 0) + ip("192.0.2.101") + ip("255.255.255.252") + b"\xff\xff"
    recs = [
        (t + 0 * MS, b"\x0f\x00\x08\x00" + p["v4_udp"]),
        (t + 1 * MS, b"\x8f\x00\x08\x00" + p["v4_icmp"]),
        (t + 2 * MS, b"\x0f\x00\x86\xdd" + p["v6_udp"]),
        (t + 3 * MS, b"\x8f\x00\x80\x35" + slarp),
    ]
    return pcap_bytes(104, recs)


def _nflog(family, payload, prefix=b"capdb"):
    """An NFLOG frame as a little-endian Linux host writes it: the header,
    then TLVs (prefix, hardware protocol, payload), each padded to 4 bytes."""
    def tlv(type_, value):
        body = struct.pack("<HH", 4 + len(value), type_) + value
        return body + b"\0" * (-len(body) % 4)
    hdr = struct.pack("!BBH", family, 0, 7)
    return hdr + tlv(10, prefix + b"\0") + tlv(1, struct.pack("!HBB", 0x0800 if family == 2 else 0x86DD, 3, 0)) + \
        tlv(9, payload)


def make_nflog():
    """NFLOG (239): IPv4 and IPv6 packets logged by netfilter."""
    t = 1531005000 * SEC
    p = _mixed_ip_payloads(("192.0.2.111", "192.0.2.112"), ("2001:db8:111::1", "2001:db8:111::2"))
    recs = [
        (t + 0 * MS, _nflog(2, p["v4_tcp"])),
        (t + 1 * MS, _nflog(2, p["v4_udp"], prefix=b"a longer log prefix")),
        (t + 2 * MS, _nflog(10, p["v6_tcp"])),
        (t + 3 * MS, _nflog(10, p["v6_icmp"])),
    ]
    return pcap_bytes(239, recs)


def make_ipv4only():
    """LINKTYPE_IPV4 (228): IPv4 only."""
    t = 1530003000 * SEC
    p = _mixed_ip_payloads(("192.0.2.61", "192.0.2.62"), ("2001:db8:61::1", "2001:db8:61::2"))
    recs = [(t + i * MS, p[k]) for i, k in enumerate(["v4_tcp", "v4_tcp_back", "v4_udp", "v4_icmp"])]
    return pcap_bytes(228, recs)


def make_ipv6only():
    """LINKTYPE_IPV6 (229): IPv6 only."""
    t = 1530004000 * SEC
    p = _mixed_ip_payloads(("192.0.2.71", "192.0.2.72"), ("2001:db8:71::1", "2001:db8:71::2"))
    recs = [(t + i * MS, p[k]) for i, k in enumerate(["v6_tcp", "v6_udp", "v6_icmp"])]
    return pcap_bytes(229, recs)


def make_null():
    """LINKTYPE_NULL (0): a 4-byte address family in the capturing host's
    byte order. Both little- and big-endian values; AF_INET (2) and the
    AF_INET6 values of NetBSD/OpenBSD (24), FreeBSD (28) and macOS (30)."""
    t = 1530005000 * SEC
    p = _mixed_ip_payloads(("192.0.2.81", "192.0.2.82"), ("2001:db8:81::1", "2001:db8:81::2"))
    items = [
        (struct.pack("<I", 2), p["v4_udp"]),
        (struct.pack(">I", 2), p["v4_tcp"]),
        (struct.pack("<I", 24), p["v6_udp"]),
        (struct.pack("<I", 28), p["v6_tcp"]),
        (struct.pack("<I", 30), p["v6_icmp"]),
        (struct.pack(">I", 24), p["v6_icmp"]),
        (struct.pack(">I", 28), p["v6_udp"]),
        (struct.pack(">I", 30), p["v6_tcp"]),
    ]
    return pcap_bytes(0, [(t + i * MS, af + pkt) for i, (af, pkt) in enumerate(items)])


def make_loop():
    """LINKTYPE_LOOP (108): OpenBSD loopback, address family in network byte
    order: AF_INET (2), AF_INET6 24, 28 and 30."""
    t = 1530006000 * SEC
    p = _mixed_ip_payloads(("192.0.2.91", "192.0.2.92"), ("2001:db8:91::1", "2001:db8:91::2"))
    items = [(2, p["v4_udp"]), (24, p["v6_tcp"]), (2, p["v4_icmp"]), (28, p["v6_udp"]), (30, p["v6_icmp"])]
    return pcap_bytes(108, [(t + i * MS, struct.pack(">I", af) + pkt) for i, (af, pkt) in enumerate(items)])


def make_nanosecond():
    """Nanosecond pcap (magic a1b23c4d): timestamps whose nanosecond digits
    matter, a second boundary, and the last nanosecond of signed 32-bit
    seconds (2038-01-19T03:14:07.999999999Z). Later times: make_y2038."""
    base = 1540000000 * SEC  # 2018-10-20T01:46:40Z
    A, B = "192.0.2.101", "192.0.2.102"
    a, b = ip(A), ip(B)
    times = [base + 1, base + 123456789, base + 999999999, base + SEC, base + SEC + 500000000,
             (2**31 - 1) * SEC + 999999999]  # 2038-01-19T03:14:07.999999999Z
    recs = []
    for i, ts in enumerate(times):
        recs.append((ts, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(a, b, 41000 + i, 7, b"ns %d" % i), ident=i))))
    return pcap_bytes(1, recs, nsec=True)


def _y2038_frames(n):
    A, B = "192.0.2.141", "192.0.2.142"
    return [eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(ip(A), ip(B), 43000 + i, 123, b"y2038 %d" % i), ident=i))
            for i in range(n)]


# pcap seconds are unsigned 32-bit: the last second before the signed limit,
# the first after it, a day later, and the last second pcap can hold.
Y2038_TIMES = [(2**31 - 1) * SEC + 999999 * US,  # 2038-01-19T03:14:07.999999Z
               2**31 * SEC,                      # 2038-01-19T03:14:08Z
               (2**31 + 86400) * SEC + 500 * MS,  # 2038-01-20T03:14:08.5Z
               (2**32 - 1) * SEC + 999999 * US]   # 2106-02-07T06:28:15.999999Z


def make_y2038():
    """Microsecond pcap with records after 2038-01-19T03:14:07Z, which a
    reader that takes the seconds as signed puts in 1901-1969."""
    return pcap_bytes(1, list(zip(Y2038_TIMES, _y2038_frames(len(Y2038_TIMES)))))


def make_y2038_ng():
    """The same times in pcapng (64-bit timestamps, interface 0 in
    microseconds), and one beyond pcap's range on a nanosecond interface:
    2^33 s + 123456789 ns (2242-03-16T12:56:32.123456789Z)."""
    frames = _y2038_frames(len(Y2038_TIMES) + 1)
    out = ng_shb([(4, b"capdb make_testdata.py")])
    out += ng_idb(1, 262144, [(2, b"eth0")])
    out += ng_idb(1, 262144, [(2, b"eth1"), (9, b"\x09")])
    for ts, frame in zip(Y2038_TIMES, frames):
        out += ng_epb(0, ts // US, frame)
    out += ng_epb(1, 2**33 * SEC + 123456789, frames[-1])
    return out


def make_big_endian():
    """A microsecond pcap written big-endian (magic a1b2c3d4 in network
    order), as on SPARC / PowerPC capture hosts."""
    t = 1550000000 * SEC  # 2019-02-12T19:33:20Z
    p = _mixed_ip_payloads(("192.0.2.111", "192.0.2.112"), ("2001:db8:111::1", "2001:db8:111::2"))
    recs = [
        (t + 0 * US, eth(MAC_B, MAC_A, 0x0800, p["v4_tcp"])),
        (t + 250 * US, eth(MAC_A, MAC_B, 0x0800, p["v4_tcp_back"])),
        (t + 500_001 * US, eth(MAC_B, MAC_A, 0x86DD, p["v6_udp"])),
        (t + 999_999 * US, eth(BCAST, MAC_A, 0x0806, arp(1, MAC_A, "192.0.2.111", b"\0" * 6, "192.0.2.112"))),
    ]
    return pcap_bytes(1, recs, big_endian=True)


def make_two_if():
    """pcapng: SHB with options and a comment, two Ethernet IDBs (eth0 in
    microseconds, eth1 with if_tsresol 9 = nanoseconds), EPBs on both (one
    with a comment), a name resolution block, an unknown block type, a
    simple packet block (interface 0, no timestamp) and interface
    statistics blocks."""
    t = 1560000000  # 2019-06-08T13:20:00Z
    A4, B4 = "192.0.2.121", "192.0.2.122"
    A6, B6 = "2001:db8:121::1", "2001:db8:121::2"
    out = ng_shb([(1, b"capdb test: two interfaces"), (2, b"test hardware"), (3, b"Linux"),
                  (4, b"capdb make_testdata.py")])
    out += ng_idb(1, 262144, [(2, b"eth0"), (3, b"first interface"), (9, b"\x06")])
    out += ng_idb(1, 262144, [(2, b"eth1"), (3, b"second interface, ns"), (9, b"\x09")])
    us = lambda sec, usec: sec * 10**6 + usec
    ns = lambda sec, nsec: sec * 10**9 + nsec
    f_dns_q = eth(MAC_C, MAC_A, 0x0800, ipv4(A4, "198.51.100.53", 17, udp(ip(A4), ip("198.51.100.53"), 53001, 53, dns_query(1, "www.example.com"))))
    f_dns_a = eth(MAC_A, MAC_C, 0x0800, ipv4("198.51.100.53", A4, 17, udp(ip("198.51.100.53"), ip(A4), 53, 53001, dns_answer_a(1, "www.example.com", "203.0.113.80"))))
    f_v6_syn = eth(MAC_B, MAC_A, 0x86DD, ipv6(A6, B6, 6, tcp(ip(A6), ip(B6), 50100, 443, 1, 0, TCP_SYN)))
    f_v6_synack = eth(MAC_A, MAC_B, 0x86DD, ipv6(B6, A6, 6, tcp(ip(B6), ip(A6), 443, 50100, 77, 2, TCP_SYN | TCP_ACK)))
    f_v4_tcp = eth(MAC_B, MAC_A, 0x0800, ipv4(A4, B4, 6, tcp(ip(A4), ip(B4), 50200, 22, 1, 0, TCP_SYN)))
    f_arp = eth(BCAST, MAC_A, 0x0806, arp(1, MAC_A, A4, b"\0" * 6, B4))
    out += ng_epb(0, us(t, 100), f_dns_q, opts=[(1, b"a packet comment")])
    out += ng_epb(1, ns(t, 150_000_001), f_v6_syn)
    out += ng_nrb([("198.51.100.53", ["resolver.example"]), ("192.0.2.121", ["host-a.example"])])
    out += ng_epb(0, us(t, 200_500), f_dns_a)
    out += ng_block(0x0000C0DE, b"an unknown block type that readers must skip")
    out += ng_epb(1, ns(t, 250_000_999), f_v6_synack, opts=[(2, struct.pack("<I", 1))])  # epb_flags: inbound
    out += ng_epb(0, us(t, 300_000), f_v4_tcp)
    out += ng_spb(f_arp)
    out += ng_epb(1, ns(t + 1, 0), f_v4_tcp)
    out += ng_isb(0, us(t + 2, 0), [(4, struct.pack("<Q", 5)), (5, struct.pack("<Q", 0))])
    out += ng_isb(1, ns(t + 2, 0), [(4, struct.pack("<Q", 3)), (5, struct.pack("<Q", 0))])
    return out


def ng_section(e, interfaces, blocks):
    """A pcapng section in byte order e ("<" or ">"): SHB, IDBs given as
    (linktype, snaplen, options), then blocks given as (type, body) pairs
    whose bodies are already in byte order e."""
    def block(btype, body):
        body = _pad4(body)
        total = 12 + len(body)
        return struct.pack(e + "II", btype, total) + body + struct.pack(e + "I", total)

    def options(opts):
        if not opts:
            return b""
        return b"".join(struct.pack(e + "HH", c, len(v)) + _pad4(v) for c, v in opts) + struct.pack(e + "HH", 0, 0)

    out = block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    for linktype, snaplen, opts in interfaces:
        out += block(1, struct.pack(e + "HHI", linktype, 0, snaplen) + options(opts))
    for btype, body in blocks:
        out += block(btype, body)
    return out


def ng_packet_body(e, iface, ts_units, data, obsolete=False):
    head = struct.pack(e + "HH", iface, 0) if obsolete else struct.pack(e + "I", iface)
    return head + struct.pack(e + "IIII", ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), len(data)) + _pad4(data)


def make_mixed_link():
    """pcapng with three interfaces of three link types in one section:
    EN10MB "eth0" (us), LINUX_SLL "any" (if_tsresol 9) and LINKTYPE_RAW
    (no name, if_tsresol 2^-20 s), packets interleaved in time, one of them
    in an obsolete packet block, between a name resolution block, interface
    statistics and a block of an unknown type. libpcap 1.10 refuses such a file."""
    t = 1533000000
    e = "<"
    p = _mixed_ip_payloads(("192.0.2.61", "192.0.2.62"), ("2001:db8:61::1", "2001:db8:61::2"))
    ifaces = [(1, 262144, [(2, b"eth0"), (9, b"\x06")]),
              (113, 262144, [(2, b"any"), (3, b"all interfaces"), (9, b"\x09")]),
              (101, 65535, [(9, bytes([0x80 | 20]))])]
    us = lambda dt_us: t * 10**6 + dt_us
    ns = lambda dt_ns: t * 10**9 + dt_ns
    b2 = lambda units: (t << 20) + units  # 2^-20 s
    blocks = [
        (6, ng_packet_body(e, 0, us(0), eth(MAC_B, MAC_A, 0x0800, p["v4_tcp"]))),
        (6, ng_packet_body(e, 1, ns(1_000_001), sll(0, 1, MAC_B, 0x0800, p["v4_tcp_back"]))),
        (6, ng_packet_body(e, 2, b2(1 << 14), p["v6_tcp"])),
        (4, struct.pack(e + "HH", 1, 8) + ip("192.0.2.61") + b"a.x\0" + struct.pack(e + "HH", 0, 0)),
        (6, ng_packet_body(e, 0, us(30_000), eth(MAC_B, MAC_A, 0x86DD, p["v6_udp"]))),
        (2, ng_packet_body(e, 1, ns(40_000_000), sll(4, 1, MAC_A, 0x0806,
                                                      arp(1, MAC_A, "192.0.2.61", b"\0" * 6, "192.0.2.62")),
                           obsolete=True)),
        (0x0000C0DE, b"an unknown block type that readers must skip"),
        (6, ng_packet_body(e, 2, b2(3 << 16), p["v4_udp"])),
        (6, ng_packet_body(e, 2, b2(1), p["v4_icmp"])),
        (6, ng_packet_body(e, 1, ns(60_000_000), sll(4, 1, MAC_A, 0x86DD, p["v6_icmp"]))),
        (5, struct.pack(e + "III", 0, us(70_000) >> 32, us(70_000) & 0xFFFFFFFF)),
        (6, ng_packet_body(e, 0, us(80_000), eth(BCAST, MAC_A, 0x0806,
                                                  arp(1, MAC_A, "192.0.2.61", b"\0" * 6, "192.0.2.62")))),
    ]
    return ng_section(e, ifaces, blocks)


def make_multi_section():
    """pcapng of three sections: little-endian (EN10MB "eth0", us), then
    big-endian (LINUX_SLL2 "lo", if_tsresol 9, with a simple packet block),
    then little-endian (LINKTYPE_RAW, milliseconds). Each section numbers
    its own interfaces from 0; readers number them across the file."""
    t = 1533001000
    p = _mixed_ip_payloads(("192.0.2.71", "192.0.2.72"), ("2001:db8:71::1", "2001:db8:71::2"))
    out = ng_section("<", [(1, 262144, [(2, b"eth0")])], [
        (6, ng_packet_body("<", 0, t * 10**6 + 1, eth(MAC_B, MAC_A, 0x0800, p["v4_tcp"]))),
        (6, ng_packet_body("<", 0, t * 10**6 + 2_000, eth(MAC_A, MAC_B, 0x0800, p["v4_tcp_back"]))),
    ])
    spb_frame = sll2(0x0806, 1, 1, 1, MAC_B, arp(1, MAC_B, "192.0.2.72", b"\0" * 6, "192.0.2.71"))
    out += ng_section(">", [(276, 262144, [(2, b"lo"), (9, b"\x09")])], [
        (6, ng_packet_body(">", 0, (t + 1) * 10**9 + 5, sll2(0x86DD, 1, 772, 0, b"\0" * 6, p["v6_icmp"]))),
        (3, struct.pack(">I", len(spb_frame)) + _pad4(spb_frame)),
        (6, ng_packet_body(">", 0, (t + 1) * 10**9 + 999_999_999, sll2(0x0800, 1, 772, 0, b"\0" * 6, p["v4_udp"]))),
    ])
    out += ng_section("<", [(101, 262144, [(9, b"\x03")])], [
        (6, ng_packet_body("<", 0, (t + 2) * 10**3 + 7, p["v6_udp"])),
        (6, ng_packet_body("<", 0, (t + 2) * 10**3 + 8, p["v4_icmp"])),
    ])
    return out


def make_truncated():
    """Five good Ethernet/IPv4/UDP records, then a sixth whose header
    promises 100 bytes of which only 30 are present."""
    t = 1570000000 * SEC  # 2019-10-02T07:06:40Z
    A, B = "192.0.2.131", "192.0.2.132"
    recs = []
    for i in range(5):
        recs.append((t + i * SEC, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(ip(A), ip(B), 42000, 514, b"syslog message %d" % i), ident=i))))
    good = pcap_bytes(1, recs)
    sixth = eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(ip(A), ip(B), 42000, 514, b"x" * 58), ident=5))
    assert len(sixth) == 100
    hdr = struct.pack("<IIII", 1570000005, 0, 100, 100)
    return good + hdr + sixth[:30]


def make_unsupported_link():
    """LINKTYPE_USER0 (147): capdb cannot decode it and stores the packets
    undecoded (exit 5)."""
    t = 1580000000 * SEC  # 2020-01-26T00:53:20Z
    recs = [(t + i * SEC, b"USER0 frame %d: " % i + bytes(range(i, i + 20))) for i in range(3)]
    return pcap_bytes(147, recs)


def make_malformed():
    """Ethernet frames that are cut short or carry impossible headers."""
    t = 1590000000 * SEC  # 2020-05-20T18:40:00Z
    A, B = "192.0.2.141", "192.0.2.142"
    a, b = ip(A), ip(B)
    A6, B6 = "2001:db8:141::1", "2001:db8:141::2"
    full_tcp = eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 43000, 80, 1, 0, TCP_SYN, b"z" * 40)))
    recs = []

    def add(frame, wirelen=None):
        i = len(recs)
        recs.append((t + i * SEC, frame) if wirelen is None else (t + i * SEC, frame, wirelen))

    # 1. Cut inside the Ethernet header (10 of 14 bytes).
    add(full_tcp[:10])
    # 2. Cut inside the IPv4 header (14 + 10 bytes).
    add(full_tcp[:24])
    # 3. Cut inside the TCP header (14 + 20 + 10 bytes).
    add(full_tcp[:44])
    # 4. IPv4 with IHL 4 (< 5).
    add(eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(a, b, 1, 2, b"ihl4"), ihl=4)))
    # 5. EtherType IPv4 but IP version 5.
    add(eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(a, b, 1, 2, b"version5"), version=5)))
    # 6. EtherType IPv6 but IP version 4 inside.
    add(eth(MAC_B, MAC_A, 0x86DD, ipv4(A, B, 17, udp(a, b, 1, 2, b"v4 in 86dd"))))
    # 7. IPv6 whose hop-by-hop header claims 64 bytes but the frame ends
    #    after 8 of them (payload length honest about the bytes present).
    hbh_overrun = bytes([17, 7]) + b"\x01\x04\0\0\0\0"
    add(eth(MAC_B, MAC_A, 0x86DD, ipv6(A6, B6, 0, hbh_overrun)))
    # 8. Snaplen-truncated capture: caplen 54 (all headers), wirelen 1514.
    big = eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 6, tcp(a, b, 43001, 80, 1, 0, TCP_ACK, b"w" * 1460)))
    add(big[:54], wirelen=len(big))
    # 9. Snaplen-truncated inside the TCP header: caplen 40, wirelen 1514.
    add(big[:40], wirelen=len(big))
    # 10. A VLAN tag cut short (TPID and half a TCI).
    add(MAC_B + MAC_A + b"\x81\x00\x00")
    # 11. IPv6 header cut short (14 + 30 bytes).
    v6 = eth(MAC_B, MAC_A, 0x86DD, ipv6(A6, B6, 17, udp(ip(A6), ip(B6), 1, 2, b"cut")))
    add(v6[:44])
    # 12. A record with no captured bytes at all (caplen 0, wirelen 60).
    add(b"", wirelen=60)
    return pcap_bytes(1, recs)


def make_out_of_order():
    """Ethernet/IPv4/UDP records whose timestamps go backwards in the file:
    queries must return them in time order, not file order."""
    t = 1600000000 * SEC  # 2020-09-13T12:26:40Z
    A, B = "192.0.2.151", "192.0.2.152"
    order = [3, 1, 4, 0, 2]
    recs = []
    for i, k in enumerate(order):
        recs.append((t + k * SEC + 250 * MS, eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(ip(A), ip(B), 44000 + i, 6000 + k, b"record %d time %d" % (i, k)), ident=i))))
    return pcap_bytes(1, recs)


def make_interleave(which):
    """Two captures whose packets interleave in time: a at t+0,2,4 s and
    b at t+1,3,5 s, from different hosts."""
    t = 1610000000 * SEC  # 2021-01-07T06:13:20Z
    if which == "a":
        A, B, start = "192.0.2.161", "198.51.100.161", 0
    else:
        A, B, start = "2001:db8:162::1", "2001:db8:162::2", 1
    recs = []
    for i in range(3):
        ts = t + (start + 2 * i) * SEC
        if which == "a":
            frame = eth(MAC_B, MAC_A, 0x0800, ipv4(A, B, 17, udp(ip(A), ip(B), 45000, 7000 + i, b"a%d" % i), ident=i))
        else:
            frame = eth(MAC_B, MAC_A, 0x86DD, ipv6(A, B, 6, tcp(ip(A), ip(B), 46000, 7100 + i, i, 0, TCP_SYN)))
        recs.append((ts, frame))
    return pcap_bytes(1, recs)


NOT_A_CAPTURE = (
    "This is a plain text file, not a packet capture.\n"
    "capdb must refuse it with exit code 3 and an error naming the file.\n"
)


def make_tunnels():
    """EN10MB: one packet per tunnel capdb decapsulates, each carrying its
    own inner conversation: GTP-U (with a PDU session container extension
    header), VXLAN, Geneve (with an option), GRE with key and sequence,
    GRE transparent Ethernet bridging (gretap), ERSPAN types I, II and III,
    an MPLS stack of two labels, MPLS over UDP, PPPoE session (IPv4 and
    IPv6), IPv4 in IPv4, IPv6 in IPv4 (6in4), IPv4 in IPv6, MACsec with
    integrity only, NSH, Arista's timestamp header, VXLAN carrying ARP, and
    VXLAN carrying GTP-U (two tunnels)."""
    t = 1540100000 * SEC
    O4, P4 = "198.51.100.1", "198.51.100.2"  # tunnel endpoints
    O6, P6 = "2001:db8:f0::1", "2001:db8:f0::2"

    def inner4(n, proto=6):
        a, b = "192.0.2.%d" % (100 + 2 * n), "192.0.2.%d" % (101 + 2 * n)
        if proto == 6:
            return ipv4(a, b, 6, tcp(ip(a), ip(b), 40000 + n, 80, 1, 0, TCP_SYN), df=True)
        return ipv4(a, b, 17, udp(ip(a), ip(b), 41000 + n, 53, dns_query(n, "example.org")))

    def inner6(n):
        a, b = "2001:db8:%x::1" % (0x100 + n), "2001:db8:%x::2" % (0x100 + n)
        return ipv6(a, b, 17, udp(ip(a), ip(b), 42000 + n, 123, b"\x23" + b"\0" * 47))

    def frame(payload, ethertype=0x0800):
        return eth(MAC_B, MAC_A, ethertype, payload)

    def over_udp(dport, payload, sport=50000):
        return frame(ipv4(O4, P4, 17, udp(ip(O4), ip(P4), sport, dport, payload)))

    def over_gre(flags, proto, options, payload):
        return frame(ipv4(O4, P4, 47, struct.pack("!HH", flags, proto) + options + payload))

    def gtp(teid, pdu, ext=b""):
        flags = 0x34 if ext else 0x30
        return struct.pack("!BBHI", flags, 0xFF, len(ext) + len(pdu), teid) + ext + pdu

    def mpls(label, bottom):
        return struct.pack("!I", label << 12 | (0x100 if bottom else 0) | 64)

    def pppoe(session, proto, pdu):
        return struct.pack("!BBHHH", 0x11, 0, session, len(pdu) + 2, proto) + pdu

    ext = b"\x00\x01\x00\x85" + b"\x01\x10\x05\x00"  # sequence, N-PDU, next 0x85; QFI 5, then none
    arp_req = arp(1, MAC_A, "192.0.2.130", b"\0" * 6, "192.0.2.131")
    inner_gtp = ipv6(O6, P6, 17, udp(ip(O6), ip(P6), 2152, 2152, gtp(0x5151, inner4(19))))
    frames = [
        over_udp(2152, gtp(0x1000001, inner4(0), ext), sport=2152),
        over_udp(2152, gtp(0x1000002, inner6(1)), sport=2152),
        over_udp(4789, struct.pack("!II", 0x08000000, 4242 << 8) + frame(inner4(2))),
        over_udp(6081, struct.pack("!BBHI", 2, 0, 0x6558, 77 << 8) + b"\x01\x02\x03\x01" + b"\xaa" * 4
                 + frame(inner4(3))),
        over_gre(0x3000, 0x0800, struct.pack("!II", 0xABCD, 9), inner4(4)),
        over_gre(0x2000, 0x6558, struct.pack("!I", 31), frame(inner4(5))),
        over_gre(0x0000, 0x88BE, b"", frame(inner4(6))),
        over_gre(0x1000, 0x88BE, struct.pack("!I", 1) + struct.pack("!HHI", 0x1000 | 10, 0x0800 | 300, 0),
                 frame(inner4(7))),
        over_gre(0x1000, 0x22EB, struct.pack("!I", 2) + struct.pack("!HHIHH", 0x2000 | 10, 301, 0, 0, 0),
                 frame(inner4(8))),
        frame(mpls(1001, False) + mpls(2002, True) + inner4(9), 0x8847),
        over_udp(6635, mpls(3003, True) + inner4(10)),
        frame(pppoe(0x0101, 0x0021, inner4(11)), 0x8864),
        frame(pppoe(0x0102, 0x0057, inner6(12)), 0x8864),
        frame(ipv4(O4, P4, 4, inner4(13))),
        frame(ipv4(O4, P4, 41, inner6(14))),
        frame(ipv6(O6, P6, 4, inner4(15)), 0x86DD),
        frame(b"\x20\x00" + struct.pack("!I", 1) + MAC_A + b"\x00\x01" + struct.pack("!H", 0x0800)
              + inner4(16) + b"\x1c" * 16, 0x88E5),
        frame(struct.pack("!BBBBI", 0x0F, 0xC2, 0x02, 0x01, 0x000123FF) + inner4(17), 0x894F),
        frame(struct.pack("!HH", 1, 0x0010) + b"\x00\x00\x00\x00\x12\x34\x56\x78" + struct.pack("!H", 0x0800)
              + inner4(18, 17), 0xD28B),
        over_udp(4789, struct.pack("!II", 0x08000000, 4243 << 8) + frame(arp_req, 0x0806)),
        over_udp(4789, struct.pack("!II", 0x08000000, 4244 << 8) + frame(inner_gtp, 0x86DD)),
    ]
    return pcap_bytes(1, [(t + i * MS, f) for i, f in enumerate(frames)])


FILES = {
    "eth_ipv4.pcap": make_eth_ipv4,
    "eth_vlan.pcap": make_eth_vlan,
    "ipv6_ext.pcap": make_ipv6_ext,
    "ipv4_frag.pcap": make_ipv4_frag,
    "sll.pcap": make_sll,
    "sll2.pcap": make_sll2,
    "raw.pcap": make_raw,
    "ipv4only.pcap": make_ipv4only,
    "ipv6only.pcap": make_ipv6only,
    "null.pcap": make_null,
    "loop.pcap": make_loop,
    "nanosecond.pcap": make_nanosecond,
    "big_endian.pcap": make_big_endian,
    "y2038.pcap": make_y2038,
    "y2038.pcapng": make_y2038_ng,
    "two_if.pcapng": make_two_if,
    "mixed_link.pcapng": make_mixed_link,
    "multi_section.pcapng": make_multi_section,
    "truncated.pcap": make_truncated,
    "unsupported_link.pcap": make_unsupported_link,
    "malformed.pcap": make_malformed,
    "out_of_order.pcap": make_out_of_order,
    "interleave_a.pcap": lambda: make_interleave("a"),
    "interleave_b.pcap": lambda: make_interleave("b"),
    "not_a_capture.txt": lambda: NOT_A_CAPTURE.encode(),
    "wifi.pcap": make_wifi,
    "wifi_radiotap.pcap": make_wifi_radiotap,
    "ppp.pcap": make_ppp,
    "ppp_serial.pcap": make_ppp_serial,
    "c_hdlc.pcap": make_c_hdlc,
    "nflog.pcap": make_nflog,
    "tunnels.pcap": make_tunnels,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                    help="directory to write to (default: this script's directory)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a committed file differs from what this script makes")
    args = ap.parse_args()
    bad = 0
    for name, make in FILES.items():
        data = make()
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except OSError:
                same = False
            if not same:
                print("differs: %s" % path, file=sys.stderr)
                bad += 1
            continue
        with open(path, "wb") as f:
            f.write(data)
        print("wrote %s (%d bytes)" % (path, len(data)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
