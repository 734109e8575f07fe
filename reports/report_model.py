"""What the report says, as data: merged benchmarks, the series each figure plots, and the
conclusions (fastest per size band, speedups, scaling, validation). No plotting, no HTML."""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass, field

ELEM_SIZE = {"i32": 4, "i64": 8, "f32": 4, "f64": 8, "u8": 1, "i8": 1, "f16": 2, "bf16": 2}
BACKEND_ORDER = ("seq", "thread", "tbb", "mpi", "mpi4py", "cuda")
# The primitives are those of the data: entries say their bytes, busbw/algbw and ceiling. Files
# written before entries carried them (and the mpi4py peer, which writes no bytes counter) hold
# only primbench's first three primitives, whose sizes (nccl-tests "size", in blocks of count
# elements) and bus factors were these.
LEGACY_SIZE_BLOCKS = {"gather": lambda P: P, "scatter": lambda P: P, "reduce": lambda P: 1}
LEGACY_BUS_FACTOR = {"gather": lambda P: (P - 1) / P, "scatter": lambda P: (P - 1) / P,
                     "reduce": lambda P: 1.0}
# Size bands by the bytes the collective moves (nccl-tests "size"): roughly latency-bound,
# cache-resident, last-level-cache sized, and memory-bound messages.
BANDS = ((0, 8 << 10, "< 8 KiB"), (8 << 10, 1 << 20, "8 KiB – 1 MiB"),
         (1 << 20, 64 << 20, "1 – 64 MiB"), (64 << 20, math.inf, "≥ 64 MiB"))
CEILING_KEYS = {"host_copy": "host_copy_GBps", "host_read": "host_read_GBps",
                "device_copy": "device_copy_GBps"}
CEILING_LABELS = {"host_copy": "host memory copy", "host_read": "host memory read",
                  "device_copy": "device-to-device copy"}
CEILING_SHORT = {"host_copy": "host copy", "host_read": "host read",
                 "device_copy": "device copy"}
# What peak_fraction is held against in files that measure a reference beside each benchmark
# (the counter ref_GBps): the benchmark's own memory-traffic pattern at its own working set.
# Device memory measured without one (files from before 2026-12-05; a problem across several
# GPUs) has the device copy ceiling as ref_GBps: its fraction is labelled as of that ceiling.
REFERENCE_SHORT = {"host_copy": "reference copy", "host_read": "reference read-P-write-1",
                   "device_copy": "reference device copy"}
# Machine state since the benchmark started (cumulative: the last repetition covers it all).
MACHINE_KEYS = ("load_avg", "online_cpus", "steal_pct", "others_cpu_pct", "huge_pages_kib", "state_seconds")
BUSY_STEAL_PCT = 5.0     # the same thresholds as the console's "(busy: ...)"
BUSY_OTHERS_PCT = 10.0
BUSY_JUDGED_SECONDS = 0.25  # shorter intervals are not judged (/proc counts 10 ms ticks)


# ---- units as people read them ------------------------------------------------------------
# The one time formatter of the Python tools (report, report_plots, ci/compare, ci/history).
def time_unit(s: float) -> tuple:
    """(unit, seconds per unit) that a time of s seconds reads best in: ("µs", 1e-6) for 5e-4.
    A hair under a unit, as rounding leaves it, still counts as one. Zero or less: ns."""
    for unit, f in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= f * 0.9999:
            return unit, f
    return ("ps", 1e-12) if s > 0 else ("ns", 1e-9)


def fmt_seconds(s: float) -> str:
    """A time in seconds with three significant digits and its unit: "12.3 µs"; "0" for zero."""
    if s <= 0:
        return "0"
    unit, f = time_unit(s)
    return f"{s / f:.3g} {unit}"


def fmt_bytes(b: float) -> str:
    for unit, f in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} B"


def fmt_count(n: float) -> str:
    for unit, f in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= f and n % f == 0:
            return f"{n / f:.0f}{unit}"
    return f"{n:.0f}"


def ceiling_kind(named: str | None, primitive: str, impl: str) -> str:
    """Which measured limit a result is held against (docs/measurement.md): the one its entries name. The
    rest is the fallback for files written before entries named it (or naming one this report
    does not know): what primbench held their primitives against then."""
    if named in CEILING_KEYS:
        return named
    if impl.startswith("cuda."):
        return "device_copy"
    return "host_read" if primitive == "reduce" else "host_copy"


