/* SPDX-License-Identifier: MIT */
#ifndef NH_URL_H
#define NH_URL_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

/* A configured url, http(s)://[user[:pass]@]host[:port][/path][?query],
 * checked and with the "/" path added when it has none (*path_added): NanoMQ
 * sends an empty request target, which servers read as "/". Returns a
 * malloc'd copy, or NULL and *why (a phrase to follow the url). */
char *nh_url_normalize(const char *in, bool *path_added, const char **why);

/* Does libcurl's parser take it as an http:// or https:// url? 0, or -1
 * and a reason. */
int nh_url_check(const char *url, char *err, size_t errlen);

/* nh_url_redact() of each url of a ' '-separated list (a destination's
 * key, config.h), joined the same way. */
char *nh_url_redact_list(const char *list);

/* What logs, `check`, `stats` and errors show of a url: the password and
 * the query replaced by ****. malloc'd; NULL when out of memory. */
char *nh_url_redact(const char *url);

/* With a server_name, requests go to `url` with its host replaced by the
 * name (for SNI, Host and verification) while the connection still goes
 * to the url's host and port (CURLOPT_CONNECT_TO). Returns 0 with
 * *url_out (malloc'd) and *connect_to (NULL without server_name), or -1
 * and a reason. */
int nh_url_route(const char *url, const char *server_name, char **url_out,
		 struct curl_slist **connect_to, char *err, size_t errlen);

#endif
