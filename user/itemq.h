/* SPDX-License-Identifier: MIT */
/*
 * What the delivery engines (deliver.c, jetstream.c) share about items:
 * a lane's FIFO of items waiting to be sent (a ring that grows on demand,
 * since most of the time a lane is empty), handing items over in
 * submission order, and the end of an item.
 */
#ifndef NH_ITEMQ_H
#define NH_ITEMQ_H

#include <stdbool.h>
#include <stddef.h>

#include "deliver.h"

struct nh_itemq {
	struct nh_deliver_item *q;
	size_t head, len, cap;
};

/* Appends a copy of *it; 0, or -1 out of memory (nothing changed). */
int nh_itemq_push(struct nh_itemq *q, const struct nh_deliver_item *it);

/* The oldest item, removed; q->len must be > 0. */
struct nh_deliver_item nh_itemq_pop(struct nh_itemq *q);

/* The i-th oldest (i < q->len), in place. */
static inline struct nh_deliver_item *nh_itemq_at(const struct nh_itemq *q, size_t i)
{
	return &q->q[(q->head + i) % q->cap];
}

/* Forgets every item (their bodies are the caller's to have freed). */
static inline void nh_itemq_clear(struct nh_itemq *q)
{
	q->head = 0;
	q->len = 0;
}

void nh_itemq_free(struct nh_itemq *q);

/* An engine is done with an item: counts its outcome in st and hands it
 * to on_result (which owns its body from then on), or frees the body. */
void nh_item_finished(struct nh_deliver_stats *st, nh_deliver_result_fn on_result, void *ctx,
		      struct nh_deliver_item *it, const struct nh_deliver_result *r);

/* An item an engine hands over (nh_deliver_take and its JetStream twin),
 * and whether it is on the wire. */
struct nh_taken {
	struct nh_deliver_item *it;
	bool running;
};

/* Sorts by the items' seq: the order they were submitted in. */
void nh_taken_sort(struct nh_taken *v, size_t n);

#endif
