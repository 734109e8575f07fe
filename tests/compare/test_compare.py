"""Verdict logic, exit codes, outputs and bad input of ci/compare.py, on synthetic results."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
COMPARE = os.path.join(ROOT, "ci", "compare.py")
GBENCH_COMPARE = "/usr/share/benchmark/compare.py"
sys.path.insert(0, HERE)
import ci_tools  # noqa: E402
import synth  # noqa: E402

compare = ci_tools.load("compare.py")

A, B, C = synth.NAMES


def run(*args):
    return subprocess.run([sys.executable, COMPARE, *map(str, args)], capture_output=True,
                          text=True, timeout=120)


class Case(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def pair(self, base: dict, head: dict, base_failed=None, head_failed=None):
        return (synth.write(self.path("base.json"), base, failed=base_failed),
                synth.write(self.path("head.json"), head, failed=head_failed, revision="def5678"))

    def verdicts(self, base_path, head_path, *extra, expect=(0, 1)):
        out = self.path("out.json")
        proc = run(base_path, head_path, "--json", out, "--quiet", *extra)
        self.assertIn(proc.returncode, expect, proc.stderr)
        if proc.returncode == 2:  # cannot decide: the verdicts are written, one line says why
            self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
            self.assertIn("error: cannot decide: ", proc.stderr)
        with open(out) as f:
            rep = json.load(f)
        return proc.returncode, {r["name"]: r for r in rep["benchmarks"]}, rep


class Verdicts(Case):
    def test_identical_distributions_are_same(self):
        base = {n: synth.samples(10 + i, 10, 1000.0 * (i + 1), 0.02) for i, n in enumerate(synth.NAMES)}
        head = {n: synth.samples(20 + i, 10, 1000.0 * (i + 1), 0.02) for i, n in enumerate(synth.NAMES)}
        code, rows, rep = self.verdicts(*self.pair(base, head))
        self.assertEqual(code, 0)
        self.assertEqual({r["verdict"] for r in rows.values()}, {"SAME"})
        self.assertEqual(rep["regressions"], [])

    def test_same_samples_in_two_runs(self):
        # (The same file on both sides is refused: DuplicateInputs.)
        times = {A: synth.samples(1, 10, 500.0, 0.03)}
        code, rows, _ = self.verdicts(*self.pair(times, times))
        self.assertEqual((code, rows[A]["verdict"], rows[A]["change"]), (0, "SAME", 0.0))

    def test_twenty_percent_slowdown_is_a_regression(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02), B: synth.samples(2, 10, 2000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1200.0, 0.02), B: synth.samples(4, 10, 2000.0, 0.02)}
        code, rows, rep = self.verdicts(*self.pair(base, head))
        self.assertEqual(code, 1)
        self.assertEqual(rows[A]["verdict"], "SLOWER")
        self.assertTrue(rows[A]["regression"])
        self.assertAlmostEqual(rows[A]["change"], 0.2, delta=0.04)
        self.assertLessEqual(rows[A]["p_adjusted"], 0.01)
        self.assertEqual(rows[B]["verdict"], "SAME")
        self.assertEqual(rep["regressions"], [A])
        self.assertEqual(rep["result"], "fail")

    def test_twenty_percent_speedup_is_faster_and_passes(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02)}
        head = {A: synth.samples(3, 10, 800.0, 0.02)}
        code, rows, _ = self.verdicts(*self.pair(base, head))
        self.assertEqual((code, rows[A]["verdict"]), (0, "FASTER"))
        self.assertFalse(rows[A]["regression"])

    def test_slowdown_below_min_effect_is_same(self):
        # 2% slower, clearly significant, but under the 5% minimum effect
        base = {A: [1000.0 + i for i in range(12)]}
        head = {A: [1020.0 + i for i in range(12)]}
        code, rows, _ = self.verdicts(*self.pair(base, head))
        self.assertEqual((code, rows[A]["verdict"]), (0, "SAME"))
        self.assertTrue(rows[A]["significant"])
        # ...and a regression once the bar is lowered to 1%
        code, rows, _ = self.verdicts(self.path("base.json"), self.path("head.json"),
                                      "--min-effect", "0.01")
        self.assertEqual((code, rows[A]["verdict"]), (1, "SLOWER"))

    def test_high_spread_is_noisy(self):
        base = {A: synth.samples(5, 10, 1000.0, 0.5)}
        head = {A: synth.samples(6, 10, 1000.0, 0.5)}
        code, rows, rep = self.verdicts(*self.pair(base, head))
        self.assertEqual((code, rows[A]["verdict"]), (0, "NOISY"))
        self.assertIn("robust cv", rows[A]["reason"])
        self.assertIn(A, rep["recheck"])

    def test_large_change_that_is_not_significant_is_noisy_not_same(self):
        # +12% on 10 v 10 with cv 2% is significant alone, not after Holm over 40 benchmarks...
        base = {A: synth.samples(1, 10, 1000.0, 0.3)}
        head = {A: synth.samples(2, 10, 1120.0, 0.3)}
        code, rows, rep = self.verdicts(*self.pair(base, head))
        self.assertEqual((code, rows[A]["verdict"]), (0, "NOISY"))
        self.assertIn("not significant", rows[A]["reason"])
        self.assertIn(A, rep["recheck"])
        # ...and spread within max-cv does not make a 12% change SAME either
        code, rows, _ = self.verdicts(*self.pair(base, head), "--max-cv", "1")
        self.assertEqual(rows[A]["verdict"], "NOISY")

    def test_one_stray_repetition_is_not_spread(self):
        times = synth.samples(7, 10, 1000.0, 0.01)
        times[3] *= 3  # a single hiccup must not make the benchmark NOISY
        code, rows, _ = self.verdicts(*self.pair({A: times}, {A: synth.samples(8, 10, 1000.0, 0.01)}))
        self.assertEqual((code, rows[A]["verdict"]), (0, "SAME"))

    def test_too_few_samples_is_undecidable_and_not_a_pass(self):
        """3 v 3 repetitions can never reach p <= 0.01: a +100% (or +900%) change is not a pass
        (exit 2, cannot decide), nor NOISY, which never fails."""
        base = {A: synth.samples(1, 3, 1000.0, 0.01)}
        for factor in (2.0, 10.0):
            head = {A: synth.samples(2, 3, 1000.0 * factor, 0.01)}
            code, rows, rep = self.verdicts(*self.pair(base, head), expect=(2,))
            self.assertEqual((code, rows[A]["verdict"]), (2, "UNDECIDABLE"))
            self.assertIn("too few samples (3 base, 3 head)", rows[A]["reason"])
            self.assertEqual((rep["result"], rep["exit_status"], rep["undecided"]), ("undecided", 2, [A]))
            self.assertIn(A, rep["recheck"])
        proc = run(*self.pair(base, head), "--quiet")
        self.assertIn("cannot decide: 1 benchmark(s) have too few samples", proc.stderr)
        self.assertIn("give more runs/repetitions", proc.stderr)
        # Five repetitions a side, +900%, one benchmark among two: still undecidable (5 v 5
        # reaches p 0.0079 at best, the first Holm step needs 0.005)
        base = {A: synth.samples(1, 5, 1000.0, 0.01), B: synth.samples(3, 5, 1000.0, 0.01)}
        head = {A: synth.samples(2, 5, 10000.0, 0.01), B: synth.samples(4, 5, 1000.0, 0.01)}
        code, rows, rep = self.verdicts(*self.pair(base, head), expect=(2,))
        self.assertEqual(rep["undecided"], [A])
        # Undecidable but no change seen: a pass, the row still says why it was not tested
        head = {A: synth.samples(2, 3, 1000.0, 0.01)}
        code, rows, rep = self.verdicts(*self.pair({A: base[A][:3]}, head))
        self.assertEqual((code, rows[A]["verdict"], rep["result"]), (0, "UNDECIDABLE", "pass"))
        self.assertIn("within 5%", rows[A]["reason"])
        # A real regression beside an undecidable benchmark: exit 1, the regression decides
        base = {A: synth.samples(1, 3, 1000.0, 0.01)}
        head = {A: synth.samples(2, 3, 3000.0, 0.01)}
        b, h = self.pair(base, head, head_failed={B: "wrong result"})
        code, rows, rep = self.verdicts(b, h)
        self.assertEqual((code, rows[A]["verdict"], rows[B]["verdict"]), (1, "UNDECIDABLE", "FAILED"))

    def test_missing_entries_are_new_and_gone_and_gone_fails_unless_allowed(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02), B: synth.samples(2, 10, 1000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1000.0, 0.02), C: synth.samples(4, 10, 1000.0, 0.02)}
        code, rows, rep = self.verdicts(*self.pair(base, head))
        self.assertEqual(code, 1)  # a head missing a benchmark of the base is not complete
        self.assertEqual(rep["gone"], [B])
        self.assertEqual((rows[B]["verdict"], rows[C]["verdict"]), ("GONE", "NEW"))
        self.assertEqual(rep["settings"]["compared"], 1)
        code, rows, rep = self.verdicts(*self.pair(base, head), "--allow-gone")
        self.assertEqual(code, 0)

    def test_any_primitive_is_compared(self):
        """Issue 15: the primitives are the data's (allreduce, broadcast, and a made-up one)."""
        names = ["allreduce/thread.flat/f32/sum/ranks:4/count:4096/root:0",
                 "broadcast/thread.flat/f32/ranks:4/count:4096/root:1",
                 "alltoall_v2/mine.x/f32/ranks:2/count:16/root:0"]
        base = {n: synth.samples(30 + i, 10, 1000.0, 0.02) for i, n in enumerate(names)}
        head = {n: synth.samples(40 + i, 10, 1000.0 * (1.2 if i == 2 else 1.0), 0.02)
                for i, n in enumerate(names)}
        code, rows, rep = self.verdicts(*self.pair(base, head))
        self.assertEqual(code, 1)
        self.assertEqual({n: rows[n]["verdict"] for n in names},
                         dict(zip(names, ("SAME", "SAME", "SLOWER"))))
        self.assertEqual(rep["regressions"], [names[2]])

    def test_validation_failure_in_head_is_failed_and_exit_1(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02), B: synth.samples(2, 10, 1000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1000.0, 0.02)}
        msg = "gather thread.flat P=2 n=1024 f32 root=0: rank 1 element 5 expected 7 got 0 (3 wrong)"
        code, rows, rep = self.verdicts(*self.pair(base, head, head_failed={B: msg}))
        self.assertEqual(code, 1)
        self.assertEqual(rows[B]["verdict"], "FAILED")
        self.assertTrue(rows[B]["new_failure"])
        self.assertIn("rank 1 element 5", rows[B]["reason"])
        self.assertEqual(rep["new_failures"], [B])

    def test_validation_not_passed_is_a_failure_without_error_occurred(self):
        """validation failed or error fails the benchmark even where the entry has times and no
        error_occurred: FAILED in head (exit 1), a base failure where only base says so."""
        base = {n: synth.samples(1 + i, 10, 1000.0, 0.02) for i, n in enumerate(synth.NAMES)}
        head = {n: synth.samples(5 + i, 10, 1000.0, 0.02) for i, n in enumerate(synth.NAMES)}
        for what in ("failed", "error"):
            with self.subTest(validation=what):
                b, h = self.pair(base, head)
                for path, name in ((h, B), (b, C)):
                    with open(path) as f:
                        doc = json.load(f)
                    for e in doc["benchmarks"]:
                        e["validation"] = what if e["run_name"] == name + "/manual_time" else "passed"
                    with open(path, "w") as f:
                        json.dump(doc, f)
                code, rows, rep = self.verdicts(b, h)
                self.assertEqual(code, 1)
                self.assertEqual(rows[B]["verdict"], "FAILED")
                self.assertTrue(rows[B]["new_failure"])
                self.assertEqual(rows[B]["reason"], f"validation {what}")
                self.assertEqual(rows[B]["head"]["n"], 0)   # its times are no samples
                self.assertIsNone(rows[B]["change"])
                self.assertEqual(rep["new_failures"], [B])
                self.assertEqual(rows[C]["verdict"], "NEW")   # failed in base, passes in head
                self.assertEqual(rows[C]["base"]["n"], 0)
                self.assertEqual(rows[A]["verdict"], "SAME")

    def test_failure_already_in_base_is_reported_but_not_new(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1000.0, 0.02)}
        code, rows, _ = self.verdicts(*self.pair(base, head, base_failed={B: "broken"},
                                                 head_failed={B: "broken"}))
        self.assertEqual((code, rows[B]["verdict"], rows[B]["new_failure"]), (0, "FAILED", False))

    def test_fixed_in_head_is_new(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1000.0, 0.02), B: synth.samples(4, 10, 1000.0, 0.02)}
        code, rows, _ = self.verdicts(*self.pair(base, head, base_failed={B: "broken"}))
        self.assertEqual((code, rows[B]["verdict"]), (0, "NEW"))

    def test_multiple_comparison_correction_matters(self):
        # raw p = 0.0015 and +5.3%: a regression alone, not once nine more benchmarks share alpha
        base_t = [1000.0 + 10 * i for i in range(10)]
        head_t = [t + 55 for t in base_t]
        code, rows, _ = self.verdicts(*self.pair({A: base_t}, {A: head_t}))
        self.assertEqual((code, rows[A]["verdict"]), (1, "SLOWER"))
        self.assertAlmostEqual(rows[A]["p"], 0.0015, delta=0.0002)

        others = {f"reduce/seq.ref/i32/sum/ranks:1/count:{i}/root:0": list(base_t) for i in range(9)}
        code, rows, rep = self.verdicts(*self.pair({A: base_t, **others}, {A: head_t, **others}))
        self.assertEqual(rep["settings"]["compared"], 10)
        # +5.3% that is no longer significant: NOISY (cannot say), not SAME
        self.assertEqual((code, rows[A]["verdict"]), (0, "NOISY"))
        self.assertAlmostEqual(rows[A]["p_adjusted"], 10 * rows[A]["p"])
        self.assertIn(A, rep["recheck"])  # above min effect, so more samples could flip it

    def test_sample_size_needed_depends_on_benchmarks_compared(self):
        # 5 v 5 reaches p = 0.0079 at best: enough for one benchmark at alpha 0.01, not for two
        base = {A: [1000.0 + i for i in range(5)], B: [1000.0 + i for i in range(5)]}
        head = {A: [1500.0 + i for i in range(5)], B: [1500.0 + i for i in range(5)]}
        _, rows, _ = self.verdicts(*self.pair({A: base[A]}, {A: head[A]}))
        self.assertEqual(rows[A]["verdict"], "SLOWER")
        _, rows, _ = self.verdicts(*self.pair(base, head), expect=(2,))
        self.assertEqual((rows[A]["verdict"], rows[B]["verdict"]), ("UNDECIDABLE", "UNDECIDABLE"))

    def test_extra_files_concatenate_samples(self):
        b1 = synth.write(self.path("b1.json"), {A: synth.samples(1, 4, 1000.0, 0.02)})
        b2 = synth.write(self.path("b2.json"), {A: synth.samples(2, 6, 1000.0, 0.02)})
        h1 = synth.write(self.path("h1.json"), {A: synth.samples(3, 4, 1200.0, 0.02)})
        h2 = synth.write(self.path("h2.json"), {A: synth.samples(4, 6, 1200.0, 0.02)})
        code, rows, _ = self.verdicts(b1, h1, expect=(2,))
        self.assertEqual(rows[A]["verdict"], "UNDECIDABLE")  # 4 v 4 cannot reach p <= 0.01
        # 10 v 10 repetitions, but 2 v 2 runs: the run-level test cannot decide
        code, rows, rep = self.verdicts(f"{b1},{b2}", f"{h1},{h2}", expect=(2,))
        self.assertEqual((rows[A]["base"]["n"], rows[A]["head"]["n"]), (10, 10))
        self.assertEqual((rows[A]["base"]["runs"], rows[A]["head"]["runs"]), (2, 2))
        self.assertEqual(rep["base"]["files"], [b1, b2])
        self.assertTrue(rows[A]["significant"])  # the pooled test: +20% on 10 v 10
        code, rows, _ = self.verdicts(b1, h1, "--base-extra", b2, "--head-extra", h2, expect=(2,))
        self.assertEqual((rows[A]["head"]["n"], rows[A]["head"]["runs"]), (10, 2))

    def test_several_runs_a_side_need_run_level_significance(self):
        # Two runs a side: however clear the pooled test, 2 v 2 runs cannot show the change is
        # not one busy run, so the verdict waits for more runs (and is listed for re-measuring).
        runs = lambda seed, k, med: [synth.write(self.path(f"r{seed}-{i}.json"),
                                                 {A: synth.samples(seed + i, 5, med, 0.01)})
                                     for i in range(k)]
        base2, head2 = runs(100, 2, 1000.0), runs(200, 2, 1250.0)
        code, rows, rep = self.verdicts(",".join(base2), ",".join(head2), expect=(2,))
        self.assertEqual((code, rows[A]["verdict"]), (2, "UNDECIDABLE"))
        self.assertIn("too few runs (2 base, 2 head) for the run-level U test", rows[A]["reason"])
        self.assertEqual(rep["recheck"], [A])
        # Eight runs a side, every one shifted: a regression on both tests.
        base8, head8 = runs(300, 8, 1000.0), runs(400, 8, 1250.0)
        code, rows, rep = self.verdicts(",".join(base8), ",".join(head8))
        self.assertEqual((code, rows[A]["verdict"]), (1, "SLOWER"))
        self.assertLessEqual(rows[A]["p_runs_adjusted"], 0.01)
        self.assertEqual(rep["recheck"], [])
        # Eight a side where the whole "change" is four busy head runs: the pooled U test over
        # 40 v 40 repetitions calls it significant; the runs say it is not.
        busy = runs(500, 4, 1000.0) + runs(600, 4, 2000.0)
        code, rows, _ = self.verdicts(",".join(base8), ",".join(busy))
        self.assertTrue(rows[A]["significant"])
        self.assertEqual((code, rows[A]["verdict"]), (0, "NOISY"))
        self.assertIn("not significant between runs", rows[A]["reason"])

    def test_t_p50_metric(self):
        base, head = self.pair({A: synth.samples(1, 10, 1000.0, 0.01)},
                               {A: synth.samples(2, 10, 1000.0, 0.01)})
        code, rows, rep = self.verdicts(base, head, "--metric", "t_p50")
        self.assertEqual(rep["settings"]["metric"], "t_p50")
        self.assertEqual(rows[A]["verdict"], "SAME")
        self.assertAlmostEqual(rows[A]["base"]["median_s"],
                               sorted(synth.samples(1, 10, 1000.0, 0.01))[4:6][0] * 1e-9, delta=2e-8)


