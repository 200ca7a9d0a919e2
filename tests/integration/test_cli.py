"""capdb command-line behaviour: usage, exit codes, error lines, ingest
(duplicates, several files, stdin, CAPDB_DB), query filters, ordering,
output formats and --preview-bytes.

Expected values come from the spec and from the test captures themselves
(testdata/make_testdata.py says what each holds; capdb_testlib.read_capture
reads the files independently of capdb). Filter results are also checked
against the same predicate applied in Python to capdb's unfiltered CSV
export, whose correctness test_tshark_compare.py establishes.

Run with pytest (see the README's Tests section); skipped when there is no
capdb binary.
"""

import csv
import io
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402

TD = lib.testdata_dir()


def td(name):
    return os.path.join(TD, name)


def n_records(name):
    return len(lib.read_capture(td(name)).records)


ERR_PREFIX = "capdb: error: "


class CapdbCase(unittest.TestCase):
    """Base: a fresh temp dir per test, helpers for running capdb."""

    def setUp(self):
        self._tmp = lib.TempDir()
        self.tmp = self._tmp.__enter__()
        self.db = os.path.join(self.tmp, "t.db")

    def tearDown(self):
        self._tmp.__exit__(None, None, None)

    def capdb(self, *args, stdin=None, env=None, cwd=None):
        return lib.run(list(args), stdin_bytes=stdin, env=env, cwd=cwd or self.tmp)

    def ok(self, *args, **kw):
        p = self.capdb(*args, **kw)
        self.assertEqual(p.returncode, 0, lib.describe(p))
        return p

    def ingest(self, *files, db=None, extra=(), want=0):
        p = self.capdb("ingest", "--db", db or self.db, *extra, *files)
        self.assertEqual(p.returncode, want, lib.describe(p))
        return p

    def csv_rows(self, *args, db=None):
        p = self.ok("query", "--db", db or self.db, "--format", "csv", *args)
        header, rows = lib.parse_csv(p.stdout)
        self.assertEqual(header, lib.CSV_HEADER, lib.describe(p))
        return rows

    def count(self, *args, db=None):
        p = self.ok("query", "--db", db or self.db, "--count", *args)
        self.assertRegex(p.stdout.strip(), r"^\d+$", lib.describe(p))
        return int(p.stdout.strip())

    def lines(self, *args, db=None):
        p = self.ok("query", "--db", db or self.db, *args)
        return p.stdout.splitlines()

    def assertErrorLine(self, p, *needles):
        """stderr has a line starting 'capdb: error: ' that contains each needle."""
        err_lines = [l for l in p.stderr.splitlines() if l.startswith(ERR_PREFIX)]
        self.assertTrue(err_lines, "no line starting %r on stderr\n%s" % (ERR_PREFIX, lib.describe(p)))
        for n in needles:
            self.assertTrue(any(n in l for l in err_lines),
                            "no error line mentions %r\n%s" % (n, lib.describe(p)))


# ---------------------------------------------------------------------------
# Usage, --help, --version

class TestUsage(CapdbCase):
    def test_no_args_prints_usage_and_exits_2(self):
        p = self.capdb()
        self.assertEqual(p.returncode, 2, lib.describe(p))
        self.assertRegex((p.stdout + p.stderr).lower(), r"usage", lib.describe(p))

    def test_help_shows_examples(self):
        p = self.ok("--help")
        self.assertIn("Examples", p.stdout, lib.describe(p))
        for cmd in ("ingest", "query", "captures"):
            self.assertIn(cmd, p.stdout, lib.describe(p))

    def test_version(self):
        p = self.ok("--version")
        m = re.match(r"^capdb (\S+)\n?$", p.stdout)
        self.assertIsNotNone(m, "expected 'capdb <version>'\n" + lib.describe(p))
        meson = os.path.join(lib.REPO, "meson.build")
        if os.path.exists(meson):
            with open(meson) as f:
                mv = re.search(r"version\s*:\s*'([^']+)'", f.read())
            if mv:
                self.assertEqual(m.group(1), mv.group(1), "version differs from meson.build's project version")

    def test_unknown_option_and_command(self):
        for args in (["query", "--db", self.db, "--bogus-option"],
                     ["ingest", "--db", self.db, "--bogus-option", td("eth_ipv4.pcap")],
                     ["no-such-command"]):
            p = self.capdb(*args)
            self.assertEqual(p.returncode, 2, lib.describe(p))
            self.assertFalse(os.path.exists(self.db), "database created by a usage error: %s" % args)


# ---------------------------------------------------------------------------
# Exit codes and error lines

