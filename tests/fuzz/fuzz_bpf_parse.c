// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: the kernel's packet parser (bpf/parse.bpf.h, what
 * bpf/capture.bpf.c runs on every frame), compiled for userspace as is.
 * The parser only touches memory through its cursor [data, data_end), the
 * same bounds the verifier enforces in the kernel, so here it runs on an
 * exact-size heap copy of the skb's linear part and ASan sees any read
 * past data_end.
 *
 * Input: [flags][vlan_tci:2][linear:2][frame].  flags bit 0: the driver
 * removed an 802.1Q tag (skb->vlan_present, TCI as given); bit 1:
 * --decode-tunnels; bit 2: only the first `linear` bytes are linear data,
 * the rest of the frame sits in fragments the parser cannot see.
 *
 * Checked for every input:
 *   - OK results are self-consistent: headers inside the wire frame, the
 *     four accounting sizes nested, each mode's repeated-header part no
 *     larger than the size, the flow key canonical and the same from
 *     either end;
 *   - agent/packet/decode.c, given the wire frame (the removed tag put back),
 *     agrees: an OK frame decodes to the same addresses, ports, VLAN,
 *     protocol, TCP flags and sizes, and TRUNC, FRAGMENT, IPV6_EXT and
 *     NOT_IP are the same verdicts there.  PUNT is always allowed: it
 *     hands the frame to decode.c.
 * Any disagreement abort()s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet/decode.h"
#include "../../bpf/parse.bpf.h"

#define CHECK(cond, ...)                                              \
	do {                                                          \
		if (!(cond)) {                                        \
			fprintf(stderr, "fuzz_bpf_parse: " __VA_ARGS__); \
			fputc('\n', stderr);                          \
			abort();                                      \
		}                                                     \
	} while (0)

static void check_sizes(const struct fc_parsed *pp)
{
	__u32 hdr, size;

	CHECK(pp->ip_version == 4 || pp->ip_version == 6, "ip_version %u", pp->ip_version);
	CHECK(pp->l2_len >= 14 && pp->l2_len + pp->l3_hdr + pp->l4_hdr <= pp->wire_len,
	      "headers %u+%u+%u outside a %u-byte frame", pp->l2_len, pp->l3_hdr, pp->l4_hdr,
	      pp->wire_len);
	CHECK(pp->payload_size <= pp->transport_size && pp->l4_hdr <= pp->transport_size,
	      "transport %u, header %u, payload %u", pp->transport_size, pp->l4_hdr,
	      pp->payload_size);
	if (pp->protocol != 6 && pp->protocol != 17 && pp->protocol != 1 && pp->protocol != 58)
		CHECK(!pp->transport_size && !pp->payload_size && !pp->l4_hdr,
		      "protocol %u has transport sizes", pp->protocol);
	else if (pp->ip_version == 4)
		CHECK(pp->l3_hdr >= 20 && pp->l3_hdr + pp->transport_size == pp->ip_size,
		      "IPv4 header %u + transport %u != ip_size %u", pp->l3_hdr,
		      pp->transport_size, pp->ip_size);
	else
		CHECK(pp->l3_hdr >= 40 && pp->l3_hdr - 40 + pp->transport_size == pp->ip_size,
		      "IPv6 headers %u + transport %u != payload length %u", pp->l3_hdr,
		      pp->transport_size, pp->ip_size);
	for (__u8 mode = pp->wire_len > 0xffff ? 1 : 0; mode < 4; mode++) {
		size = fc_size(pp, mode, &hdr);
		CHECK(hdr <= size, "mode %u: repeated header %u > size %u", mode, hdr, size);
	}
}

/* (addr, port) order of the key's two ends. */
static int end_cmp(const __u8 *a, __u16 pa, const __u8 *b, __u16 pb)
{
	int c = memcmp(a, b, 16);

	return c ? c : (pa > pb) - (pa < pb);
}

static void check_key(const struct fc_parsed *pp)
{
	struct fc_flow_key k, r;
	int dir = fc_make_key(pp, &k), rdir;

	memset(&r, 0, sizeof(r));
	rdir = fc_key_make(&r, pp->dst, pp->src, pp->dport, pp->sport, pp->vlan_id, pp->protocol,
			   pp->ip_version);
	CHECK(end_cmp(k.addr_lo, k.port_lo, k.addr_hi, k.port_hi) <= 0, "key not canonical");
	CHECK(!memcmp(&k, &r, sizeof(k)), "key differs when seen from the other end");
	CHECK(end_cmp(pp->src, pp->sport, pp->dst, pp->dport) == 0 || dir != rdir,
	      "both ends give direction %d", dir);
	CHECK(!memcmp(dir ? k.addr_hi : k.addr_lo, pp->src, 16), "direction %d is wrong", dir);
}