class ReferenceRatio(Case):
    """--metric ref_ratio: each repetition's time over its reference's for the same traffic."""

    @staticmethod
    def refs(seed: int, n: int, gbps: float) -> list:
        return synth.samples(seed, n, gbps, 0.01)

    def pair_with_refs(self, base, head, base_refs, head_refs):
        return (synth.write(self.path("base.json"), base, refs=base_refs),
                synth.write(self.path("head.json"), head, refs=head_refs, revision="def5678"))

    def test_a_machine_slower_alike_is_same_but_slower_by_real_time(self):
        # The head's repetitions took 20% longer, and so did its reference: the machine, not the code.
        times = {A: synth.samples(1, 10, 1000.0, 0.01), B: synth.samples(2, 10, 1000.0, 0.01)}
        base_refs = {A: self.refs(3, 10, 10.0), B: self.refs(4, 10, 10.0)}
        head = {A: [t * 1.2 for t in times[A]], B: times[B]}
        head_refs = {A: [r / 1.2 for r in base_refs[A]], B: base_refs[B]}
        files = self.pair_with_refs(times, head, base_refs, head_refs)
        code, rows, rep = self.verdicts(*files, "--metric", "ref_ratio")
        self.assertEqual((code, rows[A]["verdict"], rows[A]["metric"]), (0, "SAME", "ref_ratio"))
        self.assertAlmostEqual(rows[A]["change"], 0.0, places=9)
        self.assertEqual(rep["fallback"], [])
        # the ratio is ref_GBps / membw = real_time over the reference's time for the bytes
        # (gather, 2 ranks x 1024 f32: 8192 bytes; GB/s x ns = bytes), median_s stays the time
        ratios = [r * t / 8192 for r, t in zip(base_refs[A], times[A])]
        self.assertAlmostEqual(rows[A]["base"]["median_ref_ratio"], statistics.median(ratios))
        self.assertAlmostEqual(rows[A]["base"]["median_s"], statistics.median(times[A]) * 1e-9)
        code, rows, _ = self.verdicts(*files, "--metric", "real_time")
        self.assertEqual((code, rows[A]["verdict"], rows[A]["metric"]), (1, "SLOWER", "real_time"))

    def test_slower_at_an_unchanged_reference_is_slower_by_both(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.01)}
        head = {A: synth.samples(2, 10, 1200.0, 0.01)}
        refs = {A: self.refs(3, 10, 10.0)}
        files = self.pair_with_refs(base, head, refs, {A: self.refs(4, 10, 10.0)})
        for metric in ("ref_ratio", "real_time"):
            code, rows, _ = self.verdicts(*files, "--metric", metric)
            self.assertEqual((code, rows[A]["verdict"]), (1, "SLOWER"), metric)
            self.assertAlmostEqual(rows[A]["change"], 0.2, delta=0.03)

    def test_without_a_reference_both_sides_fall_back_to_real_time(self):
        # A: device memory, whose ref_GBps is the start-of-run ceiling; B: a base without
        # reference counters (written before them); C: one head repetition with ref_GBps 0 (not
        # measured). All three are compared by real_time on both sides: a ratio against a time
        # would read as -100% or +1e9 %.
        base = {n: synth.samples(1 + i, 10, 1000.0, 0.01) for i, n in enumerate(synth.NAMES)}
        head = {n: synth.samples(5 + i, 10, 1200.0, 0.01) for i, n in enumerate(synth.NAMES)}
        refs = {n: self.refs(9 + i, 10, 10.0) for i, n in enumerate(synth.NAMES)}
        base_refs = {A: refs[A], C: refs[C]}
        head_refs = {A: refs[A], B: refs[B], C: refs[C][:9] + [0.0]}
        base_path, head_path = self.pair_with_refs(base, head, base_refs, head_refs)
        for path in (base_path, head_path):
            with open(path) as f:
                doc = json.load(f)
            for e in doc["benchmarks"]:
                if e["run_name"] == A + "/manual_time" and e["run_type"] == "iteration":
                    e["ceiling"] = "device_copy"
            with open(path, "w") as f:
                json.dump(doc, f)
        md = self.path("summary.md")
        code, rows, rep = self.verdicts(base_path, head_path, "--metric", "ref_ratio", "--md", md)
        self.assertEqual(code, 1)
        self.assertEqual(rep["fallback"], sorted(synth.NAMES))
        for name, where in ((A, "base and head"), (B, "base"), (C, "head")):
            row = rows[name]
            self.assertEqual((row["verdict"], row["metric"]), ("SLOWER", "real_time"), name)
            self.assertAlmostEqual(row["change"], 0.2, delta=0.03)
            self.assertNotIn("median_ref_ratio", row["base"])
            self.assertTrue(row["reason"].endswith(f"; by real_time: no reference beside it in {where}"),
                            row["reason"])
        with open(md, encoding="utf-8") as f:
            self.assertIn("by ref_ratio; 3 by real_time, no reference beside them", f.read())

    def test_device_memory_with_a_reference_beside_it_is_compared_by_the_ratio(self):
        # Entries say whether their ref_GBps was measured beside them (2026-12-05): device memory
        # with "beside" (A) is compared by the ratio as host memory is (C); with "ceiling" (B: a
        # problem across several GPUs, ref_GBps the start-of-run ceiling) by real_time.
        base = {n: synth.samples(1 + i, 10, 1000.0, 0.01) for i, n in enumerate(synth.NAMES)}
        head = {n: synth.samples(5 + i, 10, 1200.0, 0.01) for i, n in enumerate(synth.NAMES)}
        refs = {n: self.refs(9 + i, 10, 10.0) for i, n in enumerate(synth.NAMES)}
        paths = self.pair_with_refs(base, head, refs, refs)
        for path in paths:
            with open(path) as f:
                doc = json.load(f)
            for e in doc["benchmarks"]:
                for name, reference in ((A, "beside"), (B, "ceiling")):
                    if e["run_name"] == name + "/manual_time" and e["run_type"] == "iteration":
                        e["ceiling"], e["reference"] = "device_copy", reference
            with open(path, "w") as f:
                json.dump(doc, f)
        code, rows, rep = self.verdicts(*paths, "--metric", "ref_ratio")
        self.assertEqual(code, 1)
        self.assertEqual(rep["fallback"], [B])
        for name, metric in ((A, "ref_ratio"), (B, "real_time"), (C, "ref_ratio")):
            self.assertEqual((rows[name]["verdict"], rows[name]["metric"]), ("SLOWER", metric), name)
            self.assertAlmostEqual(rows[name]["change"], 0.2, delta=0.03)

    @staticmethod
    def set_pairs(path, name, fractions, paired=1):
        """Mark name's repetitions in path paired (`ref_paired` 1: on the reference's buffers; 2: in
        place, on the benchmark's), with these peak fractions, or (None) not paired."""
        with open(path) as f:
            doc = json.load(f)
        reps = [e for e in doc["benchmarks"] if e["run_name"] == name + "/manual_time" and e["run_type"] == "iteration"]
        for i, e in enumerate(reps):
            e["ref_paired"] = 0 if fractions is None else paired
            if fractions is not None:
                e["peak_fraction"] = fractions[i]
        with open(path, "w") as f:
            json.dump(doc, f)

    def test_paired_repetitions_are_compared_by_their_pairs_and_by_the_block_unless_both_sides_have_them(self):
        # Beyond the cache each iteration is paired with a reference trial of its own (ref_paired 1)
        # and ref_ratio is 1 / peak_fraction, the median of those pairs. Here the head's iterations
        # took 20 % longer and so did each one's own trial (the machine slowed after the block of
        # trials before the repetition): by the pairs SAME, by real_time SLOWER. Where one side was
        # not paired (an older build), both are compared by real_time: a paired entry's ref_GBps is
        # its paired trials' median, so the block's ratio there is not the older side's either.
        base = {A: synth.samples(1, 10, 1000.0, 0.01)}
        head = {A: [t * 1.2 for t in base[A]]}
        refs = {A: self.refs(3, 10, 10.0)}
        fractions = {"base": synth.samples(4, 10, 0.9, 0.01), "head": synth.samples(5, 10, 0.9, 0.01)}
        paths = dict(zip(("base", "head"), self.pair_with_refs(base, head, refs, refs)))

        def pair(side, on, paired=1):
            self.set_pairs(paths[side], A, fractions[side] if on else None, paired)

        # Pairs on the reference's buffers (1) or in place (2), alike on both sides: the pairs.
        for paired, kind in ((1, "pairs"), (2, "pairs in place")):
            pair("base", True, paired)
            pair("head", True, paired)
            code, rows, rep = self.verdicts(paths["base"], paths["head"], "--metric", "ref_ratio")
            row = rows[A]
            self.assertEqual((code, row["verdict"], row["metric"], row["ref_ratio_of"]), (0, "SAME", "ref_ratio", kind))
            self.assertAlmostEqual(row["base"]["median_ref_ratio"], statistics.median(1 / f for f in fractions["base"]))
            self.assertEqual(rep["fallback"], [])
        # Timed under different trials on the two sides: paired on one only (a build from before
        # the pairs), or on the reference's buffers against in place (a build from before those).
        # The trials inside the loop change the iterations' own times, so by no metric: NOISY,
        # never a failure, with the reason.
        for base_paired, head_on in ((1, False), (1, True), (2, False)):
            pair("base", True, base_paired)
            pair("head", head_on, 2)
            for metric in ("ref_ratio", "auto", "t_p50", "real_time"):
                code, rows, rep = self.verdicts(paths["base"], paths["head"], "--metric", metric)
                row = rows[A]
                self.assertEqual((code, row["verdict"]), (0, "NOISY"), (base_paired, head_on, metric))
                self.assertIn("timed under different reference trials", row["reason"])
                self.assertEqual((rep["fallback"], rep["settings"]["compared"]), ([], 0))
        pair("head", False)
        # Unpaired on both sides: the block's ratio, ref_GBps / membw, on both
        pair("base", False)
        code, rows, rep = self.verdicts(paths["base"], paths["head"], "--metric", "ref_ratio")
        self.assertEqual((rows[A]["metric"], rows[A]["ref_ratio_of"]), ("ref_ratio", "block"))
        self.assertEqual(rep["fallback"], [])

    def test_a_ratio_that_is_not_a_finite_positive_number_is_no_reference(self):
        # peak_fraction 1e-320 (finite, positive) makes 1 / peak_fraction infinite: compared by
        # real_time instead, and the JSON stays JSON (no Infinity, no NaN).
        base = {A: synth.samples(1, 10, 1000.0, 0.01)}
        head = {A: synth.samples(2, 10, 1000.0, 0.01)}
        refs = {A: self.refs(3, 10, 10.0)}
        paths = self.pair_with_refs(base, head, refs, refs)
        self.set_pairs(paths[0], A, synth.samples(4, 10, 0.9, 0.01))
        self.set_pairs(paths[1], A, [1e-320] * 10)
        out = self.path("v.json")
        proc = subprocess.run([sys.executable, COMPARE, *paths, "--metric", "auto", "--json", out],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            doc = json.load(f, parse_constant=lambda c: self.fail(f"{c} in the JSON"))
        row = doc["benchmarks"][0]
        self.assertEqual((row["verdict"], row["metric"]), ("SAME", "t_p50"))

    def test_auto_compares_the_paired_by_the_ratio_and_the_rest_by_t_p50(self):
        # Every benchmark's head 20 % slower. A: paired on both sides, and each iteration's own
        # trial 20 % slower too (the machine): SAME by its ratio. B: a reference beside it but no
        # pairs (in the cache), C: no reference: both by t_p50, SLOWER.
        base = {n: synth.samples(1 + i, 10, 1000.0, 0.01) for i, n in enumerate(synth.NAMES)}
        head = {n: [t * 1.2 for t in base[n]] for n in synth.NAMES}
        refs = {A: self.refs(9, 10, 10.0), B: self.refs(10, 10, 10.0)}
        paths = self.pair_with_refs(base, head, refs, refs)
        for paired, kind in ((2, "pairs in place"), (1, "pairs")):
            for path, seed in zip(paths, (4, 5)):
                self.set_pairs(path, A, synth.samples(seed, 10, 0.9, 0.01), paired)
            md = self.path("summary.md")
            code, rows, rep = self.verdicts(*paths, "--metric", "auto", "--md", md)
            self.assertEqual(code, 1)
            self.assertEqual((rows[A]["verdict"], rows[A]["metric"], rows[A]["ref_ratio_of"]), ("SAME", "ref_ratio", kind))
        for name in (B, C):
            self.assertEqual((rows[name]["verdict"], rows[name]["metric"]), ("SLOWER", "t_p50"), name)
        self.assertEqual((rep["settings"]["metric"], rep["fallback"]), ("auto", []))
        with open(md, encoding="utf-8") as f:
            self.assertIn("by auto: 1 by ref_ratio (paired), the rest by t_p50", f.read())

    def test_files_without_references_compare_by_real_time(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.01)}
        head = {A: synth.samples(2, 10, 1000.0, 0.01)}
        code, rows, rep = self.verdicts(*self.pair(base, head), "--metric", "ref_ratio")
        self.assertEqual((code, rows[A]["verdict"], rows[A]["metric"]), (0, "SAME", "real_time"))
        self.assertEqual(rep["fallback"], [A])


