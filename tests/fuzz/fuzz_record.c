/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a ring-buffer record: nh_record_decode must never read
 * outside the record, and when it accepts one, every string and the
 * payload it hands on must lie inside the record and agree with the
 * record's own lengths.
 *
 * Input: bytes 0-7 = the boot-to-wall offset (little-endian), then the
 * record.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

#include "fuzz_check.h"

static bool inside(const uint8_t *b, size_t n, const void *ptr, size_t len)
{
	const uint8_t *q = ptr;
	return q >= b && q <= b + n && len <= (size_t)(b + n - q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t offset = 0;
	struct nh_event ev;
	enum nh_rec_reject why = NH_REJ_MAX;

	if (size < sizeof(offset))
		return 0;
	for (size_t i = 0; i < sizeof(offset); i++)
		offset |= (uint64_t)data[i] << (8 * i);
	size_t n = size - sizeof(offset);

	/* Exact-size copy so any overread is caught; malloc's alignment is
	 * at least the ring buffer's 8 bytes. */
	uint8_t *b = malloc(n ? n : 1);
	if (!b)
		return 0;
	if (n)
		memcpy(b, data + sizeof(offset), n);

	if (nh_record_decode(b, n, offset, &ev, &why) != 0) {
		CHECK(why < NH_REJ_MAX);
		free(b);
		return 0;
	}
	const struct nh_record *r = (const struct nh_record *)b;

	CHECK(n >= sizeof(*r));
	CHECK((ev.type > NH_EV_NONE && ev.type < NH_EV_MAX) ||
	      (unsigned)ev.type == NH_REC_PIPE_BIND);
	CHECK(inside(b, n, ev.clientid.ptr, ev.clientid.len));
	CHECK(ev.clientid.len == r->clientid_len && ev.clientid.len < NH_CLIENTID_MAX);
	CHECK(inside(b, n, ev.topic.ptr, ev.topic.len));
	CHECK(ev.topic.len == r->topic_len && ev.topic.len < NH_TOPIC_MAX);
	CHECK(ev.has_username == !!(r->flags & NH_F_HAS_USERNAME));
	if (ev.has_username) {
		CHECK(inside(b, n, ev.username.ptr, ev.username.len));
		CHECK(ev.username.len == r->username_len);
	} else {
		CHECK(ev.username.len == 0);
	}
	/* Strings the record may not carry are empty, never outside it. */
	CHECK(ev.ipaddress.len == 0 || inside(b, n, ev.ipaddress.ptr, ev.ipaddress.len));
	CHECK(ev.from_clientid.len == 0 ||
	      inside(b, n, ev.from_clientid.ptr, ev.from_clientid.len));
	CHECK(ev.from_username.len == 0 ||
	      inside(b, n, ev.from_username.ptr, ev.from_username.len));
	CHECK(ev.from_clientid.len == r->from_clientid_len);
	CHECK(ev.has_from_username || ev.from_username.len == 0);
	CHECK(inside(b, n, ev.payload, ev.payload_len));
	CHECK(ev.payload_len <= ev.payload_full_len);
	CHECK(ev.payload_len == ev.payload_full_len || (r->flags & NH_F_TRUNC_PAYLOAD));
	CHECK(!(r->flags & (NH_F_READ_FAULT | NH_F_TRUNC_CLIENTID | NH_F_TRUNC_USERNAME |
			    NH_F_TRUNC_TOPIC | NH_F_TRUNC_FROM)));
	CHECK(ev.ts_ms == (r->ts_boot_ns + offset) / 1000000ull);
	free(b);
	return 0;
}
