/* SPDX-License-Identifier: MIT */
/*
 * Any bytes as a function's machine code through the argument-access
 * walker: it must end, stay inside its tables and report accesses that
 * point into the code it was given, in address order.
 *
 * Input: byte 0 = argument number (low 3 bits, taken mod 6) and flags
 * (bit 3: walk through calls); the rest is the code, loaded at 0x401000.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "disasm.h"

#include "fuzz_check.h"

#define BASE 0x401000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nh_disasm_result res;
	struct nh_access first[2];

	if (size < 1)
		return 0;
	int argno = (data[0] & 7) % 6;
	unsigned flags = data[0] & 8 ? NH_DIS_THROUGH_CALLS : 0;
	const uint8_t *code = data + 1;
	size_t len = size - 1;

	CHECK(nh_disasm_arg_accesses(NH_ARCH_X86_64, code, len, BASE, argno, flags,
				     &res) == 0);
	CHECK(res.n_acc <= NH_DISASM_MAX_ACCESS);
	CHECK(res.tail_argno >= -1 && res.tail_argno < 6);
	for (size_t i = 0; i < res.n_acc; i++) {
		const struct nh_access *a = &res.acc[i];
		CHECK(a->insn_addr >= BASE && a->insn_addr < BASE + len);
		CHECK(a->kind >= NH_ACC_LOAD && a->kind <= NH_ACC_CMP);
		CHECK(i == 0 || res.acc[i - 1].insn_addr <= a->insn_addr);
		CHECK(a->has_imm || a->imm == 0);
	}
	int n = nh_disasm_first_arg_load(code, len, BASE, argno, first, 2);
	CHECK(n >= 0 && n <= 2);
	if (!flags)
		CHECK((size_t)n == (res.n_acc < 2 ? res.n_acc : 2));
	return 0;
}
