// SPDX-License-Identifier: GPL-2.0-only
/*
 * eBPF live capture, userspace half: the engine's backend for flows the
 * kernel meters (ebpf_tc.c).  Work grows with flows, not packets: per flow
 * it handles the first packets (samples, for nDPI and SPLT) and one drained
 * map entry per drain interval.  Every drain interval it folds the kernel's
 * interval map into the flows (fc_meter_merge: the sums equal one meter fed
 * every packet) and runs the engine's expiry on the wall clock; before a
 * batch expires the kernel forgets those flows and one more drain collects
 * their last packets.  Samples are put in flow order by their index; punted
 * packets (complex encapsulations, map full) are decoded and metered here.
 * Statistics come from integer sums, not Welford updates: means and
 * standard deviations agree to the last few ulps (README).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet/decode.h"
#include "core/flow_table.h"
#include "core/engine.h"
#include "capture/capture.h"
#include "util/log.h"
#include "capture/source.h"
#include "capture/ebpf_tc.h"
#include "export/pcapng.h"
#include "capture/ifwatch.h"
#include "util/grow.h"

#define DRAIN_MAX_MS 1000
#define DRAIN_MIN_MS 100
#define POLL_MS 50
#define MAX_PENDING 8 /* out-of-order samples held per flow */

/* A sample that arrived before an earlier one of its flow: the event as
 * the kernel wrote it, then its frame. */
struct pending_sample {
	struct fc_event ev;
	uint8_t data[];
};

/*
 * Events and drained entries are handled in batches of up to BATCH: their
 * flows' hash buckets, then the flows, then their live state are
 * prefetched for the whole batch before any is handled, so that the cache
 * misses of a table of 100k flows overlap instead of adding up.
 */
#define BATCH 32

/* A ring-buffer event copied out of the ring, waiting for its batch. */
struct ev_slot {
	struct fc_event ev;
	uint8_t data[FC_SNAP_MAX];
};

/* Live state after struct flow and its statistics/SPLT in one allocation. */
struct lstate {
	struct fc_flow_key key;
	struct fc_meter acc;
	uint8_t src_dir;      /* canonical direction of the flow's src endpoint */
	bool oriented;
	bool punt_fed;        /* created by a punted packet: punts are its samples */
	bool sampling_done;   /* the kernel was told */
	uint32_t next_idx;    /* next sample index to process */
	uint64_t prev_sample_ms;
	struct pending_sample *pend[MAX_PENDING];
};

struct lctx {
	const struct capture_env *env;
	struct ebpf_capture *cap;
	struct dpi *dpi;
	struct engine *eng;
	struct engine_backend be;
	struct flow_opts fo;
	uint32_t n_samples;
	uint16_t splt;
	uint8_t n_dissections;
	bool tunnels;
	struct ev_slot *evb;  /* ring-buffer events waiting for flush_events() */
	int n_evb;
	struct fc_flow_key *forget; /* before_expire()'s keys for the kernel to forget */
	size_t forget_cap;
	uint64_t orphans, samples_late, punt_ignored, punt_metered;
	uint64_t sample_skbs, meter_skbs; /* FC_EV_SAMPLE and FC_EV_METER records metered */
	uint64_t records_metered; /* their packets (GSO segments counted) */
	/* drain(): FC_EV_METER records of the interval after the one being
	 * drained (settle_iv) wait here until its map entries are merged */
	bool settling;
	uint32_t settle_iv;
	struct fc_event *later;
	size_t n_later, later_cap;
	bool plugins;         /* the engine runs plugins on the samples */
	uint64_t kcnt[FC_CNT__MAX]; /* the kernel's counters as last published */
	char kkey[FC_CNT__MAX][24]; /* their names: FC_CNT_PUNT_FULL -> punt_full */
	struct pcapng_producer *prod; /* --pcapng-out: the samples and punted packets */
	struct snap_buf snap;
	struct ifwatch *watch; /* the interfaces by name */
	unsigned int *seen_gen; /* ifwatch_gen() of each interface when last followed */
	int n_ifs;
};

static struct lstate *LS(struct lctx *x, struct flow *f)
{
	return engine_flow_state(x->eng, f);
}

/* @f had packets on the interface of index @ifindex (flow.ifaces). */
static void tag(struct lctx *x, struct flow *f, uint32_t ifindex)
{
	int i = x->n_ifs == 1 ? 0 : ebpf_capture_iface_of(x->cap, (int)ifindex);

	if (i >= 0)
		f->ifaces |= FLOW_IFACE_BIT(i);
}

/* A pkt carrying just @k's fields in canonical order, for flow_table. */
static void key_pkt(const struct fc_flow_key *k, uint8_t tunnel, struct pkt *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->src_ip, k->addr_lo, 16);
	memcpy(p->dst_ip, k->addr_hi, 16);
	p->src_port = k->port_lo;
	p->dst_port = k->port_hi;
	p->vlan_id = k->vlan_id;
	p->protocol = k->protocol;
	p->ip_version = k->ip_version;
	p->tunnel_id = tunnel;
}

static struct flow *flow_find(struct lctx *x, const struct fc_flow_key *k, uint8_t tunnel)
{
	struct pkt p;

	key_pkt(k, tunnel, &p);
	return engine_flow_find(x->eng, &p, flow_table_hash(&p));
}

static struct flow *flow_create(struct lctx *x, const struct fc_flow_key *k, uint8_t tunnel)
{
	struct pkt p;
	struct flow *f;

