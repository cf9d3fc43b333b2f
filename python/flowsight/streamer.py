# SPDX-License-Identifier: GPL-2.0-only
"""NFStreamer: NFStream 6.5.4's streamer on libflowsight.  Parameters are
checked by property setters in NFStream's order with NFStream's messages
(ValueError); setting one later checks it again.  Errors met while opening
(a filter that does not compile, a capture that cannot be opened, missing
privileges) are raised when iterating, as NFStream does.  Each iteration
runs the capture from its start."""
import os
import sys
import threading

from ._ffi import ffi, lib, cstr
from ._session import Session, _FILES, _INTERFACE
from .plugin import NFPlugin

_U64 = 18446744073709551615


def _param_error(name):
    i = 0
    while True:
        p = lib.fs_param_at(i)
        if p == ffi.NULL:
            return "Please specify a valid %s parameter." % name
        if cstr(p.name) == name:
            return cstr(p.error)
        i += 1


def _interface_name(value):
    """The interface whose name or description is @value, or None."""
    try:
        devs = ffi.new("struct pcap_if **")
        err = ffi.new("char[256]")
        if lib.pcap_findalldevs(devs, err) == 0:
            d = devs[0]
            name = None
            while d != ffi.NULL:
                n = cstr(d.name)
                if n == value or (d.description != ffi.NULL and cstr(d.description) == value):
                    name = n
                    break
                d = d.next
            lib.pcap_freealldevs(devs[0])
            return name
    except (AttributeError, OSError):
        pass
    try:
        return value if value in os.listdir("/sys/class/net") else None
    except OSError:
        return None


def _is_int(v):
    return isinstance(v, int)  # NFStream: bools pass integer checks


class _Progress(object):
    """progress=True: a tqdm bar (python3-tqdm) or a line on stderr;
    progress=callable: called with (bytes_read, bytes_total)."""

    def __init__(self, spec):
        self.fn = spec if callable(spec) else None
        self.bar = None
        self.last = -1
        self.tqdm = None
        if self.fn is None:
            try:
                from ._ffi import import_debian
                self.tqdm = import_debian("tqdm", "python3-tqdm").tqdm
            except ImportError:
                self.tqdm = None

    def __call__(self, done, total):
        if self.fn is not None:
            self.fn(done, total)
            return
        if self.tqdm is not None:
            if self.bar is None:
                self.bar = self.tqdm(total=total or None, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc="flowsight", leave=True)
            if done > self.bar.n:
                self.bar.update(done - self.bar.n)
            return
        pct = int(done * 100 / total) if total else 0
        if pct != self.last:
            self.last = pct
            sys.stderr.write("\rflowsight: %d%% (%d/%d bytes)" % (pct, done, total))
            sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.fn is None and self.tqdm is None and self.last >= 0:
            sys.stderr.write("\n")


def chunk_path(path, idx):
    """The file of chunk @idx: the index before the extension (out.0.csv),
    as the command line names them."""
    dot = path.rfind(".")
    slash = path.rfind("/")
    if dot > 0 and dot > slash:
        return "%s.%d%s" % (path[:dot], idx, path[dot:])
    return "%s.%d" % (path, idx)


