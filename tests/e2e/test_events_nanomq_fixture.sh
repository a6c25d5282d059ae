#!/usr/bin/env bash
# All twelve events from the NanoMQ stand-in (-O0, -O2, -O2 with DWARF):
# two subscribers, an unsubscribe, QoS 1 and 2 deliveries with acks.
. "$(dirname "$0")/lib.sh"
need_root "events (nanomq fixture)" || exit 0

for build in O0 O2 O3 O2g; do
	name=nmq-events-$build
	start_sink "$name" || { not_ok "$name" "sink did not start"; continue; }
	all_events_conf "$WORK/$name.conf" "http://127.0.0.1:$SINK_PORT/hook"
	mkfifo "$WORK/$name.fifo"
	"$NH_BUILD/fixture/nmq_fixture-$build" --wait <"$WORK/$name.fifo" >"$WORK/$name.fixture.out" 2>&1 &
	fix=$!
	_pids+=("$fix")
	exec 7>"$WORK/$name.fifo"
	wait_for 15 grep -qs '^pid ' "$WORK/$name.fixture.out"
	start_nanohook "$name" "$fix" "$WORK/$name.conf" || { not_ok "$name" "no attach"; exec 7>&-; continue; }
	cat >&7 <<'SCRIPT'
go
connect sub-a alice 4 60 0
connect sub-b - 5 30 0
connect pub-c bob 5 60 0
subscribe sub-a 1 nmq/qos/#:2 nmq/other:1
subscribe sub-b 1 nmq/qos/#:2
unsubscribe sub-a 2 nmq/other
publish pub-c nmq/qos/one 1 0 6f6e65
deliver sub-a 1 pub-c nmq/qos/one 1 0 6f6e65
deliver sub-b 1 pub-c nmq/qos/one 1 0 6f6e65
publish pub-c nmq/qos/two 2 0 74776f
deliver sub-a 2 pub-c nmq/qos/two 2 0 74776f
deliver sub-b 2 pub-c nmq/qos/two 2 0 74776f
ack sub-a 1
ack sub-b 1
ack sub-a 2
ack sub-b 2
disconnect sub-a 0
disconnect sub-b 0
disconnect pub-c 0
quit
SCRIPT
	exec 7>&-
	wait_for 10 grep -qs '"clientid":"pub-c","action":"session_terminated"' "$SINK_OUT"
	extra_room
	stop_nanohook
	got=$WORK/$name.got
	normalize "$SINK_OUT" | sed -E 's/"connected_at":[0-9]+/"connected_at":0/' >"$got"
	e() { expect_body "$got" "$name: $1" "$2"; }
	e "connect (raw CONNECT, v3.1.1, username)" \
		'{"proto_ver":4,"keepalive":60,"ipaddress":"undefined","username":"alice","clientid":"sub-a","action":"client_connect"}'
	e "connected" \
		'{"proto_ver":5,"keepalive":30,"ipaddress":"127.0.0.1","connected_at":0,"username":"undefined","clientid":"sub-b","action":"client_connected"}'
	e "subscribe, one per filter (1/2)" \
		'{"topic":"nmq/qos/#","opts":{"qos":2},"username":"alice","clientid":"sub-a","action":"client_subscribe"}'
	e "subscribe, one per filter (2/2)" \
		'{"topic":"nmq/other","opts":{"qos":1},"username":"alice","clientid":"sub-a","action":"client_subscribe"}'
	e "subscribe from a v5 client" \
		'{"topic":"nmq/qos/#","opts":{"qos":2},"username":"undefined","clientid":"sub-b","action":"client_subscribe"}'
	e "session_subscribed, named by pipe id" \
		'{"topic":"nmq/other","opts":{"qos":1},"username":"alice","clientid":"sub-a","action":"session_subscribed"}'
	e "unsubscribe" \
		'{"topic":"nmq/other","opts":{},"username":"alice","clientid":"sub-a","action":"client_unsubscribe"}'
	e "session_unsubscribed" \
		'{"topic":"nmq/other","username":"alice","clientid":"sub-a","action":"session_unsubscribed"}'
	for m in "one 1 sub-a alice" "one 1 sub-b undefined" "two 2 sub-a alice" "two 2 sub-b undefined"; do
		set -- $m
		payload=$1
		for action in delivered acked; do
			e "$action: nmq/qos/$1 (QoS $2) to $3" \
				"{\"ts\":0,\"topic\":\"nmq/qos/$1\",\"retain\":false,\"qos\":$2,\"action\":\"message_$action\",\"from_username\":\"bob\",\"from_client_id\":\"pub-c\",\"username\":\"$4\",\"clientid\":\"$3\",\"payload\":\"$payload\"}"
		done
	done
	e "session_terminated with the session's end" \
		'{"reason":"normal","username":"alice","clientid":"sub-a","action":"session_terminated"}'
	if grep -qE 'dropped +0$' "$NH_LOG"; then ok "$name: nothing dropped"; else
		not_ok "$name: summary" "drops"; sed 's/^/#   /' "$NH_LOG"; fi
done
exit 0
