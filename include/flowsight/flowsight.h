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

/*
 * sizeof the public struct named @type ("fs_options", "fs_writer_options",
 * "fs_stats", "fs_progress", "fs_open_flow", "fs_value", "fs_counter"), 0
 * for another name.  The structs grow at their end from one version to the
 * next: a binding that mirrors them without this header (Python's cffi in
 * ABI mode) checks its sizes against the library it loaded.
 */
FS_API size_t fs_abi_sizeof(const char *type);

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
	/* live: write the packets metered to this pcapng file, each labelled
	 * with its flow and process (README "Process-labelled pcapng"); NULL */
	const char *pcapng_out;
	/* live: an interface that goes away has its flows exported and is
	 * captured again when one of its name comes back (false: the
	 * capture ends, with an error) */
	bool wait_interface;
	bool dataset_mode;               /* TCP ends, µs times, CICFlowMeter-style
					    columns (README "Dataset mode") */
	uint64_t activity_timeout;       /* 5: dataset mode's idle gap, seconds */
};

FS_API void fs_options_init(struct fs_options *o);

/*
 * Every parameter by its NFStream name ("idle_timeout"; ours too:
 * "capture", "ebpf_map_entries", "max_flows_in_memory",
 * "system_visibility_netns" own|all, "ja4", "split_on_owner", "pcapng_out",
 * "wait_interface", "dataset_mode", "activity_timeout"), in NFStreamer's
 * validation order; NULL past the last.  Sources are not parameters here.
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
/*
 * The same in two steps, for a consumer that meters on one thread and
 * makes columns on another: fs_session_pull() takes up to @max finished
 * flows into @b (as fs_session_next_batch() counts them) without making
 * their columns; fs_batch_fill() makes them (on any thread, one at a time
 * per batch), releases the flows and returns the number of rows.
 * fs_batch_release() drops pulled flows never filled (fs_batch_free()
 * does it too).
 */
FS_API long fs_session_pull(struct fs_session *s, struct fs_batch *b, size_t max, int timeout_ms);
FS_API long fs_batch_fill(struct fs_batch *b);
FS_API void fs_batch_release(struct fs_batch *b);
FS_API const int64_t *fs_batch_ints(const struct fs_batch *b, size_t col);
FS_API const double *fs_batch_floats(const struct fs_batch *b, size_t col);
/*
 * With @on, fs_batch_fill() also makes each FS_FLOAT column as
 * fs_read_csv_floats() reads it (what NFStream's to_pandas() holds), on the
 * filling thread; fs_batch_csv_floats() gives it (NULL without @on).
 */
FS_API void fs_batch_want_csv_floats(struct fs_batch *b, bool on);
FS_API const double *fs_batch_csv_floats(const struct fs_batch *b, size_t col);
/* FS_STR and FS_LIST: row r's text is fs_batch_strs(b, c)[r] (NUL-terminated). */
FS_API const char *const *fs_batch_strs(const struct fs_batch *b, size_t col);
/* Per row, 1 where a plugin's value is None; NULL when no row is. */
FS_API const uint8_t *fs_batch_nulls(const struct fs_batch *b, size_t col);
/* Per row, fs_flow_handle() of its flow (what a plugin host keys its
 * flows' values by). */
FS_API const uint64_t *fs_batch_handles(const struct fs_batch *b);
/*
 * Every text of the batch in one buffer of *@len bytes: row by row, and in
 * each row the FS_STR and FS_LIST columns in column order, each followed
 * by a NUL (fs_batch_strs() points into it).  A consumer can cut it once
 * instead of reading rows x columns pointers.
 */
FS_API const char *fs_batch_text(const struct fs_batch *b, size_t *len);
/*
 * Column @col (FS_STR or FS_LIST) of @b dictionary-encoded: @codes (one per
 * row) gets each row's index among the column's distinct texts, numbered in
 * order of first appearance; *@texts those texts in that order, each
 * followed by a NUL, *@len bytes in all (valid until the next call on @b).
 * Returns their number, or -errno.  A DataFrame's string columns are then
 * made from a few distinct values instead of one per row.
 */
FS_API long fs_batch_dict(struct fs_batch *b, size_t col, uint32_t *codes, const char **texts,
			  size_t *len);

