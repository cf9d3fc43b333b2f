#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Every real capture in ../shared/data through the offline engine under
valgrind (memcheck), in one run as one stream (statistics, SPLT, L7, JA4):
no invalid read or write, no use of uninitialised values, no definitely or
indirectly lost block (--error-exitcode), and the same flows as the native
binary on the same input, so the run is known to have read everything.
Skipped with the reason when valgrind or ../shared is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep_captures import SHARED, captures  # noqa: E402

FS = os.environ.get("FLOWSIGHT", "build/flowsight")
ARGS = ["--statistical-analysis", "--splt-analysis", "10", "--ja4"]


def main():
    name = "valgrind/all_shared_captures_memcheck_clean"
    if "san" in os.path.basename(os.path.dirname(os.path.abspath(FS))):
        print("SKIP %s: %s is an ASan build (valgrind cannot run it; the plain build is "
              "checked by make test)" % (name, FS))
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if not shutil.which("valgrind"):
        print("SKIP %s: valgrind not installed (make deps)" % name)
        print("0 passed, 0 failed, 1 skipped")
        return 0
    files = list(captures()) if os.path.isdir(SHARED) else []
    if not files:
        print("SKIP %s: no captures under %s" % (name, SHARED))
        print("0 passed, 0 failed, 1 skipped")
        return 0
    src = [a for f in files for a in ("-r", f)]
    with tempfile.TemporaryDirectory() as tmp:
        native, checked = os.path.join(tmp, "native.csv"), os.path.join(tmp, "vg.csv")
        n = subprocess.run([FS] + src + ARGS + ["-o", native], stderr=subprocess.PIPE,
                           timeout=600)
        vg = subprocess.run(["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                             "--errors-for-leak-kinds=definite,indirect",
                             "--show-leak-kinds=definite,indirect", FS] + src + ARGS +
                            ["-o", checked], stderr=subprocess.PIPE, timeout=1800)
        with open(native) as f:
            want = f.read().splitlines()
        with open(checked) as f:
            got = f.read().splitlines()
    report = vg.stderr.decode(errors="replace").strip().splitlines()
    errs = []
    if n.returncode != 0:
        errs.append("native run exit %d" % n.returncode)
    if vg.returncode != 0:
        errs.append("valgrind exit %d: %s" % (vg.returncode, " | ".join(report[:12])))
    # the same binary on the same stream writes the same bytes
    if got != want:
        errs.append("%d flows under valgrind, %d native, or different records"
                    % (len(got) - 1, len(want) - 1))
    if errs:
        print("FAIL %s: %s" % (name, "; ".join(errs)))
        print("0 passed, 1 failed, 0 skipped")
        return 1
    print("PASS %s (%d captures, %d flows, memcheck: 0 errors, 0 bytes lost)"
          % (name, len(files), len(got) - 1))
    print("1 passed, 0 failed, 0 skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
