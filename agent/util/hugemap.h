/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Anonymous memory at a huge page boundary, advised for transparent huge
 * pages: a first touch there maps 2 MiB at once where 4 KiB pages take 512
 * faults (in a VM each costs microseconds), and a write after a read copies
 * one zero huge page instead of flushing TLBs page by page.
 */
#ifndef FLOWSIGHT_HUGEMAP_H
#define FLOWSIGHT_HUGEMAP_H

#include <stddef.h>

#define HUGEMAP_PAGE ((size_t)2 << 20)

/* @len bytes, zeroed, at a 2 MiB boundary; NULL on ENOMEM.  munmap() it
 * with the same @len.  No THP: plain pages, the advice is ignored. */
void *huge_map(size_t len);

#endif
