/* SPDX-License-Identifier: MIT */
/*
 * When a failed request is tried again, and when not: the outcome of one
 * attempt, exponential backoff with full jitter, and the Retry-After
 * header. Pure functions, so that the delivery engine's timing can be
 * checked without a server.
 */
#ifndef NH_RETRY_H
#define NH_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nh_retry_policy {
	unsigned max_attempts; /* attempts in all, the first included; <= 1: never retry */
	uint64_t initial_ms;   /* ceiling of the first wait */
	uint64_t max_delay_ms; /* ceiling of any wait, Retry-After included */
	uint64_t max_age_ms;   /* no retry once an event is this old; 0 = no limit */
};

enum nh_attempt_class {
	NH_ATTEMPT_OK,        /* 2xx */
	NH_ATTEMPT_RETRY,     /* transport error, timeout, 408, 429, 5xx */
	NH_ATTEMPT_PERMANENT, /* any other status: the endpoint refuses this body */
};

/* got_reply: a complete HTTP reply arrived (its status is http_status);
 * false for refused/reset connections, DNS and TLS errors, timeouts. */
enum nh_attempt_class nh_retry_classify(bool got_reply, int http_status);

/* How long to wait after the `failed`-th failed attempt (1 for the first
 * failure): a uniformly random wait in [0, min(max_delay, initial * 2^(failed-1))]
 * ("full jitter": clients that failed together do not retry together).
 * `rnd` is a uniformly random 64-bit number from the caller. */
uint64_t nh_retry_backoff_ms(const struct nh_retry_policy *p, unsigned failed, uint64_t rnd);

/* A Retry-After value (RFC 9110 10.2.3): delay-seconds, or an HTTP-date
 * in any of the three formats (IMF-fixdate, RFC 850, asctime), read
 * against `now_s` (seconds since the epoch). A date in the past is 0.
 * Returns 0 and the wait in *delay_ms, or -1 if the value is neither.
 * `value` need not be NUL-terminated; blanks around it are allowed. */
int nh_retry_after_parse(const char *value, size_t len, int64_t now_s, uint64_t *delay_ms);

/* A fast, decent PRNG (splitmix64) for the jitter; the state is the
 * caller's. Not for anything secret. */
uint64_t nh_retry_random(uint64_t *state);

/* A seed that differs between processes (getrandom, else time and pid). */
uint64_t nh_retry_seed(void);

#endif
