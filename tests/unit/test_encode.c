/* SPDX-License-Identifier: MIT */
/*
 * Encoders: base64 (RFC 4648 vectors), NanoMQ's base62 (NanoMQ's own
 * outputs, and a transcription of its long-division algorithm as the
 * reference), the JSON string writer (against cJSON 1.7 itself, which is
 * what NanoMQ prints with) and its UTF-8 repair (against what Python's
 * bytes.decode("utf-8", "replace") gives, the Unicode-recommended
 * practice). The nh_buf basics they all stand on come first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cJSON.h>
#include <gmp.h>

#include "buf.h"
#include "encode.h"

/* xorshift64*: fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

/* out must equal the NUL-free C string `want`, whole. */
static void assert_buf_eq(const struct nh_buf *b, const char *want)
{
	assert_non_null(b->data);
	assert_int_equal(b->len, strlen(want));
	assert_string_equal(b->data, want);
}

/* ---- nh_buf ------------------------------------------------------------ */

static void test_buf_append_grows_and_stays_terminated(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;

	for (int i = 0; i < 1000; i++)
		assert_int_equal(nh_buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.len, 3000);
	assert_int_equal(b.data[3000], '\0');
	assert_memory_equal(b.data + 2997, "abc", 3);

	assert_int_equal(nh_buf_append(&b, "x\0y", 3), 0); /* NULs are content */
	assert_int_equal(b.len, 3003);
	assert_memory_equal(b.data + 3000, "x\0y", 3);
	nh_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_buf_append_fmt(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	char big[1000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(nh_buf_append_fmt(&b, "n=%d ", 42), 0);
	/* Longer than the room left: takes the second, resized attempt. */
	assert_int_equal(nh_buf_append_fmt(&b, "%s|%u", big, 7u), 0);
	assert_int_equal(b.len, 5 + 999 + 2);
	assert_memory_equal(b.data, "n=42 zzz", 8);
	assert_string_equal(b.data + 5 + 999, "|7");
	nh_buf_free(&b);
}

static void test_buf_truncate_reset_detach(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;

	assert_int_equal(nh_buf_append_str(&b, "hello world"), 0);
	nh_buf_truncate(&b, 5);
	assert_buf_eq(&b, "hello");
	nh_buf_truncate(&b, 50); /* never grows */
	assert_buf_eq(&b, "hello");
	assert_int_equal(nh_buf_append_byte(&b, '!'), 0);
	assert_buf_eq(&b, "hello!");

	size_t len = 0;
	char *p = nh_buf_detach(&b, &len);
	assert_int_equal(len, 6);
	assert_string_equal(p, "hello!");
	free(p);
	assert_null(b.data);

	p = nh_buf_detach(&b, &len); /* empty buffer: still a C string */
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);

	assert_int_equal(nh_buf_append_str(&b, "abc"), 0);
	char *mem = b.data;
	nh_buf_reset(&b);
	assert_buf_eq(&b, "");
	assert_ptr_equal(b.data, mem); /* memory kept for reuse */
	nh_buf_free(&b);
}

static void test_buf_reserve_overflow_fails_cleanly(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;

	assert_int_equal(nh_buf_append_str(&b, "keep"), 0);
	assert_int_equal(nh_buf_reserve(&b, SIZE_MAX - 2), -1);
	assert_int_equal(nh_buf_append(&b, "x", SIZE_MAX), -1);
	assert_buf_eq(&b, "keep");
	nh_buf_free(&b);
}

/* ---- base64 ------------------------------------------------------------ */

static void test_base64_rfc4648_vectors(void **state)
{
	(void)state;
	static const char *const v[][2] = {
		{ "", "" },           { "f", "Zg==" },         { "fo", "Zm8=" },
		{ "foo", "Zm9v" },    { "foob", "Zm9vYg==" },  { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
		{ "Hello World!", "SGVsbG8gV29ybGQh" },
		{ "v5 payload", "djUgcGF5bG9hZA==" },
	};
	struct nh_buf b = NH_BUF_INIT;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		nh_buf_reset(&b);
		assert_int_equal(nh_base64_append(&b, (const uint8_t *)v[i][0], strlen(v[i][0])), 0);
		assert_non_null(b.data);
		assert_string_equal(b.data, v[i][1]);
	}
	nh_buf_free(&b);
}

static void test_base64_all_byte_values(void **state)
{
	(void)state;
	/* The golden c-binary payload, and the top of both 6-bit halves. */
	static const uint8_t bin[] = { 0x00, 0x01, 0x02, 'b', 'i', 'n', 'a', 'r',
				       'y', 0xff, 0xfe, '"', 'q', '"', '\\', 0x0a };
	static const uint8_t ff[] = { 0xff, 0xff, 0xff, 0xfb, 0xef };
	struct nh_buf b = NH_BUF_INIT;

	assert_int_equal(nh_base64_append(&b, bin, sizeof(bin)), 0);
	assert_buf_eq(&b, "AAECYmluYXJ5//4icSJcCg==");
	nh_buf_reset(&b);
	assert_int_equal(nh_base64_append(&b, ff, sizeof(ff)), 0);
	assert_buf_eq(&b, "////++8=");
	nh_buf_free(&b);
}

static void test_base64_appends_after_existing_content(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;

	assert_int_equal(nh_buf_append_str(&b, "x="), 0);
	assert_int_equal(nh_base64_append(&b, (const uint8_t *)"foo", 3), 0);
	assert_int_equal(nh_base64_append(&b, NULL, 0), 0);
	assert_buf_eq(&b, "x=Zm9v");
	nh_buf_free(&b);
}

/* ---- base62 ------------------------------------------------------------ */

/* NanoMQ 0.25's algorithm, transcribed: count leading zero bytes, divide
 * the rest by 62 until nothing is left, one '0' per leading zero byte. */
static char *base62_reference(const uint8_t *in, size_t n)
{
	static const char al[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	char *out = malloc(n * 2 + 2);
	uint8_t *tmp = malloc(n + 1);
	size_t zeros = 0, o = 0;

	assert_non_null(out);
	assert_non_null(tmp);
	while (zeros < n && in[zeros] == 0)
		zeros++;
	if (n)
		memcpy(tmp, in, n);
	for (size_t start = zeros; start < n;) {
		unsigned rem = 0;
		for (size_t i = start; i < n; i++) {
			unsigned d = rem << 8 | tmp[i];
			tmp[i] = (uint8_t)(d / 62);
			rem = d % 62;
		}
		out[o++] = al[rem];
		while (start < n && tmp[start] == 0)
			start++;
	}
	for (size_t i = 0; i < zeros; i++)
		out[o++] = '0';
	for (size_t i = 0; i < o / 2; i++) {
		char t = out[i];
		out[i] = out[o - 1 - i];
		out[o - 1 - i] = t;
	}
	out[o] = '\0';
	free(tmp);
	return out;
}

static void test_base62_nanomq_vectors(void **state)
{
	(void)state;
	static const uint8_t bin[] = { 0x00, 0x01, 0x02, 'b', 'i', 'n', 'a', 'r',
				       'y', 0xff, 0xfe, '"', 'q', '"', '\\', 0x0a };
	static const char esc[] = "quote \" backslash \\ tab\t unicode \xc3\xa9 \xe2\x9c\x93";
	struct nh_buf b = NH_BUF_INIT;

	assert_int_equal(nh_base62_append(&b, (const uint8_t *)"Hello World!", 12), 0);
	assert_buf_eq(&b, "T8dgcjRGkZ3aysdN");
	nh_buf_reset(&b);
	assert_int_equal(nh_base62_append(&b, (const uint8_t *)"v5 payload", 10), 0);
	assert_buf_eq(&b, "2n1RUSZbVjI8LE");
	nh_buf_reset(&b);
	assert_int_equal(nh_base62_append(&b, bin, sizeof(bin)), 0);
	assert_buf_eq(&b, "0Sb4f1mWMpAlqLQcFUF8");
	nh_buf_reset(&b);
	assert_int_equal(nh_base62_append(&b, (const uint8_t *)esc, strlen(esc)), 0);
	assert_buf_eq(&b, "2JDAEiBSAEhQ2946ylz3onMKLd0YuEbfgbYXDlIn0pxnPDjhu4pbH");
	nh_buf_reset(&b);
	assert_int_equal(nh_base62_append(&b, (const uint8_t *)"v3.1", 4), 0);
	assert_buf_eq(&b, "2ACjxp");
	nh_buf_reset(&b);
	assert_int_equal(nh_base62_append(&b, NULL, 0), 0);
	assert_buf_eq(&b, "");
	nh_buf_free(&b);
}

static void test_base62_digits_and_leading_zeros(void **state)
{
	(void)state;
	static const struct {
		uint8_t in[4];
		size_t n;
		const char *out;
	} v[] = {
		{ { 0x01 }, 1, "1" },
		{ { 0x09 }, 1, "9" },
		{ { 0x0a }, 1, "A" },           /* digits, then upper case ... */
		{ { 0x23 }, 1, "Z" },
		{ { 0x24 }, 1, "a" },           /* ... then lower case: GMP's order */
		{ { 0x3d }, 1, "z" },
		{ { 0x3e }, 1, "10" },
		{ { 0xff }, 1, "47" },          /* 255 = 4*62 + 7 */
		{ { 0x00, 0xff }, 2, "047" },
		{ { 0x00, 0x00, 0x3d }, 3, "00z" },
		{ { 0x01, 0x00 }, 2, "48" },    /* inner zero bytes are digits */
		/* All zero: one '0' per byte, none for the value 0. */
		{ { 0x00 }, 1, "0" },
		{ { 0x00, 0x00 }, 2, "00" },
		{ { 0x00, 0x00, 0x00, 0x00 }, 4, "0000" },
	};
	struct nh_buf b = NH_BUF_INIT;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		nh_buf_reset(&b);
		assert_int_equal(nh_base62_append(&b, v[i].in, v[i].n), 0);
		assert_buf_eq(&b, v[i].out);
		char *ref = base62_reference(v[i].in, v[i].n);
		assert_string_equal(ref, v[i].out);
		free(ref);
	}
	nh_buf_free(&b);
}

static void test_base62_matches_nanomq_algorithm(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	uint8_t in[300];

	for (int iter = 0; iter < 3000; iter++) {
		size_t n = rnd() % sizeof(in);
		size_t zeros = rnd() % 4 == 0 ? rnd() % 5 : 0;
		for (size_t i = 0; i < n; i++)
			in[i] = i < zeros ? 0 : (uint8_t)rnd();
		nh_buf_reset(&b);
		assert_int_equal(nh_base62_append(&b, in, n), 0);
		char *ref = base62_reference(in, n);
		assert_int_equal(b.len, strlen(ref));
		assert_string_equal(b.data, ref);
		free(ref);
	}
	nh_buf_free(&b);
}

/* The NanoMQ way takes minutes here; what matters is that it finishes
 * and is right, which GMP reading it back checks. */
static void test_base62_one_mebibyte(void **state)
{
	(void)state;
	const size_t n = 1u << 20;
	uint8_t *in = malloc(n);
	struct nh_buf b = NH_BUF_INIT;

	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)rnd();
	in[0] = 0x00; /* one leading zero byte, then a non-zero one */
	in[1] |= 1;
	assert_int_equal(nh_base62_append(&b, in, n), 0);
	assert_int_equal(b.data[0], '0');
	assert_true(b.data[1] != '0');

	mpz_t z;
	mpz_init(z);
	assert_int_equal(mpz_set_str(z, b.data + 1, 62), 0);
	size_t count = 0;
	uint8_t *back = mpz_export(NULL, &count, 1, 1, 1, 0, z);
	assert_int_equal(count, n - 1);
	assert_memory_equal(back, in + 1, n - 1);
	void (*gmp_free)(void *, size_t);
	mp_get_memory_functions(NULL, NULL, &gmp_free);
	gmp_free(back, count);
	mpz_clear(z);
	free(in);
	nh_buf_free(&b);
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* An independent check: decode by bit pattern, then range-check the code
 * point (nh_utf8_valid works from byte ranges instead). */
static int utf8_ok_by_codepoint(const uint8_t *s, size_t n)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;
	while (i < n) {
		uint32_t c = s[i], cp;
		size_t len;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			cp = c & 0x1F;
			len = 2;
		} else if ((c & 0xF0) == 0xE0) {
			cp = c & 0x0F;
			len = 3;
		} else if ((c & 0xF8) == 0xF0) {
			cp = c & 0x07;
			len = 4;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

static void test_utf8_valid_boundaries(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int ok;
	} v[] = {
		{ "", 1 },
		{ "plain ascii", 1 },
		{ "\x7f", 1 },
		{ "\xc2\x80", 1 },             /* U+0080, first 2-byte */
		{ "\xdf\xbf", 1 },             /* U+07FF */
		{ "\xe0\xa0\x80", 1 },         /* U+0800, first 3-byte */
		{ "\xed\x9f\xbf", 1 },         /* U+D7FF, before surrogates */
		{ "\xee\x80\x80", 1 },         /* U+E000, after them */
		{ "\xef\xbf\xbf", 1 },         /* U+FFFF */
		{ "\xf0\x90\x80\x80", 1 },     /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 1 },     /* U+10FFFF, the last */
		{ "\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", 1 },
		{ "\x80", 0 },                 /* lone continuation */
		{ "\xbf", 0 },
		{ "\xc0\x80", 0 },             /* overlong NUL */
		{ "\xc1\xbf", 0 },             /* overlong U+007F */
		{ "\xe0\x9f\xbf", 0 },         /* overlong U+07FF */
		{ "\xf0\x8f\xbf\xbf", 0 },     /* overlong U+FFFF */
		{ "\xed\xa0\x80", 0 },         /* U+D800 */
		{ "\xed\xbf\xbf", 0 },         /* U+DFFF */
		{ "\xf4\x90\x80\x80", 0 },     /* U+110000 */
		{ "\xf5\x80\x80\x80", 0 },
		{ "\xff", 0 },
		{ "\xfe", 0 },
		{ "\xc3", 0 },                 /* truncated */
		{ "\xe2\x9c", 0 },
		{ "\xf0\x9f\x98", 0 },
		{ "\xe2\x9cx", 0 },            /* interrupted */
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const uint8_t *p = (const uint8_t *)v[i].s;
		size_t n = strlen(v[i].s);
		assert_int_equal(nh_utf8_valid(p, n), v[i].ok);
		assert_int_equal(utf8_ok_by_codepoint(p, n), v[i].ok);
	}
	assert_true(nh_utf8_valid((const uint8_t *)"a\0b", 3)); /* NUL is UTF-8 */
}

