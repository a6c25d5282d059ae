// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clock.h"
#include "capture.h"
#include "config.h" /* nh_event_name */
#include "log.h"

#define MAX_RINGS 16

struct nh_capture;

/* What a ring's callback needs: the capture, and which attachment (so
 * which broker) the records come from. */
struct ring_ctx {
	struct nh_capture *c;
	const struct nh_attachment *a;
};

struct nh_capture {
	struct ring_buffer *rb;
	struct ring_ctx rings[MAX_RINGS];
	size_t n_rings;
	nh_event_fn fn;
	void *ctx;
	/* Records carry boot-time stamps; bodies want wall-clock ms. The
	 * offset is taken once: a clock step later shifts ts by the step,
	 * as it would in the broker. */
	uint64_t boot_to_wall_ns;
	uint64_t rejected[NH_REJ_MAX];
};

const char *nh_rec_reject_name(enum nh_rec_reject r)
{
	static const char *const names[NH_REJ_MAX] = {
		[NH_REJ_MALFORMED] = "malformed_record",
		[NH_REJ_READ_FAULT] = "broker_read_fault",
		[NH_REJ_TRUNCATED] = "string_too_long",
		[NH_REJ_UNMATCHED] = "unmatched",
		[NH_REJ_RESEND] = "qos2_resend",
		[NH_REJ_INVALID_PACKET] = "invalid_packet",
	};
	return r < NH_REJ_MAX ? names[r] : "?";
}

static struct nh_str rec_str(const char *p, uint16_t got)
{
	return (struct nh_str){ .ptr = p, .len = got };
}

int nh_record_decode(const void *data, size_t size, uint64_t boot_to_wall_ns,
		     struct nh_event *ev, enum nh_rec_reject *why)
{
	const struct nh_record *r = data;

	*why = NH_REJ_MALFORMED;
	if (size < sizeof(*r) || r->type == NH_EV_NONE ||
	    (r->type >= NH_EV_MAX && r->type != NH_REC_PIPE_BIND))
		return -1;
	if (r->payload_cap > size - sizeof(*r) || r->payload_got > r->payload_cap ||
	    r->clientid_got >= NH_CLIENTID_MAX || r->username_got >= NH_USERNAME_MAX ||
	    r->topic_got >= NH_TOPIC_MAX || r->from_clientid_got >= NH_CLIENTID_MAX ||
	    r->from_username_got >= NH_USERNAME_MAX || r->addr_got >= NH_ADDR_MAX)
		return -1;
	/* Lengths copied can never exceed the lengths the broker had. */
	if (r->clientid_got > r->clientid_len || r->topic_got > r->topic_len ||
	    ((r->flags & NH_F_HAS_USERNAME) && r->username_got > r->username_len) ||
	    r->from_clientid_got > r->from_clientid_len ||
	    r->from_username_got > r->from_username_len || r->payload_got > r->payload_len)
		return -1;
	if (r->flags & NH_F_READ_FAULT) {
		*why = NH_REJ_READ_FAULT;
		return -1;
	}
	/* A cut client id or topic would name the wrong client or match the
	 * wrong rule: refuse it rather than send something plausible. */
	if (r->flags & (NH_F_TRUNC_CLIENTID | NH_F_TRUNC_USERNAME | NH_F_TRUNC_TOPIC |
			NH_F_TRUNC_FROM)) {
		*why = NH_REJ_TRUNCATED;
		return -1;
	}
	/* Without truncation the copy is the whole string. */
	if (r->clientid_got != r->clientid_len || r->topic_got != r->topic_len ||
	    ((r->flags & NH_F_HAS_USERNAME) && r->username_got != r->username_len) ||
	    r->from_clientid_got != r->from_clientid_len ||
	    r->from_username_got != r->from_username_len)
		return -1;
	if (!(r->flags & NH_F_TRUNC_PAYLOAD) && r->payload_got != r->payload_len)
		return -1;

	memset(ev, 0, sizeof(*ev));
	ev->type = (enum nh_event_type)r->type;
	ev->ts_ms = (r->ts_boot_ns + boot_to_wall_ns) / 1000000ull;
	ev->pid = r->tgid;
	ev->clientid = rec_str(r->clientid, r->clientid_got);
	ev->has_username = r->flags & NH_F_HAS_USERNAME;
	ev->username = ev->has_username ? rec_str(r->username, r->username_got)
					: rec_str("", 0);
	ev->proto_ver = r->proto_ver;
	ev->keepalive = r->keepalive;
	ev->code = r->code;
	ev->topic = rec_str(r->topic, r->topic_got);
	ev->ipaddress = rec_str(r->addr, r->addr_got);
	ev->packet_id = r->packet_id;
	ev->sub_qos = (uint8_t)(r->sub_opts & 3);
	ev->from_clientid = rec_str(r->from_clientid, r->from_clientid_got);
	ev->has_from_username = r->flags & NH_F_HAS_FROM_USERNAME;
	ev->from_username = ev->has_from_username
				    ? rec_str(r->from_username, r->from_username_got)
				    : rec_str("", 0);
	ev->payload = r->payload;
	ev->payload_len = r->payload_got;
	ev->payload_full_len = r->payload_len;
	ev->qos = r->qos;
	ev->retain = r->flags & NH_F_RETAIN;
	ev->sys_event = r->flags & NH_F_SYS_EVENT;
	return 0;
}

