// SPDX-License-Identifier: GPL-2.0-only
/*
 * libpcap live source of one meter: a handle per interface, non-blocking,
 * polled together.  Packets are copied out of libpcap's ring into a batch
 * arena (TPACKET_V3 hands a block back to the kernel as soon as its last
 * packet is dispatched, so its bytes cannot outlive the callback).  With
 * several meters each interface gets a PACKET_FANOUT hash group: the
 * kernel splits the traffic by flow, as NFStream's meters on Linux.
 */
#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "flowsight/flowsight.h"
#include "util/log.h"
#include "capture/source.h"

/*
 * TPACKET_V3 retires a partly filled block after this long, so a packet
 * waits at most about this much in the kernel ring on a quiet link.
 * NFStream uses 1000 ms; shorter keeps records and wall-clock expiry
 * prompt, and live.c keeps the meter clock behind the wall clock by more
 * than this.
 */
#define BUFFER_TIMEOUT_MS 50
#define POLL_MS 100
/*
 * An interface that went away: its handle is read on until this long has
 * passed since then and since its last packet.  The kernel retires a
 * partly filled ring block BUFFER_TIMEOUT_MS after its first packet, with
 * or without the device, so by then every packet it took is readable.
 */
#define GONE_GRACE_MS (4 * BUFFER_TIMEOUT_MS)
#define GONE_POLL_MS 10

enum if_state { IF_OPEN, IF_DYING, IF_CLOSED };

struct live_if {
	const char *name;
	pcap_t *p;
	int dlt;
	int ifindex;           /* the handle's, 0 when unknown */
	enum if_state state;
	uint64_t dying_ms;     /* when it was found gone */
	uint64_t last_frame_ms;
	bool closed_pending;   /* closed after going away: for source_live_take_closed() */
	struct source_stats closed; /* counters of its handles closed so far */
};

struct source_live {
	struct source base;
	struct live_if *ifs;
	struct pollfd *pfd;
	unsigned int n_ifs;
	unsigned int rr;       /* interface read first, rotated for fairness */
	bool count_ifdrop;     /* interface drops are per interface: meter 0 counts them */
	uint32_t snaplen;
	uint8_t *arena;        /* room for a batch of snaplen frames: only the used */
	size_t arena_bytes, used; /* part is touched, so the rest costs no memory */
	struct frame *batch;   /* the caller's array, during next() */
	int nb, max;
	int dlt;               /* of the interface being dispatched */
	uint16_t cur;          /* the interface being dispatched */
	const struct fs_options *opts;
	unsigned int n_meters;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The index of the interface @p's packet socket is bound to, or 0. */
static int handle_ifindex(pcap_t *p)
{
	struct sockaddr_ll sll;
	socklen_t len = sizeof(sll);

	if (getsockname(pcap_fileno(p), (struct sockaddr *)&sll, &len) || sll.sll_family != AF_PACKET)
		return 0;
	return sll.sll_ifindex;
}

static int cannot(const char *ifname, const char *cause, int err)
{
	pr_warn("cannot capture on '%s': %s\n", ifname, cause);
	return err;
}

/* One line for a failed pcap_activate(), with the capability it lacks. */
static int activate_error(const char *ifname, pcap_t *p, int rc)
{
	const char *detail = pcap_geterr(p);

	switch (rc) {
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return cannot(ifname, "no such interface", -ENODEV);
	case PCAP_ERROR_PERM_DENIED:
		return cannot(ifname, "permission denied: packet capture needs CAP_NET_RAW "
			      "(run as root or grant it)", -EPERM);
	case PCAP_ERROR_PROMISC_PERM_DENIED:
		return cannot(ifname, "permission denied for promiscuous mode: needs "
			      "CAP_NET_ADMIN, or use --promiscuous-mode 0", -EPERM);
	case PCAP_ERROR_IFACE_NOT_UP:
		return cannot(ifname, "interface is down", -ENETDOWN);
	default:
		pr_warn("cannot capture on '%s': %s%s%s\n", ifname, pcap_statustostr(rc),
			*detail ? ": " : "", detail);
		return -EIO;
	}
}

/* Settings before activation; a failure names the step as NFStream does (spec §2). */
static int configure(pcap_t *p, const struct fs_options *c, const char *ifname)
{
	int rc;

	if (c->socket_buffer_size) {
		rc = pcap_set_buffer_size(p, (int)c->socket_buffer_size);
		if (rc)
			return cannot(ifname, pcap_statustostr(rc), -EINVAL);
	}
	if (pcap_set_timeout(p, BUFFER_TIMEOUT_MS))
		return cannot(ifname, "Unable to set buffer timeout.", -EINVAL);
	if (pcap_set_promisc(p, c->promiscuous_mode))
		return cannot(ifname, "Unable to set promisc mode.", -EINVAL);
	if (pcap_set_snaplen(p, (int)c->snapshot_length))
		return cannot(ifname, "Unable to set snaplen.", -EINVAL);
	return 0;
}

/*
 * Join the interface's fanout group.  HASH is the kernel's symmetric flow
 * hash, so both directions of a flow reach one meter; DEFRAG reassembles
 * IPv4 fragments first so they hash like the whole datagram.
 */
static int join_fanout(pcap_t *p, const char *ifname, unsigned int if_index, int successor)
{
	/* an interface's successor gets a group of its own: the handles of
	 * the one that went away may still hold the first (for its grace) */
	unsigned int group = (unsigned int)getpid() + if_index + (unsigned int)successor * 0x9e37u;
	int arg = (int)(group & 0xffff) | ((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16);

	if (setsockopt(pcap_fileno(p), SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg))) {
		int err = -errno;

		pr_warn("cannot capture on '%s': Unable to setup fanout mode. (%s)\n", ifname,
			strerror(-err));
		return err;
	}
	return 0;
}

/* Same compilation as offline (optimised, netmask 255.255.255.0, as NFStream). */
static int set_filter(pcap_t *p, const char *ifname, const char *expr)
{
	struct bpf_program prog;
	int rc;

	if (pcap_compile(p, &prog, expr, 1, 0xffffff00) < 0) {
		pr_warn("Unable to compile BPF filter.\n");
		pr_info("'%s': %s\n", expr, pcap_geterr(p));
		return SOURCE_EFILTER;
	}
	rc = pcap_setfilter(p, &prog);
	pcap_freecode(&prog);
	if (rc < 0) {
		pr_warn("cannot capture on '%s': cannot set the filter: %s\n", ifname,
			pcap_geterr(p));
		return -EINVAL;
	}
	return 0;
}

/* @successor: 0 at start, else the index of the interface that replaced
 * the one that went away (--wait-interface); its transient failures (not
 * there yet, not up yet) are -EAGAIN, not logged. */
static int open_if(struct live_if *li, const struct fs_options *c, unsigned int n_meters,
		   unsigned int if_index, int successor)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	int rc, err;

