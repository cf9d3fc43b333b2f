// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the CSV and JSON lines writers on hostile records.
 *
 * The input chooses the column set (statistics, SPLT, L7, JA4, system
 * visibility 0/1/2, tunnels, anonymised columns), every number of the
 * record (counters and times up to 2^64 - 1, finite doubles of any
 * magnitude) and every string column: first the strings, NUL-separated raw
 * bytes (quotes, backslashes, commas, newlines, control bytes, invalid
 * UTF-8), then a fixed-size numeric block (zeros where the input ends).
 * Rows go through the real exporter into memfds, and are then parsed back
 * here, independently of the writers:
 *   CSV   NFStream's dialect (spec §1.5): header unquoted, numbers bare,
 *         strings and lists in double quotes with '"' written as '\"'
 *         (not RFC 4180 doubling; a newline or comma stays inside the
 *         quotes).  Each row must give exactly the header's cells, each
 *         cell the value col_get() handed the writer.
 *   JSON  each line one strict RFC 8259 object (no raw byte < 0x20, valid
 *         UTF-8, exact grammar), the schema's keys in order, the values
 *         round-tripping (strings through their escapes, numbers exactly).
 * Strings are expected with invalid UTF-8 dropped (dpi_utf8_clean(), the
 * Python "ignore" rule the L7 columns already follow).  Any mismatch
 * abort()s, so libFuzzer keeps the input.
 *
 * One thing NFStream's dialect cannot carry: a string ending in a
 * backslash comes out as ...\" and no reader can tell where the cell ends.
 * The writers keep NFStream's bytes for it (pinned by tests/unit/
 * test_export.c), so the fuzzer strips trailing backslashes from its
 * strings rather than report that known, specified ambiguity.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/columns.h"
#include "l7/dpi.h"
#include "export/export.h"
#include "util/log.h"

#define N_STR 14
#define SPLT_MAX 4
#define MAX_ROWS 2

static int memfd[2];
static char memfd_path[2][32];

struct input {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct input *in, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes; i++) {
		v = v << 8 | (in->n ? *in->p : 0);
		if (in->n) {
			in->p++;
			in->n--;
		}
	}
	return v;
}

/* Any finite double; m2 sums are never negative in the engine. */
static double take_double(struct input *in, bool nonneg)
{
	uint64_t bits = take(in, 8);
	double d;

	memcpy(&d, &bits, sizeof(d));
	if (!isfinite(d))
		d = 0.0;
	return nonneg ? fabs(d) : d;
}

/* True if @s, once its invalid UTF-8 is dropped, ends in a backslash. */
static bool ends_in_backslash(const char *s)
{
	char clean[600];
	size_t n = dpi_utf8_clean(clean, s, sizeof(clean) - 1);

	return n && clean[n - 1] == '\\';
}

/* Next NUL-terminated string of the tail, at most @max - 1 bytes, cut
 * before a trailing backslash (see the head comment). */
static void take_str(struct input *in, char *dst, size_t max)
{
	size_t len = strnlen((const char *)in->p, in->n), k = len < max - 1 ? len : max - 1;

	memcpy(dst, in->p, k);
	dst[k] = '\0';
	while (ends_in_backslash(dst))
		dst[--k] = '\0';
	in->p += len < in->n ? len + 1 : len;
	in->n -= len < in->n ? len + 1 : len;
}

/* Everything one record is made of. */
struct rec {
	struct flow f;
	struct flow_stats st;
	int64_t piat[SPLT_MAX];
	int32_t ps[SPLT_MAX];
	int8_t dir[SPLT_MAX];
	struct proc_info proc;
	char str[N_STR - 5][256];
	struct flow_record r;
	struct dpi_result l7; /* flexible array: last */
};

