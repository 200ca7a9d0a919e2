#!/usr/bin/env python3
"""Live capture on lo: exact rows, --count, --duration, signals, and how soon
a reader sees what was captured. Needs root (or capture capabilities); exits
77 otherwise."""

import os
import signal
import threading
import time

import livelib as L
from livelib import expect

WORK = L.tempdir()
L.require_live_capture(WORK)

_n = [0]


def new_db():
    _n[0] += 1
    return os.path.join(WORK, "t%d.db" % _n[0])


def capture(db, *args):
    proc = L.start(["ingest", "-i", "lo", "--db", db] + list(args))
    L.wait_listening(proc)
    return proc


def check_rows(rows, port, n, payloads, sport):
    expect(len(rows) == n, "expected %d rows for port %d, got %d" % (n, port, len(rows)))
    for i, r in enumerate(rows):
        where = "row %d: %r" % (i, r)
        expect(r["src"] == "127.0.0.1" and r["dst"] == "127.0.0.1", "addresses, " + where)
        expect(r["proto"] == 17 and r["sport"] == sport and r["dport"] == port, "protocol/ports, " + where)
        expect(r["linktype"] == 1, "lo is DLT_EN10MB, " + where)
        expect(r["wirelen"] == L.LO_UDP_OVERHEAD + payloads[i], "wirelen %d != 42 + %d, %s" % (r["wirelen"], payloads[i], where))
        expect(r["caplen"] == r["wirelen"], "caplen, " + where)
        expect(r["status"] == "ok", "status, " + where)
        expect(r["offset"] is None, "a live packet has no file offset, " + where)
        expect(r["packet"] == i + 1, "packet numbers are 1..N in order, " + where)
    ts = [r["ts_ns"] for r in rows]
    expect(all(a < b for a, b in zip(ts, ts[1:])), "timestamps strictly increase")
    now = time.time_ns()
    expect(all(now - 60e9 < t <= now for t in ts), "timestamps are recent wall-clock nanoseconds")


def test_exact_rows_and_fields():
    db, port, n = new_db(), L.UdpPort(), 50
    proc = capture(db, "--filter", "udp port %d" % port.port)
    payloads = [1 + (i * 37) % 1000 for i in range(n)]
    for p in payloads:
        port.send(b"x" * p)
    L.wait_for(lambda: len(L.query_json(db, "--port", str(port.port))) >= n, 3)
    rc, err = L.finish(proc)
    expect(rc == 0, "exit %d after SIGINT: %s" % (rc, err))
    rows = L.query_json(db, "--port", str(port.port))
    check_rows(rows, port.port, n, payloads, port.sport)
    expect("%d packets captured" % n in err, "summary says %d captured: %r" % (n, err))
    expect("packets received by filter" in err and "packets dropped by kernel" in err, "tcpdump-style summary: %r" % err)
    caps = L.captures(db)
    expect(len(caps) == 1 and caps[0]["state"] == "complete" and caps[0]["packets"] == n, "capture row: %r" % caps)
    expect(caps[0]["received"] is not None and caps[0]["received"] >= n and caps[0]["dropped_kernel"] == 0,
           "received/dropped stats: %r" % caps[0])
    expect("live:lo filter 'udp port %d'" % port.port in caps[0]["line"], "source and filter shown: %r" % caps[0]["line"])
    port.close()


def test_count_stops_after_n():
    db, port = new_db(), L.UdpPort()
    proc = capture(db, "--count", "3", "udp", "port", str(port.port))  # filter as trailing words
    sent = 0
    while proc.poll() is None and sent < 40:
        port.send(b"count %d" % sent)
        sent += 1
        time.sleep(0.03)
    rc, err = L.finish(proc, sig=None)
    expect(rc == 0, "exit %d: %s" % (rc, err))
    rows = L.query_json(db, "--port", str(port.port))
    expect(len(rows) == 3, "--count 3 stored %d rows (sent %d)" % (len(rows), sent))
    expect("3 packets captured" in err, "summary: %r" % err)
    port.close()


