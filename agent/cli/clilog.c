// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command's diagnostics (clilog.h): "flowsight: " lines on stderr, or
 * syslog-priority prefixed lines when stderr is systemd's journal stream.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli/clilog.h"
#include "flowsight/flowsight.h"

static bool journal;
static const char *where;

void clilog_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* sd-daemon(3): only if stderr is still that stream (not redirected) */
	journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
		  (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool clilog_journal(void)
{
	return journal;
}

static void line(int prio, bool prefix, const char *fmt, va_list ap)
{
	flockfile(stderr);
	if (journal)
		fprintf(stderr, "<%d>", prio);
	else if (prefix)
		fputs("flowsight: ", stderr);
	if (prefix && where)
		fprintf(stderr, "%s: ", where);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line(3, true, fmt, ap);
	va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line(3, false, fmt, ap);
	va_end(ap);
}

void cli_info(int verbosity, const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 1)
		return;
	va_start(ap, fmt);
	line(6, true, fmt, ap);
	va_end(ap);
}

void cli_set_where(const char *w)
{
	where = w;
}

/* The library's messages under the journal: its levels as priorities. */
static void journal_sink(enum fs_log_level level, const char *msg, void *arg)
{
	static const int prio[] = { [FS_LOG_WARN] = 4, [FS_LOG_INFO] = 6, [FS_LOG_DEBUG] = 7 };

	(void)arg;
	/* one record per line: a message may hold several */
	flockfile(stderr);
	for (const char *p = msg;;) {
		const char *nl = p;

		while (*nl && *nl != '\n')
			nl++;
		fprintf(stderr, "<%d>%.*s\n", prio[level <= FS_LOG_DEBUG ? level : FS_LOG_DEBUG],
			(int)(nl - p), p);
		if (!*nl || !nl[1])
			break;
		p = nl + 1;
	}
	funlockfile(stderr);
}

void clilog_library(int verbosity)
{
	/* elsewhere the library's own default: "flowsight: " lines, and
	 * NFStream's warnings in its words */
	fs_set_log(journal ? journal_sink : NULL, NULL, verbosity);
}