class TestExitCodes(CapdbCase):
    def test_missing_file_exit_3_names_path(self):
        missing = os.path.join(self.tmp, "no such file.pcap")
        p = self.capdb("ingest", "--db", self.db, missing)
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, missing)

    def test_unreadable_file_exit_3(self):
        if os.geteuid() == 0:
            self.skipTest("running as root: file permissions do not stop reads")
        path = os.path.join(self.tmp, "unreadable.pcap")
        shutil.copy(td("eth_ipv4.pcap"), path)
        os.chmod(path, 0)
        p = self.capdb("ingest", "--db", self.db, path)
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, path)

    def test_directory_is_not_a_capture_exit_3(self):
        p = self.capdb("ingest", "--db", self.db, self.tmp)
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, self.tmp)

    def test_not_a_capture_exit_3(self):
        path = td("not_a_capture.txt")
        p = self.capdb("ingest", "--db", self.db, path)
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, "not_a_capture.txt")

    def test_empty_file_exit_3(self):
        path = os.path.join(self.tmp, "empty.pcap")
        open(path, "wb").close()
        p = self.capdb("ingest", "--db", self.db, path)
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, "empty.pcap")

    def test_truncated_exit_4_commits_good_packets(self):
        info = lib.read_capture(td("truncated.pcap"))
        self.assertEqual((len(info.records), info.truncated_at), (5, 6), "testdata changed?")
        p = self.capdb("ingest", "--db", self.db, td("truncated.pcap"))
        self.assertEqual(p.returncode, 4, lib.describe(p))
        self.assertErrorLine(p, "truncated.pcap")
        err = "\n".join(l for l in p.stderr.splitlines() if l.startswith(ERR_PREFIX))
        self.assertRegex(err, r"(?i)packet\D{0,20}\b6\b", "error must name packet 6\n" + lib.describe(p))
        self.assertIn("the 5 packets before it are stored", err, lib.describe(p))
        summary = p.stderr.splitlines()[-1]
        self.assertRegex(summary, r"^capdb: 5 packets \(", "the summary counts the stored packets\n" + lib.describe(p))
        self.assertEqual(self.count(), 5)
        rows = self.csv_rows()
        self.assertEqual([r["packet"] for r in rows], ["1", "2", "3", "4", "5"])
        self.assertTrue(all(r["status"] == "ok" for r in rows), rows)

    def test_unsupported_link_exit_5_rows_queryable(self):
        p = self.capdb("ingest", "--db", self.db, td("unsupported_link.pcap"))
        self.assertEqual(p.returncode, 5, lib.describe(p))
        self.assertIn("unsupported_link.pcap", p.stderr, "the warning should name the file\n" + lib.describe(p))
        self.assertEqual(self.count(), 3)
        rows = self.csv_rows()
        self.assertEqual([r["status"] for r in rows], ["unsupported"] * 3)
        self.assertTrue(all(r["src"] == "" and r["proto"] == "" for r in rows), rows)
        for line in self.lines():
            self.assertRegex(line, r"^Time: \d+, DLT 147, \d+ bytes: \[[0-9A-F]+\.\.\.\]$")
        # The first record's first 16 bytes are "USER0 frame 0: " + 0x00.
        self.assertEqual(self.lines()[0],
                         "Time: 1580000000, DLT 147, 35 bytes: [%s...]" % b"USER0 frame 0: \x00".hex().upper())

    def test_query_missing_db_exit_6_not_created(self):
        missing = os.path.join(self.tmp, "absent.db")
        for args in ([], ["--count"], ["--format", "csv"]):
            p = self.capdb("query", "--db", missing, *args)
            self.assertEqual(p.returncode, 6, lib.describe(p))
            self.assertErrorLine(p, missing)
            self.assertFalse(os.path.exists(missing), "query created the database file")
        p = self.capdb("captures", "--db", missing)
        self.assertEqual(p.returncode, 6, lib.describe(p))
        self.assertFalse(os.path.exists(missing), "captures created the database file")

    def test_not_a_database_exit_6(self):
        bogus = os.path.join(self.tmp, "bogus.db")
        shutil.copy(td("not_a_capture.txt"), bogus)
        p = self.capdb("query", "--db", bogus)
        self.assertEqual(p.returncode, 6, lib.describe(p))
        self.assertErrorLine(p, bogus)
        p = self.capdb("ingest", "--db", bogus, td("eth_ipv4.pcap"))
        self.assertEqual(p.returncode, 6, lib.describe(p))

    def test_usage_errors_exit_2_before_db(self):
        """Malformed values and inverted ranges: exit 2 with an error line,
        and the (missing) database is neither opened nor created."""
        missing = os.path.join(self.tmp, "never.db")
        bad = [
            ["--src", "300.1.1.1"], ["--src", "192.0.2.1/33"], ["--dst", "2001:db8::g"],
            ["--dst", "2001:db8::/129"], ["--host", "192.0.2"], ["--src", "example.com"],
            ["--from", "yesterday"], ["--to", "2017-13-01"], ["--from", "2017-02-30T00:00:00Z"],
            ["--to", "12:00"], ["--from", "1490492402.5.5"],
            ["--proto", "foo"], ["--proto", "256"], ["--proto", "-1"],
            ["--port", "65536"], ["--sport", "-1"], ["--dport", "http"],
            ["--from", "1490492403", "--to", "1490492402"],
            ["--from", "2017-03-27", "--to", "2017-03-26"],
            ["--from", "2017-03-26T01:40:03Z", "--to", "2017-03-26T03:40:02+02:00"],
            ["--format", "xml"], ["--limit", "ten"], ["--capture", "x"],
            ["--last", "5"], ["--last", "5x"], ["--last", "-5m"], ["--last", "1h", "--from", "now-2h"],
            ["--last", "1h", "--to", "now"], ["--from", "now-"], ["--from", "now+5m"], ["--to", "now-1y"],
            ["--from", "now", "--to", "now-1s"], ["--localtime"], ["--localtime", "--format", "json"],
        ]
        for args in bad:
            with self.subTest(args=args):
                p = self.capdb("query", "--db", missing, *args)
                self.assertEqual(p.returncode, 2, lib.describe(p))
                self.assertTrue(p.stderr.startswith(ERR_PREFIX) or ERR_PREFIX in p.stderr,
                                "no %r line\n%s" % (ERR_PREFIX, lib.describe(p)))
                self.assertFalse(os.path.exists(missing), "database created")
        # The same checks hold with an existing database (no partial results).
        self.ingest(td("eth_ipv4.pcap"))
        for args in (["--src", "300.1.1.1"], ["--from", "20", "--to", "10"], ["--proto", "bogus"]):
            p = self.capdb("query", "--db", self.db, *args)
            self.assertEqual(p.returncode, 2, lib.describe(p))
            self.assertEqual(p.stdout, "", lib.describe(p))

    def test_empty_values_are_usage_errors(self):
        """An empty address / port / time is malformed, not "no filter": a
        script passing --host "$UNSET" must not get every packet."""
        missing = os.path.join(self.tmp, "never.db")
        self.ingest(td("eth_ipv4.pcap"))
        for opt in ("--src", "--dst", "--host", "--port", "--sport", "--dport", "--proto", "--from", "--to"):
            for db in (missing, self.db):
                with self.subTest(opt=opt, db=os.path.basename(db)):
                    p = self.capdb("query", "--db", db, opt, "")
                    self.assertEqual(p.returncode, 2, lib.describe(p))
                    self.assertEqual(p.stdout, "", lib.describe(p))
                    self.assertFalse(os.path.exists(missing), "database created")

    def test_integer_options_take_plain_decimal(self):
        """Hex, exponents, spaces and values beyond 64 bits are usage errors,
        not silently converted or saturated."""
        self.ingest(td("eth_ipv4.pcap"))
        for opt in ("--limit", "--capture"):
            for bad in ("0x5", "1e3", " 5", "5 ", "99999999999999999999999", ""):
                with self.subTest(opt=opt, value=bad):
                    p = self.capdb("query", "--db", self.db, opt, bad)
                    self.assertEqual(p.returncode, 2, lib.describe(p))
                    self.assertEqual(p.stdout, "", lib.describe(p))
                    self.assertIn(opt, p.stderr, lib.describe(p))
        for opt in ("--batch", "--preview-bytes"):
            with self.subTest(opt=opt):
                p = self.capdb("ingest", "--db", self.db, opt, "0x10", td("eth_vlan.pcap"))
                self.assertEqual(p.returncode, 2, lib.describe(p))
        p = self.ok("query", "--db", self.db, "--limit", "3")
        self.assertEqual(len(p.stdout.splitlines()), 3)

    def test_negative_limit_is_a_usage_error(self):
        missing = os.path.join(self.tmp, "never.db")
        p = self.capdb("query", "--db", missing, "--limit", "-1")
        self.assertEqual(p.returncode, 2, lib.describe(p))
        self.assertFalse(os.path.exists(missing), "database created")

    def test_equal_from_to_is_valid(self):
        self.ingest(td("eth_ipv4.pcap"))
        # Packet 1 (ARP) is at exactly 1490492402.000000, the only one in
        # that microsecond; the next is 150 us later.
        self.assertEqual(self.count("--from", "1490492402.000000", "--to", "1490492402.000000"), 1)

    def test_a_time_copied_from_a_line_finds_its_packets(self):
        """A bound covers the whole unit it is written to: the seconds of
        the default output, given as --from and --to, select exactly the lines
        that show them; a date the whole day."""
        self.ingest(td("eth_ipv4.pcap"), td("nanosecond.pcap"))
        every = self.lines()
        seconds = sorted({line.split(",")[0][len("Time: "):] for line in every})
        self.assertGreater(len(seconds), 3)
        for sec in seconds:
            with self.subTest(second=sec):
                self.assertEqual(self.lines("--from", sec, "--to", sec),
                                 [line for line in every if line.startswith("Time: %s," % sec)])
        # nanosecond.pcap's packets are on 2018-10-20 (UTC), all but the last
        # (2038-01-19).
        day = [line for line in every if 1539993600 <= int(line.split(",")[0][6:]) < 1539993600 + 86400]
        self.assertGreater(len(day), 1)
        self.assertEqual(self.lines("--from", "2018-10-20", "--to", "2018-10-20"), day)
        self.assertEqual(self.lines("--to", "2018-10-19"),
                         [line for line in every if int(line.split(",")[0][6:]) < 1539993600])
        # A minute: 01:46 holds the packets from 01:46:40 on.
        minute = [line for line in every if 1539999960 <= int(line.split(",")[0][6:]) < 1540000020]
        self.assertEqual(self.lines("--from", "2018-10-20T01:46Z", "--to", "2018-10-20T01:46Z"), minute)

    def test_relative_times(self):
        """--last and now-DURATION are read against the clock: a capture of
        2017 is older than a day and within 100 years of now."""
        self.ingest(td("eth_ipv4.pcap"))
        total = self.count()
        self.assertEqual(self.count("--last", "1d"), 0)
        self.assertEqual(self.count("--last", "5200w"), total)
        self.assertEqual(self.count("--from", "now-5200w", "--to", "now"), total)
        self.assertEqual(self.count("--from", "now-1h"), 0)
        self.assertEqual(self.count("--to", "now-1d"), total)
        self.assertEqual(self.count("--to", "now-36500d"), 0)

    def test_localtime(self):
        """--localtime prints the long format's times in the zone of TZ,
        with its offset; without it, UTC."""
        self.ingest(td("eth_ipv4.pcap"))
        args = ("query", "--db", self.db, "--format", "long", "--limit", "1")
        env = dict(os.environ, TZ="Europe/Berlin")
        utc = self.capdb(*args, env=env)
        self.assertTrue(utc.stdout.startswith("2017-03-26T01:40:02.000000000Z "), lib.describe(utc))
        for tz, want in (("Europe/Berlin", "2017-03-26T03:40:02.000000000+02:00 "),
                         ("America/St_Johns", "2017-03-25T23:10:02.000000000-02:30 "),
                         ("UTC", "2017-03-26T01:40:02.000000000+00:00 ")):
            with self.subTest(tz=tz):
                p = self.capdb(*args, "--localtime", env=dict(os.environ, TZ=tz))
                self.assertTrue(p.stdout.startswith(want), lib.describe(p))
                self.assertEqual(p.stdout.split(" ", 1)[1], utc.stdout.split(" ", 1)[1])


