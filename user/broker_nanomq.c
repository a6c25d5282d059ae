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
 *              from the table rows their code confirms (nanomq_stripped.c).
 *
 * Anything not established refuses the attach, naming what is missing.
 * nanomq.h says which file does what.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "config.h"
#include "deliveries.h"
#include "elf_file.h"
#include "nanomq.h" /* before the skeleton: nh_offsets.h, which it embeds */
#include "nanomq.skel.h"

const struct nmq_fn_info nmq_fns[FN_MAX] = {
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
	[FN_PUB_ACCEPTED] = { "handle_pub_retain", EV(NH_EV_PUBLISH) },
};

/* The probes: the programs of bpf/nanomq.bpf.c and where each goes. */
enum nmq_probe {
	P_NOTIFY, P_NOTIFY_CONNECT, P_NOTIFY_DISCONNECT, P_HANDLE_PUB, P_HANDLE_PUB_RET,
	P_CONN_HANDLER, P_PIPE_SET_PID, P_DECODE_SUB, P_DECODE_UNSUB, P_DB_INSERT, P_DB_DEL,
	P_QOS_SET, P_QOS_REMOVE, P_PUB_ACCEPTED, P_MAX
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
	/* or one trap, where handle_pub_retain is a function of its own */
	[P_PUB_ACCEPTED] = { .program = "nmq_pub_accepted", .fn = FN_PUB_ACCEPTED },
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

static int nmq_resolve(struct nh_target *t, char *err, size_t errlen)
{
	struct nmq_resolved *r = calloc(1, sizeof(*r));

	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	t->resolved = r;
	if (nmq_is_stripped(t->elf))
		return nmq_resolve_stripped(t, r, err, errlen);
	return nmq_resolve_symbols(t, r, err, errlen);
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
		/* one form or the other: resolve chose */
		bool alternative = i <= FN_NOTIFY_DISCONNECT || i == FN_PUB_ACCEPTED;

		sites[p] = (struct nh_probe_site){ .use = want != 0, .file_off = r->fn[i] };
		if (!want || (r->have[i] && nmq_needs_offsets(&r->off, i)))
			continue;
		sites[p].use = false;
		if (alternative || !o->events)
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
	/* Accepted publishes: one trap where the build allows, not two. */
	if (sites[P_PUB_ACCEPTED].use)
		sites[P_HANDLE_PUB].use = sites[P_HANDLE_PUB_RET].use = false;
	return 0;
}

static void *nmq_skel_open(const struct nh_target *t, const struct nh_probe_cfg *cfg,
			   struct bpf_object_skeleton **skeleton)
{
	const struct nmq_resolved *r = t->resolved;
	struct nanomq_bpf *skel = nanomq_bpf__open();

	if (!skel)
		return NULL;
	skel->rodata->cfg = *cfg;
	skel->rodata->off = r->off;
	*skeleton = skel->skeleton;
	return skel;
}

static void nmq_skel_destroy(void *skel)
{
	nanomq_bpf__destroy(skel);
}

static const struct nh_skel_ops nmq_skel = { nmq_skel_open, nmq_skel_destroy };

static int nmq_attach(struct nh_target *t, const struct nh_attach_opts *o,
		      struct nh_attachment *out, char *err, size_t errlen)
{
	const struct nmq_resolved *r = t->resolved;
	struct nh_probe_site sites[P_MAX];
	struct nmq_state *st;

	if (nmq_sites(t, r, o, sites, err, errlen))
		return -1;
	st = nh_broker_attach(t, o, sizeof(*st), &nmq_skel, nmq_probes, sites, P_MAX, out, err,
			      errlen);
	if (!st)
		return -1;
	nmq_read_seed(t, st);
	return 0;
}

static void nmq_traps(const struct nh_target *t, FILE *out)
{
	const struct nmq_resolved *r = t->resolved;
	struct nh_attach_opts all = { 0 };
	struct nh_probe_site sites[P_MAX];
	struct nh_trap_fn fns[FN_MAX];
	bool used[P_MAX];
	char err[256];

	if (!r || nmq_sites(t, r, &all, sites, err, sizeof(err)))
		return;
	for (int i = 0; i < FN_MAX; i++) {
		bool names_clients = i <= FN_NOTIFY_DISCONNECT || i == FN_PIPE_SET_PID;

		fns[i] = (struct nh_trap_fn){ .name = nmq_fns[i].name, .events = nmq_fns[i].events,
					      .per_connection = names_clients ? BY_PIPE : 0 };
	}
	for (int p = 0; p < P_MAX; p++)
		used[p] = sites[p].use;
	nh_print_traps(out, nmq_probes, used, P_MAX, fns);
}

static void nmq_detach(struct nh_attachment *a)
{
	nh_broker_state_free(a->state);
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
	.decode = nmq_decode,
	.traps = nmq_traps,
};
