"""Database faults: what capdb does when its database cannot be written,
is damaged, is not its own, or is shared.

  * disk full (a 2 MB tmpfs, as root; else RLIMIT_FSIZE): ingest exits 6 with
    a clear message, promptly; earlier commits stay intact and queryable;
  * read-only database (as user nobody): 0444 file, 0555 directory, both:
    query and captures work, ingest exits 6 saying the database is read-only,
    the file is unchanged;
  * corrupt database (page 1 overwritten; pages in the middle overwritten),
    a file that is not SQLite (text, a pcap given as --db by mistake), an
    SQLite file that is not capdb's, a capdb schema from a newer capdb
    (user_version 99), something that is not a regular file: exit 6 with a
    clear message, and the file is not modified (SHA-256 before/after);
  * two `capdb ingest` runs into one database at once both complete, and
    queries run during them are never refused.

Each test checks every case it covers and names all failures at its end.
"""

import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402

TD = lib.testdata_dir()
REF = os.path.join(TD, "eth_ipv4.pcap")


def make_db(path, captures=(REF,)):
    for c in captures:
        r = lib.run(["ingest", "--db", path, c])
        if r.returncode != 0:
            raise RuntimeError("cannot build a database:\n%s" % r)


def refused_unchanged(ck, name, db, commands, message=None, user=None):
    """Every command exits 6 with one 'capdb: error:' line, and db is byte-for-byte unchanged."""
    before = lib.sha256_file(db)
    good = True
    for args in commands:
        r = lib.run(list(args[:1]) + ["--db", db] + list(args[1:]), timeout=60, user=user)
        good &= ck.expect(name, r.returncode == 6, "%s: exit %d, expected 6\n%s" % (args[0], r.returncode, r))
        good &= ck.expect(name, r.stderr.startswith("capdb: error: "), "%s: no clear error line:\n%s" % (args[0], r))
        if message:
            # message: one string, or a tuple of which one must appear
            wanted = message if isinstance(message, tuple) else (message,)
            good &= ck.expect(name, any(m in r.stderr for m in wanted),
                              "%s: stderr lacks %r:\n%s" % (args[0], message, r))
    good &= ck.expect(name, lib.sha256_file(db) == before, "the file was modified")
    if good:
        ck.ok(name)


ALL_COMMANDS = [("query", "--count"), ("query",), ("captures",), ("ingest", os.path.join(TD, "ipv4only.pcap"))]


# ---------------------------------------------------------------------------

def test_disk_full(ck, tmp):
    name = "disk full"
    mnt = os.path.join(tmp, "small")
    os.mkdir(mnt)
    mounted = False
    preexec = None
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0777", "tmpfs", mnt],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if not mounted:
        # Without a small file system: a 2 MB file size limit, SIGXFSZ ignored,
        # so writes past it fail with EFBIG.
        print("note: disk full simulated with RLIMIT_FSIZE (mounting a tmpfs needs root)")

        def preexec():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
        name = "file size limit (disk full)"
    try:
        db = os.path.join(mnt, "full.db")
        make_db(db)
        ref_csv = lib.run(["query", "--db", db, "--format", "csv"]).stdout
        big = os.path.join(tmp, "big.pcap")
        lib.make_capture(big, 60_000, seed=5)
        start = time.monotonic()
        p = subprocess.run([lib.capdb_path(), "ingest", "--db", db, "--batch", "1000", big],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, env=lib.clean_env(),
                           preexec_fn=preexec)
        secs = time.monotonic() - start
        err = p.stderr.decode("utf-8", "replace")
        good = ck.expect(name, p.returncode == 6, "ingest exit %d, expected 6\n%s" % (p.returncode, err))
        good &= ck.expect(name, "capdb: error: " in err and ("full" in err or "I/O" in err or "large" in err),
                          "no clear error:\n%s" % err)
        good &= ck.expect(name, lib.integrity(db) == ["ok"], "integrity_check: %s" % lib.integrity(db)[:3])
        r = lib.run(["query", "--db", db, "--capture", "1", "--format", "csv"])
        good &= ck.expect(name, r.returncode == 0 and r.stdout == ref_csv, "the earlier capture changed:\n%s" % r)
        r = lib.run(["captures", "--db", db])
        good &= ck.expect(name, r.returncode == 0 and "complete" in r.stdout, "captures failed:\n%s" % r)
        rows = lib.capture_rows(db)
        good &= ck.expect(name, all(c["state"] != "complete" for c in rows[1:]),
                          "a capture that did not fit is marked complete")
        if good:
            ck.ok(name, "exit 6 after %.1f s, earlier capture intact" % secs)
    finally:
        if mounted:
            subprocess.run(["umount", mnt])
    ck.done()


