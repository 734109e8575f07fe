"""primbench report: turn results JSON into DIR/index.html, DIR/summary.md and DIR/*.png|svg.

    /usr/bin/python3 reports/report.py RESULTS.json [MORE.json ...] -o DIR [--baseline IMPL]

Exit status: 0 on success (also when the inputs hold no benchmarks: the page says so),
2 on bad input or arguments, with one line on stderr and no traceback.
"""
from __future__ import annotations

import base64
import datetime
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import results  # noqa: E402  (the shared loader, next to this file)
from report_model import (CEILING_LABELS, CEILING_SHORT, REFERENCE_SHORT,  # noqa: E402
                          file_ceilings, fmt_bytes, fmt_count, fmt_seconds, impl_sort_key)
from results import ArgParser, ResultsError  # noqa: E402

HERE = Path(__file__).resolve().parent
FIGURE_KINDS = ("time", "bandwidth", "speedup", "scaling")
# A figure on the page: <figure id="fig-{primitive}_{kind}">
STEM_RE = re.compile(r'<figure id="fig-([a-z0-9_]+_(?:%s))">' % "|".join(FIGURE_KINDS))
FIGURE_CAPTIONS = {
    "time": "Time per collective (completion time, the maximum over ranks) against the "
            "elements each rank contributes. Markers: median of the repetitions; bars: "
            "fastest to slowest repetition.",
    "bandwidth": "Algorithm bandwidth (bytes the collective moves / time) against bytes "
                 "moved. Dash-dotted: the reference measured beside each benchmark (its own "
                 "memory traffic at its own working set, just before each repetition), where "
                 "the fraction of peak reaches 100 %; dotted: the start-of-run ceiling "
                 "(buffers far larger than any cache), where the fraction of ceiling reaches "
                 "100 %.",
    "speedup": "Median time of the baseline divided by the implementation's median time, "
               "on the same problem; above 1× is faster than the baseline.",
    "scaling": "Time per collective as the rank count grows, at a fixed count per rank "
               "(smallest and largest size run at several rank counts).",
}



def parse_args(argv):
    ap = ArgParser(prog="primbench report",
                   hint="usage: primbench report RESULTS.json [MORE.json ...] -o DIR [--baseline IMPL]",
                   description="Render primbench results (Google Benchmark JSON) as an HTML "
                               "page, a Markdown summary and PNG/SVG figures.")
    ap.add_argument("inputs", nargs="+", metavar="RESULTS.json",
                    help="results files; several are merged (later files win on duplicates)")
    ap.add_argument("-o", "--out", required=True, metavar="DIR",
                    help="output directory (created if missing)")
    ap.add_argument("--baseline", default="seq.ref", metavar="IMPL",
                    help="implementation the speedups are relative to (default: seq.ref)")
    return ap.parse_args(argv)


# ---- number formatting shared by HTML and Markdown ----------------------------------------
def f_time(s):
    return "–" if s is None else fmt_seconds(s)


def f_bytes(b):
    return "–" if b is None else fmt_bytes(b)


def f_count(n):
    return fmt_count(n)


def f_range(lo, hi):
    return f_time(lo) if f_time(lo) == f_time(hi) else f"{f_time(lo)} – {f_time(hi)}"


def f_bw(x):
    return "–" if x is None else f"{x:.3g}"


def f_pct(x):
    return "–" if x is None else f"{100 * x:.3g} %"


def f_fraction(x, basis, kind):
    """'28 % of reference copy': a peak fraction and what it is against (the reference beside
    the benchmark, or an older file's start-of-run ceiling; 'computed' where no counter)."""
    if x is None:
        return "–"
    if basis == "reference":
        return f"{f_pct(x)} of {REFERENCE_SHORT[kind]}"
    if basis == "ceiling":
        return f"{f_pct(x)} of {CEILING_SHORT[kind]} ceiling"
    if basis == "computed":
        return f"{f_pct(x)} of {CEILING_SHORT[kind]} ceiling (computed)"
    return f"{f_pct(x)} (mixed: reference and ceiling)"


