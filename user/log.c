// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>

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
