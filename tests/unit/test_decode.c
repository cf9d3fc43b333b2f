// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for agent/decode.c: frames built byte by byte with a small
 * builder and run through decode_frame(), one case per decision of spec
 * §1.2 (link types, L2 shims, IPv4/IPv6, extension headers, fragments,
 * IPIP/6in4, GTP-U/TZSP/CAPWAP, size fields), then a robustness loop
 * (every truncation and fixed-seed single-byte corruptions of valid
 * frames, each decoded from an exact-size heap copy so ASan sees any read
 * past the capture).
 */
#include <stdint.h>
#include <stdlib.h>

#include "packet/decode.h"
#include "test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------- builder ---------------------------- */

struct fb {
	uint8_t d[2048];
	uint32_t n;
};

static void put(struct fb *b, const void *p, size_t n)
{
	if (b->n + n > sizeof(b->d))
		abort();
	memcpy(b->d + b->n, p, n);
	b->n += (uint32_t)n;
}

static void p8(struct fb *b, uint8_t v)
{
	put(b, &v, 1);
}

static void p16(struct fb *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(b, x, 2);
}

static void p32(struct fb *b, uint32_t v)
{
	p16(b, (uint16_t)(v >> 16));
	p16(b, (uint16_t)v);
}

static void set16(struct fb *b, uint32_t off, uint16_t v)
{
	b->d[off] = (uint8_t)(v >> 8);
	b->d[off + 1] = (uint8_t)v;
}

static void zeros(struct fb *b, size_t n)
{
	while (n--)
		p8(b, 0);
}

/* Recognisable payload bytes (never 0x16, never a valid IP nibble issue). */
static void data(struct fb *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p8(b, (uint8_t)(0x61 + i % 26));
}

static const uint8_t MAC_A[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t MAC_B[6] = { 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb };
static const uint8_t MAC_C[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0c };
static const uint8_t MAC_D[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0d };
static const uint8_t MAC_E[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0e };

static const uint8_t IP_A[4] = { 10, 0, 0, 1 };
static const uint8_t IP_B[4] = { 192, 168, 1, 2 };
static const uint8_t IP_C[4] = { 172, 16, 0, 1 };
static const uint8_t IP_D[4] = { 8, 8, 8, 8 };
static const uint8_t IP6_A[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01 };
static const uint8_t IP6_B[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xef };

/* Ethernet: dst=MAC_B, src=MAC_A unless given. */
static void eth_macs(struct fb *b, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	put(b, dst, 6);
	put(b, src, 6);
	p16(b, type);
}

static void eth(struct fb *b, uint16_t type)
{
	eth_macs(b, MAC_B, MAC_A, type);
}

/* IPv4 header (IHL 5); total length set by ip4_end(). Returns its offset. */
static uint32_t ip4(struct fb *b, uint8_t proto, const uint8_t *src, const uint8_t *dst)
{
	uint32_t off = b->n;

	p8(b, 0x45);
	p8(b, 0);
	p16(b, 0);      /* total length, fixed later */
	p16(b, 0x1234); /* id */
	p16(b, 0);      /* flags + fragment offset */
	p8(b, 64);
	p8(b, proto);
	p16(b, 0);
	put(b, src, 4);
	put(b, dst, 4);
	return off;
}

static void ip4_end(struct fb *b, uint32_t off)
{
	set16(b, off + 2, (uint16_t)(b->n - off));
}

static uint32_t ip6(struct fb *b, uint8_t nxt, const uint8_t *src, const uint8_t *dst)
{
	uint32_t off = b->n;

	p32(b, 0x60000000);
	p16(b, 0); /* payload length, fixed later */
	p8(b, nxt);
	p8(b, 64);
	put(b, src, 16);
	put(b, dst, 16);
	return off;
}

static void ip6_end(struct fb *b, uint32_t off)
{
	set16(b, off + 4, (uint16_t)(b->n - off - 40));
}

static void tcp_doff(struct fb *b, uint16_t sport, uint16_t dport, uint8_t flags, uint8_t doff)
{
	p16(b, sport);
	p16(b, dport);
	p32(b, 1000); /* seq */
	p32(b, 0);    /* ack */
	p8(b, (uint8_t)(doff << 4));
	p8(b, flags);
	p16(b, 65535);
	p16(b, 0);
	p16(b, 0);
}

static void tcp(struct fb *b, uint16_t sport, uint16_t dport, uint8_t flags)
{
	tcp_doff(b, sport, dport, flags, 5);
}

static uint32_t udp(struct fb *b, uint16_t sport, uint16_t dport)
{
	uint32_t off = b->n;

	p16(b, sport);
	p16(b, dport);
	p16(b, 0);
	p16(b, 0);
	return off;
}

static void udp_end(struct fb *b, uint32_t off)
{
	set16(b, off + 4, (uint16_t)(b->n - off));
}

/* A complete IPv4/TCP packet A:40000 -> B:443 with @plen payload bytes. */
static uint32_t ip4_tcp(struct fb *b, const uint8_t *src, const uint8_t *dst, uint16_t sport,
			uint16_t dport, uint8_t flags, size_t plen)
{
	uint32_t off = ip4(b, 6, src, dst);

	tcp(b, sport, dport, flags);
	data(b, plen);
	ip4_end(b, off);
	return off;
}

static uint32_t ip4_udp(struct fb *b, const uint8_t *src, const uint8_t *dst, uint16_t sport,
			uint16_t dport, size_t plen)
{
	uint32_t off = ip4(b, 17, src, dst), u;

	u = udp(b, sport, dport);
	data(b, plen);
	udp_end(b, u);
	ip4_end(b, off);
	return off;
}

static uint32_t ip6_udp(struct fb *b, const uint8_t *src, const uint8_t *dst, uint16_t sport,
			uint16_t dport, size_t plen)
{
	uint32_t off = ip6(b, 17, src, dst), u;

	u = udp(b, sport, dport);
	data(b, plen);
	udp_end(b, u);
	ip6_end(b, off);
	return off;
}

static enum decode_verdict dec(int dlt, const struct fb *b, bool tunnels, struct pkt *p)
{
	memset(p, 0xa5, sizeof(*p)); /* decode_frame must set every field it reports */
	return decode_frame(dlt, b->d, b->n, b->n, tunnels, p);
}

static bool ip4_is(const uint8_t ip[16], const uint8_t *v4)
{
	static const uint8_t zero[12];

	return !memcmp(ip, v4, 4) && !memcmp(ip + 4, zero, 12);
}

static bool mac_is(const uint8_t m[6], const uint8_t *want)
{
	return !memcmp(m, want, 6);
}

static bool mac_zero(const uint8_t m[6])
{
	static const uint8_t zero[6];

	return !memcmp(m, zero, 6);
}

/* ------------------------------ cases ------------------------------ */

static void test_eth_ipv4_tcp(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x0800);
	ip4_tcp(&b, IP_A, IP_B, 40000, 443, FC_TCP_PSH | FC_TCP_ACK, 10);
	ASSERT_EQ(b.n, 64, "frame size");
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "verdict");
	ASSERT_EQ(p.ip_version, 4, "ip_version");
	ASSERT_EQ(p.protocol, 6, "protocol");
	ASSERT_EQ(p.src_port, 40000, "src_port host order");
	ASSERT_EQ(p.dst_port, 443, "dst_port host order");
	ASSERT_EQ(p.tcp_flags, FC_TCP_PSH | FC_TCP_ACK, "flags byte");
	ASSERT_EQ(p.raw_size, 64, "raw_size");
	ASSERT_EQ(p.ip_size, 50, "ip_size = total length");
	ASSERT_EQ(p.transport_size, 30, "transport_size = L4 length");
	ASSERT_EQ(p.payload_size, 10, "payload_size");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_A), "src_mac");
	ASSERT_TRUE(mac_is(p.dst_mac, MAC_B), "dst_mac");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "src_ip");
	ASSERT_TRUE(ip4_is(p.dst_ip, IP_B), "dst_ip");
	ASSERT_EQ(p.vlan_id, 0, "vlan");
	ASSERT_EQ(p.tunnel_id, 0, "tunnel");
	ASSERT_TRUE(p.ip == b.d + 14, "ip points at the IPv4 header");
	ASSERT_EQ(p.ip_caplen, 50, "ip_caplen");
	ASSERT_TRUE(p.payload == b.d + 54, "payload pointer");
	ASSERT_EQ(p.payload_caplen, 10, "payload_caplen");

	/* every flag bit lands in tcp_flags unchanged */
	b.d[14 + 20 + 13] = 0xff;
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "all flags verdict");
	ASSERT_EQ(p.tcp_flags, 0xff, "all eight flags");

	/* snaplen-truncated IPv4 is accepted; sizes come from the headers */
	b.d[14 + 20 + 13] = FC_TCP_ACK;
	memset(&p, 0, sizeof(p));
	ASSERT_EQ(decode_frame(FC_DLT_EN10MB, b.d, 58, 64, true, &p), DECODE_OK, "truncated verdict");
	ASSERT_EQ(p.raw_size, 64, "truncated raw_size = len");
	ASSERT_EQ(p.ip_size, 50, "truncated ip_size");
	ASSERT_EQ(p.transport_size, 30, "truncated transport_size");
	ASSERT_EQ(p.payload_size, 10, "truncated payload_size");
	ASSERT_EQ(p.ip_caplen, 44, "truncated ip_caplen");
	ASSERT_EQ(p.payload_caplen, 4, "truncated payload_caplen");
	ASSERT_EQ(p.src_port, 40000, "truncated src_port");

	/* Ethernet trailer padding is part of ip_caplen (what nDPI gets) */
	b.n = 0;
	eth(&b, 0x0800);
	ip4_tcp(&b, IP_A, IP_B, 40000, 443, FC_TCP_ACK, 0);
	zeros(&b, 6);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "padded verdict");
	ASSERT_EQ(p.ip_size, 40, "padded ip_size");
	ASSERT_EQ(p.payload_size, 0, "padded payload_size");
	ASSERT_EQ(p.ip_caplen, 46, "padded ip_caplen includes the trailer");
}

