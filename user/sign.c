/* SPDX-License-Identifier: MIT */
/*
 * Standard Webhooks signatures: see sign.h.
 *
 * The secret is read once (before privileges are dropped) and kept only
 * as the decoded key, which is wiped when the signer goes. No message
 * built here ever holds any of it.
 */
#include "sign.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "encode.h"
#include "file_read.h"

struct nh_signer {
	uint8_t key[NH_SIGN_KEY_MAX];
	size_t key_len;
	EVP_MAC *hmac; /* fetched once: a fetch per request would look it up each time */
};

int nh_signer_from_secret(const char *secret, size_t len, struct nh_signer **out, char *err,
			  size_t errlen)
{
	struct nh_signer *s;
	long n;

	*out = NULL;
	while (len && isspace((unsigned char)*secret)) {
		secret++;
		len--;
	}
	while (len && isspace((unsigned char)secret[len - 1]))
		len--;
	if (len >= 6 && memcmp(secret, "whsec_", 6) == 0) {
		secret += 6;
		len -= 6;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = nh_base64_decode(secret, len, s->key, sizeof(s->key));
	if (n < NH_SIGN_KEY_MIN) {
		snprintf(err, errlen,
			 "the secret must be base64 of %d to %d random bytes, optionally prefixed whsec_ "
			 "(make one with: echo \"whsec_$(head -c 32 /dev/urandom | base64)\")",
			 NH_SIGN_KEY_MIN, NH_SIGN_KEY_MAX);
		nh_signer_free(s);
		return -1;
	}
	s->key_len = (size_t)n;
	s->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!s->hmac) {
		snprintf(err, errlen, "OpenSSL has no HMAC");
		nh_signer_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int nh_signer_load(const struct nh_sign_config *sc, struct nh_signer **out, char *err,
		   size_t errlen, FILE *warn)
{
	char why[200], *buf = NULL;
	size_t len = 0;
	bool shared = false;
	int rc;

	*out = NULL;
	if (!sc || (!sc->secret_file && !sc->secret_env))
		return 0;
	if (sc->secret_env) {
		const char *v = getenv(sc->secret_env);

		if (!v || !v[0]) {
			snprintf(err, errlen, "nanohook.sign.secret_env: $%s is not set", sc->secret_env);
			return -1;
		}
		rc = nh_signer_from_secret(v, strlen(v), out, why, sizeof(why));
		if (rc < 0)
			snprintf(err, errlen, "nanohook.sign.secret_env: $%s: %s", sc->secret_env, why);
		return rc;
	}
	if (nh_file_read(sc->secret_file, &buf, &len, &shared, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "nanohook.sign.secret_file %s: %s", sc->secret_file, why);
		return -1;
	}
	if (shared && warn)
		fprintf(warn, "nanohook: warning: nanohook.sign.secret_file %s is readable by group or others (chmod 600 it)\n",
			sc->secret_file);
	rc = nh_signer_from_secret(buf, len, out, why, sizeof(why));
	nh_secret_free(buf, len);
	if (rc < 0)
		snprintf(err, errlen, "nanohook.sign.secret_file %s: %s", sc->secret_file, why);
	return rc;
}

struct nh_signer *nh_signer_dup(const struct nh_signer *s)
{
	struct nh_signer *c;

	if (!s || !(c = malloc(sizeof(*c))))
		return NULL;
	*c = *s;
	if (EVP_MAC_up_ref(c->hmac) != 1) {
		nh_secret_free(c, sizeof(*c));
		return NULL;
	}
	return c;
}

void nh_signer_free(struct nh_signer *s)
{
	if (!s)
		return;
	EVP_MAC_free(s->hmac);
	nh_secret_free(s, sizeof(*s));
}

int nh_sign(const struct nh_signer *s, const char *id, int64_t timestamp, const void *body,
	    size_t len, char sig[NH_SIGNATURE_LEN + 1])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(s->hmac);
	uint8_t mac[32];
	size_t mac_len = 0;
	struct nh_buf b64;
	char ts[24];
	int ok;

	snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
	ok = c && EVP_MAC_init(c, s->key, s->key_len, params) == 1 &&
	     EVP_MAC_update(c, (const uint8_t *)id, strlen(id)) == 1 &&
	     EVP_MAC_update(c, (const uint8_t *)".", 1) == 1 &&
	     EVP_MAC_update(c, (const uint8_t *)ts, strlen(ts)) == 1 &&
	     EVP_MAC_update(c, (const uint8_t *)".", 1) == 1 &&
	     (len == 0 || EVP_MAC_update(c, body, len) == 1) &&
	     EVP_MAC_final(c, mac, &mac_len, sizeof(mac)) == 1 && mac_len == sizeof(mac);
	EVP_MAC_CTX_free(c);
	if (!ok)
		return -1;
	nh_buf_init(&b64);
	if (nh_base64_append(&b64, mac, sizeof(mac)) < 0 || b64.len != NH_SIGNATURE_LEN - 3) {
		nh_buf_free(&b64);
		return -1;
	}
	memcpy(sig, "v1,", 3);
	memcpy(sig + 3, b64.data, b64.len);
	sig[NH_SIGNATURE_LEN] = '\0';
	nh_buf_free(&b64);
	return 0;
}

void nh_webhook_id(uint64_t captured_ms, uint64_t seq, const void *body, size_t len,
		   char id[NH_WEBHOOK_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t head[16], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	for (int i = 0; i < 8; i++) {
		head[i] = (uint8_t)(captured_ms >> (8 * i));
		head[8 + i] = (uint8_t)(seq >> (8 * i));
	}
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, head, sizeof(head)) != 1 ||
	    (len && EVP_DigestUpdate(c, body, len) != 1) ||
	    EVP_DigestFinal_ex(c, md, &md_len) != 1 || md_len < 16) {
		/* Only out of memory gets here: still unique per event. */
		memset(md, 0, sizeof(md));
		memcpy(md, head, sizeof(head));
	}
	EVP_MD_CTX_free(c);
	memcpy(id, "msg_", 4);
	for (int i = 0; i < 16; i++) {
		id[4 + 2 * i] = hex[md[i] >> 4];
		id[5 + 2 * i] = hex[md[i] & 15];
	}
	id[NH_WEBHOOK_ID_LEN] = '\0';
}
