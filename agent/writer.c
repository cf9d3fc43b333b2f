// SPDX-License-Identifier: GPL-2.0-only
/*
 * The meter fills a private batch of flows and publishes it when full
 * (or on sync); the writer takes all published batches at once.  At most
 * MAX_QUEUED batches wait: the meter then blocks, which bounds memory and
 * keeps output order (one producer, one consumer, FIFO).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "attr.h"
#include "columns.h"
#include "engine.h"
#include "writer.h"

#define BATCH_FLOWS 256
#define MAX_QUEUED 64

struct item {
	struct flow *flow;
	uint64_t id;
	int expiration_id;
};

struct batch {
	struct batch *next;
	int n;
	bool sync; /* flush the exporter after this batch and signal */
	struct item it[BATCH_FLOWS];
};

struct writer {
	struct exporter *exp;
	struct attr *attr;       /* process attribution, NULL when off */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cv;       /* queue changed (either side waits on it) */
	struct batch *head, *tail; /* published, oldest first */
	int queued;
	bool stopping;
	uint64_t syncs_done;     /* sync batches completed */
	int err;                 /* first output error, read by the meter */
	struct batch *cur;       /* meter-private batch being filled */
	uint64_t syncs_asked;
};

static void write_batch(struct writer *w, struct batch *b)
{
	for (int i = 0; i < b->n; i++) {
		struct item *it = &b->it[i];
		struct flow_record r = {
			.flow = it->flow,
			.l7 = it->flow->dpi.res,
			.id = it->id,
			.expiration_id = it->expiration_id,
			.proc_pid = -1,
			.proc_name = "",
		};
		struct attr_result proc;
		int err;

		if (w->attr) {
			attr_lookup(w->attr, it->flow, &proc);
			r.proc = &proc;
			r.proc_pid = proc.pid;
			r.proc_name = proc.name;
		}
		err = exporter_write(w->exp, &r);

		if (err && !__atomic_load_n(&w->err, __ATOMIC_RELAXED))
			__atomic_store_n(&w->err, err, __ATOMIC_RELAXED);
		engine_flow_free(it->flow);
	}
	if (b->sync) {
		int err = exporter_flush(w->exp);

		if (err && !__atomic_load_n(&w->err, __ATOMIC_RELAXED))
			__atomic_store_n(&w->err, err, __ATOMIC_RELAXED);
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct batch *b;

		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->lock);
		if (!w->head)
			break;
		b = w->head;
		w->head = NULL;
		w->tail = NULL;
		w->queued = 0;
		pthread_cond_broadcast(&w->cv); /* room for the meter */
		pthread_mutex_unlock(&w->lock);
		while (b) {
			struct batch *next = b->next;
			bool sync = b->sync;

			write_batch(w, b);
			free(b);
			b = next;
			if (sync) {
				pthread_mutex_lock(&w->lock);
				w->syncs_done++;
				pthread_cond_broadcast(&w->cv);
				pthread_mutex_unlock(&w->lock);
			}
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void writer_set_attr(struct writer *w, struct attr *a)
{
	pthread_mutex_lock(&w->lock);
	w->attr = a;
	pthread_mutex_unlock(&w->lock);
}

int writer_start(struct exporter *exp, struct writer **out)
{
	struct writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->exp = exp;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cv, NULL);
	err = pthread_create(&w->thread, NULL, writer_main, w);
	if (err) {
		free(w);
		return -err;
	}
	*out = w;
	return 0;
}

/* Publish the meter's current batch (if any), optionally as a sync point.
 * False when nothing was published. */
static bool publish(struct writer *w, bool sync)
{
	struct batch *b = w->cur;

	if (!b && !sync)
		return false;
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return false;
	}
	w->cur = NULL;
	b->sync = sync;
	pthread_mutex_lock(&w->lock);
	while (w->queued >= MAX_QUEUED)
		pthread_cond_wait(&w->cv, &w->lock);
	if (w->tail)
		w->tail->next = b;
	else
		w->head = b;
	w->tail = b;
	w->queued++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
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
		pthread_cond_wait(&w->cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

int writer_stop(struct writer *w)
{
	int err;

	publish(w, false);
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	err = w->err;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cv);
	free(w);
	return err;
}
