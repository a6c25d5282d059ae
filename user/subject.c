// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "subject.h"

static const char *const names[] = { "action", "clientid", "username", "topic", "node" };
enum { NAME_ACTION, NAME_CLIENTID, NAME_USERNAME, NAME_TOPIC, NAME_NODE, NAME_MAX };

/* Which {name} starts at s (s[0] == '{'); -1 if none. *len: its length
 * with the braces. */
static int name_at(const char *s, size_t *len)
{
	for (int i = 0; i < NAME_MAX; i++) {
		size_t n = strlen(names[i]);

		if (!strncmp(s + 1, names[i], n) && s[n + 1] == '}') {
			*len = n + 2;
			return i;
		}
	}
	return -1;
}

static bool literal_ok(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '*' && c != '>' && c != '{' && c != '}';
}

int nh_subject_check(const char *tmpl, char *err, size_t errlen)
{
	const char *tok = tmpl;

	if (!*tmpl) {
		snprintf(err, errlen, "empty");
		return -1;
	}
	for (;;) {
		size_t toklen = strcspn(tok, ".");

		if (toklen == 0) {
			snprintf(err, errlen, "'%.200s' has an empty token (a leading, trailing "
				 "or doubled '.')", tmpl);
			return -1;
		}
		if (tok[0] == '{') {
			size_t len;
			int n = name_at(tok, &len);

			if (n < 0 || len != toklen) {
				snprintf(err, errlen, "'%.*s': a {name} is one of {action} {clientid} "
					 "{username} {topic} {node}, and fills a whole token",
					 (int)toklen, tok);
				return -1;
			}
		} else {
			for (size_t i = 0; i < toklen; i++) {
				if (!literal_ok((unsigned char)tok[i])) {
					snprintf(err, errlen, "'%.*s': a token is either a {name} or "
						 "text without blanks, '*', '>', '{' or '}'",
						 (int)toklen, tok);
					return -1;
				}
			}
		}
		if (!tok[toklen])
			return 0;
		tok += toklen + 1;
	}
}

static int append_token(struct nh_buf *out, const char *p, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";

	if (len == 0)
		return nh_buf_append_byte(out, '_');
	if (nh_buf_reserve(out, len * 3) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		char *w = out->data + out->len;

		if (c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>' && c != '%') {
			w[0] = (char)c;
			nh_buf_commit(out, 1);
		} else {
			w[0] = '%';
			w[1] = hex[c >> 4];
			w[2] = hex[c & 15];
			nh_buf_commit(out, 3);
		}
	}
	return 0;
}

int nh_subject_build(struct nh_buf *out, const char *tmpl, const struct nh_event *ev,
		     const char *node)
{
	const char *action = nh_event_name(ev->type);

	if (!strncmp(action, "on_", 3))
		action += 3;
	for (const char *s = tmpl; *s;) {
		size_t len;
		int n = *s == '{' ? name_at(s, &len) : -1;
		int rc = 0;

		switch (n) {
		case NAME_ACTION: rc = append_token(out, action, strlen(action)); break;
		case NAME_CLIENTID: rc = append_token(out, ev->clientid.ptr, ev->clientid.len); break;
		case NAME_USERNAME:
			rc = append_token(out, ev->username.ptr, ev->has_username ? ev->username.len : 0);
			break;
		case NAME_TOPIC: rc = append_token(out, ev->topic.ptr, ev->topic.len); break;
		case NAME_NODE: rc = append_token(out, node, node ? strlen(node) : 0); break;
		default:
			len = 1;
			rc = nh_buf_append_byte(out, *s);
			break;
		}
		if (rc < 0)
			return -1;
		s += len;
	}
	return 0;
}

char *nh_subject_filter(const char *tmpl)
{
	char *f = malloc(strlen(tmpl) + 1), *w = f;

	for (const char *s = tmpl; f && *s;) {
		size_t len;

		if (*s == '{' && name_at(s, &len) >= 0) {
			*w++ = '*';
			s += len;
		} else {
			*w++ = *s++;
		}
	}
	if (f)
		*w = '\0';
	return f;
}

int nh_subject_frame(struct nh_buf *out, const char *tmpl, const struct nh_event *ev,
		     const char *node, const void *body, size_t len)
{
	nh_buf_reset(out);
	if (nh_subject_build(out, tmpl, ev, node) < 0 || nh_buf_append_byte(out, '\n') < 0 ||
	    nh_buf_append(out, body, len) < 0)
		return -1;
	return 0;
}

bool nh_subject_unframe(const char *item, size_t len, const char **subject, size_t *subject_len,
			const char **body, size_t *body_len)
{
	const char *nl = memchr(item, '\n', len);

	if (!nl)
		return false;
	*subject = item;
	*subject_len = (size_t)(nl - item);
	*body = nl + 1;
	*body_len = len - *subject_len - 1;
	return true;
}
