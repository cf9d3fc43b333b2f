// SPDX-License-Identifier: GPL-2.0-only
/*
 * nDPI 4.2 wrapper.  The dissection procedure and the info collection are
 * NFStream's (spec §1.4): first packet always dissected; later packets fed
 * while the app is unknown or extra dissection is possible; give-up with
 * guessing at n_dissections packets or at expiry.  Collection happens when
 * detection completes (nothing is fed after that, so the values are those
 * NFStream reads at expiry) and the ndpi_flow_struct is freed right away.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi/ndpi_api.h>
#include <ndpi/ndpi_main.h>

#include "core/flow_pool.h"
#include "l7/dpi.h"
#include "l7/ja4.h"
#include "util/log.h"

/* NFStream's buffer sizes (nf_flow_t): strings are cut to size - 1. */
#define APP_NAME_LEN 40
#define CATEGORY_COPY 24
#define SERVER_NAME_LEN 80
#define FP_LEN 48
#define UA_LEN 256
#define CT_LEN 64

struct dpi {
	struct ndpi_detection_module_struct *mod;
	struct dpi_opts o;
	uint64_t withheld; /* DTLS certificates kept from nDPI (dtls_certificate()) */
	struct flow_pool *nf_pool; /* nDPI flow structs, NF_HEAD bytes after their pool */
};

/* A pooled nDPI flow struct starts NF_HEAD bytes into its object, after
 * the pool it goes back to (a flow is freed where no dpi is at hand). */
#define NF_HEAD 64

static struct ndpi_flow_struct *nf_new(struct dpi *d)
{
	uint8_t *o = flow_pool_alloc(d->nf_pool); /* zeroed */

	if (!o)
		return NULL;
	*(struct flow_pool **)o = d->nf_pool;
	return (struct ndpi_flow_struct *)(o + NF_HEAD);
}

static void nf_free(struct ndpi_flow_struct *nf)
{
	uint8_t *o = (uint8_t *)nf - NF_HEAD;

	ndpi_free_flow_data(nf); /* what nDPI allocated for the flow */
	flow_pool_free(*(struct flow_pool **)o, o);
}

/* A ClientHello larger than one segment (post-quantum key shares make
 * Chrome's ~1.8 KB): in-order payload of its sender, bounded. */
#define HELLO_MAX_BYTES 16384

struct dpi_hello {
	uint16_t sport;
	uint16_t len;
	uint8_t buf[HELLO_MAX_BYTES];
};

int dpi_new(const struct dpi_opts *opts, struct dpi **out)
{
	NDPI_PROTOCOL_BITMASK all;
	struct dpi *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->o = *opts;
	if (ndpi_get_api_version() != NDPI_API_VERSION) {
		pr_warn("cannot initialise nDPI: library API %u, headers %u\n",
			ndpi_get_api_version(), NDPI_API_VERSION);
		free(d);
		return -EINVAL;
	}
	d->nf_pool = flow_pool_new(NF_HEAD + SIZEOF_FLOW_STRUCT);
	d->mod = d->nf_pool ? ndpi_init_detection_module(ndpi_no_prefs) : NULL;
	if (!d->mod) {
		flow_pool_release(d->nf_pool);
		pr_warn("cannot initialise nDPI: detection module allocation failed\n");
		free(d);
		return -ENOMEM;
	}
	NDPI_BITMASK_SET_ALL(all);
	ndpi_set_protocol_detection_bitmask2(d->mod, &all);
	ndpi_finalize_initialization(d->mod);
	*out = d;
	return 0;
}

void dpi_free(struct dpi *d)
{
	if (!d)
		return;
	ndpi_exit_detection_module(d->mod);
	flow_pool_release(d->nf_pool); /* gone once its last flow struct is */
	free(d);
}

size_t dpi_flow_struct_bytes(void)
{
	return SIZEOF_FLOW_STRUCT;
}

