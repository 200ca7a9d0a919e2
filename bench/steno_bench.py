#!/usr/bin/env python3
"""Live capture into capdb's packet store against Google Stenographer, on a
veth pair between two network namespaces.

Traffic is sent from one namespace (capdb-tx) into a veth pair; the capture
tools listen on the peer in the other namespace (capdb-rx). The frames are
live_bench.py's generated Ethernet/IPv4/UDP frames to a MAC address that is
not the receiver's, so the kernel drops them after the capture taps have seen
them. For each rate of a ladder, a tool passes when every packet sent can be
retrieved from it afterwards (capdb: `query --count`, and `query -w` read back;
Stenographer: `stenoread`, through its HTTPS server), with no kernel drops
reported (capdb). The highest passing rate is the tool's zero-drop rate; a tool
stops climbing at its first failing rate.

Reported per tool: zero-drop rate, CPU seconds per million packets (capdb: the
ingest process; Stenographer: stenographer and stenotype together), disk bytes
per packet (database, WAL and packet store; Stenographer's packet and index
directories), and the seconds from the last packet sent until all of them are
retrievable.

Both tools get the same kernel capture buffer unless told otherwise
(--buffer-mib for capdb, --steno-blocks for stenotype): stenotype's own
default ring is 2048 blocks of 1 MiB, which holds several seconds of traffic
at these rates, so that short trials would measure the ring, not the tool.
The default, 128 MiB each, is stenotype's smallest ring with its default
number of asynchronous writes (128, one per block at most).

"Alone": each tool captures by itself. "Side by side": both capture the same
interface at once, at the same rate.

Needs root, iproute2, tcpdump, and the Debian packages stenographer and
stenographer-client (the Stenographer half is skipped, with a note, when they
are missing). Run by hand:
    sudo python3 bench/steno_bench.py --capdb build/capdb
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import live_bench  # noqa: E402  (the frame generator and the sender)

NS_TX, NS_RX = "capdb-tx", "capdb-rx"
IF_TX, IF_RX = "cdbtx0", "cdbrx0"


def run(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


def setup_veth():
    teardown_veth()
    run("ip", "netns", "add", NS_TX)
    run("ip", "netns", "add", NS_RX)
    run("ip", "link", "add", IF_TX, "netns", NS_TX, "type", "veth", "peer", "name", IF_RX, "netns", NS_RX)
    for ns, iface in ((NS_TX, IF_TX), (NS_RX, IF_RX), (NS_TX, "lo"), (NS_RX, "lo")):
        run("ip", "-n", ns, "link", "set", iface, "up")


def teardown_veth():
    for ns in (NS_TX, NS_RX):
        run("ip", "netns", "del", ns, check=False)


def dir_bytes(*paths):
    total = 0
    for p in paths:
        if os.path.isfile(p):
            total += os.path.getsize(p)
        elif os.path.isdir(p):
            for root, _, files in os.walk(p):
                for f in files:
                    try:
                        total += os.path.getsize(os.path.join(root, f))
                    except FileNotFoundError:
                        pass
    return total


def pcap_packets(path):
    """Packets in a classic pcap file (either byte order)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return 0
    magic = struct.unpack_from("<I", data, 0)[0]
    order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    n, off = 0, 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from(order + "I", data, off + 8)[0]
        off += 16 + caplen
        if off <= len(data):
            n += 1
    return n


def proc_cpu(pid):
    """utime + stime of a process (seconds), children it waited for included."""
    try:
        fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are 14-17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def children(pid):
    try:
        return [int(p) for p in open("/proc/%d/task/%d/children" % (pid, pid)).read().split()]
    except FileNotFoundError:
        return []


class Capdb:
    name = "capdb"

    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir

    def start(self):
        self.db = os.path.join(self.workdir, "capdb.db")
        for p in (self.db, self.db + "-wal", self.db + "-shm"):
            if os.path.exists(p):
                os.unlink(p)
        shutil.rmtree(self.db + ".packets", ignore_errors=True)
        argv = ["ip", "netns", "exec", NS_RX, self.args.capdb, "ingest", "-i", IF_RX, "--db", self.db,
                "--buffer-size", "%dm" % self.args.buffer_mib, "--filter", self.args.filter]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines = []
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(15) or self.proc.poll() is not None:
            self.proc.kill()
            raise SystemExit("capdb did not start: %s" % "".join(self.lines))

    def retrievable(self):
        q = run(self.args.capdb, "query", "--db", self.db, "--count", check=False)
        return int(q.stdout.strip()) if q.returncode == 0 and q.stdout.strip().isdigit() else -1

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(self.proc.pid, 0)
        time.sleep(0.05)
        stats = live_bench.summary_numbers("".join(self.lines))
        out = os.path.join(self.workdir, "capdb-out.pcap")
        w = run(self.args.capdb, "query", "--db", self.db, "-w", out, check=False)
        exported = pcap_packets(out) if w.returncode == 0 else -1
        return {"exit": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime,
                "dropped": stats["dropped"], "exported": exported,
                "disk": dir_bytes(self.db, self.db + "-wal", self.db + ".packets")}


