// SPDX-License-Identifier: GPL-2.0-only
/*
 * Column schema and typed values.  The per-scope statistics columns are
 * generated from three small name tables so the 48 names cannot drift from
 * their fields.  Every value is computed in one place, col_row_get(), which
 * the writers' row plan and col_get() both read.  fmt_py_float() reproduces
 * Python's float repr so floats read back to the same double NFStream wrote.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "export/columns.h"
#include "util/grow.h"

static const char *const scope_name[FLOW_NSCOPES] = { "bidirectional", "src2dst", "dst2src" };
static const char *const flag_name[8] = { "syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin" };

/*
 * Slots of struct col_row.  Integers: the per-flow ones, then one block of
 * SS_N per scope; floats: one block of SF_N per scope.  Dataset mode's
 * slots follow NFStream's in one stretch of each array (per-flow, then a
 * block per scope), which a row without dataset state zeroes at once.
 */
enum {
	SI_ID, SI_EXPIRATION_ID, SI_SRC_PORT, SI_DST_PORT, SI_PROTOCOL, SI_IP_VERSION, SI_VLAN_ID,
	SI_TUNNEL_ID, SI_APP_GUESSED, SI_APP_CONFIDENCE, SI_PROC_PID, SI_PROC_PPID, SI_PROC_UID,
	SI_PROC_START, SI_CGROUP_ID, SI_PROC_OTHERS,
	SI_SCOPED,
};
enum {
	SS_FIRST_SEEN, SS_LAST_SEEN, SS_DURATION, SS_PACKETS, SS_BYTES, SS_MIN_PS, SS_MAX_PS,
	SS_MIN_PIAT, SS_MAX_PIAT, SS_FLAGS, SS_N = SS_FLAGS + 8,
};
enum { SF_MEAN_PS, SF_STDDEV_PS, SF_MEAN_PIAT, SF_STDDEV_PIAT, SF_N };
enum {
	DI_ACTIVE_MIN = SI_SCOPED + FLOW_NSCOPES * SS_N, DI_ACTIVE_MAX, DI_IDLE_MIN, DI_IDLE_MAX,
	DI_SUBFLOWS,
	DI_SCOPED,
};
enum {
	DSS_FIRST_US, DSS_LAST_US, DSS_DURATION_US, DSS_MIN_PIAT_US, DSS_MAX_PIAT_US,
	DSS_BULK_COUNT, DSS_BULK_PACKETS, DSS_BULK_BYTES, DSS_BULK_DURATION, DSS_HEADER_BYTES,
	DSS_INIT_WINDOW, DSS_N,
};
enum {
	DF_ACTIVE_MEAN = FLOW_NSCOPES * SF_N, DF_ACTIVE_STDDEV, DF_IDLE_MEAN, DF_IDLE_STDDEV,
	DF_SCOPED,
};
enum { DSF_MEAN_PIAT_US, DSF_STDDEV_PIAT_US, DSF_BYTES_PER_S, DSF_PACKETS_PER_S, DSF_N };
enum {
	SSTR_APP_NAME, SSTR_APP_CATEGORY, SSTR_SERVER_NAME, SSTR_CLIENT_FP, SSTR_SERVER_FP,
	SSTR_USER_AGENT, SSTR_CONTENT_TYPE, SSTR_JA4, SSTR_PROC_NAME, SSTR_PROC_USER, SSTR_PROC_EXE,
	SSTR_PROC_CMDLINE, SSTR_CONTAINER_ID, SSTR_ATTRIBUTION, SSTR_N,
};

_Static_assert(DI_SCOPED + FLOW_NSCOPES * DSS_N == COL_ROW_INTS, "col_row ints");
_Static_assert(DF_SCOPED + FLOW_NSCOPES * DSF_N == COL_ROW_FLOATS, "col_row floats");
_Static_assert(SSTR_N == COL_ROW_STRS, "col_row strings");

