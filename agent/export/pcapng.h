/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Process-labelled pcapng (--pcapng-out): the packets a live capture
 * metered, one Interface Description Block per capture interface, and on
 * each Enhanced Packet Block an opt_comment naming the packet's flow and
 * its owner as one JSON object whose keys are the flow records' column
 * names (README "Process-labelled pcapng").
 *
 * Meters copy packets into their own producer (no lock per packet) and
 * commit them in chunks; one writer thread writes them in commit order.
 * With attribution on, a packet waits hold_ms (bounded by MAX_QUEUED
 * bytes) before it is written, so that the owner of its flow, which the
 * socket hooks report within about 100 ms, is known even for a flow's
 * first packets; without it packets are written at once.  A write error
 * (full disk) is reported once; packets are then dropped, metering goes on.
 */
#ifndef FLOWSIGHT_PCAPNG_H
#define FLOWSIGHT_PCAPNG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/flow.h"

struct attr;
struct pcapng;
struct pcapng_producer;

struct pcapng_iface {
	const char *name;
	int dlt;          /* link type (DLT_*) */
	uint32_t snaplen;
};

struct pcapng_opts {
	const char *path;
	const struct pcapng_iface *ifaces;
	unsigned int n_ifaces;
	unsigned int n_producers; /* one per meter thread */
	struct attr *attr;        /* NULL: flows only, no process */
	int visibility;           /* 1: pid and name; 2: also ppid, uid, user, container, how */
	uint64_t hold_ms;         /* how long a packet waits for its flow's owner */
};

/* Create the file, write the section header and the interfaces, start the
 * writer thread.  0, or -errno after logging one line naming the file. */
int pcapng_open(const struct pcapng_opts *o, struct pcapng **out);

struct pcapng_producer *pcapng_producer(struct pcapng *w, unsigned int i);

/*
 * Copy one packet (@ts_us: its time in microseconds since the epoch) of
 * flow @f (NULL: no flow) into producer @p; on @p's thread only.  The first
 * packet of a flow tags it (f->tag) with the label every later packet uses.
 */
void pcapng_add(struct pcapng_producer *p, uint16_t iface, uint64_t ts_us, const uint8_t *data,
		uint32_t caplen, uint32_t len, struct flow *f);

/* Hand what @p holds to the writer: when @force, else only when it has held
 * it for a while (call it after every batch and on idle turns). */
void pcapng_commit(struct pcapng_producer *p, bool force);

/* Write everything committed, stop the thread, close the file; one line on
 * the log.  Returns 0, or -errno when writing failed. */
int pcapng_close(struct pcapng *w);

/* The write error (-errno) that stopped the output so far, or 0. */
int pcapng_error(struct pcapng *w);

#endif
