// SPDX-License-Identifier: MIT
#include "clock.h"
#include "deadletter.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "encode.h"

static const char *const reason_names[NH_DEAD_MAX + 1] = {
	[NH_DEAD_REJECTED] = "rejected",
	[NH_DEAD_MAX_ATTEMPTS] = "max_attempts",
	[NH_DEAD_MAX_AGE] = "max_age",
	[NH_DEAD_SPOOL_MAX_AGE] = "spool_max_age",
	[NH_DEAD_EXPORTED] = "exported",
};

const char *nh_dead_reason_name(enum nh_dead_reason r)
{
	return (unsigned)r <= NH_DEAD_MAX ? reason_names[r] : "unknown";
}

int nh_dead_letter_format(struct nh_buf *out, const struct nh_dead_entry *e)
{
	size_t mark = out->len;
	const char *err = e->error ? e->error : "";
	bool as_text = !memchr(e->body, '\0', e->len) &&
		       nh_utf8_valid((const uint8_t *)e->body, e->len);

	if (nh_buf_append_fmt(out, "{\"reason\":\"%s\",\"attempts\":%" PRIu32 ",\"status\":%d,\"error\":",
			      nh_dead_reason_name(e->reason), e->attempts, e->status) < 0 ||
	    nh_json_append_str(out, err, strlen(err)) < 0 ||
	    nh_buf_append_fmt(out, ",\"captured_ms\":%" PRIu64 ",\"dead_ms\":%" PRIu64
			      ",\"key\":\"%" PRIu64 "\"",
			      e->captured_ms, nh_wall_ms(), e->key) < 0 ||
	    (e->dest && (nh_buf_append_str(out, ",\"dest\":") < 0 ||
			 nh_json_append_str(out, e->dest, strlen(e->dest)) < 0)) ||
	    (e->subject && (nh_buf_append_str(out, ",\"subject\":") < 0 ||
			    nh_json_append_str(out, e->subject, e->subject_len) < 0)) ||
	    nh_buf_append_fmt(out, ",\"%s\":", as_text ? "body" : "body_base64") < 0)
		goto oom;
	if (as_text) {
		if (nh_json_append_str(out, e->body, e->len) < 0)
			goto oom;
	} else if (nh_buf_append_byte(out, '"') < 0 ||
		   nh_base64_append(out, (const uint8_t *)e->body, e->len) < 0 ||
		   nh_buf_append_byte(out, '"') < 0) {
		goto oom;
	}
	if (nh_buf_append_str(out, "}\n") < 0)
		goto oom;
	return 0;
oom:
	nh_buf_truncate(out, mark);
	return -1;
}

/* ---- reading ------------------------------------------------------------------ */

/* A malloc'd, NUL-terminated copy of the body. */
static char *b64_decode(const char *s, size_t n, size_t *out_len)
{
	char *out = malloc(n / 4 * 3 + 1);
	long len;

	if (!out)
		return NULL;
	len = nh_base64_decode(s, n, (uint8_t *)out, n / 4 * 3);
	if (len < 0) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	*out_len = (size_t)len;
	return out;
}

static bool get_uint(const cJSON *o, const char *name, double max, double *v)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!n)
		return true;
	if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0) || n->valuedouble > max)
		return false;
	*v = n->valuedouble;
	return true;
}

int nh_dead_letter_parse(const char *line, size_t len, struct nh_dead_entry *e,
			 char *why, size_t whylen)
{
	const cJSON *body, *b64, *key, *reason;
	double attempts = 0, status = 0, captured = 0;
	cJSON *root;

	memset(e, 0, sizeof(*e));
	root = cJSON_ParseWithLength(line, len);
	if (!root || !cJSON_IsObject(root)) {
		snprintf(why, whylen, "not a JSON object");
		goto fail;
	}
	if (!get_uint(root, "attempts", 4294967295.0, &attempts) ||
	    !get_uint(root, "status", 999, &status) ||
	    !get_uint(root, "captured_ms", 9007199254740991.0, &captured)) {
		snprintf(why, whylen, "attempts, status or captured_ms is not a number in range");
		goto fail;
	}
	e->attempts = (uint32_t)attempts;
	e->status = (int)status;
	e->captured_ms = (uint64_t)captured;
	reason = cJSON_GetObjectItemCaseSensitive(root, "reason");
	for (int r = 0; cJSON_IsString(reason) && r <= NH_DEAD_MAX; r++)
		if (strcmp(reason->valuestring, reason_names[r]) == 0)
			e->reason = (enum nh_dead_reason)r;
	key = cJSON_GetObjectItemCaseSensitive(root, "key");
	if (key) {
		char *end;

		errno = 0;
		if (!cJSON_IsString(key) || !key->valuestring[0] || key->valuestring[0] == '-' ||
		    (e->key = strtoull(key->valuestring, &end, 10), errno || *end)) {
			snprintf(why, whylen, "key is not a decimal string");
			goto fail;
		}
	}
	body = cJSON_GetObjectItemCaseSensitive(root, "body");
	b64 = cJSON_GetObjectItemCaseSensitive(root, "body_base64");
	if (cJSON_IsString(body)) {
		e->len = strlen(body->valuestring);
		e->body = strdup(body->valuestring);
	} else if (cJSON_IsString(b64)) {
		e->body = b64_decode(b64->valuestring, strlen(b64->valuestring), &e->len);
		if (!e->body) {
			snprintf(why, whylen, "body_base64 is not base64");
			goto fail;
		}
	} else {
		snprintf(why, whylen, "no \"body\" or \"body_base64\" string");
		goto fail;
	}
	if (!e->body) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	nh_dead_entry_free(e);
	return -1;
}

void nh_dead_entry_free(struct nh_dead_entry *e)
{
	free((char *)e->body);
	e->body = NULL;
	e->len = 0;
}

/* ---- the file ------------------------------------------------------------------- */

struct nh_dead_letter {
	char *path;
	int fd;
	bool fsync_each;
	struct nh_buf line;
};

struct nh_dead_letter *nh_dead_letter_new(const char *path, bool fsync_each)
{
	struct nh_dead_letter *dl = calloc(1, sizeof(*dl));

	if (!dl)
		return NULL;
	dl->fd = -1;
	dl->fsync_each = fsync_each;
	dl->path = strdup(path);
	if (!dl->path) {
		free(dl);
		return NULL;
	}
	return dl;
}

int nh_dead_letter_write(struct nh_dead_letter *dl, const struct nh_dead_entry *e)
{
	const char *p;
	size_t left;

	if (dl->fd < 0) {
		dl->fd = open(dl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (dl->fd < 0)
			return -1;
	}
	nh_buf_reset(&dl->line);
	if (nh_dead_letter_format(&dl->line, e) < 0) {
		errno = ENOMEM;
		return -1;
	}
	/* One write per line: with O_APPEND a line is never split by
	 * another writer's. */
	p = dl->line.data;
	left = dl->line.len;
	while (left > 0) {
		ssize_t w = write(dl->fd, p, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		left -= (size_t)w;
	}
	if (dl->fsync_each)
		fdatasync(dl->fd);
	return 0;
}

const char *nh_dead_letter_path(const struct nh_dead_letter *dl)
{
	return dl->path;
}

void nh_dead_letter_free(struct nh_dead_letter *dl)
{
	if (!dl)
		return;
	if (dl->fd >= 0)
		close(dl->fd);
	nh_buf_free(&dl->line);
	free(dl->path);
	free(dl);
}
