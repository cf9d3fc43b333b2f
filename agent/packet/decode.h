/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Packet layer: one captured frame -> struct pkt (flow key fields, sizes
 * under every accounting mode, TCP flags, innermost IP header for nDPI).
 * Reproduces NFStream 6.5.4's packet_process() decisions (spec §1.2),
 * including its quirks, but never reads outside the captured bytes.
 * Owns no state; depends on nothing but libc.
 */
#ifndef FLOWSIGHT_DECODE_H
#define FLOWSIGHT_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* Link types we decode (numeric DLT values, so we need no libpcap here). */
#define FC_DLT_NULL 0
#define FC_DLT_EN10MB 1
#define FC_DLT_PPP 9
#define FC_DLT_RAW 12 /* OpenBSD value of DLT_RAW */
#define FC_DLT_PPP_SERIAL 50
#define FC_DLT_RAW_LINKTYPE 101 /* LINKTYPE_RAW as written in pcap files */
#define FC_DLT_C_HDLC 104
#define FC_DLT_LINUX_SLL 113
#define FC_DLT_IEEE802_11_RADIO 127
#define FC_DLT_IPV4 228
#define FC_DLT_IPV6 229
#define FC_DLT_LINUX_SLL2 276

/* TCP flag bits in struct pkt.tcp_flags (wire order of the flags byte). */
#define FC_TCP_FIN 0x01
#define FC_TCP_SYN 0x02
#define FC_TCP_RST 0x04
#define FC_TCP_PSH 0x08
#define FC_TCP_ACK 0x10
#define FC_TCP_URG 0x20
#define FC_TCP_ECE 0x40
#define FC_TCP_CWR 0x80

/* tunnel_id values, as nDPI's ndpi_packet_tunnel enum and NFStream. */
enum fc_tunnel { FC_TUNNEL_NONE = 0, FC_TUNNEL_GTP = 1, FC_TUNNEL_CAPWAP = 2, FC_TUNNEL_TZSP = 3 };

/* A captured frame as a source delivers it. */
struct frame {
	int dlt;            /* link type of data */
	uint16_t iface;     /* live: the capture's interface (its -i position); set by live sources only */
	const uint8_t *data;
	uint32_t caplen;    /* bytes at data */
	uint32_t len;       /* original frame length */
	uint64_t time_ms;   /* tv_sec * 1000 + tv_usec / 1000 (NFStream's truncation) */
	uint64_t time_us;   /* tv_sec * 1000000 + tv_usec (dataset mode's clock) */
};

/* Why a frame was ignored; DECODE_OK (0) means valid. */
#define DECODE_VERDICTS(X)                                                        \
	X(DECODE_OK, "ok")                                                        \
	X(DECODE_TOO_SHORT, "shorter than 28 bytes")                              \
	X(DECODE_LINKTYPE, "unsupported link type")                               \
	X(DECODE_L2, "non-IP or malformed link layer")                            \
	X(DECODE_NOT_IP, "not IPv4/IPv6")                                         \
	X(DECODE_IP_TRUNC, "IP header truncated")                                 \
	X(DECODE_FRAGMENT, "non-first fragment")                                  \
	X(DECODE_IPV6_EXT, "bad or terminal IPv6 extension header")               \
	X(DECODE_TUNNEL, "malformed tunnel encapsulation")

#define DECODE_ENUM(name, text) name,
enum decode_verdict { DECODE_VERDICTS(DECODE_ENUM) DECODE__MAX };
#undef DECODE_ENUM

const char *decode_verdict_str(enum decode_verdict v);

struct pkt {
	uint64_t time_ms;
	uint64_t time_us;   /* the frame's, µs; the engine clamps it in dataset mode only */
	uint8_t src_ip[16]; /* IPv4 uses the first 4 bytes, the rest is 0 */
	uint8_t dst_ip[16];
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint16_t src_port; /* host order; 0 unless TCP/UDP with full header */
	uint16_t dst_port;
	uint16_t vlan_id;
	uint8_t protocol;
	uint8_t ip_version;
	uint8_t tunnel_id;
	uint8_t tcp_flags;
	/* Sizes per accounting mode 0..3 (NFStream keeps each as uint16). */
	uint16_t raw_size;
	uint16_t ip_size;
	uint16_t transport_size;
	uint16_t payload_size;
	/* TCP (dataset mode): the window field of a header captured up to it
	 * (tcp_window_ok), and the sequence and acknowledgement numbers, valid
	 * whenever tcp_flags was read (14 header bytes captured). */
	uint16_t tcp_window;
	/* Innermost IP header to end of capture (what nDPI is given). */
	const uint8_t *ip;
	uint16_t ip_caplen;
	uint8_t tcp_window_ok;
	uint32_t tcp_seq;
	/* Transport payload inside the capture (may be shorter than payload_size). */
	const uint8_t *payload;
	uint16_t payload_caplen;
	uint16_t iface;     /* live: struct frame's iface (engine_decode), else 0 */
	uint32_t tcp_ack;
};

/*
 * Decode one frame of link type @dlt.  @caplen bytes at @frame were captured
 * from an original frame of @len bytes.  Fills @p (time_ms excepted) and
 * returns DECODE_OK, or the reason the frame is ignored.
 */
enum decode_verdict decode_frame(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t len,
				 bool decode_tunnels, struct pkt *p);

/* True when flowsight knows how to decode link type @dlt. */
bool decode_dlt_supported(int dlt);

#endif
