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
"  nanohook (--pid PID | --exe PATH | --name NAME) --conf FILE [--stdout]\n"
"           [--broker NAME] [--spool-dir DIR]\n"
"           [--metrics ADDR:PORT] [--pin DIR] [--user NAME] [-v|-q]\n"
"  nanohook check --conf FILE\n"
"  nanohook probe (--pid PID | --exe PATH) [--broker NAME]\n"
"  nanohook replay FILE --conf FILE [--to URL]\n"
"  nanohook spool (ls | export ID | drop ID) (--conf FILE | --spool-dir DIR)\n"
"  nanohook stats --metrics ADDR:PORT\n"
"  nanohook detach --pin DIR --pid PID\n"
"  nanohook check-system [--pin DIR]\n"
"  nanohook --help | --version\n"
"\n"
"Commands:\n"
"  (none)   attach to PID and deliver its events until SIGINT/SIGTERM or\n"
"           until the process exits; then deliver what is in memory for up\n"
"           to drain_timeout, keep the rest in the spool, print a summary,\n"
"           exit 0. SIGHUP reloads FILE (headers, rules, encoding, retry)\n"
"           without detaching; urls change at the next start (events\n"
"           captured for one destination never go to another); SIGUSR1\n"
"           prints the counters.\n"
"  check    read FILE, print the effective settings and rules (secrets\n"
"           masked), and read the TLS files and signing secret it names;\n"
"           exit 0 if all is usable, 2 with one message per problem if not.\n"
"  probe    say which broker the binary is, and each probed function and\n"
"           struct field with its value and how it was established.\n"
"           Attaches nothing.\n"
"  replay   POST the bodies of a dead-letter file again (FILE, or - for\n"
"           stdin) with FILE's url, headers and retries. Those still not\n"
"           delivered are printed to stdout as dead-letter lines. Exit\n"
"           status: how many were not delivered (0 = all were; at most\n"
"           100), or 125 if it could not run. --to URL: send them there\n"
"           instead of FILE's url.\n"
"  spool    the spool keeps events per destination (a url, or a pool's\n"
"           urls); a run sends only its own and reports the others at start. ls: each\n"
"           destination, its events and url. export ID: its events as\n"
"           dead-letter lines on stdout (the spool is not changed), for\n"
"           replay --to. drop ID: delete them. ID \"legacy\": a spool from\n"
"           before destinations were recorded.\n"
"  stats    print the counters of the nanohook serving --metrics ADDR:PORT.\n"
"  detach   remove the probes a nanohook run with --pin left attached.\n"
"  check-system  can nanohook attach here? BTF, uprobes, ring buffer,\n"
"           capabilities, each ok or missing; in a container also its PID\n"
"           namespace, and with --pin DIR a writable bpffs there. Each\n"
"           problem is one line with what fixes it (in a container: the\n"
"           flag of podman/docker run).\n"
"\n"
"Options:\n"
"  -p, --pid PID      the broker process (needs root: CAP_BPF, CAP_PERFMON,\n"
"                     CAP_SYS_ADMIN)\n"
"  -c, --conf FILE    a nanomq.conf (only its webhook {} and nanohook {}\n"
"                     blocks are used; others are skipped) or a file with\n"
"                     just those blocks\n"
"      --stdout       print each body as one JSON line on stdout; POST nothing\n"
"  -b, --broker NAME  skip detection: nanomq or mosquitto\n"
"  -e, --exe PATH     every process running this broker binary, now and later\n"
"                     (restarts included); with probe: a binary on disk\n"
"  -n, --name NAME    the binary of the processes named NAME (their comm, e.g.\n"
"                     nanomq), waiting for one to start; then as --exe. All\n"
"                     of them must run one binary file: if they do not,\n"
"                     nanohook lists them and refuses (use --exe or --pid)\n"
"      --spool-dir DIR  the disk spool (overrides nanohook.spool.dir)\n"
"      --metrics ADDR:PORT  serve Prometheus /metrics there (off by default;\n"
"                     overrides nanohook.metrics); with stats: where to read\n"
"      --pin DIR      keep the probes and the ring buffer pinned in DIR (on a\n"
"                     bpffs): they go on collecting while nanohook restarts,\n"
"                     and the next run for the same process takes them over\n"
"      --user NAME    after attaching, run as NAME (capabilities are dropped\n"
"                     after attaching in any case)\n"
"  -v, --verbose      more messages on stderr (repeat for debug)\n"
"  -q, --quiet        errors only\n"
"  -h, --help         this text\n"
"  -V, --version      print the version\n"
"\n"
"Configuration (HOCON, NanoMQ's own webhook block):\n"
"  webhook {\n"
"    url = \"http://127.0.0.1:8080/hook\"  # or a pool: [\"http://a/h\", \"http://b/h\"]\n"
"    balance = hash                     # pool: hash (a client stays on one endpoint)\n"
"                                       # | round_robin | failover (the first healthy)\n"
"    headers.content-type = \"application/json\"\n"
"    body.encoding = plain              # plain | base64 | base62\n"
"    body.extended = false              # add node, event_id, seq, ts, reason_code, peer\n"
"    body.batch = 1                     # > 1: a JSON array of up to N bodies per request\n"
"    body.batch_wait = 50ms             # an unfilled batch goes out after this\n"
"    pool_size = 32                     # connections to the endpoint\n"
"    cancel_timeout = 5000              # ms for one request\n"
"    events = [\n"
"      { event = \"on_message_publish\", topic = \"sensors/#\" }\n"
"      { event = \"on_client_connack\" }\n"
"      { event = \"on_client_disconnected\" }\n"
"      { event = \"on_message_publish\", topic = \"bill/#\", url = \"https://b/h\" }\n"
"      { event = \"on_client_connack\", sink = nats }  # http (default) | nats | both\n"
"    ]                                  # a rule's own url: a destination of its own\n"
"    tls {                              # https:// urls; verified by default\n"
"      cacertfile = \"ca.pem\"            # instead of the system's CAs\n"
"      certfile = \"client.pem\"          # mutual TLS (with keyfile)\n"
"      keyfile = \"client.key\"\n"
"      server_name = \"hooks.example\"    # SNI/Host/name checked\n"
"      verify = true\n"
"    }\n"
"  }\n"
"  nanohook {                           # optional, nanohook's own settings\n"
"    capture.payload_max = 4096         # payload bytes captured per message\n"
"    ringbuf_size = 8MB                 # BPF ring buffer\n"
"    queue_max = 100000                 # bodies waiting in memory\n"
"    retry { max_attempts = 10, initial = 200ms, max_delay = 30s, max_age = 1h }\n"
"    spool {                            # when memory is full or the endpoint fails\n"
"      dir = \"/var/lib/nanohook/spool\"  # \"\" = no spool: memory only\n"
"      max_size = 1GB, max_age = 24h\n"
"      fsync = batch                    # batch (every 200 ms) | always | never\n"
"      failing_after = 5s               # spool once every attempt failed this long\n"
"    }\n"
"    dead_letter = \"<spool dir>/dead-letter.jsonl\"  # events given up on\n"
"    order = per_client                 # per_client | none\n"
"    lane.inflight = 1                  # > 1: N requests of a lane at once (order: by seq)\n"
"    circuit { failures = 5, open_for = 5s }  # an endpoint failing N times in a row rests\n"
"    http2 = false                      # true: HTTP/2 to https:// endpoints offering it\n"
"    nats {                             # the JetStream sink of rules with sink = nats|both\n"
"      url = \"nats://127.0.0.1:4222\"    # or a list: a cluster's servers\n"
"      stream = \"NANOHOOK\"              # must exist, unless create = true\n"
"      subject = \"nanohook.{action}.{clientid}\"  # also {username} {topic} {node}\n"
"      create = false, replicas = 1, duplicate_window = 2m\n"
"      creds = \"x.creds\", cacertfile = \"ca.pem\"  # (certfile, keyfile) as nats.c\n"
"    }                                  # delivered = stored; Nats-Msg-Id = webhook-id\n"
"    drain_timeout = 6s                 # at SIGTERM (default cancel_timeout + 1s)\n"
"    metrics = \"127.0.0.1:9464\"         # Prometheus /metrics (default off)\n"
"    node = \"edge-1\"                    # node name in extended bodies (host name)\n"
"    sign { secret_file = \"/etc/nanohook/secret\" }  # Standard Webhooks signatures\n"
"                                       # (or secret_env = \"VAR\"; never inline)\n"
"  }\n"
"  Relative paths are relative to FILE. Make a secret with\n"
"  echo \"whsec_$(head -c 32 /dev/urandom | base64)\" > secret; chmod 600 secret\n"
"\n"
"Examples:\n"
"  sudo nanohook --pid \"$(pidof nanomq)\" --conf /etc/nanomq.conf\n"
"  sudo nanohook --pid 1234 --conf hook.conf --stdout\n"
"  sudo nanohook --name nanomq --conf /etc/nanomq.conf   # follows restarts\n"
"  nanohook check --conf hook.conf\n"
"  sudo nanohook probe --pid 1234\n"
"  nanohook replay /var/lib/nanohook/spool/dead-letter.jsonl --conf hook.conf\n"
"  nanohook stats --metrics 127.0.0.1:9464\n"
"  sudo nanohook --pid 1234 --conf hook.conf --pin /sys/fs/bpf/nanohook\n"
"  sudo nanohook detach --pin /sys/fs/bpf/nanohook --pid 1234\n"
"\n"
"Exit status: 0 success, 1 failure at run time (for example a binary whose\n"
"offsets cannot be established: nanohook refuses to attach rather than\n"
"read garbage), 2 bad usage or configuration.\n";

