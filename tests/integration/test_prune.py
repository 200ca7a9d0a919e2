"""capdb prune and capdb vacuum on file captures.

A synthetic capture of 12,000 packets (IPv4 UDP/TCP among 200 hosts, IPv6,
ARP) is ingested in blocks of 500. Before and after each prune, the counts
over the kept period and every row of a kept window (packet by packet, as
CSV), host queries through the postings and `query -w` of the kept rows are
compared; the capture's counts must equal what is left; the original file
must keep every byte; vacuum must shrink the database file; block ids must
never be given twice (a `query --follow` across a prune sees every new
packet once).
"""

import hashlib
import json
import os
import re
import sqlite3
import struct
import threading

import capdb_testlib as lib

T0 = 1_600_000_000  # seconds
STEP_NS = 1_000_000  # 1 ms between packets


def eth(ethertype, payload):
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack(">H", ethertype) + payload


def ipv4(src, dst, proto, payload):
    total = 20 + len(payload)
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, proto, 0, bytes(src), bytes(dst))
    return hdr + payload


def ipv6(src, dst, proto, payload):
    return struct.pack(">IHBB16s16s", 6 << 28, len(payload), proto, 64, bytes(src), bytes(dst)) + payload


def frame(i):
    """Packet i: mostly IPv4 between 200 hosts (UDP or TCP), every 17th
    IPv6, every 29th ARP."""
    if i % 29 == 0:
        return eth(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01" + bytes(20))
    a, b = 1 + i % 200, 1 + (i * 7) % 200
    ports = struct.pack(">HH", 1000 + i % 50, 53 if i % 3 else 443)
    if i % 17 == 0:
        src = [0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [a]
        dst = [0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [b]
        return eth(0x86DD, ipv6(src, dst, 17, ports + struct.pack(">HH", 12, 0) + b"v6v6"))
    if i % 2:
        return eth(0x0800, ipv4([10, 0, 0, a], [10, 0, 1, b], 17, ports + struct.pack(">HH", 12, 0) + b"udp!"))
    return eth(0x0800, ipv4([10, 0, 0, a], [10, 0, 1, b], 6, ports + bytes(8) + b"\x50\x10\x01\x00" + bytes(4)))


def write_pcap(path, n, t0=T0):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            ns = i * STEP_NS
            data = frame(i)
            f.write(struct.pack("<IIII", t0 + ns // 10**9, ns % 10**9, len(data), len(data)))
            f.write(data)
    return path


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ok(args):
    p = lib.run(args)
    assert p.returncode == 0, p
    return p


def count(db, *args):
    return int(ok(["query", "--db", db, "--count"] + list(args)).stdout)


def rows(db, *args):
    return lib.parse_csv(ok(["query", "--db", db, "--format", "csv"] + list(args)).stdout)[1]


def captures(db):
    return [json.loads(line) for line in ok(["captures", "--db", db, "--format", "json"]).stdout.splitlines()]


def prune(db, *args):
    p = ok(["prune", "--db", db] + list(args))
    m = re.search(r"every packet from (\S+) on is kept", p.stdout)
    sizes = [int(x) for x in re.findall(r"^size (?:before|after): +(\d+) bytes", p.stdout, re.M)]
    return p, (m.group(1) if m else None), sizes


def t(ns):
    """A time argument: epoch seconds with nine decimals."""
    return "%d.%09d" % divmod(ns, 10**9)


def check_counts(db):
    """Each capture's row counts exactly its packets that are left."""
    for c in captures(db):
        got = rows(db, "--capture", str(c["id"]))
        assert c["packets"] == len(got), c
        assert c["ipv4"] + c["ipv6"] + c["other"] + c["malformed"] + c["unsupported"] == c["packets"], c
        assert c["bytes"] == sum(int(r["wirelen"]) for r in got), c
        assert c["ipv6"] == sum(1 for r in got if ":" in r["src"]), c
        if got:
            assert c["first_ts_ns"] == min(int(r["ts_ns"]) for r in got), c
            assert c["last_ts_ns"] == max(int(r["ts_ns"]) for r in got), c


def ingest(db, path, batch="500"):
    ok(["ingest", "--db", db, "--batch", batch, path])


def test_before_keeps_the_later_period_exactly(tmp):
    db = os.path.join(tmp, "p.db")
    orig = write_pcap(os.path.join(tmp, "a.pcap"), 12000)
    digest = sha256(orig)
    ingest(db, orig)
    cut_ns = T0 * 10**9 + 5250 * STEP_NS  # inside the block of packets 5000-5499
    window = ["--from", t(cut_ns), "--to", t(cut_ns + 3000 * STEP_NS)]
    hosts = ["10.0.0.7", "10.0.1.150", "2001:db8::9", "10.0.0.0/24"]
    before = {
        "kept": count(db, "--from", t(cut_ns)),
        "window": rows(db, *window),
        "hosts": {h: rows(db, "--host", h, "--from", t(cut_ns)) for h in hosts},
        "all": count(db),
    }
    assert before["all"] == 12000

    p, kept_from, _ = prune(db, "--before", t(cut_ns), "--dry-run")
    assert "would remove 5000 packets in 10 blocks" in p.stdout, p
    assert count(db) == 12000, "a dry run removed packets"

    p, kept_from, _ = prune(db, "--before", t(cut_ns))
    assert "removed 5000 packets in 10 blocks" in p.stdout, p
    # The block straddling the cut stays whole: packets 5000-11999 are left.
    assert count(db) == 7000
    assert count(db, "--from", t(cut_ns)) == before["kept"]
    assert count(db, "--from", kept_from) == count(db)
    assert rows(db, *window) == before["window"], "the kept window changed"
    for h in hosts:
        assert rows(db, "--host", h, "--from", t(cut_ns)) == before["hosts"][h], h
    assert min(int(r["packet"]) for r in rows(db)) == 5001  # numbered from 1
    check_counts(db)
    (c,) = captures(db)
    assert c["packets"] == 7000 and c["first_ts_ns"] == T0 * 10**9 + 5000 * STEP_NS
    # The kept rows are still retrievable, from the untouched original.
    out = os.path.join(tmp, "kept.pcap")
    ok(["query", "--db", db, "--host", "10.0.0.7", "-w", out])
    assert len(lib.read_capture(out).records) == len(rows(db, "--host", "10.0.0.7"))
    assert sha256(orig) == digest, "prune changed the original file"

    # Pruning everything removes the capture, row and all; the file stays.
    p, _, _ = prune(db, "--before", t(T0 * 10**9 + 10**12))
    assert "and the capture" in p.stdout, p
    assert captures(db) == [] and count(db) == 0
    assert sha256(orig) == digest


def test_capture_removes_one_capture(tmp):
    db = os.path.join(tmp, "p.db")
    a = write_pcap(os.path.join(tmp, "a.pcap"), 3000)
    b = write_pcap(os.path.join(tmp, "b.pcap"), 2000, t0=T0 + 1)  # overlaps a in time
    digests = (sha256(a), sha256(b))
    ingest(db, a)
    ingest(db, b)
    b_rows = rows(db, "--capture", "2")
    b_host = rows(db, "--host", "10.0.1.8", "--capture", "2")
    p, _, _ = prune(db, "--capture", "1")
    assert "capture 1: removed 3000 packets and the capture" in p.stdout, p
    assert [c["id"] for c in captures(db)] == [2]
    assert rows(db) == b_rows
    assert rows(db, "--host", "10.0.1.8") == b_host
    check_counts(db)
    assert (sha256(a), sha256(b)) == digests
    # No such capture: a usage error naming it.
    p = lib.run(["prune", "--db", db, "--capture", "1"])
    assert p.returncode == lib.EXIT_USAGE and "--capture 1" in p.stderr, p
    p = lib.run(["prune", "--db", db])
    assert p.returncode == lib.EXIT_USAGE, p
    p = lib.run(["prune", "--db", db, "--before", "yesterday"])
    assert p.returncode == lib.EXIT_USAGE and "--before" in p.stderr, p


def test_before_with_capture_prunes_only_that_capture(tmp):
    db = os.path.join(tmp, "p.db")
    ingest(db, write_pcap(os.path.join(tmp, "a.pcap"), 3000))
    ingest(db, write_pcap(os.path.join(tmp, "b.pcap"), 3000, t0=T0 + 1))
    cut = t(T0 * 10**9 + 1000 * STEP_NS)
    b_rows = rows(db, "--capture", "2")
    prune(db, "--before", cut, "--capture", "1")
    assert rows(db, "--capture", "2") == b_rows
    assert count(db, "--capture", "1") == 2000
    check_counts(db)


def test_keep_size_removes_the_oldest_first(tmp):
    db = os.path.join(tmp, "p.db")
    files = [write_pcap(os.path.join(tmp, "%d.pcap" % k), 6000, t0=T0 + 100 * k) for k in range(3)]
    digests = [sha256(f) for f in files]
    for f in files:
        ingest(db, f)
    newest = rows(db, "--capture", "3")
    _, _, sizes = prune(db, "--keep-size", "1G", "--dry-run")
    full = sizes[0]
    target = full * 55 // 100
    p, kept_from, sizes = prune(db, "--keep-size", str(target))
    assert sizes[1] <= target, p
    assert "capture 1: removed 6000 packets and the capture" in p.stdout, p
    assert rows(db, "--capture", "3") == newest, "the newest capture lost packets"
    # What is left is everything from the kept time on, and nothing older.
    assert count(db, "--from", kept_from) == count(db)
    check_counts(db)
    assert [sha256(f) for f in files] == digests
    # A size already met removes nothing.
    p, _, _ = prune(db, "--keep-size", str(full * 10))
    assert "nothing to prune" in p.stdout, p


def test_vacuum_returns_the_freed_pages(tmp):
    db = os.path.join(tmp, "p.db")
    ingest(db, write_pcap(os.path.join(tmp, "a.pcap"), 20000))
    kept = rows(db, "--from", t(T0 * 10**9 + 18000 * STEP_NS))
    prune(db, "--before", t(T0 * 10**9 + 18000 * STEP_NS))
    size_pruned = os.path.getsize(db)
    p = ok(["vacuum", "--db", db])
    m = re.search(r"database file: (\d+) -> (\d+) bytes", p.stdout)
    assert m, p
    assert int(m.group(2)) < int(m.group(1)) and os.path.getsize(db) < size_pruned * 0.5, p
    assert not os.path.exists(db + "-wal") or os.path.getsize(db + "-wal") == 0
    assert rows(db) == kept
    ok(["ingest", "--db", db, "--batch", "500", write_pcap(os.path.join(tmp, "b.pcap"), 100)])
    check_counts(db)


def test_block_ids_are_never_reused(tmp):
    """The capture holding the newest blocks is pruned, and another capture
    of the same size is ingested: its blocks get new ids, so a follower that
    remembers the newest id sees every one of its packets."""
    db = os.path.join(tmp, "p.db")
    ingest(db, write_pcap(os.path.join(tmp, "a.pcap"), 2000))
    ingest(db, write_pcap(os.path.join(tmp, "b.pcap"), 2000, t0=T0 + 10))
    follower = lib.start(["query", "--db", db, "--follow", "--format", "csv", "--host", "10.0.0.7"])
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True)
    reader.start()
    expected_ab = len(rows(db, "--host", "10.0.0.7"))
    lib.wait_until(lambda: len(lines) >= 1 + expected_ab, 30, "the follower's first rows")

    def max_id():
        with sqlite3.connect(db) as con:
            return con.execute("SELECT max(id) FROM blocks").fetchone()[0]

    newest = max_id()
    prune(db, "--capture", "2")
    ingest(db, write_pcap(os.path.join(tmp, "c.pcap"), 2000, t0=T0 + 20))
    with sqlite3.connect(db) as con:
        first_c = con.execute("SELECT min(id) FROM blocks WHERE capture_id=3").fetchone()[0]
    assert first_c > newest, "block ids were reused"
    c_rows = rows(db, "--host", "10.0.0.7", "--capture", "3")
    lib.wait_until(lambda: len(lines) >= 1 + expected_ab + len(c_rows), 30, "the follower's rows of capture 3")
    follower.terminate()
    follower.wait(10)
    reader.join(10)
    got = lib.parse_csv("".join(lines))[1]
    assert [r for r in got if r["capture"] == "3"] == c_rows
    assert len(got) == expected_ab + len(c_rows)
    # And after a prune, a host query through the postings still matches
    # the rows, packet by packet.
    prune(db, "--before", t((T0 + 20) * 10**9 + 700 * STEP_NS))
    assert rows(db, "--host", "10.0.0.7") == [r for r in rows(db) if "10.0.0.7" in (r["src"], r["dst"])]


def test_queries_beside_prunes_stay_exact(tmp):
    """While prunes remove older and older blocks, queries in another
    process over the period no prune touches always answer the same, and
    every row a query lists is exported (query -w) from its file."""
    db = os.path.join(tmp, "p.db")
    orig = write_pcap(os.path.join(tmp, "a.pcap"), 20000)
    ingest(db, orig, batch="250")
    final_cut = T0 * 10**9 + 15000 * STEP_NS
    stable = rows(db, "--from", t(final_cut), "--host", "10.0.0.9")
    stop = threading.Event()
    failures, rounds = [], [0]

    def query_loop():
        while not stop.is_set():
            got = lib.run(["query", "--db", db, "--format", "csv", "--from", t(final_cut), "--host", "10.0.0.9"])
            if got.returncode != 0 or lib.parse_csv(got.stdout)[1] != stable:
                failures.append(str(got))
            listed = lib.run(["query", "--db", db, "--format", "csv", "--host", "10.0.0.9"])
            out = os.path.join(tmp, "q.pcap")
            w = lib.run(["query", "--db", db, "-w", out, "--host", "10.0.0.9"])
            if listed.returncode != 0 or w.returncode != 0:
                failures.append(str(listed) + str(w))
            rounds[0] += 1

    th = threading.Thread(target=query_loop)
    th.start()
    try:
        lib.wait_until(lambda: rounds[0] >= 1, 60, "the first query round")
        for k in range(1, 16):
            prune(db, "--before", t(T0 * 10**9 + k * 1000 * STEP_NS))
        lib.wait_until(lambda: rounds[0] >= 3, 60, "query rounds after the prunes")
    finally:
        stop.set()
        th.join(60)
    assert not failures, failures[0]
    assert rows(db, "--from", t(final_cut), "--host", "10.0.0.9") == stable
    check_counts(db)
