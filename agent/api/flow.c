// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reading flows through the public API: the schema, one value of one flow
 * (fs_flow_get), and columnar batches (fs_batch) built from the same
 * values.  Texts a value points to live as long as its flow (or batch).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/frame.h"
#include "api/session.h"
#include "export/export.h"

/* Address columns each get a slot of this size in fs_flow.text. */
#define TEXT_SLOT 48
#define N_ADDR 6

size_t fs_session_columns(const struct fs_session *s)
{
	return s->schema.n;
}

const char *fs_column_name(const struct fs_session *s, size_t col)
{
	return col < s->schema.n ? s->schema.cols[col].name : NULL;
}

static enum fs_type type_of(enum col_kind k)
{
	switch (k) {
	case COL_FLOAT:
		return FS_FLOAT;
	case COL_STR:
		return FS_STR;
	case COL_LIST:
		return FS_LIST;
	default:
		return FS_INT;
	}
}

enum fs_type fs_column_type(const struct fs_session *s, size_t col)
{
	return col < s->schema.n ? type_of(s->schema.cols[col].kind) : FS_INT;
}

long fs_column_index(const struct fs_session *s, const char *name)
{
	return schema_find(&s->schema, name);
}

void api_record(const struct fs_flow *w, struct flow_record *r)
{
	*r = (struct flow_record){
		.flow = w->f,
		.l7 = w->f->dpi.res,
		.id = (uint64_t)(int64_t)w->id,
		.expiration_id = w->f->custom_expiry ? -1 : w->expiration_id,
		.proc = w->proc,
	};
}

/* Which of the address slots column @c takes. */
static int addr_slot(const struct column *c)
{
	switch (c->field) {
	case CF_SRC_IP:
		return 0;
	case CF_DST_IP:
		return 1;
	case CF_SRC_MAC:
		return 2;
	case CF_DST_MAC:
		return 3;
	case CF_SRC_OUI:
		return 4;
	default:
		return 5;
	}
}

int fs_flow_get(const struct fs_flow *cf, size_t col, struct fs_value *v)
{
	struct fs_flow *w = (struct fs_flow *)cf; /* its lazily made texts */
	const struct schema *sc = &w->s->schema;
	const struct column *c;
	struct flow_record r;
	struct col_value cv;
	/* col_get()'s scratch: lists are handled above, its text is copied */
	union {
		struct col_scratch cs;
		char bytes[sizeof(struct col_scratch) + sizeof(int64_t)];
	} tmp;

	if (col >= sc->n)
		return -EINVAL;
	c = &sc->cols[col];
	memset(v, 0, sizeof(*v));
	v->type = type_of(c->kind);
	api_record(w, &r);
	if (col_is_addr(c)) {
		char *t;

		if (!w->text) {
			w->text = calloc(N_ADDR, TEXT_SLOT);
			if (!w->text)
				return -ENOMEM;
		}
		t = w->text + addr_slot(c) * TEXT_SLOT;
		if (!t[0])
			t[col_addr_text(c, w->f, t)] = '\0';
		v->s = t;
		v->len = strlen(t);
		return 0;
	}
	if (c->kind == COL_LIST && c->field != CF_UDP) {
		/* the SPLT lists, each widened to int64 once per flow */
		size_t k = c->field == CF_SPLT_PIAT_US ? 3 : (size_t)(c->field - CF_SPLT_DIRECTION);
		size_t len = sc->splt;

		if (!w->lists) {
			w->lists = malloc(4 * (len ? len : 1) * sizeof(int64_t));
			if (!w->lists)
				return -ENOMEM;
		}
		if (!(w->lists_made & 1u << k)) {
			struct col_scratch *cs = col_scratch_new(sc);

			if (!cs)
				return -ENOMEM;
			col_get(c, &r, &cv, cs);
			memcpy(w->lists + k * len, cv.list, len * sizeof(int64_t));
			free(cs);
			w->lists_made |= (uint8_t)(1u << k);
		}
		v->list = w->lists + k * len;
		v->n = len;
		return 0;
	}
	col_get(c, &r, &cv, &tmp.cs);
	v->is_null = cv.is_null;
	v->i = cv.i;
	v->f = cv.f;
	v->s = cv.kind == COL_STR ? cv.s : NULL;
	v->len = v->s ? strlen(v->s) : 0;
	v->list = cv.list;
	v->n = cv.n;
	return 0;
}

