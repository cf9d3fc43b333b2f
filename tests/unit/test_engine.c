// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for the meter (agent/core/engine.c + agent/core/flow.c): crafted
 * Ethernet frames with chosen packet times go through engine_frame(), the
 * emit callback deep-copies each finished flow, and the exported values
 * (read back with col_get, as the writers do) are checked against NFStream
 * semantics (spec §1.3/§1.4): src orientation, direction, per-direction
 * times and the all-zero dst2src block, Welford statistics against an
 * independent two-pass computation, TCP flag counters, SPLT, idle/active
 * expiry, scan order, interval and budget, clamping, flush order, the
 * flush of an interface's flows and the max-flows stop.  L7 is off (dpi = NULL) throughout.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "export/columns.h"
#include "core/engine.h"
#include "test.h"

#define SPLT_N 5
#define SPLT_MAX 64

/* ------------------------------ sink ------------------------------ */

struct rec {
	struct flow f; /* shallow copy; pointers re-aimed at the copies below */
	struct flow_stats st;
	int64_t piat[SPLT_MAX];
	int32_t ps[SPLT_MAX];
	int8_t dir[SPLT_MAX];
	int exp;
};

struct sink {
	struct rec **r;
	size_t n, cap;
	uint16_t splt;     /* SPLT length the engine was built with */
	size_t stop_after; /* emit returns 1 once this many flows arrived; 0 never */
	size_t calls;
};

static int emit(struct flow *f, int expiration_id, void *arg)
{
	struct sink *s = arg;
	struct rec *r;

	s->calls++;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->r = realloc(s->r, s->cap * sizeof(*s->r));
		if (!s->r)
			abort();
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->f = *f;
	r->f.older = r->f.newer = NULL;
	memset(&r->f.dpi, 0, sizeof(r->f.dpi));
	if (f->stats) {
		r->st = *f->stats;
		r->f.stats = &r->st;
	}
	if (f->splt.piat_ms) {
		if (s->splt > SPLT_MAX)
			abort();
		memcpy(r->piat, f->splt.piat_ms, s->splt * sizeof(int64_t));
		memcpy(r->ps, f->splt.ps, s->splt * sizeof(int32_t));
		memcpy(r->dir, f->splt.dir, s->splt * sizeof(int8_t));
		r->f.splt.piat_ms = r->piat;
		r->f.splt.ps = r->ps;
		r->f.splt.dir = r->dir;
	}
	r->exp = expiration_id;
	s->r[s->n++] = r;
	engine_flow_free(f);
	return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

static void sink_free(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->r[i]);
	free(s->r);
	memset(s, 0, sizeof(*s));
}

/* Engine with stats on, SPLT_N-long SPLT, given timeouts and accounting mode. */
static struct engine *mk_engine(struct sink *s, uint64_t idle, uint64_t active, uint8_t mode,
				bool stats, uint16_t splt)
{
	struct engine_opts o = {
		.idle_timeout_ms = idle,
		.active_timeout_ms = active,
		.flow = { .accounting_mode = mode, .statistics = stats, .splt = splt },
		.decode_tunnels = true,
	};
	struct engine *e;

	memset(s, 0, sizeof(*s));
	s->splt = splt;
	e = engine_new(&o, NULL, emit, s);
	if (!e)
		abort();
	return e;
}

static struct engine *mk_engine_live(struct sink *s, uint64_t idle, uint64_t active)
{
	struct engine_opts o = {
		.idle_timeout_ms = idle,
		.active_timeout_ms = active,
		.decode_tunnels = true,
		.live = true,
	};
	struct engine *e;

	memset(s, 0, sizeof(*s));
	e = engine_new(&o, NULL, emit, s);
	if (!e)
		abort();
	return e;
}

/* --------------------------- column access --------------------------- */

static struct schema sch;
static struct col_scratch *scr;

static void schema_setup(void)
{
	struct column_opts o = { .decode_tunnels = true, .statistics = true, .splt = SPLT_N };

	if (schema_init(&sch, &o))
		abort();
	scr = col_scratch_new(&sch);
	if (!scr)
		abort();
}

static struct col_value col(const struct rec *r, const char *name)
{
	struct flow_record fr = { .flow = &r->f, .expiration_id = r->exp };
	struct col_value v;
	int i = schema_find(&sch, name);

	if (i < 0) {
		fprintf(stderr, "no column %s\n", name);
		abort();
	}
	/* col_get reads SPLT_N entries: only hand it SPLT arrays that long */
	if (r->f.splt.piat_ms && sch.cols[i].len > SPLT_MAX)
		abort();
	col_get(&sch.cols[i], &fr, &v, scr);
	return v;
}

static int64_t ci(const struct rec *r, const char *name)
{
	struct col_value v = col(r, name);

	if (v.kind != COL_INT) {
		fprintf(stderr, "column %s is not an int\n", name);
		abort();
	}
	return v.i;
}

static double cf(const struct rec *r, const char *name)
{
	struct col_value v = col(r, name);

	if (v.kind != COL_FLOAT) {
		fprintf(stderr, "column %s is not a float\n", name);
		abort();
	}
	return v.f;
}

static const char *cs(const struct rec *r, const char *name)
{
	static char buf[4][80];
	static int k;
	struct col_value v = col(r, name);

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s", v.kind == COL_STR ? v.s : "(not a string)");
	return buf[k];
}

/* "[a, b, ...]" of a list column, to compare with one ASSERT_STREQ. */
static const char *cl(const struct rec *r, const char *name)
{
	static char buf[4][256];
	static int k;
	struct col_value v = col(r, name);
	size_t o = 0;

	k = (k + 1) % 4;
	o += (size_t)snprintf(buf[k] + o, sizeof(buf[k]) - o, "[");
	for (size_t i = 0; v.kind == COL_LIST && i < v.n; i++)
		o += (size_t)snprintf(buf[k] + o, sizeof(buf[k]) - o, "%s%lld", i ? ", " : "",
				      (long long)v.list[i]);
	snprintf(buf[k] + o, sizeof(buf[k]) - o, "]");
	return buf[k];
}

/* ------------------------------ frames ------------------------------ */

static const uint8_t M1[6] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t M2[6] = { 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb };
#define H1 0x0a000001u /* 10.0.0.1 */
#define H2 0x0a000002u /* 10.0.0.2 */

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	be16(p, (uint16_t)(v >> 16));
	be16(p + 2, (uint16_t)v);
}

/*
 * Ethernet/IPv4/TCP (proto 6) or UDP (17), no payload.  The MACs follow
 * the IPs (H1 <-> M1, else M2).  Returns the frame length.
 */
