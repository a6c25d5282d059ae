/* SPDX-License-Identifier: MIT */
/*
 * webhook.tls {}: see tls.h. OpenSSL is used only to check the files up
 * front (curl's own OpenSSL backend does the handshakes), so that a wrong
 * key or a file that is not PEM is one clear line at startup instead of a
 * TLS error on every attempt.
 */
#include "tls.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "file_read.h"

struct pem {
	char *data;
	size_t len;
};

struct nh_tls {
	struct pem ca;       /* empty: the system's store */
	struct pem cert;     /* empty: no client certificate */
	struct pem key;      /* a secret; empty: in cert */
	char *key_password;  /* a secret */
	char *server_name;
	bool verify;
	/* For `check` and warnings. */
	int ca_count;
	char cert_subject[256];
	char cert_not_after[64];
};

static void pem_free(struct pem *p, bool secret)
{
	if (secret)
		nh_secret_free(p->data, p->len);
	else
		free(p->data);
	p->data = NULL;
	p->len = 0;
}

static int pem_dup(struct pem *to, const struct pem *from)
{
	to->len = from->len;
	to->data = NULL;
	if (!from->data)
		return 0;
	to->data = malloc(from->len + 1);
	if (!to->data)
		return -1;
	memcpy(to->data, from->data, from->len + 1);
	return 0;
}

/* OpenSSL's error queue as one short reason, cleared. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static void asn1_time_str(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, len, "?");
}

static int read_pem(const char *what, const char *path, struct pem *p, bool secret, char *err,
		    size_t errlen, FILE *warn)
{
	char why[200];
	bool shared = false;

	if (nh_file_read(path, &p->data, &p->len, &shared, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "webhook.tls.%s %s: %s", what, path, why);
		return -1;
	}
	if (secret && shared && warn)
		fprintf(warn, "nanohook: warning: webhook.tls.%s %s is readable by group or others (chmod 600 it)\n",
			what, path);
	return 0;
}

static int count_ca(struct nh_tls *t, const char *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(t->ca.data, (int)t->ca.len);
	STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
	int n = 0;

	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
		if (sk_X509_INFO_value(infos, i)->x509)
			n++;
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	ERR_clear_error();
	if (n == 0) {
		snprintf(err, errlen, "webhook.tls.cacertfile %s: no PEM certificate in it (\"-----BEGIN CERTIFICATE-----\")",
			 path);
		return -1;
	}
	t->ca_count = n;
	return 0;
}

static int password_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n;

	(void)rwflag;
	if (!pw || size <= 0)
		return -1; /* no password: fail instead of prompting on a terminal */
	n = strlen(pw);
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, pw, n);
	return (int)n;
}

