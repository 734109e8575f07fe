#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "selection.hpp"

namespace primbench {
namespace {

using V = std::vector<std::size_t>;

TEST(Selection, ParsesListsRangesAndSuffixes) {
  EXPECT_EQ(parse_sizes("1,2,8", "count"), (V{1, 2, 8}));
  EXPECT_EQ(parse_sizes("1:64:x4", "count"), (V{1, 4, 16, 64}));
  EXPECT_EQ(parse_sizes("1:100:x4", "count"), (V{1, 4, 16, 64}));
  EXPECT_EQ(parse_sizes("0:10:+5", "count"), (V{0, 5, 10}));
  EXPECT_EQ(parse_sizes("4K,1M,1G", "count"), (V{4096, 1u << 20, 1u << 30}));
  EXPECT_EQ(parse_sizes("1k:4k:x2", "count"), (V{1024, 2048, 4096}));
  EXPECT_EQ(parse_sizes("1:64M:x4", "count").back(), std::size_t{64} << 20);
}

TEST(Selection, RejectsMalformedInputWithTheAcceptedForm) {
  for (const char* bad : {"", "-1", "abc", "1:2", "1:2:3", "8:1:x2", "1:8:x1", "0:8:x2", "1:8:+0", "1:8:y2",
                          "99999999999999999999", "2000G", "1,,2", "4Q", "1.5",
                          "0:1G:+6" /* 178M values: found by fuzz_sizes */}) {
    try {
      parse_sizes(bad, "count");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      EXPECT_NE(msg.find("count"), std::string::npos) << msg;
    }
  }
}

TEST(Selection, GlobsMatchLikeAShell) {
  EXPECT_TRUE(glob_match("thread.*", "thread.flat"));
  EXPECT_TRUE(glob_match("*", "seq.ref"));
  EXPECT_TRUE(glob_match("*.f?at", "thread.flat"));
  EXPECT_FALSE(glob_match("thread.*", "tbb.parallel_for"));
  EXPECT_FALSE(glob_match("seq", "seq.ref"));
  EXPECT_TRUE(glob_match("thread.[ft]*", "thread.tree"));  // fnmatch(3): sets too
  EXPECT_FALSE(glob_match("thread.[!ft]*", "thread.tree"));
  EXPECT_TRUE(glob_match("*", "*x"));  // a star in the text is no reason to stop being a wildcard (found by fuzz_sizes)
}

TEST(Selection, PlansTheCrossProductAndNamesEachBenchmark) {
  Selection s;
  s.impls = "seq.ref";
  s.primitives = "gather,reduce";
  s.ops = "sum,max";
  s.ranks = "1,3";
  s.counts = "0,5";
  s.roots = "0,last";
  const auto plan = primbench::plan(s, registry());
  // gather: counts x roots, P=1: 2 x 1 (last is 0 again, planned once), P=3: 2 x 2 = 6;
  // reduce: x2 ops = 12.
  EXPECT_EQ(plan.size(), 18u);
  EXPECT_EQ(plan.front().name, "gather/seq.ref/f32/ranks:1/count:0/root:0");
  EXPECT_EQ(plan.back().name, "reduce/seq.ref/f32/max/ranks:3/count:5/root:2");
}

// Every primitive by default; an op only where it takes one, a root only where it has one; a
// primitive an implementation does not implement listed with that reason, not planned.
TEST(Selection, PlansEachPrimitiveByItsDescription) {
  Registry reg;
  auto none = [](const Problem&) -> std::unique_ptr<Collective> { return nullptr; };
  reg.add(Implementation{"all.x", none, {Primitive::gather, Primitive::scatter, Primitive::reduce, Primitive::allreduce,
                                         Primitive::broadcast}});
  reg.add(Implementation{"old.x", none, {Primitive::gather, Primitive::scatter, Primitive::reduce}});
  Selection s;
  s.ops = "sum,max";
  s.ranks = "3";
  s.counts = "8";
  s.roots = "0,last";
  std::vector<std::string> skipped;
  std::vector<std::string> names;
  for (const Planned& p : primbench::plan(s, reg, &skipped)) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "gather/all.x/f32/ranks:3/count:8/root:0", "gather/all.x/f32/ranks:3/count:8/root:2",
                       "scatter/all.x/f32/ranks:3/count:8/root:0", "scatter/all.x/f32/ranks:3/count:8/root:2",
                       "reduce/all.x/f32/sum/ranks:3/count:8/root:0", "reduce/all.x/f32/sum/ranks:3/count:8/root:2",
                       "reduce/all.x/f32/max/ranks:3/count:8/root:0", "reduce/all.x/f32/max/ranks:3/count:8/root:2",
                       "allreduce/all.x/f32/sum/ranks:3/count:8/root:0", "allreduce/all.x/f32/max/ranks:3/count:8/root:0",
                       "broadcast/all.x/f32/ranks:3/count:8/root:0", "broadcast/all.x/f32/ranks:3/count:8/root:2",
                       "gather/old.x/f32/ranks:3/count:8/root:0", "gather/old.x/f32/ranks:3/count:8/root:2",
                       "scatter/old.x/f32/ranks:3/count:8/root:0", "scatter/old.x/f32/ranks:3/count:8/root:2",
                       "reduce/old.x/f32/sum/ranks:3/count:8/root:0", "reduce/old.x/f32/sum/ranks:3/count:8/root:2",
                       "reduce/old.x/f32/max/ranks:3/count:8/root:0", "reduce/old.x/f32/max/ranks:3/count:8/root:2"}));
  EXPECT_EQ(skipped, (std::vector<std::string>{"old.x: does not implement allreduce", "old.x: does not implement broadcast"}));
  s.primitives = "alltoall";
  try {
    primbench::plan(s, reg);
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_STREQ(e.what(), "unknown primitive 'alltoall' (accepted: gather, scatter, reduce, allreduce, broadcast)");
  }
}

