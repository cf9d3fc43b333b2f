# SPDX-License-Identifier: GPL-2.0-only
"""NFlow (an exported flow), UDPS (plugins' values) and what a plugin's
callbacks see: NFPacket and the live flow, both views on the engine's C
structures read only when an attribute is asked for."""
import socket
import sys

from ._ffi import ffi, lib

_new = object.__new__


class UDPS(object):
    """flow.udps: the values plugins attach to a flow, in the order they
    were first set (NFStream's udps object)."""

    def __repr__(self):
        return "UDPS(%s)" % ", ".join("%s=%r" % kv for kv in self.__dict__.items())


class _EmptyUdps(object):
    """flow.udps of a flow without plugins: an empty UDPS made on first use."""

    def __get__(self, obj, cls):
        if obj is None:
            return self
        u = UDPS()
        obj.__dict__["udps"] = u
        return u


class NFlow(object):
    """A flow, NFStream's NFlow: its columns are attributes (ints, floats,
    strs; SPLT lists as lists), plugins' values are in flow.udps.  keys()
    and values() follow NFStream's column order.  Each session makes a
    subclass that knows its column names (_keys_head: NFStream's columns
    before udps; _keys_tail: the system_* columns after them)."""

    _keys_head = ()
    _keys_tail = ()
    udps = _EmptyUdps()

    def keys(self):
        return list(self._keys_head) + ["udps." + k for k in self.udps.__dict__] + \
            list(self._keys_tail)

    def values(self):
        d = self.__dict__
        return [d[k] for k in self._keys_head] + list(self.udps.__dict__.values()) + \
            [d[k] for k in self._keys_tail]

    def __repr__(self):
        items = ["%s=%r" % kv for kv in zip(self.keys(), self.values())]
        return "NFlow(" + ",\n      ".join(items) + ")"


def flow_class(head, tail):
    return type("NFlow", (NFlow,), {"_keys_head": tuple(head), "_keys_tail": tuple(tail),
                                    "__module__": NFlow.__module__})


# ---- values of a C flow ----------------------------------------------------

def value_of(v):
    """struct fs_value * as a Python value (None for a plugin's unset one)."""
    if v.is_null:
        return None
    t = v.type
    if t == 0:
        return v.i
    if t == 1:
        return v.f
    if t == 2:
        return ffi.string(v.s, v.len).decode("utf-8", "ignore") if v.len else ""
    return ffi.unpack(v.list, v.n) if v.n else []


def _ip_text(p, version):
    if p == ffi.NULL:
        return ""
    if version == 6:
        return socket.inet_ntop(socket.AF_INET6, ffi.buffer(p, 16)[:])
    return socket.inet_ntop(socket.AF_INET, ffi.buffer(p, 4)[:])


# ---- what plugin callbacks see ---------------------------------------------

class _Fields(object):
    """A packet's fields once copied out of the engine."""


def _field(name):
    return property(lambda self: getattr(self._p, name), doc="NFPacket." + name)


def _flag(name):
    return property(lambda self: int(getattr(self._p, name)), doc="NFPacket." + name)


class NFPacket(object):
    """The packet being metered (NFStream's NFPacket), read from the engine
    when an attribute is asked for.  src_ip/src_mac/src_oui and their dst_
    twins are the flow's, swapped when direction is 1 (as NFStream); the
    rest is the packet's own.  A packet kept after its callback is copied
    then (its C memory is gone)."""

    __slots__ = ("_p", "_f", "_host", "_sides")

    _FIELDS = ("time", "delta_time", "direction", "raw_size", "ip_size", "transport_size",
               "payload_size", "src_port", "dst_port", "protocol", "vlan_id", "ip_version",
               "tunnel_id")
    _FLAGS = ("syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin")

    time = property(lambda self: self._p.time)
    delta_time = property(lambda self: self._p.delta_time)
    direction = property(lambda self: self._p.direction)
    raw_size = property(lambda self: self._p.raw_size)
    ip_size = property(lambda self: self._p.ip_size)
    transport_size = property(lambda self: self._p.transport_size)
    payload_size = property(lambda self: self._p.payload_size)
    src_port = property(lambda self: self._p.src_port)
    dst_port = property(lambda self: self._p.dst_port)
    protocol = property(lambda self: self._p.protocol)
    vlan_id = property(lambda self: self._p.vlan_id)
    ip_version = property(lambda self: self._p.ip_version)
    tunnel_id = property(lambda self: self._p.tunnel_id)
    syn = _flag("syn")
    cwr = _flag("cwr")
    ece = _flag("ece")
    urg = _flag("urg")
    ack = _flag("ack")
    psh = _flag("psh")
    rst = _flag("rst")
    fin = _flag("fin")

    @property
    def ip_packet(self):
        p = self._p
        if type(p) is _Fields:
            return p.ip_packet
        return ffi.buffer(p.ip_packet, p.ip_packet_len)[:] if p.ip_packet_len else b""

    @property
    def payload(self):
        """The transport payload inside the capture (ours; NFStream's
        plugins parse ip_packet for it)."""
        p = self._p
        if type(p) is _Fields:
            return p.payload
        return ffi.buffer(p.payload, p.payload_len)[:] if p.payload_len else b""

    def _side(self, what, dst):
        s = self._sides
        if s is not None:
            return s[(dst, what)]
        swap = self._p.direction == 1
        return self._host.flow_value(self._f, ("dst_" if dst != swap else "src_") + what)

    src_ip = property(lambda self: self._side("ip", False))
    dst_ip = property(lambda self: self._side("ip", True))
    src_mac = property(lambda self: self._side("mac", False))
    dst_mac = property(lambda self: self._side("mac", True))
    src_oui = property(lambda self: self._side("oui", False))
    dst_oui = property(lambda self: self._side("oui", True))

    def _detach(self):
        """Copy every field: the C packet is about to go."""
        c = _Fields()
        p = self._p
        for k in self._FIELDS + self._FLAGS:
            setattr(c, k, getattr(p, k))
        c.ip_packet = self.ip_packet
        c.payload = self.payload
        self._sides = {(dst, what): self._side(what, dst) for dst in (False, True)
                       for what in ("ip", "mac", "oui")}
        self._p = c
        self._f = None

    def __repr__(self):
        return "NFPacket(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in
                                           self._FIELDS + ("src_ip", "dst_ip"))


