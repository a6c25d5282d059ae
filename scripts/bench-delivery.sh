#!/usr/bin/env bash
# The delivery table of `make bench`: events/s nanohook delivers from a
# real broker to a real receiver whose round trip is made longer with tc
# netem, for 1 client and for 1,000 clients, by lane.inflight, body.batch,
# order and HTTP version. Prints a markdown table (stdout) and progress
# (stderr).
#
#   scripts/bench-delivery.sh [BUILD]
#
# Everything runs in a network namespace made here (and removed on exit):
# mosquitto, nh-load publishing, nanohook, nginx as the receiver (one
# HTTP/1.1 listener, one TLS listener with HTTP/2), and nats-server -js for
# the JetStream rows (events/s acknowledged by JetStream). With tc netem, every packet on the
# namespace's loopback waits half the round trip, so a request and its
# answer take one round trip (the MQTT traffic too, which a QoS 0 stream
# does not notice). Kernels built without netem (CONFIG_NET_SCH_NETEM
# unset) get build/nh-delay instead: a TCP delay line in front of nginx
# holding each chunk half the round trip each way; the table says which.
#
# Each row publishes BENCH_DELIVERY_EVENTS QoS 0 messages at once (a
# backlog), then counts events answered 2xx from the first capture for up
# to BENCH_DELIVERY_WINDOW seconds (or until all are in). "capture/s" is how
# fast the broker and the probes produced them: a row whose delivered/s is
# close to it is bound by the load, not by delivery.
#
# Environment: BENCH_DELIVERY_RTTS ("0 1 10 50" ms), BENCH_DELIVERY_EVENTS
# (50000), BENCH_DELIVERY_WINDOW (3 s), BENCH_DELIVERY_MODES (all below).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export NH_BUILD=${1:-build}
. "$top/tests/e2e/lib.sh"

LOAD=$NH_BUILD/nh-load
RTTS=${BENCH_DELIVERY_RTTS:-0 1 10 50}
EVENTS=${BENCH_DELIVERY_EVENTS:-50000}
WINDOW=${BENCH_DELIVERY_WINDOW:-3}
# protocol (h1: http://, h1s: HTTP/1.1 over TLS, h2s: HTTP/2 over TLS; nanohook
# uses HTTP/2 over TLS only, see user/deliver.c; js: the JetStream sink into a
# local nats-server, one message per event, lane.inflight and batch unused)
# The default rows keep `make bench` within 10 minutes; more, for example
# h1:8:100:per_client h1s:8:1:per_client h2s:8:100:per_client, by name.
MODES=${BENCH_DELIVERY_MODES:-"h1:1:1:per_client h1:8:1:per_client h1:1:100:per_client h1:1:1:none h2s:8:1:per_client js:1:1:per_client js:1:1:none"}
NS=nhbench$$
H1=8081
H2=8443
NATS=4222
MQTT=1883
METRICS=127.0.0.1:9464

log() { printf '%s\n' "$*" >&2; }
in_ns() { ip netns exec "$NS" "$@"; }

for tool in nginx tc ip python3 nats-server; do
	command -v "$tool" >/dev/null || { log "bench-delivery: $tool is missing (make deps)"; exit 1; }
done
[ -x "$LOAD" ] || { log "bench-delivery: $LOAD is missing: run make first"; exit 1; }

cleanup_ns() {
	# nginx's master stops its workers on TERM; the KILL of cleanup would
	# leave them behind.
	if [ -n "${NGINX_PID:-}" ]; then
		kill -TERM "$NGINX_PID" 2>/dev/null
		wait_for 5 eval '! kill -0 $NGINX_PID 2>/dev/null'
	fi
	cleanup
	ip netns del "$NS" 2>/dev/null
}
trap cleanup_ns EXIT
ip netns add "$NS" || { log "bench-delivery: cannot make a network namespace"; exit 1; }
in_ns ip link set lo up
# 1,000 MQTT connections, 256 HTTP connections, and their files.
ulimit -n "$(ulimit -Hn)"
DELAY=$NH_BUILD/nh-delay
NETEM=yes
in_ns tc qdisc add dev lo root netem delay 1ms 2>/dev/null || NETEM=no
in_ns tc qdisc del dev lo root 2>/dev/null
if [ "$NETEM" = no ]; then
	[ -x "$DELAY" ] || { log "bench-delivery: no tc netem in this kernel and $DELAY is missing"; exit 1; }
	log "bench-delivery: this kernel has no tc netem (CONFIG_NET_SCH_NETEM); using nh-delay, a TCP delay line"
fi

# nginx: answers every POST 200, reads and drops the body; plain HTTP/1.1
# on $H1, TLS with ALPN h2 and http/1.1 on $H2 (a certificate made here).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 1 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null ||
	{ log "bench-delivery: openssl cannot make a certificate"; exit 1; }
cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-body;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  http2_max_concurrent_streams 256;
  server { listen 127.0.0.1:$H1; location / { return 200; } }
  server {
    listen 127.0.0.1:$H2 ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    location / { return 200; }
  }
}
CONF
ip netns exec "$NS" nginx -c "$WORK/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
_pids+=("$NGINX_PID")
cat >"$WORK/mosquitto.conf" <<CONF
listener $MQTT 127.0.0.1
user root
allow_anonymous true
persistence false
max_connections -1
log_dest stderr
log_type error
CONF
# JetStream for the js rows: the stream BENCH (made by the first js row)
# on disk, as a user would run it.
ip netns exec "$NS" nats-server -js -sd "$WORK/js" -a 127.0.0.1 -p "$NATS" >"$WORK/nats.log" 2>&1 &
_pids+=($!)
ip netns exec "$NS" "$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
MOSQ=$!
_pids+=("$MOSQ")
sleep 0.5
in_ns ss -ltn | grep -q ":$MQTT " || { log "bench-delivery: mosquitto did not start"; exit 1; }
in_ns ss -ltn | grep -q ":$H2 " || { log "bench-delivery: nginx did not start: $(cat "$WORK/nginx.err" "$WORK/nginx.out")"; exit 1; }

# set_rtt MS: requests to the receiver take MS longer per round trip. With
# netem the receiver ports are nginx's own; with nh-delay, RX_H1/RX_H2
# are the delay lines' ports in front of them.
DELAY_PIDS=()
RX_H1=$H1
RX_H2=$H2
RX_NATS=$NATS
set_rtt() {
	if [ "$NETEM" = yes ]; then
		in_ns tc qdisc del dev lo root 2>/dev/null
		[ "$1" = 0 ] && return 0
		in_ns tc qdisc add dev lo root netem delay "$(awk -v r="$1" 'BEGIN { printf "%gms", r / 2 }')" limit 100000
		return
	fi
	local p
	for p in "${DELAY_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	DELAY_PIDS=()
	RX_H1=$H1 RX_H2=$H2 RX_NATS=$NATS
	[ "$1" = 0 ] && return 0
	RX_H1=$((H1 + 100)) RX_H2=$((H2 + 100)) RX_NATS=$((NATS + 100))
	for p in "$H1:$RX_H1" "$H2:$RX_H2" "$NATS:$RX_NATS"; do
		ip netns exec "$NS" "$DELAY" --listen "127.0.0.1:${p#*:}" --to "127.0.0.1:${p%:*}" \
			--rtt-ms "$1" >"$WORK/delay.${p#*:}.out" 2>&1 &
		DELAY_PIDS+=($!)
		_pids+=($!)
		wait_for 10 grep -qs '^listening on' "$WORK/delay.${p#*:}.out" || return 1
	done
}

# watch EXPECTED WINDOW: polls /metrics every 20 ms; prints
# "delivered=N seconds=S captured_s=R": the events answered 2xx from the
# first capture on, over at most WINDOW s or until EXPECTED are in.
watch_metrics() {
	in_ns python3 - "$METRICS" "$1" "$2" <<'PY'
import sys, time, urllib.request
addr, expected, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def read():
    try:
        text = urllib.request.urlopen("http://%s/metrics" % addr, timeout=5).read().decode()
    except OSError:
        return None
    v = {}
    for line in text.splitlines():
        if line.startswith("nanohook_events_delivered_total ") or line.startswith("nanohook_events_captured_total "):
            k, n = line.split()
            v[k] = float(n)
    return v
deadline = time.monotonic() + 60
t0 = d0 = None
first_cap = last_cap = None
last_c = last_seen = 0
while time.monotonic() < deadline:
    v = read()
    now = time.monotonic()
    if v:
        d = v.get("nanohook_events_delivered_total", 0)
        c = v.get("nanohook_events_captured_total", 0)
        if c > 0 and first_cap is None:
            first_cap = (now, c)
            # from the first capture: events delivered before it are none
            t0, d0 = now, d
        if last_cap is None:
            last_c, last_seen = c, now
        if c >= expected and last_cap is None:
            last_cap = now
        if t0 is not None and (d >= expected or now - t0 >= window):
            break
    time.sleep(0.02)
if t0 is None:
    print("delivered=0 seconds=0 captured_s=0")
    sys.exit(0)
cap_s = 0
if first_cap and last_cap and last_cap > first_cap[0]:
    cap_s = (expected - first_cap[1]) / (last_cap - first_cap[0])
elif first_cap and last_seen > first_cap[0]:
    cap_s = (last_c - first_cap[1]) / (last_seen - first_cap[0])
print("delivered=%d seconds=%.3f captured_s=%.0f" % (d - d0, max(now - t0, 0.001), cap_s))
PY
}

