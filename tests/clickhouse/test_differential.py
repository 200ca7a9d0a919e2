"""The ClickHouse store against the SQLite store: the test captures ingested
into an SQLite database and into one ClickHouse server (and the 2-shard
cluster, when the store supports it) by the same commands; then captures,
hundreds of random queries (flags, tcpdump expressions from
tests/integration/test_expressions.py's generator, every --format, --count,
--limit, time bounds, --capture), stats, flows, query -w and prune --capture must give
the same exit status and byte-identical output.

Seed and number of queries: CAPDB_SEED and CAPDB_QUERIES.
"""

import json
import os
import random
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import capdb_testlib as lib  # noqa: E402
import test_expressions as texpr  # noqa: E402

SEED = int(os.environ.get("CAPDB_SEED", "14"))
QUERIES = int(os.environ.get("CAPDB_QUERIES", "300"))

# Differs by nature between two ingests of the same files: when each began.
CAPTURE_JSON_WALL_CLOCK = ("started_at_ns",)
# Only ClickHouse's captures name their sensor.
CAPTURE_JSON_CLICKHOUSE_ONLY = ("sensor",)


def ingest_all(db, files, extra=()):
    """Ingests files one command each, in order; their exit codes."""
    codes = []
    for f in files:
        r = lib.run(["ingest", "--db", db] + list(extra) + [f], timeout=300)
        assert r.returncode in (0, lib.EXIT_DAMAGED, lib.EXIT_UNSUPPORTED), r
        codes.append(r.returncode)
    return codes


class Pair:
    """The same captures in SQLite (a) and ClickHouse (b)."""

    def __init__(self, sqlite_db, ch_url, files):
        self.a, self.b = sqlite_db, ch_url
        self.files = files
        self.codes_a = ingest_all(self.a, files)
        self.codes_b = ingest_all(self.b, files)
        r = lib.run(["query", "--db", self.a, "--format", "csv"])
        rows = texpr.rows_of(r.stdout)
        # What Generator draws from (test_expressions.Corpus's attributes).
        self.addresses = sorted({row[k] for row in rows for k in ("src", "dst") if row[k]})
        self.ports = sorted({int(row[k]) for row in rows for k in ("sport", "dport") if row[k]})
        self.lengths = sorted({int(row["wirelen"]) for row in rows})
        self.times = sorted({int(row["ts_ns"]) for row in rows})
        self.capture_ids = sorted({int(row["capture"]) for row in rows})

    def both(self, args, **kw):
        ra = lib.run([args[0], "--db", self.a] + args[1:], **kw)
        rb = lib.run([args[0], "--db", self.b] + args[1:], **kw)
        return ra, rb


def same(ra, rb):
    """None when both runs agree byte for byte, else what differs."""
    if ra.returncode == rb.returncode and ra.stdout == rb.stdout:
        return None
    return "exit %d vs %d\n--- sqlite ---\n%s\n--- clickhouse ---\n%s" % (
        ra.returncode, rb.returncode, ra.stdout[:1500] + ra.stderr[:500], rb.stdout[:1500] + rb.stderr[:500])


def random_query(rng, gen, pair):
    """Arguments of one random `capdb query`."""
    args = ["query"]
    if rng.random() < 0.3:
        args += ["--host", gen.address()]
    if rng.random() < 0.15:
        args += [rng.choice(["--src", "--dst"]), gen.address()]
    if rng.random() < 0.15:
        args += [rng.choice(["--port", "--sport", "--dport"]), str(gen.port())]
    if rng.random() < 0.15:
        args += ["--proto", rng.choice(["tcp", "udp", "icmp", "icmp6", "arp", "sctp", "17"])]
    if rng.random() < 0.2:
        t = rng.choice(pair.times)
        args += ["--from", "%d.%09d" % divmod(t, 10**9)]
    if rng.random() < 0.2:
        t = rng.choice(pair.times)
        args += ["--to", "%d.%09d" % divmod(t, 10**9)]
    if rng.random() < 0.2:
        args += ["--capture", str(rng.choice(pair.capture_ids))]
    if rng.random() < 0.2:
        args += ["--limit", str(rng.choice([0, 1, 5, 50]))]
    r = rng.random()
    if r < 0.2:
        args += ["--count"]
    else:
        args += ["--format", rng.choice(["line", "long", "json", "csv"])]
    if rng.random() < 0.6:
        args += [gen.expr()]
    return args


