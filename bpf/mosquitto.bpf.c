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
 *  handle__subscribe / handle__unsubscribe(ctx)
 *                                         the raw packet: one event per filter
 *  sub__add(ctx, topic, qos, ...)         session subscribed (after ACL)
 *  sub__remove(ctx, topic, ...)           session unsubscribed
 *  context__disconnect(ctx) entry+return, session_expiry__add(ctx),
 *  context__add_to_disused(ctx)           session terminated
 *  db__message_insert(ctx, mid, dir, qos, retain, stored, ...)
 *                                         no record: notes which stored message
 *                                         an outgoing topic string belongs to
 *  send__publish(ctx, mid, topic, len, payload, qos, retain, dup, ...)
 *                                         delivered: the first send (dup 0) of
 *                                         a message to a connected client, not
 *                                         its queueing (which may never send)
 *  db__message_delete_outgoing(ctx, mid, state, qos)
 *                                         acked (PUBACK / PUBCOMP)
 *
 * Programs of events no rule wants are not loaded (userspace turns their
 * autoload off), so an unwanted event costs the broker nothing.
 *
 * Mosquitto runs one broker thread, so records of one connection arrive
 * in the order the broker produced them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nh_common.bpf.h"
#include "nh_mosq.h"
#include "nh_offsets.h"

const volatile struct mosq_offsets off = {};


/* context__disconnect entry -> return, per thread: did the broker keep
 * the session (session_expiry__add) while disconnecting? */
struct mosq_disc_call {
	__u64 ctx;
	__u32 state; /* at entry: the return sees it already disconnected */
	__u8 kept;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct mosq_disc_call);
} disc_calls SEC(".maps");

/* An outgoing message's topic string -> its stored message, so that the
 * send, which is handed only the topic and payload, can name the
 * publisher. The topic string is the store's own and lives as long as it;
 * LRU, so entries of messages never sent (a session discarded with its
 * queue) age out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} store_of_topic SEC(".maps");

static __always_inline void fill_client(struct nh_record *rec, const void *mctx,
					bool *fault)
{
	const char *s;

	struct nh_span sp;
	const char *user;

	nh_span_read(&sp, mctx, nh_span_lo(off.ctx_protocol, off.ctx_keepalive, off.ctx_state,
					   off.ctx_id, off.ctx_username));
	rec->conn_ref = (__u64)mctx;
	/* The protocol enum travels raw; userspace maps it to 3/4/5. */
	rec->proto_ver = (__u8)NH_SPAN_GET(__u32, &sp, off.ctx_protocol, fault);
	rec->keepalive = NH_SPAN_GET(__u16, &sp, off.ctx_keepalive, fault);
	rec->broker_state = NH_SPAN_GET(__u32, &sp, off.ctx_state, fault);
	s = NH_SPAN_GET(const char *, &sp, off.ctx_id, fault);
	user = NH_SPAN_GET(const char *, &sp, off.ctx_username, fault);

	if (NH_COPY_CSTR(rec, clientid, NH_CLIENTID_MAX, s, NH_F_TRUNC_CLIENTID))
		*fault = true;
	s = user;
	if (s)
		rec->flags |= NH_F_HAS_USERNAME;
	if (NH_COPY_CSTR(rec, username, NH_USERNAME_MAX, s, NH_F_TRUNC_USERNAME))
		*fault = true;
}

static __always_inline void read_addr(struct nh_record *rec, const void *mctx,
				      bool *fault)
{
	const char *a = NH_READ(const char *, mctx, off.ctx_address, fault);
	long r = 0;

	if (a && off.ctx_address >= 0)
		r = bpf_probe_read_user_str(rec->addr, NH_ADDR_MAX, a);
	rec->addr_got = r > 0 ? r - 1 : 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_connect, void *mctx)
{
	struct nh_record *rec;
	const void *pkt;
	bool fault = false;
	__u32 len;

	if (!nh_target_hit() || !mctx)
		return 0;
	/* A second CONNECT on a connection is a protocol error, not a client. */
	if (NH_READ(__u32, mctx, off.ctx_state, &fault) != MOSQ_CS_NEW || fault)
		return 0;
	pkt = NH_READ(const void *, mctx, off.ctx_in_payload, &fault);
	len = NH_READ(__u32, mctx, off.ctx_in_remaining, &fault);
	rec = nh_reserve_raw(NH_EV_CONNECT, pkt, len, &fault);
	if (!rec)
		return 0;
	rec->conn_ref = (__u64)mctx;
	read_addr(rec, mctx, &fault);
	nh_finish(rec, fault);
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
	rec->broker_reason = (__s32)(ack & 0xff);
	read_addr(rec, mctx, &fault);
	nh_finish(rec, fault);
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
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_store, void *src, void *stored, __u64 expiry, __u64 store_id,
	       __u64 origin)
{
	struct nh_record *rec;
	const void *payload;
	const char *topic;
	struct nh_span sp;
	bool fault = false;
	__u32 len;
	__u8 qos, retain;

	/* Client messages only: $SYS updates and plugin publishes have no
	 * source and origin broker; persistence restore has a store id. */
	if (!src || !stored || store_id || (__u32)origin != MOSQ_MO_CLIENT)
		return 0;
	if (!nh_target_hit())
		return 0;
	nh_span_read(&sp, stored, nh_span_lo(off.st_payload, off.st_payloadlen, off.st_qos,
					     off.st_retain, off.st_topic));
	payload = NH_SPAN_GET(const void *, &sp, off.st_payload, &fault);
	len = NH_SPAN_GET(__u32, &sp, off.st_payloadlen, &fault);
	qos = NH_SPAN_GET(__u8, &sp, off.st_qos, &fault);
	retain = NH_SPAN_GET(__u8, &sp, off.st_retain, &fault);
	topic = NH_SPAN_GET(const char *, &sp, off.st_topic, &fault);
	rec = nh_reserve_payload(NH_EV_PUBLISH, payload, len, &fault);
	if (!rec)
		return 0;
	fill_client(rec, src, &fault);
	rec->qos = qos;
	if (retain)
		rec->flags |= NH_F_RETAIN;
	if (!topic || NH_COPY_CSTR(rec, topic, NH_TOPIC_MAX, topic, NH_F_TRUNC_TOPIC))
		fault = true;
	nh_finish(rec, fault);
	return 0;
}