static uint32_t frame4(uint8_t *d, uint8_t proto, uint32_t sip, uint16_t sport, uint32_t dip,
		       uint16_t dport, uint8_t flags)
{
	uint32_t l4 = proto == 6 ? 20 : 8;

	memset(d, 0, 14 + 20 + l4);
	memcpy(d, dip == H1 ? M1 : M2, 6);
	memcpy(d + 6, sip == H1 ? M1 : M2, 6);
	be16(d + 12, 0x0800);
	d[14] = 0x45;
	be16(d + 16, (uint16_t)(20 + l4));
	d[22] = 64;
	d[23] = proto;
	be32(d + 26, sip);
	be32(d + 30, dip);
	be16(d + 34, sport);
	be16(d + 36, dport);
	if (proto == 6) {
		d[46] = 5 << 4;
		d[47] = flags;
	} else {
		be16(d + 38, 8);
	}
	return 14 + 20 + l4;
}

/* Send one packet of @proto at time @t whose original length is @size. */
static int send4(struct engine *e, uint8_t proto, uint32_t sip, uint16_t sport, uint32_t dip,
		 uint16_t dport, uint8_t flags, uint32_t size, uint64_t t)
{
	uint8_t d[64];
	uint32_t n = frame4(d, proto, sip, sport, dip, dport, flags);

	return engine_frame(e, FC_DLT_EN10MB, d, n, size < n ? n : size, t);
}

static int tcp(struct engine *e, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport,
	       uint8_t flags, uint32_t size, uint64_t t)
{
	return send4(e, 6, sip, sport, dip, dport, flags, size, t);
}

static int udp(struct engine *e, uint32_t sip, uint16_t sport, uint32_t dip, uint16_t dport,
	       uint32_t size, uint64_t t)
{
	return send4(e, 17, sip, sport, dip, dport, 0, size, t);
}

/* ------------------------- reference statistics ------------------------- */

struct ref {
	double x[256];
	int n;
};

static void ref_add(struct ref *r, double v)
{
	if (r->n < 256)
		r->x[r->n++] = v;
}

static double ref_mean(const struct ref *r)
{
	double s = 0;

	for (int i = 0; i < r->n; i++)
		s += r->x[i];
	return r->n ? s / r->n : 0.0;
}

/* Two-pass sample standard deviation (n - 1 denominator). */
static double ref_sd(const struct ref *r)
{
	double m = ref_mean(r), s = 0;

	if (r->n < 2)
		return 0.0;
	for (int i = 0; i < r->n; i++)
		s += (r->x[i] - m) * (r->x[i] - m);
	return sqrt(s / (r->n - 1));
}

static double ref_min(const struct ref *r)
{
	double m = r->n ? r->x[0] : 0;

	for (int i = 1; i < r->n; i++)
		m = r->x[i] < m ? r->x[i] : m;
	return m;
}

