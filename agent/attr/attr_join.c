// SPDX-License-Identifier: GPL-2.0-only
/*
 * The join: which process owns a flow.  The exact 5-tuple inside its
 * socket's lifetime (plus a grace period), else the early copy taken a
 * second into the flow, else a server's pattern (the exact peer of an
 * unconnected socket, then a bound port); a stale tuple never matches.
 */
#include <netinet/in.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr/attr_int.h"
#include "util/log.h"

/* ---- the join ---------------------------------------------------------- */

struct owner_pick {
	const struct fc_proc *owner;
	uint8_t how;
	uint32_t others;
};

static bool attr_valid_for(struct attr *a, struct tup_ent *t, uint64_t first_ms, uint64_t last_ms)
{
	struct sock_ent *s = attr_tup_sock(a, t);

	if (attr_to_real_ms(a, t->first_ns) > last_ms + SLACK_MS)
		return false; /* a later socket on the same tuple */
	if (s && s->close_ns && attr_to_real_ms(a, s->close_ns) + GRACE_MS < first_ms)
		return false; /* ended before the flow began: stale */
	if (t->cookie && !s && t->last_ns + a->retain_ns < attr_mono_ns())
		return false; /* its socket was purged; the tuple awaits its slice */
	return true;
}

/* @t is a socket of our namespace. */
static bool attr_tup_ours(const struct attr *a, const struct tup_ent *t)
{
	return t->netns == a->netns;
}

/* The owner of socket @s, which carries @t. */
static void attr_take_socket(struct owner_pick *out, const struct tup_ent *t, const struct sock_ent *s)
{
	out->owner = &s->owner;
	out->how = t->from_listener ? FC_HOW_LISTENER : s->how == FC_HOW_CREATE ? FC_HOW_SEND : s->how;
	out->others = s->others;
}

/*
 * Of the owned sockets that carried tuple @k during the flow, its creator:
 * the first to use the tuple among those still open when the flow began
 * (else, all having closed just before, within the grace, the newest).  A
 * later process whose socket reused the 5-tuple inside the same flow (a
 * fixed UDP port with SO_REUSEADDR, a TCP port reused after TIME_WAIT)
 * is counted in others, never named.
 */
static bool attr_pick_creator(struct attr *a, const struct tup_key *k, uint32_t b,
			      uint64_t first_ms, uint64_t last_ms, int end, struct owner_pick *out)
{
	const struct tup_ent *best = NULL, *newest = NULL, *lost = NULL;
	const struct sock_ent *best_s = NULL, *newest_s = NULL;
	uint32_t seen[8], n_seen = 0, others = 0;

	for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
		const struct sock_ent *s;
		uint64_t lost_end;

		if (memcmp(&t->k, k, sizeof(*k)) || !attr_tup_ours(a, t) ||
		    (end >= 0 && t->local_a != end) || !attr_valid_for(a, t, first_ms, last_ms))
			continue;
		s = attr_tup_sock(a, t);
		/* a socket evicted with its owner that was open when the flow
		 * began: the first of those may be the flow's creator */
		if (!s && t->cookie && !t->from_listener &&
		    attr_lost_sock_end(a, t->cookie, &lost_end) &&
		    attr_to_real_ms(a, lost_end) + GRACE_MS >= first_ms &&
		    (!lost || t->first_ns < lost->first_ns))
			lost = t;
		if (!s || !s->owner.tgid)
			continue;
		/* the list is newest first; a listener's record of the handshake
		 * (SYN-ACK) names the connection only when its own socket is
		 * not known */
		if (!newest || (newest->from_listener && !t->from_listener)) {
			newest = t;
			newest_s = s;
		}
		if (s->close_ns && attr_to_real_ms(a, s->close_ns) < first_ms)
			continue; /* closed before the flow's first packet */
		if (!best || (best->from_listener && !t->from_listener) ||
		    (best->from_listener == t->from_listener && t->first_ns < best->first_ns)) {
			best = t;
			best_s = s;
		}
	}
	if (!best) {
		best = newest;
		best_s = newest_s;
	}
	if (lost && (!best || best->from_listener || lost->first_ns <= best->first_ns)) {
		/* whose the flow is left the tables with that socket: never a
		 * later user of the 5-tuple */
		out->owner = NULL;
		out->how = FC_HOW_LOST;
		out->others = 0;
		return true;
	}
	if (!best)
		return false;
	/* the other processes that used the tuple during the flow */
	for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
		const struct sock_ent *s;
		bool dup = false;

		if (t == best || t->from_listener || memcmp(&t->k, k, sizeof(*k)) || !attr_tup_ours(a, t) ||
		    t->local_a != best->local_a || !attr_valid_for(a, t, first_ms, last_ms))
			continue;
		s = attr_tup_sock(a, t);
		/* it used the tuple while the flow lasted (no slack here: one
		 * that began after the flow's last packet carried none of it) */
		if (!s || !s->owner.tgid || s->owner.tgid == best_s->owner.tgid ||
		    (s->close_ns && attr_to_real_ms(a, s->close_ns) < first_ms) ||
		    attr_to_real_ms(a, t->first_ns) > last_ms)
			continue;
		for (uint32_t i = 0; i < n_seen; i++)
			dup = dup || seen[i] == s->owner.tgid;
		if (dup)
			continue;
		if (n_seen < 8)
			seen[n_seen++] = s->owner.tgid;
		others++;
	}
	attr_take_socket(out, best, best_s);
	out->others += others;
	return true;
}

