/* SPDX-License-Identifier: MIT */
/*
 * HTTP delivery over libcurl's multi interface. See deliver.h.
 *
 * Each of the pool_size "slots" owns one easy handle for the life of the
 * engine; the connections themselves live in the multi handle's cache,
 * capped at pool_size, so a slot that finishes hands its connection to the
 * next request instead of opening a new one (NanoMQ opens one per request).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliver.h"

/* stderr reports, at most one line per kind per this many ms. */
#define NH_REPORT_EVERY_MS 5000

enum nh_fail_kind { NH_FAIL_HTTP, NH_FAIL_TRANSPORT, NH_FAIL_TIMEOUT, NH_FAIL_KINDS };

struct nh_xfer {
	CURL *easy;
	char *body; /* NULL while the slot is free */
	size_t len;
	char errbuf[CURL_ERROR_SIZE];
};

struct nh_pending {
	char *body;
	size_t len;
};

struct nh_report_limit {
	int64_t last_ms;
	uint64_t quiet; /* failures of this kind not reported since last_ms */
	bool printed;
};

struct nh_deliver {
	CURLM *multi;
	char *url;
	struct curl_slist *headers;
	unsigned timeout_ms;
	nh_deliver_done_fn on_done;
	void *ctx;

	struct nh_xfer *xfers;   /* pool_size slots */
	unsigned pool_size;
	unsigned *free_slots;    /* stack of indexes into xfers */
	unsigned n_free;

	/* FIFO ring of bodies waiting for a slot; grows up to queue_max. */
	struct nh_pending *queue;
	size_t queue_cap, queue_head, queue_len, queue_max;

	struct nh_deliver_stats stats;
	struct nh_report_limit reports[NH_FAIL_KINDS];
	char error[256];         /* why nh_deliver_poll() last returned -1 */
	bool curl_initialised;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	int64_t t = now_ms();
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
			d->url, msg, (unsigned long long)r->quiet);
	else
		fprintf(stderr, "nanohook: webhook %s: %s\n", d->url, msg);
	r->printed = true;
	r->last_ms = t;
	r->quiet = 0;
}

/* Counts and reports one finished request. */
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

/* Hands a finished request's body to on_done, or frees it. */
static void hand_over(struct nh_deliver *d, char *body, size_t len, long status, CURLcode rc)
{
	if (d->on_done && d->on_done(d->ctx, body, len, (int)status, rc))
		return;
	free(body);
}

/* Puts body on a free slot's easy handle and into the multi handle. The
 * caller has checked that a slot is free. */
static void start(struct nh_deliver *d, char *body, size_t len)
{
	unsigned idx = d->free_slots[--d->n_free];
	struct nh_xfer *x = &d->xfers[idx];
	CURLMcode mc;

	x->body = body;
	x->len = len;
	x->errbuf[0] = '\0';
	/* Points at our buffer, no copy: it lives until hand_over(). The size is
	 * set after the pointer so that binary bodies are never strlen'd. */
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, len ? body : "");
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	mc = curl_multi_add_handle(d->multi, x->easy);
	if (mc != CURLM_OK) {
		/* Only a bug or out of memory gets here; fail the one request. */
		x->body = NULL;
		d->free_slots[d->n_free++] = idx;
		count(d, 0, CURLE_OUT_OF_MEMORY, curl_multi_strerror(mc));
		hand_over(d, body, len, 0, CURLE_OUT_OF_MEMORY);
	}
}

static void start_queued(struct nh_deliver *d)
{
	while (d->queue_len > 0 && d->n_free > 0) {
		struct nh_pending p = d->queue[d->queue_head];

		d->queue_head = (d->queue_head + 1) % d->queue_cap;
		d->queue_len--;
		start(d, p.body, p.len);
	}
}

