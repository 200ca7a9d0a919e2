"""ClickHouse servers for capdb's scale-out tests, run as ordinary processes:
loopback only, free non-default ports, data in a temporary directory,
configuration from the templates beside this file (server.xml.in,
users.xml.in, cluster.xml.in), ready when GET /ping answers "Ok.", stopped
by PID. Standard library only.

  with ClickHouseServer() as s:        # one node
      s.url("capdb")                   # clickhouse://127.0.0.1:PORT/capdb
  with ClickHouseCluster(2) as c:      # two servers, one cluster of 2 shards
      c.url("capdb")                   # ...?cluster=capdb_test

Without clickhouse-server on PATH, require_server() skips (see
capdb_testlib.skip) and says why.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import capdb_testlib as lib  # noqa: E402

CLUSTER = "capdb_test"
PASSWORD = "s3cret-Pa55"  # the "capdb" user's password (users.xml.in)
READY_SECONDS = 60


def server_binary():
    """The clickhouse-server executable, or None."""
    return shutil.which("clickhouse-server") or shutil.which("clickhouse-server", path="/usr/sbin:/usr/bin")


def require_server():
    """The server binary; skips the calling test or module when there is none."""
    path = server_binary()
    if not path:
        lib.skip("clickhouse-server is not installed (Debian: apt-get install clickhouse-server)")
    return path


def free_ports(n):
    """n distinct TCP ports on 127.0.0.1 that are free now."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def fill(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@%s@" % key, value)
    return text


class ClickHouseServer:
    """One server process. remote_servers: the text of <remote_servers>'s
    children (a cluster), empty for none."""

    def __init__(self, remote_servers="", ports=None):
        self.binary = require_server()
        self.http_port, self.tcp_port, self.interserver_port = ports or free_ports(3)
        self.remote_servers = remote_servers
        self.dir = None
        self.proc = None

    def url(self, database, user=None):
        who = (user + "@") if user else ""
        return "clickhouse://%s127.0.0.1:%d/%s" % (who, self.http_port, database)

    def ping(self, timeout=1.0):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/ping" % self.http_port, timeout=timeout) as r:
                return r.read() == b"Ok.\n"
        except OSError:
            return False

    def sql(self, query):
        """Runs one statement through the HTTP interface; its answer as text."""
        req = urllib.request.Request("http://127.0.0.1:%d/" % self.http_port, data=query.encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="capdb-clickhouse-")
        for sub in ("data", "tmp", "log", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub))
        values = {
            "DIR": self.dir,
            "HTTP_PORT": str(self.http_port),
            "TCP_PORT": str(self.tcp_port),
            "INTERSERVER_PORT": str(self.interserver_port),
            "REMOTE_SERVERS": self.remote_servers,
            "PASSWORD": PASSWORD,
        }
        config = os.path.join(self.dir, "config.xml")
        with open(config, "w") as f:
            f.write(fill("server.xml.in", values))
        with open(os.path.join(self.dir, "users.xml"), "w") as f:
            f.write(fill("users.xml.in", values))
        self.proc = subprocess.Popen(
            [self.binary, "--config-file=" + config],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.dir, "log", "stdout"), "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_SECONDS
        while not self.ping():
            if self.proc.poll() is not None:
                log = self.log_tail()
                self.stop()
                raise RuntimeError("clickhouse-server exited with %s:\n%s" % (self.proc.returncode, log))
            if time.monotonic() > deadline:
                log = self.log_tail()
                self.stop()
                raise RuntimeError("clickhouse-server did not answer /ping in %ds:\n%s" % (READY_SECONDS, log))
            time.sleep(0.1)
        return self

    def log_tail(self):
        out = []
        for name in ("stdout", "error.log"):
            path = os.path.join(self.dir or "", "log", name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out.append(f.read()[-3000:].decode(errors="replace"))
        return "\n".join(out)

    def kill(self):
        """SIGKILL, as a crash would; the data directory stays (restart())."""
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def restart(self):
        """Starts the process again on the same ports and data."""
        self.kill()
        config = os.path.join(self.dir, "config.xml")
        self.proc = subprocess.Popen(
            [self.binary, "--config-file=" + config], cwd=self.dir, stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.dir, "log", "stdout"), "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + READY_SECONDS
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("clickhouse-server did not restart:\n" + self.log_tail())
            time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.dir and not os.environ.get("CAPDB_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ClickHouseCluster:
    """n servers, each shard of one cluster (CLUSTER) with one replica."""

    def __init__(self, n=2):
        require_server()
        ports = free_ports(3 * n)
        self.port_sets = [ports[3 * i:3 * i + 3] for i in range(n)]
        shards = "\n".join(
            "            <shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>" % p[1]
            for p in self.port_sets)
        remote = fill("cluster.xml.in", {"CLUSTER": CLUSTER, "SHARDS": shards})
        self.servers = [ClickHouseServer(remote, p) for p in self.port_sets]

    def url(self, database):
        return self.servers[0].url(database) + "?cluster=" + CLUSTER

    def start(self):
        try:
            for s in self.servers:
                s.start()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for s in self.servers:
            s.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
