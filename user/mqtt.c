/* SPDX-License-Identifier: MIT */
/*
 * Section numbers below are those of MQTT 3.1.1 (OASIS, 2014) and MQTT 5.0
 * (OASIS, 2019), written "3.1.1 x.y" and "v5 x.y"; bracketed ids are their
 * conformance statements. MQTT 3.1 (IBM, 2010) has no numbered sections.
 */
#include "mqtt.h"

#include <errno.h>
#include <string.h>

#include "encode.h"

/* A bounded reader. Running off the end means different things: when the
 * fixed header gave the packet's length, a field that overruns it is
 * malformed; when the buffer is all we know, it may just be a capture cut
 * short. */
struct rd {
	const uint8_t *p;
	size_t n, pos;
	int end_err;
};

static int need(const struct rd *r, size_t k)
{
	return r->n - r->pos >= k ? 0 : r->end_err;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
	if (need(r, 1))
		return r->end_err;
	*v = r->p[r->pos++];
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (need(r, 2))
		return r->end_err;
	*v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (need(r, 4))
		return r->end_err;
	const uint8_t *b = r->p + r->pos;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	r->pos += 4;
	return 0;
}

/* Variable Byte Integer (3.1.1 2.2.3, v5 1.5.5): at most four bytes, and
 * in the fewest bytes [MQTT-1.5.5-1], which Mosquitto 2 enforces too; no
 * real client sends a padded one. */
static int rd_vbi(struct rd *r, uint32_t *v)
{
	uint32_t val = 0;

	for (unsigned i = 0; i < 4; i++) {
		uint8_t b;
		if (rd_u8(r, &b))
			return r->end_err;
		val |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i > 0 && b == 0)
				return -EINVAL;
			*v = val;
			return 0;
		}
	}
	return -EINVAL;
}

/* Two-byte length, then that many bytes (3.1.1 1.5.3, v5 1.5.6). */
static int rd_bin(struct rd *r, const uint8_t **ptr, uint16_t *len)
{
	int err = rd_u16(r, len);
	if (err)
		return err;
	if (need(r, *len))
		return r->end_err;
	*ptr = r->p + r->pos;
	r->pos += *len;
	return 0;
}

/* UTF-8 Encoded String: well-formed, no U+0000 (3.1.1 1.5.3
 * [MQTT-1.5.3-1] [MQTT-1.5.3-2], v5 1.5.4 [MQTT-1.5.4-1] [MQTT-1.5.4-2],
 * where v5 names either a Malformed Packet). */
static int rd_utf8(struct rd *r, struct nh_mqtt_str *s)
{
	const uint8_t *b;
	uint16_t len;
	int err = rd_bin(r, &b, &len);

	if (err)
		return err;
	if (memchr(b, 0, len) || !nh_utf8_valid(b, len))
		return -EINVAL;
	*s = (struct nh_mqtt_str){ .ptr = (const char *)b, .len = len, .present = true };
	return 0;
}

/* A Topic Name carries no wildcard (3.1.1 / v5 4.7.1 [MQTT-4.7.1-1]). */
static bool has_wildcard(const struct nh_mqtt_str *s)
{
	return memchr(s->ptr, '+', s->len) || memchr(s->ptr, '#', s->len);
}

/* --- v5 properties (v5 2.2.2) ------------------------------------------ */

enum prop_kind { P_NONE, P_BYTE, P_U16, P_U32, P_VBI, P_UTF8, P_BIN, P_PAIR };

/* Where a property may appear (v5 2.2.2.2, Table 2-4). */
enum {
	IN_CONNECT = 1 << 0,
	IN_WILL = 1 << 1,
	IN_PUBLISH = 1 << 2,
	IN_SUBSCRIBE = 1 << 3,
	IN_UNSUBSCRIBE = 1 << 4,
	IN_CONNACK = 1 << 5,
	IN_ACKS = 1 << 6,       /* PUBACK PUBREC PUBREL PUBCOMP SUBACK UNSUBACK */
	IN_DISCONNECT = 1 << 7,
	IN_AUTH = 1 << 8,
	IN_ALL = 0x1ff,
};

/* Value rules that make a property a Protocol Error (v5 3.x.2.y). */
enum { V_ANY, V_BOOL, V_NONZERO };

