#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Live capture cost: the eBPF capture against libpcap, on the same traffic
in the same run, and the eBPF agent's effect on TCP throughput.

1. trafgen (netsniff-ng) in namespace A sends a fixed number of UDP frames
   over a veth to namespace B, where build/flowsight runs `-i VETH` with
   --capture ebpf, then again with --capture pcap.  Two traffic shapes:
   "elephant" (4 five-tuples) and "many" (99,998 five-tuples, about 30
   packets each).  The frames are addressed to a MAC nobody owns, so B's
   stack drops them right after the capture hooks.  Measured per run: the
   agent's CPU time (utime + stime of the process from /proc/PID/stat,
   start-up and exit excluded) per million packets it accounted for, the
   packets in its exported flows against those sent and those the veth
   delivered, and the offered rate.  Kernel-side work (the TC program, the
   copy into the packet ring) runs in softirq context and is not in these
   figures for either capture.  Target: ebpf CPU <= 1/5 of pcap's on
   elephant flows.
2. iperf3 TCP throughput from A to B for SECONDS, alternately without the
   agent and with the eBPF agent capturing on B's veth, ROUNDS times; the
   medians are compared.  Target: at most 3% less with the agent.

Everything happens in two namespaces created here (10.77.0.0/24), removed at
exit, also on failure or a signal.  Needs root, trafgen and iperf3 (make
deps).  A benchmark: a missed target is reported, never fatal; the exit
status is non-zero only when the benchmark could not run.

  tools/bench_live.py [--packets N] [--rounds R] [--seconds S] [--quick]
                      [-- FLOWSIGHT_OPTION...]
