#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""flowsight on a second kernel: Debian 12's own 6.1, booted under QEMU.

The agent probes the kernel at start-up (eBPF capture, process attribution
hooks) and must use only what the probe confirmed.  This layer boots the
kernel Debian 12 installs (fetched with apt-get download into build/kernel/,
never installed on the host) with a minimal initramfs (build_image.sh) whose
/init (init.sh) runs flowsight on the guest's lo around a known exchange and
prints everything on the serial console.  Nothing leaves the guest: it has
no network card, the exchange is on its loopback.

Cases, each on the guest's output:
  boot            the guest ran the whole workload on the expected kernel
  ebpf_counts     --capture ebpf: one ICMP flow of 10 packets / 980 bytes
                  (5 busybox pings to 127.0.0.1), one TCP flow whose packets
                  and bytes are exactly what lo carried meanwhile, and a
                  1 MB transfer in lo's 64 KiB frames (packets exact, bytes
                  modulo 65536: NFStream keeps a frame's size in 16 bits)
  pcap_counts     --capture pcap on the same exchange (both ran at once):
                  the same, and per direction the same as ebpf
  attr_ebpf       --system-visibility-mode 2 with ebpf: each flow names the
  attr_pcap       busybox process that made it (pid from $! in the guest)
  probe           the attribution hooks reported missing are exactly the
                  tracepoints tracefs does not list; nothing was refused.
                  Prints (INFO) the verifier's instruction count of each of
                  flowsight's programs on this kernel (the limit: 1,000,000)

Needs root (as the live layers; the image is built under build/kernel),
QEMU (qemu-system-x86_64, TCG: no KVM needed) and the kernel package;
otherwise every case is skipped with the reason.  The VM is killed after VM_TIMEOUT
seconds (default 300) whatever happens; VM_SMP sets its CPUs (default 2).
The serial log is kept in build/kernel/serial.log for a look afterwards.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "live"))
from harness import Suite, check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
FS = os.path.abspath(os.environ.get("FLOWSIGHT", os.path.join(ROOT, "build", "flowsight")))
QEMU = "qemu-system-x86_64"
VM_TIMEOUT = int(os.environ.get("VM_TIMEOUT", "300"))
VM_SMP = os.environ.get("VM_SMP", "2")
# a serial log saved from an earlier boot, checked instead of booting (to
# debug the checks, or to see them fail on an edited log)
SERIAL_LOG = os.environ.get("KERNEL_SERIAL_LOG")
TMP = []
VM = []
IMAGE = {}
GUEST = {"kv": {}, "files": {}, "done": False, "log": ""}
ETH = 14  # lo counts bytes after its (all-zero) Ethernet header is pulled

SUITE = Suite("kernel-6.1", lambda: None)
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
    p = subprocess.run([os.path.join(HERE, "build_image.sh")], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=600)
    err = p.stderr.decode().strip()
    if p.returncode == 3:
        IMAGE["skip"] = err.replace("unavailable: ", "")
        return
    if p.returncode:
        IMAGE["error"] = "build_image.sh: exit %d: %s" % (p.returncode, err)
        return
    for line in p.stdout.decode().splitlines():
        k, _, v = line.partition("=")
        IMAGE[k] = v if os.path.isabs(v) or k == "KVER" else os.path.join(ROOT, v)


def why_skip():
    if os.geteuid() != 0:
        return "needs root (builds the image under build/kernel like the other layers' files)"
    if not shutil.which(QEMU):
        return "%s not found (make deps installs qemu-system-x86)" % QEMU
    if not os.access(FS, os.X_OK):
        return "%s not built" % FS
    build_image()
    return IMAGE.get("skip")


def boot():
    TMP.append(tempfile.mkdtemp(prefix="fs-kernel-"))
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


def flow(rs, proto, port=None):
    got = [r for r in rs if r["protocol"] == proto and (port is None or r["dst_port"] == port)]
    check(len(got) == 1, "%d flows of protocol %d (port %s) in %r" % (len(got), proto, port, rs))
    return got[0]