static void test_eth_ipv4_udp(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x0800);
	ip4_udp(&b, IP_A, IP_B, 5353, 53, 20);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "verdict");
	ASSERT_EQ(p.protocol, 17, "protocol");
	ASSERT_EQ(p.src_port, 5353, "src_port");
	ASSERT_EQ(p.dst_port, 53, "dst_port");
	ASSERT_EQ(p.tcp_flags, 0, "no flags");
	ASSERT_EQ(p.raw_size, 62, "raw_size");
	ASSERT_EQ(p.ip_size, 48, "ip_size");
	ASSERT_EQ(p.transport_size, 28, "transport_size");
	ASSERT_EQ(p.payload_size, 20, "payload_size");
	ASSERT_TRUE(p.payload == b.d + 42, "payload pointer");
	ASSERT_EQ(p.payload_caplen, 20, "payload_caplen");
	ASSERT_EQ(p.tunnel_id, 0, "tunnel");
}

static void test_eth_ipv4_icmp(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off;

	eth(&b, 0x0800);
	off = ip4(&b, 1, IP_A, IP_B);
	p8(&b, 8); /* echo request */
	p8(&b, 0);
	p16(&b, 0);
	p16(&b, 0x4242); /* id: not a port */
	p16(&b, 7);
	data(&b, 24);
	ip4_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "verdict");
	ASSERT_EQ(p.protocol, 1, "protocol");
	ASSERT_EQ(p.src_port, 0, "src_port 0");
	ASSERT_EQ(p.dst_port, 0, "dst_port 0");
	ASSERT_EQ(p.tcp_flags, 0, "no flags");
	ASSERT_EQ(p.ip_size, 52, "ip_size");
	ASSERT_EQ(p.transport_size, 32, "transport_size = L4 length");
	ASSERT_EQ(p.payload_size, 24, "payload_size = l4 - 8");

	/* TCP shorter than its header: ports, flags and sizes all 0 */
	b.n = 0;
	eth(&b, 0x0800);
	off = ip4(&b, 6, IP_A, IP_B);
	p16(&b, 1234);
	p16(&b, 80);
	zeros(&b, 8);
	ip4_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "short tcp verdict");
	ASSERT_EQ(p.protocol, 6, "short tcp protocol");
	ASSERT_EQ(p.src_port, 0, "short tcp src_port");
	ASSERT_EQ(p.dst_port, 0, "short tcp dst_port");
	ASSERT_EQ(p.transport_size, 0, "short tcp transport_size");
	ASSERT_EQ(p.payload_size, 0, "short tcp payload_size");
}

