/* SPDX-License-Identifier: MIT */
/*
 * An event as the dispatcher sees it after a ring-buffer record has been
 * checked: every string is a (pointer, length) pair into the record, never
 * trusted to be NUL-terminated.
 */
#ifndef NH_EVENT_H
#define NH_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nh_record.h"

struct nh_str {
	const char *ptr;
	size_t len;
};

struct nh_event {
	enum nh_event_type type;
	uint64_t ts_ms;          /* wall clock, ms since the epoch */
	uint32_t pid;

	struct nh_str clientid;
	struct nh_str username;  /* meaningful only if has_username */
	bool has_username;

	/* connack / disconnected */
	uint8_t proto_ver;
	uint16_t keepalive;
	uint8_t code;            /* CONNACK or disconnect reason code */
	bool takeover;           /* terminated: a new connection took it over */
	bool session_expired;    /* terminated: a kept session expired */
	bool session_present;    /* connack: the client's session was resumed */

	struct nh_str ipaddress; /* peer address, "" if unknown */

	/* publish, delivered, acked, (un)subscribe, session (un)subscribed */
	struct nh_str topic;
	uint16_t packet_id;
	uint8_t sub_qos;         /* requested / granted QoS of a subscription */
	/* delivered, acked: the publisher (clientid/username: the receiver) */
	struct nh_str from_clientid;
	struct nh_str from_username;
	bool has_from_username;
	const uint8_t *payload;
	size_t payload_len;      /* bytes present at `payload` */
	size_t payload_full_len; /* bytes the broker had (>= payload_len) */
	uint8_t qos;
	bool retain;
	bool sys_event;          /* broker's own $SYS notice */
};

#endif
