#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""flowsight top, process-labelled pcapng and the offline progress line.

Two namespaces, fst-<pid>-a (flowsight and the named workload processes)
and fst-<pid>-b (their peers), one veth pair with 10.203.0.0/24; a small
tmpfs the test mounts for the full-disk case; a tmux server of its own
(-L) for the terminal cases.  All are removed at exit, even when a case
fails.  The live cases need root, 'ip netns', tmux and tshark; each missing
one is an explicit SKIP with the reason.  Every expected pid and name comes
from the workload process itself (top_workload.py).

Cases:
- top in a real terminal (tmux), libpcap and eBPF: two processes sending at
  2 MB/s and 200 kB/s are the first two rows, with their pid and name, the
  faster first; sort keys, the flow drill-down, a resize to a tiny window
  (says it is too small), 'q' and Ctrl-C leave the terminal restored;
- top's plain table when stdout is not a terminal: a process that sent
  exactly 40 datagrams of 100 bytes shows TX_BYTES 40 * 142, 1 flow;
- --pcapng-out, libpcap: tshark shows each packet's label (flow serial,
  5-tuple, first-seen time, pid and name), and flowsight -r on the file
  gives the live run's flows exactly (all columns but id and the process);
- --pcapng-out, eBPF with --n-dissections 0 --splt-analysis 10: the file
  holds each flow's first 10 packets (the samples): read back, every flow
  is there with min(packets, 10) packets, and the flows of at most 10
  packets are equal;
- --pcapng-out to a full disk: one line says so, the flow records are all
  written, exit status 1;
- --progress 1 with stderr to a file: the final line says 100%, the file's
  exact size and its packet count, and is cleared; without the option and
  with stderr not a terminal nothing is written.
"""
import csv
import json
import os
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
sys.path.insert(0, os.path.join(HERE, "..", "live"))
from harness import Skip, Suite, check, del_netns, nsexec, sh, stop_procs  # noqa: E402

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
WORK = os.path.join(HERE, "top_workload.py")
PY = os.path.realpath(sys.executable)
TMP = tempfile.mkdtemp(prefix="fs-top-")
PFX = "fst-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
T_A, T_B = PFX + "-ta", PFX + "-tb"
IP_A, IP_B = "10.203.0.1", "10.203.0.2"
TMUX = ["tmux", "-L", PFX, "-f", "/dev/null"]
SMALL = os.path.join(TMP, "small")
PROCS = []
STATE = {"netns": False, "tmux": False, "mount": False}


def stop_all():
    stop_procs(PROCS)
    if STATE["tmux"]:
        subprocess.run(TMUX + ["kill-server"], stderr=subprocess.DEVNULL)
        STATE["tmux"] = False


SUITE = Suite("top", stop_all)
case = SUITE.case


def cleanup():
    stop_all()
    if STATE["mount"]:
        subprocess.run(["umount", SMALL], stderr=subprocess.DEVNULL)
    del_netns(NS_A, NS_B)
    shutil.rmtree(TMP, ignore_errors=True)


def live_skip():
    if os.geteuid() != 0:
        return "needs root (network namespaces, packet capture, BPF)"
    if not shutil.which("ip"):
        return "iproute2 'ip' not found"
    if not STATE["netns"]:
        return "'ip netns' unavailable"
    return None


def need(tool, pkg):
    if not shutil.which(tool):
        raise Skip("%s not installed (Debian package %s)" % (tool, pkg))


def setup():
    if os.geteuid() != 0 or not shutil.which("ip"):
        return
    p = subprocess.run(["ip", "netns", "add", NS_A], stderr=subprocess.PIPE)
    if p.returncode:
        return
    STATE["netns"] = True
    sh("ip", "netns", "add", NS_B)
    for ns in (NS_A, NS_B):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", NS_A, "link", "add", T_A, "type", "veth", "peer", "name", T_B, "netns", NS_B)
    for ns, i, ip in ((NS_A, T_A, IP_A), (NS_B, T_B, IP_B)):
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", i)
        sh("ip", "-n", ns, "link", "set", i, "up")
        # one frame per segment: the eBPF samples are then wire packets
        sh(*nsexec(ns, "ethtool", "-K", i, "tso", "off", "gso", "off", "gro", "off"),
           check_rc=False)


class Work:
    """A workload process; its JSON lines are collected by a thread."""

    def __init__(self, ns, *args):
        self.p = subprocess.Popen(nsexec(ns, PY, WORK, *args), stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        PROCS.append(self.p)
        self.recs = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.recs.append(json.loads(line))

    def rec(self, n=1, timeout=15):
        deadline = time.time() + timeout
        while len(self.recs) < n:
            check(self.p.poll() is None, "workload ended early")
            check(time.time() < deadline, "workload not ready after %d s" % timeout)
            time.sleep(0.02)
        return self.recs[n - 1]


def wait_for(what, fn, timeout=20, every=0.1):
    """Poll @fn until it returns a true value (returned), at most @timeout s."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    more = ""
    if STATE["tmux"]:
        more = "; screen:\n" + screen()
    raise AssertionError("%s: not seen within %d s%s" % (what, timeout, more))


