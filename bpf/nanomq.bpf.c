// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * NanoMQ probes. Offsets of conn_param, nano_work and pub_packet_struct
 * come from userspace (include/nh_offsets.h), which established them
 * from the binary being probed; nothing here assumes a layout.
 *
 *  nano_msg_notify(cparam, code, retain, online)   connack / disconnected
 *  nano_msg_notify_connect(cparam, code)           the same before 0.24.2
 *  nano_msg_notify_disconnect(cparam, code)
 *  handle_pub(work, pipe_ct, proto, is_event)      publish, entry + return:
 *      the publish is decoded inside, and only a 0 return means accepted;
 *  handle_pub_retain(work, topic)                  or, one trap, where the
 *      build keeps it as a function (handle_pub calls it once accepted).
 *  conn_handler(packet, cparam, max)               the raw CONNECT
 *  nni_pipe_set_pid(pipe, id)                      which client a pipe id is
 *  decode_sub_msg / decode_unsub_msg(work)         the raw (UN)SUBSCRIBE
 *  dbhash_insert_topic(pipe_id, topic, qos)        session subscribed
 *  dbhash_del_topic(pipe_id, topic)                session unsubscribed
 *  nni_qos_db_set(sqlite, db, pipe_id, pid, msg)   delivered (QoS 1/2)
 *  nni_qos_db_remove(sqlite, db, pipe_id, pid)     acked
 *
 * Session events name the client by pipe id only; userspace resolves it
 * from the pipe-bind records. Programs of unwanted events are not loaded.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "nh_common.bpf.h"
#include "nh_offsets.h"

const volatile struct nmq_offsets off = {};

/* handle_pub entry -> return, keyed by thread. NanoMQ never re-enters
 * handle_pub on one thread, so one slot per thread is enough. */
struct nmq_pub_call {
	__u64 work;
	__u8 is_event;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct nmq_pub_call);
} pub_calls SEC(".maps");

/* Client id, username, protocol version and keepalive from conn_param. */
static __always_inline void fill_client(struct nh_record *rec, const void *cp,
					bool *fault)
{
	const char *body;
	struct nh_span sp;
	__u32 len;
	__u8 flag;

	nh_span_read(&sp, cp, nh_span_lo(off.cp_proto_ver, off.cp_keepalive, off.cp_con_flag,
					 off.cp_clientid_body, off.cp_username_body));
	rec->conn_ref = (__u64)cp;
	rec->proto_ver = NH_SPAN_GET(__u8, &sp, off.cp_proto_ver, fault);
	rec->keepalive = NH_SPAN_GET(__u16, &sp, off.cp_keepalive, fault);

	body = NH_SPAN_GET(const char *, &sp, off.cp_clientid_body, fault);
	len = NH_SPAN_GET(__u32, &sp, off.cp_clientid_len, fault);
	rec->clientid_len = len;
	if (NH_COPY_STR(rec, clientid, NH_CLIENTID_MAX, body, len,
			NH_F_TRUNC_CLIENTID))
		*fault = true;

	flag = NH_SPAN_GET(__u8, &sp, off.cp_con_flag, fault);
	if (flag & 0x80) {
		rec->flags |= NH_F_HAS_USERNAME;
		body = NH_SPAN_GET(const char *, &sp, off.cp_username_body, fault);
		len = NH_SPAN_GET(__u32, &sp, off.cp_username_len, fault);
		rec->username_len = len;
		if (NH_COPY_STR(rec, username, NH_USERNAME_MAX, body, len,
				NH_F_TRUNC_USERNAME))
			*fault = true;
	} else {
		rec->username_got = 0;
	}
}

/* conn_param.ip_addr_v4: set once the pipe has started. */
static __always_inline void read_addr(struct nh_record *rec, const void *cp, bool *fault)
{
	long r = 0;

	if (off.cp_ip_addr >= 0)
		r = bpf_probe_read_user_str(rec->addr, 16, (const char *)cp + off.cp_ip_addr);
	if (r < 0)
		*fault = true;
	rec->addr_got = r > 0 ? r - 1 : 0;
}

