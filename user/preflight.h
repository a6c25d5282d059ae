/* SPDX-License-Identifier: MIT */
/*
 * Start-up checks: does this kernel, and this process, have what attaching
 * to a broker needs? Each missing piece is one line that says what is
 * missing and what to do, so nanohook can stop before libbpf's own, much
 * less clear, errors.
 *
 *   kernel BTF       /sys/kernel/btf/vmlinux readable (CO-RE relocations)
 *   uprobes          the uprobe PMU (/sys/bus/event_source/devices/uprobe)
 *   BPF ring buffer  BPF_MAP_TYPE_RINGBUF (Linux 5.8)
 *   capabilities     CAP_SYS_ADMIN (uprobes: required since the 2025 kernel
 *                    fix; it also stands for CAP_BPF and CAP_PERFMON),
 *                    CAP_SYS_PTRACE (/proc/PID/mem of the broker)
 *   user namespace   capabilities count only in the initial one
 *   ptrace scope     Yama's ptrace_scope 3 forbids reading /proc/PID/mem
 *   PID namespace    in a container: one that holds only nanohook sees no
 *                    broker (--pid=host or --pid=container:NAME fixes it)
 *   bpffs            with --pin: a writable BPF filesystem to pin into
 *
 * In a container (podman's /run/.containerenv, docker's /.dockerenv) each
 * problem names the flag of `podman run` / `docker run` that fixes it.
 */
#ifndef NH_PREFLIGHT_H
#define NH_PREFLIGHT_H

#include <stdint.h>
#include <stdio.h>

/* Where the facts come from. A NULL field means the real one; tests point
 * the paths at files of their own and stand in for the ring buffer probe. */
struct nh_preflight_env {
	const char *btf_path;          /* /sys/kernel/btf/vmlinux */
	const char *uprobe_type_path;  /* /sys/bus/event_source/devices/uprobe/type */
	const char *status_path;       /* /proc/self/status (CapEff) */
	const char *uid_map_path;      /* /proc/self/uid_map */
	const char *ptrace_scope_path; /* /proc/sys/kernel/yama/ptrace_scope */
	const char *pidns_path;        /* /proc/self/ns/pid */
	const char *pid1_exe_path;     /* /proc/1/exe */
	const char *self_exe_path;     /* /proc/self/exe */
	int in_container;              /* 0 look for the markers, 1 yes, -1 no */
	const char *pin_dir;           /* --pin DIR to check; NULL: not pinning */
	/* 1 supported, 0 not, negative errno: could not tell */
	int (*probe_ringbuf)(void);
	const char *kernel_release;    /* uname's release */
};

/* Runs every check (the bpffs one when pin_dir is not NULL); writes one
 * "nanohook: error: ..." line to `err` per failed check. Returns the number
 * of failed checks (0: ready to attach). `err` may be NULL. */
int nh_preflight(FILE *err, const char *pin_dir);

/* Runs every check and writes every one to `out` with ok/missing and what
 * it is for, then a verdict (and the failure lines, indented). Returns the
 * number of failed checks. */
int nh_preflight_report(FILE *out, const char *pin_dir);

/* Both of the above, from `env` (NULL: the real system); `err` and
 * `report` may each be NULL. */
int nh_preflight_run(const struct nh_preflight_env *env, FILE *err, FILE *report);

/* The effective capability set from the text of /proc/PID/status (its
 * "CapEff:\t000001ffffffffff" line). 0, or -1 if there is no such line or
 * its value is not 1 to 16 hex digits. */
int nh_cap_eff_parse(const char *status, uint64_t *eff);

#endif
