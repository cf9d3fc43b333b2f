/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The inside of fs_frame (frame.c), for the batches that fill it (flow.c).
 */
#ifndef FLOWSIGHT_API_FRAME_H
#define FLOWSIGHT_API_FRAME_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export/export.h"
#include "flowsight/flowsight.h"

/*
 * Distinct texts, numbered in order of first appearance: a frame's text
 * columns (one per column, growing) and fs_batch_dict() (one per batch,
 * cleared for each column).
 */
struct text_dict {
	uint32_t *slots;     /* hash table: code + 1, 0 empty */
	size_t n_slots;
	uint32_t *len;       /* per code */
	uint64_t *hash;
	size_t *off;         /* per code: its text in @texts */
	size_t k, cap;
	struct outbuf texts; /* each distinct text and a NUL, in code order */
};

/* The code of text @t (@l bytes) in @d, added if new; -1 without memory. */
int64_t text_dict_code(struct text_dict *d, const char *t, size_t l);
/* No text (the memory stays for the next ones). */
void text_dict_clear(struct text_dict *d);
void text_dict_free(struct text_dict *d);

struct fs_frame {
	struct fs_session *s;
	size_t n;                 /* columns */
	pthread_mutex_t lock;     /* rows, cap, takes; then @grow */
	pthread_rwlock_t grow;    /* fills hold it shared, a regrowth exclusive */
	pthread_mutex_t dict_lock; /* the dictionaries (taken by fills, in @grow) */
	size_t rows, cap;         /* reserved, allocated */
	size_t limit;             /* fs_frame_expect(): rows at most, 0 unknown */
	void **cols;              /* per column: int64, double, or uint32 codes (texts) */
	uint8_t **nulls;          /* per column that can hold None: 1 per None row */
	bool *has_null;
	bool *doubles;            /* FS_FLOAT columns kept as doubles, not as read_csv reads them */
	bool *taken;              /* handed over (fs_frame_take) */
	struct text_dict **dicts;
};

/* @n rows for a batch's flows, in pull order: their first row, or -errno.
 * @pending: flows still cached or queued; @share: the part of the input
 * read so far (0: unknown), for sizing the frame when it grows. */
long frame_reserve(struct fs_frame *fr, size_t n, size_t pending, double share);
/* Rows [@at, @at + @n) of text column @col: the codes of @strs. */
int frame_codes(struct fs_frame *fr, size_t col, size_t at, const char *const *strs, size_t n);

/* FNV-1a, folded: the texts' hash of the dictionaries. */
static inline uint64_t text_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

#endif
