"""pcapng files with several interfaces and link types, read by capdb's own
reader, checked packet by packet against tshark (and against the test
library's independent reader, capdb_testlib.read_capture); and
`capdb ingest --follow` on a file that grows while it is read.

  * files merged by mergecap from captures of different link types (two and
    three interfaces): every packet's interface and link type, time, lengths
    and addresses as tshark reads them;
  * their export with `query -w --write-format pcapng`: tshark reads every
    packet with the link type it had; pcap export is refused;
  * testdata's multi-section file (a big-endian section between two
    little-endian ones) and a wholly big-endian file;
  * interface names (long and json formats) as tshark shows them;
  * pcapng files cut short at every block: exit 4, and exactly the packets
    before the cut stored;
  * --follow: a writer appends a capture in pieces (records split across
    writes) while capdb follows it; queries see packets before it ends;
    SIGINT ends it with every packet stored exactly once.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402
from test_tshark_compare import compare_capture  # noqa: E402

needs_tools = pytest.mark.skipif(not (shutil.which("tshark") and shutil.which("mergecap")),
                                 reason="tshark and mergecap are needed (apt-get install tshark)")


def tshark_fields(path, *fields):
    cmd = ["tshark", "-n", "-r", path, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, LC_ALL="C"),
                       timeout=120)
    return [line.split("\t") for line in p.stdout.decode().splitlines()]


def ingest(db, path, want=lib.EXIT_OK):
    p = lib.run(["ingest", "--db", db, path])
    assert p.returncode == want, lib.describe(p)
    return p


def rows(db, *extra):
    p = lib.run(["query", "--db", db, "--format", "json"] + list(extra))
    assert p.returncode == 0, lib.describe(p)
    return [json.loads(line) for line in p.stdout.splitlines()]


def encap_of(testdata, names):
    """tshark's encapsulation number for the DLT of each single-link capture."""
    out = {}
    for n in names:
        path = os.path.join(testdata, n)
        encaps = {r[0] for r in tshark_fields(path, "frame.encap_type")}
        assert len(encaps) == 1, (n, encaps)
        db_row = lib.read_capture(path).linktypes[0]
        out[encaps.pop()] = db_row
    return out


def dlt(linktype):
    """libpcap's DLT for a file's LINKTYPE (LINKTYPE_RAW 101 is DLT_RAW 12)."""
    return {101: 12, 100: 11, 102: 15, 103: 16, 106: 19}.get(linktype, linktype)


def check_against_tshark(path, tmp, db, encap_to_linktype):
    n, _, problems = compare_capture(path, tmp)
    assert not problems, "\n".join(problems)
    got = sorted(rows(db), key=lambda r: r["packet"])
    frames = tshark_fields(path, "frame.number", "frame.interface_id", "frame.encap_type")
    assert len(got) == len(frames) == n
    mine = lib.read_capture(path).records
    for r, (num, iface, encap), rec in zip(got, frames, mine):
        assert r["packet"] == int(num)
        assert r["interface"] == int(iface) == rec.interface, (r, iface)
        assert r["linktype"] == dlt(encap_to_linktype[encap]) == dlt(rec.linktype), (r, encap)
        assert r["offset"] == rec.offset


@needs_tools
@pytest.mark.parametrize("parts", [["eth_ipv4.pcap", "sll.pcap"], ["eth_ipv4.pcap", "sll.pcap", "raw.pcap"]],
                         ids=["two", "three"])
def test_merged_link_types_read_like_tshark(tmp, testdata, parts):
    merged = os.path.join(tmp, "mixed.pcapng")
    subprocess.run(["mergecap", "-F", "pcapng", "-w", merged] + [os.path.join(testdata, p) for p in parts],
                   check=True)
    db = os.path.join(tmp, "cmp.db")  # compare_capture ingests into this one
    check_against_tshark(merged, tmp, db, encap_of(testdata, parts))
    total = sum(len(lib.read_capture(os.path.join(testdata, p)).records) for p in parts)
    assert len(rows(db)) == total
    # The interfaces table: one row per interface, with its link type.
    p = lib.run(["query", "--db", db, "--format", "long"])
    labels = {line.split(" on ")[1] for line in p.stdout.splitlines()}
    assert labels == {"#%d (%s)" % (i, n) for i, n in enumerate(["EN10MB", "LINUX_SLL", "RAW"][:len(parts)])}


