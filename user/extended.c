// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "extended.h"
#include "fnv.h"

/* Open addressing on client ids; grows at 3/4 full. One counter per
 * client id ever seen: memory grows with distinct clients (tens of bytes
 * each), never with events. */
struct seq_slot {
	char *clientid; /* NULL = empty */
	uint64_t seq;
};

struct nh_extender {
	char node[256];
	uint64_t id_prefix;  /* random per nanohook run */
	uint64_t id_counter;
	char event_id[40];
	struct seq_slot *slots;
	size_t cap, used;
};

static int grow(struct nh_extender *x)
{
	size_t cap = x->cap ? x->cap * 2 : 1024;
	struct seq_slot *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < x->cap; i++) {
		struct seq_slot *s = &x->slots[i];
		size_t j;

		if (!s->clientid)
			continue;
		j = nh_fnv1a64(s->clientid, strlen(s->clientid)) & (cap - 1);
		while (slots[j].clientid)
			j = (j + 1) & (cap - 1);
		slots[j] = *s;
	}
	free(x->slots);
	x->slots = slots;
	x->cap = cap;
	return 0;
}

/* Next sequence number of a client id; 0 if memory ran out. */
static uint64_t next_seq(struct nh_extender *x, struct nh_str id)
{
	size_t j;

	if ((x->used + 1) * 4 > x->cap * 3 && grow(x))
		return 0;
	j = nh_fnv1a64(id.ptr, id.len) & (x->cap - 1);
	while (x->slots[j].clientid) {
		if (strlen(x->slots[j].clientid) == id.len && !memcmp(x->slots[j].clientid, id.ptr, id.len))
			return ++x->slots[j].seq;
		j = (j + 1) & (x->cap - 1);
	}
	x->slots[j].clientid = strndup(id.ptr ? id.ptr : "", id.len);
	if (!x->slots[j].clientid)
		return 0;
	x->used++;
	return x->slots[j].seq = 1;
}

struct nh_extender *nh_extender_new(const char *node)
{
	struct nh_extender *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	if (node)
		snprintf(x->node, sizeof(x->node), "%s", node);
	else if (gethostname(x->node, sizeof(x->node) - 1))
		snprintf(x->node, sizeof(x->node), "nanohook");
	/* Unique across runs: a random prefix (time as a fallback) and a
	 * counter. */
	if (getrandom(&x->id_prefix, sizeof(x->id_prefix), 0) != sizeof(x->id_prefix))
		x->id_prefix = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (grow(x)) {
		free(x);
		return NULL;
	}
	return x;
}

void nh_extender_free(struct nh_extender *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->cap; i++)
		free(x->slots[i].clientid);
	free(x->slots);
	free(x);
}

void nh_extender_next(struct nh_extender *x, const struct nh_event *ev,
		      struct nh_body_extra *extra)
{
	snprintf(x->event_id, sizeof(x->event_id), "%016llx%016llx",
		 (unsigned long long)x->id_prefix, (unsigned long long)++x->id_counter);
	extra->node = x->node;
	extra->event_id = x->event_id;
	extra->seq = next_seq(x, ev->clientid);
}
