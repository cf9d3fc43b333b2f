// SPDX-License-Identifier: GPL-2.0-only
/*
 * IPFIX sink (RFC 7011) with RFC 5103 biflow records.  The writer thread
 * encodes records with libfixbuf into messages of its own buffer
 * (fbExporterAllocBuffer, manual mode: a message is cut when the next
 * record does not fit, or at a sync point) and queues each finished
 * message; the sink thread owns the transport (TCP with reconnect and
 * backoff, UDP with template refresh, or a file), sends the template
 * messages first on every connection, and numbers the messages itself
 * (RFC 7011 sequence numbers count the data records sent, so flows lost
 * at the queue appear as a gap to the collector).
 *
 * Columns with an IANA element use it (src2dst as the forward direction,
 * dst2src as the reverse one, PEN 29305); every other column is an
 * element of ours under ipfix_pen, named after the column and described
 * to the collector with RFC 5610 type records.  SPLT lists are basicLists
 * (RFC 6313).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fixbuf/public.h>

#include "export/sink.h"
#include "util/log.h"

#define PEN_DOC 32473
#define PEN_REVERSE 29305
#define MSG_MAX_STREAM 65535
#define MSG_MAX_UDP 1472 /* one Ethernet frame */
#define TID_V4 256
#define TID_V6 257
#define TID_TYPES 258
#define UDP_FIRST_IE 1000 /* plugins' columns: ours, 1000 + their index */

enum conv {
	CV_INT, CV_FLOAT, CV_STR, CV_LIST, CV_SRC_IP, CV_DST_IP, CV_SRC_MAC, CV_DST_MAC,
	CV_END_REASON, CV_UDP, CV_ADDR_TEXT,
};

struct field {
	uint16_t off;   /* in the record */
	uint16_t len;   /* on the wire (fixed) or 0xffff */
	uint8_t conv;
	uint8_t item_len; /* CV_LIST: bytes per list item */
	uint16_t col;   /* schema column */
	const fbInfoElement_t *item; /* CV_LIST: the list's item element */
};

struct tmpl {
	uint16_t tid;
	struct field *f;
	size_t n;
	size_t rec_len;
	uint8_t *rec;
};

struct msg {
	uint8_t *data;
	size_t len;
	uint32_t nrec;
};

struct ipfix {
	/* configuration */
	char transport; /* 't', 'u', 'f' */
	char host[256], port[8];
	char path[4096];
	uint32_t pen;
	uint64_t refresh_ms;
	/* encoder (writer thread) */
	const struct schema *schema;
	fbInfoModel_t *model;
	fbSession_t *session;
	fBuf_t *fbuf;
	uint8_t *emit_buf;
	uint16_t mtu;
	struct tmpl t4, t6;
	uint16_t cur_tid;
	uint32_t nrec; /* records in the message being built */
	uint64_t first_id, last_id;
	struct col_scratch *scratch;
	char addr_text[2][COL_ADDR_TEXT_MAX + 8];
	uint8_t *list_buf;
	fbInfoElement_t *ours;
	size_t n_ours;
	char (*names)[64];
	/* the template messages, sent first on every connection */
	struct msg *tm;
	size_t n_tm;
	/* transport (sink thread) */
	int fd;
	bool file_opened;
	bool need_templates; /* a new connection (or file) starts with them */
};

/* ---- elements ----------------------------------------------------------- */

/* Columns with an IANA element (forward = src2dst, reverse = dst2src). */
static const struct {
	const char *col, *ie;
	uint16_t len;
} iana_map[] = {
	{ "id", "flowId", 8 },
	{ "src_mac", "sourceMacAddress", 6 },
	{ "src_port", "sourceTransportPort", 2 },
	{ "dst_mac", "destinationMacAddress", 6 },
	{ "dst_port", "destinationTransportPort", 2 },
	{ "protocol", "protocolIdentifier", 1 },
	{ "ip_version", "ipVersion", 1 },
	{ "vlan_id", "vlanId", 2 },
	{ "bidirectional_first_seen_ms", "flowStartMilliseconds", 8 },
	{ "bidirectional_last_seen_ms", "flowEndMilliseconds", 8 },
	{ "bidirectional_duration_ms", "flowDurationMilliseconds", 4 },
	{ "src2dst_packets", "packetDeltaCount", 8 },
	{ "src2dst_bytes", "octetDeltaCount", 8 },
	{ "dst2src_first_seen_ms", "reverseFlowStartMilliseconds", 8 },
	{ "dst2src_last_seen_ms", "reverseFlowEndMilliseconds", 8 },
	{ "dst2src_duration_ms", "reverseFlowDurationMilliseconds", 4 },
	{ "dst2src_packets", "reversePacketDeltaCount", 8 },
	{ "dst2src_bytes", "reverseOctetDeltaCount", 8 },
	{ "src2dst_syn_packets", "tcpSynTotalCount", 8 },
	{ "src2dst_fin_packets", "tcpFinTotalCount", 8 },
	{ "src2dst_rst_packets", "tcpRstTotalCount", 8 },
	{ "src2dst_psh_packets", "tcpPshTotalCount", 8 },
	{ "src2dst_ack_packets", "tcpAckTotalCount", 8 },
	{ "src2dst_urg_packets", "tcpUrgTotalCount", 8 },
	{ "dst2src_syn_packets", "reverseTcpSynTotalCount", 8 },
	{ "dst2src_fin_packets", "reverseTcpFinTotalCount", 8 },
	{ "dst2src_rst_packets", "reverseTcpRstTotalCount", 8 },
	{ "dst2src_psh_packets", "reverseTcpPshTotalCount", 8 },
	{ "dst2src_ack_packets", "reverseTcpAckTotalCount", 8 },
	{ "dst2src_urg_packets", "reverseTcpUrgTotalCount", 8 },
	{ "application_name", "applicationName", FB_IE_VARLEN },
	{ "application_category_name", "applicationCategoryName", FB_IE_VARLEN },
	{ "user_agent", "httpUserAgent", FB_IE_VARLEN },
	{ "content_type", "httpContentType", FB_IE_VARLEN },
};

