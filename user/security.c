/* SPDX-License-Identifier: MIT */
#include "security.h"

int nh_security_load(const struct nh_config *cfg, struct nh_security *sec, char *err,
		     size_t errlen, FILE *warn)
{
	*sec = (struct nh_security){ 0 };
	if (nh_tls_load(&cfg->tls, &sec->tls, err, errlen, warn) < 0)
		return -1;
	if (nh_signer_load(&cfg->sign, &sec->signer, err, errlen, warn) < 0) {
		nh_security_free(sec);
		return -1;
	}
	return 0;
}

void nh_security_free(struct nh_security *sec)
{
	nh_tls_free(sec->tls);
	nh_signer_free(sec->signer);
	*sec = (struct nh_security){ 0 };
}
