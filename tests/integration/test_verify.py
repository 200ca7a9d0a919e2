"""Evidence integrity on the command line: damage is detected, never
printed, and `capdb verify` finds it.

A synthetic capture of 3,000 packets (IPv4 among 100 hosts, IPv6, ARP) is
ingested in blocks of 500. Then one stored structure at a time is damaged
with SQLite directly (a byte of a page blob, a block row's time range, a
posting list, a captures row's count), as a disk or a copy could: a query
that reads it fails (exit 6) naming the capture and the structure, verify
reports it (exit 6, one line per problem and a summary, also as JSON),
`query --skip-damaged` prints every other row and names what it skipped,
and ingesting the file again, or `prune --capture`, repairs it. `verify
--files` compares the original file's SHA-256. verify runs beside an
ingest that is still writing.
"""

import json
import os
import shutil
import sqlite3
import struct
import subprocess
import time

import capdb_testlib as lib

T0 = 1_600_000_000


def frame(i):
    def eth(ethertype, payload):
        return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + struct.pack(">H", ethertype) + payload
    if i % 29 == 0:
        return eth(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01" + bytes(20))
    a, b = 1 + i % 100, 1 + (i * 7) % 100
    udp = struct.pack(">HHHH", 1000 + i % 50, 53, 12, 0) + b"data"
    if i % 17 == 0:
        src = bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [a])
        dst = bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [b])
        return eth(0x86DD, struct.pack(">IHBB16s16s", 6 << 28, len(udp), 17, 64, src, dst) + udp)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, a]),
                     bytes([10, 0, 1, b]))
    return eth(0x0800, ip + udp)


def write_pcap(path, n, start=0):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        f.write(records(start, n))
    return path


