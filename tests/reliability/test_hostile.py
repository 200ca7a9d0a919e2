"""Hostile inputs to `capdb ingest`: every file of testdata/hostile/ (see
its README.md for the expected-outcomes table) plus inputs made at test
time: a directory, a FIFO written by a late writer, a FIFO whose writer
closes at once, /dev/zero (as a path and as standard input), a missing file
and an unreadable file (as user nobody).

Each run has a time limit (30 s) and a memory limit (RLIMIT_AS 1 GB; not
applied to sanitizer builds, which reserve terabytes of address space, but
their peak RSS is still checked). Asserts the exit code, the packets stored
(an exact count, and for some files their timestamps and lengths), that a
file that is not a capture leaves no capture row, that the database passes
PRAGMA integrity_check, and that ingesting a file again is a no-op.
"""

import os
import sys
import tempfile
import subprocess
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402

HOSTILE = os.path.join(lib.testdata_dir(), "hostile")

TIME_LIMIT = 30
MEMORY_LIMIT = 1 << 30
T0 = 1_490_492_402 * 10**9

# name: (exit code, packets stored or None when no capture row may exist)
EXPECTED = {
    "empty.bin": (3, None),
    "header_only.bin": (0, 0),
    "truncated_header.bin": (3, None),
    "truncated_record.bin": (4, 3),
    "truncated_record_header.bin": (4, 3),
    "caplen_gt_snaplen.bin": (0, 3),
    "caplen_gt_wirelen.bin": (0, 2),
    "caplen_4g.bin": (4, 2),
    "snaplen_4g.bin": (0, 2),
    "ts_before_1970.bin": (0, 3),
    "ts_before_1970_ng.bin": (0, 2),
    "ts_after_2100.bin": (0, 3),
    "zero_length.bin": (0, 3),
    "ng_unknown_blocks.bin": (0, 3),
    "ng_bad_block_length.bin": (4, 1),
    "ng_huge_block_length.bin": (4, 1),
    "ng_length_mismatch.bin": (4, 1),
    "ng_undeclared_interface.bin": (4, 1),
    "ng_packet_before_idb.bin": (3, None),
    "ng_shb_only.bin": (3, None),
    "ng_caplen_beyond_block.bin": (4, 1),
    "gzip.bin": (3, None),
    "text.bin": (3, None),
    "zero_magic.bin": (3, None),
    "unsupported_link.bin": (5, 2),
    "big_endian_truncated.bin": (4, 2),
}

# name: {packet number: (ts_ns, caplen, wirelen, offset or None)}
FIELDS = {
    "caplen_gt_snaplen.bin": {1: (T0, 49, 49, 24), 2: (T0 + 10**9, 64, 100, 89), 3: (T0, 49, 49, 205)},
    "caplen_gt_wirelen.bin": {1: (T0, 80, 60, 24)},
    "ts_before_1970.bin": {1: ((2**32 - 16) * 10**9 + 250_000_000, 49, 49, 24), 2: (2**31 * 10**9, 49, 49, 89),
                           3: (0, 49, 49, 154)},
    "ts_before_1970_ng.bin": {1: (T0 - 10**18, 49, 49, None), 2: (-10**18, 49, 49, None)},
    "ts_after_2100.bin": {1: (7_258_118_400_000_001_000, 49, 49, None), 2: (2**63 - 1, 49, 49, None),
                          3: (T0, 49, 49, None)},
    "zero_length.bin": {1: (T0, 0, 0, 24), 2: (T0 + 1000, 0, 60, 40)},
    "truncated_record.bin": {3: (T0 + 2 * 10**9 + 2000, 49, 49, 154)},
}

# name: text the error line must contain
MESSAGES = {
    "empty.bin": "empty",
    "gzip.bin": "gzip",
    "caplen_4g.bin": "packet 3",
    "truncated_record.bin": "packet 4",
    "unsupported_link.bin": "not supported",
}


