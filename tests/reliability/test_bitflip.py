"""Bit flips in a checkpointed database: a damaged database is detected,
never silently wrong.

One random bit at a time is flipped (past SQLite's 100-byte header) in a
fresh copy of a database of one synthetic capture, and each copy is asked
`capdb query --format json` (compared with the clean database's output) and
`capdb verify`. SQLite's view of capdb's tables (every row of every table,
read with Python's sqlite3) says which tables a flip changed.

Targets: at most 1 % of flips give different output with exit 0; every flip
that changes a page blob, a block row or a posting list is detected (the
query fails, or for a posting list, which a full query does not read,
verify reports it); verify reports at least 99 % of the flips that change
any row of capdb's tables.

CAPDB_SEED=N and CAPDB_FLIPS=N repeat or extend a run (defaults: seed 16,
600 flips).
"""

import os
import random
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402

SEED = int(os.environ.get("CAPDB_SEED", "16"))
FLIPS = int(os.environ.get("CAPDB_FLIPS", "600"))
TABLES = ("captures", "blocks", "pages", "postings", "interfaces", "segments", "high_water", "sqlite_schema")


def dump(db):
    """Every row of capdb's tables, per table; None for a table SQLite cannot read."""
    out = {}
    con = sqlite3.connect("file:%s?mode=ro&immutable=1" % db, uri=True)
    con.text_factory = bytes  # a flip may leave text that is not UTF-8
    try:
        for t in TABLES:
            try:
                out[t] = con.execute("SELECT * FROM %s" % t).fetchall()
                out[t].sort(key=repr)
            except (sqlite3.DatabaseError, ValueError):
                out[t] = None
    except sqlite3.DatabaseError:
        return {t: None for t in TABLES}
    finally:
        con.close()
    return out


def build(tmp):
    pcap = os.path.join(tmp, "flip.pcap")
    lib.make_capture(pcap, 8000, seed=SEED)
    db = os.path.join(tmp, "clean.db")
    # Several blocks, one posting segment per capture.
    r = lib.run(["ingest", "--db", db, "--batch", "2000", pcap])
    assert r.returncode == 0, r
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()
    return db


def test_bit_flips(tmp):
    clean = build(tmp)
    with open(clean, "rb") as f:
        image = f.read()
    base = lib.run(["query", "--db", clean, "--format", "json"])
    assert base.returncode == 0, base
    assert lib.run(["verify", "--db", clean]).returncode == 0
    clean_dump = dump(clean)

    rng = random.Random(SEED)
    flipped = os.path.join(tmp, "flipped.db")
    silent, unchanged, errors = [], 0, 0
    changed_used, verify_missed, structure_missed = 0, [], []
    for i in range(FLIPS):
        offset = rng.randrange(100, len(image))
        bit = rng.randrange(8)
        data = bytearray(image)
        data[offset] ^= 1 << bit
        with open(flipped, "wb") as f:
            f.write(data)
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.exists(flipped + suffix):
                os.remove(flipped + suffix)
        what = "flip %d: byte %d bit %d" % (i, offset, bit)
        changed = [t for t, rows in dump(flipped).items() if rows != clean_dump[t]]
        q = lib.run(["query", "--db", flipped, "--format", "json"], timeout=60)
        assert q.returncode in (0, 6), "%s: query exit %d\n%s" % (what, q.returncode, q)
        if q.returncode == 0 and q.stdout == base.stdout:
            unchanged += 1
        elif q.returncode == 0:
            silent.append("%s (tables changed: %s)" % (what, changed))
        else:
            errors += 1
            assert q.stderr.startswith("capdb: error: "), q
        if changed:
            changed_used += 1
            v = lib.run(["verify", "--db", flipped], timeout=60)
            assert v.returncode in (0, 6), "%s: verify exit %d\n%s" % (what, v.returncode, v)
            if v.returncode == 0:
                verify_missed.append("%s (tables changed: %s)" % (what, changed))
            # A changed page blob or block row fails the query (which reads
            # them all), but for a block's aggregates, which stats reads: a
            # change there fails stats and verify; a changed posting list
            # fails verify.
            # A flip in the pages b-tree can also leave a phantom row that
            # no block names (the query never reads it, so its answer is
            # unchanged): verify must report it.
            if "pages" in changed and q.returncode == 0 and (q.stdout != base.stdout or v.returncode != 6):
                structure_missed.append("%s: query exit 0, verify exit %d (tables changed: %s)"
                                        % (what, v.returncode, changed))
            if "blocks" in changed and q.returncode == 0:
                s = lib.run(["stats", "--db", flipped, "--format", "json"], timeout=60)
                if s.returncode != 6 or v.returncode != 6:
                    structure_missed.append("%s: query exit 0, stats exit %d, verify exit %d (tables changed: %s)"
                                            % (what, s.returncode, v.returncode, changed))
            if "postings" in changed and v.returncode == 0:
                structure_missed.append("%s: verify exit 0 (tables changed: %s)" % (what, changed))

    print("bit flips: seed %d, %d flips: %d changed nothing, %d errors (exit 6), %d silently different;"
          " %d changed capdb's rows, verify reported %d of them"
          % (SEED, FLIPS, unchanged, errors, len(silent), changed_used, changed_used - len(verify_missed)))
    for line in silent:
        print("  silently different: " + line)
    for line in verify_missed:
        print("  verify found nothing: " + line)
    assert len(silent) <= FLIPS // 100, "silently different output:\n" + "\n".join(silent)
    assert not structure_missed, "\n".join(structure_missed)
    assert len(verify_missed) * 100 <= changed_used, "verify missed:\n" + "\n".join(verify_missed)
