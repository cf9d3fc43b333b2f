// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for agent/l7/ja4.c: ClientHellos built byte by byte that reproduce
 * the values published in FoxIO's technical_details/JA4.md and README.md,
 * two real captures from CyberChef's JA4 test vectors, and edge cases
 * (GREASE, no SNI/ALPN, >99 entries, every truncation, split records, fuzz).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <sodium.h>

#include "l7/ja4.h"
#include "test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- values published in FoxIO-LLC/ja4 technical_details/JA4.md ---- */

/* "Raw Output" section, JA4_ro: ciphers and extensions in wire order. */
static const uint16_t spec_ciphers[] = {
	0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
	0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
};
static const uint16_t spec_exts[] = {
	0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
	0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
};
static const uint16_t spec_sigs[] = {
	0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
};

#define SPEC_JA4 "t13d1516h2_8daaf6152771_e5627efa2ab1"
#define SPEC_JA4_R                                                                      \
	"t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,"  \
	"cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,"  \
	"ff01_0403,0804,0401,0503,0805,0501,0806,0601"
#define SPEC_JA4_O "t13d1516h2_acb858a92679_18f69afefd3d"
#define SPEC_JA4_RO                                                                     \
	"t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,"  \
	"002f,0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,"  \
	"000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601"
/* "If there are no signature algorithms ... 0005,...,ff01 = 6d807ffa2a79" */
#define SPEC_NOSIG_C "6d807ffa2a79"

/* ---------------------------- builder ---------------------------- */

struct hb {
	uint8_t d[16384];
	size_t n;
	size_t hs_len_at, frag_len_at, ext_len_at;
	size_t hdr;
};

static void put8(struct hb *b, uint8_t v)
{
	if (b->n >= sizeof(b->d))
		abort();
	b->d[b->n++] = v;
}

static void put16(struct hb *b, uint16_t v)
{
	put8(b, (uint8_t)(v >> 8));
	put8(b, (uint8_t)v);
}

static void put24(struct hb *b, uint32_t v)
{
	put8(b, (uint8_t)(v >> 16));
	put16(b, (uint16_t)v);
}

static void putmem(struct hb *b, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(b, ((const uint8_t *)p)[i]);
}

static void patch16(struct hb *b, size_t at, size_t v)
{
	b->d[at] = (uint8_t)(v >> 8);
	b->d[at + 1] = (uint8_t)v;
}

static void patch24(struct hb *b, size_t at, size_t v)
{
	b->d[at] = (uint8_t)(v >> 16);
	patch16(b, at + 1, v);
}

/* A ClientHello described by its JA4-relevant lists. */
struct hello {
	char transport;
	uint16_t legacy; /* 0 means 0x0303 */
	const uint16_t *ciphers;
	size_t nc;
	const uint16_t *exts; /* wire order; content generated per type */
	size_t ne;
	const uint16_t *sigs; /* body of signature_algorithms (0x000d) */
	size_t nsig;
	const uint16_t *versions; /* body of supported_versions (0x002b) */
	size_t nver;
	const char *alpn; /* body of protocol_name_list for ALPN (0x0010) */
	size_t alpn_len;
};

static void ext_begin(struct hb *b, uint16_t type, size_t *at)
{
	put16(b, type);
	*at = b->n;
	put16(b, 0);
}

static void ext_end(struct hb *b, size_t at)
{
	patch16(b, at, b->n - at - 2);
}

static void put_ext(struct hb *b, const struct hello *h, uint16_t type)
{
	size_t at, l;

	ext_begin(b, type, &at);
	switch (type) {
	case 0x0000: /* server_name: one host_name entry */
		put16(b, 14);
		put8(b, 0);
		put16(b, 11);
		putmem(b, "example.com", 11);
		break;
	case 0x0010:
		put16(b, (uint16_t)h->alpn_len);
		putmem(b, h->alpn, h->alpn_len);
		break;
	case 0x000d:
		put16(b, (uint16_t)(2 * h->nsig));
		for (size_t i = 0; i < h->nsig; i++)
			put16(b, h->sigs[i]);
		break;
	case 0x002b:
		put8(b, (uint8_t)(2 * h->nver));
		for (size_t i = 0; i < h->nver; i++)
			put16(b, h->versions[i]);
		break;
	case 0x000a: /* supported_groups: x25519, secp256r1 */
		put16(b, 4);
		put16(b, 0x001d);
		put16(b, 0x0017);
		break;
	case 0x0015: /* padding */
		for (l = 0; l < 16; l++)
			put8(b, 0);
		break;
	default:
		if ((type & 0x0f0f) == 0x0a0a)
			put8(b, 0); /* as Chrome sends GREASE extensions */
		break;
	}
	ext_end(b, at);
}

