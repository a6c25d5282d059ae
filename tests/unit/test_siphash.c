// SPDX-License-Identifier: MIT
/* SipHash-2-4 against the reference vectors, and NanoMQ's 32-bit fold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "siphash.h"

/* The first vectors of the reference implementation's vectors.h (key
 * 00 01 .. 0f, message 00 01 .. len-1), as little-endian u64. */
static const uint64_t vectors[] = {
	0x726fdb47dd0e0e31ull, 0x74f839c593dc67fdull, 0x0d6c8009d9a94f5aull,
	0x85676696d7fb7e2dull, 0xcf2794e0277187b7ull, 0x18765564cd99a68dull,
	0xcbc9466e58fee3ceull, 0xab0200f58b01d137ull, 0x93f5f5799a932462ull,
	0x9e0082df0ba9e4b0ull, 0x7a5dbbc594ddb9f3ull, 0xf4b32f46226bada7ull,
	0x751e8fbc860ee5fbull, 0x14ea5627c0843d90ull, 0xf723ca908e7af2eeull,
	0xa129ca6149be45e5ull,
};

static void test_reference_vectors(void **state)
{
	uint8_t key[16], msg[16];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = msg[i] = (uint8_t)i;
	for (size_t len = 0; len < sizeof(vectors) / sizeof(vectors[0]); len++)
		assert_int_equal(nh_siphash24(msg, len, key), vectors[len]);
}

static void test_nanomq_fold(void **state)
{
	uint8_t key[16] = { 0 };
	uint64_t h = nh_siphash24("client-1", 8, key);

	(void)state;
	assert_int_equal(nh_nanomq_pipe_id("client-1", 8, key), (uint32_t)(h ^ (h >> 32)));
	/* Different ids, different pipes (for these two, at least). */
	assert_int_not_equal(nh_nanomq_pipe_id("a", 1, key), nh_nanomq_pipe_id("b", 1, key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_vectors),
		cmocka_unit_test(test_nanomq_fold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
