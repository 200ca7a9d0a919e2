#!/usr/bin/env python3
"""Live-capture benchmark: the highest packet rate that `capdb ingest --live`
(which keeps every packet in its packet store) captures with zero kernel
drops, against `tcpdump -w FILE` in the same run and setup (same interface,
filter, snaplen and kernel buffer size); also CPU per million packets and the
disk each uses per packet (capdb's store against tcpdump's pcap file).
--no-packets-too adds capdb keeping summaries only; --tcpdump-null writes
tcpdump's packets to /dev/null instead of a file.

The traffic is a generated capture replayed over loopback at a fixed rate;
each tool's rate is found by bisection, the two tools' trials alternating so
that background load affects both alike. The sender is this script itself
(--sender mmsg, the default): libc sendmmsg() through ctypes on an AF_PACKET
socket, batches of 32 frames paced to the rate by sleeping (never spinning),
which reaches several times
tcpreplay's one-sendto-per-packet ceiling; --sender tcpreplay uses
`tcpreplay -K --pps=R` instead. A trial
passes when the tool reports 0 packets dropped by kernel, captured every
packet sent (capdb: and stored them), and exits within 2 s of SIGINT, so that
capdb's in-memory queue cannot hide a backlog; a rate passes when --repeat
trials in a row pass.

Generated frames: Ethernet/IPv4/UDP between 127.0.x.y addresses only, to a
destination MAC that is not lo's, so the kernel drops them on receipt
(PACKET_OTHERHOST) after the capture taps have seen them: nothing is
delivered, nothing answers, nothing leaves the machine. Frame sizes follow
the simple IMIX (60, 590 and 1514 bytes, 7:4:1) unless --mix says otherwise.

Needs root (packet sockets) and tcpdump (and tcpreplay for --sender
tcpreplay). Not a test: run by hand,
    sudo python3 bench/live_bench.py --capdb build/capdb
"""

import argparse
import ctypes
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

MIXES = {
    "imix": [(60, 7), (590, 4), (1514, 1)],
    "small": [(60, 1)],
    "large": [(1514, 1)],
}


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def generate(path, packets, mix, port, seed=1):
    """Writes a classic pcap of UDP frames to port; returns the mean frame size."""
    rnd = random.Random(seed)
    sizes = [s for s, w in MIXES[mix] for _ in range(w)]
    total = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        dst_mac, src_mac = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
        for i in range(packets):
            frame_len = rnd.choice(sizes)
            payload = frame_len - 14 - 20 - 8
            src = bytes([127, 0, rnd.randint(0, 255), rnd.randint(1, 254)])
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + payload, i & 0xFFFF, 0, 64, 17, 0, src,
                             bytes([127, 0, 0, 2]))
            ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
            udp = struct.pack("!HHHH", rnd.randint(1024, 65535), port, 8 + payload, 0)
            frame = dst_mac + src_mac + b"\x08\x00" + ip + udp + bytes(payload)
            out.write(struct.pack("<IIII", 1_000_000 + i // 100_000, (i % 100_000) * 10, len(frame), len(frame)))
            out.write(frame)
            total += len(frame)
    return total / packets


# --- the sender: sendmmsg() on a packet socket, through ctypes --------------

class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_IoVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint)]


