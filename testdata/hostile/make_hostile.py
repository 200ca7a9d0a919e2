#!/usr/bin/env python3
"""Writes the hostile captures of testdata/hostile/ (see README.md there).

Every file is built here from scratch, deterministically: rerunning the
script rewrites identical files. Names end in .bin, not .pcap, so that the
tests that treat every testdata/*.pcap* as a well-formed capture skip them.

  testdata/hostile/make_hostile.py [OUTPUT_DIR]
"""

import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

T0 = 1_490_492_402  # 2017-03-26T01:40:02Z


def pcap_header(linktype=1, snaplen=65535, magic=0xA1B2C3D4, e="<"):
    return struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def record(sec, frac, data, wirelen=None, caplen=None, e="<"):
    caplen = len(data) if caplen is None else caplen
    wirelen = len(data) if wirelen is None else wirelen
    return struct.pack(e + "IIII", sec & 0xFFFFFFFF, frac, caplen, wirelen) + data


def udp_frame(n, payload=b"hostile"):
    """Ethernet + IPv4 + UDP 10.0.0.1:1000+n -> 10.0.0.2:53."""
    udp = struct.pack(">HHHH", 1000 + n, 53, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + ip + udp


def good_packets(n):
    return b"".join(record(T0 + i, i, udp_frame(i)) for i in range(n))


# --- pcapng ---------------------------------------------------------------

def ng_block(btype, body):
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def ng_option(code, value):
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def ng_shb():
    return ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def ng_idb(linktype=1, snaplen=0, options=b""):
    if options:
        options += ng_option(0, b"")
    return ng_block(1, struct.pack("<HHI", linktype, 0, snaplen) + options)


def ng_epb(units, data, iface=0, wirelen=None):
    wirelen = len(data) if wirelen is None else wirelen
    return ng_block(6, struct.pack("<IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), wirelen) + data)


def ng_epb_us(sec, usec, data, iface=0):
    return ng_epb(sec * 1_000_000 + usec, data, iface)


# --- the files ------------------------------------------------------------

def files():
    out = {}
    out["empty.bin"] = b""
    out["header_only.bin"] = pcap_header()
    out["truncated_header.bin"] = pcap_header()[:13]
    out["truncated_record.bin"] = pcap_header() + good_packets(3) + \
        struct.pack("<IIII", T0 + 9, 0, 100, 100) + b"\xab" * 10
    out["truncated_record_header.bin"] = pcap_header() + good_packets(3) + struct.pack("<II", T0 + 9, 0)
    # Record caplen 100 in a file whose header says snaplen 64 (libpcap
    # accepts it: caplen is only rejected above its own maximum).
    out["caplen_gt_snaplen.bin"] = pcap_header(snaplen=64) + good_packets(1) + \
        record(T0 + 1, 0, udp_frame(1, b"x" * 58)) + good_packets(1)
    # caplen 80 > wirelen 60.
    out["caplen_gt_wirelen.bin"] = pcap_header() + record(T0, 0, udp_frame(0, b"y" * 38), wirelen=60) + \
        good_packets(1)
    # caplen 0xffffffff after two good packets: must not allocate 4 GB.
    out["caplen_4g.bin"] = pcap_header() + good_packets(2) + \
        struct.pack("<IIII", T0 + 5, 0, 0xFFFFFFFF, 0xFFFFFFFF) + b"\0" * 64
    # Header snaplen 0xffffffff (libpcap clamps it) and a normal packet.
    out["snaplen_4g.bin"] = pcap_header(snaplen=0xFFFFFFFF) + good_packets(2)
    # Classic pcap seconds are read by libpcap as signed 32-bit: 0xfffffff0
    # is 16 s before 1970, 0x80000000 is 1901-12-13.
    out["ts_before_1970.bin"] = pcap_header() + record(-16, 250_000, udp_frame(0)) + \
        record(-(2**31), 0, udp_frame(1)) + record(0, 0, udp_frame(2))
    # pcapng: 64-bit timestamps. After 2100 (2200-01-01), the largest value
    # (saturates capdb's int64 nanoseconds at 2262), and before 1970 through
    # a negative if_tsoffset (-10^9 s: 1938).
    y2200 = 7_258_118_400
    out["ts_after_2100.bin"] = ng_shb() + ng_idb() + ng_epb_us(y2200, 1, udp_frame(0)) + \
        ng_epb(2**64 - 1, udp_frame(1)) + ng_epb_us(T0, 0, udp_frame(2))
    out["ts_before_1970_ng.bin"] = ng_shb() + ng_idb(options=ng_option(14, struct.pack("<q", -10**9))) + \
        ng_epb_us(T0, 0, udp_frame(0)) + ng_epb_us(0, 0, udp_frame(1))
    # Zero-length packets: caplen 0 with wirelen 0 and with wirelen 60.
    out["zero_length.bin"] = pcap_header() + record(T0, 0, b"", wirelen=0) + record(T0, 1, b"", wirelen=60) + \
        good_packets(1)
    # pcapng with unknown and custom block types around the packets.
    out["ng_unknown_blocks.bin"] = ng_shb() + ng_block(0x0BAD, b"unknown block") + ng_idb() + \
        ng_block(0x40000BAD, b"reserved local type") + ng_epb_us(T0, 0, udp_frame(0)) + \
        ng_block(0x00000BAD, b"") + ng_block(0x00000BAE, b"\xff" * 100) + ng_epb_us(T0, 1, udp_frame(1)) + \
        ng_block(5, struct.pack("<III", 0, 0, 0)) + ng_epb_us(T0, 2, udp_frame(2))
    # A block whose length is not a multiple of 4 and below the minimum.
    out["ng_bad_block_length.bin"] = ng_shb() + ng_idb() + ng_epb_us(T0, 0, udp_frame(0)) + \
        struct.pack("<II", 6, 7) + b"\0" * 32
    # A block that claims 4 GB.
    out["ng_huge_block_length.bin"] = ng_shb() + ng_idb() + ng_epb_us(T0, 0, udp_frame(0)) + \
        struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 64
    # Trailing and leading block lengths that disagree.
    epb = bytearray(ng_epb_us(T0, 1, udp_frame(1)))
    epb[-4:] = struct.pack("<I", len(epb) + 8)
    out["ng_length_mismatch.bin"] = ng_shb() + ng_idb() + ng_epb_us(T0, 0, udp_frame(0)) + bytes(epb)
    # A packet on interface 3 when only interface 0 was declared.
    out["ng_undeclared_interface.bin"] = ng_shb() + ng_idb() + ng_epb_us(T0, 0, udp_frame(0)) + \
        ng_epb_us(T0, 1, udp_frame(1), iface=3)
    # A packet before any interface.
    out["ng_packet_before_idb.bin"] = ng_shb() + ng_epb_us(T0, 0, udp_frame(0)) + ng_idb()
    # Section header only.
    out["ng_shb_only.bin"] = ng_shb()
    # caplen in an EPB larger than the block.
    bad = bytearray(ng_epb_us(T0, 1, udp_frame(1)))
    bad[20:24] = struct.pack("<I", 5000)
    out["ng_caplen_beyond_block.bin"] = ng_shb() + ng_idb() + ng_epb_us(T0, 0, udp_frame(0)) + bytes(bad)
    # Compressed capture: refused with advice to decompress.
    out["gzip.bin"] = gzip.compress(pcap_header() + good_packets(3), mtime=0)
    # Not a capture at all.
    out["text.bin"] = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    out["zero_magic.bin"] = b"\0" * 4096
    # An unsupported link type (DLT_IEEE802_15_4_WITHFCS, 195): stored undecoded.
    out["unsupported_link.bin"] = pcap_header(linktype=195) + good_packets(2)  # IEEE 802.15.4
    # Big-endian nanosecond file with a truncated last record.
    out["big_endian_truncated.bin"] = pcap_header(magic=0xA1B23C4D, e=">") + \
        b"".join(record(T0 + i, i, udp_frame(i), e=">") for i in range(2)) + struct.pack(">IIII", T0, 0, 60, 60)
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else HERE
    for name, data in sorted(files().items()):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    print("wrote %d files to %s" % (len(files()), outdir))


if __name__ == "__main__":
    main()
