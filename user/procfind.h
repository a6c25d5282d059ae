/* SPDX-License-Identifier: MIT */
/* Finding the broker's processes by name (--name), and telling whether they
 * all run one binary file, which is what uprobes on a file cover. */
#ifndef NH_PROCFIND_H
#define NH_PROCFIND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct nh_proc {
	pid_t pid;
	dev_t dev;        /* of the file it runs (/proc/PID/exe) */
	ino_t ino;
	char exe[256];    /* that file's path as the kernel names it */
};

/* Processes whose name (comm, at most 15 bytes of it) is `name`, this one
 * excepted, in PID order; at most max are stored. Returns how many there
 * are, which may exceed max. *denied (may be NULL) gets the PID of one
 * whose binary this process may not look at (/proc/PID/exe refused:
 * another user's or a more privileged process, without CAP_SYS_PTRACE), or
 * 0; such processes are not counted. */
size_t nh_procs_named(const char *name, struct nh_proc *out, size_t max, pid_t *denied);

/* Do the n processes all run one file? */
bool nh_procs_one_binary(const struct nh_proc *p, size_t n);

#endif
