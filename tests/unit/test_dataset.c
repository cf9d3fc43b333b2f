// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for dataset mode (agent/core/dataset.c and the engine's
 * meter_ds): the state machines on crafted packet sequences, each checked
 * against an independent computation written here from README "Dataset
 * mode"'s definitions, not from dataset.c's code:
 *  - active/idle periods: the packet times cut at gaps > T, two-pass
 *    statistics, on random sequences;
 *  - bulks: the payload packets grouped into same-direction segments, cut
 *    at gaps > 1 s, segments of >= 4 counted, on random sequences;
 *  - subflows: 1 + the gaps > 1 s;
 *  - TCP ends: crafted closes (normal, half-close, simultaneous, FIN with
 *    data, an ACK one short of the FIN, sequence wrap-around, RST, FIN+RST,
 *    SYN after FIN, non-TCP and truncated headers);
 *  - the engine: expiration_id 3 and the next packet's new flow, the µs
 *    clock clamped with ms == us / 1000 on random backward times, header
 *    bytes and initial windows from decoded frames (options, IPv6, a
 *    header cut before the window).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/dataset.h"
#include "core/engine.h"
#include "export/columns.h"
#include "test.h"

/* ------------------------------------------------------- flow-level ---- */

struct tflow {
	struct flow *f;
	struct flow_opts o;
};

/* A UDP/TCP packet between 10.0.0.1:1000 (dir 0) and 10.0.0.2:2000. */
static struct pkt mkpkt(uint64_t t_us, int dir, uint8_t proto, uint16_t payload)
{
	struct pkt p;

	memset(&p, 0, sizeof(p));
	p.time_us = t_us;
	p.time_ms = t_us / 1000;
	p.src_ip[0] = p.dst_ip[0] = 10;
	p.src_ip[3] = dir ? 2 : 1;
	p.dst_ip[3] = dir ? 1 : 2;
	p.src_port = dir ? 2000 : 1000;
	p.dst_port = dir ? 1000 : 2000;
	p.protocol = proto;
	p.ip_version = 4;
	p.payload_size = payload;
	p.ip_size = (uint16_t)(20 + (proto == 6 ? 20 : 8) + payload);
	p.transport_size = (uint16_t)(p.ip_size - 20);
	p.raw_size = (uint16_t)(p.ip_size + 14);
	return p;
}

static void tf_open(struct tflow *t, uint64_t activity_us, uint16_t splt, const struct pkt *p)
{
	t->o = (struct flow_opts){ .statistics = true, .splt = splt, .dataset = true,
				   .activity_timeout_us = activity_us };
	t->f = calloc(1, sizeof(struct flow) + flow_extra_bytes(&t->o));
	if (!t->f)
		abort();
	flow_init(t->f, &t->o, p);
	ds_init(t->f, &t->o, p);
}

static void tf_close(struct tflow *t)
{
	ds_release(flow_ds(t->f));
	free(t->f);
}

static void tf_add(struct tflow *t, const struct pkt *p)
{
	int dir = flow_direction(t->f, p);

	flow_update(t->f, &t->o, p, dir);
	ds_update(t->f, &t->o, p, dir);
}

/* ---------------------------------------------- active / idle periods -- */

