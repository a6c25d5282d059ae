/* SPDX-License-Identifier: MIT */
/*
 * Binary analysis on the NanoMQ stand-in built the three ways NanoMQ ships
 * (-O0, -O2, -O2 -g): symbols and uprobe offsets (elf.c), struct offsets
 * read off the machine code (disasm.c) and off DWARF (dwarf.c), which must
 * agree with the layouts in tests/fixture/nmq_layout.h. Also runs the
 * decoder on the installed Mosquitto's accessors and prints what it finds.
 *
 * Stripped builds (-O0s, -O2s, -O3s: `strip -p`, no -rdynamic): .eh_frame
 * lookups, literal references and the calls a function makes are checked
 * against the symbols of each one's unstripped twin (.sym), and so is what
 * `nanohook probe` recovers from the stripped file itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nh_test.h"

#include "broker.h"
#include "disasm.h"
#include "dwarf_info.h"
#include <elf.h>

#include "elf_file.h"
#include "nh_record.h"

static const char *const variants[] = { "O0", "O2", "O2g" };
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

/* The fixtures sit in <build>/fixture beside <build>/tests/test_binary,
 * whichever BUILD folder (build, build-san) made this binary. */
static void fixture_path(char *out, size_t n, const char *variant)
{
	char exe[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (len > 0) {
		exe[len] = '\0';
		for (int i = 0; i < 2 && (slash = strrchr(exe, '/')); i++)
			*slash = '\0';
		int w = snprintf(out, n, "%s/fixture/nmq_fixture-%s", exe, variant);
		if (w > 0 && (size_t)w < n && access(out, R_OK) == 0)
			return;
	}
	snprintf(out, n, "%s/build/fixture/nmq_fixture-%s", NH_SOURCE_DIR, variant);
}

static struct nh_elf *open_fixture(const char *variant, char *path, size_t n)
{
	char err[256] = "";
	struct nh_elf *elf;

	fixture_path(path, n, variant);
	elf = nh_elf_open(path, err, sizeof(err));
	if (!elf)
		fail_msg("%s: %s", path, err);
	return elf;
}

/* Decodes function `name`'s reads of argument argno. */
static void decode_func(struct nh_elf *elf, const char *name, int argno,
			struct nh_disasm_result *res, struct nh_sym *sym_out)
{
	struct nh_sym sym;
	uint8_t *code;
	int rc = nh_elf_find_func(elf, name, &sym);

	if (rc != 0)
		fail_msg("%s: nh_elf_find_func: %d", name, rc);
	assert_true(sym.size > 0 && sym.size < 1 << 20);
	code = malloc(sym.size);
	assert_non_null(code);
	assert_int_equal(nh_elf_read_vaddr(elf, sym.vaddr, code, sym.size), 0);
	rc = nh_disasm_arg_accesses(nh_disasm_arch_for_machine(nh_elf_machine(elf)),
				    code, sym.size, sym.vaddr, argno, 0, res);
	free(code);
	assert_int_equal(rc, 0);
	if (sym_out)
		*sym_out = sym;
}

static const struct nh_access *find_acc(const struct nh_disasm_result *res,
					int64_t disp, int kind)
{
	for (size_t i = 0; i < res->n_acc; i++)
		if (res->acc[i].disp == disp && res->acc[i].kind == kind)
			return &res->acc[i];
	return NULL;
}

static void print_res(const char *what, const struct nh_disasm_result *res)
{
	printf("    %-34s", what);
	for (size_t i = 0; i < res->n_acc; i++) {
		const struct nh_access *a = &res->acc[i];
		printf(" %s(0x%llx,%u%s", nh_access_kind_name(a->kind),
		       (unsigned long long)a->disp, a->size, a->has_imm ? "" : ")");
		if (a->has_imm)
			printf(",imm=0x%llx)", (unsigned long long)a->imm);
	}
	if (res->tail_kind)
		printf(" %s->0x%llx(arg%d)", res->tail_kind == NH_TAIL_JMP ? "jmp" : "call",
		       (unsigned long long)res->tail_target, res->tail_argno);
	if (res->ret_is_arg)
		printf(" returns arg+0x%llx", (unsigned long long)res->ret_arg_off);
	printf("\n");
}

/* --- elf.c ---------------------------------------------------------------- */

static void test_elf_facts(void **state)
{
	(void)state;
	for (size_t v = 0; v < NVARIANTS; v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(variants[v], path, sizeof(path));
		unsigned char ehdr[64];
		int fd = open(path, O_RDONLY);

		/* the header bytes, read independently of libelf */
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, ehdr, sizeof(ehdr), 0), (ssize_t)sizeof(ehdr));
		close(fd);
		uint16_t e_type = (uint16_t)(ehdr[16] | ehdr[17] << 8);
		uint16_t e_machine = (uint16_t)(ehdr[18] | ehdr[19] << 8);

		assert_int_equal(nh_elf_machine(elf), e_machine);
		assert_int_equal(nh_elf_is_pie(elf), e_type == ET_DYN);
		assert_true(nh_elf_has_symtab(elf));
		assert_int_equal(nh_elf_has_dwarf(elf), strcmp(variants[v], "O2g") == 0);

		const char *bid = nh_elf_build_id(elf);
		assert_non_null(bid);
		assert_int_equal(strlen(bid), 40); /* GNU ld's sha1 */
		assert_int_equal(strspn(bid, "0123456789abcdef"), 40);

		uint64_t addr, size;
		assert_int_equal(nh_elf_section(elf, ".text", &addr, &size), 0);
		assert_true(size > 0);
		assert_int_equal(nh_elf_section(elf, ".no_such", &addr, &size), -ENOENT);
		nh_elf_close(elf);
	}
}

static const char *const fixture_funcs[] = {
	"conn_param_get_clientid", "conn_param_get_username",
	"conn_param_get_keepalive", "conn_param_get_protover",
	"nano_msg_notify", "handle_pub", "decode_pub_message", "hook_entry",
	"nni_msg_body", "nng_msg_body",
};