def busy_text(machine: dict | None) -> str:
    """The console's words for a contended benchmark, "" when nothing competed:
    "busy: steal 12 %, others 35 % of CPU, load 5.2 on 2 cores"."""
    if not machine:
        return ""
    steal = machine.get("steal_pct", 0.0)
    others = machine.get("others_cpu_pct", 0.0)
    if machine.get("state_seconds", BUSY_JUDGED_SECONDS) < BUSY_JUDGED_SECONDS:
        return ""
    if steal < BUSY_STEAL_PCT and others < BUSY_OTHERS_PCT:
        return ""
    load, cpus = machine.get("load_avg", 0.0), machine.get("online_cpus", 0.0)
    return (f"busy: steal {steal:.0f} %, others {others:.0f} % of CPU, "
            f"load {load:.1f} on {cpus:.0f} cores")


def band_of(nbytes: float) -> int:
    for i, (lo, hi, _) in enumerate(BANDS):
        if lo <= nbytes < hi:
            return i
    return len(BANDS) - 1


def impl_sort_key(impl: str):
    backend = impl.split(".", 1)[0]
    rank = BACKEND_ORDER.index(backend) if backend in BACKEND_ORDER else len(BACKEND_ORDER)
    return (rank, impl)


@dataclass
class Point:
    """One benchmark (a problem run by one implementation), merged over its repetitions."""
    name: str
    primitive: str
    impl: str
    dtype: str
    op: str | None
    ranks: int
    count: int
    root: int
    source: str
    times: list = field(default_factory=list)   # per-repetition seconds
    time: float | None = None                    # median of repetitions (seconds)
    lo: float | None = None                      # error bar: fastest repetition or -1 stddev
    hi: float | None = None
    bytes: float | None = None                   # what algbw is computed from
    bus: float | None = None                     # busbw / algbw
    ceiling: str = "host_copy"                   # the ceiling_kind() it is held against
    ceiling_named: str | None = None             # the ceiling its entries name, as written
    membw: float | None = None                   # median of the repetitions' membw counters
    peak_fraction: float | None = None
    # what peak_fraction is against: "reference" (ref_GBps, measured beside the benchmark),
    # "ceiling" (an older file's counter: the start-of-run ceiling), "computed" (no counter:
    # computed here over the file's start-of-run ceiling), None (no fraction)
    fraction_basis: str | None = None
    ceiling_fraction: float | None = None        # against the start-of-run ceiling
    ref_gbps: float | None = None                # median of the repetitions' references
    ref_spread: float | None = None
    machine: dict = field(default_factory=dict)  # last repetition's machine state
    busy: str = ""                               # "busy: steal ..." when contended
    errors: list = field(default_factory=list)
    unvalidated: bool = False                    # an entry records no validation: no timing
    derived: list = field(default_factory=list)  # counters computed here, not read

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unvalidated and self.time is not None and self.time > 0

    @property
    def status(self) -> str:
        if self.errors:
            return "FAILED"
        if self.unvalidated:
            return "not validated"
        return "passed" if self.ok else "no timing"

    @property
    def problem(self) -> tuple:
        return (self.primitive, self.dtype, self.op, self.ranks, self.count, self.root)

    @property
    def algbw(self) -> float | None:
        if self.bytes is None or not self.time:
            return None
        return self.bytes / self.time / 1e9

    @property
    def busbw(self) -> float | None:
        a = self.algbw
        return None if a is None or self.bus is None else a * self.bus


def _median(xs):
    return statistics.median(xs) if xs else None


# Google Benchmark appends run settings to names: .../min_time:0.010/repeats:3/manual_time
_GB_SUFFIX = re.compile(r"(/(min_time|min_warmup_time|repeats|iterations|threads):[^/]*"
                        r"|/(manual_time|real_time|process_time))+$")


def problem_name(name: str) -> str:
    """The benchmark name without Google Benchmark's run settings."""
    return _GB_SUFFIX.sub("", name)


