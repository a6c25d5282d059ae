#!/usr/bin/env bash
# The container image (make image: nanohook:local), run for real with podman
# (or docker) against a real mosquitto and a real local endpoint:
#   1. broker on the host, nanohook in a container with --pid=host
#      --privileged attaching by --name; events arrive; the broker restarted
#      under it is followed; `stop` (SIGTERM) drains and the summary is in
#      the container's log;
#   2. the same with capabilities instead of --privileged: the documented
#      four work, and the minimum is found by taking each away (what is left
#      out must still attach; what is needed must fail in one line naming it);
#   3. the broker in a container, nanohook in another sharing its PID
#      namespace (--pid=container:NAME), the sidecar shape;
#   4. the spool on a host volume survives `kill` and a new container:
#      every event arrives, once;
#   5. check-system in the container names the flag that was forgotten
#      (no host PID namespace, no bpffs, a read-only bpffs, no capability).
# The endpoint and the brokers listen on 127.0.0.1; the containers use the
# host's network to reach them.
. "$(dirname "$0")/../e2e/lib.sh"
. "$NH_TOP/scripts/engine.sh"
need_root "container image" || exit 0
if ! nh_engine_setup "$NH_BUILD/image"; then
	skip_absent "container image" "podman" "apt-get install podman runc (or docker.io), then make image"
	exit 0
fi
IMAGE=${NH_IMAGE:-nanohook:local}
BASE=localhost/nanohook-base:bookworm
if ! $ENGINE image inspect "$IMAGE" >/dev/null 2>&1; then
	not_ok "container image" "$IMAGE is not built: make image"
	exit 0
fi
size=$($ENGINE image inspect "$IMAGE" --format '{{.Size}}')
ok "$IMAGE exists: $((size / 1000000)) MB ($ENGINE)"

PREFIX=nh-img-$$
_containers=()
cleanup_containers() {
	local c
	for c in "${_containers[@]}"; do $ENGINE rm -f -t 0 "$c" >/dev/null 2>&1; done
}
trap 'cleanup_containers; cleanup' EXIT

# A copy of mosquitto under a name of its own: --name finds the test's
# brokers only, whatever else runs on this machine.
NAMED=nh-img-mosq
mkdir -p "$WORK/bin"
cp "$(command -v mosquitto)" "$WORK/bin/$NAMED"

# conf NAME PORT [nanohook {} lines]: publish and connack events to the sink.
conf() {
	local file=$WORK/$1.conf port=$2 line
	shift 2
	{
		echo "webhook {"
		echo "  url = \"http://127.0.0.1:$port/hook\""
		echo "  events = [ { event = on_message_publish, topic = \"img/#\" } { event = on_client_connack } ]"
		echo "}"
		echo "nanohook {"
		for line in "$@"; do echo "  $line"; done
		echo "}"
	} >"$file"
	chmod 0644 "$file"
	echo "$file"
}

# run_nh NAME CONF ENGINE_FLAGS... -- NANOHOOK_ARGS...: a nanohook container,
# detached; sets C (its name).
run_nh() {
	local name=$1 cf=$2 flags=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
	shift
	C=$PREFIX-$name
	_containers+=("$C")
	$ENGINE run -d --name "$C" --network host "${flags[@]}" \
		-v "$cf:/etc/nanohook/nanohook.conf:ro" "$IMAGE" "$@" \
		--conf /etc/nanohook/nanohook.conf >"$WORK/$name.run" 2>&1
}

logs() { $ENGINE logs "$1" 2>&1; }
attached() { logs "$C" | grep -q 'attached to mosquitto'; }
got() { grep -qs "$2" "$1"; }
has_pub() { got "$SINK_OUT" "\"from_client_id\":\"$1\""; }
has_connack() { got "$SINK_OUT" "\"clientid\":\"$1\",\"action\":\"client_connack\""; }