static bool pem_encrypted(const struct pem *p)
{
	return p->data && (strstr(p->data, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
			   strstr(p->data, "Proc-Type: 4,ENCRYPTED"));
}

/* The client certificate and its key: readable, PEM, and a pair. */
static int check_pair(struct nh_tls *t, const struct nh_tls_config *tc, char *err,
		      size_t errlen, FILE *warn)
{
	const struct pem *key = t->key.data ? &t->key : &t->cert;
	const char *key_what = t->key.data ? "keyfile" : "certfile";
	const char *key_path = t->key.data ? tc->keyfile : tc->certfile;
	BIO *bio = BIO_new_mem_buf(t->cert.data, (int)t->cert.len);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pk = NULL;
	char why[160];
	int rc = -1;

	BIO_free(bio);
	if (!x) {
		ERR_clear_error();
		snprintf(err, errlen, "webhook.tls.certfile %s: no PEM certificate in it (\"-----BEGIN CERTIFICATE-----\")",
			 tc->certfile);
		return -1;
	}
	bio = BIO_new_mem_buf(key->data, (int)key->len);
	pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, password_cb, t->key_password) : NULL;
	BIO_free(bio);
	if (!pk) {
		if (pem_encrypted(key) && !t->key_password)
			snprintf(err, errlen, "webhook.tls.%s %s: the key is encrypted; set webhook.tls.key_password",
				 key_what, key_path);
		else if (pem_encrypted(key))
			snprintf(err, errlen, "webhook.tls.%s %s: cannot decrypt the key with webhook.tls.key_password (wrong password?)",
				 key_what, key_path);
		else if (!t->key.data)
			snprintf(err, errlen, "webhook.tls.certfile %s: no private key in it; set webhook.tls.keyfile",
				 key_path);
		else
			snprintf(err, errlen, "webhook.tls.keyfile %s: not a PEM private key (%s)",
				 key_path, ssl_reason(why, sizeof(why)));
		ERR_clear_error();
		goto out;
	}
	if (X509_check_private_key(x, pk) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "webhook.tls.%s %s does not match the certificate in webhook.tls.certfile %s",
			 key_what, key_path, tc->certfile);
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(x), t->cert_subject, sizeof(t->cert_subject));
	asn1_time_str(X509_get0_notAfter(x), t->cert_not_after, sizeof(t->cert_not_after));
	if (warn && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		fprintf(warn, "nanohook: warning: webhook.tls.certfile %s expired on %s; the endpoint will refuse it\n",
			tc->certfile, t->cert_not_after);
	if (warn && X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		fprintf(warn, "nanohook: warning: webhook.tls.certfile %s is not valid yet\n",
			tc->certfile);
	rc = 0;
out:
	EVP_PKEY_free(pk);
	X509_free(x);
	return rc;
}

int nh_tls_load(const struct nh_tls_config *tc, struct nh_tls **out, char *err, size_t errlen,
		FILE *warn)
{
	struct nh_tls *t;

	*out = NULL;
	if (!tc || !tc->present || !tc->enable)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->verify = tc->verify;
	if ((tc->key_password && !(t->key_password = strdup(tc->key_password))) ||
	    (tc->server_name && !(t->server_name = strdup(tc->server_name)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (tc->cacertfile && t->verify) {
		if (read_pem("cacertfile", tc->cacertfile, &t->ca, false, err, errlen, NULL) < 0 ||
		    count_ca(t, tc->cacertfile, err, errlen) < 0)
			goto fail;
	}
	if (tc->certfile) {
		if (read_pem("certfile", tc->certfile, &t->cert, !tc->keyfile, err, errlen, warn) < 0)
			goto fail;
		if (tc->keyfile &&
		    read_pem("keyfile", tc->keyfile, &t->key, true, err, errlen, warn) < 0)
			goto fail;
		if (check_pair(t, tc, err, errlen, warn) < 0)
			goto fail;
	}
	*out = t;
	return 0;
fail:
	nh_tls_free(t);
	return -1;
}

struct nh_tls *nh_tls_dup(const struct nh_tls *t)
{
	struct nh_tls *c;

	if (!t)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	*c = *t;
	c->ca = c->cert = c->key = (struct pem){ 0 };
	c->key_password = c->server_name = NULL;
	if (pem_dup(&c->ca, &t->ca) < 0 || pem_dup(&c->cert, &t->cert) < 0 ||
	    pem_dup(&c->key, &t->key) < 0 ||
	    (t->key_password && !(c->key_password = strdup(t->key_password))) ||
	    (t->server_name && !(c->server_name = strdup(t->server_name)))) {
		nh_tls_free(c);
		return NULL;
	}
	return c;
}

void nh_tls_free(struct nh_tls *t)
{
	if (!t)
		return;
	pem_free(&t->ca, false);
	/* A certfile without a keyfile holds the key too. */
	pem_free(&t->cert, true);
	pem_free(&t->key, true);
	if (t->key_password)
		nh_secret_free(t->key_password, strlen(t->key_password));
	free(t->server_name);
	free(t);
}

static int set_blob(CURL *e, CURLoption opt, const struct pem *p)
{
	struct curl_blob b = { .data = p->data, .len = p->len, .flags = CURL_BLOB_COPY };

	return curl_easy_setopt(e, opt, &b) == CURLE_OK ? 0 : -1;
}

int nh_tls_apply(const struct nh_tls *t, CURL *e)
{
	bool verify = !t || t->verify;

	if (curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L) != CURLE_OK)
		return -1;
	if (!t)
		return 0;
	if (t->ca.data && set_blob(e, CURLOPT_CAINFO_BLOB, &t->ca) < 0)
		return -1;
	if (t->cert.data) {
		const struct pem *key = t->key.data ? &t->key : &t->cert;

		if (set_blob(e, CURLOPT_SSLCERT_BLOB, &t->cert) < 0 ||
		    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
		    set_blob(e, CURLOPT_SSLKEY_BLOB, key) < 0 ||
		    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK ||
		    (t->key_password &&
		     curl_easy_setopt(e, CURLOPT_KEYPASSWD, t->key_password) != CURLE_OK))
			return -1;
	}
	return 0;
}

const char *nh_tls_server_name(const struct nh_tls *t)
{
	return t ? t->server_name : NULL;
}

void nh_tls_print(const struct nh_tls *t, FILE *out)
{
	if (!t)
		return;
	if (!t->verify)
		fputs("tls: the endpoint's certificate is NOT verified\n", out);
	else if (t->ca_count)
		fprintf(out, "tls: endpoint verified against %d CA certificate%s from cacertfile\n",
			t->ca_count, t->ca_count == 1 ? "" : "s");
	else
		fputs("tls: endpoint verified against the system's CA store\n", out);
	if (t->cert.data)
		fprintf(out, "tls: client certificate %s, valid until %s; its key matches\n",
			t->cert_subject, t->cert_not_after);
}

