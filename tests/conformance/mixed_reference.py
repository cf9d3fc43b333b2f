#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Full-width parity with a real NFStream 6.5.4 run on shared/data/bench/mixed.pcap
(statistical_analysis=True, splt_analysis=20, n_dissections=20): every non-L7
column must be equal (floats parse-equal, lists element-equal) in every row, in
order; L7 columns are reported as an agreement figure (NFStream used a newer nDPI).
"""
import csv
import os
import subprocess
import sys
import tempfile

L7 = {"application_name", "application_category_name", "application_is_guessed",
      "application_confidence", "requested_server_name", "client_fingerprint",
      "server_fingerprint", "user_agent", "content_type"}
FLOATS_SUFFIX = ("_mean_ps", "_stddev_ps", "_mean_piat_ms", "_stddev_piat_ms")


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f, escapechar="\\")
        hdr = next(r)
        return hdr, list(r)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    bench = os.path.join(here, "..", "..", "..", "shared", "data", "bench")
    pcap = os.path.join(bench, "mixed.pcap")
    ref = os.path.join(bench, "reference", "mixed.nfstream-6.5.4.csv")
    fs = os.environ.get("FLOWSIGHT", "build/flowsight")
    if not (os.path.exists(pcap) and os.path.exists(ref)):
        print("SKIP mixed-reference: shared bench data not found")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "mixed.csv")
        subprocess.run([fs, "-r", pcap, "--statistical-analysis", "--splt-analysis", "20",
                        "-o", out], check=True)
        ghdr, got = read(out)
        ehdr, exp = read(ref)
    failures = []
    if ghdr != ehdr:
        failures.append("header differs: %s" % [(a, b) for a, b in zip(ghdr, ehdr) if a != b][:3])
    if len(got) != len(exp):
        failures.append("%d rows, expected %d" % (len(got), len(exp)))
    l7_same = {c: 0 for c in ehdr if c in L7}
    for i, (g, e) in enumerate(zip(got, exp)):
        for c, gv, ev in zip(ehdr, g, e):
            if c in L7:
                l7_same[c] += gv == ev
                continue
            if c.endswith(FLOATS_SUFFIX):
                same = float(gv) == float(ev)
            else:
                same = gv == ev
            if not same and len(failures) < 10:
                failures.append("row %d %s=%s expected %s" % (i, c, gv, ev))
    n = min(len(got), len(exp))
    print("mixed.pcap: %d rows x %d columns compared; L7 agreement with NFStream 6.5.4: %s" % (
        n, len(ehdr), ", ".join("%s %.1f%%" % (c, 100.0 * v / max(n, 1)) for c, v in l7_same.items())))
    if failures:
        for f in failures:
            print("  " + f)
        print("FAIL conformance/mixed-reference")
        print("0 passed, 1 failed, 0 skipped")
        return 1
    print("PASS conformance/mixed-reference (all non-L7 columns equal)")
    print("1 passed, 0 failed, 0 skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
