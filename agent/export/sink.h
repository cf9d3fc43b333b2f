/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Network sinks (IPFIX, ClickHouse): what they share.  The writer thread
 * encodes each flow record for a sink (sink_encode) into bytes it hands to
 * the sink's bounded queue without ever waiting; the sink's own thread
 * delivers them (connects, retries, spools).  What cannot be kept is
 * counted by reason in the sink's counters (struct fs_sink_stats), read
 * from any thread while it runs.
 */
#ifndef FLOWSIGHT_SINK_H
#define FLOWSIGHT_SINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowsight/flowsight.h"
#include "export/columns.h"

/* Counters: relaxed atomics on the fields of struct fs_sink_stats. */
#define SINK_ADD(s, field, n) __atomic_fetch_add(&(s)->st.field, (uint64_t)(n), __ATOMIC_RELAXED)
#define SINK_SUB(s, field, n) __atomic_fetch_sub(&(s)->st.field, (uint64_t)(n), __ATOMIC_RELAXED)
#define SINK_SET(s, field, n) __atomic_store_n(&(s)->st.field, (uint64_t)(n), __ATOMIC_RELAXED)

/* One unit of delivery: an IPFIX message, or a chunk of ClickHouse rows. */
struct sink_item {
	struct sink_item *next;
	uint64_t nflows;
	uint64_t first_id, last_id; /* ids of its flows, in export order */
	uint64_t born_ms;           /* monotonic time it was queued */
	size_t len, cap;
	uint8_t *data;
};

struct sink_item *sink_item_new(size_t cap);
void sink_item_free(struct sink_item *it);
/* Append @n bytes (grows the item).  0 or -ENOMEM. */
int sink_item_put(struct sink_item *it, const void *p, size_t n);

struct sink;
/* An empty item of @cap bytes at least, its buffer reused from an item
 * given back to @s when there is one (any thread). */
struct sink_item *sink_item_take(struct sink *s, size_t cap);
/* @it is done with: kept for sink_item_take() (a few), else freed. */
void sink_item_give(struct sink *s, struct sink_item *it);

struct sink_vt {
	const char *name; /* "ipfix", "clickhouse" */
	/* writer thread: encode record @r (may queue finished items) */
	int (*encode)(struct sink *s, const struct flow_record *r);
	/* writer thread: hand over what is encoded so far (a sync point) */
	void (*flush)(struct sink *s);
	/* sink thread */
	void *(*run)(void *s);
	/* free what the implementation owns (thread joined) */
	void (*destroy)(struct sink *s);
};

struct sink {
	const struct sink_vt *vt;
	char label[160];          /* for messages: "ipfix tcp://127.0.0.1:4739" */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	pthread_cond_t room;      /* the writer waits for room (back-pressure) */
	bool backpressure;        /* offline: wait for a sink that delivers */
	bool healthy;             /* the sink delivers (connected, inserts succeed) */
	bool full;                /* a push was refused, nothing popped since */
	struct sink_item *head, *tail;
	uint64_t queue_cap;       /* bytes */
	uint64_t gap;             /* flows dropped at the queue since the last pop */
	bool closing;             /* no more items: drain and end */
	uint64_t drain_deadline_ms; /* monotonic; set when closing */
	struct fs_sink_stats st;
	pthread_mutex_t cache_lock; /* items given back, for the writer to reuse */
	struct sink_item *cache;
	unsigned int n_cache;
	char last_error[512];     /* the last error reported (reported once) */
	void *impl;
};

uint64_t sink_mono_ms(void);

/* Initialise the generic part (queue of @queue_cap bytes). */
void sink_init(struct sink *s, const struct sink_vt *vt, uint64_t queue_cap);
/* Start the sink thread.  0 or -errno. */
int sink_start(struct sink *s);

/*
 * Writer side: queue @it (ownership passes).  When the queue is full the
 * item is freed and its flows counted as dropped_queue_full, except with
 * back-pressure (offline sources, where waiting loses no packet) while the
 * sink delivers: then the writer waits for room.  A sink that is down or
 * failing never holds the writer.  Returns 0 or -ENOSPC.
 */
int sink_push(struct sink *s, struct sink_item *it);

/*
 * Sink side: the oldest item, waiting until @deadline_ms (monotonic; 0: no
 * wait; UINT64_MAX: until an item comes or the queue closes).  NULL when
 * none came.  *@gap (may be NULL) gets the flows dropped at the queue
 * since the last pop.
 */
struct sink_item *sink_pop(struct sink *s, uint64_t deadline_ms, uint64_t *gap);
/* Put @it back at the head (it could not be delivered yet). */
void sink_unpop(struct sink *s, struct sink_item *it);
/* Nothing queued. */
bool sink_empty(struct sink *s);
/* Whether the writer closed the queue (and the drain deadline). */
bool sink_closing(struct sink *s, uint64_t *deadline_ms);
/* Sleep until @until_ms (monotonic) or until the queue closes. */
void sink_sleep(struct sink *s, uint64_t until_ms);

/* Sink side: whether deliveries succeed (wakes a waiting writer). */
void sink_set_healthy(struct sink *s, bool ok);
/* Writer side, before the first push: wait for room instead of dropping
 * while the sink delivers (offline sources). */
void sink_set_backpressure(struct sink *s, bool on);

/* Report @msg once: again only when it differs from the last one.  An
 * empty @msg clears it (the next error is reported again). */
void sink_report(struct sink *s, const char *msg);

/* Writer side: encode, flush, then close: the thread drains until
 * @deadline_ms (sink_mono_ms() clock) and ends; the final counters go to
 * @st.  sink_close_begin() starts that drain without waiting, so that
 * several sinks drain at once towards one deadline.  sink_free() after
 * (once no reader of sink_stats() can see @s). */
int sink_encode(struct sink *s, const struct flow_record *r);
void sink_flush(struct sink *s);
void sink_close_begin(struct sink *s, uint64_t deadline_ms);
void sink_close(struct sink *s, uint64_t deadline_ms, struct fs_sink_stats *st);
void sink_free(struct sink *s);
/* A consistent-enough copy of the counters (any thread). */
void sink_stats(const struct sink *s, struct fs_sink_stats *st);
/* One line for the exit summary. */
void sink_summary(const char *label, const struct fs_sink_stats *st, char *buf, size_t n);

/* URL checks for the options (a reason in @why, empty when fine). */
void sink_check_ipfix_url(const char *url, char *why, size_t n);
void sink_check_http_url(const char *url, char *why, size_t n);
void sink_check_table(const char *name, char *why, size_t n);

/* "tcp://h:p" -> transport 't'|'u'|'f', host, port (host "" for files). */
int sink_parse_ipfix_url(const char *url, char *transport, char *host, size_t hn, char *port,
			 size_t pn, const char **path);

/* The sinks (ipfix.c, clickhouse.c).  0, or -errno with a reason in @err. */
int ipfix_sink_open(const struct fs_writer_options *wo, const struct schema *schema,
		    struct sink **out, char *err, size_t n);
int clickhouse_sink_open(const struct fs_writer_options *wo, const struct schema *schema,
			 struct sink **out, char *err, size_t n);

#endif
