// SPDX-License-Identifier: MIT
/* body.extended: node, event id, per-client seq, ts, reason_code, peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "body.h"
#include "extended.h"

static struct nh_str s(const char *p)
{
	return (struct nh_str){ p, strlen(p) };
}

static void test_extended_keys_follow_nanomq_keys(void **state)
{
	struct nh_body_extra x = { "edge-1", "00000000000000010000000000000002", 7 };
	struct nh_event ev = { 0 };
	struct nh_buf b = NH_BUF_INIT;

	(void)state;
	ev.type = NH_EV_CONNACK;
	ev.ts_ms = 1700000000123ull;
	ev.clientid = s("c1");
	ev.proto_ver = 4;
	ev.keepalive = 60;
	ev.code = 0x87;
	ev.ipaddress = s("127.0.0.1");
	assert_int_equal(nh_body_build_ex(&b, &ev, NH_ENC_PLAIN, &x), 0);
	assert_string_equal(b.data,
		"{\"proto_ver\":4,\"keepalive\":60,\"conn_ack\":\"fail\",\"username\":\"undefined\","
		"\"clientid\":\"c1\",\"action\":\"client_connack\",\"node\":\"edge-1\","
		"\"event_id\":\"00000000000000010000000000000002\",\"seq\":7,\"ts\":1700000000123,"
		"\"reason_code\":135,\"peer\":\"127.0.0.1\"}");
	nh_buf_reset(&b);

	/* publish has ts already and no reason code; no address: no peer */
	ev.type = NH_EV_PUBLISH;
	ev.topic = s("t");
	ev.ipaddress = s("");
	assert_int_equal(nh_body_build_ex(&b, &ev, NH_ENC_PLAIN, &x), 0);
	assert_string_equal(b.data,
		"{\"ts\":1700000000123,\"topic\":\"t\",\"retain\":false,\"qos\":0,"
		"\"action\":\"message_publish\",\"from_username\":\"undefined\","
		"\"from_client_id\":\"c1\",\"node\":\"edge-1\","
		"\"event_id\":\"00000000000000010000000000000002\",\"seq\":7}");
	/* NULL extra: exactly NanoMQ's body */
	nh_buf_reset(&b);
	assert_int_equal(nh_body_build_ex(&b, &ev, NH_ENC_PLAIN, NULL), 0);
	assert_null(strstr(b.data, "node"));
	nh_buf_free(&b);
}

static void test_seq_per_client_and_unique_ids(void **state)
{
	struct nh_extender *x = nh_extender_new("n");
	struct nh_body_extra e;
	struct nh_event a = { 0 }, c = { 0 };
	char first_id[64];

	(void)state;
	assert_non_null(x);
	a.clientid = s("a");
	c.clientid = s("c");
	nh_extender_next(x, &a, &e);
	assert_int_equal(e.seq, 1);
	assert_string_equal(e.node, "n");
	strcpy(first_id, e.event_id);
	nh_extender_next(x, &a, &e);
	assert_int_equal(e.seq, 2);
	assert_string_not_equal(first_id, e.event_id);
	nh_extender_next(x, &c, &e);
	assert_int_equal(e.seq, 1);
	/* many clients: the table grows and keeps every count */
	for (int round = 1; round <= 3; round++) {
		for (int i = 0; i < 5000; i++) {
			char id[32];
			struct nh_event ev = { 0 };

			snprintf(id, sizeof(id), "client-%d", i);
			ev.clientid = s(id);
			nh_extender_next(x, &ev, &e);
			assert_int_equal(e.seq, round);
		}
	}
	nh_extender_next(x, &a, &e);
	assert_int_equal(e.seq, 3);
	nh_extender_free(x);

	/* the host name when no node is configured */
	x = nh_extender_new(NULL);
	nh_extender_next(x, &a, &e);
	assert_true(strlen(e.node) > 0);
	nh_extender_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_extended_keys_follow_nanomq_keys),
		cmocka_unit_test(test_seq_per_client_and_unique_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