# row RTT CLIENTS MODE: one measurement; prints "events/s capture/s".
row() {
	local rtt=$1 clients=$2 mode=$3 http inflight batch order port h2 out r
	IFS=: read -r http inflight batch order <<<"$mode"
	local scheme=http tls=""
	port=$RX_H1 h2=false
	case $http in
	h1s) scheme=https port=$RX_H2 ;;
	h2s) scheme=https port=$RX_H2 h2=true ;;
	esac
	[ "$scheme" = https ] && tls="tls { cacertfile = \"$WORK/cert.pem\" }"
	# The JetStream rows: every event to the stream BENCH (one message per
	# event: batch and inflight do not apply), webhook.url unused.
	local url="$scheme://127.0.0.1:$port/hook" sink="" nats=""
	if [ "$http" = js ]; then
		url="http://127.0.0.1:9/unused" sink=", sink = nats" batch=1 inflight=1 tls=""
		nats="nats { url = \"nats://127.0.0.1:$RX_NATS\", stream = BENCH, subject = \"bench.{clientid}\", create = true }"
	fi
	cat >"$WORK/row.conf" <<CONF
webhook {
  url = "$url"
  $tls
  pool_size = 32
  body.batch = $batch
  body.batch_wait = 20ms
  events = [ { event = on_message_publish$sink } ]
}
nanohook {
  $nats
  lane.inflight = $inflight
  http2 = $h2
  order = $order
  queue_max = 1000000
  spool.dir = ""
  drain_timeout = 100ms
  metrics = "$METRICS"
}
CONF
	ip netns exec "$NS" "$NANOHOOK" --pid "$MOSQ" --conf "$WORK/row.conf" >/dev/null 2>"$WORK/row.log" &
	local nh=$!
	if ! wait_for 20 grep -qs 'attached to' "$WORK/row.log"; then
		log "  nanohook did not attach: $(tail -2 "$WORK/row.log")"
		kill "$nh" 2>/dev/null; wait "$nh" 2>/dev/null
		echo "n/a n/a"
		return
	fi
	watch_metrics "$EVENTS" "$WINDOW" >"$WORK/watch.out" &
	local w=$!
	in_ns "$LOAD" --port "$MQTT" --publishers "$clients" --messages "$EVENTS" --qos 0 \
		--timeout 30 >"$WORK/load.out" 2>&1
	wait "$w"
	kill -INT "$nh" 2>/dev/null
	wait "$nh" 2>/dev/null
	out=$(cat "$WORK/watch.out")
	[ -n "${BENCH_DEBUG:-}" ] && log "    watch: $out; load: $(cat "$WORK/load.out"); nanohook: $(grep -v '^nanohook: info' "$WORK/row.log" | head -5 | tr '\n' ' ')"
	r=$(awk -v d="$(kv delivered "$out")" -v s="$(kv seconds "$out")" 'BEGIN { if (s > 0) printf "%.0f", d / s; else print "n/a" }')
	echo "$r $(kv captured_s "$out")"
}

kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
fmt() { case "$1" in n/a|"") echo n/a ;; *) printf '%.0f\n' "$1" | sed -E ':a;s/^([0-9]+)([0-9]{3})/\1,\2/;ta' ;; esac; }
mode_label() {
	local http inflight batch order
	IFS=: read -r http inflight batch order <<<"$1"
	local proto=HTTP/1.1
	case $http in h1s) proto="HTTP/1.1 + TLS" ;; h2s) proto="HTTP/2 + TLS" ;;
	js) printf 'NATS JetStream, 32 lanes%s' "$([ "$order" = none ] && echo ", order none")"; return ;;
	esac
	printf '%s, inflight %s, batch %s%s' "$proto" \
		"$inflight" "$batch" "$([ "$order" = none ] && echo ", order none")"
}

declare -A res cap
start=$SECONDS
for rtt in $RTTS; do
	set_rtt "$rtt" || { log "bench-delivery: cannot delay the receiver by $rtt ms"; exit 1; }
	for clients in 1 1000; do
		for mode in $MODES; do
			read -r r c < <(row "$rtt" "$clients" "$mode")
			res[$rtt/$clients/$mode]=$r
			cap[$rtt/$clients/$mode]=$c
			log "  [$((SECONDS - start))s] rtt ${rtt} ms, $clients clients, $(mode_label "$mode"): $(fmt "$r") events/s (capture $(fmt "$c")/s)"
		done
	done
done
set_rtt 0

echo "### Delivery: events/s answered 2xx, by receiver round trip"
echo
echo "$(fmt "$EVENTS") QoS 0 publishes at once per row, counted for up to $WINDOW s from the first capture; pool_size 32; nginx as the receiver; the round trip made with $([ "$NETEM" = yes ] && echo "tc netem on a namespace's loopback" || echo "nh-delay, a TCP delay line (this kernel has no tc netem)"). In parentheses: events/s the broker and probes captured (a row close to it is bound by the load)."
echo
printf '| clients | mode |'
for rtt in $RTTS; do printf ' %s ms |' "$rtt"; done
echo
printf '|---|---|'
for rtt in $RTTS; do printf -- '---:|'; done
echo
for clients in 1 1000; do
	for mode in $MODES; do
		printf '| %s | %s |' "$(fmt "$clients")" "$(mode_label "$mode")"
		for rtt in $RTTS; do
			printf ' %s (%s) |' "$(fmt "${res[$rtt/$clients/$mode]}")" "$(fmt "${cap[$rtt/$clients/$mode]}")"
		done
		echo
	done
done
echo
echo "Took $((SECONDS - start)) s."
