// SPDX-License-Identifier: GPL-2.0-only
/*
 * The meter fills a private batch of flows and publishes it when full
 * (or on sync); the writer outputs published batches oldest first.  At
 * most MAX_QUEUED batches wait.  A meter that finds the queue full, or
 * has nothing left to meter (end of input), formats the newest waiting
 * batch into text itself instead of only waiting, so that two threads
 * format when flows expire in bulk; the writer still outputs in order.
 * Formatting stays on the writer when rows cannot move (file splitting)
 * or when attribution must be joined as rows are written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "export/columns.h"
#include "core/engine.h"
#include "export/sink.h"
#include "export/writer.h"

#define BATCH_FLOWS 256
#define MAX_QUEUED 64
/* An idle writer is woken when this many batches wait (or on a sync point
 * or at the end): one wake-up per batch was 8% of a run in futex and
 * scheduler paths. */
#define WAKE_BATCHES 8

struct item {
	struct flow *flow;
	uint64_t id;
	int expiration_id;
};

enum { B_QUEUED, B_FORMATTING, B_FORMATTED };

struct batch {
	struct batch *next;
	int n;
	bool sync; /* flush the exporter after this batch and signal */
	int state; /* B_*, under the writer's lock */
	struct outbuf text; /* B_FORMATTED: its rows; its flows are freed */
	struct item it[BATCH_FLOWS];
};

struct writer {
	struct exporter *exp;    /* NULL: no CSV/JSON output (sinks only) */
	struct sink *sinks[WRITER_MAX_SINKS];
	int n_sinks;
	uint64_t flows;          /* flows written (or handed to the sinks) */
	writer_proc_fn proc_fn;  /* process attribution, NULL when off */
	void *proc_arg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;       /* queue changed (either side waits on it) */
	struct batch *head, *tail; /* published, oldest first */
	struct batch *done;      /* written, for the meter to free (its heap) */
	int queued;
	bool stopping;
	bool writer_idle;        /* the writer waits for batches */
	bool meter_waiting;      /* the meter waits for room or a sync */
	uint64_t syncs_done;     /* sync batches completed */
	int err;                 /* first output error, read by the meter */
	struct batch *cur;       /* meter-private batch being filled */
	uint64_t syncs_asked;
	struct row_fmt *fmt;     /* the meter's, when it may format (else NULL) */
	uint64_t *written;       /* flows output, for other threads (may be NULL) */
	const volatile unsigned int *reopen_gen; /* reopen when it changes */
	unsigned int reopen_seen;
};

static void record_of(const struct item *it, struct flow_record *r)
{
	*r = (struct flow_record){
		.flow = it->flow,
		.l7 = it->flow->dpi.res,
		.id = it->id,
		.expiration_id = it->expiration_id,
	};
}

static void set_err(struct writer *w, int err)
{
	if (err && !__atomic_load_n(&w->err, __ATOMIC_RELAXED))
		__atomic_store_n(&w->err, err, __ATOMIC_RELAXED);
}

static void write_batch(struct writer *w, struct batch *b)
{
	bool formatted = b->state == B_FORMATTED;

	if (w->exp && w->reopen_gen) {
		unsigned int gen = __atomic_load_n(w->reopen_gen, __ATOMIC_RELAXED);

		if (gen != w->reopen_seen) {
			w->reopen_seen = gen;
			set_err(w, exporter_reopen(w->exp));
		}
	}
	if (formatted)
		set_err(w, exporter_write_rows(w->exp, &b->text, (uint64_t)b->n));
	for (int i = 0; (!formatted || w->n_sinks) && i < b->n; i++) {
		struct item *it = &b->it[i];
		struct flow_record r;
		struct proc_info proc;

		record_of(it, &r);
		if (w->proc_fn) {
			w->proc_fn(w->proc_arg, it->flow, &proc);
			r.proc = &proc;
		}
		if (!formatted && w->exp)
			set_err(w, exporter_write(w->exp, &r));
		/* the sinks encode here and queue without waiting */
		for (int k = 0; k < w->n_sinks; k++)
			sink_encode(w->sinks[k], &r);
	}
	w->flows += (uint64_t)b->n;
	if (b->sync) {
		if (w->exp)
			set_err(w, exporter_flush(w->exp));
		for (int k = 0; k < w->n_sinks; k++)
			sink_flush(w->sinks[k]);
	}
	if (w->written)
		__atomic_add_fetch(w->written, (uint64_t)b->n, __ATOMIC_RELAXED);
}

/*
 * The meter's turn (lock held): format the newest batch nobody has taken,
 * never the oldest, which the writer is about to output.  False when there
 * is none, or when the meter may not format.
 */
