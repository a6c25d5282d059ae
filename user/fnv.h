/* SPDX-License-Identifier: MIT */
#ifndef NH_FNV_H
#define NH_FNV_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits: the keyless hash of client ids and urls (ordering
 * keys, join keys, spool directory names). Its low bits are weak: mix
 * before taking a remainder. Not for tables an outsider can aim at. */
static inline uint64_t nh_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#endif