/* SUBSCRIBE / UNSUBSCRIBE: the raw packet, parsed in userspace into one
 * event per topic filter. */
static __always_inline int emit_raw(void *mctx, __u16 type)
{
	struct nh_record *rec;
	const void *pkt;
	bool fault = false;
	__u32 len;

	if (!nh_target_hit() || !mctx)
		return 0;
	pkt = NH_READ(const void *, mctx, off.ctx_in_payload, &fault);
	len = NH_READ(__u32, mctx, off.ctx_in_remaining, &fault);
	rec = nh_reserve_raw(type, pkt, len, &fault);
	if (!rec)
		return 0;
	fill_client(rec, mctx, &fault);
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_subscribe, void *mctx)
{
	return emit_raw(mctx, NH_EV_SUBSCRIBE);
}

SEC("uprobe")
int BPF_KPROBE(mosq_unsubscribe, void *mctx)
{
	return emit_raw(mctx, NH_EV_UNSUBSCRIBE);
}

static __always_inline int emit_session_topic(void *mctx, const char *topic,
					      __u16 type, __u8 qos)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit() || !mctx)
		return 0;
	rec = nh_reserve(type, NULL, 0, &fault);
	if (!rec)
		return 0;
	fill_client(rec, mctx, &fault);
	rec->sub_opts = qos;
	if (!topic || NH_COPY_CSTR(rec, topic, NH_TOPIC_MAX, topic, NH_F_TRUNC_TOPIC))
		fault = true;
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_sub_add, void *mctx, const char *topic, __u64 qos)
{
	return emit_session_topic(mctx, topic, NH_EV_SESSION_SUBSCRIBED, (__u8)qos);
}

SEC("uprobe")
int BPF_KPROBE(mosq_sub_remove, void *mctx, const char *topic)
{
	return emit_session_topic(mctx, topic, NH_EV_SESSION_UNSUBSCRIBED, 0);
}

static __always_inline int emit_terminated(const void *mctx, __u32 why, __u32 state)
{
	struct nh_record *rec;
	bool fault = false;

	rec = nh_reserve(NH_EV_SESSION_TERMINATED, NULL, 0, &fault);
	if (!rec)
		return 0;
	fill_client(rec, mctx, &fault);
	rec->broker_reason = why;
	rec->broker_state = state;
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_ctx_disconnect, void *mctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mosq_disc_call call = { .ctx = (__u64)mctx };
	bool fault = false;

	if (cfg.target_tgid && (id >> 32) != cfg.target_tgid)
		return 0;
	call.state = NH_READ(__u32, mctx, off.ctx_state, &fault);
	/* Already disconnected: context__disconnect returns at once. Never
	 * accepted (no CONNECT yet, refused, or still authenticating): no
	 * session began. The broker's own bridges have no client session. */
	if (call.state == MOSQ_CS_DISCONNECTED || call.state == MOSQ_CS_NEW ||
	    call.state == MOSQ_CS_AUTHENTICATING ||
	    NH_READ(const void *, mctx, off.ctx_bridge, &fault) || fault)
		return 0;
	if (bpf_map_update_elem(&disc_calls, &id, &call, BPF_ANY))
		nh_count(NH_DROP_PENDING_FULL);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_expiry_add, void *mctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mosq_disc_call *call = bpf_map_lookup_elem(&disc_calls, &id);

	if (call && call->ctx == (__u64)mctx)
		call->kept = 1;
	return 0;
}


