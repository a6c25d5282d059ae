/* SPDX-License-Identifier: MIT */
/*
 * Ring-buffer records into events (nh_record_decode in capture.h): good
 * records decode to the fields they carry, every inconsistency is refused
 * with its reason, nothing points outside the record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"

/* A record in an exact-size heap block, so ASan catches any overread. */
struct rec {
	struct nh_record *r;
	size_t size;
};

static struct rec rec_new(size_t payload_cap)
{
	struct rec x = { .size = sizeof(struct nh_record) + payload_cap };
	x.r = calloc(1, x.size);
	assert_non_null(x.r);
	x.r->payload_cap = (uint32_t)payload_cap;
	return x;
}

static void set_clientid(struct nh_record *r, const char *s)
{
	r->clientid_len = (uint32_t)strlen(s);
	r->clientid_got = (uint16_t)strlen(s);
	memcpy(r->clientid, s, strlen(s));
}

static void set_username(struct nh_record *r, const char *s)
{
	r->flags |= NH_F_HAS_USERNAME;
	r->username_len = (uint32_t)strlen(s);
	r->username_got = (uint16_t)strlen(s);
	memcpy(r->username, s, strlen(s));
}

static void set_topic(struct nh_record *r, const char *s)
{
	r->topic_len = (uint32_t)strlen(s);
	r->topic_got = (uint16_t)strlen(s);
	memcpy(r->topic, s, strlen(s));
}

static void set_payload(struct nh_record *r, const void *p, size_t n)
{
	r->payload_len = (uint32_t)n;
	r->payload_got = (uint16_t)n;
	memcpy(r->payload, p, n);
}

static struct rec good_connack(void)
{
	struct rec x = rec_new(0);
	x.r->type = NH_EV_CONNACK;
	x.r->ts_boot_ns = 1000000000ull;
	x.r->tgid = 4242;
	x.r->tid = 4243;
	x.r->proto_ver = 5;
	x.r->keepalive = 60;
	x.r->code = 0;
	set_clientid(x.r, "client-1");
	set_username(x.r, "alice");
	return x;
}

static struct rec good_publish(void)
{
	struct rec x = rec_new(NH_PAYLOAD_SMALL);
	x.r->type = NH_EV_PUBLISH;
	x.r->proto_ver = 4;
	x.r->qos = 1;
	x.r->flags |= NH_F_RETAIN;
	set_clientid(x.r, "pub-1");
	set_topic(x.r, "sensors/t1");
	set_payload(x.r, "21.5", 4);
	return x;
}

#define assert_nstr(s, lit)                                                    \
	do {                                                                   \
		assert_int_equal((s).len, strlen(lit));                        \
		assert_memory_equal((s).ptr, (lit), strlen(lit));              \
	} while (0)

static bool inside(const struct rec *x, const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)x->r, *q = p;
	return q >= b && q <= b + x->size && n <= (size_t)(b + x->size - q);
}

static void assert_inside(const struct rec *x, const struct nh_event *ev)
{
	assert_true(inside(x, ev->clientid.ptr, ev->clientid.len));
	if (ev->has_username)
		assert_true(inside(x, ev->username.ptr, ev->username.len));
	assert_true(inside(x, ev->topic.ptr, ev->topic.len));
	assert_true(inside(x, ev->payload, ev->payload_len));
}

static int decode(const struct rec *x, struct nh_event *ev, enum nh_rec_reject *why)
{
	return nh_record_decode(x->r, x->size, 0, ev, why);
}

static void expect_reject(const struct rec *x, enum nh_rec_reject want)
{
	struct nh_event ev;
	enum nh_rec_reject why = NH_REJ_MAX;

	assert_int_equal(decode(x, &ev, &why), -1);
	assert_int_equal(why, want);
}

