"""ci/history.py: storing runs in SQLite, drawing trends, marking change points."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HISTORY = os.path.join(ROOT, "ci", "history.py")
sys.path.insert(0, HERE)
import ci_tools  # noqa: E402
import synth  # noqa: E402

history = ci_tools.load("history.py")

A, B, C = synth.NAMES


def run(*args):
    return subprocess.run([sys.executable, HISTORY, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def step_series(n_before=8, n_after=8, step=1.3, reps=5, seed=0):
    """Runs of `reps` samples each, level 1000 ns, then `step` times that."""
    return [synth.samples(seed + i, reps, 1000.0 * (step if i >= n_before else 1.0), 0.02)
            for i in range(n_before + n_after)]


class ChangePoints(unittest.TestCase):
    def test_step_is_found_where_it_is(self):
        ((i, change),) = history.change_points(step_series())
        self.assertEqual(i, 8)
        self.assertAlmostEqual(change, 0.3, delta=0.03)

    def test_flat_noisy_series_has_none(self):
        series = [synth.samples(100 + i, 5, 1000.0 * (1.02 if i % 3 == 0 else 1.0), 0.03)
                  for i in range(16)]
        self.assertEqual(history.change_points(series), [])

    def test_one_outlier_run_is_not_a_step(self):
        series = step_series(step=1.0)
        series[7] = [x * 1.5 for x in series[7]]
        series[-1] = [x * 1.5 for x in series[-1]]  # the newest run alone: wait for confirmation
        self.assertEqual(history.change_points(series), [])

    def test_small_step_below_min_change_is_ignored(self):
        self.assertEqual(history.change_points(step_series(step=1.03)), [])
        self.assertEqual([i for i, _ in history.change_points(step_series(step=1.03), min_change=0.01)], [8])

    def test_two_steps(self):
        series = step_series(6, 6, 1.3) + [synth.samples(200 + i, 5, 1000.0, 0.02) for i in range(6)]
        (i, up), (j, down) = history.change_points(series)
        self.assertEqual((i, j), (6, 12))
        self.assertAlmostEqual(up, 0.3, delta=0.03)
        self.assertAlmostEqual(down, 1 / 1.3 - 1, delta=0.03)


class WithDb(unittest.TestCase):
    """A test with a directory of its own and a history database's name in it."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.db = os.path.join(self.dir, "history.sqlite")

    def tearDown(self):
        self._tmp.cleanup()


class AddAndShow(WithDb):

    def results(self, i, level=1.0, failed=None):
        return synth.write(os.path.join(self.dir, f"r{i}.json"),
                           {A: synth.samples(i, 10, 1000.0 * level, 0.02),
                            B: synth.samples(50 + i, 10, 2000.0, 0.02)},
                           failed=failed, revision=f"{i:07x}deadbeef",
                           date=f"2024-05-{i + 1:02d}T10:00:00+00:00")

    def test_add_twice_then_show(self):
        for i in range(2):
            proc = run("add", self.results(i), "--db", self.db, "--branch", "main")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(f"stored as run {i + 1}", proc.stdout)
        with sqlite3.connect(self.db) as db:
            runs = db.execute("SELECT revision, branch, machine, time FROM runs ORDER BY id").fetchall()
            self.assertEqual([r[0] for r in runs], ["0000000deadbeef", "0000001deadbeef"])
            self.assertEqual({r[1] for r in runs}, {"main"})
            self.assertEqual(len({r[2] for r in runs}), 1)  # same synthetic machine
            self.assertEqual(runs[0][3], "2024-05-01T10:00:00+00:00")
            self.assertEqual(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0], 2 * 2 * 10)
            self.assertEqual(db.execute("SELECT COUNT(*) FROM benchmarks").fetchone()[0], 4)
            reps = db.execute("SELECT repetition, time_s FROM samples WHERE run_id = 1 AND name = ?"
                              " ORDER BY repetition", (A,)).fetchall()
            self.assertEqual([r for r, _ in reps], list(range(10)))
            self.assertAlmostEqual(reps[0][1], synth.samples(0, 10, 1000.0, 0.02)[0] * 1e-9)
        out = os.path.join(self.dir, "out")
        proc = run("show", "--db", self.db, "--benchmark", "gather/*", "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        files = sorted(os.listdir(out))
        self.assertIn("index.html", files)
        pngs = [f for f in files if f.endswith(".png")]
        self.assertEqual(len(pngs), 1)  # only the gather benchmark was chosen
        with open(os.path.join(out, pngs[0]), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with open(os.path.join(out, "index.html")) as f:
            page = f.read()
        self.assertIn(pngs[0], page)
        self.assertIn(A, page)

    def test_same_file_twice_is_stored_once(self):
        path = self.results(0)
        self.assertEqual(run("add", path, "--db", self.db).returncode, 0)
        proc = run("add", path, "--db", self.db)
        self.assertEqual(proc.returncode, 0)
        self.assertIn("skipped", proc.stdout)
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0], 1)

    def test_revision_override_and_failures_are_stored(self):
        path = self.results(0, failed={C: "reduce: rank 3 element 0 expected 4 got 5"})
        self.assertEqual(run("add", path, "--db", self.db, "--revision", "r-override",
                             "--branch", "feature").returncode, 0)
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT revision, branch FROM runs").fetchone(),
                             ("r-override", "feature"))
            self.assertEqual(db.execute("SELECT error FROM benchmarks WHERE name = ?", (C,)).fetchone()[0],
                             "reduce: rank 3 element 0 expected 4 got 5")

    def test_show_marks_the_step(self):
        for i in range(8):
            self.assertEqual(run("add", self.results(i, level=1.3 if i >= 4 else 1.0),
                                 "--db", self.db).returncode, 0)
        out = os.path.join(self.dir, "out")
        proc = run("show", "--db", self.db, "-o", out)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("1 change point", proc.stdout)
        with open(os.path.join(out, "changepoints.json")) as f:
            report = {b["benchmark"]: b for b in json.load(f)["benchmarks"]}
        self.assertEqual(set(report), {A, B})
        self.assertEqual(report[B]["change_points"], [])
        (cp,) = report[A]["change_points"]
        self.assertEqual((cp["previous_revision"], cp["revision"]), ("0000003deadbeef", "0000004deadbeef"))
        self.assertAlmostEqual(cp["change"], 0.3, delta=0.03)
        with open(os.path.join(out, "index.html")) as f:
            self.assertIn("0000003deadb → 0000004deadb", f.read())

    def test_bad_input(self):
        def bad(proc, fragment):
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
            self.assertIn(fragment, proc.stderr)

        bad(run("show", "--db", self.db, "-o", self.dir), "no such history database")
        bad(run("add", os.path.join(self.dir, "missing.json"), "--db", self.db), "cannot read")
        notdb = os.path.join(self.dir, "not.sqlite")
        with open(notdb, "w") as f:
            f.write("this is not sqlite, just text " * 100)
        bad(run("add", self.results(0), "--db", notdb), "not a primbench history database")
        bad(run("add", self.results(0)), "--db")
        bad(run("frobnicate"), "invalid choice")
        self.assertEqual(run("add", self.results(0), "--db", self.db).returncode, 0)
        bad(run("show", "--db", self.db, "--benchmark", "nothing/*", "-o", self.dir), "no stored benchmark")


