#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Live capture (-i --capture pcap) end to end, in private network namespaces.

Two namespaces, fsl-<pid>-a (traffic, replay) and fsl-<pid>-b (flowsight),
joined by two veth pairs: "r" without any address and with IPv6 disabled, so
that only replayed frames cross it, and "t" with 10.200.0.0/24 and
fd00:200::/64 for real traffic.  Nothing is done outside these namespaces,
which are removed at exit even when a test fails.  Needs root and `ip netns`;
otherwise every case is skipped with the reason.

Cases: a) replayed mkpcap captures metered live equal the offline result
(timing columns excepted); b) ping, UDP and TCP exchanges give exact counts;
c) wall-clock idle and active expiry while no packet arrives; d) errors;
e) eBPF next to libpcap on the same traffic: a TCP bulk transfer over a veth
with offloads on (TSO, GRO) and off, against the server's TCP_INFO segment
counts; a flow map of 8 entries under 300 flows (punted, exact, nothing
lost); VLAN tags held in the skb instead of the frame; the kernel counters
in the performance report; f) two eBPF agents on one interface (tcx links,
and TC filters forced with FLOWSIGHT_EBPF_ATTACH=tc) and a libpcap + eBPF
pair: each records exact counts, the others keep recording when one exits,
and nothing of ours is left on the interface after the last; g) the captured
interface deleted while traffic flows: exit 1 with one line, the flows seen
before exported with exact counts; with --wait-interface the interface
created again (same name and index) is captured again, exact, and an
interface that goes does not split the flows of the others.  Extra veth
pairs (10.200.1-9.0/24) live in the same namespaces and are deleted after
their case.
"""
import atexit
import json
import os
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import del_netns, stop_procs, tcx_progs  # noqa: E402

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
MKPCAP = os.path.abspath(os.environ.get("MKPCAP", "build/mkpcap"))
TMP = tempfile.mkdtemp(prefix="fs-live-")
PFX = "fsl-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
# interface names: at most 15 characters ("fsl-4194304-rb" is 14)
R_A, R_B, T_A, T_B = PFX + "-ra", PFX + "-rb", PFX + "-ta", PFX + "-tb"
IP_A, IP_B = "10.200.0.1", "10.200.0.2"
IP6_A, IP6_B = "fd00:200::1", "fd00:200::2"
res = {"passed": 0, "failed": 0, "skipped": 0}
PROCS = []
CASES = []
CAPTURE = ["pcap"]  # the ebpf variants at the end switch it

# Replayed scenarios: Ethernet, no VLAN, no fragments, frames within the MTU.
SCENARIOS = ["eth_tcp_handshake", "ipv6_tcp", "eth_udp", "eth_icmp", "ipv4_options",
             "ipv6_ext_headers", "tunnels_ip_in_ip", "gtp_u", "tzsp", "capwap", "eth_mpls",
             "eth_pppoe", "eth_llc_snap", "tls_ja4_spec_example", "tls_ja4_two_segments"]
# Columns that depend on packet timing, which a replay does not keep.
TIMING = ("_first_seen_ms", "_last_seen_ms", "_duration_ms", "_piat_ms")
COMMON = ["--statistical-analysis", "--splt-analysis", "10"]


class Skip(Exception):
    pass


def case(name):
    def deco(fn):
        def wrapped():
            try:
                fn()
                res["passed"] += 1
                print("PASS live/%s" % name, flush=True)
            except Skip as e:
                res["skipped"] += 1
                print("SKIP live/%s: %s" % (name, e), flush=True)
            except Exception as e:  # one failing case does not stop the others
                res["failed"] += 1
                print("FAIL live/%s: %s" % (name, e), flush=True)
            finally:
                stop_all()
        wrapped.__name__ = name
        wrapped.fn = fn
        CASES.append(wrapped)
        return wrapped
    return deco


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sh(*args, check_rc=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if check_rc and p.returncode:
        raise AssertionError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                  p.stderr.decode().strip()))
    return p


def nsexec(ns, *args):
    return ["ip", "netns", "exec", ns] + list(args)


# ---- namespaces ----------------------------------------------------------

def cleanup():
    stop_all()
    del_netns(NS_A, NS_B)
    shutil.rmtree(TMP, ignore_errors=True)


def setup():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        # new interfaces start without IPv6: no DAD, RS or MLD on "r"
        sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"))
    sh("ip", "-n", NS_A, "link", "add", R_A, "type", "veth", "peer", "name", R_B, "netns", NS_B)
    for ns in (NS_A, NS_B):
        sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=0"))
    sh("ip", "-n", NS_A, "link", "add", T_A, "type", "veth", "peer", "name", T_B, "netns", NS_B)
    for ns, ifs, ip4, ip6 in ((NS_A, (R_A, T_A), IP_A, IP6_A), (NS_B, (R_B, T_B), IP_B, IP6_B)):
        sh("ip", "-n", ns, "addr", "add", ip4 + "/24", "dev", ifs[1])
        sh("ip", "-n", ns, "addr", "add", ip6 + "/64", "dev", ifs[1], "nodad")
        for i in ifs:
            sh("ip", "-n", ns, "link", "set", i, "up")


def why_skip():
    if os.geteuid() != 0:
        return "needs root (network namespaces, packet sockets)"
    if not shutil.which("ip"):
        return "iproute2 'ip' not found"
    p = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        return "'ip netns' unavailable: %s" % p.stderr.decode().strip()
    if not os.access(FS, os.X_OK):
        return "%s not built" % FS
    return None


# ---- flowsight under test -------------------------------------------------

class Live:
    """flowsight capturing in NS_B; stderr collected by a thread."""

    def __init__(self, ifaces, args, out_name, perf=True, capture=None, env=None):
        self.out = os.path.join(TMP, out_name)
        if os.path.exists(self.out):  # readiness is the output appearing
            os.unlink(self.out)
        cmd = [FS]
        for i in ifaces:
            cmd += ["-i", i]
        cmd += ["--capture", capture or CAPTURE[0], "-F", "jsonl", "-o", self.out] + args
        if perf:
            cmd += ["--performance-report", "1"]
        self.proc = subprocess.Popen(nsexec(NS_B, *cmd), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     env=dict(os.environ, **env) if env else None)
        PROCS.append(self.proc)
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_ready()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def wait_ready(self):
        # the output is created once every capture handle is active
        deadline = time.time() + 15
        while not os.path.exists(self.out):
            check(self.proc.poll() is None, "flowsight ended at start: %r" % self.lines)
            check(time.time() < deadline, "flowsight not ready after 15 s")
            time.sleep(0.02)

    def reports(self):
        return [json.loads(l) for l in list(self.lines) if l.startswith("{")]

    def wait_seen(self, n, timeout=10):
        """Until the meters have seen >= n packets (processed + ignored)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.reports()
            if r and r[-1]["packets_processed"] + r[-1]["packets_ignored"] >= n:
                return r[-1]
            time.sleep(0.05)
        raise AssertionError("fewer than %d packets seen: %r" % (n, self.reports()[-1:]))

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=20)
        self.reader.join(timeout=5)
        check(rc == 0, "exit %d: %r" % (rc, self.lines))
        return self.rows()

    def rows(self):
        with open(self.out) as f:
            return [json.loads(l) for l in f if l.strip()]


def stop_all():
    stop_procs(PROCS)


