/* SPDX-License-Identifier: MIT */
/*
 * HTTP delivery over libcurl's multi interface. See deliver.h.
 *
 * Lane i owns easy handle i for the life of the engine, and has at most one
 * request in flight on it. The connections themselves live in the multi
 * handle's cache, capped at pool_size, so a lane that finishes hands its
 * connection to the next request instead of opening a new one (NanoMQ
 * opens one per request).
 *
 * A lane holds `cur`, the item being sent or waiting for its retry, and a
 * FIFO of the items behind it. Nothing behind `cur` is sent before `cur`
 * is finished: that is the ordering promise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "deliver.h"
#include "sign.h"
#include "url.h"
#include "tls.h"

/* stderr reports, at most one line per kind per this many ms. */
#define NH_REPORT_EVERY_MS 5000

enum nh_fail_kind { NH_FAIL_HTTP, NH_FAIL_TRANSPORT, NH_FAIL_TIMEOUT, NH_FAIL_KINDS };

struct nh_xfer {
	CURL *easy;
	unsigned gen; /* the configuration the handle was set up with */
	struct curl_slist *signed_headers; /* this request's, when signing; freed at the next */
	char errbuf[CURL_ERROR_SIZE];
};

struct lane {
	struct nh_deliver_item *q; /* FIFO ring behind cur */
	size_t head, len, cap;
	struct nh_deliver_item cur;
	bool has_cur;
	bool running;     /* cur is on the wire */
	bool handed_over; /* cur was given to nh_deliver_take() while running */
	int64_t due_ms;   /* !running: cur waits until then (monotonic) */
};

struct nh_report_limit {
	int64_t last_ms;
	uint64_t quiet; /* failures of this kind not reported since last_ms */
	bool printed;
};

/* Header and connect-to lists of earlier configurations: a running
 * request may still point at them (curl does not copy lists), so they live
 * as long as the engine. Reloads are rare. */
struct old_lists {
	struct curl_slist *list;
	struct old_lists *next;
};

struct nh_deliver {
	CURLM *multi;
	char *url;                     /* as requested: with tls.server_name as its host */
	char *url_shown;               /* for messages: no password, no query */
	struct curl_slist *headers;
	struct curl_slist *connect_to; /* tls.server_name: where to connect instead */
	struct nh_tls *tls;            /* NULL: curl's defaults (verify on) */
	struct nh_signer *signer;      /* NULL: requests are not signed */
	struct old_lists *old_lists;
	unsigned timeout_ms;
	unsigned gen;
	struct nh_retry_policy retry;
	bool have_retry;
	nh_deliver_result_fn on_result;
	void *ctx;

	struct nh_xfer *xfers;  /* one per lane */
	struct lane *lanes;
	unsigned pool_size;
	size_t queued;          /* items in the lanes' FIFOs */
	size_t held;            /* lanes with a cur */
	size_t running;
	size_t handed_over;     /* running and handed over */
	size_t queue_max;
	uint64_t rng;

	/* Retries fall due by this clock (tests step their own); deadlines
	 * given by the caller, and report rate limits, are real time. */
	const struct nh_clock *clock;
	int64_t failing_since;  /* engine_now() of the first failure since the last success; 0 */
	struct nh_deliver_stats stats;
	struct nh_report_limit reports[NH_FAIL_KINDS];
	char error[256];        /* why nh_deliver_poll() last returned -1 */
	bool curl_initialised;
};

static int64_t engine_now(const struct nh_deliver *d)
{
	return nh_clock_now_ms(d->clock);
}

/* The reply body is of no use to us, and leaving it unread would make curl
 * write it to stdout. */