static void two_pass(const double *x, int n, double *mean, double *sd, double *mn, double *mx)
{
	double s = 0, q = 0;

	*mn = *mx = n ? x[0] : 0;
	for (int i = 0; i < n; i++) {
		s += x[i];
		*mn = x[i] < *mn ? x[i] : *mn;
		*mx = x[i] > *mx ? x[i] : *mx;
	}
	*mean = n ? s / n : 0;
	for (int i = 0; i < n; i++)
		q += (x[i] - *mean) * (x[i] - *mean);
	*sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

static void check_series(const struct ds_series *s, const double *x, int n, const char *what)
{
	double mean, sd, mn, mx;

	two_pass(x, n, &mean, &sd, &mn, &mx);
	ASSERT_EQ(s->n, n, what);
	if (!n)
		return;
	ASSERT_EQ(s->min, (uint64_t)mn, what);
	ASSERT_EQ(s->max, (uint64_t)mx, what);
	ASSERT_NEAR(ds_mean(s), mean, 1e-9 * (1 + mean), what);
	ASSERT_NEAR(ds_stddev(s), sd, 1e-6 * (1 + sd), what);
}

static void test_active_idle_random(void)
{
	*test_rng_state() = 42;
	for (int round = 0; round < 500; round++) {
		static uint64_t t[200];
		static double act[200], idl[200];
		int n = 1 + (int)(test_rng() % 150), na = 0, ni = 0;
		uint64_t T = 1 + test_rng() % 3000000, start;
		struct tflow tf;

		t[0] = 1000000000 + test_rng() % 1000;
		for (int i = 1; i < n; i++) {
			/* short gaps, gaps around T, long ones; sometimes exactly T */
			uint64_t g = test_rng() % 4 == 0 ? test_rng() % (3 * T + 1) :
				     test_rng() % 8 == 0 ? T : test_rng() % 5000;

			t[i] = t[i - 1] + g;
		}
		/* independent: cut the times where a gap exceeds T */
		start = t[0];
		for (int i = 1; i < n; i++) {
			if (t[i] - t[i - 1] > T) {
				act[na++] = (double)(t[i - 1] - start);
				idl[ni++] = (double)(t[i] - t[i - 1]);
				start = t[i];
			}
		}
		act[na++] = (double)(t[n - 1] - start);

		for (int i = 0; i < n; i++) {
			struct pkt p = mkpkt(t[i], (int)(test_rng() & 1) && i, 17, 10);

			if (!i)
				tf_open(&tf, T, 0, &p);
			else
				tf_add(&tf, &p);
		}
		{
			struct ds_series a, id;
			double sum = 0;

			ds_periods(flow_ds(tf.f), &a, &id);
			check_series(&a, act, na, "active periods");
			check_series(&id, idl, ni, "idle periods");
			/* every µs of the flow is in exactly one period */
			for (int i = 0; i < na; i++)
				sum += act[i];
			for (int i = 0; i < ni; i++)
				sum += idl[i];
			ASSERT_EQ((uint64_t)sum, t[n - 1] - t[0], "active + idle = duration");
		}
		tf_close(&tf);
		if (test_failed_asserts)
			break;
	}
}

/* Crafted: the README's example of gaps around T, one packet alone. */
static void test_active_idle_crafted(void)
{
	static const uint64_t t[] = { 0, 100, 5000100, 5000101, 10000101, 20000102 };
	struct tflow tf;
	struct ds_series a, id;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pkt p = mkpkt(1000000 + t[i], 0, 17, 1);

		if (!i)
			tf_open(&tf, 5000000, 0, &p);
		else
			tf_add(&tf, &p);
	}
	ds_periods(flow_ds(tf.f), &a, &id);
	/* gaps: 100, 5000000 (= T: not idle), 1, 5000000 (= T), 10000001 (> T) */
	ASSERT_EQ(id.n, 1, "one idle period");
	ASSERT_EQ(id.min, 10000001, "idle length");
	ASSERT_EQ(a.n, 2, "two active periods");
	ASSERT_EQ(a.max, 10000101, "first active period");
	ASSERT_EQ(a.min, 0, "the last packet alone");
	ASSERT_EQ(flow_ds(tf.f)->subflows, 4, "gaps > 1 s: 5000000, 5000000, 10000001");
	tf_close(&tf);
}

/* ------------------------------------------------------------- bulks ---- */

struct bulk_tot {
	uint64_t count, packets, bytes, duration;
};

