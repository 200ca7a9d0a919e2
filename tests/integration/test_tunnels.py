"""Tunnel queries on the tunnel captures, against tshark's own dissection:

  * --tunnel T returns the packets whose first tunnel tshark names T;
  * --vni N / --teid N the packets whose outermost VXLAN/Geneve VNI or GTP
    TEID tshark reads as N;
  * --outer --host A the packets whose outermost IP header tshark gives A
    (with a tunnel inside), --inner --host A those whose innermost has A,
    and --host A either (README: "--inner, --outer");
  * the expression terms (`vxlan`, `vni N`, `outer host A`, `inner host A`)
    return the same packets as the flags.

Skipped without tshark.
"""

import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capdb_testlib as lib  # noqa: E402
import test_tshark_compare as cmp  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")

CAPTURES = ["tunnels.pcap", "tunnels_scapy.pcap", "vxlan_real.pcap", "vxlan6_real.pcap"]
# tshark's frame.protocols names -> capdb's --tunnel names.
TSHARK_TUNNEL = {"gtp": "gtp", "vxlan": "vxlan", "geneve": "geneve", "gre": "gre", "erspan": "erspan",
                 "mpls": "mpls", "pppoes": "pppoe", "nsh": "nsh"}


def tshark_frames(path):
    fields = ["frame.number", "frame.protocols", "vxlan.vni", "geneve.vni", "gtp.teid"]
    cmd = ["tshark", "-n", "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, LC_ALL="C"), check=True).stdout.decode()
    frames = {}
    for line in out.splitlines():
        v = (line.split("\t") + [""] * len(fields))[:len(fields)]
        frames[int(v[0])] = dict(zip(fields, v))
    return frames


def first_tunnel(protos):
    """capdb's name of the outermost tunnel in a frame.protocols list."""
    names = protos.split(":")
    ips = 0
    for i, n in enumerate(names):
        if n in ("icmp", "icmpv6"):
            return None
        if n in ("ip", "ipv6"):
            ips += 1
            # IP directly after an IP header (IP in IP, 6in4, 4in6).
            if ips > 1 and names[i - 1] in ("ip", "ipv6"):
                return "ipip"
        if n == "gre" and i + 1 < len(names) and names[i + 1] == "erspan":
            return "erspan"  # capdb's own type for GRE carrying ERSPAN
        if n in TSHARK_TUNNEL:
            return TSHARK_TUNNEL[n]
    return None


def packets(db, *args):
    q = lib.run(["query", "--db", db, "--format", "csv"] + list(args))
    assert q.returncode == 0, lib.describe(q)
    _, rows = lib.parse_csv(q.stdout)
    return sorted(int(r["packet"]) for r in rows)


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    out = {}
    for name in CAPTURES:
        path = os.path.join(lib.testdata_dir(), name)
        db = str(tmp_path_factory.mktemp("tun") / "t.db")
        assert not lib.ingest_fresh(path, db)
        out[name] = (path, db)
    return out


@pytest.mark.parametrize("name", CAPTURES)
def test_tunnel_types_and_ids(name, dbs):
    path, db = dbs[name]
    frames = tshark_frames(path)
    types = {n: first_tunnel(f["frame.protocols"]) for n, f in frames.items()}
    for t in sorted(set(v for v in types.values() if v)):
        want = sorted(n for n, v in types.items() if v == t)
        assert packets(db, "--tunnel", t) == want, t
        assert packets(db, t) == want, t  # the expression term
    assert packets(db, "--tunnel", "any") == sorted(n for n, v in types.items() if v)
    for n, f in frames.items():
        t = types[n]
        if t in ("vxlan", "geneve") and f["%s.vni" % t]:
            vni = int(f["%s.vni" % t], 0)
            want = sorted(m for m, g in frames.items() if types[m] in ("vxlan", "geneve")
                          and g["%s.vni" % types[m]] and int(g["%s.vni" % types[m]], 0) == vni)
            assert packets(db, "--vni", str(vni)) == want
            assert packets(db, "vni", str(vni)) == want
        if t == "gtp" and f["gtp.teid"]:
            teid = int(f["gtp.teid"], 0)
            want = sorted(m for m, g in frames.items() if types[m] == "gtp" and g["gtp.teid"]
                          and int(g["gtp.teid"], 0) == teid)
            assert packets(db, "--teid", str(teid)) == want


@pytest.mark.parametrize("name", CAPTURES)
def test_inner_and_outer_hosts(name, dbs):
    path, db = dbs[name]
    frames, _, _ = cmp.tshark_packets(path)
    inner, outer = {}, {}
    for f in frames:
        num = int(cmp.first(f, "frame.number"))
        exp = cmp.expected_from_tshark(f)
        inner[num] = {exp["src"], exp["dst"]} - {""}
        outer[num] = {exp["outer_src"], exp["outer_dst"]} - {""}
    addresses = sorted(set().union(*inner.values(), *outer.values()))
    assert addresses
    for a in addresses[:12]:
        want_inner = sorted(n for n, s in inner.items() if a in s)
        want_outer = sorted(n for n, s in outer.items() if a in s)
        assert packets(db, "--inner", "--host", a) == want_inner, a
        assert packets(db, "--outer", "--host", a) == want_outer, a
        assert packets(db, "--host", a) == sorted(set(want_inner) | set(want_outer)), a
        family = "ip6" if ":" in a else "ip"  # (without it, host also matches ARP's addresses)
        assert packets(db, "inner", family, "host", a) == want_inner, a
        assert packets(db, "outer", family, "host", a) == want_outer, a
