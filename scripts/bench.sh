#!/usr/bin/env bash
# `make bench`: what nanohook costs a broker and what it delivers, measured
# side by side in one run, printed as a markdown table and written to
# BUILD/bench.md. Needs root (BPF probes). Loopback only; every process
# started here is stopped on exit. About 7 minutes with Mosquitto alone
# (a fresh machine), about 20 with two NanoMQ builds, the delivery table
# included.
#
#   scripts/bench.sh [BUILD]
#
# The delivery table (events/s by receiver round trip, lane.inflight,
# body.batch, HTTP version, JetStream) comes from scripts/bench-delivery.sh,
# about 4 minutes of those; BENCH_DELIVERY=0 leaves it out.
#
# Environment: NANOMQ_BIN=/path/to/nanomq adds NanoMQ (bare, nanohook, and
# its own webhook), NANOMQ_BIN_RELEASE a second NanoMQ (its Release build)
# beside it; BENCH_SHAPES ("1:1 8:8") the load shapes, publishers:subscribers;
# BENCH_RUNS (5) runs per throughput row; BENCH_MESSAGES
# (50000) publishes per burst; BENCH_STEADY_RATES ("100 10000") and
# BENCH_STEADY_S (10) for the latency runs; BENCH_CPU_RATES ("1000 10000 50000") and
# BENCH_CPU_SECONDS (5) for the CPU-at-fixed-rates table; BENCH_CALLS (200000) calls per capture-cost run;
# BENCH_BATCH (100): body.batch of the batch-mode rows.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export NH_BUILD=${1:-build}
. "$top/tests/e2e/lib.sh"

LOAD=$NH_BUILD/nh-load
PROBECOST=$NH_BUILD/nh-probecost
RUNS=${BENCH_RUNS:-5}
MSGS=${BENCH_MESSAGES:-50000}
# The fixed-rate and steady runs: 4 publishers, one subscriber.
PUBS=4
# Saturation: 1 publisher to 1 subscriber, and 8 publisher-subscriber pairs.
SHAPES=${BENCH_SHAPES:-1:1 8:8}
PAYLOAD=64
STEADY_RATES=${BENCH_STEADY_RATES:-100 10000}
STEADY_S=${BENCH_STEADY_S:-10}
CALLS=${BENCH_CALLS:-200000}
BATCH=${BENCH_BATCH:-100}
CPU_RATES=${BENCH_CPU_RATES:-1000 10000 50000}
CPU_S=${BENCH_CPU_SECONDS:-5}
# Calls timed while nanohook is stopped: their records must all fit in
# the ring buffer (64 MiB in that run's configuration).
CALLS_PAUSED=20000
OUT=$NH_BUILD/bench.md
NANOMQ_BIN=${NANOMQ_BIN:-}
NANOMQ_BIN_RELEASE=${NANOMQ_BIN_RELEASE:-}

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: nanohook attaches BPF probes: run it as root (sudo make bench)" >&2
	exit 1
fi
for f in "$NANOHOOK" "$LOAD" "$PROBECOST"; do
	[ -x "$f" ] || { echo "bench: $f is missing: run make first" >&2; exit 1; }
done
for f in "$NANOMQ_BIN" "$NANOMQ_BIN_RELEASE"; do
	if [ -n "$f" ] && [ ! -x "$f" ]; then
		echo "bench: $f (NANOMQ_BIN / NANOMQ_BIN_RELEASE) is not an executable" >&2
		exit 1
	fi
done
command -v mosquitto >/dev/null || { echo "bench: mosquitto is not installed (make deps)" >&2; exit 1; }

bench_start=$SECONDS
log() { printf '%s\n' "$*" >&2; }
progress() { printf '  [%3ds] %s\n' $((SECONDS - bench_start)) "$*" >&2; }

# ---- small helpers -----------------------------------------------------------

# kv KEY LINE: the value of KEY=value in a summary line, or empty.
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# median V...: of the numeric arguments (non-numbers skipped), or n/a.
median() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g |
		awk '{a[NR] = $1} END {
			if (NR == 0) print "n/a";
			else if (NR % 2) print a[(NR + 1) / 2];
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# fmt_int N: 123456.7 -> 123,457 (n/a stays).
fmt_int() {
	case "$1" in
	'' | n/a) echo "n/a" ;;
	*) printf '%.0f\n' "$1" | sed -E ':a;s/^([0-9]+)([0-9]{3})/\1,\2/;ta' ;;
	esac
}

# pct A B: A as a percentage of B, one decimal.
pct() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a";
		else printf "%.1f %%", 100 * a / b }'
}

# ms_of PID: user + system CPU time of a live process, in ms.
ms_of() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) * 1000 / hz }' \
		"/proc/$1/stat" 2>/dev/null || echo n/a
}

# hwm_kb PID: peak resident set size of a live process.
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# forget PID: started here, now gone: the exit trap must not kill the
# number again (it may belong to someone else by then).
forget() {
	local i
	for i in "${!_pids[@]}"; do
		[ "${_pids[$i]}" = "$1" ] && unset '_pids[i]'
	done
}

