// SPDX-License-Identifier: GPL-2.0-only
/*
 * The export hot path's number formatting against the reference
 * formatters it replaces: fmt_py_float_fast() must give fmt_py_float()'s
 * exact text (printf + strtod, pinned to Python's repr by test_export),
 * and outbuf_int() fmt_int()'s, on the values flow statistics produce
 * (ratios and square roots of integers), on random bit patterns of every
 * exponent, and on the neighbours of powers of two and ten, where the
 * rounding interval is asymmetric or decimal ties occur.  The generator is
 * seeded, so a failure repeats.
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "export/columns.h"
#include "export/export.h"
#include "test.h"


static int float_mismatches;

/* One value, both signs; prints the first few differences. */
static void check_float(double d)
{
	char ref[64], got[64];

	for (int sign = 0; sign < 2; sign++, d = -d) {
		int nr = fmt_py_float(d, ref), ng;

		memset(got, 'Z', sizeof(got));
		ng = fmt_py_float_fast(d, got);
		if (nr == ng && !strcmp(ref, got))
			continue;
		if (++float_mismatches <= 10)
			fprintf(stderr, "fmt_py_float_fast(%a): \"%s\" (%d), reference \"%s\" (%d)\n",
				d, got, ng, ref, nr);
	}
}

/* Statistics of integer samples: means, variances and their roots. */
static void test_ratios(void)
{
	float_mismatches = 0;
	for (int i = 0; i < 300000; i++) {
		uint64_t a = test_rng() % (i % 3 ? 100000 : 100000000000ull);
		uint64_t b = test_rng() % (i % 5 ? 1000 : 10000000) + 1;

		check_float((double)a / (double)b);
		check_float(sqrt((double)a / (double)b));
	}
	ASSERT_EQ(float_mismatches, 0, "ratios and roots of integers");
}

/* Random mantissas over the fast range and a little beyond each end. */
static void test_random_bits(void)
{
	float_mismatches = 0;
	for (int i = 0; i < 400000; i++) {
		uint64_t bits = test_rng() & ((1ull << 52) - 1);
		int e = (int)(test_rng() % 80) - 22; /* 2^-22 .. 2^57 */
		double d;

		bits |= (uint64_t)(e + 1023) << 52;
		memcpy(&d, &bits, sizeof(d));
		check_float(d);
	}
	ASSERT_EQ(float_mismatches, 0, "random bit patterns");
}

/* Powers of two and ten, their neighbours, halves and short decimals. */
static void test_edges(void)
{
	double p10 = 1e-6;

	float_mismatches = 0;
	for (int e = -22; e <= 57; e++) {
		double p = ldexp(1.0, e);

		check_float(p);
		check_float(nextafter(p, 0));
		check_float(nextafter(p, INFINITY));
		check_float(p * 1.5);
	}
	for (int i = 0; i < 24; i++, p10 *= 10) {
		check_float(p10);
		check_float(nextafter(p10, 0));
		check_float(nextafter(p10, INFINITY));
		check_float(nextafter(nextafter(p10, 0), 0));
	}
	for (int i = 1; i < 200000; i++) {
		check_float(i / 1000.0);
		check_float(i / 64.0 + 0.5);
		check_float(i * 0.1);
		check_float(i / 3.0);
		check_float(i * 1e10 + 0.5);
	}
	for (int i = 0; i < 1000; i++) {
		check_float(9007199254740992.0 + 2.0 * i);
		check_float(9.9e15 + 2.0 * i);
		check_float((double)i);
	}
	check_float(9999999999999998.0);
	check_float(nextafter(1e16, 0));
	check_float(DBL_MIN);
	check_float(DBL_MAX);
	check_float(0.0);
	check_float(NAN);
	check_float(INFINITY);
	ASSERT_EQ(float_mismatches, 0, "edges");
}

static void test_outbuf_int(void)
{
	static const int64_t fixed[] = { 0, 1, 9, 10, 99, 100, 101, 999, 1000, -1, -9, -10, -100,
					 INT64_MAX, INT64_MIN, INT64_MIN + 1, 4294967295ll,
					 1000000000000000000ll, 999999999999999999ll };
	struct outbuf b = { 0 };
	char ref[32];
	int bad = 0;

	for (int i = 0; i < 200000 + (int)(sizeof(fixed) / sizeof(fixed[0])); i++) {
		int64_t v = i < (int)(sizeof(fixed) / sizeof(fixed[0])) ? fixed[i] :
			    (int64_t)(test_rng() >> (test_rng() % 64));
		int n = fmt_int(ref, i % 2 ? -v : v);

		b.len = 0;
		outbuf_int(&b, i % 2 ? -v : v);
		if (b.len != (size_t)n || memcmp(b.buf, ref, (size_t)n))
			bad++;
	}
	free(b.buf);
	ASSERT_EQ(bad, 0, "outbuf_int == fmt_int");
}

int main(void)
{
	*test_rng_state() = 0x9e3779b97f4a7c15ull; /* the sample these cases were written on */
	RUN_TEST(test_edges);
	RUN_TEST(test_ratios);
	RUN_TEST(test_random_bits);
	RUN_TEST(test_outbuf_int);
	return TEST_SUMMARY();
}
