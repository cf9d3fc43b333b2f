#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Dataset mode's cost (issue 17): flowsight with and without --dataset-mode on big-mix-x80, in one
# run, interleaved, best of N by CPU time. Missed targets are reported, never fatal; a run that
# fails makes the script exit 1 (2: cannot start). A missing capture is a SKIP (exit 0).
set -uo pipefail
export LC_ALL=C

usage() {
	cat <<EOF
usage: tools/bench_dataset.sh [--quick]
  --quick   mixed.pcap instead of big-mix-x80.pcap (a smoke test: start-up dominates)

Runs, alternately, BENCH_RUNS (default 5) times each:
  nfstream  build/flowsight -r FILE --statistical-analysis --n-dissections 0 -o /dev/null
  dataset   the same with --dataset-mode
and keeps each one's least CPU time (user + system, all threads; on a shared machine it moves far
less than wall time). With BENCH_L7=1 (the default) both modes are also timed with L7 on, i.e.
flowsight's (and NFStream's) defaults plus statistics. Prints every time and, for each
configuration, dataset/nfstream against the target (<= 1.15: met or MISSED): with L7 on as users
run it, and with L7 off, the engine's own cost that nDPI otherwise dilutes.
With BENCH_BASELINE=/path/to/an/older/flowsight it also times that binary in NFStream mode
(interleaved with the others) and prints nfstream/baseline: the default path before and after.

environment:
  BENCH_BIG_DIR  dir holding big-mix-x80.pcap (default ../shared/data/bench/big, else build/bench,
                 where tools/bench.sh regenerates it)
  BENCH_DATA     dir holding mixed.pcap, for --quick (default ../shared/data/bench)
  BENCH_RUNS     timed runs per configuration, best kept (default 5)
  BENCH_L7       1 (default): also time both modes with L7 on, a second ratio; 0: L7 off only
  FLOWSIGHT, BENCH_BASELINE   the binaries
EOF
}

quick=0
for arg in "$@"; do
	case "$arg" in
	--quick) quick=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-build}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
FLOWSIGHT="${FLOWSIGHT:-$BUILD/flowsight}"
BASELINE="${BENCH_BASELINE:-}"
RUNS="${BENCH_RUNS:-5}"
TIME=/usr/bin/time
TARGET=1.15