struct prop_def {
	uint8_t kind;
	uint8_t check;
	uint16_t where;
};

#define PROP_ID_MAX 0x2a
static const struct prop_def prop_defs[PROP_ID_MAX + 1] = {
	[0x01] = { P_BYTE, V_ANY, IN_PUBLISH | IN_WILL },   /* Payload Format Indicator */
	[0x02] = { P_U32, V_ANY, IN_PUBLISH | IN_WILL },    /* Message Expiry Interval */
	[0x03] = { P_UTF8, V_ANY, IN_PUBLISH | IN_WILL },   /* Content Type */
	[0x08] = { P_UTF8, V_ANY, IN_PUBLISH | IN_WILL },   /* Response Topic */
	[0x09] = { P_BIN, V_ANY, IN_PUBLISH | IN_WILL },    /* Correlation Data */
	/* Subscription Identifier: 0 is a Protocol Error (3.3.2.3.8, 3.8.2.1.2) */
	[0x0b] = { P_VBI, V_NONZERO, IN_PUBLISH | IN_SUBSCRIBE },
	[0x11] = { P_U32, V_ANY, IN_CONNECT | IN_CONNACK | IN_DISCONNECT }, /* Session Expiry Interval */
	[0x12] = { P_UTF8, V_ANY, IN_CONNACK },             /* Assigned Client Identifier */
	[0x13] = { P_U16, V_ANY, IN_CONNACK },              /* Server Keep Alive */
	[0x15] = { P_UTF8, V_ANY, IN_CONNECT | IN_CONNACK | IN_AUTH }, /* Authentication Method */
	[0x16] = { P_BIN, V_ANY, IN_CONNECT | IN_CONNACK | IN_AUTH },  /* Authentication Data */
	[0x17] = { P_BYTE, V_BOOL, IN_CONNECT },            /* Request Problem Information (3.1.2.11.7) */
	[0x18] = { P_U32, V_ANY, IN_WILL },                 /* Will Delay Interval */
	[0x19] = { P_BYTE, V_BOOL, IN_CONNECT },            /* Request Response Information (3.1.2.11.6) */
	[0x1a] = { P_UTF8, V_ANY, IN_CONNACK },             /* Response Information */
	[0x1c] = { P_UTF8, V_ANY, IN_CONNACK | IN_DISCONNECT }, /* Server Reference */
	[0x1f] = { P_UTF8, V_ANY, IN_CONNACK | IN_ACKS | IN_DISCONNECT | IN_AUTH }, /* Reason String */
	[0x21] = { P_U16, V_NONZERO, IN_CONNECT | IN_CONNACK }, /* Receive Maximum (3.1.2.11.3) */
	[0x22] = { P_U16, V_ANY, IN_CONNECT | IN_CONNACK }, /* Topic Alias Maximum */
	[0x23] = { P_U16, V_NONZERO, IN_PUBLISH },          /* Topic Alias (3.3.2.3.4) */
	[0x24] = { P_BYTE, V_BOOL, IN_CONNACK },            /* Maximum QoS */
	[0x25] = { P_BYTE, V_BOOL, IN_CONNACK },            /* Retain Available */
	[0x26] = { P_PAIR, V_ANY, IN_ALL },                 /* User Property */
	[0x27] = { P_U32, V_NONZERO, IN_CONNECT | IN_CONNACK }, /* Maximum Packet Size (3.1.2.11.4) */
	[0x28] = { P_BYTE, V_BOOL, IN_CONNACK },            /* Wildcard Subscription Available */
	[0x29] = { P_BYTE, V_BOOL, IN_CONNACK },            /* Subscription Identifier Available */
	[0x2a] = { P_BYTE, V_BOOL, IN_CONNACK },            /* Shared Subscription Available */
};

#define PROP_SESSION_EXPIRY 0x11
#define PROP_TOPIC_ALIAS 0x23
#define PROP_SUB_ID 0x0b
#define PROP_USER 0x26

struct props {
	uint32_t session_expiry;
	bool has_session_expiry;
	uint16_t topic_alias;
};

/* Reads one property value of `kind` into *num (numbers) or skips it
 * (strings, binary). */