// What each primitive moves, as nccl-tests counts it, and what its buffers hold.
TEST(Selection, EachPrimitiveIsDescribedOnce) {
  const int P = 4;
  EXPECT_EQ(primitives().size(), 5u);
  for (const PrimitiveInfo& d : primitives()) EXPECT_EQ(find_primitive(d.name), &info(d.primitive));
  EXPECT_EQ(find_primitive("alltoall"), nullptr);
  const PrimitiveInfo &all = info(Primitive::allreduce), &bcast = info(Primitive::broadcast);
  EXPECT_DOUBLE_EQ(all.bus_factor(P), 1.5);  // 2(P-1)/P
  EXPECT_DOUBLE_EQ(bcast.bus_factor(P), 1.0);
  EXPECT_DOUBLE_EQ(info(Primitive::gather).bus_factor(P), 0.75);
  EXPECT_DOUBLE_EQ(all.size_blocks(P), 1.0);
  EXPECT_DOUBLE_EQ(info(Primitive::scatter).size_blocks(P), 4.0);
  EXPECT_TRUE(all.takes_op && !all.rooted);
  const Problem b{Primitive::broadcast, P, 10, DType::f32, Op::sum, 2};
  for (int r = 0; r < P; ++r) {
    EXPECT_EQ(b.send_count(r), r == 2 ? 10u : 0u);
    EXPECT_EQ(b.recv_count(r), r == 2 ? 0u : 10u);
    EXPECT_EQ(bcast.source(r, 7, 10, 2).from, 2);
    EXPECT_EQ(bcast.source(r, 7, 10, 2).index, 7u);
  }
  EXPECT_EQ(info(Primitive::gather).source(2, 17, 10, 0).from, 1);
  EXPECT_EQ(b.describe(), "broadcast P=4 n=10 f32 root=2");
  EXPECT_EQ((Problem{Primitive::allreduce, P, 10, DType::f64, Op::max, 0}.describe()), "allreduce P=4 n=10 f64 max");
}

