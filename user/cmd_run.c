// SPDX-License-Identifier: MIT
/*
 * `nanohook --pid P --conf F`: attach, then one loop that drains the ring
 * buffer, moves HTTP transfers along, feeds the engine from the spool and
 * answers /metrics. The loop never waits on the endpoint: curl is
 * non-blocking and waits together with the ring buffer.
 *
 * Signals: SIGINT/SIGTERM stop intake (the probes are detached), deliver
 * what is in memory for up to drain_timeout, put the rest in the spool,
 * print the summary and exit 0. SIGHUP reloads the configuration without
 * detaching. SIGUSR1 prints the counters to stderr.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "capture.h"
#include "commands.h"
#include "config.h"
#include "deadletter.h"
#include "deliver.h"
#include "deliver_opts.h"
#include "dispatch.h"
#include "log.h"
#include "router.h"
#include "extended.h"
#include "jetstream.h"
#include "metrics.h"
#include "preflight.h"
#include "privdrop.h"
#include "procfind.h"
#include "security.h"
#include "spool.h"
#include "spool_dest.h"
#include "stats.h"
#include "target_watch.h"
#include "url.h"

/* Set from the signal handlers, so process-wide by nature; the loop
 * polls them at least every POLL_MS. */
static volatile sig_atomic_t stop_signal, reload_signal, stats_signal;

/* The probes wake the loop only now and then (batched wakeups, see
 * bpf/nh_common.bpf.h), so the loop also reads the ring buffer on its own
 * this often: the most a record waits at low rates. */
#define POLL_MS 10
#define WATCH_MS 1000

_Static_assert(NH_REJ_MAX <= NH_REJECT_SLOTS, "stats.h has room for every reject reason");

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_signal = 1;
	else if (sig == SIGUSR1)
		stats_signal = 1;
	else
		stop_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Everything one run holds, so that the counters can be gathered from
 * anywhere (SIGUSR1, /metrics, the summary). */
struct run {
	const struct nh_run_opts *o;
	struct nh_config cfg;
	struct nh_target t;
	struct nh_attachment att;
	struct nh_capture *cap;
	struct nh_router router;
	/* One per destination (cfg.dests, kept across reloads): its engine,
	 * spool and counters. NULL with --stdout. */
	struct nh_dispatch *disp;
	size_t n_disp;
	struct nh_deliver_hub *hub;    /* the HTTP engines' one curl multi */
	struct nh_jetstream *jetstream;/* the NATS destination's engine (owned by its sink); NULL: none */
	char **dest_shown;             /* each destination's urls, redacted */
	struct nh_dead_letter *dead_letter;
	struct nh_metrics *metrics;
	struct nh_target_watch *watch; /* --pid only */
	char exe_display[4096];        /* the file, for messages (--exe, --name) */
	struct nh_retry_policy retry;
	struct nh_security sec;        /* of cfg: read before privileges are dropped */
	int epfd;
	uint64_t started;
	uint64_t bpf[NH_CNT_MAX];
	bool bpf_final;        /* read after detach: no need to read again */
};

