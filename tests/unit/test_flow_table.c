// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for agent/core/flow_table.c: lookups in both directions, which
 * fields are part of the key, the creation-order list under removal from
 * head, middle and tail, growth past the initial 1024 buckets, the
 * visiting cursor (each flow once, in order, whatever is removed), and the
 * per-flow memory figures (printed) of the default and a heavy config.
 */
#include <stdint.h>
#include <stdlib.h>

#include "l7/dpi.h"
#include "core/engine.h"
#include "core/flow_table.h"
#include "test.h"

static struct pkt mkpkt4(uint32_t sip, uint32_t dip, uint16_t sport, uint16_t dport, uint8_t proto)
{
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.src_ip[0] = (uint8_t)(sip >> 24);
	p.src_ip[1] = (uint8_t)(sip >> 16);
	p.src_ip[2] = (uint8_t)(sip >> 8);
	p.src_ip[3] = (uint8_t)sip;
	p.dst_ip[0] = (uint8_t)(dip >> 24);
	p.dst_ip[1] = (uint8_t)(dip >> 16);
	p.dst_ip[2] = (uint8_t)(dip >> 8);
	p.dst_ip[3] = (uint8_t)dip;
	p.src_port = sport;
	p.dst_port = dport;
	p.protocol = proto;
	p.ip_version = 4;
	return p;
}

static struct pkt reverse(const struct pkt *p)
{
	struct pkt r = *p;

	memcpy(r.src_ip, p->dst_ip, 16);
	memcpy(r.dst_ip, p->src_ip, 16);
	memcpy(r.src_mac, p->dst_mac, 6);
	memcpy(r.dst_mac, p->src_mac, 6);
	r.src_port = p->dst_port;
	r.dst_port = p->src_port;
	return r;
}

static const struct flow_opts plain_opts = { .accounting_mode = 0 };

static struct flow *add(struct flow_table *ft, const struct pkt *p)
{
	struct flow *f = flow_table_insert(ft, flow_table_hash(p), flow_extra_bytes(&plain_opts));

	if (!f)
		abort();
	flow_init(f, &plain_opts, p);
	return f;
}

static void drop(struct flow_table *ft, struct flow *f)
{
	flow_table_remove(ft, f);
	flow_table_free_flow(f);
}

static void drop_all(struct flow_table *ft)
{
	struct flow *f;

	while ((f = flow_table_oldest(ft)))
		drop(ft, f);
	flow_table_free(ft);
}

static void test_lookup_both_directions(void)
{
	struct flow_table *ft = flow_table_new(0);
	struct pkt p = mkpkt4(0x0a000001, 0xc0a80102, 40000, 443, 6);
	struct pkt r = reverse(&p);
	struct flow *f;

	ASSERT_TRUE(flow_table_lookup(ft, &p, flow_table_hash(&p)) == NULL, "empty table");
	f = add(ft, &p);
	ASSERT_EQ(flow_table_count(ft), 1, "count 1");
	ASSERT_TRUE(flow_table_lookup(ft, &p, flow_table_hash(&p)) == f, "forward lookup");
	ASSERT_TRUE(flow_table_lookup(ft, &r, flow_table_hash(&r)) == f, "reverse 5-tuple finds the same flow");
	ASSERT_TRUE(flow_table_oldest(ft) == f, "oldest");

	/* a different port, address or swapped-only-ports tuple is another flow */
	{
		struct pkt q = p;

		q.dst_port = 444;
		ASSERT_TRUE(flow_table_lookup(ft, &q, flow_table_hash(&q)) == NULL, "other dport");
		q = p;
		q.src_ip[3] = 9;
		ASSERT_TRUE(flow_table_lookup(ft, &q, flow_table_hash(&q)) == NULL, "other src ip");
		q = p;
		q.src_port = p.dst_port;
		q.dst_port = p.src_port; /* ports swapped, IPs not */
		ASSERT_TRUE(flow_table_lookup(ft, &q, flow_table_hash(&q)) == NULL, "ports swapped alone");
		q = p;
		memcpy(q.src_ip, p.dst_ip, 16);
		memcpy(q.dst_ip, p.src_ip, 16); /* IPs swapped, ports not */
		ASSERT_TRUE(flow_table_lookup(ft, &q, flow_table_hash(&q)) == NULL, "IPs swapped alone");
		/* MACs are not part of the key */
		q = p;
		q.src_mac[0] = 0xee;
		ASSERT_TRUE(flow_table_lookup(ft, &q, flow_table_hash(&q)) == f, "MACs not in the key");
	}

	/* IPv6, both directions, including addresses differing only in the tail */
	{
		struct pkt a, b;
		struct flow *f6, *g6;

		memset(&a, 0, sizeof(a));
		a.ip_version = 6;
		a.protocol = 17;
		a.src_ip[0] = 0x20;
		a.src_ip[1] = 0x01;
		a.src_ip[15] = 1;
		a.dst_ip[0] = 0x20;
		a.dst_ip[1] = 0x01;
		a.dst_ip[15] = 2;
		a.src_port = 5353;
		a.dst_port = 5353;
		f6 = add(ft, &a);
		b = a;
		b.dst_ip[14] = 1; /* differs only beyond the first 8 bytes */
		ASSERT_TRUE(flow_table_lookup(ft, &b, flow_table_hash(&b)) == NULL, "v6 tail differs");
		g6 = add(ft, &b);
		ASSERT_TRUE(flow_table_lookup(ft, &a, flow_table_hash(&a)) == f6, "v6 forward");
		{
			struct pkt ra = reverse(&a), rb = reverse(&b);

			ASSERT_TRUE(flow_table_lookup(ft, &ra, flow_table_hash(&ra)) == f6, "v6 reverse");
			ASSERT_TRUE(flow_table_lookup(ft, &rb, flow_table_hash(&rb)) == g6, "v6 reverse second");
		}
	}
	ASSERT_EQ(flow_table_count(ft), 3, "count 3");
	drop_all(ft);
}

