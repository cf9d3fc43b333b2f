#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Command-line behaviour: --help pinned by tests/golden/help.txt, NFStream's
validation messages with exit status 2 before any capture, bad input files
(one line naming file and cause, exit 1, flows formed before the error still
written), signals (SIGINT/SIGTERM flush every cached flow), SIGPIPE and a
full disk.  Captures are written here by a tiny pcap writer (no shared data).
"""
import csv
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

FS = os.environ.get("FLOWSIGHT", "build/flowsight")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TMP = tempfile.mkdtemp(prefix="fs-cli-")
res = {"passed": 0, "failed": 0, "skipped": 0}


def pcap_header(linktype=1):
    return struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, linktype)


def udp_frame(i, sport=1000):
    """Ethernet/IPv4/UDP frame from 10.0.0.1:sport to 10.0.0.2:53, 64 bytes."""
    payload = bytes(22)
    udp = struct.pack("!HHHH", sport + i, 53, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    eth = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + b"\x08\x00"
    return eth + ip + udp


def record(frame, t_us):
    return struct.pack("<IIII", t_us // 1000000, t_us % 1000000, len(frame), len(frame)) + frame


def write_pcap(path, nflows, linktype=1):
    data = pcap_header(linktype) + b"".join(record(udp_frame(i), 1_000_000 + i * 1000)
                                            for i in range(nflows))
    with open(path, "wb") as f:
        f.write(data)
    return data


def run(args, **kw):
    return subprocess.run([FS] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, **kw)


def case(name):
    def deco(fn):
        def wrapped():
            try:
                fn()
                res["passed"] += 1
                print("PASS cli/%s" % name)
            except Exception as e:  # a crash of one case fails only that case
                res["failed"] += 1
                print("FAIL cli/%s: %s" % (name, e))
        wrapped.__name__ = name
        CASES.append(wrapped)
        return wrapped
    return deco


CASES = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def one_line(stderr):
    lines = stderr.decode().strip().splitlines()
    check(len(lines) == 1, "expected one stderr line, got %r" % lines)
    return lines[0]


@case("help_golden")
def _():
    p = run(["--help"])
    check(p.returncode == 0, "exit %d" % p.returncode)
    with open(os.path.join(ROOT, "tests", "golden", "help.txt"), "rb") as f:
        check(p.stdout == f.read(), "--help differs from tests/golden/help.txt (make golden-update)")


INVALID = [
    (["--decode-tunnels", "2"], "Please specify a valid decode_tunnels parameter (possible values: True, False)."),
    (["--promiscuous-mode", "x"], "Please specify a valid promiscuous_mode parameter (possible values: True, False)."),
    (["--snapshot-length", "0"], "Please specify a valid snapshot_length parameter (positive integer)."),
    (["--idle-timeout", "-1"], "Please specify a valid idle_timeout parameter (positive integer in seconds)."),
    (["--idle-timeout", "18446744073709552"], "Please specify a valid idle_timeout parameter (positive integer in seconds)."),
    (["--active-timeout", "abc"], "Please specify a valid active_timeout parameter (positive integer in seconds)."),
    (["--accounting-mode", "4"], "Please specify a valid accounting_mode parameter (possible values: 0, 1, 2, 3)."),
    (["--n-dissections", "256"], "Please specify a valid n_dissections parameter (possible values in : [0,...,255])."),
    (["--statistical-analysis=2"], "Please specify a valid statistical_analysis parameter (possible values: True, False)."),
    (["--splt-analysis", "65536"], "Please specify a valid splt_analysis parameter (possible values in : [0,...,65535])"),
    (["--max-nflows", "-3"], "Please specify a valid max_nflows parameter (>=0)."),
    (["--system-visibility-mode", "3"], "Please specify a valid system_visibility_mode parameter"),
    (["--flows-per-file", "x"], "Please specify a valid flows_per_file parameter (>= 0)."),
    (["--rotate-files", "-1"], "Please specify a valid rotate_files parameter (>= 0)."),
    (["-F", "xml"], "Please specify a valid format parameter (possible values: csv, jsonl, none)."),
    (["--capture", "dpdk"], "Please specify a valid capture parameter (possible values: auto, ebpf, pcap)."),
    (["--n-meters", "-1"], "Please specify a valid n_meters parameter (>=1 or 0 for auto scaling)."),
    (["--n-meters", "two"], "Please specify a valid n_meters parameter (>=1 or 0 for auto scaling)."),
    (["--performance-report", "-5"], "Please specify a valid performance_report parameter (>=1 for "
     "reporting interval (seconds) or 0 to disable). [Available only for Live capture]"),
    (["--socket-buffer-size", "2147483648"],
     "Please specify a valid socket_buffer_size parameter (positive integer <= 2^31-1)."),
    (["--dataset-mode=2"], "Please specify a valid dataset_mode parameter (possible values: True, False)."),
    (["--activity-timeout", "0"], "Please specify a valid activity_timeout parameter (positive integer in seconds)."),
    (["--activity-timeout", "5s"], "Please specify a valid activity_timeout parameter (positive integer in seconds)."),
    (["--activity-timeout", "18446744073710"],
     "Please specify a valid activity_timeout parameter (positive integer in seconds)."),
]


@case("invalid_values_exit_2")
def _():
    good = os.path.join(TMP, "good.pcap")
    write_pcap(good, 1)
    for args, msg in INVALID:
        p = run(["-r", good, "-o", os.path.join(TMP, "never.csv")] + args)
        check(p.returncode == 2, "%s: exit %d" % (args, p.returncode))
        check(msg in p.stderr.decode(), "%s: stderr %r lacks %r" % (args, p.stderr.decode(), msg))
        check(not os.path.exists(os.path.join(TMP, "never.csv")), "%s: output created" % args)


@case("dataset_mode_refuses_ebpf_in_one_line")
def _():
    # checked with the other parameters, before any interface is touched
    p = run(["-i", "lo", "--capture", "ebpf", "--dataset-mode", "-o", os.path.join(TMP, "never.csv")])
    check(p.returncode == 2, "exit %d" % p.returncode)
    line = one_line(p.stderr)
    check("dataset_mode needs the libpcap capture" in line, line)
    check(not os.path.exists(os.path.join(TMP, "never.csv")), "output created")


@case("no_source_exit_2")
def _():
    p = run([])
    check(p.returncode == 2, "exit %d" % p.returncode)
    check("Please specify a pcap file path or a valid network interface name as source." in p.stderr.decode(),
          p.stderr.decode())
    p = run(["--bogus"])
    check(p.returncode == 2 and "unknown option '--bogus'" in p.stderr.decode(), p.stderr.decode())


@case("bad_bpf_filter_exit_2")
def _():
    good = os.path.join(TMP, "good.pcap")
    write_pcap(good, 1)
    p = run(["-r", good, "--bpf-filter", "port port"])
    check(p.returncode == 2 and "Unable to compile BPF filter." in p.stderr.decode(), p.stderr.decode())


@case("splt_warning_above_255")
def _():
    good = os.path.join(TMP, "good.pcap")
    write_pcap(good, 1)
    p = run(["-r", good, "--splt-analysis", "300", "--n-dissections", "0"])
    check(p.returncode == 0, "exit %d" % p.returncode)
    check("[WARNING]: The specified splt_analysis parameter is higher than 255." in p.stderr.decode(),
          p.stderr.decode())


@case("missing_directory_empty_corrupt_files")
def _():
    empty = os.path.join(TMP, "empty.pcap")
    open(empty, "wb").close()
    corrupt = os.path.join(TMP, "corrupt.pcap")
    with open(corrupt, "wb") as f:
        f.write(b"this is not a capture file at all")
    cases = [(os.path.join(TMP, "missing.pcap"), "No such file or directory"),
             (TMP, "is a directory"), (empty, "empty file"), (corrupt, "unknown file format")]
    for path, cause in cases:
        p = run(["-r", path])
        check(p.returncode == 1, "%s: exit %d" % (path, p.returncode))
        line = one_line(p.stderr)
        check(path in line and cause in line, "%s: %r" % (path, line))


@case("unsupported_link_type")
def _():
    path = os.path.join(TMP, "dlt147.pcap")
    write_pcap(path, 2, linktype=147)
    p = run(["-r", path])
    check(p.returncode == 1, "exit %d" % p.returncode)
    line = one_line(p.stderr)
    check(path in line and "unsupported link type 147" in line, line)


@case("truncated_file_keeps_flows")
def _():
    path = os.path.join(TMP, "trunc.pcap")
    data = write_pcap(path, 5)
    with open(path, "wb") as f:
        f.write(data[:-10])  # cut inside the last record
    out = os.path.join(TMP, "trunc.csv")
    p = run(["-r", path, "-o", out, "--n-dissections", "0"])
    check(p.returncode == 1, "exit %d" % p.returncode)
    line = one_line(p.stderr)
    check(path in line and "truncated" in line, line)
    with open(out) as f:
        rows = f.read().splitlines()
    check(len(rows) == 1 + 4, "4 flows formed before the damage expected, got %d" % (len(rows) - 1))


@case("file_cut_short_while_read")
def _():
    """Another process truncates the capture while flowsight reads it (a
    mapped file then faults with SIGBUS): one line naming the cause, exit
    1, and every flow of the packets read before the cut is written."""
    path = os.path.join(TMP, "cut.pcap")
    n = 150_000  # about 24 MB: reading it takes far longer than stopping it
    rec = [pcap_header()]
    for i in range(n):
        fr = bytearray(udp_frame(0))
        fr[34:36] = struct.pack("!H", 1000 + i % 60000)  # UDP source port
        fr[33] = 2 + i // 60000  # destination 10.0.0.2, .3, .4
        rec.append(record(bytes(fr), 1_000_000 + i))
    with open(path, "wb") as f:
        f.write(b"".join(rec))
    out = os.path.join(TMP, "cut.csv")
    p = subprocess.Popen([FS, "-r", path, "-o", out, "--n-dissections", "0"],
                         stderr=subprocess.PIPE)
    try:
        while path not in open("/proc/%d/maps" % p.pid).read():
            check(p.poll() is None, "flowsight ended before its input was mapped")
        os.kill(p.pid, signal.SIGSTOP)
        os.truncate(path, 1 << 20)
        os.kill(p.pid, signal.SIGCONT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    check(p.returncode == 1, "exit %d (a signal is negative): %r" % (p.returncode, err))
    line = one_line(err)
    check(path in line and "cut short while being read" in line, line)
    read = int(line.split("(after ")[1].split()[0])
    with open(out) as f:
        rows = f.read().splitlines()
    # one flow per packet; only whole records inside the first MiB were read
    check(0 < read <= ((1 << 20) - 24) // (16 + 64) and len(rows) == 1 + read,
          "%d packets read, %d flows written" % (read, len(rows) - 1))


@case("filter_into_truncated_tail")
def _():
    """A filter skips records up to a damaged end within one batch: the frame
    already handed out must survive the error (ASan checks it in SANITIZE)."""
    path = os.path.join(TMP, "filt-trunc.pcap")
    data = write_pcap(path, 5)
    with open(path, "wb") as f:
        f.write(data[:-10])
    p = run(["-r", path, "--bpf-filter", "udp src port 1000", "--n-dissections", "0", "-F", "jsonl"])
    check(p.returncode == 1, "exit %d: %r" % (p.returncode, p.stderr))
    line = one_line(p.stderr)
    check(path in line and "truncated" in line, line)
    rows = p.stdout.decode().splitlines()
    check(len(rows) == 1 and '"src_port":1000' in rows[0], "the matching flow is written: %r" % rows)


@case("second_file_missing_keeps_first")
def _():
    a = os.path.join(TMP, "a.pcap")
    write_pcap(a, 3)
    out = os.path.join(TMP, "ab.csv")
    p = run(["-r", a, "-r", os.path.join(TMP, "nope.pcap"), "-o", out, "--n-dissections", "0"])
    check(p.returncode == 1, "exit %d" % p.returncode)
    check("nope.pcap" in one_line(p.stderr), p.stderr.decode())
    with open(out) as f:
        check(len(f.read().splitlines()) == 4, "3 flows of the first file written")


def signal_flushes(sig):
    fifo = os.path.join(TMP, "fifo-%d" % sig)
    os.mkfifo(fifo)
    data = pcap_header() + b"".join(record(udp_frame(i), 1_000_000 + i) for i in range(50))
    out = os.path.join(TMP, "sig-%d.csv" % sig)
    proc = subprocess.Popen([FS, "-r", fifo, "-o", out, "--n-dissections", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    w = open_writer(fifo, proc)
    os.write(w, data)
    # wait (bounded) until flowsight has read everything we wrote, then signal it
    deadline = time.time() + 20
    while time.time() < deadline:
        with open("/proc/%d/io" % proc.pid) as f:
            rchar = int([l for l in f.read().splitlines() if l.startswith("rchar")][0].split()[1])
        if rchar >= len(data):
            break
        time.sleep(0.01)
    time.sleep(0.05)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    finally:
        os.close(w)
    check(proc.returncode == 0, "exit %d, stderr %r" % (proc.returncode, err))
    with open(out) as f:
        rows = f.read().splitlines()
    check(len(rows) == 51, "all 50 cached flows flushed, got %d" % (len(rows) - 1))


@case("flows_stream_out_while_input_waits")
def _():
    """A flow expired by the idle scan reaches the output while the input (a
    pipe) is still open and idle: records are streamed, not kept to the end."""
    fifo = os.path.join(TMP, "fifo-stream")
    os.mkfifo(fifo)
    out = os.path.join(TMP, "stream.csv")
    proc = subprocess.Popen([FS, "-r", fifo, "-o", out, "--n-dissections", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    w = open_writer(fifo, proc)
    # flow A at t=1 s, then flow B at t=200 s: the scan at B expires A (idle 120 s)
    os.write(w, pcap_header() + record(udp_frame(0), 1_000_000) + record(udp_frame(1), 200_000_000))
    deadline = time.time() + 20
    rows = []
    while time.time() < deadline:
        try:
            with open(out) as f:
                rows = f.read().splitlines()
        except FileNotFoundError:
            rows = []
        if len(rows) >= 2:
            break
        time.sleep(0.01)
    alive = proc.poll() is None
    os.close(w)
    proc.communicate(timeout=20)
    check(alive, "flowsight ended early")
    check(len(rows) == 2 and rows[1].startswith("0,0,"), "flow A streamed while waiting: %r" % rows)
    with open(out) as f:
        check(len(f.read().splitlines()) == 3, "flow B flushed at the end")


def open_writer(fifo, proc):
    deadline = time.time() + 20
    while True:  # open the write end without blocking forever if flowsight died
        try:
            w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError:
            check(proc.poll() is None and time.time() < deadline,
                  "flowsight did not open the FIFO: %r" % (proc.communicate()[1] if proc.poll() is not None else "timeout"))
            time.sleep(0.01)
    os.set_blocking(w, True)
    return w


@case("filter_across_chunks_and_files")
def _():
    """A BPF filter that drops most records, over a file larger than the 4 MiB
    read chunk and into a second file: batches never outlive their buffer."""
    a, b = os.path.join(TMP, "chunk-a.pcap"), os.path.join(TMP, "chunk-b.pcap")
    for path, n in ((a, 70000), (b, 10)):
        with open(path, "wb") as f:
            f.write(pcap_header() + b"".join(record(udp_frame(i % 50000), 1_000_000 + i * 1000)
                                             for i in range(n)))
    check(os.path.getsize(a) > 4 << 20, "first file spans several chunks")
    p = run(["-r", a, "-r", b, "--bpf-filter", "udp src port 1005", "--n-dissections", "0", "-F", "jsonl"])
    check(p.returncode == 0, "exit %d: %r" % (p.returncode, p.stderr))
    rows = p.stdout.decode().splitlines()
    check(len(rows) == 1 and '"bidirectional_packets":3' in rows[0], "one flow of 3 packets: %r" % rows)


@case("max_flows_in_memory_exports_most_idle")
def _():
    """Flows A, B, C; A seen again; D arrives with a cap of 3: B, the least
    recently seen, is exported early with expiration_id 2; nothing is lost."""
    path = os.path.join(TMP, "cap.pcap")
    pk = [record(udp_frame(0), 1_000_000), record(udp_frame(1), 2_000_000),
          record(udp_frame(2), 3_000_000), record(udp_frame(0), 4_000_000),
          record(udp_frame(3), 5_000_000)]
    with open(path, "wb") as f:
        f.write(pcap_header() + b"".join(pk))
    p = run(["-r", path, "--n-dissections", "0", "--max-flows-in-memory", "3", "-F", "jsonl", "-v"])
    check(p.returncode == 0, "exit %d" % p.returncode)
    rows = [json.loads(l) for l in p.stdout.decode().splitlines()]
    got = [(r["id"], r["expiration_id"], r["src_port"], r["bidirectional_packets"]) for r in rows]
    check(got == [(0, 2, 1001, 1), (1, 0, 1000, 2), (2, 0, 1002, 1), (3, 0, 1003, 1)], got)
    check("1 flows exported early by --max-flows-in-memory" in p.stderr.decode(), p.stderr.decode())


@case("sigint_flushes_cache")
def _():
    signal_flushes(signal.SIGINT)


@case("sigterm_flushes_cache")
def _():
    signal_flushes(signal.SIGTERM)


@case("sigpipe_ends_quietly")
def _():
    path = os.path.join(TMP, "many.pcap")
    write_pcap(path, 20000)
    p = subprocess.run("set -o pipefail; %s -r %s --n-dissections 0 | head -n 1 >/dev/null" % (FS, path),
                       shell=True, executable="/bin/bash", stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 0, "pipeline exit %d" % p.returncode)
    check(p.stderr == b"", "quiet, got %r" % p.stderr)


@case("full_disk_reports_lost_flows")
def _():
    if not os.path.exists("/dev/full"):
        raise AssertionError("/dev/full missing")
    path = os.path.join(TMP, "many2.pcap")
    write_pcap(path, 3000)
    p = run(["-r", path, "-o", "/dev/full", "--n-dissections", "0"])
    check(p.returncode == 1, "exit %d" % p.returncode)
    line = one_line(p.stderr)
    check("No space left on device" in line and "3000 flows not written" in line, line)


@case("files_and_interfaces_exclusive")
def _():
    good = os.path.join(TMP, "good.pcap")
    write_pcap(good, 1)
    p = run(["-r", good, "-i", "lo"])
    check(p.returncode == 2, "exit %d" % p.returncode)
    check("-r" in one_line(p.stderr) and "-i" in one_line(p.stderr), p.stderr.decode())


@case("n_meters_clamped_with_nfstream_warning")
def _():
    # the warning comes from validation, before the (failing) capture starts
    n = max(len(os.sched_getaffinity(0)) - 1, 0)
    p = run(["-i", "fs-nosuch0", "--capture", "pcap", "--n-meters", "4096"])
    check(p.returncode == 1, "exit %d" % p.returncode)
    lines = p.stderr.decode().splitlines()
    check(lines[0] == "WARNING: n_meters set to :%d in order to avoid contention." % n, lines)
    check(len(lines) == 2 and "'fs-nosuch0'" in lines[1], lines)


def udp_packet(src, dst, sport, dport, payload):
    """Ethernet/IPv4 or IPv6/UDP frame (addresses as bytes: 4 or 16)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if len(src) == 4:
        l3 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
        et = b"\x08\x00"
    else:
        l3 = struct.pack("!IHBB16s16s", 0x60000000, len(udp), 17, 64, src, dst)
        et = b"\x86\xdd"
    return bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + et + l3 + udp


