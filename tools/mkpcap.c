// SPDX-License-Identifier: GPL-2.0-only
/*
 * mkpcap: deterministic synthetic capture writer for tests/golden.
 *
 * Each scenario writes one pcap or pcapng file byte for byte the same on
 * every run: fixed timestamps, fixed addresses, no randomness. The packet
 * builder and both file formats are written here by hand so the tool needs
 * nothing but libc and never shares code (or bugs) with the engine it tests.
 * The expected flows for every scenario live in tests/golden/<name>.expect.csv
 * and were derived from the specification, not from flowsight's output.
 *
 * Usage: mkpcap SCENARIO OUT_FILE | mkpcap --list
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* All captures start at 2023-11-14 22:13:20 UTC; times are nanoseconds. */
#define T0_SEC 1700000000ULL
#define T_NS(ns) (T0_SEC * 1000000000ULL + (uint64_t)(ns))
#define T_US(us) T_NS((uint64_t)(us) * 1000ULL)
#define T_MS(ms) T_NS((uint64_t)(ms) * 1000000ULL)

/* Link-layer header types as written in capture files. */
#define LT_NULL 0
#define LT_EN10MB 1
#define LT_PPP 9
#define LT_PPP_SERIAL 50
#define LT_RAW 101
#define LT_C_HDLC 104
#define LT_LINUX_SLL 113
#define LT_IEEE802_11_RADIO 127
#define LT_USER0 147
#define LT_IPV4 228
#define LT_IPV6 229
#define LT_LINUX_SLL2 276

#define ET_IPV4 0x0800
#define ET_ARP 0x0806
#define ET_VLAN 0x8100
#define ET_QINQ 0x88a8
#define ET_IPV6 0x86dd
#define ET_MPLS 0x8847
#define ET_PPPOE 0x8864
#define ET_LLDP 0x88cc

#define P_ICMP 1
#define P_IPIP 4
#define P_TCP 6
#define P_UDP 17
#define P_IPV6 41
#define P_GRE 47
#define P_ICMPV6 58
#define P_NONE 59

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10
#define TH_URG 0x20
#define TH_ECE 0x40
#define TH_CWR 0x80

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

/* Frames never exceed this many captured bytes; larger "len" is faked. */
#define FRAME_MAX 2048

enum cap_fmt {
	FMT_PCAP_US,	/* classic pcap, little endian, microseconds */
	FMT_PCAP_NS,	/* classic pcap, little endian, nanoseconds */
	FMT_PCAP_US_BE, /* classic pcap, big endian, microseconds */
	FMT_PCAPNG_US,	/* pcapng, little endian, default if_tsresol (us) */
	FMT_PCAPNG_NS,	/* pcapng, little endian, if_tsresol = 9 (ns) */
};

struct cap {
	FILE *f;
	enum cap_fmt fmt;
	int err;
};

struct buf {
	uint8_t d[FRAME_MAX];
	size_t n;
};

