/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as client id, username, topic and payload, through every body
 * and encoding: the result must be valid UTF-8 and parse as one JSON
 * object with cJSON. Also checks nh_utf8_valid against an independent
 * decoder on the raw input.
 *
 * Input: byte 0 = flags (bit 0 has_username, bit 1 retain, bits 2-3 qos,
 * bit 4 nonzero code), bytes 1-3 = lengths of client id, username, topic
 * (each cut to what is left), then those strings, then the payload.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "body.h"
#include "buf.h"
#include "encode.h"

#include "fuzz_check.h"

/* Bit-pattern decoder with code point range checks, unlike nh_utf8_valid
 * which works from byte ranges. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	for (size_t i = 0; i < n;) {
		uint32_t c = s[i], cp;
		size_t len;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			cp = c & 0x1F;
			len = 2;
		} else if ((c & 0xF0) == 0xE0) {
			cp = c & 0x0F;
			len = 3;
		} else if ((c & 0xF8) == 0xF0) {
			cp = c & 0x07;
			len = 4;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static struct nh_str take(const uint8_t **p, size_t *left, size_t want)
{
	size_t n = want < *left ? want : *left;
	struct nh_str s = { (const char *)*p, n };
	*p += n;
	*left -= n;
	return s;
}

static void check_body(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	nh_buf_reset(b);
	CHECK(nh_body_build(b, ev, enc) == 0);
	CHECK(strlen(b->data) == b->len);
	CHECK(utf8_ok((const uint8_t *)b->data, b->len));
	cJSON *j = cJSON_ParseWithLengthOpts(b->data, b->len + 1, NULL, 1);
	CHECK(j != NULL);
	CHECK(cJSON_IsObject(j));
	CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "action")));
	cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum nh_encoding encs[] = { NH_ENC_PLAIN, NH_ENC_BASE64, NH_ENC_BASE62 };

	CHECK(nh_utf8_valid(data, size) == utf8_ok(data, size));
	if (size < 4)
		return 0;

	uint8_t flags = data[0];
	const uint8_t *p = data + 4;
	size_t left = size - 4;
	struct nh_event ev = { 0 };

	ev.clientid = take(&p, &left, data[1]);
	ev.username = take(&p, &left, data[2]);
	ev.topic = take(&p, &left, data[3]);
	ev.has_username = flags & 1;
	ev.retain = flags & 2;
	ev.qos = (flags >> 2) & 3;
	ev.code = (flags & 16) ? 0x80 : 0;
	ev.proto_ver = 4;
	ev.keepalive = 60;
	ev.ts_ms = 1795765593355ull;
	ev.payload = p;
	ev.payload_len = ev.payload_full_len = left;

	struct nh_buf b = NH_BUF_INIT;
	ev.type = NH_EV_PUBLISH;
	for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++)
		check_body(&b, &ev, encs[i]);
	ev.type = NH_EV_CONNACK;
	check_body(&b, &ev, NH_ENC_PLAIN);
	ev.type = NH_EV_DISCONNECTED;
	check_body(&b, &ev, NH_ENC_PLAIN);
	nh_buf_free(&b);
	return 0;
}
