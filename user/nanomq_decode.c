// SPDX-License-Identifier: MIT
/*
 * NanoMQ's records, finished in userspace: which client a pipe id names
 * (from the pipe binds, or from the broker's own pipe-id key for clients
 * connected before nanohook), deliveries joined with their acks, raw
 * CONNECT, SUBSCRIBE and outgoing PUBLISH packets parsed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliveries.h"
#include "elf_file.h"
#include "fnv.h"
#include "log.h"
#include "mqtt.h"
#include "nanomq.h"
#include "procmem.h"
#include "siphash.h"

/* Reads the broker's pipe-id key; a missing symbol just leaves it off. */
void nmq_read_seed(struct nh_target *t, struct nmq_state *st)
{
	struct nh_sym sym;
	uint64_t base = 0;

	if (!t->pid || nh_elf_find_object(t->elf, "g_nanomq_hash_seed", &sym) || sym.size != 16)
		return;
	if (nh_elf_is_pie(t->elf) && nh_proc_exe_base(t->pid, &base))
		return;
	if (!nh_proc_read(t->pid, base + sym.vaddr, st->seed, sizeof(st->seed))) {
		st->seed_state = 1;
		nh_debug("nanomq: read the pipe-id key at 0x%llx",
			 (unsigned long long)(base + sym.vaddr));
	}
}

static struct nmq_pipe *pipe_slot(struct nmq_state *st, uint32_t pipe_id)
{
	return &st->pipes[(pipe_id * 2654435761u) % PIPE_SLOTS];
}

static void copy_str(char *dst, size_t cap, struct nh_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = 0;
}

/* Names the client of a pipe-id event; -2 (unmatched) if its pipe was
 * bound before nanohook attached. */
static int name_by_pipe(struct nmq_state *st, const struct nh_record *rec, struct nh_event *ev)
{
	struct nmq_pipe *p = pipe_slot(st, rec->pipe_id);

	if (!p->used || p->pipe_id != rec->pipe_id)
		return NH_DECODE_REJECT(NH_REJ_UNMATCHED);
	ev->clientid = (struct nh_str){ p->clientid, strlen(p->clientid) };
	ev->username = (struct nh_str){ p->username, strlen(p->username) };
	ev->has_username = p->has_username;
	ev->proto_ver = p->proto_ver;
	return 0;
}

/* An outgoing PUBLISH: its fixed header byte travels in pub_header, its
 * body in the payload area; rebuild the packet and parse it. */
static int decode_delivered(struct nmq_state *st, const struct nh_record *rec,
			    struct nh_event *ev)
{
	uint8_t pkt[NH_PAYLOAD_LARGE + 8];
	struct nh_mqtt_publish pub;
	size_t n = 0, rem = ev->payload_len;
	/* NanoMQ keeps the message as the publisher encoded it and encodes
	 * it for each receiver only when sending. */
	uint8_t publisher_ver = rec->proto_ver ? rec->proto_ver : 4;
	int rc = name_by_pipe(st, rec, ev);

	if (rc)
		return rc;
	if (ev->payload_len != ev->payload_full_len || ev->payload_len > NH_PAYLOAD_LARGE)
		return NH_DECODE_REJECT(NH_REJ_MALFORMED); /* a cut packet cannot be parsed: raise payload_max */
	pkt[n++] = (uint8_t)rec->pub_header;
	do {
		pkt[n++] = (uint8_t)((rem & 0x7f) | (rem > 0x7f ? 0x80 : 0));
		rem >>= 7;
	} while (rem);
	memcpy(pkt + n, ev->payload, ev->payload_len);
	if (nh_mqtt_parse_publish(pkt, n + ev->payload_len, publisher_ver, &pub)) {
		char hex[3 * 48 + 1] = "";

		for (size_t i = 0; i < n + ev->payload_len && i < 48; i++)
			snprintf(hex + 3 * i, 4, "%02x ", pkt[i]);
		nh_debug("nanomq: outgoing PUBLISH to pipe %u (v%u) does not parse: %s",
			 rec->pipe_id, ev->proto_ver, hex);
		return NH_DECODE_REJECT(NH_REJ_MALFORMED);
	}
	ev->topic = (struct nh_str){ pub.topic.ptr, pub.topic.len };
	ev->payload = pub.payload;
	ev->payload_len = ev->payload_full_len = pub.payload_len;
	ev->qos = pub.qos;
	ev->retain = pub.retain;
	/* put copies everything the event points at, pkt included */
	nh_deliveries_put(st->base.deliveries, rec->pipe_id + 1, rec->packet_id, ev);
	return 0;
}

/* A client seen in any event names its pipe, when the key is known. */
static void learn_pipe(struct nmq_state *st, const struct nh_event *ev)
{
	struct nmq_pipe *p;
	uint32_t id;

	if (st->seed_state <= 0 || !ev->clientid.len)
		return;
	id = nh_nanomq_pipe_id(ev->clientid.ptr, ev->clientid.len, st->seed);
	p = pipe_slot(st, id);
	if (p->used && p->pipe_id == id)
		return;
	p->used = true;
	p->pipe_id = id;
	p->has_username = ev->has_username;
	p->proto_ver = ev->proto_ver;
	copy_str(p->clientid, sizeof(p->clientid), ev->clientid);
	copy_str(p->username, sizeof(p->username), ev->username);
}

