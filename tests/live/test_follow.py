"""`capdb query --follow`: prints the existing matches, then each matching
packet as a live capture commits it, and exits 0 on SIGINT. Needs root (or
capture capabilities); skipped otherwise."""

import json
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

import livelib as L
import capdb_testlib as lib  # noqa: E402 (on the path livelib sets)

pytestmark = pytest.mark.usefixtures("live_capture")


class Follower:
    """`capdb query --follow ...` with its output lines in a queue."""

    def __init__(self, db, *args):
        self.proc = L.start(["query", "--db", db, "--follow", "--format", "json"] + list(args))
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), json.loads(line)))

    def next(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None, None

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("query --follow did not stop on SIGINT")
        return self.proc.returncode, self.proc.stderr.read()


def test_follow_prints_old_then_new_rows(work):
    db = os.path.join(work, "follow.db")
    port, other = L.UdpPort(), L.UdpPort()
    filt = "udp port %d or udp port %d" % (port.port, other.port)

    # Two packets already stored, by a capture that has ended.
    first = L.start(["ingest", "-i", "lo", "--db", db, "--count", "2", filt])
    L.wait_listening(first)
    port.send(b"old-1")
    time.sleep(0.01)  # traffic: two packets 10 ms apart
    port.send(b"old-2")
    rc, err = L.finish(first, sig=None)
    assert rc == 0, "first capture: exit %d: %s" % (rc, err)

    f = Follower(db, "--port", str(port.port))
    try:
        for i in range(2):
            _, row = f.next(3)
            assert row is not None, "existing row %d not printed" % (i + 1)
            assert row["packet"] == i + 1 and row["capture"] == 1, "existing rows in order: %r" % row

        live = L.start(["ingest", "-i", "lo", "--db", db, filt])
        L.wait_listening(live)
        try:
            other.send(b"not for the follower")  # matches the capture filter, not the query
            for i in range(3):
                time.sleep(0.3 * i)  # traffic: packets at different phases of --follow's polling
                port.send(b"new-%d" % i)
                sent = time.monotonic()
                when, row = f.next(3)
                assert row is not None, "new row %d not printed within 3 s" % i
                print("  new row %d printed after %.3f s" % (i, when - sent))
                assert when - sent < 1.5, "new row %d printed after %.3f s" % (i, when - sent)
                assert row["capture"] == 2 and row["dport"] == port.port, "new row: %r" % row
                assert row["wirelen"] == L.LO_UDP_OVERHEAD + len(b"new-%d" % i), "new row length: %r" % row
        finally:
            rc, err = L.finish(live)
        assert rc == 0, "live capture: exit %d: %s" % (rc, err)
        _, extra = f.next(0.6)
        assert extra is None, "a row printed that does not match or was printed twice: %r" % extra
    finally:
        rc, err = f.stop()
    assert rc == 0, "query --follow exit %d after SIGINT: %s" % (rc, err)
    port.close()
    other.close()


def test_follow_rows_within_a_poll_are_in_time_order(work):
    db = os.path.join(work, "order.db")
    port = L.UdpPort()
    live = L.start(["ingest", "-i", "lo", "--db", db, "udp port %d" % port.port])
    L.wait_listening(live)
    f = Follower(db)
    try:
        for i in range(40):
            port.send(b"o%d" % i)
            time.sleep(0.01)  # traffic at a rate: several rows per poll, over several polls
        rows = []
        while len(rows) < 40:
            _, row = f.next(3)
            if row is None:
                break
            rows.append(row)
    finally:
        L.finish(live)
        rc, _ = f.stop()
    assert len(rows) == 40, "follow printed %d of 40 rows" % len(rows)
    assert [r["packet"] for r in rows] == list(range(1, 41)), "each row once, in order"
    ts = [r["ts_ns"] for r in rows]
    assert ts == sorted(ts), "time order"
    assert rc == 0, "exit %d" % rc
    port.close()


def test_follow_usage(work):
    db = os.path.join(work, "follow.db")
    r = L.run(["query", "--db", db, "--follow", "--count"])
    assert r.returncode == L.EXIT_USAGE, "--follow --count: exit %d" % r.returncode
    r = L.run(["query", "--db", os.path.join(work, "missing.db"), "--follow"])
    assert r.returncode == 6, "--follow on a missing database: exit %d: %s" % (r.returncode, r.stderr)



def test_follow_limit_exits_when_reached(work):
    """--limit N: exits 0 at once when N matches are stored, else as soon as
    the Nth arrives, without waiting for a further commit."""
    db = os.path.join(work, "limit.db")
    port = L.UdpPort()
    first = L.start(["ingest", "-i", "lo", "--db", db, "--count", "1", "udp port %d" % port.port])
    L.wait_listening(first)
    port.send(b"stored")
    rc, err = L.finish(first, sig=None)
    assert rc == 0, "first capture: exit %d: %s" % (rc, err)

    try:
        r = L.run(["query", "--db", db, "--follow", "--limit", "1", "--format", "json"], timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("query --follow --limit 1 did not exit with 1 match stored")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1, "--limit 1 with 1 stored: %r" % (r,)

    f = Follower(db, "--limit", "3")
    live = L.start(["ingest", "-i", "lo", "--db", db, "udp port %d" % port.port])
    L.wait_listening(live)
    try:
        _, row = f.next(3)
        assert row is not None and row["capture"] == 1, "stored row first: %r" % row
        for i in range(2):
            port.send(b"new-%d" % i)
            _, row = f.next(3)
            assert row is not None and row["capture"] == 2, "new row %d: %r" % (i, row)
        try:
            f.proc.wait(3)
        except subprocess.TimeoutExpired:
            raise AssertionError("query --follow --limit 3 still running after its third row")
        assert f.proc.returncode == 0, "exit %d: %s" % (f.proc.returncode, f.proc.stderr.read())
        port.send(b"after")  # the capture goes on; the follower has gone
    finally:
        if f.proc.poll() is None:
            f.stop()
        rc, err = L.finish(live)
    assert rc == 0, "live capture: exit %d: %s" % (rc, err)
    port.close()


def test_follow_write_streams_live_packets_to_tshark(work):
    """`query --follow --port P -w - | tshark -r - -l`: each datagram a live
    capture on lo commits reaches tshark through the pipe, payload exact,
    within a few seconds of being sent; Ctrl-C ends the follower (exit 0)
    and so tshark's input."""
    if subprocess.run(["which", "tshark"], stdout=subprocess.DEVNULL).returncode != 0:
        pytest.skip("tshark is not installed")
    db = os.path.join(work, "follow_w.db")
    port = L.UdpPort()
    live = L.start(["ingest", "-i", "lo", "--db", db, "udp port %d" % port.port])
    L.wait_listening(live)
    L.wait_until(lambda: os.path.exists(db), 10, "the database")
    follower = subprocess.Popen([lib.capdb_path(), "query", "--db", db, "--follow", "-w", "-", "--port",
                                 str(port.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lib.clean_env())
    tshark = subprocess.Popen(["tshark", "-r", "-", "-l", "-T", "fields", "-e", "data.data"], stdin=follower.stdout,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    follower.stdout.close()
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in tshark.stdout], daemon=True).start()
    try:
        for i in range(5):
            payload = b"live-follow-w-%d-" % i + bytes(range(i * 40, i * 40 + 40))
            port.send(payload)
            try:
                line = lines.get(timeout=5)
            except queue.Empty:
                raise AssertionError("datagram %d did not reach tshark within 5 s" % i)
            assert bytes.fromhex(line.replace(":", "")) == payload, "datagram %d: %r" % (i, line)
    finally:
        follower.send_signal(signal.SIGINT)
        rc = follower.wait(10)
        tshark_rc = tshark.wait(10)
        live_rc, err = L.finish(live)
        port.close()
    assert rc == 0, follower.stderr.read()
    assert tshark_rc == 0
    assert live_rc == 0, err
