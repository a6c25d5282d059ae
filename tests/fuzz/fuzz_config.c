/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a nanomq.conf: the HOCON reader and the configuration built
 * on it must never crash, leak or read out of bounds, and must either
 * succeed or give exactly one "name:line:col: ..." error. Every node of a
 * parsed tree is also pushed through each conversion, and a loaded
 * configuration through check output and rule matching.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "subject.h"
#include "hocon.h"

#include "fuzz_check.h"
#include "url.h"

/* Where check output and warnings go; opened once, as libFuzzer runs
 * millions of inputs in one process. */
static FILE *sink;

static void walk(const struct nh_hocon_node *n, int depth)
{
	long long i;
	uint64_t u;
	bool b;

	CHECK(depth <= NH_HOCON_MAX_DEPTH);
	if (n->str)
		CHECK(strlen(n->str) == n->len);
	(void)nh_hocon_as_int(n, &i);
	(void)nh_hocon_as_bool(n, &b);
	(void)nh_hocon_as_duration_ms(n, &u);
	(void)nh_hocon_as_size(n, &u);
	for (size_t k = 0; k < n->n_kids; k++) {
		const struct nh_hocon_node *kid = n->kids[k];

		if (n->type == NH_HOCON_OBJECT) {
			CHECK(kid->key != NULL);
			/* keys are unique after merging */
			CHECK(nh_hocon_get(n, kid->key) == kid);
		} else {
			CHECK(kid->key == NULL);
		}
		walk(kid, depth + 1);
	}
}

/* What logs show of a url: no query, no password. */
static void check_redacted(const char *url)
{
	char *shown = nh_url_redact(url);
	const char *q = strchr(url, '?');
	const char *auth = strstr(url, "://");

	if (!shown)
		return;
	if (q)
		CHECK(strlen(shown) >= 5 && strcmp(shown + strlen(shown) - 5, "?****") == 0 &&
		      strchr(shown, '?') == shown + strlen(shown) - 5);
	if (auth) {
		size_t n = strcspn(auth + 3, "/?#");
		const char *at = memrchr(auth + 3, '@', n);
		const char *colon = at ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;

		if (colon)
			CHECK(strncmp(shown + (colon + 1 - url), "****@", 5) == 0);
	}
	free(shown);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nh_hocon_doc *doc = NULL;
	struct nh_config cfg;
	char err[1024];

	if (!sink)
		sink = fopen("/dev/null", "w");
	if (!sink)
		return 0;

	/* A private copy of exactly `size` bytes: reads past it are caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);

	if (nh_hocon_parse_buf("f.conf", buf, size, sink, &doc, err, sizeof(err)) == 0) {
		CHECK(doc && doc->root && doc->root->type == NH_HOCON_OBJECT);
		walk(doc->root, 0);
		(void)nh_hocon_path(doc->root, "webhook.body.encoding");
		nh_hocon_free(doc);
	} else {
		CHECK(doc == NULL);
		CHECK(strncmp(err, "f.conf:", 7) == 0);
		CHECK(strchr(err, '\n') == NULL || strchr(err, '\n') > err + 7);
	}

	if (nh_config_load_buf("f.conf", buf, size, &cfg, sink) == 0) {
		CHECK(cfg.url != NULL && cfg.n_rules > 0);
		CHECK(cfg.pool_size >= 1 && cfg.pool_size <= 1024);
		CHECK(cfg.payload_max >= 1 && cfg.payload_max <= NH_PAYLOAD_LARGE);
		CHECK((cfg.ringbuf_bytes & (cfg.ringbuf_bytes - 1)) == 0);
		nh_config_print(&cfg, sink);
		check_redacted(cfg.url);
		/* Destinations: webhook.url first, every rule pointing at one,
		 * no two with the same urls, each key its urls sorted. */
		CHECK(cfg.n_dests >= 1 && cfg.n_dests <= NH_DESTS_MAX);
		CHECK(!strcmp(cfg.url, cfg.dests[0].urls[0]));
		for (size_t d = 0; d < cfg.n_dests; d++) {
			char *shown = nh_url_redact_list(cfg.dests[d].key);

			CHECK(cfg.dests[d].n_urls >= 1 && cfg.dests[d].n_urls <= NH_DEST_URLS_MAX);
			for (size_t e = 0; e < d; e++)
				CHECK(strcmp(cfg.dests[d].key, cfg.dests[e].key) != 0);
			for (size_t i = 0; cfg.dests[d].kind == NH_SINK_HTTP && i < cfg.dests[d].n_urls; i++)
				CHECK(strstr(cfg.dests[d].key, cfg.dests[d].urls[i]) != NULL);
			/* The NATS destination: one, last, named by its stream,
			 * with a template that passes its own check. */
			if (cfg.dests[d].kind == NH_SINK_NATS) {
				char why[256];

				CHECK(d == cfg.n_dests - 1 && d > 0);
				CHECK(!strncmp(cfg.dests[d].key, "nats:", 5) &&
				      !strcmp(cfg.dests[d].key + 5, cfg.nats.stream));
				CHECK(nh_subject_check(cfg.nats.subject, why, sizeof(why)) == 0);
			}
			free(shown);
		}
		for (size_t r = 0; r < cfg.n_rules; r++)
			CHECK(cfg.rules[r].dest < cfg.n_dests);
		for (int ev = NH_EV_NONE; ev <= NH_EV_MAX; ev++) {
			uint32_t dests = nh_config_dests(&cfg, (enum nh_event_type)ev, buf,
							 size < 64 ? size : 64);

			CHECK(cfg.n_dests == 32 || (dests >> cfg.n_dests) == 0);
			CHECK((dests != 0) == nh_config_wants(&cfg, (enum nh_event_type)ev, buf,
							       size < 64 ? size : 64));
			(void)nh_config_wants(&cfg, (enum nh_event_type)ev, NULL, 0);
		}
		nh_config_free(&cfg);
	} else {
		CHECK(cfg.url == NULL && cfg.rules == NULL && cfg.headers == NULL);
	}
	free(buf);
	return 0;
}
