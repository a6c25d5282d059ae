/* SPDX-License-Identifier: MIT */
/*
 * The seam between nanohook and the brokers it observes. Each broker is
 * one file (broker_<name>.c) that defines a `struct nh_broker`: how to
 * recognise its binary, how to establish every function and field the
 * probes need (recording how each was found, for `nanohook probe`), and
 * how to load and attach its BPF program. Adding a broker means adding
 * one such file and listing it in broker.c.
 */
#ifndef NH_BROKER_H
#define NH_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "event.h"

struct nh_elf;

enum nh_broker_id { NH_BROKER_NANOMQ = 1, NH_BROKER_MOSQUITTO = 2 };

/* One line of `nanohook probe`: a function or field, its value, and how
 * it was established. */
struct nh_finding {
	char what[64];
	char value[48];
	char source[160];
	bool ok;        /* false: required and missing (refuse to attach) */
};

#define NH_MAX_FINDINGS 48

/* A process to observe, and what was learnt about its binary. */
struct nh_target {
	pid_t pid;                /* 0 when probing a file only */
	char exe[4096];           /* the binary as this process sees it */
	struct nh_elf *elf;
	const struct nh_broker *broker;
	struct nh_finding findings[NH_MAX_FINDINGS];
	size_t n_findings;
	void *resolved;           /* the broker's own result of resolve() */
};

/* What the capture layer needs from an attached program. The fds are
 * the attachment's own duplicates: they outlive detach(), so the ring
 * buffer can be drained and the counters read after the probes are gone. */
struct nh_attachment {
	const struct nh_broker *broker;
	int ringbuf_fd;
	int counters_fd;          /* per-CPU array of NH_CNT_MAX u64 */
	size_t n_links;
	void *state;              /* skeleton and links, broker-owned */
};

struct nh_attach_opts {
	uint32_t events;          /* bit (1 << NH_EV_*) per event a rule
				   * wants; 0 = every event */
	unsigned payload_max;
	size_t ringbuf_bytes;
	int share_ringbuf_fd;     /* -1, or a ring buffer to write into */
	const char *pin_dir;      /* NULL, or a bpffs folder to pin into (--pin) */
};

struct nh_broker {
	const char *name;
	enum nh_broker_id id;
	/* > 0 if the binary looks like this broker (higher = surer). */
	int (*detect)(struct nh_elf *elf);
	/* Establish functions and offsets, adding findings. -1 (with a
	 * message in err naming what is missing) refuses the attach. */
	int (*resolve)(struct nh_target *t, char *err, size_t errlen);
	int (*attach)(struct nh_target *t, const struct nh_attach_opts *o,
		      struct nh_attachment *out, char *err, size_t errlen);
	void (*detach)(struct nh_attachment *a);
	void (*release)(struct nh_target *t); /* free t->resolved */
	/* Optional: finish an event from a checked record with what only
	 * this broker knows (raw enums, joins across records, raw packets
	 * that hold several events). Returns 0 to deliver ev as it now is;
	 * 1 when it handed its events to emit itself (zero or more: a
	 * SUBSCRIBE gives one per filter); -1 to reject it as malformed;
	 * -2 when a record it must join with (the delivery an ack
	 * acknowledges) was never seen. Rejections are counted. */
	int (*decode)(struct nh_attachment *a, const struct nh_record *rec,
		      struct nh_event *ev,
		      void (*emit)(void *ctx, const struct nh_event *ev), void *emit_ctx);
};

extern const struct nh_broker nh_broker_nanomq;
extern const struct nh_broker nh_broker_mosquitto;

/* Does an attach with these options need probes for event `ev`? */
static inline bool nh_attach_wants(const struct nh_attach_opts *o, enum nh_event_type ev)
{
	return !o->events || (o->events & (1u << ev));
}

/* Broker by name ("nanomq"), or NULL. */
const struct nh_broker *nh_broker_by_name(const char *name);
/* Comma-separated list of names, for --help and errors. */
const char *nh_broker_names(void);

/* Opens the target's binary (through /proc/PID/root for processes in
 * other mount namespaces), picks its broker (or uses `forced`) and
 * resolves it. Findings are kept even on failure, for the report. */
int nh_target_open(struct nh_target *t, pid_t pid, const char *exe_path,
		   const struct nh_broker *forced, char *err, size_t errlen);
void nh_target_close(struct nh_target *t);

struct bpf_link;

/* Pinned attachments (--pin DIR), for brokers' attach and `detach`:
 * reuse: 1 and out's fds and link count filled if this process's probes
 * are pinned under dir, 0 if none are, -1 (err set) if dir is unusable.
 * save: pins the ring buffer, the counters and the links. remove: unpins
 * them, which detaches the probes. */
int nh_pins_reuse(const char *dir, pid_t pid, struct nh_attachment *out, char *err,
		  size_t errlen);
int nh_pins_save(const char *dir, pid_t pid, int ringbuf_fd, int counters_fd,
		 struct bpf_link *const *links, size_t n, char *err, size_t errlen);
int nh_pins_remove(const char *dir, pid_t pid, char *err, size_t errlen);

struct nh_disasm_result;
struct bpf_program;

/* For broker files: the reads argument `argno` of function `fn` makes
 * (see disasm.h); -1 if the function or its code cannot be had. */
int nh_broker_func_accesses(struct nh_target *t, const char *fn, int argno, unsigned flags,
			    struct nh_disasm_result *res);
/* Attaches prog at file_off of the target's binary: to its process, or
 * to every process running the file when the target has no PID. */
int nh_broker_attach_uprobe(struct nh_target *t, struct bpf_program *prog, bool ret,
			    uint64_t file_off, struct bpf_link **link, char *err, size_t errlen);

/* For broker files: a loaded attachment's ring buffer, counters and
 * state, the fds duplicated. */
void nh_attachment_fill(struct nh_attachment *out, int ringbuf_fd, int counters_fd, void *state);

/* Closes the attachment's fds (after detach and the last drain). */
void nh_attachment_close_fds(struct nh_attachment *a);

/* For broker files: record a finding. */
void nh_finding_add(struct nh_target *t, bool ok, const char *what,
		    const char *source, const char *value_fmt, ...)
	__attribute__((format(printf, 5, 6)));
void nh_target_print_findings(const struct nh_target *t, FILE *out);

#endif