static void fill_numbers(struct input *in, struct rec *x, bool stats, bool splt)
{
	struct flow *f = &x->f;

	f->ip_version = take(in, 1) & 1 ? 6 : 4;
	for (int i = 0; i < 16; i++) {
		f->src_ip[i] = (uint8_t)take(in, 1);
		f->dst_ip[i] = (uint8_t)take(in, 1);
	}
	for (int i = 0; i < 6; i++) {
		f->src_mac[i] = (uint8_t)take(in, 1);
		f->dst_mac[i] = (uint8_t)take(in, 1);
	}
	f->src_port = (uint16_t)take(in, 2);
	f->dst_port = (uint16_t)take(in, 2);
	f->vlan_id = (uint16_t)take(in, 2);
	f->protocol = (uint8_t)take(in, 1);
	f->tunnel_id = (uint8_t)take(in, 1);
	f->first_seen_ms = take(in, 8);
	f->last_seen_ms = take(in, 8);
	for (int d = 0; d < 2; d++) {
		f->dir_first_ms[d] = take(in, 8);
		f->dir_last_ms[d] = take(in, 8);
		f->dir_packets[d] = take(in, 8);
		f->dir_bytes[d] = take(in, 8);
	}
	if (stats) {
		for (int s = 0; s < FLOW_NSCOPES; s++) {
			struct flow_scope_stats *sc = &x->st.s[s];

			sc->mean_ps = take_double(in, false);
			sc->m2_ps = take_double(in, true);
			sc->mean_piat = take_double(in, false);
			sc->m2_piat = take_double(in, true);
			sc->min_piat_ms = take(in, 8);
			sc->max_piat_ms = take(in, 8);
			for (int k = 0; k < 8; k++)
				sc->flags[k] = take(in, 8);
			sc->min_ps = (uint16_t)take(in, 2);
			sc->max_ps = (uint16_t)take(in, 2);
		}
		f->stats = &x->st;
	}
	if (splt && take(in, 1) & 1) {
		for (int i = 0; i < SPLT_MAX; i++) {
			x->dir[i] = (int8_t)take(in, 1);
			x->ps[i] = (int32_t)take(in, 4);
			x->piat[i] = (int64_t)take(in, 8);
		}
		f->splt.dir = x->dir;
		f->splt.ps = x->ps;
		f->splt.piat_ms = x->piat;
	}
	x->l7.is_guessed = (uint8_t)take(in, 1);
	x->l7.confidence = (uint8_t)take(in, 1);
	x->r.id = take(in, 8);
	x->r.expiration_id = (int)(int32_t)take(in, 4);
	x->proc.pid = (int64_t)take(in, 8);
	x->proc.ppid = (int64_t)take(in, 8);
	x->proc.uid = (int64_t)take(in, 8);
	x->proc.start_ms = (int64_t)take(in, 8);
	x->proc.cgroup_id = (int64_t)take(in, 8);
	x->proc.others = (uint32_t)take(in, 4);
}

static void fill_strings(struct input *in, struct rec *x, bool ja4_null)
{
	const char **l7[8] = { &x->l7.application_name, &x->l7.category_name,
			       &x->l7.requested_server_name, &x->l7.client_fingerprint,
			       &x->l7.server_fingerprint, &x->l7.user_agent, &x->l7.content_type,
			       &x->l7.ja4 };

	for (int i = 0; i < 8; i++) {
		take_str(in, x->str[i], sizeof(x->str[i]));
		*l7[i] = x->str[i];
	}
	if (ja4_null)
		x->l7.ja4 = NULL;
	take_str(in, x->proc.name, sizeof(x->proc.name));
	take_str(in, x->str[8], sizeof(x->str[8]));
	x->proc.how = x->str[8];
	take_str(in, x->proc.user, sizeof(x->proc.user));
	take_str(in, x->proc.exe, sizeof(x->proc.exe));
	take_str(in, x->proc.cmdline, sizeof(x->proc.cmdline));
	take_str(in, x->proc.container_id, sizeof(x->proc.container_id));
	x->r.flow = &x->f;
}

