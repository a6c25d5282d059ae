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
	/* read(), never mmap(): while uprobes sit on this file for every
	 * process (--exe, --name, or another nanohook), the kernel would put
	 * their breakpoints into a mapping of ours too, and the code we
	 * decode would not be the file's. */
	e = elf_begin(fd, ELF_C_READ, NULL);
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

/* The PT_LOAD segment whose file bytes (within the file) hold vaddr, or
 * NULL. */
static const GElf_Phdr *load_segment_of(const struct nh_elf *elf, uint64_t vaddr)
{
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *p = &elf->ph[i];

		if (p->p_type == PT_LOAD && vaddr >= p->p_vaddr &&
		    vaddr - p->p_vaddr < p->p_filesz &&
		    in_bounds(p->p_offset, p->p_filesz, elf->rawsize))
			return p;
	}
	return NULL;
}

int nh_elf_vaddr_to_offset(const struct nh_elf *elf, uint64_t vaddr,
			   uint64_t *off)
{
	const GElf_Phdr *p;

	if (!elf || !off)
		return -EINVAL;
	p = load_segment_of(elf, vaddr);
	if (!p)
		return -ERANGE;
	*off = p->p_offset + (vaddr - p->p_vaddr);
	return 0;
}

/* The image bytes loaded at [vaddr, vaddr+len), all from one PT_LOAD's
 * file part, or NULL. */
static const uint8_t *vaddr_bytes(const struct nh_elf *elf, uint64_t vaddr,
				  size_t len)
{
	/* The segment that holds the whole range: in a malformed file the
	 * first one holding vaddr need not (segments may overlap). */
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

/* --- .eh_frame ------------------------------------------------------------ */

/*
 * Call frame records (LSB "Exception Frames"): a CIE holds what its FDEs
 * share, including how an FDE encodes its addresses; an FDE gives one
 * function's [pc_begin, pc_begin + pc_range) and its unwind rules.
 * .eh_frame_hdr adds a table of (pc_begin, FDE address) sorted by pc_begin.
 * Everything is read from the loaded image with a bounded cursor: a record
 * that runs past its area or an encoding we do not know makes the lookup
 * fail, never read further.
 */

/* Some loaded bytes and the address of the first. */
struct region {
	uint64_t vaddr;
	const uint8_t *p;
	size_t size;
};

struct cursor {
	const uint8_t *p, *end;
	uint64_t vaddr; /* of *p, for pc-relative values */
	unsigned ptr_size;
	bool msb;
	bool bad;       /* ran out of bytes or met something unknown */
};

static struct cursor cursor_at(const struct nh_elf *elf, const struct region *r, uint64_t off)
{
	struct cursor c = { 0 };

	c.ptr_size = elf->eh.e_ident[EI_CLASS] == ELFCLASS32 ? 4 : 8;
	c.msb = elf->eh.e_ident[EI_DATA] == ELFDATA2MSB;
	if (off > r->size) {
		c.bad = true;
		return c;
	}
	c.p = r->p + off;
	c.end = r->p + r->size;
	c.vaddr = r->vaddr + off;
	return c;
}

static bool cur_need(struct cursor *c, uint64_t n)
{
	if (c->bad || (uint64_t)(c->end - c->p) < n) {
		c->bad = true;
		return false;
	}
	return true;
}

static void cur_skip(struct cursor *c, uint64_t n)
{
	if (cur_need(c, n)) {
		c->p += n;
		c->vaddr += n;
	}
}

static uint64_t cur_uint(struct cursor *c, unsigned n)
{
	uint64_t v = 0;

	if (!cur_need(c, n))
		return 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | c->p[c->msb ? i : n - 1 - i];
	cur_skip(c, n);
	return v;
}

/* LEB128, unsigned or signed (sign-extended from the last byte's bit 6). */
static uint64_t cur_leb(struct cursor *c, bool is_signed)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b = (uint8_t)cur_uint(c, 1);

		if (c->bad)
			return 0;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (is_signed && shift + 7 < 64 && (b & 0x40))
				v |= ~0ull << (shift + 7);
			return v;
		}
	}
	c->bad = true;
	return 0;
}

static uint64_t cur_uleb(struct cursor *c)
{
	return cur_leb(c, false);
}

static int64_t cur_sleb(struct cursor *c)
{
	return (int64_t)cur_leb(c, true);
}

/* DW_EH_PE_* pointer encodings: a format in the low nibble, what the value
 * is relative to in bits 4-6. */
