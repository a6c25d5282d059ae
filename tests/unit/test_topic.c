/* SPDX-License-Identifier: MIT */
/* MQTT topic filters and names: validity and matching (MQTT 3.1.1/5 4.7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topic.h"

struct match_case {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct match_case match_cases[] = {
	/* exact */
	{ "a/b/c", "a/b/c", true },
	{ "a/b/c", "a/b", false },
	{ "a/b", "a/b/c", false },
	{ "a/b/c", "a/b/d", false },
	{ "a/b/c", "A/b/c", false },          /* case-sensitive */
	{ "a", "a", true },
	{ "ab", "a", false },
	{ "a", "ab", false },
	/* '+' is exactly one level */
	{ "+", "a", true },
	{ "+", "a/b", false },
	{ "+", "/", false },
	{ "+/+", "/", true },                 /* two empty levels */
	{ "a/+", "a/", true },                /* empty level still a level */
	{ "a/+", "a", false },
	{ "a/+/c", "a/b/c", true },
	{ "a/+/c", "a//c", true },
	{ "a/+/c", "a/b/d", false },
	{ "a/+/c", "a/b/x/c", false },
	{ "+/b", "a/b", true },
	{ "/+", "/x", true },
	{ "/+", "x", false },
	/* '#' is any number of levels, including none (the parent) */
	{ "#", "a", true },
	{ "#", "a/b/c", true },
	{ "#", "/", true },
	{ "a/#", "a", true },
	{ "a/#", "a/", true },
	{ "a/#", "a/b", true },
	{ "a/#", "a/b/c", true },
	{ "a/#", "ab", false },
	{ "a/#", "b/a", false },
	{ "a/b/#", "a", false },
	{ "a/+/#", "a/b", true },
	{ "a/+/#", "a", false },
	{ "+/#", "a", true },
	{ "nmq/#", "nmq/pub", true },
	{ "nmq/#", "nmq", true },
	{ "nmq/#", "nmqx/pub", false },
	/* '$' topics: no match from a leading wildcard (4.7.2) */
	{ "#", "$SYS/broker", false },
	{ "+/broker", "$SYS/broker", false },
	{ "+", "$SYS", false },
	{ "$SYS/#", "$SYS/broker/clients", true },
	{ "$SYS/+", "$SYS/x", true },
	{ "$SYS/#", "$SYS", true },
	{ "a/#", "a/$SYS", true },            /* '$' only matters first */
	{ "$share/g/#", "$share/g/a", true }, /* compared literally here */
	/* empty: never a match */
	{ "", "a", false },
	{ "#", "", false },
	{ "", "", false },
	/* invalid filters are compared safely, never a wildcard mid-level */
	{ "a/#/c", "a/b/c", false },
	{ "a/#/c", "a/#/c", true },
	{ "a+", "ab", false },
	{ "a+", "a+", true },
};

static void test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		bool got = nh_topic_match(c->filter, strlen(c->filter), c->topic,
					  strlen(c->topic));
		if (got != c->match)
			fail_msg("filter '%s' topic '%s': expected %s", c->filter,
				 c->topic, c->match ? "match" : "no match");
	}
}

/* NanoMQ's own webhook matches a leading wildcard against '$' topics
 * too; nanohook's rules do by default (wild_dollar), MQTT's rule otherwise. */