def records(start, n):
    out = bytearray()
    for i in range(start, start + n):
        ns = i * 1_000_000
        data = frame(i)
        out += struct.pack("<IIII", T0 + ns // 10**9, ns % 10**9, len(data), len(data)) + data
    return bytes(out)


def ok(args):
    p = lib.run(args)
    assert p.returncode == 0, p
    return p


def sql(db, statement, args=()):
    con = sqlite3.connect(db)
    try:
        rows = con.execute(statement, args).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


def make_db(tmp, name="v.db"):
    pcap = write_pcap(os.path.join(tmp, "three.pcap"), 3000)
    db = os.path.join(tmp, name)
    ok(["ingest", "--db", db, "--batch", "500", pcap])
    return pcap, db


def query_lines(db, *extra):
    return ok(["query", "--db", db, "--format", "json"] + list(extra)).stdout.splitlines()


def damage_page(db, page_id):
    """Flips one bit in the middle of a page's zstd frame."""
    (blob,) = sql(db, "SELECT data FROM pages WHERE id=?", (page_id,))[0]
    blob = bytearray(blob)
    blob[len(blob) // 2] ^= 0x04
    sql(db, "UPDATE pages SET data=? WHERE id=?", (bytes(blob), page_id))


def verify(db, *extra):
    return lib.run(["verify", "--db", db] + list(extra))


def test_clean_database_verifies(tmp):
    pcap, db = make_db(tmp)
    v = verify(db)
    assert v.returncode == 0, v
    assert v.stdout.startswith("ok: 0 problems; checked 1 captures, 6 blocks, "), v
    j = verify(db, "--format", "json", "--files")
    assert j.returncode == 0, j
    summary = json.loads(j.stdout.splitlines()[-1])["summary"]
    assert summary["ok"] is True and summary["blocks"] == 6 and summary["files"] == 1, j
    assert summary["postings"] > 0 and summary["pages"] >= 12, j


def test_damaged_page(tmp):
    pcap, db = make_db(tmp)
    clean = query_lines(db)
    block, = sql(db, "SELECT id FROM blocks ORDER BY id LIMIT 1 OFFSET 2")[0]
    page_id = block * 256 + 1
    damage_page(db, page_id)
    q = lib.run(["query", "--db", db, "--format", "json"])
    assert q.returncode == 6, q
    assert q.stdout == "" or all(line in clean for line in q.stdout.splitlines())
    assert ("capture 1: page 1 of block %d (pages.id %d): its pages row does not match its checksum"
            % (block, page_id)) in q.stderr, q
    assert lib.run(["query", "--db", db, "--count", "--proto", "udp"]).returncode == 6
    v = verify(db)
    assert v.returncode == 6, v
    assert ("capture 1, pages, block %d page 1: pages.id %d does not match its checksum" % (block, page_id)
            in v.stdout.splitlines()), v
    assert v.stdout.splitlines()[-1].startswith("DAMAGED: 1 problem; "), v
    j = [json.loads(line) for line in verify(db, "--format", "json").stdout.splitlines()]
    assert j[0] == {"capture": 1, "table": "pages", "block": block, "page": 1,
                    "problem": "pages.id %d does not match its checksum" % page_id}, j
    assert j[-1]["summary"]["ok"] is False and j[-1]["summary"]["problems"] == 1
    # --skip-damaged: every other row, in order, and what was skipped.
    s = lib.run(["query", "--db", db, "--format", "json", "--skip-damaged"])
    assert s.returncode == 0, s
    got = s.stdout.splitlines()
    assert got == [line for line in clean if line in set(got)]
    # Page 1 of a block of 500 holds its last 244 packets.
    assert len(clean) - (500 - 256) == len(got), (len(clean), len(got))
    assert ("capdb: warning: skipped damaged capture 1: page 1 of block %d (pages.id %d)" % (block, page_id)
            in s.stderr), s
    assert "1 damaged structure skipped" in s.stderr, s


def test_damaged_block_row_postings_and_capture_row(tmp):
    pcap, db = make_db(tmp)
    shutil.copy(db, db + ".clean")
    sql(db, "UPDATE blocks SET ts_max = ts_max + 1 WHERE id = 2")
    q = lib.run(["query", "--db", db])
    assert q.returncode == 6 and "capture 1: block 2: its blocks row does not match its checksum" in q.stderr, q
    assert lib.run(["query", "--db", db, "--count"]).returncode == 6
    assert "capture 1, blocks, block 2: the row does not match its checksum" in verify(db).stdout

    shutil.copy(db + ".clean", db)
    sql(db, "UPDATE postings SET blocks = x'00' || blocks WHERE addr = x'0a000005'")
    q = lib.run(["query", "--db", db, "--host", "10.0.0.5"])
    assert q.returncode == 6 and "capture 1: posting list of 10.0.0.5 from block 1" in q.stderr, q
    assert lib.run(["query", "--db", db, "--host", "10.0.0.6"]).returncode == 0
    v = verify(db)
    assert v.returncode == 6 and "posting list of 10.0.0.5 from block 1 does not match its checksum" in v.stdout, v

    shutil.copy(db + ".clean", db)
    sql(db, "UPDATE captures SET packets = packets - 1 WHERE id = 1")
    c = lib.run(["captures", "--db", db])
    assert c.returncode == 6 and "capture 1: its captures row is damaged" in c.stderr, c
    v = verify(db)
    assert v.returncode == 6 and "capture 1, captures: the row does not match its checksum" in v.stdout, v


def test_reingest_heals_and_prune_removes(tmp):
    pcap, db = make_db(tmp)
    strip = [json.dumps({k: v for k, v in json.loads(line).items() if k != "capture"}) for line in query_lines(db)]
    block, = sql(db, "SELECT min(id) FROM blocks")[0]
    damage_page(db, block * 256)
    assert verify(db).returncode == 6
    r = ok(["ingest", "--db", db, pcap])
    assert "capture 1 of '%s' was damaged; removed, ingesting the file again" % pcap in r.stderr, r
    v = verify(db, "--files")
    assert v.returncode == 0, v
    healed = query_lines(db)
    assert all(json.loads(line)["capture"] == 2 for line in healed)
    assert [json.dumps({k: v for k, v in json.loads(line).items() if k != "capture"}) for line in healed] == strip
    # Ingesting an intact capture's file again is still a duplicate.
    r = ok(["ingest", "--db", db, pcap])
    assert "already ingested (capture 2)" in r.stderr, r
    # A damaged captures row heals the same way.
    sql(db, "UPDATE captures SET packets = packets + 1 WHERE id = 2")
    assert lib.run(["captures", "--db", db]).returncode == 6
    r = ok(["ingest", "--db", db, pcap])
    assert "capture 2 of '%s' was damaged; removed" % pcap in r.stderr, r
    assert verify(db).returncode == 0
    # prune --capture removes a damaged capture.
    damage_page(db, sql(db, "SELECT min(id) FROM blocks")[0][0] * 256 + 1)
    other = write_pcap(os.path.join(tmp, "other.pcap"), 600, start=5000)
    ok(["ingest", "--db", db, other])
    assert verify(db, "--capture", "4").returncode == 0
    assert verify(db, "--capture", "3").returncode == 6
    assert verify(db, "--capture", "9").returncode == 2
    ok(["prune", "--db", db, "--capture", "3"])
    assert verify(db).returncode == 0


def test_files_are_rehashed(tmp):
    pcap, db = make_db(tmp)
    assert verify(db, "--files").returncode == 0
    with open(pcap, "r+b") as f:
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 1]))
    v = verify(db, "--files")
    assert v.returncode == 6, v
    assert "capture 1, file: '%s' has SHA-256 " % pcap in v.stdout, v
    assert verify(db).returncode == 0, "without --files the original file is not read"
    os.remove(pcap)
    v = verify(db, "--files")
    assert v.returncode == 6 and "capture 1, file: " in v.stdout, v


