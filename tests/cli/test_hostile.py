"""Hostile input for every command: each bad flag, range, plugin or results file gets exit status
2 and one line on stderr that says what is wrong; nothing crashes, prints a traceback or hangs.

Needs PRIMBENCH_BIN and PRIMBENCH_BROKEN_PLUGIN (ctest sets both).
"""
import json
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

BIN = os.environ.get("PRIMBENCH_BIN", "build/release/bench/primbench")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = os.path.join(ROOT, "tests", "fuzz", "corpus", "results", "cpu_small.json")
FAST = ["--min-time", "0.002", "--warmup", "0", "--repetitions", "1", "--ceilings", "20,10", "--quiet"]
HUGE_BYTES = 50 << 20


def write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def huge_foreign(path):
    """50 MB of well-formed JSON that is Google Benchmark's shape but not primbench's."""
    entry = json.dumps({"name": "BM_memcpy/8/manual_time", "run_name": "BM_memcpy/8/manual_time",
                        "run_type": "iteration", "iterations": 1000, "real_time": 12.5, "cpu_time": 12.5,
                        "time_unit": "ns", "bytes_per_second": 1e9, "label": "x" * 100})
    n = HUGE_BYTES // (len(entry) + 2)
    with open(path, "w") as f:
        f.write('{"context": {"primbench": {}}, "benchmarks": [')
        f.write(",\n".join([entry] * n))
        f.write("]}\n")
    return path


