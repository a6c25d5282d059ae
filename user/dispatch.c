// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dispatch.h"
#include "fnv.h"
#include "log.h"
#include "subject.h"

/* Bodies read back from the spool into memory at a time: enough to keep
 * every lane busy, little enough to leave the rest on disk. */
#define REPLAY_PER_LANE 16
#define REPLAY_MIN 256
#define SPOOL_WARN_EVERY_MS 5000

/* Bodies waiting to go out together as one JSON array (body.batch). */
struct nh_batch {
	struct nh_buf buf;   /* "[" body "," body ... without the "]" */
	uint32_t events;     /* 0: not open */
	uint64_t key;        /* the first event's: the lane of every one in it */
	uint64_t first_ms;   /* wall clock of the first event: its age, max_age */
	int64_t opened_ms;   /* monotonic: when batch_wait is up */
};

/* The JetStream sink's items are framed with their subject (subject.h). */
static bool is_nats(const struct nh_dispatch *d)
{
	return nh_sink_ok(&d->sink) && d->sink.ops->kind == NH_SINK_NATS;
}

/* How many events an item stands for (batches carry several). */
static uint64_t events_of(const struct nh_deliver_item *it)
{
	return it->events > 1 ? it->events : 1;
}

uint64_t nh_dispatch_key(const char *clientid, size_t len)
{
	uint64_t h = nh_fnv1a64(clientid, len);

	/* FNV's low bits are weak; the lane is h % pool_size. */
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

/* One message per kind of spool trouble per SPOOL_WARN_EVERY_MS: a full
 * spool refuses every event, and the counters carry the numbers. */
static void spool_warn(struct nh_dispatch *d, const char *what, int err)
{
	int64_t now = nh_mono_ms();

	if (d->spool_warned_ms && now - d->spool_warned_ms < SPOOL_WARN_EVERY_MS)
		return;
	d->spool_warned_ms = now;
	if (err == ENOSPC)
		nh_warn("spool: %s: full (nanohook.spool.max_size %llu bytes); events are dropped and counted",
			what, (unsigned long long)d->cfg->spool_max_bytes);
	else
		nh_warn("spool: %s: %s; events are dropped and counted", what, strerror(err));
}

/* Appends it to the spool (and frees its body if asked); a failure is
 * counted as a drop unless the event lives on elsewhere (`copy`).
 * Returns the position + 1, or 0 if it could not be written. */
static uint64_t spool_item(struct nh_dispatch *d, struct nh_deliver_item *it, bool free_body,
			   bool copy)
{
	struct nh_spool_meta m = { .seq = it->id, .key = it->key,
				   .first_ms = it->captured_ms, .attempts = it->attempts,
				   .events = it->events };
	uint64_t pos = 0, tag = 0;

	if (nh_spool_append(d->spool, &m, it->body, it->len, &pos) == 0) {
		d->st.spooled += events_of(it);
		tag = pos + 1;
	} else {
		int e = errno;

		if (!copy)
			d->st.udrop[e == ENOSPC ? NH_UDROP_SPOOL_FULL : NH_UDROP_SPOOL_ERROR] +=
				events_of(it);
		spool_warn(d, "cannot write an event", e);
	}
	if (free_body) {
		free(it->body);
		it->body = NULL;
	}
	return tag;
}

static void dead_letter(struct nh_dispatch *d, const struct nh_deliver_item *it,
			enum nh_dead_reason why, const struct nh_deliver_result *r)
{
	struct nh_dead_entry e = {
		.reason = why,
		.attempts = it->attempts,
		.status = r ? r->http_status : 0,
		.error = r ? r->error : "",
		.captured_ms = it->captured_ms,
		.key = it->key,
		.body = it->body,
		.len = it->len,
		.dest = d->dest_shown,
	};

	if (!d->dead_letter) {
		d->st.udrop[NH_UDROP_DEAD_LETTER] += events_of(it);
		return;
	}
	if (is_nats(d))
		nh_subject_unframe(it->body, it->len, &e.subject, &e.subject_len, &e.body, &e.len);
	if (nh_dead_letter_write(d->dead_letter, &e) < 0) {
		nh_warn("dead-letter file %s: %s; the event is counted as dropped",
			nh_dead_letter_path(d->dead_letter), strerror(errno));
		d->st.udrop[NH_UDROP_DEAD_LETTER] += events_of(it);
		return;
	}
	d->st.dead[why] += events_of(it);
}

void nh_dispatch_on_result(void *ctx, struct nh_deliver_item *it,
			   const struct nh_deliver_result *r)
{
	struct nh_dispatch *d = ctx;

	switch (r->outcome) {
	case NH_OUT_DELIVERED:
		d->st.delivered += events_of(it);
		break;
	case NH_OUT_REJECTED:
		dead_letter(d, it, NH_DEAD_REJECTED, r);
		break;
	case NH_OUT_GAVE_UP_ATTEMPTS:
		dead_letter(d, it, NH_DEAD_MAX_ATTEMPTS, r);
		break;
	case NH_OUT_GAVE_UP_AGE:
		dead_letter(d, it, NH_DEAD_MAX_AGE, r);
		break;
	case NH_OUT_RELEASED:
		/* Its copy is in the spool (tag), and will be read again. One
		 * that could not be written there goes at the end rather
		 * than nowhere. */
		if (!it->tag && d->spool)
			spool_item(d, it, false, false);
		else if (!it->tag)
			d->st.udrop[NH_UDROP_SHUTDOWN] += events_of(it);
		free(it->body);
		return;
	}
	if (it->tag)
		nh_spool_ack(d->spool, it->tag - 1);
	free(it->body);
}

/* nh_deliver_take's callback: into the spool with everything in memory. */
static void take_into_spool(void *ctx, struct nh_deliver_item *it, bool running)
{
	struct nh_dispatch *d = ctx;

	if (running) {
		/* Still on the wire: a copy goes in its place in the order;
		 * the engine lets it go if it fails (and without a copy, it
		 * is spooled then, or counted). */
		if (!it->tag)
			it->tag = spool_item(d, it, false, true);
		return;
	}
	if (it->tag) {
		/* Already in the spool: read again after the rewind. */
		free(it->body);
		return;
	}
	spool_item(d, it, true, false);
}

static void enter_spooling(struct nh_dispatch *d, const char *why)
{
	size_t n;

	d->spooling = true;
	/* Copies read from the spool are thrown away and read again, so
	 * that the spool's order is the order again. */
	nh_spool_rewind(d->spool);
	n = d->sink.ops->take(d->sink.engine, take_into_spool, d);
	nh_info("%s %s: events go to the spool until it is read back (%zu moved from memory)",
		d->dest_shown ? d->dest_shown : "webhook", why, n);
}

static void submit(struct nh_dispatch *d, struct nh_deliver_item *it)
{
	if (!d->spooling) {
		if (d->sink.ops->submit(d->sink.engine, it) == 0)
			return;
		if (!d->spool) {
			d->st.udrop[NH_UDROP_QUEUE_FULL] += events_of(it);
			free(it->body);
			return;
		}
		enter_spooling(d, "(the memory queue is full, nanohook.queue_max)");
	}
	spool_item(d, it, true, false);
}

/* The batch goes to the engine (or the spool) as one item. */
static void batch_send(struct nh_dispatch *d, struct nh_batch *b)
{
	struct nh_deliver_item it = { 0 };

	if (!b->events)
		return;
	it.events = b->events;
	b->events = 0;
	if (nh_buf_append_byte(&b->buf, ']') < 0 || !(it.body = nh_buf_detach(&b->buf, &it.len))) {
		d->st.udrop[NH_UDROP_NO_BODY] += it.events;
		nh_buf_reset(&b->buf);
		return;
	}
	it.seq = it.id = d->next_seq++;
	it.key = d->cfg->order_per_client ? b->key : it.seq;
	it.captured_ms = b->first_ms;
	submit(d, &it);
}

/* Adds the body to the batch of its lane; 0, or -1 when the batches
 * cannot be had (the caller sends the body on its own). */
static int batch_add(struct nh_dispatch *d, const struct nh_buf *body, uint64_t key)
{
	struct nh_batch *b;
	size_t before;

	if (!d->batches) {
		/* One batch per lane of the engine: the batches of one key
		 * then always go to that key's lane, in order. */
		d->n_batches = !d->cfg->order_per_client ? 1
			       : nh_sink_ok(&d->sink) ? d->sink.ops->n_lanes(d->sink.engine) : d->cfg->pool_size;
		d->batches = calloc(d->n_batches, sizeof(*d->batches));
		if (!d->batches)
			return -1;
	}
	b = &d->batches[d->cfg->order_per_client ? key % d->n_batches : 0];
	if (b->events == 0) {
		nh_buf_reset(&b->buf);
		b->key = key;
		b->first_ms = nh_wall_ms();
		b->opened_ms = nh_clock_now_ms(d->clock);
	}
	before = b->buf.len;
	if (nh_buf_append_byte(&b->buf, b->events ? ',' : '[') < 0 ||
	    nh_buf_append(&b->buf, body->data, body->len) < 0) {
		nh_buf_truncate(&b->buf, before); /* the batch as it was */
		return -1;
	}
	if (++b->events >= d->cfg->batch)
		batch_send(d, b);
	return 0;
}

void nh_dispatch_send_due(struct nh_dispatch *d)
{
	int64_t now;

	if (!d->batches)
		return;
	now = nh_clock_now_ms(d->clock);
	for (size_t i = 0; i < d->n_batches; i++) {
		struct nh_batch *b = &d->batches[i];

		if (!b->events || now - b->opened_ms < (int64_t)d->cfg->batch_wait_ms)
			continue;
		/* Its lane is still busy: the batch would only wait there, so
		 * it goes on filling (up to body.batch) until the lane is free.
		 * A backed-up client then moves body.batch events per round
		 * trip instead of a few. */
		if (d->cfg->order_per_client && !d->spooling && nh_sink_ok(&d->sink) &&
		    d->sink.ops->lane_busy(d->sink.engine, b->key))
			continue;
		batch_send(d, b);
	}
}

void nh_dispatch_flush(struct nh_dispatch *d)
{
	for (size_t i = 0; d->batches && i < d->n_batches; i++)
		batch_send(d, &d->batches[i]);
}

void nh_dispatch_free(struct nh_dispatch *d)
{
	for (size_t i = 0; d->batches && i < d->n_batches; i++) {
		d->st.udrop[NH_UDROP_SHUTDOWN] += d->batches[i].events;
		nh_buf_free(&d->batches[i].buf);
	}
	free(d->batches);
	d->batches = NULL;
	d->n_batches = 0;
}

void nh_dispatch_no_body(struct nh_dispatch *d)
{
	d->st.handed_over++;
	d->st.udrop[NH_UDROP_NO_BODY]++;
}

void nh_dispatch_body(struct nh_dispatch *d, struct nh_buf *body, uint64_t key, bool take)
{
	struct nh_deliver_item it = { 0 };

	d->st.handed_over++;
	/* A batch is one HTTP request; JetStream takes each event as its own
	 * message, with its own subject and Nats-Msg-Id. */
	if (d->cfg->batch > 1 && !is_nats(d) && batch_add(d, body, key) == 0)
		return;
	if (take) {
		it.body = nh_buf_detach(body, &it.len);
	} else if ((it.body = malloc(body->len ? body->len : 1))) {
		memcpy(it.body, body->data, body->len);
		it.len = body->len;
	}
	if (!it.body) {
		d->st.udrop[NH_UDROP_NO_BODY]++;
		return;
	}
	it.seq = it.id = d->next_seq++;
	it.key = d->cfg->order_per_client ? key : it.seq;
	it.captured_ms = nh_wall_ms();
	submit(d, &it);
}

void nh_dispatch_start(struct nh_dispatch *d)
{
	struct nh_spool_stats st;

	if (!d->spool || !nh_sink_ok(&d->sink))
		return;
	nh_spool_stats(d->spool, &st);
	if (st.records) {
		d->spooling = true;
		nh_info("%s: the spool holds %llu events from before; they go out first",
			d->dest_shown ? d->dest_shown : "webhook", (unsigned long long)st.records);
	}
}

/* Feeds the engine from the spool. */
static void replay(struct nh_dispatch *d)
{
	size_t window = (size_t)d->cfg->pool_size * REPLAY_PER_LANE;
	bool failing = d->sink.ops->failing_ms(d->sink.engine) > 0;
	uint64_t now = nh_wall_ms();

	if (window < REPLAY_MIN)
		window = REPLAY_MIN;
	if (window > d->cfg->queue_max)
		window = d->cfg->queue_max;
	/* Bodies on the wire that the spool also holds: reading on could
	 * send their copies too. They end within cancel_timeout. */
	if (d->sink.ops->handed_over(d->sink.engine))
		return;
	/* While the endpoint fails, one body at a time finds out when it is
	 * back; the rest stay on disk. */
	if (failing)
		window = 1;
	while (d->sink.ops->in_flight(d->sink.engine) < window) {
		struct nh_deliver_item it = { 0 };
		struct nh_spool_meta m;
		uint64_t pos;
		int rc = nh_spool_read(d->spool, &m, &it.body, &it.len, &pos);

		if (rc == 0) {
			d->spooling = false;
			nh_info("spool read to its end; events go to memory again");
			return;
		}
		if (rc < 0) {
			spool_warn(d, "cannot read", errno);
			return;
		}
		it.seq = d->next_seq++;
		it.id = m.seq; /* the spool keeps the identity; seq is this run's order */
		it.key = m.key;
		it.captured_ms = m.first_ms;
		it.attempts = m.attempts;
		it.events = m.events;
		it.tag = pos + 1;
		if (d->cfg->spool_max_age_ms && now > m.first_ms + d->cfg->spool_max_age_ms) {
			dead_letter(d, &it, NH_DEAD_SPOOL_MAX_AGE, NULL);
			nh_spool_ack(d->spool, pos);
			free(it.body);
			continue;
		}
		if (d->sink.ops->submit(d->sink.engine, &it) < 0) {
			/* Out of memory: it stays unacknowledged, and is read
			 * again at the next rewind or start. */
			free(it.body);
			return;
		}
	}
}

void nh_dispatch_pump(struct nh_dispatch *d)
{
	int64_t failing;

	if (nh_sink_ok(&d->sink))
		nh_dispatch_send_due(d);
	if (!d->spool || !nh_sink_ok(&d->sink))
		return;
	failing = d->sink.ops->failing_ms(d->sink.engine);
	if (!d->spooling && failing > 0 && failing >= (int64_t)d->cfg->spool_failing_ms &&
	    d->sink.ops->in_flight(d->sink.engine) > 0) {
		char why[96];

		snprintf(why, sizeof(why), "(every attempt has failed for %.1f s)",
			 (double)failing / 1000.0);
		enter_spooling(d, why);
	}
	if (d->spooling)
		replay(d);
	if (nh_spool_sync(d->spool, false) < 0)
		spool_warn(d, "cannot write", errno);
}

uint64_t nh_dispatch_shutdown(struct nh_dispatch *d, int deadline_ms)
{
	uint64_t before = d->st.spooled;

	if (!nh_sink_ok(&d->sink))
		return 0;
	nh_dispatch_flush(d);
	d->sink.ops->drain(d->sink.engine, deadline_ms);
	if (!d->spool) {
		d->st.udrop[NH_UDROP_SHUTDOWN] += d->sink.ops->in_flight(d->sink.engine);
		return 0;
	}
	/* A request stopped here may have reached the endpoint: it is sent
	 * again at the next start (at least once, not exactly once). */
	d->sink.ops->abort(d->sink.engine);
	d->sink.ops->take(d->sink.engine, take_into_spool, d);
	if (nh_spool_sync(d->spool, true) < 0)
		spool_warn(d, "cannot write", errno);
	return d->st.spooled - before;
}
