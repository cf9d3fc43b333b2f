// SPDX-License-Identifier: GPL-2.0-only
/*
 * Example plugin: NFStream's "add a feature in two lines" in C.  Counts the
 * packets of each flow whose raw size is custom_size (default 666) into
 * the column udps.packet_with_666_size.
 *
 *   cc -O2 -fPIC -shared -Iinclude example_pktsize.c -o example_pktsize.so
 *   flowsight -r capture.pcap --plugin ./example_pktsize.so:custom_size=66
 */
#include <stdio.h>
#include <stdlib.h>

#include "flowsight/plugin.h"

/* "custom_size=N" (or nothing): the size to count, kept as the plugin's state. */
static int init(const char *config, void **state, char *err, size_t n)
{
	long *size = malloc(sizeof(*size));
	char end;

	if (!size)
		return -1;
	*size = 666;
	if (*config && sscanf(config, "custom_size=%ld%c", size, &end) != 1) {
		snprintf(err, n, "expected custom_size=N, not '%s'", config);
		free(size);
		return -1;
	}
	*state = size;
	return 0;
}

/* The flow's first packet: the column starts at 0 or 1. */
static void on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	fs_flow_set_int(f, 0, p->raw_size == *(long *)state);
}

/* Every later packet: one more when it has the size. */
static void on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	struct fs_value v;

	if (p->raw_size == *(long *)state && !fs_flow_get_udp(f, 0, &v))
		fs_flow_set_int(f, 0, v.i + 1);
}

static const struct fs_plugin_column columns[] = { { "packet_with_666_size", FS_INT } };

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FS_PLUGIN_NO_BYTES, /* reads no packet bytes */
	.name = "example_pktsize",
	.columns = columns,
	.n_columns = 1,
	.init = init,
	.on_init = on_init,
	.on_update = on_update,
	.cleanup = free,
};
