#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Cost of flowsight top and of --pcapng-out (make bench; root).

1. top: in two namespaces it creates (veth 10.204.0.0/24), one process
   (tests/top/top_workload.py udp-ports) holds 10,000 UDP sockets and sends
   one datagram from each every second: 10,000 open flows, all its own.
   flowsight runs on the sender's side with attribution
   (--system-visibility-mode 2, -o /dev/null), then the same as `flowsight
   top` in a tmux terminal (ncurses, 1 Hz); the sender starts once flowsight
   runs, and each is measured for SECONDS once all 10,000 flows are open.  The CPU of each (utime + stime
   from /proc/PID/stat over the window) is compared: top's cost is the
   difference, in % of one CPU.  Target: <= 2%.  Both captures.
2. pcapng: the same capture replayed (tcpreplay, PPS packets/s) onto the
   veth, received by `tcpdump -w` and by `flowsight --capture pcap
   --pcapng-out` (default options, then --n-dissections 0): CPU per packet
   written of each; the ratio tcpdump/flowsight is flowsight's rate as a
   fraction of tcpdump's.  Target: >= 0.5.

  tools/bench_top.py [--seconds N] [--pps N] [--packets N]
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FS = os.path.abspath(os.environ.get("FLOWSIGHT", os.path.join(ROOT, "build", "flowsight")))
WORK = os.path.join(ROOT, "tests", "top", "top_workload.py")
PFX = "fsbt-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
T_A, T_B = PFX + "-ta", PFX + "-tb"
IP_A, IP_B = "10.204.0.1", "10.204.0.2"
TMUX = ["tmux", "-L", PFX, "-f", "/dev/null"]
TMP = tempfile.mkdtemp(prefix="fs-bench-top-")
HZ = os.sysconf("SC_CLK_TCK")
PROCS = []


def sh(*a, check=True):
    return subprocess.run(list(a), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=check)


def ns(n, *a):
    return ["ip", "netns", "exec", n] + list(a)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / HZ


def setup():
    for n in (NS_A, NS_B):
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    sh("ip", "-n", NS_A, "link", "add", T_A, "type", "veth", "peer", "name", T_B, "netns", NS_B)
    for n, i, ip in ((NS_A, T_A, IP_A), (NS_B, T_B, IP_B)):
        sh("ip", "-n", n, "addr", "add", ip + "/24", "dev", i)
        sh("ip", "-n", n, "link", "set", i, "up")


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run(TMUX + ["kill-server"], stderr=subprocess.DEVNULL)
    for n in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)
    shutil.rmtree(TMP, ignore_errors=True)


def pid_of(pattern, timeout=20):
    """The flowsight started in tmux (its pid by command line)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        p = sh("pgrep", "-f", pattern, check=False)
        pids = [int(x) for x in p.stdout.split()]
        for pid in pids:
            try:
                if os.readlink("/proc/%d/exe" % pid) == FS:
                    return pid
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("flowsight (%s) did not start" % pattern)


def window(pid, seconds):
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_s(pid) - c0) / (time.monotonic() - t0)


def start_work():
    """The 10,000-socket sender, started once flowsight runs (its sockets are
    then new to attribution, not found at start)."""
    w = subprocess.Popen(ns(NS_A, sys.executable, WORK, "udp-ports", IP_B, "20000", "10000"),
                         stdout=subprocess.PIPE)
    PROCS.append(w)
    w.stdout.readline()
    return w


def stop(p):
    if p.poll() is None:
        p.kill()
        p.wait()


def screen():
    return subprocess.run(TMUX + ["capture-pane", "-p", "-t", "t"], stdout=subprocess.PIPE,
                          text=True).stdout


def open_flows_shown():
    m = re.search(r"(\d+) open flows", screen())
    return int(m.group(1)) if m else -1


def bench_top(capture, seconds):
    args = ["-i", T_A, "--capture", capture, "--system-visibility-mode", "2"]
    # the capture alone, with attribution, records discarded
    base = subprocess.Popen(ns(NS_A, FS, *args, "-v", "-o", "/dev/null", "--performance-report",
                               "1"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    PROCS.append(base)
    while "sockets found at start" not in base.stderr.readline():
        pass
    work = start_work()
    n = 0
    deadline = time.time() + 60
    while n < 20000 and time.time() < deadline:  # every flow twice: all open
        m = re.search(r'"packets_processed": (\d+)', base.stderr.readline())
        if m:
            n = int(m.group(1))
    time.sleep(1)
    b = window(base.pid, seconds)
    base.send_signal(2)
    base.wait()
    stop(work)
    # the same as top, in a terminal
    cmd = " ".join(ns(NS_A, FS, "top", *args))
    subprocess.run(TMUX + ["new-session", "-d", "-s", "t", "-x", "160", "-y", "50", cmd], check=True)
    pid = pid_of("%s top -i %s --capture %s" % (re.escape(FS), T_A, capture))
    deadline = time.time() + 30
    while "flowsight top" not in screen() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # attribution's start-up
    work = start_work()
    deadline = time.time() + 60
    while open_flows_shown() < 10000 and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    t = window(pid, seconds)
    shown = open_flows_shown()
    subprocess.run(TMUX + ["send-keys", "-t", "t", "q"])
    time.sleep(0.5)
    subprocess.run(TMUX + ["kill-server"], stderr=subprocess.DEVNULL)
    stop(work)
    return b, t, shown


def make_pcap(path, n):
    """@n 100-byte UDP frames over 1000 flows, 10.204.9.x -> 10.204.0.1."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            k = i % 1000
            payload = bytes(58)
            udp = struct.pack("!HHHH", 20000 + k, 7000, 8 + len(payload), 0) + payload
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                             bytes([10, 204, 9, k % 250 + 1]), bytes([10, 204, 0, 1]))
            fr = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip + udp
            t = 1_000_000_000 + i
            f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(fr), len(fr)) + fr)