def _point(name: str, entries: list) -> Point:
    """The benchmark as its entries say it; what they do not say is filled in by _fill()."""
    e0 = entries[0]
    named = next((e.ceiling for e in entries if e.ceiling), None)
    # ranks, count and root as the loader read them: from the name, whose integers are exact
    # (counters are doubles, and some writers round them: 1048576 written as 1.04858e6)
    p = Point(name=name, primitive=e0.primitive, impl=e0.impl, dtype=e0.dtype, op=e0.op,
              ranks=e0.ranks, count=e0.count, root=e0.root, source=e0.source,
              ceiling=ceiling_kind(named, e0.primitive, e0.impl), ceiling_named=named)
    p.errors = [e.error for e in entries if e.failed]
    if p.errors:
        return p            # a failed validation is never a timing, whatever else ran
    p.unvalidated = any(e.unvalidated for e in entries)
    if p.unvalidated:
        return p            # nor a timing that records no validation (primbench always does)
    reps = [e for e in entries if e.run_type == "iteration" and e.time_s is not None]
    aggs = {e.aggregate_name: e for e in entries if e.run_type == "aggregate"}
    p.times = [e.time_s for e in reps]
    if p.times:
        p.time = _median(p.times)
        if len(p.times) > 1:
            p.lo, p.hi = min(p.times), max(p.times)
    else:   # aggregates only (--benchmark_report_aggregates_only)
        centre = aggs.get("median") or aggs.get("mean")
        if centre is not None:
            p.time = centre.time_s
            sd = aggs.get("stddev")
            if sd is not None and sd.time_s is not None and p.time:
                p.lo, p.hi = max(p.time - sd.time_s, p.time * 0.01), p.time + sd.time_s
    with_counters = reps or [a for a in aggs.values() if a.aggregate_name in ("median", "mean")]
    nbytes = [e.counters["bytes"] for e in with_counters if "bytes" in e.counters]
    if nbytes:
        p.bytes = nbytes[0]
    bus = [e.counters["busbw"] / e.counters["algbw"] for e in with_counters
           if "busbw" in e.counters and e.counters.get("algbw", 0) > 0]
    if bus:
        p.bus = _median(bus)

    def median_of(key, among=None):
        xs = [e.counters[key] for e in (with_counters if among is None else among)
              if key in e.counters]
        return _median(xs)

    p.membw = median_of("membw")
    p.ref_gbps = median_of("ref_GBps")
    p.ref_spread = median_of("ref_spread")
    p.ceiling_fraction = median_of("ceiling_fraction")
    if p.ref_gbps is not None:
        # peak_fraction as written: the median iteration over the reference beside each repetition; it is 0
        # where the reference is 0 (not measured), which is no fraction at all
        p.peak_fraction = median_of("peak_fraction", [e for e in with_counters
                                                      if e.counters.get("ref_GBps", 0) > 0])
        p.fraction_basis = "reference" if p.peak_fraction is not None else None
        if p.fraction_basis and p.ceiling == "device_copy" and not any(e.reference == "beside" for e in entries):
            p.fraction_basis = "ceiling"  # ref_GBps is the start-of-run device copy ceiling
    elif any("peak_fraction" in e.counters for e in with_counters):
        # a file from before the reference: its peak_fraction is over the start-of-run ceiling
        p.peak_fraction = median_of("peak_fraction")
        p.fraction_basis = "ceiling"
        if p.ceiling_fraction is None:
            p.ceiling_fraction = p.peak_fraction
    # the machine while it ran: the last repetition's counters cover the whole benchmark
    last = None
    for e in reps:
        if "steal_pct" in e.counters and (last is None or (e.repetition_index or 0)
                                          >= (last.repetition_index or 0)):
            last = e
    if last is None:    # aggregates only: the median (or mean) of the repetitions' states
        last = next((a for a in (aggs.get("median"), aggs.get("mean"))
                     if a is not None and "steal_pct" in a.counters), None)
    if last is not None:
        p.machine = {k: float(last.counters[k]) for k in MACHINE_KEYS if k in last.counters}
        p.busy = busy_text(p.machine)
    return p