	key_pkt(k, tunnel, &p);
	f = engine_flow_new(x->eng, &p, flow_table_hash(&p));
	if (!f)
		return NULL;
	LS(x, f)->key = *k; /* key, stats/SPLT pointers set; counters come later */
	return f;
}

/* Orient @f: its src is the endpoint that sent canonical direction @dir. */
static void orient(struct lctx *x, struct flow *f, uint8_t dir, const struct pkt *first)
{
	struct lstate *ls = LS(x, f);
	const struct fc_flow_key *k = &ls->key;

	if (ls->oriented)
		return;
	ls->oriented = true;
	ls->src_dir = dir;
	memcpy(f->src_ip, dir ? k->addr_hi : k->addr_lo, 16);
	memcpy(f->dst_ip, dir ? k->addr_lo : k->addr_hi, 16);
	f->src_port = dir ? k->port_hi : k->port_lo;
	f->dst_port = dir ? k->port_lo : k->port_hi;
	if (first) {
		memcpy(f->src_mac, first->src_mac, 6);
		memcpy(f->dst_mac, first->dst_mac, 6);
	}
}

/*
 * expire()'s view of @f: its last packet or sample and its first packet.
 * Kept, until finalize() sets the exported values, in the flow's own
 * first/last fields, which share a cache line with the list links that
 * expire() walks: the walk then never touches the live state.
 */
static void touch(struct lctx *x, struct flow *f)
{
	const struct lstate *ls = LS(x, f);
	uint64_t last = ls->acc.last_ms > ls->prev_sample_ms ? ls->acc.last_ms : ls->prev_sample_ms;

	engine_flow_seen(x->eng, f, ls->acc.first_ms ? ls->acc.first_ms : last, last);
}

static bool wants_samples(struct lctx *x, struct flow *f, uint32_t next_idx)
{
	bool dpi_more = x->dpi && !f->dpi.completed && next_idx < x->n_dissections;

	return dpi_more || next_idx < x->splt;
}

/* Packet number @idx of the flow, in order: SPLT and nDPI. */
/* Packet number @idx of the flow, in order: SPLT, nDPI and plugins. */
static void sample_in_order(struct lctx *x, struct flow *f, const struct pkt *p, uint32_t idx,
			    uint8_t dir, uint64_t ts_ms)
{
	struct lstate *ls = LS(x, f);
	uint64_t delta = idx && ts_ms > ls->prev_sample_ms ? ts_ms - ls->prev_sample_ms : 0;

	if (!ls->oriented)
		orient(x, f, dir, p);
	if (idx < x->splt) {
		f->splt.dir[idx] = dir == ls->src_dir ? 0 : 1;
		f->splt.ps[idx] = flow_packet_size(p, x->fo.accounting_mode);
		f->splt.piat_ms[idx] = (int64_t)delta;
	}
	ls->prev_sample_ms = ts_ms;
	ls->next_idx = idx + 1;
	touch(x, f);
	if ((x->dpi && idx < x->n_dissections) || x->plugins) {
		struct pkt q = *p;

		q.time_ms = ts_ms;
		engine_flow_sample(x->eng, f, &q, idx + 1, dir == ls->src_dir ? 0 : 1, delta,
				   x->dpi && idx < x->n_dissections);
	}
}

/* The frame of event @ev (@data) as it was on the wire: the VLAN tag the
 * driver removed put back (into @buf, FC_SNAP_MAX + 4 bytes) when there is
 * one.  Sets *@caplen and *@len; returns the frame. */
static const uint8_t *event_frame(const struct fc_event *ev, const uint8_t *data, uint8_t *buf,
				  uint32_t *caplen, uint32_t *len)
{
	*caplen = ev->caplen;
	*len = ev->len;
	if (!ev->vlan_tagged || *caplen < 12 || *caplen + 4 > FC_SNAP_MAX + 4)
		return data;
	memcpy(buf, data, 12);
	buf[12] = 0x81;
	buf[13] = 0x00;
	buf[14] = (uint8_t)(ev->vlan_tci >> 8);
	buf[15] = (uint8_t)ev->vlan_tci;
	memcpy(buf + 16, data + 12, *caplen - 12);
	*caplen += 4;
	*len += 4;
	return buf;
}

/* Decode a sampled frame; the VLAN tag the driver removed is put back. */
static enum decode_verdict decode_event(struct lctx *x, const struct fc_event *ev,
					const uint8_t *data, uint8_t *buf, struct pkt *p)
{
	uint32_t caplen, len;
	const uint8_t *fr = event_frame(ev, data, buf, &caplen, &len);

	return decode_frame(FC_DLT_EN10MB, fr, caplen, len, x->tunnels, p);
}

static void maybe_done(struct lctx *x, struct flow *f)
{
	struct lstate *ls = LS(x, f);

	if (!ls->sampling_done && !ls->punt_fed && !wants_samples(x, f, ls->next_idx)) {
		ls->sampling_done = true;
		/* the kernel stops by itself once it has handed out n_samples:
		 * a map update (a system call per flow) only when it would not */
		if (ls->next_idx < x->n_samples)
			ebpf_capture_samples_done(x->cap, &ls->key);
	}
}

static void process_pending(struct lctx *x, struct flow *f)
{
	struct lstate *ls = LS(x, f);
	uint8_t buf[FC_SNAP_MAX + 4];
	bool progress = true;

	while (progress) {
		progress = false;
		for (int i = 0; i < MAX_PENDING; i++) {
			struct pending_sample *ps = ls->pend[i];
			struct pkt p;

			if (!ps || ps->ev.idx != ls->next_idx)
				continue;
			if (decode_event(x, &ps->ev, ps->data, buf, &p) == DECODE_OK)
				sample_in_order(x, f, &p, ps->ev.idx, ps->ev.dir, ps->ev.ts_ms);
			else
				ls->next_idx++;
			free(ps);
			ls->pend[i] = NULL;
			progress = true;
		}
	}
}

