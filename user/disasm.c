/* SPDX-License-Identifier: MIT */
/*
 * Finds the struct fields a function reads through one of its pointer
 * arguments, by abstract interpretation of its machine code (see disasm.h).
 *
 * The x86-64 walker keeps, per path, what each general register and each
 * stack slot holds: nothing known, "argument + off", or "the value that
 * access #i loaded". That is enough for the code compilers emit for small
 * accessors and handler prologues at -O0 (spill to -0x18(%rbp), reload,
 * load), -O2 (load straight off %rdi, or off the callee-saved copy) and in
 * between. Everything else clobbers what it writes, so an unknown
 * instruction can make the walker miss a read but never invent one.
 *
 * Input bytes may be hostile (fuzzed): capstone decodes them, and the
 * walker bounds every path, instruction count and table it fills.
 */
#include "disasm.h"

#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CODE (1u << 20)   /* bytes of one function looked at */
#define MAX_INSNS 20000       /* instructions decoded per walk */
#define MAX_PENDING 64        /* branch targets waiting to be walked */
#define MAX_SLOTS 32          /* stack slots tracked per path */

const char *nh_access_kind_name(int kind)
{
	switch (kind) {
	case NH_ACC_LOAD:
		return "load";
	case NH_ACC_TEST:
		return "test";
	case NH_ACC_CMP:
		return "cmp";
	default:
		return "?";
	}
}

enum nh_arch nh_disasm_arch_for_machine(unsigned e_machine)
{
	switch (e_machine) {
	case EM_X86_64:
		return NH_ARCH_X86_64;
	case EM_AARCH64:
		return NH_ARCH_ARM64;
	default:
		return NH_ARCH_UNKNOWN;
	}
}