int fs_flow_get_by_name(const struct fs_flow *f, const char *name, struct fs_value *v)
{
	long col = fs_column_index(f->s, name);

	return col < 0 ? -EINVAL : fs_flow_get(f, (size_t)col, v);
}

uint64_t fs_flow_handle(const struct fs_flow *f)
{
	return (uint64_t)(uintptr_t)f->f;
}

/* ---- batches ------------------------------------------------------------ */

struct fs_batch {
	struct fs_session *s;
	size_t cap;          /* rows allocated */
	size_t rows;
	int64_t **ints;      /* per column: FS_INT */
	double **floats;     /* per column: FS_FLOAT */
	double **csv;        /* per FS_FLOAT column: as read back from a CSV (fs_batch_want_csv_floats) */
	size_t csv_cap;
	bool want_csv;
	const char ***strs;  /* per column: FS_STR and FS_LIST */
	uint8_t **nulls;     /* per column, NULL until a None is met */
	bool *has_null;
	uint64_t *handles;   /* per row: fs_flow_handle() of its flow */
	struct outbuf arena; /* the texts */
	struct fs_flow **held; /* fs_session_pull()'s flows, until filled */
	size_t n_held, held_cap;
	struct text_dict dict; /* fs_batch_dict()'s, cleared for each column */
	/* fs_batch_set_frame(): pulls reserve rows in @frame, fills write them */
	struct fs_frame *frame;
	struct fs_frame *fill_frame; /* the frame of the flows held, at row @fill_at */
	size_t fill_at;
	bool filled_frame;           /* the last fill went to a frame */
	/* where the fill writes each column: the batch's arrays or a frame's */
	int64_t **di;
	double **df;
	uint8_t **dn;
};

struct fs_batch *fs_batch_new(struct fs_session *s)
{
	struct fs_batch *b = calloc(1, sizeof(*b));
	size_t n = s->schema.n ? s->schema.n : 1;

	if (!b)
		return NULL;
	b->s = s;
	b->ints = calloc(n, sizeof(*b->ints));
	b->floats = calloc(n, sizeof(*b->floats));
	b->csv = calloc(n, sizeof(*b->csv));
	b->strs = calloc(n, sizeof(*b->strs));
	b->nulls = calloc(n, sizeof(*b->nulls));
	b->has_null = calloc(n, sizeof(*b->has_null));
	b->di = calloc(n, sizeof(*b->di));
	b->df = calloc(n, sizeof(*b->df));
	b->dn = calloc(n, sizeof(*b->dn));
	if (!b->ints || !b->floats || !b->csv || !b->strs || !b->nulls || !b->has_null ||
	    !b->di || !b->df || !b->dn) {
		fs_batch_free(b);
		return NULL;
	}
	return b;
}

void fs_batch_free(struct fs_batch *b)
{
	if (!b)
		return;
	fs_batch_release(b);
	free(b->held);
	for (size_t i = 0; i < b->s->schema.n; i++) {
		if (b->ints)
			free(b->ints[i]);
		if (b->floats)
			free(b->floats[i]);
		if (b->csv)
			free(b->csv[i]);
		if (b->strs)
			free(b->strs[i]);
		if (b->nulls)
			free(b->nulls[i]);
	}
	free(b->ints);
	free(b->floats);
	free(b->csv);
	free(b->strs);
	free(b->nulls);
	free(b->has_null);
	free(b->di);
	free(b->df);
	free(b->dn);
	free(b->handles);
	free(b->arena.buf);
	text_dict_free(&b->dict);
	free(b);
}

static int batch_reserve(struct fs_batch *b, size_t rows)
{
	const struct schema *sc = &b->s->schema;

	uint64_t *h;

	if (rows <= b->cap)
		return 0;
	h = realloc(b->handles, rows * sizeof(*h));
	if (!h)
		return -ENOMEM;
	b->handles = h;
	for (size_t i = 0; i < sc->n; i++) {
		void *p;

		switch (sc->cols[i].kind) {
		case COL_INT:
			p = realloc(b->ints[i], rows * sizeof(int64_t));
			if (!p)
				return -ENOMEM;
			b->ints[i] = p;
			break;
		case COL_FLOAT:
			p = realloc(b->floats[i], rows * sizeof(double));
			if (!p)
				return -ENOMEM;
			b->floats[i] = p;
			break;
		default:
			p = realloc(b->strs[i], rows * sizeof(char *));
			if (!p)
				return -ENOMEM;
			b->strs[i] = p;
			break;
		}
		if (b->nulls[i]) {
			p = realloc(b->nulls[i], rows);
			if (!p)
				return -ENOMEM;
			b->nulls[i] = p;
		}
	}
	b->cap = rows;
	return 0;
}

