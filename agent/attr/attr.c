// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process attribution: the userspace half of bpf/sockets.bpf.c.
 *
 * Three tables, all under one mutex, fed by one event thread (and by the
 * writer, which drains pending events before it looks a flow up):
 * - sockets by cookie: owner, how it was found, other users, close time;
 * - tuples: what each socket announced: an exact 5-tuple, the exact peer
 *   of an unconnected socket bound to every address, or a bound port;
 *   newest first per key, each with the time it was first seen;
 * - processes by (tgid, start time): exe and arguments from exec events,
 *   inherited at fork, read from /proc for processes older than us, kept
 *   after exit (a tombstone) so short-lived processes are still named.
 * Memory is bounded: closed sockets and exited processes are dropped
 * retain_ms after the end, and each table has a cap beyond which the
 * entries that ended first go first (counted).  The meters hand each flow
 * to attr_early() a second after its first packet, and the owner found
 * then is copied onto the flow: at write time a flow whose socket has left
 * the tables is still named from that copy.
 */

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attr/attr.h"
#include "fc_sock.h"
#include "util/bpf_log.h"
#include "util/log.h"
#include "sockets.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define SLACK_MS 2000    /* a socket's first record may follow its flow's last packet */
#define GRACE_MS 2000    /* a flow may outlive its socket's close by this much */
#define NBUCKETS (1u << 18)
#define MAX_SOCKS (1u << 20)
#define MAX_TUPLES (1u << 21)
#define MAX_PROCS (1u << 17)
#define MAX_LOSS 64
#define EV_BATCH 64 /* socket events handled together */
#define TCP_TIMEWAIT_NS 60000000000ull /* the kernel's TCP_TIMEWAIT_LEN */
#define PURGE_SLICES 64 /* ticks of 100 ms per full pass: 6.4 s */

static const char *const how_names[] = {
#define HOW_NAME(name, label) label,
	FC_HOWS(HOW_NAME)
#undef HOW_NAME
};

/* ---- hooks, their probes and fallbacks ---------------------------------- */

enum hook_kind { HK_CGROUP, HK_TRACE, HK_SYSCALL_TP, HK_ITER };

struct hook {
	const char *prog;
	const char *name;     /* what users know it as */
	enum hook_kind kind;
	const char *btf_tp;   /* tp_btf target, probed in vmlinux BTF */
	const char *fallback; /* what attribution does without it */
};

static const struct hook hooks[] = {
	{ "fs_sock_create", "cgroup/sock_create", HK_CGROUP, NULL,
	  "owners are named at the first connect, bind, send or receive" },
	{ "fs_connect4", "cgroup/connect4", HK_CGROUP, NULL,
	  "IPv4 clients are named at their first send (sock_send_length)" },
	{ "fs_connect6", "cgroup/connect6", HK_CGROUP, NULL,
	  "IPv6 clients are named at their first send (sock_send_length)" },
	{ "fs_sendmsg4", "cgroup/sendmsg4", HK_CGROUP, NULL,
	  "unconnected IPv4 UDP senders are named by sock_send_length" },
	{ "fs_sendmsg6", "cgroup/sendmsg6", HK_CGROUP, NULL,
	  "unconnected IPv6 UDP senders are named by sock_send_length" },
	{ "fs_recvmsg4", "cgroup/recvmsg4", HK_CGROUP, NULL,
	  "peers of unconnected IPv4 UDP servers match the bound port only" },
	{ "fs_recvmsg6", "cgroup/recvmsg6", HK_CGROUP, NULL,
	  "peers of unconnected IPv6 UDP servers match the bound port only" },
	{ "fs_post_bind4", "cgroup/post_bind4", HK_CGROUP, NULL,
	  "IPv4 listeners are not known before their first accept, send or receive" },
	{ "fs_post_bind6", "cgroup/post_bind6", HK_CGROUP, NULL,
	  "IPv6 listeners are not known before their first accept, send or receive" },
	{ "fs_sock_release", "cgroup/sock_release", HK_CGROUP, NULL,
	  "UDP sockets end at their last record plus the retention time" },
	{ "fs_egress", "cgroup_skb/egress", HK_CGROUP, NULL,
	  "tuples come from connected sockets (sock_send_length), recvmsg and bind" },
	{ "fs_egress_compat", "cgroup_skb/egress (without bpf_get_netns_cookie)", HK_CGROUP, NULL,
	  "tuples come from connected sockets (sock_send_length), recvmsg and bind" },
	{ "fs_send_length", "tp_btf/sock_send_length", HK_TRACE, "sock_send_length",
	  "senders are named by the cgroup hooks only (connect, sendmsg, bind)" },
	{ "fs_recv_length", "tp_btf/sock_recv_length", HK_TRACE, "sock_recv_length",
	  "accepted sockets are named by accept or by their listener" },
	{ "fs_set_state", "tp_btf/inet_sock_set_state", HK_TRACE, "inet_sock_set_state",
	  "TCP sockets end when their descriptor is released" },
	{ "fs_accept4_exit", "tracepoint/syscalls/sys_exit_accept4", HK_SYSCALL_TP, NULL,
	  "accepted connections are named at their first send or receive, else by the listener" },
	{ "fs_accept_exit", "tracepoint/syscalls/sys_exit_accept", HK_SYSCALL_TP, NULL,
	  "accepted connections are named at their first send or receive, else by the listener" },
	{ "fs_exec", "tp_btf/sched_process_exec", HK_TRACE, "sched_process_exec",
	  "exe and cmdline are read from /proc while the process lives" },
	{ "fs_fork", "tp_btf/sched_process_fork", HK_TRACE, "sched_process_fork",
	  "exe and cmdline of forked children are read from /proc while they live" },
	{ "fs_exit", "tp_btf/sched_process_exit", HK_TRACE, "sched_process_exit",
	  "exited processes are kept for the retention time after their last record" },
	{ "fs_iter_task_file", "iter/task_file", HK_ITER, NULL,
	  "sockets older than flowsight are named at their next send or receive" },
	/* iter/tcp and iter/udp announce the sockets task_file found held */
	{ "fs_iter_tcp", "iter/tcp", HK_ITER, NULL,
	  "TCP sockets older than flowsight are named at their next send or receive, and "
	  "connections the kernel finishes after close() by their bound port" },
	{ "fs_iter_udp", "iter/udp", HK_ITER, NULL,
	  "UDP sockets older than flowsight are named at their next send or receive, and "
	  "in-kernel UDP sockets (tunnels) by nobody" },
};
#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))

/* ---- tables ---------------------------------------------------------- */

/* The fields a tuple's join reads first share the entry's first cache line. */
struct sock_ent {
	struct sock_ent *next;
	uint64_t cookie;
	uint64_t close_ns; /* 0 while open */
	uint64_t seen_ns;
	uint64_t first_ns; /* first record of it */
	uint32_t others;
	uint8_t how;
	struct fc_proc owner;
};

/* Exact tuples are canonical (a <= b); patterns keep local in a. */
struct tup_key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t protocol, ip_version, flags, _pad;
};

struct tup_ent {
	struct tup_ent *next;
	struct tup_key k;
	uint64_t cookie;
	uint64_t netns;      /* the socket's network namespace (cookie); 0 read as ours */
	bool local_a;        /* the socket's own end is k.a (exact keys) */
	uint64_t first_ns, last_ns;
	bool has_acceptor;
	bool from_listener;  /* the listener's record of a handshake */
	struct fc_proc acceptor;
};

struct proc_ent {
	struct proc_ent *next;
	uint32_t tgid;
	uint64_t start_ns;
	uint64_t exit_ns;
	uint64_t seen_ns;
	bool have_exe;
	uint32_t args_len;
	char exe[FC_EXE_LEN];
	char args[FC_ARGS_LEN];
};

struct cg_ent {
	struct cg_ent *next;
	uint64_t id;
	char container[80];
};

struct loss_win {
	uint64_t from_ns, to_ns;
};


