/* SPDX-License-Identifier: MIT */
/*
 * Bodies against the real thing: every line NanoMQ 0.25.3 sent in
 * tests/golden/nanomq-0.25.3/ is rebuilt from the client actions listed
 * in its README and must come out byte for byte (ts taken from the line,
 * it differs per run). Then what NanoMQ gets wrong on purpose here: any
 * bytes at all still give valid JSON in valid UTF-8.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>
#include <gmp.h>

#include "body.h"
#include "buf.h"

#ifndef NH_SOURCE_DIR
#define NH_SOURCE_DIR "."
#endif
#define GOLDEN_DIR NH_SOURCE_DIR "/tests/golden/nanomq-0.25.3"

/* ---- the golden client actions (README.md of the golden folder) ------- */

struct golden_client {
	const char *id;
	const char *username; /* NULL: the client sent none */
	uint8_t proto_ver;
	uint16_t keepalive;
	bool publishes;       /* false: no publish body expected */
	const char *topic;
	uint8_t qos;
	bool retain;
	const char *payload;  /* NULL with publishes: binary.bin */
	size_t payload_len;
};

#define TEXT(s) s, sizeof(s) - 1

static const struct golden_client clients[] = {
	{ "c-v311-user", "alice", 4, 30, true, "nmq/pub", 1, true, TEXT("Hello World!") },
	{ "c-v5-nouser", NULL, 5, 60, true, "nmq/a/b", 2, false, TEXT("v5 payload") },
	{ "c-binary", NULL, 4, 60, true, "nmq/bin", 0, false, NULL, 0 },
	{ "c-empty", NULL, 4, 60, true, "nmq/empty", 1, false, TEXT("") },
	{ "c-escape", NULL, 4, 60, true, "nmq/esc", 0, false,
	  TEXT("quote \" backslash \\ tab\t unicode \xc3\xa9 \xe2\x9c\x93") },
	{ "c-nomatch", NULL, 4, 60, false, "other/topic", 0, false, TEXT("filtered out") },
	{ "c-v31", "bob", 3, 60, true, "nmq/v31", 0, false, TEXT("v3.1") },
	/* mosquitto_sub, SIGKILLed; NanoMQ reports code 0 ("normal"). */
	{ "c-killed", NULL, 4, 60, false, NULL, 0, false, NULL, 0 },
};
#define N_CLIENTS (sizeof(clients) / sizeof(clients[0]))

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	struct nh_buf b = NH_BUF_INIT;
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(nh_buf_append(&b, chunk, got), 0);
	fclose(f);
	return nh_buf_detach(&b, len);
}

static struct nh_str mkstr(const char *s)
{
	struct nh_str r = { s, s ? strlen(s) : 0 };
	return r;
}

static struct nh_event client_event(const struct golden_client *c, enum nh_event_type type,
				    const uint8_t *binary, size_t binary_len)
{
	struct nh_event ev = { 0 };
	ev.type = type;
	ev.clientid = mkstr(c->id);
	ev.has_username = c->username != NULL;
	ev.username = mkstr(c->username);
	ev.proto_ver = c->proto_ver;
	ev.keepalive = c->keepalive;
	ev.code = 0;
	if (type == NH_EV_PUBLISH) {
		ev.topic = mkstr(c->topic);
		ev.qos = c->qos;
		ev.retain = c->retain;
		ev.payload = c->payload ? (const uint8_t *)c->payload : binary;
		ev.payload_len = c->payload ? c->payload_len : binary_len;
		ev.payload_full_len = ev.payload_len;
	}
	return ev;
}