static int prop_value(struct rd *r, uint8_t kind, uint32_t *num)
{
	struct nh_mqtt_str s;
	const uint8_t *b;
	uint16_t len, v16;
	uint8_t v8;
	int err;

	*num = 0;
	switch (kind) {
	case P_BYTE:
		err = rd_u8(r, &v8);
		*num = v8;
		return err;
	case P_U16:
		err = rd_u16(r, &v16);
		*num = v16;
		return err;
	case P_U32:
		return rd_u32(r, num);
	case P_VBI:
		return rd_vbi(r, num);
	case P_UTF8:
		return rd_utf8(r, &s);
	case P_BIN:
		return rd_bin(r, &b, &len);
	case P_PAIR:
		err = rd_utf8(r, &s);
		return err ? err : rd_utf8(r, &s);
	}
	return -EINVAL;
}

/* Property Length, then properties (v5 2.2.2). An identifier not defined
 * for this packet, or a value not of its type, is a Malformed Packet
 * (2.2.2.2); so is a property that overruns the Property Length. Each
 * property but User Property may appear once, except Subscription
 * Identifier in a PUBLISH (3.3.2.3.8). */
static int parse_props(struct rd *r, unsigned where, struct props *out)
{
	uint32_t plen;
	uint64_t seen = 0;
	int err = rd_vbi(r, &plen);

	if (err)
		return err;
	if (need(r, plen))
		return r->end_err;
	struct rd pr = { .p = r->p + r->pos, .n = plen, .pos = 0, .end_err = -EINVAL };
	r->pos += plen;

	memset(out, 0, sizeof(*out));
	while (pr.pos < pr.n) {
		uint32_t id, val;

		/* The identifier is a Variable Byte Integer, one byte for
		 * every property v5 defines (2.2.2.2). */
		if ((err = rd_vbi(&pr, &id)))
			return err;
		if (id > PROP_ID_MAX || !(prop_defs[id].where & where))
			return -EINVAL;
		const struct prop_def *d = &prop_defs[id];
		bool repeats = id == PROP_USER || (id == PROP_SUB_ID && where == IN_PUBLISH);
		if ((seen & (1ull << id)) && !repeats)
			return -EINVAL;
		seen |= 1ull << id;
		if ((err = prop_value(&pr, d->kind, &val)))
			return err;
		if ((d->check == V_BOOL && val > 1) || (d->check == V_NONZERO && val == 0))
			return -EINVAL;
		if (id == PROP_SESSION_EXPIRY) {
			out->session_expiry = val;
			out->has_session_expiry = true;
		} else if (id == PROP_TOPIC_ALIAS) {
			out->topic_alias = (uint16_t)val;
		}
	}
	return 0;
}

/* --- fixed header (3.1.1 / v5 2.1) -------------------------------------- */

/* Opens a packet: with the fixed header, checks its type and that the
 * buffer is exactly Remaining Length long, and returns byte 0 in *hdr;
 * without, the buffer is the Remaining Length bytes and *hdr is 0. */
static int open_packet(const uint8_t *p, size_t n, bool with_fixed_header,
		       unsigned type, struct rd *body, uint8_t *hdr)
{
	*hdr = 0;
	if (!with_fixed_header) {
		*body = (struct rd){ .p = p, .n = n, .pos = 0, .end_err = -EMSGSIZE };
		return 0;
	}
	struct rd r = { .p = p, .n = n, .pos = 0, .end_err = -EMSGSIZE };
	uint32_t rl;
	int err;

	if ((err = rd_u8(&r, hdr)))
		return err;
	if ((unsigned)(*hdr >> 4) != type)
		return -EINVAL;
	if ((err = rd_vbi(&r, &rl)))
		return err;
	if (r.n - r.pos < rl)
		return -EMSGSIZE;
	/* Bytes past the packet: not a packet we can vouch for. */
	if (r.n - r.pos > rl)
		return -EINVAL;
	*body = (struct rd){ .p = p + r.pos, .n = rl, .pos = 0, .end_err = -EINVAL };
	return 0;
}

/* --- CONNECT (3.1.1 / v5 3.1) ------------------------------------------- */

#define CF_RESERVED 0x01
#define CF_CLEAN 0x02
#define CF_WILL 0x04
#define CF_WILL_QOS_SHIFT 3
#define CF_WILL_RETAIN 0x20
#define CF_PASSWORD 0x40
#define CF_USERNAME 0x80