/*
 * Frames: a DataFrame's columns made in place.  After fs_batch_set_frame(b,
 * fr), every fs_session_pull() on @b reserves rows in @fr for its flows (in
 * their order) and fs_batch_fill() writes them there instead of into @b
 * (fs_batch_ints/floats/csv_floats/nulls then give NULL; strs, text, dict
 * and handles stay).  Several batches may fill one frame at once, on any
 * threads; pulls are one at a time.  A frame's columns hold, per row:
 * FS_INT an int64, FS_FLOAT a double as fs_read_csv_floats() reads it (or
 * as is, fs_frame_keep_doubles(), set before the first pull), FS_STR and
 * FS_LIST a uint32 code among the column's distinct texts
 * (fs_frame_dict(), numbered in order of first appearance).
 * fs_frame_take() hands column @col over (fs_frame_rows() rows): the caller
 * frees it with fs_frame_column_free(), the frame no longer writes it.  A
 * frame must outlive the fills into it; fs_batch_set_frame(b, NULL) ends
 * the pulls into one.
 */
struct fs_frame;
FS_API struct fs_frame *fs_frame_new(struct fs_session *s);
FS_API void fs_frame_free(struct fs_frame *fr);
FS_API int fs_batch_set_frame(struct fs_batch *b, struct fs_frame *fr);
FS_API int fs_frame_keep_doubles(struct fs_frame *fr, size_t col);
/* The frame will hold @rows rows at most (a chunk): its columns are never
 * made larger.  Without it, they are sized from the flows still to come. */
FS_API int fs_frame_expect(struct fs_frame *fr, size_t rows);
FS_API size_t fs_frame_rows(const struct fs_frame *fr);
FS_API void *fs_frame_take(struct fs_frame *fr, size_t col);
FS_API void fs_frame_column_free(void *col);
/* Column @col's distinct texts, each followed by a NUL, *@len bytes in all
 * (valid until the frame is freed); returns their number or -errno. */
FS_API long fs_frame_dict(struct fs_frame *fr, size_t col, const char **texts, size_t *len);
/* Per row of column @col, 1 where a plugin's value is None; NULL when no
 * row is (valid until the frame is freed). */
FS_API const uint8_t *fs_frame_nulls(const struct fs_frame *fr, size_t col);

/*
 * What NFStream's to_pandas() holds for each double of @in: pandas.read_csv
 * reading the CSV text of it (Python's repr()) with its default converter,
 * which is not correctly rounded (it may be one unit in the last place
 * away).  @out may be @in.
 */
FS_API void fs_read_csv_floats(const double *in, double *out, size_t n);

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
 * refuses one attribution program, cgroup/sock_create), "ebpf_attach" (auto,
 * tcx or tc: the eBPF capture attaches with tcx links or TC filters only).
 * 0 or -EINVAL.
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

/* FS_FORMAT_NONE: no CSV/JSON output at all (the network sinks only). */
enum fs_format { FS_FORMAT_CSV = 0, FS_FORMAT_JSONL = 1, FS_FORMAT_NONE = 2 };

struct fs_writer_options {
	const char *path;            /* NULL or "-": standard output */
	enum fs_format format;
	uint64_t flows_per_file;     /* to_csv(flows_per_file) */
	uint64_t rotate_files;       /* to_csv(rotate_files) */
	const char *const *columns_to_anonymize;
	size_t n_columns_to_anonymize;
	/*
	 * Credentials of a database sink (ClickHouse), as the application's
	 * configuration gives them: the library never reads the environment
	 * or a file for them.  NULL: none.  Not copied.
	 */
	const char *clickhouse_user;
	const char *clickhouse_password;
	/*
	 * Network sinks, each on its own thread behind a bounded queue: the
	 * writer encodes every flow for them and never waits for them.
	 * IPFIX (RFC 7011, RFC 5103 biflows): "tcp://HOST:PORT",
	 * "udp://HOST:PORT" or "file:PATH"; NULL: none.
	 */
	const char *ipfix;
	uint64_t ipfix_pen;              /* enterprise number of our elements; 0: 32473 */
	uint64_t ipfix_template_refresh; /* UDP: seconds between template resends; 0: 60 */
	uint64_t ipfix_queue_mb;         /* in-memory queue bound; 0: 64 */
	/* ClickHouse over HTTP: "http://HOST:PORT/" (NULL: none) */
	const char *clickhouse;
	const char *clickhouse_table;    /* NULL: "flows" ("db.table" allowed) */
	bool clickhouse_create;          /* CREATE TABLE IF NOT EXISTS first */
	uint64_t clickhouse_batch_rows;  /* insert when this many rows wait; 0: 50000 */
	uint64_t clickhouse_batch_seconds; /* ... or when the oldest waited this long; 0: 1 */
	const char *clickhouse_spool;    /* directory for batches while unreachable; NULL: none */
	uint64_t clickhouse_spool_mb;    /* spool size cap; 0: 1024 */
	uint64_t clickhouse_queue_mb;    /* in-memory queue bound; 0: 64 */
	const char *clickhouse_agent;    /* the rows' agent column; NULL: the host name */
	/* at the end, how long the sinks may still try to deliver what waits
	 * before it is spooled or counted as dropped; 0: 10 s */
	uint64_t sink_drain_seconds;
	/* ClickHouse inserts in flight at once, one connection each; 0: 2 */
	uint64_t clickhouse_inserts;
};

