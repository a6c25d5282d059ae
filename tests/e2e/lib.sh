# Shared by tests/e2e/test_*.sh: start real processes (a local HTTP sink,
# the NanoMQ fixture, mosquitto, nanohook), wait for them, and report
# TAP-style lines that scripts/run-tests.sh tallies:
#   ok - NAME | not ok - NAME: why | skip - NAME: [class] why
# The skip classes scripts/run-tests.sh accepts in CI and as root are
# [nanomq] (NANOMQ_BIN not set) and [absent TOOL]; see skip_nanomq and
# skip_absent. Any other skip there is a failure.
# Every wait is bounded; every process started is killed on exit.

NH_TOP=${NH_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
NH_BUILD=${NH_BUILD:-build}
case "$NH_BUILD" in /*) ;; *) NH_BUILD=$NH_TOP/$NH_BUILD ;; esac
NANOHOOK=$NH_BUILD/nanohook
MOSQUITTO=${MOSQUITTO:-mosquitto} # start_mosquitto's binary
SINK=$NH_BUILD/nh-sink
GOLDEN=$NH_TOP/tests/golden/nanomq-0.25.3
WORK=$(mktemp -d /tmp/nh-e2e.XXXXXX)
_pids=()
_failed=0

cleanup() {
	local p
	for p in "${_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ "$_failed" -eq 0 ] || [ -z "${NH_KEEP:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap "exit 130" INT TERM

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1: $2"; _failed=$((_failed + 1)); }
skip() { echo "skip - $1: $2"; }
# skip_nanomq NAME: the test needs a real NanoMQ.
skip_nanomq() { skip "$1" "[nanomq] set NANOMQ_BIN=/path/to/nanomq to run it"; }
# skip_absent NAME TOOL HINT: TOOL, which the test drives, is not installed.
skip_absent() { skip "$1" "[absent $2] $3"; }

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		skip "$1" "needs root to attach BPF probes"
		return 1
	fi
}

# wait_for SECONDS CMD...: polls CMD every 50 ms.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
}

lines_at_least() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }

# start_sink NAME [sink options]: sets SINK_PID, SINK_PORT, SINK_OUT.
start_sink() {
	local name=$1; shift
	SINK_OUT=$WORK/$name.bodies
	: >"$SINK_OUT"
	"$SINK" --listen 127.0.0.1:0 --out "$SINK_OUT" "$@" >"$WORK/$name.sink.log" 2>&1 &
	SINK_PID=$!
	_pids+=("$SINK_PID")
	wait_for 15 grep -qs '^listening on ' "$WORK/$name.sink.log" || return 1
	SINK_PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/$name.sink.log" | head -1)
	[ -n "$SINK_PORT" ]
}

# write_conf FILE URL ENCODING [extra events lines]: the golden webhook block.
write_conf() {
	cat >"$1" <<CONF
# the golden nanomq.conf's webhook block, pointed at the test sink
log { to = [console] level = error }
webhook {
  url = "$2"
  headers.content-type = "application/json"
  body.encoding = $3
  pool_size = 4
  events = [
    { event = "on_message_publish" topic = "nmq/#" }
    { event = "on_client_connack" }
    { event = "on_client_disconnected" }
  ]
}
CONF
}

# start_nanohook NAME PID CONF [options]: waits until it has attached.
start_nanohook() {
	local name=$1 pid=$2 conf=$3; shift 3
	NH_LOG=$WORK/$name.nanohook.log
	NH_STDOUT=$WORK/$name.nanohook.out
	# A spool of its own: one nanohook per spool, and nothing a killed
	# test left behind is replayed into the next one.
	"$NANOHOOK" --pid "$pid" --conf "$conf" --spool-dir "$WORK/$name.spool" "$@" \
		>"$NH_STDOUT" 2>"$NH_LOG" &
	NH_PID=$!
	_pids+=("$NH_PID")
	if ! wait_for 20 grep -qs 'attached to' "$NH_LOG"; then
		echo "# nanohook did not attach:"; sed 's/^/#   /' "$NH_LOG"
		return 1
	fi
}

# metrics_address: where the running nanohook (NH_LOG) serves /metrics,
# when it was started with --metrics 127.0.0.1:0.
metrics_address() { sed -n 's|.*metrics on http://\(.*\)/metrics$|\1|p' "$NH_LOG" | tail -1; }

# metric NAME: one value of the running nanohook's counters, as `nanohook
# stats` prints them (NAME may carry its labels); empty if there is none.
metric() {
	"$NANOHOOK" stats --metrics "$(metrics_address)" 2>/dev/null |
		awk -v k="$1" '$1 == k { print $2; exit }'
}

# metric_is NAME OP VALUE: NAME compares with VALUE (awk's -ge, -gt, -eq ...).
metric_is() {
	local v
	v=$(metric "$1")
	[ -n "$v" ] && awk -v v="$v" -v op="$2" -v w="$3" 'BEGIN {
		exit !((op == "-ge" && v >= w) || (op == "-gt" && v > w) || (op == "-eq" && v == w) ||
		       (op == "-le" && v <= w) || (op == "-lt" && v < w)) }'
}

# drained: nothing of what the running nanohook captured is still waiting
# (memory queues, requests being sent, the disk spool).
drained() {
	metric_is spool_records -eq 0 && metric_is queue_depth -eq 0 &&
		metric_is requests_in_flight -eq 0
}

# wait_drained SECONDS [CAPTURED]: until the running nanohook has captured at
# least CAPTURED events (when given) and finished every one of them.
wait_drained() {
	[ -z "${2:-}" ] || wait_for "$1" metric_is events_captured_total -ge "$2" || return 1
	wait_for "$1" drained
}

# stop_nanohook: SIGINT, then its exit status in NH_STATUS.
stop_nanohook() {
	kill -INT "$NH_PID" 2>/dev/null
	local i
	for i in $(seq 1 200); do
		kill -0 "$NH_PID" 2>/dev/null || break
		sleep 0.05
	done
	wait "$NH_PID"; NH_STATUS=$?
	check_sanitizers "$NH_LOG"
}

# summary_value NAME: the number on the line starting with NAME in the
# summary nanohook printed at exit (posted, dropped, dead, spooled ...).
summary_value() {
	awk -v k="$1" '/^nanohook: summary after/ { s = 1 } s && $1 == k { print $2; exit }' "$NH_LOG"
}

# check_sanitizers LOG: a sanitizer report in a log is a failure of its
# own, whatever the test checked (a leak only changes the exit status).
check_sanitizers() {
	if grep -Eq '(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$1" 2>/dev/null; then
		not_ok "sanitizers: $(basename "$1")" \
			"$(grep -Em3 '(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$1" | tr '\n' ';')"
		grep -A12 -E '==ERROR|runtime error:' "$1" | head -40 | sed 's/^/#   /'
	fi
}

# Bodies with ts zeroed, sorted: the comparable form of a body file.
normalize() { sed -E 's/^\{"ts":[0-9]+,/{"ts":0,/' "$1" | LC_ALL=C sort; }

# expected_golden ENCODING: the golden bodies, except that nanohook
# reports the killed client's disconnect as it really was.
expected_golden() {
	sed -E '/"clientid":"c-killed","action":"client_disconnected"/s/"reason":"normal"/"reason":"abnormal"/' \
		"$GOLDEN/bodies-$1.jsonl" >"$WORK/expected-$1.jsonl"
	echo "$WORK/expected-$1.jsonl"
}

# same_bodies NAME EXPECTED_FILE GOT_FILE
same_bodies() {
	local diff_file=$WORK/$(printf '%s' "$1" | tr -c 'A-Za-z0-9_-' '_').diff
	if diff <(normalize "$2") <(normalize "$3") >"$diff_file"; then
		ok "$1"
	else
		not_ok "$1" "bodies differ"; sed 's/^/#   /' "$diff_file" | head -20
	fi
}

# port_free PORT: nothing listens on 127.0.0.1:PORT.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# pick_port: a free loopback TCP port for a broker.
pick_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		port_free "$p" && { echo "$p"; return 0; }
	done
	return 1
}

# start_mosquitto NAME [extra config lines...]: a real mosquitto on a free
# loopback port; sets MOSQ_PID, MOSQ_PORT.
start_mosquitto() {
	local name=$1; shift
	local conf=$WORK/$name.mosquitto.conf line
	MOSQ_PORT=$(pick_port) || return 1
	{
		echo "listener $MOSQ_PORT 127.0.0.1"
		# as root mosquitto would switch to its own user and lose
		# access to the test's private folder
		echo "user root"
		echo "allow_anonymous true"
		echo "persistence false"
		echo "log_dest stderr"
		echo "log_type error"
		for line in "$@"; do echo "$line"; done
	} >"$conf"
	"$MOSQUITTO" -c "$conf" >"$WORK/$name.mosquitto.log" 2>&1 &
	MOSQ_PID=$!
	_pids+=("$MOSQ_PID")
	wait_for 10 eval '! port_free $MOSQ_PORT' || {
		echo "# mosquitto did not start:"; sed 's/^/#   /' "$WORK/$name.mosquitto.log"
		return 1
	}
}

# golden_clients PORT: the golden client actions (tests/golden/.../README.md)
# with mosquitto-clients against PORT.
golden_clients() {
	local port=$1 sub
	mosquitto_pub -p "$port" -i c-v311-user -u alice -k 30 -t nmq/pub -m 'Hello World!' -q 1 -r
	mosquitto_pub -p "$port" -i c-v5-nouser -V mqttv5 -k 60 -t nmq/a/b -m 'v5 payload' -q 2
	mosquitto_pub -p "$port" -i c-binary -t nmq/bin -f "$GOLDEN/binary.bin" -q 0
	mosquitto_pub -p "$port" -i c-empty -t nmq/empty -n -q 1
	mosquitto_pub -p "$port" -i c-escape -t nmq/esc -m "$(printf 'quote " backslash \\ tab\t unicode é ✓')" -q 0
	mosquitto_pub -p "$port" -i c-nomatch -t other/topic -m 'filtered out' -q 0
	mosquitto_pub -p "$port" -i c-v31 -V mqttv31 -u bob -t nmq/v31 -m 'v3.1' -q 0
	# Killed once its subscription is in place: the broker has accepted
	# the session, so the kill is an abnormal end of a live session.
	stdbuf -oL mosquitto_sub -d -p "$port" -i c-killed -t 'nmq/#' >"$WORK/c-killed.out" 2>&1 &
	sub=$!
	wait_for 15 grep -qs 'received SUBACK' "$WORK/c-killed.out" ||
		not_ok "c-killed subscribes" "no SUBACK within 15 s"
	kill -KILL "$sub"
	wait "$sub" 2>/dev/null
	return 0
}

# start_sub NAME MOSQUITTO_SUB_ARGS...: a mosquitto_sub in the background,
# returning once the broker has acknowledged its subscription (so a test
# that then stops or kills it ends a live session); sets SUB_PID.
start_sub() {
	local name=$1; shift
	stdbuf -oL mosquitto_sub -d "$@" >"$WORK/$name.sub.out" 2>&1 &
	SUB_PID=$!
	_pids+=("$SUB_PID")
	# stdbuf: mosquitto_sub's -d lines, to a file, would sit in its stdio
	# buffer until it exits.
	wait_for 15 grep -qs 'received SUBACK' "$WORK/$name.sub.out" ||
		not_ok "$name subscribes" "no SUBACK within 15 s: $(tail -2 "$WORK/$name.sub.out" | tr '\n' ' ')"
}

# extra_room: after the bodies a test waits for have all arrived, a moment
# for one body too many to show up before the exact comparison. It cannot
# fail a correct run (everything expected is already there); it only gives
# a wrong extra body the chance to be seen.
extra_room() { sleep 0.3; }

# alive PID: true while PID runs (a dead child that is not yet reaped is
# a zombie, which kill -0 still finds).
alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st#Z}" = "$st" ]
}
dead() { ! alive "$1"; }

# stop_bounded PID SIGNAL SECONDS: sends SIGNAL, waits at most SECONDS,
# then SIGKILLs; reaps it and leaves its exit status in STOP_STATUS.
# Returns 1 if it had to be killed, so a hang is reported, not waited on.
stop_bounded() {
	local pid=$1 killed=0
	kill -"$2" "$pid" 2>/dev/null
	if ! wait_for "$3" dead "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		killed=1
	fi
	wait "$pid" 2>/dev/null; STOP_STATUS=$?
	return $killed
}

# free_tcp_port FROM: the first port from FROM up with no listener on it.
# Another process may still take it first, so callers retry on failure.
free_tcp_port() {
	local p=$1
	while [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; do p=$((p + 1)); done
	echo "$p"
}

# listening PID PORT: true once PID itself listens on PORT.
listening() { ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"; }

# report_checks FILE WORD PREFIX: each line "WORD NAME: TEXT  ok" a checker
# (tests/tools/nh-conformance.py) wrote to FILE as "ok - PREFIX NAME: TEXT",
# any other "WORD NAME: TEXT" as not ok.
report_checks() {
	local _w name rest
	while read -r _w name rest; do
		name=${name%:}
		case "$rest" in
		*"  ok") ok "$3$name: ${rest%  ok}" ;;
		*) not_ok "$3$name" "$rest" ;;
		esac
	done < <(grep "^$2 " "$1")
}

# expect_body FILE NAME BODY: exactly one such body is in FILE.
expect_body() {
	local n
	n=$(grep -cxF "$3" "$1")
	if [ "$n" -eq 1 ]; then ok "$2"; else not_ok "$2" "$n bodies like $3"; fi
}

# all_events_conf FILE URL: every one of the twelve events, no topic filter.
all_events_conf() {
	cat >"$1" <<CONF
webhook {
  url = "$2"
  pool_size = 1
  events = [
    { event = on_client_connect } { event = on_client_connected } { event = on_client_connack }
    { event = on_client_disconnected } { event = on_client_subscribe } { event = on_client_unsubscribe }
    { event = on_session_subscribed } { event = on_session_unsubscribed } { event = on_session_terminated }
    { event = on_message_publish } { event = on_message_delivered } { event = on_message_acked }
  ]
}
CONF
}

# --- a real NanoMQ (NANOMQ_BIN) -------------------------------------------

# write_nanomq_conf FILE PORT [more conf text]: a loopback listener and
# no webhook {} block at all: NanoMQ 0.25.3 (conf_ver2.c) turns its own
# WebHook on whenever that block is present, unless it says enable = false.
write_nanomq_conf() {
	cat >"$1" <<CONF
listeners.tcp { bind = "127.0.0.1:$2" }
log { to = [console] level = warn }
$3
CONF
}

# start_nanomq NAME [more conf text]: on the first free port from 18831,
# moving on if another process takes it first; sets NMQ_PID, NMQ_PORT.
start_nanomq() {
	local name=$1 extra=${2:-} try
	[ -n "$extra" ] || extra='auth { allow_anonymous = true }'
	NMQ_PORT=18831
	for try in 1 2 3 4 5; do
		NMQ_PORT=$(free_tcp_port "$NMQ_PORT")
		write_nanomq_conf "$WORK/$name.nanomq.conf" "$NMQ_PORT" "$extra"
		# Its own pid file, not the shared /tmp/nanomq/nanomq.pid.
		NANOMQ_PID_FILE=$WORK/$name.nanomq.pid \
			"$NANOMQ_BIN" start --conf "$WORK/$name.nanomq.conf" \
			>"$WORK/$name.nanomq.log" 2>&1 &
		NMQ_PID=$!
		_pids+=("$NMQ_PID")
		wait_for 10 eval 'listening $NMQ_PID $NMQ_PORT || dead $NMQ_PID'
		listening "$NMQ_PID" "$NMQ_PORT" && return 0
		stop_bounded "$NMQ_PID" KILL 2
		echo "# NanoMQ did not listen on $NMQ_PORT (try $try):"
		tail -3 "$WORK/$name.nanomq.log" | sed 's/^/#   /'
		NMQ_PORT=$((NMQ_PORT + 1))
	done
	return 1
}

stop_nanomq() { stop_bounded "$NMQ_PID" TERM 5 || echo "# NanoMQ ignored SIGTERM for 5 s"; }
