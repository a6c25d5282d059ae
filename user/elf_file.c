/* SPDX-License-Identifier: MIT */
/*
 * ELF facts for probe placement, over libelf (see elf.h).
 *
 * libelf parses the headers and symbol tables and checks their bounds;
 * bytes addressed by virtual address (code, literals) are read straight
 * from the raw image after checking the PT_LOAD segment and the image
 * size ourselves, with overflow-safe arithmetic: the file may be hostile.
 */
#include "elf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUILD_ID_MAX 64 /* bytes; GNU ld writes 20 */

struct nh_elf {
	int fd;              /* -1 for an in-memory image */
	void *mem;           /* our copy of an in-memory image */
	Elf *e;
	const uint8_t *raw;  /* the whole file image */
	size_t rawsize;
	GElf_Ehdr eh;
	GElf_Phdr *ph;       /* program headers */
	size_t phnum;
	size_t shstrndx;
	bool has_shstr;
	bool has_symtab;
	bool has_dwarf;
	char build_id[2 * BUILD_ID_MAX + 1];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* True when [off, off+len) lies inside [0, size). */
static bool in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static const char *section_name(const struct nh_elf *elf, const GElf_Shdr *sh)
{
	const char *name = NULL;

	if (elf->has_shstr)
		name = elf_strptr(elf->e, elf->shstrndx, sh->sh_name);
	return name ? name : "";
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Looks for NT_GNU_BUILD_ID in one note area; true when found. */
static bool scan_notes(struct nh_elf *elf, Elf_Data *data)
{
	GElf_Nhdr nh;
	size_t off = 0, next, name_off, desc_off;

	if (!data || !data->d_buf)
		return false;
	while (off < data->d_size &&
	       (next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const char *name = (const char *)data->d_buf + name_off;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(name, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    in_bounds(desc_off, nh.n_descsz, data->d_size)) {
			size_t n = nh.n_descsz < BUILD_ID_MAX ? nh.n_descsz : BUILD_ID_MAX;
			hex(elf->build_id, (const uint8_t *)data->d_buf + desc_off, n);
			return true;
		}
		if (next <= off)
			break;
		off = next;
	}
	return false;
}

static void find_build_id(struct nh_elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf->e, scn)) != NULL) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_NOTE &&
		    scan_notes(elf, elf_getdata(scn, NULL)))
			return;
	}
	/* no section headers (sstrip): the program headers still say */
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *p = &elf->ph[i];
		if (p->p_type != PT_NOTE || !in_bounds(p->p_offset, p->p_filesz, elf->rawsize))
			continue;
		Elf_Data *d = elf_getdata_rawchunk(elf->e, (int64_t)p->p_offset,
						   p->p_filesz,
						   p->p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
		if (scan_notes(elf, d))
			return;
	}
}

static void scan_sections(struct nh_elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf->e, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB && sh.sh_entsize &&
		    sh.sh_size / sh.sh_entsize > 1)
			elf->has_symtab = true;
		if (sh.sh_type != SHT_NOBITS && sh.sh_size > 0) {
			const char *name = section_name(elf, &sh);
			if (strcmp(name, ".debug_info") == 0 ||
			    strcmp(name, ".zdebug_info") == 0)
				elf->has_dwarf = true;
		}
	}
}

/* Takes the ELF handle (and fd / mem) and reads the headers. */
static struct nh_elf *finish_open(Elf *e, int fd, void *mem, char *err,
				  size_t errlen)
{
	struct nh_elf *elf = calloc(1, sizeof(*elf));
	size_t rawsize = 0;

	if (!elf) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	elf->fd = fd;
	elf->mem = mem;
	elf->e = e;
	if (elf_kind(e) != ELF_K_ELF) {
		seterr(err, errlen, "not an ELF file");
		goto fail;
	}
	if (!gelf_getehdr(e, &elf->eh)) {
		seterr(err, errlen, "bad ELF header: %s", elf_errmsg(-1));
		goto fail;
	}
	elf->raw = (const uint8_t *)elf_rawfile(e, &rawsize);
	elf->rawsize = elf->raw ? rawsize : 0;
	if (elf_getphdrnum(e, &elf->phnum) != 0)
		elf->phnum = 0;
	if (elf->phnum > 65535)
		elf->phnum = 0; /* more than any real file; treat as none */
	if (elf->phnum) {
		elf->ph = calloc(elf->phnum, sizeof(*elf->ph));
		if (!elf->ph) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < elf->phnum; i++)
			if (!gelf_getphdr(e, (int)i, &elf->ph[i]))
				memset(&elf->ph[i], 0, sizeof(elf->ph[i]));
	}
	elf->has_shstr = elf_getshdrstrndx(e, &elf->shstrndx) == 0;
	scan_sections(elf);
	find_build_id(elf);
	return elf;
fail:
	if (elf) {
		elf->e = NULL;
		elf->fd = -1;
		elf->mem = NULL;
		nh_elf_close(elf);
	}
	elf_end(e);
	if (fd >= 0)
		close(fd);
	free(mem);
	return NULL;
}