static __always_inline int emit_notify(const void *cp, __u8 code, bool online,
				       __u8 bridge)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit() || !cp)
		return 0;
	rec = nh_reserve(online ? NH_EV_CONNACK : NH_EV_DISCONNECTED, NULL, 0, &fault);
	if (!rec)
		return 0;
	rec->code = code;
	if (bridge)
		rec->flags |= NH_F_BRIDGE;
	fill_client(rec, cp, &fault);
	read_addr(rec, cp, &fault);
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nmq_notify, void *cparam, __u64 code, __u64 retain, __u64 online)
{
	return emit_notify(cparam, (__u8)code, (__u8)online != 0, (__u8)retain);
}

SEC("uprobe")
int BPF_KPROBE(nmq_notify_connect, void *cparam, __u64 code)
{
	return emit_notify(cparam, (__u8)code, true, 0);
}

SEC("uprobe")
int BPF_KPROBE(nmq_notify_disconnect, void *cparam, __u64 code)
{
	return emit_notify(cparam, (__u8)code, false, 0);
}

SEC("uprobe")
int BPF_KPROBE(nmq_handle_pub, void *work, void *pipe_ct, __u64 proto,
	       __u64 is_event)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct nmq_pub_call call = {
		.work = (__u64)work,
		.is_event = (__u8)is_event != 0,
	};

	if (cfg.target_tgid && (id >> 32) != cfg.target_tgid)
		return 0;
	if (bpf_map_update_elem(&pub_calls, &id, &call, BPF_ANY))
		nh_count(NH_DROP_PENDING_FULL);
	return 0;
}

/* An accepted publish: work->pub_packet holds it decoded, work->cparam
 * names the publisher. */
