#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Workloads for test_top.py and tools/bench_top.py, run inside their
namespaces.  Each sender names itself (prctl PR_SET_NAME) and prints one
JSON line with its pid, name and local port once connected, so the tests
compare flowsight's rows with what the process itself knows.

  sink-tcp PORT              accept connections and discard what they send
  sink-udp PORT              discard datagrams
  tcp NAME DST PORT RATE     send RATE bytes/s over one TCP connection until killed
  udp NAME DST PORT N SIZE   send N datagrams of SIZE payload bytes, 10 ms apart,
                             then print "done" and stay until killed
  udp-ports DST BASE N       one datagram from each of N local ports (BASE..BASE+N-1)
                             every second until killed (N open flows)
"""
import ctypes
import json
import os
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)


def set_name(name):
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def sink_tcp(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    out(ready=True, pid=os.getpid())
    while True:
        c, _ = s.accept()
        if os.fork() == 0:
            while c.recv(1 << 16):
                pass
            os._exit(0)
        c.close()


def sink_udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    out(ready=True, pid=os.getpid())
    while True:
        s.recv(1 << 16)


def tcp(name, dst, port, rate):
    set_name(name)
    s = socket.create_connection((dst, port))
    out(pid=os.getpid(), name=name, sport=s.getsockname()[1])
    step = 0.05
    chunk = b"x" * max(1, int(rate * step))
    t = time.monotonic()
    while True:
        s.sendall(chunk)
        t += step
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)


def udp(name, dst, port, n, size):
    set_name(name)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((dst, port))
    out(pid=os.getpid(), name=name, sport=s.getsockname()[1])
    for _ in range(n):
        s.send(b"u" * size)
        time.sleep(0.01)
    out(done=True)
    while True:
        time.sleep(1)


def udp_ports(dst, base, n):
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", base + i))
        socks.append(s)
    out(pid=os.getpid(), ready=True)
    while True:
        t = time.monotonic()
        for s in socks:
            s.sendto(b"p" * 18, (dst, 9))
        d = 1.0 - (time.monotonic() - t)
        if d > 0:
            time.sleep(d)


def main():
    a = sys.argv[1:]
    if a[0] == "sink-tcp":
        sink_tcp(int(a[1]))
    elif a[0] == "sink-udp":
        sink_udp(int(a[1]))
    elif a[0] == "tcp":
        tcp(a[1], a[2], int(a[3]), int(a[4]))
    elif a[0] == "udp":
        udp(a[1], a[2], int(a[3]), int(a[4]), int(a[5]))
    elif a[0] == "udp-ports":
        udp_ports(a[1], int(a[2]), int(a[3]))
    else:
        sys.exit("unknown workload %r" % a[0])


if __name__ == "__main__":
    main()
