// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procfind.h"

/* The kernel keeps TASK_COMM_LEN - 1 bytes of a process's name. */
#define COMM_MAX 15

static bool comm_is(pid_t pid, const char *name)
{
	char path[64], comm[64];
	bool same = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(comm, sizeof(comm), f)) {
		comm[strcspn(comm, "\n")] = 0;
		same = strlen(name) > COMM_MAX ? !strncmp(comm, name, COMM_MAX) : !strcmp(comm, name);
	}
	fclose(f);
	return same;
}

static int by_pid(const void *a, const void *b)
{
	const struct nh_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

size_t nh_procs_named(const char *name, struct nh_proc *out, size_t max, pid_t *denied)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir("/proc");

	if (denied)
		*denied = 0;
	while (d && (de = readdir(d))) {
		char *end, path[64];
		long pid = strtol(de->d_name, &end, 10);
		struct stat st;
		ssize_t len;

		if (*end || pid <= 0 || pid == getpid() || !comm_is((pid_t)pid, name))
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
		/* A kernel thread, or a process that just exited: no file. */
		if (stat(path, &st)) {
			if ((errno == EACCES || errno == EPERM) && denied)
				*denied = (pid_t)pid;
			continue;
		}
		if (n < max) {
			out[n] = (struct nh_proc){ .pid = (pid_t)pid, .dev = st.st_dev, .ino = st.st_ino };
			len = readlink(path, out[n].exe, sizeof(out[n].exe) - 1);
			out[n].exe[len > 0 ? len : 0] = 0;
		}
		n++;
	}
	if (d)
		closedir(d);
	qsort(out, n < max ? n : max, sizeof(*out), by_pid);
	return n;
}

bool nh_procs_one_binary(const struct nh_proc *p, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (p[i].dev != p[0].dev || p[i].ino != p[0].ino)
			return false;
	return true;
}
