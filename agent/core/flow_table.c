// SPDX-License-Identifier: GPL-2.0-only
/*
 * Open-addressing hash table (linear probing, power-of-two slots, doubled
 * at load 3/4) and the creation-order list.  A slot holds the key's hash
 * next to the flow pointer, so probing past other flows and growing the
 * table never touch a flow: with hundreds of thousands of flows, each
 * flow a lookup dereferences is a cache miss.  Deletion shifts the
 * following entries back (no tombstones).  The hash of the key is
 * symmetric (the sum of the two endpoint hashes) so both directions land
 * in the same slot without building a canonical key per packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/flow_pool.h"
#include "core/flow_table.h"

struct slot {
	uint64_t hash;
	struct flow *flow; /* NULL: empty */
};

struct flow_table {
	struct slot *slots;
	size_t mask;
	size_t count;
	struct flow *oldest, *newest;
	struct flow *visited; /* newest flow flow_table_visit_due() handed out */
	struct flow_pool *pool; /* the flows' memory, made at the first insert */
};

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t endpoint_hash(const uint8_t ip[16], uint16_t port)
{
	uint64_t a, b;

	memcpy(&a, ip, 8);
	memcpy(&b, ip + 8, 8);
	return mix64(a ^ mix64(b ^ ((uint64_t)port << 1 | 1)));
}

static uint64_t key_hash(const uint8_t *sip, uint16_t sport, const uint8_t *dip, uint16_t dport,
			 uint8_t proto, uint16_t vlan, uint8_t tunnel, uint8_t ver)
{
	uint64_t h = endpoint_hash(sip, sport) + endpoint_hash(dip, dport);

	return mix64(h ^ ((uint64_t)proto | (uint64_t)vlan << 8 | (uint64_t)tunnel << 24 |
			  (uint64_t)ver << 32));
}

struct flow_table *flow_table_new(size_t initial_buckets)
{
	struct flow_table *ft = calloc(1, sizeof(*ft));
	size_t n = 1024;

	if (!ft)
		return NULL;
	while (n < initial_buckets)
		n <<= 1;
	ft->slots = calloc(n, sizeof(*ft->slots));
	if (!ft->slots) {
		free(ft);
		return NULL;
	}
	ft->mask = n - 1;
	return ft;
}

void flow_table_free(struct flow_table *ft)
{
	if (!ft)
		return;
	free(ft->slots);
	flow_pool_release(ft->pool); /* gone when its flows are */
	free(ft);
}

void flow_table_free_flow(struct flow *f)
{
	if (f->pool)
		flow_pool_free(f->pool, f);
	else
		free(f);
}

static inline bool key_match(const struct flow *f, const struct pkt *p)
{
	if (f->protocol != p->protocol || f->vlan_id != p->vlan_id ||
	    f->tunnel_id != p->tunnel_id || f->ip_version != p->ip_version)
		return false;
	if (f->src_port == p->src_port && f->dst_port == p->dst_port &&
	    !memcmp(f->src_ip, p->src_ip, 16) && !memcmp(f->dst_ip, p->dst_ip, 16))
		return true;
	return f->src_port == p->dst_port && f->dst_port == p->src_port &&
	       !memcmp(f->src_ip, p->dst_ip, 16) && !memcmp(f->dst_ip, p->src_ip, 16);
}

uint64_t flow_table_hash(const struct pkt *p)
{
	return key_hash(p->src_ip, p->src_port, p->dst_ip, p->dst_port, p->protocol, p->vlan_id,
			p->tunnel_id, p->ip_version);
}

void flow_table_prefetch_bucket(const struct flow_table *ft, uint64_t h)
{
	__builtin_prefetch(&ft->slots[h & ft->mask]);
}

/* The flow of the first slot from @h's home that carries hash @h, if any
 * (a few slots only: this is a hint). */
static const struct flow *first_candidate(const struct flow_table *ft, uint64_t h)
{
	for (size_t i = h & ft->mask, n = 0; n < 4; i = (i + 1) & ft->mask, n++) {
		const struct slot *sl = &ft->slots[i];

		if (!sl->flow)
			return NULL;
		if (sl->hash == h)
			return sl->flow;
	}
	return NULL;
}

void flow_table_prefetch_flow(const struct flow_table *ft, uint64_t h)
{
	const struct flow *f = first_candidate(ft, h);

	if (f)
		__builtin_prefetch(f);
}

