#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Runs every test layer and adds up their results.  Each layer prints PASS/
# FAIL/SKIP lines and ends with "N passed, N failed, N skipped"; a layer that
# crashes or prints no summary counts as one failure.  The last line of the
# output is the total, in the same format.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export FLOWSIGHT=${FLOWSIGHT:-$BUILD/flowsight}
export MKPCAP=${MKPCAP:-$BUILD/mkpcap}
export BUILD
P=0 F=0 S=0
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT

layer() { # name command...
	local name=$1 out rc line
	shift
	out="$LOG/${name//\//_}.log"
	echo "== $name"
	"$@" >"$out" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP)|FAIL|Error|error' "$out" | grep -v '^PASS' | head -50
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out" | tail -1)
	if [ -z "$line" ]; then
		echo "FAIL $name: no summary line (exit $rc)"
		tail -20 "$out"
		F=$((F + 1))
		return
	fi
	set -- $line
	P=$((P + $1)) F=$((F + $3)) S=$((S + $5))
	if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then
		echo "FAIL $name: exit $rc"
		F=$((F + 1))
	fi
	echo "   $line"
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	layer "unit/$(basename "$t")" "$t"
done
layer cli python3 tests/cli/test_cli.py
layer python /usr/bin/python3 tests/python/test_python.py
layer golden tests/golden/run_golden.sh
# libflowsight installed (DESTDIR) and used through pkg-config, shared and static.
layer install tests/install/test_install.sh
layer sinks python3 tests/export/test_sinks.py
layer nfstream-conformance python3 tests/conformance/nfstream_conformance.py --l7
layer nfstream-mixed-reference python3 tests/conformance/mixed_reference.py
layer nfstream-ports python3 tests/conformance/nfstream_ports.py
layer plugins python3 tests/plugins/test_plugins.py
layer capture-sweep python3 tests/conformance/sweep_captures.py
# The same captures under valgrind memcheck: no invalid access, no leak.
layer valgrind python3 tests/conformance/valgrind_sweep.py
# Live capture in private network namespaces (root; skipped otherwise).
layer live python3 tests/live/test_live.py
# Least privilege: exact capabilities per mode as uid 65534, the drop after attach.
layer privilege python3 tests/live/test_privilege.py
# The service: configuration files, secrets, metrics (scraped by Prometheus),
# SIGHUP, the unit under a real systemd, the Debian package.
layer service python3 tests/service/test_service.py
# Process attribution from BPF socket hooks, same namespaces discipline.
layer attribution python3 tests/live/test_attribution.py
# flowsight top in tmux, process-labelled pcapng read back, the progress line.
layer top python3 tests/top/test_top.py
# The same agent on Debian 12's own kernels, 6.1 and 6.12 (bookworm-security),
# booted under QEMU (TCG), a layer each.  Both boot at once (a guest keeps
# about one CPU busy), then each output is counted as any layer's.
for k in 6.1 6.12; do
	(python3 tests/kernel/test_kernel.py "$k" >"$LOG/kernel-$k.out" 2>&1
		echo $? >"$LOG/kernel-$k.rc") &
done
wait
for k in 6.1 6.12; do
	layer "kernel-$k" sh -c 'cat "$1"; exit "$(cat "$2")"' sh "$LOG/kernel-$k.out" "$LOG/kernel-$k.rc"
done
# Short fuzzing smoke (each target FUZZ_SECONDS, default 5) after replaying
# the regression inputs; long runs: make fuzz FUZZ_SECONDS=N.
if ls "${FUZZ_BUILD:-build/fuzz}"/fuzz_* >/dev/null 2>&1; then
	layer fuzz tests/fuzz/run_fuzz.sh "${FUZZ_SECONDS:-5}"
else
	echo "SKIP fuzz: no fuzz targets built (clang with libFuzzer missing)"
	S=$((S + 1))
fi

echo "$P passed, $F failed, $S skipped"
[ "$F" -eq 0 ]