struct nh_elf *nh_elf_open(const char *path, char *err, size_t errlen)
{
	Elf *e;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		seterr(err, errlen, "libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e) {
		seterr(err, errlen, "%s: %s", path, elf_errmsg(-1));
		close(fd);
		return NULL;
	}
	return finish_open(e, fd, NULL, err, errlen);
}

struct nh_elf *nh_elf_open_mem(const void *buf, size_t len, char *err,
			       size_t errlen)
{
	void *mem;
	Elf *e;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		seterr(err, errlen, "libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	if (!buf && len) {
		seterr(err, errlen, "no buffer");
		return NULL;
	}
	/* our own copy: libelf may convert in place, and the caller's buffer
	 * need not outlive the handle */
	mem = malloc(len ? len : 1);
	if (!mem) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	if (len)
		memcpy(mem, buf, len);
	e = elf_memory(mem, len);
	if (!e) {
		seterr(err, errlen, "%s", elf_errmsg(-1));
		free(mem);
		return NULL;
	}
	return finish_open(e, -1, mem, err, errlen);
}

void nh_elf_close(struct nh_elf *elf)
{
	if (!elf)
		return;
	if (elf->e)
		elf_end(elf->e);
	if (elf->fd >= 0)
		close(elf->fd);
	free(elf->mem);
	free(elf->ph);
	free(elf);
}

int nh_elf_vaddr_to_offset(const struct nh_elf *elf, uint64_t vaddr,
			   uint64_t *off)
{
	if (!elf || !off)
		return -EINVAL;
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *p = &elf->ph[i];
		if (p->p_type != PT_LOAD || vaddr < p->p_vaddr ||
		    vaddr - p->p_vaddr >= p->p_filesz ||
		    !in_bounds(p->p_offset, p->p_filesz, elf->rawsize))
			continue;
		*off = p->p_offset + (vaddr - p->p_vaddr);
		return 0;
	}
	return -ERANGE;
}

/* The image bytes loaded at [vaddr, vaddr+len), all from one PT_LOAD's
 * file part, or NULL. */
static const uint8_t *vaddr_bytes(const struct nh_elf *elf, uint64_t vaddr,
				  size_t len)
{
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *p = &elf->ph[i];
		if (p->p_type != PT_LOAD || vaddr < p->p_vaddr ||
		    !in_bounds(vaddr - p->p_vaddr, len, p->p_filesz) ||
		    !in_bounds(p->p_offset, p->p_filesz, elf->rawsize))
			continue;
		return elf->raw + p->p_offset + (vaddr - p->p_vaddr);
	}
	return NULL;
}

int nh_elf_read_vaddr(const struct nh_elf *elf, uint64_t vaddr, void *buf,
		      size_t len)
{
	const uint8_t *p;

	if (!elf || (!buf && len))
		return -EINVAL;
	p = vaddr_bytes(elf, vaddr, len);
	if (!p)
		return -ERANGE;
	if (len)
		memcpy(buf, p, len);
	return 0;
}

static bool is_func(const GElf_Sym *s)
{
	int t = GELF_ST_TYPE(s->st_info);
	return (t == STT_FUNC || t == STT_GNU_IFUNC) && s->st_shndx != SHN_UNDEF;
}

/* Searches one symbol table; 1 found (global), 0 found (local only), -1 not. */
static bool is_object(const GElf_Sym *sym)
{
	return GELF_ST_TYPE(sym->st_info) == STT_OBJECT && sym->st_shndx != SHN_UNDEF;
}

static int search_symtab(struct nh_elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			 const char *name, bool object, GElf_Sym *out)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t symsz = gelf_fsize(elf->e, ELF_T_SYM, 1, EV_CURRENT);
	int found = -1;
	GElf_Sym sym;

	if (!data || !symsz)
		return -1;
	for (size_t i = 0; i < data->d_size / symsz; i++) {
		if (!gelf_getsym(data, (int)i, &sym) || !(object ? is_object(&sym) : is_func(&sym)))
			continue;
		const char *n = elf_strptr(elf->e, sh->sh_link, sym.st_name);
		if (!n || strcmp(n, name) != 0)
			continue;
		int bind = GELF_ST_BIND(sym.st_info);
		if (bind == STB_GLOBAL || bind == STB_WEAK) {
			*out = sym;
			return 1;
		}
		if (found < 0) {
			*out = sym;
			found = 0;
		}
	}
	return found;
}

