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
#include <unistd.h>

#include "export.h"
#include "log.h"

#define OUTBUF_FLUSH_BYTES (64 * 1024)

/* What formatting a row writes besides the row: one per formatting thread. */
struct row_fmt {
	struct outbuf scratch;
	struct col_scratch *cs;
	char hex[2 * crypto_generichash_BYTES_MAX + 1];
};

struct exporter {
	struct export_opts o;
	const struct export_format_ops *ops;
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

/* Decimal digits of @u, right-aligned so they end at @end; returns their start. */
static inline char *utoa_back(char *end, uint64_t u)
{
	while (u >= 100) {
		unsigned int r = (unsigned int)(u % 100);

		u /= 100;
		end -= 2;
		memcpy(end, digit_pairs + 2 * r, 2);
	}
	if (u >= 10) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * u, 2);
	} else {
		*--end = (char)('0' + u);
	}
	return end;
}

/* Number of decimal digits of @u > 0. */
static inline int udigits(uint64_t u)
{
	/* log10(2) * bit length is the digit count or one less */
	int n = (64 - __builtin_clzll(u | 1)) * 1233 >> 12;

	return n + (n < 20 && u >= pow10_u64[n]);
}

/* fmt_int()'s text, written two digits per division straight into @b. */
void outbuf_int(struct outbuf *b, int64_t v)
{
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	int n;
	char *dst = outbuf_reserve(b, 24);

	if ((uint64_t)v < 10) {
		/* most cells: flag counts, ids, versions */
		*dst = (char)('0' + v);
		b->len++;
		return;
	}
	n = udigits(u) + (v < 0);
	if (v < 0)
		*dst = '-';
	utoa_back(dst + n, u);
	b->len += (size_t)n;
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

int fmt_py_float_fast(double d, char *buf)
{
	double a = fabs(d);
	uint64_t bits, m, c17, cand = 0;
	int q, exp10, nd = 17, pos = 0;
	char digits[20];

	if (a < FAST_MAX && a == (double)(int64_t)a) {
		/* zero and integral values: "-0.0", "0.0", "123.0" */
		if (signbit(d))
			buf[pos++] = '-';
		pos += fmt_int(buf + pos, (int64_t)a);
		memcpy(buf + pos, ".0", 3);
		return pos + 2;
	}
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

int exporter_open(const struct export_opts *o, struct exporter **out)
{
	struct exporter *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return -ENOMEM;
	e->o = *o;
	e->fd = -1;
	e->ops = o->format == EXPORT_JSONL ? &export_jsonl_ops : &export_csv_ops;
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

/* Row @r, whole, at the end of @out; reads only what exporter_open() set. */
void exporter_format(const struct exporter *e, struct row_fmt *f, struct outbuf *out,
		     const struct flow_record *r)
{
	const struct schema *s = e->o.schema;
	struct col_value v;

	e->ops->row_begin(out);
	for (size_t i = 0; i < s->n; i++) {
		col_get(&s->cols[i], r, &v, f->cs);
		if (e->o.anonymize && e->o.anonymize[i])
			anonymise(e, f, &v);
		e->ops->cell(out, &s->cols[i], i, &v);
	}
	e->ops->row_end(out);
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
	free(e);
	return err;
}
