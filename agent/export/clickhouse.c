// SPDX-License-Identifier: GPL-2.0-only
/*
 * ClickHouse sink over its HTTP interface (libcurl), for ClickHouse 18.16
 * and later: rows in TabSeparated, INSERT INTO table (agent, run_id,
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

struct batch {
	struct outbuf body;
	uint64_t rows, first_id, last_id, run_id;
	uint64_t born_ms;
	bool maybe_stored; /* a send failed after the request may have arrived */
	char *query;       /* the INSERT it belongs to (spool files carry theirs) */
};

struct ch {
	/* configuration */
	char *url;         /* base URL, without query */
	char *table;
	char *user, *password;
	char *agent_tsv;   /* the agent column, escaped, with its tab */
	char *insert;      /* INSERT INTO ... FORMAT TabSeparated */
	char *create;      /* CREATE TABLE IF NOT EXISTS ..., or NULL */
	char *spool_dir;
	uint64_t spool_cap, batch_rows, batch_ms, chunk_rows;
	uint64_t run_id;
	/* writer side */
	const struct schema *schema;
	struct col_scratch *scratch;
	struct sink_item *chunk;
	/* sink side */
	CURL *curl;
	struct outbuf resp;
	uint64_t spool_seq;
	bool created;
};

/* ---- rows (writer thread) ------------------------------------------------ */

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

static void put_row(struct ch *c, struct outbuf *b, const struct flow_record *r)
{
	const struct schema *sc = c->schema;
	struct col_row row;
	char num[48];
	uint64_t run = c->run_id;

	col_row_get(r, &row);
	outbuf_puts(b, c->agent_tsv);
	outbuf_put(b, num, (size_t)fmt_int(num, (int64_t)(run & INT64_MAX)));
	for (size_t i = 0; i < sc->n; i++) {
		const struct column *col = &sc->cols[i];
		struct col_value v;

		outbuf_putc(b, '\t');
		if (col_is_addr(col)) {
			char t[COL_ADDR_TEXT_MAX + 8];

			outbuf_put(b, t, col_addr_text(col, r->flow, t));
			continue;
		}
		if (col->field == CF_UDP || col->kind == COL_LIST) {
			col_get(col, r, &v, c->scratch);
			if (v.is_null && col->kind != COL_LIST) {
				outbuf_put(b, "\\N", 2);
				continue;
			}
		} else {
			v.kind = col->kind;
			v.i = col->kind == COL_INT ? row.i[col->slot] : 0;
			v.f = col->kind == COL_FLOAT ? row.f[col->slot] : 0;
			v.s = col->kind == COL_STR ? row.s[col->slot] : NULL;
		}
		switch (col->kind) {
		case COL_INT:
			outbuf_put(b, num, (size_t)fmt_int(num, v.i));
			break;
		case COL_FLOAT:
			outbuf_put(b, num, (size_t)fmt_py_float_fast(v.f, num));
			break;
		case COL_STR:
			if (v.s)
				tsv_str(b, v.s, strlen(v.s));
			break;
		case COL_LIST:
			outbuf_list(b, v.list, v.n, ",");
			break;
		}
	}
	outbuf_putc(b, '\n');
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

	if (b->len < 4096)
		outbuf_put(b, p, size * n);
	return size * n;
}

/*
 * POST @body (@len bytes) with @query.  0 on HTTP 200; else -1 with the
 * reason in @why, *@maybe set when the request may have been stored, and
 * *@status the HTTP status (0: no answer).
 */
