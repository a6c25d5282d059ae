/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a raw MQTT packet through the CONNECT, SUBSCRIBE,
 * UNSUBSCRIBE and PUBLISH parsers: never a read outside the packet, only
 * the documented error codes, every returned pointer inside the packet,
 * and what MQTT says always holds of an accepted packet. A packet read
 * with its fixed header must read the same without it, and the reverse.
 *
 * Input: byte 0 = mode (bits 0-1 parser: 0 CONNECT, 1 SUBSCRIBE,
 * 2 UNSUBSCRIBE, 3 PUBLISH; bit 2 with fixed header; bits 3-4 protocol
 * version 3 + n % 3), then the packet.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

#include "fuzz_check.h"

struct span {
	const uint8_t *p;
	size_t n;
};

static bool inside(struct span s, const void *ptr, size_t len)
{
	const uint8_t *q = ptr;
	return q >= s.p && q <= s.p + s.n && len <= (size_t)(s.p + s.n - q);
}

static void check_str(struct span s, const struct nh_mqtt_str *m)
{
	if (m->present)
		CHECK(inside(s, m->ptr, m->len));
	else
		CHECK(m->ptr == NULL && m->len == 0);
}

static void check_rc(int rc)
{
	CHECK(rc == 0 || rc == -EINVAL || rc == -EMSGSIZE || rc == -EPROTONOSUPPORT);
}

/* Fixed header length of an accepted packet (1 + Remaining Length bytes). */
static size_t header_len(const uint8_t *p)
{
	size_t k = 1;
	while (p[k] & 0x80)
		k++;
	return k + 1;
}

/* A fixed header for `body`: the type byte, then Remaining Length. */
static uint8_t *with_header(uint8_t hdr, const uint8_t *body, size_t n, size_t *out_n)
{
	uint8_t rl[4];
	size_t k = 0, v = n;
	do {
		rl[k] = v & 0x7f;
		v >>= 7;
		if (v)
			rl[k] |= 0x80;
		k++;
	} while (v && k < 4);
	if (v)
		return NULL;
	uint8_t *q = malloc(1 + k + n);
	if (!q)
		return NULL;
	q[0] = hdr;
	memcpy(q + 1, rl, k);
	if (n)
		memcpy(q + 1 + k, body, n);
	*out_n = 1 + k + n;
	return q;
}

