#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Every real capture in ../shared/data through flowsight (statistics, SPLT,
L7, JA4, JSON lines), checking invariants on the output rather than values:
exit 0 and no stderr warning; the sum of per-flow packets equals the valid
packets the engine counted; src2dst + dst2src = bidirectional for packets
and bytes; durations >= 0 and = last - first; min <= mean <= max for sizes
and PIAT; stddev >= 0; SPLT lists of the asked length padded with -1 only at
the end; ids 0..n-1.  Run by `make SANITIZE=1 test` under ASan+UBSan too.

Then each capture again with --dataset-mode (L7 off): the same invariants,
plus dataset mode's (README "Dataset mode"): ms == us // 1000 for every
first/last time, µs durations, µs PIATs within [min, max] and each SPLT
µs PIAT within 1 ms of its ms one, expiration_id 0, 1 or 3 (3 only for TCP
flows that saw a FIN or a RST), periods and bulks consistent, header bytes
at least an IP header per packet, windows -1 unless TCP; and against the
NFStream run: the same packets per 5-tuple, and every non-TCP flow equal.
"""
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared", "data")
FS = os.environ.get("FLOWSIGHT", "build/flowsight")
SPLT = 10


MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1",
          b"\x0a\x0d\x0d\x0a")


def captures():
    """Files that are captures by their magic (result CSVs are named .pcap too)."""
    for root, dirs, files in os.walk(SHARED):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                if fh.read(4) in MAGICS:
                    yield path


def check_flow(d, i):
    errs = []
    if d["id"] != i:
        errs.append("id %s, expected %d" % (d["id"], i))
    for what in ("packets", "bytes"):
        if d["src2dst_" + what] + d["dst2src_" + what] != d["bidirectional_" + what]:
            errs.append("src2dst + dst2src != bidirectional " + what)
    for sc in ("bidirectional", "src2dst", "dst2src"):
        dur = d[sc + "_duration_ms"]
        if dur < 0 or dur != d[sc + "_last_seen_ms"] - d[sc + "_first_seen_ms"]:
            errs.append(sc + " duration")
        if d[sc + "_packets"]:
            if not d[sc + "_min_ps"] <= d[sc + "_mean_ps"] + 1e-9 and d[sc + "_mean_ps"] <= d[sc + "_max_ps"] + 1e-9:
                errs.append(sc + " ps not within min/max")
            if not (d[sc + "_min_ps"] - 1e-9 <= d[sc + "_mean_ps"] <= d[sc + "_max_ps"] + 1e-9):
                errs.append(sc + " mean ps outside [min, max]")
        if d[sc + "_packets"] > 1:
            if not (d[sc + "_min_piat_ms"] - 1e-9 <= d[sc + "_mean_piat_ms"] <= d[sc + "_max_piat_ms"] + 1e-9):
                errs.append(sc + " mean piat outside [min, max]")
        if d[sc + "_stddev_ps"] < 0 or d[sc + "_stddev_piat_ms"] < 0:
            errs.append(sc + " negative stddev")
    n = min(d["bidirectional_packets"], SPLT)
    for col in ("splt_direction", "splt_ps", "splt_piat_ms"):
        lst = d[col]
        if len(lst) != SPLT or any(v == -1 for v in lst[:n]) or any(v != -1 for v in lst[n:]):
            errs.append(col + " padding")
    if d["splt_direction"][0] != 0 or d["bidirectional_first_seen_ms"] != d["src2dst_first_seen_ms"]:
        errs.append("first packet not src2dst")
    return errs


def check_dataset_flow(d):
    errs = []
    if d["expiration_id"] not in (0, 1, 3):
        errs.append("expiration_id %s" % d["expiration_id"])
    if d["expiration_id"] == 3 and not (d["protocol"] == 6 and (
            d["bidirectional_fin_packets"] or d["bidirectional_rst_packets"])):
        errs.append("TCP end without FIN or RST")
    for sc in ("bidirectional", "src2dst", "dst2src"):
        if d[sc + "_packets"]:
            for t in ("first_seen", "last_seen"):
                if d[sc + "_%s_ms" % t] != d[sc + "_%s_us" % t] // 1000:
                    errs.append("%s_%s ms != us // 1000" % (sc, t))
        if d[sc + "_duration_us"] != d[sc + "_last_seen_us"] - d[sc + "_first_seen_us"] or \
                d[sc + "_duration_us"] < 0:
            errs.append(sc + " duration_us")
        if d[sc + "_packets"] > 1 and not (
                d[sc + "_min_piat_us"] - 1e-6 <= d[sc + "_mean_piat_us"] <= d[sc + "_max_piat_us"] + 1e-6):
            errs.append(sc + " mean piat_us outside [min, max]")
        if d[sc + "_stddev_piat_us"] < 0:
            errs.append(sc + " negative stddev")
    dur = d["bidirectional_duration_us"]
    for what, num in (("bytes", d["bidirectional_bytes"]), ("packets", d["bidirectional_packets"])):
        want = num * 1000000 / dur if dur else 0.0
        if d["bidirectional_%s_per_s" % what] != want:
            errs.append("bidirectional_%s_per_s %r, %s * 10^6 / duration_us = %r"
                        % (what, d["bidirectional_%s_per_s" % what], what, want))
    for ms, us in zip(d["splt_piat_ms"], d["splt_piat_us"]):
        if (ms == -1) != (us == -1) or (ms != -1 and abs(ms * 1000 - us) >= 1000):
            errs.append("splt_piat_us %r vs ms %r" % (d["splt_piat_us"], d["splt_piat_ms"]))
            break
    for what in ("active", "idle"):
        if not (d[what + "_min_us"] - 1e-6 <= d[what + "_mean_us"] <= d[what + "_max_us"] + 1e-6):
            errs.append(what + " mean outside [min, max]")
    if d["active_max_us"] > d["bidirectional_duration_us"] or d["idle_max_us"] > d["bidirectional_duration_us"]:
        errs.append("a period longer than the flow")
    if not 1 <= d["subflow_count"] <= d["bidirectional_packets"]:
        errs.append("subflow_count %d" % d["subflow_count"])
    for sc in ("src2dst", "dst2src"):
        n, k = d[sc + "_bulk_packets"], d[sc + "_bulk_count"]
        if n < 4 * k or n > d[sc + "_packets"] or d[sc + "_bulk_bytes"] > d[sc + "_bytes"] \
                or (k == 0) != (n == 0) or d[sc + "_bulk_duration_us"] > d[sc + "_duration_us"]:
            errs.append(sc + " bulks")
        if d[sc + "_header_bytes"] < 20 * d[sc + "_packets"]:
            errs.append(sc + " header bytes below an IP header per packet")
        w = d[sc + "_init_window"]
        if (d["protocol"] != 6 and w != -1) or not -1 <= w <= 65535:
            errs.append(sc + " init_window %d" % w)
    return errs


def tuple_key(f):
    a = (f["src_ip"], f["src_port"])
    b = (f["dst_ip"], f["dst_port"])
    return (min(a, b), max(a, b), f["protocol"], f["vlan_id"], f.get("tunnel_id", 0))


NFSTREAM_COLS = ("src_ip", "src_port", "dst_ip", "dst_port", "protocol", "vlan_id", "src_mac", "dst_mac",
                 "bidirectional_first_seen_ms", "bidirectional_last_seen_ms", "bidirectional_packets",
                 "bidirectional_bytes", "src2dst_packets", "dst2src_bytes", "bidirectional_mean_ps",
                 "bidirectional_stddev_piat_ms", "splt_ps", "expiration_id")


def dataset_problems(path, nfstream_flows):
    """The capture in dataset mode, checked alone and against @nfstream_flows."""
    p = subprocess.run([FS, "-r", path, "-v", "--dataset-mode", "--n-dissections", "0",
                        "--statistical-analysis", "--splt-analysis", str(SPLT), "-F", "jsonl"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    err = p.stderr.decode(errors="replace")
    m = re.search(r"(\d+) packets: (\d+) processed, (\d+) ignored", err)
    problems = []
    if p.returncode != 0:
        return ["dataset mode: exit %d: %s" % (p.returncode, err.strip()[-300:])]
    flows = [json.loads(l) for l in p.stdout.decode().splitlines() if l]
    if not m or sum(f["bidirectional_packets"] for f in flows) != int(m.group(2)):
        problems.append("dataset mode: flow packets != processed")
    for i, f in enumerate(flows):
        e = check_flow(f, i) + check_dataset_flow(f)
        if e:
            problems.append("dataset mode flow %d: %s" % (i, "; ".join(e)))
            break
    per_tuple = {}
    for sign, fl in ((1, nfstream_flows), (-1, flows)):
        for f in fl:
            k = tuple_key(f)
            per_tuple[k] = per_tuple.get(k, 0) + sign * f["bidirectional_packets"]
    bad = [k for k, v in per_tuple.items() if v]
    if bad:
        problems.append("dataset mode: packets per 5-tuple differ, e.g. %r" % (bad[0],))
    a = sorted(json.dumps([f[c] for c in NFSTREAM_COLS]) for f in nfstream_flows if f["protocol"] != 6)
    b = sorted(json.dumps([f[c] for c in NFSTREAM_COLS]) for f in flows if f["protocol"] != 6)
    if a != b:
        problems.append("dataset mode: non-TCP flows differ from NFStream mode's")
    return problems


def main():
    if not os.path.isdir(SHARED):
        print("SKIP sweep: ../shared/data not found")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    passed = failed = 0
    for path in captures():
        name = os.path.relpath(path, SHARED)
        p = subprocess.run([FS, "-r", path, "-v", "--statistical-analysis", "--splt-analysis", str(SPLT),
                            "--ja4", "-F", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=600)
        err = p.stderr.decode(errors="replace")
        m = re.search(r"(\d+) packets: (\d+) processed, (\d+) ignored", err)
        problems = []
        if p.returncode != 0:
            problems.append("exit %d: %s" % (p.returncode, err.strip()[-300:]))
        if not m:
            problems.append("no packet summary on stderr")
        # -v's lines: the summary, and the note that IPv4 DTLS certificates
        # are kept from nDPI 4.2 (agent/l7/dpi.c, dtls_certificate())
        other = [l for l in err.splitlines()
                 if not re.search(r"packets: \d+ processed|flows exported|DTLS certificates over IPv4 "
                                  r"are not given to nDPI 4.2", l)]
        if other:
            problems.append("unexpected stderr: %r" % other[:2])
        flows = [json.loads(l) for l in p.stdout.decode().splitlines() if l]
        if m and sum(f["bidirectional_packets"] for f in flows) != int(m.group(2)):
            problems.append("flow packets %d != processed %s" % (
                sum(f["bidirectional_packets"] for f in flows), m.group(2)))
        for i, f in enumerate(flows):
            e = check_flow(f, i)
            if e:
                problems.append("flow %d: %s" % (i, "; ".join(e)))
                break
        if not problems:
            problems += dataset_problems(path, flows)
        if problems:
            failed += 1
            print("FAIL sweep/%s: %s" % (name, " | ".join(problems)))
        else:
            passed += 1
            print("PASS sweep/%s (%d flows)" % (name, len(flows)))
    print("%d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
