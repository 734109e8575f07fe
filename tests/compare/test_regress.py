"""ci/suite and ci/regress: end to end on this repository with a tiny suite, and bad input.

The end-to-end tests reuse an existing primbench build for both sides (--base-bin/--head-bin:
$PRIMBENCH_BIN, else build/release/bench/primbench; skipped when there is none), so they take
seconds, not the minutes a second build of the tree would. Building a revision is covered by
revisions that stop early: one that predates the suite and one whose configure fails. No test
asserts a timing: verdicts are only checked to agree with the exit status.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ci_tools  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CI = os.path.join(ROOT, "ci")
PY = "/usr/bin/python3"
PRIMBENCH = os.environ.get("PRIMBENCH_BIN",
                           os.path.join(ROOT, "build", "release", "bench", "primbench"))
TINY = ("--impl seq.ref --primitive gather,reduce --ranks 1 --count 1K --repetitions 10 "
        "--min-time 0.001 --warmup 0.001 --ceilings 10,10")


suite = ci_tools.load("suite")
regress = ci_tools.load("regress")


def run(cmd, env=None, **kw):
    e = {k: v for k, v in os.environ.items() if k != "PRIMBENCH_SUITE_ARGS"}
    e.update(env or {})
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=e, timeout=300, **kw)


def commit(files: dict) -> str:
    """A commit (reachable from no branch) whose tree holds `files` {path: text}."""
    entries = []
    for path, text in files.items():
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=ROOT, input=text,
                              capture_output=True, text=True, check=True).stdout.strip()
        entries.append(f"100644 blob {blob}\t{path}\n")
    tree = subprocess.run(["git", "mktree"], cwd=ROOT, input="".join(entries),
                          capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.run(["git", "commit-tree", tree, "-m", "test_regress fixture"], cwd=ROOT,
                          capture_output=True, text=True, check=True,
                          env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                                   GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")).stdout.strip()


class SuiteArgs(unittest.TestCase):
    def test_suite_covers_every_primitive_and_backend(self):
        with open(suite.SUITE_FILE, encoding="utf-8") as f:
            args = shlex.split(f.read(), comments=True)
        opts = dict(o[1] for o in suite._options(args) if len(o[1]) == 2)
        self.assertEqual({g.split(".")[0] for g in opts["--impl"].split(",")},
                         {"seq", "thread", "tbb", "mpi", "cuda"})
        self.assertNotIn("--primitive", opts)  # every primitive of the build it runs on
        self.assertGreaterEqual(int(opts["--repetitions"]), 10)

    def test_later_options_replace_the_suites(self):
        merged = suite.merge(["--impl", "*", "--repetitions", "10", "--quiet"],
                             ["--repetitions=4", "--out", "x.json"])
        self.assertEqual(merged, ["--impl", "*", "--quiet", "--repetitions=4", "--out", "x.json"])

    def test_flags_take_no_value(self):
        """--hugepages, --aggregates-only and --resume were read as taking the next argument, so
        the suite's --repetitions 10 survived beside the given one (and primbench refused)."""
        r = run([PY, os.path.join(CI, "suite"), "--print", "--repetitions", "1", "--seed", "1000"],
                env={"PRIMBENCH_SUITE_ARGS": "--impl seq.ref --hugepages --repetitions 10"})
        self.assertEqual(shlex.split(r.stdout), ["--impl", "seq.ref", "--hugepages", "--repetitions", "1",
                                                 "--seed", "1000"])
        r = run([PY, os.path.join(CI, "suite"), "--print", "--aggregates-only", "--repetitions", "4"])
        args = shlex.split(r.stdout)
        self.assertEqual((args.count("--repetitions"), args[-3:]), (1, ["--aggregates-only", "--repetitions", "4"]))
        for flag in ("--hugepages", "--aggregates-only", "--resume", "--quiet"):
            with self.subTest(flag):
                self.assertEqual(suite.merge([flag, "--repetitions", "10"], ["--repetitions", "1"]),
                                 [flag, "--repetitions", "1"])
                self.assertEqual(suite.merge(["--repetitions", "10", flag], [flag]), ["--repetitions", "10", flag])

    def test_plugins_are_grouped_with_all_their_libraries(self):
        # --plugin takes every value up to the next option, and may be repeated; given again, all
        # of the suite's are replaced.
        given = ["--plugin", "a.so", "b.so", "--impl", "x", "--plugin", "c.so", "--repetitions", "3"]
        self.assertEqual(suite.merge(given, ["--repetitions", "1"]), given[:-1] + ["1"])
        self.assertEqual(suite.merge(given, ["--plugin", "d.so"]),
                         ["--impl", "x", "--repetitions", "3", "--plugin", "d.so"])

    @unittest.skipUnless(os.access(PRIMBENCH, os.X_OK), f"no primbench build at {PRIMBENCH}")
    def test_flag_list_matches_primbench_run_help(self):
        r = run([PRIMBENCH, "run", "--help"])
        flags, multi = set(), set()
        for line in r.stdout.splitlines():
            words = line.split()
            if not words or not words[0].startswith("-"):
                continue
            names = words[0].split(",")
            takes = len(words) > 1 and words[1] in ("TEXT", "INT", "FLOAT", "UINT") or \
                len(words) > 1 and words[1].startswith(("TEXT", "INT", "FLOAT", "UINT"))
            if len(words) > 2 and words[2] == "...":
                multi.update(names)
            if not takes:
                flags.update(names)
        self.assertEqual(flags, suite.FLAGS)
        self.assertEqual(multi, suite.MULTI)

    def test_env_replaces_the_suite(self):
        r = run([PY, os.path.join(CI, "suite"), "--print", "--count", "2K"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--repetitions 10", r.stdout)
        r = run([PY, os.path.join(CI, "suite"), "--print", "--count", "2K"],
                env={"PRIMBENCH_SUITE_ARGS": "--impl seq.ref --count 1K"})
        self.assertEqual(shlex.split(r.stdout), ["--impl", "seq.ref", "--count", "2K"])

    def test_missing_binary_is_bad_input(self):
        r = run([PY, os.path.join(CI, "suite"), "--primbench", "/nonexistent/primbench"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("no primbench binary", r.stderr)


class Recheck(unittest.TestCase):
    def test_one_invocation_per_dtype_root_ranks(self):
        names = ["gather/thread.flat/f32/ranks:2/count:4096/root:0",
                 "reduce/tbb.parallel_for/f32/sum/ranks:2/count:1048576/root:0",
                 "scatter/thread.flat/f64/ranks:4/count:4096/root:1"]
        jobs = regress.recheck_jobs(names, ["--repetitions", "10", "--impl", "*"], suite.merge)
        self.assertEqual(len(jobs), 2)
        first = dict(zip(jobs[0][::2], jobs[0][1::2]))
        self.assertEqual(first["--impl"], "tbb.parallel_for,thread.flat")
        self.assertEqual(first["--primitive"], "gather,reduce")
        self.assertEqual(first["--count"], "4096,1048576")
        self.assertEqual(first["--op"], "sum")
        self.assertEqual(first["--repetitions"], "10")
        self.assertEqual(jobs[0].count("--impl"), 1)

    def test_keep_only_drops_the_cross_product(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "r.json")
            with open(p, "w") as f:
                json.dump({"context": {}, "benchmarks": [
                    {"name": "gather/seq.ref/f32/ranks:1/count:1/root:0/manual_time",
                     "run_name": "gather/seq.ref/f32/ranks:1/count:1/root:0/manual_time"},
                    {"name": "gather/seq.ref/f32/ranks:1/count:2/root:0/manual_time",
                     "run_name": "gather/seq.ref/f32/ranks:1/count:2/root:0/manual_time"}]}, f)
            regress.keep_only(p, {"gather/seq.ref/f32/ranks:1/count:2/root:0"})
            with open(p) as f:
                self.assertEqual(len(json.load(f)["benchmarks"]), 1)

    def test_runs_come_in_pairs_in_random_order(self):
        calls = []

        class Recorded(regress.Runs):  # runs nothing: records what it would run
            def _keep_ceilings(self, out):
                pass

        real = regress.run_suite
        regress.run_suite = lambda side, args, out, logdir: calls.append((side.label, args, out))
        try:
            sides = {k: regress.Side(k, None, {}) for k in ("base", "head")}
            for seed in (1, 1, 2):
                Recorded(sides, "/nowhere", seed, suite.merge).run([["--impl", "x"]], 16, "t")
        finally:
            regress.run_suite = real
        orders = [tuple(c[0] for c in calls[i:i + 2]) for i in range(0, len(calls), 2)]
        self.assertTrue(all(sorted(o) == ["base", "head"] for o in orders))  # one of each a pair
        first, again, other = orders[:16], orders[16:32], orders[32:]
        self.assertEqual(first, again)  # the seed fixes the order...
        self.assertNotEqual(first, other)  # ...and another seed draws another
        self.assertGreater(len(set(first)), 1)  # both orders occur
        args = [dict(zip(c[1][::2], c[1][1::2])) for c in calls[:4]]
        self.assertEqual([a["--repetitions"] for a in args], ["1"] * 4)  # one repetition a run
        self.assertEqual(args[0]["--seed"], args[1]["--seed"])  # a pair validates the same data
        self.assertNotEqual(args[0]["--seed"], args[2]["--seed"])  # the next pair fresh data


class BadInput(unittest.TestCase):
    def check_error(self, r, text):
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertIn(text, r.stderr)

    def test_unknown_revision(self):
        self.check_error(run([PY, os.path.join(CI, "regress"), "no-such-revision-6f2e"]),
                         "unknown revision 'no-such-revision-6f2e'")

    def test_unknown_head_revision(self):
        self.check_error(run([PY, os.path.join(CI, "regress"), "HEAD", "no-such-revision-6f2e"]),
                         "unknown revision")

    def test_bad_env_pair(self):
        self.check_error(run([PY, os.path.join(CI, "regress"), "HEAD", "--head-env", "NOEQUALS",
                              "--base-bin", "/bin/true", "--head-bin", "/bin/true"]),
                         "expected NAME=VALUE")

    def test_bad_flag(self):
        self.check_error(run([PY, os.path.join(CI, "regress"), "HEAD", "--runs", "0"]),
                         "--runs")

    def test_runs_too_few_to_ever_decide(self):
        # 4 runs of one repetition a side reach p 0.029 at best: nothing could be decided
        self.check_error(run([PY, os.path.join(CI, "regress"), "HEAD", "--runs", "4"]),
                         "--runs 4: 4 runs a side can never reach p <= 0.01 (best p 0.029), so no "
                         "benchmark could be decided; give --runs 5 or more")
        self.check_error(run([PY, os.path.join(CI, "regress"), "HEAD", "--runs", "5", "--alpha", "0.001"]),
                         "give --runs 7 or more")

    def test_base_that_predates_the_suite(self):
        rev = commit({"README.md": "before primbench\n"})
        with tempfile.TemporaryDirectory() as d:
            r = run([PY, os.path.join(CI, "regress"), rev, "--head-bin", "/bin/true",
                     "--out-dir", d, "--md", os.path.join(d, "r.md")])
        self.check_error(r, "predates the CI suite")
        self.assertNotIn(rev[:12], run(["git", "worktree", "list"]).stdout)

    def test_base_that_fails_to_build(self):
        with open(os.path.join(ROOT, "CMakePresets.json")) as f:
            presets = f.read()
        rev = commit({"CMakePresets.json": presets,
                      "CMakeLists.txt": "cmake_minimum_required(VERSION 3.25)\n"
                                        "project(broken NONE)\nmessage(FATAL_ERROR \"broken\")\n"})
        with tempfile.TemporaryDirectory() as d:
            r = run([PY, os.path.join(CI, "regress"), rev, "--head-bin", "/bin/true",
                     "--out-dir", d, "--md", os.path.join(d, "r.md")])
            self.check_error(r, "failed to build")
            with open(os.path.join(d, "base-build.log")) as f:
                self.assertIn("broken", f.read())
            self.assertFalse(os.path.exists(os.path.join(d, "r.md")))

    @unittest.skipUnless(os.access(PRIMBENCH, os.X_OK), f"no primbench build at {PRIMBENCH}")
    def test_build_rejecting_the_suite(self):
        with tempfile.TemporaryDirectory() as d:
            r = run([PY, os.path.join(CI, "regress"), "HEAD", "--base-bin", PRIMBENCH,
                     "--head-bin", PRIMBENCH, "--suite-args", "--no-such-option 1",
                     "--out-dir", d, "--md", os.path.join(d, "r.md")])
        self.check_error(r, "the suite did not run: primbench: error:")


@unittest.skipUnless(os.access(PRIMBENCH, os.X_OK), f"no primbench build at {PRIMBENCH}")
class EndToEnd(unittest.TestCase):
    """HEAD against the working tree, both sides the same existing build, a tiny suite."""

    def gate(self, *extra, env=None):
        d = tempfile.mkdtemp(prefix="test-regress-")
        self.addCleanup(subprocess.run, ["rm", "-rf", d])
        md = os.path.join(d, "summary.md")
        r = run([PY, os.path.join(CI, "regress"), "HEAD", "--base-bin", PRIMBENCH,
                 "--head-bin", PRIMBENCH, "--out-dir", os.path.join(d, "out"), "--md", md,
                 *extra], env=env)
        return r, d, md

    def check_consistent(self, r, d, md):
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        with open(os.path.join(d, "out", "verdict.json")) as f:
            verdict = json.load(f)
        self.assertEqual(verdict["schema"], "primbench-compare/1")
        self.assertEqual(verdict["exit_status"], r.returncode)
        self.assertEqual(r.returncode == 1, bool(verdict["regressions"] or verdict["new_failures"]))
        with open(md, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("### primbench compare", text)
        self.assertIn(":x:" if r.returncode else ":white_check_mark:", text)
        self.assertIn("How the gate measured", text)
        for name in verdict["regressions"]:
            self.assertIn(name, text)
        return verdict

    def test_head_against_itself(self):
        r, d, md = self.gate("--suite-args", TINY, "--runs", "6", "--recheck-runs", "3")
        verdict = self.check_consistent(r, d, md)
        names = {b["name"] for b in verdict["benchmarks"]}
        self.assertEqual(names, {"gather/seq.ref/f32/ranks:1/count:1024/root:0",
                                 "reduce/seq.ref/f32/sum/ranks:1/count:1024/root:0"})
        self.assertFalse(verdict["new_failures"])
        # By default each benchmark by its reference ratio where paired (beyond the cache), by
        # t_p50 elsewhere: 1K elements is in the cache.
        self.assertEqual(verdict["settings"]["metric"], "auto")
        self.assertEqual({b["metric"] for b in verdict["benchmarks"]}, {"t_p50"})
        with open(md, encoding="utf-8") as f:
            self.assertIn("in the per-run ref_ratio where paired (beyond the cache), t_p50 elsewhere", f.read())
        # Six runs of one repetition per side, three more for the re-measured ones.
        with open(os.path.join(d, "out", "verdict-first.json")) as f:
            first = json.load(f)
        self.assertEqual(len(first["base"]["files"]), 6)
        for row in verdict["benchmarks"]:
            n = 9 if row["name"] in first["recheck"] else 6
            self.assertEqual((row["base"]["n"], row["head"]["n"]), (n, n), row["name"])
            self.assertEqual((row["base"]["runs"], row["head"]["runs"]), (n, n))

    def test_metric_reaches_compare(self):
        r, d, md = self.gate("--suite-args", TINY, "--runs", "6", "--recheck-runs", "0",
                             "--metric", "ref_ratio")
        verdict = self.check_consistent(r, d, md)
        self.assertEqual(verdict["settings"]["metric"], "ref_ratio")
        self.assertEqual({b["metric"] for b in verdict["benchmarks"]}, {"ref_ratio"})  # host memory
        with open(md, encoding="utf-8") as f:
            self.assertIn("in the per-run ref_ratio", f.read())

    def test_suite_from_the_environment_and_head_env(self):
        r, d, md = self.gate("--runs", "6", "--recheck-runs", "0",
                             "--head-env", "PRIMBENCH_TEST_SLOWDOWN=thread.flat=0.2",
                             env={"PRIMBENCH_SUITE_ARGS": TINY.replace("gather,reduce", "scatter")})
        verdict = self.check_consistent(r, d, md)
        self.assertEqual([b["name"] for b in verdict["benchmarks"]],
                         ["scatter/seq.ref/f32/ranks:1/count:1024/root:0"])
        with open(md, encoding="utf-8") as f:
            self.assertIn("head environment: `PRIMBENCH_TEST_SLOWDOWN=thread.flat=0.2`", f.read())


if __name__ == "__main__":
    unittest.main()
