/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Arrays that grow by doubling: the one idiom of the tree's append-only
 * arrays (column registry, event hold-backs, expiry lists, top's rows...).
 */
#ifndef FS_UTIL_GROW_H
#define FS_UTIL_GROW_H

#include <errno.h>
#include <stdlib.h>

/*
 * Room for one more element in the array *@arrp (a T *, so @arrp is a
 * T **) of *@capp elements, @n of them used: when full it is reallocated
 * to twice its capacity, or to @first elements when empty.  0, or -ENOMEM
 * with the array and its capacity unchanged.  Typed: the array is
 * assigned as a T *, never through a void **.
 */
#define grow_one(arrp, capp, n, first)                                            \
	({                                                                        \
		__typeof__(arrp) ga_ = (arrp);                                    \
		size_t *gc_ = (capp);                                             \
		int gr_ = 0;                                                      \
		if ((size_t)(n) >= *gc_) {                                        \
			size_t gn_ = *gc_ ? *gc_ * 2 : (size_t)(first);           \
			__typeof__(*ga_) gq_ = realloc(*ga_, gn_ * sizeof(**ga_)); \
			if (gq_) {                                                \
				*ga_ = gq_;                                       \
				*gc_ = gn_;                                       \
			} else {                                                  \
				gr_ = -ENOMEM;                                    \
			}                                                         \
		}                                                                 \
		gr_;                                                              \
	})

#endif