"""
import argparse
import atexit
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
PFX = "fsbl-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
T_A, T_B = PFX + "-ta", PFX + "-tb"  # at most 15 characters
IP_A, IP_B = "10.77.0.1", "10.77.0.2"
MAC_A, MAC_NOBODY = "02:77:00:00:00:01", "02:77:00:00:00:99"
PROCS = []
TMP = tempfile.mkdtemp(prefix="fs-bench-live-")
HZ = os.sysconf("SC_CLK_TCK")

# trafgen packet configurations: IPv4/UDP, 64 bytes of payload (106-byte frames).
SHAPES = {
    # 4 source ports, one destination
    "elephant": "sp=dinc(5000, 5003, 1), dp=7000",
    # 49,999 source ports x 2 destination ports, coprime periods: 99,998 flows
    "many": "sp=dinc(1024, 51022, 1), dp=dinc(7000, 7001, 1)",
}
SHAPE_FLOWS = {"elephant": 4, "many": 99998}


class CannotRun(Exception):
    pass


def sh(*a):
    p = subprocess.run(list(a), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise CannotRun("%s: exit %d: %s" % (" ".join(a), p.returncode, p.stderr.decode().strip()))
    return p.stdout.decode()


def nsexec(ns, *a):
    return ["ip", "netns", "exec", ns] + list(a)


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    PROCS.clear()
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    shutil.rmtree(TMP, ignore_errors=True)


def setup():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        # IPv4 only: no IPv6 neighbour discovery frames among the counted ones
        sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"))
        sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"))
    sh("ip", "-n", NS_A, "link", "add", T_A, "address", MAC_A, "type", "veth",
       "peer", "name", T_B, "netns", NS_B)
    sh("ip", "-n", NS_A, "addr", "add", IP_A + "/24", "dev", T_A)
    sh("ip", "-n", NS_B, "addr", "add", IP_B + "/24", "dev", T_B)
    sh("ip", "-n", NS_A, "link", "set", T_A, "up")
    sh("ip", "-n", NS_B, "link", "set", T_B, "up")


def rx_packets():
    return int(sh(*nsexec(NS_B, "cat", "/sys/class/net/%s/statistics/rx_packets" % T_B)))


def cpu_s(pid):
    """CPU time of every thread of @pid: the scheduler's nanoseconds from
    /proc/PID/task/*/schedstat (the agent's threads live as long as it
    does), else utime + stime from /proc/PID/stat in clock ticks."""
    try:
        ns = 0
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                ns += int(f.read().split()[0])
        return ns / 1e9
    except (OSError, ValueError, IndexError):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ


class Agent:
    """flowsight in NS_B on T_B; stderr kept in a file."""

    def __init__(self, capture, args, name):
        self.out = os.path.join(TMP, name + ".csv")
        self.err_path = os.path.join(TMP, name + ".err")
        self.err = open(self.err_path, "w")
        cmd = [FS, "-i", T_B, "--capture", capture, "-o", self.out,
               "--performance-report", "1"] + args
        # `ip netns exec` execs the command: the pid is flowsight's
        self.proc = subprocess.Popen(nsexec(NS_B, *cmd), stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        PROCS.append(self.proc)
        deadline = time.time() + 20
        while not os.path.exists(self.out):  # created once the capture is attached
            if self.proc.poll() is not None or time.time() > deadline:
                raise CannotRun("flowsight --capture %s did not start: %s"
                                % (capture, self.stderr().strip()[-500:]))
            time.sleep(0.05)

    def stderr(self):
        with open(self.err_path) as f:
            return f.read()

    def seen(self):
        """Packets processed, ignored or dropped, from the last performance report."""
        last = [l for l in self.stderr().splitlines() if l.startswith("{")]
        m = last and re.search(r'"packets_processed": (\d+), "packets_ignored": (\d+), '
                               r'"packets_dropped_filtered_by_kernel": (\d+)', last[-1])
        return sum(int(g) for g in m.groups()) if m else 0

    def wait_settled(self, want, timeout=60):
        """Until the reports reach @want packets or stop growing for 3 s."""
        deadline, last, since = time.time() + timeout, -1, time.time()
        while time.time() < deadline:
            n = self.seen()
            if n >= want:
                return
            if n != last:
                last, since = n, time.time()
            elif time.time() - since > 3:
                return
            time.sleep(0.25)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=120)
        finally:
            self.err.close()
        if rc:
            raise CannotRun("flowsight exit %d: %s" % (rc, self.stderr().strip()[-500:]))

    def flow_packets(self):
        """Packets and flows in the exported records (UDP to port 7000/7001)."""
        with open(self.out) as f:
            head = f.readline().rstrip("\n").split(",")
            ci = {k: head.index(k) for k in ("protocol", "dst_port", "bidirectional_packets")}
            total = flows = 0
            for line in f:
                v = line.split(",")
                if v[ci["protocol"]] == "17" and v[ci["dst_port"]] in ("7000", "7001"):
                    total += int(v[ci["bidirectional_packets"]])
                    flows += 1
        return total, flows


def trafgen_cfg(shape):
    path = os.path.join(TMP, shape + ".cfg")
    with open(path, "w") as f:
        f.write("{ eth(da=%s, sa=%s), ipv4(sa=%s, da=%s, ttl=64), udp(%s), fill(0x41, 64) }\n"
                % (MAC_NOBODY, MAC_A, IP_A, IP_B, SHAPES[shape]))
    return path


def run_capture(capture, shape, packets, args):
    agent = Agent(capture, args, "%s-%s" % (shape, capture))
    try:
        time.sleep(0.5)  # past start-up
        rx0, cpu0 = rx_packets(), cpu_s(agent.proc.pid)
        t0 = time.monotonic()
        # one sender thread, exactly @packets frames; --no-sock-mem and
        # --notouch-irq: trafgen changes no system-wide setting
        p = subprocess.run(nsexec(NS_A, "trafgen", "--no-sock-mem", "--notouch-irq", "-C",
                                  "-P", "1", "-n", str(packets), "-i", trafgen_cfg(shape),
                                  "-o", T_A), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t_send = time.monotonic() - t0
        if p.returncode:
            raise CannotRun("trafgen exit %d: %s" % (p.returncode, p.stderr.decode()[-300:]))
        delivered = rx_packets() - rx0
        agent.wait_settled(delivered)
        cpu = cpu_s(agent.proc.pid) - cpu0
    finally:
        if agent.proc.poll() is None:
            agent.stop()
    accounted, flows = agent.flow_packets()
    return {"capture": capture, "shape": shape, "sent": packets, "delivered": delivered,
            "accounted": accounted, "flows": flows, "cpu": cpu, "pps": packets / t_send,
            "ms_per_m": 1e3 * cpu / (accounted / 1e6) if accounted else float("inf")}


def print_capture(r):
    loss = r["sent"] - r["accounted"]
    print("  %-8s %-5s sent %d at %.2f Mpps, delivered by the veth %d, in flows %d (%d of %d "
          "flows), loss %d (%.3f%%); agent CPU %.3f s = %.1f ms per M packets"
          % (r["shape"], r["capture"], r["sent"], r["pps"] / 1e6, r["delivered"], r["accounted"],
             r["flows"], SHAPE_FLOWS[r["shape"]], loss, 100.0 * loss / r["sent"], r["cpu"],
             r["ms_per_m"]), flush=True)


def iperf_once(secs, agent_args):
    """Gbit/s received, and the agent's CPU seconds meanwhile (None: no agent)."""
    agent = Agent("ebpf", agent_args, "iperf") if agent_args is not None else None
    cpu = None
    try:
        srv = subprocess.Popen(nsexec(NS_B, "iperf3", "-s", "-1", "-B", IP_B),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(srv)
        time.sleep(0.3)
        cpu0 = agent and cpu_s(agent.proc.pid)
        p = subprocess.run(nsexec(NS_A, "iperf3", "-c", IP_B, "-t", str(secs), "-f", "m"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if agent:
            cpu = cpu_s(agent.proc.pid) - cpu0
        srv.wait(timeout=10)
        if p.returncode:
            raise CannotRun("iperf3 exit %d: %s" % (p.returncode, p.stderr.decode()[-300:]))
        m = re.search(r"([\d.]+) Mbits/sec\s+receiver", p.stdout.decode())
        if not m:
            raise CannotRun("iperf3: no receiver line in %r" % p.stdout.decode()[-300:])
        return float(m.group(1)) / 1e3, cpu
    finally:
        if agent and agent.proc.poll() is None:
            agent.stop()


def why_not():
    if os.geteuid() != 0:
        return "needs root (network namespaces, BPF, packet sockets)"
    for tool in ("ip", "trafgen", "iperf3"):
        if not shutil.which(tool):
            return "%s not found (make deps)" % tool
    if not os.access(FS, os.X_OK):
        return "%s not built (make)" % FS
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=3_000_000, help="frames per capture run")
    ap.add_argument("--rounds", type=int, default=5, help="iperf3 rounds per configuration")
    ap.add_argument("--seconds", type=int, default=5, help="length of one iperf3 run")
    ap.add_argument("--quick", action="store_true", help="300k frames, 1 round of 2 s")
    ap.add_argument("fsargs", nargs="*", help="flowsight options for every agent run")
    a = ap.parse_args()
    if a.quick:
        a.packets, a.rounds, a.seconds = 300_000, 1, 2
    reason = why_not()
    if reason:
        print("bench_live: cannot run: %s" % reason, file=sys.stderr)
        return 1
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    try:
        setup()
        print("capture cost: %d frames of 106 bytes per run, flowsight %s"
              % (a.packets, " ".join(a.fsargs) or "(default options)"), flush=True)
        res = {}
        for shape in SHAPES:
            for capture in ("ebpf", "pcap"):
                r = run_capture(capture, shape, a.packets, a.fsargs)
                res[shape, capture] = r
                print_capture(r)
        print("iperf3 TCP throughput, %d x %d s, alternating:" % (a.rounds, a.seconds), flush=True)
        tput = {"none": [], "ebpf": []}
        for i in range(a.rounds):
            for conf in ("none", "ebpf"):
                g, cpu = iperf_once(a.seconds, None if conf == "none" else a.fsargs)
                tput[conf].append(g)
                print("  round %d: %-10s %6.2f Gbit/s%s"
                      % (i + 1, "no agent" if conf == "none" else "ebpf agent", g,
                         "" if cpu is None else " (agent CPU %.3f s)" % cpu), flush=True)
    except (CannotRun, OSError, subprocess.SubprocessError) as e:
        print("bench_live: cannot run: %s" % e, file=sys.stderr)
        return 1
    finally:
        cleanup()

    print("summary:")
    for shape in SHAPES:
        e, p = res[shape, "ebpf"], res[shape, "pcap"]
        ratio = e["ms_per_m"] / p["ms_per_m"] if p["ms_per_m"] else float("inf")
        target = " (target <= 0.20: %s)" % ("met" if ratio <= 0.2 else "NOT met") \
            if shape == "elephant" else ""
        print("  %-8s CPU per M packets: ebpf %.1f ms, pcap %.1f ms, ebpf/pcap %.3f%s; "
              "loss ebpf %d, pcap %d of %d"
              % (shape, e["ms_per_m"], p["ms_per_m"], ratio, target, e["sent"] - e["accounted"],
                 p["sent"] - p["accounted"], e["sent"]))
    base, with_agent = statistics.median(tput["none"]), statistics.median(tput["ebpf"])
    ratio = with_agent / base
    print("  iperf3 medians: %.2f Gbit/s without the agent, %.2f with the ebpf agent, ratio %.3f "
          "(target >= 0.97: %s)" % (base, with_agent, ratio, "met" if ratio >= 0.97 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
