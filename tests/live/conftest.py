"""Fixtures of the live-capture tests (tests/conftest.py has the shared ones)."""

import os

import pytest

import capdb_testlib as lib
import livelib


@pytest.fixture(scope="module")
def work(capdb):
    """A temporary directory for a test file's databases, readable by an
    unprivileged user (test_live_errors runs capdb as nobody)."""
    with lib.TempDir() as path:
        os.chmod(path, 0o755)
        yield path


@pytest.fixture(scope="session")
def live_capture(capdb):
    """Skips unless this process may capture on lo (root, or capdb with
    cap_net_raw,cap_net_admin)."""
    with lib.TempDir() as path:
        reason = livelib.live_capture_refused(path)
    if reason:
        pytest.skip(reason)
