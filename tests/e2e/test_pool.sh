#!/usr/bin/env bash
# The endpoint pool against real receivers (nh-sink) and a real broker
# (mosquitto), as a user would check it:
#  1. hash over two endpoints, one killed mid-stream: every event delivered,
#     each client's events in order, the dead one's clients moved over;
#     /metrics per endpoint.
#  2. failover: the first endpoint goes down (its circuit opens), comes back
#     (a probe closes the circuit) and gets the events again.
#  3. a rule with its own url: events both rules want go to both
#     destinations and are accounted per destination (delivered to one,
#     dead-lettered by the other).
#  4. a restart with a changed url list sends nothing spooled for the old
#     pool to the new one, and reports what waits.
. "$(dirname "$0")/lib.sh"
need_root "endpoint pool" || exit 0

start_mosquitto pool || { not_ok "mosquitto starts" "see log"; exit 0; }

# sink NAME [PORT] [nh-sink options]: a receiver; sets <NAME>_PORT/_PID/_OUT/_OK.
sink() {
	local name=$1 port=${2:-0}
	shift $(($# < 2 ? $# : 2))
	local out=$WORK/$name.bodies okf=$WORK/$name.ok log=$WORK/$name.sink.log
	: >"$log"
	"$SINK" --listen "127.0.0.1:$port" --out "$out" --ok-out "$okf" "$@" >"$log" 2>&1 &
	local pid=$!
	_pids+=("$pid")
	wait_for 15 grep -qs '^listening on ' "$log" || return 1
	port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" | head -1)
	printf -v "${name}_PORT" %s "$port"
	printf -v "${name}_PID" %s "$pid"
	printf -v "${name}_OUT" %s "$out"
	printf -v "${name}_OK" %s "$okf"
}

# publish CLIENT TOPIC FROM TO: messages "CLIENT FROM" .. "CLIENT TO", QoS 1,
# one connection, in order.
publish() {
	seq "$3" "$4" | sed "s/^/$1 /" |
		mosquitto_pub -p "$MOSQ_PORT" -i "$1" -t "$2" -q 1 -l
}

# in_order FILE: per client, the numbers in FILE's payloads rise.
in_order() {
	grep -o '"payload":"[^"]*"' "$1" | sed 's/"payload":"//; s/"$//' |
		awk '{ if (($1 in last) && $2 <= last[$1]) { print $1, last[$1], $2; bad = 1 } last[$1] = $2 }
		     END { exit bad }'
}

# ---- 1. hash, one endpoint killed mid-stream ----------------------------------------
sink A
sink B
cat >"$WORK/hash.conf" <<CONF
webhook {
  url = ["http://127.0.0.1:$A_PORT/hook", "http://127.0.0.1:$B_PORT/hook"]
  balance = hash
  pool_size = 8
  events = [ { event = on_message_publish, topic = "p/#" } ]
}
nanohook {
  retry { max_attempts = 100, initial = 50ms, max_delay = 200ms }
  circuit { failures = 3, open_for = 30s }
}
CONF
start_nanohook hash "$MOSQ_PID" "$WORK/hash.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "endpoint pool" "no attach"; exit 0; }
CLIENTS=$(seq -f "c%02g" 1 20)
# publish_all FROM TO: every client at once, each in order.
publish_all() {
	local pids=() c
	for c in $CLIENTS; do publish "$c" "p/$c" "$1" "$2" & pids+=($!); done
	wait "${pids[@]}"
}
publish_all 1 25
# Answered and seen answered: nothing of B's is in flight when it dies.
wait_for 30 metric_is events_delivered_total -ge 500
n_a=$(wc -l <"$A_OK")
n_b=$(wc -l <"$B_OK")
# Which clients B had: they must move to A, and only they.
grep -o '"payload":"c[0-9]* ' "$B_OK" | sort -u | sed 's/"payload":"//; s/ $//' >"$WORK/b.clients"
[ "$n_a" -gt 0 ] && [ "$n_b" -gt 0 ] && [ $((n_a + n_b)) -eq 500 ] &&
	! grep -qxf "$WORK/b.clients" <(grep -o '"payload":"c[0-9]* ' "$A_OK" | sed 's/"payload":"//; s/ $//') &&
	ok "hash: 500 events over two endpoints ($n_a, $n_b), each client on one of them" ||
	not_ok "hash spreads, a client stays on one endpoint" "$n_a at A, $n_b at B"
kill -KILL "$B_PID"
wait "$B_PID" 2>/dev/null
publish_all 26 50
wait_drained 60 1000 || not_ok "hash: drained after the kill" "spool $(metric spool_records), queue $(metric queue_depth)"
cat "$A_OK" "$B_OK" | grep -o '"payload":"[^"]*"' | sort >"$WORK/hash.got"
n_unique=$(sort -u "$WORK/hash.got" | wc -l)
n_all=$(wc -l <"$WORK/hash.got")
[ "$n_unique" -eq 1000 ] && [ "$n_all" -eq 1000 ] &&
	ok "B killed mid-stream: all 1000 events delivered once" ||
	not_ok "B killed mid-stream: every event once" "$n_unique distinct of 1000, $n_all deliveries"
if in_order "$A_OK" >"$WORK/order.a" && in_order "$B_OK" >"$WORK/order.b"; then
	moved=0 bad=0
	while read -r c; do
		last_b=$(grep -o "\"payload\":\"$c [0-9]*\"" "$B_OK" | tr -dc '0-9 \n' | awk '{ print $2 }' | tail -1)
		first_a=$(grep -o "\"payload\":\"$c [0-9]*\"" "$A_OK" | tr -dc '0-9 \n' | awk '{ print $2 }' | head -1)
		[ -n "$first_a" ] && moved=$((moved + 1))
		[ -n "$first_a" ] && [ "$first_a" -le "$last_b" ] && bad=$((bad + 1))
	done <"$WORK/b.clients"
	[ "$bad" -eq 0 ] && [ "$moved" -eq "$(wc -l <"$WORK/b.clients")" ] &&
		ok "each client's order kept: B's $moved clients moved to A after their last event at B" ||
		not_ok "order across the move" "$bad clients out of order, $moved moved"
else
	not_ok "each client's events in order at each endpoint" "$(cat "$WORK/order.a" "$WORK/order.b" | head -3 | tr '\n' ';')"
fi
b_shown="http://127.0.0.1:$B_PORT/hook"
metric_is "endpoint_requests_total{endpoint=\"$b_shown\",result=\"transport\"}" -ge 3 &&
	metric_is "endpoint_circuit{endpoint=\"$b_shown\",state=\"open\"}" -eq 1 &&
	metric_is "endpoint_requests_total{endpoint=\"http://127.0.0.1:$A_PORT/hook\",result=\"ok\"}" -ge 500 &&
	ok "/metrics per endpoint: B's transport failures and open circuit, A's deliveries" ||
	not_ok "/metrics per endpoint" "$("$NANOHOOK" stats --metrics "$(metrics_address)" | grep endpoint_ | head -8 | tr '\n' ';')"
stop_nanohook
grep -q "circuit open" "$NH_LOG" && grep -Eq "^  destination 0: 1000 events, posted 1000" "$NH_LOG" &&
	ok "the log says the circuit opened; the summary shows the pool" ||
	not_ok "log and summary" "$(grep -E 'circuit|destination' "$NH_LOG" | head -4 | tr '\n' ';')"

# ---- 2. failover and recovery ---------------------------------------------------------
sink F1
sink F2
cat >"$WORK/failover.conf" <<CONF
webhook {
  url = ["http://127.0.0.1:$F1_PORT/hook", "http://127.0.0.1:$F2_PORT/hook"]
  balance = failover
  pool_size = 2
  events = [ { event = on_message_publish, topic = "f/#" } ]
}
nanohook {
  retry { max_attempts = 100, initial = 50ms, max_delay = 200ms }
  circuit { failures = 2, open_for = 1s }
}
CONF
start_nanohook failover "$MOSQ_PID" "$WORK/failover.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "failover" "no attach"; exit 0; }
publish f1 f/1 1 10
wait_for 20 lines_at_least "$F1_OK" 10
kill -KILL "$F1_PID"
wait "$F1_PID" 2>/dev/null
publish f1 f/1 11 20
wait_for 20 lines_at_least "$F2_OK" 10
n1=$(wc -l <"$F1_OK")
n2=$(wc -l <"$F2_OK")
[ "$n1" -eq 10 ] && [ "$n2" -eq 10 ] && ok "failover: the first endpoint down, its events go to the second" ||
	not_ok "failover" "$n1 at the first, $n2 at the second"
f1_shown="http://127.0.0.1:$F1_PORT/hook"
metric_is "endpoint_circuit{endpoint=\"$f1_shown\",state=\"open\"}" -eq 1 ||
	not_ok "failover: the first endpoint's circuit is open" "$(metric "endpoint_circuit{endpoint=\"$f1_shown\",state=\"open\"}")"
# Back on the same port: after open_for, a request probes it and closes the
# circuit (one event every 100 ms until then); the next 10 go there again.
sink F1 "$F1_PORT"
i=20
while ! metric_is "endpoint_circuit{endpoint=\"$f1_shown\",state=\"closed\"}" -eq 1 && [ $i -lt 300 ]; do
	i=$((i + 1))
	publish f1 f/1 "$i" "$i"
	sleep 0.1
done
publish f1 f/1 $((i + 1)) $((i + 10))
TOTAL=$((i + 10))
wait_drained 30 "$TOTAL"
back=$(grep -o '"payload":"f1 [0-9]*"' "$F1_OK" | tr -dc '0-9\n' | sed 's/^1//' | awk -v i="$i" '$1 > i' | wc -l)
metric_is "endpoint_circuit_opened_total{endpoint=\"$f1_shown\"}" -ge 1 && [ "$back" -eq 10 ] &&
	ok "recovery: a probe closed the circuit after $((i - 20)) events, and the first endpoint got the next 10 again" ||
	not_ok "recovery" "$back of the last 10 at the first endpoint; circuit closed: $(metric "endpoint_circuit{endpoint=\"$f1_shown\",state=\"closed\"}")"
cat "$F1_OK" "$F2_OK" | grep -o '"payload":"f1 [0-9]*"' | sort -u | wc -l >"$WORK/f.n"
[ "$(cat "$WORK/f.n")" -eq "$TOTAL" ] && in_order "$F1_OK" && in_order "$F2_OK" &&
	ok "failover: all $TOTAL events delivered, in order at each endpoint" ||
	not_ok "failover: all $TOTAL delivered" "$(cat "$WORK/f.n") distinct"
stop_nanohook

# ---- 3. a rule with its own url ----------------------------------------------------------
sink M
sink BILL 0 --status 500
cat >"$WORK/rules.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$M_PORT/hook"
  events = [
    { event = on_message_publish, topic = "r/#" }
    { event = on_message_publish, topic = "bill/#" }
    { event = on_message_publish, topic = "bill/#", url = "http://127.0.0.1:$BILL_PORT/billing" }
  ]
}
nanohook { retry { max_attempts = 2, initial = 20ms } }
CONF
"$NANOHOOK" check --conf "$WORK/rules.conf" >"$WORK/check.out" 2>&1
grep -q "^destination 1: 1 endpoint" "$WORK/check.out" &&
	grep -q "topic bill/# -> destination 1" "$WORK/check.out" &&
	ok "check prints each destination and each rule's destination" ||
	not_ok "check" "$(tr '\n' ';' <"$WORK/check.out")"
start_nanohook rules "$MOSQ_PID" "$WORK/rules.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "rule url" "no attach"; exit 0; }
publish r1 r/1 1 5
publish b1 bill/1 1 5
wait_drained 20 10
n_m_r=$(grep -c '"topic":"r/1"' "$M_OK")
n_m_b=$(grep -c '"topic":"bill/1"' "$M_OK")
n_bill=$(grep -c '"topic":"bill/1"' "$BILL_OUT")
n_bill_r=$(grep -c '"topic":"r/1"' "$BILL_OUT")
[ "$n_m_r" -eq 5 ] && [ "$n_m_b" -eq 5 ] && [ "$n_bill" -eq 10 ] && [ "$n_bill_r" -eq 0 ] &&
	ok "a rule's url: bill/# to both destinations (2 attempts each at the failing one), r/# to webhook.url only" ||
	not_ok "rule url routing" "main r $n_m_r bill $n_m_b; billing bill $n_bill r $n_bill_r"
metric_is 'destination_events_total{destination="0",outcome="delivered"}' -eq 10 &&
	metric_is 'destination_events_total{destination="1",outcome="dead_lettered"}' -eq 5 &&
	ok "/metrics per destination: 10 delivered to one, 5 dead-lettered by the other" ||
	not_ok "/metrics per destination" "$("$NANOHOOK" stats --metrics "$(metrics_address)" | grep destination_ | tr '\n' ';')"
stop_nanohook
n_dest=$(grep -c "\"dest\":\"http://127.0.0.1:$BILL_PORT/billing\"" "$WORK/rules.spool/dead-letter.jsonl" 2>/dev/null)
grep -q "destination 1: 5 events, posted 0, dead 5" "$NH_LOG" && [ "${n_dest:-0}" -eq 5 ] &&
	ok "the summary and the dead-letter file name the destination that failed" ||
	not_ok "per-destination summary" "$(grep destination "$NH_LOG" | tr '\n' ';') dead letters with dest: ${n_dest:-0}"

# ---- 3b. SIGHUP: rules over the running urls apply at once; a new url waits --------------
sink RA
sink RB
reload_conf() {
	cat >"$WORK/reload.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$RA_PORT/a"
  events = [
    { event = on_message_publish, topic = "$1/#" }
    { event = on_message_publish, topic = "$2/#", url = "http://127.0.0.1:$RB_PORT/$3" }
  ]
}
CONF
}
reload_conf x y b
start_nanohook reload "$MOSQ_PID" "$WORK/reload.conf" --metrics 127.0.0.1:0 ||
	{ not_ok "reload" "no attach"; exit 0; }
