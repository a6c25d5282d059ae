/* SPDX-License-Identifier: MIT */
#include "file_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nh_file_read(const char *path, char **buf, size_t *len, bool *shared, char *err,
		 size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *p;
	int fd;

	*buf = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO in place of the file must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cannot read: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read: not a regular file");
		close(fd);
		return -1;
	}
	if (st.st_size > NH_FILE_READ_MAX) {
		snprintf(err, errlen, "cannot read: larger than %u bytes", NH_FILE_READ_MAX);
		close(fd);
		return -1;
	}
	if (shared)
		*shared = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cannot read: %s", n < 0 ? strerror(errno) : "file shrank");
			nh_secret_free(p, got);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	p[got] = '\0';
	*buf = p;
	*len = got;
	return 0;
}

void nh_secret_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}
