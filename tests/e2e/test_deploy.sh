#!/usr/bin/env bash
# The deployment files, as far as this machine can test them:
#   - `make install` / `make uninstall` into a DESTDIR;
#   - the man page renders without warnings and names the same options and
#     commands as `nanohook --help`;
#   - the systemd units pass `systemd-analyze verify`;
#   - the Kubernetes manifests parse and hold what nanohook needs;
#   - every example configuration passes `nanohook check`;
#   - the Dockerfile: its packages exist in apt, the sources it copies build,
#     and deploy/rootfs.sh lays out a root in which nanohook runs with
#     nothing but what it copied. The image itself is built and run by
#     tests/image/test_image.sh (make image-test).
. "$(dirname "$0")/lib.sh"
cd "$NH_TOP" || exit 1
# Run from `make test`, the make variables of the sanitized stage
# (BUILD=build-san SAN=1, in MAKEFLAGS and the environment) would leak into
# the makes below.
unset MAKEFLAGS MAKELEVEL MFLAGS BUILD SAN

FOUR_CAPS="CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE"

if [ ! -x "$NANOHOOK" ]; then
	not_ok "deploy" "$NANOHOOK is not built"
	exit 1
fi

# ---- make install / uninstall ------------------------------------------------

root=$WORK/root
prefix=$root/usr/local
if make -s --no-print-directory install DESTDIR="$root" BUILD="$NH_BUILD" \
	>"$WORK/install.log" 2>&1; then
	ok "make install DESTDIR"
else
	not_ok "make install DESTDIR" "$(tail -3 "$WORK/install.log" | tr '\n' ' ')"
fi

# installed FILE MODE
installed() {
	local mode
	if [ ! -f "$1" ]; then
		not_ok "installs ${1#"$root"}" "missing"
		return
	fi
	mode=$(stat -c %a "$1")
	if [ "$mode" = "$2" ]; then
		ok "installs ${1#"$root"} ($2)"
	else
		not_ok "installs ${1#"$root"}" "mode $mode, expected $2"
	fi
}
installed "$prefix/sbin/nanohook" 755
installed "$prefix/share/man/man8/nanohook.8" 644
installed "$prefix/lib/systemd/system/nanohook.service" 644
installed "$prefix/lib/systemd/system/nanohook@.service" 644
installed "$root/etc/nanohook/nanohook.conf" 640

if "$prefix/sbin/nanohook" --version 2>/dev/null | grep -q '^nanohook '; then
	ok "installed nanohook runs"
else
	not_ok "installed nanohook runs" "--version printed nothing"
fi

if "$NANOHOOK" check --conf "$root/etc/nanohook/nanohook.conf" >"$WORK/check.out" 2>&1; then
	ok "installed example configuration passes nanohook check"
else
	not_ok "installed example configuration passes nanohook check" \
		"$(head -3 "$WORK/check.out" | tr '\n' ' ')"
fi

# Another PREFIX: the units must name the binary where it went.
root2=$WORK/root2
make -s --no-print-directory install DESTDIR="$root2" PREFIX=/opt/nanohook \
	BUILD="$NH_BUILD" >"$WORK/install2.log" 2>&1
exec_line=$(grep '^ExecStart=' "$root2/opt/nanohook/lib/systemd/system/nanohook.service" 2>/dev/null)
if [ -x "$root2/opt/nanohook/sbin/nanohook" ] &&
	[ "${exec_line%% *}" = "ExecStart=/opt/nanohook/sbin/nanohook" ]; then
	ok "PREFIX=/opt/nanohook: the unit runs /opt/nanohook/sbin/nanohook"
else
	not_ok "PREFIX=/opt/nanohook: the unit runs /opt/nanohook/sbin/nanohook" \
		"got '$exec_line'"
fi

# An existing configuration is never overwritten.
echo "# the operator's own" >"$root/etc/nanohook/nanohook.conf"
make -s --no-print-directory install DESTDIR="$root" BUILD="$NH_BUILD" >>"$WORK/install.log" 2>&1
if [ "$(cat "$root/etc/nanohook/nanohook.conf")" = "# the operator's own" ]; then
	ok "make install keeps an existing /etc/nanohook/nanohook.conf"
