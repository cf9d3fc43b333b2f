/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Process attribution (--system-visibility-mode 1|2): loads
 * bpf/sockets.bpf.c, keeps a process table and a socket table fed by its
 * ring buffer, and answers "which process owns this flow" when a flow is
 * written.  The join is exact: a flow matches a socket's announced
 * 5-tuple (or, for servers, the exact peer of an unconnected UDP socket,
 * then its bound port) only inside the socket's lifetime plus a grace
 * period, never from a stale tuple.  Independent of the capture: the eBPF
 * and the libpcap paths both call it from the writer thread.
 */
#ifndef FLOWSIGHT_ATTR_H
#define FLOWSIGHT_ATTR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/flow.h"

struct attr;

struct attr_opts {
	uint64_t retain_ms; /* keep closed sockets and exited processes this long */
	bool all_netns;     /* also name processes of other network namespaces */
};

/* What the system_* columns show for one flow. */
struct attr_result {
	int64_t pid;      /* -1: no process owns the flow */
	int64_t ppid;
	int64_t uid;
	int64_t start_ms; /* process start, epoch ms */
	int64_t cgroup_id;
	uint32_t others;  /* other processes that used the socket */
	const char *how;  /* system_attribution; "" when nothing is known */
	char name[16];
	char user[32];
	char exe[256];
	char cmdline[512];
	char container_id[80];
};

/* Load and attach the hooks, list the sockets that already exist, start
 * the event thread.  Missing hooks are reported with their fallback; an
 * error only when nothing at all can be attributed. */
int attr_open(const struct attr_opts *o, struct attr **out);
void attr_close(struct attr *a);

/* Fill @r for flow @f (epoch-ms times).  Thread-safe. */
void attr_lookup(struct attr *a, const struct flow *f, struct attr_result *r);

/*
 * Live captures call this (struct engine_opts.early, @arg the attr) once
 * per flow about ATTR_EARLY_MS after its first packet: the owner found then
 * is copied onto the flow (flow->owner_copy), and attr_lookup() falls back
 * on it when the tables no longer hold the flow's socket (closed longer
 * ago than the retention, or evicted at a cap).  The capacity then follows
 * the first second of each flow, not its idle timeout.
 */
#define ATTR_EARLY_MS 1000
void attr_early(struct flow *f, void *arg);

/* Counters for the performance report, as one JSON object's members. */
void attr_perf_json(struct attr *a, FILE *f);

/* The defaults: no process. */
void attr_result_none(struct attr_result *r);

/* One-line summary for the exit report. */
void attr_summary(struct attr *a, char *buf, size_t n);

#endif
