// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "log.h"

#ifndef NH_VERSION
#define NH_VERSION "0.1.0"
#endif

static const char usage_text[] =
"nanohook: MQTT broker WebHooks, delivered from outside the broker.\n"
"\n"
"nanohook attaches uprobes to a running, unmodified broker (NanoMQ or\n"
"Mosquitto), captures client connack, disconnect and publish events\n"
"through a BPF ring buffer, and POSTs the same JSON bodies NanoMQ's own\n"
"WebHook sends, over a pool of keep-alive connections. The broker never\n"
"waits on the endpoint.\n"
"\n"
"Usage:\n"
"  nanohook --pid PID --conf FILE [--stdout] [--broker NAME] [-v|-q]\n"
"  nanohook check --conf FILE\n"
"  nanohook probe (--pid PID | --exe PATH) [--broker NAME]\n"
"  nanohook --help | --version\n"
"\n"
"Commands:\n"
"  (none)   attach to PID and deliver its events until SIGINT/SIGTERM or\n"
"           until the process exits; then flush, print a summary, exit 0.\n"
"  check    read FILE, print the effective settings and rules; exit 0 if\n"
"           it is valid, 2 with file:line:col messages if not.\n"
"  probe    say which broker the binary is, and each probed function and\n"
"           struct field with its value and how it was established.\n"
"           Attaches nothing.\n"
"\n"
"Options:\n"
"  -p, --pid PID      the broker process (needs root: CAP_BPF, CAP_PERFMON,\n"
"                     CAP_SYS_ADMIN)\n"
"  -c, --conf FILE    a nanomq.conf (only its webhook {} and nanohook {}\n"
"                     blocks are used; others are skipped) or a file with\n"
"                     just those blocks\n"
"      --stdout       print each body as one JSON line on stdout; POST nothing\n"
"  -b, --broker NAME  skip detection: nanomq or mosquitto\n"
"  -e, --exe PATH     (probe) a broker binary on disk instead of a process\n"
"  -v, --verbose      more messages on stderr (repeat for debug)\n"
"  -q, --quiet        errors only\n"
"  -h, --help         this text\n"
"  -V, --version      print the version\n"
"\n"
"Configuration (HOCON, NanoMQ's own webhook block):\n"
"  webhook {\n"
"    url = \"http://127.0.0.1:8080/hook\"\n"
"    headers.content-type = \"application/json\"\n"
"    body.encoding = plain              # plain | base64 | base62\n"
"    pool_size = 32                     # connections to the endpoint\n"
"    cancel_timeout = 5000              # ms for one request\n"
"    events = [\n"
"      { event = \"on_message_publish\", topic = \"sensors/#\" }\n"
"      { event = \"on_client_connack\" }\n"
"      { event = \"on_client_disconnected\" }\n"
"    ]\n"
"  }\n"
"  nanohook {                           # optional, nanohook's own settings\n"
"    capture.payload_max = 4096         # payload bytes captured per message\n"
"    ringbuf_size = 8MB                 # BPF ring buffer\n"
"    queue_max = 100000                 # bodies waiting for a connection\n"
"  }\n"
"\n"
"Examples:\n"
"  sudo nanohook --pid \"$(pidof nanomq)\" --conf /etc/nanomq.conf\n"
"  sudo nanohook --pid 1234 --conf hook.conf --stdout\n"
"  nanohook check --conf hook.conf\n"
"  sudo nanohook probe --pid 1234\n"
"\n"
"Exit status: 0 success, 1 failure at run time (for example a binary whose\n"
"offsets cannot be established: nanohook refuses to attach rather than\n"
"read garbage), 2 bad usage or configuration.\n";

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "nanohook: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'nanohook --help'.\n");
	return 2;
}

static int parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -1;
	*out = (pid_t)v;
	return 0;
}

int nh_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "conf", required_argument, NULL, 'c' },
		{ "stdout", no_argument, NULL, 'S' },
		{ "broker", required_argument, NULL, 'b' },
		{ "exe", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct nh_run_opts run = { 0 };
	const char *cmd = "run", *exe = NULL;
	int level = NH_LOG_INFO, c;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
		if (strcmp(cmd, "check") && strcmp(cmd, "probe") && strcmp(cmd, "run"))
			return usage_error("unknown command '%s'", cmd);
	}
	while ((c = getopt_long(argc, argv, "p:c:b:e:vqhV", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pid(optarg, &run.pid))
				return usage_error("--pid wants a process id, not '%s'", optarg);
			break;
		case 'c':
			run.conf_path = optarg;
			break;
		case 'S':
			run.to_stdout = true;
			break;
		case 'b':
			run.broker = nh_broker_by_name(optarg);
			if (!run.broker)
				return usage_error("--broker: '%s' is not one of nanomq, mosquitto",
						   optarg);
			break;
		case 'e':
			exe = optarg;
			break;
		case 'v':
			level = level < NH_LOG_DEBUG ? level + 1 : level;
			break;
		case 'q':
			level = NH_LOG_ERROR;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("nanohook %s\n", NH_VERSION);
			return 0;
		default:
			return usage_error("%s", "bad option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	nh_log_set_level((enum nh_log_level)level);

	if (!strcmp(cmd, "check")) {
		if (!run.conf_path)
			return usage_error("%s", "check needs --conf FILE");
		return nh_cmd_check(run.conf_path);
	}
	if (!strcmp(cmd, "probe")) {
		if (!run.pid == !exe)
			return usage_error("%s", "probe needs --pid PID or --exe PATH");
		return nh_cmd_probe(run.pid, exe, run.broker);
	}
	if (!run.pid || !run.conf_path)
		return usage_error("%s", "attaching needs --pid PID and --conf FILE");
	return nh_cmd_run(&run);
}