else
	not_ok "make install keeps an existing /etc/nanohook/nanohook.conf" "it was replaced"
fi

make -s --no-print-directory uninstall DESTDIR="$root2" PREFIX=/opt/nanohook >/dev/null 2>&1
left=$(cd "$root2" && find . -type f | sort | tr '\n' ' ')
if [ "$left" = "./etc/nanohook/nanohook.conf " ]; then
	ok "make uninstall removes all but the configuration"
else
	not_ok "make uninstall removes all but the configuration" "left: $left"
fi

# ---- the man page ------------------------------------------------------------

page=$prefix/share/man/man8/nanohook.8
if ! command -v man >/dev/null; then
	skip_absent "man page renders" man "apt-get install man-db groff-base"
else
	warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	if [ -z "$warnings" ]; then
		ok "man page renders without warnings"
	else
		not_ok "man page renders without warnings" "$(echo "$warnings" | head -3 | tr '\n' ' ')"
	fi
	MANWIDTH=80 man -l "$page" 2>/dev/null | col -bx >"$WORK/man.txt"
	missing=
	for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS CONFIGURATION CAPABILITIES \
		FILES "EXIT STATUS" EXAMPLES; do
		grep -qx "$s" "$WORK/man.txt" || missing="$missing $s"
	done
	if [ -z "$missing" ]; then
		ok "man page has every section"
	else
		not_ok "man page has every section" "missing:$missing"
	fi

	# The long options and the commands, from --help and from the page.
	"$NANOHOOK" --help >"$WORK/help.txt"
	section() { awk -v s="$2" '$0 == s {on = 1; next} on && /^[^ ]/ {exit} on' "$1"; }
	section "$WORK/help.txt" "Options:" | grep -E '^ +(-[A-Za-z], )?--' |
		grep -oE -- '--[a-z][a-z-]*' | awk '!seen[$0]++' | sort >"$WORK/help.opts"
	section "$WORK/man.txt" "OPTIONS" | grep -E '^ {7}-' |
		grep -oE -- '--[a-z][a-z-]*' | sort -u >"$WORK/man.opts"
	section "$WORK/help.txt" "Commands:" | sed -nE 's/^  ([a-z][a-z-]*) .*/\1/p' |
		sort >"$WORK/help.cmds"
	section "$WORK/man.txt" "COMMANDS" | sed -nE 's/^ {7}([a-z][a-z-]*)( .*)?$/\1/p' |
		sort >"$WORK/man.cmds"
	if [ -s "$WORK/help.opts" ] && diff "$WORK/help.opts" "$WORK/man.opts" >"$WORK/opts.diff"; then
		ok "man page OPTIONS are --help's ($(wc -l <"$WORK/help.opts"))"
	else
		not_ok "man page OPTIONS are --help's" \
			"$(sed -n 's/^< /only in --help: /p; s/^> /only in the man page: /p' \
				"$WORK/opts.diff" | tr '\n' ' ')"
	fi
	if [ -s "$WORK/help.cmds" ] && diff "$WORK/help.cmds" "$WORK/man.cmds" >"$WORK/cmds.diff"; then
		ok "man page COMMANDS are --help's ($(tr '\n' ' ' <"$WORK/help.cmds"))"
	else
		not_ok "man page COMMANDS are --help's" \
			"$(sed -n 's/^< /only in --help: /p; s/^> /only in the man page: /p' \
				"$WORK/cmds.diff" | tr '\n' ' ')"
	fi
fi

# ---- systemd -----------------------------------------------------------------

units=$prefix/lib/systemd/system
for u in nanohook.service nanohook@.service; do
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$units/$u")
	amb=$(sed -n 's/^AmbientCapabilities=//p' "$units/$u")
	if [ "$caps" = "$FOUR_CAPS" ] && [ "$amb" = "$FOUR_CAPS" ]; then
		ok "$u grants the four capabilities and only them"
	else
		not_ok "$u grants the four capabilities and only them" "bounding '$caps', ambient '$amb'"
	fi