static double ref_max(const struct ref *r)
{
	double m = r->n ? r->x[0] : 0;

	for (int i = 1; i < r->n; i++)
		m = r->x[i] > m ? r->x[i] : m;
	return m;
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ------------------------------ cases ------------------------------ */

static void test_first_packet_sets_src(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, true, SPLT_N);
	const struct rec *r;

	/* the server speaks first: it becomes src */
	tcp(e, H2, 80, H1, 1000, FC_TCP_SYN | FC_TCP_ACK, 60, 10000);
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 70, 10010);
	tcp(e, H2, 80, H1, 1000, FC_TCP_PSH | FC_TCP_ACK, 80, 10020);
	ASSERT_EQ(s.n, 0, "nothing emitted before the flush");
	ASSERT_EQ(engine_flows_cached(e), 1, "one cached flow");
	engine_flush(e);
	ASSERT_EQ(engine_flows_cached(e), 0, "flush empties the cache");
	if (!ASSERT_EQ(s.n, 1, "one flow"))
		goto out;
	r = s.r[0];
	ASSERT_EQ(r->exp, 0, "flush uses expiration_id 0");
	ASSERT_STREQ(cs(r, "src_ip"), "10.0.0.2", "src_ip = first packet's source");
	ASSERT_STREQ(cs(r, "dst_ip"), "10.0.0.1", "dst_ip");
	ASSERT_EQ(ci(r, "src_port"), 80, "src_port");
	ASSERT_EQ(ci(r, "dst_port"), 1000, "dst_port");
	ASSERT_STREQ(cs(r, "src_mac"), "66:77:88:99:aa:bb", "src_mac");
	ASSERT_STREQ(cs(r, "src_oui"), "66:77:88", "src_oui");
	ASSERT_STREQ(cs(r, "dst_mac"), "00:11:22:33:44:55", "dst_mac");
	ASSERT_EQ(ci(r, "protocol"), 6, "protocol");
	ASSERT_EQ(ci(r, "ip_version"), 4, "ip_version");
	ASSERT_EQ(ci(r, "bidirectional_first_seen_ms"), 10000, "bidi first");
	ASSERT_EQ(ci(r, "bidirectional_last_seen_ms"), 10020, "bidi last");
	ASSERT_EQ(ci(r, "bidirectional_duration_ms"), 20, "bidi duration");
	ASSERT_EQ(ci(r, "bidirectional_packets"), 3, "bidi packets");
	ASSERT_EQ(ci(r, "bidirectional_bytes"), 210, "bidi bytes");
	ASSERT_EQ(ci(r, "src2dst_first_seen_ms"), 10000, "s2d first");
	ASSERT_EQ(ci(r, "src2dst_last_seen_ms"), 10020, "s2d last");
	ASSERT_EQ(ci(r, "src2dst_duration_ms"), 20, "s2d duration");
	ASSERT_EQ(ci(r, "src2dst_packets"), 2, "s2d packets");
	ASSERT_EQ(ci(r, "src2dst_bytes"), 140, "s2d bytes");
	ASSERT_EQ(ci(r, "dst2src_first_seen_ms"), 10010, "d2s first");
	ASSERT_EQ(ci(r, "dst2src_last_seen_ms"), 10010, "d2s last");
	ASSERT_EQ(ci(r, "dst2src_duration_ms"), 0, "d2s duration");
	ASSERT_EQ(ci(r, "dst2src_packets"), 1, "d2s packets");
	ASSERT_EQ(ci(r, "dst2src_bytes"), 70, "d2s bytes");
	ASSERT_STREQ(cl(r, "splt_direction"), "[0, 1, 0, -1, -1]", "splt direction");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_direction_exact_match(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, true, SPLT_N);

	/* (a) equal ports on both sides: the IPs decide */
	udp(e, H1, 5000, H2, 5000, 100, 10000);
	udp(e, H2, 5000, H1, 5000, 100, 10001);
	udp(e, H1, 5000, H2, 5000, 100, 10002);
	/* (b) one host, two ports: the ports decide */
	udp(e, H1, 1000, H1, 2000, 100, 10003);
	udp(e, H1, 2000, H1, 1000, 100, 10004);
	/* (c) same host and port on both sides: always src2dst */
	udp(e, H1, 7, H1, 7, 100, 10005);
	udp(e, H1, 7, H1, 7, 100, 10006);
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 3, "three flows"))
		goto out;
	ASSERT_EQ(ci(s.r[0], "src2dst_packets"), 2, "(a) s2d");
	ASSERT_EQ(ci(s.r[0], "dst2src_packets"), 1, "(a) d2s");
	ASSERT_STREQ(cl(s.r[0], "splt_direction"), "[0, 1, 0, -1, -1]", "(a) splt");
	ASSERT_EQ(ci(s.r[1], "src2dst_packets"), 1, "(b) s2d");
	ASSERT_EQ(ci(s.r[1], "dst2src_packets"), 1, "(b) d2s");
	ASSERT_EQ(ci(s.r[1], "src_port"), 1000, "(b) src_port");
	ASSERT_EQ(ci(s.r[2], "src2dst_packets"), 2, "(c) s2d");
	ASSERT_EQ(ci(s.r[2], "dst2src_packets"), 0, "(c) d2s");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_one_direction_zero_dst2src(void)
{
	static const char *const zero_ints[] = {
		"dst2src_first_seen_ms", "dst2src_last_seen_ms", "dst2src_duration_ms",
		"dst2src_packets", "dst2src_bytes", "dst2src_min_ps", "dst2src_max_ps",
		"dst2src_min_piat_ms", "dst2src_max_piat_ms", "dst2src_syn_packets",
		"dst2src_ack_packets",
	};
	static const char *const zero_floats[] = {
		"dst2src_mean_ps", "dst2src_stddev_ps", "dst2src_mean_piat_ms", "dst2src_stddev_piat_ms",
	};
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, true, SPLT_N);
	struct ref ps = { .n = 0 }, piat = { .n = 0 };
	const struct rec *r;

	udp(e, H1, 1000, H2, 53, 100, 10000);
	udp(e, H1, 1000, H2, 53, 200, 10050);
	udp(e, H1, 1000, H2, 53, 600, 10300);
	/* a single-packet flow and a two-packet flow */
	udp(e, H1, 1001, H2, 53, 90, 10400);
	udp(e, H1, 1002, H2, 53, 90, 10500);
	udp(e, H1, 1002, H2, 53, 110, 10530);
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 3, "three flows"))
		goto out;
	r = s.r[0];
	for (size_t i = 0; i < sizeof(zero_ints) / sizeof(zero_ints[0]); i++)
		ASSERT_EQ(ci(r, zero_ints[i]), 0, zero_ints[i]);
	for (size_t i = 0; i < sizeof(zero_floats) / sizeof(zero_floats[0]); i++)
		ASSERT_TRUE(cf(r, zero_floats[i]) == 0.0, zero_floats[i]);
	ref_add(&ps, 100);
	ref_add(&ps, 200);
	ref_add(&ps, 600);
	ref_add(&piat, 50);
	ref_add(&piat, 250);
	ASSERT_EQ(ci(r, "bidirectional_duration_ms"), 300, "bidi duration");
	ASSERT_EQ(ci(r, "src2dst_duration_ms"), 300, "s2d duration");
	ASSERT_EQ(ci(r, "src2dst_min_ps"), 100, "s2d min_ps");
	ASSERT_EQ(ci(r, "src2dst_max_ps"), 600, "s2d max_ps");
	ASSERT_NEAR(cf(r, "src2dst_mean_ps"), ref_mean(&ps), 1e-9, "s2d mean_ps");
	ASSERT_NEAR(cf(r, "src2dst_stddev_ps"), ref_sd(&ps), 1e-9, "s2d stddev_ps");
	ASSERT_NEAR(cf(r, "bidirectional_stddev_ps"), sqrt(70000.0), 1e-9, "bidi stddev_ps");
	ASSERT_EQ(ci(r, "src2dst_min_piat_ms"), 50, "s2d min_piat");
	ASSERT_EQ(ci(r, "src2dst_max_piat_ms"), 250, "s2d max_piat");
	ASSERT_NEAR(cf(r, "src2dst_mean_piat_ms"), 150.0, 1e-9, "s2d mean_piat");
	ASSERT_NEAR(cf(r, "src2dst_stddev_piat_ms"), ref_sd(&piat), 1e-9, "s2d stddev_piat (n-2)");
	ASSERT_NEAR(cf(r, "bidirectional_stddev_piat_ms"), sqrt(20000.0), 1e-9, "bidi stddev_piat");

	r = s.r[1]; /* one packet */
	ASSERT_EQ(ci(r, "bidirectional_duration_ms"), 0, "1p duration");
	ASSERT_EQ(ci(r, "bidirectional_min_ps"), 90, "1p min_ps");
	ASSERT_TRUE(cf(r, "bidirectional_mean_ps") == 90.0, "1p mean_ps");
	ASSERT_TRUE(cf(r, "bidirectional_stddev_ps") == 0.0, "1p stddev_ps");
	ASSERT_EQ(ci(r, "bidirectional_min_piat_ms"), 0, "1p min_piat");
	ASSERT_EQ(ci(r, "bidirectional_max_piat_ms"), 0, "1p max_piat");
	ASSERT_TRUE(cf(r, "bidirectional_mean_piat_ms") == 0.0, "1p mean_piat");
	ASSERT_TRUE(cf(r, "bidirectional_stddev_piat_ms") == 0.0, "1p stddev_piat");
	ASSERT_STREQ(cl(r, "splt_piat_ms"), "[0, -1, -1, -1, -1]", "1p splt piat");

	r = s.r[2]; /* two packets: one PIAT sample, stddev only from n > 2 */
	ASSERT_EQ(ci(r, "bidirectional_min_piat_ms"), 30, "2p min_piat");
	ASSERT_EQ(ci(r, "bidirectional_max_piat_ms"), 30, "2p max_piat");
	ASSERT_TRUE(cf(r, "bidirectional_mean_piat_ms") == 30.0, "2p mean_piat");
	ASSERT_TRUE(cf(r, "bidirectional_stddev_piat_ms") == 0.0, "2p stddev_piat");
	ASSERT_NEAR(cf(r, "bidirectional_stddev_ps"), sqrt(200.0), 1e-9, "2p stddev_ps");
	ASSERT_TRUE(cf(r, "bidirectional_mean_ps") == 100.0, "2p mean_ps");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_welford_vs_two_pass(void)
{
	static const char *const scope[3] = { "bidirectional", "src2dst", "dst2src" };
	struct sink s;
	struct engine *e = mk_engine(&s, 600000, 10000000, 0, true, SPLT_N);
	struct ref ps[3], piat[3];
	uint64_t t = 100000, last[3] = { 0 };
	int n[3] = { 0 };
	char name[64];

	memset(ps, 0, sizeof(ps));
	memset(piat, 0, sizeof(piat));
	for (int i = 0; i < 120; i++) {
		int dir = i == 0 ? 0 : (int)(xorshift() % 3 == 0);
		uint32_t size = 60 + (uint32_t)(xorshift() % 1455);
		int sc = 1 + dir;

		if (i) {
			uint64_t r = xorshift() % 10;

			t += r < 3 ? 0 : (r < 8 ? xorshift() % 40 : 100 + xorshift() % 5000);
		}
		if (dir == 0)
			tcp(e, H1, 40000, H2, 443, FC_TCP_ACK, size, t);
		else
			tcp(e, H2, 443, H1, 40000, FC_TCP_ACK, size, t);
		for (int k = 0; k < 2; k++) {
			int x = k ? sc : 0;

			ref_add(&ps[x], size);
			if (n[x])
				ref_add(&piat[x], (double)(t - last[x]));
			last[x] = t;
			n[x]++;
		}
	}
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 1, "one flow"))
		goto out;
	ASSERT_TRUE(n[2] >= 3 && n[1] >= 3, "both directions have >= 3 packets");
	for (int x = 0; x < 3; x++) {
		const struct rec *r = s.r[0];

		snprintf(name, sizeof(name), "%s_packets", scope[x]);
		ASSERT_EQ(ci(r, name), n[x], name);
		snprintf(name, sizeof(name), "%s_min_ps", scope[x]);
		ASSERT_EQ(ci(r, name), (int64_t)ref_min(&ps[x]), name);
		snprintf(name, sizeof(name), "%s_max_ps", scope[x]);
		ASSERT_EQ(ci(r, name), (int64_t)ref_max(&ps[x]), name);
		snprintf(name, sizeof(name), "%s_mean_ps", scope[x]);
		ASSERT_NEAR(cf(r, name), ref_mean(&ps[x]), 1e-9, name);
		snprintf(name, sizeof(name), "%s_stddev_ps", scope[x]);
		ASSERT_NEAR(cf(r, name), ref_sd(&ps[x]), 1e-9, name);
		snprintf(name, sizeof(name), "%s_min_piat_ms", scope[x]);
		ASSERT_EQ(ci(r, name), (int64_t)ref_min(&piat[x]), name);
		snprintf(name, sizeof(name), "%s_max_piat_ms", scope[x]);
		ASSERT_EQ(ci(r, name), (int64_t)ref_max(&piat[x]), name);
		snprintf(name, sizeof(name), "%s_mean_piat_ms", scope[x]);
		ASSERT_NEAR(cf(r, name), ref_mean(&piat[x]), 1e-9, name);
		/* n - 1 PIAT samples, sample stddev: sqrt(M2 / (n - 2)) */
		snprintf(name, sizeof(name), "%s_stddev_piat_ms", scope[x]);
		ASSERT_NEAR(cf(r, name), ref_sd(&piat[x]), 1e-9, name);
	}
