// SPDX-License-Identifier: MIT
/*
 * Mosquitto 2.x. Debian's binary is stripped but exports its internal
 * functions in .dynsym, and build options and distribution patches move
 * struct fields (Debian 2.0.11 is not upstream 2.0.11: WITH_ADNS adds a
 * field, backports removed another), so every offset is read off the
 * instructions of the binary at hand:
 *
 *  struct mosquitto      the plugin accessors (mosquitto_client_id ...),
 *                        mosquitto__get_state, handle__disconnect (which
 *                        reads in_packet.remaining_length), send__publish
 *                        (the sock == -1 test); each field also confirmed by
 *                        a second function where one exists.
 *  mosquitto__packet     packet__read_byte.
 *  mosquitto_msg_store   the 2.0 layout table, accepted only when
 *                        db__msg_store_free, db__message_store and
 *                        control__process read exactly those fields.
 *
 * Anything not established refuses the attach.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "broker.h"
#include "deliveries.h"
#include "disasm.h"
#include "elf_file.h"
#include "fnv.h"
#include "mqtt.h"
#include "nh_mosq.h"
#include "nh_offsets.h" /* before the skeleton, which embeds it */
#include "mosquitto.skel.h"

/* struct mosquitto_msg_store of Mosquitto 2.0.x (LP64). */
static const struct {
	int source_id, source_username, topic, payload, payloadlen, qos, retain;
} store_layout = { 0x18, 0x20, 0x40, 0x50, 0x60, 0x6c, 0x6d };

/* A CONNECT seen on a connection, kept until its CONNACK: refused
 * clients' contexts no longer (or not yet) hold their client id. */
struct mosq_connect {
	uint64_t conn_ref;
	uint8_t proto_ver;
	uint16_t keepalive;
	bool has_username;
	char clientid[NH_CLIENTID_MAX];
	char username[NH_USERNAME_MAX];
};

/* Direct-mapped by context address: a collision only loses the client id
 * of a refused CONNACK while another CONNECT is in progress. */
#define CONNECT_SLOTS 1024

#define DISCONNECT_SLOTS 1024

/* A session_terminated of a context taken over by a new connection, held
 * until that connection's CONNACK says whether the session went on
 * (session present: it was handed over, nothing ended) or was discarded.
 * Mosquitto sends that CONNACK in the same call, right after. */
struct mosq_takeover {
	bool held;
	struct nh_event ev;
	char clientid[NH_CLIENTID_MAX];
	char username[NH_USERNAME_MAX];
};

struct mosq_state {
	struct nh_broker_state base;
	struct mosq_takeover takeover;
	struct mosq_connect connects[CONNECT_SLOTS];
	/* The last disconnect per connection, for session_terminated: by
	 * then the broker has freed the context's client id. */
	struct {
		uint64_t conn_ref;
		uint8_t code;
		bool terminated; /* its session_terminated went out */
		char clientid[NH_CLIENTID_MAX];
	} disconnects[DISCONNECT_SLOTS];
};

/* The probed functions: which events need each, and where it is. */
enum mosq_fn {
	FN_CONNECT, FN_CONNACK, FN_DISCONNECT, FN_STORE, FN_SUBSCRIBE, FN_UNSUBSCRIBE,
	FN_SUB_ADD, FN_SUB_REMOVE, FN_CTX_DISCONNECT, FN_EXPIRY_ADD, FN_ADD_TO_DISUSED,
	FN_MSG_INSERT, FN_MSG_SEND, FN_MSG_ACKED, FN_MAX
};

#define EV(e) (1u << (e))