done
if grep -q '^ExecStart=/usr/local/sbin/nanohook .*--conf /etc/nanohook/nanohook.conf' \
	"$units/nanohook.service"; then
	ok "nanohook.service reads /etc/nanohook/nanohook.conf"
else
	not_ok "nanohook.service reads /etc/nanohook/nanohook.conf" \
		"$(grep '^ExecStart=' "$units/nanohook.service")"
fi

if ! command -v systemd-analyze >/dev/null; then
	skip_absent "systemd-analyze verify" systemd-analyze "apt-get install systemd"
else
	# Checked where they were installed: the binary they name is the one in
	# DESTDIR, and Documentation=man:nanohook(8) finds the installed page.
	mkdir -p "$WORK/units"
	for u in nanohook.service nanohook@.service; do
		name=${u/@./@mosquitto.}
		sed "s|/usr/local/sbin/nanohook|$prefix/sbin/nanohook|g" "$units/$u" >"$WORK/units/$name"
		out=$(cd "$WORK/units" && MANPATH=$prefix/share/man systemd-analyze verify "./$name" 2>&1)
		rc=$?
		if [ $rc -eq 0 ] && [ -z "$out" ]; then
			ok "systemd-analyze verify $name"
		else
			not_ok "systemd-analyze verify $name" "exit $rc: $(echo "$out" | head -3 | tr '\n' ' ')"
		fi
	done
fi

# ---- Kubernetes ----------------------------------------------------------------

k8s=$NH_TOP/deploy/kubernetes
if ! python3 -c 'import yaml' 2>/dev/null; then
	skip_absent "Kubernetes manifests" python3-yaml "apt-get install python3-yaml"
else
	# Prints "ok NAME" / "fail NAME: why" lines; writes the ConfigMap's file.
	python3 - "$k8s" "$WORK/configmap.conf" "$FOUR_CAPS" >"$WORK/k8s.out" 2>&1 <<'PY'
import sys, yaml
k8s, conf_out, four = sys.argv[1], sys.argv[2], set(c[4:] for c in sys.argv[3].split())

def check(name, cond, why=""):
    print(("ok " if cond else "fail ") + name + ("" if cond else ": " + why))

docs = {}
for f in ("configmap.yaml", "daemonset.yaml", "sidecar.yaml"):
    try:
        loaded = [d for d in yaml.safe_load_all(open(f"{k8s}/{f}")) if d]
        ok = all(d.get("apiVersion") and d.get("kind") and d["metadata"].get("name")
                 for d in loaded)
        check(f"{f} parses", ok and len(loaded) == 1, "not one object with apiVersion, kind, name")
        docs[f] = loaded[0]
    except Exception as e:  # a parse error is the finding
        check(f"{f} parses", False, str(e).replace("\n", " "))
if len(docs) < 3:
    sys.exit(0)

cm = docs["configmap.yaml"]
check("ConfigMap holds nanohook.conf", "nanohook.conf" in cm.get("data", {}), "no data key")
open(conf_out, "w").write(cm.get("data", {}).get("nanohook.conf", ""))

def nanohook_container(pod):
    return next((c for c in pod["containers"] if c["name"] == "nanohook"), None)

def config_ok(pod, c):
    args = c.get("args", [])
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    conf = args[args.index("--conf") + 1] if "--conf" in args else ""
    m = next((m for m in mounts.values() if conf.startswith(m["mountPath"].rstrip("/") + "/")), None)
    v = vols.get(m["name"]) if m else None
    return (conf == "/etc/nanohook/nanohook.conf" and m is not None and m.get("readOnly") is True
            and v is not None and v.get("configMap", {}).get("name") == cm["metadata"]["name"])

def caps_of(c):
    sc = c.get("securityContext", {})
    return sc.get("privileged") is True, set(sc.get("capabilities", {}).get("add", []))

