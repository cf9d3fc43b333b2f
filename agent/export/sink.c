// SPDX-License-Identifier: GPL-2.0-only
/*
 * The sinks' common part: a queue bounded in bytes between the writer
 * thread (which never waits on it) and the sink's thread, counters, the
 * report-once error line, the exit summary and the URL checks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export/sink.h"
#include "util/log.h"

uint64_t sink_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct sink_item *sink_item_new(size_t cap)
{
	struct sink_item *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->data = malloc(cap ? cap : 1);
	if (!it->data) {
		free(it);
		return NULL;
	}
	it->cap = cap ? cap : 1;
	return it;
}

void sink_item_free(struct sink_item *it)
{
	if (it) {
		free(it->data);
		free(it);
	}
}

int sink_item_put(struct sink_item *it, const void *p, size_t n)
{
	if (it->len + n > it->cap) {
		size_t cap = it->cap * 2;
		uint8_t *d;

		while (cap < it->len + n)
			cap *= 2;
		d = realloc(it->data, cap);
		if (!d)
			return -ENOMEM;
		it->data = d;
		it->cap = cap;
	}
	memcpy(it->data + it->len, p, n);
	it->len += n;
	return 0;
}

/*
 * Items delivered come back to their sink with their buffers, and the
 * writer's next items take them: memory the process has written already,
 * where fresh pages (a new 1 MiB chunk per 1,700 ClickHouse rows, freed
 * after the insert) fault in at about 1.5 ms per MB in a VM.  At most
 * SINK_CACHE items are kept.
 */
#define SINK_CACHE 16

struct sink_item *sink_item_take(struct sink *s, size_t cap)
{
	struct sink_item *it;

	pthread_mutex_lock(&s->cache_lock);
	it = s->cache;
	if (it) {
		s->cache = it->next;
		s->n_cache--;
	}
	pthread_mutex_unlock(&s->cache_lock);
	if (!it)
		return sink_item_new(cap);
	if (it->cap < cap) {
		uint8_t *d = realloc(it->data, cap);

		if (!d) {
			sink_item_free(it);
			return NULL;
		}
		it->data = d;
		it->cap = cap;
	}
	it->next = NULL;
	it->nflows = it->first_id = it->last_id = it->born_ms = 0;
	it->len = 0;
	return it;
}

void sink_item_give(struct sink *s, struct sink_item *it)
{
	if (!it)
		return;
	pthread_mutex_lock(&s->cache_lock);
	if (s->n_cache < SINK_CACHE) {
		it->next = s->cache;
		s->cache = it;
		s->n_cache++;
		it = NULL;
	}
	pthread_mutex_unlock(&s->cache_lock);
	sink_item_free(it);
}

void sink_init(struct sink *s, const struct sink_vt *vt, uint64_t queue_cap)
{
	pthread_condattr_t ca;

	s->vt = vt;
	s->queue_cap = queue_cap;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->cache_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_cond_init(&s->room, &ca);
	pthread_condattr_destroy(&ca);
	s->st.active = true;
}

int sink_start(struct sink *s)
{
	int err = pthread_create(&s->thread, NULL, s->vt->run, s);

	if (err)
		return -err;
	s->thread_started = true;
	return 0;
}

void sink_set_healthy(struct sink *s, bool ok)
{
	pthread_mutex_lock(&s->lock);
	if (s->healthy != ok) {
		s->healthy = ok;
		pthread_cond_broadcast(&s->room);
	}
	pthread_mutex_unlock(&s->lock);
}

void sink_set_backpressure(struct sink *s, bool on)
{
	pthread_mutex_lock(&s->lock);
	s->backpressure = on;
	pthread_mutex_unlock(&s->lock);
}

/*
 * With back-pressure, a sink that delivers holds the writer once this much
 * is queued: more than one whole ClickHouse insert (12 MB for 50,000 rows
 * of the default columns), so that the writer goes on encoding while an
 * insert is on the wire (with 8 MB it waited at every insert: the bench's
 * inserts took 3.1-4.0 s against 2.8-3.3 s), and the rest of the queue
 * (new memory, about 1.5 ms per MB to fault in on a VM) stays for an outage.
 */
#define SINK_BP_BYTES (32u << 20)

