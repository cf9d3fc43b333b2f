/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Least privilege for live capture: which capabilities each set-up step
 * needs, checked once before anything is opened.  Capabilities are read
 * from the kernel, never inferred from uid 0 (a root in a container may
 * lack them).  Knows the capture modes, not how they are set up; uses raw
 * capget/capset, no libcap.
 */
#ifndef FLOWSIGHT_PRIVS_H
#define FLOWSIGHT_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPS_BIT(cap) (1ull << (cap))

enum caps_capture {
	CAPS_NO_CAPTURE, /* offline: reads files, needs nothing */
	CAPS_PCAP,       /* libpcap: a packet socket */
	CAPS_EBPF,       /* TC programs and their maps */
};

struct caps_mode {
	enum caps_capture capture;
	bool auto_fallback; /* --capture auto left eBPF for want of its capabilities */
	bool attr;          /* --system-visibility-mode: socket hooks */
	bool reattach;      /* --wait-interface: interfaces are opened again after the drop */
};

/* Capabilities the set-up of @m needs, a mask of CAPS_BIT(CAP_*). */
uint64_t caps_required(const struct caps_mode *m);

/*
 * Those of @mask missing from the effective set.  The permitted ones are
 * raised into it first, so file capabilities without +e work too.
 */
uint64_t caps_missing(uint64_t mask);

/* "CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON" ("and" when @and, else commas). */
void caps_names(uint64_t mask, bool and, char *buf, size_t n);

/*
 * --capture auto: true when the eBPF capture has its capabilities; else
 * false with @why saying what it needs and what is missing.
 */
bool caps_ebpf_allowed(char *why, size_t n);

/*
 * Check every capability @m needs.  When some are missing, print one line
 * naming the interfaces, what needs which capability and every missing
 * one, and return -EPERM.  Optional capabilities of attribution (see
 * README "Privileges") are only mentioned at -v.
 */
int caps_require(const struct caps_mode *m, const char *const *ifaces, int n_ifaces);

/* The thread's capability sets (capget/capset); async-signal-safe. */
struct capsets {
	uint64_t eff, prm, inh;
};
int caps_get(struct capsets *s);
int caps_set(const struct capsets *s);

#endif