static void test_ipv6_ext_headers(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off;

	eth(&b, 0x86dd);
	off = ip6(&b, 0, IP6_A, IP6_B);
	/* hop-by-hop: next = dest options, len 0 (8 bytes) */
	p8(&b, 60);
	p8(&b, 0);
	p8(&b, 1); /* PadN */
	p8(&b, 4);
	zeros(&b, 4);
	/* destination options: next = TCP, len 1 (16 bytes) */
	p8(&b, 6);
	p8(&b, 1);
	p8(&b, 1);
	p8(&b, 12);
	zeros(&b, 12);
	tcp(&b, 40001, 80, FC_TCP_SYN);
	data(&b, 5);
	ip6_end(&b, off);
	ASSERT_EQ(b.n, 14 + 40 + 49, "frame size");
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "verdict");
	ASSERT_EQ(p.ip_version, 6, "ip_version");
	ASSERT_EQ(p.protocol, 6, "protocol after the extension headers");
	ASSERT_TRUE(!memcmp(p.src_ip, IP6_A, 16), "src_ip");
	ASSERT_TRUE(!memcmp(p.dst_ip, IP6_B, 16), "dst_ip");
	ASSERT_EQ(p.src_port, 40001, "src_port");
	ASSERT_EQ(p.dst_port, 80, "dst_port");
	ASSERT_EQ(p.tcp_flags, FC_TCP_SYN, "flags");
	ASSERT_EQ(p.raw_size, 103, "raw_size");
	ASSERT_EQ(p.ip_size, 49, "ip_size = payload length (quirk)");
	ASSERT_EQ(p.transport_size, 25, "transport_size = plen - ext headers");
	ASSERT_EQ(p.payload_size, 5, "payload_size");
	ASSERT_TRUE(p.ip == b.d + 14, "ip points at the IPv6 header");
	ASSERT_EQ(p.ip_caplen, 89, "ip_caplen");
	ASSERT_TRUE(p.payload == b.d + 14 + 40 + 24 + 20, "payload pointer");
	ASSERT_EQ(p.payload_caplen, 5, "payload_caplen");
}

static void test_ipv6_fragments(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off, u;

	/* non-first fragment: ignored */
	eth(&b, 0x86dd);
	off = ip6(&b, 44, IP6_A, IP6_B);
	p8(&b, 17);
	p8(&b, 0);
	p16(&b, (uint16_t)(100 << 3 | 1));
	p32(&b, 0xdeadbeef);
	data(&b, 16);
	ip6_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_IPV6_EXT, "non-first fragment");

	/* first fragment (offset 0, M=1): kept, protocol from the fragment header */
	b.n = 0;
	eth(&b, 0x86dd);
	off = ip6(&b, 44, IP6_A, IP6_B);
	p8(&b, 17);
	p8(&b, 0);
	p16(&b, 1);
	p32(&b, 0xdeadbeef);
	u = udp(&b, 1000, 2000);
	data(&b, 12);
	udp_end(&b, u);
	ip6_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, false, &p), DECODE_OK, "first fragment");
	ASSERT_EQ(p.protocol, 17, "first fragment protocol");
	ASSERT_EQ(p.src_port, 1000, "first fragment src_port");
	ASSERT_EQ(p.ip_size, 28, "first fragment ip_size");
	ASSERT_EQ(p.transport_size, 20, "first fragment transport_size");
	ASSERT_EQ(p.payload_size, 12, "first fragment payload_size");
}

static void test_ipv6_no_next_header(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off;

	eth(&b, 0x86dd);
	off = ip6(&b, 59, IP6_A, IP6_B);
	data(&b, 8);
	ip6_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_IPV6_EXT, "next header 59");

	/* behind a hop-by-hop header too */
	b.n = 0;
	eth(&b, 0x86dd);
	off = ip6(&b, 0, IP6_A, IP6_B);
	p8(&b, 59);
	p8(&b, 0);
	zeros(&b, 6);
	data(&b, 8);
	ip6_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_IPV6_EXT, "hbh then 59");

	/* extension header longer than the payload length: malformed */
	b.n = 0;
	eth(&b, 0x86dd);
	off = ip6(&b, 0, IP6_A, IP6_B);
	p8(&b, 17);
	p8(&b, 4); /* 40 bytes claimed */
	zeros(&b, 6);
	ip6_end(&b, off);
	data(&b, 40); /* captured trailer, beyond the payload length */
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_IPV6_EXT, "ext header beyond plen");
}

static void test_ipv6_truncated(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x86dd);
	ip6_udp(&b, IP6_A, IP6_B, 1000, 2000, 100);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, false, &p), DECODE_OK, "full capture");
	memset(&p, 0, sizeof(p));
	ASSERT_EQ(decode_frame(FC_DLT_EN10MB, b.d, b.n - 1, b.n, false, &p), DECODE_IP_TRUNC,
		  "caplen < 40 + plen: ignored");
	ASSERT_EQ(decode_frame(FC_DLT_EN10MB, b.d, 14 + 40 + 50, b.n, true, &p), DECODE_IP_TRUNC,
		  "snaplen-truncated IPv6 dropped entirely");
}

static void test_ipv4_fragments(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off;

	eth(&b, 0x0800);
	off = ip4_udp(&b, IP_A, IP_B, 1000, 2000, 30);
	set16(&b, off + 6, 185); /* offset 185 * 8 */
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_FRAGMENT, "non-first fragment");
	set16(&b, off + 6, 0x2000 | 185); /* MF + offset */
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_FRAGMENT, "middle fragment");
	set16(&b, off + 6, 0x2000); /* MF, offset 0: first fragment */
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "first fragment");
	ASSERT_EQ(p.src_port, 1000, "first fragment src_port");
	ASSERT_EQ(p.dst_port, 2000, "first fragment dst_port");
	ASSERT_EQ(p.payload_size, 30, "first fragment payload_size");
	set16(&b, off + 6, 0x4000); /* DF */
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "DF set");
}

/*
 * Spec §1.2: "the offset is only read when the L2 type was exactly 0x0800".
 * LLC/SNAP leaves the type unswapped (0x0008) and DLT_NULL with a
 * little-endian AF_INET family sets the IPv6 type, so a non-first IPv4
 * fragment is kept there; RAW (type from the version nibble, as in
 * NFStream 6.5.4's lib_engine.c), IPV4 and big-endian NULL drop it.
 */
static void test_ipv4_fragment_type_quirk(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off;

	/* LLC/SNAP: type 0x0008 as NFStream reads it -> fragment kept */
	eth(&b, 8 + 48);
	p8(&b, 0xaa);
	p8(&b, 0xaa);
	p8(&b, 0x03);
	zeros(&b, 3);
	p16(&b, 0x0800);
	off = ip4_udp(&b, IP_A, IP_B, 1000, 2000, 20);
	set16(&b, off + 6, 185);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "SNAP fragment kept (quirk)");
	ASSERT_EQ(p.src_port, 1000, "SNAP fragment: ports read from its payload");

	/* DLT_NULL: only a big-endian family 2 gives the IPv4 type */
	b.n = 0;
	p8(&b, 2);
	zeros(&b, 3);
	off = ip4_udp(&b, IP_A, IP_B, 1000, 2000, 20);
	set16(&b, off + 6, 185);
	ASSERT_EQ(dec(FC_DLT_NULL, &b, true, &p), DECODE_OK, "NULL LE family: fragment kept");
	b.d[0] = 0;
	b.d[3] = 2;
	ASSERT_EQ(dec(FC_DLT_NULL, &b, true, &p), DECODE_FRAGMENT, "NULL BE family: dropped");

	/* RAW and IPV4 set the IPv4 type: fragment dropped */
	b.n = 0;
	off = ip4_udp(&b, IP_A, IP_B, 1000, 2000, 20);
	set16(&b, off + 6, 185);
	ASSERT_EQ(dec(FC_DLT_RAW, &b, true, &p), DECODE_FRAGMENT, "RAW(12) fragment dropped");
	ASSERT_EQ(dec(FC_DLT_RAW_LINKTYPE, &b, true, &p), DECODE_FRAGMENT,
		  "RAW(101) fragment dropped");
	ASSERT_EQ(dec(FC_DLT_IPV4, &b, true, &p), DECODE_FRAGMENT, "IPV4(228) fragment dropped");
}

