/* SPDX-License-Identifier: MIT */
/*
 * The record the BPF probes write into the ring buffer and the dispatcher
 * reads. Shared by bpf/ (which sees vmlinux.h types) and user/ (which sees
 * <stdint.h>), so it uses only fixed-width __u types, defined below for
 * userspace.
 *
 * Records are fixed-size per class (see NH_REC_SMALL / NH_REC_LARGE): a
 * fixed header, then `payload_cap` payload bytes. Every string carries the
 * length the broker had and the number of bytes copied, and a truncation
 * flag, so userspace never has to guess where a string ends.
 */
#ifndef NH_RECORD_H
#define NH_RECORD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NH_CLIENTID_MAX 256 /* MQTT allows 65535; real ids are < 64 */
#define NH_USERNAME_MAX 256
#define NH_TOPIC_MAX 512
#define NH_ADDR_MAX 64      /* peer address as the broker writes it */
/* Payload classes: a record reserves the smallest class that holds the
 * captured bytes, so short payloads cost little ring space. */
#define NH_PAYLOAD_SMALL 256
#define NH_PAYLOAD_LARGE 16384 /* hard ceiling of capture.payload_max */

enum nh_event_type {
	NH_EV_NONE = 0,
	NH_EV_CONNACK = 1,      /* on_client_connack (+ connected on success) */
	NH_EV_DISCONNECTED = 2, /* on_client_disconnected */
	NH_EV_PUBLISH = 3,      /* on_message_publish */
	NH_EV_CONNECT = 4,
	NH_EV_SUBSCRIBE = 5,
	NH_EV_UNSUBSCRIBE = 6,
	NH_EV_SESSION_SUBSCRIBED = 7,
	NH_EV_SESSION_UNSUBSCRIBED = 8,
	NH_EV_SESSION_TERMINATED = 9,
	NH_EV_DELIVERED = 10,
	NH_EV_ACKED = 11,
	NH_EV_CONNECTED = 12,    /* on_client_connected (EMQX 4 body) */
	NH_EV_MAX
};

/* Record types that are not events: they feed a broker's joins in
 * userspace (which client a NanoMQ pipe id names) and never reach a rule. */
#define NH_REC_PIPE_BIND 100

/* rec->flags */
#define NH_F_HAS_USERNAME (1u << 0)
#define NH_F_RETAIN (1u << 1)
#define NH_F_SYS_EVENT (1u << 2)  /* broker's own $SYS notice (NanoMQ is_event) */
#define NH_F_TRUNC_CLIENTID (1u << 3)
#define NH_F_TRUNC_USERNAME (1u << 4)
#define NH_F_TRUNC_TOPIC (1u << 5)
#define NH_F_TRUNC_PAYLOAD (1u << 6) /* payload longer than the capture cap */
#define NH_F_READ_FAULT (1u << 7)    /* a broker read failed: do not trust */
#define NH_F_BRIDGE (1u << 8)        /* NanoMQ: connack of a bridge client */
#define NH_F_HAS_FROM_USERNAME (1u << 9) /* delivered/acked: publisher has one */
#define NH_F_TRUNC_FROM (1u << 10)   /* publisher id or username cut */
#define NH_F_RAW_PACKET (1u << 11)   /* payload holds a raw MQTT packet to parse */
#define NH_F_NO_PUBLISHER (1u << 12) /* delivered: the stored message was not seen */
#define NH_F_DUP (1u << 13)          /* publish: the PUBLISH carried DUP (a resend) */

/* What every broker program is told before load (its read-only data,
 * `cfg`); userspace fills it with nh_probe_cfg(). */
struct nh_probe_cfg {
	__u64 wakeup_ns;    /* wake the reader at least this often while records wait */
	__u64 wakeup_bytes; /* ... or as soon as this much waits */
	__u32 target_tgid;  /* 0: every process the uprobe fires in (uprobe PID
			     * filters are not exclusive, so the tgid is checked) */
	__u32 payload_max;  /* payload bytes to capture, <= NH_PAYLOAD_LARGE */
	__u8 broker_id;     /* enum nh_broker_id, stamped on every record */
	__u8 pad[7];
};

/* Reasons a record was lost inside BPF; indexes of the per-CPU counters. */
enum nh_bpf_drop {
	NH_DROP_RINGBUF_FULL = 0,  /* bpf_ringbuf_reserve failed */
	NH_DROP_PENDING_FULL = 1,  /* entry/return pairing map full */
	NH_DROP_READ_FAULT = 2,    /* broker pointer unreadable, record skipped */
	NH_DROP_MAX
};

/* Per-CPU counters the probes keep; index = NH_CNT_* (after drops). */
enum nh_bpf_counter {
	NH_CNT_HITS = NH_DROP_MAX,  /* probe invocations that passed the pid filter */
	NH_CNT_EMITTED,             /* records submitted */
	NH_CNT_PAYLOAD_TRUNC,       /* records whose payload was cut at the cap */
	NH_CNT_MAX
};

struct nh_record {
	__u64 ts_boot_ns;   /* bpf_ktime_get_boot_ns() at the probe */
	__u32 tgid;
	__u32 tid;
	__u16 type;         /* enum nh_event_type */
	__u16 flags;        /* NH_F_* */
	__u8 proto_ver;     /* 3, 4, 5 */
	__u8 qos;
	__u8 code;          /* CONNACK / disconnect reason code */
	__u8 broker;        /* enum nh_broker_id of the emitting program */
	__u16 keepalive;
	__u16 packet_id;
	__u32 pipe_id;      /* NanoMQ pipe id (siphash of client id), 0 if none */
	__u32 payload_cap;  /* payload bytes this record class can hold */
	__u64 conn_ref;     /* the broker's connection object (NanoMQ conn_param,
			     * Mosquitto context): joins records of one connection */
	/* The broker's own reason and connection state, decoded by its file
	 * in userspace: nh_mosq.h says what Mosquitto's records carry;
	 * NanoMQ's leave both 0. */
	__s32 broker_reason;
	__u32 broker_state;

	__u32 clientid_len; /* length in the broker */
	__u32 username_len;
	__u32 topic_len;
	__u32 payload_len;  /* full payload length in the broker */

	__u32 from_clientid_len; /* delivered/acked: the publisher */
	__u32 from_username_len;

	__u16 clientid_got; /* bytes copied below, without NUL */
	__u16 username_got;
	__u16 topic_got;
	__u16 payload_got;
	__u16 from_clientid_got;
	__u16 from_username_got;
	__u16 addr_got;
	union {
		/* (un)subscribe, session_subscribed: the options byte / QoS */
		__u16 sub_opts;
		/* NanoMQ delivered: the outgoing PUBLISH's fixed-header byte */
		__u16 pub_header;
	};

	char clientid[NH_CLIENTID_MAX];
	char username[NH_USERNAME_MAX];
	char topic[NH_TOPIC_MAX];
	char from_clientid[NH_CLIENTID_MAX];
	char from_username[NH_USERNAME_MAX];
	char addr[NH_ADDR_MAX];
	__u8 payload[];     /* payload_cap bytes follow */
};

#define NH_REC_SMALL (sizeof(struct nh_record) + NH_PAYLOAD_SMALL)
#define NH_REC_LARGE (sizeof(struct nh_record) + NH_PAYLOAD_LARGE)

#endif
