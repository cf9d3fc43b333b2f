/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * --progress: one self-updating line on stderr during offline runs (bytes
 * read of the total, per file and overall, packets/s, flows cached and
 * exported, time left), from fs_session_progress() and fs_session_stats().
 */
#ifndef FLOWSIGHT_PROGRESS_H
#define FLOWSIGHT_PROGRESS_H

#include "flowsight/flowsight.h"

struct progress;

/*
 * @mode -1 (default): only when stderr is a terminal, from 2 s into the
 * run; 1: always, from the start; 0: never (NULL).  Routes the library's
 * log through the line (cleared before each message) at @verbosity.
 */
struct progress *progress_start(struct fs_session *s, int mode, int verbosity);

/* Draw the final state when the line was shown (or forced), then clear it. */
void progress_stop(struct progress *p);

#endif
