/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as an ELF file: nh_elf_open_mem either refuses them or gives a
 * handle whose every query stays inside the image. Found functions' code
 * goes on to the disassembly walker, as the probe setup does.
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

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

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
			CHECK(sym.section != NULL);
			CHECK(sym.file_off < size);
			decode(elf, &sym);
		}
	}
	if (size >= 8)
		memcpy(&probe, data, 8);
	if (nh_elf_vaddr_to_offset(elf, probe, &off) == 0)
		CHECK(off < size);
	(void)nh_elf_read_vaddr(elf, probe, buf, sizeof(buf));
	(void)nh_elf_read_vaddr(elf, probe, buf, 1);

	int n = nh_elf_find_string(elf, "status", NH_ELF_STR_PREFIX, addrs, 4);
	CHECK(n >= 0);
	for (int i = 0; i < n && i < 4; i++)
		CHECK(nh_elf_read_vaddr(elf, addrs[i], buf, 6) == 0 &&
		      memcmp(buf, "status", 6) == 0);
	CHECK(nh_elf_find_string(elf, "handle_pub", 0, addrs, 4) >= 0);
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
