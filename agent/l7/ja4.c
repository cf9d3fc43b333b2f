// SPDX-License-Identifier: GPL-2.0-only
/*
 * JA4 TLS client fingerprint.  Parses one ClientHello (TLS, QUIC CRYPTO
 * data or a reassembled DTLS handshake), or the TLS records carrying one,
 * with every read bounded by the caller's length, and renders JA4, JA4_r,
 * JA4_o and JA4_ro as FoxIO's technical_details/JA4.md describes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "l7/ja4.h"

#define HS_CLIENT_HELLO 1
#define TLS_HS_HDR 4 /* type, uint24 length */
#define DTLS_HS_HDR 12 /* + message_seq, fragment_offset, fragment_length */
#define TLS_CT_HANDSHAKE 22
#define TLS_REC_HDR 5
#define TLS_REC_MAX 16384 /* 2^14, RFC 8446 section 5.1 */

#define EXT_SNI 0x0000
#define EXT_SIG_ALGS 0x000d
#define EXT_ALPN 0x0010
#define EXT_SUPPORTED_VERSIONS 0x002b

/*
 * Smallest and largest ClientHello body: version, random, then every
 * vector empty (cipher suites may be empty for JA4's "000000000000"
 * rule), or every vector at its maximum, DTLS cookie included.
 */
#define CH_BODY_MIN (2 + 32 + 1 + 2 + 1)
#define CH_BODY_MAX (2 + 32 + 1 + 32 + 1 + 255 + 2 + 65534 + 1 + 255 + 2 + 65535)

#define JA4_A_LEN 10
#define JA4_HASH_HEX 12
#define JA4_LIST_CAP 99

static const char hex_digits[] = "0123456789abcdef";

/* Bounded reader over a byte range; every accessor fails instead of overrunning. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static bool rd_skip(struct rd *r, size_t n)
{
	if (r->left < n)
		return false;
	r->p += n;
	r->left -= n;
	return true;
}

static bool rd_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return false;
	*v = r->p[0];
	return rd_skip(r, 1);
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return false;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	return rd_skip(r, 2);
}

/* Split off the next @n bytes as @sub. */
static bool rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (r->left < n)
		return false;
	sub->p = r->p;
	sub->left = n;
	return rd_skip(r, n);
}

/* A vector with a one-byte length prefix. */
static bool rd_vec8(struct rd *r, struct rd *sub)
{
	uint8_t n;

	return rd_u8(r, &n) && rd_sub(r, n, sub);
}

/* A vector with a two-byte length prefix. */
static bool rd_vec16(struct rd *r, struct rd *sub)
{
	uint16_t n;

	return rd_u16(r, &n) && rd_sub(r, n, sub);
}

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* RFC 8701 GREASE: 0x?a?a with both bytes equal. */
static inline bool is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

static inline bool is_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* What JA4 needs from one ClientHello; the lists point into the caller's bytes. */
struct client_hello {
	uint16_t version; /* supported_versions maximum, else legacy_version */
	bool sni;
	char alpn[2];
	struct rd ciphers; /* cipher_suites vector body */
	struct rd exts; /* extensions block body, possibly empty */
	struct rd sigalgs; /* first signature_algorithms list body, possibly empty */
	size_t n_ciphers; /* counts exclude GREASE */
	size_t n_exts;
	size_t n_sigalgs;
};

/*
 * "First and last characters of the first ALPN value"; "00" when there is
 * no value or it is empty; when the first or last byte is not an ASCII
 * letter or digit, the first hex digit of the first byte and the last hex
 * digit of the last byte.
 */
static int parse_alpn(struct rd data, struct client_hello *ch)
{
	struct rd list, proto;
	bool first = true;
	uint8_t f, l;

	if (!rd_vec16(&data, &list) || data.left)
		return -EINVAL;

	/* The whole list is checked; only its first entry is used. */
	while (list.left) {
		if (!rd_vec8(&list, &proto))
			return -EINVAL;
		if (!first || !proto.left) {
			first = false;
			continue;
		}
		first = false;
		f = proto.p[0];
		l = proto.p[proto.left - 1];
		if (is_alnum(f) && is_alnum(l)) {
			ch->alpn[0] = (char)f;
			ch->alpn[1] = (char)l;
		} else {
			ch->alpn[0] = hex_digits[f >> 4];
			ch->alpn[1] = hex_digits[l & 0xf];
		}
	}
	return 0;
}

static int parse_sigalgs(struct rd data, struct client_hello *ch)
{
	struct rd list;
	uint16_t v;

	if (!rd_vec16(&data, &list) || data.left || list.left % 2)
		return -EINVAL;
	ch->sigalgs = list;
	while (rd_u16(&list, &v))
		if (!is_grease(v))
			ch->n_sigalgs++;
	return 0;
}