/* Wrapping arithmetic: offsets come from hostile immediates. */
static int64_t add64(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static uint64_t width_mask(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* --- x86-64 ------------------------------------------------------------- */

/* General registers by hardware number. */
enum {
	R_RAX, R_RCX, R_RDX, R_RBX, R_RSP, R_RBP, R_RSI, R_RDI,
	R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15,
	NGPR
};

static const int sysv_args[6] = { R_RDI, R_RSI, R_RDX, R_RCX, R_R8, R_R9 };
static const int sysv_clobbered[] = { R_RAX, R_RCX, R_RDX, R_RSI, R_RDI,
				      R_R8,  R_R9,  R_R10, R_R11 };

/* Maps any (sub)register to its 64-bit register; *width gets its bytes. */
static int gpr(x86_reg r, unsigned *width)
{
	unsigned w = 8;
	int g;

	switch (r) {
	case X86_REG_RAX: g = R_RAX; break;
	case X86_REG_EAX: g = R_RAX; w = 4; break;
	case X86_REG_AX:  g = R_RAX; w = 2; break;
	case X86_REG_AL:  g = R_RAX; w = 1; break;
	case X86_REG_AH:  g = R_RAX; w = 1; break;
	case X86_REG_RCX: g = R_RCX; break;
	case X86_REG_ECX: g = R_RCX; w = 4; break;
	case X86_REG_CX:  g = R_RCX; w = 2; break;
	case X86_REG_CL:  g = R_RCX; w = 1; break;
	case X86_REG_CH:  g = R_RCX; w = 1; break;
	case X86_REG_RDX: g = R_RDX; break;
	case X86_REG_EDX: g = R_RDX; w = 4; break;
	case X86_REG_DX:  g = R_RDX; w = 2; break;
	case X86_REG_DL:  g = R_RDX; w = 1; break;
	case X86_REG_DH:  g = R_RDX; w = 1; break;
	case X86_REG_RBX: g = R_RBX; break;
	case X86_REG_EBX: g = R_RBX; w = 4; break;
	case X86_REG_BX:  g = R_RBX; w = 2; break;
	case X86_REG_BL:  g = R_RBX; w = 1; break;
	case X86_REG_BH:  g = R_RBX; w = 1; break;
	case X86_REG_RSP: g = R_RSP; break;
	case X86_REG_ESP: g = R_RSP; w = 4; break;
	case X86_REG_SP:  g = R_RSP; w = 2; break;
	case X86_REG_SPL: g = R_RSP; w = 1; break;
	case X86_REG_RBP: g = R_RBP; break;
	case X86_REG_EBP: g = R_RBP; w = 4; break;
	case X86_REG_BP:  g = R_RBP; w = 2; break;
	case X86_REG_BPL: g = R_RBP; w = 1; break;
	case X86_REG_RSI: g = R_RSI; break;
	case X86_REG_ESI: g = R_RSI; w = 4; break;
	case X86_REG_SI:  g = R_RSI; w = 2; break;
	case X86_REG_SIL: g = R_RSI; w = 1; break;
	case X86_REG_RDI: g = R_RDI; break;
	case X86_REG_EDI: g = R_RDI; w = 4; break;
	case X86_REG_DI:  g = R_RDI; w = 2; break;
	case X86_REG_DIL: g = R_RDI; w = 1; break;
#define XR(n)                                                              \
	case X86_REG_R##n:  g = R_R##n; break;                             \
	case X86_REG_R##n##D: g = R_R##n; w = 4; break;                    \
	case X86_REG_R##n##W: g = R_R##n; w = 2; break;                    \
	case X86_REG_R##n##B: g = R_R##n; w = 1; break;
	XR(8) XR(9) XR(10) XR(11) XR(12) XR(13) XR(14) XR(15)
#undef XR
	default:
		return -1;
	}
	if (width)
		*width = w;
	return g;
}

enum rv_kind { RV_NONE = 0, RV_PTR, RV_VAL };

/* What a register or stack slot holds. */
struct regval {
	uint8_t kind;  /* enum rv_kind */
	int16_t acc;   /* RV_VAL: index in res->acc */
	int64_t off;   /* RV_PTR: argument + off */
};

enum { SB_RSP, SB_RBP };

struct slot {
	uint8_t base;  /* SB_RSP: key is relative to the entry %rsp */
	uint8_t size;
	int64_t key;
	struct regval v;
};

struct xstate {
	struct regval r[NGPR];
	struct slot slot[MAX_SLOTS];
	int nslot;
	int64_t rsp_delta; /* %rsp now minus %rsp at entry */
	bool rsp_known;
	/* The access whose value the previous instruction compared with 0 or
	 * tested against itself: a js/jns right after tests its sign bit. */
	int sign_acc;
	uint8_t sign_width;
};

struct pending {
	size_t off;
	struct xstate st;
};

struct walker {
	csh cs;
	cs_insn *insn;
	const uint8_t *code;
	size_t len;
	uint64_t addr;
	unsigned flags;
	uint8_t *visited; /* one bit per code byte: an instruction starts here */
	struct pending *pend;
	int npend;
	struct nh_disasm_result *res;
};

static const struct regval rv_none = { RV_NONE, -1, 0 };

static struct regval rv_ptr(int64_t off)
{
	struct regval v = { RV_PTR, -1, off };
	return v;
}

static struct regval rv_val(int acc)
{
	struct regval v = { acc >= 0 ? RV_VAL : RV_NONE, (int16_t)acc, 0 };
	return v;
}

static void slots_drop_base(struct xstate *st, uint8_t base)
{
	int j = 0;
	for (int i = 0; i < st->nslot; i++)
		if (st->slot[i].base != base)
			st->slot[j++] = st->slot[i];
	st->nslot = j;
}

/* A store of `size` bytes at key: overlapping slots are gone, and the slot
 * holds v when v is worth remembering. */
static void slot_set(struct xstate *st, uint8_t base, int64_t key,
		     unsigned size, struct regval v)
{
	int j = 0;

	if (size == 0 || size > 64)
		size = 8;
	for (int i = 0; i < st->nslot; i++) {
		const struct slot *s = &st->slot[i];
		/* [key, key+size) meets [s->key, s->key+s->size), mod 2^64 */
		bool overlap = s->base == base &&
			       (uint64_t)key - (uint64_t)s->key + size - 1 <
				       (uint64_t)s->size + size - 1;
		if (!overlap)
			st->slot[j++] = *s;
	}
	st->nslot = j;
	if (v.kind == RV_NONE || st->nslot == MAX_SLOTS)
		return;
	st->slot[st->nslot].base = base;
	st->slot[st->nslot].size = (uint8_t)size;
	st->slot[st->nslot].key = key;
	st->slot[st->nslot].v = v;
	st->nslot++;
}

static struct regval slot_get(const struct xstate *st, uint8_t base,
			      int64_t key, unsigned size)
{
	for (int i = 0; i < st->nslot; i++) {
		const struct slot *s = &st->slot[i];
		if (s->base != base || s->key != key)
			continue;
		if (s->v.kind == RV_PTR && (size != 8 || s->size != 8))
			return rv_none;
		return s->v;
	}
	return rv_none;
}

static void set_reg(struct xstate *st, int g, struct regval v)
{
	st->r[g] = v;
	if (g == R_RSP) {
		/* %rsp moved by something we do not follow */
		st->r[g] = rv_none;
		st->rsp_known = false;
		slots_drop_base(st, SB_RSP);
	} else if (g == R_RBP) {
		slots_drop_base(st, SB_RBP);
	}
}

enum mem_ref { MEM_OTHER, MEM_FIELD, MEM_SLOT };

/* Where a memory operand points: a field of the argument's struct (disp),
 * a stack slot (base, key) or something else. */
static enum mem_ref mem_resolve(const struct xstate *st, const x86_op_mem *m,
				int64_t *disp, uint8_t *base, int64_t *key)
{
	unsigned w;
	int b;

	if (m->segment != X86_REG_INVALID || m->index != X86_REG_INVALID)
		return MEM_OTHER;
	b = gpr(m->base, &w);
	if (b < 0 || w != 8)
		return MEM_OTHER;
	if (st->r[b].kind == RV_PTR) {
		*disp = add64(st->r[b].off, m->disp);
		return MEM_FIELD;
	}
	if (b == R_RSP && st->rsp_known) {
		*base = SB_RSP;
		*key = add64(st->rsp_delta, m->disp);
		return MEM_SLOT;
	}
	if (b == R_RBP && st->r[b].kind == RV_NONE) {
		*base = SB_RBP;
		*key = m->disp;
		return MEM_SLOT;
	}
	return MEM_OTHER;
}

static int add_access(struct walker *w, int64_t disp, unsigned size,
		      int kind, bool has_imm, uint64_t imm)
{
	struct nh_disasm_result *res = w->res;
	struct nh_access *a;

	if (res->n_acc == NH_DISASM_MAX_ACCESS) {
		res->acc_truncated = true;
		return -1;
	}
	a = &res->acc[res->n_acc];
	a->disp = disp;
	a->insn_addr = w->insn->address;
	a->size = (uint8_t)(size > 255 ? 255 : size);
	a->kind = (uint8_t)kind;
	a->has_imm = has_imm;
	a->imm = has_imm ? imm & width_mask(size) : 0;
	return (int)res->n_acc++;
}

/* A loaded value used in a test or compare: the load was really a test of
 * those bits. Pointer null checks (compare with 0) stay loads. */
static void upgrade_access(struct walker *w, int acc, int kind, uint64_t imm)
{
	struct nh_access *a;

	if (acc < 0 || (size_t)acc >= w->res->n_acc)
		return;
	a = &w->res->acc[acc];
	if (a->kind != NH_ACC_LOAD)
		return;
	a->kind = (uint8_t)kind;
	a->has_imm = true;
	a->imm = imm & width_mask(a->size);
}

static void sign_test(struct walker *w, int acc, unsigned width)
{
	struct nh_access *a;

	if (acc < 0 || (size_t)acc >= w->res->n_acc || width == 0 || width > 8)
		return;
	a = &w->res->acc[acc];
	if (a->kind == NH_ACC_LOAD ||
	    (a->kind == NH_ACC_CMP && a->has_imm && a->imm == 0)) {
		a->kind = NH_ACC_TEST;
		a->has_imm = true;
		a->imm = (1ull << (8 * width - 1)) & width_mask(a->size);
	}
}

/* The value an operand holds when it is a loaded value (register or slot). */
static int operand_val(const struct xstate *st, const cs_x86_op *op)
{
	int g;
	int64_t disp, key;
	uint8_t base;

	if (op->type == X86_OP_REG) {
		g = gpr(op->reg, NULL);
		if (g >= 0 && st->r[g].kind == RV_VAL)
			return st->r[g].acc;
	} else if (op->type == X86_OP_MEM &&
		   mem_resolve(st, &op->mem, &disp, &base, &key) == MEM_SLOT) {
		struct regval v = slot_get(st, base, key, op->size);
		if (v.kind == RV_VAL)
			return v.acc;
	}
	return -1;
}

/* test / cmp / bt: which field, which bits. */
static void x86_compare(struct walker *w, struct xstate *st, const cs_x86 *x,
			unsigned id)
{
	const cs_x86_op *a = &x->operands[0], *b = &x->operands[1];
	const cs_x86_op *mem = NULL, *other = NULL;
	int64_t disp, key;
	uint8_t base;
	int kind = id == X86_INS_CMP ? NH_ACC_CMP : NH_ACC_TEST;

	if (x->op_count != 2)
		return;
	if (a->type == X86_OP_MEM) {
		mem = a;
		other = b;
	} else if (b->type == X86_OP_MEM) {
		mem = b;
		other = a;
	}
	if (mem && mem_resolve(st, &mem->mem, &disp, &base, &key) == MEM_FIELD) {
		bool has_imm = other->type == X86_OP_IMM;
		uint64_t imm = has_imm ? (uint64_t)other->imm : 0;
		if (id == X86_INS_BT && has_imm)
			imm = 1ull << (imm % (8u * (mem->size ? mem->size : 1)));
		int acc = add_access(w, disp, mem->size, kind, has_imm, imm);
		if (acc >= 0 && id == X86_INS_CMP && has_imm && imm == 0) {
			st->sign_acc = acc;
			st->sign_width = mem->size;
		}
		return;
	}

	int acc = operand_val(st, a);
	if (acc < 0)
		return;
	unsigned wa = a->size;
	if (b->type == X86_OP_IMM) {
		uint64_t imm = (uint64_t)b->imm;
		if (id == X86_INS_BT)
			upgrade_access(w, acc, NH_ACC_TEST,
				       1ull << (imm % (8u * (wa ? wa : 1))));
		else if (id == X86_INS_TEST)
			upgrade_access(w, acc, NH_ACC_TEST, imm);
		else if ((imm & width_mask(wa)) != 0)
			upgrade_access(w, acc, NH_ACC_CMP, imm);
		else {
			st->sign_acc = acc;
			st->sign_width = (uint8_t)wa;
		}
	} else if (id == X86_INS_TEST && operand_val(st, b) == acc) {
		st->sign_acc = acc;
		st->sign_width = (uint8_t)wa;
	}
}

/* Any instruction not modelled: record field reads, forget what it writes. */
static void x86_generic(struct walker *w, struct xstate *st, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	cs_regs rr, rw;
	uint8_t nr = 0, nw = 0;
	int64_t disp, key;
	uint8_t base;

	bool hint = in->id == X86_INS_NOP || (in->id >= X86_INS_PREFETCH &&
					      in->id <= X86_INS_PREFETCHW);
	for (int i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];
		if (op->type != X86_OP_MEM || hint || in->id == X86_INS_LEA)
			continue;
		enum mem_ref ref = mem_resolve(st, &op->mem, &disp, &base, &key);
		if (ref == MEM_FIELD && (op->access & CS_AC_READ))
			add_access(w, disp, op->size, NH_ACC_LOAD, false, 0);
		else if (ref == MEM_SLOT && (op->access & CS_AC_WRITE))
			slot_set(st, base, key, op->size, rv_none);
	}
	if (cs_regs_access(w->cs, in, rr, &nr, rw, &nw) == CS_ERR_OK) {
		for (int i = 0; i < nw; i++) {
			int g = gpr((x86_reg)rw[i], NULL);
			if (g >= 0)
				set_reg(st, g, rv_none);
		}
	} else {
		for (int i = 0; i < x->op_count; i++) {
			const cs_x86_op *op = &x->operands[i];
			int g = op->type == X86_OP_REG ? gpr(op->reg, NULL) : -1;
			if (g >= 0 && (op->access & CS_AC_WRITE || op->access == 0))
				set_reg(st, g, rv_none);
		}
	}
}

static void x86_mov(struct walker *w, struct xstate *st, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	unsigned dw, sw;
	int64_t disp, key;
	uint8_t base;

	if (x->op_count != 2) {
		x86_generic(w, st, in);
		return;
	}
	if (dst->type == X86_OP_REG) {
		int d = gpr(dst->reg, &dw);
		struct regval v = rv_none;
		if (d < 0) {
			x86_generic(w, st, in);
			return;
		}
		if (src->type == X86_OP_REG) {
			int s = gpr(src->reg, &sw);
			if (s >= 0) {
				v = st->r[s];
				/* a truncated or extended pointer is no pointer */
				if (v.kind == RV_PTR &&
				    (sw != 8 || dw != 8 || in->id != X86_INS_MOV))
					v = rv_none;
			}
		} else if (src->type == X86_OP_MEM) {
			switch (mem_resolve(st, &src->mem, &disp, &base, &key)) {
			case MEM_FIELD:
				v = rv_val(add_access(w, disp, src->size,
						      NH_ACC_LOAD, false, 0));
				break;
			case MEM_SLOT:
				v = slot_get(st, base, key, src->size);
				if (v.kind == RV_PTR && dw != 8)
					v = rv_none;
				break;
			default:
				break;
			}
		}
		set_reg(st, d, v);
		return;
	}
	if (dst->type == X86_OP_MEM &&
	    mem_resolve(st, &dst->mem, &disp, &base, &key) == MEM_SLOT) {
		struct regval v = rv_none;
		int s = src->type == X86_OP_REG ? gpr(src->reg, &sw) : -1;
		if (s >= 0) {
			v = st->r[s];
			if (v.kind == RV_PTR && sw != 8)
				v = rv_none;
		}
		slot_set(st, base, key, dst->size, v);
	}
	/* a store into the struct itself is not a read: nothing to record */
}

static void x86_lea(struct walker *w, struct xstate *st, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	unsigned dw;
	int64_t disp, key;
	uint8_t base;
	int d;

	if (x->op_count != 2 || dst->type != X86_OP_REG ||
	    src->type != X86_OP_MEM || (d = gpr(dst->reg, &dw)) < 0) {
		x86_generic(w, st, in);
		return;
	}
	if (d == R_RSP && st->rsp_known && gpr(src->mem.base, NULL) == R_RSP &&
	    src->mem.index == X86_REG_INVALID && dw == 8) {
		st->rsp_delta = add64(st->rsp_delta, src->mem.disp);
		return;
	}
	if (dw == 8 && mem_resolve(st, &src->mem, &disp, &base, &key) == MEM_FIELD)
		set_reg(st, d, rv_ptr(disp));
	else
		set_reg(st, d, rv_none);
}

/* add/sub/and with an immediate: pointer arithmetic, stack frames, masks. */
static void x86_arith(struct walker *w, struct xstate *st, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
	unsigned dw;
	int d;

	if (x->op_count != 2 || dst->type != X86_OP_REG ||
	    src->type != X86_OP_IMM || (d = gpr(dst->reg, &dw)) < 0) {
		x86_generic(w, st, in);
		return;
	}
	int64_t imm = in->id == X86_INS_SUB ? (int64_t)(0 - (uint64_t)src->imm)
					    : src->imm;
	if (in->id == X86_INS_AND) {
		if (st->r[d].kind == RV_VAL) {
			upgrade_access(w, st->r[d].acc, NH_ACC_TEST,
				       (uint64_t)src->imm);
			return; /* still (a masked) value of that field */
		}
		x86_generic(w, st, in);
		return;
	}
	if (d == R_RSP && dw == 8 && st->rsp_known) {
		st->rsp_delta = add64(st->rsp_delta, imm);
		return;
	}
	if (st->r[d].kind == RV_PTR && dw == 8) {
		st->r[d].off = add64(st->r[d].off, imm);
		return;
	}
	x86_generic(w, st, in);
}

static void x86_push_pop(struct walker *w, struct xstate *st, const cs_insn *in)
{
	const cs_x86 *x = &in->detail->x86;
	const cs_x86_op *op = &x->operands[0];
	unsigned ow = 8;
	int g = -1;

	if (x->op_count != 1) {
		x86_generic(w, st, in);
		return;
	}
	if (op->type == X86_OP_REG)
		g = gpr(op->reg, &ow);
	if (in->id == X86_INS_PUSH) {
		struct regval v = g >= 0 && ow == 8 ? st->r[g] : rv_none;
		int64_t disp, key;
		uint8_t base;
		if (op->type == X86_OP_MEM) {
			switch (mem_resolve(st, &op->mem, &disp, &base, &key)) {
			case MEM_FIELD:
				v = rv_val(add_access(w, disp, op->size, NH_ACC_LOAD,
						      false, 0));
				break;
			case MEM_SLOT:
				v = slot_get(st, base, key, op->size);
				break;
			default:
				break;
			}
		}
		if (g == R_RSP || !st->rsp_known) {
			set_reg(st, R_RSP, rv_none);
			return;
		}
		st->rsp_delta = add64(st->rsp_delta, -8);
		slot_set(st, SB_RSP, st->rsp_delta, 8, v);
		return;
	}
	/* pop */
	if (g < 0 || ow != 8 || !st->rsp_known) {
		x86_generic(w, st, in);
		set_reg(st, R_RSP, rv_none);
		return;
	}
	struct regval v = slot_get(st, SB_RSP, st->rsp_delta, 8);
	st->rsp_delta = add64(st->rsp_delta, 8);
	set_reg(st, g, v);
}

static bool in_code(const struct walker *w, uint64_t target, size_t *off)
{
	if (target < w->addr || target - w->addr >= w->len)
		return false;
	*off = (size_t)(target - w->addr);
	return true;
}

static void note_tail(struct walker *w, const struct xstate *st, int kind,
		      const cs_x86 *x)
{
	struct nh_disasm_result *res = w->res;

	if (res->tail_kind != NH_TAIL_NONE || x->op_count != 1 ||
	    x->operands[0].type != X86_OP_IMM)
		return; /* keep the first; indirect targets are unknown */
	res->tail_kind = (uint8_t)kind;
	res->tail_target = (uint64_t)x->operands[0].imm;
	for (int i = 0; i < 6; i++) {
		const struct regval *v = &st->r[sysv_args[i]];
		if (v->kind == RV_PTR) {
			res->tail_argno = i;
			res->tail_arg_off = v->off;
			break;
		}
	}
}

static void note_call(struct walker *w, const struct xstate *st, int kind,
		      const cs_insn *in)
{
	struct nh_disasm_result *res = w->res;
	const cs_x86 *x = &in->detail->x86;
	struct nh_call *c;

	if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
		return; /* indirect: no target to follow */
	if (res->n_calls == NH_DISASM_MAX_CALLS) {
		res->calls_truncated = true;
		return;
	}
	c = &res->calls[res->n_calls++];
	c->insn_addr = in->address;
	c->target = (uint64_t)x->operands[0].imm;
	c->kind = (uint8_t)kind;
	c->argno = -1;
	c->arg_off = 0;
	for (int i = 0; i < 6; i++) {
		const struct regval *v = &st->r[sysv_args[i]];
		if (v->kind == RV_PTR) {
			c->argno = i;
			c->arg_off = v->off;
			break;
		}
	}
}

static void push_pending(struct walker *w, size_t off, const struct xstate *st)
{
	if (w->visited[off / 8] & (1u << (off % 8)))
		return;
	if (w->npend == MAX_PENDING) {
		w->res->walk_truncated = true;
		return;
	}
	w->pend[w->npend].off = off;
	w->pend[w->npend].st = *st;
	w->npend++;
}

/* Walks one path from off until it ends. */
static void x86_walk_path(struct walker *w, size_t off, struct xstate *st)
{
	struct nh_disasm_result *res = w->res;

	while (off < w->len) {
		const uint8_t *p = w->code + off;
		size_t left = w->len - off;
		uint64_t a = w->addr + off;
		const cs_insn *in = w->insn;
		size_t next, target_off;

		if (w->visited[off / 8] & (1u << (off % 8)))
			return; /* joined a path already walked */
		if (res->n_insns >= MAX_INSNS) {
			res->walk_truncated = true;
			return;
		}
		if (!cs_disasm_iter(w->cs, &p, &left, &a, w->insn)) {
			res->bad_insn = true;
			return;
		}
		w->visited[off / 8] |= (uint8_t)(1u << (off % 8));
		res->n_insns++;
		next = off + in->size;

		const cs_x86 *x = &in->detail->x86;
		int sign_acc = st->sign_acc;
		uint8_t sign_width = st->sign_width;
		st->sign_acc = -1;

		if (cs_insn_group(w->cs, in, X86_GRP_RET) ||
		    cs_insn_group(w->cs, in, X86_GRP_IRET)) {
			if (!res->ret_is_arg && st->r[R_RAX].kind == RV_PTR) {
				res->ret_is_arg = true;
				res->ret_arg_off = st->r[R_RAX].off;
			}
			return;
		}
		if (cs_insn_group(w->cs, in, X86_GRP_INT) || in->id == X86_INS_HLT ||
		    in->id == X86_INS_UD2 || in->id == X86_INS_UD2B ||
		    in->id == X86_INS_UD0)
			return;
		if (cs_insn_group(w->cs, in, X86_GRP_CALL)) {
			note_tail(w, st, NH_TAIL_CALL, x);
			note_call(w, st, NH_TAIL_CALL, in);
			if (!(w->flags & NH_DIS_THROUGH_CALLS))
				return;
			for (size_t i = 0; i < sizeof(sysv_clobbered) / sizeof(int); i++)
				set_reg(st, sysv_clobbered[i], rv_none);
			off = next;
			continue;
		}
		if (cs_insn_group(w->cs, in, X86_GRP_JUMP)) {
			bool direct = x->op_count == 1 && x->operands[0].type == X86_OP_IMM;
			bool inside = direct &&
				      in_code(w, (uint64_t)x->operands[0].imm, &target_off);
			if (in->id == X86_INS_JMP || in->id == X86_INS_LJMP) {
				if (!inside) {
					note_tail(w, st, NH_TAIL_JMP, x);
					note_call(w, st, NH_TAIL_JMP, in);
					return;
				}
				off = target_off;
				continue;
			}
			if ((in->id == X86_INS_JS || in->id == X86_INS_JNS) && sign_acc >= 0)
				sign_test(w, sign_acc, sign_width);
			if (inside)
				push_pending(w, target_off, st);
			off = next;
			continue;
		}

		switch (in->id) {
		case X86_INS_CMOVS:
		case X86_INS_CMOVNS:
		case X86_INS_SETS:
		case X86_INS_SETNS:
			/* -O3: `cmpb $0,0x4f(%rdi); cmovs 0xa8(%rdi),%rax` */
			if (sign_acc >= 0)
				sign_test(w, sign_acc, sign_width);
			x86_generic(w, st, in);
			break;
		case X86_INS_MOV:
		case X86_INS_MOVABS:
		case X86_INS_MOVZX:
		case X86_INS_MOVSX:
		case X86_INS_MOVSXD:
			x86_mov(w, st, in);
			break;
		case X86_INS_LEA:
			x86_lea(w, st, in);
			break;
		case X86_INS_ADD:
		case X86_INS_SUB:
		case X86_INS_AND:
			x86_arith(w, st, in);
			break;
		case X86_INS_TEST:
		case X86_INS_CMP:
		case X86_INS_BT:
			x86_compare(w, st, x, in->id);
			break;
		case X86_INS_PUSH:
		case X86_INS_POP:
			x86_push_pop(w, st, in);
			break;
		case X86_INS_LEAVE:
			set_reg(st, R_RBP, rv_none);
			set_reg(st, R_RSP, rv_none);
			break;
		case X86_INS_XCHG:
			if (x->op_count == 2 && x->operands[0].type == X86_OP_REG &&
			    x->operands[1].type == X86_OP_REG) {
				unsigned w0, w1;
				int g0 = gpr(x->operands[0].reg, &w0);
				int g1 = gpr(x->operands[1].reg, &w1);
				if (g0 >= 0 && g1 >= 0 && w0 == 8 && w1 == 8 &&
				    g0 != R_RSP && g1 != R_RSP) {
					struct regval t = st->r[g0];
					set_reg(st, g0, st->r[g1]);
					set_reg(st, g1, t);
					break;
				}
			}
			x86_generic(w, st, in);
			break;
		default:
			x86_generic(w, st, in);
			break;
		}
		off = next;
	}
}

static int x86_walk(struct walker *w, int argno)
{
	struct xstate init;
	int rc = 0;

	if (argno < 0 || argno >= 6)
		return -EINVAL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &w->cs) != CS_ERR_OK)
		return -EIO;
	cs_option(w->cs, CS_OPT_DETAIL, CS_OPT_ON);
	w->insn = cs_malloc(w->cs);
	w->visited = calloc(w->len / 8 + 1, 1);
	w->pend = calloc(MAX_PENDING, sizeof(*w->pend));
	if (!w->insn || !w->visited || !w->pend) {
		rc = -ENOMEM;
		goto out;
	}

	memset(&init, 0, sizeof(init));
	for (int i = 0; i < NGPR; i++)
		init.r[i] = rv_none;
	init.r[sysv_args[argno]] = rv_ptr(0);
	init.rsp_known = true;
	init.sign_acc = -1;
	w->pend[0].off = 0;
	w->pend[0].st = init;
	w->npend = 1;
	while (w->npend > 0) {
		w->npend--;
		/* copied out: walking may push onto the array */
		struct xstate st = w->pend[w->npend].st;
		x86_walk_path(w, w->pend[w->npend].off, &st);
	}
