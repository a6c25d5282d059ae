// SPDX-License-Identifier: MIT
/* The broker registry and what every broker shares: opening the target's
 * binary, choosing its broker, and the findings report. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "broker.h"
#include "config.h"
#include "deliveries.h"
#include "disasm.h"
#include "elf_file.h"
#include "mqtt.h"
#include "target_watch.h"

static const struct nh_broker *const brokers[] = {
	&nh_broker_nanomq,
	&nh_broker_mosquitto,
};

#define N_BROKERS (sizeof(brokers) / sizeof(brokers[0]))

const struct nh_broker *nh_broker_by_name(const char *name)
{
	for (size_t i = 0; i < N_BROKERS; i++)
		if (!strcmp(brokers[i]->name, name))
			return brokers[i];
	return NULL;
}

const char *nh_broker_names(void)
{
	return "nanomq, mosquitto";
}

void nh_finding_add(struct nh_target *t, bool ok, const char *what,
		    const char *source, const char *value_fmt, ...)
{
	struct nh_finding *f;
	va_list ap;

	if (t->n_findings >= NH_MAX_FINDINGS)
		return;
	f = &t->findings[t->n_findings++];
	f->ok = ok;
	snprintf(f->what, sizeof(f->what), "%s", what);
	snprintf(f->source, sizeof(f->source), "%s", source);
	va_start(ap, value_fmt);
	vsnprintf(f->value, sizeof(f->value), value_fmt, ap);
	va_end(ap);
}

void nh_print_traps(FILE *out, const struct nh_probe *probes, const bool *used, size_t n_probes,
		    const struct nh_trap_fn *fns)
{
	fputs("traps per event (uprobes and uretprobes on one event's path, in the broker's thread):\n",
	      out);
	for (int e = NH_EV_NONE + 1; e < NH_EV_MAX; e++) {
		char each[256] = "", conn[256] = "";
		size_t at = 0, cat = 0;
		unsigned n = 0;

		for (size_t p = 0; p < n_probes; p++) {
			const struct nh_trap_fn *f = &fns[probes[p].fn];
			const char *kind = probes[p].ret ? " (return)" : "";

			if (!used[p] || !(f->events & (1u << e)))
				continue;
			if (f->per_connection & (1u << e)) {
				if (cat < sizeof(conn))
					cat += (size_t)snprintf(conn + cat, sizeof(conn) - cat, "%s%s%s",
								cat ? ", " : "", f->name, kind);
				continue;
			}
			n++;
			if (at < sizeof(each))
				at += (size_t)snprintf(each + at, sizeof(each) - at, "%s%s%s",
						       at ? " + " : "", f->name, kind);
		}
		if (!n && !cat) {
			fprintf(out, "  %-27s -  not probed in this build\n",
				nh_event_name((enum nh_event_type)e));
			continue;
		}
		fprintf(out, "  %-27s %u  %s%s%s\n", nh_event_name((enum nh_event_type)e), n, each,
			cat ? "; once per connection: " : "", conn);
	}
}

void nh_target_print_findings(const struct nh_target *t, FILE *out)
{
	for (size_t i = 0; i < t->n_findings; i++) {
		const struct nh_finding *f = &t->findings[i];

		fprintf(out, "  %-7s %-38s %-12s %s\n", f->ok ? "ok" : "MISSING",
			f->what, f->value, f->source);
	}
}

/* The binary of a process: /proc/PID/exe names the very inode the process
 * runs, even in another mount namespace or after the file was replaced,
 * and the kernel accepts it as a uprobe path. */
static int target_path(struct nh_target *t, pid_t pid, const char *exe_path,
		       char *err, size_t errlen)
{
	if (exe_path) {
		if (access(exe_path, R_OK)) {
			snprintf(err, errlen, "%s: %s", exe_path, strerror(errno));
			return -1;
		}
		snprintf(t->exe, sizeof(t->exe), "%s", exe_path);
		return 0;
	}
	snprintf(t->exe, sizeof(t->exe), "/proc/%d/exe", (int)pid);
	if (access(t->exe, R_OK)) {
		snprintf(err, errlen, "process %d: %s", (int)pid,
			 errno == ENOENT ? "no such process" : strerror(errno));
		return -1;
	}
	return 0;
}