def offline(pcap, args):
    p = subprocess.run([FS, "-r", pcap, "-F", "jsonl"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    check(p.returncode == 0, "offline exit %d: %s" % (p.returncode, p.stderr.decode()))
    return [json.loads(l) for l in p.stdout.decode().splitlines()]


def untimed(row):
    # The eBPF capture derives means and deviations from integer sums, not
    # Welford updates: equal to ~15 significant digits, compared at 12.
    return {k: (float("%.12g" % v) if k.endswith(("_mean_ps", "_stddev_ps")) else v)
            for k, v in row.items() if k != "id" and not k.endswith(TIMING)}


def same_flows(live, off):
    a = sorted(json.dumps(untimed(r), sort_keys=True) for r in live)
    b = sorted(json.dumps(untimed(r), sort_keys=True) for r in off)
    if a != b:
        extra = sorted(set(a) - set(b))[:3]
        missing = sorted(set(b) - set(a))[:3]
        raise AssertionError("live %d flows, offline %d; live only %s; offline only %s"
                             % (len(a), len(b), extra, missing))


def flow(rows, proto, src, dst, **kw):
    got = [r for r in rows if r["protocol"] == proto and r["src_ip"] == src
           and r["dst_ip"] == dst and all(r[k] == v for k, v in kw.items())]
    check(len(got) == 1, "one %s flow %s -> %s %s expected, got %d" % (proto, src, dst, kw, len(got)))
    return got[0]


# ---- a) replay: live equals offline --------------------------------------

def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    check(magic == 0xa1b2c3d4 and linktype == 1, "%s: not a little-endian Ethernet pcap" % path)
    recs, off = [], 24
    while off < len(data):
        _, _, caplen, length = struct.unpack("<IIII", data[off:off + 16])
        check(caplen == length <= 1514, "%s: frame %d/%d does not fit a veth" % (path, caplen, length))
        recs.append(data[off + 16:off + 16 + caplen])
        off += 16 + caplen
    return recs


def combined_capture():
    """All scenarios in one capture, 1 ms apart: no timeout can split a flow."""
    frames = []
    for s in SCENARIOS:
        path = os.path.join(TMP, s + ".pcap")
        sh(MKPCAP, s, path)
        frames += read_pcap(path)
    out = os.path.join(TMP, "replay.pcap")
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            t = 1_700_000_000_000_000 + i * 1000
            f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(fr), len(fr)) + fr)
    return out, len(frames)


REPLAY = {}


def replay_equals_offline(extra, out_name):
    if not shutil.which("tcpreplay"):
        raise Skip("tcpreplay not installed (make deps)")
    if not REPLAY:
        REPLAY["pcap"], REPLAY["n"] = combined_capture()
    pcap, n = REPLAY["pcap"], REPLAY["n"]
    lv = Live([R_B], COMMON + extra, out_name)
    sh(*nsexec(NS_A, "tcpreplay", "-q", "-t", "-i", R_A, pcap))
    rep = lv.wait_seen(n)
    check(rep["packets_processed"] + rep["packets_ignored"] == n,
          "%d frames replayed, report %r (stray packets?)" % (n, rep))
    rows = lv.stop()
    same_flows(rows, offline(pcap, COMMON))
    check(sorted(r["id"] for r in rows) == list(range(len(rows))), "ids 0..n-1")
    return lv


@case("replay_live_equals_offline")
def _():
    replay_equals_offline([], "replay1.jsonl")


@case("replay_live_equals_offline_n_meters_2")
def _():
    cpus = len(os.sched_getaffinity(0))
    lv = replay_equals_offline(["--n-meters", "2"], "replay2.jsonl")
    if cpus < 3:
        check(any("WARNING: n_meters set to :1 in order to avoid contention." in l for l in lv.lines),
              "clamp warning expected with %d CPUs: %r" % (cpus, lv.lines))
        raise Skip("%d CPUs: n_meters clamped to 1 as NFStream does (equality checked with "
                   "1 meter; fanout needs >= 3 CPUs)" % cpus)
    check(len(lv.reports()[-1]["meters_packets_processing_balance"]) == 2, "2 meters")


# ---- b) real traffic -------------------------------------------------------

UDP_SERVER = r"""
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    d, peer = s.recvfrom(65535)
    s.sendto(d[: len(d) // 2], peer)
"""

UDP_CLIENT = r"""
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[3], 40000))
s.settimeout(5)
for n in map(int, sys.argv[4].split(",")):
    s.sendto(b"u" * n, (sys.argv[1], int(sys.argv[2])))
    s.recvfrom(65535)
"""

TCP_SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
want, got = int(sys.argv[3]), 0
while got < want:
    d = c.recv(65536)
    if not d:
        break
    got += len(d)
c.sendall(b"t" * int(sys.argv[4]))
c.shutdown(socket.SHUT_WR)
while c.recv(65536):
    pass
c.close()
"""

TCP_CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"q" * int(sys.argv[3]))
while c.recv(65536):
    pass
c.close()
"""

PING = r"""
import os, socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(2)
for seq in range(1, int(sys.argv[2]) + 1):
    body = struct.pack("!HH", os.getpid() & 0xffff, seq) + bytes(56)
    s.sendto(struct.pack("!BBH", 8, 0, csum(b"\x08\x00\x00\x00" + body)) + body, (sys.argv[1], 0))
    while s.recv(2048)[20] != 0:   # wait for the echo reply (type 0)
        pass
    time.sleep(0.05)
"""