class Runner:
    """Runs capdb under the time and memory limits and checks what an
    ingest left; ingest() fails the test with every problem it found."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.ck = lib.Checks()
        self.as_limit = self.memory_limit_applies()

    def memory_limit_applies(self):
        p = subprocess.run([lib.capdb_path(), "--version"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=lib.limits(MEMORY_LIMIT))
        if p.returncode != 0:
            print("note: capdb does not start under RLIMIT_AS (a sanitizer build?): checking peak RSS instead")
            return False
        return True

    def fail(self, name, msg):
        self.ck.fail(name, msg)

    def run(self, args, name, stdin=None, user=None):
        """Runs capdb with the limits; returns (exit code, stdout, stderr, seconds, peak RSS bytes)."""
        cmd = [lib.capdb_path()] + [str(a) for a in args]
        if user:
            cmd = lib.as_user(user) + cmd
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        start = time.monotonic()
        pre = lib.limits(MEMORY_LIMIT, TIME_LIMIT) if self.as_limit else lib.limits(1 << 62, TIME_LIMIT)
        p = subprocess.Popen(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=out,
                             stderr=err, env=lib.clean_env(), preexec_fn=pre)

        def reap():
            """(pid, status, rusage) once capdb has exited, else None."""
            w = os.wait4(p.pid, os.WNOHANG)
            return w if w[0] else None

        # wait4 for the peak RSS with the exit status; polled, because a
        # blocking wait4 has no time limit.
        reaped, _ = lib.poll(reap, TIME_LIMIT)
        if reaped is None:
            p.kill()
            reaped = os.wait4(p.pid, 0)
            self.fail(name, "still running after %d s: killed" % TIME_LIMIT)
        _, status, rusage = reaped
        p.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        rss = rusage.ru_maxrss * 1024
        if rss > MEMORY_LIMIT:
            self.fail(name, "peak RSS %d MB" % (rss >> 20))
        return p.returncode, stdout, stderr, seconds, rss

    def check_db(self, name, db, packets, fields=None):
        if not os.path.exists(db):
            return
        res = lib.integrity(db)
        if res != ["ok"]:
            self.fail(name, "integrity_check: %s" % res[:3])
            return
        rows = lib.capture_rows(db)
        if packets is None:
            if rows:
                self.fail(name, "a file that is not a capture left %d capture rows" % len(rows))
            return
        if len(rows) != 1:
            self.fail(name, "%d capture rows, expected 1" % len(rows))
            return
        c = rows[0]
        if c["packets"] != packets:
            self.fail(name, "capture row says %d packets, expected %d" % (c["packets"], packets))
        r = lib.run(["query", "--db", db, "--format", "csv"])
        if r.returncode != 0:
            self.fail(name, "query failed:\n%s" % r)
            return
        got = {int(x["packet"]): x for x in lib.parse_csv(r.stdout)[1]}
        if sorted(got) != list(range(1, packets + 1)):
            self.fail(name, "stored packet numbers %s, expected 1..%d" % (sorted(got)[:10], packets))
        for number, (ts, caplen, wirelen, offset) in (fields or {}).items():
            row = got.get(number)
            if row is None:
                self.fail(name, "packet %d missing" % number)
                continue
            have = (int(row["ts_ns"]), int(row["caplen"]), int(row["wirelen"]),
                    int(row["offset"]) if row["offset"] else None)
            want = (ts, caplen, wirelen, offset if offset is not None else have[3])
            if have != want:
                self.fail(name, "packet %d stored as (ts, caplen, wirelen, offset) %s, expected %s"
                          % (number, have, want))

    def ingest(self, name, path, want_exit, packets, fields=None, message=None, stdin=None, user=None,
               db=None, again=True, max_seconds=None):
        db = db or os.path.join(self.tmp, "%s.db" % name.replace("/", "_"))
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
        before = len(self.ck.failures)
        rc, _, err, secs, rss = self.run(["ingest", "--db", db, path], name, stdin=stdin, user=user)
        if rc != want_exit:
            self.fail(name, "exit %d, expected %d\n%s" % (rc, want_exit, err[-2000:]))
        if want_exit in (3, 4) and "capdb: error: " not in err:
            self.fail(name, "no 'capdb: error:' line on stderr:\n%s" % err)
        if message and message not in err:
            self.fail(name, "stderr lacks %r:\n%s" % (message, err))
        if max_seconds and secs > max_seconds:
            self.fail(name, "took %.1f s (limit %.1f s)" % (secs, max_seconds))
        self.check_db(name, db, packets, fields)
        if again and packets is not None and os.path.exists(db):
            # The same file again: already ingested (read to its end), nothing added.
            rc2, _, err2, _, _ = self.run(["ingest", "--db", db, path], name + " (again)")
            rows = lib.capture_rows(db)
            if rc2 != 0 or len(rows) != 1 or rows[0]["packets"] != packets:
                self.fail(name, "second ingest: exit %d, %d capture rows\n%s" % (rc2, len(rows), err2))
        if len(self.ck.failures) == before:
            print("ok   %-30s exit %d, %s packets, %.2f s, %d MB" % (
                name, rc, "-" if packets is None else packets, secs, rss >> 20))
        self.ck.done()


@pytest.fixture
def runner(tmp):
    return Runner(tmp)


def open_fifo_for_writing(path, deadline_seconds=10):
    """Opens a FIFO for writing once a reader has it open; None if no reader
    comes (so that a capdb that gave up early cannot hang the test)."""
    def try_open():
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return None

    fd, _ = lib.poll(try_open, deadline_seconds)
    if fd is None:
        return None
    os.set_blocking(fd, True)
    return os.fdopen(fd, "wb")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_file(runner, name):
    path = os.path.join(HOSTILE, name)
    assert os.path.exists(path), "%s is missing from testdata/hostile (run make_hostile.py)" % name
    want_exit, packets = EXPECTED[name]
    runner.ingest(name, path, want_exit, packets, FIELDS.get(name), MESSAGES.get(name))


def test_every_hostile_file_has_an_expected_outcome():
    names = sorted(n for n in os.listdir(HOSTILE) if n.endswith(".bin"))
    unknown = [n for n in names if n not in EXPECTED]
    assert not unknown, "no expected outcome in test_hostile.py for %s (add it, and to the README table)" % unknown


def test_directory(runner, tmp):
    runner.ingest("a directory", tmp, 3, None, message="directory")


def test_missing_file(runner, tmp):
    runner.ingest("a missing file", os.path.join(tmp, "no-such-file.pcap"), 3, None)


def test_dev_zero(runner):
    runner.ingest("/dev/zero", "/dev/zero", 3, None, max_seconds=5)


def test_stdin_from_dev_zero(runner):
    with open("/dev/zero", "rb") as zero:
        runner.ingest("stdin from /dev/zero", "-", 3, None, stdin=zero, max_seconds=5)


def test_fifo_late_writer(runner, tmp):
    data_path = os.path.join(tmp, "fifo-source.pcap")
    expected = lib.make_capture(data_path, 500, seed=7)
    with open(data_path, "rb") as f:
        data = f.read()
    fifo = os.path.join(tmp, "late-writer.fifo")
    os.mkfifo(fifo)

    def write_late():
        # The case under test: capdb waits on the FIFO for a writer that
        # comes 0.5 s late (the delay is the scenario, not a wait for capdb).
        time.sleep(0.5)
        f = open_fifo_for_writing(fifo)
        if f:
            try:
                with f:
                    for i in range(0, len(data), 4096):
                        f.write(data[i:i + 4096])
            except BrokenPipeError:
                pass

    t = threading.Thread(target=write_late)
    t.start()
    try:
        runner.ingest("fifo (late writer)", fifo, 0, len(expected), again=False)
    finally:
        t.join()


def test_fifo_writer_closes_at_once(runner, tmp):
    # A writer that connects as soon as capdb reads the FIFO and closes
    # without writing: an empty input.
    fifo = os.path.join(tmp, "empty-writer.fifo")
    os.mkfifo(fifo)

    def write_nothing():
        f = open_fifo_for_writing(fifo)
        if f:
            f.close()

    t = threading.Thread(target=write_nothing)
    t.start()
    try:
        runner.ingest("fifo (writer closes at once)", fifo, 3, None, message="empty")
    finally:
        t.join()


def test_several_files(runner, tmp):
    # The good ones are stored; the exit code is the first error's.
    multi = os.path.join(tmp, "multi.db")
    rc, _, err, _, _ = runner.run(["ingest", "--db", multi, os.path.join(HOSTILE, "header_only.bin"),
                                   os.path.join(HOSTILE, "truncated_record.bin"),
                                   os.path.join(HOSTILE, "empty.bin"),
                                   os.path.join(HOSTILE, "ts_after_2100.bin")], "several files")
    runner.ck.done()  # the time and memory limits
    rows = lib.capture_rows(multi)
    assert rc == 4 and [c["packets"] for c in rows] == [0, 3, 3], (
        "exit %d, capture packets %s; expected 4, [0, 3, 3]\n%s" % (rc, [c["packets"] for c in rows], err))


def test_unreadable_file(runner, as_nobody, nobody_tmp):
    # chmod 000 means nothing to root, so capdb runs as nobody.
    secret = os.path.join(nobody_tmp, "secret.pcap")
    lib.make_capture(secret, 10)
    os.chmod(secret, 0o000)
    runner.ingest("unreadable file (as nobody)", secret, 3, None, user=as_nobody,
                  db=os.path.join(nobody_tmp, "nobody.db"), message="Permission denied")
