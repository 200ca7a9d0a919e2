"""`capdb interfaces` lists the capture devices as `tcpdump -D` does (both
read them from the same libpcap). The comparison is skipped without tcpdump."""

import shutil
import subprocess

import pytest

import livelib as L


def test_same_as_tcpdump():
    tcpdump = shutil.which("tcpdump")
    if not tcpdump:
        pytest.skip("no tcpdump")
    # The device list can change while the two run (another test adding a
    # veth): compare until they agree, for 2 s at most.
    last = {}

    def agree():
        last["ours"] = L.run(["interfaces"], timeout=60)
        last["theirs"] = subprocess.run([tcpdump, "-D"], capture_output=True, text=True, timeout=60)
        return last["ours"].stdout == last["theirs"].stdout

    L.poll(agree, 2, 0.2)
    ours, theirs = last["ours"], last["theirs"]
    assert ours.returncode == 0, "exit %d: %s" % (ours.returncode, ours.stderr)
    assert ours.stdout == theirs.stdout, "capdb interfaces:\n%s\ntcpdump -D:\n%s" % (ours.stdout, theirs.stdout)
    assert any(".lo [" in l for l in ours.stdout.splitlines()), "lo is listed: %r" % ours.stdout


def test_lines_are_numbered():
    r = L.run(["interfaces"], timeout=60)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines, "exit %d: %r" % (r.returncode, r.stderr)
    for n, line in enumerate(lines, 1):
        assert line.startswith("%d." % n), "line %d: %r" % (n, line)