#define PE_OMIT 0xff
#define PE_PCREL 0x10
#define PE_DATAREL 0x30

/* Bytes of a fixed-size format, 0 for the variable ones. */
static unsigned pe_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x02: case 0x0a: return 2;
	case 0x03: case 0x0b: return 4;
	case 0x04: case 0x0c: return 8;
	default: return 0;
	}
}

/* An encoded address; datarel is what DW_EH_PE_datarel counts from. */
static uint64_t cur_encoded(struct cursor *c, uint8_t enc, uint64_t datarel)
{
	uint64_t field = c->vaddr, v;

	switch (enc & 0x0f) {
	case 0x00: v = cur_uint(c, c->ptr_size); break;
	case 0x01: v = cur_uleb(c); break;
	case 0x02: v = cur_uint(c, 2); break;
	case 0x03: v = cur_uint(c, 4); break;
	case 0x04: case 0x0c: v = cur_uint(c, 8); break;
	case 0x09: v = (uint64_t)cur_sleb(c); break;
	case 0x0a: v = cur_uint(c, 2); v = (v ^ 0x8000) - 0x8000; break;
	case 0x0b: v = cur_uint(c, 4); v = (v ^ 0x80000000u) - 0x80000000u; break;
	default: c->bad = true; return 0;
	}
	switch (enc & 0x70) {
	case 0: break;
	case PE_PCREL: v += field; break;
	case PE_DATAREL: v += datarel; break;
	default: c->bad = true; return 0;
	}
	if (enc & 0x80) /* indirect: an address of the address */
		c->bad = true;
	return v;
}

/* What an FDE needs from its CIE. */
struct cie_info {
	uint8_t fde_enc;
	bool has_aug_data; /* "z": FDEs carry augmentation data to skip */
};

static int parse_cie(const struct nh_elf *elf, const struct region *ef, uint64_t off,
		     struct cie_info *ci)
{
	struct cursor c = cursor_at(elf, ef, off);
	uint64_t len = cur_uint(&c, 4);
	const char *aug;
	size_t alen;
	unsigned version;

	if (len < 4 || len == 0xffffffffu || !cur_need(&c, len))
		return -EINVAL;
	c.end = c.p + len;
	if (cur_uint(&c, 4) != 0) /* the CIE id: 0 in .eh_frame */
		return -EINVAL;
	version = (unsigned)cur_uint(&c, 1);
	if (c.bad || (version != 1 && version != 3 && version != 4))
		return -EINVAL;
	aug = (const char *)c.p;
	alen = strnlen(aug, (size_t)(c.end - c.p));
	cur_skip(&c, alen + 1);
	if (alen >= 2 && aug[0] == 'e' && aug[1] == 'h') /* gcc 2.x's eh_data */
		cur_skip(&c, c.ptr_size);
	if (version == 4)
		cur_skip(&c, 2); /* address and segment selector sizes */
	(void)cur_uleb(&c); /* code alignment */
	(void)cur_sleb(&c); /* data alignment */
	if (version == 1)
		cur_skip(&c, 1);
	else
		(void)cur_uleb(&c); /* return address register */
	ci->fde_enc = 0; /* absolute addresses unless 'R' says otherwise */
	ci->has_aug_data = alen && aug[0] == 'z';
	if (ci->has_aug_data) {
		uint64_t n = cur_uleb(&c);
		struct cursor a = c;

		if (!cur_need(&c, n))
			return -EINVAL;
		a.end = a.p + n;
		for (size_t i = 1; i < alen && !a.bad; i++) {
			if (aug[i] == 'R') {
				ci->fde_enc = (uint8_t)cur_uint(&a, 1);
			} else if (aug[i] == 'P') {
				uint8_t e = (uint8_t)cur_uint(&a, 1);
				(void)cur_encoded(&a, e & 0x7f, 0); /* the personality routine */
			} else if (aug[i] == 'L') {
				cur_skip(&a, 1);
			} else if (aug[i] != 'S' && aug[i] != 'B') {
				break; /* unknown, but its data is inside the length */
			}
		}
		if (a.bad)
			return -EINVAL;
	} else if (alen) {
		return -EINVAL; /* no length to skip what we do not know */
	}
	return c.bad ? -EINVAL : 0;
}

/*
 * Whether the FDE's rules before its first address advance leave the CFA
 * where the CIE puts it (the stack pointer as a call left it): true at a
 * function entry. A part split off a function starts inside the parent's
 * frame and redefines the CFA first (DW_CFA_def_cfa %rbp, 16 ...).
 */