/* The uprobe offset must address the same bytes as the symbol's address. */
static void test_elf_find_func(void **state)
{
	(void)state;
	for (size_t v = 0; v < NVARIANTS; v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(variants[v], path, sizeof(path));
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);

		for (size_t i = 0; i < sizeof(fixture_funcs) / sizeof(*fixture_funcs); i++) {
			struct nh_sym sym;
			uint8_t via_vaddr[16], via_off[16];

			assert_int_equal(nh_elf_find_func(elf, fixture_funcs[i], &sym), 0);
			assert_true(sym.size > 0);
			assert_string_equal(sym.section, ".text");
			assert_false(sym.dynamic); /* .symtab comes first */
			assert_true(sym.global);
			size_t n = sym.size < sizeof(via_off) ? sym.size : sizeof(via_off);
			assert_int_equal(nh_elf_read_vaddr(elf, sym.vaddr, via_vaddr, n), 0);
			assert_int_equal(pread(fd, via_off, n, (off_t)sym.file_off), (ssize_t)n);
			assert_memory_equal(via_vaddr, via_off, n);
		}
		struct nh_sym sym;
		assert_int_equal(nh_elf_find_func(elf, "no_such_function", &sym), -ENOENT);
		assert_int_equal(nh_elf_find_func(elf, "nmq_sink", &sym), -ENOENT); /* data */
		assert_int_equal(nh_elf_find_func(elf, "conn_param_get", &sym), -ENOENT);
		assert_int_equal(nh_elf_find_func(elf, "", &sym), -EINVAL);
		uint8_t b;
		assert_int_equal(nh_elf_read_vaddr(elf, 0xffffffffffffff00ull, &b, 1), -ERANGE);
		close(fd);
		nh_elf_close(elf);
	}
}

static void test_elf_find_string(void **state)
{
	(void)state;
	for (size_t v = 0; v < NVARIANTS; v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(variants[v], path, sizeof(path));
		const char *fmt = "{\"status\":\"online\"";
		uint64_t addr[4];
		char got[32];

		assert_int_equal(nh_elf_find_string(elf, fmt, NH_ELF_STR_PREFIX, addr, 4), 1);
		assert_int_equal(nh_elf_read_vaddr(elf, addr[0], got, strlen(fmt)), 0);
		assert_memory_equal(got, fmt, strlen(fmt));
		/* the literal goes on: not a whole string */
		assert_int_equal(nh_elf_find_string(elf, fmt, 0, addr, 4), 0);

		assert_int_equal(nh_elf_find_string(elf, "usage: sleep <ms>", 0, addr, 4), 1);
		assert_int_equal(nh_elf_read_vaddr(elf, addr[0], got, 18), 0);
		assert_string_equal(got, "usage: sleep <ms>");
		assert_int_equal(nh_elf_find_string(elf, "no such literal here", 0, addr, 4), 0);
		assert_int_equal(nh_elf_find_string(elf, "", 0, addr, 4), -EINVAL);
		nh_elf_close(elf);
	}
}