static void test_ipip_6in4(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t outer, inner, u;

	for (int tun = 0; tun <= 1; tun++) {
		b.n = 0;
		eth(&b, 0x0800);
		outer = ip4(&b, 4, IP_C, IP_D);
		inner = ip4_tcp(&b, IP_A, IP_B, 1111, 22, FC_TCP_SYN, 0);
		ip4_end(&b, outer);
		ASSERT_EQ(dec(FC_DLT_EN10MB, &b, tun, &p), DECODE_OK, "ipip verdict");
		ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "ipip inner src");
		ASSERT_TRUE(ip4_is(p.dst_ip, IP_B), "ipip inner dst");
		ASSERT_EQ(p.protocol, 6, "ipip inner protocol");
		ASSERT_EQ(p.src_port, 1111, "ipip inner sport");
		ASSERT_EQ(p.tunnel_id, 0, "ipip tunnel_id 0");
		ASSERT_EQ(p.ip_size, 40, "ipip ip_size inner");
		ASSERT_EQ(p.raw_size, b.n, "ipip raw_size outer frame");
		ASSERT_TRUE(p.ip == b.d + inner, "ipip ip = inner header");

		b.n = 0;
		eth(&b, 0x0800);
		outer = ip4(&b, 41, IP_C, IP_D);
		inner = ip6(&b, 17, IP6_A, IP6_B);
		u = udp(&b, 1234, 5678);
		data(&b, 4);
		udp_end(&b, u);
		ip6_end(&b, inner);
		ip4_end(&b, outer);
		ASSERT_EQ(dec(FC_DLT_EN10MB, &b, tun, &p), DECODE_OK, "6in4 verdict");
		ASSERT_EQ(p.ip_version, 6, "6in4 ip_version");
		ASSERT_TRUE(!memcmp(p.src_ip, IP6_A, 16), "6in4 inner src");
		ASSERT_TRUE(!memcmp(p.dst_ip, IP6_B, 16), "6in4 inner dst");
		ASSERT_EQ(p.protocol, 17, "6in4 protocol");
		ASSERT_EQ(p.src_port, 1234, "6in4 sport");
		ASSERT_EQ(p.dst_port, 5678, "6in4 dport");
		ASSERT_EQ(p.tunnel_id, 0, "6in4 tunnel_id 0");
		ASSERT_EQ(p.ip_size, 12, "6in4 ip_size = inner plen");
		ASSERT_EQ(p.transport_size, 12, "6in4 transport_size");
		ASSERT_EQ(p.payload_size, 4, "6in4 payload_size");
		ASSERT_TRUE(p.ip == b.d + inner, "6in4 ip = inner header");
	}
}

static void test_vlan(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x8100);
	p16(&b, 0x2000 | 100); /* PCP 1, VID 100 */
	p16(&b, 0x8100);
	p16(&b, 0xf000 | 200); /* PCP 7 + DEI, VID 200 */
	p16(&b, 0x0800);
	ip4_udp(&b, IP_A, IP_B, 1000, 2000, 10);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "QinQ verdict");
	ASSERT_EQ(p.vlan_id, 200, "innermost VID wins");
	ASSERT_EQ(p.raw_size, b.n, "raw_size includes tags");
	ASSERT_TRUE(p.ip == b.d + 22, "ip after two tags");
	ASSERT_EQ(p.src_port, 1000, "sport");

	b.n = 0;
	eth(&b, 0x8100);
	p16(&b, 0xe000 | 0x0abc);
	p16(&b, 0x0800);
	ip4_udp(&b, IP_A, IP_B, 1000, 2000, 10);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "single tag verdict");
	ASSERT_EQ(p.vlan_id, 0xabc, "12-bit VID");

	/* 802.1ad S-tag is not recognised: the tag is read as the "IP" header */
	b.n = 0;
	eth(&b, 0x88a8);
	p16(&b, 100);
	p16(&b, 0x0800);
	ip4_udp(&b, IP_A, IP_B, 1000, 2000, 10);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_NOT_IP, "0x88a8 not recognised");
}

static void test_mpls_pppoe(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x8847);
	p32(&b, 16u << 12 | 0 << 8 | 64);      /* label 16, S=0 */
	p32(&b, 17u << 12 | 1u << 8 | 64);     /* label 17, S=1 */
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_ACK, 3);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "mpls verdict");
	ASSERT_TRUE(p.ip == b.d + 22, "ip after two labels");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "mpls src");
	ASSERT_EQ(p.dst_port, 80, "mpls dport");
	ASSERT_EQ(p.vlan_id, 0, "mpls vlan");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_A), "mpls src_mac");

	b.n = 0;
	eth(&b, 0x8864);
	p8(&b, 0x11);
	p8(&b, 0x00);
	p16(&b, 0x0001); /* session */
	p16(&b, 2 + 20 + 8 + 10);
	p16(&b, 0x0021); /* PPP: IPv4 */
	ip4_udp(&b, IP_A, IP_B, 1000, 2000, 10);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "pppoe verdict");
	ASSERT_TRUE(p.ip == b.d + 22, "ip after pppoe");
	ASSERT_EQ(p.protocol, 17, "pppoe protocol");
	ASSERT_EQ(p.dst_port, 2000, "pppoe dport");
}

static void test_llc(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 8 + 43);
	p8(&b, 0xaa);
	p8(&b, 0xaa);
	p8(&b, 0x03);
	zeros(&b, 3);
	p16(&b, 0x0800);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 3);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "snap verdict");
	ASSERT_TRUE(p.ip == b.d + 22, "ip after LLC/SNAP");
	ASSERT_TRUE(mac_is(p.dst_mac, MAC_B), "snap dst_mac");
	ASSERT_EQ(p.src_port, 1000, "snap sport");

	/* STP BPDU (DSAP 0x42) */
	b.n = 0;
	eth(&b, 38);
	p8(&b, 0x42);
	p8(&b, 0x42);
	p8(&b, 0x03);
	zeros(&b, 35);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_L2, "STP ignored");

	/* ARP: nibble 0 */
	b.n = 0;
	eth_macs(&b, (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, MAC_A, 0x0806);
	p16(&b, 1);
	p16(&b, 0x0800);
	p8(&b, 6);
	p8(&b, 4);
	p16(&b, 1);
	put(&b, MAC_A, 6);
	put(&b, IP_A, 4);
	zeros(&b, 6);
	put(&b, IP_B, 4);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_NOT_IP, "ARP ignored");
}