static void check_golden(const char *file, enum nh_encoding enc)
{
	char path[512];
	size_t bin_len, text_len;

	snprintf(path, sizeof(path), "%s/binary.bin", GOLDEN_DIR);
	uint8_t *binary = (uint8_t *)read_file(path, &bin_len);
	assert_int_equal(bin_len, 16);
	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, file);
	char *text = read_file(path, &text_len);

	/* seen[client][0..2] = connack, disconnected, publish lines matched */
	int seen[N_CLIENTS][3] = { { 0 } };
	int lines = 0;
	struct nh_buf out = NH_BUF_INIT;

	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		lines++;

		cJSON *j = cJSON_Parse(line);
		assert_non_null(j);
		const char *action = cJSON_GetStringValue(cJSON_GetObjectItem(j, "action"));
		assert_non_null(action);
		enum nh_event_type type = NH_EV_NONE;
		const char *id_key = "clientid";
		int slot = 0;
		if (strcmp(action, "client_connack") == 0) {
			type = NH_EV_CONNACK;
			slot = 0;
		} else if (strcmp(action, "client_disconnected") == 0) {
			type = NH_EV_DISCONNECTED;
			slot = 1;
		} else if (strcmp(action, "message_publish") == 0) {
			type = NH_EV_PUBLISH;
			slot = 2;
			id_key = "from_client_id";
		} else {
			fail_msg("%s: unexpected action %s", file, action);
		}
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(j, id_key));
		assert_non_null(id);
		size_t ci = 0;
		while (ci < N_CLIENTS && strcmp(clients[ci].id, id) != 0)
			ci++;
		if (ci == N_CLIENTS)
			fail_msg("%s: line for unknown client %s", file, id);

		struct nh_event ev = client_event(&clients[ci], type, binary, bin_len);
		if (type == NH_EV_PUBLISH) {
			const char *ts = strstr(line, "{\"ts\":");
			assert_ptr_equal(ts, line);
			ev.ts_ms = strtoull(line + 6, NULL, 10);
		}
		nh_buf_reset(&out);
		assert_int_equal(nh_body_build(&out, &ev, enc), 0);
		if (out.len != strlen(line) || memcmp(out.data, line, out.len) != 0)
			fail_msg("%s: %s %s\n  golden: %s\n  built:  %s", file, action, id, line,
				 out.data);
		seen[ci][slot]++;
		cJSON_Delete(j);
	}

	/* Each client: one connack, one disconnected, one publish unless its
	 * topic was filtered out or it never published. */
	int expected = 0;
	for (size_t ci = 0; ci < N_CLIENTS; ci++) {
		int want_pub = clients[ci].publishes ? 1 : 0;
		if (seen[ci][0] != 1 || seen[ci][1] != 1 || seen[ci][2] != want_pub)
			fail_msg("%s: %s: connack %d, disconnected %d, publish %d lines", file,
				 clients[ci].id, seen[ci][0], seen[ci][1], seen[ci][2]);
		expected += 2 + want_pub;
	}
	assert_int_equal(lines, expected);
	assert_int_equal(lines, 22);

	nh_buf_free(&out);
	free(text);
	free(binary);
}

static void test_golden_plain(void **state)
{
	(void)state;
	check_golden("bodies-plain.jsonl", NH_ENC_PLAIN);
}

static void test_golden_base64(void **state)
{
	(void)state;
	check_golden("bodies-base64.jsonl", NH_ENC_BASE64);
}

static void test_golden_base62(void **state)
{
	(void)state;
	check_golden("bodies-base62.jsonl", NH_ENC_BASE62);
}

/* ---- beyond the golden lines ------------------------------------------ */

static void build_ok(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	nh_buf_reset(b);
	assert_int_equal(nh_body_build(b, ev, enc), 0);
}

static void test_connack_fail_and_disconnect_abnormal(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	struct nh_event ev = { 0 };

	ev.clientid = mkstr("c1");
	ev.has_username = true;
	ev.username = mkstr("");  /* sent, but empty: not "undefined" */
	ev.proto_ver = 5;
	ev.keepalive = 65535;
	ev.code = 0x87;

	ev.type = NH_EV_CONNACK;
	build_ok(&b, &ev, NH_ENC_PLAIN);
	assert_string_equal(b.data, "{\"proto_ver\":5,\"keepalive\":65535,\"conn_ack\":\"fail\","
				    "\"username\":\"\",\"clientid\":\"c1\",\"action\":\"client_connack\"}");
	ev.type = NH_EV_DISCONNECTED;
	build_ok(&b, &ev, NH_ENC_PLAIN);
	assert_string_equal(b.data, "{\"reason\":\"abnormal\",\"username\":\"\",\"clientid\":\"c1\","
				    "\"action\":\"client_disconnected\"}");
	/* Below 0x80 is not an error: 0x04 (with will), and NanoMQ's 7 for a
	 * clean MQTT 5 DISCONNECT without a body. 0x80 is the first error. */
	static const struct { uint8_t code; const char *reason; } reasons[] = {
		{ 0x00, "normal" }, { 0x04, "normal" }, { 0x07, "normal" },
		{ 0x7f, "normal" }, { 0x80, "abnormal" }, { 0x8b, "abnormal" },
		{ 0x8d, "abnormal" }, { 0x8e, "abnormal" },
	};
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		char want[64];

		ev.code = reasons[i].code;
		build_ok(&b, &ev, NH_ENC_PLAIN);
		snprintf(want, sizeof(want), "{\"reason\":\"%s\",", reasons[i].reason);
		assert_memory_equal(b.data, want, strlen(want));
	}
	nh_buf_free(&b);
}