int nh_target_open(struct nh_target *t, pid_t pid, const char *exe_path,
		   const struct nh_broker *forced, char *err, size_t errlen)
{
	char elf_err[256];
	int best = 0;

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (target_path(t, pid, exe_path, err, errlen))
		return -1;
	t->elf = nh_elf_open(t->exe, elf_err, sizeof(elf_err));
	if (!t->elf) {
		snprintf(err, errlen, "%s: %s", t->exe, elf_err);
		return -1;
	}
	if (forced) {
		t->broker = forced;
	} else {
		for (size_t i = 0; i < N_BROKERS; i++) {
			int score = brokers[i]->detect(t->elf);

			if (score > best) {
				best = score;
				t->broker = brokers[i];
			}
		}
		if (!t->broker) {
			snprintf(err, errlen,
				 "%s: not a broker nanohook knows (%s); "
				 "use --broker to force one",
				 t->exe, nh_broker_names());
			return -1;
		}
	}
	return t->broker->resolve(t, err, errlen);
}

void nh_target_close(struct nh_target *t)
{
	if (t->broker && t->broker->release)
		t->broker->release(t);
	if (t->elf)
		nh_elf_close(t->elf);
	t->elf = NULL;
}

void nh_attachment_close_fds(struct nh_attachment *a)
{
	if (a->ringbuf_fd > 0)
		close(a->ringbuf_fd);
	if (a->counters_fd > 0)
		close(a->counters_fd);
	a->ringbuf_fd = a->counters_fd = -1;
}

/* --- pinning -------------------------------------------------------------
 * With --pin DIR the ring buffer, the counters and the uprobe links of an
 * attachment live in bpffs under DIR/<pid>-<start time>/: they outlive
 * nanohook, the probes keep collecting into the ring buffer while it
 * restarts, and the next nanohook for the same process picks them up. The
 * start time in the name keeps a reused PID from adopting stale probes. */

