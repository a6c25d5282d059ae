/* SPDX-License-Identifier: MIT */
/*
 * The disk spool: order, acknowledgements across restarts, limits, and
 * what it does with damaged files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"

struct fx {
	char dir[64];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/nh-spool-test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct nh_spool *open_spool(const char *dir, uint64_t max_bytes, uint64_t seg_bytes)
{
	struct nh_spool_opts o = { .dir = dir, .max_bytes = max_bytes,
				   .segment_bytes = seg_bytes, .fsync = NH_FSYNC_BATCH };
	char err[256] = "";
	struct nh_spool *s = nh_spool_open(&o, err, sizeof(err));

	if (!s)
		fail_msg("nh_spool_open: %s", err);
	return s;
}

static void append_n(struct nh_spool *s, unsigned from, unsigned n, uint64_t *pos)
{
	for (unsigned i = from; i < from + n; i++) {
		struct nh_spool_meta m = { .seq = i, .key = i % 7, .first_ms = 1000 + i,
					   .attempts = i % 3, .events = i % 5 };
		char body[64];
		int len = snprintf(body, sizeof(body), "{\"seq\":%u}", i);

		assert_int_equal(nh_spool_append(s, &m, body, (size_t)len, pos ? &pos[i] : NULL), 0);
	}
}

/* Reads one record and checks it is number `want`; returns its position. */
static uint64_t read_expect(struct nh_spool *s, unsigned want)
{
	struct nh_spool_meta m;
	char *body = NULL, expect[64];
	size_t len;
	uint64_t pos;

	assert_int_equal(nh_spool_read(s, &m, &body, &len, &pos), 1);
	snprintf(expect, sizeof(expect), "{\"seq\":%u}", want);
	assert_string_equal(body, expect);
	assert_int_equal(len, strlen(expect));
	assert_int_equal(m.seq, want);
	assert_int_equal(m.key, want % 7);
	assert_int_equal(m.first_ms, 1000 + want);
	assert_int_equal(m.attempts, want % 3);
	assert_int_equal(m.events, want % 5); /* body.batch: events per record */
	free(body);
	return pos;
}

static void read_none(struct nh_spool *s)
{
	struct nh_spool_meta m;
	char *body = NULL;
	size_t len;
	uint64_t pos;

	assert_int_equal(nh_spool_read(s, &m, &body, &len, &pos), 0);
}

static unsigned count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);

		if (l > sl && strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The path of the (only, or first) segment file. */
static void first_segment(const char *dir, char *path, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char best[64] = "";

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strlen(e->d_name) == 20 && strcmp(e->d_name + 16, ".seg") == 0 &&
		    (!best[0] || strcmp(e->d_name, best) < 0))
			strcpy(best, e->d_name);
	closedir(d);
	assert_true(best[0]);
	snprintf(path, len, "%s/%s", dir, best);
}

/* ---- tests ---------------------------------------------------------------- */

static void reads_in_append_order_interleaved(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	struct nh_spool_stats st;

	read_none(s);
	append_n(s, 0, 3, NULL);
	nh_spool_ack(s, read_expect(s, 0));
	append_n(s, 3, 2, NULL);
	for (unsigned i = 1; i < 5; i++)
		nh_spool_ack(s, read_expect(s, i));
	read_none(s);
	assert_false(nh_spool_has_unread(s));
	nh_spool_stats(s, &st);
	assert_int_equal(st.appended, 5);
	assert_int_equal(st.read_new, 5);
	assert_int_equal(st.acked, 5);
	assert_int_equal(st.records, 0);
	assert_int_equal(nh_spool_close(s), 0);
}

static void restart_reads_only_what_was_not_acknowledged(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	struct nh_spool_stats st;
	uint64_t pos[10];

	append_n(s, 0, 10, pos);
	for (unsigned i = 0; i < 6; i++)
		read_expect(s, i);
	/* Out of order, with a hole at 1 and 4: the commit point stays at 1. */
	nh_spool_ack(s, pos[0]);
	nh_spool_ack(s, pos[2]);
	nh_spool_ack(s, pos[3]);
	nh_spool_ack(s, pos[5]);
	nh_spool_ack(s, pos[7]); /* acknowledged before it was read */
	nh_spool_ack(s, pos[5]); /* twice is harmless */
	assert_int_equal(nh_spool_close(s), 0);

	s = open_spool(f->dir, 1 << 20, 0);
	nh_spool_stats(s, &st);
	assert_int_equal(st.records, 5);
	read_expect(s, 1);
	read_expect(s, 4);
	read_expect(s, 6);
	read_expect(s, 8);
	read_expect(s, 9);
	read_none(s);
	assert_int_equal(nh_spool_close(s), 0);
}