/* A sampled or punted packet to the pcapng file, its removed VLAN tag put
 * back, on the interface it came from. */
static void tap_event(struct lctx *x, const struct fc_event *ev, const uint8_t *data,
		      struct flow *f)
{
	uint8_t buf[FC_SNAP_MAX + 4];
	uint32_t caplen, len;
	const uint8_t *fr = event_frame(ev, data, buf, &caplen, &len);
	int iface = x->n_ifs == 1 ? 0 : ebpf_capture_iface_of(x->cap, (int)ev->ifindex);

	pcapng_add(x->prod, iface < 0 ? 0 : (uint16_t)iface, ev->ts_ms * 1000, fr, caplen, len, f);
}

/*
 * A sample's packet into its flow's meter, as the kernel would have metered
 * it in its map (the event carries the kernel's size and header bytes under
 * the accounting mode, GSO and TCP flags), whatever userspace's decoder
 * makes of the frame.  In ring-buffer order: for one flow, the order in
 * which the kernel handed the indexes out, within the same millisecond.
 */
static void meter_event(struct lctx *x, struct lstate *ls, const struct fc_event *ev)
{
	uint64_t t = ev->ts_ms;

	if (t < ls->acc.last_ms)
		t = ls->acc.last_ms; /* another CPU's packet went first */
	x->records_metered += fc_meter_add_skb(&ls->acc, ev->dir & 1, t, ev->size, ev->hdr,
					      ev->gso_size, ev->gso_segs, ev->tcp_flags);
}

/* @f: the sample's flow, or NULL when it has none yet. */
static void on_sample(struct lctx *x, const struct fc_event *ev, const uint8_t *data,
		      struct flow *f)
{
	struct lstate *ls;
	uint8_t buf[FC_SNAP_MAX + 4];
	struct pkt p;

	if (!f) {
		f = flow_create(x, &ev->key, 0);
		if (!f)
			return;
	}
	ls = LS(x, f);
	meter_event(x, ls, ev);
	x->sample_skbs++;
	if (ev->idx == 0 && !ls->oriented) {
		/* orient before the tap labels the flow with its key */
		struct pkt q;

		if (decode_event(x, ev, data, buf, &q) == DECODE_OK)
			orient(x, f, ev->dir, &q);
	}
	if (x->prod) {
		if (!f->first_seen_ms)
			f->first_seen_ms = ev->ts_ms;
		tap_event(x, ev, data, f);
	}
	tag(x, f, ev->ifindex);
	if (ev->idx < ls->next_idx) {
		x->samples_late++;
		touch(x, f);
		return;
	}
	if (ev->idx > ls->next_idx) {
		/* another CPU's earlier packet is still in flight: hold it */
		for (int i = 0; i < MAX_PENDING; i++) {
			struct pending_sample *ps;

			if (ls->pend[i])
				continue;
			ps = malloc(sizeof(*ps) + ev->caplen);
			if (!ps)
				break;
			ps->ev = *ev;
			memcpy(ps->data, data, ev->caplen);
			ls->pend[i] = ps;
			return;
		}
		ls->next_idx = ev->idx; /* no room: skip the missing ones */
	}
	if (decode_event(x, ev, data, buf, &p) != DECODE_OK) {
		ls->next_idx = ev->idx + 1;
		return;
	}
	if (ev->idx == 0 && !ls->oriented) {
		orient(x, f, ev->dir, &p);
	} else if (ev->idx == 0) {
		/* oriented by its map entry first: the MACs come from here */
		memcpy(f->src_mac, ev->dir == ls->src_dir ? p.src_mac : p.dst_mac, 6);
		memcpy(f->dst_mac, ev->dir == ls->src_dir ? p.dst_mac : p.src_mac, 6);
	}
	sample_in_order(x, f, &p, ev->idx, ev->dir, ev->ts_ms);
	process_pending(x, f);
	maybe_done(x, f);
}

/* Header bytes every GSO segment repeats, under the accounting mode. */
static uint32_t pkt_hdr(const struct pkt *p, uint8_t mode, uint32_t raw_hdr)
{
	switch (mode) {
	case 0:
		return raw_hdr;
	case 1:
		return (uint32_t)(p->ip_size - p->payload_size);
	case 2:
		return (uint32_t)(p->transport_size - p->payload_size);
	default:
		return 0;
	}
}