/* ------------------------------ checking ------------------------------ */

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_writer: " __VA_ARGS__);     \
			fputc('\n', stderr);                              \
			abort();                                          \
		}                                                         \
	} while (0)

struct text {
	char *s;
	size_t len, cap;
};

static void text_putc(struct text *t, char c)
{
	if (t->len + 2 > t->cap) {
		t->cap = t->cap ? 2 * t->cap : 256;
		t->s = realloc(t->s, t->cap);
		if (!t->s)
			abort();
	}
	t->s[t->len++] = c;
	t->s[t->len] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
	while (*s)
		text_putc(t, *s++);
}

/* What a cell must read back as: the value's text, strings UTF-8 cleaned. */
static void expected_text(const struct col_value *v, const char *list_sep, struct text *t)
{
	char num[48];

	t->len = 0;
	text_putc(t, '\0');
	t->len = 0;
	switch (v->kind) {
	case COL_INT:
		snprintf(num, sizeof(num), "%" PRId64, v->i);
		text_puts(t, num);
		break;
	case COL_FLOAT:
		break; /* compared as a double */
	case COL_STR: {
		size_t n = strlen(v->s);
		char *clean = malloc(n + 1);

		if (!clean)
			abort();
		dpi_utf8_clean(clean, v->s, n);
		text_puts(t, clean);
		free(clean);
		break;
	}
	case COL_LIST:
		text_putc(t, '[');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				text_puts(t, list_sep);
			snprintf(num, sizeof(num), "%" PRId64, v->list[i]);
			text_puts(t, num);
		}
		text_putc(t, ']');
		break;
	}
}

