/* SPDX-License-Identifier: MIT */
/*
 * HTTP delivery over libcurl's multi interface. See deliver.h.
 *
 * Lane i owns `inflight` slots, each with its own easy handle for the life
 * of the engine; a slot has at most one request on the wire. The
 * connections live in the multi handle's cache, so a slot that finishes
 * hands its connection to the next request instead of opening a new one
 * (NanoMQ opens one per request).
 *
 * A slot holds the item being sent or waiting for its retry; the lane's
 * FIFO holds the items behind them. With one slot per lane nothing behind
 * it is sent before it is finished: that is the ordering promise.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clock.h"
#include "deliver.h"
#include "itemq.h"
#include "sign.h"
#include "url.h"
#include "tls.h"

/* stderr reports, at most one line per kind per this many ms. */
#define NH_REPORT_EVERY_MS 5000
/* The longest a circuit stays open before the next probe. */
#define CIRCUIT_OPEN_MAX_MS 60000
#define CIRCUIT_OPEN_DEFAULT_MS 5000
/* HTTP/2 streams per connection curl is asked to use (servers commonly
 * allow 100 or more). */
#define H2_STREAMS_PER_CONN 100

enum nh_fail_kind { NH_FAIL_HTTP, NH_FAIL_TRANSPORT, NH_FAIL_TIMEOUT, NH_FAIL_KINDS };

struct nh_deliver;

/* One request's worth of a lane. */
struct slot {
	struct nh_deliver *owner;  /* the hub hands finished requests back by it */
	unsigned lane;
	CURL *easy;
	unsigned gen;              /* the configuration the handle was set up with */
	struct curl_slist *signed_headers; /* this request's, when signing; freed at the next */
	char errbuf[CURL_ERROR_SIZE];

	struct nh_deliver_item it;
	bool has_it;
	bool running;     /* it is on the wire */
	bool handed_over; /* it was given to nh_deliver_take() while running */
	bool probe;       /* this request probes a half-open circuit */
	int64_t due_ms;   /* !running: it waits until then (monotonic) */
	unsigned ep;      /* the endpoint of the current (or last) attempt */
	int failed_ep;    /* the endpoint that failed the last attempt; -1 */
};

struct lane {
	struct nh_itemq q;         /* waiting behind the slots */
	struct slot *slots;        /* inflight of them */
	unsigned running;          /* slots on the wire */
	unsigned ep;               /* the endpoint while something is on the wire */
};

struct nh_report_limit {
	int64_t last_ms;
	uint64_t quiet; /* failures of this kind not reported since last_ms */
	bool printed;
};

/* One url of the pool, and what the engine knows of its health. */
struct endpoint {
	char *url_conf;                /* as configured */
	char *url;                     /* as requested: with tls.server_name as its host */
	char *url_shown;               /* for messages: no password, no query */
	struct curl_slist *connect_to; /* tls.server_name: where to connect instead */
	enum nh_circuit circuit;
	unsigned failures_in_row;
	int64_t open_until;            /* engine clock: OPEN until then */
	uint64_t open_ms;              /* how long the next opening lasts */
	bool probing;                  /* HALF_OPEN: the probe is on the wire */
	uint64_t since_wall_ms;
	struct nh_endpoint_stats st;   /* counters; the rest is filled when asked */
	struct nh_report_limit reports[NH_FAIL_KINDS];
};

/* Header and connect-to lists of earlier configurations: a running
 * request may still point at them (curl does not copy lists), so they live
 * as long as the engine. Reloads are rare. */
struct old_lists {
	struct curl_slist *list;
	struct old_lists *next;
};

struct nh_deliver_hub {
	CURLM *multi;
	struct nh_deliver **engines;
	size_t n_engines;
	long max_host, max_cached;     /* the sum and the largest of the engines' needs */
	bool curl_initialised;
	char error[256];
};

struct nh_deliver {
	struct nh_deliver_hub *hub;
	bool own_hub;
	CURLM *multi;                  /* the hub's */
	struct endpoint *eps;
	size_t n_eps;
	enum nh_balance balance;
	unsigned rr;                   /* round_robin's next endpoint */
	unsigned circuit_failures;
	uint64_t circuit_open_ms;
	bool http2;
	struct curl_slist *headers;
	struct nh_tls *tls;            /* NULL: curl's defaults (verify on) */
	struct nh_signer *signer;      /* NULL: requests are not signed */
	struct old_lists *old_lists;
	unsigned timeout_ms;
	unsigned gen;
	struct nh_retry_policy retry;
	bool have_retry;
	nh_deliver_result_fn on_result;
	void *ctx;

	struct lane *lanes;
	unsigned n_lanes;       /* pool_size per endpoint: each has its own */
	unsigned pool_size;
	unsigned inflight;      /* slots per lane */
	size_t queued;          /* items in the lanes' FIFOs */
	size_t held;            /* slots with an item */
	size_t running;
	size_t handed_over;     /* running and handed over */
	size_t queue_max;
	uint64_t rng;

