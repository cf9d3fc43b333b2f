#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Workloads for test_attribution.py, run inside the test's namespaces.

Every process that opens a connection records its own pid, name and the
5-tuple it used, so the test compares flowsight's attribution with what the
workload itself knows.  Output: one JSON object per line on stdout.

  short N SRV4 SRV6       N short-lived processes (TCP, connected and
                          unconnected UDP, IPv4 and IPv6), each exiting
                          right after its connection
  tcp-server PORT         accept, read to EOF, answer
  udp-server PORT         answer every datagram
  pre SRV PORT            connect now, send when stdin says so
  forked SRV PORT         a connected UDP socket used by parent and child
  passed SRV PORT         a TCP connection handed to another process (SCM_RIGHTS)
  time-wait N SRV PORT    N TCP connections this side ends first: left in TIME_WAIT
  reused SRV PORT LPORT   two processes one after the other send 3 datagrams each
                          from the same UDP port LPORT (SO_REUSEADDR): one 5-tuple
  poll FILE               NFStream's method: /proc every 100 ms until SIGTERM
"""
import ctypes
import json
import os
import signal
import socket
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)


def set_name(name):
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def end_first(s):
    """End TCP connection @s from this side and read the peer's answer to
    its end: once closed, the port waits in TIME_WAIT, held by the kernel,
    not by a process."""
    s.shutdown(socket.SHUT_WR)
    while s.recv(64):
        pass


KINDS = [("tcp", 4), ("tcp", 6), ("udpc", 4), ("udpc", 6), ("udpu", 4), ("udpu", 6)]


def short(n, srv4, srv6):
    r, w = os.pipe()
    for i in range(n):
        kind, ipv = KINDS[i % len(KINDS)]
        pid = os.fork()
        if pid == 0:
            os.close(r)
            name = "fsw%d" % i
            set_name(name)
            fam = socket.AF_INET if ipv == 4 else socket.AF_INET6
            dst = srv4 if ipv == 4 else srv6
            if kind == "tcp":
                s = socket.socket(fam, socket.SOCK_STREAM)
                port = 8080
                t0 = time.monotonic()
                s.connect((dst, port))
                s.send(b"x" * 10)
                # close first, after the answer: the port then waits in
                # TIME_WAIT and no later process reuses this 5-tuple (a
                # reset connection frees it, and NFStream's flow key would
                # join the two connections into one flow)
                end_first(s)
            else:
                s = socket.socket(fam, socket.SOCK_DGRAM)
                port = 30000 + i  # one flow per process: no shared 5-tuple
                t0 = time.monotonic()
                if kind == "udpc":
                    s.connect((dst, port))
                    s.send(b"y" * 10)
                else:
                    s.sendto(b"z" * 10, (dst, port))
            lport = s.getsockname()[1]
            s.close()
            rec = json.dumps(dict(pid=os.getpid(), name=name, kind=kind, ipv=ipv,
                                  lport=lport, dst=dst, dport=port,
                                  exit_us=int((time.monotonic() - t0) * 1e6)))
            os.write(w, (rec + "\n").encode())
            os._exit(0)
        line = b""
        while not line.endswith(b"\n"):  # read as it comes: a full pipe would block the child
            chunk = os.read(r, 4096)
            if not chunk:
                break
            line += chunk
        sys.stdout.write(line.decode())
        os.waitpid(pid, 0)
    os.close(w)
    sys.stdout.flush()


def tcp_server(port):
    set_name("fsv-tcp")
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    s.listen(128)
    out(pid=os.getpid(), name="fsv-tcp", ready=True)
    while True:
        c, _ = s.accept()
        while c.recv(4096):
            pass
        try:
            c.send(b"ok")
        except OSError:
            pass
        c.close()


def udp_server(port):
    set_name("fsv-udp")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    out(pid=os.getpid(), name="fsv-udp", ready=True)
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)


def pre(srv, port):
    set_name("fs-pre")
    s = socket.create_connection((srv, port))
    out(pid=os.getpid(), name="fs-pre", lport=s.getsockname()[1], ready=True)
    sys.stdin.readline()
    s.send(b"late data")
    s.close()
    out(done=True)


def forked(srv, port):
    set_name("fs-parent")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((srv, port))
    s.send(b"from the parent")
    pid = os.fork()
    if pid == 0:
        set_name("fs-child")
        s.send(b"from the child")
        os._exit(0)
    os.waitpid(pid, 0)
    s.send(b"parent again")
    out(pid=os.getpid(), name="fs-parent", child=pid, lport=s.getsockname()[1], dport=port)


def passed(srv, port):
    """The creator connects, then hands the socket to a process that did
    not exist when it was made (SCM_RIGHTS), which sends and closes."""
    set_name("fs-creator")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        set_name("fs-user")
        a.close()
        _, fds, _, _ = socket.recv_fds(b, 16, 1)
        s = socket.socket(fileno=fds[0])
        s.send(b"from the receiver")
        end_first(s)
        s.close()
        os._exit(0)
    b.close()
    s = socket.create_connection((srv, port))
    lport = s.getsockname()[1]
    socket.send_fds(a, [b"fd"], [s.fileno()])
    s.close()
    os.waitpid(pid, 0)
    out(pid=os.getpid(), name="fs-creator", receiver=pid, lport=lport, dport=port)


def poll(path):
    """psutil.net_connections(kind='inet') as NFStream calls it every 100 ms:
    sockets with a remote address and a known pid, keyed by 5-tuple."""
    seen = {}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def parse(proto, v6, line):
        f = line.split()
        la, lp = f[1].split(":")
        ra, rp = f[2].split(":")
        if int(rp, 16) == 0:
            return None
        return proto, v6, int(lp, 16), int(rp, 16), int(f[9])

    while not stop:
        inodes = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                for fd in os.listdir("/proc/%s/fd" % pid):
                    try:
                        t = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                    except OSError:
                        continue
                    if t.startswith("socket:["):
                        inodes[int(t[8:-1])] = int(pid)
            except OSError:
                continue
        for proto, name in ((6, "tcp"), (17, "udp")):
            for v6 in (0, 1):
                try:
                    with open("/proc/net/%s%s" % (name, "6" if v6 else "")) as f:
                        lines = f.readlines()[1:]
                except OSError:
                    continue
                for line in lines:
                    e = parse(proto, v6, line)
                    if e and e[4] in inodes:
                        seen["%d/%d/%d" % (proto, e[2], e[3])] = inodes[e[4]]
        time.sleep(0.1)
    with open(path, "w") as f:
        json.dump(seen, f)


def reused(srv, port, lport):
    """Two processes, one after the other, send from UDP port @lport to
    @srv:@port: the second reuses the first's 5-tuple inside one flow."""
    for i, name in enumerate(("fs-reuse-a", "fs-reuse-b")):
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rd)
            set_name(name)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", lport))
            for k in range(3):
                s.sendto(b"%s %d" % (name.encode(), k), (srv, port))
                time.sleep(0.05)
            os.write(wr, json.dumps({"pid": os.getpid(), "name": name}).encode())
            os._exit(0)
        os.close(wr)
        rec = json.loads(os.read(rd, 4096))
        os.waitpid(pid, 0)
        out(pid=rec["pid"], name=name, lport=lport, dport=port, order=i)
        time.sleep(0.3)


def time_wait(n, srv, port):
    """@n connections to @srv:@port, each ended from here (end_first())."""
    for _ in range(n):
        with socket.create_connection((srv, port)) as s:
            end_first(s)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "short":
        short(int(args[0]), args[1], args[2])
    elif cmd == "tcp-server":
        tcp_server(int(args[0]))
    elif cmd == "udp-server":
        udp_server(int(args[0]))
    elif cmd == "pre":
        pre(args[0], int(args[1]))
    elif cmd == "forked":
        forked(args[0], int(args[1]))
    elif cmd == "passed":
        passed(args[0], int(args[1]))
    elif cmd == "poll":
        poll(args[0])
    elif cmd == "time-wait":
        time_wait(int(args[0]), args[1], int(args[2]))
    elif cmd == "reused":
        reused(args[0], int(args[1]), int(args[2]))


if __name__ == "__main__":
    main()
