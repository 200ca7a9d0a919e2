"""The helpers shared by capdb's Python test suites (integration, live and
reliability; standard library only, so that a script run by hand needs no
pytest). tests/conftest.py wraps the ones that pytest fixtures need.

Environment (set by the suites' meson.build files):
  CAPDB           path of the capdb binary
  CAPDB_TESTDATA  the testdata directory
  CAPDB_EXPECTED  tests/integration/expected
  CAPDB_KEEP_TMP  keep temporary directories for inspection

Run by hand without them, the defaults are <repo>/build/capdb,
<repo>/testdata and <repo>/tests/integration/expected.
"""

import csv
import datetime
import glob
import io
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SKIP = 77  # meson: test skipped

CSV_HEADER = ["time", "ts_ns", "capture", "packet", "status", "src", "dst", "proto", "sport",
              "dport", "caplen", "wirelen", "linktype", "ethertype", "offset", "tunnel", "tunnel_id",
              "outer_src", "outer_dst", "preview"]
STATUSES = {"ok", "non_ip", "truncated", "malformed", "unsupported"}

# Exit codes from the spec.
EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_DAMAGED, EXIT_UNSUPPORTED, EXIT_DATABASE = 0, 2, 3, 4, 5, 6
EXIT_DEVICE, EXIT_PERMISSION, EXIT_SOURCE = 7, 8, 9

# What `capdb ingest` must return for each test capture (default 0).
INGEST_EXIT = {
    "truncated.pcap": EXIT_DAMAGED,
    "unsupported_link.pcap": EXIT_UNSUPPORTED,
}


def skip(reason):
    """Skips what is running: the current test (or module) under pytest; a
    script run by hand prints the reason and exits 77."""
    pytest = sys.modules.get("pytest")
    if pytest is not None:
        pytest.skip(reason, allow_module_level=True)
    print("SKIP: " + reason)
    sys.exit(SKIP)


def testdata_dir():
    return os.environ.get("CAPDB_TESTDATA") or os.path.join(REPO, "testdata")


def expected_dir():
    return os.environ.get("CAPDB_EXPECTED") or os.path.join(HERE, "expected")


def capdb_path():
    """The capdb binary; when there is none, skips (see skip())."""
    path = os.environ.get("CAPDB")
    if path:
        if not os.access(path, os.X_OK):
            raise RuntimeError("CAPDB=%s is not an executable file" % path)
        return os.path.abspath(path)
    default = os.path.join(REPO, "build", "capdb")
    if os.access(default, os.X_OK):
        return default
    skip("no capdb binary: set CAPDB or build %s" % default)


def capture_files(root=None):
    """Every *.pcap / *.pcapng under testdata (recursively), sorted, as paths."""
    root = root or testdata_dir()
    found = set()
    for pattern in ("**/*.pcap", "**/*.pcapng"):
        found.update(glob.glob(os.path.join(root, pattern), recursive=True))
    return sorted(found, key=lambda p: os.path.relpath(p, root))


def clean_env(**extra):
    """The environment capdb runs in: no CAPDB_DB unless asked, C locale, UTC."""
    env = dict(os.environ)
    env.pop("CAPDB_DB", None)
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class Result(subprocess.CompletedProcess):
    """A finished capdb run with text stdout and stderr; str() shows the
    command, the exit code and both streams, for assertion messages."""

    def __str__(self):
        return describe(self)


def run(args, stdin_bytes=None, env=None, cwd=None, timeout=120, stdin=None, preexec_fn=None, user=None):
    """Runs capdb with args (as `user` when given: see as_user); returns a
    Result. stdin_bytes is fed to its standard input; else stdin (a file)
    is, if given."""
    cmd = [capdb_path()] + [str(a) for a in args]
    if user:
        cmd = as_user(user) + cmd
    p = subprocess.run(cmd, input=stdin_bytes, stdin=None if stdin_bytes is not None else stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=preexec_fn,
                       env=env if env is not None else clean_env(), cwd=cwd, timeout=timeout)
    r = Result(cmd, p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))
    r.cmd = cmd
    return r


