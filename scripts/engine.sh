# Sourced by scripts/image.sh and tests/image/test_image.sh: picks the
# container engine and sets ENGINE to its command.
#
# podman first: it is daemonless, so CI has no service to start and nothing
# left running; docker when podman is absent and a docker daemon answers
# (the commands used are the same in both).
#
# For podman, a containers.conf of our own (CONTAINERS_CONF, nothing on the
# system changes) fits the engine to machines like this project's:
#  - an OCI runtime may not raise resource limits (no CAP_SYS_RESOURCE), so
#    the containers' limits are no higher than ours, and RLIMIT_NPROC no
#    higher than pid_max (the kernel refuses more);
#  - cgroups in hybrid (v1 + v2) mode, which crun refuses: runc, when it is
#    installed, handles both.
nh_engine_setup() {
	local dir=$1 nofile nproc pid_max
	if command -v podman >/dev/null 2>&1; then
		ENGINE=podman
		mkdir -p "$dir"
		nofile=$(ulimit -Hn)
		nproc=$(ulimit -Hu)
		pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
		[ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ] && nproc=$pid_max
		[ "$nofile" = unlimited ] && nofile=1048576
		{
			echo "[containers]"
			echo "default_ulimits = [ \"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\" ]"
			if command -v runc >/dev/null 2>&1; then
				echo "[engine]"
				echo 'runtime = "runc"'
			fi
		} >"$dir/containers.conf"
		export CONTAINERS_CONF=$dir/containers.conf
		return 0
	fi
	if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
		ENGINE=docker
		return 0
	fi
	return 1
}