/*
 * Our elements, numbered in this order from 1 (stable across runs and
 * configurations): every column without an IANA element, then the SPLT
 * lists' items.  Generated once per sink from the same loops.
 */
static const char *const scopes[3] = { "bidirectional", "src2dst", "dst2src" };
static const char *const flags8[8] = { "syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin" };

struct our_def {
	char name[64];
	uint8_t type;
	uint16_t len;
	uint32_t flags;
};

static size_t our_defs(struct our_def *d)
{
	size_t n = 0;
#define DEF(nm, ty, ln, fl)                                                          \
	do {                                                                         \
		if (d) {                                                             \
			snprintf(d[n].name, sizeof(d[n].name), "%s", nm);            \
			d[n].type = ty;                                              \
			d[n].len = ln;                                               \
			d[n].flags = fl;                                             \
		}                                                                    \
		n++;                                                                 \
	} while (0)
	char nm[64];

	DEF("expiration_id", FB_INT_8, 1, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("src_oui", FB_STRING, FB_IE_VARLEN, 0);
	DEF("dst_oui", FB_STRING, FB_IE_VARLEN, 0);
	DEF("tunnel_id", FB_UINT_8, 1, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("bidirectional_packets", FB_UINT_64, 8,
	    FB_IE_F_ENDIAN | FB_IE_DELTACOUNTER | FB_UNITS_PACKETS);
	DEF("bidirectional_bytes", FB_UINT_64, 8,
	    FB_IE_F_ENDIAN | FB_IE_DELTACOUNTER | FB_UNITS_OCTETS);
	DEF("src2dst_first_seen_ms", FB_DT_MILSEC, 8, FB_IE_F_ENDIAN);
	DEF("src2dst_last_seen_ms", FB_DT_MILSEC, 8, FB_IE_F_ENDIAN);
	DEF("src2dst_duration_ms", FB_UINT_64, 8, FB_IE_F_ENDIAN | FB_UNITS_MILLISECONDS);
	for (int sc = 0; sc < 3; sc++) {
		static const char *const st[] = { "min_ps", "mean_ps", "stddev_ps", "max_ps",
						  "min_piat_ms", "mean_piat_ms", "stddev_piat_ms",
						  "max_piat_ms" };

		for (int k = 0; k < 8; k++) {
			bool fl = strstr(st[k], "mean") || strstr(st[k], "stddev");

			snprintf(nm, sizeof(nm), "%s_%s", scopes[sc], st[k]);
			DEF(nm, fl ? FB_FLOAT_64 : FB_INT_64, 8,
			    FB_IE_F_ENDIAN | FB_IE_QUANTITY |
				    (k < 4 ? FB_UNITS_OCTETS : FB_UNITS_MILLISECONDS));
		}
	}
	for (int sc = 0; sc < 3; sc++)
		for (int k = 0; k < 8; k++) {
			snprintf(nm, sizeof(nm), "%s_%s_packets", scopes[sc], flags8[k]);
			DEF(nm, FB_UINT_64, 8,
			    FB_IE_F_ENDIAN | FB_IE_TOTALCOUNTER | FB_UNITS_PACKETS);
		}
	DEF("splt_direction", FB_BASIC_LIST, FB_IE_VARLEN, FB_IE_LIST);
	DEF("splt_ps", FB_BASIC_LIST, FB_IE_VARLEN, FB_IE_LIST);
	DEF("splt_piat_ms", FB_BASIC_LIST, FB_IE_VARLEN, FB_IE_LIST);
	DEF("application_is_guessed", FB_UINT_8, 1, FB_IE_F_ENDIAN | FB_IE_FLAGS);
	DEF("application_confidence", FB_UINT_8, 1, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("requested_server_name", FB_STRING, FB_IE_VARLEN, 0);
	DEF("client_fingerprint", FB_STRING, FB_IE_VARLEN, 0);
	DEF("server_fingerprint", FB_STRING, FB_IE_VARLEN, 0);
	DEF("client_fingerprint_ja4", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_process_pid", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("system_process_name", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_process_ppid", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("system_process_uid", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("system_process_user", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_process_exe", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_process_cmdline", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_process_start_ms", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_UNITS_MILLISECONDS);
	DEF("system_cgroup_id", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_IE_IDENTIFIER);
	DEF("system_container_id", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_attribution", FB_STRING, FB_IE_VARLEN, 0);
	DEF("system_process_others", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_IE_QUANTITY);
	DEF("splt_direction_item", FB_INT_8, 1, FB_IE_F_ENDIAN);
	DEF("splt_ps_item", FB_INT_32, 4, FB_IE_F_ENDIAN | FB_UNITS_OCTETS);
	DEF("splt_piat_ms_item", FB_INT_64, 8, FB_IE_F_ENDIAN | FB_UNITS_MILLISECONDS);
	DEF("udps_list_item", FB_INT_64, 8, FB_IE_F_ENDIAN);
#undef DEF
	return n;
}

static int ipfix_err(char *err, size_t n, const char *what, GError *e)
{
	snprintf(err, n, "ipfix: %s: %s", what, e ? e->message : "failed");
	if (e)
		g_error_free(e);
	return -EINVAL;
}

/* Register our elements (and the plugins' columns) under @pen. */
static int add_ours(struct ipfix *x, char *err, size_t n)
{
	size_t nd = our_defs(NULL), nu = 0, k = 0;
	struct our_def *d;

	for (size_t i = 0; i < x->schema->n; i++)
		nu += x->schema->cols[i].field == CF_UDP;
	d = calloc(nd, sizeof(*d));
	x->ours = calloc(nd + nu + 1, sizeof(*x->ours));
	x->names = calloc(nd + nu + 1, sizeof(*x->names));
	if (!d || !x->ours || !x->names) {
		free(d);
		snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	our_defs(d);
	for (size_t i = 0; i < nd; i++, k++) {
		snprintf(x->names[k], sizeof(x->names[k]), "%s", d[i].name);
		x->ours[k] = (fbInfoElement_t)FB_IE_INIT_FULL(x->names[k], x->pen, (uint16_t)(i + 1),
							       d[i].len, d[i].flags, 0, 0, d[i].type,
							       NULL);
	}
	free(d);
	for (size_t i = 0, u = 0; i < x->schema->n; i++) {
		const struct column *c = &x->schema->cols[i];
		uint8_t ty;
		uint16_t len;

		if (c->field != CF_UDP)
			continue;
		switch (c->kind) {
		case COL_INT:
			ty = FB_INT_64, len = 8;
			break;
		case COL_FLOAT:
			ty = FB_FLOAT_64, len = 8;
			break;
		case COL_LIST:
			ty = FB_BASIC_LIST, len = FB_IE_VARLEN;
			break;
		default:
			ty = FB_STRING, len = FB_IE_VARLEN;
		}
		snprintf(x->names[k], sizeof(x->names[k]), "%s", c->name);
		x->ours[k] = (fbInfoElement_t)FB_IE_INIT_FULL(
			x->names[k], x->pen, (uint16_t)(UDP_FIRST_IE + u), len,
			ty == FB_STRING || ty == FB_BASIC_LIST ? 0 : FB_IE_F_ENDIAN, 0, 0, ty, NULL);
		u++;
		k++;
	}
	x->n_ours = k;
	x->ours[k] = (fbInfoElement_t)FB_IE_NULL;
	fbInfoModelAddElementArray(x->model, x->ours);
	return 0;
}

static bool is_ours(const struct ipfix *x, const char *name)
{
	for (size_t i = 0; i < x->n_ours; i++)
		if (!strcmp(x->names[i], name))
			return true;
	return false;
}

/* Append element @ie (length @len) to @t and its record layout. */
static int tmpl_add(struct ipfix *x, fbTemplate_t *ft, struct tmpl *t, const char *ie, uint16_t len,
		    enum conv conv, size_t col, char *err, size_t n)
{
	fbInfoElementSpec_t spec = { (char *)ie, len, 0 };
	const fbInfoElement_t *m = fbInfoModelGetElementByName(x->model, ie);
	GError *e = NULL;
	struct field *f;
	size_t mem;

	if (!m) {
		snprintf(err, n, "ipfix: no information element '%s'", ie);
		return -EINVAL;
	}
	if (!fbTemplateAppendSpec(ft, &spec, 0, &e))
		return ipfix_err(err, n, ie, e);
	f = realloc(t->f, (t->n + 1) * sizeof(*f));
	if (!f)
		return -ENOMEM;
	t->f = f;
	f = &t->f[t->n++];
	memset(f, 0, sizeof(*f));
	if (m->type == FB_BASIC_LIST)
		mem = sizeof(fbBasicList_t);
	else if (len == FB_IE_VARLEN)
		mem = sizeof(fbVarfield_t);
	else
		mem = len;
	f->off = (uint16_t)t->rec_len;
	f->len = len;
	f->conv = (uint8_t)conv;
	f->col = (uint16_t)col;
	t->rec_len += mem;
	if (m->type == FB_BASIC_LIST) {
		const char *item = "udps_list_item";

		if (!strcmp(ie, "splt_direction"))
			item = "splt_direction_item";
		else if (!strcmp(ie, "splt_ps"))
			item = "splt_ps_item";
		else if (!strcmp(ie, "splt_piat_ms"))
			item = "splt_piat_ms_item";
		f->item = fbInfoModelGetElementByName(x->model, item);
		f->item_len = (uint8_t)f->item->len;
		f->conv = conv == CV_UDP ? CV_UDP : CV_LIST;
	}
	return 0;
}

/* The data template for IP version @v. */
static int build_tmpl(struct ipfix *x, int v, struct tmpl *t, char *err, size_t n)
{
	fbTemplate_t *ft = fbTemplateAlloc(x->model);
	GError *e = NULL;
	size_t *order = calloc(x->schema->n + 1, sizeof(*order)), k = 0;
	int rc = 0;

	if (!order)
		return -ENOMEM;
	/*
	 * Column order, except that the reverse direction's times come before
	 * the biflow's: nfdump 1.7 reads reverseFlowStart/EndMilliseconds as
	 * flowStart/EndMilliseconds, and the last one in a record wins.
	 */
	for (size_t i = 0; i < x->schema->n; i++) {
		const struct column *c = &x->schema->cols[i];

		if (c->field == CF_FIRST_SEEN && c->scope == 0)
			for (size_t r = 0; r < x->schema->n; r++) {
				const struct column *d = &x->schema->cols[r];

				if (d->scope == 2 && (d->field == CF_FIRST_SEEN ||
						      d->field == CF_LAST_SEEN ||
						      d->field == CF_DURATION))
					order[k++] = r;
			}
		if (c->scope == 2 && (c->field == CF_FIRST_SEEN || c->field == CF_LAST_SEEN ||
				      c->field == CF_DURATION))
			continue;
		order[k++] = i;
	}

	t->tid = v == 4 ? TID_V4 : TID_V6;
	for (size_t j = 0; j < x->schema->n && !rc; j++) {
		size_t i = order[j];
		const struct column *c = &x->schema->cols[i];
		const char *ie = NULL;
		uint16_t len = 0;

		switch (c->field) {
		case CF_SRC_IP:
			rc = tmpl_add(x, ft, t, v == 4 ? "sourceIPv4Address" : "sourceIPv6Address",
				      v == 4 ? 4 : 16, CV_SRC_IP, i, err, n);
			continue;
		case CF_DST_IP:
			rc = tmpl_add(x, ft, t,
				      v == 4 ? "destinationIPv4Address" : "destinationIPv6Address",
				      v == 4 ? 4 : 16, CV_DST_IP, i, err, n);
			continue;
		case CF_UDP:
			rc = tmpl_add(x, ft, t, c->name,
				      c->kind == COL_INT || c->kind == COL_FLOAT ? 8 : FB_IE_VARLEN,
				      CV_UDP, i, err, n);
			continue;
		default:
			break;
		}
		for (size_t k = 0; k < sizeof(iana_map) / sizeof(iana_map[0]); k++)
			if (!strcmp(iana_map[k].col, c->name)) {
				ie = iana_map[k].ie;
				len = iana_map[k].len;
			}
		if (!ie && is_ours(x, c->name)) {
			ie = c->name;
			len = fbInfoModelGetElementByName(x->model, ie)->len;
		}
		if (!ie) {
			snprintf(err, n, "ipfix: no element for column '%s'", c->name);
			rc = -EINVAL;
			break;
		}
		rc = tmpl_add(x, ft, t, ie, len,
			      c->field == CF_SRC_MAC ? CV_SRC_MAC :
			      c->field == CF_DST_MAC ? CV_DST_MAC :
			      col_is_addr(c) ? CV_ADDR_TEXT :
			      c->kind == COL_FLOAT ? CV_FLOAT :
			      c->kind == COL_STR ? CV_STR :
			      c->kind == COL_LIST ? CV_LIST : CV_INT, i, err, n);
		if (!rc && c->field == CF_EXPIRATION_ID)
			rc = tmpl_add(x, ft, t, "flowEndReason", 1, CV_END_REASON, i, err, n);
	}
	free(order);
	if (rc) {
		fbTemplateFreeUnused(ft);
		return rc;
	}
	t->rec = calloc(1, t->rec_len ? t->rec_len : 1);
	if (!t->rec)
		return -ENOMEM;
	if (!fbSessionAddTemplate(x->session, TRUE, t->tid, ft, &e) ||
	    !fbSessionAddTemplate(x->session, FALSE, t->tid, ft, &e))
		return ipfix_err(err, n, "template", e);
	return 0;
}

/* ---- encoding (writer thread) ------------------------------------------- */

static int emit_to_item(struct sink *s, bool queue)
{
	struct ipfix *x = s->impl;
	GError *e = NULL;
	size_t len;
	struct sink_item *it;

	if (!fBufEmit(x->fbuf, &e)) {
		if (e)
			g_error_free(e);
		return -EIO;
	}
	len = fbExporterGetMsgLen(fBufGetExporter(x->fbuf));
	if (!queue || len <= 16)
		return 0;
	it = sink_item_take(s, len > 65536 ? len : 65536); /* a message is 64 KiB at most */
	if (!it) {
		SINK_ADD(s, dropped_queue_full, x->nrec);
		x->nrec = 0;
		return -ENOMEM;
	}
	sink_item_put(it, x->emit_buf, len);
	it->nflows = x->nrec;
	it->first_id = x->first_id;
	it->last_id = x->last_id;
	x->nrec = 0;
	sink_push(s, it);
	return 0;
}

static void put_int(uint8_t *p, uint16_t len, int64_t v)
{
	switch (len) {
	case 1: {
		uint8_t b = (uint8_t)v;

		memcpy(p, &b, 1);
		break;
	}
	case 2: {
		uint16_t w = (uint16_t)v;

		memcpy(p, &w, 2);
		break;
	}
	case 4: {
		/* flowDurationMilliseconds is unsigned32: longer durations saturate */
		uint32_t d = v < 0 ? 0 : v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;

		memcpy(p, &d, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
	}
}

/*
 * A record's lists are written into list_buf, one region of LIST_MAX bytes
 * per list field, allocated once: a list's dataPtr stays valid while the
 * record's other lists are written (no realloc under it).
 */
#define LIST_MAX 65528 /* 8191 items of 8 bytes: what a basicList can carry */

static void put_list(struct ipfix *x, uint8_t *p, const struct field *f, const int64_t *v,
		     size_t n, size_t *used)
{
	fbBasicList_t bl;
	uint8_t *buf = x->list_buf + *used;

	if (n > LIST_MAX / f->item_len)
		n = LIST_MAX / f->item_len;
	for (size_t i = 0; i < n; i++) {
		if (f->item_len == 1) {
			int8_t b = (int8_t)v[i];

			memcpy(buf + i, &b, 1);
		} else if (f->item_len == 4) {
			int32_t w = (int32_t)v[i];

			memcpy(buf + i * 4, &w, 4);
		} else {
			memcpy(buf + i * 8, &v[i], 8);
		}
	}
	memset(&bl, 0, sizeof(bl));
	fbBasicListInitWithOwnBuffer(&bl, FB_LIST_SEM_ORDERED, f->item, (uint16_t)n,
				     (uint16_t)(n * f->item_len), buf);
	memcpy(p, &bl, sizeof(bl));
	*used += LIST_MAX;
}

static void fill(struct ipfix *x, struct tmpl *t, const struct flow_record *r,
		 const struct col_row *row)
{
	const struct flow *fl = r->flow;
	size_t list_used = 0, texts = 0;
	uint8_t *rec = t->rec;

	for (size_t i = 0; i < t->n; i++) {
		const struct field *f = &t->f[i];
		const struct column *c = &x->schema->cols[f->col];
		uint8_t *p = rec + f->off;
		struct col_value v;

		switch (f->conv) {
		case CV_INT:
			put_int(p, f->len, row->i[c->slot]);
			break;
		case CV_FLOAT:
			memcpy(p, &row->f[c->slot], 8);
			break;
		case CV_STR: {
			fbVarfield_t vf = { .buf = (uint8_t *)row->s[c->slot] };

			vf.len = vf.buf ? strlen((const char *)vf.buf) : 0;
			if (vf.len > 65535 - 8)
				vf.len = 65535 - 8;
			memcpy(p, &vf, sizeof(vf));
			break;
		}
		case CV_SRC_IP:
		case CV_DST_IP: {
			const uint8_t *a = f->conv == CV_SRC_IP ? fl->src_ip : fl->dst_ip;

			if (f->len == 4) {
				uint32_t w;

				memcpy(&w, a, 4);
				w = ntohl(w);
				memcpy(p, &w, 4);
			} else {
				memcpy(p, a, 16);
			}
			break;
		}
		case CV_ADDR_TEXT: {
			/* the OUI columns' text ("aa:bb:cc"), two per record at most */
			char *txt = x->addr_text[texts++ & 1];
			fbVarfield_t vf = { .buf = (uint8_t *)txt };

			vf.len = col_addr_text(c, fl, txt);
			memcpy(p, &vf, sizeof(vf));
			break;
		}
		case CV_SRC_MAC:
			memcpy(p, fl->src_mac, 6);
			break;
		case CV_DST_MAC:
			memcpy(p, fl->dst_mac, 6);
			break;
		case CV_END_REASON: {
			int ex = r->expiration_id;

			/* idle (and end of input) 1, active 2, forced (plugin) 4,
			 * memory cap 5 (lackOfResources) */
			*p = ex == 0 ? 1 : ex == 1 ? 2 : ex == 2 ? 5 : 4;
			break;
		}
		case CV_LIST:
			col_get(c, r, &v, x->scratch);
			put_list(x, p, f, v.list, v.n, &list_used);
			break;
		case CV_UDP:
			col_get(c, r, &v, x->scratch);
			if (c->kind == COL_INT) {
				memcpy(p, &v.i, 8);
			} else if (c->kind == COL_FLOAT) {
				memcpy(p, &v.f, 8);
			} else if (c->kind == COL_LIST) {
				put_list(x, p, f, v.list, v.n, &list_used);
			} else {
				fbVarfield_t vf = { .len = v.s ? strlen(v.s) : 0,
						    .buf = (uint8_t *)v.s };

				memcpy(p, &vf, sizeof(vf));
			}
			break;
		}
	}
}

static int ipfix_encode(struct sink *s, const struct flow_record *r)
{
	struct ipfix *x = s->impl;
	struct tmpl *t = r->flow->ip_version == 6 ? &x->t6 : &x->t4;
	struct col_row row;
	GError *e = NULL;

	col_row_get(r, &row);
	fill(x, t, r, &row);
	if (x->cur_tid != t->tid) {
		if (!fBufSetInternalTemplate(x->fbuf, t->tid, &e) ||
		    !fBufSetExportTemplate(x->fbuf, t->tid, &e)) {
			if (e)
				g_error_free(e);
			SINK_ADD(s, dropped_too_big, 1);
			return 0;
		}
		x->cur_tid = t->tid;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (fBufAppend(x->fbuf, t->rec, t->rec_len, &e)) {
			if (!x->nrec)
				x->first_id = r->id;
			x->last_id = r->id;
			x->nrec++;
			return 0;
		}
		if (!g_error_matches(e, FB_ERROR_DOMAIN, FB_ERROR_EOM) || attempt) {
			/* does not fit in an empty message (or cannot be encoded) */
			g_clear_error(&e);
			SINK_ADD(s, dropped_too_big, 1);
			return 0;
		}
		g_clear_error(&e);
		/* full, or no message started yet: hand this one over */
		emit_to_item(s, true);
		/* the next message starts with a new set: set the templates again */
		fBufSetInternalTemplate(x->fbuf, t->tid, NULL);
		fBufSetExportTemplate(x->fbuf, t->tid, NULL);
	}
	SINK_ADD(s, dropped_too_big, 1);
	return 0;
}

static void ipfix_flush(struct sink *s)
{
	struct ipfix *x = s->impl;

	if (x->nrec)
		emit_to_item(s, true);
}

/* The template messages: both data templates, the RFC 5610 type template,
 * then one type record per element of ours. */
/* RFC 5610's options template, for the type records of our elements */
static int add_type_tmpl(struct ipfix *x, char *err, size_t n)
{
	GError *e = NULL;
	fbTemplate_t *tt = fbInfoElementAllocTypeTemplate(x->model, &e);

	if (!tt)
		return ipfix_err(err, n, "type template", e);
	if (!fbSessionAddTemplate(x->session, TRUE, TID_TYPES, tt, &e) ||
	    !fbSessionAddTemplate(x->session, FALSE, TID_TYPES, tt, &e))
		return ipfix_err(err, n, "type template", e);
	return 0;
}

static int keep_template_msg(struct ipfix *x)
{
	size_t len = fbExporterGetMsgLen(fBufGetExporter(x->fbuf));
	struct msg *m = realloc(x->tm, (x->n_tm + 1) * sizeof(*m));

	if (!m)
		return -ENOMEM;
	x->tm = m;
	if (len <= 16)
		return 0;
	m[x->n_tm].data = malloc(len);
	if (!m[x->n_tm].data)
		return -ENOMEM;
	memcpy(m[x->n_tm].data, x->emit_buf, len);
	m[x->n_tm].len = len;
	m[x->n_tm].nrec = x->nrec;
	x->n_tm++;
	x->nrec = 0;
	return 0;
}

static int build_template_msgs(struct sink *s, char *err, size_t n)
{
	struct ipfix *x = s->impl;
	GError *e = NULL;
	const uint16_t tids[] = { TID_TYPES, TID_V4, TID_V6 };
	size_t k = 0, nsteps = 3 + x->n_ours, added = 0;
	bool retried = false;

	x->nrec = 0;
	while (k < nsteps) {
		gboolean ok;
		/* the type template, the type records, then the data templates: a
		 * collector knows our elements before it reads a template */
		bool rec = k >= 1 && k <= x->n_ours;

		if (!rec)
			ok = fbSessionExportTemplate(x->session, tids[k ? k - x->n_ours : 0], &e);
		else
			ok = fbInfoElementWriteOptionsRecord(
				x->fbuf, fbInfoModelGetElementByName(x->model, x->names[k - 1]),
				TID_TYPES, TID_TYPES, &e);
		if (ok) {
			if (rec)
				x->nrec++;
			k++;
			added++;
			retried = false;
			continue;
		}
		if (!g_error_matches(e, FB_ERROR_DOMAIN, FB_ERROR_EOM))
			return ipfix_err(err, n, "templates", e);
		g_clear_error(&e);
		if (!added && retried)
			return ipfix_err(err, n, "a template does not fit in a message", NULL);
		/* message full, or another kind of set must start a new one: keep
		 * what it holds, start the next */
		if (emit_to_item(s, false) || (added && keep_template_msg(x)))
			return ipfix_err(err, n, "templates", NULL);
		retried = !added;
		added = 0;
	}
	if (emit_to_item(s, false) || keep_template_msg(x))
		return ipfix_err(err, n, "templates", NULL);
	return 0;
}

/* ---- transport (sink thread) -------------------------------------------- */

static void close_fd(struct ipfix *x)
{
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->need_templates = true;
}

static int open_dest(struct sink *s, char *why, size_t n)
{
	struct ipfix *x = s->impl;
	struct addrinfo hints = { 0 }, *ai = NULL, *a;
	int rc, fd = -1;

	if (x->transport == 'f') {
		fd = open(x->path, O_WRONLY | O_CREAT | O_CLOEXEC | (x->file_opened ? O_APPEND : O_TRUNC),
			  0644);
		if (fd < 0) {
			snprintf(why, n, "cannot open '%.300s': %s", x->path, strerror(errno));
			return -1;
		}
		x->file_opened = true;
		x->fd = fd;
		return 0;
	}
	hints.ai_socktype = x->transport == 't' ? SOCK_STREAM : SOCK_DGRAM;
	rc = getaddrinfo(x->host, x->port, &hints, &ai);
	if (rc) {
		snprintf(why, n, "cannot resolve '%s': %s", x->host, gai_strerror(rc));
		return -1;
	}
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (x->transport == 'u') {
			int sz = 4 << 20;

			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		}
		rc = connect(fd, a->ai_addr, a->ai_addrlen);
		if (rc && errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (poll(&p, 1, 3000) == 1 &&
			    !getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) && !soerr)
				rc = 0;
			else
				errno = soerr ? soerr : ETIMEDOUT;
		}
		if (!rc)
			break;
		snprintf(why, n, "cannot connect: %s", strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	x->fd = fd;
	return 0;
}

/* Write @len bytes, waiting while the peer is slow; gives up at the drain
 * deadline.  0 or -1 (@why says why). */
static int send_all(struct sink *s, const uint8_t *p, size_t len, char *why, size_t n)
{
	struct ipfix *x = s->impl;

	while (len) {
		ssize_t w;

		if (x->transport == 'f')
			w = write(x->fd, p, len);
		else
			w = send(x->fd, p, len, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			len -= (size_t)w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			struct pollfd pf = { .fd = x->fd, .events = POLLOUT };
			uint64_t dl;

			if (sink_closing(s, &dl) && sink_mono_ms() >= dl) {
				snprintf(why, n, "collector too slow at the end");
				return -1;
			}
			poll(&pf, 1, 200);
			continue;
		}
		snprintf(why, n, "%s: %s", x->transport == 'f' ? "write" : "send",
			 w == 0 ? "nothing written" : strerror(errno));
		return -1;
	}
	return 0;
}

static void set_header(uint8_t *m, uint32_t seq, bool now)
{
	uint32_t w = htonl(seq);

	memcpy(m + 8, &w, 4);
	if (now) {
		w = htonl((uint32_t)time(NULL));
		memcpy(m + 4, &w, 4);
	}
}

static int send_templates(struct sink *s, uint32_t *seq, char *why, size_t n)
{
	struct ipfix *x = s->impl;

	for (size_t i = 0; i < x->n_tm; i++) {
		set_header(x->tm[i].data, *seq, true);
		if (send_all(s, x->tm[i].data, x->tm[i].len, why, n))
			return -1;
		*seq += x->tm[i].nrec;
	}
	return 0;
}

static void *ipfix_run(void *arg)
{
	struct sink *s = arg;
	struct ipfix *x = s->impl;
	uint32_t seq = 0;
	uint64_t backoff = 100, next_try = 0, next_refresh = UINT64_MAX, gap;
	bool connected_once = false;
	char why[600];

	for (;;) {
		uint64_t dl, now = sink_mono_ms();
		bool closing = sink_closing(s, &dl);
		struct sink_item *it;

		if (closing && now >= dl)
			break;
		if (x->fd < 0 && now < next_try) {
			uint64_t until = closing && dl < next_try ? dl : next_try;

			if (closing && sink_empty(s))
				break;
			if (closing) /* the queue no longer wakes us: poll */
				poll(NULL, 0, (int)(until - now < 50 ? until - now : 50));
			else
				sink_sleep(s, until);
			continue;
		}
		if (x->fd < 0 || x->need_templates) {
			if ((x->fd < 0 && open_dest(s, why, sizeof(why))) ||
			    send_templates(s, &seq, why, sizeof(why))) {
				close_fd(x);
				SINK_ADD(s, errors, 1);
				sink_report(s, why);
				sink_set_healthy(s, false);
				next_try = sink_mono_ms() + backoff;
				backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
				continue;
			}
			if (connected_once)
				SINK_ADD(s, reconnects, 1);
			connected_once = true;
			backoff = 100;
			x->need_templates = false;
			sink_report(s, "");
			sink_set_healthy(s, true);
			next_refresh = x->transport == 'u' ? sink_mono_ms() + x->refresh_ms : UINT64_MAX;
		}
		if (sink_mono_ms() >= next_refresh) {
			if (send_templates(s, &seq, why, sizeof(why))) {
				close_fd(x);
				SINK_ADD(s, errors, 1);
				sink_report(s, why);
				continue;
			}
			next_refresh = sink_mono_ms() + x->refresh_ms;
		}
		it = sink_pop(s, closing ? 0 : next_refresh, &gap);
		seq += (uint32_t)gap;
		if (!it) {
			if (closing)
				break;
			continue;
		}
		set_header(it->data, seq, false);
		if (send_all(s, it->data, it->len, why, sizeof(why))) {
			close_fd(x);
			SINK_ADD(s, errors, 1);
			sink_report(s, why);
			sink_set_healthy(s, false);
			sink_unpop(s, it);
			next_try = sink_mono_ms() + backoff;
			continue;
		}
		seq += (uint32_t)it->nflows;
		SINK_ADD(s, flows_sent, it->nflows);
		SINK_ADD(s, messages_sent, 1);
		SINK_ADD(s, bytes_sent, it->len);
		sink_item_give(s, it);
	}
	close_fd(x);
	return NULL;
}

/* ---- setup -------------------------------------------------------------- */

static void ipfix_destroy(struct sink *s)
{
	struct ipfix *x = s->impl;

	if (!x)
		return;
	if (x->fbuf)
		fBufFree(x->fbuf); /* frees the session and the exporter */
	else if (x->session)
		fbSessionFree(x->session);
	if (x->model)
		fbInfoModelFree(x->model);
	free(x->t4.f);
	free(x->t4.rec);
	free(x->t6.f);
	free(x->t6.rec);
	for (size_t i = 0; i < x->n_tm; i++)
		free(x->tm[i].data);
	free(x->tm);
	free(x->emit_buf);
	free(x->scratch);
	free(x->list_buf);
	free(x->ours);
	free(x->names);
	close_fd(x);
	free(x);
	s->impl = NULL;
}

static const struct sink_vt ipfix_vt = {
	.name = "ipfix",
	.encode = ipfix_encode,
	.flush = ipfix_flush,
	.run = ipfix_run,
	.destroy = ipfix_destroy,
};

int ipfix_sink_open(const struct fs_writer_options *wo, const struct schema *schema,
		    struct sink **out, char *err, size_t n)
{
	struct sink *s = calloc(1, sizeof(*s));
	struct ipfix *x = calloc(1, sizeof(*x));
	const char *path;
	fbExporter_t *ex;
	int rc;

	*out = NULL;
	if (!s || !x) {
		free(s);
		free(x);
		snprintf(err, n, "out of memory");
		return -ENOMEM;
	}
	sink_init(s, &ipfix_vt, (wo->ipfix_queue_mb ? wo->ipfix_queue_mb : 64) << 20);
	s->impl = x;
	x->fd = -1;
	x->need_templates = true;
	snprintf(s->label, sizeof(s->label), "ipfix %s", wo->ipfix);
	if (sink_parse_ipfix_url(wo->ipfix, &x->transport, x->host, sizeof(x->host), x->port,
				 sizeof(x->port), &path)) {
		snprintf(err, n, "invalid ipfix '%s': expected tcp://HOST:PORT, udp://HOST:PORT or "
			 "file:PATH", wo->ipfix);
		rc = -EINVAL;
		goto fail;
	}
	if (path)
		snprintf(x->path, sizeof(x->path), "%s", path);
	x->pen = wo->ipfix_pen ? (uint32_t)wo->ipfix_pen : PEN_DOC;
	if (x->pen == PEN_REVERSE || x->pen == 6871) {
		snprintf(err, n, "invalid ipfix_pen '%u': %u is reserved (%s)", x->pen, x->pen,
			 x->pen == PEN_REVERSE ? "RFC 5103 reverse elements" : "CERT's elements");
		rc = -EINVAL;
		goto fail;
	}
	x->refresh_ms = (wo->ipfix_template_refresh ? wo->ipfix_template_refresh : 60) * 1000;
	x->schema = schema;
	x->mtu = x->transport == 'u' ? MSG_MAX_UDP : MSG_MAX_STREAM;
	x->emit_buf = malloc(MSG_MAX_STREAM);
	x->scratch = col_scratch_new(schema);
	x->model = fbInfoModelAlloc();
	{
		size_t lists = 0;

		for (size_t i = 0; i < schema->n; i++)
			lists += schema->cols[i].kind == COL_LIST;
		x->list_buf = malloc(lists ? lists * LIST_MAX : 1);
	}
	if (!x->emit_buf || !x->scratch || !x->model || !x->list_buf) {
		snprintf(err, n, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = add_ours(x, err, n);
	if (rc)
		goto fail;
	x->session = fbSessionAlloc(x->model);
	rc = build_tmpl(x, 4, &x->t4, err, n);
	if (!rc)
		rc = build_tmpl(x, 6, &x->t6, err, n);
	if (!rc)
		rc = add_type_tmpl(x, err, n);
	if (rc)
		goto fail;
	ex = fbExporterAllocBuffer(x->emit_buf, x->mtu);
	x->fbuf = fBufAllocForExport(x->session, ex);
	fBufSetAutomaticMode(x->fbuf, FALSE);
	rc = build_template_msgs(s, err, n);
	if (rc)
		goto fail;
	if (x->transport == 'f') {
		/* a file that cannot be created is an error now, not later */
		char why[512];

		if (open_dest(s, why, sizeof(why))) {
			snprintf(err, n, "ipfix: %s", why);
			rc = -EIO;
			goto fail;
		}
	}
	rc = sink_start(s);
	if (rc) {
		snprintf(err, n, "cannot start the ipfix thread: %s", strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	ipfix_destroy(s);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->room);
	free(s);
	return rc;
}
