# SPDX-License-Identifier: GPL-2.0-only
"""Compare one golden scenario's flowsight run with its expectations.

Usage: compare.py NAME EXPECT_DIR OUT_CSV RC STDERR_FILE INPUT_PATH

Reads EXPECT_DIR/NAME.expect.csv (a subset of columns, one row per flow in
export order), the optional NAME.expect.header (the exact full header) and
the optional NAME.expect.status ("<exit status> <regex>" that the single
stderr line must match; @FILE@ stands for the escaped input path). Prints
nothing and exits 0 on success, otherwise prints the first difference and
exits 1. Parses flowsight's CSV the way NFStream writes it (spec 1.5):
strings and lists quoted with "...", embedded quotes escaped as \\".
"""
import csv
import math
import os
import re
import sys

INT_RE = re.compile(r"^-?[0-9]+$")
FLOAT_RE = re.compile(r"^-?([0-9]+\.[0-9]*([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+|inf|nan)$")


def read_csv(path, escaped):
    with open(path, newline="", encoding="utf-8") as f:
        if escaped:
            rows = list(csv.reader(f, escapechar="\\", doublequote=False))
        else:
            rows = list(csv.reader(f))
    return rows


def same(expected, actual):
    """Return None when equal, else a short reason."""
    if expected.startswith("["):
        if re.sub(r"\s+", "", expected) == re.sub(r"\s+", "", actual):
            return None
        return "list differs"
    if FLOAT_RE.match(expected):
        try:
            a = float(actual)
        except ValueError:
            return "not a float"
        e = float(expected)
        if not (a == e or (math.isnan(a) and math.isnan(e))):
            return "float differs"
        if not FLOAT_RE.match(actual):
            return "float not formatted like Python str(float)"
        return None
    if INT_RE.match(expected):
        return None if actual == expected else "integer differs"
    return None if actual == expected else "string differs"


def check_status(name, exp_dir, rc, stderr_path, input_path):
    status_file = os.path.join(exp_dir, name + ".expect.status")
    with open(stderr_path, encoding="utf-8", errors="replace") as f:
        err_lines = [l for l in f.read().splitlines() if l.strip()]
    if not os.path.exists(status_file):
        if rc != 0:
            tail = err_lines[-1] if err_lines else ""
            return "exit status %d, expected 0 (stderr: %s)" % (rc, tail)
        return None
    with open(status_file, encoding="utf-8") as f:
        want_rc, _, pattern = f.read().strip().partition(" ")
    if rc != int(want_rc):
        return "exit status %d, expected %s" % (rc, want_rc)
    if len(err_lines) != 1:
        return "expected exactly one stderr line, got %d: %r" % (len(err_lines), err_lines[:3])
    pattern = pattern.replace("@FILE@", re.escape(input_path))
    if not re.search(pattern, err_lines[0]):
        return "stderr %r does not match /%s/" % (err_lines[0], pattern)
    return None


def check_csv(name, exp_dir, out_csv):
    exp = read_csv(os.path.join(exp_dir, name + ".expect.csv"), escaped=False)
    exp_cols, exp_rows = exp[0], exp[1:]
    if os.path.exists(out_csv) and os.path.getsize(out_csv) > 0:
        act = read_csv(out_csv, escaped=True)
    else:
        act = []
    act_cols, act_rows = (act[0], act[1:]) if act else ([], [])

    header_file = os.path.join(exp_dir, name + ".expect.header")
    if os.path.exists(header_file):
        with open(header_file, encoding="utf-8") as f:
            want = f.read().strip().split(",")
        if act_cols != want:
            for i, (w, a) in enumerate(zip(want, act_cols)):
                if w != a:
                    return "header column %d is %r, expected %r" % (i, a, w)
            return "header has %d columns, expected %d" % (len(act_cols), len(want))

    if len(act_rows) != len(exp_rows):
        col = act_cols.index("id") if "id" in act_cols else -1
        ids = [r[col] if 0 <= col < len(r) else "?" for r in act_rows]
        return "%d rows, expected %d (ids %s)" % (len(act_rows), len(exp_rows), ",".join(ids))
    if not exp_rows:
        return None
    for c in exp_cols:
        if c not in act_cols:
            return "missing column %r" % c
    for n, (er, ar) in enumerate(zip(exp_rows, act_rows)):
        if len(ar) != len(act_cols):
            return "row %d has %d fields, header has %d" % (n, len(ar), len(act_cols))
        for c, ev in zip(exp_cols, er):
            av = ar[act_cols.index(c)]
            why = same(ev, av)
            if why:
                return "row %d column %s: expected %r, got %r (%s)" % (n, c, ev, av, why)
    return None


def main():
    name, exp_dir, out_csv, rc, stderr_path, input_path = sys.argv[1:7]
    why = check_status(name, exp_dir, int(rc), stderr_path, input_path)
    if not why:
        try:
            why = check_csv(name, exp_dir, out_csv)
        except (csv.Error, UnicodeDecodeError) as e:
            why = "cannot parse output CSV: %s" % e
    if why:
        print(why)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