static bool keeps_entry_cfa(struct cursor *c)
{
	while (c->p < c->end && !c->bad) {
		uint8_t op = (uint8_t)cur_uint(c, 1);

		switch (op >> 6) {
		case 1: /* advance_loc: rules from here on are past the entry */
			return true;
		case 2: /* offset */
			(void)cur_uleb(c);
			continue;
		case 3: /* restore */
			continue;
		}
		switch (op) {
		case 0x00: case 0x0a: case 0x0b: /* nop, remember/restore_state */
			break;
		case 0x01: case 0x02: case 0x03: case 0x04: /* set_loc, advance_loc1/2/4 */
			return true;
		case 0x05: case 0x09: case 0x14: case 0x2f:
			(void)cur_uleb(c);
			(void)cur_uleb(c);
			break;
		case 0x06: case 0x07: case 0x08: case 0x2e:
			(void)cur_uleb(c);
			break;
		case 0x11: case 0x15:
			(void)cur_uleb(c);
			(void)cur_sleb(c);
			break;
		case 0x10: case 0x16: /* expression, val_expression */
			(void)cur_uleb(c);
			cur_skip(c, cur_uleb(c));
			break;
		default: /* def_cfa* moves the CFA; anything unknown: cannot tell */
			return false;
		}
	}
	return !c->bad;
}

/* The record at off: 1 an FDE (filled in), 0 a CIE or the terminator,
 * -EINVAL malformed. *next is where the following record starts. */
static int parse_record(const struct nh_elf *elf, const struct region *ef, uint64_t off,
			uint64_t *next, struct nh_fde *fde)
{
	struct cursor c = cursor_at(elf, ef, off);
	uint64_t len = cur_uint(&c, 4), id_off = off + 4, id;
	struct cie_info ci;

	if (c.bad)
		return -EINVAL;
	if (len == 0) { /* the terminator */
		*next = ef->size;
		return 0;
	}
	if (len < 4 || len == 0xffffffffu || !cur_need(&c, len))
		return -EINVAL;
	*next = off + 4 + len;
	c.end = c.p + len;
	id = cur_uint(&c, 4);
	if (id == 0)
		return 0;
	if (id > id_off || parse_cie(elf, ef, id_off - id, &ci))
		return -EINVAL;
	fde->start = cur_encoded(&c, ci.fde_enc, 0);
	fde->size = cur_encoded(&c, ci.fde_enc & 0x0f, 0);
	if (ci.has_aug_data)
		cur_skip(&c, cur_uleb(&c));
	if (c.bad)
		return -EINVAL;
	fde->entry = keeps_entry_cfa(&c);
	return 1;
}

static bool covers(const struct nh_fde *f, uint64_t vaddr)
{
	return vaddr >= f->start && vaddr - f->start < f->size;
}

/* A loaded section by name. */
static bool section_region(const struct nh_elf *elf, const char *name, struct region *r)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf->e, scn)) != NULL) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS ||
		    !(sh.sh_flags & SHF_ALLOC) || strcmp(section_name(elf, &sh), name) != 0)
			continue;
		r->vaddr = sh.sh_addr;
		r->size = (size_t)sh.sh_size;
		r->p = sh.sh_size <= SIZE_MAX ? vaddr_bytes(elf, sh.sh_addr, r->size) : NULL;
		return r->p != NULL;
	}
	return false;
}

/* From vaddr to the end of the file bytes of its PT_LOAD segment. */
static bool segment_tail(const struct nh_elf *elf, uint64_t vaddr, struct region *r)
{
	const GElf_Phdr *p = load_segment_of(elf, vaddr);

	if (!p)
		return false;
	r->vaddr = vaddr;
	r->size = (size_t)(p->p_filesz - (vaddr - p->p_vaddr));
	r->p = elf->raw + p->p_offset + (vaddr - p->p_vaddr);
	return true;
}

static bool find_eh_frame_hdr(const struct nh_elf *elf, struct region *hdr)
{
	if (section_region(elf, ".eh_frame_hdr", hdr))
		return true;
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *p = &elf->ph[i];

		if (p->p_type != PT_GNU_EH_FRAME || p->p_filesz > SIZE_MAX)
			continue;
		hdr->vaddr = p->p_vaddr;
		hdr->size = (size_t)p->p_filesz;
		hdr->p = vaddr_bytes(elf, p->p_vaddr, hdr->size);
		return hdr->p != NULL;
	}
	return false;
}

