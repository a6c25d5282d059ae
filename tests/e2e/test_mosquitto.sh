#!/usr/bin/env bash
# nanohook attached to a real mosquitto (Debian's 2.0.x): every body
# checked end to end against a real local HTTP server, for real clients.
. "$(dirname "$0")/lib.sh"
need_root "mosquitto" || exit 0
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null; then
	not_ok "mosquitto" "mosquitto and mosquitto-clients are not installed (scripts/install-deps.sh)"
	exit 0
fi
N_GOLDEN=$(wc -l <"$GOLDEN/bodies-plain.jsonl")

start_mosquitto golden || { not_ok "mosquitto starts" "see log"; exit 0; }

# probe finds every function and field in Debian's stripped binary.
"$NANOHOOK" probe --pid "$MOSQ_PID" >"$WORK/probe.out" 2>&1
if grep -q '^broker:  mosquitto' "$WORK/probe.out" && grep -q '^verdict: can attach' "$WORK/probe.out" &&
	! grep -q MISSING "$WORK/probe.out"; then
	ok "probe: mosquitto found, every field established"
else
	not_ok "probe" "unexpected report"; sed 's/^/#   /' "$WORK/probe.out"
fi

# The golden client actions, in each encoding: NanoMQ's bodies.
for enc in plain base64 base62; do
	name=mosq-golden-$enc
	start_sink "$name" || { not_ok "$name" "sink did not start"; continue; }
	write_conf "$WORK/$name.conf" "http://127.0.0.1:$SINK_PORT/hook" "$enc"
	start_nanohook "$name" "$MOSQ_PID" "$WORK/$name.conf" || { not_ok "$name" "no attach"; continue; }
	golden_clients "$MOSQ_PORT"
	wait_for 15 lines_at_least "$SINK_OUT" "$N_GOLDEN"
	stop_nanohook
	same_bodies "$name: golden bodies from real clients" "$(expected_golden "$enc")" "$SINK_OUT"
	if grep -qE "posted +$N_GOLDEN " "$NH_LOG" && grep -qE 'dropped +0$' "$NH_LOG"; then
		ok "$name: summary accounts for every event"
	else
		not_ok "$name: summary" "expected posted $N_GOLDEN, dropped 0"; sed 's/^/#   /' "$NH_LOG"
	fi
done

# Topic filters with + and #, QoS 0/1/2, retain, large and binary payloads.
name=mosq-filters
start_sink "$name"
cat >"$WORK/$name.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  body.encoding = base64
  events = [
    { event = "on_message_publish", topic = "a/+/c" }
    { event = "on_message_publish", topic = "x/#" }
  ]
}
nanohook { capture.payload_max = 16384 }
CONF
start_nanohook "$name" "$MOSQ_PID" "$WORK/$name.conf"
head -c 12000 /dev/urandom >"$WORK/large.bin"
mosquitto_pub -p "$MOSQ_PORT" -i f1 -t a/b/c -m q0 -q 0
mosquitto_pub -p "$MOSQ_PORT" -i f1 -t a/b/c/d -m no -q 0
mosquitto_pub -p "$MOSQ_PORT" -i f1 -t a/c -m no -q 0
mosquitto_pub -p "$MOSQ_PORT" -i f2 -t x -m parent -q 1 -r
mosquitto_pub -p "$MOSQ_PORT" -i f2 -t x/y/z -m q2 -q 2
mosquitto_pub -p "$MOSQ_PORT" -i f3 -t x/large -f "$WORK/large.bin" -q 1
mosquitto_pub -p "$MOSQ_PORT" -i f3 -t y/other -m no -q 1
wait_for 10 lines_at_least "$SINK_OUT" 4
extra_room
stop_nanohook
b64() { base64 -w0 "$@"; }
cat >"$WORK/$name.expected" <<EXP
{"ts":0,"topic":"a/b/c","retain":false,"qos":0,"action":"message_publish","from_username":"undefined","from_client_id":"f1","payload":"$(printf q0 | b64)"}
{"ts":0,"topic":"x","retain":true,"qos":1,"action":"message_publish","from_username":"undefined","from_client_id":"f2","payload":"$(printf parent | b64)"}
{"ts":0,"topic":"x/y/z","retain":false,"qos":2,"action":"message_publish","from_username":"undefined","from_client_id":"f2","payload":"$(printf q2 | b64)"}
{"ts":0,"topic":"x/large","retain":false,"qos":1,"action":"message_publish","from_username":"undefined","from_client_id":"f3","payload":"$(b64 "$WORK/large.bin")"}
EXP
same_bodies "$name: + and # filters, qos 0/1/2, retain, 12000-byte binary payload" "$WORK/$name.expected" "$SINK_OUT"

