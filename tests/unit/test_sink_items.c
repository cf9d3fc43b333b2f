// SPDX-License-Identifier: GPL-2.0-only
/*
 * agent/export/sink.c's item cache: an item given back keeps its buffer for
 * the next sink_item_take() (reset: no bytes, no flows, no ids), one too
 * small is grown, at most a few are kept (the rest freed: LeakSanitizer
 * sees none left under `make SANITIZE=1`), and a refused push gives the
 * item back instead of freeing it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/sink.h"
#include "test.h"

static void nothing(struct sink *s)
{
	(void)s;
}

static const struct sink_vt vt = { .name = "test", .destroy = nothing };

static struct sink *new_sink(uint64_t queue_cap)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (s)
		sink_init(s, &vt, queue_cap);
	return s;
}

static void test_given_back_reused_and_reset(void)
{
	struct sink *s = new_sink(1 << 20);
	struct sink_item *a, *b;
	uint8_t *buf;

	if (!ASSERT_TRUE(s != NULL, "sink"))
		return;
	a = sink_item_take(s, 1000);
	if (!ASSERT_TRUE(a && a->cap >= 1000 && a->len == 0, "a new item"))
		goto out;
	sink_item_put(a, "abc", 3);
	a->nflows = 7;
	a->first_id = 3;
	a->last_id = 9;
	buf = a->data;
	sink_item_give(s, a);
	b = sink_item_take(s, 500);
	ASSERT_TRUE(b == a && b->data == buf, "the item and its buffer come back");
	ASSERT_TRUE(b->len == 0 && b->nflows == 0 && b->first_id == 0 && b->last_id == 0 &&
		    b->next == NULL, "reset");
	sink_item_give(s, b);
	b = sink_item_take(s, 1 << 16);
	ASSERT_TRUE(b && b->cap >= 1 << 16 && b->len == 0, "grown to what is asked");
	if (b)
		memset(b->data, 1, 1 << 16); /* writable up to its capacity */
	sink_item_give(s, b);
out:
	sink_free(s);
}

static void test_cache_bounded_and_refused_push(void)
{
	enum { N = 40 };
	struct sink *s = new_sink(10);
	struct sink_item *it[N], *big;
	unsigned int kept;

	if (!ASSERT_TRUE(s != NULL, "sink"))
		return;
	for (int i = 0; i < N; i++)
		it[i] = sink_item_take(s, 64);
	for (int i = 0; i < N; i++)
		sink_item_give(s, it[i]);
	kept = s->n_cache;
	ASSERT_TRUE(kept > 0 && kept < N, "a few kept, the rest freed");
	/* a push the queue has no room for: counted, and the item given back */
	big = sink_item_take(s, 64);
	sink_item_put(big, "0123456789abcdef", 16);
	big->nflows = 2;
	ASSERT_EQ(sink_push(s, big), -ENOSPC, "refused");
	ASSERT_EQ(s->st.dropped_queue_full, 2, "its flows counted");
	ASSERT_EQ(s->n_cache, kept, "given back to the cache it was taken from");
	sink_free(s);
}

int main(void)
{
	RUN_TEST(test_given_back_reused_and_reset);
	RUN_TEST(test_cache_bounded_and_refused_push);
	return TEST_SUMMARY();
}
