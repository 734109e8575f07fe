#!/usr/bin/python3
"""The mpi4py recipe measured the way primbench measures its C++ implementations.

Implementations:
  mpi4py.pickle  comm.gather / comm.scatter / comm.reduce / comm.allreduce / comm.bcast on NumPy
                 arrays sent as Python objects (pickled), the book's `comm.gather(data, root=0)`.
  mpi4py.buffer  comm.Gather / comm.Scatter / comm.Reduce / comm.Allreduce / comm.Bcast on NumPy
                 buffers.

Each primitive is described once, in PRIMS below (as primbench's kPrimitives, impls/api/api.cpp):
its buffers, its expected-result rule, its sizes and its memory traffic, and the two calls.

Methodology (docs/measurement.md, as bench/runner.cpp): every problem is validated in rounds with fresh
seeds before it is timed and once more after; each timed iteration starts with a barrier outside
the window and its time is the maximum over ranks of each rank's MPI.Wtime interval (allreduce
MAX), so every rank runs the same number of iterations; warm-up first; repetitions with
mean/median/stddev/cv aggregates. Inputs, poison, guards and checks are primbench's own validator's
(validate/check_c.cpp, through ctypes: the same rule, messages and speed as for the C++
implementations); expected values come from the inputs, never from another implementation. Output: Google Benchmark JSON, only rank 0 writes it; under primbench's
supervisor (--worker JOURNAL --only PLAN) each event is appended to its journal instead, as
primbench's own ranks do (bench/journal.hpp).

Run by `primbench run --impl 'mpi4py.*'` under mpirun; by hand:
  mpirun -np 2 /usr/bin/python3 impls/mpi/mpi4py_peer.py --validator build/release/validate/libprimbench_check.so \
      --count 1K,1M --out peer.json
"""

import argparse
import ctypes
import datetime
import json
import math
import os
import socket
import sys
import weakref
from typing import Callable, NamedTuple, Optional

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reports"))
from results import write_atomic  # noqa: E402  (the Python tools' one atomic write)

IMPLS = ("mpi4py.pickle", "mpi4py.buffer")
DTYPES = {"i32": np.int32, "i64": np.int64, "f32": np.float32, "f64": np.float64}
OPS = ("sum", "prod", "min", "max")
MPI_OPS = {"sum": MPI.SUM, "prod": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX}
NP_OPS = {"sum": np.add, "prod": np.multiply, "min": np.minimum, "max": np.maximum}


class Prim(NamedTuple):
    """What a primitive is, in one place: the fields of primbench's PrimitiveInfo, then how the
    two implementations call it. P ranks, `n` elements per block."""
    takes_op: bool  # reducing: element i of a result combines element i of every rank's send buffer
    rooted: bool  # has a root (allreduce has none: its root is always 0)
    send_blocks: Callable  # (rank, root, P): blocks of n in rank's send buffer (0: MPI ignores it)
    recv_blocks: Callable  # (rank, root, P): the same for its receive buffer
    # Copying (not takes_op): (rank, i, n, root) -> (from, index): element i of rank's receive
    # buffer is element `index` of rank `from`'s send buffer. Every block of n is one run.
    source: Optional[Callable]
    size_blocks: Callable  # (P): nccl-tests' size, what algbw is computed from, in blocks
    bus_factor: Callable  # (P): busbw / algbw
    read_blocks: Callable  # (P): the least memory traffic of the whole collective, blocks read
    written_blocks: Callable  # (P): and blocks written
    buffer: Callable  # (comm, send, recv, op, root): the mpi4py.buffer call (None: no such buffer)
    pickle: Callable  # (comm, obj, op, root) -> result: the mpi4py.pickle call
    pickle_send: Callable = lambda data, n, P: data  # the object pickled, made outside the window


