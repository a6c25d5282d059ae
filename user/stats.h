/* SPDX-License-Identifier: MIT */
/*
 * Where every event went: one snapshot of all of nanohook's counters,
 * gathered by the run loop from each part (BPF maps, capture, dispatch,
 * delivery, spool), and the three ways to show it: the summary at exit
 * (and on SIGUSR1), Prometheus text for /metrics, and a reader of that
 * text for `nanohook stats`.
 */
#ifndef NH_STATS_H
#define NH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nh_record.h"

struct nh_buf;

/* A latency histogram with fixed bounds (seconds), Prometheus style. */
#define NH_HIST_BUCKETS 16
extern const double nh_hist_bounds[NH_HIST_BUCKETS];

struct nh_hist {
	uint64_t bucket[NH_HIST_BUCKETS + 1]; /* not cumulative; the last is +Inf */
	uint64_t count;
	double sum;
};

void nh_hist_observe(struct nh_hist *h, double seconds);

/* Events dropped in userspace, by reason. */
enum nh_udrop {
	NH_UDROP_NO_BODY = 0,   /* no body could be built */
	NH_UDROP_QUEUE_FULL,    /* memory queue full and no spool */
	NH_UDROP_SPOOL_FULL,    /* spool at max_size */
	NH_UDROP_SPOOL_ERROR,   /* the spool could not write it */
	NH_UDROP_DEAD_LETTER,   /* given up on, and the dead-letter file could not take it */
	NH_UDROP_SHUTDOWN,      /* still in memory at exit, and no spool to keep it */
	NH_UDROP_MAX
};
const char *nh_udrop_name(enum nh_udrop r);

#define NH_REJECT_SLOTS 8 /* room for the capture's enum nh_rec_reject */
#define NH_DEAD_SLOTS 4   /* enum nh_dead_reason */

/* Per destination and per endpoint (a pool, or rules with urls of their
 * own); the totals above them are the sums. */
#define NH_STATS_DESTS_MAX 32
#define NH_STATS_ENDPOINTS_MAX 128

struct nh_stats_dest {
	const char *sink;      /* "http" or "nats" */
	uint64_t handed_over;  /* events (copies) given to this destination */
	uint64_t delivered, spooled, dead, dropped;
	uint64_t queued, running, spool_records;
	bool spooling;
	double failing_s;
	/* sink nats: the connection and the acknowledgements */
	bool nats_connected;
	char nats_server[256];
	uint64_t nats_acked, nats_duplicates, nats_nak, nats_timeouts, nats_failed;
	uint64_t nats_reconnects, nats_disconnects;
};

struct nh_stats_endpoint {
	const char *url;       /* redacted */
	unsigned dest;
	uint64_t requests, ok, failed_http, failed_transport, failed_timeout;
	uint64_t circuit_opened;
	const char *circuit;   /* "closed", "open", "half_open" */
	unsigned failures_in_row;
	double circuit_since_s;/* wall clock of its last change, 0: never changed */
	double probe_in_s;     /* open: seconds until a probe may go */
	uint64_t running;
};

struct nh_stats {
	double uptime_s;
	bool to_stdout;                    /* --stdout: printed, not posted */

	/* BPF (per-CPU counters summed) */
	uint64_t bpf[NH_CNT_MAX];
	/* capture: records refused, by reason (names from the capture) */
	uint64_t rejected[NH_REJECT_SLOTS];
	const char *rejected_name[NH_REJECT_SLOTS];
	size_t n_rejected;

	/* dispatch */
	uint64_t captured;                 /* checked events */
	uint64_t filtered;                 /* no rule wants them */
	uint64_t printed;                  /* --stdout */
	uint64_t by_event[NH_EV_MAX];      /* wanted by a rule and handed over, per event */
	uint64_t udrop[NH_UDROP_MAX];

	/* delivery */
	uint64_t delivered;                /* 2xx */
	uint64_t attempts_failed_http, attempts_failed_transport, attempts_failed_timeout;
	uint64_t by_status[6];
	uint64_t retried;                  /* retries scheduled */
	uint64_t dead[NH_DEAD_SLOTS];      /* dead-lettered, by reason */
	const char *dead_letter_path;      /* NULL: none */
	struct nh_hist request_s;          /* one request, sent to answered */
	struct nh_hist latency_s;          /* captured to answered 2xx */

	/* queues */
	uint64_t queued;                   /* in memory, waiting */
	uint64_t running;                  /* requests in flight */
	double failing_s;                  /* the endpoint has been failing this long; 0 = fine */

	/* spool */
	bool spool_on;
	bool spooling;                     /* new events go to the spool */
	uint64_t spooled, replayed;
	uint64_t spool_records, spool_bytes;
	uint64_t spool_corrupt, spool_corrupt_bytes;

	/* the destinations and their endpoints */
	struct nh_stats_dest dests[NH_STATS_DESTS_MAX];
	size_t n_dests;
	struct nh_stats_endpoint endpoints[NH_STATS_ENDPOINTS_MAX];
	size_t n_endpoints;
};

/* Sums of the above the summary and the tests rely on. */
uint64_t nh_stats_dropped(const struct nh_stats *s);
uint64_t nh_stats_dead_lettered(const struct nh_stats *s);

/* The human-readable block: the exit summary, and SIGUSR1. The first
 * line is "nanohook: <title> after N s". */
void nh_stats_print(const struct nh_stats *s, const char *title, FILE *out);

/* Prometheus text exposition format 0.0.4. Returns 0, or -1 on ENOMEM. */
int nh_stats_prometheus(const struct nh_stats *s, struct nh_buf *out);

/* `nanohook stats`: Prometheus text from a nanohook, printed as aligned
 * "name{labels}  value" lines without the histogram buckets. Lines that
 * are not samples are skipped. */
void nh_stats_print_metrics(const char *text, size_t len, FILE *out);

#endif
