/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel's packet parser, shared by every capture hook: a cursor over
 * [data, data_end) (direct packet access, so TC and XDP both use it) turns
 * an Ethernet frame into the flow key, the sizes under NFStream's four
 * accounting modes and the TCP flags.
 *
 * It decides exactly as agent/packet/decode.c does, but only for the frames it can
 * judge completely: Ethernet with up to two 802.1Q tags, IPv4 and IPv6 (with
 * the extension headers nDPI skips), TCP/UDP/ICMP and other protocols.
 * Everything rarer or stranger (LLC/SNAP, MPLS, PPPoE, IP-in-IP, tunnel
 * ports, headers outside the linear data, lengths that disagree with the
 * frame) is PUNTed: the frame goes to userspace whole and agent/packet/decode.c
 * decides.  So the kernel never guesses, and live agrees with offline.
 *
 * Byte order: every field of struct fc_parsed is host order.
 */
#ifndef FC_PARSE_BPF_H
#define FC_PARSE_BPF_H

#include "fc_flow.h"

enum fc_verdict {
	FC_V_OK = 0,
	FC_V_PUNT,       /* userspace decodes it */
	FC_V_NOT_IP,
	FC_V_TRUNC,
	FC_V_FRAGMENT,
	FC_V_IPV6_EXT,
};

struct fc_parsed {
	__u8 src[16], dst[16];
	__u16 sport, dport;
	__u16 vlan_id;
	__u8 protocol, ip_version;
	__u8 tcp_flags;
	__u8 _pad[3];
	__u32 wire_len;       /* frame length with removed VLAN tags re-inserted */
	__u32 l2_len;         /* link header incl. inline tags and a removed one */
	__u32 l3_hdr;         /* IP header + extension headers */
	__u32 l4_hdr;         /* TCP header (doff) or 8 (UDP/ICMP), 0 otherwise */
	__u16 ip_size, transport_size, payload_size;
};

struct fc_cursor {
	void *data, *data_end;
};

#define FC_ETH_P_IP 0x0800
#define FC_ETH_P_IPV6 0x86dd
#define FC_ETH_P_8021Q 0x8100
#define FC_MAX_OFF 0x3ff /* headers must sit in the first KiB */

/* @n bytes at @off, or NULL: the bound on @off keeps the verifier's range.
 * A header further in is refused (the frame is punted), never read at the
 * masked offset: that would be other bytes of the frame. */
static __always_inline __u8 *fc_ptr(const struct fc_cursor *c, __u32 off, __u32 n)
{
	__u8 *p;

	if (off > FC_MAX_OFF)
		return NULL;
	off &= FC_MAX_OFF;
	p = (__u8 *)c->data + off;
	if ((void *)(p + n) > c->data_end)
		return NULL;
	return p;
}

static __always_inline __u16 fc_be16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __always_inline int fc_is_tunnel_port(__u16 port)
{
	return port == 2152 || port == 37008 || port == 5247;
}

/*
 * Transport layer (decode_l4): @l4_off from the IP header, @l4_len bytes of
 * transport header + payload, @ipsize bytes of frame from the IP header.
 */
static __always_inline int fc_parse_l4(const struct fc_cursor *c, struct fc_parsed *pp,
				       __u32 ip_off, __u32 l4_off, __u32 l4_len, __u32 ipsize,
				       __u8 proto, int tunnels)
{
	__u8 *l4;

	pp->protocol = proto;
	if (proto == 6) {
		__u32 doff;

		if (l4_len < 20)
			return FC_V_PUNT;
		l4 = fc_ptr(c, ip_off + l4_off, 14);
		if (!l4)
			return FC_V_PUNT;
		pp->sport = fc_be16(l4);
		pp->dport = fc_be16(l4 + 2);
		pp->tcp_flags = l4[13];
		doff = (__u32)(l4[12] >> 4) * 4;
		pp->transport_size = (__u16)l4_len;
		pp->payload_size = l4_len > doff ? (__u16)(l4_len - doff) : 0;
		pp->l4_hdr = doff < l4_len ? doff : l4_len;
	} else if (proto == 17) {
		if (l4_len < 8)
			return FC_V_PUNT;
		l4 = fc_ptr(c, ip_off + l4_off, 4);
		if (!l4)
			return FC_V_PUNT;
		pp->sport = fc_be16(l4);
		pp->dport = fc_be16(l4 + 2);
		pp->transport_size = (__u16)l4_len;
		pp->payload_size = (__u16)(l4_len - 8);
		pp->l4_hdr = 8;
		if (tunnels && pp->ip_version == 4 &&
		    (fc_is_tunnel_port(pp->sport) || fc_is_tunnel_port(pp->dport)))
			return FC_V_PUNT;
	} else if (proto == 1 || proto == 58) {
		pp->transport_size = (__u16)l4_len;
		pp->payload_size = l4_len > 8 ? (__u16)(l4_len - 8) : 0;
		pp->l4_hdr = l4_len < 8 ? l4_len : 8;
	}
	(void)ipsize;
	return FC_V_OK;
}

