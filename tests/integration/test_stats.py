"""capdb stats and capdb flows against capinfos and tshark, on captures of
testdata and on one generated with scapy (IPv4 and IPv6, TCP, UDP, ICMP,
ARP, IPv4 and IPv6 fragments, a gap of three seconds):

  * totals (packets, first and last time) equal capinfos; bytes (wire
    lengths) equal the sum of tshark's frame.len (capinfos sums captured
    lengths);
  * every endpoint (packets, bytes) and the endpoint count equal
    `tshark -q -z endpoints,ip` and `endpoints,ipv6`;
  * the histogram equals `tshark -q -z io,stat,INTERVAL`;
  * flows' packets and bytes per direction equal `tshark -q -z conv,tcp` and
    `conv,udp` with defragmentation off (capdb does not reassemble: a first
    fragment counts in its 5-tuple's flow, later ones in the flow of the
    address pair and protocol);
  * the terminal chart at widths 40, 80 and 200 (golden files), without
    escape codes when stdout is not a terminal, with them on a terminal;
  * the SVG is well-formed XML and, where Chromium is installed, renders to
    a picture that is not blank;
  * every filter option, alone and combined, gives stats and flows exactly
    the packets `capdb query` gives.

CAPDB_REGEN=1 rewrites the golden files.
"""

import csv
import io
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402

TSHARK = shutil.which("tshark")
CAPINFOS = shutil.which("capinfos")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REAL = ["lo_real.pcap", "any_real.pcap", "ipv4_frag.pcap", "ipv6_ext.pcap", "eth_vlan.pcap", "two_if.pcapng",
        "ipv4only.pcap", "ipv6only.pcap"]
T0 = 1700000000
NO_DEFRAG = ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE"]


def make_mixed_pcap(path):
    """A deterministic capture of a few hundred packets: see the module doc."""
    try:
        from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, IPv6, IPv6ExtHdrFragment, Raw, fragment, fragment6, wrpcap
    except ImportError:
        lib.skip("python3-scapy is not installed")
    import random
    rnd = random.Random(7)
    pkts = []

    def add(p, t):
        p.time = t
        pkts.append(p)

    def eth():
        return Ether(src="00:00:5e:00:53:01", dst="00:00:5e:00:53:02")

    hosts = ["10.0.0.%d" % i for i in range(1, 9)]
    for sec in [0, 1, 2, 3, 7, 8, 9]:  # nothing in seconds 4, 5 and 6
        for k in range(30):
            t = T0 + sec + k / 30.0 + rnd.random() / 100
            a, b = rnd.sample(hosts, 2)
            r = rnd.random()
            if r < 0.5:
                sp = 40000 + rnd.randrange(5)
                add(eth() / IP(src=a, dst=b) / TCP(sport=sp, dport=443, flags="PA") / Raw(b"x" * rnd.randrange(600)), t)
                if rnd.random() < 0.6:
                    add(eth() / IP(src=b, dst=a) / TCP(sport=443, dport=sp, flags="A") / Raw(b"y" * rnd.randrange(300)),
                        t + 0.001)
            elif r < 0.75:
                add(eth() / IP(src=a, dst=b) / UDP(sport=5353, dport=53) / Raw(b"q" * rnd.randrange(10, 200)), t)
            elif r < 0.85:
                src = "2001:db8::%d" % rnd.randrange(1, 4)
                add(eth() / IPv6(src=src, dst="2001:db8::a") / TCP(sport=50000, dport=80) / Raw(b"z" * rnd.randrange(400)), t)
                add(eth() / IPv6(src="2001:db8::a", dst=src) / TCP(sport=80, dport=50000) / Raw(b"w" * rnd.randrange(900)),
                    t + 0.002)
            elif r < 0.92:
                add(eth() / IPv6(src="2001:db8::a", dst="2001:db8::%d" % rnd.randrange(1, 4)) / UDP(sport=123, dport=123)
                    / Raw(b"n" * 48), t)
            elif r < 0.96:
                add(eth() / IP(src=a, dst=b) / ICMP() / Raw(b"p" * 56), t)
            else:
                add(Ether(src="00:00:5e:00:53:01", dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=a, pdst=b), t)
    big = IP(src="10.0.0.1", dst="10.0.0.2", id=77) / UDP(sport=7000, dport=7001) / Raw(b"F" * 3000)
    for i, f in enumerate(fragment(big, fragsize=1000)):
        add(eth() / f, T0 + 8.5 + i * 0.001)
    big6 = IPv6(src="2001:db8::1", dst="2001:db8::a") / IPv6ExtHdrFragment(id=5) / UDP(sport=7002, dport=7003) / Raw(b"G" * 2500)
    for i, f in enumerate(fragment6(big6, 1280)):
        add(eth() / f, T0 + 8.6 + i * 0.001)
    pkts.sort(key=lambda p: p.time)
    wrpcap(path, pkts)