static size_t discard_reply(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

static void report(struct nh_deliver *d, enum nh_fail_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One stderr line per kind per NH_REPORT_EVERY_MS: an unreachable endpoint
 * fails thousands of requests a second, and the stats carry the counts. */
static void report(struct nh_deliver *d, enum nh_fail_kind kind, const char *fmt, ...)
{
	struct nh_report_limit *r = &d->reports[kind];
	int64_t t = nh_mono_ms();
	char msg[512];
	va_list ap;

	if (r->printed && t - r->last_ms < NH_REPORT_EVERY_MS) {
		r->quiet++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->quiet)
		fprintf(stderr, "nanohook: webhook %s: %s (%llu more like it since the last report)\n",
			d->url_shown, msg, (unsigned long long)r->quiet);
	else
		fprintf(stderr, "nanohook: webhook %s: %s\n", d->url_shown, msg);
	r->printed = true;
	r->last_ms = t;
	r->quiet = 0;
}

/* Counts and reports one finished attempt. */
static void count(struct nh_deliver *d, long status, CURLcode rc, const char *errbuf)
{
	if (rc == CURLE_OK) {
		int cls = status >= 100 && status <= 599 ? (int)(status / 100) : 0;

		d->stats.by_status[cls]++;
		if (cls == 2) {
			d->stats.posted_ok++;
		} else {
			d->stats.failed_http++;
			report(d, NH_FAIL_HTTP, "HTTP status %ld", status);
		}
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		d->stats.failed_timeout++;
		report(d, NH_FAIL_TIMEOUT, "no reply within %u ms", d->timeout_ms);
	} else {
		d->stats.failed_transport++;
		report(d, NH_FAIL_TRANSPORT, "%s",
		       errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
}

/* ---- lanes ------------------------------------------------------------------ */

static struct lane *lane_of(struct nh_deliver *d, uint64_t key)
{
	return &d->lanes[key % d->pool_size];
}

static int lane_push(struct lane *l, const struct nh_deliver_item *it)
{
	if (l->len == l->cap) {
		/* Grow on demand: most of the time a lane is empty. */
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct nh_deliver_item *q = malloc(cap * sizeof(*q));

		if (!q)
			return -1;
		for (size_t i = 0; i < l->len; i++)
			q[i] = l->q[(l->head + i) % l->cap];
		free(l->q);
		l->q = q;
		l->cap = cap;
		l->head = 0;
	}
	l->q[(l->head + l->len) % l->cap] = *it;
	l->len++;
	return 0;
}

static struct nh_deliver_item lane_pop(struct lane *l)
{
	struct nh_deliver_item it = l->q[l->head];

	l->head = (l->head + 1) % l->cap;
	l->len--;
	return it;
}

/* Ends lane l's cur: it leaves the engine through on_result. */
static void finish(struct nh_deliver *d, struct lane *l, enum nh_deliver_outcome out,
		   long status, CURLcode rc, const char *error)
{
	struct nh_deliver_item it = l->cur;
	struct nh_deliver_result r = { .outcome = out, .http_status = (int)status, .rc = rc,
				       .error = error ? error : "" };

	l->has_cur = false;
	l->handed_over = false;
	d->held--;
	switch (out) {
	case NH_OUT_DELIVERED: break;
	case NH_OUT_REJECTED: d->stats.rejected++; break;
	case NH_OUT_GAVE_UP_ATTEMPTS: d->stats.gave_up_attempts++; break;
	case NH_OUT_GAVE_UP_AGE: d->stats.gave_up_age++; break;
	case NH_OUT_RELEASED: d->stats.released++; break;
	}
	if (d->on_result) {
		d->on_result(d->ctx, &it, &r);
		return;
	}
	free(it.body);
}

/* The options that a reload may change. */
static int apply_config(struct nh_deliver *d, struct nh_xfer *x)
{
	CURL *e = x->easy;

	if (curl_easy_setopt(e, CURLOPT_URL, d->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECT_TO, d->connect_to) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms) != CURLE_OK ||
	    nh_tls_apply(d->tls, e) < 0)
		return -1;
	x->gen = d->gen;
	return 0;
}

/* The configured headers plus the Standard Webhooks ones for this attempt
 * (a fresh timestamp each time: receivers refuse old ones). */
static struct curl_slist *signed_headers(struct nh_deliver *d, const struct nh_deliver_item *it)
{
	char id[NH_WEBHOOK_ID_LEN + 1], sig[NH_SIGNATURE_LEN + 1], line[128];
	struct curl_slist *list = NULL, *l;
	int64_t ts = (int64_t)(nh_wall_ms() / 1000);

	nh_webhook_id(it->captured_ms, it->seq, it->body, it->len, id);
	if (nh_sign(d->signer, id, ts, it->body, it->len, sig) < 0)
		return NULL;
	for (const struct curl_slist *h = d->headers; h; h = h->next) {
		if (!(l = curl_slist_append(list, h->data)))
			goto oom;
		list = l;
	}
	snprintf(line, sizeof(line), "webhook-id: %s", id);
	if (!(l = curl_slist_append(list, line)))
		goto oom;
	list = l;
	snprintf(line, sizeof(line), "webhook-timestamp: %lld", (long long)ts);
	if (!(l = curl_slist_append(list, line)))
		goto oom;
	list = l;
	snprintf(line, sizeof(line), "webhook-signature: %s", sig);
	if (!(l = curl_slist_append(list, line)))
		goto oom;
	return l;
oom:
	curl_slist_free_all(list);
	return NULL;
}

/* Sends lane l's next item: its cur (a retry) or the first in its FIFO.
 * The caller has checked that the lane is idle and has one. */
static void start(struct nh_deliver *d, struct lane *l)
{
	unsigned idx = (unsigned)(l - d->lanes);
	struct nh_xfer *x = &d->xfers[idx];
	CURLMcode mc;

	if (!l->has_cur) {
		l->cur = lane_pop(l);
		l->has_cur = true;
		d->queued--;
		d->held++;
	}
	x->errbuf[0] = '\0';
	if (x->gen != d->gen && apply_config(d, x) < 0) {
		count(d, 0, CURLE_OUT_OF_MEMORY, "cannot set up the request");
		finish(d, l, NH_OUT_GAVE_UP_ATTEMPTS, 0, CURLE_OUT_OF_MEMORY,
		       "cannot set up the request");
		return;
	}
	if (d->signer) {
		/* The last request of this handle is over: its list can go. */
		curl_slist_free_all(x->signed_headers);
		x->signed_headers = signed_headers(d, &l->cur);
		if (!x->signed_headers) {
			count(d, 0, CURLE_OUT_OF_MEMORY, "cannot sign the request");
			finish(d, l, NH_OUT_GAVE_UP_ATTEMPTS, 0, CURLE_OUT_OF_MEMORY,
			       "cannot sign the request");
			return;
		}
		curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->signed_headers);
	}
	/* Points at our buffer, no copy: it lives until the request is
	 * finished. The size is set after the pointer so that binary bodies
	 * are never strlen'd. */
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, l->cur.len ? l->cur.body : "");
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)l->cur.len);
	mc = curl_multi_add_handle(d->multi, x->easy);
	if (mc != CURLM_OK) {
		/* Only a bug or out of memory gets here; fail the one item. */
		count(d, 0, CURLE_OUT_OF_MEMORY, curl_multi_strerror(mc));
		finish(d, l, NH_OUT_GAVE_UP_ATTEMPTS, 0, CURLE_OUT_OF_MEMORY,
		       curl_multi_strerror(mc));
		return;
	}
	l->running = true;
	d->running++;
}

