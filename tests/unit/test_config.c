/* SPDX-License-Identifier: MIT */
/*
 * The HOCON reader and the configuration built on it: real nanomq.conf
 * files load with every field right, bad ones fail with the exact
 * "file:line:col: message" a user would see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "url.h"
#include "hocon.h"

#define DATA NH_SOURCE_DIR "/tests/data/conf/"

/* ---- helpers ----------------------------------------------------------- */

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *capture_start(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	return c->f;
}

/* Returns what was written; caller frees. */
static char *capture_end(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

static int load_file(const char *name, struct nh_config *cfg, char **msgs)
{
	char path[512];
	struct capture c;
	int rc;

	snprintf(path, sizeof(path), DATA "%s", name);
	rc = nh_config_load(path, cfg, capture_start(&c));
	*msgs = capture_end(&c);
	return rc;
}

static int load_text(const char *text, struct nh_config *cfg, char **msgs)
{
	struct capture c;
	int rc;

	rc = nh_config_load_buf("t.conf", text, strlen(text), cfg, capture_start(&c));
	*msgs = capture_end(&c);
	return rc;
}

/* "<DATA><name>:<tail>" */
static char *at_file(const char *name, const char *tail)
{
	char *s = NULL;

	assert_true(asprintf(&s, DATA "%s:%s", name, tail) > 0);
	return s;
}

static void assert_wants(const struct nh_config *cfg, enum nh_event_type ev,
			 const char *topic, bool want)
{
	bool got = nh_config_wants(cfg, ev, topic, topic ? strlen(topic) : 0);

	if (got != want)
		fail_msg("%s topic '%s': expected %s", nh_event_name(ev),
			 topic ? topic : "(none)", want ? "wanted" : "not wanted");
}

static struct nh_hocon_doc *parse_ok(const char *text, char **warnings)
{
	struct nh_hocon_doc *doc = NULL;
	struct capture c;
	char err[512];
	int rc = nh_hocon_parse_buf("h.conf", text, strlen(text), capture_start(&c),
				    &doc, err, sizeof(err));
	char *w = capture_end(&c);

	if (rc != 0)
		fail_msg("parse failed: %s", err);
	if (warnings)
		*warnings = w;
	else
		free(w);
	return doc;
}

static void assert_parse_error(const char *text, size_t len, const char *expect)
{
	struct nh_hocon_doc *doc = (void *)1;
	char err[512];

	assert_int_equal(nh_hocon_parse_buf("h.conf", text, len, NULL, &doc, err,
					    sizeof(err)), -1);
	assert_null(doc);
	assert_string_equal(err, expect);
}

static const char *str_at(const struct nh_hocon_node *root, const char *path)
{
	const struct nh_hocon_node *n = nh_hocon_path(root, path);

	if (!n)
		fail_msg("no node at %s", path);
	if (!n->str)
		fail_msg("%s is a %s, not a scalar", path, nh_hocon_type_name(n->type));
	return n->str;
}

/* ---- HOCON reader ---------------------------------------------------------- */

static void test_hocon_forms(void **state)
{
	static const char text[] =
		"a = 1\n"
		"b: \"two\"\n"
		"c { d = true }\n"
		"e = { f = null }\n"
		"g.h.content-type = x\n"
		"g { h { other = y } }\n"
		"list = [1, 2\n"
		"  3,]\n"
		"objs = [ {x = 1}, {x = 2}\n"
		" {x = 3} ]\n"
		"bind = 0.0.0.0:1883\n"
		"url = http://x:1/y // trailing comment\n"
		"path = /var/log/nanomq # another\n"
		"s = \"q\\\"\\\\\\n\\t\\u00e9\\ud83d\\ude00\\/\"\n"
		"raw = \"\"\"a \"b\"\n c\"\"\"\n"
		"spaced = hello  world   \n"
		"neg = -2.5e3\n"
		"\"quoted.key\" = 7\n"
		"log { to = [file, console] level = warn dir = \"/tmp\" }\n"
		"rule { event = \"on_message_publish\" topic = \"nmq/#\" }\n"
		"empty = \"\"\n";
	struct nh_hocon_doc *doc = parse_ok(text, NULL);
	const struct nh_hocon_node *r = doc->root, *n;

	(void)state;
	n = nh_hocon_get(r, "a");
	assert_int_equal(n->type, NH_HOCON_NUMBER);
	assert_string_equal(n->str, "1");
	assert_false(n->quoted);
	n = nh_hocon_get(r, "b");
	assert_int_equal(n->type, NH_HOCON_STRING);
	assert_true(n->quoted);
	assert_string_equal(n->str, "two");
	assert_int_equal(nh_hocon_path(r, "c.d")->type, NH_HOCON_BOOL);
	assert_string_equal(str_at(r, "c.d"), "true");
	assert_int_equal(nh_hocon_path(r, "e.f")->type, NH_HOCON_NULL);

	/* dotted keys and blocks are the same tree */
	n = nh_hocon_get(r, "g");
	assert_int_equal(n->n_kids, 1);
	n = nh_hocon_get(n, "h");
	assert_int_equal(n->n_kids, 2);
	assert_string_equal(n->kids[0]->key, "content-type");
	assert_string_equal(n->kids[0]->str, "x");
	assert_string_equal(n->kids[1]->key, "other");

	n = nh_hocon_get(r, "list");
	assert_int_equal(n->type, NH_HOCON_ARRAY);
	assert_int_equal(n->n_kids, 3);
	assert_string_equal(n->kids[2]->str, "3");
	assert_null(n->kids[2]->key);
	n = nh_hocon_get(r, "objs");
	assert_int_equal(n->n_kids, 3);
	assert_string_equal(str_at(n->kids[2], "x"), "3");

	assert_string_equal(str_at(r, "bind"), "0.0.0.0:1883");
	assert_string_equal(str_at(r, "url"), "http://x:1/y");
	assert_string_equal(str_at(r, "path"), "/var/log/nanomq");
	assert_string_equal(str_at(r, "s"), "q\"\\\n\t\xc3\xa9\xf0\x9f\x98\x80/");
	assert_string_equal(str_at(r, "raw"), "a \"b\"\n c");
	assert_string_equal(str_at(r, "spaced"), "hello  world");
	assert_int_equal(nh_hocon_get(r, "neg")->type, NH_HOCON_NUMBER);
	assert_string_equal(nh_hocon_get(r, "quoted.key")->str, "7");
	assert_null(nh_hocon_path(r, "quoted.key"));

	/* NanoMQ style: fields need no separator */
	assert_int_equal(nh_hocon_path(r, "log.to")->n_kids, 2);
	assert_string_equal(str_at(r, "log.level"), "warn");
	assert_string_equal(str_at(r, "log.dir"), "/tmp");
	assert_string_equal(str_at(r, "rule.topic"), "nmq/#");
	assert_string_equal(str_at(r, "empty"), "");
	assert_int_equal(nh_hocon_get(r, "empty")->len, 0);
	nh_hocon_free(doc);
}

static void test_hocon_positions(void **state)
{
	static const char text[] =
		"# comment\n"
		"webhook {\n"
		"\turl = \"http://h/\"\n"
		"  headers.content-type = json\n"
		"}\n";
	struct nh_hocon_doc *doc = parse_ok(text, NULL);
	const struct nh_hocon_node *wh = nh_hocon_get(doc->root, "webhook");
	const struct nh_hocon_node *n;

	(void)state;
	assert_int_equal(wh->key_line, 2);
	assert_int_equal(wh->key_col, 1);
	assert_int_equal(wh->line, 2);
	assert_int_equal(wh->col, 9);
	n = nh_hocon_get(wh, "url");
	assert_int_equal(n->key_line, 3);
	assert_int_equal(n->key_col, 2); /* a tab is one column */
	assert_int_equal(n->col, 8);
	n = nh_hocon_path(wh, "headers.content-type");
	assert_int_equal(n->key_line, 4);
	assert_int_equal(n->key_col, 11);
	assert_int_equal(n->line, 4);
	assert_int_equal(n->col, 26);
	nh_hocon_free(doc);
}

static void test_hocon_merge(void **state)
{
	static const char text[] =
		"a = 1\n"
		"b = 2\n"
		"a = 3\n"
		"o { x = 1, y = 1 }\n"
		"o { y = 2 }\n"
		"o.z = 3\n"
		"p { x = 1 }\n"
		"p = 5\n"
		"q = 5\n"
		"q.k = 1\n";
	struct nh_hocon_doc *doc = parse_ok(text, NULL);
	const struct nh_hocon_node *r = doc->root, *o;

	(void)state;
	assert_int_equal(r->n_kids, 5);
	assert_string_equal(r->kids[0]->key, "a"); /* keeps its first place */
	assert_string_equal(r->kids[0]->str, "3");  /* later value wins */
	assert_int_equal(r->kids[0]->line, 3);
	assert_string_equal(r->kids[1]->key, "b");
	o = nh_hocon_get(r, "o");
	assert_int_equal(o->n_kids, 3);
	assert_string_equal(str_at(o, "x"), "1");
	assert_string_equal(str_at(o, "y"), "2");
	assert_string_equal(str_at(o, "z"), "3");
	assert_int_equal(o->key_line, 4); /* merged objects: where first written */
	assert_int_equal(nh_hocon_get(r, "p")->type, NH_HOCON_NUMBER);
	assert_int_equal(nh_hocon_get(r, "q")->type, NH_HOCON_OBJECT);
	assert_string_equal(str_at(r, "q.k"), "1");
	nh_hocon_free(doc);
}

static void test_hocon_root_bom_crlf(void **state)
{
	struct nh_hocon_doc *doc;
	const struct nh_hocon_node *n;

	(void)state;
	doc = parse_ok("{ a = 1, b { c = 2 } }\n", NULL);
	assert_string_equal(str_at(doc->root, "b.c"), "2");
	nh_hocon_free(doc);

	doc = parse_ok("\xEF\xBB\xBF" "a = 1\r\nb = x y \r\n", NULL);
	n = nh_hocon_get(doc->root, "b");
	assert_string_equal(n->str, "x y");
	assert_int_equal(n->key_line, 2);
	assert_int_equal(n->key_col, 1);
	assert_int_equal(nh_hocon_get(doc->root, "a")->key_col, 1);
	nh_hocon_free(doc);

	doc = parse_ok("", NULL);
	assert_int_equal(doc->root->n_kids, 0);
	nh_hocon_free(doc);
	doc = parse_ok("# only a comment", NULL);
	assert_int_equal(doc->root->n_kids, 0);
	nh_hocon_free(doc);
}

static void test_hocon_include_skipped(void **state)
{
	char *warn;
	struct nh_hocon_doc *doc = parse_ok(
		"include \"bridge.conf\"\n"
		"auth {\n"
		"  password = {include \"/etc/nanomq_pwd.conf\"}\n"
		"  include required(file(\"/etc/acl.conf\"))\n"
		"  include = 5\n"
		"}\n", &warn);

	(void)state;
	assert_string_equal(warn,
		"h.conf:1:1: include \"bridge.conf\" skipped: nanohook reads only this file\n"
		"h.conf:3:15: include \"/etc/nanomq_pwd.conf\" skipped: nanohook reads only this file\n"
		"h.conf:4:3: include \"/etc/acl.conf\" skipped: nanohook reads only this file\n");
	assert_int_equal(nh_hocon_path(doc->root, "auth.password")->type, NH_HOCON_OBJECT);
	assert_int_equal(nh_hocon_path(doc->root, "auth.password")->n_kids, 0);
	assert_string_equal(str_at(doc->root, "auth.include"), "5"); /* a plain key */
	free(warn);
	nh_hocon_free(doc);
}

struct error_case {
	const char *text;
	const char *msg;
};

static const struct error_case hocon_errors[] = {
	{ "a = \"abc\n", "h.conf:1:5: unterminated string" },
	{ "a = \"abc", "h.conf:1:5: unterminated string" },
	{ "a { b = 1\n", "h.conf:1:3: '{' is never closed" },
	{ "a = [1, 2\n", "h.conf:1:5: '[' is never closed" },
	{ "a = 1 }\n", "h.conf:1:7: unexpected '}' (no '{' open)" },
	{ "a = 1\n]\n", "h.conf:2:1: unexpected ']'" },
	{ "a\n", "h.conf:1:2: expected '=', ':' or '{' after key 'a', got end of line" },
	{ "a b = 1\n", "h.conf:1:3: expected '=', ':' or '{' after key 'a', got 'b'" },
	{ "= 1\n", "h.conf:1:1: unexpected '='" },
	{ "a..b = 1\n", "h.conf:1:3: empty key element before '.'" },
	{ "a. = 1\n", "h.conf:1:3: expected a key, got a blank" },
	{ "a =\n", "h.conf:2:1: expected a value, got end of file" },
	{ "a = }\n", "h.conf:1:5: expected a value, got '}'" },
	{ "a = x=y\n", "h.conf:1:6: unexpected '=' inside an unquoted value: quote the whole value" },
	{ "a = x\"y\"\n", "h.conf:1:6: unexpected '\"' inside an unquoted value: quote the whole value" },
	{ "topic = a/#\n", "h.conf:1:11: '#' starts a comment, cutting the value short: quote it (\"a/#\")" },
	{ "a = ${b}\n", "h.conf:1:5: substitutions (${...}) are not supported" },
	{ "a += 1\n", "h.conf:1:3: '+=' is not supported" },
	{ "a = \"\\q\"\n", "h.conf:1:6: invalid escape '\\q' in string" },
	{ "a = \"\\u12\"\n", "h.conf:1:6: \\u needs four hex digits" },
	{ "a = \"\\ud800x\"\n", "h.conf:1:6: high surrogate \\uD800 without its low half" },
	{ "a = \"\\udc00\"\n", "h.conf:1:6: lone low surrogate \\uDC00" },
	{ "a = \"\\u0000\"\n", "h.conf:1:6: \\u0000 is not allowed" },
	{ "a = \"x\ty\x01\"\n", "h.conf:1:9: control character 0x01 in string" },
	{ "a = \"\"\"never closed\n", "h.conf:1:5: unterminated \"\"\" string" },
	{ "a = [1,,2]\n", "h.conf:1:8: unexpected ',' in array" },
	{ "a = 1,,\n", "h.conf:1:7: unexpected ','" },
	{ "{ a = 1 } b = 2\n", "h.conf:1:11: text after the closing '}' of the root object" },
	{ "include \"x\n", "h.conf:1:9: unterminated string" },
	{ "include required(\"x\"\n", "h.conf:1:21: expected ')' to close include" },
	/* NanoMQ's WebHook doc writes rules without braces */
	{ "events = [\n  event = \"on_message_publish\"\n  topic = \"a/b/c\"\n]\n",
	  "h.conf:2:3: 'event = ...' directly inside [ ]: write each element's fields as an object, e.g. [ { event = ... } ]" },
	{ "events = [ event: \"x\" ]\n",
	  "h.conf:1:12: 'event = ...' directly inside [ ]: write each element's fields as an object, e.g. [ { event = ... } ]" },
	{ "events = [ \"event\" = \"x\" ]\n",
	  "h.conf:1:12: '\"event\" = ...' directly inside [ ]: write each element's fields as an object, e.g. [ { \"event\" = ... } ]" },
	{ "events = [ on_client_connack topic = \"x\" ]\n",
	  "h.conf:1:30: 'topic = ...' directly inside [ ]: write each element's fields as an object, e.g. [ { topic = ... } ]" },
};

static void test_hocon_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(hocon_errors) / sizeof(hocon_errors[0]); i++) {
		struct nh_hocon_doc *doc = (void *)1;
		char err[512];
		const struct error_case *c = &hocon_errors[i];

		if (nh_hocon_parse_buf("h.conf", c->text, strlen(c->text), NULL, &doc,
				       err, sizeof(err)) != -1)
			fail_msg("case %zu parsed: %s", i, c->text);
		assert_null(doc);
		if (strcmp(err, c->msg) != 0)
			fail_msg("case %zu: got\n  %s\nexpected\n  %s", i, err, c->msg);
	}
}

