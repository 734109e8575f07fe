"""ci/power: the gate's power and false alarms estimated from runs of one build, on synthetic runs
whose noise is known."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
POWER = os.path.join(ROOT, "ci", "power")
sys.path.insert(0, HERE)
import synth  # noqa: E402

NAMES = synth.NAMES


def run(*args):
    return subprocess.run([sys.executable, POWER, *map(str, args)], capture_output=True, text=True, timeout=300)


class Power(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def runs(self, n: int, cv: dict, machine: float = 0.0, seed: int = 1, paired=()) -> list:
        """n files of one repetition each: benchmark name -> its time's (log-normal) spread; with
        `machine`, every run on a machine whose speed moves by that much, the benchmark's time
        and its reference's alike; the `paired` benchmarks' repetitions paired with reference
        trials of their own (ref_paired 1), as beyond the last-level cache."""
        rng = random.Random(seed)
        paths = []
        for i in range(n):
            speed = rng.lognormvariate(0.0, machine) if machine else 1.0
            times = {name: [1000.0 * speed * rng.lognormvariate(0.0, s)] for name, s in cv.items()}
            refs = {name: [20.0 / speed] for name in cv}
            paths.append(synth.write(os.path.join(self.dir, f"run{i}.json"), times, refs=refs))
            with open(paths[-1]) as f:
                doc = json.load(f)
            for e in doc["benchmarks"]:
                if e["run_name"].removesuffix("/manual_time") in paired:
                    e["ref_paired"] = 1
            with open(paths[-1], "w") as f:
                json.dump(doc, f)
        return paths

    def figures(self, paths, *extra) -> dict:
        out = os.path.join(self.dir, "power.json")
        proc = run(*paths, "--json", out, *extra)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            return {m["metric"]: m for m in json.load(f)["metrics"]}

    def test_a_steady_benchmark_slowed_is_caught_every_time_and_no_other_is_called_slower(self):
        paths = self.runs(12, {name: 0.01 for name in NAMES})
        f = self.figures(paths, "--runs", 6, "--trials", 30, "--metric", "t_p50")["t_p50"]
        self.assertEqual((f["caught"], f["false_slower"], f["gate_failed"], f["trials"]), (30, 0, 30, 30))
        self.assertEqual(f["others_compared"], 30 * 2)
        self.assertLess(f["run_cv_p90"], 0.03)

    def test_a_noisy_benchmark_is_seldom_caught(self):
        paths = self.runs(12, {name: 0.5 for name in NAMES})
        f = self.figures(paths, "--runs", 6, "--trials", 30, "--metric", "t_p50")["t_p50"]
        self.assertLessEqual(f["caught"], 10)
        self.assertGreater(f["run_cv_median"], 0.2)

    def test_the_slowdown_asked_for_is_what_the_head_gets(self):
        paths = self.runs(12, {name: 0.01 for name in NAMES})
        small = self.figures(paths, "--runs", 6, "--trials", 20, "--metric", "t_p50", "--slowdown", 0.02)["t_p50"]
        self.assertEqual(small["caught"], 0)  # below --min-effect's 5 %: never a regression

    def test_the_reference_ratio_sees_through_a_machine_that_moves(self):
        paths = self.runs(16, {name: 0.005 for name in NAMES}, machine=0.2)
        f = self.figures(paths, "--runs", 8, "--trials", 20, "--metric", "t_p50,ref_ratio")
        self.assertGreater(f["t_p50"]["run_cv_median"], 0.08)
        self.assertLess(f["ref_ratio"]["run_cv_median"], 0.02)
        self.assertEqual(f["ref_ratio"]["caught"], 20)
        self.assertLess(f["t_p50"]["caught"], 20)
        self.assertEqual(f["ref_ratio"]["fallback"], 0)

    def test_auto_takes_the_ratio_of_the_paired_and_t_p50_of_the_rest(self):
        paths = self.runs(16, {name: 0.005 for name in NAMES}, machine=0.2, paired={NAMES[0]})
        f = self.figures(paths, "--runs", 8, "--trials", 20, "--metric", "auto,ref_ratio")
        self.assertEqual((f["auto"]["by_ratio"], f["auto"]["block"], f["auto"]["fallback"]), (1, 0, 0))
        self.assertLess(f["auto"]["run_cv"][NAMES[0]], 0.02)  # the ratio: the machine cancelled
        for name in NAMES[1:]:
            self.assertGreater(f["auto"]["run_cv"][name], 0.08)  # t_p50: the machine's spread
        # ref_ratio alone compares all three by a ratio: the unpaired by the block of trials
        # before each repetition
        self.assertEqual((f["ref_ratio"]["by_ratio"], f["ref_ratio"]["block"]), (3, 2))

    def test_the_same_seed_gives_the_same_figures(self):
        paths = self.runs(10, {name: 0.1 for name in NAMES})
        a = self.figures(paths, "--runs", 5, "--trials", 15, "--seed", 3)
        b = self.figures(paths, "--runs", 5, "--trials", 15, "--seed", 3)
        self.assertEqual(a, b)
        self.assertEqual(set(a), {"t_p50", "real_time", "ref_ratio", "auto"})

    def test_console_names_every_metric(self):
        paths = self.runs(4, {name: 0.01 for name in NAMES})
        proc = run(*paths, "--runs", 2, "--trials", 5)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for m in ("t_p50", "real_time", "ref_ratio", "auto"):
            self.assertRegex(proc.stdout, rf"(?m)^{m} ")

    def bad(self, *args, says: str):
        proc = run(*args)
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        self.assertIn(says, proc.stderr)

    def test_bad_input_is_one_line_and_exit_2(self):
        paths = self.runs(4, {name: 0.01 for name in NAMES})
        self.bad(*paths, "--runs", 3, says="need at least 6")
        self.bad(*paths, "--runs", 2, "--metric", "cpu_time", says="--metric cpu_time")
        self.bad(*paths, "--runs", 2, "--slowdown", -1, says="--slowdown")
        self.bad(*paths, "--runs", 2, "--trials", 0, says="--trials")
        other = synth.write(os.path.join(self.dir, "other.json"), {NAMES[0]: [1000.0]})
        self.bad(*paths, other, "--runs", 2, says="not runs of one suite")
        several = synth.write(os.path.join(self.dir, "several.json"), {n: [1000.0, 1001.0] for n in NAMES})
        self.bad(*paths[:3], several, "--runs", 2, says="repetitions")
        # A benchmark with only aggregate entries in one file (--benchmark_report_aggregates_only)
        with open(paths[3]) as f:
            doc = json.load(f)
        for e in doc["benchmarks"]:
            if e["run_name"].removesuffix("/manual_time") == NAMES[0]:
                e.update(run_type="aggregate", aggregate_name="median", name=e["name"] + "_median")
        aggregates = os.path.join(self.dir, "aggregates.json")
        with open(aggregates, "w") as f:
            json.dump(doc, f)
        for metric in ("t_p50", "auto", "ref_ratio", "real_time"):
            self.bad(*paths[:3], aggregates, "--runs", 2, "--metric", metric, says="no entry of its own")
        failed = synth.write(os.path.join(self.dir, "failed.json"), {n: [1000.0] for n in NAMES[1:]},
                             failed={NAMES[0]: "validation failed"})
        self.bad(*paths, failed, "--runs", 2, says="failed")
        self.bad(*paths[:3], os.path.join(self.dir, "missing.json"), "--runs", 2, says="missing.json")


if __name__ == "__main__":
    unittest.main()