	/* Retries and circuits fall due by this clock (tests step their
	 * own); deadlines given by the caller, and report rate limits, are
	 * real time. */
	const struct nh_clock *clock;
	int64_t failing_since;  /* engine_now() of the first failure since the last success; 0 */
	struct nh_deliver_stats stats;
	char error[256];        /* why nh_deliver_poll() last returned -1 */
};

static int64_t engine_now(const struct nh_deliver *d)
{
	return nh_clock_now_ms(d->clock);
}

const char *nh_circuit_name(enum nh_circuit c)
{
	switch (c) {
	case NH_CIRCUIT_CLOSED: return "closed";
	case NH_CIRCUIT_OPEN: return "open";
	case NH_CIRCUIT_HALF_OPEN: return "half_open";
	}
	return "?";
}

/* The reply body is of no use to us, and leaving it unread would make curl
 * write it to stdout. */
static size_t discard_reply(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

static void report(struct endpoint *ep, enum nh_fail_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One stderr line per kind per NH_REPORT_EVERY_MS and endpoint: an
 * unreachable endpoint fails thousands of requests a second, and the
 * stats carry the counts. */
static void report(struct endpoint *ep, enum nh_fail_kind kind, const char *fmt, ...)
{
	struct nh_report_limit *r = &ep->reports[kind];
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
			ep->url_shown, msg, (unsigned long long)r->quiet);
	else
		fprintf(stderr, "nanohook: webhook %s: %s\n", ep->url_shown, msg);
	r->printed = true;
	r->last_ms = t;
	r->quiet = 0;
}

/* Counts and reports one finished attempt. */
static void count(struct nh_deliver *d, struct endpoint *ep, long status, CURLcode rc,
		  const char *errbuf)
{
	ep->st.requests++;
	if (rc == CURLE_OK) {
		int cls = status >= 100 && status <= 599 ? (int)(status / 100) : 0;

		d->stats.by_status[cls]++;
		if (cls == 2) {
			d->stats.posted_ok++;
			ep->st.ok++;
		} else {
			d->stats.failed_http++;
			ep->st.failed_http++;
			report(ep, NH_FAIL_HTTP, "HTTP status %ld", status);
		}
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		d->stats.failed_timeout++;
		ep->st.failed_timeout++;
		report(ep, NH_FAIL_TIMEOUT, "no reply within %u ms", d->timeout_ms);
	} else {
		d->stats.failed_transport++;
		ep->st.failed_transport++;
		report(ep, NH_FAIL_TRANSPORT, "%s",
		       errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
}

/* ---- circuits ------------------------------------------------------------------ */

static void circuit_set(struct endpoint *ep, enum nh_circuit c)
{
	ep->circuit = c;
	ep->since_wall_ms = nh_wall_ms();
}

/* Can a request go to ep now? An open circuit whose time is up lets one
 * probe through. */
static bool ep_available(const struct endpoint *ep, int64_t now)
{
	switch (ep->circuit) {
	case NH_CIRCUIT_CLOSED:
		return true;
	case NH_CIRCUIT_OPEN:
		return now >= ep->open_until;
	case NH_CIRCUIT_HALF_OPEN:
		return !ep->probing;
	}
	return false;
}

/* A request is about to go to ep: a due open circuit becomes half-open,
 * and this request is its probe. */
static void ep_claim(struct endpoint *ep, struct slot *s, int64_t now)
{
	s->probe = false;
	if (ep->circuit == NH_CIRCUIT_OPEN && now >= ep->open_until)
		circuit_set(ep, NH_CIRCUIT_HALF_OPEN);
	if (ep->circuit == NH_CIRCUIT_HALF_OPEN && !ep->probing) {
		ep->probing = true;
		s->probe = true;
	}
}

/* What one attempt says of its endpoint's health: a reply that is not a
 * server failure means it is up (a 400 is the body's fault). */
static void ep_settle(struct nh_deliver *d, struct endpoint *ep, struct slot *s, bool up)
{
	int64_t now = engine_now(d);

	if (s->probe) {
		ep->probing = false;
		s->probe = false;
	}
	if (up) {
		ep->failures_in_row = 0;
		if (ep->circuit != NH_CIRCUIT_CLOSED) {
			fprintf(stderr, "nanohook: webhook %s: answers again; circuit closed\n",
				ep->url_shown);
			circuit_set(ep, NH_CIRCUIT_CLOSED);
		}
		ep->open_ms = d->circuit_open_ms;
		return;
	}
	ep->failures_in_row++;
	if (!d->circuit_failures)
		return;
	if (ep->circuit == NH_CIRCUIT_HALF_OPEN ||
	    (ep->circuit == NH_CIRCUIT_CLOSED && ep->failures_in_row >= d->circuit_failures)) {
		if (ep->circuit == NH_CIRCUIT_HALF_OPEN) {
			ep->open_ms *= 2;
			if (ep->open_ms > CIRCUIT_OPEN_MAX_MS)
				ep->open_ms = CIRCUIT_OPEN_MAX_MS;
		}
		ep->open_until = now + (int64_t)ep->open_ms;
		ep->st.circuit_opened++;
		circuit_set(ep, NH_CIRCUIT_OPEN);
		if (d->n_eps > 1)
			fprintf(stderr, "nanohook: webhook %s: %u failures in a row; circuit open, "
				"its events go to the other endpoints, a probe in %llu ms\n",
				ep->url_shown, ep->failures_in_row, (unsigned long long)ep->open_ms);
	}
}

/* The endpoint for the next request of lane l, by the balance mode: the
 * first available one in the mode's order, skipping `avoid` (the one
 * that just failed this item) if another is available; with none
 * available, the mode's first choice. */
static unsigned ep_pick(struct nh_deliver *d, unsigned lane, int avoid, int64_t now)
{
	unsigned n = (unsigned)d->n_eps, first;
	int fallback = -1;

	if (n == 1)
		return 0;
	switch (d->balance) {
	case NH_BALANCE_HASH: first = lane % n; break;
	case NH_BALANCE_ROUND_ROBIN: first = d->rr++ % n; break;
	default: first = 0; break;
	}
	for (unsigned j = 0; j < n; j++) {
		unsigned i = (first + j) % n;

		if (!ep_available(&d->eps[i], now))
			continue;
		if ((int)i != avoid)
			return i;
		fallback = (int)i;
	}
	return fallback >= 0 ? (unsigned)fallback : first;
}

/* ---- lanes ------------------------------------------------------------------ */

static struct lane *lane_of(struct nh_deliver *d, uint64_t key)
{
	return &d->lanes[key % d->n_lanes];
}

/* Ends slot s's item: it leaves the engine through on_result. */
static void finish(struct nh_deliver *d, struct slot *s, enum nh_deliver_outcome out,
		   long status, CURLcode rc, const char *error)
{
	struct nh_deliver_item it = s->it;
	struct nh_deliver_result r = { .outcome = out, .http_status = (int)status, .rc = rc,
				       .error = error ? error : "" };

	s->has_it = false;
	s->handed_over = false;
	s->failed_ep = -1;
	d->held--;
	nh_item_finished(&d->stats, d->on_result, d->ctx, &it, &r);
}

/* The options that a reload may change. */
static int apply_config(struct nh_deliver *d, struct slot *s)
{
	CURL *e = s->easy;

	if (curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms) != CURLE_OK ||
	    nh_tls_apply(d->tls, e) < 0)
		return -1;
	s->gen = d->gen;
	return 0;
}

/* HTTP/2 where ALPN offers it, on https:// urls. Not h2c on http://:
 * libcurl 7.88 (Debian 12) fails multiplexed prior-knowledge streams with
 * "Error in the HTTP2 framing layer" (its own curl --parallel does too,
 * against nginx), so http:// stays HTTP/1.1 and config.c says so. */
static long http_version(const struct nh_deliver *d, const struct endpoint *ep)
{
	if (!d->http2 || strncasecmp(ep->url_conf, "https://", 8))
		return CURL_HTTP_VERSION_1_1;
	return CURL_HTTP_VERSION_2TLS;
}

/* The configured headers plus the Standard Webhooks ones for this attempt
 * (a fresh timestamp each time: receivers refuse old ones). */
static struct curl_slist *signed_headers(struct nh_deliver *d, const struct nh_deliver_item *it)
{
	char id[NH_WEBHOOK_ID_LEN + 1], sig[NH_SIGNATURE_LEN + 1], line[128];
	struct curl_slist *list = NULL, *l;
	int64_t ts = (int64_t)(nh_wall_ms() / 1000);

	nh_webhook_id(it->captured_ms, it->id, it->body, it->len, id);
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

/* A request that could not be set up: only a bug or out of memory. */
static void fail_start(struct nh_deliver *d, struct slot *s, const char *why)
{
	struct endpoint *ep = &d->eps[s->ep];

	count(d, ep, 0, CURLE_OUT_OF_MEMORY, why);
	if (s->probe) {
		ep->probing = false;
		s->probe = false;
	}
	finish(d, s, NH_OUT_GAVE_UP_ATTEMPTS, 0, CURLE_OUT_OF_MEMORY, why);
}

/* Sends slot s's item (a retry), or the first in its lane's FIFO. The
 * caller has checked that the slot is idle and there is one. */
static void start(struct nh_deliver *d, struct lane *l, struct slot *s, int64_t now)
{
	struct endpoint *ep;
	CURLMcode mc;

	if (!s->has_it) {
		s->it = nh_itemq_pop(&l->q);
		s->has_it = true;
		s->failed_ep = -1;
		d->queued--;
		d->held++;
	}
	/* A lane moves to another endpoint only with nothing on the wire. */
	if (l->running == 0)
		l->ep = ep_pick(d, s->lane, s->failed_ep, now);
	s->ep = l->ep;
	ep = &d->eps[s->ep];
	ep_claim(ep, s, now);
	s->errbuf[0] = '\0';
	if (s->gen != d->gen && apply_config(d, s) < 0) {
		fail_start(d, s, "cannot set up the request");
		return;
	}
	if (curl_easy_setopt(s->easy, CURLOPT_URL, ep->url) != CURLE_OK ||
	    curl_easy_setopt(s->easy, CURLOPT_CONNECT_TO, ep->connect_to) != CURLE_OK ||
	    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, http_version(d, ep)) != CURLE_OK) {
		fail_start(d, s, "cannot set up the request");
		return;
	}
	if (d->signer) {
		/* The last request of this handle is over: its list can go. */
		curl_slist_free_all(s->signed_headers);
		s->signed_headers = signed_headers(d, &s->it);
		if (!s->signed_headers) {
			fail_start(d, s, "cannot sign the request");
			return;
		}
		curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->signed_headers);
	}
	/* Points at our buffer, no copy: it lives until the request is
	 * finished. The size is set after the pointer so that binary bodies
	 * are never strlen'd. */
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->it.len ? s->it.body : "");
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->it.len);
	mc = curl_multi_add_handle(d->multi, s->easy);
	if (mc != CURLM_OK) {
		fail_start(d, s, curl_multi_strerror(mc));
		return;
	}
	s->running = true;
	l->running++;
	ep->st.running++;
	d->running++;
}

