// SPDX-License-Identifier: GPL-2.0-only
/*
 * bpf/capture.bpf.c against agent/packet/decode.c, through BPF_PROG_TEST_RUN.
 *
 * Every Ethernet frame of the project's synthetic captures (tools/mkpcap:
 * VLAN, MPLS, PPPoE, LLC/SNAP, IPv4 options and fragments, IPv6 extension
 * headers, IP-in-IP, GTP/CAPWAP/TZSP tunnels, truncated and non-IP frames)
 * and of NFStream's test captures (../shared, when present) runs through
 * the TC program.  The flows the kernel meters, plus the packets it punts to
 * userspace decoded there, must equal the flows computed from decode_frame()
 * alone: same keys, packets, bytes, size min/max/sum/sum of squares and
 * TCP flag counts per direction, under each accounting mode.  Samples must
 * be the first packets of each flow, byte for byte, indexed 0..n-1.  A
 * GSO super-packet (gso_segs/gso_size in the test context) must count as
 * its wire segments.  Needs root (or CAP_BPF+CAP_NET_ADMIN): SKIP otherwise.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "packet/decode.h"
#include "core/flow.h"
#include "capture/source.h"
#include "capture/ebpf_tc.h"
#include "test.h"

#define N_SAMPLES 4
#define TABLE_SIZE (1 << 16)

struct acc {
	struct fc_flow_key k;
	struct fc_meter exp, act;
	uint32_t samples;      /* sample events seen */
	uint32_t sample_mask;  /* indexes seen */
	uint64_t kernel_pkts;  /* packets metered by the kernel for this key */
	uint32_t meter_events; /* FC_EV_METER records seen */
	bool used;
};

struct run {
	struct ebpf_capture *cap;
	struct acc *tab;
	uint8_t mode;
	const uint8_t *frame; /* frame being run, for sample checks */
	uint32_t frame_len;
	uint64_t frames, punted, samples_bad, decode_ok, untestable;
};

