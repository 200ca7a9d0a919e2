"""Live capture on lo: exact rows, --count, --duration, signals, and how soon
a reader sees what was captured. Needs root (or capture capabilities); skipped
otherwise."""

import os
import signal
import time

import pytest

import livelib as L

pytestmark = pytest.mark.usefixtures("live_capture")


@pytest.fixture
def db(work, request):
    return os.path.join(work, request.node.name + ".db")


def rows_on(db, port, n):
    """Waits (3 s at most) until db holds n rows for port."""
    L.wait_until(lambda: len(L.query_json(db, "--port", str(port))) >= n, 3,
                 "%d packets to port %d to be stored" % (n, port))


def capture(db, *args):
    proc = L.start(["ingest", "-i", "lo", "--db", db] + list(args))
    L.wait_listening(proc)
    return proc


def check_rows(rows, port, n, payloads, sport):
    assert len(rows) == n, "expected %d rows for port %d, got %d" % (n, port, len(rows))
    for i, r in enumerate(rows):
        where = "row %d: %r" % (i, r)
        assert r["src"] == "127.0.0.1" and r["dst"] == "127.0.0.1", "addresses, " + where
        assert r["proto"] == 17 and r["sport"] == sport and r["dport"] == port, "protocol/ports, " + where
        assert r["linktype"] == 1, "lo is DLT_EN10MB, " + where
        assert r["wirelen"] == L.LO_UDP_OVERHEAD + payloads[i], (
            "wirelen %d != 42 + %d, %s" % (r["wirelen"], payloads[i], where))
        assert r["caplen"] == r["wirelen"], "caplen, " + where
        assert r["status"] == "ok", "status, " + where
        assert isinstance(r["offset"], int) and r["offset"] >= 24, (
            "a live packet's offset is its record's in its packet-store segment, " + where)
        assert r["packet"] == i + 1, "packet numbers are 1..N in order, " + where
    ts = [r["ts_ns"] for r in rows]
    assert all(a < b for a, b in zip(ts, ts[1:])), "timestamps strictly increase"
    now = time.time_ns()
    assert all(now - 60e9 < t <= now for t in ts), "timestamps are recent wall-clock nanoseconds"


def test_exact_rows_and_fields(db):
    port, n = L.UdpPort(), 50
    proc = capture(db, "--filter", "udp port %d" % port.port)
    payloads = [1 + (i * 37) % 1000 for i in range(n)]
    for p in payloads:
        port.send(b"x" * p)
    rows_on(db, port.port, n)
    rc, err = L.finish(proc)
    assert rc == 0, "exit %d after SIGINT: %s" % (rc, err)
    rows = L.query_json(db, "--port", str(port.port))
    check_rows(rows, port.port, n, payloads, port.sport)
    assert "%d packets captured" % n in err, "summary says %d captured: %r" % (n, err)
    assert "packets received by filter" in err and "packets dropped by kernel" in err, "tcpdump-style summary: %r" % err
    caps = L.captures(db)
    assert len(caps) == 1 and caps[0]["state"] == "complete" and caps[0]["packets"] == n, "capture row: %r" % caps
    assert caps[0]["received"] is not None and caps[0]["received"] >= n and caps[0]["dropped_kernel"] == 0, (
        "received/dropped stats: %r" % caps[0])
    assert "live:lo filter 'udp port %d'" % port.port in caps[0]["line"], (
        "source and filter shown: %r" % caps[0]["line"])
    port.close()


def test_statistics_are_sampled_while_capturing(db):
    """Each commit records pcap_stats with a wall-clock time (stats' drop windows)."""
    import sqlite3
    port = L.UdpPort()
    proc = capture(db, "--filter", "udp port %d" % port.port)
    start = time.time_ns()
    sent = 0
    # Packets over at least three commit intervals (500 ms each).
    while time.time_ns() - start < 2_000_000_000:
        port.send(b"y")
        sent += 1
        time.sleep(0.01)
    rows_on(db, port.port, sent)
    rc, err = L.finish(proc)
    assert rc == 0, err
    con = sqlite3.connect(db)
    try:
        samples = con.execute("SELECT ts, received, dropped FROM live_stats ORDER BY ts").fetchall()
    finally:
        con.close()
    assert len(samples) >= 2, samples
    assert all(start - 1e9 < ts <= time.time_ns() for ts, _, _ in samples), samples
    received = [r for _, r, _ in samples]
    assert received == sorted(received) and received[-1] > 0, samples
    port.close()


def test_count_stops_after_n(db):
    port = L.UdpPort()
    proc = capture(db, "--count", "3", "udp", "port", str(port.port))  # filter as trailing words
    sent = 0
    while proc.poll() is None and sent < 40:
        port.send(b"count %d" % sent)
        sent += 1
        time.sleep(0.03)  # traffic at a rate until --count stops the capture
    rc, err = L.finish(proc, sig=None)
    assert rc == 0, "exit %d: %s" % (rc, err)
    rows = L.query_json(db, "--port", str(port.port))
    assert len(rows) == 3, "--count 3 stored %d rows (sent %d)" % (len(rows), sent)
    assert "3 packets captured" in err, "summary: %r" % err
    port.close()


def test_duration_on_silent_filter(db):
    port = L.UdpPort()
    t0 = time.monotonic()
    r = L.run(["ingest", "-i", "lo", "--db", db, "--duration", "2", "udp port %d" % port.port], timeout=10)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr)
    assert 1.5 <= elapsed <= 2.5, "--duration 2 took %.3f s" % elapsed
    caps = L.captures(db)
    assert len(caps) == 1 and caps[0]["state"] == "complete" and caps[0]["packets"] == 0, "capture row: %r" % caps
    assert "0 packets captured" in r.stderr, "summary: %r" % r.stderr
    port.close()


