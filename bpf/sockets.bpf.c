// SPDX-License-Identifier: GPL-2.0-only
/*
 * Socket ownership for process attribution (agent/attr/ joins it to flows).
 *
 * Ownership is recorded where it happens, in process context: cgroup
 * sock_create, connect4/6, sendmsg4/6, recvmsg4/6 and post_bind4/6, and
 * tp_btf sock_send_length/sock_recv_length, which fire in the caller's
 * context for every socket type (accepted sockets, threads, fd passing).
 * The owner lives in socket-local storage (BPF_MAP_TYPE_SK_STORAGE, freed
 * with the socket).  The map is BPF_F_CLONE, so a socket accepted from a
 * listener starts with the listener's owner ("listener") until a process
 * uses it.
 *
 * The 5-tuples come from the socket's own packets: cgroup_skb/egress reads
 * the addresses of every packet a local socket sends and announces each new
 * tuple of that socket once (TUPLE record: cookie, tuple, owner).  That is
 * exact for TCP, connected and unconnected UDP, ping and raw sockets alike.
 * recvmsg4/6 announce the peers of unconnected UDP servers and post_bind4/6
 * the bound ports (listeners).  An accepted socket starts as a clone of its
 * listener's storage and becomes, at its first send or receive, the
 * acceptor's ("accept").  Nothing here guesses from a port alone; the join
 * in userspace ranks exact tuples above bound ports.
 *
 * What each hook costs is paid by every process of the host, so the set is
 * small: no syscall tracepoint (one puts every system call of every task on
 * the slow path), no per-state-change hook (TCP sockets end at their
 * release, and one no process holds when TIME_WAIT would end).
 *
 * Processes: tp_btf sched_process_exec/fork/exit give exe, arguments and a
 * tombstone, so a process that exited 1 ms after its connection is still
 * named.  Sockets that existed before start are listed by iter/task_file.
 *
 * Records are submitted without a wakeup: userspace reads the ring every
 * 100 ms and before it looks a flow up, so a busy host pays no context
 * switch per socket.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fc_sock.h"

char LICENSE[] SEC("license") = "GPL";

/* Network namespace (cookie) whose sockets are reported; 0: all. */
__u64 target_netns;
/*
 * A measuring instrument (FLOWSIGHT_ATTR_INERT, tools/bench_attr.py): the
 * per-socket programs stay attached but return at once, so a benchmark can
 * tell what the hooks cost by being there from what their work costs.
 * Read-only data: when false, the verifier removes the test's branch.
 */
const volatile bool hooks_inert = false;
/*
 * A test's instrument (FLOWSIGHT_ATTR_REFUSE): makes the verifier refuse
 * fs_sock_create, so that tests see how a refused program is reported on
 * a kernel that takes them all.  False: the verifier removes the branch.
 */
const volatile bool refuse_sock_create = false;

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP_BE 0x0008   /* htons(0x0800) on a little-endian host */
#define ETH_P_IPV6_BE 0xdd86
#define TCP_CLOSE 7
#define IPPROTO_ICMPV6_ 58
#define N_SEEN 4
#define N_RECENT 4

/* Owner of one socket. */
struct sk_owner {
	struct fc_proc owner;
	__u64 cookie;            /* socket this was made for: differs in a clone */
	__u64 netns;
	__u64 recent[N_RECENT];  /* hashes of tuples announced lately */
	__u32 seen[N_SEEN];      /* other tgids already counted */
	__u32 others;
	__u8 how;
	__u8 have;               /* owner is known */
	__u8 announced;          /* a TUPLE record named this socket */
	__u8 next_recent;
	__u8 fixed;              /* a connected TCP tuple was announced: it cannot change */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sk_owner);
} sk_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} sock_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FC_SC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} scounters SEC(".maps");

static __always_inline bool other_netns(__u64 netns)
{
	return target_netns && netns && netns != target_netns;
}

static __always_inline void count(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&scounters, &i);

	if (c)
		*c += 1;
}