static const uint8_t MAC_A[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t MAC_B[6] = { 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb };
static const uint8_t MAC_C[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0c };
static const uint8_t MAC_D[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0d };
static const uint8_t MAC_BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MAC_STP[6] = { 0x01, 0x80, 0xc2, 0x00, 0x00, 0x00 };
static const uint8_t MAC_W1[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t MAC_W2[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t MAC_W3[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x03 };
static const uint8_t MAC_I1[6] = { 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x01 };
static const uint8_t MAC_I2[6] = { 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x02 };

static const uint32_t IP_A = IP4(10, 0, 0, 1);
static const uint32_t IP_B = IP4(10, 0, 0, 2);
static const uint32_t IP_C = IP4(10, 0, 0, 3);
static const uint32_t IP_D = IP4(10, 0, 0, 4);

/* ---------------------------------------------------------------- bytes */

static void put8(struct buf *b, uint8_t v)
{
	if (b->n >= FRAME_MAX) {
		fprintf(stderr, "mkpcap: frame too large\n");
		exit(2);
	}
	b->d[b->n++] = v;
}

static void put16(struct buf *b, uint16_t v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, v >> 16);
	put16(b, v & 0xffff);
}

static void putn(struct buf *b, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n--)
		put8(b, *s++);
}

static void zeros(struct buf *b, size_t n)
{
	while (n--)
		put8(b, 0);
}

/* Deterministic payload: 'a'..'z' repeated, never looks like an IP header. */
static void payload(struct buf *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		put8(b, 'a' + i % 26);
}

static void set16(struct buf *b, size_t off, uint16_t v)
{
	b->d[off] = v >> 8;
	b->d[off + 1] = v & 0xff;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static void ip6_addr(uint8_t *out, const char *s)
{
	if (inet_pton(AF_INET6, s, out) != 1) {
		fprintf(stderr, "mkpcap: bad IPv6 literal '%s'\n", s);
		exit(2);
	}
}

/* ------------------------------------------------------------ link layer */

static void eth(struct buf *b, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	putn(b, dst, 6);
	putn(b, src, 6);
	put16(b, type);
}

/* One 802.1Q/802.1ad tag body: TCI then the next EtherType. */
static void vlan_tag(struct buf *b, uint16_t vid, uint16_t next_type)
{
	put16(b, vid & 0x0fff);
	put16(b, next_type);
}

static void mpls_label(struct buf *b, uint32_t label, int bottom)
{
	put32(b, label << 12 | (bottom ? 0x100 : 0) | 64);
}

/* PPPoE session header plus the 2-byte PPP protocol; length patched later. */
static size_t pppoe_begin(struct buf *b, uint16_t session, uint16_t ppp_proto)
{
	size_t off = b->n;

	put8(b, 0x11);
	put8(b, 0x00);
	put16(b, session);
	put16(b, 0);
	put16(b, ppp_proto);
	return off;
}

static void pppoe_end(struct buf *b, size_t off)
{
	set16(b, off + 4, b->n - off - 6);
}

/* 802.3 header (length field patched by llc_end) and an LLC header. */
static size_t llc_begin(struct buf *b, const uint8_t *dst, const uint8_t *src,
			uint8_t dsap, uint8_t ssap)
{
	size_t off = b->n;

	eth(b, dst, src, 0);
	put8(b, dsap);
	put8(b, ssap);
	put8(b, 0x03);
	return off;
}

static void llc_end(struct buf *b, size_t off)
{
	set16(b, off + 12, b->n - off - 14);
}

/* ------------------------------------------------------------- network */

static uint16_t ip4_ident = 0x1000;

static size_t ip4_begin_ex(struct buf *b, uint32_t src, uint32_t dst, uint8_t proto,
			   uint16_t frag, const uint8_t *opts, size_t optlen)
{
	size_t off = b->n;

	put8(b, 0x40 | (uint8_t)((20 + optlen) / 4));
	put8(b, 0);
	put16(b, 0);
	put16(b, ip4_ident++);
	put16(b, frag);
	put8(b, 64);
	put8(b, proto);
	put16(b, 0);
	put32(b, src);
	put32(b, dst);
	putn(b, opts, optlen);
	return off;
}

static size_t ip4_begin(struct buf *b, uint32_t src, uint32_t dst, uint8_t proto)
{
	return ip4_begin_ex(b, src, dst, proto, 0, NULL, 0);
}

/* Patch Total Length (tot_len 0 = everything built since off) and checksum. */
static void ip4_end_len(struct buf *b, size_t off, uint16_t tot_len)
{
	size_t hl = (b->d[off] & 0x0f) * 4;

	set16(b, off + 2, tot_len ? tot_len : b->n - off);
	set16(b, off + 10, 0);
	set16(b, off + 10, csum_fold(csum_add(0, b->d + off, hl)));
}

static void ip4_end(struct buf *b, size_t off)
{
	ip4_end_len(b, off, 0);
}

static size_t ip6_begin(struct buf *b, const char *src, const char *dst, uint8_t nh)
{
	size_t off = b->n;
	uint8_t a[16];

	put32(b, 0x60000000);
	put16(b, 0);
	put8(b, nh);
	put8(b, 64);
	ip6_addr(a, src);
	putn(b, a, 16);
	ip6_addr(a, dst);
	putn(b, a, 16);
	return off;
}

static void ip6_end_len(struct buf *b, size_t off, uint16_t plen)
{
	set16(b, off + 4, plen ? plen : b->n - off - 40);
}

static void ip6_end(struct buf *b, size_t off)
{
	ip6_end_len(b, off, 0);
}

/* Hop-by-hop or destination options header: 8 bytes, one PadN option. */
static void ip6_opts(struct buf *b, uint8_t nh)
{
	put8(b, nh);
	put8(b, 0);
	put8(b, 1);
	put8(b, 4);
	zeros(b, 4);
}

/* Type 2 routing header (24 bytes, segments left 0). */
static void ip6_rthdr(struct buf *b, uint8_t nh)
{
	uint8_t a[16];

	put8(b, nh);
	put8(b, 2);
	put8(b, 2);
	put8(b, 0);
	zeros(b, 4);
	ip6_addr(a, "2001:db8::99");
	putn(b, a, 16);
}

static void ip6_frag(struct buf *b, uint8_t nh, uint16_t offset8, int more, uint32_t id)
{
	put8(b, nh);
	put8(b, 0);
	put16(b, (uint16_t)(offset8 << 3) | (more ? 1 : 0));
	put32(b, id);
}

/* ------------------------------------------------------------ transport */

static size_t tcp_begin(struct buf *b, uint16_t sp, uint16_t dp, uint8_t flags,
			const uint8_t *opts, size_t optlen)
{
	size_t off = b->n;

	put16(b, sp);
	put16(b, dp);
	put32(b, 0x01000000 + sp);
	put32(b, (flags & TH_ACK) ? 0x02000000 + dp : 0);
	put8(b, (uint8_t)((20 + optlen + 3) / 4) << 4);
	put8(b, flags);
	put16(b, 64240);
	put16(b, 0);
	put16(b, (flags & TH_URG) ? 1 : 0);
	putn(b, opts, optlen);
	while ((b->n - off) % 4)
		put8(b, 0);
	return off;
}

static size_t udp_begin(struct buf *b, uint16_t sp, uint16_t dp)
{
	size_t off = b->n;

	put16(b, sp);
	put16(b, dp);
	put16(b, 0);
	put16(b, 0);
	return off;
}

static size_t icmp_begin(struct buf *b, uint8_t type, uint8_t code, uint16_t id, uint16_t seq)
{
	size_t off = b->n;

	put8(b, type);
	put8(b, code);
	put16(b, 0);
	put16(b, id);
	put16(b, seq);
	return off;
}

/*
 * Finish an L4 header at l4 inside the IP packet at ip: UDP length and the
 * TCP/UDP/ICMP/ICMPv6 checksum over what was built. IPv6 pseudo-headers use
 * the fixed header's addresses (no routing header here has segments left).
 */
static void l4_end(struct buf *b, size_t ip, size_t l4, uint8_t proto)
{
	size_t len = b->n - l4;
	size_t csum_off;
	uint32_t sum = 0;

	switch (proto) {
	case P_TCP:
		csum_off = l4 + 16;
		break;
	case P_UDP:
		set16(b, l4 + 4, len);
		csum_off = l4 + 6;
		break;
	case P_ICMP:
	case P_ICMPV6:
		csum_off = l4 + 2;
		break;
	default:
		return;
	}
	set16(b, csum_off, 0);
	if (proto != P_ICMP) {
		if ((b->d[ip] >> 4) == 4)
			sum = csum_add(sum, b->d + ip + 12, 8);
		else
			sum = csum_add(sum, b->d + ip + 8, 32);
		sum += proto + (uint32_t)len;
	}
	sum = csum_add(sum, b->d + l4, len);
	set16(b, csum_off, csum_fold(sum) ? csum_fold(sum) : 0xffff);
}

/* IPv4 + UDP + payload, appended after whatever link layer is in b. */
static void ip4_udp(struct buf *b, uint32_t s, uint32_t d, uint16_t sp, uint16_t dp, size_t plen)
{
	size_t ip = ip4_begin(b, s, d, P_UDP);
	size_t l4 = udp_begin(b, sp, dp);

	payload(b, plen);
	l4_end(b, ip, l4, P_UDP);
	ip4_end(b, ip);
}

static void ip4_tcp(struct buf *b, uint32_t s, uint32_t d, uint16_t sp, uint16_t dp,
		    uint8_t flags, size_t plen)
{
	size_t ip = ip4_begin(b, s, d, P_TCP);
	size_t l4 = tcp_begin(b, sp, dp, flags, NULL, 0);

	payload(b, plen);
	l4_end(b, ip, l4, P_TCP);
	ip4_end(b, ip);
}

static void ip4_icmp(struct buf *b, uint32_t s, uint32_t d, uint8_t type, uint16_t id,
		     size_t plen)
{
	size_t ip = ip4_begin(b, s, d, P_ICMP);
	size_t l4 = icmp_begin(b, type, 0, id, 1);

	payload(b, plen);
	l4_end(b, ip, l4, P_ICMP);
	ip4_end(b, ip);
}

static void ip6_udp(struct buf *b, const char *s, const char *d, uint16_t sp, uint16_t dp,
		    size_t plen)
{
	size_t ip = ip6_begin(b, s, d, P_UDP);
	size_t l4 = udp_begin(b, sp, dp);

	payload(b, plen);
	l4_end(b, ip, l4, P_UDP);
	ip6_end(b, ip);
}

static void ip6_tcp(struct buf *b, const char *s, const char *d, uint16_t sp, uint16_t dp,
		    uint8_t flags, const uint8_t *opts, size_t optlen, size_t plen)
{
	size_t ip = ip6_begin(b, s, d, P_TCP);
	size_t l4 = tcp_begin(b, sp, dp, flags, opts, optlen);

	payload(b, plen);
	l4_end(b, ip, l4, P_TCP);
	ip6_end(b, ip);
}

static void eth_udp4(struct buf *b, const uint8_t *smac, const uint8_t *dmac, uint32_t s,
		     uint32_t d, uint16_t sp, uint16_t dp, size_t plen)
{
	eth(b, dmac, smac, ET_IPV4);
	ip4_udp(b, s, d, sp, dp, plen);
}

static void eth_tcp4(struct buf *b, const uint8_t *smac, const uint8_t *dmac, uint32_t s,
		     uint32_t d, uint16_t sp, uint16_t dp, uint8_t flags, size_t plen)
{
	eth(b, dmac, smac, ET_IPV4);
	ip4_tcp(b, s, d, sp, dp, flags, plen);
}

/* Ethernet padding up to the 60-byte minimum (trailer after the IP packet). */
static void pad60(struct buf *b)
{
	while (b->n < 60)
		put8(b, 0);
}

/* --------------------------------------------------------------- files */

static void wr(struct cap *c, const void *p, size_t n)
{
	if (fwrite(p, 1, n, c->f) != n)
		c->err = -EIO;
}

static void wr16(struct cap *c, uint16_t v, int be)
{
	uint8_t x[2];

	if (be) {
		x[0] = v >> 8;
		x[1] = v;
	} else {
		x[0] = v;
		x[1] = v >> 8;
	}
	wr(c, x, 2);
}

static void wr32(struct cap *c, uint32_t v, int be)
{
	if (be) {
		wr16(c, v >> 16, 1);
		wr16(c, v & 0xffff, 1);
	} else {
		wr16(c, v & 0xffff, 0);
		wr16(c, v >> 16, 0);
	}
}

static int is_pcapng(const struct cap *c)
{
	return c->fmt == FMT_PCAPNG_US || c->fmt == FMT_PCAPNG_NS;
}

static int cap_open(struct cap *c, const char *path, enum cap_fmt fmt, uint32_t linktype)
{
	int be = fmt == FMT_PCAP_US_BE;

	c->fmt = fmt;
	c->err = 0;
	c->f = fopen(path, "wb");
	if (!c->f) {
		fprintf(stderr, "mkpcap: cannot create '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	if (!is_pcapng(c)) {
		wr32(c, fmt == FMT_PCAP_NS ? 0xa1b23c4d : 0xa1b2c3d4, be);
		wr16(c, 2, be);
		wr16(c, 4, be);
		wr32(c, 0, be);
		wr32(c, 0, be);
		wr32(c, 262144, be);
		wr32(c, linktype, be);
		return 0;
	}
	/* Section Header Block: no options, unspecified section length. */
	wr32(c, 0x0a0d0d0a, 0);
	wr32(c, 28, 0);
	wr32(c, 0x1a2b3c4d, 0);
	wr16(c, 1, 0);
	wr16(c, 0, 0);
	wr32(c, 0xffffffff, 0);
	wr32(c, 0xffffffff, 0);
	wr32(c, 28, 0);
	/* Interface Description Block, optionally with if_tsresol = 9. */
	if (fmt == FMT_PCAPNG_NS) {
		wr32(c, 1, 0);
		wr32(c, 32, 0);
		wr16(c, linktype, 0);
		wr16(c, 0, 0);
		wr32(c, 262144, 0);
		wr16(c, 9, 0); /* if_tsresol */
		wr16(c, 1, 0);
		wr32(c, 9, 0); /* value 9 then 3 padding bytes */
		wr32(c, 0, 0); /* opt_endofopt */
		wr32(c, 32, 0);
	} else {
		wr32(c, 1, 0);
		wr32(c, 20, 0);
		wr16(c, linktype, 0);
		wr16(c, 0, 0);
		wr32(c, 262144, 0);
		wr32(c, 20, 0);
	}
	return c->err;
}

/* Write one record of caplen bytes from data whose original length was len. */
static void cap_raw(struct cap *c, uint64_t ts_ns, const uint8_t *data, uint32_t caplen,
		    uint32_t len)
{
	static const uint8_t pad[4];
	int be = c->fmt == FMT_PCAP_US_BE;
	uint64_t ts;

	if (!is_pcapng(c)) {
		wr32(c, ts_ns / 1000000000ULL, be);
		if (c->fmt == FMT_PCAP_NS)
			wr32(c, ts_ns % 1000000000ULL, be);
		else
			wr32(c, ts_ns % 1000000000ULL / 1000, be);
		wr32(c, caplen, be);
		wr32(c, len, be);
		wr(c, data, caplen);
		return;
	}
	ts = c->fmt == FMT_PCAPNG_NS ? ts_ns : ts_ns / 1000;
	wr32(c, 6, 0);
	wr32(c, 32 + ((caplen + 3) & ~3U), 0);
	wr32(c, 0, 0);
	wr32(c, ts >> 32, 0);
	wr32(c, ts & 0xffffffff, 0);
	wr32(c, caplen, 0);
	wr32(c, len, 0);
	wr(c, data, caplen);
	wr(c, pad, (4 - caplen % 4) % 4);
	wr32(c, 32 + ((caplen + 3) & ~3U), 0);
}

static void cap_frame(struct cap *c, uint64_t ts_ns, const struct buf *b)
{
	cap_raw(c, ts_ns, b->d, b->n, b->n);
}

static int cap_close(struct cap *c)
{
	if (fclose(c->f) != 0 && !c->err)
		c->err = -EIO;
	return c->err;
}

/* -------------------------------------------------------------- scenarios */

#define FRAME(c, ts, ...)                     \
	do {                                  \
		struct buf b_ = { .n = 0 };   \
		struct buf *b = &b_;          \
		__VA_ARGS__;                  \
		cap_frame((c), (ts), b);      \
	} while (0)

static const uint8_t SYN_OPTS[12] = { 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07,
				      0x04, 0x02, 0x01, 0x01 };

/* One IPv4 TCP connection A:40000 -> B:80, 11 packets with every flag. */
static int sc_eth_tcp_handshake(struct cap *c)
{
	static const struct {
		uint32_t t_us;
		int from_a;
		uint8_t flags;
		int opts;
		size_t plen;
		int pad;
	} p[] = {
		{ 0, 1, TH_SYN | TH_ECE | TH_CWR, 1, 0, 0 },
		{ 1500, 0, TH_SYN | TH_ACK | TH_ECE, 1, 0, 0 },
		{ 3200, 1, TH_ACK, 0, 0, 1 },
		{ 10700, 1, TH_PSH | TH_ACK | TH_URG, 0, 100, 0 },
		{ 25100, 0, TH_ACK, 0, 0, 0 },
		{ 40900, 0, TH_PSH | TH_ACK, 0, 300, 0 },
		{ 41300, 1, TH_ACK, 0, 0, 0 },
		{ 50000, 1, TH_FIN | TH_ACK, 0, 0, 0 },
		{ 52600, 0, TH_FIN | TH_ACK, 0, 0, 0 },
		{ 55000, 1, TH_ACK, 0, 0, 0 },
		{ 60400, 0, TH_RST, 0, 0, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(p); i++) {
		FRAME(c, T_US(p[i].t_us), {
			size_t ip, l4;

			if (p[i].from_a) {
				eth(b, MAC_B, MAC_A, ET_IPV4);
				ip = ip4_begin(b, IP_A, IP_B, P_TCP);
				l4 = tcp_begin(b, 40000, 80, p[i].flags,
					       p[i].opts ? SYN_OPTS : NULL, p[i].opts ? 12 : 0);
			} else {
				eth(b, MAC_A, MAC_B, ET_IPV4);
				ip = ip4_begin(b, IP_B, IP_A, P_TCP);
				l4 = tcp_begin(b, 80, 40000, p[i].flags,
					       p[i].opts ? SYN_OPTS : NULL, p[i].opts ? 12 : 0);
			}
			payload(b, p[i].plen);
			l4_end(b, ip, l4, P_TCP);
			ip4_end(b, ip);
			if (p[i].pad)
				pad60(b);
		});
	}
	return 0;
}

#define V6_A "2001:db8:0:0:1:0:0:1"
#define V6_B "2001:db8::2"

static int sc_ipv6_tcp(struct cap *c)
{
	static const uint8_t opts[20] = { 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0, 0,
					  0, 1, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07 };

	FRAME(c, T_MS(0), eth(b, MAC_B, MAC_A, ET_IPV6);
	      ip6_tcp(b, V6_A, V6_B, 50000, 443, TH_SYN, opts, 20, 0));
	FRAME(c, T_MS(7), eth(b, MAC_A, MAC_B, ET_IPV6);
	      ip6_tcp(b, V6_B, V6_A, 443, 50000, TH_SYN | TH_ACK, opts, 20, 0));
	FRAME(c, T_MS(8), eth(b, MAC_B, MAC_A, ET_IPV6);
	      ip6_tcp(b, V6_A, V6_B, 50000, 443, TH_ACK, NULL, 0, 0));
	FRAME(c, T_MS(9), eth(b, MAC_B, MAC_A, ET_IPV6);
	      ip6_tcp(b, V6_A, V6_B, 50000, 443, TH_PSH | TH_ACK, NULL, 0, 200));
	return 0;
}

static int sc_eth_udp(struct cap *c)
{
	/* DNS-like query/response, then a loopback pair with equal addresses. */
	FRAME(c, T_MS(0), eth_udp4(b, MAC_A, MAC_B, IP_A, IP4(8, 8, 8, 8), 53000, 53, 40));
	FRAME(c, T_MS(21), eth_udp4(b, MAC_B, MAC_A, IP4(8, 8, 8, 8), IP_A, 53, 53000, 100));
	FRAME(c, T_MS(30), eth_udp4(b, MAC_C, MAC_C, IP4(127, 0, 0, 1), IP4(127, 0, 0, 1),
				    6000, 5000, 10));
	FRAME(c, T_MS(31), eth_udp4(b, MAC_C, MAC_C, IP4(127, 0, 0, 1), IP4(127, 0, 0, 1),
				    5000, 6000, 20));
	FRAME(c, T_MS(32), eth_udp4(b, MAC_C, MAC_C, IP4(127, 0, 0, 1), IP4(127, 0, 0, 1),
				    6000, 5000, 30));
	return 0;
}

static int sc_eth_icmp(struct cap *c)
{
	FRAME(c, T_MS(0), eth(b, MAC_B, MAC_A, ET_IPV4); ip4_icmp(b, IP_A, IP_B, 8, 1, 56));
	FRAME(c, T_MS(1), eth(b, MAC_A, MAC_B, ET_IPV4); ip4_icmp(b, IP_B, IP_A, 0, 1, 56));
	FRAME(c, T_MS(1000), eth(b, MAC_B, MAC_A, ET_IPV4); ip4_icmp(b, IP_A, IP_B, 8, 2, 56));
	FRAME(c, T_MS(1002), eth(b, MAC_A, MAC_B, ET_IPV4); ip4_icmp(b, IP_B, IP_A, 3, 0, 28));
	FRAME(c, T_MS(1100), eth(b, MAC_C, MAC_A, ET_IPV4); ip4_icmp(b, IP_A, IP_C, 8, 3, 8));
	FRAME(c, T_MS(1200), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "fe80::1", "fe80::2", P_ICMPV6);
		l4 = icmp_begin(b, 128, 0, 7, 1);
		payload(b, 16);
		l4_end(b, ip, l4, P_ICMPV6);
		ip6_end(b, ip);
	});
	FRAME(c, T_MS(1201), {
		size_t ip, l4;

		eth(b, MAC_A, MAC_B, ET_IPV6);
		ip = ip6_begin(b, "fe80::2", "fe80::1", P_ICMPV6);
		l4 = icmp_begin(b, 129, 0, 7, 1);
		payload(b, 16);
		l4_end(b, ip, l4, P_ICMPV6);
		ip6_end(b, ip);
	});
	return 0;
}

static int sc_eth_vlan(struct cap *c)
{
	/* Q-in-Q 100/200: innermost 200 wins. */
	FRAME(c, T_MS(0), eth(b, MAC_B, MAC_A, ET_VLAN); vlan_tag(b, 100, ET_VLAN);
	      vlan_tag(b, 200, ET_IPV4); ip4_udp(b, IP_A, IP_B, 1111, 2222, 10));
	FRAME(c, T_MS(5), eth(b, MAC_A, MAC_B, ET_VLAN); vlan_tag(b, 100, ET_VLAN);
	      vlan_tag(b, 200, ET_IPV4); ip4_udp(b, IP_B, IP_A, 2222, 1111, 10));
	/* Same 5-tuple, single tag 300: a different flow. */
	FRAME(c, T_MS(10), eth(b, MAC_B, MAC_A, ET_VLAN); vlan_tag(b, 300, ET_IPV4);
	      ip4_udp(b, IP_A, IP_B, 1111, 2222, 10));
	/* 802.1ad outer tag is not recognised: ignored. */
	FRAME(c, T_MS(15), eth(b, MAC_B, MAC_A, ET_QINQ); vlan_tag(b, 400, ET_VLAN);
	      vlan_tag(b, 500, ET_IPV4); ip4_udp(b, IP_A, IP_B, 1111, 2222, 10));
	/* Three 802.1Q tags: innermost 30. */
	FRAME(c, T_MS(20), eth(b, MAC_B, MAC_A, ET_VLAN); vlan_tag(b, 10, ET_VLAN);
	      vlan_tag(b, 20, ET_VLAN); vlan_tag(b, 30, ET_IPV4);
	      ip4_udp(b, IP_A, IP_B, 1111, 2222, 10));
	return 0;
}

static int sc_eth_mpls(struct cap *c)
{
	FRAME(c, T_MS(0), eth(b, MAC_B, MAC_A, ET_MPLS); mpls_label(b, 1000, 0);
	      mpls_label(b, 2000, 1); ip4_tcp(b, IP_A, IP_B, 33000, 179, TH_SYN, 0));
	FRAME(c, T_MS(3), eth(b, MAC_A, MAC_B, ET_MPLS); mpls_label(b, 1000, 0);
	      mpls_label(b, 2000, 1); ip4_tcp(b, IP_B, IP_A, 179, 33000, TH_SYN | TH_ACK, 0));
	/* VLAN 42 then a single MPLS label. */
	FRAME(c, T_MS(6), eth(b, MAC_B, MAC_A, ET_VLAN); vlan_tag(b, 42, ET_MPLS);
	      mpls_label(b, 3000, 1); ip4_udp(b, IP_C, IP_D, 4000, 4001, 8));
	return 0;
}

static int sc_eth_pppoe(struct cap *c)
{
	FRAME(c, T_MS(0), {
		size_t s;

		eth(b, MAC_B, MAC_A, ET_PPPOE);
		s = pppoe_begin(b, 0x1234, 0x0021);
		ip4_udp(b, IP_A, IP_B, 1700, 1701, 12);
		pppoe_end(b, s);
	});
	FRAME(c, T_MS(4), {
		size_t s;

		eth(b, MAC_A, MAC_B, ET_PPPOE);
		s = pppoe_begin(b, 0x1234, 0x0021);
		ip4_udp(b, IP_B, IP_A, 1701, 1700, 12);
		pppoe_end(b, s);
	});
	/* IPv6 over PPPoE: the type is forced to IPv4 but the nibble says 6. */
	FRAME(c, T_MS(8), {
		size_t s;

		eth(b, MAC_B, MAC_A, ET_PPPOE);
		s = pppoe_begin(b, 0x1234, 0x0057);
		ip6_udp(b, V6_A, V6_B, 1702, 1703, 12);
		pppoe_end(b, s);
	});
	return 0;
}

static int sc_eth_llc_snap(struct cap *c)
{
	FRAME(c, T_MS(0), {
		size_t l = llc_begin(b, MAC_B, MAC_A, 0xaa, 0xaa);

		put8(b, 0);
		put16(b, 0);
		put16(b, ET_IPV4);
		ip4_udp(b, IP_A, IP_B, 2000, 2001, 20);
		llc_end(b, l);
	});
	FRAME(c, T_MS(2), {
		size_t l = llc_begin(b, MAC_A, MAC_B, 0xaa, 0xaa);

		put8(b, 0);
		put16(b, 0);
		put16(b, ET_IPV4);
		ip4_udp(b, IP_B, IP_A, 2001, 2000, 20);
		llc_end(b, l);
	});
	return 0;
}

/*
 * SNAP's protocol id is taken without byte swapping, so the L2 type is not
 * 0x0800 and a non-first IPv4 fragment is NOT dropped (spec 1.2 caveat).
 * Its first payload bytes then read as UDP ports 8080 -> 80.
 */
static int sc_llc_snap_frag_quirk(struct cap *c)
{
	FRAME(c, T_MS(0), {
		size_t l = llc_begin(b, MAC_B, MAC_A, 0xaa, 0xaa);
		size_t ip;

		put8(b, 0);
		put16(b, 0);
		put16(b, ET_IPV4);
		ip = ip4_begin_ex(b, IP_A, IP_B, P_UDP, 0x0010, NULL, 0);
		put16(b, 8080);
		put16(b, 80);
		put16(b, 24);
		put16(b, 0);
		payload(b, 16);
		ip4_end(b, ip);
		llc_end(b, l);
	});
	/* The same fragment in Ethernet II is dropped. */
	FRAME(c, T_MS(1), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin_ex(b, IP_A, IP_C, P_UDP, 0x0010, NULL, 0);
		put16(b, 8080);
		put16(b, 80);
		put16(b, 24);
		put16(b, 0);
		payload(b, 16);
		ip4_end(b, ip);
	});
	return 0;
}

static void stp_bpdu(struct buf *b)
{
	size_t l = llc_begin(b, MAC_STP, MAC_A, 0x42, 0x42);

	zeros(b, 35);
	llc_end(b, l);
	pad60(b);
}

static void arp(struct buf *b, const uint8_t *smac, const uint8_t *dmac, uint32_t sip,
		uint32_t tip, int reply)
{
	eth(b, dmac, smac, ET_ARP);
	put16(b, 1);
	put16(b, ET_IPV4);
	put8(b, 6);
	put8(b, 4);
	put16(b, reply ? 2 : 1);
	putn(b, smac, 6);
	put32(b, sip);
	putn(b, reply ? dmac : MAC_BCAST, 6);
	put32(b, tip);
	pad60(b);
}

static int sc_eth_non_ip_ignored(struct cap *c)
{
	FRAME(c, T_MS(0), stp_bpdu(b));
	FRAME(c, T_MS(1), arp(b, MAC_A, MAC_BCAST, IP_A, IP_B, 0));
	FRAME(c, T_MS(2), arp(b, MAC_B, MAC_A, IP_B, IP_A, 1));
	/* LLDP: first payload byte 0x02, not an IP version. */
	FRAME(c, T_MS(3), eth(b, MAC_STP, MAC_A, ET_LLDP); put16(b, 0x0207); zeros(b, 44));
	/* Non-SNAP, non-STP LLC (NetBIOS 0xf0): first byte after LLC is 0xf0. */
	FRAME(c, T_MS(4), {
		size_t l = llc_begin(b, MAC_B, MAC_A, 0xf0, 0xf0);

		zeros(b, 40);
		llc_end(b, l);
	});
	/* Frames shorter than 28 captured bytes are ignored. */
	FRAME(c, T_MS(5), eth(b, MAC_B, MAC_A, ET_IPV4); zeros(b, 13));
	/* EtherType says IPv6, nibble says 4: parsed as IPv4. */
	FRAME(c, T_MS(6), eth(b, MAC_B, MAC_A, ET_IPV6);
	      ip4_udp(b, IP_A, IP_B, 3000, 3001, 4));
	/* EtherType says IPv4, nibble says 6: parsed as IPv6. */
	FRAME(c, T_MS(7), eth(b, MAC_B, MAC_A, ET_IPV4);
	      ip6_udp(b, V6_A, V6_B, 3002, 3003, 4));
	return 0;
}

static int sc_raw_min_caplen(struct cap *c)
{
	/* 27 bytes: IPv4 header + 7 bytes, ignored by the 28-byte rule. */
	FRAME(c, T_MS(0), {
		size_t ip = ip4_begin(b, IP_A, IP_B, P_UDP);

		put16(b, 1);
		put16(b, 2);
		put16(b, 7);
		put8(b, 0);
		ip4_end(b, ip);
	});
	/* 28 bytes: IPv4 + empty UDP, accepted. */
	FRAME(c, T_MS(1), ip4_udp(b, IP_C, IP_D, 3, 4, 0));
	return 0;
}

static int sc_tunnels_ip_in_ip(struct cap *c)
{
	uint32_t o1 = IP4(192, 0, 2, 1), o2 = IP4(192, 0, 2, 2);

	FRAME(c, T_MS(0), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, o1, o2, P_IPIP);
		ip4_udp(b, IP4(10, 1, 1, 1), IP4(10, 1, 1, 2), 1000, 2000, 10);
		ip4_end(b, ip);
	});
	FRAME(c, T_MS(1), {
		size_t ip;

		eth(b, MAC_A, MAC_B, ET_IPV4);
		ip = ip4_begin(b, o2, o1, P_IPIP);
		ip4_udp(b, IP4(10, 1, 1, 2), IP4(10, 1, 1, 1), 2000, 1000, 10);
		ip4_end(b, ip);
	});
	/* 6in4 */
	FRAME(c, T_MS(2), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, o1, o2, P_IPV6);
		ip6_tcp(b, "2001:db8::a", "2001:db8::b", 3000, 4000, TH_SYN, NULL, 0, 0);
		ip4_end(b, ip);
	});
	/* 4in6 */
	FRAME(c, T_MS(3), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1:1", "2001:db8::1:2", P_IPIP);
		ip4_icmp(b, IP4(10, 2, 2, 1), IP4(10, 2, 2, 2), 8, 9, 16);
		ip6_end(b, ip);
	});
	/* 6in6 */
	FRAME(c, T_MS(4), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1:1", "2001:db8::1:2", P_IPV6);
		ip6_udp(b, "2001:db8::c", "2001:db8::d", 5000, 6000, 8);
		ip6_end(b, ip);
	});
	return 0;
}

