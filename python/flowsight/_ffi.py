# SPDX-License-Identifier: GPL-2.0-only
"""libflowsight through cffi's ABI mode: the declarations of flowsight.h and
plugin.h, and the library found at run time (no compiler, no build step).

Where the library is looked for, first found wins:
  1. $FLOWSIGHT_LIBRARY (a path to libflowsight.so*);
  2. the build tree, when the package runs from the source tree
     (python/flowsight/ -> build/libflowsight.so);
  3. the directory `make install` recorded in libdir.txt beside this file;
  4. the system's (ctypes.util.find_library, then the soname).
It is opened with RTLD_GLOBAL: plugins (.so) resolve the fs_* calls in it.
"""
import glob
import os
import sys
import sysconfig

_DEBIAN_DIST = "/usr/lib/python3/dist-packages"


def debian_path():
    """Append Debian's dist-packages to sys.path when its C extensions are
    built for this interpreter (same CPython minor version and ABI: e.g. a
    pyenv CPython 3.11 beside Debian's 3.11).  True when it is usable."""
    if _DEBIAN_DIST in sys.path:
        return True
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ""
    if not suffix or not os.path.isdir(_DEBIAN_DIST):
        return False
    if not glob.glob(os.path.join(_DEBIAN_DIST, "_cffi_backend" + suffix)) and \
            not glob.glob(os.path.join(_DEBIAN_DIST, "numpy", "core", "_multiarray_umath" + suffix)):
        return False
    sys.path.append(_DEBIAN_DIST)
    return True


def import_debian(name, package):
    """Import module @name, from Debian's dist-packages if need be; else an
    ImportError that names the Debian package."""
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    if debian_path():
        try:
            return importlib.import_module(name)
        except ImportError:
            pass
    raise ImportError("flowsight needs %s: apt-get install %s (Debian's python3 has it; "
                      "this interpreter is %s %d.%d)" % (name, package, sys.executable,
                                                         sys.version_info[0], sys.version_info[1]))


cffi = import_debian("cffi", "python3-cffi")