static int queue_push(struct nh_deliver *d, char *body, size_t len)
{
	if (d->queue_len >= d->queue_max)
		return -1;
	if (d->queue_len == d->queue_cap) {
		/* Grow on demand: queue_max is sized for bursts (100000 by
		 * default) and most of the time the queue is empty. */
		size_t cap = d->queue_cap ? d->queue_cap * 2 : 64;
		struct nh_pending *q;

		if (cap > d->queue_max)
			cap = d->queue_max;
		q = malloc(cap * sizeof(*q));
		if (!q)
			return -1;
		for (size_t i = 0; i < d->queue_len; i++)
			q[i] = d->queue[(d->queue_head + i) % d->queue_cap];
		free(d->queue);
		d->queue = q;
		d->queue_cap = cap;
		d->queue_head = 0;
	}
	d->queue[(d->queue_head + d->queue_len) % d->queue_cap] =
		(struct nh_pending){ .body = body, .len = len };
	d->queue_len++;
	return 0;
}

int nh_deliver_submit(struct nh_deliver *d, char *body, size_t len)
{
	if (d->queue_len == 0 && d->n_free > 0) {
		start(d, body, len);
		return 0;
	}
	if (queue_push(d, body, len) < 0) {
		d->stats.queue_full++;
		return -1;
	}
	return 0;
}

/* Reports every finished transfer and refills the freed slots. Returns
 * how many requests were started. */
static unsigned harvest(struct nh_deliver *d)
{
	unsigned started = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left))) {
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		struct nh_xfer *x;
		char *priv = NULL;
		long status = 0;
		char *body;
		size_t len;
		unsigned before;

		if (m->msg != CURLMSG_DONE)
			continue;
		/* m is invalid once the handle is removed: read it first. */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(d->multi, easy);
		x = (struct nh_xfer *)(void *)priv;
		body = x->body;
		len = x->len;
		x->body = NULL;
		d->free_slots[d->n_free++] = (unsigned)(x - d->xfers);
		count(d, status, rc, x->errbuf); /* before the slot is reused */

		/* Refill before on_done so that a body it resubmits queues
		 * behind the ones already waiting. */
		before = d->n_free;
		start_queued(d);
		started += before - d->n_free;
		hand_over(d, body, len, status, rc);
	}
	return started;
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
	CURLMcode mc;

	if (timeout_ms < 0)
		timeout_ms = 0;
	mc = curl_multi_poll(d->multi, extra_fd >= 0 ? &wfd : NULL, extra_fd >= 0 ? 1 : 0,
			     timeout_ms, NULL);
	if (mc != CURLM_OK) {
		snprintf(d->error, sizeof(d->error), "curl_multi_poll: %s",
			 curl_multi_strerror(mc));
		return -1;
	}
	return step(d);
}

void nh_deliver_wakeup(struct nh_deliver *d)
{
	curl_multi_wakeup(d->multi);
}

size_t nh_deliver_in_flight(const struct nh_deliver *d)
{
	return d->queue_len + (d->pool_size - d->n_free);
}

size_t nh_deliver_drain(struct nh_deliver *d, int deadline_ms)
{
	int64_t end = now_ms() + (deadline_ms > 0 ? deadline_ms : 0);

	while (nh_deliver_in_flight(d) > 0) {
		int64_t left = end - now_ms();

		if (nh_deliver_poll(d, -1, left > 0 ? (int)left : 0) < 0 || left <= 0)
			break;
	}
	return nh_deliver_in_flight(d);
}

void nh_deliver_stats(const struct nh_deliver *d, struct nh_deliver_stats *s)
{
	*s = d->stats;
}

const char *nh_deliver_last_error(const struct nh_deliver *d)
{
	return d->error;
}

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

