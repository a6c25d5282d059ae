/* SPDX-License-Identifier: MIT */
/*
 * The configuration's secrets and key material, read from their files (or
 * the environment) in one place, by every command that sends: run, replay
 * and check (which reads them only to say whether they are usable).
 */
#ifndef NH_SECURITY_H
#define NH_SECURITY_H

#include <stdio.h>

#include "config.h"
#include "sign.h"
#include "tls.h"

struct nh_security {
	struct nh_tls *tls;       /* NULL: no tls block (curl's defaults) */
	struct nh_signer *signer; /* NULL: signing off */
};

/* Returns 0, or -1 and one line in err (which never holds a secret). */
int nh_security_load(const struct nh_config *cfg, struct nh_security *sec, char *err,
		     size_t errlen, FILE *warn);
void nh_security_free(struct nh_security *sec);

#endif