static void test_key_fields(void)
{
	struct flow_table *ft = flow_table_new(16);
	struct pkt base = mkpkt4(0x0a000001, 0x0a000002, 1000, 2000, 17);
	struct pkt v = base, t = base, pr = base, ver = base;
	struct flow *fb, *fv, *ft_, *fp, *fver;

	v.vlan_id = 10;
	t.tunnel_id = FC_TUNNEL_GTP;
	pr.protocol = 6;
	ver.ip_version = 6; /* same 16 address bytes, other family */

	fb = add(ft, &base);
	ASSERT_TRUE(flow_table_lookup(ft, &v, flow_table_hash(&v)) == NULL, "vlan is in the key");
	ASSERT_TRUE(flow_table_lookup(ft, &t, flow_table_hash(&t)) == NULL, "tunnel_id is in the key");
	ASSERT_TRUE(flow_table_lookup(ft, &pr, flow_table_hash(&pr)) == NULL, "protocol is in the key");
	ASSERT_TRUE(flow_table_lookup(ft, &ver, flow_table_hash(&ver)) == NULL, "ip_version is in the key");
	fv = add(ft, &v);
	ft_ = add(ft, &t);
	fp = add(ft, &pr);
	fver = add(ft, &ver);
	ASSERT_EQ(flow_table_count(ft), 5, "five distinct flows");
	ASSERT_TRUE(flow_table_lookup(ft, &base, flow_table_hash(&base)) == fb, "base");
	ASSERT_TRUE(flow_table_lookup(ft, &v, flow_table_hash(&v)) == fv, "vlan flow");
	ASSERT_TRUE(flow_table_lookup(ft, &t, flow_table_hash(&t)) == ft_, "tunnel flow");
	ASSERT_TRUE(flow_table_lookup(ft, &pr, flow_table_hash(&pr)) == fp, "protocol flow");
	ASSERT_TRUE(flow_table_lookup(ft, &ver, flow_table_hash(&ver)) == fver, "ip_version flow");
	{
		struct pkt rv = reverse(&v), rt = reverse(&t);

		ASSERT_TRUE(flow_table_lookup(ft, &rv, flow_table_hash(&rv)) == fv, "vlan flow reverse");
		ASSERT_TRUE(flow_table_lookup(ft, &rt, flow_table_hash(&rt)) == ft_, "tunnel flow reverse");
	}
	drop_all(ft);
}

/* Walk oldest -> newest and compare with @want (n entries). */
static bool order_is(struct flow_table *ft, struct flow **want, size_t n)
{
	struct flow *f = flow_table_oldest(ft);
	size_t i = 0;

	for (; f; f = f->newer, i++)
		if (i >= n || f != want[i])
			return false;
	return i == n && flow_table_count(ft) == n;
}

