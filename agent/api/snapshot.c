// SPDX-License-Identifier: GPL-2.0-only
/*
 * Open-flow snapshots (fs_session_snapshot): the capture threads copy
 * their cached flows when they next look (core/session.c), and this file,
 * on the caller's thread, merges them by serial, computes each flow's rates
 * against the caller's previous snapshot and names each flow's owner once
 * (attr_lookup on the flow's key and times), carrying it over afterwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/session.h"
#include "attr/attr.h"

#define FIRST_RETRY_MS 1000 /* an owner not found yet: again after this */
#define RETRY_MS 5000       /* then every this often */

struct aux {
	uint64_t next_try_ms; /* UINT64_MAX: the owner is settled */
	uint8_t tries;
};

struct fs_snapshot {
	struct fs_open_flow *v, *pv; /* this read and the previous, by serial */
	struct aux *a, *pa;
	size_t n, cap, pn, pcap;
};

struct fs_snapshot *fs_snapshot_new(void)
{
	return calloc(1, sizeof(struct fs_snapshot));
}

void fs_snapshot_free(struct fs_snapshot *sn)
{
	if (!sn)
		return;
	free(sn->v);
	free(sn->pv);
	free(sn->a);
	free(sn->pa);
	free(sn);
}

size_t fs_snapshot_count(const struct fs_snapshot *sn)
{
	return sn->n;
}

const struct fs_open_flow *fs_snapshot_flows(const struct fs_snapshot *sn)
{
	return sn->v;
}

struct gather {
	struct fs_snapshot *sn;
	int err;
};

static void gather_meter(void *arg, const struct snap_buf *b)
{
	struct gather *g = arg;
	struct fs_snapshot *sn = g->sn;

	if (!b || !b->n || g->err)
		return;
	if (sn->n + b->n > sn->cap) {
		size_t cap = (sn->n + b->n) * 2;
		struct fs_open_flow *v = realloc(sn->v, cap * sizeof(*v));
		struct aux *a;

		if (!v) {
			g->err = -ENOMEM;
			return;
		}
		sn->v = v;
		a = realloc(sn->a, cap * sizeof(*a));
		if (!a) {
			g->err = -ENOMEM;
			return;
		}
		sn->a = a;
		sn->cap = cap;
	}
	memcpy(sn->v + sn->n, b->v, b->n * sizeof(*b->v));
	sn->n += b->n;
}

static int by_serial(const void *x, const void *y)
{
	const struct fs_open_flow *a = x, *b = y;

	return a->serial < b->serial ? -1 : a->serial > b->serial;
}

static void no_owner(struct fs_open_flow *o)
{
	o->pid = o->ppid = o->uid = -1;
	o->process_name[0] = o->user[0] = o->container_id[0] = '\0';
	o->attribution = "";
}

static void lookup_owner(struct attr *attr, struct fs_open_flow *o, struct aux *a, uint64_t now)
{
	struct proc_info r;
	struct flow f;

	memset(&f, 0, sizeof(f));
	memcpy(f.src_ip, o->src_ip, 16);
	memcpy(f.dst_ip, o->dst_ip, 16);
	f.src_port = o->src_port;
	f.dst_port = o->dst_port;
	f.vlan_id = o->vlan_id;
	f.protocol = o->protocol;
	f.ip_version = o->ip_version;
	f.tunnel_id = o->tunnel_id;
	f.first_seen_ms = o->first_seen_ms;
	f.last_seen_ms = o->last_seen_ms;
	f.dir_packets[0] = o->src2dst_packets;
	f.dir_packets[1] = o->dst2src_packets;
	attr_lookup(attr, &f, &r);
	o->pid = r.pid;
	o->ppid = r.ppid;
	o->uid = r.uid;
	memcpy(o->process_name, r.name, sizeof(o->process_name));
	memcpy(o->user, r.user, sizeof(o->user));
	memcpy(o->container_id, r.container_id, sizeof(o->container_id));
	o->attribution = r.how ? r.how : "";
	if (r.pid >= 0 || *o->attribution)
		a->next_try_ms = UINT64_MAX;
	else
		a->next_try_ms = now + (a->tries ? RETRY_MS : FIRST_RETRY_MS);
	if (a->tries < 255)
		a->tries++;
}

static double rate(uint64_t now_b, uint64_t prev_b, uint64_t dt_ms)
{
	return now_b >= prev_b ? (double)(now_b - prev_b) * 1000.0 / (double)dt_ms : 0.0;
}

int fs_session_snapshot(struct fs_session *s, struct fs_snapshot *sn, int timeout_ms)
{
	struct gather g = { sn, 0 };
	struct fs_open_flow *tv;
	struct aux *ta;
	size_t tcap, j = 0;
	unsigned int answered;
	uint64_t now;

	if (!s->open_ok || !s->core)
		return -EINVAL;
	/* the previous read becomes the reference */
	tv = sn->pv, sn->pv = sn->v, sn->v = tv;
	ta = sn->pa, sn->pa = sn->a, sn->a = ta;
	tcap = sn->pcap, sn->pcap = sn->cap, sn->cap = tcap;
	sn->pn = sn->n;
	sn->n = 0;
	answered = session_snap_collect(s->core, timeout_ms < 0 ? 0 : timeout_ms, gather_meter, &g);
	if (g.err)
		return g.err;
	if (s->n_meters > 1)
		qsort(sn->v, sn->n, sizeof(*sn->v), by_serial);
	now = session_wall_ms();
	for (size_t i = 0; i < sn->n; i++) {
		struct fs_open_flow *o = &sn->v[i];
		struct aux *a = &sn->a[i];
		const struct fs_open_flow *p = NULL;

		while (j < sn->pn && sn->pv[j].serial < o->serial)
			j++;
		if (j < sn->pn && sn->pv[j].serial == o->serial)
			p = &sn->pv[j];
		if (p && o->taken_ms > p->taken_ms) {
			uint64_t dt = o->taken_ms - p->taken_ms;

			o->src2dst_rate = rate(o->src2dst_bytes, p->src2dst_bytes, dt);
			o->dst2src_rate = rate(o->dst2src_bytes, p->dst2src_bytes, dt);
		} else if (p) {
			o->src2dst_rate = p->src2dst_rate; /* the same reading */
			o->dst2src_rate = p->dst2src_rate;
		} else {
			uint64_t age = o->taken_ms > o->first_seen_ms ? o->taken_ms - o->first_seen_ms : 0;

			if (age < 1000)
				age = 1000;
			o->src2dst_rate = rate(o->src2dst_bytes, 0, age);
			o->dst2src_rate = rate(o->dst2src_bytes, 0, age);
		}
		if (p) {
			o->pid = p->pid;
			o->ppid = p->ppid;
			o->uid = p->uid;
			memcpy(o->process_name, p->process_name, sizeof(o->process_name));
			memcpy(o->user, p->user, sizeof(o->user));
			memcpy(o->container_id, p->container_id, sizeof(o->container_id));
			o->attribution = p->attribution;
			*a = sn->pa[j];
		} else {
			no_owner(o);
			*a = (struct aux){ 0, 0 };
		}
		if (s->attr && now >= a->next_try_ms)
			lookup_owner(s->attr, o, a, now);
		else if (!s->attr)
			a->next_try_ms = UINT64_MAX;
	}
	return answered ? 0 : -EAGAIN;
}
