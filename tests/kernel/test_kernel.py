#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""flowsight on the kernels of the matrix: Debian 12's own, booted under QEMU.

    test_kernel.py [SERIES]     SERIES: 6.1 (default) or 6.12; layer kernel-SERIES

The agent probes the kernel at start-up (eBPF capture, process attribution
hooks) and must use only what the probe confirmed.  This layer boots one
kernel Debian 12 installs (6.1, bookworm's own, or 6.12 from
bookworm-security; fetched with apt-get download into build/kernel/SERIES/,
never installed on the host) with a minimal initramfs (build_image.sh) whose
/init (init.sh) runs flowsight on the guest's lo around known exchanges and
prints everything on the serial console.  Nothing leaves the guest: it has
no network card, the exchanges are on its loopback.

Cases, each on the guest's output:
  boot            the guest ran the whole workload on the expected kernel
  ebpf_counts     --capture ebpf: one ICMP flow of 10 packets / 980 bytes
                  (5 busybox pings to 127.0.0.1), one TCP flow whose packets
                  and bytes are exactly what lo carried meanwhile, and a
                  1 MB transfer in lo's 64 KiB frames (packets exact, plus
                  the wire segments of any GSO frame the capture split;
                  bytes modulo 65536: NFStream keeps a frame's size in 16
                  bits)
  pcap_counts     --capture pcap on the same exchange (both ran at once):
                  the same, and per direction the same as ebpf
  attr_ebpf       --system-visibility-mode 2 with ebpf: each flow names the
  attr_pcap       busybox process that made it (pid from $! in the guest),
                  and the run has exactly the flows of its exchanges
  preexisting_*   (ebpf, pcap) a connection opened before flowsight
                  started, whose listener never accepts: named
                  `preexisting`, by the client's pid, exe and cmdline as
                  /proc had them (iter/task_file + iter/tcp)
  udp_*           syslogd forwards 3 messages as datagrams from an
                  unconnected socket (`send`, syslogd's pid); the kernel's
                  3 port unreachables are `kernel`
  fork_*          a connection opened before flowsight by nc, which runs
                  a script on it that sends from a forked subshell, then
                  itself: the holder named (`preexisting`), the subshell
                  counted in system_process_others where the kernel has
                  sock_send_length
  two_ebpf_agents a second --capture ebpf next to the first during the same
                  exchange: the same flows, field for field; attached with
                  tcx links on 6.12 and TC filters of their own on 6.1 (the
                  second names the first's pid); after both exit the next
                  agent finds no filter of theirs and adds the qdisc again
  probe           the attribution hooks reported missing are exactly the
                  tracepoints tracefs does not list; nothing was refused:
                  the programs loaded in the guest are exactly those of
                  build/capture.bpf.o and build/sockets.bpf.o less those
                  hooks and the egress variant this kernel does not take (a
                  program the verifier refuses fails here, with the
                  verifier's words).  Prints (INFO) the verifier's
                  instruction count of each program (the limit: 1,000,000)
  accelerators    whether kprobes, multi-kprobes and fentry attach here
                  (INFO; each as the kernel's config says), and that
                  flowsight has no such program to exercise

Needs root (as the live layers; the image is built under build/kernel),
QEMU (qemu-system-x86_64, TCG: no KVM needed) and the kernel package;
otherwise every case is skipped with the reason.  The VM is killed after VM_TIMEOUT
seconds (default 300) whatever happens; VM_SMP sets its CPUs (default 2).
The serial log is kept in build/kernel/SERIES/serial.log for a look afterwards.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "live"))
from harness import Suite, check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FS = os.path.abspath(os.environ.get("FLOWSIGHT", os.path.join(ROOT, "build", "flowsight")))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
QEMU = "qemu-system-x86_64"
VM_TIMEOUT = int(os.environ.get("VM_TIMEOUT", "300"))
VM_SMP = os.environ.get("VM_SMP", "2")
SERIES = sys.argv[1] if len(sys.argv) > 1 else "6.1"
# a serial log saved from an earlier boot, checked instead of booting (to
# debug the checks, or to see them fail on an edited log)
SERIAL_LOG = os.environ.get("KERNEL_SERIAL_LOG")
TMP = []
VM = []
IMAGE = {}
GUEST = {"kv": {}, "files": {}, "done": False, "log": ""}
ETH = 14  # lo counts bytes after its (all-zero) Ethernet header is pulled
# the guest's ports: the main exchange of each phase, and per attribution
# phase the preexisting connection (+200), syslogd's datagrams (+300) and
# the fork (+400), as init.sh numbers them
PORT = {"count": 9000, "attr_ebpf": 9001, "attr_pcap": 9002}
BPF_OBJS = ("capture.bpf.o", "sockets.bpf.o")
PROG_NAME_LEN = 15  # BPF_OBJ_NAME_LEN - 1: the kernel keeps that much of a name

SUITE = Suite("kernel-" + SERIES, lambda: None)
case = SUITE.case


def cleanup():
    for p in VM:
        if p.poll() is None:
            p.kill()
            p.wait()
    for d in TMP:
        shutil.rmtree(d, ignore_errors=True)


def build_image():
    """Runs build_image.sh; None when it cannot be had here (exit 3)."""
    env = dict(os.environ, FLOWSIGHT=FS)
    p = subprocess.run([os.path.join(HERE, "build_image.sh"), SERIES], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=600)
    err = p.stderr.decode().strip()
    if p.returncode == 3:
        IMAGE["skip"] = err.replace("unavailable: ", "")
        return
    if p.returncode:
        IMAGE["error"] = "build_image.sh %s: exit %d: %s" % (SERIES, p.returncode, err)
        return
    for line in p.stdout.decode().splitlines():
        k, _, v = line.partition("=")
        IMAGE[k] = v if os.path.isabs(v) or k in ("KVER", "PKG") else os.path.join(ROOT, v)


def why_skip():
    if SERIES not in ("6.1", "6.12"):
        return "unknown kernel series %r (6.1 or 6.12)" % SERIES
    if os.geteuid() != 0:
        return "needs root (builds the image under build/kernel like the other layers' files)"
    if not shutil.which(QEMU):
        return "%s not found (make deps installs qemu-system-x86)" % QEMU
    if not os.access(FS, os.X_OK):
        return "%s not built" % FS
    build_image()
    if "skip" in IMAGE:
        return "no Debian %s kernel: %s" % (SERIES, IMAGE["skip"])
    return None


def boot():
    TMP.append(tempfile.mkdtemp(prefix="fs-kernel-%s-" % SERIES))
    log = os.path.join(TMP[0], "serial.log")
    cmd = [QEMU, "-accel", "tcg", "-cpu", "max", "-smp", VM_SMP, "-m", "768",
           "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
           "-no-reboot", "-serial", "file:" + log,
           "-kernel", IMAGE["KERNEL"], "-initrd", IMAGE["INITRD"],
           "-append", "console=ttyS0 loglevel=1 panic=-1 rdinit=/init"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    VM.append(p)
    try:
        out, _ = p.communicate(timeout=VM_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        GUEST["timeout"] = True
    GUEST["qemu"] = out.decode(errors="replace").strip()
    with open(log, errors="replace") as f:
        GUEST["log"] = f.read()
    shutil.copy(log, os.path.join(os.path.dirname(IMAGE["INITRD"]), "serial.log"))
    parse(GUEST["log"])


def parse(text):
    cur = None
    for line in text.replace("\r", "").split("\n"):
        if line.startswith("@@FSK begin "):
            cur = line[len("@@FSK begin "):]
            GUEST["files"][cur] = []
        elif line.startswith("@@FSK end "):
            cur = None
        elif cur is not None:
            GUEST["files"][cur].append(line)
        elif line.startswith("@@FSK kv "):
            k, _, v = line[len("@@FSK kv "):].partition(" ")
            if k in ("exists", "missing"):
                GUEST["kv"].setdefault(k, []).append(v)
            else:
                GUEST["kv"][k] = v
        elif line == "@@FSK done":
            GUEST["done"] = True


def kv(key):
    check(key in GUEST["kv"], "the guest printed no %s" % key)
    return GUEST["kv"][key]


def lo(key):
    pk, by = kv(key).split()
    return int(pk), int(by)


def lo_delta(start, end):
    """Packets and bytes lo carried between two of the guest's readings."""
    a, b = lo(start), lo(end)
    return b[0] - a[0], b[1] - a[1]


def rows(name):
    lines = GUEST["files"].get(name + ".jsonl")
    check(lines is not None, "the guest printed no %s.jsonl" % name)
    check(kv(name + "_rc") == "0", "flowsight (%s) exit %s: %s" %
          (name, kv(name + "_rc"), tail(name)))
    return [json.loads(l) for l in lines if l.strip()]


def stderr(name):
    return GUEST["files"].get(name + ".err", [])


def tail(name, n=12):
    """The end of a run's stderr, where the cause is (a verifier log's too)."""
    return " | ".join(stderr(name)[-n:])


def tracefs_has(event):
    """Whether the guest's tracefs lists EVENT ("sock/sock_send_length")."""
    path = "/sys/kernel/tracing/events/" + event
    check(path in GUEST["kv"].get("exists", []) + GUEST["kv"].get("missing", []),
          "the guest did not look for %s" % path)
    return path in GUEST["kv"].get("exists", [])


def flow(rs, proto, port=None, src=None):
    got = [r for r in rs if r["protocol"] == proto and (port is None or r["dst_port"] == port)
           and (src is None or r["src_ip"] == src)]
    check(len(got) == 1, "%d flows of protocol %d (port %s, from %s) in %r" %
          (len(got), proto, port, src, rs))
    return got[0]


def check_bytes(what, fs, pk, by):
    """Flows FS are all lo carried in a window: PK packets, BY bytes."""
    got = (sum(f["bidirectional_packets"] for f in fs), sum(f["bidirectional_bytes"] for f in fs))
    check(got == (pk, by + ETH * pk), "%s: flows carry %r packets/bytes, lo carried %r" %
          (what, got, (pk, by + ETH * pk)))


def check_counts(name, phase):
    """The main exchange's flows against lo's own counters over the same time."""
    rs = rows(name)
    start, ping, end = lo(phase + "_lo_start"), lo(phase + "_lo_ping"), lo(phase + "_lo_end")
    port = PORT[phase]
    if phase == "count":
        check(len(rs) == 3, "%s: %d flows, expected 3 (ICMP, TCP, bulk TCP): %r" %
              (name, len(rs), rs))
    icmp = flow(rs, 1, src="127.0.0.1")
    # 5 echo requests and 5 replies, all 127.0.0.1 -> 127.0.0.1 with no
    # ports: one direction; 84 IP bytes each (56 bytes of data)
    got = (icmp["bidirectional_packets"], icmp["src2dst_packets"], icmp["dst2src_packets"],
           icmp["bidirectional_bytes"], icmp["dst_ip"])
    check(got == (10, 10, 0, 980, "127.0.0.1"),
          "%s ICMP packets/src2dst/dst2src/bytes/dst %r" % (name, got))
    check(ping[0] - start[0] == 10 and ping[1] - start[1] == 10 * 84,
          "lo carried %r during the pings" % ((ping[0] - start[0], ping[1] - start[1]),))
    tcp = flow(rs, 6, port)
    pk, by = end[0] - ping[0], end[1] - ping[1]
    check_bytes("%s TCP" % name, [tcp], pk, by)
    check(tcp["src2dst_packets"] + tcp["dst2src_packets"] == pk and tcp["src2dst_packets"] >= 3
          and tcp["dst2src_packets"] >= 2, "%s TCP directions %r" %
          (name, (tcp["src2dst_packets"], tcp["dst2src_packets"])))
    check(tcp["src_port"] != port and tcp["src_ip"] == tcp["dst_ip"] == "127.0.0.1",
          "%s TCP flow not oriented client -> server: %r" % (name, tcp))
    check(kv(phase + "_server_got") == "hello", "the TCP exchange carried %r" %
          kv(phase + "_server_got"))
    return icmp, tcp


# the headers each wire segment of the bulk connection repeats: Ethernet
# (lo's, all zero), IPv4, TCP with timestamps
SEG_HDR = ETH + 20 + 32


def split_segments():
    """Wire segments the eBPF capture metered beyond the skbs it saw: a GSO
    skb of N segments (TCP's segment size below its payload, which happens
    on lo while the receive window is small) is N packets to it, and one
    to lo's counters and to libpcap.  From its exit summary: "capture
    ended: M packets metered, ...; kernel: S received"."""
    for l in stderr("ebpf"):
        m = re.search(r"capture ended: (\d+) packets metered, \d+ ignored; kernel: (\d+) received",
                      l)
        if m:
            extra = int(m.group(1)) - int(m.group(2))
            check(extra >= 0, "ebpf: fewer packets metered than received: %s" % l)
            return extra
    raise AssertionError("ebpf printed no exit summary: %s" % tail("ebpf"))


def check_bulk(name):
    """1 MB in one connection: lo's counters again, GSO segments included."""
    rs = rows(name)
    bulk = flow(rs, 6, 9100)
    start, end = lo("count_lo_end"), lo("count_lo_bulk")
    check(kv("count_bulk_client_rc") == "0" and kv("count_bulk_server_rc") == "0",
          "bulk transfer: client exit %s, server exit %s" %
          (kv("count_bulk_client_rc"), kv("count_bulk_server_rc")))
    pk, by = end[0] - start[0], end[1] - start[1]
    # the eBPF capture counts wire segments (tests/live checks them against
    # TCP_INFO): a split skb is more packets, each with its own headers
    extra = split_segments() if name == "ebpf" else 0
    check(bulk["bidirectional_packets"] == pk + extra,
          "%s bulk TCP packets %d, lo carried %d (+%d wire segments of split skbs)" %
          (name, bulk["bidirectional_packets"], pk, extra))
    # NFStream keeps a frame's size in 16 bits: lo's frames of up to 65550
    # bytes wrap, so the sum is lo's modulo 65536, and smaller
    want = by + ETH * pk + SEG_HDR * extra
    got = bulk["bidirectional_bytes"]
    check(got % 65536 == want % 65536 and got <= want,
          "%s bulk TCP bytes %d, lo carried %d (+%d header bytes of split skbs; "
          "mod 65536: %d, %d)" % (name, got, by + ETH * pk, SEG_HDR * extra, got % 65536,
                                  want % 65536))
    check(bulk["src2dst_packets"] > 1000000 // 65536, "%s bulk TCP: %d client packets" %
          (name, bulk["src2dst_packets"]))
    return bulk


def setup():
    if "error" in IMAGE:
        raise AssertionError(IMAGE["error"])
    if SERIAL_LOG:
        with open(SERIAL_LOG, errors="replace") as f:
            GUEST["log"] = f.read()
        parse(GUEST["log"])
        return
    boot()
    if GUEST.get("timeout"):
        tail = "\n".join(GUEST["log"].splitlines()[-30:])
        raise AssertionError("VM still running after %d s, killed; serial tail:\n%s" %
                             (VM_TIMEOUT, tail))


@case("boot")
def _boot():
    check(GUEST["done"], "the guest did not finish its workload (qemu: %r); serial log:\n%s" %
          (GUEST.get("qemu", ""), GUEST["log"][-4000:]))
    if not SERIAL_LOG:
        check(kv("kernel") == IMAGE["KVER"], "guest kernel %r, expected %r (%s)" %
              (kv("kernel"), IMAGE["KVER"], IMAGE.get("PKG")))
    check(kv("kernel").startswith(SERIES + "."), "not a %s kernel: %r" % (SERIES, kv("kernel")))
    # the modules the image carries (none when built in), each loaded
    mods = [k[len("insmod_"):] for k in GUEST["kv"] if k.startswith("insmod_")]
    if not SERIAL_LOG:
        with open(os.path.join(os.path.dirname(IMAGE["INITRD"]), "initramfs", "lib",
                               "modules", "load")) as f:
            want = [m[:-len(".ko")] for m in f.read().split()]
        check(sorted(mods) == sorted(want), "modules loaded %r, the image has %r" % (mods, want))
    for m in mods:
        check(kv("insmod_" + m) == "0", "insmod %s: exit %s" % (m, kv("insmod_" + m)))
    for name in ("ebpf", "ebpf2", "pcap", "attr_ebpf", "attr_pcap"):
        check(kv(name + "_ready") == "1", "flowsight (%s) never created its output: %s" %
              (name, tail(name)))


@case("ebpf_counts")
def _ebpf_counts():
    check_counts("ebpf", "count")
    check_bulk("ebpf")
    err = "\n".join(stderr("ebpf"))
    seen = lo("count_lo_bulk")[0] - lo("count_lo_start")[0]
    # every packet seen is metered: in the kernel, or in userspace from its
    # record (a flow's first n_samples packets, then its first packet of
    # each drain interval)
    m = re.search(r"ebpf capture: (\d+) packets seen, (\d+) metered in the kernel "
                  r"\(\d+ GSO/GRO segments\), (\d+) as samples, (\d+) as meter records", err)
    check(m and int(m.group(1)) == seen and
          int(m.group(2)) + int(m.group(3)) + int(m.group(4)) == seen and
          int(m.group(3)) > 0 and int(m.group(2)) > 0,
          "the eBPF capture did not report %d packets seen = metered in the kernel + as "
          "samples + as meter records (some in the kernel, some samples): %s"
          % (seen, tail("ebpf")))


@case("pcap_counts")
def _pcap_counts():
    _, tcp = check_counts("pcap", "count")
    _, etcp = check_counts("ebpf", "count")
    bulk, ebulk = check_bulk("pcap"), check_bulk("ebpf")
    for k in ("src_port", "src2dst_packets", "dst2src_packets", "src2dst_bytes",
              "dst2src_bytes"):
        check(tcp[k] == etcp[k], "TCP %s: pcap %r, ebpf %r" % (k, tcp[k], etcp[k]))
    # the bulk transfer: the same but for the skbs the eBPF capture split
    # into wire segments, each one more packet and its headers once more
    check(bulk["src_port"] == ebulk["src_port"], "bulk TCP src_port: pcap %r, ebpf %r" %
          (bulk["src_port"], ebulk["src_port"]))
    split = 0
    for d in ("src2dst_", "dst2src_"):
        x = ebulk[d + "packets"] - bulk[d + "packets"]
        split += x
        check(x >= 0 and ebulk[d + "bytes"] % 65536 ==
              (bulk[d + "bytes"] + SEG_HDR * x) % 65536,
              "bulk TCP %spackets/bytes: pcap %r/%r, ebpf %r/%r" %
              (d, bulk[d + "packets"], bulk[d + "bytes"], ebulk[d + "packets"],
               ebulk[d + "bytes"]))
    check(split == split_segments(), "bulk TCP: ebpf counts %d packets more than pcap, "
          "it split skbs into %d more" % (split, split_segments()))
    check("flowsight: capture: pcap (requested)" in stderr("pcap"), "pcap: %s" % tail("pcap"))


@case("two_ebpf_agents")
def _two_ebpf_agents():
    # tcx came with Linux 6.6: 6.12 has it, 6.1 takes TC filters (the
    # agents probe it; this checks they chose as the kernel allows)
    tcx = SERIES != "6.1"
    icmp, tcp = check_counts("ebpf", "count")
    icmp2, tcp2 = check_counts("ebpf2", "count")
    bulk, bulk2 = flow(rows("ebpf"), 6, 9100), flow(rows("ebpf2"), 6, 9100)
    for what, a, b in (("ICMP", icmp, icmp2), ("TCP", tcp, tcp2), ("bulk TCP", bulk, bulk2)):
        # times: each agent maps the kernel's clock to the wall clock itself
        a, b = ({k: v for k, v in r.items() if k != "id" and "_ms" not in k} for r in (a, b))
        check(a == b, "%s: first agent %r, second %r" % (what, a, b))
    for name in ("ebpf", "ebpf2", "attr_ebpf"):
        said = [l for l in stderr(name) if "attached with tcx links" in l or
                "TC filters at priority" in l]
        check(len(said) == 1 and ("tcx" in said[0]) == tcx, "%s, %s expected: %s" %
              (name, "tcx" if tcx else "TC filters", tail(name)))
    if tcx:
        return
    first = kv("ebpf_fs_pid")
    check(any("shared with flowsight pid %s " % first in l for l in stderr("ebpf2")),
          "the second agent did not find the first's filter (pid %s): %s" % (first, tail("ebpf2")))
    nxt = "\n".join(stderr("attr_ebpf"))
    check("(clsact qdisc added)" in nxt and "shared with" not in nxt and "removing" not in nxt,
          "after both agents exited, the next found something of theirs: %s" % tail("attr_ebpf"))


def owner(row, extended=True):
    """A flow's attribution: pid, name, how, and with EXTENDED exe, cmdline,
    ppid, user and others."""
    got = (row["system_process_pid"], row["system_process_name"], row["system_attribution"])
    if extended:
        got += (row["system_process_exe"], row["system_process_cmdline"],
                row["system_process_ppid"], row["system_process_user"],
                row["system_process_others"])
    return got


def check_attr(name):
    icmp, tcp = check_counts(name, name)
    rs = rows(name)
    port = PORT[name]
    # the run's flows: the pings, the main TCP exchange, the preexisting
    # connection, the datagrams and the kernel's answers, the fork's
    keys = sorted((r["protocol"], r["src_ip"], r["dst_ip"], r["dst_port"]) for r in rs)
    want = sorted([(1, "127.0.0.1", "127.0.0.1", 0), (6, "127.0.0.1", "127.0.0.1", port),
                   (6, "127.0.0.1", "127.0.0.1", port + 200),
                   (17, "127.0.0.1", "127.0.0.2", port + 300),
                   (1, "127.0.0.2", "127.0.0.1", 0), (6, "127.0.0.1", "127.0.0.1", port + 400)])
    check(keys == want, "%s: flows %r, expected %r" % (name, keys, want))
    ping = (int(kv(name + "_ping_pid")), kv(name + "_ping_comm"))
    srv = (int(kv(name + "_server_pid")), kv(name + "_server_comm"))
    check(ping[1] == "ping" and srv[1] == "nc", "workload names %r %r" % (ping, srv))
    want = ping + ("send", "/bin/ping", "/bin/ping -c 5 127.0.0.1", 1, "root", 0)
    check(owner(icmp) == want, "%s ICMP: got %r, expected %r" % (name, owner(icmp), want))
    # Both ends of a loopback connection are local: the flow is named by the
    # end that sent its first packet, the client, and the server's socket is
    # not counted as another user of it (README "Process attribution").
    client = int(kv(name + "_client_pid"))
    want = (client, "nc", "connect", "/bin/nc", "/bin/nc 127.0.0.1 %d" % port, 1, "root", 0)
    check(owner(tcp) == want, "%s TCP: got %r, expected %r (server pid %d)" %
          (name, owner(tcp), want, srv[0]))


@case("attr_ebpf")
def _attr_ebpf():
    check_attr("attr_ebpf")


@case("attr_pcap")
def _attr_pcap():
    check_attr("attr_pcap")


def check_preexisting(name):
    """The connection opened before flowsight, used under it: 4 bytes from
    the client, acknowledged by the kernel for the listener that never
    accepts.  Only the client's socket is held: it names the flow."""
    rs = rows(name)
    port = PORT[name] + 200
    pre = flow(rs, 6, port)
    check(kv(name + "_pre_backlog") == "1", "%s: %s connections wait in the stopped listener's "
          "accept queue, expected 1" % (name, kv(name + "_pre_backlog")))
    check(kv(name + "_pre_acked") == "0", "%s: the 4 bytes were not sent and acknowledged" % name)
    cli = (int(kv(name + "_pre_client_pid")), kv(name + "_pre_client_comm"))
    got = (pre["src_port"], pre["src2dst_packets"], pre["dst2src_packets"])
    want = (int(kv(name + "_pre_client_port")), 1, 1)
    check(got == want, "%s preexisting TCP: client port, packets per direction %r, expected %r"
          % (name, got, want))
    check_bytes("%s preexisting TCP" % name, [pre], *lo_delta(name + "_lo_pre_start",
                                                              name + "_lo_pre_end"))
    # a process older than flowsight: exe and arguments read from /proc
    want = cli + ("preexisting", kv(name + "_pre_client_exe"),
                  kv(name + "_pre_client_cmdline").strip(), 1, "root", 0)
    check(cli[1] == "nc" and want[3] == "/bin/busybox" and
          want[4] == "/bin/nc 127.0.0.1 %d" % port, "the guest's client: %r" % (want,))
    check(owner(pre) == want, "%s preexisting TCP: got %r, expected %r" %
          (name, owner(pre), want))


@case("preexisting_ebpf")
def _preexisting_ebpf():
    check_preexisting("attr_ebpf")


@case("preexisting_pcap")
def _preexisting_pcap():
    check_preexisting("attr_pcap")


def check_udp(name):
    """3 datagrams from syslogd's unconnected socket to 127.0.0.2, where
    nothing listens, and the kernel's 3 port unreachables."""
    rs = rows(name)
    port = PORT[name] + 300
    udp = flow(rs, 17, port)
    icmp = flow(rs, 1, src="127.0.0.2")
    check(kv(name + "_syslog_lines") == "3", "%s: syslogd logged %s messages, expected 3" %
          (name, kv(name + "_syslog_lines")))
    got = [(f["src_ip"], f["dst_ip"], f["src2dst_packets"], f["dst2src_packets"])
           for f in (udp, icmp)]
    want = [("127.0.0.1", "127.0.0.2", 3, 0), ("127.0.0.2", "127.0.0.1", 3, 0)]
    check(got == want, "%s UDP and ICMP addresses, packets per direction %r, expected %r" %
          (name, got, want))
    check_bytes("%s UDP and ICMP" % name, [udp, icmp],
                *lo_delta(name + "_lo_udp_start", name + "_lo_udp_end"))
    pid = (int(kv(name + "_syslogd_pid")), kv(name + "_syslogd_comm"))
    want = pid + ("send", "/bin/syslogd",
                  "/bin/syslogd -n -L -O /tmp/%s.syslog -R 127.0.0.2:%d" % (name, port),
                  1, "root", 0)
    check(owner(udp) == want, "%s UDP: got %r, expected %r" % (name, owner(udp), want))
    want = (-1, "", "kernel", "", "", -1, "", 0)
    check(owner(icmp) == want, "%s port unreachables: got %r, expected %r" %
          (name, owner(icmp), want))


@case("udp_ebpf")
def _udp_ebpf():
    check_udp("attr_ebpf")


@case("udp_pcap")
def _udp_pcap():
    check_udp("attr_pcap")


def check_fork(name):
    """A connection opened before flowsight by nc, which then ran
    /tmp/fork.sh on it (-e): under flowsight the script sends from a forked
    subshell, then itself.  Named by the process the start-up iterators
    found holding it (its name then, exe and arguments from /proc); the
    subshell counted in system_process_others where sock_send_length sees
    its send (not on 6.1: no hook sees a TCP send in process context)."""
    rs = rows(name)
    port = PORT[name] + 400
    f = flow(rs, 6, port)
    check(kv(name + "_fork_backlog") == "1", "%s: %s connections wait in the stopped listener's "
          "accept queue, expected 1" % (name, kv(name + "_fork_backlog")))
    check((kv(name + "_fork_client_rc"), kv(name + "_fork_acked")) == ("0", "0"),
          "%s fork: client exit %s, data and FIN acknowledged: %s" %
          (name, kv(name + "_fork_client_rc"), kv(name + "_fork_acked") == "0"))
    check(f["src_port"] == int(kv(name + "_fork_client_port")) and f["src2dst_packets"] >= 2
          and f["dst2src_packets"] >= 1, "%s fork TCP not oriented client -> server: %r" %
          (name, f))
    check_bytes("%s fork TCP" % name, [f], *lo_delta(name + "_lo_fork_start",
                                                     name + "_lo_fork_end"))
    cli = (int(kv(name + "_fork_client_pid")), kv(name + "_fork_client_comm"))
    others = 1 if tracefs_has("sock/sock_send_length") else 0
    want = cli + ("preexisting", kv(name + "_fork_client_exe"),
                  kv(name + "_fork_client_cmdline").strip(), 1, "root", others)
    check(cli[1] == "fork.sh" and want[3:5] == ("/bin/busybox", "/bin/sh /tmp/fork.sh"),
          "the guest's client: %r" % (want,))
    check(owner(f) == want, "%s fork TCP: got %r, expected %r" % (name, owner(f), want))


@case("fork_ebpf")
def _fork_ebpf():
    check_fork("attr_ebpf")


@case("fork_pcap")
def _fork_pcap():
    check_fork("attr_pcap")


def bpf_programs():
    """{program: section} of flowsight's BPF objects (build/*.bpf.o): the
    global functions of their program sections."""
    progs = {}
    for obj in BPF_OBJS:
        path = os.path.join(BUILD, obj)
        check(os.path.exists(path), "%s not built" % path)
        secs = {}
        out = subprocess.run(["readelf", "-SW", path], stdout=subprocess.PIPE, check=True,
                             universal_newlines=True).stdout
        for m in re.finditer(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+PROGBITS\s", out, re.M):
            secs[m.group(1)] = m.group(2)
        out = subprocess.run(["readelf", "-sW", path], stdout=subprocess.PIPE, check=True,
                             universal_newlines=True).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) == 8 and f[3] == "FUNC" and f[4] == "GLOBAL" and f[6] in secs and \
                    secs[f[6]] != ".text":
                progs[f[7]] = secs[f[6]]
    check(progs, "no BPF programs found in %s" % ", ".join(BPF_OBJS))
    return progs


# tp_btf hooks of agent/attr/attr_bpf.c and the tracefs event each one needs
TP_HOOKS = {
    "tp_btf/sock_send_length": "sock/sock_send_length",
    "tp_btf/sock_recv_length": "sock/sock_recv_length",
    "tp_btf/sched_process_exec": "sched/sched_process_exec",
    "tp_btf/sched_process_fork": "sched/sched_process_fork",
    "tp_btf/sched_process_exit": "sched/sched_process_exit",
}


def refusals(name):
    """{program: the verifier's last words} for each program libbpf says
    the kernel refused in run NAME (its load log, as libbpf prints it)."""
    out, cur, log = {}, None, []
    for l in stderr(name):
        m = re.match(r"libbpf: prog '([^']+)': -- BEGIN PROG LOAD LOG --", l)
        if m:
            cur, log = m.group(1), []
        elif cur and "-- END PROG LOAD LOG --" in l:
            out[cur] = " / ".join(log[-2:])
            cur = None
        elif cur:
            log.append(l.strip())
        else:
            m = re.match(r"libbpf: prog '([^']+)': (BPF program load failed|failed to load)", l)
            if m:
                out.setdefault(m.group(1), l.strip())
    return out


@case("probe")
def _probe():
    # information first, whatever fails below: how close each program is to
    # the verifier's limit (1,000,000 instructions) on this kernel
    cost = sorted((int(v), k[len("verified_"):]) for k, v in GUEST["kv"].items()
                  if k.startswith("verified_"))
    print("INFO kernel-%s: verified instructions: %s" %
          (SERIES, ", ".join("%s %d" % (n, v) for v, n in reversed(cost))), flush=True)
    refused = {}
    for name in ("ebpf", "attr_ebpf", "attr_pcap"):
        for prog, why in refusals(name).items():
            refused.setdefault(prog, why)
    check(not refused, "programs refused on %s: %s" % (
        kv("kernel"), "; ".join("%s: %s" % i for i in sorted(refused.items()))))
    check("/sys/kernel/btf/vmlinux" in GUEST["kv"].get("exists", []), "guest has no BTF")
    bad = [l for l in stderr("ebpf") if l.startswith("flowsight: cannot") or "failed to load" in l]
    check(not bad, "ebpf capture: %s" % bad)
    progs = bpf_programs()
    tp = {s for s in progs.values() if s.startswith("tp_btf/")}
    check(tp <= set(TP_HOOKS), "tp_btf programs %r without their tracefs event in TP_HOOKS" %
          sorted(tp - set(TP_HOOKS)))
    # the hooks a kernel may lack, and the reason agent/attr/attr_bpf.c then gives
    lacking = {h: "the kernel has no such tracepoint" for h, ev in TP_HOOKS.items()
               if not tracefs_has(ev)}
    for name in ("attr_ebpf", "attr_pcap"):
        err = stderr(name)
        bad = [l for l in err if "attribution:" in l and
               ("cannot" in l or "refused" in l or "attach failed" in l)]
        check(not bad, "%s: %s" % (name, bad))
        unavailable = {}
        for l in err:
            if " unavailable (" in l:
                hook = l.split("hook ", 1)[1].split(" unavailable", 1)[0]
                unavailable[hook] = l.split(" unavailable (", 1)[1].split(")", 1)[0]
        check(unavailable == lacking, "%s: hooks reported missing %r, tracefs lacks %r" %
              (name, unavailable, sorted(lacking)))
        lost = [l for l in err if "socket events," in l]
        check(lost and " 0 lost or unrecorded" in lost[0], "%s: %r" % (name, lost))
    # every program the kernel has the hook for is loaded: the egress
    # program whose helpers this kernel has, the rest less the missing hooks
    cookie = kv("accel_netns_cookie_cgroup_skb")
    check(cookie in ("0", "1"), "netns cookie probe: %r" % cookie)
    unused = "fs_egress_compat" if cookie == "1" else "fs_egress"
    want = {p for p, s in progs.items() if s not in lacking and p != unused}
    loaded = {k[len("verified_"):] for k in GUEST["kv"] if k.startswith("verified_")}
    want_names = {p[:PROG_NAME_LEN] for p in want}
    check(loaded == want_names, "programs on %s: not loaded %s, loaded unexpectedly %s "
          "(loaded: %s)" % (kv("kernel"), sorted(want_names - loaded), sorted(loaded - want_names),
                            sorted(loaded)))
    # the hooks attached: the loaded attribution programs but the start-up
    # iterators (run once, not attached); the TC programs are the capture's
    hooks = {p for p in want if progs[p] != "tc" and not progs[p].startswith("iter/")}
    for name in ("attr_ebpf", "attr_pcap"):
        attached = [l for l in stderr(name) if "hooks attached" in l]
        check(len(attached) == 1 and
              int(attached[0].split("attribution: ")[1].split()[0]) == len(hooks),
              "%s: %r, expected %d hooks attached" % (name, attached, len(hooks)))


# the sections of programs an accelerator would be
ACCEL_SECTIONS = ("kprobe/", "kretprobe/", "kprobe.multi/", "kretprobe.multi/", "fentry/",
                  "fexit/", "fmod_ret/")


@case("accelerators")
def _accelerators():
    """What the kernel offers an optional accelerator: the guest attached a
    kprobe, a multi-kprobe and an fentry program to a kernel function (each
    available as the kernel's config says); flowsight has no such program,
    so there is nothing of its own to exercise."""
    fn = kv("accel_function")
    got = {k: kv("accel_" + k) for k in ("kprobe", "kprobe_multi", "fentry")}
    print("INFO kernel-%s: accelerators: %s attach to %s; flowsight has none" %
          (SERIES, ", ".join("%s %s" % (k, "yes" if v == "ok" else "no (%s)" % v)
                            for k, v in got.items()), fn), flush=True)
    if not SERIAL_LOG:
        cfg = {}
        with open(os.path.join(os.path.dirname(IMAGE["KERNEL"]), "config-" + IMAGE["KVER"])) as f:
            for line in f:
                k, eq, v = line.strip().partition("=")
                if eq:
                    cfg[k] = v
        y = lambda *opts: all(cfg.get(o) == "y" for o in opts)  # noqa: E731
        want = {"kprobe": y("CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"),
                "kprobe_multi": y("CONFIG_FPROBE"),
                "fentry": y("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS", "CONFIG_DEBUG_INFO_BTF")}
        for k, v in want.items():
            check((got[k] == "ok") == v, "%s: the guest says %r, the config %s" %
                  (k, got[k], "has it" if v else "has not"))
    accel = sorted(p for p, s in bpf_programs().items() if s.startswith(ACCEL_SECTIONS))
    check(not accel, "flowsight now has accelerators %r: exercise them here" % accel)


if __name__ == "__main__":
    sys.exit(SUITE.main(why_skip, setup, cleanup))