SEC("uretprobe")
int BPF_KRETPROBE(mosq_ctx_disconnect_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mosq_disc_call *call = bpf_map_lookup_elem(&disc_calls, &id);
	__u64 mctx;
	__u32 state;
	__u8 kept;

	if (!call)
		return 0;
	mctx = call->ctx;
	kept = call->kept;
	state = call->state;
	bpf_map_delete_elem(&disc_calls, &id);
	/* The context lives on until the loop frees disused contexts, so
	 * reading it on return is safe. */
	if (kept || !nh_target_hit())
		return 0;
	return emit_terminated((const void *)mctx, MOSQ_TERM_DISCONNECT, state);
}

/* Called directly (not inlined) only when a kept session expires or a
 * delayed will was sent: the end of a session that outlived its
 * connection. */
SEC("uprobe")
int BPF_KPROBE(mosq_add_to_disused, void *mctx)
{
	if (!nh_target_hit() || !mctx)
		return 0;
	return emit_terminated(mctx, MOSQ_TERM_EXPIRED, 0);
}

SEC("uprobe")
int BPF_KPROBE(mosq_msg_insert, void *mctx, __u64 mid, __u64 dir, __u64 qos,
	       __u64 retain)
{
	/* The sixth argument (stored) is in r9 on x86-64. */
	__u64 stored = ((struct pt_regs *)ctx)->r9;
	bool fault = false;
	__u64 topic;

	if ((__u32)dir != MOSQ_MD_OUT || !mctx || !stored || !nh_target_hit())
		return 0;
	topic = (__u64)NH_READ(const char *, (const void *)stored, off.st_topic, &fault);
	if (topic && !fault)
		bpf_map_update_elem(&store_of_topic, &topic, &stored, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_send, void *mctx, __u64 mid, const char *topic, __u64 payloadlen,
	       const void *payload)
{
	/* send__publish(mosq, mid, topic, payloadlen, payload, qos, retain,
	 * dup, ...): qos is in r9, retain and dup on the stack above the
	 * return address (x86-64 SysV). */
	__u64 sp = PT_REGS_SP((struct pt_regs *)ctx), t = (__u64)topic;
	__u8 qos = (__u8)((struct pt_regs *)ctx)->r9;
	struct nh_record *rec;
	__u64 *stored;
	const char *s;
	bool fault = false;
	__u8 retain = 0, dup = 1;

	if (!mctx || !topic || !nh_target_hit())
		return 0;
	/* Both are C bools (2.0.0 to 2.0.20 share this signature): anything
	 * but 0 or 1 means the stack is not what it is taken for, and the
	 * record says so (counted as a read fault) rather than guessing. */
	if (bpf_probe_read_user(&dup, 1, (void *)(sp + 16)) ||
	    bpf_probe_read_user(&retain, 1, (void *)(sp + 8)) || dup > 1 || retain > 1)
		fault = true;
	else if (dup)
		return 0; /* a resend is the same delivery */
	/* send__publish refuses a closed connection: nothing is sent. */
	if (NH_READ(__s32, mctx, off.ctx_sock, &fault) == -1 || fault)
		return 0;
	rec = nh_reserve_payload(NH_EV_DELIVERED, payload, (__u32)payloadlen, &fault);
	if (!rec)
		return 0;
	fill_client(rec, mctx, &fault);
	rec->packet_id = (__u16)mid;
	rec->qos = qos;
	if (retain)
		rec->flags |= NH_F_RETAIN;
	if (NH_COPY_CSTR(rec, topic, NH_TOPIC_MAX, topic, NH_F_TRUNC_TOPIC))
		fault = true;
	stored = bpf_map_lookup_elem(&store_of_topic, &t);
	if (stored) {
		s = NH_READ(const char *, (const void *)*stored, off.st_source_id, &fault);
		if (NH_COPY_CSTR(rec, from_clientid, NH_CLIENTID_MAX, s, NH_F_TRUNC_FROM))
			fault = true;
		s = NH_READ(const char *, (const void *)*stored, off.st_source_username, &fault);
		if (s)
			rec->flags |= NH_F_HAS_FROM_USERNAME;
		if (NH_COPY_CSTR(rec, from_username, NH_USERNAME_MAX, s, NH_F_TRUNC_FROM))
			fault = true;
	} else {
		/* queued before nanohook attached: the publisher is unknown,
		 * and userspace counts the delivery as unmatched */
		rec->flags |= NH_F_NO_PUBLISHER;
	}
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(mosq_msg_acked, void *mctx, __u64 mid, __u64 expect_state, __u64 qos)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit() || !mctx)
		return 0;
	rec = nh_reserve(NH_EV_ACKED, NULL, 0, &fault);
	if (!rec)
		return 0;
	fill_client(rec, mctx, &fault);
	rec->packet_id = (__u16)mid;
	rec->qos = (__u8)qos;
	nh_finish(rec, fault);
	return 0;
}
