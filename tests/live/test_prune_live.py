"""Retention under a running live capture on lo, whose packets go into the
packet store: prune --before and --keep-size beside it, the ring buffer
(ingest -i --max-size), and exports (query -w) running in another process
during the prunes, which must never meet a row whose packet is gone.

Every datagram carries its number, so an exported packet is checked byte
for byte against what was sent."""

import os
import re
import threading
import time

import pytest

import capdb_testlib as lib
import livelib

pytestmark = pytest.mark.usefixtures("live_capture")

SIZE = 1000  # UDP payload bytes


def payload(n):
    head = b"capdb-prune-%08d-" % n
    return head + bytes((n + i) % 251 for i in range(SIZE - len(head)))


def number_of(data):
    """The datagram number in a captured frame (Ethernet + IPv4 + UDP on lo)."""
    body = data[livelib.LO_UDP_OVERHEAD:]
    m = re.match(rb"capdb-prune-(\d{8})-", body)
    assert m, body[:40]
    n = int(m.group(1))
    assert body == payload(n), "datagram %d is not what was sent" % n
    return n


class Capture:
    def __init__(self, work, name, *extra, batch="50"):
        self.db = os.path.join(work, name)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        self.port = livelib.UdpPort()
        self.sent = 0
        self.proc = lib.start(["ingest", "-i", "lo", "--db", self.db, "--segment-size", "64k", "--batch", batch] + list(extra) +
                              ["udp port %d" % self.port.port])
        livelib.wait_listening(self.proc)

    def send(self, n, pace=200):
        """Sends datagrams numbered from self.sent on, pausing every `pace`
        so that the kernel buffer never overflows."""
        for k in range(n):
            self.port.send(payload(self.sent))
            self.sent += 1
            if k % pace == pace - 1:
                time.sleep(0.002)

    def count(self, *args):
        r = lib.run(["query", "--db", self.db, "--count", "--port", str(self.port.port)] + list(args))
        assert r.returncode == 0, r
        return int(r.stdout)

    def wait_all(self):
        lib.wait_until(lambda: self.count() + self.pruned() >= self.sent, 30, "the datagrams to be committed")

    def pruned(self):
        return 0

    def rows(self, *args):
        r = lib.run(["query", "--db", self.db, "--format", "csv", "--port", str(self.port.port)] + list(args))
        assert r.returncode == 0, r
        return lib.parse_csv(r.stdout)[1]

    def export(self, out, *args):
        """query -w of the capture's rows; returns the datagram numbers,
        each checked byte for byte."""
        r = lib.run(["query", "--db", self.db, "-w", out, "--port", str(self.port.port)] + list(args))
        assert r.returncode == 0, r
        return [number_of(rec.data) for rec in lib.read_capture(out).records]

    def stop(self):
        code, err = livelib.finish(self.proc)
        self.port.close()
        assert code == 0, err
        return err


def prune(db, *args):
    r = lib.run(["prune", "--db", db] + list(args))
    assert r.returncode == 0, r
    m = re.search(r"every packet from (\S+) on is kept", r.stdout)
    sizes = [int(x) for x in re.findall(r"^size (?:before|after): +(\d+) bytes", r.stdout, re.M)]
    return r, (m.group(1) if m else None), sizes


def wal_sizes(r):
    """The WAL's bytes before and after, from prune's summary."""
    return [int(x) for x in re.findall(r"^size (?:before|after): .*WAL (\d+),", r.stdout, re.M)]


def segment_files(db):
    d = db + ".packets"
    return sorted(f for f in os.listdir(d) if f.endswith(".pcap")) if os.path.isdir(d) else []


def check_capture_counts(cap):
    (c,) = [c for c in lib_captures(cap.db)]
    assert c["packets"] == cap.count(), c
    assert c["packets_at"] == "store"
    assert c["store_bytes"] > 0


def lib_captures(db):
    import json
    r = lib.run(["captures", "--db", db, "--format", "json"])
    assert r.returncode == 0, r
    return [json.loads(line) for line in r.stdout.splitlines()]