static void test_hocon_nul_and_bad_bytes(void **state)
{
	static const char nul[] = "a = 1\nb = x\0y\n";

	(void)state;
	assert_parse_error(nul, sizeof(nul) - 1, "h.conf:2:6: NUL byte in file");
	/* not NUL-terminated: parsing stops at len */
	{
		struct nh_hocon_doc *doc;
		char err[128];

		assert_int_equal(nh_hocon_parse_buf("h.conf", "a = 12345", 6, NULL,
						    &doc, err, sizeof(err)), 0);
		assert_string_equal(str_at(doc->root, "a"), "12");
		nh_hocon_free(doc);
	}
}

/* Builds `n` nested objects (`a { a { ... x = 1 } }`), or arrays. */
static char *nested(int n, bool arrays)
{
	char *s = malloc((size_t)n * 4 + 16), *p = s;

	assert_non_null(s);
	if (arrays) {
		p += sprintf(p, "a = ");
		for (int i = 0; i < n; i++)
			*p++ = '[';
		for (int i = 0; i < n; i++)
			*p++ = ']';
	} else {
		for (int i = 0; i < n; i++)
			p += sprintf(p, "a{");
		p += sprintf(p, "x=1");
		for (int i = 0; i < n; i++)
			*p++ = '}';
	}
	*p = '\0';
	return s;
}

