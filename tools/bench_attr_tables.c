// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attribution's userspace cost per connection, without the kernel and
 * without the noise of a loop's CPU: the records bpf/sockets.bpf.c writes
 * for a client's connection (a TUPLE at connect, a CLOSE at release), fed
 * to the tables as the event thread feeds them (batches, a purge slice per
 * 100 ms of the records' time), and the join a flow's export makes.
 *
 * The records' clock runs at RATE connections per second and ends now, so
 * retention and purging see the ages they would: the first RATE x RETAIN_S
 * connections bring the tables to what the retention keeps (not timed),
 * the next N are timed.  One client (one process) connects to one server
 * port from rotating ephemeral ports, as tools/bench_attr.py's loop does,
 * so a 5-tuple comes back every 28,232 connections: within NFStream's idle
 * timeout that is the same flow, so a flow is joined (at its export) once
 * for many connections; the bench joins one connection in 100, and gives
 * the cost per connection (records, purge) and per join apart.
 *
 *   bench_attr_tables [RATE] [N] [RETAIN_S]   (default 20000 1000000 180)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attr/attr_int.h"
#include "core/flow.h"

#define OURS 77

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct cost {
	double feed, join, purge;
	uint64_t joins;
};

static void run(struct attr *a, uint64_t from, uint64_t to, uint64_t total, double rate,
		uint64_t end_ns, struct cost *c)
{
	const uint64_t per_tick = (uint64_t)(rate / 10) ? (uint64_t)(rate / 10) : 1;
	const uint32_t per_slice = NBUCKETS / PURGE_SLICES;
	static uint32_t slice;
	uint32_t pid = (uint32_t)getpid();
	struct fc_sock_event e;
	struct flow f;
	struct proc_info r;
	uint64_t step = (uint64_t)(1e9 / rate);

	memset(&e, 0, sizeof(e));
	e.h.netns = OURS;
	e.owner.tgid = pid;
	e.owner.tid = pid;
	snprintf(e.owner.comm, sizeof(e.owner.comm), "python3");
	e.how = FC_HOW_CONNECT;
	e.protocol = IPPROTO_TCP;
	e.ip_version = 4;
	inet_pton(AF_INET, "10.202.0.1", e.laddr);
	inet_pton(AF_INET, "10.202.0.2", e.raddr);
	e.rport = 9000;
	memset(&f, 0, sizeof(f));
	memcpy(f.src_ip, e.laddr, 16);
	memcpy(f.dst_ip, e.raddr, 16);
	f.dst_port = 9000;
	f.protocol = IPPROTO_TCP;
	f.ip_version = 4;
	f.dir_packets[0] = f.dir_packets[1] = 3;
	/* a tick (100 ms of records) at a time: the event thread reads them,
	 * the flows they carried are exported and joined, a purge slice runs */
	for (uint64_t t = from; t < to; t += per_tick) {
		uint64_t end = t + per_tick < to ? t + per_tick : to;
		double t0 = cpu_s(), t1, t2;

		pthread_mutex_lock(&a->lock);
		for (uint64_t i = t; i < end; i++) {
			e.h.ts_ns = end_ns - (total - i) * step;
			e.h.kind = FC_SEV_TUPLE;
			e.cookie = 1000 + i;
			e.lport = (uint16_t)(32768 + i % 28232);
			attr_ringbuf_cb(a, &e, sizeof(e));
			e.h.ts_ns += 200000; /* released 0.2 ms later */
			e.h.kind = FC_SEV_CLOSE;
			attr_ringbuf_cb(a, &e, sizeof(e));
		}
		attr_flush_batch(a);
		pthread_mutex_unlock(&a->lock);
		t1 = cpu_s();
		for (uint64_t i = t + 99; i < end; i += 100) {
			f.src_port = (uint16_t)(32768 + i % 28232);
			f.first_seen_ms = attr_to_real_ms(a, end_ns - (total - i) * step);
			f.last_seen_ms = f.first_seen_ms + 1;
			attr_lookup(a, &f, &r);
			c->joins++;
			if (r.pid != pid) {
				fprintf(stderr, "bench_attr_tables: connection %llu not named (pid %lld)\n",
					(unsigned long long)i, (long long)r.pid);
				exit(1);
			}
		}
		t2 = cpu_s();
		pthread_mutex_lock(&a->lock);
		attr_purge(a, slice * per_slice, (slice + 1) * per_slice);
		slice = (slice + 1) % PURGE_SLICES;
		pthread_mutex_unlock(&a->lock);
		c->feed += t1 - t0;
		c->join += t2 - t1;
		c->purge += cpu_s() - t2;
	}
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 20000;
	uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
	uint64_t retain = argc > 3 ? strtoull(argv[3], NULL, 10) : 180;
	uint64_t fill = (uint64_t)(rate * (double)retain), total = fill + n;
	struct attr_opts o = { .retain_ms = retain * 1000 };
	struct attr *a = attr_new_detached(&o, OURS);
	struct cost warm = { 0 }, c = { 0 };
	char line[512];

	if (!a || rate <= 0 || !n) {
		fprintf(stderr, "usage: bench_attr_tables [RATE] [N] [RETAIN_S]\n");
		return 2;
	}
	/* the records of the last total / rate seconds, up to now */
	run(a, 0, fill, total, rate, attr_mono_ns(), &warm);
	run(a, fill, total, total, rate, attr_mono_ns(), &c);
	attr_summary(a, line, sizeof(line));
	printf("attribution tables, %.0f connections/s, retention %llu s (%llu connections filled "
	       "them), then %llu connections: per connection %.0f ns (records %.0f ns, purge "
	       "%.0f ns); per join (a flow's export) %.0f ns\n  (%s)\n",
	       rate, (unsigned long long)retain, (unsigned long long)fill,
	       (unsigned long long)n, 1e9 * (c.feed + c.purge) / (double)n,
	       1e9 * c.feed / (double)n, 1e9 * c.purge / (double)n,
	       c.joins ? 1e9 * c.join / (double)c.joins : 0.0, line);
	attr_close(a);
	return 0;
}
