/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The meter: NFStream's per-meter loop (spec §1.3) over decoded packets.
 * Clamps packet time to the meter tick, looks the flow up, expires it
 * lazily (idle, then active) before updating, runs the idle scan from the
 * oldest-created flow every >= 10 ms of packet time with a budget of 1000
 * expirations, and flushes in creation order at the end.  Finished flows
 * go to an emit callback; the engine never formats or writes anything.
 */
#ifndef FLOWSIGHT_ENGINE_H
#define FLOWSIGHT_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "packet/decode.h"
#include "l7/dpi.h"
#include "core/flow.h"

struct engine;

struct engine_opts {
	uint64_t idle_timeout_ms;
	uint64_t active_timeout_ms;
	/* 0: unbounded (NFStream).  Otherwise, before a new flow would exceed
	 * this many cached flows, the least recently seen one is exported
	 * early with expiration_id FLOW_EXPIRY_MEMORY (2). */
	uint64_t max_flows_in_memory;
	struct flow_opts flow;
	bool decode_tunnels;
	/* Live capture: the idle scan walks the last-seen order, so a long
	 * busy flow at the head of the creation order cannot hold back the
	 * expiry of idle flows behind it (NFStream's head-of-line blocking is
	 * kept offline only, where the conformance tests pin its order), and
	 * engine_tick() drives expiry from the wall clock. */
	bool live;
	/* Live: engine_tick() calls @early once for each flow about
	 * @early_after_ms after its first packet, while the flow is still
	 * cached (process attribution takes its copy of the owner then).
	 * NULL: never. */
	void (*early)(struct flow *f, void *arg);
	void *early_arg;
	uint64_t early_after_ms;
	/* NULL: the engine meters every packet itself. */
	const struct engine_backend *backend;
	/* NULL: no plugins. */
	const struct engine_plugins *plugins;
	/*
	 * --split-on-owner: called before each batch of packets; it calls
	 * engine_split_at() for each 5-tuple whose owner changed since
	 * *@cursor (the engine's own).  NULL: never.
	 */
	void (*splits)(void *arg, struct engine *e, uint64_t *cursor);
	void *splits_arg;
	/* Each new flow's serial is ++*serials, shared by the engines of a
	 * session (atomic); NULL: the engine's own count. */
	uint64_t *serials;
	/*
	 * Every frame given to engine_frames() or engine_frame(), once it is
	 * metered, with the flow it updated: NULL when the packet layer ignored
	 * it or no flow could be made.  On the engine's thread; the flow is
	 * valid during the call only (it may set f->tag).  NULL: no tap.
	 */
	void (*tap)(void *arg, const struct frame *fr, struct flow *f);
	void *tap_arg;
};

/*
 * A capture that meters flows elsewhere (the eBPF capture: the kernel counts
 * the packets, userspace sees the first ones as samples) keeps its own
 * state after each flow, feeds the engine through engine_flow_*(), and
 * says here how to finish a flow.  Expiry, eviction, L7 and the hand-over
 * stay the engine's: one expiry policy for every capture.
 */
struct engine_backend {
	size_t state_bytes; /* zeroed bytes after each flow, engine_flow_state() */
	/*
	 * @n flows are about to expire (one tick's batch, an eviction): e.g.
	 * tell the kernel to forget them and collect their last packets,
	 * which may still update them through engine_flow_seen().
	 */
	void (*before_expire)(struct flow *const *f, size_t n, void *arg);
	/* Set @f's exported counters from @state; false: drop it unexported. */
	bool (*finalize)(struct flow *f, void *state, void *arg);
	/* Free what @state holds; every flow's, exported or not. */
	void (*release)(void *state, void *arg);
	void *arg;
};

/*
 * Plugins (NFStream's NFPlugin) as the engine sees them: per-flow values
 * and private bytes (struct flow_udps, allocated with each flow), and
 * callbacks with every packet the engine meters.  on_init and on_update
 * return true when a plugin asked for the flow's custom expiry
 * (expiration_id -1): it then expires at once, this packet included.
 */
struct engine_plugins {
	uint32_t n_values;
	size_t state_bytes;
	bool reads_bytes; /* a plugin reads the packets' bytes (pkt.ip, pkt.payload) */
	bool (*on_init)(void *arg, struct flow *f, const struct pkt *p);
	bool (*on_update)(void *arg, struct flow *f, const struct pkt *p, int dir,
			  uint64_t delta_ms);
	void (*on_expire)(void *arg, struct flow *f, int expiration_id);
	void *arg;
};

struct engine_stats {
	uint64_t packets_seen;      /* frames handed to the engine */
	uint64_t packets_processed; /* valid packets metered */
	uint64_t packets_ignored;   /* frames the packet layer rejected */
	uint64_t ignored[DECODE__MAX];
	uint64_t flows_created;
	uint64_t flows_emitted;
	uint64_t flows_lost_nomem;  /* packets whose flow could not be allocated */
	uint64_t flows_evicted;     /* exported early by the memory cap */
};

/*
 * Called once per finished flow with its expiration_id.  The callee owns
 * @f from then on and releases it with engine_flow_free(), from any thread:
 * a finished flow no longer refers to engine or nDPI state.  Return 0 to
 * go on, > 0 to stop the engine (e.g. max_nflows reached), < 0 on an
 * output error (the engine goes on; the caller accounts the loss).
 */
typedef int (*engine_emit_fn)(struct flow *f, int expiration_id, void *arg);

/* Free a finished flow handed out by the emit callback. */
void engine_flow_free(struct flow *f);

struct engine;