/* The calling process (thread group leader's identity, the caller's tid). */
static __always_inline void proc_current(struct fc_proc *p)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);
	__u64 id = bpf_get_current_pid_tgid();

	p->tgid = id >> 32;
	p->tid = (__u32)id;
	p->uid = (__u32)bpf_get_current_uid_gid();
	p->ppid = BPF_CORE_READ(t, real_parent, tgid);
	p->start_ns = BPF_CORE_READ(leader, start_time);
	p->cgroup_id = bpf_get_current_cgroup_id();
	bpf_probe_read_kernel_str(p->comm, sizeof(p->comm), &leader->comm);
}

/* Any task (fork child, iterated task). */
static __always_inline void proc_of(struct fc_proc *p, struct task_struct *t)
{
	struct task_struct *leader = BPF_CORE_READ(t, group_leader);

	p->tgid = BPF_CORE_READ(t, tgid);
	p->tid = BPF_CORE_READ(t, pid);
	p->uid = BPF_CORE_READ(t, cred, uid.val);
	p->ppid = BPF_CORE_READ(t, real_parent, tgid);
	p->start_ns = BPF_CORE_READ(leader, start_time);
	p->cgroup_id = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
	bpf_probe_read_kernel_str(p->comm, sizeof(p->comm), &leader->comm);
}

/* A 5-tuple seen from the socket's side. */
struct tuple {
	__u8 laddr[16], raddr[16];
	__u16 lport, rport;
	__u8 protocol, ip_version, flags, _pad;
};

static __always_inline __u64 tuple_hash(const struct tuple *t)
{
	const __u64 *w = (const __u64 *)t;
	__u64 h = 0xcbf29ce484222325ULL;

#pragma unroll
	for (int i = 0; i < sizeof(*t) / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h | 1; /* never 0 */
}

static __always_inline void set_tuple(struct fc_sock_event *e, const struct tuple *t)
{
	__builtin_memcpy(e->laddr, t->laddr, 16);
	__builtin_memcpy(e->raddr, t->raddr, 16);
	e->lport = t->lport;
	e->rport = t->rport;
	e->protocol = t->protocol;
	e->ip_version = t->ip_version;
	e->flags = t->flags;
}

static __always_inline bool emit_sock(__u32 kind, __u64 cookie, const struct sk_owner *st,
				      const struct tuple *t, __u8 how, __u8 sflags)
{
	struct fc_sock_event *e;

	if (target_netns && st->netns && st->netns != target_netns)
		return true; /* another namespace's socket: not ours to report */
	e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);
	if (!e) {
		count(FC_SC_LOST);
		return false;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->h.ts_ns = bpf_ktime_get_ns();
	e->h.kind = kind;
	e->h.netns = st->netns;
	e->cookie = cookie;
	if (st->have)
		e->owner = st->owner;
	e->others = st->others;
	e->how = how;
	e->sflags = sflags;
	if (t)
		set_tuple(e, t);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return true;
}

static __always_inline void emit_close(__u64 cookie, const struct sk_owner *st)
{
	struct fc_sock_close *e;

	if (target_netns && st->netns && st->netns != target_netns)
		return;
	e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);
	if (!e) {
		count(FC_SC_LOST);
		return;
	}
	e->h.ts_ns = bpf_ktime_get_ns();
	e->h.kind = FC_SEV_CLOSE;
	e->h._pad = 0;
	e->h.netns = st->netns;
	e->cookie = cookie;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* Announce @t for this socket unless it was announced lately.  A lost
 * record leaves the hash out, so the next packet retries.  True when @t is
 * known to userspace (now or before). */
static __always_inline bool announce_as(struct sk_owner *st, __u64 cookie, const struct tuple *t,
					__u8 how, __u8 sflags)
{
	__u64 h = tuple_hash(t);
	__u32 i;

#pragma unroll
	for (i = 0; i < N_RECENT; i++)
		if (st->recent[i] == h)
			return true;
	if (!emit_sock(FC_SEV_TUPLE, cookie, st, t, how, sflags))
		return false;
	i = st->next_recent++ & (N_RECENT - 1);
	st->recent[i] = h;
	st->announced = 1;
	return true;
}

static __always_inline void announce(struct sk_owner *st, __u64 cookie, const struct tuple *t)
{
	announce_as(st, cookie, t, st->how, 0);
}

static __always_inline void forget_announced(struct sk_owner *st)
{
#pragma unroll
	for (int i = 0; i < N_RECENT; i++)
		st->recent[i] = 0;
}

/*
 * The caller (process context) uses socket @cookie as @how.  The first
 * process to use a socket owns it; a clone (accepted child) belongs to the
 * listener's owner only until a process touches it.  Other processes that
 * use the socket later are counted, not made owners.
 */
static __always_inline void note_use(struct sk_owner *st, __u8 how, __u64 cookie, __u64 netns)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	bool changed = false;

	if (st->cookie != cookie) {
		bool clone = st->cookie != 0;

		st->cookie = cookie;
		st->others = 0;
		st->announced = 0;
		st->fixed = 0;
		forget_announced(st);
#pragma unroll
		for (int i = 0; i < N_SEEN; i++)
			st->seen[i] = 0;
		if (clone)
			st->how = FC_HOW_LISTENER;
		else
			st->have = 0;
	}
	if (!st->netns)
		st->netns = netns;
	if (!st->have || st->how == FC_HOW_LISTENER) {
		/* an accepted socket's first user is the process that accepted
		 * it (or one it was handed to before any use) */
		if (st->how == FC_HOW_LISTENER)
			how = FC_HOW_ACCEPT;
		proc_current(&st->owner);
		st->have = 1;
		st->how = how;
		changed = true;
	} else if (st->owner.tgid == tgid) {
		if (st->how == FC_HOW_CREATE && how != FC_HOW_CREATE) {
			st->how = how;
			changed = true;
		}
	} else {
		bool seen = false;

#pragma unroll
		for (int i = 0; i < N_SEEN; i++)
			if (st->seen[i] == tgid)
				seen = true;
		if (!seen) {
			st->seen[st->others & (N_SEEN - 1)] = tgid;
			st->others++;
			changed = true;
		}
	}
	/* Tuples already announced carry the old owner: say it changed. */
	if (changed && st->announced)
		emit_sock(FC_SEV_OWNER, cookie, st, NULL, st->how, 0);
}

