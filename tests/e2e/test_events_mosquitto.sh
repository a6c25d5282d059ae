#!/usr/bin/env bash
# All twelve events from a real mosquitto, for real client sessions:
# several filters, unsubscribe, QoS 1 and 2 delivery to two subscribers
# with acks, a persistent session that ends by expiry, a takeover.
. "$(dirname "$0")/lib.sh"
need_root "events (mosquitto)" || exit 0

start_mosquitto events || { not_ok "mosquitto starts" "see log"; exit 0; }
start_sink events
cat >"$WORK/events.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  pool_size = 1
  events = [
    { event = on_client_connect } { event = on_client_connected } { event = on_client_connack }
    { event = on_client_disconnected } { event = on_client_subscribe } { event = on_client_unsubscribe }
    { event = on_session_subscribed } { event = on_session_unsubscribed } { event = on_session_terminated }
    { event = on_message_publish, topic = "ev/#" } { event = on_message_delivered, topic = "ev/#" }
    { event = on_message_acked, topic = "ev/#" }
  ]
}
CONF
start_nanohook events "$MOSQ_PID" "$WORK/events.conf" || { not_ok "events" "no attach"; exit 0; }
P=$MOSQ_PORT
# Two subscribers: s1 (v5, username, two filters at QoS 2), s2 (v3.1.1, QoS 1).
mosquitto_sub -p $P -i s1 -u bob -V mqttv5 -q 2 -t 'ev/a/#' -t 'ev/b/+' -C 2 >/dev/null & s1=$!
mosquitto_sub -p $P -i s2 -q 1 -t 'ev/#' -C 2 >/dev/null & s2=$!
wait_for 15 grep -qs '"clientid":"s2","action":"session_subscribed"' "$SINK_OUT"
wait_for 15 grep -qs '"topic":"ev/b/+","opts":{"qos":2},"username":"bob","clientid":"s1","action":"session_subscribed"' "$SINK_OUT"
mosquitto_pub -p $P -i p1 -t ev/a/x -m m1 -q 1
mosquitto_pub -p $P -i p1 -t ev/b/y -m m2 -q 2
wait $s1 $s2
# Subscribe and unsubscribe in one session.
mosquitto_sub -p $P -i s3 -t ev/z -U ev/gone -E
# A persistent v5 session with a 2 s expiry: it outlives its connection.
mosquitto_sub -p $P -i pe1 -V mqttv5 -c -x 2 -t ev/p -E
# A session that ends with its connection (expiry 0) but whose will waits
# 2 s: Mosquitto disposes of the context when the will goes out, later.
start_sub wd -p $P -V mqttv5 -i wd -t ev/w --will-topic ev/will --will-payload bye \
	-D will will-delay-interval 2
kill -KILL $SUB_PID; wait $SUB_PID 2>/dev/null
# A takeover: the first connection is stopped so it cannot reconnect.
mosquitto_sub -p $P -i tk -t ev/t >/dev/null & t1=$!
wait_for 15 grep -qs '"clientid":"tk","action":"session_subscribed"' "$SINK_OUT"
kill -STOP $t1
mosquitto_sub -p $P -i tk -t ev/t -W 1 >/dev/null 2>&1
kill -KILL $t1 2>/dev/null; kill -CONT $t1 2>/dev/null; wait $t1 2>/dev/null
wait_for 10 grep -qs '"reason":"expired","username":"undefined","clientid":"pe1"' "$SINK_OUT"
# The delayed will is published: the broker has disposed of wd's context.
wait_for 15 grep -qs '"topic":"ev/will".*"from_client_id":"wd"' "$SINK_OUT"
extra_room
stop_nanohook

got=$WORK/events.got
normalize "$SINK_OUT" | sed -E 's/"connected_at":[0-9]+/"connected_at":0/' >"$got"
expect() { expect_body "$got" "$@"; }
expect "connect: v5 client with username" \
	'{"proto_ver":5,"keepalive":60,"ipaddress":"127.0.0.1","username":"bob","clientid":"s1","action":"client_connect"}'
expect "connected: after a successful CONNACK" \
	'{"proto_ver":4,"keepalive":60,"ipaddress":"127.0.0.1","connected_at":0,"username":"undefined","clientid":"s2","action":"client_connected"}'
expect "subscribe: one request per filter (1/2)" \
	'{"topic":"ev/a/#","opts":{"qos":2},"username":"bob","clientid":"s1","action":"client_subscribe"}'
expect "subscribe: one request per filter (2/2)" \
	'{"topic":"ev/b/+","opts":{"qos":2},"username":"bob","clientid":"s1","action":"client_subscribe"}'
expect "session_subscribed: granted QoS" \
	'{"topic":"ev/#","opts":{"qos":1},"username":"undefined","clientid":"s2","action":"session_subscribed"}'
expect "unsubscribe" \
	'{"topic":"ev/gone","opts":{},"username":"undefined","clientid":"s3","action":"client_unsubscribe"}'
expect "session_unsubscribed" \
	'{"topic":"ev/gone","username":"undefined","clientid":"s3","action":"session_unsubscribed"}'
for m in "ev/a/x 1 m1 s1 bob 1" "ev/a/x 1 m1 s2 undefined 1" "ev/b/y 2 m2 s1 bob 2" "ev/b/y 2 m2 s2 undefined 1"; do
	set -- $m
	for action in delivered acked; do
		expect "$action: $3 (QoS $6) to $4" \
			"{\"ts\":0,\"topic\":\"$1\",\"retain\":false,\"qos\":$6,\"action\":\"message_$action\",\"from_username\":\"undefined\",\"from_client_id\":\"p1\",\"username\":\"$5\",\"clientid\":\"$4\",\"payload\":\"$3\"}"
	done
done
expect "session_terminated: clean session ends with its connection" \
	'{"reason":"normal","username":"bob","clientid":"s1","action":"session_terminated"}'
expect "session_terminated: persistent session expires" \
	'{"reason":"expired","username":"undefined","clientid":"pe1","action":"session_terminated"}'
expect "session_terminated: takeover" \
	'{"reason":"takeovered","username":"undefined","clientid":"tk","action":"session_terminated"}'
if [ "$(grep -c '"clientid":"pe1","action":"session_terminated"' "$got")" -eq 1 ] &&
	! grep -q '"clientid":"pe1","action":"session_terminated".*normal' "$got"; then
	ok "a persistent session is not terminated when its connection closes"
else
	not_ok "persistent session" "terminated at disconnect"
fi
n=$(grep -c '"clientid":"wd","action":"session_terminated"' "$got")
if [ "$n" -eq 1 ] && grep -q '"reason":"abnormal","username":"undefined","clientid":"wd","action":"session_terminated"' "$got"; then
	ok "a session with expiry 0 and a delayed will ends once (abnormal), not again when the will goes out"
else
	not_ok "delayed will" "$n session_terminated bodies for wd"; grep '"wd"' "$got" | sed 's/^/#   /'
fi
if grep -qE 'dropped +0$' "$NH_LOG"; then ok "summary: nothing dropped"; else
	not_ok "summary" "drops"; sed 's/^/#   /' "$NH_LOG"; fi
exit 0