int sink_push(struct sink *s, struct sink_item *it)
{
	pthread_mutex_lock(&s->lock);
	while (s->backpressure && s->healthy && s->head &&
	       s->st.queue_bytes + it->len >
		       (s->queue_cap < SINK_BP_BYTES ? s->queue_cap : SINK_BP_BYTES))
		pthread_cond_wait(&s->room, &s->lock);
	if (s->st.queue_bytes + it->len > s->queue_cap) {
		__atomic_store_n(&s->full, true, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->gap, it->nflows, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&s->lock);
		SINK_ADD(s, dropped_queue_full, it->nflows);
		sink_item_give(s, it);
		return -ENOSPC;
	}
	it->next = NULL;
	it->born_ms = sink_mono_ms();
	if (s->tail)
		s->tail->next = it;
	else
		s->head = it;
	s->tail = it;
	SINK_ADD(s, queue_bytes, it->len);
	SINK_ADD(s, queue_flows, it->nflows);
	SINK_ADD(s, flows_queued, it->nflows);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void deadline_ts(uint64_t ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

struct sink_item *sink_pop(struct sink *s, uint64_t deadline_ms, uint64_t *gap)
{
	struct sink_item *it;

	pthread_mutex_lock(&s->lock);
	while (!s->head && !s->closing && deadline_ms && sink_mono_ms() < deadline_ms) {
		if (deadline_ms == UINT64_MAX) {
			pthread_cond_wait(&s->cv, &s->lock);
		} else {
			struct timespec ts;

			deadline_ts(deadline_ms, &ts);
			pthread_cond_timedwait(&s->cv, &s->lock, &ts);
		}
	}
	it = s->head;
	if (it) {
		s->head = it->next;
		if (!s->head)
			s->tail = NULL;
		it->next = NULL;
		SINK_SUB(s, queue_bytes, it->len);
		SINK_SUB(s, queue_flows, it->nflows);
		__atomic_store_n(&s->full, false, __ATOMIC_RELAXED);
		if (s->backpressure)
			pthread_cond_broadcast(&s->room);
	}
	if (gap)
		*gap = __atomic_exchange_n(&s->gap, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&s->lock);
	return it;
}

void sink_unpop(struct sink *s, struct sink_item *it)
{
	pthread_mutex_lock(&s->lock);
	it->next = s->head;
	s->head = it;
	if (!s->tail)
		s->tail = it;
	SINK_ADD(s, queue_bytes, it->len);
	SINK_ADD(s, queue_flows, it->nflows);
	pthread_mutex_unlock(&s->lock);
}

bool sink_empty(struct sink *s)
{
	bool e;

	pthread_mutex_lock(&s->lock);
	e = !s->head;
	pthread_mutex_unlock(&s->lock);
	return e;
}

bool sink_closing(struct sink *s, uint64_t *deadline_ms)
{
	bool c;

	pthread_mutex_lock(&s->lock);
	c = s->closing;
	if (deadline_ms)
		*deadline_ms = s->drain_deadline_ms;
	pthread_mutex_unlock(&s->lock);
	return c;
}

void sink_sleep(struct sink *s, uint64_t until_ms)
{
	struct timespec ts;

	deadline_ts(until_ms, &ts);
	pthread_mutex_lock(&s->lock);
	while (!s->closing && sink_mono_ms() < until_ms)
		pthread_cond_timedwait(&s->cv, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
}

void sink_report(struct sink *s, const char *msg)
{
	/* a sink's threads report (ClickHouse has one per connection) */
	pthread_mutex_lock(&s->lock);
	if (!msg[0]) {
		if (s->last_error[0])
			pr_warn("%s: delivering again\n", s->label);
		s->last_error[0] = '\0';
	} else if (strcmp(s->last_error, msg)) {
		snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
		pr_warn("%s: %s\n", s->label, msg);
	}
	pthread_mutex_unlock(&s->lock);
}

int sink_encode(struct sink *s, const struct flow_record *r)
{
	/* a full queue that nobody drains (the sink is down): the record would
	 * be dropped at the push, so it is not encoded at all and the writer,
	 * hence the capture, goes on at its own pace */
	if (__atomic_load_n(&s->full, __ATOMIC_RELAXED) &&
	    !(s->backpressure && __atomic_load_n(&s->healthy, __ATOMIC_RELAXED))) {
		__atomic_fetch_add(&s->gap, 1, __ATOMIC_RELAXED);
		SINK_ADD(s, dropped_queue_full, 1);
		return 0;
	}
	return s->vt->encode(s, r);
}

void sink_flush(struct sink *s)
{
	s->vt->flush(s);
}

void sink_stats(const struct sink *s, struct fs_sink_stats *st)
{
	const uint64_t *src = (const uint64_t *)&s->st.flows_queued;
	uint64_t *dst = &st->flows_queued;
	size_t n = (sizeof(*st) - offsetof(struct fs_sink_stats, flows_queued)) / sizeof(uint64_t);

	st->active = s->st.active;
	for (size_t i = 0; i < n; i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void sink_close_begin(struct sink *s, uint64_t deadline_ms)
{
	pthread_mutex_lock(&s->lock);
	if (s->closing) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	pthread_mutex_unlock(&s->lock);
	s->vt->flush(s);
	pthread_mutex_lock(&s->lock);
	s->closing = true;
	s->drain_deadline_ms = deadline_ms;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

void sink_close(struct sink *s, uint64_t deadline_ms, struct fs_sink_stats *st)
{
	sink_close_begin(s, deadline_ms);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	/* whatever the thread left queued is lost */
	for (struct sink_item *it; (it = sink_pop(s, 0, NULL));) {
		SINK_ADD(s, dropped_at_exit, it->nflows);
		sink_item_free(it);
	}
	if (st)
		sink_stats(s, st);
}

void sink_free(struct sink *s)
{
	s->vt->destroy(s);
	while (s->cache) {
		struct sink_item *it = s->cache;

		s->cache = it->next;
		sink_item_free(it);
	}
	pthread_mutex_destroy(&s->cache_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->room);
	free(s);
}

void sink_summary(const char *label, const struct fs_sink_stats *st, char *buf, size_t n)
{
	uint64_t lost = st->dropped_queue_full + st->dropped_spool_full + st->dropped_too_big +
			st->dropped_rejected + st->dropped_at_exit;
	int k = snprintf(buf, n,
			 "%s: %" PRIu64 " flows sent in %" PRIu64 " %s (%" PRIu64 " bytes), %" PRIu64
			 " not delivered (queue_full %" PRIu64 ", spool_full %" PRIu64 ", too_big %"
			 PRIu64 ", rejected %" PRIu64 ", at_exit %" PRIu64 "), %" PRIu64 " errors, %"
			 PRIu64 " reconnects",
			 label, st->flows_sent, st->messages_sent,
			 strncmp(label, "ipfix", 5) ? "inserts" : "messages", st->bytes_sent, lost,
			 st->dropped_queue_full, st->dropped_spool_full, st->dropped_too_big,
			 st->dropped_rejected, st->dropped_at_exit, st->errors, st->reconnects);

	if (k > 0 && (size_t)k < n && (st->spooled_flows || st->spool_flows || st->replayed_flows))
		snprintf(buf + k, n - (size_t)k,
			 ", %" PRIu64 " flows spooled, %" PRIu64 " replayed, %" PRIu64
			 " left in the spool", st->spooled_flows, st->replayed_flows, st->spool_flows);
}

/* ---- URLs ---------------------------------------------------------------- */

static int parse_hostport(const char *hp, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon;
	size_t hl;
	char *end;
	long p;

	if (*hp == '[') {
		const char *rb = strchr(hp, ']');

		if (!rb || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - hp - 1);
		hp++;
		colon = rb + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || strchr(hp, ':') != colon)
			return -1;
		hl = (size_t)(colon - hp);
	}
	if (!hl || hl >= hn)
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 1 || p > 65535 || colon[1] == '+' ||
	    colon[1] == '-' || strlen(colon + 1) >= pn)
		return -1;
	memcpy(host, hp, hl);
	host[hl] = '\0';
	snprintf(port, pn, "%ld", p);
	return 0;
}

int sink_parse_ipfix_url(const char *url, char *transport, char *host, size_t hn, char *port,
			 size_t pn, const char **path)
{
	*path = NULL;
	if (!strncmp(url, "file:", 5)) {
		if (!url[5])
			return -1;
		*transport = 'f';
		*path = url + 5;
		if (hn)
			host[0] = '\0';
		if (pn)
			port[0] = '\0';
		return 0;
	}
	if (!strncmp(url, "tcp://", 6))
		*transport = 't';
	else if (!strncmp(url, "udp://", 6))
		*transport = 'u';
	else
		return -1;
	return parse_hostport(url + 6, host, hn, port, pn);
}

void sink_check_ipfix_url(const char *url, char *why, size_t n)
{
	char t, host[256], port[8];
	const char *path;

	if (sink_parse_ipfix_url(url, &t, host, sizeof(host), port, sizeof(port), &path))
		snprintf(why, n, "expected tcp://HOST:PORT, udp://HOST:PORT or file:PATH");
}

void sink_check_http_url(const char *url, char *why, size_t n)
{
	const char *hp;
	char host[256], port[8], buf[300];
	size_t l;

	if (!strncmp(url, "http://", 7))
		hp = url + 7;
	else if (!strncmp(url, "https://", 8))
		hp = url + 8;
	else {
		snprintf(why, n, "expected http://HOST:PORT/");
		return;
	}
	l = strcspn(hp, "/?#");
	if (!l || l >= sizeof(buf) || strchr(hp, '@') || strchr(hp, ' ')) {
		snprintf(why, n, "expected http://HOST:PORT/ (no credentials in the URL)");
		return;
	}
	memcpy(buf, hp, l);
	buf[l] = '\0';
	if (strchr(buf, ':') && parse_hostport(buf, host, sizeof(host), port, sizeof(port)))
		snprintf(why, n, "expected http://HOST:PORT/ with a port from 1 to 65535");
}

void sink_check_table(const char *name, char *why, size_t n)
{
	int dots = 0;

	for (const char *p = name; *p; p++) {
		if (*p == '.') {
			if (++dots > 1 || p == name || !p[1])
				break;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
		      (*p >= '0' && *p <= '9' && p != name))) {
			snprintf(why, n, "expected NAME or DATABASE.NAME (letters, digits, _)");
			return;
		}
	}
	if (dots > 1 || name[strlen(name) - 1] == '.' || name[0] == '.')
		snprintf(why, n, "expected NAME or DATABASE.NAME (letters, digits, _)");
}