CDEF = r"""
const char *fs_version(void);
size_t fs_abi_sizeof(const char *type);

enum fs_capture { FS_CAPTURE_AUTO = 0, FS_CAPTURE_EBPF = 1, FS_CAPTURE_PCAP = 2 };

struct fs_options {
    const char *const *files;
    size_t n_files;
    const char *const *interfaces;
    size_t n_interfaces;
    bool decode_tunnels;
    const char *bpf_filter;
    bool promiscuous_mode;
    uint64_t snapshot_length;
    uint64_t idle_timeout;
    uint64_t active_timeout;
    uint64_t accounting_mode;
    uint64_t n_dissections;
    bool statistical_analysis;
    uint64_t splt_analysis;
    uint64_t n_meters;
    uint64_t max_nflows;
    uint64_t performance_report;
    uint64_t system_visibility_mode;
    uint64_t system_visibility_poll_ms;
    uint64_t socket_buffer_size;
    enum fs_capture capture;
    uint64_t ebpf_map_entries;
    uint64_t max_flows_in_memory;
    bool system_visibility_all_netns;
    bool ja4;
    bool split_on_owner;
    const char *pcapng_out;
    bool wait_interface;
    bool dataset_mode;
    uint64_t activity_timeout;
};

void fs_options_init(struct fs_options *o);

struct fs_param {
    const char *name;
    const char *metavar;
    const char *help;
    const char *error;
};
const struct fs_param *fs_param_at(size_t i);
int fs_options_set(struct fs_options *o, const char *name, const char *value, char *err, size_t n);
int fs_options_validate(const struct fs_options *o, char *err, size_t n);

enum fs_type { FS_INT = 0, FS_FLOAT = 1, FS_STR = 2, FS_LIST = 3 };

struct fs_value {
    enum fs_type type;
    bool is_null;
    int64_t i;
    double f;
    const char *s;
    size_t len;
    const int64_t *list;
    size_t n;
};

struct fs_session;
struct fs_flow;
struct fs_batch;

int fs_session_new(const struct fs_options *o, struct fs_session **out, char *err, size_t n);
int fs_session_add_plugin(struct fs_session *s, const char *path, const char *config);
int fs_session_add_plugin_desc(struct fs_session *s, const struct fs_plugin *p, const char *config);
int fs_session_start(struct fs_session *s);
struct fs_flow *fs_session_next(struct fs_session *s, int timeout_ms);
bool fs_session_timed_out(const struct fs_session *s);
void fs_flow_free(struct fs_flow *f);

struct fs_batch *fs_batch_new(struct fs_session *s);
void fs_batch_free(struct fs_batch *b);
long fs_session_next_batch(struct fs_session *s, struct fs_batch *b, size_t max, int timeout_ms);
long fs_session_pull(struct fs_session *s, struct fs_batch *b, size_t max, int timeout_ms);
long fs_batch_fill(struct fs_batch *b);
void fs_batch_release(struct fs_batch *b);
const int64_t *fs_batch_ints(const struct fs_batch *b, size_t col);
const double *fs_batch_floats(const struct fs_batch *b, size_t col);
void fs_batch_want_csv_floats(struct fs_batch *b, bool on);
const double *fs_batch_csv_floats(const struct fs_batch *b, size_t col);
const char *const *fs_batch_strs(const struct fs_batch *b, size_t col);
const uint8_t *fs_batch_nulls(const struct fs_batch *b, size_t col);
const uint64_t *fs_batch_handles(const struct fs_batch *b);
const char *fs_batch_text(const struct fs_batch *b, size_t *len);
long fs_batch_dict(struct fs_batch *b, size_t col, uint32_t *codes, const char **texts, size_t *len);
struct fs_frame;
struct fs_frame *fs_frame_new(struct fs_session *s);
void fs_frame_free(struct fs_frame *fr);
int fs_batch_set_frame(struct fs_batch *b, struct fs_frame *fr);
int fs_frame_keep_doubles(struct fs_frame *fr, size_t col);
int fs_frame_expect(struct fs_frame *fr, size_t rows);
size_t fs_frame_rows(const struct fs_frame *fr);
void *fs_frame_take(struct fs_frame *fr, size_t col);
void fs_frame_column_free(void *col);
long fs_frame_dict(struct fs_frame *fr, size_t col, const char **texts, size_t *len);
const uint8_t *fs_frame_nulls(const struct fs_frame *fr, size_t col);
void fs_read_csv_floats(const double *in, double *out, size_t n);

void fs_session_stop(struct fs_session *s);
const char *fs_session_capture(const struct fs_session *s);
bool fs_session_attribution(const struct fs_session *s);
int fs_session_set_knob(struct fs_session *s, const char *name, const char *value);
const char *fs_session_error(const struct fs_session *s);
void fs_session_free(struct fs_session *s);

size_t fs_session_columns(const struct fs_session *s);
const char *fs_column_name(const struct fs_session *s, size_t col);
enum fs_type fs_column_type(const struct fs_session *s, size_t col);
long fs_column_index(const struct fs_session *s, const char *name);
int fs_flow_get(const struct fs_flow *f, size_t col, struct fs_value *v);
int fs_flow_get_by_name(const struct fs_flow *f, const char *name, struct fs_value *v);
uint64_t fs_flow_handle(const struct fs_flow *f);

enum fs_format { FS_FORMAT_CSV = 0, FS_FORMAT_JSONL = 1, FS_FORMAT_NONE = 2 };
struct fs_writer_options {
    const char *path;
    enum fs_format format;
    uint64_t flows_per_file;
    uint64_t rotate_files;
    const char *const *columns_to_anonymize;
    size_t n_columns_to_anonymize;
    const char *clickhouse_user;
    const char *clickhouse_password;
    const char *ipfix;
    uint64_t ipfix_pen;
    uint64_t ipfix_template_refresh;
    uint64_t ipfix_queue_mb;
    const char *clickhouse;
    const char *clickhouse_table;
    bool clickhouse_create;
    uint64_t clickhouse_batch_rows;
    uint64_t clickhouse_batch_seconds;
    const char *clickhouse_spool;
    uint64_t clickhouse_spool_mb;
    uint64_t clickhouse_queue_mb;
    const char *clickhouse_agent;
    uint64_t sink_drain_seconds;
    uint64_t clickhouse_inserts;
};
int fs_session_export(struct fs_session *s, const struct fs_writer_options *w, uint64_t *written);

struct fs_stats {
    uint64_t flows_expired;
    uint64_t packets_processed;
    uint64_t packets_ignored;
    uint64_t packets_dropped_filtered_by_kernel;
    uint64_t kernel_received;
    uint64_t interface_dropped;
    uint64_t flows_cached;
    uint64_t export_queue;
    uint64_t flows_written;
    uint64_t output_reopened;
    uint64_t attr_events;
    uint64_t attr_lost;
    uint64_t attr_evicted;
    uint64_t attr_early_copies;
    uint64_t attr_early_copies_used;
    uint64_t attr_sockets;
    uint64_t attr_tuples;
    uint64_t attr_processes;
    struct fs_sink_stats {
        bool active;
        uint64_t flows_queued;
        uint64_t flows_sent;
        uint64_t messages_sent;
        uint64_t bytes_sent;
        uint64_t queue_flows, queue_bytes;
        uint64_t spool_flows, spool_bytes;
        uint64_t spooled_flows;
        uint64_t replayed_flows;
        uint64_t dropped_queue_full;
        uint64_t dropped_spool_full;
        uint64_t dropped_too_big;
        uint64_t dropped_rejected;
        uint64_t dropped_at_exit;
        uint64_t errors;
        uint64_t reconnects;
        uint64_t duplicates_avoided;
    } ipfix, clickhouse;
};
void fs_session_stats(const struct fs_session *s, struct fs_stats *st);

struct fs_progress {
    uint64_t bytes_read;
    uint64_t bytes_total;
    uint64_t file_bytes_read;
    uint64_t file_bytes_total;
    uint32_t file;
    uint32_t n_files;
    bool done;
};
void fs_session_progress(const struct fs_session *s, struct fs_progress *p);
void fs_enable_mapped_reads(void);

enum fs_log_level { FS_LOG_WARN = 0, FS_LOG_INFO = 1, FS_LOG_DEBUG = 2 };
typedef void (*fs_log_fn)(enum fs_log_level level, const char *msg, void *arg);
void fs_set_log(fs_log_fn fn, void *arg, int verbosity);
void fs_route_libbpf_log(void);

/* plugin.h */
struct fs_packet {
    uint64_t time;
    uint64_t delta_time;
    uint8_t direction;
    uint8_t ip_version;
    uint8_t protocol;
    uint8_t tunnel_id;
    uint16_t vlan_id;
    uint16_t src_port, dst_port;
    uint16_t raw_size, ip_size, transport_size, payload_size;
    bool syn, cwr, ece, urg, ack, psh, rst, fin;
    const uint8_t *src_ip, *dst_ip;
    const uint8_t *src_mac, *dst_mac;
    const uint8_t *ip_packet;
    size_t ip_packet_len;
    const uint8_t *payload;
    size_t payload_len;
};

struct fs_plugin_column {
    const char *name;
    enum fs_type type;
};

struct fs_plugin {
    uint32_t abi;
    uint32_t flags;
    const char *name;
    const struct fs_plugin_column *columns;
    size_t n_columns;
    size_t flow_state_bytes;
    int (*init)(const char *config, void **state, char *err, size_t n);
    void (*on_init)(const struct fs_packet *p, struct fs_flow *f, void *state);
    void (*on_update)(const struct fs_packet *p, struct fs_flow *f, void *state);
    void (*on_expire)(struct fs_flow *f, void *state);
    void (*cleanup)(void *state);
};

int fs_flow_set_int(struct fs_flow *f, size_t col, int64_t v);
int fs_flow_set_float(struct fs_flow *f, size_t col, double v);
int fs_flow_set_str(struct fs_flow *f, size_t col, const char *s);
int fs_flow_set_list(struct fs_flow *f, size_t col, const int64_t *v, size_t n);
int fs_flow_get_udp(const struct fs_flow *f, size_t col, struct fs_value *v);
void *fs_flow_state(struct fs_flow *f);
void fs_flow_expire(struct fs_flow *f);
uint64_t fs_flow_packets(const struct fs_flow *f);
uint64_t fs_flow_src2dst_packets(const struct fs_flow *f);
uint64_t fs_flow_dst2src_packets(const struct fs_flow *f);

/* libpcap, reached through libflowsight's own dependency */
struct pcap_addr;
struct pcap_if {
    struct pcap_if *next;
    char *name;
    char *description;
    struct pcap_addr *addresses;
    uint32_t flags;
};
int pcap_findalldevs(struct pcap_if **alldevsp, char *errbuf);
void pcap_freealldevs(struct pcap_if *alldevs);
"""

