/* SPDX-License-Identifier: MIT */
/* Raw MQTT CONNECT / SUBSCRIBE / UNSUBSCRIBE / PUBLISH parsing (mqtt.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt.h"

/* --- a packet builder ----------------------------------------------------- */

struct pb {
	uint8_t b[1024];
	size_t n;
};

static void put(struct pb *p, const void *s, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

static void u8(struct pb *p, uint8_t v)
{
	put(p, &v, 1);
}

static void u16(struct pb *p, uint16_t v)
{
	u8(p, (uint8_t)(v >> 8));
	u8(p, (uint8_t)v);
}

static void u32(struct pb *p, uint32_t v)
{
	u16(p, (uint16_t)(v >> 16));
	u16(p, (uint16_t)v);
}

static void vbi(struct pb *p, uint32_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		u8(p, (uint8_t)(b | (v ? 0x80 : 0)));
	} while (v);
}

static void str(struct pb *p, const char *s)
{
	u16(p, (uint16_t)strlen(s));
	put(p, s, strlen(s));
}

/* Property Length + properties. */
static void props(struct pb *p, const struct pb *pr)
{
	vbi(p, (uint32_t)(pr ? pr->n : 0));
	if (pr)
		put(p, pr->b, pr->n);
}

/* Fixed header + body. */
static struct pb wrap(uint8_t hdr, const struct pb *body)
{
	struct pb p = { .n = 0 };
	u8(&p, hdr);
	vbi(&p, (uint32_t)body->n);
	put(&p, body->b, body->n);
	return p;
}

#define CF_CLEAN 0x02
#define CF_WILL 0x04
#define CF_WILL_QOS1 0x08
#define CF_WILL_QOS2 0x10
#define CF_WILL_RETAIN 0x20
#define CF_PASS 0x40
#define CF_USER 0x80

struct conn_spec {
	const char *name;
	uint8_t level, flags;
	uint16_t keepalive;
	const struct pb *props, *will_props; /* v5 only */
	const char *clientid, *will_topic, *will_msg, *user, *pass;
};

/* The CONNECT body (variable header + payload); the flags pick the fields. */
static struct pb connect_body(const struct conn_spec *s)
{
	struct pb p = { .n = 0 };
	str(&p, s->name);
	u8(&p, s->level);
	u8(&p, s->flags);
	u16(&p, s->keepalive);
	if ((s->level & 0x7f) == 5)
		props(&p, s->props);
	str(&p, s->clientid);
	if (s->flags & CF_WILL) {
		if ((s->level & 0x7f) == 5)
			props(&p, s->will_props);
		str(&p, s->will_topic);
		str(&p, s->will_msg);
	}
	if (s->flags & CF_USER)
		str(&p, s->user);
	if (s->flags & CF_PASS)
		str(&p, s->pass);
	return p;
}

static struct pb connect_pkt(const struct conn_spec *s)
{
	struct pb body = connect_body(s);
	return wrap(0x10, &body);
}

/* Offset of the Connect Flags byte in a body (after name and level). */
static size_t flags_off(const struct conn_spec *s)
{
	return 2 + strlen(s->name) + 1;
}

#define assert_mstr(s, lit)                                                    \
	do {                                                                   \
		assert_true((s).present);                                      \
		assert_int_equal((s).len, strlen(lit));                        \
		assert_memory_equal((s).ptr, (lit), strlen(lit));              \
	} while (0)

/* Parses from an exact-size heap copy so ASan sees any overread. */
static int connect_copy(const uint8_t *b, size_t n, bool hdr)
{
	struct nh_mqtt_connect c;
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, b, n);
	int rc = nh_mqtt_parse_connect(q, n, hdr, &c);
	free(q);
	return rc;
}

/* Every proper prefix of a good packet must be refused as cut short. */
static void assert_connect_prefixes_short(const struct pb *pkt)
{
	size_t rl_len = 1;
	while (pkt->b[rl_len] & 0x80)
		rl_len++;
	const uint8_t *body = pkt->b + 1 + rl_len;
	size_t body_n = pkt->n - 1 - rl_len;

	assert_int_equal(connect_copy(pkt->b, pkt->n, true), 0);
	assert_int_equal(connect_copy(body, body_n, false), 0);
	for (size_t k = 0; k < pkt->n; k++)
		assert_int_equal(connect_copy(pkt->b, k, true), -EMSGSIZE);
	for (size_t k = 0; k < body_n; k++)
		assert_int_equal(connect_copy(body, k, false), -EMSGSIZE);
}

/* --- CONNECT --------------------------------------------------------------- */

static const struct conn_spec v311_all = {
	.name = "MQTT", .level = 4,
	.flags = CF_CLEAN | CF_WILL | CF_WILL_QOS1 | CF_WILL_RETAIN | CF_USER | CF_PASS,
	.keepalive = 60, .clientid = "dev-1", .will_topic = "dead/dev-1",
	.will_msg = "gone", .user = "alice", .pass = "s3cret",
};

static void test_connect_v311(void **state)
{
	(void)state;
	struct pb pkt = connect_pkt(&v311_all);
	struct nh_mqtt_connect c;

	for (int hdr = 0; hdr < 2; hdr++) {
		const uint8_t *b = hdr ? pkt.b : pkt.b + 2;
		size_t n = hdr ? pkt.n : pkt.n - 2;
		assert_int_equal(nh_mqtt_parse_connect(b, n, hdr, &c), 0);
		assert_int_equal(c.proto_ver, 4);
		assert_mstr(c.proto_name, "MQTT");
		assert_int_equal(c.flags, v311_all.flags);
		assert_true(c.clean_start);
		assert_int_equal(c.keepalive, 60);
		assert_mstr(c.clientid, "dev-1");
		assert_mstr(c.username, "alice");
		assert_true(c.has_password);
		assert_true(c.will);
		assert_int_equal(c.will_qos, 1);
		assert_true(c.will_retain);
		assert_mstr(c.will_topic, "dead/dev-1");
		assert_false(c.has_session_expiry);
		assert_false(c.bridge);
		/* strings point into the packet */
		assert_true((const uint8_t *)c.clientid.ptr > b &&
			    (const uint8_t *)c.clientid.ptr < b + n);
	}
	assert_connect_prefixes_short(&pkt);
}

