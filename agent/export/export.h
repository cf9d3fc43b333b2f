/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Flow record export.  An exporter owns its output (stdout, a file, or a
 * series of chunk files with --flows-per-file/--rotate-files), writes each
 * flow as soon as it expires (buffered, flushed at 64 KiB and on request),
 * applies keyed BLAKE2b anonymisation to chosen columns, and accounts every
 * flow it could not write.  Formats plug in through struct export_format_ops.
 */
#ifndef FLOWSIGHT_EXPORT_H
#define FLOWSIGHT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export/columns.h"

enum export_format { EXPORT_CSV, EXPORT_JSONL };

struct outbuf {
	char *buf;
	size_t len, cap;
};

/* Append helpers used by the format implementations. */
void outbuf_put(struct outbuf *b, const char *s, size_t n);
static inline void outbuf_putc(struct outbuf *b, char c)
{
	if (b->len == b->cap)
		outbuf_put(b, &c, 1);
	else
		b->buf[b->len++] = c;
}
void outbuf_puts(struct outbuf *b, const char *s);
void outbuf_int(struct outbuf *b, int64_t v);
/* "[a<sep>b<sep>c]" */
void outbuf_list(struct outbuf *b, const int64_t *list, size_t n, const char *sep);
/* The non-ASCII byte at *@s: its whole UTF-8 sequence copied to @p, or
 * nothing if it is not valid (both writers drop those, as
 * bytes.decode("utf-8", "ignore")); *@s moves past what was read.
 * Returns the end of the copy. */
char *utf8_copy(char *p, const char **s);

/*
 * A format, as what exporter_open() compiles a row plan from: the constant
 * text before each value (separator, JSON key), how strings are quoted,
 * and the text around lists.  Addresses are written as "text", numbers
 * bare, lists as <list_open>a<list_sep>b<list_close>.
 */
#define EXPORT_PREFIX_MAX 256

struct export_format_ops {
	const char *name;
	void (*header)(struct outbuf *b, const struct schema *s);
	/* The text before column @c's value (at index @idx) into @buf, which
	 * has room for EXPORT_PREFIX_MAX bytes; returns its length. */
	size_t (*cell_prefix)(char *buf, const struct column *c, size_t idx);
	/* @s (@n bytes before its NUL) quoted and escaped at @p, which has room
	 * for @n * string_expansion + 2 bytes; returns the end of the text. */
	char *(*string)(char *p, const char *s, size_t n);
	unsigned int string_expansion;
	const char *row_begin, *row_end;
	const char *list_open, *list_sep, *list_close;
	const char *null_text; /* a plugin's None */
};

extern const struct export_format_ops export_csv_ops;
extern const struct export_format_ops export_jsonl_ops;

/*
 * fmt_py_float()'s text, byte for byte, computed with exact integer
 * arithmetic instead of printf and strtod for 1e-5 <= |d| < 2^53 and
 * zero (the export hot path); other values go to fmt_py_float().
 */
int fmt_py_float_fast(double d, char *buf);

/* Python str() of a value (what NFStream hashes when anonymising). */
void cell_py_str(struct outbuf *b, const struct col_value *v);

struct export_opts {
	const char *path; /* NULL or "-": standard output */
	enum export_format format;
	uint64_t flows_per_file; /* 0: one output */
	uint64_t rotate_files;   /* 0: no rotation */
	const struct schema *schema;
	const bool *anonymize;   /* per schema column, or NULL */
};

struct exporter;

/* Open the first output (with its header).  0 or -errno (logged). */
int exporter_open(const struct export_opts *o, struct exporter **out);
/* Queue one flow.  0, or -errno once the output has failed (the flow is
 * then counted as not written). */
int exporter_write(struct exporter *e, const struct flow_record *r);

/*
 * Rows formatted on another thread.  exporter_fmt_new() gives the scratch
 * state one more thread formats with (NULL when rows cannot be moved:
 * --flows-per-file counts them into files one by one); exporter_format()
 * appends row @r to @out, reading only what exporter_open() set, so it may
 * run beside exporter_write(); exporter_write_rows() outputs @n such rows
 * as exporter_write() would have, in the order it is called.
 */
struct row_fmt;
struct row_fmt *exporter_fmt_new(const struct exporter *e);
void exporter_fmt_free(struct row_fmt *f);
void exporter_format(const struct exporter *e, struct row_fmt *f, struct outbuf *out,
		     const struct flow_record *r);
int exporter_write_rows(struct exporter *e, const struct outbuf *rows, uint64_t n);
/* Push buffered rows to the output.  0 or -errno. */
int exporter_flush(struct exporter *e);
/* Flush, then write to the output's path opened anew (logrotate moved the
 * file: a new one with its header; else appended to).  A path that cannot
 * be opened is logged and the file open before is kept.  0 or -errno. */
int exporter_reopen(struct exporter *e);
/* Flush and close; returns the first error seen.  Frees @e. */
int exporter_close(struct exporter *e, uint64_t *written, uint64_t *failed);

#endif
