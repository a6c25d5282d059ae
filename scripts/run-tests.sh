#!/usr/bin/env bash
# Runs test binaries and scripts, keeping a tally across the stages of
# `make test` (plain build, sanitized build, fuzz smoke) so one closing line
# counts them all. A failing test is recorded, not fatal, so every stage
# runs; `summary` exits non-zero if anything failed.
#
#   run-tests.sh unit BIN...      cmocka binaries
#   run-tests.sh e2e BUILD_DIR    tests/e2e/test_*.sh (TAP-style lines)
#   run-tests.sh image BUILD_DIR  make the container image, then run
#                                 tests/image/test_image.sh against it
#   run-tests.sh record KIND NAME pass|fail|skip [REASON]
#   run-tests.sh summary
#
# Skips. Every skip is counted and listed with its reason above the closing
# line. A reason starts with its class in brackets:
#   [nanomq]       the test needs a real NanoMQ and NANOMQ_BIN is not set
#   [absent TOOL]  the tool the test drives is not installed here
#   anything else  (not root, an opt-in variable, a missing kernel feature)
# In CI (CI=true) and whenever the suite runs as root, only the first two may
# skip: the machine can run everything else, so such a skip is a failure.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
results=${NH_RESULTS:-$top/build/test-results.txt}
mkdir -p "$(dirname "$results")"

# One line per check, tab-separated (names hold blanks): KIND NAME STATUS REASON
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$results"; }

strict() { [ "${CI:-}" = true ] || [ "$(id -u)" -eq 0 ]; }

# run_tap NAME SCRIPT BUILD: one TAP-style test script (ok / not ok / skip
# lines), each line recorded; a script that fails without a "not ok", or
# reports nothing at all, is a failure of its own.
run_tap() {
	local name=$1 script=$2 build=$3 started=$SECONDS out rc lines line rest
	echo "== $name ($build)"
	out=$(timeout 900 bash "$script" 2>&1); rc=$?
	printf '%s\n' "$out"
	echo "# $name: $((SECONDS - started)) s"
	lines=$(printf '%s\n' "$out" | grep -cE '^(ok|not ok|skip) ')
	while IFS= read -r line; do
		case "$line" in
		"ok "*) record e2e "$name" pass ;;
		"not ok "*) record e2e "$name" fail ;;
		"skip - "*)
			rest=${line#skip - }
			skip_or_fail e2e "$name: ${rest%%: *}" "${rest#*: }"
			;;
		esac
	done < <(printf '%s\n' "$out" | grep -E '^(ok|not ok|skip) ')
	if [ "$rc" -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^not ok '; then
		echo "not ok - $name exited $rc"
		record e2e "$name" fail
	elif [ "$lines" -eq 0 ]; then
		echo "not ok - $name reported nothing: no ok, not ok or skip line"
		record e2e "$name" fail
	fi
}

# allowed_skip REASON: may this skip stand on this machine?
allowed_skip() {
	case "$1" in
	"[nanomq]"*) [ -z "${NANOMQ_BIN:-}" ] ;;
	"[absent "*) true ;;
	*) ! strict ;;
	esac
}

# skip KIND NAME REASON: a skip, or a failure where the machine could run it.
skip_or_fail() {
	if allowed_skip "$3"; then
		record "$1" "$2" skip "$3"
	else
		echo "not ok - $2: skipped, but this machine can run it (${CI:+CI, }root): $3"
		record "$1" "$2" fail "skipped: $3"
	fi
}

case "${1:-}" in
unit)
	shift
	for bin in "$@"; do
		name=$(basename "$bin")
		out=$("$bin" 2>&1); rc=$?
		printf '%s\n' "$out"
		passed=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
		for _ in $(seq 1 "${passed:-0}"); do record unit "$name" pass; done
		# cmocka names each failed or skipped test twice (as it runs, and
		# in the closing list): count names, not lines.
		failed=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' | sort -u)
		for t in $failed; do record unit "$name.$t" fail; done
		skipped=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([A-Za-z_][A-Za-z0-9_]*\)$/\1/p' | sort -u)
		for t in $skipped; do
			# tests/unit/nh_test.h: NH_SKIP prints "# skip TEST: [class] why"
			why=$(printf '%s\n' "$out" | sed -n "s/^# skip $t: //p" | head -1)
			skip_or_fail unit "$name.$t" "${why:-no reason given}"
		done
		if [ "$rc" -ne 0 ] && [ -z "$failed" ]; then
			echo "FAIL: $name exited $rc"
			record unit "$name" fail
		fi
	done
	;;
e2e)
	build=$2
	export NH_BUILD=$build NH_TOP=$top
	for t in "$top"/tests/e2e/test_*.sh; do
		# test_deploy checks installed files, units and manifests:
		# nothing a sanitizer looks at, so it runs in the plain build only.
		if [ -n "${NH_SAN:-}" ] && [ "$(basename "$t")" = test_deploy.sh ]; then
			echo "# test_deploy: files and manifests, checked in the plain build"
			continue
		fi
		run_tap "$(basename "$t" .sh)" "$t" "$build"
	done
	;;
image)
	build=$2
	export NH_BUILD=$build NH_TOP=$top
	echo "== container image ($build)"
	. "$top/scripts/engine.sh"
	case "$build" in /*) ;; *) build=$top/$build ;; esac
	if ! nh_engine_setup "$build/image"; then
		skip_or_fail image "container image" "[absent podman] no container engine (apt-get install podman runc)"
	elif started=$SECONDS; ! "$top/scripts/image.sh" "$build"; then
		echo "not ok - make image"
		record image "make image" fail
	else
		record image "make image" pass
		echo "# make image: $((SECONDS - started)) s"
		run_tap test_image "$top/tests/image/test_image.sh" "$build"
	fi
	;;
record)
	if [ "$4" = skip ]; then skip_or_fail "$2" "$3" "${5:-no reason given}"; else record "$2" "$3" "$4"; fi
	;;
reset)
	rm -f "$results"
	;;
summary)
	count() { awk -F'\t' -v st="$1" '$3 == st { n++ } END { print n + 0 }' "$results" 2>/dev/null || echo 0; }
	p=$(count pass); f=$(count fail); s=$(count skip)
	if [ "$s" -gt 0 ]; then
		echo "skipped:"
		awk -F'\t' '$3 == "skip" { print "  " $2 ": " $4 }' "$results" | sort | uniq -c
	fi
	if [ "$f" -gt 0 ]; then
		echo "failed:"
		awk -F'\t' '$3 == "fail" { print "  " $2 ($4 != "" ? ": " $4 : "") }' "$results" | sort | uniq -c
	fi
	echo "tests: $p passed, $f failed, $s skipped"
	[ "$f" -eq 0 ] && [ "$p" -gt 0 ]
	;;
*)
	echo "usage: $0 unit BIN... | e2e BUILD | image BUILD | record KIND NAME STATUS [REASON] | reset | summary" >&2
	exit 2
	;;
esac
