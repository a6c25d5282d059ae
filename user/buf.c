/* SPDX-License-Identifier: MIT */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NH_BUF_MIN_CAP 64

void nh_buf_init(struct nh_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int nh_buf_reserve(struct nh_buf *b, size_t extra)
{
	/* +1 for the NUL; checked so a huge `extra` cannot wrap around. */
	if (extra > SIZE_MAX - 1 - b->len) {
		errno = ENOMEM;
		return -1;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;

	size_t cap = b->cap ? b->cap : NH_BUF_MIN_CAP;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;

	char *p = realloc(b->data, cap);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	b->data[b->len] = '\0';
	return 0;
}

void nh_buf_commit(struct nh_buf *b, size_t n)
{
	b->len += n;
	b->data[b->len] = '\0';
}

int nh_buf_append(struct nh_buf *b, const void *p, size_t n)
{
	if (nh_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	nh_buf_commit(b, n);
	return 0;
}

int nh_buf_append_str(struct nh_buf *b, const char *s)
{
	return nh_buf_append(b, s, strlen(s));
}

int nh_buf_append_byte(struct nh_buf *b, char c)
{
	return nh_buf_append(b, &c, 1);
}

int nh_buf_append_fmt(struct nh_buf *b, const char *fmt, ...)
{
	va_list ap;

	/* First try in the room already there; most formats are short. */
	if (nh_buf_reserve(b, 0) < 0)
		return -1;
	size_t room = b->cap - b->len;
	va_start(ap, fmt);
	int n = vsnprintf(b->data + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->data[b->len] = '\0';
		return -1; /* errno set by vsnprintf (EOVERFLOW, EILSEQ) */
	}
	if ((size_t)n < room) {
		b->len += (size_t)n;
		return 0;
	}

	b->data[b->len] = '\0';
	if (nh_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void nh_buf_truncate(struct nh_buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->data[len] = '\0';
}

void nh_buf_reset(struct nh_buf *b)
{
	nh_buf_truncate(b, 0);
}

void nh_buf_free(struct nh_buf *b)
{
	free(b->data);
	nh_buf_init(b);
}

char *nh_buf_detach(struct nh_buf *b, size_t *len)
{
	if (nh_buf_reserve(b, 0) < 0)
		return NULL;
	char *p = b->data;
	if (len)
		*len = b->len;
	nh_buf_init(b);
	return p;
}