// The mpi4py peer keeps a table of its own (Python cannot read kPrimitives): it must say what
// every primitive is exactly as primbench does, at every rank count and root up to 5.
TEST(Selection, TheMpi4pyPeerDescribesEachPrimitiveAsPrimbenchDoes) {
  const std::string command = "/usr/bin/python3 " PRIMBENCH_SOURCE_DIR "/impls/mpi/mpi4py_peer.py --describe 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string text;
  char chunk[4096];
  for (std::size_t got; (got = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) text.append(chunk, got);
  if (::pclose(pipe) != 0 || text.empty()) GTEST_SKIP() << "the peer cannot run here (no mpi4py or NumPy)";
  const nlohmann::json peer = nlohmann::json::parse(text);
  EXPECT_EQ(peer.size(), primitives().size());
  for (const PrimitiveInfo& d : primitives()) {
    const std::string name(d.name);
    ASSERT_TRUE(peer.contains(name)) << name;
    const nlohmann::json& p = peer[name];
    EXPECT_EQ(p["takes_op"], d.takes_op) << name;
    EXPECT_EQ(p["rooted"], d.rooted) << name;
    const std::size_t n = p["count"];
    std::size_t cases = 0;
    for (const nlohmann::json& c : p["cases"]) {
      const int P = c["ranks"], root = c["root"];
      const std::string at = name + " P=" + std::to_string(P) + " root=" + std::to_string(root);
      ++cases;
      EXPECT_DOUBLE_EQ(c["size_blocks"].get<double>(), d.size_blocks(P)) << at;
      EXPECT_DOUBLE_EQ(c["bus_factor"].get<double>(), d.bus_factor(P)) << at;
      EXPECT_DOUBLE_EQ(c["read_blocks"].get<double>(), d.read_blocks(P)) << at;
      EXPECT_DOUBLE_EQ(c["written_blocks"].get<double>(), d.written_blocks(P)) << at;
      EXPECT_EQ(c["source"].is_null(), d.takes_op) << at;
      for (int r = 0; r < P; ++r) {
        EXPECT_EQ(c["send_blocks"][r].get<std::size_t>(), d.send_blocks(r, root, P)) << at << " rank " << r;
        EXPECT_EQ(c["recv_blocks"][r].get<std::size_t>(), d.recv_blocks(r, root, P)) << at << " rank " << r;
        if (d.takes_op) continue;
        const nlohmann::json& from = c["source"][r];
        ASSERT_EQ(from.size(), d.recv_blocks(r, root, P) * n) << at << " rank " << r;
        for (std::size_t i = 0; i < from.size(); ++i) {
          const PrimitiveInfo::Source s = d.source(r, i, n, root);
          EXPECT_EQ(from[i][0].get<int>(), s.from) << at << " rank " << r << " element " << i;
          EXPECT_EQ(from[i][1].get<std::size_t>(), s.index) << at << " rank " << r << " element " << i;
        }
      }
    }
    EXPECT_EQ(cases, d.rooted ? 15u : 5u) << name;  // P = 1..5, every root where there is one
  }
}

// The help text names the primitives from their descriptions (it once said "gather, scatter and
// reduce" after allreduce and broadcast were added, and the op "for reduce").
TEST(Selection, HelpNamesEveryPrimitiveAndThoseTakingAnOp) {
  EXPECT_EQ(primitives_in_words(), "gather, scatter, reduce, allreduce and broadcast");
  EXPECT_EQ(primitives_in_words(true), "reduce and allreduce");
  for (const PrimitiveInfo& d : primitives()) {
    EXPECT_NE(primitives_in_words().find(d.name), std::string::npos) << d.name;
    EXPECT_EQ(primitives_in_words(true).find(d.name) != std::string::npos, d.takes_op) << d.name;
  }
}

TEST(Selection, RepeatedValuesPlanEachBenchmarkOnce) {
  Selection s;
  s.impls = "seq.ref,seq.*";
  s.primitives = "gather,gather";
  s.ranks = "2,2";
  s.counts = "16,16,8:16:x2";
  s.roots = "last,last,1";
  const auto plan = primbench::plan(s, registry());
  std::set<std::string> names;
  for (const auto& p : plan) EXPECT_TRUE(names.insert(p.name).second) << p.name << " planned twice";
  EXPECT_EQ(plan.size(), 2u);  // counts 16 and 8, root 1
}

TEST(Selection, ARotatingRootIsOneBenchmarkOfEveryRoot) {
  Selection s;
  s.impls = "seq.ref";
  s.primitives = "gather,allreduce";
  s.ranks = "1,3";
  s.counts = "8";
  s.roots = "rotate,0";
  const auto plan = primbench::plan(s, registry());
  std::vector<std::string> names;
  for (const auto& p : plan) {
    names.push_back(p.name);
    EXPECT_EQ(p.problem.root, 0) << p.name;
    const std::vector<int> want = p.rotate && p.problem.ranks == 3 ? std::vector<int>{0, 1, 2} : std::vector<int>{0};
    EXPECT_EQ(p.roots(), want) << p.name;
    EXPECT_EQ(footprint(p), footprint(p.problem) * p.roots().size()) << p.name;
  }
  // allreduce has no root: root:0 once, whatever --root says
  EXPECT_EQ(names, (std::vector<std::string>{"gather/seq.ref/f32/ranks:1/count:8/root:rotate", "gather/seq.ref/f32/ranks:1/count:8/root:0",
                                             "gather/seq.ref/f32/ranks:3/count:8/root:rotate", "gather/seq.ref/f32/ranks:3/count:8/root:0",
                                             "allreduce/seq.ref/f32/sum/ranks:1/count:8/root:0",
                                             "allreduce/seq.ref/f32/sum/ranks:3/count:8/root:0"}));
  s.roots = "rotat";
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
}

TEST(Selection, RootAboveEveryRankCountIsAnError) {
  Selection s;
  s.impls = "seq.ref";
  s.ranks = "2,4";
  s.counts = "1,2,3";
  s.roots = "3";
  s.primitives = "gather,scatter,reduce";
  EXPECT_EQ(primbench::plan(s, registry()).size(), 3u * 3);  // only P = 4 has rank 3
  s.roots = "4";
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
  s.primitives = "allreduce";  // which has no root: still a wrong --root
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
}

TEST(Selection, UnknownNamesSayWhatIsAccepted) {
  Selection s;
  s.impls = "nosuch.*";
  try {
    primbench::plan(s, registry());
    ADD_FAILURE();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("known: seq.ref"), std::string::npos) << e.what();
  }
  s.impls = "seq.ref";
  s.dtypes = "f16";
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
  s.dtypes = "";
  s.ops = "avg";
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
  s.ops = "";
  s.primitives = "alltoall";
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
  s.primitives = "gather";
  s.ranks = "0";
  EXPECT_THROW(primbench::plan(s, registry()), UsageError);
}

