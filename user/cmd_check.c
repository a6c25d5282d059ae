// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "commands.h"
#include "config.h"
#include "jetstream.h"
#include "security.h"

/* The file, and then what it names: a key that does not match its
 * certificate, an unreadable secret or a missing JetStream stream fails
 * here, not at the first post. */
int nh_cmd_check(const char *conf_path)
{
	struct nh_config cfg;
	struct nh_security sec;
	char err[512];
	int rc = 0;

	if (nh_config_load(conf_path, &cfg, stderr))
		return 2;
	nh_config_print(&cfg, stdout);
	if (nh_security_load(&cfg, &sec, err, sizeof(err), stderr) < 0) {
		fprintf(stderr, "%s: %s\n", conf_path, err);
		rc = 2;
	} else {
		nh_tls_print(sec.tls, stdout);
		if (sec.signer)
			fputs("sign: the secret is readable and well-formed\n", stdout);
		nh_security_free(&sec);
	}
	for (size_t i = 0; i < cfg.n_dests; i++) {
		char said[512];

		if (cfg.dests[i].kind != NH_SINK_NATS)
			continue;
		if (nh_jetstream_probe(&cfg.nats, said, sizeof(said), err, sizeof(err)) < 0) {
			fprintf(stderr, "%s: %s\n", conf_path, err);
			rc = 2;
		} else {
			printf("nats: %s\n", said);
		}
	}
	nh_config_free(&cfg);
	return rc;
}
