#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""flowsight as a service (issue 16, parts 3-5).

- configuration files (--config): both spellings, comments, quotes, the
  command line overriding them, every refusal on one line naming the file
  and the line, exit 2; --check-config;
- secrets: ClickHouse credentials refused on the command line, a file that
  holds a password refused when others can read it, the environment;
- diagnostics: syslog priorities when stderr is the journal's stream,
  --log-level;
- metrics (--metrics-listen): an offline run held on a FIFO is scraped
  before its end (exact counters, promtool check metrics, the exit
  summary's numbers), 404/405, malformed and oversized requests, a flood of
  connections (no thread per connection), IPv6; the real Debian prometheus
  scraping it every second (its HTTP API queried for the series);
- live (root, private namespaces): 5 pings with --capture pcap and ebpf,
  scraped, equal the exit summary;
- SIGHUP: the output renamed, SIGHUP, more flows: every flow in one of the
  two files exactly once;
- packaging (root): the man page, `systemd-analyze verify`, `make deb`,
  dpkg -i, the unit started by a real systemd (booted with systemd-nspawn
  on an overlay of this machine's root, with its own network namespace: a
  veth end there, its peer in a namespace of the test) capturing pings
  with eBPF and process attribution under the unit's hardening, reloaded
  (SIGHUP) after a rename, stopped cleanly; dpkg --purge leaves nothing.
Cases that need what is missing here (root, ip netns, prometheus,
systemd-nspawn) are skipped with the reason.
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "live"))
from harness import Skip, Suite, check, del_netns, nsexec, sh, stop_procs  # noqa: E402

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
MKPCAP = os.path.abspath(os.environ.get("MKPCAP", "build/mkpcap"))
BUILD = os.environ.get("BUILD", "build")
TMP = tempfile.mkdtemp(prefix="fs-svc-")
PFX = "fss-%d" % os.getpid()
NS_A, NS_B = PFX + "-a", PFX + "-b"
T_A, T_B = PFX + "-ta", PFX + "-tb"
IP_A, IP_B = "10.204.0.1", "10.204.0.2"
PROCS = []
STATE = {"netns": False, "installed": False, "container": None}


def stop_all():
    stop_procs(PROCS)


SUITE = Suite("service", stop_all)
case = SUITE.case


def is_root():
    return os.geteuid() == 0


def run(args, env=None, timeout=60, **kw):
    e = dict(os.environ)
    for k in ("FLOWSIGHT_CLICKHOUSE_USER", "FLOWSIGHT_CLICKHOUSE_PASSWORD", "JOURNAL_STREAM"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                          timeout=timeout, **kw)


def one_line(p):
    lines = p.stderr.decode().strip().splitlines()
    check(len(lines) == 1, "expected one stderr line, got %r" % lines)
    return lines[0]


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mkpcap(scenario):
    path = os.path.join(TMP, scenario + ".pcap")
    if not os.path.exists(path):
        sh(MKPCAP, scenario, path)
    return path


# ---- pcap writer for crafted UDP flows (offline SIGHUP test) ----

def pcap_header():
    return struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)


