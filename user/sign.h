/* SPDX-License-Identifier: MIT */
/*
 * Request signing in the Standard Webhooks convention
 * (https://www.standardwebhooks.com): every request carries
 *   webhook-id:        msg_<32 hex>, the same on every attempt of an event
 *                      (receivers de-duplicate on it)
 *   webhook-timestamp: unix seconds of this attempt
 *   webhook-signature: v1,<base64 of HMAC-SHA256(key, id "." timestamp "." body)>
 * The key is the secret after an optional "whsec_" prefix, base64-decoded,
 * as the Standard Webhooks libraries read it, so a receiver can verify with
 * any of them.
 */
#ifndef NH_SIGN_H
#define NH_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

#define NH_SIGN_KEY_MIN 24 /* bytes, the convention's range */
#define NH_SIGN_KEY_MAX 64
#define NH_WEBHOOK_ID_LEN 36            /* "msg_" + 32 hex */
#define NH_SIGNATURE_LEN (3 + 44)       /* "v1," + base64 of 32 bytes */

struct nh_signer;

/* Reads the secret named by `sc` (a file or an environment variable).
 * Returns 0 and *out (NULL when signing is off), or -1 and one line in
 * err that never holds the secret. Warnings (a secret file others can
 * read) go to `warn` (may be NULL). */
int nh_signer_load(const struct nh_sign_config *sc, struct nh_signer **out, char *err,
		   size_t errlen, FILE *warn);
/* The secret from a string (tests, the env path). */
int nh_signer_from_secret(const char *secret, size_t len, struct nh_signer **out, char *err,
			  size_t errlen);
struct nh_signer *nh_signer_dup(const struct nh_signer *s);
/* Wipes the key. NULL is fine. */
void nh_signer_free(struct nh_signer *s);

/* `sig` gets "v1,<base64>" and a NUL. Returns 0, or -1 if OpenSSL fails. */
int nh_sign(const struct nh_signer *s, const char *id, int64_t timestamp, const void *body,
	    size_t len, char sig[NH_SIGNATURE_LEN + 1]);

/* The id of one event: a digest of when it was captured, its sequence
 * number and its body, so every attempt (and a replay from the spool)
 * gives the same id and two events never share one. */
void nh_webhook_id(uint64_t captured_ms, uint64_t seq, const void *body, size_t len,
		   char id[NH_WEBHOOK_ID_LEN + 1]);

#endif