static void test_hocon_depth_cap(void **state)
{
	struct nh_hocon_doc *doc;
	char err[256];
	char *s;

	(void)state;
	/* 63 objects hold a scalar at depth 64: fine */
	s = nested(63, false);
	doc = parse_ok(s, NULL);
	nh_hocon_free(doc);
	free(s);
	s = nested(64, false);
	assert_parse_error(s, strlen(s), "h.conf:1:129: nesting deeper than 64 levels");
	free(s);

	s = nested(64, true);
	doc = parse_ok(s, NULL);
	nh_hocon_free(doc);
	free(s);
	s = nested(65, true);
	assert_parse_error(s, strlen(s), "h.conf:1:69: nesting deeper than 64 levels");
	free(s);

	/* dotted keys count as levels too */
	s = malloc(64 * 2 + 8);
	assert_non_null(s);
	s[0] = '\0';
	for (int i = 0; i < 64; i++)
		strcat(s, "a.");
	strcat(s, "b = 1");
	assert_parse_error(s, strlen(s), "h.conf:1:129: nesting deeper than 64 levels");
	free(s);

	/* a deep hostile input fails quickly instead of exhausting the stack */
	s = malloc(200001);
	assert_non_null(s);
	memset(s, '[', 200000);
	s[200000] = '\0';
	assert_int_equal(nh_hocon_parse_buf("h.conf", s, 200000, NULL, &doc, err,
					    sizeof(err)), -1);
	free(s);
}

struct conv_case {
	const char *value; /* HOCON text after `v = ` */
	int rc;
	uint64_t expect;
};

static uint64_t conv(const char *value, int (*fn)(const struct nh_hocon_node *, uint64_t *),
		     int *rc)
{
	char text[128];
	struct nh_hocon_doc *doc;
	uint64_t out = 0;

	snprintf(text, sizeof(text), "v = %s\n", value);
	doc = parse_ok(text, NULL);
	*rc = fn(nh_hocon_get(doc->root, "v"), &out);
	nh_hocon_free(doc);
	return out;
}

static void test_hocon_durations_sizes(void **state)
{
	static const struct conv_case durations[] = {
		{ "10s", 0, 10000 }, { "500ms", 0, 500 }, { "1m", 0, 60000 },
		{ "2h", 0, 7200000 }, { "1d", 0, 86400000 }, { "5000", 0, 5000 },
		{ "\"3s\"", 0, 3000 }, { "10 seconds", 0, 10000 }, { "1MS", 0, 1 },
		{ "3S", 0, 3000 }, { "0s", 0, 0 },
		{ "1.5s", -1, 0 }, { "s", -1, 0 }, { "-1s", -1, 0 }, { "1y", -1, 0 },
		{ "true", -1, 0 }, { "{}", -1, 0 }, { "99999999999999999999", -1, 0 },
		{ "999999999999999999d", -1, 0 },
	};
	static const struct conv_case sizes[] = {
		{ "256MB", 0, 256ull << 20 }, { "4KB", 0, 4096 }, { "8MiB", 0, 8ull << 20 },
		{ "1g", 0, 1ull << 30 }, { "2GiB", 0, 2ull << 30 }, { "512B", 0, 512 },
		{ "10", 0, 10 }, { "4 kb", 0, 4096 }, { "1K", 0, 1024 }, { "3M", 0, 3ull << 20 },
		{ "1.5MB", -1, 0 }, { "MB", -1, 0 }, { "-1KB", -1, 0 }, { "1TB", -1, 0 },
		{ "18446744073709551615GB", -1, 0 }, { "[1]", -1, 0 },
	};
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		uint64_t v = conv(durations[i].value, nh_hocon_as_duration_ms, &rc);
		if (rc != durations[i].rc || (rc == 0 && v != durations[i].expect))
			fail_msg("duration %s: rc %d value %llu", durations[i].value, rc,
				 (unsigned long long)v);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t v = conv(sizes[i].value, nh_hocon_as_size, &rc);
		if (rc != sizes[i].rc || (rc == 0 && v != sizes[i].expect))
			fail_msg("size %s: rc %d value %llu", sizes[i].value, rc,
				 (unsigned long long)v);
	}
}