out:
	if (w->insn)
		cs_free(w->insn, 1);
	cs_close(&w->cs);
	free(w->visited);
	free(w->pend);
	return rc;
}

/* --- entry points ------------------------------------------------------- */

static void sort_calls(struct nh_disasm_result *res)
{
	for (size_t i = 1; i < res->n_calls; i++) {
		struct nh_call t = res->calls[i];
		size_t j = i;
		while (j > 0 && res->calls[j - 1].insn_addr > t.insn_addr) {
			res->calls[j] = res->calls[j - 1];
			j--;
		}
		res->calls[j] = t;
	}
}

static void sort_accesses(struct nh_disasm_result *res)
{
	/* insertion sort: a handful of entries, and it is stable */
	for (size_t i = 1; i < res->n_acc; i++) {
		struct nh_access t = res->acc[i];
		size_t j = i;
		while (j > 0 && res->acc[j - 1].insn_addr > t.insn_addr) {
			res->acc[j] = res->acc[j - 1];
			j--;
		}
		res->acc[j] = t;
	}
}

int nh_disasm_arg_accesses(enum nh_arch arch, const uint8_t *code, size_t len,
			   uint64_t addr, int argno, unsigned flags,
			   struct nh_disasm_result *res)
{
	struct walker w;
	int rc;

	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	res->tail_argno = -1;
	if (!code && len)
		return -EINVAL;
	if (len > MAX_CODE)
		len = MAX_CODE;
	if (addr + len < addr)
		len = (size_t)(UINT64_MAX - addr);

