#!/usr/bin/env bash
# Installs every Debian package nanohook needs to build, test, demo and
# benchmark. Run as root on Debian 12 (bookworm) or newer.
set -euo pipefail

packages=(
	# build
	make gcc clang llvm pkg-config bpftool
	libbpf-dev libelf-dev zlib1g-dev libdw-dev
	libcurl4-openssl-dev libssl-dev libcjson-dev libcapstone-dev libgmp-dev libcap-dev
	libnats-dev
	# tests, demo, benchmarks
	libcmocka-dev libmicrohttpd-dev libmosquitto-dev libclang-rt-14-dev
	mosquitto mosquitto-clients procps psmisc iproute2 curl
	python3 python3-yaml yamllint man-db systemd openssl
	# the delivery benchmark's receiver (HTTP/1.1 and HTTP/2 over TLS)
	nginx-light
	# the JetStream sink's tests, demo and benchmark
	nats-server
	# the container image and its test (podman: daemonless; runc: cgroups
	# in hybrid mode, which crun refuses)
	podman runc debootstrap
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