ds = docs["daemonset.yaml"]
check("DaemonSet kind", ds["kind"] == "DaemonSet", ds["kind"])
tpl = ds["spec"]["template"]
check("DaemonSet selector matches its pods",
      all(tpl["metadata"]["labels"].get(k) == v
          for k, v in ds["spec"]["selector"]["matchLabels"].items()), "labels differ")
pod = tpl["spec"]
c = nanohook_container(pod)
check("DaemonSet runs in the host PID namespace", pod.get("hostPID") is True, "hostPID not true")
priv, caps = caps_of(c)
check("DaemonSet may attach (privileged or the four capabilities)", priv or four <= caps,
      f"privileged {priv}, capabilities {sorted(caps)}")
check("DaemonSet targets nanomq by name", c.get("args", [])[:2] == ["--name", "nanomq"],
      str(c.get("args")))
check("DaemonSet mounts the ConfigMap read-only at --conf", config_ok(pod, c), "mount or path differ")
check("DaemonSet keeps /var/lib/nanohook on a volume",
      any(m["mountPath"] == "/var/lib/nanohook" for m in c.get("volumeMounts", [])), "no mount")

sp = docs["sidecar.yaml"]
pod = sp["spec"]
c = nanohook_container(pod)
check("sidecar is a Pod with a broker and nanohook",
      sp["kind"] == "Pod" and c is not None and len(pod["containers"]) == 2, sp["kind"])
check("sidecar shares the process namespace", pod.get("shareProcessNamespace") is True,
      "shareProcessNamespace not true")
priv, caps = caps_of(c)
check("sidecar grants exactly the four capabilities, unprivileged",
      not priv and caps == four, f"privileged {priv}, capabilities {sorted(caps)}")
check("sidecar mounts the ConfigMap read-only at --conf", config_ok(pod, c), "mount or path differ")
PY
	while read -r status rest; do
		case "$status" in
		ok) ok "kubernetes: $rest" ;;
		fail) not_ok "kubernetes: ${rest%%: *}" "${rest#*: }" ;;
		*) not_ok "kubernetes" "$status $rest" ;;
		esac
	done <"$WORK/k8s.out"
	if [ -s "$WORK/configmap.conf" ]; then
		if "$NANOHOOK" check --conf "$WORK/configmap.conf" >"$WORK/check-cm.out" 2>&1; then
			ok "kubernetes: the ConfigMap's nanohook.conf passes nanohook check"
		else
			not_ok "kubernetes: the ConfigMap's nanohook.conf passes nanohook check" \
				"$(head -3 "$WORK/check-cm.out" | tr '\n' ' ')"
		fi
	fi
fi
if command -v yamllint >/dev/null; then
	if yamllint -s "$k8s"/*.yaml >"$WORK/yamllint.out" 2>&1; then
		ok "kubernetes: yamllint"
	else
		not_ok "kubernetes: yamllint" "$(head -4 "$WORK/yamllint.out" | tr '\n' ' ')"
	fi
else
	skip_absent "kubernetes: yamllint" yamllint "apt-get install yamllint"
fi

# ---- Dockerfile ----------------------------------------------------------------

dockerfile=$NH_TOP/deploy/Dockerfile
# The packages each stage installs: "build" (the first FROM) and "run" (the last).
stage_packages() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" | awk -v want="$1" '
		/^FROM / { n++; stage = (n == 1) ? "build" : "run" }
		stage == want && /apt-get install/ {
			sub(/.*--no-install-recommends/, ""); sub(/&&.*/, "")
			for (i = 1; i <= NF; i++) print $i
		}' | sort -u
}
stage_packages build >"$WORK/docker.build"
stage_packages run >"$WORK/docker.run"

if ! apt-cache policy libc6 2>/dev/null | grep -q 'Candidate: [0-9]'; then
	skip "Dockerfile packages exist in apt" "apt has no package lists (apt-get update)"
