// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"

/* Process-wide by nature: set once from the command line before any
 * other thread exists, read everywhere after. */
static enum nh_log_level log_level = NH_LOG_INFO;

void nh_log_set_level(enum nh_log_level level)
{
	log_level = level;
}

enum nh_log_level nh_log_get_level(void)
{
	return log_level;
}

void nh_log(enum nh_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines whole when stderr is shared. */
	fprintf(stderr, "nanohook: %s: %s\n", names[level], line);
}

static int libbpf_line(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum nh_log_level ours = level == LIBBPF_WARN ? NH_LOG_WARN : NH_LOG_DEBUG;
	char line[1024];
	size_t len;

	if (ours > log_level)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = 0;
	nh_log(ours, "%s", line);
	return 0;
}

void nh_log_take_libbpf(void)
{
	libbpf_set_print(libbpf_line);
}
