/* SPDX-License-Identifier: MIT */
/*
 * TLS to the endpoint: the files of webhook.tls {} read into memory once,
 * checked with OpenSSL (a certificate that does not match its key is an
 * error at startup, not at the first connection), and handed to every curl
 * handle as blobs.
 *
 * Read once, early, because nanohook may drop its privileges right after
 * attaching (--user): a root-only key file would be unreadable by the time
 * curl opened its next connection.
 */
#ifndef NH_TLS_H
#define NH_TLS_H

#include <stdio.h>

#include <curl/curl.h>

#include "config.h"

struct nh_tls;

/* Reads and checks the files of `tc`. Returns 0 and *out (NULL when there
 * is no enabled tls block: curl's defaults, which verify against the
 * system's CA store), or -1 and one line in err naming the key and file.
 * Warnings (an expired certificate) go to `warn` (may be NULL). */
int nh_tls_load(const struct nh_tls_config *tc, struct nh_tls **out, char *err, size_t errlen,
		FILE *warn);
struct nh_tls *nh_tls_dup(const struct nh_tls *t);
/* Wipes the key material. NULL is fine. */
void nh_tls_free(struct nh_tls *t);

/* Sets the TLS options of one handle (copies: `t` may go afterwards).
 * NULL sets the defaults: verification on, TLS 1.2 at least. */
int nh_tls_apply(const struct nh_tls *t, CURL *easy);

/* The name to send in SNI and Host and to check the certificate against;
 * NULL: the url's host. */
const char *nh_tls_server_name(const struct nh_tls *t);

/* For `check`: what was loaded (certificate subjects and expiry dates). */
void nh_tls_print(const struct nh_tls *t, FILE *out);

#endif
