/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Offline read-ahead: a thread pulls frames from a capture source and
 * decodes them (engine_decode()) while the caller's thread meters the
 * batches before, in the same order.  Reading and decoding were a third
 * of the meter thread's time on large captures; the two now overlap.
 *
 * Decoded packets point into their frames, which a source keeps valid
 * only until its next call: use it only when nothing reads the packet
 * bytes after decoding (L7 off), and only with sources that never call
 * back into the caller's thread (regular files: no idle hook).
 */
#ifndef FLOWSIGHT_READAHEAD_H
#define FLOWSIGHT_READAHEAD_H

#include <signal.h>

#include "core/engine.h"
#include "capture/source.h"

struct readahead;

/* Start reading @src.  The thread stops early once *@stop is non-zero. */
int readahead_start(struct source *src, const struct engine_opts *o, volatile int *stop,
		    struct readahead **out);

/*
 * The next decoded batch, in source order, valid until the next call; NULL
 * at the end of input, with *@err the source's result: 0, or -errno (the
 * source has logged it).
 */
struct engine_decoded *readahead_next(struct readahead *ra, int *err);

/* Stop the thread (at any point) and free everything. */
void readahead_stop(struct readahead *ra);

#endif