/* The binary search through .eh_frame_hdr's table. -EINVAL when the table
 * cannot be used (the caller walks .eh_frame instead). */
static int fde_by_table(const struct nh_elf *elf, const struct region *hdr,
			const struct region *ef, uint64_t vaddr, struct nh_fde *out)
{
	struct cursor c = cursor_at(elf, hdr, 0);
	uint8_t ptr_enc, cnt_enc, tab_enc;
	uint64_t n, lo, hi, fde_addr, next;
	const uint8_t *table;
	uint64_t table_vaddr;
	unsigned es;

	if (cur_uint(&c, 1) != 1)
		return -EINVAL;
	ptr_enc = (uint8_t)cur_uint(&c, 1);
	cnt_enc = (uint8_t)cur_uint(&c, 1);
	tab_enc = (uint8_t)cur_uint(&c, 1);
	if (ptr_enc == PE_OMIT || cnt_enc == PE_OMIT || tab_enc == PE_OMIT)
		return -EINVAL;
	(void)cur_encoded(&c, ptr_enc, hdr->vaddr);
	n = cur_encoded(&c, cnt_enc, hdr->vaddr);
	es = pe_size(tab_enc);
	if (c.bad || !es || n > (uint64_t)(c.end - c.p) / (2u * es))
		return -EINVAL;
	table = c.p;
	table_vaddr = c.vaddr;
	/* the last entry whose pc_begin <= vaddr */
	lo = 0;
	hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct cursor e = c;

		e.p = table + mid * 2 * es;
		e.vaddr = table_vaddr + mid * 2 * es;
		if (cur_encoded(&e, tab_enc, hdr->vaddr) <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
		if (e.bad)
			return -EINVAL;
	}
	if (lo == 0)
		return -ENOENT;
	c.p = table + (lo - 1) * 2 * es + es;
	c.vaddr = table_vaddr + (lo - 1) * 2 * es + es;
	fde_addr = cur_encoded(&c, tab_enc, hdr->vaddr);
	if (c.bad || fde_addr < ef->vaddr || fde_addr - ef->vaddr >= ef->size)
		return -EINVAL;
	if (parse_record(elf, ef, fde_addr - ef->vaddr, &next, out) != 1)
		return -EINVAL;
	return covers(out, vaddr) ? 0 : -ENOENT;
}

static int fde_by_walk(const struct nh_elf *elf, const struct region *ef, uint64_t vaddr,
		       struct nh_fde *out)
{
	uint64_t off = 0, next;
	struct nh_fde f;

	while (off < ef->size) {
		int rc = parse_record(elf, ef, off, &next, &f);

		if (rc < 0)
			return rc;
		if (rc == 1 && covers(&f, vaddr)) {
			*out = f;
			return 0;
		}
		off = next; /* > off: every record is at least 4 bytes long */
	}
	return -ENOENT;
}

int nh_elf_fde_find(const struct nh_elf *elf, uint64_t vaddr, struct nh_fde *out)
{
	struct region hdr, ef;
	bool have_hdr;
	int rc;

	if (!elf || !out)
		return -EINVAL;
	have_hdr = find_eh_frame_hdr(elf, &hdr);
	if (!section_region(elf, ".eh_frame", &ef)) {
		/* no section headers: the header says where .eh_frame is */
		struct cursor c;
		uint64_t at;

		if (!have_hdr)
			return -ENOENT;
		c = cursor_at(elf, &hdr, 0);
		cur_skip(&c, 1);
		uint8_t ptr_enc = (uint8_t)cur_uint(&c, 1);
		cur_skip(&c, 2);
		at = cur_encoded(&c, ptr_enc, hdr.vaddr);
		if (c.bad || !segment_tail(elf, at, &ef))
			return -ENOENT;
	}
	if (have_hdr) {
		rc = fde_by_table(elf, &hdr, &ef, vaddr, out);
		if (rc != -EINVAL)
			return rc;
	}
	return fde_by_walk(elf, &ef, vaddr, out);
}

int nh_elf_exec_segments(const struct nh_elf *elf, struct nh_elf_seg *out, size_t max)
{
	size_t n = 0;

	if (!elf || (!out && max))
		return -EINVAL;
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *p = &elf->ph[i];

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X) || !p->p_filesz ||
		    !in_bounds(p->p_offset, p->p_filesz, elf->rawsize))
			continue;
		if (n < max) {
			out[n].vaddr = p->p_vaddr;
			out[n].size = p->p_filesz;
		}
		n++;
	}
	return (int)n;
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
