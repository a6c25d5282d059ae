// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "broker.h"
#include "commands.h"
#include "preflight.h"

int nh_cmd_detach(const char *pin_dir, pid_t pid)
{
	char err[512] = "";

	if (nh_pins_remove(pin_dir, pid, err, sizeof(err))) {
		fprintf(stderr, "nanohook: error: no probes pinned for pid %d under %s%s%s\n",
			(int)pid, pin_dir, *err ? ": " : "", err);
		return 1;
	}
	printf("detached: the probes of pid %d pinned under %s are gone\n", (int)pid, pin_dir);
	return 0;
}

int nh_cmd_check_system(const char *pin_dir)
{
	return nh_preflight_report(stdout, pin_dir) ? 1 : 0;
}
