#!/usr/bin/env bash
# All twelve events from a real NanoMQ (NANOMQ_BIN), for real client
# sessions: two subscribers, an unsubscribe, QoS 1 and 2 deliveries with
# acks, sessions that end.
. "$(dirname "$0")/lib.sh"
if [ -z "${NANOMQ_BIN:-}" ]; then
	skip_nanomq "real NanoMQ events"
	exit 0
fi
need_root "real NanoMQ events" || exit 0

start_nanomq events || { not_ok "real NanoMQ events" "NanoMQ did not start"; exit 0; }
start_sink events
all_events_conf "$WORK/events.conf" "http://127.0.0.1:$SINK_PORT/hook"
start_nanohook events "$NMQ_PID" "$WORK/events.conf" || { not_ok "events" "no attach"; exit 0; }
P=$NMQ_PORT
mosquitto_sub -h 127.0.0.1 -p $P -i s1 -u bob -V mqttv5 -q 2 -t 'ev/a/#' -t 'ev/b/+' -C 2 >/dev/null & s1=$!
mosquitto_sub -h 127.0.0.1 -p $P -i s2 -q 1 -t 'ev/#' -C 2 >/dev/null & s2=$!
wait_for 15 grep -qs '"clientid":"s2","action":"session_subscribed"' "$SINK_OUT"
wait_for 15 grep -qs '"topic":"ev/b/+","opts":{"qos":2},"username":"bob","clientid":"s1","action":"session_subscribed"' "$SINK_OUT"
mosquitto_pub -h 127.0.0.1 -p $P -i p1 -t ev/a/x -m m1 -q 1
mosquitto_pub -h 127.0.0.1 -p $P -i p5 -V mqttv5 -t ev/b/y -m m2 -q 2
wait $s1 $s2
mosquitto_sub -h 127.0.0.1 -p $P -i s3 -t ev/z -U ev/gone -E
wait_for 15 grep -qs '"clientid":"s3","action":"session_terminated"' "$SINK_OUT"
extra_room
stop_nanohook
got=$WORK/events.got
normalize "$SINK_OUT" | sed -E 's/"connected_at":[0-9]+/"connected_at":0/' >"$got"
e() { expect_body "$got" "real NanoMQ: $1" "$2"; }
e "connect" \
	'{"proto_ver":5,"keepalive":60,"ipaddress":"undefined","username":"bob","clientid":"s1","action":"client_connect"}'
e "connected" \
	'{"proto_ver":4,"keepalive":60,"ipaddress":"127.0.0.1","connected_at":0,"username":"undefined","clientid":"s2","action":"client_connected"}'
e "subscribe, one per filter" \
	'{"topic":"ev/b/+","opts":{"qos":2},"username":"bob","clientid":"s1","action":"client_subscribe"}'
e "session_subscribed" \
	'{"topic":"ev/#","opts":{"qos":1},"username":"undefined","clientid":"s2","action":"session_subscribed"}'
e "unsubscribe" \
	'{"topic":"ev/gone","opts":{},"username":"undefined","clientid":"s3","action":"client_unsubscribe"}'
e "session_unsubscribed" \
	'{"topic":"ev/gone","username":"undefined","clientid":"s3","action":"session_unsubscribed"}'
for m in "ev/a/x 1 m1 p1 s1 bob" "ev/a/x 1 m1 p1 s2 undefined" "ev/b/y 2 m2 p5 s1 bob" "ev/b/y 1 m2 p5 s2 undefined"; do
	set -- $m
	for action in delivered acked; do
		# NanoMQ stores the publish at the publisher's QoS: the receiver's
		# granted QoS shows only on the wire.
		grep -F "\"topic\":\"$1\"," "$got" | grep -F "\"action\":\"message_$action\"" |
			grep -F "\"from_client_id\":\"$4\",\"username\":\"$6\",\"clientid\":\"$5\",\"payload\":\"$3\"}" \
			>/dev/null && ok "real NanoMQ: $action $3 to $5" ||
			not_ok "real NanoMQ: $action $3 to $5" "missing"
	done
done
e "session_terminated" \
	'{"reason":"normal","username":"undefined","clientid":"s3","action":"session_terminated"}'
if grep -qE 'dropped +0$' "$NH_LOG"; then ok "real NanoMQ events: nothing dropped"; else
	not_ok "real NanoMQ events: summary" "drops"; sed 's/^/#   /' "$NH_LOG"; fi
stop_nanomq
exit 0