/* Starts lane l if it is idle and has something due. */
static void kick(struct nh_deliver *d, struct lane *l, int64_t now)
{
	/* finish() from a failed start may leave the lane idle again with
	 * more behind: loop, but only while nothing is on the wire. */
	while (!l->running) {
		if (l->has_cur) {
			if (l->due_ms > now)
				return;
		} else if (l->len == 0) {
			return;
		}
		start(d, l);
	}
}

int nh_deliver_submit_item(struct nh_deliver *d, const struct nh_deliver_item *it)
{
	struct lane *l = lane_of(d, it->key);

	if (d->queued >= d->queue_max || lane_push(l, it) < 0) {
		d->stats.queue_full++;
		return -1;
	}
	d->queued++;
	kick(d, l, engine_now(d));
	return 0;
}

/* ---- finished requests --------------------------------------------------------- */

/* The Retry-After of the reply on x, in ms; false if there is none or it
 * is unreadable. */
static bool retry_after(struct nh_xfer *x, uint64_t *ms)
{
	struct curl_header *h;

	if (curl_easy_header(x->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return false;
	return nh_retry_after_parse(h->value, strlen(h->value), (int64_t)(nh_wall_ms() / 1000),
				    ms) == 0;
}

/* Decides what becomes of lane l's cur after an attempt. */
static void settle(struct nh_deliver *d, struct lane *l, struct nh_xfer *x, long status,
		   CURLcode rc)
{
	enum nh_attempt_class cls = nh_retry_classify(rc == CURLE_OK, (int)status);
	const char *error = rc == CURLE_OK ? "" : x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	int64_t t = engine_now(d);
	uint64_t delay;

	if (cls == NH_ATTEMPT_OK) {
		uint64_t w = nh_wall_ms();

		d->failing_since = 0;
		if (w >= l->cur.captured_ms)
			nh_hist_observe(&d->stats.latency_s, (double)(w - l->cur.captured_ms) / 1000.0);
		finish(d, l, NH_OUT_DELIVERED, status, rc, "");
		return;
	}
	if (!d->failing_since)
		d->failing_since = t ? t : 1;
	l->cur.attempts++;
	if (cls == NH_ATTEMPT_PERMANENT) {
		finish(d, l, NH_OUT_REJECTED, status, rc, error);
		return;
	}
	if (l->handed_over) {
		finish(d, l, NH_OUT_RELEASED, status, rc, error);
		return;
	}
	if (!d->have_retry || l->cur.attempts >= d->retry.max_attempts) {
		finish(d, l, NH_OUT_GAVE_UP_ATTEMPTS, status, rc, error);
		return;
	}
	if (d->retry.max_age_ms && nh_wall_ms() >= l->cur.captured_ms + d->retry.max_age_ms) {
		finish(d, l, NH_OUT_GAVE_UP_AGE, status, rc, error);
		return;
	}
	if (rc == CURLE_OK && retry_after(x, &delay)) {
		if (delay > d->retry.max_delay_ms)
			delay = d->retry.max_delay_ms;
	} else {
		delay = nh_retry_backoff_ms(&d->retry, l->cur.attempts, nh_retry_random(&d->rng));
	}
	l->due_ms = t + (int64_t)delay;
	d->stats.retried++;
}

/* Settles every finished request and refills the lanes that are free.
 * Returns how many requests were started. */
static unsigned harvest(struct nh_deliver *d)
{
	size_t before = d->running;
	unsigned finished = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left))) {
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		char *priv = NULL;
		long status = 0;
		curl_off_t took = 0;
		struct nh_xfer *x;
		struct lane *l;

		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is invalid once the handle is removed: read it first. */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &took);
		curl_multi_remove_handle(d->multi, easy);
		x = (struct nh_xfer *)(void *)priv;
		l = &d->lanes[x - d->xfers];
		l->running = false;
		d->running--;
		if (l->handed_over)
			d->handed_over--;
		finished++;
		nh_hist_observe(&d->stats.request_s, (double)took / 1e6);
		count(d, status, rc, x->errbuf);
		settle(d, l, x, status, rc);
		kick(d, l, engine_now(d));
	}
	/* Requests started here (the lanes' next items) are new work. */
	return (unsigned)(d->running + finished - before);
}

