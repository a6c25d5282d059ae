/* SPDX-License-Identifier: MIT */
/*
 * Struct member offsets from DWARF, over libdw (see dwarf.h).
 *
 * Only top-level type DIEs of each unit are considered: C structs that
 * matter to us are declared at file scope. A broker binary links many
 * libraries, so a tag like "work" may name several types; the first
 * complete definition that has the requested member is the answer.
 */
#include <dwarf.h>

#include "dwarf_info.h" /* also elfutils' <dwarf.h>: DW_TAG_*, DW_AT_* */

#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ANON_DEPTH 8
#define MAX_PATH_PARTS 16

struct nh_dwarf {
	int fd;
	Elf *elf;
	Dwarf *dw;
};

const char *nh_dwarf_strerror(int err)
{
	switch (err) {
	case NH_DWARF_OK:
		return "ok";
	case NH_DWARF_EOPEN:
		return "cannot open the file as ELF";
	case NH_DWARF_ENODWARF:
		return "no DWARF debug info";
	case NH_DWARF_ENOSTRUCT:
		return "type not found in DWARF";
	case NH_DWARF_ENOMEMBER:
		return "member not found in DWARF type";
	case NH_DWARF_EBAD:
		return "unreadable DWARF or bad arguments";
	default:
		return "unknown DWARF error";
	}
}

struct nh_dwarf *nh_dwarf_open(const char *path, int *err)
{
	struct nh_dwarf *d;
	int dummy;

	if (!err)
		err = &dummy;
	*err = NH_DWARF_EBAD;
	if (!path)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->fd = -1;
	*err = NH_DWARF_EOPEN;
	if (elf_version(EV_CURRENT) == EV_NONE)
		goto fail;
	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0)
		goto fail;
	d->elf = elf_begin(d->fd, ELF_C_READ_MMAP, NULL);
	if (!d->elf || elf_kind(d->elf) != ELF_K_ELF)
		goto fail;
	*err = NH_DWARF_ENODWARF;
	d->dw = dwarf_begin_elf(d->elf, DWARF_C_READ, NULL);
	if (!d->dw)
		goto fail;
	*err = NH_DWARF_OK;
	return d;
fail:
	nh_dwarf_close(d);
	return NULL;
}