static void test_publish_empty_and_nul_payloads(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	struct nh_event ev = { 0 };
	const char *head = "{\"ts\":18446744073709551615,\"topic\":\"t\",\"retain\":false,\"qos\":0,"
			   "\"action\":\"message_publish\",\"from_username\":\"undefined\","
			   "\"from_client_id\":\"c\"";
	char want[512];

	ev.type = NH_EV_PUBLISH;
	ev.ts_ms = UINT64_MAX;
	ev.clientid = mkstr("c");
	ev.topic = mkstr("t");

	/* Truly empty: plain drops the key, base64 says null, base62 "". */
	build_ok(&b, &ev, NH_ENC_PLAIN);
	snprintf(want, sizeof(want), "%s}", head);
	assert_string_equal(b.data, want);
	build_ok(&b, &ev, NH_ENC_BASE64);
	snprintf(want, sizeof(want), "%s,\"payload\":null}", head);
	assert_string_equal(b.data, want);
	build_ok(&b, &ev, NH_ENC_BASE62);
	snprintf(want, sizeof(want), "%s,\"payload\":\"\"}", head);
	assert_string_equal(b.data, want);

	/* Zero bytes: plain cuts at the first, the others keep them all. */
	static const uint8_t zeros[] = { 0, 0, 'a' };
	ev.payload = zeros;
	ev.payload_len = ev.payload_full_len = sizeof(zeros);
	build_ok(&b, &ev, NH_ENC_PLAIN);
	snprintf(want, sizeof(want), "%s,\"payload\":\"\"}", head);
	assert_string_equal(b.data, want);
	build_ok(&b, &ev, NH_ENC_BASE64);
	snprintf(want, sizeof(want), "%s,\"payload\":\"AABh\"}", head);
	assert_string_equal(b.data, want);
	build_ok(&b, &ev, NH_ENC_BASE62);
	/* two zero bytes, then 'a' = 97 = 1*62 + 35 -> "1Z" */
	snprintf(want, sizeof(want), "%s,\"payload\":\"001Z\"}", head);
	assert_string_equal(b.data, want);
	nh_buf_free(&b);
}

static void test_strings_from_broker_memory_are_repaired(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	struct nh_event ev = { 0 };
	static const uint8_t payload[] = { 'o', 'k', 0xff, '\n' };

	ev.type = NH_EV_PUBLISH;
	ev.ts_ms = 1;
	ev.clientid = (struct nh_str){ "id\xc0\x80", 4 };
	ev.has_username = true;
	ev.username = (struct nh_str){ "u\"\xed\xa0\x80", 5 };
	ev.topic = (struct nh_str){ "a/\xe2\x9c", 4 };
	ev.qos = 2;
	ev.retain = true;
	ev.payload = payload;
	ev.payload_len = ev.payload_full_len = sizeof(payload);
	build_ok(&b, &ev, NH_ENC_PLAIN);
	assert_string_equal(b.data,
			    "{\"ts\":1,\"topic\":\"a/\xef\xbf\xbd\",\"retain\":true,\"qos\":2,"
			    "\"action\":\"message_publish\","
			    "\"from_username\":\"u\\\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
			    "\"from_client_id\":\"id\xef\xbf\xbd\xef\xbf\xbd\","
			    "\"payload\":\"ok\xef\xbf\xbd\\n\"}");
	nh_buf_free(&b);
}

/* delivered / acked of an empty message carry "payload":"" in every
 * encoding (EMQX 4's shape), never null or nothing as NanoMQ's publish. */