/* One destination's counters, into its row and the totals. */
static void collect_dest(struct run *r, size_t i, struct nh_stats *s)
{
	const struct nh_dispatch *d = &r->disp[i];
	struct nh_stats_dest *sd = i < NH_STATS_DESTS_MAX ? &s->dests[s->n_dests++] : NULL;
	struct nh_deliver *http = nh_sink_http_engine(&d->sink);
	struct nh_jetstream *js = nh_sink_jetstream_engine(&d->sink);
	size_t running = d->sink.ops->running(d->sink.engine);
	size_t in_flight = d->sink.ops->in_flight(d->sink.engine);
	double failing_s = (double)d->sink.ops->failing_ms(d->sink.engine) / 1000.0;
	struct nh_deliver_stats ds;
	uint64_t dropped = 0, dead = 0;

	for (int k = 0; k < NH_UDROP_MAX; k++) {
		s->udrop[k] += d->st.udrop[k];
		dropped += d->st.udrop[k];
	}
	for (int k = 0; k < NH_DEAD_MAX; k++) {
		s->dead[k] += d->st.dead[k];
		dead += d->st.dead[k];
	}
	s->delivered += d->st.delivered;
	d->sink.ops->stats(d->sink.engine, &ds);
	s->attempts_failed_http += ds.failed_http;
	s->attempts_failed_transport += ds.failed_transport;
	s->attempts_failed_timeout += ds.failed_timeout;
	for (int k = 0; k < 6; k++)
		s->by_status[k] += ds.by_status[k];
	s->retried += ds.retried;
	for (int k = 0; k <= NH_HIST_BUCKETS; k++) {
		s->request_s.bucket[k] += ds.request_s.bucket[k];
		s->latency_s.bucket[k] += ds.latency_s.bucket[k];
	}
	s->request_s.count += ds.request_s.count;
	s->request_s.sum += ds.request_s.sum;
	s->latency_s.count += ds.latency_s.count;
	s->latency_s.sum += ds.latency_s.sum;
	s->running += running;
	s->queued += in_flight - running;
	if (failing_s > s->failing_s)
		s->failing_s = failing_s;
	if (sd) {
		*sd = (struct nh_stats_dest){
			.sink = nh_sink_name(d->sink.ops->kind),
			.handed_over = d->st.handed_over,
			.delivered = d->st.delivered,
			.spooled = d->st.spooled,
			.dead = dead,
			.dropped = dropped,
			.queued = in_flight - running,
			.running = running,
			.spooling = d->spooling,
			.failing_s = failing_s,
		};
		if (js) {
			struct nh_jetstream_info ji;

			nh_jetstream_info(js, &ji);
			sd->nats_connected = ji.connected;
			snprintf(sd->nats_server, sizeof(sd->nats_server), "%s", ji.server);
			sd->nats_reconnects = ji.reconnects;
			sd->nats_disconnects = ji.disconnects;
			sd->nats_duplicates = ji.duplicates;
			sd->nats_acked = ds.posted_ok;
			sd->nats_nak = ds.failed_http;
			sd->nats_timeouts = ds.failed_timeout;
			sd->nats_failed = ds.failed_transport;
		}
	}
	for (size_t e = 0; http && e < nh_deliver_n_endpoints(http) &&
			   s->n_endpoints < NH_STATS_ENDPOINTS_MAX; e++) {
		struct nh_endpoint_stats es;

		nh_deliver_endpoint_stats(http, e, &es);
		s->endpoints[s->n_endpoints++] = (struct nh_stats_endpoint){
			.url = es.url,
			.dest = (unsigned)i,
			.requests = es.requests,
			.ok = es.ok,
			.failed_http = es.failed_http,
			.failed_transport = es.failed_transport,
			.failed_timeout = es.failed_timeout,
			.circuit_opened = es.circuit_opened,
			.circuit = nh_circuit_name(es.circuit),
			.failures_in_row = es.failures_in_row,
			.circuit_since_s = (double)es.circuit_since_ms / 1000.0,
			.probe_in_s = (double)es.probe_in_ms / 1000.0,
			.running = es.running,
		};
	}
	if (d->spool) {
		struct nh_spool_stats ss;

		nh_spool_stats(d->spool, &ss);
		s->spool_on = true;
		s->spooling |= d->spooling;
		s->spooled += d->st.spooled;
		s->replayed += ss.read_new;
		s->spool_records += ss.records;
		s->spool_bytes += ss.bytes;
		s->spool_corrupt += ss.corrupt;
		s->spool_corrupt_bytes += ss.corrupt_bytes;
		if (sd)
			sd->spool_records = ss.records;
	}
}

static void collect(struct run *r, struct nh_stats *s)
{
	const struct nh_router_stats *rs = &r->router.st;

	memset(s, 0, sizeof(*s));
	s->uptime_s = (double)((uint64_t)nh_mono_ms() - r->started) / 1000.0;
	s->to_stdout = r->o->to_stdout;
	if (!r->bpf_final && r->att.counters_fd >= 0)
		nh_bpf_counters_read(r->att.counters_fd, r->bpf);
	memcpy(s->bpf, r->bpf, sizeof(s->bpf));
	for (int i = 0; i < NH_REJ_MAX; i++) {
		s->rejected[i] = r->cap ? nh_capture_rejected(r->cap, (enum nh_rec_reject)i) : 0;
		s->rejected_name[i] = nh_rec_reject_name((enum nh_rec_reject)i);
	}
	s->n_rejected = NH_REJ_MAX;

	s->captured = rs->seen;
	s->filtered = rs->filtered;
	memcpy(s->by_event, rs->by_event, sizeof(s->by_event));
	s->printed = r->o->to_stdout ? rs->wanted - rs->no_body : 0;
	s->udrop[NH_UDROP_NO_BODY] += rs->no_body;
	s->dead_letter_path = r->dead_letter ? nh_dead_letter_path(r->dead_letter) : NULL;
	for (size_t i = 0; i < r->n_disp; i++)
		collect_dest(r, i, s);
}

