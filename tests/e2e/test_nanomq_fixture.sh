#!/usr/bin/env bash
# nanohook attached to the NanoMQ stand-in (tests/fixture), built -O0, -O2,
# -O3, -O2 with DWARF, and stripped of every symbol (-O0s, -O2s, -O3s, as
# the official .deb/.rpm are): the golden client actions must give NanoMQ
# 0.25.3's golden bodies, POSTed to a real local HTTP server, in every
# encoding.
. "$(dirname "$0")/lib.sh"
need_root "nanomq fixture" || exit 0
ACTIONS=$NH_TOP/tests/e2e/data/golden-actions.txt
N_EXPECTED=$(wc -l <"$GOLDEN/bodies-plain.jsonl")

# run_fixture NAME BUILD: starts the fixture paused; FIX_PID, FIX_IN.
run_fixture() {
	FIX_IN=$WORK/$1.fifo
	mkfifo "$FIX_IN"
	"$NH_BUILD/fixture/nmq_fixture-$2" --wait <"$FIX_IN" >"$WORK/$1.fixture.out" 2>&1 &
	FIX_PID=$!
	_pids+=("$FIX_PID")
	exec 7>"$FIX_IN"
	wait_for 15 grep -qs '^pid ' "$WORK/$1.fixture.out"
}

for build in O0 O2 O3 O2g O0s O2s O3s; do
	for enc in plain base64 base62; do
		name=fixture-$build-$enc
		start_sink "$name" || { not_ok "$name" "sink did not start"; continue; }
		write_conf "$WORK/$name.conf" "http://127.0.0.1:$SINK_PORT/hook" "$enc"
		run_fixture "$name" "$build" || { not_ok "$name" "fixture did not start"; continue; }
		if ! start_nanohook "$name" "$FIX_PID" "$WORK/$name.conf"; then
			not_ok "$name" "nanohook did not attach"; exec 7>&-; continue
		fi
		echo go >&7
		cat "$ACTIONS" >&7
		echo quit >&7
		exec 7>&-
		wait_for 20 lines_at_least "$SINK_OUT" "$N_EXPECTED"
		stop_nanohook
		[ "$NH_STATUS" -eq 0 ] || not_ok "$name exit status" "nanohook exited $NH_STATUS"
		same_bodies "$name golden bodies" "$(expected_golden "$enc")" "$SINK_OUT"
		if grep -qE 'posted +'"$N_EXPECTED"' ' "$NH_LOG" && grep -qE 'dropped +0$' "$NH_LOG"; then
			ok "$name summary accounts for every event"
		else
			not_ok "$name summary" "expected posted $N_EXPECTED, dropped 0"; sed 's/^/#   /' "$NH_LOG"
		fi
	done
done

# --stdout prints the same bodies and POSTs nothing.
name=fixture-stdout
start_sink "$name"
write_conf "$WORK/$name.conf" "http://127.0.0.1:$SINK_PORT/hook" plain
run_fixture "$name" O2
start_nanohook "$name" "$FIX_PID" "$WORK/$name.conf" --stdout
{ echo go; cat "$ACTIONS"; echo quit; } >&7; exec 7>&-
wait_for 20 lines_at_least "$NH_STDOUT" "$N_EXPECTED"
stop_nanohook
same_bodies "$name prints the golden bodies" "$(expected_golden plain)" "$NH_STDOUT"
if [ ! -s "$SINK_OUT" ]; then ok "$name posts nothing"; else not_ok "$name posts nothing" "sink got bodies"; fi