static void test_connack(void **state)
{
	(void)state;
	struct rec x = good_connack();
	struct nh_event ev;
	enum nh_rec_reject why;

	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.type, NH_EV_CONNACK);
	assert_int_equal(ev.pid, 4242);
	assert_nstr(ev.clientid, "client-1");
	assert_true(ev.has_username);
	assert_nstr(ev.username, "alice");
	assert_int_equal(ev.proto_ver, 5);
	assert_int_equal(ev.keepalive, 60);
	assert_int_equal(ev.code, 0);
	assert_int_equal(ev.topic.len, 0);
	assert_int_equal(ev.payload_len, 0);
	assert_false(ev.retain);
	assert_false(ev.sys_event);
	assert_inside(&x, &ev);
	/* Never NUL-terminated: pointers into the record itself. */
	assert_ptr_equal(ev.clientid.ptr, x.r->clientid);
	assert_ptr_equal(ev.username.ptr, x.r->username);

	/* A failed connect keeps its code. */
	x.r->code = 0x86;
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.code, 0x86);
	free(x.r);
}

static void test_disconnect_without_username(void **state)
{
	(void)state;
	struct rec x = rec_new(0);
	struct nh_event ev;
	enum nh_rec_reject why;

	x.r->type = NH_EV_DISCONNECTED;
	x.r->proto_ver = 4;
	x.r->code = 0x8b;
	set_clientid(x.r, "gone");
	/* Username fields are ignored without NH_F_HAS_USERNAME, even
	 * inconsistent ones. */
	x.r->username_len = 1;
	x.r->username_got = 200;
	memcpy(x.r->username, "junk", 4);
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.type, NH_EV_DISCONNECTED);
	assert_nstr(ev.clientid, "gone");
	assert_false(ev.has_username);
	assert_int_equal(ev.username.len, 0);
	assert_non_null(ev.username.ptr);
	assert_int_equal(ev.code, 0x8b);
	assert_inside(&x, &ev);
	free(x.r);
}

static void test_publish(void **state)
{
	(void)state;
	struct rec x = good_publish();
	struct nh_event ev;
	enum nh_rec_reject why;

	assert_int_equal(x.size, NH_REC_SMALL);
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.type, NH_EV_PUBLISH);
	assert_nstr(ev.clientid, "pub-1");
	assert_false(ev.has_username);
	assert_nstr(ev.topic, "sensors/t1");
	assert_int_equal(ev.payload_len, 4);
	assert_int_equal(ev.payload_full_len, 4);
	assert_memory_equal(ev.payload, "21.5", 4);
	assert_ptr_equal(ev.payload, x.r->payload);
	assert_int_equal(ev.qos, 1);
	assert_true(ev.retain);
	assert_false(ev.sys_event);
	assert_inside(&x, &ev);

	/* $SYS notice flag */
	x.r->flags = NH_F_SYS_EVENT;
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_true(ev.sys_event);
	assert_false(ev.retain);

	/* The full payload class, and a record bigger than its class. */
	free(x.r);
	x = rec_new(NH_PAYLOAD_LARGE);
	x.r->type = NH_EV_PUBLISH;
	set_clientid(x.r, "c");
	set_topic(x.r, "t");
	static uint8_t big[NH_PAYLOAD_LARGE];
	memset(big, 0xab, sizeof(big));
	set_payload(x.r, big, sizeof(big));
	assert_int_equal(x.size, NH_REC_LARGE);
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.payload_len, NH_PAYLOAD_LARGE);
	assert_inside(&x, &ev);
	x.r->payload_cap = 100;
	x.r->payload_len = x.r->payload_got = 100;
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.payload_len, 100);
	free(x.r);
}

static void test_delivered_with_publisher(void **state)
{
	(void)state;
	struct rec x = good_publish();
	struct nh_event ev;
	enum nh_rec_reject why;

	x.r->type = NH_EV_DELIVERED;
	x.r->packet_id = 77;
	x.r->from_clientid_len = x.r->from_clientid_got = 3;
	memcpy(x.r->from_clientid, "pub", 3);
	x.r->flags |= NH_F_HAS_FROM_USERNAME;
	x.r->from_username_len = x.r->from_username_got = 2;
	memcpy(x.r->from_username, "pu", 2);
	x.r->addr_got = 15;
	memcpy(x.r->addr, "127.0.0.1:50000", 15);
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.type, NH_EV_DELIVERED);
	assert_int_equal(ev.packet_id, 77);
	assert_nstr(ev.from_clientid, "pub");
	assert_true(ev.has_from_username);
	assert_nstr(ev.from_username, "pu");
	assert_nstr(ev.ipaddress, "127.0.0.1:50000");
	assert_true(inside(&x, ev.from_clientid.ptr, ev.from_clientid.len));
	assert_true(inside(&x, ev.ipaddress.ptr, ev.ipaddress.len));
	free(x.r);
}