static const struct {
	const char *name;
	uint32_t events; /* events that need this function */
} mosq_fns[FN_MAX] = {
	/* CONNECT also names refused clients in their CONNACK. */
	[FN_CONNECT] = { "handle__connect", EV(NH_EV_CONNECT) | EV(NH_EV_CONNACK) },
	[FN_CONNACK] = { "send__connack", EV(NH_EV_CONNACK) | EV(NH_EV_CONNECTED) },
	[FN_DISCONNECT] = { "do_disconnect", EV(NH_EV_DISCONNECTED) | EV(NH_EV_SESSION_TERMINATED) },
	[FN_STORE] = { "db__message_store", EV(NH_EV_PUBLISH) },
	[FN_SUBSCRIBE] = { "handle__subscribe", EV(NH_EV_SUBSCRIBE) },
	[FN_UNSUBSCRIBE] = { "handle__unsubscribe", EV(NH_EV_UNSUBSCRIBE) },
	[FN_SUB_ADD] = { "sub__add", EV(NH_EV_SESSION_SUBSCRIBED) },
	[FN_SUB_REMOVE] = { "sub__remove", EV(NH_EV_SESSION_UNSUBSCRIBED) },
	[FN_CTX_DISCONNECT] = { "context__disconnect", EV(NH_EV_SESSION_TERMINATED) },
	[FN_EXPIRY_ADD] = { "session_expiry__add", EV(NH_EV_SESSION_TERMINATED) },
	[FN_ADD_TO_DISUSED] = { "context__add_to_disused", EV(NH_EV_SESSION_TERMINATED) },
	/* a delivery is its first send; the insert before it names the
	 * stored message, and so the publisher; acked events are named from
	 * the delivery they acknowledge */
	[FN_MSG_INSERT] = { "db__message_insert", EV(NH_EV_DELIVERED) | EV(NH_EV_ACKED) },
	[FN_MSG_SEND] = { "send__publish", EV(NH_EV_DELIVERED) | EV(NH_EV_ACKED) },
	[FN_MSG_ACKED] = { "db__message_delete_outgoing", EV(NH_EV_ACKED) },
};

/* The probes: the programs of bpf/mosquitto.bpf.c and where each goes. */
enum mosq_probe {
	P_CONNECT, P_CONNACK, P_DISCONNECT, P_STORE, P_SUBSCRIBE, P_UNSUBSCRIBE, P_SUB_ADD,
	P_SUB_REMOVE, P_CTX_DISCONNECT, P_CTX_DISCONNECT_RET, P_EXPIRY_ADD, P_ADD_TO_DISUSED,
	P_MSG_INSERT, P_MSG_SEND, P_MSG_ACKED, P_MAX
};

static const struct nh_probe mosq_probes[P_MAX] = {
	[P_CONNECT] = { .program = "mosq_connect", .fn = FN_CONNECT },
	[P_CONNACK] = { .program = "mosq_connack", .fn = FN_CONNACK },
	[P_DISCONNECT] = { .program = "mosq_disconnect", .fn = FN_DISCONNECT },
	[P_STORE] = { .program = "mosq_store", .fn = FN_STORE },
	[P_SUBSCRIBE] = { .program = "mosq_subscribe", .fn = FN_SUBSCRIBE },
	[P_UNSUBSCRIBE] = { .program = "mosq_unsubscribe", .fn = FN_UNSUBSCRIBE },
	[P_SUB_ADD] = { .program = "mosq_sub_add", .fn = FN_SUB_ADD },
	[P_SUB_REMOVE] = { .program = "mosq_sub_remove", .fn = FN_SUB_REMOVE },
	/* entry notes the context; session_expiry__add marks it kept; the
	 * return emits the end of a session that was not kept */
	[P_CTX_DISCONNECT] = { .program = "mosq_ctx_disconnect", .fn = FN_CTX_DISCONNECT },
	[P_CTX_DISCONNECT_RET] = { .program = "mosq_ctx_disconnect_ret", .fn = FN_CTX_DISCONNECT,
				   .ret = true },
	[P_EXPIRY_ADD] = { .program = "mosq_expiry_add", .fn = FN_EXPIRY_ADD },
	[P_ADD_TO_DISUSED] = { .program = "mosq_add_to_disused", .fn = FN_ADD_TO_DISUSED },
	[P_MSG_INSERT] = { .program = "mosq_msg_insert", .fn = FN_MSG_INSERT },
	[P_MSG_SEND] = { .program = "mosq_send", .fn = FN_MSG_SEND },
	[P_MSG_ACKED] = { .program = "mosq_msg_acked", .fn = FN_MSG_ACKED },
};

