#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR/fuzz/ for SECONDS seconds each,
# FUZZ_JOBS (default: the number of CPUs, at most 2) at a time: each fuzzer
# is one process on one core.
#
#   run-fuzz.sh SECONDS BUILD_DIR
#
# Each target fuzz_<name> gets a scratch corpus BUILD_DIR/fuzz-corpus/<name>
# as its first directory, where libFuzzer writes what it finds, and the seed
# corpus tests/fuzz/corpus/<name> second, which it only reads: the seeds in
# git never change. Crashes go to BUILD_DIR/fuzz-artifacts/, the full output
# to BUILD_DIR/fuzz-logs/. Each result is recorded with run-tests.sh; the
# exit status is non-zero if any target failed.
#
# FUZZ_SEED=N fixes libFuzzer's random seed: the test suite's short run then
# tries the same inputs on every machine (a faster one just goes further
# down the same sequence), so a pass here is a pass in CI. Without it each
# run explores afresh, which is what `make fuzz` is for.
set -uo pipefail

if [ $# -ne 2 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
	echo "usage: $0 SECONDS BUILD_DIR" >&2
	exit 2
fi
secs=$1
build=$2
top=$(cd "$(dirname "$0")/.." && pwd)
artifacts=$build/fuzz-artifacts
logs=$build/fuzz-logs
mkdir -p "$artifacts" "$logs"

shopt -s nullglob
targets=("$build"/fuzz/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
	echo "run-fuzz: no fuzz targets in $build/fuzz (run make fuzz-build)" >&2
	exit 2
fi

# fuzz_one BIN: one target's run; its report lines go to stdout.
fuzz_one() {
	local bin=$1 target name scratch seeds log start rc took runs artifact
	target=$(basename "$bin")
	name=${target#fuzz_}
	scratch=$build/fuzz-corpus/$name
	seeds=$top/tests/fuzz/corpus/$name
	log=$logs/$target.log
	# A fixed seed only repeats a run from the same start: an empty scratch.
	[ -n "${FUZZ_SEED:-}" ] && rm -rf "$scratch"
	mkdir -p "$scratch"
	local dirs=("$scratch")
	[ -d "$seeds" ] && dirs+=("$seeds")

	# libFuzzer stops itself after -max_total_time; the outer timeout only
	# catches a fuzzer wedged outside its own watchdog.
	start=$(date +%s)
	timeout --signal=KILL $((secs + 300)) "$bin" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
		-artifact_prefix="$artifacts/$target-" -print_final_stats=1 \
		"${dirs[@]}" >"$log" 2>&1
	rc=$?
	took=$(( $(date +%s) - start ))

	runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -1)
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -n "$runs" ] && [ -z "$artifact" ]; then
		echo "$target: $runs runs in $took s, ok"
		"$top"/scripts/run-tests.sh record fuzz "$target" pass
		return 0
	fi
	if [ -n "$artifact" ]; then
		echo "FAILED: $target: crash artifact $artifact (log $log)"
	else
		echo "FAILED: $target: exit $rc, no artifact (log $log)"
	fi
	# What broke and where: CI keeps only this output, not the log.
	grep -E '^(==[0-9]+==ERROR|SUMMARY|CHECK failed|.*runtime error)' "$log" | head -5 | sed 's/^/    /'
	grep -E '^ +#[0-9]+ 0x' "$log" | head -12 | sed 's/^/    /'
	[ -n "$artifact" ] && [ -f "$artifact" ] &&
		echo "    input (base64): $(head -c 4096 "$artifact" | base64 -w0)"
	"$top"/scripts/run-tests.sh record fuzz "$target" fail
	return 1
}

jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$jobs" -gt 2 ] && [ -z "${FUZZ_JOBS:-}" ] && jobs=2
[ "$jobs" -ge 1 ] 2>/dev/null || jobs=1
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
running=0
i=0
for bin in "${targets[@]}"; do
	[ -x "$bin" ] || continue
	i=$((i + 1))
	# Each report is printed whole, in target order, once all are done.
	( fuzz_one "$bin" >"$reports/$(printf %03d $i)" 2>&1; echo $? >"$reports/$(printf %03d $i).rc" ) &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait
failed=0
for f in "$reports"/[0-9][0-9][0-9]; do
	cat "$f"
	[ "$(cat "$f.rc")" = 0 ] || failed=1
done
exit $failed
