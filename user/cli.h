/* SPDX-License-Identifier: MIT */
#ifndef NH_CLI_H
#define NH_CLI_H

/* Parses the command line and runs the subcommand; returns the exit status. */
int nh_cli_main(int argc, char **argv);

#endif