static uint64_t key_hash(const struct fc_flow_key *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static struct acc *acc_get(struct run *r, const struct fc_flow_key *k)
{
	uint64_t i = key_hash(k) & (TABLE_SIZE - 1);

	for (;;) {
		struct acc *a = &r->tab[i];

		if (!a->used) {
			a->used = true;
			a->k = *k;
			return a;
		}
		if (!memcmp(&a->k, k, sizeof(*k)))
			return a;
		i = (i + 1) & (TABLE_SIZE - 1);
	}
}

static int pkt_key(const struct pkt *p, struct fc_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	return fc_key_make(k, p->src_ip, p->dst_ip, p->src_port, p->dst_port, p->vlan_id,
			   p->protocol, p->ip_version);
}

static void on_event(const struct fc_event *ev, const uint8_t *data, void *arg)
{
	struct run *r = arg;
	struct pkt p;
	struct fc_flow_key k;
	int dir;

	if (ev->type == FC_EV_METER) {
		/* a flow's first packet of an interval past its samples */
		struct acc *a = acc_get(r, &ev->key);

		a->meter_events++;
		fc_meter_add_skb(&a->act, ev->dir & 1, 0, ev->size, ev->hdr, ev->gso_size,
				 ev->gso_segs, ev->tcp_flags);
		return;
	}
	if (ev->type == FC_EV_SAMPLE) {
		struct acc *a = acc_get(r, &ev->key);

		a->samples++;
		if (ev->idx < 32)
			a->sample_mask |= 1u << ev->idx;
		if (ev->caplen != (r->frame_len < FC_SNAP_MAX ? r->frame_len : FC_SNAP_MAX) ||
		    ev->len != r->frame_len || memcmp(data, r->frame, ev->caplen))
			r->samples_bad++;
		/* a sample is not in the kernel's map: userspace meters it
		 * from the event, as capture_ebpf.c does */
		fc_meter_add_skb(&a->act, ev->dir & 1, 0, ev->size, ev->hdr, ev->gso_size,
				 ev->gso_segs, ev->tcp_flags);
		return;
	}
	r->punted++;
	if (decode_frame(FC_DLT_EN10MB, data, ev->caplen, ev->len, true, &p) != DECODE_OK)
		return;
	dir = pkt_key(&p, &k);
	fc_meter_add(&acc_get(r, &k)->act, dir, 0, flow_packet_size(&p, r->mode), 1, p.tcp_flags);
}

static void on_entry(const struct fc_flow_key *k, const struct fc_flow_val *v, void *arg)
{
	struct run *r = arg;
	struct acc *a = acc_get(r, k);

	a->kernel_pkts += v->m.dir[0].packets + v->m.dir[1].packets;
	fc_meter_merge(&a->act, &v->m);
}

static bool dir_equal(const struct fc_dir_meter *x, const struct fc_dir_meter *y)
{
	if (x->packets != y->packets || x->bytes != y->bytes || x->ps_sum != y->ps_sum ||
	    x->ps_sumsq != y->ps_sumsq || memcmp(x->flags, y->flags, sizeof(x->flags)))
		return false;
	return !x->packets || (x->ps_min == y->ps_min && x->ps_max == y->ps_max);
}

static void key_str(const struct fc_flow_key *k, char *buf, size_t n)
{
	snprintf(buf, n, "v%u p%u %02x%02x%02x%02x:%u <-> %02x%02x%02x%02x:%u vlan %u", k->ip_version,
		 k->protocol, k->addr_lo[0], k->addr_lo[1], k->addr_lo[2], k->addr_lo[3], k->port_lo,
		 k->addr_hi[0], k->addr_hi[1], k->addr_hi[2], k->addr_hi[3], k->port_hi, k->vlan_id);
}

static int run_frame(struct run *r, const uint8_t *data, uint32_t len, uint32_t segs,
		     uint32_t gso_size)
{
	struct __sk_buff ctx = { .gso_segs = segs, .gso_size = gso_size };
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int err;

	r->frame = data;
	r->frame_len = len;
	err = bpf_prog_test_run_opts(ebpf_capture_prog_fd(r->cap, false), &o);
	if (err)
		return -errno;
	ebpf_capture_consume(r->cap, on_event, r);
	r->frames++;
	return 0;
}

/* The drain's settled hook: the events before the map's entries. */
static void consume_all(uint32_t closed, void *arg)
{
	struct run *r = arg;

	(void)closed;
	ebpf_capture_consume(r->cap, on_event, r);
}

/* Compare and reset: returns the number of mismatching flows. */
static int check_flows(struct run *r, const char *what)
{
	int bad = 0;

	if (ebpf_capture_drain(r->cap, consume_all, on_entry, r) < 0)
		return 1;
	ebpf_capture_consume(r->cap, on_event, r);
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		struct acc *a = &r->tab[i];
		uint32_t want;

		if (!a->used)
			continue;
		if (!dir_equal(&a->exp.dir[0], &a->act.dir[0]) ||
		    !dir_equal(&a->exp.dir[1], &a->act.dir[1])) {
			char ks[128];

			key_str(&a->k, ks, sizeof(ks));
			if (bad++ < 5)
				fprintf(stderr,
					"%s: flow %s: expected %llu+%llu pkts %llu+%llu bytes, kernel+punt %llu+%llu pkts %llu+%llu bytes\n",
					what, ks, (unsigned long long)a->exp.dir[0].packets,
					(unsigned long long)a->exp.dir[1].packets,
					(unsigned long long)a->exp.dir[0].bytes,
					(unsigned long long)a->exp.dir[1].bytes,
					(unsigned long long)a->act.dir[0].packets,
					(unsigned long long)a->act.dir[1].packets,
					(unsigned long long)a->act.dir[0].bytes,
					(unsigned long long)a->act.dir[1].bytes);
		}
		/* a flow's first N_SAMPLES packets are samples, the others
		 * metered in the kernel (punted flows: neither) */
		want = a->kernel_pkts + a->samples + a->meter_events < N_SAMPLES ?
			       (uint32_t)(a->kernel_pkts + a->samples + a->meter_events) : N_SAMPLES;
		if (a->samples != want || a->sample_mask != (1u << want) - 1) {
			if (bad++ < 5)
				fprintf(stderr, "%s: %u samples (mask %x), expected %u\n", what,
					a->samples, a->sample_mask, want);
		}
		ebpf_capture_forget(r->cap, &a->k);
	}
	memset(r->tab, 0, sizeof(*r->tab) * TABLE_SIZE);
	return bad;
}

