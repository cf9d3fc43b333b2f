// SPDX-License-Identifier: GPL-2.0-only
/*
 * The session: one locked sink in front of the consumer, which numbers the
 * flows in hand-over order and stops at max_nflows (later flows are
 * dropped, as NFStream drops what is still cached); the stop flag; the
 * meters' counters and NFStream's performance report; the supervisor.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/session.h"
#include "flowsight/flowsight.h"
#include "util/log.h"
#include "util/grow.h"

#define SUPERVISE_MS 100 /* output pacing */
#define MAX_REPORTS 4

struct report_extra {
	const char *key;
	void (*fn)(void *arg, FILE *f);
	void *arg;
};

struct session {
	struct session_opts o;
	pthread_mutex_t lock;
	struct session_consumer c;
	uint64_t next_id;   /* ids handed out = flows exported */
	uint64_t synced_id; /* next_id at the last sync */
	bool done;          /* max_nflows reached or the consumer left: drop the rest */
	int out_err;
	volatile int stop;
	int fail_err;       /* session_fail(), under lock */
	char fail_msg[256];
	struct session_meter_stats *meters;
	struct session_kstats *ifk; /* [meter * n_ifaces + iface] */
	volatile unsigned int reopen_gen;
	unsigned int reopen_synced;
	struct report_extra extra[MAX_REPORTS];
	int n_extra;
	struct session_progress progress;
	uint64_t serials;
	/* snapshots: the generation asked for, and per meter the one answered */
	uint64_t snap_gen;
	pthread_mutex_t snap_lock;
	pthread_cond_t snap_cv;
	struct snap_slot {
		uint64_t gen;       /* answered */
		struct snap_buf b;  /* under snap_lock */
	} *snap;
};

#define STORE(dst, v) __atomic_store_n(&(dst), (v), __ATOMIC_RELAXED)
#define LOAD(src) __atomic_load_n(&(src), __ATOMIC_RELAXED)

int session_new(const struct session_opts *o, struct session **out)
{
	struct session *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->o = *o;
	if (!s->o.n_meters)
		s->o.n_meters = 1;
	s->meters = calloc(s->o.n_meters, sizeof(*s->meters));
	if (s->meters && s->o.n_ifaces)
		s->ifk = calloc((size_t)s->o.n_meters * s->o.n_ifaces, sizeof(*s->ifk));
	s->snap = calloc(s->o.n_meters, sizeof(*s->snap));
	if (!s->meters || (s->o.n_ifaces && !s->ifk) || !s->snap) {
		free(s->meters);
		free(s->ifk);
		free(s->snap);
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->snap_lock, NULL);
	pthread_cond_init(&s->snap_cv, NULL);
	*out = s;
	return 0;
}

void session_free(struct session *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->snap_lock);
	pthread_cond_destroy(&s->snap_cv);
	for (unsigned int i = 0; i < s->o.n_meters; i++)
		snap_buf_free(&s->snap[i].b);
	free(s->snap);
	free(s->meters);
	free(s->ifk);
	free(s);
}

struct session_progress *session_progress(struct session *s)
{
	return &s->progress;
}

uint64_t *session_serials(struct session *s)
{
	return &s->serials;
}

struct fs_open_flow *snap_buf_add(struct snap_buf *b)
{
	if (grow_one(&b->v, &b->cap, b->n, 256))
		return NULL;
	memset(&b->v[b->n], 0, sizeof(b->v[0]));
	return &b->v[b->n++];
}

struct fs_open_flow *snap_buf_add_flow(struct snap_buf *b, const struct flow *f, struct dpi *dpi)
{
	struct fs_open_flow *o = snap_buf_add(b);

	if (!o)
		return NULL;
	o->serial = f->serial;
	memcpy(o->src_ip, f->src_ip, 16);
	memcpy(o->dst_ip, f->dst_ip, 16);
	o->src_port = f->src_port;
	o->dst_port = f->dst_port;
	o->vlan_id = f->vlan_id;
	o->protocol = f->protocol;
	o->ip_version = f->ip_version;
	o->tunnel_id = f->tunnel_id;
	o->first_seen_ms = f->first_seen_ms;
	o->last_seen_ms = f->last_seen_ms;
	o->src2dst_packets = f->dir_packets[0];
	o->src2dst_bytes = f->dir_bytes[0];
	o->dst2src_packets = f->dir_packets[1];
	o->dst2src_bytes = f->dir_bytes[1];
	o->taken_ms = b->taken_ms;
	dpi_flow_app_name(dpi, &f->dpi, o->application_name, sizeof(o->application_name));
	return o;
}

void snap_buf_free(struct snap_buf *b)
{
	free(b->v);
	memset(b, 0, sizeof(*b));
}

