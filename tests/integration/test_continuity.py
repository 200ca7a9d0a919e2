"""Ingests that continue: standard input committing as it streams, a file
that grew after a failed or interrupted ingest resuming its capture, and
`capdb relocate` pointing a capture at its moved file.

Every wait is a poll for a condition with a deadline; no sleep stands in for
synchronisation.
"""

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402

DEADLINE = 30  # seconds: generous, for a loaded machine


# --- captures written here -------------------------------------------------

def pcap_header(snaplen=262144):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)  # Ethernet


def udp_frame(i, payload_len=None):
    """An Ethernet/IPv4/UDP frame from one of 40 hosts to one of 7, with a
    payload that names i."""
    src = bytes([10, 0, (i * 7) % 40, 1 + i % 40])
    dst = bytes([192, 168, 1, 1 + i % 7])
    payload = (b"packet %08d " % i) * (1 + i % 3)
    if payload_len is not None:
        payload = payload[:payload_len].ljust(payload_len, b".")
    udp = struct.pack(">HHHH", 1024 + i % 50, 53, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src, dst) + udp
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip


def pcap_record(i, frame):
    ts = 1_600_000_000 * 10**6 + i * 1000  # one packet per millisecond
    return struct.pack("<IIII", ts // 10**6, ts % 10**6, len(frame), len(frame)) + frame


def pcapng_header():
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 262144) + struct.pack("<I", 20)  # Ethernet, microseconds
    return shb + idb