static void test_connect_v311_minimal(void **state)
{
	(void)state;
	struct conn_spec s = { .name = "MQTT", .level = 4, .flags = 0,
			       .keepalive = 0, .clientid = "" };
	struct pb pkt = connect_pkt(&s);
	struct nh_mqtt_connect c;

	/* An empty client id with clean session 0 is the broker's to refuse
	 * with CONNACK 0x02, not a malformed packet. */
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_true(c.clientid.present);
	assert_int_equal(c.clientid.len, 0);
	assert_false(c.username.present);
	assert_false(c.will_topic.present);
	assert_false(c.has_password);
	assert_false(c.clean_start);
	assert_connect_prefixes_short(&pkt);
}

static void test_connect_v31(void **state)
{
	(void)state;
	struct conn_spec s = { .name = "MQIsdp", .level = 3,
			       .flags = CF_CLEAN | CF_USER | CF_PASS,
			       .keepalive = 10, .clientid = "old-client",
			       .user = "u", .pass = "p" };
	struct pb pkt = connect_pkt(&s);
	struct nh_mqtt_connect c;

	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_int_equal(c.proto_ver, 3);
	assert_mstr(c.proto_name, "MQIsdp");
	assert_mstr(c.clientid, "old-client");
	assert_mstr(c.username, "u");
	assert_true(c.has_password);
	assert_int_equal(c.keepalive, 10);
	assert_connect_prefixes_short(&pkt);

	/* 3.1 with a will, no user name */
	s.flags = CF_WILL | CF_WILL_QOS2;
	s.will_topic = "w";
	s.will_msg = "";
	pkt = connect_pkt(&s);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_int_equal(c.will_qos, 2);
	assert_mstr(c.will_topic, "w");
	assert_false(c.username.present);
	assert_connect_prefixes_short(&pkt);
}

static void test_connect_v5_properties(void **state)
{
	(void)state;
	struct pb pr = { .n = 0 }, wpr = { .n = 0 };
	u8(&pr, 0x11); u32(&pr, 7200);            /* Session Expiry Interval */
	u8(&pr, 0x21); u16(&pr, 20);              /* Receive Maximum */
	u8(&pr, 0x27); u32(&pr, 65536);           /* Maximum Packet Size */
	u8(&pr, 0x22); u16(&pr, 10);              /* Topic Alias Maximum */
	u8(&pr, 0x19); u8(&pr, 1);                /* Request Response Information */
	u8(&pr, 0x17); u8(&pr, 0);                /* Request Problem Information */
	u8(&pr, 0x26); str(&pr, "k"); str(&pr, "v"); /* User Property, twice */
	u8(&pr, 0x26); str(&pr, "k"); str(&pr, "w");
	u8(&pr, 0x15); str(&pr, "SCRAM-SHA-1");   /* Authentication Method */
	u8(&pr, 0x16); str(&pr, "\x01\x02");      /* Authentication Data */
	u8(&wpr, 0x18); u32(&wpr, 5);             /* Will Delay Interval */
	u8(&wpr, 0x01); u8(&wpr, 1);              /* Payload Format Indicator */
	u8(&wpr, 0x02); u32(&wpr, 60);            /* Message Expiry Interval */
	u8(&wpr, 0x03); str(&wpr, "text/plain");  /* Content Type */
	u8(&wpr, 0x08); str(&wpr, "resp/t");      /* Response Topic */
	u8(&wpr, 0x09); str(&wpr, "corr");        /* Correlation Data */
	u8(&wpr, 0x26); str(&wpr, "a"); str(&wpr, "b");
	struct conn_spec s = {
		.name = "MQTT", .level = 5,
		.flags = CF_CLEAN | CF_WILL | CF_WILL_QOS2 | CF_USER | CF_PASS,
		.keepalive = 30, .props = &pr, .will_props = &wpr,
		.clientid = "v5-client", .will_topic = "lwt/v5", .will_msg = "x",
		.user = "bob", .pass = "pw",
	};
	struct pb pkt = connect_pkt(&s);
	struct nh_mqtt_connect c;

	assert_true(pkt.n > 128); /* two-byte Remaining Length */
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_int_equal(c.proto_ver, 5);
	assert_true(c.has_session_expiry);
	assert_int_equal(c.session_expiry, 7200);
	assert_mstr(c.clientid, "v5-client");
	assert_mstr(c.will_topic, "lwt/v5");
	assert_int_equal(c.will_qos, 2);
	assert_false(c.will_retain);
	assert_mstr(c.username, "bob");
	assert_true(c.has_password);
	assert_int_equal(c.keepalive, 30);
	assert_connect_prefixes_short(&pkt);

	/* v5 without properties; password without user name is allowed
	 * (v5 3.1.2.9). */
	struct conn_spec s2 = { .name = "MQTT", .level = 5, .flags = CF_PASS,
				.clientid = "p", .pass = "token" };
	pkt = connect_pkt(&s2);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_false(c.has_session_expiry);
	assert_false(c.username.present);
	assert_true(c.has_password);
	assert_connect_prefixes_short(&pkt);

	/* Session Expiry 0 is present and zero. */
	struct pb pr0 = { .n = 0 };
	u8(&pr0, 0x11); u32(&pr0, 0);
	s2.props = &pr0;
	pkt = connect_pkt(&s2);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_true(c.has_session_expiry);
	assert_int_equal(c.session_expiry, 0);
}

