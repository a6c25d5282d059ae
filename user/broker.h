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
#include "nh_record.h"

/* Reasons userspace refuses a record. */
enum nh_rec_reject {
	NH_REJ_MALFORMED = 0, /* size or lengths inconsistent */
	NH_REJ_READ_FAULT,    /* BPF could not read broker memory */
	NH_REJ_TRUNCATED,     /* client id, username or topic longer than a record holds */
	NH_REJ_UNMATCHED,     /* names a record never seen (e.g. an ack before nanohook attached) */
	NH_REJ_RESEND,        /* a QoS 2 PUBLISH resent (DUP) before its release: the
			       * same message, which NanoMQ takes in again */
	NH_REJ_INVALID_PACKET, /* a raw CONNECT / (UN)SUBSCRIBE that breaks MQTT's rules:
				* the broker refuses it too, so no client asked anything */
	NH_REJ_MAX
};

/* What a broker's decode returns to refuse a record for `why`. */
#define NH_DECODE_REJECT(why) (-1 - (int)(why))


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
	const char *pin_dir;      /* NULL, or a bpffs folder to pin into (--pin) */
};

/*
 * Probes. Each broker file keeps a designated-initializer table of its
 * probes, indexed by its own enum: the BPF program (by its name in
 * bpf/<broker>.bpf.c), the broker function it sits on (an index into the
 * broker's table of functions, which says which events need it), and
 * whether it runs at the function's return. For one attach, the broker
 * decides per probe whether it is used and where it goes (a site), and
 * nh_probes_attach does the rest, the same for every broker.
 */
struct nh_probe {
	const char *program;
	int fn;                   /* the broker's enum of probed functions */
	bool ret;                 /* a return probe */
};

struct nh_probe_site {
	bool use;
	uint64_t file_off;        /* of the function in the target's binary */
};

#define NH_MAX_PROBES 24

struct bpf_link;

/* The links of one broker's attached probes (freed by nh_probes_detach). */
struct nh_probe_links {
	struct bpf_link *link[NH_MAX_PROBES];
	size_t n;
};

struct bpf_object_skeleton;
struct nh_deliveries;

/* The part of an attachment's state (nh_attachment.state) every broker
 * has; each broker's own state struct starts with it. */
struct nh_broker_state {
	void *skel;                      /* NULL when pinned probes were taken over */
	void (*skel_destroy)(void *skel);
	struct nh_probe_links links;
	struct nh_deliveries *deliveries; /* deliveries waiting for their acks */
};

/* A broker's skeleton, seen generically: open opens it with its read-only
 * data set (cfg and the broker's offsets from t->resolved) and gives its
 * libbpf skeleton; destroy frees it. */
struct nh_skel_ops {
	void *(*open)(const struct nh_target *t, const struct nh_probe_cfg *cfg,
		      struct bpf_object_skeleton **skeleton);
	void (*destroy)(void *skel);
};

/*
 * The attach every broker shares. Allocates the broker's state
 * (state_size bytes, starting with a struct nh_broker_state), then: with
 * --pin, takes over the probes already pinned for this process; otherwise
 * opens the skeleton, sizes the ring buffer, loads only the used probes'
 * programs, attaches each at its site (to the process, or to every process
 * running the file), and pins them with --pin. Fills out (fds, link count,
 * state) and returns the state, or NULL and a reason in err.
 */
void *nh_broker_attach(struct nh_target *t, const struct nh_attach_opts *o, size_t state_size,
		       const struct nh_skel_ops *ops, const struct nh_probe *probes,
		       const struct nh_probe_site *sites, size_t n, struct nh_attachment *out,
		       char *err, size_t errlen);

/* Detaches (pinned probes stay: their pins hold them) and frees the state
 * nh_broker_attach made; NULL is fine. */
void nh_broker_state_free(void *state);

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
	 * SUBSCRIBE gives one per filter); NH_DECODE_REJECT(reason) to
	 * refuse it, which is counted under that reason. */
	int (*decode)(struct nh_attachment *a, const struct nh_record *rec,
		      struct nh_event *ev,
		      void (*emit)(void *ctx, const struct nh_event *ev), void *emit_ctx);
	/* Optional, for `nanohook probe`: the traps each event costs with
	 * every event wanted (nh_print_traps). */
	void (*traps)(const struct nh_target *t, FILE *out);
};

/* A probed function as nh_print_traps() counts it: the events whose path
 * runs through it, and those for which it fires once per connection
 * rather than once per event (it names the client for later events). */
struct nh_trap_fn {
	const char *name;
	uint32_t events;
	uint32_t per_connection;
};

/* "traps per event": for each event, the probes (used[p]) a single event
 * hits in the broker's thread, by function, entry or return. */
void nh_print_traps(FILE *out, const struct nh_probe *probes, const bool *used, size_t n_probes,
		    const struct nh_trap_fn *fns);

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

/* Pinned attachments (--pin DIR), for `detach`: unpins the probes of a
 * process pinned under dir, which detaches them. */
int nh_pins_remove(const char *dir, pid_t pid, char *err, size_t errlen);

struct nh_disasm_result;

/* For broker files: the reads argument `argno` of function `fn` makes
 * (see disasm.h); -1 if the function or its code cannot be had. */
int nh_broker_func_accesses(struct nh_target *t, const char *fn, int argno, unsigned flags,
			    struct nh_disasm_result *res);
/* Closes the attachment's fds (after detach and the last drain). */
void nh_attachment_close_fds(struct nh_attachment *a);

/* For broker files: a SUBSCRIBE or UNSUBSCRIBE record whose payload holds
 * the raw packet body becomes one event per topic filter, handed to emit
 * (ev->packet_id set, ev->topic and ev->sub_qos per filter). Returns 1 (the
 * events went to emit), or -1 when the packet was cut or does not parse. */
int nh_broker_emit_sub_filters(struct nh_event *ev,
			       void (*emit)(void *ctx, const struct nh_event *ev), void *emit_ctx);

/* For broker files: record a finding. */
void nh_finding_add(struct nh_target *t, bool ok, const char *what,
		    const char *source, const char *value_fmt, ...)
	__attribute__((format(printf, 5, 6)));
void nh_target_print_findings(const struct nh_target *t, FILE *out);

#endif