/*
 * Where col_row_get() puts each field; for the per-scope fields, the place
 * in the scope's block (add_scoped() adds the block), plus the flag index
 * for CF_FLAG.  The address and SPLT columns have no slot.
 */
static const uint16_t field_slot[] = {
	[CF_ID] = SI_ID,
	[CF_EXPIRATION_ID] = SI_EXPIRATION_ID,
	[CF_SRC_PORT] = SI_SRC_PORT,
	[CF_DST_PORT] = SI_DST_PORT,
	[CF_PROTOCOL] = SI_PROTOCOL,
	[CF_IP_VERSION] = SI_IP_VERSION,
	[CF_VLAN_ID] = SI_VLAN_ID,
	[CF_TUNNEL_ID] = SI_TUNNEL_ID,
	[CF_FIRST_SEEN] = SS_FIRST_SEEN,
	[CF_LAST_SEEN] = SS_LAST_SEEN,
	[CF_DURATION] = SS_DURATION,
	[CF_PACKETS] = SS_PACKETS,
	[CF_BYTES] = SS_BYTES,
	[CF_MIN_PS] = SS_MIN_PS,
	[CF_MEAN_PS] = SF_MEAN_PS,
	[CF_STDDEV_PS] = SF_STDDEV_PS,
	[CF_MAX_PS] = SS_MAX_PS,
	[CF_MIN_PIAT] = SS_MIN_PIAT,
	[CF_MEAN_PIAT] = SF_MEAN_PIAT,
	[CF_STDDEV_PIAT] = SF_STDDEV_PIAT,
	[CF_MAX_PIAT] = SS_MAX_PIAT,
	[CF_FLAG] = SS_FLAGS,
	[CF_APP_NAME] = SSTR_APP_NAME,
	[CF_APP_CATEGORY] = SSTR_APP_CATEGORY,
	[CF_APP_GUESSED] = SI_APP_GUESSED,
	[CF_APP_CONFIDENCE] = SI_APP_CONFIDENCE,
	[CF_SERVER_NAME] = SSTR_SERVER_NAME,
	[CF_CLIENT_FP] = SSTR_CLIENT_FP,
	[CF_SERVER_FP] = SSTR_SERVER_FP,
	[CF_USER_AGENT] = SSTR_USER_AGENT,
	[CF_CONTENT_TYPE] = SSTR_CONTENT_TYPE,
	[CF_JA4] = SSTR_JA4,
	[CF_PROC_PID] = SI_PROC_PID,
	[CF_PROC_NAME] = SSTR_PROC_NAME,
	[CF_PROC_PPID] = SI_PROC_PPID,
	[CF_PROC_UID] = SI_PROC_UID,
	[CF_PROC_USER] = SSTR_PROC_USER,
	[CF_PROC_EXE] = SSTR_PROC_EXE,
	[CF_PROC_CMDLINE] = SSTR_PROC_CMDLINE,
	[CF_PROC_START] = SI_PROC_START,
	[CF_CGROUP_ID] = SI_CGROUP_ID,
	[CF_CONTAINER_ID] = SSTR_CONTAINER_ID,
	[CF_ATTRIBUTION] = SSTR_ATTRIBUTION,
	[CF_PROC_OTHERS] = SI_PROC_OTHERS,
	[CF_FIRST_SEEN_US] = DSS_FIRST_US,
	[CF_LAST_SEEN_US] = DSS_LAST_US,
	[CF_DURATION_US] = DSS_DURATION_US,
	[CF_MIN_PIAT_US] = DSS_MIN_PIAT_US,
	[CF_MEAN_PIAT_US] = DSF_MEAN_PIAT_US,
	[CF_STDDEV_PIAT_US] = DSF_STDDEV_PIAT_US,
	[CF_MAX_PIAT_US] = DSS_MAX_PIAT_US,
	[CF_BYTES_PER_S] = DSF_BYTES_PER_S,
	[CF_PACKETS_PER_S] = DSF_PACKETS_PER_S,
	[CF_ACTIVE_MIN] = DI_ACTIVE_MIN,
	[CF_ACTIVE_MEAN] = DF_ACTIVE_MEAN,
	[CF_ACTIVE_STDDEV] = DF_ACTIVE_STDDEV,
	[CF_ACTIVE_MAX] = DI_ACTIVE_MAX,
	[CF_IDLE_MIN] = DI_IDLE_MIN,
	[CF_IDLE_MEAN] = DF_IDLE_MEAN,
	[CF_IDLE_STDDEV] = DF_IDLE_STDDEV,
	[CF_IDLE_MAX] = DI_IDLE_MAX,
	[CF_SUBFLOWS] = DI_SUBFLOWS,
	[CF_BULK_COUNT] = DSS_BULK_COUNT,
	[CF_BULK_PACKETS] = DSS_BULK_PACKETS,
	[CF_BULK_BYTES] = DSS_BULK_BYTES,
	[CF_BULK_DURATION] = DSS_BULK_DURATION,
	[CF_HEADER_BYTES] = DSS_HEADER_BYTES,
	[CF_INIT_WINDOW] = DSS_INIT_WINDOW,
};

