"""Golden-output test: capdb's line and CSV output for every test capture.

For each *.pcap / *.pcapng under testdata: ingest into a fresh database
(checking the exit code: 0, or 4 for truncated.pcap, 5 for
unsupported_link.pcap), run `capdb query` (line format) and
`capdb query --format csv`, and compare byte for byte with
expected/<capture>.line and expected/<capture>.csv (a unified diff on a
mismatch). Independently of the golden files, every run also checks that
the line output is the CSV output rendered as the spec says:

    Time: <floor(ts_ns / 1e9)>, <src> --> <dst>, <wirelen> bytes: [<PREVIEW HEX>...]

with the non-IP labels the spec names (ARP, LLDP, "ethertype 0x88b5",
"DLT 147", "EN10MB"), and that caplen / wirelen / timestamps / offsets /
preview bytes agree with the capture file itself (read by
capdb_testlib.read_capture, not by capdb). One pytest test per capture, and
one that no expected file is left without its capture.

Regenerating (by hand, never in CI):
    CAPDB=build/capdb python3 tests/integration/test_expected.py --regen [CAPTURE...]
writes the expected files, but refuses to write a capture's files when capdb
disagrees with tshark on it (test_tshark_compare) or with the checks above,
unless --force. Review every regenerated file (git diff) before committing:
an expected file is only as good as its review.
"""

import argparse
import difflib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402

try:
    import pytest
except ImportError:  # --regen by hand needs no pytest
    pytest = None

LINE_RE = re.compile(r"^Time: (-?\d+), (.+), (\d+) bytes: \[([0-9A-F]*)\.\.\.\]$")
ETHERTYPE_LABELS = {0x0806: "ARP", 0x88CC: "LLDP", 0x88B5: "ethertype 0x88b5"}
LINKTYPE_LABELS = {1: "EN10MB", 147: "DLT 147"}


def capture_outputs(path, tmp):
    """Ingests path into a fresh db; returns (line text, csv text, problems)."""
    db = os.path.join(tmp, "expected.db")
    problems = lib.ingest_fresh(path, db)
    line = lib.run(["query", "--db", db])
    if line.returncode != 0:
        problems.append("query (line) failed\n%s" % lib.describe(line))
    csvp = lib.run(["query", "--db", db, "--format", "csv"])
    if csvp.returncode != 0:
        problems.append("query --format csv failed\n%s" % lib.describe(csvp))
    return line.stdout, csvp.stdout, problems


def consistency_problems(path, line_text, csv_text):
    """Checks line vs CSV vs the capture file. Returns a list of problems."""
    problems = []
    header, rows = lib.parse_csv(csv_text)
    if header != lib.CSV_HEADER:
        return ["CSV header is %r, expected %r" % (header, lib.CSV_HEADER)]
    lines = line_text.splitlines()
    if len(lines) != len(rows):
        problems.append("%d lines but %d CSV rows" % (len(lines), len(rows)))
    info = lib.read_capture(path)
    records = {r.number: r for r in info.records}
    if len(rows) != len(info.records):
        problems.append("capdb has %d packets, the file has %d complete records"
                        % (len(rows), len(info.records)))
    prev_key = None
    for i, (text, row) in enumerate(zip(lines, rows)):
        where = "row %d (packet %s)" % (i + 1, row.get("packet"))
        try:
            ts_ns, number = int(row["ts_ns"]), int(row["packet"])
            caplen, wirelen = int(row["caplen"]), int(row["wirelen"])
        except ValueError as e:
            problems.append("%s: non-numeric field: %s" % (where, e))
            continue
        key = (ts_ns, int(row["capture"]), number)
        if prev_key is not None and key < prev_key:
            problems.append("%s: out of (time, capture, packet) order" % where)
        prev_key = key
        if row["ethertype"] == "0":
            # No frame carries EtherType 0; an absent one must be an empty field.
            problems.append("%s: ethertype 0 where it is absent (spec: empty fields when absent)" % where)
        if row["status"] not in lib.STATUSES:
            problems.append("%s: unknown status %r" % (where, row["status"]))
        if row["time"] != lib.rfc3339_ns(ts_ns):
            problems.append("%s: time %r does not match ts_ns %d (%s)"
                            % (where, row["time"], ts_ns, lib.rfc3339_ns(ts_ns)))
        rec = records.get(number)
        if rec is None:
            problems.append("%s: no record %d in the file" % (where, number))
        else:
            for col, want in (("ts_ns", rec.ts_ns), ("caplen", rec.caplen), ("wirelen", rec.wirelen),
                              ("offset", rec.offset)):
                if row[col] != str(want):
                    problems.append("%s: %s is %r, the file says %d" % (where, col, row[col], want))
            want_preview = rec.data[:16].hex()
            if row["preview"].lower() != want_preview:
                problems.append("%s: preview %r, the file's first %d bytes are %s"
                                % (where, row["preview"], min(16, rec.caplen), want_preview))
        m = LINE_RE.match(text)
        if not m:
            problems.append("%s: line does not have the spec's shape: %r" % (where, text))
            continue
        t, middle, wl, pv = m.groups()
        if int(t) != ts_ns // 10**9:
            problems.append("%s: line time %s, expected floor(%d / 1e9) = %d" % (where, t, ts_ns, ts_ns // 10**9))
        if wl != row["wirelen"]:
            problems.append("%s: line wire length %s, CSV %s" % (where, wl, row["wirelen"]))
        if pv != row["preview"].upper():
            problems.append("%s: line preview %s, CSV %s" % (where, pv, row["preview"]))
        if row["src"]:
            want_mid = "%s --> %s" % (row["src"], row["dst"])
            if middle != want_mid:
                problems.append("%s: line shows %r, expected %r" % (where, middle, want_mid))
        else:
            want_label = None
            if row["status"] == "non_ip" and row["ethertype"]:
                want_label = ETHERTYPE_LABELS.get(int(row["ethertype"]))
            elif row["status"] in ("unsupported", "truncated", "malformed") and rec is not None:
                want_label = LINKTYPE_LABELS.get(rec.linktype)
            if want_label is not None and middle != want_label:
                problems.append("%s: label %r, expected %r" % (where, middle, want_label))
            if "-->" in middle:
                problems.append("%s: line shows addresses %r but CSV has none" % (where, middle))
    return problems


def diff(expected, actual, name):
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                        "expected/" + name, "capdb output"))