out:
	engine_free(e);
	sink_free(&s);
}

static void test_tcp_flags_per_scope(void)
{
	static const char *const scope[3] = { "bidirectional", "src2dst", "dst2src" };
	static const char *const fname[8] = { "syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin" };
	static const uint8_t fbit[8] = { FC_TCP_SYN, FC_TCP_CWR, FC_TCP_ECE, FC_TCP_URG,
					 FC_TCP_ACK, FC_TCP_PSH, FC_TCP_RST, FC_TCP_FIN };
	static const struct {
		int dir;
		uint8_t flags;
	} seq[] = {
		{ 0, FC_TCP_SYN | FC_TCP_ECE | FC_TCP_CWR },
		{ 1, FC_TCP_SYN | FC_TCP_ACK | FC_TCP_ECE },
		{ 0, FC_TCP_ACK },
		{ 0, FC_TCP_PSH | FC_TCP_ACK },
		{ 1, FC_TCP_PSH | FC_TCP_ACK | FC_TCP_URG },
		{ 0, FC_TCP_FIN | FC_TCP_ACK },
		{ 1, FC_TCP_RST },
		{ 0, 0xff },
		{ 1, 0 },
	};
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, true, SPLT_N);
	uint64_t want[3][8] = { { 0 } };
	char name[64];

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		if (seq[i].dir == 0)
			tcp(e, H1, 1000, H2, 80, seq[i].flags, 60, 10000 + i);
		else
			tcp(e, H2, 80, H1, 1000, seq[i].flags, 60, 10000 + i);
		for (int b = 0; b < 8; b++) {
			want[0][b] += !!(seq[i].flags & fbit[b]);
			want[1 + seq[i].dir][b] += !!(seq[i].flags & fbit[b]);
		}
	}
	/* a UDP flow counts no flags */
	udp(e, H1, 1000, H2, 80, 60, 10020);
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 2, "two flows"))
		goto out;
	for (int x = 0; x < 3; x++) {
		for (int b = 0; b < 8; b++) {
			snprintf(name, sizeof(name), "%s_%s_packets", scope[x], fname[b]);
			ASSERT_EQ(ci(s.r[0], name), want[x][b], name);
			ASSERT_EQ(ci(s.r[1], name), 0, name);
		}
	}
	ASSERT_EQ(want[0][0], 3, "sanity: 3 SYNs in the sequence");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_splt(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, false, SPLT_N);

	/* shorter than N: padded with -1 */
	tcp(e, H1, 1000, H2, 80, FC_TCP_SYN, 60, 10000);
	tcp(e, H2, 80, H1, 1000, FC_TCP_SYN | FC_TCP_ACK, 70, 10034);
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 80, 10168);
	/* longer than N: the first N packets */
	for (int i = 0; i < 8; i++) {
		if (i % 3 == 1)
			udp(e, H2, 53, H1, 2000, (uint32_t)(100 + i), 11000 + (uint64_t)i * i);
		else
			udp(e, H1, 2000, H2, 53, (uint32_t)(100 + i), 11000 + (uint64_t)i * i);
	}
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 2, "two flows"))
		goto out;
	ASSERT_STREQ(cl(s.r[0], "splt_direction"), "[0, 1, 0, -1, -1]", "short direction");
	ASSERT_STREQ(cl(s.r[0], "splt_ps"), "[60, 70, 80, -1, -1]", "short ps");
	ASSERT_STREQ(cl(s.r[0], "splt_piat_ms"), "[0, 34, 134, -1, -1]", "short piat");
	ASSERT_STREQ(cl(s.r[1], "splt_direction"), "[0, 1, 0, 0, 1]", "long direction");
	ASSERT_STREQ(cl(s.r[1], "splt_ps"), "[100, 101, 102, 103, 104]", "long ps");
	ASSERT_STREQ(cl(s.r[1], "splt_piat_ms"), "[0, 1, 3, 5, 7]", "long piat");
	ASSERT_EQ(ci(s.r[1], "bidirectional_packets"), 8, "long packets");
	/* statistics are off: SPLT is independent, stats columns read 0 */
	ASSERT_EQ(ci(s.r[1], "bidirectional_max_ps"), 0, "stats off");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_idle_lazy_expiry(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 1000, 1000000, 0, true, SPLT_N);
	uint64_t t;

	/* H: busy flow created first, blocks the idle scan (head of line) */
	tcp(e, H1, 1, H2, 1, FC_TCP_ACK, 60, 10000);
	/* F: created after H */
	tcp(e, H1, 2000, H2, 80, FC_TCP_SYN, 60, 10050);
	for (t = 10100; t <= 14000; t += 100) {
		tcp(e, H1, 1, H2, 1, FC_TCP_ACK, 60, t);
		if (t == 11000)
			tcp(e, H1, 2000, H2, 80, FC_TCP_ACK, 61, 11049); /* 999 ms: not idle */
		if (t == 12000) {
			ASSERT_EQ(s.n, 0, "F idle but blocked behind H");
			/* exactly t - idle == last_seen: idle, expired by its own packet */
			tcp(e, H2, 80, H1, 2000, FC_TCP_ACK, 62, 12049);
			if (ASSERT_EQ(s.n, 1, "F expired lazily")) {
				ASSERT_EQ(s.r[0]->exp, 0, "lazy idle expiry id 0");
				ASSERT_EQ(ci(s.r[0], "src_port"), 2000, "old F src");
				ASSERT_EQ(ci(s.r[0], "bidirectional_packets"), 2, "old F packets");
				ASSERT_EQ(ci(s.r[0], "bidirectional_last_seen_ms"), 11049, "old F last");
			}
		}
	}
	ASSERT_EQ(s.n, 1, "H never idle");
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 3, "H and the new F flushed"))
		goto out;
	ASSERT_EQ(ci(s.r[1], "src_port"), 1, "flush: H first (created first)");
	ASSERT_EQ(ci(s.r[2], "src_port"), 80, "new F: src = sender of the triggering packet");
	ASSERT_STREQ(cs(s.r[2], "src_ip"), "10.0.0.2", "new F src_ip");
	ASSERT_EQ(ci(s.r[2], "bidirectional_first_seen_ms"), 12049, "new F first");
	ASSERT_EQ(ci(s.r[2], "bidirectional_packets"), 1, "new F packets");
	ASSERT_EQ(ci(s.r[2], "bidirectional_bytes"), 62, "new F bytes");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_active_expiry(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 1000, 5000, 0, true, SPLT_N);
	uint64_t t;
	int k = 0;

	for (t = 10000; t <= 14800; t += 400, k++) {
		if (k % 2)
			tcp(e, H2, 80, H1, 1000, FC_TCP_ACK, 60, t);
		else
			tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 60, t);
	}
	ASSERT_EQ(s.n, 0, "nothing yet");
	/* 4999 ms after first_seen: still the same flow */
	tcp(e, H2, 80, H1, 1000, FC_TCP_ACK, 60, 14999);
	ASSERT_EQ(s.n, 0, "not yet active-expired");
	/* 5000 ms: active expiry by this packet, whose sender becomes src */
	tcp(e, H2, 80, H1, 1000, FC_TCP_PSH | FC_TCP_ACK, 99, 15000);
	if (!ASSERT_EQ(s.n, 1, "active expiry"))
		goto out;
	ASSERT_EQ(s.r[0]->exp, 1, "expiration_id 1");
	ASSERT_EQ(ci(s.r[0], "bidirectional_packets"), 14, "old flow packets");
	ASSERT_EQ(ci(s.r[0], "bidirectional_last_seen_ms"), 14999, "old flow last");
	ASSERT_EQ(ci(s.r[0], "src_port"), 1000, "old flow src_port");

	/* a quiet flow is never active-expired by the scan, only idle (id 0) */
	tcp(e, H1, 3000, H2, 80, FC_TCP_SYN, 60, 15001);
	tcp(e, H1, 3000, H2, 80, FC_TCP_ACK, 60, 15900);
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 3, "three flows"))
		goto out;
	ASSERT_EQ(s.r[1]->exp, 0, "new flow flushed with 0");
	ASSERT_STREQ(cs(s.r[1], "src_ip"), "10.0.0.2", "new flow src = sender");
	ASSERT_EQ(ci(s.r[1], "src_port"), 80, "new flow src_port");
	ASSERT_EQ(ci(s.r[1], "bidirectional_first_seen_ms"), 15000, "new flow first");
	ASSERT_EQ(ci(s.r[1], "bidirectional_bytes"), 99, "new flow bytes");
	ASSERT_EQ(ci(s.r[1], "src2dst_psh_packets"), 1, "new flow s2d psh");
	sink_free(&s);
	engine_free(e);

	/* scan time far beyond active_timeout: still idle (0) */
	e = mk_engine(&s, 3000, 5000, 0, true, SPLT_N);
	tcp(e, H1, 1000, H2, 80, FC_TCP_SYN, 60, 10000);
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 60, 12000);
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 60, 14000);
	udp(e, H1, 9, H2, 9, 60, 30000); /* another flow: triggers the scan */
	if (ASSERT_EQ(s.n, 1, "scan expired the quiet flow"))
		ASSERT_EQ(s.r[0]->exp, 0, "scan expiry is idle (0), never active");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_idle_scan_order(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 1000, 1000000, 0, true, SPLT_N);

	tcp(e, H1, 1, H2, 80, FC_TCP_SYN, 60, 10000); /* F1 (scan at 10000) */
	tcp(e, H1, 2, H2, 80, FC_TCP_SYN, 60, 10001); /* F2 */
	tcp(e, H1, 3, H2, 80, FC_TCP_SYN, 60, 10002); /* F3 */
	tcp(e, H1, 1, H2, 80, FC_TCP_ACK, 60, 10005); /* F1 updated: newest last_seen */
	/* F2, F3 are idle at 11004 but F1 (oldest created) is not: nothing */
	tcp(e, H1, 4, H2, 80, FC_TCP_SYN, 60, 11004); /* F4, scan */
	ASSERT_EQ(s.n, 0, "head-of-line: F1 blocks F2/F3");
	tcp(e, H1, 4, H2, 80, FC_TCP_ACK, 60, 11015); /* scan: F1, F2, F3 idle */
	if (!ASSERT_EQ(s.n, 3, "three idle flows"))
		goto out;
	ASSERT_EQ(ci(s.r[0], "src_port"), 1, "creation order: F1 first (not LRU)");
	ASSERT_EQ(ci(s.r[1], "src_port"), 2, "F2 second");
	ASSERT_EQ(ci(s.r[2], "src_port"), 3, "F3 third");
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(s.r[i]->exp, 0, "scan expiry id 0");
	ASSERT_EQ(engine_flows_cached(e), 1, "F4 remains");