/* Protocol Name and Level (3.1.1 3.1.2.1-2, v5 3.1.2.1-2; MQTT 3.1 used
 * "MQIsdp" with level 3). Any other pairing cannot be parsed: its layout
 * is unknown. Bit 7 of the level is Mosquitto's bridge marker, which
 * Mosquitto accepts with every version. */
static int proto_version(const struct nh_mqtt_str *name, uint8_t level,
			 uint8_t *ver, bool *bridge)
{
	*ver = level & 0x7f;
	*bridge = level & 0x80;
	if (name->len == 6 && !memcmp(name->ptr, "MQIsdp", 6))
		return *ver == 3 ? 0 : -EPROTONOSUPPORT;
	if (name->len == 4 && !memcmp(name->ptr, "MQTT", 4))
		return *ver == 4 || *ver == 5 ? 0 : -EPROTONOSUPPORT;
	return -EINVAL;
}

/* The Connect Flags rules whose breach closes the connection. */
static int check_connect_flags(uint8_t ver, uint8_t f)
{
	bool will = f & CF_WILL;
	uint8_t will_qos = (f >> CF_WILL_QOS_SHIFT) & 3;

	/* Reserved bit: 3.1.1 [MQTT-3.1.2-3], v5 3.1.2.3 (Malformed). MQTT
	 * 3.1 only calls it unused, and Mosquitto does not check it there. */
	if (ver >= 4 && (f & CF_RESERVED))
		return -EINVAL;
	/* Will QoS 3: 3.1.1 [MQTT-3.1.2-14], v5 3.1.2.6 (Malformed). */
	if (will_qos == 3)
		return -EINVAL;
	/* No will, no will QoS or retain: 3.1.1 [MQTT-3.1.2-11] [MQTT-3.1.2-13]
	 * [MQTT-3.1.2-15], v5 [MQTT-3.1.2-11] [MQTT-3.1.2-13]. */
	if (ver >= 4 && !will && (will_qos || (f & CF_WILL_RETAIN)))
		return -EINVAL;
	/* Password without user name: forbidden by 3.1.1 [MQTT-3.1.2-22]
	 * (Mosquitto applies it to 3.1 as well); allowed by v5 3.1.2.9. */
	if (ver <= 4 && (f & CF_PASSWORD) && !(f & CF_USERNAME))
		return -EINVAL;
	return 0;
}

static int parse_connect(struct rd *r, struct nh_mqtt_connect *c)
{
	struct props pr;
	const uint8_t *b;
	uint16_t blen;
	uint8_t level;
	int err;

	if ((err = rd_utf8(r, &c->proto_name)) || (err = rd_u8(r, &level)))
		return err;
	if ((err = proto_version(&c->proto_name, level, &c->proto_ver, &c->bridge)))
		return err;
	if ((err = rd_u8(r, &c->flags)) || (err = rd_u16(r, &c->keepalive)))
		return err;
	if ((err = check_connect_flags(c->proto_ver, c->flags)))
		return err;
	c->clean_start = c->flags & CF_CLEAN;
	c->will = c->flags & CF_WILL;
	c->will_qos = (c->flags >> CF_WILL_QOS_SHIFT) & 3;
	c->will_retain = c->flags & CF_WILL_RETAIN;
	c->has_password = c->flags & CF_PASSWORD;

	if (c->proto_ver == 5) {
		if ((err = parse_props(r, IN_CONNECT, &pr)))
			return err;
		c->session_expiry = pr.session_expiry;
		c->has_session_expiry = pr.has_session_expiry;
	}

	/* Payload order: Client Identifier, Will Properties (v5), Will
	 * Topic, Will Payload, User Name, Password (3.1.1 [MQTT-3.1.3-1],
	 * v5 3.1.3). An empty or unwelcome client id is the broker's to
	 * refuse with a CONNACK code ([MQTT-3.1.3-8], v5 3.1.3.1), so it
	 * is returned as is. */
	if ((err = rd_utf8(r, &c->clientid)))
		return err;
	if (c->will) {
		if (c->proto_ver == 5 && (err = parse_props(r, IN_WILL, &pr)))
			return err;
		if ((err = rd_utf8(r, &c->will_topic)))
			return err;
		/* A Will Topic is a Topic Name (3.1.1 3.1.3.2, v5 3.1.3.3):
		 * at least one character [MQTT-4.7.3-1], no wildcards. */
		if (c->will_topic.len == 0 || has_wildcard(&c->will_topic))
			return -EINVAL;
		if ((err = rd_bin(r, &b, &blen)))
			return err;
	}
	/* Mosquitto lets a 3.1 client set the user name or password flag
	 * and then end the packet without the field. Not here: without the
	 * fixed header that packet is indistinguishable from a cut capture. */
	if ((c->flags & CF_USERNAME) && (err = rd_utf8(r, &c->username)))
		return err;
	/* Binary Data (3.1.1 3.1.3.5, v5 3.1.3.6); MQTT 3.1 called it a
	 * string, but its bytes are never used here. */
	if (c->has_password && (err = rd_bin(r, &b, &blen)))
		return err;
	/* The flags say which fields follow; anything more is not CONNECT. */
	return r->pos == r->n ? 0 : -EINVAL;
}

