# SPDX-License-Identifier: GPL-2.0-only
"""One run of an NFStreamer: a libflowsight session configured from the
streamer's parameters, its plugins, and the flows it gives, batch by batch.

Offline without Python plugins, a second thread meters the capture into one
batch while the caller's thread turns the previous one into Python objects
(cffi releases the GIL during the C call), so the two overlap.  With Python
plugins the engine runs on the caller's thread (their callbacks run there);
live captures meter on their own threads and the caller waits for flows."""
import gc
import os
import queue
import sys
import threading
import time

from ._ffi import ffi, lib, cstr, plugin_dirs, import_debian
from .flow import flow_class, view_class, UDPS
from .plugin import PluginHost

_FILES, _INTERFACE = 1, 2
BATCH = 4096  # flows per batch when iterating
_PROFILE = bool(os.environ.get("FLOWSIGHT_PROFILE"))  # the metering thread's CPU time

try:  # to share one str per distinct text of a batch (optional)
    _np = import_debian("numpy", "python3-numpy")
except ImportError:
    _np = None


def _text(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _list_of(s):
    if len(s) <= 2:
        return []
    return list(map(int, s[1:-1].split(",")))


class Session(object):
    """A started libflowsight session (raises ValueError as NFStream does
    when iterating: a filter that does not compile, a source that cannot
    be opened)."""

    def __init__(self, st):
        self.s = ffi.NULL
        self.host = None
        self.batches = []
        self._keep = []
        self.closed = False
        self.live = st._mode == _INTERFACE
        o = ffi.new("struct fs_options *")
        lib.fs_options_init(o)
        self._keep.append(o)
        srcs = [self._c(x) for x in st._c_sources]
        arr = ffi.new("const char *[]", srcs)
        self._keep.append(arr)
        if self.live:
            o.interfaces, o.n_interfaces = arr, len(srcs)
        else:
            o.files, o.n_files = arr, len(srcs)
        err = ffi.new("char[512]")
        for name, value in st._c_params():
            if value is None:
                continue
            if lib.fs_options_set(o, name.encode(), self._c(_text(value)), err, 512):
                raise ValueError(cstr(err))
        sp = ffi.new("struct fs_session **")
        if lib.fs_session_new(o, sp, err, 512):
            raise ValueError(cstr(err))
        self.s = sp[0]
        try:
            self._plugins(st._udps)
            if lib.fs_session_start(self.s):
                raise ValueError(cstr(lib.fs_session_error(self.s)) or "cannot start")
            self._schema()
        except BaseException:
            self.close()
            raise

    def _c(self, text):
        b = ffi.new("char[]", text.encode("utf-8", "surrogateescape"))
        self._keep.append(b)
        return b

    # ---- plugins ------------------------------------------------------------

    def _plugins(self, udps):
        py = []
        self.py_first = False
        seen_c = False
        for p in udps:
            path = c_port_path(p)
            if path is not None:
                rc = lib.fs_session_add_plugin(self.s, self._c(path), self._c(p._c_config()))
                if rc == 0:
                    seen_c = True
                    continue
                # the C port refused (another version): its Python twin runs
                if os.environ.get("FLOWSIGHT_DEBUG"):
                    sys.stderr.write("flowsight: %s\n" % cstr(lib.fs_session_error(self.s)))
            if not py and not seen_c:
                self.py_first = True
            py.append(p)
        if py:
            self.host = PluginHost(py)
            self.host.session = self.s
            if lib.fs_session_add_plugin_desc(self.s, self.host.desc, self._c("")):
                raise ValueError(cstr(lib.fs_session_error(self.s)))

    # ---- schema ---------------------------------------------------------------

    def _schema(self):
        s = self.s
        n = lib.fs_session_columns(s)
        self.names = [cstr(lib.fs_column_name(s, i)) for i in range(n)]
        self.types = [lib.fs_column_type(s, i) for i in range(n)]
        self.colidx = {k: i for i, k in enumerate(self.names)}
        self.ints = [i for i in range(n) if self.types[i] == 0]
        self.floats = [i for i in range(n) if self.types[i] == 1]
        self.texts = [i for i in range(n) if self.types[i] >= 2]
        self.lists = set(i for i in range(n) if self.types[i] == 3)
        self.udp_cols = [i for i in range(n) if self.names[i].startswith("udps.")]
        self.head = [i for i in range(n) if not self.names[i].startswith(("udps.", "system_"))]
        self.tail = [i for i in range(n) if self.names[i].startswith("system_")]
        self.attr_idx = self.head + self.tail
        self.attr_keys = [self.names[i] for i in self.attr_idx]
        self.flow_cls = flow_class([self.names[i] for i in self.head],
                                   [self.names[i] for i in self.tail])
        self.has_udps = bool(self.udp_cols) or self.host is not None
        if self.host is not None:
            self.host.colidx = self.colidx
            self.host.keys_of = self._view_keys
            # offline, the engine runs on this thread only
            self.host.set_view(view_class(self.names), reuse=not self.live)
        self._lenp = ffi.new("size_t *")
        self._tp = ffi.new("const char **")

    def _view_keys(self, view):
        return [self.names[i] for i in self.head] + ["udps." + k for k in view.udps.__dict__] + \
            [self.names[i] for i in self.tail]

    # ---- batches ----------------------------------------------------------------

    def new_batch(self):
        b = lib.fs_batch_new(self.s)
        if b == ffi.NULL:
            raise MemoryError("fs_batch_new")
        self.batches.append(b)
        return b

    def check(self):
        """Raise a Python plugin's exception in the caller's thread."""
        h = self.host
        if h is not None and h.error is not None:
            raise h.error

    def stop(self):
        if self.s != ffi.NULL and not self.closed:
            lib.fs_session_stop(self.s)

    def progress(self):
        p = ffi.new("struct fs_progress *")
        lib.fs_session_progress(self.s, p)
        return p.bytes_read, p.bytes_total

    def batches_iter(self, size=BATCH, on_progress=None, frames=None):
        """Yield (batch, rows) until the end; a batch is valid until the
        next one is asked for.  With @frames (_pandas.Frames), the batches
        fill its frames instead (fs_batch_set_frame) and (batch, rows,
        FrameBuilder) are yielded."""
        if self.live or self.host is not None:
            return self._batches_here(size, on_progress, frames)
        return self._batches_threaded(size, on_progress, frames)

    def _batches_here(self, size, on_progress, frames):
        b = self.new_batch()
        s = self.s
        timeout = 200 if self.live else -1
        stopping = False
        fb = None
        while True:
            try:
                m = size
                if frames is not None:
                    m, fb = frames.assign(b, size)
                n = lib.fs_session_next_batch(s, b, m, timeout)
                if frames is not None:
                    frames.pulled(fb, n)
                self.check()
                if n == 0 and self.live and lib.fs_session_timed_out(s):
                    continue
                if on_progress is not None and not self.live:
                    on_progress(*self.progress())
                if n <= 0:
                    return
                yield (b, n) if frames is None else (b, n, fb)
            except KeyboardInterrupt:
                # Ctrl-C: stop capturing, hand out every cached flow, end
                # quietly (a second Ctrl-C goes through)
                if stopping or (self.host is not None and self.host.error is not None):
                    raise
                stopping = True
                lib.fs_session_stop(s)

    def _batches_threaded(self, size, on_progress, frames):
        full = queue.Queue()
        free = queue.Queue()
        for _ in range(3):
            free.put(self.new_batch())
        s = self.s
        want_progress = on_progress is not None
        done = []
        waiting = [False]  # the caller waits for a batch (a hint, read unlocked)

        prof = [0.0, 0.0, 0]

        def meter():
            t0 = time.thread_time()
            try:
                while not done:
                    b = free.get()
                    if b is None:
                        break
                    m, fb = size, None
                    if frames is not None:
                        m, fb = frames.assign(b, size)
                    tp = time.thread_time()
                    n = lib.fs_session_pull(s, b, m, -1)
                    prof[0] += time.thread_time() - tp
                    if frames is not None:
                        frames.pulled(fb, n)
                    filled = False
                    if n > 0 and (full.qsize() > 0 if frames is not None else not waiting[0]):
                        # the caller is busy with the batch before: the
                        # columns are made here (most flows of a capture
                        # end at its end, when this thread has nothing else
                        # to do); a waiting caller makes them itself while
                        # this thread goes on metering.  A frame's caller
                        # does nothing else with a batch, so for frames
                        # "busy" is "has a batch queued": this thread also
                        # expires the flows at the end, and fills less
                        tp = time.thread_time()
                        n = lib.fs_batch_fill(b)
                        prof[1] += time.thread_time() - tp
                        prof[2] += 1
                        if n < 0:
                            raise MemoryError("fs_batch_fill")
                        filled = True
                    full.put((b, n, fb, filled, self.progress() if want_progress else None))
                    if n <= 0:
                        break
            except BaseException as e:  # never lost: the caller raises it
                full.put(e)
            if _PROFILE:
                sys.stderr.write("flowsight: meter thread %.2f s CPU (pull %.2f, fill %.2f in %d batches)\n" % (time.thread_time() - t0, prof[0], prof[1], prof[2]))

        t = threading.Thread(target=meter, name="flowsight-meter", daemon=True)
        t.start()
        stopping = False
        try:
            while True:
                try:
                    waiting[0] = True
                    item = full.get()
                    waiting[0] = False
                except KeyboardInterrupt:
                    if stopping:
                        raise
                    stopping = True
                    lib.fs_session_stop(s)
                    continue
                if isinstance(item, BaseException):
                    raise item
                b, n, fb, filled, prog = item
                if prog is not None:
                    on_progress(*prog)
                if n <= 0:
                    return
                if not filled:
                    n = lib.fs_batch_fill(b)
                    if n < 0:
                        raise MemoryError("fs_batch_fill")
                yield (b, n) if frames is None else (b, n, fb)
                free.put(b)
        finally:
            done.append(1)
            lib.fs_session_stop(s)
            for _ in range(4):
                free.put(None)
            t.join()

    # ---- batches as Python values -------------------------------------------------

    def columns(self, b, n):
        """Every column of batch @b as a list of Python values.  A text
        column's rows share one str per distinct value (fs_batch_dict);
        each row gets its own SPLT list."""
        out = [None] * len(self.names)
        unpack = ffi.unpack
        for i in self.ints:
            out[i] = unpack(lib.fs_batch_ints(b, i), n)
        for i in self.floats:
            out[i] = unpack(lib.fs_batch_floats(b, i), n)
        if self.texts:
            if _np is None:
                flat = self.flat_texts(b, n)
                t = len(self.texts)
                end = n * t
                for j, i in enumerate(self.texts):
                    col = flat[j:end:t]
                    out[i] = list(map(_list_of, col)) if i in self.lists else col
            else:
                codes = _np.empty(n, dtype=_np.uint32)
                cp = ffi.from_buffer("uint32_t[]", codes)
                tp, lp = self._tp, self._lenp
                for i in self.texts:
                    k = lib.fs_batch_dict(b, i, cp, tp, lp)
                    if k < 0:
                        raise MemoryError("fs_batch_dict")
                    uniq = ffi.buffer(tp[0], lp[0])[:].decode("utf-8", "ignore").split("\0")[:k]
                    if i in self.lists:
                        parsed = [_list_of(u) for u in uniq]
                        out[i] = [parsed[c][:] for c in codes.tolist()]
                    else:
                        table = _np.empty(k, dtype=object)
                        table[:] = uniq
                        out[i] = table[codes].tolist()
        for i in self.udp_cols:
            nb = lib.fs_batch_nulls(b, i)
            if nb != ffi.NULL:
                flags = ffi.buffer(nb, n)[:]
                col = out[i]
                for r in range(n):
                    if flags[r]:
                        col[r] = None
        return out

    def flat_texts(self, b, n):
        p = lib.fs_batch_text(b, self._lenp)
        ln = self._lenp[0]
        if not ln:
            return [""] * (n * len(self.texts))
        return ffi.buffer(p, ln)[:].decode("utf-8", "ignore").split("\0")

    def udps_rows(self, b, n, cols):
        """Per row (UDPS, overrides): the C plugins' columns and the Python
        plugins' values, in NFStream's order (plugins in the order given)."""
        host = self.host
        names = [self.names[i][5:] for i in self.udp_cols]
        ccols = [cols[i] for i in self.udp_cols]
        out = []
        if host is not None:
            hs = ffi.unpack(lib.fs_batch_handles(b), n)
            take = host.take
            pairs = list(map(take, hs))
        else:
            pairs = None
        for r in range(n):
            if pairs is not None:
                u, over = pairs[r]
            else:
                u, over = UDPS(), None
            if ccols:
                cvals = {k: c[r] for k, c in zip(names, ccols)}
                if pairs is not None and self.py_first:
                    u.__dict__.update(cvals)
                else:
                    d = u.__dict__
                    cvals.update(d)
                    d.clear()
                    d.update(cvals)
            out.append((u, over))
        return out

    def flows(self, b, n):
        """The NFlow objects of batch @b.  Python's cyclic collector is held
        while they are made: thousands of new dicts and objects, none in a
        cycle, would start a collection every 700 of them."""
        was = gc.isenabled()
        gc.disable()
        try:
            return self._flows(b, n)
        finally:
            if was:
                gc.enable()

    def _flows(self, b, n):
        cols = self.columns(b, n)
        cls = self.flow_cls
        new = object.__new__
        keys = self.attr_keys
        attr_cols = [cols[i] for i in self.attr_idx]
        dicts = map(dict, map(zip, _repeat(keys), zip(*attr_cols)))
        if not self.has_udps:
            out = []
            append = out.append
            for d in dicts:
                o = new(cls)
                o.__dict__ = d
                append(o)
            return out
        out = []
        for d, (u, over) in zip(dicts, self.udps_rows(b, n, cols)):
            o = new(cls)
            if over:
                for k, v in over.items():
                    if k in d:
                        d[k] = v
            d["udps"] = u
            o.__dict__ = d
            out.append(o)
        return out

    # ---- end ------------------------------------------------------------------------

    def close(self):
        """Stop, wait for every thread, detach, free (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for b in self.batches:
            lib.fs_batch_free(b)
        self.batches = []
        if self.s != ffi.NULL:
            lib.fs_session_free(self.s)
            self.s = ffi.NULL
        if self.host is not None:
            host, self.host = self.host, None
            host.session = None
            err = host.error
            try:
                host.cleanup()
            except Exception:
                if err is None:
                    raise


def _repeat(x):
    import itertools
    return itertools.repeat(x)


def c_port_path(plugin):
    """The C port of a built-in plugin, if found and wanted."""
    port = getattr(plugin, "_c_port", None)
    if not port:
        return None
    from . import plugins
    if not plugins.USE_C_PORTS:
        return None
    for d in plugin_dirs():
        p = os.path.join(d, port + ".so")
        if os.path.isfile(p):
            return p
    return None
