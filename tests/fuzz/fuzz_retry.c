/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a Retry-After header value (the endpoint is not to be
 * trusted): the parser must stay within the given length, and a value
 * it takes must mean the same read again against a later clock, minus
 * the time that passed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy so that any overread is caught. */
	char *v = malloc(size ? size : 1);
	const int64_t now = 1700000000;
	uint64_t a, b;

	if (!v)
		return 0;
	memcpy(v, data, size);
	if (nh_retry_after_parse(v, size, now, &a) == 0) {
		CHECK(nh_retry_after_parse(v, size, now + 10, &b) == 0);
		/* Seconds do not depend on the clock; a date does. */
		CHECK(b == a || b == (a >= 10000 ? a - 10000 : 0));
	}
	free(v);
	return 0;
}
