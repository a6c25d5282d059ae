/* SPDX-License-Identifier: MIT */
/*
 * The dead-letter file: events nanohook gave up on, one JSON object per
 * line, for the operator to read and to send again (`nanohook replay`).
 *
 *   {"reason":"max_attempts","attempts":10,"status":503,"error":"",
 *    "captured_ms":1716000000123,"dead_ms":1716000060456,"key":"8312...",
 *    "body":"{\"proto_ver\":4,...}"}
 *
 * reason: "rejected" (the endpoint answered a status that is never
 * retried, e.g. 400), "max_attempts", "max_age" (retry limits),
 * "spool_max_age" (waited in the spool longer than spool.max_age), or
 * "exported" (`nanohook spool export`: held for a destination no longer
 * configured). dest: the url it was captured for, password hidden.
 * status/error: the last attempt's HTTP status (0: no reply) and transport
 * error ("" if none). key: the ordering key, a decimal string (JSON
 * numbers lose 64-bit precision). body: the exact body as a JSON string;
 * a body that is not valid UTF-8 or holds a NUL is "body_base64" instead.
 */
#ifndef NH_DEADLETTER_H
#define NH_DEADLETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nh_dead_reason {
	NH_DEAD_REJECTED = 0,
	NH_DEAD_MAX_ATTEMPTS,
	NH_DEAD_MAX_AGE,
	NH_DEAD_SPOOL_MAX_AGE,
	NH_DEAD_MAX, /* the reasons a run gives up for; and one more name: */
	NH_DEAD_EXPORTED = NH_DEAD_MAX
};

const char *nh_dead_reason_name(enum nh_dead_reason r);

struct nh_dead_entry {
	enum nh_dead_reason reason;
	uint32_t attempts;
	int status;         /* last HTTP status, 0 if none */
	const char *error;  /* last transport error, NULL or "" if none */
	uint64_t captured_ms;
	uint64_t key;
	const char *body;
	size_t len;
	const char *dest;   /* the url it was captured for (redacted); NULL: not said */
	const char *subject;/* NATS: the subject it was for; NULL: none */
	size_t subject_len;
};

/* Appends one line for `e` to `out` (the trailing '\n' included). Returns
 * 0, or -1 on out of memory. */
struct nh_buf;
int nh_dead_letter_format(struct nh_buf *out, const struct nh_dead_entry *e);

/* Reads one line (without its '\n'; need not be NUL-terminated). Returns
 * 0 and fills `e` (e->body malloc'd and NUL-terminated, e->error NULL;
 * free with nh_dead_entry_free), or -1 and a reason in `why`. Only "body"
 * or "body_base64" is required; the rest default to 0. */
int nh_dead_letter_parse(const char *line, size_t len, struct nh_dead_entry *e,
			 char *why, size_t whylen);
void nh_dead_entry_free(struct nh_dead_entry *e);

/* The file, opened (O_APPEND, 0600) at the first write. */
struct nh_dead_letter;

struct nh_dead_letter *nh_dead_letter_new(const char *path, bool fsync_each);
/* 0, or -1 with errno (the line is not in the file). */
int nh_dead_letter_write(struct nh_dead_letter *dl, const struct nh_dead_entry *e);
const char *nh_dead_letter_path(const struct nh_dead_letter *dl);
void nh_dead_letter_free(struct nh_dead_letter *dl);

#endif
