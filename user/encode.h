/* SPDX-License-Identifier: MIT */
/*
 * The encoders a NanoMQ webhook body needs: base64 and NanoMQ's base62 for
 * payloads, and a JSON string writer that escapes like cJSON 1.7 (what
 * NanoMQ builds its bodies with) but always yields valid UTF-8.
 *
 * Every function appends to `out` and returns 0, or -1 with errno = ENOMEM
 * and `out` as it was.
 */
#ifndef NH_ENCODE_H
#define NH_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* RFC 4648 base64, standard alphabet, with '=' padding. Empty in, empty
 * out. */
int nh_base64_append(struct nh_buf *out, const uint8_t *p, size_t n);

/* The reverse, strict: only the standard alphabet, length a multiple of
 * 4, '=' only as the last one or two. Writes at most `max` bytes to out;
 * returns how many, or -1 for anything else (bad input, more than max).
 * Unlike the rest of this file it does not append to an nh_buf: its
 * callers decode into fixed or exactly sized buffers (keys, bodies). */
long nh_base64_decode(const char *in, size_t n, uint8_t *out, size_t max);

/* NanoMQ's base62: the bytes read as one big-endian unsigned integer,
 * written with the digits 0-9A-Za-z, preceded by one '0' per leading 0x00
 * byte. Empty in, empty out. Subquadratic (GMP). */
int nh_base62_append(struct nh_buf *out, const uint8_t *p, size_t n);

/* A JSON string literal, quotes included, for the C string at `s`: the
 * bytes up to the first NUL or `n`, whichever comes first (cJSON and
 * NanoMQ only ever see C strings). Escaped exactly as cJSON_Print does:
 * \" \\ \b \f \n \r \t, other bytes below 0x20 as \u00xx, everything else
 * verbatim. Unlike cJSON, each ill-formed UTF-8 sequence (maximal subpart,
 * as Unicode 3.9 / WHATWG count them) becomes U+FFFD, so the result is
 * always valid JSON. `s` may be NULL when n == 0. */
int nh_json_append_str(struct nh_buf *out, const char *s, size_t n);

/* Is p[0..n) well-formed UTF-8 (no overlongs, no surrogates, at most
 * U+10FFFF)? NUL bytes are well-formed. */
bool nh_utf8_valid(const uint8_t *p, size_t n);

#endif
