/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as one line of a dead-letter file (`nanohook replay` reads
 * files an operator may have edited): parsing must never crash, and what
 * parses must come back the same through a write and a second read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "deadletter.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nh_dead_entry e, again;
	struct nh_buf line = NH_BUF_INIT;
	char why[128];
	/* An exact-size copy so that any overread is caught. */
	char *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (nh_dead_letter_parse(copy, size, &e, why, sizeof(why)) == 0) {
		CHECK(e.body && e.body[e.len] == '\0');
		CHECK(nh_dead_letter_format(&line, &e) == 0);
		CHECK(line.len > 0 && line.data[line.len - 1] == '\n');
		CHECK(nh_dead_letter_parse(line.data, line.len - 1, &again, why, sizeof(why)) == 0);
		CHECK(again.len == e.len && memcmp(again.body, e.body, e.len) == 0);
		CHECK(again.key == e.key && again.attempts == e.attempts &&
		      again.status == e.status && again.captured_ms == e.captured_ms &&
		      again.reason == e.reason);
		nh_dead_entry_free(&again);
		nh_dead_entry_free(&e);
	}
	nh_buf_free(&line);
	free(copy);
	return 0;
}
