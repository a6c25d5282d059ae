// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_watch.h"

struct nh_target_watch {
	pid_t pid;
	uint64_t start_time;
};

uint64_t nh_proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* comm may hold spaces and parentheses: fields resume after the
	 * last ')'. Field 3 (state) follows; start time is field 22. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &start) != 1)
		return 0;
	return start;
}

struct nh_target_watch *nh_target_watch_new(pid_t pid)
{
	struct nh_target_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->pid = pid;
	w->start_time = nh_proc_start_time(pid);
	if (!w->start_time) {
		free(w);
		return NULL;
	}
	return w;
}

bool nh_target_watch_alive(const struct nh_target_watch *w)
{
	return nh_proc_start_time(w->pid) == w->start_time;
}

pid_t nh_target_watch_pid(const struct nh_target_watch *w)
{
	return w->pid;
}

void nh_target_watch_free(struct nh_target_watch *w)
{
	free(w);
}