static void test_connect_bridge_bit(void **state)
{
	(void)state;
	struct conn_spec s = { .name = "MQTT", .level = 0x84, .flags = CF_CLEAN,
			       .clientid = "bridge-1" };
	struct pb pkt = connect_pkt(&s);
	struct nh_mqtt_connect c;

	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), 0);
	assert_int_equal(c.proto_ver, 4);
	assert_true(c.bridge);
}

/* Builds s, applies one byte patch to the body (if off >= 0), expects rc. */
static void expect_connect(const struct conn_spec *s, long off, uint8_t val, int rc)
{
	struct pb body = connect_body(s);
	struct nh_mqtt_connect c;

	if (off >= 0)
		body.b[off] = val;
	struct pb pkt = wrap(0x10, &body);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), rc);
	assert_int_equal(nh_mqtt_parse_connect(body.b, body.n, false, &c), rc);
	if (rc) {
		/* nothing half-filled on error, but the level a client asked
		 * for when no MQTT has it (what its refusal reports) */
		assert_false(c.clientid.present);
		assert_int_equal(c.proto_ver, rc == -EPROTONOSUPPORT ? (s->level & 0x7f) : 0);
	}
}

static void test_connect_rejects(void **state)
{
	(void)state;
	struct conn_spec s = { .name = "MQTT", .level = 4, .flags = CF_CLEAN,
			       .clientid = "c" };
	long fo = (long)flags_off(&s);

	expect_connect(&s, -1, 0, 0);
	/* reserved flag bit [MQTT-3.1.2-3], v4 and v5 */
	expect_connect(&s, fo, CF_CLEAN | 0x01, -EINVAL);
	s.level = 5;
	expect_connect(&s, fo, CF_CLEAN | 0x01, -EINVAL);
	s.level = 4;
	/* will QoS / retain without the will flag [MQTT-3.1.2-11/13/15] */
	expect_connect(&s, fo, CF_WILL_QOS1, -EINVAL);
	expect_connect(&s, fo, CF_WILL_RETAIN, -EINVAL);
	/* password without user name in 3.1.1 [MQTT-3.1.2-22] */
	struct conn_spec sp = s;
	sp.flags = CF_PASS;
	sp.pass = "x";
	expect_connect(&sp, -1, 0, -EINVAL);
	sp.name = "MQIsdp";
	sp.level = 3;
	expect_connect(&sp, -1, 0, -EINVAL);

	/* name / level pairs that exist in no version: a known name with an
	 * unknown level is a refusal the broker answers (0x01), and reports
	 * the level; an unknown name is not MQTT at all */
	struct conn_spec sn = s;
	sn.level = 3;
	expect_connect(&sn, -1, 0, -EPROTONOSUPPORT);
	sn.level = 6;
	expect_connect(&sn, -1, 0, -EPROTONOSUPPORT);
	sn.level = 7;
	expect_connect(&sn, -1, 0, -EPROTONOSUPPORT);
	sn.name = "MQIsdp";
	sn.level = 4;
	expect_connect(&sn, -1, 0, -EPROTONOSUPPORT);
	sn.name = "MQTT5";
	sn.level = 5;
	expect_connect(&sn, -1, 0, -EINVAL);

	/* will QoS 3 */
	struct conn_spec sw = s;
	sw.flags = CF_WILL | CF_WILL_QOS1 | CF_WILL_QOS2;
	sw.will_topic = "t";
	sw.will_msg = "m";
	expect_connect(&sw, -1, 0, -EINVAL);
	sw.name = "MQIsdp";
	sw.level = 3;
	expect_connect(&sw, -1, 0, -EINVAL);
	/* will topic must be a topic name */
	sw = s;
	sw.flags = CF_WILL;
	sw.will_msg = "m";
	sw.will_topic = "a/+";
	expect_connect(&sw, -1, 0, -EINVAL);
	sw.will_topic = "";
	expect_connect(&sw, -1, 0, -EINVAL);
	sw.will_topic = "a/b";
	expect_connect(&sw, -1, 0, 0);

	/* strings: U+0000, ill-formed UTF-8, surrogate */
	struct conn_spec su = s;
	su.clientid = "a\x01" "b";
	expect_connect(&su, -1, 0, 0);
	expect_connect(&su, (long)flags_off(&s) + 3 + 2 + 1, 0x00, -EINVAL);
	su.clientid = "\xc3\x28";
	expect_connect(&su, -1, 0, -EINVAL);
	su.clientid = "\xed\xa0\x80";
	expect_connect(&su, -1, 0, -EINVAL);
	su.clientid = "\xc3\xa9t\xc3\xa9";
	expect_connect(&su, -1, 0, 0);
	su.clientid = "c";
	su.flags = CF_USER;
	su.user = "\xc0\x80"; /* overlong NUL */
	expect_connect(&su, -1, 0, -EINVAL);

	/* Bytes the flags do not account for, with and without the header. */
	struct pb body = connect_body(&s);
	u8(&body, 0);
	struct pb pkt = wrap(0x10, &body);
	struct nh_mqtt_connect c;
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), -EINVAL);
	assert_int_equal(nh_mqtt_parse_connect(body.b, body.n, false, &c), -EINVAL);
	/* Buffer longer than the Remaining Length says. */
	body = connect_body(&s);
	pkt = wrap(0x10, &body);
	u8(&pkt, 0);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), -EINVAL);
	/* Fixed header: reserved flags, wrong type. */
	pkt = wrap(0x11, &body);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), -EINVAL);
	pkt = wrap(0x20, &body);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), -EINVAL);
	/* Remaining Length: five bytes, and a padded (non-minimal) one. */
	static const uint8_t rl5[] = { 0x10, 0x80, 0x80, 0x80, 0x80, 0x01 };
	assert_int_equal(nh_mqtt_parse_connect(rl5, sizeof(rl5), true, &c), -EINVAL);
	struct pb padded = { .n = 0 };
	u8(&padded, 0x10);
	u8(&padded, (uint8_t)(0x80 | body.n));
	u8(&padded, 0x00);
	put(&padded, body.b, body.n);
	assert_int_equal(nh_mqtt_parse_connect(padded.b, padded.n, true, &c), -EINVAL);
}