static __always_inline __u64 netns_of(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
}

/* Tuple of a socket from its common fields, for transport @protocol. */
static __always_inline int tuple_of_skc(const struct sock *sk, struct tuple *t, __u8 protocol)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	__builtin_memset(t, 0, sizeof(*t));
	if (family == AF_INET) {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(t->laddr, &s, 4);
		__builtin_memcpy(t->raddr, &d, 4);
		t->ip_version = 4;
		if (!s)
			t->flags |= FC_TF_LOCAL_ANY;
		if (!d)
			t->flags |= FC_TF_REMOTE_ANY;
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr);
		t->ip_version = 6;
		if (!((__u64 *)t->laddr)[0] && !((__u64 *)t->laddr)[1])
			t->flags |= FC_TF_LOCAL_ANY;
		if (!((__u64 *)t->raddr)[0] && !((__u64 *)t->raddr)[1])
			t->flags |= FC_TF_REMOTE_ANY;
	} else {
		return -1;
	}
	t->protocol = protocol;
	if (t->protocol == IPPROTO_TCP || t->protocol == IPPROTO_UDP) {
		t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (!t->rport)
			t->flags |= FC_TF_REMOTE_ANY;
	}
	return 0;
}

/* Tuple of a full socket from its own fields (connected or bound). */
static __always_inline int tuple_of_sk(const struct sock *sk, struct tuple *t)
{
	return tuple_of_skc(sk, t, BPF_CORE_READ(sk, sk_protocol));
}

