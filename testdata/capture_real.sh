#!/bin/sh
# Records the REAL loopback captures lo_real.pcap, any_real.pcap and
# any_real_sll.pcap with tcpdump (see README.md). Not run by the build or CI:
# the committed files are what the tests use, and a new recording differs in
# every timestamp, sequence number and port, so expected/ must be regenerated
# and reviewed after running this.
#
# Needs root (or CAP_NET_RAW), tcpdump, ping (iputils-ping), curl, python3.
# Usage: sh testdata/capture_real.sh [OUTDIR]
set -eu
out=${1:-$(dirname "$0")}
filter='icmp or icmp6 or tcp port 8765 or udp port 9999'
www=$(mktemp -d)
trap 'rm -rf "$www"' EXIT
printf 'hello from capdb testdata\n' > "$www/hello.txt"

traffic() {
    ping -c 3 -i 0.2 127.0.0.1 > /dev/null
    ping -6 -c 3 -i 0.2 ::1 > /dev/null
    python3 -m http.server 8765 --bind 127.0.0.1 --directory "$www" > /dev/null 2>&1 &
    srv=$!
    sleep 1
    curl -s -o /dev/null http://127.0.0.1:8765/hello.txt
    kill "$srv"; wait "$srv" 2>/dev/null || true
    # Nothing listens on port 9999: each datagram draws an ICMP / ICMPv6
    # port unreachable that quotes it.
    python3 -c '
import socket
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.sendto(b"capdb udp probe", (addr, 9999))
    s.close()
'
    sleep 1
}

record() {  # record FILE tcpdump-args...
    file=$1; shift
    tcpdump -U -c 100 -w "$out/$file" "$@" "$filter" &
    pid=$!
    sleep 2
    traffic
    kill -INT "$pid"; wait "$pid" || true
}

record lo_real.pcap -i lo
record any_real.pcap -i any -y LINUX_SLL2
record any_real_sll.pcap -i any -y LINUX_SLL