static __always_inline int fc_parse_ipv4(const struct fc_cursor *c, struct fc_parsed *pp,
					 __u32 ip_off, __u32 frame_len, int tunnels)
{
	__u8 *ip = fc_ptr(c, ip_off, 20);
	__u32 ihl, tot_len, ipsize = frame_len - ip_off;

	if (!ip)
		return FC_V_PUNT;
	if ((ip[0] >> 4) != 4)
		return FC_V_PUNT;
	if (ip[9] == 4 || ip[9] == 41)
		return FC_V_PUNT; /* IP-in-IP: decode.c walks into it */
	if (fc_be16(ip + 6) & 0x1fff)
		return FC_V_FRAGMENT;
	ihl = (__u32)(ip[0] & 0x0f) * 4;
	tot_len = fc_be16(ip + 2);
	if (ipsize > 0xffff || ihl < 20 || tot_len < ihl || tot_len > ipsize)
		return FC_V_PUNT;
	pp->ip_version = 4;
	__builtin_memcpy(pp->src, ip + 12, 4);
	__builtin_memcpy(pp->dst, ip + 16, 4);
	pp->ip_size = (__u16)tot_len;
	pp->l3_hdr = ihl;
	return fc_parse_l4(c, pp, ip_off, ihl, tot_len - ihl, ipsize, ip[9], tunnels);
}

#define FC_IPV6_MAX_EXT 6

static __always_inline int fc_ipv6_ext(__u8 nxt)
{
	return nxt == 0 || nxt == 43 || nxt == 44 || nxt == 60 || nxt == 135 || nxt == 59;
}

static __always_inline int fc_parse_ipv6(const struct fc_cursor *c, struct fc_parsed *pp,
					 __u32 ip_off, __u32 frame_len, int tunnels)
{
	__u8 *ip = fc_ptr(c, ip_off, 40);
	__u32 plen, ipsize = frame_len - ip_off, l3len, l4len, off = 40;
	__u8 nxt;
	int i;

	if (!ip)
		return FC_V_PUNT;
	if ((ip[0] >> 4) != 6)
		return FC_V_PUNT;
	plen = fc_be16(ip + 4);
	if (ipsize > 0xffff || ipsize < 40 + plen)
		return FC_V_PUNT;
	nxt = ip[6];
	l3len = ipsize - 40;
	l4len = plen;
	/* ndpi_handle_ipv6_extension_headers(), step for step */
	for (i = 0; i < FC_IPV6_MAX_EXT; i++) {
		__u8 *h;
		__u32 ehdr_len;

		if (!(l3len > 1 && fc_ipv6_ext(nxt)))
			break;
		if (nxt == 59)
			return FC_V_IPV6_EXT;
		if (nxt == 44) {
			h = fc_ptr(c, ip_off + off, 8);
			if (!h)
				return FC_V_PUNT;
			if (l4len < 8 || l3len < 5)
				return FC_V_IPV6_EXT;
			l3len -= 5;
			nxt = h[0];
			if ((fc_be16(h + 2) >> 3) != 0)
				return FC_V_IPV6_EXT;
			l4len -= 8;
			off += 8;
			continue;
		}
		if (l4len < 2)
			return FC_V_IPV6_EXT;
		h = fc_ptr(c, ip_off + off, 2);
		if (!h)
			return FC_V_PUNT;
		ehdr_len = (__u32)h[1] * 8 + 8;
		if (ehdr_len > l3len || l4len < ehdr_len)
			return FC_V_IPV6_EXT;
		l3len -= ehdr_len;
		nxt = h[0];
		l4len -= ehdr_len;
		off += ehdr_len;
	}
	if (l3len > 1 && fc_ipv6_ext(nxt))
		return FC_V_PUNT; /* longer chain than we walk */
	if (nxt == 4 || nxt == 41)
		return FC_V_PUNT;
	if (tunnels && nxt == 17) {
		/* decode.c reads the "UDP ports" at IP header + remaining
		 * payload length (NFStream's IPv6 quirk): same bytes here. */
		__u8 *q = fc_ptr(c, ip_off + l4len, 4);

		if (!q)
			return FC_V_PUNT;
		if (fc_is_tunnel_port(fc_be16(q)) || fc_is_tunnel_port(fc_be16(q + 2)))
			return FC_V_PUNT;
	}
	pp->ip_version = 6;
	__builtin_memcpy(pp->src, ip + 8, 16);
	__builtin_memcpy(pp->dst, ip + 24, 16);
	pp->ip_size = (__u16)plen; /* NFStream's IPv6 ip_size quirk */
	pp->l3_hdr = off;
	return fc_parse_l4(c, pp, ip_off, off, l4len, ipsize, nxt, tunnels);
}