@needs_tools
def test_export_keeps_each_packets_link_type(tmp, testdata):
    parts = ["eth_ipv4.pcap", "sll.pcap", "raw.pcap"]
    merged = os.path.join(tmp, "mixed.pcapng")
    subprocess.run(["mergecap", "-F", "pcapng", "-w", merged] + [os.path.join(testdata, p) for p in parts],
                   check=True)
    db = os.path.join(tmp, "t.db")
    ingest(db, merged)
    want = rows(db)  # the query's order
    out = os.path.join(tmp, "out.pcapng")
    p = lib.run(["query", "--db", db, "-w", out, "--write-format", "pcapng"])
    assert p.returncode == 0, lib.describe(p)
    encaps = encap_of(testdata, parts)
    frames = tshark_fields(out, "frame.encap_type", "frame.time_epoch", "frame.len")
    assert len(frames) == len(want)
    for r, (encap, t, length) in zip(want, frames):
        assert dlt(encaps[encap]) == r["linktype"], (r, encap)
        assert int(length) == r["wirelen"]
    by_time = sorted(lib.read_capture(merged).records, key=lambda rec: (rec.ts_ns, rec.number))
    assert [rec.data for rec in lib.read_capture(out).records] == [rec.data for rec in by_time]
    # One link type per pcap file: refused, with the way out.
    p = lib.run(["query", "--db", db, "-w", os.path.join(tmp, "out.pcap")])
    assert p.returncode == lib.EXIT_USAGE and "pcapng" in p.stderr, lib.describe(p)
    # A filter that leaves one link type: pcap is fine.
    p = lib.run(["query", "--db", db, "--host", "192.0.2.31", "-w", os.path.join(tmp, "sll.pcap")])
    assert p.returncode == 0, lib.describe(p)
    assert {r.linktype for r in lib.read_capture(os.path.join(tmp, "sll.pcap")).records} == {113}


@needs_tools
def test_multi_section_numbers_interfaces_across_the_file(tmp, testdata):
    path = os.path.join(testdata, "multi_section.pcapng")
    n, _, problems = compare_capture(path, tmp)
    assert not problems and n == 7, problems
    db = os.path.join(tmp, "cmp.db")
    got = sorted(rows(db), key=lambda r: r["packet"])
    mine = lib.read_capture(path).records
    assert [(r["interface"], r["linktype"]) for r in got] == [(rec.interface, dlt(rec.linktype)) for rec in mine]
    assert [r["interface"] for r in got] == [0, 0, 1, 1, 1, 2, 2]
    assert [r["interface_name"] for r in got] == ["eth0", "eth0", "lo", "lo", "lo", None, None]
    # tshark's link type per packet agrees (its interface ids restart in each section).
    encaps = [f[0] for f in tshark_fields(path, "frame.encap_type")]
    assert len(set(zip(encaps, [r["linktype"] for r in got]))) == 3


@needs_tools
def test_interface_names_as_tshark_shows_them(tmp, testdata):
    path = os.path.join(testdata, "mixed_link.pcapng")
    db = os.path.join(tmp, "t.db")
    ingest(db, path)
    got = sorted(rows(db), key=lambda r: r["packet"])
    names = [f[0] for f in tshark_fields(path, "frame.interface_name")]
    assert [r["interface_name"] or "unknown" for r in got] == names
    long_lines = lib.run(["query", "--db", db, "--format", "long"]).stdout.splitlines()
    assert sum(" on eth0 (EN10MB)" in line for line in long_lines) == 3
    assert sum(" on any (LINUX_SLL)" in line for line in long_lines) == 3
    assert sum(" on #2 (RAW)" in line for line in long_lines) == 3
    # The line format is unchanged: no interface in it.
    assert " on " not in lib.run(["query", "--db", db]).stdout


