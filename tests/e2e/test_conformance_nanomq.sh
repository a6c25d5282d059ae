#!/usr/bin/env bash
# Event fidelity on a real NanoMQ (NANOMQ_BIN): NanoMQ's own webhook and
# nanohook post the same rules of one nanomq.conf webhook block to two
# receivers while tests/tools/nh-mqtt-script.py drives the client
# behaviours (wills, takeovers, offline queues, resends, topic aliases,
# $ topics ...). Every body NanoMQ's webhook posted must be among
# nanohook's (as multisets, ts aside), except the second copy of a QoS 2
# resend NanoMQ takes in as new; the few nanohook posted alone (NanoMQ's
# webhook loses some) are listed. NanoMQ 0.25.3 answers several scenarios
# against MQTT (retained before SUBACK, QoS 2 resends forwarded twice,
# topic alias, session resume): those are printed, not failed.
. "$(dirname "$0")/lib.sh"
need_root "conformance (NanoMQ)" || exit 0
if [ -z "${NANOMQ_BIN:-}" ]; then
	skip_nanomq "conformance (NanoMQ)"
	exit 0
fi
PY=python3
SCRIPT=$NH_TOP/tests/tools/nh-mqtt-script.py
CHECK=$NH_TOP/tests/tools/nh-conformance.py

start_sink own --arrivals "$WORK/own.arrivals"
OWN_PORT=$SINK_PORT OWN_OUT=$SINK_OUT
start_sink nh --arrivals "$WORK/nh.arrivals"
rules='  body.encoding = plain
  pool_size = 4
  events = [
    { event = "on_message_publish", topic = "#" }
    { event = "on_client_connack" }
    { event = "on_client_disconnected" }
  ]
}'
start_nanomq conf "auth { allow_anonymous = true }
webhook {
  url = \"http://127.0.0.1:$OWN_PORT/hook\"
$rules" || { not_ok "NanoMQ starts" "see log"; exit 0; }
printf 'webhook {\n  url = "http://127.0.0.1:%s/hook"\n%s\n' "$SINK_PORT" "$rules" >"$WORK/nh.conf"
start_nanohook conf "$NMQ_PID" "$WORK/nh.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "conformance (NanoMQ)" "no attach"; exit 0; }

# NanoMQ never sends some of what MQTT says it should: wait less for it.
NH_MQTT_TIMEOUT=3 "$PY" "$SCRIPT" 127.0.0.1 "$NMQ_PORT" >"$WORK/conf.script" 2>&1
grep -q '^scenario ' "$WORK/conf.script" &&
	ok "scenarios ran: $(grep -c ': done$' "$WORK/conf.script") of $(grep -c '^scenario ' "$WORK/conf.script") as MQTT says" ||
	not_ok "scenarios ran" "$(tail -3 "$WORK/conf.script" | tr '\n' ' ')"
grep 'FAILED' "$WORK/conf.script" | sed 's/^/# NanoMQ: /'

compared() { "$PY" "$CHECK" nanomq "$OWN_OUT" "$SINK_OUT" >/dev/null && drained; }
wait_for 30 compared
extra_room
"$PY" "$CHECK" nanomq "$OWN_OUT" "$SINK_OUT" >"$WORK/conf.check"
grep '^#' "$WORK/conf.check"
report_checks "$WORK/conf.check" compare "beside NanoMQ's webhook, "

# The QoS 2 resend (cf/dup/2, sent again with DUP before PUBREL) is one
# publish, and counted as such.
n=$(grep -c '"topic":"cf/dup/2",.*"action":"message_publish"' "$SINK_OUT")
[ "$n" -eq 1 ] && metric_is 'events_dropped_total{stage="capture",reason="qos2_resend"}' -eq 1 &&
	ok "QoS 2 resend: one publish, the resend counted as qos2_resend" ||
	not_ok "QoS 2 resend" "$n publish bodies, qos2_resend $(metric 'events_dropped_total{stage="capture",reason="qos2_resend"}')"

lat() {
	python3 - "$1" "$2" <<'PY'
import json, sys
lat = sorted(int(a) - json.loads(b)["ts"] for b, a in zip(open(sys.argv[1]), open(sys.argv[2]))
             if '"ts":' in b)
print("%d bodies, p50 %d ms, p99 %d ms, max %d ms" %
      (len(lat), lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * .99))], lat[-1]))
PY
}
echo "# latency capture -> receiver, nanohook: $(lat "$SINK_OUT" "$WORK/nh.arrivals")"
echo "# latency NanoMQ's own webhook:          $(lat "$OWN_OUT" "$WORK/own.arrivals")"
stop_nanohook
stop_nanomq
exit 0
