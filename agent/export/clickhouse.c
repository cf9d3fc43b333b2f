// SPDX-License-Identifier: GPL-2.0-only
/*
 * ClickHouse sink over its HTTP interface (libcurl), for ClickHouse 18.16
 * and later: rows in RowBinary, INSERT INTO table (agent, run_id,
 * columns...) with the column list named, so a table made by hand may
 * have more columns.  The writer thread renders each flow as a row into
 * chunks it queues; the sink thread gathers chunks into inserts of
 * batch_rows rows or batch_seconds of age, retries with backoff, and while
 * ClickHouse cannot be reached keeps whole batches in a spool directory
 * (bounded in bytes), replayed oldest first before anything newer.
 *
 * Duplicates: an insert whose answer was lost (connection cut after the
 * request was sent, a timeout, a 5xx) may or may not have been stored.
 * Before such a batch is sent again, the sink asks how many rows of this
 * run's id range are in the table; when all are, it is not sent again
 * (counted as duplicates_avoided).  Every row carries its agent and a
 * random run_id for that purpose, and flow ids grow within a run.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "export/export.h"
#include "export/sink.h"
#include "util/log.h"

#define CHUNK_ROWS 1024
#define CHUNK_BYTES (1 << 20)
#define CH_NAME_MAX (sizeof(((struct column *)0)->name) + 8)

/* A column's ClickHouse type: base, or Nullable(base), or Array(base). */
enum ct_base { CT_U8, CT_I8, CT_U16, CT_I32, CT_U64, CT_I64, CT_F64, CT_STR };

struct ctype {
	uint8_t base, nullable, array;
};

struct batch {
	struct outbuf body;
	uint64_t rows, first_id, last_id, run_id;
	uint64_t born_ms;
	bool maybe_stored; /* a send failed after the request may have arrived */
	size_t sent_bytes; /* the body as sent (RowBinary or text) */
	char *query;       /* the INSERT it belongs to (spool files carry theirs) */
};

/* One HTTP connection to ClickHouse and the thread that sends on it. */
struct conn {
	struct sink *s;
	CURL *curl;
	struct outbuf resp;
	struct outbuf tsv;  /* a batch converted for a table of other types */
	pthread_t thread;
	bool started;
};

struct ch {
	/* configuration */
	char *url;         /* base URL, without query */
	char *table;
	char *user, *password;
	char *agent;       /* the agent column's value */
	char *insert;      /* INSERT INTO ... FORMAT RowBinary */
	char *insert_tsv;  /* the same columns, FORMAT TabSeparated */
	char *create;      /* CREATE TABLE IF NOT EXISTS ..., or NULL */
	char *spool_dir;
	uint64_t spool_cap, batch_rows, batch_ms, chunk_rows;
	uint64_t run_id;
	const struct schema *schema;
	struct ctype *types; /* per schema column: the type rows are encoded in */
	/* writer side */
	struct col_scratch *scratch;
	struct sink_item *chunk;
	/* sink side: n_conns connections, each on a thread of its own, so
	 * that one insert is parsed and written by the server while the next
	 * is on the wire (the server uses a CPU per insert) */
	struct conn *conns;
	unsigned int n_conns;
	pthread_mutex_t gather;  /* one thread gathers a batch at a time: a
				  * batch is consecutive rows, one id range */
	pthread_mutex_t mu;      /* created, layout */
	pthread_mutex_t spool_mu; /* the spool: one writer or replayer */
	bool spool_empty;        /* atomic */
	uint64_t spool_seq;
	bool created;
	enum { LAYOUT_UNKNOWN, LAYOUT_BINARY, LAYOUT_TEXT } layout; /* of the table */
};

/* ---- rows (writer thread) ------------------------------------------------ */

/*
 * Rows are encoded in ClickHouse's RowBinary, in the types ch_type() gives
 * the columns (those of the table --clickhouse-create makes): numbers are
 * copied, not printed, and the server parses nothing.  A table made by
 * hand whose types differ gets the same rows as TabSeparated text,
 * converted on the sink thread (to_tsv()), so the writer never waits for
 * the server to say which.
 */
static const char *const ct_names[] = { "UInt8", "Int8", "UInt16", "Int32",
					"UInt64", "Int64", "Float64", "String" };

/* "Nullable(Int64)", "Array(Int8)", "UInt16", ...; -1 for other types. */
static int ct_parse(const char *ty, struct ctype *t)
{
	size_t l;

	memset(t, 0, sizeof(*t));
	if (!strncmp(ty, "Nullable(", 9)) {
		t->nullable = 1;
		ty += 9;
	} else if (!strncmp(ty, "Array(", 6)) {
		t->array = 1;
		ty += 6;
	}
	l = strcspn(ty, ")");
	if ((t->nullable || t->array) && strcmp(ty + l, ")"))
		return -1;
	if (!t->nullable && !t->array && ty[l])
		return -1;
	for (size_t i = 0; i < sizeof(ct_names) / sizeof(ct_names[0]); i++)
		if (strlen(ct_names[i]) == l && !strncmp(ty, ct_names[i], l)) {
			t->base = (uint8_t)i;
			return 0;
		}
	return -1;
}

static inline void bput(struct outbuf *b, const void *p, size_t n)
{
	if (b->cap - b->len >= n) {
		memcpy(b->buf + b->len, p, n);
		b->len += n;
	} else {
		outbuf_put(b, p, n);
	}
}

static inline void put_varint(struct outbuf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n] = v & 0x7f;
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	bput(b, t, n);
}

static inline void put_bstr(struct outbuf *b, const char *s, size_t n)
{
	put_varint(b, n);
	bput(b, s, n);
}

