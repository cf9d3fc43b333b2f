// SPDX-License-Identifier: GPL-2.0-only
/*
 * Packet layer.  Walks link layer, L2 shims, IP (with IPIP/6in4 and IPv6
 * extension headers) and the GTP-U/TZSP/CAPWAP tunnels exactly as NFStream
 * 6.5.4 decides (spec §1.2), quirks included, so flow keys and sizes match
 * NFStream row for row.  Every read is checked against the captured length:
 * where NFStream would read past the capture, we treat the field as absent.
 */
#include <string.h>

#include "packet/decode.h"

#define ETH_P_IPV4 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_VLAN 0x8100
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_MPLS_MC 0x8848
#define ETH_P_PPPOE 0x8864

#define GTP_U_PORT 2152
#define TZSP_PORT 37008
#define CAPWAP_DATA_PORT 5247

/* NFStream's minimum: 20 bytes of IPv4 + 8 of UDP, measured from the frame. */
#define MIN_FRAME_BYTES 28

#define DECODE_STR(name, text) [name] = text,
static const char *const verdict_str[DECODE__MAX] = { DECODE_VERDICTS(DECODE_STR) };
#undef DECODE_STR

const char *decode_verdict_str(enum decode_verdict v)
{
	return (unsigned)v < DECODE__MAX ? verdict_str[v] : "unknown";
}

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A u16 as a little-endian host reads it: NFStream's unswapped SNAP type. */
static inline uint16_t host16_le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

bool decode_dlt_supported(int dlt)
{
	switch (dlt) {
	case FC_DLT_NULL:
	case FC_DLT_EN10MB:
	case FC_DLT_PPP:
	case FC_DLT_RAW:
	case FC_DLT_RAW_LINKTYPE:
	case FC_DLT_PPP_SERIAL:
	case FC_DLT_C_HDLC:
	case FC_DLT_LINUX_SLL:
	case FC_DLT_LINUX_SLL2:
	case FC_DLT_IEEE802_11_RADIO:
	case FC_DLT_IPV4:
	case FC_DLT_IPV6:
		return true;
	default:
		return false;
	}
}

/*
 * Same walk as nDPI's ndpi_handle_ipv6_extension_headers() (which NFStream
 * calls): hop-by-hop, routing, fragment, destination options and mobility
 * headers are skipped; a non-first fragment, "no next header" (59) or a
 * header that does not fit ends the walk with an error (returns 1).
 */
static int ipv6_skip_ext(uint16_t l3len, const uint8_t **l4, uint16_t *l4len, uint8_t *nxt)
{
	while (l3len > 1 && (*nxt == 0 || *nxt == 43 || *nxt == 44 || *nxt == 60 || *nxt == 135 ||
			     *nxt == 59)) {
		uint16_t ehdr_len;

		if (*nxt == 59)
			return 1;
		if (*nxt == 44) {
			if (*l4len < 8 || l3len < 5)
				return 1;
			l3len -= 5;
			*nxt = (*l4)[0];
			if ((be16(*l4 + 2) >> 3) != 0)
				return 1;
			*l4len -= 8;
			*l4 += 8;
			continue;
		}
		if (*l4len < 2)
			return 1;
		ehdr_len = (uint16_t)((*l4)[1] * 8 + 8);
		if (ehdr_len > l3len)
			return 1;
		l3len -= ehdr_len;
		if (*l4len < ehdr_len)
			return 1;
		*nxt = (*l4)[0];
		*l4len -= ehdr_len;
		*l4 += ehdr_len;
	}
	return 0;
}

/*
 * Transport layer, shared by IPv4 and IPv6 (NFStream's packet_get_ip_info).
 * @ip/@ipsize: innermost IP header and captured bytes from it (uint16 as in
 * NFStream); @tot_len: IPv4 total length or 40 + IPv6 payload length.
 */
