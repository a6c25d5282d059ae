/* SPDX-License-Identifier: MIT */
#include "encode.h"

#include <errno.h>
#include <gmp.h>
#include <stdint.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int nh_base64_append(struct nh_buf *out, const uint8_t *p, size_t n)
{
	if (n > SIZE_MAX / 4 * 3 - 3) {
		errno = ENOMEM;
		return -1;
	}
	size_t olen = (n + 2) / 3 * 4;
	if (nh_buf_reserve(out, olen) < 0)
		return -1;

	char *w = out->data + out->len;
	size_t i = 0;
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*w++ = b64_alphabet[v >> 18];
		*w++ = b64_alphabet[(v >> 12) & 63];
		*w++ = b64_alphabet[(v >> 6) & 63];
		*w++ = b64_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*w++ = b64_alphabet[v >> 18];
		*w++ = b64_alphabet[(v >> 12) & 63];
		*w++ = '=';
		*w++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*w++ = b64_alphabet[v >> 18];
		*w++ = b64_alphabet[(v >> 12) & 63];
		*w++ = b64_alphabet[(v >> 6) & 63];
		*w++ = '=';
	}
	nh_buf_commit(out, olen);
	return 0;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long nh_base64_decode(const char *in, size_t n, uint8_t *out, size_t max)
{
	size_t o = 0;

	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];

			if (c == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad || (v[k] = b64_value(c)) < 0)
				return -1;
		}
		if (o + 3 - (size_t)pad > max)
			return -1;
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	}
	return (long)o;
}

/*
 * NanoMQ 0.25 divides the payload by 62 over and over (quadratic); the
 * same number written by GMP's mpz_get_str is subquadratic, and GMP's
 * digits for base 62 are 0-9, A-Z, a-z, the alphabet NanoMQ uses.
 *
 * Leading zero bytes: NanoMQ counts them, converts the rest, and emits one
 * '0' per zero byte before the digits. When every byte is zero, the rest
 * is empty and its division loop never runs, so there are no digits at
 * all: 00 -> "0", 00 00 -> "00" (not "000": the value 0 itself adds no
 * digit). We do the same, which mpz_get_str alone would not (it writes
 * "0" for zero).
 *
 * GMP aborts the process if it cannot allocate; payloads are capped at
 * NH_PAYLOAD_LARGE bytes, so its needs stay small.
 */
int nh_base62_append(struct nh_buf *out, const uint8_t *p, size_t n)
{
	size_t zeros = 0;
	while (zeros < n && p[zeros] == 0)
		zeros++;

	if (zeros == n) {
		if (nh_buf_reserve(out, n) < 0)
			return -1;
		memset(out->data + out->len, '0', n);
		nh_buf_commit(out, n);
		return 0;
	}

	mpz_t z;
	mpz_init(z);
	mpz_import(z, n - zeros, 1, 1, 1, 0, p + zeros);
	/* mpz_sizeinbase may be one too big; mpz_get_str wants room for a
	 * sign and the NUL on top (reserve adds the NUL). */
	size_t digits = mpz_sizeinbase(z, 62);
	if (digits > SIZE_MAX - 2 - zeros || nh_buf_reserve(out, zeros + digits + 1) < 0) {
		mpz_clear(z);
		errno = ENOMEM;
		return -1;
	}
	char *w = out->data + out->len;
	memset(w, '0', zeros);
	mpz_get_str(w + zeros, 62, z);
	nh_buf_commit(out, zeros + strlen(w + zeros));
	mpz_clear(z);
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at p[0] (1..4), or 0 if there
 * is none; then *bad is the length of its maximal subpart (1..3), the
 * bytes one U+FFFD stands for. The lead byte decides the allowed range of
 * the second byte, which is what excludes overlongs (E0, F0), surrogates
 * (ED) and code points above U+10FFFF (F4); see Unicode Table 3-7.
 */
static size_t utf8_seq(const uint8_t *p, size_t n, size_t *bad)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xBF;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		*bad = 1; /* continuation byte, C0, C1, F5..FF */
		return 0;
	}

	size_t i = 1;
	for (; i < need && i < n; i++) {
		if (p[i] < lo || p[i] > hi)
			break;
		lo = 0x80;
		hi = 0xBF;
	}
	if (i == need)
		return need;
	*bad = i;
	return 0;
}

bool nh_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0, bad;
	while (i < n) {
		size_t k = utf8_seq(p + i, n - i, &bad);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* cJSON's escape for a byte below 0x20 or '"' or '\\', in `tmp`. */
static size_t json_escape(uint8_t c, char tmp[7])
{
	char e;
	switch (c) {
	case '"': e = '"'; break;
	case '\\': e = '\\'; break;
	case '\b': e = 'b'; break;
	case '\f': e = 'f'; break;
	case '\n': e = 'n'; break;
	case '\r': e = 'r'; break;
	case '\t': e = 't'; break;
	default: {
		static const char hex[] = "0123456789abcdef";
		memcpy(tmp, "\\u00", 4);
		tmp[4] = hex[c >> 4];
		tmp[5] = hex[c & 15];
		return 6;
	}
	}
	tmp[0] = '\\';
	tmp[1] = e;
	return 2;
}

/* p[from..to); never forms p + 0 from a NULL p (UB, and UBSan says so). */
static int append_run(struct nh_buf *out, const uint8_t *p, size_t from, size_t to)
{
	return to > from ? nh_buf_append(out, p + from, to - from) : 0;
}

int nh_json_append_str(struct nh_buf *out, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t start = out->len;
	size_t i = 0, run = 0; /* p[run..i) is copied verbatim */

	if (nh_buf_append_byte(out, '"') < 0)
		return -1;
	while (i < n && p[i] != 0) {
		uint8_t c = p[i];
		char tmp[7];
		const char *rep;
		size_t rep_len, skip;

		if (c >= 0x20 && c != '"' && c != '\\') {
			size_t bad;
			size_t k = c < 0x80 ? 1 : utf8_seq(p + i, n - i, &bad);
			if (k) {
				i += k;
				continue;
			}
			rep = "\xEF\xBF\xBD";
			rep_len = 3;
			skip = bad;
		} else {
			rep_len = json_escape(c, tmp);
			rep = tmp;
			skip = 1;
		}
		if (append_run(out, p, run, i) < 0 ||
		    nh_buf_append(out, rep, rep_len) < 0)
			goto fail;
		i += skip;
		run = i;
	}
	if (append_run(out, p, run, i) < 0 ||
	    nh_buf_append_byte(out, '"') < 0)
		goto fail;
	return 0;

fail:
	nh_buf_truncate(out, start);
	errno = ENOMEM;
	return -1;
}
