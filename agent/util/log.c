// SPDX-License-Identifier: GPL-2.0-only
/*
 * Logger: filters by verbosity and hands each message to the sink, by
 * default stderr with a "flowsight: " prefix.  Process-wide by nature (the
 * library's diagnostics, like libbpf's and libpcap's): set once by the
 * application through fs_set_log().
 */
#include <stdio.h>
#include <string.h>

#include "flowsight/flowsight.h"
#include "util/log.h"

static int verbosity = LOG_WARN;
static fs_log_fn sink;
static void *sink_arg;

void log_set_verbosity(int v)
{
	verbosity = v;
}

int log_verbosity(void)
{
	return verbosity;
}

void fs_set_log(fs_log_fn fn, void *arg, int v)
{
	sink = fn;
	sink_arg = arg;
	verbosity = v;
}

static void emit(enum log_level lvl, bool prefix, const char *fmt, va_list ap)
{
	char msg[2048];
	size_t n;

	if (!sink) {
		flockfile(stderr);
		if (prefix)
			fputs("flowsight: ", stderr);
		vfprintf(stderr, fmt, ap);
		funlockfile(stderr);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (n && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	sink((enum fs_log_level)lvl, msg, sink_arg);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if ((int)lvl > verbosity)
		return;
	va_start(ap, fmt);
	emit(lvl, true, fmt, ap);
	va_end(ap);
}

void log_raw(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_WARN, false, fmt, ap);
	va_end(ap);
}
