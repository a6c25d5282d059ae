// SPDX-License-Identifier: MIT
/* Dropping privileges after attach, checked in forked children (the drop
 * cannot be undone in the test process). Needs root; skipped otherwise. */
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nh_test.h"

#include "privdrop.h"

/* CapEff of this process from /proc/self/status. */
static unsigned long long cap_eff(void)
{
	char line[256];
	unsigned long long v = ~0ull;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* Runs fn in a child; returns its exit status. */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn());
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static int drop_all_to_nobody(void)
{
	char err[256];
	struct passwd *pw = getpwnam("nobody");

	if (!pw || nh_drop_privileges("nobody", false, err, sizeof(err)))
		return 1;
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid)
		return 2;
	if (cap_eff() != 0)
		return 3;
	/* A file only root can read stays closed. */
	if (!access("/etc/shadow", R_OK))
		return 4;
	return 0;
}

static int keep_attach_caps(void)
{
	char err[256];
	/* CAP_SYS_ADMIN 21, CAP_SYS_PTRACE 19, CAP_PERFMON 38, CAP_BPF 39 */
	unsigned long long want = (1ull << 21) | (1ull << 19) | (1ull << 38) | (1ull << 39);

	if (nh_drop_privileges(NULL, true, err, sizeof(err)))
		return 1;
	return cap_eff() == want ? 0 : 2;
}

static void test_drop_everything(void **state)
{
	(void)state;
	if (geteuid() != 0)
		NH_SKIP("needs root: it drops root's capabilities");
	assert_int_equal(in_child(drop_all_to_nobody), 0);
}

static void test_keep_only_attach_caps(void **state)
{
	(void)state;
	if (geteuid() != 0)
		NH_SKIP("needs root: it drops root's capabilities");
	assert_int_equal(in_child(keep_attach_caps), 0);
}

static void test_unknown_user(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(nh_drop_privileges("no-such-user-nanohook", false, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no such user"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_everything),
		cmocka_unit_test(test_keep_only_attach_caps),
		cmocka_unit_test(test_unknown_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