static void test_bulk_random(void)
{
	*test_rng_state() = 7;
	for (int round = 0; round < 1000; round++) {
		enum { N = 120 };
		uint64_t t[N];
		int dir[N];
		uint16_t pl[N];
		int n = 1 + (int)(test_rng() % N);
		/* the payload packets, in order */
		int idx[N], m = 0;
		struct bulk_tot want[2] = { { 0 } };
		struct tflow tf;

		t[0] = 5000000;
		dir[0] = 0;
		for (int i = 0; i < n; i++) {
			if (i) {
				uint64_t g = test_rng() % 6 == 0 ? 900000 + test_rng() % 200001 :
							      test_rng() % 3000;

				t[i] = t[i - 1] + g;
				/* long same-direction stretches make bulks likely */
				dir[i] = test_rng() % 5 == 0 ? !dir[i - 1] : dir[i - 1];
			}
			pl[i] = test_rng() % 4 == 0 ? 0 : (uint16_t)(1 + test_rng() % 1400);
			if (pl[i])
				idx[m++] = i;
		}
		/* independent: maximal same-direction segments of the payload
		 * packets, each cut where a gap exceeds 1 s; 4 or more: a bulk */
		for (int a = 0; a < m;) {
			int b = a + 1;

			while (b < m && dir[idx[b]] == dir[idx[a]] &&
			       t[idx[b]] - t[idx[b - 1]] <= DS_BULK_GAP_US)
				b++;
			if (b - a >= DS_BULK_MIN_PACKETS) {
				struct bulk_tot *w = &want[dir[idx[a]]];

				w->count++;
				w->packets += (uint64_t)(b - a);
				for (int k = a; k < b; k++)
					w->bytes += pl[idx[k]];
				w->duration += t[idx[b - 1]] - t[idx[a]];
			}
			a = b;
		}
		for (int i = 0; i < n; i++) {
			struct pkt p = mkpkt(t[i], dir[i], 17, pl[i]);

			if (!i)
				tf_open(&tf, 5000000, 0, &p);
			else
				tf_add(&tf, &p);
		}
		for (int d = 0; d < 2; d++) {
			static const struct ds_bulk none;
			const struct ds_bulk *bk = flow_ds(tf.f)->cold ? &flow_ds(tf.f)->cold->bulk[d] : &none;

			ASSERT_EQ((flow_ds(tf.f)->cold ? flow_ds(tf.f)->cold->bulk_count[d] : 0), want[d].count, "bulks");
			ASSERT_EQ(bk->packets, want[d].packets, "packets in bulks");
			ASSERT_EQ(bk->bytes, want[d].bytes, "bytes in bulks");
			ASSERT_EQ(bk->duration_us, want[d].duration, "bulk durations");
		}
		{
			uint64_t sf = 1;

			for (int i = 1; i < n; i++)
				sf += t[i] - t[i - 1] > DS_SUBFLOW_GAP_US;
			ASSERT_EQ(flow_ds(tf.f)->subflows, sf, "subflows");
		}
		tf_close(&tf);
		if (test_failed_asserts)
			break;
	}
}

/* Crafted: empty packets neither extend nor break; the other side does. */
static void test_bulk_crafted(void)
{
	static const struct {
		uint64_t t;
		int dir;
		uint16_t pl;
	} s[] = {
		{ 0, 0, 10 }, { 1, 1, 0 }, { 2, 0, 10 }, { 3, 1, 0 }, { 4, 0, 10 },
		{ 1000004, 0, 10 },	/* gap exactly 1 s: continues, 4th -> bulk */
		{ 1000005, 1, 5 },	/* breaks direction 0 */
		{ 1000006, 0, 10 }, { 1000007, 0, 10 }, { 1000008, 0, 10 },
		{ 2000009, 0, 10 },	/* gap 1000001 > 1 s: restarts, 3 lost */
	};
	struct tflow tf;
	const struct ds_bulk *b;

	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct pkt p = mkpkt(1000 + s[i].t, s[i].dir, 6, s[i].pl);

		if (!i)
			tf_open(&tf, 5000000, 0, &p);
		else
			tf_add(&tf, &p);
	}
	b = &flow_ds(tf.f)->cold->bulk[0];
	ASSERT_EQ(flow_ds(tf.f)->cold->bulk_count[0], 1, "one bulk");
	ASSERT_EQ(b->packets, 4, "its packets");
	ASSERT_EQ(b->bytes, 40, "its bytes");
	ASSERT_EQ(b->duration_us, 1000004, "its duration");
	ASSERT_EQ(flow_ds(tf.f)->cold->bulk_count[1], 0, "none the other way");
	ASSERT_EQ(flow_ds(tf.f)->subflows, 2, "a gap of exactly 1 s is no new subflow, 1000001 is");
	tf_close(&tf);
}

