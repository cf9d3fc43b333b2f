/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Captures are peers behind one interface: capture files, libpcap live
 * meters and the eBPF capture each open their sources, feed engines and
 * hand finished flows to the session.  Whoever runs a capture knows only
 * these operations; a capture knows the session, never its caller.
 */
#ifndef FLOWSIGHT_CAPTURE_H
#define FLOWSIGHT_CAPTURE_H

#include <stdbool.h>
#include <stdio.h>

#include "core/engine.h"
#include "core/session.h"
#include "flowsight/flowsight.h"
#include "l7/dpi.h"

/* Error code of open() beyond -errno: the BPF filter does not compile. */
#define CAPTURE_EFILTER (-10000)

/* What every capture is given; read-only for the capture. */
struct capture_env {
	const struct fs_options *opts; /* sources, filter, snaplen, ... */
	unsigned int n_meters;         /* live: resolved, >= 1 */
	struct engine_opts engine;     /* for each engine the capture creates */
	const struct dpi_opts *dpi;    /* NULL: L7 off; else one module per engine */
	struct session *session;
	/* --pcapng-out: set after open(), before run(); the capture's engines
	 * tap their packets into producer i per meter i when opts->pcapng_out */
	struct pcapng *pcapng;
	int ebpf_attach;               /* enum ebpf_attach: auto, or tcx/TC only (tests) */
};

struct capture;

/* One of a capture's own counters: @name (snake_case), one line of @help. */
typedef void (*capture_counter_fn)(void *arg, const char *name, const char *help, uint64_t v);

struct capture_ops {
	const char *name;
	/* Open every source now (files, interfaces, kernel programs), so a bad
	 * one fails before any output.  0, -errno (logged) or CAPTURE_EFILTER. */
	int (*open)(const struct capture_env *env, struct capture **out);
	/* Meter until the end of input or session_stopping(); then export
	 * every cached flow.  Returns 0 or -errno (logged). */
	int (*run)(struct capture *c);
	/* Offline step for a caller that pulls flows on its own thread: meter
	 * the next few packets.  1 while there is more, 0 at the end (flows
	 * flushed), -errno on error.  NULL for live captures. */
	int (*step)(struct capture *c);
	/* A value for the performance report (`{...}`), or NULL. */
	void (*report)(struct capture *c, FILE *f);
	/* Its own counters as last published, or NULL: @fn for each, in a
	 * fixed order.  Any thread, while the capture is open. */
	void (*counters)(struct capture *c, capture_counter_fn fn, void *arg);
	/* Live: link type of interface @i (pcapng's interface blocks). */
	int (*iface_dlt)(struct capture *c, unsigned int i);
	/* The exit summary line(s) on the log. */
	void (*summary)(struct capture *c, int err);
	void (*close)(struct capture *c);
};

extern const struct capture_ops capture_file_ops;
extern const struct capture_ops capture_pcap_ops;
extern const struct capture_ops capture_ebpf_ops;

/*
 * The live capture for @env (fs_options.capture; auto takes eBPF when it
 * can run here, else libpcap, and says on the log which it took and why).
 * @need_every_packet: a plugin, --split-on-owner or dataset mode must see
 * every packet (libpcap only).
 * *@privs_fallback: auto left eBPF for want of capabilities.
 */
const struct capture_ops *capture_choose(const struct capture_env *env, bool need_every_packet,
					 bool *privs_fallback);

/*
 * The live captures' ifwatch_fn (@arg: their capture_env): an interface
 * that went away is said on the log, and without --wait-interface it ends
 * the session with "interface 'X' went away" (exit 1).  The capture does
 * the rest: export the interface's flows, attach to its successor.
 */
void capture_iface_changed(void *arg, size_t i, int old, int now);

/* True when the eBPF capture can run with @env; else @why says why. */
bool capture_ebpf_usable(const struct capture_env *env, char *why, size_t n);

#endif
