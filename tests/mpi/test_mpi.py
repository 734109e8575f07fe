"""MPI backend under real processes: `primbench` starting mpirun itself, and a user's mpirun.

Environment (set by tests/mpi/CMakeLists.txt): PRIMBENCH_BIN, PRIMBENCH_MPI_BROKEN (the plugin
of broken MPI implementations).
"""
import json
import re
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("PRIMBENCH_BIN", "build/release/bench/primbench")
BROKEN = os.environ.get("PRIMBENCH_MPI_BROKEN", "")


def primbench(*args, timeout=240):
    start = time.monotonic()
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)
    p.seconds = time.monotonic() - start
    return p


MPIEXEC = os.environ.get("PRIMBENCH_MPIEXEC", "mpirun")  # the build's MPI's launcher (ctest sets it)


def open_mpi():
    out = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True).stdout
    return "Open MPI" in out or "OpenRTE" in out  # mpirun says the one, mpiexec the other


def mpirun(np, *args, timeout=240):
    cmd = [MPIEXEC, "-np", str(np)]
    if open_mpi():  # MPICH's Hydra oversubscribes and runs as root without being told
        cmd[1:1] = ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    start = time.monotonic()
    p = subprocess.run(cmd + [BIN, *args], capture_output=True, text=True, timeout=timeout)
    p.seconds = time.monotonic() - start
    return p


def mentioning(text):
    """The pids of the processes whose command line contains `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def library_version():
    """The MPI library primbench was built with, as `primbench list` says it."""
    out = subprocess.run([BIN, "list"], capture_output=True, text=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("mpi.native")), "")
    return line.split("available (", 1)[-1].rstrip(")") if "available (" in line else ""


def mpich_before(version):
    m = re.match(r"MPICH Version:\s*(\d+)\.(\d+)(?:\.(\d+))?", library_version())
    return bool(m) and tuple(int(x or 0) for x in m.groups()) < version


# Bugs of the MPI library itself, which primbench rightly fails (LibraryBugs asserts it does);
# the semantics tests leave these implementations out where the library has them.
KNOWN_LIBRARY_BUGS = {
    # MPICH before 4.2.3: MPI_Gather_init leaves the root's own block out (and sends the send
    # buffer's contents as they were at init), pmodels/mpich#7078, fixed by #7081.
    "mpi.persistent": (4, 2, 3),
    # MPICH 4.0 - 4.1.1: MPI_Reduce with MPI_IN_PLACE at a root other than 0 reads a bad address
    # and crashes, pmodels/mpich#6540, fixed by #6543 (4.1.2).
    "mpi.inplace": (4, 1, 2),
}


def broken_here():
    return {impl for impl, fixed in KNOWN_LIBRARY_BUGS.items() if mpich_before(fixed)}


def mpi_impls():
    """The available mpi.* implementations but those the library breaks, as a selector."""
    out = subprocess.run([BIN, "list"], capture_output=True, text=True).stdout
    impls = [l.split()[0] for l in out.splitlines() if l.startswith("mpi.") and " available" in l]
    return ",".join(i for i in impls if i not in broken_here())


def names(doc):
    return {b["run_name"].removesuffix("/manual_time") for b in doc["benchmarks"]}


def check_aggregates(test, doc):
    """Recomputes every aggregate from its benchmark's repetitions, as Google Benchmark defines them."""
    reps = {}
    for b in doc["benchmarks"]:
        if b["run_type"] == "iteration":
            reps.setdefault(b["run_name"], []).append(b)
    checked = 0
    for a in (b for b in doc["benchmarks"] if b["run_type"] == "aggregate"):
        rows = reps[a["run_name"]]
        test.assertEqual(a["repetitions"], len(rows), a["name"])
        for key, value in a.items():
            if not isinstance(value, float) or key not in rows[0]:
                continue
            v = [r[key] for r in rows]
            mean = statistics.fmean(v)
            want = {"mean": mean, "median": statistics.median(v), "stddev": statistics.stdev(v),
                    "cv": statistics.stdev(v) / mean if mean else None}[a["aggregate_name"]]
            # Google Benchmark's stddev is sqrt(E[x^2] - E[x]^2): it cancels to within 1e-6 of the mean.
            delta = {"stddev": 1e-6 * abs(mean), "cv": 1e-6}.get(a["aggregate_name"], 1e-9 * abs(want)) + 1e-12
            test.assertAlmostEqual(value, want, delta=delta, msg=f"{a['name']} {key}")
            checked += 1
    test.assertGreater(checked, 0)


