# SPDX-License-Identifier: GPL-2.0-only
"""to_pandas() without a CSV: the DataFrame NFStream gets by writing its
flows to a CSV and reading it back with pandas.read_csv (C engine, default
options), built column by column from libflowsight's batches.

What read_csv makes of NFStream's CSV, reproduced here:
  - integer columns are int64; a column with an empty cell (a plugin's
    None) becomes float64 with NaN;
  - float columns are float64 with the values read_csv's default converter
    gives for Python's repr() of each double (fs_read_csv_floats: it is not
    correctly rounded);
  - text columns (strings, SPLT lists as "[0, 1]") are object columns whose
    empty strings and NA words ("NA", "null", "nan", ...) are NaN, with
    read_csv's escapechar reading of backslashes; a column whose every value
    reads as a number or a boolean gets that dtype (read_csv itself decides,
    on the column's distinct values); a column with no value left is
    float64 NaN;
  - a Python plugin's values are written as NFStream writes them (None
    empty, numbers with str(), the rest str() quoted) and read with
    read_csv itself.
"""
import hashlib
import io
import re
import sys

from ._ffi import ffi, lib, import_debian

np = import_debian("numpy", "python3-numpy")
pd = import_debian("pandas", "python3-pandas")

try:
    from pandas._libs.parsers import STR_NA_VALUES as _NA
    _NA = frozenset(_NA)
except ImportError:  # pragma: no cover - pandas 1.5's list
    _NA = frozenset(["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                     "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "n/a", "nan",
                     "null"])

_NUMERIC = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d*)?\s*\Z", re.ASCII)
_WORDS = frozenset(["inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "true",
                    "false"])
_UNESCAPE = re.compile(r"\\(.)", re.S)
nan = float("nan")


def _maybe_typed(s):
    """Could read_csv turn @s into a number or a boolean?  (A superset.)"""
    return _NUMERIC.match(s) is not None or s.strip().lower() in _WORDS


def csv_cell(v):
    """NFStream's CSV text of a Python value (to_csv's dialect)."""
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace('"', '\\"') + '"'


def read_csv_column(cells):
    """read_csv's reading of one column of CSV cells (already quoted)."""
    text = "x,y\n" + ",0\n".join(cells) + ",0\n"
    df = pd.read_csv(io.StringIO(text), escapechar="\\")
    col = df["x"]
    if len(col) != len(cells):  # a cell that broke the row (a trailing backslash)
        raise ValueError("unreadable cell")
    return col.to_numpy()


def text_column(values):
    """read_csv's reading of a column of texts (None for an empty cell)."""
    arr = values if isinstance(values, np.ndarray) else np.array(values, dtype=object)
    if arr.dtype != object:
        arr = arr.astype(object)
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=object)
    codes, uniq = pd.factorize(arr)
    uniq = list(uniq)
    nonna = [u for u in uniq if u not in _NA]
    if not nonna:
        return np.full(n, nan)
    if all(_maybe_typed(u) for u in nonna):
        has_na = len(nonna) < len(uniq) or (codes < 0).any()
        cells = ['"%s"' % u for u in nonna] + (['""'] if has_na else [])
        try:
            parsed = read_csv_column(cells)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.dtype != object:
            m = dict(zip(nonna, parsed[:len(nonna)]))
            if parsed.dtype.kind == "f" or has_na:
                table = np.array([m.get(u, nan) for u in uniq] + [nan], dtype=np.float64)
            else:
                table = np.array([m[u] for u in uniq] + [parsed[0]], dtype=parsed.dtype)
            return table[codes]
        if parsed is not None:
            m = dict(zip(nonna, parsed[:len(nonna)]))
            table = np.empty(len(uniq) + 1, dtype=object)
            table[:-1] = [m.get(u, nan) for u in uniq]
            table[-1] = nan
            return table[codes]
    table = np.empty(len(uniq) + 1, dtype=object)
    table[:-1] = [nan if u in _NA else (_UNESCAPE.sub(r"\1", u) if "\\" in u else u)
                  for u in uniq]
    table[-1] = nan
    return table[codes]


