"""Compares capdb's per-packet decoding with tshark's, for every capture
under testdata (*.pcap, *.pcapng, recursively).

For each capture: ingest into a fresh database, export with
`capdb query --format csv`, dissect with tshark (defragmentation and TCP
reassembly off), and compare packet by packet (matched on capdb's `packet`
column = tshark's frame.number):

  * the number of packets;
  * wire length, captured length and timestamp (ns) of every packet;
  * for every packet in which tshark finds IPv4 or IPv6: the INNERMOST
    header's source and destination (the last IP header of a tunnelled
    packet, not one quoted inside an ICMP error), the protocol (for IPv6
    the upper-layer protocol after the extension headers), and the ports
    when that header's transport is TCP, UDP, UDP-Lite or SCTP (tshark shows
    ports only on first fragments when defragmentation is off);
  * for a packet with several IP headers, the OUTERMOST header's source and
    destination (the tunnel's endpoints) against capdb's outer_src and
    outer_dst, when its output has them.

Rows that capdb marks truncated / malformed may lack fields tshark still
shows (capdb stops at the first header it cannot trust), but whatever
they do report must agree with tshark. A row with status ok or non_ip must
carry every IP field tshark finds.

One pytest test per capture (select one with -k NAME); all are skipped
when tshark is missing.
"""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402

try:
    import pytest
except ImportError:  # test_expected.py --regen imports this module without pytest
    pytest = None

TSHARK_FIELDS = [
    "frame.number", "frame.len", "frame.cap_len", "frame.time_epoch", "frame.protocols",
    "ip.src", "ip.dst", "ip.proto",
    "ipv6.src", "ipv6.dst", "ipv6.nxt",
    "ipv6.hopopts.nxt", "ipv6.dstopts.nxt", "ipv6.routing.nxt", "ipv6.fraghdr.nxt",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "sctp.srcport", "sctp.dstport",
]
# frame.protocols names of IPv6 extension headers -> the field with their
# next-header value.
IPV6_EXT = {
    "ipv6.hopopts": "ipv6.hopopts.nxt",
    "ipv6.dstopts": "ipv6.dstopts.nxt",
    "ipv6.routing": "ipv6.routing.nxt",
    "ipv6.fraghdr": "ipv6.fraghdr.nxt",
}
# Outermost transport as tshark names it -> (srcport field, dstport field).
# UDP-Lite shares the udp.* port fields in Wireshark.
TRANSPORT_PORTS = {
    "tcp": ("tcp.srcport", "tcp.dstport"),
    "udp": ("udp.srcport", "udp.dstport"),
    "udplite": ("udp.srcport", "udp.dstport"),
    "sctp": ("sctp.srcport", "sctp.dstport"),
}
AGG = "|"


def tshark_available():
    return shutil.which("tshark") is not None


def tshark_packets(path):
    """Returns (list of dicts, one per frame, field -> list of values; error text)."""
    cmd = ["tshark", "-n", "-r", path,
           "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
           "-o", "tcp.desegment_tcp_streams:FALSE",
           "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=" + AGG]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=dict(os.environ, LC_ALL="C"), timeout=300)
    out = p.stdout.decode("utf-8", "replace")
    err = "\n".join(l for l in p.stderr.decode("utf-8", "replace").splitlines()
                    if "Running as user" not in l).strip()
    frames = []
    for line in out.splitlines():
        vals = line.split("\t")
        vals += [""] * (len(TSHARK_FIELDS) - len(vals))
        frames.append({f: (v.split(AGG) if v else []) for f, v in zip(TSHARK_FIELDS, vals)})
    return frames, p.returncode, err


def first(frame, field):
    v = frame.get(field) or []
    return v[0] if v else ""


def tshark_time_ns(text):
    if not text:
        return None
    neg = text.startswith("-")
    if neg:
        text = text[1:]
    sec, _, frac = text.partition(".")
    ns = int(sec) * 10**9 + int((frac + "000000000")[:9])
    return -ns if neg else ns