	memset(&w, 0, sizeof(w));
	w.code = code;
	w.len = len;
	w.addr = addr;
	w.flags = flags;
	w.res = res;
	switch (arch) {
	case NH_ARCH_X86_64:
		rc = x86_walk(&w, argno);
		break;
	case NH_ARCH_ARM64:
		return -ENOTSUP;
	default:
		return -EINVAL;
	}
	if (rc == 0) {
		sort_accesses(res);
		sort_calls(res);
	}
	return rc;
}

int nh_disasm_first_arg_load(const uint8_t *code, size_t len, uint64_t addr,
			     int argno, struct nh_access *out, size_t max)
{
	struct nh_disasm_result *res = malloc(sizeof(*res));
	int rc;

	if (!res)
		return -ENOMEM;
	rc = nh_disasm_arg_accesses(NH_ARCH_X86_64, code, len, addr, argno, 0, res);
	if (rc == 0) {
		size_t n = res->n_acc < max ? res->n_acc : max;
		if (n && out)
			memcpy(out, res->acc, n * sizeof(*out));
		rc = (int)n;
	}
	free(res);
	return rc;
}

/* --- references to an address ------------------------------------------- */

/* A little-endian signed 32-bit displacement or immediate. */
static int64_t rd_s32(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		     (uint32_t)p[3] << 24;
	return (int64_t)v - (v & 0x80000000u ? (int64_t)1 << 32 : 0);
}

