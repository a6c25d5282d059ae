#!/bin/sh
# Lays out the whole file system of the runtime image in DEST (it is copied
# into an empty image): the binary; the dynamic loader and every shared
# library the binary loads, as ldd resolves them here; the CA bundle for
# https:// endpoints; the few /etc files glibc and --user read. Nothing
# else: no shell, no package manager.
#
#   deploy/rootfs.sh build/nanohook /rootfs
set -eu
bin=$1 dest=$2

install -D -m 0755 "$bin" "$dest/usr/local/sbin/nanohook"
# "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" and the loader
# "/lib64/ld-linux-x86-64.so.2 (0x...)": each is copied to the path the
# binary asks for, from the file it resolves to (executable: the loader
# must be, and shared objects are by convention).
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
	while read -r lib; do
		install -D -m 0755 "$(readlink -f "$lib")" "$dest$lib"
	done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
	>"$dest/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dest/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$dest/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$dest/etc/hosts"
install -d -m 1777 "$dest/tmp"
install -d -m 0755 "$dest/var/lib/nanohook" "$dest/etc/nanohook"
# The example configuration, meant to be replaced by a read-only mount.
install -m 0644 deploy/nanohook.conf "$dest/etc/nanohook/nanohook.conf"