void flow_table_prefetch_flow_bytes(const struct flow_table *ft, uint64_t h, size_t bytes)
{
	const char *f = (const char *)first_candidate(ft, h);

	if (!f)
		return;
	for (size_t off = 0; off < bytes; off += 64)
		__builtin_prefetch(f + off);
}

struct flow *flow_table_lookup(struct flow_table *ft, const struct pkt *p, uint64_t h)
{
	for (size_t i = h & ft->mask;; i = (i + 1) & ft->mask) {
		struct slot *sl = &ft->slots[i];

		if (!sl->flow)
			return NULL;
		if (sl->hash == h && key_match(sl->flow, p))
			return sl->flow;
	}
}

static void place(struct slot *slots, size_t mask, uint64_t h, struct flow *f)
{
	size_t i = h & mask;

	while (slots[i].flow)
		i = (i + 1) & mask;
	slots[i].hash = h;
	slots[i].flow = f;
}

/* NEEDSWORK: a one-shot rehash pauses for O(n) (slots only, no flow is
 * touched); live mode may want it incremental (redis dictRehash style)
 * once tables reach millions. */
static void grow(struct flow_table *ft)
{
	size_t n = (ft->mask + 1) * 2;
	struct slot *ns = calloc(n, sizeof(*ns));

	if (!ns)
		return; /* keep working at a higher load (one slot stays free) */
	for (size_t i = 0; i <= ft->mask; i++)
		if (ft->slots[i].flow)
			place(ns, n - 1, ft->slots[i].hash, ft->slots[i].flow);
	free(ft->slots);
	ft->slots = ns;
	ft->mask = n - 1;
}

struct flow *flow_table_insert(struct flow_table *ft, uint64_t h, size_t extra)
{
	size_t size = sizeof(struct flow) + extra;
	struct flow *f;

	if (!ft->pool)
		ft->pool = flow_pool_new(size);
	if (ft->pool && flow_pool_size(ft->pool) >= size &&
	    flow_pool_size(ft->pool) - size < 64) {
		f = flow_pool_alloc(ft->pool);
		if (f)
			f->pool = ft->pool;
	} else {
		f = calloc(1, size); /* another size than the pool's: never in practice */
	}
	if (!f)
		return NULL;
	if (4 * (ft->count + 1) > 3 * (ft->mask + 1))
		grow(ft);
	if (ft->count + 1 > ft->mask) {
		flow_table_free_flow(f); /* full, and no memory to grow: probing needs a free slot */
		return NULL;
	}
	f->hash = h;
	place(ft->slots, ft->mask, h, f);
	f->older = ft->newest;
	if (ft->newest)
		ft->newest->newer = f;
	else
		ft->oldest = f;
	ft->newest = f;
	ft->count++;
	return f;
}

/* True when home slot @k lies cyclically in (@i, @j]: the entry at @j may
 * not move back to @i, which its probe sequence does not cross. */
static inline bool home_between(size_t i, size_t j, size_t k)
{
	return i <= j ? i < k && k <= j : i < k || k <= j;
}

void flow_table_remove(struct flow_table *ft, struct flow *f)
{
	size_t i = f->hash & ft->mask, j;

	while (ft->slots[i].flow && ft->slots[i].flow != f)
		i = (i + 1) & ft->mask;
	if (ft->slots[i].flow) {
		/* backward shift: close the gap so every probe sequence stays whole */
		for (j = (i + 1) & ft->mask; ft->slots[j].flow; j = (j + 1) & ft->mask) {
			if (home_between(i, j, ft->slots[j].hash & ft->mask))
				continue;
			ft->slots[i] = ft->slots[j];
			i = j;
		}
		ft->slots[i].flow = NULL;
	}
	if (ft->visited == f) /* every older flow was visited too */
		ft->visited = f->older;
	if (f->older)
		f->older->newer = f->newer;
	else
		ft->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		ft->newest = f->older;
	f->older = f->newer = NULL;
	ft->count--;
}

struct flow *flow_table_oldest(const struct flow_table *ft)
{
	return ft->oldest;
}

size_t flow_table_count(const struct flow_table *ft)
{
	return ft->count;
}

int flow_table_visit_due(struct flow_table *ft, uint64_t until_ms, int budget,
			 void (*fn)(struct flow *f, void *arg), void *arg)
{
	int n = 0;

	for (struct flow *f = ft->visited ? ft->visited->newer : ft->oldest;
	     f && n < budget && f->first_seen_ms <= until_ms; f = f->newer, n++) {
		ft->visited = f;
		fn(f, arg);
	}
	return n;
}