def f_ceiling(row):
    """The fastest row's median fraction of peak, saying what it is of."""
    return f_fraction(row.get("peak_fraction"), row.get("fraction_basis"), row.get("ceiling"))


def f_point_fraction(p):
    """A benchmark's peak_fraction as written (median of its repetitions' counters)."""
    if p.peak_fraction is None:
        return "–"
    return f_pct(p.peak_fraction) + {"ceiling": " (of ceiling)",
                                     "computed": " (computed)"}.get(p.fraction_basis, "")


def f_ref(p):
    if p.ref_gbps is None:
        return "–"
    return f_bw(p.ref_gbps) + (f" (spread {f_pct(p.ref_spread)})" if p.ref_spread else "")


def f_cell(p):
    """A scaling-table time; ⚠ where it was measured under contention."""
    if p is None:
        return "–"
    return f_time(p.time) + (" ⚠" if p.busy else "")


def busy_list(points, limit=3) -> str:
    """'seq.ref (P=2, n=1K), thread.flat (P=2, n=1M)': the busy measurements a ranking uses."""
    names = [f"{p.impl} ({where(p)})" for p in points]
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


def busy_note(row) -> str:
    if not row.get("busy"):
        return ""
    n = len(row["busy"])
    return (f"⚠ rests on {n} measurement{'s' if n != 1 else ''} under contention: "
            f"{busy_list(row['busy'])}")


def contention_line(rep) -> str | None:
    """The summary line: 'N of M benchmarks measured under contention: ...'; None where no
    file records the machine's state."""
    c = rep.contention()
    if c is None:
        return None
    more = (f" {c['unknown']} more record no machine state." if c["unknown"] else "")
    if not c["busy"]:
        return (f"0 of {c['of']} benchmarks measured under contention (steal < 5 % and others "
                f"< 10 % of CPU over each benchmark).{more}")
    worst = [f"steal up to {c['steal_max']:.0f} %" if c["steal_max"] >= 0.5 else "",
             f"others up to {c['others_max']:.0f} % of CPU" if c["others_max"] >= 0.5 else ""]
    return (f"{c['busy']} of {c['of']} benchmarks measured under contention: "
            f"{', '.join(w for w in worst if w)} while they "
            "ran, so their times may be slower than this machine allows; they are listed "
            "under 'Measured under contention', marked ⚠ in the tables and ringed in the "
            f"figures.{more}")


def f_x(x):
    if x is None:
        return "–"
    return f"{x:.2f}×" if 0.1 <= x < 10 else f"{x:.3g}×"


def where(p):
    return f"P={p.ranks}, n={fmt_count(p.count)}"


def config_label(dtype, op, root):
    return f"{dtype}{', ' + op if op else ''}, root {results.root_text(root)}"


