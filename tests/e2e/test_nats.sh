#!/usr/bin/env bash
# The JetStream sink against real nats-server processes (JetStream on,
# started here on free ports) and a real broker (mosquitto):
#  1. a session: every event lands in the stream once, in order per client,
#     with the right subjects; bodies are the HTTP sink's bytes; check,
#     /metrics and the summary per sink.
#  2. the server stopped for NH_NATS_OUTAGE_S (20 s; 5 s under the
#     sanitizers) under a burst, then started again: every event once.
#  3. nanohook SIGKILLed while it sends its spool: `spool ls` and `spool
#     export` show what waits (subject and body); after a restart, nothing
#     lost and no duplicate in the stream (Nats-Msg-Id).
#  4. a three-node JetStream cluster (replicas 3), the node nanohook is
#     connected to killed mid-stream: nothing lost.
#  5. a stream that does not exist (create = false): check and run refuse,
#     with one clear line.
#  6. TLS: a nats-server that wants mutual TLS, with a CA made here:
#     nanohook's certificate and CA are taken; a server certificate from
#     another CA is refused at start, with one line.
# "Once" is checked on the stream itself: as many messages as distinct
# Nats-Msg-Ids, and as many as events sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pki.sh"
need_root "nats sink" || exit 0
if ! command -v nats-server >/dev/null; then
	skip_absent "nats sink" nats-server "apt-get install nats-server (scripts/install-deps.sh)"
	exit 0
fi
TAIL=$NH_BUILD/nh-nats-tail
OUTAGE_S=${NH_NATS_OUTAGE_S:-$([ -n "${NH_SAN:-}" ] && echo 5 || echo 20)}

start_mosquitto nats || { not_ok "mosquitto starts" "see log"; exit 0; }

# start_nats NAME PORT [nats-server options]: JetStream on PORT, its store
# under $WORK/NAME.js (kept across restarts of NAME); sets <NAME>_PID.
start_nats() {
	local name=$1 port=$2; shift 2
	nats-server -js -sd "$WORK/$name.js" -a 127.0.0.1 -p "$port" -n "$name" "$@" \
		>>"$WORK/$name.nats.log" 2>&1 &
	local pid=$!
	_pids+=("$pid")
	printf -v "${name}_PID" %s "$pid"
	wait_for 15 eval '! port_free $port' || {
		echo "# nats-server $name did not start:"; tail -5 "$WORK/$name.nats.log" | sed 's/^/#   /'
		return 1
	}
}

# stream_dump URL STREAM FILE: the stream's messages, one JSON line each.
stream_dump() { "$TAIL" --server "$1" --stream "$2" >"$3" 2>>"$WORK/tail.err"; }
# stream_count URL STREAM: its number of messages.
stream_count() { "$TAIL" --server "$1" --stream "$2" --count 2>/dev/null | awk '{ print $1 }'; }
stream_has() { local n; n=$(stream_count "$1" "$2"); [ -n "$n" ] && [ "$n" -ge "$3" ]; }
# distinct_ids FILE: the distinct Nats-Msg-Ids of a dump.
distinct_ids() { grep -o '"msg_id":"[^"]*"' "$1" | sort -u | wc -l; }

# exactly_once NAME DUMP WANT: WANT messages, each Nats-Msg-Id once.
exactly_once() {
	local n ids
	n=$(grep -c . "$2"); ids=$(distinct_ids "$2")
	if [ "$n" -eq "$3" ] && [ "$ids" -eq "$3" ]; then
		ok "$1: all $3 events in the stream, each once"
	else
		not_ok "$1" "$n messages with $ids distinct ids in the stream, want $3"
	fi
}

# publish CLIENT TOPIC FROM TO: payloads "CLIENT FROM" .. "CLIENT TO", QoS 1.
publish() {
	seq "$3" "$4" | sed "s/^/$1 /" | mosquitto_pub -p "$MOSQ_PORT" -i "$1" -t "$2" -q 1 -l
}

