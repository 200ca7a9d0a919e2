"""The packet store (<db>.packets/): standard input and --copy keep whole
packets in pcap/pcapng segments that query -w reads back exactly; recovery
after a crash; a damaged or deleted segment; a full disk; permissions."""

import os
import random
import shutil
import sqlite3
import stat
import struct
import subprocess
import time

import capdb_testlib as lib
from capdb_testlib import EXIT_DATABASE, EXIT_OK, EXIT_SOURCE, EXIT_USAGE, read_capture, run
from capdb_testlib import make_udp_pcap as make_pcap


def records(path):
    return [(r.ts_ns, r.caplen, r.wirelen, r.data) for r in read_capture(path).records]


def tcpdump_records(path):
    """What tcpdump -r FILE -w - writes, record by record: the reference."""
    out = subprocess.run(["tcpdump", "-r", path, "-w", "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True).stdout
    ref = path + ".ref"
    with open(ref, "wb") as f:
        f.write(out)
    return records(ref)


def segments(db):
    return lib.segment_rows(db)


def export(db, out, *args):
    return run(["query", "--db", db, "-w", out] + list(args))


def ingest_stdin(db, pcap, *args):
    """`cat pcap | capdb ingest --db db - args`: standard input is a pipe."""
    with open(pcap, "rb") as f:
        data = f.read()
    return run(["ingest", "--db", db, "-"] + list(args), stdin_bytes=data)


def test_stdin_packets_come_back_exactly(tmp):
    pcap = make_pcap(os.path.join(tmp, "x.pcap"), 3000, 1)
    db = os.path.join(tmp, "s.db")
    r = ingest_stdin(db, pcap, "--batch", "500")
    assert r.returncode == EXIT_OK, r
    out = os.path.join(tmp, "out.pcap")
    r = export(db, out)
    assert r.returncode == EXIT_OK, r
    want = tcpdump_records(pcap)
    got = records(out)
    assert len(got) == len(want) == 3000
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, "packet %d differs" % (i + 1)
    # The segment is itself the capture, byte for byte.
    (seg,) = segments(db)
    assert records(os.path.join(db + ".packets", seg[1])) == want


def test_stdin_nanosecond_and_pcapng(tmp, testdata):
    db = os.path.join(tmp, "s.db")
    for name in ("nanosecond.pcap", "two_if.pcapng"):
        assert ingest_stdin(db, os.path.join(testdata, name)).returncode == EXIT_OK
    names = [s[1] for s in segments(db)]
    assert names == ["1-1.pcap", "2-1.pcapng"]
    out = os.path.join(tmp, "ns.pcap")
    assert export(db, out, "--capture", "1").returncode == EXIT_OK
    assert records(out) == records(os.path.join(testdata, "nanosecond.pcap"))
    with open(out, "rb") as f:
        assert f.read(4) == b"\x4d\x3c\xb2\xa1", "nanosecond magic"
    out = os.path.join(tmp, "ng.pcapng")
    r = export(db, out, "--capture", "2", "--write-format", "pcapng")
    assert r.returncode == EXIT_OK, r
    # In the query's order: time, then packet number.
    want = sorted(records(os.path.join(testdata, "two_if.pcapng")), key=lambda x: x[0])
    assert records(out) == want


def test_segments_rotate_and_every_packet_is_found(tmp):
    pcap = make_pcap(os.path.join(tmp, "x.pcap"), 2000, 2)
    db = os.path.join(tmp, "s.db")
    r = ingest_stdin(db, pcap, "--batch", "100", "--segment-size", "64k")
    assert r.returncode == EXIT_OK, r
    segs = segments(db)
    assert len(segs) > 5
    seq = 0
    for capture, name, first_seq, packets, size in segs:
        assert first_seq == seq
        seq += packets
        path = os.path.join(db + ".packets", name)
        assert os.path.getsize(path) == size
        assert len(read_capture(path).records) == packets
    assert seq == 2000
    out = os.path.join(tmp, "out.pcap")
    assert export(db, out).returncode == EXIT_OK
    assert records(out) == tcpdump_records(pcap)
    # A selective query reads from several segments.
    sel = os.path.join(tmp, "sel.pcap")
    assert export(db, sel, "--host", "10.0.0.3").returncode == EXIT_OK
    want = [r for r in tcpdump_records(pcap) if r[3][26:30] == bytes([10, 0, 0, 3])]
    assert records(sel) == want


def test_copy_keeps_packets_after_the_original_is_deleted(tmp):
    pcap = make_pcap(os.path.join(tmp, "x.pcap"), 500, 3)
    want = tcpdump_records(pcap)
    db = os.path.join(tmp, "s.db")
    assert run(["ingest", "--db", db, "--copy", pcap]).returncode == EXIT_OK
    os.unlink(pcap)
    out = os.path.join(tmp, "out.pcap")
    r = export(db, out)
    assert r.returncode == EXIT_OK, r
    assert records(out) == want
    assert [c["packets_at"] for c in captures_json(db)] == ["store"]


def captures_json(db):
    import json
    r = run(["captures", "--db", db, "--format", "json"])
    assert r.returncode == 0, r
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def test_captures_say_where_packets_are(tmp, testdata):
    db = os.path.join(tmp, "s.db")
    pcap = os.path.join(testdata, "eth_ipv4.pcap")
    assert run(["ingest", "--db", db, pcap]).returncode == EXIT_OK
    assert ingest_stdin(db, os.path.join(testdata, "sll.pcap")).returncode == EXIT_OK
    assert ingest_stdin(db, os.path.join(testdata, "raw.pcap"), "--no-packets").returncode == EXIT_OK
    caps = captures_json(db)
    assert [c["packets_at"] for c in caps] == ["file", "store", "none"]
    assert caps[0]["store_bytes"] == 0 and caps[2]["store_bytes"] == 0
    assert caps[1]["store_bytes"] == os.path.getsize(os.path.join(testdata, "sll.pcap"))
    assert not os.path.exists(os.path.join(db + ".packets", "3-1.pcap"))
    r = export(db, os.path.join(tmp, "o.pcap"), "--capture", "3")
    assert r.returncode == EXIT_SOURCE and "capture 3" in r.stderr, r
    # --no-packets is for standard input and live capture only.
    r = run(["ingest", "--db", db, "--no-packets", pcap])
    assert r.returncode == EXIT_USAGE, r


def test_permissions(tmp):
    pcap = make_pcap(os.path.join(tmp, "x.pcap"), 50, 4)
    db = os.path.join(tmp, "s.db")
    old = os.umask(0)  # capdb's modes do not depend on a lax umask
    try:
        assert ingest_stdin(db, pcap).returncode == EXIT_OK
    finally:
        os.umask(old)
    store = db + ".packets"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    for name in os.listdir(store):
        assert stat.S_IMODE(os.stat(os.path.join(store, name)).st_mode) == 0o600, name


def test_damaged_or_deleted_segment_names_it_and_others_still_export(tmp):
    db = os.path.join(tmp, "s.db")
    a = make_pcap(os.path.join(tmp, "a.pcap"), 100, 5)
    b = make_pcap(os.path.join(tmp, "b.pcap"), 100, 6)
    assert ingest_stdin(db, a).returncode == EXIT_OK
    assert ingest_stdin(db, b).returncode == EXIT_OK
    seg = os.path.join(db + ".packets", "1-1.pcap")
    # Damage the 10th record's header (its captured length).
    rec = read_capture(seg).records[9]
    with open(seg, "r+b") as f:
        f.seek(rec.offset + 8)
        f.write(struct.pack("<I", rec.caplen + 1))
    out = os.path.join(tmp, "o.pcap")
    r = export(db, out)
    assert r.returncode == EXIT_SOURCE, r
    assert seg in r.stderr and "capture 1" in r.stderr and "packet 10" in r.stderr, r
    assert not os.path.exists(out)
    r = export(db, out, "--capture", "2")
    assert r.returncode == EXIT_OK, r
    assert records(out) == tcpdump_records(b)
    # Cut short, then deleted.
    with open(seg, "r+b") as f:
        f.truncate(1000)
    r = export(db, out, "--capture", "1")
    assert r.returncode == EXIT_SOURCE and seg in r.stderr and "shorter" in r.stderr, r
    os.unlink(seg)
    r = export(db, out, "--capture", "1")
    assert r.returncode == EXIT_SOURCE and seg in r.stderr and "No such file" in r.stderr, r
    assert export(db, out, "--capture", "2").returncode == EXIT_OK


def test_recovery_cuts_uncommitted_bytes_and_removes_orphans(tmp):
    db = os.path.join(tmp, "s.db")
    a = make_pcap(os.path.join(tmp, "a.pcap"), 200, 7)
    assert ingest_stdin(db, a).returncode == EXIT_OK
    store = db + ".packets"
    seg = os.path.join(store, "1-1.pcap")
    committed = os.path.getsize(seg)
    # What a writer killed mid-block leaves: bytes past the last commit, and
    # segment files whose first commit never happened.
    with open(seg, "ab") as f:
        f.write(b"\x01" * 777)
    for orphan in ("1-2.pcap", "9-1.pcap", "5-3.pcapng"):
        with open(os.path.join(store, orphan), "wb") as f:
            f.write(b"x" * 100)
    with open(os.path.join(store, "notes.txt"), "wb") as f:
        f.write(b"mine")
    # A read-only open changes nothing.
    assert export(db, os.path.join(tmp, "o.pcap")).returncode == EXIT_OK
    assert os.path.getsize(seg) == committed + 777
    # The next open for writing recovers.
    b = make_pcap(os.path.join(tmp, "b.pcap"), 10, 8)
    assert ingest_stdin(db, b).returncode == EXIT_OK
    assert os.path.getsize(seg) == committed
    assert sorted(os.listdir(store)) == ["1-1.pcap", "2-1.pcap", "lock", "notes.txt"]
    out = os.path.join(tmp, "o.pcap")
    assert export(db, out, "--capture", "1").returncode == EXIT_OK
    assert records(out) == tcpdump_records(a)


def test_duplicate_stdin_leaves_no_segment(tmp):
    db = os.path.join(tmp, "s.db")
    a = make_pcap(os.path.join(tmp, "a.pcap"), 20, 9)
    assert ingest_stdin(db, a).returncode == EXIT_OK
    r = ingest_stdin(db, a)
    assert r.returncode == EXIT_OK and "already ingested" in r.stderr, r
    assert sorted(os.listdir(db + ".packets")) == ["1-1.pcap", "lock"]


def test_disk_full_stops_cleanly_and_keeps_what_was_committed(tmp):
    # The store on a small file system (its directory is the mount point);
    # the database beside it on the ordinary one.
    db = os.path.join(tmp, "s.db")
    lib.mount_small_tmpfs(db + ".packets")
    try:
        pcap = make_pcap(os.path.join(tmp, "big.pcap"), 5000, 10)
        assert os.path.getsize(pcap) > 3 << 20
        r = ingest_stdin(db, pcap, "--batch", "200")
        assert r.returncode == EXIT_DATABASE, r
        assert db + ".packets" in r.stderr and "disk is full" in r.stderr, r
        segs = segments(db)
        committed = sum(s[3] for s in segs)
        assert 0 < committed < 5000
        for s in segs:
            assert os.path.getsize(os.path.join(db + ".packets", s[1])) == s[4]
        caps = captures_json(db)
        assert caps[0]["packets"] == committed and caps[0]["state"] == "failed"
        out = os.path.join(tmp, "o.pcap")
        r = export(db, out)
        assert r.returncode == EXIT_OK, r
        assert records(out) == tcpdump_records(pcap)[:committed]
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    finally:
        lib.umount(db + ".packets")


def test_sigkill_mid_ingest_keeps_committed_packets_and_recovery_cuts_the_rest(tmp):
    """`ingest --copy` killed at 12 moments (each a copy of the file under
    its own name, so that no ingest replaces an earlier killed one): each
    time every committed packet comes back exact (the file's first N
    packets), the database is intact, and the next open for writing cuts
    what each killed writer wrote past its last commit."""
    # Small packets, many commits: the ingest lasts about 0.5 s on a fast
    # machine (1,200 commits, each after an fdatasync), so that a kill 0 to
    # 0.3 s after its first commit lands while it is still writing.
    pcap = make_pcap(os.path.join(tmp, "x.pcap"), 60000, 12, max_payload=64)
    db = os.path.join(tmp, "s.db")
    rng = random.Random(5)
    tails = 0
    for k in range(1, 13):
        # Each copy differs in its last byte: never a duplicate of one an
        # earlier round finished.
        copy = os.path.join(tmp, "x%d.pcap" % k)
        shutil.copy(pcap, copy)
        with open(copy, "r+b") as f:
            f.seek(-1, 2)
            f.write(bytes([k]))
        want = tcpdump_records(copy)
        proc = subprocess.Popen([lib.capdb_path(), "ingest", "--db", db, "--batch", "50", "--copy", copy],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=lib.clean_env())
        lib.wait_until(lambda: any(s[0] == k for s in segments_or_none(db)) or proc.poll() is not None, 20,
                       "capture %d to commit" % k)
        # Recovery ran when this ingest opened the database: the earlier
        # captures' segments hold exactly their committed bytes.
        for capture, name, _, _, size in segments(db):
            if capture < k:
                assert os.path.getsize(os.path.join(db + ".packets", name)) == size, (k, name)
        time.sleep(rng.uniform(0, 0.3))
        proc.kill()
        proc.wait()
        rows = [s for s in segments(db) if s[0] == k]
        committed = sum(s[3] for s in rows)
        for _, name, _, _, size in rows:
            extra = os.path.getsize(os.path.join(db + ".packets", name)) - size
            assert extra >= 0
            tails += extra > 0
        out = os.path.join(tmp, "o%d.pcap" % k)
        os.unlink(copy)  # the packets come from the store
        r = export(db, out, "--capture", str(k))
        assert r.returncode == EXIT_OK, r
        assert records(out) == want[:committed]
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    # About half the kills fall between a block's write and its commit (the
    # fdatasync): the cut-off below then has real work.
    print("kills that left bytes past the last commit: %d of 12" % tails)
    assert tails >= 1, "no kill left bytes past a commit: the recovery below was not exercised"
    assert ingest_stdin(db, make_pcap(os.path.join(tmp, "y.pcap"), 5, 13)).returncode == EXIT_OK
    for _, name, _, _, size in segments(db):
        assert os.path.getsize(os.path.join(db + ".packets", name)) == size


def segments_or_none(db):
    try:
        return segments(db)
    except sqlite3.Error:
        return []
