/* SPDX-License-Identifier: MIT */
/*
 * Start-up checks: the CapEff parser, and what a user reads for each
 * missing kernel feature or capability, from made-up /proc and /sys files
 * (no privileges needed); then the real system when run as root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nh_test.h"

#include "preflight.h"

/* ---- CapEff ---------------------------------------------------------------- */

static void cap_eff_from_a_real_status(void **state)
{
	const char *status =
		"Name:\tnanohook\nUmask:\t0022\nState:\tR (running)\n"
		"CapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\n"
		"CapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n"
		"CapAmb:\t0000000000000000\nNoNewPrivs:\t0\n";
	uint64_t eff = 0;

	(void)state;
	assert_int_equal(nh_cap_eff_parse(status, &eff), 0);
	assert_true(eff == 0x000001fffeffffffULL);
}

static void cap_eff_edge_cases(void **state)
{
	uint64_t eff = 7;

	(void)state;
	/* first line, no newline after it, upper case hex */
	assert_int_equal(nh_cap_eff_parse("CapEff:\t000000C000280000", &eff), 0);
	assert_true(eff == 0x000000c000280000ULL);
	/* fewer digits than the kernel prints still mean the same number */
	assert_int_equal(nh_cap_eff_parse("CapEff: 200000\n", &eff), 0);
	assert_true(eff == 0x200000ULL);
	assert_int_equal(nh_cap_eff_parse("CapEff:\tffffffffffffffff\n", &eff), 0);
	assert_true(eff == UINT64_MAX);

	eff = 7;
	assert_int_equal(nh_cap_eff_parse("", &eff), -1);
	assert_int_equal(nh_cap_eff_parse("CapPrm:\t0000000000000001\n", &eff), -1);
	/* only at the start of a line */
	assert_int_equal(nh_cap_eff_parse("XCapEff:\t1\n", &eff), -1);
	assert_int_equal(nh_cap_eff_parse("CapEff:\t\n", &eff), -1);
	assert_int_equal(nh_cap_eff_parse("CapEff:\t00000000000000001\n", &eff), -1);
	assert_int_equal(nh_cap_eff_parse("CapEff:\t00000g0000000000\n", &eff), -1);
	assert_int_equal(nh_cap_eff_parse("CapEff:\t-1\n", &eff), -1);
	assert_true(eff == 7); /* untouched on failure */
}

/* ---- a made-up system ------------------------------------------------------ */

#define CAP(n) (1ULL << (n))
#define ALL_FOUR (CAP(19) | CAP(21) | CAP(38) | CAP(39))

struct fake {
	char dir[64];
	char btf[96], uprobe[96], status[96], uid_map[96], yama[96];
	char pidns[96], pid1[96], self[96]; /* symlinks, as /proc has them */
	struct nh_preflight_env env;
	char *err, *report;
	size_t err_len, report_len;
};

