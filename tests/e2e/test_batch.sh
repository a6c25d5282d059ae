#!/usr/bin/env bash
# body.batch: bodies go out as JSON arrays of up to N, after at most
# batch_wait, each event exactly once, a client's events in order, and the
# summary counts events, not requests. Against a real mosquitto.
. "$(dirname "$0")/lib.sh"
need_root "batch" || exit 0
start_mosquitto batch || { not_ok "batch: mosquitto starts" "see log"; exit 0; }

conf() { # FILE PORT [more webhook lines]
	local f=$1 port=$2; shift 2
	cat >"$f" <<CONF
webhook {
  url = "http://127.0.0.1:$port/hook"
  pool_size = 4
  body.batch = 10
  body.batch_wait = 300ms
  events = [ { event = "on_message_publish", topic = "batch/#" } ]
  $*
}
nanohook { retry { initial = 50ms, max_delay = 200ms } }
CONF
}

# arrays FILE CLIENTS N MAX: every line is a JSON array of at most MAX
# NanoMQ publish bodies; per client c1..cCLIENTS the payloads 1..N each
# once, in order. Prints a summary; exit 1 if anything is off.
arrays() {
	python3 - "$@" <<'PY'
import json, sys
path, clients, n, most = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sizes, got = [], {}
for line in open(path):
    a = json.loads(line)
    assert isinstance(a, list) and 1 <= len(a) <= most, f"not an array of 1..{most}: {line[:80]}"
    sizes.append(len(a))
    for b in a:
        assert set(b) >= {"ts", "topic", "payload", "from_client_id", "qos"}, b
        got.setdefault(b["from_client_id"], []).append(int(b["payload"].split("-")[1]))
want = {f"c{i}": list(range(1, n + 1)) for i in range(1, clients + 1)}
print(f"{len(sizes)} requests of {min(sizes)}..{max(sizes)} bodies, {sum(sizes)} bodies")
sys.exit(0 if got == want else 1)
PY
}

# publish CLIENT N: N messages CLIENT-1..CLIENT-N over one connection.
publish() {
	seq 1 "$2" | sed "s/^/$1-/" | mosquitto_pub -p "$MOSQ_PORT" -i "$1" -t "batch/$1" -l -q 1
}

name=batch
start_sink $name
conf "$WORK/$name.conf" "$SINK_PORT"
"$NANOHOOK" check --conf "$WORK/$name.conf" >"$WORK/$name.check" 2>&1
grep -q "body.batch = 10 (a JSON array of up to 10 bodies per request, after at most 300ms)" "$WORK/$name.check" &&
	ok "$name: check shows the batch settings" || not_ok "$name: check" "$(cat "$WORK/$name.check")"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf" || { not_ok "$name" "no attach"; exit 0; }
pubs=()
for c in c1 c2 c3; do publish $c 40 & pubs+=($!); done
wait "${pubs[@]}"
wait_for 15 eval '[ "$(python3 -c "import json,sys; print(sum(len(json.loads(l)) for l in open(sys.argv[1])))" "$SINK_OUT")" -ge 120 ]'
stop_nanohook
if report=$(arrays "$SINK_OUT" 3 40 10); then
	ok "$name: 3 clients x 40 events as arrays: $report, each once, in order per client"
else
	not_ok "$name: arrays" "$report"
fi
requests=$(wc -l <"$SINK_OUT")
if [ "$(summary_value posted)" = 120 ] &&
	[ "$requests" -lt 120 ]; then
	ok "$name: the summary counts 120 events posted, in $requests requests"
else
	not_ok "$name: summary" "want posted 120 (events), requests $requests"; sed 's/^/#   /' "$NH_LOG"
fi

# batch_wait: a batch that never fills goes out anyway, soon.
name=batch-wait
start_sink $name
conf "$WORK/$name.conf" "$SINK_PORT"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf"
publish w 3
# Sent by the batch_wait timer, not by the shutdown's flush: the array
# arrives while nanohook still runs. (When the timer fires is a unit test
# with an injected clock: test_dispatch.)
wait_for 30 lines_at_least "$SINK_OUT" 1
extra_room
stop_nanohook
if report=$(arrays "$SINK_OUT" 0 0 10 2>&1; true) && [ "$(wc -l <"$SINK_OUT")" = 1 ] &&
	[ "$(python3 -c "import json,sys; print(len(json.loads(open(sys.argv[1]).readline())))" "$SINK_OUT")" = 3 ]; then
	ok "$name: 3 events, fewer than batch = 10, went out as one array before nanohook stopped (batch_wait 300ms)"
else
	not_ok "$name" "$(wc -l <"$SINK_OUT") requests; $(head -c 200 "$SINK_OUT")"
fi

# A batch answered 503 is retried whole: every event still arrives once.
name=batch-retry
start_sink $name --fail-first 3 --ok-out "$WORK/$name.ok"
conf "$WORK/$name.conf" "$SINK_PORT"
start_nanohook $name "$MOSQ_PID" "$WORK/$name.conf"
publish r 30
wait_for 15 eval '[ "$(python3 -c "import json,sys; print(sum(len(json.loads(l)) for l in open(sys.argv[1])))" "$WORK/$name.ok")" -ge 30 ]'
stop_nanohook
if python3 - "$WORK/$name.ok" <<'PY'
import json, sys
got = [int(b["payload"].split("-")[1]) for l in open(sys.argv[1]) for b in json.loads(l)]
sys.exit(0 if got == list(range(1, 31)) else 1)
PY
then
	ok "$name: after 3 answers of 503 the batches were sent again; 30 events answered 2xx once each, in order"
else
	not_ok "$name" "$(head -c 300 "$WORK/$name.ok")"
fi