/* Highest non-GREASE value, numerically, as the spec and FoxIO's tools do. */
static int parse_supported_versions(struct rd data, uint16_t *best)
{
	struct rd list;
	uint16_t v;

	if (!rd_vec8(&data, &list) || data.left || list.left % 2)
		return -EINVAL;
	while (rd_u16(&list, &v))
		if (!is_grease(v) && v > *best)
			*best = v;
	return 0;
}

static int parse_extensions(struct client_hello *ch)
{
	bool seen_alpn = false, seen_sig = false, seen_sv = false;
	struct rd e = ch->exts, data;
	uint16_t type, sv_best = 0;
	int ret = 0;

	while (e.left) {
		if (!rd_u16(&e, &type) || !rd_vec16(&e, &data))
			return -EINVAL;
		if (is_grease(type))
			continue;
		ch->n_exts++;
		/* A repeated extension still counts; only its first copy is read. */
		switch (type) {
		case EXT_SNI:
			ch->sni = true;
			break;
		case EXT_ALPN:
			if (!seen_alpn)
				ret = parse_alpn(data, ch);
			seen_alpn = true;
			break;
		case EXT_SIG_ALGS:
			if (!seen_sig)
				ret = parse_sigalgs(data, ch);
			seen_sig = true;
			break;
		case EXT_SUPPORTED_VERSIONS:
			if (!seen_sv)
				ret = parse_supported_versions(data, &sv_best);
			seen_sv = true;
			break;
		}
		if (ret)
			return ret;
	}
	/* Only GREASE in supported_versions: fall back to legacy_version. */
	if (sv_best)
		ch->version = sv_best;
	return 0;
}

static int parse_client_hello(const uint8_t *hs, size_t len, char transport,
			      struct client_hello *ch)
{
	size_t hdr = transport == JA4_TRANSPORT_DTLS ? DTLS_HS_HDR : TLS_HS_HDR;
	struct rd r, skip;
	uint32_t body;
	uint16_t v;

	memset(ch, 0, sizeof(*ch));
	ch->alpn[0] = ch->alpn[1] = '0';

	if (len < 1)
		return -EAGAIN;
	if (hs[0] != HS_CLIENT_HELLO)
		return -EINVAL;
	if (len < TLS_HS_HDR)
		return -EAGAIN;
	body = be24(hs + 1);
	if (body < CH_BODY_MIN || body > CH_BODY_MAX)
		return -EINVAL;
	if (len < hdr)
		return -EAGAIN;
	/* DTLS: only a whole, reassembled message is fingerprinted. */
	if (hdr == DTLS_HS_HDR && (be24(hs + 6) != 0 || be24(hs + 9) != body))
		return -EINVAL;
	if (len - hdr < body)
		return -EAGAIN;

	r.p = hs + hdr;
	r.left = body;
	if (!rd_u16(&r, &v) || !rd_skip(&r, 32))
		return -EINVAL;
	ch->version = v;
	if (!rd_vec8(&r, &skip) || skip.left > 32) /* legacy_session_id */
		return -EINVAL;
	if (hdr == DTLS_HS_HDR && !rd_vec8(&r, &skip)) /* cookie */
		return -EINVAL;
	if (!rd_vec16(&r, &ch->ciphers) || ch->ciphers.left % 2)
		return -EINVAL;
	if (!rd_vec8(&r, &skip)) /* legacy_compression_methods */
		return -EINVAL;
	/* Extensions are optional before TLS 1.3; when present they end the body. */
	if (r.left && (!rd_vec16(&r, &ch->exts) || r.left))
		return -EINVAL;

	skip = ch->ciphers;
	while (rd_u16(&skip, &v))
		if (!is_grease(v))
			ch->n_ciphers++;

	return parse_extensions(ch);
}

static const char *version_str(uint16_t v)
{
	switch (v) {
	case 0x0304:
		return "13";
	case 0x0303:
		return "12";
	case 0x0302:
		return "11";
	case 0x0301:
		return "10";
	case 0x0300:
		return "s3";
	case 0x0002:
		return "s2";
	case 0xfeff:
		return "d1";
	case 0xfefd:
		return "d2";
	case 0xfefc:
		return "d3";
	default:
		return "00";
	}
}

/* Where rendered text goes: the caller's buffer, or a running SHA-256. */
struct sink {
	crypto_hash_sha256_state sha;
	bool hash;
	char *buf;
	size_t cap;
	size_t pos;
	bool overflow;
	size_t n; /* bytes put, for the empty-list rule */
};