static void on_punt(struct lctx *x, const struct fc_event *ev, const uint8_t *data)
{
	uint8_t buf[FC_SNAP_MAX + 4];
	struct fc_flow_key k;
	struct flow *f;
	struct lstate *ls;
	struct pkt p;
	enum decode_verdict v = decode_event(x, ev, data, buf, &p);
	uint64_t t = ev->ts_ms;
	uint32_t size, raw_hdr;
	int dir;

	if (v != DECODE_OK) {
		x->punt_ignored++;
		engine_stats_mut(x->eng)->ignored[v]++;
		if (x->prod)
			tap_event(x, ev, data, NULL);
		return;
	}
	memset(&k, 0, sizeof(k));
	dir = fc_key_make(&k, p.src_ip, p.dst_ip, p.src_port, p.dst_port, p.vlan_id, p.protocol,
			  p.ip_version);
	f = flow_find(x, &k, p.tunnel_id);
	if (!f) {
		f = flow_create(x, &k, p.tunnel_id);
		if (!f)
			return;
		LS(x, f)->punt_fed = true;
	}
	ls = LS(x, f);
	if (x->prod) {
		if (!f->first_seen_ms)
			f->first_seen_ms = t;
		tap_event(x, ev, data, f);
	}
	tag(x, f, ev->ifindex);
	x->punt_metered++;
	if (t < ls->acc.last_ms)
		t = ls->acc.last_ms;
	size = flow_packet_size(&p, x->fo.accounting_mode);
	raw_hdr = p.payload ? (uint32_t)(p.payload - (ev->vlan_tagged ? buf : data)) : size;
	fc_meter_add_skb(&ls->acc, dir, t, size, pkt_hdr(&p, x->fo.accounting_mode, raw_hdr),
			 0, ev->gso_segs, p.tcp_flags);
	if (ls->punt_fed && wants_samples(x, f, ls->next_idx))
		sample_in_order(x, f, &p, ls->next_idx, (uint8_t)dir, t);
	touch(x, f);
}

/*
 * The flows of the @n keys @k (tunnel 0) into @f, NULL where there is none
 * yet, prefetching each stage for all keys before the next.  @k[i] NULL:
 * skip slot i.
 */
static void find_batch(struct lctx *x, const struct fc_flow_key *const *k, int n,
		       struct flow **f)
{
	struct pkt p[BATCH];
	uint64_t h[BATCH];
	int i;

	for (i = 0; i < n; i++) {
		if (!k[i])
			continue;
		key_pkt(k[i], 0, &p[i]);
		h[i] = flow_table_hash(&p[i]);
		engine_prefetch_bucket(x->eng, h[i]);
	}
	for (i = 0; i < n; i++)
		if (k[i])
			engine_prefetch_flow(x->eng, h[i]);
	for (i = 0; i < n; i++) {
		f[i] = k[i] ? engine_flow_find(x->eng, &p[i], h[i]) : NULL;
		if (f[i]) {
			struct lstate *ls = LS(x, f[i]);

			__builtin_prefetch(ls);
			__builtin_prefetch(&ls->next_idx);
		}
	}
}

/* A flow's first packet of an interval past its samples (FC_EV_METER);
 * @f: its flow, or NULL when it has none. */
static void on_meter(struct lctx *x, const struct fc_event *ev, struct flow *f)
{
	struct lstate *ls;

	if (!f) {
		/* its flow expired here while the packet was on its way, or
		 * its sampling state was forgotten: as a map entry would */
		f = flow_create(x, &ev->key, 0);
		if (!f)
			return;
		x->orphans++;
	}
	ls = LS(x, f);
	if (!ls->oriented && !(ls->acc.dir[0].packets + ls->acc.dir[1].packets))
		orient(x, f, ev->dir, NULL);
	meter_event(x, ls, ev);
	x->meter_skbs++;
	tag(x, f, ev->ifindex);
	touch(x, f);
}

/* Handle the batched events in their ring-buffer order. */
static void flush_events(struct lctx *x)
{
	const struct fc_flow_key *k[BATCH] = { NULL };
	struct flow *f[BATCH];
	int i, n = x->n_evb;

	for (i = 0; i < n; i++)
		k[i] = x->evb[i].ev.type != FC_EV_PACKET ? &x->evb[i].ev.key : NULL;
	find_batch(x, k, n, f);
	for (i = 0; i < n; i++) {
		const struct ev_slot *e = &x->evb[i];

		/* NULL: maybe created by an earlier event of the batch */
		if (e->ev.type == FC_EV_SAMPLE)
			on_sample(x, &e->ev, e->data, f[i] ? f[i] : flow_find(x, k[i], 0));
		else if (e->ev.type == FC_EV_METER)
			on_meter(x, &e->ev, f[i] ? f[i] : flow_find(x, k[i], 0));
		else if (e->ev.type == FC_EV_PACKET)
			on_punt(x, &e->ev, e->data);
	}
	x->n_evb = 0;
}

/* Keep @ev for after the drain's map read (false: no memory; then it is
 * handled now, out of order by at most an interval). */
static bool hold_later(struct lctx *x, const struct fc_event *ev)
{
	if (grow_one(&x->later, &x->later_cap, x->n_later, 256))
		return false;
	x->later[x->n_later++] = *ev;
	return true;
}

/* @ev (@data: its ev->caplen bytes of frame) into the batch, handled when
 * it is full. */
static void queue_event(struct lctx *x, const struct fc_event *ev, const uint8_t *data)
{
	struct ev_slot *e = &x->evb[x->n_evb++];

	e->ev = *ev;
	memcpy(e->data, data, ev->caplen);
	if (x->n_evb == BATCH)
		flush_events(x);
}

/* Ring-buffer callback: events are copied out and handled by the batch. */
static void on_event(const struct fc_event *ev, const uint8_t *data, void *arg)
{
	struct lctx *x = arg;

	if (ev->caplen > FC_SNAP_MAX)
		return; /* the kernel never writes more */
	/* A meter record of the next interval, read while its flow's entry of
	 * the interval being drained is not merged yet: after it. */
	if (x->settling && ev->type == FC_EV_METER && (int32_t)(ev->interval - x->settle_iv) > 0 &&
	    hold_later(x, ev))
		return;
	queue_event(x, ev, data);
}

/* Every pending event handled before returning: callers rely on the order
 * of events against drains. */
