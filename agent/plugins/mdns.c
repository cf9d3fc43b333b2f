// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's MDNS plugin (nfstream/plugins/mdns.py) in C.  Every packet of
 * a flow whose dst_port is 5353 is read as dpkt reads DNS (every section,
 * names decompressed), and the names of its PTR answers, commas replaced
 * by spaces, are added in order to the flow's list unless already there.
 * NFStream's value is a Python list of str, written by to_csv as its str();
 * udps.mdns_ptr is that text: "['skynet.local', '_mpd._tcp.local']", "[]"
 * before any answer.
 *
 * A packet dpkt cannot unpack is ignored whole, as NFStream ignores
 * UnpackError: too short, a bad label or compression pointer (a pointer
 * must point before the name it continues), a name over 255 bytes, a record
 * type dpkt does not know (only A, NS, CNAME, SOA, NULL, PTR, HINFO, MX,
 * TXT, AAAA, SRV and OPT), and so are those on which NFStream itself fails
 * (a name or TXT string that is not UTF-8, a record cut short).  Python's
 * repr() escapes the characters str.isprintable() rejects: py_unprintable.h
 * is Python 3.11's table of them (tools/gen_py_unprintable.py).
 *
 *   --plugin build/plugins/mdns.so
 */
#include <stdbool.h>

#include "nfplugin.h"
#include "py_unprintable.h"

struct mdns_flow {
	bool watch; /* its dst_port is 5353 */
};

static int mdns_init(const char *config, void **state, char *err, size_t n)
{
	(void)state;
	return nfp_parse("MDNS", config, NULL, 0, err, n);
}

/* ---- dpkt.dns --------------------------------------------------------------- */

/*
 * dpkt's unpack_name(): the name at *@off into @out (255 bytes and a NUL
 * at most), *@off past it (past the first pointer when there is one).
 * -1 where dpkt raises, or the name is not UTF-8 (NFStream fails).
 */
static int unpack_name(const uint8_t *b, size_t n, size_t *off, char *out)
{
	size_t o = *off, start = o, saved = 0, name_len = 0, w = 0;

	for (;;) {
		uint8_t c;

		if (o >= n)
			return -1;
		c = b[o];
		if (!c) {
			o++;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (o + 2 > n)
				return -1;
			ptr = nfp_be16(b + o) & 0x3fff;
			if (ptr >= start) /* only backwards: no loop */
				return -1;
			o += 2;
			if (!saved)
				saved = o;
			start = o = ptr;
		} else if (!(c & 0xc0)) {
			o++;
			name_len += (size_t)c + 1;
			if (name_len > 255 || o + c > n) /* too long; cut short (dpkt's NeedData next) */
				return -1;
			if (w)
				out[w++] = '.';
			memcpy(out + w, b + o, c);
			w += c;
			o += c;
		} else {
			return -1;
		}
	}
	out[w] = '\0';
	if (!nfp_utf8_valid((const uint8_t *)out, w))
		return -1;
	*off = saved ? saved : o;
	return 0;
}

/* A record's data as dpkt's unpack_rdata() reads it; -1 where it raises. */
static int unpack_rdata(const uint8_t *b, size_t n, size_t off, unsigned int type, size_t rdlen,
			char *name)
{
	size_t avail = off + rdlen <= n ? rdlen : n - off, o = off;
	const uint8_t *rd = b + off;

	switch (type) {
	case 1:  /* A */
	case 10: /* NULL */
	case 28: /* AAAA */
	case 41: /* OPT */
		return 0;
	case 2:  /* NS */
	case 5:  /* CNAME */
	case 12: /* PTR */
		return unpack_name(b, n, &o, name);
	case 6: /* SOA: two names, then five 32-bit numbers */
		if (unpack_name(b, n, &o, name) || unpack_name(b, n, &o, name))
			return -1;
		return o + 20 <= n ? 0 : -1;
	case 15: /* MX */
		o += 2;
		return avail < 2 ? -1 : unpack_name(b, n, &o, name);
	case 33: /* SRV */
		o += 6;
		return avail < 6 ? -1 : unpack_name(b, n, &o, name);
	case 13: /* HINFO */
	case 16: /* TXT: strings, each UTF-8 */
		while (avail) {
			size_t l = rd[0] < avail - 1 ? rd[0] : avail - 1;

			if (!nfp_utf8_valid(rd + 1, l))
				return -1;
			rd += 1 + l;
			avail -= 1 + l;
		}
		return 0;
	default: /* "RR type %s is not supported" */
		return -1;
	}
}

/*
 * dpkt.dns.DNS(@b): 0 when the whole message unpacks.  With @f, the names
 * of its PTR answers are added to the flow's list (the message was checked
 * before).
 */
static void add_ptr(struct fs_flow *f, const char *name);

