#!/usr/bin/env bash
# Event fidelity against the broker's own account: a real mosquitto logs
# everything it does (log_type all) while tests/tools/nh-mqtt-script.py
# drives the client behaviours that make webhook events hard (wills, will
# delay, session expiry, takeovers, offline queues, QoS 1/2 redelivery,
# client resends, topic aliases, receive maximum, overlapping
# subscriptions, $ topics, zero-length ids, a refused protocol level).
# tests/tools/nh-conformance.py then checks every invariant per client id:
# one connack per CONNACK, one delivered per first send, one acked per
# PUBACK/PUBCOMP, one session_terminated per session ... and nothing
# dropped.
. "$(dirname "$0")/lib.sh"
need_root "conformance (mosquitto)" || exit 0
PY=python3
SCRIPT=$NH_TOP/tests/tools/nh-mqtt-script.py
CHECK=$NH_TOP/tests/tools/nh-conformance.py

start_mosquitto conf "log_type all" || { not_ok "mosquitto starts" "see log"; exit 0; }
BROKER_LOG=$WORK/conf.mosquitto.log
start_sink conf --arrivals "$WORK/conf.arrivals"
all_events_conf "$WORK/conf.conf" "http://127.0.0.1:$SINK_PORT/hook"
start_nanohook conf "$MOSQ_PID" "$WORK/conf.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "conformance" "no attach"; exit 0; }

"$PY" "$SCRIPT" 127.0.0.1 "$MOSQ_PORT" >"$WORK/conf.script" 2>&1
while read -r _ name result; do
	name=${name%:}
	if [ "$result" = done ]; then ok "scenario $name"; else not_ok "scenario $name" "$result"; fi
done < <(grep '^scenario ' "$WORK/conf.script")
grep -q '^scenario ' "$WORK/conf.script" ||
	not_ok "scenarios ran" "$(tail -3 "$WORK/conf.script" | tr '\n' ' ')"

# Every scenario waited for the broker's answers, so everything is in its
# log; nanohook is done once its bodies satisfy every invariant and
# nothing waits in it.
settled() { "$PY" "$CHECK" mosquitto "$BROKER_LOG" "$SINK_OUT" >/dev/null && drained; }
wait_for 30 settled
extra_room
"$PY" "$CHECK" mosquitto "$BROKER_LOG" "$SINK_OUT" "$WORK/conf.arrivals" >"$WORK/conf.check"
sed 's/^/# /' "$WORK/conf.check"
report_checks "$WORK/conf.check" invariant "invariant "

# Every event captured was delivered: nothing unmatched, malformed or lost.
dropped=$("$NANOHOOK" stats --metrics "$(metrics_address)" 2>/dev/null |
	awk '$1 ~ /^events_dropped_total/ && $2 != 0')
if [ -z "$dropped" ]; then ok "nothing dropped"; else not_ok "nothing dropped" "$dropped"; fi

# The refused CONNECT (protocol level 7): a failed connack naming the level
# the client asked for; the broker never read a client id.
got=$WORK/conf.got
normalize "$SINK_OUT" >"$got"
expect_body "$got" "refused protocol level: connack fail with the level asked for" \
	'{"proto_ver":7,"keepalive":60,"conn_ack":"fail","username":"undefined","clientid":"","action":"client_connack"}'
# A resumed session is handed over, not ended; a session discarded by a
# clean start is.
n=$(grep -c '"clientid":"cf-take5","action":"session_terminated"' "$got")
[ "$n" -eq 1 ] && ok "takeover of a kept session: one session_terminated, at its end" ||
	not_ok "takeover of a kept session" "$n session_terminated bodies (want 1)"
n=$(grep -c '"reason":"takeovered","username":"undefined","clientid":"cf-take","action"' "$got")
[ "$n" -eq 1 ] && ok "takeover with a clean start: the old session ends takeovered" ||
	not_ok "takeover with a clean start" "$n takeovered bodies (want 1)"
# Acks of messages queued offline name the message.
expect_body "$got" "acked: a message queued while the receiver was offline" \
	'{"ts":0,"topic":"cf/off/q2","retain":false,"qos":2,"action":"message_acked","from_username":"undefined","from_client_id":"cf-off-pub","username":"undefined","clientid":"cf-off","payload":"queued 2"}'
expect_body "$got" "delivered: an empty message carries an empty string" \
	'{"ts":0,"topic":"cf/basic/empty","retain":false,"qos":1,"action":"message_delivered","from_username":"alice","from_client_id":"cf-basic-pub","username":"undefined","clientid":"cf-basic-sub","payload":""}'
stop_nanohook
exit 0
