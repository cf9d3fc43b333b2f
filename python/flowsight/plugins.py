# SPDX-License-Identifier: GPL-2.0-only
"""NFStream's built-in plugins (nfstream.plugins): SPLT, FlowSlicer, DHCP,
MDNS, with the same constructor arguments and udps.  Each runs as its C
port (build/plugins/<name>.so, or <libdir>/flowsight/plugins/ once
installed), given its arguments as "key=value,...", when that file is
there and accepts them; otherwise as the pure-Python NFPlugin below, which
has NFStream's semantics on its own.  USE_C_PORTS = False (or the
environment's FLOWSIGHT_PLUGIN_DIR="") keeps the Python ones."""
import enum
import socket
import struct

from .plugin import NFPlugin

USE_C_PORTS = True

__all__ = ["SPLT", "FlowSlicer", "DHCP", "MDNS"]


class SPLT(NFPlugin):
    """Sequences of the first sequence_length packets: udps.splt_direction
    (0 src->dst, 1 dst->src), udps.splt_ps (size under accounting_mode) and
    udps.splt_piat_ms (time since the flow's previous packet, 0 first),
    padded with -1; the same as NFStreamer(splt_analysis=N)."""

    _c_port = "splt"

    def __init__(self, sequence_length=1, accounting_mode=0, **kwargs):
        super().__init__(sequence_length=sequence_length, accounting_mode=accounting_mode,
                         **kwargs)

    def _c_config(self):
        return "sequence_length=%d,accounting_mode=%d" % (self.sequence_length,
                                                          self.accounting_mode)

    def _size(self, packet):
        return (packet.raw_size, packet.ip_size, packet.transport_size,
                packet.payload_size)[self.accounting_mode]

    def on_init(self, packet, flow):
        n = self.sequence_length
        flow.udps.splt_direction = [-1] * n
        flow.udps.splt_ps = [-1] * n
        flow.udps.splt_piat_ms = [-1] * n
        if n > 0:
            flow.udps.splt_direction[0] = 0
            flow.udps.splt_ps[0] = self._size(packet)
            flow.udps.splt_piat_ms[0] = 0

    def on_update(self, packet, flow):
        i = flow.bidirectional_packets - 1
        if i < self.sequence_length:
            u = flow.udps
            u.splt_direction[i] = packet.direction
            u.splt_ps[i] = self._size(packet)
            u.splt_piat_ms[i] = packet.delta_time


class FlowSlicer(NFPlugin):
    """Expire each flow when it reaches limit packets (custom expiry,
    expiration_id -1): limit=1 gives one flow per packet."""

    _c_port = "flowslicer"

    def __init__(self, limit=1, **kwargs):
        super().__init__(limit=limit, **kwargs)

    def _c_config(self):
        return "limit=%d" % self.limit

    def on_init(self, packet, flow):
        if self.limit == 1:
            flow.expiration_id = -1

    def on_update(self, packet, flow):
        if flow.bidirectional_packets == self.limit:
            flow.expiration_id = -1


class MsgType(enum.Enum):
    """DHCP message types (option 53); str() gives "MsgType.REQUEST"."""
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7
    INFORM = 8


def _udp_payload(packet):
    """The UDP payload of an IPv4/IPv6 packet's ip_packet, or None."""
    ip = packet.ip_packet
    if len(ip) < 20:
        return None
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17 or len(ip) < ihl + 8:
            return None
        return ip[ihl + 8:]
    if ip[0] >> 4 == 6 and len(ip) >= 48 and ip[6] == 17:
        return ip[48:]
    return None


_DHCP_UDPS = ("dhcp_12", "dhcp_50", "dhcp_55", "dhcp_57", "dhcp_60", "dhcp_77",
              "dhcp_options", "dhcp_addr", "dhcp_msg_type", "dhcp_oui")


