/* SPDX-License-Identifier: MIT */
/*
 * Time, read in one place. Monotonic milliseconds for timers and deadlines;
 * wall-clock milliseconds for what leaves the process (capture times in
 * bodies, spool records and dead letters); nanoseconds of any clock for the
 * capture layer's boot-to-wall conversion.
 *
 * The timers whose firing tests must step by hand (retry backoff in the
 * delivery engine, batch_wait in the dispatcher) read a struct nh_clock
 * instead: NULL is the real monotonic clock; a test passes its own and
 * moves it, so what it checks is when a timer fires, not how long a loaded
 * machine took to get there.
 */
#ifndef NH_CLOCK_H
#define NH_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t nh_mono_ms(void);
uint64_t nh_wall_ms(void);
uint64_t nh_clock_ns(clockid_t id);

struct nh_clock {
	int64_t (*now_ms)(void *ctx); /* monotonic: never goes back */
	void *ctx;
};

/* Now by c, or by the real monotonic clock when c is NULL. */
static inline int64_t nh_clock_now_ms(const struct nh_clock *c)
{
	return c ? c->now_ms(c->ctx) : nh_mono_ms();
}

#endif
