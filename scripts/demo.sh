#!/usr/bin/env bash
# `make demo`: a demo broker, a demo endpoint that prints what it receives,
# nanohook between them, a few real clients, then everything cleaned up.
# Mosquitto by default; NANOMQ_BIN=/path/to/nanomq uses a NanoMQ build.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export NH_BUILD=${1:-build}
. "$top/tests/e2e/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: nanohook attaches BPF probes: run it as root (sudo make demo)" >&2
	exit 1
fi
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "starting a demo endpoint (nh-sink) that prints every POST"
"$SINK" --listen 127.0.0.1:0 --print >"$WORK/sink.out" 2>&1 &
_pids+=($!)
wait_for 5 grep -q '^listening on ' "$WORK/sink.out" || { cat "$WORK/sink.out"; exit 1; }
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/sink.out")
echo "endpoint: http://127.0.0.1:$port/hook"

if [ -n "${NANOMQ_BIN:-}" ]; then
	say "starting NanoMQ ($NANOMQ_BIN), its own webhook off"
	start_nanomq demo || exit 1
	broker_pid=$NMQ_PID broker_port=$NMQ_PORT
else
	say "starting a demo broker: mosquitto"
	start_mosquitto demo || exit 1
	broker_pid=$MOSQ_PID broker_port=$MOSQ_PORT
fi
echo "broker pid $broker_pid on 127.0.0.1:$broker_port"

# The embedded default: NanoMQ's own webhook block, all three events.
cat >"$WORK/demo.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$port/hook"
  headers.content-type = "application/json"
  body.encoding = plain
  pool_size = 4
  events = [
    { event = "on_client_connack" }
    { event = "on_client_disconnected" }
    { event = "on_message_publish", topic = "demo/#" }
  ]
}
CONF
say "attaching: nanohook --pid $broker_pid --conf demo.conf"
sed 's/^/    /' "$WORK/demo.conf"
start_nanohook demo "$broker_pid" "$WORK/demo.conf" || exit 1
grep 'attached' "$NH_LOG"

say "running clients"
tail -n +2 -f "$WORK/sink.out" &
tailer=$!
_pids+=("$tailer")
set -x
mosquitto_pub -p "$broker_port" -i sensor-1 -u alice -t demo/temp -m '21.5' -q 1
mosquitto_pub -p "$broker_port" -i sensor-2 -V mqttv5 -t demo/hum -m '{"rh":40}' -q 2 -r
mosquitto_pub -p "$broker_port" -i other -t elsewhere -m 'not matched by demo/#'
{ set +x; } 2>/dev/null
mosquitto_sub -p "$broker_port" -i watcher -t 'demo/#' >/dev/null &
sub=$!
sleep 0.5
echo "+ kill -KILL watcher   # an abnormal disconnect"
kill -KILL "$sub"; wait "$sub" 2>/dev/null
wait_for 5 lines_at_least "$WORK/sink.out" 11
sleep 0.5
kill "$tailer" 2>/dev/null

say "stopping nanohook (SIGINT): it flushes and prints its summary"
stop_nanohook
cat "$NH_LOG"
echo
echo "demo done: every process started here is stopped on exit."
