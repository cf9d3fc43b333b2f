#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# What a C plugin costs per packet (issue 14's target: at most 20 ns per packet), on
# big-mix-x80.pcap (3,172,000 packets, 286,640 flows): the CPU time (user + system, all
# threads, the least of BENCH_RUNS runs) of
#   none     flowsight -r FILE --n-dissections 0 -o /dev/null
#   empty    the same with tests/plugins/empty.c (called on every packet, reads one field)
#   native   the same as none with --splt-analysis 20
#   SPLT     the same as none with build/plugins/splt.so:sequence_length=20
# and the differences empty - none and SPLT - native in ns per packet (the target is
# judged on the best runs; the median of each round's difference is printed beside it).
# Runs alternate between the two sides of each pair so that a busy machine weighs on both.
# Called by `make bench`; SKIP when the capture is missing (tools/bench.sh makes it).
#
# environment:
#   BENCH_BIG_DIR   where big-mix-x80.pcap is (default ../shared/data/bench/big, else
#                   BENCH_CACHE, default build/bench, where tools/bench.sh generates it)
#   BENCH_RUNS      timed runs of each, best kept (default 5)
#   BUILD           build directory (default build), FLOWSIGHT the command, CC the compiler
set -uo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-build}"
[[ "$BUILD" = /* ]] || BUILD="$ROOT/$BUILD"
FLOWSIGHT="${FLOWSIGHT:-$BUILD/flowsight}"
BIG_DIR="${BENCH_BIG_DIR:-$ROOT/../shared/data/bench/big}"
FILE="$BIG_DIR/big-mix-x80.pcap"
# without BENCH_BIG_DIR, also where tools/bench.sh (run first by make bench) generates it
if [ -z "${BENCH_BIG_DIR:-}" ] && [ ! -r "$FILE" ] && [ -r "${BENCH_CACHE:-$ROOT/build/bench}/big-mix-x80.pcap" ]; then
	FILE="${BENCH_CACHE:-$ROOT/build/bench}/big-mix-x80.pcap"
fi
RUNS="${BENCH_RUNS:-5}"
TARGET_NS=20
TIME=/usr/bin/time

echo "== plugins: cost per packet of a C plugin (target <= $TARGET_NS ns)"
if [ ! -r "$FILE" ]; then
	echo "SKIP plugins: $FILE is missing (tools/bench.sh regenerates it; or set BENCH_BIG_DIR)"
	exit 0
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "bench_plugins: BENCH_RUNS must be a positive integer" >&2; exit 2; }
for bin in "$FLOWSIGHT" "$BUILD/plugins/splt.so"; do
	[ -e "$bin" ] || { echo "bench_plugins: $bin is missing: run make first" >&2; exit 2; }
done
[ -x "$TIME" ] || { echo "bench_plugins: $TIME not found (Debian package time)" >&2; exit 2; }
mkdir -p "$BUILD/bench-plugins"
EMPTY="$BUILD/bench-plugins/empty.so"
"${CC:-cc}" -std=gnu11 -O2 -g -Wall -Wextra -Werror -fPIC -shared -I"$ROOT/include" \
	"$ROOT/tests/plugins/empty.c" -o "$EMPTY" || { echo "bench_plugins: cannot build $EMPTY" >&2; exit 2; }

COMMON=(-r "$FILE" --n-dissections 0 -o /dev/null)
declare -A ARGS=(
	[none]=""
	[empty]="--plugin $EMPTY"
	[native]="--splt-analysis 20"
	[SPLT]="--plugin $BUILD/plugins/splt.so:sequence_length=20"
)
declare -A BEST ALL T PAIRED

# The packets metered, from flowsight itself (this also warms the page cache).
packets=$("$FLOWSIGHT" -v "${COMMON[@]}" 2>&1 | sed -n 's/^flowsight: \([0-9]*\) packets: \([0-9]*\) processed.*/\2/p')
[[ "$packets" =~ ^[1-9][0-9]*$ ]] || { echo "bench_plugins: flowsight failed on $FILE" >&2; exit 1; }

cpu() { # name: one timed run, user + system seconds
	local out
	# shellcheck disable=SC2086
	out=$("$TIME" -f "%U %S" "$FLOWSIGHT" "${COMMON[@]}" ${ARGS[$1]} 2>&1 >/dev/null) || {
		echo "bench_plugins: flowsight ${ARGS[$1]} failed: $out" >&2; exit 1; }
	echo "$out" | tail -1 | awk '{ printf "%.2f", $1 + $2 }'
}

for ((i = 0; i < RUNS; i++)); do
	for name in none empty native SPLT; do
		t=$(cpu "$name") || exit 1
		ALL[$name]="${ALL[$name]:-} $t"
		T[$name]=$t
		if [ -z "${BEST[$name]:-}" ] || awk "BEGIN { exit !($t < ${BEST[$name]}) }"; then
			BEST[$name]=$t
		fi
	done
	# the same round's difference: a load that comes and goes weighs on both sides
	PAIRED[empty]="${PAIRED[empty]:-} $(awk "BEGIN { print ${T[empty]} - ${T[none]} }")"
	PAIRED[SPLT]="${PAIRED[SPLT]:-} $(awk "BEGIN { print ${T[SPLT]} - ${T[native]} }")"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-8s %-62s %6s %7s\n' run "flowsight -r big-mix-x80.pcap --n-dissections 0 -o /dev/null" "cpu s" "median"
for name in none empty native SPLT; do
	shown="${ARGS[$name]:-(no plugin)}"
	printf '%-8s %-62s %6s %7s\n' "$name" "${shown//$BUILD\//}" "${BEST[$name]}" \
		"$(echo "${ALL[$name]}" | median)"
done
status=0
for pair in "empty none" "SPLT native"; do
	set -- $pair
	ns=$(awk "BEGIN { printf \"%.1f\", (${BEST[$1]} - ${BEST[$2]}) * 1e9 / $packets }")
	met=$(awk "BEGIN { print ($ns <= $TARGET_NS) ? \"met\" : \"missed\" }")
	paired=$(awk "BEGIN { printf \"%.1f\", $(echo "${PAIRED[$1]}" | median) * 1e9 / $packets }")
	printf '%-6s - %-6s %+7.1f ns per packet (%d packets, best of %d): target <= %d ns %s' \
		"$1" "$2" "$ns" "$packets" "$RUNS" "$TARGET_NS" "$met"
	printf ' (median of the rounds'"'"' differences %+.1f)\n' "$paired"
done
exit $status