# After these, an IP header is quoted (an ICMP error), not carried.
QUOTING = ("icmp", "icmpv6")
# Tunnels as frame.protocols names them: after one, what the packet carries
# is the tunnel's payload, IP or not.
TUNNELS = ("gtp", "vxlan", "geneve", "gre", "erspan", "mpls", "pppoes", "nsh")


def ip_layers(frame):
    """Each IP layer tshark finds, outermost first, up to the first ICMP
    error (which quotes a header rather than carrying it): dicts with family,
    src, dst, proto, sport, dport (strings, "" when absent)."""
    protos = first(frame, "frame.protocols").split(":")
    queues = {f: list(frame.get(f) or []) for f in IPV6_EXT.values()}
    seen = {"ip": 0, "ipv6": 0}
    ports_seen = {}
    layers = []
    i = 0
    while i < len(protos):
        name = protos[i]
        if name in QUOTING:
            break
        if name in TRANSPORT_PORTS:
            key = TRANSPORT_PORTS[name]
            ports_seen[key] = ports_seen.get(key, 0) + 1
        if name not in ("ip", "ipv6"):
            i += 1
            continue
        k = seen[name]
        seen[name] += 1
        layer = {"family": 4 if name == "ip" else 6, "src": "", "dst": "", "proto": "", "sport": "", "dport": ""}
        pre = "ip." if name == "ip" else "ipv6."
        vals = lambda f: frame.get(f) or []  # noqa: E731
        nth = lambda f: vals(f)[k] if k < len(vals(f)) else ""  # noqa: E731
        layer["src"], layer["dst"] = nth(pre + "src"), nth(pre + "dst")
        j = i + 1
        if name == "ip":
            layer["proto"] = nth("ip.proto")
        else:
            current = nth("ipv6.nxt")
            while j < len(protos) and protos[j] in IPV6_EXT:
                q = queues[IPV6_EXT[protos[j]]]
                current = q.pop(0) if q else ""
                j += 1
            layer["proto"] = current
        after = protos[j] if j < len(protos) else None
        if after in TRANSPORT_PORTS:
            sf, df = TRANSPORT_PORTS[after]
            n = ports_seen.get((sf, df), 0)
            if n < len(vals(sf)):
                layer["sport"], layer["dport"] = vals(sf)[n], vals(df)[n]
        layer["pos"] = i
        if layer["src"]:  # else tshark gave up on the header (bogus IHL / version)
            layers.append(layer)
        i = j
    return layers, protos[:i]


def expected_from_tshark(frame):
    """What capdb must report for this tshark frame: the innermost IP layer
    as family, src, dst, proto, sport, dport (strings, "" when absent;
    family None if not IP), and the outermost as outer_src, outer_dst when
    there are several."""
    layers, protos = ip_layers(frame)
    exp = {"family": None, "src": "", "dst": "", "proto": "", "sport": "", "dport": "",
           "outer_src": "", "outer_dst": ""}
    if not layers:
        return exp
    # A tunnel after the last IP header carries something else (ARP, ...).
    carries_non_ip = any(name in TUNNELS for name in protos[layers[-1]["pos"]:])
    if not carries_non_ip:
        exp.update(layers[-1])
        del exp["pos"]
    if len(layers) > 1 or carries_non_ip:
        exp["outer_src"], exp["outer_dst"] = layers[0]["src"], layers[0]["dst"]
    return exp


def ingest_and_export(path, tmp):
    """Ingests path into a fresh db; returns (rows, problems)."""
    db = os.path.join(tmp, "cmp.db")
    problems = lib.ingest_fresh(path, db)
    if problems and not os.path.exists(db):
        return [], problems
    q = lib.run(["query", "--db", db, "--format", "csv"])
    if q.returncode != 0:
        problems.append("query failed\n%s" % lib.describe(q))
        return [], problems
    header, rows = lib.parse_csv(q.stdout)
    if header != lib.CSV_HEADER:
        problems.append("CSV header %r, expected %r" % (header, lib.CSV_HEADER))
    return rows, problems