static void test_elf_bad_files(void **state)
{
	char err[128] = "";
	(void)state;

	assert_null(nh_elf_open("/nonexistent/broker", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_null(nh_elf_open(NH_SOURCE_DIR "/Makefile", err, sizeof(err)));
	assert_null(nh_elf_open_mem("", 0, err, sizeof(err)));
	assert_null(nh_elf_open_mem("\x7f" "ELF", 4, err, sizeof(err)));

	/* a fixture cut short: opens or not, but never reads past its end */
	char path[PATH_MAX];
	fixture_path(path, sizeof(path), "O2");
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static uint8_t img[1 << 16];
	size_t n = fread(img, 1, sizeof(img), f);
	fclose(f);
	assert_true(n > 4096);
	for (size_t cut = 64; cut <= 8192; cut *= 2) {
		struct nh_elf *elf = nh_elf_open_mem(img, cut, err, sizeof(err));
		if (!elf)
			continue;
		struct nh_sym sym;
		int rc = nh_elf_find_func(elf, "handle_pub", &sym);
		assert_true(rc == -ENOENT || rc == -ERANGE || rc == 0);
		uint8_t code[64];
		if (rc == 0)
			(void)nh_elf_read_vaddr(elf, sym.vaddr, code, sizeof(code));
		nh_elf_close(elf);
	}
}

/* --- disasm.c on the fixture ---------------------------------------------- */

static void test_decode_conn_param_accessors(void **state)
{
	(void)state;
	for (size_t v = 0; v < NVARIANTS; v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(variants[v], path, sizeof(path));
		struct nh_disasm_result res;
		const struct nh_access *a;

		printf("  nmq_fixture-%s\n", variants[v]);
		decode_func(elf, "conn_param_get_clientid", 0, &res, NULL);
		print_res("conn_param_get_clientid", &res);
		assert_int_equal(res.n_acc, 1);
		assert_int_equal(res.acc[0].disp, 0x78);
		assert_int_equal(res.acc[0].size, 8);
		assert_int_equal(res.acc[0].kind, NH_ACC_LOAD);

		decode_func(elf, "conn_param_get_username", 0, &res, NULL);
		print_res("conn_param_get_username", &res);
		assert_int_equal(res.n_acc, 2);
		a = &res.acc[0]; /* the con_flag test comes first */
		assert_int_equal(a->disp, 0x4f);
		assert_int_equal(a->size, 1);
		assert_int_equal(a->kind, NH_ACC_TEST);
		assert_true(a->has_imm);
		assert_int_equal(a->imm, 0x80);
		a = &res.acc[1];
		assert_int_equal(a->disp, 0xa8);
		assert_int_equal(a->size, 8);
		assert_int_equal(a->kind, NH_ACC_LOAD);

		decode_func(elf, "conn_param_get_keepalive", 0, &res, NULL);
		print_res("conn_param_get_keepalive", &res);
		assert_int_equal(res.n_acc, 1);
		assert_int_equal(res.acc[0].disp, 0x4a);
		assert_int_equal(res.acc[0].size, 2);

		decode_func(elf, "conn_param_get_protover", 0, &res, NULL);
		print_res("conn_param_get_protover", &res);
		assert_int_equal(res.n_acc, 1);
		assert_int_equal(res.acc[0].disp, 0x4e);
		assert_int_equal(res.acc[0].size, 1);
		nh_elf_close(elf);
	}
}

/* nng_msg_* jump or call into nni_msg_*: follow the tail like a caller would. */
static void test_decode_msg_wrappers(void **state)
{
	static const struct {
		const char *wrapper;
		const char *inner;
		int64_t disp;
	} cases[] = {
		{ "nng_msg_body", "nni_msg_body", 0x60 },
		{ "nng_msg_len", "nni_msg_len", 0x50 },
		{ "nng_msg_header_len", "nni_msg_header_len", 0x40 },
		{ "nng_msg_get_conn_param", "nni_msg_get_conn_param", 0x98 },
	};
	(void)state;
	for (size_t v = 0; v < NVARIANTS; v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(variants[v], path, sizeof(path));
		struct nh_disasm_result res;
		struct nh_sym inner;

		printf("  nmq_fixture-%s\n", variants[v]);
		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
			decode_func(elf, cases[i].wrapper, 0, &res, NULL);
			print_res(cases[i].wrapper, &res);
			assert_int_equal(res.n_acc, 0);
			assert_int_not_equal(res.tail_kind, NH_TAIL_NONE);
			assert_int_equal(res.tail_argno, 0);
			assert_int_equal(res.tail_arg_off, 0);
			assert_int_equal(nh_elf_find_func(elf, cases[i].inner, &inner), 0);
			assert_int_equal(res.tail_target, inner.vaddr);

			decode_func(elf, cases[i].inner, 0, &res, NULL);
			assert_int_equal(res.n_acc, 1);
			assert_int_equal(res.acc[0].disp, cases[i].disp);
			assert_int_equal(res.acc[0].size, 8);
		}
		/* nni_msg_header returns its argument: the header is at 0 */
		decode_func(elf, "nni_msg_header", 0, &res, NULL);
		print_res("nni_msg_header", &res);
		assert_int_equal(res.n_acc, 0);
		assert_true(res.ret_is_arg);
		assert_int_equal(res.ret_arg_off, 0);
		nh_elf_close(elf);
	}
}

static void test_decode_work_handlers(void **state)
{
	static const char *const handlers[] = { "handle_pub", "hook_entry",
						"decode_pub_message" };
	(void)state;
	for (size_t v = 0; v < NVARIANTS; v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(variants[v], path, sizeof(path));
		struct nh_disasm_result res;

		printf("  nmq_fixture-%s\n", variants[v]);
		for (size_t i = 0; i < 3; i++) {
			decode_func(elf, handlers[i], 0, &res, NULL);
			print_res(handlers[i], &res);
			const struct nh_access *cp = find_acc(&res, 136, NH_ACC_LOAD);
			const struct nh_access *pp = find_acc(&res, 144, NH_ACC_LOAD);
			assert_non_null(cp);
			assert_non_null(pp);
			assert_int_equal(cp->size, 8);
			assert_int_equal(pp->size, 8);
			if (strcmp(handlers[i], "decode_pub_message") == 0)
				assert_non_null(find_acc(&res, 32, NH_ACC_LOAD));
			/* nothing but struct work fields: all inside it */
			for (size_t k = 0; k < res.n_acc; k++)
				assert_true(res.acc[k].disp >= 0 && res.acc[k].disp < 176);
		}
		nh_elf_close(elf);
	}
}

/* The walker on hand-assembled snippets: each pattern on its own. */
static void test_decode_snippets(void **state)
{
	static const struct {
		const char *what;
		const char *code;
		size_t len;
		int argno;
		int64_t disp; /* of the first access; -1: none expected */
		uint8_t size, kind;
		uint64_t imm;
	} cases[] = {
		{ "testb $0x80,0x4f(%rdi)", "\xf6\x47\x4f\x80\x74\x08\x48\x8b\x87\xa8\x00\x00\x00\xc3\x31\xc0\xc3",
		  17, 0, 0x4f, 1, NH_ACC_TEST, 0x80 },
		{ "lea 0x78(%rdi); mov 8(%rax)", "\x48\x8d\x47\x78\x8b\x40\x08\xc3", 8, 0, 0x80, 4, NH_ACC_LOAD, 0 },
		{ "push %rdi; pop %rbx", "\x57\x5b\x48\x8b\x43\x10\xc3", 7, 0, 0x10, 8, NH_ACC_LOAD, 0 },
		{ "arg1 via %rdx", "\x48\x89\xf2\x0f\xb7\x42\x4a\xc3", 8, 1, 0x4a, 2, NH_ACC_LOAD, 0 },
		{ "-O0 spill", "\x55\x48\x89\xe5\x48\x89\x7d\xe8\x48\x8b\x45\xe8\x48\x8b\x40\x78\x5d\xc3",
		  18, 0, 0x78, 8, NH_ACC_LOAD, 0 },
		{ "cmpb $0 + cmovs", "\x31\xc0\x80\x7f\x4f\x00\x48\x0f\x48\x87\xa8\x00\x00\x00\xc3",
		  15, 0, 0x4f, 1, NH_ACC_TEST, 0x80 },
		{ "movzbl + and $0x40", "\x0f\xb6\x47\x4f\x83\xe0\x40\xc3", 8, 0, 0x4f, 1, NH_ACC_TEST, 0x40 },
		{ "truncated pointer", "\x89\xf8\x48\x8b\x40\x10\xc3", 7, 0, -1, 0, 0, 0 },
		{ "wrong argument", "\x48\x8b\x47\x10\xc3", 5, 1, -1, 0, 0, 0 },
		{ "loop", "\x48\x8b\x47\x20\x48\x85\xc0\x75\xf7\xc3", 10, 0, 0x20, 8, NH_ACC_LOAD, 0 },
		{ "garbage", "\xff\xff\xff\xff", 4, 0, -1, 0, 0, 0 },
		{ "empty", "", 0, 0, -1, 0, 0, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct nh_access acc[4];
		int n = nh_disasm_first_arg_load((const uint8_t *)cases[i].code, cases[i].len,
						 0x1000, cases[i].argno, acc, 4);
		if (cases[i].disp < 0) {
			if (n != 0)
				fail_msg("%s: %d accesses, expected none", cases[i].what, n);
			continue;
		}
		if (n < 1)
			fail_msg("%s: no access found", cases[i].what);
		assert_int_equal(acc[0].disp, cases[i].disp);
		assert_int_equal(acc[0].size, cases[i].size);
		assert_int_equal(acc[0].kind, cases[i].kind);
		if (cases[i].kind == NH_ACC_TEST)
			assert_int_equal(acc[0].imm, cases[i].imm);
	}

	/* the second read through a clobbered register is not the argument's */
	struct nh_access acc[4];
	assert_int_equal(nh_disasm_first_arg_load((const uint8_t *)"\x48\x8b\x7f\x08\x48\x8b\x47\x10\xc3",
						  9, 0, 0, acc, 4), 1);
	assert_int_equal(acc[0].disp, 8);

	/* a tail jump out of the function, with the argument still in %rdi */
	struct nh_disasm_result res;
	assert_int_equal(nh_disasm_arg_accesses(NH_ARCH_X86_64, (const uint8_t *)"\xeb\xdc", 2,
						0x4a, 0, 0, &res), 0);
	assert_int_equal(res.tail_kind, NH_TAIL_JMP);
	assert_int_equal(res.tail_target, 0x28);
	assert_int_equal(res.tail_argno, 0);

	assert_int_equal(nh_disasm_arg_accesses(NH_ARCH_X86_64, (const uint8_t *)"\xc3", 1, 0, 6, 0,
						&res), -EINVAL);
	assert_int_equal(nh_disasm_arg_accesses(NH_ARCH_ARM64, (const uint8_t *)"\xc0\x03\x5f\xd6", 4,
						0, 0, 0, &res), -ENOTSUP);
}

/* --- dwarf.c ----------------------------------------------------------------- */

static void test_dwarf_offsets(void **state)
{
	static const struct {
		const char *type, *member;
		long off, size;
	} want[] = {
		{ "conn_param", "ip_addr_v4", 20, 16 },
		{ "conn_param", "keepalive_mqtt", 74, 2 },
		{ "conn_param", "pro_ver", 78, 1 },
		{ "conn_param", "con_flag", 79, 1 },
		{ "conn_param", "clientid.body", 120, 8 },
		{ "conn_param", "clientid.len", 128, 4 },
		{ "conn_param", "username.body", 168, 8 },
		{ "conn_param", "username.len", 176, 4 },
		{ "nano_work", "flag", 22, 1 },
		{ "nano_work", "msg", 32, 8 },
		{ "nano_work", "cparam", 136, 8 },
		{ "nano_work", "pub_packet", 144, 8 },
		{ "nano_work", "sub_pkt", 152, 8 },
		{ "nano_work", "unsub_pkt", 160, 8 },
		{ "work", "cparam", 136, 8 },
		{ "pub_packet_struct", "fixed_header", 0, 8 },
		{ "pub_packet_struct", "var_header.publish.packet_id", 8, 2 },
		{ "pub_packet_struct", "var_header.publish.topic_name.body", 16, 8 },
		{ "pub_packet_struct", "var_header.publish.topic_name.len", 24, 4 },
		{ "pub_packet_struct", "payload.data", 48, 8 },
		{ "pub_packet_struct", "payload.len", 56, 4 },
		{ "nng_msg", "m_body.ch_ptr", 0x60, 8 },
		{ "nni_msg", "cparam", 0x98, 8 },
	};
	char path[PATH_MAX];
	int err;
	(void)state;

	fixture_path(path, sizeof(path), "O2g");
	struct nh_dwarf *dw = nh_dwarf_open(path, &err);
	assert_non_null(dw);
	assert_int_equal(err, NH_DWARF_OK);
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		long off = -1, size = -1;
		int rc = nh_dwarf_member(dw, want[i].type, want[i].member, &off, &size);
		if (rc != NH_DWARF_OK)
			fail_msg("%s.%s: %s", want[i].type, want[i].member, nh_dwarf_strerror(rc));
		if (off != want[i].off || size != want[i].size)
			fail_msg("%s.%s: offset %ld size %ld, want %ld %ld", want[i].type,
				 want[i].member, off, size, want[i].off, want[i].size);
	}
	long off;
	assert_int_equal(nh_dwarf_member(dw, "no_such_struct", "x", &off, NULL), NH_DWARF_ENOSTRUCT);
	assert_int_equal(nh_dwarf_member(dw, "conn_param", "nope", &off, NULL), NH_DWARF_ENOMEMBER);
	assert_int_equal(nh_dwarf_member(dw, "conn_param", "clientid.nope", &off, NULL),
			 NH_DWARF_ENOMEMBER);
	/* body is a pointer: nothing is nested inside it */
	assert_int_equal(nh_dwarf_member(dw, "conn_param", "clientid.body.x", &off, NULL),
			 NH_DWARF_ENOMEMBER);
	assert_int_equal(nh_dwarf_member(dw, "conn_param", "clientid..body", &off, NULL),
			 NH_DWARF_EBAD);
	nh_dwarf_close(dw);

	/* the one-shot form */
	assert_int_equal(nh_dwarf_member_offset(path, "conn_param", "clientid.body", &off), 0);
	assert_int_equal(off, 120);
	for (size_t v = 0; v < 2; v++) {
		fixture_path(path, sizeof(path), variants[v]);
		assert_int_equal(nh_dwarf_member_offset(path, "conn_param", "clientid.body", &off),
				 NH_DWARF_ENODWARF);
	}
	assert_int_equal(nh_dwarf_member_offset("/nonexistent", "conn_param", "pro_ver", &off),
			 NH_DWARF_EOPEN);
	assert_int_equal(nh_dwarf_member_offset(NH_SOURCE_DIR "/Makefile", "conn_param",
						"pro_ver", &off),
			 NH_DWARF_EOPEN);
}

/* Code and DWARF must tell the same offsets on the build that has both. */
static void test_dwarf_agrees_with_code(void **state)
{
	static const struct {
		const char *func, *type, *member;
	} pairs[] = {
		{ "conn_param_get_clientid", "conn_param", "clientid.body" },
		{ "conn_param_get_keepalive", "conn_param", "keepalive_mqtt" },
		{ "conn_param_get_protover", "conn_param", "pro_ver" },
		{ "nni_msg_body", "nng_msg", "m_body.ch_ptr" },
	};
	char path[PATH_MAX];
	struct nh_elf *elf = open_fixture("O2g", path, sizeof(path));
	struct nh_disasm_result res;
	long off;
	(void)state;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++) {
		decode_func(elf, pairs[i].func, 0, &res, NULL);
		assert_int_equal(res.n_acc, 1);
		assert_int_equal(nh_dwarf_member_offset(path, pairs[i].type, pairs[i].member, &off), 0);
		assert_int_equal(res.acc[0].disp, off);
	}
	decode_func(elf, "conn_param_get_username", 0, &res, NULL);
	assert_int_equal(nh_dwarf_member_offset(path, "conn_param", "con_flag", &off), 0);
	assert_int_equal(res.acc[0].disp, off);
	assert_int_equal(nh_dwarf_member_offset(path, "conn_param", "username.body", &off), 0);
	assert_int_equal(res.acc[1].disp, off);
	decode_func(elf, "handle_pub", 0, &res, NULL);
	assert_int_equal(nh_dwarf_member_offset(path, "nano_work", "cparam", &off), 0);
	assert_non_null(find_acc(&res, off, NH_ACC_LOAD));
	assert_int_equal(nh_dwarf_member_offset(path, "nano_work", "pub_packet", &off), 0);
	assert_non_null(find_acc(&res, off, NH_ACC_LOAD));
	nh_elf_close(elf);
}

