/* SPDX-License-Identifier: MIT */
/* Is the process we attached to still the same process? A PID alone can
 * be reused; the PID plus its start time cannot. */
#ifndef NH_TARGET_WATCH_H
#define NH_TARGET_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct nh_target_watch;

struct nh_target_watch *nh_target_watch_new(pid_t pid);
bool nh_target_watch_alive(const struct nh_target_watch *w);
pid_t nh_target_watch_pid(const struct nh_target_watch *w);
void nh_target_watch_free(struct nh_target_watch *w);

/* Start time of a process in clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 if it cannot be read. */
uint64_t nh_proc_start_time(pid_t pid);

#endif
