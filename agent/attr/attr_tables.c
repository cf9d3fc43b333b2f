// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attribution's tables: sockets by cookie, the tuples each socket
 * announced (newest first per key), processes by (tgid, start time); their
 * hashing, caps and eviction (the entry that ended first goes first).
 */
#include <time.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr/attr_int.h"
#include "util/log.h"
#include "util/grow.h"

uint64_t attr_mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int64_t attr_real_minus_mono(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
}

uint64_t attr_to_real_ms(const struct attr *a, uint64_t ns)
{
	return (uint64_t)((int64_t)ns + a->mono_to_real_ns) / 1000000ull;
}

uint32_t attr_hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x & (NBUCKETS - 1);
}

uint32_t attr_hash_tup(const struct tup_key *k)
{
	uint64_t w[sizeof(*k) / 8], h = 0x9e3779b97f4a7c15ull;

	_Static_assert(sizeof(*k) % 8 == 0, "tup_key is hashed a word at a time");
	memcpy(w, k, sizeof(w));
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
	return attr_hash64(h ^ (h >> 29));
}

/*
 * Records of [@from_ns, @to_ns] are gone (lost by the kernel, or evicted
 * at a table's cap): a flow of that time that finds no owner is marked
 * lost, not guessed.  Overlapping windows merge; the oldest goes when the
 * list is full.
 */
/*
 * Loss windows are kept sorted and disjoint, as many as there are: a
 * forgotten window would let a flow of a lost record be labelled the
 * kernel's own instead of lost, and a window widened to make room would
 * mark lost flows that were not.  They end at the retention (attr_purge).
 */
void attr_note_loss(struct attr *a, uint64_t from_ns, uint64_t to_ns)
{
	struct loss_win *w;
	size_t n = a->n_loss, i;

	if (to_ns < from_ns)
		to_ns = from_ns;
	if (grow_one(&a->loss, &a->loss_cap, n, 64)) {
		/* no memory: widen the last window rather than forget this one */
		if (n && a->loss[n - 1].to_ns < to_ns)
			a->loss[n - 1].to_ns = to_ns;
		if (n && a->loss[0].from_ns > from_ns)
			a->loss[0].from_ns = from_ns;
		return;
	}
	w = a->loss;
	for (i = n; i > 0 && w[i - 1].from_ns > from_ns; i--)
		w[i] = w[i - 1];
	w[i] = (struct loss_win){ from_ns, to_ns };
	n++;
	/* the new window absorbs the neighbours it overlaps */
	if (i > 0 && w[i].from_ns <= w[i - 1].to_ns)
		i--;
	while (i + 1 < n && w[i + 1].from_ns <= w[i].to_ns) {
		if (w[i + 1].to_ns > w[i].to_ns)
			w[i].to_ns = w[i + 1].to_ns;
		memmove(&w[i + 1], &w[i + 2], sizeof(*w) * (n - i - 2));
		n--;
	}
	a->n_loss = n;
}