else
	for stage in build; do
		missing=
		while read -r p; do
			apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || missing="$missing $p"
		done <"$WORK/docker.$stage"
		if [ ! -s "$WORK/docker.$stage" ]; then
			not_ok "Dockerfile $stage stage packages exist in apt" "found no package list"
		elif [ -z "$missing" ]; then
			ok "Dockerfile $stage stage packages exist in apt ($(wc -l <"$WORK/docker.$stage"))"
		else
			not_ok "Dockerfile $stage stage packages exist in apt" "no candidate:$missing"
		fi
	done
fi

# The build stage installs at least what scripts/install-deps.sh builds with.
awk '/^\t# build/ {on = 1; next} /^\t#/ {on = 0} on && /^\t/ {for (i = 1; i <= NF; i++) print $i}' \
	scripts/install-deps.sh | sort -u >"$WORK/deps.build"
missing=$(comm -23 "$WORK/deps.build" "$WORK/docker.build" | tr '\n' ' ')
if [ -s "$WORK/deps.build" ] && [ -z "$missing" ]; then
	ok "Dockerfile build stage covers install-deps.sh's build packages"
else
	not_ok "Dockerfile build stage covers install-deps.sh's build packages" "missing: $missing"
fi

# The runtime image is what deploy/rootfs.sh lays out, nothing more: in a
# chroot of that root alone, nanohook must start.
rootfs=$WORK/rootfs
# /proc is mounted in the root as the container engine would (a sanitized
# build's runtime reads it), and unmounted at once.
in_rootfs() {
	local rc
	mkdir -p "$rootfs/proc" && mount -t proc proc "$rootfs/proc" || return 1
	chroot "$rootfs" "$@"; rc=$?
	umount "$rootfs/proc"
	return $rc
}
if (cd "$NH_TOP" && deploy/rootfs.sh "$NANOHOOK" "$rootfs") >"$WORK/rootfs.log" 2>&1 &&
	out=$(in_rootfs /usr/local/sbin/nanohook --version 2>"$WORK/rootfs.err") &&
	[ "${out#nanohook }" != "$out" ]; then
	ok "deploy/rootfs.sh: nanohook runs in a root of only its binary, loader and libraries ($(du -sm --exclude=proc "$rootfs" | cut -f1) MB)"
else
	not_ok "deploy/rootfs.sh: nanohook runs in its root" \
		"$(tail -3 "$WORK/rootfs.log" "$WORK/rootfs.err" | tr '\n' ' ') ${out:-}"
fi

# What the build stage copies is enough to run its build command.
src=$WORK/docker-src
mkdir -p "$src"
copies=$(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$dockerfile" | grep -v '^deploy/')
build_cmd=$(sed -n 's/^RUN \(make [^&]*\)&&.*/\1/p; s/^RUN \(make .*\)$/\1/p' "$dockerfile" | head -1)
for c in $copies; do cp -r "$NH_TOP/${c%/}" "$src/"; done
if [ -n "$build_cmd" ] && (cd "$src" && $build_cmd -j"$(nproc)") >"$WORK/docker-build.log" 2>&1 &&
	[ -x "$src/build/nanohook" ]; then
	ok "Dockerfile build stage: '$build_cmd' builds from the copied sources"
else
	not_ok "Dockerfile build stage: '${build_cmd:-no make command}' builds from the copied sources" \
		"$(tail -3 "$WORK/docker-build.log" | tr '\n' ' ')"
fi

# The image runs the binary rootfs.sh put in it, with the configuration it put there.
entry=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' "$dockerfile")
if grep -q '^COPY --from=build /rootfs/ /$' "$dockerfile" && [ -x "$rootfs$entry" ] &&
	[ -f "$rootfs/etc/nanohook/nanohook.conf" ] &&
	grep -q '^CMD \[.*"--conf", "/etc/nanohook/nanohook.conf"\]' "$dockerfile"; then
	ok "Dockerfile ENTRYPOINT and CMD name the binary and configuration the image holds"
else
	not_ok "Dockerfile ENTRYPOINT and CMD name the binary and configuration the image holds" \
		"ENTRYPOINT '$entry'"
fi