static int ringbuf_answer;
static int fake_probe_ringbuf(void)
{
	return ringbuf_answer;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void set_caps(struct fake *fk, uint64_t eff)
{
	char text[128];

	snprintf(text, sizeof(text), "Name:\tt\nCapEff:\t%016llx\nCapBnd:\t000001ffffffffff\n",
		 (unsigned long long)eff);
	write_file(fk->status, text);
}

/* Every file of a healthy root process on a BPF-capable kernel. */
static int fake_setup(void **state)
{
	struct fake *fk = calloc(1, sizeof(*fk));

	assert_non_null(fk);
	strcpy(fk->dir, "/tmp/nh-preflight.XXXXXX");
	assert_non_null(mkdtemp(fk->dir));
	snprintf(fk->btf, sizeof(fk->btf), "%s/vmlinux", fk->dir);
	snprintf(fk->uprobe, sizeof(fk->uprobe), "%s/uprobe_type", fk->dir);
	snprintf(fk->status, sizeof(fk->status), "%s/status", fk->dir);
	snprintf(fk->uid_map, sizeof(fk->uid_map), "%s/uid_map", fk->dir);
	snprintf(fk->yama, sizeof(fk->yama), "%s/ptrace_scope", fk->dir);
	snprintf(fk->pidns, sizeof(fk->pidns), "%s/ns_pid", fk->dir);
	snprintf(fk->pid1, sizeof(fk->pid1), "%s/pid1_exe", fk->dir);
	snprintf(fk->self, sizeof(fk->self), "%s/self_exe", fk->dir);
	assert_int_equal(symlink("pid:[4026531836]", fk->pidns), 0); /* the host's */
	assert_int_equal(symlink("/usr/lib/systemd/systemd", fk->pid1), 0);
	assert_int_equal(symlink("/usr/local/sbin/nanohook", fk->self), 0);
	write_file(fk->btf, "BTF");
	write_file(fk->uprobe, "9\n");
	set_caps(fk, 0x000001ffffffffffULL);
	write_file(fk->uid_map, "         0          0 4294967295\n");
	write_file(fk->yama, "1\n");
	fk->env = (struct nh_preflight_env){
		.btf_path = fk->btf,
		.uprobe_type_path = fk->uprobe,
		.status_path = fk->status,
		.uid_map_path = fk->uid_map,
		.ptrace_scope_path = fk->yama,
		.pidns_path = fk->pidns,
		.pid1_exe_path = fk->pid1,
		.self_exe_path = fk->self,
		.in_container = -1,
		.probe_ringbuf = fake_probe_ringbuf,
		.kernel_release = "5.4.0-fake", /* before ring buffers */
	};
	ringbuf_answer = 1;
	*state = fk;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *fk = *state;
	const char *files[] = { fk->btf, fk->uprobe, fk->status, fk->uid_map, fk->yama,
				fk->pidns, fk->pid1, fk->self };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	rmdir(fk->dir);
	free(fk->err);
	free(fk->report);
	free(fk);
	return 0;
}

/* Runs the checks twice, as nh_preflight() and as nh_preflight_report()
 * would, and checks that both count the same failures. */
static int run(struct fake *fk)
{
	FILE *err, *report;
	int failed, failed_report;

	free(fk->err);
	free(fk->report);
	err = open_memstream(&fk->err, &fk->err_len);
	report = open_memstream(&fk->report, &fk->report_len);
	assert_non_null(err);
	assert_non_null(report);
	failed = nh_preflight_run(&fk->env, err, NULL);
	failed_report = nh_preflight_run(&fk->env, NULL, report);
	fclose(err);
	fclose(report);
	assert_int_equal(failed, failed_report);
	return failed;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The report row for `what`, e.g. "  ok       CAP_BPF          ...". */
static const char *row(const char *report, const char *what)
{
	char key[40];
	const char *p;

	snprintf(key, sizeof(key), " %-16s ", what);
	p = strstr(report, key);
	if (!p)
		fail_msg("no row for %s in:\n%s", what, report);
	while (p > report && p[-1] != '\n')
		p--;
	return p;
}

static bool row_is(const char *report, const char *what, const char *status)
{
	const char *r = row(report, what);

	return strncmp(r + 2, status, strlen(status)) == 0 && r[2 + strlen(status)] == ' ';
}

static void healthy_system_passes(void **state)
{
	struct fake *fk = *state;
	const char *rows[] = { "kernel BTF", "uprobes", "BPF ring buffer", "CAP_BPF",
			       "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE",
			       "user namespace", "ptrace scope" };

	assert_int_equal(run(fk), 0);
	assert_string_equal(fk->err, "");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_true(row_is(fk->report, rows[i], "ok"));
	assert_non_null(strstr(fk->report, "verdict: ready to attach\n"));
}

static void no_btf(void **state)
{
	struct fake *fk = *state;

	unlink(fk->btf);
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "nanohook: error: kernel BTF: cannot read "));
	assert_non_null(strstr(fk->err, fk->btf));
	assert_non_null(strstr(fk->err, "CONFIG_DEBUG_INFO_BTF=y"));
	assert_true(row_is(fk->report, "kernel BTF", "missing"));
	assert_non_null(strstr(fk->report, "verdict: cannot attach (1 problem)\n"));
}