/*
 * Parse an Ethernet frame of @frame_len bytes (as the skb holds it, i.e.
 * without a tag the driver removed; @vlan_tci is that tag or 0 and @tagged
 * says whether there was one).
 */
static __always_inline int fc_parse_eth(const struct fc_cursor *c, struct fc_parsed *pp,
					__u32 frame_len, int tagged, __u16 vlan_tci, int tunnels)
{
	__u8 *eth = fc_ptr(c, 0, 14);
	__u32 off = 14, extra = tagged ? 4 : 0;
	__u16 type;
	int i;

	pp->wire_len = frame_len + extra;
	if (pp->wire_len < 28)
		return FC_V_TRUNC; /* NFStream's 28-byte minimum */
	if (!eth)
		return FC_V_PUNT;
	type = fc_be16(eth + 12);
	if (tagged)
		pp->vlan_id = vlan_tci & 0xfff;
	if (type <= 1500)
		return FC_V_PUNT; /* 802.3 length: LLC/SNAP, decode.c decides */
	for (i = 0; i < 2 && type == FC_ETH_P_8021Q; i++) {
		__u8 *tag = fc_ptr(c, off, 4);

		if (!tag || off + extra + 4 >= pp->wire_len)
			return FC_V_PUNT;
		pp->vlan_id = fc_be16(tag) & 0xfff;
		type = fc_be16(tag + 2);
		off += 4;
	}
	if (type == FC_ETH_P_8021Q)
		return FC_V_PUNT;
	pp->l2_len = off + extra;
	if (type == FC_ETH_P_IP)
		return fc_parse_ipv4(c, pp, off, frame_len, tunnels);
	if (type == FC_ETH_P_IPV6)
		return fc_parse_ipv6(c, pp, off, frame_len, tunnels);
	if (type == 0x8847 || type == 0x8848 || type == 0x8864)
		return FC_V_PUNT; /* MPLS, PPPoE: decode.c walks them */
	{
		/* decode.c judges the IP version nibble, whatever the type
		 * (and cannot be second-guessed when that byte is not linear) */
		__u8 *ip = fc_ptr(c, off, 1);

		if (!ip || (ip[0] >> 4) == 4 || (ip[0] >> 4) == 6)
			return FC_V_PUNT;
	}
	return FC_V_NOT_IP;
}

/* Numeric value of the big-endian word @w, as loaded in host order. */
static __always_inline __u32 fc_be32_val(__u32 w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32(w);
#else
	return w;
#endif
}

/*
 * Canonical key from @pp; returns the direction (0: src is the lower end).
 * The same key and direction as fc_key_make() (tests/fuzz/fuzz_bpf_parse.c
 * checks it), in 32-bit words instead of bytes: @pp's addresses are
 * 4-byte aligned, and the byte order of big-endian words is their
 * numeric order.  (fc_key_make() on them compiled to about a hundred byte
 * loads and shifts, the key's alignment being unknown to clang.)
 */
static __always_inline int fc_make_key(const struct fc_parsed *pp, struct fc_flow_key *k)
{
	__u32 s[4], d[4];
	int dir, i;

	__builtin_memcpy(s, pp->src, 16);
	__builtin_memcpy(d, pp->dst, 16);
	dir = pp->sport > pp->dport;
	for (i = 0; i < 4; i++) {
		if (s[i] != d[i]) {
			dir = fc_be32_val(s[i]) > fc_be32_val(d[i]);
			break;
		}
	}
	if (!dir) {
		__builtin_memcpy(k->addr_lo, s, 16);
		__builtin_memcpy(k->addr_hi, d, 16);
		k->port_lo = pp->sport;
		k->port_hi = pp->dport;
	} else {
		__builtin_memcpy(k->addr_lo, d, 16);
		__builtin_memcpy(k->addr_hi, s, 16);
		k->port_lo = pp->dport;
		k->port_hi = pp->sport;
	}
	k->vlan_id = pp->vlan_id;
	k->protocol = pp->protocol;
	k->ip_version = pp->ip_version;
	return dir;
}

/* Size of the packet under accounting mode @mode, and the header part of
 * it that every GSO segment repeats. */
static __always_inline __u32 fc_size(const struct fc_parsed *pp, __u8 mode, __u32 *hdr)
{
	switch (mode) {
	case 0:
		*hdr = pp->l2_len + pp->l3_hdr + pp->l4_hdr;
		return (__u16)pp->wire_len;
	case 1:
		*hdr = (pp->ip_version == 6 ? pp->l3_hdr - 40 : pp->l3_hdr) + pp->l4_hdr;
		return pp->ip_size;
	case 2:
		*hdr = pp->l4_hdr;
		return pp->transport_size;
	default:
		*hdr = 0;
		return pp->payload_size;
	}
}

#endif
