// SPDX-License-Identifier: GPL-2.0-only
/*
 * libpcap live capture: n_meters threads, each owning its handles (one
 * per interface, a PACKET_FANOUT hash group when there are several
 * meters), its nDPI module and its engine, all feeding the one session.
 * Timers run on the wall clock, so flows expire with no packet arriving
 * (NFStream #196/#215).  The caller's thread supervises.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "capture/ifwatch.h"
#include "capture/source.h"
#include "export/pcapng.h"
#include "util/log.h"

#define LIVE_BATCH 64
#define TICK_MS 10        /* wall-clock expiry cadence, NFStream's scan interval */
#define KSTATS_MS 1000    /* pcap_stats() is a syscall: once a second */
/*
 * Live packets reach a meter up to the source's ring timeout (50 ms for
 * libpcap) after their kernel timestamp.  The meter clock follows the
 * wall clock this far behind, so that such packets are not clamped
 * forward (which would distort durations and PIAT); expiry is merely
 * this much later.  For the same reason the wall clock only drives the
 * meter once the ring is drained: while a backlog is read, packet time
 * alone advances the clock, as in NFStream.
 */
#define TICK_LAG_MS 200
#define FOLLOW_MS 20      /* link notifications read this often */
#define REOPEN_MS 100     /* a successor not up yet: tried again this often */

struct meter {
	const struct capture_env *env;
	unsigned int idx;
	struct source *src;
	struct dpi *dpi;
	struct engine *eng;
	struct ifwatch *watch; /* the capture's */
	pthread_t thread;
	bool running;
	int err;
	struct pcapng_producer *prod; /* --pcapng-out */
	struct snap_buf snap;
	uint64_t last_follow_ms, next_reopen_ms;
	unsigned int *seen_gen; /* ifwatch_gen() of each interface when last followed */
};

struct capture {
	const struct capture_env *env;
	struct meter *meters;
	unsigned int n;
	struct ifwatch *watch;
};

static void meter_publish(struct meter *m, bool kernel)
{
	const struct source_ops *ops = m->src->ops;
	struct session *s = m->env->session;
	struct session_kstats k = { 0 };
	struct source_stats ks;

	kernel = kernel && (ops->stats || ops->if_stats);
	if (kernel && ops->if_stats) {
		/* per interface (the metrics' breakdown), summed for the meter */
		for (unsigned int i = 0; i < m->env->opts->n_interfaces; i++) {
			ops->if_stats(m->src, i, &ks);
			session_iface_publish(s, m->idx, i,
					      &(struct session_kstats){ ks.recv, ks.drop, ks.ifdrop });
			k.recv += ks.recv;
			k.drop += ks.drop;
			k.ifdrop += ks.ifdrop;
		}
	} else if (kernel) {
		ops->stats(m->src, &ks);
		k = (struct session_kstats){ ks.recv, ks.drop, ks.ifdrop };
	}
	session_meter_publish(s, m->idx, m->eng, kernel ? &k : NULL);
}

/* engine_opts.tap: every packet to the pcapng file, with its flow. */
static void meter_tap(void *arg, const struct frame *fr, struct flow *f)
{
	struct meter *m = arg;

	if (m->prod)
		pcapng_add(m->prod, fr->iface, fr->time_us, fr->data, fr->caplen, fr->len,
		   f);
}

static void snap_one(void *arg, struct flow *f)
{
	struct meter *m = arg;

	snap_buf_add_flow(&m->snap, f, m->dpi);
}

/* Answer a snapshot with the flows cached now. */
static void meter_snapshot(struct meter *m)
{
	m->snap.taken_ms = session_wall_ms();
	engine_visit(m->eng, snap_one, m);
	session_snap_publish(m->env->session, m->idx, &m->snap);
}

struct meter_clock {
	uint64_t last_tick_ms, last_publish_ms, last_kstats_ms;
};

