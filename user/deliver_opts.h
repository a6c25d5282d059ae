/* SPDX-License-Identifier: MIT */
/* The delivery engine's settings, as a configuration gives them. */
#ifndef NH_DELIVER_OPTS_H
#define NH_DELIVER_OPTS_H

#include "config.h"
#include "deliver.h"
#include "retry.h"
#include "security.h"

/* Destination `dest` of cfg: its urls and balance, lanes, circuits, HTTP
 * version, headers, timeouts, queue_max, the retry policy (written to
 * *retry, which o->retry points at), TLS and signing. The caller sets
 * what is its own: on_result, ctx, hub, clock. */
/* nanohook.retry {} as a policy. */
void nh_retry_policy_from_config(const struct nh_config *cfg, struct nh_retry_policy *retry);

void nh_deliver_opts_from_config(const struct nh_config *cfg, const struct nh_security *sec,
				 const struct nh_dest *dest, struct nh_retry_policy *retry,
				 struct nh_deliver_opts *o);

#endif