static void test_remove_keeps_order(void)
{
	struct flow_table *ft = flow_table_new(0);
	struct flow *f[6];
	struct pkt p[6];

	for (int i = 0; i < 6; i++) {
		p[i] = mkpkt4(0x0a000001, 0x0a000002, (uint16_t)(1000 + i), 80, 6);
		f[i] = add(ft, &p[i]);
	}
	ASSERT_TRUE(order_is(ft, f, 6), "creation order");

	drop(ft, f[3]); /* middle */
	{
		struct flow *w[] = { f[0], f[1], f[2], f[4], f[5] };

		ASSERT_TRUE(order_is(ft, w, 5), "after removing from the middle");
	}
	ASSERT_TRUE(flow_table_lookup(ft, &p[3], flow_table_hash(&p[3])) == NULL, "removed flow gone");
	drop(ft, f[0]); /* head */
	{
		struct flow *w[] = { f[1], f[2], f[4], f[5] };

		ASSERT_TRUE(order_is(ft, w, 4), "after removing the head");
		ASSERT_TRUE(flow_table_oldest(ft) == f[1], "new oldest");
	}
	drop(ft, f[5]); /* tail */
	{
		struct flow *w[] = { f[1], f[2], f[4] };

		ASSERT_TRUE(order_is(ft, w, 3), "after removing the tail");
	}
	/* a re-created flow goes to the end */
	f[0] = add(ft, &p[0]);
	{
		struct flow *w[] = { f[1], f[2], f[4], f[0] };

		ASSERT_TRUE(order_is(ft, w, 4), "re-inserted flow is newest");
	}
	for (int i = 0; i < 6; i++) {
		bool present = i == 0 || i == 1 || i == 2 || i == 4;

		ASSERT_TRUE((flow_table_lookup(ft, &p[i], flow_table_hash(&p[i])) != NULL) == present, "lookups after removals");
	}
	drop(ft, f[1]);
	drop(ft, f[2]);
	drop(ft, f[4]);
	drop(ft, f[0]);
	ASSERT_EQ(flow_table_count(ft), 0, "empty");
	ASSERT_TRUE(flow_table_oldest(ft) == NULL, "no oldest");
	/* usable again after becoming empty */
	f[0] = add(ft, &p[0]);
	ASSERT_TRUE(flow_table_oldest(ft) == f[0] && f[0]->newer == NULL && f[0]->older == NULL,
		    "single flow list");
	drop_all(ft);
}

static void test_growth(void)
{
	enum { N = 100000 };
	struct flow_table *ft = flow_table_new(0); /* 1024 buckets */
	struct flow **fl = calloc(N, sizeof(*fl));
	int missing = 0, wrong_order = 0;
	struct flow *f;
	size_t i;

	if (!fl)
		abort();
	for (i = 0; i < N; i++) {
		struct pkt p = mkpkt4(0x0a000000 + (uint32_t)(i / 500), 0x0a640001,
				      (uint16_t)(1024 + i % 500), 443, 6);

		fl[i] = add(ft, &p);
	}
	ASSERT_EQ(flow_table_count(ft), N, "count");
	for (i = 0; i < N; i++) {
		struct pkt p = mkpkt4(0x0a000000 + (uint32_t)(i / 500), 0x0a640001,
				      (uint16_t)(1024 + i % 500), 443, 6);
		struct pkt r = reverse(&p);

		missing += flow_table_lookup(ft, &p, flow_table_hash(&p)) != fl[i];
		missing += flow_table_lookup(ft, &r, flow_table_hash(&r)) != fl[i];
	}
	ASSERT_EQ(missing, 0, "every flow findable in both directions after growth");
	for (f = flow_table_oldest(ft), i = 0; f; f = f->newer, i++)
		wrong_order += i >= N || f != fl[i];
	ASSERT_EQ(wrong_order, 0, "creation order survives rehashing");
	ASSERT_EQ(i, N, "order list length");
	/* remove every other flow, the rest stays findable */
	for (i = 0; i < N; i += 2)
		drop(ft, fl[i]);
	missing = 0;
	for (i = 0; i < N; i++) {
		struct pkt p = mkpkt4(0x0a000000 + (uint32_t)(i / 500), 0x0a640001,
				      (uint16_t)(1024 + i % 500), 443, 6);

		missing += flow_table_lookup(ft, &p, flow_table_hash(&p)) != (i % 2 ? fl[i] : NULL);
	}
	ASSERT_EQ(missing, 0, "lookups after removing half");
	ASSERT_EQ(flow_table_count(ft), N / 2, "count after removing half");
	drop_all(ft);
	free(fl);
}

