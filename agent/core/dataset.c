// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dataset mode's per-flow state machines (dataset.h).  Every time here is
 * the packet's clamped µs time; each rule is the one README "Dataset mode"
 * states, in the same words where possible.  Series keep exact integer
 * sums (or get them from the times: a scope's PIATs add up to its
 * duration); means and standard deviations are computed from them at
 * export, so they are reproducible by hand from the values alone.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"

size_t ds_bytes(const struct flow_opts *o)
{
	return sizeof(struct flow_ds) + (size_t)o->splt * sizeof(int64_t);
}

void ds_release(struct flow_ds *ds)
{
	free(ds->cold);
	ds->cold = NULL;
}

/* The cold part, allocated at its first use; NULL without memory. */
static struct ds_cold *cold(struct flow_ds *ds)
{
	if (ds->cold || (ds->tcp & DS_COLD_LOST))
		return ds->cold;
	ds->cold = calloc(1, sizeof(*ds->cold));
	if (!ds->cold)
		ds->tcp |= DS_COLD_LOST;
	else
		ds->cold->active_start_us = ds->dir_first_us[0]; /* no idle period yet */
	return ds->cold;
}

static inline ds_u128 sq(uint64_t x)
{
	return (ds_u128)x * x;
}

double ds_mean(const struct ds_series *s)
{
	return s->n ? (double)s->sum / (double)s->n : 0.0;
}

double ds_stddev(const struct ds_series *s)
{
	double k = (double)s->n;
	unsigned __int128 nsq;

	if (s->n < 2)
		return 0.0;
	if (s->sumsq_dbl > 0) {
		double m = (double)s->sum / k, v = (s->sumsq_dbl - m * (double)s->sum) / (k - 1);

		return v > 0 ? sqrt(v) : 0.0;
	}
	/* n * sumsq >= sum^2 (Cauchy-Schwarz); it fits in 128 bits unless a
	 * flow spans about 2^44 µs with 2^40 values: then in double */
	if (!__builtin_mul_overflow(s->n, (unsigned __int128)s->sumsq, &nsq))
		return sqrt((double)(nsq - sq(s->sum)) / (k * (k - 1)));
	{
		double m = (double)s->sum / k, v = ((double)s->sumsq - m * (double)s->sum) / (k - 1);

		return v > 0 ? sqrt(v) : 0.0;
	}
}

/* Bytes of the innermost IP packet before its payload: IP header(s),
 * extension headers, transport header (all of it for other protocols). */
static inline uint64_t header_bytes(const struct pkt *p)
{
	uint32_t total = p->ip_size + (p->ip_version == 6 ? 40u : 0u);

	return total > p->payload_size ? total - p->payload_size : 0;
}

static int32_t init_window(const struct pkt *p)
{
	return p->protocol == 6 && p->tcp_window_ok ? (int32_t)p->tcp_window : -1;
}

/* The rare case of piat_add(): the scope's sum of squares in double. */
static void piat_add_dbl(struct flow_ds *ds, int sc, uint64_t x)
{
	struct ds_piat *st = &ds->piat[sc];
	double d;

	if (ds->piat_dbl & 1u << sc) {
		memcpy(&d, &st->sumsq, sizeof(d));
	} else {
		d = (double)st->sumsq;
		ds->piat_dbl |= (uint8_t)(1u << sc);
	}
	d += (double)x * (double)x;
	memcpy(&st->sumsq, &d, sizeof(d));
}

/* A PIAT sample of scope @sc; @first: its first one. */
static inline void piat_add(struct flow_ds *ds, int sc, uint64_t x, bool first)
{
	struct ds_piat *st = &ds->piat[sc];
	uint64_t x2;

	if (first || x < st->min)
		st->min = x;
	if (x > st->max)
		st->max = x;
	if ((ds->piat_dbl & 1u << sc) || __builtin_mul_overflow(x, x, &x2) ||
	    __builtin_add_overflow(st->sumsq, x2, &x2))
		piat_add_dbl(ds, sc, x);
	else
		st->sumsq = x2;
}

