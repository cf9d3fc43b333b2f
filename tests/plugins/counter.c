// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test plugin: counts its callbacks per flow into udps.init_calls,
 * udps.update_calls and udps.expire_calls, and with
 * init_expire_over=N expires a flow in on_init when its first packet's
 * raw_size is over N (NFStream's custom expiry at creation).
 */
#include <stdio.h>
#include <stdlib.h>

#include "flowsight/plugin.h"

enum { INIT, UPDATE, EXPIRE };

static int init(const char *config, void **state, char *err, size_t n)
{
	long *over = malloc(sizeof(*over));
	char end;

	if (!over)
		return -1;
	*over = -1;
	if (*config && sscanf(config, "init_expire_over=%ld%c", over, &end) != 1) {
		snprintf(err, n, "counter: expected init_expire_over=N, not '%s'", config);
		free(over);
		return -1;
	}
	*state = over;
	return 0;
}

static void add(struct fs_flow *f, size_t col)
{
	struct fs_value v;

	if (!fs_flow_get_udp(f, col, &v))
		fs_flow_set_int(f, col, (v.is_null ? 0 : v.i) + 1);
}

static void on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	add(f, INIT);
	fs_flow_set_int(f, UPDATE, 0);
	if (*(long *)state >= 0 && p->raw_size > *(long *)state)
		fs_flow_expire(f);
}

static void on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)p;
	(void)state;
	add(f, UPDATE);
}

static void on_expire(struct fs_flow *f, void *state)
{
	(void)state;
	add(f, EXPIRE);
}

static const struct fs_plugin_column columns[] = {
	[INIT] = { "init_calls", FS_INT },
	[UPDATE] = { "update_calls", FS_INT },
	[EXPIRE] = { "expire_calls", FS_INT },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FS_PLUGIN_NO_BYTES, /* reads no packet bytes */
	.name = "counter",
	.columns = columns,
	.n_columns = 3,
	.init = init,
	.on_init = on_init,
	.on_update = on_update,
	.on_expire = on_expire,
	.cleanup = free,
};
