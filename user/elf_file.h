/* SPDX-License-Identifier: MIT */
/*
 * What nanohook needs from a broker's ELF file: where a function is (for a
 * uprobe: the file offset, computed here so recovered functions of stripped
 * binaries attach the same way as named ones), its code bytes, where a
 * string literal lives, which function covers an address when there are no
 * symbols (.eh_frame), and what kind of build it is (symbols, DWARF, PIE,
 * build id, machine).
 *
 * Paths may be /proc/PID/root/... paths. Files may be hostile: every offset
 * is bounds-checked and a malformed file gives an error, never a crash
 * (tests/fuzz/fuzz_elf.c).
 */

#ifndef NH_ELF_H
#define NH_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nh_elf;

struct nh_sym {
	uint64_t vaddr;      /* st_value: link-time virtual address */
	uint64_t size;       /* st_size (0 for some assembler symbols) */
	uint64_t file_off;   /* offset in the file: what a uprobe attaches to */
	const char *section; /* name of its section (".text"), "" if unknown;
				valid until nh_elf_close */
	bool dynamic;        /* found in .dynsym rather than .symtab */
	bool global;         /* STB_GLOBAL or STB_WEAK */
};

/* Opens an ELF file; NULL with a message in err on failure. */
struct nh_elf *nh_elf_open(const char *path, char *err, size_t errlen);
/* Same over a copy of buf[0..len) (fuzzing, tests). */
struct nh_elf *nh_elf_open_mem(const void *buf, size_t len, char *err,
			       size_t errlen);
void nh_elf_close(struct nh_elf *elf);

/*
 * Finds a defined function symbol by exact name, in .symtab first, then in
 * .dynsym. When several share the name (static functions of different
 * files), a global one wins, else the first. 0, -ENOENT (no such function)
 * or -EINVAL; -ERANGE when its address is in no loadable segment.
 */
int nh_elf_find_func(struct nh_elf *elf, const char *name, struct nh_sym *out);

/* The same for a data object (STT_OBJECT), e.g. a static variable;
 * file_off is left 0 (data in .bss has no file bytes). */
int nh_elf_find_object(struct nh_elf *elf, const char *name, struct nh_sym *out);

/* Virtual address -> file offset, through the PT_LOAD program headers.
 * 0 or -ERANGE (not backed by file bytes). */
int nh_elf_vaddr_to_offset(const struct nh_elf *elf, uint64_t vaddr,
			   uint64_t *off);

/* Copies len bytes of the file image at vaddr (e.g. a function's code).
 * 0 or -ERANGE when any of them is not in the file. */
int nh_elf_read_vaddr(const struct nh_elf *elf, uint64_t vaddr, void *buf,
		      size_t len);

/*
 * Where the string literal s is in the read-only data (.rodata*, or the
 * read-only loadable segments of a file without section headers).
 * By default s must be a whole literal's tail: followed by its NUL (compilers
 * share tails of literals). With NH_ELF_STR_PREFIX, s may go on (a format
 * string's start). Stores up to max addresses in vaddrs and
 * returns how many matched in all (>= 0), or a negative errno. Addresses
 * come in file order; only addresses the program headers load count, so
 * nh_elf_read_vaddr reads the literal back (an object file has none).
 */
#define NH_ELF_STR_PREFIX 0x1u
int nh_elf_find_string(const struct nh_elf *elf, const char *s, unsigned flags,
		       uint64_t *vaddrs, size_t max);

/*
 * The .eh_frame FDE (call frame record) covering vaddr: in a stripped
 * binary, where the function holding an instruction starts and ends.
 * Looked up through .eh_frame_hdr's sorted table when there is one, else by
 * walking .eh_frame (both found by section name or, without section
 * headers, through PT_GNU_EH_FRAME).
 */
struct nh_fde {
	uint64_t start;  /* pc_begin: link-time address */
	uint64_t size;   /* pc_range */
	/* Its unwind rules leave the caller's frame (the CFA) as a call left it:
	 * a function entry. False for a part the compiler split off a function
	 * (gcc's foo.cold), which starts inside the parent's frame. */
	bool entry;
};

/* 0, -ENOENT (no FDE covers vaddr, or no .eh_frame) or -EINVAL. */
int nh_elf_fde_find(const struct nh_elf *elf, uint64_t vaddr, struct nh_fde *out);

/* A loadable segment's file-backed part. */
struct nh_elf_seg {
	uint64_t vaddr;
	uint64_t size;
};

/* The executable PT_LOAD segments whose bytes are in the file: stores up
 * to max in out and returns how many there are (>= 0), or -EINVAL. */
int nh_elf_exec_segments(const struct nh_elf *elf, struct nh_elf_seg *out, size_t max);

/* A section's address and size by name. 0, -ENOENT. */
int nh_elf_section(const struct nh_elf *elf, const char *name, uint64_t *vaddr,
		   uint64_t *size);

bool nh_elf_has_symtab(const struct nh_elf *elf);  /* a non-empty .symtab */
bool nh_elf_has_dwarf(const struct nh_elf *elf);   /* .debug_info with bytes */
bool nh_elf_is_pie(const struct nh_elf *elf);      /* ET_DYN: addresses are
						      load-relative */
/* GNU build id in lower-case hex, "" when there is none. */
const char *nh_elf_build_id(const struct nh_elf *elf);
/* e_machine: EM_X86_64 (62), EM_AARCH64 (183), ... */
uint16_t nh_elf_machine(const struct nh_elf *elf);

#endif /* NH_ELF_H */
