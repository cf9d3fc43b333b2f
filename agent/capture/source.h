/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Frame sources behind one interface: a capture pulls frames without
 * knowing whether they come from capture files or libpcap live handles.
 * A frame is valid until the next call.
 */
#ifndef FLOWSIGHT_SOURCE_H
#define FLOWSIGHT_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "packet/decode.h"

struct source;

/* Kernel-side counters of a live source, cumulative since it opened. */
struct source_stats {
	uint64_t recv;    /* packets that passed the kernel filter (ps_recv) */
	uint64_t drop;    /* dropped for lack of ring space (ps_drop) */
	uint64_t ifdrop;  /* dropped by the interface (ps_ifdrop) */
};

struct source_ops {
	const char *name;
	/* Up to @max frames into @f, all valid until the next call: their
	 * number, 0 at end of input, -errno on a fatal error (logged with the
	 * file/interface and the cause).  A live source returns fewer than
	 * @max frames only when nothing more is ready, and -EAGAIN when
	 * nothing arrived within its poll interval (at most 100 ms), so the
	 * caller can run timers and check for a stop request. */
	int (*next)(struct source *s, struct frame *f, int max);
	/* Optional (NULL for files): fill @st.  Same thread as next(). */
	void (*stats)(struct source *s, struct source_stats *st);
	/* Optional: the same for the source's interface @i alone (its index
	 * in fs_options.interfaces); stats() is their sum. */
	void (*if_stats)(struct source *s, unsigned int i, struct source_stats *st);
	void (*close)(struct source *s);
};

struct source {
	const struct source_ops *ops;
};

static inline int source_next(struct source *s, struct frame *f, int max)
{
	return s->ops->next(s, f, max);
}

static inline void source_close(struct source *s)
{
	if (s)
		s->ops->close(s);
}

/* Error codes of source_pcap_open() beyond -errno. */
#define SOURCE_EFILTER (-10000) /* the BPF filter does not compile */

/*
 * Offline source over @n capture files read in order as one stream, with
 * an optional libpcap filter compiled for each file's link type (optimised,
 * netmask 255.255.255.0, as NFStream).  Opens the first file at once so a
 * bad path or filter is reported before any packet is processed.
 */
int source_pcap_open(const char *const *files, int n, const char *bpf_filter,
		     struct source **out);

/*
 * Call @fn(@arg) before the reader may block waiting for input (a capture
 * streamed through a pipe), so finished flows reach the output while it
 * waits instead of sitting in a buffer.
 */
void source_pcap_set_idle_hook(struct source *s, void (*fn)(void *), void *arg);

struct session_progress;

/* Publish the reading position of an offline source into @p (relaxed
 * stores after each batch; @p's totals are set now). */
void source_pcap_set_progress(struct source *s, struct session_progress *p);

struct fs_options;

/*
 * libpcap live source for meter @meter of @n_meters: one handle per
 * interface of @o (snaplen, promiscuous mode, socket buffer size, BPF
 * filter), joined to a PACKET_FANOUT hash group per interface when there
 * are several meters, so each meter sees whole flows.  Errors are logged
 * with the interface and the cause: -errno, or SOURCE_EFILTER.
 */
int source_live_open(const struct fs_options *o, unsigned int n_meters, unsigned int meter,
		     struct source **out);
/* The link type of interface @i of a live source. */
int source_live_dlt(struct source *s, unsigned int i);

/*
 * Interfaces of a live source, by their position @i in the options.
 * Frames carry it (frame.iface).  A handle whose interface goes away (the
 * source finds it on a read error, or source_live_gone()) is read on for
 * a grace period until its ring is empty, then closed: its position is
 * then handed out once by source_live_take_closed(), after the frames of
 * the call that closed it.
 */
/* Interface @i's index while its handle is open and its interface there; else 0. */
int source_live_ifindex(struct source *s, unsigned int i);
/* Interface @i is known to have gone away: read what its ring holds, then close. */
void source_live_gone(struct source *s, unsigned int i);
/* Some handle is still being read after its interface went away. */
bool source_live_dying(struct source *s);
/* A position whose handle was closed since the last call, or -1. */
int source_live_take_closed(struct source *s);
/* Interface @i's handle is closed (it went away, not opened again yet). */
bool source_live_closed(struct source *s, unsigned int i);
/*
 * Open interface @i again on its successor, index @successor.  0; -EAGAIN
 * while it is not there or not up yet (not logged); else -errno (logged).
 */
int source_live_reopen(struct source *s, unsigned int i, int successor);

#endif
