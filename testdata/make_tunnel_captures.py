#!/usr/bin/python3
"""Writes tunnels_scapy.pcap: the tunnels this machine's kernel cannot make
(capture_tunnels.sh records the real ones), built by scapy's own layers
(python3-scapy), so that their bytes come from an encoder independent of
capdb's and of make_testdata.py: GTP-U with and without a PDU session
container, Geneve, GRE with a key and with transparent Ethernet bridging,
ERSPAN types II and III, an MPLS stack over Ethernet and MPLS over UDP,
PPPoE sessions, IPv4 in IPv4, IPv6 in IPv4 and IPv4 in IPv6. Deterministic
(fixed times). Usage: /usr/bin/python3 testdata/make_tunnel_captures.py [OUTDIR]
"""

import os
import sys

from scapy.all import IP, TCP, UDP, ICMP, Ether, GRE, IPv6, Raw, wrpcap
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.contrib.mpls import MPLS
from scapy.layers.ppp import PPP, PPPoE

O4, P4 = "198.51.100.11", "198.51.100.12"  # tunnel endpoints
O6, P6 = "2001:db8:f1::1", "2001:db8:f1::2"


def eth():
    return Ether(src="00:00:5e:00:53:01", dst="00:00:5e:00:53:02")


def inner4(n):
    a, b = "203.0.113.%d" % (10 + 2 * n), "203.0.113.%d" % (11 + 2 * n)
    return IP(src=a, dst=b) / TCP(sport=45000 + n, dport=443, flags="S")


def inner6(n):
    return IPv6(src="2001:db8:2%02x::1" % n, dst="2001:db8:2%02x::2" % n) / UDP(sport=46000 + n, dport=53) / Raw(b"q")


def packets():
    return [
        eth() / IP(src=O4, dst=P4) / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x2000001) / inner4(0),
        eth() / IP(src=O4, dst=P4) / UDP(sport=2152, dport=2152)
        / GTP_U_Header(teid=0x2000002, E=1, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9) / inner6(1),
        eth() / IP(src=O4, dst=P4) / UDP(sport=51000, dport=6081) / GENEVE(vni=88, proto=0x6558) / eth() / inner4(2),
        eth() / IP(src=O4, dst=P4) / GRE(key_present=1, key=0x77) / inner4(3),
        eth() / IPv6(src=O6, dst=P6) / GRE(proto=0x6558, seqnum_present=1, seqence_number=4) / eth() / inner6(4),
        eth() / IP(src=O4, dst=P4) / GRE(seqnum_present=1, seqence_number=5, proto=0x88BE)
        / ERSPAN_II(ver=1, session_id=55, vlan=0) / eth() / inner4(5),
        eth() / IP(src=O4, dst=P4) / GRE(seqnum_present=1, seqence_number=6, proto=0x22EB)
        / ERSPAN_III(session_id=56, vlan=0) / eth() / inner4(6),
        eth() / MPLS(label=100, s=0) / MPLS(label=200, s=1) / inner4(7),
        eth() / IP(src=O4, dst=P4) / UDP(sport=52000, dport=6635) / MPLS(label=300, s=1) / inner6(8),
        eth() / PPPoE(sessionid=0x0a0a) / PPP(proto=0x0021) / inner4(9),
        eth() / PPPoE(sessionid=0x0a0b) / PPP(proto=0x0057) / inner6(10),
        eth() / IP(src=O4, dst=P4) / inner4(11),
        eth() / IP(src=O4, dst=P4) / inner6(12),
        eth() / IPv6(src=O6, dst=P6) / inner4(13),
        eth() / IP(src=O4, dst=P4) / ICMP(),  # no tunnel: the endpoints talk directly
    ]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    pkts = packets()
    for i, p in enumerate(pkts):
        p.time = 1541000000 + i / 1000
    path = os.path.join(out, "tunnels_scapy.pcap")
    wrpcap(path, pkts)
    print("wrote %s (%d packets)" % (path, len(pkts)))


if __name__ == "__main__":
    main()