# stop_pid PID [SIGNAL [SECONDS]]: signal it, wait up to SECONDS (3),
# then SIGKILL.
stop_pid() {
	local pid=$1 sig=${2:-TERM} secs=${3:-3} i
	kill -"$sig" "$pid" 2>/dev/null
	for i in $(seq 1 $((secs * 20))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	forget "$pid"
}

# pick_port (replaces lib.sh's): a loopback port no socket uses, below the
# ephemeral range. NanoMQ's webhook opens a connection per body, so tens
# of thousands of ephemeral ports pass through TIME_WAIT during a run, and
# a broker given one of them fails to listen.
pick_port() {
	local low p
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	[ "${low:-0}" -gt 11000 ] || low=32768
	for _ in $(seq 1 50); do
		p=$((10000 + RANDOM % (low - 10000)))
		[ -z "$(ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null)" ] &&
			{ echo "$p"; return 0; }
	done
	return 1
}

# ---- the endpoint ------------------------------------------------------------

# start_endpoint NAME [nh-load endpoint options]: sets EP_PID, EP_PORT, EP_OUT.
start_endpoint() {
	local name=$1; shift
	EP_OUT=$WORK/$name.endpoint
	"$LOAD" --endpoint 0 "$@" >"$EP_OUT" 2>"$EP_OUT.err" &
	EP_PID=$!
	_pids+=("$EP_PID")
	wait_for 5 grep -q '^listening on ' "$EP_OUT" || return 1
	EP_PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$EP_OUT")
	[ -n "$EP_PORT" ]
}

# finish_endpoint SECONDS: lets it reach --expect or --idle for up to
# SECONDS, then stops it; its summary line lands in EP_LINE.
finish_endpoint() {
	local i
	for i in $(seq 1 $(($1 * 20))); do
		kill -0 "$EP_PID" 2>/dev/null || break
		sleep 0.05
	done
	stop_pid "$EP_PID" TERM
	EP_LINE=$(grep '^requests=' "$EP_OUT" | tail -1)
}

# hook_block URL [LINE]: the one webhook block every run uses, NanoMQ's own
# webhook and nanohook alike (LINE: the batch mode's setting).
hook_block() {
	cat <<CONF
webhook {
  url = "$1"
  headers.content-type = "application/json"
  body.encoding = plain
  ${2:-}
  pool_size = 4
  events = [
    { event = "on_message_publish", topic = "nhbench/#" }
  ]
}
CONF
}

# ---- brokers -----------------------------------------------------------------

# start_broker KIND NAME [extra NanoMQ conf file]: KIND mosquitto, nanomq
# (NANOMQ_BIN) or nanomq_release (NANOMQ_BIN_RELEASE); sets BROKER_PID,
# BROKER_PORT.
start_broker() {
	local kind=$1 name=$2 extra=${3:-} bin=$NANOMQ_BIN
	[ "$kind" = nanomq_release ] && bin=$NANOMQ_BIN_RELEASE
	if [ "$kind" = mosquitto ]; then
		start_mosquitto "$name" || return 1
		BROKER_PID=$MOSQ_PID BROKER_PORT=$MOSQ_PORT
		return 0
	fi
	local conf=$WORK/$name.nanomq.conf
	BROKER_PORT=$(pick_port) || return 1
	{
		echo "listeners.tcp { bind = \"127.0.0.1:$BROKER_PORT\" }"
		echo "log { to = [console], level = error }"
		echo "auth { allow_anonymous = true }"
		# Its own IPC names: the defaults in /tmp clash with any other
		# NanoMQ on the machine, and its webhook then silently stays off.
		echo "system { hook_ipc_url = \"ipc://$WORK/$name.hook.ipc\","
		echo "         cmd_ipc_url = \"ipc://$WORK/$name.cmd.ipc\" }"
		# A subscriber queue that holds a whole burst: with the default
		# (2,048) NanoMQ drops a third of a 50,000 burst to the
		# subscriber even without a webhook, and we time delivery.
		echo "mqtt { max_mqueue_len = 65536 }"
		[ -n "$extra" ] && cat "$extra"
	} >"$conf"
	"$bin" start --conf "$conf" >"$WORK/$name.nanomq.log" 2>&1 &
	BROKER_PID=$!
	_pids+=("$BROKER_PID")
	wait_for 10 eval '! port_free $BROKER_PORT' || {
		log "NanoMQ did not start:"; sed 's/^/    /' "$WORK/$name.nanomq.log" >&2
		return 1
	}
}

# ---- nanohook ----------------------------------------------------------------

# A nanohook with a disk spool takes a lock on it; one of another test on
# the same machine would hold the default one. Each run gets its own.
spool_opt=()
case "$("$NANOHOOK" --help 2>/dev/null)" in *--spool-dir*) spool_opt=(--spool-dir) ;; esac