static int sc_ipv4_fragments(struct cap *c)
{
	/* First fragment (MF, offset 0): kept, ports from its UDP header. */
	FRAME(c, T_MS(0), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin_ex(b, IP_A, IP_B, P_UDP, 0x2000, NULL, 0);
		l4 = udp_begin(b, 5000, 6000);
		payload(b, 96);
		set16(b, l4 + 4, 154);
		ip4_end(b, ip);
	});
	/* Second fragment (offset 13*8 = 104): ignored. */
	FRAME(c, T_MS(1), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin_ex(b, IP_A, IP_B, P_UDP, 13, NULL, 0);
		payload(b, 50);
		ip4_end(b, ip);
	});
	FRAME(c, T_MS(2), eth_udp4(b, MAC_A, MAC_B, IP_B, IP_A, 6000, 5000, 30));
	/* DF set, offset 0: kept. */
	FRAME(c, T_MS(3), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin_ex(b, IP_A, IP_B, P_UDP, 0x4000, NULL, 0);
		l4 = udp_begin(b, 5000, 6000);
		payload(b, 10);
		l4_end(b, ip, l4, P_UDP);
		ip4_end(b, ip);
	});
	/* A lone non-first fragment of another pair: ignored, no flow. */
	FRAME(c, T_MS(4), {
		size_t ip;

		eth(b, MAC_D, MAC_C, ET_IPV4);
		ip = ip4_begin_ex(b, IP_C, IP_D, P_UDP, 0x2000 | 100, NULL, 0);
		payload(b, 64);
		ip4_end(b, ip);
	});
	return 0;
}

