// SPDX-License-Identifier: GPL-2.0-only
/*
 * Chained hash table with power-of-two buckets that doubles at load 1, and
 * the creation-order list.  The hash of the key is symmetric (the sum of
 * the two endpoint hashes) so both directions land in the same bucket
 * without building a canonical key per packet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow_table.h"

struct flow_table {
	struct flow **buckets;
	size_t mask;
	size_t count;
	struct flow *oldest, *newest;
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
	ft->buckets = calloc(n, sizeof(*ft->buckets));
	if (!ft->buckets) {
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
	free(ft->buckets);
	free(ft);
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
	__builtin_prefetch(&ft->buckets[h & ft->mask]);
}

void flow_table_prefetch_flow(const struct flow_table *ft, uint64_t h)
{
	const struct flow *f = ft->buckets[h & ft->mask];

	if (f)
		__builtin_prefetch(f);
}

struct flow *flow_table_lookup(struct flow_table *ft, const struct pkt *p, uint64_t h)
{
	struct flow *f;

	for (f = ft->buckets[h & ft->mask]; f; f = f->hnext)
		if (f->hash == h && key_match(f, p))
			return f;
	return NULL;
}

/* NEEDSWORK: a one-shot rehash pauses for O(n); live mode may want it
 * incremental (redis dictRehash style) once tables reach millions. */
static void grow(struct flow_table *ft)
{
	size_t n = (ft->mask + 1) * 2;
	struct flow **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* keep working with longer chains */
	for (size_t i = 0; i <= ft->mask; i++) {
		struct flow *f = ft->buckets[i], *next;

		for (; f; f = next) {
			next = f->hnext;
			f->hnext = nb[f->hash & (n - 1)];
			nb[f->hash & (n - 1)] = f;
		}
	}
	free(ft->buckets);
	ft->buckets = nb;
	ft->mask = n - 1;
}

struct flow *flow_table_insert(struct flow_table *ft, uint64_t h, size_t extra)
{
	struct flow *f = calloc(1, sizeof(*f) + extra);
	size_t b;

	if (!f)
		return NULL;
	if (ft->count >= ft->mask + 1)
		grow(ft);
	f->hash = h;
	b = f->hash & ft->mask;
	f->hnext = ft->buckets[b];
	ft->buckets[b] = f;
	f->older = ft->newest;
	if (ft->newest)
		ft->newest->newer = f;
	else
		ft->oldest = f;
	ft->newest = f;
	ft->count++;
	return f;
}

void flow_table_remove(struct flow_table *ft, struct flow *f)
{
	struct flow **pp = &ft->buckets[f->hash & ft->mask];

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	if (f->older)
		f->older->newer = f->newer;
	else
		ft->oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		ft->newest = f->older;
	f->hnext = f->older = f->newer = NULL;
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
