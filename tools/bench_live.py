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
   figures for either capture; for ebpf the TC programs' own run time per
   packet is printed (BPF run-time statistics, on only during the capture
   runs).  Target: ebpf CPU <= 1/5 of pcap's on elephant flows.  Flat out,
   libpcap drops part of "many", so "many" is sent again paced (trafgen's
   --gap: one send per packet, evenly spaced), at the shortest gap at which
   libpcap loses under 0.5%, and both captures are compared there.
2. iperf3 TCP throughput from A to B in ROUNDS interleaved rounds of four
   configurations on B's veth: nothing; an empty clsact qdisc; clsact with
   a program that only returns TC_ACT_UNSPEC on ingress and egress (compiled
   here with clang); the eBPF agent.  Each round starts one configuration
   later, so no configuration always follows another.  Target: at most 3%
   less throughput with the agent.

   Method.  Left to the scheduler on this 2-vCPU VM, one configuration
   spread from 5 to 20 Gbit/s: client, server and the veth's softirq work
   (which runs on the sender's CPU) were placed differently from run to
   run, every hand-over between the two CPUs was a wake-up IPI, which a VM
   pays dearly and unevenly, and any other job on either CPU slowed the
   transfer.  So:
   - client and server run on one CPU (IPERF_CPU, --iperf-cpu, default 0;
     `taskset -c` on their exec, which also holds the veth softirq there):
     the transfer is CPU-bound on one core, its throughput is the inverse
     of its CPU cost per byte, TC programs included, and no wake-up crosses
     CPUs.  They run at nice -10, so that the scheduler moves other jobs to
     the other CPU(s) rather than share theirs: without it iperf3 got only
     63-84% of its CPU in 10 of 48 runs (92-97% in the others), and the
     throughput fell alike; with it, 95-97% in every run.  The agent
     process runs on the other CPU(s) (its CPU is printed per GB);
   - fixed socket buffers (`-w 4M` on both ends, no autotuning) and
     zero-copy sends (`-Z`): less sender work, so the receive path, where
     the agent's programs run, weighs more;
   - short runs (SECONDS, default 3) after `-O 1`, which discards the first
     second (slow start, the agent's start-up);
   - the ratio with/without is taken per round, between runs a few seconds
     apart, which cancels slow drifts (another job running for a minute);
     printed is the median of the per-round ratios with its quartiles, next
     to the ratio of the medians.
   Per configuration: median, quartiles and range of the throughput; the
   CPU per GB sent over the whole run, first second included (the busy
   time of the iperf3 CPU from /proc/stat, which holds all of the
   transfer's work, softirqs included, plus the agent's CPU from its
   schedstat); and the share of the iperf3 CPU that the two iperf3
   processes got (their rusage, which includes the softirq work done in
   their context): what is missing went to other jobs and to ksoftirqd,
   and a low share flags a disturbed run.  Then STAT_RUNS more runs each of
   the no-op program and the agent, alternating, with BPF statistics on
   (they cost two clock reads per run, so not in the rounds): the
   programs' run time per skb, median and range.

Everything happens in two namespaces created here (10.77.0.0/24), removed at
exit, also on failure or a signal.  Needs root, tc, bpftool, clang, trafgen
and iperf3 (make deps).  A benchmark: a missed target is reported, never
fatal; the exit status is non-zero only when the benchmark could not run.

  tools/bench_live.py [--packets N] [--rounds R] [--seconds S] [--stat-runs N]
                      [--iperf-cpu C] [--quick] [--only capture|iperf]
                      [-- FLOWSIGHT_OPTION...]
"""
import argparse
import atexit
import ctypes
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# the namespace and process helpers of the live tests
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "live"))
from harness import del_netns, nsexec, quartiles, stop_procs, tcx_prog_ids  # noqa: E402

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


def cleanup():
    stop_procs(PROCS)
    del_netns(NS_A, NS_B)
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


class BpfStats:
    """Run-time statistics of every BPF program while the context lasts
    (BPF_ENABLE_STATS: the kernel turns them off when the fd is closed)."""

    def __enter__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        attr = (ctypes.c_uint32 * 4)(0)  # BPF_STATS_RUN_TIME
        self.fd = libc.syscall(321, 32, ctypes.byref(attr), 16)  # bpf(BPF_ENABLE_STATS)
        if self.fd < 0 or os.uname().machine != "x86_64":
            raise CannotRun("cannot enable BPF run-time statistics: %s"
                            % os.strerror(ctypes.get_errno()))
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def prog_ids():
    """Ids of the TC programs attached to T_B: tc filters, and tcx links
    (the agent's on kernels that have tcx, which tc does not show: without
    them the agent's programs' run time read 0 ns per skb)."""
    ids = []
    for point in ("ingress", "egress"):
        out = sh(*nsexec(NS_B, "tc", "filter", "show", "dev", T_B, point))
        ids += [int(i) for i in re.findall(r" id (\d+)", out)]
    return ids + tcx_prog_ids(NS_B, T_B)


def prog_run(ids):
    """(run time ns, runs) summed over programs @ids."""
    ns = cnt = 0
    for i in ids:
        info = json.loads(sh("bpftool", "prog", "show", "id", str(i), "-j"))
        ns, cnt = ns + info.get("run_time_ns", 0), cnt + info.get("run_cnt", 0)
    return ns, cnt


class Agent:
    """flowsight in NS_B on T_B, on CPUs @cpus (taskset list) if given;
    stderr kept in a file."""

    def __init__(self, capture, args, name, cpus=None):
        self.out = os.path.join(TMP, name + ".csv")
        self.err_path = os.path.join(TMP, name + ".err")
        self.err = open(self.err_path, "w")
        if os.path.exists(self.out):  # its appearance says the capture is attached
            os.remove(self.out)
        cmd = [FS, "-i", T_B, "--capture", capture, "-o", self.out,
               "--performance-report", "1"] + args
        # `ip netns exec` execs the command: the pid is flowsight's
        pin = ["taskset", "-c", cpus] if cpus else []  # taskset execs too
        self.proc = subprocess.Popen(pin + nsexec(NS_B, *cmd), stdout=subprocess.DEVNULL,
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


def run_capture(capture, shape, packets, args, gap_ns=None):
    """One capture run; @gap_ns paces trafgen (its --gap between packets:
    one send per packet, sent evenly), None sends flat out.  Not --rate:
    trafgen -b 50000pps sends each second's 50,000 packets in one burst at
    line rate (about 100 ms here) and then waits, so "paced" traffic was a
    1 Hz train of 50k-packet bursts, which overflowed libpcap's default
    2 MB ring (4-20% lost by an agent 15% busy) and told nothing of a
    steady rate.  The achieved rate is measured and printed."""
    agent = Agent(capture, args, "%s-%s" % (shape, capture))
    ids = prog_ids() if capture == "ebpf" else []
    try:
        time.sleep(0.5)  # past start-up
        prog0 = prog_run(ids)
        rx0, cpu0 = rx_packets(), cpu_s(agent.proc.pid)
        t0 = time.monotonic()
        # one sender thread, exactly @packets frames; --no-sock-mem and
        # --notouch-irq: trafgen changes no system-wide setting
        pace = ["-t", "%dns" % gap_ns] if gap_ns is not None else []
        p = subprocess.run(nsexec(NS_A, "trafgen", "--no-sock-mem", "--notouch-irq", "-C",
                                  "-P", "1", "-n", str(packets), "-i", trafgen_cfg(shape),
                                  "-o", T_A, *pace),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t_send = time.monotonic() - t0
        if p.returncode:
            raise CannotRun("trafgen exit %d: %s" % (p.returncode, p.stderr.decode()[-300:]))
        delivered = rx_packets() - rx0
        agent.wait_settled(delivered)
        cpu = cpu_s(agent.proc.pid) - cpu0
        prog = [b - a for a, b in zip(prog0, prog_run(ids))]
    finally:
        if agent.proc.poll() is None:
            agent.stop()
    accounted, flows = agent.flow_packets()
    return {"capture": capture, "shape": shape + (" paced" if gap_ns is not None else ""),
            "sent": packets,
            "delivered": delivered,
            "accounted": accounted, "flows": flows, "cpu": cpu, "pps": packets / t_send,
            "ms_per_m": 1e3 * cpu / (accounted / 1e6) if accounted else float("inf"),
            "prog_ns": prog[0] / prog[1] if ids and prog[1] else None}


def print_capture(r):
    loss = r["sent"] - r["accounted"]
    print("  %-8s %-5s sent %d at %.2f Mpps, delivered by the veth %d, in flows %d (%d of %d "
          "flows), loss %d (%.3f%%); agent CPU %.3f s = %.1f ms per M packets"
          % (r["shape"], r["capture"], r["sent"], r["pps"] / 1e6, r["delivered"], r["accounted"],
             r["flows"], SHAPE_FLOWS[r["shape"].split()[0]], loss, 100.0 * loss / r["sent"], r["cpu"],
             r["ms_per_m"]) + ("; TC program %.0f ns per packet" % r["prog_ns"]
                                if r["prog_ns"] else ""), flush=True)


NOP_C = """struct __sk_buff;
__attribute__((section("tc"), used)) int fs_nop(struct __sk_buff *skb) { return -1; }
char _license[] __attribute__((section("license"), used)) = "GPL";
"""

# iperf3 configurations, in the order each round runs them
IPERF_CONFS = ("none", "clsact", "nop", "ebpf")
IPERF_NAMES = {"none": "no agent", "clsact": "empty clsact qdisc",
               "nop": "clsact + TC_ACT_UNSPEC program", "ebpf": "ebpf agent"}


def nop_object():
    """A TC program that only returns TC_ACT_UNSPEC: the price of the hook."""
    src, obj = os.path.join(TMP, "nop.c"), os.path.join(TMP, "nop.o")
    if not os.path.exists(obj):
        with open(src, "w") as f:
            f.write(NOP_C)
        sh("clang", "-O2", "-target", "bpf", "-c", src, "-o", obj)
    return obj


def hook_setup(conf):
    """The bare hook of @conf on T_B; hook_teardown() removes it."""
    if conf in ("clsact", "nop"):
        sh(*nsexec(NS_B, "tc", "qdisc", "add", "dev", T_B, "clsact"))
    if conf == "nop":
        for point in ("ingress", "egress"):
            sh(*nsexec(NS_B, "tc", "filter", "add", "dev", T_B, point, "prio", "1", "handle",
                       "1", "bpf", "da", "obj", nop_object(), "sec", "tc"))


def hook_teardown(conf):
    if conf in ("clsact", "nop"):
        subprocess.run(nsexec(NS_B, "tc", "qdisc", "del", "dev", T_B, "clsact"),
                       stderr=subprocess.DEVNULL)


def cpu_busy_s(cpu):
    """Busy seconds of CPU @cpu (all but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            v = line.split()
            if v[0] == "cpu%d" % cpu:
                t = [int(x) for x in v[1:9]]  # user..steal; guest is in user
                return (sum(t) - t[3] - t[4]) / HZ
    raise CannotRun("cpu%d not in /proc/stat" % cpu)


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Pinning:
    """Where iperf3 and the agent run: client and server on one CPU, the
    agent (and, by the scheduler's choice, everything else) on the rest."""

    def __init__(self, iperf_cpu):
        cpus = sorted(os.sched_getaffinity(0))
        if iperf_cpu not in cpus:
            raise CannotRun("--iperf-cpu %d: not one of this process's CPUs %s"
                            % (iperf_cpu, cpus))
        self.cpu = iperf_cpu
        rest = [c for c in cpus if c != iperf_cpu]
        self.agent = ",".join(map(str, rest)) if rest else None

    def iperf(self, ns, *args):
        # nice -10: the scheduler moves other jobs off this CPU rather than
        # share it with them
        return ["taskset", "-c", str(self.cpu), "nice", "-n", "-10"] + nsexec(ns, "iperf3",
                                                                               *args)


IPERF_WINDOW = "4M"  # -w: fixed socket buffers on both ends (no autotuning)


def iperf_server(pin):
    srv = subprocess.Popen(pin.iperf(NS_B, "-s", "-1", "-B", IP_B),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(srv)
    time.sleep(0.3)
    return srv


def iperf_client(pin, secs, json_out):
    return subprocess.run(pin.iperf(NS_A, "-c", IP_B, "-t", str(secs), "-O", "1", "-Z",
                                    "-w", IPERF_WINDOW, *(["-J"] if json_out else [])),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def iperf_once(pin, secs, conf, agent_args):
    """One iperf3 run under @conf: Gbit/s received (the -O second
    excluded), GB sent in the whole run, the busy seconds of the iperf3 CPU,
    the agent's CPU seconds, and the share of the iperf3 CPU that iperf3
    got."""
    agent = Agent("ebpf", agent_args, "iperf", pin.agent) if conf == "ebpf" else None
    hook_setup(conf)
    try:
        ch0 = children_cpu_s()  # nothing else is reaped until both iperf3 are
        srv = iperf_server(pin)
        cpu0, busy0 = agent and cpu_s(agent.proc.pid), cpu_busy_s(pin.cpu)
        t0 = time.monotonic()
        p = iperf_client(pin, secs, True)
        wall = time.monotonic() - t0
        busy = cpu_busy_s(pin.cpu) - busy0
        cpu = cpu_s(agent.proc.pid) - cpu0 if agent else 0.0
        srv.wait(timeout=10)
        ipf = children_cpu_s() - ch0
        if p.returncode:
            raise CannotRun("iperf3 exit %d: %s" % (p.returncode, p.stdout.decode()[-300:]))
        j = json.loads(p.stdout.decode())
        sent = sum(i["sum"]["bytes"] for i in j["intervals"])  # the -O second too
        return {"gbps": j["end"]["sum_received"]["bits_per_second"] / 1e9, "gb": sent / 1e9,
                "busy": busy, "agent_cpu": cpu, "share": ipf / wall}
    finally:
        hook_teardown(conf)
        if agent and agent.proc.poll() is None:
            agent.stop()


def run_iperf(pin, rounds, secs, fsargs):
    """Interleaved runs of every configuration; each round starts one
    configuration later, so that no configuration always follows another."""
    runs = {c: [] for c in IPERF_CONFS}
    print("iperf3 TCP A->B, %d rounds x %d configurations x (1 + %d) s, interleaved; "
          "client and server on CPU %d, agent on CPU %s; -Z -w %s -O 1:"
          % (rounds, len(IPERF_CONFS), secs, pin.cpu, pin.agent or "(any)", IPERF_WINDOW),
          flush=True)
    for i in range(rounds):
        order = IPERF_CONFS[i % len(IPERF_CONFS):] + IPERF_CONFS[:i % len(IPERF_CONFS)]
        for conf in order:
            r = iperf_once(pin, secs, conf, fsargs)
            runs[conf].append(r)
            print("  round %2d %-31s %6.2f Gbit/s; CPU per GB: CPU %d %.3f s, agent %.4f s; "
                  "iperf3's share of CPU %d %3.0f%%"
                  % (i + 1, IPERF_NAMES[conf], r["gbps"], pin.cpu, r["busy"] / r["gb"],
                     r["agent_cpu"] / r["gb"], pin.cpu, 100 * r["share"]), flush=True)
    return runs


def iperf_prog_cost(pin, n, secs, fsargs):
    """Run time per skb of the nop program and of the agent's, under iperf3,
    with BPF statistics on (they cost a little, so not in the rounds): @n
    runs of each, alternating; lists of (ns per skb, skbs per s)."""
    cost = {"nop": [], "ebpf": []}
    for _ in range(n):
        for conf in ("nop", "ebpf"):
            agent = Agent("ebpf", fsargs, "iperf-stats", pin.agent) if conf == "ebpf" else None
            hook_setup(conf)
            try:
                ids = prog_ids()
                srv = iperf_server(pin)
                p0, t0 = prog_run(ids), time.monotonic()
                iperf_client(pin, secs, False)
                ns, cnt = [b - a for a, b in zip(p0, prog_run(ids))]
                wall = time.monotonic() - t0
                srv.wait(timeout=10)
                cost[conf].append((ns / cnt if cnt else 0.0, cnt / wall))
            finally:
                hook_teardown(conf)
                if agent and agent.proc.poll() is None:
                    agent.stop()
    return cost


def print_iperf(runs):
    base = statistics.median(r["gbps"] for r in runs["none"])
    base_cpu = statistics.median(r["busy"] / r["gb"] for r in runs["none"])
    print("  iperf3 throughput (median [quartiles] min..max), its ratio to no agent (median "
          "of the per-round ratios [quartiles]), CPU per GB (median) and iperf3's share of "
          "its CPU (median):")
    for conf in IPERF_CONFS:
        g = [r["gbps"] for r in runs[conf]]
        med, (q1, q3) = statistics.median(g), quartiles(g)
        pr = [r["gbps"] / b["gbps"] for r, b in zip(runs[conf], runs["none"])]
        cpu = statistics.median((r["busy"] + r["agent_cpu"]) / r["gb"] for r in runs[conf])
        print("    %-31s %6.2f [%.2f %.2f] %.2f..%.2f Gbit/s, ratio %.3f [%.3f %.3f]; "
              "CPU %.3f s/GB (ratio %.3f); share %.0f%%"
              % (IPERF_NAMES[conf], med, q1, q3, min(g), max(g), statistics.median(pr),
                 *quartiles(pr), cpu, cpu / base_cpu,
                 100 * statistics.median(r["share"] for r in runs[conf])))
    pr = [r["gbps"] / b["gbps"] for r, b in zip(runs["ebpf"], runs["none"])]
    ratio = statistics.median(pr)
    hook = statistics.median(r["gbps"] / b["gbps"] for r, b in zip(runs["clsact"], runs["none"]))
    print("  iperf3 with the ebpf agent / without: %.3f [quartiles %.3f %.3f] (target >= 0.97: "
          "%s); ratio of the medians %.3f; the empty clsact qdisc alone: %.3f"
          % (ratio, *quartiles(pr), "met" if ratio >= 0.97 else "NOT met",
             statistics.median(r["gbps"] for r in runs["ebpf"]) / base, hook))


def print_prog_cost(cost):
    def fmt(v):
        ns = [c[0] for c in v]
        return "%.0f ns per skb (%.0f..%.0f, %d runs)" % (statistics.median(ns), min(ns),
                                                           max(ns), len(ns))
    print("  TC programs under iperf3 (BPF run-time statistics): TC_ACT_UNSPEC program %s, "
          "ebpf agent %s, %.0f skbs/s" % (fmt(cost["nop"]), fmt(cost["ebpf"]),
                                          statistics.median(c[1] for c in cost["ebpf"])))


def why_not():
    if os.geteuid() != 0:
        return "needs root (network namespaces, BPF, packet sockets)"
    for tool in ("ip", "tc", "bpftool", "clang", "trafgen", "iperf3", "taskset"):
        if not shutil.which(tool):
            return "%s not found (make deps)" % tool
    if not os.access(FS, os.X_OK):
        return "%s not built (make)" % FS
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=3_000_000, help="frames per capture run")
    ap.add_argument("--rounds", type=int, default=12, help="iperf3 rounds per configuration")
    ap.add_argument("--seconds", type=int, default=3,
                    help="length of one iperf3 run, after its discarded first second")
    ap.add_argument("--stat-runs", type=int, default=3,
                    help="iperf3 runs of the no-op program and of the agent with BPF statistics")
    ap.add_argument("--iperf-cpu", type=int, default=0,
                    help="CPU of the iperf3 client and server (the agent gets the others)")
    ap.add_argument("--quick", action="store_true", help="300k frames, 1 round of 2 s")
    ap.add_argument("--paced-gap-us", type=float, default=None,
                    help="the paced 'many' runs' gap between packets, microseconds "
                         "(default: found: the shortest of 0, 10, 20, 50 us at which libpcap "
                         "loses under 0.5%%; trafgen then sends about 100k, 55k, 35k, 17k "
                         "packets/s here, evenly)")
    ap.add_argument("--only", choices=("capture", "iperf"), help="run one part only")
    ap.add_argument("fsargs", nargs="*", help="flowsight options for every agent run")
    a = ap.parse_args()
    if a.quick:
        a.packets, a.rounds, a.seconds, a.stat_runs = 300_000, 1, 2, 1
    reason = why_not()
    if reason:
        print("bench_live: cannot run: %s" % reason, file=sys.stderr)
        return 1
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    try:
        setup()
        if a.only != "iperf":
            print("capture cost: %d frames of 106 bytes per run, flowsight %s"
                  % (a.packets, " ".join(a.fsargs) or "(default options)"), flush=True)
        res = {}
        for shape in SHAPES if a.only != "iperf" else ():
            for capture in ("ebpf", "pcap"):
                with BpfStats():
                    r = run_capture(capture, shape, a.packets, a.fsargs)
                res[shape, capture] = r
                print_capture(r)
        # Flat out, libpcap may drop much of "many" (its CPU is then spent on
        # fewer packets): the CPU per packet is compared again at a rate
        # libpcap keeps up with, so that both captures meter every packet.
        if a.only != "iperf":
            gaps = [int(a.paced_gap_us * 1000)] if a.paced_gap_us is not None else \
                [1, 10_000, 20_000, 50_000]
            for gap in gaps:
                r = run_capture("pcap", "many", a.packets, a.fsargs, gap)
                print_capture(r)
                if (r["sent"] - r["accounted"]) / r["sent"] < 0.005 or gap == gaps[-1]:
                    break
            res["many paced", "pcap"] = r
            with BpfStats():
                r = run_capture("ebpf", "many", a.packets, a.fsargs, gap)
            print_capture(r)
            res["many paced", "ebpf"] = r
        runs = cost = None
        if a.only != "capture":
            pin = Pinning(a.iperf_cpu)
            runs = run_iperf(pin, a.rounds, a.seconds, a.fsargs)
            with BpfStats():
                cost = iperf_prog_cost(pin, a.stat_runs, a.seconds, a.fsargs)
    except (CannotRun, OSError, subprocess.SubprocessError) as e:
        print("bench_live: cannot run: %s" % e, file=sys.stderr)
        return 1
    finally:
        cleanup()

    print("summary:")
    for shape in (list(SHAPES) + ["many paced"]) if a.only != "iperf" else ():
        e, p = res[shape, "ebpf"], res[shape, "pcap"]
        ratio = e["ms_per_m"] / p["ms_per_m"] if p["ms_per_m"] else float("inf")
        target = " (target <= 0.10: %s)" % ("met" if ratio <= 0.1 else "NOT met") \
            if shape == "elephant" else ""
        if shape == "many paced":
            lossless = e["sent"] == e["accounted"]
            target = " at %.0f kpps (target <= 1 with no loss: %s)" % (
                e["pps"] / 1e3, "met" if ratio <= 1 and lossless else "NOT met")
        print("  %-8s CPU per M packets: ebpf %.1f ms, pcap %.1f ms, ebpf/pcap %.3f%s; "
              "loss ebpf %d, pcap %d of %d"
              % (shape, e["ms_per_m"], p["ms_per_m"], ratio, target, e["sent"] - e["accounted"],
                 p["sent"] - p["accounted"], e["sent"]))
    if runs:
        print_iperf(runs)
        print_prog_cost(cost)
    return 0


if __name__ == "__main__":
    sys.exit(main())
