"""Security properties of capdb's files and output.

  * the database and its -wal and -shm are created mode 0600 (previews hold
    payload bytes), whatever the umask;
  * every query filter given a hostile value (SQL injection, format
    strings, terminal escapes, huge or odd numbers) is a usage error, exit 2,
    before the database is opened, and the database is unchanged;
  * nothing capdb prints lets a file name, an argument or packet bytes control
    the terminal: a file name holding ESC and a newline shows escaped in the
    error, warning and "already ingested" lines and in `capdb captures`, and
    packets full of escape sequences print as hex in every output format.

Each test checks every case it covers and names all failures at its end.
"""

import os
import stat
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reliability_lib as lib  # noqa: E402

TD = lib.testdata_dir()
REF = os.path.join(TD, "eth_ipv4.pcap")
EVIL = "evil\x1b[31m\x1b]0;pwned\x07\nname\r\x9b2J"



def raw_run(args, umask=None, timeout=120):
    """capdb with bytes output (for checking control bytes)."""
    pre = (lambda: os.umask(umask)) if umask is not None else None
    p = subprocess.run([lib.capdb_path()] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=lib.clean_env(), timeout=timeout, preexec_fn=pre)
    return p


def control_bytes(data, allow=b"\n"):
    return sorted({b for b in data if (b < 0x20 or b == 0x7f or 0x80 <= b < 0xa0) and bytes([b]) not in allow})


# ---------------------------------------------------------------------------

def test_file_modes(ck, tmp):
    for umask in (0o000, 0o022):
        name = "database files are 0600 (umask %03o)" % umask
        db = os.path.join(tmp, "modes-%03o.db" % umask)
        big = os.path.join(tmp, "modes.pcap")
        if not os.path.exists(big):
            lib.make_capture(big, 150_000, seed=11)
        pre = lambda: os.umask(umask)  # noqa: E731
        p = subprocess.Popen([lib.capdb_path(), "ingest", "--db", db, "--batch", "1000", big],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=lib.clean_env(),
                             preexec_fn=pre)
        seen = {}
        while p.poll() is None:
            for suffix in ("", "-wal", "-shm"):
                try:
                    seen[suffix] = stat.S_IMODE(os.stat(db + suffix).st_mode)
                except FileNotFoundError:
                    pass
            time.sleep(0.002)  # sampling the modes while the ingest runs, not waiting for it
        good = ck.expect(name, p.returncode == 0, "ingest exited %d" % p.returncode)
        good &= ck.expect(name, "" in seen and "-wal" in seen and "-shm" in seen,
                       "did not see the database, -wal and -shm while ingesting (saw %s)" % sorted(seen))
        for suffix, mode in seen.items():
            good &= ck.expect(name, mode == 0o600, "%s has mode %o" % ("database" + suffix, mode))
        good &= ck.expect(name, stat.S_IMODE(os.stat(db).st_mode) == 0o600, "database mode after ingest")
        # A query (read-only) creates nothing looser either.
        q = raw_run(["query", "--db", db, "--count"], umask=umask)
        good &= ck.expect(name, q.returncode == 0, "query failed")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                mode = stat.S_IMODE(os.stat(db + suffix).st_mode)
                good &= ck.expect(name, mode == 0o600, "after a query, %s has mode %o" % ("database" + suffix, mode))
        if good:
            ck.ok(name + ": " + ", ".join("%s %o" % ("db" + s, m) for s, m in sorted(seen.items())))
    ck.done()


HOSTILE = [
    "'; DROP TABLE captures; --",
    "1; DROP TABLE captures",
    "1 OR 1=1",
    "10.0.0.1' OR '1'='1",
    "\") OR 1=1 --",
    "%s%s%s%n",
    "{}{0}",
    "\x1b[2J\x1b]0;x\x07",
    "-1",
    "18446744073709551616",
    "9" * 400,
    "1e3",
    " 1",
    "0x50",
    "*",
    "x" * 100_000,
    "tcp,udp",
    "\u00e9t\u00e9",
]
# CLI11 reads integers leniently (hex, a leading space, out-of-range values
# saturate): for the integer options these may succeed; the rest must not.
LENIENT_INTEGERS = {" 1", "0x50", "18446744073709551616", "9" * 400}
FILTERS = ["--from", "--to", "--src", "--dst", "--host", "--port", "--sport", "--dport", "--proto", "--capture",
           "--limit", "--format"]


