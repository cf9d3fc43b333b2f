/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libflowsight: NFStream's flows (fields, order, expiry, statistics, SPLT,
 * nDPI L7) from capture files or live interfaces, with the process that
 * owns each flow.  A session is configured like NFStream's NFStreamer
 * (struct fs_options, same names, defaults and error messages), opened,
 * then either pulls finished flows one by one (fs_session_next) or in
 * columnar batches (fs_session_next_batch), or runs to the end into a
 * writer (fs_session_export).  Sessions share nothing: several may run in
 * one process, on one thread each.  Errors are 0 or -errno; a function
 * that fails writes a one-line reason into the session (fs_session_error).
 */
#ifndef FLOWSIGHT_FLOWSIGHT_H
#define FLOWSIGHT_FLOWSIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FS_API_VERSION 1

/* What libflowsight exports (the rest of it is hidden). */
#ifndef FS_API
#define FS_API __attribute__((visibility("default")))
#endif

/* The version of the library, "MAJOR.MINOR.PATCH". */
FS_API const char *fs_version(void);

/* ---- configuration ------------------------------------------------------ */

enum fs_capture { FS_CAPTURE_AUTO = 0, FS_CAPTURE_EBPF = 1, FS_CAPTURE_PCAP = 2 };

/*
 * NFStreamer's parameters (NFStream 6.5.4), then ours.  fs_options_init()
 * sets NFStream's defaults.  Times are seconds, as NFStream's.
 */
struct fs_options {
	/* source: capture files read in order as one stream, or interfaces */
	const char *const *files;
	size_t n_files;
	const char *const *interfaces;
	size_t n_interfaces;
	bool decode_tunnels;             /* True */
	const char *bpf_filter;          /* NULL */
	bool promiscuous_mode;           /* True */
	uint64_t snapshot_length;        /* 1536 */
	uint64_t idle_timeout;           /* 120 */
	uint64_t active_timeout;         /* 1800 */
	uint64_t accounting_mode;        /* 0 */
	uint64_t n_dissections;          /* 20 */
	bool statistical_analysis;       /* False */
	uint64_t splt_analysis;          /* 0 */
	uint64_t n_meters;               /* 0: CPUs - 1 (live) */
	uint64_t max_nflows;             /* 0: no limit */
	uint64_t performance_report;     /* 0: off (live) */
	uint64_t system_visibility_mode; /* 0; 2: ours, extended process columns */
	uint64_t system_visibility_poll_ms; /* 100; accepted, unused: hooks, not polling */
	uint64_t socket_buffer_size;     /* 0: libpcap's default */
	/* ours */
	enum fs_capture capture;         /* live: FS_CAPTURE_AUTO */
	uint64_t ebpf_map_entries;       /* 0: 262144 */
	uint64_t max_flows_in_memory;    /* 0: no cap */
	bool system_visibility_all_netns;
	bool ja4;                        /* client_fingerprint_ja4 column */
	bool split_on_owner;             /* live, with system_visibility_mode: a flow
					    ends where another process's socket
					    starts using its 5-tuple */
	bool dataset_mode;               /* TCP ends, µs times, CICFlowMeter-style
					    columns (README "Dataset mode") */
	uint64_t activity_timeout;       /* 5: dataset mode's idle gap, seconds */
};

FS_API void fs_options_init(struct fs_options *o);

/*
 * Every parameter by its NFStream name ("idle_timeout"; ours too:
 * "capture", "ebpf_map_entries", "max_flows_in_memory",
 * "system_visibility_netns" own|all, "ja4", "split_on_owner",
 * "dataset_mode", "activity_timeout"), in NFStreamer's validation order;
 * NULL past the last.  Sources are not parameters here.
 */
struct fs_param {
	const char *name;
	const char *metavar; /* e.g. "SEC"; NULL: a flag, true when given alone */
	const char *help;
	const char *error;   /* NFStream's message for a bad value */
};
FS_API const struct fs_param *fs_param_at(size_t i);

/*
 * Set parameter @name from its text @value (numbers in decimal, booleans
 * 0|1|true|false|True|False, NULL for a flag).  0; -EINVAL with the
 * parameter's NFStream message in @err; -ENOENT for an unknown name.
 * Strings are not copied.
 */
FS_API int fs_options_set(struct fs_options *o, const char *name, const char *value, char *err,
		   size_t n);

/*
 * Check @o as NFStreamer's setters do, in their order.  0, or -EINVAL with
 * NFStream's message for the first bad parameter in @err (size @n).
 * Warnings NFStream prints (splt_analysis > 255, n_meters clamped,
 * system_visibility_mode on one file) go to the log.
 */
FS_API int fs_options_validate(const struct fs_options *o, char *err, size_t n);

/* ---- values ------------------------------------------------------------- */

