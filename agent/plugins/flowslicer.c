// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's FlowSlicer plugin (nfstream/plugins/slicer.py) in C: expires
 * each flow (expiration_id -1) once it holds `limit` packets, the packet
 * that reaches the limit included; limit=1 makes one flow per packet.
 * The next packet with the same key starts a new flow.  No columns.
 *
 *   --plugin build/plugins/flowslicer.so:limit=4
 */
#include "nfplugin.h"

static int slicer_init(const char *config, void **state, char *err, size_t n)
{
	struct nfp_arg limit = { .name = "limit", .min = 1, .max = INT64_MAX, .required = 1 };
	uint64_t *s;

	if (nfp_parse("FlowSlicer", config, &limit, 1, err, n))
		return -EINVAL;
	s = malloc(sizeof(*s));
	if (!s)
		return nfp_err(err, n, "FlowSlicer: out of memory");
	*s = (uint64_t)limit.value;
	*state = s;
	return 0;
}

static void slicer_on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)p;
	if (*(const uint64_t *)state == 1)
		fs_flow_expire(f);
}

static void slicer_on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)p;
	if (fs_flow_packets(f) == *(const uint64_t *)state)
		fs_flow_expire(f);
}

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FS_PLUGIN_NO_BYTES, /* reads no packet bytes */
	.name = "FlowSlicer",
	.init = slicer_init,
	.on_init = slicer_on_init,
	.on_update = slicer_on_update,
	.cleanup = free,
};