static int pin_path(char *buf, size_t len, const char *dir, pid_t pid, const char *leaf)
{
	int n = snprintf(buf, len, "%s/%d-%llu%s%s", dir, (int)pid,
			 (unsigned long long)nh_proc_start_time(pid), leaf ? "/" : "",
			 leaf ? leaf : "");

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool on_bpffs(const char *dir)
{
	struct statfs fs;

	return !statfs(dir, &fs) && fs.f_type == BPF_FS_MAGIC;
}

/* 1 and out's fds and link count filled if this process's probes are
 * pinned under dir, 0 if none are, -1 (err set) if dir is unusable. */
static int pins_reuse(const char *dir, pid_t pid, struct nh_attachment *out, char *err,
		      size_t errlen)
{
	char path[PATH_MAX];
	int rb, cnt;
	size_t n = 0;

	if (!on_bpffs(dir)) {
		snprintf(err, errlen, "--pin %s: not on a BPF filesystem (mount one: "
			 "mount -t bpf bpf /sys/fs/bpf)", dir);
		return -1;
	}
	if (pin_path(path, sizeof(path), dir, pid, "events"))
		return -1;
	rb = bpf_obj_get(path);
	if (rb < 0)
		return 0; /* nothing pinned for this process yet */
	pin_path(path, sizeof(path), dir, pid, "counters");
	cnt = bpf_obj_get(path);
	if (cnt < 0) {
		close(rb);
		snprintf(err, errlen, "%s: the ring buffer is pinned but not its counters", dir);
		return -1;
	}
	for (;; n++) {
		char leaf[32];

		snprintf(leaf, sizeof(leaf), "link%zu", n);
		pin_path(path, sizeof(path), dir, pid, leaf);
		if (access(path, F_OK))
			break;
	}
	out->ringbuf_fd = rb;
	out->counters_fd = cnt;
	out->n_links = n;
	return 1;
}

/* Pins the ring buffer, the counters and the links. */
static int pins_save(const char *dir, pid_t pid, int ringbuf_fd, int counters_fd,
		     struct bpf_link *const *links, size_t n, char *err, size_t errlen)
{
	char path[PATH_MAX], leaf[32];

	if (pin_path(path, sizeof(path), dir, pid, NULL) || (mkdir(path, 0700) && errno != EEXIST))
		goto fail;
	if (pin_path(path, sizeof(path), dir, pid, "events") || bpf_obj_pin(ringbuf_fd, path))
		goto fail;
	if (pin_path(path, sizeof(path), dir, pid, "counters") || bpf_obj_pin(counters_fd, path))
		goto fail;
	for (size_t i = 0, k = 0; i < n; i++) {
		if (!links[i])
			continue;
		snprintf(leaf, sizeof(leaf), "link%zu", k++);
		if (pin_path(path, sizeof(path), dir, pid, leaf) ||
		    bpf_link__pin((struct bpf_link *)links[i], path))
			goto fail;
		/* Closing our fd must not detach what the pin keeps. */
		bpf_link__disconnect((struct bpf_link *)links[i]);
	}
	return 0;
fail:
	snprintf(err, errlen, "pinning under %s: %s", path, strerror(errno));
	nh_pins_remove(dir, pid, NULL, 0);
	return -1;
}

int nh_pins_remove(const char *dir, pid_t pid, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (pin_path(path, sizeof(path), dir, pid, NULL))
		return -1;
	d = opendir(path);
	if (!d) {
		if (err)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char leaf[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(leaf, sizeof(leaf), "%s/%s", path, de->d_name) < (int)sizeof(leaf))
			unlink(leaf);
	}
	closedir(d);
	return rmdir(path);
}

/* --- helpers every broker file uses ------------------------------------- */

int nh_broker_func_accesses(struct nh_target *t, const char *fn, int argno, unsigned flags,
			    struct nh_disasm_result *res)
{
	struct nh_sym s;
	uint8_t *code;
	size_t len;
	int rc;

	if (nh_elf_find_func(t->elf, fn, &s) || !s.size)
		return -1;
	len = s.size > 65536 ? 65536 : s.size;
	code = malloc(len);
	if (!code)
		return -1;
	rc = nh_elf_read_vaddr(t->elf, s.vaddr, code, len);
	if (!rc)
		rc = nh_disasm_arg_accesses(nh_disasm_arch_for_machine(nh_elf_machine(t->elf)),
					    code, len, s.vaddr, argno, flags, res);
	free(code);
	return rc ? -1 : 0;
}

/* What every broker program reads before load (see nh_record.h). */
static struct nh_probe_cfg nh_probe_cfg_for(const struct nh_target *t,
					    const struct nh_attach_opts *o, enum nh_broker_id id)
{
	return (struct nh_probe_cfg){
		/* No PID (--exe, --name): every process running the file. */
		.target_tgid = (uint32_t)t->pid,
		.payload_max = o->payload_max,
		.broker_id = (uint8_t)id,
		.wakeup_ns = 1000000,
		/* Wake the reader for a batch before the ring is an eighth full. */
		.wakeup_bytes = o->ringbuf_bytes / 8 < (256 << 10) ? o->ringbuf_bytes / 8 : (256 << 10),
	};
}

/* 1: pinned probes taken over; 0: skel's used probes loaded, attached and
 * pinned; -1 and err. Links made are in `links` either way. */
static int probes_attach(struct nh_target *t, const struct nh_attach_opts *o,
			 struct bpf_object_skeleton *skel, const struct nh_probe *probes,
			 const struct nh_probe_site *sites, size_t n, struct nh_probe_links *links,
			 struct nh_attachment *out, char *err, size_t errlen)
{
	struct bpf_object *obj = *skel->obj;
	struct bpf_map *events, *counters;
	int rc;

	if (o->pin_dir && (rc = pins_reuse(o->pin_dir, t->pid, out, err, errlen)) != 0)
		return rc;
	if (n > NH_MAX_PROBES) {
		snprintf(err, errlen, "%zu probes: more than NH_MAX_PROBES", n);
		return -1;
	}
	events = bpf_object__find_map_by_name(obj, "events");
	counters = bpf_object__find_map_by_name(obj, "counters");
	if (!events || !counters || bpf_map__set_max_entries(events, (uint32_t)o->ringbuf_bytes)) {
		snprintf(err, errlen, "the BPF object has no events ring buffer or counters");
		return -1;
	}
	/* An unused probe's program is not even loaded. */
	for (size_t i = 0; i < n; i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(obj, probes[i].program);

		if (!prog) {
			snprintf(err, errlen, "the BPF object has no program %s", probes[i].program);
			return -1;
		}
		bpf_program__set_autoload(prog, sites[i].use);
	}
	rc = bpf_object__load_skeleton(skel);
	if (rc) {
		snprintf(err, errlen, "loading the BPF programs: %s (kernel with BTF, "
			 "uprobes and ring buffers, and root, are needed)", strerror(-rc));
		return -1;
	}
	links->n = n;
	out->n_links = 0;
	for (size_t i = 0; i < n; i++) {
		struct bpf_program *prog = bpf_object__find_program_by_name(obj, probes[i].program);

		links->link[i] = NULL;
		if (!sites[i].use)
			continue;
		/* No PID (--exe, --name): every process running the file. */
		links->link[i] = bpf_program__attach_uprobe(prog, probes[i].ret, t->pid ? t->pid : -1,
							    t->exe, (size_t)sites[i].file_off);
		if (!links->link[i]) {
			snprintf(err, errlen, "attaching %s to %s: %s", probes[i].program, t->exe,
				 strerror(errno));
			return -1;
		}
		out->n_links++;
	}
	if (o->pin_dir && pins_save(o->pin_dir, t->pid, bpf_map__fd(events), bpf_map__fd(counters),
				    links->link, n, err, errlen))
		return -1;
	/* Our own duplicates: they outlive the skeleton (see broker.h). */
	out->ringbuf_fd = dup(bpf_map__fd(events));
	out->counters_fd = dup(bpf_map__fd(counters));
	return 0;
}

void nh_broker_state_free(void *state)
{
	struct nh_broker_state *st = state;

	if (!st)
		return;
	for (size_t i = 0; i < st->links.n; i++)
		bpf_link__destroy(st->links.link[i]);
	if (st->skel)
		st->skel_destroy(st->skel);
	nh_deliveries_free(st->deliveries);
	free(st);
}

void *nh_broker_attach(struct nh_target *t, const struct nh_attach_opts *o, size_t state_size,
		       const struct nh_skel_ops *ops, const struct nh_probe *probes,
		       const struct nh_probe_site *sites, size_t n, struct nh_attachment *out,
		       char *err, size_t errlen)
{
	struct nh_broker_state *st = calloc(1, state_size);
	struct bpf_object_skeleton *skeleton = NULL;
	struct nh_probe_cfg cfg = nh_probe_cfg_for(t, o, t->broker->id);
	int rc;

	if (!st || !(st->deliveries = nh_deliveries_new())) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	st->skel_destroy = ops->destroy;
	st->skel = ops->open(t, &cfg, &skeleton);
	if (!st->skel) {
		snprintf(err, errlen, "opening the BPF object: %s", strerror(errno));
		nh_broker_state_free(st);
		return NULL;
	}
	rc = probes_attach(t, o, skeleton, probes, sites, n, &st->links, out, err, errlen);
	if (rc < 0) {
		nh_broker_state_free(st);
		return NULL;
	}
	if (rc > 0) { /* pinned probes taken over: no skeleton of ours */
		ops->destroy(st->skel);
		st->skel = NULL;
	}
	out->broker = t->broker;
	out->state = st;
	return st;
}

struct filter_emit {
	struct nh_event *ev;
	void (*emit)(void *ctx, const struct nh_event *ev);
	void *emit_ctx;
};

static int emit_filter(void *arg, const struct nh_mqtt_topic_req *t)
{
	struct filter_emit *fe = arg;

	fe->ev->topic = (struct nh_str){ t->filter.ptr, t->filter.len };
	fe->ev->sub_qos = t->opts & 3;
	fe->emit(fe->emit_ctx, fe->ev);
	return 0;
}

int nh_broker_emit_sub_filters(struct nh_event *ev,
			       void (*emit)(void *ctx, const struct nh_event *ev), void *emit_ctx)
{
	struct filter_emit fe = { ev, emit, emit_ctx };
	const uint8_t *pkt = ev->payload;
	size_t len = ev->payload_len;
	uint8_t ver = ev->proto_ver ? ev->proto_ver : 4;
	bool unsub = ev->type == NH_EV_UNSUBSCRIBE;
	uint16_t packet_id;

	if (ev->payload_len != ev->payload_full_len)
		return NH_DECODE_REJECT(NH_REJ_TRUNCATED);
	ev->payload = NULL;
	ev->payload_len = ev->payload_full_len = 0;
	/* Checked whole first: a malformed packet gives no event at all. */
	if (nh_mqtt_parse_sub(pkt, len, false, ver, unsub, NULL, NULL, &packet_id))
		return NH_DECODE_REJECT(NH_REJ_INVALID_PACKET);
	ev->packet_id = packet_id;
	nh_mqtt_parse_sub(pkt, len, false, ver, unsub, emit_filter, &fe, &packet_id);
	return 1;
}
