#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Seed corpora for the fuzz targets, made from the project's own synthetic
captures (tools/mkpcap.c): usage seeds.py PCAP_DIR OUT_DIR.
  capture/  the capture files themselves
  decode/   each frame as [link-type index][flags][frame bytes]
  ja4/      TLS payloads starting with a handshake record, and the bare
            handshake message inside them
"""
import os
import struct
import sys

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


def main():
    src, out = sys.argv[1], sys.argv[2]
    for sub in ("capture", "decode", "ja4"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    n = 0
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
            k = frame.find(b"\x16\x03")
            if k >= 0 and len(frame) > k + 9 and frame[k + 5] == 1:
                with open(os.path.join(out, "ja4", "%s-%d-rec" % (name, i)), "wb") as f:
                    f.write(frame[k:])
                with open(os.path.join(out, "ja4", "%s-%d-hs" % (name, i)), "wb") as f:
                    f.write(frame[k + 5:])
            n += 1
    print("seeds: %d frames from %s" % (n, src))


if __name__ == "__main__":
    main()