/* Tuple of a struct bpf_sock (cgroup hooks): local side only. */
static __always_inline int tuple_of_bpf_sock(const struct bpf_sock *sk, struct tuple *t, bool v6)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->protocol = sk->protocol;
	t->lport = sk->src_port;
	if (!v6) {
		__u32 s = sk->src_ip4;

		__builtin_memcpy(t->laddr, &s, 4);
		t->ip_version = 4;
		if (!s)
			t->flags |= FC_TF_LOCAL_ANY;
	} else {
		__u32 s[4] = { sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2], sk->src_ip6[3] };

		__builtin_memcpy(t->laddr, s, 16);
		t->ip_version = 6;
		if (!(s[0] | s[1] | s[2] | s[3]))
			t->flags |= FC_TF_LOCAL_ANY;
	}
	return 0;
}

static __always_inline bool inet_family(__u32 family)
{
	return family == AF_INET || family == AF_INET6;
}

/* ---- cgroup hooks (process context) ---------------------------------- */

SEC("cgroup/sock_create")
int fs_sock_create(struct bpf_sock *ctx)
{
	struct sk_owner *st;
	__u64 netns;

	if (hooks_inert)
		return 1;
	if (refuse_sock_create)
		return *(volatile __u32 *)(long)ctx->family; /* a number taken for a pointer */
	netns = bpf_get_netns_cookie(ctx);
	if (!inet_family(ctx->family) || other_netns(netns))
		return 1;
	st = bpf_sk_storage_get(&sk_owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FC_SC_NO_STORAGE);
		return 1;
	}
	note_use(st, FC_HOW_CREATE, bpf_get_socket_cookie(ctx), netns);
	return 1;
}

static __always_inline void sock_addr_use(struct bpf_sock_addr *ctx, __u8 how)
{
	__u64 netns = bpf_get_netns_cookie(ctx);
	struct bpf_sock *sk = ctx->sk;
	struct sk_owner *st;

	if (!sk || other_netns(netns))
		return;
	st = bpf_sk_storage_get(&sk_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FC_SC_NO_STORAGE);
		return;
	}
	note_use(st, how, bpf_get_socket_cookie(ctx), netns);
	/* a TCP socket may be disconnected (AF_UNSPEC) and connect again:
	 * its next tuple is announced like its first */
	if (how == FC_HOW_CONNECT)
		st->fixed = 0;
}

SEC("cgroup/connect4")
int fs_connect4(struct bpf_sock_addr *ctx)
{
	if (hooks_inert)
		return 1;
	sock_addr_use(ctx, FC_HOW_CONNECT);
	return 1;
}

SEC("cgroup/connect6")
int fs_connect6(struct bpf_sock_addr *ctx)
{
	if (hooks_inert)
		return 1;
	sock_addr_use(ctx, FC_HOW_CONNECT);
	return 1;
}

SEC("cgroup/sendmsg4")
int fs_sendmsg4(struct bpf_sock_addr *ctx)
{
	if (hooks_inert)
		return 1;
	sock_addr_use(ctx, FC_HOW_SEND);
	return 1;
}

SEC("cgroup/sendmsg6")
int fs_sendmsg6(struct bpf_sock_addr *ctx)
{
	if (hooks_inert)
		return 1;
	sock_addr_use(ctx, FC_HOW_SEND);
	return 1;
}

/* A datagram from user_ip/user_port reached an unconnected UDP socket. */
static __always_inline void recvmsg_use(struct bpf_sock_addr *ctx, bool v6)
{
	struct bpf_sock *sk = ctx->sk;
	struct sk_owner *st;
	struct tuple t;

	if (!sk || other_netns(bpf_get_netns_cookie(ctx)))
		return;
	st = bpf_sk_storage_get(&sk_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FC_SC_NO_STORAGE);
		return;
	}
	note_use(st, FC_HOW_RECV, bpf_get_socket_cookie(ctx), bpf_get_netns_cookie(ctx));
	if (tuple_of_bpf_sock(sk, &t, v6))
		return;
	if (v6) {
		__u32 r[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			       ctx->user_ip6[3] };

		__builtin_memcpy(t.raddr, r, 16);
	} else {
		__u32 r = ctx->user_ip4;

		__builtin_memcpy(t.raddr, &r, 4);
	}
	t.rport = bpf_ntohs(ctx->user_port);
	announce(st, st->cookie, &t);
}

