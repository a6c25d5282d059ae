/* SPDX-License-Identifier: MIT */
/*
 * Shared by the unit tests (include after <cmocka.h>).
 *
 * NH_SKIP: skip the running test with a reason that scripts/run-tests.sh
 * lists above the closing line. The reason starts with its class: "[absent
 * TOOL]" when a tool the test drives is not installed, anything else
 * otherwise. In CI and as root only [absent ...] may skip; any other skip
 * there counts as a failure (see run-tests.sh).
 */
#ifndef NH_TEST_H
#define NH_TEST_H

#include <stdio.h>

#define NH_SKIP(...)                                                 \
	do {                                                         \
		printf("# skip %s: ", __func__);                     \
		printf(__VA_ARGS__);                                 \
		printf("\n");                                        \
		fflush(stdout);                                      \
		skip();                                              \
	} while (0)

#endif