static struct pb v5_connect_with(const struct pb *pr)
{
	struct conn_spec s = { .name = "MQTT", .level = 5, .flags = CF_CLEAN,
			       .props = pr, .clientid = "c" };
	return connect_pkt(&s);
}

static void test_connect_v5_bad_properties(void **state)
{
	(void)state;
	struct nh_mqtt_connect c;
	struct pb pr, pkt;

#define EXPECT_PROPS(rc, ...)                                                  \
	do {                                                                   \
		pr = (struct pb){ .n = 0 };                                    \
		__VA_ARGS__;                                                   \
		pkt = v5_connect_with(&pr);                                    \
		assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), rc); \
	} while (0)

	EXPECT_PROPS(0, u8(&pr, 0x11); u32(&pr, 1));
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x11); u32(&pr, 1); u8(&pr, 0x11); u32(&pr, 2)); /* twice */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x23); u16(&pr, 1));    /* Topic Alias: PUBLISH only */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x18); u32(&pr, 1));    /* Will Delay: will only */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x12); str(&pr, "x"));  /* CONNACK only */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x04); u8(&pr, 0));     /* not defined */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x7f));
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x17); u8(&pr, 2));     /* not 0 or 1 */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x21); u16(&pr, 0));    /* Receive Maximum 0 */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x27); u32(&pr, 0));    /* Maximum Packet Size 0 */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x11); u16(&pr, 1));    /* value overruns Property Length */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x26); str(&pr, "k"));  /* pair missing its value */
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x15); str(&pr, "\xff"));
	EXPECT_PROPS(-EINVAL, u8(&pr, 0x91); u8(&pr, 0x00));  /* padded identifier */
#undef EXPECT_PROPS

	/* Property Length past the packet. */
	struct conn_spec s = { .name = "MQTT", .level = 5, .flags = 0, .clientid = "c" };
	struct pb body = connect_body(&s);
	size_t plen_off = flags_off(&s) + 3;
	assert_int_equal(body.b[plen_off], 0);
	body.b[plen_off] = 100;
	pkt = wrap(0x10, &body);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), -EINVAL);
	assert_int_equal(nh_mqtt_parse_connect(body.b, body.n, false, &c), -EMSGSIZE);

	/* Will properties are checked as will properties. */
	struct pb wpr = { .n = 0 };
	u8(&wpr, 0x11); u32(&wpr, 1);
	struct conn_spec sw = { .name = "MQTT", .level = 5, .flags = CF_WILL,
				.will_props = &wpr, .clientid = "c",
				.will_topic = "t", .will_msg = "" };
	pkt = connect_pkt(&sw);
	assert_int_equal(nh_mqtt_parse_connect(pkt.b, pkt.n, true, &c), -EINVAL);
}

/* --- captured from real clients -------------------------------------------- */

/*
 * Captured once by hand from mosquitto_pub / mosquitto_sub 2.0.11
 * (Debian 12) talking to a 20-line Python socket server on 127.0.0.1 that
 * printed each packet in hex and answered CONNACK / SUBACK / PUBACK:
 *
 *   mosquitto_pub -p PORT -i c1 -u alice -k 30 -V mqttv5 -t a/b -m hi
 *   mosquitto_pub -p PORT -i c2 -u bob -P secret -k 60 -V mqttv311 -q 1 -r \
 *       -t sensors/t1 -m 21.5 --will-topic dead/c2 --will-payload bye --will-qos 1
 *   mosquitto_sub -p PORT -i s1 -V mqttv5 -t a/+ -t 'b/#' -q 2 -x 3600 -E
 *   mosquitto_pub -p PORT -i c3 -V mqttv5 -q 2 -t x/y -m hello \
 *       -D publish message-expiry-interval 60 -D publish content-type text/plain \
 *       -D publish user-property k v
 *   mosquitto_sub -p PORT -i s2 -V mqttv311 -U 'old/#' -t new/+ -q 1 -E
 */
