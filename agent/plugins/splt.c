// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's SPLT plugin (nfstream/plugins/splt.py) in C: the first
 * sequence_length packets of each flow as three lists padded with -1,
 * udps.splt_direction, udps.splt_ps (size under accounting_mode: 0 raw,
 * 1 IP, 2 transport, 3 payload) and udps.splt_piat_ms.  The same values
 * as the native --splt-analysis with the same length and accounting mode.
 *
 *   --plugin build/plugins/splt.so:sequence_length=20,accounting_mode=0
 */
#include "nfplugin.h"

enum { COL_DIRECTION, COL_PS, COL_PIAT };

struct splt {
	size_t len;
	int mode;
	int64_t pad[]; /* len x -1: every flow's lists start as a copy */
};

static int splt_init(const char *config, void **state, char *err, size_t n)
{
	struct nfp_arg args[] = {
		{ .name = "sequence_length", .min = 1, .max = 65535, .required = 1 },
		{ .name = "accounting_mode", .min = 0, .max = 3, .value = 0 },
	};
	struct splt *s;

	if (nfp_parse("SPLT", config, args, 2, err, n))
		return -EINVAL;
	s = malloc(sizeof(*s) + (size_t)args[0].value * sizeof(int64_t));
	if (!s)
		return nfp_err(err, n, "SPLT: out of memory");
	s->len = (size_t)args[0].value;
	s->mode = (int)args[1].value;
	for (size_t i = 0; i < s->len; i++)
		s->pad[i] = -1;
	*state = s;
	return 0;
}

static int64_t size_of(const struct fs_packet *p, int mode)
{
	switch (mode) {
	case 0:
		return p->raw_size;
	case 1:
		return p->ip_size;
	case 2:
		return p->transport_size;
	default:
		return p->payload_size;
	}
}

static void splt_on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	const struct splt *s = state;

	fs_flow_set_list(f, COL_DIRECTION, s->pad, s->len);
	fs_flow_set_list(f, COL_PS, s->pad, s->len);
	fs_flow_set_list(f, COL_PIAT, s->pad, s->len);
	fs_flow_set_list_item(f, COL_DIRECTION, 0, 0); /* the first packet: src to dst */
	fs_flow_set_list_item(f, COL_PS, 0, size_of(p, s->mode));
	fs_flow_set_list_item(f, COL_PIAT, 0, (int64_t)p->delta_time);
}

static void splt_on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	const struct splt *s = state;
	uint64_t i = fs_flow_packets(f); /* this packet included */

	if (i > s->len)
		return;
	fs_flow_set_list_item(f, COL_DIRECTION, i - 1, p->direction);
	fs_flow_set_list_item(f, COL_PS, i - 1, size_of(p, s->mode));
	fs_flow_set_list_item(f, COL_PIAT, i - 1, (int64_t)p->delta_time);
}

static const struct fs_plugin_column columns[] = {
	[COL_DIRECTION] = { "splt_direction", FS_LIST },
	[COL_PS] = { "splt_ps", FS_LIST },
	[COL_PIAT] = { "splt_piat_ms", FS_LIST },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.name = "SPLT",
	.columns = columns,
	.n_columns = 3,
	.init = splt_init,
	.on_init = splt_on_init,
	.on_update = splt_on_update,
	.cleanup = free,
};
