// SPDX-License-Identifier: GPL-2.0-only
/*
 * Frames: a DataFrame's columns, filled in place by the batches that carry
 * them (fs_batch_set_frame), so that a consumer such as Python's
 * to_pandas() copies nothing.  A batch reserves its rows when it pulls
 * flows (in the order of the flows) and writes them when it is filled, on
 * whichever thread fills it; two batches may fill one frame at once.
 *
 * Each column is its own anonymous mapping, grown with mremap (pages move,
 * bytes are not copied) and advised for huge pages, and handed over whole
 * (fs_frame_take) to the consumer, which frees it with
 * fs_frame_column_free().  Texts are dictionary-encoded: one code per row,
 * the distinct texts once per frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/frame.h"
#include "api/session.h"
#include "util/hugemap.h"

/* A column's mapping starts with this header; the data follows. */
#define COL_HEAD 64
/* Columns of this size or more are placed on huge page boundaries. */

static size_t col_width(const struct column *c)
{
	switch (c->kind) {
	case COL_INT:
		return sizeof(int64_t);
	case COL_FLOAT:
		return sizeof(double);
	default:
		return sizeof(uint32_t); /* texts: codes */
	}
}

static bool col_nullable(const struct column *c)
{
	return c->field == CF_UDP || c->kind == COL_LIST;
}

static size_t map_len(size_t bytes)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return (COL_HEAD + bytes + pg - 1) / pg * pg;
}

static void *col_map(size_t bytes)
{
	size_t len = map_len(bytes);
	char *m;

	if (len >= HUGEMAP_PAGE) {
		m = huge_map(len);
	} else {
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			m = NULL;
	}
	if (!m)
		return NULL;
	*(size_t *)m = len;
	return m + COL_HEAD;
}

