/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel half of eBPF capture, seen from userspace: loads
 * bpf/capture.bpf.c (configured between open and load), attaches it as
 * clsact filters on each interface (ingress and egress; ingress only on
 * loopback, where every packet passes both), and offers the three
 * operations the flow layer (capture_ebpf.c) needs: read ring-buffer events,
 * drain the interval flow map, and steer per-flow sampling.  No flow
 * semantics here.
 */
#ifndef FLOWSIGHT_SOURCE_EBPF_H
#define FLOWSIGHT_SOURCE_EBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fc_flow.h"

struct ebpf_capture;

/* How the programs are attached: tcx links when the kernel has them
 * (probed by the first attach), else TC filters on clsact; or either one
 * only (tests). */
enum ebpf_attach { EBPF_ATTACH_AUTO = 0, EBPF_ATTACH_TCX, EBPF_ATTACH_TC };

struct ebpf_capture_opts {
	const char *const *ifaces;
	int n_ifaces;
	uint32_t n_samples;        /* packets sampled per flow */
	uint32_t snaplen;          /* bytes per sample, <= FC_SNAP_MAX */
	uint8_t accounting_mode;
	bool decode_tunnels;
	uint32_t flow_map_entries; /* 0: the object's default */
	uint32_t ringbuf_bytes;    /* 0: the object's default; a power of two */
	enum ebpf_attach attach;
};

/*
 * Check that this kernel and process can run eBPF capture (BTF, program
 * and map types, privileges) without changing anything.  0, or -errno with
 * a one-line reason in @why.
 */
int ebpf_capture_probe(char *why, size_t n);

/* Can eBPF capture run on interface @name (it exists and has an Ethernet
 * header)?  0, or -errno with the reason in @why.  Logs nothing. */
int ebpf_capture_check_iface(const char *name, char *why, size_t n);

/* Load and attach.  0, or -errno after logging one line naming the cause;
 * nothing stays attached on failure. */
int ebpf_capture_open(const struct ebpf_capture_opts *o, struct ebpf_capture **out);

/* Detach every filter or link now (maps stay readable for a last drain);
 * a clsact qdisc an agent made goes when nothing is left on it. */
void ebpf_capture_detach(struct ebpf_capture *c);

/* ebpf_capture_detach(), then free. */
void ebpf_capture_close(struct ebpf_capture *c);

/*
 * Interfaces by their position @i in the options: the index the programs
 * are attached to (0: none, it went away); the position of the interface
 * a packet of @ifindex came in on, current or the one before it went
 * away (-1: none).
 */
int ebpf_capture_n_ifaces(const struct ebpf_capture *c);
int ebpf_capture_ifindex(const struct ebpf_capture *c, int i);
int ebpf_capture_iface_of(const struct ebpf_capture *c, int ifindex);
/* Interface @i went away: forget its attachment (the kernel removed it). */
void ebpf_capture_iface_gone(struct ebpf_capture *c, int i);
/* Attach to interface @i's successor, index @ifindex.  0, or -errno
 * (logged, -ENODEV quietly: it went away again). */
int ebpf_capture_iface_attach(struct ebpf_capture *c, int i, int ifindex);
/*
 * TC filters: put back those someone else removed (tc filter del, qdisc
 * del) on interfaces still there, saying so.  The number put back, or
 * -errno when that failed (logged).
 */
int ebpf_capture_check(struct ebpf_capture *c);

/* Called for each ring-buffer record; @data holds ev->caplen frame bytes. */
typedef void (*ebpf_event_fn)(const struct fc_event *ev, const uint8_t *data, void *arg);

/* Wait up to @timeout_ms for events and hand each to @fn.  Returns the
 * number handled or -errno (-EINTR when a signal arrived). */
int ebpf_capture_poll(struct ebpf_capture *c, int timeout_ms, ebpf_event_fn fn, void *arg);

/* Hand every pending event to @fn without waiting. */
int ebpf_capture_consume(struct ebpf_capture *c, ebpf_event_fn fn, void *arg);

/* Called for each drained flow entry. */
typedef void (*ebpf_entry_fn)(const struct fc_flow_key *k, const struct fc_flow_val *v, void *arg);

/* Called by a drain once no program can write interval @closed any more,
 * before its entries are read (NULL: nothing): the events those programs
 * wrote are in the ring buffer then, and consuming them there meters each
 * flow's samples before its later packets, which the map holds. */
typedef void (*ebpf_settled_fn)(uint32_t closed, void *arg);

/*
 * Close the current interval: switch the kernel to the other flow map,
 * wait until no program can still write the old one, then hand each of its
 * entries that hold this interval's packets to @fn.  Those stay in the map
 * for the kernel to reuse; entries idle for the whole interval are
 * deleted.  No packet is lost or counted twice.  Returns the number of
 * entries handed or -errno.
 */
int ebpf_capture_drain(struct ebpf_capture *c, ebpf_settled_fn settled, ebpf_entry_fn fn,
		       void *arg);

/* Called with the drained entries in arrays of @n (consecutive in the map). */
typedef void (*ebpf_batch_fn)(const struct fc_flow_key *k, const struct fc_flow_val *v, int n,
			      void *arg);

/* ebpf_capture_drain() handing the entries over in arrays. */
int ebpf_capture_drain_batch(struct ebpf_capture *c, ebpf_settled_fn settled, ebpf_batch_fn fn,
			     void *arg);

/* The flow needs no more samples. */
void ebpf_capture_samples_done(struct ebpf_capture *c, const struct fc_flow_key *k);
/* The flow has expired: its next packet starts a new flow. */
void ebpf_capture_forget(struct ebpf_capture *c, const struct fc_flow_key *k);
/* ebpf_capture_forget() for @n flows, in a few system calls. */
void ebpf_capture_forget_many(struct ebpf_capture *c, struct fc_flow_key *k, size_t n);

/* Sum of the per-CPU counters (enum fc_counter). */
void ebpf_capture_counters(struct ebpf_capture *c, uint64_t out[FC_CNT__MAX]);
const char *ebpf_counter_name(enum fc_counter i);

/* Program fd of the TC program (tests run it with BPF_PROG_TEST_RUN). */
int ebpf_capture_prog_fd(const struct ebpf_capture *c, bool egress);

/* Re-measure CLOCK_REALTIME - CLOCK_MONOTONIC for the kernel's timestamps. */
void ebpf_capture_sync_clock(struct ebpf_capture *c);

#endif