bool session_snap_wanted(struct session *s, unsigned int meter)
{
	return LOAD(s->snap_gen) != LOAD(s->snap[meter].gen);
}

void session_snap_publish(struct session *s, unsigned int meter, struct snap_buf *b)
{
	struct snap_slot *sl = &s->snap[meter];
	struct snap_buf old;

	pthread_mutex_lock(&s->snap_lock);
	old = sl->b;
	sl->b = *b;
	*b = old;
	b->n = 0;
	STORE(sl->gen, LOAD(s->snap_gen));
	pthread_cond_broadcast(&s->snap_cv);
	pthread_mutex_unlock(&s->snap_lock);
}

unsigned int session_snap_collect(struct session *s, int timeout_ms,
				  void (*fn)(void *arg, const struct snap_buf *b), void *arg)
{
	struct timespec dl;
	unsigned int answered = 0;
	uint64_t gen;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->snap_lock);
	gen = __atomic_add_fetch(&s->snap_gen, 1, __ATOMIC_RELAXED);
	for (;;) {
		answered = 0;
		for (unsigned int i = 0; i < s->o.n_meters; i++)
			answered += LOAD(s->snap[i].gen) == gen;
		if (answered == s->o.n_meters || session_stopping(s))
			break;
		if (pthread_cond_timedwait(&s->snap_cv, &s->snap_lock, &dl) == ETIMEDOUT)
			break;
	}
	for (unsigned int i = 0; i < s->o.n_meters; i++)
		fn(arg, s->snap[i].b.v || s->snap[i].gen ? &s->snap[i].b : NULL);
	pthread_mutex_unlock(&s->snap_lock);
	return answered;
}

void session_set_consumer(struct session *s, const struct session_consumer *c)
{
	s->c = *c;
}