class Units(unittest.TestCase):
    def test_run_level_check(self):
        def row(verdict):
            return {"verdict": verdict, "regression": verdict == "SLOWER", "change": 0.3,
                    "reason": "", "base": {}, "head": {}, "metric": "real_time"}
        r = row("SLOWER")  # significant between runs: stands
        compare._check_runs(r, [1.0] * 8, [1.3] * 8, 1e-4, 1e-3, 0.01)
        self.assertEqual((r["verdict"], r["p_runs_adjusted"], r["base"]["runs"]), ("SLOWER", 1e-4, 8))
        r = row("SLOWER")  # not significant between runs: cannot say
        compare._check_runs(r, [1.0] * 8, [1.3] * 8, 0.2, 1e-3, 0.01)
        self.assertEqual((r["verdict"], r["regression"]), ("NOISY", False))
        r = row("FASTER")  # 3 v 3 runs can never reach p <= 1e-3: not noise, too few runs
        compare._check_runs(r, [1.0] * 3, [0.7] * 3, 0.1, 1e-3, 0.01)
        self.assertEqual(r["verdict"], "UNDECIDABLE")
        self.assertIn("too few runs (3 base, 3 head)", r["reason"])
        r = row("SLOWER")  # one file a side: no run-level test
        compare._check_runs(r, [1.0], [1.3], None, 1e-3, 0.01)
        self.assertEqual(r["verdict"], "SLOWER")

    def test_holm_adjustment(self):
        adj = compare.holm({"a": 0.01, "b": 0.04, "c": 0.03})
        self.assertAlmostEqual(adj["a"], 0.03)
        self.assertAlmostEqual(adj["c"], 0.06)
        self.assertAlmostEqual(adj["b"], 0.06)  # monotone: never below an earlier step

    def test_min_p_value(self):
        self.assertAlmostEqual(compare.min_p_value(5, 5), 2 / 252)
        self.assertAlmostEqual(compare.min_p_value(10, 10), 2 / 184756)
        self.assertEqual(compare.min_p_value(0, 10), 1.0)

    def test_u_test_exact_and_ties(self):
        self.assertAlmostEqual(compare.u_test([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]), 2 / 252)
        self.assertEqual(compare.u_test([1.0] * 5, [1.0] * 5), 1.0)
        self.assertLess(compare.u_test([1, 1, 2, 2, 3] * 2, [5, 5, 6, 6, 7] * 2), 0.01)


