# SPDX-License-Identifier: GPL-2.0-only
"""NFPlugin, NFStream's plugin API, and the host that runs Python plugins in
the engine: one C plugin descriptor (plugin.h) whose callbacks are cffi
callbacks.  Plugins' values (flow.udps) stay Python objects, keyed by the
flow's handle (fs_flow_handle), the same in every callback and in the flow
handed out; the descriptor declares no column."""
from ._ffi import ffi, lib, FS_PLUGIN_ABI
from .flow import UDPS, value_of, getrefcount, new_packet, new_view, FlowView


class NFPlugin(object):
    """NFStream's NFPlugin: keyword arguments become attributes; override
    on_init(packet, flow), on_update(packet, flow), on_expire(flow).
    Setting flow.expiration_id = -1 in on_init or on_update expires the flow
    right after the callbacks, current packet included.  cleanup() runs once
    when an iteration ends (NFStream declares it but never calls it)."""

    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)

    def on_init(self, packet, flow):
        pass

    def on_update(self, packet, flow):
        pass

    def on_expire(self, flow):
        pass

    def cleanup(self):
        pass


def _overrides(plugin, name):
    return getattr(type(plugin), name, None) is not getattr(NFPlugin, name)


class _Chain(list):
    """Several expired flows waiting for export under one handle."""


class PluginHost(object):
    """The Python plugins of one session."""

    def __init__(self, plugins):
        self.plugins = list(plugins)
        self.inits = [p.on_init for p in self.plugins if _overrides(p, "on_init")]
        self.updates = [p.on_update for p in self.plugins if _overrides(p, "on_update")]
        self.expires = [p.on_expire for p in self.plugins if _overrides(p, "on_expire")]
        self.live = {}      # handle -> UDPS of a flow being metered
        self.expired = {}   # handle -> (UDPS, overrides) of a flow waiting for export
        self.overrides = {}  # handle -> {column: value} set by plugins
        self.error = None
        self.session = None
        self.colidx = {}
        self.keys_of = None
        self.view = FlowView
        self.reuse = False  # set when one engine thread runs the callbacks
        self._name = ffi.new("char[]", b"python")
        self._cb = [
            ffi.callback("void(const struct fs_packet *, struct fs_flow *, void *)", self._on_init),
            ffi.callback("void(const struct fs_packet *, struct fs_flow *, void *)",
                         self._on_update),
            ffi.callback("void(struct fs_flow *, void *)", self._on_expire),
        ]
        d = ffi.new("struct fs_plugin *")
        d.abi = FS_PLUGIN_ABI
        d.flags = 0  # every packet: the libpcap capture when live
        d.name = self._name
        d.columns = ffi.NULL
        d.n_columns = 0
        d.on_init = self._cb[0]
        d.on_update = self._cb[1] if self.updates else ffi.NULL
        d.on_expire = self._cb[2]
        self.desc = d

    # ---- what the views ask --------------------------------------------

    def flow_value(self, f, name):
        i = self.colidx.get(name)
        if i is None or name.startswith("udps."):
            raise AttributeError("'NFlow' object has no attribute '%s'" % name)
        v = ffi.new("struct fs_value *")
        lib.fs_flow_get(f, i, v)
        return value_of(v)

    def udps_of(self, view):
        h = view.handle()
        u = self.live.get(h)
        if u is None:
            u = self.live[h] = UDPS()
        return u

    def set_udps(self, view, u):
        self.live[view.handle()] = u

    def override(self, h, name, value):
        self.overrides.setdefault(h, {})[name] = value

    # ---- callbacks (the engine's thread, with the GIL) -------------------

    def set_view(self, cls, reuse):
        self.view = cls
        self.reuse = reuse
        self._packet = new_packet(None, None, self)
        self._flow = new_view(cls, None, self, None)

    def fail(self, e):
        if self.error is None:
            self.error = e
            if self.session is not None:
                lib.fs_session_stop(self.session)

    def _on_init(self, pk, f, state):
        if self.error is not None:
            return
        u = UDPS()
        h = lib.fs_flow_handle(f)
        self.live[h] = u
        if self.overrides:
            self.overrides.pop(h, None)
        if not self.inits:
            return
        packet = new_packet(pk, f, self)
        flow = new_view(self.view, f, self, u, h)
        try:
            for fn in self.inits:
                fn(packet, flow)
        except BaseException as e:
            self.fail(e)
        if getrefcount(packet) > 2:
            packet._detach()
        if getrefcount(flow) > 2:
            flow._detach()

    def _on_update(self, pk, f, state):
        if self.error is not None:
            return
        if self.overrides:
            self.overrides.pop(lib.fs_flow_handle(f), None)
        if self.reuse:
            # one packet and one flow view for every packet (one engine
            # thread): rebound here, replaced when a plugin keeps them
            packet = self._packet
            packet._p = pk
            packet._f = f
            flow = self._flow
            flow._f = f
            flow._h = flow._udps = None
            try:
                for fn in self.updates:
                    fn(packet, flow)
            except BaseException as e:
                self.fail(e)
            if getrefcount(packet) > 3:
                packet._detach()
                self._packet = new_packet(None, None, self)
            if getrefcount(flow) > 3:
                flow._detach()
                self._flow = new_view(self.view, None, self, None)
            return
        packet = new_packet(pk, f, self)
        flow = new_view(self.view, f, self, None)
        try:
            for fn in self.updates:
                fn(packet, flow)
        except BaseException as e:
            self.fail(e)
        if getrefcount(packet) > 2:
            packet._detach()
        if getrefcount(flow) > 2:
            flow._detach()

    def _on_expire(self, f, state):
        if self.error is not None:
            return
        h = lib.fs_flow_handle(f)
        u = self.live.pop(h, None)
        if u is None:
            u = UDPS()
        if self.expires:
            flow = new_view(self.view, f, self, u, h)
            try:
                for fn in self.expires:
                    fn(flow)
            except BaseException as e:
                self.fail(e)
            u = flow._udps
            if getrefcount(flow) > 2:
                flow._detach()
        over = self.overrides.pop(h, None) if self.overrides else None
        item = (u, over)
        prev = self.expired.get(h)
        if prev is None:
            self.expired[h] = item
        elif type(prev) is _Chain:
            prev.append(item)
        else:
            self.expired[h] = _Chain((prev, item))

    # ---- export ----------------------------------------------------------

    def take(self, h):
        """(UDPS, overrides or None) of the exported flow with handle @h."""
        item = self.expired.pop(h, None)
        if item is None:
            return UDPS(), None
        if type(item) is _Chain:
            first = item.pop(0)
            if len(item) == 1:
                self.expired[h] = item[0]
            elif item:
                self.expired[h] = item
            return first
        return item

    def cleanup(self):
        self.live.clear()
        self.expired.clear()
        self.overrides.clear()
        for p in self.plugins:
            p.cleanup()
