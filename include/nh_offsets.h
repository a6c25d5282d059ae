/* SPDX-License-Identifier: MIT */
/*
 * Field offsets inside broker structs, resolved in userspace from the
 * target binary (disassembly, DWARF, or a layout table the binary
 * confirms) and handed to the BPF programs as read-only data before load.
 * A value of -1 means "not established": the BPF side never reads it.
 *
 * Struct names carry the broker prefix so they never collide with kernel
 * types in vmlinux.h.
 */
#ifndef NH_OFFSETS_H
#define NH_OFFSETS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif


/* NanoMQ / NanoNNG (conn_param, nano_work, pub_packet_struct). */
struct nmq_offsets {
	__s32 cp_keepalive;      /* conn_param.keepalive_mqtt (u16) */
	__s32 cp_proto_ver;      /* conn_param.pro_ver (u8) */
	__s32 cp_con_flag;       /* conn_param.con_flag (u8), bit 7: username */
	__s32 cp_clientid_body;  /* conn_param.clientid.body (char *) */
	__s32 cp_clientid_len;   /* conn_param.clientid.len (u32) */
	__s32 cp_username_body;
	__s32 cp_username_len;
	__s32 cp_ip_addr;        /* conn_param.ip_addr_v4 (char[16]) */
	__s32 work_msg;          /* nano_work.msg (nng_msg *) */
	__s32 work_cparam;       /* nano_work.cparam (conn_param *) */
	__s32 work_pub_packet;   /* nano_work.pub_packet (pub_packet_struct *) */
	__s32 pp_fixed_header;   /* pub_packet_struct: fixed header byte */
	__s32 pp_packet_id;      /* u16 */
	__s32 pp_topic_body;     /* char * */
	__s32 pp_topic_len;      /* u32 */
	__s32 pp_payload_body;   /* u8 * */
	__s32 pp_payload_len;    /* u32 */
	__s32 msg_header;        /* nni_msg: the fixed header bytes (inline) */
	__s32 msg_header_len;    /* size_t */
	__s32 msg_body;          /* u8 * */
	__s32 msg_len;           /* size_t: body length */
	__s32 msg_conn_param;    /* conn_param * of the publisher */
	__s32 pipe_conn_param;   /* nni_pipe.conn_param */
};



/* Mosquitto 2.x (struct mosquitto = the client context, and
 * struct mosquitto_msg_store). */
struct mosq_offsets {
	__s32 ctx_id;            /* char *, NUL-terminated */
	__s32 ctx_username;      /* char *, NULL if none */
	__s32 ctx_keepalive;     /* u16 */
	__s32 ctx_protocol;      /* enum mosquitto__protocol (4 bytes) */
	__s32 ctx_state;         /* enum mosquitto_client_state (4 bytes) */
	__s32 ctx_sock;          /* int, -1 when closed */
	__s32 ctx_bridge;        /* struct mosquitto__bridge *, NULL for clients */
	__s32 ctx_address;       /* char *, the peer address */
	__s32 ctx_in_payload;    /* in_packet.payload (u8 *) */
	__s32 ctx_in_remaining;  /* in_packet.remaining_length (u32) */
	__s32 st_topic;          /* msg_store.topic (char *) */
	__s32 st_payload;        /* msg_store.payload (void *) */
	__s32 st_payloadlen;     /* msg_store.payloadlen (u32) */
	__s32 st_qos;            /* u8 */
	__s32 st_retain;         /* u8 */
	__s32 st_source_id;      /* char *, set once stored */
	__s32 st_source_username;/* char *, NULL if none */
};

#endif
