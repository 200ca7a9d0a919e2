"""Helpers of capdb's reliability tests: synthetic captures, resource
limits and database checks read with SQLite directly. The binary, the
environment, runs and temporary directories come from capdb_testlib (shared
by every suite), re-exported here."""

import hashlib
import os
import random
import resource
import sqlite3
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from capdb_testlib import (Checks, TempDir, as_user, capdb_path, clean_env, parse_csv,  # noqa: E402,F401
                           poll, run, testdata_dir)


def limits(memory_bytes=1 << 30, cpu_seconds=None):
    """A preexec_fn that caps the child's address space (and CPU time)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    return apply


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Synthetic captures

def pcap_header(linktype=1, snaplen=65535, nanosecond=True):
    return struct.pack("<IHHiIII", 0xA1B23C4D if nanosecond else 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def make_frame(rng, i):
    """Ethernet/IPv4/UDP (or TCP) between a few hosts; 42..130 bytes."""
    src = bytes([10, 0, (i >> 8) & 3, rng.randrange(1, 250)])
    dst = bytes([192, 168, 1, rng.randrange(1, 250)])
    payload = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 88)))
    if rng.random() < 0.5:
        l4 = struct.pack(">HHHH", 1024 + (i & 0x7FFF), 53, 8 + len(payload), 0) + payload
        proto = 17
    else:
        l4 = struct.pack(">HHIIBBHHH", 40000 + (i & 0x3FF), 443, i, 0, 0x50, 0x18, 512, 0, 0) + payload
        proto = 6
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), i & 0xFFFF, 0, 64, proto, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + l4


def make_capture(path, packets, seed=1, t0_ns=1_600_000_000_000_000_000):
    """Writes a nanosecond pcap of `packets` frames with strictly increasing,
    unique timestamps. Returns the list of (ts_ns, caplen, wirelen, offset)."""
    rng = random.Random(seed)
    expected = []
    out = bytearray(pcap_header())
    ts = t0_ns
    for i in range(packets):
        ts += 1 + rng.randrange(0, 20_000)
        frame = make_frame(rng, i)
        wire = len(frame) + (rng.randrange(0, 1400) if rng.random() < 0.1 else 0)
        expected.append((ts, len(frame), wire, len(out)))
        sec, ns = divmod(ts, 10**9)
        out += struct.pack("<IIII", sec, ns, len(frame), wire)
        out += frame
    with open(path, "wb") as f:
        f.write(out)
    return expected


# --------------------------------------------------------------------------
# Database checks

def integrity(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def has_schema(db):
    """Whether capdb's tables exist (a database killed while being created has none)."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM sqlite_schema WHERE name='captures'").fetchone()[0] == 1
    finally:
        con.close()


def capture_rows(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM captures ORDER BY id")]
    finally:
        con.close()


def stored_block_packets(db, capture_id):
    """(sum of blocks.packets, sum of pages.packets) of a capture, from SQL."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30)
    try:
        blocks = con.execute("SELECT coalesce(sum(packets), 0) FROM blocks WHERE capture_id=?",
                             (capture_id,)).fetchone()[0]
        return blocks
    finally:
        con.close()
