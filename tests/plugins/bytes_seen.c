// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test plugin: the packet bytes a plugin is given.  udps.ip_bytes adds up
 * ip_packet_len and udps.ip_first is the first byte's version nibble of the
 * last packet (-1: ip_packet NULL); built with -DNO_BYTES it declares
 * FS_PLUGIN_NO_BYTES.  udps.late_rc is fs_plugin_set_flow_state_bytes()
 * called outside init() (-EINVAL).
 */
#include <stdio.h>

#include "flowsight/plugin.h"

#ifdef NO_BYTES
#define FLAGS FS_PLUGIN_NO_BYTES
#else
#define FLAGS 0
#endif

enum { BYTES, FIRST, LATE };

static void seen(const struct fs_packet *p, struct fs_flow *f)
{
	struct fs_value v;

	if (!fs_flow_get_udp(f, BYTES, &v))
		fs_flow_set_int(f, BYTES, (v.is_null ? 0 : v.i) + (int64_t)p->ip_packet_len);
	fs_flow_set_int(f, FIRST, p->ip_packet ? p->ip_packet[0] >> 4 : -1);
}

static void on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)state;
	fs_flow_set_int(f, LATE, fs_plugin_set_flow_state_bytes(8));
	seen(p, f);
}

static void on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)state;
	seen(p, f);
}

static const struct fs_plugin_column columns[] = {
	[BYTES] = { "ip_bytes", FS_INT },
	[FIRST] = { "ip_first", FS_INT },
	[LATE] = { "late_rc", FS_INT },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FLAGS,
	.name = "bytes_seen",
	.columns = columns,
	.n_columns = 3,
	.on_init = on_init,
	.on_update = on_update,
};