static enum decode_verdict decode_l4(struct pkt *p, const uint8_t *ip, uint16_t ipsize,
				     uint16_t tot_len, uint16_t l4_len, uint16_t l4_off, uint8_t proto)
{
	const uint8_t *l4 = ip + l4_off;
	uint32_t l4_cap = ipsize > l4_off ? (uint32_t)(ipsize - l4_off) : 0;
	uint16_t max_len = tot_len > ipsize ? tot_len : ipsize;

	if ((uint32_t)max_len < (uint32_t)l4_off + l4_len)
		return DECODE_IP_TRUNC;

	p->protocol = proto;
	p->src_port = p->dst_port = 0;
	p->tcp_flags = 0;
	p->tcp_window_ok = 0;
	p->transport_size = 0;
	p->payload_size = 0;
	p->payload = l4;
	p->payload_caplen = 0;

	if (proto == 6 && l4_len >= 20) {
		p->transport_size = l4_len;
		if (l4_cap >= 14) {
			uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
			int pl = (int)l4_len - (int)doff;

			p->src_port = be16(l4);
			p->dst_port = be16(l4 + 2);
			p->tcp_flags = l4[13];
			p->tcp_seq = be32(l4 + 4);
			p->tcp_ack = be32(l4 + 8);
			if (l4_cap >= 16) {
				p->tcp_window = be16(l4 + 14);
				p->tcp_window_ok = 1;
			}
			p->payload_size = pl > 0 ? (uint16_t)pl : 0;
			if (doff > l4_len)
				doff = l4_len;
			if (l4_cap > doff) {
				p->payload = l4 + doff;
				p->payload_caplen = (uint16_t)(l4_cap - doff);
			}
		}
	} else if (proto == 17 && l4_len >= 8) {
		p->transport_size = l4_len;
		p->payload_size = l4_len > 8 ? (uint16_t)(l4_len - 8) : 0;
		if (l4_cap >= 4) {
			p->src_port = be16(l4);
			p->dst_port = be16(l4 + 2);
		}
		if (l4_cap > 8) {
			p->payload = l4 + 8;
			p->payload_caplen = (uint16_t)(l4_cap - 8);
		}
	} else if (proto == 1 || proto == 58) {
		p->transport_size = l4_len;
		p->payload_size = l4_len > 8 ? (uint16_t)(l4_len - 8) : 0;
		if (l4_cap > 8) {
			p->payload = l4 + 8;
			p->payload_caplen = (uint16_t)(l4_cap - 8);
		}
	}
	/* Ethernet trailer padding is not payload */
	if (p->payload_caplen > p->payload_size)
		p->payload_caplen = p->payload_size;
	return DECODE_OK;
}

static enum decode_verdict decode_ipv4(struct pkt *p, const uint8_t *iph, uint16_t ipsize)
{
	uint16_t ihl_bytes = (uint16_t)((iph[0] & 0x0f) * 4);
	uint16_t tot_len = be16(iph + 2);

	if (ipsize < 20 || ihl_bytes > ipsize)
		return DECODE_IP_TRUNC;
	p->ip_version = 4;
	memcpy(p->src_ip, iph + 12, 4);
	memcpy(p->dst_ip, iph + 16, 4);
	p->ip_size = tot_len;
	/* uint16 wrap when tot_len < IHL, as NFStream: such packets fail the check */
	return decode_l4(p, iph, ipsize, tot_len, (uint16_t)(tot_len - ihl_bytes), ihl_bytes, iph[9]);
}

static enum decode_verdict decode_ipv6(struct pkt *p, const uint8_t *ip6, uint16_t ipsize)
{
	uint16_t plen, l4_len;
	const uint8_t *l4;
	uint8_t nxt;

	if (ipsize < 40)
		return DECODE_IP_TRUNC;
	plen = be16(ip6 + 4);
	if ((uint32_t)ipsize < 40u + plen)
		return DECODE_IP_TRUNC;
	nxt = ip6[6];
	l4 = ip6 + 40;
	l4_len = plen;
	if (ipv6_skip_ext((uint16_t)(ipsize - 40), &l4, &l4_len, &nxt))
		return DECODE_IPV6_EXT;
	p->ip_version = 6;
	memcpy(p->src_ip, ip6 + 8, 16);
	memcpy(p->dst_ip, ip6 + 24, 16);
	/* Compatible-mode quirk (spec §1.4): IPv6 ip_size is the payload length. */
	p->ip_size = plen;
	return decode_l4(p, ip6, ipsize, (uint16_t)(40 + plen), l4_len, (uint16_t)(l4 - ip6), nxt);
}

