#!/usr/bin/env bash
# Following the broker: --exe and --name put the probes on the broker's
# file, so a restarted broker (a new process of the same binary) is
# covered without any intervention.
. "$(dirname "$0")/lib.sh"
need_root "follow" || exit 0
MOSQ_BIN=$(command -v mosquitto)

cat_conf() {
	cat >"$1" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  events = [ { event = on_message_publish, topic = "follow/#" } { event = on_client_connack } ]
}
CONF
}

# --exe: a broker, then a restarted one on another port.
start_sink follow-exe
cat_conf "$WORK/exe.conf"
start_mosquitto first || { not_ok "follow" "mosquitto did not start"; exit 0; }
first_port=$MOSQ_PORT first_pid=$MOSQ_PID
start_nanohook_file() { # NAME ARGS...: like start_nanohook, without --pid
	local name=$1; shift
	NH_LOG=$WORK/$name.nanohook.log
	"$NANOHOOK" "$@" --spool-dir "$WORK/$name.spool" >"$WORK/$name.out" 2>"$NH_LOG" &
	NH_PID=$!
	_pids+=("$NH_PID")
}
start_nanohook_file exe --exe "$MOSQ_BIN" --conf "$WORK/exe.conf"
wait_for 20 grep -qs 'attached to mosquitto' "$NH_LOG" || { not_ok "follow --exe" "no attach"; sed 's/^/#   /' "$NH_LOG"; }
# QoS 1: mosquitto_pub returns once the broker has stored the message
# (PUBACK), so the broker is never stopped with the PUBLISH still unread.
mosquitto_pub -p "$first_port" -i f-first -t follow/a -m 1 -q 1
kill -TERM "$first_pid"; wait "$first_pid" 2>/dev/null
start_mosquitto second
mosquitto_pub -p "$MOSQ_PORT" -i f-second -t follow/b -m 2
wait_for 10 grep -qs '"from_client_id":"f-second"' "$SINK_OUT"
stop_nanohook
if grep -q '"from_client_id":"f-first"' "$SINK_OUT" && grep -q '"from_client_id":"f-second"' "$SINK_OUT"; then
	ok "--exe: events from the broker and from its restarted process"
else
	not_ok "--exe" "missing events"; sed 's/^/#   /' "$SINK_OUT" "$NH_LOG"
fi
if [ "$NH_STATUS" -eq 0 ]; then ok "--exe: nanohook kept running across the restart, exits 0"; else
	not_ok "--exe exit" "$NH_STATUS"; fi
kill -TERM "$MOSQ_PID"; wait "$MOSQ_PID" 2>/dev/null

# --name: nanohook starts first and waits for the broker. The broker runs as
# a copy of mosquitto's binary under a name of its own, so that no other
# mosquitto on this machine (a system service, another test) is taken in.
NAMED=nh-follow-mosq
mkdir -p "$WORK/bin" "$WORK/bin2"
cp "$MOSQ_BIN" "$WORK/bin/$NAMED"
cp "$MOSQ_BIN" "$WORK/bin2/$NAMED" # the same name, another file
start_sink follow-name
cat_conf "$WORK/name.conf"
start_nanohook_file name --name "$NAMED" --conf "$WORK/name.conf"
wait_for 10 grep -qs "waiting for a process named $NAMED" "$NH_LOG" &&
	ok "--name: waits for a process of that name" || not_ok "--name wait" "no message"
MOSQUITTO=$WORK/bin/$NAMED start_mosquitto third
wait_for 20 grep -qs 'attached to mosquitto' "$NH_LOG" || { not_ok "follow --name" "no attach"; sed 's/^/#   /' "$NH_LOG"; }
mosquitto_pub -p "$MOSQ_PORT" -i n-third -t follow/c -m 3 -q 1
kill -TERM "$MOSQ_PID"; wait "$MOSQ_PID" 2>/dev/null
MOSQUITTO=$WORK/bin/$NAMED start_mosquitto fourth
mosquitto_pub -p "$MOSQ_PORT" -i n-fourth -t follow/d -m 4
wait_for 30 grep -qs '"from_client_id":"n-fourth"' "$SINK_OUT"
stop_nanohook
if grep -q '"from_client_id":"n-third"' "$SINK_OUT" && grep -q '"from_client_id":"n-fourth"' "$SINK_OUT" &&
	grep -q '"clientid":"n-fourth","action":"client_connack"' "$SINK_OUT"; then
	ok "--name: attached when the broker started, and follows its restart"