/* Starts what lane l has due, in as many slots as are free. */
static void kick(struct nh_deliver *d, struct lane *l, int64_t now)
{
	for (unsigned i = 0; i < d->inflight; i++) {
		struct slot *s = &l->slots[i];

		/* A failed start leaves the slot idle again with maybe more
		 * behind: loop, but only while nothing is on the wire. */
		while (!s->running) {
			if (s->has_it) {
				if (s->due_ms > now)
					break;
			} else if (l->q.len == 0) {
				return;
			}
			start(d, l, s, now);
		}
	}
}

int nh_deliver_submit_item(struct nh_deliver *d, const struct nh_deliver_item *it)
{
	struct lane *l = lane_of(d, it->key);

	if (d->queued >= d->queue_max || nh_itemq_push(&l->q, it) < 0) {
		d->stats.queue_full++;
		return -1;
	}
	d->queued++;
	kick(d, l, engine_now(d));
	return 0;
}

/* ---- finished requests --------------------------------------------------------- */

/* The Retry-After of the reply on s, in ms; false if there is none or it
 * is unreadable. */
static bool retry_after(struct slot *s, uint64_t *ms)
{
	struct curl_header *h;

	if (curl_easy_header(s->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return false;
	return nh_retry_after_parse(h->value, strlen(h->value), (int64_t)(nh_wall_ms() / 1000),
				    ms) == 0;
}

/* Decides what becomes of slot s's item after an attempt. */
static void settle(struct nh_deliver *d, struct slot *s, long status, CURLcode rc)
{
	enum nh_attempt_class cls = nh_retry_classify(rc == CURLE_OK, (int)status);
	const char *error = rc == CURLE_OK ? "" : s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
	int64_t t = engine_now(d);
	uint64_t delay;

	ep_settle(d, &d->eps[s->ep], s, cls != NH_ATTEMPT_RETRY);
	if (cls == NH_ATTEMPT_OK) {
		uint64_t w = nh_wall_ms();

		d->failing_since = 0;
		if (w >= s->it.captured_ms)
			nh_hist_observe(&d->stats.latency_s, (double)(w - s->it.captured_ms) / 1000.0);
		finish(d, s, NH_OUT_DELIVERED, status, rc, "");
		return;
	}
	if (!d->failing_since)
		d->failing_since = t ? t : 1;
	s->it.attempts++;
	if (cls == NH_ATTEMPT_PERMANENT) {
		finish(d, s, NH_OUT_REJECTED, status, rc, error);
		return;
	}
	if (s->handed_over) {
		finish(d, s, NH_OUT_RELEASED, status, rc, error);
		return;
	}
	if (!d->have_retry || s->it.attempts >= d->retry.max_attempts) {
		finish(d, s, NH_OUT_GAVE_UP_ATTEMPTS, status, rc, error);
		return;
	}
	if (d->retry.max_age_ms && nh_wall_ms() >= s->it.captured_ms + d->retry.max_age_ms) {
		finish(d, s, NH_OUT_GAVE_UP_AGE, status, rc, error);
		return;
	}
	s->failed_ep = (int)s->ep;
	if (rc == CURLE_OK && retry_after(s, &delay)) {
		if (delay > d->retry.max_delay_ms)
			delay = d->retry.max_delay_ms;
	} else {
		delay = nh_retry_backoff_ms(&d->retry, s->it.attempts, nh_retry_random(&d->rng));
	}
	s->due_ms = t + (int64_t)delay;
	d->stats.retried++;
}

/* A request of slot s left the wire (finished or stopped). */
static void slot_off_wire(struct nh_deliver *d, struct slot *s)
{
	struct lane *l = &d->lanes[s->lane];

	curl_multi_remove_handle(d->multi, s->easy);
	s->running = false;
	l->running--;
	d->eps[s->ep].st.running--;
	d->running--;
	if (s->handed_over)
		d->handed_over--;
}

/* Settles every finished request of every engine of the hub and refills
 * the lanes that are free. Returns how many requests were started. */
static unsigned harvest(struct nh_deliver_hub *h)
{
	size_t before = 0, after = 0;
	unsigned finished = 0;
	CURLMsg *m;
	int left;

	for (size_t i = 0; i < h->n_engines; i++)
		before += h->engines[i]->running;
	while ((m = curl_multi_info_read(h->multi, &left))) {
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		char *priv = NULL;
		long status = 0;
		curl_off_t took = 0;
		struct nh_deliver *d;
		struct slot *s;

		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is invalid once the handle is removed: read it first. */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &took);
		s = (struct slot *)(void *)priv;
		d = s->owner;
		/* An HTTP/2 server may answer before it has read the whole
		 * body and then reset the stream with NO_ERROR (RFC 9113
		 * 8.1; nginx's `return 200` does): the answer stands, and
		 * libcurl 7.88 reports it as a stream error. Retrying would
		 * deliver it twice. */
		if (rc == CURLE_HTTP2_STREAM && status >= 200 && status <= 299)
			rc = CURLE_OK;
		slot_off_wire(d, s);
		finished++;
		nh_hist_observe(&d->stats.request_s, (double)took / 1e6);
		count(d, &d->eps[s->ep], status, rc, s->errbuf);
		settle(d, s, status, rc);
		kick(d, &d->lanes[s->lane], engine_now(d));
	}
	for (size_t i = 0; i < h->n_engines; i++)
		after += h->engines[i]->running;
	/* Requests started here (the lanes' next items) are new work. */
	return (unsigned)(after + finished - before);
}

/* Starts the retries that are due, and the lanes that waited for them. */
static void start_due(struct nh_deliver *d)
{
	int64_t now;

	if (d->held == d->running)
		return;
	now = engine_now(d);
	for (unsigned i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];

		for (unsigned j = 0; j < d->inflight; j++) {
			struct slot *s = &l->slots[j];

			if (s->has_it && !s->running && s->due_ms <= now) {
				kick(d, l, now);
				break;
			}
		}
	}
}

