#!/usr/bin/python3
"""primbench history: keep results in SQLite and draw each benchmark's trend across revisions.

    history.py add RESULTS.json --db FILE [--branch B] [--revision R]
    history.py show --db FILE [--benchmark GLOB ...] [--branch B] [--machine FP] -o DIR

`add` stores one run: git revision, branch, machine fingerprint, time, and every benchmark's
per-repetition samples (and validation failures). `show` writes one PNG per benchmark, an
index.html and changepoints.json, marking change points (see ci/README.md).
Exit status: 0 done, 2 bad input (one line on stderr).
"""
from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import html
import json
import math
import os
import re
import sqlite3
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reports"))
from results import (UNVALIDATED, ArgParser, Results, ResultsError, check_alike,  # noqa: E402
                     check_outputs, cli_main, load)
from report_model import time_unit  # noqa: E402

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS machines (
    fingerprint TEXT PRIMARY KEY,
    description TEXT NOT NULL             -- JSON: the context fields the fingerprint hashes
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    revision TEXT NOT NULL,
    branch TEXT NOT NULL,
    machine TEXT NOT NULL REFERENCES machines(fingerprint),
    time TEXT NOT NULL,                   -- when the benchmarks ran (context.date), ISO 8601
    added TEXT NOT NULL,                  -- when it was stored
    version TEXT,
    command_line TEXT,
    source TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,          -- sha256 of the file: the same file is stored once
    context TEXT NOT NULL                 -- the whole context object, JSON
);
CREATE TABLE IF NOT EXISTS benchmarks (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    primitive TEXT, impl TEXT, dtype TEXT, op TEXT, ranks INTEGER, count INTEGER, root INTEGER,
    error TEXT,                           -- validation failure message, NULL when it passed
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS samples (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    repetition INTEGER NOT NULL,
    time_s REAL NOT NULL,                 -- real time per iteration of one repetition, seconds
    PRIMARY KEY (run_id, name, repetition)
);
CREATE INDEX IF NOT EXISTS samples_by_name ON samples(name);
"""
FINGERPRINT_KEYS = ("host_name", "num_cpus", "mhz_per_cpu", "caches")



# ---------------------------------------------------------------- store

def check_db_name(path: str) -> None:
    if not path or path == ":memory:" or path.startswith("file:"):
        # SQLite would keep such a database in memory (or read a URI): "stored" runs would be lost.
        raise ResultsError(f"--db '{path}': not a database file name (an empty name, ':memory:' "
                           "and 'file:' URIs store nothing that lasts); give a file path")


def connect(path: str, create: bool) -> sqlite3.Connection:
    check_db_name(path)
    if not create and not os.path.exists(path):
        raise ResultsError(f"{path}: no such history database (create it with 'history add')")
    try:
        db = sqlite3.connect(path)
        db.execute("PRAGMA foreign_keys = ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise ResultsError(f"{path}: history schema {version}, this tool reads {SCHEMA_VERSION}")
        return db
    except sqlite3.DatabaseError as e:
        raise ResultsError(f"{path}: not a primbench history database: {e}") from None


def machine_of(res) -> tuple:
    """(fingerprint, description): what makes timings from two runs comparable."""
    desc = {k: res.context.get(k) for k in FINGERPRINT_KEYS}
    desc["primbench"] = res.primbench.get("machine")
    text = json.dumps(desc, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12], text


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
        return (out.stdout.strip() or None) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def default_branch() -> str:
    for var in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"):
        if os.environ.get(var):
            return os.environ[var]
    branch = _git("rev-parse", "--abbrev-ref", "HEAD")
    return branch if branch and branch != "HEAD" else "unknown"


def run_time(context: dict) -> str:
    try:
        t = dt.datetime.fromisoformat(str(context.get("date")))
        return (t if t.tzinfo else t.astimezone()).astimezone(dt.timezone.utc).isoformat()
    except ValueError:
        return dt.datetime.now(dt.timezone.utc).isoformat()


def check_series(db, res, fingerprint: str) -> None:
    """Refuse a run whose options change what its timings mean against the runs of its machine
    already stored: show draws one line per machine, and it would mix them (compare refuses the
    same). Stored runs that record no options are not checked; a new one without is noted."""
    stored = None
    for run_id, ctx in db.execute("SELECT id, context FROM runs WHERE machine = ? ORDER BY id DESC",
                                  (fingerprint,)):
        r = Results(path=f"{db_name(db)} run {run_id}", context=json.loads(ctx), entries=[])
        if r.options is not None:
            stored = r
            break
    try:
        check_alike([stored, res] if stored else [res], across_machines=True,
                    note=lambda text: print(f"history: note: {text}", file=sys.stderr))
    except ResultsError as e:
        raise ResultsError(f"{e}; store it in another --db") from None


def db_name(db) -> str:
    return db.execute("PRAGMA database_list").fetchone()[2] or "the database"


def add(args) -> int:
    check_db_name(args.db)
    check_outputs([("--db", args.db)], [args.results], "history add")
    res = load(args.results)
    digest = res.digest
    pb = res.primbench
    revision = args.revision or pb.get("git_revision") or _git("rev-parse", "HEAD") or "unknown"
    branch = args.branch or default_branch()
    fingerprint, desc = machine_of(res)
    db = connect(args.db, create=True)
    with db:
        dup = db.execute("SELECT id FROM runs WHERE digest = ?", (digest,)).fetchone()
        if dup:
            print(f"{args.results}: already stored as run {dup[0]}; skipped")
            return 0
        check_series(db, res, fingerprint)
        db.execute("INSERT OR IGNORE INTO machines VALUES (?, ?)", (fingerprint, desc))
        cur = db.execute(
            "INSERT INTO runs (revision, branch, machine, time, added, version, command_line,"
            " source, digest, context) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (revision, branch, fingerprint, run_time(res.context),
             dt.datetime.now(dt.timezone.utc).isoformat(), pb.get("version"),
             pb.get("command_line"), os.path.abspath(args.results), digest,
             json.dumps(res.context)))
        run_id = cur.lastrowid
        seen, reps = set(), {}
        for e in res.entries:
            if e.name not in seen:
                seen.add(e.name)
                db.execute("INSERT INTO benchmarks VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (run_id, e.name, e.primitive, e.impl, e.dtype, e.op, e.ranks,
                            e.count, e.root, None))
            if e.failed or e.unvalidated:  # no validated timing: never a sample
                db.execute("UPDATE benchmarks SET error = ? WHERE run_id = ? AND name = ?",
                           (e.error or UNVALIDATED, run_id, e.name))
        for name, xs in res.samples().items():
            db.executemany("INSERT INTO samples VALUES (?,?,?,?)",
                           [(run_id, name, i, x) for i, x in enumerate(xs)])
            reps[name] = len(xs)
    db.close()
    print(f"{args.results}: stored as run {run_id} (revision {revision[:12]}, branch {branch}, "
          f"machine {fingerprint}, {len(seen)} benchmarks, {sum(reps.values())} samples)")
    return 0


# ---------------------------------------------------------------- change points

def _robust_sd(xs: list) -> float:
    if len(xs) < 2:
        return 0.0
    med = statistics.median(xs)
    return 1.4826 * statistics.median(abs(x - med) for x in xs)


def change_points(series: list, min_change=0.05, alpha=0.01, min_runs=2) -> list:
    """[(i, change)]: the level changes between run i-1 and run i by `change` (relative).

    series: one list of repetition times per run, in time order. Binary segmentation on the
    log of run medians proposes steps; each is then confirmed against its neighbouring
    segments only, weakest first, until all hold: the segments' medians differ by at least
    min_change, by more than 3 robust sd of the run-to-run scatter inside them, and a
    Mann-Whitney U test of their pooled repetitions gives p < alpha. Each segment needs
    min_runs runs, so a lone outlier run (or the newest run alone) is no step.
    """
    idx = [i for i, xs in enumerate(series) if xs and statistics.median(xs) > 0]
    logs = [math.log(statistics.median(series[i])) for i in idx]

    def test(lo, s, hi):  # segments [lo, s) and [s, hi) of positions into idx
        left, right = logs[lo:s], logs[s:hi]
        ml, mr = statistics.median(left), statistics.median(right)
        pooled_l = [x for k in range(lo, s) for x in series[idx[k]]]
        pooled_r = [x for k in range(s, hi) for x in series[idx[k]]]
        change = statistics.median(pooled_r) / statistics.median(pooled_l) - 1
        big = abs(math.exp(mr - ml) - 1) >= min_change and abs(change) >= min_change
        return big, change, abs(mr - ml), ml, mr, pooled_l, pooled_r, left, right

    def significant(pooled_l, pooled_r) -> bool:
        from scipy.stats import mannwhitneyu
        return mannwhitneyu(pooled_r, pooled_l, alternative="two-sided").pvalue < alpha

    proposed = []

    def split(lo, hi):
        best = None
        for s in range(lo + min_runs, hi - min_runs + 1):
            step = statistics.median(logs[s:hi]) - statistics.median(logs[lo:s])
            score = abs(step) * math.sqrt((s - lo) * (hi - s) / (hi - lo))
            if best is None or score > best[0]:
                best = (score, s)
        if best is None:
            return
        big, _, _, _, _, pl, pr, _, _ = test(lo, best[1], hi)
        if big and significant(pl, pr):
            proposed.append(best[1])
            split(lo, best[1])
            split(best[1], hi)

    split(0, len(idx))
    cps = sorted(proposed)
    while True:  # confirm each step against its neighbours only; drop the weakest failure
        bounds = [0] + cps + [len(idx)]
        failing, kept = [], []
        for k, s in enumerate(cps):
            big, change, step, ml, mr, pl, pr, left, right = test(bounds[k], s, bounds[k + 2])
            scatter = _scatter(left, ml, right, mr)
            if big and step > 3 * scatter and significant(pl, pr):
                kept.append((idx[s], change))
            else:
                failing.append((step, s))
        if not failing:
            return kept
        cps.remove(min(failing)[1])


def _scatter(left, ml, right, mr) -> float:
    """Robust sd of run medians (log) around their own segment's median."""
    return _robust_sd([x - ml for x in left] + [x - mr for x in right])


# ---------------------------------------------------------------- show

def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")


def show(args) -> int:
    db = connect(args.db, create=False)
    where, params = [], []
    if args.branch:
        where.append("r.branch = ?")
        params.append(args.branch)
    if args.machine:
        where.append("r.machine LIKE ?")
        params.append(args.machine + "%")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    runs = db.execute(f"SELECT id, revision, branch, machine, time FROM runs r {clause} "
                      "ORDER BY time, id", params).fetchall()
    if not runs:
        raise ResultsError(f"{args.db}: no runs stored" + (" matching the filters" if where else ""))
    names = [r[0] for r in db.execute("SELECT DISTINCT name FROM benchmarks ORDER BY name")]
    globs = args.benchmark or ["*"]
    chosen = [n for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]
    if not chosen:
        raise ResultsError(f"no stored benchmark matches {' '.join(globs)} "
                           f"({len(names)} stored, e.g. {names[0] if names else 'none'})")
    # Nothing written over the database: index.html, changepoints.json and a PNG per benchmark.
    check_outputs([("-o", os.path.join(args.out, f)) for f in
                   ["index.html", "changepoints.json"] + [_slug(n) + ".png" for n in chosen]],
                  [args.db], "history show")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise ResultsError(f"{args.out}: cannot create: {e.strerror}") from None

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_ids = {r[0] for r in runs}
    report = []
    for name in chosen:
        samples = {}
        for run_id, t in db.execute("SELECT run_id, time_s FROM samples WHERE name = ? "
                                    "ORDER BY run_id, repetition", (name,)):
            if run_id in run_ids:
                samples.setdefault(run_id, []).append(t)
        failed = {r for (r,) in db.execute("SELECT run_id FROM benchmarks WHERE name = ? AND "
                                           "error IS NOT NULL", (name,)) if r in run_ids}
        present = [r for r in runs if r[0] in samples or r[0] in failed]
        if not present:
            continue
        fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(present) + 3), 4.0))
        entry = {"benchmark": name, "png": _slug(name) + ".png", "change_points": []}
        machines = sorted({r[3] for r in present})
        every = [x for xs in samples.values() for x in xs]
        unit, scale = time_unit(statistics.median(every) if every else 1e-6)
        for m in machines:  # timings are comparable only on one machine
            mruns = [r for r in present if r[3] == m and r[0] in samples]
            if not mruns:
                continue
            xs = [present.index(r) for r in mruns]
            series = [samples[r[0]] for r in mruns]
            med = [statistics.median(s) for s in series]
            lo = [statistics.median(s) - min(s) for s in series]
            hi = [max(s) - statistics.median(s) for s in series]
            label = f"machine {m}" if len(machines) > 1 else "median (bars: min-max)"
            line = ax.errorbar(xs, [v / scale for v in med], yerr=[[v / scale for v in lo],
                               [v / scale for v in hi]], marker="o", capsize=3, label=label)
            for x, s in zip(xs, series):
                ax.plot([x] * len(s), [v / scale for v in s], ".", alpha=0.25,
                        color=line[0].get_color())
            for cp, change in change_points(series, args.min_change, args.alpha, args.min_runs):
                ax.axvline(xs[cp] - 0.5, color="red", linestyle="--", linewidth=1)
                ax.annotate(f"{change:+.1%}", (xs[cp] - 0.5, 1.0), xycoords=("data", "axes fraction"),
                            ha="left", va="top", color="red", fontsize=9)
                entry["change_points"].append({
                    "machine": m, "change": change, "run_id": mruns[cp][0],
                    "revision": mruns[cp][1], "previous_revision": mruns[cp - 1][1],
                    "time": mruns[cp][4]})
        fails = [present.index(r) for r in present if r[0] in failed]
        if fails:
            ax.plot(fails, [0] * len(fails), "x", color="red", markersize=10,
                    label="validation failed", clip_on=False)
        ax.set_xticks(range(len(present)))
        ax.set_xticklabels([r[1][:8] for r in present], rotation=45, ha="right", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(f"time per iteration ({unit})")
        ax.set_xlabel("revision (oldest → newest)")
        ax.set_title(name, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, entry["png"]), dpi=100)
        plt.close(fig)
        entry["runs"] = len(present)
        entry["failed_runs"] = len(fails)
        report.append(entry)
    db.close()
    _write_html(args.out, report, runs)
    with open(os.path.join(args.out, "changepoints.json"), "w", encoding="utf-8") as f:
        json.dump({"schema": "primbench-history/1", "benchmarks": report}, f, indent=2)
    steps = sum(len(e["change_points"]) for e in report)
    print(f"{args.out}: {len(report)} benchmark trend(s) over {len(runs)} run(s), "
          f"{steps} change point(s); open index.html")
    return 0


