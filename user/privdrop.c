// SPDX-License-Identifier: MIT
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sys/capability.h>

#include "privdrop.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static const cap_value_t attach_caps[] = { CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_SYS_PTRACE };
#define N_ATTACH_CAPS (sizeof(attach_caps) / sizeof(attach_caps[0]))

const char *nh_attach_caps_text(void)
{
	return "cap_bpf,cap_perfmon,cap_sys_admin,cap_sys_ptrace";
}

static int switch_user(const char *user, char *err, size_t errlen)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		snprintf(err, errlen, "--user %s: no such user", user);
		return -1;
	}
	/* Keep the permitted set across setuid so the caps still wanted can
	 * be re-raised below. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
	    setgid(pw->pw_gid) || setuid(pw->pw_uid)) {
		snprintf(err, errlen, "switching to user %s: %s", user, strerror(errno));
		return -1;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	return 0;
}

int nh_drop_privileges(const char *user, bool keep_attach, char *err, size_t errlen)
{
	cap_t caps;
	int rc;

	if (user && switch_user(user, err, errlen))
		return -1;
	caps = cap_init(); /* all clear */
	if (!caps) {
		snprintf(err, errlen, "cap_init: %s", strerror(errno));
		return -1;
	}
	if (keep_attach &&
	    (cap_set_flag(caps, CAP_PERMITTED, N_ATTACH_CAPS, attach_caps, CAP_SET) ||
	     cap_set_flag(caps, CAP_EFFECTIVE, N_ATTACH_CAPS, attach_caps, CAP_SET))) {
		cap_free(caps);
		snprintf(err, errlen, "cap_set_flag: %s", strerror(errno));
		return -1;
	}
	rc = cap_set_proc(caps);
	cap_free(caps);
	if (rc) {
		snprintf(err, errlen, "dropping capabilities: %s", strerror(errno));
		return -1;
	}
	/* No way back up through exec of a setuid helper. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return 0;
}
