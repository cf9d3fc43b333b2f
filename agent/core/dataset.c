// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dataset mode's per-flow state machines (dataset.h).  Every time here is
 * the packet's clamped µs time; each rule is the one README "Dataset mode"
 * states, in the same words where possible.  Welford updates use the same
 * operation order as NFStream's (flow.c), so means are reproducible by
 * hand in that order.
 */
#include <math.h>
#include <string.h>

#include "core/dataset.h"

size_t ds_bytes(const struct flow_opts *o)
{
	return sizeof(struct flow_ds) + (size_t)o->splt * sizeof(int64_t);
}

static void series_add(struct ds_series *s, uint64_t x)
{
	double old = s->mean;

	s->n++;
	if (s->n == 1 || x < s->min)
		s->min = x;
	if (s->n == 1 || x > s->max)
		s->max = x;
	s->mean += ((double)x - old) / (double)s->n;
	s->m2 += ((double)x - old) * ((double)x - s->mean);
}

double ds_stddev(const struct ds_series *s)
{
	return s->n > 1 ? sqrt(s->m2 / (double)(s->n - 1)) : 0.0;
}

/* NFStream's PIAT statistics (flow.c scope_piat) for a scope of @n packets. */
static void piat_add(struct ds_piat *st, uint64_t piat, uint64_t n)
{
	double old;

	if (n == 2) {
		st->min = st->max = piat;
		st->mean = (double)piat;
		return;
	}
	if (piat > st->max)
		st->max = piat;
	if (piat < st->min)
		st->min = piat;
	old = st->mean;
	st->mean += ((double)piat - old) / (double)(n - 1);
	st->m2 += ((double)piat - old) * ((double)piat - st->mean);
}

/* Bytes of the innermost IP packet before its payload: IP header(s),
 * extension headers, transport header (all of it for other protocols). */
static uint64_t header_bytes(const struct pkt *p)
{
	uint32_t total = p->ip_size + (p->ip_version == 6 ? 40u : 0u);

	return total > p->payload_size ? total - p->payload_size : 0;
}

static int32_t init_window(const struct pkt *p)
{
	return p->protocol == 6 && p->tcp_window_ok ? (int32_t)p->tcp_window : -1;
}

/*
 * A packet of direction @d with @size payload bytes at @t.  A run is a
 * sequence of one direction's payload packets with gaps <= 1 s and no
 * payload packet of the other direction between them; from its 4th packet
 * on it is a bulk.  Packets without payload neither extend nor break a run.
 */
static void bulk_packet(struct flow_ds *ds, int d, uint16_t size, uint64_t t)
{
	struct ds_bulk *b = &ds->bulk[d];
	uint64_t prev;

	if (!size)
		return;
	ds->bulk[!d].run_n = 0;
	if (b->run_n && t - b->run_last_us > DS_BULK_GAP_US)
		b->run_n = 0;
	if (!b->run_n) {
		b->run_start_us = t;
		b->run_bytes = 0;
	}
	prev = b->run_last_us;
	b->run_n++;
	b->run_bytes += size;
	b->run_last_us = t;
	if (b->run_n == DS_BULK_MIN_PACKETS) {
		b->count++;
		b->packets += DS_BULK_MIN_PACKETS;
		b->bytes += b->run_bytes;
		b->duration_us += t - b->run_start_us;
	} else if (b->run_n > DS_BULK_MIN_PACKETS) {
		b->packets++;
		b->bytes += size;
		b->duration_us += t - prev;
	}
}

/*
 * The TCP end: a RST ends the flow with it; a FIN of direction d is
 * acknowledged by a packet of the other direction whose ACK number reaches
 * the sequence number after that FIN; the flow ends with the packet after
 * which both directions' FINs are acknowledged.
 */
static void tcp_packet(struct flow_ds *ds, const struct pkt *p, int d)
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

bool ds_restarts(const struct flow *f, const struct pkt *p)
{
	return p->protocol == 6 && (p->tcp_flags & (FC_TCP_SYN | FC_TCP_ACK)) == FC_TCP_SYN &&
	       (f->ds->tcp & (DS_FIN0 | DS_FIN1));
}

void ds_init(struct flow *f, const struct flow_opts *o, const struct pkt *p)
{
	struct flow_ds *ds = f->ds;
	uint64_t t = p->time_us;

	ds->first_us = ds->last_us = t;
	ds->dir_first_us[0] = ds->dir_last_us[0] = t;
	ds->active_start_us = t;
	ds->subflows = 1;
	ds->init_window[0] = init_window(p);
	ds->init_window[1] = -1;
	ds->header_bytes[0] = header_bytes(p);
	if (o->splt) {
		ds->splt_piat_us = (int64_t *)(ds + 1);
		memset(ds->splt_piat_us, 0xff, (size_t)o->splt * sizeof(int64_t));
		ds->splt_piat_us[0] = 0;
	}
	bulk_packet(ds, 0, p->payload_size, t);
	tcp_packet(ds, p, 0);
}

void ds_update(struct flow *f, const struct flow_opts *o, const struct pkt *p, int dir)
{
	struct flow_ds *ds = f->ds;
	uint64_t t = p->time_us;
	uint64_t gap = t - ds->last_us; /* the bidirectional PIAT, >= 0 by clamping */
	uint64_t n_bidi = f->dir_packets[0] + f->dir_packets[1];
	uint64_t n_dir = f->dir_packets[dir];

	if (o->splt && n_bidi - 1 < o->splt)
		ds->splt_piat_us[n_bidi - 1] = (int64_t)gap;
	if (o->statistics) {
		piat_add(&ds->piat[FLOW_SCOPE_BIDI], gap, n_bidi);
		if (n_dir > 1)
			piat_add(&ds->piat[dir ? FLOW_SCOPE_D2S : FLOW_SCOPE_S2D],
				 t - ds->dir_last_us[dir], n_dir);
	}
	if (n_dir == 1) {
		ds->dir_first_us[dir] = t;
		ds->init_window[dir] = init_window(p);
	}
	ds->dir_last_us[dir] = t;
	if (gap > o->activity_timeout_us) {
		series_add(&ds->active, ds->last_us - ds->active_start_us);
		series_add(&ds->idle, gap);
		ds->active_start_us = t;
	}
	if (gap > DS_SUBFLOW_GAP_US)
		ds->subflows++;
	ds->last_us = t;
	ds->header_bytes[dir] += header_bytes(p);
	bulk_packet(ds, dir, p->payload_size, t);
	tcp_packet(ds, p, dir);
}

void ds_periods(const struct flow_ds *ds, struct ds_series *active, struct ds_series *idle)
{
	*active = ds->active;
	series_add(active, ds->last_us - ds->active_start_us);
	*idle = ds->idle;
}
