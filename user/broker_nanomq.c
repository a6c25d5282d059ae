// SPDX-License-Identifier: MIT
/*
 * NanoMQ: where its events happen and how each field is read, established
 * from the binary itself (nanomq-internals.md has the background):
 *
 *  functions   .symtab / .dynsym: nano_msg_notify (0.24.2+) or the older
 *              nano_msg_notify_connect + _disconnect pair, handle_pub.
 *  conn_param  DWARF when the build has it; otherwise the instructions of
 *              NanoNNG's exported accessors (conn_param_get_clientid ...).
 *  nano_work   DWARF; otherwise the layout table row that the conn_param
 *              layout allows AND that NanoMQ's own code confirms (hook_entry
 *              reads work->cparam, decode_pub_message reads work->msg and
 *              work->pub_packet at exactly those offsets).
 *  pub_packet  unchanged since 0.18: the table, once the version range is
 *              confirmed by the rows above.
 *  stripped    no symbols at all (the official .deb/.rpm): functions from
 *              their __func__ literals + .eh_frame, conn_param and nano_work
 *              from the table rows their code confirms (resolve_stripped).
 *
 * Anything not established refuses the attach, naming what is missing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "mqtt.h"
#include "deliveries.h"
#include "disasm.h"
#include "dwarf_info.h"
#include "elf_file.h"
#include "procmem.h"
#include "siphash.h"
#include "nh_offsets.h" /* before the skeleton, which embeds it */
#include "nanomq.skel.h"

/* conn_param layouts by NanoNNG version (byte offsets, LP64). */
struct nmq_cp_layout {
	const char *versions;
	int keepalive, proto_ver, con_flag, clientid, username;
};

static const struct nmq_cp_layout cp_layouts[] = {
	{ "0.18-0.19.1", 6, 4, 5, 48, 96 },
	{ "0.19.5-0.24.8", 46, 50, 51, 96, 144 },
	{ "0.24.9-0.25.x", 74, 78, 79, 120, 168 },
};

/* nano_work layouts; cp_mask says which conn_param layouts (bit i =
 * cp_layouts[i]) shipped together with it. */
struct nmq_work_layout {
	const char *versions;
	int msg, cparam, pub_packet;
	unsigned cp_mask;
};

static const struct nmq_work_layout work_layouts[] = {
	{ "0.18.1-0.22.1, 0.22.3-0.22.5", 16, 104, 112, 0x3 },
	{ "0.22.2, 0.22.6-0.23.10", 16, 112, 120, 0x2 },
	{ "0.24.0-0.24.13", 32, 128, 136, 0x6 },
	{ "0.24.14-0.25.x", 32, 136, 144, 0x4 },
};

/* pub_packet_struct, unchanged 0.18 - 0.25.x. */
static const struct {
	int fixed_header, packet_id, topic, payload;
} pp_layout = { 0, 8, 16, 48 };

/* Both NanoNNG string structs ({ char *body; uint32_t len; } and the
 * payload's { uint8_t *data; uint32_t len; }) keep len 8 bytes after the
 * pointer in every version. */
#define STR_LEN_AFTER_BODY 8

/* The probed functions, and the events each serves. Only those a rule
 * needs are attached. The notify function is nano_msg_notify (0.24.2+) or
 * the older pair. */
enum nmq_fn {
	FN_NOTIFY, FN_NOTIFY_CONNECT, FN_NOTIFY_DISCONNECT,
	FN_HANDLE_PUB, FN_CONN_HANDLER, FN_PIPE_SET_PID, FN_DECODE_SUB, FN_DECODE_UNSUB,
	FN_DB_INSERT, FN_DB_DEL, FN_QOS_SET, FN_QOS_REMOVE, FN_MAX
};

#define EV(e) (1u << (e))
/* Events that name the client by pipe id need the pipe-bind records. */
#define BY_PIPE (EV(NH_EV_SESSION_SUBSCRIBED) | EV(NH_EV_SESSION_UNSUBSCRIBED) | \
		 EV(NH_EV_DELIVERED) | EV(NH_EV_ACKED))
#define NOTIFY_EVENTS (EV(NH_EV_CONNACK) | EV(NH_EV_CONNECTED) | EV(NH_EV_DISCONNECTED) | \
		       EV(NH_EV_SESSION_TERMINATED) | BY_PIPE)

static const struct {
	const char *name;
	uint32_t events;
} nmq_fns[FN_MAX] = {
	[FN_NOTIFY] = { "nano_msg_notify", NOTIFY_EVENTS },
	[FN_NOTIFY_CONNECT] = { "nano_msg_notify_connect", NOTIFY_EVENTS },
	[FN_NOTIFY_DISCONNECT] = { "nano_msg_notify_disconnect", NOTIFY_EVENTS },
	[FN_HANDLE_PUB] = { "handle_pub", EV(NH_EV_PUBLISH) },
	[FN_CONN_HANDLER] = { "conn_handler", EV(NH_EV_CONNECT) },
	[FN_PIPE_SET_PID] = { "nni_pipe_set_pid", BY_PIPE },
	[FN_DECODE_SUB] = { "decode_sub_msg", EV(NH_EV_SUBSCRIBE) },
	[FN_DECODE_UNSUB] = { "decode_unsub_msg", EV(NH_EV_UNSUBSCRIBE) },
	[FN_DB_INSERT] = { "dbhash_insert_topic", EV(NH_EV_SESSION_SUBSCRIBED) },
	[FN_DB_DEL] = { "dbhash_del_topic", EV(NH_EV_SESSION_UNSUBSCRIBED) },
	[FN_QOS_SET] = { "nni_qos_db_set", EV(NH_EV_DELIVERED) | EV(NH_EV_ACKED) },
	[FN_QOS_REMOVE] = { "nni_qos_db_remove", EV(NH_EV_ACKED) },
};

/* The probes: the programs of bpf/nanomq.bpf.c and where each goes. */
enum nmq_probe {
	P_NOTIFY, P_NOTIFY_CONNECT, P_NOTIFY_DISCONNECT, P_HANDLE_PUB, P_HANDLE_PUB_RET,
	P_CONN_HANDLER, P_PIPE_SET_PID, P_DECODE_SUB, P_DECODE_UNSUB, P_DB_INSERT, P_DB_DEL,
	P_QOS_SET, P_QOS_REMOVE, P_MAX
};