int64_t nh_deliver_next_retry_ms(const struct nh_deliver *d)
{
	int64_t now, best = -1;

	if (d->held == d->running)
		return -1;
	now = engine_now(d);
	for (unsigned i = 0; i < d->n_lanes; i++) {
		const struct lane *l = &d->lanes[i];

		for (unsigned j = 0; j < d->inflight; j++) {
			const struct slot *s = &l->slots[j];

			if (s->has_it && !s->running) {
				int64_t left = s->due_ms > now ? s->due_ms - now : 0;

				if (best < 0 || left < best)
					best = left;
			}
		}
	}
	return best;
}

/* Runs curl's state machines; a second round sends requests that harvest
 * just started, instead of leaving them for the next poll. (More rounds
 * cost more than they give: each perform walks every running transfer.) */
#define STEP_ROUNDS_MAX 2

static int step(struct nh_deliver_hub *h)
{
	for (int round = 0; round < STEP_ROUNDS_MAX; round++) {
		int running;
		CURLMcode mc = curl_multi_perform(h->multi, &running);

		if (mc != CURLM_OK) {
			snprintf(h->error, sizeof(h->error), "curl_multi_perform: %s",
				 curl_multi_strerror(mc));
			return -1;
		}
		if (harvest(h) == 0)
			break;
	}
	return 0;
}

