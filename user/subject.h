/* SPDX-License-Identifier: MIT */
/*
 * NATS subjects for events: nanohook.nats.subject is a template such as
 * "nanohook.{action}.{clientid}" whose {name}s are filled per event.
 *
 * A subject is tokens separated by '.', and '*' and '>' are wildcards, so
 * each filled value is escaped into exactly one token: bytes outside
 * printable ASCII and ' ', '.', '*', '>' and '%' become %XX (upper-case
 * hex), and an empty value (no username, say) becomes "_". An MQTT topic
 * "a/b.c" is then the one token "a/b%2Ec", and a subscriber's
 * "nanohook.message_publish.>" sees every publish.
 */
#ifndef NH_SUBJECT_H
#define NH_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"

/* Is tmpl a usable template? Tokens are non-empty, literal text has no
 * wildcard or blank, and each {name} is one of {action} {clientid}
 * {username} {topic} {node} and fills a whole token. 0, or -1 with the
 * reason in err. */
int nh_subject_check(const char *tmpl, char *err, size_t errlen);

/* The subject of ev (tmpl passed nh_subject_check), appended to out;
 * node stands for {node}. 0, or -1 out of memory. */
int nh_subject_build(struct nh_buf *out, const char *tmpl, const struct nh_event *ev,
		     const char *node);

/* The filter that covers every subject of tmpl: each {name} token
 * becomes '*' ("nanohook.*.*"), for a stream nanohook creates.
 * malloc'd; NULL out of memory. */
char *nh_subject_filter(const char *tmpl);

/* The JetStream sink's items carry their subject (it depends on the
 * event, which is gone once the body is built): the subject, '\n', then
 * the body, in memory and in the spool alike. */
int nh_subject_frame(struct nh_buf *out, const char *tmpl, const struct nh_event *ev,
		     const char *node, const void *body, size_t len);

/* Splits a framed item; false if it has no '\n' (not framed). */
bool nh_subject_unframe(const char *item, size_t len, const char **subject, size_t *subject_len,
			const char **body, size_t *body_len);

#endif
