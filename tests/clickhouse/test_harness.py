"""The test servers themselves: one node answers, and the two of the
cluster see each other through remote_servers."""

import clickhouse_fixture as chf


def test_single_server_answers(clickhouse):
    assert clickhouse.ping()
    assert clickhouse.sql("SELECT 1 + 1").strip() == "2"


def test_cluster_has_two_shards(clickhouse_cluster):
    first = clickhouse_cluster.servers[0]
    rows = first.sql("SELECT shard_num, port FROM system.clusters WHERE cluster = '%s' ORDER BY shard_num" % chf.CLUSTER)
    ports = [int(line.split("\t")[1]) for line in rows.strip().splitlines()]
    assert ports == [p[1] for p in clickhouse_cluster.port_sets]
    # A query through the cluster reaches both servers.
    hosts = first.sql("SELECT count() FROM remote('127.0.0.1:%d,127.0.0.1:%d', system.one)" %
                      tuple(p[1] for p in clickhouse_cluster.port_sets))
    assert hosts.strip() == "2"
