/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The captured interfaces, followed through rtnetlink's link notifications
 * (RTM_NEWLINK / RTM_DELLINK): which index each name has now, 0 while
 * there is no interface of that name.  An interface is followed by its
 * index: renaming it does not end it; deleting it (or moving it to another
 * network namespace) does, and the next interface created with its name is
 * its successor.  Live captures poll it from their loops and compare with
 * the index their handles are attached to.
 */
#ifndef FLOWSIGHT_IFWATCH_H
#define FLOWSIGHT_IFWATCH_H

#include <stddef.h>

struct ifwatch;

/*
 * Called by ifwatch_poll() when interface @i's index changes from @old to
 * @now (either may be 0: gone, back).
 */
typedef void (*ifwatch_fn)(void *arg, size_t i, int old, int now);

/*
 * Follow the @n interfaces @names (the strings must outlive the watch),
 * which the capture attached to at indexes @attached.  Once subscribed to
 * the notifications, each is looked up again, and @fn is called for what
 * changed since the capture attached: no change is missed.  0, or -errno
 * (logged).
 */
int ifwatch_open(const char *const *names, const int *attached, size_t n, ifwatch_fn fn,
		 void *arg, struct ifwatch **out);

/*
 * Take the pending notifications without waiting and call the watch's
 * function for each change.  Any thread; a call while another runs
 * returns at once.  Returns the number of changes.
 */
int ifwatch_poll(struct ifwatch *w);

/* Interface @i's index as last seen, 0 while it is gone.  Any thread. */
int ifwatch_ifindex(const struct ifwatch *w, size_t i);

/*
 * A number that changes whenever interface @i's index does, 0 at open:
 * an interface deleted and created again between two polls may get its
 * old index back (a veth moved in from another namespace keeps its own),
 * so captures compare this, not only the index.  Read it before the index.
 */
unsigned int ifwatch_gen(const struct ifwatch *w, size_t i);

const char *ifwatch_name(const struct ifwatch *w, size_t i);

void ifwatch_close(struct ifwatch *w);

#endif
