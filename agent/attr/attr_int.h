/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Inside process attribution (attr/): the tables, the state they share and
 * what each part offers the others.  attr.h is the outside; nothing else
 * includes this header.
 */
#ifndef FLOWSIGHT_ATTR_INT_H
#define FLOWSIGHT_ATTR_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "attr/attr.h"
#include "core/flow_pool.h"
#include "util/dlist.h"
#include "fc_sock.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define SLACK_MS 2000    /* a socket's first record may follow its flow's last packet */
#define GRACE_MS 2000    /* a flow may outlive its socket's close by this much */
/* Buckets per table: about one per entry at the socket cap, so a lookup
 * is one cache miss, not a chain of them (2^18 buckets for 900,000
 * sockets cost 1.0-1.8 us per connection in tools/bench_attr_tables, 2^20
 * 0.4-0.6 us).  The arrays are 8 MB each of virtual memory; only the
 * pages that hold entries are ever written. */
#define NBUCKETS (1u << 20)
#define MAX_SOCKS (1u << 20)
#define MAX_TUPLES (1u << 21)
#define MAX_PROCS (1u << 17)
#define EV_BATCH 64 /* socket events handled together */
#define TCP_TIMEWAIT_NS 60000000000ull /* the kernel's TCP_TIMEWAIT_LEN */
/* Ticks of 100 ms per full pass of the bucket-sliced purge (25.6 s): only
 * the small tables (losses, exited processes) go by slices now, sockets
 * and tuples go from the front of their lists at every tick. */
#define PURGE_SLICES 256
#define ATTR_N_HOOKS 20 /* entries of attr_bpf.c's hooks[] */
#define N_SPLITS 4096   /* owner changes kept for the engines to read */

/* The labels of enum fc_how (system_attribution). */
extern const char *const attr_how_names[FC_HOW_MAX];

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
	struct dlist tups;    /* the tuples that found it (attr_tup_sock()) */
	/* on a list of closed sockets, in the order they closed
	 * (attr_sock_closed()): purge and eviction take the first */
	struct dlist closed;
	bool closed_kernel;   /* on a->kernel_held, not a->closed */
};

/* Exact tuples are canonical (a <= b); patterns keep local in a. */
struct tup_key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t protocol, ip_version, flags, _pad;
};

struct tup_ent {
	struct tup_ent *next, **pprev; /* its bucket's chain */
	struct tup_key k;
	uint64_t cookie;
	uint64_t netns;      /* the socket's network namespace (cookie); 0 read as ours */
	bool local_a;        /* the socket's own end is k.a (exact keys) */
	uint64_t first_ns, last_ns;
	bool from_listener;  /* the listener's record of a handshake */
	bool kernel_held;    /* announced as held by no process */
	/* its socket's entry once found (attr_tup_sock()), on the socket's
	 * list: freeing either side unlinks, so neither points at freed memory */
	struct sock_ent *sock;
	struct dlist at_sock; /* on sock->tups */
	bool sock_gone;      /* its socket's entry was freed: none to look for */
	struct dlist lru;    /* on a->lru, by last_ns: eviction takes the first */
	/* a tuple with no socket entry (its socket left the table, or never
	 * had one) is on a->orphans, purged from its front: the others go
	 * with their socket (attr_purge_closed()), so no purge walks the
	 * whole tuple table */
	struct dlist orphan;
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

/* A socket evicted at the cap while it had an owner: its tuples, still
 * held, name whose it was as lost. */
struct lost_sock {
	struct lost_sock *next;
	uint64_t cookie;
	uint64_t end_ns; /* when it closed */
};

/* A tuple evicted at the table cap: a flow that matches it had an owner
 * the tables no longer know (labelled lost, never the kernel's). */
struct lost_ent {
	struct lost_ent *next;
	struct tup_key k;
	uint64_t netns;
	uint64_t from_ns, to_ns;
};


struct attr {
	struct attr_opts o;
	struct sockets_bpf *skel;
	struct bpf_link *links[ATTR_N_HOOKS];
	bool disabled[ATTR_N_HOOKS];
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

	/* sockets and tuples, a new one per connection on a busy host: from
	 * pools (core/flow_pool.h) under the lock, not malloc's heap (whose
	 * growth and trimming cost a third of the tables' time) */
	struct flow_pool *sock_pool, *tup_pool;
	struct sock_ent *socks[NBUCKETS];
	struct tup_ent *tups[NBUCKETS];
	struct lost_ent *lost[NBUCKETS];
	struct lost_sock *lost_socks[NBUCKETS];
	struct proc_ent *procs[NBUCKETS];
	struct cg_ent *cgs[256];
	uint32_t n_socks, n_tups, n_procs, n_lost, n_lost_socks;
	uint32_t max_socks, max_tuples; /* caps (FLOWSIGHT_ATTR_MAX_SOCKETS/_TUPLES for tests) */
	uint64_t evicted;
	struct dlist lru;      /* every tuple, least recently seen first */
	struct dlist orphans;  /* tuples without a socket entry */
	/* closed sockets by the time they closed (attr_sock_closed());
	 * kernel_held: held by no process, the first evicted */
	struct dlist closed, kernel_held;

	uint64_t lost_seen;    /* kernel LOST + PROC_LOST last read */
	uint64_t loss_check_ns;
	struct {               /* --split-on-owner: a ring of owner changes */
		struct tup_key k;
		uint64_t at_ns;
	} splits[N_SPLITS];
	uint64_t n_splits;     /* ever recorded; the ring holds the last N_SPLITS */
	struct loss_win *loss; /* sorted, disjoint (attr_note_loss) */
	size_t n_loss, loss_cap;
	uint64_t events, preexisting;
	uint64_t copies, copies_used; /* attr_early()'s copies taken, and used at export */