class Case(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="primbench-mpi-")
        self.out = os.path.join(self.dir, "out.json")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def ok(self, p, code=0):
        self.assertEqual(p.returncode, code, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")

    def load(self):
        with open(self.out) as f:
            return json.load(f)


class LibraryBugs(Case):
    """Where the MPI library has a known bug, primbench fails the implementation that meets it."""

    def test_mpich_persistent_gather_without_the_roots_block_fails_validation(self):
        if "mpi.persistent" not in broken_here():
            self.skipTest(f"the library ({library_version() or 'no MPI'}) has no known persistent-gather bug")
        p = primbench("validate", "--impl", "mpi.persistent", "--primitive", "gather", "--ranks", "2", "--count", "8",
                      "--root", "0,1", "--dtype", "f32", "--validate", "1", "--check", "exact")
        self.ok(p, 1)
        self.assertEqual(p.stdout.count("FAILED: validation failed: mpi.persistent gather"), 2, p.stdout)
        # At root 0 its own block is left poisoned; at root 1 rank 0's block holds what its send
        # buffer held when the request was made (zeros), not the inputs: both halves of #7078.
        self.assertIn("root=0 (exact, seed 1): rank 0 recv element 0 (block of rank 0, element 0)", p.stdout)
        self.assertIn("root=1 (exact, seed 1): rank 1 recv element 0 (block of rank 0, element 0)", p.stdout)

    def test_mpich_in_place_reduce_at_a_nonzero_root_is_an_error_not_a_result(self):
        if "mpi.inplace" not in broken_here():
            self.skipTest(f"the library ({library_version() or 'no MPI'}) has no known in-place reduce bug")
        p = primbench("run", "--impl", "mpi.inplace", "--primitive", "reduce", "--ranks", "2", "--count", "1000",
                      "--root", "0,1", "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        entries = {b["run_name"].removesuffix("/manual_time"): b for b in self.load()["benchmarks"]}
        bad = entries["reduce/mpi.inplace/f32/sum/ranks:2/count:1000/root:1"]
        self.assertTrue(bad.get("error_occurred"), bad)
        self.assertFalse(entries["reduce/mpi.inplace/f32/sum/ranks:2/count:1000/root:0"].get("error_occurred"))


class Semantics(Case):
    """Every primitive, dtype and op at 1, 2, 3 and 4 ranks, roots 0 and last, n = 0 included."""

    def test_every_problem_validates(self):
        p = primbench("validate", "--impl", mpi_impls(), "--ranks", "1:4:+1",
                      "--primitive", "gather,scatter,reduce,allreduce,broadcast",
                      "--dtype", "i32,i64,f32,f64", "--op", "sum,prod,min,max", "--count", "0,1,67",
                      "--root", "0,last", "--validate", "1")
        self.ok(p)
        self.assertIn("all validated", p.stderr)
        for np_ in (1, 2, 3, 4):
            self.assertIn(f"-np {np_} ", p.stderr)

    def test_random_mode_and_block_edges(self):
        p = primbench("validate", "--impl", mpi_impls(), "--ranks", "3", "--primitive", "reduce,gather",
                      "--dtype", "f32,f64", "--op", "sum,prod", "--count", "1000", "--root", "1",
                      "--check", "random", "--validate", "2")
        self.ok(p)

    def test_in_place_moves_what_the_others_move(self):
        # At P = 1 an in-place collective moves nothing in MPI: the root's own block is still
        # put in place inside the window, so its bandwidth is that of the same bytes.
        p = primbench("run", "--impl", "mpi.inplace,mpi.native", "--ranks", "1,2", "--count", "4K,64K",
                      "--repetitions", "2", "--min-time", "0.002", "--warmup", "0", "--out", self.out)
        self.ok(p)
        doc = self.load()
        self.assertTrue(all(b["validation"] == "passed" for b in doc["benchmarks"]))
        # every primitive for mpi.native, all but broadcast (in place by definition) for mpi.inplace
        self.assertEqual(len({b["run_name"] for b in doc["benchmarks"]}), (5 + 4) * 2 * 2)

    def test_a_rotating_root_is_timed_for_every_variant(self):
        # the blocking, non-blocking and persistent calls, where this library runs them right
        impls = [i for i in mpi_impls().split(",") if i in ("mpi.native", "mpi.nonblocking", "mpi.persistent")]
        p = primbench("run", "--impl", ",".join(impls), "--ranks", "3", "--primitive", "gather,scatter,reduce,allreduce",
                      "--count", "1K", "--root", "rotate", "--repetitions", "2", "--min-time", "0.002", "--warmup", "0",
                      "--out", self.out)
        self.ok(p)
        reps = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        # gather, scatter, reduce rotate; allreduce has no root
        self.assertEqual({b["run_name"] for b in reps},
                         {f"{prim}/{impl}/f32{'/sum' if prim in ('reduce', 'allreduce') else ''}/ranks:3/count:1024/"
                          f"root:{'0' if prim == 'allreduce' else 'rotate'}/manual_time"
                          for impl in impls for prim in ("gather", "scatter", "reduce", "allreduce")})
        for b in reps:
            self.assertEqual(b["validation"], "passed", b["name"])
            self.assertEqual(b["root"], 0 if b["primitive"] == "allreduce" else -1, b["name"])
            self.assertGreaterEqual(2 * b["iterations"], 3, b["name"])  # every root timed

    def test_nonblocking_entries_carry_osu_igathers_overlap(self):
        p = primbench("run", "--impl", "mpi.nonblocking,mpi.native", "--ranks", "2", "--primitive", "gather,reduce",
                      "--count", "1K", "--repetitions", "2", "--min-time", "0.002", "--warmup", "0", "--out", self.out)
        self.ok(p)
        reps = [b for b in self.load()["benchmarks"] if b["run_type"] == "iteration"]
        self.assertEqual(len(reps), 8)
        for b in reps:
            if b["impl"] != "mpi.nonblocking":
                self.assertNotIn("overlap_pct", b)  # only an implementation that measures it has it
                continue
            self.assertEqual(b["validation"], "passed")
            pure, overall, compute = b["overlap_pure_s"], b["overlap_overall_s"], b["overlap_compute_s"]
            self.assertGreater(pure, 0)
            # The dummy compute lasts at least the pure call, and the overlapped call at least the compute.
            self.assertGreaterEqual(compute, 0.99 * pure)
            self.assertGreaterEqual(overall, compute)
            want = max(0.0, 100 - 100 * (overall - compute) / pure)  # osu_igather's formula, no probes
            self.assertAlmostEqual(b["overlap_pct"], want, delta=1e-6)
            self.assertLessEqual(b["overlap_pct"], 100)

    def test_run_writes_one_json_with_shared_memory_and_mpi(self):
        p = primbench("run", "--impl", mpi_impls() + ",thread.flat", "--ranks", "2", "--primitive", "gather,reduce",
                      "--count", "1K", "--root", "1", "--repetitions", "2", "--min-time", "0.002",
                      "--warmup", "0", "--out", self.out)
        self.ok(p)
        doc = self.load()
        impls = {b["impl"] for b in doc["benchmarks"]}
        self.assertEqual(impls, {"mpi.native", "mpi.linear", "mpi.binomial", "mpi.inplace", "mpi.nonblocking",
                                 "mpi.persistent", "thread.flat"} - broken_here())
        self.assertIn("reduce/mpi.binomial/f32/sum/ranks:2/count:1024/root:1", names(doc))
        for b in doc["benchmarks"]:
            self.assertEqual(b["validation"], "passed")
            self.assertFalse(b.get("error_occurred", False))
            for k in ("ranks", "count", "root", "bytes", "algbw", "busbw", "t_rank_min", "t_rank_avg",
                      "t_rank_max", "t_p50", "t_p99", "peak_fraction"):
                self.assertIn(k, b, b["name"])
            if b["run_type"] == "iteration":
                self.assertLessEqual(b["t_rank_min"], b["t_rank_max"])
        aggs = {b["aggregate_name"] for b in doc["benchmarks"] if b["run_type"] == "aggregate"}
        self.assertEqual(aggs, {"mean", "median", "stddev", "cv"})
        ctx = doc["context"]["primbench"]
        launch = ctx["launched"]["launches"][0]
        self.assertTrue(ctx["launched"]["mpi_library"])
        self.assertEqual(launch["world_size"], 2)
        self.assertEqual(sum(launch["hosts"].values()), 2)
        self.assertIn("--ceilings", launch["command"])  # ranks reuse this run's measured ceilings
        self.assertTrue(ctx["backends"]["mpi"]["version"])
        check_aggregates(self, doc)

    def test_an_mpi_only_run_carries_the_ranks_google_benchmark_context(self):
        p = primbench("run", "--impl", "mpi.native", "--ranks", "2", "--primitive", "gather", "--count", "8",
                      "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out)
        self.ok(p)
        ctx = self.load()["context"]
        for key in ("date", "host_name", "executable", "num_cpus", "mhz_per_cpu", "caches", "load_avg", "library_build_type"):
            self.assertIn(key, ctx)
        if os.path.isdir("/sys/devices/system/cpu/cpu0/cache"):  # Google Benchmark lists what sysfs does
            self.assertTrue(ctx["caches"])
        self.assertIn("primbench", ctx["executable"])  # written by a rank, which is primbench too


class Broken(Case):
    """The foundation's broken-implementation cases, under real MPI processes."""

    def caught(self, impl, primitives, extra=()):
        # Root 0 unless a case says otherwise: these break ranks, and a rank left out at the
        # root (missing_last_rank at root P-1) deadlocks, which is a hang, not a wrong result.
        root = () if "--root" in extra else ("--root", "0")
        p = primbench("validate", "--plugin", BROKEN, "--impl", impl, "--ranks", "3", "--primitive", primitives,
                      "--count", "100", "--validate", "1", *root, *extra)
        self.ok(p, 1)
        self.assertIn("FAILED", p.stdout + p.stderr)
        return p.stdout + p.stderr

    def test_wrong_order(self):
        self.caught("mpibroken.wrong_order", "gather,scatter")

    def test_wrong_root(self):
        out = self.caught("mpibroken.wrong_root", "gather,reduce", ("--root", "1"))
        self.assertIn("root=1", out)

    def test_a_rotating_root_validates_every_root(self):
        # --root rotate: one collective a root, each validated; the ranks get the rotation from
        # the supervisor's command line. Right but at the last root.
        self.assertEqual(primbench("validate", "--plugin", BROKEN, "--impl", "mpibroken.wrong_at_last_root", "--ranks", "3",
                                   "--primitive", "gather", "--count", "100", "--validate", "1", "--root", "0").returncode, 0)
        out = self.caught("mpibroken.wrong_at_last_root", "gather", ("--root", "rotate"))
        self.assertIn("gather/mpibroken.wrong_at_last_root/f32/ranks:3/count:100/root:rotate", out)
        self.assertIn("at root 2: gather P=3 n=100 f32 root=2", out)

    def test_off_by_one_at_block_edge(self):
        out = self.caught("mpibroken.off_by_one", "gather,scatter")
        self.assertIn("element 99", out)

    def test_missing_last_rank(self):
        self.caught("mpibroken.missing_last_rank", "gather,scatter,reduce")

    def test_write_past_end(self):
        out = self.caught("mpibroken.past_end", "gather,reduce")
        self.assertIn("guard", out)

    def test_one_ulp_in_exact_mode(self):
        self.caught("mpibroken.one_ulp", "reduce", ("--dtype", "f32,f64,i32"))

    def test_every_broken_problem_fails_and_no_correct_one_does(self):
        p = primbench("validate", "--plugin", BROKEN, "--impl", "mpi.native,mpibroken.wrong_order", "--ranks", "2",
                      "--primitive", "gather", "--count", "8", "--validate", "1")
        self.ok(p, 1)
        self.assertRegex(p.stdout, r"gather/mpi\.native/\S+\s.*passed")
        self.assertRegex(p.stdout, r"gather/mpibroken\.wrong_order/\S+\s.*FAILED")


class Failures(Case):
    """One rank's failure or hang ends promptly, with the results before it kept."""

    def test_one_rank_failing_validation_is_agreed_and_reported(self):
        p = primbench("run", "--plugin", BROKEN, "--impl", "mpi.native,mpibroken.one_rank_wrong,mpi.linear",
                      "--ranks", "3", "--primitive", "scatter", "--count", "64", "--repetitions", "1",
                      "--min-time", "0.002", "--warmup", "0", "--timeout", "60", "--out", self.out)
        self.ok(p, 1)
        self.assertLess(p.seconds, 60)
        doc = self.load()
        by_impl = {b["impl"]: b for b in doc["benchmarks"]}
        bad = by_impl["mpibroken.one_rank_wrong"]
        self.assertTrue(bad["error_occurred"])
        self.assertIn("validation failed", bad["error_message"])
        self.assertIn("rank 1", bad["error_message"])
        self.assertEqual(by_impl["mpi.native"]["validation"], "passed")
        self.assertEqual(by_impl["mpi.linear"]["validation"], "passed")  # the run went on

    def test_hang_ends_by_timeout_naming_the_benchmark_and_keeping_results(self):
        p = primbench("run", "--plugin", BROKEN, "--impl", "mpi.native,mpibroken.hang", "--ranks", "2",
                      "--primitive", "gather", "--count", "16", "--repetitions", "1", "--min-time", "0.002",
                      "--warmup", "0", "--timeout", "3", "--out", self.out, timeout=120)
        self.ok(p, 3)
        self.assertLess(p.seconds, 60)
        self.assertIn("gather/mpibroken.hang", p.stderr)
        self.assertIn("hung", p.stderr)
        doc = self.load()
        by_impl = {b["impl"]: b for b in doc["benchmarks"]}
        self.assertEqual(by_impl["mpi.native"]["validation"], "passed")
        self.assertTrue(by_impl["mpibroken.hang"]["error_occurred"])
        self.assertIn("hung", by_impl["mpibroken.hang"]["error_message"])

    FAULT_RUN = ["--ranks", "2", "--primitive", "gather", "--count", "16", "--repetitions", "1", "--min-time", "0.002",
                 "--warmup", "0", "--timeout", "60", "--out"]

    def failed_beside_mpi_native(self, fault):
        """The error entry of `fault`, run with mpi.native after it: that one passed, exit 3."""
        p = primbench("run", "--plugin", BROKEN, "--impl", f"{fault},mpi.native", *self.FAULT_RUN, self.out, timeout=120)
        self.ok(p, 3)
        by_impl = {b["impl"]: b for b in self.load()["benchmarks"] if b.get("run_type") == "iteration" or b.get("error_occurred")}
        self.assertEqual(by_impl["mpi.native"]["validation"], "passed")
        self.assertTrue(by_impl[fault]["error_occurred"])
        return by_impl[fault]

    def test_a_rank_that_crashes_freeing_its_buffers_fails_its_own_benchmark(self):
        # Rank 0 said done before rank 1 crashed: the benchmark passed (exit 0 when alone) and
        # the crash was blamed on the next benchmark, "while allocating its buffers".
        self.assertIn("while freeing its buffers", self.failed_beside_mpi_native("mpibroken.crash_freeing_on_rank1")["error_message"])

    def test_an_exception_on_one_rank_is_every_rank_s_failure_with_its_message(self):
        # Rank 1 stopped alone, rank 0 waited for it until --timeout: "hung", the message lost.
        p = primbench("run", "--plugin", BROKEN, "--impl", "mpibroken.counters_throw_on_rank1", *self.FAULT_RUN, self.out,
                      timeout=120)
        self.ok(p, 3)
        self.assertLess(p.seconds, 60)
        entry = self.load()["benchmarks"][0]
        self.assertTrue(entry["error_occurred"])
        self.assertIn("exception: no counters on rank 1 (measuring the implementation's own counters)", entry["error_message"])

    def test_mpi_abort_with_0_is_the_benchmark_s_failure_named(self):
        # The job ended with status 0; the benchmark failed "with status 0" and the message was
        # the last line of Open MPI's banner.
        why = self.failed_beside_mpi_native("mpibroken.aborts_with_0")["error_message"]
        self.assertIn("MPI_Abort(…, 0) was called by the implementation or a library it uses, not by primbench", why)
        self.assertNotIn("status 0", why)

    def test_resume_measures_only_the_missing_and_duplicates_nothing(self):
        fast = ["--primitive", "gather", "--ranks", "2", "--repetitions", "2", "--min-time", "0.002",
                "--warmup", "0", "--out", self.out]
        self.ok(primbench("run", "--impl", "mpi.native", "--count", "64", *fast))
        native64 = "gather/mpi.native/f32/ranks:2/count:64/root:0/manual_time"
        kept = [b for b in self.load()["benchmarks"] if b["run_name"] == native64]
        # What is left (native at 128, linear at both) is launched as the product of its
        # selectors, which holds native at 64 again: that one must not come back twice.
        self.ok(primbench("run", "--impl", "mpi.native,mpi.linear", "--count", "64,128", "--resume", *fast))
        doc = self.load()
        per_name = {}
        for b in doc["benchmarks"]:
            if b["run_type"] == "iteration":
                per_name.setdefault(b["run_name"].removesuffix("/manual_time"), []).append(b)
        self.assertEqual(sorted(per_name), sorted(
            f"gather/{impl}/f32/ranks:2/count:{n}/root:0" for impl in ("mpi.native", "mpi.linear") for n in (64, 128)))
        self.assertTrue(all(len(v) == 2 for v in per_name.values()), {k: len(v) for k, v in per_name.items()})
        again = [b for b in doc["benchmarks"] if b["run_name"] == native64]
        self.assertEqual(len(kept), 6)  # 2 repetitions, mean, median, stddev, cv
        self.assertEqual(json.dumps(again, sort_keys=True), json.dumps(kept, sort_keys=True))


class UserLauncher(Case):
    """A user's own mpirun gets the same JSON; mismatched rank counts are said, not hung."""

    def test_mpirun_np_3(self):
        p = mpirun(3, "run", "--impl", "mpi.native,mpi.binomial,thread.flat", "--primitive", "reduce", "--count", "100",
                   "--root", "2", "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out)
        self.ok(p)
        doc = self.load()
        self.assertEqual(names(doc), {"reduce/mpi.native/f32/sum/ranks:3/count:100/root:2",
                                      "reduce/mpi.binomial/f32/sum/ranks:3/count:100/root:2"})
        self.assertEqual(doc["context"]["primbench"]["world_size"], 3)
        self.assertEqual(sum(doc["context"]["primbench"]["hosts"].values()), 3)
        self.assertIn("thread.flat: skipped", p.stderr)
        self.assertEqual(p.stdout.count("passed"), 2)  # only rank 0 prints

    def test_a_one_process_job_runs_its_problems_in_place(self):
        # mpirun -np 1 (or srun -n 1): the one-rank MPI problems run in this process, nothing is
        # launched from inside the job, shared-memory implementations are skipped.
        p = mpirun(1, "run", "--impl", "mpi.native,mpi.inplace,seq.ref", "--primitive", "gather", "--count", "8,4K",
                   "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out, timeout=120)
        self.ok(p)
        doc = self.load()
        self.assertEqual(names(doc), {f"gather/{i}/f32/ranks:1/count:{n}/root:0" for i in ("mpi.native", "mpi.inplace")
                                      for n in (8, 4096)})
        self.assertTrue(all(b["validation"] == "passed" for b in doc["benchmarks"]))
        self.assertIn("seq.ref: skipped", p.stderr)

    def test_exit_on_every_rank_of_a_user_s_job_is_not_a_success(self):
        # exit(0) on every rank finalised MPI and ended the job with status 0, no results file,
        # no message, and mpi.native never ran.
        p = mpirun(2, "run", "--plugin", BROKEN, "--impl", "mpibroken.exits_on_every_rank,mpi.native", "--primitive", "gather",
                   "--count", "16", "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out, timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("exit(0) was called during the run by an implementation or a library it uses, not by primbench", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(self.out), "." + os.path.basename(self.out) + ".primbench-journal")))

    def test_mpi_abort_with_0_in_a_user_s_job_is_not_a_success(self):
        # The launcher killed every rank and exited 0: no results file and no word of primbench's.
        p = mpirun(2, "run", "--plugin", BROKEN, "--impl", "mpibroken.aborts_with_0,mpi.native", "--primitive", "gather",
                   "--count", "16", "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out, timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertIn("rank 1: MPI_Abort(…, 0) was called during the run by an implementation or a library it uses, not by primbench",
                      p.stderr)
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(self.out), "." + os.path.basename(self.out) + ".primbench-journal")))

    RESUMED = ["run", "--impl", "mpi.native", "--primitive", "gather", "--repetitions", "2", "--warmup", "0",
               "--ceilings", "20,10", "--quiet"]

    def test_resume_in_a_user_s_job_keeps_what_a_killed_job_s_journal_says(self):
        # --resume inside mpirun emptied the journal a killed job left and kept none of it.
        journal = os.path.join(self.dir, ".out.json.primbench-journal")
        cmd = [MPIEXEC, "-np", "2"] + (["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
                                       if open_mpi() else []) + [BIN, *self.RESUMED, "--count", "1:48:+1", "--min-time", "0.002", "--out", self.out]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        def passed():
            try:
                with open(journal) as f:
                    return {line["done"]: line["entries"] for line in map(json.loads, f.read().splitlines()[:-1])
                            if "done" in line and line.get("status") == "passed"}
            except (OSError, ValueError):
                return {}
        try:
            deadline = time.monotonic() + 120
            while len(passed()) < 5 and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertIsNone(p.poll(), "the job ended before it could be killed")
            # The launcher and every rank (a rank may be in a group of its own): the job's time
            # limit, a node lost.
            ranks = mentioning(self.dir)
            os.killpg(p.pid, signal.SIGKILL)
            for pid in ranks:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            p.wait()
        deadline = time.monotonic() + 10
        while mentioning(self.dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        kept = passed()
        self.assertGreaterEqual(len(kept), 5)
        if os.path.exists(self.out):
            os.remove(self.out)  # as if killed before its first write
        p = mpirun(2, *self.RESUMED, "--count", "1:48:+1", "--min-time", "0.002", "--out", self.out, "--resume")
        self.ok(p)
        doc = self.load()
        self.assertEqual(len(names(doc)), 48)
        for name, entries in kept.items():
            self.assertEqual([b["real_time"] for b in doc["benchmarks"] if b["run_name"].startswith(name + "/")],
                             [e["real_time"] for e in entries], name)
        self.assertEqual(sorted(os.listdir(self.dir)), ["out.json"])

    def test_resume_in_a_user_s_job_refuses_other_options_once(self):
        p = mpirun(2, *self.RESUMED, "--count", "8", "--min-time", "0.002", "--out", self.out)
        self.ok(p)
        with open(self.out) as f:
            before = f.read()
        p = mpirun(2, *self.RESUMED, "--count", "8", "--min-time", "0.003", "--out", self.out, "--resume")
        self.ok(p, 2)
        said = [line for line in p.stderr.splitlines() if line.startswith("primbench: error:")]
        self.assertEqual(len(said), 1, p.stderr)  # from rank 0, not once a rank
        self.assertIn("was measured with --min-time 0.002, this run with --min-time 0.003", said[0])
        with open(self.out) as f:
            self.assertEqual(f.read(), before)

    def test_mismatched_ranks_is_a_clear_error(self):
        p = mpirun(2, "validate", "--impl", "mpi.native", "--ranks", "4", "--count", "8")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("this MPI job has 2 processes", p.stderr)

    def separate_processes(self, env_of_task, *args):
        """Starts two primbench processes the way a launcher would, each with its task's environment."""
        procs = []
        for task in range(2):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_", "SLURM_"))}
            env.update(env_of_task(task))
            procs.append(subprocess.Popen([BIN, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return [(p.wait(timeout=120), *p.communicate()) for p in procs]

    def test_processes_that_do_not_form_one_world_are_refused_not_run_as_one_rank_jobs(self):
        # What MPICH's hydra does to an Open MPI binary (PMI_SIZE/PMI_RANK; Open MPI then starts as a
        # singleton), and what srun without --mpi does (SLURM_STEP_NUM_TASKS, no PMI at all).
        run = ["run", "--impl", "mpi.native", "--count", "8", "--repetitions", "1", "--out", self.out]
        for env_of_task, says in (
                (lambda t: {"PMI_SIZE": "2", "PMI_RANK": str(t)}, "(PMI_SIZE) but this primbench's MPI"),
                (lambda t: {"SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": str(t), "SLURM_JOB_ID": "7"},
                 "(SLURM_STEP_NUM_TASKS) but none of them has an MPI connection")):
            with self.subTest(says=says):
                results = self.separate_processes(env_of_task, *run)
                self.assertEqual([r[0] for r in results], [2, 2], results)
                lines = [l for r in results for l in r[2].splitlines()]
                self.assertEqual(len(lines), 1, lines)  # from the first task only
                self.assertIn("the launcher started 2 processes " + says, lines[0])
                self.assertFalse(os.path.exists(self.out))


class Peer(Case):
    """The mpi4py peer, run by `primbench run` beside the C++ implementations."""

    def setUp(self):
        super().setUp()
        if subprocess.run(["/usr/bin/python3", "-c", "import mpi4py, numpy"], capture_output=True).returncode:
            self.skipTest("mpi4py or numpy not importable by /usr/bin/python3 (apt-get install python3-mpi4py)")
        listed = subprocess.run([BIN, "list"], capture_output=True, text=True).stdout
        why = next((l.split("unavailable: ", 1)[1] for l in listed.splitlines() if l.startswith("mpi4py.buffer") and "unavailable: " in l), "")
        if why:
            self.skipTest(f"mpi4py peer unavailable: {why}")

    def test_a_peer_script_changed_between_its_launches_measures_nothing(self):
        # The peer's script and validator carried no build: one edited or rebuilt between two
        # launches of one run went on measuring under the run's context. Here the peer runs from
        # a copy (PRIMBENCH_PYTHON, a wrapper, starts the copy), edited once the first launch
        # has said what it runs.
        source = os.environ.get("PRIMBENCH_SOURCE", os.getcwd())
        tree = os.path.join(self.dir, "tree")
        for d in ("impls/mpi", "reports"):
            os.makedirs(os.path.join(tree, d))
        script = os.path.join(tree, "impls", "mpi", "mpi4py_peer.py")
        shutil.copy(os.path.join(source, "impls", "mpi", "mpi4py_peer.py"), script)
        shutil.copy(os.path.join(source, "reports", "results.py"), os.path.join(tree, "reports"))
        wrapper = os.path.join(self.dir, "python")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\ncase "$1" in *mpi4py_peer.py) shift; exec /usr/bin/python3 "{script}" "$@";; esac\n'
                    'exec /usr/bin/python3 "$@"\n')
        os.chmod(wrapper, 0o755)
        journal = os.path.join(self.dir, "." + os.path.basename(self.out) + ".primbench-journal")
        p = subprocess.Popen([BIN, "run", "--impl", "mpi4py.buffer", "--ranks", "2,3", "--primitive", "gather", "--count", "8",
                              "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out],
                             env={**os.environ, "PRIMBENCH_PYTHON": wrapper}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while p.poll() is None and time.monotonic() < deadline:
                try:
                    with open(journal) as f:
                        if '"builds"' in f.read():
                            break
                except OSError:
                    pass
                time.sleep(0.005)
            with open(script, "a") as f:
                f.write("\n# edited during the run\n")
            _, err = p.communicate(timeout=240)
        finally:
            if p.poll() is None:
                p.kill()
        self.assertEqual(p.returncode, 3, err)
        doc = self.load()
        entry = {int(re.search(r"/ranks:(\d+)/", b["name"]).group(1)): b for b in doc["benchmarks"]
                 if b.get("run_type") == "iteration" or b.get("error_occurred")}
        self.assertEqual(entry[2]["validation"], "passed")
        self.assertTrue(entry[3]["error_occurred"])
        self.assertIn(f"stopped: the worker runs another build of '{script}'", entry[3]["error_message"])
        first = doc["context"]["primbench"]["launched"]["launches"][0]
        self.assertEqual(len(first["builds"]), 2, first)
        self.assertIn(script, first["builds"])
        self.assertTrue(any(path.endswith("/libprimbench_check.so") for path in first["builds"]), first)
        self.assertTrue(all(v.startswith("contents:") for v in first["builds"].values()), first)

    def test_peer_in_the_same_json(self):
        p = primbench("run", "--impl", "mpi4py.*,mpi.native", "--ranks", "2", "--primitive", "gather,scatter,reduce",
                      "--op", "sum,max", "--count", "0,100", "--root", "1", "--repetitions", "3", "--min-time", "0.002",
                      "--warmup", "0", "--out", self.out)
        self.ok(p)
        doc = self.load()
        got = names(doc)
        for impl in ("mpi4py.pickle", "mpi4py.buffer", "mpi.native"):
            self.assertIn(f"gather/{impl}/f32/ranks:2/count:100/root:1", got)
            self.assertIn(f"reduce/{impl}/f32/max/ranks:2/count:100/root:1", got)
        peer = [b for b in doc["benchmarks"] if b["impl"].startswith("mpi4py")]
        self.assertTrue(all(b["validation"] == "passed" for b in peer))
        it = next(b for b in peer if b["run_type"] == "iteration" and b["count"] == 100)
        for k in ("ranks", "count", "root", "bytes", "algbw", "busbw", "t_rank_min", "t_rank_avg", "t_rank_max",
                  "t_p50", "t_p99", "primitive", "impl", "dtype", "validation"):
            self.assertIn(k, it)
        self.assertGreater(it["peak_fraction"], 0)  # over the reference measured beside it
        self.assertEqual({b.get("aggregate_name") for b in peer} - {None}, {"mean", "median", "stddev", "cv"})
        check_aggregates(self, doc)  # the peer's and the C++ runner's alike
        for b in (b for b in doc["benchmarks"] if b["run_type"] == "iteration" and b["bytes"] > 0):
            self.assertAlmostEqual(b["bytes_per_second"], b["bytes"] / (b["real_time"] * 1e-9), delta=1e-6 * b["bytes_per_second"])
        # Nothing of Google Benchmark ran in this process: the context is still complete.
        for key in ("date", "host_name", "num_cpus", "mhz_per_cpu", "caches", "library_build_type"):
            self.assertIn(key, doc["context"])

    def test_the_peers_entries_carry_the_runners_reference_and_machine_state(self):
        # Before 2026-12-04 the peer divided by the start-of-run ceiling (peak_fraction 1.2 - 1.6
        # at cache-resident counts) and recorded no machine state: now the same reference, at
        # the benchmark's own working set before each repetition, through libprimbench_check.so.
        p = primbench("run", "--impl", "mpi4py.buffer,mpi.native", "--ranks", "1,2", "--primitive", "gather,reduce",
                      "--count", "64K", "--repetitions", "3", "--rse", "0", "--min-time", "0.002", "--warmup", "0",
                      "--out", self.out)
        self.ok(p)
        doc = self.load()
        ceilings = doc["context"]["primbench"]["ceilings"]
        reps = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
        runner = {k for b in reps if b["impl"] == "mpi.native" for k, v in b.items() if isinstance(v, float)}
        peer = [b for b in reps if b["impl"] == "mpi4py.buffer"]
        self.assertEqual(len(peer), 2 * 2 * 3)
        refs = {}
        for b in peer:
            self.assertEqual(runner - set(b), set(), f"{b['name']} lacks the runner's counters")
            self.assertEqual(b["reference"], "beside", b["name"])
            self.assertGreater(b["ref_GBps"], 0, b["name"])
            self.assertGreaterEqual(b["ref_spread"], 0, b["name"])
            median = b["membw"] * b["real_time"] * 1e-9 / b["t_p50"]  # the median iteration's traffic
            self.assertAlmostEqual(b["peak_fraction"], median / b["ref_GBps"], delta=1e-6 * b["peak_fraction"])
            ceiling = ceilings[b["ceiling"] + "_GBps"]  # a reduce of one rank is a copy
            self.assertAlmostEqual(b["ceiling_fraction"], b["membw"] / ceiling, delta=1e-9 * b["ceiling_fraction"])
            self.assertEqual(b["online_cpus"], os.cpu_count(), b["name"])
            self.assertGreater(b["state_seconds"], 0, b["name"])
            for k in ("steal_pct", "others_cpu_pct"):
                self.assertTrue(0 <= b[k] <= 100, (b["name"], k, b[k]))
            refs.setdefault(b["name"], []).append(b["ref_GBps"])
        # Measured before each repetition, not one figure copied into every repetition: a
        # benchmark's three medians may coincide now and then (a 1-rank reduce at 64K got
        # 199.7289 GB/s three times: its trials are whole nanoseconds), all four benchmarks'
        # never by chance.
        self.assertTrue(any(len(set(v)) > 1 for v in refs.values()), refs)

    def test_the_peer_skips_a_rotating_root_with_the_reason(self):
        p = primbench("run", "--impl", "mpi4py.buffer", "--ranks", "2", "--primitive", "gather,allreduce", "--count", "8",
                      "--root", "rotate", "--repetitions", "1", "--min-time", "0.002", "--warmup", "0", "--out", self.out)
        self.ok(p)
        self.assertIn("mpi4py.buffer: no --root rotate: the mpi4py peer times its own loop", p.stdout + p.stderr)
        self.assertEqual(names(self.load()), {"allreduce/mpi4py.buffer/f32/sum/ranks:2/count:8/root:0"})  # no root to rotate

    def test_the_peers_loop_has_the_runners_count_and_at_least_44_checked_calls(self):
        # Small counts, where a check in Python costs ten calls and the 5 % budget alone left
        # mpi4py.pickle 21 - 33 checked calls in the default suite: 44 whatever the budget, at most
        # --check-iterations (64) sampled, and the same iteration count in every repetition.
        p = primbench("run", "--impl", "mpi4py.*", "--ranks", "2", "--primitive", "gather,reduce", "--count", "1,100",
                      "--repetitions", "3", "--min-time", "0.005", "--out", self.out)
        self.ok(p)
        runs = {}
        for b in self.load()["benchmarks"]:
            if b["run_type"] == "iteration":
                runs.setdefault(b["name"], []).append(b)
        self.assertEqual(len(runs), 8)
        for name, rs in runs.items():
            self.assertEqual(len(rs), 3, name)
            self.assertEqual(len({b["iterations"] for b in rs}), 1, name)
            self.assertGreaterEqual(rs[-1]["checked_calls"], 44, name)
            self.assertLessEqual(rs[-1]["checked_iterations"], 64, name)
            self.assertEqual(rs[-1]["checked_calls"], rs[-1]["checked_iterations"] + 3 + 1, name)  # validation, the last

    def test_peer_validation_catches_wrong_results(self):
        # The peer's validator against itself: random-mode reduce at 3 ranks, and exact mode.
        p = primbench("validate", "--impl", "mpi4py.*", "--ranks", "3", "--primitive", "reduce", "--dtype", "f64,i32",
                      "--op", "sum,prod,min,max", "--count", "1,50", "--check", "random", "--validate", "1")
        self.ok(p)

    # nccl-tests' busbw / algbw, and the memory traffic (bytes read) over algbw's size, per P.
    BUS = {"allreduce": lambda P: 2 * (P - 1) / P, "broadcast": lambda P: 1.0}
    READ = {"allreduce": lambda P: P, "broadcast": lambda P: P - 1}

    def test_peer_allreduce_and_broadcast(self):
        p = primbench("run", "--impl", "mpi4py.*", "--primitive", "allreduce,broadcast", "--ranks", "2,3",
                      "--count", "1,1K", "--root", "0,last", "--repetitions", "2", "--min-time", "0.002",
                      "--warmup", "0", "--out", self.out)
        self.ok(p)
        doc = self.load()
        # allreduce has no root (planned at 0 only, the op in its name); broadcast at 0 and P-1
        want = {f"allreduce/{impl}/f32/sum/ranks:{P}/count:{n}/root:0" for impl in ("mpi4py.pickle", "mpi4py.buffer")
                for P in (2, 3) for n in (1, 1024)}
        want |= {f"broadcast/{impl}/f32/ranks:{P}/count:{n}/root:{r}" for impl in ("mpi4py.pickle", "mpi4py.buffer")
                 for P in (2, 3) for n in (1, 1024) for r in (0, P - 1)}
        self.assertEqual(names(doc), want)
        for b in doc["benchmarks"]:
            self.assertEqual(b["validation"], "passed", b["name"])
            self.assertFalse(b.get("error_occurred", False), b["name"])
            self.assertEqual(b["ceiling"], "host_copy", b["name"])  # every byte read is written, as gather's
            self.assertEqual(b.get("op"), "sum" if b["primitive"] == "allreduce" else None, b["name"])
            if b["run_type"] == "iteration" or b["aggregate_name"] in ("mean", "median"):
                P, n, prim = int(b["ranks"]), int(b["count"]), b["primitive"]
                self.assertEqual(b["bytes"], 4 * n, b["name"])  # n * elem: nccl-tests' size for both
                self.assertGreater(b["algbw"], 0, b["name"])
                self.assertAlmostEqual(b["busbw"] / b["algbw"], self.BUS[prim](P), delta=1e-9, msg=b["name"])
                self.assertAlmostEqual(b["membw"] / b["algbw"], self.READ[prim](P), delta=1e-9, msg=b["name"])
                self.assertGreater(b["peak_fraction"], 0, b["name"])
        check_aggregates(self, doc)

    def test_peer_allreduce_and_broadcast_validate_in_both_modes(self):
        # Every dtype and op, P = 1 to 3, n = 0 included; exact and random inputs.
        p = primbench("validate", "--impl", "mpi4py.*", "--ranks", "1:3:+1", "--primitive", "allreduce,broadcast",
                      "--dtype", "i32,i64,f32,f64", "--op", "sum,prod,min,max", "--count", "0,1,67", "--root", "0,last",
                      "--check", "both", "--validate", "1")
        self.ok(p)
        self.assertIn("all validated", p.stderr)
        # allreduce: 4 dtypes x 4 ops x 3 counts at root 0; broadcast: 4 x 3 at each distinct root
        per_impl = sum(4 * 4 * 3 + 4 * 3 * len({0, P - 1}) for P in (1, 2, 3))
        self.assertIn(f"{2 * per_impl} benchmarks", p.stderr)
        self.assertEqual(p.stdout.count("passed"), 2 * per_impl, p.stdout[-3000:])
        self.assertIn("allreduce/mpi4py.buffer/f64/prod/ranks:3/count:67/root:0", p.stdout)
        self.assertNotIn("allreduce/mpi4py.buffer/f64/prod/ranks:3/count:67/root:2", p.stdout)

    def peer(self, *args, np=1, script=None):
        """The peer run by hand under the build's launcher, with the build's validator."""
        script = script or os.path.join(os.environ.get("PRIMBENCH_SOURCE", "."), "impls", "mpi", "mpi4py_peer.py")
        cmd = [MPIEXEC, "-np", str(np)] + (["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
                                           if open_mpi() else [])
        return subprocess.run(cmd + ["/usr/bin/python3", script, "--validator", os.environ["PRIMBENCH_CHECK_LIBRARY"], *args],
                              capture_output=True, text=True, timeout=120)

    def test_a_peer_call_wrong_now_and_then_is_caught_by_primbenchs_validator(self):
        # The peer as a user might break it: every 10th call after validation leaves one element
        # wrong. Its checks are primbench's validator (ctypes): the sampled checks of the timed
        # loop catch it with the runner's message, and the peer reports it instead of dying in the
        # repetitions after the failed one (it divided by zero there before).
        source = os.path.join(os.environ.get("PRIMBENCH_SOURCE", "."), "impls", "mpi", "mpi4py_peer.py")
        with open(source) as f:
            text = f.read()
        sabotage = ("CALLS = [0]\n\n\ndef now_and_then(r):\n    CALLS[0] += 1\n"
                    "    return [list(b[:-1]) + [7] for b in r] if r and CALLS[0] > 12 and CALLS[0] % 10 == 0 else r\n\n\n"
                    "def buffer_gather(c, send, recv, root):\n    c.Gather(send, recv, root=root)\n    CALLS[0] += 1\n"
                    "    if recv is not None and CALLS[0] > 12 and CALLS[0] % 10 == 0:\n        recv[-1] = 7\n\n\n")
        for old, new in (("lambda c, obj, op, root: c.gather(obj, root=root)", "lambda c, obj, op, root: now_and_then(c.gather(obj, root=root))"),
                         ("lambda c, send, recv, op, root: c.Gather(send, recv, root=root)", "lambda c, send, recv, op, root: buffer_gather(c, send, recv, root)"),
                         ("os.path.dirname(os.path.abspath(__file__))", repr(os.path.dirname(os.path.abspath(source)))),
                         ("IMPLS = (", sabotage + "IMPLS = (")):
            self.assertIn(old, text)
            text = text.replace(old, new)
        script = os.path.join(self.dir, "broken_peer.py")
        with open(script, "w") as f:
            f.write(text)
        for impl in ("mpi4py.pickle", "mpi4py.buffer"):
            p = self.peer("--impl", impl, "--primitive", "gather", "--count", "9,100000", "--ranks", "2",
                          "--min-time", "0.01", "--warmup", "0.01", "--out", self.out, np=2, script=script)
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            errors = [b for b in self.load()["benchmarks"] if b.get("error_occurred")]
            self.assertEqual(len(errors), 2, p.stdout)
            for b in errors:
                n = re.search(r"/count:(\d+)/", b["name"]).group(1)
                self.assertRegex(b["error_message"], rf"validation failed in timed iteration \d+: {impl} gather P=2 n={n} "
                                 r"f32 root=0 \(exact, seed 4\): rank 0 recv element \d+ \(block of rank [01], element \d+\): "
                                 r"expected -?\d+ got 7; [12] wrong")

    def test_peer_primitives_come_from_its_table(self):
        p = self.peer("--primitive", "allgather")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("unknown primitive 'allgather' (accepted: gather, scatter, reduce, allreduce, broadcast)", p.stderr)
        p = self.peer("--impl", "mpi4py.buffer", "--count", "4", "--validate-only", "--validate", "1")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(re.findall(r"^(\S+)/manual_time\s.*passed$", p.stdout, re.M),  # all five by default
                         [f"{prim}/mpi4py.buffer/f32/{op}ranks:1/count:4/root:0"
                          for prim, op in (("gather", ""), ("scatter", ""), ("reduce", "sum/"), ("allreduce", "sum/"),
                                           ("broadcast", ""))])


if __name__ == "__main__":
    unittest.main()