# ---- what both the page and the Markdown say ----------------------------------------------
def environment(sources) -> list:
    envs = []
    for res in sources:
        ctx, pb = res.context, res.primbench  # their fields' types checked by results.load
        ceil = file_ceilings(ctx)
        caches = []
        for c in ctx.get("caches") or []:
            if isinstance(c, dict) and isinstance(c.get("size"), (int, float)):
                caches.append(f"L{c.get('level', '?')} {c.get('type', '')} "
                              f"{f_bytes(c['size'])}".replace("  ", " "))
        backends = []
        raw = pb.get("backends")
        if isinstance(raw, dict):
            for name, b in raw.items():
                b = b if isinstance(b, dict) else {}
                backends.append({"name": str(name), "available": bool(b.get("available")),
                                 "version": str(b.get("version") or ""),
                                 "reason": str(b.get("reason") or "")})
        cpus = ctx.get("num_cpus")
        mhz = ctx.get("mhz_per_cpu")
        host = pb.get("host") if isinstance(pb.get("host"), dict) else None
        state = []
        if host is not None:
            thp = str(host.get("transparent_hugepage") or "") or "unreadable"
            defrag = str(host.get("transparent_hugepage_defrag") or "") or "unreadable"
            state.append(f"transparent huge pages {thp} (defrag {defrag})")
            state.append("frequency governor " + (str(host.get("scaling_governor") or "")
                                                  or "unreadable"))
            if host.get("online_cpus"):
                usable = host.get("usable_cpus")
                state.append(f"{host['online_cpus']} online CPUs"
                             + (f", {usable} usable by the run" if usable and usable != host["online_cpus"] else ""))
        huge = [e.counters["huge_pages_kib"] for e in res.entries
                if "huge_pages_kib" in e.counters and e.run_type == "iteration"]
        if huge:
            state.append("huge pages used by the benchmarks: "
                         + (f"up to {f_bytes(max(huge) * 1024)}" if max(huge) > 0 else "none"))
        envs.append({
            "path": res.path,
            "entries": len(res.entries),
            "machine": str(pb.get("machine") or ctx.get("host_name") or "unknown"),
            "host": str(ctx.get("host_name") or ""),
            "date": str(ctx.get("date") or ""),
            "cpus": f"{cpus} CPUs" + (f" @ {mhz} MHz" if mhz else "") if cpus else "",
            "caches": ", ".join(caches),
            "version": str(pb.get("version") or ""),
            "revision": str(pb.get("git_revision") or "unknown"),
            "build": str(pb.get("build_type") or ctx.get("library_build_type") or ""),
            "compiler": str(pb.get("compiler") or ""),
            "command": str(pb.get("command_line") or ctx.get("executable") or ""),
            "ceilings": [f"{CEILING_LABELS[k]} {v:.4g} GB/s" for k, v in ceil.items()],
            "host_state": "; ".join(state),
            "backends": backends,
        })
    return envs


def sections(rep) -> list:
    out = []
    for prim in rep.primitives():
        h = rep.headline(prim)
        sec = {"primitive": prim, "headline": config_label(*h) if h else None,
               "busy": [p for p in rep.busy if p.primitive == prim],
               "others": [config_label(*c) for c in rep.other_configs(prim)],
               "fastest": rep.fastest(prim), "has_baseline": rep.has_baseline(prim),
               "speedups": rep.speedups(prim), "figures": [], "scaling": []}
        for n in rep.scaling_counts(prim):
            series = rep.scaling_series(prim, n)
            if series:
                ranks = sorted({p.ranks for ps in series.values() for p in ps})
                rows = [(impl, {p.ranks: p for p in ps}) for impl, ps in
                        sorted(series.items(), key=lambda kv: impl_sort_key(kv[0]))]
                sec["scaling"].append({"count": n, "ranks": ranks, "rows": rows})
        out.append(sec)
    return out


# ---- Markdown ---------------------------------------------------------------------------
def md_escape(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows) -> list:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    return lines + [""]