# attach NAME PID CONF [nanohook options]: sets NH_PID, NH_LOG; bodies
# printed with --stdout go to /dev/null.
attach() {
	local name=$1 pid=$2 conf=$3; shift 3
	NH_LOG=$WORK/$name.nanohook.log
	[ ${#spool_opt[@]} -gt 0 ] && set -- "$@" "${spool_opt[0]}" "$WORK/$name.spool"
	"$NANOHOOK" --pid "$pid" --conf "$conf" "$@" >/dev/null 2>"$NH_LOG" &
	NH_PID=$!
	_pids+=("$NH_PID")
	wait_for 20 grep -qs 'attached to' "$NH_LOG" || {
		log "nanohook did not attach:"; sed 's/^/    /' "$NH_LOG" >&2
		stop_pid "$NH_PID" KILL 1
		return 1
	}
}

# detach: SIGINT, so that it flushes and prints its summary; sets
# NH_SEEN, NH_POSTED (posted or printed), NH_DROPPED.
detach() {
	stop_pid "$NH_PID" INT 15
	NH_SEEN=$(awk '$1 == "seen" { print $2 }' "$NH_LOG")
	NH_POSTED=$(awk '$1 == "posted" || $1 == "printed" { print $2 }' "$NH_LOG")
	NH_DROPPED=$(awk '$1 == "dropped" { print $2 }' "$NH_LOG")
}

# abort_run: stops whatever the failed run left behind, so that it does
# not take CPU from the runs after it.
abort_run() {
	local p
	for p in "${EP_PID:-}" "${NH_PID:-}" "${BROKER_PID:-}"; do
		[ -n "$p" ] && kill -0 "$p" 2>/dev/null && stop_pid "$p" KILL 1
	done
	EP_PID= NH_PID= BROKER_PID=
	return 1
}

# ---- one burst ---------------------------------------------------------------

# burst KIND SHAPE MODE I: one fresh broker, one burst of MSGS publishes
# through it, SHAPE (P:S) P publishers to S subscribers (1:1, or P pairs).
# MODE: bare | stdout (nanohook capturing, printing to /dev/null, no HTTP) |
# nanohook | batch (nanohook, body.batch = BATCH) | webhook (NanoMQ's own).
# Appends to $WORK/results: KIND SHAPE MODE key=value...
burst() {
	local kind=$1 shape=$2 mode=$3 i=$4 name="$1-${2/:/to}-$3-$4" conf line ep="" extra=""
	local hwm="" nh_cpu="" broker_cpu seen="" posted="" dropped="" posts=false

	EP_PID= NH_PID= BROKER_PID=
	case "$mode" in nanohook | batch | webhook) posts=true ;; esac
	if $posts; then
		start_endpoint "$name" --expect "$MSGS" --idle 3 --timeout 300 || abort_run || return 1
		conf=$WORK/$name.hook.conf
		hook_block "http://127.0.0.1:$EP_PORT/hook" \
			"$([ "$mode" = batch ] && echo "body.batch = $BATCH")" >"$conf"
	elif [ "$mode" = stdout ]; then
		conf=$WORK/$name.hook.conf
		hook_block "http://127.0.0.1:9/unused" >"$conf"
	fi
	[ "$mode" = webhook ] && extra=$conf
	start_broker "$kind" "$name" "$extra" || abort_run || return 1
	case "$mode" in
	nanohook | batch) attach "$name" "$BROKER_PID" "$conf" || abort_run || return 1 ;;
	stdout) attach "$name" "$BROKER_PID" "$conf" --stdout || abort_run || return 1 ;;
	esac

	line=$("$LOAD" --port "$BROKER_PORT" --publishers "${shape%:*}" \
		--subscribers "${shape#*:}" --messages "$MSGS" --payload-size "$PAYLOAD" --stamp \
		--timeout 60 2>>"$WORK/$name.load.err")
	if $posts; then
		finish_endpoint 60
		ep=$EP_LINE
	fi
	broker_cpu=$(ms_of "$BROKER_PID")
	if [ "$mode" != bare ] && [ "$mode" != webhook ]; then
		# read while it runs: /proc forgets a process that exited
		hwm=$(hwm_kb "$NH_PID"); nh_cpu=$(ms_of "$NH_PID")
		detach
		seen=$NH_SEEN posted=$NH_POSTED dropped=$NH_DROPPED
	fi
	stop_pid "$BROKER_PID" TERM
	echo "$kind $shape $mode rate=$(kv msgs_per_s "$line") received=$(kv received "$line")" \
	     "complete=$(kv complete "$line")" \
	     "sent=$(kv sent "$line") load_cpu=$(kv cpu_ms "$line") broker_cpu=$broker_cpu" \
	     "bodies=$(kv publish_bodies "$ep") bodies_per_s=$(kv bodies_per_s "$ep")" \
	     "p50=$(kv lat_p50_ms "$ep") p99=$(kv lat_p99_ms "$ep") ep_cpu=$(kv cpu_ms "$ep")" \
	     "seen=$seen posted=$posted dropped=$dropped hwm=$hwm nh_cpu=$nh_cpu" >>"$WORK/results"
	progress "$kind $shape $mode run $i: $(kv msgs_per_s "$line") msgs/s" \
		 "$([ "$(kv complete "$line")" = 1 ] || echo "(incomplete: $(kv received "$line") of $MSGS received)")" \
		 "${ep:+, $(kv publish_bodies "$ep") bodies}"
}