# ---------------------------------------------------------------------------
# Ingest behaviour

class TestIngest(CapdbCase):
    def test_duplicate_ingest_skipped(self):
        self.ingest(td("eth_ipv4.pcap"))
        n = self.count()
        self.assertEqual(n, n_records("eth_ipv4.pcap"))
        p = self.ingest(td("eth_ipv4.pcap"))
        self.assertRegex(p.stderr.lower(), r"already", "duplicate should say 'already ingested'\n" + lib.describe(p))
        self.assertIn("eth_ipv4.pcap", p.stderr, lib.describe(p))
        self.assertEqual(self.count(), n, "duplicate ingest changed the packet count")
        # Same bytes under another name: same SHA-256, so also skipped.
        copy = os.path.join(self.tmp, "renamed copy.pcap")
        shutil.copy(td("eth_ipv4.pcap"), copy)
        p = self.ingest(copy)
        self.assertRegex(p.stderr.lower(), r"already", lib.describe(p))
        self.assertEqual(self.count(), n)
        # A different file is not a duplicate.
        self.ingest(td("eth_vlan.pcap"))
        self.assertEqual(self.count(), n + n_records("eth_vlan.pcap"))

    def test_several_files_one_call(self):
        names = ["eth_ipv4.pcap", "eth_vlan.pcap", "ipv6_ext.pcap", "two_if.pcapng"]
        p = self.ingest(*[td(n) for n in names])
        summary = [l for l in p.stderr.splitlines() if l.strip()]
        self.assertEqual(len(summary), 1, "one summary line per run expected\n" + lib.describe(p))
        self.assertEqual(self.count(), sum(n_records(n) for n in names))
        caps = {r["capture"] for r in self.csv_rows()}
        self.assertEqual(len(caps), len(names), "each file is its own capture")
        listing = self.ok("captures", "--db", self.db).stdout
        for n in names:
            self.assertIn(n, listing, "captures does not list %s\n%s" % (n, listing))
        # Per capture: packet numbers 1..N as in the file.
        for cap in caps:
            rows = self.csv_rows("--capture", cap)
            nums = sorted(int(r["packet"]) for r in rows)
            self.assertEqual(nums, list(range(1, len(rows) + 1)))

    def test_stdin_ingest(self):
        for name in ("eth_ipv4.pcap", "two_if.pcapng"):
            with self.subTest(name=name):
                db = os.path.join(self.tmp, name + ".db")
                with open(td(name), "rb") as f:
                    data = f.read()
                p = self.capdb("ingest", "--db", db, "-", stdin=data)
                self.assertEqual(p.returncode, 0, lib.describe(p))
                self.assertEqual(self.count(db=db), n_records(name))
                # Same rows (apart from the unknown file offset) as from the file.
                db2 = os.path.join(self.tmp, name + ".file.db")
                self.ingest(td(name), db=db2)
                strip = lambda rows: [{k: v for k, v in r.items() if k not in ("offset", "capture")} for r in rows]
                self.assertEqual(strip(self.csv_rows(db=db)), strip(self.csv_rows(db=db2)))

    def test_stdin_duplicate(self):
        """The same bytes on stdin twice, or a file then the same bytes on
        stdin: same SHA-256, so the second is skipped and nothing doubles."""
        with open(td("eth_ipv4.pcap"), "rb") as f:
            data = f.read()
        n = n_records("eth_ipv4.pcap")
        self.capdb("ingest", "--db", self.db, "-", stdin=data)
        p = self.capdb("ingest", "--db", self.db, "-", stdin=data)
        self.assertEqual(p.returncode, 0, lib.describe(p))
        self.assertRegex(p.stderr.lower(), r"already", lib.describe(p))
        self.assertEqual(self.count(), n)
        db2 = os.path.join(self.tmp, "second.db")
        self.ingest(td("eth_ipv4.pcap"), db=db2)
        p = self.capdb("ingest", "--db", db2, "-", stdin=data)
        self.assertEqual(p.returncode, 0, lib.describe(p))
        self.assertRegex(p.stderr.lower(), r"already", lib.describe(p))
        self.assertEqual(self.count(db=db2), n)

    def test_stdin_not_a_capture_exit_3(self):
        with open(td("not_a_capture.txt"), "rb") as f:
            p = self.capdb("ingest", "--db", self.db, "-", stdin=f.read())
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertIn(ERR_PREFIX, p.stderr, lib.describe(p))

    def test_capdb_db_env_and_default(self):
        env_db = os.path.join(self.tmp, "from_env.db")
        work = os.path.join(self.tmp, "cwd")
        os.mkdir(work)
        env = lib.clean_env(CAPDB_DB=env_db)
        p = self.capdb("ingest", td("eth_ipv4.pcap"), env=env, cwd=work)
        self.assertEqual(p.returncode, 0, lib.describe(p))
        self.assertTrue(os.path.exists(env_db), "CAPDB_DB not honoured by ingest")
        self.assertFalse(os.path.exists(os.path.join(work, "capdb.db")), "ingest used ./capdb.db despite CAPDB_DB")
        p = self.capdb("query", "--count", env=env, cwd=work)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, str(n_records("eth_ipv4.pcap"))), lib.describe(p))
        # --db wins over CAPDB_DB.
        p = self.capdb("query", "--count", "--db", os.path.join(self.tmp, "other.db"), env=env, cwd=work)
        self.assertEqual(p.returncode, 6, lib.describe(p))
        # Neither: ./capdb.db.
        env = lib.clean_env()
        p = self.capdb("ingest", td("eth_vlan.pcap"), env=env, cwd=work)
        self.assertEqual(p.returncode, 0, lib.describe(p))
        self.assertTrue(os.path.exists(os.path.join(work, "capdb.db")), "default ./capdb.db not used")
        p = self.capdb("query", "--count", env=env, cwd=work)
        self.assertEqual(p.stdout.strip(), str(n_records("eth_vlan.pcap")), lib.describe(p))

    def test_preview_bytes(self):
        name = "eth_ipv4.pcap"
        recs = {r.number: r for r in lib.read_capture(td(name)).records}
        for n, db in ((4, "p4.db"), (64, "p64.db"), (None, "pdefault.db")):
            with self.subTest(preview_bytes=n):
                db = os.path.join(self.tmp, db)
                extra = ["--preview-bytes", str(n)] if n is not None else []
                self.ingest(td(name), db=db, extra=extra)
                k = n if n is not None else 16
                rows = self.csv_rows(db=db)
                lines = self.lines(db=db)
                for row, line in zip(rows, lines):
                    want = recs[int(row["packet"])].data[:k].hex()
                    self.assertEqual(row["preview"].lower(), want)
                    self.assertTrue(line.endswith("[%s...]" % want.upper()), (line, want))


