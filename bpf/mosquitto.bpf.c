// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * Mosquitto 2.x probes, all plain entry uprobes. Offsets come from
 * userspace, read off the binary being probed (include/nh_offsets.h).
 *
 *  handle__connect(ctx)                   the raw CONNECT, for on_client_connect
 *                                         and the client id of refused clients
 *  send__connack(ctx, ack, code)          connack: every CONNACK, real code
 *  do_disconnect(ctx, reason)             disconnected, once per accepted client
 *  db__message_store(src, stored, expiry, store_id, origin)
 *                                         publish: once per accepted message,
 *                                         after ACL, topic aliases resolved
 *
 * Mosquitto runs one broker thread, so records of one connection arrive
 * in the order the broker produced them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nh_common.bpf.h"
#include "nh_offsets.h"

const volatile struct mosq_offsets off = {};

/* enum mosquitto_client_state values (stable across 2.0.x) */
#define MOSQ_CS_NEW 0
#define MOSQ_CS_ACTIVE 3
#define MOSQ_CS_DISCONNECTING 2
#define MOSQ_CS_DUPLICATE 17
#define MOSQ_CS_DISCONNECT_WITH_WILL 18
#define MOSQ_CS_REAUTHENTICATING 21

/* enum mosquitto_msg_origin: mosq_mo_client */
#define MOSQ_MO_CLIENT 0

static __always_inline void fill_client(struct nh_record *rec, const void *mctx,
					bool *fault)
{
	const char *s;

	rec->conn_ref = (__u64)mctx;
	/* The protocol enum travels raw; userspace maps it to 3/4/5. */
	rec->proto_ver = (__u8)NH_READ(__u32, mctx, off.ctx_protocol, fault);
	rec->keepalive = NH_READ(__u16, mctx, off.ctx_keepalive, fault);
	rec->broker_state = NH_READ(__u32, mctx, off.ctx_state, fault);

	s = NH_READ(const char *, mctx, off.ctx_id, fault);
	if (NH_COPY_CSTR(rec, clientid, NH_CLIENTID_MAX, s, NH_F_TRUNC_CLIENTID))
		*fault = true;
	s = NH_READ(const char *, mctx, off.ctx_username, fault);
	if (s)
		rec->flags |= NH_F_HAS_USERNAME;
	if (NH_COPY_CSTR(rec, username, NH_USERNAME_MAX, s, NH_F_TRUNC_USERNAME))
		*fault = true;
	rec->topic[0] = 0;
	rec->topic_got = 0;
}

static __always_inline void finish(struct nh_record *rec, bool fault)
{
	if (fault) {
		rec->flags |= NH_F_READ_FAULT;
		nh_count(NH_DROP_READ_FAULT);
	}
	nh_submit(rec);
}

SEC("uprobe")
int BPF_KPROBE(mosq_connect, void *mctx)
{
	struct nh_record *rec;
	const void *pkt;
	bool fault = false;
	__u32 len, want;

	if (!nh_target_hit() || !mctx)
		return 0;
	/* A second CONNECT on a connection is a protocol error, not a client. */
	if (NH_READ(__u32, mctx, off.ctx_state, &fault) != MOSQ_CS_NEW || fault)
		return 0;
	pkt = NH_READ(const void *, mctx, off.ctx_in_payload, &fault);
	len = NH_READ(__u32, mctx, off.ctx_in_remaining, &fault);
	want = len < payload_max ? len : payload_max;
	rec = nh_reserve(NH_EV_CONNECT, pkt, want, &fault);
	if (!rec)
		return 0;
	rec->payload_len = len;
	if (len > want)
		rec->flags |= NH_F_TRUNC_PAYLOAD;
	rec->conn_ref = (__u64)mctx;
	rec->clientid[0] = rec->username[0] = rec->topic[0] = 0;
	rec->clientid_got = rec->username_got = rec->topic_got = 0;
	finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_connack, void *mctx, __u64 ack, __u64 code)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit() || !mctx)
		return 0;
	rec = nh_reserve(NH_EV_CONNACK, NULL, 0, &fault);
	if (!rec)
		return 0;
	rec->code = (__u8)code;
	fill_client(rec, mctx, &fault);
	finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_disconnect, void *mctx, __u64 reason)
{
	struct nh_record *rec;
	bool fault = false, emit;
	__u32 state;
	__s32 sock;

	if (!nh_target_hit() || !mctx)
		return 0;
	/* The broker's own outgoing bridge connections are not clients. */
	if (NH_READ(const void *, mctx, off.ctx_bridge, &fault))
		return 0;
	state = NH_READ(__u32, mctx, off.ctx_state, &fault);
	sock = NH_READ(__s32, mctx, off.ctx_sock, &fault);
	if (fault)
		return 0;
	/* do_disconnect runs more than once for some connections (bad
	 * DISCONNECT flags, websockets, a resumed offline session) and for
	 * connections that never got a CONNACK. Exactly one call per
	 * accepted client passes this test (see docs/mosquitto.md). */
	emit = state == MOSQ_CS_ACTIVE || state == MOSQ_CS_REAUTHENTICATING ||
	       ((state == MOSQ_CS_DISCONNECTING || state == MOSQ_CS_DISCONNECT_WITH_WILL ||
		 state == MOSQ_CS_DUPLICATE) && sock != -1);
	if (!emit)
		return 0;
	rec = nh_reserve(NH_EV_DISCONNECTED, NULL, 0, &fault);
	if (!rec)
		return 0;
	rec->broker_reason = (__s32)reason;
	fill_client(rec, mctx, &fault);
	finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_store, void *src, void *stored, __u64 expiry, __u64 store_id,
	       __u64 origin)
{
	struct nh_record *rec;
	const void *payload;
	const char *topic;
	bool fault = false;
	__u32 len, want;

	/* Client messages only: $SYS updates and plugin publishes have no
	 * source and origin broker; persistence restore has a store id. */
	if (!src || !stored || store_id || (__u32)origin != MOSQ_MO_CLIENT)
		return 0;
	if (!nh_target_hit())
		return 0;
	payload = NH_READ(const void *, stored, off.st_payload, &fault);
	len = NH_READ(__u32, stored, off.st_payloadlen, &fault);
	want = len < payload_max ? len : payload_max;
	rec = nh_reserve(NH_EV_PUBLISH, payload, want, &fault);
	if (!rec)
		return 0;
	rec->payload_len = len;
	if (len > want)
		rec->flags |= NH_F_TRUNC_PAYLOAD;
	fill_client(rec, src, &fault);
	rec->qos = NH_READ(__u8, stored, off.st_qos, &fault);
	if (NH_READ(__u8, stored, off.st_retain, &fault))
		rec->flags |= NH_F_RETAIN;
	topic = NH_READ(const char *, stored, off.st_topic, &fault);
	if (!topic || NH_COPY_CSTR(rec, topic, NH_TOPIC_MAX, topic, NH_F_TRUNC_TOPIC))
		fault = true;
	finish(rec, fault);
	return 0;
}
