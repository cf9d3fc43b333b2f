#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Attribution overhead: TCP connections per second sustained by a
connect/send/close loop, without flowsight, with flowsight capturing only
(--system-visibility-mode 0) and with process attribution (mode 2), in the
same run.  Runs alternate and the median of each configuration is
reported; the target is at most 5% fewer connections per second with
attribution than without the agent.

Everything happens in two network namespaces created here (10.202.0.0/24)
and removed at exit.  Needs root.  A benchmark: it never fails on a missed
target, only when it cannot run.

  tools/bench_attr.py [SECONDS_PER_RUN] [ROUNDS] [CAPTURE]
"""
import atexit
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
PFX = "fsb-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
T_A, T_B = PFX + "-ta", PFX + "-tb"
IP_A, IP_B = "10.202.0.1", "10.202.0.2"
PROCS = []

SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('%s', 9000)); s.listen(4096)
while True:
    c, _ = s.accept(); c.recv(64); c.close()
""" % IP_B

CLIENT = """
import socket, sys, time
end = time.monotonic() + float(sys.argv[1]); n = 0
while time.monotonic() < end:
    for _ in range(100):
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00')
        c.connect(('%s', 9000)); c.send(b'x'); c.close(); n += 1
print(n)
""" % IP_B


def sh(*a):
    subprocess.run(list(a), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def nsexec(ns, *a):
    return ["ip", "netns", "exec", ns] + list(a)


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    for ns in (NS_A, NS_B):
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def setup():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", NS_A, "link", "add", T_A, "type", "veth", "peer", "name", T_B, "netns", NS_B)
    sh("ip", "-n", NS_A, "addr", "add", IP_A + "/24", "dev", T_A)
    sh("ip", "-n", NS_B, "addr", "add", IP_B + "/24", "dev", T_B)
    sh("ip", "-n", NS_A, "link", "set", T_A, "up")
    sh("ip", "-n", NS_B, "link", "set", T_B, "up")
    # RST-closed connections (SO_LINGER 0) leave no TIME_WAIT to exhaust ports
    PROCS.append(subprocess.Popen(nsexec(NS_B, sys.executable, "-c", SERVER)))
    time.sleep(0.5)


def one_run(secs, mode, capture, tmp):
    agent = None
    if mode is not None:
        out = os.path.join(tmp, "flows.csv")
        if os.path.exists(out):
            os.unlink(out)
        agent = subprocess.Popen(nsexec(NS_A, FS, "-i", T_A, "--capture", capture,
                                        "--system-visibility-mode", str(mode), "-o", out),
                                 stderr=subprocess.DEVNULL)
        PROCS.append(agent)
        deadline = time.time() + 20
        while not os.path.exists(out):
            if agent.poll() is not None or time.time() > deadline:
                raise RuntimeError("flowsight did not start")
            time.sleep(0.05)
    p = subprocess.run(nsexec(NS_A, sys.executable, "-c", CLIENT, str(secs)),
                       stdout=subprocess.PIPE, check=True)
    n = int(p.stdout)
    if agent:
        agent.send_signal(signal.SIGINT)
        agent.wait(timeout=120)
    return n / secs


def main():
    if os.geteuid() != 0:
        print("bench_attr: needs root (namespaces, BPF)", file=sys.stderr)
        return 1
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    capture = sys.argv[3] if len(sys.argv) > 3 else "ebpf"
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    setup()
    confs = [("no agent", None), ("capture only", 0), ("capture + attribution", 2)]
    got = {name: [] for name, _ in confs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for name, mode in confs:
                cps = one_run(secs, mode, capture, tmp)
                got[name].append(cps)
                print("round %d: %-22s %8.0f connections/s" % (r + 1, name, cps), flush=True)
    med = {k: statistics.median(v) for k, v in got.items()}
    base = med["no agent"]
    print("median connections/s (%s capture, %d x %.0f s):" % (capture, rounds, secs))
    for name, _ in confs:
        print("  %-22s %8.0f  ratio to no agent %.3f" % (name, med[name], med[name] / base))
    loss = 1 - med["capture + attribution"] / base
    print("attribution overhead: %.1f%% fewer connections/s than without the agent "
          "(target <= 5%%: %s)" % (100 * loss, "met" if loss <= 0.05 else "NOT met"))
    print("attribution alone (vs capture only): %.1f%%"
          % (100 * (1 - med["capture + attribution"] / med["capture only"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