class NFStreamer(object):
    """NFStream's NFStreamer (6.5.4): iterate it for NFlow objects, or call
    to_pandas() / to_csv().  Extra keyword-only parameters (flowsight):
    capture ("auto", "ebpf", "pcap"), ja4, max_flows_in_memory,
    system_visibility_netns ("own", "all"), ebpf_map_entries, and progress
    (True: a bar of bytes read, or a callable(bytes_read, bytes_total))."""

    def __init__(self, source=None, decode_tunnels=True, bpf_filter=None, promiscuous_mode=True,
                 snapshot_length=1536, idle_timeout=120, active_timeout=1800, accounting_mode=0,
                 udps=None, n_dissections=20, statistical_analysis=False, splt_analysis=0,
                 n_meters=0, max_nflows=0, performance_report=0, system_visibility_mode=0,
                 system_visibility_poll_ms=100, socket_buffer_size=0, *, capture="auto",
                 ja4=False, max_flows_in_memory=0, system_visibility_netns="own",
                 ebpf_map_entries=0, progress=None):
        self._running = set()
        self._lock = threading.Lock()
        self.source = source
        self.decode_tunnels = decode_tunnels
        self.bpf_filter = bpf_filter
        self.promiscuous_mode = promiscuous_mode
        self.snapshot_length = snapshot_length
        self.idle_timeout = idle_timeout
        self.active_timeout = active_timeout
        self.accounting_mode = accounting_mode
        self.udps = udps
        self.n_dissections = n_dissections
        self.statistical_analysis = statistical_analysis
        self.splt_analysis = splt_analysis
        self.n_meters = n_meters
        self.max_nflows = max_nflows
        self.performance_report = performance_report
        self.system_visibility_mode = system_visibility_mode
        self.system_visibility_poll_ms = system_visibility_poll_ms
        self.socket_buffer_size = socket_buffer_size
        self.capture = capture
        self.ja4 = ja4
        self.max_flows_in_memory = max_flows_in_memory
        self.system_visibility_netns = system_visibility_netns
        self.ebpf_map_entries = ebpf_map_entries
        self.progress = progress

    # ---- parameters (NFStream's setters, in its order) ------------------------

    @property
    def source(self):
        return self._source

    @source.setter
    def source(self, value):
        if isinstance(value, (list, tuple)):
            if not value:
                raise ValueError("Please provide a non-empty list of sources.")
            files = []
            for i, v in enumerate(value):
                try:
                    v = os.fspath(v)
                except TypeError:
                    raise ValueError("Invalid pcap file path at index: %d." % i) from None
                if not isinstance(v, str) or not os.path.isfile(v):
                    raise ValueError("Invalid pcap file path at index: %d." % i)
                files.append(v)
            self._source, self._mode, self._iface = files, _FILES, None
            return
        try:
            v = os.fspath(value)
        except TypeError:
            v = None
        if isinstance(v, str) and v:
            if os.path.isfile(v):
                self._source, self._mode, self._iface = v, _FILES, None
                return
            name = _interface_name(v)
            if name is not None:
                self._source, self._mode, self._iface = v, _INTERFACE, name
                return
        raise ValueError("Please specify a pcap file path or a valid network interface name "
                         "as source.")

    def _bool_param(name):
        msg = "Please specify a valid %s parameter (possible values: True, False)." % name

        def get(self):
            return getattr(self, "_" + name)

        def set_(self, value):
            if not isinstance(value, bool):
                raise ValueError(msg)
            setattr(self, "_" + name, value)
        return property(get, set_)

    def _int_param(name, msg, ok):
        def get(self):
            return getattr(self, "_" + name)

        def set_(self, value):
            if not _is_int(value) or not ok(value):
                raise ValueError(msg)
            setattr(self, "_" + name, value)
        return property(get, set_)

    decode_tunnels = _bool_param("decode_tunnels")

    @property
    def bpf_filter(self):
        return self._bpf_filter

    @bpf_filter.setter
    def bpf_filter(self, value):
        if value is not None and not isinstance(value, str):
            raise ValueError("Please specify a valid bpf_filter format.")
        self._bpf_filter = value

    promiscuous_mode = _bool_param("promiscuous_mode")
    snapshot_length = _int_param(
        "snapshot_length", "Please specify a valid snapshot_length parameter (positive integer).",
        lambda v: v > 0)
    idle_timeout = _int_param(
        "idle_timeout",
        "Please specify a valid idle_timeout parameter (positive integer in seconds).",
        lambda v: v >= 0 and v * 1000 <= _U64)
    active_timeout = _int_param(
        "active_timeout",
        "Please specify a valid active_timeout parameter (positive integer in seconds).",
        lambda v: v >= 0 and v * 1000 <= _U64)
    accounting_mode = _int_param(
        "accounting_mode",
        "Please specify a valid accounting_mode parameter (possible values: 0, 1, 2, 3).",
        lambda v: v in (0, 1, 2, 3))

    @property
    def udps(self):
        return self._udps

    @udps.setter
    def udps(self, value):
        msg = "User defined plugins must inherit from NFPlugin type."
        if value is None:
            self._udps = ()
        elif isinstance(value, NFPlugin):
            self._udps = (value,)
        else:
            try:
                plugins = tuple(value)
            except TypeError:
                raise ValueError(msg) from None
            for p in plugins:
                if not isinstance(p, NFPlugin):
                    raise ValueError(msg)
            self._udps = plugins

    n_dissections = _int_param(
        "n_dissections",
        "Please specify a valid n_dissections parameter (possible values in : [0,...,255]).",
        lambda v: 0 <= v <= 255)
    statistical_analysis = _bool_param("statistical_analysis")
    splt_analysis = _int_param(
        "splt_analysis",
        "Please specify a valid splt_analysis parameter (possible values in : [0,...,65535])",
        lambda v: 0 <= v <= 65535)
    n_meters = _int_param(
        "n_meters", "Please specify a valid n_meters parameter (>=1 or 0 for auto scaling).",
        lambda v: v >= 0)
    max_nflows = _int_param(
        "max_nflows", "Please specify a valid max_nflows parameter (>=0).", lambda v: v >= 0)
    performance_report = _int_param(
        "performance_report",
        "Please specify a valid performance_report parameter (>=1 for reporting interval "
        "(seconds) or 0 to disable). [Available only for Live capture]", lambda v: v >= 0)

    @property
    def system_visibility_mode(self):
        return self._system_visibility_mode

    @system_visibility_mode.setter
    def system_visibility_mode(self, value):
        if not _is_int(value) or value not in (0, 1, 2):
            raise ValueError(_param_error("system_visibility_mode"))
        if value and self._mode == _FILES and not isinstance(self._source, list):
            sys.stderr.write("WARNING: system_visibility_mode switched to 0 in offline capture "
                             "(available only for live capture)\n")
            value = 0
        self._system_visibility_mode = value

    system_visibility_poll_ms = _int_param(
        "system_visibility_poll_ms",
        "Please specify a valid system_visibility_poll_ms parameter (positive integer in "
        "milliseconds)", lambda v: v >= 0)
    socket_buffer_size = _int_param(
        "socket_buffer_size",
        "Please specify a valid socket_buffer_size parameter (positive integer <= 2^31-1).",
        lambda v: 0 <= v <= 2147483647)

    # ours
    @property
    def capture(self):
        return self._capture

    @capture.setter
    def capture(self, value):
        if value not in ("auto", "ebpf", "pcap") or not isinstance(value, str):
            raise ValueError(_param_error("capture"))
        self._capture = value

    @property
    def ja4(self):
        return self._ja4

    @ja4.setter
    def ja4(self, value):
        if not isinstance(value, bool):
            raise ValueError(_param_error("ja4"))
        self._ja4 = value

    @property
    def max_flows_in_memory(self):
        return self._max_flows_in_memory

    @max_flows_in_memory.setter
    def max_flows_in_memory(self, value):
        if not _is_int(value) or value < 0 or value > _U64:
            raise ValueError(_param_error("max_flows_in_memory"))
        self._max_flows_in_memory = value

    @property
    def system_visibility_netns(self):
        return self._system_visibility_netns

    @system_visibility_netns.setter
    def system_visibility_netns(self, value):
        if value not in ("own", "all") or not isinstance(value, str):
            raise ValueError(_param_error("system_visibility_netns"))
        self._system_visibility_netns = value

    @property
    def ebpf_map_entries(self):
        return self._ebpf_map_entries

    @ebpf_map_entries.setter
    def ebpf_map_entries(self, value):
        if not _is_int(value) or not 0 <= value <= (1 << 24):
            raise ValueError(_param_error("ebpf_map_entries"))
        self._ebpf_map_entries = value

    @property
    def progress(self):
        return self._progress

    @progress.setter
    def progress(self, value):
        if value is not None and not isinstance(value, bool) and not callable(value):
            raise ValueError("Please specify a valid progress parameter (True, False or a "
                             "callable(bytes_read, bytes_total)).")
        self._progress = value

    del _bool_param, _int_param

    def _c_params(self):
        """(name, value) for fs_options_set(), NFStream's meaning."""
        return [
            ("decode_tunnels", self._decode_tunnels),
            ("bpf_filter", self._bpf_filter),
            ("promiscuous_mode", self._promiscuous_mode),
            ("snapshot_length", min(self._snapshot_length, 262144)),
            ("idle_timeout", self._idle_timeout),
            ("active_timeout", self._active_timeout),
            ("accounting_mode", int(self._accounting_mode)),
            ("n_dissections", int(self._n_dissections)),
            ("statistical_analysis", self._statistical_analysis),
            ("splt_analysis", int(self._splt_analysis)),
            ("n_meters", min(int(self._n_meters), _U64)),
            ("max_nflows", min(int(self._max_nflows), _U64)),
            ("performance_report", min(int(self._performance_report), _U64 // 1000)),
            ("system_visibility_mode", int(self._system_visibility_mode)),
            ("system_visibility_poll_ms", min(int(self._system_visibility_poll_ms), _U64)),
            ("socket_buffer_size", int(self._socket_buffer_size)),
            ("capture", self._capture),
            ("ebpf_map_entries", int(self._ebpf_map_entries)),
            ("max_flows_in_memory", int(self._max_flows_in_memory)),
            ("system_visibility_netns", self._system_visibility_netns),
            ("ja4", self._ja4),
        ]

    @property
    def _c_sources(self):
        if self._mode == _INTERFACE:
            return [self._iface]
        return self._source if isinstance(self._source, list) else [self._source]

    # ---- running --------------------------------------------------------------

    def _open(self):
        sess = Session(self)
        with self._lock:
            self._running.add(sess)
        return sess

    def _close(self, sess):
        with self._lock:
            self._running.discard(sess)
        sess.close()

    def _progress_fn(self):
        if not self._progress or self._mode != _FILES:
            return None
        return _Progress(self._progress)

    def stop(self):
        """Stop every iteration of this streamer running now (any thread,
        async-signal-safe underneath): the flows cached are handed out and
        the iteration ends (flowsight)."""
        with self._lock:
            for sess in self._running:
                sess.stop()

    def __iter__(self):
        sess = self._open()
        prog = self._progress_fn()
        it = None
        try:
            it = sess.batches_iter(on_progress=prog)
            for b, n in it:
                flows = sess.flows(b, n)
                yield from flows
        finally:
            if it is not None:
                it.close()
            if prog is not None:
                prog.close()
            self._close(sess)

    def to_pandas(self, columns_to_anonymize=(), chunksize=None):
        """NFStream's to_pandas(): a DataFrame with NFStream's columns and
        dtypes (what pandas.read_csv makes of NFStream's CSV), None without
        a flow; built from libflowsight's batches, no temporary CSV.
        chunksize=N (flowsight): an iterator of DataFrames of N flows at most,
        dtypes decided per chunk as pandas.read_csv(..., chunksize=N) does,
        for captures whose flows do not fit in memory at once."""
        if chunksize is not None:
            if not _is_int(chunksize) or isinstance(chunksize, bool) or chunksize <= 0:
                raise ValueError("Please specify a valid chunksize parameter (positive integer).")
            return self._pandas_chunks(columns_to_anonymize, chunksize)
        frames = list(self._pandas_chunks(columns_to_anonymize, 0))
        return frames[0] if frames else None

    def to_pandas_chunks(self, chunksize, columns_to_anonymize=()):
        """to_pandas(columns_to_anonymize, chunksize=chunksize)."""
        return self.to_pandas(columns_to_anonymize, chunksize=chunksize)

    def _pandas_chunks(self, columns_to_anonymize, chunksize):
        from ._pandas import Frames, Anonymizer
        sess = self._open()
        prog = self._progress_fn()
        it = None
        try:
            cols = list(columns_to_anonymize or ())
            anon = Anonymizer(cols) if cols else None
            frames = Frames(sess, anon, chunksize)
            it = sess.batches_iter(size=16384 if not chunksize else min(16384, chunksize),
                                   on_progress=prog, frames=frames)
            for b, n, fb in it:
                fb.add(b, n)
                if chunksize and fb.rows >= chunksize:
                    df = fb.frame()
                    yield df
                    df = None
            fb = frames.cur
            df = fb.frame() if fb is not None and not fb.done else None
            if df is not None:
                yield df
        finally:
            if it is not None:
                it.close()
            if prog is not None:
                prog.close()
            self._close(sess)

    def to_csv(self, path=None, columns_to_anonymize=(), flows_per_file=0, rotate_files=0):
        """NFStream's to_csv(): writes NFStream's CSV to @path (default
        <source>.csv, or <first file>.csv), in chunks of flows_per_file flows
        (path.0.csv, path.1.csv ...; indexes modulo rotate_files); returns
        the number of flows written."""
        if not _is_int(flows_per_file) or flows_per_file < 0:
            raise ValueError("Please specify a valid flows_per_file parameter (>= 0).")
        if not _is_int(rotate_files) or rotate_files < 0:
            raise ValueError("Please specify a valid rotate_files parameter (>= 0).")
        if path is None:
            src = self._source[0] if isinstance(self._source, list) else self._source
            path = str(src) + ".csv"
        path = os.fspath(path)
        cols = list(columns_to_anonymize or ())
        sess = self._open()
        try:
            if sess.host is None:
                return self._to_csv_c(sess, path, cols, flows_per_file, rotate_files)
        except BaseException:
            self._close(sess)
            raise
        return self._to_csv_py(sess, path, cols, flows_per_file, rotate_files)

    def _to_csv_c(self, sess, path, cols, flows_per_file, rotate_files):
        """The C writer (the command's): on another thread, so Ctrl-C and
        progress reach this one."""
        prog = self._progress_fn()
        existed = os.path.exists(path)
        try:
            w = ffi.new("struct fs_writer_options *")
            cpath = ffi.new("char[]", path.encode("utf-8", "surrogateescape"))
            w.path = cpath
            w.format = 0
            w.flows_per_file = flows_per_file
            w.rotate_files = rotate_files
            ccols = [ffi.new("char[]", c.encode()) for c in cols]
            arr = ffi.new("const char *[]", ccols) if ccols else ffi.NULL
            w.columns_to_anonymize = arr
            w.n_columns_to_anonymize = len(ccols)
            written = ffi.new("uint64_t *")
            result = []

            def run():
                result.append(lib.fs_session_export(sess.s, w, written))

            t = threading.Thread(target=run, name="flowsight-export", daemon=True)
            t.start()
            stopping = False
            while t.is_alive():
                try:
                    t.join(0.2)
                    if prog is not None:
                        prog(*sess.progress())
                except KeyboardInterrupt:
                    if stopping:
                        sess.stop()
                        t.join()
                        raise
                    stopping = True
                    sess.stop()
            if prog is not None:
                prog(*sess.progress())
            n = written[0]
            if result and result[0] and n == 0 and not flows_per_file and not existed:
                err = cstr(lib.fs_session_error(sess.s))
                if err.startswith("cannot write"):
                    raise OSError(err)
            if n == 0 and not flows_per_file and not existed:
                # NFStream writes no file without a flow (ours writes a header)
                try:
                    os.remove(path)
                except OSError:
                    pass
            return n
        finally:
            if prog is not None:
                prog.close()
            self._close(sess)

    def _to_csv_py(self, sess, path, cols, flows_per_file, rotate_files):
        """NFStream's writer in Python, for flows with Python plugins' udps."""
        from ._pandas import csv_cell
        import hashlib
        import secrets
        key = secrets.token_bytes(64)
        prog = self._progress_fn()
        total = 0
        chunk = -1
        f = None
        warned = set()
        it = None
        try:
            it = sess.batches_iter(on_progress=prog)
            for b, n in it:
                for flow in sess.flows(b, n):
                    if total == 0 or (flows_per_file and total % flows_per_file == 0):
                        if f is not None:
                            f.close()
                        out = path
                        if flows_per_file:
                            chunk += 1
                            out = chunk_path(path, chunk % rotate_files if rotate_files else chunk)
                        f = open(out, "w", encoding="utf-8", newline="\n")
                        keys = flow.keys()
                        f.write(",".join(keys) + "\n")
                        anon = []
                        for c in cols:
                            if c in keys:
                                anon.append(keys.index(c))
                            elif c not in warned:
                                warned.add(c)
                                sys.stderr.write("WARNING: NFlow do not have %s attribute. "
                                                 "Skipping anonymization.\n" % c)
                    values = flow.values()
                    for i in anon:
                        v = values[i]
                        if v is not None:
                            values[i] = hashlib.blake2b(str(v).encode(), key=key,
                                                        digest_size=64).hexdigest()
                    f.write(",".join(map(csv_cell, values)) + "\n")
                    total += 1
            return total
        finally:
            if f is not None:
                f.close()
            if it is not None:
                it.close()
            if prog is not None:
                prog.close()
            self._close(sess)