class SafeStorage(WithDb):
    """The database is never lost: no in-memory name, nothing written over it, and no run that
    would mix timings of different meaning into one machine's series."""

    def results(self, i, **kw):
        return synth.write(os.path.join(self.dir, f"r{i}.json"),
                           {A: synth.samples(i, 10, 1000.0, 0.02)}, revision=f"{i:07x}deadbeef",
                           date=f"2024-05-{i + 1:02d}T10:00:00+00:00", **kw)

    def assertBad(self, proc, *fragments):
        self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
        for frag in fragments:
            self.assertIn(frag, proc.stderr)

    def test_a_database_that_stores_nothing_is_refused(self):
        # "stored as run 1", exit 0, and nothing stored
        for name in ("", ":memory:", "file:x.db", "file::memory:?cache=shared"):
            with self.subTest(name=name):
                self.assertBad(run("add", self.results(1), "--db", name), "not a database file name")
                self.assertBad(run("show", "--db", name, "-o", self.dir), "not a database file name")

    def test_show_never_writes_over_the_database(self):
        self.assertEqual(run("add", self.results(1), "--db", self.db).returncode, 0)
        out = os.path.join(self.dir, "hs")
        os.makedirs(out)
        with open(self.db, "rb") as f:
            data = f.read()
        for name in ("changepoints.json", "index.html", history._slug(A) + ".png"):
            with self.subTest(name=name):
                db = os.path.join(out, name)
                with open(db, "wb") as f:
                    f.write(data)
                self.assertBad(run("show", "--db", db, "-o", out), "is one of the inputs")
                with open(db, "rb") as f:
                    self.assertEqual(f.read(), data)
                os.remove(db)
        self.assertBad(run("show", "--db", self.db, "-o", ""), "-o: empty")
        self.assertBad(run("add", self.db, "--db", self.db), "is one of the inputs")

    def test_runs_with_other_options_are_not_mixed_into_a_series(self):
        self.assertEqual(run("add", self.results(1), "--db", self.db).returncode, 0)
        cold = self.results(2, options=dict(synth.OPTIONS, cache="cold"))
        self.assertBad(run("add", cold, "--db", self.db), 'cache ("hot" vs "cold")', "another --db")
        # a seed or repetitions of its own is the same series
        ok = run("add", self.results(3, options=dict(synth.OPTIONS, seed=7, repetitions=20)), "--db", self.db)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        # another machine is another series: not checked against this one's
        other = self.results(4, options=dict(synth.OPTIONS, cache="cold"), host="other",
                             machine="other / Another CPU")
        self.assertEqual(run("add", other, "--db", self.db).returncode, 0)
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0], 3)

    def test_entries_without_validation_are_no_samples(self):
        path = self.results(1, validation=None)
        proc = run("add", path, "--db", self.db)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with sqlite3.connect(self.db) as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM samples").fetchone()[0], 0)
            (error,) = db.execute("SELECT error FROM benchmarks WHERE name = ?", (A,)).fetchone()
        self.assertIn("no validation recorded", error)


if __name__ == "__main__":
    unittest.main()