@pytest.fixture(scope="module")
def work():
    with lib.TempDir() as d:
        yield d


@pytest.fixture(scope="module")
def mixed(work):
    path = os.path.join(work, "mixed.pcap")
    make_mixed_pcap(path)
    return path


def capture_path(name, mixed):
    return mixed if name == "mixed" else os.path.join(lib.testdata_dir(), name)


def fresh_db(work, path):
    db = os.path.join(work, os.path.basename(path) + ".db")
    problems = lib.ingest_fresh(path, db)
    assert not problems, problems
    return db


def capdb_ok(args):
    r = lib.run(args)
    assert r.returncode == 0, r
    return r.stdout


def stats_json(db, *args):
    top = [] if "--top" in args else ["--top", "100000"]
    return json.loads(capdb_ok(["stats", "--db", db, "--format", "json"] + top + list(args)))


def tshark(args):
    if not TSHARK:
        pytest.skip("tshark is not installed")
    r = subprocess.run([TSHARK] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=120)
    assert r.returncode == 0, args
    return r.stdout


CAPTURES = REAL + ["mixed"]
# two_if.pcapng has a packet without a time (a Simple Packet Block: capdb
# says 0, tshark leaves it out of its times).
TIMED = [c for c in CAPTURES if c != "two_if.pcapng"]