struct mosq_resolved {
	struct mosq_offsets off;
	uint64_t fn[FN_MAX];   /* file offsets */
	bool have[FN_MAX];
};

static int mosq_detect(struct nh_elf *elf)
{
	static const char *const marks[] = {
		"mosquitto_client_id", "handle__publish", "db__message_store",
		"send__connack",
	};
	struct nh_sym s;
	int score = 0;

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (!nh_elf_find_func(elf, marks[i], &s))
			score++;
	return score == 4 ? 4 : 0;
}

static int find_func(struct nh_target *t, const char *name, uint64_t *file_off)
{
	struct nh_sym s;
	char what[64];

	snprintf(what, sizeof(what), "function %s", name);
	if (nh_elf_find_func(t->elf, name, &s)) {
		nh_finding_add(t, false, what, "not in .symtab or .dynsym", "-");
		return -1;
	}
	nh_finding_add(t, true, what, s.dynamic ? ".dynsym" : ".symtab", "0x%llx",
		       (unsigned long long)s.vaddr);
	*file_off = s.file_off;
	return 0;
}

/* The n-th (0-based) access of `kind` and `size` (0 = any size) that
 * argument `argno` of `fn` makes; with has_imm, only compares or tests
 * against `imm`. -1 if there is none. */
static int nth_access(struct nh_target *t, const char *fn, int argno, unsigned flags,
		      int kind, int size, int n, bool has_imm, uint64_t imm)
{
	struct nh_disasm_result r;

	if (nh_broker_func_accesses(t, fn, argno, flags, &r))
		return -1;
	for (size_t i = 0; i < r.n_acc; i++) {
		const struct nh_access *a = &r.acc[i];

		if (a->kind != kind || (size && a->size != size))
			continue;
		if (has_imm && (!a->has_imm || (a->imm & 0xffffffffu) != (imm & 0xffffffffu)))
			continue;
		if (n-- == 0)
			return (int)a->disp;
	}
	return -1;
}

/* Does `fn` access argument `argno` at `disp` at all? */
static bool reads(struct nh_target *t, const char *fn, int argno, int disp)
{
	struct nh_disasm_result r;

	if (disp < 0 || nh_broker_func_accesses(t, fn, argno, NH_DIS_THROUGH_CALLS, &r))
		return false;
	for (size_t i = 0; i < r.n_acc; i++)
		if (r.acc[i].disp == disp)
			return true;
	return false;
}

/* Records a field: established by `primary`, confirmed by `confirm_fn`
 * reading it too (NULL: nothing else reads it). -1 if not established. */
static int field(struct nh_target *t, const char *name, int off, const char *primary,
		 const char *confirm_fn, int confirm_arg)
{
	char src[160];

	if (off < 0) {
		nh_finding_add(t, false, name, "not established", "-");
		return -1;
	}
	if (confirm_fn && !reads(t, confirm_fn, confirm_arg, off)) {
		snprintf(src, sizeof(src), "%s, but %s does not agree", primary, confirm_fn);
		nh_finding_add(t, false, name, src, "0x%x?", off);
		return -1;
	}
	if (confirm_fn)
		snprintf(src, sizeof(src), "%s; confirmed by %s", primary, confirm_fn);
	else
		snprintf(src, sizeof(src), "%s", primary);
	nh_finding_add(t, true, name, src, "0x%x (%d)", off, off);
	return 0;
}