static int hub_poll(struct nh_deliver_hub *h, int extra_fd, int timeout_ms)
{
	struct curl_waitfd wfd = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
	CURLMcode mc;

	if (timeout_ms < 0)
		timeout_ms = 0;
	for (size_t i = 0; i < h->n_engines; i++) {
		int64_t due = nh_deliver_next_retry_ms(h->engines[i]);

		if (due >= 0 && due < timeout_ms)
			timeout_ms = (int)due;
	}
	mc = curl_multi_poll(h->multi, extra_fd >= 0 ? &wfd : NULL, extra_fd >= 0 ? 1 : 0,
			     timeout_ms, NULL);
	if (mc != CURLM_OK) {
		snprintf(h->error, sizeof(h->error), "curl_multi_poll: %s",
			 curl_multi_strerror(mc));
		return -1;
	}
	for (size_t i = 0; i < h->n_engines; i++)
		start_due(h->engines[i]);
	return step(h);
}

int nh_deliver_poll(struct nh_deliver *d, int extra_fd, int timeout_ms)
{
	if (hub_poll(d->hub, extra_fd, timeout_ms) < 0) {
		snprintf(d->error, sizeof(d->error), "%s", d->hub->error);
		return -1;
	}
	return 0;
}

int nh_deliver_hub_poll(struct nh_deliver_hub *h, int extra_fd, int timeout_ms)
{
	return hub_poll(h, extra_fd, timeout_ms);
}

const char *nh_deliver_hub_last_error(const struct nh_deliver_hub *h)
{
	return h->error;
}

void nh_deliver_wakeup(struct nh_deliver *d)
{
	curl_multi_wakeup(d->multi);
}

unsigned nh_deliver_n_lanes(const struct nh_deliver *d)
{
	return d->n_lanes;
}

