#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Network sinks against real collectors from Debian packages, started here on
loopback (or on the loopback of a namespace this test creates):

- options: every bad URL or value exits 2 with one line;
- IPFIX to a file, read back with libfixbuf's ipfixDump: every flow of
  mixed.pcap, its counts per direction, ports, addresses, times, end reason
  and application name equal the CSV of the same run; our elements are named
  by RFC 5610 type records;
- IPFIX over TCP to a collector that comes up after flowsight: reconnect with
  backoff, nothing lost;
- IPFIX over UDP to nfdump's nfcapd (template refresh every second): every
  flow, no sequence error, nfdump's counts, ports and durations equal the CSV;
- ClickHouse 18.16 (its own config and data directory): the table made by
  --clickhouse-create holds every row, sums of every numeric column equal the
  CSV; credentials from the environment; a wrong table is reported once;
- ClickHouse stopped and restarted while flows stream in (a capture fed
  slowly through a FIFO): exact rows and sums after the restart, no duplicate;
- a fleet on ClickHouse's own distribution: two servers as two shards, a
  Distributed table over them, one agent offline and one live with
  --system-visibility-mode 1 in a namespace: the Distributed table returns
  every flow of both and the bytes per process equal the sum of their CSVs;
  the live agent's IPFIX (UDP, to an nfcapd of the namespace) holds every
  live flow with the CSV's addresses, ports and counts.