static void test_too_short(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x0800);
	ip4_udp(&b, IP_A, IP_B, 1, 2, 0);
	ASSERT_EQ(decode_frame(FC_DLT_EN10MB, b.d, 27, b.n, true, &p), DECODE_TOO_SHORT, "27 bytes");
	ASSERT_EQ(decode_frame(FC_DLT_EN10MB, b.d, 0, b.n, true, &p), DECODE_TOO_SHORT, "0 bytes");
	ASSERT_TRUE(decode_frame(FC_DLT_EN10MB, b.d, 28, b.n, true, &p) != DECODE_TOO_SHORT,
		    "28 bytes pass the minimum");
	ASSERT_EQ(decode_frame(FC_DLT_RAW, b.d + 14, 27, 27, true, &p), DECODE_TOO_SHORT,
		  "27 bytes raw");
	ASSERT_EQ(decode_frame(FC_DLT_RAW, b.d + 14, 28, 28, true, &p), DECODE_OK,
		  "28 bytes raw IPv4/UDP");
}

/* GTP-U: outer eth/IPv4/UDP 2152, inner IPv4/TCP. */
static uint32_t build_gtp(struct fb *b, uint8_t flags, uint8_t msg_type, bool ext)
{
	uint32_t outer, u, inner;

	b->n = 0;
	eth(b, 0x0800);
	outer = ip4(b, 17, IP_C, IP_D);
	u = udp(b, 2152, 2152);
	p8(b, flags);
	p8(b, msg_type);
	p16(b, 0); /* length (not checked) */
	p32(b, 0x01020304);
	if (flags & 0x07) {
		p16(b, 0);
		p8(b, 0);
		p8(b, ext ? 0x85 : 0);
	}
	if (ext) {
		p8(b, 1); /* 4 bytes */
		p8(b, 0xaa);
		p8(b, 0xbb);
		p8(b, 0); /* no further extension */
	}
	inner = ip4_tcp(b, IP_A, IP_B, 50000, 443, FC_TCP_SYN, 0);
	udp_end(b, u);
	ip4_end(b, outer);
	return inner;
}

static void test_gtp(void)
{
	struct fb b;
	struct pkt p;
	uint32_t inner;

	inner = build_gtp(&b, 0x30, 0xff, false);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "gtp verdict");
	ASSERT_EQ(p.tunnel_id, FC_TUNNEL_GTP, "tunnel_id 1");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "inner src");
	ASSERT_TRUE(ip4_is(p.dst_ip, IP_B), "inner dst");
	ASSERT_EQ(p.protocol, 6, "inner protocol");
	ASSERT_EQ(p.src_port, 50000, "inner sport");
	ASSERT_EQ(p.dst_port, 443, "inner dport");
	ASSERT_EQ(p.tcp_flags, FC_TCP_SYN, "inner flags");
	ASSERT_EQ(p.ip_size, 40, "inner ip_size");
	ASSERT_EQ(p.raw_size, b.n, "raw_size of the outer frame");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_A), "outer src_mac kept");
	ASSERT_TRUE(mac_is(p.dst_mac, MAC_B), "outer dst_mac kept");
	ASSERT_TRUE(p.ip == b.d + inner, "ip = inner header");
	ASSERT_EQ(inner, 50, "inner offset");

	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, false, &p), DECODE_OK, "gtp no-decode verdict");
	ASSERT_EQ(p.tunnel_id, 0, "no-decode tunnel_id");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_C), "outer src");
	ASSERT_TRUE(ip4_is(p.dst_ip, IP_D), "outer dst");
	ASSERT_EQ(p.protocol, 17, "outer protocol");
	ASSERT_EQ(p.src_port, 2152, "outer sport");
	ASSERT_EQ(p.dst_port, 2152, "outer dport");
	ASSERT_EQ(p.transport_size, 56, "outer transport_size");
	ASSERT_EQ(p.payload_size, 48, "outer payload_size");
	ASSERT_TRUE(p.ip == b.d + 14, "ip = outer header");

	/* S/PN/E flags: 4 more bytes, then the extension header chain */
	inner = build_gtp(&b, 0x34, 0xff, true);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "gtp ext verdict");
	ASSERT_EQ(p.tunnel_id, FC_TUNNEL_GTP, "gtp ext tunnel_id");
	ASSERT_TRUE(p.ip == b.d + inner, "gtp ext inner header");
	ASSERT_EQ(inner, 58, "gtp ext inner offset");
	ASSERT_EQ(p.dst_port, 443, "gtp ext inner dport");

	/* not a T-PDU (echo request): stays a plain UDP flow */
	build_gtp(&b, 0x32, 0x01, false);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "gtp echo verdict");
	ASSERT_EQ(p.tunnel_id, 0, "gtp echo tunnel_id");
	ASSERT_EQ(p.src_port, 2152, "gtp echo outer sport");
}

static void test_tzsp(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t outer, u, inner;

	eth(&b, 0x0800);
	outer = ip4(&b, 17, IP_C, IP_D);
	u = udp(&b, 40000, 37008);
	p8(&b, 1); /* version */
	p8(&b, 0); /* type: received */
	p16(&b, 1); /* encapsulates Ethernet */
	p8(&b, 1); /* END tag */
	eth_macs(&b, MAC_D, MAC_C, 0x0800);
	inner = ip4_tcp(&b, IP_A, IP_B, 1234, 80, FC_TCP_ACK, 7);
	udp_end(&b, u);
	ip4_end(&b, outer);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "tzsp verdict");
	ASSERT_EQ(p.tunnel_id, FC_TUNNEL_TZSP, "tunnel_id 3");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_C), "inner src_mac");
	ASSERT_TRUE(mac_is(p.dst_mac, MAC_D), "inner dst_mac");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "inner src");
	ASSERT_TRUE(ip4_is(p.dst_ip, IP_B), "inner dst");
	ASSERT_EQ(p.protocol, 6, "inner protocol");
	ASSERT_EQ(p.dst_port, 80, "inner dport");
	ASSERT_EQ(p.payload_size, 7, "inner payload_size");
	ASSERT_EQ(p.raw_size, b.n, "raw_size of the outer frame");
	ASSERT_TRUE(p.ip == b.d + inner, "ip = inner header");

	/* not encapsulating Ethernet: outer flow, but tunnel_id already 3 */
	b.d[42 + 3] = 2;
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "tzsp other encap verdict");
	ASSERT_EQ(p.tunnel_id, FC_TUNNEL_TZSP, "tunnel_id set before validation");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_C), "outer src kept");
	ASSERT_EQ(p.dst_port, 37008, "outer dport kept");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_A), "outer src_mac kept");
}

