// SPDX-License-Identifier: MIT
#include "sink.h"

static int http_submit(void *e, const struct nh_deliver_item *it)
{
	return nh_deliver_submit_item(e, it);
}

static unsigned http_n_lanes(const void *e)
{
	return nh_deliver_n_lanes(e);
}

static bool http_lane_busy(const void *e, uint64_t key)
{
	return nh_deliver_lane_busy(e, key);
}

static size_t http_in_flight(const void *e)
{
	return nh_deliver_in_flight(e);
}

static size_t http_running(const void *e)
{
	return nh_deliver_running(e);
}

static size_t http_handed_over(const void *e)
{
	return nh_deliver_handed_over(e);
}

static int64_t http_failing_ms(const void *e)
{
	return nh_deliver_failing_ms(e);
}

static size_t http_drain(void *e, int deadline_ms)
{
	return nh_deliver_drain(e, deadline_ms);
}

static void http_abort(void *e)
{
	nh_deliver_abort(e);
}

static size_t http_take(void *e, nh_deliver_take_fn fn, void *ctx)
{
	return nh_deliver_take(e, fn, ctx);
}

static void http_stats(const void *e, struct nh_deliver_stats *s)
{
	nh_deliver_stats(e, s);
}

static void http_free(void *e)
{
	nh_deliver_free(e);
}

static const struct nh_sink_ops http_ops = {
	.kind = NH_SINK_HTTP,
	.submit = http_submit,
	.n_lanes = http_n_lanes,
	.lane_busy = http_lane_busy,
	.in_flight = http_in_flight,
	.running = http_running,
	.handed_over = http_handed_over,
	.failing_ms = http_failing_ms,
	.drain = http_drain,
	.abort = http_abort,
	.take = http_take,
	.stats = http_stats,
	.free = http_free,
};

struct nh_sink nh_sink_http(struct nh_deliver *d)
{
	return (struct nh_sink){ .ops = d ? &http_ops : NULL, .engine = d };
}

struct nh_deliver *nh_sink_http_engine(const struct nh_sink *s)
{
	return s->ops == &http_ops ? s->engine : NULL;
}

void nh_sink_free(struct nh_sink *s)
{
	if (s->ops)
		s->ops->free(s->engine);
	s->ops = NULL;
	s->engine = NULL;
}