static int poll_events(struct lctx *x, int timeout_ms)
{
	int r = ebpf_capture_poll(x->cap, timeout_ms, on_event, x);

	flush_events(x);
	return r;
}

static void consume_events(struct lctx *x)
{
	ebpf_capture_consume(x->cap, on_event, x);
	flush_events(x);
}

/* One drained entry; @f its flow or NULL. */
static void on_entry(struct lctx *x, const struct fc_flow_key *k, const struct fc_flow_val *v,
		     struct flow *f)
{
	struct lstate *ls;

	if (!f) {
		f = flow_create(x, k, 0);
		if (!f)
			return;
		/* first seen through the map, not a sample: a flow whose
		 * sampling state was already forgotten, or whose sample is
		 * still in the ring buffer */
		if (!(v->flags & FC_VAL_NEW))
			x->orphans++;
	}
	ls = LS(x, f);
	if (!ls->oriented && (v->flags & FC_VAL_NEW || !(ls->acc.dir[0].packets + ls->acc.dir[1].packets)))
		orient(x, f, v->first_dir, NULL);
	fc_meter_merge(&ls->acc, &v->m);
	tag(x, f, v->ifindex);
	touch(x, f);
}

static void on_entries(const struct fc_flow_key *k, const struct fc_flow_val *v, int n, void *arg)
{
	const struct fc_flow_key *kp[BATCH];
	struct flow *f[BATCH];
	struct lctx *x = arg;

	for (int b = 0; b < n; b += BATCH) {
		int m = n - b < BATCH ? n - b : BATCH;

		for (int i = 0; i < m; i++)
			kp[i] = &k[b + i];
		find_batch(x, kp, m, f);
		for (int i = 0; i < m; i++)
			on_entry(x, &k[b + i], &v[b + i], f[i]);
	}
}

/* Welford's m2 from integer sums: (n*sumsq - sum^2) / n, exactly in 128 bits. */
static double m2_of(uint64_t n, uint64_t sum, uint64_t sumsq)
{
	unsigned __int128 a, b;

	if (!n)
		return 0.0;
	a = (unsigned __int128)n * sumsq;
	b = (unsigned __int128)sum * sum;
	return a > b ? (double)(a - b) / (double)n : 0.0;
}

static void scope_from(struct flow_scope_stats *st, uint64_t n, uint64_t ps_sum, uint64_t ps_sumsq,
		       uint32_t ps_min, uint32_t ps_max, const struct fc_piat *piat)
{
	if (!n)
		return;
	st->mean_ps = (double)ps_sum / (double)n;
	st->m2_ps = m2_of(n, ps_sum, ps_sumsq);
	st->min_ps = (uint16_t)ps_min;
	st->max_ps = (uint16_t)ps_max;
	if (n > 1) {
		st->mean_piat = (double)piat->sum / (double)(n - 1);
		st->m2_piat = m2_of(n - 1, piat->sum, piat->sumsq);
		st->min_piat_ms = piat->min;
		st->max_piat_ms = piat->max;
	}
}

/* The flow's exported counters and statistics from its accumulated meter. */
static void finalize(struct lctx *x, struct flow *f)
{
	struct lstate *ls = LS(x, f);
	const struct fc_meter *m = &ls->acc;
	const struct fc_dir_meter *d[2] = { &m->dir[ls->src_dir], &m->dir[ls->src_dir ^ 1] };

	f->first_seen_ms = m->first_ms;
	f->last_seen_ms = m->last_ms;
	for (int i = 0; i < 2; i++) {
		f->dir_packets[i] = d[i]->packets;
		f->dir_bytes[i] = d[i]->bytes;
		f->dir_first_ms[i] = d[i]->packets ? d[i]->first_ms : 0;
		f->dir_last_ms[i] = d[i]->packets ? d[i]->last_ms : 0;
	}
	if (f->stats) {
		struct flow_scope_stats *b = &f->stats->s[FLOW_SCOPE_BIDI];
		uint64_t n = d[0]->packets + d[1]->packets;
		uint32_t mn = d[0]->packets ? d[0]->ps_min : d[1]->ps_min;
		uint32_t mx = d[0]->ps_max > d[1]->ps_max ? d[0]->ps_max : d[1]->ps_max;

		memset(f->stats, 0, sizeof(*f->stats));
		if (d[1]->packets && d[1]->ps_min < mn)
			mn = d[1]->ps_min;
		scope_from(b, n, d[0]->ps_sum + d[1]->ps_sum, d[0]->ps_sumsq + d[1]->ps_sumsq, mn, mx,
			   &m->piat);
		for (int i = 0; i < 2; i++) {
			struct flow_scope_stats *st = &f->stats->s[i ? FLOW_SCOPE_D2S : FLOW_SCOPE_S2D];

			scope_from(st, d[i]->packets, d[i]->ps_sum, d[i]->ps_sumsq, d[i]->ps_min,
				   d[i]->ps_max, &d[i]->piat);
			for (int b8 = 0; b8 < 8; b8++) {
				st->flags[b8] = d[i]->flags[b8];
				b->flags[b8] += d[i]->flags[b8];
			}
		}
	}
}

static void release_pending(struct lstate *ls)
{
	for (int i = 0; i < MAX_PENDING; i++) {
		free(ls->pend[i]);
		ls->pend[i] = NULL;
	}
}

/* engine_backend.finalize: a flow known only from samples whose packets the
 * map has not reported (a lost drain) is dropped. */