static int sc_ipv4_options(struct cap *c)
{
	static const uint8_t ra[4] = { 0x94, 0x04, 0x00, 0x00 };
	static const uint8_t nops[8] = { 1, 1, 1, 1, 1, 1, 1, 0 };

	FRAME(c, T_MS(0), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin_ex(b, IP_A, IP_B, P_TCP, 0x4000, ra, 4);
		l4 = tcp_begin(b, 12345, 8080, TH_SYN, NULL, 0);
		l4_end(b, ip, l4, P_TCP);
		ip4_end(b, ip);
	});
	FRAME(c, T_MS(1), {
		size_t ip, l4;

		eth(b, MAC_A, MAC_B, ET_IPV4);
		ip = ip4_begin_ex(b, IP_B, IP_A, P_TCP, 0x4000, nops, 8);
		l4 = tcp_begin(b, 8080, 12345, TH_SYN | TH_ACK, SYN_OPTS, 12);
		payload(b, 5);
		l4_end(b, ip, l4, P_TCP);
		ip4_end(b, ip);
	});
	return 0;
}

static int sc_ipv6_ext_headers(struct cap *c)
{
	/* hop-by-hop -> destination options -> UDP */
	FRAME(c, T_MS(0), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::2", 0);
		ip6_opts(b, 60);
		ip6_opts(b, P_UDP);
		l4 = udp_begin(b, 1000, 2000);
		payload(b, 12);
		l4_end(b, ip, l4, P_UDP);
		ip6_end(b, ip);
	});
	/* routing header -> TCP */
	FRAME(c, T_MS(1), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::3", 43);
		ip6_rthdr(b, P_TCP);
		l4 = tcp_begin(b, 1001, 80, TH_SYN, NULL, 0);
		l4_end(b, ip, l4, P_TCP);
		ip6_end(b, ip);
	});
	/* first fragment (offset 0, M=1) -> UDP: kept */
	FRAME(c, T_MS(2), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::4", 44);
		ip6_frag(b, P_UDP, 0, 1, 0xabcd);
		l4 = udp_begin(b, 1002, 2002);
		payload(b, 32);
		set16(b, l4 + 4, 200);
		ip6_end(b, ip);
	});
	/* non-first fragment: ignored */
	FRAME(c, T_MS(3), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::4", 44);
		ip6_frag(b, P_UDP, 5, 0, 0xabcd);
		payload(b, 24);
		ip6_end(b, ip);
	});
	/* next header 59: ignored */
	FRAME(c, T_MS(4), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::5", P_NONE);
		ip6_end(b, ip);
		pad60(b);
	});
	/* hop-by-hop -> 59 followed by 2 trailer bytes: ignored */
	FRAME(c, T_MS(5), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::6", 0);
		ip6_opts(b, P_NONE);
		ip6_end(b, ip);
		zeros(b, 2);
	});
	/* payload length larger than captured: dropped entirely */
	FRAME(c, T_MS(6), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::7", P_UDP);
		udp_begin(b, 1003, 2003);
		payload(b, 12);
		ip6_end_len(b, ip, 100);
	});
	/*
	 * hop-by-hop -> 59 with no byte captured after it: nDPI's extension
	 * header walk stops when fewer than 2 bytes remain (l3len > 1), before
	 * it looks at next header 59, so this one is kept as protocol 59.
	 */
	FRAME(c, T_MS(7), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, "2001:db8::1", "2001:db8::8", 0);
		ip6_opts(b, P_NONE);
		ip6_end(b, ip);
	});
	return 0;
}

#define GTP_A IP4(192, 168, 0, 1)
#define GTP_B IP4(192, 168, 0, 2)

/* Outer Ethernet/IPv4/UDP 2152 around a GTP header; returns offsets. */
static void gtp_open(struct buf *b, int up, size_t *ip, size_t *udp)
{
	eth(b, up ? MAC_B : MAC_A, up ? MAC_A : MAC_B, ET_IPV4);
	*ip = ip4_begin(b, up ? GTP_A : GTP_B, up ? GTP_B : GTP_A, P_UDP);
	*udp = udp_begin(b, 2152, 2152);
}

static void gtp_close(struct buf *b, size_t ip, size_t udp, size_t gtp)
{
	set16(b, gtp + 2, b->n - gtp - 8);
	l4_end(b, ip, udp, P_UDP);
	ip4_end(b, ip);
}

static size_t gtp_hdr(struct buf *b, uint8_t flags, uint8_t type)
{
	size_t off = b->n;

	put8(b, flags);
	put8(b, type);
	put16(b, 0);
	put32(b, 0x00c0ffee);
	return off;
}

static int sc_gtp_u_capture(struct cap *c)
{
	/* plain T-PDU, no optional fields */
	FRAME(c, T_MS(0), {
		size_t ip, udp, g;

		gtp_open(b, 1, &ip, &udp);
		g = gtp_hdr(b, 0x30, 0xff);
		ip4_udp(b, IP4(10, 10, 0, 1), IP4(10, 10, 0, 2), 1234, 53, 20);
		gtp_close(b, ip, udp, g);
	});
	/* S flag: 4 more bytes (seq, N-PDU, next ext = 0) */
	FRAME(c, T_MS(10), {
		size_t ip, udp, g;

		gtp_open(b, 0, &ip, &udp);
		g = gtp_hdr(b, 0x32, 0xff);
		put16(b, 1);
		put8(b, 0);
		put8(b, 0);
		ip4_udp(b, IP4(10, 10, 0, 2), IP4(10, 10, 0, 1), 53, 1234, 60);
		gtp_close(b, ip, udp, g);
	});
	/* E flag: one PDU session container extension header */
	FRAME(c, T_MS(20), {
		size_t ip, udp, g;

		gtp_open(b, 1, &ip, &udp);
		g = gtp_hdr(b, 0x34, 0xff);
		put16(b, 0);
		put8(b, 0);
		put8(b, 0x85);
		put8(b, 1);
		put8(b, 0x10);
		put8(b, 0x09);
		put8(b, 0);
		ip4_tcp(b, IP4(10, 10, 0, 1), IP4(10, 10, 0, 3), 5555, 80, TH_SYN, 0);
		gtp_close(b, ip, udp, g);
	});
	/* Echo request (type 1): not a T-PDU, stays an outer UDP flow */
	FRAME(c, T_MS(30), {
		size_t ip, udp, g;

		gtp_open(b, 1, &ip, &udp);
		g = gtp_hdr(b, 0x32, 0x01);
		put16(b, 7);
		put8(b, 0);
		put8(b, 0);
		gtp_close(b, ip, udp, g);
	});
	/* E|S|PN flags, two chained extension headers, inner IPv6 */
	FRAME(c, T_MS(40), {
		size_t ip, udp, g;

		gtp_open(b, 1, &ip, &udp);
		g = gtp_hdr(b, 0x37, 0xff);
		put16(b, 2);
		put8(b, 0);
		put8(b, 0x85);
		put8(b, 1);
		put8(b, 0x10);
		put8(b, 0x09);
		put8(b, 0x40);
		put8(b, 2);
		zeros(b, 6);
		put8(b, 0);
		ip6_udp(b, "2001:db8:5::1", "2001:db8:5::2", 7000, 7001, 16);
		gtp_close(b, ip, udp, g);
	});
	return 0;
}