struct attr {
	struct attr_opts o;
	struct sockets_bpf *skel;
	struct bpf_link *links[N_HOOKS];
	bool disabled[N_HOOKS];
	struct ring_buffer *rb;
	int cg_fd;
	uint64_t netns;        /* our network namespace's cookie (0 unknown) */
	bool all_netns;        /* also sockets of other namespaces (containers) */
	uint64_t ambiguous;    /* flows matching sockets of several other namespaces */
	int64_t mono_to_real_ns;
	uint64_t retain_ns;

	pthread_mutex_t lock;
	pthread_t thread;
	bool thread_started;
	volatile int stop;

	struct sock_ent *socks[NBUCKETS];
	struct tup_ent *tups[NBUCKETS];
	struct proc_ent *procs[NBUCKETS];
	struct cg_ent *cgs[256];
	uint32_t n_socks, n_tups, n_procs;
	uint32_t max_socks, max_tuples; /* caps (FLOWSIGHT_ATTR_MAX_SOCKETS/_TUPLES for tests) */
	uint64_t evicted;

	uint64_t lost_seen;    /* kernel LOST + PROC_LOST last read */
	uint64_t loss_check_ns;
	struct loss_win loss[MAX_LOSS];
	int n_loss;
	uint64_t events, preexisting;
	uint64_t copies, copies_used; /* attr_early()'s copies taken, and used at export */

	struct fc_sock_event batch[EV_BATCH]; /* read, not yet handled (flush_batch()) */
	int n_batch;

	/* local addresses of our namespace, refreshed at most once a second */
	uint8_t (*local)[17];  /* 16 bytes + ip_version */
	int n_local;
	uint64_t local_ns;
	int cgroot_fd;         /* cgroup2 mount, for cgroup id -> path */
};

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int64_t real_minus_mono(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
}

static uint64_t to_real_ms(const struct attr *a, uint64_t ns)
{
	return (uint64_t)((int64_t)ns + a->mono_to_real_ns) / 1000000ull;
}

static uint32_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x & (NBUCKETS - 1);
}

static uint32_t hash_tup(const struct tup_key *k)
{
	uint64_t w[sizeof(*k) / 8], h = 0x9e3779b97f4a7c15ull;

	_Static_assert(sizeof(*k) % 8 == 0, "tup_key is hashed a word at a time");
	memcpy(w, k, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
	return hash64(h ^ (h >> 29));
}

/*
 * Records of [@from_ns, @to_ns] are gone (lost by the kernel, or evicted
 * at a table's cap): a flow of that time that finds no owner is marked
 * lost, not guessed.  Overlapping windows merge; the oldest goes when the
 * list is full.
 */
static void note_loss(struct attr *a, uint64_t from_ns, uint64_t to_ns)
{
	struct loss_win *last = a->n_loss ? &a->loss[a->n_loss - 1] : NULL;

	if (last && from_ns <= last->to_ns && to_ns >= last->from_ns) {
		if (from_ns < last->from_ns)
			last->from_ns = from_ns;
		if (to_ns > last->to_ns)
			last->to_ns = to_ns;
		return;
	}
	if (a->n_loss == MAX_LOSS) {
		memmove(a->loss, a->loss + 1, sizeof(a->loss[0]) * (MAX_LOSS - 1));
		a->n_loss--;
	}
	a->loss[a->n_loss++] = (struct loss_win){ from_ns, to_ns };
}

static struct sock_ent *sock_find(struct attr *a, uint64_t cookie)
{
	for (struct sock_ent *s = a->socks[hash64(cookie)]; s; s = s->next)
		if (s->cookie == cookie)
			return s;
	return NULL;
}

/* Entries an eviction compares: exact in a small table, a sample of a
 * full one (bounded work per insert). */
#define EVICT_SAMPLE 64

/* A socket no process holds (iter/tcp, iter/udp), with no owner. */
static bool kernel_held(const struct sock_ent *s)
{
	return s && s->how == FC_HOW_KERNEL && !s->owner.tgid;
}

/* When socket @s ended, for eviction: a socket no process holds (found by
 * the start-up iterators: TIME_WAIT, orphans) as of when it was seen, the
 * least useful entry; 0 for one still open. */
static uint64_t evict_rank(const struct sock_ent *s)
{
	if (!s->close_ns)
		return 0;
	return kernel_held(s) && s->seen_ns < s->close_ns ? s->seen_ns : s->close_ns;
}

/*
 * At the cap, drop the socket that ended first among at least EVICT_SAMPLE
 * held (all of them in a small table; counted as evicted).  Its tuples
 * then match nothing: a flow that needed it and has no early copy goes
 * unattributed, never to another owner.
 */
static void sock_evict_oldest(struct attr *a)
{
	static uint32_t cursor;
	struct sock_ent **victim = NULL;
	uint64_t oldest = UINT64_MAX;
	uint32_t seen = 0;

	for (uint32_t n = 0; n < NBUCKETS && (seen < EVICT_SAMPLE || !victim); n++) {
		uint32_t b = cursor++ & (NBUCKETS - 1);

		for (struct sock_ent **pp = &a->socks[b]; *pp; pp = &(*pp)->next) {
			uint64_t end = evict_rank(*pp);

			seen++;
			if (end && end < oldest) {
				oldest = end;
				victim = pp;
			}
		}
	}
	if (victim) {
		struct sock_ent *s = *victim;

		*victim = s->next;
		/* a socket no process held names nobody: its flows stay `kernel` */
		if (!kernel_held(s))
			note_loss(a, s->first_ns, s->close_ns);
		free(s);
		a->n_socks--;
		a->evicted++;
	}
}

static struct sock_ent *sock_get(struct attr *a, uint64_t cookie)
{
	struct sock_ent *s = sock_find(a, cookie);
	uint32_t b = hash64(cookie);

	if (s)
		return s;
	if (a->n_socks >= a->max_socks)
		sock_evict_oldest(a);
	if (a->n_socks >= a->max_socks)
		return NULL; /* every socket held is open (the caller notes the loss) */
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cookie = cookie;
	s->next = a->socks[b];
	a->socks[b] = s;
	a->n_socks++;
	return s;
}

static struct proc_ent *proc_find(struct attr *a, uint32_t tgid, uint64_t start_ns)
{
	for (struct proc_ent *p = a->procs[hash64(tgid)]; p; p = p->next)
		if (p->tgid == tgid && (!start_ns || p->start_ns == start_ns))
			return p;
	return NULL;
}

static struct proc_ent *proc_get(struct attr *a, uint32_t tgid, uint64_t start_ns)
{
	struct proc_ent *p = proc_find(a, tgid, start_ns);
	uint32_t b = hash64(tgid);

	if (p || a->n_procs >= MAX_PROCS)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->start_ns = start_ns;
	p->seen_ns = mono_ns();
	p->next = a->procs[b];
	a->procs[b] = p;
	a->n_procs++;
	return p;
}

/* Read exe and cmdline of a live process older than us (or whose exec we
 * did not see).  Only when /proc's start time is the same process. */
static void proc_fill_from_proc(struct proc_ent *p)
{
	char path[64], buf[1024];
	unsigned long long start_ticks = 0;
	long tck = sysconf(_SC_CLK_TCK);
	ssize_t n;
	char *s;
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/stat", p->tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	s = strrchr(buf, ')');
	/* field 22 (starttime) is the 20th after the comm's closing paren */
	for (int i = 0; s && i < 20; i++)
		s = strchr(s + 1, ' ');
	if (!s || sscanf(s + 1, "%llu", &start_ticks) != 1 || tck <= 0)
		return;
	if (p->start_ns) {
		long long diff = (long long)(start_ticks * (1000000000ull / (unsigned long long)tck)) -
				 (long long)p->start_ns;

		if (diff < -50000000ll || diff > 50000000ll)
			return; /* the pid was reused */
	}
	snprintf(path, sizeof(path), "/proc/%u/exe", p->tgid);
	n = readlink(path, p->exe, sizeof(p->exe) - 1);
	p->exe[n > 0 ? n : 0] = 0;
	snprintf(path, sizeof(path), "/proc/%u/cmdline", p->tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, p->args, sizeof(p->args));
		p->args_len = n > 0 ? (uint32_t)n : 0;
		close(fd);
	}
	p->have_exe = true;
}