static int fill_metrics(void *ctx, struct nh_buf *out)
{
	struct nh_stats s;

	collect(ctx, &s);
	return nh_stats_prometheus(&s, out);
}

/* Destination i's engine settings. */
/* Destination i's engine settings, from cfg (the running urls, dest). */
static void deliver_opts(struct run *r, const struct nh_config *cfg,
			 const struct nh_security *sec, const struct nh_dest *dest, size_t i,
			 struct nh_deliver_opts *o)
{
	nh_deliver_opts_from_config(cfg, sec, dest, &r->retry, o);
	o->hub = r->hub;
	o->on_result = nh_dispatch_on_result;
	o->ctx = &r->disp[i];
}

/* The command line wins over the file, at start and at every reload. */
static int apply_overrides(const struct nh_run_opts *o, struct nh_config *cfg)
{
	if (o->spool_dir) {
		free(cfg->spool_dir);
		if (!(cfg->spool_dir = strdup(o->spool_dir)))
			return -1;
	}
	if (o->metrics) {
		free(cfg->metrics_listen);
		if (!(cfg->metrics_listen = strdup(o->metrics)))
			return -1;
	}
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Moves a string setting that cannot change at run time from `from` to
 * `to`, warning if the new file says otherwise. */
static void keep_str(char **to, char **from, const char *name)
{
	if (!same_str(*to, *from))
		nh_warn("reload: %s changes at the next start; keeping the current one", name);
	free(*to);
	*to = *from;
	*from = NULL;
}

/* Points next's rules at the running destinations of the same urls, and
 * gives next the running destinations. Events in memory and in the spools
 * were captured for their destination: a reload can stop sending a
 * destination new events, never send them to new urls. If next names urls
 * no destination has, its rules cannot be followed until the next start:
 * the running rules stay. */
static void adopt_dests(struct nh_config *next, struct nh_config *cur)
{
	unsigned map[NH_DESTS_MAX];
	bool all = true;
	struct nh_dest *dests = next->dests;
	size_t n = next->n_dests;

	for (size_t j = 0; j < next->n_dests; j++) {
		size_t i = 0;

		while (i < cur->n_dests && strcmp(cur->dests[i].key, next->dests[j].key))
			i++;
		all &= i < cur->n_dests;
		map[j] = (unsigned)i;
	}
	if (all) {
		for (size_t k = 0; k < next->n_rules; k++)
			next->rules[k].dest = map[next->rules[k].dest];
	} else {
		struct nh_rule *rules = next->rules;
		size_t n_rules = next->n_rules;

		if (strcmp(next->dests[0].key, cur->dests[0].key))
			nh_warn("reload: webhook.url changes at the next start (events are captured "
				"for their destination); until then the running rules stay");
		else
			nh_warn("reload: a rule names urls no running destination has; they take "
				"effect at the next start (events are captured for their "
				"destination); until then the running rules stay");
		next->rules = cur->rules;
		next->n_rules = cur->n_rules;
		cur->rules = rules;
		cur->n_rules = n_rules;
	}
	next->dests = cur->dests;
	next->n_dests = cur->n_dests;
	cur->dests = dests;
	cur->n_dests = n;
}

/* The engines take next's settings (with the running urls); 0, or -1 with
 * nothing changed when the first cannot (the same settings go to each). */
static int reconfigure_engines(struct run *r, const struct nh_config *next,
			       const struct nh_security *sec, char *err, size_t errlen)
{
	struct nh_deliver_opts o;

	for (size_t i = 0; i < r->n_disp; i++) {
		struct nh_deliver *http = nh_sink_http_engine(&r->disp[i].sink);

		if (!http)
			continue; /* JetStream: its settings change at the next start */
		deliver_opts(r, next, sec, &r->cfg.dests[i], i, &o);
		if (nh_deliver_reconfigure(http, &o, err, errlen) < 0) {
			if (i == 0)
				return -1;
			nh_err("reload: destination %zu: %s", i, err);
		}
	}
	return 0;
}

static void reload(struct run *r)
{
	struct nh_config next;
	struct nh_security sec = { 0 };
	char err[512];

	if (nh_config_load(r->o->conf_path, &next, stderr) < 0) {
		nh_err("reload: %s is not valid; keeping the running configuration", r->o->conf_path);
		return;
	}
	if (apply_overrides(r->o, &next) < 0) {
		nh_err("reload: out of memory; keeping the running configuration");
		nh_config_free(&next);
		return;
	}
	/* What the attachment, the spool or the listener were made with. */
	if (next.pool_size != r->cfg.pool_size)
		nh_warn("reload: webhook.pool_size %u -> %u changes at the next start",
			r->cfg.pool_size, next.pool_size);
	next.pool_size = r->cfg.pool_size;
	if (next.lane_inflight != r->cfg.lane_inflight || next.http2 != r->cfg.http2)
		nh_warn("reload: nanohook.lane.inflight and http2 change at the next start");
	next.lane_inflight = r->cfg.lane_inflight;
	next.http2 = r->cfg.http2;
	if (next.payload_max != r->cfg.payload_max || next.ringbuf_bytes != r->cfg.ringbuf_bytes)
		nh_warn("reload: nanohook.capture.payload_max and ringbuf_size change at the next start");
	next.payload_max = r->cfg.payload_max;
	next.ringbuf_bytes = r->cfg.ringbuf_bytes;
	if (next.order_per_client != r->cfg.order_per_client)
		nh_warn("reload: nanohook.order changes at the next start");
	next.order_per_client = r->cfg.order_per_client;
	if (next.spool_max_bytes != r->cfg.spool_max_bytes || next.spool_fsync != r->cfg.spool_fsync)
		nh_warn("reload: nanohook.spool.max_size and fsync change at the next start");
	next.spool_max_bytes = r->cfg.spool_max_bytes;
	next.spool_fsync = r->cfg.spool_fsync;

	if (r->disp) {
		/* After --user, root-only files are out of reach: an error
		 * here keeps the material read at start. */
		if (nh_security_load(&next, &sec, err, sizeof(err), stderr) < 0 ||
		    reconfigure_engines(r, &next, &sec, err, sizeof(err)) < 0) {
			nh_err("reload: %s; keeping the running configuration", err);
			nh_security_free(&sec);
			nh_config_free(&next);
			return;
		}
		nh_security_free(&r->sec);
		r->sec = sec;
	}
	adopt_dests(&next, &r->cfg);
	/* The first url of the destinations kept. */
	free(next.url);
	next.url = r->cfg.url;
	r->cfg.url = NULL;
	next.url_path_added = r->cfg.url_path_added;
	keep_str(&next.spool_dir, &r->cfg.spool_dir, "nanohook.spool.dir");
	keep_str(&next.dead_letter, &r->cfg.dead_letter, "nanohook.dead_letter");
	keep_str(&next.metrics_listen, &r->cfg.metrics_listen, "nanohook.metrics");
	/* The JetStream engine is connected with these; its subjects stay
	 * with it until the next start. */
	{
		struct nh_nats_config running = r->cfg.nats;

		if (!same_str(running.stream, next.nats.stream) ||
		    !same_str(running.subject, next.nats.subject) ||
		    running.n_urls != next.nats.n_urls)
			nh_warn("reload: nanohook.nats changes at the next start; keeping the running one");

		r->cfg.nats = next.nats;
		next.nats = running;
	}
	/* Probes are attached for the events of the rules at start. */
	if (nh_config_event_mask(&next) & ~nh_config_event_mask(&r->cfg))
		nh_warn("reload: rules for events that had none take effect at the next start "
			"(their probes are not attached)");
	if (!same_str(next.node, r->cfg.node) || next.extended != r->cfg.extended)
		nh_router_reset_extender(&r->router); /* made again from the new settings */
	/* Open batches go out before the batch settings can change (there
	 * are as many as pool_size and order say, and a reload keeps those). */
	for (size_t i = 0; i < r->n_disp; i++)
		nh_dispatch_flush(&r->disp[i]);
	/* In place: the router and the destinations point at r->cfg. */
	nh_config_free(&r->cfg);
	r->cfg = next;
	if (r->n_disp > 1)
		nh_info("reloaded %s: %zu rules, posting to %s and %zu more destinations",
			r->o->conf_path, r->cfg.n_rules, r->dest_shown[0], r->n_disp - 1);
	else
		nh_info("reloaded %s: %zu rules, posting to %s", r->o->conf_path, r->cfg.n_rules,
			r->dest_shown ? r->dest_shown[0] : "stdout");
}

static void print_stats(struct run *r, const char *title)
{
	struct nh_stats s;

	collect(r, &s);
	nh_stats_print(&s, title, stderr);
	fflush(stderr);
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* How long the loop may wait: JetStream's retries fall due by themselves. */
static int poll_ms(const struct run *r)
{
	int64_t due = r->jetstream ? nh_jetstream_next_retry_ms(r->jetstream) : -1;

	return due >= 0 && due < POLL_MS ? (int)due : POLL_MS;
}

/* The loop proper; returns when a signal arrives or the target exits. */
static void run_loop(struct run *r)
{
	uint64_t next_watch = (uint64_t)nh_mono_ms() + WATCH_MS;

	while (!stop_signal) {
		if (r->disp) {
			/* One wait for every destination: the HTTP ones share the
			 * hub, and JetStream's acknowledgements wake epfd. */
			if (nh_deliver_hub_poll(r->hub, r->epfd, poll_ms(r))) {
				nh_err("delivery: %s", nh_deliver_hub_last_error(r->hub));
				break;
			}
			if (r->jetstream)
				nh_jetstream_process(r->jetstream);
		} else {
			struct epoll_event ev;

			if (epoll_wait(r->epfd, &ev, 1, POLL_MS) < 0 && errno != EINTR) {
				nh_err("epoll_wait: %s", strerror(errno));
				break;
			}
		}
		nh_capture_consume(r->cap);
		if (r->metrics)
			nh_metrics_run(r->metrics);
		for (size_t i = 0; i < r->n_disp; i++)
			nh_dispatch_pump(&r->disp[i]);
		if (reload_signal) {
			reload_signal = 0;
			reload(r);
		}
		if (stats_signal) {
			stats_signal = 0;
			print_stats(r, "stats");
		}
		if (r->watch && (uint64_t)nh_mono_ms() >= next_watch) {
			next_watch = (uint64_t)nh_mono_ms() + WATCH_MS;
			if (!nh_target_watch_alive(r->watch)) {
				nh_info("pid %d exited; stopping", nh_target_watch_pid(r->watch));
				break;
			}
		}
	}
}

/* How many processes of one name --name takes in: the probes sit on one
 * file, so this only bounds what a refusal can list. */
#define NAMED_MAX 64

/* --name: every process of that name, which must all run one binary file
 * (the probes sit on the file, so they cover each of them, and restarts).
 * Processes of that name running different files are refused, listed, since
 * offsets and probes are per binary: --exe picks one file, --pid one process. */
static int resolve_by_name(struct run *r, char *err, size_t errlen)
{
	const struct nh_run_opts *o = r->o;
	struct nh_proc procs[NAMED_MAX];
	char exe[64], pids[256] = "";
	bool said = false;
	size_t n, shown, at = 0;
	pid_t denied;

	while (!(n = nh_procs_named(o->name, procs, NAMED_MAX, &denied))) {
		if (denied) {
			snprintf(err, errlen, "--name %s: process %d has that name, but its binary "
				 "(/proc/%d/exe) may not be read: CAP_SYS_PTRACE is missing (it runs "
				 "as another user or with more privileges); in a container, "
				 "--cap-add SYS_PTRACE", o->name, (int)denied, (int)denied);
			return -1;
		}
		if (!said)
			nh_info("waiting for a process named %s", o->name);
		said = true;
		if (stop_signal)
			return -1;
		sleep(1);
	}
	shown = n < NAMED_MAX ? n : NAMED_MAX;
	if (!nh_procs_one_binary(procs, shown)) {
		int len = snprintf(err, errlen, "--name %s: %zu processes of that name run different "
				   "binaries:", o->name, n);

		for (size_t i = 0; i < shown && len > 0 && (size_t)len < errlen; i++)
			len += snprintf(err + len, errlen - (size_t)len, "%s pid %d %s",
					i ? "," : "", (int)procs[i].pid, procs[i].exe);
		if (len > 0 && (size_t)len < errlen)
			snprintf(err + len, errlen - (size_t)len,
				 "; use --exe PATH for every process of one binary, or --pid PID "
				 "for one process (one nanohook per binary)");
		return -1;
	}
	for (size_t i = 0; i < shown && at < sizeof(pids) - 16; i++)
		at += (size_t)snprintf(pids + at, sizeof(pids) - at, "%s%d", i ? ", " : "",
				       (int)procs[i].pid);
	/* The kernel resolves /proc/PID/exe to the file itself, so the probes
	 * stay on it after this process is gone, and cover the file in
	 * another mount namespace (a container) too. */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)procs[0].pid);
	snprintf(r->exe_display, sizeof(r->exe_display), "%s", procs[0].exe);
	nh_info("%zu process%s named %s (pid %s%s) run%s %s", n, n == 1 ? "" : "es", o->name, pids,
		n > shown ? ", ..." : "", n == 1 ? "s" : "", r->exe_display);
	return nh_target_open(&r->t, 0, exe, o->broker, err, errlen);
}

