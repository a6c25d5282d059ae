/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a spool directory left behind by a previous nanohook: a
 * segment file and an ack file. Opening, reading, acknowledging,
 * rewinding and appending must never crash or read out of bounds, every
 * record handed out must be intact (its length as stated), and reading
 * must end.
 *
 * Input: u16 (little-endian) length of the ack file, the ack file, then
 * the segment file (0000000000000001.seg). An empty ack part means no ack
 * file.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

#include "fuzz_check.h"

/* One scratch directory per fuzzing process, emptied after each input. */
static char dir[64];

static void write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	if (len && write(fd, data, len) != (ssize_t)len)
		__builtin_trap();
	close(fd);
}

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[400];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nh_spool_opts o = { .max_bytes = 1 << 20, .segment_bytes = 4096,
				   .fsync = NH_FSYNC_NEVER };
	struct nh_spool_meta m;
	struct nh_spool *s;
	size_t ack_len, len;
	uint64_t pos, positions[64];
	unsigned n = 0, reads = 0;
	char err[256], *body;
	int rc;

	if (!dir[0]) {
		strcpy(dir, "/tmp/nh-fuzz-spool.XXXXXX");
		if (!mkdtemp(dir))
			__builtin_trap();
		nh_log_set_level(NH_LOG_ERROR);
	}
	if (size < 2)
		return 0;
	ack_len = (size_t)data[0] | (size_t)data[1] << 8;
	if (ack_len > size - 2)
		ack_len = size - 2;
	if (ack_len)
		write_file("ack", data + 2, ack_len);
	write_file("0000000000000001.seg", data + 2 + ack_len, size - 2 - ack_len);

	o.dir = dir;
	s = nh_spool_open(&o, err, sizeof(err));
	if (!s) {
		empty_dir();
		return 0;
	}
	/* Read everything, acknowledging every other record. */
	while ((rc = nh_spool_read(s, &m, &body, &len, &pos)) == 1) {
		CHECK(len <= size);
		CHECK(body[len] == '\0');
		free(body);
		if (reads++ % 2 == 0)
			nh_spool_ack(s, pos);
		else if (n < 64)
			positions[n++] = pos;
		CHECK(reads <= size); /* every record takes bytes */
	}
	CHECK(rc == 0);
	/* Again from the oldest unacknowledged: exactly the ones kept. */
	nh_spool_rewind(s);
	for (unsigned i = 0; i < n; i++) {
		CHECK(nh_spool_read(s, &m, &body, &len, &pos) == 1);
		CHECK(pos == positions[i]);
		free(body);
		nh_spool_ack(s, pos);
	}
	/* Appends still work and read back. */
	m = (struct nh_spool_meta){ .seq = 7 };
	if (nh_spool_append(s, &m, "tail", 4, &pos) == 0) {
		while ((rc = nh_spool_read(s, &m, &body, &len, &pos)) == 1) {
			free(body);
			nh_spool_ack(s, pos);
			if (len == 4 && m.seq == 7)
				break;
		}
		CHECK(rc == 1);
	}
	nh_spool_close(s);
	empty_dir();
	return 0;
}