def udp_record(sport, t_us):
    payload = bytes(22)
    udp = struct.pack("!HHHH", sport, 53, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    frame = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + udp
    return struct.pack("<IIII", t_us // 1000000, t_us % 1000000, len(frame), len(frame)) + frame


# ---- metrics: scraping and parsing the text format ----

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...)): float}, with every # TYPE checked."""
    out, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        check(m, "bad sample line %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        check(m.group(1) in types, "%s has no # TYPE" % m.group(1))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(ms, name, **labels):
    """The one sample of @name whose labels include @labels."""
    got = [v for (n, ls), v in ms.items() if n == name and set(labels.items()) <= set(ls)]
    check(len(got) == 1, "%s%r: %d samples in %r" % (name, labels, len(got),
                                                      [k for k in ms if k[0] == name]))
    return got[0]


def total(ms, name, **labels):
    return sum(v for (n, ls), v in ms.items() if n == name and set(labels.items()) <= set(ls))


def http(url, method="GET", timeout=5):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(url, ns=None):
    if ns:
        p = sh(*nsexec(ns, "curl", "-sf", "-m", "5", url))
        return parse_metrics(p.stdout.decode())
    status, _, body = http(url)
    check(status == 200, "scrape %s: %d" % (url, status))
    return parse_metrics(body)


def wait_for(what, fn, timeout=20):
    """Poll @fn until it returns a true value (the deadline is a failure,
    never a result)."""
    deadline = time.time() + timeout
    while True:
        try:
            v = fn()
            if v:
                return v
        except (OSError, AssertionError, subprocess.SubprocessError):
            pass
        check(time.time() < deadline, "%s: not within %d s" % (what, timeout))
        time.sleep(0.1)


class Reader:
    """stderr of @proc collected by a thread."""

    def __init__(self, proc):
        self.proc, self.lines = proc, []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def join(self):
        self.t.join(timeout=10)
        return self.lines


class FifoRun:
    """flowsight reading a FIFO the test writes to: it blocks, metered, while
    the FIFO stays open, so it is scraped before its end."""
    n = 0

    def __init__(self, args):
        FifoRun.n += 1
        self.fifo = os.path.join(TMP, "in.%d.fifo" % FifoRun.n)
        os.mkfifo(self.fifo)
        self.proc = subprocess.Popen([FS, "-r", self.fifo] + args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        PROCS.append(self.proc)
        self.err = Reader(self.proc)
        self.w = open(self.fifo, "wb", buffering=0)  # flowsight opened it

    def send(self, data):
        self.w.write(data)

    def end(self):
        self.w.close()
        rc = self.proc.wait(timeout=30)
        return rc, self.err.join()


def summary_offline(lines):
    """flowsight: N packets: N processed, N ignored; N flows exported"""
    for l in lines:
        m = re.search(r"(\d+) packets: (\d+) processed, (\d+) ignored; (\d+) flows exported", l)
        if m:
            return [int(x) for x in m.groups()]
    raise AssertionError("no summary line in %r" % lines)


def summary_live(lines):
    for l in lines:
        m = re.search(r"capture ended: (\d+) packets metered, (\d+) ignored; kernel: (\d+) "
                      r"received, (\d+) dropped, (\d+) dropped by the interface; (\d+) flows "
                      r"exported", l)
        if m:
            return [int(x) for x in m.groups()]
    raise AssertionError("no 'capture ended' line in %r" % lines)


# ---------------------------------------------------------------- config

@case("config_file")
def _():
    pcap = mkpcap("eth_non_ip_ignored")
    conf = write(os.path.join(TMP, "a.conf"), "\n".join([
        "# a comment",
        "   # an indented comment",
        "",
        "read %s" % pcap,
        "idle-timeout=60",
        "active-timeout = 600   # after a blank: a comment",
        "statistical-analysis",
        "output \"%s/x #1.jsonl\"" % TMP,
        "format jsonl",
        "log-level info",
        "splt-analysis 4\r",
    ]) + "\n")
    p = run([FS, "--config", conf, "--check-config", "--active-timeout", "30"])
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr.decode()))
    got = [l for l in p.stdout.decode().splitlines() if not l.startswith("#")]
    want = [
        "read %s  # %s:4" % (pcap, conf),
        "idle-timeout 60  # %s:5" % conf,
        "statistical-analysis  # %s:7" % conf,
        "output \"%s/x #1.jsonl\"  # %s:8" % (TMP, conf),
        "format jsonl  # %s:9" % conf,
        "log-level info  # %s:10" % conf,
        "splt-analysis 4  # %s:11" % conf,
        "active-timeout 30  # command line",
    ]
    check(got == want, "--check-config printed %r, expected %r" % (got, want))
    # the command line's sources replace the file's
    p = run([FS, "--config", conf, "--check-config", "-r", "/x.pcap", "-r", "/y.pcap"])
    got = [l for l in p.stdout.decode().splitlines() if l.startswith("read ")]
    check(got == ["read /x.pcap  # command line", "read /y.pcap  # command line"], got)
    # and the file alone runs: JSON lines with 4 SPLT entries, the summary at info
    out = os.path.join(TMP, "a.jsonl")
    p = run([FS, "--config", conf, "-o", out])
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr.decode()))
    rows = [json.loads(l) for l in open(out)]
    check(len(rows) == 2 and all(len(json.loads(r["splt_ps"]) if isinstance(r["splt_ps"], str)
                                     else r["splt_ps"]) == 4 for r in rows), rows)
    check(summary_offline(p.stderr.decode().splitlines()) == [8, 2, 6, 2], p.stderr.decode())


BAD_CONFIGS = [
    ("bogus 1", 2, "unknown option 'bogus'"),
    ("idle-timeout -1", 2, "Please specify a valid idle_timeout parameter (positive integer in "
     "seconds)."),
    ("format xml", 2, "Please specify a valid format parameter (possible values: csv, jsonl, none)."),
    ("config /etc/other.conf", 2, "'config' is a command-line option: not allowed in a "
     "configuration file"),
    ("help", 2, "'help' is a command-line option: not allowed in a configuration file"),
    ("output", 2, "option 'output' needs a value"),
    ("bpf-filter \"udp", 2, "unterminated quote in the value of 'bpf-filter'"),
    ("bpf-filter \"udp\" tcp", 2, "unterminated quote in the value of 'bpf-filter'"),
    ("metrics-listen ::1:80", 2, "invalid value '::1:80' for --metrics-listen: expected PORT, "
     "ADDR:PORT or [IPV6]:PORT (port 1-65535)"),
    ("log-level loud", 2, "invalid value 'loud' for --log-level"),
]


@case("config_refusals_name_file_and_line")
def _():
    pcap = mkpcap("eth_non_ip_ignored")
    for bad, lineno, msg in BAD_CONFIGS:
        conf = write(os.path.join(TMP, "bad.conf"), "read %s\n%s\n" % (pcap, bad))
        out = os.path.join(TMP, "never.csv")
        p = run([FS, "--config", conf, "-o", out])
        check(p.returncode == 2, "%r: exit %d" % (bad, p.returncode))
        want = "flowsight: %s:%d: %s" % (conf, lineno, msg)
        check(one_line(p) == want, "%r: %r, expected %r" % (bad, one_line(p), want))
        check(not os.path.exists(out), "%r: output created" % bad)
    for path, why in (("/nonexistent/flowsight.conf", "No such file or directory"),
                      (TMP, "Is a directory")):
        p = run([FS, "--config", path, "-r", pcap])
        check(p.returncode == 2 and one_line(p) == "flowsight: cannot read configuration file "
              "'%s': %s" % (path, why), "%s: exit %d %r" % (path, p.returncode, p.stderr))
    if is_root():
        return  # root reads a mode 000 file
    conf = write(os.path.join(TMP, "unreadable.conf"), "read %s\n" % pcap, 0o000)
    p = run([FS, "--config", conf])
    check(p.returncode == 2 and "Permission denied" in one_line(p), p.stderr)


# --------------------------------------------------------------- secrets

