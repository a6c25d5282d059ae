/* SPDX-License-Identifier: MIT */
/*
 * Least privilege: attaching needs CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN
 * (classic uprobes) and CAP_SYS_PTRACE (another user's /proc/PID/exe and
 * /proc/PID/mem). Once the probes are attached and the ring buffer mapped,
 * reading it, POSTing and detaching need none of them.
 */
#ifndef NH_PRIVDROP_H
#define NH_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

/* Switches to `user` (NULL: stay) and keeps only the attach capabilities
 * when keep_attach (nanohook still has processes to attach to later), or
 * none at all. 0, or -1 with a message in err. */
int nh_drop_privileges(const char *user, bool keep_attach, char *err, size_t errlen);

/* The capabilities nanohook needs to attach, as text ("cap_bpf,..."). */
const char *nh_attach_caps_text(void);

#endif