# ---- 1. --pid=host --privileged, --name; restart; stop drains ----------------
start_sink priv
cf=$(conf priv "$SINK_PORT")
MOSQUITTO=$WORK/bin/$NAMED start_mosquitto priv-1
run_nh priv "$cf" --pid=host --privileged -- --name "$NAMED"
if wait_for 60 attached; then
	mosquitto_pub -p "$MOSQ_PORT" -i img-priv-1 -t img/a -m 1 -q 1
	wait_for 30 eval 'has_pub img-priv-1 && has_connack img-priv-1'
	if has_pub img-priv-1 && has_connack img-priv-1; then
		ok "1: --pid=host --privileged --name: publish and connack of a host broker delivered"
	else
		not_ok "1: privileged" "no bodies"; logs "$C" | sed 's/^/#   /' | tail -20
	fi
	# the broker restarts (a new process of its binary) under nanohook
	stop_bounded "$MOSQ_PID" TERM 10
	MOSQUITTO=$WORK/bin/$NAMED start_mosquitto priv-2
	mosquitto_pub -p "$MOSQ_PORT" -i img-priv-2 -t img/b -m 2 -q 1
	if wait_for 30 has_pub img-priv-2; then
		ok "5: the broker restarted under a running container: its events keep coming"
	else
		not_ok "5: restart" "no body from the restarted broker"; logs "$C" | tail -20 | sed 's/^/#   /'
	fi
	$ENGINE stop -t 30 "$C" >/dev/null 2>&1
	status=$($ENGINE inspect "$C" --format '{{.State.ExitCode}}' 2>/dev/null)
	if [ "$status" = 0 ] && logs "$C" | grep -q '^nanohook: summary after' &&
		logs "$C" | grep -Eq '^ +posted +4 '; then
		ok "1: stop (SIGTERM) drains: exit 0, the summary in the container log (posted 4)"
	else
		not_ok "1: stop" "exit ${status:-?}"; logs "$C" | tail -20 | sed 's/^/#   /'
	fi
else
	not_ok "1: privileged" "no attach"; logs "$C" | sed 's/^/#   /' | tail -20
fi
stop_bounded "$MOSQ_PID" TERM 10

# ---- 2. capabilities instead of --privileged -----------------------------------
# cap_run NAME CAPS...: a container with exactly those capabilities added;
# sets CAP_OK (attached and delivered) and CAP_ERR (its first error line).
cap_run() {
	local name=$1 c flags=()
	shift
	for c in "$@"; do flags+=(--cap-add "$c"); done
	start_sink "cap-$name"
	cf=$(conf "cap-$name" "$SINK_PORT")
	run_nh "cap-$name" "$cf" --pid=host --security-opt apparmor=unconfined "${flags[@]}" -- \
		--name "$NAMED"
	CAP_OK=false
	CAP_ERR=
	if wait_for 60 eval 'attached || [ "$($ENGINE inspect "$C" --format "{{.State.Running}}")" = false ]' &&
		attached; then
		mosquitto_pub -p "$MOSQ_PORT" -i "img-cap-$name" -t img/c -m 3 -q 1
		wait_for 30 has_pub "img-cap-$name" && CAP_OK=true
	fi
	CAP_ERR=$(logs "$C" | grep 'error:' | sed 's/^nanohook: error: //' | tr '\n' ' ')
	$ENGINE rm -f -t 5 "$C" >/dev/null 2>&1
}
MOSQUITTO=$WORK/bin/$NAMED start_mosquitto caps
ALL="BPF PERFMON SYS_ADMIN SYS_PTRACE"
cap_run four $ALL
if $CAP_OK; then
	ok "2: --cap-add BPF,PERFMON,SYS_ADMIN,SYS_PTRACE (not privileged): events delivered"
else
	not_ok "2: four capabilities" "${CAP_ERR:-no delivery}"