	li->name = c->interfaces[if_index];
	li->p = pcap_create(li->name, errbuf);
	if (!li->p)
		return cannot(li->name, errbuf, -ENODEV);
	err = configure(li->p, c, li->name);
	if (err)
		return err;
	rc = pcap_activate(li->p);
	if (rc < 0 && successor &&
	    (rc == PCAP_ERROR_NO_SUCH_DEVICE || rc == PCAP_ERROR_IFACE_NOT_UP))
		return -EAGAIN;
	if (rc < 0)
		return activate_error(li->name, li->p, rc);
	if (rc > 0)
		pr_warn("capture on '%s': %s\n", li->name, pcap_statustostr(rc));
	li->dlt = pcap_datalink(li->p);
	if (!decode_dlt_supported(li->dlt)) {
		const char *dn = pcap_datalink_val_to_name(li->dlt);

		pr_warn("cannot capture on '%s': unsupported link type %d (%s)\n", li->name,
			li->dlt, dn ? dn : "unknown");
		return -EPROTONOSUPPORT;
	}
	if (n_meters > 1) {
		err = join_fanout(li->p, li->name, if_index, successor);
		if (err)
			return err;
	}
	if (c->bpf_filter) {
		err = set_filter(li->p, li->name, c->bpf_filter);
		if (err)
			return err;
	}
	if (pcap_setnonblock(li->p, 1, errbuf) < 0)
		return cannot(li->name, errbuf, -EIO);
	li->ifindex = handle_ifindex(li->p);
	li->state = IF_OPEN;
	li->last_frame_ms = 0;
	return 0;
}

/* Has the interface of @li's handle gone away (deleted, or moved to
 * another namespace)? */
static bool if_gone(const struct live_if *li)
{
	/* the kernel unbinds the packet socket from a device it unregisters
	 * (index -1), even when another device of that name and index came
	 * meanwhile */
	return li->ifindex && (handle_ifindex(li->p) != li->ifindex ||
			       (int)if_nametoindex(li->name) != li->ifindex);
}

