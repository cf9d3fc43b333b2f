// SPDX-License-Identifier: GPL-2.0-only
#include <stdint.h>
#include <sys/mman.h>

#include "util/hugemap.h"

void *huge_map(size_t len)
{
	char *m = mmap(NULL, len + HUGEMAP_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t head;

	if (m == MAP_FAILED)
		return NULL;
	head = (HUGEMAP_PAGE - (uintptr_t)m % HUGEMAP_PAGE) % HUGEMAP_PAGE;
	if (head)
		munmap(m, head);
	munmap(m + head + len, HUGEMAP_PAGE - head);
	(void)madvise(m + head, len, MADV_HUGEPAGE); /* EINVAL without THP is fine */
	return m + head;
}
