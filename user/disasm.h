/* SPDX-License-Identifier: MIT */
/*
 * Struct offsets from machine code: which fields of the struct that
 * argument N points to does a function read?
 *
 * NanoNNG's tiny accessors (conn_param_get_clientid: `mov 0x78(%rdi),%rax;
 * ret`) and the first loads of NanoMQ's handlers (work->cparam,
 * work->pub_packet) give the offsets of the binary at hand, with no DWARF.
 * The walker follows the argument from its register through moves, `lea`,
 * pushes and -O0 stack spills, and records every memory read based on it.
 *
 * It explores both sides of conditional branches and in-function jumps
 * (gcc -O2 puts the `con_flag` test and the username load on different
 * sides of a `ret`); a path ends at ret, at a jump out of the function or
 * at a call. The first jump or call out is reported as the tail, with the
 * argument register that still holds the pointer there, so a caller can
 * follow nng_msg_* wrappers into nni_msg_*; every direct call is listed
 * the same way, so a caller can follow the accessors a function hands the
 * pointer to.
 *
 * The result is architecture-neutral; only x86-64 (System V) is decoded
 * today. An arm64 walker would plug in beside it in disasm.c.
 */
#ifndef NH_DISASM_H
#define NH_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nh_arch {
	NH_ARCH_UNKNOWN = 0,
	NH_ARCH_X86_64 = 1,
	NH_ARCH_ARM64 = 2, /* not decoded yet: -ENOTSUP */
};

enum nh_access_kind {
	NH_ACC_LOAD = 1, /* the field's value is read */
	NH_ACC_TEST = 2, /* bits of the field are tested; imm = bit mask */
	NH_ACC_CMP = 3,  /* the field is compared; imm = compared value */
};

/* One read of a field of the argument's struct. */
struct nh_access {
	int64_t disp;       /* byte offset from the argument pointer */
	uint64_t insn_addr; /* address of the instruction that reads it */
	uint64_t imm;       /* TEST: mask, CMP: value; valid if has_imm */
	uint8_t size;       /* bytes read: 1, 2, 4, 8 (16/32: vector loads) */
	uint8_t kind;       /* enum nh_access_kind */
	bool has_imm;
};

enum nh_tail_kind {
	NH_TAIL_NONE = 0,
	NH_TAIL_JMP = 1,  /* jump out of the function (tail call) */
	NH_TAIL_CALL = 2, /* call */
};

#define NH_DISASM_MAX_ACCESS 64
#define NH_DISASM_MAX_CALLS 64

/* A direct call (or jump out of the function) on the walk. */
struct nh_call {
	uint64_t insn_addr;
	uint64_t target;
	int argno;          /* first argument register holding the pointer (plus
			     * arg_off) there, -1 if none does */
	int64_t arg_off;
	uint8_t kind;       /* NH_TAIL_CALL or NH_TAIL_JMP */
};

struct nh_disasm_result {
	/* Ordered by instruction address. */
	struct nh_access acc[NH_DISASM_MAX_ACCESS];
	size_t n_acc;
	bool acc_truncated; /* more reads than acc[] holds */

	/* The first direct jmp/call out of the function on the walk. */
	uint8_t tail_kind;      /* enum nh_tail_kind */
	uint64_t tail_target;   /* its target address */
	int tail_argno;         /* argument register of the callee holding the
				 * pointer (plus tail_arg_off) there, or -1 */
	int64_t tail_arg_off;

	/* Every direct call and jump out met on the walk, by address. Without
	 * NH_DIS_THROUGH_CALLS a path ends at its first call. */
	struct nh_call calls[NH_DISASM_MAX_CALLS];
	size_t n_calls;
	bool calls_truncated;

	/* A `ret` reached with the return register holding the pointer. */
	bool ret_is_arg;        /* e.g. nni_msg_header: return m; */
	int64_t ret_arg_off;

	size_t n_insns;         /* instructions decoded */
	bool bad_insn;          /* undecodable bytes ended a path */
	bool walk_truncated;    /* a walk limit was hit: reads may be missing */
};

/* Walk flags. */
#define NH_DIS_THROUGH_CALLS 0x1u /* go on after calls (callee-saved registers
				   * and stack spills survive them) */

/*
 * Finds the reads of argument `argno` (0-based: 0 = %rdi, 1 = %rsi, %rdx,
 * %rcx, %r8, %r9 on x86-64) in the function whose code is `code[0..len)`
 * loaded at `addr`. Pass the function's whole size as len: jumps inside it
 * are followed, jumps beyond it are tails. Returns 0 (res filled, maybe
 * with no access) or a negative errno: -EINVAL bad arguments, -ENOTSUP
 * architecture not decoded, -ENOMEM, -EIO capstone failed to start.
 */
int nh_disasm_arg_accesses(enum nh_arch arch, const uint8_t *code, size_t len,
			   uint64_t addr, int argno, unsigned flags,
			   struct nh_disasm_result *res);

/*
 * x86-64 shorthand: stores the reads of argument `argno`, first one first,
 * in out[0..max) and returns how many were stored (>= 0), or a negative
 * errno as above. max = 1 gives the first load of an accessor.
 */
int nh_disasm_first_arg_load(const uint8_t *code, size_t len, uint64_t addr,
			     int argno, struct nh_access *out, size_t max);

/*
 * Code that refers to address `target`, for finding who uses a string
 * literal (and, from a part gcc split off a function, the function that
 * jumps to it) in a binary without symbols.
 */
#define NH_REF_ADDR 0x1u   /* loads the address: lea target(%rip), mov $target */
#define NH_REF_BRANCH 0x2u /* jumps or calls there directly */

/*
 * A fast byte scan of code[0..len) (loaded at addr, any size) for
 * instructions of `kinds` that refer to target. Bytes are not decoded, so
 * a hit may lie inside another instruction: confirm each with
 * nh_disasm_func_refs on the function around it. Stores up to max
 * instruction addresses in out and returns how many hits there are in all
 * (>= 0), or -EINVAL / -ENOTSUP.
 */
int nh_disasm_scan_refs(enum nh_arch arch, const uint8_t *code, size_t len, uint64_t addr,
			uint64_t target, unsigned kinds, uint64_t *out, size_t max);

/*
 * The same, exact: decodes the function code[0..len) at addr from its
 * first instruction on and lists the instructions of `kinds` that refer to
 * target. Returns how many (>= 0), or a negative errno as
 * nh_disasm_arg_accesses.
 */
int nh_disasm_func_refs(enum nh_arch arch, const uint8_t *code, size_t len, uint64_t addr,
			uint64_t target, unsigned kinds, uint64_t *out, size_t max);

/* The walker for an ELF e_machine (EM_X86_64, EM_AARCH64). */
enum nh_arch nh_disasm_arch_for_machine(unsigned e_machine);

/* "load", "test", "cmp" or "?" */
const char *nh_access_kind_name(int kind);

#endif /* NH_DISASM_H */
