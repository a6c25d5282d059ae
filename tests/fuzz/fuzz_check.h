/* SPDX-License-Identifier: MIT */
/* The fuzz targets' assertion: names the broken property before aborting,
 * so that a failure seen only in CI's log says which one. */
#ifndef NH_FUZZ_CHECK_H
#define NH_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                      \
	do {                                                                          \
		if (!(c)) {                                                           \
			fprintf(stderr, "CHECK failed: %s at %s:%d\n", #c, __FILE__, __LINE__); \
			abort();                                                      \
		}                                                                     \
	} while (0)

#endif
