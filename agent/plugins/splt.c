// SPDX-License-Identifier: GPL-2.0-only
/*
 * NFStream's SPLT plugin (nfstream/plugins/splt.py) in C: the first
 * sequence_length packets of each flow as three lists padded with -1,
 * udps.splt_direction, udps.splt_ps (size under accounting_mode: 0 raw,
 * 1 IP, 2 transport, 3 payload) and udps.splt_piat_ms.  The same values
 * as the native --splt-analysis with the same length and accounting mode.
 * NFStream's lists exist from a flow's first packet on; here they are made
 * when it expires (on_expire, before the plugins loaded after this one see
 * it): a plugin that reads udps.splt_* before finds None.
 *
 *   --plugin build/plugins/splt.so:sequence_length=20,accounting_mode=0
 */
#include <stdbool.h>

#include "nfplugin.h"

enum { COL_DIRECTION, COL_PS, COL_PIAT };

struct splt {
	size_t len;
	int mode;
};

/*
 * Each flow's first packets in its private bytes, as compact as native SPLT
 * keeps them (a flow's bytes cost more than the callbacks): the three lists
 * are made when it expires.  A gap of 2^32 ms or more (an idle timeout over
 * 49 days) makes the flow's piat list a column at once ("wide").
 */
struct splt_flow {
	uint32_t n;       /* packets recorded */
	uint32_t wide;    /* udps.splt_piat_ms is set: piat[] unused */
	uint32_t piat[];  /* then uint16_t ps[len], uint8_t dir[len] */
};

static uint16_t *ps_of(struct splt_flow *st, size_t len)
{
	return (uint16_t *)(st->piat + len);
}

static uint8_t *dir_of(struct splt_flow *st, size_t len)
{
	return (uint8_t *)(ps_of(st, len) + len);
}

static int splt_init(const char *config, void **state, char *err, size_t n)
{
	struct nfp_arg args[] = {
		{ .name = "sequence_length", .min = 1, .max = 65535, .required = 1 },
		{ .name = "accounting_mode", .min = 0, .max = 3, .value = 0 },
	};
	struct splt *s;
	size_t len;

	if (nfp_parse("SPLT", config, args, 2, err, n))
		return -EINVAL;
	len = (size_t)args[0].value;
	if (fs_plugin_set_flow_state_bytes(sizeof(struct splt_flow) + len * (4 + 2 + 1)))
		return nfp_err(err, n, "SPLT: this flowsight cannot size the flows' bytes");
	s = malloc(sizeof(*s));
	if (!s)
		return nfp_err(err, n, "SPLT: out of memory");
	s->len = len;
	s->mode = (int)args[1].value;
	*state = s;
	return 0;
}

/* The packet's size under the accounting mode (NFStream's _get_packet_size). */
static uint16_t size_of(const struct fs_packet *p, int mode)
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

/* Item @i of the piat list as a column: the rare flow with a gap of 2^32 ms. */
static void set_wide_piat(struct fs_flow *f, struct splt_flow *st, const struct splt *s,
			  size_t i, int64_t piat)
{
	int64_t *v = malloc(s->len * sizeof(*v));
	struct fs_value cur;

	if (!v)
		return;
	for (size_t k = 0; k < s->len; k++)
		v[k] = k < st->n ? (int64_t)st->piat[k] : -1;
	if (st->wide && !fs_flow_get_udp(f, COL_PIAT, &cur) && cur.n == s->len)
		memcpy(v, cur.list, s->len * sizeof(*v));
	v[i] = piat;
	if (!fs_flow_set_list(f, COL_PIAT, v, s->len))
		st->wide = 1;
	free(v);
}

static void record(const struct fs_packet *p, struct fs_flow *f, const struct splt *s, size_t i)
{
	struct splt_flow *st = fs_flow_state(f);

	if (p->delta_time > UINT32_MAX || st->wide)
		set_wide_piat(f, st, s, i, (int64_t)p->delta_time);
	else
		st->piat[i] = (uint32_t)p->delta_time;
	ps_of(st, s->len)[i] = size_of(p, s->mode);
	dir_of(st, s->len)[i] = p->direction;
	st->n = (uint32_t)i + 1;
}

/* The first packet: item 0, direction 0 (src to dst), delta_time 0. */
static void splt_on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	record(p, f, state, 0);
}

/* While the flow has at most sequence_length packets, this one included. */
static void splt_on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	const struct splt *s = state;
	uint64_t i = fs_flow_packets(f);

	if (i <= s->len)
		record(p, f, s, (size_t)i - 1);
}

/* The lists, padded with -1. */
static void splt_on_expire(struct fs_flow *f, void *state)
{
	const struct splt *s = state;
	struct splt_flow *st = fs_flow_state(f);
	size_t len = s->len;
	int64_t stack[3 * 64], *v = len <= 64 ? stack : malloc(3 * len * sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < len; i++) {
		bool seen = i < st->n;

		v[i] = seen ? dir_of(st, len)[i] : -1;
		v[len + i] = seen ? ps_of(st, len)[i] : -1;
		v[2 * len + i] = seen ? (int64_t)st->piat[i] : -1;
	}
	fs_flow_set_list(f, COL_DIRECTION, v, len);
	fs_flow_set_list(f, COL_PS, v + len, len);
	if (!st->wide)
		fs_flow_set_list(f, COL_PIAT, v + 2 * len, len);
	if (v != stack)
		free(v);
}

static const struct fs_plugin_column columns[] = {
	[COL_DIRECTION] = { "splt_direction", FS_LIST },
	[COL_PS] = { "splt_ps", FS_LIST },
	[COL_PIAT] = { "splt_piat_ms", FS_LIST },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FS_PLUGIN_NO_BYTES, /* reads no packet bytes */
	.name = "SPLT",
	.columns = columns,
	.n_columns = 3,
	.init = splt_init,
	.on_init = splt_on_init,
	.on_update = splt_on_update,
	.on_expire = splt_on_expire,
	.cleanup = free,
};