/* The process of an owner record, created (and read from /proc) at first sight. */
static struct proc_ent *proc_of_owner(struct attr *a, const struct fc_proc *o)
{
	struct proc_ent *p;

	if (!o->tgid)
		return NULL;
	p = proc_get(a, o->tgid, o->start_ns);
	if (p && !p->have_exe)
		proc_fill_from_proc(p);
	return p;
}

/* Canonical key of x:px <-> y:py; true when x:px is its end a. */
static bool tup_exact_key(struct tup_key *k, const uint8_t *x, uint16_t px, const uint8_t *y,
			  uint16_t py, uint8_t protocol, uint8_t ip_version)
{
	int c = memcmp(x, y, 16);
	bool x_is_a = c < 0 || (c == 0 && px <= py);

	memset(k, 0, sizeof(*k));
	if (x_is_a) {
		memcpy(k->a, x, 16);
		memcpy(k->b, y, 16);
		k->pa = px;
		k->pb = py;
	} else {
		memcpy(k->a, y, 16);
		memcpy(k->b, x, 16);
		k->pa = py;
		k->pb = px;
	}
	k->protocol = protocol;
	k->ip_version = ip_version;
	return x_is_a;
}

static bool v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, sizeof(prefix));
}

/* Key of an announced tuple: exact, or a pattern with wildcards zeroed;
 * true when the socket's own end is the key's end a.
 * A dual-stack IPv6 socket talking to an IPv4 peer (v4-mapped addresses)
 * carries IPv4 packets: its key is the IPv4 one. */
static bool tup_key_of(struct tup_key *k, const struct fc_sock_event *ev)
{
	uint8_t flags = ev->flags & (FC_TF_LOCAL_ANY | FC_TF_REMOTE_ANY);
	struct fc_sock_event m;
	const struct fc_sock_event *e = ev;

	if (ev->ip_version == 6 && (v4mapped(ev->laddr) || v4mapped(ev->raddr)) &&
	    ((flags & FC_TF_LOCAL_ANY) || v4mapped(ev->laddr)) &&
	    ((flags & FC_TF_REMOTE_ANY) || v4mapped(ev->raddr))) {
		m = *ev;
		memset(m.laddr, 0, 16);
		memset(m.raddr, 0, 16);
		memcpy(m.laddr, ev->laddr + 12, 4);
		memcpy(m.raddr, ev->raddr + 12, 4);
		m.ip_version = 4;
		e = &m;
	}

	if (!flags)
		return tup_exact_key(k, e->laddr, e->lport, e->raddr, e->rport, e->protocol,
				     e->ip_version);
	memset(k, 0, sizeof(*k));
	if (!(flags & FC_TF_LOCAL_ANY))
		memcpy(k->a, e->laddr, 16);
	k->pa = e->lport;
	if (!(flags & FC_TF_REMOTE_ANY)) {
		memcpy(k->b, e->raddr, 16);
		k->pb = e->rport;
	}
	k->protocol = e->protocol;
	k->ip_version = e->ip_version;
	k->flags = flags;
	return true;
}

/* At the cap: the least recently recorded of at least EVICT_SAMPLE
 * tuples goes (exact LRU in a small table, approximate in a full one;
 * counted). */
static void tup_evict_oldest(struct attr *a)
{
	static uint32_t cursor;
	struct tup_ent **victim = NULL;
	uint64_t oldest = UINT64_MAX;
	uint32_t seen = 0;

	for (uint32_t n = 0; n < NBUCKETS && (seen < EVICT_SAMPLE || !victim); n++) {
		uint32_t b = cursor++ & (NBUCKETS - 1);

		for (struct tup_ent **pp = &a->tups[b]; *pp; pp = &(*pp)->next) {
			seen++;
			if ((*pp)->last_ns < oldest) {
				oldest = (*pp)->last_ns;
				victim = pp;
			}
		}
	}
	if (victim) {
		struct tup_ent *t = *victim;

		*victim = t->next;
		if (t->has_acceptor || !t->cookie || !kernel_held(sock_find(a, t->cookie)))
			note_loss(a, t->first_ns, t->last_ns);
		free(t);
		a->n_tups--;
		a->evicted++;
	}
}

/*
 * Record that socket @cookie carries tuple @k.  An accept record (cookie
 * 0: the kernel had not made one yet) and the accepted socket's own tuple
 * record are one entry, whichever comes first; the listener's record of
 * the handshake stays apart.
 */
static struct tup_ent *tup_add(struct attr *a, const struct tup_key *k, uint32_t b, bool local_a,
			       uint64_t netns, uint64_t cookie, uint64_t ts, bool listener)
{
	struct tup_ent *t;

	for (t = a->tups[b]; t; t = t->next) {
		struct sock_ent *s;

		/* both ends of a connection can be local, even in two namespaces */
		if (memcmp(&t->k, k, sizeof(*k)) || t->netns != netns || t->local_a != local_a)
			continue;
		s = t->cookie ? sock_find(a, t->cookie) : NULL;
		if (s && s->close_ns)
			break; /* ended: a new socket on the same tuple */
		if (cookie && t->cookie == cookie) {
			t->last_ns = ts;
			return t;
		}
		if (!t->cookie && cookie && !listener) {
			t->cookie = cookie;
			t->last_ns = ts;
			return t;
		}
		if (!cookie && t->cookie && !t->from_listener && !t->has_acceptor) {
			t->last_ns = ts;
			return t;
		}
		break;
	}
	if (a->n_tups >= a->max_tuples)
		tup_evict_oldest(a);
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->k = *k;
	t->netns = netns;
	t->local_a = local_a;
	t->cookie = cookie;
	t->from_listener = listener;
	t->first_ns = t->last_ns = ts;
	t->next = a->tups[b];
	a->tups[b] = t;
	a->n_tups++;
	return t;
}

static bool netns_ours(const struct attr *a, uint64_t netns)
{
	return !netns || !a->netns || netns == a->netns;
}

/* The namespace of event @e's socket: a->netns for ours (which an unknown
 * one is taken for, and every one when ours is unknown: a kernel without
 * SO_NETNS_COOKIE), else its own. */
static uint64_t event_netns(const struct attr *a, const struct fc_sock_event *e)
{
	return netns_ours(a, e->h.netns) ? a->netns : e->h.netns;
}

/* The tuple key event @e adds, if any.  Another namespace's socket (with
 * all_netns) adds only exact tuples: its bound ports say nothing about the
 * flows of ours. */
static bool event_tup_key(const struct attr *a, const struct fc_sock_event *e, struct tup_key *k,
			  bool *local_a)
{
	bool ours = netns_ours(a, e->h.netns);

	if ((!(e->h.kind == FC_SEV_TUPLE && e->ip_version) && e->h.kind != FC_SEV_ACCEPT) ||
	    (!ours && !a->all_netns))
		return false;
	*local_a = tup_key_of(k, e);
	return ours || !k->flags;
}

/* Socket event @e; @k, @kb and @local_a: its tuple key (event_tup_key()),
 * the key's bucket and which end is the socket's. */
