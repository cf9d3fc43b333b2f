/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Flow cache: an open-addressing hash table keyed by the direction-
 * independent flow key (IP pair, port pair, protocol, VLAN, tunnel), plus
 * an intrusive list in creation order.  The list is NFStream's "NFCache"
 * order (an OrderedDict where only inserts move entries): idle scans start
 * at its head and the end-of-input flush walks it.  Lookups are O(1);
 * nothing scans per packet.
 */
#ifndef FLOWSIGHT_FLOW_TABLE_H
#define FLOWSIGHT_FLOW_TABLE_H

#include <stddef.h>

#include "core/flow.h"

struct flow_table;

struct flow_table *flow_table_new(size_t initial_buckets);
/* Frees the table; flows still in it must have been removed by the caller. */
void flow_table_free(struct flow_table *ft);

/* Direction-independent hash of @p's flow key. */
uint64_t flow_table_hash(const struct pkt *p);

/* Flow that @p (whose key hashes to @h) belongs to, in either direction, or NULL. */
struct flow *flow_table_lookup(struct flow_table *ft, const struct pkt *p, uint64_t h);

/*
 * Cache hints for a batch of packets: first the home slot of @h, later the
 * flow of the first slot there that carries @h.  Pure hints: results never
 * depend on them.
 */
void flow_table_prefetch_bucket(const struct flow_table *ft, uint64_t h);
void flow_table_prefetch_flow(const struct flow_table *ft, uint64_t h);
/* The first @bytes of that flow: with a large table every line a packet
 * updates (counters, statistics) is a miss. */
void flow_table_prefetch_flow_bytes(const struct flow_table *ft, uint64_t h, size_t bytes);

/* Allocate a zeroed flow for key hash @h with @extra zeroed bytes after it,
 * appended as newest.  NULL on ENOMEM.  The caller fills its key from the
 * packet that hashed to @h (flow_init) and frees it with
 * flow_table_free_flow(), from any thread, also after flow_table_free(). */
struct flow *flow_table_insert(struct flow_table *ft, uint64_t h, size_t extra);

/* Release the memory of a flow that flow_table_insert() made. */
void flow_table_free_flow(struct flow *f);

/* Unlink @f from the hash and the order list; the caller frees it. */
void flow_table_remove(struct flow_table *ft, struct flow *f);

/* Oldest-created flow still in the table, or NULL. */
struct flow *flow_table_oldest(const struct flow_table *ft);

size_t flow_table_count(const struct flow_table *ft);

/*
 * Call @fn once for each flow first seen at or before @until_ms, in
 * creation order, at most @budget of them per call; returns how many.
 * A cursor remembers the last flow handed out, and removing flows keeps
 * it valid, so each flow is visited once however the table changes.
 * Creation order is first-seen order up to clamping: a flow created out of
 * order waits for the ones before it.  @fn must not insert or remove.
 */
int flow_table_visit_due(struct flow_table *ft, uint64_t until_ms, int budget,
			 void (*fn)(struct flow *f, void *arg), void *arg);

#endif
