/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * struct flow: one bidirectional flow and NFStream's flow layer (spec
 * §1.4): creation from a first packet, per-packet update with direction,
 * byte/packet counters under the accounting mode, the optional post-mortem
 * statistics (Welford, as NFStream's C engine computes them) and SPLT.
 * L7 state is a struct dpi_flow owned by dpi.c.  No I/O, no globals.
 */
#ifndef FLOWSIGHT_FLOW_H
#define FLOWSIGHT_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "packet/decode.h"
#include "l7/dpi.h"

enum { FLOW_DIR_SRC2DST = 0, FLOW_DIR_DST2SRC = 1 };
enum { FLOW_SCOPE_BIDI = 0, FLOW_SCOPE_S2D = 1, FLOW_SCOPE_D2S = 2, FLOW_NSCOPES = 3 };

/* NFStream's expiration_id values, plus ours (documented in README). */
enum flow_expiry {
	FLOW_EXPIRY_IDLE = 0,    /* idle timeout, scan, or end of input */
	FLOW_EXPIRY_ACTIVE = 1,  /* active timeout, lazily on the flow's next packet */
	FLOW_EXPIRY_CUSTOM = -1, /* NFStream plugin-forced expiry (not produced yet) */
	FLOW_EXPIRY_MEMORY = 2,  /* ours: exported early, --max-flows-in-memory reached */
	FLOW_EXPIRY_TCP_END = 3, /* ours, dataset mode: the TCP connection ended (FIN
				  * handshake, RST, or a new SYN after a FIN) */
};

/* Statistics of one scope (bidirectional, src2dst or dst2src). */
struct flow_scope_stats {
	double mean_ps, m2_ps;     /* Welford over packet sizes */
	double mean_piat, m2_piat; /* Welford over inter-arrival times */
	uint64_t min_piat_ms, max_piat_ms;
	uint64_t flags[8]; /* syn, cwr, ece, urg, ack, psh, rst, fin */
	uint16_t min_ps, max_ps;
};

struct flow_stats {
	struct flow_scope_stats s[FLOW_NSCOPES];
};

struct flow_ds;

/* First packets of the flow: direction, size and bidirectional PIAT. */
struct flow_splt {
	int64_t *piat_ms;
	int32_t *ps;
	int8_t *dir;
};

/*
 * Plugins' values (the udps.* columns) and their private per-flow bytes,
 * in the flow's own allocation (the engine's), freed with it; the strings
 * and lists they hold are freed by flow_udps_free().
 * A value never set reads as None (an empty CSV field, JSON null).
 */
enum { UDP_NONE = 0, UDP_INT, UDP_FLOAT, UDP_STR, UDP_LIST };

struct udp_value {
	uint8_t type;     /* UDP_* */
	uint32_t n;       /* UDP_STR: length; UDP_LIST: items */
	union {
		int64_t i;
		double f;
		char *s;
		int64_t *list;
	} v;
};

struct flow_udps {
	uint32_t n;       /* values */
	uint8_t *state;   /* private bytes of the plugins, after v[] */
	struct udp_value v[];
};

/* Free the strings and lists @u holds (NULL is fine); @u goes with its flow. */
void flow_udps_free(struct flow_udps *u);

/*
 * Something a packet tap keeps with a flow (the pcapng writer's label):
 * put() drops the flow's reference when the flow is freed, on any thread.
 */
struct flow_tag {
	void (*put)(struct flow_tag *t);
};

struct flow {
	/* Hash and key first: a lookup touches one cache line. */
	uint64_t hash;
	uint8_t src_ip[16], dst_ip[16]; /* oriented by the first packet (spec §1.3) */
	uint16_t src_port, dst_port;
	uint16_t vlan_id;
	uint8_t protocol, ip_version, tunnel_id;
	uint8_t expiring;              /* engine: picked by this tick's expiry */
	uint8_t dataset;               /* dataset mode: flow_ds() after the statistics */
	struct flow *older, *newer;    /* flow_table creation order */
	struct flow *lru_prev, *lru_next; /* engine's last-seen order (memory cap, live idle scan) */
	uint8_t src_mac[6], dst_mac[6];
	/* Core counters: [0] src2dst, [1] dst2src. */
	uint64_t first_seen_ms, last_seen_ms;
	uint64_t dir_first_ms[2], dir_last_ms[2];
	uint64_t dir_packets[2], dir_bytes[2];
	struct flow_stats *stats; /* in the flow's own allocation; NULL without statistics */
	struct flow_splt splt;    /* idem; NULLs without --splt-analysis */
	struct dpi_flow dpi;
	/* The attribution step's early copy of the flow's owner (opaque here),
	 * malloc'ed, freed with the flow; NULL when none was taken. */
	void *proc_copy;
	struct flow_udps *udps; /* NULL without plugins */
	struct flow_tag *tag;   /* a packet tap's, released with the flow; NULL */
	uint64_t serial;        /* the flow's number in its session, from 1 (engine_opts.serials) */
	int8_t custom_expiry;   /* a plugin set expiration_id to -1 */
	uint64_t split_at_ms;   /* --split-on-owner: a packet from then on starts a new flow */
	/* Live: the capture's interfaces that carried its packets, FLOW_IFACE_BIT()
	 * of each (engine_flush_ifaces() when one goes away); 0 offline. */
	uint64_t ifaces;
	struct flow_pool *pool; /* the memory it came from (flow_pool.h); NULL: malloc */
};

/* An interface's bit in flow.ifaces: its position, those from 63 on share bit 63. */
#define FLOW_IFACE_BIT(i) (1ull << ((i) < 63 ? (i) : 63))

struct flow_opts {
	uint8_t accounting_mode;  /* 0 raw, 1 ip, 2 transport, 3 payload */
	bool statistics;
	uint16_t splt;            /* SPLT length, 0 = off */
	bool dataset;             /* ours: dataset mode (core/dataset.h) */
	uint64_t activity_timeout_us; /* dataset mode: a longer gap is an idle period */
};

/* Size of @p under accounting mode @mode (NFStream's flow_get_packet_size). */
static inline uint16_t flow_packet_size(const struct pkt *p, uint8_t mode)
{
	switch (mode) {
	case 0:
		return p->raw_size;
	case 1:
		return p->ip_size;
	case 2:
		return p->transport_size;
	default:
		return p->payload_size;
	}
}

/*
 * Fill a zeroed @f from its first packet.  @f must have been allocated with
 * flow_extra_bytes(@o) zeroed bytes after it: statistics, the dataset
 * state (set up by ds_init(), not here) and SPLT live there.
 */
void flow_init(struct flow *f, const struct flow_opts *o, const struct pkt *p);

/* Direction of @p relative to @f (NFStream's flow_set_packet_direction). */
int flow_direction(const struct flow *f, const struct pkt *p);

/* Account packet @p (time already clamped) travelling in direction @dir. */
void flow_update(struct flow *f, const struct flow_opts *o, const struct pkt *p, int dir);

/* Bytes a flow needs after struct flow under @o (statistics, dataset, SPLT). */
size_t flow_extra_bytes(const struct flow_opts *o);

/* Dataset mode's state of @f (core/dataset.h), right after its statistics,
 * or NULL outside dataset mode: found, not pointed to, so a flow is no
 * bigger in NFStream mode. */
static inline struct flow_ds *flow_ds(const struct flow *f)
{
	if (!f->dataset)
		return NULL;
	return (struct flow_ds *)(f->stats ? (const uint8_t *)(f->stats + 1) : (const uint8_t *)(f + 1));
}

#endif