static bool be_finalize(struct flow *f, void *state, void *arg)
{
	struct lstate *ls = state;

	if (!(ls->acc.dir[0].packets + ls->acc.dir[1].packets))
		return false;
	finalize(arg, f);
	return true;
}

static void be_release(void *state, void *arg)
{
	(void)arg;
	release_pending(state);
}

static void drain_settled(uint32_t closed, void *arg)
{
	struct lctx *x = arg;

	x->settle_iv = closed;
	x->settling = true;
	consume_events(x);
	x->settling = false;
}

/*
 * The events written before the interval closed are metered before the
 * map's packets of it (drain_settled); meter records of the next interval
 * read then wait until those are merged; the rest follow.  (Samples need
 * no wait: a flow is sampled before it has map entries.)
 */
static int drain(struct lctx *x)
{
	static const uint8_t no_frame[1]; /* meter records carry none */
	int n = ebpf_capture_drain_batch(x->cap, drain_settled, on_entries, x);

	for (size_t i = 0; i < x->n_later; i++)
		queue_event(x, &x->later[i], no_frame);
	x->n_later = 0;
	consume_events(x);
	return n;
}

/*
 * engine_backend.before_expire: the kernel forgets the expiring flows in
 * one batch (their next packet starts a new flow), then one more drain
 * collects the packets that arrived before it did.
 */
static void be_before_expire(struct flow *const *fl, size_t n, void *arg)
{
	struct lctx *x = arg;
	size_t n_forget = 0;

	for (size_t i = 0; i < n; i++) {
		struct lstate *ls = LS(x, fl[i]);

		/* no memory: forgotten one by one */
		if (grow_one(&x->forget, &x->forget_cap, n_forget, 1024))
			ebpf_capture_forget(x->cap, &ls->key);
		else
			x->forget[n_forget++] = ls->key;
	}
	ebpf_capture_forget_many(x->cap, x->forget, n_forget);
	drain(x);
}

static void publish(struct lctx *x)
{
	struct engine_stats *es = engine_stats_mut(x->eng);
	struct { uint64_t recv, drop; } ks;
	uint64_t c[FC_CNT__MAX];

	ebpf_capture_counters(x->cap, c);
	/* a GSO/GRO skb counts as its wire segments */
	es->packets_processed = c[FC_CNT_METERED] - c[FC_CNT_GSO_SKBS] + c[FC_CNT_SEGMENTS] +
				x->punt_metered + x->records_metered;
	es->packets_ignored = c[FC_CNT_NOT_IP] + c[FC_CNT_TRUNC] + c[FC_CNT_FRAGMENT] +
			      c[FC_CNT_IPV6_EXT] + c[FC_CNT_DUP_IFACE] + x->punt_ignored;
	ks.recv = c[FC_CNT_PACKETS];
	ks.drop = c[FC_CNT_PUNT_LOST];
	/* the kernel's ignored packets by their reason, beside the decoder's */
	for (int i = 0; i < FC_CNT__MAX; i++)
		__atomic_store_n(&x->kcnt[i], c[i], __ATOMIC_RELAXED);
	session_meter_publish(x->env->session, 0, x->eng,
			      &(struct session_kstats){ .recv = ks.recv, .drop = ks.drop });
}

static void snap_one(void *arg, struct flow *f)
{
	struct lctx *x = arg;
	const struct lstate *ls = LS(x, f);
	const struct fc_dir_meter *d[2] = { &ls->acc.dir[ls->src_dir], &ls->acc.dir[ls->src_dir ^ 1] };
	struct fs_open_flow *o;

	if (!(d[0]->packets + d[1]->packets))
		return; /* samples only so far: the next drain counts it */
	o = snap_buf_add_flow(&x->snap, f, x->dpi);
	if (!o)
		return;
	o->first_seen_ms = ls->acc.first_ms;
	o->last_seen_ms = ls->acc.last_ms;
	o->src2dst_packets = d[0]->packets;
	o->src2dst_bytes = d[0]->bytes;
	o->dst2src_packets = d[1]->packets;
	o->dst2src_bytes = d[1]->bytes;
}

/* Answer a snapshot: drain the kernel's interval map first, so the
 * counters are those of now, then copy the flows. */
static void snapshot(struct lctx *x)
{
	drain(x);
	x->snap.taken_ms = session_wall_ms();
	engine_visit(x->eng, snap_one, x);
	session_snap_publish(x->env->session, 0, &x->snap);
}

/*
 * Follow the interfaces: one that went away has its last packets drained
 * and its flows exported; with --wait-interface its successor is attached
 * to.  False when the capture cannot go on.
 */
static bool follow_ifaces(struct lctx *x)
{
	struct session *s = x->env->session;

	ifwatch_poll(x->watch);
	for (int i = 0; i < x->n_ifs; i++) {
		unsigned int gen = ifwatch_gen(x->watch, (size_t)i);
		int cur = ebpf_capture_ifindex(x->cap, i), now = ifwatch_ifindex(x->watch, i);
		const char *name = ifwatch_name(x->watch, (size_t)i);
		bool changed = gen != x->seen_gen[i];
		int err;

		x->seen_gen[i] = gen;
		if (cur && (cur != now || changed)) {
			ebpf_capture_iface_gone(x->cap, i);
			/* its programs have returned once the drain has waited for them */
			if (drain(x) < 0)
				return false;
			engine_flush_ifaces(x->eng, FLOW_IFACE_BIT(i));
			publish(x);
			cur = 0;
		}
		if (cur || !now || !x->env->opts->wait_interface || session_stopping(s))
			continue;
		err = ebpf_capture_iface_attach(x->cap, i, now);
		if (!err) {
			pr_warn("interface '%s' is back (index %d): capture re-attached\n", name, now);
		} else if (err != -ENODEV) {
			session_fail(s, err, "cannot capture on '%s' again: %s", name, strerror(-err));
			return false;
		}
	}
	return true;
}