static int64_t rd_s8(const uint8_t *p)
{
	return (int64_t)p[0] - (p[0] & 0x80 ? 256 : 0);
}

static void add_ref(uint64_t *out, size_t max, size_t *n, uint64_t a)
{
	if (*n < max)
		out[*n] = a;
	(*n)++;
}

/* Byte patterns of x86-64 instructions that carry an address:
 *   [REX] 8d modrm(rip) disp32       lea target(%rip),%reg
 *   [REX] b8+r imm32                 mov $target,%r32 (non-PIE)
 *   REX.W c7 c0+r imm32              mov $target,%r64 (non-PIE)
 *   e8/e9 rel32, 0f 80..8f rel32     call, jmp, jcc
 *   eb rel8, 70..7f rel8             short jmp, jcc */
static size_t x86_scan(const uint8_t *c, size_t len, uint64_t addr, uint64_t target,
		       unsigned kinds, uint64_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint64_t a = addr + i;
		size_t left = len - i;
		bool rex = i > 0 && (c[i - 1] & 0xf0) == 0x40;
		uint64_t start = rex ? a - 1 : a;

		if (kinds & NH_REF_ADDR) {
			if (c[i] == 0x8d && left >= 6 && (c[i + 1] & 0xc7) == 0x05 &&
			    a + 6 + (uint64_t)rd_s32(c + i + 2) == target)
				add_ref(out, max, &n, start);
			else if (c[i] >= 0xb8 && c[i] <= 0xbf && left >= 5 && target <= UINT32_MAX &&
				 ((uint64_t)rd_s32(c + i + 1) & 0xffffffffu) == target)
				add_ref(out, max, &n, start);
			else if (c[i] == 0xc7 && rex && (c[i - 1] & 0x08) && left >= 6 &&
				 (c[i + 1] & 0xf8) == 0xc0 && target <= INT32_MAX &&
				 (uint64_t)rd_s32(c + i + 2) == target)
				add_ref(out, max, &n, start);
		}
		if (kinds & NH_REF_BRANCH) {
			if ((c[i] == 0xe8 || c[i] == 0xe9) && left >= 5 &&
			    a + 5 + (uint64_t)rd_s32(c + i + 1) == target)
				add_ref(out, max, &n, a);
			else if (c[i] == 0x0f && left >= 6 && (c[i + 1] & 0xf0) == 0x80 &&
				 a + 6 + (uint64_t)rd_s32(c + i + 2) == target)
				add_ref(out, max, &n, a);
			else if ((c[i] == 0xeb || (c[i] & 0xf0) == 0x70) && left >= 2 &&
				 a + 2 + (uint64_t)rd_s8(c + i + 1) == target)
				add_ref(out, max, &n, a);
		}
	}
	return n;
}