_started = []  # what start() began, for stop_leftovers()


def start(args, env=None, **kw):
    """Starts capdb in the background with text stdout and stderr piped."""
    p = subprocess.Popen([capdb_path()] + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env if env is not None else clean_env(), **kw)
    _started.append(p)
    return p


def stop_leftovers():
    """Kills what start() began and is still running (left by a test that
    failed before stopping it); returns how many."""
    left = [p for p in _started if p.poll() is None]
    for p in left:
        p.kill()
        p.wait()
    _started.clear()
    return len(left)


def ingest_fresh(path, db):
    """Ingests the test capture `path` into a new database `db` (any old one
    and its -wal, -shm and -journal are removed first). Returns the problems:
    an exit code other than INGEST_EXIT's for the capture, or none."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    want = INGEST_EXIT.get(os.path.basename(path), EXIT_OK)
    p = run(["ingest", "--db", db, path])
    if p.returncode != want:
        return ["ingest exit %d, expected %d\n%s" % (p.returncode, want, describe(p))]
    return []


def describe(p):
    """A run's command (arguments with spaces or control bytes quoted), exit
    code and output, for assertion messages."""
    cmd = " ".join(repr(c) if any(ch in c for ch in " \n\x1b") else c for c in p.cmd)
    return "$ %s\nexit %d\n--- stdout ---\n%s--- stderr ---\n%s" % (
        cmd, p.returncode, p.stdout[:4000], p.stderr[:4000])


def as_user(user):
    """The command prefix that runs a program as `user` (only 'nobody'); needs root."""
    if user == "nobody":
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
    raise ValueError(user)


def nobody_cannot_run_capdb():
    """Why capdb cannot be run as user nobody here (not root, no setpriv, or
    the binary is out of nobody's reach), or None when it can."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return "needs root and setpriv to run capdb as nobody"
    p = subprocess.run(as_user("nobody") + [capdb_path(), "--version"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        return "user nobody cannot run %s" % capdb_path()
    return None


def poll(predicate, timeout, interval=0.01):
    """Calls predicate until it returns a true value or timeout seconds have
    passed; returns (its last value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        value = predicate()
        waited = time.monotonic() - t0
        if value or waited > timeout:
            return value, waited
        time.sleep(interval)


def wait_until(predicate, timeout, what, interval=0.01):
    """Waits for predicate() to return a true value, and returns it; fails
    with 'timed out after N s waiting for <what>' after timeout seconds."""
    value, waited = poll(predicate, timeout, interval)
    if not value:
        raise AssertionError("timed out after %.1f s waiting for %s" % (waited, what))
    return value


def parse_csv(text):
    """Returns (header, rows as dicts)."""
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    if not rows:
        return [], []
    header = rows[0]
    return header, [dict(zip(header, r)) for r in rows[1:]]


def rfc3339_ns(ts_ns):
    sec, frac = divmod(ts_ns, 10**9)
    dt = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=sec)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % frac


class TempDir:
    """A temporary directory (under base, default the system's) removed on
    exit (kept if CAPDB_KEEP_TMP is set)."""

    def __init__(self, base=None):
        self.base = base

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="capdb-test-", dir=self.base)
        return self.path

    def __exit__(self, *exc):
        if os.environ.get("CAPDB_KEEP_TMP"):
            print("kept %s" % self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def segment_rows(db, columns="capture_id, name, first_seq, packets, bytes"):
    """The packet store's segments table (read-only), in id order: a tuple
    of the given columns per segment."""
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return con.execute("SELECT %s FROM segments ORDER BY id" % columns).fetchall()
    finally:
        con.close()


def mount_small_tmpfs(mnt, size="2m"):
    """Mounts a tmpfs of size at mnt (created, mode 0700), for the disk-full
    tests; skips when that is not permitted. Unmount with umount(mnt)."""
    os.mkdir(mnt, 0o700)
    if shutil.which("mount") is None:
        skip("no mount command")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        skip("cannot mount a small tmpfs for the disk-full test: %s" % r.stdout.decode().strip())


def umount(mnt):
    subprocess.run(["umount", "-l", mnt])


def udp_pcap_records(n, seed, nsec=False, max_payload=1400):
    """An Ethernet/IPv4/UDP pcap of n packets with random payloads, from
    10.0.0.1-5 to 10.0.1.1-3: its file header and each record's bytes
    (record header and frame), to be written at once or bit by bit."""
    rng = random.Random(seed)
    header = struct.pack("<IHHiIII", 0xA1B23C4D if nsec else 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    records = []
    t = 1_700_000_000 * 10**9
    for i in range(n):
        t += rng.randrange(1, 10**7)
        payload = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, max_payload)))
        udp = struct.pack(">HHHH", 1000 + i % 7, 53, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1 + i % 5]), bytes([10, 0, 1, 1 + i % 3])) + udp
        frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
        frac = t % 10**9 if nsec else (t % 10**9) // 1000
        records.append(struct.pack("<IIII", t // 10**9, frac, len(frame), len(frame)) + frame)
    return header, records


def make_udp_pcap(path, n, seed, nsec=False, max_payload=1400):
    """udp_pcap_records() written to path; returns path."""
    header, records = udp_pcap_records(n, seed, nsec, max_payload)
    with open(path, "wb") as f:
        f.write(header + b"".join(records))
    return path


# --------------------------------------------------------------------------
# An independent capture reader: the ground truth for record counts, offsets,
# timestamps, lengths and bytes. Classic pcap (both byte orders, us and ns)
# and pcapng (EPB, SPB; other blocks skipped).

class Record:
    __slots__ = ("number", "offset", "ts_ns", "caplen", "wirelen", "data", "linktype", "interface")

    def __init__(self, number, offset, ts_ns, caplen, wirelen, data, linktype):
        self.number, self.offset, self.ts_ns = number, offset, ts_ns
        self.caplen, self.wirelen, self.data, self.linktype = caplen, wirelen, data, linktype
        self.interface = 0  # pcapng: numbered across the file's sections


class CaptureInfo:
    def __init__(self):
        self.records = []
        self.linktypes = []      # per interface (pcap: one)
        self.truncated_at = None  # 1-based number of the cut record, if any


def read_capture(path):
    with open(path, "rb") as f:
        return read_capture_bytes(f.read())


def read_capture_bytes(buf):
    """read_capture() of bytes in memory (a stream read so far: a record cut
    at the end is left out, and truncated_at says so)."""
    if len(buf) >= 4 and buf[:4] == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(buf)
    return _read_pcap(buf)


def _read_pcap(buf):
    info = CaptureInfo()
    magic_le = struct.unpack("<I", buf[:4])[0]
    magic_be = struct.unpack(">I", buf[:4])[0]
    if magic_le in (0xA1B2C3D4, 0xA1B23C4D):
        e, magic = "<", magic_le
    elif magic_be in (0xA1B2C3D4, 0xA1B23C4D):
        e, magic = ">", magic_be
    else:
        raise ValueError("not a pcap file")
    nsec = magic == 0xA1B23C4D
    linktype = struct.unpack(e + "I", buf[20:24])[0] & 0x0FFFFFFF
    info.linktypes = [linktype]
    off = 24
    n = 0
    while off < len(buf):
        n += 1
        if off + 16 > len(buf):
            info.truncated_at = n
            break
        sec, frac, caplen, wirelen = struct.unpack(e + "IIII", buf[off:off + 16])
        if off + 16 + caplen > len(buf):
            info.truncated_at = n
            break
        ts = sec * 10**9 + (frac if nsec else frac * 1000)
        info.records.append(Record(n, off, ts, caplen, wirelen, buf[off + 16:off + 16 + caplen], linktype))
        off += 16 + caplen
    return info


def _read_pcapng(buf):
    info = CaptureInfo()
    off = 0
    e = "<"
    ifaces = []  # (linktype, snaplen, ns per unit as a fraction (num, den))
    first_iface = 0  # the number of the section's first interface in the file
    n = 0
    while off + 12 <= len(buf):
        btype = struct.unpack(e + "I", buf[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = buf[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            first_iface += len(ifaces)  # interfaces are numbered across sections
            ifaces = []
        blen = struct.unpack(e + "I", buf[off + 4:off + 8])[0]
        if blen < 12 or off + blen > len(buf):
            info.truncated_at = n + 1
            break
        body = buf[off + 8:off + blen - 4]
        if btype == 1:  # IDB
            linktype, _, snaplen = struct.unpack(e + "HHI", body[:8])
            num, den = 1000, 1  # default: microseconds
            for code, value in _ng_options(body[8:], e):
                if code == 9 and value:
                    r = value[0]
                    if r & 0x80:
                        num, den = 10**9, 2 ** (r & 0x7F)
                    else:
                        num, den = 10**9, 10 ** r
            ifaces.append((linktype, snaplen, num, den))
            info.linktypes.append(linktype)
        elif btype in (6, 2):  # EPB, obsolete packet block (16-bit interface, drops count)
            if btype == 6:
                iface, hi, lo, caplen, wirelen = struct.unpack(e + "IIIII", body[:20])
            else:
                iface, _, hi, lo, caplen, wirelen = struct.unpack(e + "HHIIII", body[:20])
            linktype, _, num, den = ifaces[iface]
            units = (hi << 32) | lo
            n += 1
            info.records.append(Record(n, off, units * num // den, caplen, wirelen,
                                       body[20:20 + caplen], linktype))
            info.records[-1].interface = first_iface + iface
        elif btype == 3:  # SPB: interface 0, no timestamp
            wirelen = struct.unpack(e + "I", body[:4])[0]
            linktype, snaplen, _, _ = ifaces[0]
            caplen = min(wirelen, len(body) - 4)
            if snaplen:
                caplen = min(caplen, snaplen)
            n += 1
            info.records.append(Record(n, off, 0, caplen, wirelen, body[4:4 + caplen], linktype))
            info.records[-1].interface = first_iface
        off += blen
    return info


def _ng_options(data, e):
    off = 0
    while off + 4 <= len(data):
        code, length = struct.unpack(e + "HH", data[off:off + 4])
        if code == 0:
            return
        yield code, data[off + 4:off + 4 + length]
        off += 4 + length + (-length % 4)


# --------------------------------------------------------------------------
# Reporting

class Checks:
    """Soft assertions for a test that checks many independent things:
    expect() records a failed condition and goes on, so that one run names
    every failure; done() then fails the test with all of them."""

    def __init__(self):
        self.failures = []

    def expect(self, name, cond, msg):
        """Records msg under name unless cond holds; returns cond."""
        if not cond:
            self.failures.append("%s: %s" % (name, msg))
            print("FAIL: %s: %s" % (name, msg), flush=True)
        return bool(cond)

    def fail(self, name, msg):
        self.expect(name, False, msg)

    def ok(self, name, detail=""):
        print("ok   %s%s" % (name, (": " + detail) if detail else ""), flush=True)

    def done(self):
        if self.failures:
            raise AssertionError("%d failed checks:\n%s" % (len(self.failures), "\n".join(self.failures)))


class Failures:
    """Collects failure messages; report() prints them and a closing line
    (for scripts run by hand, such as test_expected.py --regen)."""

    def __init__(self, name):
        self.name = name
        self.messages = []
        self.failed_items = set()
        self.passed = 0
        self.skipped = 0

    def fail(self, msg, item=None):
        """Records a failure; item (e.g. a capture name) counts once however
        many messages it gets."""
        self.messages.append(msg)
        self.failed_items.add(item if item is not None else len(self.messages))
        print("FAIL: %s" % msg, flush=True)

    def ok(self, msg=None):
        self.passed += 1
        if msg:
            print("ok: %s" % msg, flush=True)

    def report(self):
        print()
        line = "%d passed, %d failed" % (self.passed, len(self.failed_items))
        if self.skipped:
            line += ", %d skipped" % self.skipped
        print("%s: %s" % (self.name, line))
        return 1 if self.messages else 0