static int resolve_context(struct nh_target *t, struct mosq_offsets *o)
{
	int bad = 0, pkt_payload, pkt_remaining;

	o->ctx_id = nth_access(t, "mosquitto_client_id", 0, 0, NH_ACC_LOAD, 8, 0, false, 0);
	bad |= field(t, "mosquitto.id", o->ctx_id, "instructions of mosquitto_client_id",
		     "db__message_store", 0);
	/* client_username reads context->bridge first, then ->username. */
	o->ctx_bridge = nth_access(t, "mosquitto_client_username", 0, 0, NH_ACC_LOAD, 8, 0, false, 0);
	o->ctx_username = nth_access(t, "mosquitto_client_username", 0, 0, NH_ACC_LOAD, 8, 1, false, 0);
	bad |= field(t, "mosquitto.bridge", o->ctx_bridge,
		     "instructions of mosquitto_client_username (1st load)", NULL, 0);
	bad |= field(t, "mosquitto.username", o->ctx_username,
		     "instructions of mosquitto_client_username (2nd load)", "db__message_store", 0);
	o->ctx_address = nth_access(t, "mosquitto_client_address", 0, 0, NH_ACC_LOAD, 8, 0, false, 0);
	bad |= field(t, "mosquitto.address", o->ctx_address,
		     "instructions of mosquitto_client_address", NULL, 0);
	o->ctx_keepalive = nth_access(t, "mosquitto_client_keepalive", 0, 0, NH_ACC_LOAD, 2, 0, false, 0);
	bad |= field(t, "mosquitto.keepalive", o->ctx_keepalive,
		     "instructions of mosquitto_client_keepalive", NULL, 0);
	o->ctx_protocol = nth_access(t, "mosquitto_client_protocol_version", 0, 0, NH_ACC_LOAD, 4, 0,
				     false, 0);
	/* handle__disconnect compares it with mosq_p_mqtt5 (5). */
	bad |= field(t, "mosquitto.protocol", o->ctx_protocol,
		     "instructions of mosquitto_client_protocol_version", "handle__disconnect", 0);
	o->ctx_state = nth_access(t, "mosquitto__get_state", 0, 0, NH_ACC_LOAD, 4, 0, false, 0);
	bad |= field(t, "mosquitto.state", o->ctx_state, "instructions of mosquitto__get_state",
		     "do_disconnect", 0);
	/* send__publish starts with `if(mosq->sock == INVALID_SOCKET)`. */
	o->ctx_sock = nth_access(t, "send__publish", 0, 0, NH_ACC_CMP, 4, 0, true, 0xffffffffu);
	bad |= field(t, "mosquitto.sock", o->ctx_sock, "instructions of send__publish (== -1 test)",
		     "do_disconnect", 0);

	/* in_packet: packet__read_byte gives payload (the pointer load) and
	 * remaining_length (the bound it compares pos against) inside the
	 * packet; handle__disconnect reads in_packet.remaining_length of the
	 * context right after its protocol test, which places the packet. */
	pkt_payload = nth_access(t, "packet__read_byte", 0, 0, NH_ACC_LOAD, 8, 0, false, 0);
	pkt_remaining = nth_access(t, "packet__read_byte", 0, 0, NH_ACC_CMP, 4, 0, false, 0);
	o->ctx_in_remaining = nth_access(t, "handle__disconnect", 0, 0, NH_ACC_LOAD, 4, 0, false, 0);
	if (pkt_payload < 0 || pkt_remaining < 0 || o->ctx_in_remaining < pkt_remaining) {
		o->ctx_in_payload = o->ctx_in_remaining = -1;
	} else {
		o->ctx_in_payload = o->ctx_in_remaining - pkt_remaining + pkt_payload;
	}
	bad |= field(t, "mosquitto.in_packet.payload", o->ctx_in_payload,
		     "packet__read_byte + handle__disconnect", NULL, 0);
	bad |= field(t, "mosquitto.in_packet.remaining_length", o->ctx_in_remaining,
		     "instructions of handle__disconnect", NULL, 0);
	return bad ? -1 : 0;
}

