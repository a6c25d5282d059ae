/* SPDX-License-Identifier: MIT */
/*
 * QoS 1/2 deliveries waiting for their PUBACK / PUBCOMP. Brokers see an
 * acknowledgement only as (receiver, packet id); the acked event must
 * carry the message, so each delivery is kept until its ack takes it.
 *
 * Direct-mapped and bounded: a delivery whose slot is reused before its
 * ack arrives (thousands of unacknowledged messages in flight) makes that
 * ack unmatched, which is counted, never guessed.
 */
#ifndef NH_DELIVERIES_H
#define NH_DELIVERIES_H

#include <stdint.h>

#include "event.h"

struct nh_deliveries;

struct nh_deliveries *nh_deliveries_new(void);
void nh_deliveries_free(struct nh_deliveries *t);

/* Keeps a copy of the delivered message of `ev` under (receiver, id). */
void nh_deliveries_put(struct nh_deliveries *t, uint64_t receiver, uint16_t id,
		       const struct nh_event *ev);

/* Fills the message fields of `ev` (topic, payload, qos, retain, the
 * publisher) from the delivery (receiver, id), which is then forgotten;
 * the pointers stay valid until the next call. -1 if there is none. */
int nh_deliveries_take(struct nh_deliveries *t, uint64_t receiver, uint16_t id,
		       struct nh_event *ev);

#endif