static void test_delivered_empty_payload_is_a_string(void **state)
{
	(void)state;
	static const enum nh_encoding encs[] = { NH_ENC_PLAIN, NH_ENC_BASE64, NH_ENC_BASE62 };
	static const enum nh_event_type types[] = { NH_EV_DELIVERED, NH_EV_ACKED };
	struct nh_event ev = { 0 };

	ev.ts_ms = 1;
	ev.clientid = mkstr("c1");
	ev.topic = mkstr("t");
	ev.from_clientid = mkstr("p1");
	for (size_t t = 0; t < 2; t++)
		for (size_t e = 0; e < 3; e++) {
			struct nh_buf b = NH_BUF_INIT;

			ev.type = types[t];
			assert_int_equal(nh_body_build(&b, &ev, encs[e]), 0);
			assert_non_null(strstr(b.data, ",\"payload\":\"\"}"));
			nh_buf_free(&b);
		}
}

/* The nine EMQX-4-style bodies, key for key. */
static void test_emqx_style_bodies(void **state)
{
	(void)state;
	static const struct {
		enum nh_event_type type;
		const char *want;
	} cases[] = {
		{ NH_EV_CONNECT, "{\"proto_ver\":5,\"keepalive\":30,\"ipaddress\":\"127.0.0.1\","
				 "\"username\":\"alice\",\"clientid\":\"c1\",\"action\":\"client_connect\"}" },
		{ NH_EV_CONNECTED, "{\"proto_ver\":5,\"keepalive\":30,\"ipaddress\":\"127.0.0.1\","
				   "\"connected_at\":1700000000123,\"username\":\"alice\",\"clientid\":\"c1\","
				   "\"action\":\"client_connected\"}" },
		{ NH_EV_SUBSCRIBE, "{\"topic\":\"a/+\",\"opts\":{\"qos\":2},\"username\":\"alice\","
				   "\"clientid\":\"c1\",\"action\":\"client_subscribe\"}" },
		{ NH_EV_UNSUBSCRIBE, "{\"topic\":\"a/+\",\"opts\":{},\"username\":\"alice\","
				     "\"clientid\":\"c1\",\"action\":\"client_unsubscribe\"}" },
		{ NH_EV_SESSION_SUBSCRIBED, "{\"topic\":\"a/+\",\"opts\":{\"qos\":2},\"username\":\"alice\","
					    "\"clientid\":\"c1\",\"action\":\"session_subscribed\"}" },
		{ NH_EV_SESSION_UNSUBSCRIBED, "{\"topic\":\"a/+\",\"username\":\"alice\",\"clientid\":\"c1\","
					      "\"action\":\"session_unsubscribed\"}" },
		{ NH_EV_SESSION_TERMINATED, "{\"reason\":\"normal\",\"username\":\"alice\",\"clientid\":\"c1\","
					    "\"action\":\"session_terminated\"}" },
		{ NH_EV_DELIVERED, "{\"ts\":1700000000123,\"topic\":\"a/+\",\"retain\":true,\"qos\":1,"
				   "\"action\":\"message_delivered\",\"from_username\":\"undefined\","
				   "\"from_client_id\":\"p1\",\"username\":\"alice\",\"clientid\":\"c1\","
				   "\"payload\":\"hi\"}" },
		{ NH_EV_ACKED, "{\"ts\":1700000000123,\"topic\":\"a/+\",\"retain\":true,\"qos\":1,"
			       "\"action\":\"message_acked\",\"from_username\":\"undefined\","
			       "\"from_client_id\":\"p1\",\"username\":\"alice\",\"clientid\":\"c1\","
			       "\"payload\":\"hi\"}" },
	};
	struct nh_event ev = { 0 };

	ev.ts_ms = 1700000000123ull;
	ev.clientid = mkstr("c1");
	ev.username = mkstr("alice");
	ev.has_username = true;
	ev.proto_ver = 5;
	ev.keepalive = 30;
	ev.ipaddress = mkstr("127.0.0.1");
	ev.topic = mkstr("a/+");
	ev.sub_qos = 2;
	ev.qos = 1;
	ev.retain = true;
	ev.from_clientid = mkstr("p1");
	ev.payload = (const uint8_t *)"hi";
	ev.payload_len = ev.payload_full_len = 2;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nh_buf b = NH_BUF_INIT;

		ev.type = cases[i].type;
		assert_int_equal(nh_body_build(&b, &ev, NH_ENC_PLAIN), 0);
		assert_string_equal(b.data, cases[i].want);
		nh_buf_free(&b);
	}

	/* Terminated reasons: takeover, expiry, a fault. */
	static const struct {
		bool takeover, expired;
		uint8_t code;
		const char *reason;
	} reasons[] = {
		{ true, false, 0x8e, "takeovered" },
		{ false, true, 0, "expired" },
		{ false, false, 0x8b, "abnormal" },
	};
	ev.type = NH_EV_SESSION_TERMINATED;
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		struct nh_buf b = NH_BUF_INIT;
		char want[160];

		ev.takeover = reasons[i].takeover;
		ev.session_expired = reasons[i].expired;
		ev.code = reasons[i].code;
		snprintf(want, sizeof(want), "{\"reason\":\"%s\",", reasons[i].reason);
		assert_int_equal(nh_body_build(&b, &ev, NH_ENC_PLAIN), 0);
		assert_memory_equal(b.data, want, strlen(want));
		nh_buf_free(&b);
	}
	/* No address known: "undefined", as for a missing username. */
	struct nh_buf b = NH_BUF_INIT;
	ev.type = NH_EV_CONNECT;
	ev.ipaddress = mkstr("");
	assert_int_equal(nh_body_build(&b, &ev, NH_ENC_PLAIN), 0);
	assert_non_null(strstr(b.data, "\"ipaddress\":\"undefined\""));
	nh_buf_free(&b);
}