/* Returns the message length; b->d holds the handshake message. */
static size_t build(struct hb *b, const struct hello *h)
{
	char transport = h->transport ? h->transport : 't';

	b->n = 0;
	b->hdr = transport == 'd' ? 12 : 4;
	put8(b, 1);
	b->hs_len_at = b->n;
	put24(b, 0);
	if (transport == 'd') {
		put16(b, 0); /* message_seq */
		put24(b, 0); /* fragment_offset */
		b->frag_len_at = b->n;
		put24(b, 0);
	}
	put16(b, h->legacy ? h->legacy : 0x0303);
	for (int i = 0; i < 32; i++)
		put8(b, (uint8_t)(0x11 * i));
	put8(b, 32);
	for (int i = 0; i < 32; i++)
		put8(b, (uint8_t)(0xa0 + i));
	if (transport == 'd')
		put8(b, 0); /* empty cookie */
	put16(b, (uint16_t)(2 * h->nc));
	for (size_t i = 0; i < h->nc; i++)
		put16(b, h->ciphers[i]);
	put8(b, 1);
	put8(b, 0);
	b->ext_len_at = b->n;
	put16(b, 0);
	for (size_t i = 0; i < h->ne; i++)
		put_ext(b, h, h->exts[i]);
	patch16(b, b->ext_len_at, b->n - b->ext_len_at - 2);
	patch24(b, b->hs_len_at, b->n - b->hdr);
	if (transport == 'd')
		patch24(b, b->frag_len_at, b->n - b->hdr);
	return b->n;
}

/* Wrap a handshake message into TLS records of at most @chunk bytes each. */
static size_t wrap_records(uint8_t *dst, size_t cap, const uint8_t *hs, size_t len, size_t chunk)
{
	size_t n = 0;

	for (size_t off = 0; off < len; off += chunk) {
		size_t l = len - off < chunk ? len - off : chunk;

		if (n + 5 + l > cap)
			abort();
		dst[n++] = 22;
		dst[n++] = 3;
		dst[n++] = off ? 3 : 1;
		dst[n++] = (uint8_t)(l >> 8);
		dst[n++] = (uint8_t)l;
		memcpy(dst + n, hs + off, l);
		n += l;
	}
	return n;
}

/* The spec example, with GREASE sprinkled in as Chrome sends it. */
static const uint16_t spec_ciphers_grease[] = {
	0x5a5a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
	0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
};
static const uint16_t spec_exts_grease[] = {
	0xfafa, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
	0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x1a1a, 0x0015,
};
static const uint16_t sigs_grease[] = {
	0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x4a4a,
};
static const uint16_t tls13_versions[] = { 0x0304, 0x0303 };
static const uint16_t tls13_versions_grease[] = { 0x0a0a, 0x0304, 0x0303 };
#define ALPN_H2_H11 "\x02h2\x08http/1.1"

static const struct hello spec_hello = {
	.ciphers = spec_ciphers_grease,
	.nc = ARRAY_SIZE(spec_ciphers_grease),
	.exts = spec_exts_grease,
	.ne = ARRAY_SIZE(spec_exts_grease),
	.sigs = sigs_grease,
	.nsig = ARRAY_SIZE(sigs_grease),
	.versions = tls13_versions_grease,
	.nver = ARRAY_SIZE(tls13_versions_grease),
	.alpn = ALPN_H2_H11,
	.alpn_len = sizeof(ALPN_H2_H11) - 1,
};

/* Copy into an exact-size heap block so ASan catches any read past @len. */
static int ja4_exact(const uint8_t *p, size_t len, char transport, unsigned int flags, char *out,
		     size_t outlen)
{
	uint8_t *copy = len ? malloc(len) : NULL;
	int ret;

	if (len && !copy)
		abort();
	if (len)
		memcpy(copy, p, len);
	ret = ja4_client_hello_fmt(copy, len, transport, flags, out, outlen);
	free(copy);
	return ret;
}

static int records_exact(const uint8_t *p, size_t len, char out[JA4_STR_LEN])
{
	uint8_t *copy = len ? malloc(len) : NULL;
	int ret;

	if (len && !copy)
		abort();
	if (len)
		memcpy(copy, p, len);
	ret = ja4_from_tls_records(copy, len, out);
	free(copy);
	return ret;
}

static size_t unhex(const char *s, uint8_t *dst, size_t cap)
{
	size_t n = 0;

	for (; s[0] && s[1]; s += 2) {
		unsigned int v;

		if (n >= cap || sscanf(s, "%2x", &v) != 1)
			abort();
		dst[n++] = (uint8_t)v;
	}
	return n;
}

static void sha12(const char *s, char dst[13])
{
	unsigned char md[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(md, (const unsigned char *)s, strlen(s));
	for (int i = 0; i < 6; i++)
		snprintf(dst + 2 * i, 3, "%02x", md[i]);
}

/* ------------------------------ tests ------------------------------ */

/* JA4.md "Example" and "Raw Output": all four renderings. */
static void test_spec_example(void)
{
	struct hb b;
	size_t n = build(&b, &spec_hello);
	char out[JA4_STR_LEN], raw[1024];

	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "ja4 rc");
	ASSERT_STREQ(out, SPEC_JA4, "JA4");
	ASSERT_EQ(ja4_client_hello_raw(b.d, n, 't', raw, sizeof(raw)), 0, "ja4_r rc");
	ASSERT_STREQ(raw, SPEC_JA4_R, "JA4_r");
	ASSERT_EQ(ja4_client_hello_fmt(b.d, n, 't', JA4_FMT_ORIGINAL, out, sizeof(out)), 0, "o rc");
	ASSERT_STREQ(out, SPEC_JA4_O, "JA4_o");
	ASSERT_EQ(ja4_client_hello_fmt(b.d, n, 't', JA4_FMT_RAW | JA4_FMT_ORIGINAL, raw,
				       sizeof(raw)), 0, "ro rc");
	ASSERT_STREQ(raw, SPEC_JA4_RO, "JA4_ro");
	/* Trailing bytes after the message (the next handshake message) are ignored. */
	memset(b.d + n, 0xee, 64);
	ASSERT_EQ(ja4_client_hello(b.d, n + 64, 't', out), 0, "trailing rc");
	ASSERT_STREQ(out, SPEC_JA4, "trailing JA4");
}

