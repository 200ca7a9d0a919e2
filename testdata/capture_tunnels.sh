#!/bin/sh
# Records REAL tunnel traffic between two network namespaces with tcpdump:
# vxlan_real.pcap (VXLAN, VNI 42, over IPv4) and vxlan6_real.pcap (VXLAN,
# VNI 43, over IPv6), each carrying ARP / neighbour discovery, UDP probes
# and the ICMP errors they draw (IPv4 and IPv6) between the overlay addresses. The
# outer packets are captured on the veth that joins the namespaces. Not run
# by the build or CI; after a new recording, regenerate expected/ and review
# it (testdata/README.md).
#
# The kernel decides which tunnels can be made: `ip link add ... type
# geneve / gre / gretap / ip6tnl / sit / ipip` need their modules
# (this script tries each and records those that exist: geneve_real.pcap,
# gretap_real.pcap, gre_real.pcap, sit_real.pcap, ipip_real.pcap,
# ip6tnl_real.pcap); MACsec and the rest come from
# make_tunnel_captures.py.
#
# Needs root, iproute2, tcpdump, python3.
# Usage: sh testdata/capture_tunnels.sh [OUTDIR]
set -eu
out=$(cd "${1:-$(dirname "$0")}" && pwd)
a=capdb-tun-a
b=capdb-tun-b

cleanup() {
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
}
trap cleanup EXIT

# setup: two namespaces joined by a veth pair with IPv4 and IPv6 underlay
# addresses (documentation ranges).
setup() {
    cleanup
    ip netns add "$a"
    ip netns add "$b"
    ip link add ua netns "$a" type veth peer name ub netns "$b"
    for ns in "$a" "$b"; do
        ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=0
        ip -n "$ns" link set lo up
    done
    ip -n "$a" addr add 198.51.100.1/24 dev ua
    ip -n "$b" addr add 198.51.100.2/24 dev ub
    ip -n "$a" addr add 2001:db8:f0::1/64 dev ua nodad
    ip -n "$b" addr add 2001:db8:f0::2/64 dev ub nodad
    ip -n "$a" link set ua up
    ip -n "$b" link set ub up
}

# tunnel NAME ARGS-A ARGS-B: a tunnel device t0 in each namespace, with
# overlay addresses 192.0.2.1/.2 and 2001:db8:e0::1/::2.
tunnel() {
    ip -n "$a" link add t0 $2 || return 1
    ip -n "$b" link add t0 $3 || return 1
    ip -n "$a" addr add 192.0.2.1/24 dev t0
    ip -n "$b" addr add 192.0.2.2/24 dev t0
    ip -n "$a" addr add 2001:db8:e0::1/64 dev t0 nodad
    ip -n "$b" addr add 2001:db8:e0::2/64 dev t0 nodad
    ip -n "$a" link set t0 up
    ip -n "$b" link set t0 up
}

traffic() {
    # UDP over IPv4 and IPv6 (nothing listens: the ICMP errors come back
    # through the tunnel too).
    ip netns exec "$a" python3 -c '
import socket
for fam, dst in ((socket.AF_INET, "192.0.2.2"), (socket.AF_INET6, "2001:db8:e0::2")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(2):
        s.sendto(b"capdb probe %d" % i, (dst, 9999))
    s.close()'
    sleep 0.3
}

# record FILE NAME ARGS-A ARGS-B
record() {
    file=$1; shift
    setup
    if ! tunnel "$@" 2> /dev/null; then
        echo "skipped $file: this kernel cannot make '$1'" >&2
        return 0
    fi
    ip netns exec "$a" tcpdump -U -s 256 -w "$out/$file" -i ua 2> /dev/null &
    pid=$!
    # Until tcpdump has opened the interface, nothing is recorded.
    for _ in $(seq 50); do [ -s "$out/$file" ] && break; sleep 0.1; done
    traffic
    sleep 0.5
    kill -INT "$pid"; wait "$pid" || true
    echo "wrote $out/$file"
}

record vxlan_real.pcap vxlan \
    "type vxlan id 42 local 198.51.100.1 remote 198.51.100.2 dstport 4789" \
    "type vxlan id 42 local 198.51.100.2 remote 198.51.100.1 dstport 4789"
record vxlan6_real.pcap vxlan \
    "type vxlan id 43 local 2001:db8:f0::1 remote 2001:db8:f0::2 dstport 4789" \
    "type vxlan id 43 local 2001:db8:f0::2 remote 2001:db8:f0::1 dstport 4789"
record geneve_real.pcap geneve "type geneve id 7 remote 198.51.100.2" "type geneve id 7 remote 198.51.100.1"
record gretap_real.pcap gretap "type gretap local 198.51.100.1 remote 198.51.100.2 key 5" \
    "type gretap local 198.51.100.2 remote 198.51.100.1 key 5"
record gre_real.pcap gre "type gre local 198.51.100.1 remote 198.51.100.2 key 6" \
    "type gre local 198.51.100.2 remote 198.51.100.1 key 6"
record ipip_real.pcap ipip "type ipip local 198.51.100.1 remote 198.51.100.2" \
    "type ipip local 198.51.100.2 remote 198.51.100.1"
record sit_real.pcap sit "type sit local 198.51.100.1 remote 198.51.100.2" \
    "type sit local 198.51.100.2 remote 198.51.100.1"
record ip6tnl_real.pcap ip6tnl "type ip6tnl mode any local 2001:db8:f0::1 remote 2001:db8:f0::2" \
    "type ip6tnl mode any local 2001:db8:f0::2 remote 2001:db8:f0::1"
