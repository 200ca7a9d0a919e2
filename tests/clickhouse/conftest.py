"""Fixtures of the ClickHouse tests: a single server and a 2-shard cluster
per module (clickhouse_fixture.py), skipped with the reason when
clickhouse-server is not installed."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clickhouse_fixture as chf  # noqa: E402


@pytest.fixture(scope="module")
def clickhouse():
    """One ClickHouse server (clickhouse_fixture.ClickHouseServer)."""
    with chf.ClickHouseServer() as server:
        yield server


@pytest.fixture(scope="module")
def clickhouse_cluster():
    """Two servers forming the 2-shard cluster chf.CLUSTER."""
    with chf.ClickHouseCluster(2) as cluster:
        yield cluster