/*
 * JA4.md's opening line shows "t13d1516h2_8daaf6152771_b186095e22b6", but
 * the spec's own Example hashes the JA4_r above to e5627efa2ab1.  The header
 * value is the hash of the sorted list *with* 0000 and 0010 and without
 * signature algorithms, i.e. an early draft of the algorithm: prove it, so
 * nobody "fixes" the implementation towards it.
 */
static void test_header_example_is_draft_value(void)
{
	char h[13];

	sha12("002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9", h);
	ASSERT_STREQ(h, "8daaf6152771", "spec cipher hash");
	sha12("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
	      "0403,0804,0401,0503,0805,0501,0806,0601", h);
	ASSERT_STREQ(h, "e5627efa2ab1", "spec extension hash");
	sha12("0000,0005,000a,000b,000d,0010,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01",
	      h);
	ASSERT_STREQ(h, "b186095e22b6", "header value = draft list");
}

/* "If there are no signature algorithms ..., the string ends without an underscore." */
static void test_spec_no_sigalgs(void)
{
	static const uint16_t only_grease[] = { 0x8a8a };
	struct hello h = spec_hello;
	struct hb b;
	size_t n;
	char out[JA4_STR_LEN], raw[1024];

	h.sigs = only_grease; /* 000d present, but nothing left once GREASE goes */
	h.nsig = 1;
	n = build(&b, &h);
	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "rc");
	ASSERT_STREQ(out, "t13d1516h2_8daaf6152771_" SPEC_NOSIG_C, "JA4");
	ASSERT_EQ(ja4_client_hello_raw(b.d, n, 't', raw, sizeof(raw)), 0, "raw rc");
	ASSERT_STREQ(raw,
		     "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,"
		     "c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,"
		     "0033,4469,ff01", "JA4_r");
}

/*
 * README.md "Examples" lists three Chrome JA4s without their lists.  With
 * the spec's ciphers and signature algorithms they are reproduced by these
 * extension sets (inferred: ECH GREASE fe0d, pre_shared_key 0029, padding
 * 0015), which cross-checks the hashing of part c on other inputs.
 */
static void test_readme_chrome(void)
{
	static const uint16_t tcp[] = { 0x0000, 0x0010, 0x0005, 0x000a, 0x000b, 0x000d, 0x0012,
					0x0017, 0x001b, 0x0023, 0x002b, 0x002d, 0x0033, 0x4469,
					0xfe0d, 0xff01 };
	static const uint16_t psk[] = { 0x0000, 0x0010, 0x0005, 0x000a, 0x000b, 0x000d, 0x0012,
					0x0017, 0x001b, 0x0023, 0x002b, 0x002d, 0x0033, 0x4469,
					0xfe0d, 0xff01, 0x0029 };
	static const uint16_t nokey[] = { 0x0000, 0x0010, 0x0005, 0x000a, 0x000b, 0x000d,
					  0x0012, 0x0015, 0x0017, 0x001b, 0x0023, 0x002b,
					  0x002d, 0x0033, 0x4469, 0xfe0d, 0xff01 };
	static const struct {
		const uint16_t *exts;
		size_t ne;
		const char *ja4;
	} cases[] = {
		{ tcp, ARRAY_SIZE(tcp), "t13d1516h2_8daaf6152771_02713d6af862" },
		{ psk, ARRAY_SIZE(psk), "t13d1517h2_8daaf6152771_b0da82dd1658" },
		{ nokey, ARRAY_SIZE(nokey), "t13d1517h2_8daaf6152771_b1ff8ab2d16f" },
	};
	struct hello h = spec_hello;
	char out[JA4_STR_LEN];
	struct hb b;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n;

		h.exts = cases[i].exts;
		h.ne = cases[i].ne;
		n = build(&b, &h);
		ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "rc");
		ASSERT_STREQ(out, cases[i].ja4, "README Chrome JA4");
	}
}

/*
 * Real captures: gchq/CyberChef tests/operations/tests/JA4Fingerprint.mjs,
 * full TLS records.  Only the head is spelled out; the rest of each record
 * is the zero-filled body of the padding extension (0015) that ends it.
 */
static const char chrome_head[] =
	"1603010200010001fc0303b2c03e7ba990ef540c316a665d4d925f8e9079ac4b"
	"15687e587dc99016e75a6c20d0b0099243c9296a0c84153ea4ada7d87ad017f4"
	"211c2ea1350b0b3cc5514d5f00205a5a130113021303c02bc02fc02cc030cca9"
	"cca8c013c014009c009d002f003501000193fafa000000000024002200001f63"
	"6f6e74656e742d6175746f66696c6c2e676f6f676c65617069732e636f6d0033"
	"002b00293a3a000100001d0020fb2cd8ef3d605b96ab03119ec4f30a6e2088cb"
	"1af86c41a81feace8706068c50000d0012001004030804040105030805050108"
	"06060100230000000b00020100ff01000100000a000a00083a3a001d00170018"
	"001b000302000244690005000302683200120000002d000201010010000e000c"
	"02683208687474702f312e31000500050100000000002b0007060a0a03040303"
	"001700001a1a000100001500b8";