static void test_capwap(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t outer, u, inner;

	eth(&b, 0x0800);
	outer = ip4(&b, 17, IP_C, IP_D);
	u = udp(&b, 12345, 5247);
	/* CAPWAP: preamble 0, HLEN 2 (8 bytes) */
	p8(&b, 0x00);
	p8(&b, 2 << 3);
	zeros(&b, 6);
	/* 802.11 data, ToDS: addr1 = BSSID, addr2 = SA, addr3 = DA */
	p8(&b, 0x08);
	p8(&b, 0x01);
	p16(&b, 0);
	put(&b, MAC_C, 6);
	put(&b, MAC_D, 6);
	put(&b, MAC_E, 6);
	p16(&b, 0);
	/* LLC/SNAP IPv4 */
	p8(&b, 0xaa);
	p8(&b, 0xaa);
	p8(&b, 0x03);
	zeros(&b, 3);
	p16(&b, 0x0800);
	inner = ip4_tcp(&b, IP_A, IP_B, 1234, 80, FC_TCP_ACK, 7);
	udp_end(&b, u);
	ip4_end(&b, outer);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "capwap verdict");
	ASSERT_EQ(p.tunnel_id, FC_TUNNEL_CAPWAP, "tunnel_id 2");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_D), "src_mac = addr2");
	ASSERT_TRUE(mac_is(p.dst_mac, MAC_E), "dst_mac = addr3 (NFStream code)");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "inner src");
	ASSERT_TRUE(ip4_is(p.dst_ip, IP_B), "inner dst");
	ASSERT_EQ(p.protocol, 6, "inner protocol");
	ASSERT_EQ(p.src_port, 1234, "inner sport");
	ASSERT_TRUE(p.ip == b.d + inner, "ip = inner header");

	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, false, &p), DECODE_OK, "capwap no-decode verdict");
	ASSERT_EQ(p.tunnel_id, 0, "no-decode tunnel_id");
	ASSERT_EQ(p.dst_port, 5247, "no-decode outer dport");
}

static void test_linktypes(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	/* NULL, little-endian AF_INET (2) */
	p8(&b, 2);
	zeros(&b, 3);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	ASSERT_EQ(dec(FC_DLT_NULL, &b, true, &p), DECODE_OK, "NULL LE v4");
	ASSERT_TRUE(p.ip == b.d + 4, "NULL ip offset");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "NULL src");
	ASSERT_EQ(p.dst_port, 80, "NULL dport");
	ASSERT_TRUE(mac_zero(p.src_mac) && mac_zero(p.dst_mac), "NULL: MACs zero");
	/* NULL, big-endian AF_INET */
	b.d[0] = 0;
	b.d[3] = 2;
	ASSERT_EQ(dec(FC_DLT_NULL, &b, true, &p), DECODE_OK, "NULL BE v4");
	/* NULL, AF_INET6 (30) with IPv6 */
	b.n = 0;
	p8(&b, 30);
	zeros(&b, 3);
	ip6_udp(&b, IP6_A, IP6_B, 1000, 2000, 4);
	ASSERT_EQ(dec(FC_DLT_NULL, &b, true, &p), DECODE_OK, "NULL v6");
	ASSERT_EQ(p.ip_version, 6, "NULL v6 version");
	ASSERT_EQ(p.ip_size, 12, "NULL v6 ip_size");

	/* RAW 12 and 101 */
	b.n = 0;
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	for (int dlt = FC_DLT_RAW; dlt; dlt = dlt == FC_DLT_RAW ? FC_DLT_RAW_LINKTYPE : 0) {
		ASSERT_EQ(dec(dlt, &b, true, &p), DECODE_OK, "RAW v4");
		ASSERT_TRUE(p.ip == b.d, "RAW ip offset 0");
		ASSERT_EQ(p.raw_size, 40, "RAW raw_size");
		ASSERT_TRUE(mac_zero(p.src_mac), "RAW: MACs zero");
	}
	ASSERT_EQ(dec(FC_DLT_IPV4, &b, true, &p), DECODE_OK, "IPV4(228)");
	ASSERT_TRUE(p.ip == b.d, "IPV4 ip offset 0");
	ASSERT_EQ(p.src_port, 1000, "IPV4 sport");
	b.n = 0;
	ip6_udp(&b, IP6_A, IP6_B, 1000, 2000, 4);
	ASSERT_EQ(dec(FC_DLT_RAW, &b, true, &p), DECODE_OK, "RAW(12) v6");
	ASSERT_EQ(p.ip_version, 6, "RAW(12) v6 version");
	ASSERT_EQ(dec(FC_DLT_RAW_LINKTYPE, &b, true, &p), DECODE_OK, "RAW(101) v6");
	ASSERT_EQ(dec(FC_DLT_IPV6, &b, true, &p), DECODE_OK, "IPV6(229)");
	ASSERT_EQ(p.ip_version, 6, "IPV6 version");
	ASSERT_EQ(p.dst_port, 2000, "IPV6 dport");
	ASSERT_TRUE(p.ip == b.d, "IPV6 ip offset 0");

	/* LINUX_SLL: 16-byte header, protocol at 14 */
	b.n = 0;
	p16(&b, 0);      /* packet type: to us */
	p16(&b, 1);      /* ARPHRD_ETHER */
	p16(&b, 6);
	put(&b, MAC_A, 6);
	zeros(&b, 2);
	p16(&b, 0x0800);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	ASSERT_EQ(dec(FC_DLT_LINUX_SLL, &b, true, &p), DECODE_OK, "SLL");
	ASSERT_TRUE(p.ip == b.d + 16, "SLL ip offset");
	ASSERT_TRUE(mac_zero(p.src_mac) && mac_zero(p.dst_mac), "SLL: MACs zero");
	ASSERT_EQ(p.raw_size, 56, "SLL raw_size");

	/* LINUX_SLL2: 20-byte header, protocol at 0 */
	b.n = 0;
	p16(&b, 0x0800);
	p16(&b, 0);
	p32(&b, 2);      /* ifindex */
	p16(&b, 1);      /* ARPHRD_ETHER */
	p8(&b, 0);
	p8(&b, 6);
	put(&b, MAC_A, 6);
	zeros(&b, 2);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	ASSERT_EQ(dec(FC_DLT_LINUX_SLL2, &b, true, &p), DECODE_OK, "SLL2");
	ASSERT_TRUE(p.ip == b.d + 20, "SLL2 ip offset");
	ASSERT_EQ(p.dst_port, 80, "SLL2 dport");

	/* PPP: 2-byte protocol */
	b.n = 0;
	p16(&b, 0x0021);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	ASSERT_EQ(dec(FC_DLT_PPP, &b, true, &p), DECODE_OK, "PPP");
	ASSERT_TRUE(p.ip == b.d + 2, "PPP ip offset");
	/* PPP_SERIAL: ff 03 + protocol */
	b.n = 0;
	p16(&b, 0xff03);
	p16(&b, 0x0021);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	ASSERT_EQ(dec(FC_DLT_PPP_SERIAL, &b, true, &p), DECODE_OK, "PPP_SERIAL");
	ASSERT_TRUE(p.ip == b.d + 4, "PPP_SERIAL ip offset");
	/* C_HDLC: 0x0f 0x00 + ethertype */
	b.n = 0;
	p8(&b, 0x0f);
	p8(&b, 0x00);
	p16(&b, 0x0800);
	ip4_tcp(&b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
	ASSERT_EQ(dec(FC_DLT_C_HDLC, &b, true, &p), DECODE_OK, "C_HDLC");
	ASSERT_TRUE(p.ip == b.d + 4, "C_HDLC ip offset");
	ASSERT_EQ(dec(FC_DLT_PPP, &b, true, &p), DECODE_OK, "PPP with a Cisco HDLC header");
	ASSERT_TRUE(p.ip == b.d + 4, "PPP/CHDLC ip offset");

	/* unsupported link type */
	ASSERT_EQ(dec(147, &b, true, &p), DECODE_LINKTYPE, "DLT 147");
	ASSERT_TRUE(!decode_dlt_supported(147), "147 unsupported");
	ASSERT_TRUE(decode_dlt_supported(FC_DLT_LINUX_SLL2), "SLL2 supported");
	ASSERT_TRUE(decode_dlt_supported(FC_DLT_EN10MB), "EN10MB supported");
}

