// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exporter core: output files and chunking, buffering with write(2),
 * error accounting, and anonymisation (BLAKE2b-512 keyed with 64 random
 * bytes per run, over Python's str() of the value, as NFStream's
 * columns_to_anonymize).  Knows nothing about CSV or JSON syntax.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/export.h"
#include "util/log.h"

#define OUTBUF_FLUSH_BYTES (64 * 1024)

/* What formatting a row writes besides the row: one per formatting thread. */
struct row_fmt {
	struct outbuf scratch;
	struct col_scratch *cs;
	char hex[2 * crypto_generichash_BYTES_MAX + 1];
};

/*
 * A row plan: the schema compiled once for the format, so formatting a row
 * is one pass over small ops that write straight into the output, not a
 * typed value and a dispatch on its kind per cell.
 */
enum plan_kind {
	PK_INT,   /* col_row i[slot] */
	PK_FLOAT, /* col_row f[slot] */
	PK_STR,   /* col_row s[slot], quoted by the format */
	PK_ADDR,  /* col_addr_text(), in quotes */
	PK_LIST,  /* the SPLT list of col */
	PK_ANON,  /* col's value, anonymised, as a string */
	PK_UDP,   /* a plugin's value, of its own kind, or None */
};

struct plan_op {
	const char *pre; /* constant text before the value: separator, key */
	uint16_t pre_len;
	uint8_t kind;    /* enum plan_kind */
	uint16_t slot;
	const struct column *col;
};

/* Prefixes are copied PLAN_PRE_COPY bytes at a time when they fit: a
 * constant-size copy, not a call; the text has that much slack after it. */
#define PLAN_PRE_COPY 48

struct row_plan {
	struct plan_op *ops;
	size_t n;
	char *text;     /* every op's prefix, then the row's tail */
	const char *tail;
	size_t tail_len;
	size_t row_max; /* bytes a row needs besides its strings' own */
};

struct exporter {
	struct export_opts o;
	const struct export_format_ops *ops;
	struct row_plan plan;
	struct outbuf out;
	struct row_fmt fmt;      /* the exporter's own (exporter_write) */
	unsigned char key[crypto_generichash_KEYBYTES_MAX];
	int fd;
	bool own_fd;
	uint64_t chunk;          /* index of the open chunk */
	uint64_t flows_in_file;
	uint64_t flows_buffered; /* rows in out.buf not yet written */
	uint64_t written, failed;
	int err;
	char *path_buf;
};

static void outbuf_grow(struct outbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *nb;

	while (cap < b->len + n)
		cap *= 2;
	nb = realloc(b->buf, cap);
	if (!nb)
		abort(); /* out of memory while formatting a row */
	b->buf = nb;
	b->cap = cap;
}

void outbuf_put(struct outbuf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap)
		outbuf_grow(b, n);
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

void outbuf_puts(struct outbuf *b, const char *s)
{
	outbuf_put(b, s, strlen(s));
}

/* Room for @n more bytes at b->buf + b->len. */
static inline char *outbuf_reserve(struct outbuf *b, size_t n)
{
	if (b->len + n > b->cap)
		outbuf_grow(b, n);
	return b->buf + b->len;
}

static const uint64_t pow10_u64[20] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
	10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
	100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Exactly eight digits of @v < 10^8 at @p: two independent 32-bit halves. */
static inline void put8(char *p, uint32_t v)
{
	uint32_t hi = v / 10000, lo = v % 10000;

	memcpy(p, digit_pairs + 2 * (hi / 100), 2);
	memcpy(p + 2, digit_pairs + 2 * (hi % 100), 2);
	memcpy(p + 4, digit_pairs + 2 * (lo / 100), 2);
	memcpy(p + 6, digit_pairs + 2 * (lo % 100), 2);
}

/* Decimal digits of @u, right-aligned so they end at @end; eight digits per
 * 64-bit division, then two per 32-bit one. */
