"""Crash consistency: `capdb ingest` killed with SIGKILL at random points.

A synthetic capture of 200,000 packets is ingested with --batch 2000 (100
commits) and the process is killed at >= 20 random moments. After each kill:

  * PRAGMA integrity_check is ok;
  * a capture committed earlier (testdata/eth_ipv4.pcap) is intact: same
    rows, byte for byte, in `capdb query --format csv`;
  * the killed capture, if its row exists, holds an exact prefix of the
    file: packet numbers 1..N without gaps or duplicates, each with the
    file's timestamp, lengths and offset; N is a whole number of batches
    (or the whole file); the captures row, the blocks table and
    `capdb query --count` agree on N;
  * running the same `capdb ingest` again (itself killed again in some
    rounds) completes the file: one capture of that source, complete,
    with exactly the file's packets.

bench/crash_many.py runs the same rounds hundreds of times, through main().
Run by hand, main() takes --kills N --packets N --batch N --seed S and
exits 0 when all pass, 1 otherwise; under pytest, test_sigkill runs the
default rounds (the seed from CAPDB_SEED, else a random one it prints).
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402


class Scenario:
    """One capture file, one reference database, and the checks."""

    def __init__(self, workdir, packets, batch, seed):
        self.dir = workdir
        self.batch = batch
        self.capture = os.path.join(workdir, "big.pcap")
        t = time.monotonic()
        self.expected = lib.make_capture(self.capture, packets, seed=seed)
        self.gen_seconds = time.monotonic() - t
        # A database holding one earlier, committed capture.
        self.base_db = os.path.join(workdir, "base.db")
        ref = os.path.join(lib.testdata_dir(), "eth_ipv4.pcap")
        r = lib.run(["ingest", "--db", self.base_db, ref])
        assert r.returncode == 0, "cannot build the reference database:\n%s" % r
        self.ref_id = lib.capture_rows(self.base_db)[0]["id"]
        self.with_reference = True
        self.ref_csv = self.query_csv(self.base_db, self.ref_id)
        # How long a whole ingest takes, for choosing kill moments.
        scratch = os.path.join(workdir, "timing.db")
        shutil.copy(self.base_db, scratch)
        t = time.monotonic()
        r = lib.run(self.ingest_args(scratch), timeout=600)
        self.ingest_seconds = time.monotonic() - t
        assert r.returncode == 0, "uninterrupted ingest failed:\n%s" % r
        self.check_complete(scratch)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(scratch + suffix):
                os.unlink(scratch + suffix)

    def ingest_args(self, db):
        return ["ingest", "--db", db, "--batch", str(self.batch), self.capture]

    def query_csv(self, db, capture_id):
        r = lib.run(["query", "--db", db, "--capture", capture_id, "--format", "csv"], timeout=300)
        assert r.returncode == 0, "query failed:\n%s" % r
        return r.stdout

    def source_rows(self, db):
        """The capture rows of the big capture (not of the reference)."""
        return [c for c in lib.capture_rows(db) if c["source"] == os.path.realpath(self.capture)]

    # --- checks ---------------------------------------------------------

    def check_after_kill(self, db):
        """Returns the number of packets of the killed capture that are committed."""
        if not os.path.exists(db) or os.path.getsize(db) == 0:
            return 0  # killed before the database had a schema
        if os.path.exists(db + "-journal") and os.path.getsize(db + "-journal") > 0:
            # Killed while creating the database, before it was in WAL mode:
            # a hot rollback journal, which only a writer (the next ingest)
            # may roll back. A WAL database never has one.
            assert not self.with_reference, "a rollback journal beside a WAL database"
            return 0
        res = lib.integrity(db)
        assert res == ["ok"], "integrity_check after SIGKILL: %s" % res[:5]
        if not lib.has_schema(db):
            # Killed while creating the database: the schema transaction
            # never committed; the next ingest creates it.
            assert not self.with_reference, "the schema of an existing database disappeared"
            return 0
        rows = lib.capture_rows(db)
        if self.with_reference:
            assert any(c["id"] == self.ref_id for c in rows), "the earlier capture disappeared"
            assert self.query_csv(db, self.ref_id) == self.ref_csv, "the earlier capture's packets changed"
        assert all(c["id"] == self.ref_id or c["source"] == os.path.realpath(self.capture) for c in rows), (
            "unexpected capture rows")
        mine = self.source_rows(db)
        assert len(mine) <= 1, "%d capture rows for one source after a kill" % len(mine)
        if not mine:
            return 0
        c = mine[0]
        n = c["packets"]
        assert c["state"] in ("running", "complete"), "state after SIGKILL: %s" % c["state"]
        if c["state"] == "complete":
            assert n == len(self.expected), "complete capture holds %d of %d packets" % (n, len(self.expected))
            assert c["sha256"], "complete capture without its SHA-256"
        else:
            assert c["sha256"] is None, "unfinished capture has an identity"
            assert n % self.batch == 0, ("committed %d packets: not a whole number of batches of %d"
                   % (n, self.batch))
        self.check_prefix(db, c, n)
        return n if c["state"] == "running" else len(self.expected) + 1

    def check_prefix(self, db, c, n):
        assert lib.stored_block_packets(db, c["id"]) == n, (
            "blocks hold %d packets, the captures row says %d" % (lib.stored_block_packets(db, c["id"]), n))
        r = lib.run(["captures", "--db", db])
        listed = [line.split() for line in r.stdout.splitlines()[1:]]
        mine = [f for f in listed if f and f[0] == str(c["id"])]
        assert r.returncode == 0 and len(mine) == 1 and mine[0][2] == str(n), (
            "capdb captures does not list capture %d with %d packets\n%s" % (c["id"], n, r))
        # The killed writer is gone: an unfinished capture is not shown as running.
        assert mine[0][1] == ("complete" if c["state"] == "complete" else "failed"), (
            "capdb captures shows capture %d as %s after its writer was killed\n%s" % (c["id"], mine[0][1], r))
        r = lib.run(["query", "--db", db, "--capture", c["id"], "--count"])
        assert r.returncode == 0 and r.stdout.strip() == str(n), (
            "query --count says %r, the captures row %d\n%s" % (r.stdout.strip(), n, r))
        _, rows = lib.parse_csv(self.query_csv(db, c["id"]))
        assert len(rows) == n, "query returned %d rows, the captures row says %d" % (len(rows), n)
        numbers = sorted(int(r["packet"]) for r in rows)
        assert numbers == list(range(1, n + 1)), "packet numbers are not 1..%d (gap or duplicate)" % n
        for r in rows:
            k = int(r["packet"]) - 1
            ts, caplen, wire, offset = self.expected[k]
            got = (int(r["ts_ns"]), int(r["caplen"]), int(r["wirelen"]), int(r["offset"]))
            assert got == (ts, caplen, wire, offset), (
                "packet %d stored as %s, file has %s" % (k + 1, got, (ts, caplen, wire, offset)))
        if n:
            assert c["first_ts"] == self.expected[0][0], "first_ts of the capture row"
            assert c["last_ts"] == self.expected[n - 1][0], "last_ts of the capture row"

    def check_complete(self, db):
        mine = self.source_rows(db)
        assert len(mine) == 1, "%d capture rows for the file after a complete ingest" % len(mine)
        c = mine[0]
        assert c["state"] == "complete", "state after the rerun: %s" % c["state"]
        assert c["packets"] == len(self.expected), "rerun left %d of %d packets" % (c["packets"], len(self.expected))
        self.check_prefix(db, c, len(self.expected))
        assert lib.integrity(db) == ["ok"], "integrity_check after the rerun"

    # --- one round --------------------------------------------------------

    def kill_during_ingest(self, db, delay):
        """Starts an ingest, SIGKILLs it after delay seconds. Returns True if
        the kill hit a running process."""
        p = subprocess.Popen([lib.capdb_path()] + [str(a) for a in self.ingest_args(db)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=lib.clean_env())
        try:
            p.wait(timeout=delay)
            hit = False
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            hit = True
        err = p.stderr.read().decode("utf-8", "replace")
        p.stderr.close()
        if not hit:
            assert p.returncode == 0, "ingest exited %d before the kill:\n%s" % (p.returncode, err)
        return hit

    def round(self, db, rng, from_scratch, extra_kills):
        """Kill, check, (kill the rerun, check)*, rerun to completion, check.
        Returns a list of (hit, committed packets) per kill."""
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
        self.with_reference = not from_scratch
        if not from_scratch:
            shutil.copy(self.base_db, db)
        out = []
        for k in range(1 + extra_kills):
            # Mostly inside the ingest; from scratch, also inside database creation.
            span = self.ingest_seconds * 1.05
            delay = rng.uniform(0, 0.05) if from_scratch and k == 0 and rng.random() < 0.5 else rng.uniform(0, span)
            hit = self.kill_during_ingest(db, delay)
            n = self.check_after_kill(db)
            out.append((hit, n, delay))
        r = lib.run(self.ingest_args(db), timeout=600)
        assert r.returncode == 0, "rerun after the kill failed:\n%s" % r
        self.check_complete(db)
        return out


def kill_rounds(tmp, kills=24, packets=200_000, batch=2000, seed=None):
    """Kills ingests until `kills` kills have been checked; returns the
    failures (at most 3 failed rounds, then it stops)."""
    seed = seed if seed is not None else random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    print("seed %d (rerun with --seed %d, or CAPDB_SEED=%d)" % (seed, seed, seed))
    try:
        sc = Scenario(tmp, packets, batch, seed)
    except AssertionError as e:
        print("FAIL: setup: %s" % e)
        return ["setup: %s" % e]
    print("capture: %d packets, %.1f MB; full ingest %.2f s" % (
        packets, os.path.getsize(sc.capture) / 1e6, sc.ingest_seconds))
    db = os.path.join(tmp, "killed.db")
    done = hits = 0
    failures = []
    committed = []
    rnd = 0
    while done < kills:
        rnd += 1
        from_scratch = rnd % 6 == 0
        extra = rng.choice([0, 0, 1, 2])
        try:
            res = sc.round(db, rng, from_scratch, extra)
        except AssertionError as e:
            failures.append("round %d (%s): %s" % (rnd, "new database" if from_scratch else "existing database", e))
            print("FAIL: " + failures[-1])
            keep = os.path.join(tmp, "failed-round-%d.db" % rnd)
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    shutil.copy(db + suffix, keep + suffix)
            if len(failures) >= 3:
                break
            continue
        for hit, n, delay in res:
            done += 1
            hits += hit
            committed.append(n)
            state = ("%d packets committed" % n if n <= packets else "already complete") if hit else "finished first"
            print("kill %3d at %.3f s: %s" % (done, delay, state))
    mid = sum(1 for n in committed if 0 < n <= packets)
    deciles = [0] * 10
    for n in committed:
        if 0 < n <= packets:
            deciles[min(9, n * 10 // packets)] += 1
    print("partial captures by committed share of the file (0-10%%, ..., 90-100%%): %s" % deciles)
    print("%d kills (%d hit a running ingest, %d left a partial capture), %d failed rounds"
          % (done, hits, mid, len(failures)))
    if failures and os.environ.get("CAPDB_KEEP_TMP") is None:
        print("(set CAPDB_KEEP_TMP=1 to keep the failing databases)")
    if not failures and mid < kills // 3:
        failures.append("only %d kills landed mid-ingest; the capture is too small for this machine" % mid)
        print("FAIL: " + failures[-1])
    return failures


def env_seed():
    return int(os.environ.get("CAPDB_SEED", "0")) or None


def test_sigkill(capdb, tmp):
    failures = kill_rounds(tmp, seed=env_seed())
    assert not failures, "\n".join(failures)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=24)
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=env_seed())
    ap.add_argument("--workdir", help="directory for the capture and databases (default: a temporary one)")
    a = ap.parse_args(argv)
    lib.capdb_path()
    with lib.TempDir(a.workdir) as tmp:
        failures = kill_rounds(tmp, a.kills, a.packets, a.batch, a.seed)
    print("FAIL" if failures else "PASS")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
