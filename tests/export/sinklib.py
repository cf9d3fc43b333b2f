# SPDX-License-Identifier: GPL-2.0-only
"""Real collectors for the sink tests and benchmarks, from Debian packages,
on loopback only (or a namespace's loopback): ClickHouse 18.16 with its own
config and data directory, nfdump's nfcapd, a TCP listener that keeps the
byte stream an IPFIX exporter sends, and libfixbuf's ipfixDump to read IPFIX
back."""
import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

CH_SERVER = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, escapechar="\\"))


def missing(*tools):
    """The first tool of @tools not installed, or None."""
    for t in tools:
        if not (shutil.which(t) or os.path.exists(t)):
            return t
    return None


class ClickHouse:
    """A clickhouse-server of its own: config, data, log under @root."""

    def __init__(self, root, http=None, tcp=None, remote=None, netns=None):
        self.root = root
        self.http = http or free_port()
        self.tcp = tcp or free_port()
        self.netns = netns
        self.proc = None
        os.makedirs(root, exist_ok=True)
        shards = ""
        if remote:
            shards = "<remote_servers><fleet>%s</fleet></remote_servers>" % "".join(
                "<shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>" % p
                for p in remote)
        with open(os.path.join(root, "config.xml"), "w") as f:
            f.write("""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>%(r)s/server.log</log><errorlog>%(r)s/err.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <http_port>%(http)d</http_port><tcp_port>%(tcp)d</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>%(r)s/data/</path><tmp_path>%(r)s/tmp/</tmp_path>
  <user_files_path>%(r)s/user_files/</user_files_path>
  <format_schema_path>%(r)s/format_schemas/</format_schema_path>
  <users_config>%(r)s/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <timezone>UTC</timezone>
  %(shards)s
</yandex>
""" % {"r": root, "http": self.http, "tcp": self.tcp, "shards": shards})
        with open(os.path.join(root, "users.xml"), "w") as f:
            f.write("""<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <agent><password>s3cret pass</password><networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile><quota>default</quota></agent>
  </users>
  <quotas><default></default></quotas>
</yandex>
""")

    def start(self, timeout=30):
        cmd = [CH_SERVER, "--config-file=" + os.path.join(self.root, "config.xml")]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.root, "stderr"), "ab"))
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("clickhouse-server exited: %s" % self.tail())
            try:
                if self.query("SELECT 1").strip() == "1":
                    return self
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("clickhouse-server did not answer: %s" % self.tail())

    def tail(self):
        try:
            with open(os.path.join(self.root, "err.log"), errors="replace") as f:
                return f.read()[-400:]
        except OSError:
            return "(no log)"

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self):
        return "http://127.0.0.1:%d/" % self.http

    def query(self, sql):
        if self.netns:
            out = subprocess.run(["ip", "netns", "exec", self.netns, "curl", "-sS", "--fail-with-body",
                                  self.url(), "--data-binary", sql],
                                 capture_output=True, text=True, timeout=60)
            if out.returncode:
                raise RuntimeError(out.stdout + out.stderr)
            return out.stdout
        req = urllib.request.Request(self.url(), data=sql.encode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode()[:300])

    def rows(self, sql):
        return [line.split("\t") for line in self.query(sql + " FORMAT TabSeparated").splitlines()]


class StreamKeeper:
    """A TCP listener on 127.0.0.1 that appends every byte it receives, from
    any number of successive connections, to @path (an IPFIX exporter's
    stream is a valid IPFIX file)."""

    def __init__(self, path, port=None):
        self.path = path
        self.port = port or free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(4)
        self.connections = 0
        self.bytes = 0
        self.stop_flag = False
        self.out = open(path, "ab")
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop_flag:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            c.settimeout(0.2)
            while not self.stop_flag:
                try:
                    b = c.recv(1 << 20)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not b:
                    break
                self.out.write(b)
                self.bytes += len(b)
            c.close()

    def close(self):
        self.stop_flag = True
        self.thread.join()
        self.sock.close()
        self.out.close()


