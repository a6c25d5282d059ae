// SPDX-License-Identifier: MIT
/*
 * `nanohook --pid P --conf F`: attach, then one loop that drains the ring
 * buffer and moves HTTP transfers along. The loop never waits on the
 * endpoint: curl is non-blocking and waits together with the ring buffer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "commands.h"
#include "config.h"
#include "deliver.h"
#include "dispatch.h"
#include "log.h"
#include "target_watch.h"

/* Set from the signal handler; the loop polls it at least every POLL_MS. */
static volatile sig_atomic_t stop_signal;

#define POLL_MS 100
#define WATCH_MS 1000

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct run_totals {
	uint64_t bpf[NH_CNT_MAX];
	struct nh_deliver_stats http;
	uint64_t dropped_shutdown;
	double seconds;
};

static void print_summary(const struct nh_dispatch *d, const struct nh_capture *cap,
			  const struct run_totals *t, bool to_stdout)
{
	const struct nh_dispatch_stats *s = &d->st;
	uint64_t failed = t->http.failed_http + t->http.failed_transport +
			  t->http.failed_timeout;
	uint64_t rej[NH_REJ_MAX], dropped = 0;

	for (int r = 0; r < NH_REJ_MAX; r++)
		dropped += rej[r] = nh_capture_rejected(cap, (enum nh_rec_reject)r);
	dropped += t->bpf[NH_DROP_RINGBUF_FULL] + t->bpf[NH_DROP_PENDING_FULL] +
		   s->dropped_queue_full + s->dropped_body + t->dropped_shutdown;

	fprintf(stderr, "nanohook: summary after %.1f s\n", t->seconds);
	fprintf(stderr, "  seen      %10llu  events from the broker (probe hits %llu)\n",
		(unsigned long long)s->seen, (unsigned long long)t->bpf[NH_CNT_HITS]);
	fprintf(stderr, "  filtered  %10llu  wanted by no rule\n",
		(unsigned long long)s->filtered);
	if (to_stdout) {
		fprintf(stderr, "  printed   %10llu\n", (unsigned long long)s->handed_over);
	} else {
		fprintf(stderr, "  posted    %10llu  answered 2xx\n",
			(unsigned long long)t->http.posted_ok);
		fprintf(stderr, "  failed    %10llu  (non-2xx %llu, transport %llu, timeout %llu)\n",
			(unsigned long long)failed,
			(unsigned long long)t->http.failed_http,
			(unsigned long long)t->http.failed_transport,
			(unsigned long long)t->http.failed_timeout);
	}
	fprintf(stderr, "  dropped   %10llu\n", (unsigned long long)dropped);
	fprintf(stderr, "    ringbuf_full %llu, pending_full %llu, %s %llu, %s %llu, %s %llu,\n"
			"    queue_full %llu, no_body %llu, shutdown %llu\n",
		(unsigned long long)t->bpf[NH_DROP_RINGBUF_FULL],
		(unsigned long long)t->bpf[NH_DROP_PENDING_FULL],
		nh_rec_reject_name(NH_REJ_READ_FAULT), (unsigned long long)rej[NH_REJ_READ_FAULT],
		nh_rec_reject_name(NH_REJ_TRUNCATED), (unsigned long long)rej[NH_REJ_TRUNCATED],
		nh_rec_reject_name(NH_REJ_MALFORMED), (unsigned long long)rej[NH_REJ_MALFORMED],
		(unsigned long long)s->dropped_queue_full, (unsigned long long)s->dropped_body,
		(unsigned long long)t->dropped_shutdown);
	if (t->bpf[NH_CNT_PAYLOAD_TRUNC])
		fprintf(stderr, "  note: %llu payloads were cut at nanohook.capture.payload_max\n",
			(unsigned long long)t->bpf[NH_CNT_PAYLOAD_TRUNC]);
}

/* The loop proper; returns when a signal arrives or the target exits. */
static void run_loop(struct nh_capture *cap, struct nh_deliver *deliver,
		     struct nh_target_watch *watch)
{
	uint64_t next_watch = now_ms() + WATCH_MS;

