/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The command's diagnostics on stderr.  Under systemd, when stderr is the
 * journal's stream (JOURNAL_STREAM names its device and inode,
 * sd-daemon(3)), each line starts with its syslog priority, "<3>" for
 * errors, "<4>" warnings, "<6>" information, "<7>" debugging, and the
 * journal files it at that level (the "flowsight: " prefix is left to the
 * journal's own identifier).  Elsewhere lines are "flowsight: ..." as
 * always.  The library's messages go the same way (fs_set_log).
 */
#ifndef FLOWSIGHT_CLILOG_H
#define FLOWSIGHT_CLILOG_H

#include <stdbool.h>

/* Look at JOURNAL_STREAM once; before any message. */
void clilog_detect(void);
bool clilog_journal(void);
/* Route the library's diagnostics here at @verbosity (fs_set_log). */
void clilog_library(int verbosity);

/* An error of the command: "flowsight: [@where: ]msg" (priority 3). */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line without our prefix (a hint after an error). */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Information, shown from verbosity 1 (priority 6). */
void cli_info(int verbosity, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Where the option being applied comes from ("FILE:LINE"), or NULL. */
void cli_set_where(const char *where);

#endif