static const char firefox_head[] =
	"1603010200010001fc0303ecb2691addb2bf6c599c7aaae23de5f42561cc04eb"
	"41029acc6fc050a16ac1d22046f8617b580ac9358e2aa44e306d52466bcc989c"
	"87c8ca64309f5faf50ba7b4d0022130113031302c02bc02fcca9cca8c02cc030"
	"c00ac009c013c014009c009d002f00350100019100000021001f00001c636f6e"
	"74696c652e73657276696365732e6d6f7a696c6c612e636f6d00170000ff0100"
	"0100000a000e000c001d00170018001901000101000b00020100002300000010"
	"000e000c02683208687474702f312e310005000501000000000022000a000804"
	"030503060302030033006b0069001d00208909858fbeb6ed2f1248ba5b9e2978"
	"bead0e840110192c61daed0096798b184400170041044d183d91f5eed35791fa"
	"982464e3b0214aaa5f5d1b78616d9b9fbebc22d11f535b2f94c686143136aa79"
	"5e6e5a875d6c08064ad5b76d44caad766e2483012748002b0005040304030300"
	"0d0018001604030503060308040805080604010501060102030201002d000201"
	"01001c000240010015007a";

static size_t load_capture(const char *head, uint8_t rec[600])
{
	size_t n = unhex(head, rec, 600);
	size_t total = 5 + (size_t)(rec[3] << 8 | rec[4]);

	if (total > 600 || total < n)
		abort();
	memset(rec + n, 0, total - n);
	return total;
}

static void test_cyberchef_captures(void)
{
	static const struct {
		const char *head, *ja4, *ja4_o;
	} cases[] = {
		{ chrome_head, "t13d1516h2_8daaf6152771_e5627efa2ab1",
		  "t13d1516h2_acb858a92679_5276cb03a33b" },
		{ firefox_head, "t13d1715h2_5b57614c22b0_3d5424432f57",
		  "t13d1715h2_5b234860e130_014157ec0da2" },
	};
	char out[JA4_STR_LEN];
	uint8_t rec[600];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = load_capture(cases[i].head, rec);

		ASSERT_EQ(n, 517, "record size");
		ASSERT_EQ(records_exact(rec, n, out), 0, "records rc");
		ASSERT_STREQ(out, cases[i].ja4, "JA4 from records");
		ASSERT_EQ(ja4_exact(rec + 5, n - 5, 't', 0, out, sizeof(out)), 0, "hs rc");
		ASSERT_STREQ(out, cases[i].ja4, "JA4 from handshake");
		ASSERT_EQ(ja4_exact(rec + 5, n - 5, 't', JA4_FMT_ORIGINAL, out, sizeof(out)), 0,
			  "o rc");
		ASSERT_STREQ(out, cases[i].ja4_o, "JA4_o");
	}
}

/* The Chrome capture re-framed into two records at every possible split. */
static void test_records_split(void)
{
	uint8_t rec[600], two[700], small[4096];
	char out[JA4_STR_LEN];
	size_t n = load_capture(chrome_head, rec), hs_len = n - 5;
	const uint8_t *hs = rec + 5;
	int bad = 0, bad_prefix = 0;

	for (size_t k = 1; k < hs_len; k++) {
		size_t m = 0;

		memcpy(two, "\x16\x03\x01", 3);
		two[3] = (uint8_t)(k >> 8);
		two[4] = (uint8_t)k;
		memcpy(two + 5, hs, k);
		m = 5 + k;
		memcpy(two + m, "\x16\x03\x03", 3);
		two[m + 3] = (uint8_t)((hs_len - k) >> 8);
		two[m + 4] = (uint8_t)(hs_len - k);
		memcpy(two + m + 5, hs + k, hs_len - k);
		m += 5 + hs_len - k;
		if (records_exact(two, m, out) != 0 || strcmp(out, SPEC_JA4) != 0)
			bad++;
		/* Every prefix of the two-record buffer asks for more bytes. */
		if (k <= 5 || k == 100 || k == hs_len - 1) {
			for (size_t p = 0; p < m; p++)
				if (records_exact(two, p, out) != -EAGAIN)
					bad_prefix++;
		}
	}
	ASSERT_EQ(bad, 0, "two-record splits");
	ASSERT_EQ(bad_prefix, 0, "two-record prefixes");

	/* Tiny records: the handshake header itself is split across records. */
	for (size_t chunk = 1; chunk <= 7; chunk++) {
		size_t m = wrap_records(small, sizeof(small), hs, hs_len, chunk);

		ASSERT_EQ(records_exact(small, m, out), 0, "tiny records rc");
		ASSERT_STREQ(out, SPEC_JA4, "tiny records JA4");
		ASSERT_EQ(records_exact(small, m - 1, out), -EAGAIN, "tiny records, last cut");
	}
	{
		size_t m = wrap_records(small, sizeof(small) - 8, hs, hs_len, 200);

		memcpy(small + m, "\x17\x03\x03\x00\x02zz", 7); /* unrelated record after */
		ASSERT_EQ(records_exact(small, m + 7, out), 0, "three records + trailer");
		ASSERT_STREQ(out, SPEC_JA4, "three records JA4");
	}
}

