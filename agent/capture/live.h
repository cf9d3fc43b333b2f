/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Live capture (-i): picks the capture (--capture), runs one metering
 * thread per meter and a supervisor on the calling thread, and stops on
 * SIGINT/SIGTERM with every cached flow exported.  What any capture needs
 * is in struct live_env, so an alternative source (live_ebpf.c) reuses the
 * locked flow sink, the counters, the performance report and the output
 * pacing instead of duplicating them.  No packet parsing here.
 */
#ifndef FLOWSIGHT_LIVE_H
#define FLOWSIGHT_LIVE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/config.h"
#include "l7/dpi.h"
#include "core/engine.h"
#include "export/writer.h"

/* Values of *live_env.stop besides 0 (running) and a signal number. */
#define LIVE_STOP_DONE (-1)  /* max_nflows reached, or the output reader left */
#define LIVE_STOP_ERROR (-2) /* a meter failed (logged): the others stop too */

/*
 * Counters of one meter, written by its thread only (relaxed atomic
 * stores: live_meter_publish()) and read by the supervisor for the
 * performance report and the exit summary.
 */
struct live_meter_stats {
	uint64_t packets_processed; /* valid packets metered */
	uint64_t packets_ignored;   /* frames the packet layer rejected */
	uint64_t kernel_recv;       /* summed over the meter's interfaces */
	uint64_t kernel_drop;
	uint64_t kernel_ifdrop;     /* counted by meter 0 only: one per interface */
};

struct live_sink; /* the locked front of the writer, private to live.c */
struct attr;

/*
 * Everything a capture needs, built by live_open() and read-only for the
 * capture (except through the functions below).
 *
 * - cfg: the parsed command line: interfaces, filter, snaplen, promiscuous
 *   mode, socket buffer size, n_meters (already resolved, >= 1).
 * - engine: the engine options of every meter, with .live = true.
 * - dpi: NULL when L7 is off; otherwise each meter calls dpi_new(dpi)
 *   for itself, because nDPI's detection state is per thread.
 * - emit/emit_arg: thread-safe: pass them to engine_new() as they are.
 *   Flows from any thread reach the single writer thread through one
 *   mutex, which assigns ids in emit order and enforces max_nflows (the
 *   flow that reaches it sets *stop = LIVE_STOP_DONE, later ones are
 *   dropped, as NFStream drops what is still cached).  It returns > 0
 *   when the meter must stop.
 * - stop: 0 while running; the signal number after SIGINT/SIGTERM, or
 *   LIVE_STOP_*.  Read it with live_stopping(), set it with live_request_stop().
 * - perf_report_s: --performance-report interval, 0 off.
 * - meters: cfg->n_meters counter slots, one per meter.
 */
struct live_env {
	const struct fc_config *cfg;
	struct engine_opts engine;
	const struct dpi_opts *dpi;
	engine_emit_fn emit;
	void *emit_arg;
	volatile sig_atomic_t *stop;
	uint64_t perf_report_s;
	/* appends capture-specific keys to each report line (eBPF: "ebpf") */
	void (*perf_extra)(void *arg, FILE *f);
	void *perf_extra_arg;
	struct attr *attr;      /* process attribution, NULL when off */
	struct live_meter_stats *meters;
};

static inline bool live_stopping(const struct live_env *env)
{
	return __atomic_load_n(env->stop, __ATOMIC_RELAXED) != 0;
}

/* Ask every thread to stop, unless a stop reason is already recorded. */
void live_request_stop(const struct live_env *env, int why);

/* Publish meter @meter's engine counters (and kernel counters if @ks). */
struct source_stats;
void live_meter_publish(const struct live_env *env, unsigned int meter,
			const struct engine_stats *es, const struct source_stats *ks);

/*
 * Supervise a running capture on the calling thread until live_stopping():
 * every 100 ms push finished flows to the output, every perf_report_s
 * seconds print the performance report.  The eBPF capture calls it too.
 */
void live_supervise(const struct live_env *env);

/* Current wall clock in ms, the clock of live packets (CLOCK_REALTIME). */
uint64_t live_wall_ms(void);

struct live;

/*
 * Choose the capture (--capture; auto asks live_ebpf_usable() and says on
 * stderr which one it took and why) and set it up now: every libpcap
 * handle of every meter, or the attached eBPF capture, so that a bad
 * interface or filter fails before the output is created.  @engine and
 * @dpi (NULL: L7 off) are copied.  Returns 0, -errno (logged) or
 * SOURCE_EFILTER.
 */
int live_open(const struct fc_config *cfg, const struct engine_opts *engine,
	      const struct dpi_opts *dpi, volatile sig_atomic_t *stop, struct live **out);

/*
 * Run the capture into @w until a signal, max_nflows or an error; every
 * meter then exports its cached flows, and a summary (kernel drops
 * included) goes to stderr.  Returns 0 or -errno (a capture error, logged);
 * *out_err gets the first output error reported by the writer, or 0.
 */
int live_run(struct live *lv, struct writer *w, int *out_err);

void live_close(struct live *lv);

#endif