static const uint8_t real_pub_v5_connect[] = {
	0x10, 0x19, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x82, 0x00, 0x1e,
	0x03, 0x21, 0x00, 0x14, 0x00, 0x02, 0x63, 0x31, 0x00, 0x05, 0x61, 0x6c,
	0x69, 0x63, 0x65,
};
static const uint8_t real_pub_v5_publish[] = {
	0x30, 0x08, 0x00, 0x03, 0x61, 0x2f, 0x62, 0x00, 0x68, 0x69,
};
static const uint8_t real_pub_v311_connect[] = {
	0x10, 0x29, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0xce, 0x00, 0x3c,
	0x00, 0x02, 0x63, 0x32, 0x00, 0x07, 0x64, 0x65, 0x61, 0x64, 0x2f, 0x63,
	0x32, 0x00, 0x03, 0x62, 0x79, 0x65, 0x00, 0x03, 0x62, 0x6f, 0x62, 0x00,
	0x06, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74,
};
static const uint8_t real_pub_v311_publish[] = {
	0x33, 0x12, 0x00, 0x0a, 0x73, 0x65, 0x6e, 0x73, 0x6f, 0x72, 0x73, 0x2f,
	0x74, 0x31, 0x00, 0x01, 0x32, 0x31, 0x2e, 0x35,
};
static const uint8_t real_sub_v5_connect[] = {
	0x10, 0x17, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x3c,
	0x08, 0x11, 0x00, 0x00, 0x0e, 0x10, 0x21, 0x00, 0x14, 0x00, 0x02, 0x73,
	0x31,
};
static const uint8_t real_sub_v5_subscribe[] = {
	0x82, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x03, 0x61, 0x2f, 0x2b, 0x02, 0x00,
	0x03, 0x62, 0x2f, 0x23, 0x02,
};
static const uint8_t real_pub_v5_qos2_props[] = {
	0x34, 0x26, 0x00, 0x03, 0x78, 0x2f, 0x79, 0x00, 0x01, 0x19, 0x02, 0x00,
	0x00, 0x00, 0x3c, 0x03, 0x00, 0x0a, 0x74, 0x65, 0x78, 0x74, 0x2f, 0x70,
	0x6c, 0x61, 0x69, 0x6e, 0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76, 0x68,
	0x65, 0x6c, 0x6c, 0x6f,
};
static const uint8_t real_sub_v311_subscribe[] = {
	0x82, 0x0a, 0x00, 0x01, 0x00, 0x05, 0x6e, 0x65, 0x77, 0x2f, 0x2b, 0x01,
};
static const uint8_t real_sub_v311_unsubscribe[] = {
	0xa2, 0x09, 0x00, 0x02, 0x00, 0x05, 0x6f, 0x6c, 0x64, 0x2f, 0x23,
};

struct collected {
	int n;
	struct nh_mqtt_topic_req t[8];
	int stop_after; /* return 99 from this call on; 0 = never */
};

static int collect(void *ctx, const struct nh_mqtt_topic_req *t)
{
	struct collected *c = ctx;
	assert_true(c->n < 8);
	c->t[c->n++] = *t;
	return c->stop_after && c->n >= c->stop_after ? 99 : 0;
}