static void no_uprobes(void **state)
{
	struct fake *fk = *state;

	unlink(fk->uprobe);
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "nanohook: error: uprobes: "));
	assert_non_null(strstr(fk->err, "CONFIG_UPROBE_EVENTS=y"));
	assert_true(row_is(fk->report, "uprobes", "missing"));
}

static void no_ringbuf(void **state)
{
	struct fake *fk = *state;

	ringbuf_answer = 0;
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "BPF ring buffer: not supported by this kernel"));
	assert_non_null(strstr(fk->err, "Linux 5.8"));

	/* A kernel that has them: bpf() was refused (seccomp), not missing. */
	fk->env.kernel_release = "6.18.44";
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "BPF ring buffer: this kernel has them, but bpf() was refused"));
	fk->env.in_container = 1;
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "run the container with --cap-add SYS_ADMIN"));
	fk->env.in_container = -1;
	fk->env.kernel_release = "5.4.0-fake";

	ringbuf_answer = -EPERM;
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "BPF ring buffer: could not create one to test it"));
	assert_non_null(strstr(fk->err, "Operation not permitted"));
	assert_true(row_is(fk->report, "BPF ring buffer", "missing"));
}

/* libbpf's probe says 0 whenever it cannot create the map: without the
 * capability to, that is no news about the kernel. */
static void ringbuf_untested_without_capabilities(void **state)
{
	struct fake *fk = *state;

	ringbuf_answer = 0;
	set_caps(fk, CAP(38) | CAP(19));
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_null(strstr(fk->err, "ring buffer"));
	assert_non_null(strstr(fk->err, "missing capabilities: CAP_BPF"));
	assert_true(row_is(fk->report, "BPF ring buffer", "untested"));
	/* CAP_SYS_ADMIN can create maps: then 0 means the kernel lacks it */
	set_caps(fk, CAP(21) | CAP(19));
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "BPF ring buffer: not supported by this kernel"));
}

static void no_capabilities_is_one_line_naming_all_four(void **state)
{
	struct fake *fk = *state;

	set_caps(fk, 0);
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "nanohook: error: missing capabilities: "));
	assert_non_null(strstr(fk->err, "CAP_BPF ("));
	assert_non_null(strstr(fk->err, "CAP_PERFMON ("));
	assert_non_null(strstr(fk->err, "CAP_SYS_ADMIN (to attach uprobes"));
	assert_non_null(strstr(fk->err, "CAP_SYS_PTRACE (to read the broker's /proc/PID/mem"));
	assert_true(row_is(fk->report, "CAP_BPF", "missing"));
	assert_true(row_is(fk->report, "CAP_PERFMON", "missing"));
	assert_true(row_is(fk->report, "CAP_SYS_ADMIN", "missing"));
	assert_true(row_is(fk->report, "CAP_SYS_PTRACE", "missing"));
}

/* The four capabilities the deployment files grant, and nothing else. */
static void the_four_capabilities_are_enough(void **state)
{
	struct fake *fk = *state;

	set_caps(fk, ALL_FOUR);
	assert_int_equal(run(fk), 0);
	assert_string_equal(fk->err, "");
}

/* Kernels let CAP_SYS_ADMIN stand for CAP_BPF and CAP_PERFMON. */
static void sys_admin_covers_bpf_and_perfmon(void **state)
{
	struct fake *fk = *state;

	set_caps(fk, CAP(21) | CAP(19));
	assert_int_equal(run(fk), 0);
	assert_string_equal(fk->err, "");
	assert_true(row_is(fk->report, "CAP_BPF", "ok"));
	assert_non_null(strstr(row(fk->report, "CAP_BPF"), "CAP_SYS_ADMIN stands for it"));
	assert_true(row_is(fk->report, "CAP_PERFMON", "ok"));
}