/* Bytes drawn mostly from lead/continuation ranges, so both outcomes are
 * common; the two validators must agree on every one. */
static void test_utf8_valid_agrees_with_codepoint_check(void **state)
{
	(void)state;
	static const uint8_t pick[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0,
					0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec,
					0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff };
	uint8_t s[8];
	int valid = 0;

	for (int iter = 0; iter < 200000; iter++) {
		size_t n = 1 + rnd() % sizeof(s);
		for (size_t i = 0; i < n; i++)
			s[i] = rnd() % 4 ? pick[rnd() % sizeof(pick)] : (uint8_t)rnd();
		int ok = utf8_ok_by_codepoint(s, n);
		valid += ok;
		assert_int_equal(nh_utf8_valid(s, n), ok);
	}
	assert_true(valid > 1000); /* the draw did exercise the valid side */
}

/* ---- JSON strings ------------------------------------------------------ */

static void json_str(struct nh_buf *b, const void *s, size_t n)
{
	nh_buf_reset(b);
	assert_int_equal(nh_json_append_str(b, s, n), 0);
}

/* What cJSON 1.7 prints for the C string s. */
static char *cjson_print(const char *s)
{
	cJSON *item = cJSON_CreateString(s);
	assert_non_null(item);
	char *out = cJSON_PrintUnformatted(item);
	assert_non_null(out);
	cJSON_Delete(item);
	return out;
}

