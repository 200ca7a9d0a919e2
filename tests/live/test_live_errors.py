#!/usr/bin/env python3
"""Live capture errors: each is one `capdb: error:` line naming the
interface, a documented exit code, and no capture row left behind. Needs
root (or capture capabilities); exits 77 otherwise."""

import os
import shlex
import shutil
import subprocess
import tempfile

import livelib as L
from livelib import expect

WORK = L.tempdir()
L.require_live_capture(WORK)

# A database that already holds one finished live capture: errors must add
# no row to it, and in particular leave none 'running'.
DB = os.path.join(WORK, "errors.db")
_r = L.run(["ingest", "-i", "lo", "--db", DB, "--duration", "0.2", "udp port 9"])
assert _r.returncode == 0, _r.stderr
BEFORE = L.captures(DB)

# The exit-8 advice, followed by the real path of the capdb that ran.
SETCAP = "sudo setcap cap_net_raw,cap_net_admin=eip "


def check_error(r, code, *needles):
    err = r.stderr
    expect(r.returncode == code, "exit %d, expected %d: %r" % (r.returncode, code, err))
    lines = err.splitlines()
    expect(len(lines) == 1 and lines[0].startswith("capdb: error: "), "one 'capdb: error:' line: %r" % err)
    for n in needles:
        expect(n in err, "%r not in %r" % (n, err))
    expect(r.stdout == "", "nothing on stdout: %r" % r.stdout)
    after = L.captures(DB)
    expect(after == BEFORE, "capture rows changed: %r" % after)


def live(*args):
    return L.run(["ingest", "--db", DB] + list(args), timeout=20)


def test_no_such_interface():
    r = live("-i", "capdbnosuch0", "--duration", "1")
    check_error(r, L.EXIT_DEVICE, "'capdbnosuch0'", "no such interface")


def test_no_such_interface_new_database():
    db = os.path.join(WORK, "never.db")
    r = L.run(["ingest", "--db", db, "--live", "capdbnosuch0"])
    expect(r.returncode == L.EXIT_DEVICE, "exit %d" % r.returncode)
    expect(not os.path.exists(db), "a failed capture creates no database")


def test_bad_filter():
    r = live("-i", "lo", "--filter", "udp port and")
    check_error(r, L.EXIT_DEVICE, "'lo'", "bad filter 'udp port and'", "syntax error")
    r = live("-i", "lo", "tcp", "port", "99999")  # trailing words
    check_error(r, L.EXIT_DEVICE, "'lo'", "bad filter 'tcp port 99999'", "port")


def test_unprintable_interface_name():
    r = live("-i", "bad\x1b[31mname")
    check_error(r, L.EXIT_DEVICE, "bad\\x1b[31mname")
    expect("\x1b" not in r.stderr, "control bytes escaped")


def test_usage_errors():
    for args, needle in [
        (["-i", "lo", "--snaplen", "0"], "--snaplen"),
        (["-i", "lo", "--snaplen", "262145"], "--snaplen"),
        (["-i", "lo", "--snaplen", "-1"], "snaplen"),
        (["-i", "lo", "--filter", "udp", "tcp"], "not both"),
        (["-i", "lo", "--count", "0"], "--count"),
        (["-i", "lo", "--count", "-3"], "--count"),
        (["-i", "lo", "--duration", "0"], "--duration"),
        (["-i", "lo", "--duration", "nan"], "--duration"),
        (["-i", "lo", "--buffer-size", "0"], "--buffer-size"),
        (["-i", "lo", "--buffer-size", "4g"], "--buffer-size"),
        (["-i", ""], "interface"),
        (["--duration", "2", os.path.join(WORK, "x.pcap")], "--live"),
        (["--no-promisc", os.path.join(WORK, "x.pcap")], "--live"),
    ]:
        r = live(*args)
        expect(r.returncode == L.EXIT_USAGE, "%r: exit %d: %r" % (args, r.returncode, r.stderr))
        expect(r.stderr.startswith("capdb: error: ") and needle in r.stderr, "%r: %r" % (args, r.stderr))
        expect(L.captures(DB) == BEFORE, "%r: capture rows changed" % (args,))


