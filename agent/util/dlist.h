/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * An intrusive doubly linked list: a struct dlist in each entry, a struct
 * dlist as the list's head (dlist_init()).  An entry that is on no list
 * has next == NULL (zeroed memory is off every list), so an entry can
 * leave a list without knowing which one, in O(1).
 */
#ifndef FLOWSIGHT_DLIST_H
#define FLOWSIGHT_DLIST_H

#include <stdbool.h>
#include <stddef.h>

struct dlist {
	struct dlist *prev, *next;
};

static inline void dlist_init(struct dlist *head)
{
	head->prev = head->next = head;
}

static inline bool dlist_linked(const struct dlist *n)
{
	return n->next != NULL;
}

/* @n, on no list, goes last on @head's. */
static inline void dlist_add_tail(struct dlist *head, struct dlist *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* @n leaves its list, if on one. */
static inline void dlist_del(struct dlist *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

/* The first entry of @head's list, or NULL. */
static inline struct dlist *dlist_first(const struct dlist *head)
{
	return head->next == head ? NULL : head->next;
}

#define dlist_entry(n, type, member) ((type *)(void *)((char *)(n) - offsetof(type, member)))

/* The first entry, as @type (its struct dlist is @member), or NULL. */
#define dlist_first_entry(head, type, member)                                      \
	({                                                                          \
		struct dlist *__f = dlist_first(head);                              \
		__f ? dlist_entry(__f, type, member) : (type *)NULL;                 \
	})

#endif