# col KIND SHAPE MODE KEY: the KEY values of every run of KIND SHAPE MODE.
col() {
	awk -v k="$1" -v sh="$2" -v m="$3" -v key="$4" '$1 == k && $2 == sh && $3 == m {
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) print kv[2] } }' \
		"$WORK/results" 2>/dev/null
}
med() { median $(col "$1" "$2" "$3" "$4"); }

# modes_of KIND SHAPE: the rows of a shape. The last shape (8:8) gets every
# mode; the others the ratio alone (bare, nanohook, the broker's webhook).
modes_of() {
	local m="bare nanohook"
	[ "$2" = "${SHAPES##* }" ] && m="bare stdout nanohook batch"
	case "$1" in nanomq*) m="$m webhook" ;; esac
	echo "$m"
}

# incomplete KIND SHAPE MODE: " (N incomplete: received ...)" for runs in
# which the subscribers never got every message (nh-load gave up).
incomplete() {
	awk -v k="$1" -v sh="$2" -v m="$3" -v want="$MSGS" '$1 == k && $2 == sh && $3 == m {
		c = r = ""
		for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "complete") c = kv[2]; if (kv[1] == "received") r = kv[2] }
		if (c != "1") { n++; got = got (got ? ", " : "") r } }
		END { if (n) printf " (%d incomplete: received %s of %d)", n, got, want }' "$WORK/results"
}

# ---- steady rate -----------------------------------------------------------------

# steady KIND MODE RATE: RATE msg/s for STEADY_S s; appends to $WORK/steady.
steady() {
	local kind=$1 mode=$2 rate=$3 name="steady-$1-$2-$3" conf extra="" line
	local n=$(($3 * STEADY_S))

	EP_PID= NH_PID= BROKER_PID=
	start_endpoint "$name" --expect "$n" --idle 5 --timeout 300 || abort_run || return 1
	conf=$WORK/$name.hook.conf
	hook_block "http://127.0.0.1:$EP_PORT/hook" >"$conf"
	[ "$mode" = webhook ] && extra=$conf
	start_broker "$kind" "$name" "$extra" || abort_run || return 1
	if [ "$mode" = nanohook ]; then
		attach "$name" "$BROKER_PID" "$conf" || abort_run || return 1
	fi
	line=$("$LOAD" --port "$BROKER_PORT" --publishers "$PUBS" --messages "$n" --rate "$rate" \
		--payload-size "$PAYLOAD" --subscribe --stamp --timeout 300 2>>"$WORK/$name.load.err")
	finish_endpoint 30
	[ "$mode" = nanohook ] && detach
	stop_pid "$BROKER_PID" TERM
	echo "$kind $mode $rate sent=$(kv sent "$line") bodies=$(kv publish_bodies "$EP_LINE")" \
	     "p50=$(kv lat_p50_ms "$EP_LINE") p99=$(kv lat_p99_ms "$EP_LINE")" \
	     "max=$(kv lat_max_ms "$EP_LINE")" >>"$WORK/steady"
	progress "steady $kind $mode $rate/s: p50 $(kv lat_p50_ms "$EP_LINE") ms," \
		 "p99 $(kv lat_p99_ms "$EP_LINE") ms"
}

# ---- CPU at fixed rates ----------------------------------------------------------------

# slow_note BARE_LINE ATTACHED_LINE: " (rate not kept: ...)" when a run took
# over 10 % longer than CPU_S: the machine, not the rate, bounds that row.
slow_note() {
	local b a
	b=$(kv wall_ms "$1"); a=$(kv wall_ms "$2")
	awk -v b="${b:-0}" -v a="${a:-0}" -v want="$((CPU_S * 1000))" 'BEGIN {
		if (b > want * 1.1 || a > want * 1.1)
			printf " (rate not kept: %.1f s bare, %.1f s attached)", b / 1000, a / 1000 }'
}

