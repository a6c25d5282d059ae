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
#include "spool.h"

#define NH_SPOOL_DIR_DEFAULT "/var/lib/nanohook/spool"

enum nh_encoding { NH_ENC_PLAIN = 0, NH_ENC_BASE64, NH_ENC_BASE62 };

struct nh_header {
	char *name;  /* as written after `headers.` */
	char *value;
};

/* webhook.tls {}: the block NanoMQ announced. Paths are as given, or made
 * absolute against the config file's directory; tls.c reads the files. */
struct nh_tls_config {
	bool present;        /* the block was written */
	bool enable;         /* tls.enable, default true; false: the block is ignored */
	bool verify;         /* tls.verify (or verify_peer), default true */
	char *cacertfile;    /* NULL: the system's CA store */
	char *certfile;      /* client certificate for mutual TLS; NULL: none */
	char *keyfile;       /* its private key; NULL: in certfile */
	char *key_password;  /* a secret: never printed */
	char *server_name;   /* SNI, Host and the name checked; NULL: the url's host */
	int line, col;       /* of the block's key, for messages */
};

/* nanohook.sign {}: Standard Webhooks signatures, off unless a secret is
 * named. The secret is never in the file itself (sign.c reads it). */
struct nh_sign_config {
	char *secret_file;   /* made absolute like the tls paths */
	char *secret_env;    /* an environment variable's name */
	int line;
};

/* How a destination with several urls spreads its events. */
enum nh_balance {
	NH_BALANCE_HASH = 0,    /* by client id: a client stays on one endpoint while it is healthy */
	NH_BALANCE_ROUND_ROBIN, /* each request to the next endpoint */
	NH_BALANCE_FAILOVER,    /* the first healthy endpoint in the list */
};

#define NH_DESTS_MAX 32      /* destinations: bits of nh_config_dests() */
#define NH_DEST_URLS_MAX 16  /* endpoints in one destination */

/* Where events go: one url, or a pool of them. Destination 0 is
 * webhook.url; a rule with a url of its own adds one (rules naming the
 * same urls share it). Each destination has its own engine, spool and
 * counters, so an event for one is never sent to another. */
enum nh_sink_kind {
	NH_SINK_HTTP = 0, /* POSTs to the urls */
	NH_SINK_NATS,     /* publishes to the JetStream stream of nanohook.nats */
};

struct nh_dest {
	enum nh_sink_kind kind;
	char **urls;  /* normalized, in the order written (failover's order);
		       * NATS: nanohook.nats.url's servers */
	size_t n_urls;
	char *key;    /* names its spool: the urls sorted and joined by ' ';
		       * NATS: "nats:" and the stream */
};

/* nanohook.nats {}: the JetStream sink, used by rules with sink = nats
 * or both. */
struct nh_nats_config {
	bool present;
	char **urls;         /* nats://, tls://; a cluster's servers */
	size_t n_urls;
	char *stream;        /* default NANOHOOK */
	char *subject;       /* template (subject.h), default nanohook.{action}.{clientid} */
	bool create;         /* create the stream if it does not exist (default false) */
	unsigned replicas;   /* of a stream nanohook creates, default 1 */
	uint64_t duplicate_window_ms; /* of a stream nanohook creates, default 2 min */
	char *creds;         /* a .creds file (JWT + nkey); NULL: none */
	char *cacertfile;    /* tls:// servers' CA; NULL: the system's */
	char *certfile, *keyfile; /* client certificate; NULL: none */
	int line, col;       /* of the block's key, for messages */
};

/* Where a rule's events go. */
enum nh_rule_sink { NH_RULE_SINK_HTTP = 0, NH_RULE_SINK_NATS, NH_RULE_SINK_BOTH };

struct nh_rule {
	enum nh_event_type event;
	char *topic;  /* MQTT filter, NULL = every topic */
	int line;     /* where the rule was written, for `check` */
	unsigned dest;/* index in nh_config.dests */
	enum nh_rule_sink sink; /* as written; sink = both is two rules, one per destination */
};

struct nh_config {
	char *url;                 /* the first url of dests[0] (messages, replay) */
	struct nh_dest *dests;     /* [0]: webhook.url; then the rules' own urls */
	size_t n_dests;
	enum nh_balance balance;   /* webhook.balance, default hash */
	struct nh_header *headers;
	size_t n_headers;
	enum nh_encoding encoding;
	bool extended;             /* body.extended: node, event_id, seq ... (off) */
	unsigned batch;            /* body.batch: bodies per request, as a JSON array; 1 = off (default) */
	uint64_t batch_wait_ms;    /* body.batch_wait: an open batch goes out after this, default 50 ms */
	unsigned pool_size;        /* default 32 */
	unsigned cancel_timeout_ms;/* default 5000 */
	struct nh_rule *rules;
	size_t n_rules;
	struct nh_tls_config tls;