def ipfix_dump(path):
    """Data records of an IPFIX file as dicts {element name: text}, read
    with libfixbuf's ipfixDump (RFC 5610 names applied); type records and
    the message count apart."""
    out = subprocess.run(["ipfixDump", "--rfc5610", "-d", "-i", path], capture_output=True,
                         text=True, errors="replace", timeout=300)
    if out.returncode:
        raise RuntimeError("ipfixDump: " + out.stderr[-300:])
    recs, cur, lst = [], None, None
    field = re.compile(r"^\t\((\S+)\)(?: \(S\))?\s*(\S+) : (.*)$")
    item = re.compile(r"^\t\t\t\d+\s+: (.*)$")
    for line in out.stdout.splitlines():
        if line.startswith("--- data record"):
            cur = {}
            recs.append(cur)
            continue
        m = item.match(line)
        if m and lst is not None:  # a basicList's items: "[a, b]" as in the CSV
            cur[lst] = cur[lst][:-1] + (", " if cur[lst] != "[]" else "") + m.group(1) + "]"
            continue
        m = field.match(line)
        if m:
            lst = None
        if m and cur is not None and m.group(3) == "":
            lst = m.group(2)
            cur[lst] = "[]"
            continue
        if m and cur is not None:
            val = m.group(3)
            sm = re.match(r"^\(len: \d+\) ?(.*)$", val)
            cur[m.group(2)] = sm.group(1) if sm else val
    return [r for r in recs if "flowId" in r], [r for r in recs if "informationElementId" in r]


def ipfix_stats(path):
    """(messages, data records) of an IPFIX file, as ipfixDump counts them."""
    out = subprocess.run(["ipfixDump", "-s", "-i", path], capture_output=True, text=True,
                         errors="replace", timeout=600)
    m = re.search(r"(\d+) Messages, (\d+) Data Records", out.stdout + out.stderr)
    if not m:
        raise RuntimeError("ipfixDump: no statistics: " + (out.stdout + out.stderr)[-300:])
    return int(m.group(1)), int(m.group(2))


def ms_of(text):
    """ipfixDump's 'YYYY-MM-DD HH:MM:SS.mmm' (UTC) as epoch milliseconds."""
    import calendar
    d, t = text.split(" ")
    hms, ms = t.split(".")
    tm = time.strptime(d + " " + hms, "%Y-%m-%d %H:%M:%S")
    return calendar.timegm(tm) * 1000 + int(ms)


class Nfcapd:
    """nfdump's collector on 127.0.0.1:@port (UDP), writing into @dir."""

    def __init__(self, dir, port=None, netns=None):
        self.dir = dir
        self.port = port or free_port()
        os.makedirs(dir, exist_ok=True)
        cmd = ["nfcapd", "-b", "127.0.0.1", "-p", str(self.port), "-w", dir, "-B", "16777216"]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.log = open(os.path.join(dir, "..", os.path.basename(dir) + ".log"), "w+")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 10
        while time.time() < end and "Startup" not in self.text():
            time.sleep(0.05)

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        """Stop (nfcapd writes its file at exit); its summary line."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        m = re.search(r"Flows: (\d+).*Sequence Errors: (\d+)", self.text())
        return (int(m.group(1)), int(m.group(2))) if m else (None, None)

    def records(self):
        """(src, dst, sport, dport, proto, start s, duration ms, ipkt, ibyt, opkt, obyt)
        of every flow nfcapd stored, via nfdump."""
        files = sorted(f for f in os.listdir(self.dir) if f.startswith("nfcapd.2"))
        recs = []
        for f in files:
            out = subprocess.run(["nfdump", "-r", os.path.join(self.dir, f), "-q", "-o", "csv"],
                                 capture_output=True, text=True, env=dict(os.environ, TZ="UTC"))
            for line in out.stdout.splitlines():
                p = line.split(",")
                if len(p) < 15 or not p[0][:1].isdigit():
                    continue
                recs.append((p[3], p[4], int(p[5]), int(p[6]), p[7].strip(), p[0],
                             round(float(p[2]) * 1000), int(p[11]), int(p[12]), int(p[13]),
                             int(p[14])))
        return recs
