// SPDX-License-Identifier: GPL-2.0-only
/*
 * Live capture driver.  Each meter is a thread owning its source, nDPI
 * module and engine; finished flows of all meters meet in one locked sink
 * in front of the writer thread.  The calling thread supervises: it paces
 * the output, prints the performance report and, once a stop is asked,
 * joins the meters, which export their cached flows first.  The choice of
 * capture and the libpcap setup errors happen in live_open(), before any
 * output exists.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attr/attr.h"
#include "cli/caps.h"
#include "capture/live.h"
#include "capture/capture_ebpf.h"
#include "util/log.h"
#include "capture/source.h"

#define LIVE_BATCH 64
#define TICK_MS 10        /* wall-clock expiry cadence, NFStream's scan interval */
#define SUPERVISE_MS 100  /* output pacing */
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

struct live_sink {
	pthread_mutex_t lock;
	struct writer *w;
	const struct live_env *env;
	uint64_t next_id;   /* ids handed out = flows exported */
	uint64_t synced_id; /* next_id at the last output sync */
	uint64_t max_nflows;
	bool done;          /* max_nflows reached or reader gone: drop the rest */
	int out_err;
};

struct meter {
	const struct live_env *env;
	unsigned int idx;
	struct source *src;
	struct dpi *dpi;
	struct engine *eng;
	pthread_t thread;
	bool running;
	int err;
};

struct live {
	struct live_env env;
	struct dpi_opts dpi_opts;
	struct live_sink sink;
	bool ebpf;
	struct caps_mode caps; /* what the capture needs, dropped to after attach */
	struct live_ebpf *le; /* eBPF capture only: attached by live_open() */
	struct attr *attr;    /* --system-visibility-mode: process attribution */
	struct meter *meters; /* libpcap capture only */
};