enum fs_type {
	FS_INT = 0,   /* int64_t */
	FS_FLOAT = 1, /* double */
	FS_STR = 2,   /* UTF-8 text */
	FS_LIST = 3,  /* int64_t list (SPLT) */
};

struct fs_value {
	enum fs_type type;
	bool is_null;         /* a plugin's value never set (NFStream's None) */
	int64_t i;
	double f;
	const char *s;        /* FS_STR: NUL-terminated, valid as long as its flow */
	size_t len;           /* FS_STR: bytes before the NUL */
	const int64_t *list;  /* FS_LIST */
	size_t n;             /* FS_LIST */
};

/* ---- sessions ----------------------------------------------------------- */

struct fs_session;
struct fs_flow;
struct fs_plugin;

/*
 * A session on @o (copied; the strings must outlive the session).  The
 * options are validated first (NFStream's message on error).  Nothing is
 * opened yet: add plugins, then fs_session_start().  On error *@out is
 * NULL and @err (size @n, may be NULL) says why.
 */
FS_API int fs_session_new(const struct fs_options *o, struct fs_session **out, char *err, size_t n);

/*
 * A plugin from shared object @path with its "key=value,..." @config (may
 * be NULL), run after those added before.  Refused with a one-line reason
 * naming the file: missing, not a shared object, another API version, no
 * descriptor, or a column that repeats another's name.
 */
FS_API int fs_session_add_plugin(struct fs_session *s, const char *path, const char *config);
/* The same for a descriptor in this process (a host such as Python's). */
FS_API int fs_session_add_plugin_desc(struct fs_session *s, const struct fs_plugin *p,
			       const char *config);

/*
 * Open the sources (files checked, interfaces attached) and start.  Every
 * error on a bad file, interface, filter or privilege happens here, before
 * any flow: -EINVAL when a parameter's value is refused (the BPF filter
 * does not compile: NFStream's "Unable to compile BPF filter."), else the
 * source's -errno (-EIO for a damaged file).
 */
FS_API int fs_session_start(struct fs_session *s);

/*
 * The next finished flow, in NFStream's order and with its id, or NULL at
 * the end (end of input, max_nflows, fs_session_stop(), or an error:
 * fs_session_error() then says which).  Live sources wait for the next
 * flow up to @timeout_ms (-1: as long as it takes); NULL with
 * fs_session_timed_out() true when none came.  Release it with
 * fs_flow_free() (any thread).
 */
FS_API struct fs_flow *fs_session_next(struct fs_session *s, int timeout_ms);
FS_API bool fs_session_timed_out(const struct fs_session *s);
FS_API void fs_flow_free(struct fs_flow *f);

/*
 * Columnar batches for bulk consumers (a DataFrame): up to @max flows,
 * column by column, with the values fs_session_next() gives one by one.
 * FS_INT columns are int64s, FS_FLOAT doubles, FS_STR texts, and FS_LIST
 * columns texts too: Python's str() of the list, "[0, 1, -1]", as
 * NFStream's to_csv and to_pandas have them.  Valid until the next call on
 * @b.  Returns the number of rows, 0 at the end, or -errno.
 */
struct fs_batch;
FS_API struct fs_batch *fs_batch_new(struct fs_session *s);
FS_API void fs_batch_free(struct fs_batch *b);
FS_API long fs_session_next_batch(struct fs_session *s, struct fs_batch *b, size_t max, int timeout_ms);
FS_API const int64_t *fs_batch_ints(const struct fs_batch *b, size_t col);
FS_API const double *fs_batch_floats(const struct fs_batch *b, size_t col);
/* FS_STR and FS_LIST: row r's text is fs_batch_strs(b, c)[r] (NUL-terminated). */
FS_API const char *const *fs_batch_strs(const struct fs_batch *b, size_t col);
/* Per row, 1 where a plugin's value is None; NULL when no row is. */
FS_API const uint8_t *fs_batch_nulls(const struct fs_batch *b, size_t col);

/* Ask the session to stop: async-signal-safe, from any thread.  Flows
 * still cached are exported (NFStream loses them), unless max_nflows was
 * reached. */
FS_API void fs_session_stop(struct fs_session *s);

/* The capture a started session runs: "file", "pcap" or "ebpf". */
FS_API const char *fs_session_capture(const struct fs_session *s);
/* Process attribution runs (system_visibility_mode on a live source). */
FS_API bool fs_session_attribution(const struct fs_session *s);

/*
 * Called once everything is attached and opened, before the first packet
 * is metered (fs_session_export, or the first fs_session_next of a live
 * source), on that thread: e.g. an application's privilege drop.
 * Non-zero stops the session with that error.
 */
FS_API void fs_session_set_attached(struct fs_session *s, int (*fn)(void *arg), void *arg);