out:
	engine_free(e);
	sink_free(&s);
}

/* Live mode: the scan walks the last-seen order, so F1 no longer blocks. */
static void test_live_idle_scan_lru(void)
{
	struct sink s;
	struct engine *e = mk_engine_live(&s, 1000, 1000000);

	tcp(e, H1, 1, H2, 80, FC_TCP_SYN, 60, 10000);
	tcp(e, H1, 2, H2, 80, FC_TCP_SYN, 60, 10001);
	tcp(e, H1, 3, H2, 80, FC_TCP_SYN, 60, 10002);
	tcp(e, H1, 1, H2, 80, FC_TCP_ACK, 60, 10005); /* F1 most recently seen */
	tcp(e, H1, 4, H2, 80, FC_TCP_SYN, 60, 11004); /* scan: F2, F3 idle */
	if (ASSERT_EQ(s.n, 2, "F2 and F3 expire behind the busy F1")) {
		ASSERT_EQ(ci(s.r[0], "src_port"), 2, "most idle first");
		ASSERT_EQ(ci(s.r[1], "src_port"), 3, "F3 second");
	}
	ASSERT_EQ(engine_flows_cached(e), 2, "F1 and F4 remain");
	engine_free(e);
	sink_free(&s);
}

/* engine_tick() expires on the wall clock with no packet (NFStream #196). */
static void test_live_tick(void)
{
	struct sink s;
	struct engine *e = mk_engine_live(&s, 1000, 5000);

	udp(e, H1, 1, H2, 9, 60, 10000); /* F1 */
	udp(e, H1, 2, H2, 9, 60, 10500); /* F2 */
	engine_tick(e, 10999);
	ASSERT_EQ(s.n, 0, "F1 999 ms idle: kept");
	engine_tick(e, 11000);
	if (ASSERT_EQ(s.n, 1, "F1 idle at 11000 without a packet"))
		ASSERT_EQ(s.r[0]->exp, 0, "idle id 0");
	engine_tick(e, 9000); /* the clock never goes back */
	udp(e, H1, 3, H2, 9, 60, 10700); /* clamped to 11000 */
	engine_tick(e, 11499);
	ASSERT_EQ(s.n, 1, "F2 999 ms idle at 11499");
	engine_tick(e, 12000);
	if (ASSERT_EQ(s.n, 3, "F2 and F3 idle"))
		ASSERT_EQ(ci(s.r[2], "bidirectional_first_seen_ms"), 11000, "F3 clamped to the tick");
	engine_free(e);
	sink_free(&s);
}

