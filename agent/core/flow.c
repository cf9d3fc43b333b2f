// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's flow layer in C.  The order of operations and the floating
 * point expressions follow NFStream's engine so that means and standard
 * deviations are bit-identical: Welford updates in double, PIAT statistics
 * started at a scope's second packet, sizes started at its first.
 */
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/flow.h"

void flow_init(struct flow *f, const struct flow_opts *o, const struct pkt *p)
{
	uint16_t size = flow_packet_size(p, o->accounting_mode);
	uint8_t *tail = (uint8_t *)(f + 1);

	if (o->statistics) {
		f->stats = (struct flow_stats *)tail;
		tail += sizeof(struct flow_stats);
	}
	if (o->dataset) {
		/* beside the statistics a packet updates (flow_ds()); ds_init() fills it */
		f->dataset = 1;
		tail += ds_bytes(o);
	}
	if (o->splt) {
		size_t n = o->splt;

		f->splt.piat_ms = (int64_t *)tail;
		f->splt.ps = (int32_t *)(tail + n * sizeof(int64_t));
		f->splt.dir = (int8_t *)(tail + n * (sizeof(int64_t) + sizeof(int32_t)));
		memset(tail, 0xff, n * (sizeof(int64_t) + sizeof(int32_t) + sizeof(int8_t)));
		f->splt.dir[0] = 0;
		f->splt.ps[0] = size;
		f->splt.piat_ms[0] = 0;
	}

	memcpy(f->src_ip, p->src_ip, 16);
	memcpy(f->dst_ip, p->dst_ip, 16);
	memcpy(f->src_mac, p->src_mac, 6);
	memcpy(f->dst_mac, p->dst_mac, 6);
	f->src_port = p->src_port;
	f->dst_port = p->dst_port;
	f->vlan_id = p->vlan_id;
	f->protocol = p->protocol;
	f->ip_version = p->ip_version;
	f->tunnel_id = p->tunnel_id;
	f->first_seen_ms = f->last_seen_ms = p->time_ms;
	f->dir_first_ms[0] = f->dir_last_ms[0] = p->time_ms;
	f->dir_packets[0] = 1;
	f->dir_bytes[0] = size;

	if (f->stats) {
		for (int s = FLOW_SCOPE_BIDI; s <= FLOW_SCOPE_S2D; s++) {
			struct flow_scope_stats *st = &f->stats->s[s];

			st->min_ps = st->max_ps = size;
			st->mean_ps = size;
		}
	}
	if (f->stats && p->tcp_flags) {
		/* flags[] order: syn cwr ece urg ack psh rst fin */
		static const uint8_t bit[8] = { FC_TCP_SYN, FC_TCP_CWR, FC_TCP_ECE, FC_TCP_URG,
						FC_TCP_ACK, FC_TCP_PSH, FC_TCP_RST, FC_TCP_FIN };

		for (int b = 0; b < 8; b++) {
			uint64_t v = !!(p->tcp_flags & bit[b]);

			f->stats->s[FLOW_SCOPE_BIDI].flags[b] += v;
			f->stats->s[FLOW_SCOPE_S2D].flags[b] += v;
		}
	}
}

int flow_direction(const struct flow *f, const struct pkt *p)
{
	if (f->src_port != p->src_port || f->dst_port != p->dst_port)
		return FLOW_DIR_DST2SRC;
	if (f->ip_version == 6) {
		if (memcmp(f->src_ip, p->src_ip, 16) || memcmp(f->dst_ip, p->dst_ip, 16))
			return FLOW_DIR_DST2SRC;
	} else if (memcmp(f->src_ip, p->src_ip, 4) || memcmp(f->dst_ip, p->dst_ip, 4)) {
		return FLOW_DIR_DST2SRC;
	}
	return FLOW_DIR_SRC2DST;
}