def replay(cmd, count_re, pcap, pps):
    """Run @cmd in NS_A while the capture is replayed from NS_B: (CPU s, packets)."""
    out = os.path.join(TMP, "err.txt")
    with open(out, "w") as e:
        p = subprocess.Popen(ns(NS_A, *cmd), stdout=subprocess.DEVNULL, stderr=e)
        PROCS.append(p)
        time.sleep(2)
        c0 = cpu_s(p.pid)
        sh(*ns(NS_B, "tcpreplay", "-q", "-i", T_B, "--pps", str(pps), pcap))
        time.sleep(1)
        c = cpu_s(p.pid) - c0
        p.send_signal(2)
        p.wait(timeout=60)
    text = open(out).read()
    m = re.search(count_re, text)
    return c, int(m.group(1)) if m else 0


def bench_pcapng(packets, pps):
    pcap = os.path.join(TMP, "replay.pcap")
    make_pcap(pcap, packets)
    res = {}
    res["tcpdump"] = replay(["tcpdump", "-i", T_A, "-s", "1536", "-w", os.path.join(TMP, "t.pcap")],
                            r"(\d+) packets captured", pcap, pps)
    for name, extra in (("flowsight", []), ("flowsight --n-dissections 0", ["--n-dissections", "0"])):
        res[name] = replay([FS, "-i", T_A, "--capture", "pcap", "-v", "-o", "/dev/null",
                            "--pcapng-out", os.path.join(TMP, "f.pcapng")] + extra,
                           r"pcapng: (\d+) packets written", pcap, pps)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--pps", type=int, default=200000)
    ap.add_argument("--packets", type=int, default=2000000)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_top: skipped: needs root (network namespaces, capture)")
        return 0
    for tool, pkg in (("tmux", "tmux"), ("tcpdump", "tcpdump"), ("tcpreplay", "tcpreplay")):
        if not shutil.which(tool):
            print("bench_top: skipped: %s not installed (Debian package %s)" % (tool, pkg))
            return 0
    try:
        setup()
        sink = subprocess.Popen(ns(NS_B, sys.executable, WORK, "sink-udp", "9"),
                                stdout=subprocess.DEVNULL)
        PROCS.append(sink)
        print("flowsight top: 10,000 open flows (one process, one datagram per flow per "
              "second), %.0f s windows, CPU of one core" % a.seconds)
        for cap in ("pcap", "ebpf"):
            b, t, shown = bench_top(cap, a.seconds)
            cost = (t - b) * 100
            print("  %-5s capture alone %.2f%%, with top %.2f%% (%d open flows shown): top costs "
                  "%.2f%% of one CPU (target <= 2%%: %s)" % (cap, b * 100, t * 100, shown, cost,
                                                           "met" if cost <= 2 else "missed"))
        print("--pcapng-out vs tcpdump -w: %d packets of 100 bytes replayed at %d/s, CPU per "
              "packet written" % (a.packets, a.pps))
        res = bench_pcapng(a.packets, a.pps)
        td_cpu, td_n = res["tcpdump"]
        td = td_cpu / td_n if td_n else float("nan")
        print("  tcpdump -w: %d packets, %.3f s CPU, %.2f us/packet" % (td_n, td_cpu, td * 1e6))
        for name in ("flowsight", "flowsight --n-dissections 0"):
            c, n = res[name]
            per = c / n if n else float("nan")
            ratio = td / per if per else float("nan")
            print("  %s --pcapng-out: %d packets, %.3f s CPU, %.2f us/packet: rate %.2f x "
                  "tcpdump's (target >= 0.5: %s)" % (name, n, c, per * 1e6, ratio,
                                                     "met" if ratio >= 0.5 else "missed"))
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
