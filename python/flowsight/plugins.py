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
    NACK = 6
    RELEASE = 7
    INFORM = 8


def _udp_payload(packet):
    """dpkt.ip.IP(packet.ip_packet).data.data for UDP, as NFStream's plugins
    get it: the IPv4 header rules whatever the version nibble (dpkt reads an
    IPv6 packet so too), the payload ending at the IP total length (or the
    capture's end when that is 0 or beyond it).  None where dpkt raises or
    gives no UDP object: too short, header length under 20, a fragment,
    another protocol."""
    ip = packet.ip_packet
    if ip is None or len(ip) < 20:
        return None
    hl = (ip[0] & 0x0F) * 4
    tot = (ip[2] << 8) | ip[3]
    end = tot if 0 < tot < len(ip) else len(ip)
    if hl < 20 or hl >= end or ((ip[6] << 8) | ip[7]) & 0x1FFF or ip[9] != 17:
        return None
    if end - hl < 8:
        return None
    return bytes(ip[hl + 8:end])


_DHCP_UDPS = ("dhcp_12", "dhcp_50", "dhcp_55", "dhcp_57", "dhcp_60", "dhcp_77",
              "dhcp_options", "dhcp_addr", "dhcp_msg_type", "dhcp_oui")


class DHCP(NFPlugin):
    """DHCP of flows to port 67 (the flow's dst_port): udps.dhcp_12 (host
    name), dhcp_50 (requested address), dhcp_55 (parameter request list,
    "1,3,6,42"), dhcp_57 (maximum message size), dhcp_60 (vendor class),
    dhcp_77 (user class); of each REQUEST: dhcp_options (its option codes,
    in order), dhcp_55, dhcp_50, dhcp_addr (ciaddr when not 0.0.0.0) and
    dhcp_oui (client hardware address OUI); dhcp_msg_type (the first message
    type, MsgType.X, or 0 without option 53).  A message ACK, NAK, INFORM or DECLINE, or any message of a
    flow from 0.0.0.0, expires the flow: one DHCP exchange per flow."""

    _c_port = "dhcp"

    def _c_config(self):
        return ""

    def on_init(self, packet, flow):
        u = flow.udps
        for k in _DHCP_UDPS:
            setattr(u, k, None)
        u.dhcp_options = []
        self.on_update(packet, flow)

    def on_update(self, packet, flow):
        if flow.dst_port != 67:
            return
        payload = _udp_payload(packet)
        # dpkt's DHCP: BOOTP's 236 bytes and the magic cookie (not checked)
        if payload is None or len(payload) < 240:
            return
        u = flow.udps
        options = []
        msg = 0  # no option 53: NFStream keeps the number 0
        opt50 = opt55 = None
        host = v60 = v77 = v57 = None
        i = 240
        while i < len(payload):
            code = payload[i]
            if code == 0:
                i += 1
                continue
            if code == 255:
                break
            if i + 1 >= len(payload):
                return  # an option code as the last byte: dpkt refuses the packet
            ln = payload[i + 1]
            val = payload[i + 2:i + 2 + ln]
            i += 2 + ln
            options.append(code)
            if code == 53:
                try:
                    msg = MsgType(int.from_bytes(val, "big"))
                except ValueError:
                    return  # NFStream fails on it; the ports ignore the packet
            elif code == 12:
                if val:
                    host = val.decode("utf-8", "replace")
            elif code == 50:
                opt50 = socket.inet_ntoa(val.rjust(4, b"\0")[-4:]) if len(val) <= 4 else None
            elif code == 55:
                opt55 = ",".join(str(b) for b in val)
            elif code == 57:
                v57 = int.from_bytes(val, "big")
            elif code == 60:
                try:
                    v60 = val.decode("utf-8")
                except UnicodeDecodeError:
                    return
            elif code == 77:
                try:
                    v77 = val.decode("utf-8")
                except UnicodeDecodeError:
                    return
        if host is not None:
            u.dhcp_12 = host
        if v60 is not None:
            u.dhcp_60 = v60
        if v77 is not None:
            u.dhcp_77 = v77
        if v57 is not None:
            u.dhcp_57 = v57
        if msg == MsgType.REQUEST:
            if payload[2] != 6:
                return  # a hardware address that is not 6 bytes: NFStream fails on it
            # values of the REQUEST itself: what it lacks goes back to None
            u.dhcp_oui = ":".join("%02x" % b for b in payload[28:31])
            u.dhcp_options = options
            u.dhcp_55 = opt55
            u.dhcp_50 = opt50
            ciaddr = payload[12:16]
            if ciaddr != b"\0\0\0\0":
                u.dhcp_addr = socket.inet_ntoa(ciaddr)
        if msg in (MsgType.ACK, MsgType.NACK, MsgType.INFORM, MsgType.DECLINE) or \
                flow.src_ip == "0.0.0.0":
            flow.expiration_id = -1
        if u.dhcp_msg_type is None:
            u.dhcp_msg_type = msg