static const struct nh_probe nmq_probes[P_MAX] = {
	[P_NOTIFY] = { .program = "nmq_notify", .fn = FN_NOTIFY },
	[P_NOTIFY_CONNECT] = { .program = "nmq_notify_connect", .fn = FN_NOTIFY_CONNECT },
	[P_NOTIFY_DISCONNECT] = { .program = "nmq_notify_disconnect", .fn = FN_NOTIFY_DISCONNECT },
	/* entry keeps the work pointer; return emits once the publish is accepted */
	[P_HANDLE_PUB] = { .program = "nmq_handle_pub", .fn = FN_HANDLE_PUB },
	[P_HANDLE_PUB_RET] = { .program = "nmq_handle_pub_ret", .fn = FN_HANDLE_PUB, .ret = true },
	[P_CONN_HANDLER] = { .program = "nmq_conn_handler", .fn = FN_CONN_HANDLER },
	[P_PIPE_SET_PID] = { .program = "nmq_pipe_set_pid", .fn = FN_PIPE_SET_PID },
	[P_DECODE_SUB] = { .program = "nmq_decode_sub", .fn = FN_DECODE_SUB },
	[P_DECODE_UNSUB] = { .program = "nmq_decode_unsub", .fn = FN_DECODE_UNSUB },
	[P_DB_INSERT] = { .program = "nmq_db_insert", .fn = FN_DB_INSERT },
	[P_DB_DEL] = { .program = "nmq_db_del", .fn = FN_DB_DEL },
	[P_QOS_SET] = { .program = "nmq_qos_set", .fn = FN_QOS_SET },
	[P_QOS_REMOVE] = { .program = "nmq_qos_remove", .fn = FN_QOS_REMOVE },
};

struct nmq_resolved {
	struct nmq_offsets off;
	uint64_t fn[FN_MAX];   /* file offsets */
	bool have[FN_MAX];
	bool stripped;  /* resolved without symbols (resolve_stripped) */
};

/* Which client a pipe id names (NanoMQ's pipe id is a keyed hash of the
 * client id, so it is stable per client id). */
#define PIPE_SLOTS 4096

struct nmq_pipe {
	uint32_t pipe_id;
	bool used, has_username;
	uint8_t proto_ver;
	char clientid[NH_CLIENTID_MAX];
	char username[NH_USERNAME_MAX];
};

struct nmq_state {
	struct nanomq_bpf *skel;       /* NULL when pinned probes were taken over */
	struct nh_probe_links links;
	struct nmq_pipe pipes[PIPE_SLOTS];
	struct nh_deliveries *deliveries;
	/* NanoMQ's pipe-id key, read from the broker (g_nanomq_hash_seed), so
	 * clients connected before nanohook attached can be named too. Used
	 * while no pipe bind contradicts it. */
	uint8_t seed[16];
	int seed_state; /* 0 none, 1 read, 2 confirmed by a bind, -1 wrong */
};

/* Reads the broker's pipe-id key; a missing symbol just leaves it off. */
static void read_seed(struct nh_target *t, struct nmq_state *st)
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

static int nmq_detect(struct nh_elf *elf)
{
	struct nh_sym s;
	int score = 0;

	if (!nh_elf_find_func(elf, "nano_msg_notify", &s) ||
	    !nh_elf_find_func(elf, "nano_msg_notify_connect", &s))
		score += 2;
	if (!nh_elf_find_func(elf, "conn_param_get_clientid", &s))
		score += 1;
	if (score && !nh_elf_find_func(elf, "handle_pub", &s))
		score += 1;
	if (!score && !nh_elf_has_symtab(elf)) {
		/* stripped: NanoMQ still names its functions in its log calls */
		uint64_t at;

		if (nh_elf_find_string(elf, "nano_msg_notify", 0, &at, 1) > 0 ||
		    nh_elf_find_string(elf, "nano_msg_notify_connect", 0, &at, 1) > 0)
			score += 2;
		if (score && nh_elf_find_string(elf, "handle_pub", 0, &at, 1) > 0)
			score += 1;
	}
	return score;
}

static int find_func(struct nh_target *t, const char *name, bool required,
		     uint64_t *file_off)
{
	struct nh_sym s;
	char what[64];

	snprintf(what, sizeof(what), "function %s", name);
	if (nh_elf_find_func(t->elf, name, &s)) {
		if (required)
			nh_finding_add(t, false, what, "not in .symtab or .dynsym", "-");
		return -1;
	}
	nh_finding_add(t, true, what, s.dynamic ? ".dynsym" : ".symtab",
		       "0x%llx", (unsigned long long)s.vaddr);
	*file_off = s.file_off;
	return 0;
}

/* Every access argument `argno` of function `name` makes. */
static bool has_access(const struct nh_disasm_result *r, int64_t disp)
{
	for (size_t i = 0; i < r->n_acc; i++)
		if (r->acc[i].disp == disp)
			return true;
	return false;
}

/* The first access of `kind` and `size` (0 = any) in an accessor. */
static int accessor_field(struct nh_target *t, const char *accessor, int kind,
			  int size, int *off)
{
	struct nh_disasm_result r;

	if (nh_broker_func_accesses(t, accessor, 0, 0, &r))
		return -1;
	for (size_t i = 0; i < r.n_acc; i++) {
		if (r.acc[i].kind == kind && (!size || r.acc[i].size == size)) {
			*off = (int)r.acc[i].disp;
			return 0;
		}
	}
	return -1;
}

static void add_offset(struct nh_target *t, const char *field, int off,
		       const char *source)
{
	nh_finding_add(t, off >= 0, field, off >= 0 ? source : "not established",
		       off >= 0 ? "0x%x (%d)" : "-", off, off);
}

static int dwarf_off(struct nh_target *t, const char *st, const char *member)
{
	long off;

	if (nh_dwarf_member_offset(t->exe, st, member, &off))
		return -1;
	return (int)off;
}