void session_request_stop(struct session *s, int why)
{
	int running = 0;

	/* keep the first reason: a signal is not overwritten by a late error */
	__atomic_compare_exchange_n(&s->stop, &running, why, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

void session_fail(struct session *s, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (!s->fail_err) {
		s->fail_err = err;
		va_start(ap, fmt);
		vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
	session_request_stop(s, SESSION_STOP_ERROR);
}

int session_failure(struct session *s, char *msg, size_t n)
{
	int err;

	pthread_mutex_lock(&s->lock);
	err = s->fail_err;
	if (msg && n)
		snprintf(msg, n, "%s", s->fail_msg);
	pthread_mutex_unlock(&s->lock);
	return err;
}

bool session_stopping(const struct session *s)
{
	return LOAD(s->stop) != 0;
}

int session_stop_reason(const struct session *s)
{
	return LOAD(s->stop);
}

volatile int *session_stop_flag(struct session *s)
{
	return &s->stop;
}

int session_emit(struct flow *f, int expiration_id, void *arg)
{
	struct session *s = arg;
	bool stop;
	int err;

	pthread_mutex_lock(&s->lock);
	if (s->done) {
		pthread_mutex_unlock(&s->lock);
		engine_flow_free(f);
		return 1;
	}
	err = s->c.push(s->c.arg, f, s->next_id++, expiration_id);
	if (err && !s->out_err)
		s->out_err = err;
	s->done = err == -EPIPE || (s->o.max_nflows && s->next_id >= s->o.max_nflows);
	stop = s->done;
	pthread_mutex_unlock(&s->lock);
	if (stop)
		session_request_stop(s, SESSION_STOP_DONE);
	return stop ? 1 : 0;
}

uint64_t session_flows(struct session *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->next_id;
	pthread_mutex_unlock(&s->lock);
	return n;
}

int session_output_error(struct session *s)
{
	int err;

	pthread_mutex_lock(&s->lock);
	err = s->out_err;
	pthread_mutex_unlock(&s->lock);
	return err;
}

void session_sync(struct session *s)
{
	unsigned int gen = LOAD(s->reopen_gen);

	pthread_mutex_lock(&s->lock);
	if ((s->next_id != s->synced_id || gen != s->reopen_synced) && s->c.sync) {
		s->c.sync(s->c.arg);
		s->synced_id = s->next_id;
		s->reopen_synced = gen;
	}
	pthread_mutex_unlock(&s->lock);
}

void session_request_reopen(struct session *s)
{
	__atomic_add_fetch(&s->reopen_gen, 1, __ATOMIC_RELAXED);
}

const volatile unsigned int *session_reopen_gen(const struct session *s)
{
	return &s->reopen_gen;
}

void session_meter_publish_stats(struct session *s, unsigned int meter,
				 const struct engine_stats *es, uint64_t cached,
				 const struct session_kstats *ks)
{
	struct session_meter_stats *m = &s->meters[meter];

	STORE(m->packets_processed, es->packets_processed);
	STORE(m->packets_ignored, es->packets_ignored);
	STORE(m->flows_cached, cached);
	for (int v = 0; v < DECODE__MAX; v++)
		STORE(m->ignored[v], es->ignored[v]);
	if (!ks)
		return;
	STORE(m->kernel_recv, ks->recv);
	STORE(m->kernel_drop, ks->drop);
	STORE(m->kernel_ifdrop, ks->ifdrop);
}

void session_meter_publish(struct session *s, unsigned int meter, const struct engine *e,
			   const struct session_kstats *ks)
{
	session_meter_publish_stats(s, meter, engine_get_stats(e), engine_flows_cached(e), ks);
}

void session_iface_publish(struct session *s, unsigned int meter, unsigned int iface,
			   const struct session_kstats *ks)
{
	struct session_kstats *k;

	if (iface >= s->o.n_ifaces || meter >= s->o.n_meters)
		return;
	k = &s->ifk[(size_t)meter * s->o.n_ifaces + iface];
	STORE(k->recv, ks->recv);
	STORE(k->drop, ks->drop);
	STORE(k->ifdrop, ks->ifdrop);
}

void session_iface_sum(const struct session *s, unsigned int iface, struct session_kstats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int m = 0; iface < s->o.n_ifaces && m < s->o.n_meters; m++) {
		struct session_kstats *k = &s->ifk[(size_t)m * s->o.n_ifaces + iface];

		t->recv += LOAD(k->recv);
		t->drop += LOAD(k->drop);
		t->ifdrop += LOAD(k->ifdrop);
	}
}

void session_meter_sum(const struct session *s, struct session_meter_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; i < s->o.n_meters; i++) {
		struct session_meter_stats *m = &s->meters[i];

		t->packets_processed += LOAD(m->packets_processed);
		t->packets_ignored += LOAD(m->packets_ignored);
		t->kernel_recv += LOAD(m->kernel_recv);
		t->kernel_drop += LOAD(m->kernel_drop);
		t->kernel_ifdrop += LOAD(m->kernel_ifdrop);
		t->flows_cached += LOAD(m->flows_cached);
		for (int v = 0; v < DECODE__MAX; v++)
			t->ignored[v] += LOAD(m->ignored[v]);
	}
}

void session_add_report(struct session *s, const char *key, void (*fn)(void *arg, FILE *f),
			void *arg)
{
	if (s->n_extra < MAX_REPORTS)
		s->extra[s->n_extra++] = (struct report_extra){ key, fn, arg };
}

/* NFStream's report line: json.dumps() of the same keys, in its spacing,
 * then ours (the capture's kernel counters, attribution). */
static void perf_report(struct session *s)
{
	struct session_meter_stats t;

	session_meter_sum(s, &t);
	flockfile(stderr);
	fprintf(stderr, "{\"flows_expired\": %" PRIu64 ", \"packets_processed\": %" PRIu64
		", \"packets_ignored\": %" PRIu64 ", \"packets_dropped_filtered_by_kernel\": %"
		PRIu64 ", \"meters_packets_processing_balance\": [",
		session_flows(s), t.packets_processed, t.packets_ignored, t.kernel_drop);
	for (unsigned int i = 0; i < s->o.n_meters; i++)
		fprintf(stderr, "%s%" PRIu64, i ? ", " : "", LOAD(s->meters[i].packets_processed));
	fputc(']', stderr);
	for (int i = 0; i < s->n_extra; i++) {
		fprintf(stderr, ", \"%s\": ", s->extra[i].key);
		s->extra[i].fn(s->extra[i].arg, stderr);
	}
	fputs("}\n", stderr);
	funlockfile(stderr);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t session_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void session_supervise(struct session *s)
{
	uint64_t period = s->o.perf_report_s * 1000;
	uint64_t next_report = period ? mono_ms() + period : UINT64_MAX;

	while (!session_stopping(s)) {
		poll(NULL, 0, SUPERVISE_MS); /* a signal cuts it short */
		session_sync(s);
		if (mono_ms() >= next_report) {
			perf_report(s);
			next_report += period;
		}
	}
}

void session_live_summary(struct session *s, bool failed)
{
	struct session_meter_stats t;

	session_meter_sum(s, &t);
	if (failed && !t.kernel_recv && !t.packets_processed && !t.packets_ignored)
		return;
	pr_warn("capture ended: %" PRIu64 " packets metered, %" PRIu64
		" ignored; kernel: %" PRIu64 " received, %" PRIu64 " dropped, %" PRIu64
		" dropped by the interface; %" PRIu64 " flows exported\n", t.packets_processed,
		t.packets_ignored, t.kernel_recv, t.kernel_drop, t.kernel_ifdrop, session_flows(s));
}