# ---------------------------------------------------------------------------
# Output formats

class TestOneExecutable(CapdbCase):
    """capdb is one ordinary program, linked dynamically against the
    system's libraries: a copy of it alone ingests, captures and queries."""

    def test_capdb_is_a_dynamic_program(self):
        with open(lib.capdb_path(), "rb") as f:
            elf = f.read()
        self.assertTrue(elf.startswith(b"\x7fELF"), "capdb should be an ELF executable")
        self.assertIn(b"ld-linux", elf, "capdb should be linked dynamically (it names its loader)")
        for soname in (b"libsqlite3.so", b"libzstd.so", b"libcrypto.so", b"libpcap.so"):
            self.assertIn(soname, elf, "capdb should link %s from the system" % soname.decode())

    def test_a_lone_copy_ingests_and_queries(self):
        lone = os.path.join(self.tmp, "bin")
        os.mkdir(lone)
        shutil.copy2(lib.capdb_path(), lone)
        self.assertEqual(os.listdir(lone), ["capdb"])

        def lone_capdb(*args):
            return subprocess.run([os.path.join(lone, "capdb"), *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=lib.clean_env(), timeout=60)

        p = lone_capdb("ingest", "--db", self.db, td("eth_ipv4.pcap"))
        self.assertEqual(p.returncode, 0, p.stderr)
        p = lone_capdb("query", "--db", self.db, "--count")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(int(p.stdout), n_records("eth_ipv4.pcap"))
        p = lone_capdb("interfaces")
        self.assertIn(p.returncode, (0, 7), p.stderr)  # 7: no capture device in this sandbox


class TestFormats(CapdbCase):
    def setUp(self):
        super().setUp()
        self.ingest(td("eth_ipv4.pcap"), td("ipv6_ext.pcap"), td("malformed.pcap"))

    def test_line_format_exact(self):
        lines = self.lines("--from", "1490492402", "--to", "1490492402.00130")
        # eth_ipv4.pcap packets 1-5: ARP request, ARP reply, SYN, SYN-ACK, ACK.
        self.assertEqual(lines, [
            "Time: 1490492402, ARP, 60 bytes: [FFFFFFFFFFFF00005E00530108060001...]",
            "Time: 1490492402, ARP, 60 bytes: [00005E00530100005E00530208060001...]",
            "Time: 1490492402, 192.0.2.1 --> 192.0.2.2, 62 bytes: [00005E00530200005E00530108004500...]",
            "Time: 1490492402, 192.0.2.2 --> 192.0.2.1, 62 bytes: [00005E00530100005E00530208004500...]",
            "Time: 1490492402, 192.0.2.1 --> 192.0.2.2, 60 bytes: [00005E00530200005E00530108004500...]",
        ])
        # LLDP and a local experimental EtherType.
        self.assertEqual(self.lines("--from", "1490492404", "--to", "1490492404.0000"),
                         ["Time: 1490492404, LLDP, 60 bytes: [0180C200000E00005E00530288CC0207...]"])
        self.assertEqual(self.lines("--from", "1490492404.2", "--to", "1490492404.2000"),
                         ["Time: 1490492404, ethertype 0x88b5, 60 bytes: [FFFFFFFFFFFF00005E00530188B56361...]"])
        # IPv6 addresses in RFC 5952 form.
        self.assertEqual(self.lines("--from", "1510000000.06", "--to", "1510000000.060"),
                         ["Time: 1510000000, 2001:db8::1 --> 2001:db8::2, 75 bytes: [00005E00530200005E00530186DD6000...]"])
        # malformed.pcap packet 1: 10 bytes, cut in the Ethernet header.
        self.assertEqual(self.lines("--from", "1590000000", "--to", "1590000000.0"),
                         ["Time: 1590000000, EN10MB, 10 bytes: [00005E00530200005E00...]"])
        # malformed.pcap packet 12: nothing captured: an empty preview.
        self.assertEqual(self.lines("--from", "1590000011", "--to", "1590000011.0"),
                         ["Time: 1590000011, EN10MB, 60 bytes: [...]"])

    def test_csv(self):
        p = self.ok("query", "--db", self.db, "--format", "csv")
        self.assertTrue(p.stdout.startswith(",".join(lib.CSV_HEADER) + "\n") or
                        p.stdout.startswith(",".join(lib.CSV_HEADER) + "\r\n"), p.stdout[:200])
        rows = list(csv.reader(io.StringIO(p.stdout)))
        self.assertEqual(rows[0], lib.CSV_HEADER)
        body = rows[1:]
        total = sum(n_records(n) for n in ("eth_ipv4.pcap", "ipv6_ext.pcap", "malformed.pcap"))
        self.assertEqual(len(body), total)
        for r in body:
            self.assertEqual(len(r), len(lib.CSV_HEADER), r)
            d = dict(zip(lib.CSV_HEADER, r))
            self.assertRegex(d["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
            self.assertEqual(d["time"], lib.rfc3339_ns(int(d["ts_ns"])))
            self.assertIn(d["status"], lib.STATUSES)
            self.assertRegex(d["linktype"], r"^\d+$", d)
            for k in ("proto", "sport", "dport", "ethertype"):
                self.assertRegex(d[k], r"^(\d+)?$", "%s must be empty or decimal: %r" % (k, d))
            self.assertRegex(d["preview"], r"^[0-9A-Fa-f]*$")
            if d["src"]:
                ipaddress.ip_address(d["src"])
                ipaddress.ip_address(d["dst"])
        # A known row: eth_ipv4.pcap packet 13, the DNS query.
        dns = [dict(zip(lib.CSV_HEADER, r)) for r in body if r[6] == "198.51.100.53"]
        self.assertEqual(len(dns), 1, dns)
        d = dns[0]
        self.assertEqual((d["time"], d["ts_ns"], d["packet"], d["status"], d["src"], d["dst"], d["proto"],
                          d["sport"], d["dport"], d["caplen"], d["wirelen"], d["ethertype"]),
                         ("2017-03-26T01:40:02.500000000Z", "1490492402500000000", "13", "ok", "192.0.2.1",
                          "198.51.100.53", "17", "53000", "53", "75", "75", "2048"))
        rec = lib.read_capture(td("eth_ipv4.pcap")).records[12]
        self.assertEqual(d["offset"], str(rec.offset))
        self.assertEqual(d["preview"].lower(), rec.data[:16].hex())

    def test_json(self):
        jp = self.ok("query", "--db", self.db, "--format", "json")
        rows = self.csv_rows()
        objs = []
        for line in jp.stdout.splitlines():
            obj = json.loads(line)
            self.assertIsInstance(obj, dict)
            objs.append(obj)
        self.assertEqual(len(objs), len(rows))
        ints = ("ts_ns", "capture", "packet", "proto", "sport", "dport", "caplen", "wirelen", "linktype",
                "ethertype", "offset")
        for obj, row in zip(objs, rows):
            # The CSV fields, and the packet's interface (json only).
            self.assertEqual(set(obj), set(lib.CSV_HEADER) | {"interface", "interface_name", "link"}, obj)
            self.assertEqual((obj["interface"], obj["interface_name"]), (0, None), obj)
            self.assertEqual(obj["link"], "EN10MB", obj)
            for k in ("time", "status", "preview"):
                self.assertIsInstance(obj[k], str, (k, obj))
            for k in ("src", "dst"):
                self.assertTrue(obj[k] is None or isinstance(obj[k], str), (k, obj))
            for k in ints:
                self.assertTrue(obj[k] is None or (isinstance(obj[k], int) and not isinstance(obj[k], bool)),
                                "%s must be a number or null: %r" % (k, obj))
            # Same content as the CSV row: null <-> empty.
            for k in lib.CSV_HEADER:
                v = obj[k]
                as_text = "" if v is None else str(v)
                if k == "preview":
                    self.assertEqual(as_text.lower(), row[k].lower(), k)
                else:
                    self.assertEqual(as_text, row[k], "%s: json %r csv %r" % (k, v, row[k]))
        # Absent fields are null, not empty strings: ARP has no src/ports.
        arp = objs[0]
        self.assertEqual(arp["status"], "non_ip")
        self.assertIsNone(arp["src"])
        self.assertIsNone(arp["sport"])

    def test_long_format(self):
        p = self.ok("query", "--db", self.db, "--format", "long", "--limit", "3")
        self.assertTrue(p.stdout.strip(), lib.describe(p))


# ---------------------------------------------------------------------------
# Filters, ordering, --count, --limit, --capture

FILTER_CAPTURES = ["eth_ipv4.pcap", "eth_vlan.pcap", "ipv6_ext.pcap", "ipv4_frag.pcap", "nanosecond.pcap",
                   "out_of_order.pcap", "interleave_b.pcap", "interleave_a.pcap", "two_if.pcapng", "sll.pcap"]


class TestFilters(CapdbCase):
    @classmethod
    def setUpClass(cls):
        cls._ctmp = lib.TempDir()
        cls.ctmp = cls._ctmp.__enter__()
        cls.fdb = os.path.join(cls.ctmp, "filters.db")
        p = lib.run(["ingest", "--db", cls.fdb] + [td(n) for n in FILTER_CAPTURES])
        if p.returncode != 0:
            raise AssertionError("ingest for the filter tests failed\n" + lib.describe(p))
        q = lib.run(["query", "--db", cls.fdb, "--format", "csv"])
        if q.returncode != 0:
            raise AssertionError(lib.describe(q))
        header, cls.all_rows = lib.parse_csv(q.stdout)
        if header != lib.CSV_HEADER:
            raise AssertionError("CSV header %r" % header)

    @classmethod
    def tearDownClass(cls):
        cls._ctmp.__exit__(None, None, None)

    def keys(self, rows):
        return [(r["capture"], r["packet"]) for r in rows]

    def check(self, args, pred, min_n=1, exact=None):
        """Query with args; the result must be exactly the rows of the full
        export that satisfy pred, in the same order, and --count and the line
        output must agree."""
        want = [r for r in self.all_rows if pred(r)]
        got = self.csv_rows(*args, db=self.fdb)
        self.assertEqual(self.keys(got), self.keys(want), "filter %s" % (args,))
        self.assertGreaterEqual(len(want), min_n, "filter %s selects too little to test anything" % (args,))
        self.assertLess(len(want), len(self.all_rows), "filter %s selects everything" % (args,))
        if exact is not None:
            self.assertEqual(len(got), exact, "filter %s" % (args,))
        self.assertEqual(self.count(*args, db=self.fdb), len(want), "--count for %s" % (args,))
        self.assertEqual(len(self.lines(*args, db=self.fdb)), len(want), "line output for %s" % (args,))
        return got

    def test_all_rows(self):
        self.assertEqual(len(self.all_rows), sum(n_records(n) for n in FILTER_CAPTURES))
        self.assertEqual(self.count(db=self.fdb), len(self.all_rows))
        self.assertEqual(len(self.lines(db=self.fdb)), len(self.all_rows))

    def test_time_order(self):
        keys = [(int(r["ts_ns"]), int(r["capture"]), int(r["packet"])) for r in self.all_rows]
        self.assertEqual(keys, sorted(keys), "rows are not in (time, capture, packet) order")

    def test_out_of_order_capture_sorted(self):
        # out_of_order.pcap's records are at t+3, t+1, t+4, t+0, t+2 s.
        cap = self.capture_of("192.0.2.151")
        rows = self.csv_rows("--capture", cap, db=self.fdb)
        self.assertEqual([r["packet"] for r in rows], ["4", "2", "5", "1", "3"])
        self.assertEqual([r["dport"] for r in rows], ["6000", "6001", "6002", "6003", "6004"])

    def test_interleaved_captures(self):
        # interleave_a at t+0,2,4 s (IPv4 UDP), interleave_b at t+1,3,5 s (IPv6
        # TCP); b was ingested first, so capture id order is not time order.
        rows = self.csv_rows("--from", "1610000000", "--to", "1610000005", db=self.fdb)
        self.assertEqual([r["src"] for r in rows],
                         ["192.0.2.161", "2001:db8:162::1"] * 3)
        self.assertEqual([r["ts_ns"][:10] for r in rows], [str(1610000000 + i) for i in range(6)])

    def capture_of(self, src):
        caps = {r["capture"] for r in self.all_rows if r["src"] == src}
        self.assertEqual(len(caps), 1, "source %s in captures %s" % (src, caps))
        return caps.pop()

    def test_capture(self):
        cap = self.capture_of("192.0.2.161")
        rows = self.check(["--capture", cap], lambda r: r["capture"] == cap, exact=3)
        self.assertTrue(all(r["src"] == "192.0.2.161" for r in rows))
        p = self.capdb("query", "--db", self.fdb, "--capture", "999999", "--count")
        if p.returncode == 0:  # an unknown id may also be reported as an error
            self.assertEqual(p.stdout.strip(), "0", lib.describe(p))

    def test_src_dst_host_exact(self):
        self.check(["--src", "192.0.2.1"], lambda r: r["src"] == "192.0.2.1", min_n=9)
        self.check(["--dst", "192.0.2.1"], lambda r: r["dst"] == "192.0.2.1", min_n=7)
        self.check(["--host", "203.0.113.5"], lambda r: "203.0.113.5" in (r["src"], r["dst"]), exact=2)
        self.check(["--src", "2001:db8::1"], lambda r: r["src"] == "2001:db8::1", min_n=10)
        self.check(["--dst", "2001:db8::2"], lambda r: r["dst"] == "2001:db8::2", min_n=10)
        self.check(["--host", "2001:db8:0:0::2"], lambda r: "2001:db8::2" in (r["src"], r["dst"]), min_n=10)
        self.check(["--src", "192.0.2.1", "--dst", "198.51.100.53"],
                   lambda r: (r["src"], r["dst"]) == ("192.0.2.1", "198.51.100.53"), exact=1)
        # No match is not an error.
        self.assertEqual(self.count("--src", "192.0.2.250", db=self.fdb), 0)

    def in_net(self, addr, net):
        if not addr:
            return False
        a, n = ipaddress.ip_address(addr), ipaddress.ip_network(net, strict=False)
        return a.version == n.version and a in n

    def test_cidr(self):
        for net in ("192.0.2.0/24", "198.51.100.0/24", "192.0.2.0/28", "192.0.2.8/29", "224.0.0.0/4",
                    "2001:db8::/32", "2001:db8:10::/48", "ff02::/16", "fe80::/10", "2001:db8::/126"):
            with self.subTest(net=net):
                self.check(["--host", net], lambda r, net=net: self.in_net(r["src"], net) or self.in_net(r["dst"], net))
        self.check(["--src", "192.0.2.0/24"], lambda r: self.in_net(r["src"], "192.0.2.0/24"), min_n=20)
        self.check(["--dst", "2001:db8::/32"], lambda r: self.in_net(r["dst"], "2001:db8::/32"), min_n=10)
        # IPv4 prefixes never match IPv6 addresses and vice versa.
        self.check(["--host", "0.0.0.0/0"], lambda r: bool(r["src"]) and ":" not in r["src"], min_n=30)
        # Host bits set: the prefix still means the network (192.0.2.77/24 = 192.0.2.0/24).
        self.check(["--src", "192.0.2.77/24"], lambda r: self.in_net(r["src"], "192.0.2.0/24"), min_n=20)

    def test_ports(self):
        self.check(["--port", "80"], lambda r: "80" in (r["sport"], r["dport"]), min_n=10)
        self.check(["--sport", "53"], lambda r: r["sport"] == "53", min_n=2)
        self.check(["--dport", "53"], lambda r: r["dport"] == "53", min_n=3)
        self.check(["--dport", "9999"], lambda r: r["dport"] == "9999", exact=1)  # IPv6 first fragment only
        self.check(["--port", "443", "--src", "2001:db8::/32"],
                   lambda r: "443" in (r["sport"], r["dport"]) and self.in_net(r["src"], "2001:db8::/32"))
        # Later fragments have no ports: the 3-fragment UDP datagram to 5001 counts once.
        self.check(["--dport", "5001"], lambda r: r["dport"] == "5001", min_n=1)
        frag = [r for r in self.all_rows if r["src"] == "192.0.2.10" and r["proto"] == "17"]
        self.assertTrue(any(r["dport"] == "" for r in frag), "later fragments should have no ports")

    def test_proto(self):
        for names, num in ((("tcp", "6"), "6"), (("udp", "17"), "17"), (("icmp", "1"), "1"),
                           (("icmp6", "58"), "58"), (("sctp", "132"), "132"), (("2",), "2"), (("59",), "59")):
            for name in names:
                with self.subTest(proto=name):
                    self.check(["--proto", name], lambda r, num=num: r["proto"] == num)
        self.check(["--proto", "132"], lambda r: r["proto"] == "132", exact=1)
        self.check(["--proto", "udp", "--dport", "53"], lambda r: r["proto"] == "17" and r["dport"] == "53")

    def ts_in(self, r, lo=None, hi=None):
        t = int(r["ts_ns"])
        return (lo is None or t >= lo) and (hi is None or t <= hi)

    def test_time_epoch(self):
        lo, hi = 1490492402 * 10**9, 1490492403 * 10**9
        # eth_ipv4.pcap: 12 packets in the first 3.2 ms, DNS at +0.5 s, the echo
        # request at exactly +1 s (inclusive); the reply (+1.02 s) is out.
        self.check(["--from", "1490492402", "--to", "1490492403.000000000"], lambda r: self.ts_in(r, lo, hi), exact=15)
        # A bound in whole seconds covers its second: the reply at +1.02 s and
        # what follows in that second are in.
        self.check(["--from", "1490492402", "--to", "1490492403"],
                   lambda r: self.ts_in(r, lo, hi + 10**9 - 1), exact=18)
        self.check(["--from", "1540000000"], lambda r: self.ts_in(r, 1540000000 * 10**9))
        self.check(["--to", "1500000000"], lambda r: self.ts_in(r, None, 1500000001 * 10**9 - 1))

    def test_time_fractional_and_inclusive(self):
        # nanosecond.pcap: base+1ns, +0.123456789, +0.999999999, +1s, +1.5s, 2^31-1 s + .999999999.
        b = 1540000000 * 10**9
        self.check(["--from", "1540000000.123456789", "--to", "1540000000.999999999"],
                   lambda r: self.ts_in(r, b + 123456789, b + 999999999), exact=2)
        self.check(["--from", "1540000000.12345679", "--to", "1540000000.999999998"],
                   lambda r: self.ts_in(r, b + 123456790, b + 999999998), exact=0, min_n=0)
        self.check(["--from", "1540000000.5", "--to", "1540000001.000000000"],
                   lambda r: self.ts_in(r, b + 500000000, b + 10**9), exact=2)
        # Tenths: .9 runs through .999999999.
        self.check(["--from", "1540000000.9", "--to", "1540000000.9"],
                   lambda r: self.ts_in(r, b + 900000000, b + 999999999), exact=1)
        self.check(["--from", "2147483647.999999999"], lambda r: self.ts_in(r, 2147483647999999999), exact=1)

    def test_time_rfc3339(self):
        b = 1540000000 * 10**9  # 2018-10-20T01:46:40Z
        # The upper bounds are whole seconds: each covers its second.
        want = lambda r: self.ts_in(r, b + 123456789, b + 2 * 10**9 - 1)
        for lo, hi in (("2018-10-20T01:46:40.123456789Z", "2018-10-20T01:46:41Z"),
                       ("2018-10-20T03:46:40.123456789+02:00", "2018-10-19T22:16:41-03:30"),
                       ("2018-10-20 01:46:40.123456789", "2018-10-20T01:46:41"),
                       ("1540000000.123456789", "2018-10-20T01:46:41+00:00")):
            with self.subTest(lo=lo, hi=hi):
                self.check(["--from", lo, "--to", hi], want, exact=4)
        # Date only: midnight UTC.
        day = 1539993600 * 10**9  # 2018-10-20T00:00:00Z
        self.check(["--from", "2018-10-20"], lambda r: self.ts_in(r, day))
        self.check(["--from", "2018-10-20", "--to", "2018-10-20T01:46:41Z"],
                   lambda r: self.ts_in(r, day, b + 2 * 10**9 - 1), exact=5)

    def test_limit(self):
        rows = self.csv_rows("--limit", "5", db=self.fdb)
        self.assertEqual(self.keys(rows), self.keys(self.all_rows[:5]))
        rows = self.csv_rows("--proto", "tcp", "--limit", "3", db=self.fdb)
        self.assertEqual(self.keys(rows), self.keys([r for r in self.all_rows if r["proto"] == "6"][:3]))
        self.assertEqual(len(self.lines("--limit", "1", db=self.fdb)), 1)
        big = self.csv_rows("--limit", "100000", db=self.fdb)
        self.assertEqual(len(big), len(self.all_rows))

    def test_combined(self):
        cap = self.capture_of("192.0.2.1")
        self.check(["--capture", cap, "--proto", "tcp", "--sport", "80", "--from", "1490492402.0016"],
                   lambda r: r["capture"] == cap and r["proto"] == "6" and r["sport"] == "80"
                   and int(r["ts_ns"]) >= 1490492402001600000, exact=3)


# ---------------------------------------------------------------------------
# query --follow, and what commands refuse before touching a database

class TestFollowLimit(CapdbCase):
    def test_limit_reached_by_stored_packets_exits(self):
        """--follow --limit N prints N and exits when N matches are already
        stored, without waiting for more."""
        self.ingest(td("eth_ipv4.pcap"))
        want = self.lines("--limit", "3")
        for n, rows in ((3, want), (1, want[:1])):
            with self.subTest(limit=n):
                try:
                    p = lib.run(["query", "--db", self.db, "--follow", "--limit", str(n)], timeout=10)
                except subprocess.TimeoutExpired:
                    self.fail("query --follow --limit %d did not exit with %d matches stored" % (n, n))
                self.assertEqual(p.returncode, 0, lib.describe(p))
                self.assertEqual(p.stdout.splitlines(), rows, lib.describe(p))
        p = lib.run(["query", "--db", self.db, "--follow", "--limit", "0"], timeout=10)
        self.assertEqual((p.returncode, p.stdout), (0, ""), lib.describe(p))


class TestNothingCreatedOnBadInput(CapdbCase):
    def test_missing_file_creates_no_database(self):
        missing = os.path.join(self.tmp, "missing.pcap")
        p = self.capdb("ingest", "--db", self.db, missing)
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, missing)
        self.assertFalse(os.path.exists(self.db), "ingest of a missing file created the database")

    def test_no_readable_file_creates_no_database(self):
        for files in (["a.pcap", "b.pcap"], [td("not_a_capture.txt"), "missing.pcap"], [self.tmp]):
            with self.subTest(files=files):
                p = self.capdb("ingest", "--db", self.db, *files)
                self.assertEqual(p.returncode, 3, lib.describe(p))
                errors = [l for l in p.stderr.splitlines() if l.startswith(ERR_PREFIX)]
                self.assertEqual(len(errors), len(files), "one error line per file\n" + lib.describe(p))
                self.assertFalse(os.path.exists(self.db), "database created\n" + lib.describe(p))

    def test_one_readable_file_is_ingested_beside_a_missing_one(self):
        missing = os.path.join(self.tmp, "missing.pcap")
        p = self.capdb("ingest", "--db", self.db, missing, td("eth_ipv4.pcap"))
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertErrorLine(p, missing)
        self.assertEqual(self.count(), n_records("eth_ipv4.pcap"))

    def test_stdin_is_read_after_a_missing_file(self):
        with open(td("eth_ipv4.pcap"), "rb") as f:
            p = self.capdb("ingest", "--db", self.db, "missing.pcap", "-", stdin=f.read())
        self.assertEqual(p.returncode, 3, lib.describe(p))
        self.assertEqual(self.count(), n_records("eth_ipv4.pcap"))


class TestUnknownCapture(CapdbCase):
    def test_unknown_capture_is_an_error(self):
        """--capture ID of no capture: a usage error naming the capture and
        the database, not an empty answer."""
        self.ingest(td("eth_ipv4.pcap"))
        for extra in ([], ["--count"], ["--format", "json"], ["--follow"]):
            with self.subTest(extra=extra):
                p = lib.run(["query", "--db", self.db, "--capture", "99"] + extra, timeout=10)
                self.assertEqual(p.returncode, 2, lib.describe(p))
                self.assertEqual(p.stdout, "", lib.describe(p))
                lines = p.stderr.splitlines()
                self.assertEqual(len(lines), 1, lib.describe(p))
                self.assertTrue(lines[0].startswith(ERR_PREFIX), lib.describe(p))
                self.assertIn("capture 99", lines[0], lib.describe(p))
                self.assertIn(self.db, lines[0], lib.describe(p))
        self.assertEqual(self.count("--capture", "1"), n_records("eth_ipv4.pcap"))


# ---------------------------------------------------------------------------
# capdb's own wording for command-line errors, and --help

class TestUsageMessages(CapdbCase):
    def usage_line(self, *args):
        """Runs capdb; checks exit 2, nothing on stdout and one printable
        'capdb: error:' line; returns that line."""
        p = self.capdb(*args)
        self.assertEqual(p.returncode, 2, lib.describe(p))
        self.assertEqual(p.stdout, "", lib.describe(p))
        lines = p.stderr.splitlines()
        self.assertEqual(len(lines), 1, "one line expected\n" + lib.describe(p))
        self.assertTrue(lines[0].startswith(ERR_PREFIX), lib.describe(p))
        self.assertTrue(lines[0].isprintable(), lib.describe(p))
        return lines[0]

    def test_unexpected_words_named_in_the_order_given(self):
        line = self.usage_line("captures", "--db", self.db, "1.2.3.4", "--hots")
        self.assertIn("captures: ", line)
        self.assertIn("unexpected argument '1.2.3.4'", line)
        self.assertIn("unknown option '--hots'", line)
        self.assertLess(line.index("1.2.3.4"), line.index("--hots"), line)
        line = self.usage_line("captures", "--db", self.db, "--hots", "1.2.3.4", "--bogus=3")
        self.assertLess(line.index("--hots"), line.index("1.2.3.4"), line)
        self.assertIn("unknown option '--bogus'", line)
        self.assertNotIn("not expected", line)
        self.assertFalse(os.path.exists(self.db))

    def test_unknown_command(self):
        line = self.usage_line("no-such-command")
        self.assertIn("unknown command 'no-such-command'", line)
        self.assertIn("'capdb --help'", line)

    def test_option_given_twice(self):
        line = self.usage_line("query", "--db", self.db, "--host", "10.0.0.1", "--host", "10.0.0.2")
        self.assertIn("--host given twice", line)
        self.assertNotIn("At Most", line)

    def test_option_without_value(self):
        line = self.usage_line("query", "--db", self.db, "--limit")
        self.assertIn("--limit needs a value", line)
        self.assertNotIn("required", line)

    def test_help_hint_names_the_subcommand(self):
        self.assertIn("(see 'capdb query --help')", self.usage_line("query", "--bogus"))
        self.assertIn("(see 'capdb ingest --help')", self.usage_line("ingest", "--bogus", "x.pcap"))
        self.assertIn("(see 'capdb captures --help')", self.usage_line("captures", "--bogus"))

    def test_help_type_names_are_readable(self):
        for cmd in ("ingest", "query", "captures"):
            with self.subTest(cmd=cmd):
                text = self.ok(cmd, "--help").stdout
                for raw in ("INT:INT", "UINT", "SIZE [", "TEXT", "FLOAT", ":INT"):
                    self.assertNotIn(raw, text, "CLI11's type name %r in %s --help" % (raw, cmd))
        ingest = self.ok("ingest", "--help").stdout
        for want in ("--batch N", "--preview-bytes N", "--snaplen BYTES", "--buffer-size BYTES", "--count N",
                     "--duration SECONDS", "--db PATH"):
            self.assertIn(want, ingest)
        query = self.ok("query", "--help").stdout
        for want in ("--limit N", "--capture ID", "--from TIME", "--host ADDR", "--port PORT"):
            self.assertIn(want, query)


# ---------------------------------------------------------------------------
# Exit codes: one table in the code, the same in the README

class TestExitCodeTable(CapdbCase):
    def help_codes(self):
        text = self.ok("--help").stdout
        self.assertIn("\nExit codes:\n", text)
        rows = []
        for line in text.split("\nExit codes:\n", 1)[1].splitlines():
            m = re.match(r"^  (\d+)\s+(\S+)\s+(.+)$", line)
            if m:
                rows.append((int(m.group(1)), m.group(2), m.group(3).strip()))
        return rows

    def readme_codes(self):
        with open(os.path.join(lib.REPO, "README.md"), encoding="utf-8") as f:
            text = f.read()
        section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
        rows = []
        for line in section.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 3 and cells[0].isdigit():
                rows.append((int(cells[0]), cells[1].strip("`"), cells[2]))
        return rows

    def test_readme_table_agrees_with_help(self):
        help_rows = self.help_codes()
        self.assertGreaterEqual(len(help_rows), 10, "capdb --help lists the exit codes")
        self.assertEqual(self.readme_codes(), help_rows,
                         "README.md's 'Exit codes' table differs from `capdb --help` (capdb/error.h's kExitCodes)")

    def test_listed_codes_are_the_ones_used(self):
        codes = {c for c, _, _ in self.help_codes()}
        self.assertTrue({0, 1, 2, 3, 4, 5, 6, 7, 8, 130} <= codes, codes)
        self.assertEqual(self.capdb("ingest", "--db", self.db, td("truncated.pcap")).returncode, 4)
        self.assertIn(4, codes)


# ---------------------------------------------------------------------------
# capdb captures: a listing within 100 columns, --long, --format json

class TestCapturesListing(CapdbCase):
    WIDTH = 100

    def long_path(self):
        d = os.path.join(self.tmp, "a-rather-long-directory-name-for-captures", "and-another-level-of-nesting-here")
        os.makedirs(d)
        path = os.path.join(d, "the-capture-file-with-a-long-descriptive-name-2017-03-26.pcap")
        shutil.copy(td("eth_ipv4.pcap"), path)
        return path

    def test_default_fits_100_columns(self):
        path = self.long_path()
        self.ingest(path, td("eth_vlan.pcap"), td("truncated.pcap"), want=4)
        lines = self.ok("captures", "--db", self.db).stdout.splitlines()
        self.assertEqual(len(lines), 4, lines)
        for line in lines:
            self.assertLessEqual(len(line), self.WIDTH, "%d columns: %r" % (len(line), line))
        self.assertEqual(lines[0].split(), ["ID", "STATE", "PACKETS", "FIRST", "DURATION", "STORE", "FROM", "SOURCE"])
        first = lines[1].split()
        self.assertEqual(first[:3], ["1", "complete", str(n_records("eth_ipv4.pcap"))])
        self.assertEqual(first[3], "2017-03-26T01:40:02Z")
        self.assertRegex(first[4], r"^\d+\.\d{3}s$")
        self.assertEqual(first[5:7], ["-", "file"])
        self.assertIn("...", lines[1], "a long source is elided")
        self.assertTrue(lines[1].endswith("2017-03-26.pcap"), lines[1])
        self.assertTrue(lines[2].endswith(td("eth_vlan.pcap")) or "..." in lines[2], lines[2])
        self.assertEqual(lines[3].split()[1], "failed")

    def test_long_has_every_column(self):
        path = self.long_path()
        self.ingest(path)
        lines = self.ok("captures", "--db", self.db, "--long").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "STATE", "PACKETS", "IPV4", "IPV6", "OTHER", "MALFORMED",
                                            "FIRST", "LAST", "STORE_BYTES", "FROM", "SOURCE"])
        self.assertTrue(lines[1].endswith(path), lines[1])
        self.assertIn("2017-03-26T01:40:02.000000000Z", lines[1])

    def test_json(self):
        path = self.long_path()
        self.ingest(path, td("truncated.pcap"), want=4)
        p = self.ok("captures", "--db", self.db, "--format", "json")
        caps = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual(len(caps), 2)
        keys = {"id", "state", "source", "live", "filter", "linktype", "snaplen", "preview_bytes", "file_size",
                "sha256", "first_ts_ns", "last_ts_ns", "first_time", "last_time", "packets", "ipv4", "ipv6",
                "other", "malformed", "unsupported", "bytes", "received", "dropped_kernel", "dropped_iface",
                "packets_at", "file_present", "store_bytes", "started_at_ns", "error"}
        for c in caps:
            self.assertEqual(set(c), keys)
        a, b = caps
        self.assertEqual((a["id"], a["state"], a["source"], a["live"]), (1, "complete", path, False))
        self.assertIsNone(a["filter"])
        self.assertIsNone(a["received"])
        self.assertIsNone(a["error"])
        self.assertEqual(a["packets"], n_records("eth_ipv4.pcap"))
        self.assertEqual(a["packets"], self.count("--capture", "1"))
        self.assertEqual(a["file_size"], os.path.getsize(path))
        self.assertRegex(a["sha256"], r"^[0-9a-f]{64}$")
        self.assertEqual(a["first_time"], "2017-03-26T01:40:02.000000000Z")
        self.assertEqual(a["first_time"], lib.rfc3339_ns(a["first_ts_ns"]))
        self.assertEqual(a["linktype"], 1)
        self.assertEqual((a["packets_at"], a["file_present"], a["store_bytes"]), ("file", True, 0))
        os.unlink(path)
        (a, _) = [json.loads(line) for line in self.ok("captures", "--db", self.db, "--format", "json").stdout.splitlines()]
        self.assertEqual((a["packets_at"], a["file_present"]), ("file", False))
        self.assertIn("file:missing", self.ok("captures", "--db", self.db).stdout.splitlines()[1])
        self.assertEqual(a["ipv4"] + a["ipv6"] + a["other"] + a["malformed"] + a["unsupported"], a["packets"])
        self.assertEqual((b["state"], b["packets"]), ("failed", 5))
        self.assertIn("packet 6", b["error"])

    def test_json_escapes_sources(self):
        path = os.path.join(self.tmp, 'quote"back\\slash\x1b[31m.pcap')
        shutil.copy(td("eth_ipv4.pcap"), path)
        self.ingest(path)
        p = self.ok("captures", "--db", self.db, "--format", "json")
        self.assertNotIn("\x1b", p.stdout)
        (c,) = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertTrue(c["source"].endswith('quote"back\\\\slash\\x1b[31m.pcap'), c["source"])

    def test_bad_format(self):
        self.ingest(td("eth_ipv4.pcap"))
        p = self.capdb("captures", "--db", self.db, "--format", "xml")
        self.assertEqual(p.returncode, 2, lib.describe(p))

    def test_live_capture_fits(self):
        """A live capture with a long filter: the source keeps live:IFACE."""
        filt = " or ".join("udp port %d" % (9000 + i) for i in range(12))
        p = self.capdb("ingest", "--db", self.db, "-i", "lo", "--duration", "0.1", filt)
        if p.returncode in (7, 8):
            self.skipTest("cannot capture on lo here: " + p.stderr.strip())
        self.assertEqual(p.returncode, 0, lib.describe(p))
        self.ingest(self.long_path())
        lines = self.ok("captures", "--db", self.db).stdout.splitlines()
        for line in lines:
            self.assertLessEqual(len(line), self.WIDTH, "%d columns: %r" % (len(line), line))
        self.assertIn("live:lo filter 'ud", lines[1])
        self.assertTrue(lines[1].endswith("port 9011'"), lines[1])
        long_line = self.ok("captures", "--db", self.db, "--long").stdout.splitlines()[1]
        self.assertIn("live:lo filter '%s'" % filt, long_line)
        self.assertRegex(long_line, r"received \d+, dropped by kernel \d+, dropped by interface \d+")
        (c, _) = [json.loads(l) for l in self.ok("captures", "--db", self.db, "--format", "json").stdout.splitlines()]
        self.assertEqual((c["source"], c["live"], c["filter"]), ("lo", True, filt))
        self.assertIsInstance(c["received"], int)


