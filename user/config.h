/* SPDX-License-Identifier: MIT */
/*
 * The effective configuration: NanoMQ's `webhook {}` block plus nanohook's
 * own `nanohook {}` block, both read from one HOCON file.
 */
#ifndef NH_CONFIG_H
#define NH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nh_record.h"

enum nh_encoding { NH_ENC_PLAIN = 0, NH_ENC_BASE64, NH_ENC_BASE62 };

struct nh_header {
	char *name;  /* as written after `headers.` */
	char *value;
};

struct nh_rule {
	enum nh_event_type event;
	char *topic;  /* MQTT filter, NULL = every topic */
	int line;     /* where the rule was written, for `check` */
};

struct nh_config {
	char *url;
	struct nh_header *headers;
	size_t n_headers;
	enum nh_encoding encoding;
	unsigned pool_size;        /* default 32 */
	unsigned cancel_timeout_ms;/* default 5000 */
	struct nh_rule *rules;
	size_t n_rules;

	/* nanohook's own settings (block `nanohook {}`) */
	unsigned payload_max;      /* capture.payload_max, bytes, default 4096, <= NH_PAYLOAD_LARGE */
	size_t ringbuf_bytes;      /* ringbuf_size, default 8 MiB, power of two */
	size_t queue_max;          /* events waiting for a connection, default 100000 */

	/* For `check` notes only. */
	int nanomq_enable;         /* webhook.enable: -1 absent, else 0/1; NanoMQ's own switch, ignored */
	bool url_path_added;       /* url had no path: nanohook requests "/" */
};

/* Reads `path`. On error writes one "file:line:col: message" line to `err`
 * and returns -1, leaving `cfg` empty (nothing to free); warnings (unknown
 * keys, skipped includes, tls) also go to `err`, one line each. `err` may
 * be NULL. */
int nh_config_load(const char *path, struct nh_config *cfg, FILE *err);
/* The same from memory; `name` stands for the file in messages. */
int nh_config_load_buf(const char *name, const char *buf, size_t len,
		       struct nh_config *cfg, FILE *err);
void nh_config_free(struct nh_config *cfg);

/* Does any rule want this event (and topic, for topic-filtered events)?
 * Rules of one event combine (any match); a rule without topic takes every
 * topic. Connect/connack/connected/disconnected/terminated ignore `topic`;
 * for the others a NULL topic matches only rules without a topic. The
 * topic need not be NUL-terminated. */
bool nh_config_wants(const struct nh_config *cfg, enum nh_event_type ev,
		     const char *topic, size_t topic_len);

/* `nanohook check`: the effective settings and rules, human-readable. */
void nh_config_print(const struct nh_config *cfg, FILE *out);

const char *nh_event_name(enum nh_event_type ev);       /* "on_client_connack"; "unknown" if out of range */
enum nh_event_type nh_event_from_name(const char *name); /* any case, as NanoMQ; NH_EV_NONE if unknown */

#endif