static int unpack_dns(const uint8_t *b, size_t n, struct fs_flow *f)
{
	char name[256];
	size_t off = 12;
	unsigned int count[4];

	if (n < 12)
		return -1;
	for (int i = 0; i < 4; i++)
		count[i] = nfp_be16(b + 4 + 2 * i);
	for (unsigned int q = 0; q < count[0]; q++) {
		if (unpack_name(b, n, &off, name) || off + 4 > n)
			return -1;
		off += 4;
	}
	for (int sec = 1; sec < 4; sec++) {
		for (unsigned int r = 0; r < count[sec]; r++) {
			unsigned int type;
			size_t rdlen;

			if (unpack_name(b, n, &off, name) || off + 10 > n)
				return -1;
			type = nfp_be16(b + off);
			rdlen = nfp_be16(b + off + 8);
			off += 10;
			if (unpack_rdata(b, n, off, type, rdlen, name))
				return -1;
			if (f && sec == 1 && type == 12)
				add_ptr(f, name);
			off += rdlen;
		}
		if (f && sec == 1)
			break; /* the answers were all it needed */
	}
	return 0;
}

/* ---- Python's str() of a list of str ------------------------------------------ */

/* str.isprintable() of a code point from U+0080 up (Python 3.11's table). */
static bool printable(uint32_t c)
{
	size_t lo = 0, hi = sizeof(py_unprintable) / sizeof(py_unprintable[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c < py_unprintable[mid][0])
			hi = mid;
		else if (c > py_unprintable[mid][1])
			lo = mid + 1;
		else
			return false;
	}
	return true;
}

/* repr(@s) (valid UTF-8) into @out (room for 4 * strlen(s) + 3); its length. */
static size_t py_repr(const char *s, char *out)
{
	const uint8_t *p = (const uint8_t *)s;
	char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
	size_t o = 0;

	out[o++] = q;
	while (*p) {
		uint32_t c = *p;
		size_t k = 1;

		if (c >= 0xf0) {
			c = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
			    (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			k = 4;
		} else if (c >= 0xe0) {
			c = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			k = 3;
		} else if (c >= 0x80) {
			c = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			k = 2;
		}
		if (c == (uint32_t)q || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\t' || c == '\n' || c == '\r') {
			out[o++] = '\\';
			out[o++] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)sprintf(out + o, "\\x%02x", c);
		} else if (c < 0x80 || printable(c)) {
			memcpy(out + o, p, k);
			o += k;
		} else {
			o += (size_t)sprintf(out + o, c <= 0xff ? "\\x%02x" : c <= 0xffff ? "\\u%04x" :
					     "\\U%08x", c);
		}
		p += k;
	}
	out[o++] = q;
	out[o] = '\0';
	return o;
}

/* Whether the list text @list ("[...]", made here) holds the item whose repr is @r. */
static bool listed(const char *list, const char *r, size_t rlen)
{
	const char *p = list + 1;

	while (*p == '\'' || *p == '"') {
		const char *e = p + 1;

		while (*e && *e != *p)
			e += *e == '\\' && e[1] ? 2 : 1;
		if (!*e)
			return false;
		if ((size_t)(e + 1 - p) == rlen && !memcmp(p, r, rlen))
			return true;
		p = e + 1;
		if (*p == ',')
			p += 2;
	}
	return false;
}

static void add_ptr(struct fs_flow *f, const char *name)
{
	char item[256], r[4 * 255 + 3], *list;
	struct fs_value v;
	size_t rlen;

	/* answer.ptrname.replace(',', ' ') */
	snprintf(item, sizeof(item), "%s", name);
	for (char *c = item; (c = strchr(c, ',')); c++)
		*c = ' ';
	rlen = py_repr(item, r);
	if (fs_flow_get_udp(f, 0, &v) || v.is_null || v.len < 2 || listed(v.s, r, rlen))
		return;
	list = malloc(v.len + 2 + rlen + 1);
	if (!list)
		return;
	memcpy(list, v.s, v.len - 1);
	sprintf(list + v.len - 1, "%s%s]", v.len > 2 ? ", " : "", r);
	fs_flow_set_str(f, 0, list);
	free(list);
}

/* ---- the plugin ------------------------------------------------------------------ */

static void mdns_update(const struct fs_packet *p, struct fs_flow *f, const struct mdns_flow *st)
{
	const uint8_t *d;
	size_t n;

	if (!st->watch || nfp_l4_payload(p->ip_packet, p->ip_packet_len, &d, &n))
		return;
	if (unpack_dns(d, n, NULL) == 0)
		unpack_dns(d, n, f);
}

static void mdns_on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	struct mdns_flow *st = fs_flow_state(f);

	(void)state;
	st->watch = p->dst_port == 5353; /* the first packet gives the flow its dst_port */
	fs_flow_set_str(f, 0, "[]");
	mdns_update(p, f, st);
}

static void mdns_on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)state;
	mdns_update(p, f, fs_flow_state(f));
}

static const struct fs_plugin_column columns[] = {
	{ "mdns_ptr", FS_STR },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.name = "MDNS",
	.columns = columns,
	.n_columns = 1,
	.flow_state_bytes = sizeof(struct mdns_flow),
	.init = mdns_init,
	.on_init = mdns_on_init,
	.on_update = mdns_on_update,
};