/* CAPWAP data with an 802.11 frame; addr1 and addr3 as given. */
static void capwap_frame(struct buf *b, int up, const uint8_t *a1, const uint8_t *a2,
			 const uint8_t *a3, uint32_t si, uint32_t di, uint16_t sp,
			 uint16_t dp, uint8_t flags, size_t plen)
{
	uint32_t wtp = IP4(192, 168, 1, 10), ac = IP4(192, 168, 1, 1);
	size_t ip, udp;

	eth(b, up ? MAC_B : MAC_A, up ? MAC_A : MAC_B, ET_IPV4);
	ip = ip4_begin(b, up ? wtp : ac, up ? ac : wtp, P_UDP);
	udp = udp_begin(b, up ? 12345 : 5247, up ? 5247 : 12345);
	/* preamble 0, HLEN 2 (8 bytes), RID 0, WBID 1, T=1, no flags */
	put8(b, 0x00);
	put8(b, 0x10);
	put8(b, 0x03);
	put8(b, 0x00);
	put32(b, 0);
	/* 802.11 data frame, ToDS (up) or FromDS (down) */
	put8(b, 0x08);
	put8(b, up ? 0x01 : 0x02);
	put16(b, 0);
	putn(b, a1, 6);
	putn(b, a2, 6);
	putn(b, a3, 6);
	put16(b, 0x0010);
	put8(b, 0xaa);
	put8(b, 0xaa);
	put8(b, 0x03);
	zeros(b, 3);
	put16(b, ET_IPV4);
	ip4_tcp(b, si, di, sp, dp, flags, plen);
	l4_end(b, ip, udp, P_UDP);
	ip4_end(b, ip);
}

#define CW_STA IP4(172, 16, 0, 5)
#define CW_SRV IP4(172, 16, 0, 9)

static int sc_capwap(struct cap *c)
{
	/* addr1 == addr3, so dst_mac does not depend on which one is read */
	FRAME(c, T_MS(0), capwap_frame(b, 1, MAC_W3, MAC_W2, MAC_W3, CW_STA, CW_SRV, 49000,
				       443, TH_SYN, 0));
	FRAME(c, T_MS(2), capwap_frame(b, 0, MAC_W2, MAC_W3, MAC_W3, CW_SRV, CW_STA, 443,
				       49000, TH_SYN | TH_ACK, 0));
	return 0;
}

static int sc_capwap_addr3(struct cap *c)
{
	FRAME(c, T_MS(0), capwap_frame(b, 1, MAC_W1, MAC_W2, MAC_W3, CW_STA, CW_SRV, 49001,
				       443, TH_SYN, 0));
	return 0;
}

static void tzsp_frame(struct buf *b, uint16_t encap, int inner)
{
	uint32_t s = IP4(192, 168, 2, 1), d = IP4(192, 168, 2, 2);
	size_t ip, udp;

	eth(b, MAC_B, MAC_A, ET_IPV4);
	ip = ip4_begin(b, s, d, P_UDP);
	udp = udp_begin(b, 37008, 37008);
	put8(b, 1);
	put8(b, 0);
	put16(b, encap);
	put8(b, 1); /* TAG_END */
	if (inner) {
		eth(b, MAC_I2, MAC_I1, ET_IPV4);
		ip4_udp(b, IP4(10, 20, 0, 1), IP4(10, 20, 0, 2), 4000, 5000, 10);
	} else {
		payload(b, 40);
	}
	l4_end(b, ip, udp, P_UDP);
	ip4_end(b, ip);
}

static int sc_tzsp(struct cap *c)
{
	FRAME(c, T_MS(0), tzsp_frame(b, 1, 1));
	FRAME(c, T_MS(1), tzsp_frame(b, 1, 1));
	/* encapsulation 18 (802.11): not decoded, outer flow keeps tunnel_id 3 */
	FRAME(c, T_MS(2), tzsp_frame(b, 18, 0));
	return 0;
}

/* Two IPv4 UDP packets A<->B (ports 1000/2000) behind a link header. */
static int linktype_pair(struct cap *c, void (*l2)(struct buf *b, int fwd, int v6))
{
	FRAME(c, T_MS(0), l2(b, 1, 0); ip4_udp(b, IP_A, IP_B, 1000, 2000, 10));
	FRAME(c, T_MS(1), l2(b, 0, 0); ip4_udp(b, IP_B, IP_A, 2000, 1000, 20));
	FRAME(c, T_MS(2), l2(b, 1, 1); ip6_udp(b, V6_A, V6_B, 1000, 2000, 30));
	return 0;
}

static void l2_none(struct buf *b, int fwd, int v6)
{
	(void)b;
	(void)fwd;
	(void)v6;
}

static void l2_null(struct buf *b, int fwd, int v6)
{
	(void)fwd;
	/* host byte order of a little-endian writer: AF_INET 2, AF_INET6 30 */
	put8(b, v6 ? 30 : 2);
	zeros(b, 3);
}

static void l2_ppp(struct buf *b, int fwd, int v6)
{
	(void)fwd;
	put16(b, v6 ? 0x0057 : 0x0021);
}

static void l2_chdlc(struct buf *b, int fwd, int v6)
{
	put8(b, fwd ? 0x0f : 0x8f);
	put8(b, 0);
	put16(b, v6 ? ET_IPV6 : ET_IPV4);
}

static void l2_ppp_serial(struct buf *b, int fwd, int v6)
{
	(void)fwd;
	put8(b, 0xff);
	put8(b, 0x03);
	put16(b, v6 ? 0x0057 : 0x0021);
}

static void l2_sll(struct buf *b, int fwd, int v6)
{
	put16(b, fwd ? 4 : 0);
	put16(b, 1);
	put16(b, 6);
	putn(b, fwd ? MAC_A : MAC_B, 6);
	zeros(b, 2);
	put16(b, v6 ? ET_IPV6 : ET_IPV4);
}

static void l2_sll2(struct buf *b, int fwd, int v6)
{
	put16(b, v6 ? ET_IPV6 : ET_IPV4);
	put16(b, 0);
	put32(b, 2);
	put16(b, 1);
	put8(b, fwd ? 4 : 0);
	put8(b, 6);
	putn(b, fwd ? MAC_A : MAC_B, 6);
	zeros(b, 2);
}

static int sc_linktype_null(struct cap *c)
{
	return linktype_pair(c, l2_null);
}

static int sc_linktype_ppp(struct cap *c)
{
	linktype_pair(c, l2_ppp);
	/* With address/control bytes ff 03 the IP header is not at offset 2. */
	FRAME(c, T_MS(3), put8(b, 0xff); put8(b, 0x03); put16(b, 0x0021);
	      ip4_udp(b, IP_C, IP_D, 1000, 2000, 10));
	return 0;
}

static int sc_linktype_c_hdlc(struct cap *c)
{
	return linktype_pair(c, l2_chdlc);
}

static int sc_linktype_ppp_serial(struct cap *c)
{
	return linktype_pair(c, l2_ppp_serial);
}

static int sc_linktype_raw(struct cap *c)
{
	return linktype_pair(c, l2_none);
}

static int sc_linktype_sll(struct cap *c)
{
	return linktype_pair(c, l2_sll);
}

static int sc_linktype_sll2(struct cap *c)
{
	return linktype_pair(c, l2_sll2);
}

static int sc_linktype_ipv4(struct cap *c)
{
	FRAME(c, T_MS(0), ip4_udp(b, IP_A, IP_B, 1000, 2000, 10));
	FRAME(c, T_MS(1), ip4_udp(b, IP_B, IP_A, 2000, 1000, 20));
	return 0;
}

static int sc_linktype_ipv6(struct cap *c)
{
	FRAME(c, T_MS(0), ip6_udp(b, V6_A, V6_B, 1000, 2000, 10));
	FRAME(c, T_MS(1), ip6_udp(b, V6_B, V6_A, 2000, 1000, 20));
	return 0;
}

/* Radiotap (18 bytes: TSFT, flags, rate) + 802.11 header. */
static void radiotap(struct buf *b, uint8_t rt_flags, uint8_t fc0, uint8_t fc1,
		     const uint8_t *a1, const uint8_t *a2, const uint8_t *a3)
{
	put8(b, 0);
	put8(b, 0);
	put8(b, 18); /* it_len, little endian */
	put8(b, 0);
	put8(b, 0x07); /* it_present: TSFT | FLAGS | RATE, little endian */
	zeros(b, 3);
	zeros(b, 8);
	put8(b, rt_flags);
	put8(b, 0x02);
	put8(b, fc0);
	put8(b, fc1);
	put16(b, 0);
	putn(b, a1, 6);
	putn(b, a2, 6);
	putn(b, a3, 6);
	put16(b, 0x0020);
}

/* QoS data frame (26-byte header) + LLC/SNAP + IPv4 UDP. */
static void radiotap_data(struct buf *b, uint8_t rt_flags, int to_ds, const uint8_t *a1,
			  const uint8_t *a2, const uint8_t *a3, uint32_t s, uint32_t d,
			  uint16_t sp, uint16_t dp)
{
	radiotap(b, rt_flags, 0x88, to_ds ? 0x01 : 0x02, a1, a2, a3);
	put16(b, 0x0000); /* QoS control */
	put8(b, 0xaa);
	put8(b, 0xaa);
	put8(b, 0x03);
	zeros(b, 3);
	put16(b, ET_IPV4);
	ip4_udp(b, s, d, sp, dp, 10);
}

static int sc_linktype_radiotap(struct cap *c)
{
	/* Beacon (management): ignored. */
	FRAME(c, T_MS(0), radiotap(b, 0, 0x80, 0x00, MAC_BCAST, MAC_W1, MAC_W1);
	      zeros(b, 36));
	/* Data, ToDS, addr1 == addr3. */
	FRAME(c, T_MS(1), radiotap_data(b, 0, 1, MAC_W3, MAC_W2, MAC_W3, IP_A, IP_B, 1000,
					2000));
	/* Data, FromDS reply: same flow. */
	FRAME(c, T_MS(2), radiotap_data(b, 0, 0, MAC_W2, MAC_W3, MAC_W3, IP_B, IP_A, 2000,
					1000));
	/* Bad FCS flagged (0x50): ignored. */
	FRAME(c, T_MS(3), radiotap_data(b, 0x50, 1, MAC_W3, MAC_W2, MAC_W3, IP_C, IP_D, 1,
					2));
	return 0;
}

static int sc_radiotap_addr3(struct cap *c)
{
	FRAME(c, T_MS(0), radiotap_data(b, 0, 1, MAC_W1, MAC_W2, MAC_W3, IP_A, IP_B, 1000,
					2000));
	return 0;
}

/* Two flows in one capture, used for the file-format scenarios. */
static int sc_format_common(struct cap *c)
{
	FRAME(c, T_NS(0), eth_tcp4(b, MAC_A, MAC_B, IP_A, IP_B, 40000, 80, TH_SYN, 0));
	/* 5.999999999 ms: truncated to 5 ms, rounding would give 6 */
	FRAME(c, T_NS(5999999), eth_tcp4(b, MAC_B, MAC_A, IP_B, IP_A, 80, 40000,
					 TH_SYN | TH_ACK, 0));
	FRAME(c, T_NS(1999999999), eth_udp4(b, MAC_A, MAC_B, IP_A, IP_C, 999, 53, 30));
	return 0;
}

static int sc_pcapng_nrb(struct cap *c)
{
	int err = sc_format_common(c);

	/* Name Resolution Block (10.0.0.1 = "host-a"), skipped by readers. */
	wr32(c, 4, 0);
	wr32(c, 32, 0);
	wr16(c, 1, 0);
	wr16(c, 11, 0);
	wr(c, "\x0a\x00\x00\x01host-a\0\0", 12);
	wr32(c, 0, 0);
	wr32(c, 32, 0);
	FRAME(c, T_MS(2500), eth_udp4(b, MAC_C, MAC_A, IP_C, IP_A, 53, 999, 60));
	return err;
}