/* Hands an event on; a successful CONNACK is also on_client_connected,
 * which EMQX-style receivers expect as an event of its own. */
static void deliver_event(void *ctx, const struct nh_event *ev)
{
	struct nh_capture *c = ctx;
	struct nh_event connected;

	c->fn(c->ctx, ev);
	if (ev->type == NH_EV_CONNACK && ev->code == 0) {
		connected = *ev;
		connected.type = NH_EV_CONNECTED;
		c->fn(c->ctx, &connected);
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct ring_ctx *rc = ctx;
	struct nh_capture *c = rc->c;
	const struct nh_broker *b = rc->a->broker;
	enum nh_rec_reject why;
	struct nh_event ev;
	int r;

	if (nh_record_decode(data, size, c->boot_to_wall_ns, &ev, &why)) {
		c->rejected[why]++;
		nh_debug("capture: a record of type %u not posted: %s",
			 size >= sizeof(struct nh_record) ? ((const struct nh_record *)data)->type : 0u,
			 nh_rec_reject_name(why));
		return 0;
	}
	if (ev.type >= NH_EV_MAX && !(b && b->decode)) {
		c->rejected[NH_REJ_MALFORMED]++; /* only a broker can read it */
		return 0;
	}
	if (b && b->decode) {
		/* The attachment is const to the capture, not to its broker. */
		r = b->decode((struct nh_attachment *)rc->a, data, &ev, deliver_event, c);
		if (r < 0) {
			why = -1 - r < NH_REJ_MAX ? (enum nh_rec_reject)(-1 - r) : NH_REJ_MALFORMED;
			c->rejected[why]++;
			/* -v: which event of which client, to find a cause */
			nh_debug("capture: %s of client \"%.*s\" (packet id %u) not posted: %s",
				 nh_event_name(ev.type), (int)ev.clientid.len, ev.clientid.ptr,
				 (unsigned)ev.packet_id, nh_rec_reject_name(why));
		}
		if (r)
			return 0;
	}
	deliver_event(c, &ev);
	return 0;
}

struct nh_capture *nh_capture_new(nh_event_fn fn, void *ctx)
{
	struct nh_capture *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fn = fn;
	c->ctx = ctx;
	c->boot_to_wall_ns = nh_clock_ns(CLOCK_REALTIME) - nh_clock_ns(CLOCK_BOOTTIME);
	return c;
}

int nh_capture_add(struct nh_capture *c, const struct nh_attachment *a)
{
	struct ring_ctx *rc;

	if (c->n_rings == MAX_RINGS)
		return -ENOSPC;
	rc = &c->rings[c->n_rings];
	rc->c = c;
	rc->a = a;
	if (!c->rb) {
		c->rb = ring_buffer__new(a->ringbuf_fd, on_record, rc, NULL);
		if (!c->rb)
			return -errno;
	} else if (ring_buffer__add(c->rb, a->ringbuf_fd, on_record, rc)) {
		return -errno;
	}
	c->n_rings++;
	return 0;
}

int nh_capture_fd(const struct nh_capture *c)
{
	return c->rb ? ring_buffer__epoll_fd(c->rb) : -1;
}

int nh_capture_consume(struct nh_capture *c)
{
	return c->rb ? ring_buffer__consume(c->rb) : 0;
}

void nh_capture_free(struct nh_capture *c)
{
	if (!c)
		return;
	ring_buffer__free(c->rb);
	free(c);
}

uint64_t nh_capture_rejected(const struct nh_capture *c, enum nh_rec_reject r)
{
	return r < NH_REJ_MAX ? c->rejected[r] : 0;
}

int nh_bpf_counters_read(int map_fd, uint64_t out[NH_CNT_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	if (ncpu <= 0)
		return -1;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -1;
	for (uint32_t k = 0; k < NH_CNT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(map_fd, &k, vals))
			continue;
		for (int i = 0; i < ncpu; i++)
			out[k] += vals[i];
	}
	free(vals);
	return 0;
}
