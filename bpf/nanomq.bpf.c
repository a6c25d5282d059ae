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
 *      the publish is decoded inside, and only a 0 return means accepted.
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
	__u32 len;
	__u8 flag;

	rec->conn_ref = (__u64)cp;
	rec->proto_ver = NH_READ(__u8, cp, off.cp_proto_ver, fault);
	rec->keepalive = NH_READ(__u16, cp, off.cp_keepalive, fault);

	body = NH_READ(const char *, cp, off.cp_clientid_body, fault);
	len = NH_READ(__u32, cp, off.cp_clientid_len, fault);
	rec->clientid_len = len;
	if (NH_COPY_STR(rec, clientid, NH_CLIENTID_MAX, body, len,
			NH_F_TRUNC_CLIENTID))
		*fault = true;

	flag = NH_READ(__u8, cp, off.cp_con_flag, fault);
	if (flag & 0x80) {
		rec->flags |= NH_F_HAS_USERNAME;
		body = NH_READ(const char *, cp, off.cp_username_body, fault);
		len = NH_READ(__u32, cp, off.cp_username_len, fault);
		rec->username_len = len;
		if (NH_COPY_STR(rec, username, NH_USERNAME_MAX, body, len,
				NH_F_TRUNC_USERNAME))
			*fault = true;
	} else {
		rec->username_got = 0;
		rec->username[0] = 0;
	}
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
	rec->topic_got = 0;
	rec->topic[0] = 0;
	if (fault) {
		/* A record built from unreadable memory would be garbage:
		 * let userspace count it, never deliver it. */
		rec->flags |= NH_F_READ_FAULT;
		nh_count(NH_DROP_READ_FAULT);
	}
	nh_submit(rec);
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

	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	if (bpf_map_update_elem(&pub_calls, &id, &call, BPF_ANY))
		nh_count(NH_DROP_PENDING_FULL);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(nmq_handle_pub_ret, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct nmq_pub_call *call;
	struct nh_record *rec;
	const void *work, *pp, *cp, *payload;
	const char *topic;
	bool fault = false;
	__u32 len, want, payload_len;
	__u8 is_event, hdr;

	call = bpf_map_lookup_elem(&pub_calls, &id);
	if (!call)
		return 0;
	work = (const void *)call->work;
	is_event = call->is_event;
	bpf_map_delete_elem(&pub_calls, &id);

	/* reason_code is an enum: only the low 32 bits are defined. */
	if ((__u32)ret != 0 || !nh_target_hit())
		return 0;

	pp = NH_READ(const void *, work, off.work_pub_packet, &fault);
	cp = NH_READ(const void *, work, off.work_cparam, &fault);
	if (!pp || !cp)
		fault = true;
	payload = pp ? NH_READ(const void *, pp, off.pp_payload_body, &fault) : NULL;
	payload_len = pp ? NH_READ(__u32, pp, off.pp_payload_len, &fault) : 0;
	want = payload_len < payload_max ? payload_len : payload_max;

	rec = nh_reserve(NH_EV_PUBLISH, payload, want, &fault);
	if (!rec)
		return 0;
	rec->payload_len = payload_len;
	if (payload_len > want)
		rec->flags |= NH_F_TRUNC_PAYLOAD;
	if (is_event)
		rec->flags |= NH_F_SYS_EVENT;

	if (cp) {
		fill_client(rec, cp, &fault);
	} else {
		rec->clientid[0] = rec->username[0] = 0;
		rec->clientid_got = rec->username_got = 0;
	}

	rec->topic[0] = 0;
	rec->topic_got = 0;
	if (pp) {
		hdr = NH_READ(__u8, pp, off.pp_fixed_header, &fault);
		rec->qos = (hdr >> 1) & 3;
		if (hdr & 1)
			rec->flags |= NH_F_RETAIN;
		rec->packet_id = NH_READ(__u16, pp, off.pp_packet_id, &fault);
		topic = NH_READ(const char *, pp, off.pp_topic_body, &fault);
		len = NH_READ(__u32, pp, off.pp_topic_len, &fault);
		rec->topic_len = len;
		if (NH_COPY_STR(rec, topic, NH_TOPIC_MAX, topic, len, NH_F_TRUNC_TOPIC))
			fault = true;
	}

	if (fault) {
		rec->flags |= NH_F_READ_FAULT;
		nh_count(NH_DROP_READ_FAULT);
	}
	nh_submit(rec);
	return 0;
}