/* conn_param from DWARF when present, else from the accessors. */
static int resolve_conn_param(struct nh_target *t, struct nmq_offsets *o)
{
	bool dwarf = nh_elf_has_dwarf(t->elf);
	const char *src = "DWARF struct conn_param";
	int cf = -1, ub = -1, rc = 0;

	o->cp_keepalive = o->cp_proto_ver = o->cp_con_flag = -1;
	o->cp_clientid_body = o->cp_username_body = -1;
	if (dwarf) {
		o->cp_keepalive = dwarf_off(t, "conn_param", "keepalive_mqtt");
		o->cp_proto_ver = dwarf_off(t, "conn_param", "pro_ver");
		o->cp_con_flag = dwarf_off(t, "conn_param", "con_flag");
		o->cp_clientid_body = dwarf_off(t, "conn_param", "clientid.body");
		o->cp_username_body = dwarf_off(t, "conn_param", "username.body");
	}
	if (!dwarf || o->cp_keepalive < 0 || o->cp_proto_ver < 0 || o->cp_con_flag < 0 ||
	    o->cp_clientid_body < 0 || o->cp_username_body < 0) {
		accessor_field(t, "conn_param_get_keepalive", NH_ACC_LOAD, 2, &o->cp_keepalive);
		accessor_field(t, "conn_param_get_protover", NH_ACC_LOAD, 1, &o->cp_proto_ver);
		accessor_field(t, "conn_param_get_clientid", NH_ACC_LOAD, 8, &o->cp_clientid_body);
		/* username: the con_flag bit-7 test (test, cmp or a byte load
		 * then test), then the pointer load. */
		if (accessor_field(t, "conn_param_get_username", NH_ACC_TEST, 1, &cf) &&
		    accessor_field(t, "conn_param_get_username", NH_ACC_CMP, 1, &cf))
			accessor_field(t, "conn_param_get_username", NH_ACC_LOAD, 1, &cf);
		accessor_field(t, "conn_param_get_username", NH_ACC_LOAD, 8, &ub);
		o->cp_con_flag = cf;
		o->cp_username_body = ub;
		dwarf = false; /* for the report: these came from the code */
	}
	add_offset(t, "conn_param.keepalive_mqtt", o->cp_keepalive,
		   dwarf ? src : "instructions of conn_param_get_keepalive");
	add_offset(t, "conn_param.pro_ver", o->cp_proto_ver,
		   dwarf ? src : "instructions of conn_param_get_protover");
	add_offset(t, "conn_param.con_flag", o->cp_con_flag,
		   dwarf ? src : "instructions of conn_param_get_username (bit 7 test)");
	add_offset(t, "conn_param.clientid.body", o->cp_clientid_body,
		   dwarf ? src : "instructions of conn_param_get_clientid");
	add_offset(t, "conn_param.username.body", o->cp_username_body,
		   dwarf ? src : "instructions of conn_param_get_username");
	if (o->cp_keepalive < 0 || o->cp_proto_ver < 0 || o->cp_con_flag < 0 ||
	    o->cp_clientid_body < 0 || o->cp_username_body < 0)
		rc = -1;
	o->cp_clientid_len = o->cp_clientid_body < 0 ? -1 : o->cp_clientid_body + STR_LEN_AFTER_BODY;
	o->cp_username_len = o->cp_username_body < 0 ? -1 : o->cp_username_body + STR_LEN_AFTER_BODY;
	return rc;
}

/* Which conn_param layout rows match what was found (bit mask). */
static unsigned cp_layout_mask(const struct nmq_offsets *o)
{
	unsigned mask = 0;

	for (size_t i = 0; i < sizeof(cp_layouts) / sizeof(cp_layouts[0]); i++) {
		const struct nmq_cp_layout *l = &cp_layouts[i];

		if (l->keepalive == o->cp_keepalive && l->proto_ver == o->cp_proto_ver &&
		    l->con_flag == o->cp_con_flag && l->clientid == o->cp_clientid_body &&
		    l->username == o->cp_username_body)
			mask |= 1u << i;
	}
	return mask;
}

static int resolve_work(struct nh_target *t, struct nmq_offsets *o, char *why, size_t whylen)
{
	struct nh_disasm_result hook, decode;
	const struct nmq_work_layout *hit = NULL;
	unsigned cp_mask = cp_layout_mask(o);
	char src[160];
	int n_hits = 0;

	o->work_cparam = o->work_pub_packet = o->work_msg = -1;
	if (nh_elf_has_dwarf(t->elf)) {
		o->work_cparam = dwarf_off(t, "work", "cparam");
		o->work_pub_packet = dwarf_off(t, "work", "pub_packet");
		o->work_msg = dwarf_off(t, "work", "msg");
		if (o->work_cparam >= 0 && o->work_pub_packet >= 0) {
			add_offset(t, "nano_work.msg", o->work_msg, "DWARF struct work");
			add_offset(t, "nano_work.cparam", o->work_cparam, "DWARF struct work");
			add_offset(t, "nano_work.pub_packet", o->work_pub_packet, "DWARF struct work");
			return 0;
		}
	}
	if (!cp_mask) {
		snprintf(why, whylen, "conn_param layout matches no NanoMQ version nanohook knows");
		goto missing;
	}
	if (nh_broker_func_accesses(t, "hook_entry", 0, 0, &hook) ||
	    nh_broker_func_accesses(t, "decode_pub_message", 0, 0, &decode)) {
		snprintf(why, whylen, "hook_entry or decode_pub_message not found to confirm the layout");
		goto missing;
	}
	for (size_t i = 0; i < sizeof(work_layouts) / sizeof(work_layouts[0]); i++) {
		const struct nmq_work_layout *w = &work_layouts[i];

		if (!(w->cp_mask & cp_mask))
			continue;
		if (has_access(&hook, w->cparam) && has_access(&decode, w->msg) &&
		    has_access(&decode, w->pub_packet)) {
			hit = w;
			n_hits++;
		}
	}
	if (n_hits != 1) {
		snprintf(why, whylen, "%s NanoMQ nano_work layout fits this binary's code",
			 n_hits ? "more than one" : "no");
		goto missing;
	}
	o->work_cparam = hit->cparam;
	o->work_pub_packet = hit->pub_packet;
	o->work_msg = hit->msg;
	snprintf(src, sizeof(src), "table %s, confirmed by hook_entry/decode_pub_message",
		 hit->versions);
	add_offset(t, "nano_work.cparam", o->work_cparam, src);
	add_offset(t, "nano_work.pub_packet", o->work_pub_packet, src);
	add_offset(t, "nano_work.msg", o->work_msg, src);
	return 0;
missing:
	add_offset(t, "nano_work.cparam", -1, "");
	add_offset(t, "nano_work.pub_packet", -1, "");
	return -1;
}

/* What only the EMQX-style events need; missing ones refuse only an
 * attach whose rules want them (see needs_offsets). */
static void resolve_extra(struct nh_target *t, struct nmq_offsets *o)
{
	struct nh_disasm_result r;

	o->cp_ip_addr = -1;
	if (!nh_broker_func_accesses(t, "conn_param_get_ip_addr_v4", 0, 0, &r) && r.ret_is_arg)
		o->cp_ip_addr = (int)r.ret_arg_off;
	add_offset(t, "conn_param.ip_addr_v4", o->cp_ip_addr,
		   "instructions of conn_param_get_ip_addr_v4 (returns arg + offset)");
	o->msg_header = -1;
	if (!nh_broker_func_accesses(t, "nni_msg_header", 0, 0, &r) && r.ret_is_arg)
		o->msg_header = (int)r.ret_arg_off;
	add_offset(t, "nng_msg.header", o->msg_header, "instructions of nni_msg_header");
	o->msg_body = o->msg_len = o->msg_conn_param = o->pipe_conn_param = -1;
	accessor_field(t, "nni_msg_body", NH_ACC_LOAD, 8, &o->msg_body);
	accessor_field(t, "nni_msg_len", NH_ACC_LOAD, 8, &o->msg_len);
	accessor_field(t, "nni_msg_get_conn_param", NH_ACC_LOAD, 8, &o->msg_conn_param);
	accessor_field(t, "nni_pipe_get_conn_param", NH_ACC_LOAD, 8, &o->pipe_conn_param);
	add_offset(t, "nng_msg.body", o->msg_body, "instructions of nni_msg_body");
	add_offset(t, "nng_msg.len", o->msg_len, "instructions of nni_msg_len");
	add_offset(t, "nng_msg.conn_param", o->msg_conn_param,
		   "instructions of nni_msg_get_conn_param");
	add_offset(t, "nni_pipe.conn_param", o->pipe_conn_param,
		   "instructions of nni_pipe_get_conn_param");
}

