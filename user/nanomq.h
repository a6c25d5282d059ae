/* SPDX-License-Identifier: MIT */
/*
 * NanoMQ's broker file, split by job, and what its parts share:
 *
 *  broker_nanomq.c    detection, the probe table, attach and detach, and
 *                     the struct nh_broker that names them all
 *  nanomq_resolve.c   functions and offsets of a build with symbols (symbol
 *                     table, DWARF, the accessors' instructions)
 *  nanomq_stripped.c  the same for a stripped build (__func__ literals and
 *                     .eh_frame, the layout rows its code confirms)
 *  nanomq_decode.c    the runtime joins: naming clients by pipe id,
 *                     deliveries and their acks, raw packets
 *
 * Not an interface of nanohook: only those files include it.
 */
#ifndef NH_NANOMQ_H
#define NH_NANOMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "nh_offsets.h"

/* The probed functions, and the events each serves. Only those a rule
 * needs are attached. The notify function is nano_msg_notify (0.24.2+) or
 * the older pair. */
enum nmq_fn {
	FN_NOTIFY, FN_NOTIFY_CONNECT, FN_NOTIFY_DISCONNECT,
	FN_HANDLE_PUB, FN_CONN_HANDLER, FN_PIPE_SET_PID, FN_DECODE_SUB, FN_DECODE_UNSUB,
	FN_DB_INSERT, FN_DB_DEL, FN_QOS_SET, FN_QOS_REMOVE,
	/* handle_pub_retain: one trap per accepted publish instead of
	 * handle_pub's two, where the build has it (nmq_resolve_pub_accepted) */
	FN_PUB_ACCEPTED, FN_MAX
};

#define EV(e) (1u << (e))
/* Events that name the client by pipe id need the pipe-bind records. */
#define BY_PIPE (EV(NH_EV_SESSION_SUBSCRIBED) | EV(NH_EV_SESSION_UNSUBSCRIBED) | \
		 EV(NH_EV_DELIVERED) | EV(NH_EV_ACKED))
#define NOTIFY_EVENTS (EV(NH_EV_CONNACK) | EV(NH_EV_CONNECTED) | EV(NH_EV_DISCONNECTED) | \
		       EV(NH_EV_SESSION_TERMINATED) | BY_PIPE)

struct nmq_fn_info {
	const char *name;
	uint32_t events;  /* (1 << NH_EV_*) that need a probe on it */
};

extern const struct nmq_fn_info nmq_fns[FN_MAX];

struct nanomq_bpf;
struct nh_deliveries;

struct nmq_resolved {
	struct nmq_offsets off;
	uint64_t fn[FN_MAX];   /* file offsets */
	bool have[FN_MAX];
	bool stripped;  /* resolved without symbols (nanomq_stripped.c) */
};

/* Which client a pipe id names (NanoMQ's pipe id is a keyed hash of the
 * client id, so it is stable per client id). */
#define PIPE_SLOTS 4096
#define QOS2_SLOTS 4096

struct nmq_pipe {
	uint32_t pipe_id;
	bool used, has_username;
	uint8_t proto_ver;
	char clientid[NH_CLIENTID_MAX];
	char username[NH_USERNAME_MAX];
};

struct nmq_state {
	struct nh_broker_state base;
	struct nmq_pipe pipes[PIPE_SLOTS];
	/* NanoMQ's pipe-id key, read from the broker (g_nanomq_hash_seed), so
	 * clients connected before nanohook attached can be named too. Used
	 * while no pipe bind contradicts it. */
	uint8_t seed[16];
	int seed_state; /* 0 none, 1 read, 2 confirmed by a bind, -1 wrong */
	/* The last QoS 2 PUBLISH per (publisher, packet id), direct-mapped:
	 * NanoMQ 0.25 takes a DUP resend of a message it has not released in
	 * again, as a new message; a resend of one seen here is not posted. */
	struct {
		uint64_t key; /* 0 = empty */
		uint16_t packet_id;
	} qos2_seen[QOS2_SLOTS];
};

/* nanomq_resolve.c: a build with symbols; t->resolved is r. */
int nmq_resolve_symbols(struct nh_target *t, struct nmq_resolved *r, char *err, size_t errlen);
/* handle_pub_retain, when the binary shows it is a function that only
 * handle_pub calls (so only for accepted publishes); else the pair. */
void nmq_resolve_pub_accepted(struct nh_target *t, struct nmq_resolved *r);
/* Does the probe on function fn read only offsets that were established? */
bool nmq_needs_offsets(const struct nmq_offsets *o, int fn);
/* For both resolvers: a finding for an offset (-1: missing). */
void nmq_add_offset(struct nh_target *t, const char *field, int off, const char *source);
/* Does r hold an access at disp? */
bool nmq_has_access(const struct nh_disasm_result *r, int64_t disp);
/* The one nano_work layout row, among those shipped with a conn_param row
 * in cp_mask, whose cparam cparam_reader reads and whose msg and
 * pub_packet work_reader reads: returns how many rows fit; with exactly
 * one, its offsets go into o and its version range into *versions. */
int nmq_work_row(unsigned cp_mask, const struct nh_disasm_result *cparam_reader,
		 const struct nh_disasm_result *work_reader, struct nmq_offsets *o,
		 const char **versions);
/* Which conn_param layout rows (bit i: cp_layouts[i] of nanomq_layout.h) o matches. */
unsigned nmq_cp_layout_mask(const struct nmq_offsets *o);
/* pub_packet_struct from its table, once the version range is confirmed. */
void nmq_pub_packet_offsets(struct nh_target *t, struct nmq_offsets *o);

/* nanomq_stripped.c: a build with no symbols to go on. */
bool nmq_is_stripped(struct nh_elf *elf);
int nmq_resolve_stripped(struct nh_target *t, struct nmq_resolved *r, char *err, size_t errlen);

/* nanomq_decode.c */
void nmq_read_seed(struct nh_target *t, struct nmq_state *st);
int nmq_decode(struct nh_attachment *a, const struct nh_record *rec, struct nh_event *ev,
	       void (*emit)(void *, const struct nh_event *), void *emit_ctx);

#endif