/* Every prefix of a message must be -EAGAIN, never a crash or a fingerprint. */
static void test_truncation_every_length(void)
{
	struct hb b;
	size_t n = build(&b, &spec_hello);
	uint8_t rec[20000];
	size_t m = wrap_records(rec, sizeof(rec), b.d, n, 16384);
	char out[JA4_STR_LEN], raw[1024];
	int bad = 0;

	for (size_t l = 0; l < n; l++) {
		if (ja4_exact(b.d, l, 't', 0, out, sizeof(out)) != -EAGAIN || out[0])
			bad++;
		if (ja4_exact(b.d, l, 'q', JA4_FMT_RAW, raw, sizeof(raw)) != -EAGAIN)
			bad++;
	}
	ASSERT_EQ(bad, 0, "handshake prefixes");
	ASSERT_EQ(ja4_exact(b.d, n, 't', 0, out, sizeof(out)), 0, "full message");

	bad = 0;
	for (size_t l = 0; l < m; l++)
		if (records_exact(rec, l, out) != -EAGAIN)
			bad++;
	ASSERT_EQ(bad, 0, "record prefixes");
	ASSERT_EQ(records_exact(rec, m, out), 0, "full record");
	ASSERT_STREQ(out, SPEC_JA4, "record JA4");

	/* The same for a DTLS message with its 12-byte header. */
	{
		struct hello h = spec_hello;

		h.transport = 'd';
		n = build(&b, &h);
		bad = 0;
		for (size_t l = 0; l < n; l++)
			if (ja4_exact(b.d, l, 'd', 0, out, sizeof(out)) != -EAGAIN)
				bad++;
		ASSERT_EQ(bad, 0, "DTLS prefixes");
		ASSERT_EQ(ja4_exact(b.d, n, 'd', 0, out, sizeof(out)), 0, "DTLS full");
	}
}

/* GREASE anywhere changes nothing: same hello with and without it. */
static void test_grease_everywhere(void)
{
	struct hello plain = {
		.ciphers = spec_ciphers,
		.nc = ARRAY_SIZE(spec_ciphers),
		.exts = spec_exts,
		.ne = ARRAY_SIZE(spec_exts),
		.sigs = spec_sigs,
		.nsig = ARRAY_SIZE(spec_sigs),
		.versions = tls13_versions,
		.nver = ARRAY_SIZE(tls13_versions),
		.alpn = ALPN_H2_H11,
		.alpn_len = sizeof(ALPN_H2_H11) - 1,
	};
	static const unsigned int fmts[] = { 0, JA4_FMT_RAW, JA4_FMT_ORIGINAL,
					     JA4_FMT_RAW | JA4_FMT_ORIGINAL };
	char a[1024], g[1024];
	struct hb b1, b2;
	size_t n1 = build(&b1, &plain), n2 = build(&b2, &spec_hello);

	ASSERT_TRUE(n2 > n1, "GREASE hello is longer");
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		ASSERT_EQ(ja4_client_hello_fmt(b1.d, n1, 't', fmts[i], a, sizeof(a)), 0, "plain");
		ASSERT_EQ(ja4_client_hello_fmt(b2.d, n2, 't', fmts[i], g, sizeof(g)), 0, "grease");
		ASSERT_STREQ(g, a, "GREASE-free rendering");
	}
	/* Every GREASE value of RFC 8701 is recognised as a cipher. */
	for (unsigned int v = 0x0a0a; v <= 0xfafa; v += 0x1010) {
		uint16_t c[] = { (uint16_t)v, 0x1301 };
		struct hello h = { .ciphers = c, .nc = 2 };
		size_t n = build(&b1, &h);

		ASSERT_EQ(ja4_client_hello(b1.d, n, 't', a), 0, "rc");
		ASSERT_TRUE(!strncmp(a, "t12i0100", 8), "GREASE cipher not counted");
	}
}

static void test_no_sni_no_alpn(void)
{
	static const uint16_t exts[] = { 0x000d, 0x002b, 0x000a };
	struct hello h = {
		.ciphers = spec_ciphers,
		.nc = ARRAY_SIZE(spec_ciphers),
		.exts = exts,
		.ne = ARRAY_SIZE(exts),
		.sigs = spec_sigs,
		.nsig = ARRAY_SIZE(spec_sigs),
		.versions = tls13_versions,
		.nver = ARRAY_SIZE(tls13_versions),
	};
	char out[JA4_STR_LEN], raw[512], c[13];
	struct hb b;
	size_t n = build(&b, &h);

	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "rc");
	sha12("000a,000d,002b_0403,0804,0401,0503,0805,0501,0806,0601", c);
	ASSERT_TRUE(!strncmp(out, "t13i150300_8daaf6152771_", 24), "part a and b");
	ASSERT_STREQ(out + 24, c, "part c");
	ASSERT_EQ(ja4_client_hello_raw(b.d, n, 't', raw, sizeof(raw)), 0, "raw rc");
	ASSERT_TRUE(strstr(raw, "_000a,000d,002b_0403,") != NULL, "raw lists");
}

