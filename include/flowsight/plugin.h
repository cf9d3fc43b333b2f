/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * flowsight plugins: NFStream's NFPlugin in C.  A plugin is a shared
 * object exporting one descriptor, `fs_plugin_descriptor`, whose callbacks
 * the engine runs on every packet of every flow (on_init with the first,
 * on_update with each later one, after the flow's counters include it)
 * and once at expiry (on_expire), as NFStream does.  Its values are the
 * flow's `udps.<name>` columns, exported after NFStream's columns.  Setting
 * the flow's expiration_id to -1 (fs_flow_expire) in on_init or on_update
 * expires it right after the callbacks, current packet included
 * (NFStream's custom expiry).  Callbacks of one session run on one thread
 * at a time per meter; @state is the plugin's, from init(), shared by the
 * meters (live captures run several at once): keep per-flow data in the
 * flow's private bytes (fs_flow_state), not in @state.
 */
#ifndef FLOWSIGHT_PLUGIN_H
#define FLOWSIGHT_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowsight/flowsight.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FS_PLUGIN_ABI 1

/* NFStream's NFPacket, for the packet being metered. */
struct fs_packet {
	uint64_t time;          /* ms, the meter's clock (never goes back) */
	uint64_t delta_time;    /* ms since the flow's previous packet; 0 on the first */
	uint8_t direction;      /* 0 src2dst, 1 dst2src */
	uint8_t ip_version;     /* 4 or 6 */
	uint8_t protocol;
	uint8_t tunnel_id;
	uint16_t vlan_id;
	uint16_t src_port, dst_port; /* the packet's own, host order */
	uint16_t raw_size, ip_size, transport_size, payload_size;
	bool syn, cwr, ece, urg, ack, psh, rst, fin;
	const uint8_t *src_ip, *dst_ip;   /* the packet's own: 4 or 16 bytes */
	const uint8_t *src_mac, *dst_mac; /* 6 bytes each (zeros without Ethernet) */
	const uint8_t *ip_packet;         /* innermost IP header to the end of capture */
	size_t ip_packet_len;
	const uint8_t *payload;           /* transport payload inside the capture */
	size_t payload_len;
};

struct fs_plugin_column {
	const char *name; /* exported as udps.<name> */
	enum fs_type type;
};

/* fs_plugin.flags */
#define FS_PLUGIN_SAMPLES_OK 0x1 /* needs only the first packets of each flow
				    (as many as n_dissections or splt_analysis
				    give): the eBPF capture can run it */
#define FS_PLUGIN_NO_BYTES 0x2   /* never reads the packet's bytes: when no
				    plugin of the session does, ip_packet and
				    payload are NULL (0 bytes) and a capture
				    file is decoded ahead on another thread */

struct fs_plugin {
	uint32_t abi;                /* FS_PLUGIN_ABI */
	uint32_t flags;              /* FS_PLUGIN_* */
	const char *name;
	const struct fs_plugin_column *columns;
	size_t n_columns;
	size_t flow_state_bytes;     /* private zeroed bytes per flow (fs_flow_state) */
	/*
	 * Parse @config ("key=value,..." or "", never NULL) into *@state.
	 * 0, or non-zero with a one-line reason in @err (size @n).  May be NULL.
	 */
	int (*init)(const char *config, void **state, char *err, size_t n);
	void (*on_init)(const struct fs_packet *p, struct fs_flow *f, void *state);
	void (*on_update)(const struct fs_packet *p, struct fs_flow *f, void *state);
	void (*on_expire)(struct fs_flow *f, void *state);
	/* Once, when the session ends (NFStream never calls its cleanup()). */
	void (*cleanup)(void *state);
};

/*
 * The flow in a callback.  fs_flow_get() reads any of its columns, with the
 * values so far (id is -1 until the flow is exported).  The plugin's own
 * columns are numbered as in its descriptor.
 */
FS_API int fs_flow_set_int(struct fs_flow *f, size_t col, int64_t v);
FS_API int fs_flow_set_float(struct fs_flow *f, size_t col, double v);
FS_API int fs_flow_set_str(struct fs_flow *f, size_t col, const char *s); /* copied */
FS_API int fs_flow_set_list(struct fs_flow *f, size_t col, const int64_t *v, size_t n); /* copied */
/* flow.udps.<name> = None: the column's value reads as never set again. */
FS_API int fs_flow_set_none(struct fs_flow *f, size_t col);
/* The plugin's own column @col so far; type FS_INT 0, "" or [] until set. */
FS_API int fs_flow_get_udp(const struct fs_flow *f, size_t col, struct fs_value *v);
/* Private per-flow bytes (flow_state_bytes, or as init() set them), zeroed at on_init. */
FS_API void *fs_flow_state(struct fs_flow *f);
/*
 * From init() only: @n private bytes per flow instead of flow_state_bytes,
 * for a size the configuration decides (SPLT's sequence_length).  0, or
 * -EINVAL outside init().
 */
FS_API int fs_plugin_set_flow_state_bytes(size_t n);
/* expiration_id = -1: NFStream's custom expiry, right after the callbacks. */
FS_API void fs_flow_expire(struct fs_flow *f);
/* Hot fields, without a column lookup. */
FS_API uint64_t fs_flow_packets(const struct fs_flow *f);       /* bidirectional_packets */
FS_API uint64_t fs_flow_src2dst_packets(const struct fs_flow *f);
FS_API uint64_t fs_flow_dst2src_packets(const struct fs_flow *f);

/* What a plugin's shared object exports. */
extern const struct fs_plugin fs_plugin_descriptor;

#ifdef __cplusplus
}
#endif

#endif