static void rewind_rereads_unacknowledged_and_skips_acknowledged(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	uint64_t pos[6];

	append_n(s, 0, 6, pos);
	for (unsigned i = 0; i < 4; i++)
		read_expect(s, i);
	nh_spool_ack(s, pos[1]);
	nh_spool_ack(s, pos[3]);
	nh_spool_rewind(s);
	/* In flight during the rewind, acknowledged after it. */
	nh_spool_ack(s, pos[2]);
	read_expect(s, 0);
	read_expect(s, 4);
	read_expect(s, 5);
	read_none(s);
	assert_int_equal(nh_spool_close(s), 0);
}

/* The dispatcher's case: a body on the wire during a rewind is delivered
 * (acknowledged ahead of the reader), the reader skips it, and a second
 * rewind goes back before it because an older record is still out. It
 * must stay skipped: it was delivered. */
static void ack_ahead_survives_a_second_rewind(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	uint64_t pos[4];

	append_n(s, 0, 4, pos);
	read_expect(s, 0);
	read_expect(s, 1);
	nh_spool_rewind(s);
	nh_spool_ack(s, pos[1]); /* was on the wire: delivered */
	read_expect(s, 0);       /* 0 is still out */
	read_expect(s, 2);       /* 1 skipped */
	nh_spool_rewind(s);
	read_expect(s, 0);
	read_expect(s, 2);
	read_expect(s, 3);
	read_none(s);
	nh_spool_ack(s, pos[0]);
	nh_spool_ack(s, pos[2]);
	nh_spool_ack(s, pos[3]);
	assert_int_equal(nh_spool_close(s), 0);
	/* And what the ack file says after a restart: nothing left. */
	s = open_spool(f->dir, 1 << 20, 0);
	read_none(s);
	assert_int_equal(nh_spool_close(s), 0);
}

static void full_spool_refuses_then_takes_again_after_acks(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 16 << 10, 4 << 10);
	struct nh_spool_meta m = { 0 };
	struct nh_spool_stats st;
	char body[200];
	unsigned n = 0;
	uint64_t pos;
	int rc;

	memset(body, 'x', sizeof(body));
	while ((rc = nh_spool_append(s, &m, body, sizeof(body), &pos)) == 0)
		n++;
	assert_int_equal(errno, ENOSPC);
	assert_in_range(n, 50, 16384 / 240);
	nh_spool_stats(s, &st);
	assert_true(st.bytes <= 16 << 10);
	assert_int_equal(st.full, 1);
	assert_true(count_files(f->dir, ".seg") >= 3);

	/* Reading and acknowledging the oldest segments frees their space. */
	for (unsigned i = 0; i < n / 2; i++) {
		char *b;
		size_t len;

		assert_int_equal(nh_spool_read(s, &m, &b, &len, &pos), 1);
		free(b);
		nh_spool_ack(s, pos);
	}
	assert_int_equal(nh_spool_append(s, &m, body, sizeof(body), &pos), 0);
	nh_spool_stats(s, &st);
	assert_int_equal(st.records, n - n / 2 + 1);
	assert_int_equal(nh_spool_close(s), 0);
}

static void segments_are_deleted_once_acknowledged(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 4 << 10);
	uint64_t pos[200];

	append_n(s, 0, 200, pos);
	assert_int_equal(nh_spool_sync(s, true), 0);
	assert_true(count_files(f->dir, ".seg") >= 2);
	for (unsigned i = 0; i < 200; i++)
		nh_spool_ack(s, read_expect(s, i));
	/* Only the segment being written is left. */
	assert_int_equal(count_files(f->dir, ".seg"), 1);
	assert_int_equal(nh_spool_close(s), 0);
	s = open_spool(f->dir, 1 << 20, 4 << 10);
	read_none(s);
	append_n(s, 200, 1, NULL);
	read_expect(s, 200);
	assert_int_equal(nh_spool_close(s), 0);
}

static void torn_last_record_is_cut_and_the_rest_kept(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	char path[128];
	struct stat stb;

	append_n(s, 0, 3, NULL);
	assert_int_equal(nh_spool_close(s), 0);
	first_segment(f->dir, path, sizeof(path));
	assert_int_equal(stat(path, &stb), 0);
	assert_int_equal(truncate(path, stb.st_size - 5), 0);

	s = open_spool(f->dir, 1 << 20, 0);
	read_expect(s, 0);
	read_expect(s, 1);
	read_none(s);
	append_n(s, 3, 1, NULL);
	read_expect(s, 3);
	assert_int_equal(nh_spool_close(s), 0);
}