def stop_keeps_every_packet(db, sig, n):
    port = L.UdpPort()
    proc = capture(db, "udp port %d" % port.port)
    for i in range(n):
        port.send(b"s" * (i + 1))
    # The state under test, not a wait for capdb: the signal comes after the
    # 100 ms buffer timeout has handed the packets to capdb, while they may
    # still be uncommitted.
    time.sleep(0.4)
    t0 = time.monotonic()
    rc, err = L.finish(proc, sig=sig)
    assert time.monotonic() - t0 < 1.5, "stopping took %.2f s" % (time.monotonic() - t0)
    assert rc == 0, "exit %d after %s: %s" % (rc, sig, err)
    rows = L.query_json(db, "--port", str(port.port))
    check_rows(rows, port.port, n, [i + 1 for i in range(n)], port.sport)
    caps = L.captures(db)
    assert caps[0]["state"] == "complete" and caps[0]["packets"] == n, "capture row: %r" % caps
    assert caps[0]["received"] is not None and caps[0]["received"] >= n, "received stats recorded: %r" % caps[0]
    port.close()


def test_sigint_keeps_every_packet(db):
    stop_keeps_every_packet(db, signal.SIGINT, 30)


def test_sigterm_keeps_every_packet(db):
    stop_keeps_every_packet(db, signal.SIGTERM, 7)


def test_reader_sees_rows_within_a_second(db):
    port = L.UdpPort()
    proc = capture(db, "udp port %d" % port.port)
    worst = 0.0
    try:
        # Different phases against the writer's flush timer: the gaps are
        # what is tested, not waits for capdb.
        for i, gap in enumerate([0.0, 0.15, 0.3, 0.45, 0.6, 0.05, 0.7, 0.25]):
            time.sleep(gap)
            port.send(b"v%d" % i)
            got, waited = L.poll(
                lambda: int(L.run(["query", "--db", db, "--count", "--port", str(port.port)]).stdout or 0) >= i + 1, 3)
            assert got, "packet %d never became visible" % i
            worst = max(worst, waited)
    finally:
        rc, err = L.finish(proc)
    print("  worst time to visibility: %.3f s" % worst)
    assert worst < 1.0, "a concurrent query saw a packet only after %.3f s" % worst
    assert rc == 0, "exit %d: %s" % (rc, err)
    port.close()


def test_snaplen_truncates(db):
    # 40 bytes: enough for the filter to see the UDP ports (a filter that reads
    # past the snaplen never matches, in libpcap and so in tcpdump too).
    port = L.UdpPort()
    proc = capture(db, "--snaplen", "40", "--preview-bytes", "64", "udp port %d" % port.port)
    port.send(b"y" * 100)
    L.wait_until(lambda: L.query_json(db), 2, "the packet to be stored")
    rc, err = L.finish(proc)
    rows = L.query_json(db)
    assert rc == 0, "exit %d: %s" % (rc, err)
    assert "snapshot length 40 bytes" in err, "listening line shows the snaplen: %r" % err
    assert len(rows) == 1, "one row, got %r" % rows
    r = rows[0]
    assert r["caplen"] == 40 and r["wirelen"] == L.LO_UDP_OVERHEAD + 100, "snaplen 40: %r" % r
    assert len(r["preview"]) == 80, "preview holds the 40 captured bytes: %r" % r["preview"]
    assert r["dport"] == port.port, "the ports are within the 40 bytes: %r" % r
    port.close()


def test_any_device(db):
    port = L.UdpPort()
    proc = L.start(["ingest", "-i", "any", "--db", db, "--filter", "udp dst port %d" % port.port])
    L.wait_listening(proc)
    for i in range(3):
        port.send(b"a" * 10)
    rows_on(db, port.port, 3)
    time.sleep(0.3)  # a quiet period, the thing tested: a duplicate would be stored by now
    rc, err = L.finish(proc)
    assert rc == 0, "exit %d: %s" % (rc, err)
    rows = L.query_json(db, "--port", str(port.port))
    assert len(rows) == 3, "3 rows on any, got %d" % len(rows)
    for r in rows:
        hdr = {113: 16, 276: 20}.get(r["linktype"])
        assert hdr is not None, "any is LINUX_SLL or SLL2: %r" % r
        assert r["src"] == "127.0.0.1" and r["dport"] == port.port and r["wirelen"] == hdr + 20 + 8 + 10, (
            "decoded through the cooked header: %r" % r)
    port.close()



def thread_nices(pid):
    """{tid: nice} of every thread of process pid, from /proc."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        # Fields after the parenthesised name; nice is field 19 (1-based).
        out[int(tid)] = int(stat.rsplit(")", 1)[1].split()[16])
    return out


def test_storage_thread_yields_to_the_capture(db):
    # The capture thread (the process's main thread) keeps its nice value;
    # the storage thread runs 5 steps lower, so that on a busy machine the
    # capture is scheduled first.
    proc = capture(db)
    try:
        main = thread_nices(proc.pid)[proc.pid]
        seen = {}

        def storage_thread_lowered():
            seen.clear()
            seen.update(thread_nices(proc.pid))
            return any(n == min(19, main + 5) for tid, n in seen.items() if tid != proc.pid)

        # The storage thread lowers itself as it starts: poll for it.
        L.wait_until(storage_thread_lowered, 3, "a thread 5 nice steps below the main thread's %d" % main)
        assert seen[proc.pid] == main, "the capture thread keeps its nice value: %r" % seen
    finally:
        rc, err = L.finish(proc)
    assert rc == 0, err