/*
 * Instruments for tests and benchmarks, set before fs_session_start():
 * "attr_disable" (hooks left out, "a,b" or "sockets"), "attr_inert" (hooks
 * attached, recording nothing), "attr_ringbuf_bytes", "attr_max_sockets",
 * "attr_max_tuples" (lower table caps), "attr_no_early" (no early copies of
 * the owners: flows rely on the tables alone), "attr_refuse" (the verifier
 * refuses one attribution program, cgroup/sock_create).  0 or -EINVAL.
 */
FS_API int fs_session_set_knob(struct fs_session *s, const char *name, const char *value);

/* The reason the session ended, or "" (a clean end).  Valid until the
 * next call on @s. */
FS_API const char *fs_session_error(const struct fs_session *s);

/* Stop if needed, wait for every thread, detach everything, free. */
FS_API void fs_session_free(struct fs_session *s);

/* ---- schema and flows --------------------------------------------------- */

/* The columns of the session's flows, NFStream's order, then plugins'
 * udps.<name>, then the system_* columns.  Valid after fs_session_new(). */
FS_API size_t fs_session_columns(const struct fs_session *s);
FS_API const char *fs_column_name(const struct fs_session *s, size_t col);
FS_API enum fs_type fs_column_type(const struct fs_session *s, size_t col);
/* -1 when there is no such column */
FS_API long fs_column_index(const struct fs_session *s, const char *name);

/* Value of column @col of @f.  0, or -EINVAL for a column out of range. */
FS_API int fs_flow_get(const struct fs_flow *f, size_t col, struct fs_value *v);
FS_API int fs_flow_get_by_name(const struct fs_flow *f, const char *name, struct fs_value *v);
/* A number naming @f's flow while it lives, the same in every plugin
 * callback and in the flow fs_session_next() hands out. */
FS_API uint64_t fs_flow_handle(const struct fs_flow *f);

/* ---- export ------------------------------------------------------------- */

enum fs_format { FS_FORMAT_CSV = 0, FS_FORMAT_JSONL = 1 };

struct fs_writer_options {
	const char *path;            /* NULL or "-": standard output */
	enum fs_format format;
	uint64_t flows_per_file;     /* to_csv(flows_per_file) */
	uint64_t rotate_files;       /* to_csv(rotate_files) */
	const char *const *columns_to_anonymize;
	size_t n_columns_to_anonymize;
};

/* Set to_csv's flows_per_file or rotate_files from text, with NFStream's
 * message on a bad value.  0, -EINVAL, or -ENOENT for another name. */
FS_API int fs_writer_options_set(struct fs_writer_options *w, const char *name, const char *value,
				 char *err, size_t n);

/*
 * Run the session to its end into a CSV or JSON-lines writer (NFStream's
 * to_csv dialect), formatting on a second thread.  *@written gets the
 * number of flows written.  0, or -errno (fs_session_error() says why;
 * flows formed before the error are written).
 */
FS_API int fs_session_export(struct fs_session *s, const struct fs_writer_options *w,
		      uint64_t *written);

/* ---- counters ----------------------------------------------------------- */

/* The performance report's counters (NFStream's keys), and more. */
struct fs_stats {
	uint64_t flows_expired;       /* flows handed out so far */
	uint64_t packets_processed;
	uint64_t packets_ignored;
	uint64_t packets_dropped_filtered_by_kernel;
	uint64_t kernel_received;
	uint64_t interface_dropped;
	uint64_t flows_cached;
};

FS_API void fs_session_stats(const struct fs_session *s, struct fs_stats *st);

/*
 * Read regular capture files through a memory mapping (no copy of their
 * bytes) instead of in chunks.  A file cut short while it is read would
 * then fault (SIGBUS), so this installs a SIGBUS handler that turns such a
 * fault into the file's read error and hands any other fault to the
 * handler before it.  Process-wide: for applications that allow it.
 */
FS_API void fs_enable_mapped_reads(void);

/* ---- diagnostics -------------------------------------------------------- */

enum fs_log_level { FS_LOG_WARN = 0, FS_LOG_INFO = 1, FS_LOG_DEBUG = 2 };

/*
 * Where the library's diagnostics go (default: "flowsight: " lines on
 * stderr) and how many (@verbosity: the highest level shown; 2 also shows
 * libbpf's verifier logs of refused programs).  Process-wide, as the
 * diagnostics of libbpf and libpcap are.
 */
typedef void (*fs_log_fn)(enum fs_log_level level, const char *msg, void *arg);
FS_API void fs_set_log(fs_log_fn fn, void *arg, int verbosity);

/*
 * Route libbpf's own messages (its default prints them all on stderr) to
 * this log: from verbosity 2 on, its debug ones from 3 on; the library says
 * what failed on one line itself.  Process-wide: libbpf has one print hook,
 * so only an application that does not set it itself should call this.
 */
FS_API void fs_route_libbpf_log(void);

#ifdef __cplusplus
}
#endif

#endif
