/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint: GET /metrics over HTTP (libmicrohttpd), off
 * unless asked for (--metrics ADDR:PORT or nanohook.metrics).
 *
 * It runs inside the main loop, not in a thread of its own: the loop waits
 * on nh_metrics_fd() with everything else and calls nh_metrics_run(), so
 * the counters are read where they are written and need no locks.
 */
#ifndef NH_METRICS_H
#define NH_METRICS_H

#include <stddef.h>

struct nh_buf;

/* Fills `out` with the exposition text; 0, or -1 (answered 500). */
typedef int (*nh_metrics_fill_fn)(void *ctx, struct nh_buf *out);

struct nh_metrics;

/* Listens on "ADDR:PORT" ("127.0.0.1:9464", "[::1]:9464"; PORT 0 picks
 * one). Returns NULL and a one-line reason in err. */
struct nh_metrics *nh_metrics_start(const char *listen, nh_metrics_fill_fn fill, void *ctx,
				    char *err, size_t errlen);
/* An fd that is readable when nh_metrics_run() has work. */
int nh_metrics_fd(const struct nh_metrics *m);
/* Serves what is ready, without blocking. */
void nh_metrics_run(struct nh_metrics *m);
/* "127.0.0.1:9464", with the port really bound. */
const char *nh_metrics_address(const struct nh_metrics *m);
void nh_metrics_stop(struct nh_metrics *m);

/* "ADDR:PORT" as above into a socket address; 0, or -1. Shared with
 * `nanohook stats`, which turns it into a URL. */
struct sockaddr_storage;
int nh_metrics_parse_listen(const char *spec, struct sockaddr_storage *ss);

#endif
