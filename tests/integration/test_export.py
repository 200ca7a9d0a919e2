"""capdb query -w: the matching packets written back as pcap or pcapng.

For the test captures and many filters, the written records are compared
packet by packet (bytes, timestamp, captured and wire length, link type)
with the original file's records that `capdb query --format csv` names by
packet number, and, for address filters, with what `tcpdump -r ORIG -w -`
selects. Mixed link types (pcap refused, pcapng read by tshark), nanosecond
timestamps, and the errors for an original file that moved, shrank or was
rewritten, or for packets never kept (standard input), are checked too;
capinfos and mergecap must accept the outputs.
"""

import os
import pty
import shutil
import stat
import subprocess

import pytest

import capdb_testlib as lib

CAPTURES = ["eth_ipv4.pcap", "eth_vlan.pcap", "ipv6_ext.pcap", "nanosecond.pcap", "big_endian.pcap",
            "lo_real.pcap", "any_real.pcap", "sll.pcap", "sll2.pcap", "two_if.pcapng", "raw.pcap",
            "out_of_order.pcap", "ipv4_frag.pcap", "malformed.pcap", "truncated.pcap", "y2038.pcapng"]
NS_SOURCES = {"nanosecond.pcap", "two_if.pcapng", "y2038.pcapng"}  # pcapng: an interface with if_tsresol 9
AFTER_2106 = {"y2038.pcapng"}  # times pcap cannot hold


def ingest(db, *paths):
    for path in paths:
        p = lib.run(["ingest", "--db", db, path])
        assert p.returncode == lib.INGEST_EXIT.get(os.path.basename(path), 0), p


def rows(db, args):
    p = lib.run(["query", "--db", db, "--format", "csv"] + args)
    assert p.returncode == 0, p
    return lib.parse_csv(p.stdout)[1]


def export(db, args, out, fmt=None):
    extra = ["--write-format", fmt] if fmt else []
    p = lib.run(["query", "--db", db, "-w", out] + extra + args)
    assert p.returncode == 0, p
    assert "written to" in p.stderr, p
    return lib.read_capture(out)


