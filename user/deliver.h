/* SPDX-License-Identifier: MIT */
/*
 * The HTTP delivery engine: POSTs webhook bodies to one URL over a small
 * pool of keep-alive connections, driven by the caller's event loop.
 *
 * Single-threaded by design (libcurl multi interface): the caller's loop
 * also drains the BPF ring buffer, so nothing here ever blocks on HTTP.
 * nh_deliver_poll() is the one place that waits, and it wakes up for the
 * caller's own fd as well as for curl's sockets.
 *
 * At most pool_size requests run at once; further bodies wait, in order,
 * in a FIFO bounded by queue_max. With pool_size = 1 bodies arrive in
 * submission order. No retries: on_done is the seam for them.
 */
#ifndef NH_DELIVER_H
#define NH_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "config.h"

/*
 * Called once per finished request, from inside nh_deliver_poll() (or
 * nh_deliver_submit() if a request could not even be started).
 *   http_status: the reply's status, 0 if none was received.
 *   rc:          CURLE_OK if a reply was received (whatever its status);
 *                CURLE_OPERATION_TIMEDOUT after timeout_ms; else the
 *                transport error.
 * Return true to take ownership of `body` (e.g. to resubmit or spool it:
 * nh_deliver_submit() may be called from here); return false and the
 * engine frees it.
 */
typedef bool (*nh_deliver_done_fn)(void *ctx, char *body, size_t len,
				   int http_status, CURLcode rc);

struct nh_deliver_opts {
	const char *url;                /* http:// or https:// */
	const struct nh_header *headers;/* sent as given; copied */
	size_t n_headers;
	unsigned pool_size;             /* concurrent requests = connections, >= 1 */
	unsigned timeout_ms;            /* whole request; 0 = no limit */
	size_t queue_max;               /* bodies waiting for a free connection */
	nh_deliver_done_fn on_done;     /* optional */
	void *ctx;                      /* passed to on_done */
};

struct nh_deliver_stats {
	uint64_t posted_ok;        /* 2xx */
	uint64_t failed_http;      /* a reply that was not 2xx */
	uint64_t failed_transport; /* no reply: refused, reset, DNS, TLS... */
	uint64_t failed_timeout;   /* no complete reply within timeout_ms */
	uint64_t queue_full;       /* nh_deliver_submit() returned -1 */
	/* Replies by class: [1] 1xx ... [5] 5xx, [0] any other status. */
	uint64_t by_status[6];
};

struct nh_deliver;

/* Returns NULL and a one-line reason in err on bad options or when curl
 * cannot be set up. */
struct nh_deliver *nh_deliver_new(const struct nh_deliver_opts *o,
				  char *err, size_t errlen);

/* Takes ownership of `body` (malloc'd, `len` bytes, need not be
 * NUL-terminated) and returns 0. Returns -1 if the queue is full: `body`
 * is then still the caller's (to count as a drop and free, or to spool). */
int nh_deliver_submit(struct nh_deliver *d, char *body, size_t len);

/* Waits up to timeout_ms (negative counts as 0: there is no "forever")
 * until a curl socket or extra_fd (-1 = none; e.g. the ring buffer's epoll
 * fd) is readable, or nh_deliver_wakeup() is called; then moves transfers
 * along and reports finished ones through on_done. Returns 0, or -1 on a
 * fatal curl error (nh_deliver_last_error() says which). */
int nh_deliver_poll(struct nh_deliver *d, int extra_fd, int timeout_ms);

/* Why nh_deliver_poll() last returned -1; "" if it never did. */
const char *nh_deliver_last_error(const struct nh_deliver *d);

/* Makes a running nh_deliver_poll() return early. The one call that is
 * safe from another thread (not from a signal handler). */
void nh_deliver_wakeup(struct nh_deliver *d);

/* Bodies queued + requests running. */
size_t nh_deliver_in_flight(const struct nh_deliver *d);

/* Polls until nothing is queued or running, or deadline_ms have passed.
 * Returns the number of bodies still queued or running (the caller counts
 * them as dropped at shutdown; nh_deliver_free() discards them). */
size_t nh_deliver_drain(struct nh_deliver *d, int deadline_ms);

void nh_deliver_stats(const struct nh_deliver *d, struct nh_deliver_stats *s);

/* Aborts what is running and frees every body still held, without calling
 * on_done. NULL is fine. */
void nh_deliver_free(struct nh_deliver *d);

#endif
