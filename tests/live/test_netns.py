"""Live capture on a quiet test host: a veth pair whose far end sits in a
network namespace made for the test (link-local 169.254.77.0/30 addresses
that exist only inside this machine, IPv6 off so that no neighbour discovery
adds noise). Captures without a filter, and checks what happens when the
interface disappears mid-capture. Skipped without root or namespaces."""

import os
import socket
import subprocess
import sys
import time

import pytest

import livelib as L

pytestmark = pytest.mark.usefixtures("live_capture", "veth")

PID = os.getpid() % 100000
NS = "capdb-test-%d" % PID
HOST_IF, PEER_IF = "cdb%dh" % PID, "cdb%dn" % PID
HOST_IP, PEER_IP = "169.254.77.1", "169.254.77.2"
PORT = 40000 + PID % 20000

SENDER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    s.sendto(b"n" * (i + 1), (sys.argv[2], int(sys.argv[3])))
    time.sleep(0.01)  # traffic at a rate
"""


def sh(*args, check=True):
    return subprocess.run(list(args), capture_output=True, text=True, check=check)


def in_ns(*args, check=True):
    return sh("ip", "netns", "exec", NS, *args, check=check)


def make_test_host():
    """Creates the veth pair and the namespace; returns why it cannot (a
    reason to skip), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if sh("ip", "netns", "add", NS, check=False).returncode != 0:
        return "cannot create a network namespace"
    try:
        sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NS)
        with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % HOST_IF, "w") as f:
            f.write("1")
        in_ns("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" % PEER_IF)
        sh("ip", "addr", "add", HOST_IP + "/30", "dev", HOST_IF)
        in_ns("ip", "addr", "add", PEER_IP + "/30", "dev", PEER_IF)
        sh("ip", "link", "set", HOST_IF, "up")
        in_ns("ip", "link", "set", PEER_IF, "up")
        in_ns("ip", "link", "set", "lo", "up")
        L.wait_until(lambda: open("/sys/class/net/%s/operstate" % HOST_IF).read().strip() == "up", 5,
                     "the veth to come up", 0.05)
    except (subprocess.CalledProcessError, OSError, AssertionError) as e:
        remove_test_host()
        return "cannot set up the veth test host: %s" % (getattr(e, "stderr", None) or e)
    return None


def remove_test_host():
    sh("ip", "link", "del", HOST_IF, check=False)
    sh("ip", "netns", "del", NS, check=False)


@pytest.fixture(scope="module")
def veth(live_capture):
    reason = make_test_host()
    if reason:
        pytest.skip(reason)
    yield
    remove_test_host()


def send_from_ns(n):
    in_ns(sys.executable, "-c", SENDER, str(n), HOST_IP, str(PORT))


def test_quiet_host_no_filter(work):
    db = os.path.join(work, "veth.db")
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind((HOST_IP, PORT))  # no ICMP port-unreachable replies
    proc = L.start(["ingest", "-i", HOST_IF, "--db", db])
    L.wait_listening(proc)
    n = 25
    send_from_ns(n)
    L.wait_until(lambda: len(L.query_json(db, "--port", str(PORT))) >= n, 3, "%d datagrams to be stored" % n)
    rc, err = L.finish(proc)
    receiver.close()
    assert rc == 0, "exit %d: %s" % (rc, err)
    rows = L.query_json(db)
    udp = [r for r in rows if r["proto"] == 17]
    rest = [r for r in rows if r["proto"] != 17]
    assert len(udp) == n, "%d UDP rows, expected %d" % (len(udp), n)
    for i, r in enumerate(udp):
        assert r["src"] == PEER_IP and r["dst"] == HOST_IP and r["dport"] == PORT, "row %d: %r" % (i, r)
        assert r["wirelen"] == L.LO_UDP_OVERHEAD + i + 1, "row %d length: %r" % (i, r)
    assert all(r["ethertype"] == 0x0806 for r in rest), "only ARP besides the datagrams: %r" % rest
    caps = L.captures(db)
    assert caps[0]["state"] == "complete" and caps[0]["received"] == len(rows) and caps[0]["dropped_kernel"] == 0, (
        "stats on a quiet interface count exactly the captured packets: %r" % caps[0])
    assert ("%d packets captured\n%d packets received by filter\n0 packets dropped by kernel\n" % (len(rows), len(rows))
           in err), "tcpdump-style summary: %r" % err


def test_interface_disappears(work):
    db = os.path.join(work, "gone.db")
    proc = L.start(["ingest", "-i", HOST_IF, "--db", db, "udp"])
    L.wait_listening(proc)
    send_from_ns(3)
    L.wait_until(lambda: len(L.query_json(db)) >= 3, 3, "3 datagrams to be stored")
    t0 = time.monotonic()
    sh("ip", "link", "del", HOST_IF)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("capdb did not notice that its interface disappeared")
    rc, err = L.finish(proc, sig=None)
    print("  noticed after %.3f s: %s" % (time.monotonic() - t0, err.strip().splitlines()[-1]))
    assert rc == L.EXIT_DEVICE, "exit %d, expected 7: %r" % (rc, err)
    assert "capdb: error: capture on '%s' failed: " % HOST_IF in err, "error names the interface: %r" % err
    caps = L.captures(db)
    assert caps[0]["state"] == "failed" and caps[0]["packets"] == 3, "capture row failed, packets kept: %r" % caps
    assert len(L.query_json(db)) == 3, "the 3 packets stay queryable"