/* --- stripped builds ------------------------------------------------------ */

static const char *const stripped_variants[] = { "O0s", "O2s", "O3s" };
#define NSTRIPPED (sizeof(stripped_variants) / sizeof(stripped_variants[0]))

/* The functions a stripped build recovers, each from its __func__ literal. */
static const char *const recovered_funcs[] = { "nano_msg_notify", "handle_pub",
					       "decode_pub_message", "conn_handler" };

static void *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Every function in the symbol table of the .sym twins has an FDE with
 * exactly its bounds, as an entry; gcc's .cold parts are not entries. */
static void test_fde_find(void **state)
{
	(void)state;
	for (size_t v = 0; v < NSTRIPPED; v++) {
		char path[PATH_MAX], sym_variant[16];
		struct nh_fde f;
		struct nh_sym sym;

		snprintf(sym_variant, sizeof(sym_variant), "%s.sym", stripped_variants[v]);
		struct nh_elf *elf = open_fixture(sym_variant, path, sizeof(path));
		for (size_t i = 0; i < sizeof(fixture_funcs) / sizeof(*fixture_funcs); i++) {
			assert_int_equal(nh_elf_find_func(elf, fixture_funcs[i], &sym), 0);
			uint64_t probes[3] = { sym.vaddr, sym.vaddr + sym.size / 2,
					       sym.vaddr + sym.size - 1 };
			for (int k = 0; k < 3; k++) {
				assert_int_equal(nh_elf_fde_find(elf, probes[k], &f), 0);
				assert_int_equal(f.start, sym.vaddr);
				assert_int_equal(f.size, sym.size);
				assert_true(f.entry);
			}
		}
		/* -O2 and -O3 split decode_pub_message's fatal path off */
		if (nh_elf_find_func(elf, "decode_pub_message.cold", &sym) == 0) {
			printf("  %s: decode_pub_message.cold at 0x%llx\n", sym_variant,
			       (unsigned long long)sym.vaddr);
			assert_int_equal(nh_elf_fde_find(elf, sym.vaddr, &f), 0);
			assert_int_equal(f.start, sym.vaddr);
			assert_false(f.entry);
		} else {
			assert_string_equal(stripped_variants[v], "O0s");
		}
		/* read-only data is in no FDE */
		uint64_t lit;
		assert_int_equal(nh_elf_find_string(elf, "handle_pub", 0, &lit, 1), 1);
		assert_int_equal(nh_elf_fde_find(elf, lit, &f), -ENOENT);
		assert_int_equal(nh_elf_fde_find(elf, 0, &f), -ENOENT);
		assert_int_equal(nh_elf_fde_find(NULL, 0, &f), -EINVAL);
		nh_elf_close(elf);
	}
}