/* ------------------------------------------------------------ TCP end --- */

struct seg {
	int dir;
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t len;
};

/* Feed @n segments; index of the segment the flow ends with, or -1. */
static int tcp_run(const struct seg *s, int n, struct tflow *tf)
{
	for (int i = 0; i < n; i++) {
		struct pkt p = mkpkt(1000000 + (uint64_t)i * 1000, s[i].dir, 6, s[i].len);

		p.tcp_flags = s[i].flags;
		p.tcp_seq = s[i].seq;
		p.tcp_ack = s[i].ack;
		if (!i)
			tf_open(tf, 5000000, 0, &p);
		else
			tf_add(tf, &p);
		if (ds_ended(tf->f))
			return i;
	}
	return -1;
}

#define S_ FC_TCP_SYN
#define A_ FC_TCP_ACK
#define F_ FC_TCP_FIN
#define R_ FC_TCP_RST
#define P_ FC_TCP_PSH

static int tcp_case(const struct seg *s, int n)
{
	struct tflow tf;
	int r = tcp_run(s, n, &tf);

	tf_close(&tf);
	return r;
}

static void test_tcp_end(void)
{
	static const struct seg normal[] = {
		{ 0, S_, 100, 0, 0 }, { 1, S_ | A_, 500, 101, 0 }, { 0, A_, 101, 501, 0 },
		{ 0, F_ | A_, 101, 501, 0 }, { 1, F_ | A_, 501, 102, 0 }, { 0, A_, 102, 502, 0 },
		{ 0, A_, 102, 502, 0 },
	};
	static const struct seg half[] = {
		{ 0, F_ | A_, 100, 500, 0 }, { 1, A_, 500, 101, 0 }, { 1, P_ | A_, 500, 101, 300 },
		{ 0, A_, 101, 800, 0 }, { 1, F_ | A_, 800, 101, 0 }, { 0, A_, 101, 801, 0 },
	};
	static const struct seg crossing[] = {
		{ 0, F_ | A_, 100, 500, 0 }, { 1, F_ | A_, 500, 100, 0 }, { 0, A_, 101, 501, 0 },
		{ 1, A_, 501, 101, 0 },
	};
	/* a FIN with 10 bytes: ACK of the data only (110) is not enough */
	static const struct seg fin_data[] = {
		{ 1, F_ | A_, 500, 100, 0 }, { 0, F_ | P_ | A_, 100, 501, 10 },
		{ 1, A_, 501, 110, 0 }, { 1, A_, 501, 111, 0 }, { 1, A_, 501, 111, 0 },
	};
	/* one short of the FIN's end, then the FIN retransmitted */
	static const struct seg short_ack[] = {
		{ 0, F_ | A_, 100, 500, 0 }, { 1, F_ | A_, 500, 100, 0 }, { 0, A_, 101, 501, 0 },
		{ 0, F_ | A_, 100, 501, 0 }, { 1, A_, 501, 101, 0 },
	};
	/* sequence numbers wrap: the FIN at 2^32 - 1 ends at 0 */
	static const struct seg wrap[] = {
		{ 0, F_ | A_, 0xffffffffu, 7, 0 }, { 1, F_ | A_, 7, 0xffffffffu, 0 },
		{ 1, A_, 8, 0, 0 }, { 0, A_, 0, 8, 0 },
	};
	static const struct seg rst_first[] = { { 0, R_, 1, 0, 0 }, { 0, S_, 1, 0, 0 } };
	static const struct seg fin_rst[] = {
		{ 0, S_, 1, 0, 0 }, { 1, S_ | A_, 9, 2, 0 }, { 1, F_ | R_ | A_, 10, 2, 0 },
	};
	/* flags 0 (truncated header, or no flag at all) and UDP do nothing */
	static const struct seg quiet[] = {
		{ 0, F_ | A_, 100, 500, 0 }, { 1, 0, 500, 101, 0 }, { 1, F_ | A_, 500, 99, 0 },
		{ 0, A_, 101, 501, 0 },
	};

	ASSERT_EQ(tcp_case(normal, 7), 5, "normal close: the ACK of the 2nd FIN");
	ASSERT_EQ(tcp_case(half, 6), 5, "half-close: data after the first FIN");
	ASSERT_EQ(tcp_case(crossing, 4), 3, "simultaneous close: the 2nd ACK");
	ASSERT_EQ(tcp_case(fin_data, 5), 3, "FIN with data: ACK past the data and FIN");
	ASSERT_EQ(tcp_case(short_ack, 5), 4, "ACK one short, FIN repeated, then acknowledged");
	ASSERT_EQ(tcp_case(wrap, 4), 3, "sequence wrap-around");
	ASSERT_EQ(tcp_case(rst_first, 2), 0, "RST as the first packet");
	ASSERT_EQ(tcp_case(fin_rst, 3), 2, "FIN+RST: the RST ends it");
	ASSERT_EQ(tcp_case(quiet, 4), -1, "no flags, or an ACK short of the FIN: no end");
	{
		struct tflow tf;
		struct pkt p = mkpkt(2000000, 0, 17, 10);

		p.tcp_flags = F_ | R_; /* impossible for UDP: ignored */
		tf_open(&tf, 5000000, 0, &p);
		ASSERT_TRUE(!ds_ended(tf.f), "UDP never ends on flags");
		tf_close(&tf);
	}
}