int nh_mqtt_parse_connect(const uint8_t *p, size_t n, bool with_fixed_header,
			  struct nh_mqtt_connect *out)
{
	struct nh_mqtt_connect c = { 0 };
	struct rd r;
	uint8_t hdr;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = open_packet(p, n, with_fixed_header, NH_MQTT_CONNECT, &r, &hdr)))
		return err;
	/* Fixed header flags are reserved, 0000 (3.1.1 2.2.2 Table 2.2
	 * [MQTT-2.2.2-1], v5 2.1.3 [MQTT-2.1.3-1]). */
	if (hdr & 0x0f)
		return -EINVAL;
	if ((err = parse_connect(&r, &c))) {
		if (err == -EPROTONOSUPPORT) /* what the client asked for */
			out->proto_ver = c.proto_ver;
		return err;
	}
	*out = c;
	return 0;
}

/* --- SUBSCRIBE / UNSUBSCRIBE (3.1.1 / v5 3.8, 3.10) ---------------------- */

#define SO_QOS 0x03
#define SO_NO_LOCAL 0x04
#define SO_RETAIN_HANDLING 0x30

/* Subscription Options (3.1.1 3.8.3.1, v5 3.8.3.1). */
static int check_sub_opts(uint8_t ver, uint8_t o, const struct nh_mqtt_str *filter)
{
	if ((o & SO_QOS) == 3)
		return -EINVAL;
	/* 3.1.1 and 3.1: only the QoS bits; the rest reserved [MQTT-3-8.3-4]. */
	if (ver < 5)
		return o & ~SO_QOS ? -EINVAL : 0;
	/* v5: bits 6-7 reserved [MQTT-3.8.3-5], Retain Handling 3 a Protocol
	 * Error, as is No Local on a Shared Subscription [MQTT-3.8.3-4]. */
	if ((o & 0xc0) || (o & SO_RETAIN_HANDLING) == SO_RETAIN_HANDLING)
		return -EINVAL;
	if ((o & SO_NO_LOCAL) && filter->len >= 7 && !memcmp(filter->ptr, "$share/", 7))
		return -EINVAL;
	return 0;
}

/* The payload: one or more topic filters, each followed by its options
 * byte for SUBSCRIBE (3.1.1 3.8.3 [MQTT-3.8.3-3], 3.10.3 [MQTT-3.10.3-2];
 * v5 3.8.3, 3.10.3). Filters must be at least one character
 * (4.7.3 [MQTT-4.7.3-1]); their wildcard syntax is the broker's to judge
 * per filter, in its SUBACK. */
static int walk_filters(struct rd r, uint8_t ver, bool unsubscribe,
			nh_mqtt_topic_fn fn, void *ctx)
{
	int err;

	if (r.pos == r.n)
		return -EINVAL;
	while (r.pos < r.n) {
		struct nh_mqtt_topic_req t = { .opts = 0 };

		if ((err = rd_utf8(&r, &t.filter)))
			return err;
		if (t.filter.len == 0)
			return -EINVAL;
		if (!unsubscribe) {
			if ((err = rd_u8(&r, &t.opts)))
				return err;
			if ((err = check_sub_opts(ver, t.opts, &t.filter)))
				return err;
		}
		if (fn && (err = fn(ctx, &t)))
			return err;
	}
	return 0;
}

