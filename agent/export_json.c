// SPDX-License-Identifier: GPL-2.0-only
/*
 * JSON lines: one object per flow with the CSV's names, in the same order,
 * and native types (integers, floats in Python repr, strings, arrays).
 * Strings are escaped per RFC 8259; control bytes become \u00XX.
 */
#include "export.h"

static void json_header(struct outbuf *b, const struct schema *s)
{
	(void)b;
	(void)s;
}

static void json_row_begin(struct outbuf *b)
{
	outbuf_putc(b, '{');
}

static void json_string(struct outbuf *b, const char *s)
{
	static const char hx[] = "0123456789abcdef";

	outbuf_putc(b, '"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			outbuf_putc(b, '\\');
			outbuf_putc(b, (char)ch);
		} else if (ch < 0x20) {
			char esc[6] = { '\\', 'u', '0', '0', hx[ch >> 4], hx[ch & 15] };

			outbuf_put(b, esc, sizeof(esc));
		} else {
			outbuf_putc(b, (char)ch);
		}
	}
	outbuf_putc(b, '"');
}

static void json_cell(struct outbuf *b, const struct column *c, size_t idx, const struct col_value *v)
{
	if (idx)
		outbuf_putc(b, ',');
	json_string(b, c->name);
	outbuf_putc(b, ':');
	switch (v->kind) {
	case COL_INT:
	case COL_FLOAT:
		cell_py_str(b, v);
		break;
	case COL_STR:
		json_string(b, v->s);
		break;
	case COL_LIST:
		outbuf_list(b, v->list, v->n, ",");
		break;
	}
}

static void json_row_end(struct outbuf *b)
{
	outbuf_put(b, "}\n", 2);
}

const struct export_format_ops export_jsonl_ops = {
	.name = "jsonl",
	.header = json_header,
	.row_begin = json_row_begin,
	.cell = json_cell,
	.row_end = json_row_end,
};