static int resolve_store(struct nh_target *t, struct mosq_offsets *o)
{
	static const char table[] = "table 2.0.x";
	bool ok;

	/* db__msg_store_free frees source_id, source_username, topic and
	 * payload; db__message_store adds payloadlen to the byte count;
	 * control__process tests qos == 1. */
	ok = reads(t, "db__msg_store_free", 0, store_layout.source_id) &&
	     reads(t, "db__msg_store_free", 0, store_layout.source_username) &&
	     reads(t, "db__msg_store_free", 0, store_layout.topic) &&
	     reads(t, "db__msg_store_free", 0, store_layout.payload) &&
	     reads(t, "db__message_store", 1, store_layout.payloadlen) &&
	     nth_access(t, "control__process", 1, NH_DIS_THROUGH_CALLS, NH_ACC_CMP, 1, 0, true, 1) ==
		     store_layout.qos;
	o->st_topic = ok ? store_layout.topic : -1;
	o->st_payload = ok ? store_layout.payload : -1;
	o->st_payloadlen = ok ? store_layout.payloadlen : -1;
	o->st_qos = ok ? store_layout.qos : -1;
	o->st_retain = ok ? store_layout.retain : -1;
	o->st_source_id = ok ? store_layout.source_id : -1;
	o->st_source_username = ok ? store_layout.source_username : -1;
	field(t, "msg_store.topic", o->st_topic, table, "db__msg_store_free", 0);
	field(t, "msg_store.payload", o->st_payload, table, "db__msg_store_free", 0);
	field(t, "msg_store.payloadlen", o->st_payloadlen, table, "db__message_store", 1);
	field(t, "msg_store.qos", o->st_qos, table, "control__process", 1);
	field(t, "msg_store.retain", o->st_retain, "table 2.0.x (the byte after qos)", NULL, 0);
	field(t, "msg_store.source_id", o->st_source_id, table, "db__msg_store_free", 0);
	field(t, "msg_store.source_username", o->st_source_username, table,
	      "db__msg_store_free", 0);
	return ok ? 0 : -1;
}

static int mosq_resolve(struct nh_target *t, char *err, size_t errlen)
{
	struct mosq_resolved *r = calloc(1, sizeof(*r));
	bool ok = true;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->resolved = r;
	for (int i = 0; i < FN_MAX; i++) {
		r->have[i] = !find_func(t, mosq_fns[i].name, &r->fn[i]);
		/* The three NanoMQ events need theirs; others only if wanted
		 * (checked at attach). */
		if (i <= FN_STORE)
			ok &= r->have[i];
	}
	if (!ok) {
		snprintf(err, errlen, "%s: Mosquitto's probed functions are not exported by "
			 "this build (nanohook supports Mosquitto 2.x, which exports them)", t->exe);
		return -1;
	}
	if (resolve_context(t, &r->off)) {
		snprintf(err, errlen, "%s: struct mosquitto offsets could not be established "
			 "(see MISSING above): refusing to attach", t->exe);
		return -1;
	}
	if (resolve_store(t, &r->off)) {
		snprintf(err, errlen, "%s: this build's mosquitto_msg_store is not the Mosquitto "
			 "2.0 layout: refusing to attach", t->exe);
		return -1;
	}
	return 0;
}

static void *mosq_skel_open(const struct nh_target *t, const struct nh_probe_cfg *cfg,
			    struct bpf_object_skeleton **skeleton)
{
	const struct mosq_resolved *r = t->resolved;
	struct mosquitto_bpf *skel = mosquitto_bpf__open();

	if (!skel)
		return NULL;
	skel->rodata->cfg = *cfg;
	skel->rodata->off = r->off;
	*skeleton = skel->skeleton;
	return skel;
}

static void mosq_skel_destroy(void *skel)
{
	mosquitto_bpf__destroy(skel);
}

static const struct nh_skel_ops mosq_skel = { mosq_skel_open, mosq_skel_destroy };

static int mosq_attach(struct nh_target *t, const struct nh_attach_opts *o,
		       struct nh_attachment *out, char *err, size_t errlen)
{
	const struct mosq_resolved *r = t->resolved;
	struct nh_probe_site sites[P_MAX];