static void build_radiotap(struct fb *b, uint8_t fc0, uint8_t fc1, uint8_t rt_flags)
{
	b->n = 0;
	p8(b, 0);      /* version */
	p8(b, 0);
	p8(b, 18);     /* length, little endian */
	p8(b, 0);
	p8(b, 0x03);   /* present: TSFT, flags */
	zeros(b, 3);
	zeros(b, 8);   /* TSFT */
	p8(b, rt_flags);
	p8(b, 0x02);   /* rate */
	p8(b, fc0);
	p8(b, fc1);
	p16(b, 0);
	put(b, MAC_C, 6); /* addr1 */
	put(b, MAC_D, 6); /* addr2 */
	put(b, MAC_E, 6); /* addr3 */
	p16(b, 0);
	p16(b, 0);     /* QoS: 26-byte header */
	p8(b, 0xaa);
	p8(b, 0xaa);
	p8(b, 0x03);
	zeros(b, 3);
	p16(b, 0x0800);
	ip4_tcp(b, IP_A, IP_B, 1000, 80, FC_TCP_SYN, 0);
}

static void test_radiotap(void)
{
	struct fb b;
	struct pkt p;

	build_radiotap(&b, 0x88, 0x02, 0x00); /* QoS data, FromDS */
	ASSERT_EQ(dec(FC_DLT_IEEE802_11_RADIO, &b, true, &p), DECODE_OK, "data frame");
	ASSERT_TRUE(p.ip == b.d + 18 + 26 + 8, "ip after radiotap + 802.11 + LLC");
	ASSERT_TRUE(mac_is(p.src_mac, MAC_D), "src_mac = addr2");
	ASSERT_TRUE(mac_is(p.dst_mac, MAC_E), "dst_mac = addr3");
	ASSERT_TRUE(ip4_is(p.src_ip, IP_A), "src");
	ASSERT_EQ(p.dst_port, 80, "dport");

	build_radiotap(&b, 0x80, 0x00, 0x00); /* beacon */
	ASSERT_EQ(dec(FC_DLT_IEEE802_11_RADIO, &b, true, &p), DECODE_L2, "non-data frame");
	build_radiotap(&b, 0x88, 0x02, 0x50); /* bad FCS */
	ASSERT_EQ(dec(FC_DLT_IEEE802_11_RADIO, &b, true, &p), DECODE_L2, "bad FCS");
}

static void test_raw_size_wrap(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;

	eth(&b, 0x0800);
	ip4_udp(&b, IP_A, IP_B, 1000, 2000, 10);
	memset(&p, 0, sizeof(p));
	ASSERT_EQ(decode_frame(FC_DLT_EN10MB, b.d, b.n, 70000, true, &p), DECODE_OK, "verdict");
	ASSERT_EQ(p.raw_size, 70000 - 65536, "raw_size is uint16");
	ASSERT_EQ(p.ip_size, 38, "ip_size from header");
}

static void test_tcp_doff_beyond_l4(void)
{
	struct fb b = { .n = 0 };
	struct pkt p;
	uint32_t off;

	eth(&b, 0x0800);
	off = ip4(&b, 6, IP_A, IP_B);
	tcp_doff(&b, 1000, 80, FC_TCP_ACK, 15); /* claims 60 bytes */
	data(&b, 10);
	ip4_end(&b, off);
	ASSERT_EQ(dec(FC_DLT_EN10MB, &b, true, &p), DECODE_OK, "verdict");
	ASSERT_EQ(p.transport_size, 30, "transport_size");
	ASSERT_EQ(p.payload_size, 0, "payload_size floored at 0");
	ASSERT_EQ(p.payload_caplen, 0, "no payload bytes");
	ASSERT_EQ(p.src_port, 1000, "ports still read");
	ASSERT_EQ(p.tcp_flags, FC_TCP_ACK, "flags still read");
}

/* --------------------------- robustness --------------------------- */

