#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Run every libFuzzer target for SECONDS (default 10) on seeds generated from
# tools/mkpcap's captures (tests/fuzz/seeds.py, one seed directory per
# target; FUZZ_EXTRA_PCAPS adds real captures), after replaying
# tests/fuzz/regressions/<target>/ (inputs that once crashed: each must now
# run clean).  Crashes are kept in
# $FUZZ_BUILD/artifacts.  Prints PASS/FAIL per target and a summary line.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-10}
BUILD=${BUILD:-build}
FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}
mkdir -p "$FUZZ_BUILD/artifacts"
work=$(mktemp -d "$FUZZ_BUILD/work.XXXXXX") # seeds and logs of this run only
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pcaps"
for s in $("$BUILD/mkpcap" --list); do
	case $s in bad_directory | bad_nonexistent) continue ;; esac
	"$BUILD/mkpcap" "$s" "$work/pcaps/$s.pcap" 2>/dev/null || true
done
# NFStream's test captures, when present, add real flows for dpi and bpf_parse
extra=${FUZZ_EXTRA_PCAPS:-../shared/data/nfstream-tests/pcaps}
python3 tests/fuzz/seeds.py "$work/pcaps" "$work/seeds" "$extra" || exit 1
passed=0 failed=0
for bin in "$FUZZ_BUILD"/fuzz_*; do
	case $bin in *.d) continue ;; esac # make's dependency files
	t=${bin##*/fuzz_}
	case $t in
	capture | decode | ja4 | bpf_parse | dpi | writer) seeds=$t ;;
	*) seeds=capture ;;
	esac
	corpus=$FUZZ_BUILD/corpus-$t # grows across runs
	mkdir -p "$corpus"
	log=$work/$t.log
	ok=1
	if [ -d "tests/fuzz/regressions/$t" ] && [ -n "$(ls -A "tests/fuzz/regressions/$t")" ]; then
		"$bin" -runs=0 "tests/fuzz/regressions/$t"/* >"$log.reg" 2>&1 || ok=0
	fi
	"$bin" -max_total_time="$SECONDS_EACH" -rss_limit_mb=3072 -timeout=20 \
		-artifact_prefix="$FUZZ_BUILD/artifacts/$t-" -print_final_stats=1 \
		"$corpus" "$work/seeds/$seeds" >"$log" 2>&1 || ok=0
	stats=$(grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' ')
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
	if [ $ok -eq 1 ]; then
		passed=$((passed + 1))
		echo "PASS fuzz/$t ($cov, $stats)"
	else
		failed=$((failed + 1))
		echo "FAIL fuzz/$t:"
		grep -E 'ERROR|SUMMARY|Test unit written' "$log" "$log.reg" 2>/dev/null | head -5
	fi
done
echo "$passed passed, $failed failed, 0 skipped"
[ $failed -eq 0 ]