static void test_payload_truncated_accepted(void **state)
{
	(void)state;
	struct rec x = good_publish();
	struct nh_event ev;
	enum nh_rec_reject why;

	/* The broker had 100000 bytes; the record kept the first 256. */
	memset(x.r->payload, 'p', NH_PAYLOAD_SMALL);
	x.r->payload_len = 100000;
	x.r->payload_got = NH_PAYLOAD_SMALL;
	x.r->flags |= NH_F_TRUNC_PAYLOAD;
	assert_int_equal(decode(&x, &ev, &why), 0);
	assert_int_equal(ev.payload_len, NH_PAYLOAD_SMALL);
	assert_int_equal(ev.payload_full_len, 100000);
	assert_inside(&x, &ev);

	/* Without the flag the same record is inconsistent. */
	x.r->flags &= (uint16_t)~NH_F_TRUNC_PAYLOAD;
	expect_reject(&x, NH_REJ_MALFORMED);
	free(x.r);
}

/* Applies one change to a fresh good record and expects `want`. */
#define REJECT(make, want, ...)                                                \
	do {                                                                   \
		struct rec x = make();                                         \
		struct nh_record *r = x.r;                                     \
		(void)r;                                                       \
		__VA_ARGS__;                                                   \
		expect_reject(&x, want);                                       \
		free(x.r);                                                     \
	} while (0)

static void test_malformed(void **state)
{
	(void)state;
	/* size */
	REJECT(good_connack, NH_REJ_MALFORMED, x.size = sizeof(*r) - 1);
	REJECT(good_connack, NH_REJ_MALFORMED, x.size = 0);
	REJECT(good_publish, NH_REJ_MALFORMED, r->payload_cap = NH_PAYLOAD_SMALL + 1);
	REJECT(good_publish, NH_REJ_MALFORMED, x.size = NH_REC_SMALL - 1);
	REJECT(good_publish, NH_REJ_MALFORMED, r->payload_cap = UINT32_MAX);
	/* type */
	REJECT(good_connack, NH_REJ_MALFORMED, r->type = NH_EV_NONE);
	REJECT(good_connack, NH_REJ_MALFORMED, r->type = NH_EV_MAX);
	REJECT(good_connack, NH_REJ_MALFORMED, r->type = 0xffff);
	/* copied more than the record holds */
	REJECT(good_publish, NH_REJ_MALFORMED, r->payload_got = NH_PAYLOAD_SMALL + 1,
	       r->payload_len = NH_PAYLOAD_SMALL + 1);
	REJECT(good_connack, NH_REJ_MALFORMED, r->clientid_got = NH_CLIENTID_MAX,
	       r->clientid_len = NH_CLIENTID_MAX);
	REJECT(good_connack, NH_REJ_MALFORMED, r->username_got = NH_USERNAME_MAX,
	       r->username_len = NH_USERNAME_MAX);
	REJECT(good_publish, NH_REJ_MALFORMED, r->topic_got = NH_TOPIC_MAX,
	       r->topic_len = NH_TOPIC_MAX);
	/* copied more than the broker had */
	REJECT(good_connack, NH_REJ_MALFORMED, r->clientid_got = 5, r->clientid_len = 4);
	REJECT(good_connack, NH_REJ_MALFORMED, r->username_got = 5, r->username_len = 4);
	REJECT(good_publish, NH_REJ_MALFORMED, r->topic_got = 5, r->topic_len = 4);
	REJECT(good_publish, NH_REJ_MALFORMED, r->payload_got = 5, r->payload_len = 4,
	       r->flags |= NH_F_TRUNC_PAYLOAD);
	/* copied less than the broker had, without a truncation flag */
	REJECT(good_connack, NH_REJ_MALFORMED, r->clientid_len++);
	REJECT(good_connack, NH_REJ_MALFORMED, r->username_len++);
	REJECT(good_publish, NH_REJ_MALFORMED, r->topic_len++);
	REJECT(good_publish, NH_REJ_MALFORMED, r->payload_len++);
	REJECT(good_publish, NH_REJ_MALFORMED, r->from_clientid_got = 3,
	       r->from_clientid_len = 2);
	REJECT(good_publish, NH_REJ_MALFORMED, r->from_clientid_len = 2);
	REJECT(good_publish, NH_REJ_MALFORMED, r->from_clientid_got = NH_CLIENTID_MAX,
	       r->from_clientid_len = NH_CLIENTID_MAX);
	REJECT(good_publish, NH_REJ_MALFORMED, r->addr_got = NH_ADDR_MAX);
	/* inconsistent sizes outrank a read fault: counted as malformed */
	REJECT(good_connack, NH_REJ_MALFORMED, r->type = 0, r->flags |= NH_F_READ_FAULT);
}

