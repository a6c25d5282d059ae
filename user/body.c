/* SPDX-License-Identifier: MIT */
/*
 * One builder per event type, each writing its keys in the order NanoMQ's
 * webhook_post.c adds them to its cJSON object (cJSON prints in insertion
 * order). A new event type is one more builder and one more table entry.
 */
#include "body.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

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

/* MQTT 5 reason codes below 0x80 are not errors (0x00 normal, 0x04 with
 * will). NanoMQ also passes its own small error numbers here: a clean
 * MQTT 5 DISCONNECT with no body reaches nano_msg_notify as 7
 * (MQTT_ERR_MALFORMED, its decoder rejecting what the spec allows), so
 * only codes from 0x80 up count as abnormal. */
static bool abnormal(uint8_t code)
{
	return code >= 0x80;
}

/* NanoMQ's own webhook says "normal" for every disconnect, killed
 * clients included; nanohook reports the code it saw. */
static int body_disconnected(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	if (lit(b, abnormal(ev->code) ? "{\"reason\":\"abnormal\"" : "{\"reason\":\"normal\"") ||
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

/* delivered / acked follow EMQX 4 (NanoMQ never sent them): the payload
 * is always there, a string, "" when empty, in every encoding. */
static int payload_always(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	if (ev->payload && ev->payload_len)
		return payload(b, ev, enc);
	return lit(b, ",\"payload\":\"\"");
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

/*
 * The nine events NanoMQ announced but never sent. Their fields are EMQX
 * 4's web_hook names (what receivers are written for), laid out the way
 * NanoMQ lays out its three: event fields first, then username, client
 * id and action last, "undefined" for a missing username or address.
 */

static int ipaddress(struct nh_buf *b, const struct nh_event *ev)
{
	return ev->ipaddress.len ? str(b, ev->ipaddress) : lit(b, "\"undefined\"");
}

static int who(struct nh_buf *b, const struct nh_event *ev, const char *action)
{
	return (lit(b, ",\"username\":") || username(b, ev) ||
		lit(b, ",\"clientid\":") || str(b, ev->clientid) ||
		lit(b, ",\"action\":\"") || lit(b, action) || lit(b, "\"}")) ? -1 : 0;
}

static int body_connect(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	if (lit(b, "{\"proto_ver\":") || num(b, ev->proto_ver) ||
	    lit(b, ",\"keepalive\":") || num(b, ev->keepalive) ||
	    lit(b, ",\"ipaddress\":") || ipaddress(b, ev) ||
	    who(b, ev, "client_connect"))
		return -1;
	return 0;
}

static int body_connected(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	if (lit(b, "{\"proto_ver\":") || num(b, ev->proto_ver) ||
	    lit(b, ",\"keepalive\":") || num(b, ev->keepalive) ||
	    lit(b, ",\"ipaddress\":") || ipaddress(b, ev) ||
	    lit(b, ",\"connected_at\":") || num(b, ev->ts_ms) ||
	    who(b, ev, "client_connected"))
		return -1;
	return 0;
}

static int topic_qos(struct nh_buf *b, const struct nh_event *ev)
{
	return (lit(b, "{\"topic\":") || str(b, ev->topic) ||
		lit(b, ",\"opts\":{\"qos\":") || num(b, ev->sub_qos) || lit(b, "}")) ? -1 : 0;
}

static int body_subscribe(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	return topic_qos(b, ev) || who(b, ev, "client_subscribe") ? -1 : 0;
}

static int body_unsubscribe(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	(void)enc;
	if (lit(b, "{\"topic\":") || str(b, ev->topic) || lit(b, ",\"opts\":{}") ||
	    who(b, ev, "client_unsubscribe"))
		return -1;
	return 0;
}

static int body_session_subscribed(struct nh_buf *b, const struct nh_event *ev,
				   enum nh_encoding enc)
{
	(void)enc;
	return topic_qos(b, ev) || who(b, ev, "session_subscribed") ? -1 : 0;
}

static int body_session_unsubscribed(struct nh_buf *b, const struct nh_event *ev,
				     enum nh_encoding enc)
{
	(void)enc;
	return lit(b, "{\"topic\":") || str(b, ev->topic) ||
	       who(b, ev, "session_unsubscribed") ? -1 : 0;
}

/* EMQX names a takeover "takeovered"; an expired kept session is
 * "expired"; otherwise the session ended with its connection. */
static int body_session_terminated(struct nh_buf *b, const struct nh_event *ev,
				   enum nh_encoding enc)
{
	const char *reason = ev->takeover ? "takeovered"
			     : ev->session_expired ? "expired"
			     : abnormal(ev->code) ? "abnormal" : "normal";

	(void)enc;
	return lit(b, "{\"reason\":\"") || lit(b, reason) || lit(b, "\"") ||
	       who(b, ev, "session_terminated") ? -1 : 0;
}

/* delivered / acked: the publish body of the message, with the receiver
 * as username and clientid. */
static int message_to(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc,
		      const char *action)
{
	if (lit(b, "{\"ts\":") || num(b, ev->ts_ms) ||
	    lit(b, ",\"topic\":") || str(b, ev->topic) ||
	    lit(b, ev->retain ? ",\"retain\":true" : ",\"retain\":false") ||
	    lit(b, ",\"qos\":") || num(b, ev->qos) ||
	    lit(b, ",\"action\":\"") || lit(b, action) || lit(b, "\"") ||
	    lit(b, ",\"from_username\":") ||
	    (ev->has_from_username ? str(b, ev->from_username) : lit(b, "\"undefined\"")) ||
	    lit(b, ",\"from_client_id\":") || str(b, ev->from_clientid) ||
	    lit(b, ",\"username\":") || username(b, ev) ||
	    lit(b, ",\"clientid\":") || str(b, ev->clientid) ||
	    payload_always(b, ev, enc) ||
	    lit(b, "}"))
		return -1;
	return 0;
}

static int body_delivered(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	return message_to(b, ev, enc, "message_delivered");
}

static int body_acked(struct nh_buf *b, const struct nh_event *ev, enum nh_encoding enc)
{
	return message_to(b, ev, enc, "message_acked");
}

static const body_fn builders[NH_EV_MAX] = {
	[NH_EV_CONNACK] = body_connack,
	[NH_EV_DISCONNECTED] = body_disconnected,
	[NH_EV_PUBLISH] = body_publish,
	[NH_EV_CONNECT] = body_connect,
	[NH_EV_CONNECTED] = body_connected,
	[NH_EV_SUBSCRIBE] = body_subscribe,
	[NH_EV_UNSUBSCRIBE] = body_unsubscribe,
	[NH_EV_SESSION_SUBSCRIBED] = body_session_subscribed,
	[NH_EV_SESSION_UNSUBSCRIBED] = body_session_unsubscribed,
	[NH_EV_SESSION_TERMINATED] = body_session_terminated,
	[NH_EV_DELIVERED] = body_delivered,
	[NH_EV_ACKED] = body_acked,
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

static bool has_ts(enum nh_event_type t)
{
	return t == NH_EV_PUBLISH || t == NH_EV_DELIVERED || t == NH_EV_ACKED;
}

static bool has_code(enum nh_event_type t)
{
	return t == NH_EV_CONNACK || t == NH_EV_DISCONNECTED || t == NH_EV_SESSION_TERMINATED;
}

int nh_body_build_ex(struct nh_buf *out, const struct nh_event *ev, enum nh_encoding enc,
		     const struct nh_body_extra *x)
{
	size_t start = out->len;
	int saved;

	if (nh_body_build(out, ev, enc))
		return -1;
	if (!x)
		return 0;
	/* Reopen the object: every body ends with its closing brace. */
	nh_buf_truncate(out, out->len - 1);
	if (lit(out, ",\"node\":") || nh_json_append_str(out, x->node, strlen(x->node)) ||
	    lit(out, ",\"event_id\":") ||
	    nh_json_append_str(out, x->event_id, strlen(x->event_id)) ||
	    lit(out, ",\"seq\":") || num(out, x->seq) ||
	    (!has_ts(ev->type) && (lit(out, ",\"ts\":") || num(out, ev->ts_ms))) ||
	    (has_code(ev->type) && (lit(out, ",\"reason_code\":") || num(out, ev->code))) ||
	    (ev->ipaddress.len && (lit(out, ",\"peer\":") || str(out, ev->ipaddress))) ||
	    lit(out, "}"))
		goto fail;
	return 0;
fail:
	saved = errno;
	nh_buf_truncate(out, start);
	errno = saved;
	return -1;
}
