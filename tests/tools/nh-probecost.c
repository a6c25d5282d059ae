// SPDX-License-Identifier: MIT
/*
 * nh-probecost: what a probe adds to each call of the probed function,
 * timed in the calling thread.
 *
 * It is the NanoMQ stand-in (tests/fixture/nmq_fixture.c, included whole
 * so the probed functions, their symbols and struct layouts are exactly
 * the fixture's and `nanohook probe` accepts it as NanoMQ), plus a loop
 * that calls handle_pub() on one prepared publish N times and reports the
 * nanoseconds per call. Run it bare, with the probes of bpf/noop.bpf.c
 * on the same function (--noop: the price of the trap itself, of probe
 * reads, of a ring buffer record with and without a wakeup), and with
 * nanohook attached (--wait: it pauses until SIGUSR1 so nanohook can
 * attach first). The differences are the costs.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The first instruction of a probed function decides what the trap
 * costs: the kernel emulates a `push` (both real NanoMQ builds start
 * handle_pub with one: push %rbp at -O0, push %r15 at -O3) but must
 * single-step most other instructions out of line, which on this kind
 * of VM costs several microseconds more. At the tools' -O2 handle_pub
 * would start with `sub $8,%rsp`; built like NanoMQ's default (package)
 * build, -O0, it starts with push %rbp. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("O0")
#endif

/* The fixture's main() would clash with ours; it stays unused. */
#define main nmq_fixture_main
#include "../fixture/nmq_fixture.c"
#undef main

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#include "nh_record.h"
#include "noop.skel.h"

static const char usage_text[] =
"nh-probecost: nanoseconds a probe adds to each call of the probed function.\n"
"\n"
"Usage:\n"
"  nh-probecost [--calls N] [--payload-size B] [--event E] [--noop KIND] [--wait]\n"
"\n"
"Calls handle_pub() (NanoMQ's publish handler, as the test fixture lays it\n"
"out: same symbol, same structs) N times on one prepared 3.1.1 publish and\n"
"prints one line on stdout:\n"
"\n"
"  mode=bare calls=1000000 seconds=0.12 ns_per_call=120.5\n"
"\n"
"  --calls N         calls timed, after 1000 untimed warm-up calls\n"
"                    (default 1000000)\n"
"  --payload-size B  payload bytes of the publish (default 64)\n"
"  --event E         publish (handle_pub, the default), connack or\n"
"                    disconnected (nano_msg_notify, online or not): the\n"
"                    function called, and probed\n"
"  --noop KIND       attach one of bpf/noop.bpf.c's probes to handle_pub,\n"
"                    this process only (needs root):\n"
"       entry             an empty uprobe: the trap alone\n"
"       both              an empty uprobe and uretprobe: the pair nanohook\n"
"                         uses on NanoMQ's handle_pub\n"
"       reads             a uprobe doing 16 bpf_probe_read_user() of 8 bytes\n"
"       ringbuf           a uprobe submitting one record of nanohook's small\n"
"                         class, the kernel waking the consumer thread here\n"
"                         whenever it has caught up (submit flags 0)\n"
"       ringbuf-nowakeup  the same with BPF_RB_NO_WAKEUP; the consumer\n"
"                         reads every 10 ms instead\n"
"                    ringbuf modes add consumed=N ring_full=N record_bytes=N\n"
"  --wait            print \"pid PID\", then wait for SIGUSR1 before the\n"
"                    warm-up: attach nanohook to PID in between\n"
"\n"
"Example, what nanohook's capture costs beyond the trap:\n"
"  nh-probecost; nh-probecost --noop both\n"
"  nh-probecost --wait & nanohook --pid $! --conf hook.conf; kill -USR1 $!\n";

enum noop_kind { NOOP_NONE, NOOP_ENTRY, NOOP_BOTH, NOOP_READS, NOOP_RINGBUF,
		 NOOP_RINGBUF_NOWAKEUP, NOOP_MAX };

static const char *const noop_names[NOOP_MAX] = {
	[NOOP_NONE] = "bare", [NOOP_ENTRY] = "entry", [NOOP_BOTH] = "both",
	[NOOP_READS] = "reads", [NOOP_RINGBUF] = "ringbuf",
	[NOOP_RINGBUF_NOWAKEUP] = "ringbuf-nowakeup",
};

/* The event whose function the loop calls (and the probes sit on). */
enum pc_event { PC_PUBLISH, PC_CONNACK, PC_DISCONNECTED, PC_EVENTS };

static const struct {
	const char *name, *func;
} pc_events[PC_EVENTS] = {
	[PC_PUBLISH] = { "publish", "handle_pub" },
	[PC_CONNACK] = { "connack", "nano_msg_notify" },
	[PC_DISCONNECTED] = { "disconnected", "nano_msg_notify" },
};

struct probecost_opts {
	unsigned long calls;
	size_t payload_size;
	enum noop_kind noop;
	enum pc_event event;
	bool wait;
};