static void test_read_fault_and_truncation(void **state)
{
	(void)state;
	REJECT(good_connack, NH_REJ_READ_FAULT, r->flags |= NH_F_READ_FAULT);
	REJECT(good_publish, NH_REJ_READ_FAULT, r->flags |= NH_F_READ_FAULT);
	/* a read fault wins over a truncation flag */
	REJECT(good_connack, NH_REJ_READ_FAULT,
	       r->flags |= NH_F_READ_FAULT | NH_F_TRUNC_CLIENTID);
	/* a cut client id, username or topic would name the wrong thing */
	REJECT(good_connack, NH_REJ_TRUNCATED, r->flags |= NH_F_TRUNC_CLIENTID,
	       r->clientid_len = 1000);
	REJECT(good_connack, NH_REJ_TRUNCATED, r->flags |= NH_F_TRUNC_USERNAME,
	       r->username_len = 1000);
	REJECT(good_publish, NH_REJ_TRUNCATED, r->flags |= NH_F_TRUNC_TOPIC,
	       r->topic_len = 70000);
	REJECT(good_publish, NH_REJ_TRUNCATED, r->flags |= NH_F_TRUNC_FROM,
	       r->from_clientid_len = 900);
	/* even when the lengths happen to agree */
	REJECT(good_publish, NH_REJ_TRUNCATED, r->flags |= NH_F_TRUNC_TOPIC);
}

static void test_timestamp(void **state)
{
	(void)state;
	struct rec x = good_connack();
	struct nh_event ev;
	enum nh_rec_reject why;

	/* boot 5.000999999 s + wall offset 1700000000 s: ms, rounded down */
	x.r->ts_boot_ns = 5000999999ull;
	assert_int_equal(nh_record_decode(x.r, x.size, 1700000000ull * 1000000000ull,
					  &ev, &why), 0);
	assert_int_equal(ev.ts_ms, 1700000005000ull);
	x.r->ts_boot_ns = 5001000000ull;
	assert_int_equal(nh_record_decode(x.r, x.size, 1700000000ull * 1000000000ull,
					  &ev, &why), 0);
	assert_int_equal(ev.ts_ms, 1700000005001ull);
	/* the offset alone */
	x.r->ts_boot_ns = 0;
	assert_int_equal(nh_record_decode(x.r, x.size, 1234567890123456789ull, &ev, &why), 0);
	assert_int_equal(ev.ts_ms, 1234567890123ull);
	free(x.r);
}

static void test_reject_names(void **state)
{
	(void)state;
	for (int i = 0; i < NH_REJ_MAX; i++) {
		const char *n = nh_rec_reject_name((enum nh_rec_reject)i);
		assert_non_null(n);
		assert_string_not_equal(n, "?");
	}
	assert_string_equal(nh_rec_reject_name(NH_REJ_MAX), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connack),
		cmocka_unit_test(test_disconnect_without_username),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_delivered_with_publisher),
		cmocka_unit_test(test_payload_truncated_accepted),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_read_fault_and_truncation),
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test(test_reject_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
