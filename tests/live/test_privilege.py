#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Least privilege of live capture (README "Privileges").

flowsight runs as uid 65534 holding exactly the documented capabilities
(setpriv: inheritable + ambient + bounding set), in namespace fsp-<pid>-a,
on a veth pair to fsp-<pid>-b (10.202.0.0/24, IPv6 off: no other traffic)
that the test creates and removes at exit even when a case fails.

- pcap (CAP_NET_RAW), ebpf (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON) and ebpf
  with --system-visibility-mode 2 (the same) capture exactly 5 pings, 5+5
  packets, the last one naming the ping process;
- once attached, every thread's sets (/proc/PID/task/*/status) hold only
  what the running capture keeps: nothing for pcap, CAP_NET_ADMIN for eBPF
  (tcx links, or TC filters forced with FLOWSIGHT_EBPF_ATTACH=tc: nothing
  is left after exit, checked), CAP_BPF too on kernels
  that want it for map reads; no ambient or inheritable ones, no_new_privs;
- with --wait-interface, what is kept (CAP_NET_RAW for pcap too) opens the
  interface again once it is deleted and created anew, as uid 65534;
- each required capability removed in turn: exit 1 and one stderr line
  naming exactly that capability as missing and what needs it;
- --capture auto without the eBPF capabilities falls back to libpcap and
  says so;
- uid 0 with a reduced bounding set (a container) is judged by its
  capabilities, and with CAP_SETPCAP the bounding set is reduced too.
Needs root, `ip netns` and setpriv (util-linux); skipped otherwise.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, Suite, check, del_netns, nsexec, sh, stop_procs, tcx_progs  # noqa: E402

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
TMP = tempfile.mkdtemp(prefix="fs-priv-")
FS_COPY = os.path.join(TMP, "flowsight")  # reachable by uid 65534, immune to rebuilds
PFX = "fsp-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
T_A, T_B = PFX + "-ta", PFX + "-tb"
IP_A, IP_B = "10.202.0.1", "10.202.0.2"
NOBODY = 65534
PROCS = []

# Capability numbers (linux/capability.h) of those the test names.
CAP = {"CAP_DAC_READ_SEARCH": 2, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
       "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}
PCAP_CAPS = ["CAP_NET_RAW"]
EBPF_CAPS = ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"]


def stop_all():
    stop_procs(PROCS)


SUITE = Suite("privilege", stop_all)
case = SUITE.case


def cleanup():
    stop_all()
    del_netns(NS_A, NS_B)
    shutil.rmtree(TMP, ignore_errors=True)


def setup():
    os.chmod(TMP, 0o777)
    shutil.copy(FS, FS_COPY)
    os.chmod(FS_COPY, 0o755)
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for k in ("all", "default"):
            sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % k))
    pair()
    # neighbours resolved now: the captures see the pings only (ARP is not IP anyway)
    sh(*nsexec(NS_B, "ping", "-c", "1", "-W", "5", IP_A))


def why_skip():
    if os.geteuid() != 0:
        return "needs root (namespaces, and setpriv to become uid 65534 with chosen capabilities)"
    for tool in ("ip", "setpriv", "tc", "ping"):
        if not shutil.which(tool):
            return "%s not installed (make deps)" % tool
    p = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        return "'ip netns' unavailable: %s" % p.stderr.decode().strip()
    if not os.access(FS, os.X_OK):
        return "%s not built" % FS
    p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                        "--clear-groups", "--inh-caps=-all,+net_raw",
                        "--ambient-caps=-all,+net_raw", "--bounding-set=-all,+net_raw", "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        return "setpriv cannot grant ambient capabilities here: %s" % p.stderr.decode().strip()
    return None


def mask(names):
    m = 0
    for n in names:
        m |= 1 << CAP[n]
    return m


def agent_cmd(caps, args, uid=NOBODY, bounding=None, cgroup2=False):
    """flowsight in NS_A as @uid holding exactly @caps (bounding set
    @bounding, default @caps).  @cgroup2: mount it first, as root, where
    `ip netns exec` hid it (a service has it mounted already)."""
    def spec(names):
        return "-all" + "".join(",+" + n[4:].lower() for n in names)

    bounding = caps if bounding is None else bounding
    cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
           "--inh-caps=" + spec(caps), "--ambient-caps=" + spec(caps),
           "--bounding-set=" + spec(bounding), FS_COPY] + args
    if cgroup2:
        cmd = ["sh", "-c", 'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"', "sh"] + cmd
    return nsexec(NS_A, *cmd)


