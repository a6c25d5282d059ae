// SPDX-License-Identifier: MIT
/*
 * NanoMQ with symbols: its functions from .symtab / .dynsym; conn_param from
 * DWARF or the instructions of NanoNNG's accessors; nano_work from DWARF or
 * the layout row NanoMQ's own code confirms; pub_packet from its table once
 * the version range is confirmed. See broker_nanomq.c for the whole picture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"
#include "dwarf_info.h"
#include "elf_file.h"
#include "nanomq.h"
#include "nanomq_layout.h"

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
bool nmq_has_access(const struct nh_disasm_result *r, int64_t disp)
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

void nmq_add_offset(struct nh_target *t, const char *field, int off,
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
	nmq_add_offset(t, "conn_param.keepalive_mqtt", o->cp_keepalive,
		   dwarf ? src : "instructions of conn_param_get_keepalive");
	nmq_add_offset(t, "conn_param.pro_ver", o->cp_proto_ver,
		   dwarf ? src : "instructions of conn_param_get_protover");
	nmq_add_offset(t, "conn_param.con_flag", o->cp_con_flag,
		   dwarf ? src : "instructions of conn_param_get_username (bit 7 test)");
	nmq_add_offset(t, "conn_param.clientid.body", o->cp_clientid_body,
		   dwarf ? src : "instructions of conn_param_get_clientid");
	nmq_add_offset(t, "conn_param.username.body", o->cp_username_body,
		   dwarf ? src : "instructions of conn_param_get_username");
	if (o->cp_keepalive < 0 || o->cp_proto_ver < 0 || o->cp_con_flag < 0 ||
	    o->cp_clientid_body < 0 || o->cp_username_body < 0)
		rc = -1;
	o->cp_clientid_len = o->cp_clientid_body < 0 ? -1 : o->cp_clientid_body + STR_LEN_AFTER_BODY;
	o->cp_username_len = o->cp_username_body < 0 ? -1 : o->cp_username_body + STR_LEN_AFTER_BODY;
	return rc;
}

/* Which conn_param layout rows match what was found (bit mask). */
int nmq_work_row(unsigned cp_mask, const struct nh_disasm_result *cparam_reader,
		 const struct nh_disasm_result *work_reader, struct nmq_offsets *o,
		 const char **versions)
{
	const struct nmq_work_layout *hit = NULL;
	int n_hits = 0;

	for (size_t i = 0; i < sizeof(work_layouts) / sizeof(work_layouts[0]); i++) {
		const struct nmq_work_layout *w = &work_layouts[i];

		if ((w->cp_mask & cp_mask) && nmq_has_access(cparam_reader, w->cparam) &&
		    nmq_has_access(work_reader, w->msg) && nmq_has_access(work_reader, w->pub_packet)) {
			hit = w;
			n_hits++;
		}
	}
	if (n_hits == 1) {
		o->work_cparam = hit->cparam;
		o->work_pub_packet = hit->pub_packet;
		o->work_msg = hit->msg;
		*versions = hit->versions;
	}
	return n_hits;
}

