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

class NFPacket(object):
    """The packet being metered (NFStream's NFPacket), read from the engine
    when an attribute is asked for.  src_ip/src_mac/src_oui and their dst_
    twins are the flow's, swapped when direction is 1 (as NFStream); the
    rest is the packet's own.  A packet kept after its callback is copied
    then (its C memory is gone)."""

    __slots__ = ("_p", "_f", "_host", "_copy")

    def __init__(self, p, f, host):
        self._p = p
        self._f = f
        self._host = host
        self._copy = None

    def _get(self, name):
        c = self._copy
        if c is not None:
            return c[name]
        return getattr(self._p, name)

    time = property(lambda self: self._get("time"))
    delta_time = property(lambda self: self._get("delta_time"))
    direction = property(lambda self: self._get("direction"))
    raw_size = property(lambda self: self._get("raw_size"))
    ip_size = property(lambda self: self._get("ip_size"))
    transport_size = property(lambda self: self._get("transport_size"))
    payload_size = property(lambda self: self._get("payload_size"))
    src_port = property(lambda self: self._get("src_port"))
    dst_port = property(lambda self: self._get("dst_port"))
    protocol = property(lambda self: self._get("protocol"))
    vlan_id = property(lambda self: self._get("vlan_id"))
    ip_version = property(lambda self: self._get("ip_version"))
    tunnel_id = property(lambda self: self._get("tunnel_id"))
    syn = property(lambda self: int(self._get("syn")))
    cwr = property(lambda self: int(self._get("cwr")))
    ece = property(lambda self: int(self._get("ece")))
    urg = property(lambda self: int(self._get("urg")))
    ack = property(lambda self: int(self._get("ack")))
    psh = property(lambda self: int(self._get("psh")))
    rst = property(lambda self: int(self._get("rst")))
    fin = property(lambda self: int(self._get("fin")))

    @property
    def ip_packet(self):
        c = self._copy
        if c is not None:
            return c["ip_packet"]
        p = self._p
        return ffi.buffer(p.ip_packet, p.ip_packet_len)[:] if p.ip_packet_len else b""

    @property
    def payload(self):
        """The transport payload inside the capture (ours; NFStream's
        plugins parse ip_packet for it)."""
        c = self._copy
        if c is not None:
            return c["payload"]
        p = self._p
        return ffi.buffer(p.payload, p.payload_len)[:] if p.payload_len else b""

    def _flow_side(self, what, dst):
        c = self._copy
        if c is not None:
            return c[("dst_" if dst else "src_") + what]
        swap = self._p.direction == 1
        side = "dst_" if dst != swap else "src_"
        return self._host.flow_value(self._f, side + what)

    src_ip = property(lambda self: self._flow_side("ip", False))
    dst_ip = property(lambda self: self._flow_side("ip", True))
    src_mac = property(lambda self: self._flow_side("mac", False))
    dst_mac = property(lambda self: self._flow_side("mac", True))
    src_oui = property(lambda self: self._flow_side("oui", False))
    dst_oui = property(lambda self: self._flow_side("oui", True))

    _FIELDS = ("time", "delta_time", "direction", "raw_size", "ip_size", "transport_size",
               "payload_size", "src_port", "dst_port", "protocol", "vlan_id", "ip_version",
               "tunnel_id", "syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin")

    def _detach(self):
        """Copy every field: the C packet is about to go."""
        c = {k: getattr(self, k) for k in self._FIELDS}
        for side in ("src_", "dst_"):
            for what in ("ip", "mac", "oui"):
                c[side + what] = getattr(self, side + what)
        c["ip_packet"] = self.ip_packet
        c["payload"] = self.payload
        self._copy = c
        self._p = self._f = None

    def __repr__(self):
        return "NFPacket(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in
                                           self._FIELDS + ("src_ip", "dst_ip"))


class FlowView(object):
    """The flow in a plugin callback: NFlow's attributes read from the engine
    as they are now (counters include the current packet; id is -1 until
    export), udps, and expiration_id = -1 to expire it after the callbacks
    (NFStream's custom expiry).  Other attributes a plugin sets are kept
    and given to the exported flow if still set at its expiry (NFStream
    overwrites them at its next per-packet sync, so does this view)."""

    __slots__ = ("_f", "_host", "_h", "_udps", "_copy")

    def __init__(self, f, host, udps):
        object.__setattr__(self, "_f", f)
        object.__setattr__(self, "_host", host)
        object.__setattr__(self, "_h", None)
        object.__setattr__(self, "_udps", udps)
        object.__setattr__(self, "_copy", None)

    @property
    def udps(self):
        u = self._udps
        if u is None:
            u = self._host.udps_of(self)
            object.__setattr__(self, "_udps", u)
        return u

    def handle(self):
        h = self._h
        if h is None:
            h = lib.fs_flow_handle(self._f)
            object.__setattr__(self, "_h", h)
        return h

    @property
    def bidirectional_packets(self):
        if self._copy is not None:
            return self._copy["bidirectional_packets"]
        return lib.fs_flow_packets(self._f)

    @property
    def src2dst_packets(self):
        if self._copy is not None:
            return self._copy["src2dst_packets"]
        return lib.fs_flow_src2dst_packets(self._f)

    @property
    def dst2src_packets(self):
        if self._copy is not None:
            return self._copy["dst2src_packets"]
        return lib.fs_flow_dst2src_packets(self._f)

    def __getattr__(self, name):
        host = self._host
        over = host.overrides.get(self.handle()) if host.overrides else None
        if over and name in over:
            return over[name]
        c = self._copy
        if c is not None:
            if name in c:
                return c[name]
            raise AttributeError("'NFlow' object has no attribute '%s'" % name)
        return host.flow_value(self._f, name)

    def __setattr__(self, name, value):
        if name == "udps":
            object.__setattr__(self, "_udps", value)
            self._host.set_udps(self, value)
            return
        if name == "expiration_id":
            # NFStream's custom expiry: only -1 means something
            if value == -1 and self._copy is None:
                lib.fs_flow_expire(self._f)
            return
        host = self._host
        if name not in host.colidx:
            raise AttributeError("'NFlow' object has no attribute '%s'" % name)
        host.override(self.handle(), name, value)

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
        object.__setattr__(self, "_copy", c)
        object.__setattr__(self, "_f", None)

    def __repr__(self):
        return "NFlow(" + ",\n      ".join("%s=%r" % kv for kv in zip(self.keys(), self.values())) + ")"


getrefcount = sys.getrefcount
