// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "preflight.h"

/* Numbered here rather than taken from <linux/capability.h>: CAP_BPF and
 * CAP_PERFMON are missing from older headers, and the numbers are ABI. */
#define CAP_NUM_SYS_PTRACE 19
#define CAP_NUM_SYS_ADMIN 21
#define CAP_NUM_PERFMON 38
#define CAP_NUM_BPF 39

#define MAX_ROWS 14
#define MAX_PROBLEMS 8
#define NOTE_LEN 200
#define PROBLEM_LEN 640

static const char ST_OK[] = "ok", ST_MISSING[] = "missing", ST_UNTESTED[] = "untested";

struct row {
	const char *what;
	const char *status; /* ST_OK, ST_MISSING or ST_UNTESTED */
	char note[NOTE_LEN];
};

/* What the checks found: rows for the report, one line per failed check
 * for the error stream. */
struct findings {
	bool in_container;  /* problems name the run flag that fixes them */
	struct row rows[MAX_ROWS];
	size_t n_rows;
	char problems[MAX_PROBLEMS][PROBLEM_LEN];
	size_t n_problems;
};

static void add_row(struct findings *f, const char *what, const char *status,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add_row(struct findings *f, const char *what, const char *status,
		    const char *fmt, ...)
{
	struct row *r;
	va_list ap;

	if (f->n_rows == MAX_ROWS)
		return;
	r = &f->rows[f->n_rows++];
	r->what = what;
	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

static void add_problem(struct findings *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_problem(struct findings *f, const char *fmt, ...)
{
	va_list ap;

	if (f->n_problems == MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(f->problems[f->n_problems++], PROBLEM_LEN, fmt, ap);
	va_end(ap);
}

/* Reads up to cap-1 bytes of a small (proc or sysfs) file, NUL-terminated.
 * The length, or -1 with errno set. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

int nh_cap_eff_parse(const char *status, uint64_t *eff)
{
	static const char key[] = "CapEff:";
	const char *p = status;

	while (p && *p) {
		if (strncmp(p, key, sizeof(key) - 1) == 0) {
			uint64_t v = 0;
			int digits = 0;

			p += sizeof(key) - 1;
			while (*p == ' ' || *p == '\t')
				p++;
			for (; *p && *p != '\n' && *p != ' ' && *p != '\t'; p++) {
				int d;

				if (*p >= '0' && *p <= '9')
					d = *p - '0';
				else if (*p >= 'a' && *p <= 'f')
					d = *p - 'a' + 10;
				else if (*p >= 'A' && *p <= 'F')
					d = *p - 'A' + 10;
				else
					return -1;
				if (++digits > 16)
					return -1;
				v = v << 4 | (uint64_t)d;
			}
			if (digits == 0)
				return -1;
			*eff = v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

static int probe_ringbuf_real(void)
{
	return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
}

static void check_btf(struct findings *f, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), e = errno;

	if (fd >= 0) {
		close(fd);
		add_row(f, "kernel BTF", ST_OK, "%s", path);
		return;
	}
	add_row(f, "kernel BTF", ST_MISSING, "%s: %s", path, strerror(e));
	add_problem(f, "kernel BTF: cannot read %s (%s): nanohook needs a kernel built with "
		    "CONFIG_DEBUG_INFO_BTF=y (in a container: the host's /sys)",
		    path, strerror(e));
}

static void check_uprobes(struct findings *f, const char *path)
{
	struct stat st;
	int e;

	if (stat(path, &st) == 0) {
		add_row(f, "uprobes", ST_OK, "%s", path);
		return;
	}
	e = errno;
	add_row(f, "uprobes", ST_MISSING, "%s: %s", path, strerror(e));
	add_problem(f, "uprobes: %s is missing (%s): nanohook needs a kernel built with "
		    "CONFIG_UPROBE_EVENTS=y (in a container: the host's /sys)",
		    path, strerror(e));
}

/* Is kernel `release` (NULL: the running one's) at least major.minor?
 * Unknown counts as yes. */
static bool kernel_at_least(const char *release, int major, int minor)
{
	struct utsname u;
	int ma, mi;

	if (!release)
		release = uname(&u) ? "" : u.release;
	if (sscanf(release, "%d.%d", &ma, &mi) != 2)
		return true;
	return ma > major || (ma == major && mi >= minor);
}

/* libbpf's probe answers 0 for any failure to create the map, EPERM
 * included, so without the capability to create maps it cannot tell. */
static void check_ringbuf(struct findings *f, int (*probe)(void), bool may_create_maps,
			  const char *release)
{
	int rc = probe();

	if (rc == 1) {
		add_row(f, "BPF ring buffer", ST_OK, "BPF_MAP_TYPE_RINGBUF");
	} else if (!may_create_maps) {
		/* counted once, under the capabilities */
		add_row(f, "BPF ring buffer", ST_UNTESTED,
			"needs CAP_BPF or CAP_SYS_ADMIN to test");
	} else if (rc == 0 && !kernel_at_least(release, 5, 8)) {
		add_row(f, "BPF ring buffer", ST_MISSING, "not supported by this kernel");
		add_problem(f, "BPF ring buffer: not supported by this kernel: nanohook needs "
			    "Linux 5.8 or newer");
	} else if (rc == 0) {
		/* The kernel has them: bpf() itself was refused. */
		add_row(f, "BPF ring buffer", ST_MISSING, "bpf() refused making one");
		add_problem(f, "BPF ring buffer: this kernel has them, but bpf() was refused "
			    "(a seccomp profile lets it through only with CAP_SYS_ADMIN): %s",
			    f->in_container ? "run the container with --cap-add SYS_ADMIN, or "
					      "--security-opt seccomp=unconfined"
					    : "grant CAP_SYS_ADMIN, or lift the seccomp filter");
	} else {
		add_row(f, "BPF ring buffer", ST_MISSING, "could not be probed: %s", strerror(-rc));
		add_problem(f, "BPF ring buffer: could not create one to test it (%s)",
			    strerror(-rc));
	}
}

struct cap_need {
	int bit;
	const char *name;
	const char *why;
};

/* CAP_SYS_ADMIN is required on its own account (uprobes); the kernel lets
 * it stand for CAP_BPF and CAP_PERFMON, so those two are only missing
 * when CAP_SYS_ADMIN is too. */
static const struct cap_need cap_needs[] = {
	{ CAP_NUM_BPF, "CAP_BPF", "to load BPF programs and maps" },
	{ CAP_NUM_PERFMON, "CAP_PERFMON", "for BPF tracing programs and perf events" },
	{ CAP_NUM_SYS_ADMIN, "CAP_SYS_ADMIN",
	  "to attach uprobes, required since a 2025 kernel fix, and to read /proc/PID/map_files" },
	{ CAP_NUM_SYS_PTRACE, "CAP_SYS_PTRACE",
	  "to read the broker's /proc/PID/mem and /proc/PID/exe when it runs as another user, "
	  "or under Yama ptrace_scope 1 or 2" },
};

static bool has_cap(uint64_t eff, int bit)
{
	return (eff >> bit) & 1;
}

/* The effective capability set, or why it is not known. */
struct caps {
	bool known;
	uint64_t eff;
	char unknown[NOTE_LEN];
};

static void read_caps(const char *status_path, struct caps *c)
{
	char status[8192];

	if (read_small(status_path, status, sizeof(status)) < 0)
		snprintf(c->unknown, sizeof(c->unknown), "cannot read %s (%s)", status_path,
			 strerror(errno));
	else if (nh_cap_eff_parse(status, &c->eff) < 0)
		snprintf(c->unknown, sizeof(c->unknown), "no CapEff line in %s", status_path);
	else
		c->known = true;
}

static bool may_create_maps(const struct caps *c)
{
	return !c->known || has_cap(c->eff, CAP_NUM_BPF) || has_cap(c->eff, CAP_NUM_SYS_ADMIN);
}

static void check_caps(struct findings *f, const struct caps *caps)
{
	char missing[PROBLEM_LEN];
	uint64_t eff = caps->eff;
	bool admin;
	size_t len = 0;

	if (!caps->known) {
		add_row(f, "capabilities", ST_MISSING, "%s", caps->unknown);
		add_problem(f, "capabilities: %s, so the effective set is unknown", caps->unknown);
		return;
	}
	admin = has_cap(eff, CAP_NUM_SYS_ADMIN);
	missing[0] = '\0';
	for (size_t i = 0; i < sizeof(cap_needs) / sizeof(cap_needs[0]); i++) {
		const struct cap_need *c = &cap_needs[i];
		bool covered = admin && (c->bit == CAP_NUM_BPF || c->bit == CAP_NUM_PERFMON);

		if (has_cap(eff, c->bit)) {
			add_row(f, c->name, ST_OK, "%s", c->why);
			continue;
		}
		if (covered) {
			add_row(f, c->name, ST_OK, "not held; CAP_SYS_ADMIN stands for it");
			continue;
		}
		add_row(f, c->name, ST_MISSING, "%s", c->why);
		if (f->in_container) /* one line each, with the flag that grants it */
			add_problem(f, "missing capability %s (%s): run the container with "
				    "--cap-add %s (or --privileged)", c->name, c->why, c->name + 4);
		else if (len < sizeof(missing))
			len += (size_t)snprintf(missing + len, sizeof(missing) - len, "%s%s (%s)",
						len ? ", " : "", c->name, c->why);
	}
	if (missing[0])
		add_problem(f, "missing capabilities: %s; run as root, or grant them "
			    "(see nanohook(8), CAPABILITIES)", missing);
}

/* Capabilities held in a child user namespace (a rootless container) do
 * not count for bpf() or perf_event_open(): those check the initial one.
 * The initial namespace maps every uid to itself: "0 0 4294967295". */
static void check_userns(struct findings *f, const char *uid_map_path)
{
	char map[512];
	unsigned long inside, outside, count;
	char *nl;
	int n;

	if (read_small(uid_map_path, map, sizeof(map)) < 0) {
		/* no user namespaces in this kernel: there is only the initial one */
		add_row(f, "user namespace", ST_OK, "initial (no %s)", uid_map_path);
		return;
	}
	nl = strchr(map, '\n');
	n = sscanf(map, "%lu %lu %lu", &inside, &outside, &count);
	if (n == 3 && inside == 0 && outside == 0 && count == 4294967295UL &&
	    (!nl || nl[1] == '\0')) {
		add_row(f, "user namespace", ST_OK, "initial");
		return;
	}
	if (nl)
		*nl = '\0';
	add_row(f, "user namespace", ST_MISSING, "a child namespace: uid_map %s", map);
	add_problem(f, "user namespace: this process runs in a child user namespace (uid_map "
		    "\"%s\"): BPF and uprobes need capabilities in the host's initial "
		    "namespace, which a rootless container does not have", map);
}

/* Yama restricts PTRACE_MODE_ATTACH, which /proc/PID/mem asks for. */
static void check_ptrace_scope(struct findings *f, const char *path)
{
	char buf[32];
	int scope;

	if (read_small(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%d", &scope) != 1) {
		add_row(f, "ptrace scope", ST_OK, "no Yama");
		return;
	}
	if (scope < 3) {
		add_row(f, "ptrace scope", ST_OK, "Yama ptrace_scope %d%s", scope,
			scope ? ": CAP_SYS_PTRACE needed" : "");
		return;
	}
	add_row(f, "ptrace scope", ST_MISSING, "Yama ptrace_scope %d: /proc/PID/mem closed", scope);
	add_problem(f, "ptrace scope: kernel.yama.ptrace_scope is %d, so no process may read "
		    "another's memory and nanohook cannot read the broker; it needs 0, 1 or 2 "
		    "(3 can only be lifted by a reboot)", scope);
}

/* The initial PID namespace's inode number (PROC_PID_INIT_INO). */
#define PID_NS_INIT_INO 0xEFFFFFFCUL

/* In a container, a PID namespace of its own holds nanohook alone: no
 * broker can be found there. The host's, or a broker container's (PID 1
 * is then the broker, not nanohook), are what attaching needs. */
static void check_pidns(struct findings *f, const char *ns_path, const char *pid1_exe,
			const char *self_exe)
{
	char ns[64] = "", one[512], self[512];
	unsigned long ino = 0;
	ssize_t n = readlink(ns_path, ns, sizeof(ns) - 1);
	ssize_t n1, ns_self;

	if (n > 0)
		ns[n] = 0;
	if (n <= 0 || sscanf(ns, "pid:[%lu]", &ino) != 1 || ino == PID_NS_INIT_INO) {
		add_row(f, "PID namespace", ST_OK, "the host's");
		return;
	}
	n1 = readlink(pid1_exe, one, sizeof(one) - 1);
	ns_self = readlink(self_exe, self, sizeof(self) - 1);
	if (n1 > 0 && ns_self > 0 && (one[n1] = 0, self[ns_self] = 0, strcmp(one, self) != 0)) {
		add_row(f, "PID namespace", ST_OK, "shared with pid 1, %s (a broker container's?)",
			one);
		return;
	}
	add_row(f, "PID namespace", ST_MISSING, "%s, holding nanohook alone", ns);
	add_problem(f, "PID namespace: this container has one of its own, so no broker process "
		    "is visible: run it with --pid=host (a broker on the host or in any "
		    "container), or --pid=container:NAME (next to the broker's container)");
}

/* --pin: the folder must be on a BPF filesystem that can be written. */
static void check_bpffs(struct findings *f, const char *pin_dir)
{
	char dir[PATH_MAX], *slash;
	struct statfs fs;
	struct statvfs vfs;

	snprintf(dir, sizeof(dir), "%s", pin_dir);
	/* the pin folder may not exist yet: its nearest existing parent */
	while (statfs(dir, &fs) && (slash = strrchr(dir, '/')) && slash != dir)
		*slash = 0;
	if (statfs(dir, &fs) || fs.f_type != BPF_FS_MAGIC) {
		add_row(f, "bpffs (--pin)", ST_MISSING, "%s is not on a BPF filesystem", pin_dir);
		add_problem(f, "--pin %s: not on a BPF filesystem: %s", pin_dir,
			    f->in_container ? "run the container with -v /sys/fs/bpf:/sys/fs/bpf "
					      "(the host's bpffs)"
					    : "mount one (mount -t bpf bpf /sys/fs/bpf)");
		return;
	}
	if (!statvfs(dir, &vfs) && (vfs.f_flag & ST_RDONLY)) {
		add_row(f, "bpffs (--pin)", ST_MISSING, "%s is read-only", dir);
		add_problem(f, "--pin %s: %s is mounted read-only: %s", pin_dir, dir,
			    f->in_container ? "run the container with -v /sys/fs/bpf:/sys/fs/bpf:rw "
					      "(or --privileged)"
					    : "remount it read-write");
		return;
	}
	add_row(f, "bpffs (--pin)", ST_OK, "%s", dir);
}

/* Do two namespace links name different namespaces? Unreadable ones
 * (PID 1's, under some sandboxes) prove nothing. */
static bool differ(const char *a, const char *b)
{
	char x[64], y[64];
	ssize_t n = readlink(a, x, sizeof(x) - 1), m = readlink(b, y, sizeof(y) - 1);

	return n > 0 && m > 0 && (n != m || memcmp(x, y, (size_t)n));
}

/* podman's marker is made when a container starts. Docker's can also be
 * found on machines made from container images, so with it a container
 * also has a PID namespace of its own, or (with --pid=host) a mount
 * namespace other than PID 1's. */
static bool in_container(const struct nh_preflight_env *e)
{
	if (e->in_container)
		return e->in_container > 0;
	char ns[64] = "";
	unsigned long ino = PID_NS_INIT_INO;
	ssize_t n;

	if (!access("/run/.containerenv", F_OK)) /* podman makes it at every start */
		return true;
	if (access("/.dockerenv", F_OK)) /* docker's may be baked into an image */
		return false;
	n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n > 0)
		ns[n] = 0;
	if (n > 0 && sscanf(ns, "pid:[%lu]", &ino) == 1 && ino != PID_NS_INIT_INO)
		return true;
	return differ("/proc/self/ns/pid", "/proc/1/ns/pid") ||
	       differ("/proc/self/ns/mnt", "/proc/1/ns/mnt");
}

static void gather(const struct nh_preflight_env *env, struct findings *f)
{
	static const struct nh_preflight_env real = { 0 };
	const struct nh_preflight_env *e = env ? env : &real;
	struct caps caps = { 0 };

#define OR(field, dflt) (e->field ? e->field : (dflt))
	f->in_container = in_container(e);
	read_caps(OR(status_path, "/proc/self/status"), &caps);
	check_btf(f, OR(btf_path, "/sys/kernel/btf/vmlinux"));
	check_uprobes(f, OR(uprobe_type_path, "/sys/bus/event_source/devices/uprobe/type"));
	check_ringbuf(f, OR(probe_ringbuf, probe_ringbuf_real), may_create_maps(&caps),
		      e->kernel_release);
	check_caps(f, &caps);
	check_userns(f, OR(uid_map_path, "/proc/self/uid_map"));
	check_ptrace_scope(f, OR(ptrace_scope_path, "/proc/sys/kernel/yama/ptrace_scope"));
	if (f->in_container)
		check_pidns(f, OR(pidns_path, "/proc/self/ns/pid"), OR(pid1_exe_path, "/proc/1/exe"),
			    OR(self_exe_path, "/proc/self/exe"));
	if (e->pin_dir)
		check_bpffs(f, e->pin_dir);
#undef OR
}

int nh_preflight_run(const struct nh_preflight_env *env, FILE *err, FILE *report)
{
	struct findings *f = calloc(1, sizeof(*f));
	int failed;

	if (!f) {
		if (err)
			fprintf(err, "nanohook: error: system check: out of memory\n");
		return 1;
	}
	gather(env, f);
	failed = (int)f->n_problems;
	if (err)
		for (size_t i = 0; i < f->n_problems; i++)
			fprintf(err, "nanohook: error: %s\n", f->problems[i]);
	if (report) {
		for (size_t i = 0; i < f->n_rows; i++)
			fprintf(report, "  %-8s %-16s %s\n", f->rows[i].status,
				f->rows[i].what, f->rows[i].note);
		if (failed == 0)
			fprintf(report, "verdict: ready to attach\n");
		else
			fprintf(report, "verdict: cannot attach (%d problem%s)\n", failed,
				failed == 1 ? "" : "s");
		for (size_t i = 0; i < f->n_problems; i++)
			fprintf(report, "  %s\n", f->problems[i]);
	}
	free(f);
	return failed;
}

int nh_preflight(FILE *err, const char *pin_dir)
{
	struct nh_preflight_env env = { .pin_dir = pin_dir };

	return nh_preflight_run(&env, err, NULL);
}

int nh_preflight_report(FILE *out, const char *pin_dir)
{
	struct nh_preflight_env env = { .pin_dir = pin_dir };

	return nh_preflight_run(&env, NULL, out);
}