/* CAP_BPF + CAP_PERFMON were enough for uprobes before the 2025 fix. */
static void bpf_and_perfmon_without_sys_admin_fail(void **state)
{
	struct fake *fk = *state;

	set_caps(fk, CAP(39) | CAP(38) | CAP(19));
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "missing capabilities: CAP_SYS_ADMIN (to attach uprobes"));
	assert_null(strstr(fk->err, "CAP_BPF ("));
	assert_null(strstr(fk->err, "CAP_PERFMON ("));
	assert_null(strstr(fk->err, "CAP_SYS_PTRACE"));
}

static void missing_sys_ptrace_alone(void **state)
{
	struct fake *fk = *state;

	set_caps(fk, ALL_FOUR & ~CAP(19));
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "missing capabilities: CAP_SYS_PTRACE ("));
	assert_null(strstr(fk->err, "CAP_SYS_ADMIN ("));
	assert_true(row_is(fk->report, "CAP_SYS_PTRACE", "missing"));
}

static void unreadable_status(void **state)
{
	struct fake *fk = *state;

	write_file(fk->status, "Name:\tt\n");
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "capabilities: "));
	assert_non_null(strstr(fk->err, "no CapEff line"));
	unlink(fk->status);
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "capabilities: cannot read "));
}

static void rootless_container(void **state)
{
	struct fake *fk = *state;

	write_file(fk->uid_map, "         0       1000          1\n         1     100000      65536\n");
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "user namespace: this process runs in a child user namespace"));
	assert_true(row_is(fk->report, "user namespace", "missing"));

	/* a full map that is not the identity is a child namespace too */
	write_file(fk->uid_map, "0 100000 4294967295\n");
	assert_int_equal(run(fk), 1);
	/* no uid_map at all: a kernel without user namespaces */
	unlink(fk->uid_map);
	assert_int_equal(run(fk), 0);
}

static void yama_scope_three(void **state)
{
	struct fake *fk = *state;

	write_file(fk->yama, "3\n");
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "kernel.yama.ptrace_scope is 3"));
	write_file(fk->yama, "2\n");
	assert_int_equal(run(fk), 0);
	assert_non_null(strstr(row(fk->report, "ptrace scope"), "CAP_SYS_PTRACE needed"));
	unlink(fk->yama);
	assert_int_equal(run(fk), 0);
	assert_non_null(strstr(row(fk->report, "ptrace scope"), "no Yama"));
}

static void every_problem_at_once(void **state)
{
	struct fake *fk = *state;

	unlink(fk->btf);
	unlink(fk->uprobe);
	ringbuf_answer = -EPERM;
	set_caps(fk, 0);
	write_file(fk->uid_map, "0 1000 1\n");
	write_file(fk->yama, "3\n");
	/* the ring buffer is untested without capabilities: counted under them */
	assert_int_equal(run(fk), 5);
	assert_int_equal(count_lines(fk->err), 5);
	assert_non_null(strstr(fk->report, "verdict: cannot attach (5 problems)\n"));
}

/* ---- this machine ---------------------------------------------------------- */

/* Root on a kernel with BTF and uprobes (as `make test` runs) passes;
 * anything else says why in one line per problem. */
static void real_system(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	int failed;

	(void)state;
	if (geteuid() != 0 || access("/sys/kernel/btf/vmlinux", R_OK) != 0 ||
	    access("/sys/bus/event_source/devices/uprobe/type", F_OK) != 0) {
		NH_SKIP("needs root on a kernel with BTF and uprobes");
		return;
	}
	f = open_memstream(&out, &len);
	assert_non_null(f);
	failed = nh_preflight(f, NULL);
	fclose(f);
	if (failed)
		fail_msg("as root on this kernel:\n%s", out);
	assert_string_equal(out, "");
	free(out);
}

