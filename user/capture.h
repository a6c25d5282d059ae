/* SPDX-License-Identifier: MIT */
/*
 * The ring buffer side: turns records from one or more attached BPF
 * programs into checked events. A record is trusted only after its
 * lengths agree with its size; anything else is counted, never delivered.
 */
#ifndef NH_CAPTURE_H
#define NH_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "event.h"

typedef void (*nh_event_fn)(void *ctx, const struct nh_event *ev);

struct nh_capture;

struct nh_capture *nh_capture_new(nh_event_fn fn, void *ctx);
/* Starts reading the attachment's ring buffer. `a` must outlive the
 * capture: its broker decodes the records. */
int nh_capture_add(struct nh_capture *c, const struct nh_attachment *a);
/* The fd to poll for readability; -1 before the first add. */
int nh_capture_fd(const struct nh_capture *c);
/* Hands every available record to the callback without blocking.
 * Returns the number of records, or -1 on error. */
int nh_capture_consume(struct nh_capture *c);
void nh_capture_free(struct nh_capture *c);

uint64_t nh_capture_rejected(const struct nh_capture *c, enum nh_rec_reject r);
const char *nh_rec_reject_name(enum nh_rec_reject r);

/* Checks a raw record and fills `ev` with pointers into it. Returns -1
 * and the reason if the record must not be delivered. Exposed for the
 * unit and fuzz tests. */
int nh_record_decode(const void *data, size_t size, uint64_t boot_to_wall_ns,
		     struct nh_event *ev, enum nh_rec_reject *why);

/* Sums a per-CPU counter array map (NH_CNT_MAX entries) into out[]. */
int nh_bpf_counters_read(int map_fd, uint64_t out[NH_CNT_MAX]);

#endif