static int open_capture(struct run *r, uint8_t mode)
{
	struct ebpf_capture_opts o = { .n_samples = N_SAMPLES, .snaplen = FC_SNAP_MAX,
				       .accounting_mode = mode, .decode_tunnels = true };

	r->mode = mode;
	return ebpf_capture_open(&o, &r->cap);
}

/* Feed every full Ethernet frame of @path; returns mismatching flows, or -1
 * when the file is not Ethernet. */
static int feed_file(struct run *r, const char *path)
{
	const char *files[1] = { path };
	struct source *src;
	struct frame fr[64];
	int n, bad;

	if (source_pcap_open(files, 1, NULL, &src))
		return -1;
	while ((n = source_next(src, fr, 64)) > 0) {
		for (int i = 0; i < n; i++) {
			struct pkt p;
			struct fc_flow_key k;
			int dir;

			if (fr[i].dlt != FC_DLT_EN10MB) {
				source_close(src);
				check_flows(r, path);
				return -1;
			}
			/* BPF_PROG_TEST_RUN takes whole frames that fit a page and
			 * (for IPv4) hold an IP header */
			if (fr[i].caplen != fr[i].len || fr[i].len < 34 || fr[i].len > 3500)
				continue;
			if (run_frame(r, fr[i].data, fr[i].len, 0, 0)) {
				/* the test-run harness refuses e.g. an IPv6
				 * ethertype shorter than an IPv6 header */
				r->untestable++;
				continue;
			}
			if (decode_frame(FC_DLT_EN10MB, fr[i].data, fr[i].caplen, fr[i].len, true,
					 &p) == DECODE_OK) {
				r->decode_ok++;
				dir = pkt_key(&p, &k);
				fc_meter_add(&acc_get(r, &k)->exp, dir, 0,
					     flow_packet_size(&p, r->mode), 1, p.tcp_flags);
			}
		}
	}
	source_close(src);
	bad = check_flows(r, path);
	return bad;
}

static char tmpdir[] = "/tmp/fs-bpftest-XXXXXX";

static const char *const mkpcap_scenarios[] = {
	"eth_tcp_handshake", "ipv6_tcp", "eth_udp", "eth_icmp", "eth_vlan", "eth_mpls",
	"eth_pppoe", "eth_llc_snap", "llc_snap_frag_quirk", "eth_non_ip_ignored",
	"tunnels_ip_in_ip", "ipv4_fragments", "ipv4_options", "ipv6_ext_headers", "gtp_u",
	"capwap", "capwap_addr3", "tzsp", "acct_mode0_raw_wrap", "ts_backwards",
	"tls_ja4_two_segments",
};

#define N_SCEN (sizeof(mkpcap_scenarios) / sizeof(mkpcap_scenarios[0]))

static char scen_path[N_SCEN][256];

static int make_scenarios(void)
{
	const char *mk = getenv("MKPCAP");
	char cmd[4096];

	if (!mk)
		mk = "build/mkpcap";
	if (!mkdtemp(tmpdir))
		return -errno;
	for (size_t i = 0; i < N_SCEN; i++) {
		snprintf(scen_path[i], sizeof(scen_path[i]), "%s/%s.pcap", tmpdir,
			 mkpcap_scenarios[i]);
		if (snprintf(cmd, sizeof(cmd), "%.1024s %s %s", mk, mkpcap_scenarios[i], scen_path[i]) >= (int)sizeof(cmd))
			return -ENAMETOOLONG;
		if (system(cmd))
			return -EIO;
	}
	return 0;
}

static struct run R;

static void test_synthetic_all_modes(void)
{
	for (uint8_t mode = 0; mode < 4; mode++) {
		if (!ASSERT_EQ(open_capture(&R, mode), 0, "load capture"))
			return;
		for (size_t i = 0; i < N_SCEN; i++) {
			int bad = feed_file(&R, scen_path[i]);

			if (bad)
				fprintf(stderr, "mode %u: %s\n", mode, scen_path[i]);
			ASSERT_EQ(bad, 0, mkpcap_scenarios[i]);
		}
		ASSERT_EQ(R.samples_bad, 0, "samples equal their frames");
		ebpf_capture_close(R.cap);
		R.cap = NULL;
	}
	ASSERT_TRUE(R.punted > 0, "complex encapsulations were punted");
	ASSERT_TRUE(R.untestable < 5, "nearly every frame ran");
}