/* Starts the retries that are due. */
static void start_due(struct nh_deliver *d)
{
	int64_t now;

	if (d->held == d->running)
		return;
	now = engine_now(d);
	for (unsigned i = 0; i < d->pool_size; i++) {
		struct lane *l = &d->lanes[i];

		if (l->has_cur && !l->running && l->due_ms <= now)
			kick(d, l, now);
	}
}

int64_t nh_deliver_next_retry_ms(const struct nh_deliver *d)
{
	int64_t now, best = -1;

	if (d->held == d->running)
		return -1;
	now = engine_now(d);
	for (unsigned i = 0; i < d->pool_size; i++) {
		const struct lane *l = &d->lanes[i];

		if (l->has_cur && !l->running) {
			int64_t left = l->due_ms > now ? l->due_ms - now : 0;

			if (best < 0 || left < best)
				best = left;
		}
	}
	return best;
}

/* Runs curl's state machines; a second round sends requests that harvest
 * just started, instead of leaving them for the next poll. */
static int step(struct nh_deliver *d)
{
	for (int round = 0; round < 2; round++) {
		int running;
		CURLMcode mc = curl_multi_perform(d->multi, &running);

		if (mc != CURLM_OK) {
			snprintf(d->error, sizeof(d->error), "curl_multi_perform: %s",
				 curl_multi_strerror(mc));
			return -1;
		}
		if (harvest(d) == 0)
			break;
	}
	return 0;
}

int nh_deliver_poll(struct nh_deliver *d, int extra_fd, int timeout_ms)
{
	struct curl_waitfd wfd = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
	int64_t due = nh_deliver_next_retry_ms(d);
	CURLMcode mc;

	if (timeout_ms < 0)
		timeout_ms = 0;
	if (due >= 0 && due < timeout_ms)
		timeout_ms = (int)due;
	mc = curl_multi_poll(d->multi, extra_fd >= 0 ? &wfd : NULL, extra_fd >= 0 ? 1 : 0,
			     timeout_ms, NULL);
	if (mc != CURLM_OK) {
		snprintf(d->error, sizeof(d->error), "curl_multi_poll: %s",
			 curl_multi_strerror(mc));
		return -1;
	}
	start_due(d);
	return step(d);
}