/* An integer in @base's width, little-endian as RowBinary wants it
 * (whatever the host's order). */
static inline void put_bint(struct outbuf *b, uint8_t base, int64_t v)
{
	switch (base) {
	case CT_U8:
	case CT_I8: {
		uint8_t x = (uint8_t)v;

		bput(b, &x, 1);
		break;
	}
	case CT_U16: {
		uint16_t x = htole16((uint16_t)v);

		bput(b, &x, 2);
		break;
	}
	case CT_I32: {
		uint32_t x = htole32((uint32_t)v);

		bput(b, &x, 4);
		break;
	}
	default: {
		uint64_t x = htole64((uint64_t)v);

		bput(b, &x, 8);
	}
	}
}

static inline void put_bf64(struct outbuf *b, double d)
{
	uint64_t x;

	memcpy(&x, &d, 8);
	x = htole64(x);
	bput(b, &x, 8);
}

static void put_row(struct ch *c, struct outbuf *b, const struct flow_record *r)
{
	const struct schema *sc = c->schema;
	struct col_row row;
	uint64_t run = c->run_id;

	col_row_get(r, &row);
	put_bstr(b, c->agent, strlen(c->agent));
	put_bint(b, CT_U64, (int64_t)run);
	for (size_t i = 0; i < sc->n; i++) {
		const struct column *col = &sc->cols[i];
		const struct ctype *t = &c->types[i];
		struct col_value v;

		if (col_is_addr(col)) {
			char a[COL_ADDR_TEXT_MAX + 8];

			put_bstr(b, a, col_addr_text(col, r->flow, a));
			continue;
		}
		if (col->field == CF_UDP || col->kind == COL_LIST) {
			col_get(col, r, &v, c->scratch);
		} else {
			v.is_null = false;
			v.i = col->kind == COL_INT ? row.i[col->slot] : 0;
			v.f = col->kind == COL_FLOAT ? row.f[col->slot] : 0;
			v.s = col->kind == COL_STR ? row.s[col->slot] : NULL;
		}
		if (t->array) {
			put_varint(b, col->kind == COL_LIST ? v.n : 0);
			for (size_t k = 0; col->kind == COL_LIST && k < v.n; k++)
				put_bint(b, t->base, v.list[k]);
			continue;
		}
		if (t->nullable) {
			bput(b, v.is_null ? "\1" : "\0", 1);
			if (v.is_null)
				continue;
		}
		if (t->base == CT_STR)
			put_bstr(b, v.s ? v.s : "", v.s ? strlen(v.s) : 0);
		else if (t->base == CT_F64)
			put_bf64(b, v.f);
		else
			put_bint(b, t->base, v.i);
	}
}

/* ---- RowBinary to TabSeparated (sink thread, tables of other types) ------ */

static void tsv_str(struct outbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		switch (c) {
		case '\\':
			outbuf_put(b, "\\\\", 2);
			break;
		case '\t':
			outbuf_put(b, "\\t", 2);
			break;
		case '\n':
			outbuf_put(b, "\\n", 2);
			break;
		case '\r':
			outbuf_put(b, "\\r", 2);
			break;
		case '\0':
			outbuf_put(b, "\\0", 2);
			break;
		default:
			outbuf_putc(b, c);
		}
	}
}

struct rd {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	return p;
}