/* 2, except for replay (see nh_cmd_replay). Set once, from argv[1]. */
static int usage_status = 2;

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "nanohook: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'nanohook --help'.\n");
	return usage_status;
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
		{ "spool-dir", required_argument, NULL, 'D' },
		{ "to", required_argument, NULL, 'T' },
		{ "metrics", required_argument, NULL, 'M' },
		{ "pin", required_argument, NULL, 'P' },
		{ "name", required_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct nh_run_opts run = { 0 };
	const char *cmd = "run", *exe = NULL, *file = NULL, *to_url = NULL;
	int level = NH_LOG_INFO, c;

	usage_status = 2;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
		if (strcmp(cmd, "check") && strcmp(cmd, "probe") && strcmp(cmd, "run") &&
		    strcmp(cmd, "replay") && strcmp(cmd, "stats") && strcmp(cmd, "detach") &&
		    strcmp(cmd, "check-system") && strcmp(cmd, "spool"))
			return usage_error("unknown command '%s'", cmd);
		/* replay's exit status counts events: its usage errors
		 * must not look like "2 were not delivered". */
		if (!strcmp(cmd, "replay"))
			usage_status = NH_REPLAY_CANNOT_RUN;
	}
	while ((c = getopt_long(argc, argv, "p:c:b:e:n:vqhV", opts, NULL)) != -1) {
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
		case 'D':
			run.spool_dir = optarg;
			break;
		case 'T':
			to_url = optarg;
			break;
		case 'M':
			run.metrics = optarg;
			break;
		case 'P':
			run.pin_dir = optarg;
			break;
		case 'n':
			run.name = optarg;
			break;
		case 'U':
			run.user = optarg;
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
	if (!strcmp(cmd, "replay") && optind < argc)
		file = argv[optind++];
	if (!strcmp(cmd, "spool")) {
		const char *action = optind < argc ? argv[optind++] : NULL, *id = NULL;

		if (!action || (strcmp(action, "ls") && strcmp(action, "export") &&
				strcmp(action, "drop")))
			return usage_error("%s", "spool wants ls, export ID or drop ID");
		if (strcmp(action, "ls")) {
			if (optind >= argc)
				return usage_error("spool %s needs a destination ID (see spool ls)",
						   action);
			id = argv[optind++];
		}
		if (optind < argc)
			return usage_error("unexpected argument '%s'", argv[optind]);
		if (!run.conf_path && !run.spool_dir)
			return usage_error("%s", "spool needs --conf FILE or --spool-dir DIR");
		nh_log_set_level((enum nh_log_level)level);
		return nh_cmd_spool(action, id, run.conf_path, run.spool_dir);
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	nh_log_set_level((enum nh_log_level)level);
	nh_log_take_libbpf();

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
	if (!strcmp(cmd, "replay")) {
		if (!file || !run.conf_path)
			return usage_error("%s", "replay needs FILE and --conf FILE");
		return nh_cmd_replay(file, run.conf_path, to_url);
	}
	if (!strcmp(cmd, "stats")) {
		if (!run.metrics)
			return usage_error("%s", "stats needs --metrics ADDR:PORT");
		return nh_cmd_stats(run.metrics);
	}
	if (!strcmp(cmd, "detach")) {
		if (!run.pin_dir || !run.pid)
			return usage_error("%s", "detach needs --pin DIR and --pid PID");
		return nh_cmd_detach(run.pin_dir, run.pid);
	}
	if (!strcmp(cmd, "check-system"))
		return nh_cmd_check_system(run.pin_dir);
	run.exe = exe;
	if ((run.pid != 0) + (exe != NULL) + (run.name != NULL) != 1 || !run.conf_path)
		return usage_error("%s", "attaching needs one of --pid PID, --exe PATH, --name NAME, "
				   "and --conf FILE");
	return nh_cmd_run(&run);
}