static void *worker(void *arg)
{
	struct lctx *x = arg;
	uint64_t drain_ms = x->env->engine.idle_timeout_ms / 2;
	struct session *s = x->env->session;
	uint64_t next = session_wall_ms();

	x->prod = pcapng_producer(x->env->pcapng, 0);
	if (drain_ms > DRAIN_MAX_MS)
		drain_ms = DRAIN_MAX_MS;
	if (drain_ms < DRAIN_MIN_MS)
		drain_ms = DRAIN_MIN_MS;
	while (!session_stopping(s)) {
		uint64_t now;
		int r = poll_events(x, POLL_MS);

		if (r < 0 && r != -EINTR) {
			pr_warn("cannot read the capture ring buffer: %s\n", strerror(-r));
			session_request_stop(s, SESSION_STOP_ERROR);
			break;
		}
		if (!follow_ifaces(x))
			break;
		now = session_wall_ms();
		engine_early(x->eng, now);
		if (session_snap_wanted(s, 0))
			snapshot(x);
		if (x->prod)
			pcapng_commit(x->prod, false);
		if (now < next)
			continue;
		/* expiry decides on fresh meters: drain first; a tick that
		 * stopped at its budget is followed at once by the next */
		ebpf_capture_sync_clock(x->cap);
		if (drain(x) < 0) {
			session_request_stop(s, SESSION_STOP_ERROR);
			break;
		}
		if (ebpf_capture_check(x->cap) < 0) {
			session_fail(s, -EIO, "the capture filters were removed and cannot be put back");
			break;
		}
		if (engine_tick(x->eng, now)) {
			session_request_stop(s, SESSION_STOP_DONE);
			break;
		}
		next = engine_expiry_pending(x->eng) ? now : now + drain_ms;
		publish(x);
	}
	return NULL;
}

static void report(struct lctx *x)
{
	uint64_t c[FC_CNT__MAX];

	ebpf_capture_counters(x->cap, c);
	pr_info("ebpf capture: %llu packets seen, %llu metered in the kernel (%llu GSO/GRO segments), "
		"%llu as samples, %llu as meter records, %llu flows exported\n",
		(unsigned long long)c[FC_CNT_PACKETS],
		(unsigned long long)c[FC_CNT_METERED], (unsigned long long)c[FC_CNT_SEGMENTS],
		(unsigned long long)x->sample_skbs, (unsigned long long)x->meter_skbs,
		(unsigned long long)engine_get_stats(x->eng)->flows_emitted);
	for (int i = FC_CNT_NOT_IP; i < FC_CNT__MAX; i++) {
		bool loss = i == FC_CNT_PUNT_LOST || i == FC_CNT_SAMPLE_LOST || i == FC_CNT_CTL_FULL;

		if (c[i] && (loss || log_verbosity() >= 1))
			log_msg(loss ? LOG_WARN : LOG_INFO, "  %s: %llu\n",
				ebpf_counter_name((enum fc_counter)i), (unsigned long long)c[i]);
	}
	if (x->orphans)
		pr_info("  flows first seen after their sampling state was forgotten: %llu\n",
			(unsigned long long)x->orphans);
	if (x->punt_ignored)
		pr_info("  punted packets the decoder ignored: %llu\n",
			(unsigned long long)x->punt_ignored);
	if (x->samples_late)
		pr_info("  samples after their flow had moved on: %llu\n",
			(unsigned long long)x->samples_late);
}

static void fill_opts(const struct capture_env *env, struct ebpf_capture_opts *o)
{
	const struct fs_options *cfg = env->opts;
	uint32_t nd = env->dpi ? env->dpi->n_dissections : 0;
	uint32_t splt = (uint32_t)cfg->splt_analysis;

	memset(o, 0, sizeof(*o));
	o->ifaces = cfg->interfaces;
	o->n_ifaces = (int)cfg->n_interfaces;
	o->n_samples = nd > splt ? nd : splt;
	if (!o->n_samples)
		o->n_samples = 1; /* the first packet gives the MAC addresses */
	o->snaplen = cfg->snapshot_length > FC_SNAP_MAX ? FC_SNAP_MAX : (uint32_t)cfg->snapshot_length;
	o->accounting_mode = (uint8_t)cfg->accounting_mode;
	o->decode_tunnels = cfg->decode_tunnels;
	o->flow_map_entries = (uint32_t)cfg->ebpf_map_entries;
	o->attach = (enum ebpf_attach)env->ebpf_attach;
}

struct capture {
	struct lctx x;
};

#define FC_COUNTER_KEY(name, text) [name] = #name,
static const char *const counter_keys[FC_CNT__MAX] = { FC_COUNTERS(FC_COUNTER_KEY) };
#undef FC_COUNTER_KEY

/* The kernel's counters (FC_COUNTERS in fc_flow.h) as a JSON object: each
 * key the counter's name in lower case without FC_CNT_. */