int nh_mqtt_parse_sub(const uint8_t *p, size_t n, bool with_fixed_header,
		      uint8_t proto_ver, bool unsubscribe, nh_mqtt_topic_fn fn,
		      void *ctx, uint16_t *packet_id)
{
	unsigned type = unsubscribe ? NH_MQTT_UNSUBSCRIBE : NH_MQTT_SUBSCRIBE;
	struct props pr;
	uint16_t id = 0;
	struct rd r;
	uint8_t hdr;
	int err;

	if (packet_id)
		*packet_id = 0;
	if (proto_ver < 3 || proto_ver > 5)
		return -EINVAL;
	if ((err = open_packet(p, n, with_fixed_header, type, &r, &hdr)))
		return err;
	/* Fixed header flags 0010 (3.1.1 [MQTT-3.8.1-1] [MQTT-3.10.1-1], v5
	 * 3.8.1, 3.10.1). MQTT 3.1 sent these with QoS 1 and a DUP bit that
	 * a resend sets, which Mosquitto still accepts from 3.1 clients. */
	if (with_fixed_header && (hdr & (proto_ver == 3 ? 0x07 : 0x0f)) != 0x02)
		return -EINVAL;
	/* Packet Identifier, non-zero (3.1.1 2.3.1 [MQTT-2.3.1-1], v5 2.2.1
	 * [MQTT-2.2.1-3]). */
	if ((err = rd_u16(&r, &id)))
		return err;
	if (id == 0)
		return -EINVAL;
	if (proto_ver == 5 &&
	    (err = parse_props(&r, unsubscribe ? IN_UNSUBSCRIBE : IN_SUBSCRIBE, &pr)))
		return err;
	/* Check everything before the first callback, so a bad packet is
	 * never half-reported. */
	if ((err = walk_filters(r, proto_ver, unsubscribe, NULL, NULL)))
		return err;
	if (packet_id)
		*packet_id = id;
	return walk_filters(r, proto_ver, unsubscribe, fn, ctx);
}

/* --- PUBLISH (3.1.1 / v5 3.3) -------------------------------------------- */

#define PF_RETAIN 0x01
#define PF_QOS_SHIFT 1
#define PF_DUP 0x08

int nh_mqtt_parse_publish(const uint8_t *p, size_t n, uint8_t proto_ver,
			  struct nh_mqtt_publish *out)
{
	struct nh_mqtt_publish m = { 0 };
	struct props pr;
	struct rd r;
	uint8_t hdr;
	int err;

	memset(out, 0, sizeof(*out));
	if (proto_ver < 3 || proto_ver > 5)
		return -EINVAL;
	if ((err = open_packet(p, n, true, NH_MQTT_PUBLISH, &r, &hdr)))
		return err;
	m.qos = (hdr >> PF_QOS_SHIFT) & 3;
	m.dup = hdr & PF_DUP;
	m.retain = hdr & PF_RETAIN;
	/* QoS 3: 3.1.1 [MQTT-3.3.1-4], v5 [MQTT-3.3.1-4] (Malformed). DUP
	 * on QoS 0: [MQTT-3.3.1-2] in both; Mosquitto calls it malformed. */
	if (m.qos == 3 || (m.dup && m.qos == 0))
		return -EINVAL;

	if ((err = rd_utf8(&r, &m.topic)))
		return err;
	/* A Topic Name has no wildcards (3.1.1 [MQTT-3.3.2-2], v5
	 * [MQTT-3.3.2-2]). */
	if (has_wildcard(&m.topic))
		return -EINVAL;
	/* Packet Identifier only with QoS > 0, and non-zero (3.1.1 2.3.1,
	 * v5 2.2.1). */
	if (m.qos > 0) {
		if ((err = rd_u16(&r, &m.packet_id)))
			return err;
		if (m.packet_id == 0)
			return -EINVAL;
	}
	if (proto_ver == 5) {
		if ((err = parse_props(&r, IN_PUBLISH, &pr)))
			return err;
		m.topic_alias = pr.topic_alias;
	}
	/* An empty Topic Name: never before v5 (4.7.3 [MQTT-4.7.3-1]); in
	 * v5 only with a Topic Alias standing for it (3.3.2.3.4). */
	if (m.topic.len == 0 && m.topic_alias == 0)
		return -EINVAL;

	m.payload = r.p + r.pos;
	m.payload_len = r.n - r.pos;
	*out = m;
	return 0;
}
