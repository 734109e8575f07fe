"""Tests of the report generator (reports/report.py) on the fixtures in tests/reports/fixtures.

Run from the repository root:  /usr/bin/python3 -m unittest discover -s tests/reports -t .
"""
from __future__ import annotations

import colorsys
import copy
import csv
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "report.py"
FIX = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(ROOT / "reports"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_model  # noqa: E402
import report_plots  # noqa: E402
import results  # noqa: E402

CPU_IMPLS = ["seq.ref", "thread.flat", "thread.tree", "tbb.parallel_for"]
ALL_IMPLS = CPU_IMPLS + ["mpi4py.pickle", "mpi4py.buffer", "cuda.memcpy", "cuda.kernel",
                         "cuda.cub"]


def run_report(*args, out=None):
    cmd = [sys.executable, str(REPORT), *map(str, args)]
    if out is not None:
        cmd += ["-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def md_section(md: str, heading: str) -> str:
    """Text from a '## heading' line up to the next '## ' heading."""
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", md, re.S | re.M)
    assert m, f"no section {heading!r}"
    return m.group(1)


def summary_of(doc: dict, name: str = "doc.json") -> str:
    """The report's summary.md of one results document, written to a file named `name`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, name)
        path.write_text(json.dumps(doc))
        proc = run_report(path, out=Path(tmp, "out"))
        if proc.returncode != 0:
            raise AssertionError(proc.stderr)
        return Path(tmp, "out", "summary.md").read_text()


def fastest_rows(md: str, primitive: str) -> dict:
    """{(band, ranks): row cells} from a primitive's 'Fastest validated implementation' table."""
    sec = md_section(md, primitive)
    table = sec.split("### Fastest validated implementation", 1)[1].split("###", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = cells
    return rows


class MergedReport(unittest.TestCase):
    """A CPU run, a GPU run and the mpi4py peer merged into one report."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="primbench-report-")
        cls.out = Path(cls.tmp) / "report"
        cls.proc = run_report(FIX / "cpu.json", FIX / "gpu.json", FIX / "mpi4py.json",
                              out=cls.out)
        cls.md = (cls.out / "summary.md").read_text() if cls.proc.returncode == 0 else ""
        cls.html = (cls.out / "index.html").read_text() if cls.proc.returncode == 0 else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_exit_status_and_printed_path(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertEqual(self.proc.stdout.strip().splitlines()[-1],
                         f"report: {self.out / 'index.html'}")
        self.assertNotIn("Traceback", self.proc.stderr)
        self.assertIn("2 benchmark(s) FAILED validation", self.proc.stderr)

    def test_files_written(self):
        for name in ("index.html", "summary.md"):
            self.assertGreater((self.out / name).stat().st_size, 1000, name)
        for prim in ("gather", "scatter", "reduce"):
            for kind in ("time", "bandwidth", "speedup", "scaling"):
                png = self.out / f"{prim}_{kind}.png"
                svg = self.out / f"{prim}_{kind}.svg"
                self.assertEqual(png.read_bytes()[:8], b"\x89PNG\r\n\x1a\n", png)
                self.assertIn("<svg", svg.read_text()[:2000], svg)

    def test_html_is_self_contained(self):
        srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', self.html)
        self.assertEqual(len(srcs), 12)
        self.assertTrue(all(s.startswith("data:image/png;base64,") for s in srcs))
        self.assertNotRegex(self.html, r"<script[^>]*\ssrc=|<link[^>]*stylesheet|https?://")

    def test_every_implementation_shown(self):
        for impl in ALL_IMPLS:
            self.assertIn(impl, self.md, impl)
            self.assertIn(impl, self.html, impl)

    def test_fastest_per_band(self):
        gather = fastest_rows(self.md, "gather")
        for P in (1, 2, 4):
            self.assertEqual(gather[("< 8 KiB", P)][2], "**seq.ref**")
            self.assertEqual(gather[("1 – 64 MiB", P)][2], "**cuda.kernel**")
        reduce = fastest_rows(self.md, "reduce")
        self.assertEqual(reduce[("1 – 64 MiB", 4)][2], "**cuda.cub**")
        # the GPU results are held against the device ceiling: 937 GB/s of 1800 GB/s
        self.assertEqual(gather[("1 – 64 MiB", 4)][5], "937")
        self.assertRegex(gather[("1 – 64 MiB", 4)][6], r"^\d+(\.\d+)? % of device copy ceiling$")

    def test_a_device_reference_beside_each_benchmark_is_named_so(self):
        # Entries that say their ref_GBps was measured beside them (reference "beside", since
        # 2026-12-05) are of the reference device copy; with "ceiling" (a problem across several
        # GPUs), and in the fixture (from before references), of the device copy ceiling.
        doc = json.loads((FIX / "gpu.json").read_text())
        for e in doc["benchmarks"]:
            if e.get("run_type") == "iteration" and not e.get("error_occurred"):
                e.update(ceiling="device_copy", reference="beside", ref_GBps=1500.0,
                         peak_fraction=e["membw"] / 1500.0)
        for reference, label in (("beside", "reference device copy"), ("ceiling", "device copy ceiling")):
            for e in doc["benchmarks"]:
                if "reference" in e:
                    e["reference"] = reference
            gather = fastest_rows(summary_of(doc), "gather")
            self.assertRegex(gather[("1 – 64 MiB", 4)][6], rf"^\d+(\.\d+)? % of {label}$", reference)

    def test_failures_listed_prominently(self):
        top = self.md.split("## gather", 1)[0]
        self.assertIn("## ❌ Validation failures (2)", top)
        self.assertIn("`reduce/thread.tree/f32/sum/ranks:4/count:4096/root:0`", top)
        self.assertIn("rank 1 element 17: expected 3 got 0 (5 wrong)", top)
        self.assertIn("`scatter/thread.flat/f32/ranks:4/count:65536/root:0`", top)
        status = md_section(self.md, "Validation status")
        self.assertIn("| reduce | thread.tree | 14 | **1** | 0 |", status)
        self.assertIn("| scatter | thread.flat | 14 | **1** | 0 |", status)
        self.assertIn('id="failures"', self.html)
        # a failed implementation is never named fastest in a band where it failed
        row = fastest_rows(self.md, "reduce")[("8 KiB – 1 MiB", 4)]
        self.assertNotEqual(row[2], "**thread.tree**")
        self.assertIn("not eligible (failed validation): thread.tree", row[8])

    def test_speedup_and_scaling_tables(self):
        gather = md_section(self.md, "gather")
        self.assertIn("### Speedup over seq.ref", gather)
        self.assertRegex(gather, r"\| cuda\.kernel \| 15 \| [\d.]+× \|")
        self.assertIn("| implementation | P=1 | P=2 | P=4 |", gather)
        # mpi4py ran only at 2 and 4 ranks: shown, with a dash for P=1
        self.assertRegex(gather, r"\| mpi4py\.buffer \| – \| [\d.]+ µs \| [\d.]+ µs \|")

    def test_environment(self):
        env = md_section(self.md, "Environment")
        for text in ("abc1234", "def5678", "device-to-device copy 1800 GB/s",
                     "host memory copy 11.2 GB/s", "tbb 2021.8",
                     "cuda (unavailable: no CUDA device)",
                     "`primbench run --impl 'cuda.*' --out gpu.json`",
                     "`mpirun -n 4 python3 mpi4py_peer.py`"):
            self.assertIn(text, env)
        self.assertIn("NVIDIA H200", self.html)

    def test_missing_counters_noted(self):
        self.assertIn("mpi4py.json: 36 entries carry no 'bytes' counter", self.md)


class Plotting(unittest.TestCase):
    """What the figures draw, read back from the matplotlib figures themselves."""

    @classmethod
    def setUpClass(cls):
        srcs = [results.load(str(FIX / f)) for f in ("cpu.json", "gpu.json", "mpi4py.json")]
        cls.rep = report_model.build(srcs, "seq.ref")

    def lines(self, fig, title):
        ax = next(a for a in fig.axes if a.get_title() == title)
        out = {}
        for container in ax.containers:        # one ErrorbarContainer per implementation
            line = container.lines[0]
            out[container.get_label()] = list(line.get_xdata())
        return out

    def test_failures_never_plotted(self):
        for kind, make in report_plots.FIGURES:
            fig = make(self.rep, "reduce", "test")
            if kind == "scaling":
                for n, title in ((256, "count per rank = 256 elements"),
                                 (65536, "count per rank = 64K elements")):
                    self.assertIn("thread.tree", self.lines(fig, title))
                continue
            xs = self.lines(fig, "P = 4 ranks")["thread.tree"]
            bad_x = 4096 * 4 if kind == "bandwidth" else 4096   # bytes or count per rank
            self.assertNotIn(bad_x, xs, kind)
            self.assertTrue(xs, kind)
        # failed in one repetition of three: the whole benchmark is out
        fig = report_plots.time_figure(self.rep, "scatter", "test")
        xs = self.lines(fig, "P = 4 ranks")["thread.flat"]
        self.assertNotIn(65536, xs)
        self.assertIn(1048576, xs)

    def test_every_implementation_in_figures(self):
        fig = report_plots.time_figure(self.rep, "reduce", "test")
        shown = set(self.lines(fig, "P = 2 ranks"))
        self.assertEqual(shown, set(ALL_IMPLS))
        self.assertNotIn("mpi4py.buffer", self.lines(fig, "P = 1 rank"))   # never ran at P=1

    def test_error_bars_from_repetitions(self):
        p = next(p for p in self.rep.ok if p.impl == "thread.flat" and p.ranks == 2
                 and p.count == 4096 and p.primitive == "gather")
        self.assertEqual(len(p.times), 3)
        self.assertLess(p.lo, p.time)
        self.assertGreater(p.hi, p.time)

    def test_ceiling_lines(self):
        kinds = {k: (raw, at) for k, raw, at in self.rep.ceiling_lines("gather")}
        self.assertEqual(kinds["host_copy"][0], 11.2)
        self.assertAlmostEqual(kinds["host_copy"][1], 11.2, places=2)
        self.assertAlmostEqual(kinds["device_copy"][1], 1800, delta=1)

    def test_ceiling_line_per_rank_count(self):
        """peak_fraction from memory traffic that grows with P (reduce reads P inputs): the
        line sits where each panel's data reach 100 %, i.e. at ceiling / P in algbw."""
        res = results.load(str(FIX / "cpu.json"))
        for e in res.entries:
            if e.primitive == "reduce" and "peak_fraction" in e.counters:
                e.counters["peak_fraction"] *= e.ranks
        rep = report_model.build([res], "seq.ref")
        for P in (1, 2, 4):
            (kind, raw, at), = rep.ceiling_lines("reduce", P)
            self.assertEqual((kind, raw), ("host_read", 21.3))
            self.assertAlmostEqual(at, 21.3 / P, places=2)
        fig = report_plots.bandwidth_figure(rep, "reduce", "test")
        ax = next(a for a in fig.axes if a.get_title() == "P = 4 ranks")
        drawn = [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":"]
        self.assertEqual(len(drawn), 1)
        self.assertAlmostEqual(drawn[0], 21.3 / 4, places=2)

    def test_gbench_run_settings_stripped(self):
        self.assertEqual(report_model.problem_name(
            "gather/seq.ref/f32/ranks:1/count:1024/root:0/min_time:0.010/"
            "min_warmup_time:0.010/repeats:3/manual_time"),
            "gather/seq.ref/f32/ranks:1/count:1024/root:0")

    def test_colours_consistent_and_distinct(self):
        known = ["seq.ref", "thread.flat", "thread.tree", "tbb.parallel_for", "mpi.native",
                 "mpi.linear", "mpi.binomial", "mpi.persistent", "mpi.inplace",
                 "mpi.nonblocking", "mpi4py.pickle", "mpi4py.buffer", "cuda.memcpy",
                 "cuda.kernel", "cuda.cub", "myplugin.fancy"]
        pal = report_plots.palette(known)
        self.assertEqual(sorted(pal), sorted(known))     # the data's implementations, no more
        self.assertEqual(len({st["color"] for st in pal.values()}), len(known))
        self.assertEqual(pal, report_plots.palette(list(reversed(known))))
        # a hue per backend prefix: every shade of a backend keeps its hue
        def hue(c):
            return colorsys.rgb_to_hls(*(int(c[k:k + 2], 16) / 255 for k in (1, 3, 5)))[0]
        for backend in ("thread", "mpi", "cuda"):
            hues = [hue(st["color"]) for i, st in pal.items() if i.startswith(backend + ".")]
            for h in hues:     # hue is an angle: red sits at both 0 and 1
                d = abs(h - hues[0]) % 1.0
                self.assertLess(min(d, 1 - d), 0.01, (backend, hues))
        self.assertEqual(report_plots.style("thread.experimental"),
                         report_plots.style("thread.experimental"))
        # the colour is drawn in the figure, not only promised by the legend
        pal = report_plots.palette(self.rep.impls())
        fig = report_plots.time_figure(self.rep, "gather", "test")
        ax = next(a for a in fig.axes if a.get_title() == "P = 2 ranks")
        for c in ax.containers:
            self.assertEqual(c.lines[0].get_color(), pal[c.get_label()]["color"])

    def test_colours_listed_are_those_of_the_data(self):
        """Issue 15 item 6: the page lists swatches only for implementations that ran."""
        self.assertFalse(hasattr(report_plots, "KNOWN"))
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(run_report(FIX / "host_quiet.json", out=tmp).returncode, 0)
            html = Path(tmp, "index.html").read_text()
        glance = html.split('id="at-a-glance"', 1)[1].split("</div>", 1)[0]
        swatches = re.findall(r'class="swatch" style="background: (#[0-9a-f]{6})"></span>'
                              r'([\w.]+)', glance)
        pal = report_plots.palette(["seq.ref", "thread.flat"])
        self.assertEqual(swatches, [(pal[i]["color"], i) for i in ("seq.ref", "thread.flat")])


class CpuOnly(unittest.TestCase):
    def test_fastest_without_gpu(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "cpu.json", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = Path(tmp, "summary.md").read_text()
        for prim in ("gather", "scatter", "reduce"):
            rows = fastest_rows(md, prim)
            for P in (1, 2, 4):
                self.assertEqual(rows[("< 8 KiB", P)][2], "**seq.ref**", (prim, P))
                self.assertEqual(rows[("1 – 64 MiB", P)][2], "**tbb.parallel_for**", (prim, P))
        rows = fastest_rows(md, "gather")
        self.assertEqual(rows[("8 KiB – 1 MiB", 4)][2], "**thread.flat**")
        # thread.flat (4 µs + b / 8 GB/s) over tbb (6.8 µs + b / 10.5 GB/s) at b = 1 MiB and
        # 16 MiB: 1.266 and 1.309, geometric mean 1.29
        self.assertEqual(rows[("1 – 64 MiB", 4)][7], "thread.flat (1.29× slower)")
        self.assertNotIn("cuda", md_section(md, "gather"))
        # 1 KiB in 541 ns is 1.89 GB/s: 16.9 % of the 11.2 GB/s host copy ceiling; median
        # with the 16-element problem (2.6 %) gives 9.74 %
        # an older file: its peak_fraction counter is against the start-of-run ceiling
        self.assertEqual(rows[("< 8 KiB", 1)][6], "9.74 % of host copy ceiling")
        self.assertTrue(fastest_rows(md, "reduce")[("< 8 KiB", 1)][6].endswith(
            "of host read ceiling"))


class Options(unittest.TestCase):
    def test_baseline_choice(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "cpu.json", "--baseline", "thread.flat", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = Path(tmp, "summary.md").read_text()
            self.assertIn("### Speedup over thread.flat", md)
            self.assertRegex(md_section(md, "gather"), r"\| seq\.ref \| 15 \|")

    def test_missing_baseline_said_so(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "gpu.json", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = Path(tmp, "summary.md").read_text()
            html = Path(tmp, "index.html").read_text()
            self.assertIn("Baseline 'seq.ref' is not in the results", md)
            self.assertIn("choose one with --baseline from: cuda.cub, cuda.kernel, cuda.memcpy",
                          md)
            self.assertIn("has no passing results for gather", html)
            self.assertFalse(Path(tmp, "gather_speedup.png").exists())
            self.assertTrue(Path(tmp, "gather_time.png").exists())

    def test_duplicates_across_files(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "cpu.json", FIX / "cpu.json", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = Path(tmp, "summary.md").read_text()
        self.assertIn("benchmarks: ", md)
        self.assertIn("(given later) are shown", md)
        self.assertIn("**186 benchmarks", md)

    def test_stale_figures_removed(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(run_report(FIX / "cpu.json", out=tmp).returncode, 0)
            self.assertTrue(Path(tmp, "reduce_time.png").exists())
            Path(tmp, "notes.png").write_bytes(b"mine")
            self.assertEqual(run_report(FIX / "empty.json", out=tmp).returncode, 0)
            self.assertFalse(Path(tmp, "reduce_time.png").exists())
            self.assertTrue(Path(tmp, "notes.png").exists())   # not ours: left alone


class EmptyResults(unittest.TestCase):
    def test_empty_says_so(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "empty.json", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("no benchmark results", proc.stderr)
            html = Path(tmp, "index.html").read_text()
            md = Path(tmp, "summary.md").read_text()
            self.assertIn('id="no-results"', html)
            self.assertIn("No benchmark results", html)
            self.assertIn("**No benchmark results in the input files.**", md)
            self.assertIn("cuda (unavailable: no CUDA device)", md)
            self.assertEqual(list(Path(tmp).glob("*.png")), [])


class BadInput(unittest.TestCase):
    def assert_one_line_error(self, proc, *needles):
        self.assertEqual(proc.returncode, 2, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, proc.stderr)
        self.assertTrue(lines[0].startswith("error: "), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertEqual(proc.stdout, "")

    def test_bad_files(self):
        cases = {"truncated.json": "not valid JSON (truncated or corrupt?)",
                 "foreign.json": "not Google Benchmark JSON",
                 "gbench_foreign.json": "is not a primbench name",
                 "missing.json": "cannot read"}
        with tempfile.TemporaryDirectory() as tmp:
            empty = Path(tmp, "zero.json")
            empty.write_text("")
            for name, why in cases.items():
                with self.subTest(name=name):
                    proc = run_report(FIX / "cpu.json", FIX / name, out=Path(tmp, "out"))
                    self.assert_one_line_error(proc, str(FIX / name), why)
            self.assert_one_line_error(run_report(empty, out=Path(tmp, "out")),
                                       "file is empty")
            self.assert_one_line_error(run_report(FIX, out=Path(tmp, "out")), "is not a regular file")
            self.assertFalse(Path(tmp, "out", "index.html").exists())

    def test_fields_of_the_wrong_type(self):
        """A context or entry field of another type than the one primbench writes is bad input
        (results.load checks them all): one line, exit status 2, never a traceback."""
        cases = {
            "primbench_list.json": (lambda d: d["context"].__setitem__("primbench", [1, 2]),
                                    "context.primbench is an array, expected an object"),
            "primbench_string.json": (lambda d: d["context"].__setitem__("primbench", "x"),
                                      "context.primbench is a string, expected an object"),
            "revision.json": (lambda d: d["context"]["primbench"].__setitem__("git_revision", {}),
                              "context.primbench.git_revision is an object, expected a string"),
            "backends.json": (lambda d: d["context"]["primbench"].__setitem__("backends", []),
                              "context.primbench.backends is an array, expected an object"),
            "caches.json": (lambda d: d["context"].__setitem__("caches", 3),
                            "context.caches is a number, expected an array"),
            "date.json": (lambda d: d["context"].__setitem__("date", True),
                          "context.date is true or false, expected a string"),
            "validation.json": (lambda d: d["benchmarks"][0].__setitem__("validation", ["failed"]),
                                "has a validation that is not a string"),
            "error_occurred.json": (lambda d: d["benchmarks"][0].__setitem__("error_occurred", "no"),
                                    "error_occurred that is not true or false"),
        }
        doc = json.loads((FIX / "cpu.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            for name, (change, why) in cases.items():
                with self.subTest(name=name):
                    bad = copy.deepcopy(doc)
                    change(bad)
                    path = Path(tmp, name)
                    path.write_text(json.dumps(bad))
                    proc = run_report(path, out=Path(tmp, "out"))
                    self.assertNotIn("Traceback", proc.stderr)
                    self.assert_one_line_error(proc, str(path), why)
            self.assertFalse(Path(tmp, "out", "index.html").exists())
        # null is absent, as in files that lack the field
        ok = copy.deepcopy(doc)
        ok["context"]["primbench"] = None
        ok["context"]["caches"] = None
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "null.json").write_text(json.dumps(ok))
            res = results.load(str(Path(tmp, "null.json")))
            self.assertEqual(res.primbench, {})

    def test_a_rotating_root_is_read_labelled_and_exported(self):
        # --root rotate: root:rotate in the name (root -1 in the counter), "root rotate" in the
        # report, "rotate" in the exports; root:rotat is no primbench name.
        doc = json.loads((FIX / "cpu.json").read_text())
        doc["benchmarks"] = [b for b in doc["benchmarks"] if "/root:0" in b["name"] and b.get("primitive") == "gather"]
        for b in doc["benchmarks"]:
            for key in ("name", "run_name"):
                b[key] = b[key].replace("/root:0", "/root:rotate")
            b["root"] = -1
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "rotate.json")
            path.write_text(json.dumps(doc))
            res = results.load(str(path))
            self.assertTrue(res.entries)
            self.assertEqual({e.root for e in res.entries}, {results.ROOT_ROTATE})
            proc = run_report(path, out=Path(tmp, "out"))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("root rotate", Path(tmp, "out", "index.html").read_text())
            csv = subprocess.run([sys.executable, str(ROOT / "reports" / "export.py"), "--format", "csv", str(path)],
                                 capture_output=True, text=True)
            self.assertEqual(csv.returncode, 0, csv.stderr)
            self.assertIn(",rotate,", csv.stdout)
            doc["benchmarks"][0]["name"] = doc["benchmarks"][0]["name"].replace("root:rotate", "root:rotat")
            doc["benchmarks"][0]["run_name"] = doc["benchmarks"][0]["run_name"].replace("root:rotate", "root:rotat")
            path.write_text(json.dumps(doc))
            self.assert_one_line_error(run_report(path, out=Path(tmp, "out2")), "is not a primbench name")

    def test_bad_arguments(self):
        with tempfile.TemporaryDirectory() as tmp:
            cases = {(): "required",
                     (str(FIX / "cpu.json"),): "-o/--out",
                     (str(FIX / "cpu.json"), "-o", tmp, "--bogus"): "unrecognized arguments",
                     (str(FIX / "cpu.json"), "-o"): "expected one argument"}
            for args, why in cases.items():
                with self.subTest(args=args):
                    self.assert_one_line_error(run_report(*args), why, "usage:")

    def test_unwritable_output(self):
        with tempfile.TemporaryDirectory() as tmp:
            blocker = Path(tmp, "file")
            blocker.write_text("x")
            proc = run_report(FIX / "cpu.json", out=blocker / "sub")
            self.assert_one_line_error(proc, "cannot create output directory")


class ValidationNotPassed(unittest.TestCase):
    """An entry whose validation is failed or error is a failure even without error_occurred:
    listed as failed, never a timing (results.load gives it the error)."""
    FAILED = "gather/thread.flat/f32/ranks:2/count:4096/root:0"   # every entry: failed
    ERROR = "reduce/seq.ref/f32/sum/ranks:2/count:4096/root:0"    # one repetition: error

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="primbench-report-")
        doc = json.loads((FIX / "cpu.json").read_text())
        for b in doc["benchmarks"]:   # times kept, as a writer that forgot error_occurred leaves them
            if b["run_name"] == cls.FAILED:
                b["validation"] = "failed"
            elif b["run_name"] == cls.ERROR and b.get("repetition_index") == 1:
                b["validation"] = "error"
            elif "error_occurred" not in b:
                b["validation"] = "passed"
        cls.path = Path(cls.tmp, "validation.json")
        cls.path.write_text(json.dumps(doc))
        cls.res = results.load(str(cls.path))
        cls.out = Path(cls.tmp, "out")
        cls.proc = run_report(cls.path, out=cls.out)
        cls.md = (cls.out / "summary.md").read_text() if cls.proc.returncode == 0 else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_loaded_as_failures(self):
        mine = [e for e in self.res.entries if e.name in (self.FAILED, self.ERROR)]
        bad = [e for e in mine if e.validation in ("failed", "error")]
        self.assertEqual(len(bad), sum(e.name == self.FAILED for e in mine) + 1)
        for e in bad:
            self.assertTrue(e.failed, e)
            self.assertIsNone(e.time_s)
            self.assertEqual(e.error, f"validation {e.validation}")
        self.assertNotIn(self.FAILED, self.res.samples())
        self.assertEqual(len(self.res.samples()[self.ERROR]), 2)
        self.assertEqual(set(self.res.failures()) - {self.FAILED, self.ERROR},
                         {e.name for e in self.res.entries if e.error and e.error.startswith("validation failed: ")})

    def test_reported_failed_never_timed(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertNotIn("Traceback", self.proc.stderr)
        self.assertIn("4 benchmark(s) FAILED validation", self.proc.stderr)
        top = self.md.split("## gather", 1)[0]
        self.assertIn("## ❌ Validation failures (4)", top)
        self.assertIn(f"`{self.FAILED}`", top)
        self.assertIn(f"`{self.ERROR}`", top)
        rep = report_model.build([self.res], "seq.ref")
        failed = {p.name for p in rep.failures}
        self.assertTrue({self.FAILED, self.ERROR} <= failed)
        self.assertFalse({p.name for p in rep.ok} & {self.FAILED, self.ERROR})
        fig = report_plots.time_figure(rep, "gather", "test")
        ax = next(a for a in fig.axes if a.get_title() == "P = 2 ranks")
        xs = next(c.lines[0].get_xdata() for c in ax.containers if c.get_label() == "thread.flat")
        self.assertNotIn(4096, list(xs))
        self.assertIn(256, list(xs))


BUSY_TEXT = {   # host_busy.json (make_fixtures.BUSY): the benchmarks the report must flag
    "gather/thread.flat/f32/ranks:2/count:1048576/root:0":
        "(busy: steal 12 %, others 35 % of CPU, load 5.2 on 2 cores)",
    "reduce/seq.ref/f32/sum/ranks:2/count:1024/root:0":
        "(busy: steal 0 %, others 10 % of CPU, load 1.3 on 2 cores)",
    "reduce/thread.flat/f32/sum/ranks:2/count:1048576/root:0":
        "(busy: steal 5 %, others 0 % of CPU, load 0.5 on 2 cores)",
}


def html_entry_rows(html: str) -> dict:
    """{benchmark: (tr attributes, [cell texts])} from the page's list of all entries."""
    table = html.split("<summary>All ", 1)[1].split("</table>", 1)[0]
    rows = {}
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>",
                                                                          body, re.S)]
        if cells:
            rows[cells[0]] = (attrs, cells)
    return rows


class OutputOverInput(unittest.TestCase):
    """The report writes index.html, summary.md and its figures into -o DIR: an input among them
    is refused before anything is written, and so is an empty -o (the current directory)."""

    def test_an_input_the_report_would_replace_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "x")
            out.mkdir()
            data = (FIX / "cpu.json").read_text()
            for name in ("summary.md", "index.html", "gather_time.png", "reduce_scaling.svg"):
                with self.subTest(name=name):
                    victim = out / name
                    victim.write_text(data)
                    proc = run_report(victim, out=out)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)
                    self.assertIn("is one of the inputs; the report would replace the results", proc.stderr)
                    self.assertEqual(victim.read_text(), data)
                    self.assertEqual(sorted(p.name for p in out.iterdir()), [name])
                    victim.unlink()
            # an input beside them in the same directory is no output: reported
            (out / "cpu.json").write_text(data)
            proc = run_report(out / "cpu.json", out=out)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual((out / "cpu.json").read_text(), data)

    def test_empty_output_directory_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([sys.executable, str(REPORT), str(FIX / "cpu.json"), "-o", ""],
                                  capture_output=True, text=True, timeout=300, cwd=tmp)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("-o: empty output directory name", proc.stderr)
            self.assertEqual(os.listdir(tmp), [])


class NoValidationRecorded(unittest.TestCase):
    """primbench writes `validation` on every entry; a benchmark whose entries lack it is no
    validated timing: not counted as passed, not ranked, exported as unknown (not 'passed')."""
    NAME = "gather/seq.ref/f32/ranks:2/count:16/root:0"   # the fastest gather at 16 elements

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="primbench-report-")
        doc = json.loads((FIX / "cpu.json").read_text())
        for b in doc["benchmarks"]:
            if b["run_name"] == cls.NAME:
                del b["validation"]
        cls.path = Path(cls.tmp, "noval.json")
        cls.path.write_text(json.dumps(doc))
        cls.out = Path(cls.tmp, "out")
        cls.proc = run_report(cls.path, out=cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_loaded_as_no_timing(self):
        res = results.load(str(self.path))
        mine = [e for e in res.entries if e.name == self.NAME]
        self.assertTrue(mine and all(e.unvalidated and not e.timed for e in mine))
        self.assertNotIn(self.NAME, res.samples())
        self.assertEqual(res.unvalidated(), {self.NAME})

    def test_report_does_not_count_or_rank_it(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        md = (self.out / "summary.md").read_text()
        rep = report_model.build([results.load(str(self.path))], "seq.ref")
        point = next(p for p in rep.points if p.name == self.NAME)
        self.assertEqual((point.ok, point.status), (False, "not validated"))
        self.assertNotIn(point, rep.ok)
        n = len(rep.points)
        self.assertIn(f"**{n} benchmarks: {n - 1 - len(rep.failures)} passed validation and were timed", md)
        self.assertIn("1 not validated (no validation recorded)", md)
        self.assertIn("1 benchmark(s) record no validation", md)
        # it wins no problem: the others of the problem still ran it
        full = report_model.build([results.load(str(FIX / "cpu.json"))], "seq.ref")
        band = lambda r: [(x["wins"], x["problems"]) for x in r.fastest("gather")
                          if x["ranks"] == 2 and x["band"] == "< 8 KiB"]
        ((wins, problems),) = band(full)
        self.assertEqual(band(rep), [(wins - 1, problems)])
        html = (self.out / "index.html").read_text()
        self.assertIn("not validated", html)

    def test_export_writes_its_state_not_passed(self):
        proc = subprocess.run([sys.executable, str(ROOT / "reports" / "export.py"), str(self.path),
                               "--format", "csv"], capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        row = next(r for r in csv.DictReader(io.StringIO(proc.stdout)) if r["name"] == self.NAME)
        self.assertEqual((row["validation"], row["median_ns"]), ("unknown", ""))
        self.assertIn("no validation recorded", row["error"])
        self.assertIn(f"{self.NAME}: no validation recorded", proc.stderr)
        github = subprocess.run([sys.executable, str(ROOT / "reports" / "export.py"), str(self.path),
                                 "--format", "github"], capture_output=True, text=True, timeout=300)
        self.assertNotIn(self.NAME, [b["name"] for b in json.loads(github.stdout)])


class Contention(unittest.TestCase):
    """A benchmark whose last repetition saw steal >= 5 % or others >= 10 % is flagged."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="primbench-report-")
        cls.out = {}
        for name in ("host_busy", "host_quiet"):
            out = Path(cls.tmp, name)
            proc = run_report(FIX / f"{name}.json", out=out)
            cls.out[name] = (proc, (out / "summary.md").read_text() if proc.returncode == 0
                             else "", (out / "index.html").read_text()
                             if proc.returncode == 0 else "")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_busy_file_flagged(self):
        proc, md, html = self.out["host_busy"]
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("report: 3 benchmark(s) measured under contention", proc.stderr)
        top = md.split("## gather", 1)[0]
        self.assertIn("⚠ 3 of 8 benchmarks measured under contention: steal up to 12 %, "
                      "others up to 35 % of CPU while they ran", top)
        listed = md_section(md, "⚠ Measured under contention (3)")
        rows = dict(re.findall(r"^\| `([^`]+)` \| [^|]+ \| (\(busy: [^)]*\)) \|$", listed, re.M))
        self.assertEqual(rows, BUSY_TEXT)
        # the same note, summary line and row marks on the page
        self.assertIn('id="contention"', html)
        self.assertIn("3 of 8 benchmarks measured under contention", html)
        for name, text in BUSY_TEXT.items():
            self.assertIn(text, html.split('id="contention"', 1)[1].split("</div>", 1)[0])
        entries = html_entry_rows(html)
        self.assertEqual({n for n, (attrs, _) in entries.items() if 'class="busy"' in attrs},
                         set(BUSY_TEXT))
        for name, text in BUSY_TEXT.items():
            self.assertIn("busy" + text, entries[name][1][1])

    def test_last_repetition_decides(self):
        """Busy early but not over the whole benchmark, or just under both lines: not busy."""
        _, md, html = self.out["host_busy"]
        for name in ("gather/seq.ref/f32/ranks:2/count:1024/root:0",
                     "gather/seq.ref/f32/ranks:2/count:1048576/root:0"):
            self.assertNotIn(name, md)
            self.assertNotIn('class="busy"', html_entry_rows(html)[name][0])

    def test_rankings_resting_on_busy_measurements_say_so(self):
        _, md, _ = self.out["host_busy"]
        gather = fastest_rows(md, "gather")
        self.assertEqual(gather[("1 – 64 MiB", 2)][8],
                         "⚠ rests on 1 measurement under contention: thread.flat (P=2, n=1M)")
        self.assertEqual(gather[("8 KiB – 1 MiB", 2)][8], "")
        reduce = fastest_rows(md, "reduce")
        self.assertEqual(reduce[("< 8 KiB", 2)][8],
                         "⚠ rests on 1 measurement under contention: seq.ref (P=2, n=1K)")
        self.assertIn("thread.flat (P=2, n=1M)", reduce[("1 – 64 MiB", 2)][8])
        self.assertRegex(md_section(md, "gather"), r"\| thread\.flat \| 2 \| [\d.]+× \| .* \| "
                                                   r"⚠ 1 of 2 under contention \|")

    def test_busy_points_ringed_in_figures(self):
        rep = report_model.build([results.load(str(FIX / "host_busy.json"))], "seq.ref")
        fig = report_plots.time_figure(rep, "gather", "test")
        ax = next(a for a in fig.axes if a.get_title() == "P = 2 ranks")
        rings = {c.get_label(): [x for x, _ in c.get_offsets()] for c in ax.collections
                 if c.get_label().endswith("(busy)")}
        self.assertEqual(rings, {"thread.flat (busy)": [1048576]})
        legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
        self.assertIn("measured under contention\n(busy machine)", legend)

    def test_quiet_file_not_flagged(self):
        proc, md, html = self.out["host_quiet"]
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("under contention (marked", proc.stderr)
        self.assertIn("0 of 8 benchmarks measured under contention", md)
        self.assertNotIn("⚠", md)
        self.assertNotIn("Measured under contention (", md)
        self.assertNotIn('id="contention"', html)
        self.assertNotIn('class="busy"', html)
        self.assertNotIn("(busy:", html)

    def test_aggregates_only(self):
        """Without repetition entries the median aggregate's machine state is used."""
        doc = json.loads((FIX / "host_busy.json").read_text())
        doc["benchmarks"] = [b for b in doc["benchmarks"] if b["run_type"] == "aggregate"]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "aggregates.json")
            path.write_text(json.dumps(doc))
            rep = report_model.build([results.load(str(path))], "seq.ref")
        busy = {p.name: p.busy for p in rep.busy}
        self.assertEqual(busy["gather/thread.flat/f32/ranks:2/count:1048576/root:0"],
                         "busy: steal 11 %, others 33 % of CPU, load 5.0 on 2 cores")

    def test_host_state_in_environment(self):
        _, md, html = self.out["host_quiet"]
        env = md_section(md, "Environment")
        self.assertIn("transparent huge pages madvise (defrag madvise); frequency governor "
                      "unreadable; 2 online CPUs; huge pages used by the benchmarks: none", env)
        self.assertIn("<th>host state</th><td>transparent huge pages madvise", html)

    @unittest.skipUnless(os.environ.get("PRIMBENCH_BIN"),
                         "PRIMBENCH_BIN not set: the console's busy rows are not compared")
    def test_same_words_as_the_console(self):
        """Whatever the machine's state, the report flags exactly the rows the console did,
        with the same words."""
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "run.json")
            run = subprocess.run([os.environ["PRIMBENCH_BIN"], "run", "--impl",
                                  "seq.ref,thread.flat", "--primitive", "gather",
                                  "--ranks", "2", "--count", "1K", "--out", str(out)],
                                 capture_output=True, text=True, timeout=300)
            self.assertEqual(run.returncode, 0, run.stderr)
            console = {}
            for line in run.stdout.splitlines():
                m = re.match(r"^(\S+/root:\d+)\s.*?passed(?:  \((busy: [^)]*)\))?$", line)
                if m:
                    console[m.group(1)] = m.group(2) or ""
            rep = report_model.build([results.load(str(out))], "seq.ref")
        self.assertTrue(console, run.stdout)
        self.assertEqual({p.name: p.busy for p in rep.ok}, console)


class PeakFraction(unittest.TestCase):
    """peak_fraction is shown as written: the median iteration's rate over the reference beside each benchmark."""

    @classmethod
    def setUpClass(cls):
        cls.res = results.load(str(FIX / "host_quiet.json"))
        cls.rep = report_model.build([cls.res], "seq.ref")
        cls.tmp = tempfile.mkdtemp(prefix="primbench-report-")
        proc = run_report(FIX / "host_quiet.json", out=cls.tmp)
        assert proc.returncode == 0, proc.stderr
        cls.md = Path(cls.tmp, "summary.md").read_text()
        cls.html = Path(cls.tmp, "index.html").read_text()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def counters(self, name, key):
        return [e.counters[key] for e in self.res.entries
                if e.name == name and e.run_type == "iteration"]

    def test_counter_used_as_written(self):
        ceilings = report_model.file_ceilings(self.res.context)
        recomputed_differs = 0
        for p in self.rep.ok:
            self.assertEqual(p.fraction_basis, "reference")
            self.assertEqual(p.peak_fraction,
                             statistics.median(self.counters(p.name, "peak_fraction")))
            self.assertEqual(p.ceiling_fraction,
                             statistics.median(self.counters(p.name, "ceiling_fraction")))
            old = p.algbw / ceilings[p.ceiling]
            recomputed_differs += abs(old / p.peak_fraction - 1) > 0.5
        self.assertGreater(recomputed_differs, 0)   # so a recomputation would be caught
        self.assertNotIn("computed", " ".join(self.rep.notes))

    def test_shown_equals_counter(self):
        entries = html_entry_rows(self.html)
        for p in self.rep.ok:
            cells = entries[p.name][1]
            self.assertEqual(cells[7], f"{100 * p.peak_fraction:.3g} %", p.name)
            self.assertEqual(cells[8], f"{100 * p.ceiling_fraction:.3g} %", p.name)
        # a band with one problem: the fastest row shows that benchmark's counter
        row = fastest_rows(self.md, "gather")[("8 KiB – 1 MiB", 2)]
        p = next(p for p in self.rep.ok if p.impl == row[2].strip("*") and p.count == 1024
                 and p.primitive == "gather")
        self.assertEqual(row[6], f"{100 * p.peak_fraction:.3g} % of reference copy")
        self.assertTrue(fastest_rows(self.md, "reduce")[("< 8 KiB", 2)][6].endswith(
            "% of reference read-P-write-1"))

    def test_explained(self):
        self.assertIn("its median iteration's rate over the reference measured beside each benchmark", self.md)
        self.assertIn("reference measured beside each benchmark", self.html)
        self.assertIn("reference read-P-write-1\nbeside each benchmark", "\n".join(
            t.get_text() for t in report_plots.bandwidth_figure(self.rep, "reduce", "t")
            .axes[-1].get_legend().get_texts()))

    def test_unmeasured_reference_is_no_fraction(self):
        res = results.load(str(FIX / "host_quiet.json"))
        for e in res.entries:
            if e.impl == "thread.flat":
                e.counters.update(ref_GBps=0.0, peak_fraction=0.0)
        rep = report_model.build([res], "seq.ref")
        self.assertTrue(all(p.peak_fraction is None for p in rep.ok if p.impl == "thread.flat"))
        self.assertIn("4 entries have no fraction of peak: their reference was not measured "
                      "(ref_GBps 0).", rep.notes)


class OldFiles(unittest.TestCase):
    """Files from before the reference and the machine state still render, labelled."""

    def test_old_file_without_new_counters(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "cpu.json", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = Path(tmp, "summary.md").read_text()
            html = Path(tmp, "index.html").read_text()
        self.assertNotIn("under contention", md)
        self.assertNotIn('id="contention-summary"', html)
        self.assertIn("entries were written before primbench measured a reference beside "
                      "each benchmark", md)
        self.assertIn("<th>host state</th><td>not recorded</td>", html)

    def test_old_file_without_peak_fraction_is_computed_and_labelled(self):
        doc = json.loads((FIX / "cpu.json").read_text())
        for b in doc["benchmarks"]:
            b.pop("peak_fraction", None)
        md = summary_of(doc, "old.json")
        self.assertEqual(fastest_rows(md, "gather")[("< 8 KiB", 1)][6],
                         "9.74 % of host copy ceiling (computed)")
        self.assertRegex(md, r"old\.json: \d+ entries carry no 'peak_fraction' counter; "
                             r"computed here as membw")

    def test_old_and_new_merged(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = run_report(FIX / "cpu.json", FIX / "host_busy.json", out=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            md = Path(tmp, "summary.md").read_text()
        # cpu.json's 184 timed benchmarks less the 4 that host_busy.json (given later) replaces
        self.assertRegex(md, r"3 of 8 benchmarks measured under contention: .* 180 more "
                             r"record no machine state\.")
        self.assertIn("(mixed: reference and ceiling)", md)


# The new primitives' nccl-tests size (in blocks of count elements), busbw / algbw and the
# ceiling their entries name; alltoall is made up: the report must not know any of them.
NEW_PRIMITIVES = {"broadcast": (lambda P: 1, lambda P: 1.0, "host_read"),
                  "allreduce": (lambda P: 1, lambda P: 2 * (P - 1) / P, "host_copy"),
                  "alltoall": (lambda P: P, lambda P: (P - 1) / P, "host_copy")}


def new_primitives_doc() -> dict:
    """cpu.json's gather entries of seq.ref and thread.flat, then copies of them as each of
    NEW_PRIMITIVES (in that order: broadcast before allreduce) with the bytes, algbw, busbw,
    ceiling and (against the named ceiling) peak_fraction such entries would carry.
    allreduce/thread.flat at P=4, n=64K failed (no counters, as a failed entry is)."""
    doc = json.loads((FIX / "cpu.json").read_text())
    ceilings = {"host_read": 21.3, "host_copy": 11.2}
    gather = [b for b in doc["benchmarks"] if b["run_name"].startswith("gather/")
              and "/thread.tree/" not in b["run_name"] and "/tbb." not in b["run_name"]]
    out = list(gather)
    for prim, (blocks, bus, ceiling) in NEW_PRIMITIVES.items():
        for b in gather:
            b = copy.deepcopy(b)
            head, rest = b["run_name"].split("/", 1)
            impl, dtype, tail = rest.split("/", 2)
            run_name = f"{prim}/{impl}/{dtype}{'/sum' if prim == 'allreduce' else ''}/{tail}"
            b["name"] = b["name"].replace(b["run_name"], run_name)
            b["run_name"] = run_name
            if "primitive" in b:
                b["primitive"] = prim
                if prim == "allreduce":
                    b["op"] = "sum"
            if "bytes" in b:
                P, n = b["ranks"], b["count"]
                b["bytes"] = blocks(P) * n * 4
                b["algbw"] = b["membw"] = b["bytes"] / b["real_time"]   # ns: GB/s
                b["busbw"] = b["algbw"] * bus(P)
                b["peak_fraction"] = b["membw"] / ceilings[ceiling]
                b["ceiling"] = ceiling
            out.append(b)
    failed = "allreduce/thread.flat/f32/sum/ranks:4/count:65536/root:0"
    out = [b for b in out if b["run_name"] != failed]
    out.append({"name": failed + "/manual_time", "run_name": failed, "run_type": "iteration",
                "repetitions": 3, "repetition_index": 0, "threads": 1, "time_unit": "ns",
                "error_occurred": True, "iterations": 0, "real_time": 0, "cpu_time": 0,
                "error_message": "validation failed: allreduce rank 2 element 5: expected 6 got 0"})
    doc["benchmarks"] = out
    return doc


class NewPrimitives(unittest.TestCase):
    """Issue 15: any primitive of the data is reported, with the bytes, bus factor and ceiling
    its entries say, not ones the report knows for its name."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="primbench-report-")
        cls.path = Path(cls.tmp, "new.json")
        cls.path.write_text(json.dumps(new_primitives_doc()))
        cls.res = results.load(str(cls.path))
        cls.rep = report_model.build([cls.res], "seq.ref")
        cls.out = Path(cls.tmp, "out")
        cls.proc = run_report(cls.path, out=cls.out)
        cls.md = (cls.out / "summary.md").read_text() if cls.proc.returncode == 0 else ""
        cls.html = (cls.out / "index.html").read_text() if cls.proc.returncode == 0 else ""

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def point(self, prim, impl, P, n):
        return next(p for p in self.rep.points if (p.primitive, p.impl, p.ranks, p.count)
                    == (prim, impl, P, n))

    def test_loaded(self):
        prims = {e.primitive for e in self.res.entries}
        self.assertEqual(prims, {"gather", "broadcast", "allreduce", "alltoall"})
        e = next(e for e in self.res.entries if e.primitive == "allreduce" and e.counters)
        self.assertEqual((e.op, e.root, e.ceiling), ("sum", 0, "host_copy"))
        self.assertFalse(hasattr(report_model, "PRIMITIVES"))

    def test_section_per_primitive_in_order_of_appearance(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        order = ["gather", "broadcast", "allreduce", "alltoall"]
        self.assertEqual(self.rep.primitives(), order)
        self.assertEqual(re.findall(r"^## ([a-z0-9_]+)$", self.md, re.M), order)
        self.assertEqual(re.findall(r'<section id="([a-z0-9_]+)">', self.html),
                         order + ["validation", "environment"])
        for prim in order:
            self.assertIn("| **", md_section(self.md, prim))   # a fastest implementation
            for kind in ("time", "bandwidth", "speedup", "scaling"):
                self.assertTrue((self.out / f"{prim}_{kind}.png").is_file(), (prim, kind))
        status = md_section(self.md, "Validation status")
        rows = re.findall(r"^\| ([a-z0-9_]+) \| ([\w.]+) \| \d", status, re.M)
        self.assertEqual(rows, [(p, i) for p in order for i in ("seq.ref", "thread.flat")])
        self.assertIn("| allreduce | thread.flat | 14 | **1** | 0 |", status)

    def test_bytes_and_bus_factor_from_the_entries(self):
        for prim, (blocks, bus, _) in NEW_PRIMITIVES.items():
            for P in (2, 4):
                p = self.point(prim, "seq.ref", P, 4096)
                self.assertEqual(p.bytes, blocks(P) * 4096 * 4, (prim, P))
                self.assertNotIn("bytes", p.derived)
                self.assertAlmostEqual(p.busbw, p.algbw * bus(P), places=9)
        # the bandwidth figure's x axis: allreduce moves n elements, not P * n
        fig = report_plots.bandwidth_figure(self.rep, "allreduce", "test")
        ax = next(a for a in fig.axes if a.get_title() == "P = 4 ranks")
        xs = {c.get_label(): list(c.lines[0].get_xdata()) for c in ax.containers}
        self.assertEqual(xs["seq.ref"], [n * 4 for n in (16, 256, 4096, 65536, 1048576)])

    def test_failure_banded_by_the_size_of_its_problem(self):
        """The failed allreduce entry has no bytes: its band is the 256 KiB its problem moves
        (as the other allreduce entries say), not gather's P * n = 1 MiB."""
        p = self.point("allreduce", "thread.flat", 4, 65536)
        self.assertTrue(p.failed)
        self.assertEqual(p.bytes, 65536 * 4)
        rows = fastest_rows(self.md, "allreduce")
        self.assertIn("not eligible (failed validation): thread.flat",
                      rows[("8 KiB – 1 MiB", 4)][8])
        self.assertNotIn("thread.flat", rows[("1 – 64 MiB", 4)][8])

    def test_failure_of_unknown_size_ranks_nowhere_at_its_rank_count(self):
        doc = new_primitives_doc()
        name = "alltoall/thread.flat/f64/ranks:4/count:16/root:0"   # no f64 entry says a size
        doc["benchmarks"].append({"name": name + "/manual_time", "run_name": name,
                                  "run_type": "iteration", "time_unit": "ns",
                                  "error_occurred": True, "error_message": "exception: x",
                                  "iterations": 0, "real_time": 0, "cpu_time": 0})
        path = Path(self.tmp, "unsized.json")
        path.write_text(json.dumps(doc))
        rep = report_model.build([results.load(str(path))], "seq.ref")
        rows = [r for r in rep.fastest("alltoall") if r["ranks"] == 4]
        self.assertTrue(rows)
        for r in rows:
            self.assertIn("thread.flat", r["excluded"])
            self.assertEqual(r["impl"], "seq.ref")
        self.assertFalse(any("thread.flat" in r["excluded"] for r in rep.fastest("alltoall")
                             if r["ranks"] == 2))

    def test_ceiling_from_the_entries(self):
        """broadcast's entries say host_read: held and drawn against the read ceiling, though
        only reduce was before the field existed."""
        self.assertEqual({p.ceiling for p in self.rep.ok if p.primitive == "broadcast"},
                         {"host_read"})
        self.assertEqual({p.ceiling for p in self.rep.ok if p.primitive == "allreduce"},
                         {"host_copy"})
        for P in (1, 2, 4):
            (kind, raw, at), = self.rep.ceiling_lines("broadcast", P)
            self.assertEqual((kind, raw), ("host_read", 21.3))
            self.assertAlmostEqual(at, 21.3, places=2)
        fig = report_plots.bandwidth_figure(self.rep, "broadcast", "test")
        legend = [t.get_text() for t in fig.axes[-1].get_legend().get_texts()]
        self.assertIn("start-of-run ceiling:\nhost memory read\n(21.3 GB/s measured)", legend)
        ax = next(a for a in fig.axes if a.get_title() == "P = 4 ranks")
        drawn = [ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_linestyle() == ":"]
        self.assertEqual(len(drawn), 1)
        self.assertAlmostEqual(drawn[0], 21.3, places=2)
        self.assertTrue(fastest_rows(self.md, "broadcast")[("< 8 KiB", 2)][6].endswith(
            "% of host read ceiling"))
        self.assertTrue(fastest_rows(self.md, "allreduce")[("< 8 KiB", 2)][6].endswith(
            "% of host copy ceiling"))

    def test_ceiling_fallback_for_files_before_the_field(self):
        doc = new_primitives_doc()
        for b in doc["benchmarks"]:
            if b["run_name"].startswith("broadcast/"):
                b.pop("ceiling", None)
            elif b["run_name"].startswith("alltoall/") and "ceiling" in b:
                b["ceiling"] = "nvlink_copy"
        path = Path(self.tmp, "old.json")
        path.write_text(json.dumps(doc))
        rep = report_model.build([results.load(str(path))], "seq.ref")
        self.assertEqual({p.ceiling for p in rep.ok if p.primitive in ("broadcast", "alltoall")},
                         {"host_copy"})
        self.assertIn(f"{path}: 30 entries name a ceiling this report does not know "
                      "('nvlink_copy'); they are held against host memory copy instead.",
                      rep.notes)

    def test_stale_figures_of_any_primitive_removed(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(run_report(self.path, out=tmp).returncode, 0)
            self.assertTrue(Path(tmp, "alltoall_time.svg").exists())
            Path(tmp, "boot_time.png").write_bytes(b"mine")
            self.assertEqual(run_report(FIX / "empty.json", out=tmp).returncode, 0)
            self.assertEqual(sorted(f.name for f in Path(tmp).glob("*.png")), ["boot_time.png"])
            self.assertEqual(list(Path(tmp).glob("*.svg")), [])

    def test_colours_by_backend_from_the_data(self):
        self.assertTrue(set(report_model.BACKEND_ORDER) <= set(report_plots.HUES))
        self.assertEqual(len(set(report_plots.HUES.values())), len(report_plots.HUES))
        plugins = [f"plugin{i}.x" for i in range(len(report_plots.OTHER))]
        pal = report_plots.palette(plugins + ["seq.ref"])
        colours = [pal[i]["color"] for i in plugins]
        self.assertEqual(sorted(colours), sorted(report_plots.OTHER))   # no two share a hue
        self.assertEqual(pal, report_plots.palette(list(reversed(plugins)) + ["seq.ref"]))
        alone = report_plots.palette(["plugin3.x"])["plugin3.x"]["color"]
        self.assertIn(alone, report_plots.OTHER)


class FixturesUpToDate(unittest.TestCase):
    def test_regenerated_fixtures_match(self):
        import make_fixtures
        with tempfile.TemporaryDirectory() as tmp:
            make_fixtures.main(Path(tmp))
            for f in sorted(FIX.iterdir()):
                self.assertEqual(Path(tmp, f.name).read_text(), f.read_text(),
                                 f"{f.name}: rerun tests/reports/make_fixtures.py")


if __name__ == "__main__":
    unittest.main()