static void test_nfstream_captures(void)
{
	const char *dir = "../shared/data/nfstream-tests/pcaps";
	struct dirent *de;
	DIR *d = opendir(dir);
	int files = 0, bad_files = 0;
	uint64_t counters[FC_CNT__MAX];

	if (!d || open_capture(&R, 0)) {
		if (d)
			closedir(d);
		ASSERT_TRUE(false, "open captures and load");
		return;
	}
	R.frames = R.decode_ok = 0;
	while ((de = readdir(d))) {
		char path[512];
		int bad;

		if (!strstr(de->d_name, ".pcap"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		bad = feed_file(&R, path);
		if (bad < 0)
			continue;
		files++;
		if (bad) {
			bad_files++;
			fprintf(stderr, "mismatch in %s\n", path);
		}
	}
	closedir(d);
	ebpf_capture_counters(R.cap, counters);
	printf("  %d Ethernet captures, %llu frames (%llu refused by the test harness): %llu metered in the kernel, %llu punted, %llu samples\n",
	       files, (unsigned long long)R.frames, (unsigned long long)R.untestable,
	       (unsigned long long)counters[FC_CNT_METERED],
	       (unsigned long long)R.punted, (unsigned long long)counters[FC_CNT_SAMPLES]);
	ASSERT_TRUE(files > 100, "most NFStream captures are Ethernet");
	ASSERT_EQ(bad_files, 0, "captures whose kernel flows differ from decode.c");
	ASSERT_EQ(R.samples_bad, 0, "samples equal their frames");
	ASSERT_EQ(counters[FC_CNT_PUNT_LOST] + counters[FC_CNT_SAMPLE_LOST], 0, "nothing lost");
	ebpf_capture_close(R.cap);
	R.cap = NULL;
}

/* One TCP frame of 14 + 20 + 20 + 2500 bytes standing for 3 segments of 1000. */
static void test_gso_segments(void)
{
	uint8_t f[14 + 20 + 20 + 2500] = { 0 };
	struct fc_flow_key k;
	struct acc *a;
	uint8_t src[16] = { 10, 0, 0, 1 }, dst[16] = { 10, 0, 0, 2 };

	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (20 + 20 + 2500) >> 8;
	f[17] = (20 + 20 + 2500) & 0xff;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, src, 4);
	memcpy(f + 30, dst, 4);
	f[34] = 0x30; f[35] = 0x39; /* 12345 */
	f[36] = 0x00; f[37] = 0x50; /* 80 */
	f[46] = 5 << 4;
	f[47] = 0x18; /* PSH|ACK */
	if (!ASSERT_EQ(open_capture(&R, 0), 0, "load capture"))
		return;
	ASSERT_EQ(run_frame(&R, f, sizeof(f), 3, 1000), 0, "test run");
	ebpf_capture_drain(R.cap, consume_all, on_entry, &R);
	memset(&k, 0, sizeof(k));
	fc_key_make(&k, src, dst, 12345, 80, 0, 6, 4);
	a = acc_get(&R, &k);
	ASSERT_EQ(a->act.dir[0].packets, 3, "3 wire segments");
	ASSERT_EQ(a->act.dir[0].bytes, 2 * 1054 + 554, "bytes of the segments");
	ASSERT_EQ(a->act.dir[0].ps_max, 1054, "full segment size");
	ASSERT_EQ(a->act.dir[0].ps_min, 554, "last segment size");
	ASSERT_EQ(a->act.dir[0].flags[4], 3, "ACK on every segment");
	ASSERT_EQ(a->act.dir[0].flags[5], 1, "PSH once");
	ASSERT_EQ(a->samples, 1, "the flow's first packet was a sample, metered from its event");
	memset(R.tab, 0, sizeof(*R.tab) * TABLE_SIZE);
	ebpf_capture_close(R.cap);
	R.cap = NULL;
}


/* A UDP frame 10.0.0.1:@sport -> 10.0.0.2:53 with @plen payload bytes. */
static size_t udp_frame(uint8_t *f, uint16_t sport, uint16_t plen)
{
	size_t n = 14 + 20 + 8 + plen;

	memset(f, 0, n);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)((20 + 8 + plen) >> 8);
	f[17] = (uint8_t)(20 + 8 + plen);
	f[22] = 64;
	f[23] = 17;
	f[26] = 10; f[29] = 1;
	f[30] = 10; f[33] = 2;
	f[34] = (uint8_t)(sport >> 8);
	f[35] = (uint8_t)sport;
	f[37] = 53;
	f[38] = (uint8_t)((8 + plen) >> 8);
	f[39] = (uint8_t)(8 + plen);
	return n;
}

