// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exporter core: output files and chunking, buffering with write(2),
 * error accounting, and anonymisation (BLAKE2b-512 keyed with 64 random
 * bytes per run, over Python's str() of the value, as NFStream's
 * columns_to_anonymize).  Knows nothing about CSV or JSON syntax.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "log.h"

#define OUTBUF_FLUSH_BYTES (64 * 1024)

struct exporter {
	struct export_opts o;
	const struct export_format_ops *ops;
	struct outbuf out;
	struct outbuf scratch;
	struct col_scratch *cs;
	char hex[2 * crypto_generichash_BYTES_MAX + 1];
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

void outbuf_put(struct outbuf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
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
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

void outbuf_puts(struct outbuf *b, const char *s)
{
	outbuf_put(b, s, strlen(s));
}

void outbuf_int(struct outbuf *b, int64_t v)
{
	char tmp[24];

	outbuf_put(b, tmp, (size_t)fmt_int(tmp, v));
}

void cell_py_str(struct outbuf *b, const struct col_value *v)
{
	char f[40];

	switch (v->kind) {
	case COL_INT:
		outbuf_int(b, v->i);
		break;
	case COL_FLOAT:
		outbuf_put(b, f, (size_t)fmt_py_float(v->f, f));
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
	e->cs = col_scratch_new(o->schema);
	if (!e->cs) {
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
	free(e->cs);
	free(e->path_buf);
	free(e);
	return err;
}

/* Replace @v by the keyed BLAKE2b-512 hex digest of its Python str(). */
static void anonymise(struct exporter *e, struct col_value *v)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char h[crypto_generichash_BYTES_MAX];

	e->scratch.len = 0;
	cell_py_str(&e->scratch, v);
	crypto_generichash(h, sizeof(h), (const unsigned char *)e->scratch.buf, e->scratch.len,
			   e->key, sizeof(e->key));
	for (size_t i = 0; i < sizeof(h); i++) {
		e->hex[2 * i] = hx[h[i] >> 4];
		e->hex[2 * i + 1] = hx[h[i] & 15];
	}
	e->hex[2 * sizeof(h)] = '\0';
	v->kind = COL_STR;
	v->s = e->hex;
}

int exporter_write(struct exporter *e, const struct flow_record *r)
{
	const struct schema *s = e->o.schema;
	struct col_value v;

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
	e->ops->row_begin(&e->out);
	for (size_t i = 0; i < s->n; i++) {
		col_get(&s->cols[i], r, &v, e->cs);
		if (e->o.anonymize && e->o.anonymize[i])
			anonymise(e, &v);
		e->ops->cell(&e->out, &s->cols[i], i, &v);
	}
	e->ops->row_end(&e->out);
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
	free(e->scratch.buf);
	free(e->cs);
	free(e->path_buf);
	free(e);
	return err;
}