def test_duration_on_silent_filter():
    db, port = new_db(), L.UdpPort()
    t0 = time.monotonic()
    r = L.run(["ingest", "-i", "lo", "--db", db, "--duration", "2", "udp port %d" % port.port], timeout=10)
    elapsed = time.monotonic() - t0
    expect(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    expect(1.5 <= elapsed <= 2.5, "--duration 2 took %.3f s" % elapsed)
    caps = L.captures(db)
    expect(len(caps) == 1 and caps[0]["state"] == "complete" and caps[0]["packets"] == 0, "capture row: %r" % caps)
    expect("0 packets captured" in r.stderr, "summary: %r" % r.stderr)
    port.close()


def stop_keeps_every_packet(sig, n):
    db, port = new_db(), L.UdpPort()
    proc = capture(db, "udp port %d" % port.port)
    for i in range(n):
        port.send(b"s" * (i + 1))
    time.sleep(0.4)  # longer than the 100 ms buffer timeout, shorter than a flush is needed
    t0 = time.monotonic()
    rc, err = L.finish(proc, sig=sig)
    expect(time.monotonic() - t0 < 1.5, "stopping took %.2f s" % (time.monotonic() - t0))
    expect(rc == 0, "exit %d after %s: %s" % (rc, sig, err))
    rows = L.query_json(db, "--port", str(port.port))
    check_rows(rows, port.port, n, [i + 1 for i in range(n)], port.sport)
    caps = L.captures(db)
    expect(caps[0]["state"] == "complete" and caps[0]["packets"] == n, "capture row: %r" % caps)
    expect(caps[0]["received"] is not None and caps[0]["received"] >= n, "received stats recorded: %r" % caps[0])
    port.close()


def test_sigint_keeps_every_packet():
    stop_keeps_every_packet(signal.SIGINT, 30)


def test_sigterm_keeps_every_packet():
    stop_keeps_every_packet(signal.SIGTERM, 7)


def test_reader_sees_rows_within_a_second():
    db, port = new_db(), L.UdpPort()
    proc = capture(db, "udp port %d" % port.port)
    worst = 0.0
    try:
        # Different phases against the writer's flush timer.
        for i, gap in enumerate([0.0, 0.15, 0.3, 0.45, 0.6, 0.05, 0.7, 0.25]):
            time.sleep(gap)
            port.send(b"v%d" % i)
            got, waited = L.wait_for(
                lambda: int(L.run(["query", "--db", db, "--count", "--port", str(port.port)]).stdout or 0) >= i + 1, 3)
            expect(got, "packet %d never became visible" % i)
            worst = max(worst, waited)
    finally:
        rc, err = L.finish(proc)
    print("  worst time to visibility: %.3f s" % worst)
    expect(worst < 1.0, "a concurrent query saw a packet only after %.3f s" % worst)
    expect(rc == 0, "exit %d: %s" % (rc, err))
    port.close()


def test_snaplen_truncates():
    # 40 bytes: enough for the filter to see the UDP ports (a filter that reads
    # past the snaplen never matches, in libpcap and so in tcpdump too).
    db, port = new_db(), L.UdpPort()
    proc = capture(db, "--snaplen", "40", "--preview-bytes", "64", "udp port %d" % port.port)
    port.send(b"y" * 100)
    L.wait_for(lambda: L.query_json(db), 2)
    rc, err = L.finish(proc)
    rows = L.query_json(db)
    expect(rc == 0, "exit %d: %s" % (rc, err))
    expect("snapshot length 40 bytes" in err, "listening line shows the snaplen: %r" % err)
    expect(len(rows) == 1, "one row, got %r" % rows)
    r = rows[0]
    expect(r["caplen"] == 40 and r["wirelen"] == L.LO_UDP_OVERHEAD + 100, "snaplen 40: %r" % r)
    expect(len(r["preview"]) == 80, "preview holds the 40 captured bytes: %r" % r["preview"])
    expect(r["dport"] == port.port, "the ports are within the 40 bytes: %r" % r)
    port.close()


def test_any_device():
    db, port = new_db(), L.UdpPort()
    proc = L.start(["ingest", "-i", "any", "--db", db, "--filter", "udp dst port %d" % port.port])
    L.wait_listening(proc)
    for i in range(3):
        port.send(b"a" * 10)
    L.wait_for(lambda: len(L.query_json(db, "--port", str(port.port))) >= 3, 3)
    time.sleep(0.3)  # a duplicate would arrive by now
    rc, err = L.finish(proc)
    expect(rc == 0, "exit %d: %s" % (rc, err))
    rows = L.query_json(db, "--port", str(port.port))
    expect(len(rows) == 3, "3 rows on any, got %d" % len(rows))
    for r in rows:
        hdr = {113: 16, 276: 20}.get(r["linktype"])
        expect(hdr is not None, "any is LINUX_SLL or SLL2: %r" % r)
        expect(r["src"] == "127.0.0.1" and r["dport"] == port.port and r["wirelen"] == hdr + 20 + 8 + 10,
               "decoded through the cooked header: %r" % r)
    port.close()


if __name__ == "__main__":
    L.run_tests([
        test_exact_rows_and_fields,
        test_count_stops_after_n,
        test_duration_on_silent_filter,
        test_sigint_keeps_every_packet,
        test_sigterm_keeps_every_packet,
        test_reader_sees_rows_within_a_second,
        test_snaplen_truncates,
        test_any_device,
    ])
