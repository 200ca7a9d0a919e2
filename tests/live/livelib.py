"""Helpers for capdb's live-capture tests: a UDP port on 127.0.0.1, a
capture in the background, and `capdb captures` parsed. The binary, the
environment, runs and polling come from capdb_testlib (shared by every
suite); conftest.py beside this file skips the tests that capture when this
process may not."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from capdb_testlib import (EXIT_DEVICE, EXIT_PERMISSION, EXIT_USAGE, poll, run, start,  # noqa: E402,F401
                           wait_until)

# Ethernet + IPv4 + UDP headers on lo (DLT_EN10MB).
LO_UDP_OVERHEAD = 14 + 20 + 8


def live_capture_refused(workdir):
    """Why this process may not capture on lo (a reason to skip), or None."""
    db = os.path.join(workdir, "probe.db")
    r = run(["ingest", "-i", "lo", "--db", db, "--duration", "0.1", "udp port 9"], timeout=60)
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    if r.returncode == EXIT_PERMISSION:
        return ("live capture is not permitted here (run the tests as root, or give capdb "
                "cap_net_raw,cap_net_admin): " + r.stderr.strip())
    if r.returncode != 0:
        return "cannot capture on lo: " + r.stderr.strip()
    return None


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
    r = run(["query", "--db", db, "--format", "json"] + list(args), timeout=60)
    if r.returncode != 0:
        raise AssertionError("query failed (%d): %s" % (r.returncode, r.stderr))
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def captures(db):
    """`capdb captures` rows as dicts: id, state, packets, source, received,
    dropped_kernel, dropped_iface (None when absent) and the whole line."""
    r = run(["captures", "--long", "--db", db], timeout=60)
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


def wait_listening(proc, timeout=10):
    """Reads proc's stderr until capdb says it is listening; returns the line.
    capdb prints it once the capture handle is active and its filter set, so
    every packet sent after it is captured. The rest of stderr is collected
    on a thread into proc.stderr_lines (complete once finish() returns)."""
    proc.stderr_lines = []
    got = threading.Event()

    def pump():
        for line in proc.stderr:
            proc.stderr_lines.append(line)
            if "listening on" in line:
                got.set()
        got.set()

    proc.stderr_pump = threading.Thread(target=pump, daemon=True)
    proc.stderr_pump.start()
    got.wait(timeout)
    listening = [line for line in proc.stderr_lines if "listening on" in line]
    if not listening:
        raise AssertionError("capdb did not start capturing: %r" % "".join(proc.stderr_lines))
    return listening[0]


def finish(proc, sig=signal.SIGINT, timeout=10):
    """Sends sig (unless None), waits for proc; returns (exit code, stderr text)."""
    if sig is not None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("capdb did not stop within %s s of signal %s" % (timeout, sig))
    pump = getattr(proc, "stderr_pump", None)
    if pump is not None:
        pump.join(timeout)  # stderr ends when the process does
        return proc.returncode, "".join(proc.stderr_lines)
    return proc.returncode, proc.stderr.read()