@pytest.mark.parametrize("name", TIMED)
def test_totals_equal_capinfos(name, work, mixed):
    if not CAPINFOS:
        pytest.skip("capinfos is not installed")
    path = capture_path(name, mixed)
    db = fresh_db(work, path)
    s = stats_json(db)
    out = subprocess.run([CAPINFOS, "-T", "-r", "-S", "-c", "-a", "-e", path], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    fields = out.strip().split("\t")
    packets, start, end = int(fields[1]), fields[2], fields[3]
    assert s["packets"] == packets
    assert s["captures"] == 1

    def ns(text):  # capinfos -S: seconds with a microsecond or nanosecond fraction
        whole, _, frac = text.partition(".")
        return int(whole) * 10**9 + int((frac + "000000000")[:9])

    if "n/a" in (start, end):  # capinfos gives no times for some pcapng files: tshark's
        times = [ns(t) for t in tshark(["-r", path, "-T", "fields", "-e", "frame.time_epoch"]).split()]
        start_ns, end_ns = min(times), max(times)
    else:
        start_ns, end_ns = ns(start), ns(end)
    assert s["first_ns"] == start_ns
    assert s["last_ns"] == end_ns
    wire = sum(int(x) for x in tshark(["-r", path, "-T", "fields", "-e", "frame.len"]).split())
    assert s["bytes"] == wire
    assert sum(s["histogram"]["packets"]) == packets
    assert sum(s["histogram"]["bytes"]) == wire


def parse_endpoints(text):
    """tshark -z endpoints,ip(v6): {address: (packets, bytes)}."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+\d+\s*$", line)
        if m and (":" in m.group(1) or "." in m.group(1)):
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


# Captures whose IP-in-IP packets tshark counts for the inner addresses too;
# capdb summarises a packet by one header (see DESIGN.md, "Stats and flows").
ENDPOINT_EXCEPTIONS = {"ipv6_ext.pcap"}


@pytest.mark.parametrize("name", CAPTURES)
def test_endpoints_equal_tshark(name, work, mixed):
    if name in ENDPOINT_EXCEPTIONS:
        pytest.skip("tunnelled packets: tshark counts both headers' addresses")
    path = capture_path(name, mixed)
    db = fresh_db(work, path)
    s = stats_json(db)
    want = parse_endpoints(tshark(["-q", "-r", path] + NO_DEFRAG + ["-z", "endpoints,ip", "-z", "endpoints,ipv6"]))
    # tshark's endpoints,ipv6 leaves out IPv6 fragments after the first;
    # capdb counts every IP packet for its addresses. Add them from tshark's
    # own dissection.
    for line in tshark(["-r", path] + NO_DEFRAG + ["-Y", "ipv6.fraghdr.offset > 0", "-T", "fields", "-e", "ipv6.src",
                                                   "-e", "ipv6.dst", "-e", "frame.len"]).splitlines():
        src, dst, length = line.split("\t")
        for a in (src.split(",")[0], dst.split(",")[0]):
            n, b = want.get(a, (0, 0))
            want[a] = (n + 1, b + int(length))
    got = {e["address"]: (e["packets"], e["bytes"]) for e in s["top_talkers_by_packets"]}
    assert got == want
    assert s["endpoints"] == len(want)
    # The top tables are in order, and --top cuts them.
    top = stats_json(db, "--top", "3")
    assert [e["address"] for e in top["top_talkers_by_packets"]] == [e["address"] for e in s["top_talkers_by_packets"][:3]]
    by_packets = [(-e["packets"], -e["bytes"]) for e in s["top_talkers_by_packets"]]
    assert by_packets == sorted(by_packets)
    by_bytes = [(-e["bytes"], -e["packets"]) for e in s["top_talkers_by_bytes"]]
    assert by_bytes == sorted(by_bytes)


def parse_io_stat(text):
    """tshark -z io,stat,I: [(start, frames, bytes)] in order."""
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\|\s*([\d.]+)\s*<>\s*([\d.]+|Dur)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", line)
        if m:
            rows.append((float(m.group(1)), int(m.group(3)), int(m.group(4))))
    return rows


@pytest.mark.parametrize("name,interval", [("mixed", "1"), ("mixed", "0.25"), ("mixed", "3"), ("lo_real.pcap", "0.1"),
                                           ("any_real.pcap", "1"), ("ipv4_frag.pcap", "0.01"),
                                           ("ipv6_ext.pcap", "0.02")])
def test_histogram_equals_io_stat(name, interval, work, mixed):
    path = capture_path(name, mixed)
    db = fresh_db(work, path)
    s = stats_json(db, "--interval", interval)
    h = s["histogram"]
    assert h["interval_ns"] == round(float(interval) * 1e9)
    assert h["origin_ns"] == s["first_ns"]  # buckets start at the first packet, as tshark's do
    rows = parse_io_stat(tshark(["-q", "-r", path, "-z", "io,stat," + interval]))
    assert rows, "no io,stat rows"
    got = list(zip(h["packets"], h["bytes"]))
    want = [(f, b) for _, f, b in rows]
    # tshark 4.0 leaves out a last interval that begins exactly at the last
    # packet; capdb shows it. Everything tshark shows must be equal.
    assert got[:len(want)] == want
    assert len(got) - len(want) in (0, 1)
    assert sum(h["packets"]) == s["packets"]


def parse_conv(text):
    """tshark -z conv,tcp/udp: {(A, B): (frames B->A, bytes, frames A->B, bytes)}; A and B are "addr:port"."""
    out = {}
    units = {"bytes": 1, "kB": 1000, "MB": 1000**2}
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+)\s+(bytes|kB|MB)\s+(\d+)\s+(\d+)\s+(bytes|kB|MB)\s", line)
        if m:
            out[(m.group(1), m.group(2))] = (int(m.group(3)), int(m.group(4)) * units[m.group(5)], m.group(5),
                                             int(m.group(6)), int(m.group(7)) * units[m.group(8)], m.group(8))
    return out


def split_endpoint(text):
    addr, _, port = text.rpartition(":")
    return addr.strip("[]"), int(port)


ROUTED = {"ipv6_ext.pcap": {"2001:db8::99:8080": "2001:db8::2:8080"}}
def flows_csv(db, *args):
    rows = list(csv.DictReader(io.StringIO(capdb_ok(["flows", "--db", db, "--format", "csv"] + list(args)))))
    return rows


def close(got, want, unit):
    """tshark rounds bytes past 9999 to kB."""
    return got == want if unit == "bytes" else abs(got - want) < 1000 if unit == "kB" else abs(got - want) < 1000**2


@pytest.mark.parametrize("name", CAPTURES)
def test_flows_equal_tshark_conv(name, work, mixed):
    path = capture_path(name, mixed)
    db = fresh_db(work, path)
    rows = flows_csv(db)
    total = stats_json(db, "--no-top")
    assert sum(int(r["packets"]) for r in rows) == total["packets"]
    assert sum(int(r["bytes"]) for r in rows) == total["bytes"]
    for proto in ("tcp", "udp"):
        want = parse_conv(tshark(["-q", "-r", path] + NO_DEFRAG + ["-z", "conv," + proto]))
        # An IPv6 routing header: tshark's conversations use its final
        # destination, capdb the IPv6 header's destination. (IPv6 in IPv6:
        # both use the inner header and ports.)
        renames = ROUTED.get(name, {})
        want = {tuple(renames.get(e, e) for e in k): v for k, v in want.items()}
        got = {}
        for r in rows:
            if r["proto"] == proto.upper() and r["sport"]:
                got[((r["src"], int(r["sport"])), (r["dst"], int(r["dport"])))] = r
        assert len(got) == len(want), (proto, sorted(got), sorted(want))
        for (a, b), (ba_frames, ba_bytes, ba_unit, ab_frames, ab_bytes, ab_unit) in want.items():
            ka, kb = split_endpoint(a), split_endpoint(b)
            r = got.get((ka, kb))
            if r is None:  # tshark's A is not always the first sender
                r = got[(kb, ka)]
                ab_frames, ab_bytes, ab_unit, ba_frames, ba_bytes, ba_unit = (ba_frames, ba_bytes, ba_unit, ab_frames,
                                                                              ab_bytes, ab_unit)
            assert int(r["src_packets"]) == ab_frames, (a, b, r)
            assert int(r["dst_packets"]) == ba_frames, (a, b, r)
            assert close(int(r["src_bytes"]), ab_bytes, ab_unit), (a, b, r)
            assert close(int(r["dst_bytes"]), ba_bytes, ba_unit), (a, b, r)


@pytest.mark.parametrize("name", CAPTURES)
def test_flow_tcp_flags_equal_tshark(name, work, mixed):
    """SYN, FIN and RST seen in a TCP flow, from tshark's tcp.flags of its packets."""
    path = capture_path(name, mixed)
    db = fresh_db(work, path)
    want = {}
    out = tshark(["-r", path] + NO_DEFRAG + ["-Y", "tcp and not icmp and not icmpv6", "-T", "fields",
                                             "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
                                             "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.flags"])
    for line in out.splitlines():
        f = line.split("\t")
        if len(f) < 7 or "," in line or not f[6]:  # tunnelled: several headers of a kind
            continue
        a = (f[0] or f[1], int(f[2]))
        b = (f[3] or f[4], int(f[5]))
        key = (min(a, b), max(a, b))
        want[key] = want.get(key, 0) | int(f[6], 16)
    got = {}
    for r in flows_csv(db):
        if r["proto"] == "TCP" and r["sport"]:
            a, b = (r["src"], int(r["sport"])), (r["dst"], int(r["dport"]))
            got[(min(a, b), max(a, b))] = r["tcp_flags"]
    if not want:
        pytest.skip("no TCP in " + name)
    checked = 0
    for key, flags in want.items():
        if key not in got:  # tshark's routed IPv6 destination, tunnels (see above)
            continue
        letters = "".join(c for bit, c in ((0x02, "S"), (0x01, "F"), (0x04, "R")) if flags & bit) or "-"
        assert got[key] == letters, (key, got[key], letters)
        checked += 1
    assert checked >= len(want) * 0.9, (checked, len(want))


def test_flows_sort_limit_and_formats(work, mixed):
    db = fresh_db(work, mixed)
    rows = flows_csv(db)
    key = {"bytes": lambda r: -int(r["bytes"]), "packets": lambda r: -int(r["packets"]),
           "start": lambda r: r["start"], "duration": lambda r: -float(r["duration"])}
    for sort, k in key.items():
        got = flows_csv(db, "--sort", sort)
        assert [k(r) for r in got] == sorted(k(r) for r in got), sort
        assert len(got) == len(rows)
        assert flows_csv(db, "--sort", sort, "--limit", "5") == got[:5]
    js = [json.loads(line) for line in capdb_ok(["flows", "--db", db, "--format", "json"]).splitlines()]
    assert [(j["packets"], j["bytes"]) for j in js] == [(int(r["packets"]), int(r["bytes"])) for r in rows]
    lines = capdb_ok(["flows", "--db", db]).splitlines()
    assert lines[0].split()[:3] == ["START", "DURATION", "PROTO"] and len(lines) == len(rows) + 1
    # Fragments: the first carries the ports (the 5-tuple's flow); the others
    # form the flow of the address pair and protocol.
    frag = [r for r in rows if r["src"] == "10.0.0.1" and r["dst"] == "10.0.0.2" and r["proto"] == "UDP"]
    assert sorted((r["sport"], r["packets"]) for r in frag) == [("", "3"), ("7000", "1")]
    frag6 = [r for r in rows if r["src"] == "2001:db8::1" and r["dst"] == "2001:db8::a" and r["proto"] == "UDP"]
    assert sorted((r["sport"], r["packets"]) for r in frag6) == [("", "2"), ("7002", "1")]
    # ARP: by sender and target address pair.
    arp = [r for r in rows if r["proto"] == "ARP"]
    assert len(arp) > 1 and all(r["src"].startswith("10.0.0.") and r["dst"].startswith("10.0.0.") for r in arp)
    assert sum(int(r["packets"]) for r in arp) == stats_json(db)["protocols"]["ethertypes"][0]["packets"]
    assert len({(r["src"], r["dst"]) for r in arp} | {(r["dst"], r["src"]) for r in arp}) == 2 * len(arp)


def test_usage_errors(work, mixed):
    db = fresh_db(work, mixed)
    for args, text in [(["stats", "--interval", "fast"], "--interval: 'fast' is not an interval"),
                       (["stats", "--interval", "1us"], "intervals over"),
                       (["stats", "--format", "xml"], "--format: unknown format 'xml'"),
                       (["stats", "--width", "20"], "--width must be at least 40"),
                       (["stats", "--top", "-1"], "--top must be 0 or more"),
                       (["stats", "--plot", ""], "--plot: the file name is empty"),
                       (["flows", "--sort", "size"], "--sort: unknown key 'size'"),
                       (["flows", "--format", "long"], "--format: unknown format 'long'"),
                       (["flows", "--limit", "-2"], "--limit must be 0 or more"),
                       (["stats", "--capture", "9"], "--capture 9: no such capture"),
                       (["flows", "--capture", "9"], "--capture 9: no such capture"),
                       (["stats", "tcp", "port", "http"], "'http' is not a port number"),
                       (["flows", "host", "10.0.0.1", "or"], "expression: "),
                       (["flows", "--port", "http"], "--port: 'http' is not a port number")]:
        r = lib.run(args + ["--db", db])
        assert r.returncode == lib.EXIT_USAGE, r
        assert text in r.stderr, r
        if "expression: " in r.stderr:
            # One error line, then the expression and a caret line under the word.
            lines = r.stderr.splitlines()
            assert len(lines) == 3 and lines[0].startswith("capdb: error: expression: ") and "^" in lines[2], r
        else:
            assert r.stderr.count("\n") == 1, r
    r = lib.run(["stats", "--db", db, "--plot", os.path.join(work, "no", "such", "dir.svg")])
    assert r.returncode == lib.EXIT_INPUT, r
    assert "--plot: cannot write" in r.stderr and "dir.svg" in r.stderr, r


# --- Charts -------------------------------------------------------------

def golden(name, text):
    path = os.path.join(lib.expected_dir(), name)
    if os.environ.get("CAPDB_REGEN"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    with open(path, encoding="utf-8") as f:
        assert text == f.read(), "%s differs (CAPDB_REGEN=1 rewrites it)" % name


@pytest.mark.parametrize("width", [40, 80, 200])
def test_terminal_chart_golden(width, work, mixed):
    db = fresh_db(work, mixed)
    out = capdb_ok(["stats", "--db", db, "--width", str(width), "--top", "5"])
    assert "\x1b" not in out
    charts = out[out.index("Packets per"):out.index("Network layer")]
    for line in charts.splitlines():
        assert len(line) <= width, line
    golden("stats_mixed_w%d.txt" % width, out)
    # Seconds 4 to 6 are empty: three blank columns between bars.
    if width == 200:
        chart = out[out.index("Packets per"):out.index("Bytes per")]
        assert "Packets per 100ms" in chart
        row = [line for line in chart.splitlines() if "┤" in line or "│" in line][-1]
        bars = row[row.index("│") + 1:]
        assert bars[40:70].strip() == "" and bars[35:40].strip() and bars[70:75].strip()


def test_terminal_colours_only_on_a_terminal(work, mixed):
    db = fresh_db(work, mixed)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(lib.capdb_path(), [lib.capdb_path(), "stats", "--db", db], lib.clean_env())
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"\x1b[" in out
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(lib.capdb_path(), [lib.capdb_path(), "stats", "--db", db, "--plain"], lib.clean_env())
    plain = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        plain += chunk
    os.waitpid(pid, 0)
    assert b"\x1b" not in plain and b"Packets per" in plain


def png_pixels(path):
    """(width, height, rows of RGB(A) byte strings) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
    assert depth == 8 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    rows, prev, stride = [], bytearray(w * bpp), w * bpp
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def test_svg_is_xml_and_renders(work, mixed):
    db = fresh_db(work, mixed)
    svg = os.path.join(work, "chart.svg")
    out = capdb_ok(["stats", "--db", db, "--plot", svg, "--interval", "250ms"])
    assert "Packets per 250ms" in out
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) > 20  # the background and the bars of both charts
    texts = "".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Packets per 250ms" in texts and "Bytes per 250ms" in texts and "2023-11-14T22:13:20Z" in texts
    if not CHROMIUM:
        pytest.skip("chromium is not installed: the SVG was checked as XML only")
    png = os.path.join(work, "chart.png")
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--screenshot=" + png, "--window-size=960,560", "file://" + svg],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0 and os.path.exists(png), r.stderr[-2000:]
    w, h, bpp, rows = png_pixels(png)
    assert (w, h) == (960, 560)
    colours = {}
    for row in rows:
        for x in range(0, w * bpp, bpp * 4):
            px = row[x:x + 3]
            colours[px] = colours.get(px, 0) + 1
    white = colours.get(b"\xff\xff\xff", 0)
    total = sum(colours.values())
    assert white < total * 0.98, "the picture is blank"
    # The bars' two colours are there.
    assert any(abs(p[0] - 0x1f) < 16 and abs(p[1] - 0x77) < 16 and abs(p[2] - 0xb4) < 16 for p in colours), "no packet bars"
    assert any(abs(p[0] - 0xff) < 16 and abs(p[1] - 0x7f) < 16 and abs(p[2] - 0x0e) < 16 for p in colours), "no byte bars"


# --- Filters ------------------------------------------------------------

FILTERS = [
    [],
    ["--from", str(T0 + 2)],
    ["--to", "2023-11-14T22:13:28Z"],
    ["--from", str(T0 + 1.5), "--to", str(T0 + 8.2)],
    ["--src", "10.0.0.1"],
    ["--dst", "10.0.0.0/30"],
    ["--host", "2001:db8::a"],
    ["--host", "10.0.0.3", "--proto", "tcp"],
    ["--port", "443"],
    ["--sport", "443"],
    ["--dport", "53"],
    ["--proto", "udp"],
    ["--proto", "icmp"],
    ["--capture", "2"],
    ["--capture", "1", "--host", "10.0.0.2", "--dport", "443", "--from", str(T0 + 1)],
    ["--last", "1000w", "--proto", "tcp"],
    ["--from", "now-1000w", "--to", "2023-11-14T22:13:25"],
    # Expressions in tcpdump's syntax, alone and with the flags.
    ["host", "10.0.0.1", "or", "udp"],
    ["not", "port", "443", "and", "ip6"],
    ["--capture", "1", "tcp", "port", "443", "or", "icmp"],
    ["(", "src", "net", "10.0.0.0/30", "or", "dst", "host", "::1", ")", "and", "greater", "100"],
]


@pytest.fixture(scope="module")
def two_captures(work, mixed):
    db = os.path.join(work, "two.db")
    for path in (mixed, os.path.join(lib.testdata_dir(), "lo_real.pcap")):
        r = lib.run(["ingest", "--db", db, path])
        assert r.returncode == 0, r
    return db


@pytest.mark.parametrize("flt", FILTERS, ids=lambda f: " ".join(f) or "none")
def test_every_filter_with_both_commands(flt, two_captures):
    db = two_captures
    rows = list(csv.DictReader(io.StringIO(capdb_ok(["query", "--db", db, "--format", "csv"] + flt))))
    s = stats_json(db, *flt)
    assert s["packets"] == len(rows)
    assert s["bytes"] == sum(int(r["wirelen"]) for r in rows)
    # The flows, computed here from query's rows.
    want = {}
    for r in rows:
        if r["src"]:
            sp, dp = r["sport"], r["dport"]
            a, b = (r["src"], sp), (r["dst"], dp)
            key = (r["proto"],) + tuple(sorted([a, b], key=lambda e: (e[0], e[1])))
        else:
            key = ("non-ip",)
        want[key] = want.get(key, 0) + int(r["wirelen"])
    flows = flows_csv(db, *flt)
    assert sum(int(f["packets"]) for f in flows) == len(rows)
    ip_flows = [f for f in flows if f["src"] and f["proto"] != "ARP"]
    assert sorted(int(f["bytes"]) for f in ip_flows) == sorted(v for k, v in want.items() if k != ("non-ip",))
    assert len(ip_flows) == len([k for k in want if k != ("non-ip",)])
    assert sum(int(f["bytes"]) for f in flows if f not in ip_flows) == want.get(("non-ip",), 0)


def test_nothing_matches(two_captures):
    db = two_captures
    out = capdb_ok(["stats", "--db", db, "--from", "2030-01-01"])
    assert "0 packets" in out and "No packets match." in out and "Packets per" not in out
    s = stats_json(db, "--from", "2030-01-01")
    assert (s["packets"], s["bytes"], s["first_ns"], s["endpoints"]) == (0, 0, None, 0)
    assert sum(s["histogram"]["packets"]) == 0
    assert capdb_ok(["flows", "--db", db, "--from", "2030-01-01", "--format", "csv"]).splitlines() == [
        "start,end,duration,proto,src,sport,dst,dport,packets,bytes,src_packets,src_bytes,dst_packets,dst_bytes,tcp_flags"]
    assert capdb_ok(["flows", "--db", db, "--from", "2030-01-01", "--format", "json"]) == ""