def expected_name(path):
    """The base name of a capture's expected files: its path under testdata
    with '__' for the directory separators."""
    return os.path.relpath(path, lib.testdata_dir()).replace(os.sep, "__")


def golden_problems(name, line_text, csv_text, exp_dir):
    """Differences between capdb's outputs and the expected files."""
    problems = []
    for ext, text in (("line", line_text), ("csv", csv_text)):
        exp_path = os.path.join(exp_dir, "%s.%s" % (name, ext))
        try:
            with open(exp_path, newline="") as f:
                expected = f.read()
        except FileNotFoundError:
            problems.append("missing %s (generate with --regen, then review it)" % exp_path)
            continue
        if expected != text:
            problems.append("%s output differs from %s:\n%s"
                            % (ext, exp_path, diff(expected, text, "%s.%s" % (name, ext))))
    return problems


def stale_expected_files(paths, exp_dir):
    """Expected files in exp_dir for which no capture in paths exists."""
    names = {expected_name(p) for p in paths}
    return [f for f in sorted(os.listdir(exp_dir))
            if os.path.splitext(f)[1] in (".line", ".csv") and os.path.splitext(f)[0] not in names]


if pytest is not None:
    CAPTURES = lib.capture_files()

    def test_testdata_has_captures():
        assert CAPTURES, "no captures found under %s" % lib.testdata_dir()

    @pytest.mark.parametrize("path", CAPTURES, ids=expected_name)
    def test_capture_output(path, capdb, tmp):
        name = expected_name(path)
        line_text, csv_text, problems = capture_outputs(path, tmp)
        problems += consistency_problems(path, line_text, csv_text)
        problems += golden_problems(name, line_text, csv_text, lib.expected_dir())
        assert not problems, "%s:\n%s" % (name, "\n".join(problems))

    def test_no_stale_expected_files():
        stale = stale_expected_files(CAPTURES, lib.expected_dir())
        assert not stale, "expected files without a capture in testdata (stale?): %s" % stale


def main():
    ap = argparse.ArgumentParser(description="capdb golden outputs: write the expected files (run the test "
                                             "itself with pytest)")
    ap.add_argument("--regen", action="store_true", required=True,
                    help="write the expected files (then review them!)")
    ap.add_argument("--force", action="store_true",
                    help="write even when capdb disagrees with tshark or the checks")
    ap.add_argument("captures", nargs="*", help="capture names or paths (default: all of testdata)")
    args = ap.parse_args()
    lib.capdb_path()
    exp_dir = lib.expected_dir()
    paths = lib.capture_files()
    if args.captures:
        wanted = {os.path.basename(c) for c in args.captures}
        paths = [p for p in paths if os.path.basename(p) in wanted]
    if not paths:
        print("FAIL: no captures found under %s" % lib.testdata_dir())
        return 1
    report = lib.Failures("expected_output")
    import test_tshark_compare as tshark_cmp
    if not tshark_cmp.tshark_available():
        print("WARNING: tshark is missing: regenerated files are NOT checked against tshark")
        tshark_cmp = None
    os.makedirs(exp_dir, exist_ok=True)
    with lib.TempDir() as tmp:
        for path in paths:
            name = expected_name(path)
            line_text, csv_text, problems = capture_outputs(path, tmp)
            problems += consistency_problems(path, line_text, csv_text)
            if tshark_cmp is not None:
                _, _, tp = tshark_cmp.compare_capture(path, tmp)
                problems += ["tshark: " + x for x in tp]
            if problems and not args.force:
                for pr in problems:
                    report.fail("%s: %s" % (name, pr), name)
                print("NOT written: expected/%s.{line,csv} (capdb output disagrees; --force to override)" % name)
                continue
            for ext, text in (("line", line_text), ("csv", csv_text)):
                with open(os.path.join(exp_dir, "%s.%s" % (name, ext)), "w", newline="") as f:
                    f.write(text)
            report.ok("wrote expected/%s.{line,csv}%s" % (name, " (with problems, --force)" if problems else ""))
    print("\nReview the regenerated files (git diff %s) before committing them." % exp_dir)
    return report.report()


if __name__ == "__main__":
    sys.exit(main())