def test_read_only(ck, as_nobody, nobody_tmp):
    # As nobody: root ignores file modes.
    for file_mode, dir_mode in ((0o444, 0o777), (0o444, 0o555), (0o644, 0o555)):
        name = "read-only database (file %o, directory %o, as nobody)" % (file_mode, dir_mode)
        d = os.path.join(nobody_tmp, "ro-%o-%o" % (file_mode, dir_mode))
        os.mkdir(d)
        try:
            os.chmod(d, 0o777)
            db = os.path.join(d, "ro.db")
            r = lib.run(["ingest", "--db", db, REF], user=as_nobody)
            if not ck.expect(name, r.returncode == 0, "setup ingest as nobody:\n%s" % r):
                continue
            for suffix in ("-wal", "-shm"):
                assert not os.path.exists(db + suffix), "a clean close leaves no -wal/-shm"
            os.chmod(db, file_mode)
            os.chmod(d, dir_mode)
            before = lib.sha256_file(db)
            good = True
            r = lib.run(["query", "--db", db, "--count"], user=as_nobody)
            good &= ck.expect(name, r.returncode == 0 and r.stdout.strip() == "21", "query:\n%s" % r)
            r = lib.run(["query", "--db", db, "--host", "192.168.1.1", "--format", "json"], user=as_nobody)
            good &= ck.expect(name, r.returncode == 0, "filtered query:\n%s" % r)
            r = lib.run(["captures", "--db", db], user=as_nobody)
            good &= ck.expect(name, r.returncode == 0, "captures:\n%s" % r)
            r = lib.run(["ingest", "--db", db, os.path.join(TD, "ipv4only.pcap")], user=as_nobody)
            good &= ck.expect(name, r.returncode == 6 and "read-only" in r.stderr,
                              "ingest: expected exit 6 saying read-only\n%s" % r)
            good &= ck.expect(name, lib.sha256_file(db) == before, "the database file was modified")
            if good:
                ck.ok(name)
        finally:
            os.chmod(d, 0o777)
    ck.done()