struct sample {
	int dlt;
	struct fb b;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t xorshift(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static int n_decoded_ok;

/* Decode from an exact-size heap copy so ASan flags any read past caplen. */
static bool check_one(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len, bool tun)
{
	uint8_t *buf = malloc(caplen ? caplen : 1);
	struct pkt p;
	enum decode_verdict v;
	bool ok = true;

	if (!buf)
		abort();
	memcpy(buf, frame, caplen);
	memset(&p, 0, sizeof(p));
	v = decode_frame(dlt, buf, caplen, len, tun, &p);
	if ((unsigned)v >= DECODE__MAX) {
		ok = false;
	} else if (v == DECODE_OK) {
		n_decoded_ok++;
		if (!p.ip || p.ip < buf || p.ip + p.ip_caplen > buf + caplen)
			ok = false;
		if (p.payload_caplen && (p.payload < buf || p.payload + p.payload_caplen > buf + caplen))
			ok = false;
		if (!p.payload || p.payload > buf + caplen)
			ok = false;
		if (p.ip_version != 4 && p.ip_version != 6)
			ok = false;
		if (p.tunnel_id > FC_TUNNEL_TZSP)
			ok = false;
	}
	free(buf);
	if (!ok)
		fprintf(stderr, "robustness: dlt %d caplen %u len %u tunnels %d verdict %d\n", dlt,
			caplen, len, tun, v);
	return ok;
}

static size_t build_samples(struct sample *s, size_t max)
{
	size_t n = 0;
	uint32_t off, u;

#define NEXT(d) (s[n].dlt = (d), s[n].b.n = 0, &s[n++].b)
	struct fb *b;

	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x0800);
	ip4_tcp(b, IP_A, IP_B, 40000, 443, FC_TCP_ACK, 30);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x8100);
	p16(b, 10);
	p16(b, 0x8100);
	p16(b, 20);
	p16(b, 0x86dd);
	off = ip6(b, 0, IP6_A, IP6_B);
	p8(b, 44);
	p8(b, 0);
	zeros(b, 6);
	p8(b, 17);
	p8(b, 0);
	p16(b, 1);
	p32(b, 7);
	u = udp(b, 1, 2);
	data(b, 9);
	udp_end(b, u);
	ip6_end(b, off);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x8847);
	p32(b, 16u << 12 | 64);
	p32(b, 17u << 12 | 1u << 8 | 64);
	ip4_udp(b, IP_A, IP_B, 5, 6, 12);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x8864);
	zeros(b, 6);
	p16(b, 0x0021);
	ip4_udp(b, IP_A, IP_B, 5, 6, 12);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 8 + 40);
	p8(b, 0xaa);
	p8(b, 0xaa);
	p8(b, 0x03);
	zeros(b, 3);
	p16(b, 0x0800);
	ip4_tcp(b, IP_A, IP_B, 1, 2, 0, 0);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x0800);
	off = ip4(b, 4, IP_C, IP_D);
	ip4_tcp(b, IP_A, IP_B, 1, 2, 0, 4);
	ip4_end(b, off);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x0800);
	off = ip4(b, 41, IP_C, IP_D);
	ip6_udp(b, IP6_A, IP6_B, 3, 4, 6);
	ip4_end(b, off);
	build_gtp(NEXT(FC_DLT_EN10MB), 0x30, 0xff, false);
	build_gtp(NEXT(FC_DLT_EN10MB), 0x34, 0xff, true);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x0800);
	off = ip4(b, 17, IP_C, IP_D);
	u = udp(b, 40000, 37008);
	p8(b, 1);
	p8(b, 0);
	p16(b, 1);
	p8(b, 1);
	eth_macs(b, MAC_D, MAC_C, 0x0800);
	ip4_tcp(b, IP_A, IP_B, 1234, 80, FC_TCP_ACK, 7);
	udp_end(b, u);
	ip4_end(b, off);
	b = NEXT(FC_DLT_EN10MB);
	eth(b, 0x0800);
	off = ip4(b, 17, IP_C, IP_D);
	u = udp(b, 12345, 5247);
	p8(b, 0);
	p8(b, 2 << 3);
	zeros(b, 6);
	p8(b, 0x08);
	p8(b, 0x01);
	zeros(b, 22);
	p8(b, 0xaa);
	p8(b, 0xaa);
	p8(b, 0x03);
	zeros(b, 3);
	p16(b, 0x0800);
	ip4_udp(b, IP_A, IP_B, 1234, 80, 7);
	udp_end(b, u);
	ip4_end(b, off);
	build_radiotap(NEXT(FC_DLT_IEEE802_11_RADIO), 0x88, 0x02, 0);
	b = NEXT(FC_DLT_NULL);
	p8(b, 2);
	zeros(b, 3);
	ip4_tcp(b, IP_A, IP_B, 1, 2, 0, 3);
	b = NEXT(FC_DLT_LINUX_SLL2);
	p16(b, 0x86dd);
	zeros(b, 18);
	ip6_udp(b, IP6_A, IP6_B, 3, 4, 6);
	b = NEXT(FC_DLT_LINUX_SLL);
	zeros(b, 14);
	p16(b, 0x0800);
	ip4_udp(b, IP_A, IP_B, 5, 6, 1);
	b = NEXT(FC_DLT_C_HDLC);
	p8(b, 0x8f);
	p8(b, 0);
	p16(b, 0x86dd);
	ip6_udp(b, IP6_A, IP6_B, 3, 4, 6);
	b = NEXT(FC_DLT_RAW);
	off = ip4(b, 1, IP_A, IP_B);
	zeros(b, 8);
	ip4_end(b, off);
#undef NEXT
	if (n > max)
		abort();
	return n;
}

static void test_robustness(void)
{
	static struct sample s[32];
	size_t n = build_samples(s, ARRAY_SIZE(s));
	int bad = 0, iters = 0;

	for (size_t i = 0; i < n; i++) {
		/* the samples themselves must decode */
		struct pkt p;

		if (!ASSERT_EQ(decode_frame(s[i].dlt, s[i].b.d, s[i].b.n, s[i].b.n, true, &p), DECODE_OK,
			       "sample decodes"))
			fprintf(stderr, "  sample %zu\n", i);
		for (uint32_t cap = 0; cap <= s[i].b.n; cap++) {
			bad += !check_one(s[i].dlt, s[i].b.d, cap, s[i].b.n, true);
			bad += !check_one(s[i].dlt, s[i].b.d, cap, s[i].b.n, false);
		}
	}
	for (iters = 0; iters < 20000; iters++) {
		struct sample *sm = &s[xorshift() % n];
		uint8_t frame[sizeof(sm->b.d)];
		uint32_t len = sm->b.n, cap = len;
		uint64_t r = xorshift();

		memcpy(frame, sm->b.d, len);
		frame[r % len] ^= (uint8_t)(1 + (r >> 16) % 255);
		if ((r >> 32) & 1) /* a second corruption half the time */
			frame[(r >> 40) % len] = (uint8_t)(r >> 56);
		if (((r >> 33) & 3) == 0) /* and a truncation a quarter of the time */
			cap = (uint32_t)((r >> 20) % (len + 1));
		bad += !check_one(sm->dlt, frame, cap, len, (r >> 35) & 1);
	}
	ASSERT_EQ(bad, 0, "robustness violations");
	ASSERT_TRUE(n_decoded_ok > 1000, "corrupted frames still decode often");
}

int main(void)
{
	RUN_TEST(test_eth_ipv4_tcp);
	RUN_TEST(test_eth_ipv4_udp);
	RUN_TEST(test_eth_ipv4_icmp);
	RUN_TEST(test_ipv6_ext_headers);
	RUN_TEST(test_ipv6_fragments);
	RUN_TEST(test_ipv6_no_next_header);
	RUN_TEST(test_ipv6_truncated);
	RUN_TEST(test_ipv4_fragments);
	RUN_TEST(test_ipv4_fragment_type_quirk);
	RUN_TEST(test_ipip_6in4);
	RUN_TEST(test_vlan);
	RUN_TEST(test_mpls_pppoe);
	RUN_TEST(test_llc);
	RUN_TEST(test_too_short);
	RUN_TEST(test_gtp);
	RUN_TEST(test_tzsp);
	RUN_TEST(test_capwap);
	RUN_TEST(test_linktypes);
	RUN_TEST(test_radiotap);
	RUN_TEST(test_raw_size_wrap);
	RUN_TEST(test_tcp_doff_beyond_l4);
	RUN_TEST(test_robustness);
	return TEST_SUMMARY();
}