/* Length of the valid UTF-8 sequence at s[0..n), 0 if s[0] starts an
 * invalid one; *skip gets the maximal invalid subpart to drop. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *skip)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;

	*skip = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		unsigned char b;

		if (i >= n)
			return (*skip = i), 0;
		b = s[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
			return (*skip = i), 0;
	}
	return need + 1;
}

size_t dpi_utf8_clean(char *dst, const char *src, size_t max)
{
	size_t n = strnlen(src, max), i = 0, o = 0;
	const unsigned char *s = (const unsigned char *)src;

	while (i < n) {
		size_t skip, len = utf8_seq(s + i, n - i, &skip);

		if (len) {
			memcpy(dst + o, s + i, len);
			o += len;
			i += len;
		} else {
			i += skip;
		}
	}
	dst[o] = '\0';
	return o;
}

static bool is_proto(const struct dpi_flow *f, uint16_t id)
{
	return f->master_proto == id || f->app_proto == id;
}

static void set_result(struct dpi_flow *f, ndpi_protocol proto)
{
	f->master_proto = proto.master_protocol;
	f->app_proto = proto.app_protocol;
	f->category = (uint16_t)proto.category;
}

/* Copy the nine L7 values out of nDPI (NFStream's collect_info). */
static void collect(struct dpi *d, struct dpi_flow *f)
{
	struct ndpi_flow_struct *nf = f->nf;
	ndpi_protocol proto = { .master_protocol = f->master_proto,
				.app_protocol = f->app_proto,
				.category = (ndpi_protocol_category_t)f->category };
	char app[APP_NAME_LEN], cat[CATEGORY_COPY + 1];
	const char *catname;
	const char *client_fp = "", *server_fp = "", *ua = "", *ct = "";
	const char *src[8];
	size_t max[8], total = 0;
	struct dpi_result *r;
	char *w;

	ndpi_protocol2name(d->mod, proto, app, sizeof(app));
	catname = ndpi_category_get_name(d->mod, proto.category);
	snprintf(cat, sizeof(cat), "%s", catname ? catname : "");
	if (is_proto(f, NDPI_PROTOCOL_DHCP)) {
		client_fp = nf->protos.dhcp.fingerprint;
	} else if (is_proto(f, NDPI_PROTOCOL_HTTP)) {
		ct = nf->http.content_type ? nf->http.content_type : "";
		ua = nf->http.user_agent ? nf->http.user_agent : "";
	} else if (is_proto(f, NDPI_PROTOCOL_SSH)) {
		client_fp = nf->protos.ssh.hassh_client;
		server_fp = nf->protos.ssh.hassh_server;
	} else if (is_proto(f, NDPI_PROTOCOL_TLS) || is_proto(f, NDPI_PROTOCOL_DTLS) ||
		   is_proto(f, NDPI_PROTOCOL_MAIL_SMTPS) || is_proto(f, NDPI_PROTOCOL_MAIL_IMAPS) ||
		   is_proto(f, NDPI_PROTOCOL_MAIL_POPS) || is_proto(f, NDPI_PROTOCOL_QUIC)) {
		ua = nf->http.user_agent ? nf->http.user_agent : "";
		client_fp = nf->protos.tls_quic.ja3_client;
		server_fp = nf->protos.tls_quic.ja3_server;
	}
	src[0] = app, max[0] = APP_NAME_LEN - 1;
	src[1] = cat, max[1] = CATEGORY_COPY;
	src[2] = nf->host_server_name, max[2] = SERVER_NAME_LEN - 1;
	src[3] = client_fp, max[3] = FP_LEN - 1;
	src[4] = server_fp, max[4] = FP_LEN - 1;
	src[5] = ua, max[5] = UA_LEN - 1;
	src[6] = ct, max[6] = CT_LEN - 1;
	src[7] = f->ja4 ? f->ja4 : "", max[7] = JA4_STR_LEN - 1;
	for (int i = 0; i < 8; i++)
		total += strnlen(src[i], max[i]) + 1;
	r = malloc(sizeof(*r) + total);
	if (!r)
		return; /* the flow is exported with empty L7 values */
	r->is_guessed = f->guessed;
	r->confidence = (uint8_t)nf->confidence;
	w = r->strings;
	for (int i = 0; i < 8; i++) {
		const char **dst[8] = { &r->application_name, &r->category_name,
					&r->requested_server_name, &r->client_fingerprint,
					&r->server_fingerprint, &r->user_agent, &r->content_type,
					&r->ja4 };

		*dst[i] = w;
		w += dpi_utf8_clean(w, src[i], max[i]) + 1;
	}
	f->res = r;
}

/* Detection is over: keep the result, free the nDPI flow. */
static void complete(struct dpi *d, struct dpi_flow *f)
{
	f->completed = 1;
	if (!f->nf)
		return;
	collect(d, f);
	nf_free(f->nf);
	f->nf = NULL;
	free(f->ja4);
	f->ja4 = NULL;
	free(f->hello);
	f->hello = NULL;
}

static void giveup(struct dpi *d, struct dpi_flow *f)
{
	uint8_t guessed = 0;

	set_result(f, ndpi_detection_giveup(d->mod, f->nf, 1, &guessed));
	f->guessed = guessed;
}

static void ja4_done(struct dpi_flow *f, const char *ja4)
{
	f->ja4_done = 1;
	if (ja4)
		f->ja4 = strdup(ja4);
	free(f->hello);
	f->hello = NULL;
}

/* JA4 from the first TLS ClientHello of a TCP flow, reassembling in-order
 * segments of its sender (retransmissions or reordering end the attempt). */
