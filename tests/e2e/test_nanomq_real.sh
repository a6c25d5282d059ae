#!/usr/bin/env bash
# nanohook attached to a real, unmodified NanoMQ (NANOMQ_BIN) whose own
# WebHook is off: the golden client actions, driven by mosquitto clients,
# must give NanoMQ 0.25.3's golden bodies in every encoding; a wrong
# password must give a failed connack and a stalled client a keepalive
# disconnect.
. "$(dirname "$0")/lib.sh"
if [ -z "${NANOMQ_BIN:-}" ]; then
	skip_nanomq "real NanoMQ"
	exit 0
fi
need_root "real NanoMQ" || exit 0
if ! command -v mosquitto_pub >/dev/null || ! command -v mosquitto_sub >/dev/null; then
	skip_absent "real NanoMQ" mosquitto_pub "apt-get install mosquitto-clients"
	exit 0
fi
if [ ! -x "$NANOMQ_BIN" ]; then
	not_ok "real NanoMQ" "NANOMQ_BIN=$NANOMQ_BIN is not an executable"
	exit 1
fi
N_GOLDEN=$(wc -l <"$GOLDEN/bodies-plain.jsonl")

# finish_nanohook NAME N: stops nanohook, which must exit 0 by itself and
# account for N bodies posted and none dropped.
finish_nanohook() {
	if ! stop_bounded "$NH_PID" INT 10; then
		not_ok "$1 nanohook stops on SIGINT" "still running after 10 s"
	elif [ "$STOP_STATUS" -ne 0 ]; then
		not_ok "$1 nanohook exit status" "nanohook exited $STOP_STATUS"
	fi
	if grep -qE 'posted +'"$2"' ' "$NH_LOG" && grep -qE 'dropped +0$' "$NH_LOG"; then
		ok "$1 summary: posted $2, dropped 0"
	else
		not_ok "$1 summary" "expected posted $2, dropped 0"; sed 's/^/#   /' "$NH_LOG"
	fi
}

# client NAME CMD...: runs one mosquitto client, bounded; a failure is reported.
client() {
	local name=$1; shift
	timeout 10 "$@" >>"$WORK/clients.log" 2>&1 || {
		not_ok "client $name" "$* exited $?"
		return 1
	}
}

# golden_actions PORT TAG: the golden README's table, in order. Unlike
# lib.sh's golden_clients it checks each client's exit status and waits
# for c-killed's SUBACK instead of a fixed sleep, since a real broker's
# timing is not the test's to choose.
golden_actions() {
	local mq=(-h 127.0.0.1 -p "$1") sub_out=$WORK/$2.c-killed.out sub
	client c-v311-user mosquitto_pub "${mq[@]}" -i c-v311-user -u alice -k 30 -t nmq/pub -m 'Hello World!' -q 1 -r
	client c-v5-nouser mosquitto_pub "${mq[@]}" -i c-v5-nouser -V mqttv5 -k 60 -t nmq/a/b -m 'v5 payload' -q 2
	client c-binary mosquitto_pub "${mq[@]}" -i c-binary -t nmq/bin -f "$GOLDEN/binary.bin" -q 0
	client c-empty mosquitto_pub "${mq[@]}" -i c-empty -t nmq/empty -n -q 1
	client c-escape mosquitto_pub "${mq[@]}" -i c-escape -t nmq/esc -m $'quote " backslash \\ tab\t unicode é ✓' -q 0
	client c-nomatch mosquitto_pub "${mq[@]}" -i c-nomatch -t other/topic -m 'filtered out' -q 0
	client c-v31 mosquitto_pub "${mq[@]}" -i c-v31 -V mqttv31 -u bob -t nmq/v31 -m 'v3.1' -q 0
	# Line-buffered -d output says when the subscription is in place.
	: >"$sub_out"
	stdbuf -oL mosquitto_sub "${mq[@]}" -i c-killed -t 'nmq/#' -d >>"$sub_out" 2>&1 &
	sub=$!
	_pids+=("$sub")
	wait_for 15 grep -qs 'received SUBACK' "$sub_out" || not_ok "client c-killed" "no SUBACK in 5 s"
	kill -KILL "$sub"
	wait "$sub" 2>/dev/null
}

# 1. The golden actions, one broker, nanohook attached afresh per encoding.
name=real
if ! start_nanomq "$name"; then
	not_ok "$name NanoMQ starts" "no listener after 5 tries"
	exit 1
fi
echo "# NanoMQ pid $NMQ_PID on 127.0.0.1:$NMQ_PORT"
if "$NANOHOOK" probe --pid "$NMQ_PID" >"$WORK/$name.probe" 2>&1 &&
	grep -q '^verdict: can attach' "$WORK/$name.probe"; then
	ok "$name probe says: can attach"
else
	not_ok "$name probe" "no 'verdict: can attach'"; sed 's/^/#   /' "$WORK/$name.probe"
fi
for enc in plain base64 base62; do
	name=real-$enc
	start_sink "$name" || { not_ok "$name" "sink did not start"; continue; }
	write_conf "$WORK/$name.conf" "http://127.0.0.1:$SINK_PORT/hook" "$enc"
	start_nanohook "$name" "$NMQ_PID" "$WORK/$name.conf" || { not_ok "$name" "nanohook did not attach"; continue; }
	golden_actions "$NMQ_PORT" "$name"
	wait_for 10 lines_at_least "$SINK_OUT" "$N_GOLDEN"
	extra_room
	finish_nanohook "$name" "$N_GOLDEN"
	same_bodies "$name golden bodies" "$(expected_golden "$enc")" "$SINK_OUT"
	stop_bounded "$SINK_PID" TERM 5