static void test_appends_and_undoes_on_error(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	struct nh_event ev = { 0 };

	assert_int_equal(nh_buf_append_str(&b, "prefix:"), 0);
	ev.type = NH_EV_DISCONNECTED;
	ev.clientid = mkstr("c");
	assert_int_equal(nh_body_build(&b, &ev, NH_ENC_PLAIN), 0);
	assert_string_equal(b.data, "prefix:{\"reason\":\"normal\",\"username\":\"undefined\","
				    "\"clientid\":\"c\",\"action\":\"client_disconnected\"}");

	nh_buf_reset(&b);
	assert_int_equal(nh_buf_append_str(&b, "keep"), 0);
	/* Only "no event" and out-of-range types have no body. */
	for (int t = NH_EV_NONE; t <= NH_EV_MAX; t += NH_EV_MAX) {
		ev.type = (enum nh_event_type)t;
		errno = 0;
		assert_int_equal(nh_body_build(&b, &ev, NH_ENC_PLAIN), -1);
		assert_int_equal(errno, ENOTSUP);
		assert_string_equal(b.data, "keep");
	}

	/* An unknown encoding fails after the head was written: undone. */
	ev.type = NH_EV_PUBLISH;
	ev.payload = (const uint8_t *)"x";
	ev.payload_len = ev.payload_full_len = 1;
	errno = 0;
	assert_int_equal(nh_body_build(&b, &ev, (enum nh_encoding)7), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");
	nh_buf_free(&b);
}

/* ---- any bytes: valid JSON, valid UTF-8 -------------------------------- */

static uint64_t rng_state = 0xD1B54A32D192ED03ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* Decodes by bit pattern and range-checks the code point: a second
 * opinion, independent of nh_utf8_valid. */
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

static size_t b64_decode(const char *s, uint8_t *out)
{
	size_t n = 0, bits = 0;
	uint32_t acc = 0;
	for (; *s && *s != '='; s++) {
		const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *p = strchr(al, *s);
		assert_non_null(p);
		acc = acc << 6 | (uint32_t)(p - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

/* Random bytes: mostly noise, sometimes NULs, sometimes valid text. */
static size_t random_bytes(uint8_t *s, size_t cap)
{
	size_t n = rnd() % cap;
	int kind = (int)(rnd() % 4);
	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case 0: s[i] = (uint8_t)rnd(); break;
		case 1: s[i] = rnd() % 8 ? (uint8_t)(0x20 + rnd() % 0x5f) : 0; break;
		case 2: s[i] = (uint8_t)(0x80 + rnd() % 0x80); break;
		default: s[i] = (uint8_t)(1 + rnd() % 0x7f); break;
		}
	}
	return n;
}

static void check_parsed_publish(const struct nh_buf *b, const struct nh_event *ev,
				 enum nh_encoding enc)
{
	assert_true(utf8_ok((const uint8_t *)b->data, b->len));
	cJSON *j = cJSON_ParseWithLengthOpts(b->data, b->len + 1, NULL, 1);
	if (!j)
		fail_msg("not JSON: %s", b->data);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "action")),
			    "message_publish");
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "topic")));
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "from_client_id")));
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "from_username")));

	const uint8_t *p = ev->payload;
	size_t n = ev->payload_len;
	cJSON *pl = cJSON_GetObjectItem(j, "payload");
	switch (enc) {
	case NH_ENC_PLAIN: {
		if (n == 0) {
			assert_null(pl);
			break;
		}
		assert_true(cJSON_IsString(pl));
		size_t cut = strnlen((const char *)p, n);
		if (utf8_ok(p, cut)) {
			assert_int_equal(strlen(pl->valuestring), cut);
			assert_memory_equal(pl->valuestring, p, cut);
		}
		break;
	}
	case NH_ENC_BASE64: {
		if (n == 0) {
			assert_true(cJSON_IsNull(pl));
			break;
		}
		assert_true(cJSON_IsString(pl));
		uint8_t back[512];
		assert_int_equal(b64_decode(pl->valuestring, back), n);
		assert_memory_equal(back, p, n);
		break;
	}
	case NH_ENC_BASE62: {
		assert_true(cJSON_IsString(pl));
		const char *s = pl->valuestring;
		size_t zeros = 0;
		while (zeros < n && p[zeros] == 0)
			zeros++;
		for (size_t i = 0; i < zeros; i++)
			assert_int_equal(s[i], '0');
		if (zeros == n) {
			assert_int_equal(strlen(s), n);
			break;
		}
		mpz_t got, want;
		mpz_init(got);
		mpz_init(want);
		assert_int_equal(mpz_set_str(got, s + zeros, 62), 0);
		assert_true(s[zeros] != '0');
		mpz_import(want, n - zeros, 1, 1, 1, 0, p + zeros);
		assert_int_equal(mpz_cmp(got, want), 0);
		mpz_clear(got);
		mpz_clear(want);
		break;
	}
	}
	cJSON_Delete(j);
}