	/* nanohook's own settings (block `nanohook {}`) */
	unsigned payload_max;      /* capture.payload_max, bytes, default 4096, <= NH_PAYLOAD_LARGE */
	size_t ringbuf_bytes;      /* ringbuf_size, default 8 MiB, power of two */
	size_t queue_max;          /* events waiting for a connection, default 100000 */

	/* nanohook.retry {}: which failures are retried is fixed (see retry.h) */
	unsigned retry_max_attempts;  /* attempts in all, default 10 */
	uint64_t retry_initial_ms;    /* first backoff ceiling, default 200 ms */
	uint64_t retry_max_delay_ms;  /* any one wait, default 30 s */
	uint64_t retry_max_age_ms;    /* no retry after this age, default 1 h; 0 = none */
	/* nanohook.spool {} */
	char *spool_dir;              /* NULL: NH_SPOOL_DIR_DEFAULT; "": no spool */
	uint64_t spool_max_bytes;     /* max_size, default 1 GiB */
	uint64_t spool_max_age_ms;    /* older events go to the dead letters, default 24 h; 0 = none */
	enum nh_fsync spool_fsync;    /* default batch */
	uint64_t spool_failing_ms;    /* failing_after: spool once every attempt has failed this long, default 5 s */
	/* nanohook {} */
	char *dead_letter;            /* NULL: dead-letter.jsonl in the spool dir */
	bool order_per_client;        /* order = per_client (default) | none */
	unsigned lane_inflight;       /* lane.inflight: requests of one lane at once, default 1 */
	unsigned circuit_failures;    /* circuit.failures: consecutive failures that open an endpoint's circuit, default 5 */
	uint64_t circuit_open_ms;     /* circuit.open_for: before the first probe, default 5 s (doubles to 60 s while probes fail) */
	bool http2;                   /* http2: HTTP/2 on https:// urls (ALPN), multiplexed; http:// stays HTTP/1.1 */
	bool wild_dollar;             /* topic_match = nanomq (default): a leading
				       * wildcard matches '$' topics; mqtt: not */
	uint64_t drain_timeout_ms;    /* at SIGTERM; 0 (default): cancel_timeout + 1 s */
	char *metrics_listen;         /* metrics = "ADDR:PORT"; NULL: off */
	char *node;                   /* node name in extended bodies; NULL: host name */
	struct nh_sign_config sign;
	struct nh_nats_config nats;

	/* For `check` notes only. */
	int nanomq_enable;         /* webhook.enable: -1 absent, else 0/1; NanoMQ's own switch, ignored */
	bool url_path_added;       /* url had no path: nanohook requests "/" */
};

/* Reads `path`. On error writes one "file:line:col: message" line to `err`
 * and returns -1, leaving `cfg` empty (nothing to free); warnings (unknown
 * keys, skipped includes, tls.verify = false) also go to `err`, one line
 * each. `err` may be NULL. Only the config file itself is read: the TLS
 * files and the signing secret are read by tls.c and sign.c. */
int nh_config_load(const char *path, struct nh_config *cfg, FILE *err);
/* The same from memory; `name` stands for the file in messages, and
 * relative paths stay relative (to the working directory). */
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

/* The destinations (bit i: cfg->dests[i]) whose rules want this event;
 * the same matching as nh_config_wants(). */
uint32_t nh_config_dests(const struct nh_config *cfg, enum nh_event_type ev,
			 const char *topic, size_t topic_len);

/* "hash", "round_robin" or "failover". */
const char *nh_balance_name(enum nh_balance b);

/* "http" or "nats". */
const char *nh_sink_name(enum nh_sink_kind k);

/* The spool directory in effect (NULL: no spool), and the dead-letter
 * file's path (malloc'd; NULL without a spool dir and dead_letter). */
const char *nh_config_spool_dir(const struct nh_config *cfg);
char *nh_config_dead_letter_path(const struct nh_config *cfg);

/* Bit (1 << event) for every event some rule names: the probes to attach. */
uint32_t nh_config_event_mask(const struct nh_config *cfg);

/* `nanohook check`: the effective settings and rules, human-readable. */
void nh_config_print(const struct nh_config *cfg, FILE *out);

const char *nh_event_name(enum nh_event_type ev);       /* "on_client_connack"; "unknown" if out of range */
enum nh_event_type nh_event_from_name(const char *name); /* any case, as NanoMQ; NH_EV_NONE if unknown */

#endif