def _fill(points: list, ceilings_of: dict) -> None:
    """What entries without counters (failed ones, the mpi4py peer, older files) do not say.

    bytes and the bus factor: as the data's other entries of the same primitive report them
    (bytes per element of count at that dtype and rank count), else the legacy sizes. A failed
    benchmark gets its bytes too (for its size band), not marked derived: failures never carry
    counters. The fraction of peak where no counter gives one: membw (else algbw) over the
    file's start-of-run ceiling, labelled computed."""
    per_elem: dict = {}
    bus: dict = {}
    for p in points:
        if p.bytes is not None and p.count > 0:
            per_elem.setdefault((p.primitive, p.dtype, p.ranks), p.bytes / p.count)
        if p.bus is not None:
            bus.setdefault((p.primitive, p.ranks), p.bus)
    for p in points:
        if p.bytes is None:
            b = per_elem.get((p.primitive, p.dtype, p.ranks))
            if b is None and p.primitive in LEGACY_SIZE_BLOCKS and p.dtype in ELEM_SIZE:
                b = LEGACY_SIZE_BLOCKS[p.primitive](p.ranks) * ELEM_SIZE[p.dtype]
            if b is not None:
                p.bytes = b * p.count
                if not p.failed:
                    p.derived.append("bytes")
        if p.failed:
            continue
        if p.bus is None:
            p.bus = bus.get((p.primitive, p.ranks))
            if p.bus is None and p.primitive in LEGACY_BUS_FACTOR and p.ranks > 0:
                p.bus = LEGACY_BUS_FACTOR[p.primitive](p.ranks)
        ceilings = ceilings_of[p.name]
        if p.fraction_basis is None and p.ref_gbps is None and ceilings.get(p.ceiling):
            # no counter at all (older files, the mpi4py peer): computed here, and labelled so
            traffic = p.membw if p.membw is not None else p.algbw
            if traffic is not None:
                p.peak_fraction = traffic / ceilings[p.ceiling]
                p.fraction_basis = "computed"
                p.derived.append("peak_fraction")
                if p.ceiling_fraction is None:
                    p.ceiling_fraction = p.peak_fraction


def file_ceilings(context: dict) -> dict:
    pb = context.get("primbench") if isinstance(context, dict) else None
    raw = pb.get("ceilings") if isinstance(pb, dict) else None
    out = {}
    if isinstance(raw, dict):
        for kind, key in CEILING_KEYS.items():
            v = raw.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
                out[kind] = float(v)
    return out


