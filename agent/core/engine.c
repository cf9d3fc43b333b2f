// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's meter loop with n_meters = 1, so output order is NFStream's
 * order.  Expiry of a flow always goes through expire(): L7 give-up and
 * result collection, the emit callback, then the flow's memory is freed.
 */
#include <stdlib.h>

#include "core/dataset.h"
#include "core/engine.h"
#include "core/flow_table.h"
#include "util/grow.h"

#define SCAN_INTERVAL_MS 10
#define SCAN_BUDGET 1000
/* A live tick may find many flows due at once (a quiet link after a burst);
 * a larger budget drains them in a few ticks, still bounding one call. */
#define TICK_BUDGET 10000

struct engine {
	struct engine_opts o;
	const struct engine_backend *be; /* o.backend */
	size_t state_off;   /* backend state: after struct flow and extra_bytes */
	size_t alloc_extra; /* bytes allocated after struct flow */
	size_t udps_off;    /* plugins' values and private bytes: after the rest */
	bool has_udps;      /* the plugins have values or private bytes */
	struct flow **batch; /* a tick's expiring flows (TICK_BUDGET) */
	bool in_expiry;      /* inside before_expire(): no eviction */
	bool expiry_pending; /* the last tick's expiry stopped at its budget */
	struct flow **custom; /* backend flows a plugin expired, for the next tick */
	uint64_t split_cursor; /* engine_opts.splits's, ours */
	size_t n_custom, custom_cap;
	struct dpi *dpi;
	engine_emit_fn emit;
	void *arg;
	struct flow_table *ft;
	uint64_t tick_ms;      /* meter clock: max packet time seen */
	uint64_t tick_us;      /* dataset mode: the same in µs (tick_us / 1000 == tick_ms) */
	uint64_t last_scan_ms; /* packet time of the last idle scan */
	bool stopped;
	size_t extra_bytes; /* flow_extra_bytes(): statistics and SPLT */
	size_t hot_bytes;   /* what a packet may update: the flow and its statistics */
	/* Last-seen order, kept with a memory cap or live: head = most idle. */
	struct flow *lru_head, *lru_tail;
	struct engine_stats st;
	uint64_t serial;              /* without o.serials */
	const struct frame *tap_fr;   /* engine_frames(): the chunk being metered */
};

/* The tap sees frame @i of the chunk being metered, with its flow. */
static inline void tap(struct engine *e, int i, struct flow *f)
{
	if (e->o.tap && e->tap_fr)
		e->o.tap(e->o.tap_arg, &e->tap_fr[i], f);
}

struct engine *engine_new(const struct engine_opts *o, struct dpi *dpi, engine_emit_fn emit,
			  void *arg)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->o = *o;
	e->dpi = dpi;
	e->emit = emit;
	e->arg = arg;
	e->be = o->backend;
	e->extra_bytes = flow_extra_bytes(&o->flow);
	e->hot_bytes = sizeof(struct flow) + (o->flow.statistics ? sizeof(struct flow_stats) : 0) +
		       (o->flow.dataset ? DS_HOT_BYTES : 0);
	e->state_off = (e->extra_bytes + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
	e->alloc_extra = e->be ? e->state_off + e->be->state_bytes : e->extra_bytes;
	if (o->plugins && (o->plugins->n_values || o->plugins->state_bytes)) {
		/* in the flow's own allocation: no second malloc per flow */
		e->has_udps = true;
		e->udps_off = (e->alloc_extra + _Alignof(max_align_t) - 1) &
			      ~(_Alignof(max_align_t) - 1);
		e->alloc_extra = e->udps_off + sizeof(struct flow_udps) +
				 o->plugins->n_values * sizeof(((struct flow_udps *)0)->v[0]) +
				 o->plugins->state_bytes;
	}
	e->ft = flow_table_new(1 << 14);
	e->batch = o->live ? malloc(TICK_BUDGET * sizeof(*e->batch)) : NULL;
	if (!e->ft || (o->live && !e->batch)) {
		flow_table_free(e->ft);
		free(e->batch);
		free(e);
		return NULL;
	}
	return e;
}

void *engine_flow_state(const struct engine *e, const struct flow *f)
{
	return (uint8_t *)(f + 1) + e->state_off;
}

