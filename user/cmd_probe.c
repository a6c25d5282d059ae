// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "commands.h"
#include "elf_file.h"

int nh_cmd_probe(pid_t pid, const char *exe_path, const struct nh_broker *broker)
{
	struct nh_target t;
	char err[512];
	int rc;

	rc = nh_target_open(&t, pid, exe_path, broker, err, sizeof(err));
	if (t.elf) {
		printf("binary:  %s\n", t.exe);
		printf("broker:  %s%s\n", t.broker ? t.broker->name : "unknown",
		       broker ? " (forced)" : "");
		printf("build:   %s, %s, %s, build-id %s\n",
		       nh_elf_is_pie(t.elf) ? "PIE" : "not PIE",
		       nh_elf_has_symtab(t.elf) ? ".symtab" : "no .symtab",
		       nh_elf_has_dwarf(t.elf) ? "DWARF" : "no DWARF",
		       nh_elf_build_id(t.elf) ? nh_elf_build_id(t.elf) : "none");
		printf("found:\n");
		nh_target_print_findings(&t, stdout);
	}
	if (rc) {
		fprintf(stderr, "nanohook: error: %s\n", err);
		printf("verdict: refuse to attach\n");
	} else {
		if (t.broker->traps)
			t.broker->traps(&t, stdout);
		printf("verdict: can attach\n");
	}
	nh_target_close(&t);
	return rc ? 1 : 0;
}