static bool help_format(struct writer *w)
{
	struct batch *b, *pick = NULL;

	if (!w->fmt || w->proc_fn || !w->head)
		return false;
	for (b = w->head->next; b; b = b->next)
		if (b->state == B_QUEUED)
			pick = b;
	if (!pick)
		return false;
	pick->state = B_FORMATTING;
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < pick->n; i++) {
		struct flow_record r;

		record_of(&pick->it[i], &r);
		exporter_format(w->exp, w->fmt, &pick->text, &r);
	}
	pthread_mutex_lock(&w->lock);
	pick->state = B_FORMATTED;
	pthread_cond_broadcast(&w->cv);
	return true;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct batch *b;
		bool sync;

		while (!w->head && !w->stopping) {
			w->writer_idle = true;
			pthread_cond_wait(&w->cv, &w->lock);
			w->writer_idle = false;
		}
		if (!w->head)
			break;
		b = w->head;
		while (b->state == B_FORMATTING) /* the meter formats it */
			pthread_cond_wait(&w->cv, &w->lock);
		w->head = b->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		if (w->meter_waiting)
			pthread_cond_broadcast(&w->cv); /* room for the meter */
		pthread_mutex_unlock(&w->lock);
		sync = b->sync;
		write_batch(w, b);
		pthread_mutex_lock(&w->lock);
		b->next = w->done;
		w->done = b;
		if (sync) {
			w->syncs_done++;
			if (w->meter_waiting)
				pthread_cond_broadcast(&w->cv);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int writer_add_sink(struct writer *w, struct sink *sk)
{
	if (w->n_sinks >= WRITER_MAX_SINKS)
		return -E2BIG;
	pthread_mutex_lock(&w->lock);
	w->sinks[w->n_sinks++] = sk;
	pthread_mutex_unlock(&w->lock);
	return 0;
}

uint64_t writer_flows(const struct writer *w)
{
	return w->flows;
}

void writer_set_proc(struct writer *w, writer_proc_fn fn, void *arg)
{
	pthread_mutex_lock(&w->lock);
	w->proc_fn = fn;
	w->proc_arg = arg;
	pthread_mutex_unlock(&w->lock);
}

void writer_set_counters(struct writer *w, uint64_t *written,
			 const volatile unsigned int *reopen_gen)
{
	pthread_mutex_lock(&w->lock);
	w->written = written;
	w->reopen_gen = reopen_gen;
	if (reopen_gen)
		w->reopen_seen = *reopen_gen;
	pthread_mutex_unlock(&w->lock);
}

int writer_start(struct exporter *exp, struct writer **out)
{
	struct writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->exp = exp;
	w->fmt = exp ? exporter_fmt_new(exp) : NULL; /* NULL: the writer formats everything */
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	err = pthread_create(&w->thread, NULL, writer_main, w);
	if (err) {
		exporter_fmt_free(w->fmt);
		free(w);
		return -err;
	}
	*out = w;
	return 0;
}

/*
 * Free written batches and their flows on the meter's thread: the flows
 * come from its heap, and freeing them on the writer's thread made both
 * threads contend for that heap's lock (11,000 futex calls on a capture).
 */
static void free_done(struct batch *b)
{
	while (b) {
		struct batch *next = b->next;

		if (b->state == B_FORMATTED)
			free(b->text.buf);
		for (int i = 0; i < b->n; i++)
			engine_flow_free(b->it[i].flow);
		free(b);
		b = next;
	}
}

/* The meter waits (lock held) for the writer: wake it first if it idles
 * with batches queued, below the wake-up threshold. */
static void meter_wait(struct writer *w)
{
	if (w->writer_idle && w->head)
		pthread_cond_broadcast(&w->cv);
	w->meter_waiting = true;
	pthread_cond_wait(&w->cv, &w->lock);
	w->meter_waiting = false;
}

/* Publish the meter's current batch (if any), optionally as a sync point.
 * False when nothing was published. */
static bool publish(struct writer *w, bool sync)
{
	struct batch *b = w->cur, *done;

	if (!b && !sync)
		return false;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return false;
	}
	w->cur = NULL;
	b->sync = sync;
	b->state = B_QUEUED;
	b->text = (struct outbuf){ 0 };
	pthread_mutex_lock(&w->lock);
	while (w->queued >= MAX_QUEUED)
		if (!help_format(w))
			meter_wait(w);
	if (w->tail)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	w->queued++;
	if (w->writer_idle && (sync || w->queued >= WAKE_BATCHES))
		pthread_cond_broadcast(&w->cv);
	done = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	free_done(done);
	return true;
}

int writer_push(struct writer *w, struct flow *f, uint64_t id, int expiration_id)
{
	if (!w->cur) {
		w->cur = malloc(sizeof(*w->cur));
		if (!w->cur) {
			engine_flow_free(f);
			return -ENOMEM;
		}
		w->cur->next = NULL;
		w->cur->n = 0;
		w->cur->sync = false;
	}
	w->cur->it[w->cur->n++] = (struct item){ f, id, expiration_id };
	if (w->cur->n == BATCH_FLOWS)
		publish(w, false);
	return __atomic_load_n(&w->err, __ATOMIC_RELAXED);
}

void writer_sync(struct writer *w)
{
	uint64_t ticket;

	if (!publish(w, true))
		return; /* no memory for a sync point: the data still flows */
	ticket = ++w->syncs_asked;
	pthread_mutex_lock(&w->lock);
	while (w->syncs_done < ticket)
		meter_wait(w);
	pthread_mutex_unlock(&w->lock);
}

int writer_stop(struct writer *w, uint64_t *flows)
{
	int err;

	publish(w, false);
	pthread_mutex_lock(&w->lock);
	while (help_format(w)) /* end of input: format beside the writer */
		;
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	free_done(w->done);
	err = w->err;
	if (flows)
		*flows = w->flows;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cv);
	exporter_fmt_free(w->fmt);
	free(w);
	return err;
}
