/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Writer thread: finished flows are formatted and written on a second
 * core while the meter goes on.  The meter thread hands over each flow
 * (ownership included) with its id; the writer renders it through an
 * exporter and frees it.  Hand-over is by batches under one mutex, with
 * back-pressure when the writer falls behind, so memory stays bounded.
 */
#ifndef FLOWSIGHT_WRITER_H
#define FLOWSIGHT_WRITER_H

#include <stdint.h>

#include "export/export.h"
#include "core/flow.h"
#include "core/proc.h"

struct writer;
struct sink;

#define WRITER_MAX_SINKS 4

/* Start the thread writing to @exp (still owned by the caller; NULL: no
 * CSV/JSON output, the sinks only).  0 or -errno. */
int writer_start(struct exporter *exp, struct writer **out);

/* Encode every flow for network sink @sk too, on the writer's thread,
 * after its CSV/JSON row (sink.h).  Set before any push. */
int writer_add_sink(struct writer *w, struct sink *sk);

/*
 * A step run on the writer's thread for each flow before it is formatted:
 * fill @out with the flow's process (attribution).  Set before any push.
 */
typedef void (*writer_proc_fn)(void *arg, const struct flow *f, struct proc_info *out);
void writer_set_proc(struct writer *w, writer_proc_fn fn, void *arg);

/*
 * Optional, before any push: @written counts the flows the writer has
 * output (relaxed atomic adds, for readers on other threads); when
 * *@reopen_gen changes, the writer reopens its output before the next
 * batch (exporter_reopen).  Either may be NULL.
 */
void writer_set_counters(struct writer *w, uint64_t *written,
			 const volatile unsigned int *reopen_gen);

/*
 * Queue finished flow @f (the writer owns and frees it) as record @id with
 * @expiration_id.  Returns 0, or the writer's first output error (-EPIPE
 * when the reader went away, -ENOSPC ...) so the meter can stop.
 */
int writer_push(struct writer *w, struct flow *f, uint64_t id, int expiration_id);

/* Write everything queued so far and flush the exporter; waits for it. */
void writer_sync(struct writer *w);

/* Write what is queued, stop the thread, free @w.  Returns the first
 * output error, or 0; *@flows (may be NULL) gets the flows handled. */
int writer_stop(struct writer *w, uint64_t *flows);

#endif