static void test_match_wild_dollar(void **state)
{
	static const struct {
		const char *filter, *topic;
		bool mqtt, nanomq;
	} cases[] = {
		{ "#", "$SYS/brokers/client_status/c1", false, true },
		{ "+/TopicB", "$TopicA/TopicB", false, true },
		{ "+", "$SYS", false, true },
		{ "$SYS/#", "$SYS/x", true, true },
		{ "a/#", "$SYS/x", false, false },
		{ "#", "a/b", true, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t fl = strlen(cases[i].filter), tl = strlen(cases[i].topic);

		assert_int_equal(nh_topic_match_mode(cases[i].filter, fl, cases[i].topic, tl, false),
				 cases[i].mqtt);
		assert_int_equal(nh_topic_match_mode(cases[i].filter, fl, cases[i].topic, tl, true),
				 cases[i].nanomq);
	}
}

/* Lengths are explicit: bytes after them must not count. */
static void test_match_not_nul_terminated(void **state)
{
	const char topic[] = { 'a', '/', 'b', 'X', 'Y' };
	const char filter[] = { 'a', '/', '+', '/', '#' };

	(void)state;
	assert_true(nh_topic_match("a/b", 3, topic, 3));
	assert_false(nh_topic_match("a/b", 3, topic, 5));
	assert_true(nh_topic_match(filter, 3, topic, 3));
	assert_true(nh_topic_match(filter, 5, topic, 3));
	assert_false(nh_topic_match("a/bX", 3, "a/bY", 4)); /* filter is "a/b" */
	assert_true(nh_topic_match("a/bX", 3, "a/bY", 3));
	/* A topic holding a NUL byte is matched by length, not cut at it. */
	assert_true(nh_topic_match("a/+", 3, "a/\0z", 4));
	assert_false(nh_topic_match("a/b", 3, "a/b\0", 4));
}

struct valid_case {
	const char *s;
	size_t len; /* 0: strlen */
	bool filter_ok;
	bool name_ok;
};

static const struct valid_case valid_cases[] = {
	{ "a/b/c", 0, true, true },
	{ "/", 0, true, true },
	{ "a//b", 0, true, true },
	{ "$SYS/x", 0, true, true },
	{ "sensors/caf\xc3\xa9", 0, true, true },
	{ "+", 0, true, false },
	{ "#", 0, true, false },
	{ "+/+", 0, true, false },
	{ "a/+/c", 0, true, false },
	{ "a/#", 0, true, false },
	{ "+/#", 0, true, false },
	{ "/#", 0, true, false },
	{ "", 0, false, false },
	{ "a+", 0, false, false },
	{ "+a", 0, false, false },
	{ "a/b+/c", 0, false, false },
	{ "a#", 0, false, false },
	{ "a/#/c", 0, false, false },
	{ "#/", 0, false, false },
	{ "##", 0, false, false },
	{ "a/\0b", 4, false, false },         /* U+0000 */
	{ "\xc3", 0, false, false },          /* truncated UTF-8 */
	{ "\xc0\xaf", 0, false, false },      /* overlong '/' */
	{ "\xed\xa0\x80", 0, false, false },  /* surrogate */
	{ "\xf4\x90\x80\x80", 0, false, false }, /* > U+10FFFF */
	{ "\xff", 0, false, false },
	{ "\xf0\x9f\x98\x80", 0, true, true },   /* U+1F600 */
};

static void test_valid_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];
		size_t len = c->len ? c->len : strlen(c->s);

		if (nh_topic_valid_filter(c->s, len) != c->filter_ok)
			fail_msg("case %zu: filter validity should be %d", i, c->filter_ok);
		if (nh_topic_valid_name(c->s, len) != c->name_ok)
			fail_msg("case %zu: name validity should be %d", i, c->name_ok);
	}
}

static void test_length_limit(void **state)
{
	char *big = malloc(NH_TOPIC_LEN_MAX + 1);

	(void)state;
	assert_non_null(big);
	memset(big, 'a', NH_TOPIC_LEN_MAX + 1);
	assert_true(nh_topic_valid_filter(big, NH_TOPIC_LEN_MAX));
	assert_true(nh_topic_valid_name(big, NH_TOPIC_LEN_MAX));
	assert_false(nh_topic_valid_filter(big, NH_TOPIC_LEN_MAX + 1));
	assert_false(nh_topic_valid_name(big, NH_TOPIC_LEN_MAX + 1));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_match_wild_dollar),
		cmocka_unit_test(test_match_not_nul_terminated),
		cmocka_unit_test(test_valid_table),
		cmocka_unit_test(test_length_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