static void test_json_escapes_every_control_char(void **state)
{
	(void)state;
	static const char *const want[32] = {
		NULL,       "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005",
		"\\u0006", "\\u0007", "\\b",     "\\t",     "\\n",     "\\u000b",
		"\\f",     "\\r",     "\\u000e", "\\u000f", "\\u0010", "\\u0011",
		"\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
		"\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d",
		"\\u001e", "\\u001f",
	};
	struct nh_buf b = NH_BUF_INIT;
	char in[4], expect[16];

	for (int c = 1; c < 32; c++) {
		in[0] = 'a';
		in[1] = (char)c;
		in[2] = 'z';
		in[3] = '\0';
		json_str(&b, in, 3);
		snprintf(expect, sizeof(expect), "\"a%sz\"", want[c]);
		assert_buf_eq(&b, expect);
		char *cj = cjson_print(in);
		assert_string_equal(b.data, cj);
		free(cj);
	}
	json_str(&b, "\"\\/\x7f", 4);
	assert_buf_eq(&b, "\"\\\"\\\\/\x7f\""); /* '/' and DEL verbatim, like cJSON */
	nh_buf_free(&b);
}

static void test_json_matches_cjson_on_every_ascii_byte(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	char all[128];

	for (int c = 1; c < 128; c++)
		all[c - 1] = (char)c;
	all[127] = '\0';
	json_str(&b, all, 127);
	char *cj = cjson_print(all);
	assert_string_equal(b.data, cj);
	free(cj);
	nh_buf_free(&b);
}