	for (int p = 0; p < P_MAX; p++) {
		int i = mosq_probes[p].fn;

		sites[p] = (struct nh_probe_site){ .use = !o->events || (o->events & mosq_fns[i].events),
						   .file_off = r->fn[i] };
		if (sites[p].use && !r->have[i]) {
			snprintf(err, errlen, "%s: %s, needed by the configured events, is not "
				 "exported by this build", t->exe, mosq_fns[i].name);
			return -1;
		}
	}
	return nh_broker_attach(t, o, sizeof(struct mosq_state), &mosq_skel, mosq_probes, sites,
				P_MAX, out, err, errlen) ? 0 : -1;
}

static void mosq_detach(struct nh_attachment *a)
{
	nh_broker_state_free(a->state);
	a->state = NULL;
}

static void mosq_release(struct nh_target *t)
{
	free(t->resolved);
	t->resolved = NULL;
}

/* enum mosquitto__protocol -> MQTT protocol level, as
 * mosquitto_client_protocol_version() maps it; 0 = not known yet. */
static uint8_t protocol_level(uint8_t proto)
{
	switch (proto) {
	case 1: return 3; /* mosq_p_mqtt31 */
	case 2: return 4; /* mosq_p_mqtt311 */
	case 5: return 5; /* mosq_p_mqtt5 */
	default: return 0;
	}
}

/* do_disconnect's reason (MOSQ_ERR_*) -> the MQTT 5 reason code NanoMQ
 * would report for the same cause. */
static uint8_t disconnect_code(int reason, uint32_t state)
{
	switch (reason) {
	case 0: /* MOSQ_ERR_SUCCESS: DISCONNECT, or a takeover */
		return state == MOSQ_CS_DUPLICATE ? 0x8e : 0x00;
	case 7: return 0x8b;        /* CONN_LOST: closed, reset, killed */
	case 19: return 0x8d;       /* KEEPALIVE */
	case 2: return 0x82;        /* PROTOCOL */
	case 22: return 0x82;       /* DUPLICATE_PROPERTY */
	case 21: case 18: return 0x81; /* MALFORMED_PACKET, MALFORMED_UTF8 */
	case 29: return 0x94;       /* TOPIC_ALIAS_INVALID */
	case 24: case 10: return 0x9b; /* QOS_NOT_SUPPORTED, NOT_SUPPORTED */
	case 28: return 0x9a;       /* RETAIN_NOT_SUPPORTED */
	case 25: case 9: return 0x95;  /* OVERSIZE_PACKET, PAYLOAD_SIZE */
	case 151: return 0x97;      /* quota exceeded (2.0.16+ backports) */
	case 11: return 0x87;       /* AUTH */
	case 30: return 0x98;       /* ADMINISTRATIVE_ACTION */
	default: return 0x80;       /* unspecified: NOMEM, ERRNO, TLS ... */
	}
}

static struct mosq_connect *connect_slot(struct mosq_state *st, uint64_t ref)
{
	return &st->connects[(ref >> 4) % CONNECT_SLOTS];
}

static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	if (len)
		memcpy(dst, src, len);
	dst[len] = 0;
}

static int decode_connect(struct mosq_state *st, const struct nh_record *rec,
			  struct nh_event *ev)
{
	struct mosq_connect *slot = connect_slot(st, rec->conn_ref);
	struct nh_mqtt_connect c;
	int err;

	if (ev->payload_len != ev->payload_full_len)
		return NH_DECODE_REJECT(NH_REJ_TRUNCATED);
	err = nh_mqtt_parse_connect(ev->payload, ev->payload_len, false, &c);

