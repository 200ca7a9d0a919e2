#!/usr/bin/env python3
"""Edge cases of reading captures, end to end through `capdb ingest`:

  * pcap seconds are unsigned 32-bit: records after 2038-01-19T03:14:07Z
    (testdata/y2038.pcap, and its pcapng twin) keep their dates, as tshark
    shows them;
  * a sub-second field out of range (us >= 10^6, ns >= 10^9) keeps the
    record's seconds and is flagged (long: "invalid-time", json:
    "time_invalid": true);
  * SIGINT or SIGTERM stops an ingest that waits on a quiet pipe or FIFO at
    once: exit 130, the packets read are kept, the capture is `interrupted`.

Plain unittest.TestCase classes (pytest runs them too). Every wait is a
poll of an observable state with a deadline, never a fixed sleep.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402

EXIT_INTERRUPTED = 130
NS = 10**9


def td(name):
    return os.path.join(lib.testdata_dir(), name)


def pcap_bytes(records, nsec=False, big_endian=False):
    """A pcap of 60-byte Ethernet frames; records: (seconds, sub-second
    field) exactly as stored."""
    e = ">" if big_endian else "<"
    out = struct.pack(e + "IHHiIII", 0xA1B23C4D if nsec else 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    frame = bytes(range(60))
    for sec, frac in records:
        out += struct.pack(e + "IIII", sec, frac, len(frame), len(frame)) + frame
    return out


class CaptureEdgeCase(unittest.TestCase):
    def setUp(self):
        self._tmp = lib.TempDir()
        self.tmp = self._tmp.__enter__()
        self.addCleanup(self._tmp.__exit__, None, None, None)
        self.db = os.path.join(self.tmp, "t.db")

    def ok(self, *args, **kw):
        p = lib.run(list(args), **kw)
        self.assertEqual(p.returncode, 0, lib.describe(p))
        return p

    def csv_rows(self, *args):
        return lib.parse_csv(self.ok("query", "--db", self.db, "--format", "csv", *args).stdout)[1]

    def captures(self):
        """capdb captures as dicts (--format json): id, state, packets, source, ..."""
        p = self.ok("captures", "--db", self.db, "--format", "json")
        return [json.loads(line) for line in p.stdout.splitlines()]


class TestY2038(CaptureEdgeCase):
    """Seconds from 2^31 to 2^32 - 1 (2038-01-19 to 2106-02-07)."""

    WANT = [(2**31 - 1) * NS + 999999000, 2**31 * NS, (2**31 + 86400) * NS + 500000000,
            (2**32 - 1) * NS + 999999000]

    def ingested_ts(self, name):
        self.ok("ingest", "--db", self.db, td(name))
        rows = self.csv_rows()
        rows.sort(key=lambda r: int(r["packet"]))
        return [int(r["ts_ns"]) for r in rows]

    def test_pcap_agrees_with_reference_reader(self):
        self.assertEqual(self.ingested_ts("y2038.pcap"), self.WANT)
        self.assertEqual([r.ts_ns for r in lib.read_capture(td("y2038.pcap")).records], self.WANT)

    def test_pcapng(self):
        got = self.ingested_ts("y2038.pcapng")
        self.assertEqual(got, self.WANT + [2**33 * NS + 123456789])

    def test_agrees_with_tshark(self):
        tshark = shutil.which("tshark")
        if not tshark:
            self.skipTest("tshark is not installed")
        for name in ("y2038.pcap", "y2038.pcapng"):
            with self.subTest(name=name):
                db = os.path.join(self.tmp, name + ".db")
                self.ok("ingest", "--db", db, td(name))
                p = subprocess.run([tshark, "-n", "-r", td(name), "-T", "fields", "-e", "frame.time_epoch"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True,
                                   env=lib.clean_env())
                want = []
                for text in p.stdout.split():
                    sec, _, frac = text.partition(".")
                    want.append(int(sec) * NS + int((frac + "000000000")[:9]))
                rows = lib.parse_csv(self.ok("query", "--db", db, "--format", "csv").stdout)[1]
                rows.sort(key=lambda r: int(r["packet"]))
                self.assertEqual([int(r["ts_ns"]) for r in rows], want)

    def test_query_by_time_after_2038(self):
        self.ok("ingest", "--db", self.db, td("y2038.pcap"))
        rows = self.csv_rows("--from", "2038-01-20T00:00:00Z")
        self.assertEqual(sorted(int(r["ts_ns"]) for r in rows), self.WANT[2:])
        self.assertEqual(self.csv_rows()[0]["time"], "2038-01-19T03:14:07.999999000Z")
        self.assertEqual(self.csv_rows()[-1]["time"], "2106-02-07T06:28:15.999999000Z")


class TestInvalidSubsecond(CaptureEdgeCase):
    """A record whose microsecond (nanosecond) field is >= 10^6 (10^9)."""

    T = 1600000000  # 2020-09-13T12:26:40Z

    def write(self, name, records, nsec):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(pcap_bytes(records, nsec=nsec))
        return path

    def ingest_both(self):
        us = self.write("us.pcap", [(self.T, 0x80000000), (self.T + 1, 1000000), (self.T + 2, 999999)], False)
        ns = self.write("ns.pcap", [(self.T + 3, 0xFFFFFFFF), (self.T + 4, 10**9), (self.T + 5, 999999999)], True)
        self.ok("ingest", "--db", self.db, us, ns)

    def test_seconds_are_kept(self):
        self.ingest_both()
        got = [int(r["ts_ns"]) for r in self.csv_rows()]
        # Before: 0x80000000 us was carried into the seconds, 36 minutes early.
        self.assertEqual(got, [self.T * NS, (self.T + 1) * NS, (self.T + 2) * NS + 999999000,
                               (self.T + 3) * NS, (self.T + 4) * NS, (self.T + 5) * NS + 999999999])

    def test_flag_in_long_and_json(self):
        # Needs the store to keep the flag (page format): fails until it does.
        self.ingest_both()
        long_lines = self.ok("query", "--db", self.db, "--format", "long").stdout.splitlines()
        flagged = [line.endswith("[invalid-time]") for line in long_lines]
        self.assertEqual(flagged, [True, True, False, True, True, False], "\n".join(long_lines))
        objs = [json.loads(line) for line in
                self.ok("query", "--db", self.db, "--format", "json").stdout.splitlines()]
        self.assertEqual([o.get("time_invalid", False) for o in objs], [True, True, False, True, True, False])
        # Only flagged rows carry the field.
        self.assertNotIn("time_invalid", objs[2])


class TestInterrupt(CaptureEdgeCase):
    """Ctrl-C while capdb waits for more input on a pipe or FIFO."""

    PACKETS = [(1620000000, 0), (1620000001, 0), (1620000002, 0)]

    def start(self, source, **popen):
        cmd = [lib.capdb_path(), "ingest", "--db", self.db, "--batch", "1", source]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lib.clean_env(), **popen)
        self.addCleanup(self.reap, proc)
        return proc

    @staticmethod
    def reap(proc):
        if proc.poll() is None:
            proc.kill()
        proc.communicate()

    def committed(self, proc, n):
        """Waits until capdb has committed n packets (--batch 1: one commit a
        packet); fails early if capdb exits."""
        def done():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError("capdb exited early (%d): %s" % (proc.returncode, err.decode()))
            if not os.path.exists(self.db):
                return False
            p = lib.run(["captures", "--db", self.db, "--format", "json"])
            if p.returncode != 0:
                return False  # the database is being created
            return any(json.loads(line)["packets"] >= n for line in p.stdout.splitlines())
        lib.wait_until(done, 20.0, "%d committed packets" % n)

    def stop(self, proc, sig=signal.SIGINT):
        start = time.monotonic()
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.fail("capdb ingest did not stop within 5 s of %s: %s" % (sig.name, err.decode()))
        return proc.returncode, time.monotonic() - start, err.decode()

    def check_interrupted(self, rc, elapsed, err, n):
        self.assertEqual(rc, EXIT_INTERRUPTED, err)
        self.assertLess(elapsed, 2.0, "took %.2f s to stop" % elapsed)
        self.assertIn("interrupted", err)
        rows = self.csv_rows()
        self.assertEqual(len(rows), n)
        self.assertEqual([int(r["ts_ns"]) for r in rows], [s * NS for s, _ in self.PACKETS[:n]])
        caps = self.captures()
        self.assertEqual(len(caps), 1, caps)
        self.assertEqual(caps[0]["state"], "interrupted", caps)
        self.assertEqual(caps[0]["packets"], n, caps)

    def test_fifo(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        proc = self.start(fifo)
        # Blocks until capdb opens the FIFO for reading.
        with open(fifo, "wb", buffering=0) as w:
            w.write(pcap_bytes(self.PACKETS))
            self.committed(proc, len(self.PACKETS))
            rc, elapsed, err = self.stop(proc)
        self.check_interrupted(rc, elapsed, err, len(self.PACKETS))

    def test_stdin_pipe(self):
        proc = self.start("-", stdin=subprocess.PIPE)
        proc.stdin.write(pcap_bytes(self.PACKETS))
        proc.stdin.flush()
        self.committed(proc, len(self.PACKETS))
        rc, elapsed, err = self.stop(proc)
        proc.stdin.close()
        self.check_interrupted(rc, elapsed, err, len(self.PACKETS))

    def test_sigterm(self):
        proc = self.start("-", stdin=subprocess.PIPE)
        proc.stdin.write(pcap_bytes(self.PACKETS[:2]))
        proc.stdin.flush()
        self.committed(proc, 2)
        rc, elapsed, err = self.stop(proc, signal.SIGTERM)
        proc.stdin.close()
        self.check_interrupted(rc, elapsed, err, 2)

    def test_before_the_header(self):
        """Nothing arrives at all (`sleep 100 | capdb ingest -`)."""
        proc = self.start("-", stdin=subprocess.PIPE)

        def handler_installed():
            # SigCgt: the signals with a handler; SIGINT is bit 1 (signal 2).
            try:
                with open("/proc/%d/status" % proc.pid) as f:
                    for line in f:
                        if line.startswith("SigCgt:"):
                            return int(line.split()[1], 16) & (1 << (signal.SIGINT - 1))
            except FileNotFoundError:
                pass
            if proc.poll() is not None:
                raise AssertionError("capdb exited early (%d)" % proc.returncode)
            return False
        lib.wait_until(handler_installed, 20.0, "capdb's SIGINT handler")
        rc, elapsed, err = self.stop(proc)
        proc.stdin.close()
        self.assertEqual(rc, EXIT_INTERRUPTED, err)
        self.assertLess(elapsed, 2.0)
        self.assertIn("interrupted", err)
        self.assertEqual(self.captures(), [])


if __name__ == "__main__":
    lib.capdb_path()  # exit 77 when there is no binary
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    failed = {id(t) if not hasattr(t, "test_case") else id(t.test_case) for t, _ in res.failures + res.errors}
    print("\ncapture_edge: %d passed, %d failed, %d skipped" % (
        res.testsRun - len(failed) - len(res.skipped), len(failed), len(res.skipped)))
    sys.exit(0 if res.wasSuccessful() else 1)