static int parse_args(int argc, char **argv, struct probecost_opts *o)
{
	static const struct option opts[] = {
		{ "calls", required_argument, NULL, 'n' },
		{ "payload-size", required_argument, NULL, 's' },
		{ "noop", required_argument, NULL, 'N' },
		{ "wait", no_argument, NULL, 'w' },
		{ "event", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "n:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!parse_uint(optarg, ULONG_MAX / 2, &v) || !v) {
				fprintf(stderr, "nh-probecost: --calls %s: expected a count >= 1\n",
					optarg);
				return -1;
			}
			o->calls = v;
			break;
		case 's':
			if (!parse_uint(optarg, 65536, &v)) {
				fprintf(stderr, "nh-probecost: --payload-size %s: expected 0-65536\n",
					optarg);
				return -1;
			}
			o->payload_size = v;
			break;
		case 'e':
			o->event = PC_EVENTS;
			for (int k = 0; k < PC_EVENTS; k++)
				if (!strcmp(optarg, pc_events[k].name))
					o->event = (enum pc_event)k;
			if (o->event == PC_EVENTS) {
				fprintf(stderr, "nh-probecost: --event %s: expected publish, connack "
					"or disconnected\n", optarg);
				return -1;
			}
			break;
		case 'N':
			o->noop = NOOP_NONE;
			for (int k = NOOP_ENTRY; k < NOOP_MAX; k++)
				if (!strcmp(optarg, noop_names[k]))
					o->noop = (enum noop_kind)k;
			if (o->noop == NOOP_NONE) {
				fprintf(stderr, "nh-probecost: --noop %s: expected entry, both, reads,"
					" ringbuf or ringbuf-nowakeup\n", optarg);
				return -1;
			}
			break;
		case 'w':
			o->wait = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fputs("try: nh-probecost --help\n", stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nh-probecost: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* The ring buffer's reader for the ringbuf modes: a thread of its own,
 * as nanohook's loop is a process of its own. */
struct consumer {
	struct ring_buffer *rb;
	pthread_t thread;
	_Atomic bool stop;
	bool nowakeup;
	unsigned long records;	/* only the consumer thread writes it */
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;

	(void)data;
	(void)size;
	c->records++;
	return 0;
}

/* With wakeups the kernel's epoll notification drives the reads; without,
 * epoll never fires and ring_buffer__poll() would read nothing, so the
 * thread reads on a timer. */
static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	while (!atomic_load(&c->stop)) {
		if (c->nowakeup) {
			nanosleep(&tick, NULL);
			ring_buffer__consume(c->rb);
		} else {
			ring_buffer__poll(c->rb, 100);
		}
	}
	ring_buffer__consume(c->rb);
	return NULL;
}

/* The function the loop calls: the noop probes go there. */
static const char *probed_func = "handle_pub";

static struct bpf_link *attach_prog(struct bpf_program *prog, const char *exe, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = probed_func, .retprobe = ret);

	return bpf_program__attach_uprobe_opts(prog, getpid(), exe, 0, &uo);
}

/* Attaches the chosen probe(s) to our own handle_pub, this process only. */
static struct noop_bpf *attach_noop(enum noop_kind kind)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct noop_bpf *skel;
	bool ok;

	if (n <= 0) {
		perror("nh-probecost: /proc/self/exe");
		return NULL;
	}
	exe[n] = '\0';
	skel = noop_bpf__open();
	if (!skel) {
		perror("nh-probecost: opening bpf/noop.bpf.c");
		return NULL;
	}
	skel->rodata->wake_flags = kind == NOOP_RINGBUF_NOWAKEUP ? BPF_RB_NO_WAKEUP : 0;
	if (noop_bpf__load(skel)) {
		fprintf(stderr, "nh-probecost: loading bpf/noop.bpf.c: %s (root needed)\n",
			strerror(errno));
		noop_bpf__destroy(skel);
		return NULL;
	}
	switch (kind) {
	case NOOP_ENTRY:
	case NOOP_BOTH:
		ok = (skel->links.nh_noop_entry =
			      attach_prog(skel->progs.nh_noop_entry, exe, false)) &&
		     (kind == NOOP_ENTRY ||
		      (skel->links.nh_noop_return =
			       attach_prog(skel->progs.nh_noop_return, exe, true)));
		break;
	case NOOP_READS:
		ok = (skel->links.nh_noop_reads = attach_prog(skel->progs.nh_noop_reads, exe,
							      false));
		break;
	default:
		ok = (skel->links.nh_noop_ringbuf = attach_prog(skel->progs.nh_noop_ringbuf, exe,
								false));
		break;
	}
	if (!ok) {
		fprintf(stderr, "nh-probecost: attaching to %s in %s: %s\n", probed_func, exe,
			strerror(errno));
		noop_bpf__destroy(skel);
		return NULL;
	}
	return skel;
}

