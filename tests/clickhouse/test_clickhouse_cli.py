"""The ClickHouse store's command line and faults: URL checks, an
unreachable server (exit 6, nothing written locally), a missing database,
a newer schema, authentication (the password never printed), --timeout
against a server that never answers, sensors and identity by SHA-256,
hostile strings in filters and sensor names, and a server killed
mid-ingest, then the file ingested again: no duplicate or missing rows."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import capdb_testlib as lib  # noqa: E402
import clickhouse_fixture as chf  # noqa: E402

SAMPLE = "eth_ipv4.pcap"


def sample():
    return os.path.join(lib.testdata_dir(), SAMPLE)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_server_writes_nothing_locally(tmp):
    url = "clickhouse://127.0.0.1:%d/capdb" % closed_port()
    for args in (["ingest", "--db", url, sample()], ["query", "--db", url], ["captures", "--db", url],
                 ["prune", "--db", url, "--capture", "1"]):
        r = lib.run(args, cwd=tmp)
        assert r.returncode == lib.EXIT_DATABASE, r
        assert url in r.stderr and "cannot reach" in r.stderr, r
    # Through CAPDB_DB as well.
    r = lib.run(["ingest", sample()], cwd=tmp, env=lib.clean_env(CAPDB_DB=url))
    assert r.returncode == lib.EXIT_DATABASE and url in r.stderr, r
    assert os.listdir(tmp) == []


def test_malformed_urls_are_usage_errors(tmp):
    for url in ("clickhouse://127.0.0.1/capdb", "clickhouse://127.0.0.1:8123/", "clickhouse://127.0.0.1:99999/x",
                "clickhouse://127.0.0.1:8123/x';DROP TABLE y;--", "clickhouse://u:pw@127.0.0.1:8123/x",
                "clickhouse://127.0.0.1:8123/x?cluster=a'b", "clickhouse://127.0.0.1:8123/x?user=a"):
        r = lib.run(["query", "--db", url], cwd=tmp)
        assert r.returncode == lib.EXIT_USAGE, r
        assert "pw" not in r.stderr.replace(url, "") and "clickhouse://" in r.stderr, r
    assert os.listdir(tmp) == []


def test_missing_database_and_newer_schema(clickhouse):
    r = lib.run(["query", "--db", clickhouse.url("nothing_here")])
    assert r.returncode == lib.EXIT_DATABASE and "no capdb database" in r.stderr, r
    url = clickhouse.url("newer")
    assert lib.run(["ingest", "--db", url, sample()]).returncode == 0
    assert lib.run(["query", "--db", url, "--count"]).stdout == "21\n"
    clickhouse.sql("INSERT INTO newer.schema_version VALUES (99)")
    for args in (["query", "--db", url], ["ingest", "--db", url, sample()], ["captures", "--db", url]):
        r = lib.run(args)
        assert r.returncode == lib.EXIT_DATABASE, r
        assert "schema 99, newer than this capdb's 1" in r.stderr and url in r.stderr, r


def test_authentication(clickhouse):
    url = clickhouse.url("authdb", user="capdb")
    wrong = "not-the-Pa55word"
    r = lib.run(["ingest", "--db", url, sample()], env=lib.clean_env(CAPDB_CLICKHOUSE_PASSWORD=wrong))
    assert r.returncode == lib.EXIT_DATABASE, r
    assert "authentication failed for user 'capdb'" in r.stderr and "CAPDB_CLICKHOUSE_PASSWORD" in r.stderr, r
    assert wrong not in r.stdout + r.stderr
    r = lib.run(["ingest", "--db", url, sample()], env=lib.clean_env(CAPDB_CLICKHOUSE_PASSWORD=None))
    assert r.returncode == lib.EXIT_DATABASE and "authentication failed" in r.stderr, r
    good = lib.clean_env(CAPDB_CLICKHOUSE_PASSWORD=chf.PASSWORD)
    r = lib.run(["ingest", "--db", url, sample()], env=good)
    assert r.returncode == 0, r
    assert chf.PASSWORD not in r.stdout + r.stderr
    r = lib.run(["query", "--db", url, "--count"], env=good)
    assert r.stdout == "21\n", r


def test_timeout_against_a_silent_server():
    # A listening socket that accepts (the kernel's backlog) and never answers.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        url = "clickhouse://127.0.0.1:%d/capdb" % s.getsockname()[1]
        t0 = time.monotonic()
        r = lib.run(["query", "--db", url, "--timeout", "0.5"], timeout=60)
        took = time.monotonic() - t0
        assert r.returncode == lib.EXIT_DATABASE, r
        assert "no answer within 500 ms (see --timeout)" in r.stderr, r
        assert took < 20
        r = lib.run(["query", "--db", url, "--timeout", "0"])
        assert r.returncode == lib.EXIT_USAGE, r
    finally:
        s.close()


HOSTILE = ["x'); DROP TABLE packets; --", "\\' OR 1=1 --", "\x1b[31mred", "a\nb", "${jndi:x}", "日本",
           "'", '"', "\\", "%27", "1.2.3.4' OR '1'='1"]


def test_sensors_and_identity_by_sha256(clickhouse, tmp):
    url = clickhouse.url("sensors")
    name = HOSTILE[0]
    r = lib.run(["ingest", "--db", url, "--sensor", name, sample()])
    assert r.returncode == 0, r
    # The same file again, from another sensor: the same capture.
    r = lib.run(["ingest", "--db", url, "--sensor", "other", sample()])
    assert r.returncode == 0 and "already ingested (capture 1)" in r.stderr, r
    caps = [json.loads(x) for x in lib.run(["captures", "--db", url, "--format", "json"]).stdout.splitlines()]
    assert len(caps) == 1 and caps[0]["sensor"] == name and caps[0]["packets"] == 21, caps
    assert "sensor " + name in lib.run(["captures", "--db", url, "--long"]).stdout
    # Default: the host name.
    other = os.path.join(lib.testdata_dir(), "ipv6only.pcap")
    assert lib.run(["ingest", "--db", url, other]).returncode == 0
    caps = [json.loads(x) for x in lib.run(["captures", "--db", url, "--format", "json"]).stdout.splitlines()]
    assert caps[1]["sensor"] == socket.gethostname()
    # Every hostile name is stored and shown as given (printable), tables intact.
    for i, bad in enumerate(HOSTILE[1:]):
        path = os.path.join(tmp, "h%d.pcap" % i)
        lib.make_udp_pcap(path, 3, seed=i)
        r = lib.run(["ingest", "--db", url, "--sensor", bad, path])
        assert r.returncode == 0, r
    caps = [json.loads(x) for x in lib.run(["captures", "--db", url, "--format", "json"]).stdout.splitlines()]
    assert len(caps) == 2 + len(HOSTILE) - 1
    assert lib.run(["query", "--db", url, "--count"]).stdout == "%d\n" % (21 + caps[1]["packets"] + 3 * (len(HOSTILE) - 1))


def test_hostile_filters_match_sqlite(clickhouse, tmp):
    url = clickhouse.url("hostile")
    db = os.path.join(tmp, "h.db")
    for target in (url, db):
        assert lib.run(["ingest", "--db", target, sample()]).returncode == 0
    for bad in HOSTILE:
        for args in (["--host", bad], ["--src", bad], ["--port", bad], ["--proto", bad], ["--from", bad],
                     ["--capture", bad], ["--limit", bad], [bad], ["host", bad], ["port 80 or " + bad]):
            ra = lib.run(["query", "--db", db] + args)
            rb = lib.run(["query", "--db", url] + args)
            assert (ra.returncode, ra.stdout, ra.stderr.replace(db, "DB")) == \
                (rb.returncode, rb.stdout, rb.stderr.replace(url, "DB")), args
    assert lib.run(["query", "--db", url, "--count"]).stdout == "21\n"


def test_server_killed_mid_ingest_then_reingest(clickhouse, tmp):
    big = lib.make_udp_pcap(os.path.join(tmp, "big.pcap"), 60000, seed=3, max_payload=200)
    url = clickhouse.url("killed")
    p = lib.start(["ingest", "--db", url, "--batch", "2000", big])
    # Once some commits are in, the server dies.
    committed = "SELECT sum(rows) FROM system.parts WHERE database = 'killed' AND table = 'packets' AND active"
    lib.wait_until(lambda: int(clickhouse.sql(committed)) > 0, 60, "a first commit")
    assert p.poll() is None, "the ingest ended before the server was killed"

    clickhouse.kill()
    out, err = p.communicate(timeout=120)
    assert p.returncode == lib.EXIT_DATABASE, err
    assert url in err and "ingesting the file again replaces it" in err, err
    clickhouse.restart()
    r = lib.run(["ingest", "--db", url, big], timeout=300)
    assert r.returncode == 0, r
    db = os.path.join(tmp, "k.db")
    assert lib.run(["ingest", "--db", db, big], timeout=300).returncode == 0
    want = lib.run(["query", "--db", db, "--format", "csv"]).stdout
    have = lib.run(["query", "--db", url, "--format", "csv"]).stdout
    _, rows = lib.parse_csv(have)
    assert len(rows) == 60000
    # One capture, each packet once; the same rows as SQLite's but for the capture id.
    assert len({(r["capture"], r["packet"]) for r in rows}) == 60000
    caps = [json.loads(x) for x in lib.run(["captures", "--db", url, "--format", "json"]).stdout.splitlines()]
    assert [c["state"] for c in caps] == ["complete"] and caps[0]["packets"] == 60000, caps
    strip = lambda text: [line.split(",", 3)[:2] + line.split(",", 3)[3:] for line in text.splitlines()]  # noqa: E731
    assert strip(have) == strip(want)