FS_PLUGIN_ABI = 1
FS_API_VERSION = 1

ffi = cffi.FFI()
ffi.cdef(CDEF)

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("FLOWSIGHT_LIBRARY")
    if env:
        yield env
        return
    for build in (os.path.join(_HERE, "..", "..", "build"), os.path.join(_HERE, "..", "build")):
        yield os.path.join(build, "libflowsight.so")
    try:
        with open(os.path.join(_HERE, "libdir.txt")) as f:
            libdir = f.read().strip()
        if libdir:
            yield os.path.join(libdir, "libflowsight.so.1")
            yield os.path.join(libdir, "libflowsight.so")
    except OSError:
        pass
    import ctypes.util
    found = ctypes.util.find_library("flowsight")
    if found:
        yield found
    yield "libflowsight.so.1"


def _open():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path)
            continue
        try:
            return ffi.dlopen(path, ffi.RTLD_NOW | ffi.RTLD_GLOBAL), os.path.realpath(path) \
                if os.sep in path else path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("flowsight: libflowsight not found (build it with `make`, install it with "
                      "`make install`, or set FLOWSIGHT_LIBRARY); tried: " + "; ".join(tried))


lib, LIBRARY_PATH = _open()
# the structs mirrored above against the library loaded: they grow at their
# end from one version to the next, and a smaller mirror would let the
# library write past what Python allocated
for _t in ("fs_options", "fs_writer_options", "fs_stats", "fs_progress", "fs_value"):
    if ffi.sizeof("struct " + _t) != lib.fs_abi_sizeof(_t.encode()):
        raise ImportError("flowsight: %s (version %s) does not match this package: struct %s is "
                          "%d bytes there, %d here; install the package and the library together"
                          % (LIBRARY_PATH, ffi.string(lib.fs_version()).decode(), _t,
                             lib.fs_abi_sizeof(_t.encode()), ffi.sizeof("struct " + _t)))
