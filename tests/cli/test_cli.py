"""The primbench command line end to end: bad input, validation failures, injected faults, and
the JSON it writes (read back by Google Benchmark's own compare.py).

Needs PRIMBENCH_BIN (the primbench executable) and PRIMBENCH_BROKEN_PLUGIN (the test plugin);
ctest sets both.
"""
import json
import os
import statistics
import subprocess
import tempfile
import unittest

BIN = os.environ.get("PRIMBENCH_BIN", "build/release/bench/primbench")
# 0 in sanitizer builds (ctest), where a run beyond four times the last-level cache takes a
# minute a benchmark: fewer of them there.
FULL = os.environ.get("PRIMBENCH_FULL_SWEEP", "1") == "1"
PLUGIN = os.environ.get("PRIMBENCH_BROKEN_PLUGIN", "build/release/tests/libprimbench_broken.so")
COMPARE = "/usr/share/benchmark/compare.py"
FAST = ["--min-time", "0.002", "--warmup", "0", "--repetitions", "2", "--ceilings", "20,10", "--quiet"]


def repeated(n):
    """FAST with n repetitions."""
    return [str(n) if a == "2" and FAST[i - 1] == "--repetitions" else a for i, a in enumerate(FAST)]


def primbench(*args, timeout=120):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)