@dataclass
class Report:
    sources: list                      # Results, in command-line order
    points: list                       # every benchmark, failed ones included
    baseline: str
    notes: list = field(default_factory=list)
    ceilings: dict = field(default_factory=dict)   # kind -> (GB/s, source) first seen

    # ---- selections -------------------------------------------------------------------
    @property
    def ok(self) -> list:
        return [p for p in self.points if p.ok]

    @property
    def failures(self) -> list:
        return [p for p in self.points if p.failed]

    def primitives(self) -> list:
        """The primitives of the data, in the order build() sorted the points by."""
        return list(dict.fromkeys(p.primitive for p in self.points))

    def impls(self, primitive: str | None = None) -> list:
        return sorted({p.impl for p in self.points
                       if primitive is None or p.primitive == primitive}, key=impl_sort_key)

    def headline(self, primitive: str):
        """The (dtype, op, root) the figures show: the one covering most implementations."""
        groups: dict = {}
        for p in self.ok:
            if p.primitive == primitive:
                groups.setdefault((p.dtype, p.op, p.root), []).append(p)
        if not groups:
            return None

        def score(item):
            (dtype, op, root), ps = item
            return (len({p.impl for p in ps}), len(ps), dtype == "f32", op in (None, "sum"),
                    root == 0)
        return max(groups.items(), key=score)[0]

    def slice(self, primitive: str) -> list:
        h = self.headline(primitive)
        return [p for p in self.ok if p.primitive == primitive
                and (p.dtype, p.op, p.root) == h] if h else []

    def other_configs(self, primitive: str) -> list:
        h = self.headline(primitive)
        return sorted({(p.dtype, p.op, p.root) for p in self.points
                       if p.primitive == primitive and (p.dtype, p.op, p.root) != h},
                      key=str)

    def panel_ranks(self, primitive: str, limit: int = 6) -> list:
        ranks = sorted({p.ranks for p in self.slice(primitive)})
        if len(ranks) <= limit:
            return ranks
        idx = sorted({round(i * (len(ranks) - 1) / (limit - 1)) for i in range(limit)})
        return [ranks[i] for i in idx]

    # ---- figure series ----------------------------------------------------------------
    def by_ranks_impl(self, primitive: str) -> dict:
        """{ranks: {impl: [Point sorted by count]}} over the headline slice."""
        out: dict = {}
        for p in self.slice(primitive):
            out.setdefault(p.ranks, {}).setdefault(p.impl, []).append(p)
        for per_impl in out.values():
            for ps in per_impl.values():
                ps.sort(key=lambda p: p.count)
        return out

    def speedup_series(self, primitive: str) -> dict:
        """{ranks: {impl: [(count, speedup over baseline, either measured busy)]}} where both
        ran the same problem."""
        base = {p.problem: p for p in self.slice(primitive) if p.impl == self.baseline}
        out: dict = {}
        for p in self.slice(primitive):
            b = base.get(p.problem)
            if b is None or p.impl == self.baseline:
                continue
            out.setdefault(p.ranks, {}).setdefault(p.impl, []).append(
                (p.count, b.time / p.time, bool(p.busy or b.busy)))
        for per_impl in out.values():
            for xs in per_impl.values():
                xs.sort()
        return out

    def scaling_counts(self, primitive: str) -> list:
        """Fixed sizes for the rank-scaling figure: smallest and largest count run at 2+ rank
        counts (by most implementations)."""
        per_count: dict = {}
        for p in self.slice(primitive):
            per_count.setdefault(p.count, {}).setdefault(p.impl, set()).add(p.ranks)
        cands = {n: sum(1 for r in impls.values() if len(r) > 1) for n, impls in per_count.items()}
        cands = {n: c for n, c in cands.items() if c > 0}
        if not cands:
            return []
        best = max(cands.values())
        good = sorted(n for n, c in cands.items() if c == best)
        return sorted({good[0], good[-1]})

    def scaling_series(self, primitive: str, count: int) -> dict:
        """{impl: [Point sorted by ranks]} at a fixed count per rank."""
        out: dict = {}
        for p in self.slice(primitive):
            if p.count == count:
                out.setdefault(p.impl, []).append(p)
        for ps in out.values():
            ps.sort(key=lambda p: p.ranks)
        return {i: ps for i, ps in out.items() if len(ps) > 1}

    def ceiling_lines(self, primitive: str, ranks: int | None = None) -> list:
        """[(kind, raw GB/s, algbw where ceiling_fraction = 1)] for the kinds this primitive uses.

        The fraction of the start-of-run ceiling is computed from the memory traffic, which for
        some primitives grows with the rank count (a reduce reads every rank's input), so the
        line is drawn where the data of that rank count reach 100 % of the ceiling, not at the
        raw number."""
        out = []
        pts = [p for p in self.slice(primitive) if ranks is None or p.ranks == ranks]
        for kind in sorted({p.ceiling for p in pts}):
            raw = self.ceilings.get(kind, (None, None))[0]
            ratios = [p.algbw / p.ceiling_fraction for p in pts
                      if p.ceiling == kind and p.ceiling_fraction and p.algbw
                      and "peak_fraction" not in p.derived]
            at = _median(ratios) if ratios else raw
            if at:
                out.append((kind, raw if raw else at, at))
        return out

    def reference_series(self, primitive: str, ranks: int) -> dict:
        """{kind: [(bytes, algbw at which peak_fraction = 1)]}: the reference measured beside
        each benchmark, in the algbw terms of the figure (median over the implementations
        that ran that size), for the points whose file measured one."""
        per: dict = {}
        for p in self.slice(primitive):
            if p.ranks == ranks and p.fraction_basis == "reference" and p.peak_fraction \
                    and p.algbw:
                per.setdefault(p.ceiling, {}).setdefault(p.bytes, []).append(
                    p.algbw / p.peak_fraction)
        return {kind: sorted((b, _median(v)) for b, v in xs.items())
                for kind, xs in per.items()}

    # ---- machine state --------------------------------------------------------------------
    @property
    def busy(self) -> list:
        """Timed benchmarks measured under contention (the console's "(busy: ...)")."""
        return [p for p in self.ok if p.busy]

    @property
    def with_machine_state(self) -> list:
        return [p for p in self.ok if p.machine]

    def contention(self) -> dict | None:
        """What the summary line says; None where no file records the machine's state."""
        known = self.with_machine_state
        if not known:
            return None
        busy = self.busy
        return {"busy": len(busy), "of": len(known),
                "unknown": len(self.ok) - len(known),
                "steal_max": max((p.machine.get("steal_pct", 0.0) for p in busy), default=0.0),
                "others_max": max((p.machine.get("others_cpu_pct", 0.0) for p in busy),
                                  default=0.0)}

    # ---- conclusions ------------------------------------------------------------------
    def fastest(self, primitive: str) -> list:
        """Fastest validated implementation per (size band, ranks), over every dtype/op/root.

        Per problem the fastest passing implementation wins; per band the implementation with
        most wins is named (ties: lowest geometric-mean slowdown against the per-problem best).
        Implementations that failed validation anywhere in the band are not eligible."""
        groups: dict = {}
        failed: dict = {}
        unsized: list = []
        for p in self.points:
            if p.primitive != primitive:
                continue
            if p.bytes is None:
                if p.failed:
                    unsized.append(p)
                continue
            key = (band_of(p.bytes), p.ranks)
            if p.failed:
                failed.setdefault(key, set()).add(p.impl)
            elif p.ok:
                groups.setdefault(key, []).append(p)
        for p in unsized:   # a failure of unknown size is out of every band of its rank count
            for key in [k for k in set(groups) | set(failed) if k[1] == p.ranks]:
                failed.setdefault(key, set()).add(p.impl)
        rows = []
        for key in sorted(set(groups) | set(failed)):
            band, ranks = key
            bad = failed.get(key, set())
            eligible = [p for p in groups.get(key, []) if p.impl not in bad]
            row = {"band": BANDS[band][2], "band_index": band, "ranks": ranks,
                   "excluded": sorted(bad, key=impl_sort_key), "impl": None,
                   "busy": [p for p in eligible if p.busy]}
            rows.append(row)
            problems: dict = {}
            for p in eligible:
                problems.setdefault(p.problem, []).append(p)
            if not problems:
                continue
            wins: dict = {}
            slow: dict = {}
            for ps in problems.values():
                best = min(ps, key=lambda p: p.time)
                wins[best.impl] = wins.get(best.impl, 0) + 1
                for p in ps:
                    slow.setdefault(p.impl, []).append(math.log(p.time / best.time))
            gmean = {i: math.exp(sum(v) / len(v)) for i, v in slow.items()}
            ranking = sorted(slow, key=lambda i: (-wins.get(i, 0), gmean[i], impl_sort_key(i)))
            winner = ranking[0]
            mine = [p for p in eligible if p.impl == winner]
            fr = [p.peak_fraction for p in mine if p.peak_fraction is not None]
            cf = [p.ceiling_fraction for p in mine if p.ceiling_fraction is not None]
            bases = {p.fraction_basis for p in mine if p.peak_fraction is not None}
            row.update(impl=winner, wins=wins.get(winner, 0), problems=len(problems),
                       algbw=max((p.algbw for p in mine if p.algbw), default=None),
                       peak_fraction=_median(fr), ceiling_fraction=_median(cf),
                       fraction_basis=bases.pop() if len(bases) == 1 else
                       "mixed" if bases else None,
                       ceiling=mine[0].ceiling,
                       tmin=min(p.time for p in mine), tmax=max(p.time for p in mine),
                       runner_up=None)
            if len(ranking) > 1:
                other = ranking[1]
                mine_by = {p.problem: p for p in mine}
                ratios = [math.log(p.time / mine_by[p.problem].time) for p in eligible
                          if p.impl == other and p.problem in mine_by]
                if ratios:
                    row.update(runner_up=other,
                               runner_up_slower=math.exp(sum(ratios) / len(ratios)))
        return rows

    def speedups(self, primitive: str) -> list:
        """Per implementation: speedup over the baseline on every problem both ran."""
        base = {p.problem: p for p in self.ok
                if p.primitive == primitive and p.impl == self.baseline}
        per: dict = {}
        for p in self.ok:
            if p.primitive == primitive and p.impl != self.baseline and p.problem in base:
                per.setdefault(p.impl, []).append((base[p.problem].time / p.time, p))
        rows = []
        for impl in sorted(per, key=impl_sort_key):
            xs = per[impl]
            s = [x for x, _ in xs]
            lo = min(xs, key=lambda t: t[0])[1]
            hi = max(xs, key=lambda t: t[0])[1]
            busy = sum(1 for _, p in xs if p.busy or base[p.problem].busy)
            rows.append({"impl": impl, "problems": len(s), "busy": busy,
                         "gmean": math.exp(sum(math.log(x) for x in s) / len(s)),
                         "min": min(s), "max": max(s), "min_at": lo, "max_at": hi})
        return rows

    def has_baseline(self, primitive: str) -> bool:
        return any(p.ok and p.impl == self.baseline and p.primitive == primitive
                   for p in self.points)

    def validation_counts(self) -> list:
        """[(primitive, impl, passed, failed, no timing)]"""
        counts: dict = {}
        for p in self.points:
            c = counts.setdefault((p.primitive, p.impl), [0, 0, 0])
            c[0 if p.ok else 1 if p.failed else 2] += 1
        order = {x: i for i, x in enumerate(self.primitives())}
        return [(k[0], k[1], *v) for k, v in sorted(
            counts.items(), key=lambda kv: (order[kv[0][0]], impl_sort_key(kv[0][1])))]