fi
needed=
for drop in $ALL; do
	keep=$(echo "$ALL" | tr ' ' '\n' | grep -vx "$drop" | tr '\n' ' ')
	# shellcheck disable=SC2086
	cap_run "no-$drop" $keep
	if $CAP_OK; then
		echo "# without $drop: attaches and delivers"
	else
		needed="$needed $drop"
		echo "# without $drop: $CAP_ERR"
		if printf '%s' "$CAP_ERR" | grep -q "CAP_$drop"; then
			ok "2: without $drop nanohook refuses, naming CAP_$drop"
		else
			not_ok "2: without $drop" "the error does not name CAP_$drop: ${CAP_ERR:-none}"
		fi
	fi
done
needed=${needed# }
# shellcheck disable=SC2086
cap_run minimum $needed
if [ -n "$needed" ] && $CAP_OK; then
	ok "2: the minimum is --cap-add ${needed// / --cap-add }: events delivered with only those"
else
	not_ok "2: minimum" "'$needed' alone: ${CAP_ERR:-no delivery}"
fi
echo "$needed" >"$NH_BUILD/image/minimum-capabilities"
stop_bounded "$MOSQ_PID" TERM 10

# ---- 3. the sidecar: the broker's own PID namespace ------------------------------
BROKER_IMAGE=localhost/nanohook-test-broker:bookworm
if ! $ENGINE image inspect "$BROKER_IMAGE" >/dev/null 2>&1; then
	printf 'FROM %s\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mosquitto && rm -rf /var/lib/apt/lists/*\n' \
		"$BASE" >"$WORK/Containerfile.broker"
	$ENGINE build --network host -t "$BROKER_IMAGE" -f "$WORK/Containerfile.broker" "$WORK" \
		>"$WORK/broker-image.log" 2>&1 || { tail -5 "$WORK/broker-image.log" | sed 's/^/#   /'; }
fi
port=$(pick_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser root\n' "$port" >"$WORK/side.mosq.conf"
chmod 0644 "$WORK/side.mosq.conf"
B=$PREFIX-broker
_containers+=("$B")
$ENGINE run -d --name "$B" --network host -v "$WORK/side.mosq.conf:/etc/side.conf:ro" \
	"$BROKER_IMAGE" mosquitto -c /etc/side.conf >"$WORK/broker.run" 2>&1
wait_for 30 eval '! port_free $port'
start_sink side
cf=$(conf side "$SINK_PORT")
run_nh side "$cf" --pid="container:$B" --privileged -- --name mosquitto
if wait_for 60 attached; then
	mosquitto_pub -p "$port" -i img-side -t img/d -m 4 -q 1
	if wait_for 30 eval 'has_pub img-side && has_connack img-side'; then
		ok "3: --pid=container:BROKER: the broker container's events delivered"
	else
		not_ok "3: sidecar" "no bodies"; logs "$C" | tail -20 | sed 's/^/#   /'
	fi
else
	not_ok "3: sidecar" "no attach"; logs "$C" | tail -20 | sed 's/^/#   /'
	logs "$B" | tail -5 | sed 's/^/#   broker: /'
fi
$ENGINE rm -f -t 5 "$C" "$B" >/dev/null 2>&1

# ---- 4. the spool on a host volume survives kill ---------------------------------
MOSQUITTO=$WORK/bin/$NAMED start_mosquitto spool
sink_port=$(pick_port)
mport=$(pick_port)
mkdir -p "$WORK/varlib"
cf=$(conf spool "$sink_port" "spool { failing_after = 1s }" \
	"retry { max_attempts = 1000, initial = 50ms, max_delay = 500ms, max_age = 1h }" \
	"metrics = \"127.0.0.1:$mport\"")
run_nh spool-1 "$cf" --pid=host --privileged -v "$WORK/varlib:/var/lib/nanohook" -- --name "$NAMED"
wait_for 60 attached || { not_ok "4: spool" "no attach"; logs "$C" | tail -20 | sed 's/^/#   /'; }
N=20
for i in $(seq 1 $N); do
	mosquitto_pub -p "$MOSQ_PORT" -i img-spool -t img/e -m "s-$i" -q 1
done
# All N publishes (and their client's N connacks) were written to the spool
# on the host. (Those read back for a retry stay in it, unacknowledged.)
spooled() { "$NANOHOOK" stats --metrics "127.0.0.1:$mport" 2>/dev/null |
	awk -v n=$((2 * N)) '$1 == "events_spooled_total" && $2 >= n { f = 1 } END { exit !f }'; }
wait_for 60 spooled || echo "# spool: $("$NANOHOOK" stats --metrics "127.0.0.1:$mport" 2>&1 | grep spool)"
$ENGINE kill "$C" >/dev/null 2>&1
"$SINK" --listen "127.0.0.1:$sink_port" --out "$WORK/spool.bodies" >"$WORK/spool.sink.log" 2>&1 &
_pids+=($!)
wait_for 15 grep -qs '^listening on' "$WORK/spool.sink.log"
run_nh spool-2 "$cf" --pid=host --privileged -v "$WORK/varlib:/var/lib/nanohook" -- --name "$NAMED"
pubs() { grep -o '"payload":"[^"]*"' "$WORK/spool.bodies" 2>/dev/null | wc -l; }
wait_for 60 eval '[ "$(pubs)" -ge $N ]'
$ENGINE stop -t 30 "$C" >/dev/null 2>&1
want=$(for i in $(seq 1 $N); do echo "s-$i"; done | sort)
have=$(grep -o '"payload":"[^"]*"' "$WORK/spool.bodies" | sed 's/"payload":"//; s/"$//' | sort)
if [ "$want" = "$have" ] && logs "$C" | grep -q 'holds [0-9]* events from before'; then
	ok "4: kill, then a new container on the same volume: all $N events delivered once from the spool"
else
	not_ok "4: spool across kill" "$(echo "$have" | grep -c .) of $N bodies (dups or gaps)"
	logs "$C" | tail -20 | sed 's/^/#   /'
fi
stop_bounded "$MOSQ_PID" TERM 10

# ---- 5. check-system names the flag that was forgotten ---------------------------
# cs NAME FLAGS... [-- ARGS]: check-system's output in a container.
cs() {
	local flags=() args=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
	[ $# -gt 0 ] && { shift; args=("$@"); }
	$ENGINE run --rm "${flags[@]}" "$IMAGE" check-system "${args[@]}" 2>&1
}
expect_line() { # NAME OUTPUT REGEX
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then ok "$1"; else
		not_ok "$1" "no line like /$3/"; printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
out=$(cs --privileged)
expect_line "check-system without --pid=host: names --pid=host and --pid=container:NAME" "$out" \
	'PID namespace: this container has one of its own.*--pid=host.*--pid=container:NAME'
out=$(cs --pid=host)
for cap in SYS_ADMIN SYS_PTRACE; do
	expect_line "check-system without capabilities: one line for CAP_$cap with --cap-add $cap" "$out" \
		"missing capability CAP_$cap .*--cap-add $cap "
done
out=$(cs --pid=host --privileged -- --pin /sys/fs/bpf/nanohook)
expect_line "check-system --pin without the host's bpffs: names -v /sys/fs/bpf:/sys/fs/bpf" "$out" \
	'--pin /sys/fs/bpf/nanohook: not on a BPF filesystem: run the container with -v /sys/fs/bpf:/sys/fs/bpf'
out=$(cs --pid=host --privileged -v /sys/fs/bpf:/sys/fs/bpf:ro -- --pin /sys/fs/bpf/nanohook)
expect_line "check-system --pin on a read-only bpffs: names -v /sys/fs/bpf:/sys/fs/bpf:rw" "$out" \
	'--pin /sys/fs/bpf/nanohook: /sys/fs/bpf is mounted read-only: run the container with -v /sys/fs/bpf:/sys/fs/bpf:rw'
out=$(cs --pid=host --privileged -v /sys/fs/bpf:/sys/fs/bpf -- --pin /sys/fs/bpf/nanohook)
expect_line "check-system with everything given: ready to attach" "$out" '^verdict: ready to attach'
exit 0
