"""Deterministic synthetic primbench results (Google Benchmark JSON) for the compare/history tests."""
from __future__ import annotations

import json
import random
import statistics

NAMES = [
    "gather/thread.flat/f32/ranks:2/count:1024/root:0",
    "scatter/thread.flat/i32/ranks:4/count:4096/root:1",
    "reduce/tbb.parallel_for/f64/sum/ranks:4/count:65536/root:0",
]


def samples(seed: int, n: int, median_ns: float, cv: float) -> list:
    """n repetition times around median_ns with (log-normal) relative spread cv."""
    rng = random.Random(seed)
    return [median_ns * rng.lognormvariate(0.0, cv) for _ in range(n)]


def _counters(name: str, t_s: float, ref_GBps: float | None = None) -> dict:
    """A repetition's counters; with ref_GBps, the reference beside it, as primbench writes it
    on host memory: membw (traffic = bytes, a gather's), ref_GBps, peak_fraction, ceiling."""
    parts = dict(p.split(":") for p in name.split("/") if ":" in p)
    ranks, count = int(parts["ranks"]), int(parts["count"])
    nbytes = ranks * count * 4
    out = {"ranks": ranks, "count": count, "root": int(parts.get("root", 0)),
           "bytes": nbytes, "algbw": nbytes / t_s / 1e9, "busbw": nbytes / t_s / 1e9 * (ranks - 1) / ranks,
           "peak_fraction": 0.1, "t_rank_min": t_s * 0.9, "t_rank_avg": t_s * 0.95,
           "t_rank_max": t_s, "t_p50": t_s, "t_p99": t_s * 1.2}
    if ref_GBps is not None:
        membw = nbytes / t_s / 1e9
        out.update(membw=membw, ref_GBps=ref_GBps, ceiling="host_copy",
                   peak_fraction=membw / ref_GBps if ref_GBps > 0 else 0.0)
    return out


# context.primbench.options as primbench run writes them (defaults, --repetitions 10)
OPTIONS = {"validate": 3, "check": "random", "seed": 1, "repetitions": 10, "min-time": 0.02,
           "warmup": 0.01, "cache": "hot", "check-iterations": 64, "check-budget": 0.05,
           "rse": 0.0, "rse-max-time": 0.25, "hugepages": False, "aggregates-only": False}


def document(benchmarks: dict, failed: dict | None = None, revision: str = "abc1234",
             date: str = "2024-05-01T10:00:00+00:00", host: str = "ci-runner-1",
             suffix: str = "/manual_time", refs: dict | None = None, options="default",
             machine="default", validation: str | None = "passed") -> dict:
    """benchmarks: name -> list of repetition times (ns); failed: name -> error message;
    refs: name -> each repetition's reference (ref_GBps), for the benchmarks that have one;
    options: context.primbench.options (default OPTIONS; None: none recorded, an older file);
    machine: context.primbench.machine (default "<host> / Synthetic CPU @ 3.0GHz"; None: absent);
    validation: the timed entries' `validation` (None: the field left out).

    Names get Google Benchmark's `/manual_time` suffix, as primbench's UseManualTime() runs do.
    """
    out = []
    benchmarks = {n + suffix: t for n, t in benchmarks.items()}
    failed = {n + suffix: m for n, m in (failed or {}).items()}
    refs = {n + suffix: r for n, r in (refs or {}).items()}
    for family, (name, times) in enumerate(benchmarks.items()):
        base = {"family_index": family, "per_family_instance_index": 0, "run_name": name,
                "repetitions": len(times), "threads": 1, "time_unit": "ns"}
        for i, t in enumerate(times):
            ref = refs[name][i] if name in refs else None
            out.append({"name": name, **base, "run_type": "iteration", "repetition_index": i,
                        "iterations": 1000, "real_time": t, "cpu_time": t,
                        **_counters(name, t * 1e-9, ref)})
            if validation is not None:
                out[-1]["validation"] = validation
        if len(times) > 1:
            mean, med, sd = statistics.mean(times), statistics.median(times), statistics.stdev(times)
            for agg, v, unit in (("mean", mean, "time"), ("median", med, "time"),
                                 ("stddev", sd, "time"), ("cv", sd / mean, "percentage")):
                out.append({"name": f"{name}_{agg}", **base, "run_type": "aggregate",
                            "aggregate_name": agg, "aggregate_unit": unit,
                            "iterations": len(times), "real_time": v, "cpu_time": v})
                if validation is not None:
                    out[-1]["validation"] = validation
    for j, (name, msg) in enumerate(failed.items()):
        out.append({"name": name, "family_index": len(benchmarks) + j, "per_family_instance_index": 0,
                    "run_name": name, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
                    "threads": 1, "iterations": 0, "real_time": 0, "cpu_time": 0, "time_unit": "ns",
                    "error_occurred": True, "error_message": msg, "validation": "failed"})
    pb = {"version": "0.1.0", "git_revision": revision,
          "machine": f"{host} / Synthetic CPU @ 3.0GHz" if machine == "default" else machine,
          "command_line": "primbench run --repetitions 10",
          "ceilings": {"host_read_GBps": 50.0},
          "options": dict(OPTIONS) if options == "default" else options}
    pb = {k: v for k, v in pb.items() if v is not None}
    return {
        "context": {"date": date, "host_name": host, "executable": "primbench", "num_cpus": 16,
                    "mhz_per_cpu": 3000, "cpu_scaling_enabled": False, "caches": [],
                    "load_avg": [0.1, 0.1, 0.1], "library_build_type": "release",
                    "primbench": pb},
        "benchmarks": out,
    }


def write(path, benchmarks: dict, **kw) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document(benchmarks, **kw), f, indent=1)
    return str(path)