def read_pcap(path):
    """The frames of a classic little-endian pcap."""
    data = open(path, "rb").read()
    frames, off = [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        frames.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return frames


def send(pcap, iface, rate, count, batch=32):
    """Sends count frames of pcap (cycling) on iface at rate packets/s (0:
    as fast as possible); prints 'sent N packets (B bytes) in S seconds'."""
    libc = ctypes.CDLL(None, use_errno=True)
    frames = read_pcap(pcap)
    n = len(frames)
    blob = ctypes.create_string_buffer(b"".join(frames))
    base = ctypes.addressof(blob)
    iovs, msgs = (_IoVec * n)(), (_MMsgHdr * n)()
    off = 0
    for i, f in enumerate(frames):
        iovs[i].base, iovs[i].len = base + off, len(f)
        msgs[i].hdr.iov, msgs[i].hdr.iovlen = ctypes.pointer(iovs[i]), 1
        off += len(f)
    lengths = [len(f) for f in frames]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((iface, 0))
    fd, size, first = sock.fileno(), ctypes.sizeof(_MMsgHdr), ctypes.addressof(msgs)
    sent = nbytes = i = 0
    t0 = time.perf_counter()
    while sent < count:
        if rate:
            # Sleep rather than spin: on a small machine a spinning sender
            # takes the CPU the capture needs. Pacing is by absolute time, so
            # an oversleep is made up by the next batches.
            ahead = t0 + sent / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        k = min(batch, n - i, count - sent)
        r = libc.sendmmsg(fd, ctypes.c_void_p(first + i * size), k, 0)
        if r < 0:
            raise OSError(ctypes.get_errno(), "sendmmsg")
        nbytes += sum(lengths[i:i + r])
        sent += r
        i = (i + r) % n
    secs = time.perf_counter() - t0
    print("sent %d packets (%d bytes) in %.6f seconds" % (sent, nbytes, secs))


# --- the benchmark ---------------------------------------------------------

class Tool:
    """One capture program under test."""

    def __init__(self, name, argv_fn, parse_fn):
        self.name = name
        self.argv = argv_fn
        self.parse = parse_fn
        self.best = None      # highest passing trial: dict
        self.lo = None        # highest passing requested rate
        self.hi = None        # lowest failing requested rate
        self.trials = []


def summary_numbers(stderr):
    """N captured / received by filter / dropped by kernel, as tcpdump and capdb print them."""
    def num(what):
        m = re.search(r"^(\d+) packets? %s" % what, stderr, re.M)
        return int(m.group(1)) if m else None
    return {"captured": num("captured"), "received": num("received by filter"),
            "dropped": num("dropped by kernel")}


def run_trial(tool, rate, args, workdir, pcap, count):
    """Runs one capture while tcpreplay sends count packets at rate (None:
    top speed). Returns a dict with the figures."""
    db = os.path.join(workdir, "bench.db")
    for suffix in ("", "-wal", "-shm", ".pcap"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    shutil.rmtree(db + ".packets", ignore_errors=True)
    proc = subprocess.Popen(tool.argv(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    ready = threading.Event()

    def pump():
        for line in proc.stderr:
            lines.append(line)
            if "listening on" in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(15) or proc.poll() is not None:
        proc.kill()
        raise SystemExit("%s did not start: %s" % (tool.name, "".join(lines)))
    time.sleep(0.3)
    if args.sender == "tcpreplay":
        cmd = [args.tcpreplay, "-i", args.iface, "-K", "--loop=0", "--limit=%d" % count]
        cmd += ["--topspeed"] if rate is None else ["--pps=%d" % rate]
        pattern = r"Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds"
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--send", pcap, "--iface", args.iface,
               "--rate", str(rate or 0), "--count", str(count)]
        pattern = r"sent (\d+) packets \((\d+) bytes\) in ([\d.]+) seconds"
    r = subprocess.run(cmd + ([pcap] if args.sender == "tcpreplay" else []), capture_output=True, text=True)
    m = re.search(pattern, r.stdout)
    if r.returncode != 0 or not m:
        proc.kill()
        raise SystemExit("sender failed: %s%s" % (r.stdout, r.stderr))
    sent, nbytes, secs = int(m.group(1)), int(m.group(2)), float(m.group(3))
    # Let the last partly filled kernel block reach the tool: tcpdump's buffer
    # timeout is 1 s (capdb's 100 ms), and capdb commits within 0.5 s.
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    t_stop = time.monotonic()
    _, status, usage = os.wait4(proc.pid, 0)
    stop_secs = time.monotonic() - t_stop
    proc.returncode = os.waitstatus_to_exitcode(status)
    time.sleep(0.05)
    stats = summary_numbers("".join(lines))
    result = {"tool": tool.name, "requested": rate, "sent": sent, "pps": sent / secs, "mbps": nbytes * 8 / secs / 1e6,
              "cpu": usage.ru_utime + usage.ru_stime, "exit": proc.returncode, "stop": stop_secs, **stats}
    if tool.name.startswith("capdb") and proc.returncode == 0:
        q = subprocess.run([args.capdb, "query", "--db", db, "--count"], capture_output=True, text=True)
        result["stored"] = int(q.stdout.strip() or -1)
    # Disk for the packets: capdb's packet store (its segments), tcpdump's
    # pcap file (the database itself is counted apart, as "index").
    store = db + ".packets"
    if tool.name.startswith("capdb"):
        result["disk"] = sum(os.path.getsize(os.path.join(store, f)) for f in os.listdir(store)
                             if f != "lock") if os.path.isdir(store) else 0
        result["index"] = sum(os.path.getsize(db + x) for x in ("", "-wal") if os.path.exists(db + x))
    else:
        result["disk"] = os.path.getsize(db + ".pcap") if os.path.exists(db + ".pcap") else 0
        result["index"] = 0
    # A tool that needs long to stop was still working off a backlog (capdb's
    # in-memory queue): it did not sustain the rate, whatever it dropped.
    ok = (proc.returncode == 0 and stats["dropped"] == 0 and stats["captured"] is not None
          and stats["captured"] >= sent and result.get("stored", sent) >= sent and stop_secs <= 2.0)
    result["ok"] = ok
    tool.trials.append(result)
    print("  %-8s %-9s sent %8d at %8.0f pps: captured %8s, dropped %7s, cpu %.2f s, stop %.2f s%s  %s" % (
        tool.name, "top" if rate is None else rate, sent, result["pps"], stats["captured"], stats["dropped"],
        result["cpu"], stop_secs, "" if "stored" not in result else ", stored %d" % result["stored"],
        "ok" if ok else "FAIL"), flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--capdb", default=os.environ.get("CAPDB") or os.path.join(here, "..", "build", "capdb"))
    ap.add_argument("--tcpdump", default=shutil.which("tcpdump"))
    ap.add_argument("--tcpreplay", default=shutil.which("tcpreplay"))
    ap.add_argument("--iface", default="lo")
    ap.add_argument("--port", type=int, default=47999, help="UDP destination port of the generated traffic")
    ap.add_argument("--filter", help="BPF filter for both tools (default: udp dst port PORT)")
    ap.add_argument("--buffer-mib", type=int, default=4, help="kernel capture buffer for both tools (MiB)")
    ap.add_argument("--mix", choices=sorted(MIXES), default="imix")
    ap.add_argument("--packets", type=int, default=100_000, help="packets in the generated capture (replayed in a loop)")
    ap.add_argument("--seconds", type=float, default=3.0, help="length of one trial")
    ap.add_argument("--min-rate", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2, help="passing trials in a row for a rate to pass")
    ap.add_argument("--precision", type=float, default=0.05, help="stop when the bracket is this narrow (relative)")
    ap.add_argument("--workdir", help="where the capture and the database go (default: a temporary directory)")
    ap.add_argument("--sender", choices=["mmsg", "tcpreplay"], default="mmsg")
    ap.add_argument("--no-packets-too", action="store_true", help="also measure capdb --no-packets (summaries only)")
    ap.add_argument("--tcpdump-null", action="store_true", help="tcpdump writes to /dev/null, not a file")
    ap.add_argument("--top-count", type=int, default=2_000_000, help="packets sent in each top-speed trial")
    ap.add_argument("--send", metavar="PCAP", help=argparse.SUPPRESS)  # internal: be the sender
    ap.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.send:
        send(args.send, args.iface, args.rate, args.count)
        return

    if os.geteuid() != 0:
        raise SystemExit("live_bench: needs root (packet sockets for tcpreplay and capture)")
    for what in ("capdb", "tcpdump") + (("tcpreplay",) if args.sender == "tcpreplay" else ()):
        path = getattr(args, what)
        if not path or not os.access(path, os.X_OK):
            raise SystemExit("live_bench: no %s (%s)" % (what, path))
    workdir = args.workdir or tempfile.mkdtemp(prefix="capdb-live-bench-")
    filt = args.filter or "udp dst port %d" % args.port
    buf = args.buffer_mib

    pcap = os.path.join(workdir, "replay.pcap")
    mean = generate(pcap, args.packets, args.mix, args.port)
    capdb = Tool("capdb", lambda db: [args.capdb, "ingest", "-i", args.iface, "--db", db,
                                      "--buffer-size", "%dm" % buf, "--filter", filt],
                 summary_numbers)
    tcpdump = Tool("tcpdump", lambda db: [args.tcpdump, "-i", args.iface, "-B", str(buf * 1024), "-w",
                                          "/dev/null" if args.tcpdump_null else db + ".pcap", filt],
                   summary_numbers)
    tools = [capdb, tcpdump]
    if args.no_packets_too:
        tools.insert(1, Tool("capdb-nopk", lambda db: capdb.argv(db) + ["--no-packets"], summary_numbers))

    print("live_bench: %s, filter '%s', kernel buffer %d MiB, snaplen 262144 (both defaults), %s frames (mean %.0f B),"
          " %.1f s trials, sender %s, %d CPUs, load average %s" % (
              args.iface, filt, buf, args.mix, mean, args.seconds, args.sender, os.cpu_count(),
              open("/proc/loadavg").read().split()[0]))
    print("  capdb:   " + " ".join(capdb.argv("DB")))
    print("  tcpdump: " + " ".join(tcpdump.argv("DB")))

    # The sender's ceiling: tcpreplay at top speed, once per tool.
    print("top speed (the sender's ceiling):")
    ceiling = 0.0
    for t in tools:
        r = run_trial(t, None, args, workdir, pcap, args.top_count)
        ceiling = max(ceiling, r["pps"])
        if r["ok"]:
            t.lo, t.best = int(r["pps"]), r
    for t in tools:
        t.hi = None if t.best else int(ceiling)
    print("bisection between %d and %d pps:" % (args.min_rate, int(ceiling)))
    if any(t.best is None for t in tools):
        for t in tools:
            if t.best is None:
                t.lo = args.min_rate

    def done(t):
        return t.hi is None or (t.hi - t.lo) <= args.precision * t.hi

    while not all(done(t) for t in tools):
        for t in tools:  # alternate: one rate step of each tool in turn
            if done(t):
                continue
            rate = (t.lo + t.hi) // 2
            passed = True
            best = None
            for _ in range(args.repeat):
                r = run_trial(t, rate, args, workdir, pcap, max(int(rate * args.seconds), 10_000))
                if not r["ok"]:
                    passed = False
                    break
                best = r if best is None or r["pps"] < best["pps"] else best
            if passed:
                t.lo = rate
                if t.best is None or best["pps"] > t.best["pps"]:
                    t.best = best
            else:
                t.hi = rate

    print()
    print("| tool | max rate with 0 kernel drops | Mbit/s | CPU s per 1M packets | packet bytes on disk per packet"
          " | index bytes per packet | trials |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for t in tools:
        if t.best:
            cpu = t.best["cpu"] / t.best["sent"] * 1e6
            bound = " (sender-bound: top speed)" if t.best["requested"] is None else ""
            n = max(t.best["captured"] or 0, 1)
            print("| %s | %.0f pps%s | %.0f | %.2f | %.1f | %.1f | %d |" % (
                t.name, t.best["pps"], bound, t.best["mbps"], cpu, t.best["disk"] / n, t.best["index"] / n,
                len(t.trials)))
        else:
            print("| %s | below %d pps | - | - | - | - | %d |" % (t.name, args.min_rate, len(t.trials)))
    if capdb.best and tcpdump.best:
        ratio = capdb.best["pps"] / tcpdump.best["pps"]
        print()
        print("capdb / tcpdump = %.2f (target >= 0.9)%s" % (
            ratio, "; both reached the sender's top speed: the true ratio is unknown, >= this"
            if capdb.best["requested"] is None and tcpdump.best["requested"] is None else ""))
    if capdb.best and tcpdump.best and not args.tcpdump_null:
        per = [t.best["disk"] / max(t.best["captured"] or 0, 1) for t in (capdb, tcpdump)]
        if per[1] > 0:
            print("capdb packet store / tcpdump pcap file, bytes per packet = %.4f (target <= 1.02)" % (per[0] / per[1]))
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