def markdown(rep, secs, envs, generated) -> str:
    ok, failed = len(rep.ok), len(rep.failures)
    unvalidated = sum(1 for p in rep.points if p.unvalidated)
    untimed = len(rep.points) - ok - failed - unvalidated
    L = ["# primbench report", ""]
    L.append("Inputs: " + ", ".join(f"`{e['path']}` ({e['machine']}, rev {e['revision']})"
                                    for e in envs) + f". Generated {generated}.")
    L.append("")
    if not rep.points:
        L += ["**No benchmark results in the input files.** Nothing ran, or every "
              "implementation was unavailable (see Environment).", ""]
    else:
        n = len(rep.points)
        L.append(f"**{n} benchmark{'s' if n != 1 else ''}: {ok} passed validation and were "
                 f"timed, {failed} FAILED validation**"
                 + (f", {unvalidated} not validated (no validation recorded)" if unvalidated else "")
                 + (f", {untimed} without timing" if untimed else "") + ".")
        L.append("")
        line = contention_line(rep)
        if line:
            L += [("⚠ " if rep.busy else "") + line, ""]
    if rep.failures:
        L += [f"## ❌ Validation failures ({failed})", "",
              "These results are wrong and are not plotted or ranked.", ""]
        L += md_table(["benchmark", "file", "error"],
                      [(f"`{p.name}`", p.source, "; ".join(sorted(set(p.errors))))
                       for p in rep.failures])
    if rep.busy:
        L += [f"## ⚠ Measured under contention ({len(rep.busy)})", "",
              "Other processes or the hypervisor took CPU time while these ran (steal ≥ 5 % "
              "or others ≥ 10 % of all CPU time, over the whole benchmark): their times may "
              "be slower than the machine allows. Rerun them on a quiet machine before "
              "trusting a ranking that rests on them.", ""]
        L += md_table(["benchmark", "file", "machine state"],
                      [(f"`{p.name}`", p.source, f"({p.busy})") for p in rep.busy])
    if rep.notes:
        L += ["Notes:", ""] + [f"- {n}" for n in rep.notes] + [""]
    for sec in secs:
        prim = sec["primitive"]
        L += [f"## {prim}", ""]
        L += ["### Fastest validated implementation", "",
              "Per size band (bytes the collective moves) and rank count, over every dtype "
              "and op run; *wins* = problems in the band where it was fastest. *Fraction of "
              "peak*: the median of its `peak_fraction` counters, its median iteration's rate over the reference "
              "measured beside each benchmark (the same memory traffic at the same working "
              "set, just before each repetition); older files hold it against the start-of-run "
              "ceiling instead, and say so.", ""]
        rows = []
        for r in sec["fastest"]:
            excl = ("not eligible (failed validation): " + ", ".join(r["excluded"])) \
                if r["excluded"] else ""
            excl = "; ".join(x for x in (excl, busy_note(r)) if x)
            if r["impl"] is None:
                rows.append((r["band"], r["ranks"], "none validated", "", "", "", "", "", excl))
                continue
            ru = f"{r['runner_up']} ({f_x(r['runner_up_slower'])} slower)" \
                if r.get("runner_up") else "–"
            rows.append((r["band"], r["ranks"], f"**{r['impl']}**",
                         f"{r['wins']}/{r['problems']}",
                         f_range(r["tmin"], r["tmax"]), f_bw(r["algbw"]),
                         f_ceiling(r), ru, excl))
        L += md_table(["bytes moved", "ranks", "fastest", "wins", "time", "best algbw (GB/s)",
                       "fraction of peak (median)", "runner-up", "note"], rows)
        L += [f"### Speedup over {rep.baseline}", ""]
        if not sec["has_baseline"]:
            L += [f"Baseline `{rep.baseline}` has no passing results for {prim}; no speedups.",
                  ""]
        elif sec["speedups"]:
            L += md_table(["implementation", "problems", "geometric mean", "min", "max", "note"],
                          [(s["impl"], s["problems"], f_x(s["gmean"]),
                            f"{f_x(s['min'])} ({where(s['min_at'])})",
                            f"{f_x(s['max'])} ({where(s['max_at'])})",
                            f"⚠ {s['busy']} of {s['problems']} under contention"
                            if s["busy"] else "")
                           for s in sec["speedups"]])
        else:
            L += ["No other implementation ran the same problems as the baseline.", ""]
        for sc in sec["scaling"]:
            L += [f"### Scaling with rank count ({sec['headline']}, "
                  f"{f_count(sc['count'])} elements per rank)", ""]
            L += md_table(["implementation"] + [f"P={P}" for P in sc["ranks"]],
                          [(impl, *[f_cell(t.get(P)) for P in sc["ranks"]])
                           for impl, t in sc["rows"]])
    if rep.points:
        L += ["## Validation status", ""]
        L += md_table(["primitive", "implementation", "passed", "failed", "no timing"],
                      [(a, b, c, f"**{d}**" if d else d, e)
                       for a, b, c, d, e in rep.validation_counts()])
    L += ["## Environment", ""]
    L += md_table(["file", "machine", "git revision", "build", "compiler", "ceilings",
                   "host state", "backends", "command line"],
                  [(e["path"], e["machine"], e["revision"], e["build"], e["compiler"],
                    "; ".join(e["ceilings"]) or "not recorded",
                    e["host_state"] or "not recorded",
                    ", ".join(f"{b['name']} {b['version']}".strip() if b["available"]
                              else f"{b['name']} (unavailable: {b['reason'] or 'no reason'})"
                              for b in e["backends"]) or "not recorded",
                    f"`{e['command']}`" if e["command"] else "")
                   for e in envs])
    return "\n".join(L)