static void test_tcp_restart(void)
{
	static const struct seg one_fin[] = { { 0, S_, 1, 0, 0 }, { 0, F_ | A_, 2, 9, 0 } };
	struct tflow tf;
	struct pkt syn = mkpkt(3000000, 0, 6, 0), synack = mkpkt(3000000, 1, 6, 0);

	syn.tcp_flags = S_;
	synack.tcp_flags = S_ | A_;
	ASSERT_EQ(tcp_run(one_fin, 1, &tf), -1, "SYN only");
	ASSERT_TRUE(!ds_restarts(tf.f, &syn), "a SYN without a FIN before it: the same flow");
	tf_close(&tf);
	ASSERT_EQ(tcp_run(one_fin, 2, &tf), -1, "one FIN");
	ASSERT_TRUE(ds_restarts(tf.f, &syn), "a SYN after a FIN: a new connection");
	ASSERT_TRUE(!ds_restarts(tf.f, &synack), "a SYN-ACK is not a new connection");
	tf_close(&tf);
}

/* ---------------------------------------------------- through the engine */

static struct schema sch;
static struct col_scratch *scr;

struct rec {
	int exp;
	struct col_row row;
};

struct sink {
	struct rec r[256];
	int n;
};

static int emit(struct flow *f, int expiration_id, void *arg)
{
	struct sink *s = arg;
	struct flow_record fr = { .flow = f, .expiration_id = expiration_id };

	if (s->n < 256) {
		s->r[s->n].exp = expiration_id;
		col_row_get(&fr, &s->r[s->n].row);
		s->n++;
	}
	engine_flow_free(f);
	return 0;
}

static int64_t ival(const struct rec *r, const char *name)
{
	int c = schema_find(&sch, name);

	if (c < 0 || sch.cols[c].kind != COL_INT) {
		fprintf(stderr, "no integer column %s\n", name);
		abort();
	}
	return r->row.i[sch.cols[c].slot];
}

static struct engine *mk_engine(struct sink *s)
{
	struct engine_opts o = {
		.idle_timeout_ms = 120000,
		.active_timeout_ms = 1800000,
		.flow = { .statistics = true, .dataset = true, .activity_timeout_us = 5000000 },
		.decode_tunnels = true,
	};
	struct engine *e;