static void test_hocon_int_bool(void **state)
{
	struct nh_hocon_doc *doc = parse_ok(
		"i = 42\nq = \"-7\"\nf = 1.5\nbig = 9223372036854775808\n"
		"min = -9223372036854775808\nt = true\ny = yes\noff = off\nx = maybe\n", NULL);
	const struct nh_hocon_node *r = doc->root;
	long long v;
	bool b;

	(void)state;
	assert_int_equal(nh_hocon_as_int(nh_hocon_get(r, "i"), &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(nh_hocon_as_int(nh_hocon_get(r, "q"), &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(nh_hocon_as_int(nh_hocon_get(r, "f"), &v), -1);
	assert_int_equal(nh_hocon_as_int(nh_hocon_get(r, "big"), &v), -1);
	assert_int_equal(nh_hocon_as_int(nh_hocon_get(r, "min"), &v), 0);
	assert_true(v < 0 && v == -9223372036854775807LL - 1);
	assert_int_equal(nh_hocon_as_int(nh_hocon_get(r, "t"), &v), -1);
	assert_int_equal(nh_hocon_as_bool(nh_hocon_get(r, "t"), &b), 0);
	assert_true(b);
	assert_int_equal(nh_hocon_as_bool(nh_hocon_get(r, "y"), &b), 0);
	assert_true(b);
	assert_int_equal(nh_hocon_as_bool(nh_hocon_get(r, "off"), &b), 0);
	assert_false(b);
	assert_int_equal(nh_hocon_as_bool(nh_hocon_get(r, "x"), &b), -1);
	assert_int_equal(nh_hocon_as_bool(NULL, &b), -1);
	nh_hocon_free(doc);
}

/* ---- configuration: good files ------------------------------------------------- */

static void test_golden_conf(void **state)
{
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_file("golden-nanomq.conf", &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_string_equal(cfg.url, "http://127.0.0.1:8097/hook");
	assert_false(cfg.url_path_added);
	assert_int_equal(cfg.n_headers, 1);
	assert_string_equal(cfg.headers[0].name, "content-type");
	assert_string_equal(cfg.headers[0].value, "application/json");
	assert_int_equal(cfg.encoding, NH_ENC_PLAIN);
	assert_int_equal(cfg.pool_size, 4);
	assert_int_equal(cfg.cancel_timeout_ms, 5000);
	assert_int_equal(cfg.n_rules, 3);
	assert_int_equal(cfg.rules[0].event, NH_EV_PUBLISH);
	assert_string_equal(cfg.rules[0].topic, "nmq/#");
	assert_int_equal(cfg.rules[0].line, 10);
	assert_int_equal(cfg.rules[1].event, NH_EV_CONNACK);
	assert_null(cfg.rules[1].topic);
	assert_int_equal(cfg.rules[1].line, 11);
	assert_int_equal(cfg.rules[2].event, NH_EV_DISCONNECTED);
	assert_int_equal(cfg.rules[2].line, 12);
	/* nanohook defaults */
	assert_int_equal(cfg.payload_max, 4096);
	assert_int_equal(cfg.ringbuf_bytes, 8u << 20);
	assert_int_equal(cfg.queue_max, 100000);
	assert_int_equal(cfg.nanomq_enable, -1);

	assert_wants(&cfg, NH_EV_PUBLISH, "nmq/pub", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "nmq", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "nmqx", false);
	assert_wants(&cfg, NH_EV_PUBLISH, "other/topic", false);
	assert_wants(&cfg, NH_EV_PUBLISH, NULL, false);
	assert_wants(&cfg, NH_EV_CONNACK, NULL, true);
	assert_wants(&cfg, NH_EV_DISCONNECTED, "ignored", true);
	assert_wants(&cfg, NH_EV_CONNECT, NULL, false);
	assert_wants(&cfg, NH_EV_CONNECTED, NULL, false);
	assert_wants(&cfg, NH_EV_DELIVERED, "nmq/pub", false);
	assert_wants(&cfg, NH_EV_NONE, NULL, false);
	assert_wants(&cfg, NH_EV_MAX, NULL, false);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_full_nanomq_conf(void **state)
{
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_file("full-nanomq.conf", &cfg, &msgs), 0);
	assert_string_equal(msgs, ""); /* every other block skipped silently */
	assert_string_equal(cfg.url, "https://hooks.example.com:8443/nanomq/events?src=edge-1");
	assert_int_equal(cfg.n_headers, 3);
	assert_string_equal(cfg.headers[0].name, "content-type");
	assert_string_equal(cfg.headers[0].value, "application/json");
	assert_string_equal(cfg.headers[1].name, "Authorization");
	assert_string_equal(cfg.headers[1].value, "Bearer s3cr3t-t0ken");
	assert_string_equal(cfg.headers[2].name, "x-tenant");
	assert_string_equal(cfg.headers[2].value, "plant-7");
	assert_int_equal(cfg.encoding, NH_ENC_BASE64);
	assert_int_equal(cfg.pool_size, 64);
	assert_int_equal(cfg.cancel_timeout_ms, 3000);
	assert_int_equal(cfg.n_rules, 4);
	assert_int_equal(cfg.rules[0].event, NH_EV_PUBLISH);
	assert_string_equal(cfg.rules[0].topic, "sensors/+/temperature");
	assert_int_equal(cfg.rules[0].line, 119);
	assert_string_equal(cfg.rules[1].topic, "$SYS/brokers/#");
	assert_int_equal(cfg.rules[1].line, 128);
	assert_int_equal(cfg.rules[2].event, NH_EV_CONNACK);
	assert_int_equal(cfg.rules[3].event, NH_EV_DISCONNECTED);
	assert_int_equal(cfg.payload_max, 8192);
	assert_int_equal(cfg.ringbuf_bytes, 16u << 20);
	assert_int_equal(cfg.queue_max, 50000);

	/* rules of one event combine: any match */
	assert_wants(&cfg, NH_EV_PUBLISH, "sensors/hall/temperature", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "$SYS/brokers/n1/clients", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "sensors/hall/humidity", false);
	assert_wants(&cfg, NH_EV_PUBLISH, "sensors/a/b/temperature", false);
	assert_wants(&cfg, NH_EV_PUBLISH, "$SYS/other", false);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_webhook_only_conf(void **state)
{
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_file("webhook-only.conf", &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	/* no path: nanohook posts to "/" (NanoMQ sends an empty target) */
	assert_string_equal(cfg.url, "http://hook:pa55w0rd@10.0.0.5:9000/");
	assert_true(cfg.url_path_added);
	assert_int_equal(cfg.n_headers, 3);
	assert_string_equal(cfg.headers[0].name, "content-type");
	assert_string_equal(cfg.headers[1].name, "x.dotted");
	assert_string_equal(cfg.headers[1].value, "kept");
	assert_string_equal(cfg.headers[2].name, "X-Api-Key");
	assert_string_equal(cfg.headers[2].value, "12345");
	assert_int_equal(cfg.encoding, NH_ENC_BASE62);
	assert_int_equal(cfg.cancel_timeout_ms, 750);
	assert_int_equal(cfg.nanomq_enable, 0);
	assert_int_equal(cfg.n_rules, 5);
	assert_int_equal(cfg.rules[2].event, NH_EV_CONNACK); /* ON_CLIENT_CONNACK */
	assert_int_equal(cfg.rules[3].event, NH_EV_CONNECTED);
	assert_int_equal(cfg.rules[4].event, NH_EV_SESSION_SUBSCRIBED);

	assert_wants(&cfg, NH_EV_PUBLISH, "a/b/c", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "a//c", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "alerts", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "alerts/fire/now", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "a/b/c/d", false);
	assert_wants(&cfg, NH_EV_SESSION_SUBSCRIBED, "cmd/x", true);
	assert_wants(&cfg, NH_EV_SESSION_SUBSCRIBED, "data/x", false);
	assert_wants(&cfg, NH_EV_CONNECTED, NULL, true);
	assert_wants(&cfg, NH_EV_DISCONNECTED, NULL, false);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_print(void **state)
{
	struct nh_config cfg;
	struct capture c;
	char *msgs, *out;

	(void)state;
	assert_int_equal(load_file("webhook-only.conf", &cfg, &msgs), 0);
	nh_config_print(&cfg, capture_start(&c));
	out = capture_end(&c);
	assert_string_equal(out,
		"url = http://hook:****@10.0.0.5:9000/\n"
		"headers.content-type = application/json\n"
		"headers.x.dotted = kept\n"
		"headers.X-Api-Key = ****\n"
		"body.encoding = base62\n"
		"pool_size = 32\n"
		"cancel_timeout = 750ms\n"
		"nanohook.capture.payload_max = 4096\n"
		"nanohook.ringbuf_size = 8388608\n"
		"nanohook.queue_max = 100000\n"
		"rule line 11: on_message_publish topic a/+/c\n"
		"rule line 12: on_message_publish topic alerts/#\n"
		"rule line 13: on_client_connack\n"
		"rule line 14: on_client_connected\n"
		"rule line 15: on_session_subscribed topic cmd/#\n"
		"note: url has no path; nanohook posts to \"/\" (NanoMQ sends an empty request target there)\n"
		"note: webhook.enable = false is NanoMQ's own switch and nanohook ignores it; NanoMQ's own webhook should be off, or the endpoint gets every event twice\n");
	assert_null(strstr(out, "pa55w0rd"));
	free(out);
	free(msgs);
	nh_config_free(&cfg);

	assert_int_equal(load_file("full-nanomq.conf", &cfg, &msgs), 0);
	nh_config_print(&cfg, capture_start(&c));
	out = capture_end(&c);
	assert_non_null(strstr(out, "headers.Authorization = ****\n"));
	assert_non_null(strstr(out, "headers.x-tenant = plant-7\n"));
	assert_null(strstr(out, "s3cr3t"));
	assert_non_null(strstr(out, "rule line 128: on_message_publish topic $SYS/brokers/#\n"));
	assert_null(strstr(out, "note:"));
	free(out);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_warnings(void **state)
{
	struct nh_config cfg;
	char *msgs, *expect = NULL;

	(void)state;
	assert_int_equal(load_file("warnings.conf", &cfg, &msgs), 0);
	assert_true(asprintf(&expect,
		"%1$s:1:1: include \"nanomq_bridge.conf\" skipped: nanohook reads only this file\n"
		"%1$s:4:2: unknown key 'retries' in webhook (ignored)\n"
		"%1$s:12:7: unknown key 'format' in webhook.body (ignored)\n"
		"%1$s:14:34: webhook.events[0].topic: ignored, on_client_connack has no topic\n"
		"%1$s:15:35: unknown key 'qos' in webhook.events[1] (ignored)\n"
		"%1$s:6:2: webhook.tls.verify = false: the endpoint's certificate is not checked; anyone on the path can read and change the requests\n"
		"%1$s:6:2: webhook.tls.cacertfile: not used while verify = false\n"
		"%1$s:20:10: unknown key 'headers' in nanohook.capture (ignored)\n"
		"%1$s:21:2: unknown key 'ring_size' in nanohook (ignored)\n",
		DATA "warnings.conf") > 0);
	assert_string_equal(msgs, expect);
	assert_int_equal(cfg.nanomq_enable, 1);
	assert_int_equal(cfg.payload_max, 100);
	assert_int_equal(cfg.n_rules, 2);
	assert_null(cfg.rules[0].topic); /* connack has no topic to filter */
	assert_wants(&cfg, NH_EV_CONNACK, NULL, true);
	free(expect);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_split_webhook_blocks_merge(void **state)
{
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_text(
		"webhook { url = \"http://h:1/x\" }\n"
		"mqtt { max_packet_size = 1KB }\n"
		"webhook.events = [ { event = on_message_publish, topic = \"t/#\" } ]\n"
		"webhook { headers { accept = \"*/*\" } }\n"
		"webhook.url = \"http://h:2/y\"\n", &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_string_equal(cfg.url, "http://h:2/y"); /* later value wins */
	assert_int_equal(cfg.n_headers, 1);
	assert_string_equal(cfg.headers[0].value, "*/*");
	assert_int_equal(cfg.n_rules, 1);
	assert_int_equal(cfg.rules[0].line, 3);
	free(msgs);
	nh_config_free(&cfg);
}

/* ---- configuration: bad files and values ------------------------------------------ */

struct file_error {
	const char *file;
	const char *tail; /* after "<path>:" */
};

static const struct file_error file_errors[] = {
	{ "bad-seed-doc-events.conf",
	  "7:7: 'event = ...' directly inside [ ]: write each element's fields as an object, e.g. [ { event = ... } ]\n" },
	{ "bad-syntax-elsewhere.conf", "3:11: unterminated string\n" },
	{ "bad-unquoted-hash.conf",
	  "4:47: '#' starts a comment, cutting the value short: quote it (\"nmq/#\")\n" },
	{ "bad-unknown-event.conf",
	  "5:13: webhook.events[1].event: unknown event 'on_message_published' (known: on_client_connect, on_client_connack, on_client_connected, on_client_disconnected, on_client_subscribe, on_client_unsubscribe, on_session_subscribed, on_session_unsubscribed, on_session_terminated, on_message_publish, on_message_delivered, on_message_acked)\n" },
	{ "bad-missing-url.conf", "2:1: webhook: missing required key 'url'\n" },
	{ "bad-no-webhook.conf",
	  "1:1: no webhook block (nanohook needs webhook { url = ..., events = [ ... ] })\n" },
	{ "bad-old-format.conf",
	  "3:1: this is NanoMQ's old web.hook.* format; nanohook reads the webhook { } block of the HOCON nanomq.conf\n" },
};

static void test_bad_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(file_errors) / sizeof(file_errors[0]); i++) {
		struct nh_config cfg;
		char *msgs, *expect = at_file(file_errors[i].file, file_errors[i].tail);

		if (load_file(file_errors[i].file, &cfg, &msgs) != -1)
			fail_msg("%s loaded", file_errors[i].file);
		if (strcmp(msgs, expect) != 0)
			fail_msg("%s: got\n  %s\nexpected\n  %s", file_errors[i].file, msgs, expect);
		/* a failed load leaves nothing to free and no half config */
		assert_null(cfg.url);
		assert_int_equal(cfg.n_rules, 0);
		free(msgs);
		free(expect);
	}
}

static void test_missing_file(void **state)
{
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_file("no-such.conf", &cfg, &msgs), -1);
	assert_string_equal(msgs, DATA "no-such.conf: No such file or directory\n");
	free(msgs);
}

/* The webhook block around line 4 of each case. */
#define WH(line4) \
	"webhook {\n url = \"http://h/\"\n events = [ { event = on_client_connack } ]\n" \
	line4 "\n}\n"
/* Without url and events: the case is line 2. */
#define WH_BARE(line2) "webhook {\n" line2 "\n}\n"
/* A good webhook, then the case on line 5. */
#define NH(line5) \
	"webhook {\n url = \"http://h/\"\n events = [ { event = on_client_connack } ]\n}\n" \
	line5 "\n"

static const struct error_case value_errors[] = {
	{ WH(" pool_size = 0"), "t.conf:4:14: webhook.pool_size: 0 is out of range 1..1024\n" },
	{ WH(" pool_size = 1025"), "t.conf:4:14: webhook.pool_size: 1025 is out of range 1..1024\n" },
	{ WH(" pool_size = -3"), "t.conf:4:14: webhook.pool_size: -3 is out of range 1..1024\n" },
	{ WH(" pool_size = many"), "t.conf:4:14: webhook.pool_size: expected an integer, got 'many'\n" },
	{ WH(" pool_size = 3.5"), "t.conf:4:14: webhook.pool_size: expected an integer, got '3.5'\n" },
	{ WH(" pool_size { a = 1 }"), "t.conf:4:12: webhook.pool_size: expected an integer, got an object\n" },
	{ WH(" cancel_timeout = 0"), "t.conf:4:19: webhook.cancel_timeout: 0ms is out of range 1ms..3600000ms\n" },
	{ WH(" cancel_timeout = 2h"), "t.conf:4:19: webhook.cancel_timeout: 7200000ms is out of range 1ms..3600000ms\n" },
	{ WH(" cancel_timeout = 5 parsecs"), "t.conf:4:19: webhook.cancel_timeout: expected milliseconds or a duration like 5s, got '5 parsecs'\n" },
	{ WH(" body.encoding = gzip"), "t.conf:4:18: webhook.body.encoding: expected plain, base64 or base62, got 'gzip'\n" },
	{ WH(" body = plain"), "t.conf:4:9: webhook.body: expected body.encoding = ..., got 'plain'\n" },
	{ WH(" enable = maybe"), "t.conf:4:11: webhook.enable: expected true or false, got 'maybe'\n" },
	{ WH(" url = \"ftp://h/x\""), "t.conf:4:8: webhook.url: 'ftp://h/x' must start with http:// or https://\n" },
	{ WH(" url = \"http:///x\""), "t.conf:4:8: webhook.url: 'http:///x' has no host\n" },
	{ WH(" url = \"http://u:p@:80/x\""), "t.conf:4:8: webhook.url: 'http://u:p@:80/x' has no host\n" },
	{ WH(" url = \"http://h:0/\""), "t.conf:4:8: webhook.url: 'http://h:0/' has a bad port (1..65535)\n" },
	{ WH(" url = \"http://h:65536/\""), "t.conf:4:8: webhook.url: 'http://h:65536/' has a bad port (1..65535)\n" },
	{ WH(" url = \"http://h:/\""), "t.conf:4:8: webhook.url: 'http://h:/' has a bad port (1..65535)\n" },
	{ WH(" url = \"http://[::1/\""), "t.conf:4:8: webhook.url: 'http://[::1/' has a bad [IPv6] host\n" },
	{ WH(" url = \"http://h/a b\""), "t.conf:4:8: webhook.url: 'http://h/a b' contains a blank or control character\n" },
	{ WH(" url = [[\"http://h/\"]]"), "t.conf:4:9: webhook.url[0]: expected a string, got an array\n" },
	{ WH(" headers.a.b = x"), "t.conf:4:10: webhook.headers.a: expected a string, got an object (quote a header name holding '.': headers.\"a.b\" = ...)\n" },
	{ WH(" headers.\"bad name\" = x"), "t.conf:4:10: webhook.headers: 'bad name' is not a valid HTTP header name\n" },
	{ WH(" headers.x-a = \"1\\r\\nX-Injected: 1\""), "t.conf:4:16: webhook.headers.x-a: the value holds a line break or control character\n" },
	{ WH(" headers.x-a = null"), "t.conf:4:16: webhook.headers.x-a: expected a string, got null\n" },
	{ WH(" headers = \"content-type: json\""), "t.conf:4:12: webhook.headers: expected headers.<name> = \"value\" entries, got 'content-type: json'\n" },
	{ WH(" events = []"), "t.conf:4:11: webhook.events: empty, nothing would ever be sent\n" },
	{ WH(" events = on_client_connack"), "t.conf:4:11: webhook.events: expected [ { event = \"...\" } ... ], got 'on_client_connack'\n" },
	{ WH(" events = [ \"on_client_connack\" ]"), "t.conf:4:13: webhook.events[0]: expected { event = \"...\", topic = \"...\" }, got 'on_client_connack'\n" },
	{ WH(" events = [ { topic = \"a\" } ]"), "t.conf:4:13: webhook.events[0]: missing 'event'\n" },
	{ WH(" events = [ {event = on_message_publish}, {event = [x]} ]"), "t.conf:4:52: webhook.events[1].event: expected a string, got an array\n" },
	{ WH(" events = [ { event = on_message_publish, topic = \"a/#/b\" } ]"),
	  "t.conf:4:51: webhook.events[0].topic: 'a/#/b' is not a valid MQTT topic filter (non-empty; '+' and '#' fill a whole level; '#' only last)\n" },
	{ WH(" events = [ { event = on_message_publish, topic = \"\" } ]"),
	  "t.conf:4:51: webhook.events[0].topic: '' is not a valid MQTT topic filter (non-empty; '+' and '#' fill a whole level; '#' only last)\n" },
	{ WH(" events = [ { event = on_message_publish, topic = \"a+\" } ]"),
	  "t.conf:4:51: webhook.events[0].topic: 'a+' is not a valid MQTT topic filter (non-empty; '+' and '#' fill a whole level; '#' only last)\n" },
	{ WH_BARE(" url = \"http://h/\""), "t.conf:1:1: webhook: no events, nothing would ever be sent (add events = [ { event = \"on_message_publish\" } ])\n" },
	{ WH_BARE(" events = [ { event = on_client_connack } ]"), "t.conf:1:1: webhook: missing required key 'url'\n" },
	{ "a = 1\nwebhook = 5\n", "t.conf:2:11: webhook: expected a block webhook { ... }, got '5'\n" },
	{ NH("nanohook { ringbuf_size = 100KB }"), "t.conf:5:27: nanohook.ringbuf_size: 102400 bytes is not a power of two between 64KB and 1GB\n" },
	{ NH("nanohook { ringbuf_size = 32KB }"), "t.conf:5:27: nanohook.ringbuf_size: 32768 bytes is not a power of two between 64KB and 1GB\n" },
	{ NH("nanohook { ringbuf_size = 2GB }"), "t.conf:5:27: nanohook.ringbuf_size: 2147483648 bytes is not a power of two between 64KB and 1GB\n" },
	{ NH("nanohook { ringbuf_size = big }"), "t.conf:5:27: nanohook.ringbuf_size: expected bytes or a size like 8MB, got 'big'\n" },
	{ NH("nanohook { capture.payload_max = 32KB }"), "t.conf:5:34: nanohook.capture.payload_max: 32768 is out of range 1..16384\n" },
	{ NH("nanohook { capture.payload_max = 0 }"), "t.conf:5:34: nanohook.capture.payload_max: 0 is out of range 1..16384\n" },
	{ NH("nanohook { capture = 5 }"), "t.conf:5:22: nanohook.capture: expected capture.payload_max = ..., got '5'\n" },
	{ NH("nanohook { queue_max = 0 }"), "t.conf:5:24: nanohook.queue_max: 0 is out of range 1..10000000\n" },
	{ NH("nanohook = [1]"), "t.conf:5:12: nanohook: expected a block nanohook { ... }, got an array\n" },	{ WH(" tls { cacertfile = \"a\" }"),
	  "t.conf:4:2: webhook.tls: the url http://h/ is not https://, so nothing would be encrypted (use https://, or tls.enable = false)\n" },
	{ WH(" tls = yes"),
	  "t.conf:4:8: webhook.tls: expected a block tls { ... }, got 'yes'\n" },
	{ WH(" url = \"https://h/\"\n tls { keyfile = \"k\" }"),
	  "t.conf:5:2: webhook.tls: keyfile without certfile (a client certificate needs both)\n" },
	{ WH(" url = \"https://h/\"\n tls { server_name = \"h:443\" }"),
	  "t.conf:5:22: webhook.tls.server_name: 'h:443' is not a DNS name (letters, digits, '-' and '.'; no port)\n" },
	{ WH(" url = \"https://h/\"\n tls { verify = sometimes }"),
	  "t.conf:5:17: webhook.tls.verify: expected true or false, got 'sometimes'\n" },
	{ WH(" url = \"https://h/\"\n tls { certfile = \"\" }"),
	  "t.conf:5:19: webhook.tls.certfile: empty\n" },
	{ NH("nanohook { sign { } }"),
	  "t.conf:5:12: nanohook.sign: name the secret with secret_file = \"...\" or secret_env = \"...\"\n" },
	{ NH("nanohook { sign { secret = \"whsec_abc\" } }"),
	  "t.conf:5:19: nanohook.sign.secret: the secret is not written in the config; put it in a file (secret_file) or the environment (secret_env)\n" },
	{ NH("nanohook { sign { secret_env = \"1BAD\" } }"),
	  "t.conf:5:32: nanohook.sign.secret_env: '1BAD' is not an environment variable name\n" },
	{ NH("nanohook { sign { secret_env = A, secret_file = b } }"),
	  "t.conf:5:12: nanohook.sign: secret_file and secret_env both set; keep one\n" },
	{ WH_BARE(" url = []\n events = [ { event = on_client_connack } ]"),
	  "t.conf:2:8: webhook.url: an empty list, nowhere to send\n" },
	{ WH_BARE(" url = [\"http://a/\", \"http://a\"]\n events = [ { event = on_client_connack } ]"),
	  "t.conf:2:22: webhook.url[1]: 'http://a' is in the list twice\n" },
	{ WH_BARE(" url = [\"http://a/\", \"ftp://b/\"]\n events = [ { event = on_client_connack } ]"),
	  "t.conf:2:22: webhook.url[1]: 'ftp://b/' must start with http:// or https://\n" },
	{ WH(" balance = random"),
	  "t.conf:4:12: webhook.balance: expected hash, round_robin or failover, got 'random'\n" },
	{ WH_BARE(" url = \"http://a/\"\n events = [ { event = on_client_connack, url = 7 } ]"),
	  "t.conf:3:48: webhook.events[0].url: '7' must start with http:// or https://\n" },
	{ NH("nanohook { lane.inflight = 0 }"),
	  "t.conf:5:28: nanohook.lane.inflight: 0 is out of range 1..64\n" },
	{ NH("nanohook { nats { stream = S } }"),
	  "t.conf:5:12: nanohook.nats: missing required key 'url' (url = \"nats://127.0.0.1:4222\")\n" },
	{ NH("nanohook { nats { url = \"http://n:4222\" } }"),
	  "t.conf:5:25: nanohook.nats.url: 'http://n:4222' is not a nats:// or tls:// url\n" },
	{ NH("nanohook { nats { url = \"nats://n\", subject = \"a..b\" } }"),
	  "t.conf:5:47: nanohook.nats.subject: 'a..b' has an empty token (a leading, trailing or doubled '.')\n" },
	{ NH("nanohook { nats { url = \"nats://n\", subject = \"a.{who}\" } }"),
	  "t.conf:5:47: nanohook.nats.subject: '{who}': a {name} is one of {action} {clientid} {username} {topic} {node}, and fills a whole token\n" },
	{ NH("nanohook { nats { url = \"nats://n\", subject = \"a.b*\" } }"),
	  "t.conf:5:47: nanohook.nats.subject: 'b*': a token is either a {name} or text without blanks, '*', '>', '{' or '}'\n" },
	{ NH("nanohook { nats { url = \"nats://n\", stream = \"a.b\" } }"),
	  "t.conf:5:46: nanohook.nats.stream: 'a.b' is not a stream name (no blanks, '.', '*', '>', '/' or '\\')\n" },
	{ WH_BARE(" url = \"http://h/\"\n events = [ { event = on_client_connack, sink = kafka } ]"),
	  "t.conf:3:49: webhook.events[0].sink: expected http, nats or both, got 'kafka'\n" },
	{ WH_BARE(" url = \"http://h/\"\n events = [ { event = on_client_connack, sink = nats } ]"),
	  "t.conf:3:1: a rule has sink = nats, but there is no nanohook.nats { url = \"nats://...\", stream = \"...\" } block\n" },
	{ WH_BARE(" url = \"http://h/\"\n events = [ { event = on_client_connack, sink = nats, url = \"http://x/\" } ]"),
	  "t.conf:3:55: webhook.events[0].url: a rule with sink = nats posts nowhere; url is for sink = http or both\n" },
	{ NH("nanohook { circuit { failures = 0 } }"),
	  "t.conf:5:33: nanohook.circuit.failures: 0 is out of range 1..1000000\n" },
	{ NH("nanohook { sign = on }"),
	  "t.conf:5:19: nanohook.sign: expected a block nanohook.sign { ... }, got 'on'\n" },
};

/* A pool, a rule with its own url, and a rule naming the pool in another
 * order: two destinations, and each rule knows its own. */
static void test_pool_and_rule_urls(void **state)
{
	static const char text[] =
		"webhook {\n"
		" url = [\"http://a:1/h\", \"http://b:2/h\"]\n"
		" balance = failover\n"
		" events = [\n"
		"  { event = on_message_publish, topic = \"billing/#\", url = \"http://c:3/bill\" }\n"
		"  { event = on_message_publish, topic = \"x/#\" }\n"
		"  { event = on_client_connack, url = [\"http://b:2/h\", \"http://a:1/h\"] }\n"
		" ]\n"
		"}\n"
		"nanohook { lane.inflight = 8, circuit { failures = 3, open_for = 2s }, http2 = true }\n";
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_text(text, &cfg, &msgs), 0);
	/* HTTP/2 is used over TLS only: said once for these http:// urls. */
	assert_string_equal(msgs, "t.conf:10:80: nanohook.http2: http:// urls stay HTTP/1.1 "
				  "(HTTP/2 is used over TLS, where the server offers it)\n");
	assert_int_equal(cfg.n_dests, 2);
	assert_int_equal(cfg.dests[0].n_urls, 2);
	assert_string_equal(cfg.dests[0].urls[0], "http://a:1/h");
	assert_string_equal(cfg.dests[0].key, "http://a:1/h http://b:2/h");
	assert_string_equal(cfg.dests[1].key, "http://c:3/bill");
	assert_string_equal(cfg.url, "http://a:1/h");
	assert_int_equal(cfg.balance, NH_BALANCE_FAILOVER);
	assert_int_equal(cfg.lane_inflight, 8);
	assert_int_equal(cfg.circuit_failures, 3);
	assert_int_equal(cfg.circuit_open_ms, 2000);
	assert_true(cfg.http2);
	assert_int_equal(cfg.rules[0].dest, 1);
	assert_int_equal(cfg.rules[1].dest, 0);
	assert_int_equal(cfg.rules[2].dest, 0);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_PUBLISH, "billing/1", 9), 1u << 1);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_PUBLISH, "x/1", 3), 1u << 0);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_PUBLISH, "y", 1), 0);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_CONNACK, NULL, 0), 1u << 0);
	free(msgs);
	nh_config_free(&cfg);
}

