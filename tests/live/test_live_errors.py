"""Live capture errors: each is one `capdb: error:` line naming the
interface, a documented exit code, and no capture row left behind. Needs
root (or capture capabilities); skipped otherwise."""

import os
import shlex
import shutil
import subprocess

import pytest

import capdb_testlib as lib
import livelib as L

pytestmark = pytest.mark.usefixtures("live_capture")

# The exit-8 advice, followed by the real path of the capdb that ran.
SETCAP = "sudo setcap cap_net_raw,cap_net_admin=eip "


class ErrorsDb:
    """A database that already holds one finished live capture: errors must
    add no row to it, and in particular leave none 'running'."""

    def __init__(self, work):
        self.path = os.path.join(work, "errors.db")
        r = L.run(["ingest", "-i", "lo", "--db", self.path, "--duration", "0.2", "udp port 9"])
        assert r.returncode == 0, r.stderr
        self.before = L.captures(self.path)


@pytest.fixture(scope="module")
def errors_db(work, live_capture):
    return ErrorsDb(work)


@pytest.fixture
def live(errors_db):
    """Runs `capdb ingest --db <errors_db> ARGS...`."""
    return lambda *args: L.run(["ingest", "--db", errors_db.path] + list(args), timeout=20)


def check_error(errors_db, r, code, *needles):
    err = r.stderr
    assert r.returncode == code, "exit %d, expected %d: %r" % (r.returncode, code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("capdb: error: "), "one 'capdb: error:' line: %r" % err
    for n in needles:
        assert n in err, "%r not in %r" % (n, err)
    assert r.stdout == "", "nothing on stdout: %r" % r.stdout
    after = L.captures(errors_db.path)
    assert after == errors_db.before, "capture rows changed: %r" % after


def test_no_such_interface(errors_db, live):
    r = live("-i", "capdbnosuch0", "--duration", "1")
    check_error(errors_db, r, L.EXIT_DEVICE, "'capdbnosuch0'", "no such interface")


def test_no_such_interface_new_database(work):
    db = os.path.join(work, "never.db")
    r = L.run(["ingest", "--db", db, "--live", "capdbnosuch0"])
    assert r.returncode == L.EXIT_DEVICE, "exit %d" % r.returncode
    assert not os.path.exists(db), "a failed capture creates no database"


def test_bad_filter(errors_db, live):
    r = live("-i", "lo", "--filter", "udp port and")
    check_error(errors_db, r, L.EXIT_DEVICE, "'lo'", "bad filter 'udp port and'", "syntax error")
    r = live("-i", "lo", "tcp", "port", "99999")  # trailing words
    check_error(errors_db, r, L.EXIT_DEVICE, "'lo'", "bad filter 'tcp port 99999'", "port")


def test_unprintable_interface_name(errors_db, live):
    r = live("-i", "bad\x1b[31mname")
    check_error(errors_db, r, L.EXIT_DEVICE, "bad\\x1b[31mname")
    assert "\x1b" not in r.stderr, "control bytes escaped"


def test_usage_errors(errors_db, live, work):
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
        (["--duration", "2", os.path.join(work, "x.pcap")], "--live"),
        (["--no-promisc", os.path.join(work, "x.pcap")], "--live"),
    ]:
        r = live(*args)
        assert r.returncode == L.EXIT_USAGE, "%r: exit %d: %r" % (args, r.returncode, r.stderr)
        assert r.stderr.startswith("capdb: error: ") and needle in r.stderr, "%r: %r" % (args, r.stderr)
        assert L.captures(errors_db.path) == errors_db.before, "%r: capture rows changed" % (args,)


def test_no_permission(errors_db, as_nobody):
    r = L.run(["ingest", "--db", errors_db.path, "-i", "lo", "--duration", "1"], user=as_nobody, timeout=20)
    check_error(errors_db, r, L.EXIT_PERMISSION, "'lo'", "permission denied", SETCAP + os.path.realpath(lib.capdb_path()))


def as_nobody_sh(command):
    """Starts a shell command as the user nobody (su from root), output piped."""
    return subprocess.Popen(["su", "nobody", "-s", "/bin/sh", "-c", command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=lib.clean_env())


def test_setcap_copy_captures_as_nobody(as_nobody):
    """A copy of capdb outside $PATH: as nobody it exits 8 and its advice names
    that copy; once setcap is run on it as advised, nobody captures with it."""
    if os.geteuid() != 0:
        pytest.skip("not root (needed to setcap a copy of capdb and to become nobody)")
    missing = [tool for tool in ("setcap", "su") if not shutil.which(tool)]
    if missing:
        pytest.skip("%s not installed (setcap is in libcap2-bin)" % " and ".join(missing))
    with lib.TempDir() as bindir, lib.TempDir() as dbdir:
        os.chmod(bindir, 0o755)
        exe = os.path.join(bindir, "capdb")
        shutil.copy(lib.capdb_path(), exe)
        os.chmod(exe, 0o755)
        os.chmod(dbdir, 0o777)
        db = os.path.join(dbdir, "x.db")
        port = L.UdpPort()
        command = "%s ingest -i lo --count 1 --db %s 'udp port %d'" % (shlex.quote(exe), shlex.quote(db), port.port)
        try:
            denied = as_nobody_sh(command)
            _, err = denied.communicate(timeout=20)
            assert denied.returncode == L.EXIT_PERMISSION, "without the capability: exit %d: %r" % (
                denied.returncode, err)
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("capdb: error: "), "one error line: %r" % err
            assert SETCAP + exe in err, "the advice names the copy that ran (%s): %r" % (exe, err)
            assert not os.path.exists(db), "a refused capture creates no database"

            r = subprocess.run(["setcap", "cap_net_raw,cap_net_admin=eip", exe], capture_output=True, text=True)
            if r.returncode != 0:
                pytest.skip("setcap failed here (no file capabilities on %s?): %s" % (bindir, r.stderr.strip()))
            capture = as_nobody_sh(command)
            L.wait_listening(capture)
            while capture.poll() is None:
                port.send(b"setcap")
                try:
                    capture.wait(0.1)  # pacing: one datagram per 100 ms until the capture ends
                except subprocess.TimeoutExpired:
                    pass
            rc, err = L.finish(capture, sig=None)
            assert rc == 0, "with the capability: exit %d: %r" % (rc, err)
            rows = L.query_json(db)
            assert len(rows) == 1 and rows[0]["dport"] == port.port, "the captured packet is stored: %r" % rows
        finally:
            port.close()