def dtls_record(hs_type, body):
    """A DTLS 1.2 record holding one whole handshake message."""
    n = len(body)
    hs = bytes([hs_type]) + n.to_bytes(3, "big") + bytes(2) + bytes(3) + n.to_bytes(3, "big")
    return b"\x16\xfe\xfd" + bytes(8) + (len(hs) + n).to_bytes(2, "big") + hs + body


def dtls_hello_and_certificate(subject_o):
    """A DTLS ClientHello, then a Certificate whose subject is O=@subject_o
    (the elements nDPI 4.2 reads: issuer, validity, subject)."""
    hello = (b"\xfe\xfd" + bytes(32) + b"\x00\x00" + b"\x00\x02\xc0\x2b" + b"\x01\x00" +
             b"\x00\x00")

    def name(org):
        return b"\x55\x04\x0a\x0c" + bytes([len(org)]) + org
    cert = (b"\x30\x82\x00\xc0" + name(b"Issuer Org") + b"\x30\x1e\x17\x0d240101000000Z" +
            b"\x17\x0d350101000000Z" + name(subject_o))
    cert += bytes(200 - len(cert))
    certs = len(cert).to_bytes(3, "big") + cert
    return dtls_record(1, hello), dtls_record(11, len(certs).to_bytes(3, "big") + certs)