/* Offsets each function's program reads beyond conn_param. */
static bool needs_offsets(const struct nmq_offsets *o, int fn)
{
	switch (fn) {
	case FN_PIPE_SET_PID:
		return o->pipe_conn_param >= 0;
	case FN_DECODE_SUB:
	case FN_DECODE_UNSUB:
		return o->work_msg >= 0 && o->msg_body >= 0 && o->msg_len >= 0;
	case FN_QOS_SET:
		return o->msg_header >= 0 && o->msg_body >= 0 && o->msg_len >= 0 &&
		       o->msg_conn_param >= 0;
	default:
		return true;
	}
}

/* --- stripped binaries -----------------------------------------------------
 *
 * The official packages are `strip -p`ed: no .symtab, and .dynsym holds
 * only libc imports. What is left to go on:
 *
 *  functions   NanoMQ logs with log_*(), which pass __func__: a function
 *              that logs loads its own name's literal (a RIP-relative lea).
 *              The .eh_frame FDE covering that lea is the function. Exactly
 *              one function may load the literal, and its code must fit
 *              (below); else nothing is recovered.
 *  conn_param  the fields nano_msg_notify reads from its first argument,
 *              itself or through the accessors it hands it to: they must
 *              fit exactly one conn_param row of the table.
 *  nano_work   the row that handle_pub (cparam) and decode_pub_message
 *              (msg, pub_packet) confirm, as hook_entry/decode_pub_message
 *              do with symbols (hook_entry never logs).
 *
 * Only the NanoMQ events (connack, disconnected, publish) and connect are
 * served: the other probes read nng_msg and nni_pipe offsets that only the
 * accessors' symbols give.
 */

#define MAX_LITERALS 8   /* copies of one name literal */
#define MAX_REFS 256     /* loads of one literal (conn_handler logs 36 times) */
#define MAX_PARTS 32     /* functions (or split-off parts) holding them */
#define MAX_SEGS 4
#define MAX_CP_READS 192

struct stripped {
	struct nh_elf *elf;
	enum nh_arch arch;
	struct nh_elf_seg seg[MAX_SEGS];
	uint8_t *code[MAX_SEGS];
	int nseg;
};

/* A function recovered from its name literal. */
struct recovered {
	uint64_t vaddr, size, file_off;
	char how[160];
};

static void stripped_free(struct stripped *sc)
{
	for (int i = 0; i < MAX_SEGS; i++)
		free(sc->code[i]);
	memset(sc->code, 0, sizeof(sc->code));
	sc->nseg = 0;
}

static int stripped_load(struct nh_target *t, struct stripped *sc)
{
	int n = nh_elf_exec_segments(t->elf, sc->seg, MAX_SEGS);

	memset(sc->code, 0, sizeof(sc->code));
	sc->elf = t->elf;
	sc->arch = nh_disasm_arch_for_machine(nh_elf_machine(t->elf));
	sc->nseg = n < 0 ? 0 : n > MAX_SEGS ? MAX_SEGS : n;
	for (int i = 0; i < sc->nseg; i++) {
		if (sc->seg[i].size > (64u << 20) || !(sc->code[i] = malloc(sc->seg[i].size)) ||
		    nh_elf_read_vaddr(t->elf, sc->seg[i].vaddr, sc->code[i], sc->seg[i].size)) {
			stripped_free(sc);
			return -1;
		}
	}
	return sc->nseg ? 0 : -1;
}

/* The loaded code at [vaddr, vaddr+size), or NULL. */
static const uint8_t *code_at(const struct stripped *sc, uint64_t vaddr, uint64_t size)
{
	for (int i = 0; i < sc->nseg; i++)
		if (vaddr >= sc->seg[i].vaddr && vaddr - sc->seg[i].vaddr <= sc->seg[i].size &&
		    size <= sc->seg[i].size - (vaddr - sc->seg[i].vaddr))
			return sc->code[i] + (vaddr - sc->seg[i].vaddr);
	return NULL;
}

/* How many instructions of `kinds` in the FDE's code refer to target. */
static int part_refs(const struct stripped *sc, const struct nh_fde *f, uint64_t target,
		     unsigned kinds)
{
	const uint8_t *code = code_at(sc, f->start, f->size);

	if (!code)
		return 0;
	return nh_disasm_func_refs(sc->arch, code, f->size, f->start, target, kinds, NULL, 0);
}

/* Every place in the code that may refer to target (unconfirmed). */
static int scan_refs(const struct stripped *sc, uint64_t target, unsigned kinds,
		     uint64_t *refs, size_t max)
{
	size_t n = 0;

	for (int i = 0; i < sc->nseg; i++) {
		int k = nh_disasm_scan_refs(sc->arch, sc->code[i], sc->seg[i].size,
					    sc->seg[i].vaddr, target, kinds, refs + n, max - n);
		if (k < 0 || (size_t)k > max - n)
			return -1;
		n += (size_t)k;
	}
	return (int)n;
}

/* The function gcc split the part `cold` off: the one that jumps to it. */
static int owner_of_part(const struct stripped *sc, const struct nh_fde *cold, struct nh_fde *out)
{
	uint64_t refs[MAX_REFS];
	int n = scan_refs(sc, cold->start, NH_REF_BRANCH, refs, MAX_REFS), found = 0;

	for (int i = 0; i < n; i++) {
		struct nh_fde f;

		if (nh_elf_fde_find(sc->elf, refs[i], &f) || !f.entry ||
		    (found && f.start == out->start) ||
		    part_refs(sc, &f, cold->start, NH_REF_BRANCH) <= 0)
			continue;
		*out = f;
		if (++found > 1)
			return -1;
	}
	return found == 1 ? 0 : -1;
}

static bool have_part(const struct nh_fde *parts, int n, uint64_t start)
{
	for (int i = 0; i < n; i++)
		if (parts[i].start == start)
			return true;
	return false;
}