/* sink = nats | both: the NATS destination comes after the HTTP ones, a
 * rule for both is a rule per destination, and the defaults fill in. */
static void test_nats_sink(void **state)
{
	static const char text[] =
		"webhook {\n"
		" url = \"http://a:1/h\"\n"
		" events = [\n"
		"  { event = on_message_publish, topic = \"t/#\", sink = both }\n"
		"  { event = on_client_connack, sink = nats }\n"
		"  { event = on_client_disconnected }\n"
		" ]\n"
		"}\n"
		"nanohook { nats { url = [\"nats://n1:4222\", \"tls://n2:4222\"], replicas = 3 } }\n";
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_text(text, &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_int_equal(cfg.n_dests, 2);
	assert_int_equal(cfg.dests[0].kind, NH_SINK_HTTP);
	assert_int_equal(cfg.dests[1].kind, NH_SINK_NATS);
	assert_string_equal(cfg.dests[1].key, "nats:NANOHOOK");
	assert_int_equal(cfg.dests[1].n_urls, 2);
	assert_string_equal(cfg.dests[1].urls[1], "tls://n2:4222");
	assert_string_equal(cfg.nats.stream, "NANOHOOK");
	assert_string_equal(cfg.nats.subject, "nanohook.{action}.{clientid}");
	assert_false(cfg.nats.create);
	assert_int_equal(cfg.nats.replicas, 3);
	assert_int_equal(cfg.nats.duplicate_window_ms, 120000);
	assert_int_equal(cfg.n_rules, 4);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_PUBLISH, "t/1", 3), 3u);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_PUBLISH, "u", 1), 0);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_CONNACK, NULL, 0), 1u << 1);
	assert_int_equal(nh_config_dests(&cfg, NH_EV_DISCONNECTED, NULL, 0), 1u << 0);
	free(msgs);
	nh_config_free(&cfg);

	/* A nats block no rule uses is said, not an error. */
	assert_int_equal(load_text(NH("nanohook { nats { url = \"nats://n\" } }"), &cfg, &msgs), 0);
	assert_string_equal(msgs, "t.conf:5:12: nanohook.nats: no rule has sink = nats or both, "
				  "so nothing is published to NATS\n");
	assert_int_equal(cfg.n_dests, 1);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_bad_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(value_errors) / sizeof(value_errors[0]); i++) {
		struct nh_config cfg;
		char *msgs;

		if (load_text(value_errors[i].text, &cfg, &msgs) != -1)
			fail_msg("case %zu loaded:\n%s", i, value_errors[i].text);
		if (strcmp(msgs, value_errors[i].msg) != 0)
			fail_msg("case %zu: got\n  %s\nexpected\n  %s", i, msgs,
				 value_errors[i].msg);
		free(msgs);
	}
}