class UsableCpus(unittest.TestCase):
    @unittest.skipUnless(len(os.sched_getaffinity(0)) >= 2, "needs two CPUs to leave one out")
    def test_a_run_on_one_cpu_of_several_plans_one_rank_and_says_so(self):
        # std::thread::hardware_concurrency() counts the machine's CPUs whatever the affinity
        # mask: under `taskset -c 1` (a Slurm cpuset, mpirun's binding) the default --ranks went
        # up to the machine's cores, and the ceilings and the reference ran that many threads on one.
        cpu = min(os.sched_getaffinity(0))
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            r = subprocess.run([BIN, "run", "--impl", "seq.ref,thread.flat", "--primitive", "gather", "--count", "1",
                                "--out", out, *FAST], capture_output=True, text=True, timeout=120,
                               preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                doc = json.load(f)
        self.assertEqual({b["ranks"] for b in doc["benchmarks"] if b["run_type"] == "iteration"}, {1})
        self.assertEqual(doc["context"]["primbench"]["host"]["usable_cpus"], 1)


class Revision(unittest.TestCase):
    """bench/revision.cmake, which names the build's commit in every result file: a build from
    changed tracked files says -dirty (an H200 reference run built before its commit recorded the
    commit before it); untracked files, such as a build directory, do not count."""

    def revision(self, repo):
        out = os.path.join(repo, "revision.hpp")
        r = subprocess.run(["cmake", f"-DSRC={repo}", f"-DOUT={out}", "-P", os.path.abspath("bench/revision.cmake")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            return f.read().split('kGitRevision = "')[1].split('"')[0]

    def test_a_build_from_changed_tracked_files_says_dirty(self):
        with tempfile.TemporaryDirectory() as repo:
            git = lambda *a: subprocess.run(["git", "-C", repo, *a], check=True, capture_output=True)
            git("init", "-q")
            with open(os.path.join(repo, "a.txt"), "w") as f:
                f.write("one\n")
            git("add", "a.txt")
            git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
            head = subprocess.run(["git", "-C", repo, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                  text=True, check=True).stdout.strip()
            self.assertEqual(self.revision(repo), head)
            with open(os.path.join(repo, "untracked.txt"), "w") as f:
                f.write("not part of any commit\n")
            self.assertEqual(self.revision(repo), head)
            with open(os.path.join(repo, "a.txt"), "w") as f:
                f.write("two\n")
            self.assertEqual(self.revision(repo), head + "-dirty")

    def test_outside_git_the_revision_is_unknown(self):
        with tempfile.TemporaryDirectory() as plain:
            self.assertEqual(self.revision(plain), "unknown")


class BadInput(unittest.TestCase):
    CASES = [
        (["run", "--impl", "nosuch.*"], "no implementation matches 'nosuch.*' (known:"),
        (["run", "--primitive", "allgather"], "unknown primitive 'allgather' (accepted: gather, scatter, reduce, allreduce, broadcast)"),
        (["run", "--dtype", "f16"], "unknown dtype 'f16' (accepted: i32, i64, f32, f64)"),
        (["run", "--op", "avg"], "unknown op 'avg' (accepted: sum, prod, min, max)"),
        (["run", "--count", "1:64M"], "malformed count range '1:64M'"),
        (["run", "--count", "8:1:x2"], "is empty"),
        (["run", "--count", "-5"], "count '-5' is negative"),
        (["run", "--count", "99999999999999999999999"], "too large"),
        (["run", "--count", ""], "empty --count"),
        (["run", "--ranks", "0"], "rank count 0 is out of range"),
        (["run", "--ranks", "2", "--root", "2"], "root 2 is not below any rank count"),
        (["run", "--count", "1G", "--ranks", "64", "--impl", "seq.ref"], "of memory is available"),
        (["run", "--check", "fuzzy"], "--check: unknown 'fuzzy' (accepted: exact, random)"),
        (["run", "--cache", "warm"], "--cache: unknown 'warm' (accepted: hot, cold)"),
        (["run", "--validate", "0"], "--validate: must be 1 to 1000"),
        (["run", "--repetitions", "0"], "--repetitions: must be 1 to 100000"),
        (["run", "--min-time", "-1"], "--min-time must be a positive"),
        (["run", "--ceilings", "fast"], "malformed --ceilings 'fast'"),
        (["run", "--rse", "-0.1"], "--rse must be a fraction from 0 (off) to below 1"),
        (["run", "--rse", "nan"], "--rse must be a fraction"),
        (["run", "--rse", "0.01", "--repetitions", "1"], "--rse needs a pilot of at least 2 --repetitions"),
        (["run", "--rse-max-time", "0"], "--rse-max-time must be a positive number"),
        (["run", "--rse", "0.01", "--rse-max-time", "400"], "more than --timeout 300 allows"),
        (["run", "--frobnicate"], "frobnicate"),
        (["run", "--plugin", "/nonexistent.so"], "plugin '/nonexistent.so' does not exist"),
        (["run", "--plugin", "/etc/passwd"], "cannot load plugin '/etc/passwd'"),
        (["list", "--plugin", "/usr/lib/x86_64-linux-gnu/libz.so.1"], "registered no implementation"),
        (["dance"], "subcommand"),
        ([], "A subcommand is required"),
    ]

    def test_each_gets_one_line_and_exit_2(self):
        for args, expected in self.CASES:
            with self.subTest(args=args):
                r = primbench(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertTrue(lines[0].startswith("primbench: error: "), lines[0])
                self.assertIn(expected, lines[0])
                self.assertEqual(r.stdout, "")


def mem_available_gib():
    with open("/proc/meminfo") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("MemAvailable:")) / 2**20


class Limits(unittest.TestCase):
    """What a backend's library or the machine cannot take is refused before anything runs."""

    def setUp(self):
        if "mpi.native" not in primbench("list").stdout:
            self.skipTest("the MPI backend is not built")

    def refused(self, args, says):
        r = primbench(*args)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn(says, r.stderr)

    def test_a_count_past_mpis_int_counts_is_refused(self):
        self.refused(["run", "--impl", "mpi.native", "--ranks", "1", "--count", "2G", "--primitive", "gather"],
                     "count 2147483648 is more than one mpi call takes (2147483647 elements per rank)")

    def test_many_ranks_count_each_process_and_are_refused_when_they_cannot_fit(self):
        # 4096 MPI ranks of one element: no buffer to speak of, 96 GiB of processes.
        if mem_available_gib() > 90:
            self.skipTest("this machine could hold 4096 MPI ranks")
        self.refused(["run", "--impl", "mpi.native", "--ranks", "4096", "--count", "1", "--primitive", "gather"],
                     "of memory is available")


class WithOut(unittest.TestCase):
    """A temporary directory per test, with `out` the results file in it."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.dir.name, "r.json")

    def tearDown(self):
        self.dir.cleanup()

    def load(self):
        with open(self.out) as f:
            return json.load(f)


class Runs(WithOut):

    def test_list_shows_every_backend_with_availability(self):
        r = primbench("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        for impl in ("seq.ref", "thread.flat", "thread.tree"):
            self.assertRegex(r.stdout, impl + r"\s+\w+\s+available")

    def test_validate_passes_and_exits_0(self):
        # tbb.* only where oneTBB was built (the tsan preset builds without it)
        impls = "seq.*,thread.*" + (",tbb.*" if "tbb.parallel_for" in primbench("list").stdout else "")
        r = primbench("validate", "--impl", impls, "--ranks", "1,3", "--count", "0,7", "--dtype", "i64,f64", "--op", "sum,prod",
                      "--root", "0,last", "--quiet")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_run_writes_google_benchmark_json_with_every_counter(self):
        r = primbench("run", "--impl", "seq.ref,thread.flat", "--ranks", "2", "--count", "1,4K",
                      "--root", "1", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.load()
        pb = doc["context"]["primbench"]
        for key in ("version", "git_revision", "build_type", "compiler", "command_line", "ceilings", "backends"):
            self.assertIn(key, pb)
        self.assertEqual(pb["ceilings"]["host_read_GBps"], 20)
        iterations = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len(iterations), 2 * 5 * 2 * 2)  # impls x primitives (all five by default) x counts x repetitions
        names = {b["run_name"] for b in iterations}
        self.assertIn("reduce/thread.flat/f32/sum/ranks:2/count:4096/root:1/manual_time", names)
        for b in iterations:
            for counter in ("ranks", "count", "root", "bytes", "algbw", "busbw", "peak_fraction",
                            "t_rank_min", "t_rank_avg", "t_rank_max", "t_p50", "t_p99"):
                self.assertIsInstance(b[counter], (int, float), counter)
            self.assertEqual(b["ranks"], 2)
            self.assertEqual(b["root"], 0 if b["primitive"] == "allreduce" else 1)  # allreduce has no root
            self.assertEqual(b["ceiling"], "host_read" if b["primitive"] == "reduce" else "host_copy")
            self.assertEqual(b["reference"], "beside")
            self.assertLessEqual(b["t_rank_min"], b["t_rank_max"])
            self.assertLessEqual(b["t_p50"], b["t_p99"])
            self.assertEqual(b["validation"], "passed")
            self.assertGreater(b["iterations"], 0)
            self.assertEqual(b["time_unit"], "ns")
        big = next(b for b in iterations if b["run_name"].startswith("gather/seq.ref/f32/ranks:2/count:4096"))
        self.assertEqual(big["bytes"], 2 * 4096 * 4)
        self.assertAlmostEqual(big["busbw"], big["algbw"] / 2, places=6)
        aggregates = {b["aggregate_name"] for b in doc["benchmarks"] if b["run_type"] == "aggregate"}
        self.assertEqual(aggregates, {"mean", "median", "stddev", "cv"})

    @unittest.skipUnless(os.path.exists(COMPARE), "Google Benchmark's compare.py (libbenchmark-tools) not installed")
    def test_google_benchmark_compare_reads_the_output(self):
        r = primbench("run", "--impl", "seq.ref", "--ranks", "2", "--count", "16", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 0, r.stderr)
        c = subprocess.run(["/usr/bin/python3", COMPARE, "benchmarks", self.out, self.out],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(c.returncode, 0, c.stderr)
        self.assertIn("gather/seq.ref/f32/ranks:2/count:16/root:0", c.stdout)

    def test_validation_failure_exits_1_with_the_failing_entries_marked(self):
        r = primbench("run", "--plugin", PLUGIN, "--impl", "seq.ref,broken.wrong_order", "--primitive", "gather",
                      "--ranks", "3", "--count", "4", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 1, r.stderr)
        doc = self.load()
        bad = [b for b in doc["benchmarks"] if b.get("impl") == "broken.wrong_order"]
        good = [b for b in doc["benchmarks"] if b.get("impl") == "seq.ref"]
        self.assertEqual(len(bad), 1)
        self.assertTrue(bad[0]["error_occurred"])
        self.assertEqual(bad[0]["validation"], "failed")
        self.assertIn("validation failed: broken.wrong_order gather P=3 n=4 f32 root=0", bad[0]["error_message"])
        self.assertIn("block of rank 0, element 0", bad[0]["error_message"])
        self.assertTrue(good and all(not b.get("error_occurred") for b in good))

    def test_a_problem_larger_than_free_device_memory_is_refused_before_allocating(self):
        r = primbench("run", "--plugin", PLUGIN, "--impl", "tinydevice.ref", "--primitive", "gather",
                      "--ranks", "2", "--count", "16M", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("of device memory but only 0.06 GiB is free", r.stderr)
        self.assertFalse(os.path.exists(self.out))
        r = primbench("run", "--plugin", PLUGIN, "--impl", "tinydevice.ref", "--primitive", "gather",
                      "--ranks", "2", "--count", "1M", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_validate_command_exits_1_on_failure(self):
        r = primbench("validate", "--plugin", PLUGIN, "--impl", "broken.one_ulp", "--primitive", "reduce",
                      "--ranks", "2", "--count", "3", "--quiet")
        self.assertEqual(r.returncode, 1)


GB_CONTEXT = ("date", "host_name", "executable", "num_cpus", "mhz_per_cpu", "cpu_scaling_enabled", "caches",
              "load_avg", "library_build_type")


class Dashboards(WithOut):
    """What dashboards read: Google Benchmark's full context, bytes_per_second, aggregates-only files."""

    def assert_full_context(self, doc):
        ctx = doc["context"]
        for key in GB_CONTEXT:
            self.assertIn(key, ctx)
        self.assertGreater(ctx["num_cpus"], 0)
        # Google Benchmark reads the caches from sysfs; a VM without /sys/.../cpu0/cache has none to list.
        self.assertIsInstance(ctx["caches"], list)
        if os.path.isdir("/sys/devices/system/cpu/cpu0/cache"):
            self.assertTrue(ctx["caches"], "the caches sysfs lists are missing from the context")
        self.assertTrue(all("size" in c and "level" in c for c in ctx["caches"]), ctx["caches"])
        self.assertIn("primbench", ctx)

    def test_every_file_carries_google_benchmarks_context_even_when_nothing_was_timed(self):
        r = primbench("run", "--impl", "seq.ref", "--ranks", "2", "--count", "8", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_full_context(self.load())
        r = primbench("run", "--plugin", PLUGIN, "--impl", "broken.wrong_order", "--primitive", "gather",
                      "--ranks", "2", "--count", "4", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 1, r.stderr)
        doc = self.load()
        self.assertTrue(all(b["error_occurred"] for b in doc["benchmarks"]))
        self.assert_full_context(doc)

    def test_bytes_per_second_is_the_bytes_moved_over_the_measured_time(self):
        r = primbench("run", "--impl", "seq.ref,thread.flat", "--ranks", "2", "--count", "1,4K",
                      "--out", self.out, *repeated(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        iterations = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertTrue(iterations)
        for b in iterations:
            self.assertAlmostEqual(b["bytes_per_second"] / (b["bytes"] / (b["real_time"] * 1e-9)), 1.0, places=9)
            self.assertAlmostEqual(b["bytes_per_second"] / 1e9, b["algbw"], delta=1e-9 * b["algbw"] + 1e-12)
        medians = [b for b in self.load()["benchmarks"] if b.get("aggregate_name") == "median"]
        self.assertTrue(medians and all(b["bytes_per_second"] > 0 for b in medians))

    def test_a_collective_of_no_bytes_has_calls_per_second_not_a_zero_bandwidth(self):
        # Count 0 moves nothing: a bytes_per_second of 0 would be what Conbench tracks, whatever
        # the speed; items_per_second (calls a second) is the rate it takes next.
        r = primbench("run", "--impl", "seq.ref", "--primitive", "gather", "--ranks", "2", "--count", "0",
                      "--out", self.out, *repeated(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        iterations = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertTrue(iterations)
        for b in iterations:
            self.assertNotIn("bytes_per_second", b)
            self.assertAlmostEqual(b["items_per_second"] * b["real_time"] * 1e-9, 1.0, places=6)
        exported = primbench("export", self.out, "--format", "bencher")
        self.assertEqual(exported.returncode, 0, exported.stderr)
        measures = json.loads(exported.stdout)
        self.assertEqual([set(m) for m in measures.values()], [{"latency"}], "a rate of no bytes exported")

    def test_aggregates_only_keeps_one_set_of_aggregates_per_benchmark_and_every_error(self):
        r = primbench("run", "--plugin", PLUGIN, "--impl", "seq.ref,broken.wrong_order", "--primitive", "gather",
                      "--ranks", "2", "--count", "4,64", "--out", self.out, "--aggregates-only", *repeated(3))
        self.assertEqual(r.returncode, 1, r.stderr)
        doc = self.load()
        good = [b for b in doc["benchmarks"] if b["impl"] == "seq.ref"]
        bad = [b for b in doc["benchmarks"] if b["impl"] == "broken.wrong_order"]
        self.assertEqual(sorted(b["aggregate_name"] for b in good), sorted(["mean", "median", "stddev", "cv"] * 2))
        self.assertTrue(all(b["run_type"] == "aggregate" for b in good))
        self.assertEqual(len(bad), 2)
        self.assertTrue(all(b["error_occurred"] and b["validation"] == "failed" for b in bad))
        # The tools read it: the report renders, and compare says what it lacks rather than guessing.
        rep = primbench("report", self.out, "-o", os.path.join(self.dir.name, "report"))
        self.assertEqual(rep.returncode, 0, rep.stderr)
        other = os.path.join(self.dir.name, "other.json")  # another run's file (the same one twice is refused)
        with open(other, "w") as f:
            json.dump({**doc, "context": {**doc["context"], "date": "2026-12-06T00:00:00+00:00"}}, f)
        c = primbench("compare", self.out, other)  # aggregates have no samples to test
        self.assertEqual(c.returncode, 2, c.stdout + c.stderr)
        self.assertIn("no per-repetition entries to compare", c.stderr)
        r = primbench("run", "--impl", "seq.ref", "--primitive", "gather", "--ranks", "2", "--count", "4",
                      "--out", self.out, "--aggregates-only", *repeated(1))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([b["run_type"] for b in self.load()["benchmarks"]], ["iteration"])  # no aggregates of one


class BesideEachBenchmark(WithOut):
    """The reference measured beside each benchmark, and the machine's state while it ran."""

    def run_small(self):
        r = primbench("run", "--impl", "seq.ref,thread.flat", "--primitive", "gather,reduce", "--ranks", "2",
                      "--count", "1K,256K", "--out", self.out, *repeated(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r, self.load()

    def test_peak_fraction_is_against_the_reference_measured_at_the_benchmarks_own_size(self):
        _, doc = self.run_small()
        ceilings = doc["context"]["primbench"]["ceilings"]
        host = doc["context"]["primbench"]["host"]
        for key in ("transparent_hugepage", "scaling_governor", "online_cpus"):
            self.assertIn(key, host)
        iterations = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len(iterations), 2 * 2 * 2 * 3)
        refs = {}
        for b in iterations:
            self.assertGreater(b["ref_GBps"], 0, b["name"])
            self.assertGreaterEqual(b["ref_spread"], 0, b["name"])
            # the median iteration's traffic over the reference's: membw is the mean's. In a
            # cache (1K always; 256K where the last-level cache holds 8 MiB) a block of trials
            # before the repetition is the reference (beyond it, the test below)
            self.assertIn(b["ref_paired"], (0, 1, 2), b["name"])
            if b["count"] == 1024:
                self.assertEqual(b["ref_paired"], 0, b["name"])
            median = b["membw"] * b["real_time"] * 1e-9 / b["t_p50"]
            if not b["ref_paired"]:
                self.assertAlmostEqual(b["peak_fraction"], median / b["ref_GBps"], delta=1e-6 * b["peak_fraction"])
            ceiling = ceilings["host_read_GBps" if b["primitive"] == "reduce" else "host_copy_GBps"]
            self.assertAlmostEqual(b["ceiling_fraction"], b["membw"] / ceiling, delta=1e-9 * b["ceiling_fraction"])
            refs.setdefault(b["count"], []).append(b["ref_GBps"])
        # Measured per repetition, not one figure copied: the repetitions' references differ.
        self.assertTrue(all(len(set(v)) > 1 for v in refs.values()), refs)

    def beyond_cache_count(self, least, over=2):
        """Elements a rank of a P = 2 gather whose working set and its reference's are beyond the
        last-level cache together, at least `least`: the reference copies 8c bytes from 8c more,
        so from c > llc / 32; `over` times that (16: far beyond it for reduce too, whose working
        set is 12c bytes: 4 times the cache, where the paired trials are made on the benchmark's
        own buffers)."""
        def sysconf(name):  # as the reference asks the C library (getconf is its sysconf)
            out = subprocess.run(["getconf", name], capture_output=True, text=True).stdout.strip()
            return int(out) if out.isdigit() else 0
        llc = sysconf("LEVEL3_CACHE_SIZE") or sysconf("LEVEL2_CACHE_SIZE")
        if llc <= 0:
            self.skipTest("the C library does not know the last-level cache's size")
        count = 1 << max(least.bit_length() - 1, (over * llc // 32 - 1).bit_length())
        if count > 64 << 20:
            self.skipTest(f"a {llc >> 20} MiB last-level cache needs {count} elements a rank")
        return count

    def test_beyond_the_cache_each_iteration_is_held_against_a_trial_just_before_it(self):
        count = self.beyond_cache_count(64 << 10)
        r = primbench("run", "--impl", "seq.ref,thread.flat", "--primitive", "gather", "--ranks", "2",
                      "--count", str(count), "--out", self.out, *repeated(2))
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len(entries), 4, entries)
        for b in entries:
            self.assertEqual(b["ref_paired"], 1, b["name"])  # 2 is from 4 times the cache on
            self.assertEqual(b["reference"], "beside", b["name"])
            self.assertGreater(b["ref_GBps"], 0, b["name"])
            self.assertGreaterEqual(b["ref_spread"], 0, b["name"])
            self.assertGreater(b["peak_fraction"], 0, b["name"])

    def test_far_beyond_the_cache_each_trial_is_made_on_the_benchmarks_own_buffers(self):
        # ref_paired 2 for the primitives whose pattern is the reference's (gather, scatter,
        # reduce), at every root of a rotating one; allreduce writes every rank's result, so its
        # trials stay on the reference's buffers. The results are still checked and pass.
        count = self.beyond_cache_count(64 << 10, over=16)
        impls, prims, roots = ("seq.ref,thread.flat", "gather,scatter,reduce,allreduce", "rotate") if FULL else \
            ("thread.flat", "gather,reduce", "0")
        r = primbench("run", "--impl", impls, "--primitive", prims, "--ranks", "2", "--count", str(count),
                      "--root", roots, "--out", self.out, *repeated(1), timeout=900)
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len(entries), 8 if FULL else 2, [b["name"] for b in entries])
        for b in entries:
            self.assertEqual(b["ref_paired"], 1 if b["primitive"] == "allreduce" else 2, b["name"])
            self.assertGreater(b["peak_fraction"], 0, b["name"])
            self.assertGreater(b["checked_iterations"], 0, b["name"])

    def test_a_trial_in_place_is_on_the_buffers_the_collective_gives_now(self):
        # slow.moves_its_result allocates its result afresh on every call and frees the last
        # one: a trial on the buffers asked for before the loop wrote into unmapped memory (the
        # worker killed by SIGSEGV, blamed on the implementation). Asked for again before each
        # trial, it passes, in place.
        count = self.beyond_cache_count(64 << 10, over=16)
        r = primbench("run", "--plugin", PLUGIN, "--impl", "slow.moves_its_result", "--primitive", "gather",
                      "--ranks", "2", "--count", str(count), "--out", self.out, *repeated(1), timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        (b,) = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(b["ref_paired"], 2, b)

    @unittest.skipUnless(FULL, "a minute under a sanitizer, and no race to find: the trials stay where they were")
    def test_with_a_cold_cache_the_trials_stay_on_the_references_buffers(self):
        # A trial on the benchmark's buffers is not evicted before it, and the iteration is.
        count = self.beyond_cache_count(64 << 10, over=16)
        r = primbench("run", "--impl", "thread.flat", "--primitive", "gather", "--ranks", "2", "--count", str(count),
                      "--cache", "cold", "--out", self.out, *repeated(1), timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        (b,) = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(b["ref_paired"], 1, b)

    def test_a_loop_that_writes_nothing_is_caught_though_the_trial_before_it_wrote_the_result(self):
        # bug.reads_only reads its inputs and leaves the root's buffer as it was. The paired trial
        # on the benchmark's own buffers wrote the right result there just before each iteration;
        # the checked iterations poison it after the trial, so the lazy loop is still seen.
        count = self.beyond_cache_count(64 << 10, over=16)
        prims = "gather,reduce" if FULL else "gather"
        r = primbench("run", "--plugin", PLUGIN, "--impl", "bug.reads_only", "--primitive", prims,
                      "--ranks", "2", "--count", str(count), "--out", self.out, *repeated(1), timeout=600)
        self.assertEqual(r.returncode, 1, r.stderr)
        entries = self.load()["benchmarks"]
        self.assertEqual(len(entries), len(prims.split(",")), entries)
        for b in entries:
            self.assertEqual(b["validation"], "failed", b)
            self.assertIn("validation failed in timed iteration", b["error_message"])
            self.assertEqual(b["real_time"], 0.0)

    def test_a_paired_trial_that_shared_its_cpus_with_a_spinning_pool_is_made_again(self):
        # slow.spins_after_call keeps every CPU busy for 20 ms after each call, as an OpenMP
        # pool with an active wait policy does; the trial made right after the call (2 ms and
        # more from 8M on) shares its CPUs with it, which would make the reference look slow.
        count = self.beyond_cache_count(8 << 20)
        r = primbench("run", "--plugin", PLUGIN, "--impl", "slow.spins_after_call", "--primitive", "gather",
                      "--ranks", "2", "--count", str(count), "--out", self.out, *repeated(1))
        self.assertEqual(r.returncode, 0, r.stderr)
        (b,) = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertIn(b["ref_paired"], (1, 2))
        self.assertGreater(b["ref_again"], 0, b)
        self.assertLessEqual(b["ref_again"], b["iterations"], b)

    def test_small_counts_say_how_many_cache_line_round_trips_they_cost(self):
        _, doc = self.run_small()
        start = doc["context"]["primbench"]["ceilings"]["host_round_trip_ns"]
        if (os.cpu_count() or 1) < 2:
            self.assertEqual(start, 0)
            return
        self.assertGreater(start, 1)  # a handover between cores takes more than a nanosecond
        beside = set()
        for b in doc["benchmarks"]:
            if b["run_type"] != "iteration":
                continue
            self.assertGreater(b["round_trip_ns"], 0, b["name"])
            self.assertAlmostEqual(b["round_trips"], b["t_p50"] * 1e9 / b["round_trip_ns"], delta=1e-9 * b["round_trips"])
            (beside if b["count"] == 1024 else set()).add(b["round_trip_ns"])
        # measured beside each small one (2 x 4 KiB moved), not the start-of-run figure copied
        self.assertGreater(len(beside - {start}), 0, beside)

    def test_a_window_covers_its_call_with_more_ranks_than_cpus(self):
        # Four thread ranks a CPU: timed each from its own start, a flat scatter's ranks that got
        # their CPUs late hid their wait (0.23 of the call at P = 8 on 2 CPUs, against 0.9 for
        # the tree, whose ranks wait on each other inside their windows); from the first rank's
        # start the flat one's windows cover as much of the call as the tree's. A busy machine
        # (CI runs tests side by side) lengthens both algorithms' starts alike, but can still
        # take a CPU from one of them for a whole repetition (once in about five ctest -j2 runs
        # with one repetition): the comparison is made up to three times, 3 repetitions each.
        # The old windows failed it every time.
        ranks = min(64, 4 * len(os.sched_getaffinity(0)))
        for _ in range(3):
            r = primbench("run", "--impl", "thread.flat,thread.tree", "--primitive", "scatter,gather", "--ranks", str(ranks),
                          "--count", "1M", "--out", self.out, *repeated(3), timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            shares = {}
            for b in self.load()["benchmarks"]:
                if b["run_type"] == "iteration":
                    shares.setdefault((b["primitive"], b["impl"]), []).append(b["window_share"])
            self.assertEqual(sorted(map(len, shares.values())), [3] * 4, shares)
            for value in sum(shares.values(), []):
                self.assertGreater(value, 0, shares)
                self.assertLessEqual(value, 1.0, shares)
            median = {k: statistics.median(v) for k, v in shares.items()}
            if all(median[p, "thread.flat"] > 0.5 * median[p, "thread.tree"] for p in ("scatter", "gather")):
                return
        self.fail(f"the flat algorithm's windows cover less than half as much of its call as the tree's, 3 times: {median}")

    def test_hugepages_are_advised_and_recorded(self):
        r = primbench("run", "--impl", "seq.ref", "--primitive", "gather", "--ranks", "2", "--count", "2M",
                      "--hugepages", "--out", self.out, *repeated(1))
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.load()
        self.assertIs(doc["context"]["primbench"]["hugepages"], True)
        thp = doc["context"]["primbench"]["host"]["transparent_hugepage"]
        (b,) = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
        if thp in ("always", "madvise"):  # 2 x 8 MiB of sends, 16 MiB received: the kernel gave huge pages
            self.assertGreater(b["huge_pages_kib"], 0)

    def test_the_machines_state_is_recorded_and_contention_flagged(self):
        hogs = [subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"]) for _ in range(os.cpu_count() or 1)]
        try:
            # Long enough to be judged (a quarter of a second at least): 3 x 0.2 s a benchmark.
            r = primbench("run", "--impl", "seq.ref,thread.flat", "--primitive", "gather,reduce", "--ranks", "2",
                          "--count", "1K,256K", "--out", self.out, "--min-time", "0.2", "--warmup", "0",
                          "--repetitions", "3", "--ceilings", "20,10")
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = self.load()
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        last = {}
        for b in doc["benchmarks"]:
            if b["run_type"] == "iteration":
                for key in ("load_avg", "online_cpus", "steal_pct", "others_cpu_pct", "huge_pages_kib", "state_seconds"):
                    self.assertIsInstance(b[key], (int, float), key)
                self.assertEqual(b["online_cpus"], os.sysconf("SC_NPROCESSORS_ONLN"))
                last[b["run_name"]] = b
        # One busy loop per core took about half of every CPU from this run.
        for b in last.values():
            if b["state_seconds"] >= 0.25:
                self.assertGreater(b["others_cpu_pct"] + b["steal_pct"], 10, b["name"])
        rows = {l.split()[0]: l for l in r.stdout.splitlines() if "passed" in l}
        self.assertEqual(len(rows), 8, r.stdout)
        # Judged over a quarter of a second at least (a repetition calibrated on one slow call
        # can be far shorter): those rows say busy, the others say nothing.
        judged = [name for name, b in last.items() if b["state_seconds"] >= 0.25]
        self.assertTrue(judged, r.stdout)
        for run_name, b in last.items():
            row = rows[run_name.removesuffix("/manual_time")]
            self.assertEqual("(busy: steal " in row and "% of CPU, load " in row, b["state_seconds"] >= 0.25, row)


class StoppingRule(WithOut):
    """--rse: the pilot's repetitions, then as many as bring the median's relative standard error
    to the target, within --rse-max-time; what was done is on every entry."""

    def rse_run(self, target, *extra, pilot=3, min_time="0.002"):
        fast = [min_time if a == "0.002" else a for a in repeated(pilot)]  # FAST's --min-time replaced
        r = primbench("run", "--impl", "seq.ref", "--primitive", "gather", "--ranks", "2", "--count", "1K", "--out", self.out,
                      "--rse", target, *fast, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        reps = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertTrue(reps)
        return reps

    @staticmethod
    def rse_of(times):
        # the distribution-free error of the median the runner states (docs/measurement.md)
        import math
        t, n = sorted(times), len(times)
        half = math.sqrt(n) / 2
        lo, hi = max(math.floor(n / 2 - half), 0), min(math.ceil(n / 2 + half), n - 1)
        median = t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2
        return (t[hi] - t[lo]) / 2 / median

    def test_a_target_the_pilot_meets_keeps_the_pilot(self):
        # A pilot of 11: its error is judged between the 4th and 9th fastest, so two repetitions
        # a busy machine preempted cannot push it past 0.99 (with 7 the 6th of 7 counted: two
        # preempted ones did, under TSan in CI). Repetitions of 50 ms, not 2 ms: a 10 ms preemption
        # made a 2 ms repetition's mean 6x the others', and under ASan with ctest -j2 the 9th of 11
        # was past twice the median (21 repetitions, in a fresh-clone CI run).
        reps = self.rse_run("0.99", pilot=11, min_time="0.05")
        self.assertEqual(len(reps), 11)
        for b in reps:
            self.assertEqual((b["repetitions"], b["pilot_repetitions"], b["rse_target"]), (11, 0, 0.99), b)
            self.assertAlmostEqual(b["rse"], self.rse_of([e["real_time"] for e in reps]), delta=1e-12)

    def test_an_unreachable_target_repeats_until_the_time_cap(self):
        # 1e-9 cannot be met: the second stage takes the repetitions --rse-max-time affords
        # (1 s of repetitions of 2 ms and their reference: more than the pilot's 3, under a
        # sanitizer too, and far fewer than the unbounded 3 x (error / 1e-9)^2).
        reps = self.rse_run("1e-9", "--rse-max-time", "1")
        n = len(reps)
        self.assertGreater(n, 3)
        self.assertLess(n, 2000)
        self.assertEqual(sorted(b["repetition_index"] for b in reps), list(range(n)))
        for b in reps:
            self.assertEqual((b["repetitions"], b["pilot_repetitions"]), (n, 3), b)
            self.assertAlmostEqual(b["rse"], self.rse_of([e["real_time"] for e in reps]), delta=1e-12)
        aggregates = {b["aggregate_name"]: b for b in self.load()["benchmarks"] if b["run_type"] == "aggregate"}
        self.assertEqual(aggregates["mean"]["repetitions"], n)  # Google Benchmark's, over the kept stage alone
        self.assertAlmostEqual(aggregates["mean"]["real_time"], sum(b["real_time"] for b in reps) / n, delta=1e-6)

    def test_without_rse_nothing_is_added(self):
        r = primbench("run", "--impl", "seq.ref", "--primitive", "gather", "--ranks", "2", "--count", "1K", "--out", self.out,
                      *repeated(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        for b in self.load()["benchmarks"]:
            self.assertNotIn("rse", b)

    def test_the_rule_is_on_by_default_and_off_with_repetitions_alone_or_rse_0(self):
        # Default: a pilot of 3 and a target of 1 % (in the worker, too: the supervisor tells it
        # both). --repetitions alone: exactly that many; --rse 0: fixed.
        base = ("run", "--impl", "seq.ref,thread.flat", "--primitive", "gather", "--ranks", "2", "--count", "1K",
                "--ceilings", "20,10", "--quiet", "--out", self.out)
        for extra, target in (((), 0.01), (("--repetitions", "4"), None), (("--rse", "0"), None)):
            with self.subTest(extra=extra):
                r = primbench(*base, *extra)
                self.assertEqual(r.returncode, 0, r.stderr)
                reps = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
                self.assertEqual({b["impl"] for b in reps}, {"seq.ref", "thread.flat"})
                for b in reps:
                    self.assertEqual(b.get("rse_target"), target, b)
                    if target is None:
                        self.assertNotIn("rse", b)
                        self.assertEqual(b["repetitions"], 4 if "--repetitions" in extra else 3, b)
        r = primbench(*base, "--repetitions", "1")  # no pilot to judge: fixed, not refused
        self.assertEqual(r.returncode, 0, r.stderr)
        r = primbench(*base, "--repetitions", "1", "--rse", "0.01")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--rse needs a pilot of at least 2 --repetitions", r.stderr)


class RotatingRoot(WithOut):
    """--root rotate: timed iteration i at root i mod P, each root's collective validated and
    checked; root:rotate in the name, -1 in the root counter."""

    def test_every_root_is_run_validated_and_named(self):
        r = primbench("run", "--impl", "seq.ref,thread.flat", "--primitive", "gather,scatter,reduce,allreduce", "--ranks", "3",
                      "--count", "1K", "--root", "rotate", "--out", self.out, *FAST)
        self.assertEqual(r.returncode, 0, r.stderr)
        reps = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len({b["run_name"] for b in reps}), 2 * 4)
        for b in reps:
            rooted = b["primitive"] != "allreduce"
            self.assertEqual(b["run_name"].endswith("/root:rotate/manual_time"), rooted, b["run_name"])
            self.assertEqual(b["root"], -1 if rooted else 0, b["run_name"])
            self.assertEqual(b["validation"], "passed")

    def test_an_implementation_wrong_at_one_root_is_caught_only_when_it_is_used(self):
        args = ("run", "--plugin", PLUGIN, "--impl", "bug.wrong_at_last_root", "--primitive", "gather", "--ranks", "3",
                "--count", "64", "--out", self.out, *FAST)
        self.assertEqual(primbench(*args, "--root", "0").returncode, 0)
        r = primbench(*args, "--root", "rotate")
        self.assertEqual(r.returncode, 1, r.stderr)
        (entry,) = self.load()["benchmarks"]
        self.assertIn("at root 2: gather P=3 n=64 f32 root=2", entry["error_message"])

    def test_a_second_stage_of_repetitions_checks_every_root_on_its_own_inputs(self):
        # --rse's second stage starts on new inputs: every root's collective gets them, or the
        # checks of the roots the pilot did not end on would compare against the wrong inputs.
        # (--rse-max-time 3: room for more than the pilot's 3 repetitions on a busy machine too.
        # --check-budget 1: the first benchmark of a run of 2 ms repetitions has a budget of a few
        # milliseconds, which held 2 - 3 spot checks of 170 us under AddressSanitizer.)
        r = primbench("run", "--impl", "seq.ref,thread.flat", "--primitive", "gather", "--ranks", "3", "--count", "1K",
                      "--root", "rotate", "--rse", "1e-9", "--rse-max-time", "3", "--check-budget", "1", "--out", self.out,
                      *repeated(3))
        self.assertEqual(r.returncode, 0, r.stderr)
        reps = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual({b["impl"] for b in reps}, {"seq.ref", "thread.flat"})
        for b in reps:
            self.assertEqual(b["pilot_repetitions"], 3, b)
            self.assertGreater(b["checked_iterations"], 3, b)


class Faults(unittest.TestCase):
    """A crash, a hang or an exception in one implementation loses none of the others' results."""

    def run_fault(self, impl, extra=()):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            r = primbench("run", "--plugin", PLUGIN, "--impl", f"seq.ref,{impl},thread.flat", "--primitive", "gather",
                          "--ranks", "2", "--count", "8", "--out", out, *FAST, *extra)
            with open(out) as f:
                doc = json.load(f)
            self.assertFalse(os.path.exists(out + ".tmp"))
        return r, doc

    def check(self, r, doc, impl, reason):
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn(f"gather/{impl}/f32/ranks:2/count:8/root:0", r.stderr)
        self.assertIn(reason, r.stderr)
        for ok in ("seq.ref", "thread.flat"):  # before the fault, and after it in a fresh worker
            rows = [b for b in doc["benchmarks"] if b.get("impl") == ok and b["run_type"] == "iteration"]
            self.assertEqual(len(rows), 2, f"{ok}'s results were lost")
            self.assertFalse(any(b.get("error_occurred") for b in rows))
        failed = [b for b in doc["benchmarks"] if b.get("impl") == impl]
        self.assertEqual(len(failed), 1)
        self.assertTrue(failed[0]["error_occurred"])
        self.assertIn(reason, failed[0]["error_message"])

    def test_crash(self):
        r, doc = self.run_fault("fault.crash")
        self.check(r, doc, "fault.crash", "SIGSEGV")

    def test_hang(self):
        r, doc = self.run_fault("fault.hang", ["--timeout", "2"])
        self.check(r, doc, "fault.hang", "hung: no progress for 2 s")

    def test_exception_is_reported_and_the_run_goes_on(self):
        r, doc = self.run_fault("fault.throw")
        self.assertEqual(r.returncode, 3, r.stderr)
        failed = [b for b in doc["benchmarks"] if b.get("impl") == "fault.throw"]
        self.assertTrue(failed and "injected failure" in failed[0]["error_message"])
        after = [b for b in doc["benchmarks"] if b.get("impl") == "thread.flat" and not b.get("error_occurred")]
        self.assertTrue(after, "the run did not go on after the exception")



class Resume(WithOut):
    """--resume keeps what an earlier run measured and runs only the failed and missing."""

    IMPLS = ["--primitive", "gather", "--ranks", "2", "--count", "8"]

    def run_impls(self, impls, *extra):
        # FAST's options, less those `extra` gives again.
        fast = [a for i in range(0, len(FAST) - 1, 2) for a in FAST[i:i + 2] if FAST[i] not in extra] + ["--quiet"]
        return primbench("run", "--plugin", PLUGIN, "--impl", impls, *self.IMPLS, "--out", self.out, *fast, *extra)

    def entries(self):
        doc = self.load()
        by_impl = {}
        for b in doc["benchmarks"]:
            by_impl.setdefault(b["impl"], []).append(b)
        return by_impl

    def test_crash_then_resume_runs_only_the_failed_and_keeps_the_rest(self):
        r = self.run_impls("seq.ref,fault.crash,thread.flat")
        self.assertEqual(r.returncode, 3, r.stderr)
        first = self.entries()
        kept = {i: json.dumps(first[i], sort_keys=True) for i in ("seq.ref", "thread.flat")}
        # The crashing implementation replaced by another under the same plan: only the failed
        # and the missing run again.
        r = self.run_impls("seq.ref,fault.throw,thread.flat", "--resume")
        self.assertEqual(r.returncode, 3, r.stderr)
        second = self.entries()
        for i in kept:
            self.assertEqual(json.dumps(second[i], sort_keys=True), kept[i], f"{i} was measured again")
        self.assertIn("fault.crash", second)  # not in this plan: kept as it was
        self.assertTrue(second["fault.throw"][0]["error_occurred"])

    def test_an_entry_edited_to_an_impossible_time_is_measured_again_and_the_kept_ones_say_where_they_come_from(self):
        self.assertEqual(self.run_impls("seq.ref,thread.flat").returncode, 0)
        doc = self.load()
        first_command = doc["context"]["primbench"]["command_line"]
        for b in doc["benchmarks"]:
            if b["impl"] == "seq.ref":
                b["real_time"] = 1e-6  # ns: by hand, faster than any iteration can be
        with open(self.out, "w") as f:
            json.dump(doc, f)
        r = self.run_impls("seq.ref,thread.flat", "--resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.load()
        times = [b["real_time"] for b in doc["benchmarks"] if b["impl"] == "seq.ref" and b["run_type"] == "iteration"]
        self.assertTrue(times and all(t >= 1 for t in times), times)
        resumed = doc["context"]["primbench"]["resumed_from"]
        self.assertEqual(len(resumed), 1, resumed)
        self.assertEqual(resumed[0]["command_line"], first_command)
        self.assertEqual(resumed[0]["build_id"], doc["context"]["primbench"]["build_id"])  # here the same build
        self.assertEqual(resumed[0]["plugins"], {PLUGIN: doc["context"]["primbench"]["plugins"][PLUGIN]})
        kept = {b["run_name"].removesuffix("/manual_time") for b in doc["benchmarks"] if b["impl"] == "thread.flat"}
        self.assertEqual(set(resumed[0]["benchmarks"]), kept)

    def test_a_file_with_a_repetition_twice_is_refused_and_left_as_it_was(self):
        # It was resumed (exit 0) into a file that the report and compare then refused.
        self.assertEqual(self.run_impls("seq.ref").returncode, 0)
        doc = self.load()
        doc["benchmarks"].append(dict(doc["benchmarks"][0]))
        with open(self.out, "w") as f:
            json.dump(doc, f)
        with open(self.out, "rb") as f:
            before = f.read()
        r = self.run_impls("seq.ref,thread.flat", "--resume")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("has repetition 0 of 'gather/seq.ref/", r.stderr)
        self.assertIn("twice", r.stderr)
        with open(self.out, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_a_file_measured_on_another_cpu_is_refused_and_one_from_another_host_says_so(self):
        # Kept: entries timed on another machine, under this machine's context.
        self.assertEqual(self.run_impls("seq.ref").returncode, 0)
        doc = self.load()
        here = doc["context"]["primbench"]["machine"]
        cpu = here.split(" / ", 1)[1]
        for machine, refused in (("bigiron / Imaginary CPU 9000", True), ("bigiron / " + cpu, False)):
            with self.subTest(machine=machine):
                doc["context"]["primbench"]["machine"] = machine
                with open(self.out, "w") as f:
                    json.dump(doc, f)
                with open(self.out, "rb") as f:
                    before = f.read()
                r = self.run_impls("seq.ref,thread.flat", "--resume")
                if refused:
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
                    self.assertIn(f"was measured on a CPU 'Imaginary CPU 9000' (host bigiron), this machine's is '{cpu}'", r.stderr)
                    with open(self.out, "rb") as f:
                        self.assertEqual(f.read(), before)
                else:  # the same CPU on another host (a cluster's nodes): kept, and said where
                    self.assertEqual(r.returncode, 0, r.stderr)
                    resumed = self.load()["context"]["primbench"]
                    self.assertEqual(resumed["machine"], here)
                    self.assertEqual(resumed["resumed_from"][0]["machine"], machine)

    def test_a_file_measured_with_the_test_slowdown_says_so_and_is_not_resumed_without_it(self):
        # The knob that slows thread.* left no trace: a resumed file held slowed and normal
        # results side by side.
        knob = "thread.flat=5"
        r = subprocess.run([BIN, "run", "--plugin", PLUGIN, "--impl", "thread.flat", *self.IMPLS, "--out", self.out, *FAST],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PRIMBENCH_TEST_SLOWDOWN": knob})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.load()["context"]["primbench"]["test_slowdown"], knob)
        with open(self.out, "rb") as f:
            before = f.read()
        r = self.run_impls("thread.flat,seq.ref", "--resume")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"was measured with PRIMBENCH_TEST_SLOWDOWN={knob}, this run with none", r.stderr)
        with open(self.out, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(self.run_impls("thread.flat").returncode, 0)
        self.assertNotIn("test_slowdown", self.load()["context"]["primbench"])

    def test_failed_benchmark_is_run_again(self):
        r = self.run_impls("seq.ref,fault.throw")
        self.assertEqual(r.returncode, 3, r.stderr)
        failed = len(self.entries()["fault.throw"])
        # The same failure again: its entries replaced, not added to.
        r = self.run_impls("seq.ref,fault.throw", "--resume")
        self.assertEqual(r.returncode, 3, r.stderr)
        e = self.entries()
        self.assertEqual(len(e["fault.throw"]), failed)
        self.assertEqual(len([b for b in e["seq.ref"] if b["run_type"] == "iteration"]), 2)

    def test_nothing_left_to_run_exits_0_and_leaves_the_file(self):
        self.assertEqual(self.run_impls("seq.ref").returncode, 0)
        with open(self.out) as f:
            before = f.read()
        r = self.run_impls("seq.ref", "--resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.out) as f:
            self.assertEqual(f.read(), before)

    def test_entries_that_do_not_say_they_passed_or_whose_time_cannot_be_true_run_again(self):
        self.assertEqual(self.run_impls("seq.ref").returncode, 0)
        doc = self.load()
        good = json.dumps(doc["benchmarks"][0], sort_keys=True)
        for edit in ({"real_time": -5}, {"real_time": 0}, {"real_time": "1"}, {"validation": None},
                     {"validation": "maybe"}):
            with self.subTest(edit=edit):
                edited = dict(doc, benchmarks=[dict(doc["benchmarks"][0], **edit)] + doc["benchmarks"][1:])
                edited["benchmarks"][0] = {k: v for k, v in edited["benchmarks"][0].items() if v is not None}
                with open(self.out, "w") as f:
                    json.dump(edited, f)
                r = self.run_impls("seq.ref", "--resume")
                self.assertEqual(r.returncode, 0, r.stderr)
                entries = self.entries()["seq.ref"]
                self.assertEqual(len([b for b in entries if b["run_type"] == "iteration"]), 2)
                self.assertTrue(all(b["validation"] == "passed" and b["real_time"] > 0 for b in entries), entries)
                self.assertNotIn(good, [json.dumps(b, sort_keys=True) for b in entries], "the old entries were kept")

    def test_a_file_measured_with_other_options_is_refused_and_left_as_it_was(self):
        # It said "nothing to run" and exited 0: results of two experiments under one context.
        self.assertEqual(self.run_impls("seq.ref").returncode, 0)
        with open(self.out) as f:
            before = f.read()
        for other, was, now in [(["--repetitions", "3", "--cache", "cold"], "--cache hot --repetitions 2", "--cache cold --repetitions 3"),
                                (["--validate", "5"], "--validate 3", "--validate 5"),
                                (["--check", "random"], "--check exact", "--check random"),
                                (["--seed", "7"], "--seed 1", "--seed 7"),
                                (["--min-time", "0.003"], "--min-time 0.002", "--min-time 0.003"),
                                (["--hugepages"], "no --hugepages", "--hugepages"),
                                (["--aggregates-only"], "no --aggregates-only", "--aggregates-only"),
                                (["--rse", "0.05"], "--rse 0.0", "--rse 0.05")]:
            with self.subTest(other=other):
                r = self.run_impls("seq.ref,thread.flat", *other, "--resume")
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(f"measured with {was}, this run with {now}:", lines[0])
                with open(self.out) as f:
                    self.assertEqual(f.read(), before, "the file was changed")
        # The timeout does not change what a result means.
        self.assertEqual(self.run_impls("seq.ref", "--timeout", "100", "--resume").returncode, 0)

    def test_a_file_that_does_not_say_its_options_is_refused(self):
        self.assertEqual(self.run_impls("seq.ref").returncode, 0)
        doc = self.load()
        del doc["context"]["primbench"]["options"]
        with open(self.out, "w") as f:
            json.dump(doc, f)
        r = self.run_impls("seq.ref", "--resume")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("does not say which options measured it", r.stderr)
        self.assertEqual(self.load(), doc)

    def test_kept_failures_of_benchmarks_not_planned_now_are_in_the_exit_status(self):
        # Resuming a subset exited 0 ("all validated") while --out kept the others' failures.
        for impl, failing in (("fault.throw", 3), ("bug.lazy", 1)):
            with self.subTest(impl=impl):
                if os.path.exists(self.out):
                    os.remove(self.out)
                self.assertEqual(self.run_impls(f"seq.ref,{impl}").returncode, failing)
                for planned in ("seq.ref", "seq.ref,thread.flat"):  # nothing left to run; one to run
                    r = primbench("run", "--plugin", PLUGIN, "--impl", planned, *self.IMPLS, "--out", self.out,
                                  *FAST[:-1], "--resume")  # not --quiet: the last line says why
                    self.assertEqual(r.returncode, failing, r.stderr)
                    self.assertIn("1 benchmark(s) kept from an earlier run (not planned now) did not pass", r.stderr)
                    if planned != "seq.ref":  # what ran passed
                        self.assertIn("1 benchmarks, all validated; 1 benchmark(s) kept", r.stderr)
                    self.assertIn(impl, self.entries())

    def test_missing_file_starts_afresh(self):
        r = self.run_impls("seq.ref", "--resume")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("seq.ref", self.entries())

    def test_corrupt_or_foreign_file_exits_2_with_one_line(self):
        for content, expected in [("{\"context\": {}, \"benchm", "not valid JSON"),
                                  ("", "not valid JSON"),
                                  ('{"context": {}, "benchmarks": []}', "not primbench results"),
                                  ('[1, 2, 3]', "not primbench results"),
                                  ('{"context": {"primbench": {}}, "benchmarks": [{"x": 1}]}', "without a name")]:
            with self.subTest(content=content):
                with open(self.out, "w") as f:
                    f.write(content)
                r = self.run_impls("seq.ref", "--resume")
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(expected, lines[0])
                with open(self.out) as f:
                    self.assertEqual(f.read(), content, "the file was overwritten")

if __name__ == "__main__":
    unittest.main()