/* --pid, --exe or --name: open and resolve the broker's binary. With
 * --name, wait (polling every second) until such a process runs. */
static int resolve_target(struct run *r, char *err, size_t errlen)
{
	const struct nh_run_opts *o = r->o;

	*err = 0;
	if (o->pid)
		return nh_target_open(&r->t, o->pid, NULL, o->broker, err, errlen);
	if (o->exe) {
		snprintf(r->exe_display, sizeof(r->exe_display), "%s", o->exe);
		return nh_target_open(&r->t, 0, o->exe, o->broker, err, errlen);
	}
	return resolve_by_name(r, err, errlen);
}

/* Spools of other urls (an earlier configuration's) are left alone, and
 * said once at start: they are never sent to this url. */
/* Spools of other destinations (an earlier configuration's) are left
 * alone, and said once at start: they are never sent to these urls. */
static void report_held(void *ctx, const struct nh_spool_dest *d)
{
	const struct nh_config *cfg = ctx;

	for (size_t i = 0; i < cfg->n_dests; i++) {
		char id[NH_SPOOL_DEST_ID_LEN + 1];

		nh_spool_dest_id(cfg->dests[i].key, id);
		if (!strcmp(d->id, id))
			return;
	}
	if (d->records == UINT64_MAX)
		nh_warn("spool: destination %s (%s) is in use by another nanohook", d->id, d->url);
	else if (d->records)
		nh_warn("spool: %" PRIu64 " events wait for %s (destination %s), which this "
			"configuration does not name; they are not sent here. "
			"`nanohook spool ls` lists them, `spool export`/`drop` decide",
			d->records, d->url, d->id);
}

