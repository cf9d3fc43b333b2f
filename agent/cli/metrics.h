/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * --metrics-listen: the session's counters in Prometheus' text exposition
 * format on GET /metrics, served by libmicrohttpd's one internal polling
 * thread (epoll) with a bounded number of connections.  The command's,
 * not the library's: the library starts no listener; it offers the
 * counters (fs_session_stats, fs_session_counters) to any thread.
 */
#ifndef FLOWSIGHT_METRICS_H
#define FLOWSIGHT_METRICS_H

#include <stddef.h>

#include "flowsight/flowsight.h"

#define METRICS_MAX_CONNECTIONS 32

struct metrics;

/*
 * Check the syntax of ADDR:PORT, [ADDR6]:PORT or PORT (127.0.0.1).  0, or
 * -EINVAL with the reason in @err.
 */
int metrics_parse(const char *spec, char *err, size_t n);

/* Bind and listen now (before privileges are dropped); serve nothing yet.
 * 0, or -errno with a one-line reason in @err. */
int metrics_listen(const char *spec, struct metrics **out, char *err, size_t n);

/* The address bound, ADDR:PORT or [ADDR6]:PORT. */
const char *metrics_where(const struct metrics *m);

/* Serve @s's counters from now on (its own thread).  0 or -errno (@err). */
int metrics_start(struct metrics *m, struct fs_session *s, char *err, size_t n);

/* Stop serving, close the socket, free.  Before fs_session_free(). */
void metrics_stop(struct metrics *m);

/* The exposition text of @s, a malloc'd string of *@len bytes. */
char *metrics_render(struct fs_session *s, size_t *len);

#endif
