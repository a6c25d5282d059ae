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

	/* publish */
	struct nh_str topic;
	const uint8_t *payload;
	size_t payload_len;      /* bytes present at `payload` */
	size_t payload_full_len; /* bytes the broker had (>= payload_len) */
	uint8_t qos;
	bool retain;
	bool sys_event;          /* broker's own $SYS notice */
};

#endif