def test_corrupt(ck, tmp):
    base = os.path.join(tmp, "corrupt-base.db")
    big = os.path.join(tmp, "corrupt.pcap")
    lib.make_capture(big, 30_000, seed=9)
    r = lib.run(["ingest", "--db", base, "--batch", "3000", big])
    assert r.returncode == 0, r
    make_db(base)
    page = 4096

    # Page 1 (after the 100-byte file header): the schema. Everything must stop.
    db = os.path.join(tmp, "corrupt-page1.db")
    shutil.copy(base, db)
    with open(db, "r+b") as f:
        f.seek(100)
        f.write(random.Random(1).randbytes(page - 100))
    refused_unchanged(ck, "corrupt database (schema page)", db, ALL_COMMANDS)

    # Pages in the middle: what reads them fails clearly; nothing is modified.
    db = os.path.join(tmp, "corrupt-middle.db")
    shutil.copy(base, db)
    size = os.path.getsize(db)
    with open(db, "r+b") as f:
        rng = random.Random(2)
        for n in range(size // page // 2 - 3, size // page // 2 + 3):
            f.seek(n * page)
            f.write(rng.randbytes(page))
    refused_unchanged(ck, "corrupt database (middle pages), full query", db,
                      [("query",), ("query", "--format", "csv"), ("query", "--proto", "udp", "--count")],
                      # SQLite's own pages ("malformed") or a packet page's
                      # compressed bytes, as the damage falls
                      message=("malformed", "corrupt packet page"))
    ck.done()


def test_foreign_files(ck, tmp):
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("these are my notes, not a database\n" * 200)
    refused_unchanged(ck, "a text file as --db", text, ALL_COMMANDS)

    pcap = os.path.join(tmp, "evidence.pcap")
    shutil.copy(REF, pcap)
    refused_unchanged(ck, "a capture given as --db by mistake", pcap, ALL_COMMANDS)

    junk = os.path.join(tmp, "random.db")
    with open(junk, "wb") as f:
        f.write(b"SQLite format 3\0" + random.Random(3).randbytes(8192))
    refused_unchanged(ck, "random bytes behind an SQLite header", junk, ALL_COMMANDS)

    other = os.path.join(tmp, "other-app.db")
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE contacts(name TEXT, phone TEXT)")
    con.execute("INSERT INTO contacts VALUES ('a', '1')")
    con.commit()
    con.close()
    refused_unchanged(ck, "another application's SQLite database", other, ALL_COMMANDS,
                      message="not a capdb database")

    newer = os.path.join(tmp, "newer.db")
    make_db(newer)
    con = sqlite3.connect(newer)
    con.execute("PRAGMA user_version=99")
    con.commit()
    con.close()
    refused_unchanged(ck, "a database from a newer capdb (user_version 99)", newer, ALL_COMMANDS,
                      message="newer capdb")

    d = os.path.join(tmp, "a-directory")
    os.mkdir(d)
    fifo = os.path.join(tmp, "a-fifo")
    os.mkfifo(fifo)
    good = True
    for path in (d, fifo, "/dev/null"):
        for args in ALL_COMMANDS:
            if path == "/dev/null" and args[0] == "ingest":
                continue  # never risk writing beside /dev/null
            r = lib.run(list(args[:1]) + ["--db", path] + list(args[1:]), timeout=20)
            good &= ck.expect("not a regular file as --db", r.returncode == 6 and "capdb: error: " in r.stderr,
                              "%s %s: exit %d\n%s" % (args[0], path, r.returncode, r))
    good &= ck.expect("not a regular file as --db", sorted(os.listdir(d)) == [], "files created in the directory")
    if good:
        ck.ok("not a regular file as --db (directory, FIFO, /dev/null)")

    empty = os.path.join(tmp, "empty.db")
    open(empty, "w").close()
    refused_unchanged(ck, "an empty file as --db (query)", empty, [("query", "--count"), ("captures",)],
                      message="empty")
    r = lib.run(["ingest", "--db", empty, REF])
    if ck.expect("an empty file as --db (ingest)", r.returncode == 0 and lib.integrity(empty) == ["ok"],
                 "ingest into an empty file should initialise it:\n%s" % r):
        ck.ok("an empty file as --db (ingest initialises it)")
    ck.done()


def test_concurrent(ck, tmp):
    name = "two ingests at once, queries during them"
    db = os.path.join(tmp, "shared.db")
    make_db(db)
    caps = []
    for i in range(2):
        p = os.path.join(tmp, "conc-%d.pcap" % i)
        caps.append((p, len(lib.make_capture(p, 80_000, seed=20 + i))))
    procs = [subprocess.Popen([lib.capdb_path(), "ingest", "--db", db, "--batch", "700", p],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=lib.clean_env())
             for p, _ in caps]
    queries = refused = 0
    errors = []
    while any(p.poll() is None for p in procs):
        for args in (["query", "--db", db, "--count"], ["captures", "--db", db],
                     ["query", "--db", db, "--host", "10.0.0.0/8", "--limit", "50"]):
            r = lib.run(args, timeout=60)
            queries += 1
            if r.returncode != 0:
                refused += 1
                errors.append(str(r))
    good = True
    for p, (path, n) in zip(procs, caps):
        err = p.stderr.read().decode("utf-8", "replace")
        p.stderr.close()
        good &= ck.expect(name, p.returncode == 0, "ingest of %s exited %d\n%s" % (path, p.returncode, err))
    rows = {c["source"]: c for c in lib.capture_rows(db)}
    for path, n in caps:
        c = rows.get(os.path.realpath(path))
        good &= ck.expect(name, c is not None and c["state"] == "complete" and c["packets"] == n,
                          "capture of %s: %s" % (path, c))
    good &= ck.expect(name, refused == 0, "%d of %d queries refused during the ingests:\n%s"
                      % (refused, queries, "\n".join(errors[:3])))
    good &= ck.expect(name, lib.integrity(db) == ["ok"], "integrity_check")
    r = lib.run(["query", "--db", db, "--count"])
    good &= ck.expect(name, r.stdout.strip() == str(21 + sum(n for _, n in caps)), "total count %r" % r.stdout)
    if good:
        ck.ok(name, "%d queries during the ingests, none refused" % queries)
    ck.done()