static int find_sym(struct nh_elf *elf, const char *name, bool object, struct nh_sym *out)
{
	static const Elf64_Word order[2] = { SHT_SYMTAB, SHT_DYNSYM };
	GElf_Sym sym;

	if (!elf || !name || !*name || !out)
		return -EINVAL;
	for (int t = 0; t < 2; t++) {
		Elf_Scn *scn = NULL;
		GElf_Shdr sh;
		int best = -1;
		GElf_Sym cand;

		while ((scn = elf_nextscn(elf->e, scn)) != NULL) {
			if (!gelf_getshdr(scn, &sh) || sh.sh_type != order[t])
				continue;
			int r = search_symtab(elf, scn, &sh, name, object, &cand);
			if (r > best) {
				best = r;
				sym = cand;
			}
			if (best == 1)
				break;
		}
		if (best < 0)
			continue;

		memset(out, 0, sizeof(*out));
		out->vaddr = sym.st_value;
		out->size = sym.st_size;
		out->dynamic = order[t] == SHT_DYNSYM;
		out->global = best == 1;
		out->section = "";
		if (sym.st_shndx < SHN_LORESERVE) {
			Elf_Scn *s = elf_getscn(elf->e, sym.st_shndx);
			GElf_Shdr ssh;
			if (s && gelf_getshdr(s, &ssh))
				out->section = section_name(elf, &ssh);
		}
		/* Data in .bss has no file bytes: only code needs an offset. */
		return object ? 0 : nh_elf_vaddr_to_offset(elf, out->vaddr, &out->file_off);
	}
	return -ENOENT;
}

int nh_elf_find_func(struct nh_elf *elf, const char *name, struct nh_sym *out)
{
	return find_sym(elf, name, false, out);
}

int nh_elf_find_object(struct nh_elf *elf, const char *name, struct nh_sym *out)
{
	return find_sym(elf, name, true, out);
}

struct range {
	uint64_t vaddr;
	uint64_t off;
	uint64_t size;
};

/* Whether the program headers load these bytes at vaddr: section headers
 * can lie (or, in an object file, name no load address at all). */
static bool loaded_as(const struct nh_elf *elf, uint64_t vaddr,
		      const uint8_t *bytes, size_t n)
{
	const uint8_t *p = vaddr_bytes(elf, vaddr, n);
	return p && memcmp(p, bytes, n) == 0;
}

/* Counts (and stores) the matches of s in one file range. */
static size_t search_range(const struct nh_elf *elf, const struct range *r,
			   const char *s, size_t n, unsigned flags,
			   uint64_t *vaddrs, size_t max, size_t found)
{
	const uint8_t *base, *p, *end;

	if (!in_bounds(r->off, r->size, elf->rawsize) || r->size < n)
		return found;
	base = elf->raw + r->off;
	end = base + r->size;
	p = base;
	while ((size_t)(end - p) >= n &&
	       (p = memmem(p, (size_t)(end - p), s, n)) != NULL) {
		bool whole = (size_t)(end - p) > n && p[n] == '\0';
		uint64_t vaddr = r->vaddr + (uint64_t)(p - base);
		if ((whole || (flags & NH_ELF_STR_PREFIX)) &&
		    loaded_as(elf, vaddr, p, whole ? n + 1 : n)) {
			if (found < max)
				vaddrs[found] = vaddr;
			found++;
		}
		p++;
	}
	return found;
}

int nh_elf_find_string(const struct nh_elf *elf, const char *s, unsigned flags,
		       uint64_t *vaddrs, size_t max)
{
	size_t n, found = 0;
	bool any_section = false;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (!elf || !s || !*s || (!vaddrs && max))
		return -EINVAL;
	n = strlen(s);
	while ((scn = elf_nextscn(elf->e, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || (sh.sh_flags & SHF_EXECINSTR) ||
		    strncmp(section_name(elf, &sh), ".rodata", 7) != 0)
			continue;
		struct range r = { sh.sh_addr, sh.sh_offset, sh.sh_size };
		any_section = true;
		found = search_range(elf, &r, s, n, flags, vaddrs, max, found);
	}
	if (!any_section) {
		for (size_t i = 0; i < elf->phnum; i++) {
			const GElf_Phdr *p = &elf->ph[i];
			/* read-only data may share the text segment
			 * (-z noseparate-code) */
			if (p->p_type != PT_LOAD || !(p->p_flags & PF_R) ||
			    (p->p_flags & PF_W))
				continue;
			struct range r = { p->p_vaddr, p->p_offset, p->p_filesz };
			found = search_range(elf, &r, s, n, flags, vaddrs, max, found);
		}
	}
	return found > INT32_MAX ? INT32_MAX : (int)found;
}

int nh_elf_section(const struct nh_elf *elf, const char *name, uint64_t *vaddr,
		   uint64_t *size)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (!elf || !name)
		return -EINVAL;
	while ((scn = elf_nextscn(elf->e, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || strcmp(section_name(elf, &sh), name) != 0)
			continue;
		if (vaddr)
			*vaddr = sh.sh_addr;
		if (size)
			*size = sh.sh_size;
		return 0;
	}
	return -ENOENT;
}

bool nh_elf_has_symtab(const struct nh_elf *elf)
{
	return elf && elf->has_symtab;
}

bool nh_elf_has_dwarf(const struct nh_elf *elf)
{
	return elf && elf->has_dwarf;
}

bool nh_elf_is_pie(const struct nh_elf *elf)
{
	return elf && elf->eh.e_type == ET_DYN;
}

const char *nh_elf_build_id(const struct nh_elf *elf)
{
	return elf ? elf->build_id : "";
}

uint16_t nh_elf_machine(const struct nh_elf *elf)
{
	return elf ? elf->eh.e_machine : 0;
}