else
	not_ok "--name" "missing events"; sed 's/^/#   /' "$SINK_OUT" "$NH_LOG"
fi

# --name with two processes of that name running one binary: the probes on
# the file cover both.
fourth_pid=$MOSQ_PID fourth_port=$MOSQ_PORT
MOSQUITTO=$WORK/bin/$NAMED start_mosquitto fifth
start_sink follow-two
cat_conf "$WORK/two.conf"
start_nanohook_file two --name "$NAMED" --conf "$WORK/two.conf"
wait_for 20 grep -qs 'attached to mosquitto' "$NH_LOG" || { not_ok "--name two" "no attach"; sed 's/^/#   /' "$NH_LOG"; }
mosquitto_pub -p "$fourth_port" -i two-a -t follow/e -m 5
mosquitto_pub -p "$MOSQ_PORT" -i two-b -t follow/f -m 6
wait_for 30 eval 'grep -qs "\"from_client_id\":\"two-a\"" "$SINK_OUT" &&
	grep -qs "\"from_client_id\":\"two-b\"" "$SINK_OUT"'
stop_nanohook
if grep -q "2 processes named $NAMED (pid $fourth_pid, $MOSQ_PID) run $WORK/bin/$NAMED" "$NH_LOG" &&
	grep -q '"from_client_id":"two-a"' "$SINK_OUT" && grep -q '"from_client_id":"two-b"' "$SINK_OUT"; then
	ok "--name: two processes of one binary are both covered, and named in the log"
else
	not_ok "--name two" "missing events or log line"; sed 's/^/#   /' "$SINK_OUT" "$NH_LOG"
fi

# ... and a third of that name running another file: refused, listed.
MOSQUITTO=$WORK/bin2/$NAMED start_mosquitto sixth
start_nanohook_file other --name "$NAMED" --conf "$WORK/two.conf"
if wait_for 20 dead "$NH_PID"; then wait "$NH_PID"; rc=$?; else rc=running; fi
if [ "$rc" = 1 ] && grep -q "3 processes of that name run different binaries" "$NH_LOG" &&
	grep -q "pid $MOSQ_PID $WORK/bin2/$NAMED" "$NH_LOG" && grep -q "use --exe PATH" "$NH_LOG"; then
	ok "--name: processes of that name running different binaries are refused and listed"
else
	not_ok "--name different binaries" "exit $rc"; sed 's/^/#   /' "$NH_LOG"
fi
check_sanitizers "$NH_LOG"

# A real NanoMQ restarted under nanohook --exe, when NANOMQ_BIN names one.
if [ -z "${NANOMQ_BIN:-}" ]; then
	skip_nanomq "follow NanoMQ"
	exit 0
fi
start_sink follow-nanomq
cat_conf "$WORK/nmq.conf"
start_nanomq nmq-first || { not_ok "follow NanoMQ" "NanoMQ did not start"; exit 0; }
start_nanohook_file nmq --exe "$NANOMQ_BIN" --conf "$WORK/nmq.conf"
wait_for 20 grep -qs 'attached to nanomq' "$NH_LOG" || { not_ok "follow NanoMQ" "no attach"; sed 's/^/#   /' "$NH_LOG"; }
mosquitto_pub -h 127.0.0.1 -p "$NMQ_PORT" -i m-first -t follow/e -m 5 -q 1
stop_nanomq
start_nanomq nmq-second
mosquitto_pub -h 127.0.0.1 -p "$NMQ_PORT" -i m-second -t follow/f -m 6
wait_for 10 grep -qs '"from_client_id":"m-second"' "$SINK_OUT"
stop_nanohook
stop_nanomq
if grep -q '"from_client_id":"m-first"' "$SINK_OUT" && grep -q '"from_client_id":"m-second"' "$SINK_OUT"; then
	ok "--exe: events from NanoMQ and from its restarted process"
else
	not_ok "follow NanoMQ" "missing events"; sed 's/^/#   /' "$SINK_OUT" "$NH_LOG"
fi
exit 0
