"""pytest setup shared by capdb's Python suites: the shared helpers
(tests/integration/capdb_testlib.py) on the import path, fixtures for the
capdb binary, the test data and a temporary directory, and meson's exit code
for a file whose tests were all skipped."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import capdb_testlib as lib  # noqa: E402

MESON_SKIP = lib.SKIP


@pytest.fixture(scope="session")
def capdb():
    """The capdb binary (skips the tests that need it when there is none)."""
    return lib.capdb_path()


@pytest.fixture(scope="session")
def testdata():
    return lib.testdata_dir()


@pytest.fixture
def tmp():
    """A temporary directory, removed after the test (kept if CAPDB_KEEP_TMP is set)."""
    with lib.TempDir() as path:
        yield path


@pytest.fixture(autouse=True)
def stop_leftover_processes():
    """After each test, kills the capdb processes it started and left
    running (a live capture, say, when an assertion failed first)."""
    yield
    lib.stop_leftovers()


@pytest.fixture(scope="session")
def as_nobody(capdb):
    """The user to pass to capdb_testlib.run(user=...) to run capdb
    unprivileged; skips unless capdb can be run as nobody."""
    reason = lib.nobody_cannot_run_capdb()
    if reason:
        pytest.skip(reason)
    return "nobody"


@pytest.fixture
def nobody_tmp(as_nobody):
    """A temporary directory that user nobody may write in (mode 0777),
    removed after the test."""
    with lib.TempDir() as path:
        os.chmod(path, 0o777)
        yield path


@pytest.fixture
def ck():
    """Soft checks (capdb_testlib.Checks) for a test that checks many
    independent cases; the test ends with ck.done()."""
    return lib.Checks()


def pytest_sessionfinish(session, exitstatus):
    """A run in which nothing passed or failed but something was skipped
    (a module that skipped itself, or every test) exits 77, which meson
    shows as SKIP. A file that collects no test at all still exits 5, which
    meson counts as a failure."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = reporter.stats if reporter is not None else {}
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        return
    if stats.get("skipped") and not any(stats.get(k) for k in ("passed", "failed", "error", "xpassed")):
        session.exitstatus = MESON_SKIP
