#!/usr/bin/env bash
# Builds the container image nanohook:local from deploy/Dockerfile with
# podman (or docker), on a Debian 12 (bookworm) minbase image made here with
# debootstrap and imported, so no image registry is ever reached. Inside the
# build, apt reaches the same Debian mirror as the host (host network).
#
#   scripts/image.sh [BUILD_DIR]
#
# The base is made once and cached as BUILD_DIR/image/debian-bookworm.tar
# (about 200 MB); remove it to make it again. Prints the image's size.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
cache=$build/image
BASE=localhost/nanohook-base:bookworm
IMAGE=${NH_IMAGE:-nanohook:local}
MIRROR=${NH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

. "$top/scripts/engine.sh"
if ! nh_engine_setup "$cache"; then
	echo "image: no container engine: apt-get install podman runc (or docker.io)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "image: run as root (debootstrap, and the engine's root storage)" >&2
	exit 1
fi

if ! $ENGINE image exists "$BASE" 2>/dev/null && ! $ENGINE image inspect "$BASE" >/dev/null 2>&1; then
	if [ ! -s "$cache/debian-bookworm.tar" ]; then
		command -v debootstrap >/dev/null || { echo "image: apt-get install debootstrap" >&2; exit 1; }
		echo "image: making the base with debootstrap (bookworm, minbase) from $MIRROR"
		root=$(mktemp -d "$cache/root.XXXXXX")
		trap 'rm -rf "$root"' EXIT
		debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$cache/debootstrap.log" 2>&1 || {
			echo "image: debootstrap failed; the end of $cache/debootstrap.log:" >&2
			tail -5 "$cache/debootstrap.log" >&2
			exit 1
		}
		rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
		tar -C "$root" -cf "$cache/debian-bookworm.tar.tmp" .
		mv "$cache/debian-bookworm.tar.tmp" "$cache/debian-bookworm.tar"
		rm -rf "$root"
		trap - EXIT
	fi
	echo "image: importing the base as $BASE"
	$ENGINE import "$cache/debian-bookworm.tar" "$BASE" >/dev/null
fi

echo "image: building $IMAGE with $ENGINE"
$ENGINE build --network host --build-arg "BASE=$BASE" -f "$top/deploy/Dockerfile" -t "$IMAGE" "$top" \
	>"$cache/build.log" 2>&1 || {
	echo "image: the build failed; the end of $cache/build.log:" >&2
	tail -15 "$cache/build.log" >&2
	exit 1
}
size=$($ENGINE image inspect "$IMAGE" --format '{{.Size}}')
echo "image: $IMAGE is $((size / 1000000)) MB ($size bytes)"
