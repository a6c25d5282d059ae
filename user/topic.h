/* SPDX-License-Identifier: MIT */
/*
 * MQTT topic names and filters (MQTT 3.1.1 section 4.7, MQTT 5 section 4.7).
 * Every string is (pointer, length): topics come straight from ring-buffer
 * records and are not NUL-terminated.
 */
#ifndef NH_TOPIC_H
#define NH_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define NH_TOPIC_LEN_MAX 65535 /* MQTT's two-byte length prefix */

/* A filter a client could subscribe with: 1..65535 bytes of UTF-8 without
 * U+0000; '+' only as a whole level; '#' only as the whole last level. */
bool nh_topic_valid_filter(const char *f, size_t len);

/* A name a client could publish to: like a filter but no '+' or '#'. */
bool nh_topic_valid_name(const char *t, size_t len);

/* Does `filter` match `topic`? '+' matches exactly one level (possibly
 * empty), a trailing '#' matches any number of levels including none, so
 * "a/#" matches "a". A filter starting with a wildcard never matches a
 * topic starting with '$' (MQTT 4.7.2). An empty topic or filter matches
 * nothing. Meant for valid filters; any input is memory-safe, a '#' that
 * is not the whole last level is compared as a plain character. */
bool nh_topic_match(const char *filter, size_t flen, const char *topic,
		    size_t tlen);

/* The same, but with wild_dollar a filter starting with a wildcard matches
 * '$' topics too ("#" matches "$SYS/x"): what NanoMQ's own webhook does,
 * and so nanohook's default for its rules (nanohook.topic_match). */
bool nh_topic_match_mode(const char *filter, size_t flen, const char *topic, size_t tlen,
			 bool wild_dollar);

#endif