	if (err == -EPROTONOSUPPORT) {
		/* Refused before its client id is read (Mosquitto answers
		 * 0x01, unacceptable protocol version): no client connected,
		 * so no client_connect; its CONNACK names the level it asked
		 * for, with an empty client id. */
		memset(slot, 0, sizeof(*slot));
		slot->conn_ref = rec->conn_ref;
		slot->proto_ver = c.proto_ver;
		return 1;
	}
	if (err) {
		slot->conn_ref = 0;
		/* Mosquitto closes such a connection unanswered */
		return NH_DECODE_REJECT(NH_REJ_INVALID_PACKET);
	}
	slot->conn_ref = rec->conn_ref;
	slot->proto_ver = c.proto_ver;
	slot->keepalive = c.keepalive;
	slot->has_username = c.username.present;
	copy_str(slot->clientid, sizeof(slot->clientid), c.clientid.ptr, c.clientid.len);
	copy_str(slot->username, sizeof(slot->username), c.username.ptr, c.username.len);
	ev->clientid = (struct nh_str){ slot->clientid, strlen(slot->clientid) };
	ev->username = (struct nh_str){ slot->username, strlen(slot->username) };
	ev->has_username = slot->has_username;
	ev->proto_ver = c.proto_ver;
	ev->keepalive = c.keepalive;
	ev->payload = NULL;
	ev->payload_len = ev->payload_full_len = 0;
	return 0;
}

/* Deliveries are keyed by the receiver's client id, not its connection:
 * a message sent before a reconnect is acknowledged on the new one. */
static uint64_t receiver_key(const struct nh_event *ev)
{
	uint64_t h = nh_fnv1a64(ev->clientid.ptr, ev->clientid.len);

	return h ? h : 1;
}

static void hold_takeover(struct mosq_takeover *t, const struct nh_event *ev)
{
	t->ev = *ev;
	copy_str(t->clientid, sizeof(t->clientid), ev->clientid.ptr, ev->clientid.len);
	copy_str(t->username, sizeof(t->username), ev->username.ptr, ev->username.len);
	t->ev.clientid = (struct nh_str){ t->clientid, strlen(t->clientid) };
	t->ev.username = (struct nh_str){ t->username, strlen(t->username) };
	/* nothing else of a session_terminated body points into the record */
	t->ev.ipaddress = (struct nh_str){ "", 0 };
	t->held = true;
}

/* The CONNACK (or a later takeover) that decides a held takeover. */
static void settle_takeover(struct mosq_takeover *t, const struct nh_event *connack,
			    void (*emit)(void *, const struct nh_event *), void *emit_ctx)
{
	if (!t->held)
		return;
	t->held = false;
	if (connack && connack->session_present && connack->clientid.len == t->ev.clientid.len &&
	    !memcmp(connack->clientid.ptr, t->ev.clientid.ptr, t->ev.clientid.len))
		return; /* handed over: the session goes on */
	emit(emit_ctx, &t->ev);
}