ONE = lambda rank, root, P: 1  # noqa: E731
AT_ROOT = lambda blocks: lambda rank, root, P: blocks(P) if rank == root else 0  # noqa: E731
PRIMS = {
    "gather": Prim(False, True, ONE, AT_ROOT(lambda P: P), lambda rank, i, n, root: (i // n, i % n),
                   lambda P: P, lambda P: (P - 1) / P, lambda P: P, lambda P: P,
                   lambda c, send, recv, op, root: c.Gather(send, recv, root=root),
                   lambda c, obj, op, root: c.gather(obj, root=root)),
    "scatter": Prim(False, True, AT_ROOT(lambda P: P), ONE, lambda rank, i, n, root: (root, rank * n + i),
                    lambda P: P, lambda P: (P - 1) / P, lambda P: P, lambda P: P,
                    lambda c, send, recv, op, root: c.Scatter(send, recv, root=root),
                    lambda c, obj, op, root: c.scatter(obj, root=root),
                    lambda data, n, P: [data[r * n:(r + 1) * n] for r in range(P)]),
    "reduce": Prim(True, True, ONE, AT_ROOT(lambda P: 1), None,
                   lambda P: 1, lambda P: 1.0, lambda P: P, lambda P: 1,
                   lambda c, send, recv, op, root: c.Reduce(send, recv, op=MPI_OPS[op], root=root),
                   lambda c, obj, op, root: c.reduce(obj, op=NP_OPS[op], root=root)),
    "allreduce": Prim(True, False, ONE, ONE, None,
                      lambda P: 1, lambda P: 2 * (P - 1) / P, lambda P: P, lambda P: P,
                      lambda c, send, recv, op, root: c.Allreduce(send, recv, op=MPI_OPS[op]),
                      lambda c, obj, op, root: c.allreduce(obj, op=NP_OPS[op])),
    # The root's own buffer is its send buffer, which MPI_Bcast leaves as it is.
    "broadcast": Prim(False, True, AT_ROOT(lambda P: 1), lambda rank, root, P: 0 if rank == root else 1,
                      lambda rank, i, n, root: (root, i),
                      lambda P: 1, lambda P: 1.0, lambda P: P - 1, lambda P: P - 1,
                      lambda c, send, recv, op, root: c.Bcast(recv if send is None else send, root=root),
                      lambda c, obj, op, root: c.bcast(obj, root=root)),
}
PRIMITIVES = tuple(PRIMS)


def describe(p):
    """As primbench's Problem::describe(): "gather P=2 n=1024 f32 root=0", the op where it takes one."""
    d = PRIMS[p["primitive"]]
    return (f"{p['primitive']} P={p['ranks']} n={p['count']} {p['dtype']}" + (f" {p['op']}" if d.takes_op else "")
            + (f" root={p['root']}" if d.rooted else ""))


class Usage(Exception):
    pass


def sizes(text, what):
    """'1,2,8', '4K', '1:64M:x4' (geometric), '0:1K:+256' (arithmetic); K/M/G = 2^10/20/30."""
    def one(t):
        t = t.strip()
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:].upper(), 1)
        digits = t[:-1] if mult > 1 else t
        if not digits.isdigit():
            raise Usage(f"malformed {what} '{t}' (accepted: numbers with K/M/G, lists, ranges lo:hi:xF or lo:hi:+S)")
        return int(digits) * mult
    out = []
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) == 1:
            out.append(one(parts[0]))
            continue
        if len(parts) != 3 or parts[2][:1] not in ("x", "+"):
            raise Usage(f"malformed {what} range '{item}' (accepted: lo:hi:xF or lo:hi:+S)")
        lo, hi, step = one(parts[0]), one(parts[1]), one(parts[2][1:])
        v = lo
        while v <= hi:
            out.append(v)
            if step == 0 or (parts[2][0] == "x" and (v == 0 or step == 1)):
                raise Usage(f"{what} range '{item}' never advances")
            v = v * step if parts[2][0] == "x" else v + step
    return out


# ---- checks: primbench's own validator (validate/check_c.cpp, loaded with ctypes): the inputs,
# poison, guards and checks of every C++ implementation, with its messages, on this rank's NumPy
# buffers, so the peer's results are held to exactly the same rule at the same cost


class Validator:
    def __init__(self, path):
        if not path:
            raise Usage("--validator LIB is required: the build's validate/libprimbench_check.so")
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise Usage(f"cannot load the validator '{path}': {e}")
        c = ctypes
        lib.primbench_check_guard_bytes.restype = c.c_size_t
        lib.primbench_check_open.restype = c.c_void_p
        lib.primbench_check_open.argtypes = [c.c_char_p, c.c_char_p, c.c_char_p, c.c_int, c.c_ulonglong, c.c_int, c.c_int,
                                             c.c_void_p, c.c_void_p, c.c_char_p, c.c_size_t]
        lib.primbench_check_close.argtypes = [c.c_void_p]
        lib.primbench_check_prepare.restype = c.c_int
        lib.primbench_check_prepare.argtypes = [c.c_void_p, c.c_int, c.c_ulonglong, c.c_char_p, c.c_size_t]
        lib.primbench_check_poison.restype = c.c_int
        lib.primbench_check_poison.argtypes = [c.c_void_p, c.c_ulonglong, c.c_size_t, c.POINTER(c.c_size_t), c.c_char_p, c.c_size_t]
        lib.primbench_check_spots.argtypes = [c.c_void_p, c.c_void_p]
        lib.primbench_check_result.restype = c.c_int
        lib.primbench_check_result.argtypes = [c.c_void_p, c.c_int, c.c_ulonglong, c.c_int, c.c_char_p, c.c_size_t]
        # What primbench measures beside each timing (bench/peer_c.cpp): the reference and the machine's state.
        lib.primbench_reference_open.restype = c.c_void_p
        lib.primbench_reference_open.argtypes = [c.c_char_p, c.c_char_p, c.c_int, c.c_ulonglong, c.c_double, c.c_int, c.c_int,
                                                 c.c_char_p, c.c_size_t]
        lib.primbench_reference_trial.restype = c.c_double
        lib.primbench_reference_trial.argtypes = [c.c_void_p, c.c_int]
        lib.primbench_reference_ways.restype = c.c_int
        lib.primbench_reference_ways.argtypes = [c.c_void_p]
        lib.primbench_fastest_median.argtypes = [c.c_void_p, c.c_void_p, c.c_int, c.c_void_p]
        lib.primbench_reference_close.argtypes = [c.c_void_p]
        lib.primbench_machine_sample.argtypes = [c.c_void_p]
        lib.primbench_machine_state.argtypes = [c.c_void_p, c.c_void_p, c.c_double, c.c_void_p]
        lib.primbench_set_supervisor.argtypes = [c.c_int]
        self.lib, self.guard = lib, lib.primbench_check_guard_bytes()


# ---- beside the timings: primbench's reference and machine state (bench/peer_c.cpp, through the
# same library), so the peer's peak_fraction and contention marks mean what the runner's do


