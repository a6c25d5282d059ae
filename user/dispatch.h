/* SPDX-License-Identifier: MIT */
/*
 * One destination (see config.h): from body to delivered request, and the
 * account of every event on the way: the delivery engine, the disk spool;
 * retries that end badly go to the dead-letter file. router.c decides
 * which destinations an event goes to and builds its body.
 *
 * Where a body waits (see also deliver.h and spool.h):
 *  - Normally in memory, in the delivery engine's lanes (bounded by
 *    queue_max).
 *  - "Spooling": when the memory queue is full, or every attempt has
 *    failed for spool.failing_after, everything waiting in memory is moved
 *    to the spool in order, and new events are appended to it. Bodies
 *    come back from the spool in order, as the engine has room: all of
 *    them once the endpoint answers again; while it keeps failing, one at
 *    a time, as a probe. When the spool has been read to its end, new
 *    events go to memory again. At start, what an earlier run left in the
 *    spool is read first.
 * The spool is read in the order it was written, and at any moment the
 * bodies in memory that came from it are older than the ones that did
 * not, so each client's events reach the engine in the order they were
 * captured; the engine keeps that order per client (one lane per key).
 */
#ifndef NH_DISPATCH_H
#define NH_DISPATCH_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "deadletter.h"
#include "deliver.h"
#include "sink.h"
#include "event.h"
#include "spool.h"
#include "stats.h"

struct nh_dispatch_stats {
	uint64_t handed_over;         /* bodies given to this destination */
	uint64_t delivered;           /* answered 2xx */
	uint64_t spooled;             /* written to the spool */
	uint64_t dead[NH_DEAD_MAX];   /* written to the dead-letter file */
	uint64_t udrop[NH_UDROP_MAX]; /* lost in userspace, by reason */
};

struct nh_batch;

struct nh_dispatch {
	const struct nh_config *cfg;
	struct nh_sink sink;          /* this destination's engine: HTTP or JetStream */
	struct nh_spool *spool;       /* NULL: no spool (memory only) */
	const char *dest_shown;       /* the url(s) events are captured for, redacted:
				       * written with each dead letter */
	struct nh_dead_letter *dead_letter; /* NULL: given-up events are only counted;
					     * shared by the destinations */
	const struct nh_clock *clock; /* batch_wait's clock; NULL: the real one */
	struct nh_dispatch_stats st;

	/* set by the dispatcher */
	/* body.batch: the open batches, one per lane of the engine (the
	 * client's key picks it, as it picks the lane), or a single one with
	 * order = none; NULL until the first event. */
	struct nh_batch *batches;
	size_t n_batches;
	uint64_t next_seq;
	bool spooling;                /* new events go to the spool */
	int64_t spool_warned_ms;      /* rate limit of spool error messages */
};

/* Hands one body (in *body, with the client's ordering key) to this
 * destination: to a batch, the engine or the spool. With `take` the
 * body's memory may be taken over (body is left empty); without, it is
 * copied. */
void nh_dispatch_body(struct nh_dispatch *d, struct nh_buf *body, uint64_t key, bool take);

/* An event meant for this destination whose body could not be made (out
 * of memory): counted as handed over and dropped (no_body). */
void nh_dispatch_no_body(struct nh_dispatch *d);

/* The engine's on_result; ctx is a struct nh_dispatch. */
void nh_dispatch_on_result(void *ctx, struct nh_deliver_item *it,
			   const struct nh_deliver_result *r);

/* Once the fields are set: starts spooling if the spool holds events from
 * an earlier run, so that they go out before new ones. */
void nh_dispatch_start(struct nh_dispatch *d);

/* Once per loop turn: moves to the spool if the endpoint has been failing
 * long enough, feeds the engine from the spool, saves the spool's state. */
void nh_dispatch_pump(struct nh_dispatch *d);

/* After intake has stopped: delivers what is in memory for up to
 * deadline_ms, then stops the requests still running and puts everything
 * left into the spool (or counts it as dropped at shutdown, without one).
 * Returns the number of events put into the spool. */
uint64_t nh_dispatch_shutdown(struct nh_dispatch *d, int deadline_ms);

/* body.batch: sends every open batch now (before a reload changes the
 * settings, and at shutdown). */
void nh_dispatch_flush(struct nh_dispatch *d);

/* body.batch: sends the batches whose batch_wait is up (by d->clock). The
 * pump does it every loop turn; tests call it after moving their clock. */
void nh_dispatch_send_due(struct nh_dispatch *d);

/* Frees what the dispatcher holds of its own (the open batches, which
 * nh_dispatch_shutdown has sent). */
void nh_dispatch_free(struct nh_dispatch *d);

/* The ordering key of a client id (FNV-1a, 64 bits). */
uint64_t nh_dispatch_key(const char *clientid, size_t len);

#endif