class Agent:
    """flowsight capturing on T_A with -v; stderr collected by a thread."""

    def __init__(self, caps, extra, env=None, **kw):
        self.out = os.path.join(TMP, "flows.jsonl")
        if os.path.exists(self.out):
            os.unlink(self.out)
        args = ["-v", "-i", T_A, "-F", "jsonl", "-o", self.out] + extra
        # ip netns exec, sh and setpriv all exec: the pid is flowsight's
        self.proc = subprocess.Popen(agent_cmd(caps, args, **kw), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     env=dict(os.environ, **env) if env else None)
        PROCS.append(self.proc)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_line("capabilities dropped in ")

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def wait_line(self, text, timeout=20):
        deadline = time.time() + timeout
        while not any(text in l for l in list(self.lines)):
            check(self.proc.poll() is None, "flowsight ended: %r" % self.lines)
            check(time.time() < deadline, "no %r on stderr after %d s: %r"
                  % (text, timeout, self.lines))
            time.sleep(0.02)

    def threads(self):
        """{tid: {CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs}} of every thread."""
        res = {}
        base = "/proc/%d/task" % self.proc.pid
        for tid in os.listdir(base):
            with open(os.path.join(base, tid, "status")) as f:
                st = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
            check(st["Name"] == "flowsight", "pid %d is %r, not flowsight" % (self.proc.pid,
                                                                            st["Name"]))
            res[int(tid)] = {k: int(st[k], 16) for k in
                             ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
            res[int(tid)]["NoNewPrivs"] = int(st["NoNewPrivs"])
        return res

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        self.reader.join(timeout=5)
        check(rc == 0, "exit %d: %r" % (rc, self.lines))
        with open(self.out) as f:
            return [json.loads(l) for l in f if l.strip()]


def check_sets(agent, kept, bounding, min_threads):
    th = agent.threads()
    check(len(th) >= min_threads, "%d threads, expected >= %d" % (len(th), min_threads))
    for tid, s in th.items():
        want = {"CapInh": 0, "CapPrm": kept, "CapEff": kept, "CapBnd": bounding, "CapAmb": 0,
                "NoNewPrivs": 1}
        check(s == want, "thread %d: %s, expected %s" % (
            tid, {k: hex(v) for k, v in s.items()}, {k: hex(v) for k, v in want.items()}))


def bpf_cap_kept_at_run():
    """Mirror of the kernel rule the agent probes: before 6.5, with
    unprivileged BPF disabled, map reads need CAP_BPF too."""
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        disabled = int(f.read()) != 0
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    return disabled and (major, minor) < (6, 5)


def ebpf_kept():
    return mask(["CAP_NET_ADMIN"] + (["CAP_BPF"] if bpf_cap_kept_at_run() else []))


def need_ebpf():
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        raise Skip("kernel BTF missing: eBPF capture cannot load")


def pings(ns, dst, n=5):
    p = subprocess.Popen(nsexec(ns, "ping", "-c", str(n), "-i", "0.2", "-W", "5", dst),
                         stdout=subprocess.DEVNULL)
    PROCS.append(p)
    check(p.wait(timeout=30) == 0, "ping failed")
    return p.pid  # ip netns exec execs ping: the same pid


def one_icmp_flow(rows, src, dst, n=5):
    check(len(rows) == 1, "%d flows, expected the ping only: %r" % (len(rows), rows))
    r = rows[0]
    got = (r["protocol"], r["src_ip"], r["dst_ip"], r["src2dst_packets"], r["dst2src_packets"],
           r["bidirectional_packets"])
    check(got == (1, src, dst, n, n, 2 * n), "flow %r, expected %r" % (got, (1, src, dst, n, n,
                                                                           2 * n)))
    return r


def ebpf_filters():
    out = ""
    for d in ("ingress", "egress"):
        out += sh(*nsexec(NS_A, "tc", "filter", "show", "dev", T_A, d)).stdout.decode()
    return out.strip()


def ebpf_attached():
    """What of ours is on T_A: TC filters (tc's text) and tcx programs."""
    return ebpf_filters(), [n or 0 for n in tcx_progs(NS_A, T_A)]


# ---- exactly the documented capabilities -----------------------------------

@case("pcap_with_cap_net_raw_only")
def _():
    a = Agent(PCAP_CAPS, ["--capture", "pcap"])
    pings(NS_B, IP_A)
    a.wait_line("capabilities dropped in ")
    check_sets(a, 0, mask(PCAP_CAPS), 3)  # main, writer, meter
    one_icmp_flow(a.stop(), IP_B, IP_A)
    check(any("kept none; dropped CAP_NET_RAW" in l for l in a.lines), a.lines)


def ebpf_exact_caps(env=None):
    need_ebpf()
    a = Agent(EBPF_CAPS, ["--capture", "ebpf"], env=env)
    pings(NS_B, IP_A)
    check_sets(a, ebpf_kept(), mask(EBPF_CAPS), 3)  # main, writer, capture worker
    tc, tcx = ebpf_attached()
    check(tc if env else tc or tcx == [1, 1], "nothing attached while capturing: %r" % ((tc, tcx),))
    one_icmp_flow(a.stop(), IP_B, IP_A)
    check(ebpf_attached() == ("", [0, 0]), "left after exit: %r" % (ebpf_attached(),))


@case("ebpf_with_bpf_net_admin_perfmon_only")
def _():
    ebpf_exact_caps()  # tcx links where the kernel has them


@case("ebpf_tc_filters_with_bpf_net_admin_perfmon_only")
def _():
    ebpf_exact_caps({"FLOWSIGHT_EBPF_ATTACH": "tc"})


def pair():
    sh("ip", "-n", NS_A, "link", "add", T_A, "type", "veth", "peer", "name", T_B, "netns", NS_B)
    for ns, i, ip in ((NS_A, T_A, IP_A), (NS_B, T_B, IP_B)):
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", i)
        sh("ip", "-n", ns, "link", "set", i, "up")


def reattach_with_kept_caps(capture, caps, kept, env=None):
    """--wait-interface: what the capture keeps after the drop opens the
    interface again once it is deleted and created anew."""
    a = Agent(caps, ["--capture", capture, "--wait-interface"], env=env)
    pings(NS_B, IP_A)
    check_sets(a, kept, mask(caps), 3)  # the capture's threads start after the drop
    sh("ip", "-n", NS_A, "link", "del", T_A)
    a.wait_line("interface '%s' went away" % T_A)
    pair()
    a.wait_line("re-attached")
    pings(NS_B, IP_A)
    rows = a.stop()
    check(len(rows) == 2, "the pings before and after, as two flows: %r" % rows)
    one_icmp_flow(rows[:1], IP_B, IP_A)
    one_icmp_flow(rows[1:], IP_B, IP_A)
    check(ebpf_attached() == ("", [0, 0]), "left after exit: %r" % (ebpf_attached(),))


@case("pcap_wait_interface_keeps_cap_net_raw")
def _():
    reattach_with_kept_caps("pcap", PCAP_CAPS, mask(["CAP_NET_RAW"]))


@case("ebpf_wait_interface_with_kept_caps")
def _():
    need_ebpf()
    reattach_with_kept_caps("ebpf", EBPF_CAPS, ebpf_kept())


@case("ebpf_tc_filters_wait_interface_with_kept_caps")
def _():
    need_ebpf()
    reattach_with_kept_caps("ebpf", EBPF_CAPS, ebpf_kept(), {"FLOWSIGHT_EBPF_ATTACH": "tc"})


@case("ebpf_attribution_mode2_same_caps")
def _():
    need_ebpf()
    a = Agent(EBPF_CAPS, ["--capture", "ebpf", "--system-visibility-mode", "2"], cgroup2=True)
    pid = pings(NS_A, IP_B)
    # main, attribution's event reader (started before the drop), writer, worker
    check_sets(a, ebpf_kept(), mask(EBPF_CAPS), 4)
    r = one_icmp_flow(a.stop(), IP_A, IP_B)
    got = (r["system_process_pid"], r["system_process_name"], r["system_attribution"])
    check(got == (pid, "ping", "send"), "attribution %r, expected %r" % (got, (pid, "ping",
                                                                             "send")))


@case("auto_without_ebpf_caps_falls_back_to_pcap")
def _():
    a = Agent(PCAP_CAPS, ["--capture", "auto"])
    pings(NS_B, IP_A)
    one_icmp_flow(a.stop(), IP_B, IP_A)
    want = ("flowsight: capture: pcap (ebpf needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON; "
            "missing: CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON)")
    check(want in a.lines, "fallback not said: %r" % a.lines)


# ---- each capability removed in turn ---------------------------------------

MISSING = re.compile(r"^flowsight: cannot capture on '([^']+)': (.*) \(missing: ([A-Z_, ]+)\)$")


def refused(caps, args, **kw):
    """Run without -v; returns (what needs them, set of missing names)."""
    p = subprocess.run(agent_cmd(caps, ["-i", T_A, "-o", os.path.join(TMP, "no.csv")] + args,
                                 **kw),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    lines = p.stderr.decode().strip().splitlines()
    check(p.returncode == 1, "caps %s: exit %d: %r" % (caps, p.returncode, lines))
    check(len(lines) == 1, "caps %s: one line expected: %r" % (caps, lines))
    m = MISSING.match(lines[0])
    check(m and m.group(1) == T_A, "caps %s: line %r" % (caps, lines[0]))
    check(not os.path.exists(os.path.join(TMP, "no.csv")), "output created")
    return m.group(2), set(m.group(3).split(", "))


def each_removed(full, args, needers, **kw):
    for cap in full:
        what, missing = refused([c for c in full if c != cap], args, **kw)
        check(missing == {cap}, "without %s: missing %s" % (cap, missing))
        for n in needers:
            check(n in what, "without %s: %r does not say %r" % (cap, what, n))


@case("pcap_without_cap_net_raw")
def _():
    each_removed(PCAP_CAPS, ["--capture", "pcap"],
                 ["--capture pcap needs CAP_NET_RAW"])


@case("ebpf_without_each_cap")
def _():
    each_removed(EBPF_CAPS, ["--capture", "ebpf"],
                 ["--capture ebpf needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"])


@case("ebpf_attribution_without_each_cap")
def _():
    each_removed(EBPF_CAPS, ["--capture", "ebpf", "--system-visibility-mode", "2"],
                 ["--capture ebpf needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON",
                  "--system-visibility-mode needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"],
                 cgroup2=True)


@case("pcap_attribution_without_each_cap")
def _():
    full = PCAP_CAPS + EBPF_CAPS
    for cap in full:
        what, missing = refused([c for c in full if c != cap],
                                ["--capture", "pcap", "--system-visibility-mode", "1"],
                                cgroup2=True)
        check(missing == {cap}, "without %s: missing %s" % (cap, missing))
        who = "--capture pcap" if cap == "CAP_NET_RAW" else "--system-visibility-mode"
        check(what.startswith(who + " needs") and what.count(" needs ") == 1,
              "without %s: %r" % (cap, what))


@case("auto_without_any_names_both")
def _():
    what, missing = refused([], ["--capture", "auto"])
    check(missing == set(PCAP_CAPS + EBPF_CAPS), "missing %s" % missing)
    check(what == "--capture auto needs CAP_NET_RAW for libpcap or CAP_BPF, CAP_NET_ADMIN "
                  "and CAP_PERFMON for eBPF", what)


# ---- uid 0 is not a capability ---------------------------------------------

@case("root_with_reduced_bounding_set")
def _():
    need_ebpf()
    what, missing = refused(["CAP_BPF", "CAP_NET_ADMIN"], ["--capture", "ebpf"], uid=0)
    check(missing == {"CAP_PERFMON"}, "uid 0 without CAP_PERFMON: missing %s" % missing)
    # with CAP_SETPCAP the bounding set goes down to what is kept
    caps = EBPF_CAPS + ["CAP_SETPCAP"]
    a = Agent(caps, ["--capture", "ebpf"], uid=0)
    pings(NS_B, IP_A)
    check_sets(a, ebpf_kept(), ebpf_kept(), 3)
    one_icmp_flow(a.stop(), IP_B, IP_A)
    check(any("bounding set reduced" in l for l in a.lines), a.lines)


if __name__ == "__main__":
    sys.exit(SUITE.main(why_skip, setup, cleanup, only=sys.argv[1:]))
