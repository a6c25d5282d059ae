/* SPDX-License-Identifier: MIT */
/*
 * The HTTP delivery engine: POSTs webhook bodies to one destination (one
 * url, or a pool of endpoints) over keep-alive connections, driven by the
 * caller's event loop.
 *
 * Single-threaded by design (libcurl multi interface): the caller's loop
 * also drains the BPF ring buffer, so nothing here ever blocks on HTTP.
 * nh_deliver_poll() is the one place that waits, and it wakes up for the
 * caller's own fd as well as for curl's sockets.
 *
 * Order: there are pool_size lanes per endpoint. An item goes to lane
 * key % lanes and, with inflight = 1 (the default), each lane is strictly sequential:
 * one request at a time, in submission order, and a request that is to be
 * retried is retried before anything behind it in its lane is sent. So
 * items with the same key are delivered in submission order; items with
 * different keys in different lanes are not ordered. With inflight = N a
 * lane sends up to N of its items at once, so they may arrive (and be
 * retried) out of order: the receiver orders by seq.
 *
 * Endpoints: a lane picks its endpoint only when none of its requests is
 * on the wire, so a client moves between endpoints only with nothing of
 * it in flight. hash: lane i prefers endpoint i % n (pool_size lanes
 * each; a client stays on one endpoint while it is healthy), then the next ones; failover: the first
 * healthy one in the list; round_robin: the next healthy one. A retry
 * avoids the endpoint that just failed it when another is healthy. Each
 * endpoint has a circuit: circuit_failures failures in a row open it, and
 * no request is sent there for circuit_open_ms; then one request probes
 * it (half-open): success closes it, failure opens it again for twice as
 * long (up to a minute). With every circuit open, requests go to their
 * preferred endpoint anyway, paced by the retry backoff.
 *
 * Engines of several destinations may share one curl multi handle (a
 * hub), so that one wait covers all of them.
 *
 * Retries (with a policy): transport errors, timeouts, 408, 429 and 5xx
 * are retried after a backoff with full jitter, or after Retry-After
 * (capped at max_delay); other statuses are final. An item ends as
 * delivered, rejected, or given up (attempts or age), and on_result says
 * which; without a policy every item is tried once.
 *
 * Memory is bounded: at most queue_max items wait in the lanes (plus one
 * per lane being sent or waiting to be retried).
 */
#ifndef NH_DELIVER_H
#define NH_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "clock.h"
#include "config.h"
#include "retry.h"
#include "sign.h"
#include "stats.h"
#include "tls.h"

/* One body with what the engine needs to order and retry it. */
struct nh_deliver_item {
	char *body;           /* malloc'd; the engine owns it once submitted */
	size_t len;
	uint64_t seq;         /* the producer's order; nh_deliver_take() sorts by it */
	uint64_t id;          /* the event's identity (webhook-id, Nats-Msg-Id): its
			       * first seq, kept through retries and the spool */
	uint64_t key;         /* lane = key % nh_deliver_n_lanes() */
	uint64_t captured_ms; /* wall clock, ms since the epoch: for max_age, latency */
	uint32_t attempts;    /* failed attempts so far */
	uint32_t events;      /* events in the body: 0 or 1 = one; more with body.batch */
	uint64_t tag;         /* the owner's; the engine never looks at it */
};

enum nh_deliver_outcome {
	NH_OUT_DELIVERED = 0, /* 2xx */
	NH_OUT_REJECTED,      /* a status that is never retried (e.g. 400) */
	NH_OUT_GAVE_UP_ATTEMPTS,
	NH_OUT_GAVE_UP_AGE,
	/* A retryable failure of an item handed over by nh_deliver_take()
	 * while it was being sent, or stopped by nh_deliver_abort(): the
	 * owner holds its copy, the engine lets it go. */
	NH_OUT_RELEASED,
};

struct nh_deliver_result {
	enum nh_deliver_outcome outcome;
	int http_status;   /* the last attempt's, 0 if there was no reply */
	CURLcode rc;       /* the last attempt's */
	const char *error; /* the last transport error, "" if none */
};

/* Called once per finished item, from inside nh_deliver_poll(),
 * nh_deliver_submit_item() or nh_deliver_abort(). The callee owns it->body
 * from then on; `it` itself is only valid during the call. It may call
 * nh_deliver_submit_item(). */