static void add_stats(struct source_stats *st, pcap_t *p, bool ifdrop)
{
	struct pcap_stat ps;

	if (pcap_stats(p, &ps))
		return;
	st->recv += ps.ps_recv;
	st->drop += ps.ps_drop;
	if (ifdrop)
		st->ifdrop += ps.ps_ifdrop;
}

static void close_if(struct source_live *s, unsigned int i)
{
	struct live_if *li = &s->ifs[i];

	if (li->p) {
		add_stats(&li->closed, li->p, s->count_ifdrop);
		pcap_close(li->p);
		li->p = NULL;
	}
	s->pfd[i].fd = -1;
	li->state = IF_CLOSED;
	li->closed_pending = true;
}

static void mark_dying(struct source_live *s, unsigned int i)
{
	struct live_if *li = &s->ifs[i];

	if (li->state != IF_OPEN)
		return;
	li->state = IF_DYING;
	li->dying_ms = mono_ms();
	s->pfd[i].fd = -1; /* its POLLERR would not let poll() wait: read on a timer */
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	struct source_live *s = (struct source_live *)user;
	uint32_t caplen = h->caplen < s->snaplen ? h->caplen : s->snaplen;
	struct frame *f;

	/* dispatch() asked for no more packets than fit */
	if (s->nb >= s->max || s->arena_bytes - s->used < caplen)
		return;
	f = &s->batch[s->nb++];
	memcpy(s->arena + s->used, data, caplen);
	f->dlt = s->dlt;
	f->iface = s->cur;
	f->data = s->arena + s->used;
	f->caplen = caplen;
	f->len = h->len;
	f->time_ms = (uint64_t)h->ts.tv_sec * 1000 + (uint64_t)h->ts.tv_usec / 1000;
	f->time_us = (uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec;
	s->used += caplen;
}

/* Take what is ready on every interface, without waiting. */
static int dispatch(struct source_live *s)
{
	uint64_t now = 0;

	for (unsigned int k = 0; k < s->n_ifs && s->nb < s->max; k++) {
		unsigned int i = (s->rr + k) % s->n_ifs;
		struct live_if *li = &s->ifs[i];
		int want = s->max - s->nb, before = s->nb, r;

		if (li->state == IF_CLOSED)
			continue;
		s->dlt = li->dlt;
		s->cur = (uint16_t)i;
		r = pcap_dispatch(li->p, want, on_packet, (u_char *)s);
		if (r < 0 && li->state == IF_OPEN && !if_gone(li)) {
			pr_warn("capture on '%s' failed: %s\n", li->name, pcap_geterr(li->p));
			return -EIO;
		}
		if (r < 0)
			mark_dying(s, i); /* it went away: what the ring holds is read on */
		if (li->state != IF_DYING)
			continue;
		if (!now)
			now = mono_ms();
		if (s->nb > before)
			li->last_frame_ms = now;
		if (now - li->dying_ms >= GONE_GRACE_MS && now - li->last_frame_ms >= GONE_GRACE_MS)
			close_if(s, i);
	}
	s->rr = (s->rr + 1) % s->n_ifs;
	return 0;
}

static bool any_dying(const struct source_live *s)
{
	for (unsigned int i = 0; i < s->n_ifs; i++)
		if (s->ifs[i].state == IF_DYING)
			return true;
	return false;
}

/* A batch of @max frames always fits: fewer means the rings are empty. */
static int reserve_arena(struct source_live *s, int max)
{
	size_t need = (size_t)max * s->snaplen;
	uint8_t *a;

	if (s->arena_bytes >= need)
		return 0;
	a = realloc(s->arena, need);
	if (!a) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	s->arena = a;
	s->arena_bytes = need;
	return 0;
}

static int src_next(struct source *base, struct frame *f, int max)
{
	struct source_live *s = (struct source_live *)base;
	int err = reserve_arena(s, max);

	if (err)
		return err;
	s->batch = f;
	s->max = max;
	s->nb = 0;
	s->used = 0;
	err = dispatch(s);
	if (err || s->nb)
		return err ? err : s->nb;
	if (poll(s->pfd, s->n_ifs, any_dying(s) ? GONE_POLL_MS : POLL_MS) < 0 && errno != EINTR) {
		err = -errno;
		pr_warn("cannot wait for packets: %s\n", strerror(-err));
		return err;
	}
	err = dispatch(s);
	if (err)
		return err;
	return s->nb ? s->nb : -EAGAIN;
}

/* Interface @i's kernel counters as this meter's handles saw them: those
 * closed when it went away and the open one (never decreasing). */
static void src_if_stats(struct source *base, unsigned int i, struct source_stats *st)
{
	struct source_live *s = (struct source_live *)base;

	memset(st, 0, sizeof(*st));
	if (i >= s->n_ifs)
		return;
	*st = s->ifs[i].closed;
	if (s->ifs[i].p)
		add_stats(st, s->ifs[i].p, s->count_ifdrop);
}

static void src_stats(struct source *base, struct source_stats *st)
{
	struct source_live *s = (struct source_live *)base;

	memset(st, 0, sizeof(*st));
	for (unsigned int i = 0; i < s->n_ifs; i++) {
		struct source_stats one;

		src_if_stats(base, i, &one);
		st->recv += one.recv;
		st->drop += one.drop;
		st->ifdrop += one.ifdrop;
	}
}

static void src_close(struct source *base)
{
	struct source_live *s = (struct source_live *)base;

	for (unsigned int i = 0; i < s->n_ifs; i++)
		if (s->ifs[i].p)
			pcap_close(s->ifs[i].p);
	free(s->ifs);
	free(s->pfd);
	free(s->arena);
	free(s);
}

int source_live_dlt(struct source *base, unsigned int i)
{
	struct source_live *s = (struct source_live *)base;

	return i < s->n_ifs ? s->ifs[i].dlt : 1;
}

static const struct source_ops live_ops = {
	.name = "pcap-live",
	.next = src_next,
	.stats = src_stats,
	.if_stats = src_if_stats,
	.close = src_close,
};

int source_live_open(const struct fs_options *c, unsigned int n_meters, unsigned int meter,
		     struct source **out)
{
	struct source_live *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;

	if (!s) {
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	s->base.ops = &live_ops;
	s->opts = c;
	s->n_meters = n_meters;
	s->n_ifs = (unsigned int)c->n_interfaces;
	s->count_ifdrop = meter == 0;
	s->snaplen = (uint32_t)c->snapshot_length;
	s->ifs = calloc(s->n_ifs, sizeof(*s->ifs));
	s->pfd = calloc(s->n_ifs, sizeof(*s->pfd));
	if (!s->ifs || !s->pfd)
		goto out_close;
	for (unsigned int i = 0; i < s->n_ifs; i++) {
		err = open_if(&s->ifs[i], c, n_meters, i, 0);
		if (err)
			goto out_close;
		s->pfd[i].fd = pcap_get_selectable_fd(s->ifs[i].p);
		s->pfd[i].events = POLLIN;
	}
	*out = &s->base;
	return 0;

out_close:
	if (err == -ENOMEM)
		pr_warn("out of memory\n");
	src_close(&s->base);
	return err;
}

int source_live_ifindex(struct source *base, unsigned int i)
{
	struct source_live *s = (struct source_live *)base;

	return s->ifs[i].state == IF_OPEN ? s->ifs[i].ifindex : 0;
}

bool source_live_closed(struct source *base, unsigned int i)
{
	return ((struct source_live *)base)->ifs[i].state == IF_CLOSED;
}

void source_live_gone(struct source *base, unsigned int i)
{
	mark_dying((struct source_live *)base, i);
}

bool source_live_dying(struct source *base)
{
	return any_dying((struct source_live *)base);
}

int source_live_take_closed(struct source *base)
{
	struct source_live *s = (struct source_live *)base;

	for (unsigned int i = 0; i < s->n_ifs; i++)
		if (s->ifs[i].closed_pending) {
			s->ifs[i].closed_pending = false;
			return (int)i;
		}
	return -1;
}

int source_live_reopen(struct source *base, unsigned int i, int successor)
{
	struct source_live *s = (struct source_live *)base;
	struct live_if *li = &s->ifs[i];
	int err;

	if (li->state != IF_CLOSED)
		return 0;
	err = open_if(li, s->opts, s->n_meters, i, successor);
	if (err) {
		if (li->p)
			pcap_close(li->p);
		li->p = NULL;
		li->state = IF_CLOSED;
		return err == SOURCE_EFILTER ? -EINVAL : err;
	}
	s->pfd[i].fd = pcap_get_selectable_fd(li->p);
	s->pfd[i].events = POLLIN;
	return 0;
}