static bool is_hex128(const char *s, size_t n)
{
	if (n != 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A float cell: Python repr characters only, reading back to @want. */
static void check_float(const char *s, size_t n, double want, const char *col)
{
	char buf[64];
	char *end;
	double got;

	CHECK(n > 0 && n < sizeof(buf), "%s: float text of %zu bytes", col, n);
	memcpy(buf, s, n);
	buf[n] = '\0';
	CHECK(strspn(buf, "-0123456789.e+") == n, "%s: float '%s' not a Python repr", col, buf);
	got = strtod(buf, &end);
	CHECK(*end == '\0' && memcmp(&got, &want, sizeof(got)) == 0,
	      "%s: float '%s' reads back as %.17g, expected %.17g", col, buf, got, want);
}

/*
 * One CSV cell at *p (NFStream's dialect, see the head comment) into @out.
 * Returns the byte that ended it (',' or '\n'); aborts on anything else.
 */
static char csv_cell(const char **p, const char *end, struct text *out, bool *quoted)
{
	const char *s = *p;

	out->len = 0;
	text_putc(out, '\0');
	out->len = 0;
	*quoted = s < end && *s == '"';
	if (*quoted) {
		for (s++;; s++) {
			CHECK(s < end, "CSV: quoted cell runs to the end of the output");
			if (*s == '\\' && s + 1 < end && s[1] == '"') {
				text_putc(out, '"');
				s++;
			} else if (*s == '"') {
				break;
			} else {
				text_putc(out, *s);
			}
		}
		s++;
	} else {
		for (; s < end && *s != ',' && *s != '\n'; s++) {
			CHECK(*s != '"', "CSV: quote inside an unquoted cell");
			text_putc(out, *s);
		}
	}
	CHECK(s < end && (*s == ',' || *s == '\n'), "CSV: cell not followed by ',' or a line end");
	*p = s + 1;
	return *s;
}

struct check_ctx {
	const struct schema *sc;
	const bool *anon;
	const struct flow_record *rows;
	int n_rows;
	struct col_scratch *cs;
	struct text got, want;
};

static void check_csv(struct check_ctx *k, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	struct col_value v;
	bool quoted;

	for (size_t i = 0; i < k->sc->n; i++) {
		char term = csv_cell(&p, end, &k->got, &quoted);

		CHECK(!quoted && !strcmp(k->got.s, k->sc->cols[i].name), "CSV header cell %zu is '%s'",
		      i, k->got.s);
		CHECK(term == (i + 1 < k->sc->n ? ',' : '\n'), "CSV header has %zu cells, not %zu",
		      i + 1, k->sc->n);
	}
	for (int r = 0; r < k->n_rows; r++) {
		for (size_t i = 0; i < k->sc->n; i++) {
			const struct column *c = &k->sc->cols[i];
			char term = csv_cell(&p, end, &k->got, &quoted);

			CHECK(term == (i + 1 < k->sc->n ? ',' : '\n'),
			      "CSV row %d: cell %zu (%s) ends the row early or late", r, i, c->name);
			col_get(c, &k->rows[r], &v, k->cs);
			if (k->anon && k->anon[i]) {
				CHECK(quoted && is_hex128(k->got.s, k->got.len),
				      "CSV row %d: anonymised %s is '%s'", r, c->name, k->got.s);
				continue;
			}
			if (v.kind == COL_FLOAT) {
				CHECK(!quoted, "CSV: float %s quoted", c->name);
				check_float(k->got.s, k->got.len, v.f, c->name);
				continue;
			}
			expected_text(&v, ", ", &k->want);
			CHECK(quoted == (v.kind == COL_STR || v.kind == COL_LIST),
			      "CSV row %d: %s quoting", r, c->name);
			CHECK(k->got.len == k->want.len && !memcmp(k->got.s, k->want.s, k->got.len),
			      "CSV row %d: %s reads back as '%s', expected '%s'", r, c->name, k->got.s,
			      k->want.s);
		}
	}
	CHECK(p == end, "CSV: %zu bytes after the last row", (size_t)(end - p));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned int json_u4(const char *s)
{
	unsigned int u = 0;

	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);

		CHECK(h >= 0, "JSON: bad \\u escape");
		u = u << 4 | (unsigned int)h;
	}
	return u;
}

static void put_utf8(struct text *t, unsigned int u)
{
	if (u < 0x80) {
		text_putc(t, (char)u);
	} else if (u < 0x800) {
		text_putc(t, (char)(0xc0 | u >> 6));
		text_putc(t, (char)(0x80 | (u & 0x3f)));
	} else if (u < 0x10000) {
		text_putc(t, (char)(0xe0 | u >> 12));
		text_putc(t, (char)(0x80 | ((u >> 6) & 0x3f)));
		text_putc(t, (char)(0x80 | (u & 0x3f)));
	} else {
		text_putc(t, (char)(0xf0 | u >> 18));
		text_putc(t, (char)(0x80 | ((u >> 12) & 0x3f)));
		text_putc(t, (char)(0x80 | ((u >> 6) & 0x3f)));
		text_putc(t, (char)(0x80 | (u & 0x3f)));
	}
}

/* A JSON string at *p (the line is known to be free of raw controls). */
static void json_string(const char **p, const char *end, struct text *out)
{
	const char *s = *p;

	out->len = 0;
	text_putc(out, '\0');
	out->len = 0;
	CHECK(s < end && *s == '"', "JSON: string expected");
	for (s++; s < end && *s != '"'; s++) {
		unsigned int u;

		if (*s != '\\') {
			text_putc(out, *s);
			continue;
		}
		CHECK(++s < end, "JSON: escape at the end of the line");
		switch (*s) {
		case '"': case '\\': case '/':
			text_putc(out, *s);
			break;
		case 'b': text_putc(out, '\b'); break;
		case 'f': text_putc(out, '\f'); break;
		case 'n': text_putc(out, '\n'); break;
		case 'r': text_putc(out, '\r'); break;
		case 't': text_putc(out, '\t'); break;
		case 'u':
			CHECK(end - s > 4, "JSON: short \\u escape");
			u = json_u4(s + 1);
			s += 4;
			if (u >= 0xd800 && u <= 0xdbff) {
				unsigned int lo;

				CHECK(end - s > 6 && s[1] == '\\' && s[2] == 'u', "JSON: lone surrogate");
				lo = json_u4(s + 3);
				CHECK(lo >= 0xdc00 && lo <= 0xdfff, "JSON: bad low surrogate");
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				s += 6;
			}
			CHECK(u && !(u >= 0xdc00 && u <= 0xdfff), "JSON: NUL or lone low surrogate");
			put_utf8(out, u);
			break;
		default:
			CHECK(0, "JSON: unknown escape \\%c", *s);
		}
	}
	CHECK(s < end, "JSON: unterminated string");
	*p = s + 1;
}

/* A JSON number token (RFC 8259 grammar) at *p; returns its length. */
static size_t json_number(const char *s, const char *end)
{
	const char *q = s;

	if (q < end && *q == '-')
		q++;
	CHECK(q < end && *q >= '0' && *q <= '9', "JSON: number expected");
	if (*q == '0')
		q++;
	else
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	if (q < end && *q == '.') {
		CHECK(++q < end && *q >= '0' && *q <= '9', "JSON: digit after '.' expected");
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		CHECK(q < end && *q >= '0' && *q <= '9', "JSON: exponent digits expected");
		while (q < end && *q >= '0' && *q <= '9')
			q++;
	}
	return (size_t)(q - s);
}

static void expect_char(const char **p, const char *end, char c)
{
	CHECK(*p < end && **p == c, "JSON: '%c' expected", c);
	(*p)++;
}

static void json_value(struct check_ctx *k, const char **p, const char *end, size_t i, int r)
{
	const struct column *c = &k->sc->cols[i];
	struct col_value v;
	size_t n;

	col_get(c, &k->rows[r], &v, k->cs);
	if (k->anon && k->anon[i]) {
		json_string(p, end, &k->got);
		CHECK(is_hex128(k->got.s, k->got.len), "JSON: anonymised %s", c->name);
		return;
	}
	expected_text(&v, ",", &k->want);
	switch (v.kind) {
	case COL_INT:
	case COL_FLOAT:
		n = json_number(*p, end);
		if (v.kind == COL_FLOAT)
			check_float(*p, n, v.f, c->name);
		else
			CHECK(n == k->want.len && !memcmp(*p, k->want.s, n),
			      "JSON row %d: %s is '%.*s', expected %s", r, c->name, (int)n, *p,
			      k->want.s);
		*p += n;
		break;
	case COL_STR:
		json_string(p, end, &k->got);
		CHECK(k->got.len == k->want.len && !memcmp(k->got.s, k->want.s, k->got.len),
		      "JSON row %d: %s reads back as '%s', expected '%s'", r, c->name, k->got.s,
		      k->want.s);
		break;
	case COL_LIST:
		n = strcspn(*p, "]\n") + 1;
		CHECK(*p + n <= end && n == k->want.len && !memcmp(*p, k->want.s, n),
		      "JSON row %d: list %s", r, c->name);
		*p += n;
		break;
	}
}

static void check_json(struct check_ctx *k, char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	char *clean = malloc(len + 1);

	if (!clean)
		abort();
	/* Valid UTF-8 throughout: cleaning must change nothing. */
	CHECK(dpi_utf8_clean(clean, buf, len) == len && strlen(buf) == len,
	      "JSON: output is not valid UTF-8 (or holds a NUL)");
	free(clean);
	for (int r = 0; r < k->n_rows; r++) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		CHECK(eol, "JSON: row %d has no line end", r);
		for (const char *q = p; q < eol; q++)
			CHECK((unsigned char)*q >= 0x20, "JSON row %d: raw control byte 0x%02x", r,
			      (unsigned char)*q);
		expect_char(&p, eol, '{');
		for (size_t i = 0; i < k->sc->n; i++) {
			if (i)
				expect_char(&p, eol, ',');
			json_string(&p, eol, &k->got);
			CHECK(!strcmp(k->got.s, k->sc->cols[i].name), "JSON: key %zu is '%s'", i,
			      k->got.s);
			expect_char(&p, eol, ':');
			json_value(k, &p, eol, i, r);
		}
		expect_char(&p, eol, '}');
		CHECK(p == eol, "JSON row %d: bytes after the object", r);
		p = eol + 1;
	}
	CHECK(p == end, "JSON: bytes after the last row");
}