/* Wall-clock work after a read; true when the engine was stopped. */
static bool meter_timers(struct meter *m, struct meter_clock *c, bool drained)
{
	uint64_t now = session_wall_ms();
	bool kernel = now - c->last_kstats_ms >= KSTATS_MS;

	if (drained && now - c->last_tick_ms >= TICK_MS) {
		c->last_tick_ms = now;
		if (engine_tick(m->eng, now - TICK_LAG_MS))
			return true;
	}
	if (now - c->last_publish_ms >= TICK_MS) {
		c->last_publish_ms = now;
		if (kernel)
			c->last_kstats_ms = now;
		meter_publish(m, kernel);
	}
	if (session_snap_wanted(m->env->session, m->idx))
		meter_snapshot(m);
	if (m->prod)
		pcapng_commit(m->prod, false);
	return false;
}

/*
 * Follow the interfaces: a handle whose interface went away is read to
 * its end and closed by the source, then the interface's flows are
 * exported; with --wait-interface its successor is opened.  False when
 * the capture cannot go on.
 */
static bool meter_follow(struct meter *m, bool force)
{
	const struct fs_options *o = m->env->opts;
	uint64_t now = session_wall_ms();
	bool reopen_due = now >= m->next_reopen_ms;
	int i;

	if (force || now - m->last_follow_ms >= FOLLOW_MS) {
		m->last_follow_ms = now;
		ifwatch_poll(m->watch);
		for (size_t k = 0; k < o->n_interfaces; k++) {
			unsigned int gen = ifwatch_gen(m->watch, k);
			int cur = source_live_ifindex(m->src, (unsigned int)k);

			if (cur && (cur != ifwatch_ifindex(m->watch, k) || gen != m->seen_gen[k]))
				source_live_gone(m->src, (unsigned int)k);
			m->seen_gen[k] = gen;
		}
	}
	while ((i = source_live_take_closed(m->src)) >= 0) {
		engine_flush_ifaces(m->eng, FLOW_IFACE_BIT((unsigned int)i));
		meter_publish(m, true);
	}
	if (!o->wait_interface || !reopen_due || session_stopping(m->env->session))
		return true;
	for (size_t k = 0; k < o->n_interfaces; k++) {
		int now_idx = ifwatch_ifindex(m->watch, k), err;

		if (!now_idx || !source_live_closed(m->src, (unsigned int)k))
			continue;
		err = source_live_reopen(m->src, (unsigned int)k, now_idx);
		if (err == -EAGAIN) {
			m->next_reopen_ms = now + REOPEN_MS; /* not up yet */
		} else if (err) {
			session_fail(m->env->session, err, "cannot capture on '%s' again: %s",
				     o->interfaces[k], strerror(-err));
			return false;
		} else if (m->idx == 0) {
			pr_warn("interface '%s' is back (index %d): capture re-attached\n",
				o->interfaces[k], source_live_ifindex(m->src, (unsigned int)k));
		}
	}
	return true;
}

static void *meter_main(void *arg)
{
	struct meter *m = arg;
	struct session *s = m->env->session;
	struct frame fr[LIVE_BATCH];
	struct meter_clock clock = { 0 };

	m->prod = pcapng_producer(m->env->pcapng, m->idx);
	while (!session_stopping(s)) {
		int n = source_next(m->src, fr, LIVE_BATCH);

		if (n > 0 && engine_frames(m->eng, fr, n))
			break;
		if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR)) {
			m->err = n; /* logged by the source; a live source never ends */
			session_request_stop(s, n ? SESSION_STOP_ERROR : SESSION_STOP_DONE);
			break;
		}
		if (!meter_follow(m, false))
			break;
		/* fewer frames than asked for: the rings were empty */
		if (meter_timers(m, &clock, n < LIVE_BATCH))
			break;
	}
	/* an interface that went away (why the capture may be stopping): the
	 * packets its ring still holds are metered before the flows go out */
	meter_follow(m, true);
	while (!engine_stopped(m->eng) && source_live_dying(m->src)) {
		int n = source_next(m->src, fr, LIVE_BATCH);

		if (n > 0 && engine_frames(m->eng, fr, n))
			break;
		if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR))
			break;
	}
	engine_flush(m->eng); /* past max_nflows the session drops them */
	meter_publish(m, true);
	if (m->prod)
		pcapng_commit(m->prod, true);
	return NULL;
}