class Reference:
    """bench/reference.hpp's reference at one benchmark's working set: this rank's share (1/P) of
    its memory traffic, copied (or read P, written 1 for reduce) by this rank's part of the cores
    on its host, on buffers its threads allocate and first touch."""

    def __init__(self, comm, lib, p, cold, threads):
        self.comm, self.lib = comm, lib
        error = ctypes.create_string_buffer(512)
        self.handle = lib.primbench_reference_open(p["primitive"].encode(), p["dtype"].encode(), p["ranks"], p["count"],
                                                   1.0 / p["ranks"], threads, cold, error, len(error))
        if not self.handle:
            raise RuntimeError(error.value.decode(errors="replace"))
        weakref.finalize(self, lib.primbench_reference_close, self.handle)

    def measure(self, memory, repetition):
        """As the runner's measure_reference: GB/s of the whole collective's memory traffic, the
        median of up to 25 trials of each way the reference can be made (a block of trials each,
        within an equal share of a repetition's time; at least one), each as long as its slowest
        rank's, of the faster way; and its trials' spread, (max - min) / median."""
        ways = max(1, self.lib.primbench_reference_ways(self.handle))
        rates = [[] for _ in range(ways)]
        for way in range(ways):
            start = MPI.Wtime()
            while True:
                s = self.comm.allreduce(self.lib.primbench_reference_trial(self.handle, way), op=MPI.MAX)
                rates[way].append(memory / s / 1e9 if s > 0 else 0.0)
                if len(rates[way]) >= 25 or self.comm.allreduce(MPI.Wtime() - start, op=MPI.MAX) >= repetition / ways:
                    break
        flat = np.array([x for r in rates for x in r], dtype=np.float64)
        counts = np.array([len(r) for r in rates], dtype=np.int32)
        out = np.zeros(2, dtype=np.float64)
        self.lib.primbench_fastest_median(flat.ctypes.data, counts.ctypes.data, ways, out.ctypes.data)
        return float(out[0]), float(out[1])


JUDGED_SECONDS = 0.25  # as bench/machine.hpp's kJudgedSeconds
STATE = ("state_seconds", "load_avg", "online_cpus", "steal_pct", "others_cpu_pct", "huge_pages_kib")


class Machine:
    """The machine's state while each benchmark ran, as the runner records it (bench/runner.cpp
    counters): from the benchmark's start, or for one shorter than a quarter second so far, from
    the latest earlier benchmark's start that makes the interval that long."""

    def __init__(self, comm, lib, supervisor):
        self.comm, self.lib = comm, lib
        lib.primbench_set_supervisor(supervisor)
        self.one_host = len(set(comm.allgather(socket.gethostname()))) == 1
        self.earlier = []  # samples at earlier benchmarks' starts (the peer's start first)
        self.since = self.sample()

    def sample(self):
        v = np.zeros(6)
        self.lib.primbench_machine_sample(v.ctypes.data)
        return v

    def start(self):
        """A benchmark starts."""
        self.earlier.append(self.since)
        self.since = self.sample()

    def state(self):
        """The state counters of a repetition now (docs/results-json.md)."""
        now = self.sample()
        since = self.since
        if now[0] - since[0] < JUDGED_SECONDS:
            for s in self.earlier:
                if now[0] - s[0] >= JUDGED_SECONDS:
                    since = s
        # the run's own: every rank on this host, and once (rank 0's) the supervisor and launcher
        own = now[4] - since[4] + (max(0.0, now[5] - since[5]) if self.comm.Get_rank() == 0 else 0.0)
        if self.one_host:
            own = self.comm.allreduce(own, op=MPI.SUM)
        m = np.zeros(5)
        self.lib.primbench_machine_state(since.ctypes.data, now.ctypes.data, own, m.ctypes.data)
        c = self.comm
        return {"state_seconds": c.allreduce(now[0] - since[0], op=MPI.MAX), "load_avg": float(m[0]),
                "online_cpus": float(m[1]), "steal_pct": c.allreduce(float(m[2]), op=MPI.MAX),
                "others_cpu_pct": c.allreduce(float(m[3]), op=MPI.MAX),
                "huge_pages_kib": c.allreduce(float(m[4]), op=MPI.SUM)}