class Stenographer:
    name = "stenographer"

    def __init__(self, args, workdir):
        self.args, self.workdir = args, os.path.join(workdir, "steno")

    def flags(self):
        """stenotype's flags: its ring as --steno-blocks blocks of 1 MiB."""
        blocks = self.args.steno_blocks
        if not blocks:
            return []
        # stenotype keeps at most one asynchronous write per block (its
        # --aiops, 128 by default, must not exceed --blocks).
        return ["--blocks=%d" % blocks, "--aiops=%d" % min(blocks, 128)]

    def start(self):
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.pk, self.ix = os.path.join(self.workdir, "packets"), os.path.join(self.workdir, "index")
        os.makedirs(self.pk)
        os.makedirs(self.ix)
        user = pwd.getpwnam("stenographer")
        for d in (self.workdir, self.pk, self.ix):
            os.chown(d, user.pw_uid, user.pw_gid)
        self.config = os.path.join(self.workdir, "config")
        with open(self.config, "w") as f:
            f.write('{"Threads": [{"PacketsDirectory": "%s", "IndexDirectory": "%s", "MaxDirectoryFiles": 30000,'
                    ' "DiskFreePercentage": 1}], "StenotypePath": "/usr/sbin/stenotype", "Interface": "%s",'
                    ' "Port": %d, "Host": "127.0.0.1", "Flags": %s, "CertPath": "/etc/stenographer/certs"}\n' % (
                        self.pk, self.ix, IF_RX, self.args.steno_port, json.dumps(self.flags())))
        self.log = open(os.path.join(self.workdir, "log"), "w")
        argv = ["ip", "netns", "exec", NS_RX, "setpriv", "--reuid", "stenographer", "--regid", "stenographer",
                "--init-groups", "/usr/sbin/stenographer", "-config", self.config, "-syslog=false"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir)
        # Ready when stenotype has opened its first (hidden) packet file.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(n.startswith(".") for n in os.listdir(self.pk)):
                break
            time.sleep(0.2)
        else:
            self.kill()
            raise SystemExit("stenographer did not start; see %s" % self.log.name)
        time.sleep(1.0)
        self.cpu0 = self.cpu()

    def cpu(self):
        # ip netns exec execs setpriv, which execs stenographer: self.proc.pid is stenographer.
        return proc_cpu(self.proc.pid) + sum(proc_cpu(c) for c in children(self.proc.pid))

    def retrievable(self):
        out = os.path.join(self.workdir, "out.pcap")
        env = dict(os.environ, STENOGRAPHER_CONFIG=self.config)
        r = subprocess.run(["ip", "netns", "exec", NS_RX, "stenoread", "port %d" % self.args.port, "-w", out],
                           env=env, capture_output=True, text=True, timeout=120)
        return pcap_packets(out) if r.returncode == 0 and os.path.exists(out) else -1

    def kill(self):
        # stenotype, listed first: once stenographer exits on SIGTERM its
        # child is no longer its child, and often keeps running.
        kids = set(children(self.proc.pid))
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
        for c in kids | set(children(self.proc.pid)):
            try:
                os.kill(c, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        cpu = self.cpu() - self.cpu0
        disk = dir_bytes(self.pk, self.ix)
        self.kill()
        return {"exit": 0, "cpu": cpu, "dropped": None, "exported": None, "disk": disk}


def trial(tools, rate, args, pcap):
    """Runs tools side by side while rate * seconds packets are sent."""
    count = max(int(rate * args.seconds), 10_000)
    for t in tools:
        t.start()
    time.sleep(0.3)
    r = run("ip", "netns", "exec", NS_TX, sys.executable, os.path.join(HERE, "live_bench.py"), "--send", pcap,
            "--iface", IF_TX, "--rate", str(rate), "--count", str(count), check=False)
    m = re.search(r"sent (\d+) packets \((\d+) bytes\) in ([\d.]+) seconds", r.stdout)
    if r.returncode != 0 or not m:
        for t in tools:
            t.stop()
        raise SystemExit("sender failed: %s%s" % (r.stdout, r.stderr))
    sent, secs = int(m.group(1)), float(m.group(3))
    t_sent = time.monotonic()
    results = []
    pending = {t.name: t for t in tools}
    latency, got = {}, {}
    deadline = t_sent + args.queryable_timeout
    while pending and time.monotonic() < deadline:
        for name, t in list(pending.items()):
            got[name] = t.retrievable()
            if got[name] >= sent:
                latency[name] = time.monotonic() - t_sent
                del pending[name]
        if pending:
            time.sleep(0.2 if all(n == "capdb" for n in pending) else 2.0)
    for t in tools:
        s = t.stop()
        ok = (s["exit"] == 0 and got.get(t.name, -1) >= sent and s["dropped"] in (0, None)
              and s["exported"] in (None, sent))
        res = {"tool": t.name, "rate": rate, "sent": sent, "pps": sent / secs, "ok": ok,
               "latency": latency.get(t.name), "retrieved": got.get(t.name), **s}
        results.append(res)
        print("  %-12s %7d pps requested, %8.0f sent/s: retrievable %8s of %8d, dropped %5s, exported %8s,"
              " cpu %6.2f s, disk %5.1f B/pkt, queryable after %s  %s" % (
                  t.name, rate, res["pps"], res["retrieved"], sent, s["dropped"], s["exported"], s["cpu"],
                  s["disk"] / sent, "%.1f s" % res["latency"] if res["latency"] is not None else "-",
                  "ok" if ok else "FAIL"), flush=True)
    return results


def ladder(tools, args, pcap, label):
    print("%s:" % label, flush=True)
    best = {t.name: None for t in tools}
    active = list(tools)
    for rate in args.rates:
        if not active:
            break
        for res in trial(active, rate, args, pcap):
            if res["ok"]:
                best[res["tool"]] = res
        active = [t for t in active if best[t.name] is not None and best[t.name]["rate"] == rate]
    return best


def table(best, label):
    print()
    print("| %s | zero-drop rate | CPU s per 1M packets | disk B/packet | s from send to queryable |" % label)
    print("|---|---:|---:|---:|---:|")
    for name, r in best.items():
        if r is None:
            print("| %s | below the ladder | - | - | - |" % name)
        else:
            print("| %s | %.0f pps | %.2f | %.1f | %.1f |" % (name, r["pps"], r["cpu"] / r["sent"] * 1e6,
                                                            r["disk"] / r["sent"], r["latency"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capdb", default=os.environ.get("CAPDB") or os.path.join(HERE, "..", "build", "capdb"))
    ap.add_argument("--port", type=int, default=47999)
    ap.add_argument("--buffer-mib", type=int, default=128, help="capdb's kernel capture buffer (MiB)")
    ap.add_argument("--steno-blocks", type=int,
                    help="stenotype's kernel ring, in 1 MiB blocks (default: --buffer-mib, the same buffer as "
                         "capdb's; 0: stenotype's own default, 2048 blocks, 2 GiB)")
    ap.add_argument("--mix", choices=sorted(live_bench.MIXES), default="imix")
    ap.add_argument("--packets", type=int, default=100_000, help="packets in the generated capture (replayed)")
    ap.add_argument("--seconds", type=float, default=3.0, help="traffic per trial")
    ap.add_argument("--rates", default="50000,100000,200000,300000,400000,600000,800000",
                    help="rate ladder, packets/s")
    ap.add_argument("--queryable-timeout", type=float, default=150.0,
                    help="seconds to wait for the packets to become retrievable")
    ap.add_argument("--steno-port", type=int, default=1234)
    ap.add_argument("--no-side-by-side", action="store_true")
    args = ap.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]
    args.filter = "udp dst port %d" % args.port
    if args.steno_blocks is None:
        args.steno_blocks = args.buffer_mib
    if 0 < args.steno_blocks < 16:
        raise SystemExit("steno_bench: stenotype needs at least 16 blocks (--steno-blocks, or --buffer-mib 16 or more)")
    if os.geteuid() != 0:
        raise SystemExit("steno_bench: needs root (network namespaces, packet sockets)")
    args.capdb = os.path.abspath(args.capdb)
    if not os.access(args.capdb, os.X_OK):
        raise SystemExit("steno_bench: no capdb at %s" % args.capdb)
    have_steno = all(shutil.which(p) or os.path.exists(p) for p in ("/usr/sbin/stenographer", "stenoread"))
    try:
        pwd.getpwnam("stenographer")
    except KeyError:
        have_steno = False

    workdir = tempfile.mkdtemp(prefix="capdb-steno-bench-")
    os.chmod(workdir, 0o755)
    pcap = os.path.join(workdir, "replay.pcap")
    mean = live_bench.generate(pcap, args.packets, args.mix, args.port)
    print("steno_bench: veth %s (%s) -> %s (%s), %s frames (mean %.0f B), %.1f s per trial, %d CPUs, load %s" % (
        IF_TX, NS_TX, IF_RX, NS_RX, args.mix, mean, args.seconds, os.cpu_count(),
        open("/proc/loadavg").read().split()[0]))
    print("kernel capture buffer: capdb %d MiB, stenotype %s" % (
        args.buffer_mib, "%d blocks of 1 MiB" % args.steno_blocks if args.steno_blocks else "its default (2 GiB)"))
    setup_veth()
    try:
        capdb, steno = Capdb(args, workdir), Stenographer(args, workdir)
        alone = ladder([capdb], args, pcap, "capdb alone")
        if have_steno:
            alone.update(ladder([steno], args, pcap, "stenographer alone"))
        else:
            print("stenographer: not installed (Debian packages stenographer, stenographer-client); skipped")
        table(alone, "alone")
        if have_steno and not args.no_side_by_side:
            both = ladder([capdb, steno], args, pcap, "side by side")
            table(both, "side by side")
        if have_steno and alone.get("capdb") and alone.get("stenographer"):
            print("\ncapdb / stenographer zero-drop rate, alone = %.2f (target >= 1.5)" % (
                alone["capdb"]["pps"] / alone["stenographer"]["pps"]))
    finally:
        teardown_veth()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