static void sink_put(struct sink *s, const char *p, size_t n)
{
	s->n += n;
	if (s->hash) {
		crypto_hash_sha256_update(&s->sha, (const unsigned char *)p, n);
		return;
	}
	if (s->overflow || s->cap - s->pos < n) {
		s->overflow = true;
		return;
	}
	memcpy(s->buf + s->pos, p, n);
	s->pos += n;
}

static void sink_put_u16(struct sink *s, uint16_t v, bool comma)
{
	char b[5] = { ',', hex_digits[v >> 12], hex_digits[(v >> 8) & 0xf],
		      hex_digits[(v >> 4) & 0xf], hex_digits[v & 0xf] };

	if (comma)
		sink_put(s, b, 5);
	else
		sink_put(s, b + 1, 4);
}

static void sink_put_list(struct sink *s, const uint16_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sink_put_u16(s, v[i], i > 0);
}

/* Signature algorithms in wire order, GREASE dropped. */
static void sink_put_sigalgs(struct sink *s, struct rd list)
{
	bool comma = false;
	uint16_t v;

	while (rd_u16(&list, &v)) {
		if (is_grease(v))
			continue;
		sink_put_u16(s, v, comma);
		comma = true;
	}
}

static void hash_begin(struct sink *s)
{
	s->hash = true;
	s->n = 0;
	crypto_hash_sha256_init(&s->sha);
}

