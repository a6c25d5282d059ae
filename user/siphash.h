/* SPDX-License-Identifier: MIT */
/* SipHash-2-4 (Aumasson, Bernstein 2012): NanoMQ names each client's pipe
 * with a keyed SipHash of its client id, folded to 32 bits. */
#ifndef NH_SIPHASH_H
#define NH_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t nh_siphash24(const void *data, size_t len, const uint8_t key[16]);

/* NanoMQ's pipe id of a client id: the 64-bit hash, high half XOR low. */
uint32_t nh_nanomq_pipe_id(const char *clientid, size_t len, const uint8_t key[16]);

#endif
