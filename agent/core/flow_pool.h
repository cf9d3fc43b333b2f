/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory for one engine's flows: objects of one size carved from slabs
 * that grow to 2 MiB-aligned regions the kernel may back with transparent
 * huge pages.  A run that keeps hundreds of thousands of flows open
 * otherwise spends a quarter of its time in malloc's first touch of fresh
 * 4 KiB pages, one fault per few flows (perf on big-mix-x80: _int_malloc
 * 16% + its page faults 10%).
 *
 * One thread allocates (the engine's); any thread frees (the writer, an
 * API caller holding a flow): a freed object goes on a lock-free stack
 * that the allocating thread takes whole when its own list is empty, so
 * there is no pop-one race (ABA).  The pool lives until its owner released
 * it and every object came back: a flow may outlive its engine.
 * Slabs go back to the system only then (as most allocators' peak does).
 */
#ifndef FLOWSIGHT_FLOW_POOL_H
#define FLOWSIGHT_FLOW_POOL_H

#include <stddef.h>

struct flow_pool;

/* A pool of zeroed objects of @size bytes; NULL on ENOMEM. */
struct flow_pool *flow_pool_new(size_t size);

/* The object size the pool was made for. */
size_t flow_pool_size(const struct flow_pool *p);

/* A zeroed object; NULL on ENOMEM.  Only the owner's thread calls this. */
void *flow_pool_alloc(struct flow_pool *p);

/* Give @obj back; any thread, also after flow_pool_release(). */
void flow_pool_free(struct flow_pool *p, void *obj);

/* The owner is done: the pool goes once its last object came back. */
void flow_pool_release(struct flow_pool *p);

#endif
