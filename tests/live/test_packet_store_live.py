"""Live capture with the packet store: datagrams with known payloads come
back exact through query -w; after SIGKILL at many moments every committed
packet is retrievable and identical, the database is intact, and the next
open for writing cuts the segment back to what was committed. Needs root
(or capture capabilities); skipped otherwise."""

import os
import random
import sqlite3
import threading
import time

import pytest

import capdb_testlib as lib
import livelib as L

pytestmark = pytest.mark.usefixtures("live_capture")

IP_UDP = 14 + 20 + 8  # Ethernet, IPv4 without options, UDP on lo


@pytest.fixture
def db(work, request):
    return os.path.join(work, request.node.name + ".db")


def payload(i):
    """Datagram i: its number, then bytes that depend on it (0..1999 more)."""
    rng = random.Random(i)
    return b"capdb%08d" % i + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 2000)))


def exported(db, out, *args):
    r = lib.run(["query", "--db", db, "-w", out] + list(args), timeout=60)
    assert r.returncode == 0, r
    return lib.read_capture(out).records


def udp_payload(rec):
    """The UDP payload of an Ethernet/IPv4/UDP frame on lo, checked."""
    data = rec.data
    assert rec.caplen == rec.wirelen == len(data)
    assert data[12:14] == b"\x08\x00" and data[14] == 0x45 and data[23] == 17, "IPv4/UDP frame"
    udp_len = int.from_bytes(data[38:40], "big")
    assert udp_len == len(data) - 34, "UDP length agrees with the frame"
    return data[IP_UDP:]


def check_exact(records):
    """Every record is a datagram sent, byte for byte; returns their numbers."""
    numbers = []
    for rec in records:
        p = udp_payload(rec)
        n = int(p[5:13])
        assert p == payload(n), "datagram %d differs" % n
        numbers.append(n)
    return numbers


def segments(db):
    return lib.segment_rows(db, "capture_id, name, packets, bytes")


def capture(db, port, *args):
    proc = L.start(["ingest", "-i", "lo", "--db", db] + list(args) + ["udp", "port", str(port.port)])
    L.wait_listening(proc)
    return proc


def test_payloads_come_back_exact(db, work):
    port, n = L.UdpPort(), 400
    proc = capture(db, port)
    for i in range(n):
        port.send(payload(i))
    L.wait_until(lambda: lib.run(["query", "--db", db, "--count"]).stdout.strip() == str(n), 5,
                 "%d datagrams stored" % n)
    rc, err = L.finish(proc)
    assert rc == 0, err
    out = os.path.join(work, "payloads.pcap")
    records = exported(db, out, "--port", str(port.port))
    assert check_exact(records) == list(range(n)), "every datagram, once, in order"
    # The store is pcap: its size is the same packets' as a pcap file.
    store = sum(s[3] for s in segments(db))
    assert store <= 1.02 * os.path.getsize(out), (store, os.path.getsize(out))
    caps = L.captures(db)
    assert "packets in the store" in caps[0]["line"]
    port.close()


def test_no_packets_keeps_summaries_only(db, work):
    port = L.UdpPort()
    proc = capture(db, port, "--no-packets")
    for i in range(20):
        port.send(payload(i))
    L.wait_until(lambda: lib.run(["query", "--db", db, "--count"]).stdout.strip() == "20", 5, "20 datagrams stored")
    rc, err = L.finish(proc)
    assert rc == 0, err
    assert not os.path.exists(db + ".packets") or os.listdir(db + ".packets") == ["lock"]
    r = lib.run(["query", "--db", db, "-w", os.path.join(work, "none.pcap")])
    assert r.returncode == lib.EXIT_SOURCE and "capture 1" in r.stderr, r
    assert "packets not kept" in L.captures(db)[0]["line"]
    port.close()


class Sender:
    """Sends payload(0), payload(1), ... to port until stopped, at about
    3000 datagrams a second."""

    def __init__(self, port):
        self.port, self.sent, self.stop = port, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            for _ in range(30):
                self.port.send(payload(self.sent))
                self.sent += 1
            time.sleep(0.01)

    def close(self):
        self.stop.set()
        self.thread.join()


def committed(db, capture_id):
    r = lib.run(["query", "--db", db, "--count", "--capture", str(capture_id)])
    return int(r.stdout.strip() or 0) if r.returncode == 0 else 0


def test_sigkill_keeps_every_committed_packet(db, work):
    port = L.UdpPort()
    sender = Sender(port)
    rng = random.Random(11)
    kills = 12
    try:
        for k in range(1, kills + 1):
            proc = capture(db, port)
            # This open for writing recovered the store: every earlier
            # capture's segments hold exactly their committed bytes.
            for capture_id, name, _, size in segments(db):
                if capture_id < k:
                    assert os.path.getsize(os.path.join(db + ".packets", name)) == size, (k, name)
            # Kill at varying moments: right after a commit is seen, or up
            # to 0.7 s later (mid-block, mid-commit or between commits).
            lib.wait_until(lambda: committed(db, k) > 0, 10, "capture %d to commit" % k)
            if k % 3:
                first = committed(db, k)
                lib.wait_until(lambda: committed(db, k) > first, 10, "capture %d to commit again" % k)
            time.sleep(rng.uniform(0, 0.7))
            proc.kill()
            proc.wait()
            rows = committed(db, k)
            assert rows > 0
            out = os.path.join(work, "kill%d.pcap" % k)
            numbers = check_exact(exported(db, out, "--capture", str(k)))
            assert len(numbers) == rows, "every committed row is retrievable"
            assert numbers == sorted(numbers) and len(set(numbers)) == rows
            con = sqlite3.connect(db)
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            con.close()
            # What the killed writer wrote past its last commit stays until
            # the next open for writing; the committed bytes are all there.
            for capture_id, name, _, size in segments(db):
                if capture_id == k:
                    assert os.path.getsize(os.path.join(db + ".packets", name)) >= size
    finally:
        sender.close()
    # One more open for writing: every segment back to its committed length.
    r = lib.run(["ingest", "-i", "lo", "--db", db, "--duration", "0.1", "udp port 9"])
    assert r.returncode == 0, r
    for capture_id, name, _, size in segments(db):
        assert os.path.getsize(os.path.join(db + ".packets", name)) == size, name
    port.close()
