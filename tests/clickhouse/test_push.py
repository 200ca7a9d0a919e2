"""capdb push from a local SQLite database to ClickHouse, and concurrent
sensors: the pushed captures answer every query as the local database did
(byte for byte, packet numbers included), pushing again copies nothing,
--capture and --delete-after, and two sensors ingesting into one database
at once get distinct capture ids and lose nothing."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import capdb_testlib as lib  # noqa: E402

FILES = ["out_of_order.pcap", "two_if.pcapng", "eth_ipv4.pcap", "ipv6_ext.pcap", "truncated.pcap", "sll2.pcap"]


def paths():
    return [os.path.join(lib.testdata_dir(), f) for f in FILES]


def captures(db):
    r = lib.run(["captures", "--db", db, "--format", "json"])
    assert r.returncode == 0, r
    out = [json.loads(x) for x in r.stdout.splitlines()]
    for c in out:
        c.pop("started_at_ns")
        c.pop("sensor", None)
    return out


def ingest_local(db):
    for f in paths():
        r = lib.run(["ingest", "--db", db, f])
        assert r.returncode == lib.INGEST_EXIT.get(os.path.basename(f), 0), r
    # And one from standard input.
    with open(os.path.join(lib.testdata_dir(), "raw.pcap"), "rb") as f:
        assert lib.run(["ingest", "--db", db, "--no-packets", "-"], stdin_bytes=f.read()).returncode == 0


def test_push_then_again(clickhouse, tmp):
    db = os.path.join(tmp, "local.db")
    ingest_local(db)
    url = clickhouse.url("pushed")
    r = lib.run(["push", "--db", db, "--to", url, "--sensor", "s1"])
    assert r.returncode == 0, r
    n = len(FILES) + 1
    assert r.stdout.count("packets pushed") == n, r
    # Pushed into an empty database, the captures keep their ids.
    assert captures(url) == captures(db)
    for args in (["--format", "csv"], ["--format", "json"], ["--format", "long"], ["--count"],
                 ["--host", "192.0.2.1"], ["tcp or ip6"], ["--capture", "1", "--format", "csv"]):
        ra = lib.run(["query", "--db", db] + args)
        rb = lib.run(["query", "--db", url] + args)
        assert (ra.returncode, ra.stdout) == (rb.returncode, rb.stdout), args
    # Again: nothing copied.
    r = lib.run(["push", "--db", db, "--to", url])
    assert r.returncode == 0 and r.stdout.count("already there") == n, r
    assert captures(url) == captures(db)
    # --capture and --delete-after.
    r = lib.run(["push", "--db", db, "--to", url, "--capture", "2", "--delete-after"])
    assert r.returncode == 0 and "capture 2: already there (capture 2); deleted here" in r.stdout, r
    assert [c["id"] for c in captures(db)] == [c for c in range(1, n + 1) if c != 2]
    assert len(captures(url)) == n
    r = lib.run(["push", "--db", db, "--to", url, "--capture", "99"])
    assert r.returncode == lib.EXIT_USAGE, r
    r = lib.run(["push", "--db", db, "--to", os.path.join(tmp, "x.db")])
    assert r.returncode == lib.EXIT_USAGE, r


def test_push_after_a_local_prune_keeps_packet_numbers(clickhouse, tmp):
    db = os.path.join(tmp, "local.db")
    big = lib.make_udp_pcap(os.path.join(tmp, "u.pcap"), 3000, seed=5, max_payload=100)
    assert lib.run(["ingest", "--db", db, "--batch", "500", big]).returncode == 0
    rows = lib.parse_csv(lib.run(["query", "--db", db, "--format", "csv"]).stdout)[1]
    cut = int(rows[1200]["ts_ns"])
    r = lib.run(["prune", "--db", db, "--before", "%d.%09d" % divmod(cut, 10**9)])
    assert r.returncode == 0, r
    url = clickhouse.url("pruned")
    assert lib.run(["push", "--db", db, "--to", url]).returncode == 0
    want = lib.run(["query", "--db", db, "--format", "csv"]).stdout
    assert lib.run(["query", "--db", url, "--format", "csv"]).stdout == want
    assert captures(url) == captures(db)


def test_concurrent_sensors(clickhouse, tmp):
    url = clickhouse.url("concurrent")
    files = [lib.make_udp_pcap(os.path.join(tmp, "s%d.pcap" % i), 20000, seed=10 + i, max_payload=100)
             for i in range(2)]
    procs = [lib.start(["ingest", "--db", url, "--sensor", "sensor-%d" % i, "--batch", "1000", f])
             for i, f in enumerate(files)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    r = lib.run(["captures", "--db", url, "--format", "json"])
    caps = [json.loads(x) for x in r.stdout.splitlines()]
    ids = [c["id"] for c in caps]
    assert len(set(ids)) == 2 and all(i >= 1 for i in ids), ids
    assert sorted(c["sensor"] for c in caps) == ["sensor-0", "sensor-1"]
    assert all(c["state"] == "complete" and c["packets"] == 20000 for c in caps), caps
    assert lib.run(["query", "--db", url, "--count"]).stdout == "40000\n"
    # The same files again, from either sensor: nothing added.
    for i, f in enumerate(files):
        r = lib.run(["ingest", "--db", url, "--sensor", "sensor-%d" % (1 - i), f])
        assert r.returncode == 0 and "already ingested" in r.stderr, r
    assert lib.run(["query", "--db", url, "--count"]).stdout == "40000\n"


def test_many_sensors_create_the_schema_at_once(clickhouse, tmp):
    # The first ingests into a new database race to create its tables and to
    # record the schema version; every one of them must succeed, whichever wins.
    files = [lib.make_udp_pcap(os.path.join(tmp, "r%d.pcap" % i), 50, seed=100 + i) for i in range(6)]
    for round_ in range(int(os.environ.get("RACE_ROUNDS", "3"))):
        url = clickhouse.url("race%d" % round_)
        procs = [lib.start(["ingest", "--db", url, "--sensor", "s%d" % i, f]) for i, f in enumerate(files)]
        errors = []
        for p in procs:
            _, err = p.communicate(timeout=120)
            if p.returncode != 0:
                errors.append(err)
        assert errors == [], errors
        r = lib.run(["captures", "--db", url, "--format", "json"])
        assert r.returncode == 0, r
        caps = [json.loads(x) for x in r.stdout.splitlines()]
        assert sorted(c["source"] for c in caps) == sorted(files), caps
        assert len({c["id"] for c in caps}) == len(files), caps
        assert all(c["state"] == "complete" and c["packets"] == 50 for c in caps), caps
        assert lib.run(["query", "--db", url, "--count"]).stdout == "%d\n" % (50 * len(files))
