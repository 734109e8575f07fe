#!/usr/bin/python3
"""Count the alerts a dashboard would raise between two results, the way github-action-benchmark
compares them (src/write/findAlerts.ts): each current benchmark is matched BY NAME with the
first previous benchmark of that name, ratio = current/previous for smaller-is-better values
(previous/current for bigger-is-better), and an alert is a ratio above the threshold. A name
missing from the previous results raises nothing.

    tests/cli/alerts.py PREVIOUS CURRENT [--format auto|github|bencher|googlecpp]
                        [--threshold 150%] [--threshold 1.1] [--bigger-is-better]
                        [--measure latency] [-v]

Formats:
  github     `primbench export --format github|github-bandwidth` (customSmallerIsBetter /
             customBiggerIsBetter arrays); the direction follows the unit ("GB/s" bigger is
             better, else smaller) unless --bigger-is-better is given.
  bencher    `primbench export --format bencher` (BMF): every (benchmark, measure) compared on
             its value, latency smaller-is-better, algbw and peak-fraction bigger-is-better
             (--measure SLUG, repeatable, keeps those measures only).
  googlecpp  a raw primbench / Google Benchmark JSON as github-action-benchmark's `googlecpp`
             tool reads it: one result per entry (repetitions, aggregates, errors alike) named by
             `name` with value `real_time` — what feeding the file to the tool directly does.
  auto       (default) by content: a JSON array is github, an object with "benchmarks" is
             googlecpp, any other object is bencher.

Prints one line per threshold: `threshold 150%: N alerts of M compared (K new)`; with -v each
alert too. Exit status 0, or 2 on bad input (one line).
"""
from __future__ import annotations

import argparse
import json
import math
import sys

SMALLER, BIGGER = "smaller", "bigger"
BENCHER_BIGGER = {"algbw", "busbw", "peak-fraction", "throughput"}


class Bad(Exception):
    pass


def load(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise Bad(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise Bad(f"{path}: not JSON: {e}") from None


def detect(doc) -> str:
    if isinstance(doc, list):
        return "github"
    if isinstance(doc, dict) and isinstance(doc.get("benchmarks"), list):
        return "googlecpp"
    if isinstance(doc, dict):
        return "bencher"
    raise Bad("cannot tell the format (expected a JSON array or object)")


def series(doc, fmt: str, path: str, bigger: bool, measures=None) -> list:
    """[(key, value, direction)] in file order; keys may repeat (googlecpp)."""
    out, keep = [], set(measures or ())
    try:
        if fmt == "github":
            for b in doc:
                d = BIGGER if bigger or str(b.get("unit", "")).endswith("/s") else SMALLER
                out.append((b["name"], float(b["value"]), d))
        elif fmt == "bencher":
            for name, measures in doc.items():
                for slug, metric in measures.items():
                    if keep and slug not in keep:
                        continue
                    d = BIGGER if bigger or slug in BENCHER_BIGGER else SMALLER
                    out.append((f"{name} [{slug}]", float(metric["value"]), d))
        else:  # googlecpp: every entry, name + real_time (extractGoogleCppResult)
            for b in doc["benchmarks"]:
                out.append((b["name"], float(b.get("real_time", 0) or 0),
                            BIGGER if bigger else SMALLER))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise Bad(f"{path}: not a {fmt} file ({type(e).__name__}: {e})") from None
    return out


def ratio(prev: float, cur: float, direction: str) -> float:
    num, den = (cur, prev) if direction == SMALLER else (prev, cur)
    if den == 0:  # JavaScript division: x/0 = Infinity, 0/0 = NaN (never above a threshold)
        return math.inf if num > 0 else math.nan
    return num / den


def threshold(text: str) -> float:
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a ratio (1.5) or a percentage (150%)")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be positive")
    return v


def find_alerts(prev: list, cur: list, thr: float):
    first = {}
    for key, value, _ in prev:
        first.setdefault(key, value)  # Array.find: the first previous result of that name
    alerts, compared, new = [], 0, 0
    for key, value, d in cur:
        if key not in first:
            new += 1
            continue
        compared += 1
        r = ratio(first[key], value, d)
        if r > thr:
            alerts.append((key, first[key], value, r))
    return alerts, compared, new


def main(argv) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("previous")
    ap.add_argument("current")
    ap.add_argument("--format", choices=("auto", "github", "bencher", "googlecpp"), default="auto")
    ap.add_argument("--threshold", type=threshold, action="append",
                    help="alert ratio, 1.5 or 150%% (repeatable; default 150%% and 110%%)")
    ap.add_argument("--bigger-is-better", action="store_true",
                    help="treat every value as bigger-is-better (customBiggerIsBetter)")
    ap.add_argument("--measure", action="append", metavar="SLUG",
                    help="bencher: compare only this measure (repeatable; default all)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every alert")
    a = ap.parse_args(argv)
    try:
        docs = [load(a.previous), load(a.current)]
        fmts = [a.format if a.format != "auto" else detect(d) for d in docs]
        if fmts[0] != fmts[1]:
            raise Bad(f"previous is {fmts[0]}, current is {fmts[1]}: compare like with like")
        prev, cur = (series(d, fmts[0], p, a.bigger_is_better, a.measure)
                     for d, p in zip(docs, (a.previous, a.current)))
    except Bad as e:
        print(f"alerts: error: {e}", file=sys.stderr)
        return 2
    for thr in a.threshold or [1.5, 1.1]:
        alerts, compared, new = find_alerts(prev, cur, thr)
        print(f"threshold {thr * 100:g}%: {len(alerts)} alerts of {compared} compared "
              f"({new} new) [{fmts[0]}]")
        if a.verbose:
            for key, p, c, r in alerts:
                print(f"  {key}: previous {p:.6g}, current {c:.6g}, {r:.3g}x worse")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
