// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's CSV dialect (spec §1.5): unquoted header, ints and floats as
 * Python str(), strings and lists double-quoted with '"' escaped as '\"'
 * (backslash, not RFC 4180 doubling), '\n' line ends.  Strings are UTF-8
 * with invalid bytes dropped, as NFStream's own strings always are.  The
 * dialect cannot carry a string that ends in a backslash: NFStream writes
 * a\ as "a\" and no reader can tell where that cell ends; we write the
 * same bytes (tests/unit/test_export.c pins them).
 */
#include <string.h>

#include "export.h"

static void csv_header(struct outbuf *b, const struct schema *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			outbuf_putc(b, ',');
		outbuf_puts(b, s->cols[i].name);
	}
	outbuf_putc(b, '\n');
}

static void csv_row_begin(struct outbuf *b)
{
	(void)b;
}

/* Runs of plain ASCII go out in one copy; quotes get their backslash and
 * invalid UTF-8 is dropped (pandas reads the file as strict UTF-8). */
static void csv_quoted(struct outbuf *b, const char *s)
{
	const char *run = s;

	outbuf_putc(b, '"');
	while (*s) {
		unsigned char ch = (unsigned char)*s;
		size_t n;

		if (ch != '"' && ch < 0x80) {
			s++;
			continue;
		}
		outbuf_put(b, run, (size_t)(s - run));
		if (ch == '"') {
			outbuf_put(b, "\\\"", 2);
			s++;
		} else {
			n = utf8_seq_len(s);
			outbuf_put(b, s, n);
			s += n ? n : 1;
		}
		run = s;
	}
	outbuf_put(b, run, (size_t)(s - run));
	outbuf_putc(b, '"');
}

static void csv_cell(struct outbuf *b, const struct column *c, size_t idx, const struct col_value *v)
{
	(void)c;
	if (idx)
		outbuf_putc(b, ',');
	switch (v->kind) {
	case COL_INT:
	case COL_FLOAT:
		cell_py_str(b, v);
		break;
	case COL_STR:
		csv_quoted(b, v->s);
		break;
	case COL_LIST:
		outbuf_putc(b, '"');
		cell_py_str(b, v);
		outbuf_putc(b, '"');
		break;
	}
}

static void csv_row_end(struct outbuf *b)
{
	outbuf_putc(b, '\n');
}

const struct export_format_ops export_csv_ops = {
	.name = "csv",
	.header = csv_header,
	.row_begin = csv_row_begin,
	.cell = csv_cell,
	.row_end = csv_row_end,
};
