// SPDX-License-Identifier: GPL-2.0-only
/*
 * JSON lines: one object per flow with the CSV's names, in the same order,
 * and native types (integers, floats in Python repr, strings, arrays).
 * Strings are escaped per RFC 8259; control bytes become \u00XX and
 * invalid UTF-8 is dropped (utf8_seq_len(), shared with the CSV writer).
 */
#include "export.h"

static void json_header(struct outbuf *b, const struct schema *s)
{
	(void)b;
	(void)s;
}

size_t utf8_seq_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
		hi = s[0] == 0xed ? 0x9f : 0xbf; /* no surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	/* Stops at the first bad byte, so never reads past a NUL. */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
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
		} else if (ch < 0x80) {
			outbuf_putc(b, (char)ch);
		} else {
			/* RFC 8259 text is UTF-8: invalid bytes (a process's
			 * cmdline or exe may hold any) are dropped. */
			size_t n = utf8_seq_len(s);

			outbuf_put(b, s, n);
			if (n)
				s += n - 1;
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