	memset(s, 0, sizeof(*s));
	e = engine_new(&o, NULL, emit, s);
	if (!e)
		abort();
	return e;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/*
 * Ethernet + IPv4 (or IPv6) + TCP with @optlen option bytes, from 10.0.0.1:1000
 * (dir 0) or 10.0.0.2:2000; returns the frame length.
 */
static size_t tcp_frame(uint8_t *f, int v6, int dir, uint8_t flags, uint32_t seq, uint32_t ack,
			uint16_t win, size_t optlen, size_t plen)
{
	size_t ip = 14, l4 = ip + (v6 ? 40 : 20), hl = 20 + optlen, n = l4 + hl + plen;

	memset(f, 0, n);
	put16(f + 12, v6 ? 0x86dd : 0x0800);
	if (v6) {
		f[ip] = 0x60;
		put16(f + ip + 4, (uint16_t)(hl + plen));
		f[ip + 6] = 6;
		f[ip + 7] = 64;
		f[ip + 8] = 0x20;
		f[ip + 23] = dir ? 2 : 1;
		f[ip + 24] = 0x20;
		f[ip + 39] = dir ? 1 : 2;
	} else {
		f[ip] = 0x45;
		put16(f + ip + 2, (uint16_t)(20 + hl + plen));
		f[ip + 8] = 64;
		f[ip + 9] = 6;
		f[ip + 12] = 10;
		f[ip + 15] = dir ? 2 : 1;
		f[ip + 16] = 10;
		f[ip + 19] = dir ? 1 : 2;
	}
	put16(f + l4, dir ? 2000 : 1000);
	put16(f + l4 + 2, dir ? 1000 : 2000);
	put32(f + l4 + 4, seq);
	put32(f + l4 + 8, ack);
	f[l4 + 12] = (uint8_t)((hl / 4) << 4);
	f[l4 + 13] = flags;
	put16(f + l4 + 14, win);
	for (size_t i = 0; i < optlen; i++)
		f[l4 + 20 + i] = 1; /* NOP */
	return n;
}

static int feed(struct engine *e, const uint8_t *f, size_t caplen, size_t len, uint64_t t_us)
{
	struct frame fr = { .dlt = FC_DLT_EN10MB, .data = f, .caplen = (uint32_t)caplen,
			    .len = (uint32_t)len, .time_ms = t_us / 1000, .time_us = t_us };

	return engine_frames(e, &fr, 1);
}

static void test_engine_tcp_end_and_reuse(void)
{
	static struct sink s;
	struct engine *e = mk_engine(&s);
	uint8_t f[256];
	size_t n;

	/* SYN (12 option bytes), SYN-ACK (no options), A's FIN, B's FIN-ACK, A's ACK */
	n = tcp_frame(f, 0, 0, S_, 100, 0, 1234, 12, 0);
	feed(e, f, n, n, 10000000);
	n = tcp_frame(f, 0, 1, S_ | A_, 500, 101, 4321, 0, 0);
	feed(e, f, n, n, 10000100);
	n = tcp_frame(f, 0, 0, F_ | A_, 101, 501, 77, 0, 5);
	feed(e, f, n, n, 10000200);
	n = tcp_frame(f, 0, 1, F_ | A_, 501, 107, 88, 0, 0);
	feed(e, f, n, n, 10000300);
	ASSERT_EQ(s.n, 0, "not yet: B's FIN is not acknowledged");
	n = tcp_frame(f, 0, 0, A_, 107, 502, 99, 0, 0);
	feed(e, f, n, n, 10000400);
	ASSERT_EQ(s.n, 1, "exported at the last ACK, without waiting for a timeout");
	ASSERT_EQ(s.r[0].exp, FLOW_EXPIRY_TCP_END, "expiration_id 3");
	ASSERT_EQ(ival(&s.r[0], "bidirectional_packets"), 5, "all five packets");
	ASSERT_EQ(ival(&s.r[0], "src2dst_init_window"), 1234, "A's first window");
	ASSERT_EQ(ival(&s.r[0], "dst2src_init_window"), 4321, "B's first window");
	ASSERT_EQ(ival(&s.r[0], "src2dst_header_bytes"), 52 + 40 + 40, "IPv4 + TCP (+ options)");
	ASSERT_EQ(ival(&s.r[0], "dst2src_header_bytes"), 80, "B: two headers of 40");
	ASSERT_EQ(ival(&s.r[0], "bidirectional_duration_us"), 400, "µs duration");

	/* the same 5-tuple again: a new flow, ended by its RST */
	n = tcp_frame(f, 0, 0, S_, 900, 0, 11, 0, 0);
	feed(e, f, n, n, 10000500);
	ASSERT_EQ(s.n, 1, "the reused 5-tuple starts a new flow");
	n = tcp_frame(f, 0, 1, R_ | A_, 0, 901, 0, 0, 0);
	feed(e, f, n, n, 10000600);
	ASSERT_EQ(s.n, 2, "RST ends it");
	ASSERT_EQ(s.r[1].exp, FLOW_EXPIRY_TCP_END, "expiration_id 3");
	ASSERT_EQ(ival(&s.r[1], "bidirectional_packets"), 2, "SYN and RST");
	ASSERT_EQ(ival(&s.r[1], "bidirectional_first_seen_us"), 10000500, "its own first packet");

	/* IPv6, and a TCP header captured only up to the flags: no window */
	n = tcp_frame(f, 1, 0, S_, 1, 0, 5555, 0, 0);
	feed(e, f, n, n, 10001000);
	n = tcp_frame(f, 1, 1, S_ | A_, 1, 2, 6666, 0, 0);
	feed(e, f, 14 + 40 + 14, n, 10001100);
	engine_flush(e);
	ASSERT_EQ(s.n, 3, "the IPv6 flow at the end");
	ASSERT_EQ(s.r[2].exp, FLOW_EXPIRY_IDLE, "end of input: 0");
	ASSERT_EQ(ival(&s.r[2], "src2dst_init_window"), 5555, "IPv6 window");
	ASSERT_EQ(ival(&s.r[2], "dst2src_init_window"), -1, "header cut before the window");
	ASSERT_EQ(ival(&s.r[2], "src2dst_header_bytes"), 60, "IPv6: 40 + 20");
	engine_free(e);
}

/* Random times, some going backwards: both clocks clamp, ms == us / 1000. */
static void test_engine_clocks(void)
{
	static struct sink s;
	static const char *const sc[3] = { "bidirectional", "src2dst", "dst2src" };

	*test_rng_state() = 99;
	for (int round = 0; round < 50 && !test_failed_asserts; round++) {
		struct engine *e = mk_engine(&s);
		uint64_t t = 20000000000ull, tick = 0;
		uint8_t f[128];

		for (int i = 0; i < 200; i++) {
			int dir = (int)(test_rng() & 1);
			int conn = (int)(test_rng() % 4);
			uint64_t u = test_rng() % 10 == 0 ? t - test_rng() % 3000 : (t += test_rng() % 2500);
			size_t n = tcp_frame(f, 0, dir, A_, 1, 1, 1, 0, (size_t)conn);

			/* 4 flows: the payload length makes no key; vary a port */
			put16(f + 14 + 20 + (dir ? 2 : 0), (uint16_t)(1000 + conn));
			feed(e, f, n, n, u);
			tick = u > tick ? u : tick;
		}
		engine_flush(e);
		for (int k = 0; k < s.n; k++) {
			for (int c = 0; c < 3; c++) {
				char a[64], b[64];

				snprintf(a, sizeof(a), "%s_first_seen_ms", sc[c]);
				snprintf(b, sizeof(b), "%s_first_seen_us", sc[c]);
				ASSERT_EQ(ival(&s.r[k], a), ival(&s.r[k], b) / 1000, "first ms = us / 1000");
				snprintf(a, sizeof(a), "%s_last_seen_ms", sc[c]);
				snprintf(b, sizeof(b), "%s_last_seen_us", sc[c]);
				ASSERT_EQ(ival(&s.r[k], a), ival(&s.r[k], b) / 1000, "last ms = us / 1000");
			}
			ASSERT_TRUE(ival(&s.r[k], "bidirectional_min_piat_us") >= 0, "PIAT >= 0");
			ASSERT_TRUE(ival(&s.r[k], "bidirectional_last_seen_us") <= (int64_t)tick,
				    "never past the clock");
		}
		engine_free(e);
	}
}

/* PIATs beyond 2^32 µs overflow the exact 64-bit sum of squares: double. */
static void test_piat_overflow(void)
{
	static const uint64_t gaps[] = { 7, 5000000000ull, 3, 6000000000ull, 4500000000ull };
	uint64_t t = 1000000;
	double x[6], mean, sd, mn, mx;
	struct tflow tf;
	struct ds_series s;
	struct pkt p = mkpkt(t, 0, 17, 1);

	tf_open(&tf, 5000000, 0, &p);
	for (int i = 0; i < 5; i++) {
		t += gaps[i];
		p = mkpkt(t, 0, 17, 1);
		tf_add(&tf, &p);
		x[i] = (double)gaps[i];
	}
	ASSERT_TRUE(flow_ds(tf.f)->piat_dbl & 1u << FLOW_SCOPE_BIDI, "switched to double");
	two_pass(x, 5, &mean, &sd, &mn, &mx);
	ds_piats(flow_ds(tf.f), FLOW_SCOPE_BIDI, 6, &s);
	ASSERT_EQ(s.min, 3, "min");
	ASSERT_EQ(s.max, 6000000000ull, "max");
	ASSERT_NEAR(ds_mean(&s), mean, 1e-6, "mean, exact (the duration)");
	ASSERT_NEAR(ds_stddev(&s), sd, sd * 1e-9, "stddev in double");
	tf_close(&tf);
}

/* Without memory for the cold part, bulks and periods read -1, not 0. */
static void test_cold_lost(void)
{
	struct tflow tf;
	struct rec r;
	struct flow_record fr;

	for (int i = 0; i < 8; i++) {
		struct pkt p = mkpkt(1000000 + (uint64_t)i * 3000000, 0, 17, 100);

		if (!i) {
			tf_open(&tf, 2000000, 0, &p);
			flow_ds(tf.f)->tcp |= DS_COLD_LOST; /* as if calloc() had failed */
		} else {
			tf_add(&tf, &p);
		}
	}
	ASSERT_TRUE(flow_ds(tf.f)->cold == NULL, "nothing allocated");
	fr = (struct flow_record){ .flow = tf.f };
	col_row_get(&fr, &r.row);
	ASSERT_EQ(ival(&r, "idle_max_us"), -1, "periods unknown");
	ASSERT_EQ(ival(&r, "src2dst_bulk_count"), -1, "bulks unknown");
	ASSERT_EQ(ival(&r, "subflow_count"), 8, "the rest is kept");
	tf_close(&tf);
	/* the same flow with memory: 7 idle gaps of 3 s, a bulk of 8 */
	for (int i = 0; i < 8; i++) {
		struct pkt p = mkpkt(1000000 + (uint64_t)i * 3000000, 0, 17, 100);

		if (!i)
			tf_open(&tf, 2000000, 0, &p);
		else
			tf_add(&tf, &p);
	}
	fr = (struct flow_record){ .flow = tf.f };
	col_row_get(&fr, &r.row);
	ASSERT_EQ(ival(&r, "idle_max_us"), 3000000, "idle gaps");
	ASSERT_EQ(ival(&r, "src2dst_bulk_count"), 0, "gaps > 1 s: no bulk");
	tf_close(&tf);
}

int main(void)
{
	struct column_opts co = { .statistics = true, .dataset = true };

	if (schema_init(&sch, &co))
		abort();
	scr = col_scratch_new(&sch);
	RUN_TEST(test_active_idle_random);
	RUN_TEST(test_active_idle_crafted);
	RUN_TEST(test_bulk_random);
	RUN_TEST(test_bulk_crafted);
	RUN_TEST(test_tcp_end);
	RUN_TEST(test_tcp_restart);
	RUN_TEST(test_engine_tcp_end_and_reuse);
	RUN_TEST(test_engine_clocks);
	RUN_TEST(test_cold_lost);
	RUN_TEST(test_piat_overflow);
	free(scr);
	schema_release(&sch);
	return TEST_SUMMARY();
}