/* "0000 and 0010 ... are included in the count"; only they present: part c zero. */
static void test_empty_lists(void)
{
	static const uint16_t sni_alpn[] = { 0x0000, 0x0010 };
	struct hello none = { .legacy = 0x0303 };
	struct hello only = {
		.legacy = 0x0301,
		.ciphers = spec_ciphers,
		.nc = 1,
		.exts = sni_alpn,
		.ne = 2,
		.alpn = "\x02h2",
		.alpn_len = 3,
	};
	char out[JA4_STR_LEN], raw[256], want[JA4_STR_LEN], h12[13];
	struct hb b;
	size_t n = build(&b, &none);

	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "no lists rc");
	ASSERT_STREQ(out, "t12i000000_000000000000_000000000000", "no lists");
	ASSERT_EQ(ja4_client_hello_raw(b.d, n, 't', raw, sizeof(raw)), 0, "no lists raw rc");
	ASSERT_STREQ(raw, "t12i000000__", "no lists raw");

	/* No extensions block at all (TLS 1.0 style) is still a ClientHello. */
	n = build(&b, &none) - 2;
	patch24(&b, b.hs_len_at, n - 4);
	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "no ext block rc");
	ASSERT_STREQ(out, "t12i000000_000000000000_000000000000", "no ext block");

	n = build(&b, &only);
	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "sni+alpn rc");
	sha12("1301", h12);
	snprintf(want, sizeof(want), "t10d0102h2_%s_000000000000", h12);
	ASSERT_STREQ(out, want, "sni+alpn only");
	ASSERT_EQ(ja4_client_hello_fmt(b.d, n, 't', JA4_FMT_RAW | JA4_FMT_ORIGINAL, raw,
				       sizeof(raw)), 0, "ro rc");
	ASSERT_STREQ(raw, "t10d0102h2_1301_0000,0010", "JA4_ro keeps SNI/ALPN");
}

/* > 99 ciphers and extensions: the counts stop at 99, the hashes take all. */
static void test_more_than_99(void)
{
	uint16_t ciphers[120], exts[111];
	char out[JA4_STR_LEN], raw[4096], expect[2048], h12[13];
	struct hello h = {
		.ciphers = ciphers,
		.nc = ARRAY_SIZE(ciphers),
		.exts = exts,
		.ne = ARRAY_SIZE(exts),
		.sigs = spec_sigs,
		.nsig = 1,
	};
	struct hb b;
	size_t n, pos = 0;

	for (size_t i = 0; i < ARRAY_SIZE(ciphers); i++)
		ciphers[i] = (uint16_t)(0xc100 - i); /* descending: sorting matters */
	for (size_t i = 0; i < ARRAY_SIZE(exts) - 1; i++)
		exts[i] = (uint16_t)(0x3000 + i);
	exts[ARRAY_SIZE(exts) - 1] = 0x000d;
	n = build(&b, &h);

	ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "rc");
	ASSERT_TRUE(!strncmp(out, "t12i999900_", 11), "counts capped at 99");
	for (size_t i = 0; i < ARRAY_SIZE(ciphers); i++)
		pos += (size_t)snprintf(expect + pos, sizeof(expect) - pos, "%s%04x", i ? "," : "",
					(unsigned int)(0xc100 - ARRAY_SIZE(ciphers) + 1 + i));
	sha12(expect, h12);
	ASSERT_TRUE(!strncmp(out + 11, h12, 12), "cipher hash covers all 120");
	ASSERT_EQ(ja4_client_hello_raw(b.d, n, 't', raw, sizeof(raw)), 0, "raw rc");
	ASSERT_TRUE(!strncmp(raw + 11, expect, strlen(expect)), "raw ciphers sorted");
	ASSERT_TRUE(strstr(raw, "_000d,3000,3001,") != NULL, "raw extensions sorted");
	ASSERT_TRUE(strstr(raw, ",306d_0403") != NULL, "raw ends with sigalgs");
	/* Buffer one byte short of the raw string + NUL. */
	ASSERT_EQ(ja4_client_hello_raw(b.d, n, 't', raw, strlen(raw)), -ENOSPC, "ENOSPC");
	ASSERT_STREQ(raw, "", "ENOSPC clears out");
}

static void test_alpn_rules(void)
{
	static const struct {
		const char *wire;
		size_t len;
		const char *want;
	} cases[] = {
#define C(w, r) { w, sizeof(w) - 1, r }
		C("\x02h2\x08http/1.1", "h2"), /* first value only */
		C("\x08http/1.1\x02h2", "h1"),
		C("\x02h3", "h3"),
		C("\x01h", "hh"), /* single character is first and last */
		C("\x01\xab", "ab"), /* spec's five hex-rule examples */
		C("\x02\xab\xcd", "ad"),
		C("\x02\x30\xab", "3b"),
		C("\x04\x30\x31\xab\xcd", "3d"),
		C("\x04\x30\xab\xcd\x31", "01"),
		C("\x03" "a-z", "az"), /* only first and last byte are tested */
		C("\x02" "a.", "6e"), /* '.' is not alphanumeric: 0x61 0x2e -> "6e" */
		C("", "00"), /* empty protocol_name_list */
		C("\x00\x02h2", "00"), /* first value empty */
#undef C
	};
	static const uint16_t exts[] = { 0x0010 };
	char out[JA4_STR_LEN];
	struct hb b;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hello h = { .exts = exts, .ne = 1 };
		const char *w = cases[i].want;
		size_t n;

		h.alpn = cases[i].wire;
		h.alpn_len = cases[i].len;
		n = build(&b, &h);
		ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "rc");
		ASSERT_TRUE(out[8] == w[0] && out[9] == w[1], cases[i].want);
	}
	{
		struct hello h = { 0 };
		size_t n = build(&b, &h);

		ASSERT_EQ(ja4_client_hello(b.d, n, 't', out), 0, "no ALPN rc");
		ASSERT_TRUE(out[8] == '0' && out[9] == '0', "no ALPN extension -> 00");
	}
}

