#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Golden tests: for each tests/golden/<scenario>.args, generate the capture
# with mkpcap, run flowsight on it and compare the selected columns with
# <scenario>.expect.csv (plus .expect.header / .expect.status when present).
#
# Usage: tests/golden/run_golden.sh [SCENARIO...]
# Env:   BUILD (default: build/ of this repository), MKPCAP, FLOWSIGHT.
#
# In an .args file, @PART2@ is replaced by a second capture generated from
# scenario "<scenario>.part2" (multi-file input). Prints one PASS/FAIL/SKIP
# line per scenario and a final "N passed, N failed, N skipped"; exits 1 if
# anything failed.

set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-$root/build}
MKPCAP=${MKPCAP:-$BUILD/mkpcap}
FLOWSIGHT=${FLOWSIGHT:-$BUILD/flowsight}
PYTHON=${PYTHON:-python3}
TIMEOUT=${TIMEOUT:-60}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
skipped=0

if [ $# -gt 0 ]; then
	scenarios=("$@")
else
	scenarios=()
	for f in "$here"/*.args; do
		s=$(basename "$f" .args)
		scenarios+=("$s")
	done
fi

skip_reason=
if [ ! -x "$FLOWSIGHT" ]; then
	skip_reason="no flowsight at $FLOWSIGHT"
elif [ ! -x "$MKPCAP" ]; then
	skip_reason="no mkpcap at $MKPCAP"
elif ! command -v "$PYTHON" >/dev/null 2>&1; then
	skip_reason="no $PYTHON"
fi

# the programs under test missing is a failure, not a skip: a run that
# tested nothing must not pass
if [ -n "$skip_reason" ]; then
	echo "FAIL golden: $skip_reason"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi

for s in "${scenarios[@]}"; do
	if [ ! -f "$here/$s.args" ] || [ ! -f "$here/$s.expect.csv" ]; then
		echo "FAIL golden/$s: missing $s.args or $s.expect.csv"
		failed=$((failed + 1))
		continue
	fi
	d="$tmp/$s"
	mkdir -p "$d"
	in="$d/$s.pcap"
	if ! "$MKPCAP" "$s" "$in" 2>"$d/mkpcap.err"; then
		echo "FAIL golden/$s: mkpcap: $(head -n1 "$d/mkpcap.err")"
		failed=$((failed + 1))
		continue
	fi
	args=$(cat "$here/$s.args")
	if [[ $args == *@PART2@* ]]; then
		if ! "$MKPCAP" "$s.part2" "$d/part2.pcap" 2>"$d/mkpcap.err"; then
			echo "FAIL golden/$s: mkpcap: $(head -n1 "$d/mkpcap.err")"
			failed=$((failed + 1))
			continue
		fi
		args=${args//@PART2@/$(printf '%q' "$d/part2.pcap")}
	fi
	# .args files are ours; eval honours their shell quoting ('tcp port 80').
	eval "set -- $args"
	timeout "$TIMEOUT" "$FLOWSIGHT" -r "$in" "$@" -o "$d/out.csv" \
		>"$d/stdout" 2>"$d/stderr" </dev/null
	rc=$?
	if [ $rc -eq 124 ]; then
		echo "FAIL golden/$s: timed out after ${TIMEOUT}s"
		failed=$((failed + 1))
		continue
	fi
	if why=$("$PYTHON" "$here/compare.py" "$s" "$here" "$d/out.csv" "$rc" \
		"$d/stderr" "$in" 2>&1); then
		echo "PASS golden/$s"
		passed=$((passed + 1))
	else
		echo "FAIL golden/$s: ${why:-compare.py failed}"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
