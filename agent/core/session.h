/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The run-time every capture shares: one sink for finished flows (ids in
 * hand-over order, max_nflows, a consumer that owns the flows from then
 * on), one stop flag (signals, errors, the consumer), the meters' counters
 * with the performance report, and the supervisor loop that paces the
 * output.  Captures call the session, never the other way round; it knows
 * no capture, packet or format.
 */
#ifndef FLOWSIGHT_SESSION_H
#define FLOWSIGHT_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/engine.h"

/* Stop reasons besides 0 (running) and a signal number (> 0). */
#define SESSION_STOP_DONE (-1)  /* end of input, max_nflows, or the consumer left */
#define SESSION_STOP_ERROR (-2) /* a capture failed (logged): everything stops */
#define SESSION_STOP_ASKED (-3) /* session_request_stop() from the application */

/*
 * Receives the finished flows in id order (under the sink's lock), and owns
 * each from then on.  push() returns 0, or -errno when the output failed
 * (-EPIPE: the reader went away; the session stops quietly).
 */
struct session_consumer {
	int (*push)(void *arg, struct flow *f, uint64_t id, int expiration_id);
	/* Make the flows pushed so far visible (the writer flushes); may be NULL. */
	void (*sync)(void *arg);
	void *arg;
};

/* Kernel-side counters of a capture, cumulative. */
struct session_kstats {
	uint64_t recv;   /* packets that reached the capture (ps_recv) */
	uint64_t drop;   /* lost for lack of ring space (ps_drop) */
	uint64_t ifdrop; /* dropped by the interface (ps_ifdrop) */
};

/* One meter's counters, published by its thread. */
struct session_meter_stats {
	uint64_t packets_processed;
	uint64_t packets_ignored;
	uint64_t kernel_recv;
	uint64_t kernel_drop;
	uint64_t kernel_ifdrop;
	uint64_t flows_cached;
	uint64_t ignored[DECODE__MAX]; /* packets_ignored by decode verdict */
};

/* Offline reading position (struct fs_progress), stored by the reader with
 * relaxed atomics and read by anyone. */
struct session_progress {
	uint64_t bytes_read, bytes_total, file_read, file_total;
	uint32_t file, n_files;
	uint32_t done;
};

struct session_opts {
	uint64_t max_nflows;      /* 0: no limit */
	uint64_t perf_report_s;   /* live: report interval, 0 off */
	unsigned int n_meters;    /* counter slots */
	unsigned int n_ifaces;    /* live: per-interface kernel counter slots */
};

struct session;

int session_new(const struct session_opts *o, struct session **out);
void session_free(struct session *s);

/* Set before any flow is emitted. */
void session_set_consumer(struct session *s, const struct session_consumer *c);

/* An engine_emit_fn: @arg is the session.  Thread-safe. */
int session_emit(struct flow *f, int expiration_id, void *arg);

/* Flows handed to the consumer so far (= the ids given). */
uint64_t session_flows(struct session *s);
/* The consumer's first output error, or 0. */
int session_output_error(struct session *s);

/* Make the flows exported so far visible in the output (consumer's sync). */
void session_sync(struct session *s);

/* Stop: keep the first reason.  Async-signal-safe. */
void session_request_stop(struct session *s, int why);
bool session_stopping(const struct session *s);
int session_stop_reason(const struct session *s);
/*
 * A capture ends for a reason of its own (an interface went away): stop
 * with SESSION_STOP_ERROR, keeping @err (-errno) and the one-line @msg the
 * library reports (fs_session_error).  The first failure is kept.
 * Thread-safe.
 */