def text_column_coded(uniq, codes, out=None):
    """text_column() of the column whose row r is uniq[codes[r]] (None: an
    empty cell), without a string per row.  (table[codes], not
    table.take(codes): numpy 1.24 takes objects one generic copy at a time,
    17 ms for 286k rows against 1 ms.)"""
    nonna = [u for u in uniq if u is not None and u not in _NA]
    n = len(codes)
    if not nonna:
        return np.full(n, nan)
    na = [u is None or u in _NA for u in uniq]
    has_na = any(na)
    if all(_maybe_typed(u) for u in nonna):
        cells = ['"%s"' % u for u in nonna] + (['""'] if has_na else [])
        try:
            parsed = read_csv_column(cells)
        except ValueError:
            parsed = None
        if parsed is not None:
            m = dict(zip(nonna, parsed[:len(nonna)]))
            if parsed.dtype != object and (parsed.dtype.kind == "f" or has_na):
                table = np.array([nan if x else m[u] for u, x in zip(uniq, na)],
                                 dtype=np.float64)
            elif parsed.dtype != object:
                table = np.array([m[u] for u in uniq], dtype=parsed.dtype)
            else:
                table = np.empty(len(uniq), dtype=object)
                table[:] = [nan if x else m[u] for u, x in zip(uniq, na)]
            return table[codes]
    table = np.empty(len(uniq), dtype=object)
    table[:] = [nan if x else (_UNESCAPE.sub(r"\1", u) if "\\" in u else u)
                for u, x in zip(uniq, na)]
    if out is None:
        return table[codes]
    out[:] = table[codes]
    return out


class Anonymizer(object):
    """NFStream's anonymizer: keyed BLAKE2b-512 of str(value), a fresh
    64-byte key per export, 128 hex digits; None left as is."""

    def __init__(self, columns):
        import secrets
        self.key = secrets.token_bytes(64)
        self.columns = list(columns)
        self.warned = set()

    def check(self, names):
        """Warn once for each column a flow does not have (NFStream's words)."""
        for c in self.columns:
            if c not in names and c not in self.warned:
                self.warned.add(c)
                sys.stderr.write("WARNING: NFlow do not have %s attribute. Skipping "
                                 "anonymization.\n" % c)

    def __call__(self, v):
        if v is None:
            return None
        return hashlib.blake2b(str(v).encode("utf-8", "surrogateescape"), key=self.key,
                               digest_size=64).hexdigest()

    def column(self, values):
        """A column's values (list or array) anonymized, as texts."""
        arr = values if isinstance(values, np.ndarray) else np.array(values, dtype=object)
        codes, uniq = pd.factorize(arr)
        table = np.empty(len(uniq) + 1, dtype=object)
        table[:-1] = [self(u.item() if hasattr(u, "item") else u) for u in uniq]
        table[-1] = None
        return table[codes]


