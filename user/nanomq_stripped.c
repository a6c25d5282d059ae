// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"
#include "elf_file.h"
#include "nanomq.h"
#include "nanomq_layout.h"

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
	nmq_add_offset(t, "conn_param.keepalive_mqtt", o->cp_keepalive,
		   cp_source(src, sizeof(src), acc_ka, notify_name));
	nmq_add_offset(t, "conn_param.pro_ver", o->cp_proto_ver,
		   cp_source(src, sizeof(src), acc_pv, notify_name));
	if (cf_seen)
		cp_source(src, sizeof(src), acc_cf, notify_name);
	else
		snprintf(src, sizeof(src), "table %s: the one row %s's reads fit", hit->versions,
			 notify_name);
	nmq_add_offset(t, "conn_param.con_flag", o->cp_con_flag, src);
	nmq_add_offset(t, "conn_param.clientid.body", o->cp_clientid_body,
		   cp_source(src, sizeof(src), acc_ci, notify_name));
	nmq_add_offset(t, "conn_param.username.body", o->cp_username_body,
		   cp_source(src, sizeof(src), acc_un, notify_name));
	return 0;
}

static int stripped_work(struct nh_target *t, const struct stripped *sc,
			 const struct recovered *handle_pub, const struct recovered *decode,
			 struct nmq_offsets *o, char *why, size_t whylen)
{
	struct nh_disasm_result *hp = malloc(sizeof(*hp)), *dp = malloc(sizeof(*dp));
	const char *versions = NULL;
	unsigned cp_mask = nmq_cp_layout_mask(o);
	char src[160];
	int n_hits = 0, rc = -1;

	/* handle_pub loads work->cparam only after its first calls */
	if (!hp || !dp || walk_recovered(sc, handle_pub, 0, NH_DIS_THROUGH_CALLS, hp) ||
	    walk_recovered(sc, decode, 0, 0, dp)) {
		snprintf(why, whylen, "handle_pub or decode_pub_message could not be decoded");
		goto out;
	}
	n_hits = nmq_work_row(cp_mask, hp, dp, o, &versions);
	if (n_hits != 1) {
		snprintf(why, whylen, "%s nano_work layout fits handle_pub/decode_pub_message",
			 n_hits ? "more than one" : "no");
		goto out;
	}
	snprintf(src, sizeof(src), "table %s, confirmed by handle_pub/decode_pub_message "
		 "(recovered from their __func__ literals)", versions);
	nmq_add_offset(t, "nano_work.cparam", o->work_cparam, src);
	nmq_add_offset(t, "nano_work.pub_packet", o->work_pub_packet, src);
	nmq_add_offset(t, "nano_work.msg", o->work_msg, src);
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

int nmq_resolve_stripped(struct nh_target *t, struct nmq_resolved *r, char *err,
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
		nmq_add_offset(t, "conn_param", -1, "");
		stripped_fail(t, err, errlen, "the conn_param layout", why);
		goto out;
	}
	if (stripped_work(t, &sc, &hp, &dec, o, why, sizeof(why))) {
		nmq_add_offset(t, "nano_work.cparam", -1, "");
		stripped_fail(t, err, errlen, "the nano_work layout", why);
		goto out;
	}
	nmq_pub_packet_offsets(t, o);
	/* Only the accessors' symbols give these. */
	o->cp_ip_addr = o->msg_header = o->msg_body = o->msg_len = -1;
	o->msg_conn_param = o->pipe_conn_param = -1;
	o->msg_header_len = -1;

	/* The other probes: only those whose offsets are all known. */
	for (int i = FN_HANDLE_PUB + 1; i < FN_PUB_ACCEPTED; i++) {
		if (!nmq_needs_offsets(o, i)) {
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
	nh_finding_add(t, true, "one trap per publish", "not on a stripped build (handle_pub_retain "
		       "has no name to find): handle_pub's entry and return (2 traps)", "-");
	rc = 0;
out:
	stripped_free(&sc);
	return rc;
}

/* No symbol names NanoMQ's probed functions, and there is no .symtab to
 * have lost them from: a stripped build. */
bool nmq_is_stripped(struct nh_elf *elf)
{
	struct nh_sym s;

	return !nh_elf_has_symtab(elf) && nh_elf_find_func(elf, "nano_msg_notify", &s) &&
	       nh_elf_find_func(elf, "nano_msg_notify_connect", &s) &&
	       nh_elf_find_func(elf, "handle_pub", &s);
}