static int consumer_start(struct consumer *c, struct noop_bpf *skel, enum noop_kind kind)
{
	c->nowakeup = kind == NOOP_RINGBUF_NOWAKEUP;
	c->rb = ring_buffer__new(bpf_map__fd(skel->maps.noop_ring), on_record, c, NULL);
	if (!c->rb || pthread_create(&c->thread, NULL, consume, c)) {
		fprintf(stderr, "nh-probecost: cannot read the ring buffer\n");
		ring_buffer__free(c->rb);
		c->rb = NULL;
		return -1;
	}
	return 0;
}

static void consumer_stop(struct consumer *c)
{
	if (c->rb) {
		atomic_store(&c->stop, true);
		pthread_join(c->thread, NULL);
		ring_buffer__free(c->rb);
		c->rb = NULL;
	}
}

static void wait_for_usr1(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	/* Blocked before the pid is announced, so an early signal waits. */
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("pid %ld\n", (long)getpid());
	fflush(stdout);
	sigwait(&set, &sig);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One call the way NanoMQ makes it: a fresh pub_packet each time, the
 * decoded copies freed afterwards, as the broker does per message. */
static reason_code one_call(nano_work *w, struct pipe_content *pc, uint8_t proto,
			    enum pc_event ev)
{
	struct pub_packet_struct pub;
	reason_code rc;

	if (ev != PC_PUBLISH) {
		/* NanoNNG's connack and disconnect: the $SYS notice it builds. */
		nng_msg *m = nmq_calls.notify(w->cparam, 0, 0, ev == PC_CONNACK);

		if (!m)
			return NMQ_RC_PROTOCOL_ERROR;
		msg_free(m);
		return NMQ_RC_SUCCESS;
	}
	memset(&pub, 0, sizeof(pub));
	w->pub_packet = &pub;
	rc = nmq_calls.handle_pub(w, pc, proto, false);
	free(pub.var_header.publish.topic_name.body);
	free(pub.payload.data);
	w->pub_packet = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	struct probecost_opts o = { .calls = 1000000, .payload_size = 64 };
	struct noop_bpf *noop = NULL;
	struct consumer cons = { 0 };
	bool ringbuf;
	conn_param cp;
	struct pipe_content pc = { 0 };
	nano_work w;
	nng_msg *msg;
	uint8_t *payload;
	double t0, t1;
	int rc = 1;

	if (parse_args(argc, argv, &o))
		return 2;
	probed_func = pc_events[o.event].func;
	/* A connected 3.1.1 client with a username, as in a NanoMQ session. */
	memset(&cp, 0, sizeof(cp));
	if (!set_string(&cp.clientid, "probecost-client") || !set_string(&cp.username, "alice"))
		return 1;
	cp.con_flag = NMQ_CON_FLAG_CLEAN | NMQ_CON_FLAG_USERNAME;
	cp.pro_ver = 4;
	cp.keepalive_mqtt = 60;
	memcpy(cp.ip_addr_v4, "127.0.0.1", sizeof("127.0.0.1"));

	payload = malloc(o.payload_size ? o.payload_size : 1);
	if (!payload)
		return 1;
	for (size_t i = 0; i < o.payload_size; i++)
		payload[i] = (uint8_t)('a' + i % 26);
	msg = publish_msg(4, "nhbench/probecost", 0, 0, 0, payload, o.payload_size);
	if (!msg)
		return 1;
	msg->cparam = &cp;
	memset(&w, 0, sizeof(w));
	w.cparam = &cp;
	w.msg = msg;
	w.flag = NMQ_CMD_PUBLISH;

	ringbuf = o.noop == NOOP_RINGBUF || o.noop == NOOP_RINGBUF_NOWAKEUP;
	if (o.noop && !(noop = attach_noop(o.noop)))
		goto out;
	if (ringbuf && consumer_start(&cons, noop, o.noop))
		goto out;
	if (o.wait)
		wait_for_usr1();

	for (int i = 0; i < 1000; i++)
		if (one_call(&w, &pc, 4, o.event) != NMQ_RC_SUCCESS) {
			fprintf(stderr, "nh-probecost: %s failed\n", probed_func);
			goto out;
		}
	t0 = now_s();
	for (unsigned long i = 0; i < o.calls; i++)
		one_call(&w, &pc, 4, o.event);
	t1 = now_s();
	consumer_stop(&cons);
	printf("mode=%s%s event=%s calls=%lu seconds=%.6f ns_per_call=%.1f",
	       o.noop ? "noop-" : "", o.noop ? noop_names[o.noop] : o.wait ? "attached" : "bare",
	       pc_events[o.event].name, o.calls, t1 - t0, (t1 - t0) * 1e9 / (double)o.calls);
	if (ringbuf)
		printf(" consumed=%lu ring_full=%llu record_bytes=%zu", cons.records,
		       (unsigned long long)noop->bss->ring_full, (size_t)NH_REC_SMALL);
	printf("\n");
	fflush(stdout);
	rc = 0;
out:
	consumer_stop(&cons);
	noop_bpf__destroy(noop);
	msg_free(msg);
	free(payload);
	free(cp.clientid.body);
	free(cp.username.body);
	return rc;
}