@pytest.fixture(scope="module")
def pair(clickhouse, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("ch-diff"))
    files = lib.capture_files()
    return Pair(os.path.join(tmp, "a.db"), clickhouse.url("diff"), files)


def test_ingest_exit_codes_agree(pair):
    assert pair.codes_a == pair.codes_b


def test_captures_agree(pair):
    ra, rb = pair.both(["captures", "--format", "json"])
    assert ra.returncode == rb.returncode == 0, (ra, rb)
    a = [json.loads(line) for line in ra.stdout.splitlines()]
    b = [json.loads(line) for line in rb.stdout.splitlines()]
    assert len(a) == len(b) > 10
    for x in a + b:
        for k in CAPTURE_JSON_WALL_CLOCK + CAPTURE_JSON_CLICKHOUSE_ONLY:
            x.pop(k, None)
    assert a == b
    ra, rb = pair.both(["captures"])
    assert same(ra, rb) is None, same(ra, rb)


def test_random_queries_agree(pair):
    rng = random.Random(SEED)
    gen = texpr.Generator(rng, pair)
    failures = []
    for i in range(QUERIES):
        args = random_query(rng, gen, pair)
        ra, rb = pair.both(args)
        diff = same(ra, rb)
        if diff:
            failures.append("query %d: %s\n%s" % (i, args, diff))
    assert not failures, "%d of %d queries differ (seed %d):\n%s" % (
        len(failures), QUERIES, SEED, "\n\n".join(failures[:5]))


def test_query_write_agrees(pair, tmp_path):
    """query -w reads the packets from the original files: the same bytes,
    or the same failure (exit status), from both stores."""
    written = 0
    for args in (["--proto", "udp"], ["--host", pair.addresses[0]], ["tcp or icmp6"], ["--capture", "1"], []):
        outs = []
        for db in (pair.a, pair.b):
            out = str(tmp_path / ("o%d.pcapng" % len(outs)))
            r = lib.run(["query", "--db", db, "-w", out, "--write-format", "pcapng"] + args)
            data = b""
            if r.returncode == 0:
                with open(out, "rb") as f:
                    data = f.read()
                written += 1
            outs.append((r.returncode, data))
        assert outs[0] == outs[1], args
    assert written >= 2


def test_prune_capture_agrees(pair):
    victim = pair.capture_ids[len(pair.capture_ids) // 2]
    for dry in (["--dry-run"], []):
        ra, rb = pair.both(["prune", "--capture", str(victim)] + dry)
        assert ra.returncode == rb.returncode == 0, (ra, rb)
        # The size lines measure two different databases.
        keep = [line for line in ra.stdout.splitlines() if not line.startswith("size ")]
        assert keep == [line for line in rb.stdout.splitlines() if not line.startswith("size ")]
    for args in (["captures", "--format", "json"], ["query", "--format", "csv"], ["query", "--count"],
                 ["query", "--capture", str(victim)]):
        ra, rb = pair.both(args)
        if args[0] == "captures":
            a = [json.loads(x) for x in ra.stdout.splitlines()]
            b = [json.loads(x) for x in rb.stdout.splitlines()]
            for x in a + b:
                for k in CAPTURE_JSON_WALL_CLOCK + CAPTURE_JSON_CLICKHOUSE_ONLY:
                    x.pop(k, None)
            assert a == b
        else:
            assert same(ra, rb) is None, same(ra, rb)


def test_stats_and_flows_agree(pair):
    """stats and flows aggregate over Store::scan: the same report."""
    host = pair.addresses[len(pair.addresses) // 2]
    for args in (["stats", "--plain", "--width", "100"], ["stats", "--format", "json", "--host", host],
                 ["stats", "--format", "json", "tcp or udp", "--interval", "1s", "--no-top"],
                 ["flows"], ["flows", "--proto", "udp", "--format", "csv"], ["flows", "--format", "json", "--sort", "packets"]):
        ra, rb = pair.both(args)
        assert same(ra, rb) is None, "%s\n%s" % (args, same(ra, rb))