# at_rate KIND MODE RATE: RATE msg/s for CPU_S seconds from PUBS publishers
# (QoS 0, a subscriber counting), bare or with nanohook posting every
# publish; appends "KIND MODE RATE broker_pct= nh_pct= ep_pct= rps= ..."
# (CPU as % of one core over the publishing interval, from /proc/PID/stat:
# utime + stime) to $WORK/rates.
at_rate() {
	local kind=$1 mode=$2 rate=$3 name="rate-$1-$2-$3" conf line n=$(($3 * CPU_S))
	local b0 b1 h0=0 h1=0 t0 t1

	EP_PID= NH_PID= BROKER_PID=
	start_endpoint "$name" --expect "$n" --idle 5 --timeout 120 || abort_run || return 1
	conf=$WORK/$name.hook.conf
	hook_block "http://127.0.0.1:$EP_PORT/hook" >"$conf"
	start_broker "$kind" "$name" "" || abort_run || return 1
	if [ "$mode" = nanohook ]; then
		attach "$name" "$BROKER_PID" "$conf" || abort_run || return 1
	fi
	b0=$(ms_of "$BROKER_PID")
	[ "$mode" = nanohook ] && h0=$(ms_of "$NH_PID")
	t0=$(date +%s%N)
	line=$("$LOAD" --port "$BROKER_PORT" --publishers "$PUBS" --messages "$n" --rate "$rate" \
		--payload-size "$PAYLOAD" --subscribe --timeout 120 2>>"$WORK/$name.load.err")
	t1=$(date +%s%N)
	b1=$(ms_of "$BROKER_PID")
	[ "$mode" = nanohook ] && h1=$(ms_of "$NH_PID")
	[ "$mode" = nanohook ] && finish_endpoint 10
	[ "$mode" = nanohook ] && detach
	[ -n "$EP_PID" ] && stop_pid "$EP_PID" TERM
	[ "$mode" = nanohook ] || EP_LINE=
	stop_pid "$BROKER_PID" TERM
	awk -v k="$kind" -v m="$mode" -v r="$rate" -v b="$((b1 - b0))" -v h="$((h1 - h0))" \
	    -v w="$(( (t1 - t0) / 1000000 ))" -v rcv="$(kv received "$line")" \
	    -v req="$(kv requests "$EP_LINE")" -v bodies="$(kv publish_bodies "$EP_LINE")" \
	    'BEGIN { if (w <= 0) w = 1
		     printf "%s %s %s broker_pct=%.1f nh_pct=%.1f rps=%.0f received=%s bodies=%s wall_ms=%d\n",
			    k, m, r, 100 * b / w, 100 * h / w, (req == "" ? 0 : req) * 1000 / w,
			    rcv, (bodies == "" ? 0 : bodies), w }' >>"$WORK/rates"
	progress "rate $kind $mode $rate/s: $(tail -1 "$WORK/rates" | cut -d' ' -f4-)"
}

# ---- capture cost ----------------------------------------------------------------

# probecost MODE: one nh-probecost run; ns per call in PC_NS. (Not run in
# a $(...) subshell: what it starts must stay in _pids for the exit trap.)
#   bare | entry | both | reads | ringbuf | ringbuf-nowakeup (nh-probecost
#   --noop MODE) | nanohook | paused (nanohook stopped: its probes run,
#   nobody consumes, so no wakeups)
probecost() {
	local mode=$1 ev=${2:-publish} out=$WORK/probecost.out conf=$WORK/probecost.conf pc line
	local calls=$CALLS rec_bytes rule
	PC_NS=
	case "$mode" in
	bare) line=$("$PROBECOST" --calls "$CALLS" --event "$ev") ;;
	entry | both | reads | ringbuf | ringbuf-nowakeup)
		line=$("$PROBECOST" --calls "$CALLS" --event "$ev" --noop "$mode")
		rec_bytes=$(kv record_bytes "$line")
		[ -n "$rec_bytes" ] && PC_REC_BYTES=$rec_bytes
		case "$(kv ring_full "$line")" in
		'' | 0) ;;
		*) log "probecost $mode: the ring buffer filled; run not used"; return 1 ;;
		esac
		;;
	nanohook | paused)
		[ "$mode" = paused ] && calls=$CALLS_PAUSED
		case "$ev" in
		connack) rule=on_client_connack ;;
		disconnected) rule=on_client_disconnected ;;
		*) rule="" ;;
		esac
		{
			# nh-probecost publishes to nhbench/probecost
			if [ -n "$rule" ]; then
				printf 'webhook {\n  url = "http://127.0.0.1:9/unused"\n'
				printf '  events = [ { event = "%s" } ]\n}\n' "$rule"
			else
				hook_block "http://127.0.0.1:9/unused"
			fi
			echo "nanohook { ringbuf_size = 64MB }"
		} >"$conf"
		"$PROBECOST" --calls "$calls" --event "$ev" --wait >"$out" 2>&1 &
		pc=$!
		_pids+=("$pc")
		wait_for 5 grep -q '^pid ' "$out" || { stop_pid "$pc"; return 1; }
		attach probecost "$pc" "$conf" --stdout || { stop_pid "$pc"; return 1; }
		[ "$mode" = paused ] && kill -STOP "$NH_PID"
		kill -USR1 "$pc"
		wait "$pc"
		forget "$pc"
		[ "$mode" = paused ] && kill -CONT "$NH_PID"
		detach
		line=$(grep '^mode=' "$out")
		# A ring buffer that filled would make the run look cheap.
		if [ "${NH_DROPPED:-0}" != 0 ]; then
			log "probecost $mode: nanohook dropped $NH_DROPPED records; run not used"
			return 1
		fi
		;;
	esac
	PC_NS=$(kv ns_per_call "$line")
	[ -n "$PC_NS" ]
}