/* The one function that loads the literal `name`; -1 with why filled. */
static int recover_func(const struct stripped *sc, const char *name, struct recovered *rec,
			char *why, size_t whylen)
{
	uint64_t lits[MAX_LITERALS], refs[MAX_REFS];
	struct nh_fde parts[MAX_PARTS], funcs[MAX_PARTS];
	int nl = nh_elf_find_string(sc->elf, name, 0, lits, MAX_LITERALS);
	int nparts = 0, nfuncs = 0, nloads = 0;

	if (nl <= 0) {
		snprintf(why, whylen, "no \"%s\" literal in .rodata (the function never logs)", name);
		return -1;
	}
	if (nl > MAX_LITERALS)
		nl = MAX_LITERALS;
	for (int l = 0; l < nl; l++) {
		int nr = scan_refs(sc, lits[l], NH_REF_ADDR, refs, MAX_REFS);

		nparts = 0; /* parts already decoded for this copy of the literal */
		if (nr < 0) {
			snprintf(why, whylen, "more than %d loads of its literal", MAX_REFS);
			return -1;
		}
		for (int i = 0; i < nr; i++) {
			struct nh_fde part, fn;
			int k;

			if (nh_elf_fde_find(sc->elf, refs[i], &part) ||
			    have_part(parts, nparts, part.start))
				continue;
			if (nparts == MAX_PARTS) {
				snprintf(why, whylen, "its literal is loaded in too many places");
				return -1;
			}
			parts[nparts++] = part;
			/* decoded from the start: a real lea, not bytes inside another */
			k = part_refs(sc, &part, lits[l], NH_REF_ADDR);
			if (k <= 0)
				continue;
			nloads += k;
			fn = part;
			if (!part.entry && owner_of_part(sc, &part, &fn)) {
				snprintf(why, whylen, "its literal is loaded in a split-off part at 0x%llx "
					 "that no single function jumps to",
					 (unsigned long long)part.start);
				return -1;
			}
			if (!have_part(funcs, nfuncs, fn.start))
				funcs[nfuncs++] = fn;
		}
	}
	if (nfuncs != 1) {
		if (nfuncs)
			snprintf(why, whylen, "%d functions load the \"%s\" literal", nfuncs, name);
		else
			snprintf(why, whylen, "no function loads the \"%s\" literal", name);
		return -1;
	}
	rec->vaddr = funcs[0].start;
	rec->size = funcs[0].size;
	if (nh_elf_vaddr_to_offset(sc->elf, rec->vaddr, &rec->file_off)) {
		snprintf(why, whylen, "0x%llx is not in the file", (unsigned long long)rec->vaddr);
		return -1;
	}
	snprintf(rec->how, sizeof(rec->how),
		 "its __func__ literal (%d load%s) + .eh_frame: [0x%llx, +0x%llx)", nloads,
		 nloads == 1 ? "" : "s", (unsigned long long)rec->vaddr,
		 (unsigned long long)rec->size);
	return 0;
}

/* Every read of argument argno in a recovered function. */
static int walk_recovered(const struct stripped *sc, const struct recovered *f, int argno,
			  unsigned flags, struct nh_disasm_result *res)
{
	const uint8_t *code = code_at(sc, f->vaddr, f->size);

	if (!code || nh_disasm_arg_accesses(sc->arch, code, f->size, f->vaddr, argno, flags, res))
		return -1;
	return 0;
}

/* conn_param reads seen in the notify function or its accessors. */
struct cp_reads {
	struct nh_access acc[MAX_CP_READS];
	bool by_accessor[MAX_CP_READS];
	size_t n;
	int n_accessors;
};

static void cp_add(struct cp_reads *cr, const struct nh_disasm_result *res, bool accessor)
{
	for (size_t i = 0; i < res->n_acc && cr->n < MAX_CP_READS; i++) {
		cr->by_accessor[cr->n] = accessor;
		cr->acc[cr->n++] = res->acc[i];
	}
}

/* The reads of a notify function's conn_param: its own, then those of the
 * accessors it calls with the pointer as their first argument (a leaf
 * that reads one or two fields, as conn_param_get_* are). */
static int collect_cp_reads(const struct stripped *sc, const struct recovered *fn,
			    struct cp_reads *cr)
{
	struct nh_disasm_result *res = malloc(sizeof(*res)), *acc = malloc(sizeof(*acc));
	int rc = -1;

	if (!res || !acc || walk_recovered(sc, fn, 0, NH_DIS_THROUGH_CALLS, res))
		goto out;
	cp_add(cr, res, false);
	for (size_t i = 0; i < res->n_calls; i++) {
		const struct nh_call *c = &res->calls[i];
		struct recovered callee;
		struct nh_fde f;

		if (c->argno != 0 || c->arg_off != 0 || nh_elf_fde_find(sc->elf, c->target, &f) ||
		    f.start != c->target || !f.entry)
			continue;
		callee.vaddr = f.start;
		callee.size = f.size;
		if (walk_recovered(sc, &callee, 0, 0, acc) || acc->n_calls || !acc->n_acc ||
		    acc->n_acc > 2)
			continue;
		cp_add(cr, acc, true);
		cr->n_accessors++;
	}
	rc = 0;
out:
	free(res);
	free(acc);
	return rc;
}

/* The read of `size` bytes at disp, or -1; *accessor says who read it. */
static int cp_find(const struct cp_reads *cr, int disp, int size, bool *accessor)
{
	int hit = -1;

	for (size_t i = 0; i < cr->n; i++) {
		if (cr->acc[i].disp != disp || cr->acc[i].size != size)
			continue;
		if (hit < 0 || cr->by_accessor[i])
			hit = (int)i;
		if (cr->by_accessor[i])
			break;
	}
	if (hit >= 0)
		*accessor = cr->by_accessor[hit];
	return hit;
}

static const char *cp_source(char *buf, size_t n, bool accessor, const char *notify_name)
{
	snprintf(buf, n, "%s %s (recovered from its __func__ literal + .eh_frame)",
		 accessor ? "accessor called by" : "load in", notify_name);
	return buf;
}

static int stripped_conn_param(struct nh_target *t, const struct stripped *sc,
			       const struct recovered *notify, int n_notify, const char *notify_name,
			       struct nmq_offsets *o, char *why, size_t whylen)
{
	struct cp_reads *cr = calloc(1, sizeof(*cr));
	const struct nmq_cp_layout *hit = NULL;
	int n_hits = 0;
	bool acc_ka = false, acc_pv = false, acc_ci = false, acc_un = false, acc_cf = false;
	bool cf_seen = false;
	char src[160];

