// SPDX-License-Identifier: GPL-2.0-only
/*
 * What NFStream's to_pandas() holds for a float: it writes the value with
 * Python's repr() into a CSV and reads it back with pandas.read_csv, whose
 * default converter (float_precision None or "high") is not correctly
 * rounded: it gathers at most 17 digits (leading zeros included) into a
 * double one digit at a time, then multiplies or divides once by a power
 * of ten.  About a third of the doubles with 17 significant digits come
 * back one unit in the last place away.  fs_read_csv_floats() reproduces
 * that conversion on the text the CSV writer makes, so a DataFrame built
 * without a CSV equals NFStream's cell for cell.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "export/export.h"
#include "flowsight/flowsight.h"

static double pow10_tab[309];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

/* 1e0 .. 1e308 as a C compiler rounds those literals (correctly). */
static void pow10_init(void)
{
	char lit[8];

	for (int i = 0; i <= 308; i++) {
		snprintf(lit, sizeof(lit), "1e%d", i);
		pow10_tab[i] = strtod(lit, NULL);
	}
}

/* The converter's steps, one rounding each: no fused multiply-add. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#define NO_FMA
#else
#define NO_FMA __attribute__((optimize("fp-contract=off")))
#endif

NO_FMA static double read_high(const char *p)
{
	double number = 0.0;
	int exponent = 0, digits = 0, decimals = 0;
	bool neg = false;

	if (*p == '-') {
		neg = true;
		p++;
	} else if (*p == '+') {
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (digits < 17) {
			number = number * 10.0 + (*p - '0');
			digits++;
		} else {
			exponent++;
		}
	}
	if (*p == '.') {
		for (p++; digits < 17 && *p >= '0' && *p <= '9'; p++) {
			number = number * 10.0 + (*p - '0');
			digits++;
			decimals++;
		}
		while (*p >= '0' && *p <= '9')
			p++;
		exponent -= decimals;
	}
	if (neg)
		number = -number;
	if (*p == 'e' || *p == 'E') {
		bool eneg = false;
		int n = 0, nd = 0;

		p++;
		if (*p == '-') {
			eneg = true;
			p++;
		} else if (*p == '+') {
			p++;
		}
		for (; nd < 17 && *p >= '0' && *p <= '9'; p++, nd++)
			n = n * 10 + (*p - '0');
		exponent += eneg ? -n : n;
	}
	if (exponent > 308)
		return neg ? -HUGE_VAL : HUGE_VAL;
	if (exponent > 0)
		return number * pow10_tab[exponent];
	if (exponent < -308) {
		if (exponent < -616)
			return neg ? -0.0 : 0.0;
		number /= pow10_tab[-308 - exponent];
		return number / pow10_tab[308];
	}
	return number / pow10_tab[-exponent];
}

void fs_read_csv_floats(const double *in, double *out, size_t n)
{
	char text[48];

	pthread_once(&pow10_once, pow10_init);
	for (size_t i = 0; i < n; i++) {
		double d = in[i];

		/* "nan", "inf", "-inf" and integral values read back exactly */
		if (!isfinite(d) || (fabs(d) < 9007199254740992.0 && d == (double)(int64_t)d)) {
			out[i] = d;
			continue;
		}
		text[fmt_py_float_fast(d, text)] = '\0';
		out[i] = read_high(text);
	}
}
