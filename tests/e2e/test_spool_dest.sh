#!/usr/bin/env bash
# Events spooled for one url never go to another: nanohook spools while
# its endpoint is down, is restarted with a different url on the same
# spool directory, and must post only the new events there, report the
# held ones at start, and leave them to `nanohook spool ls / export / drop`
# and `nanohook replay --to`.
. "$(dirname "$0")/lib.sh"
need_root "spool per destination" || exit 0

start_mosquitto dest || { not_ok "mosquitto starts" "see log"; exit 0; }
SPOOL=$WORK/shared.spool
DEAD_PORT=$(pick_port)
conf() {
	cat >"$1" <<CONF
webhook {
  url = "$2"
  pool_size = 1
  events = [ { event = on_message_publish, topic = "d/#" } ]
}
nanohook {
  retry { max_attempts = 1000, initial = 200ms, max_delay = 1s }
  spool { failing_after = 1s }
  drain_timeout = 1s
}
CONF
}
OLD_URL="http://127.0.0.1:$DEAD_PORT/hook"
conf "$WORK/old.conf" "$OLD_URL"

# 1. The old url is down: ten events end in the spool.
start_nanohook old "$MOSQ_PID" "$WORK/old.conf" --spool-dir "$SPOOL" --metrics 127.0.0.1:0 ||
	{ not_ok "spool per destination" "no attach"; exit 0; }
for i in $(seq 1 10); do mosquitto_pub -p "$MOSQ_PORT" -i old-pub -t d/old -m "old $i" -q 1; done
wait_for 30 metric_is spool_records -ge 10 ||
	not_ok "old url: events spooled" "spool_records $(metric spool_records)"
stop_nanohook
held=$(summary_value spooled)
[ "${held:-0}" -ge 10 ] && ok "old url down: 10 events kept in the spool" ||
	not_ok "old url down" "spooled ${held:-none}"

# 2. Restarted with another url on the same spool: only new events go there.
start_sink new
NEW_URL="http://127.0.0.1:$SINK_PORT/hook"
conf "$WORK/new.conf" "$NEW_URL"
start_nanohook new "$MOSQ_PID" "$WORK/new.conf" --spool-dir "$SPOOL" --metrics 127.0.0.1:0 ||
	{ not_ok "spool per destination" "no attach (new url)"; exit 0; }
grep -q "10 events wait for $OLD_URL" "$NH_LOG" &&
	ok "at start: the events held for the old url are reported" ||
	not_ok "at start: held events reported" "$(grep -i spool "$NH_LOG" | head -3 | tr '\n' ' ')"
for i in 1 2 3 4 5; do mosquitto_pub -p "$MOSQ_PORT" -i new-pub -t d/new -m "new $i" -q 1; done
wait_for 20 lines_at_least "$SINK_OUT" 5
wait_drained 20
extra_room
n_old=$(grep -c '"payload":"old ' "$SINK_OUT")
n_new=$(grep -c '"payload":"new ' "$SINK_OUT")
[ "$n_old" -eq 0 ] && [ "$n_new" -eq 5 ] &&
	ok "new url gets its 5 events and none captured for the old url" ||
	not_ok "new url" "$n_new new, $n_old old bodies"
stop_nanohook

# 3. The operator decides: list, export, replay elsewhere, drop.
old_id=$("$NANOHOOK" spool ls --spool-dir "$SPOOL" | awk -v u="$OLD_URL" '$4 == u { print $1 }')
"$NANOHOOK" spool ls --conf "$WORK/new.conf" --spool-dir "$SPOOL" >"$WORK/ls.out" 2>&1
sed 's/^/# /' "$WORK/ls.out"
[ -n "$old_id" ] && grep -Eq "^$old_id +10 +[0-9]+ +$OLD_URL\$" "$WORK/ls.out" &&
	grep -q "$NEW_URL  (this configuration's)" "$WORK/ls.out" &&
	ok "spool ls: the old destination with its 10 events, the new one marked" ||
	not_ok "spool ls" "$(tr '\n' ';' <"$WORK/ls.out")"
"$NANOHOOK" spool export "$old_id" --spool-dir "$SPOOL" >"$WORK/held.jsonl" 2>"$WORK/export.err"
n=$(grep -c '"reason":"exported"' "$WORK/held.jsonl")
n_dest=$(grep -c "\"dest\":\"$OLD_URL\"" "$WORK/held.jsonl")
[ "$n" -eq 10 ] && [ "$n_dest" -eq 10 ] && ok "spool export: 10 lines, each naming its destination" ||
	not_ok "spool export" "$n lines, $n_dest with dest; $(cat "$WORK/export.err")"
"$NANOHOOK" replay "$WORK/held.jsonl" --conf "$WORK/old.conf" --to "$NEW_URL" >"$WORK/replay.out" 2>&1
st=$?
n_old=$(grep -c '"payload":"old ' "$SINK_OUT")
[ "$st" -eq 0 ] && [ "$n_old" -eq 10 ] && ok "replay --to: the 10 held events delivered where the operator chose" ||
	not_ok "replay --to" "exit $st, $n_old old bodies: $(tail -2 "$WORK/replay.out" | tr '\n' ' ')"
"$NANOHOOK" spool drop "$old_id" --spool-dir "$SPOOL" 2>"$WORK/drop.err"
st=$?
[ "$st" -eq 0 ] && [ ! -e "$SPOOL/dest-$old_id" ] && grep -q "10 events of destination $old_id dropped" "$WORK/drop.err" &&
	! "$NANOHOOK" spool ls --spool-dir "$SPOOL" | grep -q "$OLD_URL" &&
	ok "spool drop: the old destination is gone" ||
	not_ok "spool drop" "exit $st: $(cat "$WORK/drop.err")"
"$NANOHOOK" spool export 0123456789abcdef --spool-dir "$SPOOL" >/dev/null 2>"$WORK/bad.err"
st=$?
[ "$st" -ne 0 ] && grep -q "no destination 0123456789abcdef" "$WORK/bad.err" &&
	ok "an unknown destination is one clear error" || not_ok "unknown destination" "exit $st"
exit 0
