/* SPDX-License-Identifier: MIT */
/*
 * The JetStream engine: publishes events to a NATS JetStream stream
 * (nanohook.nats), with the HTTP engine's accounting (sink.h).
 *
 * An item is a framed body (subject.h): its subject, then the bytes the
 * HTTP sink would POST. It is published with js_PublishMsgAsync and a
 * Nats-Msg-Id header (the event's webhook-id), and counts as delivered
 * only once JetStream acknowledged it: stored, or a duplicate of a stored
 * one. A negative acknowledgement, no acknowledgement within timeout_ms,
 * or a publish refused by a lost connection is a failed attempt, retried
 * with the retry policy's backoff, like a failed POST; a message larger
 * than the server takes is rejected (dead letter). A retry after an
 * unknown outcome (a timeout, a lost connection) carries the same
 * Nats-Msg-Id, so the server drops it as a duplicate inside the stream's
 * duplicate window.
 *
 * Order: pool_size lanes, items of one key in one lane, and one message of
 * a lane unacknowledged at a time, so each client's events are stored in
 * the order they were captured (a failed one is retried before anything
 * behind it).
 *
 * Threads: nats.c reads acknowledgements on its own threads; they are
 * queued and the engine's fd becomes readable. Everything else happens
 * on the caller's thread, in nh_jetstream_process() (which the caller
 * runs when the fd is readable, or at least every few ms for retries).
 * Reconnects are nats.c's: forever, every 2 s, to any server of the list
 * (and those the cluster announces).
 */
#ifndef NH_JETSTREAM_H
#define NH_JETSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "deliver.h"
#include "retry.h"
#include "sink.h"

struct nh_jetstream_opts {
	const struct nh_nats_config *nats; /* servers, stream, credentials, TLS; copied */
	unsigned lanes;                    /* >= 1: pool_size */
	unsigned timeout_ms;               /* wait for an acknowledgement; 0: 5 s */
	size_t queue_max;                  /* items waiting in the lanes */
	const struct nh_retry_policy *retry; /* copied; NULL: never retry */
	const struct nh_clock *clock;      /* when retries fall due; NULL: the real one */
	nh_deliver_result_fn on_result;    /* as deliver.h; NULL: bodies are freed */
	void *ctx;
};

struct nh_jetstream;

/* Connects (waiting up to a few seconds), and checks that the stream
 * exists, or creates it with nats->create. NULL and one line in err when
 * the servers cannot be reached or the stream is missing. */
struct nh_jetstream *nh_jetstream_new(const struct nh_jetstream_opts *o, char *err,
				      size_t errlen);

/* Readable when acknowledgements wait: add it to the loop's epoll set. */
int nh_jetstream_fd(const struct nh_jetstream *j);

/* Settles the acknowledgements that arrived and starts the lanes' next
 * publishes and the retries that are due. Never blocks. */
void nh_jetstream_process(struct nh_jetstream *j);

/* ms until the first retry falls due (0: now), or -1 if none waits. */
int64_t nh_jetstream_next_retry_ms(const struct nh_jetstream *j);

/* What `check` and the summary say of the connection. */
struct nh_jetstream_info {
	bool connected;
	char server[256];      /* the server connected to; "" when not */
	uint64_t reconnects;   /* times the connection came back */
	uint64_t disconnects;  /* times it was lost */
	uint64_t duplicates;   /* acknowledgements that said "duplicate" */
};
void nh_jetstream_info(const struct nh_jetstream *j, struct nh_jetstream_info *info);

/* The engine as a destination's sink; the sink's free frees it. */
struct nh_sink nh_sink_jetstream(struct nh_jetstream *j);

/* The JetStream engine behind s, or NULL. */
struct nh_jetstream *nh_sink_jetstream_engine(const struct nh_sink *s);

/* `nanohook check`: connects, and says whether the stream is there (or
 * would be created). 0 with a line in out, or -1 with the reason in err. */
int nh_jetstream_probe(const struct nh_nats_config *nc, char *out, size_t outlen, char *err,
		       size_t errlen);

void nh_jetstream_free(struct nh_jetstream *j);

#endif