def pcapng_record(i, frame):
    ts = 1_600_000_000 * 10**6 + i * 1000
    padded = frame + b"\0" * (-len(frame) % 4)
    length = 32 + len(padded)
    return struct.pack("<IIIIIII", 6, length, 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + padded + \
        struct.pack("<I", length)


def write_pcap(path, n, payload_len=None, fmt="pcap"):
    """A pcap (or pcapng) of n UDP packets; returns the offset of every
    record (pcapng: of every enhanced packet block)."""
    header, record = (pcap_header(), pcap_record) if fmt == "pcap" else (pcapng_header(), pcapng_record)
    offsets, parts, off = [], [header], len(header)
    for i in range(n):
        rec = record(i, udp_frame(i, payload_len))
        offsets.append(off)
        parts.append(rec)
        off += len(rec)
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    return offsets


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --- capdb -----------------------------------------------------------------

def captures(db):
    p = lib.run(["captures", "--db", db, "--format", "json"])
    assert p.returncode == 0, lib.describe(p)
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def committed(db):
    """Packets committed so far (0 before the database has a capture)."""
    if not os.path.exists(db):
        return 0
    p = lib.run(["query", "--db", db, "--count"])
    return int(p.stdout.split()[0]) if p.returncode == 0 and p.stdout.strip() else 0


def query_csv(db):
    p = lib.run(["query", "--db", db, "--format", "csv"])
    assert p.returncode == 0, lib.describe(p)
    return p.stdout


def same_rows_but_capture(a, b):
    """Whether two query CSV outputs agree in every field but the capture
    id; with the first line that differs."""
    def rows(text):
        return [line.split(",", 3)[:2] + line.split(",", 3)[3:] for line in text.splitlines()]
    ra, rb = rows(a), rows(b)
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x != y:
            return False, "line %d: %r != %r" % (i + 1, x, y)
    return len(ra) == len(rb), "%d lines against %d" % (len(ra), len(rb))


def ingest(db, path, *extra):
    return lib.run(["ingest", "--db", db] + list(extra) + [path])


def fresh_csv(tmp, path, name="fresh.db"):
    """query's CSV output after ingesting path into a new database."""
    db = os.path.join(tmp, name)
    p = ingest(db, path)
    assert p.returncode == 0, lib.describe(p)
    return query_csv(db)


# --- standard input commits as it streams ----------------------------------

class StdinIngest:
    """`capdb ingest -` fed by this test, piece by piece."""

    def __init__(self, db):
        self.proc = lib.start(["ingest", "--db", db, "-"], stdin=subprocess.PIPE)

    def write(self, data):
        self.proc.stdin.buffer.write(data)  # start() pipes text: the bytes go below it
        self.proc.stdin.buffer.flush()

    def running(self):
        return self.proc.poll() is None

    def close(self):
        self.proc.stdin.close()
        self.proc.stdin = None  # closed: the end of the input
        out, err = self.proc.communicate(timeout=DEADLINE)
        return self.proc.returncode, err


def test_stdin_is_queryable_while_the_pipe_is_quiet(tmp):
    db = os.path.join(tmp, "s.db")
    feed = StdinIngest(db)
    feed.write(pcap_header() + b"".join(pcap_record(i, udp_frame(i)) for i in range(5)))
    # The pipe stays open and quiet: the five packets must be committed.
    lib.wait_until(lambda: committed(db) == 5, DEADLINE, "the first 5 packets, with standard input still open")
    assert feed.running()
    (cap,) = captures(db)
    assert cap["state"] == "running" and cap["packets"] == 5
    # A second piece, then quiet again.
    feed.write(b"".join(pcap_record(i, udp_frame(i)) for i in range(5, 12)))
    lib.wait_until(lambda: committed(db) == 12, DEADLINE, "12 packets, with standard input still open")
    assert feed.running()
    rc, err = feed.close()
    assert rc == 0, err
    (cap,) = captures(db)
    assert cap["state"] == "complete" and cap["packets"] == 12


def test_stdin_commits_while_packets_trickle_in(tmp):
    """Packets keep arriving, never pausing long: commits must not wait for
    the pipe to go quiet. The writer trickles until the packets it wrote
    first are seen (or the deadline)."""
    db = os.path.join(tmp, "t.db")
    feed = StdinIngest(db)
    feed.write(pcap_header())
    seen = threading.Event()
    written = [0]

    def trickle():
        deadline = time.monotonic() + DEADLINE
        while not seen.is_set() and time.monotonic() < deadline:
            feed.write(pcap_record(written[0], udp_frame(written[0])))
            written[0] += 1
            time.sleep(0.01)  # the pace of the trickle, not synchronisation

    writer = threading.Thread(target=trickle)
    writer.start()
    try:
        lib.wait_until(lambda: committed(db) >= 10, DEADLINE, "packets committed while they trickle in")
        assert writer.is_alive(), "the packets became visible only after the writer stopped"
    finally:
        seen.set()
        writer.join()
    rc, err = feed.close()
    assert rc == 0, err
    (cap,) = captures(db)
    assert cap["state"] == "complete" and cap["packets"] == written[0]
    # Every packet, exactly once, in order.
    rows = lib.parse_csv(query_csv(db))[1]
    assert [int(r["packet"]) for r in rows] == list(range(1, written[0] + 1))


def test_fifo_is_queryable_while_its_writer_is_quiet(tmp):
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    db = os.path.join(tmp, "f.db")
    proc = lib.start(["ingest", "--db", db, fifo])
    with open(fifo, "wb") as w:
        w.write(pcap_header() + b"".join(pcap_record(i, udp_frame(i)) for i in range(3)))
        w.flush()
        lib.wait_until(lambda: committed(db) == 3, DEADLINE, "3 packets, with the FIFO still open")
        assert proc.poll() is None
    proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0
    (cap,) = captures(db)
    assert cap["state"] == "complete" and cap["packets"] == 3


def test_stdin_streamed_output_equals_a_file_ingest(tmp):
    """Commits every half second cut blocks where the pipe happened to be:
    the query output is still that of the same packets read from a file."""
    path = os.path.join(tmp, "c.pcap")
    offsets = write_pcap(path, 3000)
    with open(path, "rb") as f:
        data = f.read()
    ends = offsets[1:] + [len(data)]  # where each record ends
    db = os.path.join(tmp, "s.db")
    feed = StdinIngest(db)
    cuts = [len(data) * k // 4 for k in range(5)]
    for k in range(4):
        feed.write(data[cuts[k]:cuts[k + 1]])
        if k < 3:
            want = sum(1 for e in ends if e <= cuts[k + 1])
            lib.wait_until(lambda: committed(db) == want, DEADLINE, "the %d packets of the first pieces" % want)
    rc, err = feed.close()
    assert rc == 0, err
    assert query_csv(db) == fresh_csv(tmp, path)


# --- a file that grew after a failed ingest --------------------------------

@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_grown_file_resumes_its_failed_capture(tmp, fmt):
    full = os.path.join(tmp, "full." + fmt)
    offsets = write_pcap(full, 5000, fmt=fmt)
    live = os.path.join(tmp, "growing." + fmt)
    with open(full, "rb") as f:
        data = f.read()
    cut = offsets[3210] + 9  # mid-record: 3210 whole packets before it
    with open(live, "wb") as f:
        f.write(data[:cut])
    db = os.path.join(tmp, "g.db")
    p = ingest(db, live, "--batch", "1000")
    assert p.returncode == lib.EXIT_DAMAGED, lib.describe(p)
    (cap,) = captures(db)
    assert cap["state"] == "failed" and cap["packets"] == 3210

    shutil.copyfile(full, live)
    p = ingest(db, live, "--batch", "1000")
    assert p.returncode == 0, lib.describe(p)
    caps = captures(db)
    assert [(c["id"], c["state"], c["packets"]) for c in caps] == [(1, "complete", 5000)]
    assert "resumes capture 1 after its 3210 committed packets" in p.stderr, lib.describe(p)
    (cap,) = caps
    assert cap["sha256"] == sha256(full)
    assert cap["ipv4"] == 5000
    assert query_csv(db) == fresh_csv(tmp, live)
    # query -w reads the grown file: the capture records its new size and mtime.
    out = os.path.join(tmp, "out.pcap")
    p = lib.run(["query", "--db", db, "-w", out])
    assert p.returncode == 0, lib.describe(p)
    assert [r.data for r in lib.read_capture(out).records] == [r.data for r in lib.read_capture(full).records]
    # The same file again is a duplicate.
    p = ingest(db, live)
    assert p.returncode == 0 and "already ingested (capture 1)" in p.stderr, lib.describe(p)


def test_file_with_a_changed_prefix_does_not_resume(tmp):
    full = os.path.join(tmp, "full.pcap")
    offsets = write_pcap(full, 400)
    live = os.path.join(tmp, "growing.pcap")
    with open(full, "rb") as f:
        data = bytearray(f.read())
    cut = offsets[250] + 20
    with open(live, "wb") as f:
        f.write(data[:cut])
    db = os.path.join(tmp, "c.db")
    p = ingest(db, live)
    assert p.returncode == lib.EXIT_DAMAGED, lib.describe(p)
    # The same length of prefix, one payload byte of packet 100 changed.
    data[offsets[99] + 16 + 50] ^= 0x01
    with open(live, "wb") as f:
        f.write(data)
    p = ingest(db, live)
    assert p.returncode == 0, lib.describe(p)
    assert "resumes" not in p.stderr
    caps = captures(db)
    # The damaged capture is another file's packets: kept, as before; the
    # new file is a capture of its own, whole.
    assert [(c["id"], c["state"], c["packets"]) for c in caps] == [(1, "failed", 250), (2, "complete", 400)]
    assert caps[1]["sha256"] == hashlib.sha256(bytes(data)).hexdigest()


def test_interrupted_capture_with_a_changed_prefix_is_replaced(tmp):
    path = os.path.join(tmp, "big.pcap")
    offsets = write_pcap(path, 400_000, payload_len=40)
    db = os.path.join(tmp, "i.db")
    interrupt_mid_ingest(db, path, signal.SIGINT)
    (cap,) = captures(db)
    n = cap["packets"]
    assert cap["state"] == "interrupted" and 0 < n < 400_000
    with open(path, "r+b") as f:  # one byte of the first packet's payload
        f.seek(offsets[0] + 16 + 60)
        b = f.read(1)
        f.seek(offsets[0] + 16 + 60)
        f.write(bytes([b[0] ^ 0xFF]))
    p = ingest(db, path)
    assert p.returncode == 0, lib.describe(p)
    assert "resumes" not in p.stderr
    (cap,) = captures(db)
    assert cap["state"] == "complete" and cap["packets"] == 400_000


def interrupt_mid_ingest(db, path, sig):
    """Starts ingesting path (a commit every 1,000 packets) and sends sig
    once some packets are committed; returns the exit code."""
    proc = lib.start(["ingest", "--db", db, "--batch", "1000", path])
    lib.wait_until(lambda: committed(db) > 0 or proc.poll() is not None, DEADLINE, "a first commit")
    if proc.poll() is not None:
        pytest.skip("the ingest finished before it could be stopped")
    proc.send_signal(sig)
    proc.communicate(timeout=DEADLINE)
    if proc.returncode == 0:
        pytest.skip("the ingest had read its whole input when the signal came")
    return proc.returncode


def test_interrupted_ingest_resumes(tmp):
    path = os.path.join(tmp, "big.pcap")
    write_pcap(path, 400_000, payload_len=40)
    db = os.path.join(tmp, "i.db")
    assert interrupt_mid_ingest(db, path, signal.SIGINT) == 130
    (cap,) = captures(db)
    n = cap["packets"]
    assert cap["state"] == "interrupted" and 0 < n < 400_000
    p = ingest(db, path)
    assert p.returncode == 0, lib.describe(p)
    caps = captures(db)
    assert [(c["id"], c["state"], c["packets"]) for c in caps] == [(1, "complete", 400_000)]
    assert "resumes capture 1 after its %d committed packets" % n in p.stderr, lib.describe(p)
    (cap,) = caps
    assert cap["sha256"] == sha256(path)
    assert query_csv(db) == fresh_csv(tmp, path)


def test_killed_ingest_is_redone(tmp):
    """SIGKILL leaves no committed prefix: the unfinished capture is removed
    and the file ingested afresh, once."""
    path = os.path.join(tmp, "big.pcap")
    write_pcap(path, 400_000, payload_len=40)
    db = os.path.join(tmp, "k.db")
    assert interrupt_mid_ingest(db, path, signal.SIGKILL) == -signal.SIGKILL
    (cap,) = captures(db)
    assert cap["state"] == "failed" and 0 < cap["packets"] < 400_000
    p = ingest(db, path)
    assert p.returncode == 0, lib.describe(p)
    assert "resumes" not in p.stderr
    (cap,) = captures(db)
    assert cap["state"] == "complete" and cap["packets"] == 400_000
    assert cap["id"] == 2, "capture ids are never reused, even after a removal"
    assert cap["sha256"] == sha256(path)
    same, where = same_rows_but_capture(query_csv(db), fresh_csv(tmp, path))
    assert same, where


# --- capdb relocate --------------------------------------------------------

def test_relocate_after_a_move(tmp):
    os.mkdir(os.path.join(tmp, "a"))
    os.mkdir(os.path.join(tmp, "b"))
    old = os.path.join(tmp, "a", "x.pcap")
    new = os.path.join(tmp, "b", "y.pcap")
    write_pcap(old, 300)
    db = os.path.join(tmp, "r.db")
    assert ingest(db, old).returncode == 0
    before = os.path.join(tmp, "before.pcap")
    p = lib.run(["query", "--db", db, "--host", "10.0.3.4", "-w", before])
    assert p.returncode == 0, lib.describe(p)
    os.rename(old, new)
    p = lib.run(["query", "--db", db, "-w", os.path.join(tmp, "x.out")])
    assert p.returncode == lib.EXIT_SOURCE and old in p.stderr, lib.describe(p)

    p = lib.run(["relocate", "--db", db, "1", new])
    assert p.returncode == 0, lib.describe(p)
    (cap,) = captures(db)
    assert cap["source"] == new
    after = os.path.join(tmp, "after.pcap")
    p = lib.run(["query", "--db", db, "--host", "10.0.3.4", "-w", after])
    assert p.returncode == 0, lib.describe(p)
    with open(before, "rb") as f1, open(after, "rb") as f2:
        assert f1.read() == f2.read()


def test_relocate_to_another_file_is_refused(tmp):
    path = os.path.join(tmp, "x.pcap")
    write_pcap(path, 300)
    db = os.path.join(tmp, "r.db")
    assert ingest(db, path).returncode == 0
    other = os.path.join(tmp, "other.pcap")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-1] ^= 0x01  # the same size, another SHA-256
    with open(other, "wb") as f:
        f.write(data)
    listing = captures(db)
    p = lib.run(["relocate", "--db", db, "1", other])
    assert p.returncode == lib.EXIT_SOURCE, lib.describe(p)
    (line,) = p.stderr.splitlines()
    assert "capture 1" in line and other in line
    assert sha256(path) in line and hashlib.sha256(bytes(data)).hexdigest() in line
    assert captures(db) == listing
    # Another size is refused before hashing.
    with open(other, "ab") as f:
        f.write(b"\0")
    p = lib.run(["relocate", "--db", db, "1", other])
    assert p.returncode == lib.EXIT_SOURCE and "size" in p.stderr, lib.describe(p)
    assert captures(db) == listing


def test_relocate_errors(tmp):
    path = os.path.join(tmp, "x.pcap")
    write_pcap(path, 10)
    db = os.path.join(tmp, "r.db")
    assert ingest(db, path).returncode == 0
    with open(path, "rb") as f:
        p = lib.run(["ingest", "--db", db, "-"], stdin_bytes=f.read()[:-1] + b"\x00")
    assert p.returncode == 0, lib.describe(p)
    p = lib.run(["relocate", "--db", db, "7", path])
    assert p.returncode == lib.EXIT_USAGE and "no such capture 7" in p.stderr, lib.describe(p)
    p = lib.run(["relocate", "--db", db, "2", path])
    assert p.returncode == lib.EXIT_USAGE and "standard input" in p.stderr, lib.describe(p)
    p = lib.run(["relocate", "--db", db, "1", os.path.join(tmp, "missing.pcap")])
    assert p.returncode == lib.EXIT_INPUT and "missing.pcap" in p.stderr, lib.describe(p)
    p = lib.run(["relocate", "--db", db, "1"])
    assert p.returncode == lib.EXIT_USAGE, lib.describe(p)
