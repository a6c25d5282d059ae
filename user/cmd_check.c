// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "commands.h"
#include "config.h"

int nh_cmd_check(const char *conf_path)
{
	struct nh_config cfg;

	if (nh_config_load(conf_path, &cfg, stderr))
		return 2;
	nh_config_print(&cfg, stdout);
	nh_config_free(&cfg);
	return 0;
}