static void test_real_clients(void **state)
{
	(void)state;
	struct nh_mqtt_connect c;
	struct nh_mqtt_publish m;
	struct collected got = { 0 };
	uint16_t id;

	assert_int_equal(nh_mqtt_parse_connect(real_pub_v5_connect,
					       sizeof(real_pub_v5_connect), true, &c), 0);
	assert_int_equal(c.proto_ver, 5);
	assert_mstr(c.clientid, "c1");
	assert_mstr(c.username, "alice");
	assert_false(c.has_password);
	assert_int_equal(c.keepalive, 30);
	assert_true(c.clean_start);
	assert_false(c.has_session_expiry);

	assert_int_equal(nh_mqtt_parse_publish(real_pub_v5_publish,
					       sizeof(real_pub_v5_publish), 5, &m), 0);
	assert_mstr(m.topic, "a/b");
	assert_int_equal(m.qos, 0);
	assert_int_equal(m.payload_len, 2);
	assert_memory_equal(m.payload, "hi", 2);

	assert_int_equal(nh_mqtt_parse_connect(real_pub_v311_connect,
					       sizeof(real_pub_v311_connect), true, &c), 0);
	assert_int_equal(c.proto_ver, 4);
	assert_mstr(c.clientid, "c2");
	assert_mstr(c.username, "bob");
	assert_true(c.has_password);
	assert_true(c.will);
	assert_int_equal(c.will_qos, 1);
	assert_mstr(c.will_topic, "dead/c2");
	assert_int_equal(c.keepalive, 60);

	assert_int_equal(nh_mqtt_parse_publish(real_pub_v311_publish,
					       sizeof(real_pub_v311_publish), 4, &m), 0);
	assert_mstr(m.topic, "sensors/t1");
	assert_int_equal(m.qos, 1);
	assert_true(m.retain);
	assert_int_equal(m.packet_id, 1);
	assert_int_equal(m.payload_len, 4);
	assert_memory_equal(m.payload, "21.5", 4);

	assert_int_equal(nh_mqtt_parse_connect(real_sub_v5_connect,
					       sizeof(real_sub_v5_connect), true, &c), 0);
	assert_mstr(c.clientid, "s1");
	assert_true(c.has_session_expiry);
	assert_int_equal(c.session_expiry, 3600);

	assert_int_equal(nh_mqtt_parse_sub(real_sub_v5_subscribe,
					   sizeof(real_sub_v5_subscribe), true, 5,
					   false, collect, &got, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(got.n, 2);
	assert_mstr(got.t[0].filter, "a/+");
	assert_int_equal(got.t[0].opts, 2);
	assert_mstr(got.t[1].filter, "b/#");
	assert_int_equal(got.t[1].opts, 2);

	assert_int_equal(nh_mqtt_parse_publish(real_pub_v5_qos2_props,
					       sizeof(real_pub_v5_qos2_props), 5, &m), 0);
	assert_mstr(m.topic, "x/y");
	assert_int_equal(m.qos, 2);
	assert_int_equal(m.packet_id, 1);
	assert_int_equal(m.topic_alias, 0);
	assert_int_equal(m.payload_len, 5);
	assert_memory_equal(m.payload, "hello", 5);

	got.n = 0;
	assert_int_equal(nh_mqtt_parse_sub(real_sub_v311_subscribe,
					   sizeof(real_sub_v311_subscribe), true, 4,
					   false, collect, &got, &id), 0);
	assert_int_equal(got.n, 1);
	assert_mstr(got.t[0].filter, "new/+");
	assert_int_equal(got.t[0].opts, 1);

	got.n = 0;
	assert_int_equal(nh_mqtt_parse_sub(real_sub_v311_unsubscribe,
					   sizeof(real_sub_v311_unsubscribe), true, 4,
					   true, collect, &got, &id), 0);
	assert_int_equal(id, 2);
	assert_int_equal(got.n, 1);
	assert_mstr(got.t[0].filter, "old/#");
	assert_int_equal(got.t[0].opts, 0);
	/* an UNSUBSCRIBE is not a SUBSCRIBE */
	assert_int_equal(nh_mqtt_parse_sub(real_sub_v311_unsubscribe,
					   sizeof(real_sub_v311_unsubscribe), true, 4,
					   false, NULL, NULL, NULL), -EINVAL);
}

/* --- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------- */

static int sub_copy(const uint8_t *b, size_t n, bool hdr, uint8_t ver, bool unsub)
{
	struct collected got = { 0 };
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, b, n);
	int rc = nh_mqtt_parse_sub(q, n, hdr, ver, unsub, collect, &got, NULL);
	free(q);
	if (rc)
		assert_int_equal(got.n, 0);
	return rc;
}

static struct pb subscribe3(uint8_t ver, uint16_t id, const struct pb *pr)
{
	struct pb b = { .n = 0 };
	u16(&b, id);
	if (ver == 5)
		props(&b, pr);
	str(&b, "sensors/+/temp"); u8(&b, 0);
	str(&b, "alerts/#");       u8(&b, ver == 5 ? 0x2d : 1); /* v5: qos1, NL, RAP, RH 2 */
	str(&b, "$SYS/broker/x");  u8(&b, 2);
	return b;
}

static void test_subscribe(void **state)
{
	(void)state;
	struct pb pr = { .n = 0 };
	u8(&pr, 0x0b); vbi(&pr, 268435455);  /* Subscription Identifier, max */
	u8(&pr, 0x26); str(&pr, "k"); str(&pr, "v");

	for (uint8_t ver = 3; ver <= 5; ver++) {
		struct pb body = subscribe3(ver, 0x1234, ver == 5 ? &pr : NULL);
		struct pb pkt = wrap(0x82, &body);
		struct collected got = { 0 };
		uint16_t id = 0;

		assert_int_equal(nh_mqtt_parse_sub(pkt.b, pkt.n, true, ver, false,
						   collect, &got, &id), 0);
		assert_int_equal(id, 0x1234);
		assert_int_equal(got.n, 3);
		assert_mstr(got.t[0].filter, "sensors/+/temp");
		assert_int_equal(got.t[0].opts, 0);
		assert_mstr(got.t[1].filter, "alerts/#");
		assert_int_equal(got.t[1].opts, ver == 5 ? 0x2d : 1);
		assert_mstr(got.t[2].filter, "$SYS/broker/x");
		assert_int_equal(got.t[2].opts & 3, 2);

		got.n = 0;
		assert_int_equal(nh_mqtt_parse_sub(body.b, body.n, false, ver, false,
						   collect, &got, &id), 0);
		assert_int_equal(got.n, 3);

		/* cut anywhere: refused, and nothing reported */
		for (size_t k = 0; k < pkt.n; k++)
			assert_int_equal(sub_copy(pkt.b, k, true, ver, false), -EMSGSIZE);
		/* Without the header only the buffer says where the packet
		 * ends: cut inside a field it is refused; cut between two
		 * filters it is a shorter, valid SUBSCRIBE. */
		for (size_t k = 0; k < body.n; k++) {
			int rc = sub_copy(body.b, k, false, ver, false);
			assert_true(rc == 0 || rc == -EMSGSIZE || rc == -EINVAL);
		}

		/* The callback can stop the walk. */
		got = (struct collected){ .stop_after = 2 };
		assert_int_equal(nh_mqtt_parse_sub(pkt.b, pkt.n, true, ver, false,
						   collect, &got, NULL), 99);
		assert_int_equal(got.n, 2);
		/* fn may be NULL: validation only */
		assert_int_equal(nh_mqtt_parse_sub(pkt.b, pkt.n, true, ver, false,
						   NULL, NULL, NULL), 0);
	}
}

static void expect_sub(uint8_t ver, uint8_t hdr, const struct pb *body, bool unsub, int rc)
{
	struct pb pkt = wrap(hdr, body);
	assert_int_equal(sub_copy(pkt.b, pkt.n, true, ver, unsub), rc);
}

static void test_subscribe_rejects(void **state)
{
	(void)state;
	struct pb b;

#define SUB(...) (b = (struct pb){ .n = 0 }, __VA_ARGS__, &b)
	/* fixed header flags must be 0010; MQTT 3.1 may set DUP */
	expect_sub(4, 0x82, SUB(u16(&b, 1), str(&b, "a"), u8(&b, 0)), false, 0);
	expect_sub(4, 0x80, &b, false, -EINVAL);
	expect_sub(4, 0x8a, &b, false, -EINVAL);
	expect_sub(3, 0x8a, &b, false, 0);
	expect_sub(3, 0x83, &b, false, -EINVAL);
	expect_sub(4, 0xa2, &b, false, -EINVAL); /* type 10 is not SUBSCRIBE */
	expect_sub(4, 0x82, &b, true, -EINVAL);
	/* unsupported protocol version */
	expect_sub(2, 0x82, &b, false, -EINVAL);
	expect_sub(6, 0x82, &b, false, -EINVAL);
	/* packet id 0 */
	expect_sub(4, 0x82, SUB(u16(&b, 0), str(&b, "a"), u8(&b, 0)), false, -EINVAL);
	/* no filter at all */
	expect_sub(4, 0x82, SUB(u16(&b, 1)), false, -EINVAL);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 0)), false, -EINVAL);
	/* empty filter */
	expect_sub(4, 0x82, SUB(u16(&b, 1), str(&b, ""), u8(&b, 0)), false, -EINVAL);
	/* filter without its options byte */
	expect_sub(4, 0x82, SUB(u16(&b, 1), str(&b, "a")), false, -EINVAL);
	/* options: QoS 3; reserved bits (3.1.1 has 6, v5 has 2) */
	expect_sub(4, 0x82, SUB(u16(&b, 1), str(&b, "a"), u8(&b, 3)), false, -EINVAL);
	expect_sub(4, 0x82, SUB(u16(&b, 1), str(&b, "a"), u8(&b, 0x04)), false, -EINVAL);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 0), str(&b, "a"), u8(&b, 0x04)), false, 0);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 0), str(&b, "a"), u8(&b, 0x40)), false, -EINVAL);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 0), str(&b, "a"), u8(&b, 0x30)), false, -EINVAL);
	/* No Local on a shared subscription [MQTT-3.8.3-4] */
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 0), str(&b, "$share/g/a"), u8(&b, 0x04)),
		   false, -EINVAL);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 0), str(&b, "$share/g/a"), u8(&b, 0x01)),
		   false, 0);
	/* properties: Subscription Identifier 0, twice, one not for SUBSCRIBE */
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 2), u8(&b, 0x0b), u8(&b, 0),
				str(&b, "a"), u8(&b, 0)), false, -EINVAL);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 4), u8(&b, 0x0b), u8(&b, 1),
				u8(&b, 0x0b), u8(&b, 2), str(&b, "a"), u8(&b, 0)),
		   false, -EINVAL);
	expect_sub(5, 0x82, SUB(u16(&b, 1), u8(&b, 3), u8(&b, 0x23), u16(&b, 1),
				str(&b, "a"), u8(&b, 0)), false, -EINVAL);
	/* Subscription Identifier is not an UNSUBSCRIBE property */
	expect_sub(5, 0xa2, SUB(u16(&b, 1), u8(&b, 2), u8(&b, 0x0b), u8(&b, 1),
				str(&b, "a")), true, -EINVAL);
	/* a bad third filter: the first two are never reported (sub_copy checks) */
	expect_sub(4, 0x82, SUB(u16(&b, 1), str(&b, "a"), u8(&b, 0), str(&b, "b"),
				u8(&b, 1), str(&b, "c\xff"), u8(&b, 0)), false, -EINVAL);