# in_order DUMP: per client, the numbers in the publishes' payloads rise
# in stream order.
in_order() {
	grep -o '"payload":"[^"]*"' "$1" | sed 's/"payload":"//; s/"$//' |
		awk '{ if (($1 in last) && $2 <= last[$1]) { print $1, last[$1], $2; bad = 1 } last[$1] = $2 }
		     END { exit bad }'
}

# nats_conf FILE URLS STREAM CREATE [nanohook lines]: every event to the
# stream (subjects STREAM.{action}.{clientid}: streams may not overlap);
# quick retries, a quick spool.
nats_conf() {
	local file=$1 urls=$2 stream=$3 create=$4; shift 4
	cat >"$file" <<CONF
webhook {
  url = "http://127.0.0.1:9/unused"
  pool_size = 4
  cancel_timeout = 1s
  events = [
    { event = on_message_publish, topic = "n/#", sink = nats }
    { event = on_client_connack, sink = nats }
    { event = on_client_disconnected, sink = nats }
  ]
}
nanohook {
  nats { url = $urls, stream = "$stream", create = $create, subject = "$stream.{action}.{clientid}" }
  retry { initial = 100ms, max_delay = 1s, max_attempts = 1000 }
  spool { failing_after = 2s }
  $*
}
CONF
}

NATS_PORT=$(pick_port)
start_nats single "$NATS_PORT" || { not_ok "nats-server starts" "see log"; exit 0; }
URL=nats://127.0.0.1:$NATS_PORT

# ---- 1. a session --------------------------------------------------------------------
start_sink session
cat >"$WORK/session.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  pool_size = 4
  events = [
    { event = on_message_publish, topic = "n/#", sink = both }
    { event = on_client_connack, sink = nats }
    { event = on_client_disconnected, sink = nats }
  ]
}
nanohook {
  nats { url = "$URL", stream = "SESSION", create = true, subject = "nh.{action}.{clientid}" }
}
CONF
if "$NANOHOOK" check --conf "$WORK/session.conf" >"$WORK/check.out" 2>&1 &&
	grep -q "stream SESSION does not exist on nats://127.0.0.1:$NATS_PORT; nanohook will create it" "$WORK/check.out"; then
	ok "session: check connects and says the stream will be created"
else
	not_ok "session: check" "$(tail -3 "$WORK/check.out" | tr '\n' ' ')"
fi
start_nanohook session "$MOSQ_PID" "$WORK/session.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "session: nanohook starts" "see log"; exit 0; }
publish c1 n/a 1 10
publish dev.1 n/b.c 1 5
seq 1 5 | sed 's/^/c3 /' | mosquitto_pub -p "$MOSQ_PORT" -i c3 -u alice -t n/c -q 1 -l
wait_for 20 stream_has "$URL" SESSION 26
wait_drained 20
stream_dump "$URL" SESSION "$WORK/session.dump"
exactly_once "session" "$WORK/session.dump" 26
if in_order "$WORK/session.dump"; then
	ok "session: each client's publishes in order in the stream"
else
	not_ok "session: order" "payload numbers fall within a client"
fi
# Per client: connack, its publishes, then disconnected, in stream order.
seqs=$(awk -F'"subject":"' '{ split($2, a, "\""); print a[1] }' "$WORK/session.dump" |
	awk -F. '{ if ($3 != "dev%2E1") next; print $2 }' | uniq | tr '\n' ' ')
if [ "$seqs" = "client_connack message_publish client_disconnected " ]; then
	ok "session: dev.1's connack, publishes and disconnect in order, subject token escaped (dev%2E1)"
else
	not_ok "session: dev.1 subjects" "got: $seqs"
fi
if grep -q '"subject":"nh.message_publish.c3",.*"from_username":"alice"' "$WORK/session.dump"; then
	ok "session: subjects are nh.{action}.{clientid}"
else
	not_ok "session: subjects" "$(head -3 "$WORK/session.dump")"
