"""Regenerate the report fixtures: /usr/bin/python3 tests/reports/make_fixtures.py

The timings come from a simple model, t = latency(impl, P) + bytes / bandwidth(impl), so the
fastest implementation of each size band is known in advance (see test_report.py):
seq.ref has the lowest latency and wins small messages, tbb.parallel_for has the highest host
bandwidth and wins large ones, and the cuda.* entries of the GPU file beat both at large sizes.

host_quiet.json and host_busy.json come from a real file, tests/reports/captured/host_run.json
(`primbench run --impl 'seq.ref,thread.flat' --primitive gather,reduce --ranks 2 --count 1K,1M`,
with the reference beside each benchmark and the machine-state counters), whose machine-state
counters are replaced so that the test does not depend on how busy the machine was: quiet
everywhere, or contended in the benchmarks of BUSY (see test_report.py's Contention).
"""
from __future__ import annotations

import copy
import json
import math
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent / "fixtures"
CAPTURED = Path(__file__).resolve().parent / "captured" / "host_run.json"
ELEM = {"i32": 4, "i64": 8, "f32": 4, "f64": 8}
REP_JITTER = (1.00, 1.03, 0.98)   # per-repetition factor: deterministic "noise"


def context(host, ceilings, backends, command, revision="abc1234"):
    return {
        "date": "2026-11-24T10:00:00+00:00", "host_name": host,
        "executable": "/work/build/primbench", "num_cpus": 2, "mhz_per_cpu": 2000,
        "cpu_scaling_enabled": False,
        "caches": [{"type": "Data", "level": 1, "size": 49152, "num_sharing": 1},
                   {"type": "Unified", "level": 2, "size": 1048576, "num_sharing": 1},
                   {"type": "Unified", "level": 3, "size": 33554432, "num_sharing": 2}],
        "load_avg": [0.5, 0.4, 0.3], "library_build_type": "release",
        "primbench": {"version": "0.1.0", "git_revision": revision, "build_type": "Release",
                      "compiler": "GNU 12.2.0", "command_line": command,
                      "machine": f"{host} / Example CPU @ 2.0GHz",
                      "ceilings": ceilings, "backends": backends},
    }


def problem_name(prim, impl, dtype, op, P, n, root):
    name = f"{prim}/{impl}/{dtype}"
    if op:
        name += f"/{op}"
    name += f"/ranks:{P}/count:{n}"
    if prim != "reduce" or root is not None:
        name += f"/root:{root or 0}"
    return name


def nbytes(prim, P, n, dtype):
    return (n if prim == "reduce" else P * n) * ELEM[dtype]