unsigned nmq_cp_layout_mask(const struct nmq_offsets *o)
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
	const char *versions = NULL;
	unsigned cp_mask = nmq_cp_layout_mask(o);
	char src[160];
	int n_hits = 0;

	o->work_cparam = o->work_pub_packet = o->work_msg = -1;
	if (nh_elf_has_dwarf(t->elf)) {
		o->work_cparam = dwarf_off(t, "work", "cparam");
		o->work_pub_packet = dwarf_off(t, "work", "pub_packet");
		o->work_msg = dwarf_off(t, "work", "msg");
		if (o->work_cparam >= 0 && o->work_pub_packet >= 0) {
			nmq_add_offset(t, "nano_work.msg", o->work_msg, "DWARF struct work");
			nmq_add_offset(t, "nano_work.cparam", o->work_cparam, "DWARF struct work");
			nmq_add_offset(t, "nano_work.pub_packet", o->work_pub_packet, "DWARF struct work");
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
	n_hits = nmq_work_row(cp_mask, &hook, &decode, o, &versions);
	if (n_hits != 1) {
		snprintf(why, whylen, "%s NanoMQ nano_work layout fits this binary's code",
			 n_hits ? "more than one" : "no");
		goto missing;
	}
	snprintf(src, sizeof(src), "table %s, confirmed by hook_entry/decode_pub_message",
		 versions);
	nmq_add_offset(t, "nano_work.cparam", o->work_cparam, src);
	nmq_add_offset(t, "nano_work.pub_packet", o->work_pub_packet, src);
	nmq_add_offset(t, "nano_work.msg", o->work_msg, src);
	return 0;
missing:
	nmq_add_offset(t, "nano_work.cparam", -1, "");
	nmq_add_offset(t, "nano_work.pub_packet", -1, "");
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
	nmq_add_offset(t, "conn_param.ip_addr_v4", o->cp_ip_addr,
		   "instructions of conn_param_get_ip_addr_v4 (returns arg + offset)");
	o->msg_header = -1;
	if (!nh_broker_func_accesses(t, "nni_msg_header", 0, 0, &r) && r.ret_is_arg)
		o->msg_header = (int)r.ret_arg_off;
	nmq_add_offset(t, "nng_msg.header", o->msg_header, "instructions of nni_msg_header");
	o->msg_body = o->msg_len = o->msg_conn_param = o->pipe_conn_param = -1;
	accessor_field(t, "nni_msg_body", NH_ACC_LOAD, 8, &o->msg_body);
	accessor_field(t, "nni_msg_len", NH_ACC_LOAD, 8, &o->msg_len);
	accessor_field(t, "nni_msg_get_conn_param", NH_ACC_LOAD, 8, &o->msg_conn_param);
	accessor_field(t, "nni_pipe_get_conn_param", NH_ACC_LOAD, 8, &o->pipe_conn_param);
	nmq_add_offset(t, "nng_msg.body", o->msg_body, "instructions of nni_msg_body");
	nmq_add_offset(t, "nng_msg.len", o->msg_len, "instructions of nni_msg_len");
	nmq_add_offset(t, "nng_msg.conn_param", o->msg_conn_param,
		   "instructions of nni_msg_get_conn_param");
	nmq_add_offset(t, "nni_pipe.conn_param", o->pipe_conn_param,
		   "instructions of nni_pipe_get_conn_param");
}

/* Offsets each function's program reads beyond conn_param. */
bool nmq_needs_offsets(const struct nmq_offsets *o, int fn)
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

void nmq_pub_packet_offsets(struct nh_target *t, struct nmq_offsets *o)
{
	o->pp_fixed_header = pp_layout.fixed_header;
	o->pp_packet_id = pp_layout.packet_id;
	o->pp_topic_body = pp_layout.topic;
	o->pp_topic_len = pp_layout.topic + STR_LEN_AFTER_BODY;
	o->pp_payload_body = pp_layout.payload;
	o->pp_payload_len = pp_layout.payload + STR_LEN_AFTER_BODY;
	nmq_add_offset(t, "pub_packet.topic_name.body", o->pp_topic_body,
		   "table, unchanged 0.18-0.25.x (range confirmed above)");
	nmq_add_offset(t, "pub_packet.payload.data", o->pp_payload_body,
		   "table, unchanged 0.18-0.25.x (range confirmed above)");
}

int nmq_resolve_symbols(struct nh_target *t, struct nmq_resolved *r, char *err, size_t errlen)
{
	struct nmq_offsets *o = &r->off;
	char why[160] = "";
	bool ok = true;

	if (!find_func(t, "nano_msg_notify", false, &r->fn[FN_NOTIFY])) {
		r->have[FN_NOTIFY] = true;
	} else if (!find_func(t, "nano_msg_notify_connect", false, &r->fn[FN_NOTIFY_CONNECT]) &&
		   !find_func(t, "nano_msg_notify_disconnect", true, &r->fn[FN_NOTIFY_DISCONNECT])) {
		r->have[FN_NOTIFY_CONNECT] = r->have[FN_NOTIFY_DISCONNECT] = true;
	} else {
		nh_finding_add(t, false, "function nano_msg_notify", "not in .symtab or .dynsym", "-");
		ok = false;
	}
	for (int i = FN_HANDLE_PUB; i < FN_PUB_ACCEPTED; i++)
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
	nmq_pub_packet_offsets(t, o);
	resolve_extra(t, o);
	nmq_resolve_pub_accepted(t, r);
	return 0;
}

/* Does any direct call or jump to target lie outside [lo, hi)? A byte
 * scan of every executable segment: a false hit only makes this say yes,
 * which keeps the two probes, never the wrong one. */
static bool called_elsewhere(struct nh_elf *elf, enum nh_arch arch, uint64_t target, uint64_t lo,
			     uint64_t hi)
{
	struct nh_elf_seg segs[8];
	int n = nh_elf_exec_segments(elf, segs, 8);

	if (n <= 0 || n > 8)
		return true;
	for (int i = 0; i < n; i++) {
		uint64_t hits[64];
		uint8_t *code = malloc(segs[i].size ? segs[i].size : 1);
		int k;

		if (!code || nh_elf_read_vaddr(elf, segs[i].vaddr, code, segs[i].size)) {
			free(code);
			return true;
		}
		k = nh_disasm_scan_refs(arch, code, segs[i].size, segs[i].vaddr, target,
					NH_REF_BRANCH, hits, 64);
		free(code);
		if (k < 0 || k > 64)
			return true;
		for (int j = 0; j < k; j++)
			if (hits[j] < lo || hits[j] >= hi)
				return true;
	}
	return false;
}

/*
 * NanoMQ's handle_pub ends with handle_pub_retain(work, topic), reached
 * only once decoding, topic, alias and ACL checks have passed. It is
 * static inline: a function of its own at -O0 (the packages, the Docker
 * image) and in Debug builds, inlined in Release ones. Where it is a
 * function that handle_pub calls and no other code does, its entry sees
 * every accepted publish, with work in its first argument: one trap
 * instead of handle_pub's entry and return.
 */
void nmq_resolve_pub_accepted(struct nh_target *t, struct nmq_resolved *r)
{
	static const char what[] = "one trap per publish";
	enum nh_arch arch = nh_disasm_arch_for_machine(nh_elf_machine(t->elf));
	struct nh_sym hp, acc;
	uint8_t *code;
	int calls;

	if (nh_elf_find_func(t->elf, "handle_pub", &hp) || !hp.size ||
	    nh_elf_find_func(t->elf, "handle_pub_retain", &acc)) {
		nh_finding_add(t, true, what, "handle_pub_retain is inlined here: handle_pub's "
			       "entry and return (2 traps)", "-");
		return;
	}
	code = malloc(hp.size);
	calls = code && !nh_elf_read_vaddr(t->elf, hp.vaddr, code, hp.size)
		? nh_disasm_func_refs(arch, code, hp.size, hp.vaddr, acc.vaddr, NH_REF_BRANCH, NULL, 0)
		: -1;
	free(code);
	if (calls < 1 || called_elsewhere(t->elf, arch, acc.vaddr, hp.vaddr, hp.vaddr + hp.size)) {
		nh_finding_add(t, true, what, calls < 1 ? "handle_pub does not call handle_pub_retain: "
			       "handle_pub's entry and return (2 traps)"
			       : "handle_pub_retain has other callers: handle_pub's entry and return "
			       "(2 traps)", "-");
		return;
	}
	r->fn[FN_PUB_ACCEPTED] = acc.file_off;
	r->have[FN_PUB_ACCEPTED] = true;
	nh_finding_add(t, true, what, "handle_pub_retain, called only by handle_pub once accepted",
		       "0x%llx", (unsigned long long)acc.vaddr);
}