void nh_deliver_wakeup(struct nh_deliver *d)
{
	curl_multi_wakeup(d->multi);
}

size_t nh_deliver_in_flight(const struct nh_deliver *d)
{
	return d->queued + d->held;
}

size_t nh_deliver_running(const struct nh_deliver *d)
{
	return d->running;
}

size_t nh_deliver_handed_over(const struct nh_deliver *d)
{
	return d->handed_over;
}

int64_t nh_deliver_failing_ms(const struct nh_deliver *d)
{
	return d->failing_since ? engine_now(d) - d->failing_since : 0;
}

size_t nh_deliver_drain(struct nh_deliver *d, int deadline_ms)
{
	int64_t end = nh_mono_ms() + (deadline_ms > 0 ? deadline_ms : 0);

	while (nh_deliver_in_flight(d) > 0) {
		int64_t left = end - nh_mono_ms();
		int64_t due = nh_deliver_next_retry_ms(d);

		if (left <= 0)
			break;
		/* Nothing on the wire and every retry due after the end:
		 * waiting would change nothing. */
		if (d->running == 0 && (due < 0 || due > left))
			break;
		if (nh_deliver_poll(d, -1, (int)left) < 0)
			break;
	}
	return nh_deliver_in_flight(d);
}

void nh_deliver_abort(struct nh_deliver *d)
{
	for (unsigned i = 0; i < d->pool_size; i++) {
		struct lane *l = &d->lanes[i];

		if (!l->running)
			continue;
		curl_multi_remove_handle(d->multi, d->xfers[i].easy);
		l->running = false;
		d->running--;
		if (l->handed_over) {
			d->handed_over--;
			finish(d, l, NH_OUT_RELEASED, 0, CURLE_ABORTED_BY_CALLBACK, "aborted");
		} else {
			l->due_ms = 0;
		}
	}
}

struct taken {
	struct nh_deliver_item *it;
	struct lane *running_in; /* NULL: not running */
};

static int cmp_taken(const void *a, const void *b)
{
	uint64_t x = ((const struct taken *)a)->it->seq, y = ((const struct taken *)b)->it->seq;

	return (x > y) - (x < y);
}

size_t nh_deliver_take(struct nh_deliver *d, nh_deliver_take_fn fn, void *ctx)
{
	size_t n = d->queued + d->held, k = 0;
	struct taken *all;

	if (n == 0)
		return 0;
	all = malloc(n * sizeof(*all));
	if (!all) {
		/* Out of memory: one lane at a time still keeps each lane's
		 * order, which is all the order there is. */
		for (unsigned i = 0; i < d->pool_size; i++) {
			struct lane *l = &d->lanes[i];

			if (l->has_cur) {
				fn(ctx, &l->cur, l->running);
				k++;
			}
			for (size_t j = 0; j < l->len; j++, k++)
				fn(ctx, &l->q[(l->head + j) % l->cap], false);
		}
		goto clear;
	}
	for (unsigned i = 0; i < d->pool_size; i++) {
		struct lane *l = &d->lanes[i];

		if (l->has_cur)
			all[k++] = (struct taken){ &l->cur, l->running ? l : NULL };
		for (size_t j = 0; j < l->len; j++)
			all[k++] = (struct taken){ &l->q[(l->head + j) % l->cap], NULL };
	}
	qsort(all, k, sizeof(*all), cmp_taken);
	for (size_t j = 0; j < k; j++)
		fn(ctx, all[j].it, all[j].running_in != NULL);
	free(all);
clear:
	for (unsigned i = 0; i < d->pool_size; i++) {
		struct lane *l = &d->lanes[i];

		d->queued -= l->len;
		l->len = 0;
		l->head = 0;
		if (l->has_cur && l->running) {
			if (!l->handed_over)
				d->handed_over++;
			l->handed_over = true;
		} else if (l->has_cur) {
			l->has_cur = false;
			d->held--;
		}
	}
	return k;
}

/* ---- setup -------------------------------------------------------------------- */

/* Header names and values go into the request verbatim: refuse anything
 * that would let a config value start a new header line. */
