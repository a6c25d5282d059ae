/* SPDX-License-Identifier: MIT */
/*
 * NATS subjects of events: each {name} fills exactly one token whatever
 * the client sends, templates are checked as a user would write them, and
 * the JetStream sink's framing gives back the subject and body it got.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "subject.h"

static struct nh_event publish_event(const char *clientid, const char *username, const char *topic)
{
	struct nh_event ev = { .type = NH_EV_PUBLISH };

	ev.clientid = (struct nh_str){ clientid, strlen(clientid) };
	if (username) {
		ev.username = (struct nh_str){ username, strlen(username) };
		ev.has_username = true;
	}
	ev.topic = (struct nh_str){ topic, strlen(topic) };
	return ev;
}

static void built_as(const char *tmpl, const struct nh_event *ev, const char *node,
		     const char *want)
{
	struct nh_buf b;

	nh_buf_init(&b);
	assert_int_equal(nh_subject_build(&b, tmpl, ev, node), 0);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	nh_buf_free(&b);
}

static void each_name_fills_one_token(void **state)
{
	struct nh_event ev = publish_event("dev.1 *>", "alice", "sensors/room.1/temp");

	(void)state;
	built_as("nanohook.{action}.{clientid}", &ev, "n", "nanohook.message_publish.dev%2E1%20%2A%3E");
	built_as("x.{username}.{topic}.{node}", &ev, "edge-7",
		 "x.alice.sensors/room%2E1/temp.edge-7");
	/* No username, an empty topic: "_", still one token. */
	ev = publish_event("c", NULL, "");
	built_as("{username}.{topic}", &ev, "n", "_._");
	/* Bytes outside printable ASCII, and '%' itself, are escaped. */
	ev = publish_event("\xc3\xa9\x01%", NULL, "t");
	built_as("{clientid}", &ev, "n", "%C3%A9%01%25");
	ev.type = NH_EV_CONNACK;
	built_as("a.{action}", &ev, "n", "a.client_connack");
}

static void templates_are_checked(void **state)
{
	static const char *const good[] = { "nanohook.{action}.{clientid}", "a", "a.b-c_d.{node}",
					    "{topic}", "$events.{username}" };
	static const char *const bad[] = { "", ".a", "a.", "a..b", "a.{who}", "a.x{action}",
					   "a.{action}x", "a.b*", "a.>", "a b", "a.{clientid" };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (nh_subject_check(good[i], err, sizeof(err)) != 0)
			fail_msg("'%s' refused: %s", good[i], err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (nh_subject_check(bad[i], err, sizeof(err)) == 0)
			fail_msg("'%s' taken", bad[i]);
}

static void filter_covers_every_subject(void **state)
{
	char *f = nh_subject_filter("nanohook.{action}.{clientid}");

	(void)state;
	assert_string_equal(f, "nanohook.*.*");
	free(f);
	f = nh_subject_filter("a.b");
	assert_string_equal(f, "a.b");
	free(f);
}

static void frame_round_trip(void **state)
{
	struct nh_event ev = publish_event("c1", NULL, "t");
	static const char body[] = "{\"a\":\"line\\nbreak\"}\n";
	const char *subj, *got;
	size_t subj_len, got_len;
	struct nh_buf b;

	(void)state;
	nh_buf_init(&b);
	assert_int_equal(nh_subject_frame(&b, "e.{clientid}", &ev, "n", body, sizeof(body) - 1), 0);
	assert_true(nh_subject_unframe(b.data, b.len, &subj, &subj_len, &got, &got_len));
	assert_int_equal(subj_len, 4);
	assert_memory_equal(subj, "e.c1", 4);
	assert_int_equal(got_len, sizeof(body) - 1);
	assert_memory_equal(got, body, got_len);
	assert_false(nh_subject_unframe("no newline", 10, &subj, &subj_len, &got, &got_len));
	nh_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_name_fills_one_token),
		cmocka_unit_test(templates_are_checked),
		cmocka_unit_test(filter_covers_every_subject),
		cmocka_unit_test(frame_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