class Exporter:
    """query -w in a loop in other processes while prunes run: every export
    must succeed with exact packets."""

    def __init__(self, cap, work):
        self.cap, self.out = cap, os.path.join(work, "loop.pcap")
        self.failures, self.rounds, self.stop = [], 0, threading.Event()
        self.listed_rounds = 0  # rounds whose query listed rows
        self.th = threading.Thread(target=self.loop)
        self.th.start()

    def loop(self):
        while not self.stop.is_set():
            try:
                listed = [int(r["packet"]) for r in self.cap.rows()]
                got = self.cap.export(self.out)
                if len(got) != len(set(got)):
                    self.failures.append("an export repeated packets")
                # Rounds before the capture's first commit list nothing;
                # after it, the segment being written (never pruned) always
                # holds committed rows, so every round lists some.
                if listed:
                    self.listed_rounds += 1
                elif self.listed_rounds:
                    self.failures.append("a query listed no rows after round %d listed some" % self.rounds)
            except AssertionError as e:
                self.failures.append(str(e))
            self.rounds += 1

    def finish(self, min_rounds=2):
        lib.wait_until(lambda: self.rounds >= min_rounds, 60, "export rounds")
        self.stop.set()
        self.th.join(120)
        assert not self.failures, self.failures[0]
        assert self.listed_rounds > 0, "no query listed any rows"


def test_prune_before_beside_a_live_capture(work):
    cap = Capture(work, "before.db")
    try:
        cap.send(600)
        cap.wait_all()
        time.sleep(0.05)  # the cut falls between the two groups of datagrams
        cut = time.time()
        time.sleep(0.05)
        cap.send(600)
        cap.wait_all()
        assert len(segment_files(cap.db)) > 3
        later = cap.rows("--from", "%.9f" % cut)
        later_numbers = cap.export(os.path.join(work, "later.pcap"), "--from", "%.9f" % cut)
        exporter = Exporter(cap, work)
        files_before = segment_files(cap.db)
        r, kept_from, _ = prune(cap.db, "--before", "%.9f" % cut)
        exporter.finish()
        assert "packet store files" in r.stdout
        removed = int(re.search(r"removed (\d+) packets", r.stdout).group(1))
        assert 0 < removed <= 600, r
        # Segments went with their rows; the kept period answers as before.
        assert len(segment_files(cap.db)) < len(files_before)
        assert cap.rows("--from", "%.9f" % cut) == later
        assert cap.export(os.path.join(work, "later2.pcap"), "--from", "%.9f" % cut) == later_numbers
        assert cap.count() == 1200 - removed
        assert cap.count("--from", kept_from) == cap.count()
        # The capture goes on, and its counts stay true.
        cap.send(300)
        lib.wait_until(lambda: cap.count() == 1500 - removed, 30, "the datagrams after the prune")
        numbers = cap.export(os.path.join(work, "all.pcap"))
        assert numbers == list(range(removed, 1500)) or sorted(numbers) == sorted(set(numbers))
        assert set(range(600, 1500)) <= set(numbers)
        check_capture_counts(cap)
    finally:
        cap.stop()
    check_capture_counts(cap)
    # The postings written at the end (after blocks of their segment were
    # pruned) find exactly the rows that are left.
    assert cap.rows("--host", "127.0.0.1") == cap.rows()


def test_keep_size_beside_a_live_capture(work):
    cap = Capture(work, "keep.db")
    try:
        cap.send(3000)
        cap.wait_all()
        _, _, sizes = prune(cap.db, "--keep-size", "100G", "--dry-run")
        target = sizes[0] * 6 // 10
        exporter = Exporter(cap, work)
        r, kept_from, sizes = prune(cap.db, "--keep-size", str(target))
        exporter.finish()
        # The prune's own WAL frames stay until a checkpoint, which the
        # exporter's reads can put off: they are not part of the promise.
        wal_before, wal_after = wal_sizes(r)
        assert sizes[1] - max(0, wal_after - wal_before) <= target, r
        numbers = cap.export(os.path.join(work, "kept.pcap"))
        # Oldest first: what is left is the newest datagrams, without a gap.
        assert numbers == list(range(numbers[0], 3000)), numbers[:5]
        assert numbers[0] > 0
        assert cap.count("--from", kept_from) == len(numbers)
        cap.send(200)
        lib.wait_until(lambda: cap.count() == len(numbers) + 200, 30, "the datagrams after the prune")
        check_capture_counts(cap)
        # vacuum would hold the capture's commits back: refused while it runs.
        r = lib.run(["vacuum", "--db", cap.db])
        assert r.returncode == lib.EXIT_DATABASE and "stop the capture first" in r.stderr, r
    finally:
        cap.stop()
    r = lib.run(["vacuum", "--db", cap.db])
    assert r.returncode == 0, r
    assert cap.count() == len(numbers) + 200


