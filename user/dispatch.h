/* SPDX-License-Identifier: MIT */
/*
 * From checked event to request: rule filter, body, then either the
 * delivery engine or stdout (--stdout). Counts every event on the way.
 */
#ifndef NH_DISPATCH_H
#define NH_DISPATCH_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "deliver.h"
#include "event.h"

struct nh_dispatch_stats {
	uint64_t seen;                /* checked events from the ring buffer */
	uint64_t filtered;            /* no rule wants them */
	uint64_t handed_over;         /* queued for POST, or printed */
	uint64_t dropped_queue_full;  /* delivery queue full */
	uint64_t dropped_body;        /* no body could be built */
	uint64_t by_event[NH_EV_MAX]; /* handed over, per event */
};

struct nh_dispatch {
	const struct nh_config *cfg;
	struct nh_deliver *deliver;   /* NULL with --stdout */
	FILE *print_to;               /* bodies as JSON lines with --stdout */
	struct nh_buf body;
	struct nh_dispatch_stats st;
};

/* The capture callback (nh_event_fn); ctx is a struct nh_dispatch. */
void nh_dispatch_event(void *ctx, const struct nh_event *ev);

#endif