done
stop_nanomq

# 2. Password auth and keepalive: a refused CONNECT still gets a connack
# body ("fail") and a disconnected one, as NanoMQ's own WebHook sends them.
# That disconnect's code is a race inside NanoMQ 0.25.3: nano_msg_notify
# gets 0, or 0x8B when the refused client's own close lands first (7 of
# 150 in one run), so its reason is not compared. A client that stops
# talking is closed after keepalive x multiplier, checked every
# retry_interval (default 10 s, hence 1 s here).
name=real-auth
start_nanomq "$name" 'auth { allow_anonymous = false, password = { "alice" = "secret" } }
mqtt { retry_interval = 1s, keepalive_multiplier = 1.5 }' || {
	not_ok "$name NanoMQ starts" "no listener after 5 tries"
	exit 1
}
mq=(-h 127.0.0.1 -p "$NMQ_PORT")
start_sink "$name" || not_ok "$name" "sink did not start"
write_conf "$WORK/$name.conf" "http://127.0.0.1:$SINK_PORT/hook" plain
if start_nanohook "$name" "$NMQ_PID" "$WORK/$name.conf"; then
	: >"$WORK/c-idle.out"
	stdbuf -oL mosquitto_sub "${mq[@]}" -i c-idle -u alice -P secret -k 5 -t nmq/idle -d >>"$WORK/c-idle.out" 2>&1 &
	idle=$!
	_pids+=("$idle")
	wait_for 15 grep -qs 'received SUBACK' "$WORK/c-idle.out" || not_ok "client c-idle" "no SUBACK in 5 s"
	kill -STOP "$idle"
	stopped_at=$SECONDS
	refused=0
	for v in mqttv311 mqttv5; do
		timeout 10 mosquitto_pub "${mq[@]}" -i "c-badpw-$v" -V "$v" -u alice -P wrong -t nmq/auth -m no \
			>>"$WORK/clients.log" 2>&1 || refused=$((refused + 1))
	done
	[ "$refused" -eq 2 ] || not_ok "$name NanoMQ refuses a wrong password" "only $refused of 2 refused"
	client c-goodpw mosquitto_pub "${mq[@]}" -i c-goodpw -u alice -P secret -t nmq/auth -m yes -q 1
	if wait_for 15 grep -q '"clientid":"c-idle","action":"client_disconnected"' "$SINK_OUT"; then
		ok "$name stalled client (keepalive 5 s) is reported after $((SECONDS - stopped_at)) s"
	else
		not_ok "$name keepalive timeout" "no disconnected body for c-idle within 15 s"
	fi
	kill -KILL "$idle"
	wait "$idle" 2>/dev/null
	wait_for 5 lines_at_least "$SINK_OUT" 9
	extra_room
	finish_nanohook "$name" 9
	cat >"$WORK/$name.expected" <<'EXP'
{"proto_ver":4,"keepalive":60,"conn_ack":"fail","username":"alice","clientid":"c-badpw-mqttv311","action":"client_connack"}
{"reason":"either","username":"alice","clientid":"c-badpw-mqttv311","action":"client_disconnected"}
{"proto_ver":5,"keepalive":60,"conn_ack":"fail","username":"alice","clientid":"c-badpw-mqttv5","action":"client_connack"}
{"reason":"either","username":"alice","clientid":"c-badpw-mqttv5","action":"client_disconnected"}
{"proto_ver":4,"keepalive":60,"conn_ack":"success","username":"alice","clientid":"c-goodpw","action":"client_connack"}
{"ts":0,"topic":"nmq/auth","retain":false,"qos":1,"action":"message_publish","from_username":"alice","from_client_id":"c-goodpw","payload":"yes"}
{"reason":"normal","username":"alice","clientid":"c-goodpw","action":"client_disconnected"}
EXP
	grep -v '"clientid":"c-idle"' "$SINK_OUT" |
		sed -E '/"clientid":"c-badpw-[^"]*","action":"client_disconnected"/s/^\{"reason":"(ab)?normal"/{"reason":"either"/' \
			>"$WORK/$name.auth.bodies"
	same_bodies "$name wrong password: conn_ack fail (v3.1.1, v5); right one: success" \
		"$WORK/$name.expected" "$WORK/$name.auth.bodies"
	cat >"$WORK/$name.idle.expected" <<'EXP'
{"proto_ver":4,"keepalive":5,"conn_ack":"success","username":"alice","clientid":"c-idle","action":"client_connack"}
{"reason":"abnormal","username":"alice","clientid":"c-idle","action":"client_disconnected"}
EXP
	grep '"clientid":"c-idle"' "$SINK_OUT" >"$WORK/$name.idle.bodies"
	same_bodies "$name keepalive timeout: reason abnormal" "$WORK/$name.idle.expected" "$WORK/$name.idle.bodies"
else
	not_ok "$name" "nanohook did not attach"
fi
stop_nanomq
exit 0
