"""capdb query --follow -w: packets are written and flushed as they are
committed, while an ingest feeds the database (standard input, into the
packet store; `ingest --follow FILE`, read back from the growing file).
What tshark and tcpdump read from the stream is compared packet by packet
(bytes, captured and wire length, timestamp) with the source. Also: pcap
takes its link type from the first packet and refuses another one later,
pcapng adds interfaces as they come, and a reader that closes the pipe ends
the query with exit 0 and one line on stderr."""

import os
import signal
import subprocess
import threading

import pytest

import capdb_testlib as lib

TIMEOUT = 30  # seconds to wait for any one condition


def need(tool):
    if subprocess.run(["which", tool], stdout=subprocess.DEVNULL).returncode != 0:
        pytest.skip("%s is not installed" % tool)


def fields(records):
    return [(r.ts_ns, r.caplen, r.wirelen, r.data) for r in records]


def parse_stream(buf):
    """The complete records of a pcap or pcapng stream read so far."""
    if len(buf) < 24:
        return []
    return lib.read_capture_bytes(bytes(buf)).records


def file_records(path):
    """The complete records in path so far (none while it is empty)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return parse_stream(f.read())


class Follower:
    """`capdb query --follow -w - ARGS`, its output passed on to a reader
    (tshark or tcpdump writing a file) and kept, to count what came."""

    def __init__(self, db, reader_cmd, *args):
        self.proc = subprocess.Popen([lib.capdb_path(), "query", "--db", db, "--follow", "-w", "-"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lib.clean_env())
        self.reader = subprocess.Popen(reader_cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
        self.got = bytearray()
        self.lock = threading.Lock()
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                break
            with self.lock:
                self.got += chunk
            self.reader.stdin.write(chunk)
            self.reader.stdin.flush()
        self.reader.stdin.close()

    def records(self):
        with self.lock:
            return parse_stream(self.got)

    def wait_for(self, n):
        lib.wait_until(lambda: len(self.records()) >= n, TIMEOUT, "%d packets from query --follow -w" % n)

    def stop(self):
        """SIGINT (Ctrl-C); returns (exit code, stderr) of capdb, then of the reader."""
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(TIMEOUT)
        err = self.proc.stderr.read().decode()
        self.pump.join(TIMEOUT)
        reader_rc = self.reader.wait(TIMEOUT)
        return rc, err, reader_rc, self.reader.stderr.read().decode()


def test_stdin_ingest_read_by_tshark_as_it_commits(tmp):
    """Standard input commits as it streams (into the packet store, whose
    segments rotate meanwhile); the follower writes each commit's packets
    at once, nanosecond pcap, which tshark reads from the pipe: every
    packet exact, timestamps to the nanosecond."""
    need("tshark")
    db = os.path.join(tmp, "s.db")
    header, recs = lib.udp_pcap_records(600, 7, nsec=True)
    source = os.path.join(tmp, "source.pcap")
    with open(source, "wb") as f:
        f.write(header + b"".join(recs))
    want = fields(lib.read_capture(source).records)

    # Small segments: the store rotates while the follower reads it.
    ingest = subprocess.Popen([lib.capdb_path(), "ingest", "--db", db, "--segment-size", "64k", "-"],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lib.clean_env())
    ingest.stdin.write(header + b"".join(recs[:200]))
    ingest.stdin.flush()
    lib.wait_until(lambda: os.path.exists(db) and lib.run(["query", "--db", db, "--count"]).stdout.strip() == "200",
                   TIMEOUT, "the first 200 packets to be committed")
    out = os.path.join(tmp, "tshark.pcapng")
    f = Follower(db, ["tshark", "-r", "-", "-w", out])
    try:
        f.wait_for(200)
        for lo, hi in ((200, 400), (400, 600)):
            ingest.stdin.write(b"".join(recs[lo:hi]))
            ingest.stdin.flush()
            # Written while the ingest still runs: as they are committed.
            f.wait_for(hi)
            assert ingest.poll() is None
        ingest.stdin.close()
        assert ingest.wait(TIMEOUT) == 0, ingest.stderr.read()
        rc, err, reader_rc, reader_err = f.stop()
    finally:
        if f.proc.poll() is None:
            f.proc.kill()
        if ingest.poll() is None:
            ingest.kill()
    assert rc == 0, err
    assert err.strip() == "capdb: 600 packets, %d bytes written to standard output" % len(f.got), err
    assert f.got[:4] == b"\x4d\x3c\xb2\xa1", "nanosecond pcap"
    assert fields(parse_stream(f.got)) == want
    assert reader_rc == 0, reader_err
    assert fields(lib.read_capture(out).records) == want
    assert len(lib.segment_rows(db)) >= 3


def test_followed_file_read_by_tcpdump_with_a_filter(tmp):
    """`ingest --follow FILE` while tcpdump -w writes FILE (here: records
    appended bit by bit); `query --follow --host X -w -` as pcapng, read by
    tcpdump: exactly the source's packets of host X, in order."""
    need("tcpdump")
    db = os.path.join(tmp, "f.db")
    header, recs = lib.udp_pcap_records(300, 11)
    grow = os.path.join(tmp, "grow.pcap")
    with open(grow, "wb") as g:
        g.write(header + b"".join(recs[:100]))
    source = os.path.join(tmp, "source.pcap")
    with open(source, "wb") as s:
        s.write(header + b"".join(recs))
    host = bytes([10, 0, 0, 2])
    want = [r for r in fields(lib.read_capture(source).records) if r[3][26:30] == host or r[3][30:34] == host]
    assert 0 < len(want) < 300

    ingest = lib.start(["ingest", "--db", db, "--follow", grow])
    out = os.path.join(tmp, "tcpdump.pcap")
    f = None
    try:
        lib.wait_until(lambda: os.path.exists(db) and
                       lib.run(["query", "--db", db, "--count"]).stdout.strip() == "100", TIMEOUT,
                       "the first 100 packets to be committed")
        f = Follower(db, ["tcpdump", "-r", "-", "-w", out, "--time-stamp-precision", "nano"], "--host", "10.0.0.2",
                     "--write-format", "pcapng")
        n_first = sum(1 for r in want if r in fields(lib.read_capture(grow).records))
        f.wait_for(n_first)
        with open(grow, "ab") as g:
            for i in range(100, 300):
                g.write(recs[i])
                g.flush()
        f.wait_for(len(want))
        rc, err, reader_rc, reader_err = f.stop()
    finally:
        if f and f.proc.poll() is None:
            f.proc.kill()
        ingest.send_signal(signal.SIGINT)
        ingest.wait(TIMEOUT)
    assert rc == 0, err
    assert f.got[:4] == b"\x0a\x0d\x0d\x0a", "pcapng"
    assert fields(parse_stream(f.got)) == want
    assert reader_rc == 0, reader_err
    assert fields(lib.read_capture(out).records) == want