/* --------------------------------------------------------------------- */

static char *write_rows(int fmt, const struct schema *sc, const bool *anon,
			const struct flow_record *rows, int n_rows, size_t *len)
{
	struct export_opts xo = { .path = memfd_path[fmt], .schema = sc, .anonymize = anon,
				  .format = fmt ? EXPORT_JSONL : EXPORT_CSV };
	struct exporter *e;
	struct stat st;
	char *buf;

	if (exporter_open(&xo, &e))
		abort();
	for (int r = 0; r < n_rows; r++)
		CHECK(exporter_write(e, &rows[r]) == 0, "exporter_write failed");
	CHECK(exporter_close(e, NULL, NULL) == 0, "exporter_close failed");
	if (fstat(memfd[fmt], &st))
		abort();
	*len = (size_t)st.st_size;
	buf = malloc(*len + 1);
	if (!buf || pread(memfd[fmt], buf, *len, 0) != (ssize_t)*len)
		abort();
	buf[*len] = '\0';
	return buf;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_verbosity(-1);
	for (int i = 0; i < 2; i++) {
		memfd[i] = memfd_create(i ? "fuzz-jsonl" : "fuzz-csv", 0);
		if (memfd[i] < 0)
			abort();
		snprintf(memfd_path[i], sizeof(memfd_path[i]), "/proc/self/fd/%d", memfd[i]);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t cfg = (uint8_t)take(&in, 1), cfg2 = (uint8_t)take(&in, 1);
	struct column_opts co = { .statistics = cfg & 1, .l7 = cfg & 2, .ja4 = cfg & 4,
				  .system_visibility = (cfg >> 3) & 3, .decode_tunnels = cfg & 32,
				  .splt = cfg2 % (SPLT_MAX + 1) };
	int n_rows = cfg & 128 ? 2 : 1;
	struct rec *x = calloc(MAX_ROWS, sizeof(*x));
	struct flow_record rows[MAX_ROWS];
	struct check_ctx k = { .rows = rows, .n_rows = n_rows };
	struct schema sc;
	bool *anon = NULL;
	char *out;
	size_t len;

	if (!x)
		return 0;
	if (co.system_visibility == 3)
		co.system_visibility = 2;
	if (schema_init(&sc, &co))
		abort();
	if (cfg & 64) {
		anon = calloc(sc.n, sizeof(*anon));
		if (!anon)
			abort();
		for (size_t i = 0; i < sc.n; i++)
			anon[i] = (i * 7 + (cfg2 >> 3)) % 5 == 0;
	}
	for (int r = 0; r < n_rows; r++)
		fill_strings(&in, &x[r], cfg2 & 4);
	for (int r = 0; r < n_rows; r++) {
		fill_numbers(&in, &x[r], co.statistics, co.splt);
		x[r].r.l7 = co.l7 || (cfg2 & 2) ? &x[r].l7 : NULL;
		x[r].r.proc = cfg2 & 1 ? NULL : &x[r].proc;
		rows[r] = x[r].r;
	}
	k.sc = &sc;
	k.anon = anon;
	k.cs = col_scratch_new(&sc);
	if (!k.cs)
		abort();
	out = write_rows(0, &sc, anon, rows, n_rows, &len);
	check_csv(&k, out, len);
	free(out);
	out = write_rows(1, &sc, anon, rows, n_rows, &len);
	check_json(&k, out, len);
	free(out);
	free(k.got.s);
	free(k.want.s);
	free(k.cs);
	free(anon);
	schema_release(&sc);
	free(x);
	return 0;
}