def test_max_size_ring_buffer(work):
    max_size = 8 << 20
    cap = Capture(work, "ring.db", "--max-size", str(max_size))
    try:
        exporter = Exporter(cap, work)
        seen_max = 0
        for _ in range(12):
            cap.send(2000)
            lib.wait_until(lambda: cap.export(os.path.join(work, "tail.pcap"), "--limit", "1000000")[-1:] ==
                           [cap.sent - 1], 30, "the newest datagram")
            store = sum(os.path.getsize(os.path.join(cap.db + ".packets", f)) for f in segment_files(cap.db))
            seen_max = max(seen_max, store)
        exporter.finish()
        numbers = cap.export(os.path.join(work, "ring.pcap"))
        # The oldest went; the newest are all there, without a gap.
        assert numbers[0] > 0 and numbers == list(range(numbers[0], cap.sent)), numbers[:5]
        assert len(numbers) < cap.sent
        # The packet store alone never held much more than the bound.
        assert seen_max <= max_size, seen_max
        check_capture_counts(cap)
    finally:
        cap.stop()
    check_capture_counts(cap)


def fill_and_check(cap, work, rounds, per_round):
    """Sends rounds of datagrams into a capture on a file system too small
    for them all: it must keep running, and every row a query lists must
    have its packet, exact, the newest all there without a gap."""
    for _ in range(rounds):
        cap.send(per_round)
        lib.wait_until(lambda: cap.proc.poll() is not None or
                       cap.export(os.path.join(work, "tail.pcap"), "--limit", "1000000")[-1:] == [cap.sent - 1],
                       30, "the newest datagram")
        assert cap.proc.poll() is None, "the capture stopped: %s" % cap.proc.stderr.read()
    listed = [int(r["packet"]) for r in cap.rows()]
    numbers = cap.export(os.path.join(work, "full.pcap"))
    assert len(numbers) == len(listed)
    # The oldest went; the newest are all there, without a gap.
    assert 0 < numbers[0] and numbers == list(range(numbers[0], cap.sent)), numbers[:5]
    check_capture_counts(cap)


def ring_buffer_on_small_fs(work, mount_at, size, db_name, rounds, batch="50"):
    """A ring buffer far larger than the tmpfs of size mounted at
    work/mount_at, which holds the capture's store (and its database when
    db_name is inside it): rounds of 2000 datagrams, then fill_and_check()."""
    mnt = os.path.join(work, mount_at)
    lib.mount_small_tmpfs(mnt, size)
    try:
        cap = Capture(work, db_name, "--max-size", "1G", batch=batch)
        try:
            fill_and_check(cap, work, rounds, 2000)
        finally:
            cap.stop()
        check_capture_counts(cap)
    finally:
        lib.umount(mnt)


def test_max_size_on_a_full_disk_drops_the_oldest_segments(work):
    """The packet store on a 3 MiB file system, --max-size far above it:
    blocks of 500 datagrams (more than the free space the ring buffer keeps,
    twice --segment-size) meet the full disk, and the capture drops its
    oldest segments with their rows and writes the block again (without
    --max-size it stops, exit 6)."""
    ring_buffer_on_small_fs(work, "full.db.packets", "3m", "full.db", 4, batch="500")  # 2 MiB a round


def test_max_size_keeps_room_for_the_database_on_the_same_disk(work):
    """Database and packet store on one 16 MiB file system: the ring buffer
    keeps twice --segment-size free there, so that SQLite's own writes (WAL,
    checkpoints) find room (a segment write that meets the full disk all
    the same takes the retry), and the capture goes on. Without the room
    kept, SQLite stops it ('database or disk is full', exit 6)."""
    ring_buffer_on_small_fs(work, "samefs", "16m", "samefs/s.db", 12)  # about 24 MiB in all
