/* SPDX-License-Identifier: MIT */
/*
 * From checked event to the destinations that want it: the rules pick the
 * destinations (config.h), the body is built once, and each destination
 * (dispatch.h) gets it; with --stdout it is printed instead.
 */
#ifndef NH_ROUTER_H
#define NH_ROUTER_H

#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "dispatch.h"
#include "event.h"

struct nh_router_stats {
	uint64_t seen;                /* checked events from the ring buffer */
	uint64_t filtered;            /* no rule wants them */
	uint64_t wanted;              /* some rule wants them: printed, or handed to destinations */
	uint64_t by_event[NH_EV_MAX]; /* wanted, per event */
	uint64_t no_body;             /* wanted, but no body could be built */
};

struct nh_extender;

struct nh_router {
	const struct nh_config *cfg;
	struct nh_dispatch *dests;    /* cfg->n_dests of them; NULL with --stdout */
	FILE *print_to;               /* bodies as JSON lines with --stdout */
	struct nh_extender *extender; /* body.extended: made on first use */
	struct nh_buf body;
	struct nh_buf framed;         /* the JetStream sink's item: subject and body */
	char node[256];               /* {node} of NATS subjects; "" until first used */
	struct nh_router_stats st;
};

/* The capture callback (nh_event_fn); ctx is a struct nh_router. */
void nh_router_event(void *ctx, const struct nh_event *ev);

/* After a reload changed node or body.extended: made again at first use. */
void nh_router_reset_extender(struct nh_router *r);

void nh_router_free(struct nh_router *r);

#endif
