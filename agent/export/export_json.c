// SPDX-License-Identifier: GPL-2.0-only
/*
 * JSON lines: one object per flow with the CSV's names, in the same order,
 * and native types (integers, floats in Python repr, strings, arrays).
 * Strings are escaped per RFC 8259; control bytes become \u00XX and
 * invalid UTF-8 is dropped (utf8_copy(), shared with the CSV writer).
 */
#include <string.h>

#include "export/export.h"

static void json_header(struct outbuf *b, const struct schema *s)
{
	(void)b;
	(void)s;
}

/* Length (1..4) of the valid UTF-8 sequence at @str, 0 if it starts with an
 * invalid byte. */
static size_t utf8_seq_len(const char *str)
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

char *utf8_copy(char *p, const char **s)
{
	size_t len = utf8_seq_len(*s);

	memcpy(p, *s, len);
	*s += len ? len : 1;
	return p + len;
}

/* RFC 8259 escaping: at most six bytes out (\u00XX) per byte in. */
static char *json_string(char *p, const char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	const char *end = s + n;

	*p++ = '"';
	while (s < end) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
			*p++ = (char)ch;
			s++;
		} else if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = (char)ch;
			s++;
		} else if (ch < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = hx[ch >> 4];
			p[5] = hx[ch & 15];
			p += 6;
			s++;
		} else {
			/* RFC 8259 text is UTF-8: invalid bytes (a process's
			 * cmdline or exe may hold any) are dropped. */
			p = utf8_copy(p, &s);
		}
	}
	*p++ = '"';
	return p;
}

/* The separator and the column's key. */
static size_t json_cell_prefix(char *buf, const struct column *c, size_t idx)
{
	char *p = buf;

	if (idx)
		*p++ = ',';
	p = json_string(p, c->name, strnlen(c->name, sizeof(c->name)));
	*p++ = ':';
	return (size_t)(p - buf);
}

const struct export_format_ops export_jsonl_ops = {
	.name = "jsonl",
	.header = json_header,
	.cell_prefix = json_cell_prefix,
	.string = json_string,
	.string_expansion = 6,
	.row_begin = "{",
	.row_end = "}\n",
	.list_open = "[",
	.list_sep = ",",
	.list_close = "]",
	.null_text = "null",
};
