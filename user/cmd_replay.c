// SPDX-License-Identifier: MIT
/*
 * `nanohook replay FILE --conf F`: sends the bodies of a dead-letter file
 * again, through the same engine as a running nanohook (its retries, its
 * lanes: each client's events in file order).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "commands.h"
#include "config.h"
#include "deadletter.h"
#include "deliver.h"
#include "deliver_opts.h"
#include "security.h"
#include "log.h"
#include "url.h"

#define REPLAY_QUEUE 10000
#define POLL_MS 100
#define EXIT_FAILED_MAX 100

struct replay {
	uint64_t delivered, failed;
	struct nh_buf line;
};

static void on_result(void *ctx, struct nh_deliver_item *it, const struct nh_deliver_result *r)
{
	static const enum nh_dead_reason why[] = {
		[NH_OUT_REJECTED] = NH_DEAD_REJECTED,
		[NH_OUT_GAVE_UP_ATTEMPTS] = NH_DEAD_MAX_ATTEMPTS,
		[NH_OUT_GAVE_UP_AGE] = NH_DEAD_MAX_AGE,
		[NH_OUT_RELEASED] = NH_DEAD_MAX_ATTEMPTS,
	};
	struct replay *rp = ctx;

	if (r->outcome == NH_OUT_DELIVERED) {
		rp->delivered++;
	} else {
		struct nh_dead_entry e = {
			.reason = why[r->outcome],
			.attempts = it->attempts,
			.status = r->http_status,
			.error = r->error,
			.captured_ms = it->captured_ms,
			.key = it->key,
			.body = it->body,
			.len = it->len,
		};

		rp->failed++;
		/* Still not delivered: printed, so that it can be kept and
		 * replayed again. */
		nh_buf_reset(&rp->line);
		if (nh_dead_letter_format(&rp->line, &e) == 0)
			fwrite(rp->line.data, 1, rp->line.len, stdout);
	}
	free(it->body);
}

int nh_cmd_replay(const char *file, const char *conf_path, const char *to_url)
{
	struct replay rp = { 0 };
	struct nh_retry_policy retry;
	struct nh_deliver_opts o;
	struct nh_deliver *d = NULL;
	struct nh_config cfg;
	struct nh_security sec = { 0 };
	char *line = NULL, err[512], why[256];
	size_t cap = 0;
	uint64_t lineno = 0, bad = 0, total;
	ssize_t n;
	FILE *in;
	int rc = NH_REPLAY_CANNOT_RUN;

	if (nh_config_load(conf_path, &cfg, stderr))
		return NH_REPLAY_CANNOT_RUN;
	if (to_url) {
		/* Checked and normalized as webhook.url would be. */
		const char *problem = NULL;
		bool added;
		char *u = nh_url_normalize(to_url, &added, &problem);

		if (!u) {
			nh_err("replay: --to %s: %s", to_url, problem ? problem : "not a url");
			nh_config_free(&cfg);
			return NH_REPLAY_CANNOT_RUN;
		}
		free(cfg.url);
		cfg.url = u;
	}
	in = strcmp(file, "-") == 0 ? stdin : fopen(file, "re");
	if (!in) {
		nh_err("replay: %s: %s", file, strerror(errno));
		goto out;
	}
	if (nh_security_load(&cfg, &sec, err, sizeof(err), stderr) < 0) {
		nh_err("replay: %s", err);
		goto out;
	}
	/* --to: that url alone; else webhook.url, a pool as configured. */
	nh_deliver_opts_from_config(&cfg, &sec, &cfg.dests[0], &retry, &o);
	if (to_url) {
		o.url = cfg.url;
		o.urls = NULL;
		o.n_urls = 0;
	}
	o.queue_max = REPLAY_QUEUE;
	o.on_result = on_result;
	o.ctx = &rp;
	d = nh_deliver_new(&o, err, sizeof(err));
	if (!d) {
		nh_err("replay: %s", err);
		goto out;
	}
	while ((n = getline(&line, &cap, in)) >= 0) {
		struct nh_dead_entry e;
		struct nh_deliver_item it;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		if (nh_dead_letter_parse(line, (size_t)n, &e, why, sizeof(why)) < 0) {
			nh_err("replay: %s:%llu: %s (skipped)", file, (unsigned long long)lineno, why);
			bad++;
			continue;
		}
		/* Its age starts now: max_age is about this replay. */
		it = (struct nh_deliver_item){ .body = (char *)e.body, .len = e.len, .seq = lineno, .id = lineno,
					       .key = e.key, .captured_ms = nh_wall_ms() };
		while (nh_deliver_submit_item(d, &it) < 0) {
			if (nh_deliver_poll(d, -1, POLL_MS) < 0) {
				nh_err("replay: %s", nh_deliver_last_error(d));
				nh_dead_entry_free(&e);
				goto out;
			}
		}
	}
	if (ferror(in)) {
		nh_err("replay: %s: %s", file, strerror(errno));
		goto out;
	}
	/* Every item ends: delivered, or given up by the retry policy. */
	while (nh_deliver_in_flight(d) > 0) {
		if (nh_deliver_poll(d, -1, POLL_MS) < 0) {
			nh_err("replay: %s", nh_deliver_last_error(d));
			goto out;
		}
	}
	fflush(stdout);
	total = rp.failed + bad;
	fprintf(stderr, "nanohook: replay: %llu delivered, %llu not (%llu given up, %llu unreadable lines)\n",
		(unsigned long long)rp.delivered, (unsigned long long)total,
		(unsigned long long)rp.failed, (unsigned long long)bad);
	rc = total > EXIT_FAILED_MAX ? EXIT_FAILED_MAX : (int)total;
out:
	nh_deliver_free(d);
	if (in && in != stdin)
		fclose(in);
	free(line);
	nh_buf_free(&rp.line);
	nh_security_free(&sec);
	nh_config_free(&cfg);
	return rc;
}