SEC("cgroup/recvmsg4")
int fs_recvmsg4(struct bpf_sock_addr *ctx)
{
	if (hooks_inert)
		return 1;
	recvmsg_use(ctx, false);
	return 1;
}

SEC("cgroup/recvmsg6")
int fs_recvmsg6(struct bpf_sock_addr *ctx)
{
	if (hooks_inert)
		return 1;
	recvmsg_use(ctx, true);
	return 1;
}

/* bind(): the bound port belongs to the caller (servers, listeners). */
static __always_inline void post_bind(struct bpf_sock *ctx, bool v6)
{
	struct sk_owner *st;
	struct tuple t;

	if (other_netns(bpf_get_netns_cookie(ctx)))
		return;
	st = bpf_sk_storage_get(&sk_owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FC_SC_NO_STORAGE);
		return;
	}
	note_use(st, FC_HOW_BIND, bpf_get_socket_cookie(ctx), bpf_get_netns_cookie(ctx));
	if (st->how == FC_HOW_CREATE || st->how == FC_HOW_SEND) {
		st->how = FC_HOW_BIND;
		if (st->announced)
			emit_sock(FC_SEV_OWNER, st->cookie, st, NULL, st->how, 0);
	}
	if (tuple_of_bpf_sock(ctx, &t, v6))
		return;
	t.flags |= FC_TF_REMOTE_ANY;
	announce(st, st->cookie, &t);
}

SEC("cgroup/post_bind4")
int fs_post_bind4(struct bpf_sock *ctx)
{
	if (hooks_inert)
		return 1;
	post_bind(ctx, false);
	return 1;
}

SEC("cgroup/post_bind6")
int fs_post_bind6(struct bpf_sock *ctx)
{
	if (hooks_inert)
		return 1;
	post_bind(ctx, true);
	return 1;
}

SEC("cgroup/sock_release")
int fs_sock_release(struct bpf_sock *ctx)
{
	struct sk_owner *st;

	if (hooks_inert)
		return 1;
	if (!inet_family(ctx->family))
		return 1;
	st = bpf_sk_storage_get(&sk_owners, ctx, 0, 0);
	if (st && st->announced)
		emit_close(bpf_get_socket_cookie(ctx), st);
	return 1;
}

/*
 * Every packet a local socket sends: announce the socket's new tuples.
 * Runs in process or softirq context, so it never names an owner itself:
 * a socket it meets first (created before start) is announced without
 * one and userspace takes the owner from the start-up iterator.
 */