static __always_inline int emit_publish(const void *work, __u8 is_event)
{
	struct nh_record *rec;
	const void *pp, *cp, *payload = NULL;
	const char *topic = NULL;
	bool fault = false;
	__u32 len = 0, payload_len = 0;
	__u16 packet_id = 0;
	__u8 hdr = 0;

	/* Adjacent in every release: one read for the two (see nh_span). */
	if (off.work_cparam == off.work_pub_packet - 8) {
		__u64 two[2] = {};

		if (bpf_probe_read_user(two, sizeof(two), (const char *)work + off.work_cparam))
			fault = true;
		cp = (const void *)two[0];
		pp = (const void *)two[1];
	} else {
		pp = NH_READ(const void *, work, off.work_pub_packet, &fault);
		cp = NH_READ(const void *, work, off.work_cparam, &fault);
	}
	if (!pp || !cp)
		fault = true;
	if (pp) {
		struct nh_span sp;

		nh_span_read(&sp, pp, nh_span_lo(off.pp_fixed_header, off.pp_packet_id,
						 off.pp_topic_body, off.pp_payload_body, -1));
		payload = NH_SPAN_GET(const void *, &sp, off.pp_payload_body, &fault);
		payload_len = NH_SPAN_GET(__u32, &sp, off.pp_payload_len, &fault);
		hdr = NH_SPAN_GET(__u8, &sp, off.pp_fixed_header, &fault);
		packet_id = NH_SPAN_GET(__u16, &sp, off.pp_packet_id, &fault);
		topic = NH_SPAN_GET(const char *, &sp, off.pp_topic_body, &fault);
		len = NH_SPAN_GET(__u32, &sp, off.pp_topic_len, &fault);
	}
	rec = nh_reserve_payload(NH_EV_PUBLISH, payload, payload_len, &fault);
	if (!rec)
		return 0;
	if (is_event)
		rec->flags |= NH_F_SYS_EVENT;

	if (cp) {
		fill_client(rec, cp, &fault);
	} else {
		rec->clientid_got = rec->username_got = 0;
	}

	if (pp) {
		rec->qos = (hdr >> 1) & 3;
		if (hdr & 1)
			rec->flags |= NH_F_RETAIN;
		if (hdr & 8)
			rec->flags |= NH_F_DUP;
		rec->packet_id = packet_id;
		rec->topic_len = len;
		if (NH_COPY_STR(rec, topic, NH_TOPIC_MAX, topic, len, NH_F_TRUNC_TOPIC))
			fault = true;
	}

	nh_finish(rec, fault);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(nmq_handle_pub_ret, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct nmq_pub_call *call;
	const void *work;
	__u8 is_event;

	call = bpf_map_lookup_elem(&pub_calls, &id);
	if (!call)
		return 0;
	work = (const void *)call->work;
	is_event = call->is_event;
	bpf_map_delete_elem(&pub_calls, &id);

	/* reason_code is an enum: only the low 32 bits are defined. */
	if ((__u32)ret != 0 || !nh_target_hit())
		return 0;
	return emit_publish(work, is_event);
}

/* handle_pub_retain(work, topic), where the build has it as a function of
 * its own: handle_pub calls it only once every check has passed, so one
 * trap sees each accepted publish (userspace attaches this instead of the
 * pair above only after checking that from the binary). It cannot tell
 * NanoMQ's own $SYS notices (is_event) from clients' publishes; those are
 * QoS 0 (nano_msg_notify), and the flag matters only for QoS 2. */
SEC("uprobe")
int BPF_KPROBE(nmq_pub_accepted, void *work)
{
	if (!nh_target_hit() || !work)
		return 0;
	return emit_publish(work, 0);
}

/* A raw packet (CONNECT with its fixed header; SUBSCRIBE/UNSUBSCRIBE or
 * an outgoing PUBLISH without) into the payload area. */
SEC("uprobe")
int BPF_KPROBE(nmq_conn_handler, const void *packet, void *cp, __u64 max)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit() || !packet)
		return 0;
	rec = nh_reserve_raw(NH_EV_CONNECT, packet, (__u32)max, &fault);
	if (!rec)
		return 0;
	rec->conn_ref = (__u64)cp;
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nmq_pipe_set_pid, void *pipe, __u64 id)
{
	struct nh_record *rec;
	const void *cp;
	bool fault = false;

	if (!nh_target_hit() || !pipe)
		return 0;
	cp = NH_READ(const void *, pipe, off.pipe_conn_param, &fault);
	if (!cp || fault)
		return 0;
	rec = nh_reserve(NH_REC_PIPE_BIND, NULL, 0, &fault);
	if (!rec)
		return 0;
	rec->pipe_id = (__u32)id;
	fill_client(rec, cp, &fault);
	nh_finish(rec, fault);
	return 0;
}

static __always_inline int emit_sub(const void *work, __u16 type)
{
	struct nh_record *rec;
	const void *msg, *cp, *body;
	bool fault = false;
	__u64 len;

	if (!nh_target_hit() || !work)
		return 0;
	msg = NH_READ(const void *, work, off.work_msg, &fault);
	cp = NH_READ(const void *, work, off.work_cparam, &fault);
	if (!msg || !cp || fault)
		return 0;
	body = NH_READ(const void *, msg, off.msg_body, &fault);
	len = NH_READ(__u64, msg, off.msg_len, &fault);
	rec = nh_reserve_raw(type, body, len > 0xffffffffull ? 0xffffffffu : (__u32)len, &fault);
	if (!rec)
		return 0;
	fill_client(rec, cp, &fault);
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nmq_decode_sub, void *work)
{
	return emit_sub(work, NH_EV_SUBSCRIBE);
}

SEC("uprobe")
int BPF_KPROBE(nmq_decode_unsub, void *work)
{
	return emit_sub(work, NH_EV_UNSUBSCRIBE);
}