def check_counts(name, phase):
    """The exchange's flows against lo's own counters over the same time."""
    rs = rows(name)
    start, ping, end = lo(phase + "_lo_start"), lo(phase + "_lo_ping"), lo(phase + "_lo_end")
    port = {"count": 9000, "attr_ebpf": 9001, "attr_pcap": 9002}[phase]
    n = 3 if phase == "count" else 2
    check(len(rs) == n, "%s: %d flows, expected %d (ICMP, TCP, bulk TCP in the first run): %r" %
          (name, len(rs), n, rs))
    icmp = flow(rs, 1)
    # 5 echo requests and 5 replies, all 127.0.0.1 -> 127.0.0.1 with no
    # ports: one direction; 84 IP bytes each (56 bytes of data)
    got = (icmp["bidirectional_packets"], icmp["src2dst_packets"], icmp["dst2src_packets"],
           icmp["bidirectional_bytes"])
    check(got == (10, 10, 0, 980), "%s ICMP packets/src2dst/dst2src/bytes %r" % (name, got))
    check(ping[0] - start[0] == 10 and ping[1] - start[1] == 10 * 84,
          "lo carried %r during the pings" % ((ping[0] - start[0], ping[1] - start[1]),))
    tcp = flow(rs, 6, port)
    pk, by = end[0] - ping[0], end[1] - ping[1]
    got = (tcp["bidirectional_packets"], tcp["bidirectional_bytes"])
    check(got == (pk, by + ETH * pk), "%s TCP packets/bytes %r, lo carried %r" %
          (name, got, (pk, by + ETH * pk)))
    check(tcp["src2dst_packets"] + tcp["dst2src_packets"] == pk and tcp["src2dst_packets"] >= 3
          and tcp["dst2src_packets"] >= 2, "%s TCP directions %r" %
          (name, (tcp["src2dst_packets"], tcp["dst2src_packets"])))
    check(tcp["src_port"] != port and tcp["src_ip"] == tcp["dst_ip"] == "127.0.0.1",
          "%s TCP flow not oriented client -> server: %r" % (name, tcp))
    check(kv(phase + "_server_got") == "hello", "the TCP exchange carried %r" %
          kv(phase + "_server_got"))
    return icmp, tcp


def check_bulk(name):
    """1 MB in one connection: lo's counters again, GSO segments included."""
    rs = rows(name)
    bulk = flow(rs, 6, 9100)
    start, end = lo("count_lo_end"), lo("count_lo_bulk")
    check(kv("count_bulk_client_rc") == "0" and kv("count_bulk_server_rc") == "0",
          "bulk transfer: client exit %s, server exit %s" %
          (kv("count_bulk_client_rc"), kv("count_bulk_server_rc")))
    pk, by = end[0] - start[0], end[1] - start[1]
    check(bulk["bidirectional_packets"] == pk, "%s bulk TCP packets %d, lo carried %d" %
          (name, bulk["bidirectional_packets"], pk))
    # NFStream keeps a frame's size in 16 bits: lo's frames of up to 65550
    # bytes wrap, so the sum is lo's modulo 65536, and smaller
    want = by + ETH * pk
    got = bulk["bidirectional_bytes"]
    check(got % 65536 == want % 65536 and got <= want,
          "%s bulk TCP bytes %d, lo carried %d (mod 65536: %d, %d)" %
          (name, got, want, got % 65536, want % 65536))
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
    check(kv("kernel") == IMAGE["KVER"], "guest kernel %r, expected %r" %
          (kv("kernel"), IMAGE["KVER"]))
    check(kv("kernel").startswith("6.1."), "not a 6.1 kernel: %r" % kv("kernel"))
    for m in ("sch_ingress", "cls_bpf"):
        check(kv("insmod_" + m) == "0", "insmod %s: exit %s" % (m, kv("insmod_" + m)))
    for name in ("ebpf", "pcap", "attr_ebpf", "attr_pcap"):
        check(kv(name + "_ready") == "1", "flowsight (%s) never created its output: %s" %
              (name, tail(name)))


@case("ebpf_counts")
def _ebpf_counts():
    check_counts("ebpf", "count")
    check_bulk("ebpf")
    err = "\n".join(stderr("ebpf"))
    seen = lo("count_lo_bulk")[0] - lo("count_lo_start")[0]
    check("ebpf capture: %d packets seen, %d metered in the kernel" % (seen, seen) in err,
          "the eBPF capture did not report %d packets metered in the kernel: %s" %
          (seen, tail("ebpf")))