def test_verify_beside_a_running_ingest(tmp):
    db = os.path.join(tmp, "live.db")
    ingest = subprocess.Popen([lib.capdb_path(), "ingest", "--db", db, "--batch", "100", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=lib.clean_env())
    try:
        ingest.stdin.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for part in range(6):
            ingest.stdin.write(records(part * 200, 200))
            ingest.stdin.flush()
            lib.wait_until(lambda: os.path.exists(db) and lib.run(["query", "--db", db, "--count"]).stdout.strip()
                           == str((part + 1) * 200), 30, "packets committed")
            v = verify(db)
            assert v.returncode == 0, v
        ingest.stdin.close()
        assert ingest.wait(timeout=60) == 0
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    assert verify(db).returncode == 0


def test_packet_store_segments(tmp):
    pcap = write_pcap(os.path.join(tmp, "three.pcap"), 3000)
    db = os.path.join(tmp, "store.db")
    ok(["ingest", "--db", db, "--batch", "500", "--copy", "--segment-size", "64k", pcap])
    v = verify(db)
    assert v.returncode == 0 and " 0 segments" not in v.stdout, v
    store = db + ".packets"
    first, second = sorted(os.listdir(store))[:2]
    # A record header's captured length damaged in one segment, the end of
    # another cut off.
    with open(os.path.join(store, first), "r+b") as f:
        f.seek(24 + 8)
        f.write(struct.pack("<I", 0xFFFFFF))
    with open(os.path.join(store, second), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(store, second)) - 10)
    v = verify(db)
    assert v.returncode == 6, v
    lines = v.stdout.splitlines()
    assert any("segments: '%s': packet " % os.path.join(store, first) in line for line in lines), v
    assert any("segments: segment '%s' holds" % os.path.join(store, second) in line for line in lines), v


def test_damaged_table_definition(tmp):
    """A definition SQLite still accepts (a column's type, a NOT NULL lost)
    changes no stored row, but verify reports it."""
    pcap, db = make_db(tmp)
    con = sqlite3.connect(db)
    con.execute("PRAGMA writable_schema=ON")
    con.execute("UPDATE sqlite_schema SET sql = replace(sql, 'last_ts INTEGER', 'last_ts INTEFER')"
                " WHERE name = 'captures'")
    con.commit()
    con.close()
    assert lib.run(["query", "--db", db, "--count"]).stdout.strip() == "3000"
    v = verify(db)
    assert v.returncode == 6, v
    assert "schema: unexpected: table captures column last_ts INTEFER notnull=0 default= pk=0" in v.stdout, v
