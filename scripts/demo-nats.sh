#!/usr/bin/env bash
# `make demo-nats`: a local nats-server with JetStream, a demo broker
# (mosquitto), nanohook publishing every event into the stream NANOHOOK,
# and the stream's messages printed as they arrive; then everything
# cleaned up. `make demo` is the HTTP one.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export NH_BUILD=${1:-build}
. "$top/tests/e2e/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo-nats: nanohook attaches BPF probes: run it as root (sudo make demo-nats)" >&2
	exit 1
fi
command -v nats-server >/dev/null || { echo "demo-nats: needs nats-server (sudo make deps)" >&2; exit 1; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting nats-server -js (JetStream) on a free port"
nats_port=$(pick_port) || exit 1
nats-server -js -sd "$WORK/js" -a 127.0.0.1 -p "$nats_port" >"$WORK/nats.log" 2>&1 &
_pids+=($!)
wait_for 10 eval '! port_free $nats_port' || { cat "$WORK/nats.log"; exit 1; }
echo "nats: nats://127.0.0.1:$nats_port"

say "starting a demo broker: mosquitto"
start_mosquitto demo || exit 1
echo "broker pid $MOSQ_PID on 127.0.0.1:$MOSQ_PORT"

# NanoMQ's webhook block, every rule to the stream; nanohook creates it.
cat >"$WORK/demo-nats.conf" <<CONF
webhook {
  url = "http://127.0.0.1:9/unused"   # required by the block; no rule posts here
  events = [
    { event = "on_client_connack", sink = nats }
    { event = "on_client_disconnected", sink = nats }
    { event = "on_message_publish", topic = "demo/#", sink = nats }
  ]
}
nanohook {
  nats {
    url = "nats://127.0.0.1:$nats_port"
    stream = "NANOHOOK"
    subject = "nanohook.{action}.{clientid}"
    create = true
  }
}
CONF
say "attaching: nanohook --pid $MOSQ_PID --conf demo-nats.conf"
sed 's/^/    /' "$WORK/demo-nats.conf"
start_nanohook demo "$MOSQ_PID" "$WORK/demo-nats.conf" || exit 1
grep 'nats:\|attached' "$NH_LOG"

say "running clients; the stream's messages as they arrive (nh-nats-tail --follow)"
"$NH_BUILD/nh-nats-tail" --server "nats://127.0.0.1:$nats_port" --stream NANOHOOK --follow \
	>"$WORK/stream.out" 2>&1 &
tailer=$!
_pids+=("$tailer")
tail -f "$WORK/stream.out" &
_pids+=($!)
set -x
mosquitto_pub -p "$MOSQ_PORT" -i sensor-1 -u alice -t demo/temp -m '21.5' -q 1
mosquitto_pub -p "$MOSQ_PORT" -i sensor.2 -V mqttv5 -t demo/hum -m '{"rh":40}' -q 2
mosquitto_pub -p "$MOSQ_PORT" -i other -t elsewhere -m 'not matched by demo/#'
{ set +x; } 2>/dev/null
wait_for 10 lines_at_least "$WORK/stream.out" 8
sleep 0.5

say "stopping nanohook (SIGINT): its summary"
stop_nanohook
cat "$NH_LOG"
echo
echo "demo-nats done: every process started here is stopped on exit."