	while (!stop_signal) {
		if (deliver) {
			if (nh_deliver_poll(deliver, nh_capture_fd(cap), POLL_MS)) {
				nh_err("delivery: %s", nh_deliver_last_error(deliver));
				break;
			}
			nh_capture_consume(cap);
		} else {
			nh_capture_poll(cap, POLL_MS);
		}
		if (now_ms() >= next_watch) {
			next_watch = now_ms() + WATCH_MS;
			if (!nh_target_watch_alive(watch)) {
				nh_info("pid %d exited; stopping", nh_target_watch_pid(watch));
				break;
			}
		}
	}
}

int nh_cmd_run(const struct nh_run_opts *o)
{
	struct nh_dispatch disp = { 0 };
	struct nh_attachment att = { 0 };
	struct nh_capture *cap = NULL;
	struct nh_deliver *deliver = NULL;
	struct nh_target_watch *watch = NULL;
	struct run_totals totals = { 0 };
	struct nh_config cfg;
	struct nh_target t;
	char err[512];
	uint64_t started;
	int rc = 1;

	if (nh_config_load(o->conf_path, &cfg, stderr))
		return 2;
	if (nh_target_open(&t, o->pid, NULL, o->broker, err, sizeof(err))) {
		nh_err("%s", err);
		if (t.n_findings) {
			fprintf(stderr, "what was found (nanohook probe --pid %d for the full report):\n",
				(int)o->pid);
			nh_target_print_findings(&t, stderr);
		}
		nh_err("refusing to attach");
		goto out;
	}
	watch = nh_target_watch_new(o->pid);
	if (!watch) {
		nh_err("pid %d: cannot read its start time", (int)o->pid);
		goto out;
	}

	disp.cfg = &cfg;
	if (o->to_stdout) {
		disp.print_to = stdout;
	} else {
		struct nh_deliver_opts dopts = {
			.url = cfg.url,
			.headers = cfg.headers,
			.n_headers = cfg.n_headers,
			.pool_size = cfg.pool_size,
			.timeout_ms = cfg.cancel_timeout_ms,
			.queue_max = cfg.queue_max,
		};
		deliver = nh_deliver_new(&dopts, err, sizeof(err));
		if (!deliver) {
			nh_err("%s", err);
			goto out;
		}
		disp.deliver = deliver;
	}
	cap = nh_capture_new(nh_dispatch_event, &disp);
	if (!cap)
		goto out;

	struct nh_attach_opts aopts = {
		.payload_max = cfg.payload_max,
		.ringbuf_bytes = cfg.ringbuf_bytes,
		.share_ringbuf_fd = -1,
	};
	if (t.broker->attach(&t, &aopts, &att, err, sizeof(err))) {
		nh_err("%s", err);
		goto out;
	}
	if (nh_capture_add(cap, &att)) {
		nh_err("cannot read the ring buffer");
		goto out;
	}
	install_signals();
	nh_info("attached to %s pid %d (%zu probes); %s", t.broker->name, (int)o->pid,
		att.n_links, o->to_stdout ? "printing bodies to stdout" : "posting to the endpoint");

	started = now_ms();
	run_loop(cap, deliver, watch);

	/* Detach first so nothing new arrives, then take what the ring
	 * buffer still holds, then give requests in flight a deadline. */
	t.broker->detach(&att);
	att.state = NULL;
	nh_capture_consume(cap);
	nh_bpf_counters_read(att.counters_fd, totals.bpf);
	if (deliver) {
		totals.dropped_shutdown =
			nh_deliver_drain(deliver, (int)cfg.cancel_timeout_ms + 1000);
		nh_deliver_stats(deliver, &totals.http);
	}
	totals.seconds = (double)(now_ms() - started) / 1000.0;
	print_summary(&disp, cap, &totals, o->to_stdout);
	rc = 0;
out:
	if (att.state)
		t.broker->detach(&att);
	nh_attachment_close_fds(&att);
	nh_capture_free(cap);
	nh_deliver_free(deliver);
	nh_buf_free(&disp.body);
	nh_target_watch_free(watch);
	nh_target_close(&t);
	nh_config_free(&cfg);
	return rc;
}
