// SPDX-License-Identifier: GPL-2.0-only
/*
 * Bench plugin: called on every packet, reads one field of it and sets
 * nothing: what the host's callbacks cost (tools/bench_plugins.sh).
 */
#include "flowsight/plugin.h"

static void on_packet(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)f;
	(void)state;
	__asm__ volatile("" : : "r"(p->raw_size)); /* read, kept by the compiler */
}

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FS_PLUGIN_NO_BYTES, /* reads no packet bytes */
	.name = "empty",
	.on_init = on_packet,
	.on_update = on_packet,
};