/* Patches a copy of the image: the walk of .eh_frame (no usable
 * .eh_frame_hdr table) and the lookup without section headers (through
 * PT_GNU_EH_FRAME) must find what the table finds. */
static void test_fde_fallbacks(void **state)
{
	char path[PATH_MAX], err[128];
	size_t len;
	uint64_t hdr_addr, hdr_size, hdr_off;
	struct nh_sym sym;
	struct nh_fde want, got;
	(void)state;

	fixture_path(path, sizeof(path), "O2s.sym");
	uint8_t *img = read_whole(path, &len);
	struct nh_elf *elf = nh_elf_open_mem(img, len, err, sizeof(err));
	assert_non_null(elf);
	assert_int_equal(nh_elf_section(elf, ".eh_frame_hdr", &hdr_addr, &hdr_size), 0);
	assert_int_equal(nh_elf_vaddr_to_offset(elf, hdr_addr, &hdr_off), 0);
	assert_int_equal(img[hdr_off], 1); /* version */
	uint64_t addrs[sizeof(fixture_funcs) / sizeof(*fixture_funcs)];
	for (size_t i = 0; i < sizeof(fixture_funcs) / sizeof(*fixture_funcs); i++) {
		assert_int_equal(nh_elf_find_func(elf, fixture_funcs[i], &sym), 0);
		addrs[i] = sym.vaddr + 1;
	}

	/* 1. an unknown header version: the table is not used */
	img[hdr_off] = 9;
	struct nh_elf *walk = nh_elf_open_mem(img, len, err, sizeof(err));
	img[hdr_off] = 1;
	/* 2. no section headers at all (e_shoff, e_shnum, e_shstrndx = 0) */
	assert_int_equal(img[4], ELFCLASS64);
	memset(img + 0x28, 0, 8);
	memset(img + 0x3c, 0, 4);
	struct nh_elf *nosec = nh_elf_open_mem(img, len, err, sizeof(err));
	assert_non_null(walk);
	assert_non_null(nosec);
	assert_int_equal(nh_elf_section(nosec, ".eh_frame", NULL, NULL), -ENOENT);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(*addrs); i++) {
		assert_int_equal(nh_elf_fde_find(elf, addrs[i], &want), 0);
		assert_int_equal(nh_elf_fde_find(walk, addrs[i], &got), 0);
		assert_int_equal(got.start, want.start);
		assert_int_equal(got.size, want.size);
		assert_int_equal(got.entry, want.entry);
		assert_int_equal(nh_elf_fde_find(nosec, addrs[i], &got), 0);
		assert_int_equal(got.start, want.start);
		assert_int_equal(got.size, want.size);
		assert_int_equal(got.entry, want.entry);
	}
	assert_int_equal(nh_elf_fde_find(walk, 0, &got), -ENOENT);
	nh_elf_close(elf);
	nh_elf_close(walk);
	nh_elf_close(nosec);

	/* cut short: lookups fail cleanly, whichever part is missing */
	for (size_t cut = 256; cut < len; cut = cut * 3 / 2) {
		struct nh_elf *e = nh_elf_open_mem(img, cut, err, sizeof(err));
		if (!e)
			continue;
		for (size_t i = 0; i < sizeof(addrs) / sizeof(*addrs); i++) {
			int rc = nh_elf_fde_find(e, addrs[i], &got);
			assert_true(rc == 0 || rc == -ENOENT || rc == -EINVAL);
		}
		nh_elf_close(e);
	}
	free(img);
}

/* The loads of a function's name literal: the byte scan finds them, the
 * exact search confirms them, all inside that function (or its .cold part). */