static void mark_null(struct fs_batch *b, size_t col, size_t row)
{
	if (b->fill_frame && b->dn[col]) {
		b->dn[col][row] = 1;
		__atomic_store_n(&b->fill_frame->has_null[col], true, __ATOMIC_RELAXED);
		return;
	}
	if (!b->nulls[col]) {
		b->nulls[col] = calloc(b->cap, 1);
		if (!b->nulls[col])
			return;
	}
	b->nulls[col][row] = 1;
	b->has_null[col] = true;
}

/* Texts go to the arena as offsets, made pointers once the arena stops
 * moving (end of the batch). */
static void put_text(struct fs_batch *b, size_t col, size_t row, const char *s, size_t n)
{
	b->strs[col][row] = (const char *)(uintptr_t)b->arena.len;
	outbuf_put(&b->arena, s, n);
	outbuf_putc(&b->arena, '\0');
}

/* One flow into row @row. */
static void batch_row(struct fs_batch *b, size_t row, struct fs_flow *w, struct col_scratch *cs)
{
	const struct schema *sc = &b->s->schema;
	struct flow_record r;
	struct col_row vals;
	char addr[COL_ADDR_TEXT_MAX + 8];

	api_record(w, &r);
	col_row_get(&r, &vals);
	for (size_t i = 0; i < sc->n; i++) {
		const struct column *c = &sc->cols[i];
		struct col_value v;

		if (col_is_addr(c)) {
			size_t n = col_addr_text(c, w->f, addr);

			put_text(b, i, row, addr, n);
			continue;
		}
		if (c->field == CF_UDP || c->kind == COL_LIST) {
			col_get(c, &r, &v, cs);
			if (v.is_null)
				mark_null(b, i, row);
		} else {
			switch (c->kind) {
			case COL_INT:
				b->di[i][row] = vals.i[c->slot];
				continue;
			case COL_FLOAT:
				b->df[i][row] = vals.f[c->slot];
				continue;
			default:
				v.s = vals.s[c->slot];
				put_text(b, i, row, v.s, strlen(v.s));
				continue;
			}
		}
		switch (c->kind) {
		case COL_INT:
			b->di[i][row] = v.i;
			break;
		case COL_FLOAT:
			b->df[i][row] = v.is_null ? __builtin_nan("") : v.f;
			break;
		case COL_STR:
			put_text(b, i, row, v.s, strlen(v.s));
			break;
		case COL_LIST: {
			size_t start = b->arena.len;

			outbuf_list(&b->arena, v.list, v.n, ", ");
			outbuf_putc(&b->arena, '\0');
			b->strs[i][row] = (const char *)(uintptr_t)start;
			break;
		}
		}
	}
}

long fs_session_pull(struct fs_session *s, struct fs_batch *b, size_t max, int timeout_ms)
{
	size_t n = 0;

	fs_batch_release(b);
	b->rows = 0;
	if (!max)
		return 0;
	if (max > b->held_cap) {
		struct fs_flow **h = realloc(b->held, max * sizeof(*h));

		if (!h)
			return -ENOMEM;
		b->held = h;
		b->held_cap = max;
	}
	while (n < max) {
		struct fs_flow *w = fs_session_next(s, n ? 0 : timeout_ms);

		if (!w)
			break;
		b->held[n++] = w;
	}
	b->n_held = n;
	if (n && b->frame) {
		long at;
		struct fs_stats st;
		struct fs_progress pr;
		double share = 0;

		fs_session_stats(s, &st);
		if (!s->live) {
			fs_session_progress(s, &pr);
			if (pr.bytes_total && !pr.done)
				share = (double)pr.bytes_read / (double)pr.bytes_total;
		}
		at = frame_reserve(b->frame, n, (size_t)(st.flows_cached + st.export_queue), share);

		if (at < 0) {
			fs_batch_release(b);
			return at;
		}
		b->fill_frame = b->frame;
		b->fill_at = (size_t)at;
	}
	if (!n && s->err[0])
		return -EIO;
	return (long)n;
}

