// SPDX-License-Identifier: MIT
/* The broker registry and what every broker shares: opening the target's
 * binary, choosing its broker, and the findings report. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "elf_file.h"

static const struct nh_broker *const brokers[] = {
	&nh_broker_nanomq,
	&nh_broker_mosquitto,
};

#define N_BROKERS (sizeof(brokers) / sizeof(brokers[0]))

const struct nh_broker *nh_broker_by_name(const char *name)
{
	for (size_t i = 0; i < N_BROKERS; i++)
		if (!strcmp(brokers[i]->name, name))
			return brokers[i];
	return NULL;
}

const char *nh_broker_names(void)
{
	return "nanomq, mosquitto";
}

void nh_finding_add(struct nh_target *t, bool ok, const char *what,
		    const char *source, const char *value_fmt, ...)
{
	struct nh_finding *f;
	va_list ap;

	if (t->n_findings >= NH_MAX_FINDINGS)
		return;
	f = &t->findings[t->n_findings++];
	f->ok = ok;
	snprintf(f->what, sizeof(f->what), "%s", what);
	snprintf(f->source, sizeof(f->source), "%s", source);
	va_start(ap, value_fmt);
	vsnprintf(f->value, sizeof(f->value), value_fmt, ap);
	va_end(ap);
}

void nh_target_print_findings(const struct nh_target *t, FILE *out)
{
	for (size_t i = 0; i < t->n_findings; i++) {
		const struct nh_finding *f = &t->findings[i];

		fprintf(out, "  %-7s %-38s %-12s %s\n", f->ok ? "ok" : "MISSING",
			f->what, f->value, f->source);
	}
}

/* The binary of a process: /proc/PID/exe names the very inode the process
 * runs, even in another mount namespace or after the file was replaced,
 * and the kernel accepts it as a uprobe path. */
static int target_path(struct nh_target *t, pid_t pid, const char *exe_path,
		       char *err, size_t errlen)
{
	if (exe_path) {
		if (access(exe_path, R_OK)) {
			snprintf(err, errlen, "%s: %s", exe_path, strerror(errno));
			return -1;
		}
		snprintf(t->exe, sizeof(t->exe), "%s", exe_path);
		return 0;
	}
	snprintf(t->exe, sizeof(t->exe), "/proc/%d/exe", (int)pid);
	if (access(t->exe, R_OK)) {
		snprintf(err, errlen, "process %d: %s", (int)pid,
			 errno == ENOENT ? "no such process" : strerror(errno));
		return -1;
	}
	return 0;
}

int nh_target_open(struct nh_target *t, pid_t pid, const char *exe_path,
		   const struct nh_broker *forced, char *err, size_t errlen)
{
	char elf_err[256];
	int best = 0;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (target_path(t, pid, exe_path, err, errlen))
		return -1;
	t->elf = nh_elf_open(t->exe, elf_err, sizeof(elf_err));
	if (!t->elf) {
		snprintf(err, errlen, "%s: %s", t->exe, elf_err);
		return -1;
	}
	if (forced) {
		t->broker = forced;
	} else {
		for (size_t i = 0; i < N_BROKERS; i++) {
			int score = brokers[i]->detect(t->elf);

			if (score > best) {
				best = score;
				t->broker = brokers[i];
			}
		}
		if (!t->broker) {
			snprintf(err, errlen,
				 "%s: not a broker nanohook knows (%s); "
				 "use --broker to force one",
				 t->exe, nh_broker_names());
			return -1;
		}
	}
	return t->broker->resolve(t, err, errlen);
}

void nh_target_close(struct nh_target *t)
{
	if (t->broker && t->broker->release)
		t->broker->release(t);
	if (t->elf)
		nh_elf_close(t->elf);
	t->elf = NULL;
}

void nh_attachment_close_fds(struct nh_attachment *a)
{
	if (a->ringbuf_fd > 0)
		close(a->ringbuf_fd);
	if (a->counters_fd > 0)
		close(a->counters_fd);
	a->ringbuf_fd = a->counters_fd = -1;
}
