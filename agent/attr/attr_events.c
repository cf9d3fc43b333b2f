// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel's records into the tables: socket records in batches (their
 * cache misses overlap), process records in order with them, losses noted
 * as time windows, and the event thread that reads the ring buffer and
 * purges what no flow can need any more.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockets.skel.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr/attr_int.h"
#include "util/log.h"

static bool attr_netns_ours(const struct attr *a, uint64_t netns)
{
	return !netns || !a->netns || netns == a->netns;
}

/* The namespace of event @e's socket: a->netns for ours (which an unknown
 * one is taken for, and every one when ours is unknown: a kernel without
 * SO_NETNS_COOKIE), else its own. */
static uint64_t attr_event_netns(const struct attr *a, const struct fc_sock_event *e)
{
	return attr_netns_ours(a, e->h.netns) ? a->netns : e->h.netns;
}

/* The tuple key event @e adds, if any.  Another namespace's socket (with
 * all_netns) adds only exact tuples: its bound ports say nothing about the
 * flows of ours. */
static bool attr_event_tup_key(const struct attr *a, const struct fc_sock_event *e, struct tup_key *k,
			  bool *local_a)
{
	bool ours = attr_netns_ours(a, e->h.netns);

	if (!(e->h.kind == FC_SEV_TUPLE && e->ip_version) || (!ours && !a->all_netns))
		return false;
	*local_a = attr_tup_key_of(k, e);
	return ours || !k->flags;
}

/*
 * --split-on-owner: socket @e announces exact tuple @k, which another
 * process's socket used within the retention: the flow on it changes owner
 * at @e's time.  Once per socket and tuple (the tuple entry then exists).
 */
static void note_split(struct attr *a, const struct tup_key *k, uint32_t kb,
		       const struct fc_sock_event *e)
{
	const struct sock_ent *me = attr_sock_find(a, e->cookie);

	for (struct tup_ent *t = a->tups[kb]; t; t = t->next) {
		const struct sock_ent *o;

		if (memcmp(&t->k, k, sizeof(*k)) || !t->cookie)
			continue;
		if (t->cookie == e->cookie)
			return; /* announced before: already split */
		o = attr_tup_sock(a, t);
		if (!o || !o->owner.tgid || o->owner.tgid == me->owner.tgid)
			continue;
		a->splits[a->n_splits % N_SPLITS].k = *k;
		a->splits[a->n_splits % N_SPLITS].at_ns = e->h.ts_ns;
		a->n_splits++;
		return;
	}
}

/* Socket event @e; @k, @kb and @local_a: its tuple key (attr_event_tup_key()),
 * the key's bucket and which end is the socket's. */
static void attr_on_sock_event(struct attr *a, const struct fc_sock_event *e, const struct tup_key *k,
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
			 attr_how_names[e->how < FC_HOW_MAX ? e->how : 0], e->others);
	}
	switch (e->h.kind) {
	case FC_SEV_TUPLE:
	case FC_SEV_OWNER:
		s = e->cookie ? attr_sock_get(a, e->cookie) : NULL;
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
			attr_sock_closed(a, s);
			attr_proc_of_owner(a, &s->owner);
		} else if (e->cookie) {
			attr_note_loss(a, e->h.ts_ns, e->h.ts_ns); /* no room for its owner */
		}
		if (k && a->o.splits && e->h.kind == FC_SEV_TUPLE && !k->flags && s && s->owner.tgid)
			note_split(a, k, kb, e);
		if (k) {
			t = attr_tup_add(a, k, kb, local_a, attr_event_netns(a, e), e->cookie,
					 e->h.ts_ns, e->sflags & FC_SF_LISTENING, s);
			/* a socket no process holds (iter/tcp, iter/udp) names nobody,
			 * even once its entry has left the socket table */
			if (t && e->how == FC_HOW_KERNEL && !e->owner.tgid)
				t->kernel_held = true;
		}
		break;
	case FC_SEV_CLOSE:
		s = attr_sock_find(a, e->cookie);
		if (s) {
			s->close_ns = e->h.ts_ns;
			attr_sock_closed(a, s);
		}
		break;
	}
}

static void attr_on_proc_event(struct attr *a, const struct fc_proc_event *e)
{
	struct proc_ent *p, *parent;

	switch (e->h.kind) {
	case FC_SEV_EXEC:
		p = attr_proc_get(a, e->proc.tgid, e->proc.start_ns);
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
		p = attr_proc_get(a, e->proc.tgid, e->proc.start_ns);
		if (!p || p->have_exe)
			break;
		parent = attr_proc_find(a, e->proc.ppid, 0);
		if (!parent) {
			struct fc_proc pp = { .tgid = e->proc.ppid };

			parent = attr_proc_of_owner(a, &pp);
		}
		if (parent && parent->have_exe) {
			memcpy(p->exe, parent->exe, sizeof(p->exe));
			memcpy(p->args, parent->args, sizeof(p->args));
			p->args_len = parent->args_len;
			p->have_exe = true;
		}
		break;
	case FC_SEV_EXIT:
		p = attr_proc_find(a, e->proc.tgid, e->proc.start_ns);
		if (p)
			p->exit_ns = e->h.ts_ns;
		break;
	}
}

/*
 * Handle the socket events gathered by attr_ringbuf_cb(), in order.  Each touches a
 * few entries of tables far larger than the caches (a socket's, its
 * tuple's, the socket a tuple names), so the whole batch first goes
 * through prefetching stages, one dependent load deeper each, and the
 * misses overlap instead of adding up.
 */
