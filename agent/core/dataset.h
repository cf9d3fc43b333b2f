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
#include <stdint.h>

#include "core/flow.h"

/* Gaps longer than these split subflows and bulks (CICFlowMeter's 1 s). */
#define DS_SUBFLOW_GAP_US 1000000ULL
#define DS_BULK_GAP_US 1000000ULL
/* Packets in a run of one direction's payload packets that make a bulk. */
#define DS_BULK_MIN_PACKETS 4

/* Count, mean and M2 (Welford, in double) and the extremes of a series. */
struct ds_series {
	uint64_t n;
	uint64_t min, max;
	double mean, m2;
};

/* One direction's bulk detector and its totals. */
struct ds_bulk {
	uint64_t run_start_us, run_last_us, run_bytes; /* the current run */
	uint32_t run_n;
	uint32_t count;       /* bulks */
	uint64_t packets;     /* packets in bulks */
	uint64_t bytes;       /* payload bytes in bulks */
	uint64_t duration_us; /* sum of each bulk's last - first packet time */
};

/* NFStream's PIAT statistics of one scope, on the µs clock. */
struct ds_piat {
	uint64_t min, max;
	double mean, m2;
};

/* TCP end state (flags of struct flow_ds.tcp). */
#define DS_FIN0 0x01       /* direction 0 sent a FIN */
#define DS_FIN1 0x02
#define DS_FIN0_ACKED 0x04 /* direction 1 acknowledged it */
#define DS_FIN1_ACKED 0x08
#define DS_ENDED 0x10      /* the flow ended with its last packet */

struct flow_ds {
	uint64_t first_us, last_us;
	uint64_t dir_first_us[2], dir_last_us[2];
	uint64_t active_start_us;     /* first packet of the open active period */
	struct ds_series active, idle; /* closed active periods; idle gaps */
	uint64_t subflows;
	uint64_t header_bytes[2];
	struct ds_bulk bulk[2];
	int32_t init_window[2];       /* -1: no TCP window seen first */
	uint32_t fin_end[2];          /* sequence number after each side's FIN */
	uint8_t tcp;                  /* DS_* */
	struct ds_piat piat[FLOW_NSCOPES]; /* with statistics */
	int64_t *splt_piat_us;        /* with SPLT: o->splt values, -1 padded */
};

/* Bytes after struct flow's statistics that dataset mode needs under @o. */
size_t ds_bytes(const struct flow_opts *o);

/* Set up @f->ds (placed by flow_init()) from @f's first packet @p. */
void ds_init(struct flow *f, const struct flow_opts *o, const struct pkt *p);

/*
 * Account @p, direction @dir, in @f->ds; flow_update() has already counted
 * it in @f.  Afterwards ds_ended(@f) says whether the flow ends with it.
 */
void ds_update(struct flow *f, const struct flow_opts *o, const struct pkt *p, int dir);

static inline bool ds_ended(const struct flow *f)
{
	return f->ds->tcp & DS_ENDED;
}

/* @p, not yet counted, starts a new connection on @f's 5-tuple: a SYN
 * without ACK after either side sent a FIN.  @f then ends before it. */
bool ds_restarts(const struct flow *f, const struct pkt *p);

/*
 * The export view of active and idle periods: the closed ones plus the
 * active period still open at the flow's last packet.
 */
void ds_periods(const struct flow_ds *ds, struct ds_series *active, struct ds_series *idle);

/* Sample standard deviation of @s (n - 1), 0.0 below two values. */
double ds_stddev(const struct ds_series *s);

#endif