/* A UDP packet of @iface (frame.iface: the capture's interface). */
static int udp_on(struct engine *e, uint16_t iface, uint32_t sip, uint16_t sport, uint32_t dip,
		  uint16_t dport, uint64_t t)
{
	uint8_t d[64];
	uint32_t n = frame4(d, 17, sip, sport, dip, dport, 0);
	struct frame f = { .dlt = FC_DLT_EN10MB, .iface = iface, .data = d, .caplen = n, .len = n,
			   .time_ms = t };

	return engine_frames(e, &f, 1);
}

/* An interface that went away: exactly the flows with a packet on it go
 * out, in creation order; the others stay, whole. */
static void test_live_flush_ifaces(void)
{
	struct sink s;
	struct engine *e = mk_engine_live(&s, 100000, 1000000);

	udp_on(e, 0, H1, 1, H2, 9, 10000); /* F1 on 0 */
	udp_on(e, 1, H1, 2, H2, 9, 10001); /* F2 on 1 */
	udp_on(e, 0, H1, 3, H2, 9, 10002); /* F3 on 0, then 1 */
	udp_on(e, 1, H2, 9, H1, 3, 10003);
	udp_on(e, 70, H1, 4, H2, 9, 10004); /* F4 on 70: bit 63 */
	udp_on(e, 1, H1, 2, H2, 9, 10005);
	engine_flush_ifaces(e, FLOW_IFACE_BIT(1));
	if (ASSERT_EQ(s.n, 2, "F2 and F3 had packets on interface 1")) {
		ASSERT_EQ(ci(s.r[0], "src_port"), 2, "creation order: F2");
		ASSERT_EQ(ci(s.r[0], "bidirectional_packets"), 2, "F2 whole");
		ASSERT_EQ(ci(s.r[1], "src_port"), 3, "then F3");
		ASSERT_EQ(ci(s.r[1], "dst2src_packets"), 1, "F3 whole");
		ASSERT_EQ(s.r[1]->exp, 0, "flushed as at the end: idle id 0");
	}
	ASSERT_EQ(engine_flows_cached(e), 2, "F1 and F4 remain");
	udp_on(e, 1, H1, 2, H2, 9, 10006); /* F2 again: a new flow */
	engine_flush_ifaces(e, FLOW_IFACE_BIT(99));
	if (ASSERT_EQ(s.n, 3, "interfaces from 63 on share a bit"))
		ASSERT_EQ(ci(s.r[2], "src_port"), 4, "F4");
	engine_flush(e);
	ASSERT_EQ(s.n, 5, "the rest at the end");
	engine_free(e);
	sink_free(&s);
}