bool nh_deliver_lane_busy(const struct nh_deliver *d, uint64_t key)
{
	const struct lane *l = &d->lanes[key % d->n_lanes];

	if (l->q.len)
		return true;
	for (unsigned i = 0; i < d->inflight; i++)
		if (!l->slots[i].has_it)
			return false;
	return true;
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
	for (unsigned i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];

		for (unsigned j = 0; j < d->inflight; j++) {
			struct slot *s = &l->slots[j];
			bool handed = s->handed_over;

			if (!s->running)
				continue;
			slot_off_wire(d, s);
			if (s->probe) {
				d->eps[s->ep].probing = false;
				s->probe = false;
			}
			if (handed)
				finish(d, s, NH_OUT_RELEASED, 0, CURLE_ABORTED_BY_CALLBACK, "aborted");
			else
				s->due_ms = 0;
		}
	}
}

size_t nh_deliver_take(struct nh_deliver *d, nh_deliver_take_fn fn, void *ctx)
{
	size_t n = d->queued + d->held, k = 0;
	struct nh_taken *all;

	if (n == 0)
		return 0;
	all = malloc(n * sizeof(*all));
	if (!all) {
		/* Out of memory: one lane at a time still keeps each lane's
		 * order, which is all the order there is. */
		for (unsigned i = 0; i < d->n_lanes; i++) {
			struct lane *l = &d->lanes[i];

			for (unsigned j = 0; j < d->inflight; j++, k++)
				if (l->slots[j].has_it)
					fn(ctx, &l->slots[j].it, l->slots[j].running);
			for (size_t j = 0; j < l->q.len; j++, k++)
				fn(ctx, nh_itemq_at(&l->q, j), false);
		}
		goto clear;
	}
	for (unsigned i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];

		for (unsigned j = 0; j < d->inflight; j++)
			if (l->slots[j].has_it)
				all[k++] = (struct nh_taken){ &l->slots[j].it, l->slots[j].running };
		for (size_t j = 0; j < l->q.len; j++)
			all[k++] = (struct nh_taken){ nh_itemq_at(&l->q, j), false };
	}
	nh_taken_sort(all, k);
	for (size_t j = 0; j < k; j++)
		fn(ctx, all[j].it, all[j].running);
	free(all);
clear:
	for (unsigned i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];

		d->queued -= l->q.len;
		nh_itemq_clear(&l->q);
		for (unsigned j = 0; j < d->inflight; j++) {
			struct slot *s = &l->slots[j];

			if (s->has_it && s->running) {
				if (!s->handed_over)
					d->handed_over++;
				s->handed_over = true;
			} else if (s->has_it) {
				s->has_it = false;
				d->held--;
			}
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

static int setup_easy(struct nh_deliver *d, struct slot *s)
{
	CURL *e = curl_easy_init();

	if (!e)
		return -1;
	s->easy = e;
	s->owner = d;
	s->failed_ep = -1;
	if (apply_config(d, s) < 0 ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_reply) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(void *)s) != CURLE_OK)
		return -1;
	if (d->http2 && curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L) != CURLE_OK)
		return -1;
	return 0;
}

/* What a configuration says about how to send, shared by the endpoints. */
struct setup {
	struct curl_slist *headers;
	struct nh_tls *tls;
	struct nh_signer *signer;
	struct endpoint *eps; /* url, url_shown, connect_to of each */
	size_t n_eps;
};

static void endpoints_free(struct endpoint *eps, size_t n)
{
	for (size_t i = 0; eps && i < n; i++) {
		free(eps[i].url_conf);
		free(eps[i].url);
		free(eps[i].url_shown);
		curl_slist_free_all(eps[i].connect_to);
	}
	free(eps);
}

static void setup_free(struct setup *su)
{
	curl_slist_free_all(su->headers);
	nh_tls_free(su->tls);
	nh_signer_free(su->signer);
	endpoints_free(su->eps, su->n_eps);
	memset(su, 0, sizeof(*su));
}

