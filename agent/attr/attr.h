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
#include "core/proc.h"

struct attr;

struct attr_opts {
	uint64_t retain_ms; /* keep closed sockets and exited processes this long */
	bool all_netns;     /* also name processes of other network namespaces */
	/* instruments of tests and benchmarks: hooks left out ("a,b" by program
	 * or hook name, "sockets": every socket hook), hooks attached but
	 * recording nothing, a smaller event ring (bytes), lower table caps */
	const char *disable;
	bool inert;
	bool refuse_sock_create; /* the verifier refuses fs_sock_create (tests) */
	uint32_t ringbuf_bytes;
	uint32_t max_sockets, max_tuples;
	/* --split-on-owner: record when a second socket starts using a 5-tuple
	 * another process's socket used (attr_splits()) */
	bool splits;
};

/* Load and attach the hooks, list the sockets that already exist, start
 * the event thread.  Missing hooks are reported with their fallback; an
 * error only when nothing at all can be attributed. */
int attr_open(const struct attr_opts *o, struct attr **out);
void attr_close(struct attr *a);

/* Fill @r for flow @f (epoch-ms times).  Thread-safe. */
void attr_lookup(struct attr *a, const struct flow *f, struct proc_info *r);

/*
 * Live captures call this (struct engine_opts.early, @arg the attr) once
 * per flow about ATTR_EARLY_MS after its first packet: the owner found then
 * is copied onto the flow (flow->proc_copy), and attr_lookup() falls back
 * on it when the tables no longer hold the flow's socket (closed longer
 * ago than the retention, or evicted at a cap).  The capacity then follows
 * the first second of each flow, not its idle timeout.
 */
#define ATTR_EARLY_MS 1000
void attr_early(struct flow *f, void *arg);

/*
 * The tables alone, fed by attr_feed() instead of the kernel (tests): @netns
 * is taken for our namespace's cookie.  Free with attr_close().
 */
struct attr *attr_new_detached(const struct attr_opts *o, uint64_t netns);
/* One record as the kernel writes it (struct fc_sock_event or
 * fc_proc_event, @size bytes), handled at once. */
void attr_feed(struct attr *a, const void *rec, size_t size);
/* Run the purge over every table now. */
void attr_purge_all(struct attr *a);

/*
 * --split-on-owner: every 5-tuple a second socket started to use while
 * another process's socket held it, since *@cursor (each reader keeps its
 * own, starting at 0): @fn gets the tuple's two ends, its protocol and IP
 * version, and the epoch ms of the second socket's first record.  Reads
 * the kernel's pending records first, so that a packet captured after the
 * socket's first use finds its split.
 */
typedef void (*attr_split_fn)(void *arg, const uint8_t *a, uint16_t pa, const uint8_t *b,
			      uint16_t pb, uint8_t protocol, uint8_t ip_version, uint64_t at_ms);
void attr_splits(struct attr *a, uint64_t *cursor, attr_split_fn fn, void *arg);

/* The counters both reports show, read at once. */
struct attr_stats {
	uint64_t events, lost, evicted, copies, copies_used, ambiguous;
	uint64_t sockets, tuples, processes; /* held now */
};
void attr_get_stats(struct attr *a, struct attr_stats *st);

/* Counters for the performance report, as one JSON object's members. */
void attr_perf_json(struct attr *a, FILE *f);

/* One-line summary for the exit report. */
void attr_summary(struct attr *a, char *buf, size_t n);

#endif