void nh_dwarf_close(struct nh_dwarf *d)
{
	if (!d)
		return;
	if (d->dw)
		dwarf_end(d->dw);
	if (d->elf)
		elf_end(d->elf);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

static bool is_aggregate(int tag)
{
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_class_type;
}

static bool is_declaration(Dwarf_Die *die)
{
	bool decl = false;
	Dwarf_Attribute a;

	if (dwarf_attr_integrate(die, DW_AT_declaration, &a))
		dwarf_formflag(&a, &decl);
	return decl;
}

/* The struct/union behind a type DIE (through typedefs and qualifiers). */
static bool peel_aggregate(Dwarf_Die *type, Dwarf_Die *out)
{
	if (dwarf_peel_type(type, out) != 0)
		return false;
	return is_aggregate(dwarf_tag(out)) && !is_declaration(out);
}

static bool member_type(Dwarf_Die *member, Dwarf_Die *type)
{
	Dwarf_Attribute a;
	return dwarf_attr_integrate(member, DW_AT_type, &a) &&
	       dwarf_formref_die(&a, type) != NULL;
}

/* DW_AT_data_member_location as a constant or a DWARF 2 expression;
 * a union member or a DWARF 4 bit field has none. */
static int member_location(Dwarf_Die *member, long *off)
{
	Dwarf_Attribute a;
	Dwarf_Word w;

	if (dwarf_attr_integrate(member, DW_AT_data_member_location, &a)) {
		if (dwarf_formudata(&a, &w) == 0) {
			if (w > (Dwarf_Word)(1L << 40))
				return NH_DWARF_EBAD;
			*off = (long)w;
			return NH_DWARF_OK;
		}
		Dwarf_Op *ops;
		size_t nops;
		if (dwarf_getlocation(&a, &ops, &nops) == 0 && nops == 1 &&
		    ops[0].atom == DW_OP_plus_uconst && ops[0].number < (1ull << 40)) {
			*off = (long)ops[0].number;
			return NH_DWARF_OK;
		}
		return NH_DWARF_EBAD;
	}
	if (dwarf_attr_integrate(member, DW_AT_data_bit_offset, &a)) {
		if (dwarf_formudata(&a, &w) != 0 || w > (Dwarf_Word)(1L << 43))
			return NH_DWARF_EBAD;
		*off = (long)(w / 8);
		return NH_DWARF_OK;
	}
	*off = 0;
	return NH_DWARF_OK;
}

/* Finds member `name` (n bytes) in aggregate `agg`, looking into anonymous
 * structs/unions; *off is relative to agg, *mtype the member's type. */
static int find_member(Dwarf_Die *agg, const char *name, size_t n, long *off,
		       Dwarf_Die *mtype, int depth)
{
	Dwarf_Die child;
	int rc;

	if (depth > MAX_ANON_DEPTH || dwarf_child(agg, &child) != 0)
		return NH_DWARF_ENOMEMBER;
	do {
		if (dwarf_tag(&child) != DW_TAG_member)
			continue;
		const char *cname = dwarf_diename(&child);
		long moff;
		if (cname) {
			if (strlen(cname) != n || memcmp(cname, name, n) != 0)
				continue;
			if ((rc = member_location(&child, &moff)) != NH_DWARF_OK)
				return rc;
			if (!member_type(&child, mtype))
				return NH_DWARF_EBAD;
			*off = moff;
			return NH_DWARF_OK;
		}
		Dwarf_Die t, anon;
		long inner;
		if (!member_type(&child, &t) || !peel_aggregate(&t, &anon))
			continue;
		rc = find_member(&anon, name, n, &inner, mtype, depth + 1);
		if (rc == NH_DWARF_ENOMEMBER)
			continue;
		if (rc != NH_DWARF_OK)
			return rc;
		if ((rc = member_location(&child, &moff)) != NH_DWARF_OK)
			return rc;
		*off = moff + inner;
		return NH_DWARF_OK;
	} while (dwarf_siblingof(&child, &child) == 0);
	return NH_DWARF_ENOMEMBER;
}

/* Follows a dotted member path from aggregate `agg`. */
static int member_path(Dwarf_Die *agg, const char *path, long *off, long *size)
{
	Dwarf_Die cur = *agg, mtype;
	const char *p = path;
	long total = 0;
	int parts = 0;

	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		long moff;
		int rc;

		if (n == 0 || ++parts > MAX_PATH_PARTS)
			return NH_DWARF_EBAD;
		rc = find_member(&cur, p, n, &moff, &mtype, 0);
		if (rc != NH_DWARF_OK)
			return rc;
		total += moff;
		if (!dot)
			break;
		/* a nested member must be inside this one, not behind a pointer */
		if (!peel_aggregate(&mtype, &cur))
			return NH_DWARF_ENOMEMBER;
		p = dot + 1;
	}
	*off = total;
	if (size) {
		Dwarf_Word sz;
		*size = dwarf_aggregate_size(&mtype, &sz) == 0 && sz < (1ull << 40)
				? (long)sz : 0;
	}
	return NH_DWARF_OK;
}

/* Tries one top-level DIE as the named type. */
static int try_type(Dwarf_Die *die, const char *type_name, const char *member,
		    long *off, long *size)
{
	int tag = dwarf_tag(die);
	Dwarf_Die agg;
	const char *name;

	if (!is_aggregate(tag) && tag != DW_TAG_typedef)
		return NH_DWARF_ENOSTRUCT;
	name = dwarf_diename(die);
	if (!name || strcmp(name, type_name) != 0)
		return NH_DWARF_ENOSTRUCT;
	if (!peel_aggregate(die, &agg))
		return NH_DWARF_ENOSTRUCT; /* a declaration, or not a struct */
	return member_path(&agg, member, off, size);
}

int nh_dwarf_member(struct nh_dwarf *d, const char *type_name,
		    const char *member, long *off, long *size)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie, child;
	int best = NH_DWARF_ENOSTRUCT;

	if (!d || !type_name || !*type_name || !member || !*member || !off)
		return NH_DWARF_EBAD;
	while (dwarf_get_units(d->dw, cu, &cu, NULL, NULL, &cudie, NULL) == 0) {
		if (dwarf_child(&cudie, &child) != 0)
			continue;
		do {
			int rc = try_type(&child, type_name, member, off, size);
			if (rc == NH_DWARF_OK)
				return rc;
			/* remember the most telling failure: a type without
			 * the member says more than no type at all */
			if (rc != NH_DWARF_ENOSTRUCT && best == NH_DWARF_ENOSTRUCT)
				best = rc;
			else if (rc == NH_DWARF_ENOMEMBER)
				best = rc;
		} while (dwarf_siblingof(&child, &child) == 0);
	}
	return best;
}

int nh_dwarf_member_offset(const char *path, const char *struct_name,
			   const char *member, long *off)
{
	int err;
	struct nh_dwarf *d = nh_dwarf_open(path, &err);

	if (!d)
		return err;
	err = nh_dwarf_member(d, struct_name, member, off, NULL);
	nh_dwarf_close(d);
	return err;
}