#undef SUB
}

static void test_unsubscribe(void **state)
{
	(void)state;
	for (uint8_t ver = 3; ver <= 5; ver++) {
		struct pb body = { .n = 0 };
		u16(&body, 7);
		if (ver == 5) {
			struct pb pr = { .n = 0 };
			u8(&pr, 0x26); str(&pr, "why"); str(&pr, "done");
			props(&body, &pr);
		}
		str(&body, "a/b");
		str(&body, "c/#");
		struct pb pkt = wrap(0xa2, &body);
		struct collected got = { 0 };
		uint16_t id;

		assert_int_equal(nh_mqtt_parse_sub(pkt.b, pkt.n, true, ver, true,
						   collect, &got, &id), 0);
		assert_int_equal(id, 7);
		assert_int_equal(got.n, 2);
		assert_mstr(got.t[0].filter, "a/b");
		assert_int_equal(got.t[0].opts, 0);
		assert_mstr(got.t[1].filter, "c/#");
		for (size_t k = 0; k < pkt.n; k++)
			assert_int_equal(sub_copy(pkt.b, k, true, ver, true), -EMSGSIZE);
	}
	/* no filter */
	struct pb body = { .n = 0 };
	u16(&body, 7);
	struct pb pkt = wrap(0xa2, &body);
	assert_int_equal(sub_copy(pkt.b, pkt.n, true, 4, true), -EINVAL);
}

/* --- PUBLISH ----------------------------------------------------------------- */

static struct pb publish_pkt(uint8_t ver, uint8_t hdr, const char *topic,
			     uint16_t id, const struct pb *pr, const char *payload)
{
	struct pb b = { .n = 0 };
	str(&b, topic);
	if (hdr & 0x06)
		u16(&b, id);
	if (ver == 5)
		props(&b, pr);
	put(&b, payload, strlen(payload));
	return wrap(hdr, &b);
}

static int publish_copy(const uint8_t *b, size_t n, uint8_t ver)
{
	struct nh_mqtt_publish m;
	uint8_t *q = malloc(n ? n : 1);
	assert_non_null(q);
	if (n)
		memcpy(q, b, n);
	int rc = nh_mqtt_parse_publish(q, n, ver, &m);
	free(q);
	return rc;
}

