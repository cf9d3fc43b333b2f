// SPDX-License-Identifier: GPL-2.0-only
/*
 * Column schema and typed values.  The per-scope statistics columns are
 * generated from three small name tables so the 48 names cannot drift from
 * their fields.  fmt_py_float() reproduces Python's float repr so floats
 * read back to the same double NFStream wrote.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "columns.h"

static const char *const scope_name[FLOW_NSCOPES] = { "bidirectional", "src2dst", "dst2src" };
static const char *const flag_name[8] = { "syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin" };

struct schema_builder {
	struct schema *s;
	size_t cap;
	int err;
};

static void add(struct schema_builder *b, const char *name, enum col_field f, enum col_kind k,
		uint8_t scope, uint8_t param)
{
	struct column *c;

	if (b->err)
		return;
	if (b->s->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;
		struct column *nc = realloc(b->s->cols, cap * sizeof(*nc));

		if (!nc) {
			b->err = -ENOMEM;
			return;
		}
		b->s->cols = nc;
		b->cap = cap;
	}
	c = &b->s->cols[b->s->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->field = f;
	c->kind = k;
	c->scope = scope;
	c->param = param;
}

static void add_scoped(struct schema_builder *b, uint8_t scope, const char *suffix,
		       enum col_field f, enum col_kind k, uint8_t param)
{
	char name[40];

	snprintf(name, sizeof(name), "%s_%s", scope_name[scope], suffix);
	add(b, name, f, k, scope, param);
}

int schema_init(struct schema *s, const struct column_opts *o)
{
	struct schema_builder b = { .s = s };

	memset(s, 0, sizeof(*s));
	s->splt = o->splt;
	add(&b, "id", CF_ID, COL_INT, 0, 0);
	add(&b, "expiration_id", CF_EXPIRATION_ID, COL_INT, 0, 0);
	add(&b, "src_ip", CF_SRC_IP, COL_STR, 0, 0);
	add(&b, "src_mac", CF_SRC_MAC, COL_STR, 0, 0);
	add(&b, "src_oui", CF_SRC_OUI, COL_STR, 0, 0);
	add(&b, "src_port", CF_SRC_PORT, COL_INT, 0, 0);
	add(&b, "dst_ip", CF_DST_IP, COL_STR, 0, 0);
	add(&b, "dst_mac", CF_DST_MAC, COL_STR, 0, 0);
	add(&b, "dst_oui", CF_DST_OUI, COL_STR, 0, 0);
	add(&b, "dst_port", CF_DST_PORT, COL_INT, 0, 0);
	add(&b, "protocol", CF_PROTOCOL, COL_INT, 0, 0);
	add(&b, "ip_version", CF_IP_VERSION, COL_INT, 0, 0);
	add(&b, "vlan_id", CF_VLAN_ID, COL_INT, 0, 0);
	if (o->decode_tunnels)
		add(&b, "tunnel_id", CF_TUNNEL_ID, COL_INT, 0, 0);
	for (uint8_t sc = 0; sc < FLOW_NSCOPES; sc++) {
		add_scoped(&b, sc, "first_seen_ms", CF_FIRST_SEEN, COL_INT, 0);
		add_scoped(&b, sc, "last_seen_ms", CF_LAST_SEEN, COL_INT, 0);
		add_scoped(&b, sc, "duration_ms", CF_DURATION, COL_INT, 0);
		add_scoped(&b, sc, "packets", CF_PACKETS, COL_INT, 0);
		add_scoped(&b, sc, "bytes", CF_BYTES, COL_INT, 0);
	}
	if (o->statistics) {
		for (uint8_t sc = 0; sc < FLOW_NSCOPES; sc++) {
			add_scoped(&b, sc, "min_ps", CF_MIN_PS, COL_INT, 0);
			add_scoped(&b, sc, "mean_ps", CF_MEAN_PS, COL_FLOAT, 0);
			add_scoped(&b, sc, "stddev_ps", CF_STDDEV_PS, COL_FLOAT, 0);
			add_scoped(&b, sc, "max_ps", CF_MAX_PS, COL_INT, 0);
		}
		for (uint8_t sc = 0; sc < FLOW_NSCOPES; sc++) {
			add_scoped(&b, sc, "min_piat_ms", CF_MIN_PIAT, COL_INT, 0);
			add_scoped(&b, sc, "mean_piat_ms", CF_MEAN_PIAT, COL_FLOAT, 0);
			add_scoped(&b, sc, "stddev_piat_ms", CF_STDDEV_PIAT, COL_FLOAT, 0);
			add_scoped(&b, sc, "max_piat_ms", CF_MAX_PIAT, COL_INT, 0);
		}
		for (uint8_t sc = 0; sc < FLOW_NSCOPES; sc++) {
			for (uint8_t fl = 0; fl < 8; fl++) {
				char suffix[24];

				snprintf(suffix, sizeof(suffix), "%s_packets", flag_name[fl]);
				add_scoped(&b, sc, suffix, CF_FLAG, COL_INT, fl);
			}
		}
	}
	if (o->splt) {
		add(&b, "splt_direction", CF_SPLT_DIRECTION, COL_LIST, 0, 0);
		add(&b, "splt_ps", CF_SPLT_PS, COL_LIST, 0, 0);
		add(&b, "splt_piat_ms", CF_SPLT_PIAT, COL_LIST, 0, 0);
		for (size_t i = s->n - 3; i < s->n && !b.err; i++)
			s->cols[i].len = o->splt;
	}
	if (o->l7) {
		add(&b, "application_name", CF_APP_NAME, COL_STR, 0, 0);
		add(&b, "application_category_name", CF_APP_CATEGORY, COL_STR, 0, 0);
		add(&b, "application_is_guessed", CF_APP_GUESSED, COL_INT, 0, 0);
		add(&b, "application_confidence", CF_APP_CONFIDENCE, COL_INT, 0, 0);
		add(&b, "requested_server_name", CF_SERVER_NAME, COL_STR, 0, 0);
		add(&b, "client_fingerprint", CF_CLIENT_FP, COL_STR, 0, 0);
		add(&b, "server_fingerprint", CF_SERVER_FP, COL_STR, 0, 0);
		add(&b, "user_agent", CF_USER_AGENT, COL_STR, 0, 0);
		add(&b, "content_type", CF_CONTENT_TYPE, COL_STR, 0, 0);
		if (o->ja4)
			add(&b, "client_fingerprint_ja4", CF_JA4, COL_STR, 0, 0);
	}
	if (o->system_visibility >= 1) {
		add(&b, "system_process_pid", CF_PROC_PID, COL_INT, 0, 0);
		add(&b, "system_process_name", CF_PROC_NAME, COL_STR, 0, 0);
	}
	if (o->system_visibility >= 2) {
		add(&b, "system_process_ppid", CF_PROC_PPID, COL_INT, 0, 0);
		add(&b, "system_process_uid", CF_PROC_UID, COL_INT, 0, 0);
		add(&b, "system_process_user", CF_PROC_USER, COL_STR, 0, 0);
		add(&b, "system_process_exe", CF_PROC_EXE, COL_STR, 0, 0);
		add(&b, "system_process_cmdline", CF_PROC_CMDLINE, COL_STR, 0, 0);
		add(&b, "system_process_start_ms", CF_PROC_START, COL_INT, 0, 0);
		add(&b, "system_cgroup_id", CF_CGROUP_ID, COL_INT, 0, 0);
		add(&b, "system_container_id", CF_CONTAINER_ID, COL_STR, 0, 0);
		add(&b, "system_attribution", CF_ATTRIBUTION, COL_STR, 0, 0);
		add(&b, "system_process_others", CF_PROC_OTHERS, COL_INT, 0, 0);
	}
	if (b.err) {
		schema_release(s);
		return b.err;
	}
	return 0;
}

void schema_release(struct schema *s)
{
	free(s->cols);
	s->cols = NULL;
	s->n = 0;
}

int schema_find(const struct schema *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->cols[i].name, name))
			return (int)i;
	return -1;
}

struct col_scratch *col_scratch_new(const struct schema *s)
{
	return calloc(1, sizeof(struct col_scratch) + (size_t)(s->splt ? s->splt : 1) * sizeof(int64_t));
}

static void mac_str(const uint8_t m[6], char *out, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	size_t n = len > 18 ? 17 : len - 1;

	for (size_t i = 0, j = 0; j < n; i++) {
		out[j++] = hx[m[i] >> 4];
		if (j < n)
			out[j++] = hx[m[i] & 15];
		if (j < n)
			out[j++] = ':';
	}
	out[n] = '\0';
}

/* inet_ntop(AF_INET)'s dotted quad without its sprintf (export hot path). */
static void ipv4_str(const uint8_t a[4], char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned int b = a[i];

		if (b >= 100)
			*out++ = (char)('0' + b / 100);
		if (b >= 10)
			*out++ = (char)('0' + b / 10 % 10);
		*out++ = (char)('0' + b % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

static void set_int(struct col_value *v, int64_t x)
{
	v->kind = COL_INT;
	v->i = x;
}

static void set_float(struct col_value *v, double x)
{
	v->kind = COL_FLOAT;
	v->f = x;
}

static void set_str(struct col_value *v, const char *s)
{
	v->kind = COL_STR;
	v->s = s ? s : "";
}

/* Packets of a scope. */
static uint64_t scope_packets(const struct flow *f, int scope)
{
	if (scope == FLOW_SCOPE_BIDI)
		return f->dir_packets[0] + f->dir_packets[1];
	return f->dir_packets[scope - 1];
}

void col_get(const struct column *c, const struct flow_record *r, struct col_value *v,
	     struct col_scratch *sc)
{
	const struct flow *f = r->flow;
	const struct flow_scope_stats *st = f->stats ? &f->stats->s[c->scope] : NULL;
	int d = c->scope - 1; /* direction for src2dst/dst2src scopes */
	uint64_t n = scope_packets(f, c->scope);
	const struct dpi_result *l7 = r->l7;

	switch (c->field) {
	case CF_ID:
		set_int(v, (int64_t)r->id);
		break;
	case CF_EXPIRATION_ID:
		set_int(v, r->expiration_id);
		break;
	case CF_SRC_IP:
	case CF_DST_IP:
		if (f->ip_version == 4)
			ipv4_str(c->field == CF_SRC_IP ? f->src_ip : f->dst_ip, sc->text);
		else
			inet_ntop(AF_INET6, c->field == CF_SRC_IP ? f->src_ip : f->dst_ip, sc->text,
				  sizeof(sc->text));
		set_str(v, sc->text);
		break;
	case CF_SRC_MAC:
	case CF_DST_MAC:
		mac_str(c->field == CF_SRC_MAC ? f->src_mac : f->dst_mac, sc->text, 18);
		set_str(v, sc->text);
		break;
	case CF_SRC_OUI:
	case CF_DST_OUI:
		mac_str(c->field == CF_SRC_OUI ? f->src_mac : f->dst_mac, sc->text, 9);
		set_str(v, sc->text);
		break;
	case CF_SRC_PORT:
		set_int(v, f->src_port);
		break;
	case CF_DST_PORT:
		set_int(v, f->dst_port);
		break;
	case CF_PROTOCOL:
		set_int(v, f->protocol);
		break;
	case CF_IP_VERSION:
		set_int(v, f->ip_version);
		break;
	case CF_VLAN_ID:
		set_int(v, f->vlan_id);
		break;
	case CF_TUNNEL_ID:
		set_int(v, f->tunnel_id);
		break;
	case CF_FIRST_SEEN:
		if (c->scope == FLOW_SCOPE_BIDI)
			set_int(v, (int64_t)f->first_seen_ms);
		else
			set_int(v, n ? (int64_t)f->dir_first_ms[d] : 0);
		break;
	case CF_LAST_SEEN:
		if (c->scope == FLOW_SCOPE_BIDI)
			set_int(v, (int64_t)f->last_seen_ms);
		else
			set_int(v, n ? (int64_t)f->dir_last_ms[d] : 0);
		break;
	case CF_DURATION:
		if (c->scope == FLOW_SCOPE_BIDI)
			set_int(v, (int64_t)(f->last_seen_ms - f->first_seen_ms));
		else
			set_int(v, n ? (int64_t)(f->dir_last_ms[d] - f->dir_first_ms[d]) : 0);
		break;
	case CF_PACKETS:
		set_int(v, (int64_t)n);
		break;
	case CF_BYTES:
		set_int(v, (int64_t)(c->scope == FLOW_SCOPE_BIDI ? f->dir_bytes[0] + f->dir_bytes[1]
								   : f->dir_bytes[d]));
		break;
	case CF_MIN_PS:
		set_int(v, st && n ? st->min_ps : 0);
		break;
	case CF_MAX_PS:
		set_int(v, st && n ? st->max_ps : 0);
		break;
	case CF_MEAN_PS:
		set_float(v, st && n ? st->mean_ps : 0.0);
		break;
	case CF_STDDEV_PS:
		/* sample standard deviation, computed at export as NFStream */
		set_float(v, st && n > 1 ? sqrt(st->m2_ps / (double)(n - 1)) : 0.0);
		break;
	case CF_MIN_PIAT:
		set_int(v, st && n > 1 ? (int64_t)st->min_piat_ms : 0);
		break;
	case CF_MAX_PIAT:
		set_int(v, st && n > 1 ? (int64_t)st->max_piat_ms : 0);
		break;
	case CF_MEAN_PIAT:
		set_float(v, st && n > 1 ? st->mean_piat : 0.0);
		break;
	case CF_STDDEV_PIAT:
		set_float(v, st && n > 2 ? sqrt(st->m2_piat / (double)(n - 2)) : 0.0);
		break;
	case CF_FLAG:
		set_int(v, st ? (int64_t)st->flags[c->param] : 0);
		break;
	case CF_SPLT_DIRECTION:
	case CF_SPLT_PS:
	case CF_SPLT_PIAT:
		v->kind = COL_LIST;
		v->list = sc->list;
		v->n = c->len;
		for (uint16_t i = 0; i < c->len; i++) {
			if (!f->splt.piat_ms)
				sc->list[i] = -1;
			else if (c->field == CF_SPLT_DIRECTION)
				sc->list[i] = f->splt.dir[i];
			else if (c->field == CF_SPLT_PS)
				sc->list[i] = f->splt.ps[i];
			else
				sc->list[i] = f->splt.piat_ms[i];
		}
		break;
	case CF_APP_NAME:
		set_str(v, l7 ? l7->application_name : "");
		break;
	case CF_APP_CATEGORY:
		set_str(v, l7 ? l7->category_name : "");
		break;
	case CF_APP_GUESSED:
		set_int(v, l7 ? l7->is_guessed : 0);
		break;
	case CF_APP_CONFIDENCE:
		set_int(v, l7 ? l7->confidence : 0);
		break;
	case CF_SERVER_NAME:
		set_str(v, l7 ? l7->requested_server_name : "");
		break;
	case CF_CLIENT_FP:
		set_str(v, l7 ? l7->client_fingerprint : "");
		break;
	case CF_SERVER_FP:
		set_str(v, l7 ? l7->server_fingerprint : "");
		break;
	case CF_USER_AGENT:
		set_str(v, l7 ? l7->user_agent : "");
		break;
	case CF_CONTENT_TYPE:
		set_str(v, l7 ? l7->content_type : "");
		break;
	case CF_JA4:
		set_str(v, l7 && l7->ja4 ? l7->ja4 : "");
		break;
	case CF_PROC_PID:
		set_int(v, r->proc_pid);
		break;
	case CF_PROC_NAME:
		set_str(v, r->proc_name);
		break;
	case CF_PROC_PPID:
		set_int(v, r->proc ? r->proc->ppid : -1);
		break;
	case CF_PROC_UID:
		set_int(v, r->proc ? r->proc->uid : -1);
		break;
	case CF_PROC_USER:
		set_str(v, r->proc ? r->proc->user : "");
		break;
	case CF_PROC_EXE:
		set_str(v, r->proc ? r->proc->exe : "");
		break;
	case CF_PROC_CMDLINE:
		set_str(v, r->proc ? r->proc->cmdline : "");
		break;
	case CF_PROC_START:
		set_int(v, r->proc ? r->proc->start_ms : -1);
		break;
	case CF_CGROUP_ID:
		set_int(v, r->proc ? r->proc->cgroup_id : -1);
		break;
	case CF_CONTAINER_ID:
		set_str(v, r->proc ? r->proc->container_id : "");
		break;
	case CF_ATTRIBUTION:
		set_str(v, r->proc ? r->proc->how : "");
		break;
	case CF_PROC_OTHERS:
		set_int(v, r->proc ? r->proc->others : 0);
		break;
	}
}

int fmt_int(char *buf, int64_t v)
{
	char tmp[24];
	int n = 0, len = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
}

/* Digits of a "%e" conversion of a value of sign @neg into @dig (no NUL);
 * returns their number, *exp10 gets the decimal exponent. */
static int split_e(const char *e_text, bool neg, char *dig, int *exp10)
{
	const char *q = e_text + (neg ? 1 : 0);
	int n = 0;

	for (; *q && *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			dig[n++] = *q;
	*exp10 = atoi(q + 1);
	return n;
}

/* Round the decimal digit string @dig (n digits) to @keep digits in place;
 * returns the new decimal exponent adjustment (1 when 9.99 -> 10.0). */
static int round_digits(char *dig, int n, int keep)
{
	int i;

	if (keep >= n || dig[keep] < '5')
		return 0;
	for (i = keep - 1; i >= 0; i--) {
		if (dig[i] != '9') {
			dig[i]++;
			return 0;
		}
		dig[i] = '0';
	}
	memmove(dig + 1, dig, (size_t)keep - 1);
	dig[0] = '1';
	return 1;
}

/* Does sign * 0.d1d2..dn x 10^(exp10+1) parse back to @d? */
static bool digits_roundtrip(double d, bool neg, const char *dig, int n, int exp10)
{
	char tmp[40];
	int pos = 0;

	if (neg)
		tmp[pos++] = '-';
	tmp[pos++] = dig[0];
	tmp[pos++] = '.';
	memcpy(tmp + pos, dig + 1, (size_t)n - 1);
	pos += n - 1;
	tmp[pos++] = 'e';
	pos += fmt_int(tmp + pos, exp10);
	tmp[pos] = '\0';
	return strtod(tmp, NULL) == d;
}

/*
 * Python repr()'s layout of the digits @digits[0..@nd) times 10^@exp10,
 * written at @buf + @pos (after any sign): positional from 1e-4 to 1e16,
 * else d.ddde+XX.  Returns the new length; @buf is NUL-terminated.
 */
int py_float_layout(char *buf, int pos, const char *digits, int nd, int exp10)
{
	if (exp10 >= -4 && exp10 < 16) {
		if (exp10 >= 0) {
			for (int i = 0; i <= exp10; i++)
				buf[pos++] = i < nd ? digits[i] : '0';
			buf[pos++] = '.';
			if (nd > exp10 + 1)
				for (int i = exp10 + 1; i < nd; i++)
					buf[pos++] = digits[i];
			else
				buf[pos++] = '0';
		} else {
			buf[pos++] = '0';
			buf[pos++] = '.';
			for (int i = 0; i < -exp10 - 1; i++)
				buf[pos++] = '0';
			for (int i = 0; i < nd; i++)
				buf[pos++] = digits[i];
		}
		buf[pos] = '\0';
		return pos;
	}
	buf[pos++] = digits[0];
	if (nd > 1) {
		buf[pos++] = '.';
		for (int i = 1; i < nd; i++)
			buf[pos++] = digits[i];
	}
	buf[pos++] = 'e';
	buf[pos++] = exp10 < 0 ? '-' : '+';
	if (exp10 < 0)
		exp10 = -exp10;
	if (exp10 < 10)
		buf[pos++] = '0';
	pos += fmt_int(buf + pos, exp10);
	buf[pos] = '\0';
	return pos;
}

int fmt_py_float(double d, char *buf)
{
	char tmp[40], digits[24], cand[24];
	int nd, exp10, pos = 0;
	bool neg = d < 0;

	if (isnan(d))
		return sprintf(buf, "nan");
	if (isinf(d))
		return sprintf(buf, d < 0 ? "-inf" : "inf");
	if (d == 0.0)
		return sprintf(buf, signbit(d) ? "-0.0" : "0.0");
	/* Integral values below 2^53 print exactly as Python does: "123.0". */
	if (fabs(d) < 9007199254740992.0 && d == (double)(int64_t)d && fabs(d) < 1e16) {
		pos = fmt_int(buf, (int64_t)d);
		memcpy(buf + pos, ".0", 3);
		return pos + 2;
	}
	/*
	 * Shortest round-trip digits (Python's repr): one correctly rounded
	 * 17-digit conversion, then the 15- and 16-digit roundings of it are
	 * tried with strtod.  A value whose shortest form has at most 15
	 * digits is found at 15 (trailing zeros stripped below).
	 */
	if (fabs(d) < DBL_MIN) {
		/* subnormals carry fewer digits: search the shortest directly */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
	} else {
		snprintf(tmp, sizeof(tmp), "%.16e", d);
	}
	nd = split_e(tmp, neg, digits, &exp10);
	for (int keep = 15; keep <= 16 && nd == 17; keep++) {
		bool tie = digits[keep] == '5';
		int e;

		for (int i = keep + 1; i < nd && tie; i++)
			tie = digits[i] == '0';
		/* round half up in the string; on a "...5" tie also try the
		 * truncated neighbour: the 17th digit may itself be rounded */
		memcpy(cand, digits, (size_t)nd);
		e = round_digits(cand, nd, keep);
		if (!digits_roundtrip(d, neg, cand, keep, exp10 + e)) {
			if (!tie)
				continue;
			memcpy(cand, digits, (size_t)keep);
			e = 0;
			if (!digits_roundtrip(d, neg, cand, keep, exp10))
				continue;
		} else if (tie) {
			/* both neighbours may round-trip: keep the nearer one,
			 * which printf's exact rounding of the binary value gives */
			char t2[40], dig2[24];
			int exp2;

			snprintf(t2, sizeof(t2), "%.*e", keep - 1, d);
			split_e(t2, neg, dig2, &exp2);
			if (digits_roundtrip(d, neg, dig2, keep, exp2)) {
				memcpy(cand, dig2, (size_t)keep);
				e = exp2 - exp10;
			}
		}
		memcpy(digits, cand, (size_t)keep);
		nd = keep;
		exp10 += e;
		break;
	}
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (neg)
		buf[pos++] = '-';

	return py_float_layout(buf, pos, digits, nd, exp10);
}
