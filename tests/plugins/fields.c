// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test plugin: sums of the fs_packet fields over each flow, to be compared
 * with the flow's own columns: TCP flag counts, sizes per accounting mode,
 * packets per direction, delta_time (the duration) and the first/last time.
 */
#include "flowsight/plugin.h"

enum { SYN, CWR, ECE, URG, ACK, PSH, RST, FIN, RAW, IP, TRANSPORT, PAYLOAD, DST2SRC, DELTA,
       FIRST, LAST, SRC_PORT0, N };

static void add(struct fs_flow *f, size_t col, int64_t x)
{
	struct fs_value v;

	if (!fs_flow_get_udp(f, col, &v))
		fs_flow_set_int(f, col, (v.is_null ? 0 : v.i) + x);
}

static void seen(const struct fs_packet *p, struct fs_flow *f)
{
	const bool flags[] = { p->syn, p->cwr, p->ece, p->urg, p->ack, p->psh, p->rst, p->fin };

	for (size_t i = 0; i < 8; i++)
		add(f, SYN + i, flags[i]);
	add(f, RAW, p->raw_size);
	add(f, IP, p->ip_size);
	add(f, TRANSPORT, p->transport_size);
	add(f, PAYLOAD, p->payload_size);
	add(f, DST2SRC, p->direction);
	add(f, DELTA, (int64_t)p->delta_time);
	fs_flow_set_int(f, LAST, (int64_t)p->time);
}

static void on_init(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)state;
	fs_flow_set_int(f, FIRST, (int64_t)p->time);
	fs_flow_set_int(f, SRC_PORT0, p->src_port);
	seen(p, f);
}

static void on_update(const struct fs_packet *p, struct fs_flow *f, void *state)
{
	(void)state;
	seen(p, f);
}

static const struct fs_plugin_column columns[N] = {
	[SYN] = { "syn", FS_INT }, [CWR] = { "cwr", FS_INT }, [ECE] = { "ece", FS_INT },
	[URG] = { "urg", FS_INT }, [ACK] = { "ack", FS_INT }, [PSH] = { "psh", FS_INT },
	[RST] = { "rst", FS_INT }, [FIN] = { "fin", FS_INT }, [RAW] = { "raw", FS_INT },
	[IP] = { "ip", FS_INT }, [TRANSPORT] = { "transport", FS_INT },
	[PAYLOAD] = { "payload", FS_INT }, [DST2SRC] = { "dst2src", FS_INT },
	[DELTA] = { "delta", FS_INT }, [FIRST] = { "first", FS_INT }, [LAST] = { "last", FS_INT },
	[SRC_PORT0] = { "src_port0", FS_INT },
};

const struct fs_plugin fs_plugin_descriptor = {
	.abi = FS_PLUGIN_ABI,
	.flags = FS_PLUGIN_NO_BYTES,
	.name = "fields",
	.columns = columns,
	.n_columns = N,
	.on_init = on_init,
	.on_update = on_update,
};
