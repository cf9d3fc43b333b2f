/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ABI basics shared by bpf/ and agent/: fixed-width types from either
 * vmlinux.h (BPF side) or <linux/types.h> (userspace), and the ABI version
 * that every shared struct is tied to.  Nothing here may depend on either
 * side's private headers.
 */
#ifndef FC_COMMON_H
#define FC_COMMON_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bumped whenever a struct shared through maps or ring buffers changes. */
#define FC_ABI_VERSION 1

#endif
