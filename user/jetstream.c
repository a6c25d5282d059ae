// SPDX-License-Identifier: MIT
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nats/nats.h>

#include "itemq.h"
#include "jetstream.h"
#include "log.h"
#include "sign.h"
#include "subject.h"
#include "url.h"

#define CONNECT_TIMEOUT_MS 3000
#define RECONNECT_WAIT_MS 1000
#define ACK_TIMEOUT_DEFAULT_MS 5000
#define REPORT_EVERY_MS 5000
/* A subject this long fits on the stack; longer ones are malloc'd. */
#define SUBJECT_STACK 512

/* One acknowledgement (or failure) as nats.c reported it, on its thread. */
struct ack {
	natsMsg *msg;
	bool ok;
	bool duplicate;
	natsStatus status;
	jsErrCode code;
	char text[128];
};

/* The message of a lane on its way; one at a time keeps the lane's order. */
struct jslot {
	struct nh_deliver_item it;
	bool has_it;
	bool running;      /* published, not yet acknowledged */
	bool handed_over;  /* given to take() while running */
	int64_t due_ms;    /* !running: retried then (engine clock) */
	int64_t sent_ms;   /* monotonic, for the request histogram */
	natsMsg *msg;      /* running: what the acknowledgement will name */
};

struct jlane {
	struct nh_itemq q;
	struct jslot s;
};

struct nh_jetstream {
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	char *stream;
	int efd;

	/* Filled by nats.c's threads under live.mu; the rest of the engine
	 * is the caller's thread's alone. At most one message per lane is
	 * unacknowledged, so n_lanes entries always suffice. */
	struct ack *acks;
	size_t n_acks;
	struct ack *taken;     /* the caller's: acks swapped out to settle */
	uint64_t disconnects, reconnects; /* under live.mu */

	struct jlane *lanes;
	unsigned n_lanes;
	size_t queued, held, running, handed_over, queue_max;
	unsigned timeout_ms;
	struct nh_retry_policy retry;
	bool have_retry;
	uint64_t rng;
	const struct nh_clock *clock;
	int64_t failing_since;
	nh_deliver_result_fn on_result;
	void *ctx;
	struct nh_deliver_stats stats;
	uint64_t duplicates;
	int64_t reported_ms;
	uint64_t quiet;
};

static int64_t now_ms(const struct nh_jetstream *j)
{
	return nh_clock_now_ms(j->clock);
}

/* ---- nats.c's threads ---------------------------------------------------------- */

/*
 * How nats.c's threads reach the engine. Process-wide, for a reason:
 * nats.c may call the handlers until its library is closed, and closing it
 * (nats_Close) frees OpenSSL 3's compression table that OPENSSL_cleanup
 * frees again at exit (a crash after any TLS connection). So the library
 * stays open, and the handlers find the engine here, or NULL once it is
 * freed; one engine per process, which is all nanohook makes.
 */
static struct {
	pthread_mutex_t mu;
	struct nh_jetstream *engine;
} live = { PTHREAD_MUTEX_INITIALIZER, NULL };