/* Destination i's spool. */
static int open_dest_spool(struct run *r, const char *dir, size_t i, char *err, size_t errlen)
{
	char *dest_dir = nh_spool_dest_open_dir(dir, r->cfg.dests[i].key, err, errlen);
	struct nh_spool_opts so = {
		.max_bytes = r->cfg.spool_max_bytes,
		.fsync = r->cfg.spool_fsync,
	};

	if (!dest_dir)
		return -1;
	so.dir = dest_dir;
	r->disp[i].spool = nh_spool_open(&so, err, errlen);
	free(dest_dir);
	return r->disp[i].spool ? 0 : -1;
}

/* Destination i, the NATS one: its engine, whose acknowledgements wake
 * the loop through epfd. */
static int open_jetstream(struct run *r, size_t i, char *err, size_t errlen)
{
	struct nh_retry_policy retry;
	struct nh_jetstream_opts jo = {
		.nats = &r->cfg.nats,
		.lanes = r->cfg.pool_size,
		.timeout_ms = r->cfg.cancel_timeout_ms,
		.queue_max = r->cfg.queue_max,
		.retry = &retry,
		.on_result = nh_dispatch_on_result,
		.ctx = &r->disp[i],
	};

	nh_retry_policy_from_config(&r->cfg, &retry);
	if (!(r->jetstream = nh_jetstream_new(&jo, err, errlen)))
		return -1;
	r->disp[i].sink = nh_sink_jetstream(r->jetstream);
	if (epoll_add(r->epfd, nh_jetstream_fd(r->jetstream)) < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The spools, the dead-letter file and an engine per destination. */
static int open_delivery(struct run *r, char *err, size_t errlen)
{
	const char *dir = nh_config_spool_dir(&r->cfg);
	struct nh_deliver_opts o;
	char *dl_path;

	r->n_disp = r->cfg.n_dests;
	r->disp = calloc(r->n_disp, sizeof(*r->disp));
	r->dest_shown = calloc(r->n_disp, sizeof(*r->dest_shown));
	if (!r->disp || !r->dest_shown) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->router.dests = r->disp;
	if (!(r->hub = nh_deliver_hub_new(err, errlen)))
		return -1;
	if (dir) {
		char why[256];

		for (size_t i = 0; i < r->n_disp; i++)
			if (open_dest_spool(r, dir, i, err, errlen) < 0)
				return -1;
		if (nh_spool_dest_each(dir, report_held, &r->cfg, why, sizeof(why)) < 0)
			nh_warn("%s", why);
	}
	dl_path = nh_config_dead_letter_path(&r->cfg);
	if (dl_path) {
		r->dead_letter = nh_dead_letter_new(dl_path, r->cfg.spool_fsync == NH_FSYNC_ALWAYS);
		free(dl_path);
	}
	if (nh_security_load(&r->cfg, &r->sec, err, errlen, stderr) < 0)
		return -1;
	for (size_t i = 0; i < r->n_disp; i++) {
		struct nh_dispatch *d = &r->disp[i];

		if (r->cfg.dests[i].kind == NH_SINK_NATS) {
			if (open_jetstream(r, i, err, errlen) < 0)
				return -1;
		} else {
			struct nh_deliver *http;

			deliver_opts(r, &r->cfg, &r->sec, &r->cfg.dests[i], i, &o);
			if (!(http = nh_deliver_new(&o, err, errlen)))
				return -1;
			d->sink = nh_sink_http(http);
		}
		if (!(r->dest_shown[i] = nh_url_redact_list(r->cfg.dests[i].key))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		d->cfg = &r->cfg;
		d->dest_shown = r->dest_shown[i];
		d->dead_letter = r->dead_letter;
	}
	return 0;
}

/* What the destinations hold, at exit. */
static void close_delivery(struct run *r)
{
	for (size_t i = 0; r->disp && i < r->n_disp; i++) {
		nh_dispatch_free(&r->disp[i]);
		nh_sink_free(&r->disp[i].sink);
		if (nh_spool_close(r->disp[i].spool) < 0)
			nh_err("spool: %s", strerror(errno));
	}
	nh_deliver_hub_free(r->hub);
	for (size_t i = 0; r->dest_shown && i < r->n_disp; i++)
		free(r->dest_shown[i]);
	free(r->dest_shown);
	free(r->disp);
}

/* Stops intake's consequences in order: each destination delivers what
 * it has in memory within the deadline (together: the hub moves them all),
 * then keeps the rest in its spool. */
static void shutdown_delivery(struct run *r)
{
	uint64_t drain = r->cfg.drain_timeout_ms ? r->cfg.drain_timeout_ms
						 : (uint64_t)r->cfg.cancel_timeout_ms + 1000;
	int64_t end = nh_mono_ms() + (int64_t)drain;

	for (size_t i = 0; i < r->n_disp; i++) {
		int64_t left = end - nh_mono_ms();
		uint64_t kept = nh_dispatch_shutdown(&r->disp[i], left > 0 ? (int)left : 0);

		if (kept)
			nh_info("%s: %llu events kept in the spool for the next start",
				r->dest_shown[i], (unsigned long long)kept);
	}
	for (size_t i = 0; i < r->n_disp; i++) {
		struct nh_spool_stats ss;

		if (!r->disp[i].spool)
			continue;
		/* What the spool could not write out is lost: say so. */
		nh_spool_sync(r->disp[i].spool, true);
		nh_spool_stats(r->disp[i].spool, &ss);
		r->disp[i].st.udrop[NH_UDROP_SPOOL_ERROR] += ss.unwritten;
	}
}

int nh_cmd_run(const struct nh_run_opts *o)
{
	struct run r = { .o = o, .epfd = -1, .att = { .counters_fd = -1, .ringbuf_fd = -1 } };
	struct nh_stats s;
	char err[512];
	int rc = 1;

	if (nh_config_load(o->conf_path, &r.cfg, stderr))
		return 2;
	if (apply_overrides(o, &r.cfg) < 0) {
		nh_config_free(&r.cfg);
		return 1;
	}
	install_signals();
	if (resolve_target(&r, err, sizeof(err))) {
		if (*err)
			nh_err("%s", err);
		if (r.t.n_findings) {
			fprintf(stderr, "what was found (nanohook probe for the full report):\n");
			nh_target_print_findings(&r.t, stderr);
		}
		if (*err)
			nh_err("refusing to attach");
		goto out;
	}
	/* One process: stop when it exits (or its PID is reused). A file
	 * (--exe, --name): the probes sit on the file itself, so every
	 * process running it, restarts included, is covered until stopped. */
	if (o->pid) {
		r.watch = nh_target_watch_new(o->pid);
		if (!r.watch) {
			nh_err("pid %d: cannot read its start time", (int)o->pid);
			goto out;
		}
	}

	r.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r.epfd < 0) {
		nh_err("epoll_create1: %s", strerror(errno));
		goto out;
	}
	r.router.cfg = &r.cfg;
	if (o->to_stdout) {
		r.router.print_to = stdout;
	} else if (open_delivery(&r, err, sizeof(err)) < 0) {
		nh_err("%s", err);
		goto out;
	}
	if (r.cfg.metrics_listen) {
		r.metrics = nh_metrics_start(r.cfg.metrics_listen, fill_metrics, &r, err, sizeof(err));
		if (!r.metrics || epoll_add(r.epfd, nh_metrics_fd(r.metrics)) < 0) {
			nh_err("%s", r.metrics ? strerror(errno) : err);
			goto out;
		}
	}
	r.cap = nh_capture_new(nh_router_event, &r.router);
	if (!r.cap)
		goto out;

	/* Only the events some rule names get probes: an unwanted event
	 * costs the broker nothing. */
	struct nh_attach_opts aopts = {
		.events = nh_config_event_mask(&r.cfg),
		.payload_max = r.cfg.payload_max,
		.ringbuf_bytes = r.cfg.ringbuf_bytes,
		.pin_dir = o->pin_dir,
	};
	if (nh_preflight(stderr, o->pin_dir))
		goto out;
	if (r.t.broker->attach(&r.t, &aopts, &r.att, err, sizeof(err))) {
		nh_err("%s", err);
		goto out;
	}
	if (nh_capture_add(r.cap, &r.att) || epoll_add(r.epfd, nh_capture_fd(r.cap)) < 0) {
		nh_err("cannot read the ring buffer");
		goto out;
	}
	/* Attached and mapped: reading the ring buffer, posting and
	 * detaching need no privilege at all. */
	if (nh_drop_privileges(o->user, false, err, sizeof(err))) {
		nh_err("%s", err);
		goto out;
	}
	if (o->user)
		nh_info("running as user %s now, with no capabilities", o->user);
	r.started = (uint64_t)nh_mono_ms();
	for (size_t i = 0; i < r.n_disp; i++)
		nh_dispatch_start(&r.disp[i]);
	if (o->pid)
		nh_info("attached to %s pid %d (%zu probes); %s", r.t.broker->name, (int)o->pid,
			r.att.n_links, o->to_stdout ? "printing bodies to stdout"
				       : r.jetstream ? "delivering" : "posting to the endpoint");
	else
		nh_info("attached to %s %s, every process running it (%zu probes); %s",
			r.t.broker->name, r.exe_display, r.att.n_links,
			o->to_stdout ? "printing bodies to stdout"
				     : r.jetstream ? "delivering" : "posting to the endpoint");
	if (r.metrics)
		nh_info("metrics on http://%s/metrics", nh_metrics_address(r.metrics));

	run_loop(&r);

	/* Detach first so nothing new arrives, then take what the ring
	 * buffer still holds, then give requests in flight a deadline, and
	 * keep the rest in the spool. Pinned probes stay attached and keep
	 * collecting for the next nanohook. */
	r.t.broker->detach(&r.att);
	if (o->pin_dir && o->pid)
		nh_info("the probes stay pinned under %s; `nanohook detach --pin %s --pid %d` "
			"removes them", o->pin_dir, o->pin_dir, (int)o->pid);
	r.att.state = NULL;
	nh_capture_consume(r.cap);
	nh_bpf_counters_read(r.att.counters_fd, r.bpf);
	r.bpf_final = true;
	if (r.disp)
		shutdown_delivery(&r);
	collect(&r, &s);
	nh_stats_print(&s, "summary", stderr);
	rc = 0;
out:
	if (r.att.state)
		r.t.broker->detach(&r.att);
	nh_attachment_close_fds(&r.att);
	nh_capture_free(r.cap);
	nh_metrics_stop(r.metrics);
	close_delivery(&r);
	nh_dead_letter_free(r.dead_letter);
	if (r.epfd >= 0)
		close(r.epfd);
	nh_router_free(&r.router);
	nh_target_watch_free(r.watch);
	nh_target_close(&r.t);
	nh_security_free(&r.sec);
	nh_config_free(&r.cfg);
	return rc;
}
