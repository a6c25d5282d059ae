/* SPDX-License-Identifier: MIT */
/* MQTT topic filter validation and matching. */
#include "topic.h"

#include <stdint.h>
#include <string.h>

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
 * U+10FFFF. MQTT also forbids U+0000. */
static bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		size_t n;
		uint32_t cp, min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			n = 1; cp = c & 0x1F; min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2; cp = c & 0x0F; min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

bool nh_topic_valid_filter(const char *f, size_t len)
{
	if (f == NULL || len == 0 || len > NH_TOPIC_LEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool starts_level = i == 0 || f[i - 1] == '/';
		bool ends_level = i + 1 == len || f[i + 1] == '/';

		if (f[i] == '+' && !(starts_level && ends_level))
			return false;
		if (f[i] == '#' && !(starts_level && i + 1 == len))
			return false;
	}
	return utf8_valid(f, len);
}

bool nh_topic_valid_name(const char *t, size_t len)
{
	if (t == NULL || len == 0 || len > NH_TOPIC_LEN_MAX)
		return false;
	if (memchr(t, '+', len) || memchr(t, '#', len))
		return false;
	return utf8_valid(t, len);
}

/* End of the level starting at `i`: the index of the next '/' or `len`. */
static size_t level_end(const char *s, size_t len, size_t i)
{
	const char *slash = i < len ? memchr(s + i, '/', len - i) : NULL;

	return slash ? (size_t)(slash - s) : len;
}

bool nh_topic_match(const char *filter, size_t flen, const char *topic,
		    size_t tlen)
{
	return nh_topic_match_mode(filter, flen, topic, tlen, false);
}

bool nh_topic_match_mode(const char *filter, size_t flen, const char *topic, size_t tlen,
			 bool wild_dollar)
{
	size_t f = 0, t = 0;
	bool topic_done = false; /* every topic level has been matched */

	if (filter == NULL || topic == NULL || flen == 0 || tlen == 0)
		return false;
	if (!wild_dollar && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
		return false;

	for (;;) {
		size_t fe = level_end(filter, flen, f);

		/* A final '#' also matches the parent level: "a/#" ~ "a". */
		if (fe == flen && fe - f == 1 && filter[f] == '#')
			return true;
		if (topic_done)
			return false;

		size_t te = level_end(topic, tlen, t);
		bool plus = fe - f == 1 && filter[f] == '+';

		if (!plus && (fe - f != te - t ||
			      memcmp(filter + f, topic + t, fe - f) != 0))
			return false;
		if (fe == flen)
			return te == tlen;
		f = fe + 1;
		if (te == tlen)
			topic_done = true;
		else
			t = te + 1;
	}
}
