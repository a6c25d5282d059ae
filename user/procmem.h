/* SPDX-License-Identifier: MIT */
/* Reading (never writing) a process's memory through /proc/PID/mem. */
#ifndef NH_PROCMEM_H
#define NH_PROCMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where the process mapped the start of its main executable (the mapping
 * of file offset 0 of /proc/PID/exe's inode). 0, or -1 if not found. */
int nh_proc_exe_base(pid_t pid, uint64_t *base);

/* Copies len bytes at addr of the process. 0, or -1. */
int nh_proc_read(pid_t pid, uint64_t addr, void *buf, size_t len);

#endif
