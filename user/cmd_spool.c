// SPDX-License-Identifier: MIT
/*
 * `nanohook spool ls | export ID | drop ID`: what waits in the spool, per
 * destination (see spool_dest.h), and what to do with the events held for
 * a url the configuration no longer names.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "commands.h"
#include "config.h"
#include "deadletter.h"
#include "log.h"
#include "spool.h"
#include "spool_dest.h"
#include "subject.h"

struct ls {
	const struct nh_config *cfg; /* the configuration, or NULL */
	unsigned shown;
};

/* Is id one of the configuration's destinations? */
static bool own(const struct nh_config *cfg, const char *id)
{
	for (size_t i = 0; cfg && i < cfg->n_dests; i++) {
		char own_id[NH_SPOOL_DEST_ID_LEN + 1];

		nh_spool_dest_id(cfg->dests[i].key, own_id);
		if (!strcmp(own_id, id))
			return true;
	}
	return false;
}

static void print_dest(void *ctx, const struct nh_spool_dest *d)
{
	struct ls *ls = ctx;

	if (!ls->shown++)
		printf("%-16s  %10s  %12s  %s\n", "DESTINATION", "EVENTS", "BYTES", "URL");
	if (d->records == UINT64_MAX)
		printf("%-16s  %10s  %12s  %s (in use by a running nanohook)\n", d->id, "-", "-",
		       d->url);
	else
		printf("%-16s  %10" PRIu64 "  %12" PRIu64 "  %s%s\n", d->id, d->records, d->bytes,
		       d->url,
		       own(ls->cfg, d->id) ? "  (this configuration's)" : "");
}

/* Every record not acknowledged, as a dead-letter line ("exported"): what
 * `nanohook replay FILE --to URL` sends (a NATS destination's lines also
 * carry their subject). The spool is not changed. */
static int export_dest(const char *dir, const char *id)
{
	bool legacy = !strcmp(id, NH_SPOOL_LEGACY);
	char err[512], shown[512];
	struct nh_buf line = NH_BUF_INIT;
	struct nh_spool *s;
	uint64_t n = 0;
	int r, rc = 1;

	nh_spool_dest_url(dir, shown, sizeof(shown));
	s = nh_spool_dest_open_spool(dir, err, sizeof(err));
	if (!s) {
		nh_err("spool export: %s", err);
		return 1;
	}
	for (;;) {
		struct nh_spool_meta m;
		uint64_t pos;
		size_t len;
		char *body;

		r = nh_spool_read(s, &m, &body, &len, &pos);
		if (r <= 0)
			break;
		struct nh_dead_entry e = {
			.reason = NH_DEAD_EXPORTED,
			.attempts = m.attempts,
			.captured_ms = m.first_ms,
			.key = m.key,
			.body = body,
			.len = len,
			.dest = legacy || shown[0] == '(' ? NULL : shown,
		};
		/* The JetStream sink's records carry their subject (subject.h):
		 * it goes to "subject", and "body" is the event's body. */
		if (!strncmp(shown, "nats:", 5))
			nh_subject_unframe(body, len, &e.subject, &e.subject_len, &e.body, &e.len);
		nh_buf_reset(&line);
		if (nh_dead_letter_format(&line, &e) < 0 ||
		    fwrite(line.data, 1, line.len, stdout) != line.len)
			r = -1;
		free(body);
		if (r < 0)
			break;
		n++;
	}
	if (r < 0 || fflush(stdout) != 0)
		nh_err("spool export: %s", strerror(errno));
	else
		rc = 0;
	fprintf(stderr, "nanohook: spool export: %" PRIu64 " events of destination %s\n", n, id);
	nh_buf_free(&line);
	nh_spool_close(s);
	return rc;
}

/* The destination's directory and everything in it (a spool holds only
 * files); for legacy, only the spool files in the spool directory. */
static int drop_dest(const char *dir, const char *id)
{
	bool legacy = !strcmp(id, NH_SPOOL_LEGACY);
	struct nh_spool_stats st = { 0 };
	struct nh_spool *s;
	struct dirent *e;
	char err[512];
	DIR *dp;
	int rc = 0;

	/* Its lock: never under a running nanohook. */
	s = nh_spool_dest_open_spool(dir, err, sizeof(err));
	if (!s) {
		nh_err("spool drop: %s", err);
		return 1;
	}
	nh_spool_stats(s, &st);
	dp = opendir(dir);
	while (dp && (e = readdir(dp))) {
		size_t n = strlen(e->d_name);
		bool ours = !strcmp(e->d_name, "ack") || !strcmp(e->d_name, "ack.tmp") ||
			    (n > 4 && !strcmp(e->d_name + n - 4, ".seg")) ||
			    (n > 8 && !strcmp(e->d_name + n - 8, ".seg.bad")) ||
			    (!legacy && !strcmp(e->d_name, "destination"));

		if (ours && unlinkat(dirfd(dp), e->d_name, 0) < 0) {
			nh_err("spool drop: %s/%s: %s", dir, e->d_name, strerror(errno));
			rc = 1;
		}
	}
	if (dp)
		closedir(dp);
	nh_spool_close(s);
	if (!legacy && rc == 0 && rmdir(dir) < 0) {
		nh_err("spool drop: %s: %s", dir, strerror(errno));
		rc = 1;
	}
	if (rc == 0)
		fprintf(stderr, "nanohook: spool drop: %" PRIu64 " events of destination %s dropped\n",
			st.records, id);
	return rc;
}

int nh_cmd_spool(const char *action, const char *id, const char *conf_path,
		 const char *spool_dir)
{
	char err[512], *dir = NULL;
	struct nh_config cfg;
	bool have_cfg = false;
	struct ls ls = { 0 };
	int rc = 2;

	if (conf_path) {
		if (nh_config_load(conf_path, &cfg, stderr))
			return 2;
		have_cfg = true;
		ls.cfg = &cfg;
		if (!spool_dir)
			spool_dir = nh_config_spool_dir(&cfg);
	}
	if (!spool_dir) {
		nh_err("spool: the configuration has no spool (nanohook.spool.dir = \"\")");
		goto out;
	}
	if (!strcmp(action, "ls")) {
		int n = nh_spool_dest_each(spool_dir, print_dest, &ls, err, sizeof(err));

		if (n < 0)
			nh_err("spool ls: %s", err);
		else if (n == 0)
			printf("nothing waits in %s\n", spool_dir);
		rc = n < 0;
		goto out;
	}
	dir = nh_spool_dest_dir(spool_dir, id);
	if (!dir || (strcmp(id, NH_SPOOL_LEGACY) && access(dir, F_OK) < 0)) {
		nh_err("spool %s: no destination %s in %s (`nanohook spool ls` lists them)", action,
		       id, spool_dir);
		goto out;
	}
	rc = !strcmp(action, "export") ? export_dest(dir, id) : drop_dest(dir, id);
out:
	free(dir);
	if (have_cfg)
		nh_config_free(&cfg);
	return rc;
}