struct blaster {
	int prog_fd;
	int rounds;
	uint32_t repeat;
	volatile int stop, done;
	int err;
};

static void *blast(void *arg)
{
	struct blaster *b = arg;
	uint8_t f[128];
	size_t n = udp_frame(f, 4242, 60);

	for (b->rounds = 0; !b->stop && !b->err; b->rounds++) {
		DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (uint32_t)n,
				    .repeat = b->repeat);

		if (bpf_prog_test_run_opts(b->prog_fd, &o))
			b->err = -errno;
	}
	b->done = 1;
	return NULL;
}

static void count_entry(const struct fc_flow_key *k, const struct fc_flow_val *v, void *arg)
{
	(void)k;
	*(uint64_t *)arg += v->m.dir[0].packets + v->m.dir[1].packets;
}

static void ignore_event(const struct fc_event *ev, const uint8_t *data, void *arg)
{
	(void)ev;
	(void)data;
	(void)arg;
}

/* Drains running while another CPU meters packets lose and double nothing. */
static void test_drain_loses_nothing(void)
{
	struct blaster b = { .repeat = 1000 };
	uint64_t total = 0, drains = 0, c[FC_CNT__MAX];
	int drain_err = 0;
	pthread_t th;

	if (!ASSERT_EQ(open_capture(&R, 0), 0, "load capture"))
		return;
	b.prog_fd = ebpf_capture_prog_fd(R.cap, false);
	if (!ASSERT_EQ(pthread_create(&th, NULL, blast, &b), 0, "thread"))
		goto out;
	/* the blaster runs until 30 drains have overlapped it; a failed drain
	 * stops it too (and fails the case) */
	while (!b.done) {
		drain_err = ebpf_capture_drain(R.cap, NULL, count_entry, &total);
		if (drain_err < 0) {
			b.stop = 1;
			break;
		}
		ebpf_capture_consume(R.cap, ignore_event, NULL);
		if (++drains == 30)
			b.stop = 1;
	}
	pthread_join(th, NULL);
	ASSERT_TRUE(drain_err >= 0, "every drain while the traffic ran");
	ASSERT_TRUE(ebpf_capture_drain(R.cap, NULL, count_entry, &total) >= 0, "the last drain");
	ebpf_capture_counters(R.cap, c);
	printf("  %llu packets metered across %llu drains\n", (unsigned long long)total,
	       (unsigned long long)drains);
	ASSERT_EQ(b.err, 0, "test runs");
	ASSERT_TRUE(drains >= 10, "drains overlapped the traffic");
	/* the flow's first N_SAMPLES packets are samples, then its first
	 * packet of each interval a meter record, the rest metered */
	ASSERT_EQ(c[FC_CNT_SAMPLES], N_SAMPLES, "the first packets were samples");
	ASSERT_TRUE(c[FC_CNT_METER_EVENTS] >= 1 && c[FC_CNT_METER_EVENTS] <= drains + 1,
		    "a meter record per interval at most");
	ASSERT_EQ(c[FC_CNT_METERED], (uint64_t)b.rounds * b.repeat - N_SAMPLES -
				     c[FC_CNT_METER_EVENTS], "kernel metered every other run");
	ASSERT_EQ(total, (uint64_t)b.rounds * b.repeat - N_SAMPLES - c[FC_CNT_METER_EVENTS],
		  "drained packets = packets sent - samples - meter records");
out:
	ebpf_capture_close(R.cap);
	R.cap = NULL;
}