static void test_literal_refs(void **state)
{
	(void)state;
	for (size_t v = 0; v < NSTRIPPED; v++) {
		char path[PATH_MAX], sym_variant[16];
		struct nh_elf_seg seg[4];

		snprintf(sym_variant, sizeof(sym_variant), "%s.sym", stripped_variants[v]);
		struct nh_elf *elf = open_fixture(sym_variant, path, sizeof(path));
		enum nh_arch arch = nh_disasm_arch_for_machine(nh_elf_machine(elf));
		int nseg = nh_elf_exec_segments(elf, seg, 4);
		assert_true(nseg >= 1 && nseg <= 4);
		for (size_t i = 0; i < sizeof(recovered_funcs) / sizeof(*recovered_funcs); i++) {
			struct nh_sym sym, cold;
			char cold_name[64];
			uint64_t lit, refs[64], exact[64];
			int total = 0;

			assert_int_equal(nh_elf_find_func(elf, recovered_funcs[i], &sym), 0);
			snprintf(cold_name, sizeof(cold_name), "%s.cold", recovered_funcs[i]);
			bool has_cold = nh_elf_find_func(elf, cold_name, &cold) == 0;
			assert_int_equal(nh_elf_find_string(elf, recovered_funcs[i], 0, &lit, 1), 1);
			for (int s2 = 0; s2 < nseg; s2++) {
				uint8_t *code = malloc(seg[s2].size);
				assert_non_null(code);
				assert_int_equal(nh_elf_read_vaddr(elf, seg[s2].vaddr, code, seg[s2].size), 0);
				int n = nh_disasm_scan_refs(arch, code, seg[s2].size, seg[s2].vaddr, lit,
							    NH_REF_ADDR, refs, 64);
				assert_true(n >= 0 && n <= 64);
				for (int k = 0; k < n; k++) {
					bool in_fn = refs[k] >= sym.vaddr && refs[k] < sym.vaddr + sym.size;
					bool in_cold = has_cold && refs[k] >= cold.vaddr &&
						       refs[k] < cold.vaddr + cold.size;
					assert_true(in_fn || in_cold);
				}
				total += n;
				free(code);
			}
			uint8_t *fcode = malloc(sym.size);
			assert_non_null(fcode);
			assert_int_equal(nh_elf_read_vaddr(elf, sym.vaddr, fcode, sym.size), 0);
			int m = nh_disasm_func_refs(arch, fcode, sym.size, sym.vaddr, lit, NH_REF_ADDR,
						    exact, 64);
			free(fcode);
			assert_true(m >= 1);
			assert_true(m <= total);
			for (int k = 0; k < m; k++)
				assert_true(exact[k] >= sym.vaddr && exact[k] < sym.vaddr + sym.size);
			printf("  %s %-20s %d load(s) of its name, %d in its own body%s\n", sym_variant,
			       recovered_funcs[i], total, m, has_cold ? " (rest in .cold)" : "");
			if (has_cold) {
				/* the .cold part is reached by a branch from its function */
				fcode = malloc(sym.size);
				assert_non_null(fcode);
				assert_int_equal(nh_elf_read_vaddr(elf, sym.vaddr, fcode, sym.size), 0);
				assert_true(nh_disasm_func_refs(arch, fcode, sym.size, sym.vaddr,
								cold.vaddr, NH_REF_BRANCH, NULL, 0) >= 1);
				assert_int_equal(nh_disasm_func_refs(arch, fcode, sym.size, sym.vaddr,
								     cold.vaddr, NH_REF_ADDR, NULL, 0), 0);
				free(fcode);
			}
		}
		/* no other function loads nano_msg_notify's name */
		struct nh_sym other;
		uint64_t lit;
		assert_int_equal(nh_elf_find_string(elf, "nano_msg_notify", 0, &lit, 1), 1);
		assert_int_equal(nh_elf_find_func(elf, "handle_pub", &other), 0);
		uint8_t *ocode = malloc(other.size);
		assert_non_null(ocode);
		assert_int_equal(nh_elf_read_vaddr(elf, other.vaddr, ocode, other.size), 0);
		assert_int_equal(nh_disasm_func_refs(arch, ocode, other.size, other.vaddr, lit,
						     NH_REF_ADDR | NH_REF_BRANCH, NULL, 0), 0);
		free(ocode);
		nh_elf_close(elf);
	}
}

/* The reference finders on hand-assembled code: each encoding on its own,
 * and bytes that only look like a reference from the middle of another
 * instruction, which the byte scan reports and the exact search does not. */
static void test_refs_snippets(void **state)
{
	/* 0x1000: lea 0x100(%rip),%rcx -> 0x1107; mov $0x2000,%edi;
	 * call 0x1000; jne 0x1000; movabs with lea-like bytes inside; ret */
	static const uint8_t code[] = {
		0x48, 0x8d, 0x0d, 0x00, 0x01, 0x00, 0x00,             /* 1000 lea 0x100(%rip),%rcx */
		0xbf, 0x00, 0x20, 0x00, 0x00,                         /* 1007 mov $0x2000,%edi */
		0xe8, 0xef, 0xff, 0xff, 0xff,                         /* 100c call 1000 */
		0x75, 0xed,                                           /* 1011 jne 1000 */
		0x48, 0xb8, 0x8d, 0x05, 0xef, 0x00, 0x00, 0x00, 0x90, 0x90, /* 1013 movabs */
		0xc3,                                                 /* 101d ret */
	};
	uint64_t out[8];
	(void)state;

	assert_int_equal(nh_disasm_scan_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x1107,
					     NH_REF_ADDR, out, 8), 1);
	assert_int_equal(out[0], 0x1000);
	assert_int_equal(nh_disasm_func_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x1107,
					     NH_REF_ADDR, out, 8), 1);
	assert_int_equal(out[0], 0x1000);
	assert_int_equal(nh_disasm_scan_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x2000,
					     NH_REF_ADDR, out, 8), 1);
	assert_int_equal(out[0], 0x1007);
	assert_int_equal(nh_disasm_func_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x2000,
					     NH_REF_ADDR, out, 8), 1);
	/* branches to 0x1000: the call and the jne, not the address loads */
	assert_int_equal(nh_disasm_scan_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x1000,
					     NH_REF_BRANCH, out, 8), 2);
	assert_int_equal(out[0], 0x100c);
	assert_int_equal(out[1], 0x1011);
	assert_int_equal(nh_disasm_func_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x1000,
					     NH_REF_BRANCH, out, 8), 2);
	assert_int_equal(nh_disasm_func_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x1000,
					     NH_REF_ADDR, out, 8), 0);
	/* 8d 05 ef 00 00 00 inside the movabs "loads" 0x1015 + 6 + 0xef = 0x110a */
	assert_int_equal(nh_disasm_scan_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x110a,
					     NH_REF_ADDR, out, 8), 1);
	assert_int_equal(nh_disasm_func_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x110a,
					     NH_REF_ADDR, out, 8), 0);
	/* counts go on past max; bad arguments */
	assert_int_equal(nh_disasm_scan_refs(NH_ARCH_X86_64, code, sizeof(code), 0x1000, 0x1000,
					     NH_REF_BRANCH, NULL, 0), 2);
	assert_int_equal(nh_disasm_scan_refs(NH_ARCH_X86_64, NULL, 4, 0, 0, NH_REF_ADDR, NULL, 0),
			 -EINVAL);
	assert_int_equal(nh_disasm_func_refs(NH_ARCH_ARM64, code, 4, 0, 0, NH_REF_ADDR, NULL, 0),
			 -ENOTSUP);
}