/* Dataset mode's fields (the per-scope ones have their own blocks). */
static bool is_dataset_field(enum col_field f)
{
	return f >= CF_FIRST_SEEN_US && f < CF_UDP;
}

int schema_add(struct schema *s, const char *name, enum col_field f, enum col_kind k,
	       uint8_t scope, uint8_t param)
{
	struct column *c;

	if (strlen(name) >= sizeof(c->name))
		return -ENAMETOOLONG;
	if (grow_one(&s->cols, &s->cap, s->n, 128))
		return -ENOMEM;
	c = &s->cols[s->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->field = f;
	c->kind = k;
	c->scope = scope;
	c->param = param;
	if (f < CF_UDP)
		c->slot = (uint16_t)(field_slot[f] + param);
	return 0;
}

int schema_add_udp(struct schema *s, const char *name, enum col_kind k, uint16_t udp)
{
	char full[64];
	int err;

	snprintf(full, sizeof(full), "udps.%s", name);
	err = schema_add(s, full, CF_UDP, k, 0, 0);
	if (!err)
		s->cols[s->n - 1].udp = udp;
	return err;
}

/* Registering the built-in groups: the first error sticks. */
struct schema_builder {
	struct schema *s;
	int err;
};

static void add(struct schema_builder *b, const char *name, enum col_field f, enum col_kind k,
		uint8_t scope, uint8_t param)
{
	if (!b->err)
		b->err = schema_add(b->s, name, f, k, scope, param);
}

static void add_scoped(struct schema_builder *b, uint8_t scope, const char *suffix,
		       enum col_field f, enum col_kind k, uint8_t param)
{
	char name[40];

	snprintf(name, sizeof(name), "%s_%s", scope_name[scope], suffix);
	add(b, name, f, k, scope, param);
	if (b->err)
		return;
	if (is_dataset_field(f))
		b->s->cols[b->s->n - 1].slot += k == COL_FLOAT ? DF_SCOPED + scope * DSF_N :
								 DI_SCOPED + scope * DSS_N;
	else
		b->s->cols[b->s->n - 1].slot += k == COL_FLOAT ? scope * SF_N :
								 SI_SCOPED + scope * SS_N;
}

/*
 * Dataset mode's block, after NFStream's columns and before the process
 * columns (README "Dataset mode": names, units and formulas).
 */
static void add_dataset(struct schema_builder *b, const struct column_opts *o)
{
	static const char *const period_stat[4] = { "min", "mean", "stddev", "max" };

	for (uint8_t sc = 0; sc < FLOW_NSCOPES; sc++) {
		add_scoped(b, sc, "first_seen_us", CF_FIRST_SEEN_US, COL_INT, 0);
		add_scoped(b, sc, "last_seen_us", CF_LAST_SEEN_US, COL_INT, 0);
		add_scoped(b, sc, "duration_us", CF_DURATION_US, COL_INT, 0);
	}
	if (o->statistics) {
		for (uint8_t sc = 0; sc < FLOW_NSCOPES; sc++) {
			add_scoped(b, sc, "min_piat_us", CF_MIN_PIAT_US, COL_INT, 0);
			add_scoped(b, sc, "mean_piat_us", CF_MEAN_PIAT_US, COL_FLOAT, 0);
			add_scoped(b, sc, "stddev_piat_us", CF_STDDEV_PIAT_US, COL_FLOAT, 0);
			add_scoped(b, sc, "max_piat_us", CF_MAX_PIAT_US, COL_INT, 0);
		}
	}
	if (o->splt) {
		add(b, "splt_piat_us", CF_SPLT_PIAT_US, COL_LIST, 0, 0);
		if (!b->err)
			b->s->cols[b->s->n - 1].len = o->splt;
	}
	/* CICFlowMeter's Flow Bytes/s and Flow Packets/s (its per-direction
	 * rates are a direction's packets over the same duration) */
	add_scoped(b, FLOW_SCOPE_BIDI, "bytes_per_s", CF_BYTES_PER_S, COL_FLOAT, 0);
	add_scoped(b, FLOW_SCOPE_BIDI, "packets_per_s", CF_PACKETS_PER_S, COL_FLOAT, 0);
	for (int i = 0; i < 8; i++) {
		char name[24];

		snprintf(name, sizeof(name), "%s_%s_us", i < 4 ? "active" : "idle", period_stat[i % 4]);
		add(b, name, (enum col_field)(CF_ACTIVE_MIN + i),
		    i % 4 == 1 || i % 4 == 2 ? COL_FLOAT : COL_INT, 0, 0);
	}
	add(b, "subflow_count", CF_SUBFLOWS, COL_INT, 0, 0);
	for (uint8_t sc = FLOW_SCOPE_S2D; sc <= FLOW_SCOPE_D2S; sc++) {
		add_scoped(b, sc, "bulk_count", CF_BULK_COUNT, COL_INT, 0);
		add_scoped(b, sc, "bulk_packets", CF_BULK_PACKETS, COL_INT, 0);
		add_scoped(b, sc, "bulk_bytes", CF_BULK_BYTES, COL_INT, 0);
		add_scoped(b, sc, "bulk_duration_us", CF_BULK_DURATION, COL_INT, 0);
	}
	for (uint8_t sc = FLOW_SCOPE_S2D; sc <= FLOW_SCOPE_D2S; sc++)
		add_scoped(b, sc, "header_bytes", CF_HEADER_BYTES, COL_INT, 0);
	for (uint8_t sc = FLOW_SCOPE_S2D; sc <= FLOW_SCOPE_D2S; sc++)
		add_scoped(b, sc, "init_window", CF_INIT_WINDOW, COL_INT, 0);
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
	if (o->dataset)
		add_dataset(&b, o);
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
	s->n = s->cap = 0;
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

/* "aa:bb:cc:dd:ee:ff", or its first @n_bytes bytes (the OUI, "aa:bb:cc"), at
 * @out; returns its length, 3 * @n_bytes - 1 (one more byte is written). */
static size_t mac_text(const uint8_t m[6], int n_bytes, char *out)
{
	static const char hx[] = "0123456789abcdef";
	char *p = out;

	for (int i = 0; i < n_bytes; i++) {
		*p++ = hx[m[i] >> 4];
		*p++ = hx[m[i] & 15];
		*p++ = ':';
	}
	return (size_t)(p - out) - 1;
}

/* inet_ntop(AF_INET)'s dotted quad without its sprintf (export hot path). */
static size_t ipv4_text(const uint8_t a[4], char *out)
{
	char *p = out;

	for (int i = 0; i < 4; i++) {
		unsigned int b = a[i], n = 1 + (b >= 10) + (b >= 100);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* "ddd." as a word, shifted past the leading zeros: no branch on
		 * the byte's width, which varies from address to address */
		uint32_t w = (uint32_t)('0' + b / 100) | (uint32_t)('0' + b / 10 % 10) << 8 |
			     (uint32_t)('0' + b % 10) << 16 | (uint32_t)'.' << 24;

		w >>= 8 * (3 - n);
		memcpy(p, &w, 4);
		p += n + 1;
#else
		if (n == 3)
			*p++ = (char)('0' + b / 100);
		if (n >= 2)
			*p++ = (char)('0' + b / 10 % 10);
		*p++ = (char)('0' + b % 10);
		*p++ = '.';
#endif
	}
	return (size_t)(p - out) - 1;
}

/*
 * inet_ntop(AF_INET6)'s text without its sprintf per word: lowercase hex
 * words without leading zeros, the first longest run of two or more zero
 * words as "::".  An address that starts with five or more zero words may
 * be printed with an embedded IPv4 quad: those go to inet_ntop itself.
 */
static size_t ipv6_text(const uint8_t a[16], char *out)
{
	static const char hx[] = "0123456789abcdef";
	unsigned int w[8];
	int best = -1, best_len = 0, cur = -1, cur_len = 0, sh;
	char *p = out;

	for (int i = 0; i < 8; i++) {
		w[i] = (unsigned int)a[2 * i] << 8 | a[2 * i + 1];
		if (w[i]) {
			cur = -1;
			continue;
		}
		if (cur < 0) {
			cur = i;
			cur_len = 0;
		}
		if (++cur_len > best_len) { /* a later run must be longer */
			best = cur;
			best_len = cur_len;
		}
	}
	if (best_len < 2)
		best = -1;
	else if (best == 0 && best_len >= 5)
		return strlen(inet_ntop(AF_INET6, a, out, COL_ADDR_TEXT_MAX));
	for (int i = 0; i < 8; i++) {
		if (best >= 0 && i >= best && i < best + best_len) {
			if (i == best)
				*p++ = ':';
			continue;
		}
		if (i)
			*p++ = ':';
		sh = w[i] >= 0x1000 ? 12 : w[i] >= 0x100 ? 8 : w[i] >= 0x10 ? 4 : 0;
		for (; sh >= 0; sh -= 4)
			*p++ = hx[w[i] >> sh & 15];
	}
	if (best >= 0 && best + best_len == 8)
		*p++ = ':';
	return (size_t)(p - out);
}

size_t col_addr_text(const struct column *c, const struct flow *f, char *out)
{
	bool src = c->field == CF_SRC_IP || c->field == CF_SRC_MAC || c->field == CF_SRC_OUI;

	switch (c->field) {
	case CF_SRC_IP:
	case CF_DST_IP:
		if (f->ip_version == 4)
			return ipv4_text(src ? f->src_ip : f->dst_ip, out);
		return ipv6_text(src ? f->src_ip : f->dst_ip, out);
	case CF_SRC_MAC:
	case CF_DST_MAC:
		return mac_text(src ? f->src_mac : f->dst_mac, 6, out);
	case CF_SRC_OUI:
	case CF_DST_OUI:
		return mac_text(src ? f->src_mac : f->dst_mac, 3, out);
	default:
		return 0;
	}
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/*
 * One scope's counters; src2dst and dst2src are the flow's directions
 * 0 and 1.  A direction without packets reads as zeros; the statistics
 * need one packet for sizes, two for inter-arrival times (a mean) and
 * three for their sample standard deviation, as NFStream's.
 */
static void scope_get(const struct flow *f, int scope, int64_t *iv, double *fv)
{
	const struct flow_scope_stats *st = f->stats ? &f->stats->s[scope] : NULL;
	int d = scope - 1;
	uint64_t n;

	if (scope == FLOW_SCOPE_BIDI) {
		n = f->dir_packets[0] + f->dir_packets[1];
		iv[SS_FIRST_SEEN] = (int64_t)f->first_seen_ms;
		iv[SS_LAST_SEEN] = (int64_t)f->last_seen_ms;
		iv[SS_DURATION] = (int64_t)(f->last_seen_ms - f->first_seen_ms);
		iv[SS_BYTES] = (int64_t)(f->dir_bytes[0] + f->dir_bytes[1]);
	} else {
		n = f->dir_packets[d];
		iv[SS_FIRST_SEEN] = n ? (int64_t)f->dir_first_ms[d] : 0;
		iv[SS_LAST_SEEN] = n ? (int64_t)f->dir_last_ms[d] : 0;
		iv[SS_DURATION] = n ? (int64_t)(f->dir_last_ms[d] - f->dir_first_ms[d]) : 0;
		iv[SS_BYTES] = (int64_t)f->dir_bytes[d];
	}
	iv[SS_PACKETS] = (int64_t)n;
	if (!st) {
		memset(iv + SS_MIN_PS, 0, (SS_N - SS_MIN_PS) * sizeof(*iv));
		memset(fv, 0, SF_N * sizeof(*fv));
		return;
	}
	iv[SS_MIN_PS] = n ? st->min_ps : 0;
	iv[SS_MAX_PS] = n ? st->max_ps : 0;
	iv[SS_MIN_PIAT] = n > 1 ? (int64_t)st->min_piat_ms : 0;
	iv[SS_MAX_PIAT] = n > 1 ? (int64_t)st->max_piat_ms : 0;
	for (int i = 0; i < 8; i++)
		iv[SS_FLAGS + i] = (int64_t)st->flags[i];
	fv[SF_MEAN_PS] = n ? st->mean_ps : 0.0;
	/* sample standard deviation, computed at export as NFStream */
	fv[SF_STDDEV_PS] = n > 1 ? sqrt(st->m2_ps / (double)(n - 1)) : 0.0;
	fv[SF_MEAN_PIAT] = n > 1 ? st->mean_piat : 0.0;
	fv[SF_STDDEV_PIAT] = n > 2 ? sqrt(st->m2_piat / (double)(n - 2)) : 0.0;
}

/* Dataset mode's values of @f into the dataset stretch of @iv and @fv. */
static void dataset_get(const struct flow *f, int64_t *iv, double *fv)
{
	const struct flow_ds *ds = flow_ds(f);
	uint64_t dur = ds->last_us - ds->dir_first_us[0];
	struct ds_series act, idl, piat;

	for (int sc = 0; sc < FLOW_NSCOPES; sc++) {
		int64_t *si = iv + DI_SCOPED + sc * DSS_N;
		double *sf = fv + DF_SCOPED + sc * DSF_N;
		int d = sc - 1;
		uint64_t n;

		if (sc == FLOW_SCOPE_BIDI) {
			n = f->dir_packets[0] + f->dir_packets[1];
			si[DSS_FIRST_US] = (int64_t)ds->dir_first_us[0];
			si[DSS_LAST_US] = (int64_t)ds->last_us;
			si[DSS_DURATION_US] = (int64_t)dur;
			memset(si + DSS_BULK_COUNT, 0, (DSS_N - DSS_BULK_COUNT) * sizeof(*si));
		} else {
			static const struct ds_bulk none;
			const struct ds_bulk *bk = ds->cold ? &ds->cold->bulk[d] : &none;

			n = f->dir_packets[d];
			si[DSS_FIRST_US] = n ? (int64_t)ds->dir_first_us[d] : 0;
			si[DSS_LAST_US] = n ? (int64_t)ds->dir_last_us[d] : 0;
			si[DSS_DURATION_US] = n ? (int64_t)(ds->dir_last_us[d] - ds->dir_first_us[d]) : 0;
			si[DSS_BULK_COUNT] = ds->cold ? (int64_t)ds->cold->bulk_count[d] : 0;
			si[DSS_BULK_PACKETS] = (int64_t)bk->packets;
			si[DSS_BULK_BYTES] = (int64_t)bk->bytes;
			si[DSS_BULK_DURATION] = (int64_t)bk->duration_us;
			si[DSS_HEADER_BYTES] = (int64_t)ds->header_bytes[d];
			si[DSS_INIT_WINDOW] = ds->init_window[d];
		}
		/* NFStream's PIAT rules (scope_get) on the µs clock, from exact sums */
		ds_piats(ds, sc, f->stats ? n : 0, &piat);
		si[DSS_MIN_PIAT_US] = (int64_t)piat.min;
		si[DSS_MAX_PIAT_US] = (int64_t)piat.max;
		sf[DSF_MEAN_PIAT_US] = ds_mean(&piat);
		sf[DSF_STDDEV_PIAT_US] = ds_stddev(&piat);
	}
	/* over the flow's duration, as CICFlowMeter; 0.0 for a zero duration */
	fv[DF_SCOPED + DSF_BYTES_PER_S] =
		dur ? (double)(f->dir_bytes[0] + f->dir_bytes[1]) * 1e6 / (double)dur : 0.0;
	fv[DF_SCOPED + DSF_PACKETS_PER_S] =
		dur ? (double)(f->dir_packets[0] + f->dir_packets[1]) * 1e6 / (double)dur : 0.0;
	ds_periods(ds, &act, &idl);
	iv[DI_ACTIVE_MIN] = (int64_t)act.min;
	iv[DI_ACTIVE_MAX] = (int64_t)act.max;
	fv[DF_ACTIVE_MEAN] = ds_mean(&act);
	fv[DF_ACTIVE_STDDEV] = ds_stddev(&act);
	iv[DI_IDLE_MIN] = idl.n ? (int64_t)idl.min : 0;
	iv[DI_IDLE_MAX] = idl.n ? (int64_t)idl.max : 0;
	fv[DF_IDLE_MEAN] = ds_mean(&idl);
	fv[DF_IDLE_STDDEV] = ds_stddev(&idl);
	iv[DI_SUBFLOWS] = (int64_t)ds->subflows;
	if (ds->tcp & DS_COLD_LOST) {
		/* no memory for the periods and bulks: unknown, not zero */
		iv[DI_ACTIVE_MIN] = iv[DI_ACTIVE_MAX] = iv[DI_IDLE_MIN] = iv[DI_IDLE_MAX] = -1;
		fv[DF_ACTIVE_MEAN] = fv[DF_ACTIVE_STDDEV] = fv[DF_IDLE_MEAN] = fv[DF_IDLE_STDDEV] = -1.0;
		for (int d = 1; d < FLOW_NSCOPES; d++)
			for (int k = DSS_BULK_COUNT; k <= DSS_BULK_DURATION; k++)
				iv[DI_SCOPED + d * DSS_N + k] = -1;
	}
}

void col_row_get(const struct flow_record *r, struct col_row *row)
{
	const struct flow *f = r->flow;
	const struct dpi_result *l7 = r->l7;
	const struct proc_info *pr = r->proc;
	int64_t *iv = row->i;
	const char **sv = row->s;

	iv[SI_ID] = (int64_t)r->id;
	iv[SI_EXPIRATION_ID] = r->expiration_id;
	iv[SI_SRC_PORT] = f->src_port;
	iv[SI_DST_PORT] = f->dst_port;
	iv[SI_PROTOCOL] = f->protocol;
	iv[SI_IP_VERSION] = f->ip_version;
	iv[SI_VLAN_ID] = f->vlan_id;
	iv[SI_TUNNEL_ID] = f->tunnel_id;
	for (int sc = 0; sc < FLOW_NSCOPES; sc++)
		scope_get(f, sc, iv + SI_SCOPED + sc * SS_N, row->f + sc * SF_N);
	if (f->dataset) {
		dataset_get(f, iv, row->f);
	} else {
		/* no dataset state (NFStream mode): its columns, if any, read 0 */
		memset(iv + DI_ACTIVE_MIN, 0, (COL_ROW_INTS - DI_ACTIVE_MIN) * sizeof(*iv));
		memset(row->f + DF_ACTIVE_MEAN, 0, (COL_ROW_FLOATS - DF_ACTIVE_MEAN) * sizeof(double));
	}

	iv[SI_APP_GUESSED] = l7 ? l7->is_guessed : 0;
	iv[SI_APP_CONFIDENCE] = l7 ? l7->confidence : 0;
	sv[SSTR_APP_NAME] = l7 ? str_or_empty(l7->application_name) : "";
	sv[SSTR_APP_CATEGORY] = l7 ? str_or_empty(l7->category_name) : "";
	sv[SSTR_SERVER_NAME] = l7 ? str_or_empty(l7->requested_server_name) : "";
	sv[SSTR_CLIENT_FP] = l7 ? str_or_empty(l7->client_fingerprint) : "";
	sv[SSTR_SERVER_FP] = l7 ? str_or_empty(l7->server_fingerprint) : "";
	sv[SSTR_USER_AGENT] = l7 ? str_or_empty(l7->user_agent) : "";
	sv[SSTR_CONTENT_TYPE] = l7 ? str_or_empty(l7->content_type) : "";
	sv[SSTR_JA4] = l7 ? str_or_empty(l7->ja4) : "";

	iv[SI_PROC_PID] = pr ? pr->pid : -1;
	sv[SSTR_PROC_NAME] = pr ? pr->name : "";
	iv[SI_PROC_PPID] = pr ? pr->ppid : -1;
	iv[SI_PROC_UID] = pr ? pr->uid : -1;
	sv[SSTR_PROC_USER] = pr ? pr->user : "";
	sv[SSTR_PROC_EXE] = pr ? pr->exe : "";
	sv[SSTR_PROC_CMDLINE] = pr ? pr->cmdline : "";
	iv[SI_PROC_START] = pr ? pr->start_ms : -1;
	iv[SI_CGROUP_ID] = pr ? pr->cgroup_id : -1;
	sv[SSTR_CONTAINER_ID] = pr ? pr->container_id : "";
	sv[SSTR_ATTRIBUTION] = pr ? str_or_empty(pr->how) : "";
	iv[SI_PROC_OTHERS] = pr ? pr->others : 0;
}

void col_udp_value(const struct udp_value *u, struct col_value *v)
{
	v->is_null = !u || u->type == UDP_NONE;
	v->i = 0;
	v->f = 0.0;
	v->s = "";
	v->list = NULL;
	v->n = 0;
	if (v->is_null)
		return;
	switch (u->type) {
	case UDP_INT:
		v->i = u->v.i;
		v->f = (double)u->v.i;
		break;
	case UDP_FLOAT:
		v->f = u->v.f;
		v->i = (int64_t)u->v.f;
		break;
	case UDP_STR:
		v->s = u->v.s;
		break;
	case UDP_LIST:
		v->list = u->v.list;
		v->n = u->n;
		break;
	}
}

void col_get(const struct column *c, const struct flow_record *r, struct col_value *v,
	     struct col_scratch *sc)
{
	const struct flow *f = r->flow;
	struct col_row row;

	v->kind = c->kind;
	v->is_null = false;
	if (c->field == CF_UDP) {
		col_udp_value(f->udps && c->udp < f->udps->n ? &f->udps->v[c->udp] : NULL, v);
		return;
	}
	if (col_is_addr(c)) {
		sc->text[col_addr_text(c, f, sc->text)] = '\0';
		v->s = sc->text;
		return;
	}
	switch (c->field) {
	case CF_SPLT_PIAT_US:
		v->list = sc->list;
		v->n = c->len;
		for (uint16_t i = 0; i < c->len; i++)
			sc->list[i] = f->dataset ? ds_splt_us(flow_ds(f))[i] : -1;
		return;
	case CF_SPLT_DIRECTION:
	case CF_SPLT_PS:
	case CF_SPLT_PIAT:
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
		return;
	default:
		break;
	}
	col_row_get(r, &row);
	switch (c->kind) {
	case COL_INT:
		v->i = row.i[c->slot];
		break;
	case COL_FLOAT:
		v->f = row.f[c->slot];
		break;
	case COL_STR:
		v->s = row.s[c->slot];
		break;
	case COL_LIST:
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