def reference_threads(comm):
    """As the runner's: every core of this host, shared among the ranks on it."""
    here = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks_here = here.Get_size()
    here.Free()
    return max(1, (os.cpu_count() or 1) // ranks_here)


class Guarded:
    """A NumPy buffer of n elements with the validator's guard bytes either side."""

    def __init__(self, n, dtype, guard):
        itemsize = np.dtype(DTYPES[dtype]).itemsize
        self.raw = np.zeros(n * itemsize + 2 * guard, np.uint8)  # first touch by this rank
        self.data = self.raw[guard:guard + n * itemsize].view(DTYPES[dtype])
        self.payload = self.raw.ctypes.data + guard


class Collective:
    """One problem on one implementation, this rank's part."""

    def __init__(self, comm, impl, prob, validator):
        self.comm, self.impl, self.p = comm, impl, prob
        self.d = PRIMS[prob["primitive"]]
        self.rank = comm.Get_rank()
        P, root, n = prob["ranks"], prob["root"], prob["count"]
        sends, receives = self.d.send_blocks(self.rank, root, P), self.d.recv_blocks(self.rank, root, P)
        g = validator.guard
        self.send, self.recv = Guarded(sends * n, prob["dtype"], g), Guarded(receives * n, prob["dtype"], g)
        # the arrays the call is given, None where MPI ignores a buffer (the root's receive
        # buffer of a broadcast, a scatter's send buffer off the root)
        self.send_arg = self.send.data if sends else None
        self.recv_arg = self.recv.data if receives else None
        self.result = None  # pickle: what the call returned
        self.obj = None  # pickle: the object this rank sends (a scatter root's list of blocks), made outside the window
        self.lib = validator.lib
        error = ctypes.create_string_buffer(512)
        self.handle = self.lib.primbench_check_open(prob["primitive"].encode(), prob["dtype"].encode(), prob["op"].encode(), P, n,
                                                    root, self.rank, self.send.payload, self.recv.payload, error, len(error))
        if not self.handle:
            raise RuntimeError(f"the validator refused {describe(prob)}: {error.value.decode()}")
        weakref.finalize(self, self.lib.primbench_check_close, self.handle)

    def prepare(self, mode, seed):
        """Inputs, poison and guards, as primbench's validate::prepare."""
        error = ctypes.create_string_buffer(512)
        if self.lib.primbench_check_prepare(self.handle, mode == "random", seed, error, len(error)):
            raise RuntimeError(error.value.decode(errors="replace"))
        self.result = None
        if self.impl == "mpi4py.pickle" and self.send_arg is not None:
            self.obj = self.d.pickle_send(self.send.data, self.p["count"], self.p["ranks"])

    def run(self):
        """One call; returns this rank's MPI.Wtime interval. The barrier is outside it."""
        c, p = self.comm, self.p
        c.Barrier()
        t0 = MPI.Wtime()
        if self.impl == "mpi4py.buffer":
            self.d.buffer(c, self.send_arg, self.recv_arg, p["op"], p["root"])
        else:
            self.result = self.d.pickle(c, self.obj, p["op"], p["root"])
        return MPI.Wtime() - t0

    def output_len(self):
        """Elements of what a pickled call returned (0 for nothing)."""
        if isinstance(self.result, list):  # a pickled gather's blocks
            return sum(len(b) for b in self.result)
        got = self.output()
        return 0 if got is None else len(got)

    def output_at(self, at):
        """output()[at] without assembling the whole output (a pickled gather's blocks stay apart)."""
        if isinstance(self.result, list) and self.result:
            n = self.p["count"]
            return np.array([self.result[i // n][i % n] for i in at], DTYPES[self.p["dtype"]])
        return self.output()[at]

    def output(self):
        """What a pickled call returned, as one array (None for nothing)."""
        if isinstance(self.result, list):
            return np.concatenate(self.result) if self.result else np.zeros(0, DTYPES[self.p["dtype"]])
        if self.result is None:
            return None
        return np.ascontiguousarray(np.atleast_1d(np.asarray(self.result, DTYPES[self.p["dtype"]])))

    def poison(self, key):
        """Poisons the elements a sampled check looks at, as the runner's (validate::poison: all
        of a receive buffer of up to 512, else the first and last of every block of n and 256
        drawn from key); returns them."""
        count, error = ctypes.c_size_t(), ctypes.create_string_buffer(512)
        if self.lib.primbench_check_poison(self.handle, key, 256, ctypes.byref(count), error, len(error)):
            raise RuntimeError(error.value.decode(errors="replace"))
        spots = np.empty(count.value, np.uintp)
        self.lib.primbench_check_spots(self.handle, spots.ctypes.data)
        self.result = None
        return spots.astype(np.int64)  # not uint64: numpy promotes uint64 // int to float

    def check(self, mode, seed, spots=None):
        """'' when correct (at the spots only, when given), else one line naming the first wrong element."""
        if self.impl == "mpi4py.pickle" and self.recv_arg is not None:
            # What the call returned is put where the validator looks, outside the window.
            have, want = self.output_len(), len(self.recv.data)
            if have != want:
                return f"{describe(self.p)}: rank {self.rank}: result has {have} elements, expected {want}"
            if spots is None:
                self.recv.data[:] = self.output()
            elif len(spots):
                self.recv.data[spots] = self.output_at(spots)
        message = ctypes.create_string_buffer(1024)
        if self.lib.primbench_check_result(self.handle, mode == "random", seed, spots is not None, message, len(message)):
            return message.value.decode(errors="replace")
        return ""


def first_error(comm, local):
    """The first non-empty message by rank order, agreed on every rank."""
    size = comm.Get_size()
    first = comm.allreduce(comm.Get_rank() if local else size, op=MPI.MIN)
    return "" if first == size else comm.bcast(local, root=first)


# ---- measurement

def traffic(p, ceilings):
    """As the runner's traffic() for host memory: nccl-tests' size and bus factor; the memory
    traffic is the bytes read, against the copy ceiling where every byte read is written too
    (gather, scatter, allreduce, broadcast), else against the read ceiling (reduce)."""
    d, P = PRIMS[p["primitive"]], p["ranks"]
    block = p["count"] * np.dtype(DTYPES[p["dtype"]]).itemsize
    read = d.read_blocks(P) * block
    copy = d.written_blocks(P) >= d.read_blocks(P)  # by blocks: a reduce of count 0 is still a read
    return {"bytes": d.size_blocks(P) * block, "bus": float(d.bus_factor(P)), "memory": read,
            "ceiling": ceilings[1] if copy else ceilings[0], "kind": "host_copy" if copy else "host_read"}


def percentile(v, q):
    if not v:
        return 0.0
    s = sorted(v)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def flush_caches(scratch):
    scratch += 1  # writes every line of a buffer larger than the last-level cache


CHECKED_CALLS = 44  # as the runner's kCheckedCalls: a call wrong 10 % of the time escapes 0.9^44 < 1 %


def iterations_per_repetition(opts, per_call):
    """As the runner's count: the iterations that make a repetition last about --min-time, and at
    least ceil(44 / R), so the loop holds the calls its checks sample, while the loop stays under
    3 s and a quarter of --timeout. Every repetition has as many (every rank agrees on per_call)."""
    per_call = max(per_call, 1e-9)
    fits = math.floor(min(3.0, opts.timeout / 4) / (per_call * opts.repetitions))
    least = min(math.ceil(CHECKED_CALLS / opts.repetitions), fits)
    return int(min(max(opts.min_time / per_call + 1, least, 1), 10_000_000))


class Checks:
    """The runner's checks of the timed loop (docs/validation.md), for the peer: the loop's
    iterations fall into min(--check-iterations, R * I) stretches of equal length, and one drawn
    from each (the same draw on every rank) has its outputs poisoned before and checked after,
    outside the window, while the checks of this peer cost under 5 % of its time so far, or this
    benchmark's under 5 % of its loop, or fewer than 44 of its calls were checked. The spots are
    the runner's."""

    def __init__(self, comm, coll, opts, mode, seed, loop, budget, floor):
        self.comm, self.coll, self.opts, self.mode, self.seed = comm, coll, opts, mode, seed
        # the sampled ones', whatever the budget: 5 % of the loop, not the runner's 2 %, for checks in Python cost more
        self.allowance = 0.05 * loop
        # and up to 44 checked calls whatever both: a check here costs 0.1 - 0.2 ms, ten calls of a small count
        self.floor = floor
        self.rng = np.random.default_rng(seed)  # every rank draws the same
        self.budget, self.spent, self.checked, self.failure = budget, 0.0, 0, ""
        self.stage(0)

    def stage(self, total):
        """A loop of `total` timed iterations starts (the pilot's, or --rse's second stage)."""
        self.total, self.index, self.k, self.pick = total, 0, min(self.opts.check_iterations, total), (-1, -1)

    def draw(self):
        i, self.index = self.index, self.index + 1
        if self.failure or self.k <= 0 or i >= self.total:
            return False
        if not (self.spent < self.budget or self.spent < self.allowance or self.checked < self.floor):
            return False
        s = i * self.k // self.total  # stretch s holds ceil(s T / k) .. ceil((s + 1) T / k) - 1
        if self.pick[0] != s:
            lo, hi = -(-s * self.total // self.k), -(-(s + 1) * self.total // self.k)
            self.pick = (s, lo + int(self.rng.integers(hi - lo)))
        return i == self.pick[1]

    def verify(self, what, t0, spots):
        self.failure = first_error(self.comm, self.coll.check(self.mode, self.seed, spots))
        self.spent = self.comm.allreduce(self.spent + MPI.Wtime() - t0, op=MPI.MAX)
        if self.failure:
            self.failure = f"validation failed in {what}: {self.coll.impl} {self.failure}"


def repetition(comm, coll, opts, scratch, checks, iterations):
    """`iterations` timed iterations (fewer only where a check failed)."""
    iters, calls, total, rank_total = [], [], 0.0, 0.0
    while len(iters) < iterations and not checks.failure:
        check = checks.draw()
        if check:
            t0 = MPI.Wtime()
            spots = coll.poison(checks.seed + len(iters) + 7919 * checks.checked)
            checks.spent += MPI.Wtime() - t0
        if scratch is not None:
            flush_caches(scratch)
        w0 = MPI.Wtime()
        dt = coll.run()
        calls.append(MPI.Wtime() - w0)  # the call with its barrier, as the runner clocks Collective::run
        t = comm.allreduce(dt, op=MPI.MAX)
        iters.append(t)
        total += t
        rank_total += dt
        if check:
            checks.checked += 1
            checks.verify(f"timed iteration {len(iters)}", MPI.Wtime(), spots)
    n = len(iters)
    mean = total / n
    mine = rank_total / n
    return {"iterations": n, "mean": mean, "t_rank_min": comm.allreduce(mine, op=MPI.MIN),
            "t_rank_max": comm.allreduce(mine, op=MPI.MAX),
            "t_rank_avg": comm.allreduce(mine, op=MPI.SUM) / comm.Get_size(),
            "t_p50": percentile(iters, 0.5), "t_p99": percentile(iters, 0.99),
            "median_call": comm.allreduce(percentile(calls, 0.5), op=MPI.MAX)}


def contents_id(path):
    """A file's build as primbench names one without a build ID (bench/context.cpp): "contents:"
    and the 64-bit FNV-1a hash of its bytes. The supervisor stops a peer whose script or validator
    changed since the run first launched one."""
    h = 0xcbf29ce484222325
    with open(path, "rb") as f:
        for b in f.read():
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"contents:{h:016x}"


def bench_name(impl, p):
    s = f"{p['primitive']}/{impl}/{p['dtype']}"
    if PRIMS[p["primitive"]].takes_op:
        s += f"/{p['op']}"
    return s + f"/ranks:{p['ranks']}/count:{p['count']}/root:{p['root']}/manual_time"


def labels(impl, p, failed):
    d = {"primitive": p["primitive"], "impl": impl, "dtype": p["dtype"], "validation": "failed" if failed else "passed"}
    if PRIMS[p["primitive"]].takes_op:
        d["op"] = p["op"]
    return d


def entries(impl, p, reps, tr, family, round_trip_ns=0.0):
    """Google Benchmark entries of passing repetitions; each repetition's dict holds its timings
    (repetition()), the reference measured before it and the machine's state after it."""
    name = bench_name(impl, p)
    rows = []
    for i, r in enumerate(reps):
        mean = r["mean"]
        algbw = tr["bytes"] / mean / 1e9 if mean > 0 else 0.0
        membw = tr["memory"] / mean / 1e9 if mean > 0 else 0.0
        counters = {"ranks": float(p["ranks"]), "count": float(p["count"]), "root": float(p["root"]),
                    "bytes": float(tr["bytes"]), "algbw": algbw, "busbw": algbw * tr["bus"], "membw": membw,
                    # the median iteration against the reference measured just before this
                    # repetition, as the runner's in a cache (the peer makes no paired trials)
                    "ref_GBps": r["ref_GBps"], "ref_spread": r["ref_spread"], "ref_paired": 0.0, "ref_again": 0.0,
                    "peak_fraction": tr["memory"] / r["t_p50"] / 1e9 / r["ref_GBps"] if r["ref_GBps"] > 0 and r["t_p50"] > 0 else 0.0,
                    "ceiling_fraction": membw / tr["ceiling"] if tr["ceiling"] > 0 else 0.0,
                    **{k: r[k] for k in ("t_rank_min", "t_rank_avg", "t_rank_max", "t_p50", "t_p99")},
                    "round_trip_ns": round_trip_ns,
                    "round_trips": r["t_p50"] * 1e9 / round_trip_ns if round_trip_ns > 0 else 0.0,
                    "window_share": r["t_p50"] / r["median_call"] if r["median_call"] > 0 else 0.0,
                    **{k: r[k] for k in STATE}}
        # Google Benchmark's rate: bytes a second, or calls a second for a collective of no bytes.
        if mean > 0:
            counters["bytes_per_second" if tr["bytes"] > 0 else "items_per_second"] = (tr["bytes"] or 1) / mean
        rows.append({"name": name, "family_index": family, "per_family_instance_index": 0, "run_name": name,
                     "run_type": "iteration", "repetitions": len(reps), "repetition_index": i, "threads": 1,
                     "iterations": r["iterations"], "real_time": mean * 1e9, "cpu_time": mean * 1e9,
                     "time_unit": "ns", **counters, "ceiling": tr["kind"], "reference": "beside",
                     **labels(impl, p, False)})
    if len(reps) > 1:
        repetitions = list(rows)  # the aggregates are over these alone, never over earlier aggregates
        keys = ["real_time", "cpu_time"] + [k for k in rows[0] if isinstance(rows[0][k], float) and k not in ("real_time", "cpu_time")]
        for agg in ("mean", "median", "stddev", "cv"):
            e = {"name": f"{name}_{agg}", "family_index": family, "per_family_instance_index": 0, "run_name": name,
                 "run_type": "aggregate", "repetitions": len(reps), "threads": 1, "aggregate_name": agg,
                 "aggregate_unit": "percentage" if agg == "cv" else "time", "iterations": len(reps), "time_unit": "ns"}
            for k in keys:
                v = np.array([row[k] for row in repetitions], dtype=np.float64)
                m, sd = float(v.mean()), float(v.std(ddof=1))
                val = {"mean": m, "median": float(np.median(v)), "stddev": sd, "cv": sd / m if m != 0 else None}[agg]
                if val is not None:  # Google Benchmark's undefined cv is left out, as the runner does
                    e[k] = val
            e["ceiling"], e["reference"] = tr["kind"], "beside"
            e.update(labels(impl, p, False))
            rows.append(e)
    return rows


def median_rse(times):
    """The median's relative standard error, distribution-free, as the runner computes it
    (bench/runner.cpp median_rse): half the order-statistic interval at ranks (n -/+ sqrt(n))/2."""
    t, n = sorted(times), len(times)
    if n < 2:
        return 0.0
    median = t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2
    half = math.sqrt(n) / 2
    lo = int(min(max(math.floor(n / 2 - half), 0), n - 1))
    hi = int(min(max(math.ceil(n / 2 + half), 0), n - 1))
    return (t[hi] - t[lo]) / 2 / median if median > 0 else 0.0


def until_rse(comm, opts, reps, pilot_seconds, again):
    """--rse's two-stage rule, as the runner's until_rse: the pilot, then, when its median's error
    is above the target, the repetitions that reach it at 1/sqrt(n), within --rse-max-time."""
    rse = comm.allreduce(median_rse([r["mean"] for r in reps]), op=MPI.MAX)
    pilot = 0
    if rse > opts.rse:
        per = comm.allreduce(pilot_seconds, op=MPI.MAX) / len(reps)
        n = int(min(math.ceil(len(reps) * (rse / opts.rse) ** 2), math.floor(opts.rse_max_time / max(per, 1e-9)), 100000))
        if n > len(reps):
            pilot, reps = len(reps), again(n)
            rse = comm.allreduce(median_rse([r["mean"] for r in reps]), op=MPI.MAX)
    return reps, {"rse": rse, "rse_target": opts.rse, "pilot_repetitions": pilot}


def error_entry(impl, p, message, family):
    name = bench_name(impl, p)
    return {"name": name, "family_index": family, "per_family_instance_index": 0, "run_name": name,
            "run_type": "iteration", "repetitions": 1, "repetition_index": 0, "threads": 1, "iterations": 0,
            "real_time": 0.0, "cpu_time": 0.0, "time_unit": "ns", "error_occurred": True,
            "error_message": message, **labels(impl, p, True)}


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impl", default=",".join(IMPLS))
    ap.add_argument("--primitive", default=",".join(PRIMITIVES))
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--op", default="sum")
    ap.add_argument("--ranks", default="")
    ap.add_argument("--count", default="1:16M:x8")
    ap.add_argument("--root", default="0")
    ap.add_argument("--validate", type=int, default=3)
    ap.add_argument("--check", default="exact", choices=("exact", "random", "both"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=300)  # enforced by the launching primbench
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=0.01)
    ap.add_argument("--cache", default="hot", choices=("hot", "cold"))
    ap.add_argument("--ceilings", default="0,0")  # READ,COPY[,CACHE]
    ap.add_argument("--check-budget", type=float, default=0.05, help="the checks' share of the peer's time")
    ap.add_argument("--check-iterations", type=int, default=64,
                    help="timed iterations spot-checked per benchmark besides the last (as primbench's)")
    ap.add_argument("--hugepages", action="store_true", help="accepted; numpy allocates the peer's buffers")
    ap.add_argument("--round-trip-ns", type=float, default=0.0, help="the supervisor's cache-line round trip")
    ap.add_argument("--rse", type=float, default=0.0)
    ap.add_argument("--rse-max-time", type=float, default=10.0)
    ap.add_argument("--aggregates-only", action="store_true", help="accepted; primbench keeps what --out holds")
    ap.add_argument("--out", default="")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--validate-only", action="store_true", help="validation rounds only, no timing")
    ap.add_argument("--worker", default="", help="the supervisor's journal: append each event to it")
    ap.add_argument("--only", default="", help="file naming the benchmarks to run, one per line")
    ap.add_argument("--supervisor-pid", type=int, default=0, help="the supervisor's pid: its CPU time is the run's own")
    ap.add_argument("--validator", default="", help="primbench's validator, the build's validate/libprimbench_check.so")
    return ap.parse_args(argv)


def plan(opts, P):
    impls = [i.strip() for i in opts.impl.split(",")]
    for i in impls:
        if i not in IMPLS:
            raise Usage(f"unknown implementation '{i}' (accepted: {', '.join(IMPLS)})")
    prims = [x.strip() for x in opts.primitive.split(",")]
    dtypes = [x.strip() for x in opts.dtype.split(",")]
    ops = [x.strip() for x in opts.op.split(",")]
    for vals, known, what in ((prims, PRIMITIVES, "primitive"), (dtypes, DTYPES, "dtype"), (ops, OPS, "op")):
        for v in vals:
            if v not in known:
                raise Usage(f"unknown {what} '{v}' (accepted: {', '.join(known)})")
    if opts.ranks and P not in sizes(opts.ranks, "rank count"):
        raise Usage(f"this MPI job has {P} ranks, but --ranks is {opts.ranks}")
    counts = sizes(opts.count, "count")
    roots = []
    for r in opts.root.split(","):
        roots.append(P - 1 if r.strip() == "last" else sizes(r, "root")[0])
    out, seen = [], set()
    for impl in impls:
        for prim in prims:
            d = PRIMS[prim]
            for dt in dtypes:
                for op in (ops if d.takes_op else ["sum"]):
                    for n in counts:
                        for root in (roots if d.rooted else [0]):
                            p = {"primitive": prim, "ranks": P, "count": n, "dtype": dt, "op": op, "root": root}
                            if root < P and bench_name(impl, p) not in seen:  # once each, as primbench plans
                                seen.add(bench_name(impl, p))
                                out.append((impl, p))
    return out


def description(max_ranks=5, n=3):
    """PRIMS evaluated at 1..max_ranks ranks, every root, n elements a block: `--describe` prints
    it, and tests/test_selection.cpp holds it against primbench's own table, value for value."""
    out = {}
    for name, d in PRIMS.items():
        cases = []
        for P in range(1, max_ranks + 1):
            for root in range(P) if d.rooted else (0,):
                recv = [d.recv_blocks(r, root, P) for r in range(P)]
                cases.append({"ranks": P, "root": root, "send_blocks": [d.send_blocks(r, root, P) for r in range(P)],
                              "recv_blocks": recv, "size_blocks": d.size_blocks(P), "bus_factor": d.bus_factor(P),
                              "read_blocks": d.read_blocks(P), "written_blocks": d.written_blocks(P),
                              "source": None if d.source is None else
                              [[list(d.source(r, i, n, root)) for i in range(recv[r] * n)] for r in range(P)]})
        out[name] = {"takes_op": d.takes_op, "rooted": d.rooted, "count": n, "cases": cases}
    return out


def main(argv):
    if argv == ["--describe"]:
        print(json.dumps(description()))
        return 0
    comm = MPI.COMM_WORLD.Dup()
    rank, P = comm.Get_rank(), comm.Get_size()
    leader = rank == 0
    try:
        opts = parse(argv)
        ceilings = [float(x) for x in opts.ceilings.split(",")]
        if opts.validate < 1 or opts.repetitions < 1 or len(ceilings) not in (2, 3):
            raise Usage("--validate and --repetitions must be at least 1; --ceilings is READ,COPY[,CACHE]")
        todo = plan(opts, P)
        validator = Validator(opts.validator)
        if opts.only:
            with open(opts.only) as f:
                only = set(f.read().split("\n"))
            todo = [(impl, p) for impl, p in todo if bench_name(impl, p)[:-len("/manual_time")] in only]
    except (Usage, ValueError, OSError) as e:
        if leader:
            print(f"primbench mpi4py peer: error: {e}", file=sys.stderr)
        return 2
    hosts = {}
    for h in comm.allgather(socket.gethostname()):
        hosts[h] = hosts.get(h, 0) + 1
    lib = MPI.Get_library_version().split("\n")[0].strip()
    context = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "host_name": socket.gethostname(), "executable": os.path.abspath(__file__),
               "num_cpus": os.cpu_count(), "library_build_type": "release",
               "mpi4py": {"version": __import__("mpi4py").__version__, "numpy": np.__version__,
                          "python": sys.version.split()[0], "mpi_library": lib, "world_size": P, "hosts": hosts,
                          "command_line": " ".join([sys.executable] + sys.argv)}}
    doc = {"context": context, "benchmarks": []}
    journal = os.open(opts.worker, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if leader and opts.worker else None

    def note(line):  # one write(2) per line, as the C++ journal
        if journal is not None:
            data = (json.dumps(line) + "\n").encode()
            while data:
                data = data[os.write(journal, data):]

    # The options that decide what a result means, as primbench records them (bench/context.hpp,
    # options_record): --resume and the supervisor compare them with the run's.
    options = {"validate": opts.validate, "check": opts.check, "seed": opts.seed}
    if not opts.validate_only:
        options.update({"repetitions": opts.repetitions, "min-time": opts.min_time, "warmup": opts.warmup,
                        "cache": opts.cache, "check-iterations": opts.check_iterations, "check-budget": opts.check_budget,
                        "rse": opts.rse, "rse-max-time": opts.rse_max_time, "hugepages": opts.hugepages,
                        "aggregates-only": opts.aggregates_only})
    worker = {"world_size": P, "hosts": hosts, "mpi4py": context["mpi4py"]["version"], "options": options}
    if journal is not None:  # what this peer runs: its script and the validator it loaded
        worker["builds"] = {path: contents_id(path) for path in (os.path.abspath(__file__), os.path.abspath(opts.validator))}
    note({"worker": worker})
    scratch = np.zeros(64 << 20, np.uint8) if opts.cache == "cold" else None
    machine, ref_threads = Machine(comm, validator.lib, opts.supervisor_pid), reference_threads(comm)
    status = 0
    run_start, checks_spent = MPI.Wtime(), 0.0  # the checks' budget is --check-budget (5 %) of the peer's time so far
    for family, (impl, p) in enumerate(todo):
        failure = ""
        rows = []
        name = bench_name(impl, p)[:-len("/manual_time")]
        note({"start": name})
        machine.start()
        try:
            note({"phase": "setup"})
            coll = Collective(comm, impl, p, validator)
            note({"phase": "validation"})
            modes = ("exact", "random") if opts.check == "both" else (opts.check,)
            for mode in modes:
                for k in range(opts.validate):
                    coll.prepare(mode, opts.seed + k)
                    coll.run()
                    failure = first_error(comm, coll.check(mode, opts.seed + k))
                    if failure:
                        failure = f"validation failed: {impl} {failure}"
                        break
                if failure:
                    break
            if not failure and not opts.validate_only:
                post = opts.seed + opts.validate
                coll.prepare(modes[0], post)
                note({"phase": "warm-up"})
                # At least two calls: the first can take many times the next (16M elements by
                # mpi4py.buffer's scatter), and a slow call's count is taken from the others.
                w0, runs = MPI.Wtime(), 0
                t_end = w0 + opts.warmup
                while True:
                    coll.run()
                    runs += 1
                    if runs == 1:
                        w1 = MPI.Wtime()
                    if runs >= 2 and not comm.allreduce(MPI.Wtime() < t_end, op=MPI.LAND):
                        break
                per_call = comm.allreduce((MPI.Wtime() - w1) / (runs - 1), op=MPI.MAX)
                note({"phase": "timed loop"})
                started = MPI.Wtime()
                elapsed = comm.allreduce(started - run_start, op=MPI.MAX)
                iterations = iterations_per_repetition(opts, per_call)
                loop = opts.repetitions * iterations * per_call
                validation_calls = opts.validate * len(modes)
                checks = Checks(comm, coll, opts, modes[0], post, loop, opts.check_budget * (elapsed + loop) - checks_spent,
                                CHECKED_CALLS - validation_calls - 1)

                # As the runner's: built once the problem validated, measured before every repetition.
                reference = Reference(comm, validator.lib, p, opts.cache == "cold", ref_threads)
                tr, repetition_seconds = traffic(p, ceilings), max(opts.min_time, iterations * per_call)

                def timed(n):  # up to the repetition whose check failed
                    checks.stage(n * iterations)
                    reps = []
                    while len(reps) < n and not checks.failure:
                        ref_GBps, ref_spread = reference.measure(tr["memory"], repetition_seconds)
                        r = repetition(comm, coll, opts, scratch, checks, iterations)
                        reps.append({**r, "ref_GBps": ref_GBps, "ref_spread": ref_spread, **machine.state()})
                    return reps
                reps = timed(opts.repetitions)
                rse_fields = {}
                if opts.rse > 0 and not checks.failure:
                    reps, rse_fields = until_rse(comm, opts, reps, MPI.Wtime() - started, timed)
                checks_spent += checks.spent
                failure = checks.failure
                if not failure:
                    note({"phase": "check after timing"})  # the last timed iteration's result
                    failure = first_error(comm, coll.check(modes[0], post))
                    if failure:
                        failure = f"validation failed after timing: {impl} {failure}"
                if not failure:
                    rows = entries(impl, p, reps, tr, family, opts.round_trip_ns)
                    for row in rows:
                        row.update(rse_fields)
                        if row["run_type"] == "iteration":
                            row.update({"checked_iterations": float(checks.checked),
                                        "checked_calls": float(validation_calls + 1 + checks.checked),
                                        "check_seconds": checks.spent})
        except MemoryError:
            failure = first_error(comm, "out of memory allocating the buffers")
        if failure:
            status = 1
            rows = [error_entry(impl, p, failure, family)]
        doc["benchmarks"].extend(rows)
        done = {"done": name, "entries": rows,
                "status": "passed" if not failure else "failed" if failure.startswith("validation") else "error"}
        if failure:
            done["failure"] = failure
        if family == 0:
            done["context"] = {k: v for k, v in context.items() if k != "mpi4py"}
        note(done)
        if leader and journal is None:
            if opts.out:
                write_atomic(opts.out, json.dumps(doc, indent=2) + "\n")
            if not opts.quiet:
                name = bench_name(impl, p)
                if failure:
                    print(f"{name:64s} {'-':>10s} {'-':>10s} {'-':>10s} {'-':>6s}  FAILED: {failure}", flush=True)
                elif not rows:
                    print(f"{name:64s} {'-':>10s} {'-':>10s} {'-':>10s} {'-':>6s}  passed", flush=True)
                else:
                    shown = next((r for r in rows if r.get("aggregate_name") == "median"), rows[0])
                    print(f"{name:64s} {shown['real_time'] / 1e3:7.2f} us {shown['algbw']:10.3f} {shown['busbw']:10.3f} "
                          f"{100 * shown['peak_fraction']:5.1f}%  passed", flush=True)
    note({"finished": True})  # the whole plan done: the supervisor believes the last result only then
    return status


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except BaseException:  # one rank's error must end the job, not leave the others waiting
        import traceback
        traceback.print_exc()
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(3)
    sys.exit(code)