static bool same_str(const struct nh_mqtt_str *a, const struct nh_mqtt_str *b)
{
	return a->present == b->present && a->len == b->len &&
	       (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static bool same_connect(const struct nh_mqtt_connect *a, const struct nh_mqtt_connect *b)
{
	return a->proto_ver == b->proto_ver && same_str(&a->proto_name, &b->proto_name) &&
	       a->flags == b->flags && a->keepalive == b->keepalive &&
	       same_str(&a->clientid, &b->clientid) && same_str(&a->username, &b->username) &&
	       a->has_password == b->has_password && a->will == b->will &&
	       a->will_qos == b->will_qos && a->will_retain == b->will_retain &&
	       same_str(&a->will_topic, &b->will_topic) &&
	       a->session_expiry == b->session_expiry &&
	       a->has_session_expiry == b->has_session_expiry && a->bridge == b->bridge;
}

static void fuzz_connect(struct span s, bool hdr)
{
	struct nh_mqtt_connect c, c2;
	int rc = nh_mqtt_parse_connect(s.p, s.n, hdr, &c);

	check_rc(rc);
	if (rc) {
		/* only an unknown level of a known name reports the level */
		CHECK(!c.clientid.present && (rc == -EPROTONOSUPPORT || c.proto_ver == 0));
		CHECK(rc != -EPROTONOSUPPORT || c.proto_ver < 0x80);
		return;
	}
	CHECK(c.proto_ver >= 3 && c.proto_ver <= 5);
	CHECK(c.clientid.present && c.proto_name.present);
	CHECK((c.proto_name.len == 4 && c.proto_ver >= 4) ||
	      (c.proto_name.len == 6 && c.proto_ver == 3));
	check_str(s, &c.proto_name);
	check_str(s, &c.clientid);
	check_str(s, &c.username);
	check_str(s, &c.will_topic);
	CHECK(c.username.present == !!(c.flags & 0x80));
	CHECK(c.has_password == !!(c.flags & 0x40));
	CHECK(c.will == c.will_topic.present);
	CHECK(c.will_qos <= 2);
	CHECK(!c.will || c.will_topic.len > 0);
	CHECK(c.proto_ver == 5 || !c.has_session_expiry);
	if (c.proto_ver < 5)
		CHECK(!c.has_password || c.username.present);

	/* The same packet in the other header mode. */
	if (hdr) {
		size_t h = header_len(s.p);
		CHECK(nh_mqtt_parse_connect(s.p + h, s.n - h, false, &c2) == 0);
		CHECK(same_connect(&c, &c2));
	} else {
		size_t n2;
		uint8_t *q = with_header(0x10, s.p, s.n, &n2);
		if (q) {
			CHECK(nh_mqtt_parse_connect(q, n2, true, &c2) == 0);
			CHECK(same_connect(&c, &c2));
			free(q);
		}
	}
}

struct sub_ctx {
	struct span s;
	uint8_t ver;
	bool unsub;
	size_t calls;
};

static int on_filter(void *ctx, const struct nh_mqtt_topic_req *t)
{
	struct sub_ctx *x = ctx;

	x->calls++;
	CHECK(t->filter.present && t->filter.len > 0);
	CHECK(inside(x->s, t->filter.ptr, t->filter.len));
	CHECK((t->opts & 3) != 3);
	if (x->unsub)
		CHECK(t->opts == 0);
	else if (x->ver < 5)
		CHECK(t->opts <= 2);
	return 0;
}

static void fuzz_sub(struct span s, bool hdr, uint8_t ver, bool unsub)
{
	struct sub_ctx x = { .s = s, .ver = ver, .unsub = unsub };
	uint16_t id = 0xffff;
	int rc = nh_mqtt_parse_sub(s.p, s.n, hdr, ver, unsub, on_filter, &x, &id);

	check_rc(rc);
	if (rc) {
		/* a refused packet is never half-reported */
		CHECK(x.calls == 0 && id == 0);
		return;
	}
	CHECK(x.calls > 0 && id != 0);

	struct sub_ctx y = x;
	y.calls = 0;
	if (hdr) {
		size_t h = header_len(s.p);
		y.s = (struct span){ s.p + h, s.n - h };
		CHECK(nh_mqtt_parse_sub(y.s.p, y.s.n, false, ver, unsub, on_filter, &y, NULL) == 0);
		CHECK(y.calls == x.calls);
	} else {
		size_t n2;
		uint8_t *q = with_header(unsub ? 0xa2 : 0x82, s.p, s.n, &n2);
		if (q) {
			y.s = (struct span){ q, n2 };
			CHECK(nh_mqtt_parse_sub(q, n2, true, ver, unsub, on_filter, &y, NULL) == 0);
			CHECK(y.calls == x.calls);
			free(q);
		}
	}
}

static void fuzz_publish(struct span s, uint8_t ver)
{
	struct nh_mqtt_publish m;
	int rc = nh_mqtt_parse_publish(s.p, s.n, ver, &m);

	check_rc(rc);
	if (rc) {
		CHECK(m.payload == NULL && !m.topic.present);
		return;
	}
	CHECK(m.qos <= 2);
	CHECK((m.packet_id != 0) == (m.qos > 0));
	CHECK(!m.dup || m.qos > 0);
	check_str(s, &m.topic);
	CHECK(m.topic.present);
	CHECK(m.topic.len > 0 || (ver == 5 && m.topic_alias != 0));
	CHECK(ver == 5 || m.topic_alias == 0);
	CHECK(!memchr(m.topic.ptr, '+', m.topic.len) && !memchr(m.topic.ptr, '#', m.topic.len));
	CHECK(inside(s, m.payload, m.payload_len));
	CHECK(m.payload + m.payload_len == s.p + s.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	bool hdr = mode & 4;
	uint8_t ver = (uint8_t)(3 + ((mode >> 3) & 3) % 3);
	size_t n = size - 1;

	/* Exact-size copy so any overread is caught. */
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return 0;
	if (n)
		memcpy(p, data + 1, n);
	struct span s = { p, n };

	switch (mode & 3) {
	case 0: fuzz_connect(s, hdr); break;
	case 1: fuzz_sub(s, hdr, ver, false); break;
	case 2: fuzz_sub(s, hdr, ver, true); break;
	case 3: fuzz_publish(s, ver); break;
	}
	free(p);
	return 0;
}