static void on_sock_event(struct attr *a, const struct fc_sock_event *e, const struct tup_key *k,
			  uint32_t kb, bool local_a)
{
	struct sock_ent *s;
	struct tup_ent *t;

	if (log_verbosity() >= LOG_DEBUG) {
		char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
		int fam = e->ip_version == 6 ? AF_INET6 : AF_INET;

		inet_ntop(fam, e->laddr, l, sizeof(l));
		inet_ntop(fam, e->raddr, r, sizeof(r));
		pr_debug("socket event %u: cookie %llu %s:%u -> %s:%u proto %u flags %u owner %u "
			 "(%.16s) how %s others %u\n", e->h.kind, (unsigned long long)e->cookie, l,
			 e->lport, r, e->rport, e->protocol, e->flags, e->owner.tgid, e->owner.comm,
			 how_names[e->how < FC_HOW_MAX ? e->how : 0], e->others);
	}
	switch (e->h.kind) {
	case FC_SEV_TUPLE:
	case FC_SEV_OWNER:
		s = e->cookie ? sock_get(a, e->cookie) : NULL;
		if (s) {
			/* an owner named in process context beats one inferred */
			if (e->owner.tgid && (!s->owner.tgid || s->how == FC_HOW_LISTENER ||
					      s->owner.tgid == e->owner.tgid ||
					      e->how != FC_HOW_LISTENER)) {
				s->owner = e->owner;
				s->how = e->how;
			} else if (!s->owner.tgid && e->how == FC_HOW_KERNEL) {
				s->how = FC_HOW_KERNEL; /* held by no process (iter/tcp, udp) */
			}
			if (e->others > s->others)
				s->others = e->others;
			s->seen_ns = e->h.ts_ns;
			if (!s->first_ns)
				s->first_ns = e->h.ts_ns;
			/* a TCP socket no process holds (orphan, TIME_WAIT) sends
			 * no close record: it is taken to end when TIME_WAIT
			 * would, then retained as any other */
			s->close_ns = s->how == FC_HOW_KERNEL && e->protocol == IPPROTO_TCP
					      ? e->h.ts_ns + TCP_TIMEWAIT_NS
					      : 0;
			proc_of_owner(a, &s->owner);
		} else if (e->cookie) {
			note_loss(a, e->h.ts_ns, e->h.ts_ns); /* no room for its owner */
		}
		if (k)
			tup_add(a, k, kb, local_a, event_netns(a, e), e->cookie, e->h.ts_ns,
				e->how == FC_HOW_LISTENER);
		break;
	case FC_SEV_ACCEPT:
		if (!k)
			break;
		t = tup_add(a, k, kb, local_a, event_netns(a, e), e->cookie, e->h.ts_ns, false);
		if (t) {
			t->has_acceptor = true;
			t->acceptor = e->owner;
			proc_of_owner(a, &e->owner);
		}
		break;
	case FC_SEV_CLOSE:
		s = sock_find(a, e->cookie);
		if (s)
			s->close_ns = e->h.ts_ns;
		break;
	}
}

static void on_proc_event(struct attr *a, const struct fc_proc_event *e)
{
	struct proc_ent *p, *parent;

	switch (e->h.kind) {
	case FC_SEV_EXEC:
		p = proc_get(a, e->proc.tgid, e->proc.start_ns);
		if (!p)
			break;
		snprintf(p->exe, sizeof(p->exe), "%s", e->exe);
		if (p->exe[0] != '/') {
			/* a relative path as given to execve(): the link is exact */
			char path[64], buf[FC_EXE_LEN];
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%u/exe", e->proc.tgid);
			n = readlink(path, buf, sizeof(buf) - 1);
			if (n > 0) {
				buf[n] = 0;
				memcpy(p->exe, buf, (size_t)n + 1);
			}
		}
		p->args_len = e->args_len < FC_ARGS_LEN ? e->args_len : FC_ARGS_LEN;
		memcpy(p->args, e->args, p->args_len);
		p->have_exe = true;
		p->exit_ns = 0;
		break;
	case FC_SEV_FORK:
		p = proc_get(a, e->proc.tgid, e->proc.start_ns);
		if (!p || p->have_exe)
			break;
		parent = proc_find(a, e->proc.ppid, 0);
		if (!parent) {
			struct fc_proc pp = { .tgid = e->proc.ppid };

			parent = proc_of_owner(a, &pp);
		}
		if (parent && parent->have_exe) {
			memcpy(p->exe, parent->exe, sizeof(p->exe));
			memcpy(p->args, parent->args, sizeof(p->args));
			p->args_len = parent->args_len;
			p->have_exe = true;
		}
		break;
	case FC_SEV_EXIT:
		p = proc_find(a, e->proc.tgid, e->proc.start_ns);
		if (p)
			p->exit_ns = e->h.ts_ns;
		break;
	}
}

/*
 * Handle the socket events gathered by rb_cb(), in order.  Each touches a
 * few entries of tables far larger than the caches (a socket's, its
 * tuple's, the socket a tuple names), so the whole batch first goes
 * through prefetching stages, one dependent load deeper each, and the
 * misses overlap instead of adding up.
 */
static void flush_batch(struct attr *a)
{
	struct tup_key k[EV_BATCH];
	uint32_t tb[EV_BATCH], sb[EV_BATCH];
	bool has_k[EV_BATCH], local_a[EV_BATCH];
	int n = a->n_batch;

	for (int i = 0; i < n; i++) {
		const struct fc_sock_event *e = &a->batch[i];

		has_k[i] = event_tup_key(a, e, &k[i], &local_a[i]);
		if (has_k[i]) {
			tb[i] = hash_tup(&k[i]);
			__builtin_prefetch(&a->tups[tb[i]]);
		}
		sb[i] = hash64(e->cookie);
		if (e->cookie)
			__builtin_prefetch(&a->socks[sb[i]]);
	}
	for (int i = 0; i < n; i++) {
		if (has_k[i] && a->tups[tb[i]])
			__builtin_prefetch(a->tups[tb[i]]);
		if (a->batch[i].cookie && a->socks[sb[i]])
			__builtin_prefetch(a->socks[sb[i]]);
	}
	for (int i = 0; i < n; i++) {
		const struct tup_ent *t = has_k[i] ? a->tups[tb[i]] : NULL;

		if (t && t->cookie)
			__builtin_prefetch(&a->socks[hash64(t->cookie)]);
	}
	for (int i = 0; i < n; i++) {
		const struct tup_ent *t = has_k[i] ? a->tups[tb[i]] : NULL;
		const struct sock_ent *s = t && t->cookie ? a->socks[hash64(t->cookie)] : NULL;

		if (s)
			__builtin_prefetch(s);
	}
	for (int i = 0; i < n; i++)
		on_sock_event(a, &a->batch[i], has_k[i] ? &k[i] : NULL, has_k[i] ? tb[i] : 0,
			      has_k[i] && local_a[i]);
	a->n_batch = 0;
}

/* Socket event @e joins the batch (handled when it is full or consumed). */
static void queue_event(struct attr *a, const void *e)
{
	memcpy(&a->batch[a->n_batch++], e, sizeof(a->batch[0]));
	if (a->n_batch == EV_BATCH)
		flush_batch(a);
}

static int rb_cb(void *ctx, void *data, size_t size)
{
	struct attr *a = ctx;
	const struct fc_sev_hdr *h = data;

	if (size < sizeof(*h))
		return 0;
	a->events++;
	if (h->kind >= FC_SEV_EXEC && size >= sizeof(struct fc_proc_event)) {
		flush_batch(a); /* in order with the socket events before it */
		on_proc_event(a, data);
	} else if (h->kind < FC_SEV_EXEC && size >= sizeof(struct fc_sock_event)) {
		queue_event(a, data);
	}
	return 0;
}

/* Every record the kernel has submitted so far, handled. */
static void consume(struct attr *a)
{
	ring_buffer__consume(a->rb);
	flush_batch(a);
}

/* Kernel-side losses since the last look: remember when they happened. */
static void check_loss(struct attr *a)
{
	int fd = bpf_map__fd(a->skel->maps.scounters);
	int ncpu = libbpf_num_possible_cpus();
	uint64_t total = 0, now = mono_ns();
	uint32_t keys[] = { FC_SC_LOST, FC_SC_PROC_LOST, FC_SC_NO_STORAGE };

	if (ncpu <= 0)
		return;
	{
		uint64_t vals[ncpu];

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (bpf_map_lookup_elem(fd, &keys[i], vals))
				continue;
			for (int c = 0; c < ncpu; c++)
				total += vals[c];
		}
	}
	if (total > a->lost_seen) {
		note_loss(a, a->loss_check_ns, now);
		a->lost_seen = total;
	}
	a->loss_check_ns = now;
}

