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
};

struct session_opts {
	uint64_t max_nflows;      /* 0: no limit */
	uint64_t perf_report_s;   /* live: report interval, 0 off */
	unsigned int n_meters;    /* counter slots */
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

/* Meter @meter's counters (and kernel counters when @ks), relaxed stores. */
void session_meter_publish(struct session *s, unsigned int meter, const struct engine_stats *es,
			   const struct session_kstats *ks);
/* The sum over the meters. */
void session_meter_sum(const struct session *s, struct session_meter_stats *t);

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