# What the golden actions do not cover: a refused CONNACK, a publish the
# broker rejects, NanoMQ's own $SYS notices, a rule with '+'.
name=fixture-edges
start_sink "$name"
cat >"$WORK/$name.conf" <<CONF
webhook {
  url = "http://127.0.0.1:$SINK_PORT/hook"
  events = [
    { event = "on_message_publish", topic = "a/+/c" },
    { event = "on_message_publish", topic = "\$SYS/brokers/client_status/+" },
    { event = "on_client_connack" }
  ]
}
CONF
run_fixture "$name" O0
start_nanohook "$name" "$FIX_PID" "$WORK/$name.conf"
{
	echo go
	echo "connect refused-1 eve 5 10 135"
	echo "connect c1 - 4 60 0"
	echo "publish c1 a/b/c 1 0 6f6b"
	echo "publish c1 a/b/c 1 0 6e6f reject"
	echo "publish c1 a/b/d 0 0 6e6f"
	echo "publish c1 \$SYS/brokers/client_status/c1 0 0 7b7d event"
	echo "disconnect c1 0"
	echo quit
} >&7; exec 7>&-
wait_for 20 lines_at_least "$SINK_OUT" 4
extra_room
stop_nanohook
cat >"$WORK/$name.expected" <<'EXP'
{"proto_ver":5,"keepalive":10,"conn_ack":"fail","username":"eve","clientid":"refused-1","action":"client_connack"}
{"proto_ver":4,"keepalive":60,"conn_ack":"success","username":"undefined","clientid":"c1","action":"client_connack"}
{"ts":0,"topic":"a/b/c","retain":false,"qos":1,"action":"message_publish","from_username":"undefined","from_client_id":"c1","payload":"ok"}
{"ts":0,"topic":"$SYS/brokers/client_status/c1","retain":false,"qos":0,"action":"message_publish","from_username":"undefined","from_client_id":"c1","payload":"{}"}
EXP
same_bodies "$name: refused connack, rejected publish, \$SYS notice, + filter" "$WORK/$name.expected" "$SINK_OUT"

# Traps per publish: one where handle_pub_retain is a function of its own
# (-O0, as NanoMQ's packages and Docker image are built), handle_pub's
# entry and return where it is inlined (-O3) or cannot be named (stripped).
name=fixture-traps
for build in O0:1 O3:2 O0s:2; do
	b=${build%:*} want=${build#*:}
	"$NANOHOOK" probe --exe "$NH_BUILD/fixture/nmq_fixture-$b" >"$WORK/$name-$b.out" 2>&1
	got=$(awk '$1 == "on_message_publish" { print $2 }' "$WORK/$name-$b.out")
	if [ "$got" = "$want" ]; then
		ok "$name: -$b: $want trap(s) per publish ($(awk '$1 == "on_message_publish" { $1 = $2 = ""; print }' "$WORK/$name-$b.out" | sed 's/^ *//'))"
	else
		not_ok "$name: -$b" "${got:-no} traps per publish, want $want"; sed 's/^/#   /' "$WORK/$name-$b.out"
	fi
done

# A stripped build: probe says how each function and offset was found.
name=fixture-stripped-probe
"$NANOHOOK" probe --exe "$NH_BUILD/fixture/nmq_fixture-O2s" >"$WORK/$name.out" 2>&1
if grep -q '^verdict: can attach' "$WORK/$name.out" &&
	grep -qE '^  ok +function nano_msg_notify .*__func__ literal.*\.eh_frame' "$WORK/$name.out" &&
	grep -qE '^  ok +conn_param.clientid.body +0x78 .*accessor called by nano_msg_notify' "$WORK/$name.out"; then
	ok "$name reports the recovered functions and offsets"
else
	not_ok "$name" "unexpected probe report"; sed 's/^/#   /' "$WORK/$name.out"
fi

# A stripped build whose handle_pub cannot be recovered (its name literal
# is gone): nanohook refuses to attach, saying what and which build to use.
name=fixture-stripped-refuse
perl -0777 -pe 's/handle_pub\0/handle_puX\0/g' "$NH_BUILD/fixture/nmq_fixture-O2s" >"$WORK/nmq_fixture-nolit"
chmod +x "$WORK/nmq_fixture-nolit"
FIX_IN=$WORK/$name.fifo
mkfifo "$FIX_IN"
"$WORK/nmq_fixture-nolit" --wait <"$FIX_IN" >"$WORK/$name.fixture.out" 2>&1 &
FIX_PID=$!
_pids+=("$FIX_PID")
exec 7>"$FIX_IN"
wait_for 5 grep -q '^pid ' "$WORK/$name.fixture.out"
NH_LOG=$WORK/$name.nanohook.log
write_conf "$WORK/$name.conf" "http://127.0.0.1:1/hook" plain
timeout 20 "$NANOHOOK" --pid "$FIX_PID" --conf "$WORK/$name.conf" >/dev/null 2>"$NH_LOG"
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
	not_ok "$name" "attached although handle_pub cannot be recovered (exit $rc)"
elif grep -q 'this NanoMQ build is stripped and handle_pub could not be recovered .*; use the Docker image or a build with symbols' "$NH_LOG"; then
	ok "$name refuses (exit $rc), naming handle_pub and the build to use"
else
	not_ok "$name" "no clear refusal (exit $rc)"; sed 's/^/#   /' "$NH_LOG"
fi
exec 7>&-
exit 0