/*
 * Drop what no flow can need any more, in buckets [@from, @to) of every
 * table.  Called for one slice per tick so that a full pass takes
 * PURGE_SLICES ticks: the cost follows the table size, not the event rate,
 * and never holds the lock long.
 */
static void purge(struct attr *a, uint32_t from, uint32_t to)
{
	uint64_t now = mono_ns();

	for (uint32_t b = from; b < to; b++) {
		for (struct tup_ent **pp = &a->tups[b]; *pp;) {
			struct tup_ent *t = *pp;
			struct sock_ent *s = t->cookie ? sock_find(a, t->cookie) : NULL;
			uint64_t end = s ? s->close_ns : t->last_ns;

			if ((!s || s->close_ns) && end + a->retain_ns < now) {
				*pp = t->next;
				free(t);
				a->n_tups--;
			} else {
				pp = &t->next;
			}
		}
	}
	for (uint32_t b = from; b < to; b++) {
		for (struct sock_ent **pp = &a->socks[b]; *pp;) {
			struct sock_ent *s = *pp;

			if (s->close_ns && s->close_ns + a->retain_ns < now) {
				*pp = s->next;
				free(s);
				a->n_socks--;
			} else {
				pp = &s->next;
			}
		}
		for (struct proc_ent **pp = &a->procs[b]; *pp;) {
			struct proc_ent *p = *pp;

			if (p->exit_ns && p->exit_ns + a->retain_ns < now) {
				*pp = p->next;
				free(p);
				a->n_procs--;
			} else {
				pp = &p->next;
			}
		}
	}
}

static void *event_thread(void *arg)
{
	struct attr *a = arg;
	uint32_t slice = 0;

	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
		const uint32_t per = NBUCKETS / PURGE_SLICES;

		/* records come without wakeups (BPF_RB_NO_WAKEUP): read on a clock */
		usleep(100000);
		pthread_mutex_lock(&a->lock);
		consume(a);
		check_loss(a);
		if (slice % 10 == 0)
			a->mono_to_real_ns = real_minus_mono();
		purge(a, slice * per, (slice + 1) * per);
		slice = (slice + 1) % PURGE_SLICES;
		pthread_mutex_unlock(&a->lock);
	}
	return NULL;
}

/* ---- the join ---------------------------------------------------------- */

struct owner_pick {
	const struct fc_proc *owner;
	uint8_t how;
	uint32_t others;
};

static bool valid_for(struct attr *a, const struct tup_ent *t, uint64_t first_ms, uint64_t last_ms)
{
	struct sock_ent *s = t->cookie ? sock_find(a, t->cookie) : NULL;

	if (to_real_ms(a, t->first_ns) > last_ms + SLACK_MS)
		return false; /* a later socket on the same tuple */
	if (s && s->close_ns && to_real_ms(a, s->close_ns) + GRACE_MS < first_ms)
		return false; /* ended before the flow began: stale */
	if (t->cookie && !s && t->last_ns + a->retain_ns < mono_ns())
		return false; /* its socket was purged; the tuple awaits its slice */
	return true;
}

/* @t is a socket of our namespace. */
static bool tup_ours(const struct attr *a, const struct tup_ent *t)
{
	return t->netns == a->netns;
}

/* The acceptor of @t (@s: its socket, if still held) as the owner. */
static void take_acceptor(struct owner_pick *out, const struct tup_ent *t,
			  const struct sock_ent *s)
{
	out->owner = &t->acceptor;
	out->how = FC_HOW_ACCEPT;
	out->others = s ? s->others : 0;
}

/* The owner of socket @s, which carries @t. */
static void take_socket(struct owner_pick *out, const struct tup_ent *t, const struct sock_ent *s)
{
	out->owner = &s->owner;
	out->how = t->from_listener ? FC_HOW_LISTENER : s->how == FC_HOW_CREATE ? FC_HOW_SEND : s->how;
	out->others = s->others;
}

/*
 * The owner under @k (bucket @b: hash_tup()) for a flow seen [first_ms,
 * last_ms], among our namespace's sockets: an accept record if there is
 * one (the most specific for a server), else the newest socket whose owner
 * is known.
 */
static bool pick(struct attr *a, const struct tup_key *k, uint32_t b, uint64_t first_ms,
		 uint64_t last_ms, struct owner_pick *out)
{
	for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
		if (!t->has_acceptor || memcmp(&t->k, k, sizeof(*k)) || !tup_ours(a, t) ||
		    !valid_for(a, t, first_ms, last_ms))
			continue;
		take_acceptor(out, t, t->cookie ? sock_find(a, t->cookie) : NULL);
		return true;
	}
	for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
		struct sock_ent *s;

		if (memcmp(&t->k, k, sizeof(*k)) || !tup_ours(a, t) ||
		    !valid_for(a, t, first_ms, last_ms))
			continue;
		s = t->cookie ? sock_find(a, t->cookie) : NULL;
		if (s && s->owner.tgid) {
			take_socket(out, t, s);
			return true;
		}
		if (s && s->how == FC_HOW_KERNEL) {
			out->owner = NULL; /* the kernel's own socket: no process */
			out->how = FC_HOW_KERNEL;
			out->others = 0;
			return true;
		}
	}
	return false;
}

enum foreign_pick { FP_NONE, FP_FOUND, FP_AMBIGUOUS };

/*
 * The owner of exact tuple @k, whose end a is the flow's source when
 * @src_a, among the sockets of other namespaces: a container's traffic on a
 * bridge or veth of ours.  Between two such sockets, the ends of one
 * connection, the source's end (the process that opened the flow) is taken
 * before the other; on one end an acceptor before a socket, as pick()
 * ranks.  Sockets of several namespaces on the same end mean the same
 * addresses are in use in each of them, and nothing says which one this
 * flow crossed: nobody is named.
 */
static enum foreign_pick pick_foreign(struct attr *a, const struct tup_key *k, uint32_t b,
				      bool src_a, uint64_t first_ms, uint64_t last_ms,
				      struct owner_pick *out)
{
	for (int end = 0; end < 2; end++) {
		bool want_a = end == 0 ? src_a : !src_a;
		uint64_t netns = 0;
		bool accepted = false;

		for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
			struct sock_ent *s;

			if (memcmp(&t->k, k, sizeof(*k)) || tup_ours(a, t) || t->local_a != want_a ||
			    !valid_for(a, t, first_ms, last_ms))
				continue;
			s = t->cookie ? sock_find(a, t->cookie) : NULL;
			if (!t->has_acceptor && !(s && s->owner.tgid))
				continue;
			if (netns && netns != t->netns)
				return FP_AMBIGUOUS;
			if (netns && (accepted || !t->has_acceptor))
				continue;
			netns = t->netns;
			accepted = t->has_acceptor;
			if (accepted)
				take_acceptor(out, t, s);
			else
				take_socket(out, t, s);
		}
		if (netns)
			return FP_FOUND;
	}
	return FP_NONE;
}