static int mosq_decode(struct nh_attachment *a, const struct nh_record *rec,
		       struct nh_event *ev,
		       void (*emit)(void *, const struct nh_event *), void *emit_ctx)
{
	struct mosq_state *st = a->state;
	struct mosq_connect *slot;
	size_t di;

	if (!st)
		return NH_DECODE_REJECT(NH_REJ_MALFORMED);
	if (ev->type == NH_EV_CONNECT)
		return decode_connect(st, rec, ev);
	ev->proto_ver = protocol_level(rec->proto_ver);
	switch (ev->type) {
	case NH_EV_SUBSCRIBE:
	case NH_EV_UNSUBSCRIBE:
		return nh_broker_emit_sub_filters(ev, emit, emit_ctx);
	case NH_EV_DISCONNECTED:
		ev->code = disconnect_code(rec->broker_reason, rec->broker_state);
		di = (rec->conn_ref >> 4) % DISCONNECT_SLOTS;
		st->disconnects[di].conn_ref = rec->conn_ref;
		st->disconnects[di].code = ev->code;
		st->disconnects[di].terminated = false;
		copy_str(st->disconnects[di].clientid, NH_CLIENTID_MAX, ev->clientid.ptr,
			 ev->clientid.len);
		return 0;
	case NH_EV_SESSION_TERMINATED:
		/* Same thread, so the connection's disconnect came first. */
		di = (rec->conn_ref >> 4) % DISCONNECT_SLOTS;
		if (st->disconnects[di].conn_ref == rec->conn_ref) {
			/* A session that ended with its connection (expiry 0) whose
			 * will was delayed: Mosquitto disposes of the context once
			 * the will is sent, which looks like a kept session
			 * expiring. The session ended once. */
			if (st->disconnects[di].terminated)
				return 1;
			st->disconnects[di].terminated = true;
			ev->code = st->disconnects[di].code;
			if (!ev->clientid.len)
				ev->clientid = (struct nh_str){ st->disconnects[di].clientid,
								strlen(st->disconnects[di].clientid) };
		}
		if (!ev->clientid.len)
			/* its disconnect was not seen: nobody to name */
			return NH_DECODE_REJECT(NH_REJ_UNMATCHED);
		ev->session_expired = rec->broker_reason == MOSQ_TERM_EXPIRED;
		ev->takeover = rec->broker_state == MOSQ_CS_DUPLICATE;
		if (ev->takeover) {
			settle_takeover(&st->takeover, NULL, emit, emit_ctx);
			hold_takeover(&st->takeover, ev);
			return 1;
		}
		return 0;
	case NH_EV_DELIVERED:
		if (rec->flags & NH_F_NO_PUBLISHER)
			/* queued before the attach: the publisher is unknown */
			return NH_DECODE_REJECT(NH_REJ_UNMATCHED);
		if (ev->qos)
			nh_deliveries_put(st->base.deliveries, receiver_key(ev), rec->packet_id, ev);
		return 0;
	case NH_EV_ACKED:
		/* the message comes from the delivery it acknowledges */
		if (nh_deliveries_take(st->base.deliveries, receiver_key(ev), rec->packet_id, ev))
			return NH_DECODE_REJECT(NH_REJ_UNMATCHED);
		return 0;
	case NH_EV_CONNACK:
		ev->session_present = rec->broker_reason & MOSQ_CONNACK_SESSION_PRESENT;
		break;
	default:
		return 0;
	}
	/* A refused client's context has no client id (freed before the
	 * CONNACK, or never read) and may not know its protocol yet: take
	 * them from its CONNECT. */
	slot = connect_slot(st, rec->conn_ref);
	if (slot->conn_ref == rec->conn_ref) {
		if (!ev->clientid.len)
			ev->clientid = (struct nh_str){ slot->clientid, strlen(slot->clientid) };
		if (!ev->has_username && slot->has_username) {
			ev->username = (struct nh_str){ slot->username, strlen(slot->username) };
			ev->has_username = true;
		}
		if (!ev->proto_ver) {
			ev->proto_ver = slot->proto_ver;
			if (slot->keepalive)
				ev->keepalive = slot->keepalive;
		}
	}
	if (st->takeover.held) {
		settle_takeover(&st->takeover, ev, emit, emit_ctx);
		emit(emit_ctx, ev);
		return 1;
	}
	return 0;
}

static void mosq_traps(const struct nh_target *t, FILE *out)
{
	const struct mosq_resolved *r = t->resolved;
	struct nh_trap_fn fns[FN_MAX];
	bool used[P_MAX];

	if (!r)
		return;
	for (int i = 0; i < FN_MAX; i++)
		fns[i] = (struct nh_trap_fn){ .name = mosq_fns[i].name, .events = mosq_fns[i].events };
	for (int p = 0; p < P_MAX; p++)
		used[p] = r->have[mosq_probes[p].fn];
	nh_print_traps(out, mosq_probes, used, P_MAX, fns);
}

const struct nh_broker nh_broker_mosquitto = {
	.name = "mosquitto",
	.id = NH_BROKER_MOSQUITTO,
	.detect = mosq_detect,
	.resolve = mosq_resolve,
	.attach = mosq_attach,
	.detach = mosq_detach,
	.release = mosq_release,
	.decode = mosq_decode,
	.traps = mosq_traps,
};