publish h1 x/1 1 1
publish h1 y/1 2 2
wait_for 10 metric_is events_delivered_total -ge 2
reload_conf y x b
kill -HUP "$NH_PID"
wait_for 10 eval '[ "$(grep -c "reloaded" "$NH_LOG")" -ge 1 ]'
publish h1 x/1 3 3
publish h1 y/1 4 4
wait_for 10 metric_is events_delivered_total -ge 4
reload_conf y x c
kill -HUP "$NH_PID"
wait_for 10 eval '[ "$(grep -c "reloaded" "$NH_LOG")" -ge 2 ]'
publish h1 x/1 5 5
wait_drained 10 5
a=$(grep -o '"payload":"h1 [0-9]*"' "$RA_OK" | tr -dc '0-9\n' | sed 's/^1//' | paste -sd ' ')
b=$(grep -o '"payload":"h1 [0-9]*"' "$RB_OK" | tr -dc '0-9\n' | sed 's/^1//' | paste -sd ' ')
[ "$a" = "1 4" ] && [ "$b" = "2 3 5" ] &&
	grep -q "a rule names urls no running destination has" "$NH_LOG" &&
	ok "SIGHUP: rules swapped over the running urls apply at once; a rule's new url waits for the next start, the running rules stay" ||
	not_ok "reload with destinations" "webhook.url got '$a', the rule's url got '$b'; $(grep -E 'reload' "$NH_LOG" | tr '\n' ';')"
