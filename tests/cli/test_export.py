"""`primbench export` (reports/export.py) on real results: every format parses with the reader's
own semantics, one entry per benchmark with a unique name, the right units (latency: the median
repetition's real_time in ns, fastest and slowest as bounds; bandwidth: the median algbw in
GB/s), no error exported as a value, a head that fails validation makes the export exit 1 and is
listed on stderr, bad input exits 2 with one line, and aggregates-only input gives the median
with no bounds. Also tests/cli/alerts.py, the alert counter used for the A/A and A/B figures.

Needs PRIMBENCH_BIN (the primbench executable) and PRIMBENCH_BROKEN_PLUGIN (the test plugin);
ctest sets both. Two small real runs, a few seconds in all.
"""
import csv
import io
import json
import math
import os
import statistics
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("PRIMBENCH_BIN", os.path.join(ROOT, "build/release/bench/primbench"))
PLUGIN = os.environ.get("PRIMBENCH_BROKEN_PLUGIN",
                        os.path.join(ROOT, "build/release/tests/libprimbench_broken.so"))
PYTHON = "/usr/bin/python3"
EXPORT = [PYTHON, os.path.join(ROOT, "reports", "export.py")]
ALERTS = [PYTHON, os.path.join(ROOT, "tests", "cli", "alerts.py")]
FAST = ["--min-time", "0.002", "--warmup", "0", "--repetitions", "3", "--ceilings", "20,10",
        "--validate", "1", "--quiet"]
FORMATS = ("bencher", "github", "github-bandwidth", "conbench", "csv")


def strict_json(text):
    """JSON.parse semantics: NaN and Infinity are not JSON."""
    def no_constant(c):
        raise ValueError(f"{c} is not JSON")
    return json.loads(text, parse_constant=no_constant)