static int sc_acct_capture(struct cap *c)
{
	/* F1: TCP with 12 bytes of options and 10 of payload; padded reply */
	FRAME(c, T_MS(0), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, IP_A, IP_B, P_TCP);
		l4 = tcp_begin(b, 1000, 2000, TH_PSH | TH_ACK, SYN_OPTS, 12);
		payload(b, 10);
		l4_end(b, ip, l4, P_TCP);
		ip4_end(b, ip);
	});
	FRAME(c, T_MS(1), eth_tcp4(b, MAC_B, MAC_A, IP_B, IP_A, 2000, 1000, TH_ACK, 0);
	      pad60(b));
	/* F2: IPv6 hop-by-hop + UDP, 20 bytes of payload */
	FRAME(c, T_MS(2), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, V6_A, V6_B, 0);
		ip6_opts(b, P_UDP);
		l4 = udp_begin(b, 5353, 53);
		payload(b, 20);
		l4_end(b, ip, l4, P_UDP);
		ip6_end(b, ip);
	});
	/* F3: ICMP echo with 56 bytes of data */
	FRAME(c, T_MS(3), eth(b, MAC_B, MAC_A, ET_IPV4); ip4_icmp(b, IP_A, IP_B, 8, 1, 56));
	/* F4: GRE (not a transport the engine knows) */
	FRAME(c, T_MS(4), {
		size_t ip;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, IP_A, IP_B, P_GRE);
		payload(b, 20);
		ip4_end(b, ip);
	});
	/* F5: empty UDP datagram */
	FRAME(c, T_MS(5), eth_udp4(b, MAC_A, MAC_B, IP_A, IP_B, 7000, 7001, 0));
	/* F6: 70000-byte frame (GRO-like), 70 bytes captured, tot_len 65000 */
	{
		struct buf b = { .n = 0 };
		size_t ip, l4;

		eth(&b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(&b, IP_A, IP_B, P_TCP);
		l4 = tcp_begin(&b, 3000, 4000, TH_ACK, NULL, 0);
		payload(&b, 16);
		l4_end(&b, ip, l4, P_TCP);
		ip4_end_len(&b, ip, 65000);
		cap_raw(c, T_MS(6), b.d, b.n, 70000);
	}
	/* F7: TCP data offset 15 but only 20 bytes of L4 */
	FRAME(c, T_MS(7), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, IP_A, IP_B, P_TCP);
		l4 = tcp_begin(b, 5000, 6000, TH_ACK, NULL, 0);
		b->d[l4 + 12] = 0xf0;
		l4_end(b, ip, l4, P_TCP);
		ip4_end(b, ip);
	});
	/* F8: ICMPv6 echo with 16 bytes of data */
	FRAME(c, T_MS(8), {
		size_t ip, l4;

		eth(b, MAC_B, MAC_A, ET_IPV6);
		ip = ip6_begin(b, V6_A, V6_B, P_ICMPV6);
		l4 = icmp_begin(b, 128, 0, 1, 1);
		payload(b, 16);
		l4_end(b, ip, l4, P_ICMPV6);
		ip6_end(b, ip);
	});
	return 0;
}

static void udp_ab(struct buf *b, int n, int fwd)
{
	static const uint32_t hosts[][2] = {
		{ IP4(10, 0, 1, 1), IP4(10, 0, 1, 2) }, { IP4(10, 0, 2, 1), IP4(10, 0, 2, 2) },
		{ IP4(10, 0, 3, 1), IP4(10, 0, 3, 2) }, { IP4(10, 0, 4, 1), IP4(10, 0, 4, 2) },
	};
	uint32_t s = hosts[n][fwd ? 0 : 1], d = hosts[n][fwd ? 1 : 0];

	eth_udp4(b, fwd ? MAC_A : MAC_B, fwd ? MAC_B : MAC_A, s, d, fwd ? 1001 + n : 2001 + n,
		 fwd ? 2001 + n : 1001 + n, 10);
}

/* --idle-timeout 1: creation-ordered idle scan with head-of-line blocking. */
static int sc_idle_expiry_hol(struct cap *c)
{
	int t;

	for (t = 0; t <= 2400; t += 400) {
		FRAME(c, T_MS(t), udp_ab(b, 0, t % 800 == 0));
		if (t == 0)
			FRAME(c, T_MS(100), udp_ab(b, 1, 1));
		if (t == 0)
			FRAME(c, T_MS(200), udp_ab(b, 2, 1));
	}
	FRAME(c, T_MS(2500), udp_ab(b, 1, 0));
	FRAME(c, T_MS(3500), udp_ab(b, 3, 1));
	FRAME(c, T_MS(3600), udp_ab(b, 3, 0));
	return 0;
}

/* --active-timeout 1: lazy active expiry, new flow's src is its sender. */
static int sc_active_expiry(struct cap *c)
{
	FRAME(c, T_MS(0), udp_ab(b, 0, 1));
	FRAME(c, T_MS(50), udp_ab(b, 1, 1));
	FRAME(c, T_MS(300), udp_ab(b, 0, 0));
	FRAME(c, T_MS(600), udp_ab(b, 0, 1));
	FRAME(c, T_MS(999), udp_ab(b, 0, 0));
	FRAME(c, T_MS(1000), udp_ab(b, 0, 0));
	FRAME(c, T_MS(1100), udp_ab(b, 0, 1));
	FRAME(c, T_MS(1500), udp_ab(b, 0, 0));
	FRAME(c, T_MS(2000), udp_ab(b, 1, 1));
	return 0;
}

static int sc_ts_backwards(struct cap *c)
{
	FRAME(c, T_MS(1000), udp_ab(b, 0, 1));
	FRAME(c, T_MS(2000), udp_ab(b, 0, 0));
	/* ignored frame far in the future: does not move the clock */
	FRAME(c, T_MS(9000), arp(b, MAC_A, MAC_BCAST, IP_A, IP_B, 0));
	FRAME(c, T_MS(1500), udp_ab(b, 0, 1));
	FRAME(c, T_MS(500), udp_ab(b, 1, 1));
	FRAME(c, T_MS(2100), udp_ab(b, 0, 1));
	FRAME(c, T_MS(2050), udp_ab(b, 1, 0));
	return 0;
}

static int sc_multi_file(struct cap *c)
{
	FRAME(c, T_MS(0), udp_ab(b, 0, 1));
	FRAME(c, T_MS(50), eth_tcp4(b, MAC_A, MAC_B, IP_A, IP_B, 40000, 443, TH_SYN, 0));
	FRAME(c, T_MS(100), udp_ab(b, 0, 0));
	return 0;
}

static int sc_multi_file_part2(struct cap *c)
{
	/* 90 ms is behind the clock of part 1 (100 ms): clamped to 100 */
	FRAME(c, T_MS(90), udp_ab(b, 0, 1));
	FRAME(c, T_MS(250), eth_tcp4(b, MAC_B, MAC_A, IP_B, IP_A, 443, 40000,
				     TH_SYN | TH_ACK, 0));
	FRAME(c, T_MS(260), udp_ab(b, 2, 1));
	FRAME(c, T_MS(300), udp_ab(b, 0, 0));
	return 0;
}

static int sc_max_nflows(struct cap *c)
{
	int i;

	for (i = 0; i < 4; i++)
		FRAME(c, T_MS(10 * i), udp_ab(b, i, 1));
	for (i = 0; i < 4; i++)
		FRAME(c, T_MS(100 + 10 * i), udp_ab(b, i, 0));
	return 0;
}

static int sc_bpf_tcp_port_80(struct cap *c)
{
	FRAME(c, T_MS(0), eth_tcp4(b, MAC_A, MAC_B, IP_A, IP_B, 40000, 80, TH_SYN, 0));
	FRAME(c, T_MS(1), eth_tcp4(b, MAC_B, MAC_A, IP_B, IP_A, 80, 40000, TH_SYN | TH_ACK, 0));
	FRAME(c, T_MS(2), eth_tcp4(b, MAC_A, MAC_B, IP_A, IP_B, 40001, 8080, TH_SYN, 0));
	FRAME(c, T_MS(3), eth_udp4(b, MAC_A, MAC_B, IP_A, IP_B, 5000, 80, 10));
	/* VLAN-tagged: 'tcp port 80' without 'vlan' does not match it */
	FRAME(c, T_MS(4), eth(b, MAC_B, MAC_A, ET_VLAN); vlan_tag(b, 7, ET_IPV4);
	      ip4_tcp(b, IP_A, IP_B, 40002, 80, TH_SYN, 0));
	FRAME(c, T_MS(5), eth(b, MAC_B, MAC_A, ET_IPV6);
	      ip6_tcp(b, V6_A, V6_B, 40003, 80, TH_SYN, NULL, 0, 0));
	return 0;
}

static int sc_bad_truncated_record(struct cap *c)
{
	struct buf b = { .n = 0 };

	FRAME(c, T_MS(0), udp_ab(b, 0, 1));
	FRAME(c, T_MS(1), udp_ab(b, 0, 0));
	FRAME(c, T_MS(2), udp_ab(b, 1, 1));
	/* record header promises 100 bytes, only 30 follow */
	eth_udp4(&b, MAC_A, MAC_B, IP_C, IP_D, 1, 2, 58);
	wr32(c, T0_SEC, 0);
	wr32(c, 3000, 0);
	wr32(c, 100, 0);
	wr32(c, 100, 0);
	wr(c, b.d, 30);
	return 0;
}

static int sc_bad_linktype(struct cap *c)
{
	FRAME(c, T_MS(0), udp_ab(b, 0, 1));
	FRAME(c, T_MS(1), udp_ab(b, 0, 0));
	return 0;
}

static int sc_empty(struct cap *c)
{
	(void)c;
	return 0;
}

/* ------------------------------------------------------------ TLS / JA4 */

/*
 * TCP header without options and with explicit sequence/acknowledgement
 * numbers, so that a client's consecutive segments are in order (nDPI treats
 * a segment below the expected sequence number as a retransmission).
 */
static size_t tcp_begin_seq(struct buf *b, uint16_t sp, uint16_t dp, uint8_t flags,
			    uint32_t seq, uint32_t ack)
{
	size_t off = b->n;

	put16(b, sp);
	put16(b, dp);
	put32(b, seq);
	put32(b, (flags & TH_ACK) ? ack : 0);
	put8(b, 5 << 4);
	put8(b, flags);
	put16(b, 64240);
	put16(b, 0);
	put16(b, 0);
	return off;
}

#define TLS_CPORT 50000
#define TLS_SPORT 443
#define TLS_CISN 0x10000000U /* client's initial sequence number */
#define TLS_SISN 0x20000000U /* server's */

/* One Ethernet/IPv4/TCP segment of the A:50000 <-> B:443 connection. */
static void tls_seg(struct buf *b, int from_client, uint8_t flags, uint32_t seq, uint32_t ack,
		    const uint8_t *data, size_t n)
{
	size_t ip, l4;

	if (from_client) {
		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, IP_A, IP_B, P_TCP);
		l4 = tcp_begin_seq(b, TLS_CPORT, TLS_SPORT, flags, seq, ack);
	} else {
		eth(b, MAC_A, MAC_B, ET_IPV4);
		ip = ip4_begin(b, IP_B, IP_A, P_TCP);
		l4 = tcp_begin_seq(b, TLS_SPORT, TLS_CPORT, flags, seq, ack);
	}
	putn(b, data, n);
	l4_end(b, ip, l4, P_TCP);
	ip4_end(b, ip);
}