static __always_inline int egress(struct __sk_buff *skb, bool netns_helper)
{
	struct bpf_sock *sk = skb->sk;
	struct sk_owner *st;
	struct tuple t = {};
	__u64 cookie;
	__u32 l4 = 0;

	if (!sk || (netns_helper && other_netns(bpf_get_netns_cookie(skb))))
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk || !inet_family(sk->family))
		return 1;
	/* A connected TCP socket whose tuple is announced sends nothing new:
	 * leave before parsing (most packets of a host take this exit).  No
	 * clone carries fixed (a listener's storage never has it), so the
	 * storage is this socket's own. */
	st = bpf_sk_storage_get(&sk_owners, sk, 0, 0);
	if (st && st->fixed)
		return 1;
	if (skb->protocol == ETH_P_IP_BE) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		__builtin_memcpy(t.laddr, &ip.saddr, 4);
		__builtin_memcpy(t.raddr, &ip.daddr, 4);
		t.ip_version = 4;
		t.protocol = ip.protocol;
		if (ip.frag_off & bpf_htons(0x1fff))
			return 1; /* not a first fragment: no ports */
		l4 = ip.ihl * 4;
	} else if (skb->protocol == ETH_P_IPV6_BE) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		__builtin_memcpy(t.laddr, &ip6.saddr, 16);
		__builtin_memcpy(t.raddr, &ip6.daddr, 16);
		t.ip_version = 6;
		t.protocol = ip6.nexthdr;
		l4 = sizeof(ip6);
	} else {
		return 1;
	}
	if (t.protocol == IPPROTO_TCP || t.protocol == IPPROTO_UDP) {
		__u16 ports[2];

		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)))
			return 1;
		t.lport = bpf_ntohs(ports[0]);
		t.rport = bpf_ntohs(ports[1]);
	} else if (t.protocol != IPPROTO_ICMP && t.protocol != IPPROTO_ICMPV6_) {
		if (t.ip_version == 6)
			return 1; /* an extension header: the socket's fields say it better */
	}
	st = bpf_sk_storage_get(&sk_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FC_SC_NO_STORAGE);
		return 1;
	}
	cookie = bpf_get_socket_cookie(skb);
	if (st->cookie != cookie) {
		/* First sight: an accepted child (clone of its listener) or a
		 * socket older than us. */
		bool clone = st->cookie != 0;

		st->cookie = cookie;
		st->others = 0;
		st->announced = 0;
		st->fixed = 0;
		forget_announced(st);
		if (clone)
			st->how = FC_HOW_LISTENER;
		else
			st->have = 0;
	}
	if (!st->netns && netns_helper)
		st->netns = bpf_get_netns_cookie(skb);
	/* a listener sends for connections not yet accepted (SYN-ACK) */
	if (sk->state == BPF_TCP_LISTEN)
		announce_as(st, cookie, &t, FC_HOW_LISTENER, FC_SF_LISTENING);
	else if (announce_as(st, cookie, &t, st->how, 0) && t.protocol == IPPROTO_TCP)
		st->fixed = 1; /* a TCP socket past listen has one tuple for life */
	return 1;
}

SEC("cgroup_skb/egress")
int fs_egress(struct __sk_buff *skb)
{
	if (hooks_inert)
		return 1;
	return egress(skb, true);
}

/* For kernels whose cgroup_skb programs may not call bpf_get_netns_cookie
 * (6.1, Debian's 6.12): the socket's namespace then comes from the other
 * hooks only.  attr_bpf.c loads it when fs_egress is refused. */
SEC("cgroup_skb/egress")
int fs_egress_compat(struct __sk_buff *skb)
{
	if (hooks_inert)
		return 1;
	return egress(skb, false);
}

/* ---- tracepoints ------------------------------------------------------ */

/* The caller sent or received on @sk: exact for accepted sockets, threads,
 * inherited and passed descriptors. */