"""
import ipaddress
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "live"))
from harness import Skip, Suite, check, del_netns, sh  # noqa: E402
import sinklib  # noqa: E402
from sinklib import ClickHouse, Nfcapd, StreamKeeper, read_csv  # noqa: E402

FS = os.path.abspath(os.environ.get("FLOWSIGHT", "build/flowsight"))
MKPCAP = os.path.abspath(os.environ.get("MKPCAP", "build/mkpcap"))
MIXED = os.path.abspath("../shared/data/bench/mixed.pcap")
DHCP = os.path.abspath("../shared/data/nfstream-tests/pcaps/dhcp.pcap")
PLUGINS = os.path.abspath("build/plugins")
TMP = tempfile.mkdtemp(prefix="fs-sinks-")
NS, NS2 = "fss-%d-a" % os.getpid(), "fss-%d-b" % os.getpid()
PROCS, SERVERS = [], []
suite = Suite("sinks", lambda: stop_all())
case = suite.case


def stop_all():
    for s in SERVERS:
        try:
            s.stop()
        except Exception:
            pass
    SERVERS.clear()
    for p in PROCS:
        if p.poll() is None:
            p.kill()
            p.wait()
    PROCS.clear()


def need_mixed():
    if not os.path.exists(MIXED):
        raise Skip("%s is absent (../shared not laid out)" % MIXED)


def need(*tools):
    t = sinklib.missing(*tools)
    if t:
        raise Skip("%s is not installed (make deps)" % t)


def run(args, env=None, timeout=120):
    p = subprocess.run([FS] + args, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def tmp(name):
    return os.path.join(TMP, name)


def csv_by_id(path):
    return {int(r["id"]): r for r in read_csv(path)}


# ---- options -------------------------------------------------------------

@case("bad_options")
def _():
    base = ["-r", "x.pcap"]
    bad = [
        (["--ipfix", "foo"], "flowsight: invalid ipfix 'foo': expected tcp://HOST:PORT, "
         "udp://HOST:PORT or file:PATH"),
        (["--ipfix", "tcp://127.0.0.1"], None),
        (["--ipfix", "udp://127.0.0.1:0"], None),
        (["--ipfix", "tcp://127.0.0.1:65536"], None),
        (["--ipfix", "file:"], None),
        (["--ipfix", "sctp://127.0.0.1:4739"], None),
        (["--ipfix-pen", "0"], "flowsight: invalid ipfix_pen '0': expected a number from 1 to "
         "4294967295"),
        (["--ipfix-template-refresh", "x"], None),
        (["--clickhouse", "ftp://127.0.0.1:8123/"],
         "flowsight: invalid clickhouse 'ftp://127.0.0.1:8123/': expected http://HOST:PORT/"),
        (["--clickhouse", "http://user:pw@127.0.0.1:8123/"], None),
        (["--clickhouse", "http://127.0.0.1:99999/"], None),
        (["--clickhouse-table", "a;drop"], None),
        (["--clickhouse-table", "a.b.c"], None),
        (["--clickhouse-batch-rows", "0"], None),
        (["--clickhouse-spool-mb", "-1"], None),
        (["--clickhouse-inserts", "0"], "flowsight: invalid clickhouse_inserts '0': expected a "
         "number from 1 to 16"),
        (["--clickhouse-inserts", "17"], None),
        (["-F", "none"], "flowsight: --format none needs --ipfix or --clickhouse"),
        (["--ipfix", "file:/tmp/x", "--columns-to-anonymize", "src_ip"], None),
    ]
    for extra, want in bad:
        rc, out, err = run(base + extra)
        lines = err.strip().splitlines()
        check(rc == 2, "%s: exit %d (want 2): %s" % (extra, rc, err))
        check(len(lines) == 1, "%s: %d lines: %r" % (extra, len(lines), err))
        check(out == "", "%s: output %r" % (extra, out))
        if want:
            check(lines[0] == want, "%s: %r" % (extra, lines[0]))


# ---- IPFIX -----------------------------------------------------------------

END_REASON = {0: 1, 1: 2, -1: 4, 2: 5}


def check_ipfix_records(recs, rows, where):
    check(len(recs) == len(rows), "%s: %d records for %d flows" % (where, len(recs), len(rows)))
    seen = set()
    for r in recs:
        fid = int(r["flowId"])
        check(fid not in seen, "%s: flow %d twice" % (where, fid))
        seen.add(fid)
        c = rows[fid]
        v6 = c["ip_version"] == "6"
        want = {
            "sourceIPv6Address" if v6 else "sourceIPv4Address": c["src_ip"],
            "destinationIPv6Address" if v6 else "destinationIPv4Address": c["dst_ip"],
            "sourceTransportPort": c["src_port"],
            "destinationTransportPort": c["dst_port"],
            "protocolIdentifier": c["protocol"],
            "packetDeltaCount": c["src2dst_packets"],
            "octetDeltaCount": c["src2dst_bytes"],
            "reversePacketDeltaCount": c["dst2src_packets"],
            "reverseOctetDeltaCount": c["dst2src_bytes"],
            "bidirectional_packets": c["bidirectional_packets"],
            "bidirectional_bytes": c["bidirectional_bytes"],
            "flowDurationMilliseconds": c["bidirectional_duration_ms"],
            "applicationName": c["application_name"],
            "expiration_id": c["expiration_id"],
            "flowEndReason": str(END_REASON[int(c["expiration_id"])]),
            "sourceMacAddress": c["src_mac"],
        }
        for k in list(want):
            if "Address" in k and "Mac" not in k:  # ipfixDump's IPv6 text is not canonical
                r[k] = str(ipaddress.ip_address(r.get(k, "")))
        for k, v in want.items():
            check(r.get(k) == v, "%s: flow %d: %s = %r, CSV %r" % (where, fid, k, r.get(k), v))
        for k, col in (("flowStartMilliseconds", "bidirectional_first_seen_ms"),
                       ("flowEndMilliseconds", "bidirectional_last_seen_ms")):
            check(sinklib.ms_of(r[k]) == int(c[col]),
                  "%s: flow %d: %s = %s, CSV %s" % (where, fid, k, r[k], c[col]))


@case("ipfix_file_mixed")
def _():
    need_mixed()
    need("ipfixDump")
    out, ipf = tmp("file.csv"), tmp("file.ipfix")
    rc, _, err = run(["-r", MIXED, "-o", out, "--ipfix", "file:" + ipf])
    check(rc == 0, "exit %d: %s" % (rc, err))
    rows = csv_by_id(out)
    recs, types = sinklib.ipfix_dump(ipf)
    check_ipfix_records(recs, rows, "file")
    names = {t["informationElementName"] for t in types}
    for n in ("bidirectional_packets", "expiration_id", "splt_ps", "system_process_name",
              "client_fingerprint_ja4"):
        check(n in names, "no RFC 5610 type record for %s" % n)
    check(all(t["privateEnterpriseNumber"] == "32473" for t in types), "PEN of a type record")
    check("3583 flows sent" in err and " 0 not delivered" in err, "summary: %s" % err)


@case("ipfix_pen_statistics_splt")
def _():
    need_mixed()
    need("ipfixDump")
    out, ipf = tmp("stat.csv"), tmp("stat.ipfix")
    rc, _, err = run(["-r", MIXED, "-o", out, "--statistical-analysis", "--ipfix-pen", "4242",
                      "--splt-analysis", "7", "--ipfix", "file:" + ipf])
    check(rc == 0, "exit %d: %s" % (rc, err))
    rows = csv_by_id(out)
    recs, types = sinklib.ipfix_dump(ipf)
    check(len(recs) == len(rows), "%d records" % len(recs))
    check({t["privateEnterpriseNumber"] for t in types} == {"4242"}, "PEN")
    for r in recs:
        c = rows[int(r["flowId"])]
        for k, col in (("tcpSynTotalCount", "src2dst_syn_packets"),
                       ("reverseTcpAckTotalCount", "dst2src_ack_packets"),
                       ("bidirectional_fin_packets", "bidirectional_fin_packets"),
                       ("src2dst_cwr_packets", "src2dst_cwr_packets"),
                       ("bidirectional_min_ps", "bidirectional_min_ps"),
                       ("dst2src_max_piat_ms", "dst2src_max_piat_ms"),
                       ("splt_direction", "splt_direction"), ("splt_ps", "splt_ps"),
                       ("splt_piat_ms", "splt_piat_ms")):
            check(r.get(k) == c[col], "flow %s: %s %r, CSV %r" % (r["flowId"], k, r.get(k), c[col]))


@case("ipfix_tcp_collector_late")
def _():
    need_mixed()
    need("ipfixDump")
    out, ipf = tmp("tcp.csv"), tmp("tcp.ipfix")
    port = sinklib.free_port()
    p = subprocess.Popen([FS, "-r", MIXED, "-o", out, "--ipfix", "tcp://127.0.0.1:%d" % port,
                          "--sink-drain-seconds", "30"], stderr=subprocess.PIPE, text=True)
    PROCS.append(p)
    time.sleep(1.5)  # refused meanwhile: flowsight backs off and retries
    keeper = StreamKeeper(ipf, port)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        keeper.close()
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, err))
    check(keeper.connections == 1, "%d connections" % keeper.connections)
    check("Connection refused" in err, "the refusal is reported: %s" % err)
    check(err.count("Connection refused") == 1, "reported once: %s" % err)
    recs, _ = sinklib.ipfix_dump(ipf)
    check_ipfix_records(recs, csv_by_id(out), "tcp")


@case("ipfix_udp_nfcapd")
def _():
    need_mixed()
    need("nfcapd", "nfdump")
    out = tmp("udp.csv")
    nf = Nfcapd(tmp("nfcapd"))
    try:
        rc, _, err = run(["-r", MIXED, "-o", out, "--ipfix", "udp://127.0.0.1:%d" % nf.port,
                          "--ipfix-template-refresh", "1"])
        time.sleep(0.3)
    finally:
        flows, seq_err = nf.stop()
    check(rc == 0, "exit %d: %s" % (rc, err))
    rows = read_csv(out)
    check(flows == len(rows), "nfcapd counted %s flows for %d" % (flows, len(rows)))
    check(seq_err == 0, "nfcapd: %s sequence errors" % seq_err)
    want = sorted((r["src_ip"], r["dst_ip"], int(r["src_port"]), int(r["dst_port"]),
                   int(r["bidirectional_first_seen_ms"]) // 1000,
                   int(r["bidirectional_duration_ms"]), int(r["src2dst_packets"]),
                   int(r["src2dst_bytes"]), int(r["dst2src_packets"]), int(r["dst2src_bytes"]))
                  for r in rows)
    got = []
    for (sa, da, sp, dp, pr, ts, td, ip, ib, op, ob) in nf.records():
        start = int(time.mktime(time.strptime(ts, "%Y-%m-%d %H:%M:%S"))) - time.timezone \
            if False else int(__import__("calendar").timegm(time.strptime(ts, "%Y-%m-%d %H:%M:%S")))
        got.append((sa.strip(), da.strip(), sp, dp, start, td, ip, ib, op, ob))
    got.sort()
    check(len(got) == len(want), "nfdump read %d flows" % len(got))
    for g, w in zip(got, want):
        check(g == w, "nfdump %r, CSV %r" % (g, w))


# ---- ClickHouse -------------------------------------------------------------

NUMERIC_SKIP = ("id",)


def sums_of_csv(rows):
    cols = [k for k, v in rows[0].items() if v.lstrip("-").isdigit()]
    return {k: sum(int(r[k]) for r in rows) for k in cols}


def check_table(ch, table, rows, where):
    n = int(ch.query("SELECT count() FROM %s" % table))
    check(n == len(rows), "%s: %d rows in ClickHouse, %d in the CSV" % (where, n, len(rows)))
    u = int(ch.query("SELECT uniqExact(run_id, id) FROM %s" % table))
    check(u == n, "%s: %d duplicate rows" % (where, n - u))
    sums = sums_of_csv(rows)
    got = ch.rows("SELECT " + ", ".join("toString(sum(`%s`))" % k for k in sums) +
                  " FROM " + table)[0]
    for (k, want), g in zip(sums.items(), got):
        check(int(g) == want, "%s: sum(%s) = %s, CSV %d" % (where, k, g, want))
    apps = ch.rows("SELECT application_name, count() FROM %s GROUP BY application_name ORDER BY application_name" % table)
    want = {}
    for r in rows:
        want[r["application_name"]] = want.get(r["application_name"], 0) + 1
    check({a: int(c) for a, c in apps} == want, "%s: rows per application_name" % where)


def check_floats(ch, table, rows, where, ulps=0):
    """Every float column of every row: exactly when rows go in RowBinary
    (doubles copied); as text, ClickHouse 18.16's parser may miss the
    nearest double by @ulps."""
    cols = [k for k, v in rows[0].items()
            if ("." in v or "e" in v) and k not in ("src_ip", "dst_ip") and
            all(x == "" or x.lstrip("-").replace(".", "", 1).replace("e", "", 1)
                .replace("-", "").replace("+", "").isdigit() for x in (r[k] for r in rows))]
    check(len(cols) >= 10, "%s: float columns found: %r" % (where, cols))
    got = {r[0]: r[1:] for r in ch.rows("SELECT toString(id), " + ", ".join(
        "toString(`%s`)" % k for k in cols) + " FROM " + table)}
    bad = 0
    for r in rows:
        for k, g in zip(cols, got[r["id"]]):
            a, b = float(g), float(r[k])
            if not (a == b or (a != a and b != b) or
                    (ulps and abs(a - b) <= ulps * math.ulp(max(abs(a), abs(b))))):
                bad += 1
                if bad < 4:
                    print("  %s: flow %s %s: table %s, CSV %s" % (where, r["id"], k, g, r[k]))
    check(bad == 0, "%s: %d float cells differ" % (where, bad))


@case("clickhouse_offline")
def _():
    need_mixed()
    need(sinklib.CH_SERVER)
    ch = ClickHouse(tmp("ch1")).start()
    SERVERS.append(ch)
    out = tmp("ch.csv")
    env = {"FLOWSIGHT_CLICKHOUSE_USER": "agent", "FLOWSIGHT_CLICKHOUSE_PASSWORD": "s3cret pass"}
    rc, _, err = run(["-r", MIXED, "-o", out, "--statistical-analysis", "--splt-analysis", "5",
                      "-v", "--clickhouse", ch.url(), "--clickhouse-create", "--clickhouse-agent",
                      "probe-1", "--clickhouse-batch-rows", "1000"], env=env)
    check(rc == 0, "exit %d: %s" % (rc, err))
    rows = read_csv(out)
    check_table(ch, "flows", rows, "offline")
    check(ch.query("SELECT DISTINCT agent FROM flows").strip() == "probe-1", "agent column")
    # SPLT lists round-trip as arrays
    got = dict(ch.rows("SELECT toString(id), toString(splt_ps) FROM flows"))
    for r in rows[:200]:
        check(got[r["id"]] == r["splt_ps"].replace(" ", ""), "splt_ps of flow %s" % r["id"])
    check_floats(ch, "flows", rows, "offline")
    check("other types" not in err, "the table made by --clickhouse-create takes RowBinary: %s"
          % err)
    # a table made by hand, of other types (wider integers, signed counters,
    # one more column): the same rows arrive, as text
    types = ch.rows("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                    "AND table = 'flows'")
    other = {"UInt16": "UInt32", "UInt64": "Int64", "UInt8": "Int16"}
    ch.query("CREATE TABLE hand (note String DEFAULT 'x', " +
             ", ".join("`%s` %s" % (n, other.get(t, t)) for n, t in types if n != "time") +
             ") ENGINE = MergeTree() ORDER BY id")
    rc, _, err = run(["-r", MIXED, "-F", "none", "--statistical-analysis", "--splt-analysis", "5",
                      "-v", "--clickhouse", ch.url(), "--clickhouse-table", "hand",
                      "--clickhouse-batch-rows", "1000"], env=env)
    check(rc == 0, "hand-made table: exit %d: %s" % (rc, err))
    check(err.count("has columns of other types") == 1, "said once: %s" % err)
    check_table(ch, "hand", rows, "hand-made table")
    check_floats(ch, "hand", rows, "hand-made table", ulps=2)
    check(ch.query("SELECT DISTINCT note FROM hand").strip() == "x", "the table's own default")
    # a wrong password: reported once, nothing inserted, exit 1
    env["FLOWSIGHT_CLICKHOUSE_PASSWORD"] = "wrong"
    rc, _, err = run(["-r", MIXED, "-F", "none", "--clickhouse", ch.url(),
                      "--clickhouse-batch-rows", "500", "--sink-drain-seconds", "2"], env=env)
    check(rc == 1, "wrong password: exit %d" % rc)
    check(err.count("HTTP 401") == 1, "reported once: %s" % err)
    # a wrong table: its message once, not once per batch
    rc, _, err = run(["-r", MIXED, "-F", "none", "--clickhouse", ch.url(), "--clickhouse-table",
                      "nope", "--clickhouse-batch-rows", "500", "--sink-drain-seconds", "2"])
    check(rc == 1, "wrong table: exit %d" % rc)
    lines = [line for line in err.splitlines() if "doesn't exist" in line]
    check(len(lines) == 1 and "Table default.nope doesn't exist" in lines[0],
          "reported once: %s" % err)
    check("at_exit 3583" in err, "counted: %s" % err)


@case("clickhouse_plugin_columns")
def _():
    """Plugin columns (Nullable strings and integers, arrays) arrive cell
    for cell as the JSON output has them, in RowBinary (the table
    --clickhouse-create makes) and as text (a table of other types)."""
    if not os.path.exists(DHCP):
        raise Skip("%s absent (../shared)" % DHCP)
    need(sinklib.CH_SERVER)
    plugins = ["--plugin", os.path.join(PLUGINS, "dhcp.so"),
               "--plugin", os.path.join(PLUGINS, "splt.so") + ":sequence_length=4"]
    ch = ClickHouse(tmp("ch4")).start()
    SERVERS.append(ch)
    out = tmp("dhcp.jsonl")
    rc, _, err = run(["-r", DHCP, "-F", "jsonl", "-o", out, "-v", "--clickhouse", ch.url(),
                      "--clickhouse-create"] + plugins)
    check(rc == 0, "exit %d: %s" % (rc, err))
    want = {}
    with open(out) as f:
        for line in f:
            d = json.loads(line)
            want[str(d["id"])] = {k: v for k, v in d.items() if k.startswith("udps.")}
    cols = list(next(iter(want.values())))
    check(len(want) == 3 and len(cols) == 13, "3 flows, 13 plugin columns: %r" % cols)
    nulls = sum(v is None for w in want.values() for v in w.values())
    check(nulls > 10 and any(isinstance(v, str) for w in want.values() for v in w.values()),
          "the capture gives nulls and strings")

    def text(v):
        if v is None:
            return "<null>"
        if isinstance(v, list):
            return "[" + ",".join(str(x) for x in v) + "]"
        return str(v)

    def compare(table, where):
        # plugins' udps.x are udps_x in ClickHouse (a dotted array is Nested there)
        q = ("SELECT toString(id), " + ", ".join(
            "if(isNull(`%s`), '<null>', toString(`%s`))" % ((c.replace(".", "_"),) * 2)
            for c in cols) + " FROM " + table)
        got = {r[0]: r[1:] for r in ch.rows(q)}
        check(sorted(got) == sorted(want), "%s: flow ids %r" % (where, sorted(got)))
        for i, w in want.items():
            for c, g in zip(cols, got.get(i, [])):
                check(g == text(w[c]), "%s: flow %s %s: table %r, JSON %r"
                      % (where, i, c, g, w[c]))
    compare("flows", "RowBinary")
    check("other types" not in err, "binary for its own table: %s" % err)
    types = ch.rows("SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                    "AND table = 'flows'")
    other = {"Nullable(Int64)": "Nullable(Int32)", "Array(Int64)": "Array(Int32)",
             "UInt16": "UInt32"}
    ch.query("CREATE TABLE hand2 (" +
             ", ".join("`%s` %s" % (n, other.get(t, t)) for n, t in types if n != "time") +
             ") ENGINE = MergeTree() ORDER BY id")
    rc, _, err = run(["-r", DHCP, "-F", "none", "-v", "--clickhouse", ch.url(),
                      "--clickhouse-table", "hand2"] + plugins)
    check(rc == 0 and "other types" in err, "text for a table of other types: %d %s" % (rc, err))
    compare("hand2", "TabSeparated")


@case("clickhouse_restart_midstream")
def _():
    need_mixed()
    need(sinklib.CH_SERVER)
    ch = ClickHouse(tmp("ch2")).start()
    SERVERS.append(ch)
    ch.query("SELECT 1")
    out, fifo, spool = tmp("mid.csv"), tmp("mid.fifo"), tmp("spool")
    os.mkfifo(fifo)
    p = subprocess.Popen([FS, "-r", fifo, "-o", out, "--idle-timeout", "1", "--clickhouse",
                          ch.url(), "--clickhouse-create", "--clickhouse-batch-rows", "200",
                          "--clickhouse-batch-seconds", "1", "--clickhouse-spool", spool,
                          "--sink-drain-seconds", "30"], stderr=subprocess.PIPE, text=True)
    PROCS.append(p)
    with open(MIXED, "rb") as f:
        data = f.read()
    done = threading.Event()

    def feed():  # the capture arrives over about 5 s
        with open(fifo, "wb") as w:
            step = len(data) // 50
            for i in range(0, len(data), step):
                w.write(data[i:i + step])
                w.flush()
                time.sleep(0.1)
        done.set()
    t = threading.Thread(target=feed, daemon=True)
    t.start()
    time.sleep(1.5)
    mid = int(ch.query("SELECT count() FROM flows"))
    ch.stop(signal.SIGKILL)  # stopped mid-stream (SIGTERM waits for our keep-alive inserts) ...
    time.sleep(2.0)
    ch.start()         # ... and back, same data directory
    _, err = p.communicate(timeout=90)
    t.join()
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, err))
    check(mid > 0, "nothing inserted before the stop")
    check("spooled" in err and "0 left in the spool" in err, "spool used: mid %d: %s" % (mid, err))
    check_table(ch, "flows", read_csv(out), "after restart")
    check(not [f for f in os.listdir(spool) if f.endswith(".tsv")], "spool emptied")


# ---- a fleet on ClickHouse's distribution ----------------------------------

def ns_setup():
    del_netns(NS, NS2)
    for ns in (NS, NS2):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", NS, "link", "add", "fss0", "type", "veth", "peer", "name", "fss1",
       "netns", NS2)
    sh("ip", "-n", NS, "addr", "add", "10.209.0.1/24", "dev", "fss0")
    sh("ip", "-n", NS2, "addr", "add", "10.209.0.2/24", "dev", "fss1")
    sh("ip", "-n", NS, "link", "set", "fss0", "up")
    sh("ip", "-n", NS2, "link", "set", "fss1", "up")


UDP_CLIENT = r"""
import socket, sys, time
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.209.0.1", 0))
    s.sendto(b"x" * (100 + i), ("10.209.0.2", 9999))
    s.close()
    time.sleep(0.01)
