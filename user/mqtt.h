/* SPDX-License-Identifier: MIT */
/*
 * Raw MQTT control packets as a probe copies them out of broker memory:
 * CONNECT, SUBSCRIBE / UNSUBSCRIBE and PUBLISH of MQTT 3.1 ("MQIsdp",
 * level 3), 3.1.1 ("MQTT", 4) and 5.0 ("MQTT", 5).
 *
 * The bytes are hostile: every length is checked against the buffer, and
 * a packet the specification calls malformed (or a protocol error that
 * makes a broker close the connection) is refused, never half-reported.
 * Semantic refusals a broker answers with a CONNACK or SUBACK code (a
 * client id it dislikes, an invalid topic filter) are left to the caller:
 * the packet itself is well formed and the broker will report on it.
 *
 * Every returned string points into the given buffer; none is
 * NUL-terminated. UTF-8 strings have been checked to be well-formed UTF-8
 * without U+0000 (MQTT 3.1.1 1.5.3, MQTT 5 1.5.4).
 *
 * Errors: -EINVAL malformed, -EMSGSIZE the buffer ends before the packet
 * does (a capture cut short). On error the output struct is zeroed.
 */
#ifndef NH_MQTT_H
#define NH_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MQTT packet types (fixed header byte 0, bits 7-4). */
#define NH_MQTT_CONNECT 1
#define NH_MQTT_PUBLISH 3
#define NH_MQTT_SUBSCRIBE 8
#define NH_MQTT_UNSUBSCRIBE 10

struct nh_mqtt_str {
	const char *ptr;
	size_t len;
	bool present; /* false: the field is absent (its flag is 0) */
};

struct nh_mqtt_connect {
	uint8_t proto_ver;             /* 3, 4 or 5 */
	struct nh_mqtt_str proto_name; /* "MQIsdp" or "MQTT" */
	uint8_t flags;                 /* the Connect Flags byte as sent */
	bool clean_start;
	uint16_t keepalive;
	struct nh_mqtt_str clientid;   /* always present, may be empty */
	struct nh_mqtt_str username;
	bool has_password;
	bool will;
	uint8_t will_qos;
	bool will_retain;
	struct nh_mqtt_str will_topic;
	/* v5 */
	uint32_t session_expiry;
	bool has_session_expiry;
	/* Mosquitto bridges (try_private) set bit 7 of the protocol level;
	 * proto_ver has it masked off. */
	bool bridge;
};

/* p/n: the packet. with_fixed_header: p starts at the fixed header byte
 * 0x10 and n must be exactly the packet (NanoMQ's conn_handler gets
 * this); else p starts at the variable header and n is the Remaining
 * Length (Mosquitto's in_packet.payload once the fixed header is
 * consumed). Strings point into p. -EPROTONOSUPPORT: an MQTT protocol
 * name with a level no version of MQTT has; out->proto_ver then holds
 * that level and nothing else is read (the layout after it is unknown). */
int nh_mqtt_parse_connect(const uint8_t *p, size_t n, bool with_fixed_header,
			  struct nh_mqtt_connect *out);

struct nh_mqtt_topic_req {
	struct nh_mqtt_str filter; /* never empty */
	/* SUBSCRIBE: the Subscription Options byte (QoS in bits 0-1; v5 also
	 * No Local, Retain As Published, Retain Handling). UNSUBSCRIBE: 0. */
	uint8_t opts;
};

typedef int (*nh_mqtt_topic_fn)(void *ctx, const struct nh_mqtt_topic_req *t);

/* SUBSCRIBE (type 8) or UNSUBSCRIBE (type 10), with or without the fixed
 * header as for CONNECT; proto_ver (3, 4, 5) is the session's, needed for
 * v5 properties. The whole packet is checked first; only then is fn
 * (may be NULL) called once per topic filter, in packet order. A non-zero
 * return from fn stops the walk and is returned. packet_id may be NULL. */
int nh_mqtt_parse_sub(const uint8_t *p, size_t n, bool with_fixed_header,
		      uint8_t proto_ver, bool unsubscribe, nh_mqtt_topic_fn fn,
		      void *ctx, uint16_t *packet_id);

struct nh_mqtt_publish {
	struct nh_mqtt_str topic;   /* empty (but present) when a v5 alias stands for it */
	uint16_t packet_id;         /* 0 for QoS 0 */
	uint8_t qos;
	bool retain, dup;
	const uint8_t *payload;     /* inside p, even when payload_len is 0 */
	size_t payload_len;
	uint16_t topic_alias;       /* v5 Topic Alias, 0 if none */
};

/* PUBLISH; p starts at the fixed header and n must be exactly the packet.
 * v5 properties are checked and skipped, except the Topic Alias. */
int nh_mqtt_parse_publish(const uint8_t *p, size_t n, uint8_t proto_ver,
			  struct nh_mqtt_publish *out);

#endif