static size_t put_utf8(uint8_t *w, uint32_t cp)
{
	if (cp < 0x80) {
		w[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (uint8_t)(0xC0 | cp >> 6);
		w[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (uint8_t)(0xE0 | cp >> 12);
		w[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		w[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	w[0] = (uint8_t)(0xF0 | cp >> 18);
	w[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	w[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	w[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* On valid UTF-8 we are cJSON, byte for byte. */
static void test_json_matches_cjson_on_random_valid_utf8(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	uint8_t s[4 * 64 + 1];

	for (int iter = 0; iter < 5000; iter++) {
		size_t n = 0, count = rnd() % 64;
		for (size_t k = 0; k < count; k++) {
			uint32_t cp;
			switch (rnd() % 4) {
			case 0: cp = 1 + rnd() % 0x7f; break;
			case 1: cp = 1 + rnd() % 0x20; break;
			case 2: cp = 0x80 + rnd() % (0x10000 - 0x80); break;
			default: cp = 0x10000 + rnd() % (0x110000 - 0x10000); break;
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD;
			n += put_utf8(s + n, cp);
		}
		s[n] = 0;
		json_str(&b, s, n);
		char *cj = cjson_print((const char *)s);
		assert_string_equal(b.data, cj);
		free(cj);
	}
	nh_buf_free(&b);
}

static void test_json_cuts_at_first_nul(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;

	json_str(&b, "ab\0cd", 5);
	assert_buf_eq(&b, "\"ab\"");
	json_str(&b, "\0cd", 3);
	assert_buf_eq(&b, "\"\"");
	json_str(&b, "abcdef", 3); /* n bounds it when there is no NUL */
	assert_buf_eq(&b, "\"abc\"");
	json_str(&b, "\xe2\0\x9c\x93", 4); /* a NUL ends a sequence too */
	assert_buf_eq(&b, "\"\xef\xbf\xbd\"");
	nh_buf_reset(&b);
	assert_int_equal(nh_json_append_str(&b, NULL, 0), 0);
	assert_buf_eq(&b, "\"\"");
	nh_buf_free(&b);
}

#define FFFD "\xef\xbf\xbd"

/* Expected values are Python's bytes.decode("utf-8", "replace"): one
 * U+FFFD per maximal subpart of an ill-formed sequence. */
static void test_json_repairs_invalid_utf8(void **state)
{
	(void)state;
	static const char *const v[][2] = {
		{ "\xc0\xaf", FFFD FFFD },
		{ "\xe0\x80\xaf", FFFD FFFD FFFD },
		{ "\xed\xa0\x80", FFFD FFFD FFFD },
		{ "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD },
		{ "\xf0\x8f\xbf\xbf", FFFD FFFD FFFD FFFD },
		{ "\xe2\x9c", FFFD },
		{ "\xe2\x9c" "A", FFFD "A" },
		{ "\xf0\x9f\x98", FFFD },
		{ "\x80\x80", FFFD FFFD },
		{ "\xff", FFFD },
		{ "\xf5\x80", FFFD FFFD },
		{ "\xc3", FFFD },
		{ "\xc3\xa9\xc3", "\xc3\xa9" FFFD },
		{ "a\xe2(\xa1" "b", "a" FFFD "(" FFFD "b" },
		{ "\xff\"\xfe\n", FFFD "\\\"" FFFD "\\n" },
		/* well-formed, untouched */
		{ "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
		{ "\xef\xbf\xbf", "\xef\xbf\xbf" },
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },
		{ "\xed\x9f\xbf", "\xed\x9f\xbf" },
		{ "\xee\x80\x80", "\xee\x80\x80" },
		{ FFFD, FFFD },
	};
	struct nh_buf b = NH_BUF_INIT;
	char want[64];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		json_str(&b, v[i][0], strlen(v[i][0]));
		snprintf(want, sizeof(want), "\"%s\"", v[i][1]);
		assert_buf_eq(&b, want);
		assert_true(nh_utf8_valid((const uint8_t *)b.data, b.len));
	}
	nh_buf_free(&b);
}

/* Whatever the bytes, the literal is valid UTF-8 and cJSON reads back a
 * string; and for well-formed NUL-free input it reads back the input. */
static void test_json_random_bytes_always_valid(void **state)
{
	(void)state;
	struct nh_buf b = NH_BUF_INIT;
	uint8_t s[200];

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = rnd() % sizeof(s);
		for (size_t i = 0; i < n; i++)
			s[i] = (uint8_t)rnd();
		json_str(&b, s, n);
		assert_true(utf8_ok_by_codepoint((const uint8_t *)b.data, b.len));
		cJSON *j = cJSON_ParseWithLengthOpts(b.data, b.len + 1, NULL, 1);
		assert_non_null(j);
		assert_true(cJSON_IsString(j));
		size_t cut = strnlen((const char *)s, n);
		if (utf8_ok_by_codepoint(s, cut)) {
			assert_int_equal(strlen(j->valuestring), cut);
			assert_memory_equal(j->valuestring, s, cut);
		}
		cJSON_Delete(j);
	}
	nh_buf_free(&b);
}

/* Decoding undoes nh_base64_append for every length, and refuses what is
 * not strict RFC 4648 or does not fit. */
static void test_base64_decode(void **state)
{
	static const char *const bad[] = { "A", "AB=", "AB=C", "A===", "AB\nC", "ABC*", "=AAA", "AA==AAAA" };
	uint8_t in[64], out[64];
	struct nh_buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	nh_buf_init(&b);
	for (size_t n = 0; n <= sizeof(in); n++) {
		nh_buf_reset(&b);
		assert_int_equal(nh_base64_append(&b, in, n), 0);
		assert_int_equal(nh_base64_decode(b.data, b.len, out, sizeof(out)), (long)n);
		assert_memory_equal(out, in, n);
		if (n > 0) /* one byte short of room */
			assert_int_equal(nh_base64_decode(b.data, b.len, out, n - 1), -1);
	}
	nh_buf_free(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(nh_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_grows_and_stays_terminated),
		cmocka_unit_test(test_buf_append_fmt),
		cmocka_unit_test(test_base64_decode),
		cmocka_unit_test(test_buf_truncate_reset_detach),
		cmocka_unit_test(test_buf_reserve_overflow_fails_cleanly),
		cmocka_unit_test(test_base64_rfc4648_vectors),
		cmocka_unit_test(test_base64_all_byte_values),
		cmocka_unit_test(test_base64_appends_after_existing_content),
		cmocka_unit_test(test_base62_nanomq_vectors),
		cmocka_unit_test(test_base62_digits_and_leading_zeros),
		cmocka_unit_test(test_base62_matches_nanomq_algorithm),
		cmocka_unit_test(test_base62_one_mebibyte),
		cmocka_unit_test(test_utf8_valid_boundaries),
		cmocka_unit_test(test_utf8_valid_agrees_with_codepoint_check),
		cmocka_unit_test(test_json_escapes_every_control_char),
		cmocka_unit_test(test_json_matches_cjson_on_every_ascii_byte),
		cmocka_unit_test(test_json_matches_cjson_on_random_valid_utf8),
		cmocka_unit_test(test_json_cuts_at_first_nul),
		cmocka_unit_test(test_json_repairs_invalid_utf8),
		cmocka_unit_test(test_json_random_bytes_always_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