@case("secrets_never_on_the_command_line")
def _():
    pcap = mkpcap("eth_non_ip_ignored")
    for opt, env in (("--clickhouse-password", "FLOWSIGHT_CLICKHOUSE_PASSWORD"),
                     ("--clickhouse-user", "FLOWSIGHT_CLICKHOUSE_USER")):
        for args in ([opt, "s3cret"], [opt + "=s3cret"]):
            p = run([FS, "-r", pcap, "-o", os.path.join(TMP, "never.csv")] + args)
            check(p.returncode == 2, "%r: exit %d" % (args, p.returncode))
            check(one_line(p) == "flowsight: %s is accepted only in a configuration file "
                  "(--config) or $%s: a command line is visible to every user in "
                  "/proc/PID/cmdline" % (opt, env), one_line(p))
            check("s3cret" not in p.stderr.decode(), "the secret was echoed")


@case("secrets_file_readable_by_others_refused")
def _():
    pcap = mkpcap("eth_non_ip_ignored")
    text = "read %s\nclickhouse-user bob\nclickhouse-password \"p#ss \\\"w\\\"\"\n" % pcap
    conf = os.path.join(TMP, "secret.conf")
    # others may read: refused, one line, exit 2, whatever the group
    for mode, gid in ((0o644, 0), (0o604, 0), (0o640, 65534), (0o660, 65534)):
        write(conf, text, mode)
        if is_root():
            os.chown(conf, 0, gid)
        elif gid:
            continue
        p = run([FS, "--config", conf, "--check-config"])
        check(p.returncode == 2, "mode %o gid %d: exit %d" % (mode, gid, p.returncode))
        check(one_line(p) == "flowsight: %s: holds clickhouse-password but others can read "
              "it (mode %04o, group %d): chmod 600 it, or leave it to group root"
              % (conf, mode, gid), one_line(p))
    # the owner alone, or group root: accepted, the password never printed
    for mode, gid in ((0o600, 0), (0o640, 0), (0o400, 0)):
        write(conf, text, mode)
        if is_root():
            os.chown(conf, 0, gid)
        p = run([FS, "--config", conf, "--check-config"])
        check(p.returncode == 0, "mode %o: exit %d %s" % (mode, p.returncode, p.stderr))
        lines = p.stdout.decode().splitlines()
        check("clickhouse-user bob  # %s:2" % conf in lines, lines)
        check("clickhouse-password \"********\"  # %s:3" % conf in lines, lines)
        check("p#ss" not in p.stdout.decode(), "the password was printed")
    # a user alone is no secret: any mode
    write(conf, "read %s\nclickhouse-user bob\n" % pcap, 0o644)
    check(run([FS, "--config", conf, "--check-config"]).returncode == 0, "user only refused")
    # the environment, when the file has none
    p = run([FS, "-r", pcap, "--check-config"],
            env={"FLOWSIGHT_CLICKHOUSE_PASSWORD": "x", "FLOWSIGHT_CLICKHOUSE_USER": "y"})
    lines = p.stdout.decode().splitlines()
    check("# clickhouse-password from $FLOWSIGHT_CLICKHOUSE_PASSWORD" in lines and
          "# clickhouse-user from $FLOWSIGHT_CLICKHOUSE_USER" in lines, lines)


# ----------------------------------------------------------- diagnostics

@case("journal_priorities_and_log_level")
def _():
    pcap = mkpcap("eth_non_ip_ignored")
    errf = os.path.join(TMP, "stderr.txt")

    def with_journal(args, env_matches=True):
        with open(errf, "wb") as f:
            st = os.fstat(f.fileno())
            js = "%d:%d" % (st.st_dev, st.st_ino + (0 if env_matches else 1))
            e = dict(os.environ, JOURNAL_STREAM=js)
            rc = subprocess.run([FS] + args, stdout=subprocess.DEVNULL, stderr=f, env=e,
                                timeout=60).returncode
        return rc, open(errf).read().splitlines()

    rc, lines = with_journal(["--bogus"])
    check(rc == 2 and lines == ["<3>unknown option '--bogus'",
                                "<3>Try 'flowsight --help' for more information."], lines)
    rc, lines = with_journal(["-r", os.path.join(TMP, "missing.pcap")])
    check(rc == 1 and len(lines) == 1 and lines[0].startswith("<4>") and "missing.pcap" in
          lines[0], lines)
    rc, lines = with_journal(["-r", pcap, "-o", "/dev/null", "--log-level", "info"])
    check(rc == 0 and "<6>8 packets: 2 processed, 6 ignored; 2 flows exported" in lines, lines)
    rc, lines = with_journal(["-r", pcap, "-o", "/dev/null"])
    check(rc == 0 and lines == [], "warning level shows no information: %r" % lines)
    rc, lines = with_journal(["-r", pcap, "-o", "/dev/null", "--log-level", "debug"])
    check("<7>  ignored, not IPv4/IPv6: 4" in lines, lines)
    # stderr elsewhere than the journal's stream: plain lines
    rc, lines = with_journal(["--bogus"], env_matches=False)
    check(lines[0] == "flowsight: unknown option '--bogus'", lines)


# --------------------------------------------------------------- metrics

