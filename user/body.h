/* SPDX-License-Identifier: MIT */
/*
 * The JSON body of a webhook request, byte for byte what NanoMQ 0.25 sends
 * (same keys, same order, same escaping, no whitespace), except that
 * strings are always valid UTF-8 (see nh_json_append_str).
 */
#ifndef NH_BODY_H
#define NH_BODY_H

#include "buf.h"
#include "config.h"
#include "event.h"

/*
 * Appends the body for `ev` to `out`. `enc` only matters for events that
 * carry a payload. Returns 0, or -1 with `out` as it was and errno set:
 * ENOTSUP for an event type that has no body (yet), EINVAL for a NULL
 * event or an unknown encoding, ENOMEM.
 *
 *   connack:      {"proto_ver":4,"keepalive":30,"conn_ack":"success",
 *                  "username":"alice","clientid":"c1","action":"client_connack"}
 *   disconnected: {"reason":"normal","username":"alice","clientid":"c1",
 *                  "action":"client_disconnected"}
 *   publish:      {"ts":1795765593355,"topic":"t","retain":true,"qos":1,
 *                  "action":"message_publish","from_username":"alice",
 *                  "from_client_id":"c1","payload":"..."}
 *
 * username is "undefined" unless ev->has_username. The payload:
 * plain: the text up to the first NUL, UTF-8 repaired; no "payload" key
 * at all when payload_len == 0. base64: RFC 4648, null when empty.
 * base62: NanoMQ's big-integer base 62, "" when empty.
 */
int nh_body_build(struct nh_buf *out, const struct nh_event *ev, enum nh_encoding enc);

/* body.extended = true: what nanohook adds to every body, after NanoMQ's
 * keys so receivers written for NanoMQ keep working. */
struct nh_body_extra {
	const char *node;     /* host name, or nanohook.node */
	const char *event_id; /* unique per event */
	uint64_t seq;         /* per client id, from 1, in broker order */
};

/*
 * nh_body_build, then ,"node":..,"event_id":..,"seq":N, "ts" (ms) for
 * events whose body has none, "reason_code" (the numeric CONNACK or
 * disconnect code) for connack, disconnected and terminated, and "peer"
 * (the client's address) when the broker gave one. extra NULL: plain
 * nh_body_build.
 */
int nh_body_build_ex(struct nh_buf *out, const struct nh_event *ev, enum nh_encoding enc,
		     const struct nh_body_extra *extra);

#endif