/* Room for @bytes: the pages move (mremap), the bytes are not copied. */
static void *col_remap(void *p, size_t bytes)
{
	char *m = (char *)p - COL_HEAD, *to;
	size_t old = *(size_t *)m, len = map_len(bytes);

	if (len <= old)
		return p;
	if (len >= HUGEMAP_PAGE) {
		to = huge_map(len);
		if (!to)
			return NULL;
		m = mremap(m, old, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		if (m == MAP_FAILED) {
			munmap(to, len);
			return NULL;
		}
		(void)madvise(m, len, MADV_HUGEPAGE);
	} else {
		m = mremap(m, old, len, MREMAP_MAYMOVE);
		if (m == MAP_FAILED)
			return NULL;
	}
	*(size_t *)m = len;
	return m + COL_HEAD;
}

void fs_frame_column_free(void *p)
{
	char *m;

	if (!p)
		return;
	m = (char *)p - COL_HEAD;
	munmap(m, *(size_t *)m);
}

struct fs_frame *fs_frame_new(struct fs_session *s)
{
	const struct schema *sc = &s->schema;
	struct fs_frame *fr = calloc(1, sizeof(*fr));
	size_t n = sc->n ? sc->n : 1;

	if (!fr)
		return NULL;
	fr->s = s;
	fr->n = sc->n;
	pthread_rwlock_init(&fr->grow, NULL);
	pthread_mutex_init(&fr->lock, NULL);
	pthread_mutex_init(&fr->dict_lock, NULL);
	fr->cols = calloc(n, sizeof(*fr->cols));
	fr->nulls = calloc(n, sizeof(*fr->nulls));
	fr->has_null = calloc(n, sizeof(*fr->has_null));
	fr->doubles = calloc(n, sizeof(*fr->doubles));
	fr->taken = calloc(n, sizeof(*fr->taken));
	fr->dicts = calloc(n, sizeof(*fr->dicts));
	if (!fr->cols || !fr->nulls || !fr->has_null || !fr->doubles || !fr->taken || !fr->dicts) {
		fs_frame_free(fr);
		return NULL;
	}
	return fr;
}

int fs_frame_keep_doubles(struct fs_frame *fr, size_t col)
{
	if (col >= fr->n || fr->s->schema.cols[col].kind != COL_FLOAT || fr->rows)
		return -EINVAL;
	fr->doubles[col] = true;
	return 0;
}

size_t fs_frame_rows(const struct fs_frame *fr)
{
	return fr->rows;
}

/* Room for @cap rows in every column (the caller holds fr->grow for writing). */
static int frame_grow(struct fs_frame *fr, size_t cap)
{
	const struct schema *sc = &fr->s->schema;

	for (size_t i = 0; i < fr->n; i++) {
		const struct column *c = &sc->cols[i];
		void *p;

		if (fr->taken[i])
			continue;
		p = fr->cols[i] ? col_remap(fr->cols[i], cap * col_width(c)) :
				  col_map(cap * col_width(c));
		if (!p)
			return -ENOMEM;
		fr->cols[i] = p;
		if (!col_nullable(c))
			continue;
		p = fr->nulls[i] ? col_remap(fr->nulls[i], cap) : col_map(cap);
		if (!p)
			return -ENOMEM;
		fr->nulls[i] = p;
	}
	fr->cap = cap;
	return 0;
}

int fs_frame_expect(struct fs_frame *fr, size_t rows)
{
	pthread_mutex_lock(&fr->lock);
	fr->limit = rows;
	pthread_mutex_unlock(&fr->lock);
	return 0;
}

/*
 * The rows to make room for when @need do not fit: the flows still to come
 * (@pending: cached or queued, and the capture's share not read yet), at
 * most the frame's limit, at least twice what it had.  Most flows of a
 * capture end at its end, so the first batch usually sizes the frame for
 * good, and each column is mapped once, at its final size.
 */
static size_t frame_want(const struct fs_frame *fr, size_t need, size_t pending, double share)
{
	size_t want = need + pending;

	if (share > 0 && share < 1 && (double)need / share > (double)want)
		want = (size_t)((double)need / share) + pending;
	if (want < 2 * fr->cap)
		want = 2 * fr->cap;
	if (want < 256)
		want = 256;
	if (fr->limit && want > fr->limit)
		want = fr->limit;
	return want > need ? want : need;
}

long frame_reserve(struct fs_frame *fr, size_t n, size_t pending, double share)
{
	long at;
	int err = 0;

	pthread_mutex_lock(&fr->lock);
	if (fr->rows + n > fr->cap) {
		size_t cap = frame_want(fr, fr->rows + n, pending, share);

		pthread_rwlock_wrlock(&fr->grow);
		err = frame_grow(fr, cap);
		pthread_rwlock_unlock(&fr->grow);
	}
	if (err) {
		pthread_mutex_unlock(&fr->lock);
		return err;
	}
	at = (long)fr->rows;
	fr->rows += n;
	pthread_mutex_unlock(&fr->lock);
	return at;
}

static int dict_rehash(struct text_dict *d, size_t want)
{
	uint32_t *sl = calloc(want, sizeof(*sl));

	if (!sl)
		return -ENOMEM;
	for (size_t c = 0; c < d->k; c++) {
		size_t at = (size_t)d->hash[c] & (want - 1);

		while (sl[at])
			at = (at + 1) & (want - 1);
		sl[at] = (uint32_t)c + 1;
	}
	free(d->slots);
	d->slots = sl;
	d->n_slots = want;
	return 0;
}

int64_t text_dict_code(struct text_dict *d, const char *t, size_t l)
{
	uint64_t h = text_hash(t, l);
	size_t at;

	if (2 * (d->k + 1) > d->n_slots && dict_rehash(d, d->n_slots ? 2 * d->n_slots : 256))
		return -1;
	at = (size_t)h & (d->n_slots - 1);
	for (;;) {
		uint32_t c = d->slots[at];

		if (!c)
			break;
		c--;
		if (d->hash[c] == h && d->len[c] == l && !memcmp(d->texts.buf + d->off[c], t, l))
			return c;
		at = (at + 1) & (d->n_slots - 1);
	}
	if (d->k == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 256;
		uint32_t *len = realloc(d->len, cap * sizeof(*len));
		uint64_t *hash;
		size_t *off;

		if (!len)
			return -1;
		d->len = len;
		hash = realloc(d->hash, cap * sizeof(*hash));
		if (!hash)
			return -1;
		d->hash = hash;
		off = realloc(d->off, cap * sizeof(*off));
		if (!off)
			return -1;
		d->off = off;
		d->cap = cap;
	}
	d->off[d->k] = d->texts.len;
	outbuf_put(&d->texts, t, l);
	outbuf_putc(&d->texts, '\0');
	d->len[d->k] = (uint32_t)l;
	d->hash[d->k] = h;
	d->slots[at] = (uint32_t)d->k + 1;
	return (int64_t)d->k++;
}

void text_dict_clear(struct text_dict *d)
{
	if (d->slots)
		memset(d->slots, 0, d->n_slots * sizeof(*d->slots));
	d->k = 0;
	d->texts.len = 0;
}

void text_dict_free(struct text_dict *d)
{
	free(d->slots);
	free(d->len);
	free(d->hash);
	free(d->off);
	free(d->texts.buf);
	memset(d, 0, sizeof(*d));
}

int frame_codes(struct fs_frame *fr, size_t col, size_t at, const char *const *strs, size_t n)
{
	struct text_dict *d;
	uint32_t *codes;
	int err = 0;

	if (fr->taken[col])
		return 0;
	codes = (uint32_t *)fr->cols[col] + at;
	pthread_mutex_lock(&fr->dict_lock);
	d = fr->dicts[col];
	if (!d) {
		d = fr->dicts[col] = calloc(1, sizeof(*d));
		if (!d)
			err = -ENOMEM;
	}
	for (size_t r = 0; !err && r < n; r++) {
		int64_t c = text_dict_code(d, strs[r], strlen(strs[r]));

		if (c < 0)
			err = -ENOMEM;
		else
			codes[r] = (uint32_t)c;
	}
	pthread_mutex_unlock(&fr->dict_lock);
	return err;
}

long fs_frame_dict(struct fs_frame *fr, size_t col, const char **texts, size_t *len)
{
	struct text_dict *d;

	*texts = "";
	*len = 0;
	if (col >= fr->n)
		return -EINVAL;
	d = fr->dicts[col];
	if (!d)
		return 0;
	*texts = d->texts.buf;
	*len = d->texts.len;
	return (long)d->k;
}

const uint8_t *fs_frame_nulls(const struct fs_frame *fr, size_t col)
{
	if (col >= fr->n || !__atomic_load_n(&fr->has_null[col], __ATOMIC_RELAXED))
		return NULL;
	return fr->nulls[col];
}

void *fs_frame_take(struct fs_frame *fr, size_t col)
{
	void *p;

	if (col >= fr->n)
		return NULL;
	pthread_mutex_lock(&fr->lock);
	if (!fr->cols[col] && !fr->taken[col]) {
		/* a frame without a row: an empty column of its own */
		fr->cols[col] = col_map(col_width(&fr->s->schema.cols[col]));
	}
	p = fr->cols[col];
	fr->cols[col] = NULL;
	fr->taken[col] = true;
	pthread_mutex_unlock(&fr->lock);
	return p;
}

void fs_frame_free(struct fs_frame *fr)
{
	if (!fr)
		return;
	for (size_t i = 0; i < fr->n; i++) {
		if (fr->cols)
			fs_frame_column_free(fr->cols[i]);
		if (fr->nulls)
			fs_frame_column_free(fr->nulls[i]);
		if (fr->dicts && fr->dicts[i]) {
			text_dict_free(fr->dicts[i]);
			free(fr->dicts[i]);
		}
	}
	free(fr->cols);
	free(fr->nulls);
	free(fr->has_null);
	free(fr->doubles);
	free(fr->taken);
	free(fr->dicts);
	pthread_rwlock_destroy(&fr->grow);
	pthread_mutex_destroy(&fr->lock);
	pthread_mutex_destroy(&fr->dict_lock);
	free(fr);
}
