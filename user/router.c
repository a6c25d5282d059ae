// SPDX-License-Identifier: MIT
#include <unistd.h>

#include "body.h"
#include "extended.h"
#include "router.h"
#include "subject.h"

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

static int build_body(struct nh_router *r, const struct nh_event *ev)
{
	nh_buf_reset(&r->body);
	if (r->cfg->extended && !r->extender)
		r->extender = nh_extender_new(r->cfg->node);
	if (r->cfg->extended && r->extender) {
		struct nh_body_extra extra;

		/* Once per event, whatever the number of destinations: each
		 * gets the same event_id and seq. */
		nh_extender_next(r->extender, ev, &extra);
		return nh_body_build_ex(&r->body, ev, r->cfg->encoding, &extra);
	}
	return nh_body_build(&r->body, ev, r->cfg->encoding);
}

/* The JetStream sink's item: the subject goes with the body. */
static int frame(struct nh_router *r, const struct nh_event *ev)
{
	if (!r->node[0]) {
		if (r->cfg->node)
			snprintf(r->node, sizeof(r->node), "%s", r->cfg->node);
		else if (gethostname(r->node, sizeof(r->node) - 1) || !r->node[0])
			snprintf(r->node, sizeof(r->node), "nanohook");
	}
	return nh_subject_frame(&r->framed, r->cfg->nats.subject, ev, r->node, r->body.data,
				r->body.len);
}

void nh_router_event(void *ctx, const struct nh_event *ev)
{
	struct nh_router *r = ctx;
	bool topical = event_has_topic(ev->type);
	uint32_t dests;
	uint64_t key;

	r->st.seen++;
	dests = nh_config_dests(r->cfg, ev->type, topical ? ev->topic.ptr : NULL,
				topical ? ev->topic.len : 0);
	if (!dests) {
		r->st.filtered++;
		return;
	}
	r->st.wanted++;
	r->st.by_event[ev->type]++;
	if (build_body(r, ev)) {
		r->st.no_body++;
		return;
	}
	if (r->print_to) {
		fwrite(r->body.data, 1, r->body.len, r->print_to);
		fputc('\n', r->print_to);
		fflush(r->print_to);
		return;
	}
	key = nh_dispatch_key(ev->clientid.ptr, ev->clientid.len);
	for (unsigned i = 0; dests; i++, dests >>= 1) {
		if (!(dests & 1))
			continue;
		if (r->cfg->dests[i].kind == NH_SINK_NATS) {
			if (frame(r, ev) < 0) {
				nh_dispatch_no_body(&r->dests[i]);
				continue;
			}
			nh_dispatch_body(&r->dests[i], &r->framed, key, true);
			continue;
		}
		/* The last destination takes the body itself; the others copy. */
		nh_dispatch_body(&r->dests[i], &r->body, key, dests == 1);
	}
}

void nh_router_reset_extender(struct nh_router *r)
{
	r->node[0] = '\0'; /* node may have changed too */
	nh_extender_free(r->extender);
	r->extender = NULL;
}

void nh_router_free(struct nh_router *r)
{
	nh_router_reset_extender(r);
	nh_buf_free(&r->body);
	nh_buf_free(&r->framed);
}