uint64_t live_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void live_request_stop(const struct live_env *env, int why)
{
	sig_atomic_t running = 0;

	/* keep the first reason: a signal is not overwritten by a late error */
	__atomic_compare_exchange_n(env->stop, &running, why, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

static int sink_emit(struct flow *f, int expiration_id, void *arg)
{
	struct live_sink *k = arg;
	bool stop;
	int err;

	pthread_mutex_lock(&k->lock);
	if (k->done) {
		pthread_mutex_unlock(&k->lock);
		engine_flow_free(f);
		return 1;
	}
	err = writer_push(k->w, f, k->next_id++, expiration_id);
	if (err && !k->out_err)
		k->out_err = err;
	k->done = err == -EPIPE || (k->max_nflows && k->next_id >= k->max_nflows);
	stop = k->done;
	pthread_mutex_unlock(&k->lock);
	if (stop)
		live_request_stop(k->env, LIVE_STOP_DONE);
	return stop ? 1 : 0;
}

/* Make the flows exported so far visible in the output. */
static void sink_sync(struct live_sink *k)
{
	pthread_mutex_lock(&k->lock);
	if (k->next_id != k->synced_id) {
		writer_sync(k->w);
		k->synced_id = k->next_id;
	}
	pthread_mutex_unlock(&k->lock);
}

static uint64_t sink_count(struct live_sink *k)
{
	uint64_t n;

	pthread_mutex_lock(&k->lock);
	n = k->next_id;
	pthread_mutex_unlock(&k->lock);
	return n;
}

#define STORE(dst, v) __atomic_store_n(&(dst), (v), __ATOMIC_RELAXED)
#define LOAD(src) __atomic_load_n(&(src), __ATOMIC_RELAXED)

void live_meter_publish(const struct live_env *env, unsigned int meter,
			const struct engine_stats *es, const struct source_stats *ks)
{
	struct live_meter_stats *m = &env->meters[meter];

	STORE(m->packets_processed, es->packets_processed);
	STORE(m->packets_ignored, es->packets_ignored);
	if (!ks)
		return;
	STORE(m->kernel_recv, ks->recv);
	STORE(m->kernel_drop, ks->drop);
	STORE(m->kernel_ifdrop, ks->ifdrop);
}

static void sum_meters(const struct live_env *env, struct live_meter_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (uint64_t i = 0; i < env->cfg->n_meters; i++) {
		struct live_meter_stats *m = &env->meters[i];

		t->packets_processed += LOAD(m->packets_processed);
		t->packets_ignored += LOAD(m->packets_ignored);
		t->kernel_recv += LOAD(m->kernel_recv);
		t->kernel_drop += LOAD(m->kernel_drop);
		t->kernel_ifdrop += LOAD(m->kernel_ifdrop);
	}
}

/*
 * NFStream's report line: json.dumps() of the same keys, in its spacing;
 * the eBPF capture appends its kernel counters as one more key, "ebpf".
 */
static void perf_report(const struct live_env *env)
{
	struct live_meter_stats t;

	sum_meters(env, &t);
	flockfile(stderr);
	fprintf(stderr, "{\"flows_expired\": %" PRIu64 ", \"packets_processed\": %" PRIu64
		", \"packets_ignored\": %" PRIu64 ", \"packets_dropped_filtered_by_kernel\": %"
		PRIu64 ", \"meters_packets_processing_balance\": [",
		sink_count(env->emit_arg), t.packets_processed, t.packets_ignored, t.kernel_drop);
	for (uint64_t i = 0; i < env->cfg->n_meters; i++)
		fprintf(stderr, "%s%" PRIu64, i ? ", " : "",
			LOAD(env->meters[i].packets_processed));
	fputc(']', stderr);
	if (env->perf_extra)
		env->perf_extra(env->perf_extra_arg, stderr);
	if (env->attr) {
		fputs(", \"attribution\": {", stderr);
		attr_perf_json(env->attr, stderr);
		fputc('}', stderr);
	}
	fputs("}\n", stderr);
	funlockfile(stderr);
}

static void ebpf_perf_extra(void *le, FILE *f)
{
	live_ebpf_perf_json(le, f);
}

void live_supervise(const struct live_env *env)
{
	uint64_t period = env->perf_report_s * 1000;
	uint64_t next_report = period ? mono_ms() + period : UINT64_MAX;

	while (!live_stopping(env)) {
		poll(NULL, 0, SUPERVISE_MS); /* a signal cuts it short */
		sink_sync(env->emit_arg);
		if (mono_ms() >= next_report) {
			perf_report(env);
			next_report += period;
		}
	}
}

static void meter_publish(struct meter *m, bool kernel)
{
	struct source_stats ks;

	if (kernel && m->src->ops->stats)
		m->src->ops->stats(m->src, &ks);
	live_meter_publish(m->env, m->idx, engine_get_stats(m->eng),
			   kernel && m->src->ops->stats ? &ks : NULL);
}

struct meter_clock {
	uint64_t last_tick_ms, last_publish_ms, last_kstats_ms;
};

/* Wall-clock work after a read; true when the engine was stopped. */
static bool meter_timers(struct meter *m, struct meter_clock *c, bool drained)
{
	uint64_t now = live_wall_ms();
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
	return false;
}

static void *meter_main(void *arg)
{
	struct meter *m = arg;
	const struct live_env *env = m->env;
	struct frame fr[LIVE_BATCH];
	struct meter_clock clock = { 0 };

	while (!live_stopping(env)) {
		int n = source_next(m->src, fr, LIVE_BATCH);

		if (n > 0 && engine_frames(m->eng, fr, n))
			break;
		if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR)) {
			m->err = n; /* logged by the source; a live source never ends */
			live_request_stop(env, n ? LIVE_STOP_ERROR : LIVE_STOP_DONE);
			break;
		}
		/* fewer frames than asked for: the rings were empty */
		if (meter_timers(m, &clock, n < LIVE_BATCH))
			break;
	}
	engine_flush(m->eng); /* past max_nflows the sink drops them */
	meter_publish(m, true);
	return NULL;
}