/* In a container each missing capability is its own line, naming the flag
 * of `podman run` / `docker run` that grants it. */
static void container_names_the_flag_for_each_capability(void **state)
{
	struct fake *fk = *state;

	fk->env.in_container = 1;
	set_caps(fk, CAP(21)); /* CAP_SYS_ADMIN only: it stands for BPF and PERFMON */
	assert_int_equal(run(fk), 1);
	assert_int_equal(count_lines(fk->err), 1);
	assert_non_null(strstr(fk->err, "nanohook: error: missing capability CAP_SYS_PTRACE ("));
	assert_non_null(strstr(fk->err, "run the container with --cap-add SYS_PTRACE (or --privileged)"));
	set_caps(fk, 0);
	assert_int_equal(run(fk), 4);
	assert_int_equal(count_lines(fk->err), 4);
	assert_non_null(strstr(fk->err, "--cap-add BPF "));
	assert_non_null(strstr(fk->err, "--cap-add PERFMON "));
	assert_non_null(strstr(fk->err, "--cap-add SYS_ADMIN "));
	assert_true(row_is(fk->report, "CAP_SYS_ADMIN", "missing"));
}

/* A container with a PID namespace of its own sees no broker; one that
 * shares the host's, or a broker container's, does. */
static void container_pid_namespace(void **state)
{
	struct fake *fk = *state;

	fk->env.in_container = 1;
	assert_int_equal(run(fk), 0);
	assert_true(row_is(fk->report, "PID namespace", "ok"));
	unlink(fk->pidns);
	assert_int_equal(symlink("pid:[4026532871]", fk->pidns), 0);
	assert_int_equal(run(fk), 0); /* pid 1 is not nanohook: --pid=container:BROKER */
	assert_non_null(strstr(row(fk->report, "PID namespace"), "shared with pid 1, /usr/lib/systemd/systemd"));
	unlink(fk->pid1);
	assert_int_equal(symlink("/usr/local/sbin/nanohook", fk->pid1), 0);
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "PID namespace: this container has one of its own"));
	assert_non_null(strstr(fk->err, "--pid=host"));
	assert_non_null(strstr(fk->err, "--pid=container:NAME"));
	/* outside a container the PID namespace is not ours to judge */
	fk->env.in_container = -1;
	assert_int_equal(run(fk), 0);
}

/* --pin needs a BPF filesystem: a plain folder is refused with the fix. */
static void pin_needs_a_bpffs(void **state)
{
	struct fake *fk = *state;

	fk->env.pin_dir = fk->dir; /* a tmp folder, not bpffs */
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "not on a BPF filesystem: mount one (mount -t bpf bpf /sys/fs/bpf)"));
	fk->env.in_container = 1;
	assert_int_equal(run(fk), 1);
	assert_non_null(strstr(fk->err, "run the container with -v /sys/fs/bpf:/sys/fs/bpf"));
	assert_true(row_is(fk->report, "bpffs (--pin)", "missing"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cap_eff_from_a_real_status),
		cmocka_unit_test_setup_teardown(container_names_the_flag_for_each_capability, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(container_pid_namespace, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(pin_needs_a_bpffs, fake_setup, fake_teardown),
		cmocka_unit_test(cap_eff_edge_cases),
		cmocka_unit_test_setup_teardown(healthy_system_passes, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(no_btf, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(no_uprobes, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(no_ringbuf, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(ringbuf_untested_without_capabilities, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(no_capabilities_is_one_line_naming_all_four,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(the_four_capabilities_are_enough, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(sys_admin_covers_bpf_and_perfmon, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(bpf_and_perfmon_without_sys_admin_fail, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(missing_sys_ptrace_alone, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(unreadable_status, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(rootless_container, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(yama_scope_three, fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(every_problem_at_once, fake_setup, fake_teardown),
		cmocka_unit_test(real_system),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