#if defined(__SANITIZE_ADDRESS__)
/* With the library open at exit, its own threads still hold their
 * thread-local error state (672 bytes each, from nats_clearLastError):
 * LeakSanitizer would call that a leak in every sanitized run. Its fast
 * unwinder stops inside libnats (no frame pointers there), so the
 * library is the narrowest name a suppression can match. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libnats.so\n";
}
#endif

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct nh_jetstream *j;
	struct ack a = { .msg = msg, .ok = pa != NULL, .duplicate = pa && pa->Duplicate };
	uint64_t one = 1;

	(void)js;
	(void)closure;
	if (!pa && pae) {
		a.status = pae->Err;
		a.code = pae->ErrCode;
		snprintf(a.text, sizeof(a.text), "%s",
			 pae->ErrText && *pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
	} else if (!pa) {
		a.status = NATS_ERR;
		snprintf(a.text, sizeof(a.text), "no acknowledgement");
	}
	pthread_mutex_lock(&live.mu);
	/* Only an acknowledgement of a message the engine gave up waiting
	 * for (abort), or that came after the engine, finds no room: nobody
	 * waits for it. */
	if ((j = live.engine) && j->n_acks < j->n_lanes) {
		j->acks[j->n_acks++] = a;
		msg = NULL;
		if (write(j->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			nh_warn("nats: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&live.mu);
	natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	bool ours;

	(void)nc;
	(void)closure;
	pthread_mutex_lock(&live.mu);
	if ((ours = live.engine != NULL))
		live.engine->disconnects++;
	pthread_mutex_unlock(&live.mu);
	if (ours)
		nh_warn("nats: disconnected; reconnecting (events wait, and retry)");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	char url[256] = "";
	bool ours;

	(void)closure;
	pthread_mutex_lock(&live.mu);
	if ((ours = live.engine != NULL))
		live.engine->reconnects++;
	pthread_mutex_unlock(&live.mu);
	natsConnection_GetConnectedUrl(nc, url, sizeof(url));
	if (ours)
		nh_info("nats: reconnected to %s", url);
}

/* ---- settling ---------------------------------------------------------------- */

static void finish(struct nh_jetstream *j, struct jslot *s, enum nh_deliver_outcome out,
		   const char *error)
{
	struct nh_deliver_item it = s->it;
	struct nh_deliver_result r = { .outcome = out, .error = error ? error : "" };

	s->has_it = false;
	s->handed_over = false;
	j->held--;
	nh_item_finished(&j->stats, j->on_result, j->ctx, &it, &r);
}

/* One line per REPORT_EVERY_MS for failures: a server that is down
 * fails every message. */
static void report(struct nh_jetstream *j, const char *why)
{
	int64_t t = nh_mono_ms();

	if (j->reported_ms && t - j->reported_ms < REPORT_EVERY_MS) {
		j->quiet++;
		return;
	}
	if (j->quiet)
		nh_warn("nats: publish to stream %s failed: %s (and %llu more failures)", j->stream,
			why, (unsigned long long)j->quiet);
	else
		nh_warn("nats: publish to stream %s failed: %s", j->stream, why);
	j->reported_ms = t;
	j->quiet = 0;
}

/* What becomes of a slot's item after a failed attempt. */
static void attempt_failed(struct nh_jetstream *j, struct jslot *s, bool permanent,
			   const char *why)
{
	int64_t t = now_ms(j);

	report(j, why);
	if (!j->failing_since)
		j->failing_since = t ? t : 1;
	s->it.attempts++;
	if (permanent) {
		finish(j, s, NH_OUT_REJECTED, why);
		return;
	}
	if (s->handed_over) {
		finish(j, s, NH_OUT_RELEASED, why);
		return;
	}
	if (!j->have_retry || s->it.attempts >= j->retry.max_attempts) {
		finish(j, s, NH_OUT_GAVE_UP_ATTEMPTS, why);
		return;
	}
	if (j->retry.max_age_ms && nh_wall_ms() >= s->it.captured_ms + j->retry.max_age_ms) {
		finish(j, s, NH_OUT_GAVE_UP_AGE, why);
		return;
	}
	s->due_ms = t + (int64_t)nh_retry_backoff_ms(&j->retry, s->it.attempts,
						      nh_retry_random(&j->rng));
	j->stats.retried++;
}

/* Publishes slot s's item. */
static void publish(struct nh_jetstream *j, struct jslot *s)
{
	char stack[SUBJECT_STACK], *subject = stack, id[NH_WEBHOOK_ID_LEN + 1];
	const char *subj, *body;
	size_t subj_len, body_len;
	natsMsg *m = NULL, *sent;
	jsPubOptions po;
	natsStatus st;

	if (!nh_subject_unframe(s->it.body, s->it.len, &subj, &subj_len, &body, &body_len) ||
	    body_len > INT32_MAX) {
		finish(j, s, NH_OUT_REJECTED, "not a framed NATS item");
		return;
	}
	if (subj_len >= sizeof(stack) && !(subject = malloc(subj_len + 1))) {
		attempt_failed(j, s, false, "out of memory");
		return;
	}
	memcpy(subject, subj, subj_len);
	subject[subj_len] = '\0';
	/* The HTTP sink's webhook-id: the same on every attempt and after
	 * the spool, so the server drops a resend it already stored. */
	nh_webhook_id(s->it.captured_ms, s->it.id, body, body_len, id);
	st = natsMsg_Create(&m, subject, NULL, body, (int)body_len);
	if (subject != stack)
		free(subject);
	if (st == NATS_OK)
		st = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
	jsPubOptions_Init(&po);
	po.MaxWait = j->timeout_ms;
	sent = m;
	if (st == NATS_OK)
		st = js_PublishMsgAsync(j->js, &m, &po);
	if (st != NATS_OK) {
		char why[160];

		natsMsg_Destroy(m);
		snprintf(why, sizeof(why), "%s", natsStatus_GetText(st));
		j->stats.failed_transport++;
		attempt_failed(j, s, st == NATS_MAX_PAYLOAD, why);
		return;
	}
	s->msg = sent;
	s->running = true;
	s->sent_ms = nh_mono_ms();
	j->running++;
}

/* Starts lane l's next message, or its retry when due. */
static void kick(struct nh_jetstream *j, struct jlane *l, int64_t now)
{
	struct jslot *s = &l->s;

	/* A publish that fails at once leaves the slot free: go on while
	 * nothing is on the wire. */
	while (!s->running) {
		if (s->has_it) {
			if (s->due_ms > now)
				return;
		} else if (l->q.len) {
			s->it = nh_itemq_pop(&l->q);
			j->queued--;
			s->has_it = true;
			s->due_ms = 0;
			j->held++;
		} else {
			return;
		}
		publish(j, s);
	}
}

static void settle(struct nh_jetstream *j, struct jslot *s, const struct ack *a)
{
	s->running = false;
	s->msg = NULL;
	j->running--;
	if (s->handed_over)
		j->handed_over--;
	nh_hist_observe(&j->stats.request_s, (double)(nh_mono_ms() - s->sent_ms) / 1000.0);
	if (a->ok) {
		uint64_t w = nh_wall_ms();

		j->stats.posted_ok++;
		j->duplicates += a->duplicate;
		j->failing_since = 0;
		if (w >= s->it.captured_ms)
			nh_hist_observe(&j->stats.latency_s, (double)(w - s->it.captured_ms) / 1000.0);
		finish(j, s, NH_OUT_DELIVERED, "");
		return;
	}
	if (a->status == NATS_TIMEOUT)
		j->stats.failed_timeout++;
	else if (a->code)
		j->stats.failed_http++; /* JetStream answered, with an error */
	else
		j->stats.failed_transport++;
	attempt_failed(j, s, a->code == JSStreamMessageExceedsMaximumErr ||
			     a->status == NATS_MAX_PAYLOAD, a->text);
}

static struct jslot *slot_of(struct nh_jetstream *j, const natsMsg *m)
{
	for (unsigned i = 0; i < j->n_lanes; i++)
		if (j->lanes[i].s.running && j->lanes[i].s.msg == m)
			return &j->lanes[i].s;
	return NULL;
}

void nh_jetstream_process(struct nh_jetstream *j)
{
	struct ack *acks;
	size_t n;
	uint64_t v;
	int64_t now;

	if (read(j->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		nh_warn("nats: eventfd: %s", strerror(errno));
	/* The filled array for the empty one: nats.c's threads go on
	 * queueing while these are settled. */
	pthread_mutex_lock(&live.mu);
	acks = j->acks;
	n = j->n_acks;
	j->acks = j->taken;
	j->n_acks = 0;
	pthread_mutex_unlock(&live.mu);
	j->taken = acks;
	for (size_t i = 0; i < n; i++) {
		struct jslot *s = slot_of(j, acks[i].msg);

		if (s)
			settle(j, s, &acks[i]);
		natsMsg_Destroy(acks[i].msg);
	}
	now = now_ms(j);
	if (j->held + j->queued > j->running)
		for (unsigned i = 0; i < j->n_lanes; i++)
			kick(j, &j->lanes[i], now);
}

int64_t nh_jetstream_next_retry_ms(const struct nh_jetstream *j)
{
	int64_t now = now_ms(j), best = -1;

	if (j->held == j->running)
		return -1;
	for (unsigned i = 0; i < j->n_lanes; i++) {
		const struct jslot *s = &j->lanes[i].s;

		if (s->has_it && !s->running) {
			int64_t left = s->due_ms > now ? s->due_ms - now : 0;

			if (best < 0 || left < best)
				best = left;
		}
	}
	return best;
}

int nh_jetstream_fd(const struct nh_jetstream *j)
{
	return j->efd;
}

/* ---- the sink ------------------------------------------------------------------ */

static int js_submit(void *e, const struct nh_deliver_item *it)
{
	struct nh_jetstream *j = e;
	struct jlane *l = &j->lanes[it->key % j->n_lanes];

	if (j->queued >= j->queue_max || nh_itemq_push(&l->q, it) < 0) {
		j->stats.queue_full++;
		return -1;
	}
	j->queued++;
	kick(j, l, now_ms(j));
	return 0;
}

static unsigned js_n_lanes(const void *e)
{
	return ((const struct nh_jetstream *)e)->n_lanes;
}

static bool js_lane_busy(const void *e, uint64_t key)
{
	const struct nh_jetstream *j = e;
	const struct jlane *l = &j->lanes[key % j->n_lanes];

	return l->q.len || l->s.has_it;
}

static size_t js_in_flight(const void *e)
{
	const struct nh_jetstream *j = e;

	return j->queued + j->held;
}

static size_t js_running(const void *e)
{
	return ((const struct nh_jetstream *)e)->running;
}

static size_t js_handed_over(const void *e)
{
	return ((const struct nh_jetstream *)e)->handed_over;
}

static int64_t js_failing_ms(const void *e)
{
	const struct nh_jetstream *j = e;

	return j->failing_since ? now_ms(j) - j->failing_since : 0;
}

static size_t js_drain(void *e, int deadline_ms)
{
	struct nh_jetstream *j = e;
	int64_t end = nh_mono_ms() + (deadline_ms > 0 ? deadline_ms : 0);

	nh_jetstream_process(j);
	while (js_in_flight(j) > 0) {
		int64_t left = end - nh_mono_ms(), due = nh_jetstream_next_retry_ms(j);
		struct pollfd p = { .fd = j->efd, .events = POLLIN };

		if (left <= 0)
			break;
		if (j->running == 0 && (due < 0 || due > left))
			break;
		if (due >= 0 && due < left)
			left = due;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			break;
		nh_jetstream_process(j);
	}
	return js_in_flight(j);
}

/* Stops waiting for the messages on their way: their acknowledgements,
 * if any come, are dropped. Handed-over ones end as released; the others
 * are sent again (the same Nats-Msg-Id: the server keeps one). */
static void js_abort(void *e)
{
	struct nh_jetstream *j = e;

	for (unsigned i = 0; i < j->n_lanes; i++) {
		struct jslot *s = &j->lanes[i].s;

		if (!s->running)
			continue;
		s->running = false;
		s->msg = NULL;
		j->running--;
		if (s->handed_over) {
			j->handed_over--;
			finish(j, s, NH_OUT_RELEASED, "aborted");
		} else {
			s->due_ms = 0;
		}
	}
}

static size_t js_take(void *e, nh_deliver_take_fn fn, void *ctx)
{
	struct nh_jetstream *j = e;
	size_t n = j->queued + j->held, k = 0;
	struct nh_taken *all = n ? malloc(n * sizeof(*all)) : NULL;

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < j->n_lanes; i++) {
		struct jlane *l = &j->lanes[i];

		if (!all) {
			/* Out of memory: lane by lane keeps each lane's order. */
			if (l->s.has_it)
				fn(ctx, &l->s.it, l->s.running);
			for (size_t q = 0; q < l->q.len; q++)
				fn(ctx, nh_itemq_at(&l->q, q), false);
			k += l->s.has_it + l->q.len;
			continue;
		}
		if (l->s.has_it)
			all[k++] = (struct nh_taken){ &l->s.it, l->s.running };
		for (size_t q = 0; q < l->q.len; q++)
			all[k++] = (struct nh_taken){ nh_itemq_at(&l->q, q), false };
	}
	if (all) {
		nh_taken_sort(all, k);
		for (size_t i = 0; i < k; i++)
			fn(ctx, all[i].it, all[i].running);
		free(all);
	}
	for (unsigned i = 0; i < j->n_lanes; i++) {
		struct jlane *l = &j->lanes[i];
		struct jslot *s = &l->s;

		j->queued -= l->q.len;
		nh_itemq_clear(&l->q);
		if (s->has_it && s->running) {
			if (!s->handed_over)
				j->handed_over++;
			s->handed_over = true;
		} else if (s->has_it) {
			s->has_it = false;
			j->held--;
		}
	}
	return k;
}

static void js_stats(const void *e, struct nh_deliver_stats *s)
{
	*s = ((const struct nh_jetstream *)e)->stats;
}

static void js_free(void *e)
{
	nh_jetstream_free(e);
}

static const struct nh_sink_ops jetstream_ops = {
	.kind = NH_SINK_NATS,
	.submit = js_submit,
	.n_lanes = js_n_lanes,
	.lane_busy = js_lane_busy,
	.in_flight = js_in_flight,
	.running = js_running,
	.handed_over = js_handed_over,
	.failing_ms = js_failing_ms,
	.drain = js_drain,
	.abort = js_abort,
	.take = js_take,
	.stats = js_stats,
	.free = js_free,
};

struct nh_sink nh_sink_jetstream(struct nh_jetstream *j)
{
	return (struct nh_sink){ .ops = j ? &jetstream_ops : NULL, .engine = j };
}

struct nh_jetstream *nh_sink_jetstream_engine(const struct nh_sink *s)
{
	return s->ops == &jetstream_ops ? s->engine : NULL;
}

void nh_jetstream_info(const struct nh_jetstream *j, struct nh_jetstream_info *info)
{
	memset(info, 0, sizeof(*info));
	info->connected = natsConnection_Status(j->nc) == NATS_CONN_STATUS_CONNECTED;
	if (info->connected)
		natsConnection_GetConnectedUrl(j->nc, info->server, sizeof(info->server));
	pthread_mutex_lock(&live.mu);
	info->disconnects = j->disconnects;
	info->reconnects = j->reconnects;
	pthread_mutex_unlock(&live.mu);
	info->duplicates = j->duplicates;
}

/* ---- connecting ----------------------------------------------------------------- */

/* nats.c's last error, for messages. */
static const char *nats_why(natsStatus st)
{
	const char *text = nats_GetLastError(NULL);

	if (!text || !*text)
		return natsStatus_GetText(st);
	/* "(conn.c:2088): No server available": the library's place is
	 * not the user's business. */
	if (text[0] == '(' && strstr(text, "): "))
		text = strstr(text, "): ") + 3;
	return text;
}

/* The options for nc's servers; with `report`, the connection's losses
 * and returns reach the engine (live). */
static natsStatus make_options(const struct nh_nats_config *nc, bool report, natsOptions **out)
{
	natsOptions *o = NULL;
	natsStatus st = natsOptions_Create(&o);

	if (st == NATS_OK)
		st = natsOptions_SetServers(o, (const char **)nc->urls, (int)nc->n_urls);
	if (st == NATS_OK)
		st = natsOptions_SetName(o, "nanohook");
	if (st == NATS_OK)
		st = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
	if (st == NATS_OK)
		st = natsOptions_SetMaxReconnect(o, -1);
	if (st == NATS_OK)
		st = natsOptions_SetReconnectWait(o, RECONNECT_WAIT_MS);
	/* A lane waits for each acknowledgement before its next message:
	 * nats.c's flusher would hold every publish for a millisecond. */
	if (st == NATS_OK)
		st = natsOptions_SetSendAsap(o, true);
	if (st == NATS_OK && nc->creds)
		st = natsOptions_SetUserCredentialsFromFiles(o, nc->creds, NULL);
	if (st == NATS_OK && (nc->cacertfile || nc->certfile))
		st = natsOptions_SetSecure(o, true);
	if (st == NATS_OK && nc->cacertfile)
		st = natsOptions_LoadCATrustedCertificates(o, nc->cacertfile);
	if (st == NATS_OK && nc->certfile)
		st = natsOptions_LoadCertificatesChain(o, nc->certfile, nc->keyfile);
	if (st == NATS_OK && report) {
		st = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
		if (st == NATS_OK)
			st = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
	}
	if (st != NATS_OK) {
		natsOptions_Destroy(o);
		return st;
	}
	*out = o;
	return NATS_OK;
}

/* The stream is there, or is made (nc->create). 0, or -1 with err. */
static int ensure_stream(jsCtx *js, const struct nh_nats_config *nc, const char *server,
			 bool dry_run, char *said, size_t saidlen, char *err, size_t errlen)
{
	jsStreamInfo *si = NULL;
	jsErrCode code = 0;
	natsStatus st = js_GetStreamInfo(&si, js, nc->stream, NULL, &code);
	char *filter;

	if (st == NATS_OK) {
		snprintf(said, saidlen, "stream %s exists on %s (%" PRIu64 " messages)", nc->stream,
			 server, si->State.Msgs);
		jsStreamInfo_Destroy(si);
		return 0;
	}
	if (st != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
		snprintf(err, errlen, "nats: cannot read stream %s on %s: %s%s", nc->stream, server,
			 nats_why(st), st == NATS_NO_RESPONDERS ? " (is JetStream enabled: "
			 "nats-server -js?)" : "");
		return -1;
	}
	filter = nh_subject_filter(nc->subject);
	if (!nc->create) {
		snprintf(err, errlen, "nats: stream %s does not exist on %s; create it "
			 "(nats stream add %s --subjects '%s') or set nanohook.nats.create = true",
			 nc->stream, server, nc->stream, filter ? filter : nc->subject);
		free(filter);
		return -1;
	}
	if (dry_run) {
		snprintf(said, saidlen, "stream %s does not exist on %s; nanohook will create it "
			 "(subjects %s, replicas %u)", nc->stream, server, filter ? filter : "?",
			 nc->replicas);
		free(filter);
		return 0;
	}
	{
		jsStreamConfig sc;
		const char *subjects[1] = { filter };

		jsStreamConfig_Init(&sc);
		sc.Name = nc->stream;
		sc.Subjects = subjects;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = nc->replicas;
		sc.Duplicates = (int64_t)nc->duplicate_window_ms * 1000000;
		st = filter ? js_AddStream(&si, js, &sc, NULL, &code) : NATS_NO_MEMORY;
	}
	if (st != NATS_OK) {
		snprintf(err, errlen, "nats: cannot create stream %s (subjects %s) on %s: %s",
			 nc->stream, filter ? filter : "?", server, nats_why(st));
		free(filter);
		return -1;
	}
	snprintf(said, saidlen, "created stream %s on %s (subjects %s, replicas %u)", nc->stream,
		 server, filter, nc->replicas);
	jsStreamInfo_Destroy(si);
	free(filter);
	return 0;
}

/* Connects and checks the stream; on success *ncp and *jsp are set. */
static int connect_stream(const struct nh_nats_config *cfg, natsOptions *o, bool dry_run,
			  natsConnection **ncp, jsCtx **jsp, const jsOptions *jo, char *said,
			  size_t saidlen, char *err, size_t errlen)
{
	char server[256] = "";
	natsStatus st = natsConnection_Connect(ncp, o);

	if (st != NATS_OK) {
		char *shown = nh_url_redact(cfg->urls[0]);

		snprintf(err, errlen, "nats: cannot connect to %s%s: %s", shown ? shown : "?",
			 cfg->n_urls > 1 ? " (or the other servers)" : "", nats_why(st));
		free(shown);
		return -1;
	}
	natsConnection_GetConnectedUrl(*ncp, server, sizeof(server));
	st = natsConnection_JetStream(jsp, *ncp, (jsOptions *)jo);
	if (st != NATS_OK) {
		snprintf(err, errlen, "nats: %s: %s", server, nats_why(st));
		return -1;
	}
	return ensure_stream(*jsp, cfg, server, dry_run, said, saidlen, err, errlen);
}

struct nh_jetstream *nh_jetstream_new(const struct nh_jetstream_opts *o, char *err,
				      size_t errlen)
{
	struct nh_jetstream *j = calloc(1, sizeof(*j));
	jsOptions jo;
	char said[512];
	natsStatus st;

	if (!j || !o->nats || !o->nats->n_urls || o->lanes == 0) {
		snprintf(err, errlen, j ? "nats: no servers, or no lanes" : "out of memory");
		free(j);
		return NULL;
	}
	j->efd = -1;
	j->n_lanes = o->lanes;
	j->lanes = calloc(j->n_lanes, sizeof(*j->lanes));
	j->acks = calloc(j->n_lanes, sizeof(*j->acks));
	j->taken = calloc(j->n_lanes, sizeof(*j->taken));
	j->stream = strdup(o->nats->stream);
	j->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!j->lanes || !j->acks || !j->taken || !j->stream || j->efd < 0) {
		snprintf(err, errlen, "nats: %s", j->efd < 0 ? strerror(errno) : "out of memory");
		nh_jetstream_free(j);
		return NULL;
	}
	j->queue_max = o->queue_max ? o->queue_max : 100000;
	j->timeout_ms = o->timeout_ms ? o->timeout_ms : ACK_TIMEOUT_DEFAULT_MS;
	if (o->retry) {
		j->retry = *o->retry;
		j->have_retry = true;
	}
	j->rng = nh_retry_seed();
	j->clock = o->clock;
	j->on_result = o->on_result;
	j->ctx = o->ctx;

	pthread_mutex_lock(&live.mu);
	if (!live.engine)
		live.engine = j;
	pthread_mutex_unlock(&live.mu);
	if (live.engine != j) {
		snprintf(err, errlen, "nats: one JetStream engine per process");
		nh_jetstream_free(j);
		return NULL;
	}
	if ((st = make_options(o->nats, true, &j->opts)) != NATS_OK) {
		snprintf(err, errlen, "nats: options: %s", nats_why(st));
		nh_jetstream_free(j);
		return NULL;
	}
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = j->n_lanes;
	jo.PublishAsync.AckHandler = on_ack;
	if (connect_stream(o->nats, j->opts, false, &j->nc, &j->js, &jo, said, sizeof(said), err,
			   errlen) < 0) {
		nh_jetstream_free(j);
		return NULL;
	}
	nh_info("nats: %s; publishing to subject %s", said, o->nats->subject);
	return j;
}

int nh_jetstream_probe(const struct nh_nats_config *nc, char *out, size_t outlen, char *err,
		       size_t errlen)
{
	natsOptions *o = NULL;
	natsConnection *conn = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	natsStatus st = make_options(nc, false, &o);
	int rc = -1;

	if (st != NATS_OK) {
		snprintf(err, errlen, "nats: options: %s", nats_why(st));
		return -1;
	}
	jsOptions_Init(&jo);
	natsOptions_SetMaxReconnect(o, 0);
	rc = connect_stream(nc, o, true, &conn, &js, &jo, out, outlen, err, errlen);
	jsCtx_Destroy(js);
	natsConnection_Destroy(conn);
	natsOptions_Destroy(o);
	/* nats_Close would do it, but stays uncalled (live says why). */
	nats_ReleaseThreadMemory();
	return rc;
}

void nh_jetstream_free(struct nh_jetstream *j)
{
	if (!j)
		return;
	/* From here on nats.c's handlers leave j alone (and our own close
	 * is no disconnection to report). */
	pthread_mutex_lock(&live.mu);
	if (live.engine == j)
		live.engine = NULL;
	pthread_mutex_unlock(&live.mu);
	if (j->nc)
		natsConnection_Close(j->nc);
	jsCtx_Destroy(j->js);
	natsConnection_Destroy(j->nc);
	natsOptions_Destroy(j->opts);
	/* nats_Close would do it, but stays uncalled (live says why). */
	nats_ReleaseThreadMemory();
	for (size_t i = 0; i < j->n_acks; i++)
		natsMsg_Destroy(j->acks[i].msg);
	for (unsigned i = 0; j->lanes && i < j->n_lanes; i++) {
		struct jlane *l = &j->lanes[i];

		if (l->s.has_it)
			free(l->s.it.body);
		for (size_t q = 0; q < l->q.len; q++)
			free(nh_itemq_at(&l->q, q)->body);
		nh_itemq_free(&l->q);
	}
	free(j->lanes);
	free(j->acks);
	free(j->taken);
	free(j->stream);
	if (j->efd >= 0)
		close(j->efd);
	free(j);
}