def server(code, *args):
    p = subprocess.Popen(nsexec(NS_B, sys.executable, "-c", code, *args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.append(p)
    if p.stdout.readline().strip() != b"ready":
        raise AssertionError("server did not start: %r" % p.communicate(timeout=10)[1])
    return p


def settle():
    """The traffic is over: let its last packets through the ring (50 ms timeout)."""
    time.sleep(0.4)


def client(code, *args):
    sh(*nsexec(NS_A, sys.executable, "-c", code, *args))


@case("ping_5_echo_exact")
def _():
    lv = Live([T_B], ["--n-dissections", "0", "--statistical-analysis"], "ping.jsonl")
    if shutil.which("ping"):
        sh(*nsexec(NS_A, "ping", "-c", "5", "-i", "0.2", "-W", "2", IP_B))
    else:  # iputils-ping absent: the same 5 echo requests from a raw socket
        client(PING, IP_B, "5")
    settle()
    f = flow(lv.stop(), 1, IP_A, IP_B)
    check((f["src2dst_packets"], f["dst2src_packets"]) == (5, 5), "5 + 5 packets: %r" % f)
    # 14 Ethernet + 20 IPv4 + 8 ICMP + 56 data = 98 bytes each way
    check((f["src2dst_bytes"], f["dst2src_bytes"]) == (490, 490), "98-byte frames: %r" % f)


def udp_exchange(srv_ip, cli_ip, name):
    sizes = [1, 64, 200, 512, 1000, 1400]
    lv = Live([T_B], ["--n-dissections", "0", "--statistical-analysis"], name)
    srv = server(UDP_SERVER, srv_ip, "5000", str(len(sizes)))
    client(UDP_CLIENT, srv_ip, "5000", cli_ip, ",".join(map(str, sizes)))
    srv.wait(timeout=10)
    settle()
    rows = lv.stop()
    proto_hdr = 14 + (40 if ":" in srv_ip else 20) + 8
    f = flow(rows, 17, cli_ip, srv_ip, src_port=40000)
    check((f["src2dst_packets"], f["dst2src_packets"]) == (len(sizes), len(sizes)), f)
    check(f["src2dst_bytes"] == sum(n + proto_hdr for n in sizes), "request bytes %r" % f)
    check(f["dst2src_bytes"] == sum(n // 2 + proto_hdr for n in sizes), "reply bytes %r" % f)
    check(f["src2dst_max_ps"] == 1400 + proto_hdr and f["dst2src_min_ps"] == proto_hdr, f)


@case("udp_exchange_exact")
def _():
    udp_exchange(IP_B, IP_A, "udp4.jsonl")


@case("udp_ipv6_exchange_exact")
def _():
    udp_exchange(IP6_B, IP6_A, "udp6.jsonl")


@case("tcp_transfer_payload_bytes")
def _():
    up, down = 3000, 200000
    lv = Live([T_B], ["--n-dissections", "0", "--statistical-analysis", "--accounting-mode", "3"],
              "tcp.jsonl")
    srv = server(TCP_SERVER, IP_B, "8080", str(up), str(down))
    client(TCP_CLIENT, IP_B, "8080", str(up))
    srv.wait(timeout=10)
    settle()
    f = flow(lv.stop(), 6, IP_A, IP_B, dst_port=8080)
    # payload sizes are offload-independent (a GSO frame carries its total)
    check((f["src2dst_bytes"], f["dst2src_bytes"]) == (up, down), "payload bytes %r" % f)
    check(f["bidirectional_syn_packets"] == 2 and f["bidirectional_fin_packets"] == 2,
          "SYN, SYN-ACK and two FINs: %r" % f)


@case("dataset_mode_tcp_end_live_auto_takes_pcap")
def _():
    """--dataset-mode live: --capture auto takes libpcap and says why; a real
    kernel TCP connection is exported at its last ACK (expiration_id 3),
    flowsight still running, with µs times that truncate to the ms ones."""
    lv = Live([T_B], ["--n-dissections", "0", "--statistical-analysis", "--dataset-mode"],
              "dataset_tcp.jsonl", capture="auto")
    deadline = time.time() + 5
    while not any(l.startswith("flowsight: capture: ") for l in lv.lines) and time.time() < deadline:
        time.sleep(0.05)
    check(any(l.startswith("flowsight: capture: pcap") and "--dataset-mode" in l for l in lv.lines),
          "capture choice: %r" % lv.lines)
    srv = server(TCP_SERVER, IP_B, "8081", "3000", "20000")
    client(TCP_CLIENT, IP_B, "8081", "3000")
    srv.wait(timeout=10)
    f = wait_rows(lv, lambda r: r["protocol"] == 6 and r["dst_port"] == 8081)[0]
    check(f["expiration_id"] == 3, "ended by the FIN handshake: %r" % f)
    check(f["bidirectional_syn_packets"] == 2 and f["bidirectional_fin_packets"] == 2, f)
    check(f["src2dst_init_window"] > 0 and f["dst2src_init_window"] > 0, "SYN windows %r" % f)
    for sc in ("bidirectional", "src2dst", "dst2src"):
        for t in ("first_seen", "last_seen"):
            check(f[sc + "_%s_ms" % t] == f[sc + "_%s_us" % t] // 1000, "%s_%s: %r" % (sc, t, f))
    check(abs(f["bidirectional_duration_us"] - 1000 * f["bidirectional_duration_ms"]) < 1000, f)
    settle()
    rows = [r for r in lv.stop() if r["protocol"] == 6 and r["dst_port"] == 8081]
    check(len(rows) == 1, "nothing of the connection after its end: %r" % rows)


@case("dataset_mode_replay_live_equals_offline")
def _():
    if not shutil.which("tcpreplay"):
        raise Skip("tcpreplay not installed (make deps)")
    pcap = os.path.join(TMP, "dataset_tcp_close.pcap")
    sh(MKPCAP, "dataset_tcp_close", pcap)
    n = len(read_pcap(pcap))
    args = ["--n-dissections", "0", "--statistical-analysis", "--dataset-mode"]
    lv = Live([R_B], args, "dataset_replay.jsonl")
    sh(*nsexec(NS_A, "tcpreplay", "-q", "-t", "-i", R_A, pcap))
    lv.wait_seen(n)
    live = lv.stop()

    def untimed_ds(r):  # a replay keeps the order and the bytes, not the times
        return json.dumps({k: v for k, v in r.items() if k != "id" and not k.endswith(
            TIMING + ("_us", "_per_s"))}, sort_keys=True)
    off = offline(pcap, args)
    check(sorted(map(untimed_ds, live)) == sorted(map(untimed_ds, off)),
          "live %r\noffline %r" % (sorted(map(untimed_ds, live))[:2], sorted(map(untimed_ds, off))[:2]))
    check(sorted(r["expiration_id"] for r in live) == [0, 0, 3, 3, 3, 3, 3, 3], "TCP ends live")


# ---- c) wall-clock expiry ------------------------------------------------

def one_datagram():
    client("import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
           ".sendto(b'x' * 10, ('%s', 9))" % IP_B)


def wait_rows(lv, cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        check(lv.proc.poll() is None, "flowsight ended: %r" % lv.lines)
        rows = [r for r in lv.rows() if cond(r)]
        if rows:
            return rows
        time.sleep(0.1)
    raise AssertionError("no matching flow written within %d s" % timeout)


@case("idle_expiry_on_wall_clock")
def _():
    lv = Live([T_B], ["--n-dissections", "0", "--idle-timeout", "2"], "idle.jsonl", perf=False)
    t0 = time.time()
    one_datagram()
    rows = wait_rows(lv, lambda r: r["protocol"] == 17 and r["dst_port"] == 9)
    waited = time.time() - t0
    check(rows[0]["expiration_id"] == 0, rows[0])
    check(waited >= 1.5, "expired after %.1f s, before the idle timeout" % waited)
    lv.stop()


@case("active_expiry_on_wall_clock")
def _():
    lv = Live([T_B], ["--n-dissections", "0", "--active-timeout", "2"], "active.jsonl", perf=False)
    one_datagram()
    rows = wait_rows(lv, lambda r: r["protocol"] == 17 and r["dst_port"] == 9)
    check(rows[0]["expiration_id"] == 1, "active expiry without a further packet: %r" % rows[0])
    lv.stop()


@case("max_nflows_ends_capture")
def _():
    lv = Live([T_B], ["--n-dissections", "0", "--idle-timeout", "1", "--max-nflows", "1"],
              "maxn.jsonl", perf=False)
    one_datagram()
    rc = lv.proc.wait(timeout=10)
    lv.reader.join(timeout=5)
    check(rc == 0, "exit %d: %r" % (rc, lv.lines))
    check(len(lv.rows()) == 1, "exactly one flow: %r" % lv.rows())


@case("performance_report_and_summary")
def _():
    lv = Live([T_B, R_B], ["--n-dissections", "0"], "perf.jsonl")
    one_datagram()
    lv.wait_seen(1)
    time.sleep(1.2)  # one more report
    lv.stop()
    rep = lv.reports()[-1]
    keys = ["flows_expired", "packets_processed", "packets_ignored",
            "packets_dropped_filtered_by_kernel", "meters_packets_processing_balance"]
    check(list(rep) == keys, "NFStream's keys in order: %r" % list(rep))
    line = [l for l in lv.lines if l.startswith("{")][-1]
    check(line.startswith('{"flows_expired": ') and ", " in line, "json.dumps spacing: %r" % line)
    summ = [l for l in lv.lines if "capture ended" in l]
    check(len(summ) == 1 and " dropped" in summ[0], "summary with kernel drops: %r" % lv.lines)


# ---- d) errors -------------------------------------------------------------

def run_fs(args):
    return subprocess.run(nsexec(NS_B, FS, *args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)


@case("nonexistent_interface_exit_1")
def _():
    out = os.path.join(TMP, "never.csv")
    p = run_fs(["-i", "fsl-nosuch0", "--capture", "pcap", "-o", out])
    lines = p.stderr.decode().strip().splitlines()
    check(p.returncode == 1, "exit %d" % p.returncode)
    check(len(lines) == 1 and "'fsl-nosuch0'" in lines[0] and "no such interface" in lines[0], lines)
    check(not os.path.exists(out), "no output created")


@case("bad_capture_value_exit_2")
def _():
    p = run_fs(["-i", T_B, "--capture", "dpdk"])
    check(p.returncode == 2, "exit %d" % p.returncode)
    check("Please specify a valid capture parameter" in p.stderr.decode(), p.stderr.decode())


@case("bad_filter_live_exit_2")
def _():
    p = run_fs(["-i", T_B, "--capture", "pcap", "--bpf-filter", "port port"])
    check(p.returncode == 2 and "Unable to compile BPF filter." in p.stderr.decode(),
          "exit %d: %r" % (p.returncode, p.stderr.decode()))


@case("unprivileged_names_capability")
def _():
    if not shutil.which("setpriv"):
        raise Skip("setpriv not installed")
    p = subprocess.run(nsexec(NS_B, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              "--inh-caps=-all", "--bounding-set=-all", FS, "-i", T_B,
                              "--capture", "pcap", "-o", "/dev/null"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    lines = p.stderr.decode().strip().splitlines()
    check(p.returncode == 1, "exit %d: %r" % (p.returncode, lines))
    check(len(lines) == 1 and T_B in lines[0] and "CAP_NET_RAW" in lines[0], lines)


@case("auto_falls_back_to_pcap_and_says_why")
def _():
    p = run_fs(["-i", "fsl-nosuch0"])
    lines = p.stderr.decode().strip().splitlines()
    check(p.returncode == 1, "exit %d" % p.returncode)
    check(any(l.startswith("flowsight: capture: ") for l in lines), "capture choice said: %r" % lines)


# ---- e) offloads, map overflow, VLAN, kernel counters (eBPF next to libpcap) --

def need_ebpf():
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        raise Skip("kernel BTF missing: eBPF capture cannot load")


def summary_drops(lines):
    m = [re.search(r"kernel: (\d+) received, (\d+) dropped", l) for l in lines]
    m = [x for x in m if x]
    check(len(m) == 1, "one exit summary: %r" % lines)
    return int(m[0].group(2))


# A bulk TCP transfer: UP bytes to the server, DOWN bytes back, then both
# shut down.  Each end prints its TCP_INFO once its socket is closed (every
# segment of the connection sent and received): segs_out/segs_in count
# GSO/GRO segments as the wire would, bytes_sent includes retransmissions.
TCP_INFO = r"""
import json, socket, struct, time
def tcp_info(c, got):
    deadline = time.time() + 10
    while True:  # TCP_CLOSE (7)
        ti = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        if ti[0] == 7 or time.time() > deadline:
            break
        time.sleep(0.01)
    v = dict(zip(("segs_out", "segs_in"), struct.unpack_from("II", ti, 136)))
    v.update(zip(("bytes_sent", "bytes_retrans"), struct.unpack_from("QQ", ti, 200)))
    v.update(state=ti[0], got=got, snd_mss=struct.unpack_from("I", ti, 16)[0],
             total_retrans=struct.unpack_from("I", ti, 100)[0])
    print(json.dumps(v), flush=True)
def drain(c):
    got = 0
    while True:
        d = c.recv(1 << 20)
        if not d:
            return got
        got += len(d)
"""

BULK_SERVER = TCP_INFO + r"""
import sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
got = drain(c)
c.sendall(b"d" * int(sys.argv[3]))
c.shutdown(socket.SHUT_WR)
tcp_info(c, got)
"""

BULK_CLIENT = TCP_INFO + r"""
import sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"u" * int(sys.argv[3]))
c.shutdown(socket.SHUT_WR)
tcp_info(c, drain(c))
"""

OFFLOADS = {  # ethtool -K on both ends of the pair
    "on": ["tso", "on", "gso", "on", "gro", "on"],
    "gro": ["tso", "off", "gso", "on", "gro", "on"],  # the receiver aggregates
    "off": ["tso", "off", "gso", "off", "gro", "off"],
}


def extra_pair(tag, ip_a, ip_b):
    """A veth pair fsl-PID-<tag>a/b, with ip_a/24 in NS_A and ip_b/24 in NS_B."""
    pa, pb = PFX + "-" + tag + "a", PFX + "-" + tag + "b"
    sh("ip", "-n", NS_A, "link", "add", pa, "type", "veth", "peer", "name", pb, "netns", NS_B)
    if ip_a:
        sh("ip", "-n", NS_A, "addr", "add", ip_a + "/24", "dev", pa)
        sh("ip", "-n", NS_B, "addr", "add", ip_b + "/24", "dev", pb)
    return pa, pb


def del_pair(pa):
    subprocess.run(["ip", "-n", NS_A, "link", "del", pa], stderr=subprocess.DEVNULL)


def bulk_transfer(offloads):
    """4 MB up, 1 MB back over a fresh veth pair with @offloads, metered at
    once by both captures with payload accounting (mode 3)."""
    need_ebpf()
    if not shutil.which("ethtool"):
        raise Skip("ethtool not installed (make deps)")
    up, down = 4_000_000, 1_000_000
    ip_a, ip_b = "10.200.1.1", "10.200.1.2"
    pa, pb = extra_pair("o", ip_a, ip_b)
    try:
        for ns, i in ((NS_A, pa), (NS_B, pb)):
            sh(*nsexec(ns, "ethtool", "-K", i, *OFFLOADS[offloads]))
            sh("ip", "-n", ns, "link", "set", i, "up")
        args = ["--n-dissections", "0", "--statistical-analysis", "--accounting-mode", "3"]
        e = Live([pb], args, "bulk-%s-ebpf.jsonl" % offloads, capture="ebpf")
        # libpcap's default ring (8 blocks of 256 KiB, 50 ms timeout) drops
        # bursts of 64 KB super-packets when GRO is on; 32 MB keeps them all
        p = Live([pb], args + ["--socket-buffer-size", str(32 << 20)],
                 "bulk-%s-pcap.jsonl" % offloads, capture="pcap")
        srv = server(BULK_SERVER, ip_b, "8081", str(down))
        ti = json.loads(sh(*nsexec(NS_A, sys.executable, "-c", BULK_CLIENT, ip_b, "8081",
                                   str(up))).stdout)
        si = json.loads(srv.communicate(timeout=15)[0])
        check(ti["state"] == si["state"] == 7 and (ti["got"], si["got"]) == (down, up),
              "TCP_INFO client %r, server %r" % (ti, si))
        e.wait_seen(si["segs_in"] + si["segs_out"] + 1)
        settle()
        ef = flow(e.stop(), 6, ip_a, ip_b, dst_port=8081)
        pf = flow(p.stop(), 6, ip_a, ip_b, dst_port=8081)
    finally:
        del_pair(pa)
    check(summary_drops(p.lines) == 0, "libpcap ring drops: %r" % p.lines)
    # eBPF: every skb counts as its segments, exactly what the server's TCP
    # received and sent (its SYN-ACK leaves before its socket exists), and
    # the payload it sent, retransmissions included
    check((ef["src2dst_packets"], ef["dst2src_packets"], ef["dst2src_bytes"]) ==
          (si["segs_in"], si["segs_out"] + 1, si["bytes_sent"]),
          "ebpf %r, server TCP_INFO %r" % (ef, si))
    check((ef["src2dst_max_ps"], ef["dst2src_max_ps"]) == (ti["snd_mss"], si["snd_mss"]),
          "ebpf largest segment = MSS: %r, %r" % (ef, ti))
    # both captures see the same skbs at the same place: the same payload
    check((pf["src2dst_bytes"], pf["dst2src_bytes"]) == (ef["src2dst_bytes"], ef["dst2src_bytes"]),
          "payload bytes ebpf %r, pcap %r" % (ef, pf))
    if ti["total_retrans"] == si["total_retrans"] == 0:
        check((ef["src2dst_bytes"], ef["dst2src_bytes"]) == (up, down), "payload bytes %r" % ef)
        check(ef["bidirectional_syn_packets"] == 2 and ef["bidirectional_fin_packets"] == 2,
              "SYN and FIN once per super-packet: %r" % ef)
    else:  # a loaded machine: whatever reached the server, each byte at least once
        check(up <= ef["src2dst_bytes"] <= ti["bytes_sent"], "payload bytes %r, %r" % (ef, ti))
    return ef, pf, ti, e.reports()[-1]["ebpf"]


@case("offloads_on_tso_gso_gro_ebpf_exact")
def _():
    ef, pf, ti, kc = bulk_transfer("on")
    check(kc["gso_skbs"] > 0 and kc["segments"] > kc["gso_skbs"], "super-packets seen: %r" % kc)
    # libpcap sees each super-packet as one packet: fewer, larger ones
    check(pf["src2dst_packets"] < ef["src2dst_packets"] and pf["src2dst_max_ps"] > ti["snd_mss"],
          "pcap sees super-packets: %r" % pf)


@case("offloads_gro_only_ebpf_exact")
def _():
    ef, pf, ti, kc = bulk_transfer("gro")
    check(kc["gso_skbs"] > 0, "GRO aggregates seen: %r" % kc)
    check(pf["src2dst_packets"] < ef["src2dst_packets"] and pf["src2dst_max_ps"] > ti["snd_mss"],
          "pcap sees GRO aggregates on ingress: %r" % pf)


@case("offloads_off_ebpf_equals_pcap")
def _():
    ef, pf, ti, kc = bulk_transfer("off")
    # Linux TCP always builds GSO skbs: with offloads off software GSO splits
    # them after the TC egress hook, so libpcap sees wire packets while the
    # eBPF capture counts the same segments from the skb
    for k in ("packets", "bytes", "min_ps", "max_ps"):
        for d in ("src2dst_", "dst2src_"):
            check(ef[d + k] == pf[d + k], "%s: ebpf %r, pcap %r" % (d + k, ef, pf))


SINK = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
time.sleep(600)
"""

MANY_UDP = r"""
import socket, sys
dst, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 20000 + i))
    for _ in range(1 + i % 5):
        s.sendto(b"m" * (10 + i), (dst, 7000))
    s.close()
"""


@case("ebpf_map_full_punts_exact")
def _():
    need_ebpf()
    n = 300
    want = {20000 + i: (1 + i % 5, (1 + i % 5) * (14 + 20 + 8 + 10 + i)) for i in range(n)}
    lv = Live([T_B], ["--n-dissections", "0", "--ebpf-map-entries", "8", "-v"],
              "mapfull.jsonl", capture="ebpf")
    server(SINK, IP_B, "7000")
    client(MANY_UDP, IP_B, IP_A, str(n))
    rep = lv.wait_seen(sum(p for p, _ in want.values()))
    lv.stop()
    rows = [r for r in lv.rows() if r["protocol"] == 17 and r["dst_port"] == 7000]
    got = {r["src_port"]: (r["bidirectional_packets"], r["bidirectional_bytes"]) for r in rows}
    check(len(rows) == n and got == want,
          "%d flows, %d differ: %r" % (len(rows), sum(got.get(k) != v for k, v in want.items()),
                                       sorted((k, got.get(k), v) for k, v in want.items()
                                              if got.get(k) != v)[:5]))
    punted = [l for l in lv.lines if "punted to userspace: flow map full: " in l]
    check(len(punted) == 1 and int(punted[0].rsplit(" ", 1)[1]) > 0,
          "punts counted in the exit summary: %r" % lv.lines)
    check(not any("lost" in l.lower() for l in lv.lines if not l.startswith("{")),
          "nothing lost: %r" % lv.lines)
    kc = lv.reports()[-1]["ebpf"]
    check(kc["punt_full"] > 0 and kc["punt_lost"] == 0 and kc["sample_lost"] == 0,
          "report counters %r" % kc)


# 802.1Q-tagged IPv4/UDP frames from a packet socket: sizes N give frames of
# 14 + 4 + 20 + 8 + N bytes.  The receiving kernel takes the tag out of the
# frame into the skb (as a driver with rx-vlan-hw-parse does) before any
# capture hook sees it.
INJECT = r"""
import socket, struct, sys

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
iface, src, dst, sp, dp, vid = sys.argv[1:7]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for n in map(int, sys.argv[7].split(",")):
    udp = struct.pack("!HHHH", int(sp), int(dp), 8 + n, 0) + b"v" * n
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    tag = struct.pack("!HH", 0x8100, int(vid)) if int(vid) else b""
    s.send(b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + tag + b"\x08\x00" + ip + udp)
"""


def vlan_flow_exact(rows, src, dst, sizes_fwd, sizes_back, what):
    f = flow(rows, 17, src, dst)
    hdr = 14 + 4 + 20 + 8
    check(f["vlan_id"] == 100, "%s: vlan_id %r" % (what, f))
    check((f["src2dst_packets"], f["dst2src_packets"]) == (len(sizes_fwd), len(sizes_back)),
          "%s: packets %r" % (what, f))
    check((f["src2dst_bytes"], f["dst2src_bytes"]) ==
          (sum(n + hdr for n in sizes_fwd), sum(n + hdr for n in sizes_back)),
          "%s: bytes %r" % (what, f))
    check(f["src2dst_max_ps"] == max(sizes_fwd) + hdr
          and f["dst2src_min_ps"] == min(sizes_back) + hdr, "%s: sizes %r" % (what, f))


@case("vlan_tag_removed_by_kernel_exact")
def _():
    need_ebpf()
    fwd, back = [10, 100, 1000], [20, 200]
    args = ["--n-dissections", "0", "--statistical-analysis"]
    e = Live([R_B], args, "vlan-ebpf.jsonl", capture="ebpf")
    p = Live([R_B], args, "vlan-pcap.jsonl", capture="pcap")
    # ingress on R_B: tag in the skb, not in the frame; egress: in the frame
    sh(*nsexec(NS_A, sys.executable, "-c", INJECT, R_A, "10.200.3.1", "10.200.3.2", "4000",
               "5000", "100", ",".join(map(str, fwd))))
    sh(*nsexec(NS_B, sys.executable, "-c", INJECT, R_B, "10.200.3.2", "10.200.3.1", "5000",
               "4000", "100", ",".join(map(str, back))))
    e.wait_seen(len(fwd) + len(back))
    settle()
    for lv, name in ((e, "ebpf"), (p, "pcap")):
        vlan_flow_exact(lv.stop(), "10.200.3.1", "10.200.3.2", fwd, back, name)


@case("vlan_subinterface_offload_exact")
def _():
    need_ebpf()
    if not shutil.which("ethtool"):
        raise Skip("ethtool not installed (make deps)")
    sizes = [1, 64, 200, 512, 1000, 1400]
    ip_a, ip_b = "10.200.2.1", "10.200.2.2"
    pa, pb = extra_pair("v", None, None)
    qa, qb = PFX + "-qa", PFX + "-qb"
    try:
        r = sh("ip", "-n", NS_A, "link", "add", "link", pa, "name", qa, "type", "vlan", "id", "100",
               check_rc=False)
        if r.returncode:
            raise Skip("no 802.1Q VLAN devices in this kernel (CONFIG_VLAN_8021Q): %s"
                       % r.stderr.decode().strip())
        sh("ip", "-n", NS_B, "link", "add", "link", pb, "name", qb, "type", "vlan", "id", "100")
        for ns, par, q, ip in ((NS_A, pa, qa, ip_a), (NS_B, pb, qb, ip_b)):
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", q)
            sh("ip", "-n", ns, "link", "set", par, "up")
            sh("ip", "-n", ns, "link", "set", q, "up")
        # tx-vlan-hw-insert on: the tag travels in the skb, off: in the frame
        for txvlan in ("on", "off"):
            for ns, par in ((NS_A, pa), (NS_B, pb)):
                sh(*nsexec(ns, "ethtool", "-K", par, "rxvlan", txvlan, "txvlan", txvlan))
            args = ["--n-dissections", "0", "--statistical-analysis"]
            e = Live([pb], args, "vsub-%s-ebpf.jsonl" % txvlan, capture="ebpf")
            p = Live([pb], args, "vsub-%s-pcap.jsonl" % txvlan, capture="pcap")
            srv = server(UDP_SERVER, ip_b, "5001", str(len(sizes)))
            client(UDP_CLIENT, ip_b, "5001", ip_a, ",".join(map(str, sizes)))
            srv.wait(timeout=10)
            settle()
            for lv, name in ((e, "ebpf"), (p, "pcap")):
                rows = [r for r in lv.stop() if r["protocol"] == 17]
                vlan_flow_exact(rows, ip_a, ip_b, sizes, [n // 2 for n in sizes],
                                "%s txvlan %s" % (name, txvlan))
    finally:
        del_pair(pa)


EBPF_COUNTERS = ["packets", "metered", "gso_skbs", "segments", "not_ip", "trunc", "fragment",
                 "ipv6_ext", "dup_iface", "punt_complex", "punt_full", "punt_busy", "punt_lost",
                 "samples", "sample_lost", "ctl_full", "meter_events"]


@case("performance_report_ebpf_counters")
def _():
    need_ebpf()
    lv = Live([R_B], ["--n-dissections", "0"], "perf-ebpf.jsonl", capture="ebpf")
    sh(*nsexec(NS_A, sys.executable, "-c", INJECT, R_A, "10.200.3.1", "10.200.3.2", "4000",
               "5000", "0", "1,2,3,4,5"))
    lv.wait_seen(5)
    n = len(lv.reports())
    deadline = time.time() + 5
    while len(lv.reports()) == n and time.time() < deadline:  # one more, after the drain
        time.sleep(0.05)
    lv.stop()
    rep = lv.reports()[-1]
    check(list(rep) == ["flows_expired", "packets_processed", "packets_ignored",
                        "packets_dropped_filtered_by_kernel", "meters_packets_processing_balance",
                        "ebpf"], "NFStream's keys, then ebpf: %r" % list(rep))
    # one flow, one sample (the MACs), metered in userspace from its event;
    # then the flow's first packet of each drain interval, a meter record,
    # also metered there (the 4 others came within one interval or two);
    # the rest in the kernel
    got = rep["ebpf"]
    want = dict.fromkeys(EBPF_COUNTERS, 0)
    want.update(packets=5, samples=1, metered=got["metered"], meter_events=got["meter_events"])
    check(got == want and list(got) == EBPF_COUNTERS and got["metered"] + got["meter_events"] == 4
          and 1 <= got["meter_events"] <= 2, "kernel counters %r" % got)
    check(rep["packets_processed"] == 5, "5 packets metered: %r" % rep)


# ---- the same cases with --capture ebpf ------------------------------------

def ebpf_variant(name):
    base = next(c for c in CASES if c.__name__ == name)

    @case(name + "_ebpf")
    def _():
        if not os.path.exists("/sys/kernel/btf/vmlinux"):
            raise Skip("kernel BTF missing: eBPF capture cannot load")
        CAPTURE[0] = "ebpf"
        try:
            base.fn()
        finally:
            CAPTURE[0] = "pcap"


for _name in ("replay_live_equals_offline", "ping_5_echo_exact", "udp_exchange_exact",
              "udp_ipv6_exchange_exact", "tcp_transfer_payload_bytes",
              "idle_expiry_on_wall_clock", "active_expiry_on_wall_clock"):
    ebpf_variant(_name)


# ---- f) agents sharing an interface -----------------------------------------

EXCHANGE_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[3], int(sys.argv[4])))
s.settimeout(5)
for n in map(int, sys.argv[5].split(",")):
    s.sendto(b"u" * n, (sys.argv[1], int(sys.argv[2])))
    s.recvfrom(65535)
"""

# Background traffic: datagrams from argv[2]:argv[3] to argv[1]:argv[4]
# until sending fails (the interface went away); prints how many were sent.
BG_SEND = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[2], int(sys.argv[3])))
n = 0
try:
    while n < 100000:
        s.sendto(b"b" * 32, (sys.argv[1], int(sys.argv[4])))
        n += 1
        time.sleep(0.002)
except OSError:
    pass
print(n, flush=True)
"""

# Its receiver: says "flowing" at the 10th datagram ("stalled" if 10 s go
# by before), and how many it got once the file argv[3] exists.
BG_RECV = r"""
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(0.05)
print("ready", flush=True)
n, deadline = 0, time.time() + 10
while not os.path.exists(sys.argv[3]):
    if n < 10 and deadline and time.time() > deadline:
        print("stalled", flush=True)
        deadline = None
    try:
        s.recv(2048)
    except socket.timeout:
        continue
    n += 1
    if n == 10:
        print("flowing", flush=True)
print(n, flush=True)
"""

SIZES = [1, 64, 200, 512, 1000, 1400]
FORCE_TC = {"FLOWSIGHT_EBPF_ATTACH": "tc"}


def quiet_pair(tag, ip_a, ip_b, index=None):
    """A veth pair PFX-<tag>a (NS_A, ip_a/24) / PFX-<tag>b (NS_B, ip_b/24,
    ifindex @index if given) that carries the test's packets only: no IPv6,
    permanent neighbour entries (no ARP).  Packet totals are then exact."""
    pa, pb = PFX + "-" + tag + "a", PFX + "-" + tag + "b"
    sh("ip", "-n", NS_B, "link", "add", pb, *(["index", str(index)] if index else []),
       "type", "veth", "peer", "name", pa, "netns", NS_A)
    mac = {}
    for ns, dev, ip in ((NS_A, pa, ip_a), (NS_B, pb, ip_b)):
        sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % dev))
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", dev)
        mac[dev] = json.loads(sh("ip", "-n", ns, "-j", "link", "show", dev).stdout)[0]["address"]
    sh("ip", "-n", NS_A, "neigh", "replace", ip_b, "lladdr", mac[pb], "dev", pa, "nud", "permanent")
    sh("ip", "-n", NS_B, "neigh", "replace", ip_a, "lladdr", mac[pa], "dev", pb, "nud", "permanent")
    for ns, dev in ((NS_A, pa), (NS_B, pb)):
        sh("ip", "-n", ns, "link", "set", dev, "up")
    return pa, pb


def ifindex_b(dev):
    return json.loads(sh("ip", "-n", NS_B, "-j", "link", "show", dev).stdout)[0]["ifindex"]


def exchange(srv_ip, cli_ip, sport, dport):
    """UDP: SIZES from cli_ip:sport, each answered with half as much: 12 packets."""
    srv = server(UDP_SERVER, srv_ip, str(dport), str(len(SIZES)))
    client(EXCHANGE_CLIENT, srv_ip, str(dport), cli_ip, str(sport), ",".join(map(str, SIZES)))
    srv.wait(timeout=10)
    return 2 * len(SIZES)


def exchange_exact(rows, cli_ip, srv_ip, sport, what, times=1):
    f = flow(rows, 17, cli_ip, srv_ip, src_port=sport)
    hdr = 14 + 20 + 8
    want = (times * len(SIZES), times * len(SIZES), times * sum(n + hdr for n in SIZES),
            times * sum(n // 2 + hdr for n in SIZES))
    got = (f["src2dst_packets"], f["dst2src_packets"], f["src2dst_bytes"], f["dst2src_bytes"])
    check(got == want, "%s: packets and bytes %r, want %r: %r" % (what, got, want, f))


def attachments(dev):
    """What is attached to NS_B's dev: TC filters of ours per hook, whether
    a clsact qdisc is there, programs attached with tcx (None: no tcx)."""
    out = {}
    for hook in ("ingress", "egress"):
        text = sh(*nsexec(NS_B, "tc", "filter", "show", "dev", dev, hook)).stdout.decode()
        out[hook] = re.findall(r"handle (0x[0-9a-f]+) fs_tc_\w+", text)
    out["clsact"] = "clsact" in sh(*nsexec(NS_B, "tc", "qdisc", "show", "dev", dev)).stdout.decode()
    out["tcx"] = tcx_progs(NS_B, dev)
    return out


def check_attached(dev, n, tcx, what):
    """@n agents' programs on @dev, as tcx links or as TC filters."""
    a = attachments(dev)
    if tcx:
        check(a["tcx"] == [n, n] and not a["ingress"] and not a["egress"],
              "%s: %d agents with tcx expected: %r" % (what, n, a))
    else:
        check(len(set(a["ingress"])) == len(a["ingress"]) == n and
              sorted(a["ingress"]) == sorted(a["egress"]) and a["tcx"] in ([0, 0], [None, None]),
              "%s: %d agents' TC filters expected, distinct handles: %r" % (what, n, a))
    if n == 0:
        check(not a["clsact"], "%s: the clsact qdisc is left: %r" % (what, a))
    return a


def two_agents(force_tc):
    need_ebpf()
    env = FORCE_TC if force_tc else None
    ip_a, ip_b = "10.200.4.1", "10.200.4.2"
    pa, pb = quiet_pair("s", ip_a, ip_b)
    try:
        args = ["--n-dissections", "0", "-v"]
        a = Live([pb], args, "share-a.jsonl", capture="ebpf", env=env)
        b = Live([pb], args, "share-b.jsonl", capture="ebpf", env=env)
        n1 = exchange(ip_b, ip_a, 41001, 5101)
        a.wait_seen(n1)  # the first sees them too: nobody took its place
        b.wait_seen(n1)
        tcx = not force_tc and attachments(pb)["tcx"][0] is not None
        check_attached(pb, 2, tcx, "both running")
        for lv in (a, b):
            said = [l for l in lv.lines if "attached with tcx links" in l or
                    "TC filters at priority" in l]
            check(len(said) == 1 and ("tcx" in said[0]) == tcx, "attach mode said: %r" % lv.lines)
        if not tcx:  # the second names the first
            check(any("shared with flowsight pid %d" % a.proc.pid in l for l in b.lines), b.lines)
        exchange_exact(b.stop(), ip_a, ip_b, 41001, "second agent")
        check_attached(pb, 1, tcx, "after the second exited")
        n2 = exchange(ip_b, ip_a, 41002, 5102)
        a.wait_seen(n1 + n2)
        # a third one, which found the qdisc made by the first, is the last out
        c = Live([pb], args, "share-c.jsonl", capture="ebpf", env=env)
        check_attached(pb, 2, tcx, "first and third")
        n3 = exchange(ip_b, ip_a, 41003, 5103)
        a.wait_seen(n1 + n2 + n3)
        c.wait_seen(n3)
        rows = a.stop()
        for sport in (41001, 41002, 41003):
            exchange_exact(rows, ip_a, ip_b, sport, "first agent, port %d" % sport)
        check_attached(pb, 1, tcx, "after the first exited")
        n4 = exchange(ip_b, ip_a, 41004, 5104)
        c.wait_seen(n3 + n4)
        rows = c.stop()
        for sport in (41003, 41004):
            exchange_exact(rows, ip_a, ip_b, sport, "third agent, port %d" % sport)
        check_attached(pb, 0, tcx, "after all exited")
    finally:
        del_pair(pa)


@case("two_ebpf_agents_one_interface_exact")
def _():
    two_agents(False)


@case("two_ebpf_agents_one_interface_tc_filters_exact")
def _():
    two_agents(True)


@case("pcap_and_ebpf_agents_one_interface_exact")
def _():
    need_ebpf()
    ip_a, ip_b = "10.200.5.1", "10.200.5.2"
    pa, pb = quiet_pair("p", ip_a, ip_b)
    try:
        args = ["--n-dissections", "0"]
        e = Live([pb], args, "pair-ebpf.jsonl", capture="ebpf")
        p = Live([pb], args, "pair-pcap.jsonl", capture="pcap")
        n1 = exchange(ip_b, ip_a, 41011, 5111)
        e.wait_seen(n1)
        p.wait_seen(n1)
        exchange_exact(p.stop(), ip_a, ip_b, 41011, "pcap")
        n2 = exchange(ip_b, ip_a, 41012, 5112)
        e.wait_seen(n1 + n2)
        rows = e.stop()
        exchange_exact(rows, ip_a, ip_b, 41011, "ebpf, first exchange")
        exchange_exact(rows, ip_a, ip_b, 41012, "ebpf, after pcap exited")
        check_attached(pb, 0, False, "after both exited")
    finally:
        del_pair(pa)


# ---- g) an interface that goes away ---------------------------------------------

class Background:
    """Datagrams from NS_A's ip_a:sport to NS_B's ip_b:dport until the link goes."""

    def __init__(self, ip_a, ip_b, sport, dport):
        self.stop_file = os.path.join(TMP, "bg-stop-%d" % dport)
        if os.path.exists(self.stop_file):
            os.unlink(self.stop_file)
        self.recv = server(BG_RECV, ip_b, str(dport), self.stop_file)
        self.send = subprocess.Popen(nsexec(NS_A, sys.executable, "-c", BG_SEND, ip_b, ip_a,
                                            str(sport), str(dport)),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        PROCS.append(self.send)
        line = self.recv.stdout.readline().strip()
        check(line == b"flowing", "background traffic does not flow: %r" % line)

    def counts(self):
        """(sent, received) once the link is gone: the sender stopped by itself."""
        sent = int(self.send.communicate(timeout=20)[0])
        open(self.stop_file, "w").close()
        got = int(self.recv.communicate(timeout=20)[0])
        return sent, got


def background_between(rows, ip_a, ip_b, sport, sent, got):
    f = flow(rows, 17, ip_a, ip_b, src_port=sport)
    # every datagram the receiver got passed the capture, and none was
    # captured that was not sent
    check(got <= f["src2dst_packets"] <= sent and f["dst2src_packets"] == 0,
          "background: %d sent, %d received, flow %r" % (sent, got, f))
    check(f["src2dst_bytes"] == f["src2dst_packets"] * (14 + 20 + 8 + 32), f)
    return f["src2dst_packets"]


def wait_for(cond, what, proc=None, timeout=15):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        check(proc is None or proc.poll() is None, "flowsight ended while waiting for %s" % what)
        check(time.time() < deadline, "no %s within %d s" % (what, timeout))
        time.sleep(0.05)


def interface_gone(capture, env=None):
    if capture == "ebpf":
        need_ebpf()
    ip_a, ip_b = "10.200.8.1", "10.200.8.2"
    pa, pb = quiet_pair("g", ip_a, ip_b)
    try:
        lv = Live([pb], ["--n-dissections", "0"], "gone-%s.jsonl" % capture, capture=capture,
                  env=env)
        exchange(ip_b, ip_a, 41021, 5121)
        bg = Background(ip_a, ip_b, 41022, 5122)
        sh("ip", "-n", NS_B, "link", "del", pb)
        sent, got = bg.counts()
        rc = lv.proc.wait(timeout=20)
        lv.reader.join(timeout=5)
        check(rc == 1, "exit %d, 1 expected: %r" % (rc, lv.lines))
        said = [l for l in lv.lines if "went away" in l or "disappeared" in l]
        check(said == ["flowsight: interface '%s' went away" % pb], "one line: %r" % lv.lines)
        rows = lv.rows()
        exchange_exact(rows, ip_a, ip_b, 41021, "before the deletion")
        background_between(rows, ip_a, ip_b, 41022, sent, got)
    finally:
        del_pair(pa)


@case("interface_gone_exit_1_flows_exported_pcap")
def _():
    interface_gone("pcap")


@case("interface_gone_exit_1_flows_exported_ebpf")
def _():
    interface_gone("ebpf")


@case("interface_gone_exit_1_flows_exported_ebpf_tc_filters")
def _():
    interface_gone("ebpf", FORCE_TC)


def wait_interface(capture, env=None):
    if capture == "ebpf":
        need_ebpf()
    ip_a, ip_b = "10.200.9.1", "10.200.9.2"
    pa, pb = quiet_pair("w", ip_a, ip_b)
    try:
        lv = Live([pb], ["--n-dissections", "0", "--wait-interface", "-v"],
                  "wait-%s.jsonl" % capture, capture=capture, env=env)
        n1 = exchange(ip_b, ip_a, 41031, 5131)
        bg = Background(ip_a, ip_b, 41032, 5132)
        index = ifindex_b(pb)
        sh("ip", "-n", NS_B, "link", "del", pb)
        sent, got = bg.counts()
        # its flows go out when it goes, not at the end
        rows = wait_for(lambda: (lambda r: r if len(r) >= 2 else None)(
            [r for r in lv.rows() if r["src_port"] in (41031, 41032)]),
            "export of the flows of the interface that went away", lv.proc)
        exchange_exact(rows, ip_a, ip_b, 41031, "flushed when it went away")
        n_bg = background_between(rows, ip_a, ip_b, 41032, sent, got)
        check(any("interface '%s' went away" % pb in l for l in lv.lines), lv.lines)
        # the same name (and index: a veth moved into a namespace keeps its own)
        quiet_pair("w", ip_a, ip_b, index=index)
        wait_for(lambda: any("interface '%s' is back" % pb in l and "re-attached" in l
                             for l in lv.lines), "re-attached line", lv.proc)
        n2 = exchange(ip_b, ip_a, 41033, 5133)
        lv.wait_seen(n1 + n_bg + n2)
        rows = lv.stop()
        exchange_exact(rows, ip_a, ip_b, 41033, "after the interface came back")
        exchange_exact(rows, ip_a, ip_b, 41031, "exported once")
        check_attached(pb, 0, False, "after the agent exited")
    finally:
        del_pair(pa)


@case("wait_interface_reattaches_pcap")
def _():
    wait_interface("pcap")


@case("wait_interface_reattaches_ebpf")
def _():
    wait_interface("ebpf")


@case("wait_interface_reattaches_ebpf_tc_filters")
def _():
    wait_interface("ebpf", FORCE_TC)


def other_interfaces_go_on(capture):
    """--wait-interface with two interfaces: the one left keeps its flows whole."""
    if capture == "ebpf":
        need_ebpf()
    pa1, pb1 = quiet_pair("k", "10.200.6.1", "10.200.6.2")
    pa2, pb2 = quiet_pair("l", "10.200.7.1", "10.200.7.2")
    try:
        lv = Live([pb1, pb2], ["--n-dissections", "0", "--wait-interface"],
                  "others-%s.jsonl" % capture, capture=capture)
        n0 = exchange("10.200.6.2", "10.200.6.1", 41041, 5141)
        n1 = exchange("10.200.7.2", "10.200.7.1", 41042, 5142)
        lv.wait_seen(n0 + n1)
        sh("ip", "-n", NS_B, "link", "del", pb2)
        rows = wait_for(lambda: [r for r in lv.rows() if r["src_port"] == 41042],
                        "export of the flow of the interface that went away", lv.proc)
        exchange_exact(rows, "10.200.7.1", "10.200.7.2", 41042, "flushed")
        check(not [r for r in lv.rows() if r["src_port"] == 41041],
              "the other interface's flow is still cached: %r" % lv.rows())
        n2 = exchange("10.200.6.2", "10.200.6.1", 41041, 5141)  # the same flow, again
        lv.wait_seen(n0 + n1 + n2)
        exchange_exact(lv.stop(), "10.200.6.1", "10.200.6.2", 41041, "one flow, whole", times=2)
    finally:
        del_pair(pa1)
        del_pair(pa2)


@case("wait_interface_others_go_on_pcap")
def _():
    other_interfaces_go_on("pcap")


@case("wait_interface_others_go_on_ebpf")
def _():
    other_interfaces_go_on("ebpf")


def main():
    reason = why_skip()
    if reason:
        for c in CASES:
            print("SKIP live/%s: %s" % (c.__name__, reason))
        print("0 passed, 0 failed, %d skipped" % len(CASES))
        return 0
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        setup()
    except Exception as e:
        print("FAIL live/setup: %s" % e)
        print("0 passed, 1 failed, 0 skipped")
        return 1
    only = sys.argv[1:]  # case names, to run a few while debugging
    for c in CASES:
        if not only or c.__name__ in only:
            c()
    print("%d passed, %d failed, %d skipped" % (res["passed"], res["failed"], res["skipped"]))
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