static int build_headers(struct nh_deliver *d, const struct nh_deliver_opts *o,
			 char *err, size_t errlen)
{
	bool have_ctype = false, have_expect = false;

	for (size_t i = 0; i < o->n_headers; i++) {
		const struct nh_header *h = &o->headers[i];
		struct curl_slist *l;
		char *line;

		if (!header_ok(h)) {
			snprintf(err, errlen, "header %zu (%s): name or value not allowed in HTTP",
				 i + 1, h->name ? h->name : "(null)");
			return -1;
		}
		have_ctype |= strcasecmp(h->name, "content-type") == 0;
		have_expect |= strcasecmp(h->name, "expect") == 0;
		/* curl drops "Name:" (empty value); "Name;" sends it empty. */
		if (asprintf(&line, h->value[0] ? "%s: %s" : "%s;", h->name, h->value) < 0)
			goto oom;
		l = curl_slist_append(d->headers, line);
		free(line);
		if (!l)
			goto oom;
		d->headers = l;
	}
	if (!have_ctype && !(d->headers = curl_slist_append(d->headers,
							    "Content-Type: application/json")))
		goto oom;
	/* curl would otherwise wait up to 1 s for "100 Continue" on bodies
	 * over 1 MiB, and some servers never send it. */
	if (!have_expect && !(d->headers = curl_slist_append(d->headers, "Expect:")))
		goto oom;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static int check_url(const char *url, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	CURLUcode uc;
	int ret = -1;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK)
		snprintf(err, errlen, "url \"%s\": %s", url, curl_url_strerror(uc));
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		snprintf(err, errlen, "url \"%s\": only http:// and https:// are supported", url);
	else
		ret = 0;
	curl_free(scheme);
	curl_url_cleanup(u);
	return ret;
}

static int setup_easy(struct nh_deliver *d, struct nh_xfer *x)
{
	CURL *e = curl_easy_init();

	if (!e)
		return -1;
	x->easy = e;
	if (curl_easy_setopt(e, CURLOPT_URL, d->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_reply) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)(void *)x) != CURLE_OK)
		return -1;
	return 0;
}

struct nh_deliver *nh_deliver_new(const struct nh_deliver_opts *o, char *err, size_t errlen)
{
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
	if (check_url(o->url, err, errlen) < 0)
		goto fail;

	d->timeout_ms = o->timeout_ms;
	d->on_done = o->on_done;
	d->ctx = o->ctx;
	d->queue_max = o->queue_max;
	d->pool_size = o->pool_size;
	d->url = strdup(o->url);
	d->xfers = calloc(o->pool_size, sizeof(*d->xfers));
	d->free_slots = calloc(o->pool_size, sizeof(*d->free_slots));
	d->multi = curl_multi_init();
	if (!d->url || !d->xfers || !d->free_slots || !d->multi) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (build_headers(d, o, err, errlen) < 0)
		goto fail;

	pool = (long)o->pool_size;
	curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, pool);
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, pool);
	curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, pool);

	for (unsigned i = 0; i < o->pool_size; i++) {
		if (setup_easy(d, &d->xfers[i]) < 0) {
			snprintf(err, errlen, "cannot set up a curl handle");
			goto fail;
		}
		/* Popped from the end: slot 0 is used first. */
		d->free_slots[i] = o->pool_size - 1 - i;
	}
	d->n_free = o->pool_size;
	return d;
fail:
	nh_deliver_free(d);
	return NULL;
}

void nh_deliver_free(struct nh_deliver *d)
{
	if (!d)
		return;
	for (unsigned i = 0; d->xfers && i < d->pool_size; i++) {
		struct nh_xfer *x = &d->xfers[i];

		if (x->body && d->multi)
			curl_multi_remove_handle(d->multi, x->easy);
		free(x->body);
		if (x->easy)
			curl_easy_cleanup(x->easy);
	}
	for (size_t i = 0; i < d->queue_len; i++)
		free(d->queue[(d->queue_head + i) % d->queue_cap].body);
	free(d->queue);
	free(d->xfers);
	free(d->free_slots);
	if (d->multi)
		curl_multi_cleanup(d->multi);
	curl_slist_free_all(d->headers);
	free(d->url);
	if (d->curl_initialised)
		curl_global_cleanup();
	free(d);
}
