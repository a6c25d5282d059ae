/* SPDX-License-Identifier: MIT */
/*
 * What a destination's engine offers the dispatcher (dispatch.h), whatever
 * it delivers to: the HTTP engine (deliver.h) and the JetStream engine
 * (jetstream.h) both keep items in per-client lanes, retry them by one
 * policy, and hand them back for the spool, with the same meaning for
 * every call (deliver.h documents them). The dispatcher's batching, spool
 * and dead letters then work the same for both.
 */
#ifndef NH_SINK_H
#define NH_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "deliver.h"

struct nh_sink_ops {
	enum nh_sink_kind kind;
	int (*submit)(void *engine, const struct nh_deliver_item *it);
	unsigned (*n_lanes)(const void *engine);
	bool (*lane_busy)(const void *engine, uint64_t key);
	size_t (*in_flight)(const void *engine);
	size_t (*running)(const void *engine);
	size_t (*handed_over)(const void *engine);
	int64_t (*failing_ms)(const void *engine);
	size_t (*drain)(void *engine, int deadline_ms);
	void (*abort)(void *engine);
	size_t (*take)(void *engine, nh_deliver_take_fn fn, void *ctx);
	void (*stats)(const void *engine, struct nh_deliver_stats *s);
	void (*free)(void *engine);
};

struct nh_sink {
	const struct nh_sink_ops *ops; /* NULL: no engine (--stdout) */
	void *engine;
};

/* The HTTP engine as a sink; the sink's free frees it. */
struct nh_sink nh_sink_http(struct nh_deliver *d);

/* The HTTP engine behind s, or NULL if s is another kind (or none). */
struct nh_deliver *nh_sink_http_engine(const struct nh_sink *s);

static inline bool nh_sink_ok(const struct nh_sink *s)
{
	return s->ops != NULL;
}

/* Frees the engine; an empty sink is fine. */
void nh_sink_free(struct nh_sink *s);

#endif