class FrameBuilder(object):
    """One DataFrame: a libflowsight frame, whose columns the batches that
    pulled flows for it fill in place on whichever thread fills them
    (fs_batch_set_frame), and the Python plugins' values, kept here."""

    def __init__(self, sess, anon, limit=0):
        self.sess = sess
        self.anon = anon
        self.limit = limit       # rows at most (a chunk), 0: no limit
        self.anon_names = set(anon.columns) if anon is not None else set()
        fr = lib.fs_frame_new(sess.s)
        if fr == ffi.NULL:
            raise MemoryError("fs_frame_new")
        self.fr = ffi.gc(fr, lib.fs_frame_free)
        if limit:
            lib.fs_frame_expect(fr, limit)
        names = sess.names
        for i in sess.floats:
            if names[i] in self.anon_names:
                # anonymized: str() of the double itself
                lib.fs_frame_keep_doubles(fr, i)
        self.reserved = 0        # rows pulled for it (by the pulling thread)
        self.rows = 0            # rows filled and added (by the caller)
        self.done = False
        self.py_names = None     # Python plugins' udps names (the first flow's)
        self.py_vals = None
        self.over = []
        self.over_names = set()

    def add(self, b, n):
        """Batch @b (@n rows, filled into this frame): the Python
        plugins' values of its flows."""
        if n <= 0:
            return
        at = self.rows
        host = self.sess.host
        if host is not None:
            hs = ffi.unpack(lib.fs_batch_handles(b), n)
            pairs = list(map(host.take, hs))
            if self.py_names is None and pairs:
                self.py_names = list(pairs[0][0].__dict__)
                self.py_vals = {name: [] for name in self.py_names}
            for name in self.py_names or ():
                self.py_vals[name].extend([u.__dict__.get(name) for u, _ in pairs])
            for r, (_, over) in enumerate(pairs):
                if over:
                    for name, v in over.items():
                        self.over.append((at + r, name, v))
        self.rows = at + n

    def _take(self, i, dtype):
        """Column @i of the frame, handed over: an array on its memory."""
        p = lib.fs_frame_take(self.fr, i)
        if p == ffi.NULL:
            raise MemoryError("fs_frame_take")
        p = ffi.gc(p, lib.fs_frame_column_free)
        return np.frombuffer(ffi.buffer(p, self.rows * np.dtype(dtype).itemsize), dtype=dtype)

    def _uniq(self, i):
        tp = ffi.new("const char **")
        lp = ffi.new("size_t *")
        k = lib.fs_frame_dict(self.fr, i, tp, lp)
        if k < 0:
            raise MemoryError("fs_frame_dict")
        if not k:
            return []
        return ffi.buffer(tp[0], lp[0])[:].decode("utf-8", "ignore").split("\0")[:k]

    def _mask(self, i):
        nb = lib.fs_frame_nulls(self.fr, i)
        if nb == ffi.NULL:
            return None
        mask = np.frombuffer(ffi.buffer(nb, self.rows), dtype=np.uint8).astype(bool)
        return mask if mask.any() else None

    def _column(self, i):
        """Column @i's values (its array, or one made from its codes)."""
        sess = self.sess
        name = sess.names[i]
        mask = self._mask(i)
        if sess.types[i] >= 2:
            codes = self._take(i, np.uint32)
            uniq = self._uniq(i)
            if mask is not None:
                codes[mask] = len(uniq)
                uniq.append(None)
            if name in self.over_names:
                for r, k, v in self.over:
                    if k == name:
                        codes[r] = len(uniq)
                        uniq.append(None if v is None else str(v))
            if name in self.anon_names:
                uniq = [self.anon(u) for u in uniq]
            return text_column_coded(uniq, codes, self._objects(i))
        arr = self._take(i, np.int64 if sess.types[i] == 0 else np.float64)
        if name in self.anon_names:
            vals = arr.astype(object)
            if mask is not None:
                vals[mask] = None
            return text_column(self.anon.column(vals))
        if mask is not None:
            arr = arr.astype(np.float64)
            arr[mask] = nan
        if name in self.over_names:
            for r, k, v in self.over:
                if k == name:
                    try:
                        arr[r] = v
                    except (TypeError, ValueError):
                        pass
        return arr

    def _objects(self, i):
        """A row of one 2-D object array for text column @i: one
        allocation for every text column, large enough for numpy to advise
        huge pages (a fresh 4 KiB page faults at several microseconds in a
        VM: 5 ms per column of 286k rows).  A column that turns out
        numeric or empty takes its own array and leaves its row unused."""
        if self.objects is None:
            self.objects = np.empty((len(self.sess.texts), self.rows), dtype=object)
            self.obj_row = {c: j for j, c in enumerate(self.sess.texts)}
        return self.objects[self.obj_row[i]]

    def frame(self):
        """The DataFrame (None without a row)."""
        if not self.rows:
            return None
        self.objects = None
        sess = self.sess
        if self.anon is not None:
            self.anon.check(set(sess.names) |
                            set("udps." + k for k in (self.py_names or ())))
        self.over_names = set(k for _, k, _ in self.over)
        cols = {}
        order = []
        for i in sess.head:
            cols[sess.names[i]] = self._column(i)
            order.append(sess.names[i])
        c_udps = [(sess.names[i], i) for i in sess.udp_cols]
        py = []
        for k in self.py_names or ():
            name = "udps." + k
            vals = self.py_vals.pop(k)
            if name in self.anon_names:
                vals = [self.anon(v) for v in vals]
            py.append((name, vals))
        groups = [py, c_udps] if sess.py_first else [c_udps, py]
        for g in groups:
            for name, x in g:
                if isinstance(x, int):
                    cols[name] = self._column(x)
                else:
                    cols[name] = read_csv_column([csv_cell(v) for v in x])
                order.append(name)
        for i in sess.tail:
            cols[sess.names[i]] = self._column(i)
            order.append(sess.names[i])
        self.done = True
        return make_frame(cols, order, self.rows)


class Frames(object):
    """The frame each pull fills: one for the whole capture, or a new one
    per @limit rows (chunks).  assign() is called by the thread that pulls,
    before each pull; pulled() after it."""

    def __init__(self, sess, anon, limit=0):
        self.sess = sess
        self.anon = anon
        self.limit = limit
        self.cur = None

    def assign(self, b, size):
        """(the most rows to pull into @b, its FrameBuilder)."""
        fb = self.cur
        if fb is None or (self.limit and fb.reserved >= self.limit):
            fb = self.cur = FrameBuilder(self.sess, self.anon, self.limit)
        if lib.fs_batch_set_frame(b, fb.fr):
            raise ValueError("fs_batch_set_frame")
        return (min(size, self.limit - fb.reserved) if self.limit else size), fb

    @staticmethod
    def pulled(fb, n):
        if n > 0:
            fb.reserved += n


def make_frame(cols, order, rows):
    """A DataFrame of @cols in @order, one block per column (as pyarrow's
    split_blocks): no consolidation copy, so building it needs no more
    memory than the columns themselves (pandas consolidates later only
    for operations that want it)."""
    try:
        from pandas.core.internals import api as iapi
        from pandas.core.internals.managers import BlockManager
        blocks = []
        for pos, name in enumerate(order):
            arr = cols[name]
            blocks.append(iapi.make_block(arr.reshape(1, rows), placement=[pos], ndim=2))
        axes = [pd.Index(order), pd.RangeIndex(rows)]
        return pd.DataFrame(BlockManager(blocks, axes, verify_integrity=False))
    except Exception:  # another pandas: its own constructor
        return pd.DataFrame({k: cols[k] for k in order}, columns=order)
