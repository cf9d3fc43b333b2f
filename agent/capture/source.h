/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Frame sources behind one interface: a capture pulls frames without
 * knowing whether they come from capture files or libpcap live handles.
 * A frame is valid until the next call.
 */
#ifndef FLOWSIGHT_SOURCE_H
#define FLOWSIGHT_SOURCE_H

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
	void (*close)(struct source *s);
};

struct source {
	const struct source_ops *ops;
	/* capture files: bytes read so far and the files' total size (0 when
	 * unknown: a pipe), for progress; written by the reading thread */
	uint64_t bytes_read, bytes_total;
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

#endif