static bool header_ok(const struct nh_header *h)
{
	if (!h->name || !h->name[0] || !h->value)
		return false;
	if (strpbrk(h->name, ":\r\n \t") || strpbrk(h->value, "\r\n"))
		return false;
	return true;
}

static struct curl_slist *build_headers(const struct nh_deliver_opts *o, char *err, size_t errlen)
{
	bool have_ctype = false, have_expect = false;
	struct curl_slist *list = NULL, *l;

	for (size_t i = 0; i < o->n_headers; i++) {
		const struct nh_header *h = &o->headers[i];
		char *line;

		if (!header_ok(h)) {
			snprintf(err, errlen, "header %zu (%s): name or value not allowed in HTTP",
				 i + 1, h->name ? h->name : "(null)");
			curl_slist_free_all(list);
			return NULL;
		}
		have_ctype |= strcasecmp(h->name, "content-type") == 0;
		have_expect |= strcasecmp(h->name, "expect") == 0;
		/* curl drops "Name:" (empty value); "Name;" sends it empty. */
		if (asprintf(&line, h->value[0] ? "%s: %s" : "%s;", h->name, h->value) < 0)
			goto oom;
		l = curl_slist_append(list, line);
		free(line);
		if (!l)
			goto oom;
		list = l;
	}
	if (!have_ctype) {
		if (!(l = curl_slist_append(list, "Content-Type: application/json")))
			goto oom;
		list = l;
	}
	/* curl would otherwise wait up to 1 s for "100 Continue" on bodies
	 * over 1 MiB, and some servers never send it. */
	if (!have_expect) {
		if (!(l = curl_slist_append(list, "Expect:")))
			goto oom;
		list = l;
	}
	return list;
oom:
	curl_slist_free_all(list);
	snprintf(err, errlen, "out of memory");
	return NULL;
}

static int setup_easy(struct nh_deliver *d, struct nh_xfer *x)
{
	CURL *e = curl_easy_init();

	if (!e)
		return -1;
	x->easy = e;
	if (apply_config(d, x) < 0 ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_reply) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(void *)x) != CURLE_OK)
		return -1;
	return 0;
}

/* What a configuration says about where and how to send. */
struct endpoint {
	char *url, *url_shown;
	struct curl_slist *headers, *connect_to;
	struct nh_tls *tls;
	struct nh_signer *signer;
};

static void endpoint_free(struct endpoint *ep)
{
	free(ep->url);
	free(ep->url_shown);
	curl_slist_free_all(ep->headers);
	curl_slist_free_all(ep->connect_to);
	nh_tls_free(ep->tls);
	nh_signer_free(ep->signer);
	memset(ep, 0, sizeof(*ep));
}