	struct fc_sock_event batch[EV_BATCH]; /* read, not yet handled (flush_batch()) */
	int n_batch;

	/* local addresses of our namespace, refreshed at most once a second */
	uint8_t (*local)[17];  /* 16 bytes + ip_version */
	int n_local;
	uint64_t local_ns;
	int cgroot_fd;         /* cgroup2 mount, for cgroup id -> path */
	struct {               /* uid -> user name (NSS reads /etc/passwd per call) */
		uint32_t uid;
		bool valid;
		char name[32];
	} users[64];
};

/* attr_tables.c: clocks, hashing, the socket, tuple and process tables */
uint32_t attr_hash64(uint64_t x);
uint32_t attr_hash_tup(const struct tup_key *k);
uint64_t attr_mono_ns(void);
void attr_note_loss(struct attr *a, uint64_t from_ns, uint64_t to_ns);
/* Socket @cookie was evicted from the table while it had an owner. */
bool attr_lost_sock(struct attr *a, uint64_t cookie);
/* ... and when it closed (*@end_ns). */
bool attr_lost_sock_end(struct attr *a, uint64_t cookie, uint64_t *end_ns);
/* Key @k (bucket @b) was evicted with an owner during [@first_ms, @last_ms]
 * give or take SLACK_MS. */
bool attr_lost_key(struct attr *a, const struct tup_key *k, uint32_t b, uint64_t first_ms,
		   uint64_t last_ms);
/* A loss window meets [@first_ms, @last_ms] (epoch ms, with SLACK_MS). */
bool attr_lost_between(struct attr *a, uint64_t first_ms, uint64_t last_ms);
/* Drop the windows that ended before @before_ns. */
void attr_forget_losses(struct attr *a, uint64_t before_ns);
struct proc_ent *attr_proc_find(struct attr *a, uint32_t tgid, uint64_t start_ns);
struct proc_ent *attr_proc_get(struct attr *a, uint32_t tgid, uint64_t start_ns);
struct proc_ent *attr_proc_of_owner(struct attr *a, const struct fc_proc *o);
int64_t attr_real_minus_mono(void);
struct sock_ent *attr_sock_find(struct attr *a, uint64_t cookie);
struct sock_ent *attr_sock_get(struct attr *a, uint64_t cookie);
uint64_t attr_to_real_ms(const struct attr *a, uint64_t ns);
/* The entry of @t's socket (NULL: none, or it left the table), found
 * once and then kept on the tuple: a join reads it for every tuple of a
 * chain, and a 5-tuple that comes back (an ephemeral port every ~28,000
 * connections) makes chains of tens of entries in a busy host's tables. */
struct sock_ent *attr_tup_sock(struct attr *a, struct tup_ent *t);
/* @s's close_ns was set or cleared: it joins or leaves the closed list. */
void attr_sock_closed(struct attr *a, struct sock_ent *s);
void attr_tup_free(struct attr *a, struct tup_ent *t);
/* Take @t out of its chain and free it. */
void attr_tup_remove(struct attr *a, struct tup_ent *t);
/* Free the closed sockets (and their tuples) retained long enough. */
void attr_purge_closed(struct attr *a, uint64_t now);
/* Free the tuples without a socket entry unseen for the retention. */
void attr_purge_orphans(struct attr *a, uint64_t now);
void attr_sock_free(struct attr *a, struct sock_ent *s);
struct tup_ent *attr_tup_add(struct attr *a, const struct tup_key *k, uint32_t b, bool local_a,
			       uint64_t netns, uint64_t cookie, uint64_t ts, bool listener,
			       struct sock_ent *s);
bool attr_tup_exact_key(struct tup_key *k, const uint8_t *x, uint16_t px, const uint8_t *y,
			  uint16_t py, uint8_t protocol, uint8_t ip_version);
bool attr_tup_key_of(struct tup_key *k, const struct fc_sock_event *ev);

/* attr_host.c: what /proc, the interfaces and the cgroup tree say */
void attr_container_of(struct attr *a, uint64_t cgid, char *out, size_t n);
bool attr_is_local(struct attr *a, const uint8_t *addr, uint8_t ipv);
void attr_proc_fill_from_proc(struct proc_ent *p);
void attr_refresh_local(struct attr *a);
void attr_user_name(struct attr *a, uint32_t uid, char *out, size_t n);

/* attr_events.c: the kernel's records into the tables */
void attr_check_loss(struct attr *a);
void attr_consume(struct attr *a);
void attr_flush_batch(struct attr *a);
void attr_queue_event(struct attr *a, const void *e);
/* One ring-buffer record (libbpf's ring_buffer_sample_fn): @ctx the attr. */
int attr_ringbuf_cb(void *ctx, void *data, size_t size);
/* Drop what no flow can need any more, in buckets [@from, @to). */
void attr_purge(struct attr *a, uint32_t from, uint32_t to);
void *attr_event_thread(void *arg);

/* attr_bpf.c: the hooks, their probes, loading and the start-up iterators */
/* Probe, load and attach the hooks, then list the sockets that exist.
 * 0, or -errno when nothing at all can be attributed (said why). */
int attr_bpf_start(struct attr *a);
/* Detach and unload (nothing when nothing was loaded). */
void attr_bpf_stop(struct attr *a);
uint32_t attr_lowered_cap(uint32_t asked, uint32_t cap);
uint64_t attr_our_netns(void);

#endif
