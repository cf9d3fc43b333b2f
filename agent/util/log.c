// SPDX-License-Identifier: GPL-2.0-only
/*
 * Logger: prefixes "flowsight: " and filters by verbosity.  The verbosity
 * is process-wide state by nature (it mirrors -v), so it lives here and is
 * reached only through log_set_verbosity().
 */
#include <stdio.h>

#include "util/log.h"

static int verbosity = LOG_WARN;

void log_set_verbosity(int v)
{
	verbosity = v;
}

int log_verbosity(void)
{
	return verbosity;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if ((int)lvl > verbosity)
		return;
	va_start(ap, fmt);
	fputs("flowsight: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}