/* First 12 hex digits of the digest, or twelve zeros when nothing was hashed. */
static void hash_end(struct sink *s, char *dst)
{
	unsigned char md[crypto_hash_sha256_BYTES];

	crypto_hash_sha256_final(&s->sha, md);
	for (size_t i = 0; i < JA4_HASH_HEX / 2; i++) {
		dst[2 * i] = s->n ? hex_digits[md[i] >> 4] : '0';
		dst[2 * i + 1] = s->n ? hex_digits[md[i] & 0xf] : '0';
	}
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

static void render_a(const struct client_hello *ch, char transport, char a[JA4_A_LEN])
{
	const char *ver = version_str(ch->version);
	size_t nc = ch->n_ciphers < JA4_LIST_CAP ? ch->n_ciphers : JA4_LIST_CAP;
	size_t ne = ch->n_exts < JA4_LIST_CAP ? ch->n_exts : JA4_LIST_CAP;

	a[0] = transport;
	a[1] = ver[0];
	a[2] = ver[1];
	a[3] = ch->sni ? 'd' : 'i';
	a[4] = (char)('0' + nc / 10);
	a[5] = (char)('0' + nc % 10);
	a[6] = (char)('0' + ne / 10);
	a[7] = (char)('0' + ne % 10);
	a[8] = ch->alpn[0];
	a[9] = ch->alpn[1];
}

static int render(const struct client_hello *ch, char transport, unsigned int flags, char *out,
		  size_t outlen)
{
	bool raw = flags & JA4_FMT_RAW, original = flags & JA4_FMT_ORIGINAL;
	size_t total = ch->n_ciphers + ch->n_exts, nc = 0, ne = 0;
	uint16_t *ciphers = NULL, *exts = NULL, v;
	struct sink s = { .buf = out, .cap = outlen };
	char a[JA4_A_LEN];
	struct rd r, data;

	if (!raw && outlen < JA4_STR_LEN)
		return -ENOSPC;
	if (total) {
		ciphers = malloc(total * sizeof(*ciphers));
		if (!ciphers)
			return -ENOMEM;
		exts = ciphers + ch->n_ciphers;
	}

	r = ch->ciphers;
	while (rd_u16(&r, &v))
		if (!is_grease(v))
			ciphers[nc++] = v;
	r = ch->exts;
	while (rd_u16(&r, &v) && rd_vec16(&r, &data)) {
		if (is_grease(v))
			continue;
		/* SNI and ALPN are already in part a; only the sorted forms drop them. */
		if (!original && (v == EXT_SNI || v == EXT_ALPN))
			continue;
		exts[ne++] = v;
	}
	if (!original && nc > 1)
		qsort(ciphers, nc, sizeof(*ciphers), cmp_u16);
	if (!original && ne > 1)
		qsort(exts, ne, sizeof(*exts), cmp_u16);

	render_a(ch, transport, a);
	sink_put(&s, a, JA4_A_LEN);
	sink_put(&s, "_", 1);
	if (raw) {
		sink_put_list(&s, ciphers, nc);
		sink_put(&s, "_", 1);
		sink_put_list(&s, exts, ne);
		if (ch->n_sigalgs) {
			sink_put(&s, "_", 1);
			sink_put_sigalgs(&s, ch->sigalgs);
		}
		sink_put(&s, "", 1);
	} else {
		char *dst = out + JA4_A_LEN + 1;

		hash_begin(&s);
		sink_put_list(&s, ciphers, nc);
		hash_end(&s, dst);
		dst[JA4_HASH_HEX] = '_';
		dst += JA4_HASH_HEX + 1;

		hash_begin(&s);
		sink_put_list(&s, exts, ne);
		/* No extensions left means "000000000000", signature algorithms or not. */
		if (ne && ch->n_sigalgs) {
			sink_put(&s, "_", 1);
			sink_put_sigalgs(&s, ch->sigalgs);
		}
		hash_end(&s, dst);
		dst[JA4_HASH_HEX] = '\0';
	}
	free(ciphers);
	if (s.overflow) {
		out[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

int ja4_client_hello_fmt(const uint8_t *hs, size_t len, char transport, unsigned int flags,
			 char *out, size_t outlen)
{
	struct client_hello ch;
	int ret;

	if (!out || !outlen)
		return -EINVAL;
	out[0] = '\0';
	if (flags & ~(unsigned int)(JA4_FMT_RAW | JA4_FMT_ORIGINAL))
		return -EINVAL;
	if (transport != JA4_TRANSPORT_TCP && transport != JA4_TRANSPORT_QUIC &&
	    transport != JA4_TRANSPORT_DTLS)
		return -EINVAL;
	if (!hs && len)
		return -EINVAL;

	ret = parse_client_hello(hs, len, transport, &ch);
	if (ret)
		return ret;
	ret = render(&ch, transport, flags, out, outlen);
	if (ret)
		out[0] = '\0';
	return ret;
}

int ja4_client_hello(const uint8_t *hs, size_t len, char transport, char out[JA4_STR_LEN])
{
	return ja4_client_hello_fmt(hs, len, transport, 0, out, JA4_STR_LEN);
}

int ja4_client_hello_raw(const uint8_t *hs, size_t len, char transport, char *out, size_t outlen)
{
	return ja4_client_hello_fmt(hs, len, transport, JA4_FMT_RAW, out, outlen);
}

/*
 * Walk the handshake records at @p and gather up to @want bytes of their
 * concatenated fragments into @dst (when not NULL).  *@got is how many
 * were available, which is less than @want when the buffer ends first.
 * *@first is the fragment length of the first record if that record is
 * entirely in the buffer, else 0.
 */
static int walk_records(const uint8_t *p, size_t len, uint8_t *dst, size_t want, size_t *got,
			size_t *first)
{
	size_t pos = 0;

	*got = 0;
	*first = 0;
	while (*got < want && len - pos >= TLS_REC_HDR) {
		const uint8_t *rec = p + pos;
		size_t rlen = be16(rec + 3), avail, take;

		if (rec[0] != TLS_CT_HANDSHAKE || rec[1] != 3)
			return -EINVAL;
		if (rlen == 0 || rlen > TLS_REC_MAX)
			return -EINVAL;
		avail = len - pos - TLS_REC_HDR;
		if (avail > rlen)
			avail = rlen;
		if (pos == 0 && avail == rlen)
			*first = rlen;
		take = want - *got < avail ? want - *got : avail;
		if (dst)
			memcpy(dst + *got, rec + TLS_REC_HDR, take);
		*got += take;
		if (avail < rlen)
			break;
		pos += TLS_REC_HDR + rlen;
	}
	return 0;
}

int ja4_from_tls_records(const uint8_t *payload, size_t len, char out[JA4_STR_LEN])
{
	uint8_t hdr[TLS_HS_HDR];
	size_t got, first, need;
	uint8_t *buf;
	int ret;

	if (!out)
		return -EINVAL;
	out[0] = '\0';
	if (!payload && len)
		return -EINVAL;

	ret = walk_records(payload, len, hdr, sizeof(hdr), &got, &first);
	if (ret)
		return ret;
	if (got >= 1 && hdr[0] != HS_CLIENT_HELLO)
		return -EINVAL;
	if (got < sizeof(hdr))
		return -EAGAIN;
	need = TLS_HS_HDR + be24(hdr + 1);
	if (need - TLS_HS_HDR < CH_BODY_MIN || need - TLS_HS_HDR > CH_BODY_MAX)
		return -EINVAL;

	/* The usual case: the whole ClientHello sits in the first record. */
	if (first >= need)
		return ja4_client_hello(payload + TLS_REC_HDR, first, JA4_TRANSPORT_TCP, out);

	ret = walk_records(payload, len, NULL, need, &got, &first);
	if (ret)
		return ret;
	if (got < need)
		return -EAGAIN;
	buf = malloc(need);
	if (!buf)
		return -ENOMEM;
	walk_records(payload, len, buf, need, &got, &first);
	ret = ja4_client_hello(buf, need, JA4_TRANSPORT_TCP, out);
	free(buf);
	return ret;
}