static int meter_open(struct meter *m, const struct capture_env *env, unsigned int idx)
{
	struct engine_opts eo;
	int err;

	m->env = env;
	m->idx = idx;
	m->last_follow_ms = session_wall_ms();
	m->seen_gen = calloc(env->opts->n_interfaces ? env->opts->n_interfaces : 1,
			     sizeof(*m->seen_gen));
	if (!m->seen_gen) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	err = source_live_open(env->opts, env->n_meters, idx, &m->src);
	if (err)
		return err == SOURCE_EFILTER ? CAPTURE_EFILTER : err;
	if (env->dpi) {
		err = dpi_new(env->dpi, &m->dpi);
		if (err)
			return err;
	}
	eo = env->engine;
	if (env->opts->pcapng_out) {
		eo.tap = meter_tap;
		eo.tap_arg = m;
	}
	m->eng = engine_new(&eo, m->dpi, session_emit, env->session);
	if (!m->eng) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

static void pcap_close_capture(struct capture *c)
{
	if (!c)
		return;
	ifwatch_close(c->watch);
	for (unsigned int i = 0; c->meters && i < c->n; i++) {
		free(c->meters[i].seen_gen);
		engine_free(c->meters[i].eng);
		dpi_free(c->meters[i].dpi);
		snap_buf_free(&c->meters[i].snap);
		source_close(c->meters[i].src);
	}
	free(c->meters);
	free(c);
}

/* Follow the interfaces from the indexes the handles are bound to. */
static int watch_ifaces(struct capture *c)
{
	size_t n = c->env->opts->n_interfaces;
	int *idx = calloc(n ? n : 1, sizeof(*idx)), err;

	if (!idx)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		idx[k] = source_live_ifindex(c->meters[0].src, (unsigned int)k);
	err = ifwatch_open(c->env->opts->interfaces, idx, n, capture_iface_changed,
			   (void *)c->env, &c->watch);
	free(idx);
	for (unsigned int i = 0; !err && i < c->n; i++)
		c->meters[i].watch = c->watch;
	return err;
}

static int pcap_open_capture(const struct capture_env *env, struct capture **out)
{
	struct capture *c = calloc(1, sizeof(*c));
	int err;

	if (c)
		c->meters = calloc(env->n_meters, sizeof(*c->meters));
	if (!c || !c->meters) {
		free(c);
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	c->env = env;
	c->n = env->n_meters;
	/* one after the other: nDPI's module setup is not known to be thread-safe */
	for (unsigned int i = 0; i < c->n; i++) {
		err = meter_open(&c->meters[i], env, i);
		if (err) {
			pcap_close_capture(c);
			return err;
		}
	}
	err = watch_ifaces(c);
	if (err) {
		pcap_close_capture(c);
		return err;
	}
	*out = c;
	return 0;
}

static int pcap_run(struct capture *c)
{
	struct session *s = c->env->session;
	int err = 0;

	for (unsigned int i = 0; i < c->n; i++) {
		struct meter *m = &c->meters[i];
		int rc = pthread_create(&m->thread, NULL, meter_main, m);

		if (rc) {
			pr_warn("cannot start meter %u: %s\n", i, strerror(rc));
			session_request_stop(s, SESSION_STOP_ERROR);
			err = -rc;
			break;
		}
		m->running = true;
	}
	session_supervise(s);
	for (unsigned int i = 0; i < c->n; i++) {
		struct meter *m = &c->meters[i];

		if (!m->running)
			continue;
		pthread_join(m->thread, NULL);
		m->running = false;
		if (m->err && !err)
			err = m->err;
	}
	return err;
}

static void pcap_summary(struct capture *c, int err)
{
	session_live_summary(c->env->session, err != 0);
}

static int pcap_iface_dlt(struct capture *c, unsigned int i)
{
	return source_live_dlt(c->meters[0].src, i);
}

const struct capture_ops capture_pcap_ops = {
	.name = "pcap",
	.iface_dlt = pcap_iface_dlt,
	.open = pcap_open_capture,
	.run = pcap_run,
	.summary = pcap_summary,
	.close = pcap_close_capture,
};
