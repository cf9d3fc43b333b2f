#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""NFStream conformance suite (spec §4.3-4.4).

For every pcap of shared/data/nfstream-tests with a result file, run
flowsight in NFStream's test configuration (n_dissections=20, defaults
otherwise) and compare, row by row and in order:
  * hard gate: id, bidirectional_packets, bidirectional_bytes == results/
  * L7 gate (with --l7): all seven columns == derived-ndpi42-replica/
and report the agreement of the L7 columns with NFStream's own results/
(made with a newer nDPI) as a figure.
Prints PASS/FAIL per file and a final "N passed, N failed, N skipped".
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

CORE = ["id", "bidirectional_packets", "bidirectional_bytes"]
L7 = ["application_name", "application_category_name",
      "application_is_guessed", "application_confidence"]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, escapechar="\\"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flowsight", default=os.environ.get("FLOWSIGHT", "build/flowsight"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--l7", action="store_true", help="also gate the L7 columns on the nDPI 4.2 replica")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    data = args.data or os.path.join(here, "..", "..", "..", "shared", "data", "nfstream-tests")
    if not os.path.isdir(os.path.join(data, "pcaps")):
        print("SKIP conformance: shared NFStream test data not found at %s" % data)
        print("0 passed, 0 failed, 1 skipped")
        return 0
    pcaps = sorted(os.listdir(os.path.join(data, "pcaps")))
    passed = failed = skipped = 0
    agree = {c: 0 for c in L7}
    agree_all = rows_total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in pcaps:
            if args.only and name not in args.only:
                continue
            res = os.path.join(data, "results", name)
            rep = os.path.join(data, "derived-ndpi42-replica", name)
            if not os.path.exists(res):
                skipped += 1
                print("SKIP conformance/%s: no result file" % name)
                continue
            out = os.path.join(tmp, "out.csv")
            cmd = [args.flowsight, "-r", os.path.join(data, "pcaps", name), "-o", out]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            if p.returncode != 0:
                failed += 1
                print("FAIL conformance/%s: exit %d: %s" % (name, p.returncode,
                                                           p.stderr.decode(errors="replace").strip()))
                continue
            got = read_csv(out)
            exp = read_csv(res)
            why = None
            if len(got) != len(exp):
                why = "%d flows, expected %d" % (len(got), len(exp))
            else:
                for i, (g, e) in enumerate(zip(got, exp)):
                    for c in CORE:
                        if g[c] != e[c]:
                            why = "row %d %s=%s expected %s" % (i, c, g[c], e[c])
                            break
                    if why:
                        break
            if not why and args.l7:
                if not os.path.exists(rep):
                    why = "no nDPI 4.2 replica result"
                else:
                    rexp = read_csv(rep)
                    if len(rexp) != len(got):
                        why = "replica has %d rows, we have %d" % (len(rexp), len(got))
                    for i, (g, e) in enumerate(zip(got, rexp)):
                        for c in CORE + L7:
                            if g[c] != e[c]:
                                why = "row %d %s=%r expected %r (nDPI 4.2 replica)" % (i, c, g[c], e[c])
                                break
                        if why:
                            break
            if len(got) == len(exp):
                for g, e in zip(got, exp):
                    rows_total += 1
                    ok_all = True
                    for c in L7:
                        gv = g.get(c)
                        ev = e[c]
                        if c == "application_confidence" and gv is not None:
                            # nDPI 4.2 numbering -> pinned 4.7 numbering (spec §4.5)
                            gv = {"4": "6", "3": "5", "2": "1", "1": "1", "0": "0"}.get(gv, gv)
                        if gv == ev:
                            agree[c] += 1
                        else:
                            ok_all = False
                    agree_all += ok_all
            if why:
                failed += 1
                print("FAIL conformance/%s: %s" % (name, why))
            else:
                passed += 1
                print("PASS conformance/%s (%d flows)" % (name, len(got)))
    if rows_total:
        print("agreement with NFStream results/ (pinned nDPI 4.7) over %d rows: %s, all four %.1f%%" % (
            rows_total, ", ".join("%s %.1f%%" % (c, 100.0 * agree[c] / rows_total) for c in L7),
            100.0 * agree_all / rows_total))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