enum decode_verdict decode_frame(int dlt, const uint8_t *pk, uint32_t caplen, uint32_t len,
				 bool decode_tunnels, struct pkt *p)
{
	/* Offsets and the "type" survive a TZSP re-parse, as in NFStream. */
	uint32_t eth_offset = 0, ip_offset = 0;
	uint16_t type = 0, vlan_id = 0, frag_off = 0, ip_len = 0, pyld_eth_len = 0;
	uint8_t proto = 0, tunnel_id = FC_TUNNEL_NONE;
	const uint8_t *iph = NULL, *iph6 = NULL;

	memset(p->src_mac, 0, sizeof(p->src_mac));
	memset(p->dst_mac, 0, sizeof(p->dst_mac));
	memset(p->src_ip, 0, sizeof(p->src_ip));
	memset(p->dst_ip, 0, sizeof(p->dst_ip));

datalink:
	if (caplen < eth_offset + MIN_FRAME_BYTES)
		return DECODE_TOO_SHORT;
	switch (dlt) {
	case FC_DLT_NULL: {
		/* Family in capturing-host order compared after ntohl: only a
		 * big-endian 2 means IPv4; the nibble check below decides anyway. */
		const uint8_t *f = pk + eth_offset;
		uint32_t fam = (uint32_t)f[0] << 24 | f[1] << 16 | f[2] << 8 | f[3];

		type = fam == 2 ? ETH_P_IPV4 : ETH_P_IPV6;
		ip_offset = eth_offset + 4;
		break;
	}
	case FC_DLT_PPP_SERIAL:
		type = be16(pk + eth_offset + 2);
		ip_offset = eth_offset + 4;
		break;
	case FC_DLT_C_HDLC:
	case FC_DLT_PPP:
		/* NFStream tests byte 0 of the frame, not of eth_offset. */
		if (pk[0] == 0x0f || pk[0] == 0x8f) {
			type = be16(pk + eth_offset + 2);
			ip_offset = eth_offset + 4;
		} else {
			type = be16(pk + eth_offset);
			ip_offset = eth_offset + 2;
		}
		break;
	case FC_DLT_IPV4:
		type = ETH_P_IPV4;
		ip_offset = eth_offset;
		break;
	case FC_DLT_IPV6:
		type = ETH_P_IPV6;
		ip_offset = eth_offset;
		break;
	case FC_DLT_EN10MB: {
		const uint8_t *eth = pk + eth_offset;
		uint16_t check = be16(eth + 12);

		memcpy(p->dst_mac, eth, 6);
		memcpy(p->src_mac, eth + 6, 6);
		ip_offset = eth_offset + 14;
		if (check <= 1500)
			pyld_eth_len = check;
		else if (check >= 1536)
			type = check;
		if (pyld_eth_len != 0) {
			const uint8_t *llc = pk + ip_offset; /* 8 bytes: within 28 */

			if (llc[0] == 0xaa || llc[1] == 0xaa) {
				type = host16_le(llc + 6);
				ip_offset += 8;
			} else if (llc[0] == 0x42 || llc[1] == 0x42) {
				return DECODE_L2; /* spanning tree */
			}
		}
		break;
	}
	case FC_DLT_LINUX_SLL:
		type = be16(pk + eth_offset + 14);
		ip_offset = eth_offset + 16;
		break;
	case FC_DLT_LINUX_SLL2:
		/* Not in NFStream (it drops SLL2 from the "any" device): protocol
		 * type at offset 0, 20-byte header.  A deliberate improvement. */
		type = be16(pk + eth_offset);
		ip_offset = eth_offset + 20;
		break;
	case FC_DLT_IEEE802_11_RADIO: {
		const uint8_t *rt = pk + eth_offset;
		uint16_t radio_len = host16_le(rt + 2);
		uint32_t wifi_len = 0;
		const uint8_t *wifi;
		uint16_t fc;

		if ((rt[16] & 0x50) == 0x50)
			return DECODE_L2; /* bad FCS */
		if (caplen < eth_offset + radio_len + 24)
			return DECODE_L2;
		wifi = pk + eth_offset + radio_len;
		fc = host16_le(wifi);
		if (((fc >> 2) & 0x3) != 0x2)
			return DECODE_L2; /* not a data frame */
		if ((!!(fc & 0x0100)) != (!!(fc & 0x0200)))
			wifi_len = 26;
		memcpy(p->src_mac, wifi + 10, 6);
		memcpy(p->dst_mac, wifi + 16, 6);
		if (caplen < eth_offset + wifi_len + radio_len + 8)
			return DECODE_L2;
		if (pk[eth_offset + wifi_len + radio_len] == 0xaa)
			type = be16(pk + eth_offset + wifi_len + radio_len + 6);
		ip_offset = eth_offset + wifi_len + radio_len + 8;
		break;
	}
	case FC_DLT_RAW:
	case FC_DLT_RAW_LINKTYPE:
		ip_offset = eth_offset;
		if (caplen > eth_offset) {
			uint8_t v = pk[eth_offset] >> 4;

			if (v == 4)
				type = ETH_P_IPV4;
			else if (v == 6)
				type = ETH_P_IPV6;
		}
		break;
	default:
		return DECODE_LINKTYPE;
	}

	/* L2 shims: VLAN (innermost VID wins), MPLS, PPPoE, re-checked in a loop. */
	for (;;) {
		if (type == ETH_P_VLAN) {
			if (ip_offset + 4 >= caplen)
				return DECODE_L2;
			vlan_id = be16(pk + ip_offset) & 0xfff;
			type = be16(pk + ip_offset + 2);
			ip_offset += 4;
			while (type == ETH_P_VLAN && ip_offset + 4 < caplen) {
				vlan_id = be16(pk + ip_offset) & 0xfff;
				type = be16(pk + ip_offset + 2);
				ip_offset += 4;
			}
		} else if (type == ETH_P_MPLS_UC || type == ETH_P_MPLS_MC) {
			uint8_t bos;

			if (ip_offset + 4 >= caplen)
				return DECODE_L2;
			bos = pk[ip_offset + 2] & 0x01;
			type = ETH_P_IPV4;
			ip_offset += 4;
			while (!bos && ip_offset + 4 < caplen) {
				bos = pk[ip_offset + 2] & 0x01;
				ip_offset += 4;
			}
		} else if (type == ETH_P_PPPOE) {
			type = ETH_P_IPV4;
			ip_offset += 8;
		} else {
			break;
		}
	}

iph_check:
	if (caplen < ip_offset + 20)
		return DECODE_IP_TRUNC;
	iph = pk + ip_offset;
	if (type == ETH_P_IPV4) {
		frag_off = be16(iph + 6);
		proto = iph[9];
	}
	if ((iph[0] >> 4) == 4) {
		ip_len = (uint16_t)((iph[0] & 0x0f) * 4);
		iph6 = NULL;
		if (iph[9] == 41 || iph[9] == 4) {
			ip_offset += ip_len;
			if (ip_len > 0)
				goto iph_check;
		}
		if (frag_off & 0x1fff)
			return DECODE_FRAGMENT;
	} else if ((iph[0] >> 4) == 6) {
		const uint8_t *l4ptr;

		if (caplen < ip_offset + 40)
			return DECODE_IP_TRUNC;
		iph6 = pk + ip_offset;
		proto = iph6[6];
		ip_len = be16(iph6 + 4);
		if (caplen < ip_offset + 40 + ip_len)
			return DECODE_IP_TRUNC;
		l4ptr = iph6 + 40;
		if (ipv6_skip_ext((uint16_t)((uint16_t)(caplen - ip_offset) - 40), &l4ptr, &ip_len,
				  &proto))
			return DECODE_IPV6_EXT;
		if (proto == 41 || proto == 4) {
			ip_offset = (uint32_t)(l4ptr - pk);
			goto iph_check;
		}
		iph = NULL;
	} else {
		return DECODE_NOT_IP;
	}

	if (decode_tunnels && proto == 17) {
		/* For IPv6, ip_len is the payload length (NFStream's quirk): the
		 * "UDP header" read here is then not the real one. */
		uint32_t udp_off = ip_offset + ip_len;
		uint16_t sport, dport;

		if (caplen < udp_off + 8)
			return DECODE_TUNNEL;
		sport = be16(pk + udp_off);
		dport = be16(pk + udp_off + 2);
		if ((sport == GTP_U_PORT || dport == GTP_U_PORT) && udp_off + 8 + 8 < caplen) {
			uint32_t off = udp_off + 8;
			uint8_t flags = pk[off], msg_type = pk[off + 1];
			bool ext_err = false;

			if (((flags & 0xe0) >> 5) == 1 && msg_type == 0xff) {
				off += 8;
				if (flags & 0x07)
					off += 4;
				if (flags & 0x04) {
					while (off < caplen) {
						uint32_t ext_len = (uint32_t)pk[off] << 2;

						off += ext_len;
						if (off >= caplen || ext_len == 0) {
							ext_err = true;
							break;
						}
						if (pk[off - 1] == 0)
							break;
					}
				}
				if (off < caplen && !ext_err) {
					tunnel_id = FC_TUNNEL_GTP;
					ip_offset = off;
					if ((pk[off] >> 4) == 6) {
						if (caplen < ip_offset + 40)
							return DECODE_TUNNEL;
						iph6 = pk + off;
						iph = NULL;
					} else if ((pk[off] >> 4) != 4) {
						return DECODE_TUNNEL;
					} else {
						if (caplen < ip_offset + 20)
							return DECODE_TUNNEL;
						iph = pk + off;
					}
				}
			}
		} else if (sport == TZSP_PORT || dport == TZSP_PORT) {
			uint32_t off = udp_off + 8;

			if (caplen < off + 4)
				return DECODE_TUNNEL;
			/* Set before validation, as NFStream: an undecodable TZSP
			 * packet stays an outer flow with tunnel_id 3. */
			tunnel_id = FC_TUNNEL_TZSP;
			if (pk[off] == 1 && pk[off + 1] == 0 && be16(pk + off + 2) == 1) {
				off += 4;
				if (off < caplen) {
					/* NFStream's tag skip: only the first tag, and
					 * only its length byte (spec §1.2). */
					uint8_t tag_type = pk[off], tag_len;

					if (tag_type == 0 || tag_type == 1) {
						tag_len = 1;
					} else {
						if (off + 1 >= caplen)
							return DECODE_TUNNEL;
						tag_len = pk[off + 1];
					}
					off += tag_len;
					if (off >= caplen)
						return DECODE_TUNNEL;
					eth_offset = off;
					goto datalink;
				}
			}
		} else if (sport == CAPWAP_DATA_PORT || dport == CAPWAP_DATA_PORT) {
			uint32_t off = udp_off + 8;

			if (off + 1 < caplen && (pk[off] & 0x0f) == 0) {
				off += (uint32_t)(pk[off + 1] & 0xf8) >> 1;
				if (off + 32 < caplen) {
					/* 802.11 header: transmitter -> src, addr3 -> dst */
					memcpy(p->src_mac, pk + off + 10, 6);
					memcpy(p->dst_mac, pk + off + 16, 6);
					off += 24;
					type = be16(pk + off + 6);
					ip_offset = off + 8;
					tunnel_id = FC_TUNNEL_CAPWAP;
					goto iph_check;
				}
			}
		}
	}

	p->vlan_id = vlan_id;
	p->tunnel_id = tunnel_id;
	p->raw_size = (uint16_t)len; /* NFStream keeps raw_size as uint16 */
	p->ip = iph ? iph : iph6;
	p->ip_caplen = (uint16_t)(caplen - ip_offset);
	if (iph)
		return decode_ipv4(p, iph, p->ip_caplen);
	return decode_ipv6(p, iph6, p->ip_caplen);
}
