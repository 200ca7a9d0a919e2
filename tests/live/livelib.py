"""Shared helpers for capdb's live-capture tests (standard library only).

Environment (set by tests/live/meson.build):
  CAPDB           path of the capdb binary (default: <repo>/build/capdb)
  CAPDB_TESTDATA  the testdata directory (default: <repo>/testdata)

Each test exits 77 (meson's "skipped") with a printed reason when live
capture is not possible here: not root and no capture capability, or no
loopback interface.
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SKIP = 77
EXIT_OK, EXIT_USAGE, EXIT_DEVICE, EXIT_PERMISSION = 0, 2, 7, 8

# Ethernet + IPv4 + UDP headers on lo (DLT_EN10MB).
LO_UDP_OVERHEAD = 14 + 20 + 8


def capdb_path():
    path = os.environ.get("CAPDB") or os.path.join(REPO, "build", "capdb")
    if not os.access(path, os.X_OK):
        print("SKIP: no capdb binary: set CAPDB or build %s" % path)
        sys.exit(SKIP)
    return path


CAPDB = capdb_path()


def env():
    e = dict(os.environ)
    e.pop("CAPDB_DB", None)
    e["LC_ALL"] = "C"
    e["TZ"] = "UTC"
    return e


def run(args, timeout=60, **kw):
    """Runs capdb with args; returns the CompletedProcess (text mode)."""
    return subprocess.run([CAPDB] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=env(), **kw)


def start(args):
    """Starts capdb in the background with its output piped."""
    return subprocess.Popen([CAPDB] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env())


def require_live_capture(workdir):
    """Exits 77 unless this process may capture on lo."""
    db = os.path.join(workdir, "probe.db")
    r = run(["ingest", "-i", "lo", "--db", db, "--duration", "0.1", "udp port 9"])
    if r.returncode == EXIT_PERMISSION:
        print("SKIP: live capture is not permitted here (run the tests as root, or give capdb "
              "cap_net_raw,cap_net_admin): " + r.stderr.strip())
        sys.exit(SKIP)
    if r.returncode != 0:
        print("SKIP: cannot capture on lo: " + r.stderr.strip())
        sys.exit(SKIP)
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass


class UdpPort:
    """A random free high UDP port on 127.0.0.1 with a receiver bound to it,
    so that the datagrams sent to it draw no ICMP port-unreachable."""

    def __init__(self):
        for _ in range(100):
            self.port = random.randint(20000, 60000)
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.sock.close()
        else:
            raise RuntimeError("no free UDP port")
        self.sock.setblocking(False)
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sender.bind(("127.0.0.1", 0))
        self.sport = self.sender.getsockname()[1]

    def send(self, payload):
        self.sender.sendto(payload, ("127.0.0.1", self.port))

    def close(self):
        self.sock.close()
        self.sender.close()


def query_json(db, *args):
    r = run(["query", "--db", db, "--format", "json"] + list(args))
    if r.returncode != 0:
        raise AssertionError("query failed (%d): %s" % (r.returncode, r.stderr))
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def captures(db):
    """`capdb captures` rows as dicts: id, state, packets, source, received,
    dropped_kernel, dropped_iface (None when absent) and the whole line."""
    r = run(["captures", "--db", db])
    if r.returncode != 0:
        raise AssertionError("captures failed (%d): %s" % (r.returncode, r.stderr))
    rows = []
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        row = {"id": int(f[0]), "state": f[1], "packets": int(f[2]), "line": line,
               "received": None, "dropped_kernel": None, "dropped_iface": None}
        m = re.search(r"received (\d+), dropped by kernel (\d+), dropped by interface (\d+)", line)
        if m:
            row["received"], row["dropped_kernel"], row["dropped_iface"] = map(int, m.groups())
        rows.append(row)
    return rows


def wait_for(predicate, timeout, step=0.02):
    """Polls predicate until it returns a true value or timeout seconds pass;
    returns (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = predicate()
        if v or time.monotonic() - t0 > timeout:
            return v, time.monotonic() - t0
        time.sleep(step)


def wait_listening(proc, timeout=10):
    """Reads proc's stderr until capdb says it is listening; returns the line.
    The rest of stderr is collected on a thread into proc.stderr_lines."""
    proc.stderr_lines = []
    got = threading.Event()

    def pump():
        for line in proc.stderr:
            proc.stderr_lines.append(line)
            if "listening on" in line:
                got.set()
        got.set()

    threading.Thread(target=pump, daemon=True).start()
    if not got.wait(timeout) or proc.poll() is not None and not any("listening on" in l for l in proc.stderr_lines):
        raise AssertionError("capdb did not start capturing: %r" % "".join(proc.stderr_lines))
    # The handle is open before the line is printed; give the loop a moment.
    time.sleep(0.05)


def finish(proc, sig=signal.SIGINT, timeout=10):
    """Sends sig, waits for proc; returns (exit code, stderr text)."""
    if sig is not None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("capdb did not stop within %s s of signal %s" % (timeout, sig))
    time.sleep(0.05)  # let the stderr pump drain
    return proc.returncode, "".join(getattr(proc, "stderr_lines", []))


def run_tests(tests):
    """Runs each test function (which raises AssertionError on failure),
    prints one line per test and a closing 'N passed, N failed' line, and
    exits 1 if any failed."""
    passed = failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
        except AssertionError as e:
            failed += 1
            print("FAIL %s (%.1f s): %s" % (t.__name__, time.monotonic() - t0, e), flush=True)
            continue
        passed += 1
        print("ok   %s (%.1f s)" % (t.__name__, time.monotonic() - t0), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def tempdir():
    d = tempfile.mkdtemp(prefix="capdb-live-")
    os.chmod(d, 0o755)  # readable by an unprivileged test user
    return d
