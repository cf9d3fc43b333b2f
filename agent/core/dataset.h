/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Dataset mode (ours, --dataset-mode): what traffic-ML datasets ask of a
 * flow meter and NFStream does not give (its issues #40, #193, #231, #24,
 * #118), kept beside NFStream's flow layer without changing it:
 *
 *  - TCP connections end their flow (expiration_id 3): with the packet
 *    after which both FINs are acknowledged, with the first RST, or, when a
 *    FIN was seen, before a new SYN (without ACK) of the same 5-tuple;
 *  - microsecond times: first/last seen and durations per scope, PIATs
 *    (with statistics) and the SPLT PIATs (with SPLT), on a µs meter clock
 *    clamped like NFStream's ms clock;
 *  - CICFlowMeter-style features: rates, active and idle periods (split at
 *    gaps > activity_timeout), subflows (gaps > 1 s), bulks (4 or more
 *    consecutive payload packets of one direction, gaps <= 1 s), header
 *    bytes and initial TCP windows per direction.
 *
 * README "Dataset mode" states every rule and formula.  Pure per-flow state
 * machines: no I/O, no globals; the engine calls them only in dataset mode.
 */
#ifndef FLOWSIGHT_DATASET_H
#define FLOWSIGHT_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/flow.h"

/* Gaps longer than these split subflows and bulks (CICFlowMeter's 1 s). */
#define DS_SUBFLOW_GAP_US 1000000ULL
#define DS_BULK_GAP_US 1000000ULL
/* Packets in a run of one direction's payload packets that make a bulk. */
#define DS_BULK_MIN_PACKETS 4

/* 8-byte aligned: the state sits after the statistics, at any multiple of 8 */
typedef unsigned __int128 ds_u128 __attribute__((aligned(8)));

/*
 * A series of non-negative integers (µs) as the export sees it: count,
 * extremes and exact sums, from which ds_mean() and ds_stddev() compute
 * at export.  Integer sums cost less per packet than Welford's divisions
 * and accumulate no rounding, so the values are reproducible by hand.
 */
struct ds_series {
	uint64_t n;
	uint64_t min, max;
	uint64_t sum;
	ds_u128 sumsq;
	double sumsq_dbl; /* instead of sumsq when > 0 (a 64-bit PIAT sum overflowed) */
};

/*
 * PIATs of a scope: its packets - 1 samples, whose sum is its duration.
 * The sum of squares is exact while it fits 64 bits: always with the
 * default timeouts (a PIAT is below the idle timeout, their sum is at most
 * the active timeout's, 1.2e8 * 1.8e9 < 2^64); beyond, it goes on in
 * double (flow_ds.piat_dbl).
 */
struct ds_piat {
	uint64_t min, max;
	uint64_t sumsq; /* a double's bits once piat_dbl has the scope's bit */
};

/* One direction's run of payload packets (bulk detection). */
struct ds_run {
	uint64_t start_us, last_us;
	uint32_t bytes; /* of its first DS_BULK_MIN_PACKETS packets */
	uint32_t n;     /* packets, counted up to DS_BULK_MIN_PACKETS + 1 */
};

/* The closed active periods and the idle periods, as many of each. */
struct ds_periods {
	uint64_t n;
	uint64_t idle_min, idle_max, idle_sum;
	ds_u128 idle_sumsq;
	uint64_t active_min, active_max; /* their sum: the time before the open
					  * period minus the idle sum */
	ds_u128 active_sumsq;
};

/* One direction's bulks so far (their number: flow_ds.bulk_count). */
struct ds_bulk {
	uint64_t packets;     /* packets in bulks */
	uint64_t bytes;       /* payload bytes in bulks */
	uint64_t duration_us; /* sum of each bulk's last - first packet time */
};

/* TCP end state (flags of struct flow_ds.tcp). */
#define DS_FIN0 0x01       /* direction 0 sent a FIN */
#define DS_FIN1 0x02
#define DS_FIN0_ACKED 0x04 /* direction 1 acknowledged it */
#define DS_FIN1_ACKED 0x08
#define DS_ENDED 0x10      /* the flow ended with its last packet */
#define DS_COLD_LOST 0x20  /* no memory for struct ds_cold: its columns read -1 */

/*
 * What only a flow with an idle period or a bulk needs (about one flow in
 * six in mixed traffic): allocated then, freed with the flow, so the other
 * flows stay smaller.
 */
struct ds_cold {
	uint64_t active_start_us;     /* first packet of the open active period */
	struct ds_periods per;
	struct ds_bulk bulk[2];
	uint64_t bulk_count[2];
};

/*
 * What every packet updates comes first (the engine prefetches it with the
 * flow: DS_HOT_BYTES); what the first packets, long gaps and bulks touch
 * follows.  Kept small: every byte here is a byte of every cached flow.
 * With SPLT, the o->splt µs PIATs follow the structure (ds_splt_us()).
 */
struct flow_ds {
	uint64_t last_us, dir_last_us[2];
	uint64_t header_bytes[2];
	uint32_t fin_end[2];          /* sequence number after each side's FIN */
	uint32_t subflows;
	uint8_t tcp;                  /* DS_* */
	uint8_t piat_dbl;             /* bit s: piat[s].sumsq is a double */
	struct ds_run run[2];
	struct ds_piat piat[FLOW_NSCOPES]; /* with statistics */
	/* cold */
	uint64_t dir_first_us[2];     /* [0]: the flow's first packet */
	struct ds_cold *cold;         /* NULL until the first idle period or bulk */
	int32_t init_window[2];       /* -1: no TCP window seen first */
};

#define DS_HOT_BYTES offsetof(struct flow_ds, dir_first_us)

/* The µs SPLT PIATs (with --splt-analysis). */
static inline int64_t *ds_splt_us(const struct flow_ds *ds)
{
	return (int64_t *)(ds + 1);
}

/* Bytes after struct flow's statistics that dataset mode needs under @o. */
size_t ds_bytes(const struct flow_opts *o);

/* Free what @ds holds besides itself (its cold part); with the flow. */
void ds_release(struct flow_ds *ds);

/* Set up flow_ds(@f) (placed by flow_init()) from @f's first packet @p. */
void ds_init(struct flow *f, const struct flow_opts *o, const struct pkt *p);

/*
 * Account @p, direction @dir, in flow_ds(@f); flow_update() has already counted
 * it in @f.  Afterwards ds_ended(@f) says whether the flow ends with it.
 */
void ds_update(struct flow *f, const struct flow_opts *o, const struct pkt *p, int dir);

static inline bool ds_ended(const struct flow *f)
{
	return flow_ds(f)->tcp & DS_ENDED;
}

/* @p, not yet counted, starts a new connection on @f's 5-tuple: a SYN
 * without ACK after either side sent a FIN.  @f then ends before it. */
static inline bool ds_restarts(const struct flow *f, const struct pkt *p)
{
	return (p->tcp_flags & (FC_TCP_SYN | FC_TCP_ACK)) == FC_TCP_SYN && p->protocol == 6 &&
	       (flow_ds(f)->tcp & (DS_FIN0 | DS_FIN1));
}

/*
 * The export view of active and idle periods: the closed ones plus the
 * active period still open at the flow's last packet.
 */
void ds_periods(const struct flow_ds *ds, struct ds_series *active, struct ds_series *idle);
/* The export view of scope @sc's PIATs (@n packets in the scope). */
void ds_piats(const struct flow_ds *ds, int sc, uint64_t n, struct ds_series *out);

/* Mean of @s: sum / n (0.0 when empty). */
double ds_mean(const struct ds_series *s);
/* Sample standard deviation (n - 1) of @s: sqrt((n * sumsq - sum^2) / (n * (n - 1))),
 * the numerator exact in 128 bits; 0.0 below two values. */
double ds_stddev(const struct ds_series *s);

#endif
