// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process attribution (attr.h): the session's view.  The tables live in
 * attr_tables.c, the kernel's records reach them through attr_events.c,
 * flows are joined in attr_join.c, the hooks are attr_bpf.c's and what the
 * host says is attr_host.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attr/attr_int.h"
#include "util/hugemap.h"
#include "util/log.h"

const char *const attr_how_names[FC_HOW_MAX] = {
#define HOW_NAME(name, label) label,
	FC_HOWS(HOW_NAME)
#undef HOW_NAME
};

/* struct attr is mostly its bucket arrays (40 MB of address space): in
 * huge pages, so that filling them costs a few faults, not thousands of
 * copy-on-write faults of the zero page, each flushing the TLBs of every
 * CPU the agent runs on (what perf showed in a fresh agent's first
 * seconds). */
static size_t attr_map_len(void)
{
	return (sizeof(struct attr) + HUGEMAP_PAGE - 1) / HUGEMAP_PAGE * HUGEMAP_PAGE;
}

static void attr_unmap(struct attr *a)
{
	munmap(a, attr_map_len());
}

/* The tables and their settings, no kernel side (attr_new_detached()). */
static struct attr *attr_alloc(const struct attr_opts *o)
{
	struct attr *a = huge_map(attr_map_len());

	if (!a)
		return NULL;
	a->sock_pool = flow_pool_new(sizeof(struct sock_ent));
	a->tup_pool = flow_pool_new(sizeof(struct tup_ent));
	if (!a->sock_pool || !a->tup_pool) {
		if (a->sock_pool)
			flow_pool_release(a->sock_pool);
		if (a->tup_pool)
			flow_pool_release(a->tup_pool);
		attr_unmap(a);
		return NULL;
	}
	dlist_init(&a->lru);
	dlist_init(&a->orphans);
	dlist_init(&a->closed);
	dlist_init(&a->kernel_held);
	pthread_mutex_init(&a->lock, NULL);
	a->retain_ns = (o->retain_ms ? o->retain_ms : 60000) * 1000000ull;
	a->o = *o;
	a->max_socks = attr_lowered_cap(o->max_sockets, MAX_SOCKS);
	a->max_tuples = attr_lowered_cap(o->max_tuples, MAX_TUPLES);
	a->mono_to_real_ns = attr_real_minus_mono();
	a->all_netns = o->all_netns;
	a->cg_fd = a->cgroot_fd = -1;
	a->loss_check_ns = attr_mono_ns();
	return a;
}

int attr_open(const struct attr_opts *o, struct attr **out)
{
	struct attr *a = attr_alloc(o);
	int err;

	if (!a)
		return -ENOMEM;
	a->netns = attr_our_netns();
	err = attr_bpf_start(a);
	if (!err) {
		err = -pthread_create(&a->thread, NULL, attr_event_thread, a);
		a->thread_started = !err;
	}
	if (err) {
		attr_close(a);
		return err;
	}
	*out = a;
	return 0;
}

struct attr *attr_new_detached(const struct attr_opts *o, uint64_t netns)
{
	struct attr *a = attr_alloc(o);

	if (a)
		a->netns = netns;
	return a;
}

void attr_feed(struct attr *a, const void *rec, size_t size)
{
	pthread_mutex_lock(&a->lock);
	attr_ringbuf_cb(a, (void *)rec, size);
	attr_flush_batch(a);
	pthread_mutex_unlock(&a->lock);
}

void attr_purge_all(struct attr *a)
{
	pthread_mutex_lock(&a->lock);
	attr_purge(a, 0, NBUCKETS);
	pthread_mutex_unlock(&a->lock);
}

/* The counters both reports show, read at once. */
struct attr_counts {
	unsigned long long events, lost, evicted, copies, copies_used, ambiguous;
	unsigned int socks, tups, procs;
};

static void counts(struct attr *a, struct attr_counts *c)
{
	pthread_mutex_lock(&a->lock);
	attr_check_loss(a);
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

void attr_get_stats(struct attr *a, struct attr_stats *st)
{
	struct attr_counts c;

	counts(a, &c);
	*st = (struct attr_stats){
		.events = c.events, .lost = c.lost, .evicted = c.evicted, .copies = c.copies,
		.copies_used = c.copies_used, .ambiguous = c.ambiguous, .sockets = c.socks,
		.tuples = c.tups, .processes = c.procs,
	};
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
	attr_bpf_stop(a);
	for (uint32_t b = 0; b < NBUCKETS; b++) {
		while (a->socks[b]) {
			struct sock_ent *s = a->socks[b];

			a->socks[b] = s->next;
			attr_sock_free(a, s);
		}
		while (a->tups[b]) {
			struct tup_ent *t = a->tups[b];

			a->tups[b] = t->next;
			attr_tup_free(a, t);
		}
		while (a->lost_socks[b]) {
			struct lost_sock *l = a->lost_socks[b];

			a->lost_socks[b] = l->next;
			free(l);
		}
		while (a->lost[b]) {
			struct lost_ent *l = a->lost[b];

			a->lost[b] = l->next;
			free(l);
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
	free(a->loss);
	if (a->cg_fd >= 0)
		close(a->cg_fd);
	if (a->cgroot_fd >= 0)
		close(a->cgroot_fd);
	flow_pool_release(a->sock_pool);
	flow_pool_release(a->tup_pool);
	pthread_mutex_destroy(&a->lock);
	attr_unmap(a);
}


void attr_splits(struct attr *a, uint64_t *cursor, attr_split_fn fn, void *arg)
{
	pthread_mutex_lock(&a->lock);
	attr_consume(a);
	if (a->n_splits - *cursor > N_SPLITS)
		*cursor = a->n_splits - N_SPLITS; /* older ones were overwritten */
	for (; *cursor < a->n_splits; (*cursor)++) {
		const struct tup_key *k = &a->splits[*cursor % N_SPLITS].k;

		fn(arg, k->a, k->pa, k->b, k->pb, k->protocol, k->ip_version,
		   attr_to_real_ms(a, a->splits[*cursor % N_SPLITS].at_ns));
	}
	pthread_mutex_unlock(&a->lock);
}