stop_nanohook

# ---- 4. restart with a changed url list --------------------------------------------------
SPOOL=$WORK/pool.spool
D1=$(pick_port)
D2=$(pick_port)
cat >"$WORK/old-pool.conf" <<CONF
webhook {
  url = ["http://127.0.0.1:$D1/hook", "http://127.0.0.1:$D2/hook"]
  events = [ { event = on_message_publish, topic = "s/#" } ]
}
nanohook {
  retry { max_attempts = 1000, initial = 100ms, max_delay = 500ms }
  spool { failing_after = 1s }
  drain_timeout = 1s
}
CONF
# A pool is named by its urls sorted (byte order), whatever order they are written in.
OLD_POOL=$(printf '%s\n' "http://127.0.0.1:$D1/hook" "http://127.0.0.1:$D2/hook" | LC_ALL=C sort | paste -sd ' ')
start_nanohook oldpool "$MOSQ_PID" "$WORK/old-pool.conf" --spool-dir "$SPOOL" --metrics 127.0.0.1:0 ||
	{ not_ok "changed urls" "no attach"; exit 0; }
publish s1 s/1 1 8
wait_for 30 metric_is spool_records -ge 8
stop_nanohook
sink N
sed "s|\"http://127.0.0.1:$D2/hook\"|\"http://127.0.0.1:$N_PORT/hook\"|" "$WORK/old-pool.conf" >"$WORK/new-pool.conf"
start_nanohook newpool "$MOSQ_PID" "$WORK/new-pool.conf" --spool-dir "$SPOOL" --metrics 127.0.0.1:0 ||
	{ not_ok "changed urls" "no attach (new)"; exit 0; }
publish s2 s/2 1 3
wait_for 20 lines_at_least "$N_OK" 3
extra_room
n_old=$(grep -c '"payload":"s1 ' "$N_OUT")
n_new=$(grep -c '"payload":"s2 ' "$N_OUT")
grep -qF "8 events wait for $OLD_POOL (destination" "$NH_LOG" &&
	[ "$n_old" -eq 0 ] && [ "$n_new" -eq 3 ] &&
	ok "restart with a changed pool: the 8 events spooled for the old pool are reported, none sent to the new url" ||
	not_ok "changed pool" "$n_old old and $n_new new bodies at the new url; $(grep -i 'wait for' "$NH_LOG" | head -2)"
stop_nanohook
"$NANOHOOK" spool ls --spool-dir "$SPOOL" >"$WORK/pool-ls.out" 2>&1
grep -Eq " 8 +[0-9]+ +$OLD_POOL\$" "$WORK/pool-ls.out" &&
	ok "spool ls names the old pool's urls" || not_ok "spool ls" "$(tr '\n' ';' <"$WORK/pool-ls.out")"
exit 0