int fs_batch_set_frame(struct fs_batch *b, struct fs_frame *fr)
{
	if (fr && fr->s != b->s)
		return -EINVAL;
	b->frame = fr;
	return 0;
}

void fs_batch_release(struct fs_batch *b)
{
	for (size_t r = 0; r < b->n_held; r++)
		fs_flow_free(b->held[r]);
	b->n_held = 0;
	b->fill_frame = NULL;
}

/* The FS_FLOAT columns' rows as pandas.read_csv reads them from our CSV. */
static int csv_floats(struct fs_batch *b, size_t n)
{
	const struct schema *sc = &b->s->schema;

	for (size_t i = 0; i < sc->n; i++) {
		if (sc->cols[i].kind != COL_FLOAT)
			continue;
		if (!b->csv[i] || b->csv_cap < b->cap) {
			double *p = realloc(b->csv[i], b->cap * sizeof(double));

			if (!p)
				return -ENOMEM;
			b->csv[i] = p;
		}
	}
	b->csv_cap = b->cap;
	for (size_t i = 0; i < sc->n; i++)
		if (sc->cols[i].kind == COL_FLOAT)
			fs_read_csv_floats(b->floats[i], b->csv[i], n);
	return 0;
}

void fs_batch_want_csv_floats(struct fs_batch *b, bool on)
{
	b->want_csv = on;
}

const double *fs_batch_csv_floats(const struct fs_batch *b, size_t col)
{
	return b->want_csv && !b->filled_frame && col < b->s->schema.n ? b->csv[col] : NULL;
}

/* Where fs_batch_fill() writes: the batch's own arrays, or its rows of
 * the frame it pulled for. */
static void fill_targets(struct fs_batch *b)
{
	const struct schema *sc = &b->s->schema;
	struct fs_frame *fr = b->fill_frame;

	for (size_t i = 0; i < sc->n; i++) {
		if (!fr || fr->taken[i]) {
			/* no frame, or the column was handed over (a misuse) */
			b->di[i] = b->ints[i];
			b->df[i] = b->floats[i];
			b->dn[i] = NULL;
		} else {
			b->di[i] = (int64_t *)fr->cols[i] + b->fill_at;
			b->df[i] = (double *)fr->cols[i] + b->fill_at;
			b->dn[i] = fr->nulls[i] ? fr->nulls[i] + b->fill_at : NULL;
		}
	}
}

/* The end of a fill into a frame: floats as read_csv reads them, texts as
 * the frame's codes. */
static int fill_frame_end(struct fs_batch *b, size_t n)
{
	const struct schema *sc = &b->s->schema;
	struct fs_frame *fr = b->fill_frame;
	int err = 0;

	for (size_t i = 0; i < sc->n && !err; i++) {
		const struct column *c = &sc->cols[i];

		if (fr->taken[i])
			continue;
		if (c->kind == COL_FLOAT) {
			if (!fr->doubles[i])
				fs_read_csv_floats(b->df[i], b->df[i], n);
		} else if (c->kind == COL_STR || c->kind == COL_LIST || col_is_addr(c)) {
			err = frame_codes(fr, i, b->fill_at, b->strs[i], n);
		}
	}
	return err;
}

long fs_batch_fill(struct fs_batch *b)
{
	const struct schema *sc = &b->s->schema;
	struct fs_frame *fr = b->fill_frame;
	struct col_scratch *cs;
	size_t n = b->n_held;
	int err = 0;

	b->rows = 0;
	b->arena.len = 0;
	for (size_t i = 0; i < sc->n; i++)
		b->has_null[i] = false;
	for (size_t i = 0; i < sc->n; i++)
		if (b->nulls[i])
			memset(b->nulls[i], 0, b->cap);
	if (!n)
		return 0;
	if (batch_reserve(b, n))
		return -ENOMEM;
	cs = col_scratch_new(sc);
	if (!cs)
		return -ENOMEM;
	if (fr)
		pthread_rwlock_rdlock(&fr->grow);
	b->filled_frame = fr != NULL;
	fill_targets(b);
	for (size_t r = 0; r < n; r++) {
		struct fs_flow *w = b->held[r];

		b->handles[r] = fs_flow_handle(w);
		batch_row(b, r, w, cs);
		fs_flow_free(w);
	}
	b->n_held = 0;
	free(cs);
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->cols[i].kind != COL_STR && sc->cols[i].kind != COL_LIST &&
		    !col_is_addr(&sc->cols[i]))
			continue;
		for (size_t r = 0; r < n; r++)
			b->strs[i][r] = b->arena.buf + (uintptr_t)b->strs[i][r];
	}
	if (fr) {
		err = fill_frame_end(b, n);
		pthread_rwlock_unlock(&fr->grow);
		b->fill_frame = NULL;
	} else if (b->want_csv) {
		err = csv_floats(b, n);
	}
	if (err)
		return err;
	b->rows = n;
	return (long)n;
}

