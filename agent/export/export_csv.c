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

#include "export/export.h"

static void csv_header(struct outbuf *b, const struct schema *s)
{
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			outbuf_putc(b, ',');
		outbuf_puts(b, s->cols[i].name);
	}
	outbuf_putc(b, '\n');
}

/* The separator: cells are numbers or quoted strings, keys are in the header. */
static size_t csv_cell_prefix(char *buf, const struct column *c, size_t idx)
{
	(void)c;
	if (!idx)
		return 0;
	buf[0] = ',';
	return 1;
}

/* Quotes get their backslash and invalid UTF-8 is dropped (pandas reads the
 * file as strict UTF-8); at most two bytes out per byte in. */
static char *csv_string(char *p, const char *s, size_t n)
{
	const char *end = s + n;

	*p++ = '"';
	while (s < end) {
		unsigned char ch = (unsigned char)*s;

		if (ch != '"' && ch < 0x80) {
			*p++ = (char)ch;
			s++;
		} else if (ch == '"') {
			*p++ = '\\';
			*p++ = '"';
			s++;
		} else {
			p = utf8_copy(p, &s);
		}
	}
	*p++ = '"';
	return p;
}

const struct export_format_ops export_csv_ops = {
	.name = "csv",
	.header = csv_header,
	.cell_prefix = csv_cell_prefix,
	.string = csv_string,
	.string_expansion = 2,
	.row_begin = "",
	.row_end = "\n",
	.list_open = "\"[",
	.list_sep = ", ",
	.list_close = "]\"",
	.null_text = "",
};
