// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>

#include "export/sink.h"

int clickhouse_sink_open(const struct fs_writer_options *wo, const struct schema *schema,
			 struct sink **out, char *err, size_t n)
{
	(void)wo;
	(void)schema;
	*out = NULL;
	snprintf(err, n, "clickhouse: not yet");
	return -ENOSYS;
}
