// SPDX-License-Identifier: MIT
#include <stdlib.h>
#include <string.h>

#include "deliveries.h"

#define SLOTS 4096 /* 1 << 12: the slot is the top 12 bits of a hash */

struct delivery {
	uint64_t receiver; /* 0 = empty */
	uint16_t id;
	uint8_t qos;
	bool retain, has_from_username;
	char *topic, *from_clientid, *from_username;
	uint8_t *payload;
	size_t payload_len, payload_full_len;
};

struct nh_deliveries {
	struct delivery slots[SLOTS];
	struct delivery taken; /* what the last take handed out */
};

static void clear(struct delivery *d)
{
	free(d->topic);
	free(d->from_clientid);
	free(d->from_username);
	free(d->payload);
	memset(d, 0, sizeof(*d));
}

static char *dup_str(struct nh_str s)
{
	char *p = malloc(s.len + 1);

	if (p) {
		if (s.len)
			memcpy(p, s.ptr, s.len);
		p[s.len] = 0;
	}
	return p;
}

static struct delivery *slot(struct nh_deliveries *t, uint64_t receiver, uint16_t id)
{
	/* Fibonacci hashing of (receiver, id): the top bits of the product
	 * depend on every input bit. */
	uint64_t h = (receiver ^ (receiver >> 29) ^ ((uint64_t)id << 40)) * 0x9e3779b97f4a7c15ull;

	return &t->slots[h >> (64 - 12)];
}

struct nh_deliveries *nh_deliveries_new(void)
{
	return calloc(1, sizeof(struct nh_deliveries));
}

void nh_deliveries_free(struct nh_deliveries *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		clear(&t->slots[i]);
	clear(&t->taken);
	free(t);
}

void nh_deliveries_put(struct nh_deliveries *t, uint64_t receiver, uint16_t id,
		       const struct nh_event *ev)
{
	struct delivery *d = slot(t, receiver, id);

	clear(d);
	d->topic = dup_str(ev->topic);
	d->from_clientid = dup_str(ev->from_clientid);
	d->from_username = dup_str(ev->from_username);
	d->payload = malloc(ev->payload_len ? ev->payload_len : 1);
	if (!d->topic || !d->from_clientid || !d->from_username || !d->payload) {
		clear(d); /* out of memory: its ack will be counted unmatched */
		return;
	}
	if (ev->payload_len)
		memcpy(d->payload, ev->payload, ev->payload_len);
	d->payload_len = ev->payload_len;
	d->payload_full_len = ev->payload_full_len;
	d->receiver = receiver ? receiver : 1;
	d->id = id;
	d->qos = ev->qos;
	d->retain = ev->retain;
	d->has_from_username = ev->has_from_username;
}

int nh_deliveries_take(struct nh_deliveries *t, uint64_t receiver, uint16_t id,
		       struct nh_event *ev)
{
	struct delivery *d = slot(t, receiver, id);

	if (!d->receiver || d->receiver != (receiver ? receiver : 1) || d->id != id)
		return -1;
	clear(&t->taken);
	t->taken = *d;
	memset(d, 0, sizeof(*d));
	d = &t->taken;
	ev->topic = (struct nh_str){ d->topic, strlen(d->topic) };
	ev->from_clientid = (struct nh_str){ d->from_clientid, strlen(d->from_clientid) };
	ev->from_username = (struct nh_str){ d->from_username, strlen(d->from_username) };
	ev->has_from_username = d->has_from_username;
	ev->qos = d->qos;
	ev->retain = d->retain;
	ev->payload = d->payload;
	ev->payload_len = d->payload_len;
	ev->payload_full_len = d->payload_full_len;
	return 0;
}
