/* SPDX-License-Identifier: MIT */
/*
 * Standard Webhooks signing: the convention's published test vector, the
 * forms a secret may take (and the ones refused, without echoing them),
 * webhook-id stability; and the server_name routing of tls.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sign.h"
#include "url.h"
#include "tls.h"

#define VECTOR_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VECTOR_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VECTOR_TS 1614265330
#define VECTOR_BODY "{\"test\": 2432232314}"
#define VECTOR_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static struct nh_signer *signer(const char *secret)
{
	struct nh_signer *s = NULL;
	char err[256];

	if (nh_signer_from_secret(secret, strlen(secret), &s, err, sizeof(err)) < 0)
		fail_msg("secret refused: %s", err);
	return s;
}

static void test_vector(void **state)
{
	char sig[NH_SIGNATURE_LEN + 1];
	struct nh_signer *s = signer(VECTOR_SECRET);

	(void)state;
	assert_int_equal(nh_sign(s, VECTOR_ID, VECTOR_TS, VECTOR_BODY, strlen(VECTOR_BODY), sig), 0);
	assert_string_equal(sig, VECTOR_SIG);
	/* Any change to the id, the time or the body changes it. */
	assert_int_equal(nh_sign(s, VECTOR_ID, VECTOR_TS + 1, VECTOR_BODY, strlen(VECTOR_BODY), sig), 0);
	assert_string_not_equal(sig, VECTOR_SIG);
	assert_int_equal(nh_sign(s, "msg_other", VECTOR_TS, VECTOR_BODY, strlen(VECTOR_BODY), sig), 0);
	assert_string_not_equal(sig, VECTOR_SIG);
	assert_int_equal(nh_sign(s, VECTOR_ID, VECTOR_TS, "{\"test\": 2432232315}", 20, sig), 0);
	assert_string_not_equal(sig, VECTOR_SIG);
	nh_signer_free(s);
}

static void test_secret_forms(void **state)
{
	static const char *const same[] = {
		VECTOR_SECRET,
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",           /* no prefix */
		"  " VECTOR_SECRET "\n",                      /* a file's newline */
	};
	char sig[NH_SIGNATURE_LEN + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		struct nh_signer *s = signer(same[i]);

		assert_int_equal(nh_sign(s, VECTOR_ID, VECTOR_TS, VECTOR_BODY, strlen(VECTOR_BODY), sig), 0);
		assert_string_equal(sig, VECTOR_SIG);
		nh_signer_free(s);
	}
}

static void test_bad_secrets(void **state)
{
	static const char *const bad[] = {
		"",
		"whsec_",
		"whsec_c2hvcnQ=",                  /* 5 bytes: too short */
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",
		"plain words are not a key",
		/* 96 bytes: above the convention's 64 */
		"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct nh_signer *s = (struct nh_signer *)1;
		char err[256] = "";

		assert_int_equal(nh_signer_from_secret(bad[i], strlen(bad[i]), &s, err, sizeof(err)), -1);
		assert_null(s);
		assert_non_null(strstr(err, "base64 of 24 to 64 random bytes"));
		if (strlen(bad[i]) > 6)
			assert_null(strstr(err, bad[i] + 6)); /* never echoed */
	}
}

static void test_env_and_file(void **state)
{
	struct nh_sign_config sc = { .secret_env = "NH_UNIT_SECRET" };
	struct nh_signer *s = NULL;
	char err[256], path[] = "/tmp/nh-sign-XXXXXX";
	FILE *f;
	int fd;

	(void)state;
	unsetenv("NH_UNIT_SECRET");
	assert_int_equal(nh_signer_load(&sc, &s, err, sizeof(err), NULL), -1);
	assert_string_equal(err, "nanohook.sign.secret_env: $NH_UNIT_SECRET is not set");
	setenv("NH_UNIT_SECRET", VECTOR_SECRET, 1);
	assert_int_equal(nh_signer_load(&sc, &s, err, sizeof(err), NULL), 0);
	assert_non_null(s);
	nh_signer_free(s);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, VECTOR_SECRET "\n", sizeof(VECTOR_SECRET)), (ssize_t)sizeof(VECTOR_SECRET));
	close(fd);
	sc = (struct nh_sign_config){ .secret_file = path };
	assert_int_equal(nh_signer_load(&sc, &s, err, sizeof(err), NULL), 0);
	nh_signer_free(s);
	/* Readable by others: works, with a warning. */
	{
		char *w = NULL;
		size_t wl = 0;

		chmod(path, 0644);
		f = open_memstream(&w, &wl);
		assert_int_equal(nh_signer_load(&sc, &s, err, sizeof(err), f), 0);
		fclose(f);
		assert_non_null(strstr(w, "is readable by group or others (chmod 600 it)"));
		free(w);
		nh_signer_free(s);
	}
	unlink(path);
	assert_int_equal(nh_signer_load(&sc, &s, err, sizeof(err), NULL), -1);
	assert_non_null(strstr(err, "cannot read: No such file or directory"));

	/* Off: no signer, no error. */
	sc = (struct nh_sign_config){ 0 };
	assert_int_equal(nh_signer_load(&sc, &s, err, sizeof(err), NULL), 0);
	assert_null(s);
}

static void test_webhook_id(void **state)
{
	char a[NH_WEBHOOK_ID_LEN + 1], b[NH_WEBHOOK_ID_LEN + 1];

	(void)state;
	nh_webhook_id(1700000000000ull, 7, "{}", 2, a);
	assert_int_equal(strlen(a), NH_WEBHOOK_ID_LEN);
	assert_memory_equal(a, "msg_", 4);
	assert_int_equal(strspn(a + 4, "0123456789abcdef"), 32);
	nh_webhook_id(1700000000000ull, 7, "{}", 2, b);
	assert_string_equal(a, b); /* every attempt, every replay */
	nh_webhook_id(1700000000000ull, 8, "{}", 2, b);
	assert_string_not_equal(a, b);
	nh_webhook_id(1700000000001ull, 7, "{}", 2, b);
	assert_string_not_equal(a, b);
	nh_webhook_id(1700000000000ull, 7, "{ }", 3, b);
	assert_string_not_equal(a, b);
}

static void test_route(void **state)
{
	struct curl_slist *to = NULL;
	char *url = NULL, err[256];

	(void)state;
	assert_int_equal(nh_url_route("https://10.0.0.5:8443/hook?x=1", "hooks.example", &url, &to,
				      err, sizeof(err)), 0);
	assert_string_equal(url, "https://hooks.example:8443/hook?x=1");
	assert_string_equal(to->data, "hooks.example:8443:10.0.0.5:8443");
	free(url);
	curl_slist_free_all(to);

	assert_int_equal(nh_url_route("https://[::1]/hook", "hooks.example", &url, &to, err,
				      sizeof(err)), 0);
	assert_string_equal(url, "https://hooks.example/hook");
	assert_string_equal(to->data, "hooks.example:443:[::1]:443");
	free(url);
	curl_slist_free_all(to);

	assert_int_equal(nh_url_route("https://h/x", NULL, &url, &to, err, sizeof(err)), 0);
	assert_string_equal(url, "https://h/x");
	assert_null(to);
	free(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_secret_forms),
		cmocka_unit_test(test_bad_secrets),
		cmocka_unit_test(test_env_and_file),
		cmocka_unit_test(test_webhook_id),
		cmocka_unit_test(test_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