/*
 * A gap of @gap > activity timeout after the packet at @last: the open
 * active period (from active_start_us to @last) closes, the gap is an idle
 * period, and the packet after it opens the next active period.
 */
static void period_close(struct flow_ds *ds, uint64_t last, uint64_t gap)
{
	struct ds_cold *c = cold(ds);
	struct ds_periods *pe;
	uint64_t act;

	if (!c)
		return;
	act = last - c->active_start_us;
	c->active_start_us = last + gap;
	pe = &c->per;

	if (!pe->n || act < pe->active_min)
		pe->active_min = act;
	if (act > pe->active_max)
		pe->active_max = act;
	pe->active_sumsq += sq(act);
	if (!pe->n || gap < pe->idle_min)
		pe->idle_min = gap;
	if (gap > pe->idle_max)
		pe->idle_max = gap;
	pe->idle_sum += gap;
	pe->idle_sumsq += sq(gap);
	pe->n++;
}

/*
 * A packet of direction @d with @size payload bytes at @t.  A run is a
 * sequence of one direction's payload packets with gaps <= 1 s and no
 * payload packet of the other direction between them; from its 4th packet
 * on it is a bulk.  Packets without payload neither extend nor break a run.
 */
static inline void bulk_packet(struct flow_ds *ds, int d, uint16_t size, uint64_t t)
{
	struct ds_run *r = &ds->run[d];
	struct ds_cold *c;
	struct ds_bulk *b;
	uint64_t prev;

	if (!size)
		return;
	ds->run[!d].n = 0;
	if (r->n && t - r->last_us > DS_BULK_GAP_US)
		r->n = 0;
	if (!r->n) {
		r->start_us = t;
		r->bytes = 0;
	}
	prev = r->last_us;
	r->last_us = t;
	if (r->n < DS_BULK_MIN_PACKETS) {
		r->bytes += size;
		if (++r->n < DS_BULK_MIN_PACKETS)
			return;
		/* the 4th packet: a bulk */
		c = cold(ds);
		if (!c)
			return;
		b = &c->bulk[d];
		c->bulk_count[d]++;
		b->packets += DS_BULK_MIN_PACKETS;
		b->bytes += r->bytes;
		b->duration_us += t - r->start_us;
		return;
	}
	r->n = DS_BULK_MIN_PACKETS + 1; /* counted no further */
	c = cold(ds);
	if (!c)
		return;
	b = &c->bulk[d];
	b->packets++;
	b->bytes += size;
	b->duration_us += t - prev;
}

/*
 * The TCP end: a RST ends the flow with it; a FIN of direction d is
 * acknowledged by a packet of the other direction whose ACK number reaches
 * the sequence number after that FIN; the flow ends with the packet after
 * which both directions' FINs are acknowledged.
 */
static inline void tcp_packet(struct flow_ds *ds, const struct pkt *p, int d)
{
	uint8_t fl = p->tcp_flags;

	if (p->protocol != 6 || !fl)
		return;
	if (fl & FC_TCP_RST) {
		ds->tcp |= DS_ENDED;
		return;
	}
	if ((fl & FC_TCP_ACK) && (ds->tcp & (d ? DS_FIN0 : DS_FIN1)) &&
	    (int32_t)(p->tcp_ack - ds->fin_end[!d]) >= 0)
		ds->tcp |= d ? DS_FIN0_ACKED : DS_FIN1_ACKED;
	if (fl & FC_TCP_FIN) {
		ds->tcp |= d ? DS_FIN1 : DS_FIN0;
		ds->fin_end[d] = p->tcp_seq + p->payload_size + 1;
	}
	if ((ds->tcp & (DS_FIN0_ACKED | DS_FIN1_ACKED)) == (DS_FIN0_ACKED | DS_FIN1_ACKED))
		ds->tcp |= DS_ENDED;
}