long fs_session_next_batch(struct fs_session *s, struct fs_batch *b, size_t max, int timeout_ms)
{
	long n = fs_session_pull(s, b, max, timeout_ms);

	if (n <= 0) {
		b->arena.len = 0;
		return n;
	}
	return fs_batch_fill(b);
}

const int64_t *fs_batch_ints(const struct fs_batch *b, size_t col)
{
	return col < b->s->schema.n && !b->filled_frame ? b->ints[col] : NULL;
}

const double *fs_batch_floats(const struct fs_batch *b, size_t col)
{
	return col < b->s->schema.n && !b->filled_frame ? b->floats[col] : NULL;
}

const char *const *fs_batch_strs(const struct fs_batch *b, size_t col)
{
	return col < b->s->schema.n ? b->strs[col] : NULL;
}

const uint8_t *fs_batch_nulls(const struct fs_batch *b, size_t col)
{
	return col < b->s->schema.n && b->has_null[col] ? b->nulls[col] : NULL;
}

const uint64_t *fs_batch_handles(const struct fs_batch *b)
{
	return b->handles;
}

const char *fs_batch_text(const struct fs_batch *b, size_t *len)
{
	*len = b->rows ? b->arena.len : 0;
	return b->arena.buf;
}

long fs_batch_dict(struct fs_batch *b, size_t col, uint32_t *codes, const char **texts,
		   size_t *len)
{
	const struct schema *sc = &b->s->schema;
	const char *const *strs;
	size_t n = b->rows;

	*texts = NULL;
	*len = 0;
	if (col >= sc->n || !b->strs[col] || (sc->cols[col].kind != COL_STR &&
					      sc->cols[col].kind != COL_LIST &&
					      !col_is_addr(&sc->cols[col])))
		return -EINVAL;
	strs = b->strs[col];
	text_dict_clear(&b->dict);
	for (size_t r = 0; r < n; r++) {
		int64_t c = text_dict_code(&b->dict, strs[r], strlen(strs[r]));

		if (c < 0)
			return -ENOMEM;
		codes[r] = (uint32_t)c;
	}
	*texts = b->dict.texts.buf;
	*len = b->dict.texts.len;
	return (long)b->dict.k;
}

/* ---- settings ----------------------------------------------------------- */

void fs_session_set_attached(struct fs_session *s, int (*fn)(void *arg), void *arg)
{
	s->on_attached = fn;
	s->on_attached_arg = arg;
}

static int knob_u32(const char *value, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!value || !*value)
		return -EINVAL;
	v = strtoul(value, &end, 0);
	if (*end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int fs_session_set_knob(struct fs_session *s, const char *name, const char *value)
{
	if (s->started)
		return -EBUSY;
	if (!strcmp(name, "attr_disable")) {
		s->attr_disable = value;
		return 0;
	}
	if (!strcmp(name, "attr_inert")) {
		s->attr_inert = value && strcmp(value, "0");
		return 0;
	}
	if (!strcmp(name, "attr_ringbuf_bytes"))
		return knob_u32(value, &s->attr_ringbuf_bytes);
	if (!strcmp(name, "attr_max_sockets"))
		return knob_u32(value, &s->attr_max_sockets);
	if (!strcmp(name, "attr_max_tuples"))
		return knob_u32(value, &s->attr_max_tuples);
	if (!strcmp(name, "attr_refuse")) {
		s->attr_refuse = value && strcmp(value, "0");
		return 0;
	}
	if (!strcmp(name, "ebpf_attach")) {
		static const char *const modes[] = { "auto", "tcx", "tc" };

		for (int i = 0; value && i < 3; i++)
			if (!strcmp(value, modes[i])) {
				s->ebpf_attach = i; /* enum ebpf_attach's order */
				return 0;
			}
		return -EINVAL;
	}
	if (!strcmp(name, "attr_no_early")) {
		s->attr_no_early = value && strcmp(value, "0");
		return 0;
	}
	return -EINVAL;
}