/* The frame on the wire: the removed tag back after the MAC addresses. */
static uint8_t *wire_frame(const uint8_t *f, size_t n, int tagged, __u16 tci, size_t *wn)
{
	uint8_t *w = malloc(n + 4);

	if (!w)
		abort();
	if (!tagged) {
		memcpy(w, f, n);
		*wn = n;
		return w;
	}
	memcpy(w, f, 12);
	w[12] = 0x81;
	w[13] = 0x00;
	w[14] = (uint8_t)(tci >> 8);
	w[15] = (uint8_t)tci;
	memcpy(w + 16, f + 12, n - 12);
	*wn = n + 4;
	return w;
}

static void compare(int v, const struct fc_parsed *pp, const uint8_t *frame, size_t n,
		    int tagged, __u16 tci, int tunnels)
{
	struct pkt p;
	size_t wn;
	uint8_t *w;
	enum decode_verdict dv;

	if (v == FC_V_PUNT || (tagged && n < 12))
		return;
	w = wire_frame(frame, n, tagged, tci, &wn);
	dv = decode_frame(FC_DLT_EN10MB, w, (uint32_t)wn, (uint32_t)wn, tunnels, &p);
	free(w);
	switch (v) {
	case FC_V_OK:
		CHECK(dv == DECODE_OK, "kernel OK, decode.c says %s", decode_verdict_str(dv));
		CHECK(!memcmp(p.src_ip, pp->src, 16) && !memcmp(p.dst_ip, pp->dst, 16) &&
		      p.src_port == pp->sport && p.dst_port == pp->dport,
		      "5-tuple differs: ports %u>%u vs decode.c %u>%u", pp->sport, pp->dport,
		      p.src_port, p.dst_port);
		CHECK(p.protocol == pp->protocol && p.ip_version == pp->ip_version &&
		      p.vlan_id == pp->vlan_id && p.tcp_flags == pp->tcp_flags && !p.tunnel_id,
		      "proto %u/%u v%u/%u vlan %u/%u flags %x/%x tunnel %u", pp->protocol,
		      p.protocol, pp->ip_version, p.ip_version, pp->vlan_id, p.vlan_id,
		      pp->tcp_flags, p.tcp_flags, p.tunnel_id);
		CHECK(p.raw_size == (__u16)pp->wire_len && p.ip_size == pp->ip_size &&
		      p.transport_size == pp->transport_size && p.payload_size == pp->payload_size,
		      "sizes raw %u/%u ip %u/%u transport %u/%u payload %u/%u",
		      (__u16)pp->wire_len, p.raw_size, pp->ip_size, p.ip_size, pp->transport_size,
		      p.transport_size, pp->payload_size, p.payload_size);
		break;
	case FC_V_TRUNC:
		CHECK(dv == DECODE_TOO_SHORT, "kernel TRUNC, decode.c says %s",
		      decode_verdict_str(dv));
		break;
	case FC_V_FRAGMENT:
		CHECK(dv == DECODE_FRAGMENT, "kernel FRAGMENT, decode.c says %s",
		      decode_verdict_str(dv));
		break;
	case FC_V_IPV6_EXT:
		CHECK(dv == DECODE_IPV6_EXT, "kernel IPV6_EXT, decode.c says %s",
		      decode_verdict_str(dv));
		break;
	case FC_V_NOT_IP:
		/* decode.c checks for 20 bytes of IP header before the
		 * version nibble, so a short non-IP frame is "truncated"
		 * there: another counter, the same decision. */
		CHECK(dv == DECODE_NOT_IP || dv == DECODE_L2 ||
		      (dv == DECODE_IP_TRUNC && wn < pp->l2_len + 20),
		      "kernel NOT_IP, decode.c says %s", decode_verdict_str(dv));
		break;
	default:
		CHECK(0, "unknown verdict %d", v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fc_parsed pp;
	struct fc_cursor c;
	uint8_t flags, *lin;
	__u16 tci;
	size_t n, linear;
	int tagged, tunnels, v;

	if (size < 5)
		return 0;
	flags = data[0];
	tci = (__u16)(data[1] << 8 | data[2]);
	linear = (size_t)(data[3] << 8 | data[4]);
	data += 5;
	n = size - 5;
	tagged = flags & 1;
	tunnels = !!(flags & 2);
	if (!(flags & 4) || linear > n)
		linear = n;
	lin = malloc(linear ? linear : 1);
	if (!lin)
		return 0;
	memcpy(lin, data, linear);
	c.data = lin;
	c.data_end = lin + linear;
	memset(&pp, 0, sizeof(pp));
	v = fc_parse_eth(&c, &pp, (__u32)n, tagged, tci, tunnels);
	free(lin);
	CHECK(v >= FC_V_OK && v <= FC_V_IPV6_EXT, "verdict %d", v);
	CHECK(pp.wire_len == n + (tagged ? 4 : 0), "wire_len %u for %zu bytes", pp.wire_len, n);
	if (v == FC_V_OK) {
		check_sizes(&pp);
		check_key(&pp);
	}
	compare(v, &pp, data, n, tagged, tci, tunnels);
	return 0;
}
