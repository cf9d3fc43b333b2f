#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Every real capture in ../shared/data through flowsight (statistics, SPLT,
L7, JA4, JSON lines), checking invariants on the output rather than values:
exit 0 and no stderr warning; the sum of per-flow packets equals the valid
packets the engine counted; src2dst + dst2src = bidirectional for packets
and bytes; durations >= 0 and = last - first; min <= mean <= max for sizes
and PIAT; stddev >= 0; SPLT lists of the asked length padded with -1 only at
the end; ids 0..n-1.  Run by `make SANITIZE=1 test` under ASan+UBSan too.
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
