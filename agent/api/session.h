/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The inside of libflowsight's public objects (flowsight.h), shared by the
 * API's files: sessions (session.c), flows and batches (flow.c), plugins
 * (plugins.c).
 */
#ifndef FLOWSIGHT_API_SESSION_H
#define FLOWSIGHT_API_SESSION_H

#include <pthread.h>

#include "capture/capture.h"
#include "capture/privs.h"
#include "core/proc.h"
#include "core/session.h"
#include "export/columns.h"
#include "flowsight/flowsight.h"
#include "flowsight/plugin.h"

struct attr;
struct fs_flow;
struct plugin_host;
struct plugins;

struct fs_session {
	struct fs_options o;
	char err[512];
	bool live;
	struct column_opts co;
	struct schema schema;
	bool schema_ready;
	unsigned int n_meters;
	struct engine_opts engine;
	struct dpi_opts dpi;
	struct session *core;
	const struct capture_ops *cap_ops;
	struct capture *cap;
	struct capture_env env;
	struct caps_mode caps;
	struct attr *attr;
	bool started, open_ok, summarized, exporting;
	/* fs_session_export's network sinks ([0] ipfix, [1] clickhouse) while
	 * it runs, and their final counters after (under sink_lock) */
	pthread_mutex_t sink_lock;
	struct sink *sinks[2];
	struct fs_sink_stats sink_final[2];
	volatile int stop_early; /* fs_session_stop() before the start */
	/* instruments for tests and benchmarks (fs_session_set_knob) */
	const char *attr_disable;
	bool attr_inert;
	bool attr_no_early; /* no early copies: flows rely on the tables alone */
	bool attr_refuse;   /* the verifier refuses one attribution program */
	uint32_t attr_max_sockets, attr_max_tuples, attr_ringbuf_bytes;
	int ebpf_attach; /* enum ebpf_attach: tcx or TC filters only */
	/* fs_session_set_attached(): e.g. the command line's privilege drop */
	int (*on_attached)(void *arg);
	void *on_attached_arg;
	/* plugins */
	struct plugin_host *plugins;
	size_t n_plugins;
	struct plugins *plugin_engine; /* the engine's view of them */
	/* pull mode: the consumer is a queue */
	pthread_mutex_t qlock;
	pthread_cond_t qcv;
	struct fs_flow *qhead, *qtail; /* finished flows, with their handles */
	size_t qlen;
	bool qend, closing, timed_out, attached_done;
	pthread_t runner;
	bool runner_started;
	int run_err;
	/* counters for other threads (fs_session_stats, fs_session_counters) */
	uint64_t written;     /* flows the writer has output (atomic) */
	char *ifaces_joined;  /* every interface, "a,b" ("" for files) */
	char verdict_key[DECODE__MAX][24]; /* DECODE_NOT_IP -> not_ip */
	struct pcapng *pcapng; /* --pcapng-out */
	bool pcapng_closed;
};

/* A finished flow handed out (fs_session_next). */
struct fs_flow {
	const struct fs_session *s;
	struct flow *f;
	uint64_t id;
	int expiration_id;
	struct proc_info *proc; /* NULL without attribution */
	char *text;             /* address texts, made on first use */
	int64_t *lists;         /* SPLT lists as int64, each made on first use: */
	uint8_t lists_made;     /* bit k: list k (direction, ps, piat_ms, piat_us) */
	/* in a plugin's callback: the live flow, the plugin and its packet */
	struct plugin_host *host;
	size_t plugin;
	struct fs_flow *qnext;  /* in the session's queue of finished flows */
};

/* Record @fmt as the session's error; returns @err. */
int api_error(struct fs_session *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The session's flow record for @w (the columns' view of it). */
void api_record(const struct fs_flow *w, struct flow_record *r);

/* plugins.c */
int plugins_init(struct fs_session *s);
/* Append the plugins' udps.* columns to s->schema. */
int plugins_schema(struct fs_session *s);
/* Hook the plugins into the engine options. */
void plugins_engine(struct fs_session *s, struct engine_opts *eo);
bool plugins_need_every_packet(const struct fs_session *s);
/* A plugin's error that stopped the session, or NULL. */
const char *plugins_error(const struct fs_session *s);
void plugins_free(struct fs_session *s);

#endif
