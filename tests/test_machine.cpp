// The machine's state (bench/machine.cpp): the CPU time of the processes that started a worker,
// up to its supervisor, is the run's own, so a supervisor rewriting --out between benchmarks does
// not mark the next one "busy" (it did, 79 of the default suite's 1062 on a quiet machine).
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "machine.hpp"
#include "primbench/primbench.hpp"

namespace primbench {
namespace {

// Burns about `seconds` of this process's CPU.
void burn(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  volatile unsigned long x = 0;
  while (std::chrono::steady_clock::now() < end) x = x + 1;
}

TEST(Machine, TheTicksOfTheProcessesThatStartedAWorkerAreCountedUpToItsSupervisor) {
  burn(0.3);  // this process: the "supervisor", 30 ticks or so
  const pid_t supervisor = ::getpid();
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const pid_t sibling = ::fork();
  if (sibling == 0) {  // not an ancestor of the worker below
    ::pause();
    ::_exit(0);
  }
  const pid_t worker = ::fork();
  if (worker == 0) {
    const long long got[3] = {launch_ticks(supervisor), launch_ticks(sibling), launch_ticks(0)};
    [[maybe_unused]] ssize_t w = ::write(out[1], got, sizeof got);
    ::_exit(0);
  }
  long long got[3] = {-1, -1, -1};
  ASSERT_EQ(::read(out[0], got, sizeof got), static_cast<ssize_t>(sizeof got));
  ::waitpid(worker, nullptr, 0);
  ::kill(sibling, SIGKILL);
  ::waitpid(sibling, nullptr, 0);
  ::close(out[0]), ::close(out[1]);
  EXPECT_GE(got[0], 15) << "the supervisor's ticks";
  EXPECT_EQ(got[1], 0) << "a process that did not start the worker";
  EXPECT_EQ(got[2], 0) << "no supervisor";
}

// The CPUs a process may use: a container's quota (cgroup v2 cpu.max), the least of its cgroup's
// and those above it, rounded up; none where every level says "max" or nothing is readable.
TEST(Machine, ACgroupCpuQuotaIsTheLeastOfItsLevelsRoundedUp) {
  char dir[] = "/tmp/primbench-cgroup-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::filesystem::path root = dir;
  auto write = [&](const std::string& cgroup, const std::string& max) {
    std::filesystem::create_directories(root / cgroup.substr(1));
    std::ofstream(root / cgroup.substr(1) / "cpu.max") << max << "\n";
  };
  write("/", "max 100000");  // the root has none, as on a host
  write("/kubepods", "max 100000");
  write("/kubepods/pod1", "350000 100000");  // 3.5 CPUs: 4 of them may run at once
  write("/kubepods/pod1/c1", "max 100000");
  EXPECT_EQ(cgroup_cpu_limit(dir, "0::/kubepods/pod1/c1\n"), 4);
  write("/kubepods/pod1/c1", "150000 100000");  // 1.5 below it: the least counts
  EXPECT_EQ(cgroup_cpu_limit(dir, "0::/kubepods/pod1/c1\n"), 2);
  write("/kubepods/pod1/c1", "50000 100000");  // half a CPU: one
  EXPECT_EQ(cgroup_cpu_limit(dir, "0::/kubepods/pod1/c1\n"), 1);
  EXPECT_EQ(cgroup_cpu_limit(dir, "0::/kubepods\n"), 0);
  EXPECT_EQ(cgroup_cpu_limit(dir, "12:cpu,cpuacct:/kubepods/pod1\n"), 0);  // cgroup v1's lines are not read
  EXPECT_EQ(cgroup_cpu_limit(dir, ""), 0);
  EXPECT_EQ(cgroup_cpu_limit(dir, "0::/not/there\n"), 0);  // its own level unreadable, the root's "max"
  write("/", "garbage 0");
  EXPECT_EQ(cgroup_cpu_limit(dir, "0::/\n"), 0);
  std::filesystem::remove_all(root);
}

// What this process may use is never empty, and is within its affinity mask.
TEST(Machine, TheUsableCpusAreSomeOfThoseOfTheAffinityMask) {
  const std::vector<int>& cpus = usable_cpus();
  ASSERT_FALSE(cpus.empty());
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
  for (int c : cpus) EXPECT_TRUE(CPU_ISSET(c, &set)) << c;
}

}  // namespace
}  // namespace primbench