static void ja4_track(struct dpi_flow *f, const struct pkt *p)
{
	char buf[JA4_STR_LEN];
	int rc;

	if (f->ja4_done || p->protocol != 6 || !p->payload_caplen)
		return;
	if (!f->hello) {
		if (p->payload_caplen < 6 || p->payload[0] != 0x16 || p->payload[5] != 0x01)
			return;
		rc = ja4_from_tls_records(p->payload, p->payload_caplen, buf);
		if (rc != -EAGAIN) {
			ja4_done(f, rc ? NULL : buf);
			return;
		}
		f->hello = malloc(sizeof(*f->hello));
		if (!f->hello) {
			ja4_done(f, NULL);
			return;
		}
		f->hello->sport = p->src_port;
		f->hello->len = 0;
	} else if (p->src_port != f->hello->sport) {
		return;
	}
	if ((size_t)f->hello->len + p->payload_caplen > HELLO_MAX_BYTES) {
		ja4_done(f, NULL);
		return;
	}
	memcpy(f->hello->buf + f->hello->len, p->payload, p->payload_caplen);
	f->hello->len += p->payload_caplen;
	rc = ja4_from_tls_records(f->hello->buf, f->hello->len, buf);
	if (rc != -EAGAIN)
		ja4_done(f, rc ? NULL : buf);
}

/*
 * A DTLS record of @len bytes at @b carries a Certificate handshake
 * message.  nDPI 4.2 dereferences a NULL TCP header for IPv4 DTLS when a
 * certificate's subject matches one of its patterns (the certificate cache
 * in processCertificateElements(), fixed upstream in nDPI PR #1450, after
 * 4.2): one crafted datagram would crash the agent.  Such datagrams are
 * not given to nDPI; their flows stay DTLS without the certificate's
 * refinement.  The walk follows ndpi_search_tls_udp(): 13-byte record
 * headers, handshake (22) and change-cipher-spec (20) records, version
 * 0xfe.., the handshake type right after the header.
 */
static bool dtls_certificate(const uint8_t *b, uint32_t len)
{
	for (uint32_t off = 0; off + 13 < len;) {
		const uint8_t *r = b + off;

		if ((r[0] != 0x16 && r[0] != 0x14) || r[1] != 0xfe)
			return false;
		if (r[0] == 0x16 && r[13] == 0x0b)
			return true;
		off += 13 + (((uint32_t)r[11] << 8) | r[12]);
	}
	return false;
}

static void feed(struct dpi *d, struct dpi_flow *f, const struct pkt *p)
{
	if (p->ip_version == 4 && p->protocol == 17 &&
	    dtls_certificate(p->payload, p->payload_caplen)) {
		if (__atomic_add_fetch(&d->withheld, 1, __ATOMIC_RELAXED) == 1)
			pr_info("DTLS certificates over IPv4 are not given to nDPI 4.2, which crashes "
				"on some (fixed upstream by ntop/nDPI#1450): their flows stay DTLS\n");
		return;
	}
	set_result(f, ndpi_detection_process_packet(d->mod, f->nf, p->ip, p->ip_caplen, p->time_ms));
	if (d->o.ja4)
		ja4_track(f, p);
}

void dpi_flow_packet(struct dpi *d, struct dpi_flow *f, const struct pkt *p, uint64_t flow_packets)
{
	if (flow_packets == 1) {
		f->nf = nf_new(d);
		if (!f->nf) {
			f->completed = 1; /* no memory: the flow stays Unknown */
			return;
		}
		feed(d, f, p);
		if (f->app_proto == NDPI_PROTOCOL_UNKNOWN && d->o.n_dissections == 1) {
			giveup(d, f);
			complete(d, f);
		}
		return;
	}
	if (f->completed || !f->nf)
		return;
	if (f->app_proto == NDPI_PROTOCOL_UNKNOWN || ndpi_extra_dissection_possible(d->mod, f->nf)) {
		feed(d, f, p);
	} else {
		complete(d, f);
		return;
	}
	if (flow_packets == d->o.n_dissections) {
		if (f->app_proto == NDPI_PROTOCOL_UNKNOWN)
			giveup(d, f);
		complete(d, f);
	}
}

void dpi_flow_finish(struct dpi *d, struct dpi_flow *f)
{
	if (!f->nf)
		return;
	if (f->app_proto == NDPI_PROTOCOL_UNKNOWN && !f->completed)
		giveup(d, f);
	f->completed = 0; /* force collection in complete() */
	complete(d, f);
}

void dpi_flow_app_name(struct dpi *d, const struct dpi_flow *f, char *buf, size_t n)
{
	ndpi_protocol proto = { .master_protocol = f->master_proto, .app_protocol = f->app_proto };

	if (!n)
		return;
	buf[0] = '\0';
	if (f->res && f->res->application_name)
		snprintf(buf, n, "%s", f->res->application_name);
	else if (d && (f->master_proto || f->app_proto))
		ndpi_protocol2name(d->mod, proto, buf, (u_int)n);
}

void dpi_flow_release(struct dpi_flow *f)
{
	if (f->nf) {
		nf_free(f->nf);
		f->nf = NULL;
	}
	free(f->ja4);
	f->ja4 = NULL;
	free(f->hello);
	f->hello = NULL;
	free(f->res);
	f->res = NULL;
}
