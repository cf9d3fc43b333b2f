/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * flowsight top: traffic per process, refreshed every second from the
 * session's open flows (fs_session_snapshot), on a terminal with ncurses,
 * else as a plain table every second.  Terminal handling is the
 * command's: the library knows nothing of it.
 */
#ifndef FLOWSIGHT_TOP_H
#define FLOWSIGHT_TOP_H

#include <signal.h>

#include "flowsight/flowsight.h"

/*
 * Show session @s (started; its flows are being exported by another
 * thread) until *@stop is set or the session ends; 'q' in the terminal
 * view sets *@stop.  @tty: stdout is a terminal.  Returns when done, the
 * terminal restored.
 */
void top_run(struct fs_session *s, volatile sig_atomic_t *stop, bool tty,
	     volatile int *export_done);

/* The interface of the default route, else the first one up, else "lo". */
const char *top_default_interface(char *buf, size_t n);

#endif
