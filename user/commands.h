/* SPDX-License-Identifier: MIT */
/* The subcommands. Each returns the process exit status: 0 success,
 * 1 failure at run time (e.g. refused to attach), 2 bad usage or config. */
#ifndef NH_COMMANDS_H
#define NH_COMMANDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "broker.h"

struct nh_run_opts {
	pid_t pid;
	const char *conf_path;
	bool to_stdout;
	const struct nh_broker *broker; /* NULL: detect from the binary */
};

int nh_cmd_run(const struct nh_run_opts *o);
int nh_cmd_check(const char *conf_path);
int nh_cmd_probe(pid_t pid, const char *exe_path, const struct nh_broker *broker);

#endif