class Outputs(Case):
    def setUp(self):
        super().setUp()
        base = {A: synth.samples(1, 10, 1000.0, 0.02), B: synth.samples(2, 10, 1000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1300.0, 0.02), B: synth.samples(4, 10, 1000.0, 0.02),
                C: synth.samples(5, 10, 1000.0, 0.02)}
        self.base, self.head = self.pair(base, head)

    def test_json_schema(self):
        code, rows, rep = self.verdicts(self.base, self.head)
        self.assertEqual(code, 1)
        self.assertEqual(rep["schema"], "primbench-compare/1")
        for key in ("base", "head", "settings", "result", "exit_status", "counts", "regressions",
                    "new_failures", "recheck", "benchmarks"):
            self.assertIn(key, rep)
        self.assertEqual(rep["head"]["revisions"], ["def5678"])
        self.assertEqual(rep["counts"]["SLOWER"], 1)
        self.assertEqual(rep["counts"]["NEW"], 1)
        self.assertEqual(sum(rep["counts"].values()), 3)
        row = rows[A]
        for key in ("name", "verdict", "reason", "change", "p", "p_adjusted", "significant",
                    "regression", "new_failure", "recheck"):
            self.assertIn(key, row)
        self.assertEqual(row["base"]["n"], 10)
        self.assertAlmostEqual(row["base"]["median_s"], 1e-6, delta=5e-8)
        self.assertEqual(rep["benchmarks"][0]["verdict"], "SLOWER")  # worst first

    def test_markdown(self):
        md = self.path("summary.md")
        proc = run(self.base, self.head, "--md", md)
        self.assertEqual(proc.returncode, 1)
        with open(md, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("FAIL: 1 regression(s)", text)
        self.assertIn("| verdict | benchmark |", text)
        self.assertRegex(text, r"\| SLOWER \| gather/thread\.flat/f32/ranks:2/count:1024/root:0 \|"
                               r" \d+(\.\d+)? [nµ]s \| 1\.3\d? µs \| \+3\d\.\d% \|")
        self.assertIn("<details><summary>1 unchanged</summary>", text)
        self.assertIn("def5678", text)
        # NOISY rows are folded too, after the table a reviewer must read
        noisy = {A: synth.samples(6, 10, 1000.0, 0.5)}
        proc = run(*self.pair(noisy, {A: synth.samples(7, 10, 1000.0, 0.5)}), "--md", md)
        with open(md) as f:
            text = f.read()
        self.assertIn("<details><summary>1 undecided (NOISY", text)
        self.assertNotIn("| verdict | benchmark |", text.split("<details>")[0])

    def test_times_read_as_the_report_writes_them(self):
        # compare's cells and history's axis use reports/report_model.py's one time formatter
        for s, text in ((None, "-"), (2.0, "2 s"), (0.5, "500 ms"), (1.3e-6, "1.3 µs"),
                        (0.99995e-6, "1 µs"), (999e-9, "999 ns"), (5e-9, "5 ns"), (0.0, "0")):
            self.assertEqual(compare.fmt_time(s), text, s)
        history = ci_tools.load("history.py")
        for s, unit in ((2.0, ("s", 1.0)), (5e-4, ("µs", 1e-6)), (0.99995e-3, ("ms", 1e-3)),
                        (7e-9, ("ns", 1e-9)), (0.0, ("ns", 1e-9))):
            self.assertEqual(history.time_unit(s), unit, s)

    def test_console_table(self):
        proc = run(self.base, self.head)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("SLOWER", proc.stdout)
        self.assertIn(C, proc.stdout)
        self.assertIn("FAIL: 1 regression(s)", proc.stdout.splitlines()[-1])
        self.assertEqual(proc.stderr, "")


class BadInput(Case):
    def assertBad(self, proc, *fragments):
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        for frag in fragments:
            self.assertIn(frag, lines[0])

    def good(self):
        return synth.write(self.path("good.json"), {A: synth.samples(1, 10, 1000.0, 0.02)})

    def test_missing_file(self):
        self.assertBad(run(self.good(), self.path("nope.json")), "nope.json", "cannot read")

    def test_empty_file(self):
        open(self.path("empty.json"), "w").close()
        self.assertBad(run(self.path("empty.json"), self.good()), "empty")

    def test_truncated_file(self):
        with open(self.good()) as f:
            text = f.read()
        with open(self.path("cut.json"), "w") as f:
            f.write(text[: len(text) // 2])
        self.assertBad(run(self.good(), self.path("cut.json")), "cut.json", "not valid JSON")

    def test_foreign_json(self):
        with open(self.path("foreign.json"), "w") as f:
            json.dump({"name": "package.json", "version": "1.0"}, f)
        self.assertBad(run(self.good(), self.path("foreign.json")), "not Google Benchmark JSON")

    def test_foreign_benchmark_names(self):
        doc = synth.document({A: [1.0, 2.0]})
        for b in doc["benchmarks"]:
            b["name"] = b["run_name"] = "BM_Foo/8"
        with open(self.path("gb.json"), "w") as f:
            json.dump(doc, f)
        self.assertBad(run(self.good(), self.path("gb.json")), "not a primbench name")

    def test_names_with_trailing_parts_unknown_run_types_and_repeated_repetitions(self):
        cases = {
            "trailing.json": (lambda b: b.update(name=b["name"].replace("/manual_time", "/extra/manual_time"),
                                                 run_name=b["run_name"] + "/extra"), "not a primbench name"),
            "runtype.json": (lambda b: b.update(run_type="foo"), "run_type 'foo'"),
            "twice.json": (lambda b: b.update(repetition_index=0), "repetition 0 twice"),
        }
        for name, (change, says) in cases.items():
            with self.subTest(name):
                doc = synth.document({A: [1.0, 2.0, 3.0]})
                for b in doc["benchmarks"]:
                    if b.get("run_type", "iteration") == "iteration":
                        change(b)
                with open(self.path(name), "w") as f:
                    json.dump(doc, f)
                self.assertBad(run(self.good(), self.path(name)), says)

    def test_primitive_names_outside_the_alphabet(self):
        """Any primitive is read, but only as [a-z0-9_]+: it names the report's files."""
        for name, change, says in (
                ("upper.json", lambda b: b.update(name=b["name"].replace("gather", "Gather"),
                                                  run_name=b["run_name"].replace("gather", "Gather")),
                 "not a primbench name"),
                ("dash.json", lambda b: b.update(name=b["name"].replace("gather", "all-gather"),
                                                 run_name=b["run_name"].replace("gather", "all-gather")),
                 "not a primbench name"),
                ("field.json", lambda b: b.update(primitive="../gather"), "has primitive '../gather'")):
            with self.subTest(name):
                doc = synth.document({A: [1.0, 2.0, 3.0]})
                for b in doc["benchmarks"]:
                    change(b)
                with open(self.path(name), "w") as f:
                    json.dump(doc, f)
                self.assertBad(run(self.good(), self.path(name)), says)

    def test_fields_of_the_wrong_type(self):
        """The loader checks the types of the fields the tools read; compare once met
        context.primbench as a list with a traceback and exit status 1."""
        def primbench(v):
            return lambda doc: doc["context"].__setitem__("primbench", v)

        def field(key, v):
            return lambda doc: doc["context"]["primbench"].__setitem__(key, v)

        cases = [("list.json", primbench([1]), "context.primbench is an array, expected an object"),
                 ("number.json", primbench(3), "context.primbench is a number, expected an object"),
                 ("string.json", primbench("x"), "context.primbench is a string, expected an object"),
                 ("revision.json", field("git_revision", ["abc"]),
                  "context.primbench.git_revision is an array, expected a string"),
                 ("version.json", field("version", 1), "context.primbench.version is a number"),
                 ("command.json", field("command_line", {}), "context.primbench.command_line is an object"),
                 ("host.json", lambda doc: doc["context"].__setitem__("host_name", []),
                  "context.host_name is an array"),
                 ("validation.json", lambda doc: doc["benchmarks"][0].__setitem__("validation", False),
                  "has a validation that is not a string"),
                 ("zero.json", lambda doc: doc["benchmarks"][0].__setitem__("real_time", 0),
                  "passed with a real_time of 0: a repetition takes time"),
                 ("paired.json", lambda doc: doc["benchmarks"][0].__setitem__("ref_paired", 3),
                  "has ref_paired 3: not a kind of reference this compare knows (0, 1, 2)"),
                 ("half.json", lambda doc: doc["benchmarks"][0].__setitem__("ref_paired", 2.5),
                  "has ref_paired 2.5: not a kind")]
        good = self.good()
        for name, change, says in cases:
            with self.subTest(name):
                doc = synth.document({A: synth.samples(2, 10, 1000.0, 0.02)})
                change(doc)
                with open(self.path(name), "w") as f:
                    json.dump(doc, f)
                self.assertBad(run(good, self.path(name)), self.path(name), says)
                self.assertBad(run(self.path(name), good), self.path(name), says)
        # A t_p50 of 0 read as no change (SAME) where the base had it
        doc = synth.document({A: synth.samples(2, 10, 1000.0, 0.02)})
        doc["benchmarks"][0]["t_p50"] = 0
        with open(self.path("t_p50_zero.json"), "w") as f:
            json.dump(doc, f)
        for metric in ("t_p50", "auto"):
            self.assertBad(run(self.path("t_p50_zero.json"), good, "--metric", metric), self.path("t_p50_zero.json"),
                           "passed with a t_p50 of 0: a repetition takes time")
        doc = synth.document({A: synth.samples(2, 10, 1000.0, 0.02)})
        doc["context"]["primbench"] = None  # null: absent, as in a plain Google Benchmark file
        with open(self.path("null.json"), "w") as f:
            json.dump(doc, f)
        code, rows, rep = self.verdicts(good, self.path("null.json"))
        self.assertEqual((code, rep["head"]["revisions"]), (0, []))

    def test_bad_flags(self):
        good = self.good()
        self.assertBad(run(good, good, "--bogus"), "unrecognized arguments")
        self.assertBad(run(good, good, "--alpha", "x"), "--alpha")
        self.assertBad(run(good, good, "--alpha", "1.5"), "--alpha")
        self.assertBad(run(good, good, "--min-effect", "-0.1"), "--min-effect")
        self.assertBad(run(good, good, "--metric", "ref_time"), "--metric", "ref_ratio")
        self.assertBad(run(good), "required")

    def test_unwritable_output(self):
        good = self.good()
        other = synth.write(self.path("other.json"), {A: synth.samples(2, 10, 1000.0, 0.02)})
        self.assertBad(run(good, other, "--json", self.path("no/such/dir/out.json")), "cannot write")


class Loader(Case):
    """reports/results.py, which compare, history, export and the report share."""

    def test_new_primitives_and_their_fields(self):
        names = ["allreduce/thread.flat/f32/sum/ranks:4/count:4096/root:0",
                 "broadcast/thread.flat/f32/ranks:4/count:4096/root:3",
                 "alltoall/thread.flat/i64/ranks:2/count:16/root:0"]
        doc = synth.document({n: [1.0, 2.0] for n in names})
        for b in doc["benchmarks"]:
            if b["run_type"] == "iteration":
                b.update(primitive=b["run_name"].split("/", 1)[0], ceiling="host_copy")
        with open(self.path("new.json"), "w") as f:
            json.dump(doc, f)
        res = compare.load(self.path("new.json"))
        reps = [e for e in res.entries if e.run_type == "iteration"]
        self.assertEqual([(e.primitive, e.op, e.ranks, e.count, e.root) for e in reps[::2]],
                         [("allreduce", "sum", 4, 4096, 0), ("broadcast", None, 4, 4096, 3),
                          ("alltoall", None, 2, 16, 0)])
        self.assertEqual({e.ceiling for e in reps}, {"host_copy"})
        self.assertEqual({e.ceiling for e in res.entries if e.run_type == "aggregate"}, {None})

    def test_ceiling_must_be_a_string(self):
        doc = synth.document({A: [1.0, 2.0]})
        doc["benchmarks"][0]["ceiling"] = 11.2
        with open(self.path("c.json"), "w") as f:
            json.dump(doc, f)
        with self.assertRaisesRegex(compare.ResultsError, "has a ceiling that is not a string"):
            compare.load(self.path("c.json"))


class SafeOutputs(Case):
    """No output replaces an input or another output, and none is an empty name: checked
    before anything is written (the hostile review: rc 0 and both inputs replaced)."""

    def test_output_over_an_input_is_refused_and_nothing_written(self):
        base, head = self.pair({A: synth.samples(1, 10, 1000.0, 0.02)}, {A: synth.samples(2, 10, 1000.0, 0.02)})
        before = {p: Path(p).read_text() for p in (base, head)}
        for args in (("--json", base, "--md", head), ("--md", head),
                     ("--json", os.path.join(self.dir, ".", "base.json"))):
            with self.subTest(args=args):
                proc = run(base, head, *args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
                self.assertIn("is one of the inputs; compare would replace the results", proc.stderr)
                self.assertEqual({p: Path(p).read_text() for p in (base, head)}, before)
        os.link(head, self.path("hardlink.json"))  # another name of the same file
        proc = run(base, head, "--json", self.path("hardlink.json"))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual({p: Path(p).read_text() for p in (base, head)}, before)

    def test_one_file_for_both_outputs_and_empty_names_are_refused(self):
        base, head = self.pair({A: synth.samples(1, 10, 1000.0, 0.02)}, {A: synth.samples(2, 10, 1000.0, 0.02)})
        proc = run(base, head, "--json", self.path("x"), "--md", self.path("x"))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("given to both --json and --md", proc.stderr)
        self.assertFalse(os.path.exists(self.path("x")))
        for flag in ("--json", "--md"):
            proc = run(base, head, flag, "", "--quiet")
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(f"{flag}: empty", proc.stderr)


class RunAlike(Case):
    """Files are compared only where their timings mean the same: the options that change what
    a timing means, and the CPU model, are the same in every file of both sides."""

    def write(self, name, options="default", machine="default", host="ci-runner-1", seed=1, factor=1.0, **kw):
        return synth.write(self.path(name), {A: synth.samples(seed, 10, 1000.0 * factor, 0.02)},
                           options=options, machine=machine, host=host, revision=name, **kw)

    def test_a_cold_base_against_a_hot_head_is_refused(self):
        # hostile review: base --cache cold, head hot and 50% slower -> FASTER, PASS
        cold = dict(synth.OPTIONS, cache="cold")
        base = self.write("base.json", options=cold, factor=3.0)
        head = self.write("head.json", seed=2, factor=1.5)
        proc = run(base, head, "--json", self.path("out.json"))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        for what in ("base.json", "head.json", 'cache ("cold" vs "hot")'):
            self.assertIn(what, proc.stderr)
        self.assertFalse(os.path.exists(self.path("out.json")))

    def test_options_that_change_a_timing_must_match_across_and_within_sides(self):
        base = self.write("base.json")
        changed = {"hugepages": True, "check": "exact", "check-iterations": 0, "check-budget": 0.5,
                   "min-time": 0.1, "warmup": 0.5, "validate": 1, "future-option": "x"}
        for key, value in changed.items():
            with self.subTest(key):
                other = self.write("other.json", options=dict(synth.OPTIONS, **{key: value}), seed=2)
                for b, h in ((base, other), (other, base), (f"{base},{self.write('b2.json', seed=3)}", other)):
                    proc = run(b, h)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertIn(f"{key} (", proc.stderr)
                within = run(f"{base},{other}", self.write("head.json", seed=4))
                self.assertEqual(within.returncode, 2, within.stderr)
                self.assertIn(f"{key} (", within.stderr)
        one_side = {k: v for k, v in synth.OPTIONS.items() if k != "warmup"}
        proc = run(base, self.write("other.json", options=one_side, seed=2))
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("warmup (0.01 vs absent)", proc.stderr)

    def test_options_a_gate_varies_between_runs_are_compared(self):
        # ci/regress gives every pair of runs its own --seed and one repetition a run
        base = self.write("base.json")
        head = self.write("head.json", seed=2, options=dict(synth.OPTIONS, seed=2000, repetitions=1, rse=0.01,
                                                             **{"rse-max-time": 1.0, "aggregates-only": True}))
        code, rows, _ = self.verdicts(base, head)
        self.assertEqual((code, rows[A]["verdict"]), (0, "SAME"))

    def test_files_that_record_no_options_are_compared_with_one_note(self):
        base = self.write("base.json", options=None)
        extra = self.write("base2.json", options=None, seed=3)
        head = self.write("head.json", seed=2)
        proc = run(f"{base},{extra}", head, "--quiet")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        notes = [line for line in proc.stderr.splitlines() if "record no options" in line]
        self.assertEqual(len(notes), 1, proc.stderr)
        self.assertIn("2 file(s)", notes[0])

    def test_another_cpu_is_refused_unless_across_machines(self):
        base = self.write("base.json", machine="runner-1 / Intel(R) Xeon(R) Gold 6338")
        head = self.write("head.json", seed=2, machine="runner-2 / AMD EPYC 7763 64-Core Processor")
        proc = run(base, head)
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("different CPUs (Intel(R) Xeon(R) Gold 6338 vs AMD EPYC 7763", proc.stderr)
        self.assertIn("--across-machines", proc.stderr)
        code, rows, _ = self.verdicts(base, head, "--across-machines")
        self.assertEqual(rows[A]["verdict"], "SAME")
        # the same CPU model on another host is the same machine for compare
        other_host = self.write("other.json", seed=3, host="runner-9",
                                machine="runner-9 / Intel(R) Xeon(R) Gold 6338")
        code, rows, _ = self.verdicts(base, other_host)
        self.assertEqual((code, rows[A]["verdict"]), (0, "SAME"))


class DuplicateInputs(Case):
    """A file given twice would count as two independent runs (8 copies a side made a false
    SLOWER at p 2.8e-06): refused anywhere among the inputs, by path or by content."""

    def test_a_file_twice_is_refused(self):
        base, head = self.pair({A: synth.samples(1, 10, 1000.0, 0.02)}, {A: synth.samples(2, 10, 1030.0, 0.02)})
        copy = self.path("copy.json")
        with open(head) as f, open(copy, "w") as g:
            g.write(f.read())
        cases = {"eight times a side": (",".join([base] * 8), ",".join([head] * 8)),
                 "both sides": (base, base),
                 "by another path": (f"{base},{os.path.join(self.dir, '.', 'base.json')}", head),
                 "a copy": (base, f"{head},{copy}"),
                 "--head-extra": (base, head, "--head-extra", head)}
        for what, args in cases.items():
            with self.subTest(what):
                proc = run(*args, "--json", self.path("out.json"))
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
                self.assertIn("given twice", proc.stderr)
                self.assertFalse(os.path.exists(self.path("out.json")))


class Unvalidated(Case):
    """An entry without `validation` (primbench writes it on every entry) is no validated
    timing: compared as a failure, never as samples."""

    def test_entries_without_validation_are_not_compared_as_timings(self):
        base = synth.write(self.path("base.json"), {A: synth.samples(1, 10, 1000.0, 0.02),
                                                    B: synth.samples(2, 10, 1000.0, 0.02)})
        head = synth.write(self.path("head.json"), {A: synth.samples(3, 10, 1000.0, 0.02),
                                                    B: synth.samples(4, 10, 1000.0, 0.02)},
                           revision="def5678", validation=None)
        code, rows, rep = self.verdicts(base, head)
        self.assertEqual(code, 1)
        for name in (A, B):
            self.assertEqual((rows[name]["verdict"], rows[name]["head"]["n"]), ("FAILED", 0))
            self.assertIn("no validation recorded", rows[name]["reason"])
        self.assertEqual(sorted(rep["new_failures"]), sorted([A, B]))
        # in the base: not a sample either (the head passes: NEW)
        code, rows, rep = self.verdicts(head, synth.write(self.path("h2.json"), {A: synth.samples(5, 10, 1000.0, 0.02)},
                                                          revision="0123456"), "--allow-gone")
        self.assertEqual((rows[A]["verdict"], rows[A]["base"]["n"]), ("NEW", 0))


@unittest.skipUnless(os.path.exists(GBENCH_COMPARE),
                     "Google Benchmark's compare.py not installed (Debian libbenchmark-tools)")
class GoogleBenchmarkCompare(Case):
    def test_gbench_compare_reads_the_same_files(self):
        base = {A: synth.samples(1, 10, 1000.0, 0.02), B: synth.samples(2, 10, 2000.0, 0.02)}
        head = {A: synth.samples(3, 10, 1200.0, 0.02), B: synth.samples(4, 10, 2000.0, 0.02)}
        b, h = self.pair(base, head, head_failed={C: "validation failed"})
        proc = subprocess.run([sys.executable, GBENCH_COMPARE, "--no-color", "benchmarks", b, h],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn(A, proc.stdout)
        self.assertIn(B, proc.stdout)
        self.assertIn("U Test", proc.stdout)


if __name__ == "__main__":
    unittest.main()