	if (!cr) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n_notify; i++) {
		if (collect_cp_reads(sc, &notify[i], cr)) {
			snprintf(why, whylen, "%s's code could not be decoded", notify_name);
			free(cr);
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(cp_layouts) / sizeof(cp_layouts[0]); i++) {
		const struct nmq_cp_layout *l = &cp_layouts[i];
		bool a;

		if (cp_find(cr, l->keepalive, 2, &a) >= 0 && cp_find(cr, l->proto_ver, 1, &a) >= 0 &&
		    cp_find(cr, l->clientid, 8, &a) >= 0 && cp_find(cr, l->username, 8, &a) >= 0) {
			hit = l;
			n_hits++;
		}
	}
	if (n_hits != 1) {
		snprintf(why, whylen, "the conn_param fields %s reads (%zu reads, %d accessors) fit "
			 "%s NanoMQ layout", notify_name, cr->n, cr->n_accessors,
			 n_hits ? "more than one" : "no");
		free(cr);
		return -1;
	}
	cp_find(cr, hit->keepalive, 2, &acc_ka);
	cp_find(cr, hit->proto_ver, 1, &acc_pv);
	cp_find(cr, hit->clientid, 8, &acc_ci);
	cp_find(cr, hit->username, 8, &acc_un);
	cf_seen = cp_find(cr, hit->con_flag, 1, &acc_cf) >= 0;
	free(cr);
	o->cp_keepalive = hit->keepalive;
	o->cp_proto_ver = hit->proto_ver;
	o->cp_con_flag = hit->con_flag;
	o->cp_clientid_body = hit->clientid;
	o->cp_username_body = hit->username;
	o->cp_clientid_len = hit->clientid + STR_LEN_AFTER_BODY;
	o->cp_username_len = hit->username + STR_LEN_AFTER_BODY;
	add_offset(t, "conn_param.keepalive_mqtt", o->cp_keepalive,
		   cp_source(src, sizeof(src), acc_ka, notify_name));
	add_offset(t, "conn_param.pro_ver", o->cp_proto_ver,
		   cp_source(src, sizeof(src), acc_pv, notify_name));
	if (cf_seen)
		cp_source(src, sizeof(src), acc_cf, notify_name);
	else
		snprintf(src, sizeof(src), "table %s: the one row %s's reads fit", hit->versions,
			 notify_name);
	add_offset(t, "conn_param.con_flag", o->cp_con_flag, src);
	add_offset(t, "conn_param.clientid.body", o->cp_clientid_body,
		   cp_source(src, sizeof(src), acc_ci, notify_name));
	add_offset(t, "conn_param.username.body", o->cp_username_body,
		   cp_source(src, sizeof(src), acc_un, notify_name));
	return 0;
}

static int stripped_work(struct nh_target *t, const struct stripped *sc,
			 const struct recovered *handle_pub, const struct recovered *decode,
			 struct nmq_offsets *o, char *why, size_t whylen)
{
	struct nh_disasm_result *hp = malloc(sizeof(*hp)), *dp = malloc(sizeof(*dp));
	const struct nmq_work_layout *hit = NULL;
	unsigned cp_mask = cp_layout_mask(o);
	char src[160];
	int n_hits = 0, rc = -1;

	/* handle_pub loads work->cparam only after its first calls */
	if (!hp || !dp || walk_recovered(sc, handle_pub, 0, NH_DIS_THROUGH_CALLS, hp) ||
	    walk_recovered(sc, decode, 0, 0, dp)) {
		snprintf(why, whylen, "handle_pub or decode_pub_message could not be decoded");
		goto out;
	}
	for (size_t i = 0; i < sizeof(work_layouts) / sizeof(work_layouts[0]); i++) {
		const struct nmq_work_layout *w = &work_layouts[i];

		if (!(w->cp_mask & cp_mask))
			continue;
		if (has_access(hp, w->cparam) && has_access(dp, w->msg) &&
		    has_access(dp, w->pub_packet)) {
			hit = w;
			n_hits++;
		}
	}
	if (n_hits != 1) {
		snprintf(why, whylen, "%s nano_work layout fits handle_pub/decode_pub_message",
			 n_hits ? "more than one" : "no");
		goto out;
	}
	o->work_cparam = hit->cparam;
	o->work_pub_packet = hit->pub_packet;
	o->work_msg = hit->msg;
	snprintf(src, sizeof(src), "table %s, confirmed by handle_pub/decode_pub_message "
		 "(recovered from their __func__ literals)", hit->versions);
	add_offset(t, "nano_work.cparam", o->work_cparam, src);
	add_offset(t, "nano_work.pub_packet", o->work_pub_packet, src);
	add_offset(t, "nano_work.msg", o->work_msg, src);
	rc = 0;
out:
	free(hp);
	free(dp);
	return rc;
}

/* Why a recovered function's code is not what its name says (beyond
 * being the one function that logs under that name), or NULL if it is. */
static const char *code_misfit(const struct stripped *sc, const struct nmq_offsets *o, int fn,
			       const struct recovered *f)
{
	struct nh_disasm_result *res;
	bool packet = false, pro_ver = false, con_flag = false;

	if (fn != FN_CONN_HANDLER) /* handle_pub is checked by the nano_work row */
		return "nanohook has no check that the function logging under this name is it";
	res = malloc(sizeof(*res));
	if (!res)
		return "out of memory";
	/* conn_handler(packet, cparam, max) checks packet[0] == CONNECT (at -O0
	 * through an index), and reads back the pro_ver and con_flag it fills */
	if (!walk_recovered(sc, f, 0, NH_DIS_THROUGH_CALLS, res))
		for (size_t i = 0; i < res->n_acc; i++)
			packet |= res->acc[i].disp == 0 && res->acc[i].size == 1 &&
				  res->acc[i].kind == NH_ACC_CMP && res->acc[i].imm == 0x10;
	if (!packet && !walk_recovered(sc, f, 1, NH_DIS_THROUGH_CALLS, res)) {
		for (size_t i = 0; i < res->n_acc; i++) {
			pro_ver |= res->acc[i].disp == o->cp_proto_ver && res->acc[i].size == 1;
			con_flag |= res->acc[i].disp == o->cp_con_flag && res->acc[i].size == 1;
		}
	}
	free(res);
	if (packet || (pro_ver && con_flag))
		return NULL;
	return "the function logging as conn_handler neither checks a CONNECT byte nor "
	       "reads pro_ver and con_flag";
}

static int stripped_fail(struct nh_target *t, char *err, size_t errlen, const char *what,
			 const char *why)
{
	snprintf(err, errlen, "%s: this NanoMQ build is stripped and %s could not be recovered "
		 "(%s); use the Docker image or a build with symbols", t->exe, what, why);
	return -1;
}