static uint64_t rd_varint(struct rd *r)
{
	uint64_t v = 0;

	for (int sh = 0; sh < 64; sh += 7) {
		const uint8_t *p = rd_take(r, 1);

		if (!p)
			return 0;
		v |= (uint64_t)(*p & 0x7f) << sh;
		if (!(*p & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

static int64_t rd_int(struct rd *r, uint8_t base)
{
	const uint8_t *p;

	switch (base) {
	case CT_U8:
		p = rd_take(r, 1);
		return p ? *p : 0;
	case CT_I8:
		p = rd_take(r, 1);
		return p ? (int8_t)*p : 0;
	case CT_U16: {
		uint16_t v = 0;

		if ((p = rd_take(r, 2)))
			memcpy(&v, p, 2);
		return le16toh(v);
	}
	case CT_I32: {
		uint32_t v = 0;

		if ((p = rd_take(r, 4)))
			memcpy(&v, p, 4);
		return (int32_t)le32toh(v);
	}
	default: {
		uint64_t v = 0;

		if ((p = rd_take(r, 8)))
			memcpy(&v, p, 8);
		return (int64_t)le64toh(v);
	}
	}
}

static void tsv_value(struct outbuf *b, struct rd *r, uint8_t base)
{
	char num[48];

	if (base == CT_STR) {
		uint64_t n = rd_varint(r);
		const uint8_t *p = rd_take(r, n);

		if (p)
			tsv_str(b, (const char *)p, n);
	} else if (base == CT_F64) {
		const uint8_t *p = rd_take(r, 8);
		uint64_t x = 0;
		double d;

		if (p)
			memcpy(&x, p, 8);
		x = le64toh(x);
		memcpy(&d, &x, 8);
		outbuf_put(b, num, (size_t)fmt_py_float_fast(d, num));
	} else {
		outbuf_put(b, num, (size_t)fmt_int(num, rd_int(r, base)));
	}
}

/* @in's rows (put_row()) as TabSeparated rows into @out: 0, or -1 when
 * @in is not rows of this run's columns. */
static int to_tsv(const struct ch *c, const struct outbuf *in, struct outbuf *out)
{
	struct rd r = { (const uint8_t *)in->buf, (const uint8_t *)in->buf + in->len, false };

	out->len = 0;
	while (r.p < r.end && !r.bad) {
		uint64_t n = rd_varint(&r);
		const uint8_t *agent = rd_take(&r, n);

		if (!agent)
			break;
		tsv_str(out, (const char *)agent, n);
		outbuf_putc(out, '\t');
		tsv_value(out, &r, CT_U64);
		for (size_t i = 0; i < c->schema->n && !r.bad; i++) {
			const struct ctype *t = &c->types[i];

			outbuf_putc(out, '\t');
			if (t->array) {
				uint64_t k = rd_varint(&r);

				outbuf_putc(out, '[');
				for (uint64_t j = 0; j < k && !r.bad; j++) {
					if (j)
						outbuf_putc(out, ',');
					tsv_value(out, &r, t->base);
				}
				outbuf_putc(out, ']');
				continue;
			}
			if (t->nullable) {
				const uint8_t *p = rd_take(&r, 1);

				if (p && *p) {
					outbuf_put(out, "\\N", 2);
					continue;
				}
			}
			tsv_value(out, &r, t->base);
		}
		outbuf_putc(out, '\n');
	}
	return r.bad || !out->buf ? -1 : 0;
}

static void push_chunk(struct sink *s)
{
	struct ch *c = s->impl;

	if (c->chunk && c->chunk->nflows)
		sink_push(s, c->chunk);
	else
		sink_item_give(s, c->chunk);
	c->chunk = NULL;
}

static int ch_encode(struct sink *s, const struct flow_record *r)
{
	struct ch *c = s->impl;

	if (!c->chunk) {
		/* a chunk ends past CHUNK_BYTES: room for it and a long row */
		c->chunk = sink_item_take(s, CHUNK_BYTES + (64 << 10));
		if (!c->chunk) {
			SINK_ADD(s, dropped_queue_full, 1);
			return -ENOMEM;
		}
	}
	{
		/* the row straight into the chunk (an outbuf on its buffer) */
		struct outbuf ob = { (char *)c->chunk->data, c->chunk->len, c->chunk->cap };

		put_row(c, &ob, r);
		c->chunk->data = (uint8_t *)ob.buf;
		c->chunk->len = ob.len;
		c->chunk->cap = ob.cap;
	}
	if (!c->chunk->nflows)
		c->chunk->first_id = r->id;
	c->chunk->last_id = r->id;
	c->chunk->nflows++;
	if (c->chunk->nflows >= c->chunk_rows || c->chunk->len >= CHUNK_BYTES)
		push_chunk(s);
	return 0;
}

static void ch_flush(struct sink *s)
{
	push_chunk(s);
}

/* ---- HTTP (sink thread) ------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct outbuf *b = arg;

	if (b->len < (1 << 20)) /* answers are small; an error page is cut */
		outbuf_put(b, p, size * n);
	return size * n;
}

/*
 * POST @body (@len bytes) with @query.  0 on HTTP 200; else -1 with the
 * reason in @why, *@maybe set when the request may have been stored, and
 * *@status the HTTP status (0: no answer).
 */
static int post(struct conn *k, const char *query, const void *body, size_t len, char *why,
		size_t wn, bool *maybe, long *status)
{
	struct ch *c = k->s->impl;
	char *q = curl_easy_escape(k->curl, query, 0);
	char *url;
	CURLcode rc;

	*maybe = false;
	*status = 0;
	if (!q || asprintf(&url, "%s%squery=%s", c->url, strchr(c->url, '?') ? "&" : "?", q) < 0) {
		curl_free(q);
		snprintf(why, wn, "out of memory");
		return -1;
	}
	curl_free(q);
	k->resp.len = 0;
	curl_easy_setopt(k->curl, CURLOPT_URL, url);
	curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(k->curl);
	free(url);
	if (rc != CURLE_OK) {
		snprintf(why, wn, "%s", curl_easy_strerror(rc));
		*maybe = rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST &&
			 rc != CURLE_COULDNT_RESOLVE_PROXY && rc != CURLE_URL_MALFORMAT;
		return -1;
	}
	curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status == 200)
		return 0;
	/* ClickHouse's message, first line */
	outbuf_putc(&k->resp, '\0');
	k->resp.buf[strcspn(k->resp.buf, "\n")] = '\0';
	snprintf(why, wn, "HTTP %ld: %.400s", *status, k->resp.buf);
	*maybe = *status >= 500;
	return -1;
}

/* Rows of @b already in the table (its run's id range); -1 unknown. */
static long stored_rows(struct conn *k, const struct batch *b)
{
	struct ch *c = k->s->impl;
	char q[512], why[512];
	bool maybe;
	long st;

	snprintf(q, sizeof(q), "SELECT count() FROM %s WHERE run_id = %" PRIu64
		 " AND id BETWEEN %" PRIu64 " AND %" PRIu64, c->table, b->run_id & INT64_MAX,
		 b->first_id, b->last_id);
	if (post(k, q, "", 0, why, sizeof(why), &maybe, &st))
		return -1;
	outbuf_putc(&k->resp, '\0');
	return strtol(k->resp.buf, NULL, 10);
}

enum { SENT, FAILED, REJECTED };

static const char *ch_type(const struct column *c);

/*
 * A column's name in ClickHouse: NFStream's, except plugins' "udps.x",
 * which is "udps_x": ClickHouse takes dotted names of arrays for one
 * Nested structure whose arrays must all have one length (a plugin's list
 * and another's would be refused together).
 */
static const char *ch_name(const struct column *col, char *buf, size_t n)
{
	if (strncmp(col->name, "udps.", 5))
		return col->name;
	snprintf(buf, n, "udps_%s", col->name + 5);
	return buf;
}

/* The type system.columns' answer @resp (TabSeparated name, type lines)
 * gives column @name, and its length in *@tl; NULL when not there. */
static const char *column_type(const char *resp, const char *name, size_t *tl)
{
	size_t n = strlen(name);

	for (const char *l = resp; *l;) {
		const char *eol = strchr(l, '\n');
		size_t nl = strcspn(l, "\t\n");

		if (l[nl] == '\t' && nl == n && !strncmp(l, name, n)) {
			*tl = strcspn(l + nl + 1, "\n");
			return l + nl + 1;
		}
		l = eol ? eol + 1 : l + strlen(l);
	}
	return NULL;
}

/*
 * The layout to send this run's rows in: binary when the table's columns
 * have the types the rows are encoded in (learned once, forgotten when the
 * server refuses rows), text otherwise.  -1 when the server did not answer
 * (@why says why).  A table without columns (not there yet) gets text and
 * is asked again next time: the server's own error then names the cause.
 */
static int table_layout(struct conn *k, char *why, size_t wn)
{
	struct sink *s = k->s;
	struct ch *c = s->impl;
	const struct schema *sc = c->schema;
	const char *dot = strchr(c->table, '.');
	char q[600];
	bool maybe, all = true;
	long st;

	if (c->layout != LAYOUT_UNKNOWN)
		return (int)c->layout;
	if (dot)
		snprintf(q, sizeof(q), "SELECT name, type FROM system.columns WHERE database = '%.*s' "
			 "AND table = '%s' FORMAT TabSeparated", (int)(dot - c->table), c->table,
			 dot + 1);
	else
		snprintf(q, sizeof(q), "SELECT name, type FROM system.columns WHERE database = "
			 "currentDatabase() AND table = '%s' FORMAT TabSeparated", c->table);
	if (post(k, q, "", 0, why, wn, &maybe, &st))
		return -1;
	outbuf_putc(&k->resp, '\0');
	if (!strchr(k->resp.buf, '\t'))
		return LAYOUT_TEXT; /* no table (yet) */
	/* every column in the type the rows are encoded in (the CREATE's) */
	for (size_t i = 0; i < sc->n + 2 && all; i++) {
		char nb[CH_NAME_MAX];
		const char *name = i == 0 ? "agent" : i == 1 ? "run_id" :
				   ch_name(&sc->cols[i - 2], nb, sizeof(nb));
		const char *want = i == 0 ? "String" : i == 1 ? "UInt64" : ch_type(&sc->cols[i - 2]);
		size_t tl = 0;
		const char *got = column_type(k->resp.buf, name, &tl);

		all = got && tl == strlen(want) && !strncmp(got, want, tl);
	}
	c->layout = all ? LAYOUT_BINARY : LAYOUT_TEXT;
	if (!all)
		pr_info("%s: table %s has columns of other types than flowsight's: rows go as "
			"text (TabSeparated)\n", s->label, c->table);
	return (int)c->layout;
}

/* Deliver @b: CREATE first if asked, skip what is stored already. */
static int deliver(struct conn *k, struct batch *b)
{
	struct sink *s = k->s;
	struct ch *c = s->impl;
	const struct outbuf *body;
	const char *q;
	char why[600];
	bool maybe;
	long st;
	int layout = LAYOUT_BINARY;

	b->sent_bytes = 0;
	q = b->query ? b->query : c->insert;
	pthread_mutex_lock(&c->mu);
	if (c->create && !c->created) {
		if (post(k, c->create, "", 0, why, sizeof(why), &maybe, &st)) {
			pthread_mutex_unlock(&c->mu);
			goto failed;
		}
		c->created = true;
	}
	/* this run's rows: as they are, or as text for the table */
	if (!strcmp(q, c->insert))
		layout = table_layout(k, why, sizeof(why));
	pthread_mutex_unlock(&c->mu);
	if (layout < 0)
		goto failed;
	if (b->maybe_stored) {
		long n = stored_rows(k, b);

		if (n < 0) {
			snprintf(why, sizeof(why), "cannot check a batch sent before: %s",
				 k->resp.len ? "query failed" : "no answer");
			goto failed;
		}
		if ((uint64_t)n >= b->rows) {
			SINK_ADD(s, duplicates_avoided, 1);
			sink_report(s, "");
			return SENT;
		}
		if (n > 0) /* cannot happen with one block per insert; never guessed */
			pr_warn("%s: %ld of %" PRIu64 " rows of a batch were stored; it is sent again\n",
				s->label, n, b->rows);
	}
	body = &b->body;
	if (layout == LAYOUT_TEXT) {
		if (to_tsv(c, &b->body, &k->tsv)) {
			snprintf(why, sizeof(why), "a batch that is not rows of this run's "
				 "columns: dropped");
			sink_report(s, why);
			return REJECTED;
		}
		q = c->insert_tsv;
		body = &k->tsv;
	}
	if (!post(k, q, body->buf, body->len, why, sizeof(why), &maybe, &st)) {
		sink_report(s, "");
		sink_set_healthy(s, true);
		b->sent_bytes = body->len;
		return SENT;
	}
	if (st == 400 || st == 413) {
		/* the table may have changed: ask again for the next batch */
		pthread_mutex_lock(&c->mu);
		c->layout = LAYOUT_UNKNOWN;
		pthread_mutex_unlock(&c->mu);
		/* the server refused these rows as data: sending them again would
		 * only block everything after them */
		sink_report(s, why);
		return REJECTED;
	}
	b->maybe_stored |= maybe;
failed:
	SINK_ADD(s, errors, 1);
	sink_report(s, why);
	sink_set_healthy(s, false);
	return FAILED;
}

/* ---- spool -------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Spool files, oldest first (names sort by their sequence number). */
static size_t spool_list(struct ch *c, char ***out)
{
	DIR *d = opendir(c->spool_dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char **nv;

		/* .rows, and .tsv as spools of earlier versions were named */
		if (l < 6 || e->d_name[0] == '.' ||
		    (strcmp(e->d_name + l - 5, ".rows") && strcmp(e->d_name + l - 4, ".tsv")))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	return n;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Line 1: rows run_id first_id last_id maybe_stored; line 2: the query. */
static int spool_read(struct ch *c, const char *name, struct batch *b, size_t *size)
{
	char path[4400];
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	ssize_t l;
	int maybe = 0;
	long start;
	struct stat stt;

	snprintf(path, sizeof(path), "%s/%s", c->spool_dir, name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	memset(b, 0, sizeof(*b));
	if (fstat(fileno(f), &stt) || getline(&line, &cap, f) < 0 ||
	    sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %d", &b->rows, &b->run_id,
		   &b->first_id, &b->last_id, &maybe) != 5 ||
	    (l = getline(&line, &cap, f)) <= 1) {
		free(line);
		fclose(f);
		return -1;
	}
	line[l - 1] = '\0';
	b->query = line;
	b->maybe_stored = maybe;
	*size = (size_t)stt.st_size;
	start = ftell(f);
	b->body.cap = (size_t)(stt.st_size - start) + 1;
	b->body.buf = malloc(b->body.cap);
	if (!b->body.buf ||
	    fread(b->body.buf, 1, (size_t)(stt.st_size - start), f) != (size_t)(stt.st_size - start)) {
		free(b->body.buf);
		free(line);
		fclose(f);
		return -1;
	}
	b->body.len = (size_t)(stt.st_size - start);
	fclose(f);
	return 0;
}

/* Keep @b on disk.  0, or -1 (full, or the disk refused: counted).
 * Holds spool_mu. */
static int spool_write_locked(struct sink *s, struct batch *b)
{
	struct ch *c = s->impl;
	char path[4400], tmp[4400], head[160];
	const char *q = b->query ? b->query : c->insert;
	size_t total;
	int fd, hl;
	bool ok;

	hl = snprintf(head, sizeof(head), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d\n",
		      b->rows, b->run_id, b->first_id, b->last_id, (int)b->maybe_stored);
	total = (size_t)hl + strlen(q) + 1 + b->body.len;
	if (s->st.spool_bytes + total > c->spool_cap) {
		SINK_ADD(s, dropped_spool_full, b->rows);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".rows", c->spool_dir, ++c->spool_seq);
	snprintf(tmp, sizeof(tmp), "%s/.%020" PRIu64 ".tmp", c->spool_dir, c->spool_seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, head, (size_t)hl) == hl &&
	     write(fd, q, strlen(q)) == (ssize_t)strlen(q) && write(fd, "\n", 1) == 1 &&
	     write(fd, b->body.buf, b->body.len) == (ssize_t)b->body.len;
	if (fd >= 0)
		close(fd);
	if (!ok || rename(tmp, path)) {
		char why[600];

		snprintf(why, sizeof(why), "cannot write the spool '%.400s': %s", c->spool_dir,
			 strerror(errno ? errno : EIO));
		unlink(tmp);
		sink_report(s, why);
		SINK_ADD(s, dropped_spool_full, b->rows);
		return -1;
	}
	SINK_ADD(s, spool_bytes, total);
	SINK_ADD(s, spool_flows, b->rows);
	SINK_ADD(s, spooled_flows, b->rows);
	return 0;
}

static int spool_write(struct sink *s, struct batch *b)
{
	struct ch *c = s->impl;
	int rc;

	pthread_mutex_lock(&c->spool_mu);
	rc = spool_write_locked(s, b);
	if (!rc)
		__atomic_store_n(&c->spool_empty, false, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->spool_mu);
	return rc;
}

/* Send the oldest spooled batch.  SENT (file removed), FAILED, or
 * REJECTED (file removed, counted).  Holds spool_mu. */
static int spool_replay_one_locked(struct conn *k, bool *empty)
{
	struct sink *s = k->s;
	struct ch *c = s->impl;
	char **v, path[4400];
	size_t n = spool_list(c, &v), size = 0;
	struct batch b;
	int rc;

	*empty = n == 0;
	if (!n)
		return SENT;
	snprintf(path, sizeof(path), "%s/%s", c->spool_dir, v[0]);
	if (spool_read(c, v[0], &b, &size)) {
		pr_warn("%s: unreadable spool file '%s' set aside\n", s->label, path);
		char bad[4410];

		snprintf(bad, sizeof(bad), "%s.bad", path);
		rename(path, bad);
		free_list(v, n);
		return SENT;
	}
	rc = deliver(k, &b);
	if (rc == FAILED && b.maybe_stored) {
		/* remember for the next try: the check comes before a resend */
		char head[160];
		int fd = open(path, O_WRONLY | O_CLOEXEC);

		snprintf(head, sizeof(head), "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " 1",
			 b.rows, b.run_id, b.first_id, b.last_id);
		if (fd >= 0) {
			/* same length as before: the flag is the last character of line 1 */
			if (pwrite(fd, head, strlen(head), 0) < 0)
				(void)0;
			close(fd);
		}
	}
	if (rc != FAILED) {
		unlink(path);
		SINK_SUB(s, spool_bytes, size);
		SINK_SUB(s, spool_flows, b.rows);
		if (rc == SENT) {
			SINK_ADD(s, flows_sent, b.rows);
			SINK_ADD(s, replayed_flows, b.rows);
			SINK_ADD(s, messages_sent, 1);
			SINK_ADD(s, bytes_sent, b.sent_bytes);
		} else {
			SINK_ADD(s, dropped_rejected, b.rows);
		}
	}
	free(b.body.buf);
	free(b.query);
	free_list(v, n);
	*empty = rc != FAILED && n == 1;
	return rc;
}

static int spool_replay_one(struct conn *k)
{
	struct ch *c = k->s->impl;
	bool empty;
	int rc;

	pthread_mutex_lock(&c->spool_mu);
	rc = spool_replay_one_locked(k, &empty);
	if (empty)
		__atomic_store_n(&c->spool_empty, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->spool_mu);
	return rc;
}

static void spool_scan(struct sink *s)
{
	struct ch *c = s->impl;
	char **v;
	size_t n = spool_list(c, &v);

	for (size_t i = 0; i < n; i++) {
		struct batch b;
		size_t size;

		if (spool_read(c, v[i], &b, &size))
			continue;
		SINK_ADD(s, spool_bytes, size);
		SINK_ADD(s, spool_flows, b.rows);
		free(b.body.buf);
		free(b.query);
		if (i == n - 1)
			c->spool_seq = strtoull(v[i], NULL, 10);
	}
	free_list(v, n);
}

/* ---- the sink thread ---------------------------------------------------- */

static void batch_reset(struct batch *b)
{
	b->body.len = 0;
	b->rows = 0;
	b->maybe_stored = false;
}

/*
 * One connection's loop.  Every thread gathers its own batches from the
 * queue, one thread at a time (c->gather, held from a batch's first row
 * until it is complete): a batch is then consecutive rows, one id range
 * (what the duplicate check counts), and is never extended once complete,
 * even when its delivery fails.  The inserts themselves run side by side.
 */
static void *conn_run(void *arg)
{
	struct conn *k = arg;
	struct sink *s = k->s;
	struct ch *c = s->impl;
	struct batch b = { .run_id = c->run_id };
	uint64_t backoff = 200, next_try = 0;
	bool holding = false, sealed = false;

	for (;;) {
		uint64_t dl, now = sink_mono_ms();
		bool closing = sink_closing(s, &dl), down = now < next_try;
		bool spool_empty = __atomic_load_n(&c->spool_empty, __ATOMIC_RELAXED);
		struct sink_item *it;

		/* the spool goes first, oldest batch first */
		if (!spool_empty && !down) {
			if (spool_replay_one(k) == FAILED) {
				next_try = sink_mono_ms() + backoff;
				backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
			} else {
				backoff = 200;
			}
			continue;
		}
		/* gather a batch */
		if (!sealed) {
			if (!holding) {
				pthread_mutex_lock(&c->gather);
				holding = true;
			}
			while (b.rows < c->batch_rows) {
				uint64_t until = b.rows ? b.born_ms + c->batch_ms : UINT64_MAX;

				if (closing)
					until = 0;
				else if (down && next_try < until)
					until = next_try;
				if (!spool_empty && !down)
					until = 0;
				it = sink_pop(s, until, NULL);
				if (!it)
					break;
				if (!b.rows) {
					b.born_ms = it->born_ms;
					b.first_id = it->first_id;
				}
				outbuf_put(&b.body, (const char *)it->data, it->len);
				b.rows += it->nflows;
				b.last_id = it->last_id;
				sink_item_give(s, it);
			}
			now = sink_mono_ms();
			closing = sink_closing(s, &dl);
			sealed = b.rows && (b.rows >= c->batch_rows ||
					    now >= b.born_ms + c->batch_ms || closing);
			if ((sealed || !b.rows) && !(closing && now >= dl)) {
				pthread_mutex_unlock(&c->gather);
				holding = false;
			}
		}
		if (closing && now >= dl) {
			if (!holding) {
				pthread_mutex_lock(&c->gather);
				holding = true;
			}
			if (b.rows && !(c->spool_dir && !spool_write(s, &b)))
				SINK_ADD(s, dropped_at_exit, b.rows);
			else if (b.rows)
				pr_warn("%s: %" PRIu64 " flows kept in the spool for the next run\n",
					s->label, b.rows);
			/* what is still queued: to the spool as well */
			while (c->spool_dir && (it = sink_pop(s, 0, NULL))) {
				struct batch sb = { .run_id = c->run_id, .first_id = it->first_id,
						    .last_id = it->last_id, .rows = it->nflows };

				sb.body = (struct outbuf){ (char *)it->data, it->len, it->cap };
				spool_write(s, &sb);
				sink_item_free(it);
			}
			pthread_mutex_unlock(&c->gather);
			break;
		}
		if (!sealed) {
			if (closing && !b.rows && spool_empty && sink_empty(s))
				break;
			if (down)
				sink_sleep(s, closing ? (dl < next_try ? dl : next_try) : next_try);
			if (closing && down)
				usleep(20000);
			continue;
		}
		if (down || !spool_empty) {
			/* keep the order: behind the spool, or wait for the server */
			if (c->spool_dir && !closing) {
				spool_write(s, &b);
				batch_reset(&b);
				sealed = false;
				continue;
			}
			if (closing)
				usleep(20000);
			else
				sink_sleep(s, next_try);
			continue;
		}
		switch (deliver(k, &b)) {
		case SENT:
			SINK_ADD(s, flows_sent, b.rows);
			SINK_ADD(s, messages_sent, 1);
			SINK_ADD(s, bytes_sent, b.sent_bytes);
			batch_reset(&b);
			sealed = false;
			backoff = 200;
			break;
		case REJECTED:
			SINK_ADD(s, dropped_rejected, b.rows);
			batch_reset(&b);
			sealed = false;
			break;
		default:
			next_try = sink_mono_ms() + backoff;
			backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
			if (c->spool_dir && spool_write(s, &b) == 0) {
				batch_reset(&b);
				sealed = false;
			}
		}
	}
	free(b.body.buf);
	return NULL;
}

/* The sink thread: the spool's and the table's start, then the
 * connections' loops (this thread runs the first). */
static void *ch_run(void *arg)
{
	struct sink *s = arg;
	struct ch *c = s->impl;

	c->spool_empty = true;
	if (c->spool_dir) {
		spool_scan(s);
		c->spool_empty = !s->st.spool_flows;
	}
	{
		/* the table exists from the start, even for an agent without flows
		 * yet (when the server is not there, deliver() tries again); and
		 * whether the server answers at all */
		char why[600];
		bool maybe;
		long st;

		if (!post(&c->conns[0], c->create ? c->create : "SELECT 1", "", 0, why, sizeof(why),
			  &maybe, &st)) {
			c->created = c->create != NULL;
			sink_set_healthy(s, true);
		}
	}
	for (unsigned int i = 1; i < c->n_conns; i++)
		c->conns[i].started =
			!pthread_create(&c->conns[i].thread, NULL, conn_run, &c->conns[i]);
	conn_run(&c->conns[0]);
	for (unsigned int i = 1; i < c->n_conns; i++)
		if (c->conns[i].started)
			pthread_join(c->conns[i].thread, NULL);
	return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static const char *ch_type(const struct column *c)
{
	static const struct {
		const char *name, *type;
	} t[] = {
		{ "id", "UInt64" },
		{ "expiration_id", "Int8" },
		{ "src_port", "UInt16" },
		{ "dst_port", "UInt16" },
		{ "protocol", "UInt8" },
		{ "ip_version", "UInt8" },
		{ "vlan_id", "UInt16" },
		{ "tunnel_id", "UInt8" },
		{ "application_is_guessed", "UInt8" },
		{ "application_confidence", "UInt8" },
		{ "splt_direction", "Array(Int8)" },
		{ "splt_ps", "Array(Int32)" },
		{ "splt_piat_ms", "Array(Int64)" },
	};
	size_t l = strlen(c->name);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(c->name, t[i].name))
			return t[i].type;
	if (c->field == CF_UDP)
		return c->kind == COL_INT ? "Nullable(Int64)" :
		       c->kind == COL_FLOAT ? "Nullable(Float64)" :
		       c->kind == COL_LIST ? "Array(Int64)" : "Nullable(String)";
	if (c->field == CF_FIRST_SEEN || c->field == CF_LAST_SEEN || c->field == CF_DURATION ||
	    c->field == CF_PACKETS || c->field == CF_BYTES || c->field == CF_FLAG ||
	    (l > 8 && !strcmp(c->name + l - 8, "_packets")))
		return "UInt64";
	switch (c->kind) {
	case COL_INT:
		return "Int64";
	case COL_FLOAT:
		return "Float64";
	case COL_LIST:
		return "Array(Int64)";
	default:
		return "String";
	}
}

static int build_queries(struct ch *c)
{
	struct outbuf ins = { 0 }, cr = { 0 };
	const struct schema *sc = c->schema;

	outbuf_puts(&ins, "INSERT INTO ");
	outbuf_puts(&ins, c->table);
	outbuf_puts(&ins, " (agent, run_id");
	outbuf_puts(&cr, "CREATE TABLE IF NOT EXISTS ");
	outbuf_puts(&cr, c->table);
	outbuf_puts(&cr, " (agent String, run_id UInt64, time DateTime DEFAULT "
			 "toDateTime(intDiv(bidirectional_first_seen_ms, 1000))");
	for (size_t i = 0; i < sc->n; i++) {
		char nb[CH_NAME_MAX];
		const char *name = ch_name(&sc->cols[i], nb, sizeof(nb));

		outbuf_puts(&ins, ", `");
		outbuf_puts(&ins, name);
		outbuf_puts(&ins, "`");
		outbuf_puts(&cr, ", `");
		outbuf_puts(&cr, name);
		outbuf_puts(&cr, "` ");
		outbuf_puts(&cr, ch_type(&sc->cols[i]));
	}
	outbuf_puts(&ins, ") FORMAT ");
	c->insert_tsv = ins.buf ? strndup(ins.buf, ins.len) : NULL;
	outbuf_puts(&ins, "RowBinary");
	outbuf_putc(&ins, '\0');
	outbuf_puts(&cr, ") ENGINE = MergeTree() PARTITION BY toYYYYMMDD(time) "
			 "ORDER BY (time, agent, id)");
	outbuf_putc(&cr, '\0');
	c->insert = ins.buf;
	c->create = cr.buf;
	if (c->insert_tsv) {
		char *t = realloc(c->insert_tsv, strlen(c->insert_tsv) + sizeof("TabSeparated"));

		if (t)
			strcat(t, "TabSeparated");
		c->insert_tsv = t;
	}
	c->types = calloc(sc->n ? sc->n : 1, sizeof(*c->types));
	if (!c->insert || !c->insert_tsv || !c->create || !c->types)
		return -ENOMEM;
	for (size_t i = 0; i < sc->n; i++)
		if (ct_parse(ch_type(&sc->cols[i]), &c->types[i]))
			return -EINVAL; /* a type put_row() cannot write */
	return 0;
}

static void ch_destroy(struct sink *s)
{
	struct ch *c = s->impl;

	if (!c)
		return;
	sink_item_free(c->chunk);
	for (unsigned int i = 0; c->conns && i < c->n_conns; i++) {
		if (c->conns[i].curl)
			curl_easy_cleanup(c->conns[i].curl);
		free(c->conns[i].resp.buf);
		free(c->conns[i].tsv.buf);
	}
	free(c->conns);
	pthread_mutex_destroy(&c->gather);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->spool_mu);
	free(c->url);
	free(c->table);
	free(c->user);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->agent);
	free(c->insert);
	free(c->insert_tsv);
	free(c->types);
	free(c->create);
	free(c->spool_dir);
	free(c->scratch);
	free(c);
	s->impl = NULL;
}

static const struct sink_vt ch_vt = {
	.name = "clickhouse",
	.encode = ch_encode,
	.flush = ch_flush,
	.run = ch_run,
	.destroy = ch_destroy,
};

int clickhouse_sink_open(const struct fs_writer_options *wo, const struct schema *schema,
			 struct sink **out, char *err, size_t n)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct ch *c = calloc(1, sizeof(*c));
	char host[256] = "";
	char why[256] = "";
	int rc = -ENOMEM;

	*out = NULL;
	if (!s || !c) {
		free(s);
		free(c);
		snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	sink_init(s, &ch_vt, (wo->clickhouse_queue_mb ? wo->clickhouse_queue_mb : 64) << 20);
	s->impl = c;
	pthread_mutex_init(&c->gather, NULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->spool_mu, NULL);
	snprintf(s->label, sizeof(s->label), "clickhouse %s", wo->clickhouse);
	sink_check_http_url(wo->clickhouse, why, sizeof(why));
	if (!why[0] && wo->clickhouse_table)
		sink_check_table(wo->clickhouse_table, why, sizeof(why));
	if (why[0]) {
		snprintf(err, n, "invalid clickhouse option: %s", why);
		rc = -EINVAL;
		goto fail;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c->schema = schema;
	c->url = strdup(wo->clickhouse);
	c->table = strdup(wo->clickhouse_table ? wo->clickhouse_table : "flows");
	c->user = wo->clickhouse_user ? strdup(wo->clickhouse_user) : NULL;
	c->password = wo->clickhouse_password ? strdup(wo->clickhouse_password) : NULL;
	c->batch_rows = wo->clickhouse_batch_rows ? wo->clickhouse_batch_rows : 50000;
	c->chunk_rows = c->batch_rows < CHUNK_ROWS ? c->batch_rows : CHUNK_ROWS;
	c->batch_ms = (wo->clickhouse_batch_seconds ? wo->clickhouse_batch_seconds : 1) * 1000;
	c->spool_cap = (wo->clickhouse_spool_mb ? wo->clickhouse_spool_mb : 1024) << 20;
	c->scratch = col_scratch_new(schema);
	if (getrandom(&c->run_id, sizeof(c->run_id), 0) != sizeof(c->run_id))
		c->run_id = (uint64_t)sink_mono_ms() ^ ((uint64_t)getpid() << 32);
	c->run_id &= INT64_MAX;
	if (!wo->clickhouse_agent)
		gethostname(host, sizeof(host) - 1);
	c->agent = strdup(wo->clickhouse_agent ? wo->clickhouse_agent : host);
	if (!c->url || !c->table || !c->scratch || !c->agent || build_queries(c))
		goto nomem;
	if (!wo->clickhouse_create) {
		free(c->create);
		c->create = NULL;
	}
	if (wo->clickhouse_spool) {
		c->spool_dir = strdup(wo->clickhouse_spool);
		if (!c->spool_dir)
			goto nomem;
		if (mkdir(c->spool_dir, 0700) && errno != EEXIST) {
			snprintf(err, n, "clickhouse: cannot create the spool '%s': %s",
				 c->spool_dir, strerror(errno));
			rc = -EIO;
			goto fail;
		}
		if (access(c->spool_dir, W_OK | X_OK)) {
			snprintf(err, n, "clickhouse: cannot write the spool '%s': %s",
				 c->spool_dir, strerror(errno));
			rc = -EIO;
			goto fail;
		}
	}
	c->n_conns = wo->clickhouse_inserts ? (unsigned int)wo->clickhouse_inserts : 2;
	c->conns = calloc(c->n_conns, sizeof(*c->conns));
	if (!c->conns)
		goto nomem;
	for (unsigned int i = 0; i < c->n_conns; i++) {
		struct conn *k = &c->conns[i];

		k->s = s;
		k->curl = curl_easy_init();
		if (!k->curl)
			goto nomem;
		curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
		curl_easy_setopt(k->curl, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, &k->resp);
		curl_easy_setopt(k->curl, CURLOPT_TCP_KEEPALIVE, 1L);
		if (c->user || c->password) {
			curl_easy_setopt(k->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
			curl_easy_setopt(k->curl, CURLOPT_USERNAME, c->user ? c->user : "default");
			curl_easy_setopt(k->curl, CURLOPT_PASSWORD, c->password ? c->password : "");
		}
	}
	rc = sink_start(s);
	if (rc) {
		snprintf(err, n, "cannot start the clickhouse thread: %s", strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
nomem:
	snprintf(err, n, "out of memory");
	rc = -ENOMEM;
fail:
	ch_destroy(s);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->room);
	free(s);
	return rc;
}