@case("dtls_certificate_that_crashes_ndpi_42")
def _():
    """nDPI 4.2 dereferences a NULL TCP header when an IPv4 DTLS
    certificate's subject matches one of its patterns (O=ntop.org here):
    flowsight keeps such certificates from nDPI, names the flow DTLS and
    says why once (with -v).  Over IPv6 nDPI takes the same certificate safely and
    refines the flow by its subject (as TLS.ntop, nDPI 4.2's name)."""
    hello, cert = dtls_hello_and_certificate(b"ntop.org")
    path = os.path.join(TMP, "dtls-cert.pcap")
    v4 = (bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    v6 = (bytes([0xfd] + [0] * 14 + [1]), bytes([0xfd] + [0] * 14 + [2]))
    frames = []
    for i, (c, srv) in enumerate((v4, v6)):
        frames.append(udp_packet(c, srv, 50000, 4433, hello))
        frames.append(udp_packet(srv, c, 4433, 50000, cert))
    with open(path, "wb") as f:
        f.write(pcap_header() + b"".join(record(fr, 1_000_000 + i * 1000)
                                         for i, fr in enumerate(frames)))
    out = os.path.join(TMP, "dtls-cert.csv")
    p = run(["-r", path, "-o", out, "-v"])
    check(p.returncode == 0, "exit %d: %r" % (p.returncode, p.stderr.decode()))
    lines = [l for l in p.stderr.decode().splitlines() if "DTLS" in l]
    check(len(lines) == 1 and "DTLS certificates over IPv4 are not given to nDPI 4.2" in lines[0],
          p.stderr.decode())
    with open(out) as f:
        rows = {r["ip_version"]: r for r in csv.DictReader(f)}
    check(rows["4"]["application_name"] == "DTLS", rows["4"]["application_name"])
    check(rows["6"]["application_name"] == "TLS.ntop", rows["6"]["application_name"])


def main():
    for c in CASES:
        c()
    print("%d passed, %d failed, %d skipped" % (res["passed"], res["failed"], res["skipped"]))
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