void ds_init(struct flow *f, const struct flow_opts *o, const struct pkt *p)
{
	struct flow_ds *ds = flow_ds(f);
	uint64_t t = p->time_us;

	ds->last_us = t;
	ds->dir_first_us[0] = ds->dir_last_us[0] = t;
	ds->subflows = 1;
	ds->init_window[0] = init_window(p);
	ds->init_window[1] = -1;
	ds->header_bytes[0] = header_bytes(p);
	if (o->splt) {
		int64_t *splt = ds_splt_us(ds);

		memset(splt, 0xff, (size_t)o->splt * sizeof(int64_t));
		splt[0] = 0;
	}
	bulk_packet(ds, 0, p->payload_size, t);
	tcp_packet(ds, p, 0);
}

void ds_update(struct flow *f, const struct flow_opts *o, const struct pkt *p, int dir)
{
	struct flow_ds *ds = flow_ds(f);
	uint64_t t = p->time_us;
	uint64_t gap = t - ds->last_us; /* the bidirectional PIAT, >= 0 by clamping */
	uint64_t n_bidi = f->dir_packets[0] + f->dir_packets[1];
	uint64_t n_dir = f->dir_packets[dir];

	if (o->splt && n_bidi - 1 < o->splt)
		ds_splt_us(ds)[n_bidi - 1] = (int64_t)gap;
	if (o->statistics) {
		piat_add(ds, FLOW_SCOPE_BIDI, gap, n_bidi == 2);
		if (n_dir > 1)
			piat_add(ds, dir ? FLOW_SCOPE_D2S : FLOW_SCOPE_S2D, t - ds->dir_last_us[dir],
				 n_dir == 2);
	}
	if (n_dir == 1) {
		ds->dir_first_us[dir] = t;
		ds->init_window[dir] = init_window(p);
	}
	ds->dir_last_us[dir] = t;
	if (gap > DS_SUBFLOW_GAP_US) {
		ds->subflows++;
		if (gap > o->activity_timeout_us)
			period_close(ds, ds->last_us, gap);
	} else if (gap > o->activity_timeout_us) {
		period_close(ds, ds->last_us, gap); /* an activity timeout below 1 s */
	}
	ds->last_us = t;
	ds->header_bytes[dir] += header_bytes(p);
	bulk_packet(ds, dir, p->payload_size, t);
	tcp_packet(ds, p, dir);
}

void ds_periods(const struct flow_ds *ds, struct ds_series *active, struct ds_series *idle)
{
	static const struct ds_periods none;
	const struct ds_periods *pe = ds->cold ? &ds->cold->per : &none;
	uint64_t start = ds->cold ? ds->cold->active_start_us : ds->dir_first_us[0];
	uint64_t open = ds->last_us - start;
	uint64_t closed = start - ds->dir_first_us[0] - pe->idle_sum;

	*idle = (struct ds_series){ .n = pe->n, .min = pe->idle_min, .max = pe->idle_max,
				    .sum = pe->idle_sum, .sumsq = pe->idle_sumsq };
	*active = (struct ds_series){
		.n = pe->n + 1,
		.min = pe->n && pe->active_min < open ? pe->active_min : open,
		.max = pe->n && pe->active_max > open ? pe->active_max : open,
		.sum = closed + open,
		.sumsq = pe->active_sumsq + sq(open),
	};
}

void ds_piats(const struct flow_ds *ds, int sc, uint64_t n, struct ds_series *out)
{
	const struct ds_piat *st = &ds->piat[sc];
	uint64_t first = sc == FLOW_SCOPE_D2S ? ds->dir_first_us[1] : ds->dir_first_us[0];
	uint64_t last = sc == FLOW_SCOPE_BIDI ? ds->last_us : ds->dir_last_us[sc - 1];

	if (n < 2) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = (struct ds_series){ .n = n - 1, .min = st->min, .max = st->max, .sum = last - first,
				   .sumsq = st->sumsq };
	if (ds->piat_dbl & 1u << sc)
		memcpy(&out->sumsq_dbl, &st->sumsq, sizeof(double));
}