class DHCP(NFPlugin):
    """DHCP of flows to port 67 (the flow's dst_port): udps.dhcp_12 (host
    name), dhcp_50 (requested address), dhcp_55 (parameter request list,
    "1,3,6,42"), dhcp_57 (maximum message size), dhcp_60 (vendor class),
    dhcp_77 (user class), dhcp_options (option codes of the last message, in
    order), dhcp_addr (ciaddr when not 0.0.0.0), dhcp_msg_type (the first
    message type, MsgType.X), dhcp_oui (client hardware address OUI of a
    REQUEST).  A message ACK, NAK, INFORM or DECLINE, or any message of a
    flow from 0.0.0.0, expires the flow: one DHCP exchange per flow."""

    _c_port = "dhcp"

    def _c_config(self):
        return ""

    def on_init(self, packet, flow):
        u = flow.udps
        for k in _DHCP_UDPS:
            setattr(u, k, None)
        self.on_update(packet, flow)

    def on_update(self, packet, flow):
        if flow.dst_port != 67:
            return
        payload = _udp_payload(packet)
        if payload is None or len(payload) < 240 or payload[236:240] != b"\x63\x82\x53\x63":
            return
        u = flow.udps
        ciaddr = payload[12:16]
        if ciaddr != b"\0\0\0\0":
            u.dhcp_addr = socket.inet_ntoa(ciaddr)
        options = []
        msg = None
        i = 240
        while i < len(payload):
            code = payload[i]
            if code == 0:
                i += 1
                continue
            if code == 255 or i + 1 >= len(payload):
                break
            ln = payload[i + 1]
            val = payload[i + 2:i + 2 + ln]
            i += 2 + ln
            options.append(code)
            if code == 53 and ln >= 1:
                try:
                    msg = MsgType(val[0])
                except ValueError:
                    msg = None
            elif code == 12:
                u.dhcp_12 = val.decode("utf-8", "replace")
            elif code == 50 and ln == 4:
                u.dhcp_50 = socket.inet_ntoa(val)
            elif code == 55:
                u.dhcp_55 = ",".join(str(b) for b in val)
            elif code == 57 and ln == 2:
                u.dhcp_57 = struct.unpack("!H", val)[0]
            elif code == 60:
                u.dhcp_60 = val.decode("utf-8", "replace")
            elif code == 77:
                u.dhcp_77 = val.decode("utf-8", "replace")
        u.dhcp_options = options
        if msg is not None and u.dhcp_msg_type is None:
            u.dhcp_msg_type = msg
        if msg == MsgType.REQUEST:
            u.dhcp_oui = ":".join("%02x" % b for b in payload[28:31])
        if msg in (MsgType.ACK, MsgType.NAK, MsgType.INFORM, MsgType.DECLINE) or \
                flow.src_ip == "0.0.0.0":
            flow.expiration_id = -1


def _dns_name(msg, i, depth=0):
    """(name, next offset) at @i of DNS message @msg, compression followed."""
    labels = []
    end = None
    while i < len(msg) and depth < 32:
        ln = msg[i]
        if ln == 0:
            i += 1
            break
        if ln & 0xC0 == 0xC0:
            if i + 1 >= len(msg):
                raise ValueError("truncated pointer")
            if end is None:
                end = i + 2
            i = ((ln & 0x3F) << 8) | msg[i + 1]
            depth += 1
            continue
        labels.append(msg[i + 1:i + 1 + ln].decode("utf-8", "replace"))
        i += 1 + ln
    else:
        if depth >= 32:
            raise ValueError("pointer loop")
    return ".".join(labels), (end if end is not None else i)


class MDNS(NFPlugin):
    """mDNS of flows to port 5353 (the flow's dst_port): udps.mdns_ptr, the
    distinct names PTR answers point to, in order of appearance (commas
    replaced by spaces)."""

    _c_port = "mdns"

    def _c_config(self):
        return ""

    def on_init(self, packet, flow):
        flow.udps.mdns_ptr = []
        self.on_update(packet, flow)

    def on_update(self, packet, flow):
        if flow.dst_port != 5353:
            return
        msg = _udp_payload(packet)
        if msg is None or len(msg) < 12:
            return
        qd, an, ns, ar = struct.unpack("!HHHH", msg[4:12])
        names = flow.udps.mdns_ptr
        try:
            i = 12
            for _ in range(qd):
                _, i = _dns_name(msg, i)
                i += 4
            for _ in range(an + ns + ar):
                _, i = _dns_name(msg, i)
                if i + 10 > len(msg):
                    break
                rtype, _, _, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
                i += 10
                if rtype == 12:
                    target, _ = _dns_name(msg, i)
                    target = target.replace(",", " ")
                    if target not in names:
                        names.append(target)
                i += rdlen
        except (ValueError, struct.error, IndexError):
            pass