# Disconnect reasons: normal, killed, keepalive timeout, session takeover.
name=mosq-reasons
start_sink "$name"
cat >"$WORK/$name.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  events = [ { event = "on_client_disconnected" } ]
}
CONF
start_nanohook "$name" "$MOSQ_PID" "$WORK/$name.conf"
mosquitto_pub -p "$MOSQ_PORT" -i r-normal -u carol -t t -m m
start_sub r-killed -p "$MOSQ_PORT" -i r-killed -t t; kill -KILL $SUB_PID; wait $SUB_PID 2>/dev/null
# a stopped client sends no PINGREQ: the broker drops it after 1.5 x 5 s
start_sub r-keepalive -p "$MOSQ_PORT" -i r-keepalive -k 5 -t t; ka=$SUB_PID; kill -STOP $ka
# a second client with the same id takes the session over; the first one
# is stopped so it cannot reconnect and take it back. -W 1 then ends the
# second one with a normal DISCONNECT.
start_sub r-takeover -p "$MOSQ_PORT" -i r-takeover -t t; t1=$SUB_PID; kill -STOP $t1
mosquitto_sub -p "$MOSQ_PORT" -i r-takeover -t t -W 1 >/dev/null 2>&1
kill -KILL $t1 2>/dev/null; kill -CONT $t1 2>/dev/null; wait $t1 2>/dev/null
wait_for 20 grep -qs '"clientid":"r-keepalive"' "$SINK_OUT"
kill -KILL $ka 2>/dev/null; kill -CONT $ka 2>/dev/null; wait $ka 2>/dev/null
extra_room
stop_nanohook
check_line() { # NAME BODY: the sink got exactly this body
	if grep -qxF "$2" "$SINK_OUT"; then ok "$1"; else not_ok "$1" "missing $2"; sed 's/^/#   /' "$SINK_OUT"; fi
}
check_line "$name: normal DISCONNECT is normal" \
	'{"reason":"normal","username":"carol","clientid":"r-normal","action":"client_disconnected"}'
check_line "$name: SIGKILLed client is abnormal" \
	'{"reason":"abnormal","username":"undefined","clientid":"r-killed","action":"client_disconnected"}'
check_line "$name: keepalive timeout is abnormal" \
	'{"reason":"abnormal","username":"undefined","clientid":"r-keepalive","action":"client_disconnected"}'
if [ "$(grep -c '"clientid":"r-takeover"' "$SINK_OUT")" -eq 2 ] &&
	grep -qxF '{"reason":"abnormal","username":"undefined","clientid":"r-takeover","action":"client_disconnected"}' "$SINK_OUT"; then
	ok "$name: takeover gives the first connection an abnormal disconnect, once per connection"
else
	not_ok "$name: takeover" "want two r-takeover disconnects, one abnormal"; sed 's/^/#   /' "$SINK_OUT"
fi

# A refused client: wrong password gives "fail", with its client id.
: >"$WORK/passwd"; chmod 600 "$WORK/passwd"
mosquitto_passwd -b "$WORK/passwd" alice secret
start_mosquitto auth "password_file $WORK/passwd"
name=mosq-refused
start_sink "$name"
cat >"$WORK/$name.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  events = [ { event = "on_client_connack" } ]
}
CONF
start_nanohook "$name" "$MOSQ_PID" "$WORK/$name.conf"
mosquitto_pub -p "$MOSQ_PORT" -i good -u alice -P secret -t t -m m
mosquitto_pub -p "$MOSQ_PORT" -i bad311 -u alice -P wrong -t t -m m 2>/dev/null
mosquitto_pub -p "$MOSQ_PORT" -i bad5 -V mqttv5 -u alice -P wrong -t t -m m 2>/dev/null
wait_for 10 lines_at_least "$SINK_OUT" 3
stop_nanohook
cat >"$WORK/$name.expected" <<'EXP'
{"proto_ver":4,"keepalive":60,"conn_ack":"success","username":"alice","clientid":"good","action":"client_connack"}
{"proto_ver":4,"keepalive":60,"conn_ack":"fail","username":"alice","clientid":"bad311","action":"client_connack"}
{"proto_ver":5,"keepalive":60,"conn_ack":"fail","username":"alice","clientid":"bad5","action":"client_connack"}
EXP
same_bodies "$name: refused clients get conn_ack fail with their client id" "$WORK/$name.expected" "$SINK_OUT"
exit 0