static void test_random_payloads_give_valid_json(void **state)
{
	(void)state;
	static const enum nh_encoding encs[] = { NH_ENC_PLAIN, NH_ENC_BASE64, NH_ENC_BASE62 };
	struct nh_buf b = NH_BUF_INIT;
	uint8_t payload[300], id[40], user[40], topic[60];

	for (int iter = 0; iter < 2000; iter++) {
		struct nh_event ev = { 0 };
		ev.type = NH_EV_PUBLISH;
		ev.ts_ms = rnd() >> (rnd() % 64);
		ev.clientid = (struct nh_str){ (const char *)id, random_bytes(id, sizeof(id)) };
		ev.has_username = rnd() % 2;
		ev.username = (struct nh_str){ (const char *)user, random_bytes(user, sizeof(user)) };
		ev.topic = (struct nh_str){ (const char *)topic, random_bytes(topic, sizeof(topic)) };
		ev.qos = (uint8_t)(rnd() % 3);
		ev.retain = rnd() % 2;
		ev.payload = payload;
		ev.payload_len = ev.payload_full_len = random_bytes(payload, sizeof(payload));

		for (size_t e = 0; e < 3; e++) {
			build_ok(&b, &ev, encs[e]);
			check_parsed_publish(&b, &ev, encs[e]);
		}

		/* The same strings through the two client bodies. */
		for (int t = NH_EV_CONNACK; t <= NH_EV_DISCONNECTED; t++) {
			ev.type = (enum nh_event_type)t;
			ev.code = (uint8_t)(rnd() % 2);
			build_ok(&b, &ev, NH_ENC_PLAIN);
			assert_true(utf8_ok((const uint8_t *)b.data, b.len));
			cJSON *j = cJSON_ParseWithLengthOpts(b.data, b.len + 1, NULL, 1);
			if (!j)
				fail_msg("not JSON: %s", b.data);
			assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "clientid")));
			cJSON_Delete(j);
		}
	}
	nh_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_plain),
		cmocka_unit_test(test_golden_base64),
		cmocka_unit_test(test_golden_base62),
		cmocka_unit_test(test_connack_fail_and_disconnect_abnormal),
		cmocka_unit_test(test_publish_empty_and_nul_payloads),
		cmocka_unit_test(test_strings_from_broker_memory_are_repaired),
		cmocka_unit_test(test_emqx_style_bodies),
		cmocka_unit_test(test_delivered_empty_payload_is_a_string),
		cmocka_unit_test(test_appends_and_undoes_on_error),
		cmocka_unit_test(test_random_payloads_give_valid_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
