#!/usr/bin/python3
"""primbench compare: per-benchmark regression verdicts between two sets of results.

    compare.py BASE.json[,BASE2.json] HEAD.json[,HEAD2.json] [--min-effect 0.05] [--alpha 0.01]
               [--max-cv 0.10] [--base-extra F] [--head-extra F] [--md FILE] [--json FILE]

Several files per side are concatenated per benchmark (ci/regress re-measures the benchmarks
listed under "recheck" and calls this again with the merged samples). See ci/README.md.

Exit status: 0 no regression, 1 a significant regression or a newly failing validation,
2 bad input, or cannot decide: a benchmark with a change but too few samples for the test to
ever reach significance (one line on stderr).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reports"))
from results import (UNVALIDATED, ArgParser, ResultsError, check_alike, check_distinct,  # noqa: E402
                     check_outputs, cli_main, load, write_atomic)
from report_model import fmt_seconds  # noqa: E402

VERDICTS = ("FAILED", "SLOWER", "UNDECIDABLE", "NOISY", "FASTER", "SAME", "NEW", "GONE")
SCHEMA = "primbench-compare/1"
EXACT_MAX_N = 50  # exact U distribution (no ties) up to this many samples per side



# ---------------------------------------------------------------- statistics

def robust_cv(xs: list) -> float:
    """1.4826*MAD/median: the cv of a normal sample, not moved by one stray repetition."""
    if len(xs) < 2:
        return 0.0
    med = statistics.median(xs)
    if med <= 0:
        return 0.0
    mad = statistics.median(abs(x - med) for x in xs)
    return 1.4826 * mad / med


def min_p_value(m: int, n: int) -> float:
    """Smallest two-sided p the U test can give for sample sizes m, n (complete separation)."""
    if m == 0 or n == 0:
        return 1.0
    return min(1.0, 2.0 / math.comb(m + n, m))


def u_test(base: list, head: list) -> float:
    """Two-sided Mann-Whitney U p-value; exact when small and tie-free."""
    from scipy.stats import mannwhitneyu
    if len(set(base) | set(head)) == 1:
        return 1.0  # every sample identical: no evidence of any difference
    ties = len(set(base) | set(head)) < len(base) + len(head)
    method = "exact" if not ties and max(len(base), len(head)) <= EXACT_MAX_N else "asymptotic"
    p = float(mannwhitneyu(head, base, alternative="two-sided", method=method).pvalue)
    return 1.0 if math.isnan(p) else min(1.0, p)


def holm(pvalues: dict) -> dict:
    """Holm-Bonferroni adjusted p-values (step-down, monotone), keyed like the input."""
    order = sorted(pvalues, key=lambda k: (pvalues[k], k))
    k_total = len(order)
    adjusted, running = {}, 0.0
    for i, key in enumerate(order):
        running = max(running, min(1.0, (k_total - i) * pvalues[key]))
        adjusted[key] = running
    return adjusted


# ---------------------------------------------------------------- inputs

METRICS = ("real_time", "t_p50", "ref_ratio", "auto")
# auto: ref_ratio where every repetition of both sides was paired with reference trials of its
# own (beyond the last-level cache: there the machine's bandwidth moves the time most and the
# pairs cancel it), t_p50 elsewhere (in the cache a reference of microseconds adds its own noise).
AUTO_ELSE = "t_p50"
# The kinds of ratio (ref_ratio): `ref_paired` 1, trials on the reference's own buffers; 2 (since
# 2026-12-05), in place, on the benchmark's own buffers; 0 or absent, a block before the repetition.
PAIRS = {1: "pairs", 2: "pairs in place"}
# What ref_ratio falls back to, on both sides alike, for a benchmark without a reference.
REF_FALLBACK = "real_time"


def ref_ratio(e) -> tuple | None:
    """The repetition's time over its reference's for the same memory traffic at the same working
    set (1 = as fast as the reference, 2 = twice its time), and which reference: ("pairs", x) where
    each of its iterations was paired with a reference trial of its own made just before it
    (`ref_paired` 1: working sets beyond the last-level cache), ("pairs in place", x) where those
    trials were made on the benchmark's own buffers (`ref_paired` 2: far beyond it), x the median
    over the iterations of each one's time over its trial's, 1 / peak_fraction; else ("block", x),
    the mean iteration
    against the median of the block of trials before the repetition, ref_GBps / membw. (A paired
    entry's ref_GBps is its paired trials' median: the two are not one measure, and are never
    compared with each other.) None where no reference ran beside it: ref_GBps 0 or absent (files
    from before the reference; the mpi4py peer before 2026-12-04), an entry whose `reference`
    says "ceiling" (ref_GBps is the start-of-run ceiling: device memory across several GPUs) or
    device memory in files from before entries said (2026-12-05), no traffic (count 0), or a
    ratio that is not a finite positive number."""
    ref, membw = e.counters.get("ref_GBps", 0), e.counters.get("membw", 0)
    if ref <= 0 or membw <= 0 or e.reference == "ceiling" or (e.reference is None and e.ceiling == "device_copy"):
        return None
    pf = e.counters.get("peak_fraction", 0)
    pairs = PAIRS.get(e.counters.get("ref_paired"))
    kind, x = (pairs, 1 / pf) if pairs and pf > 0 else ("block", ref / membw)
    return (kind, x) if math.isfinite(x) and x > 0 else None


def ratio_kind(name: str, sides) -> str | None:
    """"pairs", "pairs in place" or "block" where every repetition of the benchmark on every side
    has that ratio; None where they differ (an older build on one side, a repetition not paired)
    or none has one."""
    kinds = set().union(*(side["kinds"].get(name, set()) for side in sides))
    return kinds.pop() if len(kinds) == 1 else None


def _trials(name: str, side: dict) -> str:
    return ", ".join(sorted(side["trials"].get(name, set())))


def timed_apart(name: str, sides) -> bool:
    """Whether the benchmark's repetitions were timed under different trials of the reference
    inside the timed loop (`ref_paired`: 1, on the reference's buffers; 2, in place; 0 or absent,
    none there). A trial on the reference's buffers slowed the iteration after it by 3 - 20 %
    against one in place or none (docs/measurement.md, "In place"): no time of one is the other's
    measure, nor any ratio."""
    return len(set().union(*(side["trials"].get(name, set()) for side in sides))) > 1


def sample_key(name: str, metric: str, sides) -> str:
    """The samples a benchmark is compared by under --metric, the same on every side. ref_ratio:
    its fallback where a side has no reference for it, or where the ratio is not one kind on every
    side. auto: ref_ratio where every side has pairs for it, else AUTO_ELSE."""
    if metric not in ("ref_ratio", "auto"):
        return metric
    lacking = any(name in side["lacking"] for side in sides)
    kind = None if lacking else ratio_kind(name, sides)
    if metric == "auto":
        return "ref_ratio" if kind in PAIRS.values() else AUTO_ELSE
    return "ref_ratio" if kind else REF_FALLBACK


def _metric_samples(res, metric: str) -> tuple:
    """Per-repetition samples of each passing benchmark: the repetition's mean time per
    iteration (real_time, Google Benchmark's), the median of its iterations (t_p50) or its
    ref_ratio; the benchmarks with a repetition that has no ref_ratio, and each benchmark's kinds
    of ratio (PAIRS' or "block")."""
    if metric == "real_time":
        return res.samples(), set(), {}
    out: dict = {}
    lacking, kinds = set(), {}
    for e in res.entries:
        if e.run_type == "iteration" and e.timed:
            if metric == "ref_ratio":
                r = ref_ratio(e)
                if r is None:
                    lacking.add(e.name)
                    continue
                kinds.setdefault(e.name, set()).add(r[0])
                v = r[1]
            else:
                v = e.counters.get(metric)
                if v is None:
                    raise ResultsError(f"{res.path}: benchmark '{e.name}' has no '{metric}' counter "
                                       "(use --metric real_time)")
                if not v > 0:  # as a passing real_time of 0 (results.py): it would read as no change
                    raise ResultsError(f"{res.path}: benchmark '{e.name}' passed with a {metric} of {v}: "
                                       "a repetition takes time")
            out.setdefault(e.name, []).append(float(v))
    return out, lacking, kinds


def _unite(into: dict, sets: dict) -> None:
    """Each benchmark's set (its kinds of ratio, its trials) added to the side's."""
    for name, ks in sets.items():
        into.setdefault(name, set()).update(ks)


def load_side(paths: list, metric: str = "real_time") -> dict:
    """Merge several results files: samples concatenated, failures and names united. Samples
    and per-run medians are kept per metric: --metric's, and with ref_ratio (auto) its fallback
    (and t_p50) too."""
    return merge_sides([load_run(path, metric) for path in paths])


def load_run(path, metric: str = "real_time") -> dict:
    """One results file (a path, or the Results load read from it) as a side of its own (one run).
    A benchmark with an entry that records no validation is no timing: a failure, as one that
    failed validation."""
    metrics = {"ref_ratio": (metric, REF_FALLBACK),
               "auto": ("ref_ratio", REF_FALLBACK, AUTO_ELSE)}.get(metric, (metric,))
    res = load(path) if isinstance(path, str) else path
    path = res.path
    failures = {name: UNVALIDATED for name in res.unvalidated()}
    failures.update(res.failures())
    side = {"paths": [path], "samples": {m: {} for m in metrics}, "runs": {m: {} for m in metrics},
            "lacking": set(), "kinds": {}, "trials": {}, "failures": failures,
            "names": {e.name for e in res.entries},
            "revisions": [r for r in [res.primbench.get("git_revision")] if r]}
    for e in res.entries:
        if e.run_type == "iteration" and e.timed:
            paired = e.counters.get("ref_paired", 0)
            if paired not in (0, *PAIRS):
                raise ResultsError(f"{path}: benchmark '{e.name}' has ref_paired {paired}: not a kind of "
                                   f"reference this compare knows (0, {', '.join(map(str, PAIRS))})")
            side["trials"].setdefault(e.name, set()).add(PAIRS.get(paired, "none in the loop"))
    for m in metrics:
        samples, lacking, kinds = _metric_samples(res, m)
        side["lacking"] |= lacking
        _unite(side["kinds"], kinds)
        for name, xs in samples.items():
            side["samples"][m][name] = list(xs)
            side["runs"][m][name] = [statistics.median(xs)]
    return side


def merge_sides(runs: list) -> dict:
    """Sides (load_run's) as one: samples concatenated, each file's per-run median kept, the first
    failure of a benchmark kept, names and revisions united."""
    metrics = list(runs[0]["samples"]) if runs else ["real_time"]
    side = {"paths": [], "samples": {m: {} for m in metrics}, "runs": {m: {} for m in metrics},
            "lacking": set(), "kinds": {}, "trials": {}, "failures": {}, "names": set(), "revisions": []}
    for run in runs:
        side["paths"] += run["paths"]
        side["lacking"] |= run["lacking"]
        _unite(side["kinds"], run["kinds"])
        _unite(side["trials"], run["trials"])
        for m in metrics:
            for key in ("samples", "runs"):
                for name, xs in run[key][m].items():
                    side[key][m].setdefault(name, []).extend(xs)
        for name, err in run["failures"].items():
            side["failures"].setdefault(name, err)
        side["names"] |= run["names"]
        side["revisions"] += [r for r in run["revisions"] if r not in side["revisions"]]
    passed = side["names"] - set(side["failures"])
    if passed and not any(side["samples"][m].get(n) for m in metrics for n in passed):
        # Aggregates alone carry no samples to test: every verdict would be NOISY, and a 10x
        # slowdown would pass.
        raise ResultsError(f"{', '.join(side['paths'])}: no per-repetition entries to compare (written with "
                           "--aggregates-only?); compare needs the repetitions")
    return side


def split_paths(values: list) -> list:
    out = []
    for v in values or []:
        out.extend(p for p in v.split(",") if p)
    return out


# ---------------------------------------------------------------- verdicts

def _stats(xs: list, times: list | None = None) -> dict:
    """A side's samples: their count, median and robust cv. For ref_ratio samples, `times` are
    the same repetitions' real_time: median_s is theirs, median_ref_ratio the samples'."""
    out = {"n": len(xs), "median_s": statistics.median(times or xs) if xs else None,
           "cv": robust_cv(xs) if xs else None}
    if times is not None:
        out["median_ref_ratio"] = statistics.median(xs) if xs else None
    return out


def _median(stats: dict, metric: str):
    return stats["median_ref_ratio"] if metric == "ref_ratio" else stats["median_s"]


def compare(base: dict, head: dict, alpha=0.01, min_effect=0.05, max_cv=0.10,
            recheck_margin=0.5, metric="real_time", allow_gone=False, keys: dict | None = None) -> dict:
    """The verdict of every benchmark named in either side; see ci/README.md for the rules.
    keys: the samples to compare a benchmark by, where the caller fixed them (ci/power, over all
    its runs); else sample_key's of these two sides."""
    names = sorted(base["names"] | head["names"])
    # One metric per benchmark for both sides: ref_ratio only where neither lacks a reference and
    # its kind (PAIRS', block) is the same in every repetition of both.
    used = {n: (keys or {}).get(n) or sample_key(n, metric, (base, head)) for n in names}
    samples = {k: {n: side["samples"][used[n]].get(n, []) for n in names}
               for k, side in (("base", base), ("head", head))}
    runs = {k: {n: side["runs"][used[n]].get(n, []) for n in names}
            for k, side in (("base", base), ("head", head))}
    apart = {n for n in names if timed_apart(n, (base, head))}
    paired = [n for n in names if samples["base"][n] and samples["head"][n]
              and n not in head["failures"] and n not in apart]
    raw_p = {n: u_test(samples["base"][n], samples["head"][n]) for n in paired}
    adj_p = holm(raw_p)
    level = alpha / len(paired) if paired else alpha  # strictest Holm step
    multi = [n for n in paired if len(runs["base"][n]) >= 2 and len(runs["head"][n]) >= 2]
    run_adj = holm({n: u_test(runs["base"][n], runs["head"][n]) for n in multi})
    run_level = alpha / len(multi) if multi else alpha
    rows = []
    for name in names:
        m = used[name]
        b, h = samples["base"][name], samples["head"][name]
        times = {k: side["samples"][REF_FALLBACK].get(name, []) if m == "ref_ratio" else None
                 for k, side in (("base", base), ("head", head))}
        row = {"name": name, "metric": m, "base": _stats(b, times["base"]),
               "head": _stats(h, times["head"]),
               "change": None, "p": raw_p.get(name), "p_adjusted": adj_p.get(name),
               "p_runs_adjusted": None, "significant": False,
               "regression": False, "new_failure": False, "recheck": False, "reason": ""}
        if m == "ref_ratio":
            row["ref_ratio_of"] = ratio_kind(name, (base, head))
        if b and h and _median(row["base"], m) > 0:
            row["change"] = _median(row["head"], m) / _median(row["base"], m) - 1
        if name in head["failures"]:
            row["verdict"] = "FAILED"
            row["new_failure"] = name not in base["failures"]
            row["reason"] = head["failures"][name] + ("" if row["new_failure"]
                                                      else " (also failed in base)")
        elif name not in head["names"]:
            row["verdict"], row["reason"] = "GONE", "not in head"
        elif name not in base["names"]:
            row["verdict"], row["reason"] = "NEW", "not in base"
        elif name in base["failures"] and not b:
            row["verdict"], row["reason"] = "NEW", "failed validation in base; passes in head"
        elif name in apart:
            row["verdict"] = "NOISY"
            row["reason"] = ("timed under different reference trials (base: " + _trials(name, base) + "; head: "
                             + _trials(name, head) + "): trials inside the timed loop change the iterations' own "
                             "times, so neither its time nor its ratio on one side is the other's measure; compare "
                             "runs of one primbench build")
        elif not b or not h:
            row["verdict"] = "UNDECIDABLE"  # no samples: no test can say anything
            row["reason"] = "no per-repetition samples (aggregates only?)"
        else:
            _decide(row, level, alpha, min_effect, max_cv)
            _check_runs(row, runs["base"][name], runs["head"][name], run_adj.get(name),
                        run_level, alpha)
            row["recheck"] = _near_threshold(row, alpha, min_effect, recheck_margin)
            if m == REF_FALLBACK != metric:
                sides = " and ".join(k for k, side in (("base", base), ("head", head))
                                     if name in side["lacking"])
                row["reason"] += f"; by {m}: no reference beside it in {sides}"
        rows.append(row)
    rows.sort(key=lambda r: (VERDICTS.index(r["verdict"]), r["name"]))
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    regressions = [r["name"] for r in rows if r["regression"]]
    new_failures = [r["name"] for r in rows if r["new_failure"]]
    # A head that lost benchmarks (a run cut short) is not a pass unless that is intended.
    gone = [r["name"] for r in rows if r["verdict"] == "GONE"]
    # Too few samples for the test to ever say: not a pass, unless the benchmark shows no change.
    undecided = [r["name"] for r in rows if r["verdict"] == "UNDECIDABLE"
                 and (r["change"] is None or abs(r["change"]) >= min_effect)]
    status = 1 if regressions or new_failures or (gone and not allow_gone) else 2 if undecided else 0
    return {
        "schema": SCHEMA,
        "base": {"files": base["paths"], "revisions": base["revisions"]},
        "head": {"files": head["paths"], "revisions": head["revisions"]},
        "settings": {"alpha": alpha, "min_effect": min_effect, "max_cv": max_cv,
                     "recheck_margin": recheck_margin, "correction": "holm", "metric": metric,
                     "compared": len(paired)},
        "fallback": [n for n in paired if used[n] == REF_FALLBACK != metric],
        "result": {0: "pass", 1: "fail", 2: "undecided"}[status],
        "exit_status": status,
        "counts": counts,
        "regressions": regressions,
        "new_failures": new_failures,
        "gone": gone,
        "undecided": undecided,
        "recheck": [r["name"] for r in rows if r["recheck"]],
        "benchmarks": rows,
    }


def _decide(row, level, alpha, min_effect, max_cv):
    nb, nh = row["base"]["n"], row["head"]["n"]
    change = row["change"]
    if min_p_value(nb, nh) > level:
        # Not noise: whatever the change, these sample sizes cannot reach significance.
        row["verdict"] = "UNDECIDABLE"
        row["reason"] = (f"too few samples ({nb} base, {nh} head): the U test cannot reach "
                         f"p <= {level:.3g} (alpha {alpha:g} over {round(alpha / level)} "
                         "benchmarks) however large the change"
                         + (f"; {change:+.1%}, within {min_effect:.0%}" if change is not None
                            and abs(change) < min_effect else ""))
        return
    row["significant"] = row["p_adjusted"] <= alpha
    if change is not None and row["significant"] and abs(change) >= min_effect:
        row["verdict"] = "SLOWER" if change > 0 else "FASTER"
        row["regression"] = change > 0
        row["reason"] = f"{change:+.1%} beyond {min_effect:.0%}, p_adj {row['p_adjusted']:.2g}"
        return
    spread = max(row["base"]["cv"], row["head"]["cv"])
    if change is not None and abs(change) >= min_effect:
        row["verdict"] = "NOISY"  # a change this large that the test cannot confirm
        row["reason"] = (f"{change:+.1%} but not significant (p_adj {row['p_adjusted']:.2g}, "
                         f"robust cv {spread:.1%}); cannot say")
    elif spread > max_cv:
        row["verdict"] = "NOISY"
        row["reason"] = f"spread (robust cv {spread:.1%}) over {max_cv:.0%}; cannot rule out a change"
    else:
        row["verdict"] = "SAME"
        row["reason"] = ("within min effect" if row["significant"]
                         else f"not significant (p_adj {row['p_adjusted']:.2g})")


def _check_runs(row, base_runs: list, head_runs: list, run_p_adj, run_level, alpha) -> None:
    """With several files (runs) per side, a change must also be significant between the runs:
    a U test over the per-run medians, Holm-corrected like the pooled one. Repetitions within
    one run share the machine's state, so a busy moment during one run makes its samples look
    significant together and the pooled test cannot tell; the run-level test treats each run
    as one sample, which is what it is. (ci/regress runs one repetition per run, so there the
    two tests coincide.)"""
    row["base"]["runs"], row["head"]["runs"] = len(base_runs), len(head_runs)
    row["p_runs_adjusted"] = run_p_adj
    if row["verdict"] not in ("SLOWER", "FASTER") or run_p_adj is None:
        return
    nb, nh = len(base_runs), len(head_runs)
    if min_p_value(nb, nh) > run_level:
        row["verdict"], row["regression"] = "UNDECIDABLE", False
        row["reason"] = (f"{row['change']:+.1%} but too few runs ({nb} base, {nh} head) for the "
                         f"run-level U test to ever reach p <= {run_level:.3g}")
        return
    elif run_p_adj > alpha:
        m = row["metric"]
        why = (f"{row['change']:+.1%} but not significant between runs (p_adj {run_p_adj:.2g}; "
               f"base run medians {fmt_value(min(base_runs), m)}-{fmt_value(max(base_runs), m)}, "
               f"head {fmt_value(min(head_runs), m)}-{fmt_value(max(head_runs), m)})")
    else:
        return
    row["verdict"], row["regression"], row["reason"] = "NOISY", False, why


def _near_threshold(row, alpha, min_effect, margin) -> bool:
    """Whether more samples could flip this benchmark's part in the gate (pass <-> regression)."""
    change = row["change"] or 0.0
    if row["verdict"] in ("NOISY", "UNDECIDABLE"):
        return True
    if row["verdict"] == "SAME":
        return change >= min_effect * (1 - margin)
    if row["verdict"] == "SLOWER":
        return change <= min_effect * (1 + margin) or row["p_adjusted"] > alpha / 10
    return False


# ---------------------------------------------------------------- output

def fmt_time(s) -> str:
    return "-" if s is None else fmt_seconds(s)


def fmt_value(x, metric: str) -> str:
    """A sample or median: a time, or a ref_ratio as the reference's times ("1.31× ref")."""
    if metric != "ref_ratio":
        return fmt_time(x)
    return "-" if x is None else f"{x:.3g}× ref"


def fmt_median(stats: dict, metric: str) -> str:
    if metric != "ref_ratio" or stats["median_ref_ratio"] is None:
        return fmt_time(stats["median_s"])
    return f"{fmt_value(stats['median_ref_ratio'], metric)} ({fmt_time(stats['median_s'])})"


def fmt_change(c) -> str:
    return "-" if c is None else f"{c:+.1%}"


def fmt_p(p) -> str:
    return "-" if p is None else f"{p:.2g}"


def summary_line(rep: dict) -> str:
    c, s = rep["counts"], rep["settings"]
    head = {0: "PASS", 1: "FAIL", 2: "UNDECIDED"}[rep["exit_status"]]
    fallback = (f"; {len(rep['fallback'])} by {REF_FALLBACK}, no reference beside them or not paired alike"
                if rep["fallback"] else "")
    if s["metric"] == "auto":
        by_ratio = sum(r["metric"] == "ref_ratio" and r["p"] is not None for r in rep["benchmarks"])
        fallback = f": {by_ratio} by ref_ratio (paired), the rest by {AUTO_ELSE}"
    return (f"{head}: {len(rep['regressions'])} regression(s), "
            f"{len(rep['new_failures'])} new failure(s); "
            + ", ".join(f"{c[v]} {v.lower()}" for v in VERDICTS)
            + f" (alpha {s['alpha']:g}, Holm over {s['compared']}, min effect {s['min_effect']:.0%}, "
              f"by {s['metric']}{fallback})")


def _cells(r) -> list:
    return [r["verdict"], r["name"], fmt_median(r["base"], r["metric"]),
            fmt_median(r["head"], r["metric"]), fmt_change(r["change"]), fmt_p(r["p"]),
            fmt_p(r["p_adjusted"]), f"{r['base']['n']}/{r['head']['n']}", r["reason"]]


HEADER = ["verdict", "benchmark", "base median", "head median", "change", "p", "p_adj",
          "n base/head", "why"]


def console(rep: dict) -> str:
    rows = [HEADER] + [_cells(r) for r in rep["benchmarks"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    return "\n".join(lines + [summary_line(rep)]) + "\n"


def markdown(rep: dict) -> str:
    def esc(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    def table(rows):
        out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        out += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
        return out

    icon = ":x:" if rep["exit_status"] else ":white_check_mark:"
    base = ", ".join(rep["base"]["revisions"]) or ", ".join(rep["base"]["files"])
    head = ", ".join(rep["head"]["revisions"]) or ", ".join(rep["head"]["files"])
    lines = [f"### primbench compare {icon}", "", f"**{summary_line(rep)}**", "",
             f"base `{esc(base)}` → head `{esc(head)}`", ""]
    # What a reviewer must see first; the undecided and the unchanged are folded away.
    notable = [r for r in rep["benchmarks"] if r["verdict"] not in ("SAME", "NOISY")]
    if notable:
        lines += table(notable) + [""]
    for verdict, what in (("NOISY", "undecided (NOISY: too noisy to say, never a failure)"),
                          ("SAME", "unchanged")):
        rows = [r for r in rep["benchmarks"] if r["verdict"] == verdict]
        if rows:
            lines += [f"<details><summary>{len(rows)} {what}</summary>", ""] + table(rows) \
                + ["", "</details>", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = ArgParser(prog="primbench compare", description=__doc__.split("\n")[0])
    ap.add_argument("base", help="baseline results, comma-separated for several files")
    ap.add_argument("head", help="results under test, comma-separated for several files")
    ap.add_argument("--base-extra", action="append", default=[], metavar="FILE",
                    help="more baseline files (repeatable); samples are concatenated")
    ap.add_argument("--head-extra", action="append", default=[], metavar="FILE",
                    help="more head files (repeatable); samples are concatenated")
    ap.add_argument("--min-effect", type=float, default=0.05,
                    help="smallest relative slowdown that counts as a regression (default 0.05)")
    ap.add_argument("--alpha", type=float, default=0.01,
                    help="significance level before Holm correction (default 0.01)")
    ap.add_argument("--max-cv", type=float, default=0.10,
                    help="robust cv above which an undecided benchmark is NOISY (default 0.10)")
    ap.add_argument("--recheck-margin", type=float, default=0.5,
                    help="relative band around --min-effect listed for re-measuring (default 0.5)")
    ap.add_argument("--metric", choices=METRICS, default="real_time",
                    help="per-repetition sample: real_time (the repetition's mean, default), "
                         "t_p50 (the median of its iterations: not moved by preemption spikes "
                         "on a shared machine), ref_ratio (real_time "
                         "over the time of the reference measured beside it for the same "
                         "traffic, 1/peak_fraction; real_time for a benchmark without one) or auto "
                         "(ref_ratio where every repetition was paired with reference trials of its "
                         "own, t_p50 elsewhere; what ci/regress uses)")
    ap.add_argument("--across-machines", action="store_true",
                    help="compare files measured on different CPU models (context.primbench.machine); "
                         "refused otherwise")
    ap.add_argument("--allow-gone", action="store_true",
                    help="pass even when benchmarks of BASE are missing from HEAD (removed on purpose)")
    ap.add_argument("--md", metavar="FILE", help="write a Markdown summary for a pull request")
    ap.add_argument("--json", metavar="FILE", help="write the machine-readable verdicts")
    ap.add_argument("--quiet", action="store_true", help="no console table")
    args = ap.parse_args(argv)
    if not 0 < args.alpha < 1:
        ap.error(f"--alpha {args.alpha:g} must be between 0 and 1")
    for flag in ("min_effect", "max_cv", "recheck_margin"):
        v = getattr(args, flag)
        if not (math.isfinite(v) and v >= 0):
            ap.error(f"--{flag.replace('_', '-')} {v:g} must be a non-negative number")
    return args


def main(argv) -> int:
    args = parse_args(argv)
    base_paths = split_paths([args.base] + args.base_extra)
    head_paths = split_paths([args.head] + args.head_extra)
    if not base_paths or not head_paths:
        raise ResultsError("need at least one BASE and one HEAD results file")
    # Before anything is read or written: no output may replace an input or another output.
    check_outputs([(flag, path) for flag, path in (("--json", args.json), ("--md", args.md))
                   if path is not None], base_paths + head_paths, "compare")
    sources = {path: load(path) for path in dict.fromkeys(base_paths + head_paths)}
    every = [sources[p] for p in base_paths + head_paths]
    check_distinct(every)   # a file twice would be counted as two independent runs
    check_alike(every, args.across_machines,
                note=lambda text: print(f"compare: note: {text}", file=sys.stderr))
    rep = compare(merge_sides([load_run(sources[p], args.metric) for p in base_paths]),
                  merge_sides([load_run(sources[p], args.metric) for p in head_paths]),
                  alpha=args.alpha, min_effect=args.min_effect, max_cv=args.max_cv,
                  recheck_margin=args.recheck_margin, metric=args.metric, allow_gone=args.allow_gone)
    if args.md is not None:
        write_atomic(args.md, markdown(rep))
    if args.json is not None:
        write_atomic(args.json, json.dumps(rep, indent=2) + "\n")
    if not args.quiet:
        sys.stdout.write(console(rep))
    if rep["exit_status"] == 2:
        rows = [r for r in rep["benchmarks"] if r["name"] in rep["undecided"]]
        more = f"; and {len(rows) - 1} more" if len(rows) > 1 else ""
        raise ResultsError(f"cannot decide: {len(rows)} benchmark(s) have too few samples "
                           f"({rows[0]['name']}: {rows[0]['reason']}{more}); give more runs/repetitions")
    return rep["exit_status"]


if __name__ == "__main__":
    cli_main(main)