static int meter_open(struct meter *m, const struct live_env *env, unsigned int idx)
{
	int err;

	m->env = env;
	m->idx = idx;
	err = source_live_open(env, idx, &m->src);
	if (err)
		return err;
	if (env->dpi) {
		err = dpi_new(env->dpi, &m->dpi);
		if (err)
			return err;
	}
	m->eng = engine_new(&env->engine, m->dpi, env->emit, env->emit_arg);
	if (!m->eng) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	return 0;
}

static void meter_close(struct meter *m)
{
	engine_free(m->eng);
	dpi_free(m->dpi);
	source_close(m->src);
}

/*
 * --capture auto: eBPF when it can run here, else libpcap; say which.
 * *caps_fallback: eBPF lacked capabilities (said by caps_require() if
 * libpcap lacks them too).
 */
static bool choose_ebpf(const struct live_env *env, bool *caps_fallback)
{
	char why[160] = "";

	switch (env->cfg->capture) {
	case CAPTURE_EBPF:
		return true;
	case CAPTURE_PCAP:
		pr_info("capture: pcap (requested)\n");
		return false;
	case CAPTURE_AUTO:
		break;
	}
	if (!caps_ebpf_allowed(why, sizeof(why))) {
		*caps_fallback = true;
		if (!caps_missing(caps_required(&(struct caps_mode){ .capture = CAPS_PCAP })))
			pr_warn("capture: pcap (%s)\n", why);
		return false;
	}
	if (live_ebpf_usable(env, why, sizeof(why))) {
		pr_warn("capture: ebpf%s%s%s\n", *why ? " (" : "", why, *why ? ")" : "");
		return true;
	}
	pr_warn("capture: pcap (ebpf unavailable: %s)\n", *why ? why : "unknown reason");
	return false;
}

static int open_pcap_meters(struct live *lv)
{
	uint64_t n = lv->env.cfg->n_meters;
	int err;

	lv->meters = calloc(n, sizeof(*lv->meters));
	if (!lv->meters) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	/* one after the other: nDPI's module setup is not known to be thread-safe */
	for (uint64_t i = 0; i < n; i++) {
		err = meter_open(&lv->meters[i], &lv->env, (unsigned int)i);
		if (err)
			return err;
	}
	return 0;
}

int live_open(const struct fc_config *cfg, const struct engine_opts *engine,
	      const struct dpi_opts *dpi, volatile sig_atomic_t *stop, struct live **out)
{
	struct live *lv = calloc(1, sizeof(*lv));
	int err;

	if (!lv) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	pthread_mutex_init(&lv->sink.lock, NULL);
	lv->sink.env = &lv->env;
	lv->sink.max_nflows = cfg->max_nflows;
	lv->env = (struct live_env){
		.cfg = cfg,
		.engine = *engine,
		.emit = sink_emit,
		.emit_arg = &lv->sink,
		.stop = stop,
		.perf_report_s = cfg->performance_report_s,
	};
	lv->env.engine.live = true;
	if (dpi) {
		lv->dpi_opts = *dpi;
		lv->env.dpi = &lv->dpi_opts;
	}
	lv->env.meters = calloc(cfg->n_meters, sizeof(*lv->env.meters));
	if (!lv->env.meters) {
		pr_warn("out of memory\n");
		live_close(lv);
		return -ENOMEM;
	}
	lv->ebpf = choose_ebpf(&lv->env, &lv->caps.auto_fallback);
	lv->caps.capture = lv->ebpf ? CAPS_EBPF : CAPS_PCAP;
	lv->caps.attr = cfg->system_visibility_mode != 0;
	err = caps_require(&lv->caps, cfg->ifaces, cfg->n_ifaces);
	if (err) {
		live_close(lv);
		return err;
	}
	if (cfg->system_visibility_mode) {
		/* before the capture: sockets opened from now on are all seen */
		struct attr_opts ao = {
			.retain_ms = (cfg->idle_timeout_s + 60) * 1000,
			.all_netns = cfg->system_visibility_all_netns,
		};

		err = attr_open(&ao, &lv->attr);
		if (err)
			pr_warn("process attribution is off: system_process_* columns stay "
				"-1 and empty\n");
	}
	lv->caps.attr = lv->attr != NULL;
	if (lv->attr) {
		/* each flow's owner is copied a second in, while its socket is
		 * surely still in the tables (attr.h) */
		lv->env.attr = lv->attr;
		lv->env.engine.early = attr_early;
		lv->env.engine.early_arg = lv->attr;
		lv->env.engine.early_after_ms = ATTR_EARLY_MS;
	}
	if (lv->ebpf) {
		err = live_ebpf_open(&lv->env, &lv->le);
		lv->env.perf_extra = ebpf_perf_extra;
		lv->env.perf_extra_arg = lv->le;
	} else
		err = open_pcap_meters(lv);
	if (err) {
		live_close(lv);
		return err;
	}
	*out = lv;
	return 0;
}

