#!/usr/bin/env bash
# Runs test binaries and scripts, keeping a tally across the stages of
# `make test` (plain build, sanitized build, fuzz smoke) so one closing line
# counts them all. A failing test is recorded, not fatal, so every stage
# runs; `summary` exits non-zero if anything failed.
#
#   run-tests.sh unit BIN...      cmocka binaries
#   run-tests.sh e2e BUILD_DIR    tests/e2e/test_*.sh (TAP-style lines)
#   run-tests.sh record KIND NAME pass|fail|skip
#   run-tests.sh summary
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
results=${NH_RESULTS:-$top/build/test-results.txt}
mkdir -p "$(dirname "$results")"

record() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$results"; }

case "${1:-}" in
unit)
	shift
	for bin in "$@"; do
		name=$(basename "$bin")
		out=$("$bin" 2>&1); rc=$?
		printf '%s\n' "$out"
		passed=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		failed=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		for _ in $(seq 1 "${passed:-0}"); do record unit "$name" pass; done
		for _ in $(seq 1 "${failed:-0}"); do record unit "$name" fail; done
		if [ "$rc" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then
			echo "FAIL: $name exited $rc"
			record unit "$name" fail
		fi
	done
	;;
e2e)
	build=$2
	export NH_BUILD=$build NH_TOP=$top
	for t in "$top"/tests/e2e/test_*.sh; do
		name=$(basename "$t" .sh)
		echo "== $name ($build)"
		out=$(timeout 600 bash "$t" 2>&1); rc=$?
		printf '%s\n' "$out"
		printf '%s\n' "$out" | grep -E '^(ok|not ok|skip) ' | while read -r status rest; do
			case "$status" in
			ok) record e2e "$name" pass ;;
			not) record e2e "$name" fail ;;
			skip) record e2e "$name" skip ;;
			esac
		done
		if [ "$rc" -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^not ok '; then
			echo "not ok - $name exited $rc"
			record e2e "$name" fail
		fi
	done
	;;
record)
	record "$2" "$3" "$4"
	;;
reset)
	rm -f "$results"
	;;
summary)
	p=$(grep -c ' pass$' "$results" 2>/dev/null); f=$(grep -c ' fail$' "$results" 2>/dev/null)
	s=$(grep -c ' skip$' "$results" 2>/dev/null)
	if [ "${f:-0}" -gt 0 ]; then
		echo "failed:"; grep ' fail$' "$results" | sort | uniq -c
	fi
	echo "tests: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
	[ "${f:-0}" -eq 0 ] && [ "${p:-0}" -gt 0 ]
	;;
*)
	echo "usage: $0 unit BIN... | e2e BUILD | record KIND NAME STATUS | reset | summary" >&2
	exit 2
	;;
esac