static void refresh_local(struct attr *a)
{
	struct ifaddrs *ifa, *i;
	int n = 0;

	if (a->local && mono_ns() - a->local_ns < 1000000000ull)
		return;
	if (getifaddrs(&ifa))
		return;
	for (i = ifa; i; i = i->ifa_next)
		n++;
	free(a->local);
	a->local = calloc((size_t)n + 1, sizeof(*a->local));
	a->n_local = 0;
	for (i = ifa; i && a->local; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memset(a->local[a->n_local], 0, 17);
			memcpy(a->local[a->n_local], &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			a->local[a->n_local++][16] = 4;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(a->local[a->n_local], &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
			a->local[a->n_local++][16] = 6;
		}
	}
	freeifaddrs(ifa);
	a->local_ns = mono_ns();
}

static bool is_local(struct attr *a, const uint8_t *addr, uint8_t ipv)
{
	for (int i = 0; i < a->n_local; i++)
		if (a->local[i][16] == ipv && !memcmp(a->local[i], addr, ipv == 4 ? 4 : 16))
			return true;
	return false;
}

/* Container id from a cgroup path: docker, containerd, CRI-O and podman,
 * with the systemd driver (<runtime>-<id>.scope) or cgroupfs (/<id>). */
static void container_of_path(const char *path, char *out, size_t n)
{
	const char *p = path;

	out[0] = 0;
	while (p && *p) {
		const char *seg = *p == '/' ? p + 1 : p;
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		const char *id = seg;
		size_t idlen = len;
		const char *dash = memrchr(seg, '-', len);

		if (len > 6 && !memcmp(seg + len - 6, ".scope", 6) && dash) {
			id = dash + 1;
			idlen = (size_t)(seg + len - 6 - id);
		}
		if (idlen == 64 && strspn(id, "0123456789abcdef") >= 64) {
			snprintf(out, n, "%.64s", id);
			/* keep going: the innermost id wins */
		}
		p = end;
	}
}

static void container_of(struct attr *a, uint64_t cgid, char *out, size_t n)
{
	struct cg_ent *c;
	uint32_t b = hash64(cgid) & 255;
	struct {
		struct file_handle fh;
		uint64_t id;
	} h;
	char path[PATH_MAX], link[64];
	int fd, mount_id;
	ssize_t len;

	(void)mount_id;
	out[0] = 0;
	if (!cgid || a->cgroot_fd < 0)
		return;
	for (c = a->cgs[b]; c; c = c->next)
		if (c->id == cgid) {
			snprintf(out, n, "%s", c->container);
			return;
		}
	/* cgroup2 file handles are the cgroup id (FILEID_KERNFS) */
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = 0xfe;
	h.id = cgid;
	fd = open_by_handle_at(a->cgroot_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return; /* the cgroup is gone: unknown, not cached */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	close(fd);
	if (len < 0)
		return;
	path[len] = 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->id = cgid;
	container_of_path(path, c->container, sizeof(c->container));
	c->next = a->cgs[b];
	a->cgs[b] = c;
	snprintf(out, n, "%s", c->container);
}

/* uid -> name, cached: NSS reads /etc/passwd on every call. */
static void user_name(uint32_t uid, char *out, size_t n)
{
	static struct {
		uint32_t uid;
		bool valid;
		char name[32];
	} cache[64];
	unsigned int slot = uid & 63;
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (!cache[slot].valid || cache[slot].uid != uid) {
		if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res)
			snprintf(cache[slot].name, sizeof(cache[slot].name), "%s", res->pw_name);
		else
			snprintf(cache[slot].name, sizeof(cache[slot].name), "%u", uid);
		cache[slot].uid = uid;
		cache[slot].valid = true;
	}
	snprintf(out, n, "%s", cache[slot].name);
}

static void fill(struct attr *a, const struct owner_pick *o, struct proc_info *r)
{
	const struct fc_proc *p = o->owner;
	struct proc_ent *pe;
	size_t j = 0;

	if (!p) {
		r->how = how_names[o->how < FC_HOW_MAX ? o->how : 0];
		return;
	}
	pe = proc_of_owner(a, p);

	r->pid = p->tgid;
	r->ppid = p->ppid;
	r->uid = p->uid;
	r->start_ms = p->start_ns ? (int64_t)to_real_ms(a, p->start_ns) : -1;
	r->cgroup_id = (int64_t)p->cgroup_id;
	r->others = o->others;
	r->how = how_names[o->how < FC_HOW_MAX ? o->how : 0];
	snprintf(r->name, sizeof(r->name), "%.*s", FC_COMM_LEN, p->comm);
	user_name(p->uid, r->user, sizeof(r->user));
	if (pe && pe->have_exe) {
		snprintf(r->exe, sizeof(r->exe), "%s", pe->exe);
		for (uint32_t i = 0; i < pe->args_len && j + 1 < sizeof(r->cmdline); i++)
			r->cmdline[j++] = pe->args[i] ? pe->args[i] : ' ';
		while (j && r->cmdline[j - 1] == ' ')
			j--;
		r->cmdline[j] = 0;
	}
	container_of(a, p->cgroup_id, r->container_id, sizeof(r->container_id));
}

enum find_res { FIND_NONE, FIND_FOUND, FIND_AMBIGUOUS };

/* The owner of @f's exact 5-tuple: ours, then (when asked) other
 * namespaces'. */
static enum find_res find_exact(struct attr *a, const struct flow *f, struct owner_pick *o)
{
	struct tup_key k;
	bool src_a = tup_exact_key(&k, f->src_ip, f->src_port, f->dst_ip, f->dst_port,
				   f->protocol, f->ip_version);
	uint32_t b = hash_tup(&k);
	enum foreign_pick fp;

	if (pick(a, &k, b, f->first_seen_ms, f->last_seen_ms, o))
		return FIND_FOUND;
	if (!a->all_netns)
		return FIND_NONE;
	fp = pick_foreign(a, &k, b, src_a, f->first_seen_ms, f->last_seen_ms, o);
	return fp == FP_AMBIGUOUS ? FIND_AMBIGUOUS : fp == FP_FOUND ? FIND_FOUND : FIND_NONE;
}

/* The owner of @f from the patterns of servers: the exact peer of a
 * socket bound to every address, then a bound port. */
static bool find_pattern(struct attr *a, const struct flow *f, struct owner_pick *o)
{
	const uint8_t *ends[2] = { f->src_ip, f->dst_ip };
	const uint16_t ports[2] = { f->src_port, f->dst_port };
	bool found = false;
	struct tup_key k;

	if (f->protocol != IPPROTO_TCP && f->protocol != IPPROTO_UDP)
		return false;
	/* the exact peer of a socket bound to every local address */
	for (int side = 0; !found && side < 2; side++) {
		memset(&k, 0, sizeof(k));
		k.pa = ports[side];
		memcpy(k.b, ends[!side], 16);
		k.pb = ports[!side];
		k.protocol = f->protocol;
		k.ip_version = f->ip_version;
		k.flags = FC_TF_LOCAL_ANY;
		found = pick(a, &k, hash_tup(&k), f->first_seen_ms, f->last_seen_ms, o);
	}
	/* a bound port (servers): on its address, then on every address */
	for (int side = 0; !found && side < 2; side++) {
		for (int any = 0; !found && any < 2; any++) {
			memset(&k, 0, sizeof(k));
			if (!any)
				memcpy(k.a, ends[side], 16);
			k.pa = ports[side];
			k.protocol = f->protocol;
			k.ip_version = f->ip_version;
			k.flags = FC_TF_REMOTE_ANY | (any ? FC_TF_LOCAL_ANY : 0);
			found = pick(a, &k, hash_tup(&k), f->first_seen_ms, f->last_seen_ms, o);
			/* IPv4 reaches a dual-stack socket bound to "::" too */
			if (!found && any && f->ip_version == 4) {
				k.ip_version = 6;
				found = pick(a, &k, hash_tup(&k), f->first_seen_ms, f->last_seen_ms, o);
			}
		}
		/* the bound port of a listener is the listener's, by label */
		if (found && o->owner && f->protocol == IPPROTO_TCP)
			o->how = FC_HOW_LISTENER;
	}
	return found;
}

/*
 * What attr_early() keeps on a flow: the owner as the join found it a
 * second after the flow began.  Tables forget closed sockets (retention,
 * caps); the copy does not, so a flow written minutes later is still
 * named when its socket's entries are gone.
 */
struct proc_copy {
	struct fc_proc owner;
	bool has_owner; /* false: the kernel's own socket */
	uint8_t how;
	uint32_t others;
};

void attr_early(struct flow *f, void *arg)
{
	struct attr *a = arg;
	struct owner_pick o = { 0 };
	enum find_res res;
	struct proc_copy *c;

	if (f->proc_copy || (f->ip_version != 4 && f->ip_version != 6))
		return;
	pthread_mutex_lock(&a->lock);
	consume(a); /* what happened up to now */
	res = find_exact(a, f, &o);
	if (res == FIND_NONE && find_pattern(a, f, &o))
		res = FIND_FOUND;
	if (res == FIND_FOUND && (c = calloc(1, sizeof(*c)))) {
		if (o.owner)
			c->owner = *o.owner;
		c->has_owner = o.owner != NULL;
		c->how = o.how;
		c->others = o.others;
		f->proc_copy = c;
		a->copies++;
	}
	pthread_mutex_unlock(&a->lock);
}

void attr_lookup(struct attr *a, const struct flow *f, struct proc_info *r)
{
	const struct proc_copy *c = f->proc_copy;
	struct owner_pick o = { 0 };
	enum find_res res;
	bool found;

	proc_info_none(r);
	if (!a || (f->ip_version != 4 && f->ip_version != 6))
		return;
	pthread_mutex_lock(&a->lock);
	consume(a); /* what happened up to now */
	/* the socket's own tuple if still held, else the early copy, else a
	 * server's pattern */
	res = find_exact(a, f, &o);
	if (res == FIND_AMBIGUOUS) {
		a->ambiguous++;
		pthread_mutex_unlock(&a->lock);
		return;
	}
	found = res == FIND_FOUND;
	if (!found && c) {
		o.owner = c->has_owner ? &c->owner : NULL;
		o.how = c->how;
		o.others = c->others;
		found = true;
		a->copies_used++;
	}
	if (!found)
		found = find_pattern(a, f, &o);
	if (found) {
		fill(a, &o, r);
	} else {
		refresh_local(a);
		/* the local kernel sent packets of a flow no socket owns */
		if (is_local(a, f->src_ip, f->ip_version) ||
		    (f->dir_packets[1] && is_local(a, f->dst_ip, f->ip_version))) {
			uint64_t first = f->first_seen_ms, last = f->last_seen_ms;

			r->how = how_names[FC_HOW_KERNEL];
			/* a lost record may have named it: say so, do not guess */
			for (int i = 0; i < a->n_loss; i++)
				if (to_real_ms(a, a->loss[i].from_ns) <= last + SLACK_MS &&
				    to_real_ms(a, a->loss[i].to_ns) + SLACK_MS >= first)
					r->how = how_names[FC_HOW_LOST];
		}
	}
	pthread_mutex_unlock(&a->lock);
}

/* ---- set-up ------------------------------------------------------------ */

static bool btf_has_tp(const struct btf *vmlinux, const char *tp)
{
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return vmlinux && btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) > 0;
}