@case("metrics_offline_scraped_before_the_end")
def _():
    port = free_port()
    url = "http://127.0.0.1:%d/metrics" % port
    run_ = FifoRun(["-o", os.path.join(TMP, "m.csv"), "--metrics-listen", str(port), "-v"])
    with open(mkpcap("eth_non_ip_ignored"), "rb") as f:
        run_.send(f.read())
    # all 8 packets read, the reader blocked on the FIFO: the counters are final
    ms = wait_for("8 packets scraped",
                  lambda: (lambda m: m if value(m, "flowsight_packets_received_total") == 8
                           else None)(scrape(url)))
    status, headers, body = http(url)
    check(status == 200 and headers["Content-Type"] ==
          "text/plain; version=0.0.4; charset=utf-8", (status, headers))
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        check(p.returncode == 0 and not p.stdout.strip(),
              "promtool check metrics: %s" % p.stdout.decode())
    check(value(ms, "flowsight_build_info", capture="file", attribution="false",
                version=run([FS, "-V"]).stdout.decode().split()[1]) == 1, "build_info")
    expect = {("flowsight_packets_metered_total", ()): 2,
              ("flowsight_flows_active", ()): 2, ("flowsight_flows_exported_total", ()): 0,
              ("flowsight_export_queue_flows", ()): 0}
    for (name, _), v in expect.items():
        check(value(ms, name) == v, "%s = %s, expected %s" % (name, value(ms, name), v))
    reasons = {dict(ls)["reason"]: v for (n, ls), v in ms.items()
               if n == "flowsight_packets_ignored_total"}
    check(reasons == {"too_short": 1, "linktype": 0, "l2": 1, "not_ip": 4, "ip_trunc": 0,
                      "fragment": 0, "ipv6_ext": 0, "tunnel": 0}, reasons)
    # HEAD, other paths and methods
    check(http(url, "HEAD")[0] == 200, "HEAD")
    for path, method, code in (("/", "GET", 404), ("/metricsx", "GET", 404),
                               ("/metrics", "POST", 405), ("/metrics", "DELETE", 405)):
        got = http("http://127.0.0.1:%d%s" % (port, path), method)
        check(got[0] == code, "%s %s: %d, expected %d" % (method, path, got[0], code))
        if code == 405:
            check(got[1].get("Allow") == "GET, HEAD", got[1])
    rc, lines = run_.end()
    check(rc == 0, "exit %d: %r" % (rc, lines))
    packets, processed, ignored, flows = summary_offline(lines)
    check([packets, processed, ignored, flows] ==
          [value(ms, "flowsight_packets_received_total"),
           value(ms, "flowsight_packets_metered_total"),
           total(ms, "flowsight_packets_ignored_total"),
           value(ms, "flowsight_flows_active") + value(ms, "flowsight_flows_exported_total")],
          "summary %r against the scrape" % lines)


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