typedef void (*nh_deliver_result_fn)(void *ctx, struct nh_deliver_item *it,
				     const struct nh_deliver_result *r);

struct nh_deliver_hub;

struct nh_deliver_opts {
	const char *url;                /* http:// or https://: one endpoint, or */
	const char *const *urls;        /* a pool of them (n_urls > 0 wins over url) */
	size_t n_urls;
	enum nh_balance balance;        /* with several urls */
	unsigned inflight;              /* requests of one lane at once; 0 counts as 1 */
	unsigned circuit_failures;      /* failures in a row that open a circuit; 0: never */
	uint64_t circuit_open_ms;       /* before the first probe; 0: 5 s */
	bool http2;                     /* HTTP/2, multiplexed, on https:// urls
					 * whose server offers it (ALPN) */
	struct nh_deliver_hub *hub;     /* the curl multi to share; NULL: the engine's own */
	const struct nh_header *headers;/* sent as given; copied */
	size_t n_headers;
	unsigned pool_size;             /* lanes = connections, >= 1 */
	unsigned timeout_ms;            /* whole request; 0 = no limit */
	size_t queue_max;               /* items waiting in the lanes */
	const struct nh_retry_policy *retry; /* copied; NULL: never retry */
	const struct nh_tls *tls;       /* copied; NULL: curl's TLS defaults (verify on) */
	const struct nh_signer *signer; /* copied; NULL: requests are not signed */
	const struct nh_clock *clock;   /* when retries fall due; NULL: the real
					 * monotonic clock. Kept, not copied. */
	nh_deliver_result_fn on_result; /* optional: without it finished bodies are freed */
	void *ctx;                      /* passed to on_result */
};

struct nh_deliver_stats {
	uint64_t posted_ok;        /* 2xx: delivered */
	uint64_t failed_http;      /* attempts answered with a status that is not 2xx */
	uint64_t failed_transport; /* attempts without a reply: refused, reset, DNS, TLS... */
	uint64_t failed_timeout;   /* attempts without a complete reply within timeout_ms */
	uint64_t queue_full;       /* nh_deliver_submit_item() returned -1 */
	/* Replies by class: [1] 1xx ... [5] 5xx, [0] any other status. */
	uint64_t by_status[6];
	uint64_t retried;          /* retries scheduled */
	uint64_t rejected, gave_up_attempts, gave_up_age, released;
	struct nh_hist request_s;  /* each request: sent to answered (or failed) */
	struct nh_hist latency_s;  /* each delivered item: captured to answered */
};

/* One endpoint of the pool. */
enum nh_circuit { NH_CIRCUIT_CLOSED = 0, NH_CIRCUIT_OPEN, NH_CIRCUIT_HALF_OPEN };

struct nh_endpoint_stats {
	const char *url;            /* redacted; valid while the engine lives */
	uint64_t requests;          /* attempts finished */
	uint64_t ok;                /* 2xx */
	uint64_t failed_http, failed_transport, failed_timeout;
	uint64_t circuit_opened;    /* times its circuit opened */
	enum nh_circuit circuit;
	unsigned failures_in_row;
	uint64_t circuit_since_ms;  /* wall clock of the last change of circuit; 0: never */
	int64_t probe_in_ms;        /* open: ms until a probe may go; else 0 */
	size_t running;             /* requests on the wire to it */
};

const char *nh_circuit_name(enum nh_circuit c); /* "closed", "open", "half_open" */

struct nh_deliver;

/* A curl multi handle for several engines: nh_deliver_poll() on any of
 * them waits for, and moves along, the requests of all. Free it after
 * every engine using it. */
struct nh_deliver_hub *nh_deliver_hub_new(char *err, size_t errlen);
void nh_deliver_hub_free(struct nh_deliver_hub *h);

/* Returns NULL and a one-line reason in err on bad options or when curl
 * cannot be set up. */
struct nh_deliver *nh_deliver_new(const struct nh_deliver_opts *o,
				  char *err, size_t errlen);

/* Queues an item (its body malloc'd, it->len bytes, not necessarily
 * NUL-terminated) on lane it->key % pool_size: the engine copies *it and
 * owns it->body on 0; on -1 (queue full) nothing changes and the body is
 * still the caller's (to count as a drop and free, or to spool). */
int nh_deliver_submit_item(struct nh_deliver *d, const struct nh_deliver_item *it);