static void ebpf_report(struct capture *le, FILE *f)
{
	const size_t skip = sizeof("FC_CNT_") - 1;
	uint64_t c[FC_CNT__MAX];

	ebpf_capture_counters(le->x.cap, c);
	fputs("{", f);
	for (int i = 0; i < FC_CNT__MAX; i++) {
		/* the key is the counter's name: FC_CNT_PUNT_FULL -> punt_full */
		fputs(i ? ", \"" : "\"", f);
		for (const char *p = counter_keys[i] + skip; *p; p++)
			fputc(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p, f);
		fprintf(f, "\": %llu", (unsigned long long)c[i]);
	}
	fputc('}', f);
}

#define FC_COUNTER_HELP(name, text) [name] = text,
static const char *const counter_help[FC_CNT__MAX] = { FC_COUNTERS(FC_COUNTER_HELP) };
#undef FC_COUNTER_HELP

/* The kernel's counters as last published (with the packet counters), for
 * the metrics: name as in the report (punt_full), help from FC_COUNTERS. */
static void ebpf_counters(struct capture *le, capture_counter_fn fn, void *arg)
{
	for (int i = 0; i < FC_CNT__MAX; i++)
		fn(arg, le->x.kkey[i], counter_help[i],
		   __atomic_load_n(&le->x.kcnt[i], __ATOMIC_RELAXED));
}

static void ebpf_close(struct capture *le)
{
	if (!le)
		return;
	ifwatch_close(le->x.watch);
	free(le->x.seen_gen);
	ebpf_capture_close(le->x.cap);
	engine_free(le->x.eng); /* the flows still cached, unexported */
	dpi_free(le->x.dpi);
	free(le->x.evb);
	free(le->x.later);
	free(le->x.forget);
	snap_buf_free(&le->x.snap);
	free(le);
}

static int watch_ifaces(struct lctx *x)
{
	int n = ebpf_capture_n_ifaces(x->cap), *idx = calloc((size_t)n, sizeof(*idx)), err;

	x->seen_gen = calloc((size_t)n, sizeof(*x->seen_gen));
	if (!idx || !x->seen_gen) {
		free(idx);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		idx[i] = ebpf_capture_ifindex(x->cap, i);
	x->n_ifs = n;
	err = ifwatch_open(x->env->opts->interfaces, idx, (size_t)n, capture_iface_changed,
			   (void *)x->env, &x->watch);
	free(idx);
	return err;
}

static int ebpf_open(const struct capture_env *env, struct capture **out)
{
	struct ebpf_capture_opts o;
	struct engine_opts eo;
	struct capture *le;
	struct lctx *x;
	int err;

	if (env->opts->bpf_filter) {
		pr_warn("--bpf-filter is not supported with --capture ebpf: use --capture pcap\n");
		return -EINVAL;
	}
	le = calloc(1, sizeof(*le));
	if (!le)
		return -ENOMEM;
	x = &le->x;
	x->env = env;
	for (int i = 0; i < FC_CNT__MAX; i++) {
		const char *p = counter_keys[i] + sizeof("FC_CNT_") - 1;
		size_t n = 0;

		for (; *p && n < sizeof(x->kkey[i]) - 1; p++)
			x->kkey[i][n++] = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		x->kkey[i][n] = '\0';
	}
	x->fo = env->engine.flow;
	x->splt = x->fo.splt;
	x->n_dissections = env->dpi ? env->dpi->n_dissections : 0;
	x->tunnels = env->engine.decode_tunnels;
	fill_opts(env, &o);
	x->n_samples = o.n_samples;
	x->be = (struct engine_backend){
		.state_bytes = sizeof(struct lstate),
		.before_expire = be_before_expire,
		.finalize = be_finalize,
		.release = be_release,
		.arg = x,
	};
	x->evb = malloc(BATCH * sizeof(*x->evb));
	if (!x->evb) {
		err = -ENOMEM;
		goto out_free;
	}
	if (env->dpi) {
		err = dpi_new(env->dpi, &x->dpi);
		if (err)
			goto out_free;
	}
	eo = env->engine;
	eo.backend = &x->be;
	x->eng = engine_new(&eo, x->dpi, session_emit, env->session);
	if (!x->eng) {
		err = -ENOMEM;
		goto out_free;
	}
	err = ebpf_capture_open(&o, &x->cap);
	if (err)
		goto out_free;
	err = watch_ifaces(x);
	if (err)
		goto out_free;
	*out = le;
	return 0;

out_free:
	ebpf_close(le);
	return err;
}

static int ebpf_run(struct capture *le)
{
	struct lctx *x = &le->x;
	pthread_t th;
	int err;

	err = pthread_create(&th, NULL, worker, x);
	if (err) {
		pr_warn("cannot start the capture thread: %s\n", strerror(err));
		session_request_stop(x->env->session, SESSION_STOP_ERROR);
		return -err;
	}
	session_supervise(x->env->session);
	pthread_join(th, NULL);

	/* Detach first, then the last drain sees every packet metered. */
	ebpf_capture_detach(x->cap);
	drain(x);
	engine_flush(x->eng);
	publish(x);
	report(x);
	if (x->prod)
		pcapng_commit(x->prod, true);
	return 0;
}

static void ebpf_summary(struct capture *le, int err)
{
	session_live_summary(le->x.env->session, err != 0);
}

static int ebpf_iface_dlt(struct capture *le, unsigned int i)
{
	(void)le;
	(void)i;
	return 1; /* DLT_EN10MB: the TC programs see Ethernet frames */
}

const struct capture_ops capture_ebpf_ops = {
	.name = "ebpf",
	.iface_dlt = ebpf_iface_dlt,
	.open = ebpf_open,
	.run = ebpf_run,
	.report = ebpf_report,
	.counters = ebpf_counters,
	.summary = ebpf_summary,
	.close = ebpf_close,
};