static void test_good_values(void **state)
{
	struct nh_config cfg;
	char *msgs;

	(void)state;
	assert_int_equal(load_text(WH(" pool_size = \"1024\"\n cancel_timeout = 1h\n"
				      " body.encoding = BASE64\n url = \"HTTPS://[::1]:8443?q=1\""),
				   &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_int_equal(cfg.pool_size, 1024);
	assert_int_equal(cfg.cancel_timeout_ms, 3600000);
	assert_int_equal(cfg.encoding, NH_ENC_BASE64);
	assert_string_equal(cfg.url, "HTTPS://[::1]:8443/?q=1");
	free(msgs);
	nh_config_free(&cfg);

	assert_int_equal(load_text(NH("nanohook { capture.payload_max = 16KB, ringbuf_size = 1GB\n"
				      " ringbuf_size = 64KB, queue_max = 10000000 }"), &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_int_equal(cfg.payload_max, NH_PAYLOAD_LARGE);
	assert_int_equal(cfg.ringbuf_bytes, 64u << 10);
	assert_int_equal(cfg.queue_max, 10000000);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_tls_and_sign(void **state)
{
	struct nh_config cfg;
	char *msgs, *printed = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(load_text(
		"webhook {\n url = \"https://h:8443/x\"\n events = [ { event = on_client_connack } ]\n"
		" ssl { cacertfile = ca.pem, certfile = \"/etc/c.pem\", keyfile = k.pem,\n"
		"   key_password = \"pa55\", server_name = hooks.example, enable = true }\n}\n"
		"nanohook.sign.secret_file = \"/run/secrets/hook\"\n", &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_true(cfg.tls.present && cfg.tls.enable && cfg.tls.verify);
	assert_string_equal(cfg.tls.cacertfile, "ca.pem"); /* from memory: stays relative */
	assert_string_equal(cfg.tls.certfile, "/etc/c.pem");
	assert_string_equal(cfg.tls.keyfile, "k.pem");
	assert_string_equal(cfg.tls.server_name, "hooks.example");
	assert_string_equal(cfg.sign.secret_file, "/run/secrets/hook");
	assert_null(cfg.sign.secret_env);
	f = open_memstream(&printed, &len);
	nh_config_print(&cfg, f);
	fclose(f);
	assert_non_null(strstr(printed, "tls.key_password = ****\n"));
	assert_null(strstr(printed, "pa55"));
	assert_non_null(strstr(printed, "tls.server_name = hooks.example\n"));
	assert_non_null(strstr(printed, "secret in the file /run/secrets/hook\n"));
	free(printed);
	free(msgs);
	nh_config_free(&cfg);

	/* enable = false: the block is ignored, even on http:// */
	assert_int_equal(load_text(WH(" tls { enable = false, keyfile = k }"), &cfg, &msgs), 0);
	assert_string_equal(msgs, "");
	assert_false(cfg.tls.enable);
	free(msgs);
	nh_config_free(&cfg);
}

static void test_url_redact(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "http://h/x", "http://h/x" },
		{ "https://u:secret@h:1/x?token=abc", "https://u:****@h:1/x?****" },
		{ "https://user@h/x", "https://user@h/x" },
		{ "http://h/x?a=1&b=2", "http://h/x?****" },
		{ "http://u:p@h", "http://u:****@h" },
		{ "http://[::1]:80/?", "http://[::1]:80/?****" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = nh_url_redact(cases[i].in);

		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

static void test_event_names(void **state)
{
	static const char *const names[] = {
		"on_client_connack", "on_client_disconnected", "on_message_publish",
		"on_client_connect", "on_client_connected", "on_client_subscribe",
		"on_client_unsubscribe", "on_session_subscribed", "on_session_unsubscribed",
		"on_session_terminated", "on_message_delivered", "on_message_acked",
	};
	bool seen[NH_EV_MAX] = { false };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		enum nh_event_type ev = nh_event_from_name(names[i]);

		assert_true(ev > NH_EV_NONE && ev < NH_EV_MAX);
		assert_false(seen[ev]);
		seen[ev] = true;
		assert_string_equal(nh_event_name(ev), names[i]);
	}
	assert_int_equal(nh_event_from_name("on_client_connack"), NH_EV_CONNACK);
	assert_int_equal(nh_event_from_name("on_client_disconnected"), NH_EV_DISCONNECTED);
	assert_int_equal(nh_event_from_name("on_message_publish"), NH_EV_PUBLISH);
	assert_int_equal(nh_event_from_name("on_client_connected"), NH_EV_CONNECTED);
	assert_int_equal(nh_event_from_name("On_Message_Publish"), NH_EV_PUBLISH);
	assert_int_equal(nh_event_from_name("client_connack"), NH_EV_NONE);
	assert_int_equal(nh_event_from_name(""), NH_EV_NONE);
	assert_int_equal(nh_event_from_name(NULL), NH_EV_NONE);
	assert_string_equal(nh_event_name(NH_EV_NONE), "unknown");
	assert_string_equal(nh_event_name(NH_EV_MAX), "unknown");
}

/* A rule's "#" takes NanoMQ's '$' notices too, as NanoMQ's webhook does;
 * topic_match = mqtt follows MQTT's rule instead. */
static void topic_match_default_and_mqtt(void **state)
{
	struct nh_config cfg;
	char *msgs = NULL;

	(void)state;
	assert_int_equal(load_text("webhook { url = \"http://h/\", events = [ { event = "
				   "\"on_message_publish\", topic = \"#\" } ] }\n", &cfg, &msgs), 0);
	free(msgs);
	assert_wants(&cfg, NH_EV_PUBLISH, "$SYS/brokers/client_status/c1", true);
	assert_wants(&cfg, NH_EV_PUBLISH, "a/b", true);
	nh_config_free(&cfg);
	assert_int_equal(load_text("webhook { url = \"http://h/\", events = [ { event = "
				   "\"on_message_publish\", topic = \"#\" } ] }\n"
				   "nanohook { topic_match = mqtt }\n", &cfg, &msgs), 0);
	free(msgs);
	assert_wants(&cfg, NH_EV_PUBLISH, "$SYS/brokers/client_status/c1", false);
	assert_wants(&cfg, NH_EV_PUBLISH, "a/b", true);
	nh_config_free(&cfg);
	assert_int_not_equal(load_text("webhook { url = \"http://h/\", events = [ { event = "
				       "\"on_message_publish\" } ] }\nnanohook { topic_match = "
				       "strict }\n", &cfg, &msgs), 0);
	assert_non_null(strstr(msgs, "nanohook.topic_match: expected nanomq or mqtt"));
	free(msgs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(topic_match_default_and_mqtt),
		cmocka_unit_test(test_hocon_forms),
		cmocka_unit_test(test_hocon_positions),
		cmocka_unit_test(test_hocon_merge),
		cmocka_unit_test(test_hocon_root_bom_crlf),
		cmocka_unit_test(test_hocon_include_skipped),
		cmocka_unit_test(test_hocon_errors),
		cmocka_unit_test(test_hocon_nul_and_bad_bytes),
		cmocka_unit_test(test_hocon_depth_cap),
		cmocka_unit_test(test_hocon_durations_sizes),
		cmocka_unit_test(test_hocon_int_bool),
		cmocka_unit_test(test_golden_conf),
		cmocka_unit_test(test_full_nanomq_conf),
		cmocka_unit_test(test_webhook_only_conf),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_split_webhook_blocks_merge),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_pool_and_rule_urls),
		cmocka_unit_test(test_nats_sink),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_tls_and_sign),
		cmocka_unit_test(test_url_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
