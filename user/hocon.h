/* SPDX-License-Identifier: MIT */
/*
 * A HOCON reader for nanomq.conf: the subset NanoMQ's own files use, read
 * into a tree whose every node knows the line:col it was written at.
 *
 * Accepted: `key = v`, `key : v`, `key { }`, `key = { }`; dotted keys
 * (`headers.content-type = x` is `headers { content-type = x }`); `#` and
 * `//` comments; "quoted" strings with \" \\ \/ \b \f \n \r \t \uXXXX
 * escapes; """raw""" strings; unquoted strings (run to end of line,
 * comment, `,`, `}` or `]`, trimmed; may hold '.', '/', ':' (not first),
 * so `bind = 0.0.0.0:1883` and `url = http://h:1/p` work; `//` starts a
 * comment only at the start of a token or after a blank); `[ ]` arrays
 * whose elements are separated by newlines or commas; a root `{ }`.
 * Objects defined twice merge (HOCON); any other redefinition replaces
 * the earlier value, which keeps its place in the key order.
 *
 * Relaxed like NanoMQ's own parser: fields and array elements need no
 * separator at all (`{ event = "x" topic = "y" }`, `to = [a] level = b`),
 * `key [ ... ]` means `key = [ ... ]`.
 *
 * Refused with an error: `key = value` directly inside `[ ]` (the form in
 * NanoMQ's WebHook doc, which NanoMQ reads as one object and silently
 * keeps only its first `event`), `${substitutions}`, `+=`, an unquoted
 * value running into a `#` (`topic = a/#` would silently be `a/`), NUL
 * bytes, nesting deeper than NH_HOCON_MAX_DEPTH.
 *
 * `include` directives are skipped with a warning: nanohook reads one file.
 */
#ifndef NH_HOCON_H
#define NH_HOCON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NH_HOCON_MAX_DEPTH 64          /* objects, arrays and key path elements */
#define NH_HOCON_MAX_FILE (16u << 20)  /* nh_hocon_parse_file refuses bigger */

enum nh_hocon_type {
	NH_HOCON_OBJECT,
	NH_HOCON_ARRAY,
	NH_HOCON_STRING,  /* quoted, or unquoted text that is not one below */
	NH_HOCON_NUMBER,  /* unquoted -?digits[.digits][e[+-]digits] */
	NH_HOCON_BOOL,    /* unquoted true / false */
	NH_HOCON_NULL,    /* unquoted null */
};

struct nh_hocon_node {
	enum nh_hocon_type type;
	int line, col;          /* where the value starts, 1-based, col in bytes */

	/* As a member of an object: its key (one path element) and where it
	 * was written: first place for merged objects, else the definition in
	 * effect. NULL for array elements and the root. */
	char *key;
	int key_line, key_col;

	/* Scalars: the text as written (quotes removed, escapes resolved),
	 * NUL-terminated and never containing NUL. "true" for a BOOL. */
	char *str;
	size_t len;
	bool quoted;

	/* Objects: members in the order keys first appeared. Arrays: elements. */
	struct nh_hocon_node **kids;
	size_t n_kids;
	size_t cap_kids;
};

struct nh_hocon_doc {
	char *name;                 /* file name used in messages */
	struct nh_hocon_node *root; /* always an object */
};

/* Parse `len` bytes of `buf` (need not be NUL-terminated). `name` prefixes
 * every message. Warnings (skipped includes) go to `warn` if not NULL.
 * On error returns -1, *out = NULL and writes one "name:line:col: what"
 * message (no newline) to `err`. */
int nh_hocon_parse_buf(const char *name, const char *buf, size_t len,
		       FILE *warn, struct nh_hocon_doc **out, char *err,
		       size_t errlen);

/* The same for a file, named by its path in messages. */
int nh_hocon_parse_file(const char *path, FILE *warn,
			struct nh_hocon_doc **out, char *err, size_t errlen);

void nh_hocon_free(struct nh_hocon_doc *doc);

/* Member `key` (one path element, no dots) of an object, or NULL. */
const struct nh_hocon_node *nh_hocon_get(const struct nh_hocon_node *obj,
					 const char *key);
/* Member at dotted `path` ("webhook.body.encoding"), or NULL. */
const struct nh_hocon_node *nh_hocon_path(const struct nh_hocon_node *obj,
					  const char *path);

const char *nh_hocon_type_name(enum nh_hocon_type type); /* "string", ... */

/* Conversions of a scalar node; each returns 0, or -1 if the node is not
 * of that kind (the caller knows the key and writes the message). Quoted
 * strings convert too, as HOCON says. */
int nh_hocon_as_int(const struct nh_hocon_node *n, long long *out);
/* true/false, also yes/no and on/off */
int nh_hocon_as_bool(const struct nh_hocon_node *n, bool *out);
/* "500ms", "10s", "1m", "2h", "1d" (also ms/millis/milliseconds, s/second/
 * seconds, m/minute/minutes, h/hour/hours, d/day/days, any case, optional
 * blank before the unit); a bare integer is milliseconds. */
int nh_hocon_as_duration_ms(const struct nh_hocon_node *n, uint64_t *out);
/* "4KB", "256MB", "8MiB", "1G", "512B": K/KB/KiB = 1024, M/MB/MiB = 1024^2,
 * G/GB/GiB = 1024^3 (binary, as NanoMQ reads them), any case; a bare
 * integer is bytes. */
int nh_hocon_as_size(const struct nh_hocon_node *n, uint64_t *out);

#endif