"""


@case("fleet_distributed")
def _():
    need_mixed()
    need(sinklib.CH_SERVER, MKPCAP)
    if os.geteuid() != 0 or not shutil.which("ip"):
        raise Skip("needs root and ip netns (a namespace for the live agent)")
    ns_setup()
    p1, p2 = sinklib.free_port(), sinklib.free_port()
    shard1 = ClickHouse(tmp("shard1"), tcp=p1, remote=(p1, p2), netns=NS).start()
    SERVERS.append(shard1)
    shard2 = ClickHouse(tmp("shard2"), tcp=p2, remote=(p1, p2), netns=NS).start()
    SERVERS.append(shard2)
    udp = tmp("udp.pcap")
    sh(MKPCAP, "eth_udp", udp)
    # agent 1, offline: two files keep the process columns (-1, "")
    out1 = tmp("agent1.csv")
    r = sh("ip", "netns", "exec", NS, FS, "-r", MIXED, "-r", udp, "-o", out1,
           "--system-visibility-mode", "1", "--clickhouse", shard1.url(), "--clickhouse-table",
           "flows_local", "--clickhouse-create", "--clickhouse-agent", "agent-1",
           check_rc=False, timeout=120)
    check(r.returncode == 0, "agent 1: %s" % r.stderr.decode())
    # agent 2, live in the namespace, with the process column; IPFIX over
    # UDP to an nfcapd of the namespace as well
    out2 = tmp("agent2.csv")
    nf = Nfcapd(tmp("nf-live"), netns=NS)
    SERVERS.append(nf)
    a2 = subprocess.Popen(["ip", "netns", "exec", NS, FS, "-i", "fss0", "--capture", "pcap",
                           "--ipfix", "udp://127.0.0.1:%d" % nf.port,
                           "--system-visibility-mode", "1", "-o", out2, "--clickhouse",
                           shard2.url(), "--clickhouse-table", "flows_local",
                           "--clickhouse-create", "--clickhouse-agent", "agent-2",
                           "--clickhouse-batch-seconds", "1"],
                          stderr=subprocess.PIPE, text=True)
    PROCS.append(a2)
    end = time.time() + 15  # ready: the output exists once the capture is attached
    while not os.path.exists(out2):
        check(a2.poll() is None and time.time() < end, "agent 2 not ready")
        time.sleep(0.02)
    time.sleep(0.3)
    sh("ip", "netns", "exec", NS, sys.executable, "-c", UDP_CLIENT, "40")
    sh("ip", "netns", "exec", NS, "ping", "-c", "3", "-i", "0.2", "10.209.0.2")
    time.sleep(1.0)
    a2.send_signal(signal.SIGINT)
    _, err2 = a2.communicate(timeout=60)
    check(a2.returncode == 0, "agent 2: exit %d: %s" % (a2.returncode, err2))
    shard1.query("CREATE TABLE flows_all AS flows_local "
                 "ENGINE = Distributed(fleet, default, flows_local)")
    rows1, rows2 = read_csv(out1), read_csv(out2)
    check(rows2, "the live agent saw no flow: %s" % err2)
    n = int(shard1.query("SELECT count() FROM flows_all"))
    check(n == len(rows1) + len(rows2), "Distributed: %d rows, CSVs %d + %d"
          % (n, len(rows1), len(rows2)))
    per_agent = dict(shard1.rows("SELECT agent, toString(count()) FROM flows_all GROUP BY agent"))
    check(per_agent == {"agent-1": str(len(rows1)), "agent-2": str(len(rows2))},
          "rows per agent %r" % per_agent)
    want = {}
    for r in rows1 + rows2:
        k = r["system_process_name"]
        want[k] = want.get(k, 0) + int(r["bidirectional_bytes"])
    got = {k: int(v) for k, v in shard1.rows(
        "SELECT system_process_name, toString(sum(bidirectional_bytes)) FROM flows_all "
        "GROUP BY system_process_name")}
    check(got == want, "bytes per process: %r, CSVs %r" % (got, want))
    flows, seq_err = nf.stop()
    check(flows == len(rows2) and seq_err == 0, "nfcapd: %s flows (%d in the CSV), %s sequence "
          "errors; agent: %s; nfcapd's log: %s"
          % (flows, len(rows2), seq_err, err2.strip()[-300:], nf.text().strip()[-600:]))
    got = sorted((r[0].strip(), r[1].strip(), r[2], r[3], r[7], r[8], r[9], r[10])
                 for r in nf.records())
    want = sorted((r["src_ip"], r["dst_ip"], int(r["src_port"]), int(r["dst_port"]),
                   int(r["src2dst_packets"]), int(r["src2dst_bytes"]), int(r["dst2src_packets"]),
                   int(r["dst2src_bytes"])) for r in rows2)
    check(got == want, "nfdump of the live flows: %r, CSV %r" % (got[:3], want[:3]))
    named = {r["system_process_name"] for r in rows2} - {""}
    if "attribution" in err2 and not named:
        raise Skip("live attribution unavailable here: %s" % err2.strip()[-200:])
    check(any(n.startswith("python") for n in named) and "ping" in named,
          "processes named live: %r" % named)


def why_skip():
    if not os.path.exists(FS):
        return "%s not built" % FS
    return None


def cleanup():
    stop_all()
    del_netns(NS, NS2)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(suite.main(why_skip, lambda: None, cleanup, only=tuple(sys.argv[1:])))