// An implementation its library cannot run (mpi.persistent without MPI_Gather_init) is listed
// unavailable with its reason and never planned; a backend whose ranks do not run primbench's
// loop is planned at every root but `rotate`, and says why.
TEST(Selection, ImplementationsAndBackendsSayWhatTheyCannotRun) {
  Registry r;
  r.add(Backend{"fake", [] { return Availability{}; }, {}, SIZE_MAX, "it times its own loop"});
  r.add(Implementation{"fake.ok", [](const Problem&) -> std::unique_ptr<Collective> { return nullptr; }, {Primitive::gather}});
  r.add(Implementation{"fake.none", [](const Problem&) -> std::unique_ptr<Collective> { return nullptr; }, {Primitive::gather},
                       "no such call in this library"});
  Selection s;
  s.impls = "fake.*";
  s.primitives = "gather";
  s.ranks = "2";
  s.counts = "8";
  s.roots = "0,rotate";
  std::vector<std::string> unavailable;
  const auto plan = primbench::plan(s, r, &unavailable);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].name, "gather/fake.ok/f32/ranks:2/count:8/root:0");
  EXPECT_EQ(unavailable, (std::vector<std::string>{"fake.ok: no --root rotate: it times its own loop",
                                                   "fake.none: unavailable: no such call in this library"}));
}

// A process-per-rank backend is available where the launcher it starts is: the MPI probe once
// looked for `mpirun` on PATH while the ranks were started with the build's mpiexec.
TEST(Selection, MpiIsProbedForTheLauncherItRuns) {
  const Backend* mpi = registry().backend("mpi");
  if (!mpi || !mpi->launch) GTEST_SKIP() << "the MPI backend is not built";
  if (world().size() > 1 || !world().hosts().empty()) GTEST_SKIP() << "inside an MPI job nothing is launched";
  const char* path = std::getenv("PATH");
  const std::string saved_path = path ? path : "";
  ::unsetenv("PRIMBENCH_MPIRUN");
  ::setenv("PATH", "/nonexistent", 1);  // no mpirun on PATH: only the build's launcher, by its path
  const std::string built = mpi->launch(2, {"true"}).argv.at(0);
  Availability a = mpi->probe();
  EXPECT_EQ(a.available, ::access(built.c_str(), X_OK) == 0) << built << ": " << a.reason;
  ::setenv("PRIMBENCH_MPIRUN", "primbench-no-such-launcher", 1);
  a = mpi->probe();
  EXPECT_FALSE(a.available);
  EXPECT_NE(a.reason.find("'primbench-no-such-launcher' is not on PATH"), std::string::npos) << a.reason;
  EXPECT_EQ(mpi->launch(2, {"true"}).argv.at(0), "primbench-no-such-launcher");
  ::unsetenv("PRIMBENCH_MPIRUN");
  ::setenv("PATH", saved_path.c_str(), 1);
}

}  // namespace
}  // namespace primbench