def new_packet(p, f, host, _new=object.__new__, _cls=NFPacket):
    o = _new(_cls)
    o._p = p
    o._f = f
    o._host = host
    o._sides = None
    return o


class FlowView(object):
    """The flow in a plugin callback: NFlow's attributes read from the engine
    as they are now (counters include the current packet; id is -1 until
    export), udps, and expiration_id = -1 to expire it after the callbacks
    (NFStream's custom expiry).  Other columns a plugin sets are kept and
    given to the exported flow if still set at its expiry (NFStream
    overwrites them at its next per-packet sync, so does this view).  Each
    session makes a subclass with one property per column."""

    __slots__ = ("_f", "_host", "_h", "_udps", "_copy")

    @property
    def udps(self):
        u = self._udps
        if u is None:
            u = self._udps = self._host.udps_of(self)
        return u

    @udps.setter
    def udps(self, value):
        self._udps = value
        self._host.set_udps(self, value)

    @property
    def expiration_id(self):
        return self._get("expiration_id")

    @expiration_id.setter
    def expiration_id(self, value):
        # NFStream's custom expiry: only -1 means something
        if value == -1 and self._copy is None:
            lib.fs_flow_expire(self._f)

    @property
    def bidirectional_packets(self):
        c = self._copy
        return lib.fs_flow_packets(self._f) if c is None else c["bidirectional_packets"]

    @property
    def src2dst_packets(self):
        c = self._copy
        return lib.fs_flow_src2dst_packets(self._f) if c is None else c["src2dst_packets"]

    @property
    def dst2src_packets(self):
        c = self._copy
        return lib.fs_flow_dst2src_packets(self._f) if c is None else c["dst2src_packets"]

    def handle(self):
        h = self._h
        if h is None:
            h = self._h = lib.fs_flow_handle(self._f)
        return h

    def _get(self, name):
        host = self._host
        if host.overrides:
            over = host.overrides.get(self.handle())
            if over and name in over:
                return over[name]
        c = self._copy
        if c is not None:
            return c[name]
        return host.flow_value(self._f, name)

    def _set(self, name, value):
        self._host.override(self.handle(), name, value)

    def keys(self):
        return self._host.keys_of(self)

    def values(self):
        return [getattr(self, k) if not k.startswith("udps.") else getattr(self.udps, k[5:])
                for k in self.keys()]

    def _detach(self):
        """Copy every column: the C flow is about to go."""
        host = self._host
        c = {}
        for name in host.colidx:
            if not name.startswith("udps."):
                c[name] = host.flow_value(self._f, name)
        self.handle()
        self.udps
        self._copy = c
        self._f = None

    def __repr__(self):
        return "NFlow(" + ",\n      ".join("%s=%r" % kv for kv in zip(self.keys(), self.values())) + ")"


def view_class(names):
    """FlowView with a property for each column of @names."""
    attrs = {"__slots__": ()}
    for name in names:
        if name.startswith("udps.") or name in FlowView.__dict__:
            continue
        attrs[name] = property(lambda self, _n=name: self._get(_n),
                               lambda self, v, _n=name: self._set(_n, v))
    return type("NFlow", (FlowView,), attrs)


def new_view(cls, f, host, udps, h=None, _new=object.__new__):
    o = _new(cls)
    o._f = f
    o._host = host
    o._h = h
    o._udps = udps
    o._copy = None
    return o


getrefcount = sys.getrefcount