void engine_flow_free(struct flow *f)
{
	if (f->dataset)
		ds_release(flow_ds(f));
	dpi_flow_release(&f->dpi);
	if (f->tag)
		f->tag->put(f->tag);
	free(f->proc_copy);
	flow_udps_free(f->udps);
	flow_table_free_flow(f);
}

static bool lru_kept(const struct engine *e)
{
	return e->o.max_flows_in_memory || e->o.live;
}

static void lru_unlink(struct engine *e, struct flow *f)
{
	if (!lru_kept(e))
		return;
	if (f->lru_prev)
		f->lru_prev->lru_next = f->lru_next;
	else
		e->lru_head = f->lru_next;
	if (f->lru_next)
		f->lru_next->lru_prev = f->lru_prev;
	else
		e->lru_tail = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

/* Mark @f as the most recently seen flow. */
static void lru_touch(struct engine *e, struct flow *f)
{
	if (!lru_kept(e) || e->lru_tail == f)
		return;
	if (f->lru_prev || f->lru_next || e->lru_head == f)
		lru_unlink(e, f);
	f->lru_prev = e->lru_tail;
	if (e->lru_tail)
		e->lru_tail->lru_next = f;
	else
		e->lru_head = f;
	e->lru_tail = f;
}

/* Out of the table and the idle order; the backend's state released. */
/* A plugin's expiry of @f still waits for the tick: forget it. */
static void custom_forget(struct engine *e, struct flow *f)
{
	for (size_t i = 0; i < e->n_custom; i++)
		if (e->custom[i] == f) {
			e->custom[i] = e->custom[--e->n_custom];
			break;
		}
}

static void unlink_flow(struct engine *e, struct flow *f)
{
	if (f->custom_expiry && !f->expiring)
		custom_forget(e, f);
	lru_unlink(e, f);
	flow_table_remove(e->ft, f);
	if (e->be && e->be->release)
		e->be->release(engine_flow_state(e, f), e->be->arg);
}

static void destroy_flow(struct engine *e, struct flow *f)
{
	unlink_flow(e, f);
	engine_flow_free(f);
}

static void expire(struct engine *e, struct flow *f, int expiration_id)
{
	bool keep = true;

	if (e->be)
		keep = e->be->finalize(f, engine_flow_state(e, f), e->be->arg);
	unlink_flow(e, f);
	if (e->dpi)
		dpi_flow_finish(e->dpi, &f->dpi);
	if (e->stopped || !keep) {
		engine_flow_free(f);
		return;
	}
	if (e->o.plugins)
		e->o.plugins->on_expire(e->o.plugins->arg, f, expiration_id);
	e->st.flows_emitted++;
	if (e->emit(f, expiration_id, e->arg) > 0)
		e->stopped = true;
}

/* Expire @f now, after its backend has collected its last packets. */
static void expire_one(struct engine *e, struct flow *f, int expiration_id)
{
	if (e->be && e->be->before_expire) {
		e->in_expiry = true;
		e->be->before_expire(&f, 1, e->be->arg);
		e->in_expiry = false;
	}
	expire(e, f, expiration_id);
}

void engine_discard(struct engine *e)
{
	struct flow *f;

	while ((f = flow_table_oldest(e->ft)))
		destroy_flow(e, f);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	engine_discard(e);
	flow_table_free(e->ft);
	free(e->batch);
	free(e->custom);
	free(e);
}

/* A new cached flow for @p (hash @h), made room for under the memory cap. */
static struct flow *insert_flow(struct engine *e, const struct pkt *p, uint64_t h)
{
	struct flow *f;

	/* Memory cap: make room by exporting the most idle flow early. */
	while (e->o.max_flows_in_memory && e->lru_head && !e->stopped && !e->in_expiry &&
	       flow_table_count(e->ft) >= e->o.max_flows_in_memory) {
		e->st.flows_evicted++;
		expire_one(e, e->lru_head, FLOW_EXPIRY_MEMORY);
	}
	if (e->stopped)
		return NULL;
	f = flow_table_insert(e->ft, h, e->alloc_extra);
	if (f && e->has_udps) {
		/* zeroed with the flow (calloc) */
		f->udps = (struct flow_udps *)((uint8_t *)(f + 1) + e->udps_off);
		f->udps->n = e->o.plugins->n_values;
		f->udps->state = (uint8_t *)&f->udps->v[f->udps->n];
	}
	if (!f) {
		e->st.flows_lost_nomem++;
		return NULL;
	}
	flow_init(f, &e->o.flow, p);
	f->serial = e->o.serials ? __atomic_add_fetch(e->o.serials, 1, __ATOMIC_RELAXED) : ++e->serial;
	if (e->o.flow.dataset)
		ds_init(f, &e->o.flow, p);
	lru_touch(e, f);
	e->st.flows_created++;
	return f;
}

/* The new flow, or NULL when none is cached (no memory, or a plugin's
 * custom expiry ended it at once); frame @i of the chunk goes to the tap. */
static struct flow *create_flow(struct engine *e, const struct pkt *p, uint64_t h, int i)
{
	struct flow *f = insert_flow(e, p, h);

	tap(e, i, f);
	if (!f)
		return NULL;
	if (e->o.live)
		f->ifaces = FLOW_IFACE_BIT(p->iface);
	if (e->dpi)
		dpi_flow_packet(e->dpi, &f->dpi, p, 1);
	if (e->o.plugins && e->o.plugins->on_init(e->o.plugins->arg, f, p)) {
		expire(e, f, FLOW_EXPIRY_CUSTOM);
		return NULL;
	}
	return f;
}

struct flow *engine_flow_find(struct engine *e, const struct pkt *key, uint64_t h)
{
	return flow_table_lookup(e->ft, key, h);
}

struct flow *engine_flow_new(struct engine *e, const struct pkt *key, uint64_t h)
{
	return insert_flow(e, key, h);
}

void engine_flow_seen(struct engine *e, struct flow *f, uint64_t first_ms, uint64_t last_ms)
{
	f->first_seen_ms = first_ms;
	if (last_ms != f->last_seen_ms) {
		f->last_seen_ms = last_ms;
		lru_touch(e, f);
	}
}

void engine_flow_sample(struct engine *e, struct flow *f, const struct pkt *p, uint64_t n, int dir,
			uint64_t delta_ms, bool l7)
{
	const struct engine_plugins *pl = e->o.plugins;

	if (e->dpi && l7)
		dpi_flow_packet(e->dpi, &f->dpi, p, n);
	if (!pl || f->custom_expiry)
		return;
	if (n == 1 ? pl->on_init(pl->arg, f, p) : pl->on_update(pl->arg, f, p, dir, delta_ms)) {
		f->custom_expiry = 1;
		if (grow_one(&e->custom, &e->custom_cap, e->n_custom, 64)) {
			f->custom_expiry = 0; /* no room: it expires by its timeouts */
			return;
		}
		e->custom[e->n_custom++] = f;
	}
}

void engine_prefetch_bucket(const struct engine *e, uint64_t h)
{
	flow_table_prefetch_bucket(e->ft, h);
}

void engine_prefetch_flow(const struct engine *e, uint64_t h)
{
	flow_table_prefetch_flow(e->ft, h);
}

bool engine_expiry_pending(const struct engine *e)
{
	return e->expiry_pending;
}

struct engine_stats *engine_stats_mut(struct engine *e)
{
	return &e->st;
}

/* Offline from the oldest created (NFStream's order), live from the most idle. */
static void idle_scan(struct engine *e, uint64_t now, int budget)
{
	struct flow *f;

	for (int n = 0; n < budget && !e->stopped; n++) {
		f = e->o.live ? e->lru_head : flow_table_oldest(e->ft);
		/* now - idle >= last_seen, with last_seen <= now by clamping */
		if (!f || now - f->last_seen_ms < e->o.idle_timeout_ms)
			break;
		expire(e, f, FLOW_EXPIRY_IDLE);
	}
}

/* What a packet does to its flow in dataset mode (meter_ds). */
#define DS_NEW (-10)
#define DS_UPDATE (-11)

/*
 * Dataset mode's meter loop (core/dataset.h): NFStream's, plus the µs
 * clock clamped as the ms one, each flow's dataset state, and the TCP end
 * (FLOW_EXPIRY_TCP_END): a SYN after a FIN ends the flow before the
 * packet, a RST or the last FIN acknowledged ends it with the packet.
 */
static __attribute__((noinline)) void meter_ds(struct engine *e, struct pkt *p, uint64_t h,
						 int i)
{
	struct flow *f;
	bool scan = false;
	int why;

	e->st.packets_processed++;
	if (p->time_ms > e->tick_ms)
		e->tick_ms = p->time_ms;
	p->time_ms = e->tick_ms;
	if (p->time_us > e->tick_us)
		e->tick_us = p->time_us;
	p->time_us = e->tick_us;
	if (p->time_ms - e->last_scan_ms >= SCAN_INTERVAL_MS) {
		scan = true;
		e->last_scan_ms = p->time_ms;
	}

	f = flow_table_lookup(e->ft, p, h);
	if (!f)
		why = DS_NEW;
	else if (p->time_ms - f->last_seen_ms >= e->o.idle_timeout_ms)
		why = FLOW_EXPIRY_IDLE;
	else if (p->time_ms - f->first_seen_ms >= e->o.active_timeout_ms)
		why = FLOW_EXPIRY_ACTIVE;
	else if (f->split_at_ms && p->time_ms >= f->split_at_ms)
		why = FLOW_EXPIRY_CUSTOM; /* --split-on-owner */
	else if (ds_restarts(f, p))
		why = FLOW_EXPIRY_TCP_END;
	else
		why = DS_UPDATE;

	if (why == DS_UPDATE) {
		int dir = flow_direction(f, p);
		uint64_t delta = p->time_ms - f->last_seen_ms;

		flow_update(f, &e->o.flow, p, dir);
		ds_update(f, &e->o.flow, p, dir);
		lru_touch(e, f);
		if (e->o.live)
			f->ifaces |= FLOW_IFACE_BIT(p->iface);
		if (e->dpi)
			dpi_flow_packet(e->dpi, &f->dpi, p, f->dir_packets[0] + f->dir_packets[1]);
		tap(e, i, f);
		if (e->o.plugins && e->o.plugins->on_update(e->o.plugins->arg, f, p, dir, delta)) {
			expire(e, f, FLOW_EXPIRY_CUSTOM);
			f = NULL;
		}
	} else {
		if (why != DS_NEW)
			expire(e, f, why);
		f = e->stopped ? NULL : create_flow(e, p, h, i);
	}
	if (f && ds_ended(f) && !e->stopped)
		expire(e, f, FLOW_EXPIRY_TCP_END);
	if (scan && !e->stopped)
		idle_scan(e, p->time_ms, SCAN_BUDGET);
}

/* NFStream's meter loop for one valid packet whose key hashes to @h
 * (frame @i of the chunk, for the tap). */
static void meter(struct engine *e, struct pkt *p, uint64_t h, int i)
{
	struct flow *f;
	bool scan = false;

	if (e->o.flow.dataset) {
		meter_ds(e, p, h, i);
		return;
	}
	e->st.packets_processed++;
	/* Clamp: time never goes backwards for valid packets. */
	if (p->time_ms > e->tick_ms)
		e->tick_ms = p->time_ms;
	p->time_ms = e->tick_ms;
	if (p->time_ms - e->last_scan_ms >= SCAN_INTERVAL_MS) {
		scan = true;
		e->last_scan_ms = p->time_ms;
	}

	f = flow_table_lookup(e->ft, p, h);
	if (!f) {
		create_flow(e, p, h, i);
	} else if (p->time_ms - f->last_seen_ms >= e->o.idle_timeout_ms) {
		expire(e, f, FLOW_EXPIRY_IDLE);
		if (!e->stopped)
			create_flow(e, p, h, i);
	} else if (p->time_ms - f->first_seen_ms >= e->o.active_timeout_ms) {
		expire(e, f, FLOW_EXPIRY_ACTIVE);
		if (!e->stopped)
			create_flow(e, p, h, i);
	} else if (f->split_at_ms && p->time_ms >= f->split_at_ms) {
		expire(e, f, FLOW_EXPIRY_CUSTOM); /* --split-on-owner */
		if (!e->stopped)
			create_flow(e, p, h, i);
	} else {
		int dir = flow_direction(f, p);
		uint64_t delta = p->time_ms - f->last_seen_ms;

		flow_update(f, &e->o.flow, p, dir);
		lru_touch(e, f);
		if (e->o.live)
			f->ifaces |= FLOW_IFACE_BIT(p->iface);
		if (e->dpi)
			dpi_flow_packet(e->dpi, &f->dpi, p, f->dir_packets[0] + f->dir_packets[1]);
		tap(e, i, f);
		if (e->o.plugins && e->o.plugins->on_update(e->o.plugins->arg, f, p, dir, delta))
			expire(e, f, FLOW_EXPIRY_CUSTOM);
	}
	if (scan && !e->stopped)
		idle_scan(e, p->time_ms, SCAN_BUDGET);
}

void engine_decode(const struct engine_opts *o, const struct frame *fr, int n,
		   struct engine_decoded *d)
{
	d->n = n;
	for (int i = 0; i < n; i++) {
		const struct frame *f = &fr[i];

		d->v[i] = (uint8_t)decode_frame(f->dlt, f->data, f->caplen, f->len,
						o->decode_tunnels, &d->pk[i]);
		if (d->v[i] != DECODE_OK)
			continue;
		d->pk[i].time_ms = f->time_ms;
		d->pk[i].iface = o->live ? f->iface : 0;
		d->pk[i].time_us = f->time_us;
		d->h[i] = flow_table_hash(&d->pk[i]);
	}
}

void engine_split_at(struct engine *e, const struct pkt *key, uint64_t at_ms)
{
	struct flow *f = flow_table_lookup(e->ft, key, flow_table_hash(key));

	/* a flow begun before the change; the earliest change wins */
	if (f && f->first_seen_ms <= at_ms && (!f->split_at_ms || at_ms < f->split_at_ms))
		f->split_at_ms = at_ms;
}

int engine_meter_decoded(struct engine *e, struct engine_decoded *d)
{
	if (e->o.splits)
		e->o.splits(e->o.splits_arg, e, &e->split_cursor);
	for (int i = 0; i < d->n; i++)
		if (d->v[i] == DECODE_OK)
			flow_table_prefetch_bucket(e->ft, d->h[i]);
	for (int i = 0; i < d->n; i++)
		if (d->v[i] == DECODE_OK)
			flow_table_prefetch_flow_bytes(e->ft, d->h[i], e->hot_bytes);
	for (int i = 0; i < d->n; i++) {
		if (e->stopped)
			return 1;
		e->st.packets_seen++;
		if (d->v[i] != DECODE_OK) {
			e->st.packets_ignored++;
			e->st.ignored[d->v[i]]++;
			tap(e, i, NULL);
			continue;
		}
		meter(e, &d->pk[i], d->h[i], i);
	}
	return e->stopped ? 1 : 0;
}

int engine_frames(struct engine *e, const struct frame *fr, int n)
{
	struct engine_decoded d;

	for (int base = 0; base < n; base += ENGINE_BATCH) {
		int m = n - base < ENGINE_BATCH ? n - base : ENGINE_BATCH;

		engine_decode(&e->o, fr + base, m, &d);
		e->tap_fr = fr + base;
		if (engine_meter_decoded(e, &d)) {
			e->tap_fr = NULL;
			return 1;
		}
	}
	e->tap_fr = NULL;
	return e->stopped ? 1 : 0;
}

int engine_frame(struct engine *e, int dlt, const uint8_t *data, uint32_t caplen, uint32_t len,
		 uint64_t time_ms)
{
	struct frame f = { .dlt = dlt, .data = data, .caplen = caplen, .len = len,
			   .time_ms = time_ms, .time_us = time_ms * 1000 };

	return engine_frames(e, &f, 1);
}

/*
 * Live expiry on the meter clock @now, at most @budget flows: idle flows
 * from the least recently seen, then active timeouts from the oldest
 * created (creation order is first-seen order: times are clamped).  Each
 * scan stops at the first flow not due.  A flow seen after @now (a
 * backend's clock ahead of ours) is not due.  The batch goes to the
 * backend's before_expire() first, then out in the order it was picked.
 */
/* flow.expiring: the expiration_id the flow was picked with, plus 2 (0: not picked) */
#define PICKED(id) ((uint8_t)((id) + 2))

static void expire_due(struct engine *e, uint64_t now, int budget)
{
	size_t n = 0;
	struct flow *f;

	while (e->n_custom && n < (size_t)budget) {
		f = e->custom[--e->n_custom];
		f->expiring = PICKED(FLOW_EXPIRY_CUSTOM);
		e->batch[n++] = f;
	}
	for (f = e->lru_head; f && n < (size_t)budget; f = f->lru_next) {
		if (f->last_seen_ms > now || now - f->last_seen_ms < e->o.idle_timeout_ms)
			break;
		if (f->expiring)
			continue;
		f->expiring = PICKED(FLOW_EXPIRY_IDLE);
		e->batch[n++] = f;
	}
	for (f = flow_table_oldest(e->ft); f && n < (size_t)budget; f = f->newer) {
		if (f->first_seen_ms > now || now - f->first_seen_ms < e->o.active_timeout_ms)
			break;
		if (f->expiring)
			continue;
		f->expiring = PICKED(FLOW_EXPIRY_ACTIVE);
		e->batch[n++] = f;
	}
	if (n && e->be && e->be->before_expire) {
		e->in_expiry = true;
		e->be->before_expire(e->batch, n, e->be->arg);
		e->in_expiry = false;
	}
	for (size_t i = 0; i < n; i++)
		expire(e, e->batch[i], (int)e->batch[i]->expiring - 2);
	e->expiry_pending = n == (size_t)budget;
}

void engine_early(struct engine *e, uint64_t now_ms)
{
	if (!e->stopped && e->o.early && now_ms >= e->o.early_after_ms)
		flow_table_visit_due(e->ft, now_ms - e->o.early_after_ms, TICK_BUDGET, e->o.early,
				     e->o.early_arg);
}

int engine_tick(struct engine *e, uint64_t now_ms)
{
	if (now_ms > e->tick_ms)
		e->tick_ms = now_ms;
	if (e->o.flow.dataset && now_ms * 1000 > e->tick_us)
		e->tick_us = now_ms * 1000; /* tick_us / 1000 == tick_ms still */
	if (!e->stopped)
		expire_due(e, e->tick_ms, TICK_BUDGET);
	engine_early(e, e->tick_ms);
	return e->stopped ? 1 : 0;
}

void engine_visit(struct engine *e, void (*fn)(void *arg, struct flow *f), void *arg)
{
	for (struct flow *f = flow_table_oldest(e->ft); f; f = f->newer)
		fn(arg, f);
}

struct dpi *engine_dpi(const struct engine *e)
{
	return e->dpi;
}

bool engine_flush_some(struct engine *e, size_t budget)
{
	struct flow *f;

	while (!e->stopped && budget && (f = flow_table_oldest(e->ft))) {
		expire(e, f, f->custom_expiry ? FLOW_EXPIRY_CUSTOM : FLOW_EXPIRY_IDLE);
		budget--;
	}
	if (!e->stopped && flow_table_oldest(e->ft))
		return true;
	engine_discard(e);
	return false;
}

void engine_flush(struct engine *e)
{
	engine_flush_some(e, SIZE_MAX);
}

void engine_flush_ifaces(struct engine *e, uint64_t mask)
{
	while (!e->stopped) {
		size_t n = 0;

		/* the backend collects each batch's last packets first, as at a tick */
		for (struct flow *f = flow_table_oldest(e->ft); f && n < TICK_BUDGET; f = f->newer) {
			if (!(f->ifaces & mask) || f->expiring)
				continue;
			if (f->custom_expiry)
				custom_forget(e, f);
			f->expiring = PICKED(f->custom_expiry ? FLOW_EXPIRY_CUSTOM : FLOW_EXPIRY_IDLE);
			e->batch[n++] = f;
		}
		if (!n)
			break;
		if (e->be && e->be->before_expire) {
			e->in_expiry = true;
			e->be->before_expire(e->batch, n, e->be->arg);
			e->in_expiry = false;
		}
		for (size_t i = 0; i < n; i++)
			expire(e, e->batch[i], (int)e->batch[i]->expiring - 2);
	}
}

bool engine_stopped(const struct engine *e)
{
	return e->stopped;
}

const struct engine_stats *engine_get_stats(const struct engine *e)
{
	return &e->st;
}

size_t engine_flows_cached(const struct engine *e)
{
	return flow_table_count(e->ft);
}

size_t engine_flow_bytes(const struct engine_opts *o)
{
	/* the flow and its extra bytes as one pool object (a multiple of 64,
	 * flow_pool.h), and its hash-bucket slot (load <= 1) */
	return ((sizeof(struct flow) + flow_extra_bytes(&o->flow) + 63) & ~(size_t)63) +
	       sizeof(void *);
}
