/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as an MQTT topic filter and topic name: validation and
 * matching must never read past the given lengths, and must agree with
 * what MQTT says always holds.
 *
 * Input: byte 0 = length of the filter (cut to what is left), then the
 * filter, then the topic.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t flen = data[0];
	if (flen > size - 1)
		flen = size - 1;
	size_t tlen = size - 1 - flen;

	/* Exact-size copies so any overread is caught. */
	char *f = malloc(flen ? flen : 1);
	char *t = malloc(tlen ? tlen : 1);
	if (!f || !t) {
		free(f);
		free(t);
		return 0;
	}
	memcpy(f, data + 1, flen);
	memcpy(t, data + 1 + flen, tlen);

	bool fvalid = nh_topic_valid_filter(f, flen);
	bool tvalid = nh_topic_valid_name(t, tlen);
	bool m = nh_topic_match(f, flen, t, tlen);

	(void)fvalid;
	if (tvalid) {
		/* every name is a filter that matches exactly itself */
		CHECK(nh_topic_valid_filter(t, tlen));
		CHECK(nh_topic_match(t, tlen, t, tlen));
		/* '#' matches every topic but the '$' ones */
		CHECK(nh_topic_match("#", 1, t, tlen) == (t[0] != '$'));
		/* a wildcard-free filter matches only the same bytes */
		if (nh_topic_valid_name(f, flen))
			CHECK(m == (flen == tlen && memcmp(f, t, tlen) == 0));
		/* "<topic>/#" matches its parent */
		char *parent = malloc(tlen + 2);
		if (parent) {
			memcpy(parent, t, tlen);
			memcpy(parent + tlen, "/#", 2);
			CHECK(nh_topic_match(parent, tlen + 2, t, tlen));
			free(parent);
		}
	}
	if (tlen == 0 || flen == 0)
		CHECK(!m);
	free(f);
	free(t);
	return 0;
}