/*
 * The ClientHello of FoxIO's JA4 spec example (technical_details/JA4.md,
 * "Raw Output" JA4_ro: ciphers and extensions in wire order), published
 * JA4 t13d1516h2_8daaf6152771_e5627efa2ab1. Built here independently of
 * tests/unit. Each entry is an extension type and its complete body.
 */
static const uint16_t ja4_spec_ciphers[] = {
	0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
	0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
};

#define EXT(t, body) { t, body, sizeof(body) - 1 }
static const struct {
	uint16_t type;
	const char *body;
	size_t len;
} ja4_spec_exts[] = {
	EXT(0x001b, "\x02\x00\x02"),				/* compress_certificate: brotli */
	EXT(0x0000, "\x00\x12\x00\x00\x0f" "ja4.example.com"),	/* server_name */
	EXT(0x0033, "\x00\x24\x00\x1d\x00\x20"			/* key_share: x25519 */
		    "0123456789abcdef0123456789abcdef"),
	EXT(0x0010, "\x00\x0c\x02h2\x08http/1.1"),		/* ALPN */
	EXT(0x4469, "\x00\x03\x02h2"),				/* application_settings */
	EXT(0x0017, ""),					/* extended_master_secret */
	EXT(0x002d, "\x01\x01"),				/* psk_key_exchange_modes */
	EXT(0x000d, "\x00\x10\x04\x03\x08\x04\x04\x01\x05\x03"	/* signature_algorithms */
		    "\x08\x05\x05\x01\x08\x06\x06\x01"),
	EXT(0x0005, "\x01\x00\x00\x00\x00"),			/* status_request: OCSP */
	EXT(0x0023, ""),					/* session_ticket */
	EXT(0x0012, ""),					/* signed_certificate_timestamp */
	EXT(0x002b, "\x04\x03\x04\x03\x03"),			/* supported_versions */
	EXT(0xff01, "\x00"),					/* renegotiation_info */
	EXT(0x000b, "\x01\x00"),				/* ec_point_formats */
	EXT(0x000a, "\x00\x06\x00\x1d\x00\x17\x00\x18"),	/* supported_groups */
	EXT(0x0015, "\x00\x00\x00\x00\x00\x00\x00\x00"),	/* padding */
};
#undef EXT

/*
 * One TLS record (0x16 0x0301) holding the spec example ClientHello (legacy
 * version 0x0303). *mid is set to an offset in the middle of the extensions.
 */
static void ja4_spec_hello(struct buf *h, size_t *mid)
{
	size_t rec_len, hs_len, ext_len, i;

	put8(h, 0x16);
	put16(h, 0x0301);
	rec_len = h->n;
	put16(h, 0);
	put8(h, 0x01); /* ClientHello */
	hs_len = h->n;
	put8(h, 0);
	put16(h, 0);
	put16(h, 0x0303);
	for (i = 0; i < 32; i++) /* random */
		put8(h, (uint8_t)(0x40 + 3 * i));
	put8(h, 32); /* legacy_session_id */
	for (i = 0; i < 32; i++)
		put8(h, (uint8_t)(0xe0 - i));
	put16(h, 2 * ARRAY_SIZE(ja4_spec_ciphers));
	for (i = 0; i < ARRAY_SIZE(ja4_spec_ciphers); i++)
		put16(h, ja4_spec_ciphers[i]);
	put8(h, 1); /* compression methods: null */
	put8(h, 0);
	ext_len = h->n;
	put16(h, 0);
	for (i = 0; i < ARRAY_SIZE(ja4_spec_exts); i++) {
		put16(h, ja4_spec_exts[i].type);
		put16(h, ja4_spec_exts[i].len);
		putn(h, ja4_spec_exts[i].body, ja4_spec_exts[i].len);
	}
	set16(h, ext_len, h->n - ext_len - 2);
	h->d[hs_len] = 0;
	set16(h, hs_len + 1, h->n - hs_len - 3);
	set16(h, rec_len, h->n - rec_len - 2);
	*mid = ext_len + 2 + (h->n - ext_len - 2) / 2;
}

/*
 * SYN, SYN-ACK, ACK, then the client sends data in nseg segments split at
 * cut[] (each followed by a server ACK), 1 ms apart.
 */
static void tls_conn(struct cap *c, const struct buf *data, const size_t *cut, size_t nseg)
{
	uint32_t cseq = TLS_CISN + 1, sseq = TLS_SISN + 1;
	unsigned int t = 0;
	size_t i, from = 0;

	FRAME(c, T_MS(t++), tls_seg(b, 1, TH_SYN, TLS_CISN, 0, NULL, 0));
	FRAME(c, T_MS(t++), tls_seg(b, 0, TH_SYN | TH_ACK, TLS_SISN, cseq, NULL, 0));
	FRAME(c, T_MS(t++), tls_seg(b, 1, TH_ACK, cseq, sseq, NULL, 0));
	for (i = 0; i < nseg; i++) {
		size_t to = i + 1 < nseg ? cut[i] : data->n;

		FRAME(c, T_MS(t++), tls_seg(b, 1, TH_PSH | TH_ACK, cseq, sseq, data->d + from,
					    to - from));
		cseq += (uint32_t)(to - from);
		FRAME(c, T_MS(t++), tls_seg(b, 0, TH_ACK, sseq, cseq, NULL, 0));
		from = to;
	}
}

/* The spec example ClientHello in one client segment. */
static int sc_tls_ja4_spec_example(struct cap *c)
{
	struct buf h = { .n = 0 };
	size_t mid;

	ja4_spec_hello(&h, &mid);
	tls_conn(c, &h, NULL, 1);
	return 0;
}

/* The same record split in the middle of its extensions over two segments. */
static int sc_tls_ja4_two_segments(struct cap *c)
{
	struct buf h = { .n = 0 };
	size_t mid;

	ja4_spec_hello(&h, &mid);
	tls_conn(c, &h, &mid, 2);
	return 0;
}

/* Same connection carrying non-TLS bytes: no ClientHello, no JA4. */
static int sc_tls_ja4_no_hello(struct cap *c)
{
	struct buf d = { .n = 0 };

	payload(&d, 120);
	tls_conn(c, &d, NULL, 1);
	return 0;
}

/* ------------------------------------------------------- dataset mode */

/*
 * One Ethernet/IPv4/TCP segment without options between A (client, port
 * @cport) and B:80, with explicit sequence, acknowledgement and window:
 * 54 bytes plus @plen of payload, 40 bytes of IP and TCP header.
 */
static void ds_tcp(struct buf *b, int from_a, uint16_t cport, uint8_t flags, uint32_t seq,
		   uint32_t ack, uint16_t win, size_t plen)
{
	size_t ip, l4;

	if (from_a) {
		eth(b, MAC_B, MAC_A, ET_IPV4);
		ip = ip4_begin(b, IP_A, IP_B, P_TCP);
	} else {
		eth(b, MAC_A, MAC_B, ET_IPV4);
		ip = ip4_begin(b, IP_B, IP_A, P_TCP);
	}
	l4 = b->n;
	put16(b, from_a ? cport : 80);
	put16(b, from_a ? 80 : cport);
	put32(b, seq);
	put32(b, ack);
	put8(b, 5 << 4);
	put8(b, flags);
	put16(b, win);
	put16(b, 0);
	put16(b, 0);
	payload(b, plen);
	l4_end(b, ip, l4, P_TCP);
	ip4_end(b, ip);
}

/*
 * --dataset-mode's TCP ends (tests/golden/README.md, dataset_tcp_close):
 * five connections A:4000N -> B:80 one after the other, each packet
 * {time µs, from A, flags, seq, ack, window, payload}.
 */