static int endpoint_build(const struct nh_deliver_opts *o, struct endpoint *ep, char *err,
			  size_t errlen)
{
	memset(ep, 0, sizeof(*ep));
	if (nh_url_check(o->url, err, errlen) < 0)
		return -1;
	if (nh_url_route(o->url, nh_tls_server_name(o->tls), &ep->url, &ep->connect_to, err,
			 errlen) < 0)
		goto fail;
	ep->headers = build_headers(o, err, errlen);
	if (!ep->headers)
		goto fail;
	ep->url_shown = nh_url_redact(o->url);
	if (!ep->url_shown || (o->tls && !(ep->tls = nh_tls_dup(o->tls))) ||
	    (o->signer && !(ep->signer = nh_signer_dup(o->signer)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	endpoint_free(ep);
	return -1;
}

static void retire_list(struct nh_deliver *d, struct old_lists *node, struct curl_slist *list)
{
	if (!list) {
		free(node);
		return;
	}
	node->list = list;
	node->next = d->old_lists;
	d->old_lists = node;
}

/* Moves ep into d; the lists it replaces stay until the engine goes.
 * Fails (d and ep unchanged) only when out of memory. */
static int endpoint_install(struct nh_deliver *d, struct endpoint *ep)
{
	struct old_lists *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));

	if (!a || !b) {
		free(a);
		free(b);
		return -1;
	}
	retire_list(d, a, d->headers);
	retire_list(d, b, d->connect_to);
	free(d->url);
	free(d->url_shown);
	nh_tls_free(d->tls);
	nh_signer_free(d->signer);
	d->url = ep->url;
	d->url_shown = ep->url_shown;
	d->headers = ep->headers;
	d->connect_to = ep->connect_to;
	d->tls = ep->tls;
	d->signer = ep->signer;
	memset(ep, 0, sizeof(*ep));
	return 0;
}

static void set_retry(struct nh_deliver *d, const struct nh_retry_policy *p)
{
	d->have_retry = p != NULL;
	if (p)
		d->retry = *p;
}

struct nh_deliver *nh_deliver_new(const struct nh_deliver_opts *o, char *err, size_t errlen)
{
	struct endpoint ep;
	struct nh_deliver *d;
	long pool;

	if (!o->url || !o->url[0]) {
		snprintf(err, errlen, "no webhook url");
		return NULL;
	}
	if (o->pool_size < 1 || o->pool_size > 65536) {
		snprintf(err, errlen, "pool_size %u: must be 1 to 65536", o->pool_size);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* curl_global_init is not thread-safe in every libcurl build; this is
	 * called at startup, before nanohook starts any thread that uses curl
	 * or TLS. It is reference-counted, so each engine balances it in
	 * nh_deliver_free(). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		goto fail;
	}
	d->curl_initialised = true;

	d->timeout_ms = o->timeout_ms;
	d->on_result = o->on_result;
	d->ctx = o->ctx;
	d->clock = o->clock;
	d->queue_max = o->queue_max;
	d->pool_size = o->pool_size;
	d->rng = nh_retry_seed();
	set_retry(d, o->retry);
	if (endpoint_build(o, &ep, err, errlen) < 0)
		goto fail;
	if (endpoint_install(d, &ep) < 0) {
		endpoint_free(&ep);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	d->xfers = calloc(o->pool_size, sizeof(*d->xfers));
	d->lanes = calloc(o->pool_size, sizeof(*d->lanes));
	d->multi = curl_multi_init();
	if (!d->xfers || !d->lanes || !d->multi) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}

	pool = (long)o->pool_size;
	curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, pool);
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, pool);
	curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, pool);

	for (unsigned i = 0; i < o->pool_size; i++) {
		if (setup_easy(d, &d->xfers[i]) < 0) {
			snprintf(err, errlen, "cannot set up a curl handle");
			goto fail;
		}
	}
	return d;
fail:
	nh_deliver_free(d);
	return NULL;
}

int nh_deliver_reconfigure(struct nh_deliver *d, const struct nh_deliver_opts *o,
			   char *err, size_t errlen)
{
	struct endpoint ep;

	if (o->pool_size != d->pool_size) {
		snprintf(err, errlen, "pool_size %u -> %u: takes effect at the next start",
			 d->pool_size, o->pool_size);
		return -1;
	}
	if (endpoint_build(o, &ep, err, errlen) < 0)
		return -1;
	if (endpoint_install(d, &ep) < 0) {
		endpoint_free(&ep);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->timeout_ms = o->timeout_ms;
	d->queue_max = o->queue_max;
	set_retry(d, o->retry);
	d->gen++;
	return 0;
}

void nh_deliver_stats(const struct nh_deliver *d, struct nh_deliver_stats *s)
{
	*s = d->stats;
}

const char *nh_deliver_last_error(const struct nh_deliver *d)
{
	return d->error;
}

void nh_deliver_free(struct nh_deliver *d)
{
	if (!d)
		return;
	for (unsigned i = 0; d->lanes && i < d->pool_size; i++) {
		struct lane *l = &d->lanes[i];

		if (l->running && d->multi)
			curl_multi_remove_handle(d->multi, d->xfers[i].easy);
		if (l->has_cur)
			free(l->cur.body);
		for (size_t j = 0; j < l->len; j++)
			free(l->q[(l->head + j) % l->cap].body);
		free(l->q);
	}
	for (unsigned i = 0; d->xfers && i < d->pool_size; i++) {
		if (d->xfers[i].easy)
			curl_easy_cleanup(d->xfers[i].easy);
		curl_slist_free_all(d->xfers[i].signed_headers);
	}
	free(d->lanes);
	free(d->xfers);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	curl_slist_free_all(d->headers);
	curl_slist_free_all(d->connect_to);
	while (d->old_lists) {
		struct old_lists *o = d->old_lists;

		d->old_lists = o->next;
		curl_slist_free_all(o->list);
		free(o);
	}
	free(d->url);
	free(d->url_shown);
	nh_tls_free(d->tls);
	nh_signer_free(d->signer);
	if (d->curl_initialised)
		curl_global_cleanup();
	free(d);
}