def huge_primbench(path):
    """50 MB of primbench results, cut off in the last entry."""
    with open(GOOD) as f:
        doc = json.load(f)
    entry = json.dumps(doc["benchmarks"][0])
    n = HUGE_BYTES // (len(entry) + 2)
    with open(path, "w") as f:
        f.write('{"context": ' + json.dumps(doc["context"]) + ', "benchmarks": [')
        f.write(",\n".join([entry] * n))
        f.write(',\n{"name": "gather/seq.r')
    return path


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="primbench-hostile-")
        d = cls.tmp
        with open(GOOD) as f:
            good = json.load(f)

        def variant(name, change):
            doc = json.loads(json.dumps(good))
            change(doc)
            return write(os.path.join(d, name), json.dumps(doc, allow_nan=True))

        def first_time(value):
            return lambda doc: doc["benchmarks"][0].__setitem__("real_time", value)

        text = open(GOOD).read()
        rng = random.Random(7)
        cls.files = {
            "empty": write(os.path.join(d, "empty.json"), ""),
            "blank": write(os.path.join(d, "blank.json"), " \n\t\n"),
            "truncated": write(os.path.join(d, "truncated.json"), text[: len(text) // 2]),
            "foreign": write(os.path.join(d, "foreign.json"), '{"name": "package.json", "version": "1.0.0"}'),
            "array": write(os.path.join(d, "array.json"), "[1, 2, 3]"),
            "gbench_foreign": write(os.path.join(d, "gbench.json"), json.dumps(
                {"context": {"date": "x"}, "benchmarks": [{"name": "BM_sort/1024", "run_type": "iteration",
                                                           "real_time": 5.0, "time_unit": "ns"}]})),
            "nan_time": variant("nan.json", first_time(float("nan"))),
            "negative_time": variant("negative.json", first_time(-1.0)),
            "infinite_time": variant("inf.json", first_time(float("inf"))),
            "string_time": variant("string_time.json", first_time("fast")),
            "primbench_list": variant("primbench_list.json",
                                      lambda doc: doc["context"].__setitem__("primbench", [1, 2])),
            "revision_list": variant("revision_list.json",
                                     lambda doc: doc["context"]["primbench"].__setitem__("git_revision", [1])),
            "caches_number": variant("caches_number.json", lambda doc: doc["context"].__setitem__("caches", 7)),
            "binary": write(os.path.join(d, "binary.json"), bytes(rng.randrange(256) for _ in range(4096))),
            "nested": write(os.path.join(d, "nested.json"), "[" * 200000 + "]" * 200000),
            "huge_foreign": huge_foreign(os.path.join(d, "huge_foreign.json")),
            "huge_truncated": huge_primbench(os.path.join(d, "huge_truncated.json")),
            "directory": d,
            "missing": os.path.join(d, "no-such-file.json"),
        }
        failed = good["benchmarks"][0]["run_name"]   # every entry validation failed, times kept

        def not_passed(doc):
            for b in doc["benchmarks"]:
                if b["run_name"] == failed:
                    b.pop("error_occurred", None)
                    b["validation"] = "failed"
        cls.not_passed = variant("not_passed.json", not_passed)
        cls.not_passed_name = failed
        cls.text = write(os.path.join(d, "plugin.so"), "not a shared library\n")
        cls.garbage_db = write(os.path.join(d, "garbage.db"), b"SQLite format 2\x00" + bytes(range(256)) * 8)
        cls.good = GOOD

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def refused(self, args, expected=None, timeout=120):
        r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, errors="replace")
        self.assertNotIn("Traceback", r.stderr + r.stdout)
        self.assertNotIn("Sanitizer", r.stderr)
        self.assertEqual(r.returncode, 2, f"exit {r.returncode}: {r.stderr[-2000:]}")
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr[-2000:])
        self.assertIn("error", lines[0].lower())
        if expected:
            self.assertIn(expected, lines[0])

    def table(self, cases):
        for args, expected in cases:
            with self.subTest(args=" ".join(a if len(a) < 80 else a[:77] + "..." for a in args)):
                self.refused(args, expected)

    # ---- primbench run / validate / list (C++)

    def selector_cases(self, cmd):
        return [
            ([cmd, "--impl", "*", "--count", "1:1G:+1"], "more than 4096 values"),
            ([cmd, "--impl", "seq.ref", "--ranks", "1:4096:+1", "--count", "0:4095:+1"], "more than 100000 benchmarks"),
            ([cmd, "--count", "1:64M:x1"], "factor"),
            ([cmd, "--count", "1:64M:+0"], "must be positive"),
            ([cmd, "--count", "4096G"], "too large"),
            ([cmd, "--count", "1.5"], "not a number"),
            ([cmd, "--count", "1e3"], "not a number"),
            ([cmd, "--count", "0x10"], "not a number"),
            ([cmd, "--count", "1,,2"], "empty count"),
            ([cmd, "--count", "\u00b3"], "not a number"),
            ([cmd, "--ranks", "5000"], "out of range"),
            ([cmd, "--ranks", "-2"], "negative"),
            ([cmd, "--ranks", "2", "--root", "-1"], "negative"),
            ([cmd, "--ranks", "2", "--root", "first"], "not a number"),
            ([cmd, "--impl", ","], "empty implementation pattern"),
            ([cmd, "--impl", "seq.ref", "--count", "1G", "--ranks", "4096"], None),
            ([cmd, "--dtype", "f32,"], "unknown dtype ''"),
            ([cmd, "--validate", "-3"], "--validate: must be 1 to 1000"),
            ([cmd, "--validate", "many"], None),
            ([cmd, "--timeout", "0"], "--timeout must be a number of seconds above 0"),
            ([cmd, "--timeout", "nan"], "--timeout"),
            ([cmd, "--seed", "-1"], None),
            ([cmd, "--check", ""], None),
            ([cmd, "--plugin", self.text], "cannot load plugin"),
            ([cmd, "--plugin", self.tmp], "plugin"),
            ([cmd, "--plugin", "/usr/lib/x86_64-linux-gnu/libz.so.1"], "registered no implementation"),
            ([cmd, "--count"], None),
            ([cmd, "extra"], None),
        ] + [([cmd, "--impl", "seq.ref", "--ranks", "1", "--count", "1", *internal], f"{internal[0]} is primbench's own option")
             # the workers' own, taken from a user until 2026-12-06 (--round-trip-ns 1e300 went into
             # the context as measured; --worker appended the journal to any file)
             for internal in (["--round-trip-ns", "1e300"], ["--worker", self.tmp], ["--only", "x"], ["--supervisor-pid", "1"],
                              ["--backend-unavailable", "mpi=x"], ["--worker", self.tmp, "--only", "x", "--supervisor-pid", "0"])]

    def test_run(self):
        f = self.files
        self.table(self.selector_cases("run") + [
            (["run", "--min-time", "nan"], "--min-time"),
            (["run", "--min-time", "inf", "--impl", "seq.ref"], None),
            (["run", "--warmup", "-1"], "--warmup"),
            (["run", "--timeout", "0.3"], "--rse (on by default) may take 0.32 s a benchmark"),
            (["run", "--repetitions", "-1"], "--repetitions"),
            (["run", "--ceilings", "20"], "malformed --ceilings"),
            (["run", "--ceilings", "-1,5"], "malformed --ceilings"),
            (["run", "--ceilings", "nan,nan"], "malformed --ceilings"),
            (["run", "--cache", "HOT"], "--cache: unknown"),
            (["run", "--impl", "seq.ref", "--ranks", "1", "--count", "1", "--out", "/nonexistent-dir/r.json", *FAST],
             "does not exist"),
            (["run", "--impl", "seq.ref", "--ranks", "1", "--count", "1", "--out", self.tmp, *FAST], None),
            (["run", "--impl", "seq.ref", "--ranks", "1", "--count", "1", "--resume", "--out", f["directory"], *FAST],
             "is a directory"),
        ] + [(["run", "--impl", "seq.ref", "--ranks", "1", "--count", "1", "--resume", "--out", f[k], *FAST], "--resume")
             for k in ("empty", "blank", "truncated", "foreign", "array", "gbench_foreign", "binary", "nested",
                       "huge_truncated")])

    def test_validate(self):
        self.table(self.selector_cases("validate") + [
            (["validate", "--out", "x.json"], None),  # validate writes no results
            (["validate", "--repetitions", "3"], None),
        ])

    def test_list(self):
        self.table([
            (["list", "--plugin", self.text], "cannot load plugin"),
            (["list", "--plugin", self.files["missing"]], "does not exist"),
            (["list", "--plugin", self.tmp], "plugin"),
            (["list", "--plugin"], None),
            (["list", "--impl", "x"], None),
            (["list", "extra"], None),
        ])

    # ---- report / compare / history (Python, through primbench)

    BAD_FILES = ["empty", "blank", "truncated", "foreign", "array", "gbench_foreign", "nan_time", "negative_time",
                 "infinite_time", "string_time", "primbench_list", "revision_list", "caches_number", "binary",
                 "nested", "huge_foreign", "huge_truncated", "directory", "missing"]

    def test_report(self):
        out = os.path.join(self.tmp, "report-out")
        self.table([(["report", self.files[k], "-o", out], None) for k in self.BAD_FILES] + [
            (["report", self.good], None),                       # no -o
            (["report", "-o", out], None),                       # no input
            (["report", self.good, "-o", self.text], None),      # output is a file
            (["report", self.good, "-o", out, "--bogus"], None),
        ])

    def test_compare(self):
        g = self.good
        self.table([(["compare", g, self.files[k]], None) for k in self.BAD_FILES]
                   + [(["compare", self.files[k], g], None)
                      for k in ("empty", "truncated", "nan_time", "primbench_list", "revision_list", "huge_foreign")]
                   + [
            (["compare", g], None),
            (["compare"], None),
            (["compare", g, g, "--alpha", "nan"], None),
            (["compare", g, g, "--alpha", "-1"], None),
            (["compare", g, g, "--alpha", "2"], None),
            (["compare", g, g, "--min-effect", "-0.5"], None),
            (["compare", g, g, "--max-cv", "nan"], None),
            (["compare", g, g, "--head-extra", self.files["truncated"]], None),
            (["compare", g, g, "--md", "/nonexistent-dir/x.md"], None),
            (["compare", g, g, "--json", self.tmp], None),
        ])

    def test_history(self):
        db = os.path.join(self.tmp, "h.db")
        out = os.path.join(self.tmp, "history-out")
        self.table([(["history", "add", self.files[k], "--db", db], None) for k in self.BAD_FILES] + [
            (["history", "add", self.good, "--db", self.garbage_db], None),
            (["history", "add", self.good, "--db", self.tmp], None),
            (["history", "add", self.good], None),
            (["history", "show", "--db", self.files["missing"], "-o", out], None),
            (["history", "show", "--db", self.garbage_db, "-o", out], None),
            (["history", "show", "--db", self.text, "-o", out], None),
            (["history", "show", "--db", db, "-o", out, "--min-runs", "-1"], None),
            (["history", "show", "--db", db, "-o", out, "--alpha", "nan"], None),
            (["history", "frobnicate"], None),
            (["history"], None),
        ])

    def test_export(self):
        self.table([(["export", self.files[k], "--format", "csv"], None)
                    for k in ("truncated", "foreign", "nan_time", "primbench_list", "revision_list",
                              "caches_number", "missing")])

    def test_validation_not_passed_is_a_failure_everywhere(self):
        """An entry whose validation is failed but that has no error_occurred (and keeps its
        times) is a failure to every tool alike: never a timing, never a pass, no traceback."""
        name = self.not_passed_name

        def run(*args):
            r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, errors="replace")
            self.assertNotIn("Traceback", r.stderr + r.stdout)
            return r

        r = run("report", self.not_passed, "-o", os.path.join(self.tmp, "np-report"))
        self.assertEqual(r.returncode, 0, r.stderr)   # the report's exit for failures: 0, said on stderr
        base = run("report", self.good, "-o", os.path.join(self.tmp, "np-good"))
        failed = lambda err: int(err.split(" benchmark(s) FAILED")[0].rsplit(" ", 1)[-1])  # noqa: E731
        self.assertEqual(failed(r.stderr), failed(base.stderr) + 1, r.stderr)
        with open(os.path.join(self.tmp, "np-report", "summary.md"), encoding="utf-8") as f:
            top = f.read().split("\n## ", 2)[:2]
        self.assertIn(f"`{name}`", "".join(top))

        r = run("compare", self.good, self.not_passed, "--json", os.path.join(self.tmp, "np.json"), "--quiet")
        self.assertEqual(r.returncode, 1, r.stderr)
        with open(os.path.join(self.tmp, "np.json")) as f:
            rep = json.load(f)
        row = next(b for b in rep["benchmarks"] if b["name"] == name)
        self.assertEqual((row["verdict"], row["new_failure"], row["head"]["n"]), ("FAILED", True, 0))

        r = run("export", self.not_passed, "--format", "csv", "-o", os.path.join(self.tmp, "np.csv"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"{name}: validation failed", r.stderr)

        db = os.path.join(self.tmp, "np.db")
        r = run("history", "add", self.not_passed, "--db", db)
        self.assertEqual(r.returncode, 0, r.stderr)
        with sqlite3.connect(db) as con:
            self.assertEqual(con.execute("SELECT error FROM benchmarks WHERE name = ?", (name,)).fetchall(),
                             [("validation failed",)])
            self.assertEqual(con.execute("SELECT COUNT(*) FROM samples WHERE name = ?", (name,)).fetchone(), (0,))


if __name__ == "__main__":
    unittest.main()
