/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Minimal selftests-style assertions for flowsight's C unit tests.
 * Each ASSERT_* prints one line on failure and evaluates to a bool so a
 * test can bail out early; TEST_SUMMARY() prints the per-binary summary that
 * tests/run_tests.sh adds up.  No dependency on any agent module.
 */
#ifndef FLOWSIGHT_TEST_H
#define FLOWSIGHT_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int test_failed_asserts;

/* Reproducible pseudo-random numbers for property tests (xorshift64*);
 * seed with *test_rng_state() = x. */
static inline uint64_t *test_rng_state(void)
{
	static uint64_t state = 0x2545f4914f6cdd1dull;

	return &state;
}

static inline uint64_t test_rng(void)
{
	uint64_t *s = test_rng_state();

	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}
static int test_passed_cases, test_failed_cases, test_skipped_cases;

#define ASSERT_TRUE(cond, name)                                                    \
	({                                                                         \
		bool ___ok = (cond);                                               \
		if (!___ok) {                                                      \
			fprintf(stderr, "%s:%d: FAIL %s: %s\n", __FILE__, __LINE__, \
				name, #cond);                                      \
			test_failed_asserts++;                                     \
		}                                                                  \
		___ok;                                                             \
	})

#define ASSERT_EQ(actual, expected, name)                                          \
	({                                                                         \
		long long ___a = (long long)(actual), ___e = (long long)(expected); \
		bool ___ok = ___a == ___e;                                         \
		if (!___ok) {                                                      \
			fprintf(stderr, "%s:%d: FAIL %s: got %lld, expected %lld\n", \
				__FILE__, __LINE__, name, ___a, ___e);             \
			test_failed_asserts++;                                     \
		}                                                                  \
		___ok;                                                             \
	})

#define ASSERT_STREQ(actual, expected, name)                                       \
	({                                                                         \
		const char *___a = (actual), *___e = (expected);                   \
		bool ___ok = ___a && ___e && strcmp(___a, ___e) == 0;              \
		if (!___ok) {                                                      \
			fprintf(stderr, "%s:%d: FAIL %s: got \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, name, ___a ? ___a : "(null)",   \
				___e ? ___e : "(null)");                           \
			test_failed_asserts++;                                     \
		}                                                                  \
		___ok;                                                             \
	})

#define ASSERT_NEAR(actual, expected, tol, name)                                   \
	({                                                                         \
		double ___a = (actual), ___e = (expected);                         \
		bool ___ok = fabs(___a - ___e) < (tol);                            \
		if (!___ok) {                                                      \
			fprintf(stderr, "%s:%d: FAIL %s: got %.17g, expected %.17g\n", \
				__FILE__, __LINE__, name, ___a, ___e);             \
			test_failed_asserts++;                                     \
		}                                                                  \
		___ok;                                                             \
	})

/* Run one test case: a function returning void that uses ASSERT_*. */
#define RUN_TEST(fn)                                                               \
	do {                                                                       \
		int ___before = test_failed_asserts;                               \
		fn();                                                              \
		if (test_failed_asserts == ___before) {                            \
			test_passed_cases++;                                       \
			printf("PASS %s\n", #fn);                                  \
		} else {                                                           \
			test_failed_cases++;                                       \
			printf("FAIL %s\n", #fn);                                  \
		}                                                                  \
	} while (0)

#define SKIP_TEST(fn, why)                                                         \
	do {                                                                       \
		test_skipped_cases++;                                              \
		printf("SKIP %s: %s\n", #fn, why);                                 \
	} while (0)

/* Last line of every test binary; run_tests.sh parses it. */
#define TEST_SUMMARY()                                                             \
	({                                                                         \
		printf("%d passed, %d failed, %d skipped\n", test_passed_cases,     \
		       test_failed_cases, test_skipped_cases);                     \
		test_failed_cases ? 1 : 0;                                         \
	})

#endif