@needs_tools
def test_big_endian_pcapng_reads_like_tshark(tmp, testdata):
    """A wholly big-endian pcapng (as written on SPARC/PowerPC), with the
    frames of eth_ipv4.pcap and nanosecond timestamps."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        return struct.pack(">II", btype, 12 + len(body)) + body + struct.pack(">I", 12 + len(body))
    out = block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack(">HHI", 1, 0, 0) + struct.pack(">HHB3x", 9, 1, 9) + struct.pack(">HH", 0, 0))
    for rec in lib.read_capture(os.path.join(testdata, "eth_ipv4.pcap")).records:
        units = rec.ts_ns + 7
        out += block(6, struct.pack(">IIIII", 0, units >> 32, units & 0xFFFFFFFF, rec.caplen, rec.wirelen) + rec.data)
    path = os.path.join(tmp, "be.pcapng")
    with open(path, "wb") as f:
        f.write(out)
    n, _, problems = compare_capture(path, tmp)
    assert not problems and n == 21, problems


@needs_tools
def test_truncated_pcapng_keeps_the_packets_before(tmp, testdata):
    path = os.path.join(testdata, "mixed_link.pcapng")
    data = open(path, "rb").read()
    recs = lib.read_capture(path).records
    for cut_in in (3, 6, 8):
        rec = recs[cut_in]  # cut inside this packet's block
        cut = os.path.join(tmp, "cut%d.pcapng" % cut_in)
        with open(cut, "wb") as f:
            f.write(data[:rec.offset + 30])
        db = os.path.join(tmp, "cut%d.db" % cut_in)
        p = ingest(db, cut, lib.EXIT_DAMAGED)
        assert "packet %d" % (cut_in + 1) in p.stderr, p.stderr
        assert len(tshark_fields(cut, "frame.number")) == cut_in
        got = sorted(rows(db), key=lambda r: r["packet"])
        assert [(r["offset"], r["caplen"]) for r in got] == [(x.offset, x.caplen) for x in recs[:cut_in]]


# --------------------------------------------------------------------------
# ingest --follow


def appender(path, data, pieces, pause):
    """A process that writes data to path in the given piece sizes, pausing
    between them; returns the Popen. Pieces split records across writes."""
    code = (
        "import sys, time\n"
        "data = open(sys.argv[2], 'rb').read()\n"
        "sizes = [int(x) for x in sys.argv[3].split(',')]\n"
        "with open(sys.argv[1], 'ab', buffering=0) as f:\n"
        "    off = 0\n"
        "    for n in sizes:\n"
        "        f.write(data[off:off + n]); off += n\n"
        "        time.sleep(float(sys.argv[4]))\n"
        "    f.write(data[off:])\n"
    )
    src = path + ".src"
    with open(src, "wb") as f:
        f.write(data)
    return subprocess.Popen([sys.executable, "-c", code, path, src, ",".join(map(str, pieces)), str(pause)])


def captures(db):
    p = lib.run(["captures", "--db", db, "--format", "json"])
    assert p.returncode == 0, lib.describe(p)
    return [json.loads(line) for line in p.stdout.splitlines()]


def count(db):
    p = lib.run(["query", "--db", db, "--count"])
    return int(p.stdout) if p.returncode == 0 and p.stdout.strip() else 0


@pytest.mark.parametrize("name", ["eth_ipv4.pcap", "mixed_link.pcapng"])
def test_follow_reads_a_growing_file(tmp, testdata, name):
    src = os.path.join(testdata, name)
    data = open(src, "rb").read()
    recs = lib.read_capture(src).records
    path = os.path.join(tmp, "growing" + os.path.splitext(name)[1])
    db = os.path.join(tmp, "f.db")
    open(path, "wb").close()  # the file exists, empty, as tcpdump -w leaves it at first
    follower = lib.start(["ingest", "--db", db, "--follow", path])
    try:
        # The header and the first records arrive first, in pieces of 13
        # bytes (so records are split across writes); then the writer pauses
        # inside a record, so that capdb must wait at a partial record.
        first = recs[3].offset + 10
        w = appender(path, data[:first], [13] * (first // 13), 0.01)
        assert w.wait(30) == 0
        lib.wait_until(lambda: count(db) == 3, 20, "the first 3 packets to be queryable while following")
        time.sleep(0.3)  # capdb sits at the partial record meanwhile; it must not fail
        assert follower.poll() is None, "ingest --follow ended at a partial record"
        w = appender(path, data[first:], [7, 100, 1, 50], 0.05)
        assert w.wait(30) == 0
        lib.wait_until(lambda: count(db) == len(recs), 20, "every packet to be queryable")
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    got = sorted(rows(db), key=lambda r: r["packet"])
    assert [(r["offset"], r["caplen"], r["ts_ns"]) for r in got] == [(x.offset, x.caplen, x.ts_ns) for x in recs]
    caps = captures(db)
    assert len(caps) == 1 and caps[0]["state"] == "complete" and caps[0]["packets"] == len(recs), caps
    # A plain ingest of the finished file stores the same rows.
    db2 = os.path.join(tmp, "plain.db")
    ingest(db2, path)
    assert sorted(rows(db2), key=lambda r: r["packet"]) == [dict(r, capture=1) for r in got]
    # Its packets export, checked record by record.
    out = os.path.join(tmp, "out" + os.path.splitext(name)[1])
    fmt = ["--write-format", "pcapng"] if name.endswith("pcapng") else []
    p = lib.run(["query", "--db", db, "-w", out] + fmt)
    assert p.returncode == 0, lib.describe(p)
    assert len(lib.read_capture(out).records) == len(recs)


def test_follow_stopped_inside_a_record_is_interrupted(tmp, testdata):
    data = open(os.path.join(testdata, "eth_ipv4.pcap"), "rb").read()
    recs = lib.read_capture(os.path.join(testdata, "eth_ipv4.pcap")).records
    path = os.path.join(tmp, "growing.pcap")
    with open(path, "wb") as f:
        f.write(data[:recs[5].offset + 20])
    db = os.path.join(tmp, "f.db")
    follower = lib.start(["ingest", "--db", db, "--follow", path])
    try:
        lib.wait_until(lambda: count(db) == 5, 20, "the 5 whole packets to be committed")
    finally:
        follower.send_signal(signal.SIGTERM)
        _, err = follower.communicate(timeout=30)
    assert follower.returncode == 130, err
    caps = captures(db)
    assert caps[0]["state"] == "interrupted" and caps[0]["packets"] == 5


def test_follow_duration(tmp, testdata):
    path = os.path.join(tmp, "f.pcap")
    shutil.copy(os.path.join(testdata, "eth_ipv4.pcap"), path)
    db = os.path.join(tmp, "f.db")
    p = lib.run(["ingest", "--db", db, "--follow", "--duration", "0.5", path], timeout=30)
    assert p.returncode == 0, lib.describe(p)
    assert count(db) == 21


def test_follow_refuses_what_it_cannot_follow(tmp, testdata):
    p = lib.run(["ingest", "--db", os.path.join(tmp, "x.db"), "--follow", "-"], stdin_bytes=b"")
    assert p.returncode == lib.EXIT_USAGE, lib.describe(p)
    p = lib.run(["ingest", "--db", os.path.join(tmp, "x.db"), "--duration", "1",
                 os.path.join(testdata, "eth_ipv4.pcap")])
    assert p.returncode == lib.EXIT_USAGE and "--follow" in p.stderr, lib.describe(p)
