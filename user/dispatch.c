// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include "body.h"
#include "dispatch.h"
#include "log.h"

static bool event_has_topic(enum nh_event_type t)
{
	switch (t) {
	case NH_EV_PUBLISH:
	case NH_EV_SUBSCRIBE:
	case NH_EV_UNSUBSCRIBE:
	case NH_EV_SESSION_SUBSCRIBED:
	case NH_EV_SESSION_UNSUBSCRIBED:
	case NH_EV_DELIVERED:
	case NH_EV_ACKED:
		return true;
	default:
		return false;
	}
}

void nh_dispatch_event(void *ctx, const struct nh_event *ev)
{
	struct nh_dispatch *d = ctx;
	char *body;
	size_t len;

	d->st.seen++;
	if (!nh_config_wants(d->cfg, ev->type,
			     event_has_topic(ev->type) ? ev->topic.ptr : NULL,
			     event_has_topic(ev->type) ? ev->topic.len : 0)) {
		d->st.filtered++;
		return;
	}
	nh_buf_reset(&d->body);
	if (nh_body_build(&d->body, ev, d->cfg->encoding)) {
		d->st.dropped_body++;
		return;
	}
	if (d->print_to) {
		fwrite(d->body.data, 1, d->body.len, d->print_to);
		fputc('\n', d->print_to);
		fflush(d->print_to);
		d->st.handed_over++;
		d->st.by_event[ev->type]++;
		return;
	}
	body = nh_buf_detach(&d->body, &len);
	if (!body) {
		d->st.dropped_body++;
		return;
	}
	if (nh_deliver_submit(d->deliver, body, len)) {
		free(body);
		d->st.dropped_queue_full++;
		return;
	}
	d->st.handed_over++;
	d->st.by_event[ev->type]++;
}
