/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the C ports of NFStream's shipped plugins (header
 * only: each plugin is one shared object).  Their constructor arguments
 * come as "key=value,..." and are checked as strictly as NFStreamer checks
 * its own; their packet parsing follows dpkt (which NFStream's DHCP and
 * MDNS plugins use), where a packet that makes dpkt raise is ignored, as
 * NFStream ignores dpkt's UnpackError.  Nothing here reads past the bytes
 * it is given.
 */
#ifndef FLOWSIGHT_NFPLUGIN_H
#define FLOWSIGHT_NFPLUGIN_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowsight/plugin.h"

/* ---- constructor arguments ----------------------------------------------- */

struct nfp_arg {
	const char *name;
	int64_t min, max;
	int64_t value;   /* the default, then the value given */
	int required;
	int given;       /* set by nfp_parse */
};

static inline int nfp_err(char *err, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static inline int nfp_err(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Parse @config ("key=value,...", integers in decimal) into @args (@n of
 * them).  @plugin names the plugin in the reasons ("SPLT: ...").
 */
static inline int nfp_parse(const char *plugin, const char *config, struct nfp_arg *args,
			    size_t n, char *err, size_t en)
{
	const char *s = config ? config : "";

	while (*s) {
		const char *end = strchr(s, ','), *eq;
		size_t len = end ? (size_t)(end - s) : strlen(s), klen;
		struct nfp_arg *a = NULL;
		char val[32], *stop;
		long long v;

		eq = memchr(s, '=', len);
		if (!len)
			return nfp_err(err, en, "%s: an empty parameter in '%s'", plugin, config);
		klen = eq ? (size_t)(eq - s) : len;
		for (size_t i = 0; i < n; i++)
			if (strlen(args[i].name) == klen && !memcmp(args[i].name, s, klen))
				a = &args[i];
		if (!a) {
			char names[160] = "";

			for (size_t i = 0; i < n; i++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
					 i ? ", " : "", args[i].name);
			return nfp_err(err, en, "%s: unknown parameter '%.*s' (%s%s)", plugin,
				       (int)(klen > 40 ? 40 : klen), s, n ? "it takes " : "it takes none",
				       names);
		}
		if (!eq)
			return nfp_err(err, en, "%s: parameter %s needs a value (%s=N)", plugin,
				       a->name, a->name);
		if (a->given)
			return nfp_err(err, en, "%s: parameter %s is given twice", plugin, a->name);
		len -= klen + 1;
		if (len >= sizeof(val))
			return nfp_err(err, en, "%s: the value of %s is too long", plugin, a->name);
		memcpy(val, eq + 1, len);
		val[len] = '\0';
		errno = 0;
		v = strtoll(val, &stop, 10);
		if (!val[0] || *stop || errno || val[0] == '+' || val[0] == ' ' || v < a->min ||
		    v > a->max)
			return nfp_err(err, en, "%s: %s must be an integer from %lld to %lld, not '%s'",
				       plugin, a->name, (long long)a->min, (long long)a->max, val);
		a->value = v;
		a->given = 1;
		s = end ? end + 1 : s + strlen(s);
		if (end && !*s)
			return nfp_err(err, en, "%s: an empty parameter in '%s'", plugin, config);
	}
	for (size_t i = 0; i < n; i++)
		if (args[i].required && !args[i].given)
			return nfp_err(err, en, "%s: parameter %s is required (%s=N)", plugin,
				       args[i].name, args[i].name);
	return 0;
}

/* ---- dpkt's view of NFPacket.ip_packet ------------------------------------ */

static inline unsigned int nfp_be16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

/*
 * dpkt.ip.IP(ip_packet).data.data: the UDP payload (after 8 bytes) or the
 * TCP payload (after its data offset) of @ip (@n bytes), IPv4 header
 * rules whatever the version nibble, as dpkt reads it: the payload ends at
 * the IP total length (or at the end of the capture when that is 0 or
 * beyond it).  0, or -1 where dpkt raises or gives no transport object
 * (NFStream then ignores the packet or fails): too short, header length
 * under 20, a fragment, another protocol.
 */
static inline int nfp_l4_payload(const uint8_t *ip, size_t n, const uint8_t **out,
				 size_t *out_n)
{
	size_t hl, end, tot, doff;
	uint8_t proto;

	if (!ip || n < 20)
		return -1;
	hl = (size_t)(ip[0] & 0x0f) * 4;
	tot = nfp_be16(ip + 2);
	end = tot && tot < n ? tot : n;
	if (hl < 20 || hl >= end || (nfp_be16(ip + 6) & 0x1fff))
		return -1;
	proto = ip[9];
	ip += hl;
	n = end - hl;
	switch (proto) {
	case 17:
		if (n < 8)
			return -1;
		*out = ip + 8;
		*out_n = n - 8;
		return 0;
	case 6:
		if (n < 20)
			return -1;
		doff = (size_t)(ip[12] >> 4) * 4;
		if (doff < 20)
			return -1;
		if (doff > n)
			doff = n;
		*out = ip + doff;
		*out_n = n - doff;
		return 0;
	default:
		return -1;
	}
}

/* ---- UTF-8 as Python decodes it -------------------------------------------- */

/* Length of the valid sequence at @s (@n bytes left), or 0 (Python's strict rules). */
static inline size_t nfp_utf8_seq(const uint8_t *s, size_t n, size_t *maximal)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*maximal = 1;
	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf)
		need = 2;
	else if (b >= 0xe0 && b <= 0xef)
		need = 3;
	else if (b >= 0xf0 && b <= 0xf4)
		need = 4;
	else
		return 0;
	if (b == 0xe0)
		lo = 0xa0;
	else if (b == 0xed)
		hi = 0x9f;
	else if (b == 0xf0)
		lo = 0x90;
	else if (b == 0xf4)
		hi = 0x8f;
	for (i = 1; i < need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return 0;
		*maximal = i + 1;
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

/* bytes.decode('utf-8') succeeds */
static inline int nfp_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0, m, k;

	while (i < n) {
		k = nfp_utf8_seq(s + i, n - i, &m);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

/*
 * bytes.decode('utf-8', errors='replace') into @out (room for 3 * @n + 1
 * bytes): each maximal ill-formed subpart becomes one U+FFFD.  Returns the
 * length written.
 */
static inline size_t nfp_utf8_replace(const uint8_t *s, size_t n, char *out)
{
	size_t i = 0, o = 0, m, k;

	while (i < n) {
		k = nfp_utf8_seq(s + i, n - i, &m);
		if (k) {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += m;
		}
	}
	out[o] = '\0';
	return o;
}

#endif
