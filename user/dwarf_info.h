/* SPDX-License-Identifier: MIT */
/*
 * Struct member offsets from DWARF (libdw), for the builds that have it
 * (NanoMQ RelWithDebInfo / Debug). The first and most trusted source of
 * offsets when present; see disasm.h for binaries without it.
 */

#ifndef NH_DWARF_H
#define NH_DWARF_H

#include <stddef.h>

enum nh_dwarf_err {
	NH_DWARF_OK = 0,
	NH_DWARF_EOPEN = -1,     /* the file cannot be opened */
	NH_DWARF_ENODWARF = -2,  /* the file has no DWARF */
	NH_DWARF_ENOSTRUCT = -3, /* no struct/union/typedef of that name */
	NH_DWARF_ENOMEMBER = -4, /* the type has no such member (path) */
	NH_DWARF_EBAD = -5,      /* bad arguments, or DWARF we cannot read
				    (a location expression, a broken DIE) */
};

struct nh_dwarf;

/* Opens the DWARF of an ELF file; NULL and *err set on failure
 * (NH_DWARF_EOPEN or NH_DWARF_ENODWARF). */
struct nh_dwarf *nh_dwarf_open(const char *path, int *err);
void nh_dwarf_close(struct nh_dwarf *dw);

/*
 * Offset of `member` in the type named `type_name`: a struct or union tag
 * ("conn_param", "work") or a typedef of one ("nano_work"). `member` may be
 * a dotted path through nested structs and unions
 * ("var_header.publish.topic_name.body" = the sum of the offsets); members
 * of anonymous structs/unions are found as if they were direct members.
 * When several types share the name (different compile units or
 * libraries), the first complete one that has the member wins.
 * On success *off is the byte offset and *size the member's byte size
 * (0 when unknown; size may be NULL). Returns an enum nh_dwarf_err.
 */
int nh_dwarf_member(struct nh_dwarf *dw, const char *type_name,
		    const char *member, long *off, long *size);

/* One-shot form of the above: opens, looks up, closes. */
int nh_dwarf_member_offset(const char *path, const char *struct_name,
			   const char *member, long *off);

/* A message for an enum nh_dwarf_err. */
const char *nh_dwarf_strerror(int err);

#endif /* NH_DWARF_H */
