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

#include "live.h"

/*
 * True when the eBPF capture can run with @env (kernel, privileges,
 * interfaces).  When false, @why (of size @n) says why in a few lowercase
 * words, and --capture auto falls back to libpcap.  Logs nothing.
 */
bool live_ebpf_usable(const struct live_env *env, char *why, size_t n);

/*
 * Capture until live_stopping(@env), metering with engines built from
 * env->engine, env->dpi and env->emit; call live_supervise(@env) on the
 * calling thread meanwhile and live_meter_publish() from each meter.  On
 * stop, flush every engine (engine_flush) before returning.  Returns 0, or
 * -errno after logging one line naming the interface and the cause.
 */
int live_ebpf_run(const struct live_env *env);

#endif
