/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Capture sources behind one interface: main.c pulls frames without
 * knowing whether they come from capture files, libpcap live capture or
 * the eBPF ring buffer.  A frame is valid until the next call.
 */
#ifndef FLOWSIGHT_SOURCE_H
#define FLOWSIGHT_SOURCE_H

#include <stdint.h>

#include "decode.h"

struct source;

struct source_ops {
	const char *name;
	/* Up to @max frames into @f, all valid until the next call: their
	 * number, 0 at end of input, -errno on a fatal error (logged with the
	 * file/interface and the cause). */
	int (*next)(struct source *s, struct frame *f, int max);
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

#endif