fi
grep '"subject":"nh.message_publish' "$WORK/session.dump" | sed 's/.*"body"://; s/}$//' >"$WORK/session.nats-bodies"
wait_for 10 lines_at_least "$SINK_OUT" 20
if diff <(sort "$WORK/session.nats-bodies") <(sort "$SINK_OUT") >/dev/null; then
	ok "session: the stream's publish bodies are the HTTP sink's bytes"
else
	not_ok "session: bodies" "$(diff <(sort "$WORK/session.nats-bodies") <(sort "$SINK_OUT") | head -4 | tr '\n' ' ')"
fi
if metric_is 'nats_acks_total{destination="1",result="stored"}' -eq 26 &&
	metric_is 'nats_connected{destination="1"}' -eq 1 &&
	metric_is 'destination_events_total{destination="0",outcome="delivered"}' -eq 20; then
	ok "session: /metrics per sink (26 stored in JetStream, 20 posted)"
else
	not_ok "session: metrics" "stored $(metric 'nats_acks_total{destination="1",result="stored"}'), posted $(metric 'destination_events_total{destination="0",outcome="delivered"}')"
fi
stop_nanohook
if grep -q "destination 1 (nats): 26 events, stored 26, dead 0, dropped 0" "$NH_LOG" &&
	grep -q "destination 0: 20 events, posted 20" "$NH_LOG"; then
	ok "session: the summary shows both sinks"
else
	not_ok "session: summary" "$(grep destination "$NH_LOG" | tr '\n' ' ')"
fi

# ---- 2. the server stopped under a burst ----------------------------------------------
nats_conf "$WORK/outage.conf" "\"$URL\"" OUTAGE true
start_nanohook outage "$MOSQ_PID" "$WORK/outage.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "outage: nanohook starts" "see log"; exit 0; }
publish o0 n/o 1 20
wait_for 10 stream_has "$URL" OUTAGE 22
kill -TERM "$single_PID"; wait "$single_PID" 2>/dev/null
pubs=()
for c in o1 o2 o3 o4; do publish "$c" n/o 1 100 & pubs+=($!); done
wait_for 15 metric_is events_captured_total -ge 430
wait "${pubs[@]}"
sleep "$OUTAGE_S"
start_nats single "$NATS_PORT" || not_ok "outage: nats-server starts again" "see log"
want=$((22 + 4 * 102))
wait_for 60 stream_has "$URL" OUTAGE "$want"
wait_drained 30
stream_dump "$URL" OUTAGE "$WORK/outage.dump"
exactly_once "outage: server down ${OUTAGE_S} s under a burst" "$WORK/outage.dump" "$want"
in_order "$WORK/outage.dump" && ok "outage: each client's events in order" ||
	not_ok "outage: order" "payload numbers fall within a client"
if grep -q "nats: reconnected to" "$NH_LOG" && metric_is 'nats_reconnects_total{destination="1"}' -ge 1; then
	ok "outage: nanohook said it reconnected, and counted it"
else
	not_ok "outage: reconnect" "$(grep nats: "$NH_LOG" | tail -3 | tr '\n' ' ')"
fi
stop_nanohook

# ---- 3. SIGKILL while the spool is sent ------------------------------------------------
nats_conf "$WORK/kill.conf" "\"$URL\"" KILL true
start_nanohook kill "$MOSQ_PID" "$WORK/kill.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "kill: nanohook starts" "see log"; exit 0; }
kill -TERM "$single_PID"; wait "$single_PID" 2>/dev/null
pubs=()
for c in k1 k2 k3 k4; do publish "$c" n/k 1 500 & pubs+=($!); done
want=$((4 * 502))
wait_for 30 eval 'metric_is events_captured_total -ge $want && metric_is spool_records -ge $want' ||
	echo "# spool holds $(metric spool_records) of $want"