def _dns_name(msg, off):
    """dpkt's unpack_name(): (name, offset past it); ValueError where dpkt
    raises (a bad label, a pointer that does not point backwards, a name
    over 255 bytes, one cut short) or the name is not UTF-8."""
    labels, start, saved, total = [], off, None, 0
    while True:
        if off >= len(msg):
            raise ValueError("cut short")
        c = msg[off]
        if c == 0:
            off += 1
            break
        if c & 0xC0 == 0xC0:
            if off + 2 > len(msg):
                raise ValueError("cut short")
            ptr = ((c & 0x3F) << 8) | msg[off + 1]
            if ptr >= start:
                raise ValueError("pointer loop")
            off += 2
            if saved is None:
                saved = off
            start = off = ptr
        elif c & 0xC0 == 0:
            off += 1
            total += c + 1
            if total > 255 or off + c > len(msg):
                raise ValueError("too long")
            labels.append(msg[off:off + c])
            off += c
        else:
            raise ValueError("bad label")
    name = b".".join(labels).decode("utf-8")  # UnicodeDecodeError is a ValueError
    return name, saved if saved is not None else off


def _dns_rdata(msg, off, rtype, rdlen):
    """dpkt's unpack_rdata(): the PTR target for type 12, else None;
    ValueError for a type dpkt does not know or data it cannot read."""
    avail = min(rdlen, max(len(msg) - off, 0))
    if rtype in (1, 10, 28, 41):  # A, NULL, AAAA, OPT
        return None
    if rtype in (2, 5, 12):  # NS, CNAME, PTR
        return _dns_name(msg, off)[0]
    if rtype == 6:  # SOA
        _, o = _dns_name(msg, off)
        _, o = _dns_name(msg, o)
        if o + 20 > len(msg):
            raise ValueError("cut short")
        return None
    if rtype in (15, 33):  # MX, SRV
        skip = 2 if rtype == 15 else 6
        if avail < skip:
            raise ValueError("cut short")
        _dns_name(msg, off + skip)
        return None
    if rtype in (13, 16):  # HINFO, TXT: UTF-8 strings
        rd = msg[off:off + avail]
        while rd:
            ln = min(rd[0], len(rd) - 1)
            rd[1:1 + ln].decode("utf-8")
            rd = rd[1 + ln:]
        return None
    raise ValueError("RR type %d is not supported" % rtype)


def _dns_ptr_answers(msg):
    """dpkt.dns.DNS(msg): the PTR targets of its answers, or None when the
    message does not unpack as a whole (NFStream then ignores the packet)."""
    if len(msg) < 12:
        return None
    counts = struct.unpack("!HHHH", msg[4:12])
    ptrs = []
    try:
        off = 12
        for _ in range(counts[0]):
            _, off = _dns_name(msg, off)
            if off + 4 > len(msg):
                return None
            off += 4
        for sec in (1, 2, 3):
            for _ in range(counts[sec]):
                _, off = _dns_name(msg, off)
                if off + 10 > len(msg):
                    return None
                rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
                off += 10
                target = _dns_rdata(msg, off, rtype, rdlen)
                if sec == 1 and rtype == 12:
                    ptrs.append(target)
                off += rdlen
    except ValueError:
        return None
    return ptrs


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
        ptrs = _dns_ptr_answers(msg) if msg is not None else None
        names = flow.udps.mdns_ptr
        for target in ptrs or ():
            target = target.replace(",", " ")
            if target not in names:
                names.append(target)
