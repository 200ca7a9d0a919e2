"""Helpers shared by capdb's reliability tests (standard library only).

Environment (set by tests/reliability/meson.build):
  CAPDB           path of the capdb binary (default <repo>/build/capdb)
  CAPDB_TESTDATA  the testdata directory (default <repo>/testdata)
  CAPDB_KEEP_TMP  keep temporary directories for inspection
"""

import csv
import hashlib
import io
import os
import random
import resource
import shutil
import sqlite3
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SKIP = 77  # meson: test skipped

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_DAMAGED, EXIT_UNSUPPORTED, EXIT_DATABASE = 0, 2, 3, 4, 5, 6


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


# The binary, the test data and the environment capdb runs in are found the
# same way as for the integration tests: one definition for both suites.
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from capdb_testlib import TempDir, capdb_path, clean_env, testdata_dir  # noqa: E402,F401


def limits(memory_bytes=1 << 30, cpu_seconds=None):
    """A preexec_fn that caps the child's address space (and CPU time)."""
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    return apply


class Result:
    def __init__(self, cmd, returncode, stdout, stderr):
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, returncode, stdout, stderr

    def __str__(self):
        return "$ %s\nexit %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(repr(c) if any(ch in c for ch in " \n\x1b") else c for c in self.cmd),
            self.returncode, self.stdout[:3000], self.stderr[:3000])


def run(args, timeout=120, stdin=None, input_bytes=None, preexec_fn=None, user=None, env=None, cwd=None):
    """Runs capdb; returns a Result with text output. user: run as this user
    (via setpriv) -- only when root."""
    cmd = [capdb_path()] + [str(a) for a in args]
    if user:
        cmd = as_user(user) + cmd
    p = subprocess.run(cmd, input=input_bytes, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, preexec_fn=preexec_fn, env=env or clean_env(), cwd=cwd)
    return Result(cmd, p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def as_user(user):
    if user == "nobody":
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    raise ValueError(user)


def can_switch_user():
    """True when we are root and setpriv can drop to nobody."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    p = subprocess.run(as_user("nobody") + ["true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


def parse_csv(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    return rows


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def db_files_digest(db):
    """SHA-256 of the database and of its -wal/-shm if present."""
    return {suffix: sha256_file(db + suffix) for suffix in ("", "-wal", "-shm") if os.path.exists(db + suffix)}


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