# ---- main ---------------------------------------------------------------------------------
def replaced_files(out: Path, primitives=()) -> list:
    """What the report writes or removes in `out`: index.html, summary.md, and the figures of an
    earlier report into the same directory (those its page names, whatever primitives it had)
    and of the primitives about to be reported (an earlier run that ended before its page)."""
    page = ""
    if (out / "index.html").is_file():     # not a FIFO, which would block
        try:
            page = (out / "index.html").read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    stems = set(STEM_RE.findall(page))
    stems |= {f"{prim}_{kind}" for prim in primitives for kind in FIGURE_KINDS}
    return [out / "index.html", out / "summary.md"] + [out / f"{stem}.{ext}" for stem in sorted(stems)
                                                       for ext in ("png", "svg")]


def prepare_out(path: str, primitives=()) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultsError(f"{path}: cannot create output directory: "
                           f"{e.strerror or e}") from None
    if not os.access(out, os.W_OK):
        raise ResultsError(f"{path}: output directory is not writable")
    # figures of an earlier report into the same directory would otherwise linger; nothing
    # else of the directory's is removed
    for f in replaced_files(out, primitives)[2:]:
        if f.is_file():
            f.unlink()
    return out


def main(argv) -> int:
    t0 = time.monotonic()
    args = parse_args(argv)
    if not args.out:
        raise ResultsError("-o: empty output directory name (the report would go into the current "
                           "directory; give -o .)")
    sources = [results.load(p) for p in args.inputs]
    primitives = {e.primitive for res in sources for e in res.entries}
    # before anything is written or removed: no input among the files the report replaces
    results.check_outputs([("-o", str(f)) for f in replaced_files(Path(args.out), primitives)],
                          args.inputs, "the report")
    out = prepare_out(args.out, primitives)

    import jinja2
    import report_model
    import report_plots

    rep = report_model.build(sources, args.baseline)
    secs = sections(rep)
    envs = environment(sources)
    for sec in secs:
        prim = sec["primitive"]
        subtitle = sec["headline"] or ""
        for kind, make in report_plots.FIGURES:
            fig = make(rep, prim, subtitle) if sec["headline"] else None
            if fig is None:
                continue
            stem = f"{prim}_{kind}"
            png = report_plots.save(fig, out, stem)
            sec["figures"].append({"kind": kind, "stem": stem, "caption": FIGURE_CAPTIONS[kind],
                                   "data": base64.b64encode(png).decode("ascii")})
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    pal = report_plots.palette(rep.impls())
    env.globals.update(f_time=f_time, f_bytes=f_bytes, f_bw=f_bw, f_pct=f_pct, f_x=f_x,
                       f_ceiling=f_ceiling, f_range=f_range, f_cell=f_cell,
                       f_point_fraction=f_point_fraction, f_ref=f_ref, busy_note=busy_note,
                       f_count=f_count, style=lambda impl: pal[impl],
                       contention=contention_line(rep))
    html = env.get_template("index.html.j2").render(
        rep=rep, sections=secs, envs=envs, generated=generated)
    try:
        (out / "index.html").write_text(html, encoding="utf-8")
        (out / "summary.md").write_text(markdown(rep, secs, envs, generated), encoding="utf-8")
    except OSError as e:
        raise ResultsError(f"{args.out}: cannot write the report: {e.strerror or e}") from None
    if not rep.points:
        print("report: warning: the input files hold no benchmark results", file=sys.stderr)
    elif args.baseline not in rep.impls():
        print(f"report: note: baseline '{args.baseline}' is not in the results; no speedups "
              "(see --baseline)", file=sys.stderr)
    if rep.failures:
        print(f"report: {len(rep.failures)} benchmark(s) FAILED validation "
              "(listed at the top of the report)", file=sys.stderr)
    if rep.busy:
        print(f"report: {len(rep.busy)} benchmark(s) measured under contention "
              "(marked in the report)", file=sys.stderr)
    if os.environ.get("PRIMBENCH_REPORT_TIMING"):
        print(f"report: rendered in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    print(f"report: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    results.cli_main(main)
