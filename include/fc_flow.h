/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The flow ABI between bpf/capture.bpf.c and agent/capture/capture_ebpf.c, and the
 * meter both sides run: the kernel adds packets to a struct fc_meter in a
 * hash-map value under its bpf_spin_lock; userspace merges the drained
 * meters of successive intervals (and the packets punted to it) with the
 * functions below, then derives NFStream's columns from the sums.  Being
 * one header compiled by clang -target bpf and by gcc, the two sides
 * cannot drift.
 *
 * Units: times are CLOCK_REALTIME milliseconds (NFStream's time_ms), sizes
 * are bytes under the accounting mode chosen at load time, directions are
 * canonical: 0 = sent by the key's lower endpoint (addr_lo, port_lo).
 * All fields host byte order unless the type says __be.
 */
#ifndef FC_FLOW_H
#define FC_FLOW_H

#include "fc_common.h"

#ifndef __VMLINUX_H__
#include <linux/bpf.h> /* struct bpf_spin_lock */
#endif

#ifndef FC_INLINE
#ifdef __VMLINUX_H__
#define FC_INLINE static __always_inline
#else
#define FC_INLINE static inline
#endif
#endif

/* Bidirectional flow key, canonical: (addr_lo, port_lo) <= (addr_hi, port_hi)
 * comparing the address bytes first, then the port. */
struct fc_flow_key {
	__u8 addr_lo[16]; /* IPv4 in the first 4 bytes, rest zero */
	__u8 addr_hi[16];
	__u16 port_lo;    /* 0 unless TCP/UDP */
	__u16 port_hi;
	__u16 vlan_id;
	__u8 protocol;
	__u8 ip_version;
};

/* Inter-arrival times (ms) of a scope's packets 2..n. */
struct fc_piat {
	__u64 sum, sumsq;
	__u64 min, max;
};

/* One direction of one flow during one drain interval. */
struct fc_dir_meter {
	__u64 packets;
	__u64 bytes;
	__u64 first_ms, last_ms;
	__u64 ps_sum, ps_sumsq;
	struct fc_piat piat; /* of this direction's packets in the interval */
	__u32 ps_min, ps_max;
	__u32 flags[8]; /* syn cwr ece urg ack psh rst fin: NFStream's column order */
};

struct fc_meter {
	struct fc_dir_meter dir[2];
	__u64 first_ms, last_ms;
	struct fc_piat piat; /* bidirectional */
};

/* fc_flow_val.flags */
#define FC_VAL_NEW 0x01         /* the interval's first packet was the flow's first ever */
#define FC_VAL_SAMPLE_DONE 0x02 /* no more samples wanted (cached from fc_flow_ctl) */
#define FC_VAL_GSO 0x04         /* a GSO/GRO super-packet was split into segments */
#define FC_VAL_NOCTL 0x08       /* the ctl map was full: sampling state unknown */

/* Value of the interval flow maps (flows_a/flows_b).  An entry stays in
 * its map across intervals: only the fields of the interval it is stamped
 * with are current, the first packet of a later one resets them. */
struct fc_flow_val {
	struct bpf_spin_lock lock;
	__u32 ifindex;     /* first interface that saw the flow: others are duplicates */
	__u8 first_dir;    /* direction of the interval's first packet */
	__u8 flags;        /* FC_VAL_* */
	__u8 _pad[2];
	__u32 interval;    /* the drain interval m belongs to */
	struct fc_meter m;
};

/* Value of the long-lived ctl map: sampling state of a flow, kept across
 * intervals.  The kernel creates it with a flow's first packet; userspace
 * sets done when dissection needs no more packets and deletes it when the
 * flow expires.  While a flow is sampled its packets have no interval map
 * entry: each is a sample, metered by userspace from the event. */
struct fc_flow_ctl {
	struct bpf_spin_lock lock; /* sample indexes are handed out under it */
	__u32 sampled; /* samples handed out (index of the next one) */
	__u32 done;
	/* interface of the flow's first packet (samples come from it only);
	 * past the samples, of its first packet in interval iv - 1 */
	__u32 ifindex;
	__u32 iv;      /* past the samples: 1 + the interval of its last FC_EV_METER */
	__u32 _pad;
};

/* Ring-buffer records. */
enum fc_event_type {
	/* one of a flow's first packets, not metered in the kernel: userspace
	 * meters it from the event's size, hdr, gso_size, segments and flags,
	 * which the kernel computed as it would have for its map */
	FC_EV_SAMPLE = 1,
	FC_EV_PACKET = 2, /* a packet the kernel did not meter: userspace meters it */
	/* a flow's first packet in an interval, past its samples: metered by
	 * userspace like a sample (no frame follows), so that a flow sending
	 * one packet per interval has no map entry to create, drain, find
	 * idle and delete; its second packet in the interval makes the entry */
	FC_EV_METER = 3,
};

/* Why a packet went to userspace as FC_EV_PACKET (enum fc_punt). */
#define FC_PUNT_REASONS(X)                                                  \
	X(FC_PUNT_NONE, "none")                                             \
	X(FC_PUNT_COMPLEX, "encapsulation the kernel parser leaves to userspace") \
	X(FC_PUNT_MAP_FULL, "flow map full")                                \
	X(FC_PUNT_MAP_BUSY, "flow map update failed")

#define FC_ENUM_ENTRY(name, text) name,
enum fc_punt { FC_PUNT_REASONS(FC_ENUM_ENTRY) FC_PUNT__MAX };

#define FC_SNAP_MAX 2048 /* largest sample copied into an event */

struct fc_event {
	__u32 type;      /* enum fc_event_type */
	__u32 ifindex;
	__u64 ts_ms;     /* clamped flow time for samples, packet time otherwise */
	struct fc_flow_key key; /* zero for FC_PUNT_COMPLEX: userspace decodes */
	__u32 len;       /* frame length on the wire (VLAN tags re-inserted) */
	__u32 caplen;    /* bytes of data that follow */
	__u32 idx;       /* FC_EV_SAMPLE: index of the packet in the flow's samples */
	__u16 gso_segs;  /* segments this skb stands for (1 if not GSO) */
	__u8 dir;        /* canonical direction (FC_EV_SAMPLE) */
	__u8 reason;     /* enum fc_punt */
	__u16 vlan_tci;  /* VLAN tag the driver removed, if vlan_tagged */
	__u8 vlan_tagged;
	/* FC_EV_SAMPLE and FC_EV_METER: what the kernel would add to its map */
	__u8 tcp_flags;  /* the packet's TCP flags (0 if not TCP) */
	__u16 gso_size;  /* payload bytes per GSO segment (0 if not GSO) */
	__u16 hdr;       /* header bytes each segment repeats (accounting mode) */
	__u32 size;      /* the packet's size under the accounting mode */
	__u32 interval;  /* the drain interval the program ran in */
	/* followed by caplen bytes of the frame, from its link-layer header */
};

/* Per-CPU counters: one X-macro names them for the kernel and userspace. */
#define FC_COUNTERS(X)                                                       \
	X(FC_CNT_PACKETS, "packets seen")                                    \
	X(FC_CNT_METERED, "packets metered in the kernel")                   \
	X(FC_CNT_GSO_SKBS, "metered GSO/GRO super-packets")                  \
	X(FC_CNT_SEGMENTS, "wire segments of metered GSO/GRO packets")         \
	X(FC_CNT_NOT_IP, "ignored: not IPv4/IPv6")                          \
	X(FC_CNT_TRUNC, "ignored: truncated or malformed header")           \
	X(FC_CNT_FRAGMENT, "ignored: non-first fragment")                   \
	X(FC_CNT_IPV6_EXT, "ignored: bad or terminal IPv6 extension header") \
	X(FC_CNT_DUP_IFACE, "ignored: flow already seen on another interface") \
	X(FC_CNT_PUNT_COMPLEX, "punted to userspace: complex encapsulation") \
	X(FC_CNT_PUNT_FULL, "punted to userspace: flow map full")           \
	X(FC_CNT_PUNT_BUSY, "punted to userspace: flow map update failed")  \
	X(FC_CNT_PUNT_LOST, "LOST: punted packet, ring buffer full")        \
	X(FC_CNT_SAMPLES, "samples sent")                                   \
	X(FC_CNT_SAMPLE_LOST, "samples lost: ring buffer full")             \
	X(FC_CNT_CTL_FULL, "flows without sampling state: ctl map full")    \
	X(FC_CNT_METER_EVENTS, "packets sent as meter events (first of their flow in an interval)")

enum fc_counter { FC_COUNTERS(FC_ENUM_ENTRY) FC_CNT__MAX };
#undef FC_ENUM_ENTRY

/* The one value of the per-CPU counters map: one lookup per packet. */
struct fc_counters {
	__u64 c[FC_CNT__MAX];
};

/* Load-time configuration (rodata). */
struct fc_capture_cfg {
	__u32 n_samples;       /* max(n_dissections, splt) packets sampled per flow */
	__u32 snaplen;         /* bytes copied per sample, <= FC_SNAP_MAX */
	__u8 accounting_mode;  /* 0 raw, 1 ip, 2 transport, 3 payload */
	__u8 decode_tunnels;   /* punt UDP 2152/5247/37008 to userspace */
	__u8 _pad[6];
};

/*
 * Canonical key of a packet from @src:@sport to @dst:@dport (16-byte
 * addresses, IPv4 in the first 4).  Returns the packet's direction: 0 when
 * the sender is the key's lower endpoint.
 */
FC_INLINE int fc_key_make(struct fc_flow_key *k, const __u8 *src, const __u8 *dst, __u16 sport,
			  __u16 dport, __u16 vlan_id, __u8 protocol, __u8 ip_version)
{
	int dir = 0, i;

	for (i = 0; i < 16; i++) {
		if (src[i] != dst[i]) {
			dir = src[i] > dst[i];
			goto ordered;
		}
	}
	dir = sport > dport;
ordered:
	if (!dir) {
		__builtin_memcpy(k->addr_lo, src, 16);
		__builtin_memcpy(k->addr_hi, dst, 16);
		k->port_lo = sport;
		k->port_hi = dport;
	} else {
		__builtin_memcpy(k->addr_lo, dst, 16);
		__builtin_memcpy(k->addr_hi, src, 16);
		k->port_lo = dport;
		k->port_hi = sport;
	}
	k->vlan_id = vlan_id;
	k->protocol = protocol;
	k->ip_version = ip_version;
	return dir;
}

/* One more gap after @n_before packets (the first gap sets min and max). */
FC_INLINE void fc_piat_add(struct fc_piat *p, __u64 n_before, __u64 gap)
{
	p->sum += gap;
	p->sumsq += gap * gap;
	if (n_before == 1 || gap < p->min)
		p->min = gap;
	if (n_before == 1 || gap > p->max)
		p->max = gap;
}

/*
 * Add @count packets of @size bytes seen at @t_ms in direction @d, of
 * which only the first carries a gap since the previous packet: the others
 * are segments of the same GSO/GRO super-packet (gap 0).  @t_ms must not
 * be older than m->last_ms (callers clamp).  TCP flags in wire order.
 */
FC_INLINE void fc_dir_add(struct fc_dir_meter *dm, __u64 t_ms, __u32 size, __u32 count)
{
	__u64 s = size;

	if (!dm->packets) {
		dm->first_ms = t_ms;
		dm->ps_min = dm->ps_max = size;
	} else {
		fc_piat_add(&dm->piat, dm->packets, t_ms - dm->last_ms);
	}
	if (count > 1)
		dm->piat.min = 0; /* the extra segments have gap 0 */
	if (size < dm->ps_min)
		dm->ps_min = size;
	if (size > dm->ps_max)
		dm->ps_max = size;
	dm->last_ms = t_ms;
	dm->packets += count;
	dm->bytes += s * count;
	dm->ps_sum += s * count;
	dm->ps_sumsq += s * s * count;
}

FC_INLINE void fc_flags_add(__u32 *flags, __u8 tcp_flags, __u32 count)
{
	flags[0] += !!(tcp_flags & 0x02) * count; /* SYN */
	flags[1] += !!(tcp_flags & 0x80) * count; /* CWR */
	flags[2] += !!(tcp_flags & 0x40) * count; /* ECE */
	flags[3] += !!(tcp_flags & 0x20) * count; /* URG */
	flags[4] += !!(tcp_flags & 0x10) * count; /* ACK */
	flags[5] += !!(tcp_flags & 0x08) * count; /* PSH */
	flags[6] += !!(tcp_flags & 0x04) * count; /* RST */
	flags[7] += !!(tcp_flags & 0x01) * count; /* FIN */
}

FC_INLINE void fc_meter_add(struct fc_meter *m, int d, __u64 t_ms, __u32 size, __u32 count,
			    __u8 tcp_flags)
{
	__u64 n = m->dir[0].packets + m->dir[1].packets;

	if (!n) {
		m->first_ms = t_ms;
	} else {
		fc_piat_add(&m->piat, n, t_ms - m->last_ms);
	}
	if (count > 1)
		m->piat.min = 0;
	m->last_ms = t_ms;
	fc_dir_add(&m->dir[d & 1], t_ms, size, count);
	fc_flags_add(m->dir[d & 1].flags, tcp_flags, count);
}

/* TCP flags every segment of a TSO/GRO super-packet carries; SYN, RST,
 * FIN, PSH and CWR are counted once (on the last segment). */
#define FC_TCP_PER_SEGMENT 0x70 /* URG ECE ACK */

/*
 * Add one skb of @size bytes (under the accounting mode) that stands for
 * @segs wire segments of @gso_size payload bytes each, every segment
 * repeating the @hdr header bytes: segs - 1 full segments and a last one
 * with the rest, all at @t_ms (gap 0 between them).  A normal packet has
 * segs <= 1.  Returns the number of packets counted.
 */
FC_INLINE __u32 fc_meter_add_skb(struct fc_meter *m, int d, __u64 t_ms, __u32 size, __u32 hdr,
				 __u32 gso_size, __u32 segs, __u8 tcp_flags)
{
	__u32 payload = size > hdr ? size - hdr : 0;
	__u32 full;

	if (segs <= 1 || !gso_size || segs > 0xffff) {
		fc_meter_add(m, d, t_ms, size, 1, tcp_flags);
		return 1;
	}
	full = (segs - 1) * gso_size;
	if (full >= payload) {
		fc_meter_add(m, d, t_ms, size, 1, tcp_flags);
		return 1;
	}
	fc_meter_add(m, d, t_ms, hdr + gso_size, segs - 1, tcp_flags & FC_TCP_PER_SEGMENT);
	fc_meter_add(m, d, t_ms, hdr + (payload - full), 1, tcp_flags);
	return segs;
}

#ifndef __VMLINUX_H__
/*
 * Userspace only: fold interval meter @b (later packets) into accumulated
 * meter @a.  The gap between @a's last packet and @b's first becomes one
 * more inter-arrival time, so the sums equal those of one meter fed with
 * every packet in order.
 */
/* Gaps of @nb later packets (@b) after @na packets (@a), @gap between. */
static inline void fc_piat_merge(struct fc_piat *a, __u64 na, const struct fc_piat *b, __u64 nb,
				 __u64 gap)
{
	fc_piat_add(a, na, gap);
	a->sum += b->sum;
	a->sumsq += b->sumsq;
	if (nb > 1 && b->min < a->min)
		a->min = b->min;
	if (nb > 1 && b->max > a->max)
		a->max = b->max;
}

static inline void fc_dir_merge(struct fc_dir_meter *a, const struct fc_dir_meter *b)
{
	if (!b->packets)
		return;
	if (!a->packets) {
		*a = *b;
		return;
	}
	fc_piat_merge(&a->piat, a->packets, &b->piat, b->packets,
		      b->first_ms > a->last_ms ? b->first_ms - a->last_ms : 0);
	if (b->ps_min < a->ps_min)
		a->ps_min = b->ps_min;
	if (b->ps_max > a->ps_max)
		a->ps_max = b->ps_max;
	/* @b is later, but for a packet metered out of order (a lost sample's
	 * packet in the kernel's map, its flow's other samples in userspace) */
	if (b->first_ms < a->first_ms)
		a->first_ms = b->first_ms;
	if (b->last_ms > a->last_ms)
		a->last_ms = b->last_ms;
	a->packets += b->packets;
	a->bytes += b->bytes;
	a->ps_sum += b->ps_sum;
	a->ps_sumsq += b->ps_sumsq;
	for (int i = 0; i < 8; i++)
		a->flags[i] += b->flags[i];
}

static inline void fc_meter_merge(struct fc_meter *a, const struct fc_meter *b)
{
	__u64 na = a->dir[0].packets + a->dir[1].packets;
	__u64 nb = b->dir[0].packets + b->dir[1].packets;

	if (!nb)
		return;
	if (!na) {
		*a = *b;
		return;
	}
	fc_piat_merge(&a->piat, na, &b->piat, nb,
		      b->first_ms > a->last_ms ? b->first_ms - a->last_ms : 0);
	if (b->first_ms < a->first_ms)
		a->first_ms = b->first_ms;
	if (b->last_ms > a->last_ms)
		a->last_ms = b->last_ms;
	fc_dir_merge(&a->dir[0], &b->dir[0]);
	fc_dir_merge(&a->dir[1], &b->dir[1]);
}
#endif

_Static_assert(sizeof(struct fc_flow_key) == 40, "fc_flow_key ABI");
_Static_assert(sizeof(struct fc_piat) == 32, "fc_piat ABI");
_Static_assert(sizeof(struct fc_dir_meter) == 120, "fc_dir_meter ABI");
_Static_assert(sizeof(struct fc_meter) == 288, "fc_meter ABI");
_Static_assert(sizeof(struct fc_flow_val) == 304, "fc_flow_val ABI");
_Static_assert(sizeof(struct fc_event) == 88, "fc_event ABI");
_Static_assert(sizeof(struct fc_flow_ctl) == 24, "fc_flow_ctl ABI");
_Static_assert(sizeof(struct fc_capture_cfg) == 16, "fc_capture_cfg ABI");

#endif