/*
 * Set a writer option from text: to_csv's flows_per_file or rotate_files
 * (NFStream's message on a bad value), or a sink's option by the names of
 * the fields above ("ipfix", "ipfix_pen", "clickhouse_create" (a flag:
 * NULL is true), ...).  Strings are not copied.  0, -EINVAL with a
 * one-line reason, or -ENOENT for another name.
 */
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

/*
 * The performance report's counters (NFStream's keys), and more.  Any
 * thread may read them while the session runs (until fs_session_free):
 * what the meters published last, at most a second old for live captures
 * (the eBPF capture publishes at each drain of its kernel map), exact once
 * the session has ended.
 */
struct fs_stats {
	uint64_t flows_expired;       /* flows handed out so far */
	uint64_t packets_processed;
	uint64_t packets_ignored;
	uint64_t packets_dropped_filtered_by_kernel;
	uint64_t kernel_received;
	uint64_t interface_dropped;
	uint64_t flows_cached;        /* flows the meters hold now */
	uint64_t export_queue;        /* flows handed out and not written yet (export), or
				       * waiting for fs_session_next (pull) */
	uint64_t flows_written;       /* flows the writer has output (fs_session_export) */
	uint64_t output_reopened;     /* fs_session_reopen_output() requests */
	/* process attribution (zero without it) */
	uint64_t attr_events;         /* socket and process records read */
	uint64_t attr_lost;           /* records lost or unrecorded (flows marked lost) */
	uint64_t attr_evicted;        /* closed sockets evicted at the table caps */
	uint64_t attr_early_copies;   /* owners copied onto flows a second in */
	uint64_t attr_early_copies_used;
	uint64_t attr_sockets;        /* held now */
	uint64_t attr_tuples;
	uint64_t attr_processes;
	/* the network sinks of fs_session_export, live while it runs (read
	 * from any thread) and final after it; all zero for a sink not set */
	struct fs_sink_stats {
		bool active;
		uint64_t flows_queued;       /* encoded and handed to the sink */
		uint64_t flows_sent;         /* delivered (ClickHouse: acknowledged) */
		uint64_t messages_sent;      /* IPFIX messages, ClickHouse inserts */
		uint64_t bytes_sent;
		uint64_t queue_flows, queue_bytes; /* waiting in memory now */
		uint64_t spool_flows, spool_bytes; /* waiting on disk now */
		uint64_t spooled_flows;      /* ever written to the spool */
		uint64_t replayed_flows;     /* sent from the spool */
		uint64_t dropped_queue_full; /* flows: the in-memory queue was full */
		uint64_t dropped_spool_full; /* flows: the spool was at its cap */
		uint64_t dropped_too_big;    /* flows: a record larger than a message */
		uint64_t dropped_rejected;   /* flows: the server refused the data (HTTP 400) */
		uint64_t dropped_at_exit;    /* flows: undeliverable when the drain time ended */
		uint64_t errors;             /* failed connects, sends, inserts */
		uint64_t reconnects;         /* connections (re)established after the first */
		uint64_t duplicates_avoided; /* ClickHouse: batches found inserted before a retry */
	} ipfix, clickhouse;
};

FS_API void fs_session_stats(const struct fs_session *s, struct fs_stats *st);

/*
 * The counters behind fs_stats broken down, for a metrics exporter: by
 * interface and by reason.  Each entry is one value of a family:
 *
 *   packets_received  {interface}          packets that reached the capture
 *                                          (libpcap: ps_recv; eBPF: seen by
 *                                          the TC program; files: read)
 *   packets_metered   {interface}          packets metered into flows
 *   packets_ignored   {interface, reason}  not metered, by decode verdict
 *                                          (reason: too_short, linktype, l2,
 *                                          not_ip, ip_trunc, fragment,
 *                                          ipv6_ext, tunnel; the eBPF kernel's:
 *                                          not_ip, trunc, fragment, ipv6_ext,
 *                                          dup_iface); they add up to
 *                                          fs_stats.packets_ignored
 *   packets_dropped   {interface, reason}  lost before metering: ring (no room
 *                                          in the kernel ring: ps_drop, or the
 *                                          eBPF ring buffer), interface
 *                                          (ps_ifdrop)
 *   ebpf_kernel       {interface, counter} the eBPF capture's kernel counters
 *                                          (FC_COUNTERS: packets, metered,
 *                                          punt_full, sample_lost, ...)
 *
 * @interface names the interface a value counts, or, when the capture
 * counts several together (the eBPF program's counters, the meters'
 * verdicts), their names joined by ','; "" for capture files.  @label is
 * the second label's name (NULL for none) and @key its value.  Strings
 * live as long as the session.  Fills up to @max entries of @out and
 * returns how many there are (call with 0 to size the array).  Any
 * thread, as fs_session_stats().
 */