/* The path is reachable with our effective ids and capabilities (tracefs
 * is mode 0700: a non-root agent needs CAP_DAC_READ_SEARCH, as libbpf's
 * open of the id file will). */
static bool reachable(const char *path)
{
	return faccessat(AT_FDCWD, path, F_OK, AT_EACCESS) == 0;
}

/* tracefs, needed by libbpf to find a syscall tracepoint's id. */
static bool tracefs_event(const char *event)
{
	char path[160];

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", event);
	if (reachable(path))
		return true;
	if (!reachable("/sys/kernel/tracing/events"))
		mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	if (reachable(path))
		return true;
	snprintf(path, sizeof(path), "/sys/kernel/debug/tracing/events/%s/id", event);
	return reachable(path);
}

#define CG_PRIVATE "/run/flowsight/cgroup2"

static int cgroup2_root(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int fd = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	}
	fclose(f);
	if (fd >= 0)
		return fd;
	/* Not visible here (`ip netns exec` remounts /sys, for one): there
	 * is only one cgroup v2 hierarchy, so a private mount of it is the
	 * same hierarchy. */
	mkdir("/run/flowsight", 0700);
	mkdir(CG_PRIVATE, 0700);
	if (mount("cgroup2", CG_PRIVATE, "cgroup2", 0, NULL) && errno != EBUSY)
		return -1;
	return open(CG_PRIVATE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A hook that runs for sockets (all but the process events and the
 * start-up iterators). */
static bool socket_hook(const struct hook *h)
{
	return h->kind != HK_ITER && !(h->btf_tp && !strncmp(h->btf_tp, "sched_process_", 14));
}

/* attr_opts.disable: hooks (program or user-facing names, or "sockets" for
 * every socket hook) left out, as on a kernel without them. */
static bool disabled_by_opts(const struct attr *a, const struct hook *h)
{
	char list[512], *tok, *save;

	if (!a->o.disable)
		return false;
	snprintf(list, sizeof(list), "%s", a->o.disable);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!strcmp(tok, h->name) || !strcmp(tok, h->prog) ||
		    (!strcmp(tok, "sockets") && socket_hook(h)))
			return true;
	return false;
}

static void hook_missing(struct attr *a, size_t i, const char *why)
{
	a->disabled[i] = true;
	if (!strcmp(hooks[i].prog, "fs_egress_compat") || !strcmp(hooks[i].prog, "fs_egress"))
		if (!strcmp(why, "its variant is used"))
			return;
	pr_warn("attribution: hook %s unavailable (%s); fallback: %s\n", hooks[i].name, why,
		hooks[i].fallback);
}

/* Which hooks this kernel can take, before loading. */
static void probe_hooks(struct attr *a)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	bool netns_helper = libbpf_probe_bpf_helper(BPF_PROG_TYPE_CGROUP_SKB,
						    BPF_FUNC_get_netns_cookie, NULL) > 0;

	for (size_t i = 0; i < N_HOOKS; i++) {
		const struct hook *h = &hooks[i];

		if (disabled_by_opts(a, h))
			hook_missing(a, i, "disabled by FLOWSIGHT_ATTR_DISABLE");
		else if (!strcmp(h->prog, "fs_egress") && !netns_helper)
			hook_missing(a, i, "its variant is used");
		else if (!strcmp(h->prog, "fs_egress_compat") && netns_helper)
			hook_missing(a, i, "its variant is used");
		else if (h->kind == HK_CGROUP && a->cg_fd < 0)
			hook_missing(a, i, "no cgroup v2 hierarchy is mounted");
		else if (h->btf_tp && !btf_has_tp(vmlinux, h->btf_tp))
			hook_missing(a, i, vmlinux ? "the kernel has no such tracepoint"
						   : "no kernel BTF");
		else if (h->kind == HK_SYSCALL_TP &&
			 !tracefs_event(strchr(h->name, '/') + 1))
			hook_missing(a, i, "no syscall tracepoints (CONFIG_FTRACE_SYSCALLS) or no tracefs");
	}
	btf__free(vmlinux);
}

static size_t hook_index(const char *prog)
{
	for (size_t i = 0; i < N_HOOKS; i++)
		if (!strcmp(hooks[i].prog, prog))
			return i;
	return 0;
}

static struct bpf_program *prog_of(struct attr *a, size_t i)
{
	return bpf_object__find_program_by_name(a->skel->obj, hooks[i].prog);
}

/* Load what the kernel accepts: a program the verifier refuses is
 * reported on one line (its verifier's last line, the fallback) and the
 * object loads without it. */
static int load(struct attr *a)
{
	for (int tries = 0; tries <= (int)N_HOOKS; tries++) {
		struct bpf_logs logs;
		const char *refused;
		char last[160];
		int err;

		a->skel = sockets_bpf__open();
		if (!a->skel)
			return -errno;
		for (size_t i = 0; i < N_HOOKS; i++)
			if (a->disabled[i])
				bpf_program__set_autoload(prog_of(a, i), false);
		/* a test knob: a tiny ring buffer shows how losses are marked */
		if (a->o.ringbuf_bytes)
			bpf_map__set_max_entries(a->skel->maps.sock_events, a->o.ringbuf_bytes);
		/* a benchmark's instrument: hooks attached, doing nothing */
		a->skel->rodata->hooks_inert = a->o.inert;
		if (bpf_logs_attach(&logs, a->skel->obj)) {
			sockets_bpf__destroy(a->skel);
			a->skel = NULL;
			return -ENOMEM;
		}
		err = sockets_bpf__load(a->skel);
		refused = err ? bpf_logs_refused(&logs, a->skel->obj, last, sizeof(last)) : NULL;
		for (size_t i = 0; refused && i < N_HOOKS; i++) {
			if (!a->disabled[i] && !strcmp(refused, hooks[i].prog)) {
				char why[256];

				snprintf(why, sizeof(why), "the kernel refused it: %s", last);
				hook_missing(a, i, why);
				break;
			}
		}
		bpf_logs_release(&logs);
		if (!err)
			return 0;
		sockets_bpf__destroy(a->skel);
		a->skel = NULL;
		if (err == -EPERM || !refused)
			return err;
	}
	return -ENOENT;
}

