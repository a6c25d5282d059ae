// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fnv.h"
#include "spool.h"
#include "spool_dest.h"
#include "url.h"

#define DEST_PREFIX "dest-"
#define DEST_FILE "destination"

void nh_spool_dest_id(const char *url, char id[NH_SPOOL_DEST_ID_LEN + 1])
{
	snprintf(id, NH_SPOOL_DEST_ID_LEN + 1, "%016" PRIx64, nh_fnv1a64(url, strlen(url)));
}

static bool is_id(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == NH_SPOOL_DEST_ID_LEN && !s[n];
}

char *nh_spool_dest_dir(const char *spool_dir, const char *id)
{
	char *p = NULL;

	if (!strcmp(id, NH_SPOOL_LEGACY))
		return strdup(spool_dir);
	if (!is_id(id) || asprintf(&p, "%s/" DEST_PREFIX "%s", spool_dir, id) < 0)
		return NULL;
	return p;
}

/* The destination file, written once: the url as a reader may see it. */
static int write_dest_file(const char *dir, const char *url)
{
	char *path = NULL, *shown = nh_url_redact_list(url);
	FILE *f = NULL;
	int rc = -1;

	if (!shown || asprintf(&path, "%s/" DEST_FILE, dir) < 0)
		goto out;
	if (access(path, F_OK) == 0) {
		rc = 0;
		goto out;
	}
	f = fopen(path, "we");
	if (f && fprintf(f, "%s\n", shown) > 0 && fclose(f) == 0)
		rc = 0;
	else if (f)
		fclose(f);
out:
	free(path);
	free(shown);
	return rc;
}

char *nh_spool_dest_open_dir(const char *spool_dir, const char *url, char *err, size_t errlen)
{
	char id[NH_SPOOL_DEST_ID_LEN + 1];
	char *dir;

	nh_spool_dest_id(url, id);
	dir = nh_spool_dest_dir(spool_dir, id);
	if (!dir) {
		snprintf(err, errlen, "spool %s: out of memory", spool_dir);
		return NULL;
	}
	if ((mkdir(spool_dir, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0700) < 0 && errno != EEXIST) || write_dest_file(dir, url) < 0) {
		snprintf(err, errlen, "spool %s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

void nh_spool_dest_url(const char *dir, char *out, size_t cap)
{
	char *path = NULL;
	FILE *f;

	snprintf(out, cap, "(unknown: no %s file)", DEST_FILE);
	if (asprintf(&path, "%s/" DEST_FILE, dir) < 0)
		return;
	f = fopen(path, "re");
	free(path);
	if (!f)
		return;
	if (fgets(out, (int)cap, f))
		out[strcspn(out, "\r\n")] = 0;
	fclose(f);
}

struct nh_spool *nh_spool_dest_open_spool(const char *dir, char *err, size_t errlen)
{
	struct nh_spool_opts so = { .dir = dir, .max_bytes = UINT64_MAX >> 1,
				    .fsync = NH_FSYNC_NEVER };

	return nh_spool_open(&so, err, errlen);
}

/* Opens the spool in dir for a moment, for its counts. */
static void count(const char *dir, struct nh_spool_dest *d)
{
	struct nh_spool_stats st;
	struct nh_spool *s;
	char err[256];

	s = nh_spool_dest_open_spool(dir, err, sizeof(err));
	if (!s) {
		d->records = d->bytes = UINT64_MAX; /* in use (locked), or unreadable */
		return;
	}
	nh_spool_stats(s, &st);
	d->records = st.records;
	d->bytes = st.bytes;
	nh_spool_close(s);
}

static bool has_segments(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!dp)
		return false;
	while (!found && (e = readdir(dp))) {
		size_t n = strlen(e->d_name);

		found = n > 4 && !strcmp(e->d_name + n - 4, ".seg");
	}
	closedir(dp);
	return found;
}

int nh_spool_dest_each(const char *spool_dir,
		       void (*fn)(void *ctx, const struct nh_spool_dest *d), void *ctx,
		       char *err, size_t errlen)
{
	DIR *dp = opendir(spool_dir);
	struct dirent *e;
	int found = 0;

	if (!dp) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "spool %s: %s", spool_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(dp))) {
		struct nh_spool_dest d = { 0 };
		char *dir;

		if (strncmp(e->d_name, DEST_PREFIX, strlen(DEST_PREFIX)) ||
		    !is_id(e->d_name + strlen(DEST_PREFIX)))
			continue;
		memcpy(d.id, e->d_name + strlen(DEST_PREFIX), NH_SPOOL_DEST_ID_LEN);
		dir = nh_spool_dest_dir(spool_dir, d.id);
		if (!dir)
			continue;
		nh_spool_dest_url(dir, d.url, sizeof(d.url));
		count(dir, &d);
		free(dir);
		fn(ctx, &d);
		found++;
	}
	closedir(dp);
	if (has_segments(spool_dir)) {
		struct nh_spool_dest d = { .id = NH_SPOOL_LEGACY, .url = "(not recorded)" };

		count(spool_dir, &d);
		if (d.records) {
			fn(ctx, &d);
			found++;
		}
	}
	return found;
}
