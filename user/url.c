// SPDX-License-Identifier: MIT
/*
 * Endpoint urls, in one place: what the configuration accepts (and the "/"
 * it adds), what the engine accepts (libcurl's own parser, the one that
 * sends), how a url is shown in logs, and how tls.server_name reroutes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

char *nh_url_normalize(const char *in, bool *path_added, const char **why)
{
	const char *auth, *host, *end, *p;
	size_t auth_len, n = strlen(in);
	char *out;

	*path_added = false;
	for (p = in; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
			*why = "contains a blank or control character";
			return NULL;
		}
	}
	if (strncasecmp(in, "http://", 7) == 0)
		auth = in + 7;
	else if (strncasecmp(in, "https://", 8) == 0)
		auth = in + 8;
	else {
		*why = "must start with http:// or https://";
		return NULL;
	}
	auth_len = strcspn(auth, "/?#");
	end = auth + auth_len;
	host = auth;
	for (p = auth; p < end; p++)
		if (*p == '@')
			host = p + 1;

	if (host < end && *host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));

		if (!close || close == host + 1) {
			*why = "has a bad [IPv6] host";
			return NULL;
		}
		p = close + 1;
	} else {
		p = host;
		while (p < end && *p != ':')
			p++;
		if (p == host) {
			*why = "has no host";
			return NULL;
		}
	}
	if (p < end) {
		unsigned long port = 0;
		const char *d = ++p;

		if (p[-1] != ':') {
			*why = "has a bad [IPv6] host";
			return NULL;
		}
		while (p < end && *p >= '0' && *p <= '9' && port <= 65535)
			port = port * 10 + (unsigned long)(*p++ - '0');
		if (p == d || p != end || port == 0 || port > 65535) {
			*why = "has a bad port (1..65535)";
			return NULL;
		}
	}

	*path_added = *end != '/';
	out = malloc(n + 2);
	if (!out) {
		*why = "out of memory";
		return NULL;
	}
	memcpy(out, in, (size_t)(end - in));
	n = (size_t)(end - in);
	if (*path_added)
		out[n++] = '/';
	strcpy(out + n, end);
	/* What is accepted here must be what the engine sends to. */
	if (nh_url_check(out, NULL, 0) < 0) {
		*why = "is not a url libcurl can send to";
		free(out);
		return NULL;
	}
	return out;
}

char *nh_url_redact(const char *url)
{
	const char *auth = strstr(url, "://"), *at = NULL, *colon = NULL, *query;
	char *out;
	size_t n;

	if (auth) {
		auth += 3;
		n = strcspn(auth, "/?#");
		for (const char *p = auth; p < auth + n; p++)
			if (*p == '@')
				at = p;
		if (at)
			colon = memchr(auth, ':', (size_t)(at - auth));
	}
	query = strchr(auth ? auth : url, '?');
	/* at most: the url, "****" for the password and for the query */
	out = malloc(strlen(url) + 9);
	if (!out)
		return NULL;
	if (colon)
		n = (size_t)sprintf(out, "%.*s****%.*s", (int)(colon + 1 - url), url,
				    (int)((query ? query : url + strlen(url)) - at), at);
	else
		n = (size_t)sprintf(out, "%.*s", (int)((query ? query : url + strlen(url)) - url), url);
	if (query)
		strcpy(out + n, "?****");
	return out;
}

char *nh_url_redact_list(const char *list)
{
	char *out = malloc(2 * strlen(list) + 9 + 1), *at = out;

	if (!out)
		return NULL;
	*at = 0;
	while (*list) {
		size_t n = strcspn(list, " ");
		char *one = strndup(list, n), *shown = one ? nh_url_redact(one) : NULL;

		if (!shown) {
			free(one);
			free(out);
			return NULL;
		}
		/* Each url grows by at most 8 ("****" twice): room is kept. */
		at += sprintf(at, "%s%s", at == out ? "" : " ", shown);
		free(one);
		free(shown);
		list += n;
		list += strspn(list, " ");
	}
	return out;
}

int nh_url_check(const char *url, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL;
	CURLUcode uc;
	int ret = -1;

	if (!err)
		errlen = 0; /* the verdict alone */
	if (!url || !url[0]) {
		snprintf(err, errlen, "no webhook url");
		return -1;
	}
	u = curl_url();
	if (!u) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OK && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    (!strcmp(scheme, "http") || !strcmp(scheme, "https")))
		ret = 0;
	if (ret < 0 && errlen) {
		char *shown = nh_url_redact(url); /* a password never reaches a message */

		snprintf(err, errlen, "url \"%s\": %s", shown ? shown : "?",
			 uc != CURLUE_OK ? curl_url_strerror(uc)
					 : "only http:// and https:// are supported");
		free(shown);
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return ret;
}

int nh_url_route(const char *url, const char *server_name, char **url_out,
		 struct curl_slist **connect_to, char *err, size_t errlen)
{
	CURLU *u = NULL;
	char *host = NULL, *port = NULL, *routed = NULL, *line = NULL;
	int rc = -1;

	*url_out = NULL;
	*connect_to = NULL;
	if (!server_name) {
		if (!(*url_out = strdup(url)))
			snprintf(err, errlen, "out of memory");
		return *url_out ? 0 : -1;
	}
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &routed, 0) != CURLUE_OK) {
		snprintf(err, errlen, "webhook.tls.server_name %s: cannot be put in the url", server_name);
		goto out;
	}
	/* "name:port:host:port": connect to the url's host for the name. */
	if (asprintf(&line, "%s:%s:%s:%s", server_name, port, host, port) < 0) {
		line = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*connect_to = curl_slist_append(NULL, line);
	*url_out = strdup(routed);
	if (!*connect_to || !*url_out) {
		curl_slist_free_all(*connect_to);
		*connect_to = NULL;
		free(*url_out);
		*url_out = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	free(line);
	curl_free(routed);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}