def read_csv(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [dict(zip(rows[0], r)) for r in rows[1:]], rows[0]


def raw(path):
    """name -> {'times_ns', 'algbw', 'iterations', 'failed'} recomputed from the raw JSON."""
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for b in doc["benchmarks"]:
        name = b["run_name"].removesuffix("/manual_time")
        d = out.setdefault(name, {"times_ns": [], "algbw": [], "iterations": [], "failed": False,
                                  "aggregates": {}})
        if b.get("error_occurred") or b.get("validation") != "passed":
            d["failed"] = True
        elif b["run_type"] == "iteration":
            assert b["time_unit"] == "ns"
            d["times_ns"].append(b["real_time"])
            d["algbw"].append(b["algbw"])
            d["iterations"].append(b["iterations"])
        else:
            d["aggregates"][b["aggregate_name"]] = b
    return out


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.good = os.path.join(d, "good.json")
        r = subprocess.run([BIN, "run", "--impl", "seq.ref,thread.flat", "--primitive", "gather,reduce",
                            "--ranks", "2", "--count", "8,1K", "--out", cls.good, *FAST],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        # a head in which one implementation fails validation (odd rank counts)
        cls.bad = os.path.join(d, "bad.json")
        r = subprocess.run([BIN, "run", "--plugin", PLUGIN, "--impl", "seq.ref,bug.wrong_for_odd_ranks",
                            "--primitive", "gather", "--ranks", "3", "--count", "8,64",
                            "--out", cls.bad, *FAST], capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        cls.raw_good, cls.raw_bad = raw(cls.good), raw(cls.bad)
        cls.failing = sorted(n for n, v in cls.raw_bad.items() if v["failed"])
        assert cls.failing and len(cls.failing) < len(cls.raw_bad), cls.raw_bad.keys()
        # Google Benchmark's --benchmark_report_aggregates_only semantics (mean, median, stddev,
        # cv only): `run --aggregates-only` where this primbench has it, else the good file with
        # its per-repetition entries left out
        cls.aggs = os.path.join(d, "aggregates.json")
        helptext = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True,
                                  timeout=60).stdout
        if "--aggregates-only" in helptext:
            r = subprocess.run([BIN, "run", "--impl", "seq.ref,thread.flat", "--primitive", "gather,reduce",
                                "--ranks", "2", "--count", "8,1K", "--aggregates-only",
                                "--out", cls.aggs, *FAST], capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
        else:
            with open(cls.good) as f:
                doc = json.load(f)
            doc["benchmarks"] = [b for b in doc["benchmarks"] if b["run_type"] == "aggregate"]
            with open(cls.aggs, "w") as f:
                json.dump(doc, f)
        cls.raw_aggs = raw(cls.aggs)
        assert all(not v["times_ns"] and "median" in v["aggregates"] for v in cls.raw_aggs.values())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def export(self, *inputs, fmt, out=True, extra=()):
        """(returncode, output text, stderr)."""
        args = [*EXPORT, *inputs, "--format", fmt, *extra]
        path = None
        if out:
            fd, path = tempfile.mkstemp(dir=self.tmp.name, suffix="." + fmt)
            os.close(fd)
            os.unlink(path)
            args += ["-o", path]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        if path is None:
            return r.returncode, r.stdout, r.stderr
        self.assertEqual(r.stdout, "")
        text = None
        if os.path.exists(path):
            with open(path, newline="") as f:
                text = f.read()
        return r.returncode, text, r.stderr

    def names(self, fmt, text):
        if fmt == "bencher":
            return list(strict_json(text))
        if fmt in ("github", "github-bandwidth"):
            return [b["name"] for b in strict_json(text)]
        if fmt == "conbench":
            return [b["info"]["benchmark_name"] for b in strict_json(text)]
        return [r["name"] for r in read_csv(text)[0]]

    # ---------------------------------------------------------------- shapes and units

    def test_every_format_parses_with_one_uniquely_named_entry_per_benchmark(self):
        for fmt in FORMATS:
            with self.subTest(fmt=fmt):
                rc, text, err = self.export(self.good, fmt=fmt)
                self.assertEqual(rc, 0, err)
                names = self.names(fmt, text)
                self.assertEqual(len(names), len(set(names)))
                self.assertEqual(sorted(names), sorted(self.raw_good))
                self.assertFalse(any(n.endswith("/manual_time") for n in names))

    def test_latency_is_the_median_repetition_in_ns_with_fastest_and_slowest_as_bounds(self):
        bmf = strict_json(self.export(self.good, fmt="bencher")[1])
        gh = {b["name"]: b for b in strict_json(self.export(self.good, fmt="github")[1])}
        rows = {r["name"]: r for r in read_csv(self.export(self.good, fmt="csv")[1])[0]}
        cb = {b["info"]["benchmark_name"]: b for b in strict_json(self.export(self.good, fmt="conbench")[1])}
        for name, d in self.raw_good.items():
            with self.subTest(name=name):
                t = d["times_ns"]
                self.assertEqual(len(t), 3)
                med, lo, hi = statistics.median(t), min(t), max(t)
                lat = bmf[name]["latency"]
                self.assertTrue(close(lat["value"], med), (lat, t))
                self.assertTrue(close(lat["lower_value"], lo))
                self.assertTrue(close(lat["upper_value"], hi))
                self.assertEqual(gh[name]["unit"], "ns")
                self.assertTrue(close(gh[name]["value"], med))
                self.assertTrue(gh[name]["range"].startswith("± "))
                self.assertTrue(close(float(gh[name]["range"][2:]), (hi - lo) / 2, rel=1e-3))
                self.assertIn("repetitions: 3", gh[name]["extra"])
                self.assertIn("validation: passed", gh[name]["extra"])
                self.assertTrue(close(float(rows[name]["median_ns"]), med))
                self.assertTrue(close(float(rows[name]["min_ns"]), lo))
                self.assertTrue(close(float(rows[name]["max_ns"]), hi))
                self.assertEqual(rows[name]["repetitions"], "3")
                self.assertEqual(rows[name]["validation"], "passed")
                stats = cb[name]["stats"]
                self.assertEqual(stats["unit"], "s")
                self.assertEqual(len(stats["data"]), 3)
                for got, want in zip(stats["data"], t):
                    self.assertTrue(close(got, want * 1e-9))
                self.assertEqual(stats["iterations"], d["iterations"][0])

    def test_bandwidth_is_the_median_algbw_in_GBps(self):
        bmf = strict_json(self.export(self.good, fmt="bencher")[1])
        gh = {b["name"]: b for b in strict_json(self.export(self.good, fmt="github-bandwidth")[1])}
        rows = {r["name"]: r for r in read_csv(self.export(self.good, fmt="csv")[1])[0]}
        for name, d in self.raw_good.items():
            with self.subTest(name=name):
                bw = d["algbw"]
                med = statistics.median(bw)
                self.assertTrue(close(bmf[name]["algbw"]["value"], med))
                self.assertTrue(close(bmf[name]["algbw"]["lower_value"], min(bw)))
                self.assertTrue(close(bmf[name]["algbw"]["upper_value"], max(bw)))
                self.assertIn("peak-fraction", bmf[name])
                self.assertEqual(gh[name]["unit"], "GB/s")
                self.assertTrue(close(gh[name]["value"], med))
                self.assertTrue(close(float(rows[name]["algbw_GBps"]), med))
                # algbw in GB/s is bytes / time: consistent with the latency of the same entry
                self.assertGreater(gh[name]["value"], 0)

    def test_conbench_tags_and_context(self):
        cb = strict_json(self.export(self.good, fmt="conbench")[1])
        reduce = next(b for b in cb if b["tags"]["primitive"] == "reduce")
        self.assertEqual(reduce["tags"]["op"], "sum")
        for b in cb:
            for key in ("name", "primitive", "impl", "dtype", "ranks", "count", "root"):
                self.assertIsInstance(b["tags"][key], str)
                self.assertTrue(b["tags"][key])
            self.assertEqual(b["context"]["benchmark_language"], "C++")
            self.assertIn("primbench_version", b["info"])
            self.assertIn("host_name", b["info"])
            self.assertIn("primbench_command_line", b["info"])
            self.assertEqual(b["validation"], {"status": "passed"})
            self.assertNotIn("error", b)

    def test_stdout_is_the_default(self):
        rc, text, err = self.export(self.good, fmt="github", out=False)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(self.names("github", text)), sorted(self.raw_good))

    def test_output_is_replaced_atomically(self):
        out = os.path.join(self.tmp.name, "atomic", "bmf.json")
        os.makedirs(os.path.dirname(out))
        with open(out, "w") as f:
            f.write("old")
        r = subprocess.run([*EXPORT, self.good, "--format", "bencher", "-o", out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.listdir(os.path.dirname(out)), ["bmf.json"])  # no temporary left
        with open(out) as f:
            self.assertEqual(sorted(strict_json(f.read())), sorted(self.raw_good))

    # ---------------------------------------------------------------- failures

    def test_a_head_that_fails_validation_exits_1_and_exports_no_error_as_a_value(self):
        passing = sorted(n for n, v in self.raw_bad.items() if not v["failed"])
        for fmt in FORMATS:
            with self.subTest(fmt=fmt):
                rc, text, err = self.export(self.bad, fmt=fmt)
                self.assertEqual(rc, 1, err)
                self.assertIsNotNone(text, "the rest is still written")
                lines = err.strip().splitlines()
                for name in self.failing:
                    self.assertTrue(any(l.startswith(f"{name}: validation failed") for l in lines), err)
                self.assertIn("FAILED", lines[-1])
                self.assertEqual(len(lines), len(self.failing) + 1, err)
                if fmt == "csv":
                    rows = {r["name"]: r for r in read_csv(text)[0]}
                    self.assertEqual(sorted(rows), sorted(self.raw_bad))
                    for name in self.failing:
                        r = rows[name]
                        self.assertEqual(r["validation"], "failed")
                        self.assertIn("validation failed", r["error"])
                        for col in ("repetitions", "median_ns", "min_ns", "max_ns",
                                    "algbw_GBps", "busbw_GBps", "peak_fraction"):
                            self.assertEqual(r[col], "", col)
                    for name in passing:
                        self.assertGreater(float(rows[name]["median_ns"]), 0)
                else:
                    self.assertEqual(sorted(self.names(fmt, text)), passing)

    def test_nothing_exportable_exits_1(self):
        with open(self.bad) as f:
            doc = json.load(f)
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b.get("error_occurred")]
        only_failures = os.path.join(self.tmp.name, "only-failures.json")
        with open(only_failures, "w") as f:
            json.dump(doc, f)
        rc, text, err = self.export(only_failures, fmt="github")
        self.assertEqual(rc, 1, err)
        self.assertEqual(strict_json(text), [])
        empty = dict(doc, benchmarks=[])
        with open(only_failures, "w") as f:
            json.dump(empty, f)
        rc, text, err = self.export(only_failures, fmt="bencher")
        self.assertEqual(rc, 1, err)
        self.assertEqual(strict_json(text), {})
        self.assertIn("no benchmark to export", err)

    def test_bad_input_exits_2_with_one_line_and_writes_nothing(self):
        d = self.tmp.name

        def write(name, text):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write(text)
            return p
        with open(self.good) as f:
            good_text = f.read()
        foreign = json.loads(good_text)
        for b in foreign["benchmarks"]:
            b["name"] = b["run_name"] = "BM_Foo/8"
        cases = [
            ([os.path.join(d, "missing.json")], "bencher", "cannot read"),
            ([write("empty.json", "")], "github", "empty"),
            ([write("truncated.json", good_text[: len(good_text) // 2])], "csv", "not valid JSON"),
            ([write("foreign.json", '{"hello": 1}')], "conbench", "not Google Benchmark JSON"),
            ([write("notprimbench.json", json.dumps(foreign))], "bencher", "not a primbench name"),
            ([self.good, self.good], "bencher", "is in both"),
            ([self.good], "xml", "invalid choice"),
            ([self.good], None, "--format"),
        ]
        for inputs, fmt, expected in cases:
            with self.subTest(inputs=[os.path.basename(p) for p in inputs], fmt=fmt):
                out = os.path.join(d, "never.out")
                args = [*EXPORT, *inputs, "-o", out] + (["--format", fmt] if fmt else [])
                r = subprocess.run(args, capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertTrue(lines[0].startswith("error: "), lines[0])
                self.assertIn(expected, lines[0])
                self.assertEqual(r.stdout, "")
                self.assertFalse(os.path.exists(out))
        r = subprocess.run([*EXPORT, self.good, "--format", "csv", "-o", os.path.join(d, "no/such/dir/x.csv")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("cannot write", r.stderr)
        # The output may not be an input: the results would be replaced by the export.
        with open(self.good) as f:
            before = f.read()
        copy = write("copy.json", before)
        r = subprocess.run([*EXPORT, copy, "--format", "csv", "-o", copy], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is one of the inputs", r.stderr)
        with open(copy) as f:
            self.assertEqual(f.read(), before)
        # Numbers past a float, and inputs that never end or never come, are one line and exit 2.
        huge = json.loads(before)
        next(b for b in huge["benchmarks"] if b["run_type"] == "iteration")["real_time"] = 10 ** 400
        inf_counter = json.loads(before)
        next(b for b in inf_counter["benchmarks"] if b["run_type"] == "iteration")["algbw"] = 10 ** 400
        seconds = json.loads(before)
        b = next(b for b in seconds["benchmarks"] if b["run_type"] == "iteration")
        b["real_time"], b["time_unit"] = 1e300, "s"
        fifo_in = os.path.join(d, "fifo-in")
        os.mkfifo(fifo_in)
        for path, says in ((write("huge.json", json.dumps(huge)), "finite"),
                           (write("inf_counter.json", json.dumps(inf_counter)), "not a finite number"),
                           (write("seconds.json", json.dumps(seconds)), "too large to be a time"),
                           (fifo_in, "not a regular file"), ("/dev/zero", "not a regular file")):
            with self.subTest(input=os.path.basename(path)):
                r = subprocess.run([*EXPORT, path, "--format", "github"], capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                self.assertIn(says, r.stderr)
                self.assertEqual(r.stdout, "")
        # A device or FIFO is never renamed over (as root that would replace /dev/null for everyone).
        fifo = os.path.join(d, "fifo")
        os.mkfifo(fifo)
        r = subprocess.run([*EXPORT, self.good, "--format", "csv", "-o", fifo], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is not a regular file", r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))

    # ---------------------------------------------------------------- aggregates only

    def test_aggregates_only_gives_the_median_aggregate_and_no_bounds(self):
        bmf = strict_json(self.export(self.aggs, fmt="bencher")[1])
        gh = strict_json(self.export(self.aggs, fmt="github")[1])
        rows = {r["name"]: r for r in read_csv(self.export(self.aggs, fmt="csv")[1])[0]}
        cb = {b["info"]["benchmark_name"]: b for b in strict_json(self.export(self.aggs, fmt="conbench")[1])}
        rc, _, err = self.export(self.aggs, fmt="github")
        self.assertEqual(rc, 0, err)
        self.assertIn("aggregates only", err)
        self.assertEqual(sorted(bmf), sorted(self.raw_aggs))
        self.assertEqual(sorted(bmf), sorted(self.raw_good))
        for name, d in self.raw_aggs.items():
            with self.subTest(name=name):
                median = d["aggregates"]["median"]
                self.assertEqual(bmf[name]["latency"], {"value": bmf[name]["latency"]["value"]})
                self.assertTrue(close(bmf[name]["latency"]["value"], median["real_time"]))
                self.assertTrue(close(bmf[name]["algbw"]["value"], median["algbw"]))
                self.assertNotIn("lower_value", bmf[name]["algbw"])
                self.assertTrue(close(float(rows[name]["median_ns"]), median["real_time"]))
                self.assertEqual((rows[name]["min_ns"], rows[name]["max_ns"]), ("", ""))
                self.assertEqual(rows[name]["repetitions"], "3")
                self.assertEqual(len(cb[name]["stats"]["data"]), 1)
        for b in gh:
            self.assertNotIn("range", b)
            self.assertIn("bounds unknown", b["extra"])

    # ---------------------------------------------------------------- primbench export

    def test_primbench_export_dispatches_to_the_same_tool(self):
        probe = subprocess.run([BIN, "export", "--help"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0 or "primbench export" not in probe.stdout:
            self.skipTest("this primbench has no `export` subcommand yet")
        for fmt in FORMATS:
            with self.subTest(fmt=fmt):
                a = subprocess.run([BIN, "export", self.good, "--format", fmt],
                                   capture_output=True, text=True, timeout=60)
                b = subprocess.run([*EXPORT, self.good, "--format", fmt],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual((a.returncode, a.stdout), (b.returncode, b.stdout), a.stderr)
        r = subprocess.run([BIN, "export", self.bad, "--format", "github"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)

    # ---------------------------------------------------------------- alert counting

    def alerts(self, prev, cur, *extra):
        r = subprocess.run([*ALERTS, prev, cur, *extra], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [int(line.split(": ")[1].split()[0]) for line in r.stdout.splitlines()
                if line.startswith("threshold")]

    def slowed(self, fmt, factor, pick):
        """The export with one benchmark's values multiplied by factor."""
        text = self.export(self.good, fmt=fmt)[1]
        doc = strict_json(text)
        if fmt == "bencher":
            name = sorted(doc)[pick]
            for m in doc[name].values():
                for k in m:
                    m[k] *= factor
        else:
            doc[pick]["value"] *= factor
        a, b = (os.path.join(self.tmp.name, f"{fmt}-{x}.json") for x in ("prev", "cur"))
        with open(a, "w") as f:
            f.write(text)
        with open(b, "w") as f:
            json.dump(doc, f)
        return a, b

    def test_alerts_count_like_github_action_benchmark(self):
        a, b = self.slowed("github", 1.2, 0)  # one latency 20 % higher: worse
        self.assertEqual(self.alerts(a, a, "--threshold", "110%"), [0])
        self.assertEqual(self.alerts(a, b, "--threshold", "150%", "--threshold", "1.1"), [0, 1])
        a, b = self.slowed("github-bandwidth", 1 / 1.2, 0)  # one bandwidth 1.2x lower: worse
        self.assertEqual(self.alerts(a, b, "--threshold", "1.1"), [1])
        a, b = self.slowed("github-bandwidth", 1.2, 0)  # higher bandwidth: better, no alert
        self.assertEqual(self.alerts(a, b, "--threshold", "1.1"), [0])
        a, b = self.slowed("bencher", 1.2, 1)  # latency worse; algbw, peak fraction better
        self.assertEqual(self.alerts(a, b, "--threshold", "1.1"), [1])
        # the raw file as the googlecpp tool reads it: every repetition and aggregate compared,
        # under one name, with the previous file's first entry of that name
        r = subprocess.run([*ALERTS, self.good, self.good, "--threshold", "1000"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.good) as f:
            n = len(json.load(f)["benchmarks"])
        self.assertIn(f"of {n} compared", r.stdout)
        self.assertIn("[googlecpp]", r.stdout)


if __name__ == "__main__":
    unittest.main()