static void test_versions(void)
{
	static const uint16_t sv[] = { 0x002b };
	static const uint16_t only_grease[] = { 0x3a3a };
	static const uint16_t v13[] = { 0x0303, 0x0304, 0x1a1a }; /* order does not matter */
	static const uint16_t dtls13[] = { 0xfefc };
	static const uint16_t dtls13_12[] = { 0xfefc, 0xfefd };
	static const struct {
		char transport;
		uint16_t legacy;
		const uint16_t *versions;
		size_t nver;
		const char *prefix;
	} cases[] = {
		{ 't', 0x0303, NULL, 0, "t12" },
		{ 't', 0x0302, NULL, 0, "t11" },
		{ 't', 0x0301, NULL, 0, "t10" },
		{ 't', 0x0300, NULL, 0, "ts3" },
		{ 't', 0x0002, NULL, 0, "ts2" },
		{ 't', 0x0305, NULL, 0, "t00" }, /* unknown */
		{ 't', 0x0303, v13, 3, "t13" },
		{ 'q', 0x0303, v13, 3, "q13" },
		{ 't', 0x0301, only_grease, 1, "t10" }, /* nothing usable: legacy */
		{ 'd', 0xfeff, NULL, 0, "dd1" },
		{ 'd', 0xfefd, NULL, 0, "dd2" },
		{ 'd', 0xfefd, dtls13, 1, "dd3" },
		/* Numerically highest, as spec text and FoxIO's tools: 0xfefd > 0xfefc. */
		{ 'd', 0xfefd, dtls13_12, 2, "dd2" },
	};
	char out[JA4_STR_LEN];
	struct hb b;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct hello h = {
			.transport = cases[i].transport,
			.legacy = cases[i].legacy,
			.exts = sv,
			.ne = cases[i].versions ? 1 : 0,
			.versions = cases[i].versions,
			.nver = cases[i].nver,
		};
		size_t n = build(&b, &h);

		ASSERT_EQ(ja4_client_hello(b.d, n, cases[i].transport, out), 0, "rc");
		ASSERT_TRUE(!strncmp(out, cases[i].prefix, 3), cases[i].prefix);
	}
}

/*
 * Chrome over QUIC, q13d0310h3_55b375c5d22e_cd85d2d88918 in FoxIO's
 * rust/ja4/src/snapshots/ja4__insta@tls3.pcapng.snap: parts a and b follow
 * from 3 TLS 1.3 ciphers, 10 extensions and h3 (part c's lists are unknown).
 */
static void test_quic_prefix(void)
{
	static const uint16_t ciphers[] = { 0x1301, 0x1302, 0x1303 };
	static const uint16_t exts[] = { 0x0033, 0x0000, 0x002b, 0x000d, 0x0039,
					 0x0010, 0x002d, 0x000a, 0x001b, 0x4469 };
	struct hello h = {
		.ciphers = ciphers,
		.nc = 3,
		.exts = exts,
		.ne = ARRAY_SIZE(exts),
		.sigs = spec_sigs,
		.nsig = ARRAY_SIZE(spec_sigs),
		.versions = tls13_versions,
		.nver = 1,
		.alpn = "\x02h3",
		.alpn_len = 3,
	};
	char out[JA4_STR_LEN];
	struct hb b;
	size_t n = build(&b, &h);

	ASSERT_EQ(ja4_client_hello(b.d, n, 'q', out), 0, "rc");
	ASSERT_TRUE(!strncmp(out, "q13d0310h3_55b375c5d22e_", 24), "published QUIC a_b");
}