@case("metrics_endpoint_survives_floods_and_garbage")
def _():
    port = free_port(socket.AF_INET6, "::1")
    url = "http://[::1]:%d/metrics" % port
    run_ = FifoRun(["-o", os.path.join(TMP, "f.csv"), "--metrics-listen", "[::1]:%d" % port])
    with open(mkpcap("eth_non_ip_ignored"), "rb") as f:
        run_.send(f.read())
    wait_for("IPv6 scrape", lambda: value(scrape(url), "flowsight_packets_received_total") == 8)
    before = threads(run_.proc.pid)
    socks, refused = [], 0
    for _ in range(200):  # at most 200 connections, each waiting up to 1 s
        s = socket.socket(socket.AF_INET6)
        s.settimeout(1)
        try:
            s.connect(("::1", port))
            socks.append(s)
        except OSError:
            s.close()
            refused += 1
            break  # the server's limit and the backlog are full: bounded
    during = threads(run_.proc.pid)
    check(len(socks) >= 32, "only %d connections opened" % len(socks))
    check(during == before, "%d threads during a flood of %d connections, %d before"
          % (during, len(socks), before))
    for s in socks:
        s.close()
    # malformed and oversized requests, then a good scrape
    for payload in (b"GARBAGE\r\n\r\n", b"GET /metrics HTTP/9.9\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
                    b"\x00\xff" * 5000, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"):
        s = socket.create_connection(("::1", port), timeout=5)
        try:
            s.sendall(payload)
            s.recv(4096)
        except OSError:
            pass
        s.close()
    wait_for("a scrape after the flood",
             lambda: value(scrape(url), "flowsight_packets_received_total") == 8, timeout=30)
    check(run_.proc.poll() is None, "flowsight ended")
    rc, lines = run_.end()
    check(rc == 0, "exit %d: %r" % (rc, lines))


@case("prometheus_scrapes_the_endpoint")
def _():
    if not shutil.which("prometheus"):
        raise Skip("prometheus not installed (Debian package prometheus; make deps)")
    port, pport = free_port(), free_port()
    run_ = FifoRun(["-o", os.path.join(TMP, "p.csv"), "--metrics-listen", str(port)])
    with open(mkpcap("eth_non_ip_ignored"), "rb") as f:
        run_.send(f.read())
    wait_for("metrics up", lambda: scrape("http://127.0.0.1:%d/metrics" % port))
    pdir = os.path.join(TMP, "prometheus")
    os.makedirs(pdir, exist_ok=True)
    cfg = write(os.path.join(pdir, "prometheus.yml"),
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: flowsight\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % port)
    prom = subprocess.Popen(["prometheus", "--config.file=" + cfg,
                             "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                             "--web.listen-address=127.0.0.1:%d" % pport],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=pdir)
    PROCS.append(prom)
    api = "http://127.0.0.1:%d/api/v1/query?query=" % pport

    def query(q):
        status, _, body = http(api + urllib.request.quote(q))
        check(status == 200, "prometheus: %d %s" % (status, body))  # 503 while it starts
        r = json.loads(body)
        check(r["status"] == "success", body)
        return r["data"]["result"]

    res = wait_for("prometheus has scraped flowsight",
                   lambda: query("flowsight_packets_received_total"), timeout=60)
    check(len(res) == 1 and res[0]["value"][1] == "8" and
          res[0]["metric"]["job"] == "flowsight", res)
    res = query('flowsight_packets_ignored_total{reason="not_ip"}')
    check(len(res) == 1 and res[0]["value"][1] == "4", res)
    res = query('flowsight_build_info{capture="file"}')
    check(len(res) == 1 and res[0]["value"][1] == "1", res)
    res = query('up{job="flowsight"}')
    check(len(res) == 1 and res[0]["value"][1] == "1", res)
    prom.terminate()
    prom.wait(timeout=30)
    rc, lines = run_.end()
    check(rc == 0, "exit %d: %r" % (rc, lines))


# ---------------------------------------------------------------- SIGHUP

@case("sighup_reopens_the_output_no_flow_lost_or_twice")
def _():
    out = os.path.join(TMP, "rot.csv")
    run_ = FifoRun(["-o", out, "--idle-timeout", "1", "--n-dissections", "0",
                    "--metrics-listen", str(free_port())])
    # 30 flows at t = 1 s, then one at 5 s: the 30 expire and are written
    run_.send(pcap_header() + b"".join(udp_record(1000 + i, 1_000_000 + i) for i in range(30)))
    run_.send(udp_record(2000, 5_000_000))

    def rows(path):
        with open(path) as f:
            return f.read().splitlines()

    wait_for("30 flows written", lambda: len(rows(out)) == 31)
    os.rename(out, out + ".1")
    run_.proc.send_signal(signal.SIGHUP)
    # 30 more at t = 10 s (the one at 5 s expires), then the end
    run_.send(b"".join(udp_record(3000 + i, 10_000_000 + i) for i in range(30)))
    rc, lines = run_.end()
    check(rc == 0, "exit %d: %r" % (rc, lines))
    old, new = rows(out + ".1"), rows(out)
    check(old[0] == new[0] and old[0].startswith("id,expiration_id,"), "headers %r %r"
          % (old[0], new[0]))
    ids = [int(r.split(",")[0]) for r in old[1:] + new[1:]]
    check(len(old) == 31 and len(new) == 32, "%d and %d rows" % (len(old) - 1, len(new) - 1))
    check(sorted(ids) == list(range(61)), "ids %r" % sorted(ids))
    ports = sorted(int(r.split(",")[5]) for r in old[1:] + new[1:])
    check(ports == sorted(list(range(1000, 1030)) + [2000] + list(range(3000, 3030))), ports)


# ------------------------------------------------------------------ live

def netns_reason():
    if not is_root():
        return "needs root (network namespaces)"
    for tool in ("ip", "ping", "curl"):
        if not shutil.which(tool):
            return "%s not installed (make deps)" % tool
    p = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        return "'ip netns' unavailable: %s" % p.stderr.decode().strip()
    return None


def mac(ns, dev):
    return json.loads(sh("ip", "-j", "-n", ns, "link", "show", dev).stdout)[0]["address"]


def setup_netns():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for k in ("all", "default"):
            sh(*nsexec(ns, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % k))
    STATE["netns"] = True
    sh("ip", "-n", NS_A, "link", "add", T_A, "type", "veth", "peer", "name", T_B, "netns", NS_B)
    for ns, i, ip in ((NS_A, T_A, IP_A), (NS_B, T_B, IP_B)):
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", i)
        sh("ip", "-n", ns, "link", "set", i, "up")
    # static neighbours: no ARP, the pings are the only packets
    sh("ip", "-n", NS_A, "neigh", "replace", IP_B, "lladdr", mac(NS_B, T_B), "dev", T_A,
       "nud", "permanent")
    sh("ip", "-n", NS_B, "neigh", "replace", IP_A, "lladdr", mac(NS_A, T_A), "dev", T_B,
       "nud", "permanent")


def live_metrics_equal_summary(capture):
    reason = netns_reason()
    if reason:
        raise Skip(reason)
    if not STATE["netns"]:
        setup_netns()
    port = free_port()
    url = "http://127.0.0.1:%d/metrics" % port
    out = os.path.join(TMP, "live-%s.jsonl" % capture)
    proc = subprocess.Popen(nsexec(NS_A, FS, "-i", T_A, "--capture", capture, "-F", "jsonl",
                                   "-o", out, "--idle-timeout", "1", "--n-meters", "1",
                                   "--metrics-listen", "127.0.0.1:%d" % port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    PROCS.append(proc)
    err = Reader(proc)
    # the metrics are served once the capture is attached
    wait_for("metrics up (capture attached)", lambda: scrape(url, NS_A))
    sh(*nsexec(NS_B, "ping", "-c", "5", "-i", "0.2", "-W", "5", IP_A))
    ms = wait_for("the ping flow exported and counted",
                  lambda: (lambda m: m if value(m, "flowsight_flows_exported_total") == 1 and
                           value(m, "flowsight_packets_metered_total", interface=T_A) == 10
                           else None)(scrape(url, NS_A)))
    check(value(ms, "flowsight_build_info", capture=capture) == 1, "build_info")
    proc.send_signal(signal.SIGINT)
    check(proc.wait(timeout=30) == 0, "exit %r" % err.join())
    metered, ignored, received, dropped, ifdropped, flows = summary_live(err.join())
    scraped = [value(ms, "flowsight_packets_metered_total", interface=T_A),
               total(ms, "flowsight_packets_ignored_total"),
               total(ms, "flowsight_packets_received_total"),
               total(ms, "flowsight_packets_dropped_total", reason="ring"),
               total(ms, "flowsight_packets_dropped_total", reason="interface"),
               value(ms, "flowsight_flows_exported_total")]
    check([metered, ignored, received, dropped, ifdropped, flows] == scraped,
          "exit summary %r, scraped %r" % ([metered, ignored, received, dropped, ifdropped,
                                            flows], scraped))
    check([metered, ignored, received, flows] == [10, 0, 10, 1],
          "exactly 5 pings: %r" % [metered, ignored, received, flows])
    if capture == "ebpf":
        # each packet metered once: in the kernel, or in userspace from its
        # sample (the flow's first packets, until nDPI needs no more) or
        # meter record (then its first packet of each drain interval)
        kern = {c: value(ms, "flowsight_ebpf_kernel_total", counter=c)
                for c in ("packets", "metered", "samples", "meter_events")}
        check(kern["packets"] == 10 and
              kern["metered"] + kern["samples"] + kern["meter_events"] == 10 and
              kern["samples"] >= 1, "kernel counters %r" % kern)
    else:
        check(value(ms, "flowsight_packets_received_total", interface=T_A) == 10, "per iface")
    rows = [json.loads(l) for l in open(out)]
    check(len(rows) == 1 and rows[0]["src2dst_packets"] == 5 and
          rows[0]["dst2src_packets"] == 5, rows)


@case("live_pcap_metrics_equal_the_exit_summary")
def _():
    live_metrics_equal_summary("pcap")


@case("live_ebpf_metrics_equal_the_exit_summary")
def _():
    live_metrics_equal_summary("ebpf")


# ------------------------------------------------------------- packaging

@case("man_page_from_the_option_table")
def _():
    man = run([FS, "--man"]).stdout.decode()
    help_ = run([FS, "--help"]).stdout.decode()
    for name in re.findall(r"--([a-z0-9-]+)", help_):
        check("\\-\\-" + name.replace("-", "\\-") in man, "--%s missing from --man" % name)
    if not shutil.which("groff"):
        raise Skip("groff not installed (groff-base)")
    p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=man.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    check(p.returncode == 0 and not p.stderr, "groff: %s" % p.stderr.decode())


def unit_text(bindir):
    with open(os.path.join(ROOT, "packaging", "flowsight.service.in")) as f:
        return f.read().replace("@BINDIR@", bindir)


@case("systemd_analyze_verify")
def _():
    if not shutil.which("systemd-analyze"):
        raise Skip("systemd-analyze not installed (package systemd)")
    d = os.path.join(TMP, "unit")
    os.makedirs(d, exist_ok=True)
    path = write(os.path.join(d, "flowsight.service"), unit_text(os.path.dirname(FS)))
    # the man page is checked once installed (dpkg case)
    p = run(["systemd-analyze", "verify", "--man=no", path])
    check(p.returncode == 0 and not p.stdout and not p.stderr,
          "verify: %s%s" % (p.stdout.decode(), p.stderr.decode()))


def deb_reason():
    if not is_root():
        return "needs root (dpkg -i)"
    for tool in ("dpkg", "dpkg-deb", "dpkg-shlibdeps", "make"):
        if not shutil.which(tool):
            return "%s not installed (make deps)" % tool
    if subprocess.run(["dpkg", "-s", "flowsight"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode == 0:
        return "a flowsight package is installed here already: left alone"
    for db in ("passwd", "group"):
        if subprocess.run(["getent", db, "flowsight"], stdout=subprocess.DEVNULL).returncode == 0:
            return "a 'flowsight' %s entry exists here already: left alone" % (
                "user" if db == "passwd" else "group")
    return None


DEB = {}


@case("deb_builds_and_installs")
def _():
    reason = deb_reason()
    if reason:
        raise Skip(reason)
    p = run(["make", "-s", "--no-print-directory", "-C", ROOT, "deb", "BUILD=" + BUILD],
            timeout=600)
    check(p.returncode == 0, "make deb: %s" % p.stderr.decode()[-2000:])
    deb = os.path.join(ROOT, p.stdout.decode().strip().splitlines()[-1])
    check(deb.endswith(".deb") and os.path.exists(deb), "no package: %r" % p.stdout)
    DEB["path"] = deb
    DEB["files"] = ["/" + l.split()[-1].lstrip("./") for l in
                    sh("dpkg-deb", "-c", deb).stdout.decode().splitlines()]
    for f in ("/usr/bin/flowsight", "/usr/lib/libflowsight.so.1.0.0", "/usr/lib/libflowsight.a",
              "/usr/include/flowsight/flowsight.h", "/usr/lib/pkgconfig/flowsight.pc",
              "/usr/lib/systemd/system/flowsight.service", "/etc/flowsight/flowsight.conf",
              "/etc/logrotate.d/flowsight", "/usr/share/man/man8/flowsight.8.gz"):
        check(f in DEB["files"], "%s not in the package" % f)
    if os.path.isdir(os.path.join(ROOT, "python", "flowsight")):
        check("/usr/lib/python3/dist-packages/flowsight/__init__.py" in DEB["files"],
              "the Python package is missing")
    p = run(["dpkg", "-i", deb], timeout=120)
    STATE["installed"] = True
    check(p.returncode == 0, "dpkg -i: %s" % p.stderr.decode())
    check(run(["/usr/bin/flowsight", "--version"]).stdout.decode().startswith("flowsight "),
          "installed command")
    st = os.stat("/var/lib/flowsight")
    check(stat.S_IMODE(st.st_mode) == 0o750 and
          st.st_uid == int(sh("id", "-u", "flowsight").stdout), "state directory")
    if shutil.which("systemd-analyze"):
        p = run(["systemd-analyze", "verify", "/usr/lib/systemd/system/flowsight.service"])
        check(p.returncode == 0 and not p.stdout and not p.stderr,
              "verify (installed, man page included): %s" % p.stderr.decode())
    # a client of the installed library, found by pkg-config
    src = write(os.path.join(TMP, "client.c"), "#include <flowsight/flowsight.h>\n#include "
                "<stdio.h>\nint main(void) { puts(fs_version()); return 0; }\n")
    flags = run(["pkg-config", "--cflags", "--libs", "flowsight"],
                env={"PKG_CONFIG_PATH": "/usr/lib/pkgconfig"}).stdout.decode().split()
    p = run(["cc", src, "-o", os.path.join(TMP, "client")] + flags)
    check(p.returncode == 0, "cc: %s" % p.stderr.decode())
    p = run([os.path.join(TMP, "client")])
    check(p.stdout.decode().strip() == run([FS, "-V"]).stdout.decode().split()[1],
          "client: %r %r" % (p.stdout, p.stderr))


class Container:
    """systemd booted by systemd-nspawn on an overlay of this machine's root
    (a tmpfs takes every write), with its own network namespace."""

    def __init__(self):
        self.dir = os.path.join(TMP, "ct")
        self.root = os.path.join(self.dir, "root")
        os.makedirs(self.dir)
        sh("mount", "-t", "tmpfs", "tmpfs", self.dir)
        for d in ("upper", "work", "root"):
            os.makedirs(os.path.join(self.dir, d))
        sh("mount", "-t", "overlay", "overlay", "-o", "lowerdir=/,upperdir=%s,workdir=%s"
           % (os.path.join(self.dir, "upper"), os.path.join(self.dir, "work")), self.root)
        self.mounted = True
        for e in os.listdir(os.path.join(self.root, "dev")):  # nspawn populates /dev
            p = os.path.join(self.root, "dev", e)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        self.log = open(os.path.join(TMP, "nspawn.log"), "wb")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--private-network", "--register=no",
             "--keep-unit", "--capability=all", "--system-call-filter=bpf perf_event_open",
             "-b", "--machine=" + PFX, "--", "--unit=basic.target"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.leader = wait_for("the container's systemd", self._leader, timeout=30)
        wait_for("the container booted", lambda: self.run(
            "systemctl", "is-system-running", check_rc=False).stdout.decode().strip()
            in ("running", "degraded"), timeout=60)

    def _leader(self):
        check(self.proc.poll() is None, "systemd-nspawn ended: %s"
              % open(self.log.name, errors="replace").read()[-1500:])
        kids = subprocess.run(["pgrep", "-P", str(self.proc.pid)], stdout=subprocess.PIPE)
        return int(kids.stdout.split()[0]) if kids.stdout.split() else None

    def run(self, *args, check_rc=True):
        """@args inside the container (all its namespaces)."""
        return sh("nsenter", "-t", str(self.leader), "-a", *args, check_rc=check_rc)

    def net(self, *args, check_rc=True):
        """@args in the container's network namespace, with this machine's files."""
        return sh("nsenter", "-t", str(self.leader), "-n", *args, check_rc=check_rc)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # nspawn shuts the container down
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.mounted:
            subprocess.run(["umount", self.root])
            subprocess.run(["umount", self.dir])
            self.mounted = False


@case("unit_started_by_systemd_captures_with_ebpf")
def _():
    if not STATE["installed"]:
        raise Skip("the package is not installed (see deb_builds_and_installs)")
    p = subprocess.run(["systemctl", "is-system-running"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    pid1 = open("/proc/1/comm").read().strip()
    if not shutil.which("systemd-nspawn"):
        raise Skip("systemd is not PID 1 here (PID 1 is %s, systemctl: %s) and "
                   "systemd-nspawn (package systemd-container) is not installed to boot one"
                   % (pid1, p.stdout.decode().strip() or "offline"))
    reason = netns_reason()
    if reason:
        raise Skip(reason)
    ct = Container()
    STATE["container"] = ct
    tns = PFX + "-t"
    STATE["tns"] = tns
    sh("ip", "netns", "add", tns)
    ct.net("ip", "link", "add", "fsv0", "type", "veth", "peer", "name", "fsv1", "netns", tns)
    for run_ in (ct.net, lambda *a: sh(*nsexec(tns, *a))):
        for k in ("all", "default"):
            run_("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % k)
    ct.net("ip", "addr", "add", "10.205.0.1/24", "dev", "fsv0")
    ct.net("ip", "link", "set", "fsv0", "up")
    sh("ip", "-n", tns, "addr", "add", "10.205.0.2/24", "dev", "fsv1")
    sh("ip", "-n", tns, "link", "set", "fsv1", "up")
    mac0 = json.loads(ct.net("ip", "-j", "link", "show", "fsv0").stdout)[0]["address"]
    ct.net("ip", "neigh", "replace", "10.205.0.2", "lladdr", mac(tns, "fsv1"), "dev", "fsv0",
           "nud", "permanent")
    sh("ip", "-n", tns, "neigh", "replace", "10.205.0.1", "lladdr", mac0, "dev", "fsv1",
       "nud", "permanent")
    # the service's configuration (in the overlay: this machine's is untouched)
    write(os.path.join(ct.root, "etc/flowsight/flowsight.conf"), "\n".join([
        "interface fsv0", "capture ebpf", "system-visibility-mode 2", "format jsonl",
        "output /var/lib/flowsight/flows.jsonl", "idle-timeout 1",
        "metrics-listen 127.0.0.1:9750", "log-level info"]) + "\n")
    ct.run("systemctl", "start", "flowsight.service")
    url = "http://127.0.0.1:9750/metrics"

    def scrape_ct():
        return parse_metrics(ct.net("curl", "-sf", "-m", "5", url).stdout.decode())

    ms = wait_for("the service's metrics (capture attached)", scrape_ct, timeout=30)
    check(value(ms, "flowsight_build_info", capture="ebpf", attribution="true") == 1,
          "build_info %r" % [k for k in ms if k[0] == "flowsight_build_info"])
    # what systemd gave it, after flowsight's own drop
    pid = ct.run("systemctl", "show", "-p", "MainPID", "--value", "flowsight").stdout.decode()
    status = dict(l.split(":", 1) for l in ct.run("cat", "/proc/%s/status" % pid.strip())
                  .stdout.decode().splitlines() if ":" in l)
    uid = ct.run("id", "-u", "flowsight").stdout.decode().strip()
    got = {k: status[k].split()[0] for k in ("Uid", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                                             "Seccomp")}
    want = {"Uid": uid, "CapEff": "%016x" % (1 << 12), "CapAmb": "0" * 16,
            "CapBnd": "%016x" % ((1 << 12) | (1 << 13) | (1 << 38) | (1 << 39)),
            "NoNewPrivs": "1", "Seccomp": "2"}
    check(got == want, "service process %r, expected %r" % (got, want))
    # 5 pings from the test's namespace: exact counts, the container's kernel replied
    sh(*nsexec(tns, "ping", "-c", "5", "-i", "0.2", "-W", "5", "10.205.0.1"))
    wait_for("first flow exported", lambda: value(scrape_ct(), "flowsight_flows_exported_total")
             == 1)
    state = os.path.join(ct.root, "var/lib/flowsight")
    # logrotate's way: rename, reload (SIGHUP), more traffic: a process of the
    # container pings this time, named by attribution
    os.rename(os.path.join(state, "flows.jsonl"), os.path.join(state, "flows.jsonl.1"))
    ct.run("systemctl", "reload", "flowsight.service")
    ct.run("systemd-run", "--wait", "-q", "--pipe", "ping", "-c", "3", "-i", "0.2", "-W", "5",
           "10.205.0.2")
    wait_for("second flow exported",
             lambda: value(scrape_ct(), "flowsight_flows_exported_total") == 2)
    # exported counts flows handed to the writer; the file has them at the
    # next sync (live: each tick), so wait for the row rather than race it
    wait_for("second flow in the reopened file", lambda: open(
        os.path.join(ct.root, "var/lib/flowsight/flows.jsonl")).read().endswith("\n"))
    ms = scrape_ct()
    check(value(ms, "flowsight_output_reopened_total") == 1, "reopened")
    check(value(ms, "flowsight_attribution_events_total") > 0, "attribution events")
    old = [json.loads(l) for l in open(os.path.join(state, "flows.jsonl.1"))]
    new = [json.loads(l) for l in open(os.path.join(state, "flows.jsonl"))]
    check(len(old) == 1 and len(new) == 1, "flows %r %r" % (old, new))
    got = [(r["id"], r["src_ip"], r["src2dst_packets"], r["dst2src_packets"],
            r["system_process_name"], r["system_attribution"]) for r in old + new]
    check(got == [(0, "10.205.0.2", 5, 5, "", "kernel"), (1, "10.205.0.1", 3, 3, "ping", "send")],
          "flows %r" % got)
    st = os.stat(os.path.join(state, "flows.jsonl"))
    check(st.st_uid == int(uid) and stat.S_IMODE(st.st_mode) == 0o640, "file owner/mode")
    check(value(ms, "flowsight_packets_metered_total", interface="fsv0") == 16 and
          total(ms, "flowsight_packets_ignored_total") == 0, "16 packets, none ignored")
    ct.run("systemctl", "stop", "flowsight.service")
    show = ct.run("systemctl", "show", "-p", "Result", "-p", "ExecMainStatus",
                  "flowsight").stdout.decode().split()
    check(sorted(show) == ["ExecMainStatus=0", "Result=success"], show)
    check(not ct.net("tc", "filter", "show", "dev", "fsv0", "ingress").stdout.strip(),
          "TC filters left on fsv0")
    # the journal has the priorities: the summary a warning, the rest information
    js = [json.loads(l) for l in ct.run("journalctl", "-u", "flowsight", "-o", "json",
                                        "--no-pager").stdout.decode().splitlines()]
    msgs = {j["MESSAGE"]: j["PRIORITY"] for j in js if j.get("_COMM") == "flowsight"}
    ended = [m for m in msgs if m.startswith("capture ended: 16 packets metered, 0 ignored")]
    check(len(ended) == 1 and msgs[ended[0]] == "4", "summary %r" % msgs)
    check(msgs.get("metrics on http://127.0.0.1:9750/metrics") == "6", msgs)
    check(not any(m.startswith("<") for m in msgs), "unparsed priorities %r" % msgs)


@case("deb_purge_leaves_nothing")
def _():
    if not STATE["installed"]:
        raise Skip("the package is not installed (see deb_builds_and_installs)")
    close_container()
    p = run(["dpkg", "--purge", "flowsight"], timeout=120)
    STATE["installed"] = False
    check(p.returncode == 0, "dpkg --purge: %s" % p.stderr.decode())
    check(run(["dpkg", "-s", "flowsight"]).returncode != 0, "still known to dpkg")
    left = [f for f in DEB["files"] + ["/var/lib/flowsight", "/etc/flowsight",
                                       "/usr/lib/flowsight", "/usr/include/flowsight",
                                       "/usr/share/doc/flowsight"]
            if (f.count("flowsight") and os.path.lexists(f))]
    check(not left, "left behind: %r" % left)
    for db in ("passwd", "group"):
        check(run(["getent", db, "flowsight"]).returncode != 0, "%s entry left" % db)


def close_container():
    ct = STATE.get("container")
    if ct:
        ct.close()
        STATE["container"] = None
    if STATE.get("tns"):
        del_netns(STATE.pop("tns"))


def cleanup():
    stop_all()
    close_container()
    if STATE["installed"]:
        subprocess.run(["dpkg", "--purge", "flowsight"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    del_netns(NS_A, NS_B)
    shutil.rmtree(TMP, ignore_errors=True)


def why_skip():
    for path in (FS, MKPCAP):
        if not os.access(path, os.X_OK):
            return "%s not built" % path
    return None


if __name__ == "__main__":
    sys.exit(SUITE.main(why_skip, lambda: None, cleanup, only=sys.argv[1:]))
