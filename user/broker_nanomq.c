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
#include "disasm.h"
#include "dwarf_info.h"
#include "elf_file.h"
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

struct nmq_resolved {
	struct nmq_offsets off;
	uint64_t notify, notify_connect, notify_disconnect, handle_pub;
	bool legacy_notify;
};

struct nmq_state {
	struct nanomq_bpf *skel;
};

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
static int func_accesses(struct nh_target *t, const char *name, int argno,
			 struct nh_disasm_result *res)
{
	struct nh_sym s;
	uint8_t *code;
	size_t len;
	int rc;

	if (nh_elf_find_func(t->elf, name, &s) || !s.size)
		return -1;
	len = s.size > 65536 ? 65536 : s.size;
	code = malloc(len);
	if (!code)
		return -1;
	rc = nh_elf_read_vaddr(t->elf, s.vaddr, code, len);
	if (!rc)
		rc = nh_disasm_arg_accesses(nh_disasm_arch_for_machine(nh_elf_machine(t->elf)),
					    code, len, s.vaddr, argno, 0, res);
	free(code);
	return rc ? -1 : 0;
}

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

	if (func_accesses(t, accessor, 0, &r))
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

	o->work_cparam = o->work_pub_packet = -1;
	if (nh_elf_has_dwarf(t->elf)) {
		o->work_cparam = dwarf_off(t, "work", "cparam");
		o->work_pub_packet = dwarf_off(t, "work", "pub_packet");
		if (o->work_cparam >= 0 && o->work_pub_packet >= 0) {
			add_offset(t, "nano_work.cparam", o->work_cparam, "DWARF struct work");
			add_offset(t, "nano_work.pub_packet", o->work_pub_packet, "DWARF struct work");
			return 0;
		}
	}
	if (!cp_mask) {
		snprintf(why, whylen, "conn_param layout matches no NanoMQ version nanohook knows");
		goto missing;
	}
	if (func_accesses(t, "hook_entry", 0, &hook) ||
	    func_accesses(t, "decode_pub_message", 0, &decode)) {
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
	snprintf(src, sizeof(src), "table %s, confirmed by hook_entry/decode_pub_message",
		 hit->versions);
	add_offset(t, "nano_work.cparam", o->work_cparam, src);
	add_offset(t, "nano_work.pub_packet", o->work_pub_packet, src);
	return 0;
missing:
	add_offset(t, "nano_work.cparam", -1, "");
	add_offset(t, "nano_work.pub_packet", -1, "");
	return -1;
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

	if (!find_func(t, "nano_msg_notify", false, &r->notify)) {
		r->legacy_notify = false;
	} else if (!find_func(t, "nano_msg_notify_connect", false, &r->notify_connect) &&
		   !find_func(t, "nano_msg_notify_disconnect", true, &r->notify_disconnect)) {
		r->legacy_notify = true;
	} else {
		nh_finding_add(t, false, "function nano_msg_notify", "not in .symtab or .dynsym", "-");
		ok = false;
	}
	if (find_func(t, "handle_pub", true, &r->handle_pub))
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
	return 0;
}

static int attach_one(struct nh_target *t, struct bpf_program *prog, bool ret,
		      uint64_t file_off, struct bpf_link **link, char *err, size_t errlen)
{
	*link = bpf_program__attach_uprobe(prog, ret, t->pid ? t->pid : -1, t->exe,
					   (size_t)file_off);
	if (!*link) {
		snprintf(err, errlen, "attaching %s to %s: %s", bpf_program__name(prog),
			 t->exe, strerror(errno));
		return -1;
	}
	return 0;
}

static int nmq_attach(struct nh_target *t, const struct nh_attach_opts *o,
		      struct nh_attachment *out, char *err, size_t errlen)
{
	struct nmq_resolved *r = t->resolved;
	struct nmq_state *st = calloc(1, sizeof(*st));
	struct nanomq_bpf *skel;
	int rc;

	if (!st)
		return -1;
	skel = nanomq_bpf__open();
	if (!skel) {
		snprintf(err, errlen, "opening the BPF object: %s", strerror(errno));
		free(st);
		return -1;
	}
	st->skel = skel;
	skel->rodata->target_tgid = (uint32_t)t->pid;
	skel->rodata->payload_max = o->payload_max;
	skel->rodata->broker_id = NH_BROKER_NANOMQ;
	skel->rodata->off = r->off;
	bpf_map__set_max_entries(skel->maps.events, (uint32_t)o->ringbuf_bytes);
	if (o->share_ringbuf_fd >= 0 && bpf_map__reuse_fd(skel->maps.events, o->share_ringbuf_fd)) {
		snprintf(err, errlen, "sharing the ring buffer: %s", strerror(errno));
		goto fail;
	}
	bpf_program__set_autoload(skel->progs.nmq_notify, !r->legacy_notify);
	bpf_program__set_autoload(skel->progs.nmq_notify_connect, r->legacy_notify);
	bpf_program__set_autoload(skel->progs.nmq_notify_disconnect, r->legacy_notify);
	rc = nanomq_bpf__load(skel);
	if (rc) {
		snprintf(err, errlen, "loading the BPF programs: %s (kernel with BTF, "
			 "uprobes and ring buffers, and root, are needed)", strerror(-rc));
		goto fail;
	}
	if (r->legacy_notify) {
		if (attach_one(t, skel->progs.nmq_notify_connect, false, r->notify_connect,
			       &skel->links.nmq_notify_connect, err, errlen) ||
		    attach_one(t, skel->progs.nmq_notify_disconnect, false, r->notify_disconnect,
			       &skel->links.nmq_notify_disconnect, err, errlen))
			goto fail;
		out->n_links = 2;
	} else {
		if (attach_one(t, skel->progs.nmq_notify, false, r->notify,
			       &skel->links.nmq_notify, err, errlen))
			goto fail;
		out->n_links = 1;
	}
	if (attach_one(t, skel->progs.nmq_handle_pub, false, r->handle_pub,
		       &skel->links.nmq_handle_pub, err, errlen) ||
	    attach_one(t, skel->progs.nmq_handle_pub_ret, true, r->handle_pub,
		       &skel->links.nmq_handle_pub_ret, err, errlen))
		goto fail;
	out->n_links += 2;
	out->broker = &nh_broker_nanomq;
	out->ringbuf_fd = dup(bpf_map__fd(skel->maps.events));
	out->counters_fd = dup(bpf_map__fd(skel->maps.counters));
	out->state = st;
	return 0;
fail:
	nanomq_bpf__destroy(skel);
	free(st);
	return -1;
}

static void nmq_detach(struct nh_attachment *a)
{
	struct nmq_state *st = a->state;

	if (!st)
		return;
	nanomq_bpf__destroy(st->skel);
	free(st);
	a->state = NULL;
}

static void nmq_release(struct nh_target *t)
{
	free(t->resolved);
	t->resolved = NULL;
}

const struct nh_broker nh_broker_nanomq = {
	.name = "nanomq",
	.id = NH_BROKER_NANOMQ,
	.detect = nmq_detect,
	.resolve = nmq_resolve,
	.attach = nmq_attach,
	.detach = nmq_detach,
	.release = nmq_release,
};