def compare_capture(path, tmp):
    """Returns (number of packets compared, number of IP packets, list of problems)."""
    name = os.path.relpath(path, lib.testdata_dir())
    rows, problems = ingest_and_export(path, tmp)
    frames, rc, err = tshark_packets(path)
    if rc != 0 and not (lib.INGEST_EXIT.get(os.path.basename(path)) == lib.EXIT_DAMAGED and frames):
        problems.append("tshark exit %d: %s" % (rc, err))
    by_packet = {}
    for r in rows:
        try:
            by_packet[int(r["packet"])] = r
        except (KeyError, ValueError):
            problems.append("row without a packet number: %r" % r)
    if len(rows) != len(frames):
        problems.append("capdb has %d packets, tshark %d" % (len(rows), len(frames)))
    if len(by_packet) != len(rows):
        problems.append("duplicate packet numbers in capdb's rows")
    n_ip = 0
    for frame in frames:
        num = int(first(frame, "frame.number"))
        r = by_packet.get(num)
        where = "%s packet %d" % (name, num)
        if r is None:
            problems.append("%s: missing from capdb" % where)
            continue
        mism = []
        for col, field in (("wirelen", "frame.len"), ("caplen", "frame.cap_len")):
            if r.get(col) != first(frame, field):
                mism.append("%s capdb %r tshark %r" % (col, r.get(col), first(frame, field)))
        t_ns = tshark_time_ns(first(frame, "frame.time_epoch"))
        if t_ns is not None and str(t_ns) != r.get("ts_ns"):
            mism.append("ts_ns capdb %r tshark %d" % (r.get("ts_ns"), t_ns))
        exp = expected_from_tshark(frame)
        status = r.get("status", "")
        partial = status in ("truncated", "malformed")
        if exp["family"] is not None:
            n_ip += 1
            if status in ("non_ip", "unsupported"):
                mism.append("tshark decodes IPv%d %s -> %s, capdb status %s"
                            % (exp["family"], exp["src"], exp["dst"], status))
            cols = ["src", "dst", "proto", "sport", "dport"]
            if "outer_src" in r:
                cols += ["outer_src", "outer_dst"]
            for col in cols:
                got, want = r.get(col, ""), exp[col]
                if got == want:
                    continue
                if partial and got == "":
                    continue  # capdb stopped earlier than tshark; allowed when flagged
                mism.append("%s capdb %r tshark %r" % (col, got, want))
        else:
            for col in ("src", "dst", "sport", "dport"):
                if r.get(col):
                    mism.append("%s capdb %r but tshark finds no IP header" % (col, r.get(col)))
            if status == "ok":
                mism.append("status ok but tshark finds no IP header (protocols %s)"
                            % first(frame, "frame.protocols"))
        if mism:
            problems.append("%s (status %s, tshark %s): %s"
                            % (where, status, first(frame, "frame.protocols"), "; ".join(mism)))
    return len(frames), n_ip, problems


if pytest is not None:
    CAPTURES = lib.capture_files()
    pytestmark = pytest.mark.skipif(
        not tshark_available(), reason="tshark is not installed (apt-get install tshark); nothing to compare against")

    def test_testdata_has_captures():
        assert CAPTURES, "no captures found under %s" % lib.testdata_dir()

    @pytest.mark.parametrize("path", CAPTURES, ids=lambda p: os.path.relpath(p, lib.testdata_dir()))
    def test_capture_agrees_with_tshark(path, capdb, tmp):
        name = os.path.relpath(path, lib.testdata_dir())
        n, n_ip, problems = compare_capture(path, tmp)
        print("%-24s %3d packets compared (%d IP): %d differences" % (name, n, n_ip, len(problems)))
        assert not problems, "%s:\n%s" % (name, "\n".join(problems))