struct fs_counter {
	const char *family;
	const char *help;      /* one line for the family */
	const char *interface;
	const char *label;
	const char *key;
	uint64_t value;
};
FS_API size_t fs_session_counters(const struct fs_session *s, struct fs_counter *out, size_t max);

/*
 * Reopen the output file of fs_session_export() (after logrotate renamed
 * it): the flows written from then on go to a file created anew at the
 * same path, with its header; no flow is lost or written twice.  Served
 * within about 100 ms by a live session, at the next flows by a file.
 * Async-signal-safe (a SIGHUP handler); standard output is kept.
 */
FS_API void fs_session_reopen_output(struct fs_session *s);

/*
 * How far the capture files have been read (offline sessions; zeros for
 * live ones).  Any thread, at any rate: the reader publishes the position
 * after each batch of packets, and at the end of each file bytes_read
 * reaches its size exactly.  A separate call, so that struct fs_stats
 * keeps its size.  With packets and flows from fs_session_stats() this is
 * what a progress display needs (the command's --progress line).
 */
struct fs_progress {
	uint64_t bytes_read;       /* of all files, so far */
	uint64_t bytes_total;      /* sum of the files' sizes at start; 0: unknown (a pipe) */
	uint64_t file_bytes_read;  /* of the file being read (the last one at the end) */
	uint64_t file_bytes_total; /* its size; 0: unknown */
	uint32_t file;             /* index of that file in fs_options.files */
	uint32_t n_files;
	bool done;                 /* every file was read to its end */
};

FS_API void fs_session_progress(const struct fs_session *s, struct fs_progress *p);

/* ---- open flows --------------------------------------------------------- */

/*
 * One flow still cached (not yet exported), as fs_session_snapshot() read
 * it: key oriented as its record will be, counters so far (sizes under
 * accounting_mode), the L7 name found so far and its process.
 */
struct fs_open_flow {
	uint64_t serial;        /* the flow's number in this session, from 1 in creation
				 * order; stable while the flow is cached */
	uint8_t src_ip[16], dst_ip[16]; /* IPv4: the first 4 bytes */
	uint16_t src_port, dst_port;
	uint16_t vlan_id;
	uint8_t protocol, ip_version, tunnel_id;
	uint64_t first_seen_ms, last_seen_ms;
	uint64_t src2dst_packets, src2dst_bytes;
	uint64_t dst2src_packets, dst2src_bytes;
	uint64_t taken_ms;      /* when the counters were read (epoch ms) */
	/* bytes per second since the same flow in the previous snapshot into
	 * this struct fs_snapshot (from its first packet when it is new) */
	double src2dst_rate, dst2src_rate;
	char application_name[48]; /* "" while unknown */
	/* the owner (attribution on): pid -1 and "" when unknown or nobody */
	int64_t pid, ppid, uid;
	char process_name[16];
	char user[32];
	char container_id[80];
	const char *attribution; /* system_attribution's value; "" */
};

/* A caller's snapshot: the flows of its last read, and what it keeps
 * between reads (previous counters for the rates, owners already found). */
struct fs_snapshot;
FS_API struct fs_snapshot *fs_snapshot_new(void);
FS_API void fs_snapshot_free(struct fs_snapshot *sn);
FS_API size_t fs_snapshot_count(const struct fs_snapshot *sn);
/* The flows, by serial; valid until the next fs_session_snapshot() on @sn. */
FS_API const struct fs_open_flow *fs_snapshot_flows(const struct fs_snapshot *sn);

/*
 * Read every open flow of a running session into @sn, from any thread.
 * Each capture thread copies its flows when it next looks (within about
 * 100 ms; the eBPF capture drains the kernel's flow map first, so its
 * counters are fresh), so no capture thread waits on the caller; the
 * owners are then looked up on the calling thread, once per flow (a flow
 * with no owner yet is tried again after 1 s, then every 5 s).  Waits at
 * most @timeout_ms for the capture threads; those that did not answer keep
 * their previous flows.  0, -EAGAIN when none answered, -EINVAL when the
 * session has not started.
 */
FS_API int fs_session_snapshot(struct fs_session *s, struct fs_snapshot *sn, int timeout_ms);

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