/* @dpi may be NULL (L7 off).  Returns NULL on ENOMEM. */
struct engine *engine_new(const struct engine_opts *o, struct dpi *dpi, engine_emit_fn emit,
			  void *arg);
void engine_free(struct engine *e);

/*
 * Meter one frame.  Returns 1 when the engine has been stopped by the emit
 * callback (the caller stops reading), else 0.
 */
int engine_frame(struct engine *e, int dlt, const uint8_t *data, uint32_t caplen, uint32_t len,
		 uint64_t time_ms);

/*
 * Meter @n frames in order, exactly as n calls of engine_frame(), but
 * decoding a batch ahead so flow-table cache misses overlap.  The frames
 * must stay valid during the call.  Returns 1 when stopped, else 0.
 */
int engine_frames(struct engine *e, const struct frame *fr, int n);

/*
 * engine_frames() in two stages, for a caller that decodes on one thread
 * and meters on another: engine_decode() needs only the options and
 * touches no engine state; engine_meter_decoded() then meters the batch
 * on the engine's thread.  The decoded packets point into the frames
 * (payload for nDPI): with L7 on, the frames must stay valid until the
 * batch is metered.  Returns 1 when stopped, else 0.
 */
#define ENGINE_BATCH 32

struct engine_decoded {
	int n;
	uint8_t v[ENGINE_BATCH]; /* enum decode_verdict */
	uint64_t h[ENGINE_BATCH];
	struct pkt pk[ENGINE_BATCH];
};

void engine_decode(const struct engine_opts *o, const struct frame *fr, int n,
		   struct engine_decoded *d);
int engine_meter_decoded(struct engine *e, struct engine_decoded *d);

/*
 * Live mode: advance the meter clock to max(clock, @now_ms) and expire on
 * it even when no packet arrives (NFStream issues #196/#215): idle flows
 * from the least recently seen, then active timeouts from the oldest
 * created (eager here, where NFStream waits for the flow's next packet).
 * Call it every few milliseconds from the capture loop.  Returns 1 when
 * the engine has been stopped by the emit callback, else 0.
 */
int engine_tick(struct engine *e, uint64_t now_ms);

/*
 * A backend's flows (engine_opts.backend).  @key is a packet carrying the
 * flow key (addresses, ports, protocol, VLAN, tunnel) and @h its
 * flow_table_hash().
 */
struct flow *engine_flow_find(struct engine *e, const struct pkt *key, uint64_t h);
/* A new flow for @key, counted and cached (NULL: stopped, or no memory).
 * Its counters are the backend's to set in finalize(). */
struct flow *engine_flow_new(struct engine *e, const struct pkt *key, uint64_t h);
void *engine_flow_state(const struct engine *e, const struct flow *f);
/* @f's first and last packet times as known so far (expiry, idle order). */
void engine_flow_seen(struct engine *e, struct flow *f, uint64_t first_ms, uint64_t last_ms);
/*
 * Packet number @n (1-based) of @f, in flow order, direction @dir (0: the
 * flow's src sent it): L7 dissection when @l7, and the plugins' callbacks.
 * A plugin's custom expiry takes effect at the next engine_tick(): the
 * backend's kernel counts the flow's packets until it is told to forget it.
 */
void engine_flow_sample(struct engine *e, struct flow *f, const struct pkt *p, uint64_t n, int dir,
			uint64_t delta_ms, bool l7);
/* Cache hints for a batch of lookups (flow_table_prefetch_*). */
void engine_prefetch_bucket(const struct engine *e, uint64_t h);
void engine_prefetch_flow(const struct engine *e, uint64_t h);
/* The last engine_tick() stopped at its budget: more flows are due. */
bool engine_expiry_pending(const struct engine *e);
/* A backend's counters for the report (packets it metered or ignored). */
struct engine_stats *engine_stats_mut(struct engine *e);

/*
 * The flow of @key (a packet carrying its two ends, protocol and version;
 * VLAN and tunnel 0) changes owner at @at_ms: its first packet from then on
 * ends it (expiration_id -1) and starts a new flow.
 */
void engine_split_at(struct engine *e, const struct pkt *key, uint64_t at_ms);

/* Only engine_opts.early's visit of engine_tick(), at @now_ms (a backend
 * that ticks seldom calls it more often). */
void engine_early(struct engine *e, uint64_t now_ms);

/* Call @fn for every cached flow in creation order (serials increasing);
 * @fn must not insert or remove flows. */
void engine_visit(struct engine *e, void (*fn)(void *arg, struct flow *f), void *arg);
/* The L7 module of the engine (NULL: L7 off). */
struct dpi *engine_dpi(const struct engine *e);

/* Emit every cached flow in creation order (end of input, signal). */
void engine_flush(struct engine *e);
/* The same, @budget flows at most: true while flows are left. */
bool engine_flush_some(struct engine *e, size_t budget);
/*
 * Live: emit, in creation order, every cached flow with a packet from an
 * interface of @mask (FLOW_IFACE_BIT()s): the interface went away.  A
 * backend's before_expire() collects their last packets first.
 */
void engine_flush_ifaces(struct engine *e, uint64_t mask);
/* Drop every cached flow without emitting it (max_nflows reached). */
void engine_discard(struct engine *e);

bool engine_stopped(const struct engine *e);
const struct engine_stats *engine_get_stats(const struct engine *e);
size_t engine_flows_cached(const struct engine *e);

/* Heap bytes per cached flow for this configuration, excluding nDPI state. */
size_t engine_flow_bytes(const struct engine_opts *o);

#endif
