# SPDX-License-Identifier: GPL-2.0-only
"""What the namespace tests share: cases with PASS/FAIL/SKIP lines, the
summary line, command helpers (and the benchmarks' quartiles).  Each test module keeps its own namespaces,
set-up and clean-up and hands them to main()."""
import atexit
import json
import signal
import statistics
import subprocess
import sys


class Skip(Exception):
    pass


class Suite:
    def __init__(self, layer, stop_all):
        self.layer = layer
        self.stop_all = stop_all
        self.cases = []
        self.res = {"passed": 0, "failed": 0, "skipped": 0}

    def case(self, name):
        def deco(fn):
            def wrapped():
                try:
                    fn()
                    self.res["passed"] += 1
                    print("PASS %s/%s" % (self.layer, name), flush=True)
                except Skip as e:
                    self.res["skipped"] += 1
                    print("SKIP %s/%s: %s" % (self.layer, name, e), flush=True)
                except Exception as e:  # one failing case does not stop the others
                    self.res["failed"] += 1
                    print("FAIL %s/%s: %s" % (self.layer, name, e), flush=True)
                finally:
                    self.stop_all()
            wrapped.__name__ = name
            wrapped.fn = fn
            self.cases.append(wrapped)
            return wrapped
        return deco

    def main(self, why_skip, setup, cleanup, only=()):
        reason = why_skip()
        if reason:
            for c in self.cases:
                print("SKIP %s/%s: %s" % (self.layer, c.__name__, reason))
            print("0 passed, 0 failed, %d skipped" % len(self.cases))
            return 0
        atexit.register(cleanup)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sys.exit(1))
        try:
            setup()
        except Exception as e:
            print("FAIL %s/setup: %s" % (self.layer, e))
            print("0 passed, 1 failed, 0 skipped")
            return 1
        for c in self.cases:
            if not only or c.__name__ in only:
                c()
        r = self.res
        print("%d passed, %d failed, %d skipped" % (r["passed"], r["failed"], r["skipped"]))
        return 1 if r["failed"] else 0


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sh(*args, check_rc=True, timeout=60):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check_rc and p.returncode:
        raise AssertionError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                  p.stderr.decode().strip()))
    return p


def nsexec(ns, *args):
    return ["ip", "netns", "exec", ns] + list(args)


def stop_procs(procs):
    """Kill and reap every process of @procs still running, then empty it."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    procs.clear()


def del_netns(*names):
    """Delete network namespaces (their veths go with them); missing ones are fine."""
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def quartiles(v):
    """First and third quartiles of @v (its only value twice)."""
    if len(v) < 2:
        return v[0], v[0]
    q = statistics.quantiles(v, n=4)
    return q[0], q[2]


# BPF_PROG_QUERY of argv[1] at BPF_TCX_INGRESS and BPF_TCX_EGRESS: the number
# of programs attached with tcx on each, null without tcx (EINVAL); with
# argv[2] "ids", the list of their ids instead of the number.
TCX_QUERY = r"""
import ctypes, json, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
idx = socket.if_nametoindex(sys.argv[1])
out = []
for at in (46, 47):
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(64)
    struct.pack_into("IIIIQI", attr, 0, idx, at, 0, 0, ctypes.addressof(ids), 64)
    if libc.syscall(SYS_BPF, 16, attr, 64):
        err = ctypes.get_errno()
        out.append(None if err == 22 else -err)
    else:
        n = struct.unpack_from("I", attr, 24)[0]
        out.append(list(ids[:min(n, 64)]) if sys.argv[2:] == ["ids"] else n)
print(json.dumps(out))
"""


def tcx_progs(ns, dev):
    """Programs attached with tcx to @dev in namespace @ns: [ingress, egress],
    each None when the kernel has no tcx."""
    return json.loads(sh(*nsexec(ns, sys.executable, "-c", TCX_QUERY, dev)).stdout)


def tcx_prog_ids(ns, dev):
    """Ids of the programs attached with tcx to @dev in namespace @ns (none
    when the kernel has no tcx)."""
    out = json.loads(sh(*nsexec(ns, sys.executable, "-c", TCX_QUERY, dev, "ids")).stdout)
    return [i for ids in out if isinstance(ids, list) for i in ids]
