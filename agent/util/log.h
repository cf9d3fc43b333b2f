/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One logger for the whole library.  Diagnostics go to the sink
 * (fs_set_log; stderr by default), flow records never do.  Messages are
 * lowercase, quote their subject and end with the cause.  -v raises the
 * verbosity; libbpf's own messages come through log_libbpf_print()
 * (util/bpf_log.h) when the application routes them here.
 */
#ifndef FLOWSIGHT_LOG_H
#define FLOWSIGHT_LOG_H

#include <stdarg.h>

enum log_level { LOG_WARN = 0, LOG_INFO = 1, LOG_DEBUG = 2 };

void log_set_verbosity(int v);
int log_verbosity(void);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning in NFStream's own words, without our prefix. */
void log_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
