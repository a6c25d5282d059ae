#!/usr/bin/env bash
# --pin: the probes and the ring buffer outlive nanohook. Events published
# while no nanohook runs are delivered by the next one; `detach` removes
# the probes.
. "$(dirname "$0")/lib.sh"
need_root "pin" || exit 0
if ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null || { skip "pin" "cannot mount bpffs on /sys/fs/bpf"; exit 0; }
fi
PIN=/sys/fs/bpf/nanohook-test-$$
mkdir -p "$PIN"
trap 'rm -rf "$PIN" 2>/dev/null; cleanup' EXIT

start_mosquitto pin || { not_ok "pin" "mosquitto did not start"; exit 0; }
start_sink pin
cat >"$WORK/pin.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  events = [ { event = on_message_publish, topic = "pin/#" } ]
}
CONF
start_nanohook pin1 "$MOSQ_PID" "$WORK/pin.conf" --pin "$PIN" || { not_ok "pin" "no attach"; exit 0; }
mosquitto_pub -p "$MOSQ_PORT" -i p1 -t pin/before -m 1
wait_for 10 lines_at_least "$SINK_OUT" 1
kill -KILL "$NH_PID"; wait "$NH_PID" 2>/dev/null
# nanohook is gone; the pinned probes keep collecting
for i in 1 2 3; do mosquitto_pub -p "$MOSQ_PORT" -i p1 -t pin/while-down -m "$i"; done
if [ -n "$(ls "$PIN")" ]; then ok "pin: probes stay pinned after nanohook is killed"; else
	not_ok "pin" "nothing pinned under $PIN"; fi
start_nanohook pin2 "$MOSQ_PID" "$WORK/pin.conf" --pin "$PIN" || { not_ok "pin" "no re-attach"; exit 0; }
mosquitto_pub -p "$MOSQ_PORT" -i p1 -t pin/after -m 5
wait_for 10 lines_at_least "$SINK_OUT" 5
stop_nanohook
n_down=$(grep -c '"topic":"pin/while-down"' "$SINK_OUT")
if [ "$n_down" -eq 3 ] && grep -q '"topic":"pin/after"' "$SINK_OUT"; then
	ok "pin: events published while nanohook was down are delivered by the next run"
else
	not_ok "pin" "$n_down of 3 events from the downtime"; sed 's/^/#   /' "$SINK_OUT"
fi
if grep -q 'stay pinned' "$NH_LOG"; then ok "pin: a stopped run says the probes stay"; else
	not_ok "pin: stop message" "missing"; fi
"$NANOHOOK" detach --pin "$PIN" --pid "$MOSQ_PID" >"$WORK/detach.out" 2>&1
if [ $? -eq 0 ] && [ -z "$(ls "$PIN")" ]; then ok "detach removes the pinned probes"; else
	not_ok "detach" "$(cat "$WORK/detach.out")"; fi
"$NANOHOOK" detach --pin "$PIN" --pid "$MOSQ_PID" >/dev/null 2>&1
if [ $? -eq 1 ]; then ok "detach with nothing pinned exits 1"; else not_ok "detach again" "not 1"; fi
# Without pins a nanohook that is not running captures nothing: publishes
# after detach never reach the (restarted, unpinned) next run's sink.
: >"$SINK_OUT"
mosquitto_pub -p "$MOSQ_PORT" -i p1 -t pin/after-detach -m 9
start_nanohook pin3 "$MOSQ_PID" "$WORK/pin.conf" || { not_ok "pin" "no attach"; exit 0; }
stop_nanohook
if ! grep -q 'after-detach' "$SINK_OUT"; then ok "after detach nothing is captured"; else
	not_ok "after detach" "an event was still captured"; fi
exit 0