int nh_disasm_scan_refs(enum nh_arch arch, const uint8_t *code, size_t len, uint64_t addr,
			uint64_t target, unsigned kinds, uint64_t *out, size_t max)
{
	size_t n;

	if ((!code && len) || (!out && max))
		return -EINVAL;
	if (arch == NH_ARCH_ARM64)
		return -ENOTSUP;
	if (arch != NH_ARCH_X86_64)
		return -EINVAL;
	if (addr + len < addr)
		len = (size_t)(UINT64_MAX - addr);
	n = x86_scan(code, len, addr, target, kinds, out, max);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* Whether one decoded instruction refers to target. */
static bool x86_refers(csh cs, const cs_insn *in, uint64_t target, unsigned kinds)
{
	const cs_x86 *x = &in->detail->x86;
	bool branch = cs_insn_group(cs, in, X86_GRP_JUMP) || cs_insn_group(cs, in, X86_GRP_CALL);

	if (!(kinds & (branch ? NH_REF_BRANCH : NH_REF_ADDR)))
		return false;
	for (int i = 0; i < x->op_count; i++) {
		const cs_x86_op *op = &x->operands[i];

		if (op->type == X86_OP_IMM && (uint64_t)op->imm == target)
			return true;
		if (!branch && in->id == X86_INS_LEA && op->type == X86_OP_MEM &&
		    op->mem.base == X86_REG_RIP && op->mem.index == X86_REG_INVALID &&
		    op->mem.segment == X86_REG_INVALID &&
		    in->address + in->size + (uint64_t)op->mem.disp == target)
			return true;
	}
	return false;
}

int nh_disasm_func_refs(enum nh_arch arch, const uint8_t *code, size_t len, uint64_t addr,
			uint64_t target, unsigned kinds, uint64_t *out, size_t max)
{
	const uint8_t *p = code;
	size_t left, n = 0, count = 0;
	uint64_t a = addr;
	cs_insn *in;
	csh cs;

	if ((!code && len) || (!out && max))
		return -EINVAL;
	if (arch == NH_ARCH_ARM64)
		return -ENOTSUP;
	if (arch != NH_ARCH_X86_64)
		return -EINVAL;
	if (len > MAX_CODE)
		len = MAX_CODE;
	if (addr + len < addr)
		len = (size_t)(UINT64_MAX - addr);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return -EIO;
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(cs);
	if (!in) {
		cs_close(&cs);
		return -ENOMEM;
	}
	left = len;
	/* gcc puts no data in .text: a linear sweep stays in step */
	while (left && count++ < MAX_INSNS * 4 && cs_disasm_iter(cs, &p, &left, &a, in))
		if (x86_refers(cs, in, target, kinds))
			add_ref(out, max, &n, in->address);
	cs_free(in, 1);
	cs_close(&cs);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}
