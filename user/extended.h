/* SPDX-License-Identifier: MIT */
/*
 * body.extended: the node name, a unique event id and a per-client
 * sequence number for every body. Sequence numbers follow the order the
 * dispatcher sees events, which for one client is the broker's order.
 */
#ifndef NH_EXTENDED_H
#define NH_EXTENDED_H

#include "body.h"
#include "event.h"

struct nh_extender;

/* node: NULL for the host name. */
struct nh_extender *nh_extender_new(const char *node);
void nh_extender_free(struct nh_extender *x);

/* Fills `extra` for `ev`; its strings live in x until the next call. */
void nh_extender_next(struct nh_extender *x, const struct nh_event *ev,
		      struct nh_body_extra *extra);

#endif
