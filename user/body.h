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

#endif
