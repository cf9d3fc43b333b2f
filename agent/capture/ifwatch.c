// SPDX-License-Identifier: GPL-2.0-only
/*
 * Link notifications on an rtnetlink socket (group RTMGRP_LINK), read
 * without blocking from the captures' loops.  When the socket overflowed
 * (ENOBUFS: notifications were lost) every interface is looked up again.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture/ifwatch.h"
#include "util/log.h"

struct ifwatch {
	const char *const *names;
	size_t n;
	int *ifindex; /* atomic */
	unsigned int *gen; /* atomic: bumped at each change */
	int fd;
	ifwatch_fn fn;
	void *arg;
	pthread_mutex_t lock; /* one poller at a time */
};

static void set_index(struct ifwatch *w, size_t i, int now)
{
	int old = __atomic_load_n(&w->ifindex[i], __ATOMIC_RELAXED);

	if (old == now)
		return;
	__atomic_store_n(&w->ifindex[i], now, __ATOMIC_RELEASE);
	__atomic_add_fetch(&w->gen[i], 1, __ATOMIC_RELEASE);
	if (w->fn)
		w->fn(w->arg, i, old, now);
}

/* After lost notifications, and once at open: each interface as it is now. */
static int resync(struct ifwatch *w)
{
	char name[IF_NAMESIZE];
	int changes = 0;

	for (size_t i = 0; i < w->n; i++) {
		int cur = w->ifindex[i];

		/* still there (by any name): still followed */
		if (cur && !if_indextoname((unsigned int)cur, name)) {
			set_index(w, i, 0);
			changes++;
			cur = 0;
		}
		if (!cur) {
			int now = (int)if_nametoindex(w->names[i]);

			if (now) {
				set_index(w, i, now);
				changes++;
			}
		}
	}
	return changes;
}

static int on_link(struct ifwatch *w, const struct nlmsghdr *nh)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = (int)IFLA_PAYLOAD(nh), changes = 0;
	const char *name = NULL;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_IFNAME && RTA_PAYLOAD(a) > 0 &&
		    ((const char *)RTA_DATA(a))[RTA_PAYLOAD(a) - 1] == '\0')
			name = RTA_DATA(a);
	for (size_t i = 0; i < w->n; i++) {
		int cur = w->ifindex[i];

		if (nh->nlmsg_type == RTM_DELLINK && cur == ifi->ifi_index) {
			set_index(w, i, 0);
			changes++;
		} else if (nh->nlmsg_type == RTM_NEWLINK && !cur && name &&
			   !strcmp(name, w->names[i])) {
			set_index(w, i, ifi->ifi_index);
			changes++;
		}
	}
	return changes;
}

int ifwatch_poll(struct ifwatch *w)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int changes = 0;

	if (pthread_mutex_trylock(&w->lock))
		return 0;
	for (;;) {
		ssize_t r = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		unsigned int len = (unsigned int)r;

		if (r < 0) {
			if (errno == ENOBUFS) {
				changes += resync(w);
				continue;
			}
			break; /* EAGAIN: nothing more */
		}
		for (const struct nlmsghdr *nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len))
			if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK)
				changes += on_link(w, nh);
	}
	pthread_mutex_unlock(&w->lock);
	return changes;
}

int ifwatch_open(const char *const *names, const int *attached, size_t n, ifwatch_fn fn,
		 void *arg, struct ifwatch **out)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int rcvbuf = 1 << 20;
	struct ifwatch *w = calloc(1, sizeof(*w));
	int err;

	if (w) {
		w->ifindex = calloc(n ? n : 1, sizeof(*w->ifindex));
		w->gen = calloc(n ? n : 1, sizeof(*w->gen));
	}
	if (!w || !w->ifindex || !w->gen) {
		if (w) {
			free(w->ifindex);
			free(w->gen);
		}
		free(w);
		pr_warn("out of memory\n");
		return -ENOMEM;
	}
	w->names = names;
	w->n = n;
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		pr_warn("cannot follow the interfaces (rtnetlink): %s\n", strerror(-err));
		ifwatch_close(w);
		return err;
	}
	/* a burst of link changes (a container starting) fits; beyond, resync */
	setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	for (size_t i = 0; i < n; i++)
		w->ifindex[i] = attached[i];
	/* subscribed: what changed since the capture attached is seen now */
	resync(w);
	*out = w;
	return 0;
}

int ifwatch_ifindex(const struct ifwatch *w, size_t i)
{
	return __atomic_load_n(&w->ifindex[i], __ATOMIC_ACQUIRE);
}

unsigned int ifwatch_gen(const struct ifwatch *w, size_t i)
{
	return __atomic_load_n(&w->gen[i], __ATOMIC_ACQUIRE);
}

const char *ifwatch_name(const struct ifwatch *w, size_t i)
{
	return w->names[i];
}

void ifwatch_close(struct ifwatch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	pthread_mutex_destroy(&w->lock);
	free(w->ifindex);
	free(w->gen);
	free(w);
}
