// SPDX-License-Identifier: MIT
#include "deliver_opts.h"

void nh_retry_policy_from_config(const struct nh_config *cfg, struct nh_retry_policy *retry)
{
	*retry = (struct nh_retry_policy){
		.max_attempts = cfg->retry_max_attempts,
		.initial_ms = cfg->retry_initial_ms,
		.max_delay_ms = cfg->retry_max_delay_ms,
		.max_age_ms = cfg->retry_max_age_ms,
	};
}

void nh_deliver_opts_from_config(const struct nh_config *cfg, const struct nh_security *sec,
				 const struct nh_dest *dest, struct nh_retry_policy *retry,
				 struct nh_deliver_opts *o)
{
	nh_retry_policy_from_config(cfg, retry);
	*o = (struct nh_deliver_opts){
		.urls = (const char *const *)dest->urls,
		.n_urls = dest->n_urls,
		.balance = cfg->balance,
		.inflight = cfg->lane_inflight,
		.circuit_failures = cfg->circuit_failures,
		.circuit_open_ms = cfg->circuit_open_ms,
		.http2 = cfg->http2,
		.headers = cfg->headers,
		.n_headers = cfg->n_headers,
		.pool_size = cfg->pool_size,
		.timeout_ms = cfg->cancel_timeout_ms,
		.queue_max = cfg->queue_max,
		.retry = retry,
		.tls = sec->tls,
		.signer = sec->signer,
	};
}
