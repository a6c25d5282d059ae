// SPDX-License-Identifier: MIT
#include "clock.h"

uint64_t nh_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t nh_mono_ms(void)
{
	return (int64_t)(nh_clock_ns(CLOCK_MONOTONIC) / 1000000);
}

uint64_t nh_wall_ms(void)
{
	return nh_clock_ns(CLOCK_REALTIME) / 1000000;
}
