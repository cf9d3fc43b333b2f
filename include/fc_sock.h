/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ABI between bpf/sockets.bpf.c (socket ownership, process lifetime) and
 * agent/attr/ (the process table and the flow join).  Compiled by both
 * sides: only fixed-size types, no pointers.
 *
 * Records travel through one ring buffer; each starts with struct
 * fc_sev_hdr and its kind says which struct follows.  Times are
 * CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); userspace converts.
 */
#ifndef FLOWSIGHT_FC_SOCK_H
#define FLOWSIGHT_FC_SOCK_H

#include "fc_common.h"

#define FC_COMM_LEN 16
#define FC_EXE_LEN 256
#define FC_ARGS_LEN 256

/*
 * How a socket's owner was found, in the order the labels are printed.
 * CREATE is internal: the socket exists, but none of the hooks that name
 * a use (connect, send, ...) has run yet.
 */
#define FC_HOWS(X)                     \
	X(NONE, "")                    \
	X(CREATE, "create")            \
	X(CONNECT, "connect")          \
	X(ACCEPT, "accept")            \
	X(SEND, "send")                \
	X(RECV, "recv")                \
	X(BIND, "bind")                \
	X(LISTENER, "listener")        \
	X(PREEXISTING, "preexisting")  \
	X(KERNEL, "kernel")            \
	X(LOST, "lost")

enum fc_how {
#define FC_HOW_ENUM(name, label) FC_HOW_##name,
	FC_HOWS(FC_HOW_ENUM)
#undef FC_HOW_ENUM
	FC_HOW_MAX
};

/* The process a record speaks of (the socket owner, or the exec'ing task). */
struct fc_proc {
	__u32 tgid;
	__u32 tid;
	__u32 ppid;      /* real parent's tgid */
	__u32 uid;
	__u64 start_ns;  /* task->start_time: (tgid, start_ns) survives pid reuse */
	__u64 cgroup_id; /* cgroup v2 id (kernfs inode) */
	char comm[FC_COMM_LEN];
};

enum fc_sev_kind {
	FC_SEV_TUPLE = 1, /* socket @cookie carries this 5-tuple (or bound port) */
	FC_SEV_OWNER,     /* socket @cookie's owner/how/others changed */
	FC_SEV_CLOSE,     /* socket @cookie released */
	FC_SEV_EXEC,      /* struct fc_proc_event */
	FC_SEV_FORK,
	FC_SEV_EXIT,
};

/* Record flags: FC_SF_LISTENING, a listening socket's record of a
 * connection's handshake (its SYN-ACK): the connection's own socket, once
 * announced, names it better. */
#define FC_SF_LISTENING 0x1

/* Tuple flags */
#define FC_TF_LOCAL_ANY 0x1  /* bound to every local address */
#define FC_TF_REMOTE_ANY 0x2 /* no peer: a bound or listening port */

struct fc_sev_hdr {
	__u64 ts_ns;
	__u32 kind;
	__u32 _pad;
	__u64 netns;  /* cookie of the socket's network namespace (0 for process records) */
};

/* FC_SEV_TUPLE, FC_SEV_OWNER (and FC_SEV_CLOSE as userspace queues it) */
struct fc_sock_event {
	struct fc_sev_hdr h;
	__u64 cookie;        /* the socket's (bpf_get_socket_cookie) */
	struct fc_proc owner;
	__u32 others;        /* other processes that used the socket */
	__u8 how;            /* enum fc_how */
	__u8 protocol;       /* IPPROTO_* */
	__u8 ip_version;     /* 4 or 6 */
	__u8 flags;          /* FC_TF_* */
	__u16 lport, rport;  /* host order; 0 for ICMP */
	__u8 sflags;         /* FC_SF_* */
	__u8 _pad[3];
	__u8 laddr[16], raddr[16]; /* IPv4 in the first 4 bytes */
};

/* FC_SEV_CLOSE: socket @cookie was released (the short record the most
 * frequent event needs) */
struct fc_sock_close {
	struct fc_sev_hdr h;
	__u64 cookie;
};

/* FC_SEV_EXEC (exe and args filled), FC_SEV_FORK (parent in ppid), FC_SEV_EXIT */
struct fc_proc_event {
	struct fc_sev_hdr h;
	struct fc_proc proc;
	__u32 args_len;     /* bytes of args, NUL-separated as /proc/PID/cmdline */
	__u32 _pad;
	char exe[FC_EXE_LEN];
	char args[FC_ARGS_LEN];
};

/* Record of the iterators (read from the iterator's fd): a socket that
 * existed at start, with its owner when a task holds it. */
struct fc_iter_sock {
	struct fc_sock_event ev; /* h.kind = FC_SEV_TUPLE, how PREEXISTING */
};

/* Per-CPU counters of sockets.bpf.c */
#define FC_SCOUNTERS(X)  \
	X(LOST)          \
	X(NO_STORAGE)    \
	X(PROC_LOST)

enum fc_scounter {
#define FC_SC_ENUM(name) FC_SC_##name,
	FC_SCOUNTERS(FC_SC_ENUM)
#undef FC_SC_ENUM
	FC_SC_MAX
};

#endif
