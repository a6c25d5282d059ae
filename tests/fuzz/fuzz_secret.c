/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a signing secret (what sits in the secret file or the
 * environment): refused with the one fixed message, which never holds the
 * input, or accepted and then signing gives "v1," and 44 base64 bytes.
 * Input: a length byte, that many bytes of secret, then a body to sign.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cut;
	struct nh_signer *s = NULL;
	char err[256], sig[NH_SIGNATURE_LEN + 1], id[NH_WEBHOOK_ID_LEN + 1];
	char *secret;

	if (size == 0)
		return 0;
	data++;
	size--;
	cut = data[-1] < size ? data[-1] : size;
	/* A private copy of exactly `cut` bytes: reads past it are caught. */
	secret = malloc(cut ? cut : 1);
	if (!secret)
		return 0;
	memcpy(secret, data, cut);
	if (nh_signer_from_secret(secret, cut, &s, err, sizeof(err)) < 0) {
		CHECK(s == NULL);
		CHECK(strncmp(err, "the secret must be base64", 25) == 0);
	} else {
		CHECK(s != NULL);
		nh_webhook_id(cut, size, data + cut, size - cut, id);
		CHECK(strlen(id) == NH_WEBHOOK_ID_LEN);
		CHECK(nh_sign(s, id, (int64_t)size, data + cut, size - cut, sig) == 0);
		CHECK(strlen(sig) == NH_SIGNATURE_LEN && memcmp(sig, "v1,", 3) == 0);
		CHECK(strspn(sig + 3, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == 44);
		nh_signer_free(s);
	}
	free(secret);
	return 0;
}