static int run_pcap_meters(struct live *lv)
{
	uint64_t n = lv->env.cfg->n_meters;
	int err = 0;

	for (uint64_t i = 0; i < n; i++) {
		struct meter *m = &lv->meters[i];
		int rc = pthread_create(&m->thread, NULL, meter_main, m);

		if (rc) {
			pr_warn("cannot start meter %" PRIu64 ": %s\n", i, strerror(rc));
			live_request_stop(&lv->env, LIVE_STOP_ERROR);
			err = -rc;
			break;
		}
		m->running = true;
	}
	live_supervise(&lv->env);
	for (uint64_t i = 0; i < n; i++) {
		struct meter *m = &lv->meters[i];

		if (!m->running)
			continue;
		pthread_join(m->thread, NULL);
		m->running = false;
		if (m->err && !err)
			err = m->err;
	}
	return err;
}

/* Counters at exit; nothing when a capture failed before seeing a packet. */
static void summary(const struct live *lv, int err)
{
	const struct live_env *env = &lv->env;
	struct live_meter_stats t;

	sum_meters(env, &t);
	if (err && !t.kernel_recv && !t.packets_processed && !t.packets_ignored)
		return;
	pr_warn("capture ended: %" PRIu64 " packets metered, %" PRIu64 " ignored; kernel: %"
		PRIu64 " received, %" PRIu64 " dropped, %" PRIu64 " dropped by the interface; %"
		PRIu64 " flows exported\n", t.packets_processed, t.packets_ignored, t.kernel_recv,
		t.kernel_drop, t.kernel_ifdrop, lv->sink.next_id);
}

int live_run(struct live *lv, struct writer *w, int *out_err)
{
	int err, why;

	lv->sink.w = w;
	/* everything is attached and the output open: shed what is not used */
	err = caps_drop(&lv->caps);
	if (err) {
		*out_err = 0;
		return err;
	}
	if (lv->attr)
		writer_set_attr(w, lv->attr);
	if (lv->ebpf)
		err = live_ebpf_run(lv->le);
	else
		err = run_pcap_meters(lv);
	why = __atomic_load_n(lv->env.stop, __ATOMIC_RELAXED);
	if (why > 0)
		pr_info("%s received: cached flows exported\n", strsignal(why));
	summary(lv, err);
	*out_err = lv->sink.out_err;
	return err;
}

void live_close(struct live *lv)
{
	if (!lv)
		return;
	live_ebpf_close(lv->le);
	if (lv->attr) {
		char line[512];

		attr_summary(lv->attr, line, sizeof(line));
		pr_warn("%s\n", line);
		attr_close(lv->attr);
	}
	for (uint64_t i = 0; lv->meters && i < lv->env.cfg->n_meters; i++)
		meter_close(&lv->meters[i]);
	free(lv->meters);
	free(lv->env.meters);
	pthread_mutex_destroy(&lv->sink.lock);
	free(lv);
}
