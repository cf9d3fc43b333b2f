// SPDX-License-Identifier: GPL-2.0-only
/*
 * Flow memory: see flow_pool.h.  Slabs double from 64 KiB (a small capture
 * or one of many API streamers stays small) to 2 MiB, then stay at 2 MiB,
 * aligned and madvise(MADV_HUGEPAGE)d: one fault maps 2 MiB where 4 KiB
 * pages take 512.  Without transparent huge pages (or with "never") the
 * advice is ignored and the pool still saves malloc's per-object work.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/flow_pool.h"
#include "util/hugemap.h"

/* Under AddressSanitizer objects come from the heap, so that it sees them
 * (use after free, overflows); the pool then only counts them. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_HEAP 1
#endif
#endif
#if !defined(POOL_HEAP)
#define POOL_HEAP 0
#endif

#define SLAB_MIN (64u << 10)
#define SLAB_HUGE (2u << 20)

struct free_obj {
	struct free_obj *next;
};

struct slab {
	struct slab *next;
	size_t len; /* of the mapping, this header at its start */
};

struct flow_pool {
	size_t size;               /* object size, a multiple of 64 */
	struct free_obj *local;    /* owner's thread only */
	struct free_obj *returned; /* any thread pushes; the owner takes all */
	uint8_t *cur, *end;        /* the newest slab's uncarved part */
	struct slab *slabs;
	size_t next_len;           /* the next slab's size */
	size_t refs;               /* the owner's 1 + objects handed out */
};

struct flow_pool *flow_pool_new(size_t size)
{
	struct flow_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->size = (size + 63) & ~(size_t)63;
	p->next_len = SLAB_MIN;
	p->refs = 1;
	return p;
}

size_t flow_pool_size(const struct flow_pool *p)
{
	return p->size;
}

static int grow(struct flow_pool *p)
{
	size_t len = p->next_len;
	struct slab *s;

	while (len < sizeof(*s) + 64 + p->size)
		len *= 2;
	if (len >= SLAB_HUGE) {
		s = huge_map(len);
	} else {
		s = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s == MAP_FAILED)
			s = NULL;
	}
	if (!s)
		return -ENOMEM;
	s->len = len;
	s->next = p->slabs;
	p->slabs = s;
	p->cur = (uint8_t *)s + 64; /* objects 64-byte aligned */
	p->end = (uint8_t *)s + len;
	if (p->next_len < SLAB_HUGE)
		p->next_len *= 2;
	return 0;
}

void *flow_pool_alloc(struct flow_pool *p)
{
	struct free_obj *o = p->local;

	if (POOL_HEAP) {
		o = aligned_alloc(64, p->size);
		if (!o)
			return NULL;
		memset(o, 0, p->size);
		__atomic_fetch_add(&p->refs, 1, __ATOMIC_RELAXED);
		return o;
	}
	if (!o)
		o = __atomic_exchange_n(&p->returned, NULL, __ATOMIC_ACQUIRE);
	if (o) {
		p->local = o->next;
		memset(o, 0, p->size);
		__atomic_fetch_add(&p->refs, 1, __ATOMIC_RELAXED);
		return o;
	}
	if ((size_t)(p->end - p->cur) < p->size && grow(p))
		return NULL;
	o = (struct free_obj *)p->cur; /* fresh from mmap: zero */
	p->cur += p->size;
	__atomic_fetch_add(&p->refs, 1, __ATOMIC_RELAXED);
	return o;
}

static void destroy(struct flow_pool *p)
{
	struct slab *s = p->slabs, *next;

	for (; s; s = next) {
		next = s->next;
		munmap(s, s->len);
	}
	free(p);
}

static void unref(struct flow_pool *p)
{
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		destroy(p);
}

void flow_pool_free(struct flow_pool *p, void *obj)
{
	struct free_obj *o = obj, *head = __atomic_load_n(&p->returned, __ATOMIC_RELAXED);

	if (POOL_HEAP) {
		free(obj);
		unref(p);
		return;
	}
	do
		o->next = head;
	while (!__atomic_compare_exchange_n(&p->returned, &head, o, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
	unref(p);
}

void flow_pool_release(struct flow_pool *p)
{
	if (p)
		unref(p);
}