class Live:
    """flowsight in NS_A on T_A, records to a file, stderr collected."""

    def __init__(self, *args, out="flows.csv"):
        self.out = os.path.join(TMP, out)
        if os.path.exists(self.out):
            os.unlink(self.out)
        self.proc = subprocess.Popen(nsexec(NS_A, FS, "-i", T_A, "-o", self.out, "-v", *args),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        PROCS.append(self.proc)
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        wait_for("flowsight started", lambda: os.path.exists(self.out) or self.proc.poll() is not None)
        check(self.proc.poll() is None, "flowsight ended at start: %r" % self.lines)
        if "--system-visibility-mode" in args:
            wait_for("attribution ready",
                     lambda: any("sockets found at start" in l for l in self.lines))

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def stop(self, rc=0):
        self.proc.send_signal(signal.SIGINT)
        got = self.proc.wait(timeout=60)
        self.t.join(timeout=5)
        check(got == rc, "flowsight exit %d (expected %d): %r" % (got, rc, self.lines))
        return read_csv(self.out)


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f, escapechar="\\"))


def key5(r):
    return (r["protocol"], r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"])


# ---- top in a terminal ---------------------------------------------------------


def tmux(*args, check_rc=True):
    return sh(*(TMUX + list(args)), check_rc=check_rc).stdout.decode()


def screen():
    return tmux("capture-pane", "-p", "-t", "top")


def rows(text):
    """The process rows of the view: (pid, name) in screen order."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(\d+)\s+(\S+)\s", line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


def top_terminal(capture):
    need("tmux", "tmux")
    sink = Work(NS_B, "sink-tcp", "5001")
    sink.rec()
    STATE["tmux"] = True
    env = "TERM=xterm-256color"
    tmux("new-session", "-d", "-s", "top", "-x", "160", "-y", "40",
         "env %s PS1='$ ' bash --norc --noprofile" % env)
    cmd = " ".join(nsexec(NS_A, FS, "top", "-i", T_A, "--capture", capture))
    tmux("send-keys", "-t", "top", cmd, "Enter")
    wait_for("top's header", lambda: "flowsight top (%s)" % capture in screen())
    fast = Work(NS_A, "tcp", "fsfast", IP_B, "5001", "2000000")
    slow = Work(NS_A, "tcp", "fsslow", IP_B, "5001", "200000")
    f, s = fast.rec(), slow.rec()
    want = [(f["pid"], "fsfast"), (s["pid"], "fsslow")]

    def ordered():
        r = rows(screen())
        return r[:2] == want and r
    wait_for("rows %r (faster first)" % want, ordered, timeout=30)
    # the other keys keep both named; bytes puts the faster first too
    tmux("send-keys", "-t", "top", "b")
    wait_for("sort by bytes", lambda: "sort: bytes" in screen() and rows(screen())[:2] == want)
    tmux("send-keys", "-t", "top", "f")
    wait_for("sort by flows", lambda: "sort: flows" in screen())
    tmux("send-keys", "-t", "top", "r")
    wait_for("sort by rate", lambda: "sort: rate" in screen() and rows(screen())[:2] == want)
    # drill-down: the flows of the selected process, the first one ('g', as
    # Home: no escape sequence that a loaded machine could split)
    tmux("send-keys", "-t", "top", "g", "Enter")
    flow = "%s:%d > %s:5001" % (IP_A, f["sport"], IP_B)
    wait_for("the flow of fsfast", lambda: "flows of %d fsfast" % f["pid"] in screen() and
             flow in screen())
    tmux("send-keys", "-t", "top", "Escape")
    wait_for("back to processes", lambda: rows(screen())[:2] == want)
    # a tiny window: what fits, and why
    tmux("resize-window", "-t", "top", "-x", "40", "-y", "4")
    wait_for("too small", lambda: "too small" in screen())
    tmux("resize-window", "-t", "top", "-x", "160", "-y", "40")
    wait_for("redrawn", lambda: rows(screen())[:2] == want)
    return want


def restored():
    return tmux("display-message", "-p", "-t", "top", "#{alternate_on}").strip() == "0"


@case("top_terminal_pcap_q")
def _():
    if live_skip():
        raise Skip(live_skip())
    top_terminal("pcap")
    tmux("send-keys", "-t", "top", "q")
    wait_for("terminal restored after q", lambda: restored() and screen().rstrip().endswith("$"))


@case("top_terminal_ebpf_sigint")
def _():
    if live_skip():
        raise Skip(live_skip())
    top_terminal("ebpf")
    tmux("send-keys", "-t", "top", "C-c")
    wait_for("terminal restored after Ctrl-C", lambda: restored() and
             screen().rstrip().endswith("$"))


@case("top_plain_table")
def _():
    if live_skip():
        raise Skip(live_skip())
    sink = Work(NS_B, "sink-udp", "5002")
    sink.rec()
    p = subprocess.Popen(nsexec(NS_A, FS, "top", "-i", T_A, "--capture", "pcap"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.append(p)
    lines = []
    threading.Thread(target=lambda: [lines.append(l.decode()) for l in p.stdout],
                     daemon=True).start()
    wait_for("first table", lambda: any(l.startswith("PID ") for l in lines))
    u = Work(NS_A, "udp", "fsudp40", IP_B, "5002", "40", "100")
    me = u.rec()
    u.rec(2)  # done: 40 datagrams sent

    def row():
        for l in reversed(lines):
            c = l.split()
            if c and c[0] == str(me["pid"]):
                return c
    # PID NAME USER CONTAINER RX_B/S TX_B/S RX_BYTES TX_BYTES FLOWS APPS
    want = [str(me["pid"]), "fsudp40", "root", "-", "0", "0", "0", str(40 * 142), "1"]
    got = wait_for("the row %r" % want, lambda: (row() or [])[:4] + (row() or [])[6:9] ==
                   want[:4] + want[6:9] and row())
    check(got[:9][:4] == want[:4] and got[6:9] == want[6:9], "row %r, expected %r" % (got, want))
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=30)
    check(rc == 0, "exit %d: %s" % (rc, p.stderr.read().decode()))
    # the table's header comes every second, with its column names
    check(any(re.match(r"^PID +NAME +USER +CONTAINER +RX_B/S +TX_B/S +RX_BYTES +TX_BYTES +FLOWS +APPS",
                       l) for l in lines), "no header line")


# ---- process-labelled pcapng ------------------------------------------------------


def comments(path):
    p = sh("tshark", "-r", path, "-T", "fields", "-e", "frame.comment", timeout=120)
    return [l for l in p.stdout.decode().splitlines()]


def exchange():
    """Named processes: 3 UDP senders (12 datagrams each) and a TCP sender."""
    sinks = [Work(NS_B, "sink-udp", "5003"), Work(NS_B, "sink-tcp", "5004")]
    for s in sinks:
        s.rec()
    ws = [Work(NS_A, "udp", "fspkt%d" % i, IP_B, "5003", "12", "200") for i in range(3)]
    t = Work(NS_A, "tcp", "fspkttcp", IP_B, "5004", "100000")
    recs = [w.rec() for w in ws] + [t.rec()]
    for w in ws:
        w.rec(2)
    time.sleep(0.5)  # the TCP sender goes on: a flow of many packets
    stop_procs([t.p])
    return {r["sport"]: r for r in recs}


def labels_ok(path, procs):
    need("tshark", "tshark")
    seen = {}
    for c in comments(path):
        if not c:
            continue
        j = json.loads(c)
        if j["src_ip"] == IP_A and j["src_port"] in procs:
            seen.setdefault(j["src_port"], set()).add((j["system_process_pid"],
                                                       j["system_process_name"]))
    for port, r in procs.items():
        check(seen.get(port) == {(r["pid"], r["name"])},
              "packets of %s: labels %r" % (r["name"], seen.get(port)))
    return seen


def comparable(rows_, drop=("id",)):
    out = []
    for r in rows_:
        out.append(tuple((k, v) for k, v in sorted(r.items())
                         if k not in drop and not k.startswith("system_")))
    return sorted(out)


@case("pcapng_pcap_labels_and_read_back")
def _():
    if live_skip():
        raise Skip(live_skip())
    need("tshark", "tshark")
    pc = os.path.join(TMP, "pcap.pcapng")
    fs = Live("--capture", "pcap", "--system-visibility-mode", "1", "--pcapng-out", pc,
              "--statistical-analysis")
    procs = exchange()
    live = fs.stop()
    labels_ok(pc, procs)
    back = os.path.join(TMP, "back.csv")
    sh(FS, "-r", pc, "-o", back, "--statistical-analysis")
    b = read_csv(back)
    check(len(b) == len(live), "%d flows read back, %d live" % (len(b), len(live)))
    check(comparable(b) == comparable(live), "flows read back differ from the live run's")
    # the join: serial and first-seen time of each labelled flow name its record
    keys = {(key5(r), r["bidirectional_first_seen_ms"]) for r in live}
    for c in comments(pc):
        if c:
            j = json.loads(c)
            k = (str(j["protocol"]), j["src_ip"], str(j["src_port"]), j["dst_ip"], str(j["dst_port"]))
            check((k, str(j["bidirectional_first_seen_ms"])) in keys, "no record for label %s" % c)


@case("pcapng_ebpf_samples")
def _():
    if live_skip():
        raise Skip(live_skip())
    need("tshark", "tshark")
    pc = os.path.join(TMP, "ebpf.pcapng")
    fs = Live("--capture", "ebpf", "--system-visibility-mode", "1", "--pcapng-out", pc,
              "--n-dissections", "0", "--splt-analysis", "10")
    procs = exchange()
    live = fs.stop()
    labels_ok(pc, procs)
    back = os.path.join(TMP, "eback.csv")
    sh(FS, "-r", pc, "-o", back, "--n-dissections", "0", "--splt-analysis", "10")
    b = {key5(r): r for r in read_csv(back)}
    for r in live:
        got = b.get(key5(r))
        check(got is not None, "flow %r not read back" % (key5(r),))
        n = int(r["bidirectional_packets"])
        check(int(got["bidirectional_packets"]) == min(n, 10),
              "%r: %s packets read back, %d live" % (key5(r), got["bidirectional_packets"], n))
        if n <= 10:
            same = ("bidirectional_bytes", "src2dst_packets", "src2dst_bytes", "dst2src_packets",
                    "dst2src_bytes", "splt_direction", "splt_ps", "bidirectional_first_seen_ms")
            for k in same:
                check(got[k] == r[k], "%r %s: %s read back, %s live" % (key5(r), k, got[k], r[k]))
    check(len(b) == len(live), "%d flows read back, %d live" % (len(b), len(live)))


@case("pcapng_full_disk")
def _():
    if live_skip():
        raise Skip(live_skip())
    os.makedirs(SMALL, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", "size=64k", "fstop", SMALL)
    STATE["mount"] = True
    try:
        fs = Live("--capture", "pcap", "--pcapng-out", os.path.join(SMALL, "full.pcapng"))
        for sink in (Work(NS_B, "sink-tcp", "5005"), Work(NS_B, "sink-udp", "5005")):
            sink.rec()
        t = Work(NS_A, "tcp", "fsfill", IP_B, "5005", "2000000")
        t.rec()
        wait_for("the full disk reported",
                 lambda: any("cannot write packets" in l for l in fs.lines), timeout=20)
        stop_procs([t.p])
        u = Work(NS_A, "udp", "fsafter", IP_B, "5005", "3", "10")
        after = u.rec()
        u.rec(2)
        rows_ = fs.stop(rc=1)
        msgs = [l for l in fs.lines if "cannot write packets" in l]
        check(len(msgs) == 1, "reported %d times: %r" % (len(msgs), msgs))
        check("No space left on device" in msgs[0], msgs[0])
        # metering went on: the flow that started after the disk filled is there
        check(any(r["src_port"] == str(after["sport"]) and r["bidirectional_packets"] == "3"
                  for r in rows_), "the later UDP flow is missing")
    finally:
        subprocess.run(["umount", SMALL], stderr=subprocess.DEVNULL)
        STATE["mount"] = False


# ---- progress ------------------------------------------------------------------------


def write_pcap(path, n):
    """A classic pcap of @n UDP frames of 64 bytes, one flow each."""
    recs = []
    for i in range(n):
        payload = bytes(22)
        udp = struct.pack("!HHHH", 1000 + i % 60000, 53, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([10, 0, (i >> 8) & 255, i & 255]), bytes([10, 1, 0, 2]))
        frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + udp
        t = 1_000_000 + i * 100
        recs.append(struct.pack("<IIII", t // 1000000, t % 1000000, len(frame), len(frame)) + frame)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + b"".join(recs))


@case("progress_forced_final_line")
def _():
    path = os.path.join(TMP, "p.pcap")
    write_pcap(path, 5000)
    size = os.path.getsize(path)
    err = os.path.join(TMP, "progress.err")
    with open(err, "wb") as e:
        p = subprocess.run([FS, "-r", path, "-o", os.path.join(TMP, "p.csv"), "--progress", "1"],
                           stderr=e, timeout=60)
    check(p.returncode == 0, "exit %d" % p.returncode)
    data = open(err, "rb").read().decode()
    check(data.endswith("\r\x1b[K"), "the line is not cleared at the end: %r" % data[-80:])
    final = data[:-len("\r\x1b[K")].split("\r")[-1]
    if final.endswith("\x1b[K"):
        final = final[:-3]
    want = ("flowsight: 100.0% {0}/{0} bytes | file 1/1 100.0% | 5,000 packets, "
            .format("{:,}".format(size)))
    check(final.startswith(want), "final line %r, expected it to start with %r" % (final, want))
    check(re.search(r"\| flows 0 cached, 5,000 exported \| 0:00 left$", final),
          "final line %r" % final)


@case("progress_off_when_not_a_terminal")
def _():
    path = os.path.join(TMP, "p.pcap")
    write_pcap(path, 2000)
    for extra in ([], ["--progress", "0"]):
        p = subprocess.run([FS, "-r", path, "-o", os.path.join(TMP, "q.csv")] + extra,
                           stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 0 and p.stderr == b"", "%r: stderr %r" % (extra, p.stderr))
    p = subprocess.run([FS, "-r", path, "--progress", "2"], stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 2 and p.stderr.decode().strip() ==
          "flowsight: Please specify a valid progress parameter (possible values: 0, 1).",
          "bad value: %d %r" % (p.returncode, p.stderr))


@case("pcapng_out_needs_live")
def _():
    path = os.path.join(TMP, "p.pcap")
    write_pcap(path, 10)
    p = subprocess.run([FS, "-r", path, "--pcapng-out", os.path.join(TMP, "x.pcapng")],
                       stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, timeout=60)
    check(p.returncode == 2 and p.stderr.decode().strip() == "flowsight: Please specify a valid "
          "pcapng_out parameter (a file path; live capture only).", "%d %r" % (p.returncode, p.stderr))


if __name__ == "__main__":
    only = sys.argv[1:]
    sys.exit(SUITE.main(lambda: None if os.access(FS, os.X_OK) else "%s not built" % FS,
                        setup, cleanup, only))