/*
 * @rounds rounds of one 20-byte UDP frame for each of 64 flows (source ports
 * @sport0 to @sport0 + 63) through the ingress program, each also metered
 * by the decoder as expected; the events are consumed after each frame
 * when @consume, else left in the ring.  Returns the frames run.
 */
static uint64_t feed_udp_flows(uint16_t sport0, int rounds, bool consume)
{
	static uint8_t f[128]; /* R.frame: the last frame run */
	int prog = ebpf_capture_prog_fd(R.cap, false);
	uint64_t pkts = 0;

	for (int round = 0; round < rounds; round++) {
		for (uint16_t sport = sport0; sport < sport0 + 64; sport++) {
			size_t n = udp_frame(f, sport, 20);
			DECLARE_LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = f,
					    .data_size_in = (uint32_t)n);
			struct pkt p;
			struct fc_flow_key k;
			int dir;

			if (consume)
				ASSERT_EQ(run_frame(&R, f, (uint32_t)n, 0, 0), 0, "test run");
			else
				ASSERT_EQ(bpf_prog_test_run_opts(prog, &t), 0, "test run");
			R.frame = f;
			R.frame_len = (uint32_t)n;
			decode_frame(FC_DLT_EN10MB, f, (uint32_t)n, (uint32_t)n, true, &p);
			dir = pkt_key(&p, &k);
			fc_meter_add(&acc_get(&R, &k)->exp, dir, 0, (uint32_t)n, 1, 0);
			pkts++;
		}
	}
	return pkts;
}

/*
 * Drain and consume what is left, then compare each flow's meter with the
 * decoder's: the flows seen, *@bad those that differ, *@sampled those with
 * a sample, *@full those with exactly samples 0 .. @n_samples - 1.
 */
static int udp_flows_seen(uint32_t n_samples, int *bad, int *sampled, int *full)
{
	int flows = 0;

	*bad = *sampled = *full = 0;
	ASSERT_TRUE(ebpf_capture_drain(R.cap, NULL, on_entry, &R) >= 0, "drain");
	ASSERT_TRUE(ebpf_capture_consume(R.cap, on_event, &R) >= 0, "consume");
	for (size_t i = 0; i < TABLE_SIZE; i++) {
		struct acc *a = &R.tab[i];

		if (!a->used)
			continue;
		flows++;
		if (!dir_equal(&a->exp.dir[0], &a->act.dir[0]) ||
		    !dir_equal(&a->exp.dir[1], &a->act.dir[1]))
			(*bad)++;
		if (a->samples)
			(*sampled)++;
		if (a->samples == n_samples && a->sample_mask == (1u << n_samples) - 1)
			(*full)++;
	}
	return flows;
}

/* With a 4-entry flow map, 64 flows still account for every packet. */
static void test_map_full_overflow(void)
{
	struct ebpf_capture_opts o = { .n_samples = 2, .snaplen = 128, .decode_tunnels = true,
				       .flow_map_entries = 4 };
	uint64_t c[FC_CNT__MAX], pkts;
	int bad, sampled, full;

	R.mode = 0;
	if (!ASSERT_EQ(ebpf_capture_open(&o, &R.cap), 0, "load capture with a tiny map"))
		return;
	pkts = feed_udp_flows(1000, 4, true);
	ebpf_capture_counters(R.cap, c);
	/* rounds 0 and 1: every flow's 2 samples; round 2: its first packet of
	 * the interval, a meter record; neither makes a map entry; round 3: 4
	 * flows in the map, 60 punted whole */
	ASSERT_EQ(c[FC_CNT_SAMPLES], 64 * 2, "every flow's first two packets were samples");
	ASSERT_EQ(c[FC_CNT_METER_EVENTS], 64, "then a meter record each");
	ASSERT_EQ(c[FC_CNT_PUNT_FULL], 64 - 4, "packets beyond the map went to userspace");
	ASSERT_EQ(c[FC_CNT_PUNT_LOST], 0, "none lost");
	ASSERT_EQ(c[FC_CNT_METERED] + c[FC_CNT_PUNT_FULL] + c[FC_CNT_SAMPLES] +
			  c[FC_CNT_METER_EVENTS], pkts, "every packet accounted");
	/* the events were written while other frames ran: their bytes are not
	 * the last frame's, so samples are counted, not compared */
	ASSERT_EQ(udp_flows_seen(2, &bad, &sampled, &full), 64, "every flow seen");
	ASSERT_EQ(bad, 0, "kernel + samples + punted = every flow's packets");
	/* samples need no map entry: every flow gets its first n_samples = 2
	 * packets to nDPI, also those the full map punts later */
	ASSERT_EQ(sampled, 64, "flows sampled");
	ASSERT_EQ(full, 64, "two samples, indexes 0 and 1, each");
	memset(R.tab, 0, sizeof(*R.tab) * TABLE_SIZE);
	ebpf_capture_close(R.cap);
	R.cap = NULL;
}