/* nano_msg_notify hands its conn_param to the four accessors: every call
 * with the pointer in %rdi lands on one of them, and each is called. */
static void test_calls_with_arg(void **state)
{
	static const char *const accessors[] = { "conn_param_get_username",
						 "conn_param_get_clientid",
						 "conn_param_get_keepalive",
						 "conn_param_get_protover" };
	static const char *const all[] = { "O0", "O2", "O3", "O2g" };
	(void)state;
	for (size_t v = 0; v < sizeof(all) / sizeof(*all); v++) {
		char path[PATH_MAX];
		struct nh_elf *elf = open_fixture(all[v], path, sizeof(path));
		struct nh_disasm_result *res = malloc(sizeof(*res));
		struct nh_sym sym, acc;
		bool seen[4] = { false };

		assert_non_null(res);
		assert_int_equal(nh_elf_find_func(elf, "nano_msg_notify", &sym), 0);
		uint8_t *code = malloc(sym.size);
		assert_non_null(code);
		assert_int_equal(nh_elf_read_vaddr(elf, sym.vaddr, code, sym.size), 0);
		assert_int_equal(nh_disasm_arg_accesses(NH_ARCH_X86_64, code, sym.size, sym.vaddr, 0,
							NH_DIS_THROUGH_CALLS, res), 0);
		free(code);
		assert_false(res->calls_truncated);
		for (size_t i = 0; i < res->n_calls; i++) {
			const struct nh_call *c = &res->calls[i];
			bool known = false;

			assert_true(c->insn_addr >= sym.vaddr && c->insn_addr < sym.vaddr + sym.size);
			if (i)
				assert_true(c->insn_addr > res->calls[i - 1].insn_addr);
			if (c->argno != 0 || c->arg_off != 0)
				continue;
			for (int k = 0; k < 4; k++) {
				assert_int_equal(nh_elf_find_func(elf, accessors[k], &acc), 0);
				if (c->target == acc.vaddr) {
					seen[k] = known = true;
					assert_int_equal(c->kind, NH_TAIL_CALL);
				}
			}
			if (!known)
				fail_msg("%s: call at 0x%llx with the conn_param to 0x%llx, no accessor",
					 all[v], (unsigned long long)c->insn_addr,
					 (unsigned long long)c->target);
		}
		for (int k = 0; k < 4; k++)
			if (!seen[k])
				fail_msg("%s: nano_msg_notify's call to %s not found", all[v], accessors[k]);
		/* without NH_DIS_THROUGH_CALLS each path ends at its first call */
		code = malloc(sym.size);
		assert_non_null(code);
		assert_int_equal(nh_elf_read_vaddr(elf, sym.vaddr, code, sym.size), 0);
		assert_int_equal(nh_disasm_arg_accesses(NH_ARCH_X86_64, code, sym.size, sym.vaddr, 0, 0,
							res), 0);
		free(code);
		assert_true(res->n_calls >= 1 && res->n_calls < 4);
		free(res);
		nh_elf_close(elf);
	}
}

static const struct nh_finding *finding(const struct nh_target *t, const char *what)
{
	for (size_t i = 0; i < t->n_findings; i++)
		if (strcmp(t->findings[i].what, what) == 0)
			return &t->findings[i];
	return NULL;
}

/* What `nanohook probe` establishes from a stripped file alone: the same
 * functions as the twin's symbols, NanoMQ 0.25's offsets, and where each
 * came from; events it cannot serve are refused by name. */
static void test_stripped_resolve(void **state)
{
	(void)state;
	for (size_t v = 0; v < NSTRIPPED; v++) {
		char path[PATH_MAX], sym_variant[16], err[512] = "", want[32];
		struct nh_target t;
		struct nh_sym sym;
		const struct nh_finding *f;

		snprintf(sym_variant, sizeof(sym_variant), "%s.sym", stripped_variants[v]);
		struct nh_elf *twin = open_fixture(sym_variant, path, sizeof(path));
		fixture_path(path, sizeof(path), stripped_variants[v]);
		if (nh_target_open(&t, 0, path, NULL, err, sizeof(err)))
			fail_msg("%s: %s", path, err);
		assert_false(nh_elf_has_symtab(t.elf));
		assert_string_equal(t.broker->name, "nanomq");
		printf("  %s\n", path);
		nh_target_print_findings(&t, stdout);
		for (size_t i = 0; i < sizeof(recovered_funcs) / sizeof(*recovered_funcs); i++) {
			char what[64];

			assert_int_equal(nh_elf_find_func(twin, recovered_funcs[i], &sym), 0);
			snprintf(what, sizeof(what), "function %s", recovered_funcs[i]);
			snprintf(want, sizeof(want), "0x%llx", (unsigned long long)sym.vaddr);
			assert_non_null(f = finding(&t, what));
			assert_true(f->ok);
			assert_string_equal(f->value, want);
			assert_non_null(strstr(f->source, "__func__ literal"));
		}
		static const struct {
			const char *what, *value, *source;
		} offs[] = {
			{ "conn_param.keepalive_mqtt", "0x4a (74)", "accessor called by nano_msg_notify" },
			{ "conn_param.pro_ver", "0x4e (78)", "accessor called by nano_msg_notify" },
			{ "conn_param.con_flag", "0x4f (79)", "accessor called by nano_msg_notify" },
			{ "conn_param.clientid.body", "0x78 (120)", "accessor called by nano_msg_notify" },
			{ "conn_param.username.body", "0xa8 (168)", "accessor called by nano_msg_notify" },
			{ "nano_work.cparam", "0x88 (136)", "confirmed by handle_pub/decode_pub_message" },
			{ "nano_work.pub_packet", "0x90 (144)", "confirmed by handle_pub/decode_pub_message" },
			{ "nano_work.msg", "0x20 (32)", "confirmed by handle_pub/decode_pub_message" },
		};
		for (size_t i = 0; i < sizeof(offs) / sizeof(*offs); i++) {
			assert_non_null(f = finding(&t, offs[i].what));
			assert_true(f->ok);
			assert_string_equal(f->value, offs[i].value);
			assert_non_null(strstr(f->source, offs[i].source));
		}
		/* never logs, or reads offsets only symbols give */
		assert_non_null(f = finding(&t, "function dbhash_insert_topic"));
		assert_false(f->ok);
		assert_non_null(strstr(f->source, "never logs"));
		assert_non_null(f = finding(&t, "function decode_sub_msg"));
		assert_false(f->ok);

		/* a rule for on_client_subscribe is refused by name */
		struct nh_attach_opts o = {
			.events = 1u << NH_EV_CONNACK | 1u << NH_EV_SUBSCRIBE,
			.payload_max = 1024,
			.ringbuf_bytes = 1 << 20,
		};
		struct nh_attachment att;
		memset(&att, 0, sizeof(att));
		assert_int_equal(t.broker->attach(&t, &o, &att, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "stripped and decode_sub_msg, which on_client_subscribe "
					    "needs, could not be recovered; use the Docker image or a "
					    "build with symbols"));
		nh_target_close(&t);
		nh_elf_close(twin);
	}
}