die() { echo "bench-dataset: error: $*" >&2; exit 2; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, not '$RUNS'"
[ -x "$FLOWSIGHT" ] || die "$FLOWSIGHT is missing or not executable: build it first (make bench does)"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || die "BENCH_BASELINE=$BASELINE is not executable"
[ -x "$TIME" ] || die "$TIME not found: install Debian package time (make deps)"
if [ $quick -eq 1 ]; then
	cap="${BENCH_DATA:-$ROOT/../shared/data/bench}/mixed.pcap"
else
	cap="${BENCH_BIG_DIR:-$ROOT/../shared/data/bench/big}/big-mix-x80.pcap"
	# make bench's own copy when the shared one is absent
	[ -n "${BENCH_BIG_DIR:-}" ] || [ -r "$cap" ] || cap="${BENCH_CACHE:-$ROOT/build/bench}/big-mix-x80.pcap"
fi
if [ ! -r "$cap" ]; then
	echo "SKIP bench-dataset: $cap not found (set BENCH_BIG_DIR to the directory holding it)"
	exit 0
fi
logs="$(mktemp -d "${TMPDIR:-/tmp}/bench-dataset.XXXXXX")" || die "cannot create a scratch dir"
trap 'rm -rf "$logs"' EXIT

failed=0
declare -A best rows

# one KEY BINARY ARGS...: one timed run; keeps the least CPU time (s) in best[KEY]
one() {
	local key="$1" bin="$2" cpu rc
	shift 2
	"$TIME" -f '%U %S' -o "$logs/$key.time" "$bin" -r "$cap" "$@" -o /dev/null 2>"$logs/$key.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "bench-dataset: FAIL: $key: exit $rc: $(tail -n1 "$logs/$key.err")" >&2
		failed=1
		return 1
	fi
	cpu="$(tail -n1 "$logs/$key.time" | awk '{ printf "%.3f", $1 + $2 }')"
	if [ -z "${best[$key]:-}" ] || awk -v a="$cpu" -v b="${best[$key]}" 'BEGIN { exit !(a < b) }'; then
		best[$key]="$cpu"
	fi
}

# count KEY BINARY ARGS...: flow records of one untimed run (CSV lines - header)
count() {
	local key="$1" bin="$2"
	shift 2
	rows[$key]=$(("$("$bin" -r "$cap" "$@" 2>/dev/null | wc -l)" - 1))
}

base=(--statistical-analysis --n-dissections 0)
l7=(--statistical-analysis)
echo "dataset mode benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "capture: $cap"
echo "flowsight: $FLOWSIGHT${BASELINE:+; baseline: $BASELINE}"
echo "best of $RUNS interleaved runs each, CPU time (user + system, all threads)"
cat "$cap" >/dev/null	# warm the page cache
count nfstream "$FLOWSIGHT" "${base[@]}"
count dataset "$FLOWSIGHT" "${base[@]}" --dataset-mode
for ((i = 0; i < RUNS; i++)); do
	one nfstream "$FLOWSIGHT" "${base[@]}"
	one dataset "$FLOWSIGHT" "${base[@]}" --dataset-mode
	[ -n "$BASELINE" ] && one baseline "$BASELINE" "${base[@]}"
	if [ "${BENCH_L7:-1}" = 1 ]; then
		one nfstream-l7 "$FLOWSIGHT" "${l7[@]}"
		one dataset-l7 "$FLOWSIGHT" "${l7[@]}" --dataset-mode
	fi
done

ratio() { [ -n "${best[$1]:-}" ] && [ -n "${best[$2]:-}" ] && awk -v a="${best[$1]}" -v b="${best[$2]}" 'BEGIN { printf "%.3f", a / b }'; }

printf '%-34s %8s %9s\n' configuration "cpu s" flows
printf '%-34s %8s %9s\n' "nfstream (stats, L7 off)" "${best[nfstream]:-FAIL}" "${rows[nfstream]}"
printf '%-34s %8s %9s\n' "dataset (stats, L7 off)" "${best[dataset]:-FAIL}" "${rows[dataset]}"
[ -n "$BASELINE" ] && printf '%-34s %8s\n' "baseline binary, nfstream" "${best[baseline]:-FAIL}"
if [ "${BENCH_L7:-1}" = 1 ]; then
	printf '%-34s %8s\n' "nfstream (stats, L7 on)" "${best[nfstream-l7]:-FAIL}"
	printf '%-34s %8s\n' "dataset (stats, L7 on)" "${best[dataset-l7]:-FAIL}"
fi
target() {	# label key-dataset key-nfstream
	local r
	r="$(ratio "$2" "$3")"
	if [ -z "$r" ]; then
		echo "target dataset/nfstream, $1: n/a (<= $TARGET) MISSED (a run failed)"
	elif awk -v a="$r" -v b="$TARGET" 'BEGIN { exit !(a <= b) }'; then
		echo "target dataset/nfstream, $1: $r (<= $TARGET) met"
	else
		echo "target dataset/nfstream, $1: $r (<= $TARGET) MISSED"
	fi
}
[ "${BENCH_L7:-1}" = 1 ] && target "L7 on (defaults + statistics)" dataset-l7 nfstream-l7
target "L7 off (the engine alone)" dataset nfstream
[ -n "$BASELINE" ] && echo "default path, nfstream now / baseline: $(ratio nfstream baseline)"
[ $quick -eq 1 ] && echo "(--quick: mixed.pcap runs for ~50 ms, mostly start-up; the target is on big-mix-x80)"
exit $failed