static int sc_dataset_tcp_close(struct cap *c)
{
	static const struct {
		uint32_t t_us;
		uint16_t cport;
		int from_a;
		uint8_t flags;
		uint32_t seq, ack;
		uint16_t win, plen;
	} p[] = {
		/* 1: handshake, data both ways, half-close with data after it */
		{ 0, 40001, 1, TH_SYN, 1000, 0, 29200, 0 },
		{ 1200, 40001, 0, TH_SYN | TH_ACK, 5000, 1001, 65160, 0 },
		{ 2500, 40001, 1, TH_ACK, 1001, 5001, 229, 0 },
		{ 3000, 40001, 1, TH_PSH | TH_ACK, 1001, 5001, 229, 100 },
		{ 4800, 40001, 0, TH_ACK, 5001, 1101, 501, 0 },
		{ 5100, 40001, 0, TH_PSH | TH_ACK, 5001, 1101, 501, 300 },
		{ 6000, 40001, 1, TH_FIN | TH_ACK, 1101, 5301, 229, 0 },
		{ 7000, 40001, 0, TH_ACK, 5301, 1102, 501, 0 },
		{ 8000, 40001, 0, TH_PSH | TH_ACK, 5301, 1102, 501, 200 },
		{ 9000, 40001, 1, TH_ACK, 1102, 5501, 229, 0 },
		{ 10000, 40001, 0, TH_FIN | TH_ACK, 5501, 1102, 501, 0 },
		{ 11000, 40001, 1, TH_ACK, 1102, 5502, 229, 0 },
		/* the same 5-tuple reused: refused with a RST, then tried again */
		{ 20000, 40001, 1, TH_SYN, 9000, 0, 1111, 0 },
		{ 21000, 40001, 0, TH_RST | TH_ACK, 0, 9001, 0, 0 },
		{ 30000, 40001, 1, TH_SYN, 12000, 0, 2222, 0 },
		/* 2: simultaneous close, the FINs cross */
		{ 100000, 40002, 1, TH_SYN, 2000, 0, 3333, 0 },
		{ 100500, 40002, 0, TH_SYN | TH_ACK, 7000, 2001, 4444, 0 },
		{ 101000, 40002, 1, TH_ACK, 2001, 7001, 512, 0 },
		{ 102000, 40002, 1, TH_FIN | TH_ACK, 2001, 7001, 512, 0 },
		{ 102100, 40002, 0, TH_FIN | TH_ACK, 7001, 2001, 512, 0 },
		{ 103000, 40002, 1, TH_ACK, 2002, 7002, 512, 0 },
		{ 103100, 40002, 0, TH_ACK, 7002, 2002, 512, 0 },
		/* 3: A's FIN retransmitted, answered by a FIN+ACK */
		{ 200000, 40003, 1, TH_SYN, 3000, 0, 5555, 0 },
		{ 200400, 40003, 0, TH_SYN | TH_ACK, 8000, 3001, 6666, 0 },
		{ 200800, 40003, 1, TH_ACK, 3001, 8001, 512, 0 },
		{ 201000, 40003, 1, TH_FIN | TH_ACK, 3001, 8001, 512, 0 },
		{ 401000, 40003, 1, TH_FIN | TH_ACK, 3001, 8001, 512, 0 },
		{ 401500, 40003, 0, TH_FIN | TH_ACK, 8001, 3002, 512, 0 },
		{ 402000, 40003, 1, TH_ACK, 3002, 8002, 512, 0 },
		/* 4: data, then FIN and RST in one segment */
		{ 500000, 40004, 1, TH_SYN, 4000, 0, 7777, 0 },
		{ 500300, 40004, 0, TH_SYN | TH_ACK, 9000, 4001, 8888, 0 },
		{ 500600, 40004, 1, TH_ACK, 4001, 9001, 512, 0 },
		{ 501000, 40004, 1, TH_PSH | TH_ACK, 4001, 9001, 512, 50 },
		{ 502000, 40004, 0, TH_FIN | TH_RST | TH_ACK, 9001, 4051, 512, 0 },
		/* 5: the last ACK is lost, B repeats its FIN, then A reuses the
		 * 5-tuple with a new SYN */
		{ 600000, 40005, 1, TH_SYN, 5000, 0, 9999, 0 },
		{ 600200, 40005, 0, TH_SYN | TH_ACK, 10000, 5001, 10000, 0 },
		{ 600400, 40005, 1, TH_ACK, 5001, 10001, 512, 0 },
		{ 601000, 40005, 1, TH_FIN | TH_ACK, 5001, 10001, 512, 0 },
		{ 601300, 40005, 0, TH_FIN | TH_ACK, 10001, 5002, 512, 0 },
		{ 1601300, 40005, 0, TH_FIN | TH_ACK, 10001, 5002, 512, 0 },
		{ 2000000, 40005, 1, TH_SYN, 20000, 0, 11111, 0 },
		{ 2000300, 40005, 0, TH_SYN | TH_ACK, 30000, 20001, 12121, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(p); i++)
		FRAME(c, T_US(p[i].t_us), ds_tcp(b, p[i].from_a, p[i].cport, p[i].flags, p[i].seq,
						  p[i].ack, p[i].win, p[i].plen));
	return 0;
}

/*
 * --dataset-mode's timing features (tests/golden/README.md,
 * dataset_features): one UDP flow A:5000 <-> B:6000, {time µs, from A,
 * payload bytes}; two times go backwards (clamped on both clocks).
 */
static int sc_dataset_features(struct cap *c)
{
	static const struct {
		uint32_t t_us;
		int from_a;
		uint16_t plen;
	} p[] = {
		{ 0, 1, 100 },       { 300, 1, 100 },     { 700, 1, 100 },     { 1000, 1, 200 },
		{ 1500, 1, 0 },      { 1600, 1, 50 },     { 2000, 0, 10 },     { 2500, 1, 60 },
		{ 3500, 1, 60 },     { 1503500, 1, 60 },  { 1503600, 1, 60 },  { 1503700, 1, 60 },
		{ 2503700, 1, 60 },  { 6503800, 0, 20 },  { 6503900, 0, 20 },  { 6503850, 0, 20 },
		{ 6503920, 0, 20 },  { 6503950, 1, 30 },  { 6502990, 0, 20 },  { 9503950, 1, 30 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(p); i++)
		FRAME(c, T_US(p[i].t_us),
		      eth_udp4(b, p[i].from_a ? MAC_A : MAC_B, p[i].from_a ? MAC_B : MAC_A,
			       p[i].from_a ? IP_A : IP_B, p[i].from_a ? IP_B : IP_A,
			       p[i].from_a ? 5000 : 6000, p[i].from_a ? 6000 : 5000, p[i].plen));
	return 0;
}

enum sc_kind {
	SK_CAPTURE,	/* open a capture file with fmt/linktype and call fn */
	SK_RAW,		/* write the raw bytes in data */
	SK_DIRECTORY,	/* create a directory at OUT_FILE */
	SK_NONEXISTENT, /* make sure nothing exists at OUT_FILE */
};

struct scenario {
	const char *name;
	int (*fn)(struct cap *c);
	enum cap_fmt fmt;
	uint32_t linktype;
	enum sc_kind kind;
	const char *data;
	size_t data_len;
};

#define SC(n, f, lt) { .name = n, .fn = f, .fmt = FMT_PCAP_US, .linktype = lt }
#define SCF(n, f, lt, fm) { .name = n, .fn = f, .fmt = fm, .linktype = lt }

static const struct scenario scenarios[] = {
	SC("eth_tcp_handshake", sc_eth_tcp_handshake, LT_EN10MB),
	SC("eth_tcp_handshake_stats", sc_eth_tcp_handshake, LT_EN10MB),
	SC("ipv6_tcp", sc_ipv6_tcp, LT_EN10MB),
	SC("eth_udp", sc_eth_udp, LT_EN10MB),
	SC("eth_icmp", sc_eth_icmp, LT_EN10MB),
	SC("eth_vlan", sc_eth_vlan, LT_EN10MB),
	SC("eth_mpls", sc_eth_mpls, LT_EN10MB),
	SC("eth_pppoe", sc_eth_pppoe, LT_EN10MB),
	SC("eth_llc_snap", sc_eth_llc_snap, LT_EN10MB),
	SC("llc_snap_frag_quirk", sc_llc_snap_frag_quirk, LT_EN10MB),
	SC("eth_non_ip_ignored", sc_eth_non_ip_ignored, LT_EN10MB),
	SC("raw_min_caplen", sc_raw_min_caplen, LT_RAW),
	SC("tunnels_ip_in_ip", sc_tunnels_ip_in_ip, LT_EN10MB),
	SC("ipv4_fragments", sc_ipv4_fragments, LT_EN10MB),
	SC("ipv4_options", sc_ipv4_options, LT_EN10MB),
	SC("ipv6_ext_headers", sc_ipv6_ext_headers, LT_EN10MB),
	SC("gtp_u", sc_gtp_u_capture, LT_EN10MB),
	SC("gtp_u_nodecode", sc_gtp_u_capture, LT_EN10MB),
	SC("capwap", sc_capwap, LT_EN10MB),
	SC("capwap_addr3", sc_capwap_addr3, LT_EN10MB),
	SC("tzsp", sc_tzsp, LT_EN10MB),
	SC("linktype_null", sc_linktype_null, LT_NULL),
	SC("linktype_ppp", sc_linktype_ppp, LT_PPP),
	SC("linktype_c_hdlc", sc_linktype_c_hdlc, LT_C_HDLC),
	SC("linktype_ppp_serial", sc_linktype_ppp_serial, LT_PPP_SERIAL),
	SC("linktype_raw", sc_linktype_raw, LT_RAW),
	SC("linktype_linux_sll", sc_linktype_sll, LT_LINUX_SLL),
	SC("linktype_linux_sll2", sc_linktype_sll2, LT_LINUX_SLL2),
	SC("linktype_ipv4", sc_linktype_ipv4, LT_IPV4),
	SC("linktype_ipv6", sc_linktype_ipv6, LT_IPV6),
	SC("linktype_radiotap", sc_linktype_radiotap, LT_IEEE802_11_RADIO),
	SC("radiotap_addr3", sc_radiotap_addr3, LT_IEEE802_11_RADIO),
	SCF("pcap_nsec", sc_format_common, LT_EN10MB, FMT_PCAP_NS),
	SCF("pcap_big_endian", sc_format_common, LT_EN10MB, FMT_PCAP_US_BE),
	SCF("pcapng_basic", sc_pcapng_nrb, LT_EN10MB, FMT_PCAPNG_US),
	SCF("pcapng_nsec", sc_format_common, LT_EN10MB, FMT_PCAPNG_NS),
	SC("acct_mode0_raw_wrap", sc_acct_capture, LT_EN10MB),
	SC("acct_mode1_ip", sc_acct_capture, LT_EN10MB),
	SC("acct_mode2_transport", sc_acct_capture, LT_EN10MB),
	SC("acct_mode3_payload", sc_acct_capture, LT_EN10MB),
	SC("idle_expiry_hol", sc_idle_expiry_hol, LT_EN10MB),
	SC("active_expiry", sc_active_expiry, LT_EN10MB),
	SC("ts_backwards", sc_ts_backwards, LT_EN10MB),
	SC("multi_file", sc_multi_file, LT_EN10MB),
	SC("multi_file.part2", sc_multi_file_part2, LT_EN10MB),
	SC("max_nflows", sc_max_nflows, LT_EN10MB),
	SC("bpf_tcp_port_80", sc_bpf_tcp_port_80, LT_EN10MB),
	SC("bad_truncated_record", sc_bad_truncated_record, LT_EN10MB),
	SC("bad_linktype", sc_bad_linktype, LT_USER0),
	SC("header_only_no_packets", sc_empty, LT_EN10MB),
	SC("tls_ja4_spec_example", sc_tls_ja4_spec_example, LT_EN10MB),
	SC("tls_ja4_two_segments", sc_tls_ja4_two_segments, LT_EN10MB),
	SC("tls_ja4_no_hello", sc_tls_ja4_no_hello, LT_EN10MB),
	SC("dataset_tcp_close", sc_dataset_tcp_close, LT_EN10MB),
	SC("dataset_tcp_close_nfstream", sc_dataset_tcp_close, LT_EN10MB),
	SC("dataset_features", sc_dataset_features, LT_EN10MB),
	SCF("dataset_pcap_nsec", sc_format_common, LT_EN10MB, FMT_PCAP_NS),
	SCF("dataset_pcapng_nsec", sc_format_common, LT_EN10MB, FMT_PCAPNG_NS),
	{ .name = "bad_magic", .kind = SK_RAW,
	  .data = "NOTAPCAP\x02\x00\x04\x00\0\0\0\0\0\0\0\0\xff\xff\0\0\x01\0\0\0",
	  .data_len = 24 },
	{ .name = "bad_empty", .kind = SK_RAW, .data = "", .data_len = 0 },
	{ .name = "bad_directory", .kind = SK_DIRECTORY },
	{ .name = "bad_nonexistent", .kind = SK_NONEXISTENT },
};

static int run(const struct scenario *sc, const char *out)
{
	struct cap c;
	FILE *f;
	int err;

	switch (sc->kind) {
	case SK_RAW:
		f = fopen(out, "wb");
		if (!f || fwrite(sc->data, 1, sc->data_len, f) != sc->data_len) {
			fprintf(stderr, "mkpcap: cannot write '%s': %s\n", out, strerror(errno));
			if (f)
				fclose(f);
			return -EIO;
		}
		return fclose(f) ? -EIO : 0;
	case SK_DIRECTORY:
		if (mkdir(out, 0755) && errno != EEXIST) {
			fprintf(stderr, "mkpcap: cannot mkdir '%s': %s\n", out, strerror(errno));
			return -errno;
		}
		return 0;
	case SK_NONEXISTENT:
		if (unlink(out) && errno != ENOENT) {
			fprintf(stderr, "mkpcap: cannot remove '%s': %s\n", out, strerror(errno));
			return -errno;
		}
		return 0;
	case SK_CAPTURE:
		break;
	}
	ip4_ident = 0x1000;
	err = cap_open(&c, out, sc->fmt, sc->linktype);
	if (err)
		return err;
	err = sc->fn(&c);
	if (cap_close(&c) && !err)
		err = -EIO;
	if (err)
		fprintf(stderr, "mkpcap: writing '%s' failed\n", out);
	return err;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (i = 0; i < ARRAY_SIZE(scenarios); i++)
			printf("%s\n", scenarios[i].name);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: mkpcap SCENARIO OUT_FILE | mkpcap --list\n");
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(scenarios); i++)
		if (!strcmp(argv[1], scenarios[i].name))
			return run(&scenarios[i], argv[2]) ? 1 : 0;
	fprintf(stderr, "mkpcap: unknown scenario '%s' (see --list)\n", argv[1]);
	return 2;
}
