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