/* Active timeouts are checked on each tick, oldest created first. */
static void test_live_tick_active(void)
{
	struct sink s;
	struct engine *e = mk_engine_live(&s, 1000, 3000);

	for (uint64_t t = 10000; t <= 12500; t += 500) {
		udp(e, H1, 1, H2, 9, 60, t);       /* F1 busy from 10000 */
		udp(e, H1, 2, H2, 9, 60, t + 100); /* F2 busy from 10100 */
	}
	engine_tick(e, 13050);
	if (ASSERT_EQ(s.n, 1, "F1 active at 13050 with no packet of it") &&
	    ASSERT_EQ(s.r[0]->exp, 1, "active id 1"))
		ASSERT_EQ(ci(s.r[0], "src_port"), 1, "F1");
	engine_tick(e, 13100);
	if (ASSERT_EQ(s.n, 2, "then F2"))
		ASSERT_EQ(ci(s.r[1], "src_port"), 2, "F2");
	engine_free(e);
	sink_free(&s);
}

static void test_scan_interval(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 100, 1000000, 0, false, 0);

	udp(e, H1, 1, H2, 9, 60, 10000); /* F1; scan */
	udp(e, H1, 2, H2, 9, 60, 10095); /* F2; scan, F1 95 ms old */
	udp(e, H1, 3, H2, 9, 60, 10104); /* 9 ms after the last scan: none */
	ASSERT_EQ(s.n, 0, "no scan within 10 ms although F1 is idle");
	udp(e, H1, 4, H2, 9, 60, 10105); /* 10 ms: scan */
	if (ASSERT_EQ(s.n, 1, "scan at >= 10 ms"))
		ASSERT_EQ(ci(s.r[0], "src_port"), 1, "F1 expired");
	udp(e, H1, 5, H2, 9, 60, 10197); /* F2 idle (102 ms), scan */
	ASSERT_EQ(s.n, 2, "F2 expired by the next scan");
	udp(e, H1, 6, H2, 9, 60, 10206); /* 9 ms: F3 idle (102) but no scan */
	ASSERT_EQ(s.n, 2, "no scan again");
	engine_free(e);
	sink_free(&s);
}

static void test_scan_budget(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 1000, 1000000, 0, false, 0);
	const struct engine_stats *st = engine_get_stats(e);
	int order_ok = 1;

	for (int i = 0; i < 1500; i++)
		udp(e, H1, (uint16_t)(1 + i), H2, 9, 60, 10000);
	ASSERT_EQ(engine_flows_cached(e), 1500, "1500 flows");
	udp(e, H2, 7, H1, 7, 60, 11000); /* one trigger packet */
	ASSERT_EQ(s.n, 1000, "exactly 1000 expired in one scan");
	ASSERT_EQ(engine_flows_cached(e), 501, "500 idle + trigger remain");
	for (size_t i = 0; i < s.n; i++)
		order_ok &= s.r[i]->f.src_port == i + 1 && s.r[i]->exp == 0;
	ASSERT_TRUE(order_ok, "the 1000 oldest, in creation order");
	udp(e, H2, 7, H1, 7, 60, 11009); /* < 10 ms: no scan */
	ASSERT_EQ(s.n, 1000, "no scan before 10 ms");
	udp(e, H2, 7, H1, 7, 60, 11010);
	ASSERT_EQ(s.n, 1500, "the next scan takes the rest");
	ASSERT_EQ(engine_flows_cached(e), 1, "trigger flow remains");
	ASSERT_EQ(st->flows_created, 1501, "flows_created");
	ASSERT_EQ(st->flows_emitted, 1500, "flows_emitted");
	engine_free(e);
	sink_free(&s);
}

static void test_time_backwards(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, true, SPLT_N);
	const struct engine_stats *st = engine_get_stats(e);
	uint8_t arp[60];

	tcp(e, H1, 1000, H2, 80, FC_TCP_SYN, 60, 10000);
	tcp(e, H2, 80, H1, 1000, FC_TCP_SYN | FC_TCP_ACK, 60, 9000); /* clamped to 10000 */
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 60, 10500);
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 60, 10200); /* clamped to 10500 */
	/* an ignored frame far in the future does not move the clock */
	memset(arp, 0, sizeof(arp));
	memset(arp, 0xff, 6);
	memcpy(arp + 6, M1, 6);
	be16(arp + 12, 0x0806);
	be16(arp + 14, 1);
	engine_frame(e, FC_DLT_EN10MB, arp, sizeof(arp), sizeof(arp), 99999999);
	ASSERT_EQ(st->packets_ignored, 1, "ARP ignored");
	tcp(e, H1, 1000, H2, 80, FC_TCP_ACK, 60, 10600);
	engine_flush(e);
	if (!ASSERT_EQ(s.n, 1, "one flow"))
		goto out;
	ASSERT_EQ(ci(s.r[0], "bidirectional_first_seen_ms"), 10000, "first");
	ASSERT_EQ(ci(s.r[0], "bidirectional_last_seen_ms"), 10600, "last not moved by ARP");
	ASSERT_EQ(ci(s.r[0], "bidirectional_duration_ms"), 600, "duration");
	ASSERT_EQ(ci(s.r[0], "dst2src_first_seen_ms"), 10000, "d2s first clamped");
	ASSERT_EQ(ci(s.r[0], "dst2src_duration_ms"), 0, "d2s duration");
	ASSERT_EQ(ci(s.r[0], "src2dst_duration_ms"), 600, "s2d duration");
	ASSERT_EQ(ci(s.r[0], "bidirectional_min_piat_ms"), 0, "min piat 0");
	ASSERT_EQ(ci(s.r[0], "bidirectional_max_piat_ms"), 500, "max piat");
	ASSERT_EQ(ci(s.r[0], "src2dst_min_piat_ms"), 0, "s2d min piat");
	ASSERT_STREQ(cl(s.r[0], "splt_piat_ms"), "[0, 0, 500, 0, 100]", "splt piat never negative");
out:
	engine_free(e);
	sink_free(&s);
}