static void test_memory_per_flow(void)
{
	struct engine_opts def = { .idle_timeout_ms = 120000, .active_timeout_ms = 1800000,
				   .decode_tunnels = true };
	struct engine_opts heavy = def;
	size_t bd, bh, nd = dpi_flow_struct_bytes();

	heavy.flow.statistics = true;
	heavy.flow.splt = 20;
	bd = engine_flow_bytes(&def);
	bh = engine_flow_bytes(&heavy);
	printf("memory per flow: %zu bytes (default: struct flow %zu rounded to 64 + bucket slot "
	       "%zu + heap %zu; plus %zu bytes of nDPI flow state while dissecting)\n",
	       bd, sizeof(struct flow), sizeof(void *), flow_extra_bytes(&def.flow), nd);
	printf("memory per flow: %zu bytes (--statistical-analysis --splt-analysis 20: "
	       "struct flow %zu + bucket slot %zu + stats %zu + splt %zu; plus %zu bytes of "
	       "nDPI flow state while dissecting)\n",
	       bh, sizeof(struct flow), sizeof(void *), sizeof(struct flow_stats),
	       (size_t)20 * (sizeof(int64_t) + sizeof(int32_t) + sizeof(int8_t)), nd);
	ASSERT_EQ(bd, ((sizeof(struct flow) + flow_extra_bytes(&def.flow) + 63) & ~(size_t)63) +
			      sizeof(void *), "default: one 64-byte-rounded pool object + slot");
	ASSERT_EQ(bh, ((sizeof(struct flow) + flow_extra_bytes(&heavy.flow) + 63) & ~(size_t)63) +
			      sizeof(void *), "heavy");
	ASSERT_EQ(flow_extra_bytes(&def.flow), 0, "default config allocates nothing more");
	ASSERT_EQ(flow_extra_bytes(&heavy.flow),
		  sizeof(struct flow_stats) + 20 * (sizeof(int64_t) + sizeof(int32_t) + sizeof(int8_t)),
		  "stats + 20-entry SPLT");
	ASSERT_TRUE(nd > 0, "nDPI flow struct size known");
}

static int visited[16];
static int n_visited;

static void note_visit(struct flow *f, void *arg)
{
	(void)arg;
	visited[n_visited++] = f->src_port;
}

/* Flows are first seen at 100 * i ms and carry i as their source port. */
static void test_visit_due(void)
{
	struct flow_table *ft = flow_table_new(0);
	struct flow *fl[8];

	for (int i = 0; i < 8; i++) {
		struct pkt p = mkpkt4(0x0a000001, 0x0a000002, (uint16_t)i, 80, 6);

		fl[i] = add(ft, &p);
		fl[i]->first_seen_ms = 100 * (uint64_t)i;
	}
	n_visited = 0;
	ASSERT_EQ(flow_table_visit_due(ft, 250, 100, note_visit, NULL), 3, "due by 250 ms: 0, 1, 2");
	ASSERT_EQ(flow_table_visit_due(ft, 250, 100, note_visit, NULL), 0, "each flow once");
	/* the cursor's own flow goes, then one ahead of it and one behind */
	drop(ft, fl[2]);
	drop(ft, fl[4]);
	drop(ft, fl[0]);
	ASSERT_EQ(flow_table_visit_due(ft, 500, 1, note_visit, NULL), 1, "the budget holds");
	ASSERT_EQ(flow_table_visit_due(ft, 500, 100, note_visit, NULL), 1, "then the rest due");
	/* all visited flows gone: the cursor starts again from the oldest */
	drop(ft, fl[1]);
	drop(ft, fl[3]);
	drop(ft, fl[5]);
	ASSERT_EQ(flow_table_visit_due(ft, 10000, 100, note_visit, NULL), 2, "6 and 7");
	ASSERT_EQ(n_visited, 7, "visits");
	{
		const int want[7] = { 0, 1, 2, 3, 5, 6, 7 };

		for (int i = 0; i < 7; i++)
			ASSERT_EQ(visited[i], want[i], "creation order, removed flows skipped");
	}
	drop_all(ft);
}

int main(void)
{
	RUN_TEST(test_lookup_both_directions);
	RUN_TEST(test_key_fields);
	RUN_TEST(test_remove_keeps_order);
	RUN_TEST(test_growth);
	RUN_TEST(test_visit_due);
	RUN_TEST(test_memory_per_flow);
	return TEST_SUMMARY();
}