def test_hostile_filters(ck, tmp):
    name = "hostile filter values are usage errors; the database is unchanged"
    db = os.path.join(tmp, "sql.db")
    r = lib.run(["ingest", "--db", db, REF])
    assert r.returncode == 0, r
    before = lib.sha256_file(db)
    rows_before = lib.capture_rows(db)
    good = True
    n = 0
    for flag in FILTERS:
        for value in HOSTILE:
            for extra in ([], ["--count"]) if "DROP" in value else ([],):
                p = raw_run(["query", "--db", db, flag, value] + extra)
                n += 1
                lenient = value in LENIENT_INTEGERS or (flag == "--capture" and value == "-1")
                if flag in ("--limit", "--capture") and lenient and p.returncode == 0:
                    continue
                if not ck.expect(name, p.returncode == 2, "%s %r: exit %d, expected 2\n%s"
                              % (flag, value[:60], p.returncode, p.stderr[:500])):
                    good = False
                    continue
                good &= ck.expect(name, p.stdout == b"", "%s %r printed rows" % (flag, value[:60]))
                good &= ck.expect(name, p.stderr.startswith(b"capdb: error: "),
                                  "%s %r: no error line" % (flag, value[:60]))
                bad = control_bytes(p.stderr)
                good &= ck.expect(name, not bad, "%s %r: control bytes %s in the error" % (flag, value[:60], bad))
    good &= ck.expect(name, lib.sha256_file(db) == before, "the database changed")
    good &= ck.expect(name, lib.capture_rows(db) == rows_before, "the captures table changed")
    good &= ck.expect(name, lib.integrity(db) == ["ok"], "integrity_check")
    r = lib.run(["query", "--db", db, "--count"])
    good &= ck.expect(name, r.returncode == 0 and r.stdout.strip() == "21", "the data is gone:\n%s" % r)
    if good:
        ck.ok("%s (%d runs)" % (name, n))
    ck.done()


def evil_capture(path, packets=6):
    """Ethernet frames whose payload is terminal escape sequences."""
    payload = b"\x1b[2J\x1b]0;pwned\x07\x1b[31m\x9b1m\r\n\x00\x7f" * 8
    out = bytearray(lib.pcap_header())
    for i in range(packets):
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), i, 0, 64, 17, 0,
                         b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
        frame = b"\x1b" * 12 + b"\x08\x00" + ip + struct.pack(">HHHH", 27, 27, 8 + len(payload), 0) + payload
        out += struct.pack("<IIII", 1_500_000_000 + i, 0, len(frame), len(frame)) + frame
    with open(path, "wb") as f:
        f.write(out)


def test_terminal_escapes(ck, tmp):
    d = os.path.join(tmp, "escapes")
    os.mkdir(d)
    db = os.path.join(d, "esc.db")

    def check(name, p, want_exit, stream="stderr", must_contain=None):
        data = getattr(p, stream)
        good = ck.expect(name, p.returncode == want_exit,
                         "exit %d, expected %d\n%r" % (p.returncode, want_exit, p.stderr))
        bad = control_bytes(data)
        good &= ck.expect(name, not bad, "control bytes %s in %s:\n%r" % (bad, stream, data[:600]))
        if stream == "stderr":
            for line in data.decode("utf-8", "replace").splitlines():
                good &= ck.expect(name, line.startswith("capdb: ") or line.startswith("Run 'capdb"),
                               "a line not written by capdb (a newline from the file name?): %r" % line)
        if must_contain:
            good &= ck.expect(name, must_contain.encode() in data, "%r missing from %s:\n%r"
                           % (must_contain, stream, data[:600]))
        if good:
            ck.ok(name)

    missing = os.path.join(d, EVIL + ".pcap")
    check("missing file named with ESC and newline: escaped error", raw_run(["ingest", "--db", db, missing]), 3,
          must_contain="\\x1b[31m")

    damaged = os.path.join(d, EVIL + "-damaged.pcap")
    with open(os.path.join(TD, "hostile", "truncated_record.bin"), "rb") as f, open(damaged, "wb") as g:
        g.write(f.read())
    check("damaged file named with ESC and newline: escaped error", raw_run(["ingest", "--db", db, damaged]), 4,
          must_contain="\\x0a")
    check("... and again: escaped 'already ingested' line", raw_run(["ingest", "--db", db, damaged]), 0,
          must_contain="already ingested")

    unsupported = os.path.join(d, EVIL + "-radiotap.pcap")
    with open(os.path.join(TD, "hostile", "unsupported_link.bin"), "rb") as f, open(unsupported, "wb") as g:
        g.write(f.read())
    check("unsupported link type, evil name: escaped warning", raw_run(["ingest", "--db", db, unsupported]), 5,
          must_contain="warning")

    packets = os.path.join(d, "escape-payload.pcap")
    evil_capture(packets)
    check("ingest of packets full of escape sequences", raw_run(["ingest", "--db", db, packets]), 0)

    check("captures lists evil sources escaped", raw_run(["captures", "--long", "--db", db]), 0, stream="stdout",
          must_contain="\\x1b[31m")
    for fmt in ("line", "long", "json", "csv"):
        check("query --format %s prints escape-laden packets as hex" % fmt,
              raw_run(["query", "--db", db, "--format", fmt]), 0, stream="stdout",
              must_contain=None if fmt == "long" else "1B1B1B1B")  # long has no preview

    evil_db = os.path.join(d, EVIL + ".db")
    check("--db named with ESC and newline: escaped error", raw_run(["query", "--db", evil_db, "--count"]), 6)
    check("unknown option with ESC: escaped usage error", raw_run(["query", "--bogus\x1b[2J", "--db", db]), 2)
    check("--capture with ESC: escaped usage error", raw_run(["query", "--db", db, "--capture", "\x1b[2J\n"]), 2)
    ck.done()

