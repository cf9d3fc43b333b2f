// SPDX-License-Identifier: GPL-2.0-only
/*
 * agent/core/flow_pool.c: objects come zeroed, 64-byte aligned and apart
 * from each other; freed ones are reused before the pool grows; a second
 * thread may free while the owner allocates (the writer's case); the pool
 * outlives its owner until its last object comes back (a flow held by an
 * API caller after close); slabs from 2 MiB on are aligned and advised for
 * huge pages (VmFlags "hg" in smaps).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/flow_pool.h"
#include "test.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return x < y ? -1 : x > y;
}

static void test_zeroed_aligned_apart(void)
{
	enum { N = 5000 };
	struct flow_pool *p = flow_pool_new(1000);
	uint8_t **o = calloc(N, sizeof(*o));
	size_t bad_align = 0, dirty = 0, overlap = 0, reused_dirty = 0;

	ASSERT_EQ(flow_pool_size(p), 1024, "size rounded up to 64");
	for (int i = 0; i < N; i++) {
		o[i] = flow_pool_alloc(p);
		bad_align += (uintptr_t)o[i] % 64 != 0;
		dirty += !all_zero(o[i], 1024);
		memset(o[i], 0xab, 1024);
	}
	qsort(o, N, sizeof(*o), cmp_ptr);
	for (int i = 1; i < N; i++)
		overlap += (size_t)(o[i] - o[i - 1]) < 1024;
	for (int i = 0; i < N; i += 2)
		flow_pool_free(p, o[i]);
	for (int i = 0; i < N; i += 2) {
		o[i] = flow_pool_alloc(p);
		reused_dirty += !all_zero(o[i], 1024);
	}
	ASSERT_EQ(bad_align, 0, "every object 64-byte aligned");
	ASSERT_EQ(dirty, 0, "fresh objects zeroed");
	ASSERT_EQ(overlap, 0, "no two objects overlap");
	ASSERT_EQ(reused_dirty, 0, "reused objects zeroed again");
	for (int i = 0; i < N; i++)
		flow_pool_free(p, o[i]);
	flow_pool_release(p);
	free(o);
}

static void test_reuse_before_growth(void)
{
	enum { N = 3000 };
	struct flow_pool *p = flow_pool_new(200);
	uintptr_t *a = calloc(N, sizeof(*a)), *b = calloc(N, sizeof(*b));
	size_t same = 0;

	for (int i = 0; i < N; i++)
		a[i] = (uintptr_t)flow_pool_alloc(p);
	for (int i = 0; i < N; i++)
		flow_pool_free(p, (void *)a[i]);
	for (int i = 0; i < N; i++)
		b[i] = (uintptr_t)flow_pool_alloc(p);
	qsort(a, N, sizeof(*a), cmp_ptr);
	qsort(b, N, sizeof(*b), cmp_ptr);
	for (int i = 0; i < N; i++)
		same += a[i] == b[i];
	ASSERT_EQ(same, N, "N frees then N allocations: the same N objects");
	for (int i = 0; i < N; i++)
		flow_pool_free(p, (void *)b[i]);
	flow_pool_release(p);
	free(a);
	free(b);
}

/* Owner allocates and stamps; a second thread checks the stamp and frees. */
#define RING 1024
struct xfer {
	struct flow_pool *p;
	uint64_t *ring[RING];
	size_t head, tail; /* head: owner writes; tail: freer */
	size_t total;
	size_t bad_stamp;
};

