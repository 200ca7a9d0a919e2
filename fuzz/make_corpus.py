#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets under fuzz/corpus/<target>/.

Seeds are named seed-*; inputs that libFuzzer found and kept (merged with
fuzz/run.sh) are named by their SHA-1; regression inputs for fixed bugs are
named crash-*. Rerunning this script rewrites the seed-* files only.

  fuzz/make_corpus.py [--testdata DIR] [--capdb PATH]

Sources: every capture in testdata/ and testdata/hostile/ (decode: their
frames, with the link-type selector byte; ingest: the files themselves),
hand-written query arguments (args) and expressions (expr), and packet pages of a database that
capdb builds from testdata (page; needs --capdb or $CAPDB, else skipped).
"""

import argparse
import glob
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# fuzz_decode.cc: byte 0 < 10 selects one of these DLTs.
DECODE_LINKTYPES = [1, 113, 276, 12, 101, 228, 229, 0, 108, 14]
# LINKTYPE_ values in files → the DLT libpcap reports.
LINKTYPE_TO_DLT = {101: 12}


def frames(path):
    """(linktype, frame bytes) of each packet of a classic pcap or pcapng file, as far as it parses."""
    with open(path, "rb") as f:
        buf = f.read()
    out = []
    if len(buf) < 24:
        return out
    if buf[:4] == b"\x0a\x0d\x0d\x0a":
        e = "<" if buf[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off, links = 0, []
        while off + 12 <= len(buf):
            btype, blen = struct.unpack(e + "II", buf[off:off + 8])
            if blen < 12 or off + blen > len(buf):
                break
            body = buf[off + 8:off + blen - 4]
            if btype == 0x0A0D0D0A:
                links = []
            elif btype == 1 and len(body) >= 8:
                links.append(struct.unpack(e + "H", body[:2])[0])
            elif btype == 6 and len(body) >= 20:
                iface, _, _, caplen, _ = struct.unpack(e + "IIIII", body[:20])
                if iface < len(links):
                    out.append((links[iface], body[20:20 + caplen]))
            off += blen
        return out
    for e in "<>":
        magic = struct.unpack(e + "I", buf[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        return out
    linktype = struct.unpack(e + "I", buf[20:24])[0] & 0x0FFFFFFF
    off = 24
    while off + 16 <= len(buf):
        caplen = struct.unpack(e + "I", buf[off + 8:off + 12])[0]
        if caplen > 262144 or off + 16 + caplen > len(buf):
            break
        out.append((linktype, buf[off + 16:off + 16 + caplen]))
        off += 16 + caplen
    return out


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clear_seeds(target):
    for p in glob.glob(os.path.join(HERE, "corpus", target, "seed-*")):
        os.unlink(p)


def capture_paths(testdata):
    paths = []
    for pattern in ("*.pcap", "*.pcapng", "hostile/*.bin"):
        paths += glob.glob(os.path.join(testdata, pattern))
    return sorted(paths)


def decode_seeds(testdata):
    clear_seeds("decode")
    seen = set()
    for path in capture_paths(testdata):
        base = os.path.splitext(os.path.basename(path))[0]
        for i, (lt, frame) in enumerate(frames(path)):
            dlt = LINKTYPE_TO_DLT.get(lt, lt)
            if dlt in DECODE_LINKTYPES:
                data = bytes([DECODE_LINKTYPES.index(dlt)]) + frame
            else:
                data = bytes([10]) + struct.pack("<I", dlt) + frame
            if data in seen:
                continue
            seen.add(data)
            write("decode", "seed-%s-%03d" % (base, i), data)


def ingest_seeds(testdata):
    clear_seeds("ingest")
    for path in capture_paths(testdata):
        if os.path.getsize(path) > 64 * 1024:
            continue
        with open(path, "rb") as f:
            write("ingest", "seed-" + os.path.basename(path), f.read())


def capture_file_seeds(testdata):
    """fuzz_capture_file: every capture, offered at once (selector 0) and in
    pieces of 7 bytes (selector 6), as fuzz_capture_file.cc says."""
    clear_seeds("capture_file")
    for path in capture_paths(testdata):
        if os.path.getsize(path) > 64 * 1024:
            continue
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.basename(path)
        write("capture_file", "seed-whole-" + name, b"\x00" + data)
        write("capture_file", "seed-pieces-" + name, b"\x06" + data)


def source_seeds(testdata):
    """fuzz_source: mode 0, the start of each capture; mode 1, the first
    record of each little-endian microsecond pcap, and one pcapng enhanced
    packet block, each after its stored row (see fuzz_source.cc)."""
    clear_seeds("source")
    for path in sorted(glob.glob(os.path.join(testdata, "*.pcap*"))):
        name = os.path.basename(path)
        with open(path, "rb") as f:
            start = f.read(400)
        write("source", "seed-header-" + name, b"\x00" + start)
        if start[:4] == b"\xd4\xc3\xb2\xa1" and len(start) >= 40:
            sec, frac, incl, orig = struct.unpack("<IIII", start[24:40])
            row = struct.pack("<qII", sec * 10**9 + frac * 1000, incl, orig) + b"\x00"
            write("source", "seed-record-" + name, b"\x01\x00" + row + start[24:40 + incl])
    data = b"abcde"
    epb = struct.pack("<IIIIIII", 6, 40, 0, 0, 77, 5, 9) + data + b"\x00" * 3 + struct.pack("<I", 40)
    write("source", "seed-record-epb", b"\x01\x02" + struct.pack("<qII", 77, 5, 9) + b"\x00" + epb)


ARGS = [
    "192.0.2.1", "10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32", "2001:db8::1", "2001:db8::/32",
    "::", "::/0", "::1", "::ffff:192.0.2.1", "::ffff:192.0.2.0/120", "1:2:3:4:5:6:7:8", "fe80::1%eth0",
    "1490492402", "1490492402.5", "0", "2017-03-26T01:40:02Z", "2017-03-26 01:40:02.25+02:00",
    "2017-03-26", "1677-09-21T00:12:44Z", "2262-04-11T23:47:16.854775807Z", "1969-12-31T23:59:59.999999999Z",
    "2016-12-31T23:59:60Z", "tcp", "UDP", "icmp6", "sctp", "255", "256", "53", "65535", "65536",
    "line", "long", "json", "csv", "'; DROP TABLE captures; --", "\x1b[31mred\x1b[0m", "\xff\xfe",
]


def args_seeds():
    clear_seeds("args")
    for i, a in enumerate(ARGS):
        write("args", "seed-%02d" % i, a.encode("latin-1"))
    write("args", "seed-all", "\0".join(ARGS).encode("latin-1"))
    # Extreme timestamps in the PacketView part (bytes 16..23 are ts_ns).
    for name, ts in (("min", -2**63), ("max", 2**63 - 1), ("neg", -1)):
        write("args", "seed-ts-" + name, b"\x01" * 16 + struct.pack("<q", ts) + b"\x40\0\0\0\x3c\0\0\0" + b"\x08" * 40)


EXPRS = [
    "host 192.0.2.1", "src 10.0.0.1 or 10.0.0.2", "dst host 2001:db8::1", "src and dst net 10.0.0.0/8",
    "net 10", "net 172.16", "net 192.168.0.0 mask 255.255.0.0", "ip6 net 2001:db8::/32", "arp src host 10.0.0.1",
    "port 53", "tcp dst port 80 or 443", "udp src portrange 1-1023", "portrange 9000-8000", "sctp port 22",
    "tcp", "udp", "icmp", "icmp6", "sctp", "ip", "ip6", "arp", "ip proto 6", "ip6 proto 58", "proto \\udp",
    "less 100", "greater 1500", "not tcp and not udp", "!(tcp || udp) && icmp", "tcp or udp and port 53",
    "(host 10.0.0.1 or host 10.0.0.2) and not port 443", "port 80 or (443)", "not not not ip",
    "host 10.0.0.1 and foo", "port http", "tcp host 10.0.0.1", "ip port 80", "net 10.1.2.3/8", "(tcp", "tcp)",
    "()", "10.0.0.1", "tcp and 80", "vlan", "len < 100", "host", "src or dst", "net 2001:db8:: mask 255.0.0.0",
    "((((((((((tcp))))))))))", "host 10.0.0.1 port 80", "host ::ffff:10.0.0.1 or net ::ffff:0:0/96",
]


def expr_seeds():
    clear_seeds("expr")
    for i, e in enumerate(EXPRS):
        write("expr", "seed-%02d" % i, e.encode())
        # The same as the command line's words (NUL-separated).
        write("expr", "seed-words-%02d" % i, e.replace(" ", "\0").encode())
    # The PacketView part: bytes 0-15 (kind, addresses, protocol, ports, length).
    for kind in range(4):
        write("expr", "seed-packet-%d" % kind, bytes([kind, 10, 0, 0, 1, 10, 0, 0, 2, 6, 1, 0, 80, 1, 187, 12]) +
              b"\0host 10.0.0.1 or port 443")


FUZZ_PAGE_ID = 7 * 256 + 1  # kFuzzPageId in fuzz_page.cc
FUZZ_ADDRESS = bytes([10, 0, 0, 5])  # kFuzzAddress in fuzz_postings.cc


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), bit by bit: slow, but only for a few seeds."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def trailer(checked):
    """The 4-byte checksum trailer of a stored blob (store/format/checksum.h)."""
    return crc32c(checked).to_bytes(4, "little")


def page_seeds(testdata, capdb):
    clear_seeds("page")
    # Round-trip mode (selector 2): a few packets of 24 bytes each.
    write("page", "seed-roundtrip", b"\x02" + bytes(range(24 * 4)))
    write("page", "seed-roundtrip-extremes", b"\x02" + b"\xff" * 24 + b"\x00" * 24 + b"\x80" * 24)
    if not capdb:
        print("make_corpus: no capdb binary (--capdb or $CAPDB): page seeds from a database skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "seed.db")
        caps = [p for p in glob.glob(os.path.join(testdata, "*.pcap*"))]
        subprocess.run([capdb, "ingest", "--db", db, "--batch", "50"] + sorted(caps),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        con = sqlite3.connect(db)
        for i, (blob,) in enumerate(con.execute("SELECT data FROM pages ORDER BY id LIMIT 40")):
            # The stored trailer is the page's own id's: resealed as the
            # target's page id, so that the checked path is taken.
            data = blob[:-4]
            write("page", "seed-page-%02d" % i, b"\x00" + data + trailer(FUZZ_PAGE_ID.to_bytes(8, "little") + data))
            if shutil.which("zstd"):
                raw = subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE).stdout
                if raw:
                    write("page", "seed-raw-%02d" % i, b"\x01" + raw)
        con.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--testdata", default=os.path.join(REPO, "testdata"))
    ap.add_argument("--capdb", default=os.environ.get("CAPDB"))
    a = ap.parse_args()
    decode_seeds(a.testdata)
    ingest_seeds(a.testdata)
    capture_file_seeds(a.testdata)
    args_seeds()
    expr_seeds()
    source_seeds(a.testdata)
    page_seeds(a.testdata, a.capdb)
    for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print("%-8s %5d files" % (t, len(os.listdir(os.path.join(HERE, "corpus", t)))))


if __name__ == "__main__":
    sys.exit(main())
