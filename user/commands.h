/* SPDX-License-Identifier: MIT */
/* The subcommands. Each returns the process exit status: 0 success,
 * 1 failure at run time (e.g. refused to attach), 2 bad usage or config. */
#ifndef NH_COMMANDS_H
#define NH_COMMANDS_H

#include <stdbool.h>
#include <sys/types.h>

#include "broker.h"

struct nh_run_opts {
	pid_t pid;                      /* --pid: one process */
	const char *exe;                /* --exe: every process running this file */
	const char *name;               /* --name: the file the process named so runs */
	const char *conf_path;
	bool to_stdout;
	const struct nh_broker *broker; /* NULL: detect from the binary */
	const char *spool_dir;          /* --spool-dir: overrides nanohook.spool.dir */
	const char *metrics;            /* --metrics ADDR:PORT: overrides nanohook.metrics */
	const char *pin_dir;            /* --pin DIR: probes outlive nanohook (bpffs) */
	const char *user;               /* --user NAME: run as NAME after attaching */
};

int nh_cmd_run(const struct nh_run_opts *o);
int nh_cmd_check(const char *conf_path);
int nh_cmd_probe(pid_t pid, const char *exe_path, const struct nh_broker *broker);
/* `nanohook replay FILE --conf F`: POSTs the bodies of a dead-letter file,
 * with the configured retries, in file order per client. Exit status: 0
 * if every one was delivered, else the number that were not (at most
 * 100; they are printed to stdout as dead-letter lines); 125 if it could
 * not run (bad usage, a bad config, an unreadable file). */
#define NH_REPLAY_CANNOT_RUN 125
int nh_cmd_replay(const char *file, const char *conf_path, const char *to_url);
/* `nanohook spool ls | export ID | drop ID (--conf F | --spool-dir D)`:
 * the spool per destination (spool_dest.h). 0, 1 at run time, 2 usage. */
int nh_cmd_spool(const char *action, const char *id, const char *conf_path,
		 const char *spool_dir);
/* `nanohook stats --metrics ADDR:PORT`: the counters of a running
 * nanohook, read from its /metrics. 0, or 1 if it cannot be reached. */
int nh_cmd_stats(const char *metrics);
/* `nanohook detach --pin DIR --pid PID`: removes the probes nanohook left
 * pinned for PID. 0, or 1 if there were none. */
int nh_cmd_detach(const char *pin_dir, pid_t pid);
/* `nanohook check-system`: kernel features and capabilities, each ok or
 * missing. 0 if nanohook can attach here, 1 if not. */
int nh_cmd_check_system(const char *pin_dir);

#endif