static void test_publish(void **state)
{
	(void)state;
	struct pb pr = { .n = 0 };
	u8(&pr, 0x01); u8(&pr, 1);                     /* Payload Format Indicator */
	u8(&pr, 0x02); u32(&pr, 60);                   /* Message Expiry Interval */
	u8(&pr, 0x08); str(&pr, "reply/here");         /* Response Topic */
	u8(&pr, 0x09); str(&pr, "id-1");               /* Correlation Data */
	u8(&pr, 0x26); str(&pr, "k"); str(&pr, "v");   /* User Property */
	u8(&pr, 0x0b); vbi(&pr, 5);                    /* Subscription Identifier, */
	u8(&pr, 0x0b); vbi(&pr, 300);                  /* may repeat in PUBLISH */
	u8(&pr, 0x03); str(&pr, "text/plain");         /* Content Type */

	for (uint8_t ver = 3; ver <= 5; ver++) {
		for (uint8_t qos = 0; qos <= 2; qos++) {
			for (int with_props = 0; with_props <= (ver == 5); with_props++) {
				uint8_t hdr = (uint8_t)(0x30 | qos << 1 | (qos ? 0x08 : 0) | 0x01);
				struct pb pkt = publish_pkt(ver, hdr, "room/1/temp", 42,
							    with_props ? &pr : NULL, "21.5C");
				struct nh_mqtt_publish m;

				assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, ver, &m), 0);
				assert_mstr(m.topic, "room/1/temp");
				assert_int_equal(m.qos, qos);
				assert_true(m.retain);
				assert_int_equal(m.dup, qos > 0);
				assert_int_equal(m.packet_id, qos ? 42 : 0);
				assert_int_equal(m.topic_alias, 0);
				assert_int_equal(m.payload_len, 5);
				assert_memory_equal(m.payload, "21.5C", 5);
				assert_ptr_equal(m.payload + m.payload_len, pkt.b + pkt.n);
				for (size_t k = 0; k < pkt.n; k++)
					assert_int_equal(publish_copy(pkt.b, k, ver), -EMSGSIZE);
			}
		}
	}

	/* empty payload: pointer still inside the packet */
	struct pb pkt = publish_pkt(4, 0x30, "t", 0, NULL, "");
	struct nh_mqtt_publish m;
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), 0);
	assert_int_equal(m.payload_len, 0);
	assert_ptr_equal(m.payload, pkt.b + pkt.n);
	assert_false(m.retain);

	/* a payload long enough for a three-byte Remaining Length */
	static char big[20000];
	memset(big, 'x', sizeof(big) - 1);
	struct pb hdr = { .n = 0 };
	u8(&hdr, 0x30);
	vbi(&hdr, 3 + (uint32_t)strlen(big));
	str(&hdr, "t");
	uint8_t *q = malloc(hdr.n + strlen(big));
	assert_non_null(q);
	memcpy(q, hdr.b, hdr.n);
	memcpy(q + hdr.n, big, strlen(big));
	assert_int_equal(nh_mqtt_parse_publish(q, hdr.n + strlen(big), 4, &m), 0);
	assert_int_equal(m.payload_len, strlen(big));
	assert_int_equal(nh_mqtt_parse_publish(q, hdr.n + strlen(big) - 1, 4, &m), -EMSGSIZE);
	free(q);
}

static void test_publish_topic_alias(void **state)
{
	(void)state;
	struct pb pr = { .n = 0 }, pkt;
	struct nh_mqtt_publish m;

	u8(&pr, 0x23); u16(&pr, 3);
	/* alias in place of the topic */
	pkt = publish_pkt(5, 0x32, "", 9, &pr, "p");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), 0);
	assert_true(m.topic.present);
	assert_int_equal(m.topic.len, 0);
	assert_int_equal(m.topic_alias, 3);
	assert_int_equal(m.packet_id, 9);
	/* alias set together with its topic */
	pkt = publish_pkt(5, 0x30, "a/b", 0, &pr, "p");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), 0);
	assert_mstr(m.topic, "a/b");
	assert_int_equal(m.topic_alias, 3);
	/* empty topic, no alias (3.3.2.3.4; 4.7.3 before v5) */
	pkt = publish_pkt(5, 0x30, "", 0, NULL, "p");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), -EINVAL);
	pkt = publish_pkt(4, 0x30, "", 0, NULL, "p");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	/* alias 0, alias twice */
	pr = (struct pb){ .n = 0 };
	u8(&pr, 0x23); u16(&pr, 0);
	pkt = publish_pkt(5, 0x30, "t", 0, &pr, "p");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), -EINVAL);
	pr = (struct pb){ .n = 0 };
	u8(&pr, 0x23); u16(&pr, 1); u8(&pr, 0x23); u16(&pr, 2);
	pkt = publish_pkt(5, 0x30, "t", 0, &pr, "p");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), -EINVAL);
}

static void test_publish_rejects(void **state)
{
	(void)state;
	struct nh_mqtt_publish m;
	struct pb pkt, pr = { .n = 0 };

	pkt = publish_pkt(4, 0x36, "t", 1, NULL, "");   /* QoS 3 */
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	pkt = publish_pkt(4, 0x38, "t", 0, NULL, "");   /* DUP on QoS 0 */
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	pkt = publish_pkt(4, 0x32, "t", 0, NULL, "");   /* packet id 0 */
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	pkt = publish_pkt(4, 0x30, "a/+", 0, NULL, ""); /* wildcards */
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	pkt = publish_pkt(4, 0x30, "a/#", 0, NULL, "");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	pkt = publish_pkt(4, 0x30, "a\xe2\x82", 0, NULL, "");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	pkt = publish_pkt(4, 0x30, "t", 0, NULL, "");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), 0);
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 2, &m), -EINVAL);
	pkt.b[0] = 0x20;                                /* not a PUBLISH */
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 4, &m), -EINVAL);
	assert_null(m.topic.ptr);
	/* a v5 property a PUBLISH may not carry */
	u8(&pr, 0x11); u32(&pr, 1);
	pkt = publish_pkt(5, 0x30, "t", 0, &pr, "");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), -EINVAL);
	/* a v4 packet read as v5: the payload's first byte becomes a
	 * Property Length that overruns it */
	pkt = publish_pkt(4, 0x30, "t", 0, NULL, "hello");
	assert_int_equal(nh_mqtt_parse_publish(pkt.b, pkt.n, 5, &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_v311),
		cmocka_unit_test(test_connect_v311_minimal),
		cmocka_unit_test(test_connect_v31),
		cmocka_unit_test(test_connect_v5_properties),
		cmocka_unit_test(test_connect_bridge_bit),
		cmocka_unit_test(test_connect_rejects),
		cmocka_unit_test(test_connect_v5_bad_properties),
		cmocka_unit_test(test_real_clients),
		cmocka_unit_test(test_subscribe),
		cmocka_unit_test(test_subscribe_rejects),
		cmocka_unit_test(test_unsubscribe),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_publish_topic_alias),
		cmocka_unit_test(test_publish_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