static int post(struct sink *s, const char *query, const void *body, size_t len, char *why,
		size_t wn, bool *maybe, long *status)
{
	struct ch *c = s->impl;
	char *q = curl_easy_escape(c->curl, query, 0);
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
	c->resp.len = 0;
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	rc = curl_easy_perform(c->curl);
	free(url);
	if (rc != CURLE_OK) {
		snprintf(why, wn, "%s", curl_easy_strerror(rc));
		*maybe = rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST &&
			 rc != CURLE_COULDNT_RESOLVE_PROXY && rc != CURLE_URL_MALFORMAT;
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
	if (*status == 200)
		return 0;
	/* ClickHouse's message, first line */
	outbuf_putc(&c->resp, '\0');
	c->resp.buf[strcspn(c->resp.buf, "\n")] = '\0';
	snprintf(why, wn, "HTTP %ld: %.400s", *status, c->resp.buf);
	*maybe = *status >= 500;
	return -1;
}

/* Rows of @b already in the table (its run's id range); -1 unknown. */
static long stored_rows(struct sink *s, const struct batch *b)
{
	struct ch *c = s->impl;
	char q[512], why[512];
	bool maybe;
	long st;

	snprintf(q, sizeof(q), "SELECT count() FROM %s WHERE run_id = %" PRIu64
		 " AND id BETWEEN %" PRIu64 " AND %" PRIu64, c->table, b->run_id & INT64_MAX,
		 b->first_id, b->last_id);
	if (post(s, q, "", 0, why, sizeof(why), &maybe, &st))
		return -1;
	outbuf_putc(&c->resp, '\0');
	return strtol(c->resp.buf, NULL, 10);
}

enum { SENT, FAILED, REJECTED };

/* Deliver @b: CREATE first if asked, skip what is stored already. */
static int deliver(struct sink *s, struct batch *b)
{
	struct ch *c = s->impl;
	char why[600];
	bool maybe;
	long st;

	if (c->create && !c->created) {
		if (post(s, c->create, "", 0, why, sizeof(why), &maybe, &st))
			goto failed;
		c->created = true;
	}
	if (b->maybe_stored) {
		long n = stored_rows(s, b);

		if (n < 0) {
			snprintf(why, sizeof(why), "cannot check a batch sent before: %s",
				 c->resp.len ? "query failed" : "no answer");
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
	if (!post(s, b->query ? b->query : c->insert, b->body.buf, b->body.len, why,
		  sizeof(why), &maybe, &st)) {
		sink_report(s, "");
		sink_set_healthy(s, true);
		return SENT;
	}
	if (st == 400 || st == 413) {
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

		if (l < 5 || strcmp(e->d_name + l - 4, ".tsv") || e->d_name[0] == '.')
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

/* Keep @b on disk.  0, or -1 (full, or the disk refused: counted). */
static int spool_write(struct sink *s, struct batch *b)
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
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".tsv", c->spool_dir, ++c->spool_seq);
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

/* Send the oldest spooled batch.  SENT (file removed), FAILED, or
 * REJECTED (file removed, counted). */
static int spool_replay_one(struct sink *s, bool *empty)
{
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
	rc = deliver(s, &b);
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
			SINK_ADD(s, bytes_sent, b.body.len);
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

static void *ch_run(void *arg)
{
	struct sink *s = arg;
	struct ch *c = s->impl;
	struct batch b = { .run_id = c->run_id };
	uint64_t backoff = 200, next_try = 0;
	bool spool_empty = true;

	if (c->spool_dir) {
		spool_scan(s);
		spool_empty = !s->st.spool_flows;
	}
	{
		/* the table exists from the start, even for an agent without flows
		 * yet (when the server is not there, deliver() tries again); and
		 * whether the server answers at all */
		char why[600];
		bool maybe;
		long st;

		if (!post(s, c->create ? c->create : "SELECT 1", "", 0, why, sizeof(why), &maybe,
			  &st)) {
			c->created = c->create != NULL;
			sink_set_healthy(s, true);
		}
	}
	for (;;) {
		uint64_t dl, now = sink_mono_ms();
		bool closing = sink_closing(s, &dl), ready, down = now < next_try;
		struct sink_item *it;

		/* the spool goes first, oldest batch first */
		if (!spool_empty && !down) {
			if (spool_replay_one(s, &spool_empty) == FAILED) {
				next_try = sink_mono_ms() + backoff;
				backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
			} else {
				backoff = 200;
			}
			continue;
		}
		/* gather a batch */
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
		ready = b.rows && (b.rows >= c->batch_rows || now >= b.born_ms + c->batch_ms ||
				   closing);
		if (closing && now >= dl) {
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
			break;
		}
		if (!ready) {
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
				if (spool_write(s, &b) == 0)
					spool_empty = false;
				batch_reset(&b);
				continue;
			}
			if (closing)
				usleep(20000);
			else
				sink_sleep(s, next_try);
			continue;
		}
		switch (deliver(s, &b)) {
		case SENT:
			SINK_ADD(s, flows_sent, b.rows);
			SINK_ADD(s, messages_sent, 1);
			SINK_ADD(s, bytes_sent, b.body.len);
			batch_reset(&b);
			backoff = 200;
			break;
		case REJECTED:
			SINK_ADD(s, dropped_rejected, b.rows);
			batch_reset(&b);
			break;
		default:
			next_try = sink_mono_ms() + backoff;
			backoff = backoff * 2 > 10000 ? 10000 : backoff * 2;
			if (c->spool_dir && spool_write(s, &b) == 0) {
				spool_empty = false;
				batch_reset(&b);
			}
		}
	}
	free(b.body.buf);
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
		outbuf_puts(&ins, ", `");
		outbuf_puts(&ins, sc->cols[i].name);
		outbuf_puts(&ins, "`");
		outbuf_puts(&cr, ", `");
		outbuf_puts(&cr, sc->cols[i].name);
		outbuf_puts(&cr, "` ");
		outbuf_puts(&cr, ch_type(&sc->cols[i]));
	}
	outbuf_puts(&ins, ") FORMAT TabSeparated");
	outbuf_putc(&ins, '\0');
	outbuf_puts(&cr, ") ENGINE = MergeTree() PARTITION BY toYYYYMMDD(time) "
			 "ORDER BY (time, agent, id)");
	outbuf_putc(&cr, '\0');
	c->insert = ins.buf;
	c->create = cr.buf;
	return c->insert && c->create ? 0 : -ENOMEM;
}

static void ch_destroy(struct sink *s)
{
	struct ch *c = s->impl;

	if (!c)
		return;
	sink_item_free(c->chunk);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->table);
	free(c->user);
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->agent_tsv);
	free(c->insert);
	free(c->create);
	free(c->spool_dir);
	free(c->scratch);
	free(c->resp.buf);
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
	struct outbuf ag = { 0 };
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
	tsv_str(&ag, wo->clickhouse_agent ? wo->clickhouse_agent : host,
		strlen(wo->clickhouse_agent ? wo->clickhouse_agent : host));
	outbuf_putc(&ag, '\t');
	outbuf_putc(&ag, '\0');
	c->agent_tsv = ag.buf;
	if (!c->url || !c->table || !c->scratch || !c->agent_tsv || build_queries(c))
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
	c->curl = curl_easy_init();
	if (!c->curl)
		goto nomem;
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &c->resp);
	curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	if (c->user || c->password) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(c->curl, CURLOPT_USERNAME, c->user ? c->user : "default");
		curl_easy_setopt(c->curl, CURLOPT_PASSWORD, c->password ? c->password : "");
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