void session_fail(struct session *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* session_fail()'s @err (0: none) and its message in @msg (may be NULL). */
int session_failure(struct session *s, char *msg, size_t n);
/* The stop flag itself, for code that polls a volatile int. */
volatile int *session_stop_flag(struct session *s);

/* Meter @meter's counters from its engine @e (and kernel counters when
 * @ks), relaxed stores: any thread may read them while it meters. */
void session_meter_publish(struct session *s, unsigned int meter, const struct engine *e,
			   const struct session_kstats *ks);
/* The same for counters a backend keeps itself (@es), @cached flows. */
void session_meter_publish_stats(struct session *s, unsigned int meter,
				 const struct engine_stats *es, uint64_t cached,
				 const struct session_kstats *ks);
/* The sum over the meters. */
void session_meter_sum(const struct session *s, struct session_meter_stats *t);

/* The reading position the file capture stores into. */
struct session_progress *session_progress(struct session *s);

/* The serial counter every engine of the session shares (engine_opts.serials). */
uint64_t *session_serials(struct session *s);

/*
 * Open-flow snapshots (fs_session_snapshot): a reader asks, each meter
 * answers from its own thread when it next looks, by copying its cached
 * flows into its buffer and publishing it; the reader then merges the
 * meters' buffers.  A meter's buffer, filled on the meter's thread only:
 */
struct fs_open_flow;
struct snap_buf {
	struct fs_open_flow *v;
	size_t n, cap;
	uint64_t taken_ms;
};
/* Add flow @f to @b with its key, times and counters as they are in @f
 * (the engine's own meters), and the L7 name so far (@dpi may be NULL). */
struct fs_open_flow *snap_buf_add_flow(struct snap_buf *b, const struct flow *f, struct dpi *dpi);
/* The next entry of @b (zeroed), or NULL without memory. */
struct fs_open_flow *snap_buf_add(struct snap_buf *b);
void snap_buf_free(struct snap_buf *b);
/* A snapshot was asked for and meter @meter has not answered it yet:
 * cheap, for every turn of a meter's loop. */
bool session_snap_wanted(struct session *s, unsigned int meter);
/* Publish @b as meter @meter's answer (its buffer is swapped with the
 * slot's, so no copy is made); @b is then empty, ready for the next. */
void session_snap_publish(struct session *s, unsigned int meter, struct snap_buf *b);
/*
 * Ask every meter and wait up to @timeout_ms for their answers; then call
 * @fn with each meter's published buffer under its lock (NULL for a meter
 * that never answered).  Returns how many answered this request.
 */
unsigned int session_snap_collect(struct session *s, int timeout_ms,
				  void (*fn)(void *arg, const struct snap_buf *b), void *arg);

/* Meter @meter's kernel counters of interface @iface (< n_ifaces). */
void session_iface_publish(struct session *s, unsigned int meter, unsigned int iface,
			   const struct session_kstats *ks);
/* Interface @iface's kernel counters, summed over the meters. */
void session_iface_sum(const struct session *s, unsigned int iface, struct session_kstats *t);

/*
 * Ask the consumer to reopen its output (logrotate): async-signal-safe.
 * The generation counts the requests; the consumer compares it with the
 * one it last served.  The next sync point reaches the consumer even when
 * no flow was exported since the last one.
 */
void session_request_reopen(struct session *s);
const volatile unsigned int *session_reopen_gen(const struct session *s);

/*
 * Add `, "<key>": ...` to each performance report line: @fn writes the
 * value (an object) on @f.  At most 4.
 */
void session_add_report(struct session *s, const char *key, void (*fn)(void *arg, FILE *f),
			void *arg);

/*
 * Until session_stopping(): every 100 ms make the flows exported so far
 * visible, every perf_report_s seconds print NFStream's report line on
 * stderr.  Live captures run it on the calling thread while they meter.
 */
void session_supervise(struct session *s);

/* The live exit summary (packets, kernel drops, flows) on the log; nothing
 * when @failed before any packet was seen. */
void session_live_summary(struct session *s, bool failed);

/* Wall clock in ms (CLOCK_REALTIME): live packets' clock. */
uint64_t session_wall_ms(void);

#endif