static __always_inline int emit_pipe_topic(__u32 pipe_id, const char *topic, __u16 type,
					   __u8 qos)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit())
		return 0;
	rec = nh_reserve(type, NULL, 0, &fault);
	if (!rec)
		return 0;
	rec->pipe_id = pipe_id;
	rec->sub_opts = qos;
	if (!topic || NH_COPY_CSTR(rec, topic, NH_TOPIC_MAX, topic, NH_F_TRUNC_TOPIC))
		fault = true;
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nmq_db_insert, __u64 pipe_id, const char *topic, __u64 qos)
{
	return emit_pipe_topic((__u32)pipe_id, topic, NH_EV_SESSION_SUBSCRIBED, (__u8)qos);
}

SEC("uprobe")
int BPF_KPROBE(nmq_db_del, __u64 pipe_id, const char *topic)
{
	return emit_pipe_topic((__u32)pipe_id, topic, NH_EV_SESSION_UNSUBSCRIBED, 0);
}

/* The publisher of an outgoing message, from the conn_param it carries. */
static __always_inline void fill_from(struct nh_record *rec, const void *cp, bool *fault)
{
	const char *body;
	__u32 len;

	/* The stored message is encoded for the publisher's protocol. */
	rec->proto_ver = NH_READ(__u8, cp, off.cp_proto_ver, fault);
	body = NH_READ(const char *, cp, off.cp_clientid_body, fault);
	len = NH_READ(__u32, cp, off.cp_clientid_len, fault);
	rec->from_clientid_len = len;
	if (NH_COPY_STR(rec, from_clientid, NH_CLIENTID_MAX, body, len, NH_F_TRUNC_FROM))
		*fault = true;
	if (NH_READ(__u8, cp, off.cp_con_flag, fault) & 0x80) {
		rec->flags |= NH_F_HAS_FROM_USERNAME;
		body = NH_READ(const char *, cp, off.cp_username_body, fault);
		len = NH_READ(__u32, cp, off.cp_username_len, fault);
		rec->from_username_len = len;
		if (NH_COPY_STR(rec, from_username, NH_USERNAME_MAX, body, len, NH_F_TRUNC_FROM))
			*fault = true;
	}
}

SEC("uprobe")
int BPF_KPROBE(nmq_qos_set, __u64 is_sqlite, void *db, __u64 pipe_id, __u64 packet_id,
	       void *msg)
{
	struct nh_record *rec;
	const void *body, *cp;
	bool fault = false;
	__u64 len;
	__u8 hdr;

	if (!nh_target_hit() || !msg)
		return 0;
	hdr = NH_READ(__u8, msg, off.msg_header, &fault);
	body = NH_READ(const void *, msg, off.msg_body, &fault);
	len = NH_READ(__u64, msg, off.msg_len, &fault);
	cp = NH_READ(const void *, msg, off.msg_conn_param, &fault);
	if (fault)
		return 0;
	rec = nh_reserve_raw(NH_EV_DELIVERED, body, len > 0xffffffffull ? 0xffffffffu : (__u32)len,
			  &fault);
	if (!rec)
		return 0;
	rec->pipe_id = (__u32)pipe_id;
	rec->packet_id = (__u16)packet_id;
	/* The fixed header byte: userspace rebuilds the packet from it. */
	rec->pub_header = hdr;
	rec->qos = (hdr >> 1) & 3;
	if (hdr & 1)
		rec->flags |= NH_F_RETAIN;
	if (cp)
		fill_from(rec, cp, &fault);
	nh_finish(rec, fault);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(nmq_qos_remove, __u64 is_sqlite, void *db, __u64 pipe_id, __u64 packet_id)
{
	struct nh_record *rec;
	bool fault = false;

	if (!nh_target_hit())
		return 0;
	rec = nh_reserve(NH_EV_ACKED, NULL, 0, &fault);
	if (!rec)
		return 0;
	rec->pipe_id = (__u32)pipe_id;
	rec->packet_id = (__u16)packet_id;
	nh_finish(rec, fault);
	return 0;
}