/*
 * A ring buffer too small for the samples and meter records: what it cannot
 * take is metered in the kernel's map instead (sample_lost counts the
 * samples nDPI misses), so every flow's packets are still all counted.
 */
static void test_ring_full_counts_everything(void)
{
	struct ebpf_capture_opts o = { .n_samples = 4, .snaplen = 128, .decode_tunnels = true,
				       .ringbuf_bytes = 4096 };
	uint64_t c[FC_CNT__MAX], pkts;
	int bad, sampled, full;

	R.mode = 0;
	if (!ASSERT_EQ(ebpf_capture_open(&o, &R.cap), 0, "load capture with a 4 KiB ring"))
		return;
	/* 64 flows of 6 packets, nothing consumed until the end: the ring
	 * holds a few dozen records */
	pkts = feed_udp_flows(2000, 6, false);
	ebpf_capture_counters(R.cap, c);
	ASSERT_TRUE(c[FC_CNT_SAMPLE_LOST] > 0, "the ring overflowed: samples lost to nDPI");
	ASSERT_EQ(c[FC_CNT_PUNT_LOST], 0, "no punt");
	ASSERT_EQ(c[FC_CNT_METERED] + c[FC_CNT_SAMPLES] + c[FC_CNT_METER_EVENTS], pkts,
		  "every packet metered: in the map, or from a record the ring took");
	/* the records' frames are not all the last run's: counted, not compared */
	ASSERT_EQ(udp_flows_seen(4, &bad, &sampled, &full), 64, "every flow seen");
	ASSERT_EQ(bad, 0, "kernel + records = every flow's packets");
	R.samples_bad = 0; /* not compared here (above) */
	memset(R.tab, 0, sizeof(*R.tab) * TABLE_SIZE);
	ebpf_capture_close(R.cap);
	R.cap = NULL;
}

int main(void)
{
	char why[256];
	struct stat st;

	R.tab = calloc(TABLE_SIZE, sizeof(*R.tab));
	if (!R.tab)
		return 1;
	if (geteuid() != 0 || ebpf_capture_probe(why, sizeof(why))) {
		if (geteuid() != 0)
			snprintf(why, sizeof(why), "needs root (CAP_BPF, CAP_NET_ADMIN)");
		SKIP_TEST(test_bpf_capture, why);
		return TEST_SUMMARY();
	}
	if (make_scenarios()) {
		SKIP_TEST(test_synthetic_all_modes, "tools/mkpcap not found (set MKPCAP)");
	} else {
		RUN_TEST(test_synthetic_all_modes);
	}
	RUN_TEST(test_gso_segments);
	RUN_TEST(test_drain_loses_nothing);
	RUN_TEST(test_map_full_overflow);
	RUN_TEST(test_ring_full_counts_everything);
	if (stat("../shared/data/nfstream-tests/pcaps", &st) == 0)
		RUN_TEST(test_nfstream_captures);
	else
		SKIP_TEST(test_nfstream_captures, "../shared/data/nfstream-tests not present");
	for (size_t i = 0; i < N_SCEN; i++)
		unlink(scen_path[i]);
	rmdir(tmpdir);
	free(R.tab);
	return TEST_SUMMARY();
}
