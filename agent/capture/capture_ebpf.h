/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The eBPF live capture as seen by live.c: a probe that says whether it can
 * run on the requested interfaces, and the capture itself.  Both get the
 * shared struct live_env (live.h) and nothing else.
 */
#ifndef FLOWSIGHT_LIVE_EBPF_H
#define FLOWSIGHT_LIVE_EBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "capture/live.h"

/*
 * True when the eBPF capture can run with @env (kernel, privileges,
 * interfaces).  When false, @why (of size @n) says why in a few lowercase
 * words, and --capture auto falls back to libpcap.  Logs nothing.
 */
bool live_ebpf_usable(const struct live_env *env, char *why, size_t n);

struct live_ebpf;

/*
 * Load and attach the kernel capture on every interface of @env, so that
 * no packet is missed once the output exists.  0, or -errno after logging
 * one line naming the interface and the cause (nothing stays attached).
 */
int live_ebpf_open(const struct live_env *env, struct live_ebpf **out);

/*
 * Capture until live_stopping(env): a metering thread drains the kernel,
 * while live_supervise() runs on the calling thread.  On stop the filters
 * are detached, a last drain runs and every flow is exported.  Returns 0,
 * or -errno after logging the cause.
 */
int live_ebpf_run(struct live_ebpf *le);

/*
 * Append the kernel's counters (FC_COUNTERS in fc_flow.h) to a performance
 * report line on @f: `, "ebpf": {"packets": N, ...}`, each key the counter's
 * name in lower case without FC_CNT_.  Called by the supervisor thread.
 */
void live_ebpf_perf_json(struct live_ebpf *le, FILE *f);

/* Detach (if still attached) and free. */
void live_ebpf_close(struct live_ebpf *le);

#endif