static void test_malformed(void)
{
	struct hb b;
	size_t n = build(&b, &spec_hello), at;
	uint8_t m[sizeof(b.d)], rec[20000];
	char out[JA4_STR_LEN];

#define MUTATE(expr, want, name)                                                    \
	do {                                                                        \
		memcpy(m, b.d, n);                                                  \
		expr;                                                               \
		ASSERT_EQ(ja4_exact(m, n, 't', 0, out, sizeof(out)), want, name);   \
	} while (0)

	MUTATE(m[0] = 2, -EINVAL, "ServerHello type");
	MUTATE(m[1] = 0xff, -EINVAL, "handshake length beyond any ClientHello");
	MUTATE((m[1] = 0, m[2] = 0, m[3] = 20), -EINVAL, "body shorter than minimum");
	MUTATE(m[4 + 34] = 33, -EINVAL, "session id > 32");
	at = 4 + 2 + 32 + 1 + 32;
	MUTATE(m[at + 1] |= 1, -EINVAL, "odd cipher vector");
	MUTATE(m[b.ext_len_at + 1]++, -EINVAL, "extensions overrun body");
	MUTATE(m[b.ext_len_at + 1]--, -EINVAL, "byte after extensions");
	MUTATE(m[b.ext_len_at + 2 + 2] = 0xff, -EINVAL, "extension overruns block");
	ASSERT_EQ(ja4_exact(b.d, n, 'x', 0, out, sizeof(out)), -EINVAL, "bad transport");
	ASSERT_EQ(ja4_exact(b.d, n, 't', 0x80, out, sizeof(out)), -EINVAL, "bad flags");
	ASSERT_EQ(ja4_exact(b.d, n, 't', 0, out, 36), -ENOSPC, "JA4 buffer too small");
	/* A TLS message handed over as DTLS does not parse. */
	ASSERT_EQ(ja4_exact(b.d, n, 'd', 0, out, sizeof(out)) < 0, 1, "TLS as DTLS");
#undef MUTATE

	/* Inner structure of the extensions JA4 reads. */
	{
		static const uint16_t e[] = { 0x0010 };
		struct hello h = { .exts = e, .ne = 1, .alpn = "\x05h2", .alpn_len = 3 };

		n = build(&b, &h);
		ASSERT_EQ(ja4_exact(b.d, n, 't', 0, out, sizeof(out)), -EINVAL, "ALPN overrun");
	}
	{
		static const uint16_t e[] = { 0x000d };
		struct hello h = { .exts = e, .ne = 1, .sigs = spec_sigs, .nsig = 2 };

		n = build(&b, &h);
		b.d[n - 5]++; /* list length 4 -> 5 */
		ASSERT_EQ(ja4_exact(b.d, n, 't', 0, out, sizeof(out)), -EINVAL, "sigalgs len");
	}
	{
		static const uint16_t e[] = { 0x002b };
		struct hello h = { .exts = e, .ne = 1, .versions = tls13_versions, .nver = 2 };

		n = build(&b, &h);
		b.d[n - 5] = 3; /* odd list length */
		ASSERT_EQ(ja4_exact(b.d, n, 't', 0, out, sizeof(out)), -EINVAL, "versions len");
	}
	/* DTLS fragment that is not the whole message. */
	{
		struct hello h = spec_hello;

		h.transport = 'd';
		n = build(&b, &h);
		b.d[11]--;
		ASSERT_EQ(ja4_exact(b.d, n, 'd', 0, out, sizeof(out)), -EINVAL, "DTLS fragment");
	}

	/* Record layer. */
	n = build(&b, &spec_hello);
	at = wrap_records(rec, sizeof(rec), b.d, n, 16384);
	rec[0] = 23;
	ASSERT_EQ(records_exact(rec, at, out), -EINVAL, "application data record");
	rec[0] = 22;
	rec[1] = 2;
	ASSERT_EQ(records_exact(rec, at, out), -EINVAL, "record version 2.x");
	rec[1] = 3;
	ASSERT_EQ(records_exact(rec, 5, out), -EAGAIN, "header only");
	rec[3] = 0x40;
	rec[4] = 0x01;
	ASSERT_EQ(records_exact(rec, at, out), -EINVAL, "record > 2^14");
	memcpy(rec, "\x16\x03\x01\x00\x00", 5);
	ASSERT_EQ(records_exact(rec, 5, out), -EINVAL, "zero-length record");
	memcpy(rec, "\x80\x2e\x01\x03\x01", 5); /* SSLv2-compatible hello */
	ASSERT_EQ(records_exact(rec, 48, out), -EINVAL, "SSLv2 framing");
	/* ClientHello header in the first record, then a non-handshake record. */
	at = wrap_records(rec, sizeof(rec), b.d, n, 10);
	rec[15] = 21;
	ASSERT_EQ(records_exact(rec, at, out), -EINVAL, "alert between fragments");
}

/* Numerical Recipes LCG, computed wide so no sanitizer sees a wrap. */
static uint32_t lcg(uint32_t *s)
{
	*s = (uint32_t)(((uint64_t)*s * 1664525u + 1013904223u) & 0xffffffffu);
	return *s;
}

/* Deterministic mutation fuzz: results stay in {0, -EINVAL, -EAGAIN}. */
static void test_fuzz(void)
{
	uint32_t seed = 0x4a413421;
	struct hb b;
	size_t n = build(&b, &spec_hello);
	uint8_t rec[20000], m[sizeof(rec)];
	size_t rn = wrap_records(rec, sizeof(rec), b.d, n, 97);
	char out[JA4_STR_LEN], raw[2048];
	int bad = 0;

	for (int it = 0; it < 20000; it++) {
		const uint8_t *src = (it & 1) ? rec : b.d;
		size_t len = (it & 1) ? rn : n, flips;
		int ret;

		memcpy(m, src, len);
		flips = 1 + (lcg(&seed) >> 16) % 4;
		for (size_t f = 0; f < flips; f++) {
			lcg(&seed);
			m[(seed >> 8) % len] = (uint8_t)(seed >> 24);
		}
		if (lcg(&seed) & 0x10000)
			len -= (seed >> 20) % len;
		if (it & 1) {
			ret = records_exact(m, len, out);
		} else {
			ret = ja4_exact(m, len, "tqd"[it % 3], (unsigned int)(it >> 1) & 3, raw,
					sizeof(raw));
			if (!ret && !(it & 2) && strlen(raw) != JA4_STR_LEN - 1)
				bad++;
		}
		if (ret != 0 && ret != -EINVAL && ret != -EAGAIN)
			bad++;
	}
	ASSERT_EQ(bad, 0, "fuzz results");
}

int main(void)
{
	RUN_TEST(test_spec_example);
	RUN_TEST(test_header_example_is_draft_value);
	RUN_TEST(test_spec_no_sigalgs);
	RUN_TEST(test_readme_chrome);
	RUN_TEST(test_cyberchef_captures);
	RUN_TEST(test_records_split);
	RUN_TEST(test_truncation_every_length);
	RUN_TEST(test_grease_everywhere);
	RUN_TEST(test_no_sni_no_alpn);
	RUN_TEST(test_empty_lists);
	RUN_TEST(test_more_than_99);
	RUN_TEST(test_alpn_rules);
	RUN_TEST(test_versions);
	RUN_TEST(test_quic_prefix);
	RUN_TEST(test_malformed);
	RUN_TEST(test_fuzz);
	return TEST_SUMMARY();
}
