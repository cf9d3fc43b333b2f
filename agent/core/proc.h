/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The process that owns a flow, as the system_* columns show it.  Filled by
 * the attribution step (attr/) when a flow is handed out; the columns and
 * the writers read it without knowing where it came from.
 */
#ifndef FLOWSIGHT_PROC_H
#define FLOWSIGHT_PROC_H

#include <stdint.h>

struct proc_info {
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

/* The defaults NFStream writes when no process is found: -1 and "". */
static inline void proc_info_none(struct proc_info *r)
{
	*r = (struct proc_info){ .pid = -1, .ppid = -1, .uid = -1, .start_ms = -1,
				 .cgroup_id = -1, .how = "" };
}

#endif