# ---- the run ---------------------------------------------------------------------

machine() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	printf '%s vCPU (%s), kernel %s, %s' "$(nproc)" "${model:-unknown CPU}" "$(uname -r)" \
		"$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")"
}

load_before=$(cut -d' ' -f1 /proc/loadavg)
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
kinds=mosquitto
[ -n "$NANOMQ_BIN" ] && kinds="$kinds nanomq"
[ -n "$NANOMQ_BIN_RELEASE" ] && kinds="$kinds nanomq_release"
: >"$WORK/results"
: >"$WORK/steady"

log "bench: $(machine)"
log "bench: $RUNS interleaved runs of $MSGS publishes per row; load average now $load_before"

log "== broker throughput and burst delivery, shapes (publishers:subscribers) $SHAPES"
for i in $(seq 1 "$RUNS"); do
	for kind in $kinds; do
		for shape in $SHAPES; do
			for mode in $(modes_of "$kind" "$shape"); do
				burst "$kind" "$shape" "$mode" "$i" ||
					log "  $kind $shape $mode run $i failed"
			done
		done
	done
done

log "== steady rates: $STEADY_RATES msg/s for $STEADY_S s each"
for rate in $STEADY_RATES; do
	for kind in $kinds; do
		steady "$kind" nanohook "$rate" || log "  steady $kind nanohook $rate failed"
		[ "$kind" = mosquitto ] && continue
		steady "$kind" webhook "$rate" || log "  steady $kind webhook $rate failed"
	done
done

log "== CPU at fixed rates: $CPU_RATES msg/s for $CPU_S s each"
: >"$WORK/rates"
for kind in $kinds; do
	for rate in $CPU_RATES; do
		for mode in bare nanohook; do
			at_rate "$kind" "$mode" "$rate" || log "  rate $kind $mode $rate failed"
		done
	done
done

log "== capture cost: handle_pub x $CALLS, and per event type"
declare -A pc_runs
PC_REC_BYTES=
pc_modes="bare entry both reads ringbuf ringbuf-nowakeup nanohook paused"
pc_events="publish connack disconnected"
for i in $(seq 1 "$RUNS"); do
	for mode in $pc_modes; do
		probecost "$mode" && pc_runs[$mode]+="$PC_NS "
	done
	for ev in connack disconnected; do
		for mode in bare entry nanohook; do
			probecost "$mode" "$ev" && pc_runs[$ev/$mode]+="$PC_NS "
		done
	done
	progress "capture cost round $i: ${pc_runs[nanohook]:-} (nanohook, publish)"
done
load_after=$(cut -d' ' -f1 /proc/loadavg)

# ---- the table ---------------------------------------------------------------------

kind_name() {
	case "$1" in
	mosquitto) echo "Mosquitto $(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version //p' | head -1)" ;;
	nanomq) echo "NanoMQ$([ -n "$NANOMQ_BIN_RELEASE" ] && echo " (default build)")" ;;
	nanomq_release) echo "NanoMQ (Release build)" ;;
	esac
}
shape_name() { echo "${1%:*} → ${1#*:}"; }
mode_name() {
	case "$1" in
	bare) echo "none (bare broker)" ;;
	stdout) echo "nanohook, bodies to /dev/null (capture, no HTTP)" ;;
	nanohook) echo "nanohook, POST to the endpoint" ;;
	batch) echo "nanohook, body.batch = $BATCH (JSON arrays), POST" ;;
	webhook) echo "the broker's own webhook, POST to the endpoint" ;;
	esac
}

