// SPDX-License-Identifier: GPL-2.0-only
/*
 * Offline read-ahead (readahead.h): one reader thread, one consumer, a
 * ring of RA_SLOTS slots of RA_CHUNKS decoded batches each.  A slot holds
 * 256 frames, so the two threads meet once per 256 packets.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "capture/readahead.h"

#define RA_SLOTS 8
#define RA_CHUNKS 8
#define RA_FRAMES (RA_CHUNKS * ENGINE_BATCH)

struct ra_slot {
	int n_chunks;
	struct engine_decoded d[RA_CHUNKS];
};

struct readahead {
	struct source *src;
	struct engine_opts o;
	volatile int *stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t filled, freed;
	uint64_t written, read; /* slots; written - read <= RA_SLOTS */
	bool eof, quit;
	int err;
	int chunk;              /* consumer: next chunk of slot `read` */
	struct ra_slot slots[RA_SLOTS];
};

static void *reader_main(void *arg)
{
	struct readahead *ra = arg;
	struct frame fr[RA_FRAMES];
	int r = 0;

	for (;;) {
		struct ra_slot *slot;

		pthread_mutex_lock(&ra->lock);
		while (ra->written - ra->read == RA_SLOTS && !ra->quit)
			pthread_cond_wait(&ra->freed, &ra->lock);
		if (ra->quit) {
			pthread_mutex_unlock(&ra->lock);
			return NULL;
		}
		slot = &ra->slots[ra->written % RA_SLOTS];
		pthread_mutex_unlock(&ra->lock);

		r = *ra->stop ? 0 : source_next(ra->src, fr, RA_FRAMES);
		if (r <= 0)
			break;
		slot->n_chunks = 0;
		for (int base = 0; base < r; base += ENGINE_BATCH) {
			int m = r - base < ENGINE_BATCH ? r - base : ENGINE_BATCH;

			engine_decode(&ra->o, fr + base, m, &slot->d[slot->n_chunks++]);
		}
		pthread_mutex_lock(&ra->lock);
		ra->written++;
		pthread_cond_signal(&ra->filled);
		pthread_mutex_unlock(&ra->lock);
	}
	pthread_mutex_lock(&ra->lock);
	ra->eof = true;
	ra->err = r < 0 ? r : 0;
	pthread_cond_signal(&ra->filled);
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

int readahead_start(struct source *src, const struct engine_opts *o, volatile int *stop,
		    struct readahead **out)
{
	struct readahead *ra = calloc(1, sizeof(*ra));
	int err;

	if (!ra)
		return -ENOMEM;
	ra->src = src;
	ra->o = *o;
	ra->stop = stop;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->filled, NULL);
	pthread_cond_init(&ra->freed, NULL);
	err = pthread_create(&ra->thread, NULL, reader_main, ra);
	if (err) {
		free(ra);
		return -err;
	}
	*out = ra;
	return 0;
}

struct engine_decoded *readahead_next(struct readahead *ra, int *err)
{
	struct ra_slot *slot;

	pthread_mutex_lock(&ra->lock);
	if (ra->written != ra->read && ra->chunk == ra->slots[ra->read % RA_SLOTS].n_chunks) {
		/* the slot before is metered: the reader may refill it */
		ra->read++;
		ra->chunk = 0;
		pthread_cond_signal(&ra->freed);
	}
	while (ra->written == ra->read && !ra->eof)
		pthread_cond_wait(&ra->filled, &ra->lock);
	if (ra->written == ra->read) {
		*err = ra->err;
		pthread_mutex_unlock(&ra->lock);
		return NULL;
	}
	slot = &ra->slots[ra->read % RA_SLOTS];
	pthread_mutex_unlock(&ra->lock);
	/* the reader does not touch a slot between written and read */
	return &slot->d[ra->chunk++];
}

void readahead_stop(struct readahead *ra)
{
	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->quit = true;
	pthread_cond_signal(&ra->freed);
	pthread_mutex_unlock(&ra->lock);
	pthread_join(ra->thread, NULL);
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->filled);
	pthread_cond_destroy(&ra->freed);
	free(ra);
}