/* 0 for a QoS 2 message not seen before; a rejection for a resend (DUP) of the
 * last one this publisher sent under that packet id: MQTT's exactly once
 * makes it the same message. A DUP after its slot was reused is posted
 * again (at least once, never lost). */
static int qos2_once(struct nmq_state *st, const struct nh_record *rec,
		     const struct nh_event *ev)
{
	uint64_t key = nh_fnv1a64(ev->clientid.ptr, ev->clientid.len) | 1; /* 0: empty */
	size_t i;

	i = ((key ^ rec->packet_id) * 0x9e3779b97f4a7c15ull) >> (64 - 12);
	_Static_assert(QOS2_SLOTS == 1 << 12, "the slot is the top 12 bits");
	if ((rec->flags & NH_F_DUP) && st->qos2_seen[i].key == key &&
	    st->qos2_seen[i].packet_id == rec->packet_id)
		return NH_DECODE_REJECT(NH_REJ_RESEND);
	st->qos2_seen[i].key = key;
	st->qos2_seen[i].packet_id = rec->packet_id;
	return 0;
}

int nmq_decode(struct nh_attachment *a, const struct nh_record *rec, struct nh_event *ev,
		      void (*emit)(void *, const struct nh_event *), void *emit_ctx)
{
	struct nmq_state *st = a->state;
	struct nh_mqtt_connect c;
	struct nmq_pipe *p;
	int rc;

	if (!st)
		return NH_DECODE_REJECT(NH_REJ_MALFORMED);
	if (rec->type == NH_EV_CONNACK || rec->type == NH_EV_PUBLISH ||
	    rec->type == NH_EV_SUBSCRIBE || rec->type == NH_EV_UNSUBSCRIBE)
		learn_pipe(st, ev);
	switch ((int)rec->type) {
	case NH_REC_PIPE_BIND:
		if (st->seed_state > 0) {
			bool same = nh_nanomq_pipe_id(ev->clientid.ptr, ev->clientid.len,
						      st->seed) == rec->pipe_id;

			if (!same)
				nh_warn("nanomq: the pipe-id key read from the broker does not "
					"match its pipes; not naming clients from it");
			if (same && st->seed_state == 1)
				nh_debug("nanomq: pipe-id key confirmed by the first pipe bind");
			st->seed_state = same ? 2 : -1;
		}
		p = pipe_slot(st, rec->pipe_id);
		p->used = true;
		p->pipe_id = rec->pipe_id;
		p->has_username = ev->has_username;
		p->proto_ver = ev->proto_ver;
		copy_str(p->clientid, sizeof(p->clientid), ev->clientid);
		copy_str(p->username, sizeof(p->username), ev->username);
		return 1;
	case NH_EV_CONNECT:
		if (ev->payload_len != ev->payload_full_len)
			return NH_DECODE_REJECT(NH_REJ_TRUNCATED);
		rc = nh_mqtt_parse_connect(ev->payload, ev->payload_len, true, &c);
		if (rc == -EPROTONOSUPPORT)
			return 1; /* a level no MQTT has: refused, no client (README) */
		if (rc)
			return NH_DECODE_REJECT(NH_REJ_INVALID_PACKET);
		ev->clientid = (struct nh_str){ c.clientid.ptr, c.clientid.len };
		ev->username = (struct nh_str){ c.username.ptr, c.username.len };
		ev->has_username = c.username.present;
		ev->proto_ver = c.proto_ver;
		ev->keepalive = c.keepalive;
		ev->payload = NULL;
		ev->payload_len = ev->payload_full_len = 0;
		return 0;
	case NH_EV_SUBSCRIBE:
	case NH_EV_UNSUBSCRIBE:
		return nh_broker_emit_sub_filters(ev, emit, emit_ctx);
	case NH_EV_SESSION_SUBSCRIBED:
	case NH_EV_SESSION_UNSUBSCRIBED:
		return name_by_pipe(st, rec, ev);
	case NH_EV_PUBLISH:
		return ev->qos == 2 && !ev->sys_event ? qos2_once(st, rec, ev) : 0;
	case NH_EV_DELIVERED:
		return decode_delivered(st, rec, ev);
	case NH_EV_ACKED:
		rc = name_by_pipe(st, rec, ev);
		if (rc)
			return rc;
		if (nh_deliveries_take(st->base.deliveries, rec->pipe_id + 1, rec->packet_id, ev))
			return NH_DECODE_REJECT(NH_REJ_UNMATCHED);
		return 0;
	case NH_EV_DISCONNECTED:
		/* NanoMQ reports a disconnect when the session ends: at once for
		 * a clean session, at expiry for a kept one. So every disconnect
		 * is also the end of the session. */
		emit(emit_ctx, ev);
		ev->type = NH_EV_SESSION_TERMINATED;
		emit(emit_ctx, ev);
		return 1;
	default:
		return 0;
	}
}
