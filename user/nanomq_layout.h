/* SPDX-License-Identifier: MIT */
/*
 * NanoMQ's struct layouts by version (byte offsets, LP64), as NanoMQ and
 * NanoNNG shipped them: the rows the resolvers (nanomq_resolve.c with
 * symbols, nanomq_stripped.c without) accept only when the binary's own
 * code confirms them. Included by those two files only.
 */
#ifndef NH_NANOMQ_LAYOUT_H
#define NH_NANOMQ_LAYOUT_H

/* conn_param layouts by NanoNNG version (byte offsets, LP64). */
struct nmq_cp_layout {
	const char *versions;
	int keepalive, proto_ver, con_flag, clientid, username;
};

static const struct nmq_cp_layout cp_layouts[] = {
	{ "0.18-0.19.1", 6, 4, 5, 48, 96 },
	{ "0.19.5-0.24.8", 46, 50, 51, 96, 144 },
	{ "0.24.9-0.25.x", 74, 78, 79, 120, 168 },
};

/* nano_work layouts; cp_mask says which conn_param layouts (bit i =
 * cp_layouts[i]) shipped together with it. */
struct nmq_work_layout {
	const char *versions;
	int msg, cparam, pub_packet;
	unsigned cp_mask;
};

static const struct nmq_work_layout work_layouts[] = {
	{ "0.18.1-0.22.1, 0.22.3-0.22.5", 16, 104, 112, 0x3 },
	{ "0.22.2, 0.22.6-0.23.10", 16, 112, 120, 0x2 },
	{ "0.24.0-0.24.13", 32, 128, 136, 0x6 },
	{ "0.24.14-0.25.x", 32, 136, 144, 0x4 },
};

/* pub_packet_struct, unchanged 0.18 - 0.25.x. */
static const struct {
	int fixed_header, packet_id, topic, payload;
} pp_layout = { 0, 8, 16, 48 };

/* Both NanoNNG string structs ({ char *body; uint32_t len; } and the
 * payload's { uint8_t *data; uint32_t len; }) keep len 8 bytes after the
 * pointer in every version. */
#define STR_LEN_AFTER_BODY 8

#endif
