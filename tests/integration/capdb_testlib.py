"""Shared helpers for capdb's integration tests (standard library only).

Environment (set by tests/meson.build):
  CAPDB           path of the capdb binary
  CAPDB_TESTDATA  the testdata directory
  CAPDB_EXPECTED  tests/integration/expected

Run by hand without them, the defaults are <repo>/build/capdb,
<repo>/testdata and <repo>/tests/integration/expected.
"""

import csv
import datetime
import glob
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SKIP = 77  # meson: test skipped

CSV_HEADER = ["time", "ts_ns", "capture", "packet", "status", "src", "dst", "proto", "sport",
              "dport", "caplen", "wirelen", "linktype", "ethertype", "offset", "preview"]
STATUSES = {"ok", "non_ip", "truncated", "malformed", "unsupported"}

# Exit codes from the spec.
EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_DAMAGED, EXIT_UNSUPPORTED, EXIT_DATABASE = 0, 2, 3, 4, 5, 6

# What `capdb ingest` must return for each test capture (default 0).
INGEST_EXIT = {
    "truncated.pcap": EXIT_DAMAGED,
    "unsupported_link.pcap": EXIT_UNSUPPORTED,
}


def testdata_dir():
    return os.environ.get("CAPDB_TESTDATA") or os.path.join(REPO, "testdata")


def expected_dir():
    return os.environ.get("CAPDB_EXPECTED") or os.path.join(HERE, "expected")


def capdb_path():
    """The capdb binary, or exit 77 (skip) when run by hand without one."""
    path = os.environ.get("CAPDB")
    if path:
        if not os.access(path, os.X_OK):
            print("FAIL: CAPDB=%s is not an executable file" % path, file=sys.stderr)
            sys.exit(1)
        return os.path.abspath(path)
    default = os.path.join(REPO, "build", "capdb")
    if os.access(default, os.X_OK):
        return default
    print("SKIP: no capdb binary: set CAPDB or build %s" % default)
    sys.exit(SKIP)


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


def run(args, stdin_bytes=None, env=None, cwd=None, timeout=120):
    """Runs capdb with args; returns CompletedProcess with text stdout/stderr."""
    cmd = [capdb_path()] + list(args)
    p = subprocess.run(cmd, input=stdin_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env if env is not None else clean_env(), cwd=cwd, timeout=timeout)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    p.cmd = cmd
    return p


def describe(p):
    return "$ %s\nexit %d\n--- stdout ---\n%s--- stderr ---\n%s" % (
        " ".join(p.cmd), p.returncode, p.stdout[:4000], p.stderr[:4000])


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


# --------------------------------------------------------------------------
# An independent capture reader: the ground truth for record counts, offsets,
# timestamps, lengths and bytes. Classic pcap (both byte orders, us and ns)
# and pcapng (EPB, SPB; other blocks skipped).

class Record:
    __slots__ = ("number", "offset", "ts_ns", "caplen", "wirelen", "data", "linktype")

    def __init__(self, number, offset, ts_ns, caplen, wirelen, data, linktype):
        self.number, self.offset, self.ts_ns = number, offset, ts_ns
        self.caplen, self.wirelen, self.data, self.linktype = caplen, wirelen, data, linktype


class CaptureInfo:
    def __init__(self):
        self.records = []
        self.linktypes = []      # per interface (pcap: one)
        self.truncated_at = None  # 1-based number of the cut record, if any


def read_capture(path):
    with open(path, "rb") as f:
        buf = f.read()
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
    n = 0
    while off + 12 <= len(buf):
        btype = struct.unpack(e + "I", buf[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = buf[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
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
        elif btype == 6:  # EPB
            iface, hi, lo, caplen, wirelen = struct.unpack(e + "IIIII", body[:20])
            linktype, _, num, den = ifaces[iface]
            units = (hi << 32) | lo
            n += 1
            info.records.append(Record(n, off, units * num // den, caplen, wirelen,
                                       body[20:20 + caplen], linktype))
        elif btype == 3:  # SPB: interface 0, no timestamp
            wirelen = struct.unpack(e + "I", body[:4])[0]
            linktype, snaplen, _, _ = ifaces[0]
            caplen = min(wirelen, len(body) - 4)
            if snaplen:
                caplen = min(caplen, snaplen)
            n += 1
            info.records.append(Record(n, off, 0, caplen, wirelen, body[4:4 + caplen], linktype))
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

class Failures:
    """Collects failure messages; report() prints them and a closing line."""

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