def _write_html(out: str, report: list, runs: list) -> None:
    e = html.escape
    rows = "".join(
        f"<tr><td><a href='#{e(_slug(r['benchmark']))}'>{e(r['benchmark'])}</a></td>"
        f"<td>{e(c['previous_revision'][:12])} → {e(c['revision'][:12])}</td>"
        f"<td class='{'up' if c['change'] > 0 else 'down'}'>{c['change']:+.1%}</td>"
        f"<td>{e(c['machine'])}</td><td>{e(c['time'])}</td></tr>"
        for r in report for c in r["change_points"])
    table = ("<table><tr><th>benchmark</th><th>between revisions</th><th>change</th>"
             f"<th>machine</th><th>time</th></tr>{rows}</table>") if rows else \
        "<p>No change points.</p>"
    figs = "".join(f"<section id='{e(_slug(r['benchmark']))}'><h3>{e(r['benchmark'])}</h3>"
                   f"<img src='{e(r['png'])}' alt='trend of {e(r['benchmark'])}'></section>"
                   for r in report)
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>primbench history</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:left}} .up{{color:#b00}}
.down{{color:#070}} img{{max-width:100%}}</style></head><body>
<h1>primbench history</h1>
<p>{len(runs)} run(s) from {e(runs[0][4])} to {e(runs[-1][4])}; {len(report)} benchmark(s).
Dashed red lines mark change points (a lasting step of at least the minimum change).</p>
<h2>Change points</h2>{table}<h2>Trends</h2>{figs}
</body></html>
"""
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as f:
        f.write(doc)


# ---------------------------------------------------------------- main

def main(argv) -> int:
    ap = ArgParser(prog="primbench history", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True, parser_class=ArgParser)
    a = sub.add_parser("add", help="store one results file")
    a.add_argument("results", metavar="RESULTS.json")
    a.add_argument("--db", required=True, help="SQLite history file (created if missing)")
    a.add_argument("--branch", help="default: CI variables, else the current git branch")
    a.add_argument("--revision", help="default: context.primbench.git_revision")
    s = sub.add_parser("show", help="draw trends and change points")
    s.add_argument("--db", required=True)
    s.add_argument("--benchmark", action="append", metavar="GLOB",
                   help="benchmark names to draw (repeatable; default all)")
    s.add_argument("--branch", help="only runs of this branch")
    s.add_argument("--machine", help="only runs on this machine (fingerprint prefix)")
    s.add_argument("--min-change", type=float, default=0.05,
                   help="smallest step marked as a change point (default 0.05)")
    s.add_argument("--alpha", type=float, default=0.01,
                   help="significance of a change point's U test (default 0.01)")
    s.add_argument("--min-runs", type=int, default=2,
                   help="runs needed on each side of a change point (default 2)")
    s.add_argument("-o", "--out", required=True, metavar="DIR")
    args = ap.parse_args(argv)
    if args.command == "show" and not args.out:
        ap.error("-o: empty output directory name")
    if args.command == "show":
        if args.min_runs < 1:
            ap.error("--min-runs must be at least 1")
        if not 0 < args.alpha < 1 or not args.min_change >= 0:
            ap.error("--alpha must be in (0, 1) and --min-change non-negative")
    try:
        return add(args) if args.command == "add" else show(args)
    except sqlite3.Error as e:
        raise ResultsError(f"{args.db}: {e}") from None


if __name__ == "__main__":
    cli_main(main)