static __always_inline void length_use(struct sock *sk, __u8 how)
{
	struct sk_owner *st;
	struct tuple t;
	__u64 netns;
	__u16 family;

	if (!sk)
		return;
	family = sk->__sk_common.skc_family;
	if (!inet_family(family))
		return;
	netns = netns_of(sk);
	if (other_netns(netns))
		return;
	st = bpf_sk_storage_get(&sk_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(FC_SC_NO_STORAGE);
		return;
	}
	note_use(st, how, bpf_get_socket_cookie(sk), netns);
	/* A connected socket's tuple is its own; announce it here too, so
	 * that a kernel without the cgroup egress hook still joins. */
	if (st->fixed)
		return;
	if (!tuple_of_sk(sk, &t) && !(t.flags & (FC_TF_REMOTE_ANY | FC_TF_LOCAL_ANY))) {
		announce(st, st->cookie, &t);
		if (t.protocol == IPPROTO_TCP && st->announced)
			st->fixed = 1;
	}
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(fs_send_length, struct sock *sk, int ret, int flags)
{
	if (hooks_inert)
		return 0;
	if (ret > 0)
		length_use(sk, FC_HOW_SEND);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(fs_recv_length, struct sock *sk, int ret, int flags)
{
	if (hooks_inert)
		return 0;
	if (ret > 0)
		length_use(sk, FC_HOW_RECV);
	return 0;
}

static __always_inline struct fc_proc_event *proc_event(__u32 kind)
{
	struct fc_proc_event *e = bpf_ringbuf_reserve(&sock_events, sizeof(*e), 0);

	if (!e) {
		count(FC_SC_PROC_LOST);
		return NULL;
	}
	e->h.ts_ns = bpf_ktime_get_ns();
	e->h.kind = kind;
	e->h._pad = 0;
	e->h.netns = 0;
	e->args_len = 0;
	e->_pad = 0;
	e->exe[0] = 0;
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(fs_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct fc_proc_event *e = proc_event(FC_SEV_EXEC);
	unsigned long start, end;
	__u32 len;

	if (!e)
		return 0;
	__builtin_memset(&e->proc, 0, sizeof(e->proc));
	proc_current(&e->proc);
	bpf_probe_read_kernel_str(e->exe, sizeof(e->exe), BPF_CORE_READ(bprm, filename));
	start = BPF_CORE_READ(p, mm, arg_start);
	end = BPF_CORE_READ(p, mm, arg_end);
	len = end > start ? end - start : 0;
	if (len > FC_ARGS_LEN - 1)
		len = FC_ARGS_LEN - 1;
	asm volatile("%0 &= 0xff" : "+r"(len)); /* a bound the verifier keeps */
	if (len && !bpf_probe_read_user(e->args, len, (void *)start))
		e->args_len = len;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(fs_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fc_proc_event *e;

	if (child->pid != child->tgid)
		return 0; /* a thread */
	e = proc_event(FC_SEV_FORK);
	if (!e)
		return 0;
	__builtin_memset(&e->proc, 0, sizeof(e->proc));
	proc_of(&e->proc, child);
	e->proc.ppid = parent->tgid;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(fs_exit, struct task_struct *p)
{
	struct fc_proc_event *e;

	if (p->pid != p->tgid)
		return 0; /* a thread; the process ends with its leader */
	e = proc_event(FC_SEV_EXIT);
	if (!e)
		return 0;
	__builtin_memset(&e->proc, 0, sizeof(e->proc));
	proc_of(&e->proc, p);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

/* ---- sockets that existed before start -------------------------------- */

/*
 * iter/task_file names the holders of the sockets that existed at start,
 * and the socket tables (iter/tcp, iter/udp, run after it) announce those
 * sockets.  They meet through the socket's inode number (socket:[ino]),
 * read with CO-RE: the socket reached from a file is an untrusted pointer
 * on some kernels (6.18.44 refuses it to every socket helper), while the
 * tables' sockets are the iterators' own trusted arguments.  So no helper
 * ever takes a socket that came from a file, whatever the verifier trusts.
 */
/* socket inode number -> first task found holding it; filled by
 * iter/task_file, read by iter/tcp and iter/udp, emptied by attr.c after */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, __u64);
	__type(value, struct fc_proc);
} pre_owners SEC(".maps");

SEC("iter/task_file")
int fs_iter_task_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct fc_proc owner = {};
	struct socket *sock;
	struct sock *sk;
	__u16 family, protocol;
	__u64 ino;

	if (!task || !file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	protocol = BPF_CORE_READ(sk, sk_protocol);
	/* the tables hold TCP and UDP only; other sockets (ping, raw) are
	 * named by their next send (sock_send_length) */
	if (!inet_family(family) || (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP))
		return 0;
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (!ino)
		return 0;
	proc_of(&owner, task);
	/* the first holder (lowest pid: usually the parent of a fork) owns it */
	if (bpf_map_update_elem(&pre_owners, &ino, &owner, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&pre_owners, &ino))
		count(FC_SC_NO_STORAGE);
	return 0;
}

/*
 * The socket tables (iter/tcp, iter/udp, run after iter/task_file): the
 * sockets no descriptor holds.  Their packets are the kernel's own: TCP
 * connections finishing after close() (orphans, TIME_WAIT) and in-kernel
 * sockets (tunnels, network file systems).  Each is announced with how
 * KERNEL and no owner, so its flows say `kernel` exactly instead of falling
 * back to a bound port.  Sockets waiting in an accept queue (no descriptor
 * yet, not dead) are skipped: their listener's bound port names them.
 * Only the iterating process's namespace is walked.
 */
static __always_inline void iter_kernel_sock(struct seq_file *seq, struct sock *sk, __u64 cookie,
					     __u8 protocol)
{
	struct fc_sock_event e = {};
	struct tuple t;

	if (tuple_of_skc(sk, &t, protocol))
		return;
	e.h.ts_ns = bpf_ktime_get_ns();
	e.h.kind = FC_SEV_TUPLE;
	e.h.netns = netns_of(sk);
	e.cookie = cookie;
	e.how = FC_HOW_KERNEL;
	set_tuple(&e, &t);
	bpf_seq_write(seq, &e, sizeof(e));
}

/*
 * A full socket found in a table: owned (iter/task_file named its holder),
 * kernel-held, or waiting in an accept queue (skipped: its listener's
 * bound port names it).
 */
static __always_inline void iter_full_sock(struct seq_file *seq, struct sock *sk)
{
	struct sk_owner *st = bpf_sk_storage_get(&sk_owners, sk, 0, 0);
	bool dead = BPF_CORE_READ(sk, __sk_common.skc_flags) & (1ul << SOCK_DEAD);
	__u64 cookie = bpf_get_socket_cookie(sk);
	__u64 ino = BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
	struct fc_sock_event e = {};
	struct fc_proc *owner;
	struct tuple t;

	if (st && st->have && st->cookie == cookie)
		return; /* a hook named it since we attached: that is exact */
	owner = ino ? bpf_map_lookup_elem(&pre_owners, &ino) : NULL;
	if (owner) {
		if (tuple_of_sk(sk, &t))
			return;
		e.h.ts_ns = bpf_ktime_get_ns();
		e.h.kind = FC_SEV_TUPLE;
		e.h.netns = netns_of(sk);
		e.cookie = cookie;
		e.owner = *owner;
		e.how = FC_HOW_PREEXISTING;
		/* storage, so that later uses count as its owner's and its
		 * close ends the tuple */
		st = bpf_sk_storage_get(&sk_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (st) {
			if (st->cookie != cookie || !st->have) {
				st->cookie = cookie;
				st->owner = *owner;
				st->have = 1;
				st->how = FC_HOW_PREEXISTING;
				st->netns = e.h.netns;
			}
			st->announced = 1;
			e.owner = st->owner;
			e.others = st->others;
			e.how = st->how;
		} else {
			count(FC_SC_NO_STORAGE);
		}
		set_tuple(&e, &t);
		bpf_seq_write(seq, &e, sizeof(e));
		return;
	}
	if (!dead && !BPF_CORE_READ_BITFIELD_PROBED(sk, sk_kern_sock))
		return; /* a descriptor holds it, or it waits in an accept queue */
	/* storage, so that a UDP socket's release ends the tuple (a TCP one no process holds is taken to end when TIME_WAIT would: attr_events.c) */
	st = bpf_sk_storage_get(&sk_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (st) {
		st->cookie = cookie;
		st->how = FC_HOW_KERNEL;
		st->announced = 1;
	}
	iter_kernel_sock(seq, sk, cookie, BPF_CORE_READ(sk, sk_protocol));
}

SEC("iter/tcp")
int fs_iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_timewait_sock *tw;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp) {
		iter_full_sock(ctx->meta->seq, (struct sock *)tp);
		return 0;
	}
	tw = bpf_skc_to_tcp_timewait_sock(skc);
	/* closed by its process, ended by the kernel (TIME_WAIT, or FIN_WAIT2
	 * of an orphan, which Linux keeps as a timewait socket too) */
	if (tw)
		iter_kernel_sock(ctx->meta->seq, (struct sock *)skc, bpf_get_socket_cookie(skc),
				 IPPROTO_TCP);
	return 0; /* request sockets: their listener's port */
}

SEC("iter/udp")
int fs_iter_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *up = ctx->udp_sk;

	if (up)
		iter_full_sock(ctx->meta->seq, (struct sock *)up);
	return 0;
}