static void add_func(struct nh_target *t, const char *name, bool ok, const struct recovered *f,
		     const char *why)
{
	char what[64];

	snprintf(what, sizeof(what), "function %s", name);
	if (ok)
		nh_finding_add(t, true, what, f->how, "0x%llx", (unsigned long long)f->vaddr);
	else
		nh_finding_add(t, false, what, why, "-");
}

static int resolve_stripped(struct nh_target *t, struct nmq_resolved *r, char *err,
			    size_t errlen)
{
	struct nmq_offsets *o = &r->off;
	struct stripped sc;
	struct recovered notify[2], hp, dec, f;
	const char *notify_name = "nano_msg_notify";
	const char *misfit;
	char why[160] = "";
	int n_notify = 1, rc = -1;

	r->stripped = true;
	if (stripped_load(t, &sc))
		return stripped_fail(t, err, errlen, "its code", "no executable segment");
	if (recover_func(&sc, "nano_msg_notify", &notify[0], why, sizeof(why))) {
		char why2[160];

		/* before 0.24.2: the connect/disconnect pair */
		if (recover_func(&sc, "nano_msg_notify_connect", &notify[0], why2, sizeof(why2)) ||
		    recover_func(&sc, "nano_msg_notify_disconnect", &notify[1], why2, sizeof(why2))) {
			add_func(t, "nano_msg_notify", false, NULL, why);
			stripped_fail(t, err, errlen, "nano_msg_notify", why);
			goto out;
		}
		add_func(t, "nano_msg_notify_connect", true, &notify[0], NULL);
		add_func(t, "nano_msg_notify_disconnect", true, &notify[1], NULL);
		r->have[FN_NOTIFY_CONNECT] = r->have[FN_NOTIFY_DISCONNECT] = true;
		r->fn[FN_NOTIFY_CONNECT] = notify[0].file_off;
		r->fn[FN_NOTIFY_DISCONNECT] = notify[1].file_off;
		notify_name = "nano_msg_notify_connect/_disconnect";
		n_notify = 2;
	} else {
		add_func(t, "nano_msg_notify", true, &notify[0], NULL);
		r->have[FN_NOTIFY] = true;
		r->fn[FN_NOTIFY] = notify[0].file_off;
	}
	r->have[FN_HANDLE_PUB] = !recover_func(&sc, "handle_pub", &hp, why, sizeof(why));
	add_func(t, "handle_pub", r->have[FN_HANDLE_PUB], &hp, why);
	if (!r->have[FN_HANDLE_PUB]) {
		stripped_fail(t, err, errlen, "handle_pub", why);
		goto out;
	}
	r->fn[FN_HANDLE_PUB] = hp.file_off;
	if (recover_func(&sc, "decode_pub_message", &dec, why, sizeof(why))) {
		add_func(t, "decode_pub_message", false, NULL, why);
		stripped_fail(t, err, errlen, "decode_pub_message (for the nano_work layout)", why);
		goto out;
	}
	add_func(t, "decode_pub_message", true, &dec, NULL);

	if (stripped_conn_param(t, &sc, notify, n_notify, notify_name, o, why, sizeof(why))) {
		add_offset(t, "conn_param", -1, "");
		stripped_fail(t, err, errlen, "the conn_param layout", why);
		goto out;
	}
	if (stripped_work(t, &sc, &hp, &dec, o, why, sizeof(why))) {
		add_offset(t, "nano_work.cparam", -1, "");
		stripped_fail(t, err, errlen, "the nano_work layout", why);
		goto out;
	}
	o->pp_fixed_header = pp_layout.fixed_header;
	o->pp_packet_id = pp_layout.packet_id;
	o->pp_topic_body = pp_layout.topic;
	o->pp_topic_len = pp_layout.topic + STR_LEN_AFTER_BODY;
	o->pp_payload_body = pp_layout.payload;
	o->pp_payload_len = pp_layout.payload + STR_LEN_AFTER_BODY;
	add_offset(t, "pub_packet.topic_name.body", o->pp_topic_body,
		   "table, unchanged 0.18-0.25.x (range confirmed above)");
	add_offset(t, "pub_packet.payload.data", o->pp_payload_body,
		   "table, unchanged 0.18-0.25.x (range confirmed above)");
	/* Only the accessors' symbols give these. */
	o->cp_ip_addr = o->msg_header = o->msg_body = o->msg_len = -1;
	o->msg_conn_param = o->pipe_conn_param = -1;
	o->msg_header_len = -1;

	/* The other probes: only those whose offsets are all known. */
	for (int i = FN_HANDLE_PUB + 1; i < FN_MAX; i++) {
		if (!needs_offsets(o, i)) {
			add_func(t, nmq_fns[i].name, false, NULL,
				 "not on a stripped build: its probe reads nng_msg/nni_pipe "
				 "fields only symbols locate");
			continue;
		}
		r->have[i] = !recover_func(&sc, nmq_fns[i].name, &f, why, sizeof(why));
		if (r->have[i] && (misfit = code_misfit(&sc, o, i, &f)) != NULL) {
			r->have[i] = false;
			snprintf(why, sizeof(why), "%s", misfit);
		}
		add_func(t, nmq_fns[i].name, r->have[i], &f, why);
		if (r->have[i])
			r->fn[i] = f.file_off;
	}
	rc = 0;
out:
	stripped_free(&sc);
	return rc;
}

/* No symbol names NanoMQ's probed functions, and there is no .symtab to
 * have lost them from: a stripped build. */
static bool is_stripped(struct nh_elf *elf)
{
	struct nh_sym s;

	return !nh_elf_has_symtab(elf) && nh_elf_find_func(elf, "nano_msg_notify", &s) &&
	       nh_elf_find_func(elf, "nano_msg_notify_connect", &s) &&
	       nh_elf_find_func(elf, "handle_pub", &s);
}

