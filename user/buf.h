/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer. Bodies, headers and log lines are built by
 * appending to one; a failed append leaves the buffer as it was, so a
 * caller can give up half-way and reuse it.
 *
 * After the first successful append `data` is always NUL-terminated (the
 * NUL is not counted in `len`), so the content can be handed to APIs that
 * want a C string. The content itself may hold NUL bytes.
 */
#ifndef NH_BUF_H
#define NH_BUF_H

#include <stddef.h>

struct nh_buf {
	char *data;  /* NULL until the first append */
	size_t len;  /* bytes used, without the trailing NUL */
	size_t cap;  /* bytes allocated, including room for the NUL */
};

#define NH_BUF_INIT { NULL, 0, 0 }

void nh_buf_init(struct nh_buf *b);

/* Make room for `extra` more bytes (plus the NUL) without changing the
 * content. Lets an encoder write at data + len directly and then call
 * nh_buf_commit(). 0, or -1 with errno = ENOMEM. */
int nh_buf_reserve(struct nh_buf *b, size_t extra);

/* Count `n` bytes written at data + len (after nh_buf_reserve). */
void nh_buf_commit(struct nh_buf *b, size_t n);

/* 0, or -1 with errno = ENOMEM and the buffer unchanged. */
int nh_buf_append(struct nh_buf *b, const void *p, size_t n);
int nh_buf_append_str(struct nh_buf *b, const char *s);
int nh_buf_append_byte(struct nh_buf *b, char c);
int nh_buf_append_fmt(struct nh_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Cut the content back to `len` bytes (no-op if len >= b->len): how a
 * builder undoes a partial write. Keeps the memory. */
void nh_buf_truncate(struct nh_buf *b, size_t len);

/* Empty the buffer, keeping the memory for the next use. */
void nh_buf_reset(struct nh_buf *b);

/* Release the memory; the buffer is empty and usable again. */
void nh_buf_free(struct nh_buf *b);

/* Hand the content over to the caller (free() it; NUL-terminated, even
 * when empty) and leave the buffer empty. NULL with errno = ENOMEM only
 * if the buffer never held memory and a 1-byte allocation failed. */
char *nh_buf_detach(struct nh_buf *b, size_t *len);

#endif