def entries(prim, impl, dtype, op, P, n, root, t, ceiling, fail=(), full=True, reps=3):
    """Iteration entries, one per repetition, then mean/median/stddev/cv aggregates."""
    run_name = problem_name(prim, impl, dtype, op, P, n, root)
    b = nbytes(prim, P, n, dtype)
    out, times = [], []
    for r in range(reps):
        base = {"name": run_name + "/manual_time", "run_name": run_name, "run_type": "iteration",
                "repetitions": reps, "repetition_index": r, "threads": 1, "time_unit": "ns",
                "validation": "passed"}   # primbench writes it on every entry
        if r in fail:
            base.update({"error_occurred": True, "validation": "failed", "iterations": 0, "real_time": 0, "cpu_time": 0,
                         "error_message": f"validation failed: {prim} {impl} P={P} n={n} "
                                          f"{dtype}{' ' + op if op else ''} root={root or 0}: "
                                          "rank 1 element 17: expected 3 got 0 (5 wrong)"})
            out.append(base)
            continue
        tr = t * REP_JITTER[r % len(REP_JITTER)]
        times.append(tr)
        base.update({"iterations": max(1, int(0.5 / tr)), "real_time": tr * 1e9,
                     "cpu_time": tr * 1e9 * 0.9})
        base.update(counters(prim, impl, dtype, op, P, n, root, b, tr, ceiling, full))
        out.append(base)
    if reps > 1 and times:
        mean = sum(times) / len(times)
        med = sorted(times)[len(times) // 2]
        sd = math.sqrt(sum((x - mean) ** 2 for x in times) / max(1, len(times) - 1))
        for agg, v in (("mean", mean), ("median", med), ("stddev", sd), ("cv", sd / mean)):
            a = {"name": f"{run_name}/manual_time_{agg}", "run_name": run_name,
                 "run_type": "aggregate", "repetitions": reps, "threads": 1, "validation": "passed",
                 "aggregate_name": agg, "iterations": len(times), "time_unit": "ns"}
            if agg == "cv":
                a.update({"aggregate_unit": "percentage", "real_time": v, "cpu_time": v})
            else:
                a.update({"real_time": v * 1e9, "cpu_time": v * 0.9e9})
                a.update(counters(prim, impl, dtype, op, P, n, root, b, max(v, 1e-12),
                                  ceiling, full))
            out.append(a)
    return out


def counters(prim, impl, dtype, op, P, n, root, b, t, ceiling, full):
    c = {"primitive": prim, "impl": impl, "dtype": dtype, "ranks": P, "count": n}
    if op:
        c["op"] = op
    if root is not None:
        c["root"] = root
    if not full:      # the mpi4py peer writes only the essentials
        return c
    algbw = b / t / 1e9
    busbw = algbw if prim == "reduce" else algbw * (P - 1) / P
    c.update({"bytes": b, "algbw": algbw, "busbw": busbw, "membw": algbw,
              "peak_fraction": algbw / ceiling,
              "t_rank_min": t * 0.9, "t_rank_avg": t * 0.95, "t_rank_max": t,
              "t_p50": t, "t_p99": t * 1.4})
    return c


# impl -> (latency(P) seconds, bandwidth bytes/s)
CPU_MODEL = {
    "seq.ref": (lambda P: 0.2e-6 * P, 3.0e9),
    "thread.flat": (lambda P: 2.0e-6 + 0.5e-6 * P, 8.0e9),
    "thread.tree": (lambda P: 3.0e-6 + 0.3e-6 * P, 6.5e9),
    "tbb.parallel_for": (lambda P: 6.0e-6 + 0.2e-6 * P, 10.5e9),
}
GPU_MODEL = {
    "cuda.memcpy": (lambda P: 8.0e-6 + 1.0e-6 * P, 900e9),
    "cuda.kernel": (lambda P: 5.0e-6, 1300e9),
}
CPU_CEIL = {"host_read_GBps": 21.3, "host_copy_GBps": 11.2}
GPU_CEIL = {"host_read_GBps": 40.0, "host_copy_GBps": 20.0, "device_copy_GBps": 1800.0}
COUNTS = (16, 256, 4096, 65536, 1048576)
RANKS = (1, 2, 4)
PRIMS = (("gather", None, 0), ("scatter", None, 0), ("reduce", "sum", 0))


def model_time(model, impl, prim, P, n, dtype):
    lat, bw = model[impl]
    return lat(P) + nbytes(prim, P, n, dtype) / bw


def cpu_file():
    bench = []
    for prim, op, root in PRIMS:
        for impl in CPU_MODEL:
            for P in RANKS:
                for n in COUNTS:
                    t = model_time(CPU_MODEL, impl, prim, P, n, "f32")
                    ceil = CPU_CEIL["host_read_GBps" if prim == "reduce" else "host_copy_GBps"]
                    fail = ()
                    # a broken implementation caught by validation in every repetition
                    if (prim, impl, P, n) == ("reduce", "thread.tree", 4, 4096):
                        fail = (0, 1, 2)
                    # caught in one repetition only: the benchmark still counts as failed
                    if (prim, impl, P, n) == ("scatter", "thread.flat", 4, 65536):
                        fail = (1,)
                    bench += entries(prim, impl, "f32", op, P, n, root, t, ceil, fail)
    # a second dtype for reduce, only for two impls
    for impl in ("seq.ref", "thread.flat"):
        for n in COUNTS[:3]:
            t = model_time(CPU_MODEL, impl, "reduce", 2, n, "i64")
            bench += entries("reduce", impl, "i64", "max", 2, n, 0, t,
                             CPU_CEIL["host_read_GBps"])
    backends = {"seq": {"available": True, "reason": "", "version": ""},
                "thread": {"available": True, "reason": "", "version": ""},
                "tbb": {"available": True, "reason": "", "version": "2021.8"},
                "mpi": {"available": False, "reason": "MPI not found at configure time"},
                "cuda": {"available": False, "reason": "no CUDA device"}}
    return {"context": context("cpu-box", CPU_CEIL, backends,
                               "primbench run --repetitions 3 --out cpu.json"),
            "benchmarks": bench}


def gpu_file():
    bench = []
    for prim, op, root in PRIMS:
        for impl in GPU_MODEL:
            for P in RANKS:
                for n in COUNTS:
                    t = model_time(GPU_MODEL, impl, prim, P, n, "f32")
                    bench += entries(prim, impl, "f32", op, P, n, root, t,
                                     GPU_CEIL["device_copy_GBps"])
    for P in RANKS:      # cuda.cub exists for reduce only
        for n in COUNTS:
            t = model_time({"cuda.cub": (lambda P: 4.0e-6, 1500e9)}, "cuda.cub", "reduce", P, n,
                           "f32")
            bench += entries("reduce", "cuda.cub", "f32", "sum", P, n, 0, t,
                             GPU_CEIL["device_copy_GBps"])
    backends = {"seq": {"available": True, "reason": "", "version": ""},
                "cuda": {"available": True, "reason": "",
                         "version": "runtime 12.4, driver 550.54, NVIDIA H200"}}
    return {"context": context("gpu-box", GPU_CEIL, backends,
                               "primbench run --impl 'cuda.*' --out gpu.json", "def5678"),
            "benchmarks": bench}


def mpi4py_file():
    """The mpi4py peer: one repetition, no aggregates, only the essential counters."""
    bench = []
    model = {"mpi4py.pickle": (lambda P: 40e-6 * P, 0.8e9),
             "mpi4py.buffer": (lambda P: 15e-6 * P, 2.5e9)}
    for prim, op, root in PRIMS:
        for impl in model:
            for P in (2, 4):
                for n in COUNTS[1:4]:
                    t = model_time(model, impl, prim, P, n, "f32")
                    bench += entries(prim, impl, "f32", op, P, n, root, t, 1.0, full=False,
                                     reps=1)
    for b in bench:        # a peer that writes no run_name, repetition fields or cpu_time
        for k in ("run_name", "repetitions", "repetition_index", "cpu_time"):
            b.pop(k, None)
        b["name"] = b["name"].replace("/manual_time", "")
    return {"context": {"date": "2026-11-24T11:00:00", "host_name": "cpu-box",
                        "executable": "mpi4py_peer.py", "num_cpus": 2,
                        "primbench": {"version": "0.1.0", "command_line":
                                      "mpirun -n 4 python3 mpi4py_peer.py"}},
            "benchmarks": bench}


QUIET = {"steal_pct": 0.0, "others_cpu_pct": 3.0, "load_avg": 0.4, "online_cpus": 2.0}
# problem -> the machine state of each repetition (cumulative since the benchmark started: the
# last one covers it all and decides)
BUSY = {
    # steal and others: "(busy: steal 12 %, others 35 % of CPU, load 5.2 on 2 cores)"
    "gather/thread.flat/f32/ranks:2/count:1048576/root:0":
        [(10.0, 30.0, 4.8), (11.0, 33.0, 5.0), (12.0, 35.0, 5.2)],
    # other processes only, just over the line
    "reduce/seq.ref/f32/sum/ranks:2/count:1024/root:0":
        [(0.0, 14.0, 1.1), (0.0, 13.0, 1.2), (0.0, 10.0, 1.3)],
    # steal exactly at the line
    "reduce/thread.flat/f32/sum/ranks:2/count:1048576/root:0":
        [(6.0, 0.0, 0.5), (5.5, 0.0, 0.5), (5.0, 0.0, 0.5)],
    # busy early, quiet over the whole benchmark: not busy
    "gather/seq.ref/f32/ranks:2/count:1024/root:0":
        [(0.0, 40.0, 2.0), (0.0, 20.0, 1.5), (0.0, 8.0, 1.0)],
    # just under both lines: not busy
    "gather/seq.ref/f32/ranks:2/count:1048576/root:0":
        [(4.9, 9.9, 0.9), (4.9, 9.9, 0.9), (4.9, 9.9, 0.9)],
}


def _problem(b):
    return b.get("run_name", b["name"]).replace("/manual_time", "")


def host_file(busy: bool):
    """The captured file with its machine state replaced: quiet, or contended as in BUSY."""
    doc = copy.deepcopy(json.loads(CAPTURED.read_text()))
    reps: dict = {}
    for b in doc["benchmarks"]:
        if "steal_pct" not in b:
            continue
        states = BUSY.get(_problem(b)) if busy else None
        if b.get("run_type") == "iteration":
            if states:
                steal, others, load = states[b["repetition_index"]]
                b.update(steal_pct=steal, others_cpu_pct=others, load_avg=load,
                         online_cpus=2.0)
            else:
                b.update(QUIET)
            reps.setdefault(_problem(b), []).append(b)
    for b in doc["benchmarks"]:     # aggregates: over the repetitions, as Google Benchmark's
        if b.get("run_type") != "aggregate" or "steal_pct" not in b:
            continue
        for key in QUIET:
            xs = [r[key] for r in reps[_problem(b)]]
            mean = statistics.fmean(xs)
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            b[key] = {"mean": mean, "median": statistics.median(xs), "stddev": sd,
                      "cv": sd / mean if mean else 0.0}[b["aggregate_name"]]
    return doc


def dump(doc):
    """Context indented, one benchmark per line: small files that still diff well."""
    def rounded(b):
        return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in b.items()}
    lines = ",\n  ".join(json.dumps(rounded(b), separators=(",", ":"))
                          for b in doc["benchmarks"])
    return ('{\n "context": ' + json.dumps(doc["context"], indent=1).replace("\n", "\n ")
            + ',\n "benchmarks": [' + ("\n  " + lines + "\n " if lines else "") + "]\n}\n")


def main(out: Path = HERE):
    out.mkdir(parents=True, exist_ok=True)
    files = {"cpu.json": cpu_file(), "gpu.json": gpu_file(), "mpi4py.json": mpi4py_file()}
    files["empty.json"] = {"context": cpu_file()["context"], "benchmarks": []}
    files["host_quiet.json"] = host_file(busy=False)
    files["host_busy.json"] = host_file(busy=True)
    for name, doc in files.items():
        (out / name).write_text(dump(doc))
    text = (out / "mpi4py.json").read_text()
    (out / "truncated.json").write_text(text[: len(text) // 2])
    (out / "foreign.json").write_text(json.dumps(
        {"name": "left-pad", "version": "1.3.0", "dependencies": {}}, indent=1) + "\n")
    (out / "gbench_foreign.json").write_text(json.dumps(
        {"context": {"date": "2026-11-24", "num_cpus": 2},
         "benchmarks": [{"name": "BM_memcpy/8", "run_type": "iteration", "iterations": 1000,
                         "real_time": 12.0, "cpu_time": 12.0, "time_unit": "ns"}]},
        indent=1) + "\n")


if __name__ == "__main__":
    main()