static inline void utoa_back(char *end, uint64_t u)
{
	uint32_t x;

	while (u >= 100000000) {
		end -= 8;
		put8(end, (uint32_t)(u % 100000000));
		u /= 100000000;
	}
	x = (uint32_t)u;
	while (x >= 100) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * (x % 100), 2);
		x /= 100;
	}
	if (x >= 10) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * x, 2);
	} else {
		*--end = (char)('0' + x);
	}
}

/* Number of decimal digits of @u > 0. */
static inline int udigits(uint64_t u)
{
	/* log10(2) * bit length is the digit count or one less */
	int n = (64 - __builtin_clzll(u | 1)) * 1233 >> 12;

	return n + (n < 20 && u >= pow10_u64[n]);
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/*
 * The eight decimal digits of @v < 10^8 as the bytes of a word, first
 * digit lowest: 4+4 digits in two 32-bit lanes, 2+2 in four 16-bit lanes,
 * then one per byte, each lane divided by a multiply and shift that is
 * exact over its range.
 */
static inline uint64_t digits8(uint32_t v)
{
	uint64_t x = v / 10000 | (uint64_t)(v % 10000) << 32;
	uint64_t hi = (x * 10486 >> 20) & 0x0000007f0000007full; /* lane / 100 */

	x = hi | (x - hi * 100) << 16;
	hi = (x * 103 >> 10) & 0x000f000f000f000full; /* lane / 10 */
	return hi | (x - hi * 10) << 8;
}
#endif

/*
 * @v < 10^8 without leading zeros at @p, which has room for 8 bytes;
 * returns its end.  Where words are little-endian, without a branch on
 * the number's length, which varies from cell to cell.
 */
static inline char *put_short(char *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t d = digits8(v);
	/* leading zeros are the low zero bytes; a zero keeps its last digit */
	int skip = __builtin_ctzll(d | 1ull << 56) >> 3;

	d = (d + 0x3030303030303030ull) >> (8 * skip);
	memcpy(p, &d, 8);
	return p + 8 - skip;
#else
	int n = v ? udigits(v) : 1;

	utoa_back(p + n, v);
	return p + n;
#endif
}

/* fmt_int()'s text at @p (room for 24 bytes); returns its end. */
static inline __attribute__((always_inline)) char *put_int(char *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	int n;

	if (u < 10) {
		/* most cells: flag counts, ids, versions */
		*p = (char)('0' + u);
		return p + 1;
	}
	if (v < 0) {
		*p++ = '-';
		u = -u;
	}
	if (u < 100000000)
		return put_short(p, (uint32_t)u);
	if (u < 10000000000000000ull) {
		/* millisecond timestamps: 13 digits */
		p = put_short(p, (uint32_t)(u / 100000000));
		put8(p, (uint32_t)(u % 100000000));
		return p + 8;
	}
	n = udigits(u);
	utoa_back(p + n, u);
	return p + n;
}

void outbuf_int(struct outbuf *b, int64_t v)
{
	char *p = outbuf_reserve(b, 24);

	b->len = (size_t)(put_int(p, v) - b->buf);
}

/*
 * Exact decimal arithmetic for fmt_py_float_fast(): a positive normal
 * double is m * 2^q, and every step of fmt_py_float() (a correctly
 * rounded "%.*e", and "does strtod() of these digits give d back?") is a
 * comparison of integers, done in 128 bits for 1e-5 <= d < 2^53.  There
 * m < 2^53, -69 <= q <= -1 for non-integral values, and the decimal
 * scales stay below 10^22, so no product exceeds 2^125.
 */
typedef unsigned __int128 u128;

#define FAST_MIN 1e-5
#define FAST_MAX 9007199254740992.0 /* 2^53: below it, integral or q <= -1 */


static inline u128 pow10_u128(int k)
{
	return k < 20 ? pow10_u64[k] : (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* m * 2^q * 10^s rounded to an integer, ties to even (printf's rounding). */
static uint64_t round_scaled(uint64_t m, int q, int s)
{
	u128 num, den, v, rem;

	if (s >= 0) {
		num = (u128)m * pow10_u128(s);
		v = num >> -q;
		rem = num - (v << -q);
		den = (u128)1 << -q;
	} else {
		num = m;
		den = pow10_u128(-s) << -q;
		v = num / den;
		rem = num - v * den;
	}
	if (2 * rem > den || (2 * rem == den && (v & 1)))
		v++;
	return (uint64_t)v;
}

/* "%.{n-1}e" of m * 2^q: n digits in *c, decimal exponent in *exp10 (a guess on entry). */
static void round_digits_exact(uint64_t m, int q, int n, uint64_t *c, int *exp10)
{
	for (;;) {
		uint64_t v = round_scaled(m, q, n - 1 - *exp10);

		if (v >= pow10_u64[n])
			(*exp10)++;
		else if (v < pow10_u64[n - 1])
			(*exp10)--;
		else {
			*c = v;
			return;
		}
	}
}

/* Does strtod("c[0].c[1..n-1]e<exp10>") give m * 2^q back (round to nearest even)? */
static bool roundtrips_exact(uint64_t m, int q, uint64_t c, int n, int exp10)
{
	int t = exp10 - (n - 1);
	u128 v, lo, hi;

	/* everything times 2^(2-q), and times 10^-t when t < 0 */
	v = (u128)c << (2 - q);
	hi = 4 * (u128)m + 2;
	lo = m == 1ull << 52 ? 4 * (u128)m - 1 : 4 * (u128)m - 2;
	if (t >= 0) {
		v *= pow10_u64[t];
	} else {
		hi *= pow10_u128(-t);
		lo *= pow10_u128(-t);
	}
	if (v > lo && v < hi)
		return true;
	return !(m & 1) && (v == lo || v == hi);
}

/* fmt_py_float_fast() of a value that is not integral below 2^53. */
static int py_float_fraction(double d, char *buf)
{
	double a = fabs(d);
	uint64_t bits, m, c17, cand = 0;
	int q, exp10, nd = 17, pos = 0;
	char digits[20];

	if (!(a >= FAST_MIN && a < FAST_MAX))
		return fmt_py_float(d, buf);
	memcpy(&bits, &a, sizeof(bits));
	m = (bits & ((1ull << 52) - 1)) | 1ull << 52;
	q = (int)(bits >> 52) - 1075;

	/* the same steps as fmt_py_float(), on integers; the exponent guess
	 * floor(log10(2) * floor(log2(a))) is exact or one low, which
	 * round_digits_exact() corrects */
	exp10 = (q + 52) * 78913 >> 18;
	round_digits_exact(m, q, 17, &c17, &exp10);
	for (int keep = 15; keep <= 16; keep++) {
		uint64_t div = pow10_u64[17 - keep];
		uint64_t trunc = c17 / div, rem = c17 % div;
		bool tie = 2 * rem == div;
		int e = 0;

		cand = trunc + (2 * rem >= div);
		if (cand == pow10_u64[keep]) {
			cand = pow10_u64[keep - 1];
			e = 1;
		}
		if (!roundtrips_exact(m, q, cand, keep, exp10 + e)) {
			if (!tie)
				continue;
			cand = trunc;
			e = 0;
			if (!roundtrips_exact(m, q, cand, keep, exp10))
				continue;
		} else if (tie) {
			uint64_t c2;
			int exp2 = exp10;

			round_digits_exact(m, q, keep, &c2, &exp2);
			if (roundtrips_exact(m, q, c2, keep, exp2)) {
				cand = c2;
				e = exp2 - exp10;
			}
		}
		nd = keep;
		exp10 += e;
		break;
	}
	if (nd == 17)
		cand = c17;
	utoa_back(digits + nd, cand);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (d < 0)
		buf[pos++] = '-';

	return py_float_layout(buf, pos, digits, nd, exp10);
}

/* fmt_py_float_fast()'s text at @p; returns its end (a NUL follows). */
static inline __attribute__((always_inline)) char *put_float(char *p, double d)
{
	double a = fabs(d);

	if (a < FAST_MAX && a == (double)(int64_t)a) {
		/* zero and integral values, most cells: "-0.0", "0.0", "123.0" */
		if (signbit(d))
			*p++ = '-';
		p = put_int(p, (int64_t)a);
		memcpy(p, ".0", 3);
		return p + 2;
	}
	return p + py_float_fraction(d, p);
}

int fmt_py_float_fast(double d, char *buf)
{
	return (int)(put_float(buf, d) - buf);
}

void cell_py_str(struct outbuf *b, const struct col_value *v)
{
	switch (v->kind) {
	case COL_INT:
		outbuf_int(b, v->i);
		break;
	case COL_FLOAT:
		b->len += (size_t)fmt_py_float_fast(v->f, outbuf_reserve(b, 40));
		break;
	case COL_STR:
		outbuf_puts(b, v->s);
		break;
	case COL_LIST:
		outbuf_list(b, v->list, v->n, ", ");
		break;
	}
}

void outbuf_list(struct outbuf *b, const int64_t *list, size_t n, const char *sep)
{
	outbuf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			outbuf_puts(b, sep);
		outbuf_int(b, list[i]);
	}
	outbuf_putc(b, ']');
}

static void plan_release(struct row_plan *pl)
{
	free(pl->ops);
	free(pl->text);
	memset(pl, 0, sizeof(*pl));
}

/* Bytes a PK_INT (put_int) and a PK_FLOAT (fmt_py_float, with its NUL) may write. */
#define INT_TEXT_MAX 24
#define FLOAT_TEXT_MAX 40

static int plan_init(struct row_plan *pl, const struct schema *s,
		     const struct export_format_ops *ops, const bool *anonymize)
{
	size_t begin_len = strlen(ops->row_begin), end_len = strlen(ops->row_end);
	size_t item_max = strlen(ops->list_sep) + INT_TEXT_MAX;
	size_t text_cap = 2 * begin_len + end_len + PLAN_PRE_COPY, text_len = 0;
	char pre[EXPORT_PREFIX_MAX];

	memset(pl, 0, sizeof(*pl));
	for (size_t i = 0; i < s->n; i++)
		text_cap += ops->cell_prefix(pre, &s->cols[i], i);
	pl->ops = calloc(s->n ? s->n : 1, sizeof(*pl->ops));
	pl->text = calloc(1, text_cap); /* zeros after the text: see PLAN_PRE_COPY */
	if (!pl->ops || !pl->text) {
		plan_release(pl);
		return -ENOMEM;
	}
	pl->n = s->n;
	for (size_t i = 0; i < s->n; i++) {
		const struct column *c = &s->cols[i];
		struct plan_op *op = &pl->ops[i];
		size_t len = 0;

		/* the row's opening text goes with its first cell */
		if (!i) {
			memcpy(pl->text, ops->row_begin, begin_len);
			len = begin_len;
		}
		len += ops->cell_prefix(pl->text + text_len + len, c, i);
		op->pre = pl->text + text_len;
		op->pre_len = (uint16_t)len;
		text_len += len;
		op->col = c;
		op->slot = c->slot;
		pl->row_max += len > PLAN_PRE_COPY ? len : PLAN_PRE_COPY;
		if (anonymize && anonymize[i]) {
			op->kind = PK_ANON;
			continue;
		}
		if (c->field == CF_UDP) {
			op->kind = PK_UDP;
			pl->row_max += FLOAT_TEXT_MAX + 4;
			continue;
		}
		if (col_is_addr(c)) {
			op->kind = PK_ADDR;
			pl->row_max += COL_ADDR_TEXT_MAX + 2;
			continue;
		}
		switch (c->kind) {
		case COL_INT:
			op->kind = PK_INT;
			pl->row_max += INT_TEXT_MAX;
			break;
		case COL_FLOAT:
			op->kind = PK_FLOAT;
			pl->row_max += FLOAT_TEXT_MAX;
			break;
		case COL_STR:
			op->kind = PK_STR;
			break;
		case COL_LIST:
			op->kind = PK_LIST;
			pl->row_max += strlen(ops->list_open) + strlen(ops->list_close) +
				       (size_t)c->len * item_max;
			break;
		}
	}
	/* a row with no cell still opens and closes */
	pl->tail = pl->text + text_len;
	if (!s->n) {
		memcpy(pl->text + text_len, ops->row_begin, begin_len);
		text_len += begin_len;
	}
	memcpy(pl->text + text_len, ops->row_end, end_len);
	pl->tail_len = (size_t)(pl->text + text_len + end_len - pl->tail);
	pl->row_max += pl->tail_len;
	return 0;
}

/* Chunk file name: "<idx>." inserted before the extension (out.csv -> out.3.csv). */
static char *chunk_path(const char *path, uint64_t idx)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	size_t n = strlen(path) + 32;
	char *s = malloc(n);

	if (!s)
		return NULL;
	if (dot && (!slash || dot > slash) && dot != path)
		snprintf(s, n, "%.*s.%llu%s", (int)(dot - path), path, (unsigned long long)idx, dot);
	else
		snprintf(s, n, "%s.%llu", path, (unsigned long long)idx);
	return s;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int exporter_flush(struct exporter *e)
{
	int err;

	if (e->err) {
		e->failed += e->flows_buffered;
		e->flows_buffered = 0;
		e->out.len = 0;
		return e->err;
	}
	if (!e->out.len)
		return 0;
	err = write_all(e->fd, e->out.buf, e->out.len);
	e->out.len = 0;
	if (err) {
		e->err = err;
		e->failed += e->flows_buffered;
		e->flows_buffered = 0;
		return err;
	}
	e->written += e->flows_buffered;
	e->flows_buffered = 0;
	return 0;
}

static int open_chunk(struct exporter *e, uint64_t idx)
{
	const char *path = e->o.path;

	if (!path || !strcmp(path, "-")) {
		e->fd = STDOUT_FILENO;
		e->own_fd = false;
	} else {
		free(e->path_buf);
		e->path_buf = e->o.flows_per_file ? chunk_path(path, idx) : strdup(path);
		if (!e->path_buf)
			return -ENOMEM;
		e->fd = open(e->path_buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (e->fd < 0) {
			int err = -errno;

			pr_warn("cannot open output '%s': %s\n", e->path_buf, strerror(-err));
			return err;
		}
		e->own_fd = true;
	}
	e->chunk = idx;
	e->flows_in_file = 0;
	e->ops->header(&e->out, e->o.schema);
	return 0;
}

static void close_chunk(struct exporter *e)
{
	exporter_flush(e);
	if (e->own_fd && e->fd >= 0) {
		if (close(e->fd) && !e->err)
			e->err = -errno;
	}
	e->fd = -1;
}

int exporter_reopen(struct exporter *e)
{
	struct stat st;
	int fd, err;

	if (!e->own_fd || !e->path_buf)
		return 0; /* standard output stays */
	err = exporter_flush(e);
	if (err)
		return err;
	/* the path anew (logrotate moved the file away), or the same file
	 * when nobody did: appended to, its header written when it is empty */
	fd = open(e->path_buf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		pr_warn("cannot reopen output '%s': %s (still writing to the file open before)\n",
			e->path_buf, strerror(-err));
		return 0;
	}
	if (close(e->fd) && !e->err)
		e->err = -errno;
	e->fd = fd;
	if (!fstat(fd, &st) && st.st_size == 0)
		e->ops->header(&e->out, e->o.schema);
	pr_info("output '%s' reopened\n", e->path_buf);
	return e->err;
}

int exporter_open(const struct export_opts *o, struct exporter **out)
{
	struct exporter *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return -ENOMEM;
	e->o = *o;
	e->fd = -1;
	e->ops = o->format == EXPORT_JSONL ? &export_jsonl_ops : &export_csv_ops;
	err = plan_init(&e->plan, o->schema, e->ops, o->anonymize);
	if (err)
		goto err_free;
	e->fmt.cs = col_scratch_new(o->schema);
	if (!e->fmt.cs) {
		err = -ENOMEM;
		goto err_free;
	}
	if (o->anonymize) {
		if (sodium_init() < 0) {
			pr_warn("cannot initialise libsodium for anonymisation\n");
			err = -EIO;
			goto err_free;
		}
		randombytes_buf(e->key, sizeof(e->key));
	}
	err = open_chunk(e, 0);
	if (err)
		goto err_free;
	*out = e;
	return 0;

err_free:
	plan_release(&e->plan);
	free(e->fmt.cs);
	free(e->path_buf);
	free(e);
	return err;
}

/* Replace @v by the keyed BLAKE2b-512 hex digest of its Python str(). */
static void anonymise(const struct exporter *e, struct row_fmt *f, struct col_value *v)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char h[crypto_generichash_BYTES_MAX];

	f->scratch.len = 0;
	cell_py_str(&f->scratch, v);
	crypto_generichash(h, sizeof(h), (const unsigned char *)f->scratch.buf, f->scratch.len,
			   e->key, sizeof(e->key));
	for (size_t i = 0; i < sizeof(h); i++) {
		f->hex[2 * i] = hx[h[i] >> 4];
		f->hex[2 * i + 1] = hx[h[i] & 15];
	}
	f->hex[2 * sizeof(h)] = '\0';
	v->kind = COL_STR;
	v->s = f->hex;
}

static inline char *put_prefix(char *p, const struct plan_op *op)
{
	if (op->pre_len <= 16)
		memcpy(p, op->pre, 16);
	else if (op->pre_len <= PLAN_PRE_COPY)
		memcpy(p, op->pre, PLAN_PRE_COPY);
	else
		memcpy(p, op->pre, op->pre_len);
	return p + op->pre_len;
}

static char *put_list(char *p, const struct export_format_ops *ops, const struct col_value *v)
{
	size_t sep_len = strlen(ops->list_sep);

	p = stpcpy(p, ops->list_open);
	for (size_t i = 0; i < v->n; i++) {
		if (i) {
			memcpy(p, ops->list_sep, sep_len);
			p += sep_len;
		}
		p = put_int(p, v->list[i]);
	}
	return stpcpy(p, ops->list_close);
}

/* Row @r, whole, at the end of @out; reads only what exporter_open() set. */
void exporter_format(const struct exporter *e, struct row_fmt *f, struct outbuf *out,
		     const struct flow_record *r)
{
	const struct row_plan *pl = &e->plan;
	const struct plan_op *op, *end = pl->ops + pl->n;
	struct col_row row;
	struct col_value v;
	char *p;

	col_row_get(r, &row);
	/* room for every cell but the strings, which ask for theirs */
	p = outbuf_reserve(out, pl->row_max);
	for (op = pl->ops; op < end; op++) {
		const char *s;
		size_t n, need;

		p = put_prefix(p, op);
		if (op->kind == PK_INT) {
			/* most cells: a predictable test before the jump table */
			p = put_int(p, row.i[op->slot]);
			continue;
		}
		switch (op->kind) {
		case PK_FLOAT:
			p = put_float(p, row.f[op->slot]);
			continue;
		case PK_ADDR:
			*p++ = '"';
			p += col_addr_text(op->col, r->flow, p);
			*p++ = '"';
			continue;
		case PK_LIST:
			col_get(op->col, r, &v, f->cs);
			p = put_list(p, e->ops, &v);
			continue;
		case PK_STR:
			s = row.s[op->slot];
			break;
		case PK_UDP:
			col_get(op->col, r, &v, f->cs);
			if (v.is_null) {
				p = stpcpy(p, e->ops->null_text);
				continue;
			}
			if (v.kind == COL_INT) {
				p = put_int(p, v.i);
				continue;
			}
			if (v.kind == COL_FLOAT) {
				p = put_float(p, v.f);
				continue;
			}
			if (v.kind == COL_LIST) {
				need = v.n * (strlen(e->ops->list_sep) + INT_TEXT_MAX) + 8 + pl->row_max;
				if ((size_t)(out->buf + out->cap - p) < need) {
					out->len = (size_t)(p - out->buf);
					p = outbuf_reserve(out, need);
				}
				p = put_list(p, e->ops, &v);
				continue;
			}
			s = v.s;
			break;
		default: /* PK_ANON */
			col_get(op->col, r, &v, f->cs);
			if (v.is_null) {
				p = stpcpy(p, e->ops->null_text);
				continue;
			}
			anonymise(e, f, &v);
			s = v.s;
			break;
		}
		n = strlen(s);
		need = n * e->ops->string_expansion + 2 + pl->row_max;
		if ((size_t)(out->buf + out->cap - p) < need) {
			out->len = (size_t)(p - out->buf);
			p = outbuf_reserve(out, need);
		}
		p = e->ops->string(p, s, n);
	}
	memcpy(p, pl->tail, pl->tail_len);
	out->len = (size_t)(p + pl->tail_len - out->buf);
}

struct row_fmt *exporter_fmt_new(const struct exporter *e)
{
	struct row_fmt *f;

	if (e->o.flows_per_file)
		return NULL; /* rows must be counted into files one by one */
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cs = col_scratch_new(e->o.schema);
	if (!f->cs) {
		free(f);
		return NULL;
	}
	return f;
}

void exporter_fmt_free(struct row_fmt *f)
{
	if (!f)
		return;
	free(f->scratch.buf);
	free(f->cs);
	free(f);
}

int exporter_write_rows(struct exporter *e, const struct outbuf *rows, uint64_t n)
{
	if (e->err) {
		e->failed += n;
		return e->err;
	}
	outbuf_put(&e->out, rows->buf, rows->len);
	e->flows_in_file += n;
	e->flows_buffered += n;
	if (e->out.len >= OUTBUF_FLUSH_BYTES)
		return exporter_flush(e);
	return 0;
}

int exporter_write(struct exporter *e, const struct flow_record *r)
{
	if (e->o.flows_per_file && e->flows_in_file == e->o.flows_per_file) {
		uint64_t next = e->chunk + 1;
		int err;

		if (e->o.rotate_files)
			next %= e->o.rotate_files;
		close_chunk(e);
		err = open_chunk(e, next);
		if (err && !e->err)
			e->err = err;
	}
	if (e->err) {
		e->failed++;
		return e->err;
	}
	exporter_format(e, &e->fmt, &e->out, r);
	e->flows_in_file++;
	e->flows_buffered++;
	if (e->out.len >= OUTBUF_FLUSH_BYTES)
		return exporter_flush(e);
	return 0;
}

int exporter_close(struct exporter *e, uint64_t *written, uint64_t *failed)
{
	int err;

	close_chunk(e);
	err = e->err;
	if (written)
		*written = e->written;
	if (failed)
		*failed = e->failed;
	free(e->out.buf);
	free(e->fmt.scratch.buf);
	free(e->fmt.cs);
	free(e->path_buf);
	plan_release(&e->plan);
	free(e);
	return err;
}