/* Waits up to timeout_ms (negative counts as 0: there is no "forever";
 * a retry that falls due sooner shortens it) until a curl socket or
 * extra_fd (-1 = none; e.g. the ring buffer's epoll fd) is readable, or
 * nh_deliver_wakeup() is called; then moves transfers along, starts due
 * retries, and reports finished items. Returns 0, or -1 on a fatal curl
 * error (nh_deliver_last_error() says which). */
int nh_deliver_poll(struct nh_deliver *d, int extra_fd, int timeout_ms);

/* nh_deliver_poll() for every engine of the hub (none is fine: then it
 * waits for extra_fd alone). */
int nh_deliver_hub_poll(struct nh_deliver_hub *h, int extra_fd, int timeout_ms);
const char *nh_deliver_hub_last_error(const struct nh_deliver_hub *h);

/* Why nh_deliver_poll() last returned -1; "" if it never did. */
const char *nh_deliver_last_error(const struct nh_deliver *d);

/* Makes a running nh_deliver_poll() return early. The one call that is
 * safe from another thread (not from a signal handler). */
void nh_deliver_wakeup(struct nh_deliver *d);

/* pool_size per endpoint. */
unsigned nh_deliver_n_lanes(const struct nh_deliver *d);

/* Would an item of this key wait? (Its lane has no free slot.) */
bool nh_deliver_lane_busy(const struct nh_deliver *d, uint64_t key);

/* Every item held: waiting, being sent, or waiting to be retried. */
size_t nh_deliver_in_flight(const struct nh_deliver *d);
/* Requests being sent. */
size_t nh_deliver_running(const struct nh_deliver *d);
/* Items handed over by nh_deliver_take() that are still being sent. */
size_t nh_deliver_handed_over(const struct nh_deliver *d);

/* ms until the first retry falls due by the engine's clock (0: one is
 * due now), or -1 if no item waits for a retry. */
int64_t nh_deliver_next_retry_ms(const struct nh_deliver *d);

/* For how long every finished attempt has failed: ms since the first
 * failure after the last success; 0 if the last attempt succeeded or
 * none has finished yet. */
int64_t nh_deliver_failing_ms(const struct nh_deliver *d);

/* Polls until nothing is held, or deadline_ms have passed, or nothing can
 * finish before the deadline (nothing is being sent and every lane waits
 * for a retry that falls due later). Returns the number of items still
 * held (nh_deliver_take() hands them over; nh_deliver_free() discards them). */
size_t nh_deliver_drain(struct nh_deliver *d, int deadline_ms);

/* Stops every request being sent. Items handed over before by
 * nh_deliver_take() end as NH_OUT_RELEASED; the others go back to the
 * front of their lanes, ready to be sent (or taken). */
void nh_deliver_abort(struct nh_deliver *d);

/*
 * Hands every item to fn in seq order. Items not being sent leave the
 * engine (running = false: fn owns the item's body). Items being sent
 * stay (running = true: fn may set it->tag, and must not keep `it` or its
 * body); they end through on_result as delivered or rejected as usual,
 * but a failure that would be retried ends as NH_OUT_RELEASED instead,
 * since the owner has them now. Returns how many items fn saw.
 */
typedef void (*nh_deliver_take_fn)(void *ctx, struct nh_deliver_item *it, bool running);
size_t nh_deliver_take(struct nh_deliver *d, nh_deliver_take_fn fn, void *ctx);

/* New headers, timeout, retry policy and queue_max, for requests started
 * from now on; items held keep their lanes. The urls, pool_size and
 * inflight cannot change (events are captured for their destination, and
 * the lanes would reorder keys): different ones are an error.
 * Returns 0, or -1 and a reason in err (the engine is unchanged). */
int nh_deliver_reconfigure(struct nh_deliver *d, const struct nh_deliver_opts *o,
			   char *err, size_t errlen);

void nh_deliver_stats(const struct nh_deliver *d, struct nh_deliver_stats *s);

size_t nh_deliver_n_endpoints(const struct nh_deliver *d);
void nh_deliver_endpoint_stats(const struct nh_deliver *d, size_t i, struct nh_endpoint_stats *s);

/* Aborts what is running and frees every body still held, without calling
 * on_result. NULL is fine. */
void nh_deliver_free(struct nh_deliver *d);

#endif