static void *freer(void *arg)
{
	struct xfer *x = arg;

	for (size_t n = 0; n < x->total; n++) {
		uint64_t *o;

		while (__atomic_load_n(&x->head, __ATOMIC_ACQUIRE) == x->tail)
			;
		o = x->ring[x->tail % RING];
		x->bad_stamp += o[0] != n + 1 || o[15] != ~(n + 1);
		flow_pool_free(x->p, o);
		__atomic_store_n(&x->tail, x->tail + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void test_free_from_another_thread(void)
{
	static struct xfer x;
	pthread_t t;
	size_t dirty = 0;

	x.p = flow_pool_new(128);
	x.total = 400000;
	pthread_create(&t, NULL, freer, &x);
	for (size_t n = 0; n < x.total; n++) {
		uint64_t *o;

		while (x.head - __atomic_load_n(&x.tail, __ATOMIC_ACQUIRE) == RING)
			;
		o = flow_pool_alloc(x.p);
		dirty += !all_zero((uint8_t *)o, 128);
		o[0] = n + 1;
		o[15] = ~(n + 1);
		x.ring[x.head % RING] = o;
		__atomic_store_n(&x.head, x.head + 1, __ATOMIC_RELEASE);
	}
	pthread_join(t, NULL);
	ASSERT_EQ(dirty, 0, "objects freed by the other thread come back zeroed");
	ASSERT_EQ(x.bad_stamp, 0, "no object handed out twice at once");
	flow_pool_release(x.p);
}

static void test_outlives_owner(void)
{
	struct flow_pool *p = flow_pool_new(64);
	uint64_t *o[3];

	for (int i = 0; i < 3; i++)
		o[i] = flow_pool_alloc(p);
	flow_pool_release(p); /* the engine closed; its flows are still held */
	for (int i = 0; i < 3; i++)
		o[i][0] = 42 + (uint64_t)i;
	ASSERT_EQ(o[0][0] + o[1][0] + o[2][0], 129, "objects usable after the owner released");
	for (int i = 0; i < 3; i++)
		flow_pool_free(p, o[i]); /* the last one unmaps (ASan: no leak) */
}

/* The smaps VmFlags line of the mapping holding @addr. */
static bool vmflags_of(uintptr_t addr, char *flags, size_t n, unsigned long *start)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = addr >= lo && addr < hi;
			if (in)
				*start = lo;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, n, "%s", line + 8);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_huge_slabs(void)
{
	/* 64 KiB + ... + 1 MiB of slabs, then 2 MiB ones: 6 MiB of objects reach them */
	enum { SZ = 4096, N = (6 << 20) / SZ };
	struct flow_pool *p = flow_pool_new(SZ);
	void **o = calloc(N, sizeof(*o));
	char flags[512] = "";
	unsigned long start = 1;
	uintptr_t last;

	for (int i = 0; i < N; i++)
		o[i] = flow_pool_alloc(p);
	last = (uintptr_t)o[N - 1];
	ASSERT_TRUE(vmflags_of(last, flags, sizeof(flags), &start),
		    "the last object's mapping in smaps");
	ASSERT_EQ(start % (2 << 20), 0, "huge-page slabs start at a 2 MiB boundary");
	/* MADV_HUGEPAGE sets "hg" whether or not THP can back it right now */
	ASSERT_TRUE(strstr(flags, " hg") != NULL, "a 2 MiB slab is advised for huge pages");
	for (int i = 0; i < N; i++)
		flow_pool_free(p, o[i]);
	flow_pool_release(p);
	free(o);
}

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

int main(void)
{
	RUN_TEST(test_zeroed_aligned_apart);
#ifdef ASAN
	SKIP_TEST(test_reuse_before_growth, "under ASan objects come from the heap (flow_pool.c)");
	SKIP_TEST(test_huge_slabs, "under ASan objects come from the heap (flow_pool.c)");
	RUN_TEST(test_free_from_another_thread);
	RUN_TEST(test_outlives_owner);
	return TEST_SUMMARY();
#endif
	RUN_TEST(test_reuse_before_growth);
	RUN_TEST(test_free_from_another_thread);
	RUN_TEST(test_outlives_owner);
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK))
		SKIP_TEST(test_huge_slabs, "no transparent huge pages in this kernel "
					   "(/sys/kernel/mm/transparent_hugepage)");
	else
		RUN_TEST(test_huge_slabs);
	return TEST_SUMMARY();
}