static int setup_build(const struct nh_deliver_opts *o, struct setup *su, char *err,
		       size_t errlen)
{
	const char *one[1] = { o->url };
	const char *const *urls = o->n_urls ? o->urls : one;
	size_t n = o->n_urls ? o->n_urls : 1;

	memset(su, 0, sizeof(*su));
	su->eps = calloc(n, sizeof(*su->eps));
	if (!su->eps) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	su->n_eps = n;
	for (size_t i = 0; i < n; i++) {
		struct endpoint *ep = &su->eps[i];

		if (!urls[i] || !urls[i][0]) {
			snprintf(err, errlen, "no webhook url");
			goto fail;
		}
		if (nh_url_check(urls[i], err, errlen) < 0)
			goto fail;
		if (nh_url_route(urls[i], nh_tls_server_name(o->tls), &ep->url, &ep->connect_to,
				 err, errlen) < 0)
			goto fail;
		ep->url_conf = strdup(urls[i]);
		ep->url_shown = nh_url_redact(urls[i]);
		if (!ep->url_conf || !ep->url_shown) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	su->headers = build_headers(o, err, errlen);
	if (!su->headers)
		goto fail;
	if ((o->tls && !(su->tls = nh_tls_dup(o->tls))) ||
	    (o->signer && !(su->signer = nh_signer_dup(o->signer)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	setup_free(su);
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

/* Moves su into d: at start (d has no endpoints yet), or at a reload with
 * the same urls, whose routes may change with tls.server_name. The lists
 * it replaces stay until the engine goes. Fails (d and su unchanged) only
 * when out of memory. */
static int setup_install(struct nh_deliver *d, struct setup *su)
{
	size_t n_nodes = 1 + (d->eps ? d->n_eps : 0);
	struct old_lists **nodes = calloc(n_nodes, sizeof(*nodes));

	for (size_t i = 0; nodes && i < n_nodes; i++) {
		if (!(nodes[i] = malloc(sizeof(**nodes)))) {
			for (size_t j = 0; j < i; j++)
				free(nodes[j]);
			free(nodes);
			nodes = NULL;
		}
	}
	if (!nodes)
		return -1;
	retire_list(d, nodes[0], d->headers);
	d->headers = su->headers;
	nh_tls_free(d->tls);
	nh_signer_free(d->signer);
	d->tls = su->tls;
	d->signer = su->signer;
	if (!d->eps) {
		d->eps = su->eps;
		d->n_eps = su->n_eps;
		for (size_t i = 0; i < d->n_eps; i++) {
			d->eps[i].open_ms = d->circuit_open_ms;
			d->eps[i].st.url = d->eps[i].url_shown;
		}
	} else {
		for (size_t i = 0; i < d->n_eps; i++) {
			struct endpoint *ep = &d->eps[i], *nu = &su->eps[i];

			retire_list(d, nodes[1 + i], ep->connect_to);
			free(ep->url);
			ep->url = nu->url;
			ep->connect_to = nu->connect_to;
			free(nu->url_conf);
			free(nu->url_shown);
		}
		free(su->eps);
	}
	free(nodes);
	memset(su, 0, sizeof(*su));
	return 0;
}

static void set_retry(struct nh_deliver *d, const struct nh_retry_policy *p)
{
	d->have_retry = p != NULL;
	if (p)
		d->retry = *p;
}

/* ---- the hub -------------------------------------------------------------------- */

struct nh_deliver_hub *nh_deliver_hub_new(char *err, size_t errlen)
{
	struct nh_deliver_hub *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* curl_global_init is not thread-safe in every libcurl build; this is
	 * called at startup, before nanohook starts any thread that uses curl
	 * or TLS. It is reference-counted, so each hub balances it in
	 * nh_deliver_hub_free(). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		free(h);
		return NULL;
	}
	h->curl_initialised = true;
	h->multi = curl_multi_init();
	if (!h->multi) {
		snprintf(err, errlen, "out of memory");
		nh_deliver_hub_free(h);
		return NULL;
	}
	return h;
}

void nh_deliver_hub_free(struct nh_deliver_hub *h)
{
	if (!h)
		return;
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->engines);
	if (h->curl_initialised)
		curl_global_cleanup();
	free(h);
}

/* Connections: each endpoint of each engine may hold as many as its
 * lanes can use at once (pool_size * inflight on HTTP/1.1; with HTTP/2
 * they share connections, H2_STREAMS_PER_CONN streams each). curl's
 * limit is per host, so the largest need of any engine sets it. */
static int hub_join(struct nh_deliver_hub *h, struct nh_deliver *d)
{
	struct nh_deliver **e = realloc(h->engines, (h->n_engines + 1) * sizeof(*e));
	long per_host = (long)d->pool_size * (long)d->inflight;

	if (!e)
		return -1;
	h->engines = e;
	h->engines[h->n_engines++] = d;
	if (d->http2)
		per_host = (per_host + H2_STREAMS_PER_CONN - 1) / H2_STREAMS_PER_CONN;
	if (per_host > h->max_host)
		h->max_host = per_host;
	h->max_cached += (long)d->n_lanes * (long)d->inflight;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->max_host);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, h->max_cached);
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	return 0;
}

static void hub_leave(struct nh_deliver_hub *h, struct nh_deliver *d)
{
	for (size_t i = 0; i < h->n_engines; i++) {
		if (h->engines[i] == d) {
			h->engines[i] = h->engines[--h->n_engines];
			return;
		}
	}
}

/* ---- the engine ------------------------------------------------------------------ */

struct nh_deliver *nh_deliver_new(const struct nh_deliver_opts *o, char *err, size_t errlen)
{
	struct setup su;
	struct nh_deliver *d;

	if (!o->n_urls && (!o->url || !o->url[0])) {
		snprintf(err, errlen, "no webhook url");
		return NULL;
	}
	if (o->pool_size < 1 || o->pool_size > 65536) {
		snprintf(err, errlen, "pool_size %u: must be 1 to 65536", o->pool_size);
		return NULL;
	}
	if (o->inflight > 1024) {
		snprintf(err, errlen, "lane.inflight %u: must be 1 to 1024", o->inflight);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (o->hub) {
		d->hub = o->hub;
	} else {
		if (!(d->hub = nh_deliver_hub_new(err, errlen)))
			goto fail;
		d->own_hub = true;
	}
	d->multi = d->hub->multi;
	d->timeout_ms = o->timeout_ms;
	d->on_result = o->on_result;
	d->ctx = o->ctx;
	d->clock = o->clock;
	d->queue_max = o->queue_max;
	d->pool_size = o->pool_size;
	d->inflight = o->inflight ? o->inflight : 1;
	d->balance = o->balance;
	d->circuit_failures = o->circuit_failures;
	d->circuit_open_ms = o->circuit_open_ms ? o->circuit_open_ms : CIRCUIT_OPEN_DEFAULT_MS;
	d->http2 = o->http2;
	d->rng = nh_retry_seed();
	set_retry(d, o->retry);
	if (setup_build(o, &su, err, errlen) < 0)
		goto fail;
	if (setup_install(d, &su) < 0) {
		setup_free(&su);
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	d->n_lanes = o->pool_size * (unsigned)d->n_eps;
	d->lanes = calloc(d->n_lanes, sizeof(*d->lanes));
	if (!d->lanes) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];

		if (!(l->slots = calloc(d->inflight, sizeof(*l->slots)))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (unsigned j = 0; j < d->inflight; j++) {
			l->slots[j].lane = i;
			if (setup_easy(d, &l->slots[j]) < 0) {
				snprintf(err, errlen, "cannot set up a curl handle");
				goto fail;
			}
		}
	}
	if (hub_join(d->hub, d) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return d;
fail:
	nh_deliver_free(d);
	return NULL;
}

int nh_deliver_reconfigure(struct nh_deliver *d, const struct nh_deliver_opts *o,
			   char *err, size_t errlen)
{
	const char *one[1] = { o->url };
	const char *const *urls = o->n_urls ? o->urls : one;
	size_t n = o->n_urls ? o->n_urls : 1;
	struct setup su;

	if (o->pool_size != d->pool_size) {
		snprintf(err, errlen, "pool_size %u -> %u: takes effect at the next start",
			 d->pool_size, o->pool_size);
		return -1;
	}
	if ((o->inflight ? o->inflight : 1) != d->inflight) {
		snprintf(err, errlen, "lane.inflight %u -> %u: takes effect at the next start",
			 d->inflight, o->inflight);
		return -1;
	}
	if (n != d->n_eps) {
		snprintf(err, errlen, "the urls change at the next start");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!urls[i] || strcmp(urls[i], d->eps[i].url_conf)) {
			snprintf(err, errlen, "the urls change at the next start");
			return -1;
		}
	}
	if (setup_build(o, &su, err, errlen) < 0)
		return -1;
	if (setup_install(d, &su) < 0) {
		setup_free(&su);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->timeout_ms = o->timeout_ms;
	d->queue_max = o->queue_max;
	d->balance = o->balance;
	d->circuit_failures = o->circuit_failures;
	if (o->circuit_open_ms)
		d->circuit_open_ms = o->circuit_open_ms;
	set_retry(d, o->retry);
	d->gen++;
	return 0;
}

void nh_deliver_stats(const struct nh_deliver *d, struct nh_deliver_stats *s)
{
	*s = d->stats;
}

size_t nh_deliver_n_endpoints(const struct nh_deliver *d)
{
	return d->n_eps;
}

void nh_deliver_endpoint_stats(const struct nh_deliver *d, size_t i, struct nh_endpoint_stats *s)
{
	const struct endpoint *ep = &d->eps[i];
	int64_t now = engine_now(d);

	*s = ep->st;
	s->circuit = ep->circuit;
	s->failures_in_row = ep->failures_in_row;
	s->circuit_since_ms = ep->since_wall_ms;
	s->probe_in_ms = ep->circuit == NH_CIRCUIT_OPEN && ep->open_until > now
				 ? ep->open_until - now : 0;
}

const char *nh_deliver_last_error(const struct nh_deliver *d)
{
	return d->error;
}

void nh_deliver_free(struct nh_deliver *d)
{
	if (!d)
		return;
	for (unsigned i = 0; d->lanes && i < d->n_lanes; i++) {
		struct lane *l = &d->lanes[i];

		for (unsigned j = 0; l->slots && j < d->inflight; j++) {
			struct slot *s = &l->slots[j];

			if (s->running && d->multi)
				curl_multi_remove_handle(d->multi, s->easy);
			if (s->has_it)
				free(s->it.body);
			if (s->easy)
				curl_easy_cleanup(s->easy);
			curl_slist_free_all(s->signed_headers);
		}
		free(l->slots);
		for (size_t j = 0; j < l->q.len; j++)
			free(nh_itemq_at(&l->q, j)->body);
		nh_itemq_free(&l->q);
	}
	free(d->lanes);
	if (d->hub) {
		hub_leave(d->hub, d);
		if (d->own_hub)
			nh_deliver_hub_free(d->hub);
	}
	curl_slist_free_all(d->headers);
	while (d->old_lists) {
		struct old_lists *o = d->old_lists;

		d->old_lists = o->next;
		curl_slist_free_all(o->list);
		free(o);
	}
	endpoints_free(d->eps, d->n_eps);
	nh_tls_free(d->tls);
	nh_signer_free(d->signer);
	free(d);
}