def test_pcap_takes_the_first_link_type_and_refuses_another(tmp, testdata):
    """pcap: the header carries the first packet's link type; a later
    capture of another link type stops the follower with the error that
    suggests pcapng (exit 2), what was written before intact. pcapng: an
    interface is added for the new link type, and tshark reads each packet
    with its own."""
    need("tshark")
    db = os.path.join(tmp, "l.db")
    eth, sll = os.path.join(testdata, "eth_ipv4.pcap"), os.path.join(testdata, "sll.pcap")
    assert lib.run(["ingest", "--db", db, eth]).returncode == 0
    out, ng = os.path.join(tmp, "f.pcap"), os.path.join(tmp, "f.pcapng")
    pcap = lib.start(["query", "--db", db, "--follow", "-w", out])
    png = lib.start(["query", "--db", db, "--follow", "-w", ng, "--write-format", "pcapng"])
    try:
        n_eth = len(lib.read_capture(eth).records)
        lib.wait_until(lambda: len(file_records(out)) == n_eth, TIMEOUT, "the Ethernet packets in the pcap")
        lib.wait_until(lambda: len(file_records(ng)) == n_eth, TIMEOUT, "the Ethernet packets in the pcapng")
        assert lib.run(["ingest", "--db", db, sll]).returncode == 0
        assert pcap.wait(TIMEOUT) == lib.EXIT_USAGE
        err = pcap.stderr.read()
        assert "2 link types (1, 113)" in err and "--write-format pcapng" in err, err
        got = lib.read_capture(out)
        assert got.linktypes == [1] and fields(got.records) == fields(lib.read_capture(eth).records)
        n_all = n_eth + len(lib.read_capture(sll).records)
        lib.wait_until(lambda: len(file_records(ng)) == n_all, TIMEOUT, "the SLL packets in the pcapng")
    finally:
        for p in (pcap, png):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                p.wait(TIMEOUT)
    assert png.returncode == 0, png.stderr.read()
    encaps = subprocess.run(["tshark", "-r", ng, "-T", "fields", "-e", "frame.interface_id", "-e",
                             "frame.encap_type"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            check=True).stdout.split("\n")
    assert [e for e in encaps if e] == ["0\t1"] * n_eth + ["1\t25"] * (n_all - n_eth)  # Ethernet, then Linux SLL


def test_reader_closing_the_pipe_ends_the_query(tmp, testdata):
    """`| head -c 100`: the follower ends with exit 0 and one line, both
    when a write meets the closed pipe and when it is waiting for packets."""
    db = os.path.join(tmp, "h.db")
    assert lib.run(["ingest", "--db", db, os.path.join(testdata, "eth_ipv4.pcap")]).returncode == 0
    cmd = "%s query --db %s --follow -w - | head -c 100 | wc -c" % (lib.capdb_path(), db)
    r = subprocess.run(["bash", "-c", cmd + "; exit ${PIPESTATUS[0]}"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, env=lib.clean_env())
    assert r.returncode == 0 and r.stdout.strip() == "100", r
    assert r.stderr.endswith("before its reader closed it\n") and r.stderr.count("\n") == 1, r.stderr
    # Nothing to write: the reader goes while capdb waits for packets.
    p = subprocess.Popen([lib.capdb_path(), "query", "--db", db, "--follow", "-w", "-", "--host", "192.0.2.99"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lib.clean_env(), text=True)
    try:
        p.stdout.close()
        assert p.wait(TIMEOUT) == 0
    finally:
        if p.poll() is None:
            p.kill()
    err = p.stderr.read()
    assert err.endswith("before its reader closed it\n") and "error" not in err, err


def test_limit_and_no_packets(tmp, testdata):
    """--limit N ends the follow once N are written; Ctrl-C before any
    packet leaves a valid empty pcap."""
    db = os.path.join(tmp, "n.db")
    path = os.path.join(testdata, "eth_ipv4.pcap")
    assert lib.run(["ingest", "--db", db, path]).returncode == 0
    out = os.path.join(tmp, "l.pcap")
    r = lib.run(["query", "--db", db, "--follow", "--limit", "5", "-w", out], timeout=TIMEOUT)
    assert r.returncode == 0, r
    assert fields(lib.read_capture(out).records) == fields(lib.read_capture(path).records[:5])
    empty = os.path.join(tmp, "e.pcap")
    p = lib.start(["query", "--db", db, "--follow", "-w", empty, "--host", "192.0.2.99"])
    lib.wait_until(lambda: os.path.exists(empty), TIMEOUT, "the output file")
    p.send_signal(signal.SIGINT)
    assert p.wait(TIMEOUT) == 0, p.stderr.read()
    info = lib.read_capture(empty)
    assert info.records == [] and info.linktypes == [1]