def build(sources: list, baseline: str) -> Report:
    """Merge results files. A benchmark in several files is taken from the last one given."""
    groups: dict = {}
    origin: dict = {}
    ceilings: dict = {}
    dups: dict = {}
    # Primitives in order of first appearance in the inputs (primbench writes them in the order
    # it describes them): the report learns them from the data, and knows no list of its own.
    order: dict = {}
    for res in sources:
        ceil = file_ceilings(res.context)
        for kind, v in ceil.items():
            ceilings.setdefault(kind, (v, res.path))
        mine: dict = {}
        for e in res.entries:
            order.setdefault(e.primitive, len(order))
            mine.setdefault(problem_name(e.name), []).append(e)
        for name, es in mine.items():
            if name in origin:
                dups.setdefault((origin[name], res.path), []).append(name)
            groups[name] = (es, ceil)
            origin[name] = res.path
    points = [_point(name, es) for name, (es, _) in groups.items()]
    _fill(points, {name: ceil for name, (_, ceil) in groups.items()})
    points.sort(key=lambda p: (order[p.primitive], impl_sort_key(p.impl), p.dtype, p.op or "",
                               p.ranks, p.count, p.root))
    rep = Report(sources=sources, points=points, baseline=baseline, ceilings=ceilings)
    for (old, new), names in dups.items():
        rep.notes.append(f"{len(names)} benchmark(s) appear in both {old} and {new}; "
                         f"the results from {new} (given later) are shown.")
    derived: dict = {}
    for p in points:
        for what in p.derived:
            derived.setdefault((p.source, what), 0)
            derived[(p.source, what)] += 1
    for (src, what), n in sorted(derived.items()):
        how = "from the benchmark name" if what == "bytes" else \
            "here as membw (algbw where it has no membw) over the file's start-of-run " \
            "ceiling, and marked 'computed'"
        rep.notes.append(f"{src}: {n} entries carry no '{what}' counter; computed {how}.")
    unknown: dict = {}
    for p in points:
        if p.ceiling_named and p.ceiling_named != p.ceiling:
            unknown.setdefault((p.source, p.ceiling_named), []).append(p)
    for (src, named), ps in sorted(unknown.items()):
        rep.notes.append(f"{src}: {len(ps)} entries name a ceiling this report does not know "
                         f"('{named}'); they are held against "
                         f"{', '.join(sorted({CEILING_LABELS[p.ceiling] for p in ps}))} instead.")
    old_basis: dict = {}
    for p in points:
        if p.fraction_basis == "ceiling":
            old_basis[p.source] = old_basis.get(p.source, 0) + 1
    for src, n in sorted(old_basis.items()):
        rep.notes.append(f"{src}: {n} entries were written before primbench measured a "
                         "reference beside each benchmark, or are of device memory across several "
                         "GPUs: their peak_fraction is against the start-of-run ceiling (shown as "
                         "'of … ceiling').")
    unvalidated: dict = {}
    for p in points:
        if p.unvalidated:
            unvalidated[p.source] = unvalidated.get(p.source, 0) + 1
    for src, n in sorted(unvalidated.items()):
        rep.notes.append(f"{src}: {n} benchmark(s) record no validation (primbench writes one on "
                         "every entry): not validated timings, shown as 'not validated', never "
                         "plotted or ranked.")
    no_ref = sum(1 for p in points if p.ok and p.peak_fraction is None
                 and p.ref_gbps is not None)
    if no_ref:
        rep.notes.append(f"{no_ref} entries have no fraction of peak: their reference was not "
                         "measured (ref_GBps 0).")
    missing_pf = sum(1 for p in points if p.ok and p.peak_fraction is None
                     and p.ref_gbps is None)
    if missing_pf:
        rep.notes.append(f"{missing_pf} entries have no fraction of peak: their file records "
                         "no measured ceiling.")
    if points and not any(p.impl == baseline for p in points):
        rep.notes.append(f"Baseline '{baseline}' is not in the results, so there are no "
                         f"speedups; choose one with --baseline from: {', '.join(rep.impls())}.")
    return rep