/*
 * The owner under @k (bucket @b: attr_hash_tup()) for a flow seen [first_ms,
 * last_ms], among our namespace's sockets: the creator (attr_pick_creator())
 * on the end that sent the flow's first packet (@src_a: whether that is
 * end a of an exact key; -1 for a pattern, whose local end is a), else on
 * the other end (both ends of a loopback connection are ours: the client
 * names it, and the server's socket is not another user of it), else a
 * socket the kernel holds, or one whose owner was lost at a cap.
 */
static bool attr_pick(struct attr *a, const struct tup_key *k, uint32_t b, uint64_t first_ms,
		 uint64_t last_ms, int src_a, struct owner_pick *out)
{
	if (attr_pick_creator(a, k, b, first_ms, last_ms, src_a, out) ||
	    (src_a >= 0 && attr_pick_creator(a, k, b, first_ms, last_ms, !src_a, out)))
		return true;
	for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
		struct sock_ent *s;

		if (memcmp(&t->k, k, sizeof(*k)) || !attr_tup_ours(a, t) ||
		    !attr_valid_for(a, t, first_ms, last_ms))
			continue;
		s = attr_tup_sock(a, t);
		if ((s && s->how == FC_HOW_KERNEL) || (!s && t->kernel_held)) {
			out->owner = NULL; /* the kernel's own socket: no process */
			out->how = FC_HOW_KERNEL;
			out->others = 0;
			return true;
		}
		if (!s && t->cookie && attr_lost_sock(a, t->cookie)) {
			/* its socket left the tables at the cap: whose it was is lost */
			out->owner = NULL;
			out->how = FC_HOW_LOST;
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
 * before the other.  Sockets of several namespaces on the same end mean the same
 * addresses are in use in each of them, and nothing says which one this
 * flow crossed: nobody is named.
 */
static enum foreign_pick attr_pick_foreign(struct attr *a, const struct tup_key *k, uint32_t b,
				      bool src_a, uint64_t first_ms, uint64_t last_ms,
				      struct owner_pick *out)
{
	for (int end = 0; end < 2; end++) {
		bool want_a = end == 0 ? src_a : !src_a;
		uint64_t netns = 0;

		for (struct tup_ent *t = a->tups[b]; t; t = t->next) {
			struct sock_ent *s;

			if (memcmp(&t->k, k, sizeof(*k)) || attr_tup_ours(a, t) || t->local_a != want_a ||
			    !attr_valid_for(a, t, first_ms, last_ms))
				continue;
			s = attr_tup_sock(a, t);
			if (!(s && s->owner.tgid))
				continue;
			if (netns && netns != t->netns)
				return FP_AMBIGUOUS;
			if (netns)
				continue;
			netns = t->netns;
			attr_take_socket(out, t, s);
		}
		if (netns)
			return FP_FOUND;
	}
	return FP_NONE;
}

static void attr_fill(struct attr *a, const struct owner_pick *o, struct proc_info *r)
{
	const struct fc_proc *p = o->owner;
	struct proc_ent *pe;
	size_t j = 0;

	if (!p) {
		r->how = attr_how_names[o->how < FC_HOW_MAX ? o->how : 0];
		return;
	}
	pe = attr_proc_of_owner(a, p);

	r->pid = p->tgid;
	r->ppid = p->ppid;
	r->uid = p->uid;
	r->start_ms = p->start_ns ? (int64_t)attr_to_real_ms(a, p->start_ns) : -1;
	r->cgroup_id = (int64_t)p->cgroup_id;
	r->others = o->others;
	r->how = attr_how_names[o->how < FC_HOW_MAX ? o->how : 0];
	snprintf(r->name, sizeof(r->name), "%.*s", FC_COMM_LEN, p->comm);
	attr_user_name(a, p->uid, r->user, sizeof(r->user));
	if (pe && pe->have_exe) {
		snprintf(r->exe, sizeof(r->exe), "%s", pe->exe);
		for (uint32_t i = 0; i < pe->args_len && j + 1 < sizeof(r->cmdline); i++)
			r->cmdline[j++] = pe->args[i] ? pe->args[i] : ' ';
		while (j && r->cmdline[j - 1] == ' ')
			j--;
		r->cmdline[j] = 0;
	}
	attr_container_of(a, p->cgroup_id, r->container_id, sizeof(r->container_id));
}

enum find_res { FIND_NONE, FIND_FOUND, FIND_AMBIGUOUS };

/* The owner of @f's exact 5-tuple: ours, then (when asked) other
 * namespaces'. */
static enum find_res attr_find_exact(struct attr *a, const struct flow *f, struct owner_pick *o)
{
	struct tup_key k;
	bool src_a = attr_tup_exact_key(&k, f->src_ip, f->src_port, f->dst_ip, f->dst_port,
				   f->protocol, f->ip_version);
	uint32_t b = attr_hash_tup(&k);
	enum foreign_pick fp;

	if (attr_pick(a, &k, b, f->first_seen_ms, f->last_seen_ms, src_a, o))
		return FIND_FOUND;
	if (!a->all_netns)
		return FIND_NONE;
	fp = attr_pick_foreign(a, &k, b, src_a, f->first_seen_ms, f->last_seen_ms, o);
	return fp == FP_AMBIGUOUS ? FIND_AMBIGUOUS : fp == FP_FOUND ? FIND_FOUND : FIND_NONE;
}

/* The owner of @f from the patterns of servers: the exact peer of a
 * socket bound to every address, then a bound port. */
/* The pattern keys a flow of @f may match, most exact first: the exact peer
 * of a socket bound to every local address, then a bound port on its
 * address, on every address, and (IPv4) on a dual-stack "::".  @fn decides;
 * true stops at that key (*@bound: it was a bound port). */
static bool attr_pattern_keys(const struct flow *f, bool (*fn)(const struct tup_key *k, void *arg),
			      void *arg, bool *bound)
{
	const uint8_t *ends[2] = { f->src_ip, f->dst_ip };
	const uint16_t ports[2] = { f->src_port, f->dst_port };
	struct tup_key k;

	*bound = false;
	if (f->protocol != IPPROTO_TCP && f->protocol != IPPROTO_UDP)
		return false;
	for (int side = 0; side < 2; side++) {
		memset(&k, 0, sizeof(k));
		k.pa = ports[side];
		memcpy(k.b, ends[!side], 16);
		k.pb = ports[!side];
		k.protocol = f->protocol;
		k.ip_version = f->ip_version;
		k.flags = FC_TF_LOCAL_ANY;
		if (fn(&k, arg))
			return true;
	}
	*bound = true;
	for (int side = 0; side < 2; side++) {
		for (int any = 0; any < 2; any++) {
			memset(&k, 0, sizeof(k));
			if (!any)
				memcpy(k.a, ends[side], 16);
			k.pa = ports[side];
			k.protocol = f->protocol;
			k.ip_version = f->ip_version;
			k.flags = FC_TF_REMOTE_ANY | (any ? FC_TF_LOCAL_ANY : 0);
			if (fn(&k, arg))
				return true;
			if (any && f->ip_version == 4) {
				k.ip_version = 6;
				if (fn(&k, arg))
					return true;
			}
		}
	}
	return false;
}

struct key_query {
	struct attr *a;
	const struct flow *f;
	struct owner_pick *o;
};

static bool pick_key(const struct tup_key *k, void *arg)
{
	struct key_query *q = arg;

	return attr_pick(q->a, k, attr_hash_tup(k), q->f->first_seen_ms, q->f->last_seen_ms, -1, q->o);
}

static bool lost_key(const struct tup_key *k, void *arg)
{
	struct key_query *q = arg;

	return attr_lost_key(q->a, k, attr_hash_tup(k), q->f->first_seen_ms, q->f->last_seen_ms);
}

static bool attr_find_pattern(struct attr *a, const struct flow *f, struct owner_pick *o)
{
	struct key_query q = { a, f, o };
	bool bound, found = attr_pattern_keys(f, pick_key, &q, &bound);

	/* the bound port of a listener is the listener's, by label */
	if (found && bound && o->owner && f->protocol == IPPROTO_TCP)
		o->how = FC_HOW_LISTENER;
	return found;
}

/* A tuple @f would have matched left the tables at their cap. */
static bool attr_find_lost(struct attr *a, const struct flow *f)
{
	struct key_query q = { a, f, NULL };
	struct tup_key k;
	bool bound;

	attr_tup_exact_key(&k, f->src_ip, f->src_port, f->dst_ip, f->dst_port, f->protocol,
			   f->ip_version);
	return lost_key(&k, &q) || attr_pattern_keys(f, lost_key, &q, &bound);
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
	attr_consume(a); /* what happened up to now */
	res = attr_find_exact(a, f, &o);
	if (res == FIND_NONE && attr_find_pattern(a, f, &o))
		res = FIND_FOUND;
	/* an owner already lost is nothing to copy */
	if (res == FIND_FOUND && o.how != FC_HOW_LOST && (c = calloc(1, sizeof(*c)))) {
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
	bool found, lost;

	proc_info_none(r);
	if (!a || (f->ip_version != 4 && f->ip_version != 6))
		return;
	pthread_mutex_lock(&a->lock);
	attr_consume(a); /* what happened up to now */
	/* the socket's own tuple if still held, else the early copy, else a
	 * server's pattern */
	res = attr_find_exact(a, f, &o);
	if (res == FIND_AMBIGUOUS) {
		a->ambiguous++;
		pthread_mutex_unlock(&a->lock);
		return;
	}
	/* a tuple whose socket left the tables names nobody: the copy, taken
	 * while the socket was there, does */
	lost = res == FIND_FOUND && o.how == FC_HOW_LOST;
	found = res == FIND_FOUND && !lost;
	if (!found && c) {
		o.owner = c->has_owner ? &c->owner : NULL;
		o.how = c->how;
		o.others = c->others;
		found = true;
		a->copies_used++;
	}
	if (!found && !lost)
		found = attr_find_pattern(a, f, &o);
	if (found && o.how == FC_HOW_LOST)
		found = false, lost = true;
	if (!found && (lost || attr_find_lost(a, f))) {
		r->how = attr_how_names[FC_HOW_LOST];
	} else if (found) {
		attr_fill(a, &o, r);
	} else {
		attr_refresh_local(a);
		/* the local kernel sent packets of a flow no socket owns */
		if (attr_is_local(a, f->src_ip, f->ip_version) ||
		    (f->dir_packets[1] && attr_is_local(a, f->dst_ip, f->ip_version))) {
			uint64_t first = f->first_seen_ms, last = f->last_seen_ms;

			r->how = attr_how_names[FC_HOW_KERNEL];
			/* a lost record may have named it: say so, do not guess */
			if (attr_lost_between(a, first, last))
				r->how = attr_how_names[FC_HOW_LOST];
		}
	}
	pthread_mutex_unlock(&a->lock);
}