static void damaged_record_is_skipped_and_counted(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	struct nh_spool_stats st;
	uint64_t pos[4];
	char path[128];
	int fd;

	append_n(s, 0, 4, pos);
	assert_int_equal(nh_spool_close(s), 0);
	/* Flip one body byte of record 1. */
	first_segment(f->dir, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, (off_t)(pos[1] & 0xffffffff) + 45), 1);
	close(fd);

	s = open_spool(f->dir, 1 << 20, 0);
	read_expect(s, 0);
	read_expect(s, 2);
	read_expect(s, 3);
	read_none(s);
	nh_spool_stats(s, &st);
	assert_int_equal(st.corrupt, 1);
	assert_true(st.corrupt_bytes > 0);
	assert_int_equal(nh_spool_close(s), 0);
}

static void damaged_ack_file_means_everything_is_read_again(void **state)
{
	struct fx *f = *state;
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	uint64_t pos[3];
	char path[128];
	FILE *fp;

	append_n(s, 0, 3, pos);
	nh_spool_ack(s, read_expect(s, 0));
	assert_int_equal(nh_spool_close(s), 0);
	snprintf(path, sizeof(path), "%s/ack", f->dir);
	fp = fopen(path, "r+");
	assert_non_null(fp);
	fputs("garbage", fp);
	fclose(fp);

	s = open_spool(f->dir, 1 << 20, 0);
	read_expect(s, 0); /* a duplicate, never a loss */
	read_expect(s, 1);
	read_expect(s, 2);
	assert_int_equal(nh_spool_close(s), 0);
}

static void second_open_of_the_same_dir_is_refused(void **state)
{
	struct fx *f = *state;
	struct nh_spool_opts o = { .dir = f->dir, .max_bytes = 1 << 20 };
	struct nh_spool *s = open_spool(f->dir, 1 << 20, 0);
	char err[256] = "";

	assert_null(nh_spool_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "in use by another nanohook"));
	assert_int_equal(nh_spool_close(s), 0);
	s = open_spool(f->dir, 1 << 20, 0);
	assert_int_equal(nh_spool_close(s), 0);
}

static void fsync_always_and_large_bodies(void **state)
{
	struct fx *f = *state;
	struct nh_spool_opts o = { .dir = f->dir, .max_bytes = 8 << 20, .fsync = NH_FSYNC_ALWAYS };
	struct nh_spool_meta m = { .seq = 42 }, got;
	size_t big = 300000, len;
	char err[256], *body = malloc(big), *b;
	struct nh_spool *s = nh_spool_open(&o, err, sizeof(err));
	uint64_t pos;

	assert_non_null(s);
	for (size_t i = 0; i < big; i++)
		body[i] = (char)(i * 7);
	assert_int_equal(nh_spool_append(s, &m, body, big, &pos), 0);
	assert_int_equal(nh_spool_append(s, &m, body, 0, &pos), 0);
	assert_int_equal(nh_spool_read(s, &got, &b, &len, &pos), 1);
	assert_int_equal(len, big);
	assert_memory_equal(b, body, big);
	assert_int_equal(got.seq, 42);
	free(b);
	assert_int_equal(nh_spool_read(s, &got, &b, &len, &pos), 1);
	assert_int_equal(len, 0);
	free(b);
	free(body);
	assert_int_equal(nh_spool_close(s), 0);
}

static void foreign_files_are_left_alone(void **state)
{
	struct fx *f = *state;
	char path[128];
	struct nh_spool *s;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/dead-letter.jsonl", f->dir);
	fp = fopen(path, "w");
	fputs("{}\n", fp);
	fclose(fp);
	/* A segment name without a segment header. */
	snprintf(path, sizeof(path), "%s/00000000000000aa.seg", f->dir);
	fp = fopen(path, "w");
	fputs("not a segment", fp);
	fclose(fp);

	s = open_spool(f->dir, 1 << 20, 0);
	read_none(s);
	append_n(s, 0, 1, NULL);
	read_expect(s, 0);
	assert_int_equal(nh_spool_close(s), 0);
	assert_int_equal(count_files(f->dir, ".jsonl"), 1);
	assert_int_equal(count_files(f->dir, ".seg.bad"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reads_in_append_order_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(restart_reads_only_what_was_not_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(rewind_rereads_unacknowledged_and_skips_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(ack_ahead_survives_a_second_rewind, setup, teardown),
		cmocka_unit_test_setup_teardown(full_spool_refuses_then_takes_again_after_acks, setup, teardown),
		cmocka_unit_test_setup_teardown(segments_are_deleted_once_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(torn_last_record_is_cut_and_the_rest_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_record_is_skipped_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_ack_file_means_everything_is_read_again, setup, teardown),
		cmocka_unit_test_setup_teardown(second_open_of_the_same_dir_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(fsync_always_and_large_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_files_are_left_alone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