static void test_flush_creation_order(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 60000, 1000000, 0, false, 0);

	udp(e, H1, 1, H2, 9, 60, 10000);
	udp(e, H1, 2, H2, 9, 60, 10001);
	udp(e, H1, 3, H2, 9, 60, 10002);
	udp(e, H2, 9, H1, 2, 60, 10003);
	udp(e, H1, 1, H2, 9, 60, 10004);
	engine_flush(e);
	if (ASSERT_EQ(s.n, 3, "three flows")) {
		for (int i = 0; i < 3; i++) {
			ASSERT_EQ(s.r[i]->f.src_port, i + 1, "creation order");
			ASSERT_EQ(s.r[i]->exp, 0, "flush id 0");
		}
	}
	engine_flush(e); /* idempotent */
	ASSERT_EQ(s.n, 3, "second flush emits nothing");
	engine_free(e);
	sink_free(&s);
}

static void test_max_stop(void)
{
	struct sink s;
	struct engine *e = mk_engine(&s, 1000, 1000000, 0, false, 0);
	const struct engine_stats *st = engine_get_stats(e);
	uint64_t seen;

	s.stop_after = 2;
	udp(e, H1, 1, H2, 9, 60, 10000);
	udp(e, H1, 2, H2, 9, 60, 10001);
	udp(e, H1, 3, H2, 9, 60, 10002);
	ASSERT_TRUE(!engine_stopped(e), "running");
	ASSERT_EQ(udp(e, H1, 4, H2, 9, 60, 11005), 1, "frame reports the stop");
	ASSERT_TRUE(engine_stopped(e), "stopped");
	ASSERT_EQ(s.calls, 2, "emit not called after returning 1");
	seen = st->packets_seen;
	ASSERT_EQ(udp(e, H1, 5, H2, 9, 60, 11006), 1, "later frame refused");
	ASSERT_EQ(st->packets_seen, seen, "later frames ignored");
	engine_flush(e);
	ASSERT_EQ(s.calls, 2, "flush emits nothing once stopped");
	ASSERT_EQ(engine_flows_cached(e), 0, "flush still frees the cache");

	/* stop during a lazy expiry: the triggering packet starts no flow */
	sink_free(&s);
	engine_free(e);
	e = mk_engine(&s, 1000, 1000000, 0, false, 0);
	st = engine_get_stats(e);
	s.stop_after = 1;
	udp(e, H1, 1, H2, 9, 60, 10000);
	udp(e, H1, 2, H2, 9, 60, 10500);
	ASSERT_EQ(udp(e, H1, 2, H2, 9, 60, 10500 + 1000), 1, "stop by the first emit");
	if (ASSERT_EQ(s.n, 1, "one emitted"))
		ASSERT_EQ(s.r[0]->f.src_port, 2, "the lazily expired flow");
	ASSERT_EQ(st->flows_created, 2, "no flow created after the stop");
	engine_free(e);
	sink_free(&s);
}

/* Ethernet/IPv6 + 8-byte hop-by-hop + TCP + 10 bytes: 92 bytes. */
static uint32_t frame6(uint8_t *d)
{
	uint32_t n = 0;

	memset(d, 0, 128);
	memcpy(d, M2, 6);
	memcpy(d + 6, M1, 6);
	be16(d + 12, 0x86dd);
	n = 14;
	d[n] = 0x60;
	be16(d + n + 4, 8 + 20 + 10);
	d[n + 6] = 0; /* hop-by-hop */
	d[n + 7] = 64;
	d[n + 8] = 0x20;
	d[n + 9] = 0x01;
	d[n + 23] = 1;
	d[n + 24] = 0x20;
	d[n + 25] = 0x01;
	d[n + 39] = 2;
	n += 40;
	d[n] = 6; /* next: TCP */
	d[n + 1] = 0;
	d[n + 2] = 1; /* PadN */
	d[n + 3] = 4;
	n += 8;
	be16(d + n, 40000);
	be16(d + n + 2, 443);
	d[n + 12] = 5 << 4;
	d[n + 13] = FC_TCP_PSH | FC_TCP_ACK;
	n += 20;
	memset(d + n, 'x', 10);
	return n + 10;
}

static void test_accounting_modes(void)
{
	static const int64_t want[4] = { 92, 38, 30, 10 };
	uint8_t d[128];
	uint32_t n = frame6(d);

	ASSERT_EQ(n, 92, "frame length");
	for (uint8_t mode = 0; mode < 4; mode++) {
		struct sink s;
		struct engine *e = mk_engine(&s, 60000, 1000000, mode, true, SPLT_N);
		char name[32];

		snprintf(name, sizeof(name), "mode %u", mode);
		engine_frame(e, FC_DLT_EN10MB, d, n, n, 10000);
		engine_frame(e, FC_DLT_EN10MB, d, n, n, 10010);
		engine_flush(e);
		if (ASSERT_EQ(s.n, 1, name)) {
			ASSERT_EQ(ci(s.r[0], "ip_version"), 6, name);
			ASSERT_STREQ(cs(s.r[0], "src_ip"), "2001::1", name);
			ASSERT_EQ(ci(s.r[0], "bidirectional_bytes"), 2 * want[mode], name);
			ASSERT_EQ(ci(s.r[0], "src2dst_bytes"), 2 * want[mode], name);
			ASSERT_EQ(ci(s.r[0], "bidirectional_min_ps"), want[mode], name);
			ASSERT_EQ(ci(s.r[0], "bidirectional_max_ps"), want[mode], name);
			ASSERT_TRUE(cf(s.r[0], "bidirectional_mean_ps") == (double)want[mode], name);
			ASSERT_EQ(s.r[0]->ps[0], want[mode], name);
			ASSERT_EQ(s.r[0]->ps[1], want[mode], name);
		}
		engine_free(e);
		sink_free(&s);
	}
}

int main(void)
{
	schema_setup();
	RUN_TEST(test_first_packet_sets_src);
	RUN_TEST(test_direction_exact_match);
	RUN_TEST(test_one_direction_zero_dst2src);
	RUN_TEST(test_welford_vs_two_pass);
	RUN_TEST(test_tcp_flags_per_scope);
	RUN_TEST(test_splt);
	RUN_TEST(test_idle_lazy_expiry);
	RUN_TEST(test_active_expiry);
	RUN_TEST(test_idle_scan_order);
	RUN_TEST(test_live_idle_scan_lru);
	RUN_TEST(test_live_tick);
	RUN_TEST(test_live_tick_active);
	RUN_TEST(test_live_flush_ifaces);
	RUN_TEST(test_scan_interval);
	RUN_TEST(test_scan_budget);
	RUN_TEST(test_time_backwards);
	RUN_TEST(test_flush_creation_order);
	RUN_TEST(test_max_stop);
	RUN_TEST(test_accounting_modes);
	free(scr);
	schema_release(&sch);
	return TEST_SUMMARY();
}
