"""primbench export: primbench results as the JSON or CSV a CI dashboard reads right.

    /usr/bin/python3 reports/export.py RESULTS.json [MORE.json ...]
        --format bencher|github|github-bandwidth|conbench|csv [-o FILE|-]

One entry per benchmark (never one per repetition), named by the benchmark's run name without
`/manual_time`. Values come from the per-repetition entries: the median repetition, with the
fastest and slowest as bounds. A file holding only aggregates (Google Benchmark's
--benchmark_report_aggregates_only) gives the `median` aggregate and no bounds.

  bencher           Bencher Metric Format: {name: {"latency": {value, lower_value, upper_value}
                    (ns), "algbw": {...} (GB/s), "peak-fraction": {...}}}   (bencher run --adapter json)
  github            github-action-benchmark, tool customSmallerIsBetter: [{name, unit "ns",
                    value (median time), range "± half the min-max spread", extra}]
  github-bandwidth  github-action-benchmark, tool customBiggerIsBetter: the same with the median
                    algbw in GB/s
  conbench          a JSON array of Conbench BenchmarkResult dicts (stats.data: the repetitions'
                    times in s), for benchadapt.BenchmarkResult(**d) or POST /api/benchmark-results
  csv               one row per benchmark with a header (RFC 4180); failed benchmarks have a row
                    with empty values and their validation status

Errors are never exported as values: a benchmark with an error entry or a validation other than
"passed" is left out of the values and listed on stderr (`name: message`, one line each).

Exit status: 0 every benchmark exported; 1 some failed (the rest is written) or none could be
exported; 2 bad input or arguments (one line on stderr, nothing written).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import statistics
import sys
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import results  # noqa: E402  (the shared loader, next to this file)
from results import ArgParser, ResultsError  # noqa: E402

FORMATS = ("bencher", "github", "github-bandwidth", "conbench", "csv")
CSV_COLUMNS = ("name", "primitive", "impl", "dtype", "op", "ranks", "count", "root",
               "repetitions", "median_ns", "min_ns", "max_ns", "algbw_GBps", "busbw_GBps",
               "peak_fraction", "validation", "error")
# Bencher measure slugs: latency is Bencher's built-in (nanoseconds); the other two are created
# on first use (give them units with `bencher measure create`, see ci/README.md).
BENCHER_MEASURES = (("latency", "time"), ("algbw", "algbw"), ("peak-fraction", "peak_fraction"))


@dataclass
class Stat:
    """One quantity of a benchmark: the median repetition and, when known, the extremes."""
    value: float
    lower: float | None = None
    upper: float | None = None

    @classmethod
    def of(cls, xs):
        return cls(statistics.median(xs), min(xs), max(xs))


@dataclass
class Bench:
    name: str
    entry: results.Entry          # first entry seen: the problem's facts
    source: results.Results
    times: list = field(default_factory=list)       # seconds, one per repetition, file order
    reps: list = field(default_factory=list)        # the repetition entries
    aggregates: dict = field(default_factory=dict)  # aggregate_name -> Entry
    error: str | None = None
    validation: str | None = None

    # filled by summarise()
    repetitions: int | None = None
    time: Stat | None = None
    counters: dict = field(default_factory=dict)    # counter -> Stat
    aggregates_only: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _failure(e: results.Entry):
    """(validation, message) when the entry is a failure, else None."""
    if e.failed:  # the loader makes every entry whose validation is not "passed" a failure
        return (e.validation if e.validation not in (None, "passed") else "error"), e.error
    if e.unvalidated:  # no validation field: no validated timing, and its state is unknown
        return "unknown", results.UNVALIDATED
    return None


def collect(sources) -> list:
    """Benchmarks of all files, in file order; a name in two files is bad input."""
    benches: dict = {}
    for src in sources:
        mine: dict = {}
        for e in src.entries:
            b = mine.get(e.name)
            if b is None:
                if e.name in benches:
                    raise ResultsError(
                        f"benchmark '{e.name}' is in both {benches[e.name].source.path} and "
                        f"{src.path}; a benchmark may come from one file only (export each file on its own)")
                b = mine[e.name] = Bench(name=e.name, entry=e, source=src)
            bad = _failure(e)
            if bad is not None:
                if b.error is None:
                    b.validation, b.error = bad
                continue
            if e.run_type == "aggregate":
                if e.aggregate_name:
                    b.aggregates.setdefault(e.aggregate_name, e)
            elif e.time_s is not None:
                b.reps.append(e)
                b.times.append(e.time_s)
        benches.update(mine)
    for b in benches.values():
        summarise(b)
    return list(benches.values())


def _counter_stat(entries, key, exact=True):
    xs = [e.counters.get(key) for e in entries]
    if not xs or any(x is None for x in xs):
        return None
    return Stat.of(xs) if exact else Stat(statistics.median(xs))


# Rates of a collective that moves no bytes (count 0) are 0 whatever its speed: not exported.
RATES = ("algbw", "busbw", "peak_fraction")


def summarise(b: Bench) -> None:
    if b.error is not None:
        b.validation = b.validation or "error"
        return
    b.validation = "passed"
    rates = RATES if b.entry.counters.get("bytes", 1) > 0 else ()
    if b.reps:
        b.repetitions = len(b.reps)
        b.time = Stat.of(b.times)
        for key in rates:
            s = _counter_stat(b.reps, key)
            if s is not None:
                b.counters[key] = s
        return
    med = b.aggregates.get("median")
    if med is not None and med.time_s is not None:
        b.aggregates_only = True
        b.repetitions = med.iterations or None  # an aggregate's iterations = its repetitions
        b.time = Stat(med.time_s)
        for key in rates:
            if med.counters.get(key) is not None:
                b.counters[key] = Stat(med.counters[key])
        return
    b.validation = "error"
    b.error = "no repetitions and no median aggregate in the file: nothing to export"


# ---------------------------------------------------------------- formats

def _ns(s: Stat) -> Stat:
    return Stat(s.value * 1e9, None if s.lower is None else s.lower * 1e9,
                None if s.upper is None else s.upper * 1e9)


def _bmf_metric(s: Stat) -> dict:
    m = {"value": s.value}
    if s.lower is not None:
        m["lower_value"] = s.lower
        m["upper_value"] = s.upper
    return m


def bencher(benches) -> str:
    doc = {}
    for b in benches:
        measures = {}
        for slug, what in BENCHER_MEASURES:
            s = _ns(b.time) if what == "time" else b.counters.get(what)
            if s is not None:
                measures[slug] = _bmf_metric(s)
        doc[b.name] = measures
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def _g(x: float) -> str:
    return f"{x:.4g}"


def github(benches, bandwidth: bool) -> str:
    out = []
    for b in benches:
        s = b.counters.get("algbw") if bandwidth else _ns(b.time)
        if s is None:
            continue
        item = {"name": b.name, "unit": "GB/s" if bandwidth else "ns", "value": s.value}
        if s.lower is not None:
            item["range"] = f"± {_g((s.upper - s.lower) / 2)}"
        reps = "unknown" if b.repetitions is None else str(b.repetitions)
        lines = [f"repetitions: {reps}" + (" (aggregates only: median, bounds unknown)"
                                           if b.aggregates_only else ""),
                 f"ranks: {b.entry.ranks}", f"count: {b.entry.count}",
                 f"validation: {b.validation}"]
        if s.lower is not None:
            unit = "GB/s" if bandwidth else "ns"
            lines.insert(1, f"min-max: {_g(s.lower)}-{_g(s.upper)} {unit}")
        item["extra"] = "\n".join(lines)
        out.append(item)
    return json.dumps(out, indent=1, allow_nan=False) + "\n"


def _tags(b: Bench) -> dict:
    e = b.entry
    tags = {"name": e.primitive, "primitive": e.primitive, "impl": e.impl, "dtype": e.dtype}
    if e.op:
        tags["op"] = e.op
    tags.update(ranks=str(e.ranks), count=str(e.count), root=results.root_text(e.root))
    return tags


def conbench(benches, sources) -> str:
    ident = hashlib.sha256(json.dumps([s.context for s in sources], sort_keys=True,
                                      default=str).encode()).hexdigest()[:32]
    out = []
    for b in benches:
        ctx = b.source.context
        pb = b.source.primbench if isinstance(b.source.primbench, dict) else {}
        stats: dict = {"unit": "s"}
        if b.aggregates_only:
            stats["data"] = [b.time.value]
            for agg, key in (("mean", "mean"), ("stddev", "stdev")):
                a = b.aggregates.get(agg)
                if a is not None and a.time_s is not None:
                    stats[key] = a.time_s
            stats["median"] = b.time.value
        else:
            stats["data"] = list(b.times)
            its = {e.iterations for e in b.reps}
            if len(its) == 1 and next(iter(its)) > 0:
                stats["iterations"] = next(iter(its))  # per repetition, as Conbench means it
        context = {"benchmark_language": "C++"}
        for key in ("build_type", "compiler"):
            if isinstance(pb.get(key), str):
                context[f"primbench_{key}"] = pb[key]
        info = {"benchmark_name": b.name}
        for key, val in (("primbench_version", pb.get("version")),
                         ("primbench_git_revision", pb.get("git_revision")),
                         ("primbench_command_line", pb.get("command_line")),
                         ("machine", pb.get("machine")),
                         ("host_name", ctx.get("host_name")),
                         ("num_cpus", ctx.get("num_cpus")),
                         ("repetitions", b.repetitions)):
            if val is not None and not isinstance(val, (dict, list)):
                info[key] = val
        for key, s in b.counters.items():
            info[f"{key}_median"] = s.value
        if b.aggregates_only:
            info["samples"] = "aggregates only: stats.data holds the median aggregate"
        res = {"run_id": ident, "batch_id": ident}
        if isinstance(ctx.get("date"), str):
            res["timestamp"] = ctx["date"]
        res.update(stats=stats, tags=_tags(b), context=context, info=info,
                   validation={"status": b.validation})
        out.append(res)
    return json.dumps(out, indent=1, allow_nan=False) + "\n"


def _num(x) -> str:
    return "" if x is None else repr(float(x)) if isinstance(x, float) else str(x)


def csv_text(benches) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)  # excel dialect: RFC 4180 quoting, CRLF line ends
    w.writerow(CSV_COLUMNS)
    for b in benches:
        e = b.entry
        t = _ns(b.time) if b.time is not None else Stat(None)
        c = b.counters
        w.writerow([b.name, e.primitive, e.impl, e.dtype, e.op or "", e.ranks, e.count, results.root_text(e.root),
                    _num(b.repetitions) if b.ok else "",
                    _num(t.value), _num(t.lower), _num(t.upper),
                    _num(c["algbw"].value) if "algbw" in c else "",
                    _num(c["busbw"].value) if "busbw" in c else "",
                    _num(c["peak_fraction"].value) if "peak_fraction" in c else "",
                    b.validation, b.error or ""])
    return buf.getvalue()


def render(fmt: str, benches, sources) -> str:
    ok = [b for b in benches if b.ok]
    if fmt == "bencher":
        return bencher(ok)
    if fmt == "github":
        return github(ok, bandwidth=False)
    if fmt == "github-bandwidth":
        return github(ok, bandwidth=True)
    if fmt == "conbench":
        return conbench(ok, sources)
    return csv_text(benches)


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = ArgParser(prog="primbench export",
                   hint="usage: primbench export RESULTS.json [MORE.json ...] --format "
                        + "|".join(FORMATS) + " [-o FILE]",
                   description="Write primbench results (one entry per benchmark, errors left "
                               "out) in a CI dashboard's format.")
    ap.add_argument("inputs", nargs="+", metavar="RESULTS.json",
                    help="results files; several are merged (a benchmark in two files is an error)")
    ap.add_argument("--format", required=True, choices=FORMATS,
                    help="bencher (BMF JSON), github (customSmallerIsBetter: median time, ns), "
                         "github-bandwidth (customBiggerIsBetter: median algbw, GB/s), "
                         "conbench (BenchmarkResult JSON array), csv")
    ap.add_argument("-o", "--out", default="-", metavar="FILE",
                    help="output file, written atomically; '-' (default) for stdout")
    return ap.parse_args(argv)


def main(argv) -> int:
    args = parse_args(argv)
    if args.out != "-":
        results.check_outputs([("-o", args.out)], args.inputs, "the export")
    sources = [results.load(p) for p in args.inputs]
    benches = collect(sources)
    text = render(args.format, benches, sources)
    if args.out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        results.write_atomic(args.out, text)
    failed = [b for b in benches if not b.ok]
    for b in failed:
        msg = " ".join(str(b.error).split())
        name = " ".join(b.name.split())  # one line each, whatever the name holds
        print(f"{name}: {msg}", file=sys.stderr)
    exported = len(benches) - len(failed)
    agg = sum(1 for b in benches if b.ok and b.aggregates_only)
    where = "stdout" if args.out == "-" else args.out
    note = f"; {agg} from aggregates only (median, bounds unknown)" if agg else ""
    if failed:
        print(f"export: {len(failed)} of {len(benches)} benchmark(s) FAILED and are left out "
              f"of the values; {exported} exported ({args.format}) to {where}{note}",
              file=sys.stderr)
        return 1
    if not exported:
        print(f"export: no benchmark to export in {', '.join(args.inputs)}; wrote an empty "
              f"{args.format} export to {where}", file=sys.stderr)
        return 1
    print(f"export: {exported} benchmark(s) ({args.format}) to {where}{note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        results.cli_main(main)
    except BrokenPipeError:
        sys.exit(1)