static int nmq_resolve(struct nh_target *t, char *err, size_t errlen)
{
	struct nmq_resolved *r = calloc(1, sizeof(*r));
	struct nmq_offsets *o;
	char why[160] = "";
	bool ok = true;

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->resolved = r;
	o = &r->off;
	if (is_stripped(t->elf))
		return resolve_stripped(t, r, err, errlen);

	if (!find_func(t, "nano_msg_notify", false, &r->fn[FN_NOTIFY])) {
		r->have[FN_NOTIFY] = true;
	} else if (!find_func(t, "nano_msg_notify_connect", false, &r->fn[FN_NOTIFY_CONNECT]) &&
		   !find_func(t, "nano_msg_notify_disconnect", true, &r->fn[FN_NOTIFY_DISCONNECT])) {
		r->have[FN_NOTIFY_CONNECT] = r->have[FN_NOTIFY_DISCONNECT] = true;
	} else {
		nh_finding_add(t, false, "function nano_msg_notify", "not in .symtab or .dynsym", "-");
		ok = false;
	}
	for (int i = FN_HANDLE_PUB; i < FN_MAX; i++)
		r->have[i] = !find_func(t, nmq_fns[i].name, i == FN_HANDLE_PUB, &r->fn[i]);
	if (!r->have[FN_HANDLE_PUB])
		ok = false;
	if (!ok) {
		snprintf(err, errlen,
			 "%s: NanoMQ's probed functions are not in its symbol table "
			 "(a stripped .deb/.rpm build?); use a build with symbols "
			 "(the Docker image or a self-built one)", t->exe);
		return -1;
	}

	if (resolve_conn_param(t, o)) {
		snprintf(err, errlen, "%s: conn_param offsets could not be established "
			 "(see MISSING above): refusing to attach", t->exe);
		return -1;
	}
	if (resolve_work(t, o, why, sizeof(why))) {
		snprintf(err, errlen, "%s: nano_work offsets: %s: refusing to attach", t->exe, why);
		return -1;
	}
	o->pp_fixed_header = pp_layout.fixed_header;
	o->pp_packet_id = pp_layout.packet_id;
	o->pp_topic_body = pp_layout.topic;
	o->pp_topic_len = pp_layout.topic + STR_LEN_AFTER_BODY;
	o->pp_payload_body = pp_layout.payload;
	o->pp_payload_len = pp_layout.payload + STR_LEN_AFTER_BODY;
	add_offset(t, "pub_packet.topic_name.body", o->pp_topic_body,
		   "table, unchanged 0.18-0.25.x (range confirmed above)");
	add_offset(t, "pub_packet.payload.data", o->pp_payload_body,
		   "table, unchanged 0.18-0.25.x (range confirmed above)");
	resolve_extra(t, o);
	return 0;
}

/* Which probes go where, for the events the rules want: everything this
 * build allows when every event is wanted; otherwise a wanted event whose
 * function (or the offsets its probe reads) this build lacks refuses. */
static int nmq_sites(const struct nh_target *t, const struct nmq_resolved *r,
		     const struct nh_attach_opts *o, struct nh_probe_site sites[P_MAX],
		     char *err, size_t errlen)
{
	for (int p = 0; p < P_MAX; p++) {
		int i = nmq_probes[p].fn;
		uint32_t want = o->events ? o->events & nmq_fns[i].events : nmq_fns[i].events;
		bool notify = i <= FN_NOTIFY_DISCONNECT; /* one form or the other: resolve chose */

		sites[p] = (struct nh_probe_site){ .use = want != 0, .file_off = r->fn[i] };
		if (!want || (r->have[i] && needs_offsets(&r->off, i)))
			continue;
		sites[p].use = false;
		if (notify || !o->events)
			continue;
		if (r->stripped)
			snprintf(err, errlen, "%s: this NanoMQ build is stripped and %s, which %s "
				 "needs, could not be recovered; use the Docker image or a build "
				 "with symbols (see nanohook probe)", t->exe, nmq_fns[i].name,
				 nh_event_name((enum nh_event_type)__builtin_ctz(want)));
		else
			snprintf(err, errlen, "%s: %s or the offsets it needs are missing in this "
				 "build, and a rule wants its events (see nanohook probe)",
				 t->exe, nmq_fns[i].name);
		return -1;
	}
	return 0;
}

static void nmq_state_free(struct nmq_state *st)
{
	nh_probes_detach(&st->links);
	nanomq_bpf__destroy(st->skel);
	nh_deliveries_free(st->deliveries);
	free(st);
}

static int nmq_attach(struct nh_target *t, const struct nh_attach_opts *o,
		      struct nh_attachment *out, char *err, size_t errlen)
{
	const struct nmq_resolved *r = t->resolved;
	struct nh_probe_site sites[P_MAX];
	struct nmq_state *st;
	int rc = -1;

	if (nmq_sites(t, r, o, sites, err, errlen))
		return -1;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->deliveries = nh_deliveries_new())) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	read_seed(t, st);
	st->skel = nanomq_bpf__open();
	if (!st->skel) {
		snprintf(err, errlen, "opening the BPF object: %s", strerror(errno));
	} else {
		st->skel->rodata->cfg = nh_probe_cfg_for(t, o, NH_BROKER_NANOMQ);
		st->skel->rodata->off = r->off;
		rc = nh_probes_attach(t, o, st->skel->skeleton, nmq_probes, sites, P_MAX,
				      &st->links, out, err, errlen);
	}
	if (rc < 0) {
		nmq_state_free(st);
		return -1;
	}
	if (rc > 0) { /* pinned probes taken over: no skeleton of ours */
		nanomq_bpf__destroy(st->skel);
		st->skel = NULL;
	}
	out->broker = &nh_broker_nanomq;
	out->state = st;
	return 0;
}

static void nmq_detach(struct nh_attachment *a)
{
	if (a->state)
		nmq_state_free(a->state);
	a->state = NULL;
}

static void nmq_release(struct nh_target *t)
{
	free(t->resolved);
	t->resolved = NULL;
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
		return -2;
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
		return -1; /* a cut packet cannot be parsed: raise payload_max */
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
		return -1;
	}
	ev->topic = (struct nh_str){ pub.topic.ptr, pub.topic.len };
	ev->payload = pub.payload;
	ev->payload_len = ev->payload_full_len = pub.payload_len;
	ev->qos = pub.qos;
	ev->retain = pub.retain;
	/* put copies everything the event points at, pkt included */
	nh_deliveries_put(st->deliveries, rec->pipe_id + 1, rec->packet_id, ev);
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

static int nmq_decode(struct nh_attachment *a, const struct nh_record *rec, struct nh_event *ev,
		      void (*emit)(void *, const struct nh_event *), void *emit_ctx)
{
	struct nmq_state *st = a->state;
	struct nh_mqtt_connect c;
	struct nmq_pipe *p;
	int rc;

	if (!st)
		return -1;
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
		if (ev->payload_len != ev->payload_full_len ||
		    nh_mqtt_parse_connect(ev->payload, ev->payload_len, true, &c))
			return -1;
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
	case NH_EV_DELIVERED:
		return decode_delivered(st, rec, ev);
	case NH_EV_ACKED:
		rc = name_by_pipe(st, rec, ev);
		if (rc)
			return rc;
		return nh_deliveries_take(st->deliveries, rec->pipe_id + 1, rec->packet_id, ev) ? -2
											       : 0;
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

const struct nh_broker nh_broker_nanomq = {
	.name = "nanomq",
	.id = NH_BROKER_NANOMQ,
	.detect = nmq_detect,
	.resolve = nmq_resolve,
	.attach = nmq_attach,
	.detach = nmq_detach,
	.release = nmq_release,
	.decode = nmq_decode,
};
