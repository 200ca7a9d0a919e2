#!/usr/bin/env python3
"""`capdb interfaces` lists the capture devices as `tcpdump -D` does (both
read them from the same libpcap). Exits 77 without tcpdump."""

import shutil
import subprocess
import time

import livelib as L
from livelib import expect


def test_same_as_tcpdump():
    tcpdump = shutil.which("tcpdump")
    if not tcpdump:
        print("  skipped: no tcpdump")
        return
    # The device list can change while the two run (another test adding a
    # veth): compare a few times before calling it a difference.
    for _ in range(3):
        ours = L.run(["interfaces"])
        theirs = subprocess.run([tcpdump, "-D"], capture_output=True, text=True)
        if ours.stdout == theirs.stdout:
            break
        time.sleep(0.5)
    expect(ours.returncode == 0, "exit %d: %s" % (ours.returncode, ours.stderr))
    expect(ours.stdout == theirs.stdout, "capdb interfaces:\n%s\ntcpdump -D:\n%s" % (ours.stdout, theirs.stdout))
    expect(any(".lo [" in l for l in ours.stdout.splitlines()), "lo is listed: %r" % ours.stdout)


def test_lines_are_numbered():
    r = L.run(["interfaces"])
    lines = r.stdout.splitlines()
    expect(r.returncode == 0 and lines, "exit %d: %r" % (r.returncode, r.stderr))
    for n, line in enumerate(lines, 1):
        expect(line.startswith("%d." % n), "line %d: %r" % (n, line))


if __name__ == "__main__":
    L.run_tests([test_same_as_tcpdump, test_lines_are_numbered])