# libbpf's own messages (live eBPF capture) through the library's log, as
# the command does: shown from verbosity 2 (FLOWSIGHT_VERBOSE=2) only
lib.fs_route_libbpf_log()
try:
    lib.fs_set_log(ffi.NULL, ffi.NULL, int(os.environ.get("FLOWSIGHT_VERBOSE", "0")))
except ValueError:
    pass
# Capture files read through a mapping, as the command does (no copy of
# their bytes): the library's SIGBUS handler turns a file cut short while
# it is read into that file's read error and hands any other fault to the
# handler installed before it.  FLOWSIGHT_MAPPED_READS=0: read() instead.
if os.environ.get("FLOWSIGHT_MAPPED_READS", "1") != "0":
    lib.fs_enable_mapped_reads()


def plugin_dirs():
    """Where the C ports of the built-in plugins (splt.so, ...) are looked for."""
    env = os.environ.get("FLOWSIGHT_PLUGIN_DIR")
    if env is not None:
        return [env] if env else []
    dirs = []
    libdir = os.path.dirname(LIBRARY_PATH) if os.sep in LIBRARY_PATH else ""
    if libdir:
        dirs.append(os.path.join(libdir, "plugins"))            # the build tree
        dirs.append(os.path.join(libdir, "flowsight", "plugins"))  # make install
    return dirs


def cstr(p):
    """A C string as str (invalid UTF-8 dropped, as the CSV writer does)."""
    if p == ffi.NULL:
        return ""
    return ffi.string(p).decode("utf-8", "ignore")