void attr_flush_batch(struct attr *a)
{
	struct tup_key k[EV_BATCH];
	uint32_t tb[EV_BATCH], sb[EV_BATCH];
	bool has_k[EV_BATCH], local_a[EV_BATCH];
	int n = a->n_batch;

	for (int i = 0; i < n; i++) {
		const struct fc_sock_event *e = &a->batch[i];

		has_k[i] = attr_event_tup_key(a, e, &k[i], &local_a[i]);
		if (has_k[i]) {
			tb[i] = attr_hash_tup(&k[i]);
			__builtin_prefetch(&a->tups[tb[i]]);
		}
		sb[i] = attr_hash64(e->cookie);
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
			__builtin_prefetch(&a->socks[attr_hash64(t->cookie)]);
	}
	for (int i = 0; i < n; i++) {
		const struct tup_ent *t = has_k[i] ? a->tups[tb[i]] : NULL;
		const struct sock_ent *s = t && t->cookie ? a->socks[attr_hash64(t->cookie)] : NULL;

		if (s)
			__builtin_prefetch(s);
	}
	for (int i = 0; i < n; i++)
		attr_on_sock_event(a, &a->batch[i], has_k[i] ? &k[i] : NULL, has_k[i] ? tb[i] : 0,
			      has_k[i] && local_a[i]);
	a->n_batch = 0;
}

/* Socket event @e joins the batch (handled when it is full or consumed). */
void attr_queue_event(struct attr *a, const void *e)
{
	memcpy(&a->batch[a->n_batch++], e, sizeof(a->batch[0]));
	if (a->n_batch == EV_BATCH)
		attr_flush_batch(a);
}

int attr_ringbuf_cb(void *ctx, void *data, size_t size)
{
	struct attr *a = ctx;
	const struct fc_sev_hdr *h = data;

	if (size < sizeof(*h))
		return 0;
	a->events++;
	if (h->kind >= FC_SEV_EXEC && size >= sizeof(struct fc_proc_event)) {
		attr_flush_batch(a); /* in order with the socket events before it */
		attr_on_proc_event(a, data);
	} else if (h->kind == FC_SEV_CLOSE && size >= sizeof(struct fc_sock_close)) {
		/* queued as a socket event, in order with the others */
		struct fc_sock_event e = { .h = *h, .cookie = ((const struct fc_sock_close *)data)->cookie };

		attr_queue_event(a, &e);
	} else if (h->kind < FC_SEV_EXEC && size >= sizeof(struct fc_sock_event)) {
		attr_queue_event(a, data);
	}
	return 0;
}

/* Every record the kernel has submitted so far, handled. */
void attr_consume(struct attr *a)
{
	if (a->rb)
		ring_buffer__consume(a->rb);
	attr_flush_batch(a);
}

/* Kernel-side losses since the last look: remember when they happened. */
void attr_check_loss(struct attr *a)
{
	int fd = a->skel ? bpf_map__fd(a->skel->maps.scounters) : -1;
	int ncpu = libbpf_num_possible_cpus();
	uint64_t total = 0, now = attr_mono_ns();
	uint32_t keys[] = { FC_SC_LOST, FC_SC_PROC_LOST, FC_SC_NO_STORAGE };

	if (ncpu <= 0 || fd < 0)
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
		attr_note_loss(a, a->loss_check_ns, now);
		a->lost_seen = total;
	}
	a->loss_check_ns = now;
}

/*
 * Drop what no flow can need any more: closed sockets with their tuples
 * and orphan tuples from the front of their lists, and the small tables
 * (loss windows, lost sockets, exited processes) in buckets [@from, @to).
 * Called for one slice per tick so that a full pass takes PURGE_SLICES
 * ticks, and never holds the lock long.
 */
void attr_purge(struct attr *a, uint32_t from, uint32_t to)
{
	uint64_t now = attr_mono_ns();

	if (!from && now > a->retain_ns)
		attr_forget_losses(a, now - a->retain_ns);

	/* sockets and tuples from the front of their lists (the cost follows
	 * what is freed); the small tables by slices of buckets */
	attr_purge_closed(a, now);
	attr_purge_orphans(a, now);
	for (uint32_t b = from; b < to; b++) {
		for (struct lost_sock **pp = &a->lost_socks[b]; *pp;) {
			struct lost_sock *l = *pp;

			if (l->end_ns + a->retain_ns < now) {
				*pp = l->next;
				free(l);
				a->n_lost_socks--;
			} else {
				pp = &l->next;
			}
		}
		for (struct lost_ent **pp = &a->lost[b]; *pp;) {
			struct lost_ent *l = *pp;

			if (l->to_ns + a->retain_ns < now) {
				*pp = l->next;
				free(l);
				a->n_lost--;
			} else {
				pp = &l->next;
			}
		}
		/* closed sockets: attr_purge_closed() */
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

void *attr_event_thread(void *arg)
{
	struct attr *a = arg;
	uint32_t slice = 0;

	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
		const uint32_t per = NBUCKETS / PURGE_SLICES;

		/* records come without wakeups (BPF_RB_NO_WAKEUP): read on a clock */
		usleep(100000);
		pthread_mutex_lock(&a->lock);
		attr_consume(a);
		attr_check_loss(a);
		if (slice % 10 == 0)
			a->mono_to_real_ns = attr_real_minus_mono();
		attr_purge(a, slice * per, (slice + 1) * per);
		slice = (slice + 1) % PURGE_SLICES;
		pthread_mutex_unlock(&a->lock);
	}
	return NULL;
}
