/* SPDX-License-Identifier: MIT */
/* Small files read whole: certificates, keys, secrets. */
#ifndef NH_FILE_READ_H
#define NH_FILE_READ_H

#include <stdbool.h>
#include <stddef.h>

#define NH_FILE_READ_MAX (1u << 20)

/* Reads `path` (a regular file of at most NH_FILE_READ_MAX bytes) into a
 * malloc'd buffer with a NUL after its `*len` bytes. *shared says whether
 * group or others may read it (for warnings about secrets). Returns 0, or
 * -1 with "cannot read: <why>" (or similar) in err. */
int nh_file_read(const char *path, char **buf, size_t *len, bool *shared, char *err,
		 size_t errlen);

/* Zeroes, then frees, a buffer that held a secret. NULL is fine. */
void nh_secret_free(void *p, size_t len);

#endif