def unprivileged_prefix():
    """A command prefix that runs as nobody, or None."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    return None


def test_no_permission():
    prefix = unprivileged_prefix()
    if prefix is None:
        print("  skipped: not root, or no setpriv/runuser to become nobody")
        return
    probe = subprocess.run(prefix + [L.CAPDB, "--version"], capture_output=True, text=True, env=L.env())
    if probe.returncode != 0:
        print("  skipped: nobody cannot run %s: %s" % (L.CAPDB, probe.stderr.strip()))
        return
    r = subprocess.run(prefix + [L.CAPDB, "ingest", "--db", DB, "-i", "lo", "--duration", "1"],
                       capture_output=True, text=True, env=L.env(), timeout=20)
    check_error(r, L.EXIT_PERMISSION, "'lo'", "permission denied", SETCAP + os.path.realpath(L.CAPDB))


def as_nobody(command):
    """Starts a shell command as the user nobody (su from root), output piped."""
    return subprocess.Popen(["su", "nobody", "-s", "/bin/sh", "-c", command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=L.env())


def test_setcap_copy_captures_as_nobody():
    """A copy of capdb outside $PATH: as nobody it exits 8 and its advice names
    that copy; once setcap is run on it as advised, nobody captures with it."""
    if os.geteuid() != 0:
        print("  skipped: not root (needed to setcap a copy of capdb and to become nobody)")
        return
    missing = [tool for tool in ("setcap", "su") if not shutil.which(tool)]
    if missing:
        print("  skipped: %s not installed (setcap is in libcap2-bin)" % " and ".join(missing))
        return
    bindir = tempfile.mkdtemp(prefix="capdb-setcap-")
    os.chmod(bindir, 0o755)
    exe = os.path.join(bindir, "capdb")
    shutil.copy(L.CAPDB, exe)
    os.chmod(exe, 0o755)
    dbdir = tempfile.mkdtemp(prefix="capdb-setcap-db-")
    os.chmod(dbdir, 0o777)
    db = os.path.join(dbdir, "x.db")
    port = L.UdpPort()
    command = "%s ingest -i lo --count 1 --db %s 'udp port %d'" % (shlex.quote(exe), shlex.quote(db), port.port)
    try:
        probe = as_nobody(shlex.quote(exe) + " --version")
        out, err = probe.communicate(timeout=20)
        if probe.returncode != 0:
            print("  skipped: nobody cannot run %s: %s" % (exe, err.strip()))
            return

        denied = as_nobody(command)
        out, err = denied.communicate(timeout=20)
        expect(denied.returncode == L.EXIT_PERMISSION, "without the capability: exit %d: %r" % (denied.returncode, err))
        lines = err.splitlines()
        expect(len(lines) == 1 and lines[0].startswith("capdb: error: "), "one error line: %r" % err)
        expect(SETCAP + exe in err, "the advice names the copy that ran (%s): %r" % (exe, err))
        expect(not os.path.exists(db), "a refused capture creates no database")

        r = subprocess.run(["setcap", "cap_net_raw,cap_net_admin=eip", exe], capture_output=True, text=True)
        if r.returncode != 0:
            print("  skipped the capture half: setcap failed here (no file capabilities on %s?): %s"
                  % (bindir, r.stderr.strip()))
            return
        capture = as_nobody(command)
        L.wait_listening(capture)
        while capture.poll() is None:
            port.send(b"setcap")
            try:
                capture.wait(0.1)
            except subprocess.TimeoutExpired:
                pass
        rc, err = L.finish(capture, sig=None)
        expect(rc == 0, "with the capability: exit %d: %r" % (rc, err))
        rows = L.query_json(db)
        expect(len(rows) == 1 and rows[0]["dport"] == port.port, "the captured packet is stored: %r" % rows)
    finally:
        port.close()
        shutil.rmtree(bindir, ignore_errors=True)
        shutil.rmtree(dbdir, ignore_errors=True)


if __name__ == "__main__":
    L.run_tests([
        test_no_such_interface,
        test_no_such_interface_new_database,
        test_bad_filter,
        test_unprintable_interface_name,
        test_usage_errors,
        test_no_permission,
        test_setcap_copy_captures_as_nobody,
    ])
