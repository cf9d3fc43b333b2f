// SPDX-License-Identifier: GPL-2.0-only
/*
 * Randomised check of agent/core/flow_table.c's open addressing against a plain
 * array: inserts, removals in any order, lookups in both directions and
 * growth, with hashes forced into a handful of values (long probe runs,
 * runs that wrap around the end of the slot array, equal hashes for
 * different keys) and with real hashes.  After every step each live flow
 * must be found, each removed key must not be, and the creation-order
 * list must hold exactly the live flows, oldest first.  Seeded: a failure
 * repeats.
 */
#include <stdint.h>
#include <stdlib.h>

#include "core/flow_table.h"
#include "test.h"

#define MAX_LIVE 2000


static const struct flow_opts opts = { .accounting_mode = 0 };

/* A key of its own per id: 10.0.x.y:id -> 10.1.0.1:80 over UDP. */
static struct pkt key_of(uint32_t id)
{
	struct pkt p = { 0 };

	p.src_ip[0] = 10;
	p.src_ip[2] = (uint8_t)(id >> 8);
	p.src_ip[3] = (uint8_t)id;
	p.dst_ip[0] = 10;
	p.dst_ip[1] = 1;
	p.dst_ip[3] = 1;
	p.src_port = (uint16_t)(1024 + (id >> 16));
	p.dst_port = 80;
	p.protocol = 17;
	p.ip_version = 4;
	p.raw_size = 60;
	return p;
}

static struct pkt reversed(const struct pkt *p)
{
	struct pkt r = *p;

	memcpy(r.src_ip, p->dst_ip, 16);
	memcpy(r.dst_ip, p->src_ip, 16);
	r.src_port = p->dst_port;
	r.dst_port = p->src_port;
	return r;
}

struct live {
	struct flow *f;
	uint32_t id;
	uint64_t h;
};

/* Everything the table must say about @live (n entries, creation order). */
static bool consistent(struct flow_table *ft, const struct live *live, size_t n)
{
	const struct flow *o = flow_table_oldest(ft);

	if (flow_table_count(ft) != n)
		return false;
	for (size_t i = 0; i < n; i++, o = o->newer) {
		struct pkt p = key_of(live[i].id), r = reversed(&p);

		if (o != live[i].f)
			return false;
		if (flow_table_lookup(ft, &p, live[i].h) != live[i].f ||
		    flow_table_lookup(ft, &r, live[i].h) != live[i].f)
			return false;
	}
	return o == NULL;
}

/* One run: @nh distinct forced hashes (0: the real key hash), at most
 * @max live flows, a full check every @every steps. */
static bool run(unsigned int nh, int steps, size_t max, int every)
{
	static struct live live[MAX_LIVE];
	struct flow_table *ft = flow_table_new(0);
	uint32_t next_id = 1;
	size_t n = 0;
	bool ok = true;

	for (int step = 0; step < steps && ok; step++) {
		bool add = n == 0 || (n < max && test_rng() % 100 < (step < steps / 2 ? 70 : 35));

		if (add) {
			struct pkt p = key_of(next_id);
			uint64_t h = nh ? (test_rng() % nh) * 0x9e3779b97f4a7c15ull : flow_table_hash(&p);
			struct flow *f;

			/* a removed or never-added key must not be found first */
			if (flow_table_lookup(ft, &p, h))
				ok = false;
			f = flow_table_insert(ft, h, flow_extra_bytes(&opts));
			if (!f)
				abort();
			flow_init(f, &opts, &p);
			live[n++] = (struct live){ f, next_id++, h };
		} else {
			size_t i = (size_t)(test_rng() % n);
			struct pkt p = key_of(live[i].id);

			flow_table_remove(ft, live[i].f);
			flow_table_free_flow(live[i].f);
			memmove(&live[i], &live[i + 1], (n - i - 1) * sizeof(live[0]));
			n--;
			if (flow_table_lookup(ft, &p, live[0].h) && nh == 1)
				ok = false; /* all keys share one hash: the removed key is gone */
		}
		if (step % every == 0 || step == steps - 1)
			ok = ok && consistent(ft, live, n);
	}
	while (n) {
		flow_table_remove(ft, live[n - 1].f);
		flow_table_free_flow(live[--n].f);
	}
	ok = ok && flow_table_count(ft) == 0 && !flow_table_oldest(ft);
	flow_table_free(ft);
	return ok;
}

static void test_one_hash(void)
{
	ASSERT_TRUE(run(1, 1500, 200, 3), "every key on one hash: one long probe run");
}

static void test_few_hashes(void)
{
	ASSERT_TRUE(run(3, 6000, 300, 5), "three hashes: runs that meet and wrap");
	ASSERT_TRUE(run(97, 20000, 1500, 37), "97 hashes");
}

static void test_real_hashes(void)
{
	ASSERT_TRUE(run(0, 60000, MAX_LIVE, 101), "real key hashes with growth");
}

int main(void)
{
	RUN_TEST(test_one_hash);
	RUN_TEST(test_few_hashes);
	RUN_TEST(test_real_hashes);
	return TEST_SUMMARY();
}