wait "${pubs[@]}"
start_nats single "$NATS_PORT" || not_ok "kill: nats-server starts again" "see log"
wait_for 30 stream_has "$URL" KILL 1
kill -KILL "$NH_PID"; wait "$NH_PID" 2>/dev/null
before=$(stream_count "$URL" KILL)
echo "# SIGKILL with ${before:-?} of $want in the stream"
# What the spool holds for the stream, as `spool ls` and `spool export` show it.
"$NANOHOOK" spool ls --spool-dir "$WORK/kill.spool" >"$WORK/kill.ls" 2>&1
kill_id=$(awk '$4 == "nats:KILL" { print $1 }' "$WORK/kill.ls")
"$NANOHOOK" spool export "$kill_id" --spool-dir "$WORK/kill.spool" >"$WORK/kill.export" 2>/dev/null
if [ -n "$kill_id" ] && [ -s "$WORK/kill.export" ] &&
	! grep -v '"dest":"nats:KILL","subject":"KILL\.[a-z_]*\.k[1-4]","body":"{\\"' "$WORK/kill.export" | grep -q .; then
	ok "kill: spool ls names the stream; spool export gives each event's subject and body ($(grep -c . "$WORK/kill.export") events)"
else
	not_ok "kill: spool ls/export" "$(head -3 "$WORK/kill.ls" | tr '\n' ' ') $(head -c 300 "$WORK/kill.export")"
fi
start_nanohook kill-2 "$MOSQ_PID" "$WORK/kill.conf" --spool-dir "$WORK/kill.spool" \
	--metrics 127.0.0.1:0 || { not_ok "kill: nanohook starts again" "see log"; exit 0; }
wait_for 60 stream_has "$URL" KILL "$want"
wait_drained 30
stream_dump "$URL" KILL "$WORK/kill.dump"
exactly_once "kill: SIGKILL mid-spool, restarted" "$WORK/kill.dump" "$want"
in_order "$WORK/kill.dump" && ok "kill: each client's events in order" ||
	not_ok "kill: order" "payload numbers fall within a client"
stop_nanohook

# ---- 4. a three-node cluster, one node killed ------------------------------------------
P1=$(pick_port); P2=$(pick_port); P3=$(pick_port)
C1=$(pick_port); C2=$(pick_port); C3=$(pick_port)
routes=nats://127.0.0.1:$C1,nats://127.0.0.1:$C2,nats://127.0.0.1:$C3
for i in 1 2 3; do
	eval "p=\$P$i c=\$C$i"
	start_nats "n$i" "$p" --cluster_name nh --cluster "nats://127.0.0.1:$c" --routes "$routes" ||
		not_ok "cluster: node $i starts" "see log"
done
CURLS="[\"nats://127.0.0.1:$P1\", \"nats://127.0.0.1:$P2\", \"nats://127.0.0.1:$P3\"]"
if wait_for 60 "$TAIL" --server "nats://127.0.0.1:$P1" --stream CLUSTER --add 'CLUSTER.>' --replicas 3 2>>"$WORK/tail.err"; then
	nats_conf "$WORK/cluster.conf" "$CURLS" CLUSTER false
	start_nanohook cluster "$MOSQ_PID" "$WORK/cluster.conf" --metrics 127.0.0.1:0 ||
		{ not_ok "cluster: nanohook starts" "see log"; exit 0; }
	conn=$(sed -n 's|.*stream CLUSTER exists on nats://127.0.0.1:\([0-9]*\).*|\1|p' "$NH_LOG" | head -1)
	pubs=()
	for c in q1 q2 q3 q4; do publish "$c" n/q 1 300 & pubs+=($!); done
	wait_for 20 metric_is 'nats_acks_total{destination="1",result="stored"}' -ge 200
	victim=1; [ "$conn" = "$P2" ] && victim=2; [ "$conn" = "$P3" ] && victim=3
	eval "vpid=\$n${victim}_PID"
	kill -KILL "$vpid"; wait "$vpid" 2>/dev/null
	alive=$((victim % 3 + 1)); eval "aport=\$P$alive"
	want=$((4 * 302))
	wait "${pubs[@]}"
	wait_for 60 stream_has "nats://127.0.0.1:$aport" CLUSTER "$want"
	wait_drained 30
	stream_dump "nats://127.0.0.1:$aport" CLUSTER "$WORK/cluster.dump"
	exactly_once "cluster: node $victim (nanohook's) killed mid-stream" "$WORK/cluster.dump" "$want"
	stop_nanohook
