// SPDX-License-Identifier: MIT
#include <stdint.h>
#include <stdlib.h>

#include "itemq.h"

int nh_itemq_push(struct nh_itemq *q, const struct nh_deliver_item *it)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		struct nh_deliver_item *v = malloc(cap * sizeof(*v));

		if (!v)
			return -1;
		for (size_t i = 0; i < q->len; i++)
			v[i] = *nh_itemq_at(q, i);
		free(q->q);
		q->q = v;
		q->cap = cap;
		q->head = 0;
	}
	q->q[(q->head + q->len) % q->cap] = *it;
	q->len++;
	return 0;
}

struct nh_deliver_item nh_itemq_pop(struct nh_itemq *q)
{
	struct nh_deliver_item it = q->q[q->head];

	q->head = (q->head + 1) % q->cap;
	q->len--;
	return it;
}

void nh_itemq_free(struct nh_itemq *q)
{
	free(q->q);
	q->q = NULL;
	q->head = q->len = q->cap = 0;
}

static int cmp_taken(const void *a, const void *b)
{
	uint64_t x = ((const struct nh_taken *)a)->it->seq, y = ((const struct nh_taken *)b)->it->seq;

	return (x > y) - (x < y);
}

void nh_taken_sort(struct nh_taken *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_taken);
}

void nh_item_finished(struct nh_deliver_stats *st, nh_deliver_result_fn on_result, void *ctx,
		      struct nh_deliver_item *it, const struct nh_deliver_result *r)
{
	switch (r->outcome) {
	case NH_OUT_DELIVERED: break;
	case NH_OUT_REJECTED: st->rejected++; break;
	case NH_OUT_GAVE_UP_ATTEMPTS: st->gave_up_attempts++; break;
	case NH_OUT_GAVE_UP_AGE: st->gave_up_age++; break;
	case NH_OUT_RELEASED: st->released++; break;
	}
	if (on_result) {
		on_result(ctx, it, r);
		return;
	}
	free(it->body);
}
