#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Seed corpora for the fuzz targets, made from the project's own synthetic
captures (tools/mkpcap.c) and, for the targets behind nDPI and the kernel
parser, a bounded sample of real captures when a second directory is given
(NFStream's test captures): usage seeds.py PCAP_DIR OUT_DIR [EXTRA_PCAP_DIR].
  capture/    the capture files themselves
  decode/     each frame as [link-type index][flags][frame bytes]
  ja4/        TLS payloads starting with a handshake record, and the bare
              handshake message inside them
  bpf_parse/  Ethernet frames as [flags][vlan_tci:2][linear:2][frame]: as
              captured, with their 802.1Q tag removed into the skb's TCI, cut
              to a short linear part, with tunnel decoding on; plus an IPv6
              frame whose TCP header lies past the parser's first KiB
  dpi/        one flow per capture as fuzz_dpi's whole-IP-packet records,
              plus handshakes + first payloads (TLS ClientHellos of ja4/,
              HTTP, DNS) in its built-header records
  writer/     hostile string sets (quotes, backslashes, commas, newlines,
              control bytes, invalid and 4-byte UTF-8, NFStream's buffer
              sizes) under every column configuration, with numeric
              extremes, in fuzz_writer's layout
"""
import os
import struct
import sys

MAX_EXTRA_FILES = 400  # real captures sampled for dpi/ and bpf_parse/
MAX_EXTRA_BYTES = 256 * 1024

DLTS = [0, 1, 9, 12, 101, 50, 104, 113, 276, 127, 228, 229]


def frames(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        return  # pcapng: only used whole, as a capture seed
    dlt = struct.unpack(end + "I", data[20:24])[0] & 0xffff
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if len(frame) == caplen:
            yield dlt, frame


def ip_packet(dlt, frame):
    """The IP packet inside a frame of link type dlt, or None."""
    if dlt == 1:
        off, typ = 14, frame[12:14]
        while typ == b"\x81\x00" and len(frame) >= off + 4:
            typ, off = frame[off + 2:off + 4], off + 4
        if typ not in (b"\x08\x00", b"\x86\xdd"):
            return None
    elif dlt == 113:
        off = 16
    elif dlt == 276:
        off = 20
    elif dlt == 0:
        off = 4
    elif dlt in (12, 101, 228, 229):
        off = 0
    else:
        return None
    ip = frame[off:]
    return ip if len(ip) >= 20 and ip[0] >> 4 in (4, 6) else None


def flow_key(ip):
    """Direction-free 5-tuple of an IP packet (None when it has none)."""
    if ip[0] >> 4 == 4:
        hl, proto, src, dst = (ip[0] & 15) * 4, ip[9], ip[12:16], ip[16:20]
    elif len(ip) >= 40:
        hl, proto, src, dst = 40, ip[6], ip[8:24], ip[24:40]
    else:
        return None
    ports = (0, 0)
    if proto in (6, 17) and len(ip) >= hl + 4:
        ports = struct.unpack(">HH", ip[hl:hl + 4])
    return (proto,) + tuple(sorted([(src, ports[0]), (dst, ports[1])]))


def dpi_raw_seed(packets, nd_pick=4, ja4=1):
    """fuzz_dpi input: whole IP packets (ctl bit 3), 1 ms apart."""
    out = bytearray([nd_pick, ja4]) + bytes(20)
    for ip in packets:
        out += bytes([8, 1]) + struct.pack(">H", len(ip)) + ip
    return bytes(out)


def dpi_built_seed(proto_bits, sport, dport, packets):
    """fuzz_dpi input on flow slot 0: packets are (dir, flag set, payload)."""
    out = bytearray([4, 1, proto_bits]) + struct.pack(">HH", sport, dport) + bytes(15)
    for d, fl, pl in packets:
        out += bytes([d << 2 | fl << 4, 1]) + struct.pack(">H", len(pl)) + pl
    return bytes(out)


def tcp_session(payload_c2s, payload_s2c=b""):
    """SYN, SYN-ACK, ACK, then the payloads (flag sets of fuzz_dpi.c)."""
    pk = [(0, 1, b""), (1, 2, b""), (0, 3, b""), (0, 0, payload_c2s)]
    if payload_s2c:
        pk.append((1, 0, payload_s2c))
    return pk


def add_dpi_seeds(out, flows, hellos):
    d = os.path.join(out, "dpi")
    for name, pkts in flows:
        write(os.path.join(d, name), dpi_raw_seed(pkts))
    for i, hello in enumerate(hellos[:16]):
        write(os.path.join(d, "tls-%d" % i), dpi_built_seed(0, 40000, 443, tcp_session(hello)))
    http = (b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n"
            b"User-Agent: Mozilla/5.0 \"fuzz\", \xff\xfe\r\nAccept: */*\r\n\r\n")
    resp = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\"utf-8\"\r\n"
            b"Content-Length: 5\r\n\r\nhello")
    write(os.path.join(d, "http"), dpi_built_seed(0, 40001, 80, tcp_session(http, resp)))
    for nd in range(5):  # each n_dissections fuzz_dpi offers
        seed = dpi_built_seed(0, 40001, 80, tcp_session(http, resp))
        write(os.path.join(d, "http-nd%d" % nd), bytes([nd]) + seed[1:])
    dns = bytes.fromhex("12340100000100000000000003777777076578616d706c6503636f6d0000010001")
    write(os.path.join(d, "dns"), dpi_built_seed(1, 53000, 53, [(0, 0, dns)]))
    write(os.path.join(d, "dns-v6"), dpi_built_seed(3, 53000, 53, [(0, 0, dns)]))


def bpf_parse_seeds(name, i, frame, out):
    d = os.path.join(out, "bpf_parse")
    write(os.path.join(d, "%s-%d" % (name, i)), bytes(5) + frame)
    write(os.path.join(d, "%s-%d-tun" % (name, i)), bytes([2, 0, 0, 0, 0]) + frame)
    if len(frame) > 40:
        write(os.path.join(d, "%s-%d-lin" % (name, i)), bytes([4, 0, 0, 0, 34]) + frame)
    if frame[12:14] == b"\x81\x00" and len(frame) >= 18:
        # the tag the driver would have moved into skb->vlan_tci
        write(os.path.join(d, "%s-%d-tag" % (name, i)),
              bytes([1]) + frame[14:16] + bytes(2) + frame[:12] + frame[16:])


def ipv6_past_1k():
    """IPv6 + a 1 KiB hop-by-hop header + TCP: headers past FC_MAX_OFF."""
    hbh = bytes([6, 127]) + b"\x01" * 1022
    tcp = struct.pack(">HHIIBBHHH", 1111, 2222, 0, 0, 5 << 4, 0x12, 100, 0, 0)
    pl = hbh + tcp
    ip6 = (struct.pack(">IHBB", 0x60000000, len(pl), 0, 64) + b"\x20" + b"\x01" * 15 +
           b"\x20" + b"\x02" * 15)
    return bytes(5) + b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip6 + pl


# Hostile strings in fuzz_writer's field order: application, category,
# server name, client and server fingerprints, user agent, content type,
# JA4, process name, attribution, user, exe, cmdline, container id.
HOSTILE = [
    [b"TLS.Facebook", b"SocialNetwork", b"www.facebook.com", b"", b"", b"", b"",
     b"t13d1516h2_8daaf6152771_e5627efa2ab1", b"curl", b"socket", b"root", b"/usr/bin/curl",
     b"curl https://x", b""],
    [b'a"b', b'",', b"x,y", b'\\"', b"\\\\x", b'Mozilla "5.0", (X11)', b"\n", b"\r\n",
     b'"', b",", b"\\n", b"/a b/c,d\"e", b'sh -c "echo a,b\nc"', b"\t"],
    [b"\xff\xfe", b"\xc3\xa9t\xc3\xa9", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98\x80",
     b"\xc0\xaf", b"\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"caf\xc3",
     b"\x01\x02\x1f\x7f", b"\xef\xbb\xbf/bin", b"a\x00", b"\xf8\x88\x80\x80\x80"],
    [b"A" * 39, b"B" * 24, b"c" * 79, b"d" * 47, b"e" * 47, b"U" * 255, b"t" * 63, b"j" * 36,
     b"n" * 15, b"h" * 40, b"u" * 31, b"/" * 255, b"x" * 511, b"0123456789abcdef" * 5],
    [b"\\", b"a\\\\", b'\\"\\"', b'""', b'\\",\\"', b"\u2028", b"</script>", b"{}[]:",
     b"1e5", b"-0", b"NaN", b"null", b"true", b"\\u0041"],
]

NUMBERS = [bytes(1200), b"\xff" * 1200, (b"\x7f" + b"\xff" * 7) * 150,
           (b"\x80" + b"\x00" * 7) * 150, bytes(range(256)) * 5,
           (b"\x3e\xe4\xf8\xb5\x88\xe3\x68\xf1" + b"\x7f\xef\xff\xff\xff\xff\xff\xff") * 75]


def writer_seeds(out):
    d = os.path.join(out, "writer")
    n = 0
    for cfg in (0x00, 0x03, 0x07, 0x0f, 0x17, 0x3f, 0x7f, 0xbf, 0xff):
        for cfg2 in (0x00, 0x03, 0x04, 0x0a, 0xf1):
            for si, strs in enumerate(HOSTILE):
                rows = 2 if cfg & 0x80 else 1
                blob = bytearray([cfg, cfg2])
                for r in range(rows):
                    blob += b"\x00".join(strs) + b"\x00"
                blob += NUMBERS[(n + si) % len(NUMBERS)] * rows
                write(os.path.join(d, "w%03d" % n), bytes(blob))
                n += 1


def write(path, blob):
    with open(path, "wb") as f:
        f.write(blob)


def extra_captures(path):
    """A bounded, sorted sample of the classic-pcap files under path."""
    found = []
    for root, _, files in os.walk(path):
        for fn in files:
            full = os.path.join(root, fn)
            if fn.endswith(".pcap") and os.path.getsize(full) <= MAX_EXTRA_BYTES:
                found.append(full)
    return sorted(found)[:MAX_EXTRA_FILES]


def first_flow(path, max_packets=24, max_bytes=8192):
    """IP packets of the capture's first flow that carries payload."""
    flows, order = {}, []
    for dlt, frame in frames(path):
        ip = ip_packet(dlt, frame)
        key = ip and flow_key(ip)
        if not key:
            continue
        if key not in flows:
            flows[key] = []
            order.append(key)
        if len(flows[key]) < max_packets:
            flows[key].append(ip)
    for key in order:
        pk, total = [], 0
        for ip in flows[key]:
            if total + len(ip) > max_bytes:
                break
            pk.append(ip)
            total += len(ip)
        if len(pk) > 1 or (pk and len(pk[0]) > 60):
            return pk
    return None


def main():
    src, out = sys.argv[1], sys.argv[2]
    extra = sys.argv[3] if len(sys.argv) > 3 and os.path.isdir(sys.argv[3]) else None
    for sub in ("capture", "decode", "ja4", "bpf_parse", "dpi", "writer"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    n = 0
    hellos, flows = [], []
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            blob = f.read()
        with open(os.path.join(out, "capture", name), "wb") as f:
            f.write(blob)
        for i, (dlt, frame) in enumerate(frames(path)):
            idx = DLTS.index(dlt) if dlt in DLTS else 0
            with open(os.path.join(out, "decode", "%s-%d" % (name, i)), "wb") as f:
                f.write(bytes([idx, 1]) + frame)
            if dlt == 1:
                bpf_parse_seeds(name, i, frame, out)
            k = frame.find(b"\x16\x03")
            if k >= 0 and len(frame) > k + 9 and frame[k + 5] == 1:
                with open(os.path.join(out, "ja4", "%s-%d-rec" % (name, i)), "wb") as f:
                    f.write(frame[k:])
                with open(os.path.join(out, "ja4", "%s-%d-hs" % (name, i)), "wb") as f:
                    f.write(frame[k + 5:])
                hellos.append(frame[k:])
            n += 1
        pk = first_flow(path)
        if pk:
            flows.append((name, pk))
    n_extra = 0
    for path in extra_captures(extra) if extra else []:
        name = "x-" + os.path.basename(path)
        pk = first_flow(path)
        if pk:
            flows.append((name, pk))
            n_extra += 1
        for i, (dlt, frame) in enumerate(frames(path)):
            if i >= 2:
                break
            if dlt == 1:
                bpf_parse_seeds(name, i, frame, out)
    write(os.path.join(out, "bpf_parse", "ipv6-past-1k"), ipv6_past_1k())
    add_dpi_seeds(out, flows, hellos)
    writer_seeds(out)
    print("seeds: %d frames from %s, %d flows from %s" % (n, src, n_extra, extra or "-"))


if __name__ == "__main__":
    main()