bool attr_lost_between(struct attr *a, uint64_t first_ms, uint64_t last_ms)
{
	size_t lo = 0, hi = a->n_loss;

	/* the first window that ends at or after first_ms - SLACK_MS */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (attr_to_real_ms(a, a->loss[mid].to_ns) + SLACK_MS < first_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->n_loss && attr_to_real_ms(a, a->loss[lo].from_ns) <= last_ms + SLACK_MS;
}

void attr_forget_losses(struct attr *a, uint64_t before_ns)
{
	size_t k = 0;

	while (k < a->n_loss && a->loss[k].to_ns < before_ns)
		k++;
	memmove(a->loss, a->loss + k, sizeof(*a->loss) * (a->n_loss - k));
	a->n_loss -= k;
}

struct sock_ent *attr_sock_find(struct attr *a, uint64_t cookie)
{
	for (struct sock_ent *s = a->socks[attr_hash64(cookie)]; s; s = s->next)
		if (s->cookie == cookie)
			return s;
	return NULL;
}

static void remember_lost_sock(struct attr *a, const struct sock_ent *s);

/* A socket no process holds (iter/tcp, iter/udp), with no owner. */
static bool attr_kernel_held(const struct sock_ent *s)
{
	return s && s->how == FC_HOW_KERNEL && !s->owner.tgid;
}

/* @s out of its bucket, freed (its tuples become orphans). */
static void sock_remove(struct attr *a, struct sock_ent *s)
{
	struct sock_ent **pp;

	for (pp = &a->socks[attr_hash64(s->cookie)]; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	attr_sock_free(a, s);
	a->n_socks--;
}

/*
 * At the cap, drop the first socket of the closed list (counted as
 * evicted): a socket no process holds (found by the start-up iterators:
 * TIME_WAIT, orphans), the least useful entry, else the one that closed
 * first.  O(1): a scan for the oldest cost a cache miss per entry looked
 * at, 64 or more per new socket once a busy host's table is full.  Its
 * tuples then match nothing: a flow that needed it and has no early copy
 * goes unattributed, never to another owner.
 */
static void attr_sock_evict_oldest(struct attr *a)
{
	struct sock_ent *s = dlist_first_entry(&a->kernel_held, struct sock_ent, closed);

	if (!s)
		s = dlist_first_entry(&a->closed, struct sock_ent, closed);
	if (!s)
		return; /* every socket held is open */
	/* its tuples stay, pointing at no socket: if it had an owner, a
	 * flow that matches one is labelled lost (attr_pick); a socket
	 * no process held names nobody, then as before */
	if (s->owner.tgid)
		remember_lost_sock(a, s);
	sock_remove(a, s);
	a->evicted++;
}

/*
 * A closed socket retained long enough goes with its tuples (the tuple
 * purge's rule: its end is the close), from the front of the lists: the
 * cost follows what is freed, not the table's size.
 */
void attr_purge_closed(struct attr *a, uint64_t now)
{
	struct dlist *lists[] = { &a->kernel_held, &a->closed };

	for (int i = 0; i < 2; i++) {
		struct sock_ent *s;

		while ((s = dlist_first_entry(lists[i], struct sock_ent, closed)) &&
		       s->close_ns + a->retain_ns < now) {
			struct tup_ent *t;

			while ((t = dlist_first_entry(&s->tups, struct tup_ent, at_sock)))
				attr_tup_remove(a, t);
			sock_remove(a, s);
		}
	}
}

struct sock_ent *attr_sock_get(struct attr *a, uint64_t cookie)
{
	struct sock_ent *s = attr_sock_find(a, cookie);
	uint32_t b = attr_hash64(cookie);

	if (s)
		return s;
	if (a->n_socks >= a->max_socks)
		attr_sock_evict_oldest(a);
	if (a->n_socks >= a->max_socks)
		return NULL; /* every socket held is open (the caller notes the loss) */
	s = flow_pool_alloc(a->sock_pool);
	if (!s)
		return NULL;
	dlist_init(&s->tups);
	s->cookie = cookie;
	s->next = a->socks[b];
	a->socks[b] = s;
	a->n_socks++;
	return s;
}

struct proc_ent *attr_proc_find(struct attr *a, uint32_t tgid, uint64_t start_ns)
{
	for (struct proc_ent *p = a->procs[attr_hash64(tgid)]; p; p = p->next)
		if (p->tgid == tgid && (!start_ns || p->start_ns == start_ns))
			return p;
	return NULL;
}

struct proc_ent *attr_proc_get(struct attr *a, uint32_t tgid, uint64_t start_ns)
{
	struct proc_ent *p = attr_proc_find(a, tgid, start_ns);
	uint32_t b = attr_hash64(tgid);

	if (p || a->n_procs >= MAX_PROCS)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->tgid = tgid;
	p->start_ns = start_ns;
	p->seen_ns = attr_mono_ns();
	p->next = a->procs[b];
	a->procs[b] = p;
	a->n_procs++;
	return p;
}

/* The process of an owner record, created (and read from /proc) at first sight. */
struct proc_ent *attr_proc_of_owner(struct attr *a, const struct fc_proc *o)
{
	struct proc_ent *p;

	if (!o->tgid)
		return NULL;
	p = attr_proc_get(a, o->tgid, o->start_ns);
	if (p && !p->have_exe)
		attr_proc_fill_from_proc(p);
	return p;
}

/* Canonical key of x:px <-> y:py; true when x:px is its end a. */
bool attr_tup_exact_key(struct tup_key *k, const uint8_t *x, uint16_t px, const uint8_t *y,
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

static bool attr_v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, sizeof(prefix));
}

/* Key of an announced tuple: exact, or a pattern with wildcards zeroed;
 * true when the socket's own end is the key's end a.
 * A dual-stack IPv6 socket talking to an IPv4 peer (v4-mapped addresses)
 * carries IPv4 packets: its key is the IPv4 one. */
bool attr_tup_key_of(struct tup_key *k, const struct fc_sock_event *ev)
{
	uint8_t flags = ev->flags & (FC_TF_LOCAL_ANY | FC_TF_REMOTE_ANY);
	struct fc_sock_event m;
	const struct fc_sock_event *e = ev;

	if (ev->ip_version == 6 && (attr_v4mapped(ev->laddr) || attr_v4mapped(ev->raddr)) &&
	    ((flags & FC_TF_LOCAL_ANY) || attr_v4mapped(ev->laddr)) &&
	    ((flags & FC_TF_REMOTE_ANY) || attr_v4mapped(ev->raddr))) {
		m = *ev;
		memset(m.laddr, 0, 16);
		memset(m.raddr, 0, 16);
		memcpy(m.laddr, ev->laddr + 12, 4);
		memcpy(m.raddr, ev->raddr + 12, 4);
		m.ip_version = 4;
		e = &m;
	}

	if (!flags)
		return attr_tup_exact_key(k, e->laddr, e->lport, e->raddr, e->rport, e->protocol,
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
/* Keys and sockets remembered as lost: as many as are held, and at least
 * this many for the small tables of tests. */
#define MIN_LOST 4096

static void remember_lost_sock(struct attr *a, const struct sock_ent *s)
{
	uint32_t b = attr_hash64(s->cookie);
	struct lost_sock *l;

	if (a->n_lost_socks >= (a->max_socks > MIN_LOST ? a->max_socks : MIN_LOST) ||
	    !(l = malloc(sizeof(*l)))) {
		attr_note_loss(a, s->first_ns, s->close_ns);
		return;
	}
	*l = (struct lost_sock){ a->lost_socks[b], s->cookie, s->close_ns };
	a->lost_socks[b] = l;
	a->n_lost_socks++;
}

bool attr_lost_sock_end(struct attr *a, uint64_t cookie, uint64_t *end_ns)
{
	for (const struct lost_sock *l = a->lost_socks[attr_hash64(cookie)]; l; l = l->next)
		if (l->cookie == cookie) {
			if (end_ns)
				*end_ns = l->end_ns;
			return true;
		}
	return false;
}

bool attr_lost_sock(struct attr *a, uint64_t cookie)
{
	return attr_lost_sock_end(a, cookie, NULL);
}

/* Tuple @t leaves at the cap with an owner: its key is remembered (beyond
 * the bound, its time, as a loss window). */
static void remember_lost(struct attr *a, const struct tup_ent *t)
{
	uint32_t b = attr_hash_tup(&t->k);
	struct lost_ent *l;

	if (a->n_lost >= (a->max_tuples > MIN_LOST ? a->max_tuples : MIN_LOST) ||
	    !(l = malloc(sizeof(*l)))) {
		attr_note_loss(a, t->first_ns, t->last_ns);
		return;
	}
	*l = (struct lost_ent){ a->lost[b], t->k, t->netns, t->first_ns, t->last_ns };
	a->lost[b] = l;
	a->n_lost++;
}

bool attr_lost_key(struct attr *a, const struct tup_key *k, uint32_t b, uint64_t first_ms,
		   uint64_t last_ms)
{
	for (const struct lost_ent *l = a->lost[b]; l; l = l->next)
		if (!memcmp(&l->k, k, sizeof(*k)) && (l->netns == a->netns || !l->netns) &&
		    attr_to_real_ms(a, l->from_ns) <= last_ms + SLACK_MS &&
		    attr_to_real_ms(a, l->to_ns) + SLACK_MS >= first_ms)
			return true;
	return false;
}

static void attr_tup_evict_oldest(struct attr *a)
{
	struct tup_ent *victim = dlist_first_entry(&a->lru, struct tup_ent, lru);

	if (victim) {
		/* what goes with it is an owner: its socket's, or (the socket
		 * went first) a socket evicted with an owner; a socket no
		 * process held names nobody, nothing is lost */
		struct sock_ent *s = attr_tup_sock(a, victim);

		if (s ? s->owner.tgid != 0 : attr_lost_sock(a, victim->cookie))
			remember_lost(a, victim);
		attr_tup_remove(a, victim);
		a->evicted++;
	}
}

/* Tuples without a socket entry, unseen for the retention: from the front
 * of the orphan list (in the order they lost their socket, close to that
 * of their last sight: a younger one in front only delays the rest). */
void attr_purge_orphans(struct attr *a, uint64_t now)
{
	struct tup_ent *t;

	while ((t = dlist_first_entry(&a->orphans, struct tup_ent, orphan)) &&
	       t->last_ns + a->retain_ns < now)
		attr_tup_remove(a, t);
}

static void tup_link(struct tup_ent *t, struct sock_ent *s);

/*
 * Record that socket @cookie carries tuple @k.  The listener's record of a
 * handshake (@listener) stays apart from the accepted socket's own.
 */
struct tup_ent *attr_tup_add(struct attr *a, const struct tup_key *k, uint32_t b, bool local_a,
			       uint64_t netns, uint64_t cookie, uint64_t ts, bool listener,
			       struct sock_ent *sock)
{
	struct tup_ent *t;

	for (t = a->tups[b]; t; t = t->next) {
		struct sock_ent *s;

		/* both ends of a connection can be local, even in two namespaces */
		if (memcmp(&t->k, k, sizeof(*k)) || t->netns != netns || t->local_a != local_a)
			continue;
		s = attr_tup_sock(a, t);
		if (s && s->close_ns)
			break; /* ended: a new socket on the same tuple */
		if (t->cookie == cookie) {
			t->last_ns = ts;
			dlist_del(&t->lru);
			dlist_add_tail(&a->lru, &t->lru);
			if (!t->sock && sock && sock->cookie == cookie) {
				/* its socket is back in the table */
				t->sock_gone = false;
				dlist_del(&t->orphan);
				tup_link(t, sock);
			}
			return t;
		}
		break;
	}
	if (a->n_tups >= a->max_tuples)
		attr_tup_evict_oldest(a);
	t = flow_pool_alloc(a->tup_pool);
	if (!t)
		return NULL;
	t->k = *k;
	t->netns = netns;
	t->local_a = local_a;
	t->cookie = cookie;
	t->from_listener = listener;
	t->first_ns = t->last_ns = ts;
	t->next = a->tups[b];
	if (t->next)
		t->next->pprev = &t->next;
	t->pprev = &a->tups[b];
	a->tups[b] = t;
	a->n_tups++;
	dlist_add_tail(&a->lru, &t->lru);
	if (sock && sock->cookie == cookie)
		tup_link(t, sock);
	else if (!attr_tup_sock(a, t))
		dlist_add_tail(&a->orphans, &t->orphan);
	return t;
}

static void tup_link(struct tup_ent *t, struct sock_ent *s)
{
	t->sock = s;
	dlist_add_tail(&s->tups, &t->at_sock);
}

struct sock_ent *attr_tup_sock(struct attr *a, struct tup_ent *t)
{
	struct sock_ent *s;

	if (t->sock || !t->cookie || t->sock_gone)
		return t->sock;
	s = attr_sock_find(a, t->cookie);
	if (s) {
		dlist_del(&t->orphan);
		tup_link(t, s);
	}
	return s;
}

void attr_tup_remove(struct attr *a, struct tup_ent *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	attr_tup_free(a, t);
	a->n_tups--;
}

void attr_tup_free(struct attr *a, struct tup_ent *t)
{
	dlist_del(&t->lru);
	dlist_del(&t->orphan);
	dlist_del(&t->at_sock);
	flow_pool_free(a->tup_pool, t);
}

void attr_sock_closed(struct attr *a, struct sock_ent *s)
{
	if (dlist_linked(&s->closed) &&
	    (!s->close_ns || s->closed_kernel != attr_kernel_held(s)))
		dlist_del(&s->closed);
	if (s->close_ns && !dlist_linked(&s->closed)) {
		s->closed_kernel = attr_kernel_held(s);
		dlist_add_tail(s->closed_kernel ? &a->kernel_held : &a->closed, &s->closed);
	}
}

void attr_sock_free(struct attr *a, struct sock_ent *s)
{
	struct tup_ent *t;

	dlist_del(&s->closed);
	while ((t = dlist_first_entry(&s->tups, struct tup_ent, at_sock))) {
		dlist_del(&t->at_sock);
		t->sock = NULL;
		t->sock_gone = true;
		dlist_add_tail(&a->orphans, &t->orphan);
	}
	flow_pool_free(a->sock_pool, s);
}
