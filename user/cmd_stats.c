// SPDX-License-Identifier: MIT
/* `nanohook stats --metrics ADDR:PORT`: a running nanohook's counters. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "buf.h"
#include "commands.h"
#include "log.h"
#include "metrics.h"
#include "stats.h"

#define FETCH_TIMEOUT_MS 5000
#define TEXT_MAX (8u << 20)

static size_t keep(char *p, size_t size, size_t n, void *ud)
{
	struct nh_buf *b = ud;

	if (b->len + size * n > TEXT_MAX || nh_buf_append(b, p, size * n) < 0)
		return 0;
	return size * n;
}

int nh_cmd_stats(const char *metrics)
{
	struct sockaddr_storage ss;
	struct nh_buf text = NH_BUF_INIT;
	char url[128], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURLcode rc;
	CURL *e;
	int ret = 1;

	if (nh_metrics_parse_listen(metrics, &ss) < 0) {
		nh_err("stats: --metrics '%s' is not ADDR:PORT (e.g. 127.0.0.1:9464)", metrics);
		return 2;
	}
	snprintf(url, sizeof(url), "http://%s/metrics", metrics);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(e = curl_easy_init())) {
		nh_err("stats: cannot set up curl");
		return 1;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &text);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		nh_err("stats: %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	else if (status != 200)
		nh_err("stats: %s: HTTP status %ld", url, status);
	else {
		nh_stats_print_metrics(text.data ? text.data : "", text.len, stdout);
		ret = 0;
	}
	curl_easy_cleanup(e);
	curl_global_cleanup();
	nh_buf_free(&text);
	return ret;
}