/* Writes a copy of `path` with every `from` (same length as `to`) replaced;
 * returns how many were. */
static int patched_copy(const char *path, const char *out, const char *from, const char *to,
			size_t n)
{
	size_t len;
	uint8_t *img = read_whole(path, &len), *p = img;
	int count = 0;

	while ((p = memmem(p, len - (size_t)(p - img), from, n)) != NULL) {
		memcpy(p, to, n);
		count++;
	}
	FILE *f = fopen(out, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, len, f), len);
	fclose(f);
	free(img);
	return count;
}

/* Stripped builds nanohook cannot read refuse with a message saying what
 * is missing and which build to use. */
static void test_stripped_refusals(void **state)
{
	char path[PATH_MAX], tmp[] = "/tmp/nh-test-stripped.XXXXXX", err[512];
	struct nh_target t;
	const struct nh_finding *f;
	int fd = mkstemp(tmp);
	(void)state;

	assert_true(fd >= 0);
	close(fd);
	fixture_path(path, sizeof(path), "O2s");

	/* no "handle_pub" literal: the function cannot be found */
	assert_int_equal(patched_copy(path, tmp, "handle_pub\0", "handle_puX\0", 11), 1);
	assert_int_equal(nh_target_open(&t, 0, tmp, NULL, err, sizeof(err)), -1);
	printf("  %s\n", err);
	assert_non_null(strstr(err, "this NanoMQ build is stripped and handle_pub could not be "
				    "recovered (no \"handle_pub\" literal"));
	assert_non_null(strstr(err, "use the Docker image or a build with symbols"));
	assert_non_null(f = finding(&t, "function handle_pub"));
	assert_false(f->ok);
	nh_target_close(&t);

	/* decode_unsub_msg's name turned into a second "handle_pub": two
	 * functions load that literal, and neither is trusted */
	assert_int_equal(patched_copy(path, tmp, "decode_unsub_msg\0", "handle_pub\0\0\0\0\0\0\0", 17),
			 1);
	assert_int_equal(nh_target_open(&t, 0, tmp, NULL, err, sizeof(err)), -1);
	printf("  %s\n", err);
	assert_non_null(strstr(err, "stripped and handle_pub could not be recovered (2 functions "
				    "load the \"handle_pub\" literal)"));
	nh_target_close(&t);

	unlink(tmp);
}

/* --- Mosquitto ------------------------------------------------------------- */

#define MOSQUITTO "/usr/sbin/mosquitto"

/* Debian's stripped mosquitto: each plugin accessor nanohook reads offsets
 * from is found in .dynsym and reads its context argument the way the
 * resolver relies on (one load of the field's size; username's accessor
 * loads ->bridge first, then ->username), at distinct offsets. */
static void test_mosquitto_accessors(void **state)
{
	static const struct {
		const char *func;
		size_t loads;     /* loads from the context, in order */
		uint8_t size;     /* of each */
	} accessors[] = {
		{ "mosquitto_client_id", 1, 8 },
		{ "mosquitto_client_username", 2, 8 },
		{ "mosquitto_client_keepalive", 1, 2 },
		{ "mosquitto_client_protocol_version", 1, 4 },
	};
	int64_t seen[8];
	size_t n_seen = 0;
	char err[256];
	struct nh_elf *elf;
	(void)state;

	if (access(MOSQUITTO, R_OK) != 0)
		NH_SKIP("[absent mosquitto] %s: apt-get install mosquitto", MOSQUITTO);
	elf = nh_elf_open(MOSQUITTO, err, sizeof(err));
	if (!elf)
		fail_msg("%s", err);
	for (size_t i = 0; i < sizeof(accessors) / sizeof(*accessors); i++) {
		struct nh_disasm_result res;
		struct nh_sym sym;

		decode_func(elf, accessors[i].func, 0, &res, &sym);
		assert_true(sym.dynamic); /* the package is stripped: .dynsym only */
		print_res(accessors[i].func, &res);
		assert_int_equal(res.n_acc, accessors[i].loads);
		for (size_t k = 0; k < res.n_acc; k++) {
			assert_int_equal(res.acc[k].kind, NH_ACC_LOAD);
			assert_int_equal(res.acc[k].size, accessors[i].size);
			assert_in_range(res.acc[k].disp, 0, 0x1000); /* inside struct mosquitto */
			for (size_t m = 0; m < n_seen; m++)
				assert_int_not_equal(res.acc[k].disp, seen[m]);
			seen[n_seen++] = res.acc[k].disp;
		}
	}
	nh_elf_close(elf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_facts),
		cmocka_unit_test(test_elf_find_func),
		cmocka_unit_test(test_elf_find_string),
		cmocka_unit_test(test_elf_bad_files),
		cmocka_unit_test(test_decode_conn_param_accessors),
		cmocka_unit_test(test_decode_msg_wrappers),
		cmocka_unit_test(test_decode_work_handlers),
		cmocka_unit_test(test_decode_snippets),
		cmocka_unit_test(test_dwarf_offsets),
		cmocka_unit_test(test_dwarf_agrees_with_code),
		cmocka_unit_test(test_fde_find),
		cmocka_unit_test(test_fde_fallbacks),
		cmocka_unit_test(test_literal_refs),
		cmocka_unit_test(test_refs_snippets),
		cmocka_unit_test(test_calls_with_arg),
		cmocka_unit_test(test_stripped_resolve),
		cmocka_unit_test(test_stripped_refusals),
		cmocka_unit_test(test_mosquitto_accessors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