static void scope_flags(struct flow_scope_stats *st, uint8_t tcp_flags)
{
	if (!tcp_flags)
		return; /* UDP and the like: leave the flags line alone */
	st->flags[0] += !!(tcp_flags & FC_TCP_SYN);
	st->flags[1] += !!(tcp_flags & FC_TCP_CWR);
	st->flags[2] += !!(tcp_flags & FC_TCP_ECE);
	st->flags[3] += !!(tcp_flags & FC_TCP_URG);
	st->flags[4] += !!(tcp_flags & FC_TCP_ACK);
	st->flags[5] += !!(tcp_flags & FC_TCP_PSH);
	st->flags[6] += !!(tcp_flags & FC_TCP_RST);
	st->flags[7] += !!(tcp_flags & FC_TCP_FIN);
}

/* Size statistics update for a scope that now holds @n packets (n >= 2). */
static void scope_ps(struct flow_scope_stats *st, uint16_t size, uint64_t n)
{
	double old_mean = st->mean_ps;

	if (size > st->max_ps)
		st->max_ps = size;
	if (size < st->min_ps)
		st->min_ps = size;
	st->mean_ps += (size - old_mean) / n;
	st->m2_ps += (size - old_mean) * (size - st->mean_ps);
}

/* PIAT statistics for a scope that now holds @n packets (n >= 2). */
static void scope_piat(struct flow_scope_stats *st, uint64_t piat, uint64_t n)
{
	double old_mean;

	if (n == 2) {
		st->min_piat_ms = st->max_piat_ms = piat;
		st->mean_piat = (double)piat;
		return;
	}
	if (piat > st->max_piat_ms)
		st->max_piat_ms = piat;
	if (piat < st->min_piat_ms)
		st->min_piat_ms = piat;
	old_mean = st->mean_piat;
	st->mean_piat += ((double)piat - old_mean) / (double)(n - 1);
	st->m2_piat += ((double)piat - old_mean) * ((double)piat - st->mean_piat);
}

void flow_update(struct flow *f, const struct flow_opts *o, const struct pkt *p, int dir)
{
	uint16_t size = flow_packet_size(p, o->accounting_mode);
	uint64_t t = p->time_ms;
	uint64_t bidi_piat = t - f->last_seen_ms;
	uint64_t n_bidi = f->dir_packets[0] + f->dir_packets[1] + 1;
	uint64_t n_dir = f->dir_packets[dir] + 1;
	uint64_t dir_piat = n_dir > 1 ? t - f->dir_last_ms[dir] : 0;

	if (o->splt && n_bidi - 1 < o->splt) {
		f->splt.dir[n_bidi - 1] = (int8_t)dir;
		f->splt.ps[n_bidi - 1] = size;
		f->splt.piat_ms[n_bidi - 1] = (int64_t)bidi_piat;
	}
	f->last_seen_ms = t;
	if (n_dir == 1)
		f->dir_first_ms[dir] = t;
	f->dir_last_ms[dir] = t;
	f->dir_packets[dir] = n_dir;
	f->dir_bytes[dir] += size;

	if (f->stats) {
		struct flow_scope_stats *b = &f->stats->s[FLOW_SCOPE_BIDI];
		struct flow_scope_stats *d = &f->stats->s[dir == 0 ? FLOW_SCOPE_S2D : FLOW_SCOPE_D2S];

		scope_flags(b, p->tcp_flags);
		scope_ps(b, size, n_bidi);
		scope_piat(b, bidi_piat, n_bidi);
		scope_flags(d, p->tcp_flags);
		if (n_dir == 1) {
			d->min_ps = d->max_ps = size;
			d->mean_ps = size;
		} else {
			scope_ps(d, size, n_dir);
			scope_piat(d, dir_piat, n_dir);
		}
	}
}

size_t flow_extra_bytes(const struct flow_opts *o)
{
	size_t n = 0;

	if (o->statistics)
		n += sizeof(struct flow_stats);
	if (o->dataset)
		n += ds_bytes(o);
	if (o->splt)
		n += (size_t)o->splt * (sizeof(int64_t) + sizeof(int32_t) + sizeof(int8_t));
	return n;
}

void flow_udps_free(struct flow_udps *u)
{
	if (!u)
		return;
	for (uint32_t i = 0; i < u->n; i++)
		if (u->v[i].type == UDP_STR || u->v[i].type == UDP_LIST)
			free(u->v[i].v.s);
}