{
	echo "## Benchmark: $date_utc"
	echo
	echo "Machine: $(machine); load average $load_before before, $load_after after."
	[ -n "$NANOMQ_BIN" ] && echo "NanoMQ: \`$NANOMQ_BIN\`."
	[ -n "$NANOMQ_BIN_RELEASE" ] && echo "NanoMQ, Release build: \`$NANOMQ_BIN_RELEASE\`."
	echo
	echo "Every process on this machine, over loopback: broker, load generator"
	echo "(\`nh-load\`), endpoint (\`nh-load --endpoint\`:"
	echo "libmicrohttpd, one thread, counts bodies) and nanohook share its CPUs. A fresh"
	echo "broker per run; runs interleaved (bare, capture, nanohook, webhook, bare, ...)."
	echo "One webhook block for nanohook and NanoMQ's own webhook alike: body.encoding ="
	echo "plain, pool_size = 4, on_message_publish for nhbench/#."
	echo
	echo "### Broker throughput: $(fmt_int "$MSGS") QoS 0 publishes of $PAYLOAD B, publishers → subscribers"
	echo
	echo "Messages per second the subscribers received (first publish to last message"
	echo "received), median of $RUNS runs; ratio of the medians to the bare broker's, same"
	echo "broker and shape. Shapes: 1 → 1 is one publisher to one subscriber; 8 → 8 is"
	echo "eight publisher-subscriber pairs, each on its own topic (nh-load --subscribers)."
	echo
	echo "| broker | shape | webhook | msgs/s (median) | of bare | each run (msgs/s) |"
	echo "|---|---|---|---:|---:|---|"
	for kind in $kinds; do
		for shape in $SHAPES; do
			bare=$(med "$kind" "$shape" bare rate)
			for mode in $(modes_of "$kind" "$shape"); do
				m=$(med "$kind" "$shape" "$mode" rate)
				runs=$(col "$kind" "$shape" "$mode" rate | while read -r v; do fmt_int "$v"; done | paste -sd' ')
				echo "| $(kind_name "$kind") | $(shape_name "$shape") | $(mode_name "$mode") |" \
				     "$(fmt_int "$m") | $(pct "$m" "$bare") | ${runs:-n/a}$(incomplete "$kind" "$shape" "$mode") |"
			done
		done
	done
	echo
	echo "### Delivery of the same bursts"
	echo
	echo "Bodies the endpoint received of those published (median of runs), what"
	echo "nanohook counted (seen = events it captured, all kinds, wanted or not;"
	echo "posted = answered 2xx; dropped, all causes), endpoint rate (first to last body) and publish-to-POST"
	echo "latency (payload stamp to endpoint receive; in a burst this is queueing)."
	echo
	echo "| broker | shape | webhook | bodies / published | seen / posted / dropped | bodies/s | latency p50 / p99 |"
	echo "|---|---|---|---:|---:|---:|---:|"
	for kind in $kinds; do
		for shape in $SHAPES; do
			for mode in $(modes_of "$kind" "$shape"); do
				case "$mode" in bare | stdout) continue ;; esac
				b=$(med "$kind" "$shape" "$mode" bodies); s=$(med "$kind" "$shape" "$mode" sent)
				if [ "$mode" != webhook ]; then
					nh="$(fmt_int "$(med "$kind" "$shape" "$mode" seen)") / $(fmt_int "$(med "$kind" "$shape" "$mode" posted)") / $(fmt_int "$(med "$kind" "$shape" "$mode" dropped)")"
				else
					nh="-"
				fi
				runs=$(col "$kind" "$shape" "$mode" bodies | paste -sd' ')
				echo "| $(kind_name "$kind") | $(shape_name "$shape") | $(mode_name "$mode") |" \
				     "$(fmt_int "$b") / $(fmt_int "$s") ($(pct "$b" "$s")); runs: ${runs:-n/a} |" \
				     "$nh | $(fmt_int "$(med "$kind" "$shape" "$mode" bodies_per_s)") |" \
				     "$(med "$kind" "$shape" "$mode" p50) / $(med "$kind" "$shape" "$mode" p99) ms |"
			done
		done
	done
	echo
	echo "### Steady rates: publish-to-POST latency, $STEADY_S s at each rate"
	echo
	echo "| broker | webhook | msg/s | bodies / published | p50 | p99 | max |"
	echo "|---|---|---:|---:|---:|---:|---:|"
	while read -r kind mode rate rest; do
		line="$rest"
		echo "| $(kind_name "$kind") | $(mode_name "$mode") | $(fmt_int "$rate") |" \
		     "$(fmt_int "$(kv bodies "$line")") / $(fmt_int "$(kv sent "$line")") |" \
		     "$(kv p50 "$line") ms | $(kv p99 "$line") ms | $(kv max "$line") ms |"
	done <"$WORK/steady"
	echo
	echo "### Capture cost per probed call"
	echo
	echo "\`nh-probecost\` calls handle_pub (the NanoMQ stand-in's, built -O0 like NanoMQ's"
	echo "packages: first instruction \`push %rbp\`) $(fmt_int "$CALLS") times in one thread; median of"
	echo "$RUNS runs. nanohook attaches to it as to NanoMQ: at -O0 one uprobe on handle_pub_retain,"
	echo "which handle_pub calls once it accepted the publish (\`nanohook probe\` says so)."
	echo
	echo "| probes on handle_pub | ns per call | added to a bare call |"
	echo "|---|---:|---:|"
	pbare=$(median ${pc_runs[bare]:-})
	for mode in $pc_modes; do
		m=$(median ${pc_runs[$mode]:-})
		case "$mode" in
		bare) what="none" ;;
		entry) what="empty uprobe (bpf/noop.bpf.c): the trap" ;;
		both) what="empty uprobe + uretprobe: the floor for nanohook's pair" ;;
		reads) what="uprobe doing 16 bpf_probe_read_user() of 8 B" ;;
		ringbuf) what="uprobe submitting one ${PC_REC_BYTES:-nanohook-sized} B record, consumer thread woken (flags 0)" ;;
		ringbuf-nowakeup) what="the same with BPF_RB_NO_WAKEUP, consumer reading every 10 ms" ;;
		nanohook) what="nanohook's probes, nanohook consuming (bodies to /dev/null)" ;;
		paused) what="nanohook's probes, nanohook stopped: no wakeups ($(fmt_int "$CALLS_PAUSED") calls)" ;;
		esac
		added=$(awk -v a="$m" -v b="$pbare" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.0f", a - b }')
		echo "| $what | $(fmt_int "$m") | $(fmt_int "$added") |"
	done
	echo
	echo "#### Capture cost per event type"
	echo
	echo "The same loop around each event's function (nh-probecost --event): the bare call, the"
	echo "same with an empty uprobe on it (the trap alone), and with nanohook's probes for that"
	echo "event; median ns per call of $RUNS runs."
	echo
	echo "| event | probed function | bare | empty uprobe: the trap | nanohook | nanohook beyond the trap |"
	echo "|---|---|---:|---:|---:|---:|"
	for ev in $pc_events; do
		if [ "$ev" = publish ]; then
			b=$(median ${pc_runs[bare]:-}); t=$(median ${pc_runs[entry]:-}); n=$(median ${pc_runs[nanohook]:-})
			fn="handle_pub (nanohook: handle_pub_retain)"
		else
			b=$(median ${pc_runs[$ev/bare]:-}); t=$(median ${pc_runs[$ev/entry]:-}); n=$(median ${pc_runs[$ev/nanohook]:-})
			fn="nano_msg_notify"
		fi
		echo "| $ev | $fn | $(fmt_int "$b") | $(fmt_int "$t") | $(fmt_int "$n") |" \
		     "$(fmt_int "$(awk -v a="$n" -v b="$t" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.0f", a - b }')") |"
	done
	echo
	echo "### CPU at fixed rates: what nanohook costs at your rate"
	echo
	echo "$PUBS publishers at a fixed total rate for $CPU_S s (QoS 0, $PAYLOAD B, one subscriber), bare and with nanohook POSTing every publish to the endpoint (nh-load --endpoint). CPU as % of one core over the publishing interval (/proc utime + stime); one run per row."
	echo
	echo "| broker | msg/s | broker CPU, bare | broker CPU, attached | added to the broker | nanohook CPU | endpoint requests/s | bodies |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for kind in $kinds; do
		for rate in $CPU_RATES; do
			bare=$(awk -v k="$kind" -v r="$rate" '$1 == k && $2 == "bare" && $3 == r' "$WORK/rates")
			att=$(awk -v k="$kind" -v r="$rate" '$1 == k && $2 == "nanohook" && $3 == r' "$WORK/rates")
			bp=$(kv broker_pct "$bare"); ap=$(kv broker_pct "$att")
			echo "| $(kind_name "$kind") | $(fmt_int "$rate") | ${bp:-n/a} % | ${ap:-n/a} % |" \
			     "$(awk -v a="$ap" -v b="$bp" 'BEGIN { if (a == "" || b == "") print "n/a"; else printf "%+.1f %% of a core", a - b }') |" \
			     "$(kv nh_pct "$att") % | $(fmt_int "$(kv rps "$att")") | $(fmt_int "$(kv bodies "$att")") of $(fmt_int $((rate * CPU_S)))$(slow_note "$bare" "$att") |"
		done
	done
	echo
	echo "### CPU and memory per burst of $(fmt_int "$MSGS") (medians)"
	echo
	echo "| broker | shape | webhook | broker CPU ms | nanohook CPU ms | endpoint CPU ms | nh-load CPU ms | nanohook peak RSS |"
	echo "|---|---|---|---:|---:|---:|---:|---:|"
	for kind in $kinds; do
		for shape in $SHAPES; do
			for mode in $(modes_of "$kind" "$shape"); do
				hwm=$(col "$kind" "$shape" "$mode" hwm | sort -n | tail -1)
				echo "| $(kind_name "$kind") | $(shape_name "$shape") | $(mode_name "$mode") | $(fmt_int "$(med "$kind" "$shape" "$mode" broker_cpu)") |" \
				     "$(fmt_int "$(med "$kind" "$shape" "$mode" nh_cpu)") | $(fmt_int "$(med "$kind" "$shape" "$mode" ep_cpu)") |" \
				     "$(fmt_int "$(med "$kind" "$shape" "$mode" load_cpu)") |" \
				     "$( [ -n "$hwm" ] && awk -v k="$hwm" 'BEGIN { printf "%.1f MiB (max)", k / 1024 }' || echo -) |"
			done
		done
	done
	echo
	echo "Took $((SECONDS - bench_start)) s."
} >"$OUT"

# The delivery table: its own namespace, receiver and round trips.
if [ "${BENCH_DELIVERY:-1}" != 0 ]; then
	log "== delivery by round trip (scripts/bench-delivery.sh)"
	{ echo; "$top/scripts/bench-delivery.sh" "$NH_BUILD"; } >>"$OUT" ||
		log "  the delivery table failed"
fi

echo
cat "$OUT"
echo
echo "(written to $OUT)"