def filters_for(db):
    """Filters worth trying on a capture: none, protocols, an address, a
    port, a time range and a limit, taken from its own packets."""
    all_rows = rows(db, [])
    out = [[], ["--proto", "tcp"], ["--proto", "udp"], ["--limit", "3"]]
    ip = [r for r in all_rows if r["src"]]
    if ip:
        out.append(["--host", ip[0]["src"]])
        out.append(["--src", ip[-1]["src"], "--limit", "5"])
    ported = [r for r in all_rows if r["sport"]]
    if ported:
        out.append(["--port", ported[0]["dport"]])
    if len(all_rows) > 2:
        mid = all_rows[len(all_rows) // 2]["ts_ns"]
        t = "%d.%09d" % divmod(int(mid), 10**9)
        out.append(["--from", t])
        out.append(["--to", t])
    return out


def check_same(original, written, wanted_numbers, where):
    by_number = {r.number: r for r in original.records}
    assert len(written.records) == len(wanted_numbers), where
    for i, (w, n) in enumerate(zip(written.records, wanted_numbers)):
        o = by_number[n]
        assert (w.ts_ns, w.caplen, w.wirelen, w.linktype) == (o.ts_ns, o.caplen, o.wirelen, o.linktype), \
            "%s: record %d (packet %d)" % (where, i + 1, n)
        assert w.data == o.data, "%s: record %d (packet %d): bytes differ" % (where, i + 1, n)


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_records_are_the_originals(tmp, testdata, name, fmt):
    path = os.path.join(testdata, name)
    db = os.path.join(tmp, "t.db")
    ingest(db, path)
    original = lib.read_capture(path)
    for i, args in enumerate(filters_for(db)):
        wanted = [int(r["packet"]) for r in rows(db, args)]  # 1-based, as the file counts
        out = os.path.join(tmp, "out%d.%s" % (i, fmt))
        if fmt == "pcap" and name in AFTER_2106:
            p = lib.run(["query", "--db", db, "-w", out] + args)
            if any(original.records[n - 1].ts_ns >= 2**32 * 10**9 for n in wanted):
                assert p.returncode == lib.EXIT_USAGE and "pcapng" in p.stderr, p
                assert not os.path.exists(out)
                continue
        written = export(db, args, out, fmt)
        check_same(original, written, wanted, "%s %s %s" % (name, fmt, args))
        with open(out, "rb") as f:
            magic = f.read(4)
        if fmt == "pcap" and written.records:
            # Nanosecond pcap exactly when the source had nanoseconds.
            assert (magic == b"\x4d\x3c\xb2\xa1") == (name in NS_SOURCES), (name, magic)


def tcpdump_records(path, host, tmp):
    """What tcpdump selects for `host` (IP packets only: tcpdump's `host`
    also matches ARP, which capdb does not index), under up to three VLAN
    tags on Ethernet. One run per tag depth: in one expression, `vlan`
    moves the offsets of every test after it, also across `or`."""
    ip = "ip6" if ":" in host else "ip"
    depths = 4 if lib.read_capture(path).linktypes == [1] else 1
    found = []
    for depth in range(depths):
        out = os.path.join(tmp, "tcpdump%d.pcap" % depth)
        # Tunnelled packets left out: tcpdump's host is the outer header's,
        # capdb's either header's (test_tunnels.py compares those).
        expression = " and ".join(["vlan"] * depth + ["%s host %s" % (ip, host)] +
                                  ["not (ip proto 4 or ip proto 41 or ip proto 47 or ip6 proto 4 or "
                                   "ip6 proto 41 or ip6 proto 47)"])
        p = subprocess.run(["tcpdump", "-r", path, "-w", out, expression], capture_output=True)
        assert p.returncode == 0, p.stderr
        found += lib.read_capture(out).records
    return found


@pytest.mark.skipif(not shutil.which("tcpdump"), reason="tcpdump is not installed")
# (Not sll.pcap: tcpdump cannot look inside its VLAN-tagged frames.)
@pytest.mark.parametrize("name", ["eth_ipv4.pcap", "eth_vlan.pcap", "ipv6_ext.pcap", "lo_real.pcap", "any_real.pcap"])
def test_host_filter_matches_tcpdump(tmp, testdata, name):
    path = os.path.join(testdata, name)
    db = os.path.join(tmp, "t.db")
    ingest(db, path)
    hosts = sorted({r["src"] for r in rows(db, []) if r["src"]})[:4]
    assert hosts
    for host in hosts:
        out = os.path.join(tmp, "capdb.pcap")
        written = export(db, ["--host", host, "not", "tunnel"], out).records
        theirs = tcpdump_records(path, host, tmp)
        key = lambda r: (r.ts_ns, r.data)  # noqa: E731 (capdb: time order; tcpdump: file order)
        assert [(r.ts_ns, r.caplen, r.wirelen, r.data) for r in sorted(written, key=key)] == \
            [(r.ts_ns, r.caplen, r.wirelen, r.data) for r in sorted(theirs, key=key)], (name, host)


def test_mixed_link_types(tmp, testdata):
    db = os.path.join(tmp, "t.db")
    ingest(db, os.path.join(testdata, "eth_ipv4.pcap"), os.path.join(testdata, "sll.pcap"))
    out = os.path.join(tmp, "mixed.pcap")
    p = lib.run(["query", "--db", db, "-w", out])
    assert p.returncode == lib.EXIT_USAGE, p
    assert "pcapng" in p.stderr, p
    assert os.listdir(tmp) == ["t.db"] or not [f for f in os.listdir(tmp) if f.startswith("mixed")], os.listdir(tmp)
    out = os.path.join(tmp, "mixed.pcapng")
    written = export(db, [], out, "pcapng")
    assert sorted({r.linktype for r in written.records}) == [1, 113]
    if shutil.which("tshark"):
        t = subprocess.run(["tshark", "-r", out, "-T", "fields", "-e", "frame.protocols"], capture_output=True,
                           text=True)
        assert t.returncode == 0, t.stderr
        protos = t.stdout.split()
        assert len(protos) == len(written.records)
        for r, proto in zip(written.records, protos):
            assert proto.split(":")[0] == {1: "eth", 113: "sll"}[r.linktype], (r.number, proto)


def test_nanoseconds_survive(tmp, testdata):
    path = os.path.join(testdata, "nanosecond.pcap")
    db = os.path.join(tmp, "t.db")
    ingest(db, path)
    for fmt in ("pcap", "pcapng"):
        written = export(db, [], os.path.join(tmp, "ns." + fmt), fmt)
        assert [r.ts_ns for r in written.records] == sorted(r.ts_ns for r in lib.read_capture(path).records)
        assert any(r.ts_ns % 1000 for r in written.records)


def test_standard_output_and_usage(tmp, testdata):
    path = os.path.join(testdata, "eth_ipv4.pcap")
    db = os.path.join(tmp, "t.db")
    ingest(db, path)
    p = subprocess.run([lib.capdb_path(), "query", "--db", db, "-w", "-"], capture_output=True,
                       env=lib.clean_env())
    assert p.returncode == 0, p.stderr
    with open(path, "rb") as f:
        orig = f.read()
    assert p.stdout[24:] == orig[24:]  # every record as it is in the (time-ordered) file
    for args in (["--count"], ["--write-format", "pcapng2"]):
        r = lib.run(["query", "--db", db, "-w", os.path.join(tmp, "x.pcap")] + args)
        assert r.returncode == lib.EXIT_USAGE, r
    r = lib.run(["query", "--db", db, "--write-format", "pcapng"])
    assert r.returncode == lib.EXIT_USAGE, r
    assert not os.path.exists(os.path.join(tmp, "x.pcap"))
    # A FIFO is written into, not replaced; a directory or a missing one is exit 3.
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", fifo], stdout=subprocess.PIPE)
    r = lib.run(["query", "--db", db, "-w", fifo])
    got = reader.communicate(timeout=60)[0]
    assert r.returncode == 0, r
    assert got[24:] == orig[24:]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    for bad in (tmp, os.path.join(tmp, "no", "such", "dir.pcap")):
        r = lib.run(["query", "--db", db, "-w", bad])
        assert r.returncode == lib.EXIT_INPUT and bad in r.stderr, r
    # -w - on a terminal: refused before anything is written.
    controller, terminal = pty.openpty()
    try:
        t = subprocess.run([lib.capdb_path(), "query", "--db", db, "-w", "-"], stdout=terminal,
                           stderr=subprocess.PIPE, env=lib.clean_env(), timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert t.returncode == lib.EXIT_USAGE and b"terminal" in t.stderr, t


def expect_source_error(db, out, *words):
    """query -w fails with exit 9 naming what is wrong, and leaves out as it
    was: absent, or holding its earlier contents."""
    before = open(out, "rb").read() if os.path.exists(out) else None
    p = lib.run(["query", "--db", db, "-w", out])
    assert p.returncode == lib.EXIT_SOURCE, p
    assert p.stderr.startswith("capdb: error: ") and p.stderr.count("\n") == 1, p
    for w in words:
        assert w in p.stderr, (w, str(p))
    left = sorted(f for f in os.listdir(os.path.dirname(out)) if f.startswith(os.path.basename(out)))
    assert left == ([os.path.basename(out)] if before is not None else []), left
    if before is not None:
        assert open(out, "rb").read() == before


def test_changed_originals_are_errors(tmp, testdata):
    src = os.path.join(testdata, "eth_ipv4.pcap")
    copy = os.path.join(tmp, "copy.pcap")
    shutil.copy(src, copy)
    db = os.path.join(tmp, "t.db")
    ingest(db, copy)
    out = os.path.join(tmp, "out.pcap")
    export(db, [], out)
    os.unlink(out)
    # Moved away.
    os.rename(copy, copy + ".moved")
    expect_source_error(db, out, "capture 1", "copy.pcap")
    os.rename(copy + ".moved", copy)
    st = os.stat(copy)
    # Rewritten in place, same size and modification time: the record check.
    with open(copy, "r+b") as f:
        f.seek(24 + 8)
        f.write(b"\x01\x00\x00\x00")  # the first record's caplen
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    expect_source_error(db, out, "capture 1", "packet 1")
    shutil.copy(src, copy)
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    export(db, [], out)
    os.unlink(out)
    # Touched; an earlier output of the same name stays as it was.
    with open(out, "wb") as f:
        f.write(b"earlier output")
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    expect_source_error(db, out, "capture 1", "changed")
    os.unlink(out)
    # Truncated.
    with open(copy, "r+b") as f:
        f.truncate(st.st_size - 10)
    expect_source_error(db, out, "capture 1", "size")


def test_standard_input_without_packets_is_not_kept(tmp, testdata):
    # Standard input's packets go into the packet store (test_packet_store.py)
    # unless --no-packets.
    db = os.path.join(tmp, "t.db")
    with open(os.path.join(testdata, "eth_ipv4.pcap"), "rb") as f:
        p = lib.run(["ingest", "--db", db, "--no-packets", "-"], stdin=f)
    assert p.returncode == 0, p
    expect_source_error(db, os.path.join(tmp, "out.pcap"), "capture 1", "standard input")


@pytest.mark.skipif(not (shutil.which("capinfos") and shutil.which("mergecap")),
                    reason="capinfos or mergecap is not installed")
def test_capinfos_and_mergecap_accept_the_outputs(tmp, testdata):
    db = os.path.join(tmp, "t.db")
    ingest(db, os.path.join(testdata, "eth_ipv4.pcap"), os.path.join(testdata, "nanosecond.pcap"),
           os.path.join(testdata, "two_if.pcapng"))
    outs = []
    for fmt, args in (("pcap", ["--capture", "1"]), ("pcap", ["--capture", "2"]), ("pcapng", [])):
        out = os.path.join(tmp, "o%d.%s" % (len(outs), fmt))
        export(db, args, out, fmt)
        c = subprocess.run(["capinfos", out], capture_output=True, text=True)
        assert c.returncode == 0 and not c.stderr.strip(), (out, c.stderr)
        outs.append(out)
    merged = os.path.join(tmp, "merged.pcapng")
    m = subprocess.run(["mergecap", "-w", merged] + outs, capture_output=True, text=True)
    assert m.returncode == 0 and not m.stderr.strip(), m.stderr
    assert len(lib.read_capture(merged).records) == sum(len(lib.read_capture(o).records) for o in outs)


def test_version2_database_exports_without_migrating(tmp, testdata):
    """A schema-2 database (no file_mtime, no ts_precision) is read as it
    is: query -w works, checking size and record headers only, and the
    database stays at version 2 until an ingest migrates it."""
    import sqlite3
    copy = os.path.join(tmp, "copy.pcap")
    shutil.copy(os.path.join(testdata, "nanosecond.pcap"), copy)
    db = os.path.join(tmp, "t.db")
    ingest(db, copy)
    con = sqlite3.connect(db)
    con.executescript("ALTER TABLE captures DROP COLUMN file_mtime; ALTER TABLE captures DROP COLUMN ts_precision;"
                      "ALTER TABLE captures DROP COLUMN packets_at; DROP TABLE segments;"
                      "ALTER TABLE captures DROP COLUMN committed_bytes; ALTER TABLE captures DROP COLUMN prefix_sha256;"
                      # no checksums (schema 5): no columns, no trailers
                      "ALTER TABLE captures DROP COLUMN checksum; ALTER TABLE blocks DROP COLUMN checksum;"
                      "ALTER TABLE blocks DROP COLUMN aggregates;"  # schema 7
                      "ALTER TABLE blocks DROP COLUMN aggregate_tables;"
                      "UPDATE pages SET data = substr(data, 1, length(data) - 4);"
                      "UPDATE postings SET blocks = substr(blocks, 1, length(blocks) - 4);"
                      "PRAGMA user_version=2; PRAGMA journal_mode=DELETE;")
    con.close()
    os.utime(copy, ns=(0, 10**18))  # no recorded mtime: not checked
    out = os.path.join(tmp, "out.pcap")
    written = export(db, [], out)
    assert [r.data for r in written.records] == [r.data for r in sorted(lib.read_capture(copy).records,
                                                                         key=lambda r: (r.ts_ns, r.number))]
    with open(out, "rb") as f:
        assert f.read(4) == b"\x4d\x3c\xb2\xa1"  # the precision from the file's own header

    def version():
        c = sqlite3.connect(db)
        try:
            return c.execute("PRAGMA user_version").fetchone()[0]
        finally:
            c.close()
    assert version() == 2
    with open(copy, "r+b") as f:  # the record headers are still checked
        f.seek(24 + 12)
        f.write(b"\x00\x00\x00\x00")
    p = lib.run(["query", "--db", db, "-w", out + "2"])
    assert p.returncode == lib.EXIT_SOURCE and "packet" in p.stderr, p
    ingest(db, os.path.join(testdata, "eth_ipv4.pcap"))
    assert version() == 8
    assert lib.run(["verify", "--db", db]).returncode == 0, "the migration computed every checksum"


def test_pcapng_rewritten_time_is_an_error(tmp, testdata):
    copy = os.path.join(tmp, "copy.pcapng")
    shutil.copy(os.path.join(testdata, "two_if.pcapng"), copy)
    db = os.path.join(tmp, "t.db")
    ingest(db, copy)
    out = os.path.join(tmp, "out.pcapng")
    export(db, [], out, "pcapng")
    os.unlink(out)
    st = os.stat(copy)
    first = lib.read_capture(copy).records[0]
    with open(copy, "r+b") as f:  # the low byte of the first packet's timestamp
        f.seek(first.offset + 16)
        low = f.read(1)[0]
        f.seek(first.offset + 16)
        f.write(bytes([low ^ 1]))
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
    expect_source_error(db, out, "capture 1", "packet 1", "time")