@case("pcap_counts")
def _pcap_counts():
    _, tcp = check_counts("pcap", "count")
    _, etcp = check_counts("ebpf", "count")
    bulk, ebulk = check_bulk("pcap"), check_bulk("ebpf")
    for what, p, e in (("TCP", tcp, etcp), ("bulk TCP", bulk, ebulk)):
        for k in ("src_port", "src2dst_packets", "dst2src_packets", "src2dst_bytes",
                  "dst2src_bytes"):
            check(p[k] == e[k], "%s %s: pcap %r, ebpf %r" % (what, k, p[k], e[k]))
    check("flowsight: capture: pcap (requested)" in stderr("pcap"), "pcap: %s" % tail("pcap"))


def check_attr(name):
    icmp, tcp = check_counts(name, name)
    ping = (int(kv(name + "_ping_pid")), kv(name + "_ping_comm"))
    srv = (int(kv(name + "_server_pid")), kv(name + "_server_comm"))
    port = {"attr_ebpf": 9001, "attr_pcap": 9002}[name]
    check(ping[1] == "ping" and srv[1] == "nc", "workload names %r %r" % (ping, srv))
    got = (icmp["system_process_pid"], icmp["system_process_name"],
           icmp["system_attribution"], icmp["system_process_exe"],
           icmp["system_process_cmdline"], icmp["system_process_ppid"],
           icmp["system_process_user"])
    want = ping + ("send", "/bin/ping", "/bin/ping -c 5 127.0.0.1", 1, "root")
    check(got == want, "%s ICMP: got %r, expected %r" % (name, got, want))
    # Both ends of a loopback connection are local: the flow is named by the
    # accepted socket, as on the 6.18 host (tests/live covers peers in
    # another namespace, where the client is named).
    got = (tcp["system_process_pid"], tcp["system_process_name"], tcp["system_attribution"],
           tcp["system_process_cmdline"])
    want = srv + ("accept", "/bin/nc -l -p %d" % port)
    check(got == want, "%s TCP: got %r, expected %r (client pid %s)" %
          (name, got, want, kv(name + "_client_pid")))


@case("attr_ebpf")
def _attr_ebpf():
    check_attr("attr_ebpf")


@case("attr_pcap")
def _attr_pcap():
    check_attr("attr_pcap")


# tp_btf hooks of agent/attr/attr_bpf.c and the tracefs event each one needs
TP_HOOKS = {
    "tp_btf/sock_send_length": "sock/sock_send_length",
    "tp_btf/sock_recv_length": "sock/sock_recv_length",
    "tp_btf/inet_sock_set_state": "sock/inet_sock_set_state",
    "tp_btf/sched_process_exec": "sched/sched_process_exec",
    "tp_btf/sched_process_fork": "sched/sched_process_fork",
    "tp_btf/sched_process_exit": "sched/sched_process_exit",
}


@case("probe")
def _probe():
    missing_tp = {p.rsplit("/events/", 1)[1] for p in GUEST["kv"].get("missing", [])
                  if "/events/" in p}
    check("/sys/kernel/btf/vmlinux" in GUEST["kv"].get("exists", []), "guest has no BTF")
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
        want = {h: "the kernel has no such tracepoint" for h, ev in TP_HOOKS.items()
                if ev in missing_tp}
        check(unavailable == want, "%s: hooks reported missing %r, tracefs lacks %r" %
              (name, unavailable, sorted(missing_tp)))
        attached = [l for l in err if "hooks attached" in l]
        check(len(attached) == 1 and int(attached[0].split("attribution: ")[1].split()[0]) > 0,
              "%s: %r" % (name, attached))
        lost = [l for l in err if "socket events," in l]
        check(lost and " 0 lost or unrecorded" in lost[0], "%s: %r" % (name, lost))
    # information, not a check: how close each program is to the verifier's
    # limit (1,000,000 instructions) on this kernel
    cost = sorted((int(v), k[len("verified_"):]) for k, v in GUEST["kv"].items()
                  if k.startswith("verified_"))
    print("INFO kernel-6.1: verified instructions: %s" %
          ", ".join("%s %d" % (n, v) for v, n in reversed(cost)), flush=True)


if __name__ == "__main__":
    sys.exit(SUITE.main(why_skip, setup, cleanup))
