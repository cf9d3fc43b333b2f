#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The C plugins (agent/plugins/*.c, built into build/plugins/*.so) through the
command line, against NFStream's own test values (tests.py: test_splt,
test_flow_slicer, test_dhcp, test_mdns) and against expectations derived here
from the captures' bytes: a model of NFStream's DHCP and MDNS plugins over this
file's own pcap reader (dpkt's unpacking rules restated, Python's own repr()),
on the shared captures and on malformed packets written here.  Then the host:
several plugins in order, every refusal (one line naming the file, exit 2, no
output file), and custom expiry after an idle split (NFStream PR #190) with a
test plugin counting its callbacks.  Test-only plugins (tests/plugins/*.c) are
built here with cc.  SKIPs when the shared data is absent.
"""
import copy
import csv
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "data", "nfstream-tests", "pcaps")
BUILD = os.environ.get("BUILD", "build")
FS = os.environ.get("FLOWSIGHT", os.path.join(BUILD, "flowsight"))
PLUGINS = os.path.join(BUILD, "plugins")
TMP = tempfile.mkdtemp(prefix="fs-plugins-")
CC = os.environ.get("CC", "cc")
results = {"passed": 0, "failed": 0, "skipped": 0}


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def pcap(name):
    return os.path.join(DATA, name)


def need_data():
    if not os.path.isdir(DATA):
        raise Skip("no shared captures at %s" % os.path.normpath(DATA))


def plugin(name, config=None):
    path = os.path.join(PLUGINS, name + ".so")
    if not os.path.exists(path):
        raise AssertionError("%s is not built (make)" % path)
    return path + (":" + config if config is not None else "")


TEST_PLUGINS = {}


def test_plugin(name, *defines):
    """tests/plugins/NAME.c built into TMP/NAME[-DEFINE...].so (once), with -DDEFINE..."""
    key = "-".join((name,) + defines)
    if key not in TEST_PLUGINS:
        out = os.path.join(TMP, key + ".so")
        cmd = [CC, "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
               "-I" + os.path.join(ROOT, "include")] + ["-D" + d for d in defines] + \
              [os.path.join(HERE, name + ".c"), "-o", out]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(p.returncode == 0, "%s: %s" % (" ".join(cmd), p.stdout.decode()))
        TEST_PLUGINS[key] = out
    return TEST_PLUGINS[key]


def run(*args, fmt="csv", ok=True):
    """The command's rows: CSV as (header, rows of cells), JSON lines as dicts."""
    cmd = [FS] + [str(a) for a in args] + (["-F", "jsonl"] if fmt == "jsonl" else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    if ok and p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                     p.stderr.decode()[-500:]))
    text = p.stdout.decode()
    if fmt == "jsonl":
        return [json.loads(l) for l in text.splitlines() if l]
    rows = list(csv.reader(io.StringIO(text), escapechar="\\"))
    return (rows[0] if rows else []), rows[1:]


def csv_dicts(args):
    header, rows = run(*args)
    return header, [dict(zip(header, r)) for r in rows]


def by_src_ip(rows):
    # pandas' sort_values(by=['src_ip']) on NFStream's test: the src_ip strings, stable
    return sorted(rows, key=lambda r: r["src_ip"])


# ---- pcap files: read and written here ------------------------------------------------

def read_pcap(path):
    """Classic pcap records as (time_us, orig_len, bytes), and the link type; None for
    another format (pcapng)."""
    with open(path, "rb") as f:
        d = f.read()
    if len(d) < 24:
        return None
    for endian in "<>":
        magic = struct.unpack(endian + "I", d[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        return None
    nano = magic == 0xA1B23C4D
    linktype = struct.unpack(endian + "I", d[20:24])[0] & 0x0FFFFFFF
    recs, off = [], 24
    while off + 16 <= len(d):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", d[off:off + 16])
        off += 16
        if off + incl > len(d):
            break
        recs.append((sec * 1000000 + (frac // 1000 if nano else frac), orig, d[off:off + incl]))
        off += incl
    return recs, linktype


def write_pcap(path, frames, times_ms=None):
    """Ethernet frames, 1 ms apart from 2024-01-01 unless @times_ms (microsecond pcap)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            t = 1704067200 * 1000000 + (times_ms[i] if times_ms else i) * 1000
            f.write(struct.pack("<IIII", t // 1000000, t % 1000000, len(fr), len(fr)))
            f.write(fr)


def ipv4_udp(src, dst, sport, dport, payload, ip_fix=None):
    """An Ethernet/IPv4/UDP frame; @ip_fix(header bytearray) may damage the IP header."""
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                               bytes(src), bytes(dst)))
    if ip_fix:
        ip_fix(ip)
    eth = b"\x00\x0b\x82\x01\xfc\x42" + b"\x00\x08\x74\xad\xf1\x9b" + b"\x08\x00"
    return eth + bytes(ip) + udp


def frame_ip(fr, linktype):
    """Ethernet (with VLAN tags) or raw: the IP bytes to the end of the capture, or None."""
    if linktype == 1:
        off, et = 14, struct.unpack(">H", fr[12:14])[0] if len(fr) >= 14 else 0
        while et == 0x8100 and len(fr) >= off + 4:
            et = struct.unpack(">H", fr[off + 2:off + 4])[0]
            off += 4
        if et not in (0x0800, 0x86DD):
            return None
        return fr[off:]
    if linktype == 113 and len(fr) >= 16:  # Linux cooked capture
        return fr[16:] if struct.unpack(">H", fr[14:16])[0] in (0x0800, 0x86DD) else None
    if linktype in (101, 228, 229):
        return fr
    return None


def flow_key(ip):
    """(key, src_ip text, dst_port) of an IPv4/IPv6 packet with its ports (UDP/TCP)."""
    v = ip[0] >> 4
    if v == 4 and len(ip) >= 20:
        hl, proto = (ip[0] & 15) * 4, ip[9]
        if struct.unpack(">H", ip[2:4])[0] < hl:
            return None  # flowsight ignores it, as NFStream (total length under the header's)
        src, dst = ip[12:16], ip[16:20]
        l4 = ip[hl:]
        text = ".".join(str(b) for b in src)
    elif v == 6 and len(ip) >= 40:
        proto, src, dst, l4 = ip[6], ip[8:24], ip[24:40], ip[40:]
        text = ipv6_text(src)
    else:
        return None
    sport = dport = 0
    if proto in (6, 17) and len(l4) >= (20 if proto == 6 else 8):
        sport, dport = struct.unpack(">HH", l4[:4])
    a, b = (src, sport), (dst, dport)
    return (proto,) + (a + b if a <= b else b + a), text, dport


def ipv6_text(b):
    import ipaddress
    return str(ipaddress.IPv6Address(bytes(b)))


# ---- NFStream's DHCP and MDNS plugins over dpkt's unpacking, restated ----------------

class Raise(Exception):
    """Where dpkt raises (NFStream ignores the packet) or NFStream itself fails."""


def be16(b, off):
    if off + 2 > len(b):
        raise Raise("struct.error")
    return struct.unpack(">H", b[off:off + 2])[0]


def dpkt_l4(ip):
    """dpkt.ip.IP(ip).data.data for UDP (and TCP)."""
    if len(ip) < 20:
        raise Raise("NeedData")
    hl = (ip[0] & 15) * 4
    if hl < 20:
        raise Raise("invalid header length")
    tot = be16(ip, 2)
    body = ip[hl:tot] if tot else ip[hl:]
    if be16(ip, 6) & 0x1FFF:
        raise Raise("a fragment: bytes, no .data")
    if ip[9] == 17:
        if len(body) < 8:
            raise Raise("UDP NeedData")
        return body[8:]
    if ip[9] == 6:
        if len(body) < 20 or (body[12] >> 4) * 4 < 20:
            raise Raise("TCP")
        return body[(body[12] >> 4) * 4:]
    raise Raise("no transport")


def dhcp_unpack(buf):
    if len(buf) < 240:
        raise Raise("NeedData")
    hln = buf[2]
    opts, o = [], buf[240:]
    while o:
        if o[0] == 0xFF:
            break
        if o[0] == 0:
            o = o[1:]
            continue
        if len(o) < 2:
            raise Raise("IndexError")
        n = o[1]
        opts.append((o[0], o[2:2 + n]))
        o = o[2 + n:]
    return {"chaddr": buf[28:44][:hln], "ciaddr": struct.unpack(">I", buf[12:16])[0],
            "opts": opts}


MSG_TYPES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NACK",
             7: "RELEASE", 8: "INFORM"}


def dhcp_model(u, flow, ip):
    """NFStream's DHCP.on_update on the udps dict @u (raises Raise to ignore)."""
    import ipaddress
    if flow["dst_port"] != 67:
        return False
    d = dhcp_unpack(dpkt_l4(ip))
    msg, options, opt50, opt55 = 0, [], None, None
    for code, val in d["opts"]:
        if code == 12:
            host = val.decode("utf-8", errors="replace").split("\0")[0]  # C strings end at NUL
            if len(val) > 0:
                u["dhcp_12"] = host
        elif code == 53:
            v = int.from_bytes(val, "big")
            if v not in MSG_TYPES:
                raise Raise("MsgType ValueError")
            msg = v
        elif code in (60, 77):
            try:
                u["dhcp_%d" % code] = val.decode("utf-8")
            except UnicodeDecodeError:
                raise Raise("UnicodeDecodeError")
        elif code == 57:
            v = int.from_bytes(val, "big")
            if v < 2 ** 63:  # flowsight keeps int64 values only
                u["dhcp_57"] = v
        elif code == 55:
            opt55 = ",".join(str(i) for i in val)
        elif code == 50:
            v = int.from_bytes(val, "big")
            if v >= 2 ** 128:
                raise Raise("ip_address ValueError")
            opt50 = ipaddress.ip_address(v)
        options.append(code)
    if msg == 3:
        if len(d["chaddr"]) != 6:
            raise Raise("struct.error")
        u["dhcp_oui"] = "%02x:%02x:%02x" % tuple(d["chaddr"][:3])
        u["dhcp_options"] = options
        u["dhcp_55"] = opt55
        u["dhcp_50"] = str(opt50) if opt50 is not None else None
        if d["ciaddr"]:
            u["dhcp_addr"] = str(ipaddress.ip_address(d["ciaddr"]))
    if u["dhcp_msg_type"] is None:
        u["dhcp_msg_type"] = "MsgType." + MSG_TYPES[msg] if msg else "0"
    return msg in (5, 6, 8, 4) or flow["src_ip"] == "0.0.0.0"


def dns_name(buf, off):
    labels, saved, start, length = [], 0, off, 0
    while True:
        if off >= len(buf):
            raise Raise("NeedData")
        n = buf[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            ptr = be16(buf, off) & 0x3FFF
            if ptr >= start:
                raise Raise("Invalid label compression pointer")
            off += 2
            saved = saved or off
            start = off = ptr
        elif n & 0xC0 == 0:
            labels.append(buf[off + 1:off + 1 + n])
            length += n + 1
            if length > 255:
                raise Raise("name longer than 255 bytes")
            off += 1 + n
        else:
            raise Raise("Invalid label length")
    try:
        return b".".join(labels).decode("utf-8"), saved or off
    except UnicodeDecodeError:
        raise Raise("UnicodeDecodeError")


def dns_ptr_answers(buf):
    """The PTR names of the answers of dpkt.dns.DNS(buf)."""
    if len(buf) < 12:
        raise Raise("NeedData")
    counts = struct.unpack(">HHHH", buf[4:12])
    off, ptrs = 12, []
    for _ in range(counts[0]):
        _, off = dns_name(buf, off)
        if off + 4 > len(buf):
            raise Raise("struct.error")
        off += 4
    for sec in range(1, 4):
        for _ in range(counts[sec]):
            _, off = dns_name(buf, off)
            if off + 10 > len(buf):
                raise Raise("struct.error")
            rtype, rdlen = be16(buf, off), be16(buf, off + 8)
            off += 10
            rdata = buf[off:off + rdlen]
            if rtype in (2, 5, 12):
                name, _ = dns_name(buf, off)
                if sec == 1 and rtype == 12:
                    ptrs.append(name)
            elif rtype == 6:
                _, o = dns_name(buf, off)
                _, o = dns_name(buf, o)
                if o + 20 > len(buf):
                    raise Raise("struct.error")
            elif rtype == 15:
                if len(rdata) < 2:
                    raise Raise("struct.error")
                dns_name(buf, off + 2)
            elif rtype == 33:
                if len(rdata) < 6:
                    raise Raise("struct.error")
                dns_name(buf, off + 6)
            elif rtype in (13, 16):
                while rdata:
                    try:
                        rdata[1:1 + rdata[0]].decode("utf-8")
                    except UnicodeDecodeError:
                        raise Raise("UnicodeDecodeError")
                    rdata = rdata[1 + rdata[0]:]
            elif rtype not in (1, 10, 28, 41):
                raise Raise("RR type %d is not supported" % rtype)
            off += rdlen
    return ptrs


def mdns_model(u, flow, ip):
    if flow["dst_port"] != 5353:
        return False
    for ptr in dns_ptr_answers(dpkt_l4(ip)):
        ptr = ptr.replace(",", " ")
        if ptr not in u["mdns_ptr"]:
            u["mdns_ptr"].append(ptr)
    return False


DHCP_COLS = ["dhcp_12", "dhcp_50", "dhcp_55", "dhcp_57", "dhcp_60", "dhcp_77", "dhcp_options",
             "dhcp_addr", "dhcp_msg_type", "dhcp_oui"]


def model_flows(path, which):
    """The flows NFStream would give for @path (no timeout within it) with the DHCP or
    MDNS plugin: [(src_ip, bidirectional_packets, expiration_id, udps)] in its order."""
    recs, linktype = read_pcap(path)
    cache, out = OrderedDict(), []
    for _, _, fr in recs:
        ip = frame_ip(fr, linktype)
        k = flow_key(ip) if ip else None
        if not k:
            continue
        key, src, dport = k
        flow = cache.get(key)
        if flow is None:
            flow = {"src_ip": src, "dst_port": dport, "packets": 0}
            if which == "dhcp":
                flow["udps"] = {c: None for c in DHCP_COLS}
                flow["udps"]["dhcp_options"] = []
            else:
                flow["udps"] = {"mdns_ptr": []}
            cache[key] = flow
        flow["packets"] += 1
        trial = copy.deepcopy(flow["udps"])
        try:
            expire = (dhcp_model if which == "dhcp" else mdns_model)(trial, flow, ip)
            flow["udps"] = trial
        except Raise:
            expire = False
        if expire:
            out.append((flow["src_ip"], flow["packets"], -1, flow["udps"]))
            del cache[key]
    for flow in cache.values():
        out.append((flow["src_ip"], flow["packets"], 0, flow["udps"]))
    for f in out:
        if which == "mdns":
            f[3]["mdns_ptr"] = repr(f[3]["mdns_ptr"])
    return out


def compare_model(path, which, plugin_path):
    rows = run("-r", path, "--n-dissections", 0, "--plugin", plugin_path, fmt="jsonl")
    want = model_flows(path, which)
    check(len(rows) == len(want), "%s: %d flows, the model has %d" % (path, len(rows), len(want)))
    for i, (r, (src, packets, exp, udps)) in enumerate(zip(rows, want)):
        got = (r["src_ip"], r["bidirectional_packets"], r["expiration_id"],
               {k[5:]: v for k, v in r.items() if k.startswith("udps.")})
        check(got == (src, packets, exp, udps), "%s flow %d: %r, the model says %r"
              % (os.path.basename(path), i, got, (src, packets, exp, udps)))
    return rows


# ---- cases ----------------------------------------------------------------------------------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def splt_google_ssl():
    need_data()
    header, rows = csv_dicts(["-r", pcap("google_ssl.pcap"), "--splt-analysis", 5,
                              "--plugin", plugin("splt", "sequence_length=5,accounting_mode=0")])
    check(len(rows) == 1, "one flow, not %d" % len(rows))
    r = rows[0]
    want = {"direction": "[0, 1, 0, 0, 1]", "ps": "[58, 60, 54, 180, 60]",
            "piat_ms": "[0, 34, 134, 144, 35]"}
    for k, v in want.items():
        check(r["udps.splt_" + k] == v, "udps.splt_%s = %s, NFStream's %s" % (k, r["udps.splt_" + k], v))
        check(r["splt_" + k] == v, "native splt_%s = %s" % (k, r["splt_" + k]))
    check(header[-3:] == ["udps.splt_direction", "udps.splt_ps", "udps.splt_piat_ms"],
          "udps columns last: %s" % header[-4:])


@case
def splt_every_capture():
    """Plugin SPLT == native SPLT, cell for cell, on every shared capture."""
    need_data()
    files = sorted(f for f in os.listdir(DATA) if not f.startswith("."))
    check(len(files) > 100, "only %d captures" % len(files))
    configs = [(5, 0), (1, 1), (20, 3), (100, 2)]
    flows = compared = 0
    for i, name in enumerate(files):
        # every file with length 5 and mode 0, and one other configuration in turn
        for n, mode in (configs[0], configs[1 + i % 3]):
            cmd = [FS, "-r", pcap(name), "--n-dissections", "0", "--splt-analysis", str(n),
                   "--accounting-mode", str(mode), "-F", "jsonl",
                   "--plugin", plugin("splt", "sequence_length=%d,accounting_mode=%d" % (n, mode))]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            if p.returncode != 0:
                # a capture flowsight refuses: refused the same way without the plugin
                q = subprocess.run(cmd[:-2], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                check(q.returncode == p.returncode, "%s: exit %d with SPLT, %d without: %s"
                      % (name, p.returncode, q.returncode, p.stderr.decode()[-300:]))
                continue
            for line in p.stdout.decode().splitlines():
                r = json.loads(line)
                for k in ("direction", "ps", "piat_ms"):
                    check(r["udps.splt_" + k] == r["splt_" + k] and len(r["splt_" + k]) == n,
                          "%s (%d, %d) flow %d: udps.splt_%s %s, native %s" % (
                              name, n, mode, r["id"], k, r["udps.splt_" + k], r["splt_" + k]))
                flows += 1
            compared += 1
    check(flows > 5000, "only %d flows compared" % flows)
    print("   SPLT plugin == native on %d runs of %d captures, %d flows" % (compared, len(files), flows))


@case
def splt_long_gap():
    """A gap of 2^32 ms or more inside a flow (idle timeout of 115 days): piat as native."""
    a, b = [10, 0, 0, 1], [10, 0, 0, 2]
    frames = [ipv4_udp(a, b, 4000, 53, b"x" * n) for n in (10, 20, 30, 40)]
    gap = 50 * 86400 * 1000  # 4,320,000,000 ms
    path = os.path.join(TMP, "gap.pcap")
    write_pcap(path, frames, [0, 7, 7 + gap, 7 + gap + 5])
    for n in (3, 6):
        rows = run("-r", path, "--idle-timeout", 10000000, "--active-timeout", 20000000,
                   "--splt-analysis", n, "--plugin", plugin("splt", "sequence_length=%d" % n),
                   fmt="jsonl")
        check(len(rows) == 1, "one flow, not %d" % len(rows))
        r = rows[0]
        want = [0, 7, gap, 5, -1, -1][:n]
        check(r["splt_piat_ms"] == want, "native piat %s, expected %s" % (r["splt_piat_ms"], want))
        for k in ("direction", "ps", "piat_ms"):
            check(r["udps.splt_" + k] == r["splt_" + k], "udps.splt_%s %s, native %s"
                  % (k, r["udps.splt_" + k], r["splt_" + k]))


def slicer_rows(limit):
    header, rows = csv_dicts(["-r", pcap("google_ssl.pcap"), "--plugin",
                              plugin("flowslicer", "limit=%d" % limit)])
    return rows


@case
def flowslicer_limit_1():
    need_data()
    rows = slicer_rows(1)
    check(len(rows) == 28 and rows[-1]["id"] == "27", "%d flows, last id %s" % (len(rows), rows[-1]["id"]))
    check(all(r["expiration_id"] == "-1" and r["bidirectional_packets"] == "1" for r in rows),
          "every flow one packet, expiration_id -1")


@case
def flowslicer_limit_4():
    need_data()
    rows = slicer_rows(4)
    check(len(rows) == 7 and rows[-1]["id"] == "6", "%d flows, last id %s" % (len(rows), rows[-1]["id"]))
    check([r["bidirectional_packets"] for r in rows] == ["4"] * 7, "4 packets per flow")
    check(sum(int(r["bidirectional_packets"]) for r in rows) == 28, "28 packets in all")
    check(all(r["expiration_id"] == "-1" for r in rows), "expiration_id -1 on every sliced flow")
    # slices follow the capture: each flow starts where the last one stopped
    firsts = [int(r["bidirectional_first_seen_ms"]) for r in rows]
    lasts = [int(r["bidirectional_last_seen_ms"]) for r in rows]
    check(all(lasts[i] <= firsts[i + 1] for i in range(6)), "slices in capture order")


@case
def flowslicer_limit_over_flow():
    """A limit no flow reaches: NFStream's one flow, expired at the end (0)."""
    need_data()
    rows = slicer_rows(29)
    check(len(rows) == 1 and rows[0]["expiration_id"] == "0" and
          rows[0]["bidirectional_packets"] == "28", "one flow of 28 packets, expiration_id 0")


@case
def dhcp_nfstream():
    need_data()
    header, rows = csv_dicts(["-r", pcap("dhcp.pcap"), "--n-dissections", 0,
                              "--plugin", plugin("dhcp")])
    check(len(rows) == 3, "3 flows, not %d" % len(rows))
    check(header[-10:] == ["udps." + c for c in DHCP_COLS], "columns: %s" % header[-10:])
    rows = by_src_ip(rows)
    check(rows[0]["udps.dhcp_msg_type"] == "MsgType.DISCOVER", "row 0: %s" % rows[0]["udps.dhcp_msg_type"])
    want = {"dhcp_50": "192.168.0.10", "dhcp_55": "1,3,6,42", "dhcp_options": "[53, 61, 50, 54, 55]",
            "dhcp_msg_type": "MsgType.REQUEST", "dhcp_oui": "00:0b:82"}
    for k, v in want.items():
        check(rows[1]["udps." + k] == v, "row 1 %s = %r, NFStream's %r" % (k, rows[1]["udps." + k], v))


@case
def dhcp_capture_bytes():
    """Every column of dhcp.pcap's flows from its bytes, read here (JSON: None is null)."""
    need_data()
    path = pcap("dhcp.pcap")
    recs, _ = read_pcap(path)
    pk = [dhcp_unpack(dpkt_l4(frame_ip(fr, 1))) for _, _, fr in recs]
    # DISCOVER, OFFER, REQUEST, ACK: the client's from 0.0.0.0:68 to port 67, each a flow
    check([dict(p["opts"])[53] for p in pk] == [b"\x01", b"\x02", b"\x03", b"\x05"], "the exchange")
    rows = compare_model(path, "dhcp", plugin("dhcp"))
    req = dict(pk[2]["opts"])
    u = {k[5:]: v for k, v in by_src_ip(rows)[1].items() if k.startswith("udps.")}
    check(u["dhcp_50"] == ".".join(str(b) for b in req[50]), "dhcp_50 %s" % u["dhcp_50"])
    check(u["dhcp_55"] == ",".join(str(b) for b in req[55]), "dhcp_55 %s" % u["dhcp_55"])
    check(u["dhcp_options"] == [c for c, _ in pk[2]["opts"]], "dhcp_options %s" % u["dhcp_options"])
    check(u["dhcp_oui"] == pk[2]["chaddr"][:3].hex(":"), "dhcp_oui %s" % u["dhcp_oui"])
    # no option 12, 57, 60 or 77 anywhere, ciaddr 0.0.0.0: None
    check(all(u[k] is None for k in ("dhcp_12", "dhcp_57", "dhcp_60", "dhcp_77", "dhcp_addr")), "None: %r" % u)
    srv = by_src_ip(rows)[2]
    check(srv["src_ip"] == "192.168.0.1" and srv["dst_port"] == 68 and srv["udps.dhcp_options"] == []
          and srv["udps.dhcp_msg_type"] is None, "the server's flow (to port 68) is not read")


@case
def mdns_nfstream():
    need_data()
    header, rows = csv_dicts(["-r", pcap("mdns.pcap"), "--n-dissections", 0,
                              "--plugin", plugin("mdns")])
    rows = by_src_ip(rows)
    want = ("['skynet.local', 'skynet [00:1a:ef:17:c3:05]._workstation._tcp.local', "
            "'recombinator_mpd._mpd._tcp.local', '_mpd._tcp.local', 'skynet._udisks-ssh._tcp.local', "
            "'_udisks-ssh._tcp.local', '_workstation._tcp.local']")
    check(rows[0]["udps.mdns_ptr"] == want, "row 0: %s" % rows[0]["udps.mdns_ptr"])
    check(header[-1] == "udps.mdns_ptr", "last column %s" % header[-1])


@case
def mdns_every_flow():
    """Every flow of mdns.pcap as the model of NFStream's MDNS plugin has it."""
    need_data()
    rows = compare_model(pcap("mdns.pcap"), "mdns", plugin("mdns"))
    check(sum(r["udps.mdns_ptr"] != "[]" for r in rows) >= 7, "PTR answers in several flows")


def malformed_frames():
    """DHCP and mDNS packets damaged in every way the parsers meet, one flow each (its own
    source port) unless a case needs several packets in one flow."""
    cli, srv, mc = [0, 0, 0, 0], [192, 168, 0, 1], [224, 0, 0, 251]
    bootp = bytearray(240)
    bootp[0], bootp[1], bootp[2] = 1, 1, 6
    bootp[28:34] = b"\x00\x0b\x82\x01\xfc\x42"
    bootp[236:240] = b"\x63\x82\x53\x63"

    def dh(opts, hln=6, ciaddr=b"\0\0\0\0", cut=None):
        b = bytearray(bootp)
        b[2], b[12:16] = hln, ciaddr
        b = bytes(b) + opts
        return b[:cut] if cut is not None else b

    req = b"\x35\x01\x03\x32\x04\xc0\xa8\x00\x0a\x37\x04\x01\x03\x06\x2a"
    dhcp = [
        dh(req + b"\xff"),                               # a good REQUEST
        dh(req + b"\x0c\x05host\xff\xff"),              # host name with a bad byte
        dh(req + b"\x0c\x00"),                           # empty host name: not kept
        dh(b"\x35\x01\x09\xff"),                         # message type 9: NFStream fails
        dh(b"\x35\x00\xff"),                             # message type 0 bytes long
        dh(b"\x35\x02\x00\x05\xff"),                     # two-byte ACK
        dh(b"\x35\x01\x01\x3c\x03\xff\xfe\x41\xff"),    # vendor class not UTF-8
        dh(b"\x35\x01\x01\x4d\x04ab\"c\x3c\x05a\\b,c\xff"),  # quotes, backslash, comma
        dh(b"\x35\x01\x01\x39\x02\x05\xdc\x39\x09" + b"\x01" * 9),  # 57 wide: the first kept
        dh(b"\x35\x01\x03\x32\x10" + bytes(range(1, 17))),  # 128-bit requested address
        dh(b"\x35\x01\x03\x32\x11\x01" + bytes(16)),     # 136 bits: ip_address() fails
        dh(b"\x35\x01\x03\x32\x06\0\0\0\0\0\x07"),      # 48 bits below 2^32: IPv4
        dh(b"\x35\x01\x03\x32\x10" + bytes(8) + b"\0\0\0\x01" + bytes(4)),  # zeros compressed
        dh(req, hln=5),                                  # REQUEST, chaddr of 5 bytes: fails
        dh(b"\x35\x01\x01", hln=17),                     # DISCOVER: hln unused
        dh(req + b"\xff", ciaddr=b"\x0a\x00\x00\x07"),   # ciaddr given
        dh(b"\x35\x01\x03\x00\x00\x0c"),                 # an option code as the last byte
        dh(b"\x35\x01\x03\x37\x40\x01\x02"),             # option longer than the packet
        dh(req, cut=239),                                # BOOTP cut short
        dh(b""),                                         # no options at all: type "0"
        dh(b"\x35\x01\x08\xff") + b"trailing",          # INFORM, bytes after the end
    ]

    def name(*labels):
        return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"

    def rr(nm, rtype, rdata, rdlen=None):
        return nm + struct.pack(">HHIH", rtype, 1, 120, len(rdata) if rdlen is None else rdlen) + rdata

    def dns(an=(), qd=(), ns=(), ar=(), counts=None):
        c = counts or (len(qd), len(an), len(ns), len(ar))
        return struct.pack(">HHHHHH", 0, 0x8400, *c) + b"".join(qd) + b"".join(an) + b"".join(ns) + b"".join(ar)

    svc = name(b"_svc", b"_tcp", b"local")  # at offset 12 when first
    ptr_to_12 = b"\xc0\x0c"
    mdns = [
        dns(an=[rr(svc, 12, name(b"a,b", b"local"))]),                     # comma -> space
        dns(an=[rr(svc, 12, b"\x03x'y" + ptr_to_12)]),                     # quote, compressed
        dns(an=[rr(svc, 12, name(b"q'\"z")), rr(svc, 12, name(b"b\\s"))]),  # both quotes, backslash
        dns(an=[rr(svc, 12, name(b"t\tn\nc\x01")), rr(svc, 12, name("é€😀".encode()))]),
        dns(an=[rr(svc, 12, name("\u00ad\u0378\ue000\u200b".encode()))]),  # repr escapes
        dns(an=[rr(svc, 12, name(b"\xff\xfe"))]),                          # not UTF-8: fails
        dns(an=[rr(ptr_to_12, 12, name(b"self"))]),                        # pointer to itself
        dns(an=[rr(b"\xc0\x40", 12, name(b"fwd"))]),                       # pointer forwards
        dns(an=[rr(svc, 12, b"\x80abc")]),                                 # label type 0x80
        dns(an=[rr(svc, 12, name(*[b"x" * 63] * 4))]),                     # name of 256 bytes
        dns(an=[rr(svc, 12, name(*[b"x" * 63] * 3, b"x" * 61))]),          # name of 254 bytes
        dns(an=[rr(svc, 12, name(b"ok")), rr(svc, 47, b"\0" * 6)]),        # NSEC: not known
        dns(an=[rr(svc, 12, name(b"ok2"))], ar=[rr(svc, 16, b"\x02\xc3\x28")]),  # TXT not UTF-8
        dns(an=[rr(svc, 12, name(b"ok3"))], ar=[rr(svc, 16, b"\x03a=b\x09cut")]),  # TXT cut short
        dns(an=[rr(svc, 12, name(b"ok4")), rr(svc, 15, b"\x00")]),          # MX without its name
        dns(an=[rr(svc, 33, b"\0" * 6 + ptr_to_12), rr(svc, 12, name(b"ok5"))]),  # SRV then PTR
        dns(an=[rr(svc, 6, name(b"m") + name(b"r") + b"\0" * 19)]),          # SOA cut short
        dns(an=[rr(svc, 12, name(b"dup")), rr(svc, 12, name(b"dup"))]),      # once in the list
        dns(an=[rr(svc, 12, name(b"cut"))], counts=(0, 2, 0, 0)),           # one answer missing
        dns(qd=[name(b"q") + b"\0\x0c"], an=[rr(svc, 12, name(b"ok6"))]),   # question cut short
        dns(qd=[name(b"q") + b"\0\x0c\0\x01"], an=[rr(svc, 12, name(b"ok7"))]),
        dns(an=[rr(svc, 12, name(b"root-ptr")), rr(svc, 12, b"\0")]),        # the root name ''
        dns(an=[rr(svc, 12, name(b"big"), rdlen=60000)]),                    # rdlen past the end
        b"\0" * 11,                                                           # header cut short
        dns(an=[rr(svc, 12, b"\x05abc")]),                                   # label cut short
        dns(an=[rr(svc, 12, b"\xc0")]),                                      # half a pointer
    ]
    frames, port = [], 1000
    for p in dhcp:
        port += 1
        frames.append(ipv4_udp(cli, [255] * 4, port, 67, p))
    # a renewal flow from a real address: REQUEST with 50 and 55, then one without: None again
    renew = [1, 2, 3, 4]
    frames.append(ipv4_udp(renew, srv, 68, 67, dh(req + b"\xff")))
    frames.append(ipv4_udp(renew, srv, 68, 67, dh(b"\x35\x01\x03\x36\x04\xc0\xa8\x00\x01\xff")))
    frames.append(ipv4_udp(renew, srv, 68, 67, dh(b"\x35\x01\x07\xff")))  # RELEASE: no expiry
    for p in mdns:
        port += 1
        frames.append(ipv4_udp([10, 0, 0, 9], mc, port, 5353, p))
    # IP headers dpkt reads its own way
    good = dns(an=[rr(svc, 12, name(b"iphdr"))])
    fixes = [
        lambda h: h.__setitem__(slice(2, 4), struct.pack(">H", 0)),         # total length 0: to the end
        lambda h: h.__setitem__(slice(2, 4), struct.pack(">H", 20 + 8 + 5)),  # shorter: DNS cut
        lambda h: h.__setitem__(slice(2, 4), struct.pack(">H", 9000)),      # longer than captured
        lambda h: h.__setitem__(slice(6, 8), struct.pack(">H", 0x2000)),    # first fragment (MF)
    ]
    for fx in fixes:
        port += 1
        frames.append(ipv4_udp([10, 0, 0, 9], mc, port, 5353, good, ip_fix=fx))
    # one mDNS flow gathering names over several packets
    for nm in (b"one", b"two", b"one", b"thr,ee"):
        frames.append(ipv4_udp([10, 0, 0, 8], mc, 5353, 5353, dns(an=[rr(svc, 12, name(nm))])))
    return frames


@case
def malformed_packets():
    """Damaged DHCP and DNS: the model's values, nothing read out of bounds (valgrind)."""
    path = os.path.join(TMP, "malformed.pcap")
    write_pcap(path, malformed_frames())
    compare_model(path, "dhcp", plugin("dhcp"))
    rows = compare_model(path, "mdns", plugin("mdns"))
    gathered = [r for r in rows if r["src_ip"] == "10.0.0.8"]
    check(len(gathered) == 1 and gathered[0]["udps.mdns_ptr"] == "['one', 'two', 'thr ee']",
          "names gathered over packets: %r" % gathered)
    dh = run("-r", path, "--n-dissections", 0, "--plugin", plugin("dhcp"), fmt="jsonl")
    renew = [r for r in dh if r["src_ip"] == "1.2.3.4"]
    check(len(renew) == 1 and renew[0]["udps.dhcp_50"] is None and renew[0]["udps.dhcp_55"] is None
          and renew[0]["udps.dhcp_options"] == [53, 54] and renew[0]["expiration_id"] == 0,
          "a REQUEST without 50 and 55 sets them to None: %r" % renew)
    v6 = [r["udps.dhcp_50"] for r in dh if r["udps.dhcp_50"] and ":" in r["udps.dhcp_50"]]
    check(v6 == ["102:304:506:708:90a:b0c:d0e:f10", "::1:0:0"], "IPv6 texts: %r" % v6)


@case
def mutated_packets():
    """Random damage to the real DHCP and mDNS packets: the model's values, no crash."""
    need_data()
    rng = random.Random(14)
    for name, which in (("dhcp.pcap", "dhcp"), ("mdns.pcap", "mdns")):
        recs, linktype = read_pcap(pcap(name))
        frames = []
        for i in range(600):
            _, _, fr = recs[rng.randrange(len(recs))]
            fr = bytearray(fr)
            start = 14 + 28  # past Ethernet, IPv4 and UDP headers
            for _ in range(rng.randint(1, 6)):
                kind = rng.random()
                pos = rng.randrange(start, len(fr))
                if kind < 0.6:
                    fr[pos] = rng.randrange(256)
                elif kind < 0.8:
                    fr[pos] = rng.choice([0, 0xC0, 0x3F, 0xFF, 0x0C, 0x35])
                else:
                    del fr[pos:]
                    break
            frames.append(bytes(fr))
        path = os.path.join(TMP, "mutated-%s" % name)
        write_pcap(path, frames)
        compare_model(path, which, plugin(which))


@case
def plugins_in_order():
    """SPLT, FlowSlicer, the example and DHCP at once: columns in order, each one's values."""
    need_data()
    args = ["-r", pcap("google_ssl.pcap"), "--splt-analysis", 5,
            "--plugin", plugin("splt", "sequence_length=5"),
            "--plugin", plugin("flowslicer", "limit=4"),
            "--plugin", plugin("example_pktsize", "custom_size=60"),
            "--plugin", plugin("dhcp")]
    header, rows = csv_dicts(args)
    tail = ["udps.splt_direction", "udps.splt_ps", "udps.splt_piat_ms", "udps.packet_with_666_size"] + \
        ["udps." + c for c in DHCP_COLS]
    check(header[-len(tail):] == tail, "columns %s" % header[-len(tail):])
    check(header.index("udps.splt_direction") > header.index("splt_piat_ms"), "after NFStream's")
    check(len(rows) == 7, "FlowSlicer's 7 flows, not %d" % len(rows))
    recs, _ = read_pcap(pcap("google_ssl.pcap"))
    sizes = [orig for _, orig, _ in recs]
    for i, r in enumerate(rows):
        for k in ("direction", "ps", "piat_ms"):
            check(r["udps.splt_" + k] == r["splt_" + k], "flow %d splt_%s" % (i, k))
        check(r["udps.splt_ps"] == str(sizes[4 * i:4 * i + 4] + [-1]).replace("'", ""),
              "flow %d udps.splt_ps %s, the capture's %s" % (i, r["udps.splt_ps"], sizes[4 * i:4 * i + 4]))
        check(r["udps.packet_with_666_size"] == str(sizes[4 * i:4 * i + 4].count(60)),
              "flow %d: %s packets of 60 bytes" % (i, r["udps.packet_with_666_size"]))
        check(r["udps.dhcp_options"] == "[]" and r["udps.dhcp_msg_type"] == "", "DHCP: nothing")
    # the same plugins in another order: the columns follow
    args2 = args[:4] + args[8:10] + args[4:8] + args[10:]
    header2, _ = csv_dicts(args2)
    check(header2[-len(tail):] == tail[3:4] + tail[:3] + tail[4:], "columns follow the order")


@case
def example_pktsize():
    """The README's example: packets of a size per flow, counted here from the capture."""
    need_data()
    path = pcap("webex.pcap")
    recs, linktype = read_pcap(path)
    sizes = {}
    for _, orig, fr in recs:
        ip = frame_ip(fr, linktype)
        if ip and flow_key(ip):  # the frames that make flows
            sizes[orig] = sizes.get(orig, 0) + 1
    size = max(sizes, key=lambda s: (sizes[s], s))
    for config, want in ((None, sizes.get(666, 0)), ("custom_size=%d" % size, sizes[size])):
        rows = run("-r", path, "--n-dissections", 0, "--plugin", plugin("example_pktsize", config),
                   fmt="jsonl")
        got = sum(r["udps.packet_with_666_size"] for r in rows)
        check(got == want, "%s: %d packets, the capture has %d" % (config, got, want))
        check(all(isinstance(r["udps.packet_with_666_size"], int) for r in rows), "set on every flow")
    check(sizes[size] > 10, "a size seen %d times" % sizes[size])


@case
def example_pktsize_mkpcap():
    """The same on a capture the project's generator writes: its frames counted here."""
    mk = os.environ.get("MKPCAP", os.path.join(BUILD, "mkpcap"))
    if not os.path.exists(mk):
        raise Skip("%s not built (make tools)" % mk)
    path = os.path.join(TMP, "handshake.pcap")
    subprocess.run([mk, "eth_tcp_handshake", path], check=True, stdout=subprocess.PIPE)
    recs, _ = read_pcap(path)
    size = recs[0][1]
    want = sum(1 for _, orig, _ in recs if orig == size)
    rows = run("-r", path, "--plugin", plugin("example_pktsize", "custom_size=%d" % size), fmt="jsonl")
    check(sum(r["udps.packet_with_666_size"] for r in rows) == want, "%d frames of %d bytes" % (want, size))


@case
def packet_bytes():
    """ip_packet is the IP header to the end of the capture, for every packet; NULL when
    every plugin declares FS_PLUGIN_NO_BYTES (read-ahead may then run)."""
    need_data()
    path = pcap("google_ssl.pcap")
    recs, linktype = read_pcap(path)
    want = sum(len(frame_ip(fr, linktype)) for _, _, fr in recs)
    for n_dissections in (0, 20):
        rows = run("-r", path, "--n-dissections", n_dissections,
                   "--plugin", test_plugin("bytes_seen"), fmt="jsonl")
        check(len(rows) == 1 and rows[0]["udps.ip_bytes"] == want and rows[0]["udps.ip_first"] == 4,
              "%d bytes of IP in the capture: %r" % (want, rows))
        check(rows[0]["udps.late_rc"] == -22, "set_flow_state_bytes outside init(): %r" % rows[0])
    rows = run("-r", path, "--n-dissections", 0, "--plugin", test_plugin("bytes_seen", "NO_BYTES"),
               fmt="jsonl")
    check(rows[0]["udps.ip_bytes"] == 0 and rows[0]["udps.ip_first"] == -1, "no bytes: %r" % rows)


@case
def packet_fields():
    """Every fs_packet field summed over each flow equals the flow's own columns (flags,
    sizes in each accounting mode, directions, times), on several shared captures."""
    need_data()
    names = ["google_ssl.pcap", "dhcp.pcap", "mdns.pcap", "443-chrome.pcap", "quic_t51.pcap",
             "ftp.pcap", "ipv6_in_gtp.pcap", "tcp_flags.pcap", "nintendo.pcap"]
    flows = 0
    for name in (n for n in names if os.path.exists(pcap(n))):
        by_mode = []
        for mode in range(4):
            by_mode.append(run("-r", pcap(name), "--n-dissections", 0, "--statistical-analysis",
                               "--accounting-mode", mode, "--plugin", test_plugin("fields"), fmt="jsonl"))
        rows = by_mode[0]
        for i, r in enumerate(rows):
            u = {k[5:]: v for k, v in r.items() if k.startswith("udps.")}
            for flag in ("syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin"):
                check(u[flag] == r["bidirectional_%s_packets" % flag], "%s flow %d %s: %d, column %d"
                      % (name, i, flag, u[flag], r["bidirectional_%s_packets" % flag]))
            for mode, size in enumerate(("raw", "ip", "transport", "payload")):
                check(u[size] == by_mode[mode][i]["bidirectional_bytes"], "%s flow %d %s bytes"
                      % (name, i, size))
            check(u["dst2src"] == r["dst2src_packets"], "%s flow %d directions" % (name, i))
            check(u["delta"] == r["bidirectional_duration_ms"], "%s flow %d: delta_time adds up to %d, "
                  "duration %d" % (name, i, u["delta"], r["bidirectional_duration_ms"]))
            check((u["first"], u["last"]) == (r["bidirectional_first_seen_ms"], r["bidirectional_last_seen_ms"]),
                  "%s flow %d times" % (name, i))
            check(u["src_port0"] == r["src_port"], "%s flow %d: the first packet's src_port" % (name, i))
            flows += 1
    check(flows > 20, "only %d flows" % flows)


@case
def valgrind_malformed():
    """The damaged packets through every plugin under valgrind: no invalid read, no leak."""
    if not shutil.which("valgrind"):
        raise Skip("valgrind not installed (make deps)")
    if "san" in os.path.basename(os.path.dirname(os.path.abspath(FS))):
        raise Skip("%s is an ASan build: valgrind cannot run it (the plain build is checked)" % FS)
    path = os.path.join(TMP, "vg.pcap")
    frames = malformed_frames()
    if os.path.isdir(DATA):
        recs, _ = read_pcap(pcap("dhcp.pcap"))
        rng = random.Random(5)
        for _ in range(200):
            fr = bytearray(recs[rng.randrange(len(recs))][2])
            for _ in range(3):
                fr[rng.randrange(42, len(fr))] = rng.randrange(256)
            frames.append(bytes(fr[:rng.randrange(60, len(fr) + 1)]))
    write_pcap(path, frames)
    cmd = ["valgrind", "-q", "--error-exitcode=9", "--leak-check=full", "--errors-for-leak-kinds=definite",
           FS, "-r", path, "--n-dissections", 0, "--splt-analysis", 3, "-o", "/dev/null",
           "--plugin", plugin("dhcp"), "--plugin", plugin("mdns"),
           "--plugin", plugin("splt", "sequence_length=100"), "--plugin", plugin("flowslicer", "limit=2"),
           "--plugin", plugin("example_pktsize"), "--plugin", test_plugin("counter")]
    p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    check(p.returncode == 0, "valgrind: exit %d: %s" % (p.returncode, p.stderr.decode()[-1500:]))


def refused(plugin_arg, *cause):
    need_data()
    out = os.path.join(TMP, "refused.csv")
    if os.path.exists(out):
        os.unlink(out)
    path = plugin_arg.split(":")[0]
    p = subprocess.run([FS, "-r", pcap("google_ssl.pcap"), "--plugin", plugin_arg, "-o", out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode()
    check(p.returncode == 2, "exit %d, not 2 (%s)" % (p.returncode, err.strip()))
    check(err.count("\n") == 1 and err.endswith("\n"), "one line on stderr: %r" % err)
    check(path in err, "names the file %s: %r" % (path, err))
    for c in cause:
        check(c in err, "says %r: %r" % (c, err))
    check(not os.path.exists(out) and not p.stdout, "no output written")


@case
def refuse_missing():
    refused(os.path.join(TMP, "nothing-here.so"), "No such file")


@case
def refuse_text_file():
    path = os.path.join(TMP, "text.so")
    with open(path, "w") as f:
        f.write("not a plugin\n")
    refused(path, "not a shared object")


@case
def refuse_directory():
    refused(TMP, "not a regular file")


@case
def refuse_foreign_library():
    libz = "/usr/lib/x86_64-linux-gnu/libz.so.1"
    if not os.path.exists(libz):
        import ctypes.util
        libz = ctypes.util.find_library("z") or ""
        libz = next((os.path.join(d, libz) for d in ("/lib", "/usr/lib") if os.path.exists(os.path.join(d, libz))), "")
    if not libz:
        raise Skip("no libz.so.1 to load")
    refused(libz, "fs_plugin_descriptor")


@case
def refuse_no_descriptor():
    refused(test_plugin("no_descriptor"), "fs_plugin_descriptor")


@case
def refuse_other_api():
    refused(test_plugin("bad_abi"), "API version 2", "version 1")


@case
def refuse_column_twice():
    refused(test_plugin("dup_column"), "udps.twice", "twice")


@case
def refuse_column_of_another_plugin():
    need_data()
    out = os.path.join(TMP, "clash.csv")
    p = subprocess.run([FS, "-r", pcap("google_ssl.pcap"), "--plugin", plugin("splt", "sequence_length=2"),
                        "--plugin", plugin("splt", "sequence_length=3"), "-o", out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 2 and err.count("\n") == 1 and "splt.so" in err and
          "udps.splt_direction" in err and "another plugin" in err, "%d %r" % (p.returncode, err))
    check(not os.path.exists(out), "no output file")


@case
def refuse_bad_config():
    for arg, cause in ((plugin("splt", "sequence_length=0"), "sequence_length"),
                       (plugin("splt", "sequence_length=5,accounting_mode=4"), "accounting_mode"),
                       (plugin("splt", "accounting_mode=1"), "sequence_length is required"),
                       (plugin("splt", "sequence_length=5,foo=1"), "unknown parameter 'foo'"),
                       (plugin("splt", "sequence_length=5x"), "not '5x'"),
                       (plugin("splt", "sequence_length=" + "0" * 40 + "5"), "too long"),
                       (plugin("splt", "sequence_length=5,"), "empty parameter"),
                       (plugin("splt", "sequence_length"), "needs a value"),
                       (plugin("splt", "sequence_length=5,sequence_length=6"), "twice"),
                       (plugin("flowslicer"), "limit is required"),
                       (plugin("flowslicer", "limit=-1"), "limit"),
                       (plugin("dhcp", "verbose=1"), "it takes none"),
                       (plugin("mdns", "x"), "unknown parameter 'x'"),
                       (plugin("example_pktsize", "custom_size=big"), "custom_size")):
        refused(arg, cause)


@case
def custom_expiry_after_idle_split():
    """NFStream PR #190: the packet that idle-expires a flow and starts one that a plugin
    expires in on_init is metered once."""
    need_data()
    recs, _ = read_pcap(pcap("google_ssl.pcap"))
    over = sorted(orig for _, orig, _ in recs)[len(recs) // 2]  # about half the first packets
    for extra in ([], ["--plugin", plugin("flowslicer", "limit=1")]):
        rows = run("-r", pcap("google_ssl.pcap"), "--idle-timeout", 0,
                   "--plugin", test_plugin("counter") + ":init_expire_over=%d" % over, *extra,
                   fmt="jsonl")
        calls = sum(r["udps.init_calls"] + r["udps.update_calls"] for r in rows)
        packets = sum(r["bidirectional_packets"] for r in rows)
        check(packets == 28 and calls == 28, "%d callbacks for %d packets (28 in the capture)"
              % (calls, packets))
        check(all(r["udps.init_calls"] == 1 and r["udps.expire_calls"] == 1 for r in rows),
              "one on_init and one on_expire per flow")
        custom = [r for r in rows if r["expiration_id"] == -1]
        want = 28 if extra else sum(1 for _, orig, _ in recs if orig > over)
        check(len(custom) == want, "%d flows expired by the plugin, %d first packets over %d"
              % (len(custom), want, over))
        check(len(rows) == 28, "one flow per packet with idle_timeout 0: %d" % len(rows))


@case
def custom_expiry_counts():
    """Callbacks per flow without timeouts: one on_init, packets - 1 on_update, one on_expire."""
    need_data()
    for name in ("google_ssl.pcap", "dhcp.pcap", "mdns.pcap"):
        rows = run("-r", pcap(name), "--plugin", test_plugin("counter"), fmt="jsonl")
        for r in rows:
            check((r["udps.init_calls"], r["udps.update_calls"], r["udps.expire_calls"]) ==
                  (1, r["bidirectional_packets"] - 1, 1), "%s flow %d: %r" % (name, r["id"], r))


def main():
    only = sys.argv[1:]
    try:
        for fn in CASES:
            if only and fn.__name__ not in only:
                continue
            try:
                fn()
                results["passed"] += 1
                print("PASS plugins/%s" % fn.__name__, flush=True)
            except Skip as e:
                results["skipped"] += 1
                print("SKIP plugins/%s: %s" % (fn.__name__, e), flush=True)
            except Exception as e:
                results["failed"] += 1
                print("FAIL plugins/%s: %s" % (fn.__name__, e), flush=True)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    r = results
    print("%d passed, %d failed, %d skipped" % (r["passed"], r["failed"], r["skipped"]))
    return 1 if r["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