/* Sockets that already exist, with the tasks that hold them. */
static void list_preexisting(struct attr *a, size_t it)
{
	struct fc_sock_event e;
	struct bpf_link *link;
	int fd;
	ssize_t n;

	link = bpf_program__attach_iter(prog_of(a, it), NULL);
	if (!link) {
		hook_missing(a, it, strerror(errno));
		return;
	}
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		hook_missing(a, it, strerror(errno));
		bpf_link__destroy(link);
		return;
	}
	pthread_mutex_lock(&a->lock);
	while ((n = read(fd, &e, sizeof(e))) == (ssize_t)sizeof(e)) {
		queue_event(a, &e);
		a->preexisting++;
	}
	flush_batch(a);
	pthread_mutex_unlock(&a->lock);
	close(fd);
	bpf_link__destroy(link);
}

/* The holders iter/task_file noted are only read by the socket tables at
 * start: give their memory back. */
static void forget_pre_owners(struct attr *a)
{
	int fd = bpf_map__fd(a->skel->maps.pre_owners);
	uint64_t key;

	while (!bpf_map_get_next_key(fd, NULL, &key))
		if (bpf_map_delete_elem(fd, &key))
			break;
}

/* A table cap, lowered in tests (never raised). */
static uint32_t lowered_cap(uint32_t asked, uint32_t cap)
{
	return asked && asked < cap ? asked : cap;
}

static uint64_t our_netns(void)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
}

int attr_open(const struct attr_opts *o, struct attr **out)
{
	struct attr *a = calloc(1, sizeof(*a));
	size_t attached = 0;
	int err;

	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->retain_ns = (o->retain_ms ? o->retain_ms : 60000) * 1000000ull;
	a->o = *o;
	a->max_socks = lowered_cap(o->max_sockets, MAX_SOCKS);
	a->max_tuples = lowered_cap(o->max_tuples, MAX_TUPLES);
	a->mono_to_real_ns = real_minus_mono();
	a->netns = our_netns();
	a->all_netns = o->all_netns;
	a->cg_fd = cgroup2_root();
	a->cgroot_fd = a->cg_fd >= 0 ? dup(a->cg_fd) : -1;
	a->loss_check_ns = mono_ns();
	probe_hooks(a);
	err = load(a);
	if (err) {
		pr_warn("attribution: cannot load the socket hooks: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs root, or CAP_BPF with CAP_PERFMON and CAP_NET_ADMIN)"
				      : "");
		goto fail;
	}
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.sock_events), rb_cb, a, NULL);
	if (!a->rb) {
		err = -errno;
		pr_warn("attribution: cannot open the socket event ring buffer: %s\n",
			strerror(-err));
		goto fail;
	}
	for (size_t i = 0; i < N_HOOKS; i++) {
		struct bpf_program *p = prog_of(a, i);

		if (a->disabled[i])
			continue;
		if (hooks[i].kind == HK_ITER)
			continue; /* run once below, after the hooks are attached */
		a->links[i] = hooks[i].kind == HK_CGROUP ? bpf_program__attach_cgroup(p, a->cg_fd)
							  : bpf_program__attach(p);
		if (!a->links[i]) {
			char why[96];

			snprintf(why, sizeof(why), "attach failed: %s", strerror(errno));
			hook_missing(a, i, why);
			continue;
		}
		attached++;
	}
	if (a->skel->rodata->hooks_inert)
		pr_warn("attribution: FLOWSIGHT_ATTR_INERT is set: the socket hooks record nothing "
			"(a benchmark's setting)\n");
	a->skel->bss->tcp_close_hooked = a->links[hook_index("fs_set_state")] != NULL;
	/* only the sockets of the captured namespace unless asked: the others'
	 * tuples may mirror ours (both ends of a veth are local somewhere) */
	a->skel->bss->target_netns = a->all_netns ? 0 : a->netns;
	if (!attached) {
		pr_warn("attribution: no socket hook could be attached: system_process_* stay empty\n");
		err = -ENOTSUP;
		goto fail;
	}
	/* task_file first: it names the holders the socket tables announce */
	for (size_t i = 0; i < N_HOOKS; i++)
		if (hooks[i].kind == HK_ITER && !a->disabled[i])
			list_preexisting(a, i);
	forget_pre_owners(a);
	err = pthread_create(&a->thread, NULL, event_thread, a);
	if (err) {
		err = -err;
		goto fail;
	}
	a->thread_started = true;
	pr_info("attribution: %zu hooks attached, %llu sockets found at start\n", attached,
		(unsigned long long)a->preexisting);
	*out = a;
	return 0;
fail:
	attr_close(a);
	return err;
}

/* The counters both reports show, read at once. */
struct attr_counts {
	unsigned long long events, lost, evicted, copies, copies_used, ambiguous;
	unsigned int socks, tups, procs;
};

static void counts(struct attr *a, struct attr_counts *c)
{
	pthread_mutex_lock(&a->lock);
	check_loss(a);
	*c = (struct attr_counts){
		.events = a->events,
		.lost = a->lost_seen,
		.evicted = a->evicted,
		.copies = a->copies,
		.copies_used = a->copies_used,
		.ambiguous = a->ambiguous,
		.socks = a->n_socks,
		.tups = a->n_tups,
		.procs = a->n_procs,
	};
	pthread_mutex_unlock(&a->lock);
}

void attr_summary(struct attr *a, char *buf, size_t n)
{
	struct attr_counts c;
	size_t len;

	counts(a, &c);
	snprintf(buf, n,
		 "attribution: %llu socket events, %llu lost or unrecorded, %u sockets, %u tuples, "
		 "%u processes held, %llu evicted; %llu early copies, %llu used",
		 c.events, c.lost, c.socks, c.tups, c.procs, c.evicted, c.copies, c.copies_used);
	len = strlen(buf);
	if (a->all_netns)
		snprintf(buf + len, n > len ? n - len : 0,
			 ", %llu flows left unnamed: their tuple is in use in several namespaces",
			 c.ambiguous);
}

void attr_perf_json(struct attr *a, FILE *f)
{
	struct attr_counts c;

	counts(a, &c);
	fprintf(f, "\"socket_events\": %llu, \"lost\": %llu, \"sockets\": %u, \"tuples\": %u, "
		"\"processes\": %u, \"evicted\": %llu, \"early_copies\": %llu, "
		"\"early_copies_used\": %llu",
		c.events, c.lost, c.socks, c.tups, c.procs, c.evicted, c.copies, c.copies_used);
}

void attr_close(struct attr *a)
{
	if (!a)
		return;
	if (a->thread_started) {
		__atomic_store_n(&a->stop, 1, __ATOMIC_RELAXED);
		pthread_join(a->thread, NULL);
	}
	for (size_t i = 0; i < N_HOOKS; i++)
		bpf_link__destroy(a->links[i]);
	ring_buffer__free(a->rb);
	sockets_bpf__destroy(a->skel);
	for (uint32_t b = 0; b < NBUCKETS; b++) {
		while (a->socks[b]) {
			struct sock_ent *s = a->socks[b];

			a->socks[b] = s->next;
			free(s);
		}
		while (a->tups[b]) {
			struct tup_ent *t = a->tups[b];

			a->tups[b] = t->next;
			free(t);
		}
		while (a->procs[b]) {
			struct proc_ent *p = a->procs[b];

			a->procs[b] = p->next;
			free(p);
		}
	}
	for (int b = 0; b < 256; b++) {
		while (a->cgs[b]) {
			struct cg_ent *c = a->cgs[b];

			a->cgs[b] = c->next;
			free(c);
		}
	}
	free(a->local);
	if (a->cg_fd >= 0)
		close(a->cg_fd);
	if (a->cgroot_fd >= 0)
		close(a->cgroot_fd);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
