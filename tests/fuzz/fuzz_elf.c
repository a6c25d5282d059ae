/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as an ELF file: nh_elf_open_mem either refuses them or gives a
 * handle whose every query stays inside the image. Found functions' code
 * goes on to the disassembly walker, as the probe setup does; and, as for a
 * stripped binary, the loads of a name literal go to the .eh_frame lookup
 * and the function it finds to the exact reference search.
 *
 * Input: the ELF image. Its first 8 bytes double as an address to look up,
 * so the fuzzer can steer lookups at the segments it builds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disasm.h"
#include "elf_file.h"

#include "fuzz_check.h"

static const char *const names[] = {
	"main", "_start", "conn_param_get_clientid", "conn_param_get_username",
	"handle_pub", "nng_msg_body", "f",
};

static void decode(struct nh_elf *elf, const struct nh_sym *sym)
{
	uint8_t code[512];
	size_t n = sym->size < sizeof(code) ? (size_t)sym->size : sizeof(code);
	struct nh_disasm_result res;

	if (nh_elf_read_vaddr(elf, sym->vaddr, code, n) != 0)
		return;
	if (nh_disasm_arg_accesses(nh_disasm_arch_for_machine(nh_elf_machine(elf)),
				   code, n, sym->vaddr, 0, 0, &res) == 0)
		CHECK(res.n_acc <= NH_DISASM_MAX_ACCESS);
}

/* What a stripped build's recovery does with a literal's address. */
static void recover(struct nh_elf *elf, uint64_t lit)
{
	struct nh_elf_seg segs[4];
	enum nh_arch arch = nh_disasm_arch_for_machine(nh_elf_machine(elf));
	int ns = nh_elf_exec_segments(elf, segs, 4);

	CHECK(ns >= 0);
	for (int i = 0; i < ns && i < 4; i++) {
		uint64_t refs[8];
		uint8_t *code;
		int nr;

		CHECK(segs[i].size > 0 && segs[i].size <= 64u << 20);
		code = malloc(segs[i].size);
		if (!code)
			return;
		CHECK(nh_elf_read_vaddr(elf, segs[i].vaddr, code, segs[i].size) == 0);
		nr = nh_disasm_scan_refs(arch, code, segs[i].size, segs[i].vaddr, lit,
					 NH_REF_ADDR | NH_REF_BRANCH, refs, 8);
		CHECK(nr >= 0 || nr == -ENOTSUP || nr == -EINVAL);
		for (int k = 0; k < nr && k < 8; k++) {
			struct nh_fde f;
			uint8_t fcode[1024];
			int rc = nh_elf_fde_find(elf, refs[k], &f);

			CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL);
			if (rc)
				continue;
			CHECK(refs[k] >= f.start && refs[k] - f.start < f.size);
			size_t n = f.size < sizeof(fcode) ? (size_t)f.size : sizeof(fcode);
			if (nh_elf_read_vaddr(elf, f.start, fcode, n) == 0) {
				uint64_t at[4];
				int m = nh_disasm_func_refs(arch, fcode, n, f.start, lit, NH_REF_ADDR,
							    at, 4);
				for (int j = 0; j < m && j < 4; j++)
					CHECK(at[j] >= f.start && at[j] - f.start < n);
			}
		}
		free(code);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	struct nh_elf *elf = nh_elf_open_mem(data, size, err, sizeof(err));
	uint64_t probe = 0, off, addrs[4], sec_addr, sec_size;
	uint8_t buf[64];

	if (!elf) {
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		struct nh_sym sym;
		int rc = nh_elf_find_func(elf, names[i], &sym);
		CHECK(rc == 0 || rc == -ENOENT || rc == -ERANGE);
		if (rc == 0) {
			struct nh_fde f;

			CHECK(sym.section != NULL);
			CHECK(sym.file_off < size);
			decode(elf, &sym);
			if (nh_elf_fde_find(elf, sym.vaddr, &f) == 0)
				CHECK(sym.vaddr >= f.start && sym.vaddr - f.start < f.size);
		}
	}
	if (size >= 8)
		memcpy(&probe, data, 8);
	struct nh_fde fde;
	int frc = nh_elf_fde_find(elf, probe, &fde);
	CHECK(frc == 0 || frc == -ENOENT || frc == -EINVAL);
	if (frc == 0)
		CHECK(probe >= fde.start && probe - fde.start < fde.size);
	if (nh_elf_vaddr_to_offset(elf, probe, &off) == 0)
		CHECK(off < size);
	(void)nh_elf_read_vaddr(elf, probe, buf, sizeof(buf));
	(void)nh_elf_read_vaddr(elf, probe, buf, 1);

	int n = nh_elf_find_string(elf, "status", NH_ELF_STR_PREFIX, addrs, 4);
	CHECK(n >= 0);
	for (int i = 0; i < n && i < 4; i++)
		CHECK(nh_elf_read_vaddr(elf, addrs[i], buf, 6) == 0 &&
		      memcmp(buf, "status", 6) == 0);
	n = nh_elf_find_string(elf, "handle_pub", 0, addrs, 4);
	CHECK(n >= 0);
	for (int i = 0; i < n && i < 4; i++)
		recover(elf, addrs[i]);
	(void)nh_elf_section(elf, ".text", &sec_addr, &sec_size);
	(void)nh_elf_has_symtab(elf);
	(void)nh_elf_has_dwarf(elf);
	(void)nh_elf_is_pie(elf);
	(void)nh_elf_machine(elf);
	const char *bid = nh_elf_build_id(elf);
	CHECK(bid && strlen(bid) <= 128 && strspn(bid, "0123456789abcdef") == strlen(bid));
	nh_elf_close(elf);
	return 0;
}
