/* SPDX-License-Identifier: MIT */
/*
 * One builder per event type, each writing its keys in the order NanoMQ's
 * webhook_post.c adds them to its cJSON object (cJSON prints in insertion
 * order). A new event type is one more builder and one more table entry.
 */
#include "body.h"

#include <errno.h>
#include <inttypes.h>

#include "encode.h"

typedef int (*body_fn)(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc);

/* The helpers return 0 or -1 (errno set); builders chain them with || and
 * nh_body_build undoes whatever a failed builder wrote. */

static int lit(struct nh_buf *b, const char *s)
{
	return nh_buf_append_str(b, s);
}

/* cJSON holds numbers as doubles and prints integral ones below 10^15
 * without exponent or fraction, so every number NanoMQ sends (ms
 * timestamps included) reads the same as a plain integer. */
static int num(struct nh_buf *b, uint64_t v)
{
	return nh_buf_append_fmt(b, "%" PRIu64, v);
}

static int str(struct nh_buf *b, struct nh_str s)
{
	return nh_json_append_str(b, s.ptr, s.ptr ? s.len : 0);
}

/* NanoMQ writes "undefined" when the client sent no username. */
static int username(struct nh_buf *b, const struct nh_event *ev)
{
	return ev->has_username ? str(b, ev->username) : lit(b, "\"undefined\"");
}

static int body_connack(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	if (lit(b, "{\"proto_ver\":") || num(b, ev->proto_ver) ||
	    lit(b, ",\"keepalive\":") || num(b, ev->keepalive) ||
	    lit(b, ev->code == 0 ? ",\"conn_ack\":\"success\"" : ",\"conn_ack\":\"fail\"") ||
	    lit(b, ",\"username\":") || username(b, ev) ||
	    lit(b, ",\"clientid\":") || str(b, ev->clientid) ||
	    lit(b, ",\"action\":\"client_connack\"}"))
		return -1;
	return 0;
}

/* NanoMQ 0.25 passes reason 0 for every disconnect, killed clients
 * included; nanohook reports the code it saw. */
static int body_disconnected(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	if (lit(b, ev->code == 0 ? "{\"reason\":\"normal\"" : "{\"reason\":\"abnormal\"") ||
	    lit(b, ",\"username\":") || username(b, ev) ||
	    lit(b, ",\"clientid\":") || str(b, ev->clientid) ||
	    lit(b, ",\"action\":\"client_disconnected\"}"))
		return -1;
	return 0;
}

/* The "payload" member, comma included, or nothing. What an empty payload
 * gives follows NanoMQ: plain adds a NULL string, which cJSON drops;
 * base64 adds null; base62 adds "". */
static int payload(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	const uint8_t *p = ev->payload;
	size_t n = p ? ev->payload_len : 0;

	switch (enc) {
	case NH_ENC_PLAIN:
		if (n == 0)
			return 0;
		/* NanoMQ hands the payload to cJSON as a C string: it ends at
		 * the first NUL, which nh_json_append_str does too. */
		return (lit(b, ",\"payload\":") || nh_json_append_str(b, (const char *)p, n)) ? -1 : 0;
	case NH_ENC_BASE64:
		if (n == 0)
			return lit(b, ",\"payload\":null");
		return (lit(b, ",\"payload\":\"") || nh_base64_append(b, p, n) || lit(b, "\"")) ? -1 : 0;
	case NH_ENC_BASE62:
		return (lit(b, ",\"payload\":\"") || nh_base62_append(b, p, n) || lit(b, "\"")) ? -1 : 0;
	}
	errno = EINVAL;
	return -1;
}

static int body_publish(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	if (lit(b, "{\"ts\":") || num(b, ev->ts_ms) ||
	    lit(b, ",\"topic\":") || str(b, ev->topic) ||
	    lit(b, ev->retain ? ",\"retain\":true" : ",\"retain\":false") ||
	    lit(b, ",\"qos\":") || num(b, ev->qos) ||
	    lit(b, ",\"action\":\"message_publish\"") ||
	    lit(b, ",\"from_username\":") || username(b, ev) ||
	    lit(b, ",\"from_client_id\":") || str(b, ev->clientid) ||
	    payload(b, ev, enc) ||
	    lit(b, "}"))
		return -1;
	return 0;
}

static const body_fn builders[NH_EV_MAX] = {
	[NH_EV_CONNACK] = body_connack,
	[NH_EV_DISCONNECTED] = body_disconnected,
	[NH_EV_PUBLISH] = body_publish,
};

int nh_body_build(struct nh_buf *out, const struct nh_event *ev, enum nh_encoding enc)
{
	if (!ev) {
		errno = EINVAL;
		return -1;
	}
	if ((unsigned)ev->type >= NH_EV_MAX || !builders[ev->type]) {
		errno = ENOTSUP;
		return -1;
	}
	size_t start = out->len;
	if (builders[ev->type](out, ev, enc) < 0) {
		int saved = errno;
		nh_buf_truncate(out, start);
		errno = saved;
		return -1;
	}
	return 0;
}