else
	not_ok "cluster: the stream with replicas 3" "$(tail -2 "$WORK/tail.err" | tr '\n' ' ')"
fi

# ---- 5. a stream that does not exist ---------------------------------------------------
nats_conf "$WORK/missing.conf" "\"$URL\"" NOPE false
"$NANOHOOK" check --conf "$WORK/missing.conf" >/dev/null 2>"$WORK/missing.check"; rc=$?
line="nats: stream NOPE does not exist on nats://127.0.0.1:$NATS_PORT; create it"
if [ "$rc" -eq 2 ] && grep -q "$line" "$WORK/missing.check"; then
	ok "missing stream: check exits 2 and says so"
else
	not_ok "missing stream: check" "exit $rc: $(cat "$WORK/missing.check")"
fi
"$NANOHOOK" --pid "$MOSQ_PID" --conf "$WORK/missing.conf" --spool-dir "$WORK/missing.spool" \
	>/dev/null 2>"$WORK/missing.log"; rc=$?
if [ "$rc" -ne 0 ] && grep -q "$line" "$WORK/missing.log" && ! grep -q "attached to" "$WORK/missing.log"; then
	ok "missing stream: nanohook refuses to run, with one clear line"
else
	not_ok "missing stream: run" "exit $rc: $(tr '\n' ' ' <"$WORK/missing.log")"
fi
check_sanitizers "$WORK/missing.log"

# ---- 6. TLS ------------------------------------------------------------------------------
if make_test_pki "$WORK/pki"; then
	TLS_PORT=$(pick_port)
	start_nats tls "$TLS_PORT" --tlsverify --tlscert "$WORK/pki/server.pem" \
		--tlskey "$WORK/pki/server.key" --tlscacert "$WORK/pki/ca.pem" ||
		not_ok "tls: nats-server starts" "see log"
	tls_conf() { # FILE CA: mutual TLS with the test client certificate
		nats_conf "$1" "\"tls://127.0.0.1:$TLS_PORT\"" TLS true
		sed -i "s|create = true, |create = true, cacertfile = \"$2\", certfile = \"$WORK/pki/client.pem\", keyfile = \"$WORK/pki/client.key\", |" "$1"
	}
	tls_conf "$WORK/tls.conf" "$WORK/pki/ca.pem"
	if start_nanohook tls "$MOSQ_PID" "$WORK/tls.conf" --metrics 127.0.0.1:0; then
		publish t1 n/t 1 10
		wait_for 20 metric_is 'nats_acks_total{destination="1",result="stored"}' -ge 12
		stop_nanohook
		if grep -q "destination 1 (nats): 12 events, stored 12" "$NH_LOG"; then
			ok "tls: mutual TLS to nats-server with the test CA: all 12 events stored"
		else
			not_ok "tls: delivery" "$(grep -E 'destination 1|nats' "$NH_LOG" | tr '\n' ' ')"
		fi
	else
		not_ok "tls: nanohook starts with mutual TLS" "$(tail -3 "$WORK/tls.nanohook.log" | tr '\n' ' ')"
	fi
	tls_conf "$WORK/rogue.conf" "$WORK/pki/rogue-ca.pem"
	"$NANOHOOK" --pid "$MOSQ_PID" --conf "$WORK/rogue.conf" --spool-dir "$WORK/rogue.spool" \
		>/dev/null 2>"$WORK/rogue.log"; rc=$?
	if [ "$rc" -ne 0 ] && grep -q "nats: cannot connect to tls://127.0.0.1:$TLS_PORT" "$WORK/rogue.log" &&
		! grep -q "attached to" "$WORK/rogue.log"; then
		ok "tls: a server certificate the configured CA did not sign is refused at start"
	else
		not_ok "tls: rogue CA" "exit $rc: $(tr '\n' ' ' <"$WORK/rogue.log")"
	fi
	check_sanitizers "$WORK/rogue.log"
else
	not_ok "tls: test PKI" "openssl failed"
fi
